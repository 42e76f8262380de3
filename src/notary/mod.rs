//! Notary Project (notation) signatures, verified as the Notary Project specification
//! v1.1 says (`signature-specification.md`, `signature-envelope-cose.md`,
//! `signature-envelope-jws.md`, `trust-store-trust-policy.md`), offline.
//!
//! Why a module of its own (not under `attest/`): notation shares nothing with cosign
//! but the OCI referrer it is stored in: its own envelopes (COSE_Sign1, JWS), its own
//! payload, an X.509 PKI with a trust store and a trust policy instead of keys or a
//! Sigstore root. `attest::attach` only finds and moves the bytes; everything judged is
//! here.
//!
//! - [`envelope`]: the two envelope formats ([`envelope::parse`]) to one [`envelope::Envelope`]:
//!   COSE_Sign1 through `coset`, JWS JSON serialization through `serde_json`.
//! - [`payload`]: the signed `application/vnd.cncf.notary.payload.v1+json` descriptor.
//! - [`x509`]: key specs, signature algorithms and the certificate chain rules of the spec.
//! - [`trust_store`]: notation's trust store directory (`truststore/x509/{ca,signingAuthority,tsa}/NAME`).
//! - [`trust_policy`]: notation's `trustpolicy.json` (OCI trust policy document).
//! - [`verify`]: the verification steps in the spec's order, with the policy's
//!   enforcement per step, to a [`verify::Verdict`] or a [`Failure`].
//!
//! Pure code over bytes except [`trust_store::TrustStore::load`] and
//! [`trust_policy::PolicyDocument::load`], which read the user's files.

pub mod envelope;
pub mod payload;
pub mod stored;
pub mod trust_policy;
pub mod trust_store;
pub mod verify;
pub mod x509;

/// `artifactType` of a Notary signature manifest (an OCI 1.1 referrer of the image).
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";
/// Layer media type of a COSE_Sign1 envelope.
pub const MEDIA_TYPE_COSE: &str = "application/cose";
/// Layer media type of a JWS (JSON serialization) envelope.
pub const MEDIA_TYPE_JWS: &str = "application/jose+json";
/// The signed payload's content type.
pub const PAYLOAD_CONTENT_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";
/// Signature manifest annotation: JSON array of the SHA-256 (hex) of each chain certificate.
pub const THUMBPRINT_ANNOTATION: &str = "io.cncf.notary.x509chain.thumbprint#S256";

/// Largest envelope parsed (the same cap as every other signature blob).
pub const MAX_ENVELOPE_BYTES: usize = crate::attest::verify::MAX_PAYLOAD_BYTES;
/// Most certificates in an envelope's chain. Real chains are 2–4 long; notation sets no
/// limit, so a hostile envelope could make us check thousands of signatures.
pub const MAX_CHAIN_CERTS: usize = 16;

/// Why a Notary signature was not accepted. Each has a stable snake_case code
/// ([`Failure::code`], docs/json-schema.md).
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
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("the envelope marks {0:?} critical, which this verifier does not understand")]
    UnknownCriticalHeader(String),
    #[error("the signature does not verify with the signing certificate's key")]
    BadSignature,
    #[error("invalid certificate chain: {0}")]
    InvalidChain(String),
    #[error(
        "signature algorithm {found} does not match the signing certificate's key ({expected})"
    )]
    AlgorithmMismatch { expected: String, found: String },
    #[error(
        "signing scheme {0:?} is not accepted here (notary.x509.signingAuthority needs a signingAuthority trust store)"
    )]
    SigningScheme(String),
    #[error("the signed payload's content type {0:?} is not {PAYLOAD_CONTENT_TYPE:?}")]
    WrongPayloadType(String),
    #[error("signed digest {found} is not the image digest {expected}")]
    DigestMismatch { expected: String, found: String },
    #[error("signed {field} {found} is not the image's {expected}")]
    DescriptorMismatch {
        field: &'static str,
        expected: String,
        found: String,
    },
    #[error(
        "the certificate chain's thumbprint annotation {found:?} does not match the envelope's chain {expected:?}"
    )]
    ThumbprintMismatch {
        expected: Vec<String>,
        found: String,
    },
    #[error("no certificate of the chain is in the trust stores {stores:?}")]
    UntrustedSigner { stores: Vec<String> },
    #[error(
        "the signing certificate's subject {subject:?} matches none of the trusted identities {expected:?}"
    )]
    IdentityMismatch {
        subject: String,
        expected: Vec<String>,
    },
    #[error("the signature expired at {0}")]
    SignatureExpired(String),
    #[error("certificate {subject:?} is not valid at {at} (valid {not_before} to {not_after})")]
    CertificateExpired {
        subject: String,
        at: String,
        not_before: String,
        not_after: String,
    },
    #[error("the policy requires a timestamp countersignature and the envelope has none")]
    TimestampMissing,
    #[error("the timestamp countersignature cannot be checked: {0}")]
    TimestampUnsupported(String),
    #[error("the timestamp countersignature is invalid: {0}")]
    BadTimestamp(String),
    #[error("the timestamp authority is not trusted: {0}")]
    UntrustedTimestamp(String),
    #[error(
        "the timestamp {at} is outside certificate {subject:?}'s validity ({not_before} to {not_after})"
    )]
    TimestampOutsideValidity {
        subject: String,
        at: String,
        not_before: String,
        not_after: String,
    },
    #[error("trust policy: {0}")]
    Policy(String),
    #[error("trust store: {0}")]
    TrustStore(String),
    #[error("the trust policy {0:?} has signatureVerification level skip: nothing was verified")]
    Skipped(String),
}

impl Failure {
    /// Stable machine-readable code for JSON reports.
    pub fn code(&self) -> &'static str {
        match self {
            Failure::Oversized { .. } => "oversized",
            Failure::Malformed { .. } => "malformed_envelope",
            Failure::Unsupported(_) => "unsupported_algorithm",
            Failure::UnknownCriticalHeader(_) => "unknown_critical_header",
            Failure::BadSignature => "bad_signature",
            Failure::InvalidChain(_) => "invalid_certificate_chain",
            Failure::AlgorithmMismatch { .. } => "algorithm_mismatch",
            Failure::SigningScheme(_) => "signing_scheme_refused",
            Failure::WrongPayloadType(_) => "wrong_payload_type",
            Failure::DigestMismatch { .. } => "payload_digest_mismatch",
            Failure::DescriptorMismatch { .. } => "payload_descriptor_mismatch",
            Failure::ThumbprintMismatch { .. } => "thumbprint_mismatch",
            Failure::UntrustedSigner { .. } => "untrusted_signer",
            Failure::IdentityMismatch { .. } => "identity_mismatch",
            Failure::SignatureExpired(_) => "signature_expired",
            Failure::CertificateExpired { .. } => "certificate_expired",
            Failure::TimestampMissing => "timestamp_missing",
            Failure::TimestampUnsupported(_) => "timestamp_unsupported",
            Failure::BadTimestamp(_) => "bad_timestamp",
            Failure::UntrustedTimestamp(_) => "untrusted_timestamp",
            Failure::TimestampOutsideValidity { .. } => "timestamp_outside_validity",
            Failure::Policy(_) => "trust_policy",
            Failure::TrustStore(_) => "trust_store",
            Failure::Skipped(_) => "verification_skipped",
        }
    }

    pub(crate) fn malformed(what: &'static str, detail: impl std::fmt::Display) -> Failure {
        Failure::Malformed {
            what,
            detail: detail.to_string(),
        }
    }
}
