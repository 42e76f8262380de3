//! regf writer: [`Hive`] model → bytes, normal or differencing, byte-for-byte
//! deterministic (no clock, no randomness, no hash-map iteration order).
//!
//! Hand-written because no maintained crate writes hives (libhivex only edits existing
//! ones and knows nothing of layered keys). Where the format leaves a choice we do what
//! Windows' offline registry library (offreg) does in the fixtures `System_Delta` and
//! `testhive`: base block with `OfRg`, zero hive-bin timestamps, cells packed in 4 KiB
//! bins (a bigger bin only for a cell that needs it), `lh` leaves of at most 507 entries
//! (one leaf filling one 4 KiB bin) under an `ri` beyond that, big data in 16344-byte
//! segments, names stored Latin-1 ("compressed") when every character allows it,
//! tombstone keys with timestamp 0 and an `sk`, tombstone values as flags 0x2|ascii,
//! type 0, size 0, offset 0xFFFFFFFF. Root parent is written as none (0xFFFFFFFF).
//!
//! Layout: depth-first, each key's nk, then its sk (first use), class, value list,
//! values and data, subkey list(s), then its subkeys.

use super::Error;
use super::model::{Hive, KEY_COMP_NAME, Key, LayerSemantics, Value, cmp_names, lh_hash};
use super::reader::BIG_DATA_SEGMENT;
use std::collections::BTreeMap;

/// Most entries offreg puts in one `lh` leaf: 4 + 4 + 8·507 = 4064 = one 4 KiB bin's cells.
pub const MAX_LEAF: usize = 507;
const NONE: u32 = u32::MAX;

struct Bins {
    data: Vec<u8>,
    /// Start of free space in the current bin and its end.
    pos: usize,
    end: usize,
}

impl Bins {
    fn alloc(&mut self, payload: usize) -> usize {
        let size = (payload + 4).div_ceil(8) * 8;
        if self.pos + size > self.end {
            self.close();
            let bin = (size + 32).div_ceil(4096) * 4096;
            let start = self.data.len();
            self.data.resize(start + bin, 0);
            self.data[start..start + 4].copy_from_slice(b"hbin");
            put32(&mut self.data, start + 4, start as u32);
            put32(&mut self.data, start + 8, bin as u32);
            self.pos = start + 32;
            self.end = start + bin;
        }
        let off = self.pos;
        put32(&mut self.data, off, (-(size as i32)) as u32);
        self.pos += size;
        off
    }
    /// Turn what is left of the current bin into one free cell.
    fn close(&mut self) {
        if self.pos < self.end {
            put32(&mut self.data, self.pos, (self.end - self.pos) as u32);
            self.pos = self.end;
        }
    }
    /// Payload slice of the cell at `off`.
    fn at(&mut self, off: usize, len: usize) -> &mut [u8] {
        &mut self.data[off + 4..off + 4 + len]
    }
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

/// Name bytes as stored and whether they are compressed (Latin-1).
fn encode_name(name: &str) -> (Vec<u8>, bool) {
    if name.chars().all(|c| (c as u32) < 0x100) {
        (name.chars().map(|c| c as u32 as u8).collect(), true)
    } else {
        (utf16le(name), false)
    }
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

fn utf16_len(s: &str) -> u32 {
    s.encode_utf16().count() as u32 * 2
}

struct Writer<'a> {
    bins: Bins,
    minor: u32,
    /// Security descriptor → (sk cell offset, reference count), in first-use order.
    sks: BTreeMap<&'a [u8], (usize, u32)>,
    sk_order: Vec<usize>,
    /// Nesting depth of the key being written (root = 0).
    depth: usize,
}

impl<'a> Writer<'a> {
    fn key(&mut self, k: &'a Key, parent: u32, root: bool) -> Result<u32, Error> {
        let (name, comp) = encode_name(&k.name);
        if name.len() > u16::MAX as usize {
            return Err(Error::Write(format!("key name too long: {}", k.name)));
        }
        if k.layer.semantics == LayerSemantics::Tombstone
            && (!k.values.is_empty() || !k.subkeys.is_empty() || k.class.is_some())
        {
            return Err(Error::Write(format!(
                "tombstone key {:?} has values, subkeys or a class; a deleted key carries none",
                k.name
            )));
        }
        let nk = self.bins.alloc(76 + name.len());
        let mut subkeys: Vec<&Key> = k.subkeys.iter().collect();
        subkeys.sort_by(|a, b| cmp_names(&a.name, &b.name));
        for w in subkeys.windows(2) {
            if cmp_names(&w[0].name, &w[1].name).is_eq() {
                return Err(Error::Write(format!(
                    "key {:?} has two subkeys named {:?}",
                    k.name, w[1].name
                )));
            }
        }
        // Security.
        let sk = if let Some(e) = self.sks.get_mut(&k.security[..]) {
            e.1 += 1;
            e.0
        } else {
            if k.security.is_empty() {
                return Err(Error::Write(format!(
                    "key {:?} has no security descriptor",
                    k.name
                )));
            }
            let off = self.bins.alloc(20 + k.security.len());
            let c = self.bins.at(off, 20 + k.security.len());
            c[0..2].copy_from_slice(b"sk");
            put32(c, 16, k.security.len() as u32);
            c[20..].copy_from_slice(&k.security);
            self.sks.insert(&k.security[..], (off, 1));
            self.sk_order.push(off);
            off
        };
        // Class.
        let (class_off, class_len) = match &k.class {
            Some(cl) => {
                let b = utf16le(cl);
                let off = self.bins.alloc(b.len());
                self.bins.at(off, b.len()).copy_from_slice(&b);
                (off as u32, b.len() as u16)
            }
            None => (NONE, 0),
        };
        // Values.
        let mut max_vname = 0u32;
        let mut max_vdata = 0u32;
        let vlist = if k.values.is_empty() {
            NONE
        } else {
            let list = self.bins.alloc(4 * k.values.len());
            for (i, v) in k.values.iter().enumerate() {
                max_vname = max_vname.max(utf16_len(&v.name));
                max_vdata = max_vdata.max(v.data.len() as u32);
                let vo = self.value(v)?;
                put32(self.bins.at(list, 4 * k.values.len()), 4 * i, vo as u32);
            }
            list as u32
        };
        // Subkey lists: entries filled in after the children are placed.
        let leaves: Vec<usize> = subkeys
            .chunks(MAX_LEAF)
            .map(|ch| {
                let off = self.bins.alloc(4 + 8 * ch.len());
                let c = self.bins.at(off, 4 + 8 * ch.len());
                c[0..2].copy_from_slice(b"lh");
                put16(c, 2, ch.len() as u16);
                off
            })
            .collect();
        let subl = match leaves.len() {
            0 => NONE,
            1 => leaves[0] as u32,
            n => {
                let off = self.bins.alloc(4 + 4 * n);
                let c = self.bins.at(off, 4 + 4 * n);
                c[0..2].copy_from_slice(b"ri");
                put16(c, 2, n as u16);
                for (i, l) in leaves.iter().enumerate() {
                    put32(c, 4 + 4 * i, *l as u32);
                }
                off as u32
            }
        };
        let mut max_sub = 0u32;
        let mut max_class = 0u32;
        for (i, s) in subkeys.iter().enumerate() {
            max_sub = max_sub.max(utf16_len(&s.name));
            max_class = max_class.max(s.class.as_ref().map_or(0, |c| utf16_len(c)));
            self.depth += 1;
            // Never write a hive our reader (and Windows) would refuse.
            if self.depth > crate::limits::MAX_KEY_DEPTH {
                return Err(Error::Write(format!(
                    "keys nest deeper than {} levels (at {:?})",
                    crate::limits::MAX_KEY_DEPTH,
                    s.name
                )));
            }
            let so = self.key(s, nk as u32, false)?;
            self.depth -= 1;
            let leaf = leaves[i / MAX_LEAF];
            let n = subkeys.len().min((i / MAX_LEAF + 1) * MAX_LEAF) - (i / MAX_LEAF) * MAX_LEAF;
            let c = self.bins.at(leaf, 4 + 8 * n);
            let j = i % MAX_LEAF;
            put32(c, 4 + 8 * j, so);
            put32(c, 8 + 8 * j, lh_hash(&s.name));
        }
        let c = self.bins.at(nk, 76 + name.len());
        c[0..2].copy_from_slice(b"nk");
        put16(c, 2, k.flags | if comp { KEY_COMP_NAME } else { 0 });
        c[4..12].copy_from_slice(&k.timestamp.to_le_bytes());
        c[12] = k.access_bits;
        c[13] = k.layer.to_byte();
        put32(c, 16, if root { NONE } else { parent });
        put32(c, 20, subkeys.len() as u32);
        put32(c, 24, 0);
        put32(c, 28, subl);
        put32(c, 32, NONE);
        put32(c, 36, k.values.len() as u32);
        put32(c, 40, vlist);
        put32(c, 44, sk as u32);
        put32(c, 48, class_off);
        put32(c, 52, max_sub);
        put32(c, 56, max_class);
        put32(c, 60, max_vname);
        put32(c, 64, max_vdata);
        put32(c, 68, 0);
        put16(c, 72, name.len() as u16);
        put16(c, 74, class_len);
        c[76..].copy_from_slice(&name);
        Ok(nk as u32)
    }

    fn value(&mut self, v: &Value) -> Result<usize, Error> {
        let (name, comp) = encode_name(&v.name);
        if name.len() > u16::MAX as usize {
            return Err(Error::Write(format!("value name too long: {}", v.name)));
        }
        if v.tombstone && !v.data.is_empty() {
            return Err(Error::Write(format!(
                "tombstone value {:?} carries data",
                v.name
            )));
        }
        if v.data.len() > 0x7fff_ffff {
            return Err(Error::Write(format!("value {:?} is too large", v.name)));
        }
        let vk = self.bins.alloc(20 + name.len());
        let len = v.data.len();
        let (size, doff) = if v.tombstone {
            (0, NONE)
        } else if len <= 4 {
            let mut b = [0u8; 4];
            b[..len].copy_from_slice(&v.data);
            (0x8000_0000 | len as u32, u32::from_le_bytes(b))
        } else if len <= BIG_DATA_SEGMENT || self.minor < 4 {
            let off = self.bins.alloc(len);
            self.bins.at(off, len).copy_from_slice(&v.data);
            (len as u32, off as u32)
        } else {
            let segs: Vec<&[u8]> = v.data.chunks(BIG_DATA_SEGMENT).collect();
            if segs.len() > u16::MAX as usize {
                return Err(Error::Write(format!("value {:?} is too large", v.name)));
            }
            let db = self.bins.alloc(12);
            let list = self.bins.alloc(4 * segs.len());
            let mut offs = Vec::with_capacity(segs.len());
            for s in &segs {
                // Every segment gets a full 16344-byte cell, the last one too, as Windows
                // and offreg allocate them (reglookup misreads a short last segment).
                let o = self.bins.alloc(BIG_DATA_SEGMENT);
                self.bins.at(o, s.len()).copy_from_slice(s);
                offs.push(o as u32);
            }
            let lc = self.bins.at(list, 4 * segs.len());
            for (i, o) in offs.iter().enumerate() {
                put32(lc, 4 * i, *o);
            }
            let c = self.bins.at(db, 12);
            c[0..2].copy_from_slice(b"db");
            put16(c, 2, segs.len() as u16);
            put32(c, 4, list as u32);
            (len as u32, db as u32)
        };
        let c = self.bins.at(vk, 20 + name.len());
        c[0..2].copy_from_slice(b"vk");
        put16(c, 2, name.len() as u16);
        put32(c, 4, size);
        put32(c, 8, doff);
        put32(c, 12, v.kind);
        put16(c, 16, u16::from(comp) | if v.tombstone { 2 } else { 0 });
        c[20..].copy_from_slice(&name);
        Ok(vk)
    }
}

/// Serialize a hive. Fails (never panics) on models the format cannot hold: duplicate
/// subkey names, tombstone keys with content, missing security descriptors, oversize names.
pub fn write(h: &Hive) -> Result<Vec<u8>, Error> {
    let mut w = Writer {
        bins: Bins {
            data: Vec::new(),
            pos: 0,
            end: 0,
        },
        minor: h.header.minor_version,
        sks: BTreeMap::new(),
        sk_order: Vec::new(),
        depth: 0,
    };
    let root = w.key(&h.root, NONE, true)?;
    w.bins.close();
    // Security cells: one circular doubly linked list in first-use order.
    let n = w.sk_order.len();
    for i in 0..n {
        let off = w.sk_order[i];
        let next = w.sk_order[(i + 1) % n] as u32;
        let prev = w.sk_order[(i + n - 1) % n] as u32;
        let c = w.bins.at(off, 20);
        put32(c, 4, next);
        put32(c, 8, prev);
    }
    for (sd, (off, refs)) in &w.sks {
        let _ = sd;
        put32(w.bins.at(*off, 20), 12, *refs);
    }
    let data = w.bins.data;
    let mut out = vec![0u8; 4096];
    out[0..4].copy_from_slice(b"regf");
    put32(&mut out, 4, h.header.sequence);
    put32(&mut out, 8, h.header.sequence);
    out[12..20].copy_from_slice(&h.header.timestamp.to_le_bytes());
    put32(&mut out, 20, 1);
    put32(&mut out, 24, h.header.minor_version);
    put32(&mut out, 28, 0);
    put32(&mut out, 32, 1);
    put32(&mut out, 36, root);
    put32(&mut out, 40, data.len() as u32);
    put32(&mut out, 44, 1);
    for (i, u) in h.header.file_name.encode_utf16().take(32).enumerate() {
        put16(&mut out, 48 + 2 * i, u);
    }
    put32(&mut out, 144, h.header.flags);
    out[168..176].copy_from_slice(&h.header.reorganized.to_le_bytes());
    if let Some(f) = h.header.offreg {
        out[176..180].copy_from_slice(b"OfRg");
        put32(&mut out, 180, f);
    }
    let sum = checksum(&out);
    put32(&mut out, 508, sum);
    out.extend_from_slice(&data);
    Ok(out)
}

/// XOR of the 127 u32 words before offset 508; 0 and 0xFFFFFFFF are avoided as Windows does.
pub fn checksum(base_block: &[u8]) -> u32 {
    let x = base_block[..508].chunks_exact(4).fold(0u32, |a, c| {
        a ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]])
    });
    match x {
        0 => 1,
        u32::MAX => u32::MAX - 1,
        x => x,
    }
}
