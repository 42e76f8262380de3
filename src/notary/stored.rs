//! Check the Notary signatures stored for an image (found by `attest::attach`, as OCI 1.1
//! referrers in a layout or a registry) against a loaded trust policy statement.

use super::Failure;
use super::payload::Expected;
use super::verify::{self, Context, TimestampVerifier, Trust, Verdict};
use crate::attest::attach::{self, Store};
use crate::image::Descriptor;
use serde::Serialize;

/// One Notary signature's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotaryCheck {
    /// `referrer sha256:…` (the signature manifest).
    pub source: String,
    pub result: Result<Verdict, Failure>,
}

impl NotaryCheck {
    pub fn is_verified(&self) -> bool {
        self.result.is_ok()
    }
}

impl Serialize for NotaryCheck {
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

/// Every Notary signature stored for `subject`, each verified (in the referrers' order).
pub fn check_subject(
    store: &Store,
    subject: &Descriptor,
    trust: &Trust,
    now: i64,
    timestamps: &dyn TimestampVerifier,
) -> Result<Vec<NotaryCheck>, attach::AttachError> {
    let mut out = Vec::new();
    let digest = subject.digest.to_string();
    for (rd, r) in store.notary_signatures(&subject.digest)? {
        let source = format!("referrer {rd}");
        let result = match r {
            Err(f) => Err(Failure::malformed("signature manifest", f)),
            Ok(n) if n.subject.digest != subject.digest => Err(Failure::DigestMismatch {
                expected: subject.digest.to_string(),
                found: n.subject.digest.to_string(),
            }),
            Ok(n) => verify::verify(
                &n.envelope.descriptor.media_type,
                &n.envelope.bytes,
                &Context {
                    trust,
                    expected: Expected {
                        digest: &digest,
                        media_type: &subject.media_type,
                        size: subject.size,
                    },
                    manifest_annotations: Some(&n.annotations),
                    now,
                    timestamps,
                },
            ),
        };
        out.push(NotaryCheck { source, result });
    }
    Ok(out)
}
