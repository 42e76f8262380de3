//! Writing a Windows layer tar, byte for byte as hcsshim's exporter (Go `archive/tar`)
//! would for the same entries.
//!
//! Entry order is hcsshim's: its exporter walks the layer folder with Go's
//! `filepath.Walk`, i.e. depth first with each directory's children sorted by name
//! (byte-wise) and each directory before its children; the whiteouts of a directory come
//! right after the directory itself. That is *component-wise* byte order, which differs
//! from sorting whole path strings when a name holds a byte below `/` (e.g. a space):
//! `Files/a`, `Files/a/x`, `Files/a b`. [`LayerWriter`] enforces it and errors out;
//! [`write_layer`] sorts a list of entries first.
//!
//! Header rules (Go `archive/tar` with `Format: FormatPAX`, as go-winio sets it):
//! an entry with PAX records gets a `typeflag x` extended header named
//! `dir/PaxHeaders.0/file` (mode/uid/gid/mtime zero, records sorted by key), then a
//! header with magic `ustar\0` `00`; an entry without records (whiteouts, or entries the
//! caller gave no metadata) is a plain USTAR header. Records Go derives itself are added
//! the same way Go adds them: `path` for non-ASCII or >100-byte names, `linkpath`,
//! `size` for files of 8 GiB or more, `mtime` when it has a fraction, `atime`/`ctime`
//! when set.

use super::header::{self, BLOCK, off};
use super::{
    Error, FILE_ATTRIBUTE_ARCHIVE, FILE_ATTRIBUTE_DIRECTORY, MODE_DIR, MODE_FILE, MODE_HARDLINK,
    MODE_SYMLINK, PAX_CREATIONTIME, PAX_FILEATTR, PAX_MOUNTPOINT, PAX_RAWSD, PaxTime,
    WHITEOUT_PREFIX,
};
use base64::Engine as _;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File,
    /// A deleted file or directory: `path` is the deleted path; the tar entry is
    /// `parent/.wh.name`.
    Whiteout,
    HardLink {
        target: String,
    },
    /// A reparse point (symlink, or a junction when `mountpoint` is set).
    Symlink {
        target: String,
    },
}

/// One layer entry's header: path and Windows metadata. Times and attributes are the
/// caller's; the constructors fill in what hcsshim records for a fresh entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Slash-separated, relative, e.g. `Files/tools/keylight.reg`. For a whiteout, the
    /// path of the deleted file (e.g. `Files/old.txt`).
    pub path: String,
    pub kind: EntryKind,
    /// Content length (regular files only).
    pub size: u64,
    /// Tar mode field: type bits only (see `MODE_*`).
    pub mode: u32,
    pub mtime: PaxTime,
    pub atime: Option<PaxTime>,
    pub ctime: Option<PaxTime>,
    /// `LIBARCHIVE.creationtime`.
    pub creation_time: Option<PaxTime>,
    /// `MSWINDOWS.fileattr`.
    pub file_attributes: Option<u32>,
    /// `MSWINDOWS.rawsd`: the self-relative security descriptor, raw bytes.
    pub raw_sd: Option<Vec<u8>>,
    /// `MSWINDOWS.mountpoint=1` (a junction rather than a symlink).
    pub mountpoint: bool,
}

impl Entry {
    fn base(path: &str, kind: EntryKind, mode: u32, attrs: Option<u32>, t: PaxTime) -> Entry {
        Entry {
            path: path.to_string(),
            kind,
            size: 0,
            mode,
            mtime: t,
            atime: Some(t),
            ctime: Some(t),
            creation_time: Some(t),
            file_attributes: attrs,
            raw_sd: None,
            mountpoint: false,
        }
    }

    /// A directory as hcsshim exports it: attributes 16, all four times `t`.
    pub fn dir(path: &str, t: PaxTime) -> Entry {
        Entry::base(
            path,
            EntryKind::Dir,
            MODE_DIR,
            Some(FILE_ATTRIBUTE_DIRECTORY),
            t,
        )
    }

    /// A regular file as hcsshim exports it: attributes 32 (archive), all times `t`.
    pub fn file(path: &str, size: u64, t: PaxTime) -> Entry {
        let mut e = Entry::base(
            path,
            EntryKind::File,
            MODE_FILE,
            Some(FILE_ATTRIBUTE_ARCHIVE),
            t,
        );
        e.size = size;
        e
    }

    /// A deletion of `deleted_path` (a plain USTAR `.wh.` entry: size 0, mode 0, no times).
    pub fn whiteout(deleted_path: &str) -> Entry {
        Entry {
            path: deleted_path.to_string(),
            kind: EntryKind::Whiteout,
            size: 0,
            mode: 0,
            mtime: PaxTime::default(),
            atime: None,
            ctime: None,
            creation_time: None,
            file_attributes: None,
            raw_sd: None,
            mountpoint: false,
        }
    }

    /// A hard link to an earlier entry (mode 0644, as hcsshim's exporter writes it).
    pub fn hard_link(path: &str, target: &str, t: PaxTime) -> Entry {
        Entry::base(
            path,
            EntryKind::HardLink {
                target: target.to_string(),
            },
            MODE_HARDLINK,
            Some(FILE_ATTRIBUTE_ARCHIVE),
            t,
        )
    }

    /// A symlink (reparse point) to `target`.
    pub fn symlink(path: &str, target: &str, t: PaxTime) -> Entry {
        Entry::base(
            path,
            EntryKind::Symlink {
                target: target.to_string(),
            },
            MODE_SYMLINK,
            Some(0x400), // FILE_ATTRIBUTE_REPARSE_POINT
            t,
        )
    }

    pub fn with_sd(mut self, sd: Vec<u8>) -> Entry {
        self.raw_sd = Some(sd);
        self
    }

    pub fn with_attributes(mut self, attrs: u32) -> Entry {
        self.file_attributes = Some(attrs);
        self
    }

    /// The name this entry has inside the tar.
    pub fn tar_name(&self) -> String {
        match self.kind {
            EntryKind::Whiteout => match self.path.rsplit_once('/') {
                Some((dir, name)) => format!("{dir}/{WHITEOUT_PREFIX}{name}"),
                None => format!("{WHITEOUT_PREFIX}{}", self.path),
            },
            _ => self.path.clone(),
        }
    }

    /// The PAX records Go's writer would emit for this header, sorted by key.
    fn pax_records(&self, name: &str) -> BTreeMap<String, String> {
        let mut r = BTreeMap::new();
        if let Some(a) = self.file_attributes {
            r.insert(PAX_FILEATTR.to_string(), a.to_string());
        }
        if let Some(sd) = &self.raw_sd {
            r.insert(
                PAX_RAWSD.to_string(),
                base64::engine::general_purpose::STANDARD.encode(sd),
            );
        }
        if self.mountpoint {
            r.insert(PAX_MOUNTPOINT.to_string(), "1".to_string());
        }
        if let Some(t) = self.creation_time {
            r.insert(PAX_CREATIONTIME.to_string(), t.to_pax_string());
        }
        // Records Go derives from the header fields.
        if !header::is_ascii_c(name) || name.len() > header::NAME_LEN {
            // For a USTAR-only header a long ASCII name is split instead; that case is
            // handled by the caller (no records at all).
            r.insert("path".to_string(), name.to_string());
        }
        if let EntryKind::HardLink { target } | EntryKind::Symlink { target } = &self.kind
            && (!header::is_ascii_c(target) || target.len() > header::NAME_LEN)
        {
            r.insert("linkpath".to_string(), target.clone());
        }
        if !header::fits_octal(12, self.size) {
            r.insert("size".to_string(), self.size.to_string());
        }
        if self.mtime.nanos != 0 {
            r.insert("mtime".to_string(), self.mtime.to_pax_string());
        }
        if let Some(t) = self.atime {
            r.insert("atime".to_string(), t.to_pax_string());
        }
        if let Some(t) = self.ctime {
            r.insert("ctime".to_string(), t.to_pax_string());
        }
        r
    }
}

/// One path component with its sort rank: whiteouts (rank 0) sort right after their
/// directory, before its other children (rank 1).
type Key = Vec<(u8, Vec<u8>)>;

fn sort_key(e: &Entry) -> Key {
    let comps: Vec<&str> = e.path.split('/').collect();
    let last = comps.len().saturating_sub(1);
    comps
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let rank = if i == last && e.kind == EntryKind::Whiteout {
                0
            } else {
                1
            };
            (rank, c.as_bytes().to_vec())
        })
        .collect()
}

fn invalid(path: &str, reason: impl Into<String>) -> Error {
    Error::InvalidEntry {
        path: path.to_string(),
        reason: reason.into(),
    }
}

fn validate(e: &Entry) -> Result<(), Error> {
    let p = &e.path;
    if p.is_empty() {
        return Err(invalid(p, "empty path"));
    }
    if p.starts_with('/') || p.ends_with('/') {
        return Err(invalid(
            p,
            "paths are relative and carry no trailing slash (e.g. Files/tools)",
        ));
    }
    if p.contains('\\') || p.contains('\0') {
        return Err(invalid(
            p,
            "use '/' as separator; '\\' and NUL cannot appear in names",
        ));
    }
    let comps: Vec<&str> = p.split('/').collect();
    if comps
        .iter()
        .any(|c| c.is_empty() || *c == "." || *c == "..")
    {
        return Err(invalid(p, "empty, '.' or '..' path component"));
    }
    let top = comps[0];
    if !matches!(top, "Files" | "Hives" | "UtilityVM") {
        return Err(invalid(
            p,
            "a Windows layer holds only Files/, Hives/ and UtilityVM/ at the top level",
        ));
    }
    if comps.len() == 1 && e.kind != EntryKind::Dir {
        return Err(invalid(p, "top-level entries must be directories"));
    }
    let last = comps[comps.len() - 1];
    if e.kind != EntryKind::Whiteout && last.starts_with(WHITEOUT_PREFIX) {
        return Err(invalid(
            p,
            "a name starting with .wh. would read as a deletion; use Entry::whiteout",
        ));
    }
    match &e.kind {
        EntryKind::Whiteout => {
            if top == "Hives" || comps.len() == 1 {
                return Err(invalid(
                    p,
                    "whiteouts belong under Files/; registry deletions live in delta hives",
                ));
            }
            if e.raw_sd.is_some() || e.file_attributes.is_some() || e.creation_time.is_some() {
                return Err(invalid(p, "a whiteout carries no metadata"));
            }
        }
        EntryKind::File => {}
        EntryKind::Dir => {
            if e.size != 0 {
                return Err(invalid(p, "a directory has size 0"));
            }
        }
        EntryKind::HardLink { target } | EntryKind::Symlink { target } => {
            if e.size != 0 {
                return Err(invalid(p, "a link has size 0"));
            }
            if target.is_empty() || target.contains('\0') {
                return Err(invalid(p, "empty or NUL-containing link target"));
            }
        }
    }
    if top == "Hives" && comps.len() > 1 && e.kind != EntryKind::File {
        return Err(invalid(p, "Hives/ holds only delta hive files"));
    }
    if (top == "Hives" || comps.len() == 1) && e.raw_sd.is_some() && top != "UtilityVM" {
        return Err(invalid(
            p,
            "the Files and Hives directories and hive files carry no security descriptor (hcsshim reads them without one)",
        ));
    }
    for t in [Some(e.mtime), e.atime, e.ctime, e.creation_time]
        .into_iter()
        .flatten()
    {
        if t.secs < 0 || !header::fits_octal(12, t.secs as u64) || t.nanos >= 1_000_000_000 {
            return Err(invalid(
                p,
                format!("time {t:?} out of range (0 <= secs < 8^11, nanos < 1e9)"),
            ));
        }
    }
    if e.mode >= 8u32.pow(7) {
        return Err(invalid(p, "mode does not fit the tar field"));
    }
    Ok(())
}

/// A streaming layer writer. Call [`LayerWriter::append`] for each entry in tree order,
/// then [`LayerWriter::finish`]. Out-of-order entries and entries whose parent directory
/// was not written are errors (nothing is reordered behind your back).
pub struct LayerWriter<W: Write> {
    out: W,
    prev: Option<(Key, String)>,
    /// Directories from the top level down to the last one written on the current branch.
    open_dirs: Vec<String>,
    finished: bool,
}

impl<W: Write> LayerWriter<W> {
    pub fn new(out: W) -> Self {
        LayerWriter {
            out,
            prev: None,
            open_dirs: Vec::new(),
            finished: false,
        }
    }

    /// Append an entry; for a regular file `content` must yield exactly `entry.size`
    /// bytes (it is not read for other kinds).
    pub fn append(&mut self, entry: &Entry, content: &mut dyn Read) -> Result<(), Error> {
        if self.finished {
            return Err(Error::Finished);
        }
        validate(entry)?;
        self.check_order(entry)?;
        let name = entry.tar_name();
        self.write_headers(entry, &name)?;
        if entry.kind == EntryKind::File {
            let mut limited = content.take(entry.size);
            let n = io::copy(&mut limited, &mut self.out)?;
            if n != entry.size {
                return Err(Error::SizeMismatch {
                    path: entry.path.clone(),
                    expected: entry.size,
                    got: n,
                });
            }
            let mut probe = [0u8; 1];
            if content.read(&mut probe)? != 0 {
                return Err(Error::SizeMismatch {
                    path: entry.path.clone(),
                    expected: entry.size,
                    got: entry.size + 1,
                });
            }
            self.pad(entry.size)?;
        }
        Ok(())
    }

    /// [`LayerWriter::append`] with in-memory content (its length must equal `entry.size`).
    pub fn append_bytes(&mut self, entry: &Entry, data: &[u8]) -> Result<(), Error> {
        let mut r = data;
        self.append(entry, &mut r)
    }

    /// Write the end-of-archive marker (two zero blocks, as Go) and return the sink.
    pub fn finish(mut self) -> Result<W, Error> {
        if self.finished {
            return Err(Error::Finished);
        }
        self.out.write_all(&[0u8; BLOCK * 2])?;
        self.out.flush()?;
        self.finished = true;
        Ok(self.out)
    }

    fn check_order(&mut self, e: &Entry) -> Result<(), Error> {
        let key = sort_key(e);
        if let Some((pk, pp)) = &self.prev
            && key.cmp(pk) != Ordering::Greater
        {
            return Err(Error::Order {
                path: e.path.clone(),
                prev: pp.clone(),
                reason: if key == *pk {
                    "duplicate entry".into()
                } else {
                    "entries must be in tree order (each directory's children sorted by name, whiteouts first)".into()
                },
            });
        }
        let parent = e.path.rsplit_once('/').map(|(d, _)| d.to_string());
        // Close directories that are not ancestors of this entry.
        while let Some(top) = self.open_dirs.last() {
            let is_ancestor = parent
                .as_deref()
                .is_some_and(|p| p == top || p.starts_with(&format!("{top}/")));
            if is_ancestor {
                break;
            }
            self.open_dirs.pop();
        }
        if let Some(p) = &parent
            && self.open_dirs.last() != Some(p)
        {
            return Err(Error::Order {
                path: e.path.clone(),
                prev: self.prev.as_ref().map(|x| x.1.clone()).unwrap_or_default(),
                reason: format!("its parent directory {p:?} must be written before it"),
            });
        }
        if e.kind == EntryKind::Dir {
            self.open_dirs.push(e.path.clone());
        }
        self.prev = Some((key, e.path.clone()));
        Ok(())
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rem = (size % BLOCK as u64) as usize;
        if rem != 0 {
            self.out.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    fn write_headers(&mut self, e: &Entry, name: &str) -> Result<(), Error> {
        let records = e.pax_records(name);
        let typeflag = match e.kind {
            EntryKind::Dir => b'5',
            EntryKind::File | EntryKind::Whiteout => b'0',
            EntryKind::HardLink { .. } => b'1',
            EntryKind::Symlink { .. } => b'2',
        };
        let link = match &e.kind {
            EntryKind::HardLink { target } | EntryKind::Symlink { target } => target.as_str(),
            _ => "",
        };
        // Go picks USTAR when no record is needed; a long ASCII name is then split into
        // prefix + name. Only when that fails does "path" force PAX.
        let only_path = records.len() == 1 && records.contains_key("path");
        if records.is_empty() || (only_path && header::split_ustar_path(name).is_some()) {
            let mut blk = self.template(e, typeflag, link, |blk, at, len, s| {
                header::put_str(blk, at, len, s.as_bytes())
            });
            match header::split_ustar_path(name) {
                Some((prefix, suffix)) => {
                    header::put_str(&mut blk, off::NAME, header::NAME_LEN, suffix.as_bytes());
                    header::put_str(&mut blk, off::PREFIX, header::PREFIX_LEN, prefix.as_bytes());
                }
                None => header::put_str(&mut blk, off::NAME, header::NAME_LEN, name.as_bytes()),
            }
            header::finish_block(&mut blk);
            self.out.write_all(&blk)?;
            return Ok(());
        }

        // The extended header: Go's writeRawFile.
        let mut data = String::new();
        for (k, v) in &records {
            if k.contains('\0') || k.contains('=') || k.is_empty() {
                return Err(invalid(&e.path, format!("invalid PAX key {k:?}")));
            }
            if matches!(k.as_str(), "path" | "linkpath") && v.contains('\0') {
                return Err(invalid(&e.path, "NUL in a path"));
            }
            data.push_str(&header::pax_record(k, v));
        }
        let mut x = [0u8; BLOCK];
        let xname = header::pax_header_name(name);
        header::put_str(&mut x, off::NAME, header::NAME_LEN, xname.as_bytes());
        header::put_octal(&mut x, off::MODE, 8, 0);
        header::put_octal(&mut x, off::UID, 8, 0);
        header::put_octal(&mut x, off::GID, 8, 0);
        header::put_octal(&mut x, off::SIZE, 12, data.len() as u64);
        header::put_octal(&mut x, off::MTIME, 12, 0);
        x[off::TYPEFLAG] = b'x';
        header::finish_block(&mut x);
        self.out.write_all(&x)?;
        self.out.write_all(data.as_bytes())?;
        self.pad(data.len() as u64)?;

        // The main header: strings made ASCII and left empty when they do not fit.
        let blk = self.template(e, typeflag, link, |blk, at, len, s| {
            header::put_str(blk, at, len, header::to_ascii(s).as_bytes())
        });
        let mut blk = blk;
        header::put_str(
            &mut blk,
            off::NAME,
            header::NAME_LEN,
            header::to_ascii(name).as_bytes(),
        );
        header::finish_block(&mut blk);
        self.out.write_all(&blk)?;
        Ok(())
    }

    /// Go's `templateV7Plus`: the fields every format shares (name written by caller).
    fn template(
        &self,
        e: &Entry,
        typeflag: u8,
        link: &str,
        put: impl Fn(&mut [u8; BLOCK], usize, usize, &str),
    ) -> [u8; BLOCK] {
        let mut blk = [0u8; BLOCK];
        blk[off::TYPEFLAG] = typeflag;
        put(&mut blk, off::LINKNAME, header::NAME_LEN, link);
        header::put_octal(&mut blk, off::MODE, 8, u64::from(e.mode));
        header::put_octal(&mut blk, off::UID, 8, 0);
        header::put_octal(&mut blk, off::GID, 8, 0);
        let size = if e.kind == EntryKind::File { e.size } else { 0 };
        header::put_octal(&mut blk, off::SIZE, 12, size);
        header::put_octal(&mut blk, off::MTIME, 12, e.mtime.secs as u64);
        put(&mut blk, off::UNAME, 32, "");
        put(&mut blk, off::GNAME, 32, "");
        header::put_octal(&mut blk, off::DEVMAJOR, 8, 0);
        header::put_octal(&mut blk, off::DEVMINOR, 8, 0);
        blk
    }
}

/// An entry with its content, for [`write_layer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerItem {
    pub entry: Entry,
    /// Content of a regular file (`entry.size` is set from it); empty otherwise.
    pub data: Vec<u8>,
}

impl LayerItem {
    pub fn dir(entry: Entry) -> LayerItem {
        LayerItem {
            entry,
            data: Vec::new(),
        }
    }
    pub fn file(mut entry: Entry, data: Vec<u8>) -> LayerItem {
        entry.size = data.len() as u64;
        LayerItem { entry, data }
    }
}

/// Sort `items` into hcsshim's order and write the whole layer to `out`.
pub fn write_layer<W: Write>(out: W, mut items: Vec<LayerItem>) -> Result<W, Error> {
    items.sort_by_cached_key(|i| sort_key(&i.entry));
    let mut w = LayerWriter::new(out);
    for it in &items {
        w.append_bytes(&it.entry, &it.data)?;
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: PaxTime = PaxTime::from_secs(1_700_000_000);

    fn bytes_of(items: Vec<LayerItem>) -> Vec<u8> {
        write_layer(Vec::new(), items).unwrap()
    }

    #[test]
    fn whiteout_is_plain_ustar_like_go() {
        let out = bytes_of(vec![
            LayerItem::dir(Entry::dir("Files", T)),
            LayerItem::dir(Entry::whiteout("Files/old.txt")),
        ]);
        // Files dir: x header + records + main header; whiteout: one block; trailer.
        let wh = &out[out.len() - 3 * BLOCK..out.len() - 2 * BLOCK];
        assert_eq!(&wh[..16], b"Files/.wh.old.tx");
        assert_eq!(&wh[100..108], b"0000000\0");
        assert_eq!(&wh[124..136], b"00000000000\0");
        assert_eq!(&wh[136..148], b"00000000000\0");
        assert_eq!(wh[156], b'0');
        assert_eq!(&wh[257..265], b"ustar\x0000");
        assert_eq!(wh[155], b' ');
        assert_eq!(wh[154], 0);
        assert_eq!(&out[out.len() - 2 * BLOCK..], &[0u8; 2 * BLOCK][..]);
    }

    #[test]
    fn pax_header_is_named_and_filled_like_go() {
        let out = bytes_of(vec![LayerItem::dir(Entry::dir("Files", T))]);
        let x = &out[..BLOCK];
        assert_eq!(&x[..19], b"PaxHeaders.0/Files\0");
        assert_eq!(&x[100..108], b"0000000\0");
        assert_eq!(&x[108..116], b"0000000\0");
        assert_eq!(&x[136..148], b"00000000000\0");
        assert_eq!(x[156], b'x');
        let size = header::get_num(x.try_into().unwrap(), off::SIZE, 12).unwrap() as usize;
        let data = std::str::from_utf8(&out[BLOCK..BLOCK + size]).unwrap();
        assert_eq!(
            data,
            "38 LIBARCHIVE.creationtime=1700000000\n25 MSWINDOWS.fileattr=16\n20 atime=1700000000\n20 ctime=1700000000\n"
        );
        let main = &out[2 * BLOCK..3 * BLOCK];
        assert_eq!(&main[..6], b"Files\0");
        assert_eq!(&main[100..108], b"0040000\0");
        assert_eq!(main[156], b'5');
        assert_eq!(&main[329..345], b"0000000\x000000000\0");
    }

    #[test]
    fn order_is_enforced() {
        let mut w = LayerWriter::new(Vec::new());
        w.append_bytes(&Entry::dir("Files", T), &[]).unwrap();
        let e = w
            .append_bytes(&Entry::file("Files/a/b", 0, T), &[])
            .unwrap_err();
        assert!(e.to_string().contains("parent directory"), "{e}");

        let mut w = LayerWriter::new(Vec::new());
        w.append_bytes(&Entry::dir("Hives", T), &[]).unwrap();
        let e = w.append_bytes(&Entry::dir("Files", T), &[]).unwrap_err();
        assert!(e.to_string().contains("out of order"), "{e}");
    }

    #[test]
    fn component_order_not_string_order() {
        let items = vec![
            LayerItem::dir(Entry::dir("Files", T)),
            LayerItem::dir(Entry::dir("Files/a b", T)),
            LayerItem::dir(Entry::dir("Files/a", T)),
            LayerItem::file(Entry::file("Files/a/x", 0, T), vec![]),
            LayerItem::dir(Entry::whiteout("Files/a/zz")),
        ];
        let mut sorted = items.clone();
        sorted.sort_by_cached_key(|i| sort_key(&i.entry));
        let names: Vec<String> = sorted.iter().map(|i| i.entry.tar_name()).collect();
        assert_eq!(
            names,
            [
                "Files",
                "Files/a",
                "Files/a/.wh.zz",
                "Files/a/x",
                "Files/a b"
            ]
        );
    }

    #[test]
    fn size_mismatch_and_bad_entries() {
        let mut w = LayerWriter::new(Vec::new());
        w.append_bytes(&Entry::dir("Files", T), &[]).unwrap();
        assert!(matches!(
            w.append_bytes(&Entry::file("Files/f", 3, T), b"ab"),
            Err(Error::SizeMismatch { .. })
        ));
        let mut w = LayerWriter::new(Vec::new());
        assert!(w.append_bytes(&Entry::dir("Other", T), &[]).is_err());
        assert!(
            w.append_bytes(&Entry::dir("Hives", T).with_sd(vec![1]), &[])
                .is_err()
        );
        assert!(w.append_bytes(&Entry::dir("Files/", T), &[]).is_err());
    }

    #[test]
    fn long_names_use_ustar_prefix_or_pax_path() {
        let long = format!("Files/{}/{}", "d".repeat(110), "f".repeat(10));
        let wh = Entry::whiteout(&long);
        let items = vec![
            LayerItem::dir(Entry::dir("Files", T)),
            LayerItem::dir(Entry::dir(&format!("Files/{}", "d".repeat(110)), T)),
            LayerItem::dir(wh),
        ];
        let out = bytes_of(items);
        let blk = &out[out.len() - 3 * BLOCK..out.len() - 2 * BLOCK];
        // name field holds the last component, prefix the directory
        assert!(blk[..100].starts_with(b".wh.ffffffffff\0"));
        assert!(blk[345..].starts_with(format!("Files/{}", "d".repeat(110)).as_bytes()));
    }
}
