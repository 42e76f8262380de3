//! OCI image layout: read (`LayoutSource`) and write (`LayoutWriter`, an [`ImageSink`]).
//!
//! A layout is `oci-layout` (`{"imageLayoutVersion":"1.0.0"}`), `index.json` and
//! `blobs/sha256/<hex>`. Writes are atomic (temp name in the same directory + rename);
//! a blob already present is not rewritten; a blob is renamed into place only after its
//! size and digest were verified, so a failed write leaves no partial blob. `index.json`
//! is rewritten atomically, keeping its other fields.
//!
//! Fast paths that keep the rule "every byte in a written layout was verified in this
//! process, or is a hard link to a file verified in this process":
//! - [`ImageSink::put_verified`]: a blob a transport already verified (a registry
//!   download) is written without hashing it again, or, when it is a file on the same
//!   filesystem, hard-linked after checking the link names the very inode verified.
//! - [`ImageSink::stage_link`]: a source's blob file (another layout on the same
//!   filesystem) is hard-linked under a temporary name first; the caller verifies by
//!   reading through that link and commits only after the check passed, so the build and
//!   `copy oci:A oci:B` read a blob once and write nothing for it.
//!
//! A link is made only to a regular file owned by the current user, readable by all and
//! writable by nobody else (what this writer's own blobs are), else the blob is copied
//! and verified on the way; also across filesystems or wherever linking fails. Linked
//! blobs share their inode with the source: blobs are content-addressed and never
//! rewritten in place (writes here are temp + rename), and a source edited in place would
//! fail its digest check in both places alike.

use super::Digest;
use super::error::{Error, Result};
use super::model::{self, Descriptor, Index, Root, media};
pub use super::sink::{ImageSink, Placement};
use super::source::{self, ImageSource, VerifyingReader};
use super::verified::VerifiedBlob;
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
    /// The reference as the user wrote it (for messages): `open_one` selects by digest
    /// but keeps the bare `oci:DIR`.
    named: Option<String>,
}

impl LayoutSource {
    /// Open a layout; checks `oci-layout` now, reads `index.json` on `root()`.
    pub fn open(dir: &Path, tag: Option<&str>, digest: Option<&Digest>) -> Result<LayoutSource> {
        let marker = dir.join(OCI_LAYOUT);
        let bytes =
            crate::limits::read_capped(&marker, &crate::limits::LAYOUT_JSON).map_err(|e| {
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
            named: None,
        })
    }

    /// The one image a layout named without tag or digest holds. Entries for things
    /// attached to an image (cosign `.sig`/`.att` tags, referrers: see
    /// [`source::image_entries`]) are not images; exactly one image must remain, else
    /// the error lists each one's tag (or digest) so the user can name it.
    pub fn open_one(dir: &Path) -> Result<LayoutSource> {
        let all = LayoutSource::open(dir, None, None)?;
        let index = all.index_json()?;
        match source::image_entries(&index).as_slice() {
            [one] => {
                let mut s = LayoutSource::open(dir, None, Some(&one.digest))?;
                s.named = Some(format!("oci:{}", dir.display()));
                Ok(s)
            }
            [] => Err(Error::malformed(
                all.location(),
                "holds no image (index.json lists none, or only signatures and attestations)",
            )),
            several => Err(Error::AmbiguousImage {
                location: all.location(),
                count: several.len(),
                names: several
                    .iter()
                    .map(|d| {
                        d.ref_name()
                            .map_or_else(|| d.digest.to_string(), str::to_string)
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
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

/// `index.json`: a regular file of at most [`crate::limits::LAYOUT_JSON`] bytes.
fn read_small(p: &Path) -> Result<Vec<u8>> {
    crate::limits::read_capped(p, &crate::limits::LAYOUT_JSON)
        .map_err(|e| Error::io(format!("reading {}", p.display()), e))
}

impl ImageSource for LayoutSource {
    fn name(&self) -> String {
        if let Some(n) = &self.named {
            return n.clone();
        }
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
        // A FIFO or device (or a symlink to one) as a blob would block or never end.
        let f = crate::limits::open_regular(&p, "blob").map_err(|e| {
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

    fn blob_file(&self, desc: &Descriptor) -> Option<PathBuf> {
        Some(blob_path(&self.dir, &desc.digest))
    }

    fn attachment_kind(&self) -> crate::image::source::AttachmentKind {
        crate::image::source::AttachmentKind::Tags
    }

    fn tagged_manifest(&self, tag: &str) -> Result<Option<Vec<u8>>> {
        let index = self.index_json()?;
        match index.manifests.iter().find(|d| d.ref_name() == Some(tag)) {
            Some(d) => Ok(Some(self.read_blob(d)?)),
            None => Ok(None),
        }
    }

    /// index.json lists every subject's referrers (entries with `artifactType`): those
    /// naming another subject are left out; one that cannot be read stays in.
    fn referrers(&self, subject: &Digest, artifact_type: Option<&str>) -> Result<Vec<Descriptor>> {
        let index = self.index_json()?;
        let mut out = Vec::new();
        for d in index.manifests.iter().filter(|d| d.artifact_type.is_some()) {
            if artifact_type.is_some_and(|t| d.artifact_type.as_deref() != Some(t)) {
                continue;
            }
            let other = self
                .read_blob(d)
                .ok()
                .and_then(|b| super::referrers::subject_of(&b))
                .is_some_and(|s| &s.digest != subject);
            if !other {
                let mut d = d.clone();
                d.annotations.remove(media::ANNOTATION_REF_NAME);
                out.push(d);
            }
        }
        Ok(out)
    }
}

/// A blob hard-linked into a layout under a temporary name, not yet visible. Read it
/// through [`StagedBlob::reader`] (the linked inode itself), check it, then
/// [`StagedBlob::commit`]; dropping it removes the link.
#[derive(Debug)]
pub struct StagedBlob {
    tmp: tempfile::TempPath,
    file: File,
    dest: PathBuf,
}

impl StagedBlob {
    /// The staged bytes, from the start: the inode that `commit` makes visible.
    pub fn reader(&self) -> io::Result<File> {
        use std::io::Seek;
        let mut f = self.file.try_clone()?;
        f.rewind()?;
        Ok(f)
    }

    fn metadata(&self) -> io::Result<fs::Metadata> {
        self.file.metadata()
    }

    /// Make the blob visible under its digest (after the caller verified it). The
    /// temporary name must still name the staged inode; a blob already there is kept.
    pub fn commit(self) -> Result<()> {
        let ctx = || format!("linking a blob into place at {}", self.dest.display());
        let staged = self.file.metadata().map_err(|e| Error::io(ctx(), e))?;
        let now = fs::symlink_metadata(&self.tmp).map_err(|e| Error::io(ctx(), e))?;
        if !same_inode(&staged, &now) {
            return Err(Error::io(
                ctx(),
                io::Error::other("the staged link was replaced while it was verified"),
            ));
        }
        match self.tmp.persist_noclobber(&self.dest) {
            Ok(()) => Ok(()),
            // Someone stored it meanwhile: content-addressed, so the same bytes.
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(Error::io(ctx(), e.error)),
        }
    }
}

fn same_inode(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        a.dev() == b.dev() && a.ino() == b.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        false
    }
}

/// May this file be shared into a layout by a hard link? A regular file of ours,
/// readable by all, writable by no one else: the mode and owner a copy would get.
fn linkable(m: &fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        m.is_file() && m.uid() == me && m.mode() & 0o444 == 0o444 && m.mode() & 0o022 == 0
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        false
    }
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
        // Another run may be creating or updating the same layout.
        let _lock = crate::atomic::lock_dir(dir).map_err(|e| Error::io(ctx("lock"), e))?;
        crate::atomic::sweep_stale(&dir.join("blobs").join("sha256"), ".pause-verify-", ".tmp");
        crate::atomic::sweep_stale(dir, ".pause-verify-", ".tmp");
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

    /// Write a blob whose bytes the caller vouches for (verified in this process) under
    /// `d`'s name: temp file + rename, no hashing.
    fn write_new(&self, d: &Descriptor, f: impl FnOnce(&mut File) -> io::Result<()>) -> Result<()> {
        let dir = self.dir.join("blobs").join("sha256");
        let ctx = || format!("writing a blob into {}", dir.display());
        let mut tmp = crate::atomic::temp_file_in(&dir, ".pause-verify-", ".tmp")
            .map_err(|e| Error::io(ctx(), e))?;
        f(tmp.as_file_mut()).map_err(|e| Error::io(ctx(), e))?;
        readable(tmp.as_file()).map_err(|e| Error::io(ctx(), e))?;
        let dest = self.blob_path(&d.digest);
        match tmp.persist_noclobber(&dest) {
            Ok(_) => Ok(()),
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(Error::io(ctx(), e.error)),
        }
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
        let mut tmp = crate::atomic::temp_file_in(&dir, ".pause-verify-", ".tmp")
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

    fn put_verified(&mut self, blob: &VerifiedBlob) -> Result<Placement> {
        let d = blob.descriptor();
        if self.has_blob(d)? {
            return Ok(Placement::Present);
        }
        if let Some(bytes) = blob.bytes() {
            // Verified when it was received: written, not hashed again.
            self.write_new(d, |out| out.write_all(bytes))?;
            return Ok(Placement::Copied);
        }
        if let Some(src) = blob.path() {
            if let Some(staged) = self.stage_link(d, src)? {
                let meta = staged
                    .metadata()
                    .map_err(|e| Error::io(format!("checking a link to {}", src.display()), e))?;
                if blob.is_same_file(&meta) {
                    staged.commit()?;
                    return Ok(Placement::Linked);
                }
                // Not the inode that was verified (replaced since): copy and verify.
            }
        }
        let mut r = blob
            .open()
            .map_err(|e| Error::io(format!("opening blob {}", d.digest), e))?;
        self.put_blob(&mut r, Some(d))?;
        Ok(Placement::Copied)
    }

    fn stage_link(&mut self, desc: &Descriptor, src: &Path) -> Result<Option<StagedBlob>> {
        let dir = self.dir.join("blobs").join("sha256");
        let made = tempfile::Builder::new()
            .prefix(".pause-verify-")
            .suffix(".link")
            .make_in(&dir, |p| {
                crate::atomic::note_temporary(p);
                fs::hard_link(src, p)
            });
        // EXDEV, EPERM (protected_hardlinks), no such file, a filesystem without links:
        // the caller copies, which reports a missing source properly.
        let Ok(made) = made else { return Ok(None) };
        let tmp = made.into_temp_path();
        let Ok(file) = File::open(&tmp) else {
            return Ok(None);
        };
        match file.metadata() {
            Ok(m) if linkable(&m) && m.len() == desc.size => Ok(Some(StagedBlob {
                tmp,
                file,
                dest: self.blob_path(&desc.digest),
            })),
            _ => Ok(None),
        }
    }

    fn name(&self) -> String {
        format!("oci:{}", self.dir.display())
    }

    /// Listed in index.json as a referrers API would list it (artifactType, the
    /// manifest's annotations), untagged.
    fn put_referrer(
        &mut self,
        _subject: &Digest,
        manifest: &[u8],
        media_type: &str,
    ) -> Result<super::referrers::ReferrersVia> {
        let listed = super::referrers::describe_referrer(manifest, media_type)?;
        self.put_bytes(media_type, manifest)?;
        self.add_manifest(&listed, None)?;
        Ok(super::referrers::ReferrersVia::Layout)
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
        // Read-modify-write: one run at a time.
        let _lock = crate::atomic::lock_dir(&self.dir)
            .map_err(|e| Error::io(format!("locking {}", self.dir.display()), e))?;
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

/// Rename a staging directory (made beside `dest`) to `dest`, readable by others as a
/// directory made under umask 022 would be; on failure the staging directory is removed.
/// Layout and `dir:` sinks both commit this way.
pub(super) fn move_into_place(stage: tempfile::TempDir, dest: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(stage.path(), fs::Permissions::from_mode(0o755))
            .map_err(|e| Error::io(format!("preparing {}", dest.display()), e))?;
    }
    let staged = stage.keep();
    fs::rename(&staged, dest).map_err(|e| {
        let _ = fs::remove_dir_all(&staged);
        Error::io(
            format!("moving the output into place at {}", dest.display()),
            e,
        )
    })
}

/// An OCI layout as a destination ([`super::open_sink`]): an existing layout is written
/// in place (blobs first, index.json last, atomically); a DEST that does not exist is
/// built under a temporary sibling and renamed into place by [`ImageSink::commit`], so a
/// failed write leaves nothing. `tag` is the tag recorded when `add_manifest` gets none.
pub struct LayoutSink {
    writer: LayoutWriter,
    dest: PathBuf,
    stage: Option<tempfile::TempDir>,
    /// Keeps the staging directory marked live for [`crate::atomic::sweep_stale`].
    _held: Option<crate::atomic::DirLock>,
    tag: Option<String>,
}

impl LayoutSink {
    pub fn open(dir: &Path, tag: Option<&str>) -> Result<LayoutSink> {
        let tag = tag.map(str::to_string);
        if dir.exists() {
            if !dir.is_dir() {
                return Err(Error::Unsupported(format!(
                    "{}: exists and is not a directory; give a new directory or an existing OCI layout",
                    dir.display()
                )));
            }
            let empty = fs::read_dir(dir)
                .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?
                .next()
                .is_none();
            if !empty && !dir.join(OCI_LAYOUT).exists() {
                return Err(Error::Unsupported(format!(
                    "{}: exists and is not an OCI layout; give a new directory",
                    dir.display()
                )));
            }
            return Ok(LayoutSink {
                writer: LayoutWriter::create(dir)?,
                dest: dir.to_path_buf(),
                stage: None,
                _held: None,
                tag,
            });
        }
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        // A killed run's staging directory is removed here; a live run's is held (locked).
        crate::atomic::sweep_stale(parent, ".pause-verify-out-", "");
        let (stage, held) =
            crate::atomic::temp_dir_in(parent, ".pause-verify-out-").map_err(|e| {
                Error::io(
                    format!("creating a staging directory in {}", parent.display()),
                    e,
                )
            })?;
        Ok(LayoutSink {
            writer: LayoutWriter::create(stage.path())?,
            dest: dir.to_path_buf(),
            stage: Some(stage),
            _held: Some(held),
            tag,
        })
    }

    /// Where blobs are being written now (the staging directory until commit).
    pub fn writer(&mut self) -> &mut LayoutWriter {
        &mut self.writer
    }
}

impl ImageSink for LayoutSink {
    fn has_blob(&self, desc: &Descriptor) -> Result<bool> {
        self.writer.has_blob(desc)
    }
    fn put_blob(
        &mut self,
        reader: &mut dyn Read,
        expected: Option<&Descriptor>,
    ) -> Result<Descriptor> {
        self.writer.put_blob(reader, expected)
    }
    fn put_bytes(&mut self, media_type: &str, bytes: &[u8]) -> Result<Descriptor> {
        self.writer.put_bytes(media_type, bytes)
    }
    fn put_verified(&mut self, blob: &VerifiedBlob) -> Result<Placement> {
        self.writer.put_verified(blob)
    }
    fn stage_link(&mut self, desc: &Descriptor, src: &Path) -> Result<Option<StagedBlob>> {
        self.writer.stage_link(desc, src)
    }
    fn add_manifest(&mut self, desc: &Descriptor, tag: Option<&str>) -> Result<()> {
        let tag = tag.map(str::to_string).or_else(|| self.tag.clone());
        self.writer.add_manifest(desc, tag.as_deref())
    }
    fn put_referrer(
        &mut self,
        subject: &Digest,
        manifest: &[u8],
        media_type: &str,
    ) -> Result<super::referrers::ReferrersVia> {
        self.writer.put_referrer(subject, manifest, media_type)
    }
    fn lock_for_update(&self) -> Result<Option<crate::atomic::DirLock>> {
        let dir = &self.writer.dir;
        crate::atomic::lock_dir(dir)
            .map(Some)
            .map_err(|e| Error::io(format!("locking {}", dir.display()), e))
    }
    fn name(&self) -> String {
        format!("oci:{}", self.dest.display())
    }
    fn commit(&mut self) -> Result<()> {
        let Some(stage) = self.stage.take() else {
            return Ok(());
        };
        move_into_place(stage, &self.dest)?;
        // The staging directory is the destination now: release its liveness lock, or
        // every later writer of DEST (this run's attachments, the next run) would wait on it.
        self._held = None;
        self.writer = LayoutWriter {
            dir: self.dest.clone(),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::source::ImageSource;
    use std::sync::Arc;

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

    #[cfg(unix)]
    fn ino(p: &Path) -> (u64, u64) {
        use std::os::unix::fs::MetadataExt;
        let m = fs::metadata(p).unwrap();
        (m.dev(), m.ino())
    }

    /// A layout holding one blob (written through the writer: 0644, ours).
    fn layout_with(dir: &Path, bytes: &[u8]) -> (LayoutWriter, Descriptor) {
        let mut w = LayoutWriter::create(dir).unwrap();
        let d = w.put_bytes(media::OCI_LAYER_GZIP, bytes).unwrap();
        (w, d)
    }

    #[cfg(unix)]
    #[test]
    fn staged_link_is_the_same_file_and_visible_only_on_commit() {
        let t = tempfile::tempdir().unwrap();
        let body = b"layer bytes ".repeat(10_000);
        let (a, d) = layout_with(&t.path().join("a"), &body);
        let mut b = LayoutWriter::create(&t.path().join("b")).unwrap();
        let src = a.blob_path(&d.digest);
        let staged = b
            .stage_link(&d, &src)
            .unwrap()
            .expect("same filesystem: linked");
        assert!(!b.has_blob(&d).unwrap(), "not visible before commit");
        let mut got = Vec::new();
        staged.reader().unwrap().read_to_end(&mut got).unwrap();
        assert_eq!(got, body);
        staged.commit().unwrap();
        assert_eq!(fs::read(b.blob_path(&d.digest)).unwrap(), body);
        assert_eq!(ino(&b.blob_path(&d.digest)), ino(&src), "a hard link");

        // Dropped without commit: the temporary link goes, nothing lands.
        let (a2, d2) = layout_with(&t.path().join("a2"), b"other");
        let staged = b
            .stage_link(&d2, &a2.blob_path(&d2.digest))
            .unwrap()
            .unwrap();
        drop(staged);
        let names: Vec<_> = fs::read_dir(t.path().join("b/blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[cfg(unix)]
    #[test]
    fn files_unfit_to_share_are_not_linked() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let (a, d) = layout_with(&t.path().join("a"), b"shared bytes");
        let mut b = LayoutWriter::create(&t.path().join("b")).unwrap();
        let src = a.blob_path(&d.digest);
        for mode in [0o666, 0o600, 0o640] {
            fs::set_permissions(&src, fs::Permissions::from_mode(mode)).unwrap();
            assert!(b.stage_link(&d, &src).unwrap().is_none(), "mode {mode:o}");
        }
        fs::set_permissions(&src, fs::Permissions::from_mode(0o444)).unwrap();
        assert!(
            b.stage_link(&d, &src).unwrap().is_some(),
            "read-only is fine"
        );
        // A size that disagrees with the descriptor: not staged (the copy reports it).
        let mut wrong = d.clone();
        wrong.size += 1;
        assert!(b.stage_link(&wrong, &src).unwrap().is_none());
        // No such file: not staged.
        assert!(b.stage_link(&d, &t.path().join("nope")).unwrap().is_none());
        let names: Vec<_> = fs::read_dir(t.path().join("b/blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn across_filesystems_nothing_is_staged() {
        let shm = Path::new("/dev/shm");
        let t = tempfile::tempdir().unwrap();
        let Ok(other) = tempfile::tempdir_in(shm) else {
            return; // no tmpfs here
        };
        if ino(other.path()).0 == ino(t.path()).0 {
            return; // same device after all
        }
        let (a, d) = layout_with(other.path(), b"elsewhere");
        let mut b = LayoutWriter::create(t.path()).unwrap();
        assert!(b.stage_link(&d, &a.blob_path(&d.digest)).unwrap().is_none());
        // put_verified falls back to a verified copy.
        let f = Arc::new(File::open(a.blob_path(&d.digest)).unwrap());
        let v = VerifiedBlob::from_verified_file(d.clone(), a.blob_path(&d.digest), f);
        assert_eq!(b.put_verified(&v).unwrap(), Placement::Copied);
        assert_eq!(fs::read(b.blob_path(&d.digest)).unwrap(), b"elsewhere");
        assert_ne!(ino(&b.blob_path(&d.digest)), ino(&a.blob_path(&d.digest)));
    }

    #[cfg(unix)]
    #[test]
    fn put_verified_links_only_the_verified_inode() {
        let t = tempfile::tempdir().unwrap();
        let body = b"verified ".repeat(1000);
        let (a, d) = layout_with(&t.path().join("a"), &body);
        let src = a.blob_path(&d.digest);

        // The very file verified: linked.
        let mut b = LayoutWriter::create(&t.path().join("b")).unwrap();
        let v = VerifiedBlob::from_verified_file(
            d.clone(),
            src.clone(),
            Arc::new(File::open(&src).unwrap()),
        );
        assert_eq!(b.put_verified(&v).unwrap(), Placement::Linked);
        assert_eq!(ino(&b.blob_path(&d.digest)), ino(&src));
        assert_eq!(b.put_verified(&v).unwrap(), Placement::Present);

        // The path now names another file (same bytes): copied and verified again.
        let held = Arc::new(File::open(&src).unwrap());
        let v = VerifiedBlob::from_verified_file(d.clone(), src.clone(), held);
        let other = t.path().join("other");
        fs::write(&other, &body).unwrap();
        fs::rename(&other, &src).unwrap();
        let mut c = LayoutWriter::create(&t.path().join("c")).unwrap();
        assert_eq!(c.put_verified(&v).unwrap(), Placement::Copied);
        assert_ne!(ino(&c.blob_path(&d.digest)), ino(&src));
        assert_eq!(fs::read(c.blob_path(&d.digest)).unwrap(), body);

        // ... and when that other file holds other bytes, refused, nothing lands.
        let held = Arc::new(File::open(&src).unwrap());
        let v = VerifiedBlob::from_verified_file(d.clone(), src.clone(), held);
        let mut bad = body.clone();
        bad[10] ^= 1;
        fs::write(&other, &bad).unwrap();
        fs::rename(&other, &src).unwrap();
        let mut e = LayoutWriter::create(&t.path().join("e")).unwrap();
        let err = e.put_verified(&v).unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        assert!(!e.has_blob(&d).unwrap());
        assert_eq!(
            fs::read_dir(t.path().join("e/blobs/sha256"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn put_verified_memory_is_written() {
        let t = tempfile::tempdir().unwrap();
        let body = bytes::Bytes::from_static(b"from the wire");
        let d = Descriptor::of_bytes(media::OCI_LAYER_GZIP, &body);
        let mut w = LayoutWriter::create(t.path()).unwrap();
        let v = VerifiedBlob::from_verified_memory(d.clone(), body.clone());
        assert_eq!(w.put_verified(&v).unwrap(), Placement::Copied);
        assert_eq!(fs::read(w.blob_path(&d.digest)).unwrap(), body);
        assert_eq!(w.put_verified(&v).unwrap(), Placement::Present);
    }
}
