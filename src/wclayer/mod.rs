//! The Windows container layer tar (hcsshim's "legacy" layer format): write it, read it.
//!
//! A Windows layer is a PAX tar whose top level is `Files/` (the changed files of `C:\`),
//! `Hives/` (registry *delta* hives, non-base layers only) and `UtilityVM/` (base layers
//! only). Per-file Windows metadata travels in PAX records: `MSWINDOWS.fileattr`
//! (FILE_ATTRIBUTE_* in decimal), `MSWINDOWS.rawsd` (base64 self-relative security
//! descriptor), `LIBARCHIVE.creationtime`, `MSWINDOWS.mountpoint`. Deletions are plain
//! USTAR `.wh.` entries. See docs/architecture.md §4, and microsoft/hcsshim `pkg/ociwclayer` +
//! `internal/wclayer/legacy.go`, microsoft/go-winio `backuptar`.
//!
//! - [`writer`]: a streaming writer that emits exactly the bytes Go's `archive/tar` writes
//!   for the headers hcsshim builds, and enforces the tree order hcsshim's exporter
//!   produces.
//! - [`reader`]: a streaming entry iterator (never holds a layer in memory), layer
//!   classification (base vs non-base), and extraction of a few named files.
//! - [`sddl`]: a self-relative security descriptor → SDDL decoder for human-readable
//!   comparison of `MSWINDOWS.rawsd`.
//!
//! Owns: the tar encoding and the layer's structural rules. Does not own: compression
//! (the image layer does it), registry hive contents (`hive`), or which files a recipe
//! step puts in a layer (`build`). Times are always given by the caller: this module has
//! no clock. The build step picks the constant (or SOURCE_DATE_EPOCH) and records it.

mod header;
pub mod reader;
pub mod sddl;
pub mod writer;

pub use reader::{EntryInfo, LayerEntry, LayerKind, LayerReader, LayerSummary, extract};
pub use writer::{Entry, LayerItem, LayerWriter, write_layer};

/// PAX record keys used by Windows layers (go-winio `backuptar`).
pub const PAX_FILEATTR: &str = "MSWINDOWS.fileattr";
pub const PAX_RAWSD: &str = "MSWINDOWS.rawsd";
pub const PAX_MOUNTPOINT: &str = "MSWINDOWS.mountpoint";
pub const PAX_CREATIONTIME: &str = "LIBARCHIVE.creationtime";
/// Legacy SDDL-string security descriptor key (read only; hcsshim writes `rawsd`).
pub const PAX_SD: &str = "MSWINDOWS.sd";

/// FILE_ATTRIBUTE_DIRECTORY: what hcsshim records for a plain directory.
pub const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x10;
/// FILE_ATTRIBUTE_ARCHIVE: what hcsshim records for a freshly written file.
pub const FILE_ATTRIBUTE_ARCHIVE: u32 = 0x20;

/// Mode bits hcsshim writes: type only, never permissions.
pub const MODE_DIR: u32 = 0o40000;
pub const MODE_FILE: u32 = 0o100000;
pub const MODE_SYMLINK: u32 = 0o120000;
/// hcsshim's exporter writes hard links with mode 0644 (ociwclayer/export.go).
pub const MODE_HARDLINK: u32 = 0o644;

/// Prefix of a whiteout (deleted file) entry's last path component.
pub const WHITEOUT_PREFIX: &str = ".wh.";

/// The security descriptor go-containerregistry puts on files it converts to Windows
/// layers (owner and group BUILTIN\Users, `O:BUG:BU`), base64 as in the PAX record.
pub const GGCR_USERS_SD_B64: &str =
    "AQAAgBQAAAAkAAAAAAAAAAAAAAABAgAAAAAABSAAAAAhAgAAAQIAAAAAAAUgAAAAIQIAAA==";

/// The names of the delta hives a non-base layer may carry under `Hives/`.
pub const DELTA_HIVES: [&str; 5] = [
    "DefaultUser_Delta",
    "Sam_Delta",
    "Security_Delta",
    "Software_Delta",
    "System_Delta",
];

/// A point in time as a PAX record writes it: seconds since the Unix epoch plus
/// nanoseconds. Only non-negative seconds below 8^11 are accepted by the writer (what a
/// USTAR octal field holds); layers we write never need more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PaxTime {
    pub secs: i64,
    pub nanos: u32,
}

impl PaxTime {
    pub const fn from_secs(secs: i64) -> PaxTime {
        PaxTime { secs, nanos: 0 }
    }

    /// Go's `formatPAXTime`: `secs` alone, or `secs.fraction` with trailing zeros cut.
    pub fn to_pax_string(&self) -> String {
        if self.nanos == 0 {
            return self.secs.to_string();
        }
        let (sign, secs, nanos) = if self.secs < 0 {
            ("-", -(self.secs + 1), 1_000_000_000 - self.nanos)
        } else {
            ("", self.secs, self.nanos)
        };
        let s = format!("{sign}{secs}.{nanos:09}");
        s.trim_end_matches('0').to_string()
    }

    /// Go's `parsePAXTime`: `[-]secs[.digits]`, extra fraction digits truncated.
    pub fn parse(s: &str) -> Option<PaxTime> {
        let (ss, sn) = match s.split_once('.') {
            Some((a, b)) => (a, b),
            None => (s, ""),
        };
        let secs: i64 = ss.parse().ok()?;
        if sn.is_empty() {
            return Some(PaxTime { secs, nanos: 0 });
        }
        if !sn.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut digits = [b'0'; 9];
        for (d, b) in digits.iter_mut().zip(sn.bytes()) {
            *d = b;
        }
        let nanos: u32 = std::str::from_utf8(&digits).ok()?.parse().ok()?;
        if ss.starts_with('-') && nanos != 0 {
            // "-1.5" means 1.5 s before the epoch: -2 s + 0.5 s.
            return Some(PaxTime {
                secs: secs - 1,
                nanos: 1_000_000_000 - nanos,
            });
        }
        Some(PaxTime { secs, nanos })
    }
}

/// Everything that can go wrong reading or writing a Windows layer tar.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O error on the layer stream: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "layer tar is truncated at byte {offset}{}: the stream ended early (an incomplete download or a cut file); fetch the layer again",
        entry.as_deref().map(|e| format!(" inside entry {e:?}")).unwrap_or_default()
    )]
    Truncated { offset: u64, entry: Option<String> },
    #[error("malformed tar header at byte {offset}: {reason}; this is not a valid layer tar")]
    BadHeader { offset: u64, reason: String },
    #[error("malformed PAX record in the extended header at byte {offset}: {reason}")]
    BadPax { offset: u64, reason: String },
    #[error("invalid layer entry {path:?}: {reason}")]
    InvalidEntry { path: String, reason: String },
    #[error("entries out of order: {path:?} comes after {prev:?}; {reason}")]
    Order {
        path: String,
        prev: String,
        reason: String,
    },
    #[error("entry {path:?}: content gave {got} bytes but the header says {expected}")]
    SizeMismatch {
        path: String,
        expected: u64,
        got: u64,
    },
    #[error(
        "file {path:?} in the layer is {size} bytes, over the {limit}-byte limit for extraction"
    )]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("the layer writer was already finished")]
    Finished,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_time_matches_go_format() {
        assert_eq!(PaxTime::from_secs(0).to_pax_string(), "0");
        assert_eq!(
            PaxTime {
                secs: 1,
                nanos: 500_000_000
            }
            .to_pax_string(),
            "1.5"
        );
        assert_eq!(
            PaxTime {
                secs: 1_700_000_000,
                nanos: 1
            }
            .to_pax_string(),
            "1700000000.000000001"
        );
        // Go: secs=-2,nsecs=5e8 -> "-1.5"
        assert_eq!(
            PaxTime {
                secs: -2,
                nanos: 500_000_000
            }
            .to_pax_string(),
            "-1.5"
        );
    }

    #[test]
    fn pax_time_parses() {
        for s in ["0", "1.5", "1700000000.000000001", "-1.5", "12.25"] {
            let t = PaxTime::parse(s).unwrap();
            assert_eq!(t.to_pax_string(), s);
        }
        assert_eq!(
            PaxTime::parse("1.1234567891"),
            Some(PaxTime {
                secs: 1,
                nanos: 123_456_789
            })
        );
        assert_eq!(PaxTime::parse("x"), None);
        assert_eq!(PaxTime::parse("1.x"), None);
    }
}
