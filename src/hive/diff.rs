//! Diff two hive views into changes: keys added or deleted, values added, changed or
//! deleted, with type and data before and after. Meant for effective views (see
//! [`super::merge::apply`]); on raw differencing hives it also reports layer changes and
//! treats tombstone values as values flagged `tombstone`. Keys and values are matched
//! case-insensitively (Windows rules); output follows Windows key order, one entry per
//! key and value (a deleted subtree lists every key and value in it).

use super::model::{Hive, Key, Layer, Value, cmp_names, render_data, type_name};
use serde::Serialize;

/// A value's type and data, as shown in a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Data {
    /// Raw REG_* number.
    #[serde(rename = "type")]
    pub kind: u32,
    pub type_name: String,
    /// Lower-case hex of the raw bytes.
    pub hex: String,
    /// Decoded rendering for strings and numbers, when well formed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tombstone: bool,
}

impl Data {
    pub fn of(v: &Value) -> Self {
        Data::new(v.kind, &v.data, v.tombstone)
    }

    /// The same from a value's parts (a streamed [`super::stream::ValueRef`]).
    pub fn new(kind: u32, data: &[u8], tombstone: bool) -> Self {
        Data {
            kind,
            type_name: type_name(kind),
            hex: hex::encode(data),
            text: render_data(kind, data),
            tombstone,
        }
    }
}

/// One difference between two views (`path` relative to the hive root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum Change {
    KeyAdded {
        path: String,
        layer: Layer,
    },
    KeyDeleted {
        path: String,
        layer: Layer,
    },
    KeyLayerChanged {
        path: String,
        before: Layer,
        after: Layer,
    },
    ValueAdded {
        path: String,
        name: String,
        after: Data,
    },
    ValueChanged {
        path: String,
        name: String,
        before: Data,
        after: Data,
    },
    ValueDeleted {
        path: String,
        name: String,
        before: Data,
    },
}

/// Changes that turn `a` into `b`.
pub fn diff(a: &Hive, b: &Hive) -> Vec<Change> {
    let mut out = Vec::new();
    diff_key(&a.root, &b.root, "", &mut out);
    out
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}\\{name}")
    }
}

fn all(k: &Key, path: &str, added: bool, out: &mut Vec<Change>) {
    out.push(if added {
        Change::KeyAdded {
            path: path.to_string(),
            layer: k.layer,
        }
    } else {
        Change::KeyDeleted {
            path: path.to_string(),
            layer: k.layer,
        }
    });
    for v in &k.values {
        out.push(if added {
            Change::ValueAdded {
                path: path.to_string(),
                name: v.name.clone(),
                after: Data::of(v),
            }
        } else {
            Change::ValueDeleted {
                path: path.to_string(),
                name: v.name.clone(),
                before: Data::of(v),
            }
        });
    }
    let mut subs: Vec<&Key> = k.subkeys.iter().collect();
    subs.sort_by(|x, y| cmp_names(&x.name, &y.name));
    for s in subs {
        all(s, &join(path, &s.name), added, out);
    }
}

fn diff_key(a: &Key, b: &Key, path: &str, out: &mut Vec<Change>) {
    if a.layer != b.layer {
        out.push(Change::KeyLayerChanged {
            path: path.to_string(),
            before: a.layer,
            after: b.layer,
        });
    }
    for av in &a.values {
        match b
            .values
            .iter()
            .find(|bv| cmp_names(&av.name, &bv.name).is_eq())
        {
            None => out.push(Change::ValueDeleted {
                path: path.to_string(),
                name: av.name.clone(),
                before: Data::of(av),
            }),
            Some(bv)
                if bv.kind != av.kind || bv.data != av.data || bv.tombstone != av.tombstone =>
            {
                out.push(Change::ValueChanged {
                    path: path.to_string(),
                    name: bv.name.clone(),
                    before: Data::of(av),
                    after: Data::of(bv),
                })
            }
            Some(_) => {}
        }
    }
    for bv in &b.values {
        if !a
            .values
            .iter()
            .any(|av| cmp_names(&av.name, &bv.name).is_eq())
        {
            out.push(Change::ValueAdded {
                path: path.to_string(),
                name: bv.name.clone(),
                after: Data::of(bv),
            });
        }
    }
    let mut names: Vec<(&str, Option<&Key>, Option<&Key>)> = Vec::new();
    for s in &a.subkeys {
        names.push((&s.name, Some(s), b.subkey(&s.name)));
    }
    for s in &b.subkeys {
        if a.subkey(&s.name).is_none() {
            names.push((&s.name, None, Some(s)));
        }
    }
    names.sort_by(|x, y| cmp_names(x.0, y.0));
    for (_, sa, sb) in names {
        match (sa, sb) {
            (Some(x), Some(y)) => diff_key(x, y, &join(path, &y.name), out),
            (Some(x), None) => all(x, &join(path, &x.name), false, out),
            (None, Some(y)) => all(y, &join(path, &y.name), true, out),
            (None, None) => {}
        }
    }
}
