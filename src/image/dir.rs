//! `dir:DIR`: containers/image's `directory` transport (what `skopeo copy … dir:X`
//! writes), read ([`DirSource`]) and written ([`DirSink`]).
//!
//! Layout (containers/image `directory/directory_transport.go`):
//! - `version`: `Directory Transport Version: 1.1\n` (optional when reading; another
//!   major version is refused);
//! - `manifest.json`: the image's manifest, or the list for a multi-platform copy;
//! - `<hex>.manifest.json`: a list's instance manifests;
//! - `<hex>`: every other blob (config, layers), named by its sha256 hex;
//! - `signature-1`, `signature-2`, …: signatures of the top manifest, consecutive from 1;
//!   `<hex>.signature-N` for an instance. They are opaque here (containers/image's own
//!   format; `attest::simplesigning` reads the cosign kind).
//!
//! Every blob is verified against its descriptor as it streams (the model's
//! `VerifyingReader`); `manifest.json`'s digest is of its exact bytes. Writing is atomic
//! per file (temp name + rename), and a DIR that does not exist is built under a temporary
//! sibling and renamed into place on commit, as for layouts. The format has no tags: a
//! `dir:` holds one image.

use super::Digest;
use super::error::{Error, Result};
use super::model::{self, Descriptor, Root};
use super::sink::ImageSink;
use super::source::{ImageSource, VerifyingReader};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

const VERSION: &str = "version";
const VERSION_TEXT: &[u8] = b"Directory Transport Version: 1.1\n";
const MANIFEST: &str = "manifest.json";
/// Most signature files read for one manifest (cosign's layer limit).
pub const MAX_SIGNATURES: usize = 1000;

fn is_document(media_type: &str) -> bool {
    model::is_index(media_type) || model::is_manifest(media_type)
}

/// A whole small file (regular files only: a FIFO never blocks us), `None` if absent.
fn read_bounded(p: &Path, cap: &crate::limits::Cap) -> Result<Option<Vec<u8>>> {
    match crate::limits::read_capped(p, cap) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {}", p.display()), e)),
    }
}

/// Reads the image of a `dir:` directory.
pub struct DirSource {
    dir: PathBuf,
    manifest: Vec<u8>,
}

impl DirSource {
    pub fn open(dir: &Path) -> Result<DirSource> {
        let loc = || format!("dir:{}", dir.display());
        if let Some(v) = read_bounded(&dir.join(VERSION), &crate::limits::LAYOUT_JSON)? {
            if !v.starts_with(b"Directory Transport Version: 1.") {
                return Err(Error::Unsupported(format!(
                    "{}: {:?} (only Directory Transport Version 1.x is known)",
                    loc(),
                    String::from_utf8_lossy(&v).trim()
                )));
            }
        }
        let manifest =
            read_bounded(&dir.join(MANIFEST), &crate::limits::LAYOUT_JSON)?.ok_or_else(|| {
                Error::malformed(
                    loc(),
                    "no manifest.json: not a dir: image (skopeo copy … dir:DIR writes one)",
                )
            })?;
        Ok(DirSource {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    fn top(&self) -> Digest {
        Digest::of(&self.manifest)
    }

    fn signature_path(&self, manifest: &Digest, n: usize) -> PathBuf {
        if *manifest == self.top() {
            self.dir.join(format!("signature-{n}"))
        } else {
            self.dir.join(format!("{}.signature-{n}", manifest.hex()))
        }
    }
}

impl ImageSource for DirSource {
    fn name(&self) -> String {
        format!("dir:{}", self.dir.display())
    }

    fn root(&self) -> Result<Root> {
        Root::parse(
            &format!("{}/{MANIFEST}", self.name()),
            None,
            self.manifest.clone(),
        )
    }

    fn open_raw(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send>> {
        if desc.digest == self.top() {
            return Ok(Box::new(io::Cursor::new(self.manifest.clone())));
        }
        let p = if is_document(&desc.media_type) {
            self.dir
                .join(format!("{}.manifest.json", desc.digest.hex()))
        } else {
            self.dir.join(desc.digest.hex())
        };
        match crate::limits::open_regular(&p, "blob") {
            Ok(f) => Ok(Box::new(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::BlobMissing {
                digest: desc.digest.clone(),
                location: self.name(),
            }),
            Err(e) => Err(Error::io(format!("opening {}", p.display()), e)),
        }
    }

    fn attachment_kind(&self) -> super::source::AttachmentKind {
        super::source::AttachmentKind::SignatureFiles
    }

    fn stored_signatures(&self, manifest: &Digest) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for n in 1.. {
            let Some(b) = read_bounded(
                &self.signature_path(manifest, n),
                &crate::limits::DIR_SIGNATURE,
            )?
            else {
                break;
            };
            if out.len() == MAX_SIGNATURES {
                return Err(Error::malformed(
                    self.name(),
                    format!("more than {MAX_SIGNATURES} signature files"),
                ));
            }
            out.push(b);
        }
        Ok(out)
    }
}

/// Writes a `dir:` directory. A DIR that does not exist is staged beside it and renamed
/// into place on commit; an existing one must be empty or a `dir:` image (it has a
/// `version` file): blobs are added, `manifest.json` replaced, signatures appended.
pub struct DirSink {
    /// Where files go now (the staging directory until commit).
    work: PathBuf,
    dest: PathBuf,
    /// The staging directory and the lock that marks it live for `atomic::sweep_stale`
    /// (the next run removes it if this one is killed).
    stage: Option<(tempfile::TempDir, crate::atomic::DirLock)>,
}

impl DirSink {
    pub fn open(dir: &Path) -> Result<DirSink> {
        if dir.exists() {
            if !dir.is_dir() {
                return Err(Error::Unsupported(format!(
                    "dir:{}: exists and is not a directory",
                    dir.display()
                )));
            }
            let empty = fs::read_dir(dir)
                .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?
                .next()
                .is_none();
            if !empty && !dir.join(VERSION).is_file() {
                return Err(Error::Unsupported(format!(
                    "dir:{}: a non-empty directory that is not a dir: image (no version file); give a new or empty directory",
                    dir.display()
                )));
            }
            let s = DirSink {
                work: dir.to_path_buf(),
                dest: dir.to_path_buf(),
                stage: None,
            };
            s.write_file(VERSION, VERSION_TEXT)?;
            return Ok(s);
        }
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        crate::atomic::sweep_stale(parent, ".pause-verify-out-", "");
        let stage = crate::atomic::temp_dir_in(parent, ".pause-verify-out-").map_err(|e| {
            Error::io(
                format!("creating a staging directory in {}", parent.display()),
                e,
            )
        })?;
        let s = DirSink {
            work: stage.0.path().to_path_buf(),
            dest: dir.to_path_buf(),
            stage: Some(stage),
        };
        s.write_file(VERSION, VERSION_TEXT)?;
        Ok(s)
    }

    fn write_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let p = self.work.join(name);
        crate::atomic::write_with(&p, |f| {
            readable(f)?;
            f.write_all(bytes)
        })
        .map_err(|e| Error::io(format!("writing {}", p.display()), e))
    }

    fn blob_path(&self, d: &Descriptor) -> PathBuf {
        if is_document(&d.media_type) {
            self.work.join(format!("{}.manifest.json", d.digest.hex()))
        } else {
            self.work.join(d.digest.hex())
        }
    }

    fn signature_path(&self, manifest: &Digest, n: usize) -> Result<PathBuf> {
        let top = match read_bounded(&self.work.join(MANIFEST), &crate::limits::LAYOUT_JSON)? {
            Some(b) => Digest::of(&b) == *manifest,
            None => false,
        };
        Ok(if top {
            self.work.join(format!("signature-{n}"))
        } else {
            self.work.join(format!("{}.signature-{n}", manifest.hex()))
        })
    }
}

fn readable(f: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(fs::Permissions::from_mode(0o644))?;
    }
    let _ = f;
    Ok(())
}

impl ImageSink for DirSink {
    fn has_blob(&self, desc: &Descriptor) -> Result<bool> {
        match fs::metadata(self.blob_path(desc)) {
            Ok(m) => Ok(m.is_file() && m.len() == desc.size),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(format!("checking {}", self.work.display()), e)),
        }
    }

    fn put_blob(
        &mut self,
        reader: &mut dyn Read,
        expected: Option<&Descriptor>,
    ) -> Result<Descriptor> {
        let Some(d) = expected else {
            return Err(Error::Unsupported(
                "a dir: destination stores blobs by their known digest only".into(),
            ));
        };
        if self.has_blob(d)? {
            return Ok(d.clone());
        }
        let ctx = || format!("writing a blob into {}", self.work.display());
        let mut tmp = tempfile::Builder::new()
            .prefix(".pause-verify-")
            .suffix(".tmp")
            .tempfile_in(&self.work)
            .map_err(|e| Error::io(ctx(), e))?;
        crate::atomic::note_temporary(tmp.path());
        {
            let mut out = io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
            let mut v = VerifyingReader::new(reader, d);
            io::copy(&mut v, &mut out).map_err(|e| Error::from_io(e, ctx()))?;
            out.flush().map_err(|e| Error::io(ctx(), e))?;
        }
        readable(tmp.as_file()).map_err(|e| Error::io(ctx(), e))?;
        tmp.persist(self.blob_path(d))
            .map_err(|e| Error::io(ctx(), e.error))?;
        Ok(d.clone())
    }

    /// The one image of the directory: its bytes become `manifest.json` (a `dir:` has no
    /// tags; `tag` is not recorded).
    fn add_manifest(&mut self, desc: &Descriptor, _tag: Option<&str>) -> Result<()> {
        if !is_document(&desc.media_type) {
            return Err(Error::UnknownMediaType {
                what: format!("adding {} to {}", desc.digest, self.name()),
                media_type: desc.media_type.clone(),
            });
        }
        let p = self.blob_path(desc);
        let bytes =
            read_bounded(&p, &crate::limits::LAYOUT_JSON)?.ok_or_else(|| Error::BlobMissing {
                digest: desc.digest.clone(),
                location: self.name(),
            })?;
        if Digest::of(&bytes) != desc.digest {
            return Err(Error::DigestMismatch {
                blob: p.display().to_string(),
                expected: desc.digest.clone(),
                actual: Digest::of(&bytes),
            });
        }
        self.write_file(MANIFEST, &bytes)?;
        // The top manifest lives only under manifest.json, as skopeo writes it.
        fs::remove_file(&p).map_err(|e| Error::io(format!("removing {}", p.display()), e))
    }

    fn put_signatures(&mut self, manifest: &Digest, signatures: &[Vec<u8>]) -> Result<usize> {
        let mut present = Vec::new();
        let mut n = 1;
        loop {
            let p = self.signature_path(manifest, n)?;
            match read_bounded(&p, &crate::limits::DIR_SIGNATURE)? {
                Some(b) => present.push(b),
                None => break,
            }
            n += 1;
        }
        let mut added = 0;
        for s in signatures {
            if present.contains(s) {
                continue;
            }
            if present.len() >= MAX_SIGNATURES {
                return Err(Error::malformed(
                    self.name(),
                    format!("more than {MAX_SIGNATURES} signature files"),
                ));
            }
            let p = self.signature_path(manifest, n)?;
            let name = p.file_name().and_then(|f| f.to_str()).unwrap_or_default();
            self.write_file(name, s)?;
            present.push(s.clone());
            n += 1;
            added += 1;
        }
        Ok(added)
    }

    fn name(&self) -> String {
        format!("dir:{}", self.dest.display())
    }

    fn commit(&mut self) -> Result<()> {
        let Some((stage, _held)) = self.stage.take() else {
            return Ok(());
        };
        super::layout::move_into_place(stage, &self.dest)?;
        self.work = self.dest.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::model::media;

    #[test]
    fn write_read_back_and_signatures_append_once() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("img");
        let mut s = DirSink::open(&dir).unwrap();
        let cfg =
            br#"{"architecture":"amd64","os":"windows","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let c = s.put_bytes(media::OCI_CONFIG, cfg).unwrap();
        let m = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": media::OCI_MANIFEST, "config": c, "layers": []
        }))
        .unwrap();
        let md = s.put_bytes(media::OCI_MANIFEST, &m).unwrap();
        s.add_manifest(&md, None).unwrap();
        assert!(!dir.exists(), "not before commit");
        s.commit().unwrap();
        assert_eq!(fs::read(dir.join(VERSION)).unwrap(), VERSION_TEXT);
        assert_eq!(fs::read(dir.join(MANIFEST)).unwrap(), m);
        assert_eq!(fs::read(dir.join(c.digest.hex())).unwrap(), cfg);
        assert!(
            !dir.join(format!("{}.manifest.json", md.digest.hex()))
                .exists()
        );

        let src = DirSource::open(&dir).unwrap();
        assert_eq!(src.root().unwrap().descriptor().digest, md.digest);
        let img = crate::image::resolve(&src, None).unwrap();
        assert_eq!(img.config.descriptor.digest, c.digest);

        let mut s = DirSink::open(&dir).unwrap();
        assert_eq!(
            s.put_signatures(&md.digest, &[b"a".to_vec(), b"b".to_vec()])
                .unwrap(),
            2
        );
        assert_eq!(
            s.put_signatures(&md.digest, &[b"b".to_vec(), b"c".to_vec()])
                .unwrap(),
            1
        );
        assert_eq!(fs::read(dir.join("signature-3")).unwrap(), b"c");
        assert_eq!(src.stored_signatures(&md.digest).unwrap().len(), 3);
        // Signatures of another manifest are named by its hex.
        let other = Digest::of(b"other");
        assert!(src.stored_signatures(&other).unwrap().is_empty());

        // A tampered blob fails its digest when read.
        fs::write(dir.join(c.digest.hex()), b"{}").unwrap();
        let src = DirSource::open(&dir).unwrap();
        assert!(crate::image::resolve(&src, None).is_err());
        // Not a dir: image; a non-empty foreign directory is not written into.
        assert!(DirSource::open(t.path()).is_err());
        fs::write(t.path().join("x"), b"x").unwrap();
        assert!(DirSink::open(t.path()).is_err());
    }
}
