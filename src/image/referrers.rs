//! The OCI 1.1 referrers vocabulary, as bytes: the descriptor a referrers list carries
//! for a referrer manifest, the referrers index (the API's answer, and the tag-schema
//! index `sha256-<hex>` registries without the API use, which an OCI layout's
//! `index.json` mirrors), and filtering by artifactType.
//!
//! Pure: no I/O. The transports (`layout`, `registry`) move these bytes; what a referrer
//! holds (a Sigstore bundle, a Notary signature) is for `attest` to judge. Descriptors
//! are written in go-containerregistry's field order ([`Descriptor::gcr_order`]) so an
//! index we extend is the one cosign would write.

use super::Digest;
use super::error::{Error, Result};
use super::model::{self, Descriptor, media};
use serde::{Deserialize, Serialize};

/// `sha256-<hex>`: the OCI referrers tag schema (registries without the referrers API).
pub fn referrers_tag(subject: &Digest) -> String {
    format!("sha256-{}", subject.hex())
}

/// Where referrers were found (or put).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReferrersVia {
    /// The OCI 1.1 referrers API.
    Api,
    /// The `sha256-<hex>` tag schema.
    TagSchema,
    /// An OCI layout's `index.json` (entries carrying `artifactType`).
    Layout,
}

impl ReferrersVia {
    pub fn as_str(self) -> &'static str {
        match self {
            ReferrersVia::Api => "api",
            ReferrersVia::TagSchema => "tag-schema",
            ReferrersVia::Layout => "layout",
        }
    }
}

fn check_len(what: &str, bytes: &[u8]) -> Result<()> {
    if bytes.len() as u64 > model::MAX_DOCUMENT {
        return Err(Error::malformed(
            what,
            format!(
                "{} bytes is over the limit of {}",
                bytes.len(),
                model::MAX_DOCUMENT
            ),
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReferrerView {
    #[serde(default)]
    artifact_type: Option<String>,
    config: Descriptor,
    #[serde(default)]
    subject: Option<Descriptor>,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

/// The descriptor of a referrer manifest as a referrers list carries it: annotations
/// copied, artifactType from the manifest or (OCI 1.1 rule) its config media type. The
/// one place a layout's index.json and a registry's tag-schema index get it. The
/// manifest must name a subject.
pub fn describe_referrer(manifest: &[u8], media_type: &str) -> Result<Descriptor> {
    const WHAT: &str = "referrer manifest";
    check_len(WHAT, manifest)?;
    let m: ReferrerView = serde_json::from_slice(manifest).map_err(|source| Error::Json {
        what: WHAT.into(),
        source,
    })?;
    if m.subject.is_none() {
        return Err(Error::malformed(WHAT, "no subject"));
    }
    let mut d = Descriptor::of_bytes(media_type, manifest);
    d.artifact_type = Some(m.artifact_type.unwrap_or(m.config.media_type));
    d.annotations = m.annotations;
    Ok(d)
}

/// The `subject` a manifest names, if it parses and has one.
pub fn subject_of(manifest: &[u8]) -> Option<Descriptor> {
    if manifest.len() as u64 > model::MAX_DOCUMENT {
        return None;
    }
    #[derive(Deserialize)]
    struct Subject {
        #[serde(default)]
        subject: Option<Descriptor>,
    }
    serde_json::from_slice::<Subject>(manifest).ok()?.subject
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexView {
    schema_version: u32,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexOut<'a> {
    schema_version: u32,
    media_type: &'a str,
    manifests: Vec<model::GcrOrder<'a>>,
}

/// The referrer descriptors of a referrers index (tag schema or the referrers API).
pub fn parse_referrers_index(bytes: &[u8]) -> Result<Vec<Descriptor>> {
    const WHAT: &str = "referrers index";
    check_len(WHAT, bytes)?;
    let idx: IndexView = serde_json::from_slice(bytes).map_err(|source| Error::Json {
        what: WHAT.into(),
        source,
    })?;
    if idx.schema_version != 2 {
        return Err(Error::malformed(WHAT, "schemaVersion is not 2"));
    }
    Ok(idx.manifests)
}

/// The referrers index `existing` (if any) with `referrer` added when no entry has its
/// digest yet: (descriptor, bytes) of the index to store.
pub fn referrers_index(
    existing: Option<&[u8]>,
    referrer: &Descriptor,
) -> Result<(Descriptor, Vec<u8>)> {
    let mut manifests = match existing {
        Some(b) => parse_referrers_index(b)?,
        None => Vec::new(),
    };
    if !manifests.iter().any(|d| d.digest == referrer.digest) {
        manifests.push(referrer.clone());
    }
    let bytes = serde_json::to_vec(&IndexOut {
        schema_version: 2,
        media_type: media::OCI_INDEX,
        manifests: manifests.iter().map(Descriptor::gcr_order).collect(),
    })
    .map_err(|source| Error::Json {
        what: "referrers index".into(),
        source,
    })?;
    Ok((Descriptor::of_bytes(media::OCI_INDEX, &bytes), bytes))
}

/// Keep the referrers of `artifact_type` (all with `None`).
pub fn with_artifact_type(list: &mut Vec<Descriptor>, artifact_type: Option<&str>) {
    if let Some(t) = artifact_type {
        list.retain(|d| d.artifact_type.as_deref() == Some(t));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_indexes_and_filters() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"annotations":{"a":"b"}}"#;
        let d = describe_referrer(m, media::OCI_MANIFEST).unwrap();
        assert_eq!(d.digest, Digest::of(m));
        assert_eq!(d.size, m.len() as u64);
        assert_eq!(d.artifact_type.as_deref(), Some(media::SIGSTORE_BUNDLE_V03));
        assert_eq!(d.annotations.get("a").map(String::as_str), Some("b"));
        let (idesc, idx) = referrers_index(None, &d).unwrap();
        assert_eq!(idesc.digest, Digest::of(&idx));
        // go-containerregistry's order: mediaType, size, digest, annotations, artifactType.
        let text = String::from_utf8(idx.clone()).unwrap();
        let pos = |k: &str| text.find(k).unwrap();
        assert!(
            pos("\"size\"") < pos("\"digest\"") && pos("\"annotations\"") < pos("\"artifactType\"")
        );
        let (_, again) = referrers_index(Some(&idx), &d).unwrap();
        assert_eq!(idx, again, "no duplicate entry");
        let mut back = parse_referrers_index(&again).unwrap();
        assert_eq!(back, vec![d]);
        with_artifact_type(&mut back, Some(media::NOTARY_SIGNATURE));
        assert!(back.is_empty());
        // No subject: not a referrer.
        let no_subject = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}}"#;
        assert!(describe_referrer(no_subject, media::OCI_MANIFEST).is_err());
        assert!(parse_referrers_index(br#"{"schemaVersion":1,"manifests":[]}"#).is_err());
        assert_eq!(
            referrers_tag(&Digest::of(b"")),
            "sha256-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
