//! The one error type of the image layer: every variant names what is wrong (the blob,
//! the expected and the actual value) so the CLI can print it as is and exit 2.

use super::Digest;
use std::io;

/// Errors of references, the model and the transports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("malformed image reference {input:?}: {reason}")]
    Reference { input: String, reason: String },

    #[error("{0}")]
    Unsupported(String),

    #[error(
        "blob {blob}: digest mismatch: expected {expected}, got {actual}; the blob is corrupt or was replaced"
    )]
    DigestMismatch {
        blob: String,
        expected: Digest,
        actual: Digest,
    },

    #[error(
        "blob {blob}: size mismatch: expected {expected} bytes, got {actual}; the blob is truncated or was replaced"
    )]
    SizeMismatch {
        blob: String,
        expected: u64,
        /// What was read (for an overlong blob: the count when reading stopped).
        actual: String,
    },

    #[error("blob {digest} is missing from {location}")]
    BlobMissing { digest: Digest, location: String },

    #[error(
        "layer {layer} ({digest}): diff_id mismatch: the config says {expected}, the layer's uncompressed content is {actual}"
    )]
    DiffIdMismatch {
        layer: usize,
        digest: Digest,
        expected: Digest,
        actual: Digest,
    },

    #[error("{what}: {reason}")]
    Malformed { what: String, reason: String },

    #[error("{what}: invalid JSON: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("{what}: unknown media type {media_type:?}")]
    UnknownMediaType { what: String, media_type: String },

    #[error(
        "{location}: no image tagged {tag:?} (tags present: {})",
        list(available)
    )]
    TagNotFound {
        tag: String,
        location: String,
        available: Vec<String>,
    },

    #[error("{location} holds {count} images ({names}); name one as oci:DIR:TAG or oci:DIR@DIGEST")]
    AmbiguousImage {
        location: String,
        count: usize,
        names: String,
    },

    #[error("{location}: no manifest with digest {digest}")]
    DigestNotFound { digest: Digest, location: String },

    #[error("no platform matches {wanted} (available: {})", list(available))]
    NoMatchingPlatform {
        wanted: String,
        available: Vec<String>,
    },

    #[error(
        "{what} lists several platforms; choose one with --platform (available: {})",
        list(available)
    )]
    AmbiguousPlatform {
        what: String,
        available: Vec<String>,
    },

    #[error("layer {layer} ({digest}): {reason}")]
    Layer {
        layer: String,
        digest: Digest,
        reason: String,
    },

    /// The registry transport (docker://) failed; the error names the registry.
    #[error(transparent)]
    Registry(Box<super::registry::RegistryError>),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn malformed(what: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Malformed {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// Wrap this error in an `io::Error` (InvalidData) so it can travel through `Read`.
    pub fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }

    /// Recover a typed error that travelled through an `io::Error`; otherwise wrap the
    /// io error with `context`.
    pub fn from_io(e: io::Error, context: impl Into<String>) -> Error {
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            if let Some(Ok(typed)) = e.into_inner().map(|i| i.downcast::<Error>()) {
                return *typed;
            }
            // Unreachable in practice: checked `is::<Error>()` above.
            return Error::malformed("internal", "lost an error while unwrapping it");
        }
        Error::io(context, e)
    }

    /// True for "the bytes are not what they claim" errors (digest, size, diff_id).
    pub fn is_integrity(&self) -> bool {
        matches!(
            self,
            Error::DigestMismatch { .. }
                | Error::SizeMismatch { .. }
                | Error::DiffIdMismatch { .. }
        )
    }
}
