//! Write-then-rename: the one way this crate puts a file on disk.
//!
//! A reader of our output (a layout, a key, an attestation) must never see half a file,
//! so every file is written under a temporary name in its final directory and renamed
//! into place only after it is complete and synced.
//!
//! Also owns the list of temporary names this process has made ([`note_temporary`]), so
//! that an interrupted run (Ctrl-C, a cancelled CI job's SIGTERM) removes them instead of
//! leaving hidden `.pause-verify-*` litter beside its outputs ([`remove_temporaries`],
//! called by the binary's signal handler). A name is noted when it is made and never
//! un-noted: once renamed or dropped it no longer exists, so removing it again is a no-op.
//! That keeps the temp sites free of guards; the list is pruned of vanished names as it
//! grows. SIGKILL cannot be handled: after `kill -9` hidden temporary names may remain;
//! nothing ever reads them as output.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

static TEMPORARIES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Remember a temporary file or directory this process made, for [`remove_temporaries`].
pub fn note_temporary(path: &Path) {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut live = TEMPORARIES.lock().unwrap_or_else(|e| e.into_inner());
    if live.len() >= 4096 {
        live.retain(|p| p.symlink_metadata().is_ok());
    }
    live.push(path);
}

/// Remove every noted temporary that still exists; returns how many were removed. For an
/// interrupted process only: callers exit right after.
pub fn remove_temporaries() -> usize {
    let live = TEMPORARIES.lock().unwrap_or_else(|e| e.into_inner());
    let mut removed = 0;
    for p in live.iter().rev() {
        let gone = match p.symlink_metadata() {
            Ok(m) if m.is_dir() => fs::remove_dir_all(p).is_ok(),
            Ok(_) => fs::remove_file(p).is_ok(),
            Err(_) => false,
        };
        removed += usize::from(gone);
    }
    removed
}

/// Write `path` atomically from a closure that fills the file. Nothing is left behind if
/// the closure fails.
pub fn write_with<T>(
    path: &Path,
    fill: impl FnOnce(&mut fs::File) -> io::Result<T>,
) -> io::Result<T> {
    let (staged, out) = stage(path, fill)?;
    staged.commit()?;
    Ok(out)
}

/// A file written whole and synced under a temporary name beside its destination, not yet
/// visible. For outputs that must appear together (a key pair): stage every one, then
/// commit them, so a failure while writing leaves the old files as they were.
#[derive(Debug)]
pub struct Staged {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
}

/// Fill a temporary file beside `path`; dropping the result removes it.
pub fn stage<T>(
    path: &Path,
    fill: impl FnOnce(&mut fs::File) -> io::Result<T>,
) -> io::Result<(Staged, T)> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".pause-verify-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    note_temporary(tmp.path());
    let out = fill(tmp.as_file_mut())?;
    tmp.as_file_mut().flush()?;
    tmp.as_file().sync_all()?;
    Ok((
        Staged {
            tmp,
            path: path.to_path_buf(),
        },
        out,
    ))
}

impl Staged {
    /// Rename into place.
    pub fn commit(self) -> io::Result<()> {
        self.tmp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Write `bytes` to `path` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, |f| f.write_all(bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        super::write(&p, b"abc").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"abc");
        let err = super::write_with(&dir.path().join("y"), |_| -> std::io::Result<()> {
            Err(std::io::Error::other("boom"))
        });
        assert!(err.is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "only the finished file remains");
    }
}
