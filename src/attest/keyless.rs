//! Offline keyless (Fulcio + Rekor) verification of Sigstore bundles against a trusted
//! root file, as `cosign verify-blob-attestation --trusted-root … --certificate-identity
//! … --certificate-oidc-issuer …` does without a network.
//!
//! Owns, for a bundle whose verification material is a Fulcio certificate:
//! 1. the Rekor entry: the signed entry timestamp (SET, over the canonical JSON
//!    `{"body","integratedTime","logID","logIndex"}`) with the trusted log key whose
//!    log ID the entry names, valid at `integratedTime`; the RFC 6962 inclusion proof
//!    (leaf = SHA-256(0x00 ‖ body)) to its root hash, and the checkpoint (signed note)
//!    naming that root and tree size, signed by the same log (the entry's);
//! 2. the certificate chain: the bundle's leaf (intermediates in the bundle are
//!    ignored) to a certificate authority of the trusted root valid at
//!    `integratedTime`, each link's issuer name and ECDSA signature (P-256/P-384,
//!    SHA-256/384), CA basic constraints and path length, every certificate valid at
//!    `integratedTime` (never "now": Fulcio leaves live ten minutes); the leaf is not a
//!    CA, has the code-signing extended key usage and no unknown critical extension;
//!    at least one embedded SCT verifies with a CT log of the trusted root in use at the
//!    SCT's time (over the precertificate TBS: the leaf's TBS without the SCT list);
//! 3. the identity: a SAN (URI or e-mail) equal to an expected subject (or wholly
//!    matching its expression), and the OIDC issuer extension (1.3.6.1.4.1.57264.1.8,
//!    else legacy .1.1) equal to its issuer;
//! 4. (the caller's closure) the signature over the exact bytes with the leaf key, then
//!    the payload/subject/predicate checks;
//! 5. the Rekor body binds to this bundle: `dsse` 0.0.1 (payload hash, the one
//!    signature, the verifier certificate), `intoto` 0.0.2 (the same, as older cosign
//!    attest wrote them) or `hashedrekord` / `rekord` 0.0.1 (digest, signature,
//!    certificate).
//!
//! Refused: bundles with RFC 3161 timestamps (not verified here, so not ignored either),
//! v0.2+ bundles without an inclusion proof. Not checked: detached SCTs, the DSSE
//! `envelopeHash` of the entry (Rekor hashes its own re-serialization), certificate
//! revocation, Rekor v2 entries (no SET). The entry's time is trusted because the SET
//! is; no clock is read.
//!
//! Why not the `sigstore` crate: see `keys` (it cannot build without a TLS stack and pulls
//! ~156 crates incl. `aws-lc-sys`); this is the verify half only, on RustCrypto
//! `x509-cert`/`p256`/`p384`, which the project already uses for keys.

use super::bundle::der_tlv;
use super::dsse::decode_b64;
use super::keys::PublicKey;
use super::trust_root::{CertificateAuthority, EcKey, HashAlg, Log, TrustedRoot};
use super::verify::{Failure, Verified};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use x509_cert::Certificate;
use x509_cert::der::asn1::{ObjectIdentifier, Utf8StringRef};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};

const OID_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
const OID_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
const OID_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// Extensions a leaf may mark critical: key usage, SAN, basic constraints, EKU.
const KNOWN_CRITICAL: [&str; 4] = ["2.5.29.15", "2.5.29.17", "2.5.29.19", "2.5.29.37"];

/// One accepted signer: the certificate subject (a SAN) and the OIDC issuer (exact).
#[derive(Debug, Clone)]
pub struct CertIdentity {
    pub subject: SubjectMatch,
    pub issuer: String,
}

/// How a SAN is matched.
#[derive(Debug, Clone)]
pub enum SubjectMatch {
    /// Equal, byte for byte.
    Exact(String),
    /// The whole SAN matches the expression (anchored: cosign searches instead, which
    /// lets `https://github.com/org/` match any repository's workflow).
    Regexp(regex::Regex),
}

impl SubjectMatch {
    /// An anchored expression; errors name what is wrong with it.
    pub fn regexp(pattern: &str) -> Result<SubjectMatch, regex::Error> {
        regex::Regex::new(&format!("^(?:{pattern})$")).map(SubjectMatch::Regexp)
    }

    pub fn matches(&self, san: &str) -> bool {
        match self {
            SubjectMatch::Exact(s) => s == san,
            SubjectMatch::Regexp(r) => r.is_match(san),
        }
    }
}

impl std::fmt::Display for SubjectMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubjectMatch::Exact(s) => f.write_str(s),
            SubjectMatch::Regexp(r) => write!(f, "/{}/", r.as_str()),
        }
    }
}

/// What keyless acceptance needs: the trusted root and the identities any of which may
/// have signed.
#[derive(Debug, Clone)]
pub struct Keyless {
    pub root: TrustedRoot,
    pub identities: Vec<CertIdentity>,
}

/// Who signed a keyless bundle, as established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeylessSigner {
    /// The SAN that matched.
    pub identity: String,
    pub issuer: String,
    /// Rekor's integration time (Unix seconds), authenticated by the SET.
    pub integrated_time: i64,
    pub log_index: i64,
    /// The Rekor log (its `baseUrl` in the trusted root).
    pub log: String,
    /// Whether an inclusion proof and checkpoint were present (and then verified).
    pub inclusion_proof: bool,
    /// The certificate authority (`uri` in the trusted root) that issued the leaf.
    pub certificate_authority: String,
}

fn bad(m: impl Into<String>) -> Failure {
    Failure::BadTlogEntry(m.into())
}

fn untrusted(m: impl Into<String>) -> Failure {
    Failure::UntrustedCertificate(m.into())
}

/// Verify a certificate bundle (`v`, parsed) against `k`; `content` checks the signature
/// and payload with the leaf key (step 4) and its result is returned with the signer.
pub(crate) fn verify(
    k: &Keyless,
    v: &Value,
    leaf_der: &[u8],
    content: impl FnOnce(&PublicKey) -> Result<Verified, Failure>,
) -> Result<Verified, Failure> {
    // Refuse rather than ignore what cannot be checked: a verifier must not accept a
    // bundle whose timestamps it skipped (sigstore-conformance
    // intoto-tsa-timestamp-outside-cert-validity_fail).
    if v.get("verificationMaterial")
        .and_then(|m| m.get("timestampVerificationData"))
        .and_then(|t| t.get("rfc3161Timestamps"))
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return Err(Failure::UnsupportedEvidence(
            "RFC 3161 timestamps are not verified here".into(),
        ));
    }
    // Bundles v0.2 and later must carry inclusion proofs; v0.1 may rely on the SET.
    let proof_required = v.get("mediaType").and_then(Value::as_str)
        != Some("application/vnd.dev.sigstore.bundle+json;version=0.1");

    // 1. The log entry, so that integratedTime can be trusted.
    let entries = v
        .get("verificationMaterial")
        .and_then(|m| m.get("tlogEntries"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if entries.is_empty() {
        return Err(bad(
            "the bundle has no transparency log entry (keyless bundles need a Rekor entry with a SET)",
        ));
    }
    let mut first_err = None;
    let mut entry = None;
    for e in entries {
        match verify_entry(&k.root, e, proof_required) {
            Ok(ok) => {
                entry = Some(ok);
                break;
            }
            Err(f) => {
                first_err.get_or_insert(f);
            }
        }
    }
    let Some(entry) = entry else {
        return Err(first_err.unwrap_or_else(|| bad("no entry")));
    };
    let t = entry.integrated_time;

    // 2. The certificate chain at integratedTime.
    let leaf = Certificate::from_der(leaf_der)
        .map_err(|e| Failure::malformed("Sigstore bundle certificate", e))?;
    if leaf.to_der().ok().as_deref() != Some(leaf_der) {
        return Err(Failure::malformed(
            "Sigstore bundle certificate",
            "not canonical DER",
        ));
    }
    let ca = verify_chain(&k.root, &leaf, t)?;
    let (nb, na) = validity(&leaf);
    if t < nb || t > na {
        return Err(Failure::CertificateExpiredAtIntegration {
            integrated_time: t,
            not_before: nb,
            not_after: na,
        });
    }
    check_leaf_profile(&leaf)?;
    let issuer_cert = ca
        .chain
        .first()
        .ok_or_else(|| untrusted("the certificate authority has an empty chain"))?;
    verify_scts(&k.root, &leaf, leaf_der, issuer_cert)?;

    // 3. Identity.
    let sans = subject_alt_names(&leaf)?;
    let issuer = oidc_issuer(&leaf)?;
    let mut subject_matched = false;
    let mut matched = None;
    'ids: for (i, id) in k.identities.iter().enumerate() {
        for san in &sans {
            if id.subject.matches(san) {
                subject_matched = true;
                if issuer.as_deref() == Some(id.issuer.as_str()) {
                    matched = Some((i, id, san.clone()));
                    break 'ids;
                }
            }
        }
    }
    let Some((index, id, san)) = matched else {
        if subject_matched {
            return Err(Failure::CertificateIssuerMismatch {
                expected: k.identities.iter().map(|i| i.issuer.clone()).collect(),
                found: issuer.unwrap_or_else(|| "(no issuer extension)".into()),
            });
        }
        return Err(Failure::CertificateIdentityMismatch {
            expected: k.identities.iter().map(|i| i.subject.to_string()).collect(),
            found: sans,
        });
    };

    // 4. Signature and content with the leaf key.
    let spki = leaf
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| Failure::malformed("Sigstore bundle certificate", e))?;
    let leaf_key = PublicKey::from_spki_der(&spki).map_err(|e| {
        Failure::malformed(
            "Sigstore bundle certificate",
            format!("leaf key is not ECDSA P-256: {e}"),
        )
    })?;
    let mut ok = content(&leaf_key)?;

    // 5. The entry is about this bundle.
    check_body_binds(&entry.body, v, leaf_der)?;

    ok.key_index = index;
    ok.keyless = Some(KeylessSigner {
        identity: san,
        issuer: id.issuer.clone(),
        integrated_time: t,
        log_index: entry.log_index,
        log: entry.log_url,
        inclusion_proof: entry.inclusion_proof,
        certificate_authority: ca.uri.clone(),
    });
    Ok(ok)
}

// ---- Rekor entry

/// A verified entry.
struct Entry {
    body: Vec<u8>,
    integrated_time: i64,
    log_index: i64,
    log_url: String,
    inclusion_proof: bool,
}

/// An int64 as protobuf JSON writes it (a string) or as a number.
fn int_at(v: &Value, key: &str) -> Option<i64> {
    match v.get(key)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn b64_at(v: &Value, path: &[&str]) -> Option<Vec<u8>> {
    let s = path.iter().try_fold(v, |v, k| v.get(k))?.as_str()?;
    STANDARD.decode(s).ok()
}

/// The bytes Rekor signs for a SET: canonical JSON (RFC 8785: sorted keys, no spaces).
/// Base64 and hex never need escaping, so the four fields are written in order.
pub fn set_payload(body: &[u8], integrated_time: i64, log_id: &[u8], log_index: i64) -> Vec<u8> {
    format!(
        "{{\"body\":\"{}\",\"integratedTime\":{integrated_time},\"logID\":\"{}\",\"logIndex\":{log_index}}}",
        STANDARD.encode(body),
        hex::encode(log_id)
    )
    .into_bytes()
}

fn verify_entry(root: &TrustedRoot, e: &Value, proof_required: bool) -> Result<Entry, Failure> {
    let body = b64_at(e, &["canonicalizedBody"])
        .ok_or_else(|| bad("canonicalizedBody is missing or not base64"))?;
    let t = int_at(e, "integratedTime").ok_or_else(|| bad("integratedTime is missing"))?;
    let log_index = int_at(e, "logIndex").ok_or_else(|| bad("logIndex is missing"))?;
    let log_id = b64_at(e, &["logId", "keyId"])
        .ok_or_else(|| bad("logId.keyId is missing or not base64"))?;
    let log = root
        .tlogs
        .iter()
        .find(|l| l.log_id == log_id && l.valid_for.contains(t))
        .ok_or_else(|| {
            bad(format!(
                "no Rekor log with ID {} valid at integratedTime {t} in the trusted root",
                hex::encode(&log_id)
            ))
        })?;
    let key = log.key.as_ref().ok_or_else(|| {
        bad(format!(
            "the trusted root's key for log {} ({}) is not ECDSA P-256/P-384",
            log.base_url, log.key_details
        ))
    })?;
    let set = b64_at(e, &["inclusionPromise", "signedEntryTimestamp"]).ok_or_else(|| {
        bad("no inclusion promise (signedEntryTimestamp): Rekor v2 entries are not supported")
    })?;
    if !key.verify(
        HashAlg::Sha256,
        &set_payload(&body, t, &log_id, log_index),
        &set,
    ) {
        return Err(bad(format!(
            "the signed entry timestamp does not verify with the key of {}",
            log.base_url
        )));
    }
    let inclusion_proof = match e.get("inclusionProof") {
        None | Some(Value::Null) if proof_required => {
            return Err(bad(
                "no inclusion proof (bundles v0.2 and later must carry one)",
            ));
        }
        None | Some(Value::Null) => false,
        Some(p) => {
            verify_proof(log, p, &body)?;
            true
        }
    };
    Ok(Entry {
        body,
        integrated_time: t,
        log_index,
        log_url: log.base_url.clone(),
        inclusion_proof,
    })
}

fn verify_proof(log: &Log, p: &Value, body: &[u8]) -> Result<(), Failure> {
    let index = int_at(p, "logIndex")
        .and_then(|i| u64::try_from(i).ok())
        .ok_or_else(|| bad("inclusionProof.logIndex is missing"))?;
    let size = int_at(p, "treeSize")
        .and_then(|i| u64::try_from(i).ok())
        .ok_or_else(|| bad("inclusionProof.treeSize is missing"))?;
    let root_hash: [u8; 32] = b64_at(p, &["rootHash"])
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| bad("inclusionProof.rootHash is not 32 base64 bytes"))?;
    let mut hashes = Vec::new();
    for h in p
        .get("hashes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let h: [u8; 32] = h
            .as_str()
            .and_then(|s| STANDARD.decode(s).ok())
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| {
                bad("inclusionProof.hashes holds a value that is not 32 base64 bytes")
            })?;
        hashes.push(h);
    }
    if !verify_inclusion(&leaf_hash(body), index, size, &hashes, &root_hash) {
        return Err(bad(format!(
            "the inclusion proof (index {index}, tree size {size}) does not lead to the root hash"
        )));
    }
    let envelope = p
        .get("checkpoint")
        .and_then(|c| c.get("envelope"))
        .and_then(Value::as_str)
        .ok_or_else(|| bad("the inclusion proof has no checkpoint"))?;
    let cp = verify_checkpoint(envelope, std::slice::from_ref(log)).map_err(bad)?;
    if cp.size != size || cp.root_hash != root_hash {
        return Err(bad(format!(
            "the checkpoint (size {}, root {}) is not the proof's tree (size {size}, root {})",
            cp.size,
            hex::encode(&cp.root_hash),
            hex::encode(root_hash)
        )));
    }
    Ok(())
}

/// RFC 6962 leaf hash.
pub fn leaf_hash(data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// RFC 9162 §2.1.3.2: does `proof` lead from `leaf` at `index` to `root` in a tree of
/// `size` leaves?
pub fn verify_inclusion(
    leaf: &[u8; 32],
    index: u64,
    size: u64,
    proof: &[[u8; 32]],
    root: &[u8; 32],
) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// A checkpoint's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root_hash: Vec<u8>,
}

/// Verify a checkpoint (a signed note: `origin\nsize\nroot-b64\n[other lines]\n\n` then
/// lines `— NAME base64(4-byte key hint ‖ signature)`) with the log whose log ID starts
/// with the hint; at least one signature must verify.
pub fn verify_checkpoint(envelope: &str, logs: &[Log]) -> Result<Checkpoint, String> {
    let split = envelope
        .find("\n\n")
        .ok_or("the checkpoint has no blank line before its signatures")?;
    let text = envelope.get(..split + 1).unwrap_or_default();
    let sigs = envelope.get(split + 2..).unwrap_or_default();
    let mut lines = text.lines();
    let origin = lines.next().unwrap_or_default().to_string();
    let size = lines
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or("the checkpoint's second line is not a tree size")?;
    let root_hash = lines
        .next()
        .and_then(|s| STANDARD.decode(s).ok())
        .ok_or("the checkpoint's third line is not a base64 root hash")?;
    let mut tried = 0;
    for line in sigs.lines() {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            continue;
        };
        let Some(sig) = rest.split(' ').nth(1).and_then(|s| STANDARD.decode(s).ok()) else {
            continue;
        };
        let (Some(hint), Some(sig)) = (sig.get(..4), sig.get(4..)) else {
            continue;
        };
        for log in logs.iter().filter(|l| l.log_id.get(..4) == Some(hint)) {
            tried += 1;
            if log
                .key
                .as_ref()
                .is_some_and(|k| k.verify(HashAlg::Sha256, text.as_bytes(), sig))
            {
                return Ok(Checkpoint {
                    origin,
                    size,
                    root_hash,
                });
            }
        }
    }
    Err(if tried == 0 {
        "the checkpoint has no signature by the log (key hint = the first 4 bytes of its ID)".into()
    } else {
        "the checkpoint signature does not verify".into()
    })
}

// ---- certificates

fn validity(c: &Certificate) -> (i64, i64) {
    let v = c.tbs_certificate().validity();
    let secs = |t: x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs());
    (
        secs(v.not_before).unwrap_or(i64::MAX),
        secs(v.not_after).unwrap_or(i64::MIN),
    )
}

fn valid_at(c: &Certificate, t: i64) -> bool {
    let (nb, na) = validity(c);
    nb <= t && t <= na
}

/// Is `child` signed by `parent`'s key (and named by it)?
fn signed_by(child: &Certificate, parent: &Certificate) -> Result<(), String> {
    let issuer = child.tbs_certificate().issuer().to_der().ok();
    let subject = parent.tbs_certificate().subject().to_der().ok();
    if issuer.is_none() || issuer != subject {
        return Err("issuer name differs from the CA's subject".into());
    }
    let hash = match child.signature_algorithm().oid {
        o if o == OID_ECDSA_SHA256 => HashAlg::Sha256,
        o if o == OID_ECDSA_SHA384 => HashAlg::Sha384,
        o => {
            return Err(format!(
                "signature algorithm {o} is not ECDSA with SHA-256/384"
            ));
        }
    };
    let spki = parent
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| e.to_string())?;
    let key = EcKey::from_spki_der(&spki).ok_or("the CA key is not ECDSA P-256/P-384")?;
    let tbs = child
        .tbs_certificate()
        .to_der()
        .map_err(|e| e.to_string())?;
    let sig = child
        .signature()
        .as_bytes()
        .ok_or("signature bit string is not whole bytes")?;
    if key.verify(hash, &tbs, sig) {
        Ok(())
    } else {
        Err("signature does not verify with the CA key".into())
    }
}

/// Check that `parent` may issue certificates `below` CA certificates under it.
fn ca_ok(parent: &Certificate, below: usize) -> Result<(), String> {
    let tbs = parent.tbs_certificate();
    match tbs.get_extension::<BasicConstraints>() {
        Ok(Some((_, bc))) if bc.ca => {
            if let Some(n) = bc.path_len_constraint
                && below > usize::from(n)
            {
                return Err(format!("path length {below} exceeds the CA's limit {n}"));
            }
        }
        _ => return Err("not a CA certificate (basicConstraints)".into()),
    }
    match tbs.get_extension::<KeyUsage>() {
        Ok(Some((_, ku))) if !ku.key_cert_sign() => Err("CA key usage lacks keyCertSign".into()),
        Err(e) => Err(format!("key usage: {e}")),
        _ => Ok(()),
    }
}

fn verify_chain<'a>(
    root: &'a TrustedRoot,
    leaf: &Certificate,
    t: i64,
) -> Result<&'a CertificateAuthority, Failure> {
    let mut reasons = Vec::new();
    for ca in root
        .certificate_authorities
        .iter()
        .filter(|ca| ca.valid_for.contains(t))
    {
        let attempt = (|| -> Result<(), String> {
            let mut child = leaf;
            for (i, parent) in ca.chain.iter().enumerate() {
                signed_by(child, parent)?;
                ca_ok(parent, i)?;
                if !valid_at(parent, t) {
                    return Err(format!("CA certificate {i} was not valid at {t}"));
                }
                child = parent;
            }
            // A self-signed anchor must verify itself too.
            let tbs = child.tbs_certificate();
            if tbs.issuer() == tbs.subject() {
                signed_by(child, child).map_err(|e| format!("root: {e}"))?;
            }
            Ok(())
        })();
        match attempt {
            Ok(()) => return Ok(ca),
            Err(e) => reasons.push(format!("{}: {e}", ca.uri)),
        }
    }
    Err(untrusted(if reasons.is_empty() {
        format!("no certificate authority of the trusted root was in use at integratedTime {t}")
    } else {
        reasons.join("; ")
    }))
}

fn check_leaf_profile(leaf: &Certificate) -> Result<(), Failure> {
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

/// The certificate's URI and e-mail subject alternative names.
pub fn subject_alt_names(c: &Certificate) -> Result<Vec<String>, Failure> {
    let san = c
        .tbs_certificate()
        .get_extension::<SubjectAltName>()
        .map_err(|e| Failure::malformed("certificate subjectAltName", e))?;
    Ok(san
        .map(|(_, s)| s.0)
        .unwrap_or_default()
        .iter()
        .filter_map(|n| match n {
            GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
            GeneralName::Rfc822Name(e) => Some(e.to_string()),
            _ => None,
        })
        .collect())
}

/// The Fulcio OIDC issuer: extension .1.8 (a DER UTF8String), else legacy .1.1 (raw
/// bytes).
pub fn oidc_issuer(c: &Certificate) -> Result<Option<String>, Failure> {
    let exts = c.tbs_certificate().extensions();
    let find = |oid: ObjectIdentifier| {
        exts.into_iter()
            .flatten()
            .find(|e| e.extn_id == oid)
            .map(|e| e.extn_value.as_bytes())
    };
    if let Some(v) = find(OID_ISSUER_V2) {
        let s = Utf8StringRef::from_der(v)
            .map_err(|e| Failure::malformed("certificate OIDC issuer extension", e))?;
        return Ok(Some(s.as_str().to_string()));
    }
    Ok(find(OID_ISSUER_V1).map(|v| String::from_utf8_lossy(v).into_owned()))
}

// ---- certificate transparency

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
fn verify_scts(
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
    if key.verify(HashAlg::Sha256, &signed, sig) {
        Ok(())
    } else {
        Err(format!(
            "the SCT does not verify with the key of CT log {}",
            log.base_url
        ))
    }
}

// ---- body binding

/// DER of the (first) certificate in a PEM text, as Rekor stores verifiers.
pub(crate) fn pem_cert_der(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find("-----BEGIN CERTIFICATE-----")?;
    let rest = text.get(start + "-----BEGIN CERTIFICATE-----".len()..)?;
    let end = rest.find("-----END CERTIFICATE-----")?;
    let b64: String = rest
        .get(..end)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD.decode(b64).ok()?;
    // Exactly one DER value.
    let (_, _, after, _) = der_tlv(&der)?;
    after.is_empty().then_some(der)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// Does the Rekor entry body describe this bundle's signature, content and certificate?
pub fn check_body_binds(body: &[u8], bundle: &Value, leaf_der: &[u8]) -> Result<(), Failure> {
    let b: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("canonicalizedBody is not JSON: {e}")))?;
    let kind = b.get("kind").and_then(Value::as_str).unwrap_or("");
    let api = b.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let spec = b.get("spec").unwrap_or(&Value::Null);
    let cert_is_ours = |b64: Option<&str>| {
        b64.and_then(decode_b64)
            .and_then(|pem| pem_cert_der(&pem))
            .is_some_and(|der| der == leaf_der)
    };
    // The bundle's DSSE envelope and the hex sha256 of its payload, for the entry kinds
    // that record an envelope.
    let envelope_and_payload_hash = |kind: &str| -> Result<(&Value, String), Failure> {
        let env = bundle.get("dsseEnvelope").ok_or_else(|| {
            bad(format!(
                "the entry is a{} {kind} entry but the bundle has no DSSE envelope",
                if kind.starts_with('i') { "n" } else { "" }
            ))
        })?;
        let payload = str_at(env, &["payload"])
            .and_then(decode_b64)
            .ok_or_else(|| Failure::malformed("dsseEnvelope", "payload is not base64"))?;
        Ok((env, hex::encode(Sha256::digest(&payload))))
    };
    match (kind, api) {
        ("dsse", "0.0.1") => {
            let (env, want) = envelope_and_payload_hash("dsse")?;
            if str_at(spec, &["payloadHash", "algorithm"]) != Some("sha256")
                || str_at(spec, &["payloadHash", "value"]) != Some(want.as_str())
            {
                return Err(bad(
                    "the entry's payload hash is not the sha256 of this bundle's payload",
                ));
            }
            let theirs = spec.get("signatures").and_then(Value::as_array);
            let ours = env.get("signatures").and_then(Value::as_array);
            let (Some([theirs]), Some([ours])) =
                (theirs.map(Vec::as_slice), ours.map(Vec::as_slice))
            else {
                return Err(bad(
                    "the entry and the envelope must each hold exactly one signature",
                ));
            };
            let sig_t = str_at(theirs, &["signature"]).and_then(decode_b64);
            let sig_o = str_at(ours, &["sig"]).and_then(decode_b64);
            if sig_t.is_none() || sig_t != sig_o {
                return Err(bad(
                    "the entry's signature is not this envelope's signature",
                ));
            }
            if !cert_is_ours(str_at(theirs, &["verifier"])) {
                return Err(bad("the entry's verifier is not this bundle's certificate"));
            }
            Ok(())
        }
        ("intoto", "0.0.2") => {
            // Older `cosign attest`: the envelope is in the entry, its signature base64
            // twice, its verifier under `publicKey`.
            let (env, want) = envelope_and_payload_hash("intoto")?;
            let content = spec.get("content").unwrap_or(&Value::Null);
            if str_at(content, &["payloadHash", "algorithm"]) != Some("sha256")
                || str_at(content, &["payloadHash", "value"]) != Some(want.as_str())
            {
                return Err(bad(
                    "the entry's payload hash is not the sha256 of this bundle's payload",
                ));
            }
            let theirs = content
                .get("envelope")
                .and_then(|e| e.get("signatures"))
                .and_then(Value::as_array);
            let ours = env.get("signatures").and_then(Value::as_array);
            let (Some([theirs]), Some([ours])) =
                (theirs.map(Vec::as_slice), ours.map(Vec::as_slice))
            else {
                return Err(bad(
                    "the entry and the envelope must each hold exactly one signature",
                ));
            };
            let sig_t = str_at(theirs, &["sig"])
                .and_then(decode_b64)
                .and_then(|inner| String::from_utf8(inner).ok())
                .and_then(|inner| decode_b64(&inner));
            let sig_o = str_at(ours, &["sig"]).and_then(decode_b64);
            if sig_t.is_none() || sig_t != sig_o {
                return Err(bad(
                    "the entry's signature is not this envelope's signature",
                ));
            }
            if !cert_is_ours(str_at(theirs, &["publicKey"])) {
                return Err(bad(
                    "the entry's public key is not this bundle's certificate",
                ));
            }
            Ok(())
        }
        // `rekord` 0.0.1 (what cosign before 1.5 logged for `.sig` layers) names the
        // artifact hash, signature and key at the same paths; cosign accepts both.
        ("hashedrekord", "0.0.1") | ("rekord", "0.0.1") => {
            let ms = bundle.get("messageSignature").ok_or_else(|| {
                bad("the entry is a hashedrekord entry but the bundle has no message signature")
            })?;
            let digest = str_at(ms, &["messageDigest", "digest"])
                .and_then(decode_b64)
                .map(hex::encode);
            if str_at(spec, &["data", "hash", "algorithm"]) != Some("sha256")
                || digest.is_none()
                || str_at(spec, &["data", "hash", "value"]) != digest.as_deref()
            {
                return Err(bad(
                    "the entry's data hash is not this bundle's message digest",
                ));
            }
            let sig_t = str_at(spec, &["signature", "content"]).and_then(decode_b64);
            let sig_o = str_at(ms, &["signature"]).and_then(decode_b64);
            if sig_t.is_none() || sig_t != sig_o {
                return Err(bad("the entry's signature is not this bundle's signature"));
            }
            if !cert_is_ours(str_at(spec, &["signature", "publicKey", "content"])) {
                return Err(bad(
                    "the entry's public key is not this bundle's certificate",
                ));
            }
            Ok(())
        }
        _ => Err(bad(format!(
            "entry kind {kind:?} version {api:?} is not supported (dsse 0.0.1, intoto 0.0.2, hashedrekord 0.0.1, rekord 0.0.1)"
        ))),
    }
}

/// What [`inspect_leaf`] read from a signing certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafFacts {
    pub subject_alt_names: Vec<String>,
    pub issuer: Option<String>,
}

/// The certificate half of keyless verification on its own, for fuzzing and tests: decode
/// the leaf's X.509 DER, check its profile, read its SANs and OIDC issuer, then parse
/// its embedded SCT list and rebuild the precertificate TBS, checking the SCTs against
/// `root`'s CT logs with `issuer` as the issuing CA. Pure (no I/O).
pub fn inspect_leaf(
    root: &TrustedRoot,
    leaf_der: &[u8],
    issuer: &Certificate,
) -> Result<LeafFacts, Failure> {
    let leaf = Certificate::from_der(leaf_der).map_err(|e| Failure::malformed("certificate", e))?;
    check_leaf_profile(&leaf)?;
    let facts = LeafFacts {
        subject_alt_names: subject_alt_names(&leaf)?,
        issuer: oidc_issuer(&leaf)?,
    };
    verify_scts(root, &leaf, leaf_der, issuer)?;
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_payload_is_canonical_json() {
        // Written by hand from Rekor's SET definition: keys sorted, no whitespace,
        // body as standard padded base64, log ID as lowercase hex.
        assert_eq!(
            String::from_utf8(set_payload(b"{}", 1_734_374_576, &[0xc0, 0xd2, 0x3d], 155)).unwrap(),
            r#"{"body":"e30=","integratedTime":1734374576,"logID":"c0d23d","logIndex":155}"#
        );
        // serde_json's sorted map gives the same bytes (an independent canonicalizer).
        let v =
            serde_json::json!({"logIndex": 7, "logID": "ab", "integratedTime": 9, "body": "e30="});
        assert_eq!(
            serde_json::to_vec(&v).unwrap(),
            set_payload(b"{}", 9, &[0xab], 7)
        );
    }

    /// RFC 6962 §2.1 MTH, recursively (the definition, independent of the verifier).
    fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => leaves[0],
            n => {
                let k = (n.next_power_of_two() / 2).max(1);
                let k = if k == n { n / 2 } else { k };
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    /// RFC 6962 §2.1.1 PATH(m, D[n]), recursively.
    fn path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = n.next_power_of_two() / 2;
        let k = if k == n { n / 2 } else { k };
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    #[test]
    fn merkle_inclusion_against_the_rfc_definition() {
        for n in 1..=17usize {
            let leaves: Vec<[u8; 32]> = (0..n).map(|i| leaf_hash(&[i as u8])).collect();
            let root = mth(&leaves);
            for m in 0..n {
                let p = path(m, &leaves);
                assert!(
                    verify_inclusion(&leaves[m], m as u64, n as u64, &p, &root),
                    "{m}/{n}"
                );
                // Wrong index, wrong leaf, truncated or extended proof, flipped hash.
                if n > 1 {
                    assert!(!verify_inclusion(
                        &leaves[m],
                        ((m + 1) % n) as u64,
                        n as u64,
                        &p,
                        &root
                    ));
                    assert!(!verify_inclusion(
                        &leaves[(m + 1) % n],
                        m as u64,
                        n as u64,
                        &p,
                        &root
                    ));
                    assert!(!verify_inclusion(
                        &leaves[m],
                        m as u64,
                        n as u64,
                        &p[..p.len() - 1],
                        &root
                    ));
                    let mut q = p.clone();
                    q[0][0] ^= 1;
                    assert!(!verify_inclusion(&leaves[m], m as u64, n as u64, &q, &root));
                }
                let mut q = p.clone();
                q.push(root);
                assert!(!verify_inclusion(&leaves[m], m as u64, n as u64, &q, &root));
            }
            assert!(!verify_inclusion(
                &leaves[0],
                n as u64,
                n as u64,
                &[],
                &root
            ));
        }
    }

    #[test]
    fn checkpoint_parsing_refuses_garbage() {
        assert!(verify_checkpoint("no separator", &[]).is_err());
        assert!(verify_checkpoint("o\nx\nAAAA\n\n\u{2014} n AAAAAAAA\n", &[]).is_err());
        // Well-formed but no known log.
        let e = verify_checkpoint("o\n1\nAAAA\n\n\u{2014} n AAAAAAAA\n", &[]).unwrap_err();
        assert!(e.contains("no signature by the log"), "{e}");
    }

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

    #[test]
    fn pem_certificates() {
        assert!(pem_cert_der(b"nothing").is_none());
        let der = [0x30u8, 0x03, 0x02, 0x01, 0x05];
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            STANDARD.encode(der)
        );
        assert_eq!(pem_cert_der(pem.as_bytes()), Some(der.to_vec()));
        let trailing = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            STANDARD.encode([0x30, 0x00, 0x00])
        );
        assert!(pem_cert_der(trailing.as_bytes()).is_none());
    }
}
