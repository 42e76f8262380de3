//! The signed payload (`application/vnd.cncf.notary.payload.v1+json`):
//! `{"targetArtifact": DESCRIPTOR}`, the OCI descriptor of the signed manifest. The
//! digest, media type and size must all equal the image's; annotations are carried
//! through for the report.

use super::Failure;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The `targetArtifact` descriptor, as signed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetArtifact {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    target_artifact: TargetArtifact,
}

/// Parse the payload JSON.
pub fn parse(bytes: &[u8]) -> Result<TargetArtifact, Failure> {
    serde_json::from_slice::<Payload>(bytes)
        .map(|p| p.target_artifact)
        .map_err(|e| Failure::malformed("signed payload", e))
}

/// The image a signature must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected<'a> {
    pub digest: &'a str,
    pub media_type: &'a str,
    pub size: u64,
}

/// Check the signed descriptor against the image's: digest first, then media type and size.
pub fn check(t: &TargetArtifact, e: &Expected<'_>) -> Result<(), Failure> {
    if t.digest != e.digest {
        return Err(Failure::DigestMismatch {
            expected: e.digest.to_string(),
            found: t.digest.clone(),
        });
    }
    if t.media_type != e.media_type {
        return Err(Failure::DescriptorMismatch {
            field: "media type",
            expected: e.media_type.to_string(),
            found: t.media_type.clone(),
        });
    }
    if t.size != e.size {
        return Err(Failure::DescriptorMismatch {
            field: "size",
            expected: e.size.to_string(),
            found: t.size.to_string(),
        });
    }
    Ok(())
}
