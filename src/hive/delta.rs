//! Build a differencing (delta) hive model from registry operations, as Windows' layered
//! registry records them (what the offreg-written `System_Delta` fixture shows):
//!
//! - The delta root is `ROOT`, flags HIVE_ENTRY|NO_DELETE, layer byte 0, base-block flag
//!   0x2; every key has access bits 0x2.
//! - A key that exists in the base and lies on the path to a change: pass-through, layer
//!   byte 0x80 (merge, inherit class), holding only what changed; it keeps the base key's
//!   name casing, timestamp and security descriptor (SD) until a value of its own or a
//!   direct subkey changes, when it takes the caller's timestamp.
//! - A key created by the operations: 0x03 (supersede tree), caller's timestamp, its
//!   parent's SD (the base SD, or [`DEFAULT_SD`] when nothing is known). Keys created under
//!   it are 0x03 too.
//! - A deleted key that exists in the base: tombstone 0x01, timestamp 0, no values,
//!   subkeys or class, the base key's SD (its sk is still set). Deleting a key that exists
//!   only in this delta just removes it; deleting a key that exists nowhere does nothing
//!   (as regedit ignores `[-KEY]` for a missing key; callers that must fail, like
//!   `sc.exe delete`, check [`Hive::find`] on the base first).
//! - Setting a value under a key deleted earlier in the same operations recreates the key
//!   as 0x03 (it no longer shows the base's content).
//! - A deleted value that exists in the base: a tombstone value (flags 0x3, type 0, size 0,
//!   offset 0xFFFFFFFF). One that exists only in the delta is removed; one that exists
//!   nowhere: nothing.
//! - `CreateKey` of a key that already exists records nothing (opening a key writes nothing).
//!
//! With no base (`base == None`) the rule is [`BaseRule::AssumeExisting`]: every key and
//! value named by an operation is assumed to exist in the base, except beneath a key this
//! delta created. So the path to a change is 0x80, `CreateKey` alone records nothing, and
//! every delete becomes a tombstone. Timestamps are the caller's (deterministic).

use super::Error;
use super::model::{
    Header, Hive, KEY_HIVE_ENTRY, KEY_NO_DELETE, Key, Layer, LayerSemantics, Value, cmp_names,
    split_path,
};
use super::regfile::{Action, RegOp};

/// The SD offreg gives a hive it creates (ORCreateHive), taken byte-for-byte from the
/// root `sk` of the nt-hive `testhive` fixture (also the root SD of the offreg-written
/// `System_Delta`): owner and group BUILTIN\Administrators; DACL: SYSTEM and
/// Administrators full control, Everyone and RESTRICTED read, inherited by subkeys.
pub const DEFAULT_SD: [u8; 144] = [
    0x01, 0x00, 0x04, 0x80, 0x70, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x14, 0x00, 0x00, 0x00, 0x02, 0x00, 0x5c, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x02, 0x14, 0x00,
    0x3f, 0x00, 0x0f, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x12, 0x00, 0x00, 0x00,
    0x00, 0x02, 0x18, 0x00, 0x3f, 0x00, 0x0f, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
    0x20, 0x00, 0x00, 0x00, 0x20, 0x02, 0x00, 0x00, 0x00, 0x02, 0x14, 0x00, 0x19, 0x00, 0x02, 0x00,
    0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x14, 0x00,
    0x19, 0x00, 0x02, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0c, 0x00, 0x00, 0x00,
    0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x20, 0x00, 0x00, 0x00, 0x20, 0x02, 0x00, 0x00,
    0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x20, 0x00, 0x00, 0x00, 0x20, 0x02, 0x00, 0x00,
];

/// Access bits offreg writes on every key of a container delta (System_Delta: 0x2).
pub const DELTA_ACCESS_BITS: u8 = 0x2;

/// How existence in the base is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BaseRule {
    /// A base hive was given: keys and values exist when it has them.
    FromBase,
    /// No base: everything named exists, except beneath keys this delta creates.
    AssumeExisting,
}

/// The rule [`build`] applies for this `base`.
pub fn base_rule(base: Option<&Hive>) -> BaseRule {
    if base.is_some() {
        BaseRule::FromBase
    } else {
        BaseRule::AssumeExisting
    }
}

/// What the base shows at a path, seen through the delta built so far.
enum InBase<'b> {
    Found(&'b Key),
    Absent,
    /// No base given: assumed to exist.
    Assumed,
}

impl InBase<'_> {
    fn exists(&self) -> bool {
        !matches!(self, InBase::Absent)
    }
    fn key(&self) -> Option<&Key> {
        match self {
            InBase::Found(k) => Some(k),
            _ => None,
        }
    }
}

fn hides_base(k: &Key) -> bool {
    matches!(
        k.layer.semantics,
        LayerSemantics::Tombstone | LayerSemantics::SupersedeTree
    )
}

fn in_base<'b>(root: &Key, base: Option<&'b Hive>, parts: &[&str]) -> InBase<'b> {
    let mut d = Some(root);
    for p in parts {
        d = d.and_then(|k| k.subkey(p));
        if d.is_some_and(hides_base) {
            return InBase::Absent;
        }
    }
    match base {
        None => InBase::Assumed,
        Some(b) => {
            let mut k = &b.root;
            for p in parts {
                match k.subkey(p) {
                    Some(s) => k = s,
                    None => return InBase::Absent,
                }
            }
            InBase::Found(k)
        }
    }
}

fn delta_key<'d>(root: &'d Key, parts: &[&str]) -> Option<&'d Key> {
    let mut k = root;
    for p in parts {
        k = k.subkey(p)?;
    }
    Some(k)
}

fn insert_sorted(parent: &mut Key, child: Key) -> usize {
    let pos = parent
        .subkeys
        .partition_point(|k| cmp_names(&k.name, &child.name).is_lt());
    parent.subkeys.insert(pos, child);
    pos
}

fn new_key(
    name: &str,
    layer: Layer,
    timestamp: u64,
    security: impl Into<std::sync::Arc<[u8]>>,
) -> Key {
    let mut k = Key::new(name, layer, timestamp, security);
    k.access_bits = DELTA_ACCESS_BITS;
    k
}

/// Make every key of `parts` present in the delta; returns the last one.
fn ensure<'d>(root: &'d mut Key, base: Option<&Hive>, parts: &[&str], ts: u64) -> &'d mut Key {
    // Decide each level's shape first (immutable walk), then descend mutably.
    let mut plan: Vec<Option<Key>> = Vec::with_capacity(parts.len());
    for i in 0..parts.len() {
        let here = &parts[..=i];
        let existing = delta_key(root, here);
        let parent_sd = delta_key(root, &parts[..i])
            .map(|k| k.security.clone())
            .or_else(|| {
                plan.iter()
                    .rev()
                    .flatten()
                    .next()
                    .map(|k| k.security.clone())
            })
            .unwrap_or_else(|| DEFAULT_SD.to_vec().into());
        match existing {
            Some(k) if k.layer.semantics == LayerSemantics::Tombstone => {
                let mut n = new_key(&k.name, Layer::CREATED, ts, k.security.clone());
                n.flags = k.flags;
                plan.push(Some(n));
            }
            Some(_) => plan.push(None),
            None => {
                // A level created earlier in this plan hides the base beneath it.
                let under_new = plan
                    .iter()
                    .flatten()
                    .any(|k| k.layer.semantics == LayerSemantics::SupersedeTree);
                let b = if under_new {
                    InBase::Absent
                } else {
                    in_base(root, base, here)
                };
                let k = match (&b, b.key()) {
                    (_, Some(bk)) => {
                        let mut k = new_key(
                            &bk.name,
                            Layer::PASS_THROUGH,
                            bk.timestamp,
                            bk.security.clone(),
                        );
                        k.flags = bk.flags & !(KEY_HIVE_ENTRY);
                        k
                    }
                    (InBase::Assumed, None) => {
                        new_key(parts[i], Layer::PASS_THROUGH, ts, parent_sd)
                    }
                    _ => new_key(parts[i], Layer::CREATED, ts, parent_sd),
                };
                plan.push(Some(k));
            }
        }
    }
    let mut cur = root;
    for (i, step) in plan.into_iter().enumerate() {
        let idx = match step {
            Some(k) => {
                if k.layer.semantics == LayerSemantics::SupersedeTree {
                    cur.timestamp = ts; // a subkey was created (or recreated) here
                }
                match cur
                    .subkeys
                    .iter()
                    .position(|s| cmp_names(&s.name, parts[i]).is_eq())
                {
                    Some(p) => {
                        cur.subkeys[p] = k;
                        p
                    }
                    None => insert_sorted(cur, k),
                }
            }
            None => cur
                .subkeys
                .iter()
                .position(|s| cmp_names(&s.name, parts[i]).is_eq())
                .unwrap_or(0),
        };
        cur = &mut cur.subkeys[idx];
    }
    cur
}

/// Build the delta hive for one target hive from `ops` (all must name the same hive).
pub fn build(base: Option<&Hive>, ops: &[RegOp], timestamp: u64) -> Result<Hive, Error> {
    if let Some(first) = ops.first()
        && let Some(other) = ops.iter().find(|o| o.hive != first.hive)
    {
        return Err(Error::Build(format!(
            "operations name two hives ({:?} and {:?}); call build once per hive",
            first.hive, other.hive
        )));
    }
    let root_sd = base.map_or_else(|| DEFAULT_SD.to_vec().into(), |b| b.root.security.clone());
    let mut root = new_key("ROOT", Layer::default(), timestamp, root_sd);
    root.flags = KEY_HIVE_ENTRY | KEY_NO_DELETE;
    for op in ops {
        let parts: Vec<&str> = split_path(&op.path).collect();
        if parts.len() > crate::limits::MAX_KEY_DEPTH {
            return Err(Error::Build(format!(
                "key {}\\... nests {} levels deep, over the {} a hive allows",
                parts[..4.min(parts.len())].join("\\"),
                parts.len(),
                crate::limits::MAX_KEY_DEPTH
            )));
        }
        match &op.action {
            Action::CreateKey => {
                let exists = delta_key(&root, &parts)
                    .is_some_and(|k| k.layer.semantics != LayerSemantics::Tombstone)
                    || in_base(&root, base, &parts).exists();
                if !exists {
                    ensure(&mut root, base, &parts, timestamp);
                }
            }
            Action::SetValue { name, kind, data } => {
                let k = ensure(&mut root, base, &parts, timestamp);
                let v = Value::new(name, *kind, data.clone());
                match k
                    .values
                    .iter_mut()
                    .find(|x| cmp_names(&x.name, name).is_eq())
                {
                    Some(x) => *x = v,
                    None => k.values.push(v),
                }
                k.timestamp = timestamp;
            }
            Action::DeleteValue { name } => {
                let dk = delta_key(&root, &parts);
                let in_delta = dk.is_some_and(|k| {
                    k.values
                        .iter()
                        .any(|v| !v.tombstone && cmp_names(&v.name, name).is_eq())
                });
                let local = dk.is_some_and(|k| k.layer.semantics != LayerSemantics::Merge);
                let in_b = !local
                    && match in_base(&root, base, &parts) {
                        InBase::Found(bk) => bk.value(name).is_some(),
                        InBase::Assumed => true,
                        InBase::Absent => false,
                    };
                if in_delta || in_b {
                    let k = ensure(&mut root, base, &parts, timestamp);
                    k.values.retain(|v| !cmp_names(&v.name, name).is_eq());
                    if in_b {
                        k.values.push(Value::tombstone(name));
                    }
                    k.timestamp = timestamp;
                }
            }
            Action::DeleteKey => {
                let Some((last, parent_parts)) = parts.split_last() else {
                    return Err(Error::Build(format!(
                        "cannot delete the root of the {:?} hive",
                        op.hive
                    )));
                };
                let b = in_base(&root, base, &parts);
                let in_delta = delta_key(&root, &parts)
                    .is_some_and(|k| k.layer.semantics != LayerSemantics::Tombstone);
                if !b.exists() && !in_delta {
                    continue;
                }
                let parent = ensure(&mut root, base, parent_parts, timestamp);
                parent.subkeys.retain(|s| !cmp_names(&s.name, last).is_eq());
                if b.exists() {
                    let (name, sd, flags) = match b.key() {
                        Some(bk) => (bk.name.clone(), bk.security.clone(), bk.flags),
                        None => (last.to_string(), parent.security.clone(), 0),
                    };
                    let mut t = new_key(&name, Layer::TOMBSTONE, 0, sd);
                    t.flags = flags & !KEY_HIVE_ENTRY;
                    insert_sorted(parent, t);
                }
                parent.timestamp = timestamp;
            }
        }
    }
    Ok(Hive {
        header: Header::offreg(true),
        root,
    })
}
