//! regf reader: bytes → [`Hive`] model.
//!
//! Two readers look at every hive. `nt-hive` validates the base block (signature,
//! sequence numbers, version, type, format, data size, clustering, checksum) and walks
//! the keys and values a second time as a cross-check. Our own cell reader does the
//! walk that builds the model, because nt-hive exposes none of the fields a differencing
//! hive depends on (layer byte, tombstone values, base-block flags, timestamps, classes,
//! security descriptors) and it asserts (panics) on some corrupt offsets. Our walk runs
//! first and checks every reference with checked reads, so nt-hive is only ever pointed
//! at structures already known to be sound.
//!
//! The cell code ([`Cells`]: look-ups, `nk`, `vk`, lists, big data) is shared with
//! [`super::stream`], which walks the same checks without building the model.

use super::Error;
use super::model::{Header, Hive, KEY_COMP_NAME, Key, Layer, Value};
use std::borrow::Cow;
use std::collections::HashMap;

pub(super) const BASE: usize = 4096;
/// Largest value data that fits in one cell; more goes to `db` big data (minor ≥ 4).
pub const BIG_DATA_SEGMENT: usize = 16344;
/// Windows limits key nesting to 512 levels (the writer and builder keep to it too).
const MAX_DEPTH: usize = crate::limits::MAX_KEY_DEPTH;

pub(super) fn corrupt(offset: usize, what: impl Into<String>) -> Error {
    Error::Corrupt {
        offset: offset as u64,
        what: what.into(),
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The hive bins of one file, indexed: every reference is looked up through [`Cells::cell`],
/// which accepts only the start of an allocated cell. Shared by [`read`] (the model) and
/// [`super::stream`] (the streaming walk), so both accept and refuse the same hives.
pub(super) struct Cells<'a> {
    /// Hive-bin data (file bytes from 4096, `data size` long).
    data: &'a [u8],
    /// One bit per 8-byte slot: a cell starts here.
    starts: Vec<u64>,
    pub(super) minor: u32,
}

/// A key node's own fields (its values and subkeys stay in their cells).
pub(super) struct Nk {
    pub(super) name: String,
    /// nk flags as stored (KEY_COMP_NAME included).
    pub(super) flags: u16,
    pub(super) access_bits: u8,
    pub(super) layer: Layer,
    pub(super) timestamp: u64,
    pub(super) class: Option<String>,
    pub(super) nsub: u32,
    pub(super) subl: u32,
    pub(super) nval: u32,
    pub(super) vall: u32,
    pub(super) sk: u32,
}

/// A subkey list cell: `lf`/`lh` (8-byte entries), `li` (4) or `ri` (4, entries are lists).
#[derive(Clone, Copy)]
pub(super) struct List<'a> {
    cell: &'a [u8],
    step: usize,
    pub(super) ri: bool,
    pub(super) n: usize,
}

impl<'a> List<'a> {
    pub(super) fn entry(&self, i: usize) -> u32 {
        u32_at(self.cell, 4 + i * self.step).unwrap_or(u32::MAX)
    }
}

/// A value cell, checked: name bytes, type, flags and where its data is.
pub(super) struct RawValue<'a> {
    name: &'a [u8],
    compressed: bool,
    at: u32,
    pub(super) kind: u32,
    pub(super) tombstone: bool,
    data: RawData<'a>,
}

enum RawData<'a> {
    /// Inline or one cell: the exact bytes.
    Bytes(&'a [u8]),
    /// `db` big data: the segment list (`n` entries) and the value size.
    Big { list: &'a [u8], len: usize },
}

/// Set the "visited" bit of the key node at `off`; a second visit is a loop.
pub(super) fn mark_seen(seen: &mut [u64], off: u32) -> Result<(), Error> {
    let slot = off as usize / 8;
    if seen[slot / 64] & (1 << (slot % 64)) != 0 {
        return Err(corrupt(
            BASE + off as usize,
            "key node is referenced twice (a loop)",
        ));
    }
    seen[slot / 64] |= 1 << (slot % 64);
    Ok(())
}

impl<'a> Cells<'a> {
    pub(super) fn new(data: &'a [u8], minor: u32) -> Result<Self, Error> {
        let slots = data.len() / 8;
        let mut starts = vec![0u64; slots / 64 + 1];
        let mut off = 0usize;
        while off < data.len() {
            let sig = data.get(off..off + 4);
            if sig != Some(b"hbin") {
                return Err(corrupt(BASE + off, "expected a hive bin signature `hbin`"));
            }
            let own = u32_at(data, off + 4).unwrap_or(u32::MAX) as usize;
            if own != off {
                return Err(corrupt(
                    BASE + off + 4,
                    format!("hive bin says it is at {own:#x}, but it is at {off:#x}"),
                ));
            }
            let size = u32_at(data, off + 8).unwrap_or(0) as usize;
            if size == 0 || !size.is_multiple_of(4096) || off + size > data.len() {
                return Err(corrupt(
                    BASE + off + 8,
                    format!("hive bin size {size} is not a multiple of 4096 inside the hive"),
                ));
            }
            let end = off + size;
            let mut c = off + 32;
            while c < end {
                let s = u32_at(data, c).ok_or_else(|| corrupt(BASE + c, "truncated cell"))? as i32;
                let len = s.unsigned_abs() as usize;
                if len < 8 || !len.is_multiple_of(8) || c + len > end {
                    return Err(corrupt(
                        BASE + c,
                        format!("cell size {s} is not a multiple of 8 inside its hive bin"),
                    ));
                }
                if s < 0 {
                    starts[c / 8 / 64] |= 1 << ((c / 8) % 64);
                }
                c += len;
            }
            off = end;
        }
        Ok(Cells {
            data,
            starts,
            minor,
        })
    }

    /// A zeroed "visited" bitmap for one walk (one bit per 8-byte slot).
    pub(super) fn seen_bitmap(&self) -> Vec<u64> {
        vec![0u64; self.data.len() / 8 / 64 + 1]
    }

    /// The payload of the allocated cell at `off` (after its size field).
    fn cell(&self, off: u32, what: &str) -> Result<&'a [u8], Error> {
        let o = off as usize;
        if off == u32::MAX || !o.is_multiple_of(8) || o >= self.data.len() {
            return Err(corrupt(
                BASE,
                format!("{what} offset {off:#x} is outside the hive bins"),
            ));
        }
        if self.starts[o / 8 / 64] & (1 << ((o / 8) % 64)) == 0 {
            return Err(corrupt(
                BASE + o,
                format!("{what} offset {off:#x} is not an allocated cell"),
            ));
        }
        let s = u32_at(self.data, o).unwrap_or(0) as i32;
        let len = s.unsigned_abs() as usize;
        self.data
            .get(o + 4..o + len)
            .ok_or_else(|| corrupt(BASE + o, format!("{what} cell runs past the hive bins")))
    }

    fn name(&self, bytes: &[u8], compressed: bool, at: u32) -> Result<String, Error> {
        if compressed {
            Ok(bytes.iter().map(|&b| b as char).collect())
        } else {
            utf16(bytes).ok_or_else(|| bad_utf16(at))
        }
    }

    /// The key node at `off`, marked visited in `seen`. Depth is the caller's to check.
    pub(super) fn nk(&self, off: u32, seen: &mut [u64]) -> Result<Nk, Error> {
        let c = self.cell(off, "key node")?;
        if c.len() < 76 || &c[0..2] != b"nk" {
            return Err(corrupt(BASE + off as usize, "expected a key node `nk`"));
        }
        mark_seen(seen, off)?;
        let f = |at| u32_at(c, at).unwrap_or(0);
        let flags = u16_at(c, 2).unwrap_or(0);
        let class_off = f(48);
        let name_len = u16_at(c, 72).unwrap_or(0) as usize;
        let class_len = u16_at(c, 74).unwrap_or(0) as usize;
        let name_bytes = c
            .get(76..76 + name_len)
            .ok_or_else(|| corrupt(BASE + off as usize, "key name runs past its cell"))?;
        let name = self.name(name_bytes, flags & KEY_COMP_NAME != 0, off)?;
        let class = if class_off != u32::MAX && class_len > 0 {
            let cc = self.cell(class_off, "class name")?;
            let b = cc.get(..class_len).ok_or_else(|| {
                corrupt(BASE + class_off as usize, "class name runs past its cell")
            })?;
            Some(self.name(b, false, class_off)?)
        } else {
            None
        };
        Ok(Nk {
            name,
            flags,
            access_bits: c[12],
            layer: Layer::from_byte(c[13]),
            timestamp: u64_at(c, 4).unwrap_or(0),
            class,
            nsub: f(20),
            subl: f(28),
            nval: f(36),
            vall: f(40),
            sk: f(44),
        })
    }

    /// The security descriptor bytes of the `sk` cell at `sk`.
    pub(super) fn security(&self, sk: u32) -> Result<&'a [u8], Error> {
        let c = self.cell(sk, "security (sk)")?;
        if c.len() < 20 || &c[0..2] != b"sk" {
            return Err(corrupt(BASE + sk as usize, "expected a security cell `sk`"));
        }
        let len = u32_at(c, 16).unwrap_or(0) as usize;
        c.get(20..20 + len)
            .ok_or_else(|| corrupt(BASE + sk as usize, "security descriptor runs past its cell"))
    }

    /// A key's value list (empty when it has no values), at least `nval` entries long.
    pub(super) fn value_list(&self, nval: u32, vall: u32) -> Result<&'a [u8], Error> {
        if nval == 0 {
            return Ok(&[]);
        }
        let list = self.cell(vall, "value list")?;
        if (list.len() / 4) < nval as usize {
            return Err(corrupt(
                BASE + vall as usize,
                "value list is shorter than the value count",
            ));
        }
        Ok(list)
    }

    /// The subkey list cell at `off`; `ri` only where `allow_ri` (an index root's
    /// entries must be leaves).
    pub(super) fn list(&self, off: u32, allow_ri: bool) -> Result<List<'a>, Error> {
        let c = self.cell(off, "subkey list")?;
        let n = u16_at(c, 2).unwrap_or(0) as usize;
        let (step, ri) = match c.get(0..2) {
            Some(b"lf") | Some(b"lh") => (8, false),
            Some(b"li") => (4, false),
            Some(b"ri") if allow_ri => (4, true),
            _ => {
                return Err(corrupt(
                    BASE + off as usize,
                    "expected a subkey list `lf`, `lh`, `li` or `ri`",
                ));
            }
        };
        if 4 + n * step > c.len() {
            return Err(corrupt(
                BASE + off as usize,
                "subkey list runs past its cell",
            ));
        }
        Ok(List {
            cell: c,
            step,
            ri,
            n,
        })
    }

    /// Check the subkey lists of the key at `key_off` (every leaf of an `ri` too) and
    /// that they hold `nsub` subkeys, without collecting them.
    pub(super) fn check_subkeys(&self, key_off: u32, nsub: u32, subl: u32) -> Result<(), Error> {
        let top = self.list(subl, true)?;
        let held = if top.ri {
            let mut t = 0usize;
            for i in 0..top.n {
                t += self.list(top.entry(i), false)?.n;
            }
            t
        } else {
            top.n
        };
        if held != nsub as usize {
            return Err(corrupt(
                BASE + key_off as usize,
                format!("key says {nsub} subkeys, its lists hold {held}"),
            ));
        }
        Ok(())
    }

    fn subkey_list(&self, off: u32, out: &mut Vec<u32>) -> Result<(), Error> {
        let top = self.list(off, true)?;
        for i in 0..top.n {
            if top.ri {
                let leaf = self.list(top.entry(i), false)?;
                out.extend((0..leaf.n).map(|j| leaf.entry(j)));
            } else {
                out.push(top.entry(i));
            }
        }
        Ok(())
    }

    /// The value cell at `off`, checked through to the end of its data (big data
    /// segments included) without copying anything.
    pub(super) fn raw_value(&self, off: u32) -> Result<RawValue<'a>, Error> {
        let c = self.cell(off, "value")?;
        if c.len() < 20 || &c[0..2] != b"vk" {
            return Err(corrupt(BASE + off as usize, "expected a value `vk`"));
        }
        let name_len = u16_at(c, 2).unwrap_or(0) as usize;
        let size = u32_at(c, 4).unwrap_or(0);
        let doff = u32_at(c, 8).unwrap_or(0);
        let kind = u32_at(c, 12).unwrap_or(0);
        let flags = u16_at(c, 16).unwrap_or(0);
        let nb = c
            .get(20..20 + name_len)
            .ok_or_else(|| corrupt(BASE + off as usize, "value name runs past its cell"))?;
        let compressed = flags & 1 != 0;
        if !compressed && !utf16_ok(nb) {
            return Err(bad_utf16(off));
        }
        let tombstone = flags & 2 != 0;
        let len = (size & 0x7fff_ffff) as usize;
        let data = if size & 0x8000_0000 != 0 {
            if len > 4 {
                return Err(corrupt(
                    BASE + off as usize,
                    "inline value data longer than 4 bytes",
                ));
            }
            RawData::Bytes(&c[8..8 + len])
        } else if len == 0 {
            RawData::Bytes(&[])
        } else {
            let d = self.cell(doff, "value data")?;
            if self.minor >= 4 && len > BIG_DATA_SEGMENT && d.get(0..2) == Some(b"db") {
                RawData::Big {
                    list: self.big_data_list(doff, d, len)?,
                    len,
                }
            } else {
                RawData::Bytes(d.get(..len).ok_or_else(|| {
                    corrupt(BASE + doff as usize, "value data runs past its cell")
                })?)
            }
        };
        Ok(RawValue {
            name: nb,
            compressed,
            at: off,
            kind,
            tombstone,
            data,
        })
    }

    /// Check a `db` cell: its segment list, and that the segments hold `len` bytes.
    fn big_data_list(&self, off: u32, db: &[u8], len: usize) -> Result<&'a [u8], Error> {
        let n = u16_at(db, 2).unwrap_or(0) as usize;
        let list_off = u32_at(db, 4).unwrap_or(u32::MAX);
        let list = self.cell(list_off, "big data segment list")?;
        if list.len() < n * 4 || n * BIG_DATA_SEGMENT < len {
            return Err(corrupt(
                BASE + off as usize,
                "big data segment list is too short",
            ));
        }
        let mut got = 0usize;
        for i in 0..n {
            let so = u32_at(list, i * 4).unwrap_or(u32::MAX);
            let seg = self.cell(so, "big data segment")?;
            got += (len - got).min(BIG_DATA_SEGMENT).min(seg.len());
            if got == len {
                break;
            }
        }
        if got != len {
            return Err(corrupt(
                BASE + off as usize,
                "big data segments hold less than the value size",
            ));
        }
        Ok(list)
    }

    /// A checked value's name (Latin-1 or UTF-16 as flagged).
    pub(super) fn value_name(&self, v: &RawValue<'a>) -> Result<String, Error> {
        self.name(v.name, v.compressed, v.at)
    }

    /// A checked value's data: borrowed from the hive, copied only for big data.
    pub(super) fn value_data(&self, v: &RawValue<'a>) -> Result<Cow<'a, [u8]>, Error> {
        match v.data {
            RawData::Bytes(b) => Ok(Cow::Borrowed(b)),
            RawData::Big { list, len } => {
                let mut out = Vec::with_capacity(len);
                let mut i = 0;
                while out.len() < len {
                    let so = u32_at(list, i * 4).unwrap_or(u32::MAX);
                    let seg = self.cell(so, "big data segment")?;
                    let take = (len - out.len()).min(BIG_DATA_SEGMENT).min(seg.len());
                    out.extend_from_slice(&seg[..take]);
                    i += 1;
                }
                Ok(Cow::Owned(out))
            }
        }
    }

    fn value(&self, off: u32) -> Result<Value, Error> {
        let raw = self.raw_value(off)?;
        Ok(Value {
            name: self.value_name(&raw)?,
            kind: raw.kind,
            data: self.value_data(&raw)?.into_owned(),
            tombstone: raw.tombstone,
        })
    }
}

/// The model builder: the depth-first walk of [`read`] over checked cells.
struct Model<'c, 'a> {
    cells: &'c Cells<'a>,
    seen: Vec<u64>,
    sk_cache: HashMap<u32, std::sync::Arc<[u8]>>,
}

impl Model<'_, '_> {
    fn key(&mut self, off: u32, depth: usize) -> Result<Key, Error> {
        if depth > MAX_DEPTH {
            return Err(corrupt(
                BASE + off as usize,
                "keys nest deeper than 512 levels",
            ));
        }
        let nk = self.cells.nk(off, &mut self.seen)?;
        let security = self.security(nk.sk)?;
        let list = self.cells.value_list(nk.nval, nk.vall)?;
        let mut values = Vec::with_capacity(nk.nval.min(4096) as usize);
        for i in 0..nk.nval as usize {
            let vo = u32_at(list, i * 4).unwrap_or(u32::MAX);
            values.push(self.cells.value(vo)?);
        }
        let mut subkeys = Vec::new();
        if nk.nsub > 0 {
            let mut offs = Vec::with_capacity(nk.nsub.min(65536) as usize);
            self.cells.subkey_list(nk.subl, &mut offs)?;
            if offs.len() != nk.nsub as usize {
                return Err(corrupt(
                    BASE + off as usize,
                    format!(
                        "key says {} subkeys, its lists hold {}",
                        nk.nsub,
                        offs.len()
                    ),
                ));
            }
            subkeys.reserve(offs.len());
            for o in offs {
                subkeys.push(self.key(o, depth + 1)?);
            }
        }
        Ok(Key {
            name: nk.name,
            flags: nk.flags & !KEY_COMP_NAME,
            access_bits: nk.access_bits,
            layer: nk.layer,
            timestamp: nk.timestamp,
            class: nk.class,
            security,
            values,
            subkeys,
        })
    }

    fn security(&mut self, sk: u32) -> Result<std::sync::Arc<[u8]>, Error> {
        if let Some(sd) = self.sk_cache.get(&sk) {
            return Ok(sd.clone());
        }
        let sd: std::sync::Arc<[u8]> = self.cells.security(sk)?.into();
        self.sk_cache.insert(sk, sd.clone());
        Ok(sd)
    }
}

fn bad_utf16(at: u32) -> Error {
    corrupt(
        BASE + at as usize,
        "name is not valid UTF-16 (odd length or lone surrogate)",
    )
}

/// Whether `b` is well-formed UTF-16LE, without building the string.
fn utf16_ok(b: &[u8]) -> bool {
    b.len().is_multiple_of(2)
        && char::decode_utf16(b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])))
            .all(|r| r.is_ok())
}

fn utf16(b: &[u8]) -> Option<String> {
    if !b.len().is_multiple_of(2) {
        return None;
    }
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).ok()
}

/// A hive file opened: the base block checked by nt-hive and parsed, the hive bins indexed.
pub(super) struct Opened<'a> {
    pub(super) nt: nt_hive::Hive<&'a [u8]>,
    pub(super) header: Header,
    pub(super) cells: Cells<'a>,
    /// The root key's cell offset.
    pub(super) root: u32,
}

pub(super) fn open(bytes: &[u8]) -> Result<Opened<'_>, Error> {
    if bytes.len() < BASE {
        return Err(Error::NotAHive(format!(
            "{} bytes is shorter than the 4096-byte base block",
            bytes.len()
        )));
    }
    if &bytes[0..4] != b"regf" {
        return Err(Error::NotAHive("it does not start with `regf`".into()));
    }
    let nt = nt_hive::Hive::new(bytes).map_err(|e| Error::NtHive(e.to_string()))?;
    let f = |at| u32_at(bytes, at).unwrap_or(0);
    let minor = f(24);
    let data_size = f(40) as usize;
    let data = bytes
        .get(BASE..BASE + data_size)
        .ok_or_else(|| corrupt(40, "hive-bins data size runs past the end of the file"))?;
    let mut name_units: Vec<u16> = bytes[48..112]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    if let Some(p) = name_units.iter().position(|&u| u == 0) {
        name_units.truncate(p);
    }
    let header = Header {
        minor_version: minor,
        sequence: f(4),
        timestamp: u64_at(bytes, 12).unwrap_or(0),
        flags: f(144),
        file_name: String::from_utf16_lossy(&name_units),
        reorganized: u64_at(bytes, 168).unwrap_or(0),
        offreg: (&bytes[176..180] == b"OfRg").then(|| f(180)),
    };
    let cells = Cells::new(data, minor)?;
    Ok(Opened {
        nt,
        header,
        cells,
        root: f(36),
    })
}

/// Parse a hive. See the module doc for what is checked.
pub fn read(bytes: &[u8]) -> Result<Hive, Error> {
    let Opened {
        nt,
        header,
        cells,
        root: root_off,
    } = open(bytes)?;
    let mut model = Model {
        seen: cells.seen_bitmap(),
        cells: &cells,
        sk_cache: HashMap::new(),
    };
    let root = model.key(root_off, 0)?;
    cross_check(&nt, &root, header.minor_version)?;
    Ok(Hive { header, root })
}

/// Walk nt-hive's view of the same hive and require the same keys, values and data.
fn cross_check(nt: &nt_hive::Hive<&[u8]>, root: &Key, minor: u32) -> Result<(), Error> {
    let nroot = nt
        .root_key_node()
        .map_err(|e| Error::NtHive(e.to_string()))?;
    check_key(&nroot, root, "", minor)
}

pub(super) fn disagree(path: &str, what: impl Into<String>) -> Error {
    Error::Disagree {
        path: if path.is_empty() {
            "(root)".into()
        } else {
            path.to_string()
        },
        what: what.into(),
    }
}

/// nt-hive's name of a key must be ours (the model's and the stream's check).
pub(super) fn check_key_name(
    n: &nt_hive::KeyNode<&[u8]>,
    name: &str,
    path: &str,
) -> Result<(), Error> {
    let nname = n
        .name()
        .map_err(|e| Error::NtHive(format!("at {path}: {e}")))?
        .to_string_lossy();
    if nname != name {
        return Err(disagree(path, format!("key name {nname:?} vs {name:?}")));
    }
    Ok(())
}

/// nt-hive's name and data of a value must be ours (the model's and the stream's check).
pub(super) fn check_value(
    v: &nt_hive::KeyValue<&[u8]>,
    name: &str,
    data: &[u8],
    path: &str,
    minor: u32,
) -> Result<(), Error> {
    let ne = |e: nt_hive::NtHiveError| Error::NtHive(format!("at {path}: {e}"));
    let vname = v.name().map_err(ne)?.to_string_lossy();
    if vname != name {
        return Err(disagree(path, format!("value name {vname:?} vs {name:?}")));
    }
    let size = v.data_size() as usize;
    // Tombstones and empty values point nowhere (0xFFFFFFFF), which nt-hive asserts on;
    // data above one segment in a pre-4 hive is one cell, which nt-hive reads as big
    // data. Those we alone read.
    let skip = data.is_empty() || (minor < 4 && size > BIG_DATA_SEGMENT);
    if !skip {
        let d = v.data().map_err(ne)?.into_vec().map_err(ne)?;
        if d[..] != data[..] {
            return Err(disagree(path, format!("data of value {vname:?}")));
        }
    }
    Ok(())
}

fn check_key(n: &nt_hive::KeyNode<&[u8]>, k: &Key, path: &str, minor: u32) -> Result<(), Error> {
    let ne = |e: nt_hive::NtHiveError| Error::NtHive(format!("at {path}: {e}"));
    check_key_name(n, &k.name, path)?;
    if !k.values.is_empty() {
        let vals = n
            .values()
            .ok_or_else(|| disagree(path, "nt-hive sees no values"))?;
        let mut count = 0;
        for (v, ours) in vals.map_err(ne)?.zip(&k.values) {
            count += 1;
            check_value(&v.map_err(ne)?, &ours.name, &ours.data, path, minor)?;
        }
        if count != k.values.len() {
            return Err(disagree(path, "value count"));
        }
    }
    if !k.subkeys.is_empty() {
        let subs = n
            .subkeys()
            .ok_or_else(|| disagree(path, "nt-hive sees no subkeys"))?;
        let subs = subs.map_err(ne)?;
        let mut i = 0usize;
        for s in subs {
            let s = s.map_err(ne)?;
            let ours = k
                .subkeys
                .get(i)
                .ok_or_else(|| disagree(path, "subkey count"))?;
            let p = if path.is_empty() {
                ours.name.clone()
            } else {
                format!("{path}\\{}", ours.name)
            };
            check_key(&s, ours, &p, minor)?;
            i += 1;
        }
        if i != k.subkeys.len() {
            return Err(disagree(path, "subkey count"));
        }
    }
    Ok(())
}
