//! OCI image layout: read (`LayoutSource`) and write (`LayoutWriter`, an [`ImageSink`]).
//!
//! A layout is `oci-layout` (`{"imageLayoutVersion":"1.0.0"}`), `index.json` and
//! `blobs/sha256/<hex>`. Writes are atomic (temp name in the same directory + rename);
//! a blob already present is not rewritten; a blob is renamed into place only after its
//! size and digest were verified, so a failed write leaves no partial blob. `index.json`
//! is rewritten atomically, keeping its other fields.

use super::Digest;
use super::error::{Error, Result};
use super::model::{self, Descriptor, Index, Root, media};
use super::source::{ImageSource, VerifyingReader};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

const OCI_LAYOUT: &str = "oci-layout";
const INDEX_JSON: &str = "index.json";
const LAYOUT_BYTES: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

fn blob_path(dir: &Path, d: &Digest) -> PathBuf {
    dir.join("blobs").join(d.algorithm()).join(d.hex())
}

/// Reads an image from an OCI layout directory.
pub struct LayoutSource {
    dir: PathBuf,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl LayoutSource {
    /// Open a layout; checks `oci-layout` now, reads `index.json` on `root()`.
    pub fn open(dir: &Path, tag: Option<&str>, digest: Option<&Digest>) -> Result<LayoutSource> {
        let marker = dir.join(OCI_LAYOUT);
        let bytes = fs::read(&marker).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Error::malformed(
                    dir.display().to_string(),
                    "not an OCI image layout (no oci-layout file)",
                )
            } else {
                Error::io(format!("reading {}", marker.display()), e)
            }
        })?;
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Marker {
            image_layout_version: String,
        }
        let m: Marker = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            what: marker.display().to_string(),
            source,
        })?;
        if m.image_layout_version != "1.0.0" {
            return Err(Error::Unsupported(format!(
                "{}: imageLayoutVersion {:?} (only 1.0.0 is known)",
                marker.display(),
                m.image_layout_version
            )));
        }
        Ok(LayoutSource {
            dir: dir.to_path_buf(),
            tag: tag.map(str::to_string),
            digest: digest.cloned(),
        })
    }

    /// `index.json`, parsed. Its digest is of its bytes, but nothing refers to it.
    pub fn index_json(&self) -> Result<Index> {
        let p = self.dir.join(INDEX_JSON);
        let raw = read_small(&p)?;
        Index::parse(&p.display().to_string(), Some(media::OCI_INDEX), raw)
    }

    fn location(&self) -> String {
        format!("OCI layout {}", self.dir.display())
    }

    /// The descriptor of `digest` inside one of the indexes `entries` lists (nested
    /// indexes followed up to [`MAX_NESTING`] deep). Index blobs that are missing are
    /// skipped (a layout may list an index without every child present); a blob that is
    /// present but fails its digest is an error.
    fn find_child(
        &self,
        entries: &[&Descriptor],
        digest: &Digest,
        depth: usize,
    ) -> Result<Option<Descriptor>> {
        if depth >= MAX_NESTING {
            return Ok(None);
        }
        for e in entries.iter().filter(|e| model::is_index(&e.media_type)) {
            let index = match self.read_index(e) {
                Ok(i) => i,
                Err(Error::BlobMissing { .. }) => continue,
                Err(err) => return Err(err),
            };
            if let Some(d) = index.manifests.iter().find(|d| &d.digest == digest) {
                return Ok(Some(d.clone()));
            }
            let nested: Vec<&Descriptor> = index.manifests.iter().collect();
            if let Some(d) = self.find_child(&nested, digest, depth + 1)? {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }
}

/// How deep `find_child` follows indexes inside indexes.
const MAX_NESTING: usize = 4;

fn read_small(p: &Path) -> Result<Vec<u8>> {
    let f = File::open(p).map_err(|e| Error::io(format!("reading {}", p.display()), e))?;
    let mut raw = Vec::new();
    f.take(model::MAX_DOCUMENT + 1)
        .read_to_end(&mut raw)
        .map_err(|e| Error::io(format!("reading {}", p.display()), e))?;
    if raw.len() as u64 > model::MAX_DOCUMENT {
        return Err(Error::malformed(p.display().to_string(), "too large"));
    }
    Ok(raw)
}

impl ImageSource for LayoutSource {
    fn name(&self) -> String {
        super::ImageRef::Layout {
            dir: self.dir.clone(),
            tag: self.tag.clone(),
            digest: self.digest.clone(),
        }
        .to_string()
    }

    fn root(&self) -> Result<Root> {
        let index = self.index_json()?;
        let mut candidates: Vec<&Descriptor> = index.manifests.iter().collect();
        if let Some(tag) = &self.tag {
            candidates.retain(|d| d.ref_name() == Some(tag.as_str()));
            if candidates.is_empty() {
                let mut available: Vec<String> = index
                    .manifests
                    .iter()
                    .filter_map(|d| d.ref_name().map(str::to_string))
                    .collect();
                available.sort();
                available.dedup();
                return Err(Error::TagNotFound {
                    tag: tag.clone(),
                    location: self.location(),
                    available,
                });
            }
        }
        if let Some(digest) = &self.digest {
            let listed: Vec<&Descriptor> = candidates.clone();
            candidates.retain(|d| &d.digest == digest);
            if candidates.is_empty() {
                // A platform manifest of a listed index is addressable by digest too, as
                // skopeo allows: the path to it is verified blob by blob.
                if let Some(child) = self.find_child(&listed, digest, 0)? {
                    return self.read_root(&child);
                }
                return Err(Error::DigestNotFound {
                    digest: digest.clone(),
                    location: self.location(),
                });
            }
        }
        match candidates.as_slice() {
            [one] => self.read_root(one),
            // Several entries and nothing chosen: index.json itself is the root, and
            // platform selection picks among its entries.
            _ if self.tag.is_none() && self.digest.is_none() => Ok(Root::Index(index)),
            several => {
                // The same manifest listed twice under one name is not ambiguous.
                let first = &several[0].digest;
                if several.iter().all(|d| &d.digest == first) {
                    self.read_root(several[0])
                } else {
                    Err(Error::malformed(
                        self.location(),
                        format!(
                            "{} different manifests carry that name; select one by digest",
                            several.len()
                        ),
                    ))
                }
            }
        }
    }

    fn open_raw(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send>> {
        let p = blob_path(&self.dir, &desc.digest);
        let f = File::open(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Error::BlobMissing {
                    digest: desc.digest.clone(),
                    location: self.location(),
                }
            } else {
                Error::io(format!("opening {}", p.display()), e)
            }
        })?;
        Ok(Box::new(f))
    }
}

/// Something images can be written to. A layout today; a registry later.
pub trait ImageSink {
    /// True if the sink already holds this blob (then `put_blob` need not be called).
    fn has_blob(&self, desc: &Descriptor) -> Result<bool>;

    /// Store a blob from a stream. With `expected`, size and digest are verified before
    /// the blob becomes visible (and an existing blob is not rewritten); the returned
    /// descriptor is `expected` (or, without it, an `application/octet-stream`
    /// descriptor of what was read).
    fn put_blob(
        &mut self,
        reader: &mut dyn Read,
        expected: Option<&Descriptor>,
    ) -> Result<Descriptor>;

    /// Store bytes as a blob of `media_type`.
    fn put_bytes(&mut self, media_type: &str, bytes: &[u8]) -> Result<Descriptor> {
        let d = Descriptor::of_bytes(media_type, bytes);
        self.put_blob(&mut &bytes[..], Some(&d))
    }

    /// Record a manifest or index (already stored as a blob) as an image of the sink,
    /// under `tag` if given (moving the tag if another manifest had it).
    fn add_manifest(&mut self, desc: &Descriptor, tag: Option<&str>) -> Result<()>;
}

/// Writes an OCI image layout.
pub struct LayoutWriter {
    dir: PathBuf,
}

impl LayoutWriter {
    /// Create the layout (directories, `oci-layout`, empty `index.json`) or open an
    /// existing one.
    pub fn create(dir: &Path) -> Result<LayoutWriter> {
        let ctx = |what: &str| format!("creating OCI layout {} ({what})", dir.display());
        fs::create_dir_all(dir.join("blobs").join("sha256"))
            .map_err(|e| Error::io(ctx("blobs/sha256"), e))?;
        let marker = dir.join(OCI_LAYOUT);
        if marker.exists() {
            // Validates the marker.
            LayoutSource::open(dir, None, None)?;
        } else {
            crate::atomic::write_with(&marker, |f| {
                readable(f)?;
                f.write_all(LAYOUT_BYTES)
            })
            .map_err(|e| Error::io(ctx(OCI_LAYOUT), e))?;
        }
        let index = dir.join(INDEX_JSON);
        if !index.exists() {
            let empty = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": media::OCI_INDEX,
                "manifests": [],
            });
            crate::atomic::write_with(&index, |f| {
                readable(f)?;
                f.write_all(&to_json(&empty))
            })
            .map_err(|e| Error::io(ctx(INDEX_JSON), e))?;
        }
        Ok(LayoutWriter {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        blob_path(&self.dir, d)
    }
}

/// Blobs are content, not secrets: 0644 like other tools' layouts (tempfile makes 0600).
fn readable(f: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(fs::Permissions::from_mode(0o644))?;
    }
    let _ = f;
    Ok(())
}

fn to_json(v: &serde_json::Value) -> Vec<u8> {
    // serde_json::Value keeps insertion order only with preserve_order; we don't enable
    // it, so keys come out sorted: deterministic output.
    let mut out = serde_json::to_vec(v).unwrap_or_default();
    out.push(b'\n');
    out
}

impl ImageSink for LayoutWriter {
    fn has_blob(&self, desc: &Descriptor) -> Result<bool> {
        let p = self.blob_path(&desc.digest);
        match fs::metadata(&p) {
            Ok(m) => Ok(m.is_file() && m.len() == desc.size),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(format!("checking {}", p.display()), e)),
        }
    }

    fn put_blob(
        &mut self,
        reader: &mut dyn Read,
        expected: Option<&Descriptor>,
    ) -> Result<Descriptor> {
        let dir = self.dir.join("blobs").join("sha256");
        if let Some(d) = expected {
            if self.has_blob(d)? {
                // Content-addressed and complete: never rewritten.
                return Ok(d.clone());
            }
        }
        let ctx = || format!("writing a blob into {}", dir.display());
        let mut tmp = tempfile::Builder::new()
            .prefix(".pause-verify-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(ctx(), e))?;
        // One hash per byte: with `expected` the verifying reader checks the stream; only
        // an unknown blob is hashed on the way out.
        let desc = {
            let mut out = io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
            let desc = match expected {
                Some(d) => {
                    let mut v = VerifyingReader::new(reader, d);
                    io::copy(&mut v, &mut out).map_err(|e| Error::from_io(e, ctx()))?;
                    d.clone()
                }
                None => {
                    let mut w = super::digest::HashingWriter::new(&mut out);
                    io::copy(reader, &mut w).map_err(|e| Error::from_io(e, ctx()))?;
                    let (_, digest, size) = w.finish();
                    Descriptor::new("application/octet-stream", digest, size)
                }
            };
            out.flush().map_err(|e| Error::io(ctx(), e))?;
            desc
        };
        // No fsync per blob (skopeo does none either): the rename makes a blob visible only
        // once complete, and a blob that a crash left short fails its size/digest check
        // on every read. index.json, the layout's commit point, is synced (crate::atomic).
        readable(tmp.as_file()).map_err(|e| Error::io(ctx(), e))?;
        let dest = self.blob_path(&desc.digest);
        if dest.exists() {
            return Ok(desc); // the temp file is removed on drop
        }
        tmp.persist(&dest).map_err(|e| Error::io(ctx(), e.error))?;
        Ok(desc)
    }

    fn add_manifest(&mut self, desc: &Descriptor, tag: Option<&str>) -> Result<()> {
        if !model::is_index(&desc.media_type) && !model::is_manifest(&desc.media_type) {
            return Err(Error::UnknownMediaType {
                what: format!("adding {} to {}", desc.digest, self.dir.display()),
                media_type: desc.media_type.clone(),
            });
        }
        if !self.has_blob(desc)? {
            return Err(Error::BlobMissing {
                digest: desc.digest.clone(),
                location: format!("OCI layout {}", self.dir.display()),
            });
        }
        let p = self.dir.join(INDEX_JSON);
        let raw = read_small(&p)?;
        // Validate with the typed parser, edit as a JSON value to keep unknown fields.
        Index::parse(
            &p.display().to_string(),
            Some(media::OCI_INDEX),
            raw.clone(),
        )?;
        let mut doc: serde_json::Value =
            serde_json::from_slice(&raw).map_err(|source| Error::Json {
                what: p.display().to_string(),
                source,
            })?;
        let mut entries: Vec<Descriptor> = match doc.get("manifests") {
            Some(m) => serde_json::from_value(m.clone()).map_err(|source| Error::Json {
                what: p.display().to_string(),
                source,
            })?,
            None => Vec::new(),
        };
        let mut new = desc.clone();
        new.annotations.remove(media::ANNOTATION_REF_NAME);
        if let Some(t) = tag {
            // A tag names one manifest: drop it from whoever had it.
            entries.retain(|e| e.ref_name() != Some(t));
            new.annotations
                .insert(media::ANNOTATION_REF_NAME.to_string(), t.to_string());
        }
        if !entries.contains(&new) {
            entries.push(new);
        }
        let obj = doc
            .as_object_mut()
            .ok_or_else(|| Error::malformed(p.display().to_string(), "not a JSON object"))?;
        obj.insert(
            "manifests".to_string(),
            serde_json::to_value(&entries).map_err(|source| Error::Json {
                what: p.display().to_string(),
                source,
            })?,
        );
        obj.entry("mediaType")
            .or_insert_with(|| serde_json::Value::String(media::OCI_INDEX.to_string()));
        crate::atomic::write_with(&p, |f| {
            readable(f)?;
            f.write_all(&to_json(&doc))
        })
        .map_err(|e| Error::io(format!("writing {}", p.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::source::ImageSource;

    #[test]
    fn write_then_read_back_and_no_partial_blob() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LayoutWriter::create(dir.path()).unwrap();
        let cfg =
            br#"{"architecture":"amd64","os":"windows","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let c = w.put_bytes(media::OCI_CONFIG, cfg).unwrap();
        let m = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": media::OCI_MANIFEST, "config": c, "layers": []
        }))
        .unwrap();
        let md = w.put_bytes(media::OCI_MANIFEST, &m).unwrap();
        w.add_manifest(&md, Some("v1")).unwrap();

        let src = LayoutSource::open(dir.path(), Some("v1"), None).unwrap();
        let Root::Manifest(got) = src.root().unwrap() else {
            panic!("not a manifest")
        };
        assert_eq!(got.raw, m);
        assert_eq!(got.descriptor.digest, md.digest);

        // A wrong expected digest leaves nothing behind.
        let mut bad = Descriptor::of_bytes("x", b"abc");
        bad.digest = Digest::of(b"abd");
        assert!(w.put_blob(&mut &b"abc"[..], Some(&bad)).is_err());
        let n = fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .count();
        assert_eq!(n, 2);
    }

    fn manifest(w: &mut LayoutWriter, n: u8) -> Descriptor {
        let cfg = format!(
            r#"{{"architecture":"amd64","os":"windows","os.version":"10.0.{n}","rootfs":{{"type":"layers","diff_ids":[]}}}}"#
        );
        let c = w.put_bytes(media::OCI_CONFIG, cfg.as_bytes()).unwrap();
        let m = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": media::OCI_MANIFEST, "config": c, "layers": []
        }))
        .unwrap();
        w.put_bytes(media::OCI_MANIFEST, &m).unwrap()
    }

    #[test]
    fn a_child_manifest_of_a_listed_index_is_addressable_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LayoutWriter::create(dir.path()).unwrap();
        let (a, b, nested) = (
            manifest(&mut w, 1),
            manifest(&mut w, 2),
            manifest(&mut w, 3),
        );
        let inner = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": [nested]
        }))
        .unwrap();
        let inner = w.put_bytes(media::OCI_INDEX, &inner).unwrap();
        let idx = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": [a, b, inner]
        }))
        .unwrap();
        let idx = w.put_bytes(media::OCI_INDEX, &idx).unwrap();
        w.add_manifest(&idx, Some("v1")).unwrap();

        for want in [&b, &nested] {
            let src = LayoutSource::open(dir.path(), None, Some(&want.digest)).unwrap();
            let Root::Manifest(got) = src.root().unwrap() else {
                panic!("not a manifest")
            };
            assert_eq!(got.descriptor.digest, want.digest);
        }
        // The listed index itself still resolves as before.
        let src = LayoutSource::open(dir.path(), None, Some(&idx.digest)).unwrap();
        assert!(matches!(src.root().unwrap(), Root::Index(_)));
        // A digest nothing refers to is still not found, even when it is a blob.
        let cfg_only = Digest::of(b"not referenced");
        let src = LayoutSource::open(dir.path(), None, Some(&cfg_only)).unwrap();
        assert!(matches!(src.root(), Err(Error::DigestNotFound { .. })));
        // A tampered index on the path is an error, not a silent miss.
        fs::write(blob_path(dir.path(), &idx.digest), b"{}").unwrap();
        let src = LayoutSource::open(dir.path(), None, Some(&b.digest)).unwrap();
        let e = src.root().unwrap_err();
        assert!(!matches!(e, Error::DigestNotFound { .. }), "{e}");
    }
}
