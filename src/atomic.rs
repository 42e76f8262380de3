//! Write-then-rename: the one way this crate puts a file on disk.
//!
//! A reader of our output (a layout, a key, an attestation) must never see half a file,
//! so every file is written under a temporary name in its final directory and renamed
//! into place only after it is complete and synced.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// Write `path` atomically from a closure that fills the file. Nothing is left behind if
/// the closure fails.
pub fn write_with<T>(
    path: &Path,
    fill: impl FnOnce(&mut fs::File) -> io::Result<T>,
) -> io::Result<T> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".pause-verify-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    let out = fill(tmp.as_file_mut())?;
    tmp.as_file_mut().flush()?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(out)
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
