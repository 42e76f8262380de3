//! Reading a (decompressed) Windows layer tar as a stream of entries.
//!
//! Hand-written rather than the `tar` crate so that every malformed input gets a precise
//! error (byte offset, entry name), a missing end-of-archive marker counts as truncation
//! (the `tar` crate, like Go, takes a clean EOF at a block boundary as the end), and the
//! raw header facts a comparison needs (mode, uid/gid, PAX records in file order) are
//! exposed as read. Understands USTAR, PAX (`x`, and `g` skipped), GNU long names
//! (`L`/`K`) and base-256 numbers: what Go, GNU tar and Python write.
//!
//! Memory: one entry's PAX data (capped at 1 MiB, Go's limit) at a time, plus 40 bytes
//! per entry for the duplicate check; content is streamed through [`LayerEntry`]'s `Read`.
//!
//! Path safety: every entry name is checked and normalised here, before any consumer
//! sees it ([`normalise_name`]): `..` components, absolute names, drive letters,
//! backslashes, NUL and control characters are refused, `.` and empty components are
//! dropped. Names are compared as NTFS does (case-insensitively, [`fold`]): a name equal
//! to an earlier one, or differing only in case, is refused, and so is a hard link
//! whose target is not a safe name or a symlink whose target leaves the layer's
//! `Files/` tree. A refused entry is an [`Error::InvalidEntry`] naming it; the reader
//! stays positioned after it, so a caller that reports rather than stops (the compare)
//! may call [`LayerReader::next_entry`] again.

use super::header::{self, BLOCK, off};
use super::{
    Error, PAX_CREATIONTIME, PAX_FILEATTR, PAX_MOUNTPOINT, PAX_RAWSD, PaxTime, WHITEOUT_PREFIX,
};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};

/// Go's `maxSpecialFileSize`: PAX and long-name data larger than this is refused.
const MAX_SPECIAL: u64 = 1 << 20;

/// What a tar entry is, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryType {
    Dir,
    File,
    /// A `.wh.` entry: `EntryInfo::path` is the tar name; see [`EntryInfo::whiteout_target`].
    Whiteout,
    HardLink {
        target: String,
    },
    Symlink {
        target: String,
    },
    /// Any other typeflag (devices, FIFOs, GNU sparse...): reported, never interpreted.
    Other(u8),
}

/// One entry's header, with the Windows PAX metadata decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// The entry's name (from the PAX `path` or GNU long name when present), without a
    /// trailing slash.
    pub path: String,
    pub kind: EntryType,
    /// Content bytes that follow the header (0 for non-files).
    pub size: u64,
    pub typeflag: u8,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub uname: String,
    pub gname: String,
    pub mtime: PaxTime,
    /// Every PAX record of this entry, in the order they appear in the tar.
    pub pax: Vec<(String, String)>,
    /// `MSWINDOWS.fileattr`.
    pub file_attributes: Option<u32>,
    /// `MSWINDOWS.rawsd`, base64-decoded.
    pub raw_sd: Option<Vec<u8>>,
    /// `LIBARCHIVE.creationtime`.
    pub creation_time: Option<PaxTime>,
    /// `MSWINDOWS.mountpoint` present.
    pub mountpoint: bool,
    /// Byte offset of the first header block of this entry (its PAX header, if any).
    pub header_offset: u64,
}

impl EntryInfo {
    pub fn is_whiteout(&self) -> bool {
        self.kind == EntryType::Whiteout
    }

    /// For a whiteout, the path it deletes (`Files/a/.wh.b` → `Files/a/b`).
    pub fn whiteout_target(&self) -> Option<String> {
        if !self.is_whiteout() {
            return None;
        }
        Some(match self.path.rsplit_once('/') {
            Some((d, n)) => format!("{d}/{}", n.strip_prefix(WHITEOUT_PREFIX)?),
            None => self.path.strip_prefix(WHITEOUT_PREFIX)?.to_string(),
        })
    }

    /// A PAX record by key.
    pub fn pax_value(&self, key: &str) -> Option<&str> {
        self.pax
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A streaming reader of layer entries.
pub struct LayerReader<R: Read> {
    inner: R,
    offset: u64,
    /// Unread content bytes of the current entry, then its padding.
    remaining: u64,
    padding: u64,
    current: Option<String>,
    done: bool,
    /// sha256 of each folded name seen → (header offset, sha256 of the name as written).
    seen: HashMap<[u8; 32], (u64, [u8; 32])>,
}

/// The current entry: its header plus `Read` over its content.
pub struct LayerEntry<'a, R: Read> {
    pub info: EntryInfo,
    reader: &'a mut LayerReader<R>,
}

impl<R: Read> std::ops::Deref for LayerEntry<'_, R> {
    type Target = EntryInfo;
    fn deref(&self) -> &EntryInfo {
        &self.info
    }
}

impl<R: Read> Read for LayerEntry<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = &mut *self.reader;
        if r.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(r.remaining).unwrap_or(usize::MAX));
        let n = r.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                Error::Truncated {
                    offset: r.offset,
                    entry: r.current.clone(),
                },
            ));
        }
        r.remaining -= n as u64;
        r.offset += n as u64;
        Ok(n)
    }
}

impl<R: Read> LayerEntry<'_, R> {
    /// Read the whole content into memory, refusing more than `limit` bytes.
    pub fn read_to_vec(&mut self, limit: u64) -> Result<Vec<u8>, Error> {
        if self.info.size > limit {
            return Err(Error::TooLarge {
                path: self.info.path.clone(),
                size: self.info.size,
                limit,
            });
        }
        let mut v = Vec::with_capacity(self.info.size as usize);
        self.read_to_end(&mut v).map_err(unwrap_io)?;
        Ok(v)
    }
}

/// Turn an `io::Error` that wraps one of ours back into ours.
fn unwrap_io(e: io::Error) -> Error {
    if e.get_ref().is_some_and(|i| i.is::<Error>()) {
        match e.into_inner().map(|b| b.downcast::<Error>()) {
            Some(Ok(b)) => *b,
            Some(Err(other)) => Error::Io(io::Error::other(other)),
            None => Error::Io(io::Error::other("unknown")),
        }
    } else {
        Error::Io(e)
    }
}

impl<R: Read> LayerReader<R> {
    pub fn new(inner: R) -> Self {
        LayerReader {
            inner,
            offset: 0,
            remaining: 0,
            padding: 0,
            current: None,
            done: false,
            seen: HashMap::new(),
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The underlying reader (e.g. to drain and hash what follows the tar trailer).
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The next entry, or `None` after the end-of-archive marker. Unread content of the
    /// previous entry is skipped.
    pub fn next_entry(&mut self) -> Result<Option<LayerEntry<'_, R>>, Error> {
        if self.done {
            return Ok(None);
        }
        self.skip_rest()?;
        match self.read_header()? {
            Some(info) => {
                self.current = Some(info.path.clone());
                Ok(Some(LayerEntry { info, reader: self }))
            }
            None => {
                self.done = true;
                Ok(None)
            }
        }
    }

    fn skip_rest(&mut self) -> Result<(), Error> {
        let n = self.remaining + self.padding;
        if n > 0 {
            let copied = io::copy(&mut (&mut self.inner).take(n), &mut io::sink())?;
            self.offset += copied;
            if copied != n {
                return Err(Error::Truncated {
                    offset: self.offset,
                    entry: self.current.clone(),
                });
            }
        }
        self.remaining = 0;
        self.padding = 0;
        Ok(())
    }

    /// Read exactly one block; `Ok(None)` on a clean EOF before its first byte.
    fn read_block(&mut self) -> Result<Option<[u8; BLOCK]>, Error> {
        let mut blk = [0u8; BLOCK];
        let mut got = 0;
        while got < BLOCK {
            match self.inner.read(&mut blk[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io(e)),
            }
        }
        self.offset += got as u64;
        match got {
            0 => Ok(None),
            BLOCK => Ok(Some(blk)),
            _ => Err(Error::Truncated {
                offset: self.offset,
                entry: None,
            }),
        }
    }

    fn read_data(&mut self, size: u64) -> Result<Vec<u8>, Error> {
        let mut v = Vec::new();
        let n = (&mut self.inner).take(size).read_to_end(&mut v)?;
        self.offset += n as u64;
        if n as u64 != size {
            return Err(Error::Truncated {
                offset: self.offset,
                entry: self.current.clone(),
            });
        }
        let pad = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
        let skipped = io::copy(&mut (&mut self.inner).take(pad), &mut io::sink())?;
        self.offset += skipped;
        if skipped != pad {
            return Err(Error::Truncated {
                offset: self.offset,
                entry: self.current.clone(),
            });
        }
        Ok(v)
    }

    fn read_header(&mut self) -> Result<Option<EntryInfo>, Error> {
        let mut pax: Vec<(String, String)> = Vec::new();
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut first_offset: Option<u64> = None;
        loop {
            let at = self.offset;
            let Some(blk) = self.read_block()? else {
                return Err(Error::Truncated {
                    offset: at,
                    entry: None,
                });
            };
            if blk.iter().all(|&b| b == 0) {
                if first_offset.is_some() {
                    return Err(Error::BadHeader {
                        offset: at,
                        reason: "an extended header is followed by the end-of-archive marker"
                            .into(),
                    });
                }
                // End of archive: a second zero block normally follows; Go also accepts
                // EOF here. Anything else is corrupt.
                return match self.read_block()? {
                    None => Ok(None),
                    Some(b) if b.iter().all(|&x| x == 0) => Ok(None),
                    Some(_) => Err(Error::BadHeader {
                        offset: at + BLOCK as u64,
                        reason: "a zero block is followed by a non-zero block".into(),
                    }),
                };
            }
            let first = *first_offset.get_or_insert(at);
            let bad = |reason: String| Error::BadHeader { offset: at, reason };
            let stored = header::get_num(&blk, off::CHKSUM, 8)
                .ok_or_else(|| bad("unreadable checksum field".into()))?;
            let (u, s) = header::checksums(&blk);
            if stored != u as i64 && stored != s {
                return Err(bad(format!(
                    "checksum mismatch (stored {stored}, computed {u})"
                )));
            }
            let typeflag = blk[off::TYPEFLAG];
            let size_field = header::get_num(&blk, off::SIZE, 12)
                .filter(|v| *v >= 0)
                .ok_or_else(|| bad("unreadable or negative size".into()))?
                as u64;
            match typeflag {
                b'x' | b'g' | b'L' | b'K' => {
                    if size_field > MAX_SPECIAL {
                        return Err(bad(format!(
                            "extended header of {size_field} bytes exceeds the 1 MiB limit"
                        )));
                    }
                    let data = self.read_data(size_field)?;
                    match typeflag {
                        b'x' => pax.extend(parse_pax(&data, at)?),
                        b'g' => {
                            parse_pax(&data, at)?;
                        }
                        b'L' => long_name = Some(trim_nul(data)),
                        _ => long_link = Some(trim_nul(data)),
                    }
                    continue;
                }
                _ => {}
            }
            return self
                .build_info(&blk, first, typeflag, size_field, pax, long_name, long_link)
                .map(Some);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn build_info(
        &mut self,
        blk: &[u8; BLOCK],
        first: u64,
        typeflag: u8,
        size_field: u64,
        pax: Vec<(String, String)>,
        long_name: Option<Vec<u8>>,
        long_link: Option<Vec<u8>>,
    ) -> Result<EntryInfo, Error> {
        let bad = |reason: String| Error::BadHeader {
            offset: first,
            reason,
        };
        let utf8 = |b: Vec<u8>, what: &str| {
            String::from_utf8(b).map_err(|_| bad(format!("{what} is not UTF-8")))
        };
        let paxmap: BTreeMap<&str, &str> =
            pax.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let is_ustar = &blk[off::MAGIC..off::MAGIC + 6] == b"ustar\0";
        let mut name = header::get_str(blk, off::NAME, header::NAME_LEN).to_vec();
        if is_ustar {
            let prefix = header::get_str(blk, off::PREFIX, header::PREFIX_LEN);
            if !prefix.is_empty() {
                let mut full = prefix.to_vec();
                full.push(b'/');
                full.extend_from_slice(&name);
                name = full;
            }
        }
        if let Some(n) = long_name {
            name = n;
        }
        let mut path = match paxmap.get("path") {
            Some(p) => p.to_string(),
            None => utf8(name, "entry name")?,
        };
        let link = match paxmap.get("linkpath") {
            Some(p) => p.to_string(),
            None => utf8(
                long_link.unwrap_or_else(|| {
                    header::get_str(blk, off::LINKNAME, header::NAME_LEN).to_vec()
                }),
                "link target",
            )?,
        };
        while path.ends_with('/') {
            path.pop();
        }
        if path.is_empty() {
            return Err(bad("entry with an empty name".into()));
        }
        let num = |at: usize, len: usize, what: &str| {
            header::get_num(blk, at, len).ok_or_else(|| bad(format!("unreadable {what}")))
        };
        let parse_u = |k: &str, v: &str| {
            v.parse::<u64>()
                .map_err(|_| bad(format!("PAX record {k}={v:?} is not a number")))
        };
        let mode = num(off::MODE, 8, "mode")?;
        let mut uid = num(off::UID, 8, "uid")?.max(0) as u64;
        let mut gid = num(off::GID, 8, "gid")?.max(0) as u64;
        let mut size = size_field;
        let mut mtime = PaxTime::from_secs(num(off::MTIME, 12, "mtime")?);
        let mut uname = String::from_utf8_lossy(header::get_str(blk, off::UNAME, 32)).into_owned();
        let mut gname = String::from_utf8_lossy(header::get_str(blk, off::GNAME, 32)).into_owned();
        if let Some(v) = paxmap.get("size") {
            size = parse_u("size", v)?;
        }
        if let Some(v) = paxmap.get("uid") {
            uid = parse_u("uid", v)?;
        }
        if let Some(v) = paxmap.get("gid") {
            gid = parse_u("gid", v)?;
        }
        if let Some(v) = paxmap.get("mtime") {
            mtime =
                PaxTime::parse(v).ok_or_else(|| bad(format!("PAX mtime {v:?} is malformed")))?;
        }
        if let Some(v) = paxmap.get("uname") {
            uname = v.to_string();
        }
        if let Some(v) = paxmap.get("gname") {
            gname = v.to_string();
        }
        let file_attributes = match paxmap.get(PAX_FILEATTR) {
            Some(v) => Some(v.parse::<u32>().map_err(|_| {
                bad(format!(
                    "{PAX_FILEATTR}={v:?} is not a 32-bit decimal number"
                ))
            })?),
            None => None,
        };
        let raw_sd = match paxmap.get(PAX_RAWSD) {
            Some(v) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .map_err(|e| bad(format!("{PAX_RAWSD} is not valid base64: {e}")))?,
            ),
            None => None,
        };
        let creation_time = match paxmap.get(PAX_CREATIONTIME) {
            Some(v) => Some(
                PaxTime::parse(v)
                    .ok_or_else(|| bad(format!("{PAX_CREATIONTIME}={v:?} is malformed")))?,
            ),
            None => None,
        };
        let mountpoint = paxmap.contains_key(PAX_MOUNTPOINT);
        let last = path.rsplit('/').next().unwrap_or(&path);
        let kind = match typeflag {
            b'0' | 0 | b'7' if last.starts_with(WHITEOUT_PREFIX) => EntryType::Whiteout,
            b'0' | 0 | b'7' => {
                if typeflag == 0 && is_dir_name(blk) {
                    EntryType::Dir
                } else {
                    EntryType::File
                }
            }
            b'5' => EntryType::Dir,
            b'1' => EntryType::HardLink { target: link },
            b'2' => EntryType::Symlink { target: link },
            other => EntryType::Other(other),
        };
        // Header-only types carry no data whatever the size field says (Go's rule).
        let data = match kind {
            EntryType::File | EntryType::Whiteout => size,
            EntryType::Other(b'3' | b'4' | b'6') => 0,
            EntryType::Other(_) => size,
            _ => 0,
        };
        self.remaining = data;
        self.padding = (BLOCK as u64 - data % BLOCK as u64) % BLOCK as u64;
        // From here on an error leaves the reader positioned after this entry.
        let invalid = |path: &str, reason: String| Error::InvalidEntry {
            path: path.to_string(),
            reason,
        };
        let raw = path;
        // Named in a truncation error inside this entry, refused or not.
        self.current = Some(raw.clone());
        let path = normalise_name(&raw).map_err(|r| invalid(&raw, r))?;
        match &kind {
            EntryType::HardLink { target } => {
                normalise_name(target).map_err(|r| {
                    invalid(
                        &raw,
                        format!("hard link target {target:?} leaves the layer: {r}"),
                    )
                })?;
            }
            EntryType::Symlink { target } => {
                symlink_inside(&path, target).map_err(|r| {
                    invalid(
                        &raw,
                        format!("symlink target {target:?} leaves the layer: {r}"),
                    )
                })?;
            }
            _ => {}
        }
        let folded: [u8; 32] = Sha256::digest(fold(&path).as_bytes()).into();
        let exact: [u8; 32] = Sha256::digest(path.as_bytes()).into();
        match self.seen.get(&folded) {
            Some((at, e)) if *e == exact => {
                return Err(invalid(
                    &raw,
                    format!("duplicate entry: the same name as the entry at byte {at}"),
                ));
            }
            Some((at, _)) => {
                return Err(invalid(
                    &raw,
                    format!(
                        "case-insensitive collision: the entry at byte {at} has the same name but for case (NTFS is case-insensitive)"
                    ),
                ));
            }
            None => {
                self.seen.insert(folded, (first, exact));
            }
        }
        Ok(EntryInfo {
            path,
            kind,
            size: data,
            typeflag,
            mode: (mode.max(0) as u64 & 0xffff_ffff) as u32,
            uid,
            gid,
            uname,
            gname,
            mtime,
            pax,
            file_attributes,
            raw_sd,
            creation_time,
            mountpoint,
            header_offset: first,
        })
    }
}

/// A layer path as NTFS compares it: each UTF-16 unit upcased with the table the
/// registry and NTFS use (`hive::model::upcase_unit`), not Unicode case folding (the
/// Kelvin sign is not `K` on NTFS).
pub fn fold(path: &str) -> String {
    String::from_utf16_lossy(
        &path
            .encode_utf16()
            .map(crate::hive::model::upcase_unit)
            .collect::<Vec<_>>(),
    )
}

/// Check and normalise an entry name: `/`-separated, relative, no `..`, no backslash,
/// NUL or control character, no drive letter; `.` and empty components are dropped.
pub fn normalise_name(name: &str) -> Result<String, String> {
    if let Some(c) = name.chars().find(|c| (*c as u32) < 0x20 || *c == '\x7f') {
        return Err(format!("control character {:?} in the name", c));
    }
    if name.contains('\\') {
        return Err("backslash in the name (tar names use '/')".into());
    }
    if name.starts_with('/') {
        return Err("absolute name".into());
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err("'..' component".into()),
            _ => parts.push(c),
        }
    }
    if let Some(first) = parts.first()
        && first.len() >= 2
        && first.as_bytes()[1] == b':'
        && first.as_bytes()[0].is_ascii_alphabetic()
    {
        return Err("drive letter in the name".into());
    }
    if parts.is_empty() {
        return Err("the name is empty once '.' components are dropped".into());
    }
    Ok(parts.join("/"))
}

/// A symlink's target (a Windows path, as hcsshim writes reparse points) must stay in
/// the tree its link is in (`Files/` = `C:\`, or `UtilityVM/Files/`): absolute `C:\…`
/// and `\…` targets, or relative ones that do not climb above that root.
fn symlink_inside(link: &str, target: &str) -> Result<(), String> {
    let root_len = if link.starts_with("Files/") {
        1
    } else if link.starts_with("UtilityVM/Files/") {
        2
    } else {
        return Err("a link outside Files/".into());
    };
    if target.contains('\0') {
        return Err("NUL in the target".into());
    }
    let t = target.replace('/', "\\");
    let t = t
        .strip_prefix("\\\\?\\")
        .or_else(|| t.strip_prefix("\\??\\"))
        .unwrap_or(&t);
    if t.starts_with("\\\\") {
        return Err("a network or device path".into());
    }
    let (absolute, rest) = if t.len() >= 2 && t.as_bytes()[1] == b':' {
        if !t[..1].eq_ignore_ascii_case("C") {
            return Err(format!("another drive ({})", &t[..2]));
        }
        (true, &t[2..])
    } else {
        (t.starts_with('\\'), t)
    };
    let mut depth: Vec<&str> = if absolute {
        Vec::new()
    } else {
        // The link's directory, below the tree root.
        let comps: Vec<&str> = link.split('/').collect();
        comps[root_len..comps.len() - 1].to_vec()
    };
    for c in rest.split('\\') {
        match c {
            "" | "." => {}
            ".." => {
                if depth.pop().is_none() {
                    return Err("'..' climbs above the layer's root".into());
                }
            }
            _ => depth.push(c),
        }
    }
    Ok(())
}

fn is_dir_name(blk: &[u8; BLOCK]) -> bool {
    header::get_str(blk, off::NAME, header::NAME_LEN).ends_with(b"/")
}

fn trim_nul(mut v: Vec<u8>) -> Vec<u8> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

/// Parse PAX records strictly ("%d %s=%s\n", the length counting the whole record).
fn parse_pax(data: &[u8], offset: u64) -> Result<Vec<(String, String)>, Error> {
    let bad = |reason: String| Error::BadPax { offset, reason };
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        // Trailing NUL padding after the last record is tolerated (some writers pad).
        if rest.iter().all(|&b| b == 0) {
            break;
        }
        let sp = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| bad("record without a length field".into()))?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                bad(format!(
                    "record length {:?} is not a number",
                    String::from_utf8_lossy(&rest[..sp])
                ))
            })?;
        if len < 5 || len > rest.len() || len <= sp + 1 {
            return Err(bad(format!(
                "record length {len} does not fit the {} remaining bytes",
                rest.len()
            )));
        }
        let rec = &rest[sp + 1..len];
        if rec.last() != Some(&b'\n') {
            return Err(bad(format!(
                "record of length {len} does not end with a newline"
            )));
        }
        let rec = &rec[..rec.len() - 1];
        let eq = rec
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| bad("record without '='".into()))?;
        let k = std::str::from_utf8(&rec[..eq]).map_err(|_| bad("key is not UTF-8".into()))?;
        let v = std::str::from_utf8(&rec[eq + 1..])
            .map_err(|_| bad(format!("value of {k:?} is not UTF-8")))?;
        if k.is_empty() || k.contains('\0') {
            return Err(bad("empty key or NUL in key".into()));
        }
        if matches!(k, "path" | "linkpath" | "uname" | "gname") && v.contains('\0') {
            return Err(bad(format!("NUL in {k}")));
        }
        out.push((k.to_string(), v.to_string()));
        rest = &rest[len..];
    }
    Ok(out)
}

/// What kind of Windows layer a tar is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerKind {
    /// `Files/` with full hives under `Files/Windows/System32/config/` and/or
    /// `UtilityVM/`, no `Hives/`: a base OS layer (NanoServer).
    Base,
    /// `Files/` + `Hives/` (delta hives): what RUN/COPY steps produce.
    NonBase,
    /// Neither shape (e.g. only `Files/`, or an empty tar).
    Unknown,
}

/// Facts gathered while streaming a layer.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LayerSummary {
    pub entries: u64,
    pub files: u64,
    pub dirs: u64,
    pub whiteouts: u64,
    pub links: u64,
    pub others: u64,
    pub content_bytes: u64,
    pub has_files_dir: bool,
    pub has_hives_dir: bool,
    pub has_utility_vm: bool,
    /// Names of files under `Hives/` (delta hives).
    pub delta_hives: Vec<String>,
    /// Full hives found under `Files/Windows/System32/config/` (DEFAULT, SAM, ...).
    pub base_hives: Vec<String>,
    /// Top-level names other than Files, Hives, UtilityVM.
    pub unexpected_top_level: Vec<String>,
}

const BASE_HIVES: [&str; 5] = ["DEFAULT", "SAM", "SECURITY", "SOFTWARE", "SYSTEM"];

impl LayerSummary {
    /// Account for one entry.
    pub fn observe(&mut self, e: &EntryInfo) {
        self.entries += 1;
        match &e.kind {
            EntryType::Dir => self.dirs += 1,
            EntryType::File => {
                self.files += 1;
                self.content_bytes += e.size;
            }
            EntryType::Whiteout => self.whiteouts += 1,
            EntryType::HardLink { .. } | EntryType::Symlink { .. } => self.links += 1,
            EntryType::Other(_) => self.others += 1,
        }
        let mut comps = e.path.split('/');
        let top = comps.next().unwrap_or("");
        match top {
            "Files" => self.has_files_dir = true,
            "Hives" => {
                self.has_hives_dir = true;
                if let (Some(name), None) = (comps.next(), comps.next())
                    && e.kind == EntryType::File
                {
                    self.delta_hives.push(name.to_string());
                }
            }
            "UtilityVM" => self.has_utility_vm = true,
            other => {
                if !self.unexpected_top_level.iter().any(|t| t == other) {
                    self.unexpected_top_level.push(other.to_string());
                }
            }
        }
        if e.kind == EntryType::File
            && let Some(name) = strip_prefix_ci(&e.path, "Files/Windows/System32/config/")
            && let Some(h) = BASE_HIVES.iter().find(|h| h.eq_ignore_ascii_case(name))
        {
            self.base_hives.push(h.to_string());
        }
    }

    pub fn kind(&self) -> LayerKind {
        if self.has_hives_dir && !self.has_utility_vm {
            LayerKind::NonBase
        } else if !self.has_hives_dir
            && self.has_files_dir
            && (self.has_utility_vm || !self.base_hives.is_empty())
        {
            LayerKind::Base
        } else {
            LayerKind::Unknown
        }
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
    {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

/// Files pulled out of a layer, plus what the whole stream looked like.
#[derive(Debug, Clone, Default)]
pub struct Extracted {
    /// Content by the name asked for (as given in `wanted`).
    pub files: BTreeMap<String, Vec<u8>>,
    pub summary: LayerSummary,
}

impl Extracted {
    pub fn kind(&self) -> LayerKind {
        self.summary.kind()
    }
}

/// Stream a whole layer, keeping only the regular files named in `wanted` (matched
/// ASCII-case-insensitively, as Windows paths are: e.g. `Files/Windows/System32/config/SOFTWARE`
/// or `Hives/Software_Delta`). Each kept file may be at most `limit` bytes. Everything
/// else is skipped while it streams, so a 300 MB layer needs no more memory than the
/// files asked for.
pub fn extract<R: Read>(r: R, wanted: &[&str], limit: u64) -> Result<Extracted, Error> {
    let mut reader = LayerReader::new(r);
    let mut out = Extracted::default();
    while let Some(mut e) = reader.next_entry()? {
        out.summary.observe(&e.info);
        if e.kind != EntryType::File {
            continue;
        }
        if let Some(w) = wanted.iter().find(|w| w.eq_ignore_ascii_case(&e.path)) {
            let data = e.read_to_vec(limit)?;
            out.files.insert((*w).to_string(), data);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar of (name, typeflag, link, content) with raw names (the `tar` crate's
    /// `set_path` refuses the names under test).
    fn tar(entries: &[(&str, u8, &str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, flag, link, data) in entries {
            let mut h = tar::Header::new_ustar();
            h.as_ustar_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            h.as_ustar_mut().unwrap().linkname[..link.len()].copy_from_slice(link.as_bytes());
            h.set_size(data.len() as u64);
            h.set_entry_type(tar::EntryType::new(*flag));
            h.set_mode(0o644);
            h.set_cksum();
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.resize(out.len() + 1024, 0);
        out
    }

    /// Every entry: Ok(normalised name) or Err(reason), reading on after refusals.
    fn walk(t: &[u8]) -> Vec<Result<String, String>> {
        let mut r = LayerReader::new(t);
        let mut out = Vec::new();
        loop {
            match r.next_entry() {
                Ok(Some(e)) => out.push(Ok(e.path.clone())),
                Ok(None) => return out,
                Err(Error::InvalidEntry { path, reason }) => {
                    out.push(Err(format!("{path}: {reason}")))
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn unsafe_names_are_refused_and_reading_goes_on() {
        let t = tar(&[
            ("Files/Windows/Temp/../System32/evil.exe", b'0', "", b"MZ"),
            (
                "Files/Users/ContainerUser/../../Windows/System32/drivers/etc/hosts",
                b'0',
                "",
                b"x",
            ),
            ("/Files/abs", b'0', "", b""),
            ("Files\\Windows\\x", b'0', "", b""),
            ("C:/Windows/x", b'0', "", b""),
            ("./Files//a/./b", b'0', "", b"ok"),
            ("Files/ok", b'0', "", b"after"),
        ]);
        let got = walk(&t);
        assert_eq!(got.len(), 7, "{got:?}");
        for (i, why) in [
            (0, "'..'"),
            (1, "'..'"),
            (2, "absolute"),
            (3, "backslash"),
            (4, "drive"),
        ] {
            let e = got[i].as_ref().unwrap_err();
            assert!(e.contains(why), "{i}: {e}");
        }
        assert_eq!(got[5], Ok("Files/a/b".into()));
        assert_eq!(got[6], Ok("Files/ok".into()));
    }

    #[test]
    fn duplicates_and_case_collisions_are_refused() {
        let t = tar(&[
            ("Files/Windows/System32/a", b'0', "", b"1"),
            ("Files/Windows/system32/A", b'0', "", b"2"),
            ("Files/Windows/System32/a", b'0', "", b"3"),
        ]);
        let got = walk(&t);
        assert!(got[0].is_ok());
        assert!(
            got[1]
                .as_ref()
                .unwrap_err()
                .contains("case-insensitive collision"),
            "{got:?}"
        );
        assert!(
            got[2].as_ref().unwrap_err().contains("duplicate entry"),
            "{got:?}"
        );
    }

    #[test]
    fn links_must_stay_in_the_layer() {
        let t = tar(&[
            ("Files/a/hl", b'1', "Files/../../etc/passwd", b""),
            ("Files/a/sl", b'2', "..\\..\\..\\x", b""),
            ("Files/a/unc", b'2', "\\\\evil\\share", b""),
            ("Files/a/d", b'2', "D:\\x", b""),
            ("Files/a/ok1", b'2', "C:\\Windows\\System32", b""),
            ("Files/a/ok2", b'2', "..\\b", b""),
            ("Files/a/ok3", b'1', "Files/a/ok2", b""),
        ]);
        let got = walk(&t);
        for g in &got[..4] {
            assert!(
                g.as_ref().unwrap_err().contains("leaves the layer"),
                "{got:?}"
            );
        }
        assert!(got[4..].iter().all(Result::is_ok), "{got:?}");
    }

    #[test]
    fn symlink_targets_resolve_inside_their_tree() {
        assert!(symlink_inside("Files/a/b", "\\??\\C:\\Windows").is_ok());
        assert!(symlink_inside("Files/a/b", "\\\\?\\c:\\x").is_ok());
        assert!(symlink_inside("Files/a/b", "\\Users").is_ok());
        assert!(symlink_inside("Files/a/b", "..\\..").is_err());
        assert!(symlink_inside("Files/a/b", "..").is_ok());
        assert!(symlink_inside("UtilityVM/Files/a/b", "..\\x").is_ok());
        assert!(symlink_inside("UtilityVM/Files/a/b", "..\\..\\x").is_err());
        assert!(symlink_inside("Hives/x", "a").is_err());
        assert!(symlink_inside("Files/a/b", "\\\\server\\share").is_err());
        assert!(symlink_inside("Files/a/b", "E:\\x").is_err());
    }

    #[test]
    fn fold_is_ntfs_like() {
        assert_eq!(fold("Files/Windows/system32"), "FILES/WINDOWS/SYSTEM32");
        assert_ne!(fold("\u{212A}"), fold("k"));
    }
}
