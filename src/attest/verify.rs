//! The verdict vocabulary: why a signature, envelope or bundle was or was not accepted.
//!
//! Owns [`Failure`] (one typed reason per way a check can fail, each with a stable
//! snake_case code for JSON reports) and [`Check`], the per-signature result the CLI
//! renders. The checks themselves live next to their formats (`dsse`, `simplesigning`,
//! `bundle`); this module only names the outcomes and holds the shared limits.

use crate::image::Digest;
use serde::Serialize;

/// Largest payload, envelope or bundle we parse (16 MiB). Real signatures and
/// attestations are kilobytes; the cap keeps a hostile registry from making us
/// allocate without bound.
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024 * 1024;

/// Why a signature, envelope or bundle was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("{what} is {size} bytes, over the {limit}-byte limit")]
    Oversized {
        what: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("no signatures to check")]
    NoSignatures,
    #[error("signature encoding is invalid: {0}")]
    SignatureEncoding(String),
    #[error("signature does not verify with any of the {keys} key(s) given")]
    BadSignature { keys: usize },
    #[error("no keys were given to verify with")]
    NoKeys,
    #[error("payload type {found:?} is not {expected:?}")]
    WrongPayloadType { expected: String, found: String },
    #[error("media type {found:?} is not a cosign signature ({expected:?})")]
    NotASignature { expected: String, found: String },
    #[error("signed payload type {found:?} is not \"cosign container image signature\"")]
    WrongSignatureType { found: String },
    #[error("signed digest {found} is not the image digest {expected}")]
    DigestMismatch { expected: Digest, found: String },
    #[error("signed docker-reference {found:?} is not the expected {expected:?}")]
    IdentityMismatch { expected: String, found: String },
    #[error("statement _type {found:?} is not an in-toto Statement (v1 or v0.1)")]
    WrongStatementType { found: String },
    #[error("statement subjects {found:?} do not include {expected}")]
    SubjectMismatch {
        expected: Digest,
        found: Vec<String>,
    },
    #[error("predicate type {found:?} is not the requested {expected:?}")]
    PredicateTypeMismatch { expected: String, found: String },
    #[error("bundle key hint {found:?} names none of the given keys (hints {expected:?})")]
    WrongHint {
        expected: Vec<String>,
        found: String,
    },
    #[error("bundle media type {found:?} is not a supported Sigstore bundle (v0.1-v0.3)")]
    UnsupportedBundle { found: String },
    #[error("signed message digest {found} is not the expected {expected}")]
    MessageDigestMismatch { expected: Digest, found: String },
    #[error(
        "keyless signature: it matches its certificate, but no trusted root was \
         given to check the certificate chain, identity and transparency log against \
         (pass --trusted-root with --certificate-identity and --certificate-oidc-issuer)"
    )]
    KeylessNotTrusted,
    #[error("certificate is not issued by a certificate authority of the trusted root: {0}")]
    UntrustedCertificate(String),
    #[error(
        "certificate was not valid at a verified time (the log's integratedTime or a \
         timestamp's genTime {integrated_time}, certificate valid {not_before}..{not_after})"
    )]
    CertificateExpiredAtIntegration {
        integrated_time: i64,
        not_before: i64,
        not_after: i64,
    },
    #[error("certificate identities {found:?} include none of the expected {expected:?}")]
    CertificateIdentityMismatch {
        expected: Vec<String>,
        found: Vec<String>,
    },
    #[error("certificate OIDC issuer {found:?} is not the expected {expected:?}")]
    CertificateIssuerMismatch {
        expected: Vec<String>,
        found: String,
    },
    #[error("transparency log entry rejected: {0}")]
    BadTlogEntry(String),
    #[error("transparency log signed entry timestamp (SET) rejected: {0}")]
    BadSet(String),
    #[error("transparency log inclusion proof rejected: {0}")]
    BadInclusionProof(String),
    #[error("transparency log checkpoint rejected: {0}")]
    BadCheckpoint(String),
    #[error("the transparency log entry does not describe this signature: {0}")]
    TlogBodyMismatch(String),
    #[error("no verified time for the signature: {0}")]
    MissingTimestamp(String),
    #[error("{0}")]
    Timestamp(super::timestamp::TimestampError),
    #[error(
        "the timestamp's genTime {gen_time} is outside the period the trusted root gives \
         the timestamp authority {authority}"
    )]
    TimestampOutsideTsaValidity { gen_time: i64, authority: String },
    #[error("certificate transparency: {0}")]
    BadSct(String),
    #[error("the bundle carries evidence pause-verify cannot check: {0}")]
    UnsupportedEvidence(String),
    #[error("duplicate layer {digest} in the signature manifest")]
    DuplicateLayer { digest: String },
}

impl Failure {
    /// Stable machine-readable code for JSON reports (docs/json-schema.md).
    pub fn code(&self) -> &'static str {
        match self {
            Failure::Oversized { .. } => "oversized",
            Failure::Malformed { .. } => "malformed",
            Failure::NoSignatures => "no_signatures",
            Failure::SignatureEncoding(_) => "signature_encoding",
            Failure::BadSignature { .. } => "bad_signature",
            Failure::NoKeys => "no_keys",
            Failure::WrongPayloadType { .. } => "wrong_payload_type",
            Failure::NotASignature { .. } => "not_a_signature",
            Failure::WrongSignatureType { .. } => "wrong_signature_type",
            Failure::DigestMismatch { .. } => "digest_mismatch",
            Failure::IdentityMismatch { .. } => "identity_mismatch",
            Failure::WrongStatementType { .. } => "wrong_statement_type",
            Failure::SubjectMismatch { .. } => "subject_mismatch",
            Failure::PredicateTypeMismatch { .. } => "predicate_type_mismatch",
            Failure::WrongHint { .. } => "wrong_hint",
            Failure::UnsupportedBundle { .. } => "unsupported_bundle",
            Failure::MessageDigestMismatch { .. } => "message_digest_mismatch",
            Failure::KeylessNotTrusted => "keyless_not_trusted",
            Failure::UntrustedCertificate(_) => "untrusted_certificate",
            Failure::CertificateExpiredAtIntegration { .. } => "certificate_expired_at_integration",
            Failure::CertificateIdentityMismatch { .. } => "certificate_identity_mismatch",
            Failure::CertificateIssuerMismatch { .. } => "certificate_issuer_mismatch",
            Failure::BadTlogEntry(_) => "bad_tlog_entry",
            Failure::BadSet(_) => "bad_set",
            Failure::BadInclusionProof(_) => "bad_inclusion_proof",
            Failure::BadCheckpoint(_) => "bad_checkpoint",
            Failure::TlogBodyMismatch(_) => "tlog_body_mismatch",
            Failure::MissingTimestamp(_) => "missing_timestamp",
            Failure::Timestamp(e) => e.code(),
            Failure::TimestampOutsideTsaValidity { .. } => "timestamp_outside_tsa_validity",
            Failure::BadSct(_) => "bad_sct",
            Failure::UnsupportedEvidence(_) => "unsupported_evidence",
            Failure::DuplicateLayer { .. } => "duplicate_layer",
        }
    }

    pub(crate) fn malformed(what: &'static str, detail: impl std::fmt::Display) -> Failure {
        Failure::Malformed {
            what,
            detail: detail.to_string(),
        }
    }
}

/// Refuse inputs over [`MAX_PAYLOAD_BYTES`].
pub(crate) fn check_size(what: &'static str, bytes: &[u8]) -> Result<(), Failure> {
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(Failure::Oversized {
            what,
            size: bytes.len(),
            limit: MAX_PAYLOAD_BYTES,
        });
    }
    Ok(())
}

/// What a successful check established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    /// Index (into the keys given) of the key that verified; for a keyless bundle, the
    /// index of the expected identity that matched.
    pub key_index: usize,
    /// `simple-signing`, `dsse` or `bundle`.
    pub format: &'static str,
    /// The in-toto predicate type, for attestations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate_type: Option<String>,
    /// The signed docker-reference, for simple-signing payloads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_reference: Option<String>,
    /// For a keyless bundle: who signed, as the certificate and the log say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyless: Option<super::keyless::KeylessSigner>,
    /// With a trusted root: the log entries and timestamps verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transparency: Option<super::keyless::Transparency>,
    /// The decoded in-toto statement payload, for attestations (not serialized).
    #[serde(skip)]
    pub statement: Option<serde_json::Value>,
}

/// One signature's outcome, as reports list them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Where the signature came from (e.g. `.sig layer 0`, `attestations/<hex>.intoto.jsonl:3`).
    pub source: String,
    pub result: Result<Verified, Failure>,
}

impl Check {
    pub fn is_verified(&self) -> bool {
        self.result.is_ok()
    }
}

impl Serialize for Check {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("source", &self.source)?;
        match &self.result {
            Ok(v) => {
                m.serialize_entry("verified", &true)?;
                m.serialize_entry("reason", "verified")?;
                m.serialize_entry("detail", v)?;
            }
            Err(f) => {
                m.serialize_entry("verified", &false)?;
                m.serialize_entry("reason", f.code())?;
                m.serialize_entry("message", &f.to_string())?;
            }
        }
        m.end()
    }
}
