//! The one in-memory model of a registry hive that the reader produces and the writer,
//! merge, diff and delta builder consume.
//!
//! It keeps everything a round trip needs (names as written, layer bytes, tombstones,
//! timestamps, classes, security descriptors, raw value bytes of every type) and nothing
//! that is only an artefact of one file's layout (cell offsets, free space, the stale
//! "largest name" hints Windows never shrinks): those the writer recomputes.

use serde::Serialize;
use std::cmp::Ordering;

/// Base-block fields kept in the model (the rest is derived when writing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    /// regf minor version (major is always 1). Written: 6 unless the model says otherwise.
    pub minor_version: u32,
    /// Primary = secondary sequence number (a hive we write is always consistent).
    pub sequence: u32,
    /// Base-block "last written" FILETIME (offreg writes 0).
    pub timestamp: u64,
    /// Base-block flags at offset 144: 0x1 = pending transactions, 0x2 = layered keys.
    pub flags: u32,
    /// The UTF-16 file name hint at offset 48 (64 bytes: at most 32 units are kept).
    pub file_name: String,
    /// "Last reorganized" FILETIME at offset 168 (0 = none).
    pub reorganized: u64,
    /// Offline-registry marker: `OfRg` at 176 followed by this u32 (offreg writes 1).
    pub offreg: Option<u32>,
}

/// Base-block flag: the hive carries layered keys (a differencing hive).
pub const HEADER_FLAG_LAYERED: u32 = 0x2;

impl Header {
    /// What offreg writes: regf 1.6, sequence 1, no timestamps, `OfRg` marker; the layered
    /// flag for differencing hives.
    pub fn offreg(layered: bool) -> Self {
        Header {
            minor_version: 6,
            sequence: 1,
            timestamp: 0,
            flags: if layered { HEADER_FLAG_LAYERED } else { 0 },
            file_name: String::new(),
            reorganized: 0,
            offreg: Some(1),
        }
    }

    /// True when base-block flag 0x2 (layered keys) is set.
    pub fn layered(&self) -> bool {
        self.flags & HEADER_FLAG_LAYERED != 0
    }
}

/// The two low bits of a key node's layered-key byte (offset 13 of `nk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum LayerSemantics {
    /// 0: merge with the same key in lower layers (also every key of a normal hive).
    Merge = 0,
    /// 1: the key is deleted (hides the lower layers' key and everything under it).
    Tombstone = 1,
    /// 2: this key's values replace the lower layers' values; subkeys still merge.
    SupersedeLocal = 2,
    /// 3: this key and its whole subtree replace the lower layers' (a new subtree).
    SupersedeTree = 3,
}

impl LayerSemantics {
    pub fn from_bits(b: u8) -> Self {
        match b & 3 {
            0 => LayerSemantics::Merge,
            1 => LayerSemantics::Tombstone,
            2 => LayerSemantics::SupersedeLocal,
            _ => LayerSemantics::SupersedeTree,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            LayerSemantics::Merge => "merge",
            LayerSemantics::Tombstone => "tombstone",
            LayerSemantics::SupersedeLocal => "supersede-local",
            LayerSemantics::SupersedeTree => "supersede-tree",
        }
    }
}

/// A key's layered-key byte: semantics (bits 0-1), spare bits 2-6 (kept as read), and
/// bit 7 "inherit class" (the class comes from the lower layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Layer {
    pub semantics: LayerSemantics,
    pub inherit_class: bool,
    #[serde(skip_serializing_if = "is_zero")]
    pub spare: u8,
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

impl Default for Layer {
    fn default() -> Self {
        Layer::from_byte(0)
    }
}

impl Layer {
    /// 0x80: an existing key on the path to a change (merge, class inherited).
    pub const PASS_THROUGH: Layer = Layer {
        semantics: LayerSemantics::Merge,
        inherit_class: true,
        spare: 0,
    };
    /// 0x03: a key created by this layer (supersede tree).
    pub const CREATED: Layer = Layer {
        semantics: LayerSemantics::SupersedeTree,
        inherit_class: false,
        spare: 0,
    };
    /// 0x01: a key deleted by this layer.
    pub const TOMBSTONE: Layer = Layer {
        semantics: LayerSemantics::Tombstone,
        inherit_class: false,
        spare: 0,
    };

    pub fn from_byte(b: u8) -> Self {
        Layer {
            semantics: LayerSemantics::from_bits(b),
            inherit_class: b & 0x80 != 0,
            spare: (b >> 2) & 0x1f,
        }
    }
    pub fn to_byte(self) -> u8 {
        (self.semantics as u8)
            | ((self.spare & 0x1f) << 2)
            | if self.inherit_class { 0x80 } else { 0 }
    }
}

/// One registry value. `kind` is the raw type number (any u32, known or not); `data` the
/// raw bytes exactly as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Value {
    /// Empty for the default value (`@`).
    pub name: String,
    pub kind: u32,
    pub data: Vec<u8>,
    /// A deleted value in a differencing hive (vk flag 0x2; type 0, no data).
    pub tombstone: bool,
}

impl Value {
    pub fn new(name: &str, kind: u32, data: Vec<u8>) -> Self {
        Value {
            name: name.to_string(),
            kind,
            data,
            tombstone: false,
        }
    }
    /// A deleted-value marker as offreg writes it.
    pub fn tombstone(name: &str) -> Self {
        Value {
            name: name.to_string(),
            kind: 0,
            data: Vec::new(),
            tombstone: true,
        }
    }
}

/// nk flag: the root key (HIVE_ENTRY).
pub const KEY_HIVE_ENTRY: u16 = 0x4;
/// nk flag: the key cannot be deleted.
pub const KEY_NO_DELETE: u16 = 0x8;
/// nk flag: the name is stored as Latin-1 ("compressed"). The writer derives it.
pub const KEY_COMP_NAME: u16 = 0x20;

/// One key with its values and subkeys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Key {
    pub name: String,
    /// nk flags without KEY_COMP_NAME (which depends only on the name).
    pub flags: u16,
    /// nk access bits (offset 12): offreg in a container writes 0x2, ORCreateHive 0.
    pub access_bits: u8,
    pub layer: Layer,
    /// Last-written FILETIME (100 ns since 1601).
    pub timestamp: u64,
    /// Class name, if any.
    pub class: Option<String>,
    /// Self-relative security descriptor of the key's `sk` cell. Shared: a hive has a
    /// few `sk` cells for thousands of keys, and one copy per key would make the model
    /// several times the size of the hive.
    #[serde(skip)]
    pub security: std::sync::Arc<[u8]>,
    pub values: Vec<Value>,
    pub subkeys: Vec<Key>,
}

impl Key {
    /// A key with no values or subkeys.
    pub fn new(
        name: &str,
        layer: Layer,
        timestamp: u64,
        security: impl Into<std::sync::Arc<[u8]>>,
    ) -> Self {
        Key {
            name: name.to_string(),
            flags: 0,
            access_bits: 0,
            layer,
            timestamp,
            class: None,
            security: security.into(),
            values: Vec::new(),
            subkeys: Vec::new(),
        }
    }

    /// The direct subkey named `name` (case-insensitive as Windows compares).
    pub fn subkey(&self, name: &str) -> Option<&Key> {
        self.subkeys.iter().find(|k| names_eq(&k.name, name))
    }
    pub fn subkey_mut(&mut self, name: &str) -> Option<&mut Key> {
        self.subkeys.iter_mut().find(|k| names_eq(&k.name, name))
    }
    /// The value named `name` (case-insensitive; "" = default value).
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.values.iter().find(|v| names_eq(&v.name, name))
    }

    /// Sort subkeys (recursively) in the order Windows keeps them on disk.
    pub fn sort_recursive(&mut self) {
        self.subkeys.sort_by(|a, b| cmp_names(&a.name, &b.name));
        for k in &mut self.subkeys {
            k.sort_recursive();
        }
    }
}

/// A parsed hive: base-block header and the root key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hive {
    pub header: Header,
    pub root: Key,
}

impl Hive {
    /// The key at `path` (backslash-separated, relative to the root, case-insensitive;
    /// "" is the root).
    pub fn find(&self, path: &str) -> Option<&Key> {
        let mut k = &self.root;
        for part in split_path(path) {
            k = k.subkey(part)?;
        }
        Some(k)
    }

    /// Every key with its path (root = ""), depth-first in stored order.
    pub fn walk(&self) -> Vec<(String, &Key)> {
        let mut out = Vec::new();
        fn rec<'a>(k: &'a Key, path: String, out: &mut Vec<(String, &'a Key)>) {
            for s in &k.subkeys {
                let p = if path.is_empty() {
                    s.name.clone()
                } else {
                    format!("{path}\\{}", s.name)
                };
                out.push((p.clone(), s));
                rec(s, p, out);
            }
        }
        out.push((String::new(), &self.root));
        rec(&self.root, String::new(), &mut out);
        out
    }
}

/// Split a registry path on backslashes, ignoring empty parts.
pub fn split_path(path: &str) -> impl Iterator<Item = &str> {
    path.split('\\').filter(|p| !p.is_empty())
}

/// Upper-case one UTF-16 code unit as Windows' name comparison does: BMP characters with
/// a single-unit upper case are mapped, surrogates (supplementary-plane characters) are
/// left alone. (Rust's Unicode tables stand in for the kernel's upcase table.)
pub fn upcase_unit(u: u16) -> u16 {
    if u < 0x80 {
        return (u as u8).to_ascii_uppercase() as u16;
    }
    if (0xD800..0xE000).contains(&u) {
        return u;
    }
    let Some(c) = char::from_u32(u as u32) else {
        return u;
    };
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(x), None) if (x as u32) < 0x10000 => x as u32 as u16,
        _ => u,
    }
}

/// Compare two key or value names as Windows orders them: upper-cased UTF-16 code units.
pub fn cmp_names(a: &str, b: &str) -> Ordering {
    let mut ia = a.encode_utf16().map(upcase_unit);
    let mut ib = b.encode_utf16().map(upcase_unit);
    loop {
        match (ia.next(), ib.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match x.cmp(&y) {
                Ordering::Equal => {}
                o => return o,
            },
        }
    }
}

/// Case-insensitive name equality (Windows rules, see [`cmp_names`]).
pub fn names_eq(a: &str, b: &str) -> bool {
    if a.len() == b.len() && a.eq_ignore_ascii_case(b) {
        return true;
    }
    cmp_names(a, b) == Ordering::Equal
}

/// The `lh` hash of a name: H = 37·H + upper-cased UTF-16 unit.
pub fn lh_hash(name: &str) -> u32 {
    name.encode_utf16().fold(0u32, |h, u| {
        h.wrapping_mul(37).wrapping_add(upcase_unit(u) as u32)
    })
}

/// Registry type names (REG_*), for display.
pub fn type_name(kind: u32) -> String {
    match kind {
        0 => "REG_NONE".into(),
        1 => "REG_SZ".into(),
        2 => "REG_EXPAND_SZ".into(),
        3 => "REG_BINARY".into(),
        4 => "REG_DWORD".into(),
        5 => "REG_DWORD_BIG_ENDIAN".into(),
        6 => "REG_LINK".into(),
        7 => "REG_MULTI_SZ".into(),
        8 => "REG_RESOURCE_LIST".into(),
        9 => "REG_FULL_RESOURCE_DESCRIPTOR".into(),
        10 => "REG_RESOURCE_REQUIREMENTS_LIST".into(),
        11 => "REG_QWORD".into(),
        n => format!("0x{n:x}"),
    }
}

/// Value data as UTF-16LE code units; `None` for an odd length.
pub fn utf16le(d: &[u8]) -> Option<Vec<u16>> {
    if !d.len().is_multiple_of(2) {
        return None;
    }
    Some(
        d.chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect(),
    )
}

/// A readable rendering of value data for humans and JSON: strings decoded, numbers as
/// numbers, anything else (or malformed) as `None` (callers then show hex).
pub fn render_data(kind: u32, data: &[u8]) -> Option<String> {
    let utf16 = utf16le;
    match kind {
        1 | 2 | 6 => {
            let mut u = utf16(data)?;
            if u.last() == Some(&0) {
                u.pop();
            }
            String::from_utf16(&u).ok()
        }
        7 => {
            let u = utf16(data)?;
            let mut parts: Vec<String> = Vec::new();
            for s in u.split(|&c| c == 0) {
                parts.push(String::from_utf16(s).ok()?);
            }
            // REG_MULTI_SZ ends with an empty string and a final NUL.
            while parts.last().is_some_and(|p| p.is_empty()) {
                parts.pop();
            }
            serde_json::to_string(&parts).ok()
        }
        4 if data.len() == 4 => Some(format!(
            "0x{:08x}",
            u32::from_le_bytes([data[0], data[1], data[2], data[3]])
        )),
        5 if data.len() == 4 => Some(format!(
            "0x{:08x}",
            u32::from_be_bytes([data[0], data[1], data[2], data[3]])
        )),
        11 if data.len() == 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(data);
            Some(format!("0x{:016x}", u64::from_le_bytes(b)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_bytes_round_trip() {
        for b in 0..=255u8 {
            assert_eq!(Layer::from_byte(b).to_byte(), b);
        }
        assert_eq!(Layer::PASS_THROUGH.to_byte(), 0x80);
        assert_eq!(Layer::CREATED.to_byte(), 0x03);
        assert_eq!(Layer::TOMBSTONE.to_byte(), 0x01);
    }

    #[test]
    fn windows_name_order() {
        // PROVENANCE.md: äöü, U+10410, U+10438, U+FF21 is the stored order.
        let mut v = vec!["Ａ", "𐐸", "äöü", "𐐐"];
        v.sort_by(|a, b| cmp_names(a, b));
        assert_eq!(v, vec!["äöü", "𐐐", "𐐸", "Ａ"]);
        assert!(names_eq("Ａ", "ａ"));
        assert!(!names_eq("𐐐", "𐐸"));
        assert_eq!(lh_hash("Key0"), 0x3b75c9);
    }
}
