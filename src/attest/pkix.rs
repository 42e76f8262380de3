//! X.509 building blocks shared by the Sigstore (Fulcio, TSA) and Notary Project
//! verifiers: a signature under a certificate's key for a given algorithm identifier, and
//! a certification path from a certificate through untrusted intermediates to one of a
//! set of anchors, at a given instant.
//!
//! Owns: the signature algorithms Sigstore and Notary use (ECDSA P-256/P-384 with
//! SHA-256/384/512, RSA PKCS#1 v1.5 and RSASSA-PSS with SHA-256/384/512, keys of at
//! least 2048 bits), CA checks (basicConstraints `cA`, path length, keyCertSign) and
//! validity windows, inclusive at both ends, at the instant the caller names (never the
//! clock: a timestamp or a log's integration time). Not owned: the leaf's profile (EKU,
//! identity), which each caller checks for its own purpose, and revocation (none of the
//! callers' trust models has it offline).
//!
//! Pure: no I/O, no clock. Path building is bounded (depth [`MAX_PATH_DEPTH`], at most
//! [`MAX_CANDIDATES`] certificates considered), so a hostile token with many
//! certificates cannot make it search without end.

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use sha2::Digest as _;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use x509_cert::spki::AlgorithmIdentifierOwned;

/// Longest path (leaf to anchor, anchors included) we build.
pub const MAX_PATH_DEPTH: usize = 8;
/// Most certificates (intermediates + anchors) a path search considers.
pub const MAX_CANDIDATES: usize = 64;
/// Most signature checks one path search makes (same-named certificates could
/// otherwise make the search exponential).
pub const MAX_PATH_STEPS: usize = 256;
/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

pub const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
pub const OID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
pub const OID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const OID_ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const OID_RSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const OID_RSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const OID_RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");

/// A hash Sigstore and Notary sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    pub fn from_oid(oid: ObjectIdentifier) -> Option<Hash> {
        match oid {
            o if o == OID_SHA256 => Some(Hash::Sha256),
            o if o == OID_SHA384 => Some(Hash::Sha384),
            o if o == OID_SHA512 => Some(Hash::Sha512),
            _ => None,
        }
    }

    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Hash::Sha256 => "SHA-256",
            Hash::Sha384 => "SHA-384",
            Hash::Sha512 => "SHA-512",
        }
    }
}

/// A signature scheme, resolved from an algorithm identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Ecdsa(Hash),
    RsaPkcs1(Hash),
    RsaPss { hash: Hash, salt_len: usize },
}

/// The scheme an AlgorithmIdentifier names. `digest` is the hash named elsewhere (CMS
/// `digestAlgorithm`), used where the identifier names only the key type (`rsaEncryption`,
/// `id-ecPublicKey`, as some TSAs write SignerInfo).
pub fn scheme(alg: &AlgorithmIdentifierOwned, digest: Option<Hash>) -> Result<Scheme, String> {
    let need_digest = || digest.ok_or_else(|| format!("algorithm {} names no hash", alg.oid));
    Ok(match alg.oid {
        o if o == OID_ECDSA_SHA256 => Scheme::Ecdsa(Hash::Sha256),
        o if o == OID_ECDSA_SHA384 => Scheme::Ecdsa(Hash::Sha384),
        o if o == OID_ECDSA_SHA512 => Scheme::Ecdsa(Hash::Sha512),
        o if o == OID_EC_PUBLIC_KEY => Scheme::Ecdsa(need_digest()?),
        o if o == OID_RSA_SHA256 => Scheme::RsaPkcs1(Hash::Sha256),
        o if o == OID_RSA_SHA384 => Scheme::RsaPkcs1(Hash::Sha384),
        o if o == OID_RSA_SHA512 => Scheme::RsaPkcs1(Hash::Sha512),
        o if o == OID_RSA => Scheme::RsaPkcs1(need_digest()?),
        o if o == OID_RSA_PSS => pss_params(alg)?,
        o => return Err(format!("signature algorithm {o} is not supported")),
    })
}

/// RSASSA-PSS-params (RFC 4055 §3.1). Defaults (SHA-1) are refused: only SHA-2, with MGF1
/// over the same hash, trailer 1.
fn pss_params(alg: &AlgorithmIdentifierOwned) -> Result<Scheme, String> {
    #[derive(der::Sequence)]
    struct PssParams {
        #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
        hash: Option<AlgorithmIdentifierOwned>,
        #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
        mgf: Option<AlgorithmIdentifierOwned>,
        #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
        salt: Option<u32>,
        #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
        trailer: Option<u32>,
    }
    let params = alg
        .parameters
        .as_ref()
        .ok_or("RSASSA-PSS without parameters (SHA-1) is not supported")?;
    let p = PssParams::from_der(&params.to_der().map_err(|e| e.to_string())?)
        .map_err(|e| format!("RSASSA-PSS parameters: {e}"))?;
    let hash = p
        .hash
        .and_then(|h| Hash::from_oid(h.oid))
        .ok_or("RSASSA-PSS hash is not SHA-256/384/512")?;
    let mgf = p.mgf.ok_or("RSASSA-PSS MGF is the SHA-1 default")?;
    let mgf_hash = mgf
        .parameters
        .as_ref()
        .and_then(|a| a.to_der().ok())
        .and_then(|d| AlgorithmIdentifierOwned::from_der(&d).ok())
        .and_then(|a| Hash::from_oid(a.oid));
    if mgf.oid != OID_MGF1 || mgf_hash != Some(hash) {
        return Err("RSASSA-PSS MGF is not MGF1 over the signature hash".into());
    }
    if p.trailer.unwrap_or(1) != 1 {
        return Err("RSASSA-PSS trailer field is not 1".into());
    }
    Ok(Scheme::RsaPss {
        hash,
        salt_len: p.salt.unwrap_or(20) as usize,
    })
}

/// Verify `sig` over `data` with the key in `spki_der` (a SubjectPublicKeyInfo).
pub fn verify_signature(
    spki_der: &[u8],
    scheme: Scheme,
    data: &[u8],
    sig: &[u8],
) -> Result<(), String> {
    use p256::pkcs8::DecodePublicKey;
    match scheme {
        Scheme::Ecdsa(hash) => {
            use p256::ecdsa::signature::hazmat::PrehashVerifier;
            let prehash = hash.digest(data);
            let ok = if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(spki_der) {
                p256::ecdsa::DerSignature::from_bytes(sig)
                    .is_ok_and(|s| k.verify_prehash(&prehash, &s).is_ok())
            } else if let Ok(k) = p384::ecdsa::VerifyingKey::from_public_key_der(spki_der) {
                p384::ecdsa::DerSignature::from_bytes(sig)
                    .is_ok_and(|s| k.verify_prehash(&prehash, &s).is_ok())
            } else {
                return Err("the key is not ECDSA P-256/P-384".into());
            };
            ok.then_some(())
                .ok_or_else(|| "the ECDSA signature does not verify".into())
        }
        Scheme::RsaPkcs1(hash) | Scheme::RsaPss { hash, .. } => {
            let key = rsa::PublicKey::from_public_key_der(spki_der)
                .map_err(|_| "the key is not RSA".to_string())?;
            let bits = rsa::traits::PublicKeyParts::size(&key) * 8;
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "RSA key of {bits} bits is under {MIN_RSA_BITS} bits"
                ));
            }
            let hashed = hash.digest(data);
            let r = match (scheme, hash) {
                (Scheme::RsaPkcs1(_), Hash::Sha256) => {
                    key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &hashed, sig)
                }
                (Scheme::RsaPkcs1(_), Hash::Sha384) => {
                    key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha384>(), &hashed, sig)
                }
                (Scheme::RsaPkcs1(_), Hash::Sha512) => {
                    key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha512>(), &hashed, sig)
                }
                (Scheme::RsaPss { salt_len, .. }, Hash::Sha256) => key.verify(
                    rsa::Pss::<sha2::Sha256>::new_with_salt(salt_len),
                    &hashed,
                    sig,
                ),
                (Scheme::RsaPss { salt_len, .. }, Hash::Sha384) => key.verify(
                    rsa::Pss::<sha2::Sha384>::new_with_salt(salt_len),
                    &hashed,
                    sig,
                ),
                (Scheme::RsaPss { salt_len, .. }, Hash::Sha512) => key.verify(
                    rsa::Pss::<sha2::Sha512>::new_with_salt(salt_len),
                    &hashed,
                    sig,
                ),
                (Scheme::Ecdsa(_), _) => unreachable_scheme(),
            };
            r.map_err(|_| "the RSA signature does not verify".into())
        }
    }
}

// Kept out of line so the match above stays total without a panic.
fn unreachable_scheme() -> rsa::Result<()> {
    Err(rsa::Error::Verification)
}

/// The certificate's SubjectPublicKeyInfo, DER.
pub fn spki_der(c: &Certificate) -> Result<Vec<u8>, String> {
    c.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| e.to_string())
}

/// Not-before and not-after, Unix seconds.
pub fn validity(c: &Certificate) -> (i64, i64) {
    let v = c.tbs_certificate().validity();
    let secs = |t: x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs());
    (
        secs(v.not_before).unwrap_or(i64::MAX),
        secs(v.not_after).unwrap_or(i64::MIN),
    )
}

/// Valid at `t`, both ends inclusive (RFC 5280 §4.1.2.5).
pub fn valid_at(c: &Certificate, t: i64) -> bool {
    let (nb, na) = validity(c);
    nb <= t && t <= na
}

/// Is `child` named by and signed with `parent`'s key?
pub fn signed_by(child: &Certificate, parent: &Certificate) -> Result<(), String> {
    let issuer = child.tbs_certificate().issuer().to_der().ok();
    let subject = parent.tbs_certificate().subject().to_der().ok();
    if issuer.is_none() || issuer != subject {
        return Err("issuer name differs from the CA's subject".into());
    }
    let s = scheme(child.signature_algorithm(), None)?;
    let tbs = child
        .tbs_certificate()
        .to_der()
        .map_err(|e| e.to_string())?;
    let sig = child
        .signature()
        .as_bytes()
        .ok_or("signature bit string is not whole bytes")?;
    verify_signature(&spki_der(parent)?, s, &tbs, sig)
        .map_err(|e| format!("signature by the CA: {e}"))
}

/// May `parent` issue certificates with `below` CA certificates under it?
pub fn ca_ok(parent: &Certificate, below: usize) -> Result<(), String> {
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

fn der_of(c: &Certificate) -> Vec<u8> {
    c.to_der().unwrap_or_default()
}

/// A path from `leaf` to one of `anchors` at instant `t`: `leaf` first, the anchor last
/// (a leaf that is itself an anchor gives a path of one). Intermediates are untrusted
/// and used only when they chain. Every certificate on the path must be valid at `t`;
/// every issuer must be a CA whose path length allows what is below it; a self-issued
/// anchor must verify its own signature. The first reason a path failed is reported
/// when none is found.
pub fn build_path(
    leaf: &Certificate,
    intermediates: &[Certificate],
    anchors: &[Certificate],
    t: i64,
) -> Result<Vec<Certificate>, String> {
    if intermediates.len() + anchors.len() > MAX_CANDIDATES {
        return Err(format!(
            "{} candidate certificates, over the limit of {MAX_CANDIDATES}",
            intermediates.len() + anchors.len()
        ));
    }
    if !valid_at(leaf, t) {
        let (nb, na) = validity(leaf);
        return Err(format!(
            "the certificate was not valid at {t} (valid {nb}..{na})"
        ));
    }
    let anchor_ders: Vec<Vec<u8>> = anchors.iter().map(der_of).collect();
    let mut path = vec![leaf.clone()];
    let mut first_err = None;
    let mut budget = MAX_PATH_STEPS;
    let mut ctx = Search {
        intermediates,
        anchors,
        anchor_ders: &anchor_ders,
        t,
        first_err: &mut first_err,
        budget: &mut budget,
    };
    if search(&mut path, &mut ctx) {
        return Ok(path);
    }
    Err(first_err.unwrap_or_else(|| "no path to a trusted anchor".into()))
}

fn self_check_anchor(anchor: &Certificate) -> Result<(), String> {
    let tbs = anchor.tbs_certificate();
    if tbs.issuer() == tbs.subject() {
        signed_by(anchor, anchor).map_err(|e| format!("anchor: {e}"))?;
    }
    Ok(())
}

struct Search<'a> {
    intermediates: &'a [Certificate],
    anchors: &'a [Certificate],
    anchor_ders: &'a [Vec<u8>],
    t: i64,
    first_err: &'a mut Option<String>,
    budget: &'a mut usize,
}

fn search(path: &mut Vec<Certificate>, cx: &mut Search<'_>) -> bool {
    let t = cx.t;
    let Some(child) = path.last().cloned() else {
        return false;
    };
    // The path ends at a certificate that is an anchor.
    if cx.anchor_ders.contains(&der_of(&child)) {
        match self_check_anchor(&child) {
            Ok(()) => return true,
            Err(e) => {
                cx.first_err.get_or_insert(e);
                return false;
            }
        }
    }
    if path.len() >= MAX_PATH_DEPTH {
        cx.first_err
            .get_or_insert_with(|| format!("no path within {MAX_PATH_DEPTH} certificates"));
        return false;
    }
    let below = path.len() - 1;
    for parent in cx.anchors.iter().chain(cx.intermediates) {
        if child.tbs_certificate().issuer() != parent.tbs_certificate().subject() {
            continue;
        }
        if *cx.budget == 0 {
            cx.first_err
                .get_or_insert_with(|| format!("path search over {MAX_PATH_STEPS} steps"));
            return false;
        }
        *cx.budget -= 1;
        // No loops: a certificate appears once on a path.
        let pd = der_of(parent);
        if path.iter().any(|c| der_of(c) == pd) {
            continue;
        }
        let step = signed_by(&child, parent)
            .and_then(|()| ca_ok(parent, below))
            .and_then(|()| {
                if valid_at(parent, t) {
                    Ok(())
                } else {
                    let (nb, na) = validity(parent);
                    Err(format!(
                        "CA certificate {:?} was not valid at {t} (valid {nb}..{na})",
                        parent.tbs_certificate().subject().to_string()
                    ))
                }
            });
        match step {
            Ok(()) => {
                path.push(parent.clone());
                if search(path, cx) {
                    return true;
                }
                path.pop();
            }
            Err(e) => {
                cx.first_err.get_or_insert(e);
            }
        }
    }
    cx.first_err.get_or_insert_with(|| {
        format!(
            "no trusted issuer for {:?}",
            child.tbs_certificate().issuer().to_string()
        )
    });
    false
}
