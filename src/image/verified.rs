//! [`VerifiedBlob`]: a blob whose bytes were checked against their descriptor (size and
//! digest) earlier in this process, carried as a type so a sink can store it without
//! hashing it again. Only this crate's transports make one, right where they did the
//! check (a registry download hashed while it landed, a cache entry hashed when it was
//! looked up); nothing is trusted because of where a file lives.
//!
//! A file-backed blob keeps the handle the check was made through, so the inode cannot
//! be freed (and its number reused) while the value lives, and a sink that hard-links
//! the path can confirm the link names that very inode ([`VerifiedBlob::is_same_file`]).
//!
//! Does not own where blobs are stored (see `layout`, `cache`, `registry`).

use super::model::Descriptor;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A blob verified against `descriptor()` in this process.
#[derive(Debug, Clone)]
pub struct VerifiedBlob {
    desc: Descriptor,
    body: Body,
}

#[derive(Debug, Clone)]
enum Body {
    Memory(bytes::Bytes),
    File { path: PathBuf, file: Arc<File> },
}

impl VerifiedBlob {
    /// Bytes the caller has just checked against `desc` (size and digest).
    pub(crate) fn from_verified_memory(desc: Descriptor, bytes: bytes::Bytes) -> VerifiedBlob {
        VerifiedBlob {
            desc,
            body: Body::Memory(bytes),
        }
    }

    /// A file whose content the caller checked against `desc` through `file` (the
    /// handle it read or wrote), now found at `path`.
    pub(crate) fn from_verified_file(
        desc: Descriptor,
        path: PathBuf,
        file: Arc<File>,
    ) -> VerifiedBlob {
        VerifiedBlob {
            desc,
            body: Body::File { path, file },
        }
    }

    pub fn descriptor(&self) -> &Descriptor {
        &self.desc
    }

    /// The bytes, when the blob is held in memory.
    pub fn bytes(&self) -> Option<&bytes::Bytes> {
        match &self.body {
            Body::Memory(b) => Some(b),
            Body::File { .. } => None,
        }
    }

    /// The path of a file-backed blob (where it was when verified).
    pub fn path(&self) -> Option<&Path> {
        match &self.body {
            Body::File { path, .. } => Some(path),
            Body::Memory(_) => None,
        }
    }

    /// True if `meta` (e.g. of a hard link just made to [`VerifiedBlob::path`]) is the
    /// very file that was verified: same device and inode as the held handle.
    pub fn is_same_file(&self, meta: &std::fs::Metadata) -> bool {
        let Body::File { file, .. } = &self.body else {
            return false;
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            file.metadata()
                .is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino())
        }
        #[cfg(not(unix))]
        {
            let _ = (file, meta);
            false
        }
    }

    /// The bytes as a stream, for a sink that copies. A file is opened anew by path, so
    /// a copy must verify what it reads again (the file could have changed since).
    pub fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        Ok(match &self.body {
            Body::Memory(b) => Box::new(io::Cursor::new(b.clone())),
            Body::File { path, .. } => Box::new(File::open(path)?),
        })
    }
}
