//! The source abstraction (in the spirit of go-containerregistry's `v1.Image` over
//! `layout` / `tarball` / `remote`): a transport only finds bytes; this module verifies
//! them, parses documents and selects a platform.

use super::Digest;
use super::error::{Error, Result};
use super::model::{self, Descriptor, ImageConfig, Index, Manifest, PlatformSelector, Root};
use super::verified::VerifiedBlob;
use sha2::{Digest as _, Sha256};
use std::io::{self, Read};
use std::path::PathBuf;

/// Something images can be read from. Transports implement `root` and `open_blob`; the
/// provided methods read, verify and parse documents on top of them.
pub trait ImageSource: Send {
    /// The reference this source was opened from (for messages).
    fn name(&self) -> String;

    /// The root the reference points at: an index or a manifest, with raw bytes.
    fn root(&self) -> Result<Root>;

    /// The blob's bytes as stored, NOT verified. Only for callers that verify size and
    /// digest themselves (`layer::verify_layer` does, on another thread); everyone else
    /// uses [`ImageSource::open_blob`].
    fn open_raw(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send>>;

    /// The blob held locally and verified against `desc` earlier in this process, when
    /// the transport has it so (a registry download or cache hit), else `None`. A sink
    /// stores it without hashing it again ([`super::ImageSink::put_verified`]).
    fn verified_blob(&self, _desc: &Descriptor) -> Result<Option<VerifiedBlob>> {
        Ok(None)
    }

    /// A local file holding the blob as stored, NOT verified (an OCI layout's blob), for
    /// a sink that hard-links it and verifies through the link
    /// ([`super::ImageSink::stage_link`]); `None` when the transport has no such file.
    fn blob_file(&self, _desc: &Descriptor) -> Option<PathBuf> {
        None
    }

    /// Stream a blob, verifying its size and digest against `desc` while it streams: a
    /// mismatch is an `io::Error` (InvalidData) carrying an [`Error`] (see
    /// [`Error::from_io`]), returned at the latest at EOF. Read to EOF before trusting it.
    fn open_blob(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send>> {
        Ok(Box::new(VerifyingReader::new(self.open_raw(desc)?, desc)))
    }

    /// A whole small blob (manifest, config), verified.
    fn read_blob(&self, desc: &Descriptor) -> Result<Vec<u8>> {
        if desc.size > model::MAX_DOCUMENT {
            return Err(Error::malformed(
                format!("blob {}", desc.digest),
                format!(
                    "{} bytes is too large for a manifest or config (limit {})",
                    desc.size,
                    model::MAX_DOCUMENT
                ),
            ));
        }
        let mut r = self.open_blob(desc)?;
        let mut buf = Vec::with_capacity(desc.size as usize);
        r.read_to_end(&mut buf)
            .map_err(|e| Error::from_io(e, format!("reading blob {}", desc.digest)))?;
        Ok(buf)
    }

    /// A manifest or index referenced by `desc`.
    fn read_root(&self, desc: &Descriptor) -> Result<Root> {
        let raw = self.read_blob(desc)?;
        Root::parse(
            &format!("{} {}", kind_of(&desc.media_type), desc.digest),
            Some(&desc.media_type),
            raw,
        )
    }

    fn read_manifest(&self, desc: &Descriptor) -> Result<Manifest> {
        let raw = self.read_blob(desc)?;
        Manifest::parse(
            &format!("manifest {}", desc.digest),
            Some(&desc.media_type),
            raw,
        )
    }

    fn read_index(&self, desc: &Descriptor) -> Result<Index> {
        let raw = self.read_blob(desc)?;
        Index::parse(
            &format!("index {}", desc.digest),
            Some(&desc.media_type),
            raw,
        )
    }

    fn read_config(&self, desc: &Descriptor) -> Result<ImageConfig> {
        let raw = self.read_blob(desc)?;
        ImageConfig::parse(&desc.media_type, raw)
    }

    // ---- what is stored beside the image (signatures, attestations, referrers)

    /// How this transport keeps signatures and attestations beside images.
    fn attachment_kind(&self) -> AttachmentKind {
        AttachmentKind::None
    }

    /// Whether this transport keeps signatures beside images at all.
    fn can_attach(&self) -> bool {
        self.attachment_kind() != AttachmentKind::None
    }

    /// The manifest stored under `tag` beside the image (a layout's `index.json` entry,
    /// a registry tag: cosign's `sha256-<hex>.sig`/`.att`), read and verified; `None`
    /// when there is none or the transport has no such tags.
    fn tagged_manifest(&self, _tag: &str) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }

    /// The referrers of `subject` (OCI 1.1: manifests whose `subject` is it), only those
    /// of `artifact_type` when given. A layout entry whose manifest cannot be read is
    /// listed (the caller reports it when it reads it), not dropped.
    fn referrers(
        &self,
        _subject: &Digest,
        _artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        Ok(Vec::new())
    }

    /// Signatures kept as files beside the manifest `manifest` (`dir:`'s `signature-N`,
    /// containers/image's format), as stored; empty for other transports.
    fn stored_signatures(&self, _manifest: &Digest) -> Result<Vec<Vec<u8>>> {
        Ok(Vec::new())
    }
}

/// Where a transport keeps what is attached to an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentKind {
    /// Nowhere (a docker-archive).
    None,
    /// cosign's `sha256-<hex>.sig` / `.att` tags and OCI 1.1 referrers (layouts,
    /// registries).
    Tags,
    /// Signature files beside the manifest (`dir:`'s `signature-N`); no attestations.
    SignatureFiles,
}

fn kind_of(media_type: &str) -> &'static str {
    if model::is_index(media_type) {
        "index"
    } else {
        "manifest"
    }
}

/// A reader that checks size and digest while bytes stream through it.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    expected: Digest,
    expected_size: u64,
    count: u64,
    name: String,
    failed: Option<(io::ErrorKind, String)>,
    done: bool,
}

impl<R: Read> VerifyingReader<R> {
    /// `name` identifies the blob in errors (usually its digest).
    pub fn new(inner: R, desc: &Descriptor) -> Self {
        VerifyingReader {
            inner,
            hasher: Sha256::new(),
            expected: desc.digest.clone(),
            expected_size: desc.size,
            count: 0,
            name: desc.digest.to_string(),
            failed: None,
            done: false,
        }
    }

    fn fail(&mut self, e: Error) -> io::Error {
        self.failed = Some((io::ErrorKind::InvalidData, e.to_string()));
        e.into_io()
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some((k, m)) = &self.failed {
            return Err(io::Error::new(*k, m.clone()));
        }
        if self.done {
            return Ok(0);
        }
        // Never hand out bytes past the declared size: read at most one byte more to notice.
        let left = self.expected_size.saturating_sub(self.count);
        let cap = buf
            .len()
            .min(usize::try_from(left.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..cap])?;
        if n == 0 {
            if self.count != self.expected_size {
                let e = Error::SizeMismatch {
                    blob: self.name.clone(),
                    expected: self.expected_size,
                    actual: self.count.to_string(),
                };
                return Err(self.fail(e));
            }
            let actual = Digest::from_hasher(std::mem::take(&mut self.hasher));
            if actual != self.expected {
                let e = Error::DigestMismatch {
                    blob: self.name.clone(),
                    expected: self.expected.clone(),
                    actual,
                };
                return Err(self.fail(e));
            }
            self.done = true;
            return Ok(0);
        }
        if self.count + n as u64 > self.expected_size {
            let e = Error::SizeMismatch {
                blob: self.name.clone(),
                expected: self.expected_size,
                actual: format!("more than {}", self.expected_size),
            };
            return Err(self.fail(e));
        }
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// One image for one platform: the chain from the root to the layers, all verified.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The index the manifest was selected from (if the root was an index).
    pub index: Option<Index>,
    /// The index entry that was selected (carries the platform as the index states it).
    pub selected: Option<Descriptor>,
    pub manifest: Manifest,
    pub config: ImageConfig,
}

impl ResolvedImage {
    pub fn layers(&self) -> &[Descriptor] {
        &self.manifest.layers
    }
}

/// Resolve `source` to one image. With an index: the single entry matching `platform`
/// (or the single image entry when no platform is given; several → an error listing them).
/// With a manifest: its config must match `platform` when one is given.
pub fn resolve(
    source: &dyn ImageSource,
    platform: Option<&PlatformSelector>,
) -> Result<ResolvedImage> {
    let root = source.root()?;
    resolve_root(source, root, platform, None, 0)
}

fn resolve_root(
    source: &dyn ImageSource,
    root: Root,
    platform: Option<&PlatformSelector>,
    parent: Option<(Index, Descriptor)>,
    depth: u32,
) -> Result<ResolvedImage> {
    match root {
        Root::Manifest(manifest) => {
            manifest.check_image()?;
            let config = source.read_config(&manifest.config)?;
            if let Some(sel) = platform {
                let p = config.platform();
                if !sel.matches(&p) {
                    return Err(Error::NoMatchingPlatform {
                        wanted: sel.to_string(),
                        available: vec![p.to_string()],
                    });
                }
            }
            let (index, selected) = match parent {
                Some((i, d)) => (Some(i), Some(d)),
                None => (None, None),
            };
            Ok(ResolvedImage {
                index,
                selected,
                manifest,
                config,
            })
        }
        Root::Index(index) => {
            if depth > 4 {
                return Err(Error::malformed(
                    format!("index {}", index.descriptor.digest),
                    "indexes nested more than 4 deep",
                ));
            }
            let entry = select(&index, platform, &source.name())?.clone();
            let child = source.read_root(&entry)?;
            resolve_root(source, child, platform, Some((index, entry)), depth + 1)
        }
    }
}

/// Image entries of an index (manifests or nested indexes), without attestation /
/// `unknown/unknown` entries that BuildKit adds, and without what signing stores beside
/// an image in a layout's index.json (docs/signing.md): artifacts (entries with an
/// `artifactType`, e.g. referrers) and cosign's `sha256-<hex>.sig` / `.att` / `.sbom` tags.
pub fn image_entries(index: &Index) -> Vec<&Descriptor> {
    index
        .manifests
        .iter()
        .filter(|d| {
            let unknown = d
                .platform
                .as_ref()
                .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown");
            !unknown && d.artifact_type.is_none() && !d.ref_name().is_some_and(is_attachment_tag)
        })
        .collect()
}

/// `sha256-<64 hex>` optionally followed by `.sig`, `.att` or `.sbom`: tags cosign (and
/// the OCI referrers tag schema) use for things attached to an image, not images.
pub fn is_attachment_tag(tag: &str) -> bool {
    let Some(rest) = tag.strip_prefix("sha256-") else {
        return false;
    };
    let (Some(hex), Some(suffix)) = (rest.get(..64), rest.get(64..)) else {
        return false;
    };
    hex.bytes().all(|b| b.is_ascii_hexdigit()) && matches!(suffix, "" | ".sig" | ".att" | ".sbom")
}

fn describe(d: &Descriptor) -> String {
    match &d.platform {
        Some(p) => format!("{p} ({})", d.digest),
        None => format!("no platform ({})", d.digest),
    }
}

/// Pick the one entry of `index` for `platform`.
pub fn select<'a>(
    index: &'a Index,
    platform: Option<&PlatformSelector>,
    name: &str,
) -> Result<&'a Descriptor> {
    let entries = image_entries(index);
    for e in &entries {
        if !model::is_index(&e.media_type) && !model::is_manifest(&e.media_type) {
            return Err(Error::UnknownMediaType {
                what: format!("{name}: index entry {}", e.digest),
                media_type: e.media_type.clone(),
            });
        }
    }
    let all: Vec<String> = entries.iter().map(|d| describe(d)).collect();
    let matching: Vec<&Descriptor> = match platform {
        None => entries.clone(),
        Some(sel) => match entries.as_slice() {
            // One nested index without a platform (a layout's index.json holding an image
            // list, perhaps beside signatures): the platform is chosen inside it.
            [one] if model::is_index(&one.media_type) && one.platform.is_none() => vec![*one],
            _ => entries
                .iter()
                .copied()
                .filter(|d| d.platform.as_ref().is_some_and(|p| sel.matches(p)))
                .collect(),
        },
    };
    match matching.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::NoMatchingPlatform {
            wanted: platform.map_or_else(|| "any".to_string(), |p| p.to_string()),
            available: all,
        }),
        several => Err(Error::AmbiguousPlatform {
            what: name.to_string(),
            available: several.iter().map(|d| describe(d)).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifying_reader_checks_size_and_digest() {
        let data = b"hello".to_vec();
        let good = Descriptor::of_bytes("x", &data);
        let mut out = Vec::new();
        VerifyingReader::new(&data[..], &good)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);

        let mut flipped = data.clone();
        flipped[0] ^= 1;
        let e = VerifyingReader::new(&flipped[..], &good)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(matches!(
            Error::from_io(e, "x"),
            Error::DigestMismatch { .. }
        ));

        let e = VerifyingReader::new(&data[..4], &good)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(matches!(Error::from_io(e, "x"), Error::SizeMismatch { .. }));

        let long = b"hello!".to_vec();
        let mut r = VerifyingReader::new(&long[..], &good);
        let e = r.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(matches!(Error::from_io(e, "x"), Error::SizeMismatch { .. }));
        // The error sticks.
        assert!(r.read(&mut [0u8; 8]).is_err());
    }
}
