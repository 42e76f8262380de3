//! Apply a differencing hive to a base hive: the effective view a layered registry shows.
//!
//! Per delta key: tombstone (1) hides the base key and its subtree; supersede tree (3)
//! replaces it with the delta's subtree; supersede local (2) replaces the base key's values
//! but merges subkeys; merge (0) overlays values (a tombstone value hides the base value)
//! and merges subkeys. The inherit-class bit takes the class from the base key. Metadata
//! (name casing, timestamp, SD) comes from the delta key. The result is a normal hive
//! (base header, layer bytes cleared, no tombstones), subkeys in Windows order.

use super::model::{Hive, Key, Layer, LayerSemantics, cmp_names};

/// The effective view of `delta` layered over `base`.
pub fn apply(base: &Hive, delta: &Hive) -> Hive {
    let mut header = base.header.clone();
    header.flags &= !super::model::HEADER_FLAG_LAYERED;
    let mut root = merge_key(Some(&base.root), &delta.root).unwrap_or_else(|| base.root.clone());
    // The hive root keeps the base's identity (name, flags, SD).
    root.name = base.root.name.clone();
    root.flags = base.root.flags;
    root.security = base.root.security.clone();
    root.sort_recursive();
    Hive { header, root }
}

/// A key of a normal hive as it stands alone: layer cleared, tombstones dropped.
fn plain(k: &Key) -> Option<Key> {
    if k.layer.semantics == LayerSemantics::Tombstone {
        return None;
    }
    Some(Key {
        name: k.name.clone(),
        flags: k.flags,
        access_bits: k.access_bits,
        layer: Layer::default(),
        timestamp: k.timestamp,
        class: k.class.clone(),
        security: k.security.clone(),
        values: k.values.iter().filter(|v| !v.tombstone).cloned().collect(),
        subkeys: k.subkeys.iter().filter_map(plain).collect(),
    })
}

fn merge_key(base: Option<&Key>, d: &Key) -> Option<Key> {
    let b = match (base, d.layer.semantics) {
        (_, LayerSemantics::Tombstone) => return None,
        (_, LayerSemantics::SupersedeTree) | (None, _) => return plain(d),
        (Some(b), _) => b,
    };
    let mut out = plain(&Key {
        subkeys: Vec::new(),
        ..d.clone()
    })?;
    if d.layer.inherit_class {
        out.class = b.class.clone();
    }
    if d.layer.semantics == LayerSemantics::Merge {
        let mut values = Vec::with_capacity(b.values.len() + d.values.len());
        for bv in &b.values {
            match d
                .values
                .iter()
                .find(|dv| cmp_names(&dv.name, &bv.name).is_eq())
            {
                Some(dv) if dv.tombstone => {}
                Some(dv) => values.push(dv.clone()),
                None => values.push(bv.clone()),
            }
        }
        for dv in &d.values {
            if !dv.tombstone
                && !b
                    .values
                    .iter()
                    .any(|bv| cmp_names(&dv.name, &bv.name).is_eq())
            {
                values.push(dv.clone());
            }
        }
        out.values = values;
    }
    let mut subkeys = Vec::with_capacity(b.subkeys.len() + d.subkeys.len());
    for bs in &b.subkeys {
        match d.subkey(&bs.name) {
            Some(ds) => subkeys.extend(merge_key(Some(bs), ds)),
            None => subkeys.push(bs.clone()),
        }
    }
    for ds in &d.subkeys {
        if b.subkey(&ds.name).is_none() {
            subkeys.extend(merge_key(None, ds));
        }
    }
    out.subkeys = subkeys;
    Some(out)
}
