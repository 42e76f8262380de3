//! The Sigstore trusted root (`application/vnd.dev.sigstore.trustedroot+json;version=0.1`,
//! what `cosign --trusted-root` and sigstore-js read): the Fulcio certificate authorities
//! (certificate chains with the period each was in use), the Rekor transparency logs
//! (public key, log ID, period) and the CT logs.
//!
//! Owns parsing that file into checked values (every certificate decoded, every key
//! parsed, every time converted) and the log verification keys ([`LogKey`]: ECDSA
//! P-256/P-384, Ed25519 for Rekor v2 logs) keyless verification uses, and the RFC 3161
//! timestamp authorities (chain, period). Does not own the checks themselves (`keyless`,
//! `tlog`, `tsa`), nor fetching the root (TUF): the file is given by the user, and
//! trusting it is their decision.
//!
//! Keys of another type (e.g. RSA) are kept as unsupported and fail only when an entry
//! names them.

use crate::time::parse_rfc3339;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;
use x509_cert::Certificate;
use x509_cert::der::Decode;

/// Media types of trusted roots we read.
pub const TRUSTED_ROOT_MEDIA_TYPES: [&str; 2] = [
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    "application/vnd.dev.sigstore.trustedroot.v0.2+json",
];

/// Largest trusted root we parse (the public-good one is ~6 KiB).
pub const MAX_TRUSTED_ROOT_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum TrustRootError {
    #[error("trusted root is {0} bytes, over the {MAX_TRUSTED_ROOT_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("trusted root is not valid JSON of the Sigstore trusted-root shape: {0}")]
    Json(String),
    #[error(
        "trusted root media type {0:?} is not a Sigstore trusted root (application/vnd.dev.sigstore.trustedroot+json;version=0.1)"
    )]
    MediaType(String),
    #[error("trusted root {field}: {message}")]
    Field { field: String, message: String },
}

fn field_err(field: impl Into<String>, message: impl std::fmt::Display) -> TrustRootError {
    TrustRootError::Field {
        field: field.into(),
        message: message.to_string(),
    }
}

/// An ECDSA verification key of the curves Sigstore uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

/// Which hash an ECDSA signature was made over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    Sha256,
    Sha384,
}

impl HashAlg {
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest as _;
        match self {
            HashAlg::Sha256 => sha2::Sha256::digest(data).to_vec(),
            HashAlg::Sha384 => sha2::Sha384::digest(data).to_vec(),
        }
    }
}

impl EcKey {
    /// From a PKIX SubjectPublicKeyInfo (DER); None for other key types.
    pub fn from_spki_der(der: &[u8]) -> Option<EcKey> {
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Some(EcKey::P256(k));
        }
        p384::ecdsa::VerifyingKey::from_public_key_der(der)
            .ok()
            .map(EcKey::P384)
    }

    /// Verify an ASN.1 DER ECDSA signature over `data` hashed with `hash`.
    pub fn verify(&self, hash: HashAlg, data: &[u8], der_sig: &[u8]) -> bool {
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        let prehash = hash.digest(data);
        match self {
            EcKey::P256(k) => p256::ecdsa::DerSignature::from_bytes(der_sig)
                .is_ok_and(|s| k.verify_prehash(&prehash, &s).is_ok()),
            EcKey::P384(k) => p384::ecdsa::DerSignature::from_bytes(der_sig)
                .is_ok_and(|s| k.verify_prehash(&prehash, &s).is_ok()),
        }
    }
}

/// A transparency log's key: what Rekor v1 (ECDSA) and Rekor v2 (Ed25519 or ECDSA) sign
/// SETs and checkpoints with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogKey {
    Ecdsa(EcKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl LogKey {
    /// From SubjectPublicKeyInfo DER; None for other key types.
    pub fn from_spki_der(der: &[u8]) -> Option<LogKey> {
        use ed25519_dalek::pkcs8::DecodePublicKey as _;
        if let Some(k) = EcKey::from_spki_der(der) {
            return Some(LogKey::Ecdsa(k));
        }
        ed25519_dalek::VerifyingKey::from_public_key_der(der)
            .ok()
            .map(LogKey::Ed25519)
    }

    /// Verify `sig` over `data`: ECDSA over SHA-256 (what Rekor, CT logs and C2SP
    /// signed notes use whatever the curve), Ed25519 strictly (no malleable encodings).
    pub fn verify(&self, data: &[u8], sig: &[u8]) -> bool {
        match self {
            LogKey::Ecdsa(k) => k.verify(HashAlg::Sha256, data, sig),
            LogKey::Ed25519(k) => ed25519_dalek::Signature::from_slice(sig)
                .is_ok_and(|s| k.verify_strict(data, &s).is_ok()),
        }
    }
}

/// A period of use, in Unix seconds; `end` None = still in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidFor {
    pub start: i64,
    pub end: Option<i64>,
}

impl ValidFor {
    pub fn contains(&self, t: i64) -> bool {
        t >= self.start && self.end.is_none_or(|e| t <= e)
    }
}

/// A transparency log (Rekor) or CT log.
#[derive(Debug, Clone)]
pub struct Log {
    pub base_url: String,
    /// The log ID (Rekor v1, CT: sha256 of the key's PKIX DER; Rekor v2 Ed25519: the
    /// C2SP signed-note key ID, sha256(origin ‖ 0x0A ‖ 0x01 ‖ key)).
    pub log_id: Vec<u8>,
    /// The key, or None when its type is not ECDSA P-256/P-384 or Ed25519.
    pub key: Option<LogKey>,
    /// The key's PKIX DER as the root gives it.
    pub spki: Vec<u8>,
    pub key_details: String,
    pub valid_for: ValidFor,
}

impl Log {
    /// The checkpoint origin (C2SP signed-note key name) of the log: its base URL's
    /// host and path, without scheme or trailing slash (`log2025-1.rekor.sigstore.dev`).
    pub fn origin(&self) -> &str {
        let u = self.base_url.as_str();
        let u = u
            .strip_prefix("https://")
            .or_else(|| u.strip_prefix("http://"))
            .unwrap_or(u);
        u.trim_end_matches('/')
    }
}

/// An RFC 3161 timestamp authority: its chain (signing certificate first, root last) and
/// the period it was trusted for.
#[derive(Debug, Clone)]
pub struct TimestampAuthority {
    pub uri: String,
    pub chain: Vec<Certificate>,
    pub valid_for: ValidFor,
}

/// A Fulcio certificate authority: its chain, issuing certificate first, root last.
#[derive(Debug, Clone)]
pub struct CertificateAuthority {
    pub uri: String,
    pub chain: Vec<Certificate>,
    pub valid_for: ValidFor,
}

/// A parsed trusted root.
#[derive(Debug, Clone)]
pub struct TrustedRoot {
    pub tlogs: Vec<Log>,
    pub certificate_authorities: Vec<CertificateAuthority>,
    pub ctlogs: Vec<Log>,
    pub timestamp_authorities: Vec<TimestampAuthority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RootJson {
    media_type: String,
    #[serde(default)]
    tlogs: Vec<LogJson>,
    #[serde(default)]
    certificate_authorities: Vec<CaJson>,
    #[serde(default)]
    ctlogs: Vec<LogJson>,
    #[serde(default)]
    timestamp_authorities: Vec<CaJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogJson {
    #[serde(default)]
    base_url: String,
    public_key: PublicKeyJson,
    log_id: LogIdJson,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKeyJson {
    #[serde(default)]
    raw_bytes: String,
    #[serde(default)]
    key_details: String,
    valid_for: Option<ValidForJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogIdJson {
    key_id: String,
}

#[derive(Deserialize)]
struct ValidForJson {
    start: Option<String>,
    end: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CaJson {
    #[serde(default)]
    uri: String,
    cert_chain: ChainJson,
    valid_for: Option<ValidForJson>,
}

#[derive(Deserialize)]
struct ChainJson {
    certificates: Vec<RawBytesJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytesJson {
    raw_bytes: String,
}

fn valid_for(v: Option<&ValidForJson>, field: &str) -> Result<ValidFor, TrustRootError> {
    let Some(v) = v else {
        return Err(field_err(field, "no validFor period"));
    };
    let start = v
        .start
        .as_deref()
        .ok_or_else(|| field_err(field, "validFor has no start"))?;
    let start = parse_rfc3339(start)
        .ok_or_else(|| field_err(field, format!("validFor.start {start:?} is not RFC 3339")))?;
    let end = match v.end.as_deref() {
        None => None,
        Some(e) => Some(
            parse_rfc3339(e)
                .ok_or_else(|| field_err(field, format!("validFor.end {e:?} is not RFC 3339")))?,
        ),
    };
    Ok(ValidFor { start, end })
}

fn parse_log(l: &LogJson, field: &str) -> Result<Log, TrustRootError> {
    let der = STANDARD
        .decode(&l.public_key.raw_bytes)
        .map_err(|e| field_err(field, format!("publicKey.rawBytes is not base64: {e}")))?;
    let log_id = STANDARD
        .decode(&l.log_id.key_id)
        .map_err(|e| field_err(field, format!("logId.keyId is not base64: {e}")))?;
    Ok(Log {
        base_url: l.base_url.clone(),
        log_id,
        key: LogKey::from_spki_der(&der),
        spki: der,
        key_details: l.public_key.key_details.clone(),
        valid_for: valid_for(l.public_key.valid_for.as_ref(), field)?,
    })
}

fn parse_chain(c: &CaJson, field: &str) -> Result<(Vec<Certificate>, ValidFor), TrustRootError> {
    if c.cert_chain.certificates.is_empty() {
        return Err(field_err(field, "certChain has no certificates"));
    }
    let mut chain = Vec::new();
    for (k, cert) in c.cert_chain.certificates.iter().enumerate() {
        let der = STANDARD
            .decode(&cert.raw_bytes)
            .map_err(|e| field_err(field, format!("certificate {k} is not base64: {e}")))?;
        chain.push(
            Certificate::from_der(&der)
                .map_err(|e| field_err(field, format!("certificate {k} is not X.509 DER: {e}")))?,
        );
    }
    Ok((chain, valid_for(c.valid_for.as_ref(), field)?))
}

impl TrustedRoot {
    pub fn from_json(bytes: &[u8]) -> Result<TrustedRoot, TrustRootError> {
        if bytes.len() > MAX_TRUSTED_ROOT_BYTES {
            return Err(TrustRootError::TooLarge(bytes.len()));
        }
        let j: RootJson =
            serde_json::from_slice(bytes).map_err(|e| TrustRootError::Json(e.to_string()))?;
        if !TRUSTED_ROOT_MEDIA_TYPES.contains(&j.media_type.as_str()) {
            return Err(TrustRootError::MediaType(j.media_type));
        }
        let mut tlogs = Vec::new();
        for (i, l) in j.tlogs.iter().enumerate() {
            tlogs.push(parse_log(l, &format!("tlogs[{i}]"))?);
        }
        let mut ctlogs = Vec::new();
        for (i, l) in j.ctlogs.iter().enumerate() {
            ctlogs.push(parse_log(l, &format!("ctlogs[{i}]"))?);
        }
        let mut cas = Vec::new();
        for (i, c) in j.certificate_authorities.iter().enumerate() {
            let field = format!("certificateAuthorities[{i}]");
            let (chain, valid_for) = parse_chain(c, &field)?;
            cas.push(CertificateAuthority {
                uri: c.uri.clone(),
                chain,
                valid_for,
            });
        }
        let mut tsas = Vec::new();
        for (i, c) in j.timestamp_authorities.iter().enumerate() {
            let field = format!("timestampAuthorities[{i}]");
            let (chain, valid_for) = parse_chain(c, &field)?;
            tsas.push(TimestampAuthority {
                uri: c.uri.clone(),
                chain,
                valid_for,
            });
        }
        Ok(TrustedRoot {
            tlogs,
            certificate_authorities: cas,
            ctlogs,
            timestamp_authorities: tsas,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_roots_are_refused() {
        assert!(matches!(
            TrustedRoot::from_json(b"{\"mediaType\":\"x\"}"),
            Err(TrustRootError::MediaType(_))
        ));
        assert!(matches!(
            TrustedRoot::from_json(b"[]"),
            Err(TrustRootError::Json(_))
        ));
        let bad_cert =
            br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "certificateAuthorities":[{"certChain":{"certificates":[{"rawBytes":"AAAA"}]},
            "validFor":{"start":"2021-01-01T00:00:00Z"}}]}"#;
        assert!(matches!(
            TrustedRoot::from_json(bad_cert),
            Err(TrustRootError::Field { .. })
        ));
        let empty = br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#;
        let r = TrustedRoot::from_json(empty).unwrap();
        assert!(r.tlogs.is_empty() && r.certificate_authorities.is_empty());
    }

    #[test]
    fn valid_for_bounds() {
        let v = ValidFor {
            start: 10,
            end: Some(20),
        };
        assert!(!v.contains(9) && v.contains(10) && v.contains(20) && !v.contains(21));
        assert!(
            ValidFor {
                start: 10,
                end: None
            }
            .contains(i64::MAX)
        );
    }
}
