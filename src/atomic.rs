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
//! grows. SIGKILL cannot be handled: after `kill -9` hidden temporary names remain
//! (nothing ever reads them as output) until the next run on that directory sweeps them.
//!
//! Concurrent runs: a read-modify-write of a shared file (an attestations directory's
//! `.intoto.jsonl`, a layout's `index.json` and cosign tags) happens under [`lock_dir`], an
//! exclusive `flock` on the directory itself (no lock file to leave behind). Temporaries
//! are `flock`ed by their maker while it lives ([`temp_file_in`], [`temp_dir_in`]), so the
//! next run on a directory can tell a killed run's leftovers (unlocked, and older than
//! [`STALE_AFTER`]) from a live run's and remove them ([`sweep_stale`]).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

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
    let mut tmp = temp_file_in(dir, ".pause-verify-", ".tmp")?;
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

/// How long [`lock_dir`] waits for another run before giving up.
pub const LOCK_WAIT: Duration = Duration::from_secs(120);
/// An unlocked temporary older than this is a dead run's leftover.
pub const STALE_AFTER: Duration = Duration::from_secs(10);

/// Directories (by device and inode, so a held directory renamed since is still known)
/// this process holds a [`DirLock`] on. A second lock on one of them from
/// this process is a no-op guard: two `flock`s on two descriptors of one directory
/// exclude each other, so nested calls (and a staging directory we made and hold) would
/// otherwise deadlock. The lock is between processes; one process's writers of a given
/// file are sequential.
static HELD: Mutex<Vec<(u64, u64)>> = Mutex::new(Vec::new());

fn held() -> std::sync::MutexGuard<'static, Vec<(u64, u64)>> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

/// An exclusive lock on a directory, held until dropped.
#[derive(Debug)]
pub struct DirLock {
    /// `None` when this process already held it (an inner, no-op guard).
    held: Option<(fs::File, (u64, u64))>,
}

impl Drop for DirLock {
    fn drop(&mut self) {
        if let Some((_, key)) = self.held.take() {
            let mut h = held();
            if let Some(i) = h.iter().position(|p| p == &key) {
                h.swap_remove(i);
            }
        }
    }
}

#[cfg(unix)]
fn flock(f: &fs::File, op: libc::c_int) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), op) } == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(false),
            _ => return Err(e),
        }
    }
}

fn inode(m: &fs::Metadata) -> (u64, u64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (m.dev(), m.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        (0, 0)
    }
}

/// Lock `dir` (which must exist) against other pause-verify runs, waiting up to
/// [`LOCK_WAIT`]; then an error naming the directory.
pub fn lock_dir(dir: &Path) -> io::Result<DirLock> {
    let f = fs::File::open(dir)?;
    let key = inode(&f.metadata()?);
    if held().contains(&key) {
        return Ok(DirLock { held: None });
    }
    #[cfg(unix)]
    {
        let start = Instant::now();
        loop {
            match flock(&f, libc::LOCK_EX | libc::LOCK_NB) {
                Ok(true) => break,
                Ok(false) => {}
                // A filesystem without flock (some network mounts): writes go ahead
                // unlocked, as they did before locks existed, rather than fail.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ENOLCK | libc::EOPNOTSUPP | libc::ENOSYS)
                    ) =>
                {
                    return Ok(DirLock { held: None });
                }
                Err(e) => return Err(e),
            }
            if start.elapsed() >= LOCK_WAIT {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "{}: another pause-verify run has held its lock for {} s; try again when it is done",
                        dir.display(),
                        LOCK_WAIT.as_secs()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    held().push(key);
    Ok(DirLock {
        held: Some((f, key)),
    })
}

/// Mark a temporary as alive for as long as `f` (or a clone of it) is open.
fn hold(f: &fs::File) {
    #[cfg(unix)]
    let _ = flock(f, libc::LOCK_EX | libc::LOCK_NB);
}

/// A new temporary file in `dir` named `PREFIX…SUFFIX`: noted for
/// [`remove_temporaries`] and held (see [`sweep_stale`]).
pub fn temp_file_in(dir: &Path, prefix: &str, suffix: &str) -> io::Result<tempfile::NamedTempFile> {
    let mut b = tempfile::Builder::new();
    b.prefix(prefix).suffix(suffix);
    // Outputs are public artefacts (attestations, reports, layouts): created 0666 less the
    // umask, as `>` in a shell would, not tempfile's 0600. Secrets (private keys) set their
    // own mode before any byte is written.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(fs::Permissions::from_mode(0o666));
    }
    let tmp = b.tempfile_in(dir)?;
    note_temporary(tmp.path());
    hold(tmp.as_file());
    Ok(tmp)
}

/// A new temporary directory in `parent`, locked (as [`lock_dir`] does; this process's
/// later locks on it are no-ops) until the returned guard is dropped, so that
/// [`sweep_stale`] leaves it alone.
pub fn temp_dir_in(parent: &Path, prefix: &str) -> io::Result<(tempfile::TempDir, DirLock)> {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir_in(parent)?;
    note_temporary(dir.path());
    let lock = lock_dir(dir.path())?;
    Ok((dir, lock))
}

/// Remove the leftovers of killed runs in `dir`: entries named `prefix…suffix` that no live
/// process holds and that are older than [`STALE_AFTER`]. Best effort (errors are
/// ignored: the leftovers are hidden and never read); returns how many were removed.
pub fn sweep_stale(dir: &Path, prefix: &str, suffix: &str) -> usize {
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for e in rd.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with(prefix) || !name.ends_with(suffix) {
            continue;
        }
        let p = e.path();
        let Ok(meta) = p.symlink_metadata() else {
            continue;
        };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age >= STALE_AFTER);
        if !old || !(meta.is_file() || meta.is_dir()) {
            continue;
        }
        let Ok(f) = fs::File::open(&p) else { continue };
        #[cfg(unix)]
        if !flock(&f, libc::LOCK_EX | libc::LOCK_NB).unwrap_or(false) {
            continue;
        }
        let gone = if meta.is_dir() {
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        };
        removed += usize::from(gone.is_ok());
    }
    removed
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

    #[test]
    fn locks_exclude_other_processes_descriptors_and_nest() {
        let dir = tempfile::tempdir().unwrap();
        let outer = super::lock_dir(dir.path()).unwrap();
        let inner = super::lock_dir(dir.path()).unwrap();
        drop(inner);
        let p = dir.path().to_path_buf();
        let other = std::thread::spawn(move || {
            let f = std::fs::File::open(&p).unwrap();
            super::flock(&f, libc::LOCK_EX | libc::LOCK_NB).unwrap()
        });
        assert!(!other.join().unwrap(), "held while the outer guard lives");
        drop(outer);
        let _again = super::lock_dir(dir.path()).unwrap();
        // A staging directory we hold, renamed into place, is still ours.
        let (stage, _held) = super::temp_dir_in(dir.path(), ".pause-verify-out-").unwrap();
        let moved = dir.path().join("out");
        std::fs::rename(stage.path(), &moved).unwrap();
        let _inner = super::lock_dir(&moved).unwrap();
        std::fs::rename(&moved, stage.path()).unwrap();
    }

    #[test]
    fn sweeps_only_unheld_old_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let live = super::temp_file_in(dir.path(), ".partial-", "").unwrap();
        let dead = dir.path().join(".partial-dead");
        std::fs::write(&dead, b"x").unwrap();
        let young = dir.path().join(".partial-young");
        std::fs::write(&young, b"x").unwrap();
        let past = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for p in [live.path(), dead.as_path()] {
            std::fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(past)
                .unwrap();
        }
        assert_eq!(super::sweep_stale(dir.path(), ".partial-", ""), 1);
        assert!(!dead.exists());
        assert!(live.path().exists() && young.exists());
    }
}
