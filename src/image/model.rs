//! The image model: descriptors, platforms, index / manifest / config, media types.
//!
//! Owns parsing of OCI (image-spec v1.1) and Docker schema2 index/list, manifest and
//! config documents, and platform selection. Each parsed document KEEPS ITS RAW BYTES:
//! digests are always of those exact bytes, never of a re-serialisation.
//!
//! `oci-spec` is used for the config (`ImageConfiguration`: os.version, history, rootfs
//! fit as they are). Descriptors, manifests and indexes are our own serde views because
//! oci-spec's `Descriptor` carries a digest type that accepts algorithms we cannot verify
//! and we need one view over both the OCI and the Docker schema2 shapes.
//!
//! Does not own: where bytes come from (transports) or what is inside a layer.

use super::Digest;
use super::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Media types we know.
pub mod media {
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    /// Non-distributable ("foreign") OCI layers (deprecated in image-spec 1.1, still read).
    pub const OCI_LAYER_NONDIST: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
    pub const OCI_LAYER_NONDIST_GZIP: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    pub const OCI_LAYER_NONDIST_ZSTD: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
    pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const DOCKER_FOREIGN_GZIP: &str =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    pub const DOCKER_FOREIGN: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar";
    pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
    pub const DOCKER_SCHEMA1_SIGNED: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";

    /// The layout annotation naming a tag.
    pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
    /// The annotation carrying a creation time (RFC 3339).
    pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

    // Things stored beside images (signatures, attestations): `attest` gives them
    // meaning; they are listed here so every media type the tool knows is in one place.
    /// A cosign `.sig` layer: simple-signing payload.
    pub const COSIGN_SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
    /// A cosign `.att` layer: a DSSE envelope.
    pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
    /// A Sigstore bundle v0.3 (the referrer's artifactType and its one layer).
    pub const SIGSTORE_BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
    /// A Notary Project signature referrer's artifactType.
    pub const NOTARY_SIGNATURE: &str = "application/vnd.cncf.notary.signature";
}

pub fn is_index(media_type: &str) -> bool {
    matches!(media_type, media::OCI_INDEX | media::DOCKER_LIST)
}
pub fn is_manifest(media_type: &str) -> bool {
    matches!(media_type, media::OCI_MANIFEST | media::DOCKER_MANIFEST)
}
pub fn is_config(media_type: &str) -> bool {
    matches!(media_type, media::OCI_CONFIG | media::DOCKER_CONFIG)
}
/// Foreign / non-distributable layers: referenced by digest and `urls`, never fetched.
pub fn is_foreign(media_type: &str) -> bool {
    matches!(
        media_type,
        media::DOCKER_FOREIGN
            | media::DOCKER_FOREIGN_GZIP
            | media::OCI_LAYER_NONDIST
            | media::OCI_LAYER_NONDIST_GZIP
            | media::OCI_LAYER_NONDIST_ZSTD
    )
}
pub fn is_gzip(media_type: &str) -> bool {
    matches!(
        media_type,
        media::OCI_LAYER_GZIP
            | media::OCI_LAYER_NONDIST_GZIP
            | media::DOCKER_LAYER_GZIP
            | media::DOCKER_FOREIGN_GZIP
    )
}
pub fn is_zstd(media_type: &str) -> bool {
    matches!(
        media_type,
        media::OCI_LAYER_ZSTD | media::OCI_LAYER_NONDIST_ZSTD
    )
}
/// Any layer media type we know (compressed or not, foreign or not).
pub fn is_layer(media_type: &str) -> bool {
    is_gzip(media_type)
        || is_zstd(media_type)
        || is_foreign(media_type)
        || matches!(
            media_type,
            media::OCI_LAYER | media::DOCKER_LAYER | media::OCI_LAYER_NONDIST
        )
}

/// A platform as an index entry or a config states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// `OS/ARCH[/VARIANT][:VERSION]`: how a platform and a selector for one are written.
fn write_platform(
    f: &mut fmt::Formatter<'_>,
    os: &str,
    architecture: &str,
    variant: Option<&str>,
    version: Option<&str>,
) -> fmt::Result {
    write!(f, "{os}/{architecture}")?;
    if let Some(v) = variant {
        write!(f, "/{v}")?;
    }
    if let Some(v) = version {
        write!(f, ":{v}")?;
    }
    Ok(())
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_platform(
            f,
            &self.os,
            &self.architecture,
            self.variant.as_deref(),
            self.os_version.as_deref(),
        )
    }
}

/// `--platform OS/ARCH[/VARIANT][:OSVERSION-PREFIX]`, e.g. `windows/amd64:10.0.20348`;
/// `ltsc2019`, `ltsc2022` and `ltsc2025` stand for their os.version (10.0.17763, 10.0.20348,
/// 10.0.26100).
/// The os.version prefix matches whole dot-separated components: `10.0.20348` matches
/// `10.0.20348.5622` but `10.0.2034` does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformSelector {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    pub os_version_prefix: Option<String>,
}

impl FromStr for PlatformSelector {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::Malformed {
            what: format!("platform {s:?}"),
            reason: format!(
                "{reason}; expected OS/ARCH[/VARIANT][:OSVERSION-PREFIX], e.g. windows/amd64:10.0.20348"
            ),
        };
        let (plat, ver) = match s.split_once(':') {
            Some((p, v)) => (p, Some(v)),
            None => (s, None),
        };
        let parts: Vec<&str> = plat.split('/').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(bad("wrong number of '/'-separated parts"));
        }
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if !parts.iter().all(|p| ok(p)) {
            return Err(bad("OS, ARCH and VARIANT are letters, digits, '_' and '-'"));
        }
        let bad_version = |v: &str| {
            v.is_empty()
                || v.starts_with('.')
                || v.ends_with('.')
                || v.contains("..")
                || !v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        };
        // Windows Server release names, as the README maps them (the os.version a
        // container of that release carries).
        let ver = ver.map(|v| match v.to_ascii_lowercase().as_str() {
            "ltsc2019" => "10.0.17763",
            "ltsc2022" => "10.0.20348",
            "ltsc2025" => "10.0.26100",
            _ => v,
        });
        if ver.is_some_and(bad_version) {
            return Err(bad(
                "the OS version prefix is dot-separated numbers or ltsc2019/ltsc2022/ltsc2025",
            ));
        }
        Ok(PlatformSelector {
            os: parts[0].to_string(),
            architecture: parts[1].to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
            os_version_prefix: ver.map(str::to_string),
        })
    }
}

impl fmt::Display for PlatformSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_platform(
            f,
            &self.os,
            &self.architecture,
            self.variant.as_deref(),
            self.os_version_prefix.as_deref(),
        )
    }
}

impl PlatformSelector {
    pub fn matches(&self, p: &Platform) -> bool {
        if p.os != self.os || p.architecture != self.architecture {
            return false;
        }
        if self.variant.is_some() && p.variant != self.variant {
            return false;
        }
        match (&self.os_version_prefix, &p.os_version) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(pre), Some(ver)) => {
                ver == pre
                    || (ver.starts_with(pre.as_str())
                        && ver.as_bytes().get(pre.len()) == Some(&b'.'))
            }
        }
    }
}

/// A content descriptor (OCI descriptor / Docker schema2 descriptor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Empty when the document left it out (allowed for OCI index entries of old tools).
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
        }
    }
    /// Descriptor of exact bytes.
    pub fn of_bytes(media_type: impl Into<String>, bytes: &[u8]) -> Descriptor {
        Descriptor::new(media_type, Digest::of(bytes), bytes.len() as u64)
    }
    pub fn is_foreign(&self) -> bool {
        is_foreign(&self.media_type)
    }
    /// The `org.opencontainers.image.ref.name` annotation (a layout tag).
    pub fn ref_name(&self) -> Option<&str> {
        self.annotations
            .get(media::ANNOTATION_REF_NAME)
            .map(String::as_str)
    }
}

/// A descriptor serialised in go-containerregistry's field order (mediaType, size,
/// digest, urls, annotations, platform, artifactType): what cosign writes, so the
/// signature manifests and referrers indexes we build are byte-identical to its own.
/// [`Descriptor`]'s own order (mediaType, digest, size, …) is what our image manifests
/// have always been written with; changing it would change every built image's digest.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GcrOrder<'a> {
    media_type: &'a str,
    size: u64,
    digest: &'a Digest,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    urls: &'a [String],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<&'a Platform>,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<&'a str>,
}

impl Descriptor {
    /// This descriptor in go-containerregistry's field order (see [`GcrOrder`]).
    pub fn gcr_order(&self) -> GcrOrder<'_> {
        GcrOrder {
            media_type: &self.media_type,
            size: self.size,
            digest: &self.digest,
            urls: &self.urls,
            annotations: &self.annotations,
            platform: self.platform.as_ref(),
            artifact_type: self.artifact_type.as_deref(),
        }
    }
}

/// Largest manifest / index / config we read into memory.
pub const MAX_DOCUMENT: u64 = 8 << 20;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawIndex {
    schema_version: u32,
    manifests: Vec<Descriptor>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    subject: Option<Descriptor>,
    #[serde(default)]
    artifact_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: u32,
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    subject: Option<Descriptor>,
    #[serde(default)]
    artifact_type: Option<String>,
}

/// An index (OCI image index or Docker manifest list) with its raw bytes.
#[derive(Debug, Clone)]
pub struct Index {
    pub raw: Vec<u8>,
    /// Descriptor of `raw` (media type, digest and size of these exact bytes).
    pub descriptor: Descriptor,
    pub manifests: Vec<Descriptor>,
    pub annotations: BTreeMap<String, String>,
    pub subject: Option<Descriptor>,
    pub artifact_type: Option<String>,
}

/// A manifest (OCI image manifest or Docker schema2) with its raw bytes.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub raw: Vec<u8>,
    pub descriptor: Descriptor,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    pub annotations: BTreeMap<String, String>,
    pub subject: Option<Descriptor>,
    pub artifact_type: Option<String>,
}

/// What a reference resolves to first: an index or a manifest.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // few of them live at once; boxing buys nothing
pub enum Root {
    Index(Index),
    Manifest(Manifest),
}

impl Root {
    pub fn descriptor(&self) -> &Descriptor {
        match self {
            Root::Index(i) => &i.descriptor,
            Root::Manifest(m) => &m.descriptor,
        }
    }

    /// Parse a manifest or index from its raw bytes. `declared` is the media type the
    /// referring descriptor gave (if any); the document's own `mediaType` must agree.
    pub fn parse(what: &str, declared: Option<&str>, raw: Vec<u8>) -> Result<Root> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Sniff {
            #[serde(default)]
            schema_version: Option<u32>,
            #[serde(default)]
            media_type: Option<String>,
            #[serde(default)]
            manifests: Option<serde_json::Value>,
            #[serde(default)]
            config: Option<serde_json::Value>,
        }
        let sniff: Sniff = serde_json::from_slice(&raw).map_err(|source| Error::Json {
            what: what.to_string(),
            source,
        })?;
        let declared = declared.filter(|d| !d.is_empty());
        let media_type = match (&sniff.media_type, declared) {
            (Some(own), Some(d)) if own != d => {
                return Err(Error::malformed(
                    what,
                    format!("the document says mediaType {own:?} but was referenced as {d:?}"),
                ));
            }
            (Some(own), _) => own.clone(),
            (None, Some(d)) => d.to_string(),
            (None, None) if sniff.manifests.is_some() => media::OCI_INDEX.to_string(),
            (None, None) if sniff.config.is_some() => media::OCI_MANIFEST.to_string(),
            (None, None) => {
                return Err(Error::malformed(
                    what,
                    "neither an index nor a manifest (no mediaType, manifests or config)",
                ));
            }
        };
        if matches!(
            media_type.as_str(),
            media::DOCKER_SCHEMA1 | media::DOCKER_SCHEMA1_SIGNED
        ) || sniff.schema_version == Some(1)
        {
            return Err(Error::Unsupported(format!(
                "{what}: Docker schema1 manifests are not supported (deprecated; re-push the image with schema2 or OCI)"
            )));
        }
        let descriptor = Descriptor::of_bytes(media_type.clone(), &raw);
        if is_index(&media_type) {
            let r: RawIndex = serde_json::from_slice(&raw).map_err(|source| Error::Json {
                what: what.to_string(),
                source,
            })?;
            check_schema(what, r.schema_version)?;
            Ok(Root::Index(Index {
                raw,
                descriptor,
                manifests: r.manifests,
                annotations: r.annotations,
                subject: r.subject,
                artifact_type: r.artifact_type,
            }))
        } else if is_manifest(&media_type) {
            let r: RawManifest = serde_json::from_slice(&raw).map_err(|source| Error::Json {
                what: what.to_string(),
                source,
            })?;
            check_schema(what, r.schema_version)?;
            Ok(Root::Manifest(Manifest {
                raw,
                descriptor,
                config: r.config,
                layers: r.layers,
                annotations: r.annotations,
                subject: r.subject,
                artifact_type: r.artifact_type,
            }))
        } else {
            Err(Error::UnknownMediaType {
                what: what.to_string(),
                media_type,
            })
        }
    }
}

fn check_schema(what: &str, v: u32) -> Result<()> {
    if v == 2 {
        Ok(())
    } else {
        Err(Error::malformed(
            what,
            format!("schemaVersion {v}, expected 2"),
        ))
    }
}

impl Manifest {
    pub fn parse(what: &str, declared: Option<&str>, raw: Vec<u8>) -> Result<Manifest> {
        match Root::parse(what, declared, raw)? {
            Root::Manifest(m) => Ok(m),
            Root::Index(i) => Err(Error::malformed(
                what,
                format!(
                    "expected a manifest, found an index ({})",
                    i.descriptor.media_type
                ),
            )),
        }
    }

    /// Check that this manifest describes a container image: a known config media
    /// type and known layer media types.
    pub fn check_image(&self) -> Result<()> {
        let what = format!("manifest {}", self.descriptor.digest);
        if !is_config(&self.config.media_type) {
            return Err(Error::UnknownMediaType {
                what: format!("{what}: config {}", self.config.digest),
                media_type: self.config.media_type.clone(),
            });
        }
        for (i, l) in self.layers.iter().enumerate() {
            if !is_layer(&l.media_type) {
                return Err(Error::UnknownMediaType {
                    what: format!("{what}: layer {i} ({})", l.digest),
                    media_type: l.media_type.clone(),
                });
            }
        }
        Ok(())
    }
}

impl Index {
    pub fn parse(what: &str, declared: Option<&str>, raw: Vec<u8>) -> Result<Index> {
        match Root::parse(what, declared, raw)? {
            Root::Index(i) => Ok(i),
            Root::Manifest(m) => Err(Error::malformed(
                what,
                format!(
                    "expected an index, found a manifest ({})",
                    m.descriptor.media_type
                ),
            )),
        }
    }
}

/// An image config (OCI config / Docker container image v1) with its raw bytes.
#[derive(Debug, Clone)]
pub struct ImageConfig {
    pub raw: Vec<u8>,
    pub descriptor: Descriptor,
    pub parsed: oci_spec::image::ImageConfiguration,
}

impl ImageConfig {
    pub fn parse(media_type: &str, raw: Vec<u8>) -> Result<ImageConfig> {
        let descriptor = Descriptor::of_bytes(media_type, &raw);
        let what = format!("config {}", descriptor.digest);
        let parsed = serde_json::from_slice(&raw).map_err(|source| Error::Json {
            what: what.clone(),
            source,
        })?;
        Ok(ImageConfig {
            raw,
            descriptor,
            parsed,
        })
    }
    pub fn os(&self) -> String {
        self.parsed.os().to_string()
    }
    pub fn architecture(&self) -> String {
        self.parsed.architecture().to_string()
    }
    pub fn os_version(&self) -> Option<&str> {
        self.parsed.os_version().as_deref()
    }
    pub fn platform(&self) -> Platform {
        Platform {
            architecture: self.architecture(),
            os: self.os(),
            os_version: self.os_version().map(str::to_string),
            os_features: self.parsed.os_features().clone(),
            variant: self.parsed.variant().clone(),
        }
    }
    pub fn user(&self) -> Option<&str> {
        self.parsed.config().as_ref()?.user().as_deref()
    }
    pub fn entrypoint(&self) -> Option<&[String]> {
        self.parsed.config().as_ref()?.entrypoint().as_deref()
    }
    pub fn cmd(&self) -> Option<&[String]> {
        self.parsed.config().as_ref()?.cmd().as_deref()
    }
    pub fn history(&self) -> &[oci_spec::image::History] {
        self.parsed.history().as_deref().unwrap_or(&[])
    }
    /// `rootfs.diff_ids`, parsed; a malformed entry is an error naming it.
    pub fn diff_ids(&self) -> Result<Vec<Digest>> {
        self.parsed
            .rootfs()
            .diff_ids()
            .iter()
            .enumerate()
            .map(|(i, d)| {
                d.parse().map_err(|e| {
                    Error::malformed(
                        format!("config {}", self.descriptor.digest),
                        format!("rootfs.diff_ids[{i}]: {e}"),
                    )
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_parses_and_matches_by_component() {
        let s: PlatformSelector = "windows/amd64:10.0.20348".parse().unwrap();
        let mut p = Platform {
            os: "windows".into(),
            architecture: "amd64".into(),
            os_version: Some("10.0.20348.5622".into()),
            ..Default::default()
        };
        assert!(s.matches(&p));
        p.os_version = Some("10.0.203481.1".into());
        assert!(!s.matches(&p));
        p.os_version = Some("10.0.17763.1".into());
        assert!(!s.matches(&p));
        let any: PlatformSelector = "windows/amd64".parse().unwrap();
        assert!(any.matches(&p));
        p.architecture = "arm64".into();
        assert!(!any.matches(&p));
        for bad in [
            "windows",
            "windows/amd64:",
            "windows/amd64:10.x",
            "a/b/c/d",
            "/amd64",
            "windows/amd64:10..0",
        ] {
            assert!(bad.parse::<PlatformSelector>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ltsc_names_stand_for_their_os_version() {
        for (name, version) in [
            ("ltsc2019", "10.0.17763"),
            ("LTSC2022", "10.0.20348"),
            ("ltsc2025", "10.0.26100"),
        ] {
            let s: PlatformSelector = format!("windows/amd64:{name}").parse().unwrap();
            assert_eq!(s.os_version_prefix.as_deref(), Some(version));
            assert_eq!(s.to_string(), format!("windows/amd64:{version}"));
        }
        assert!(
            "windows/amd64:ltsc2016"
                .parse::<PlatformSelector>()
                .is_err()
        );
    }

    #[test]
    fn root_parse_detects_type_confusion_and_schema1() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
        assert!(Root::parse("x", Some(media::OCI_INDEX), m.to_vec()).is_err());
        let r = Root::parse("x", None, m.to_vec()).unwrap();
        assert_eq!(r.descriptor().digest, Digest::of(m));
        assert!(Root::parse("x", None, br#"{"schemaVersion":1,"name":"a"}"#.to_vec()).is_err());
        let unknown = br#"{"schemaVersion":2,"mediaType":"application/x-foo","config":{}}"#;
        assert!(matches!(
            Root::parse("x", None, unknown.to_vec()),
            Err(Error::UnknownMediaType { .. })
        ));
    }
}
