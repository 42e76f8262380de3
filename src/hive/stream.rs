//! Streaming hive reader: the keys of a hive depth-first in stored order, straight off
//! the file's bytes, without building the [`super::Hive`] model (`hive dump`, whose
//! memory must stay near the file's size: the model costs about 3× it).
//!
//! Same checks as [`super::read`], through the same cell code ([`super::reader`]): one
//! checked look-up per reference, a visited bit per key node (a loop is an error), at most
//! [`crate::limits::MAX_KEY_DEPTH`] levels. The walk keeps an explicit stack, one frame
//! (a cursor into a subkey list) per level, so its state is O(depth) and nothing recurses
//! on the input. [`Stream::check`] walks once and cross-checks every key and value
//! against nt-hive in lockstep (nt-hive only ever reads a cell after our walk has checked
//! it, as in `read`); [`Stream::keys`] walks again for the caller to render.
//!
//! nt-hive itself is not the walker, for the reasons `reader` gives: it exposes neither
//! the layer byte, tombstones, timestamps nor classes, and asserts on some corrupt offsets.

use super::Error;
use super::model::{Header, KEY_COMP_NAME, Layer, LayerSemantics};
use super::reader::{self, BASE, Cells, List, Nk, RawValue, corrupt, disagree};
use std::borrow::Cow;

const MAX_DEPTH: usize = crate::limits::MAX_KEY_DEPTH;

/// A hive opened for streaming: base block checked (nt-hive and ours), bins indexed.
pub struct Stream<'a> {
    nt: nt_hive::Hive<&'a [u8]>,
    header: Header,
    cells: Cells<'a>,
    root: u32,
}

/// What [`Stream::check`] counted (what `hive dump`'s summary shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    pub keys: usize,
    pub values: usize,
    pub tombstone_keys: usize,
    pub tombstone_values: usize,
    /// Keys per layer byte.
    pub layer_bytes: [usize; 256],
}

/// One value, read when asked: the name decoded, the data borrowed from the hive (copied
/// only for big data, which spans several cells).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueRef<'a> {
    /// Empty for the default value (`@`).
    pub name: String,
    pub kind: u32,
    pub data: Cow<'a, [u8]>,
    pub tombstone: bool,
}

/// One key as the walk reaches it. Borrows the walker: take what you need before the
/// next [`Keys::next_key`].
pub struct KeyRef<'w, 'a> {
    /// Backslash-joined path from the root (root = "").
    pub path: &'w str,
    /// 0 for the root.
    pub depth: usize,
    pub name: &'w str,
    /// nk flags without KEY_COMP_NAME (as in the model).
    pub flags: u16,
    pub access_bits: u8,
    pub layer: Layer,
    pub timestamp: u64,
    pub class: Option<&'w str>,
    /// Number of values and of subkeys.
    pub value_count: usize,
    pub subkey_count: usize,
    parent_len: usize,
    values: &'a [u8],
    cells: &'w Cells<'a>,
}

impl<'w, 'a> KeyRef<'w, 'a> {
    /// The key's values in stored order (already checked by the walk).
    pub fn values(&self) -> impl Iterator<Item = Result<ValueRef<'a>, Error>> + 'w {
        let (list, cells) = (self.values, self.cells);
        (0..self.value_count).map(move |i| {
            let raw = cells.raw_value(entry(list, i))?;
            Ok(ValueRef {
                name: cells.value_name(&raw)?,
                kind: raw.kind,
                data: cells.value_data(&raw)?,
                tombstone: raw.tombstone,
            })
        })
    }

    fn parent_path(&self) -> &'w str {
        &self.path[..self.parent_len]
    }
}

fn entry(list: &[u8], i: usize) -> u32 {
    list.get(i * 4..i * 4 + 4)
        .map_or(u32::MAX, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Open a hive's bytes for streaming.
pub fn open(bytes: &[u8]) -> Result<Stream<'_>, Error> {
    let reader::Opened {
        nt,
        header,
        cells,
        root,
    } = reader::open(bytes)?;
    Ok(Stream {
        nt,
        header,
        cells,
        root,
    })
}

impl<'a> Stream<'a> {
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The keys, depth-first in stored order (the order of [`super::Hive::walk`]).
    pub fn keys(&self) -> Keys<'_, 'a> {
        Keys {
            cells: &self.cells,
            seen: self.cells.seen_bitmap(),
            stack: Vec::new(),
            path: String::new(),
            root: Some(self.root),
            cur: None,
            cur_parent_len: 0,
            cur_depth: 0,
        }
    }

    /// Walk every key and value, check them as [`super::read`] does and cross-check them
    /// against nt-hive; count what a summary needs.
    pub fn check(&self) -> Result<Counts, Error> {
        let minor = self.header.minor_version;
        let mut counts = Counts {
            keys: 0,
            values: 0,
            tombstone_keys: 0,
            tombstone_values: 0,
            layer_bytes: [0; 256],
        };
        let mut keys = self.keys();
        // nt-hive's subkey iterators of the keys on the path, one per frame of ours.
        let mut nts: Vec<nt_hive::SubKeyNodes<'_, &[u8]>> = Vec::new();
        while let Some(ev) = keys.next_event()? {
            let k = match ev {
                Event::Leave(path) => {
                    let mut it = nts.pop().expect("one nt-hive frame per frame");
                    if it.next().is_some() {
                        return Err(disagree(path, "subkey count"));
                    }
                    continue;
                }
                Event::Key(k) => k,
            };
            let node = if k.depth == 0 {
                self.nt
                    .root_key_node()
                    .map_err(|e| Error::NtHive(e.to_string()))?
            } else {
                let parent = k.parent_path();
                let it = nts.last_mut().expect("a parent frame");
                match it.next() {
                    Some(n) => n.map_err(|e| Error::NtHive(format!("at {parent}: {e}")))?,
                    None => return Err(disagree(parent, "subkey count")),
                }
            };
            counts.keys += 1;
            counts.values += k.value_count;
            counts.layer_bytes[k.layer.to_byte() as usize] += 1;
            if k.layer.semantics == LayerSemantics::Tombstone {
                counts.tombstone_keys += 1;
            }
            counts.tombstone_values += check_key(&node, &k, minor)?;
            if k.subkey_count > 0 {
                let subs = node
                    .subkeys()
                    .ok_or_else(|| disagree(k.path, "nt-hive sees no subkeys"))?
                    .map_err(|e| Error::NtHive(format!("at {}: {e}", k.path)))?;
                nts.push(subs);
            }
        }
        Ok(counts)
    }
}

/// Compare one key's name and values with nt-hive's (as `reader::check_key` does for the
/// model); the number of tombstone values.
fn check_key(n: &nt_hive::KeyNode<&[u8]>, k: &KeyRef, minor: u32) -> Result<usize, Error> {
    let path = k.path;
    let ne = |e: nt_hive::NtHiveError| Error::NtHive(format!("at {path}: {e}"));
    reader::check_key_name(n, k.name, path)?;
    let mut tombstones = 0;
    if k.value_count > 0 {
        let vals = n
            .values()
            .ok_or_else(|| disagree(path, "nt-hive sees no values"))?;
        let mut count = 0;
        for (v, ours) in vals.map_err(ne)?.zip(k.values()) {
            let ours = ours?;
            count += 1;
            tombstones += usize::from(ours.tombstone);
            reader::check_value(&v.map_err(ne)?, &ours.name, &ours.data, path, minor)?;
        }
        if count != k.value_count {
            return Err(disagree(path, "value count"));
        }
    }
    Ok(tombstones)
}

/// A cursor into one key's subkey lists (an `ri`'s leaves one after another).
struct Frame<'a> {
    top: List<'a>,
    /// Next entry of `top` (when `top` is an `ri`: the next leaf to open).
    i: usize,
    /// The leaf being read and its next entry.
    leaf: Option<(List<'a>, usize)>,
    /// Length of this key's path (its children's parent path).
    path_len: usize,
}

enum Event<'w, 'a> {
    Key(KeyRef<'w, 'a>),
    /// The walk is done with the subkeys of the key at this path.
    Leave(&'w str),
}

/// The walk: see [`Stream::keys`].
pub struct Keys<'c, 'a> {
    cells: &'c Cells<'a>,
    seen: Vec<u64>,
    stack: Vec<Frame<'a>>,
    path: String,
    /// The root's offset until it is visited.
    root: Option<u32>,
    /// The key last reached (its fields borrowed by the `KeyRef` handed out).
    cur: Option<(Nk, &'a [u8])>,
    cur_parent_len: usize,
    cur_depth: usize,
}

impl<'c, 'a> Keys<'c, 'a> {
    /// The next key, or `None` after the last.
    pub fn next_key(&mut self) -> Result<Option<KeyRef<'_, 'a>>, Error> {
        loop {
            match self.step()? {
                None => return Ok(None),
                Some(true) => return Ok(Some(self.current())),
                Some(false) => {}
            }
        }
    }

    fn next_event(&mut self) -> Result<Option<Event<'_, 'a>>, Error> {
        Ok(match self.step()? {
            None => None,
            Some(true) => Some(Event::Key(self.current())),
            Some(false) => Some(Event::Leave(&self.path)),
        })
    }

    /// Advance: `Some(true)` reached a key (now `cur`), `Some(false)` left a key's
    /// subkeys (`path` is that key's), `None` the walk is over.
    fn step(&mut self) -> Result<Option<bool>, Error> {
        if let Some(root) = self.root.take() {
            self.visit(root, 0, 0)?;
            return Ok(Some(true));
        }
        let Some(top) = self.stack.last_mut() else {
            return Ok(None);
        };
        match next_child(self.cells, top)? {
            None => {
                let f = self.stack.pop().expect("a frame");
                self.path.truncate(f.path_len);
                Ok(Some(false))
            }
            Some(off) => {
                let parent_len = top.path_len;
                let depth = self.stack.len();
                self.visit(off, depth, parent_len)?;
                Ok(Some(true))
            }
        }
    }

    /// Check the key node at `off` (as `reader`'s model walk does, in the same order),
    /// make it the current key and open its subkey lists.
    fn visit(&mut self, off: u32, depth: usize, parent_len: usize) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(corrupt(
                BASE + off as usize,
                "keys nest deeper than 512 levels",
            ));
        }
        let cells = self.cells;
        let nk = cells.nk(off, &mut self.seen)?;
        cells.security(nk.sk)?;
        let list = cells.value_list(nk.nval, nk.vall)?;
        for i in 0..nk.nval as usize {
            let raw: RawValue = cells.raw_value(entry(list, i))?;
            cells.value_name(&raw)?;
        }
        self.path.truncate(parent_len);
        if depth > 0 {
            if parent_len > 0 {
                self.path.push('\\');
            }
            self.path.push_str(&nk.name);
        }
        if nk.nsub > 0 {
            cells.check_subkeys(off, nk.nsub, nk.subl)?;
            let top = cells.list(nk.subl, true)?;
            self.stack.push(Frame {
                top,
                i: 0,
                leaf: (!top.ri).then_some((top, 0)),
                path_len: self.path.len(),
            });
        }
        self.cur = Some((nk, list));
        self.cur_parent_len = parent_len;
        self.cur_depth = depth;
        Ok(())
    }

    fn current(&self) -> KeyRef<'_, 'a> {
        let (nk, values) = self.cur.as_ref().expect("a current key");
        KeyRef {
            path: &self.path,
            depth: self.cur_depth,
            name: &nk.name,
            flags: nk.flags & !KEY_COMP_NAME,
            access_bits: nk.access_bits,
            layer: nk.layer,
            timestamp: nk.timestamp,
            class: nk.class.as_deref(),
            value_count: nk.nval as usize,
            subkey_count: nk.nsub as usize,
            parent_len: self.cur_parent_len,
            values,
            cells: self.cells,
        }
    }
}

/// The next subkey offset of a frame, opening an `ri`'s next leaf when one runs out.
fn next_child<'a>(cells: &Cells<'a>, f: &mut Frame<'a>) -> Result<Option<u32>, Error> {
    loop {
        if let Some((leaf, j)) = &mut f.leaf {
            if *j < leaf.n {
                *j += 1;
                return Ok(Some(leaf.entry(*j - 1)));
            }
        }
        if !f.top.ri || f.i >= f.top.n {
            return Ok(None);
        }
        f.leaf = Some((cells.list(f.top.entry(f.i), false)?, 0));
        f.i += 1;
    }
}
