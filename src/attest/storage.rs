//! Where signatures and attestations live, as bytes: cosign's `.sig` / `.att` OCI
//! manifests, the OCI 1.1 referrer manifest for a Sigstore bundle (and the referrers
//! tag-schema index), and the `attestations/` directory for air-gapped use.
//!
//! Owns manifest/config/blob bytes and descriptors, tag names, parsing them back, and
//! the append-without-duplicates rule. Does not push or fetch: a transport moves the
//! [`Blob`]s this module produces. Conventions are documented in docs/signing.md.
//!
//! Manifest bytes follow go-containerregistry's field order (what cosign writes), so a
//! `.sig` manifest we build for the same layers is byte-identical to cosign's, modulo
//! signature values.

use super::verify::{Failure, check_size};
use crate::image::Digest;
use crate::image::model::{GcrOrder, media};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

// The OCI vocabulary is `image`'s (model::media, image::referrers); these names stay
// for the callers that knew them here.
pub use crate::image::Descriptor;
pub use crate::image::referrers::referrers_tag;
pub const OCI_MANIFEST_MEDIA_TYPE: &str = media::OCI_MANIFEST;
pub const OCI_INDEX_MEDIA_TYPE: &str = media::OCI_INDEX;
pub const OCI_CONFIG_MEDIA_TYPE: &str = media::OCI_CONFIG;
pub const OCI_EMPTY_MEDIA_TYPE: &str = media::OCI_EMPTY;
pub const DSSE_LAYER_MEDIA_TYPE: &str = media::DSSE_ENVELOPE;
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";
pub const BUNDLE_CONTENT_ANNOTATION: &str = "dev.sigstore.bundle.content";
pub const BUNDLE_PREDICATE_TYPE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
/// cosign refuses signature manifests with more layers than this; so do we.
pub const MAX_LAYERS: usize = 1000;

/// One signature or attestation as a layer: media type, blob, descriptor annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedLayer {
    pub media_type: String,
    pub payload: Vec<u8>,
    pub annotations: BTreeMap<String, String>,
}

/// Bytes to push and their descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub descriptor: Descriptor,
    pub bytes: Vec<u8>,
}

impl Blob {
    fn new(media_type: &str, bytes: Vec<u8>) -> Blob {
        Blob {
            descriptor: Descriptor::of_bytes(media_type, &bytes),
            bytes,
        }
    }
}

/// A manifest ready to push: push `blobs` (config and new layers; layers already in the
/// repository are not repeated), then `manifest` under `tag` (or by digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestToPush {
    pub manifest: Blob,
    pub blobs: Vec<Blob>,
    /// Every layer the manifest lists, old and new.
    pub layers: Vec<Descriptor>,
    /// How many layers this call added (0: nothing new; no need to push).
    pub added: usize,
    pub tag: Option<String>,
}

/// `sha256-<hex>.sig`: the tag holding cosign signatures for `image`.
pub fn sig_tag(image: &Digest) -> String {
    format!("sha256-{}.sig", image.hex())
}

/// `sha256-<hex>.att`: the tag holding cosign attestations for `image`.
pub fn att_tag(image: &Digest) -> String {
    format!("sha256-{}.att", image.hex())
}

/// A signature / attestation / referrer manifest as read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestJson {
    schema_version: u32,
    #[serde(default)]
    artifact_type: Option<String>,
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    subject: Option<Descriptor>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The same manifest as written: descriptors in go-containerregistry's field order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestOut<'a> {
    schema_version: u32,
    media_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<&'a str>,
    config: GcrOrder<'a>,
    layers: Vec<GcrOrder<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<GcrOrder<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

/// go-containerregistry's `v1.ConfigFile` for cosign's empty image plus N layers: zero
/// times, one empty history entry per layer, diff_ids = the (uncompressed) layer digests.
fn cosign_config(layers: &[Descriptor]) -> Vec<u8> {
    let history: Vec<&str> = layers
        .iter()
        .map(|_| r#"{"created":"0001-01-01T00:00:00Z"}"#)
        .collect();
    let diff_ids: Vec<String> = layers.iter().map(|l| format!("\"{}\"", l.digest)).collect();
    format!(
        r#"{{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{}],"os":"","rootfs":{{"type":"layers","diff_ids":[{}]}},"config":{{}}}}"#,
        history.join(","),
        diff_ids.join(",")
    )
    .into_bytes()
}

/// A parsed cosign `.sig`/`.att` manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignManifest {
    pub layers: Vec<Descriptor>,
}

/// Parse a `.sig` or `.att` manifest. Duplicate layers (same digest and annotations)
/// and more than [`MAX_LAYERS`] are refused.
pub fn parse_cosign_manifest(bytes: &[u8]) -> Result<CosignManifest, Failure> {
    check_size("signature manifest", bytes)?;
    let m: ManifestJson =
        serde_json::from_slice(bytes).map_err(|e| Failure::malformed("signature manifest", e))?;
    if m.schema_version != 2 {
        return Err(Failure::malformed(
            "signature manifest",
            format!("schemaVersion {} is not 2", m.schema_version),
        ));
    }
    if m.layers.len() > MAX_LAYERS {
        return Err(Failure::malformed(
            "signature manifest",
            format!(
                "{} layers, over cosign's limit of {MAX_LAYERS}",
                m.layers.len()
            ),
        ));
    }
    for (i, l) in m.layers.iter().enumerate() {
        if m.layers
            .iter()
            .take(i)
            .any(|p| p.digest == l.digest && p.annotations == l.annotations)
        {
            return Err(Failure::DuplicateLayer {
                digest: l.digest.to_string(),
            });
        }
    }
    Ok(CosignManifest { layers: m.layers })
}

/// Turn a fetched layer blob back into an [`AttachedLayer`], checking it is the blob the
/// descriptor names.
pub fn layer_from_blob(descriptor: &Descriptor, blob: &[u8]) -> Result<AttachedLayer, Failure> {
    check_size("signature layer", blob)?;
    let d = Digest::of(blob);
    if d != descriptor.digest || blob.len() as u64 != descriptor.size {
        return Err(Failure::malformed(
            "signature layer",
            format!(
                "blob is {d} ({} bytes), descriptor says {} ({} bytes)",
                blob.len(),
                descriptor.digest,
                descriptor.size
            ),
        ));
    }
    Ok(AttachedLayer {
        media_type: descriptor.media_type.clone(),
        payload: blob.to_vec(),
        annotations: descriptor.annotations.clone(),
    })
}

/// Build the `.sig` (or `.att`) manifest for `image`: the `existing` manifest's layers
/// (if any), then each new layer that is not already there (same blob digest and same
/// annotations). `tag` is [`sig_tag`] or [`att_tag`].
pub fn cosign_manifest(
    existing: Option<&[u8]>,
    new_layers: &[AttachedLayer],
    tag: String,
) -> Result<ManifestToPush, Failure> {
    let mut layers = match existing {
        Some(b) => parse_cosign_manifest(b)?.layers,
        None => Vec::new(),
    };
    let mut blobs = Vec::new();
    let mut added = 0;
    for l in new_layers {
        let mut desc = Descriptor::of_bytes(&l.media_type, &l.payload);
        desc.annotations = l.annotations.clone();
        if layers
            .iter()
            .any(|p| p.digest == desc.digest && p.annotations == desc.annotations)
        {
            continue;
        }
        if !blobs
            .iter()
            .any(|b: &Blob| b.descriptor.digest == desc.digest)
        {
            blobs.push(Blob {
                descriptor: desc.clone(),
                bytes: l.payload.clone(),
            });
        }
        layers.push(desc);
        added += 1;
    }
    if layers.len() > MAX_LAYERS {
        return Err(Failure::malformed(
            "signature manifest",
            format!(
                "{} layers, over cosign's limit of {MAX_LAYERS}",
                layers.len()
            ),
        ));
    }
    let config = Blob::new(OCI_CONFIG_MEDIA_TYPE, cosign_config(&layers));
    let manifest = ManifestOut {
        schema_version: 2,
        media_type: OCI_MANIFEST_MEDIA_TYPE,
        artifact_type: None,
        config: config.descriptor.gcr_order(),
        layers: layers.iter().map(Descriptor::gcr_order).collect(),
        subject: None,
        annotations: BTreeMap::new(),
    };
    let bytes = serde_json::to_vec(&manifest).map_err(|e| Failure::malformed("manifest", e))?;
    blobs.insert(0, config);
    Ok(ManifestToPush {
        manifest: Blob::new(OCI_MANIFEST_MEDIA_TYPE, bytes),
        blobs,
        layers,
        added,
        tag: Some(tag),
    })
}

/// An attestation `.att` layer: the DSSE envelope JSON as the blob, annotated with its
/// predicate type and an empty signature annotation (as cosign writes it).
pub fn attestation_layer(envelope_json: &[u8], predicate_type: &str) -> AttachedLayer {
    AttachedLayer {
        media_type: DSSE_LAYER_MEDIA_TYPE.to_string(),
        payload: envelope_json.to_vec(),
        annotations: BTreeMap::from([
            (
                super::simplesigning::SIGNATURE_ANNOTATION.to_string(),
                String::new(),
            ),
            (
                PREDICATE_TYPE_ANNOTATION.to_string(),
                predicate_type.to_string(),
            ),
        ]),
    }
}

/// The OCI 1.1 referrer manifest for a Sigstore bundle about `subject` (the image's
/// manifest descriptor). Pushed by digest; `created` (RFC 3339) is optional so the
/// output can stay reproducible.
pub fn referrer_manifest(
    bundle: &[u8],
    subject: &Descriptor,
    created: Option<&str>,
) -> ManifestToPush {
    let media_type = super::bundle::BUNDLE_V03_MEDIA_TYPE;
    let layer = Blob::new(media_type, bundle.to_vec());
    let config = Blob::new(OCI_EMPTY_MEDIA_TYPE, b"{}".to_vec());
    let mut annotations = BTreeMap::new();
    match super::bundle::peek_predicate_type(bundle) {
        Some(p) => {
            annotations.insert(BUNDLE_CONTENT_ANNOTATION.into(), "dsse-envelope".into());
            annotations.insert(BUNDLE_PREDICATE_TYPE_ANNOTATION.into(), p);
        }
        None => {
            annotations.insert(BUNDLE_CONTENT_ANNOTATION.into(), "message-signature".into());
        }
    }
    if let Some(c) = created {
        annotations.insert(media::ANNOTATION_CREATED.into(), c.to_string());
    }
    // The subject as the referrer names it: media type, size, digest only.
    let subject = Descriptor::new(
        subject.media_type.clone(),
        subject.digest.clone(),
        subject.size,
    );
    let manifest = ManifestOut {
        schema_version: 2,
        media_type: OCI_MANIFEST_MEDIA_TYPE,
        artifact_type: Some(media_type),
        config: config.descriptor.gcr_order(),
        layers: vec![layer.descriptor.gcr_order()],
        subject: Some(subject.gcr_order()),
        annotations,
    };
    let bytes = serde_json::to_vec(&manifest).unwrap_or_default();
    ManifestToPush {
        manifest: Blob::new(OCI_MANIFEST_MEDIA_TYPE, bytes),
        layers: vec![layer.descriptor.clone()],
        blobs: vec![config, layer],
        added: 1,
        tag: None,
    }
}

/// A parsed referrer manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    pub artifact_type: Option<String>,
    pub subject: Descriptor,
    pub layers: Vec<Descriptor>,
    pub annotations: BTreeMap<String, String>,
}

impl Referrer {
    /// True for a Sigstore bundle referrer (artifactType, or config media type as older
    /// registries report it).
    pub fn is_sigstore_bundle(&self) -> bool {
        self.artifact_type.as_deref() == Some(super::bundle::BUNDLE_V03_MEDIA_TYPE)
    }
}

pub fn parse_referrer_manifest(bytes: &[u8]) -> Result<Referrer, Failure> {
    check_size("referrer manifest", bytes)?;
    let m: ManifestJson =
        serde_json::from_slice(bytes).map_err(|e| Failure::malformed("referrer manifest", e))?;
    let subject = m
        .subject
        .ok_or_else(|| Failure::malformed("referrer manifest", "no subject"))?;
    Ok(Referrer {
        artifact_type: m.artifact_type.or_else(|| {
            (m.config.media_type != OCI_EMPTY_MEDIA_TYPE).then_some(m.config.media_type)
        }),
        subject,
        layers: m.layers,
        annotations: m.annotations,
    })
}

/// The config descriptor of a referrer manifest (copying a referrer carries its config).
pub fn config_descriptor(bytes: &[u8]) -> Result<Descriptor, Failure> {
    check_size("referrer manifest", bytes)?;
    let m: ManifestJson =
        serde_json::from_slice(bytes).map_err(|e| Failure::malformed("referrer manifest", e))?;
    Ok(m.config)
}

/// The descriptor of a referrer manifest as a referrers list carries it
/// ([`crate::image::referrers::describe_referrer`], as a [`Failure`]).
pub fn describe_referrer(manifest: &[u8], media_type: &str) -> Result<Descriptor, Failure> {
    check_size("referrer manifest", manifest)?;
    crate::image::referrers::describe_referrer(manifest, media_type)
        .map_err(|e| Failure::malformed("referrer manifest", e))
}

/// [`describe_referrer`] for a manifest we built; it must name its subject.
pub fn referrer_descriptor(pushed: &ManifestToPush) -> Result<Descriptor, Failure> {
    parse_referrer_manifest(&pushed.manifest.bytes)?;
    describe_referrer(
        &pushed.manifest.bytes,
        &pushed.manifest.descriptor.media_type,
    )
}

/// The referrers tag-schema index with `referrer` added, if it is not listed already
/// ([`crate::image::referrers::referrers_index`]).
pub fn referrers_index(existing: Option<&[u8]>, referrer: &Descriptor) -> Result<Blob, Failure> {
    if let Some(b) = existing {
        check_size("referrers index", b)?;
    }
    let (descriptor, bytes) = crate::image::referrers::referrers_index(existing, referrer)
        .map_err(|e| Failure::malformed("referrers index", e))?;
    Ok(Blob { descriptor, bytes })
}

/// The referrer descriptors of a referrers index (tag schema or the referrers API).
pub fn parse_referrers_index(bytes: &[u8]) -> Result<Vec<Descriptor>, Failure> {
    check_size("referrers index", bytes)?;
    crate::image::referrers::parse_referrers_index(bytes)
        .map_err(|e| Failure::malformed("referrers index", e))
}

#[derive(Debug, thiserror::Error)]
pub enum DirError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("an envelope for an .intoto.jsonl line must be one line of JSON")]
    MultiLineEnvelope,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> DirError + '_ {
    move |source| DirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The `attestations/` directory: `<subject-hex>.intoto.jsonl` (DSSE envelopes, one per
/// line) and `<subject-hex>.sigstore.json` (a bundle; further bundles for the same
/// subject go to `<subject-hex>.<n>.sigstore.json`, n = 2, 3, ...). Every write is
/// atomic (whole-file rewrite through `crate::atomic`) and made under the directory's
/// lock (`crate::atomic::lock_dir`), so concurrent writers all keep their data.
#[derive(Debug, Clone)]
pub struct AttestationsDir {
    pub root: PathBuf,
}

impl AttestationsDir {
    pub fn new(root: impl Into<PathBuf>) -> AttestationsDir {
        AttestationsDir { root: root.into() }
    }

    pub fn envelopes_path(&self, subject: &Digest) -> PathBuf {
        self.root.join(format!("{}.intoto.jsonl", subject.hex()))
    }

    fn bundle_path(&self, subject: &Digest, n: usize) -> PathBuf {
        if n <= 1 {
            self.root.join(format!("{}.sigstore.json", subject.hex()))
        } else {
            self.root
                .join(format!("{}.{n}.sigstore.json", subject.hex()))
        }
    }

    fn ensure_root(&self) -> Result<(), DirError> {
        std::fs::create_dir_all(&self.root).map_err(io_err(&self.root))
    }

    /// Writers take turns (another `attest` into the same directory must not lose our
    /// line, nor we its); a killed writer's temporaries are removed meanwhile.
    fn lock(&self) -> Result<crate::atomic::DirLock, DirError> {
        let lock = crate::atomic::lock_dir(&self.root).map_err(io_err(&self.root))?;
        crate::atomic::sweep_stale(&self.root, ".pause-verify-", ".tmp");
        Ok(lock)
    }

    /// Append an envelope line unless the same line is there. Returns whether it was added.
    pub fn add_envelope(&self, subject: &Digest, envelope_json: &[u8]) -> Result<bool, DirError> {
        if envelope_json.contains(&b'\n') || envelope_json.contains(&b'\r') {
            return Err(DirError::MultiLineEnvelope);
        }
        self.ensure_root()?;
        let _lock = self.lock()?;
        let path = self.envelopes_path(subject);
        let mut content = match crate::limits::read_capped(&path, &crate::limits::ENVELOPES) {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err(&path)(e)),
        };
        if content.split(|&b| b == b'\n').any(|l| l == envelope_json) {
            return Ok(false);
        }
        if !content.is_empty() && !content.ends_with(b"\n") {
            content.push(b'\n');
        }
        content.extend_from_slice(envelope_json);
        content.push(b'\n');
        crate::atomic::write(&path, &content).map_err(io_err(&path))?;
        Ok(true)
    }

    /// The envelopes for `subject`, with 1-based line numbers (blank lines skipped).
    pub fn envelopes(&self, subject: &Digest) -> Result<Vec<(usize, Vec<u8>)>, DirError> {
        let path = self.envelopes_path(subject);
        let content = match crate::limits::read_capped(&path, &crate::limits::ENVELOPES) {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&path)(e)),
        };
        Ok(content
            .split(|&b| b == b'\n')
            .enumerate()
            .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
            .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l).to_vec()))
            .collect())
    }

    /// Store a bundle; returns its path (an identical bundle already stored is reused).
    pub fn add_bundle(&self, subject: &Digest, bundle: &[u8]) -> Result<PathBuf, DirError> {
        self.ensure_root()?;
        let _lock = self.lock()?;
        for n in 1.. {
            let path = self.bundle_path(subject, n);
            match crate::limits::read_capped(&path, &crate::limits::ENVELOPES) {
                Ok(existing) if existing == bundle => return Ok(path),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    crate::atomic::write(&path, bundle).map_err(io_err(&path))?;
                    return Ok(path);
                }
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
        unreachable!("the loop returns")
    }

    /// Every bundle stored for `subject`, in order.
    pub fn bundles(&self, subject: &Digest) -> Result<Vec<(PathBuf, Vec<u8>)>, DirError> {
        let mut out = Vec::new();
        for n in 1.. {
            let path = self.bundle_path(subject, n);
            match crate::limits::read_capped(&path, &crate::limits::ENVELOPES) {
                Ok(b) => out.push((path, b)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
        Ok(out)
    }
}

/// Verify everything stored for `subject` in an attestations directory: each envelope
/// line and each bundle gets its own [`Check`](super::Check), named by file (and line).
pub fn verify_attestations_dir(
    dir: &AttestationsDir,
    keys: &[super::PublicKey],
    subject: &Digest,
    predicate_type: Option<&str>,
) -> Result<Vec<super::Check>, DirError> {
    let mut checks = Vec::new();
    let env_path = dir.envelopes_path(subject);
    for (line, env) in dir.envelopes(subject)? {
        checks.push(super::Check {
            source: format!("{}:{line}", env_path.display()),
            result: super::dsse::verify_attestation(keys, &env, subject, predicate_type),
        });
    }
    for (path, b) in dir.bundles(subject)? {
        checks.push(super::Check {
            source: path.display().to_string(),
            result: super::bundle::verify_bundle(keys, &b, subject, predicate_type),
        });
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(p: &[u8], sig: &str) -> AttachedLayer {
        AttachedLayer {
            media_type: super::super::simplesigning::SIMPLE_SIGNING_MEDIA_TYPE.into(),
            payload: p.to_vec(),
            annotations: BTreeMap::from([(
                super::super::simplesigning::SIGNATURE_ANNOTATION.into(),
                sig.into(),
            )]),
        }
    }

    #[test]
    fn tags() {
        let d = Digest::of(b"");
        assert_eq!(sig_tag(&d), format!("sha256-{}.sig", d.hex()));
        assert_eq!(att_tag(&d), format!("sha256-{}.att", d.hex()));
        assert_eq!(referrers_tag(&d), format!("sha256-{}", d.hex()));
    }

    #[test]
    fn sig_manifest_appends_without_duplicates() {
        let d = Digest::of(b"x");
        let first = cosign_manifest(None, &[layer(b"p1", "s1")], sig_tag(&d)).unwrap();
        assert_eq!(first.added, 1);
        assert_eq!(first.blobs.len(), 2, "config + layer");
        let again = cosign_manifest(
            Some(&first.manifest.bytes),
            &[layer(b"p1", "s1"), layer(b"p2", "s2"), layer(b"p2", "s2")],
            sig_tag(&d),
        )
        .unwrap();
        assert_eq!(again.added, 1);
        assert_eq!(again.layers.len(), 2);
        assert_eq!(again.blobs.len(), 2, "config + the one new layer");
        let parsed = parse_cosign_manifest(&again.manifest.bytes).unwrap();
        assert_eq!(parsed.layers, again.layers);
        let config: serde_json::Value = serde_json::from_slice(&again.blobs[0].bytes).unwrap();
        assert_eq!(
            config["rootfs"]["diff_ids"][1],
            Digest::of(b"p2").to_string()
        );
        assert_eq!(config["history"].as_array().unwrap().len(), 2);
        // Same payload, another signature: a different layer.
        let third = cosign_manifest(
            Some(&again.manifest.bytes),
            &[layer(b"p2", "s3")],
            sig_tag(&d),
        )
        .unwrap();
        assert_eq!(third.added, 1);
        assert_eq!(third.blobs.len(), 2);
    }

    #[test]
    fn duplicate_layers_are_refused_when_parsing() {
        let m = cosign_manifest(None, &[layer(b"p1", "s1")], "t".into()).unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&m.manifest.bytes).unwrap();
        let l = v["layers"][0].clone();
        v["layers"].as_array_mut().unwrap().push(l);
        let bytes = serde_json::to_vec(&v).unwrap();
        assert!(matches!(
            parse_cosign_manifest(&bytes),
            Err(Failure::DuplicateLayer { .. })
        ));
    }

    #[test]
    fn layer_blob_must_match_descriptor() {
        let m = cosign_manifest(None, &[layer(b"p1", "s1")], "t".into()).unwrap();
        assert!(layer_from_blob(&m.layers[0], b"p1").is_ok());
        assert!(matches!(
            layer_from_blob(&m.layers[0], b"p2"),
            Err(Failure::Malformed { .. })
        ));
    }

    #[test]
    fn referrer_manifest_and_index() {
        let subject = Descriptor::of_bytes(OCI_MANIFEST_MEDIA_TYPE, b"{\"image\":1}");
        let r = referrer_manifest(b"{\"mediaType\":\"x\"}", &subject, None);
        let v: serde_json::Value = serde_json::from_slice(&r.manifest.bytes).unwrap();
        assert_eq!(
            v["artifactType"],
            super::super::bundle::BUNDLE_V03_MEDIA_TYPE
        );
        assert_eq!(v["config"]["mediaType"], OCI_EMPTY_MEDIA_TYPE);
        assert_eq!(v["config"]["size"], 2);
        assert_eq!(
            v["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(v["subject"]["digest"], subject.digest.to_string());
        let parsed = parse_referrer_manifest(&r.manifest.bytes).unwrap();
        assert!(parsed.is_sigstore_bundle());
        assert_eq!(parsed.subject.digest, subject.digest);
        let desc = referrer_descriptor(&r).unwrap();
        let idx = referrers_index(None, &desc).unwrap();
        let idx2 = referrers_index(Some(&idx.bytes), &desc).unwrap();
        assert_eq!(idx.bytes, idx2.bytes, "no duplicate entry");
        let listed = parse_referrers_index(&idx2.bytes).unwrap();
        assert_eq!(listed, vec![desc]);
    }

    #[test]
    fn attestations_dir_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = AttestationsDir::new(tmp.path().join("attestations"));
        let s = Digest::of(b"s");
        assert!(dir.add_envelope(&s, b"{\"a\":1}").unwrap());
        assert!(!dir.add_envelope(&s, b"{\"a\":1}").unwrap());
        assert!(dir.add_envelope(&s, b"{\"a\":2}").unwrap());
        assert!(matches!(
            dir.add_envelope(&s, b"{\n}"),
            Err(DirError::MultiLineEnvelope)
        ));
        let lines = dir.envelopes(&s).unwrap();
        assert_eq!(
            lines,
            vec![(1, b"{\"a\":1}".to_vec()), (2, b"{\"a\":2}".to_vec())]
        );
        let p1 = dir.add_bundle(&s, b"b1").unwrap();
        assert_eq!(dir.add_bundle(&s, b"b1").unwrap(), p1);
        let p2 = dir.add_bundle(&s, b"b2").unwrap();
        assert!(p1.ends_with(format!("{}.sigstore.json", s.hex())));
        assert!(p2.ends_with(format!("{}.2.sigstore.json", s.hex())));
        assert_eq!(dir.bundles(&s).unwrap().len(), 2);
        assert!(dir.envelopes(&Digest::of(b"none")).unwrap().is_empty());
    }
}
