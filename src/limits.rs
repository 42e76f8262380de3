//! Resource bounds on hostile input: the one place that says how large each kind of input
//! may be, and the one way input files are opened.
//!
//! Every file we read as input (layout JSON, blobs, archives, keys, policies, pins,
//! recipes, `.reg` files, hives, envelopes, bundles) goes through [`open_regular`] or
//! [`read_capped`]: it must be a regular file (a FIFO, a device, a directory or a symlink
//! to one of them is refused, and opening never blocks: the file is opened with
//! `O_NONBLOCK` and checked through the descriptor we then read, so it cannot be swapped
//! in between), and it is read only up to its kind's cap, which the error names.
//! SECURITY.md has the table of caps; keep it in step with [`CAPS`].

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// A kind of input and the most bytes of it we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    /// What the input is, as the error names it ("public key file").
    pub kind: &'static str,
    pub bytes: u64,
}

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;

/// `oci-layout`, `index.json`, and the manifests, indexes and configs of any transport.
pub const LAYOUT_JSON: Cap = Cap {
    kind: "OCI layout JSON file",
    bytes: 8 * MIB,
};
/// `manifest.json` and the config of a docker-archive.
pub const ARCHIVE_JSON: Cap = Cap {
    kind: "docker-archive JSON member",
    bytes: 8 * MIB,
};
/// A `.pub` or `.key` file (a P-256 key is a few hundred bytes).
pub const KEY: Cap = Cap {
    kind: "key file",
    bytes: 64 * KIB,
};
/// An audit policy.
pub const POLICY: Cap = Cap {
    kind: "policy file",
    bytes: MIB,
};
/// A pins file (`attestations/pins.toml`).
pub const PINS: Cap = Cap {
    kind: "pins file",
    bytes: MIB,
};
/// A Sigstore trusted root.
pub const TRUSTED_ROOT: Cap = Cap {
    kind: "trusted root file",
    bytes: 4 * MIB,
};
/// A Dockerfile or TOML recipe.
pub const RECIPE: Cap = Cap {
    kind: "recipe file",
    bytes: MIB,
};
/// A `.reg` file a recipe imports (the upstream ones are a few KiB).
pub const REG_FILE: Cap = Cap {
    kind: ".reg file",
    bytes: 4 * MIB,
};
/// A whole hive file (`hive dump`/`diff`, a base layer's SOFTWARE or SYSTEM).
pub const HIVE: Cap = Cap {
    kind: "registry hive",
    bytes: 512 * MIB,
};
/// One `Hives/*_Delta` entry of a layer (real ones are a few hundred KiB).
pub const DELTA_HIVE: Cap = Cap {
    kind: "delta hive (Hives/*)",
    bytes: 64 * MIB,
};
/// All hive bytes one layer may make us hold: the delta hives of a layer together, or a
/// base layer's full SOFTWARE and SYSTEM hives together (2 × [`HIVE`]).
pub const LAYER_DELTA_HIVES: Cap = Cap {
    kind: "delta hives of one layer together",
    bytes: 128 * MIB,
};
/// Full hives read from one base layer, together.
pub const LAYER_FULL_HIVES: Cap = Cap {
    kind: "full hives of one layer together",
    bytes: 1024 * MIB,
};
/// An attestations-directory file (`*.intoto.jsonl`, `*.sigstore.json`) or a bundle file.
pub const ENVELOPES: Cap = Cap {
    kind: "attestation file",
    bytes: 64 * MIB,
};
/// A predicate file given to `attest`.
pub const PREDICATE: Cap = Cap {
    kind: "predicate file",
    bytes: 16 * MIB,
};
/// A docker `config.json` (registry credentials).
pub const DOCKER_CONFIG: Cap = Cap {
    kind: "docker config file",
    bytes: MIB,
};

/// A `dir:` image's `signature-N` file (a cosign signature is a few hundred bytes).
pub const DIR_SIGNATURE: Cap = Cap {
    kind: "dir: signature file",
    bytes: MIB,
};

/// Every cap above, for SECURITY.md's table (checked by a test).
pub const CAPS: &[Cap] = &[
    LAYOUT_JSON,
    ARCHIVE_JSON,
    KEY,
    POLICY,
    PINS,
    TRUSTED_ROOT,
    RECIPE,
    REG_FILE,
    HIVE,
    DELTA_HIVE,
    LAYER_DELTA_HIVES,
    LAYER_FULL_HIVES,
    ENVELOPES,
    PREDICATE,
    DOCKER_CONFIG,
    DIR_SIGNATURE,
];

/// Nesting depth of registry keys, in hives (the reader's limit) and in `.reg` files and
/// recipes (so that we never write a hive our own reader refuses).
pub const MAX_KEY_DEPTH: usize = 512;

/// Stack for threads that walk key trees (the compare's workers): recursion over keys
/// nested [`MAX_KEY_DEPTH`] deep needs more than the 2 MiB Rust gives a thread (only
/// the pages used are ever touched).
pub const THREAD_STACK: usize = 64 << 20;

/// A size in the unit people read (`64 MiB`).
pub fn human(bytes: u64) -> String {
    for (unit, n) in [("GiB", 1u64 << 30), ("MiB", MIB), ("KiB", KIB)] {
        if bytes >= n && bytes.is_multiple_of(n) {
            return format!("{} {unit}", bytes / n);
        }
    }
    format!("{bytes} bytes")
}

/// Why an input was refused. Carried inside an `io::Error` (kind `InvalidData`), so that
/// every caller's existing I/O error path reports it with the file name.
#[derive(Debug)]
pub enum Refused {
    TooLarge {
        kind: &'static str,
        cap: u64,
        size: u64,
    },
    NotRegular {
        kind: &'static str,
        what: &'static str,
    },
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::TooLarge { kind, cap, size } => {
                write!(f, "{kind} of {size} bytes is over the {} cap", human(*cap))
            }
            Refused::NotRegular { kind, what } => write!(
                f,
                "is {what}, not a regular file (only regular files are read as input: {kind})"
            ),
        }
    }
}

impl std::error::Error for Refused {}

impl Refused {
    fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}

/// The "too large" error for `cap` (for callers that learn a size another way, e.g. a
/// tar header).
pub fn too_large(cap: &Cap, size: u64) -> io::Error {
    Refused::TooLarge {
        kind: cap.kind,
        cap: cap.bytes,
        size,
    }
    .into_io()
}

fn describe(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// Open `path` for reading if it is (or a symlink leads to) a regular file; never blocks
/// on a FIFO or device. `kind` names the input in the error.
pub fn open_regular(path: &Path, kind: &'static str) -> io::Result<File> {
    #[cfg(unix)]
    let f = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)?
    };
    #[cfg(not(unix))]
    let f = File::open(path)?;
    let t = f.metadata()?.file_type();
    if !t.is_file() {
        return Err(Refused::NotRegular {
            kind,
            what: describe(t),
        }
        .into_io());
    }
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let fd = f.as_raw_fd();
        // SAFETY: fcntl on a descriptor we own; F_GETFL/F_SETFL take and return ints.
        unsafe {
            let fl = libc::fcntl(fd, libc::F_GETFL);
            if fl >= 0 {
                libc::fcntl(fd, libc::F_SETFL, fl & !libc::O_NONBLOCK);
            }
        }
    }
    Ok(f)
}

/// [`open_regular`], also refusing a file larger than `cap`.
pub fn open_capped(path: &Path, cap: &Cap) -> io::Result<File> {
    let f = open_regular(path, cap.kind)?;
    let len = f.metadata()?.len();
    if len > cap.bytes {
        return Err(too_large(cap, len));
    }
    Ok(f)
}

/// The whole of `path`, a regular file of at most `cap` bytes (checked before reading and
/// while reading, should it grow).
pub fn read_capped(path: &Path, cap: &Cap) -> io::Result<Vec<u8>> {
    let f = open_capped(path, cap)?;
    read_to_cap(f, cap)
}

/// Read a stream to its end, refusing more than `cap` bytes.
pub fn read_to_cap(r: impl Read, cap: &Cap) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    r.take(cap.bytes.saturating_add(1)).read_to_end(&mut v)?;
    if v.len() as u64 > cap.bytes {
        return Err(too_large(cap, v.len() as u64));
    }
    Ok(v)
}

/// [`read_capped`] as text.
pub fn read_capped_string(path: &Path, cap: &Cap) -> io::Result<String> {
    String::from_utf8(read_capped(path, cap)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_fifo_device_and_large_files_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_capped(&fifo, &KEY).unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
        let link = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let e = read_capped(&link, &KEY).unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 64 * 1024 + 1]).unwrap();
        let e = read_capped(&big, &KEY).unwrap_err();
        assert!(e.to_string().contains("over the 64 KiB cap"), "{e}");
        std::fs::write(&big, b"ok").unwrap();
        assert_eq!(read_capped(&big, &KEY).unwrap(), b"ok");
        let e = read_capped(dir.path(), &KEY).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(64 << 20), "64 MiB");
        assert_eq!(human(1 << 30), "1 GiB");
        assert_eq!(human(1000), "1000 bytes");
    }
}
