//! The Fulcio certificate of a keyless bundle, as sigstore-go's `VerifyLeafCertificate`
//! and SCT checks do, at each verified time (a TSA's genTime or Rekor v1's
//! integratedTime; never "now": Fulcio leaves live ten minutes):
//!
//! - the chain: a path from the leaf to the last certificate of a certificate authority
//!   of the trusted root in use at every verified time, through that authority's chain
//!   and, as untrusted intermediates only, certificates the signature carried (bundle
//!   `x509CertificateChain` beyond the leaf, the legacy `.sig` chain annotation); each
//!   link's issuer name and signature (ECDSA P-256/P-384 with SHA-256/384/512, RSA), CA
//!   basic constraints, key usage and path length, every certificate valid at every time
//!   (`pkix::build_path`). A root certificate carried by the signature is refused: roots
//!   come from the trusted root only;
//! - the leaf: valid at every verified time (its own reason code), not a CA, the
//!   code-signing EKU, digitalSignature when key usage is present, no unknown critical
//!   extension, a P-256 or P-384 key;
//! - certificate transparency: at least one embedded SCT verifies with a CT log of the
//!   trusted root in use at the SCT's time, over the precertificate TBS (the leaf's TBS
//!   without the SCT list), issuer key hash of the certificate that issued the leaf.

use super::bundle::der_tlv;
use super::pkix;
use super::trust_root::{CertificateAuthority, TrustedRoot};
use super::verify::Failure;
use sha2::{Digest as _, Sha256};
use x509_cert::Certificate;
use x509_cert::der::Encode;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};

const OID_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// Extensions a leaf may mark critical: key usage, SAN, basic constraints, EKU.
const KNOWN_CRITICAL: [&str; 4] = ["2.5.29.15", "2.5.29.17", "2.5.29.19", "2.5.29.37"];

fn untrusted(m: impl Into<String>) -> Failure {
    Failure::UntrustedCertificate(m.into())
}

/// A trusted chain: the authority and the certificate that issued the leaf.
pub struct Chain<'a> {
    pub ca: &'a CertificateAuthority,
    pub issuer: Certificate,
}

fn self_issued(c: &Certificate) -> bool {
    c.tbs_certificate().issuer() == c.tbs_certificate().subject()
}

/// A self-issued certificate among those a signature carries is refused.
pub fn refuse_carried_roots(carried: &[Certificate]) -> Result<(), Failure> {
    match carried.iter().find(|c| self_issued(c)) {
        Some(r) => Err(untrusted(format!(
            "the signature carries a root certificate ({}): roots come from the trusted root only",
            r.tbs_certificate().subject()
        ))),
        None => Ok(()),
    }
}

/// The leaf valid at every time, then a path to an authority of `root` at every time.
pub fn verify_chain<'a>(
    root: &'a TrustedRoot,
    leaf: &Certificate,
    carried: &[Certificate],
    times: &[i64],
) -> Result<Chain<'a>, Failure> {
    for &t in times {
        let (nb, na) = pkix::validity(leaf);
        if t < nb || t > na {
            return Err(Failure::CertificateExpiredAtIntegration {
                integrated_time: t,
                not_before: nb,
                not_after: na,
            });
        }
    }
    refuse_carried_roots(carried)?;
    let mut reasons = Vec::new();
    for ca in root
        .certificate_authorities
        .iter()
        .filter(|ca| times.iter().all(|&t| ca.valid_for.contains(t)))
    {
        let Some((anchor, inner)) = ca.chain.split_last() else {
            continue;
        };
        let mut pool: Vec<Certificate> = inner.to_vec();
        pool.extend(carried.iter().cloned());
        let mut issuer = None;
        let mut err = None;
        for &t in times {
            match pkix::build_path(leaf, &pool, std::slice::from_ref(anchor), t) {
                Ok(path) if path.len() >= 2 => issuer = path.get(1).cloned(),
                Ok(_) => err = Some("the leaf is itself a trust anchor".to_string()),
                Err(e) => err = Some(e),
            }
            if err.is_some() {
                break;
            }
        }
        match (err, issuer) {
            (None, Some(issuer)) => return Ok(Chain { ca, issuer }),
            (Some(e), _) => reasons.push(format!("{}: {e}", ca.uri)),
            (None, None) => reasons.push(format!("{}: no verified time", ca.uri)),
        }
    }
    Err(untrusted(if reasons.is_empty() {
        format!(
            "no certificate authority of the trusted root was in use at the verified time(s) {times:?}"
        )
    } else {
        reasons.join("; ")
    }))
}

/// The leaf's profile as Fulcio issues it.
pub fn check_leaf_profile(leaf: &Certificate) -> Result<(), Failure> {
    let tbs = leaf.tbs_certificate();
    if let Ok(Some((_, bc))) = tbs.get_extension::<BasicConstraints>()
        && bc.ca
    {
        return Err(untrusted("the signing certificate is a CA certificate"));
    }
    match tbs.get_extension::<ExtendedKeyUsage>() {
        Ok(Some((_, eku))) if eku.0.contains(&OID_CODE_SIGNING) => {}
        _ => {
            return Err(untrusted(
                "the signing certificate lacks the code-signing extended key usage",
            ));
        }
    }
    if let Ok(Some((_, ku))) = tbs.get_extension::<KeyUsage>()
        && !ku.digital_signature()
    {
        return Err(untrusted(
            "the signing certificate's key usage lacks digitalSignature",
        ));
    }
    for ext in tbs.extensions().into_iter().flatten() {
        let oid = ext.extn_id.to_string();
        if ext.critical && !KNOWN_CRITICAL.contains(&oid.as_str()) {
            return Err(untrusted(format!(
                "the signing certificate has an unknown critical extension {oid}"
            )));
        }
    }
    Ok(())
}

const OID_SCT_LIST_DER: [u8; 12] = [
    0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02,
];

fn der_len(n: usize, out: &mut Vec<u8>) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let len = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | len.len() as u8);
        out.extend_from_slice(len);
    }
}

fn der_wrap(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    der_len(content.len(), &mut out);
    out.extend_from_slice(content);
    out
}

/// The leaf's TBSCertificate DER without the embedded-SCT extension: what the CT log
/// signed (the precertificate's TBS, RFC 6962 §3.2). Hand-rolled: x509-cert 0.3 does not
/// let a decoded certificate be edited, and this is a walk over three DER levels.
fn tbs_without_scts(leaf_der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert, _, _) = der_tlv(leaf_der)?;
    let (tag, mut tbs, _, _) = der_tlv(cert)?;
    if tag != 0x30 {
        return None;
    }
    let mut content = Vec::new();
    while !tbs.is_empty() {
        let (tag, inner, rest, whole) = der_tlv(tbs)?;
        if tag == 0xa3 {
            let (seq_tag, mut exts, after, _) = der_tlv(inner)?;
            if seq_tag != 0x30 || !after.is_empty() {
                return None;
            }
            let mut kept = Vec::new();
            while !exts.is_empty() {
                let (_, ext, rest, whole) = der_tlv(exts)?;
                if !ext.starts_with(&OID_SCT_LIST_DER) {
                    kept.extend_from_slice(whole);
                }
                exts = rest;
            }
            content.extend(der_wrap(0xa3, &der_wrap(0x30, &kept)));
        } else {
            content.extend_from_slice(whole);
        }
        tbs = rest;
    }
    Some(der_wrap(0x30, &content))
}

/// One TLS `opaque<0..2^16-1>`: (bytes, rest).
fn tls_u16_vec(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = u16::from_be_bytes([*b.first()?, *b.get(1)?]) as usize;
    Some((b.get(2..2 + n)?, b.get(2 + n..)?))
}

/// At least one embedded SCT must verify with a CT log of the trusted root that was in
/// use at the SCT's time (cosign's and sigstore-js's default threshold of one).
pub fn verify_scts(
    root: &TrustedRoot,
    leaf: &Certificate,
    leaf_der: &[u8],
    issuer: &Certificate,
) -> Result<(), Failure> {
    let bad_ct = |m: &str| Failure::BadSct(m.to_string());
    let Some(ext) = leaf
        .tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .find(|e| e.extn_id == ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2"))
    else {
        return Err(bad_ct(
            "the certificate has no embedded SCT (detached SCTs are not supported)",
        ));
    };
    let list = der_tlv(ext.extn_value.as_bytes())
        .filter(|(tag, _, rest, _)| *tag == 0x04 && rest.is_empty())
        .and_then(|(_, c, _, _)| tls_u16_vec(c))
        .filter(|(_, rest)| rest.is_empty())
        .map(|(l, _)| l)
        .ok_or_else(|| bad_ct("the SCT list extension is malformed"))?;
    let tbs = tbs_without_scts(leaf_der)
        .ok_or_else(|| bad_ct("cannot rebuild the precertificate TBS"))?;
    let issuer_spki = issuer
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| bad_ct(&e.to_string()))?;
    let issuer_key_hash = Sha256::digest(&issuer_spki);
    let mut rest = list;
    let mut reasons = Vec::new();
    while !rest.is_empty() {
        let (sct, r) = tls_u16_vec(rest).ok_or_else(|| bad_ct("an SCT entry is truncated"))?;
        rest = r;
        match verify_one_sct(root, sct, &tbs, &issuer_key_hash) {
            Ok(()) => return Ok(()),
            Err(e) => reasons.push(e),
        }
    }
    Err(Failure::BadSct(if reasons.is_empty() {
        "the SCT list is empty".into()
    } else {
        reasons.join("; ")
    }))
}

fn verify_one_sct(
    root: &TrustedRoot,
    sct: &[u8],
    tbs: &[u8],
    issuer_key_hash: &[u8],
) -> Result<(), String> {
    // version(1) log_id(32) timestamp(8) extensions<2> hash(1) sig_alg(1) signature<2>
    if sct.first() != Some(&0) {
        return Err("SCT version is not v1".into());
    }
    let log_id = sct.get(1..33).ok_or("SCT truncated")?;
    let ts_bytes: [u8; 8] = sct
        .get(33..41)
        .and_then(|b| b.try_into().ok())
        .ok_or("SCT truncated")?;
    let (exts, r) = tls_u16_vec(sct.get(41..).ok_or("SCT truncated")?).ok_or("SCT truncated")?;
    let (&hash, r) = r.split_first().ok_or("SCT truncated")?;
    let (&alg, r) = r.split_first().ok_or("SCT truncated")?;
    let (sig, r) = tls_u16_vec(r).ok_or("SCT truncated")?;
    if !r.is_empty() {
        return Err("trailing bytes after the SCT signature".into());
    }
    if (hash, alg) != (4, 3) {
        return Err(format!(
            "SCT signature algorithm ({hash},{alg}) is not ECDSA-SHA256"
        ));
    }
    let millis = u64::from_be_bytes(ts_bytes);
    let secs = i64::try_from(millis / 1000).map_err(|_| "SCT timestamp out of range")?;
    let log = root
        .ctlogs
        .iter()
        .find(|l| l.log_id == log_id && l.valid_for.contains(secs))
        .ok_or_else(|| {
            format!(
                "no CT log with ID {} in use at {secs} in the trusted root",
                hex::encode(log_id)
            )
        })?;
    let key = log.key.as_ref().ok_or("the CT log key is not ECDSA")?;
    let tbs_len = u32::try_from(tbs.len())
        .ok()
        .filter(|&n| n < 1 << 24)
        .ok_or("TBS too large")?;
    let mut signed = vec![0u8, 0u8]; // v1, certificate_timestamp
    signed.extend_from_slice(&ts_bytes);
    signed.extend_from_slice(&[0, 1]); // precert_entry
    signed.extend_from_slice(issuer_key_hash);
    signed.extend_from_slice(tbs_len.to_be_bytes().get(1..).unwrap_or_default());
    signed.extend_from_slice(tbs);
    signed.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    signed.extend_from_slice(exts);
    if key.verify(&signed, sig) {
        Ok(())
    } else {
        Err(format!(
            "the SCT does not verify with the key of CT log {}",
            log.base_url
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths() {
        let enc = |n| {
            let mut v = Vec::new();
            der_len(n, &mut v);
            v
        };
        assert_eq!(enc(0), [0]);
        assert_eq!(enc(127), [127]);
        assert_eq!(enc(128), [0x81, 128]);
        assert_eq!(enc(300), [0x82, 1, 44]);
        assert_eq!(enc(70000), [0x83, 1, 0x11, 0x70]);
        assert!(tbs_without_scts(b"").is_none());
        assert!(tbs_without_scts(&[0x30, 0x02, 0x04, 0x00]).is_none());
    }
}
