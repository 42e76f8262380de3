//! The content-addressed blob cache shared by every command:
//! `$XDG_CACHE_HOME/pause-verify/blobs/sha256/<hex>` (else `~/.cache/pause-verify/...`).
//!
//! Owns where cached blobs live and the rule that only verified bytes get in or out: a
//! blob is written under a temporary name in the cache directory while it is hashed and
//! renamed to its digest only when digest and size match (the same write-then-rename
//! rule as `crate::atomic`, done with `tempfile` directly because registry downloads
//! arrive in async chunks rather than through one closure); a cache hit is hashed again
//! before it is handed out, and a corrupt entry is deleted, never served.
//!
//! Entries are 0644 (a layout writer may hard-link them, see `layout`); the cache root is
//! made 0700 when this module creates it, so other users cannot read it.
//!
//! Does not own fetching (see `registry`). `--no-cache` or `PAUSE_VERIFY_NO_CACHE=1`
//! means no `BlobCache` is built at all.

use crate::image::digest::{Digest, HashingReader};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The cache directory under the user's XDG cache home.
pub fn default_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(base.join("pause-verify"))
}

/// True when the environment turns the cache off (`PAUSE_VERIFY_NO_CACHE=1`).
pub fn disabled_by_env() -> bool {
    std::env::var("PAUSE_VERIFY_NO_CACHE").is_ok_and(|v| !v.is_empty() && v != "0")
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("blob cache {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "blob {expected}: content does not match its descriptor (got {actual}, {size} bytes; expected {expected_size} bytes)"
    )]
    Mismatch {
        expected: Digest,
        actual: Digest,
        size: u64,
        expected_size: u64,
    },
}

/// A directory of verified blobs named by digest.
#[derive(Debug, Clone)]
pub struct BlobCache {
    root: PathBuf,
}

impl BlobCache {
    /// Use (and create) `root/blobs/sha256`.
    pub fn open(root: &Path) -> Result<BlobCache, CacheError> {
        let c = BlobCache {
            root: root.to_path_buf(),
        };
        if !root.exists() {
            let mut b = fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(root).map_err(|source| CacheError::Io {
                path: root.to_path_buf(),
                source,
            })?;
        }
        fs::create_dir_all(c.dir()).map_err(|source| CacheError::Io {
            path: c.dir(),
            source,
        })?;
        // Downloads a killed run left half done (a live run's are held, see `atomic`).
        crate::atomic::sweep_stale(&c.dir(), ".partial-", "");
        Ok(c)
    }

    fn dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    /// Where `digest` lives (whether or not it is there).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir().join(digest.hex())
    }

    /// The cached blob, verified now against `digest` and `size`. A corrupt or
    /// wrong-sized entry is removed and reported as absent.
    pub fn get(&self, digest: &Digest, size: u64) -> Result<Option<PathBuf>, CacheError> {
        Ok(self.get_file(digest, size)?.map(|(p, _)| p))
    }

    /// [`BlobCache::get`], with the handle the entry was verified through (it keeps that
    /// inode alive and identifies it).
    pub fn get_file(
        &self,
        digest: &Digest,
        size: u64,
    ) -> Result<Option<(PathBuf, fs::File)>, CacheError> {
        let p = self.path(digest);
        let meta = match fs::metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CacheError::Io { path: p, source }),
        };
        if meta.len() == size {
            let f = fs::File::open(&p).map_err(|source| CacheError::Io {
                path: p.clone(),
                source,
            })?;
            let mut r = HashingReader::new(&f);
            if let Err(source) = super::layer::drain(&mut r) {
                return Err(CacheError::Io {
                    path: p.clone(),
                    source,
                });
            }
            let (got, n) = r.finish();
            if got == *digest && n == size {
                return Ok(Some((p, f)));
            }
        }
        let _ = fs::remove_file(&p);
        Ok(None)
    }

    /// A temporary file in the cache directory, to be filled and then [`BlobCache::commit`]ted.
    pub fn temp(&self) -> Result<tempfile::NamedTempFile, CacheError> {
        crate::atomic::temp_file_in(&self.dir(), ".partial-", "").map_err(|source| CacheError::Io {
            path: self.dir(),
            source,
        })
    }

    /// Move a filled temp file into place. The caller has checked digest and size while
    /// writing (that is the "verified on write"); a mismatch never reaches this call.
    pub fn commit(
        &self,
        tmp: tempfile::NamedTempFile,
        digest: &Digest,
    ) -> Result<PathBuf, CacheError> {
        Ok(self.commit_file(tmp, digest)?.0)
    }

    /// [`BlobCache::commit`], also giving back the handle the blob was written through.
    pub fn commit_file(
        &self,
        mut tmp: tempfile::NamedTempFile,
        digest: &Digest,
    ) -> Result<(PathBuf, fs::File), CacheError> {
        let p = self.path(digest);
        let io_err = |source| CacheError::Io {
            path: p.clone(),
            source,
        };
        tmp.as_file_mut().flush().map_err(io_err)?;
        shareable(tmp.as_file()).map_err(io_err)?;
        let f = tmp.persist(&p).map_err(|e| io_err(e.error))?;
        Ok((p, f))
    }

    /// Copy a stream into the cache, verifying digest and size; nothing is left on mismatch.
    pub fn insert(
        &self,
        digest: &Digest,
        size: u64,
        reader: impl io::Read,
    ) -> Result<PathBuf, CacheError> {
        let mut tmp = self.temp()?;
        let mut r = HashingReader::new(reader.take(size.saturating_add(1)));
        io::copy(&mut r, tmp.as_file_mut()).map_err(|source| CacheError::Io {
            path: tmp.path().to_path_buf(),
            source,
        })?;
        let (actual, n) = r.finish();
        if actual != *digest || n != size {
            return Err(CacheError::Mismatch {
                expected: digest.clone(),
                actual,
                size: n,
                expected_size: size,
            });
        }
        self.commit(tmp, digest)
    }
}

/// 0644, as layout blobs are (tempfile makes 0600): a layout may hard-link the entry.
pub(crate) fn shareable(f: &fs::File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(fs::Permissions::from_mode(0o644))?;
    }
    let _ = f;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_and_refuse_wrong_bytes() {
        let d = tempfile::tempdir().unwrap();
        let c = BlobCache::open(d.path()).unwrap();
        let data = b"some layer bytes".repeat(100);
        let dg = Digest::of(&data);
        assert!(c.get(&dg, data.len() as u64).unwrap().is_none());
        let p = c.insert(&dg, data.len() as u64, &data[..]).unwrap();
        assert_eq!(fs::read(&p).unwrap(), data);
        assert_eq!(c.get(&dg, data.len() as u64).unwrap(), Some(p.clone()));

        // Wrong bytes for a digest: refused, nothing left in the cache directory.
        let other = Digest::of(b"other");
        assert!(c.insert(&other, 5, &b"wrong"[..]).is_err());
        assert!(!c.path(&other).exists());
        let names: Vec<_> = fs::read_dir(c.dir()).unwrap().collect();
        assert_eq!(names.len(), 1, "only the good blob remains");

        // A corrupted entry is detected on read and removed.
        fs::write(&p, b"tampered").unwrap();
        assert!(c.get(&dg, data.len() as u64).unwrap().is_none());
        assert!(!p.exists());
    }

    #[test]
    fn longer_stream_than_descriptor_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let c = BlobCache::open(d.path()).unwrap();
        let data = b"abcdef";
        let dg = Digest::of(&data[..3]);
        assert!(c.insert(&dg, 3, &data[..3]).is_ok());
        let dg2 = Digest::of(&data[..4]);
        assert!(
            c.insert(&dg2, 4, &data[..]).is_err(),
            "trailing bytes are refused"
        );
        assert!(!c.path(&dg2).exists());
    }
}
