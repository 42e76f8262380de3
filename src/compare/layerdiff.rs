//! The semantic diff of one layer pair.
//!
//! - Tar entries: each layer is streamed once (digest and diff_id verified in the same
//!   pass, `image::layer`); per entry we keep name, type, size, content sha256,
//!   `MSWINDOWS.fileattr`, the security descriptor (SDDL where decodable), link target
//!   and times. Entries are matched by path, so order never matters; times count only
//!   under `strict`. `Hives/*_Delta` files are kept whole and compared by meaning.
//! - Registry: each delta hive becomes a list of [`Effect`]s. With the base hive at hand
//!   the delta is applied to it (`hive::merge::apply`) and the effective view diffed
//!   against the base (`hive::diff`), so two encodings of the same change agree; without
//!   it the delta's own keys are read with their layer semantics (tombstone, supersede,
//!   merge) and values. Effects of the reference and of the image under test are then
//!   matched key by key and value by value.
//!
//! Owns: these facts and their matching. Does not own: verdicts (the caller decides from
//! the changes, with the noise rules) or pairing layers (`pair`).

use super::report::{Area, Change, ChangeKind, Class};
use super::{Error, noise};
use crate::hive::{self, Hive, Key, LayerSemantics, RootHive, diff as hdiff, model};
use crate::image::{Descriptor, Digest, ImageSource, layer};
use crate::wclayer::reader::EntryType;
use crate::wclayer::reader::fold;
use crate::wclayer::{self, LayerReader, PaxTime, sddl};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::{self, Read};

/// Largest delta hive we hold in memory (real ones are a few hundred KiB).
pub const MAX_HIVE: u64 = crate::limits::DELTA_HIVE.bytes;

/// One tar entry's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFacts {
    pub path: String,
    /// `dir`, `file`, `whiteout`, `hardlink`, `symlink`, `other(N)`.
    pub kind: String,
    pub link_target: Option<String>,
    pub size: u64,
    /// Content digest (regular files).
    pub sha256: Option<Digest>,
    pub fileattr: Option<u32>,
    /// SDDL, or `base64:...` when the descriptor does not decode.
    pub sd: Option<String>,
    pub mountpoint: bool,
    pub mtime: PaxTime,
    pub creation_time: Option<PaxTime>,
    /// Other PAX time records (`atime`, `ctime`) as written.
    pub pax_times: BTreeMap<String, String>,
    /// The first [`noise::HEAD`] content bytes (what the noise rules check).
    pub head: Vec<u8>,
    /// For a user's profile hive: parsed, and free of autostart entries?
    pub hive_check: Option<Result<(), String>>,
}

/// Largest profile hive (`NTUSER.DAT`) the noise check parses.
pub const MAX_PROFILE_HIVE: u64 = 64 << 20;

/// What one layer holds.
#[derive(Debug, Clone, Default)]
pub struct LayerContent {
    /// Entries by folded path (`wclayer::reader::fold`: NTFS is case-insensitive).
    pub entries: BTreeMap<String, EntryFacts>,
    /// Entries the layer reader refused (unsafe name, duplicate, escaping link):
    /// (name as written, why). Each is a difference, never noise.
    pub problems: Vec<(String, String)>,
    /// Paths in tar order.
    pub order: Vec<String>,
    /// Delta hives (`Hives/<name>` → bytes).
    pub hives: BTreeMap<String, Vec<u8>>,
    /// Executables (`crate::pe::is_pe_name`, at most `pe::MAX_PE_BYTES`) by lower-cased
    /// path, kept so a content change can be named by PE structure (`compare::pe`).
    pub pe: BTreeMap<String, Vec<u8>>,
    pub digests: Option<layer::LayerDigests>,
}

fn kind_str(k: &EntryType) -> (String, Option<String>) {
    match k {
        EntryType::Dir => ("dir".into(), None),
        EntryType::File => ("file".into(), None),
        EntryType::Whiteout => ("whiteout".into(), None),
        EntryType::HardLink { target } => ("hardlink".into(), Some(target.clone())),
        EntryType::Symlink { target } => ("symlink".into(), Some(target.clone())),
        EntryType::Other(t) => (format!("other({t})"), None),
    }
}

/// Read an uncompressed layer tar into [`LayerContent`]. An entry the reader refuses
/// (unsafe or duplicate name, escaping link) is recorded in `problems` and the walk goes
/// on, so the report names every one.
pub fn read_tar(r: &mut dyn Read) -> Result<LayerContent, wclayer::Error> {
    let mut reader = LayerReader::new(r);
    let mut out = LayerContent::default();
    let mut hive_bytes = 0u64;
    loop {
        let mut e = match reader.next_entry() {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(wclayer::Error::InvalidEntry { path, reason }) => {
                if out.problems.len() < MAX_PROBLEMS {
                    out.problems.push((path, reason));
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        let info = e.info.clone();
        let (kind, link_target) = kind_str(&info.kind);
        let mut sha256 = None;
        let mut head = Vec::new();
        let mut hive_check = None;
        let folded = fold(&info.path);
        if info.kind == EntryType::File {
            let hive_name = folded
                .strip_prefix("HIVES/")
                .filter(|n| !n.contains('/'))
                .and_then(|_| info.path.split_once('/'))
                .map(|(_, n)| n.to_string());
            let profile = noise::is_profile_hive(&info.path);
            if let Some(name) = hive_name {
                // Checked on the header's size, before anything is read.
                hive_bytes = hive_bytes.saturating_add(info.size);
                let over = [
                    (&crate::limits::DELTA_HIVE, info.size),
                    (&crate::limits::LAYER_DELTA_HIVES, hive_bytes),
                ]
                .into_iter()
                .find(|(cap, n)| *n > cap.bytes);
                if let Some((cap, n)) = over {
                    return Err(wclayer::Error::Io(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: {}", info.path, crate::limits::too_large(cap, n)),
                    )));
                }
                let data = e.read_to_vec(MAX_HIVE)?;
                sha256 = Some(Digest::of(&data));
                head = data[..data.len().min(noise::HEAD)].to_vec();
                out.hives.insert(name, data);
            } else if profile && info.size <= MAX_PROFILE_HIVE {
                let data = e.read_to_vec(MAX_PROFILE_HIVE)?;
                sha256 = Some(Digest::of(&data));
                head = data[..data.len().min(noise::HEAD)].to_vec();
                hive_check = Some(match hive::read(&data) {
                    Ok(h) => noise::hive_autostart(&h),
                    Err(err) => Err(format!("does not parse as a registry hive: {err}")),
                });
            } else if crate::pe::is_pe_name(&info.path)
                && info.size <= crate::pe::MAX_PE_BYTES as u64
            {
                let data = e.read_to_vec(crate::pe::MAX_PE_BYTES as u64)?;
                sha256 = Some(Digest::of(&data));
                head = data[..data.len().min(noise::HEAD)].to_vec();
                out.pe.insert(info.path.to_ascii_lowercase(), data);
            } else {
                if profile {
                    hive_check = Some(Err(format!(
                        "{} bytes is over the {MAX_PROFILE_HIVE}-byte profile hive limit",
                        info.size
                    )));
                }
                let mut h = Sha256::new();
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = e.read(&mut buf).map_err(wclayer::Error::Io)?;
                    if n == 0 {
                        break;
                    }
                    if head.len() < noise::HEAD {
                        let take = (noise::HEAD - head.len()).min(n);
                        head.extend_from_slice(&buf[..take]);
                    }
                    h.update(&buf[..n]);
                }
                sha256 = Some(Digest::from_hasher(h));
            }
        }
        let sd = info.raw_sd.as_ref().map(|b| match sddl::to_sddl(b) {
            Ok(s) => s,
            Err(_) => {
                use base64::Engine as _;
                format!(
                    "base64:{}",
                    base64::engine::general_purpose::STANDARD.encode(b)
                )
            }
        });
        let pax_times = info
            .pax
            .iter()
            .filter(|(k, _)| k == "atime" || k == "ctime")
            .cloned()
            .collect();
        let facts = EntryFacts {
            path: info.path.clone(),
            kind,
            link_target,
            size: info.size,
            sha256,
            fileattr: info.file_attributes,
            sd,
            mountpoint: info.mountpoint,
            mtime: info.mtime,
            creation_time: info.creation_time,
            pax_times,
            head,
            hive_check,
        };
        out.order.push(folded.clone());
        out.entries.insert(folded, facts);
    }
    Ok(out)
}

/// Refused entries kept per layer (each is a difference; the first ones say enough).
const MAX_PROBLEMS: usize = 1000;

fn facts_of(e: &EntryFacts) -> noise::FileFacts<'_> {
    noise::FileFacts {
        path: &e.path,
        kind: &e.kind,
        size: e.size,
        head: &e.head,
        hive: e.hive_check.as_ref(),
    }
}

/// Label `c` by the noise judgement, saying why not when a rule or the content refused.
fn judged(mut c: Change, j: noise::Judgement) -> Change {
    match j {
        noise::Judgement::Noise(r) => noise(c, r.id),
        noise::Judgement::NotNoise(Some(why)) => {
            let a = c.actual.take().unwrap_or_default();
            c.actual = Some(if a.is_empty() {
                format!("not noise: {why}")
            } else {
                format!("{a}; not noise: {why}")
            });
            c
        }
        noise::Judgement::NotNoise(None) => c,
    }
}

/// Stream a layer blob from `source`, verifying digest and diff_id, into [`LayerContent`].
pub fn read_layer(source: &dyn ImageSource, desc: &Descriptor) -> Result<LayerContent, Error> {
    let (digests, content) = layer::verify_blob(source, desc, |r| {
        read_tar(r).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    })
    .map_err(|e| Error::Image(format!("layer {}", desc.digest), e))?;
    let mut content = content;
    content.digests = Some(digests);
    Ok(content)
}

fn change(
    area: Area,
    kind: ChangeKind,
    path: &str,
    field: Option<&str>,
    expected: Option<String>,
    actual: Option<String>,
) -> Change {
    Change {
        area,
        change: kind,
        path: path.to_string(),
        field: field.map(str::to_string),
        expected,
        actual,
        class: Class::Unexplained,
        rule: None,
    }
}

fn noise(mut c: Change, rule: &str) -> Change {
    c.class = Class::Noise;
    c.rule = Some(rule.to_string());
    c
}

fn describe_entry(e: &EntryFacts) -> String {
    let mut s = e.kind.clone();
    if let Some(t) = &e.link_target {
        s.push_str(&format!(" -> {t}"));
    }
    if e.kind == "file" {
        s.push_str(&format!(", {} bytes", e.size));
        if let Some(d) = &e.sha256 {
            s.push_str(&format!(", {d}"));
        }
    }
    s
}

fn fmt_time(t: &PaxTime) -> String {
    t.to_pax_string()
}

/// Tar entry changes that turn `expected` into `actual`. `Hives/*` contents are left to
/// [`registry_changes`]. Under `strict` times count and noise is still labelled (the
/// caller decides what counts).
pub fn entry_changes(expected: &LayerContent, actual: &LayerContent, strict: bool) -> Vec<Change> {
    let mut out = Vec::new();
    for (side, content) in [("image under test", actual), ("reference", expected)] {
        for (name, why) in &content.problems {
            out.push(change(
                Area::File,
                ChangeKind::Extra,
                name,
                Some("name"),
                None,
                Some(format!("refused entry in the {side}: {why}")),
            ));
        }
    }
    for (k, a) in &actual.entries {
        match expected.entries.get(k) {
            None => {
                let c = change(
                    Area::File,
                    ChangeKind::Extra,
                    &a.path,
                    None,
                    None,
                    Some(describe_entry(a)),
                );
                out.push(judged(c, noise::judge_file(&facts_of(a))));
            }
            Some(e) => out.extend(entry_field_changes(e, a, strict)),
        }
    }
    for (k, e) in &expected.entries {
        if !actual.entries.contains_key(k) {
            out.push(change(
                Area::File,
                ChangeKind::Missing,
                &e.path,
                None,
                Some(describe_entry(e)),
                None,
            ));
        }
    }
    // A directory only the image under test has, holding only noise, is noise too
    // (deepest first, so nested noise-only directories resolve).
    let mut extra_dirs: Vec<usize> = out
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            c.change == ChangeKind::Extra
                && c.class == Class::Unexplained
                && c.field.is_none()
                && actual
                    .entries
                    .get(&fold(&c.path))
                    .is_some_and(|e| e.kind == "dir")
        })
        .map(|(i, _)| i)
        .collect();
    extra_dirs.sort_by_key(|&i| std::cmp::Reverse(out[i].path.matches('/').count()));
    for i in extra_dirs {
        let dir = format!("{}/", fold(&out[i].path));
        if only_noise_under(&out, |c| fold(&c.path).starts_with(&dir)) {
            let c = out[i].clone();
            out[i] = noise(c, noise::PARENT_DIR);
        }
    }
    // Order: only reported when the same entries come in another order.
    let common_e: Vec<&String> = expected
        .order
        .iter()
        .filter(|p| actual.entries.contains_key(*p))
        .collect();
    let common_a: Vec<&String> = actual
        .order
        .iter()
        .filter(|p| expected.entries.contains_key(*p))
        .collect();
    if common_e != common_a {
        let first = common_e
            .iter()
            .zip(&common_a)
            .find(|(x, y)| x != y)
            .map(|(x, y)| (x.to_string(), y.to_string()));
        let (e, a) = first.unwrap_or_default();
        let c = change(
            Area::File,
            ChangeKind::Altered,
            "(entry order)",
            Some("order"),
            Some(format!("... {e} ...")),
            Some(format!("... {a} ...")),
        );
        out.push(noise(c, noise::ENTRY_ORDER));
    }
    out.sort();
    out
}

/// True when at least one change matches `under` and all that do are noise.
fn only_noise_under(out: &[Change], under: impl Fn(&Change) -> bool) -> bool {
    let mut it = out.iter().filter(|c| under(c)).peekable();
    it.peek().is_some() && it.all(|c| c.class == Class::Noise)
}

fn entry_field_changes(e: &EntryFacts, a: &EntryFacts, strict: bool) -> Vec<Change> {
    let mut out = Vec::new();
    let is_hive = fold(&e.path).starts_with("HIVES/") && e.kind == "file" && a.kind == "file";
    let mut field = |name: &str, ev: String, av: String, times: Option<&str>| {
        if ev != av {
            let c = change(
                Area::File,
                ChangeKind::Altered,
                &a.path,
                Some(name),
                Some(ev),
                Some(av),
            );
            if times.is_some() && !strict {
                // Times are compared only under --strict.
                return;
            }
            out.push(match times {
                Some(r) => noise(c, r),
                // The changed entry must itself be content a rule admits.
                None => judged(c, noise::judge_file(&facts_of(a))),
            });
        }
    };
    field("type", describe_kind(e), describe_kind(a), None);
    if !is_hive {
        field(
            "content",
            e.sha256
                .as_ref()
                .map(|d| format!("{} bytes, {d}", e.size))
                .unwrap_or_default(),
            a.sha256
                .as_ref()
                .map(|d| format!("{} bytes, {d}", a.size))
                .unwrap_or_default(),
            None,
        );
    }
    field("fileattr", opt(&e.fileattr), opt(&a.fileattr), None);
    field(
        "sd",
        e.sd.clone().unwrap_or_else(|| "(none)".into()),
        a.sd.clone().unwrap_or_else(|| "(none)".into()),
        None,
    );
    field(
        "mountpoint",
        e.mountpoint.to_string(),
        a.mountpoint.to_string(),
        None,
    );
    field(
        "mtime",
        fmt_time(&e.mtime),
        fmt_time(&a.mtime),
        Some(noise::TIMES),
    );
    field(
        "creationtime",
        e.creation_time
            .as_ref()
            .map(fmt_time)
            .unwrap_or_else(|| "(none)".into()),
        a.creation_time
            .as_ref()
            .map(fmt_time)
            .unwrap_or_else(|| "(none)".into()),
        Some(noise::TIMES),
    );
    field(
        "pax-times",
        format!("{:?}", e.pax_times),
        format!("{:?}", a.pax_times),
        Some(noise::PAX_TIMES),
    );
    out
}

fn describe_kind(e: &EntryFacts) -> String {
    match &e.link_target {
        Some(t) => format!("{} -> {t}", e.kind),
        None => e.kind.clone(),
    }
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "(none)".to_string(), |x| x.to_string())
}

// ---------------------------------------------------------------------------------------
// Registry

/// What a delta hive does to one key or value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The key is (re)created: a new subtree hiding whatever the base had.
    KeyCreated,
    /// The key and its subtree are deleted.
    KeyDeleted,
    ValueSet {
        kind: u32,
        data: Vec<u8>,
    },
    ValueDeleted,
}

/// Address of an effect: hive, key path as written, value name (`None` = the key).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub hive: RootHive,
    pub path: String,
    pub value: Option<String>,
}

impl Target {
    /// Case-insensitive identity (Windows rules).
    pub fn id(&self) -> (RootHive, String, Option<String>) {
        (
            self.hive,
            upcase(&self.path),
            self.value.as_deref().map(upcase),
        )
    }
}

fn upcase(s: &str) -> String {
    String::from_utf16_lossy(&s.encode_utf16().map(model::upcase_unit).collect::<Vec<_>>())
}

/// Effects in order, keyed case-insensitively; later effects replace earlier ones.
#[derive(Debug, Clone, Default)]
pub struct Effects {
    pub items: BTreeMap<(RootHive, String, Option<String>), (Target, Effect)>,
}

impl Effects {
    pub fn push(&mut self, t: Target, e: Effect) {
        if e == Effect::KeyDeleted {
            // A deleted key takes everything recorded beneath it with it.
            let (h, p, _) = t.id();
            let prefix = format!("{p}\\");
            self.items
                .retain(|(kh, kp, _), _| !(*kh == h && (kp == &p || kp.starts_with(&prefix))));
        }
        self.items.insert(t.id(), (t, e));
    }
    pub fn extend(&mut self, other: &Effects) {
        for (t, e) in other.items.values() {
            self.push(t.clone(), e.clone());
        }
    }
    pub fn get(&self, t: &Target) -> Option<&Effect> {
        self.items.get(&t.id()).map(|(_, e)| e)
    }
    /// True when a recorded key deletion covers `t` (the key itself or an ancestor).
    pub fn deleted(&self, t: &Target) -> bool {
        let (h, p, _) = t.id();
        let parts: Vec<&str> = p.split('\\').collect();
        (1..=parts.len()).any(|n| {
            let k = (h, parts[..n].join("\\"), None);
            matches!(self.items.get(&k), Some((_, Effect::KeyDeleted)))
        })
    }
    /// True when any effect is at or beneath key `t`.
    pub fn touches(&self, t: &Target) -> bool {
        let (h, p, _) = t.id();
        let prefix = format!("{p}\\");
        self.items
            .keys()
            .any(|(kh, kp, _)| *kh == h && (kp == &p || kp.starts_with(&prefix)))
    }
}

/// The hive a `Hives/<name>` file is, if it is one of the five.
pub fn hive_of(name: &str) -> Option<RootHive> {
    [
        RootHive::Software,
        RootHive::System,
        RootHive::Sam,
        RootHive::Security,
        RootHive::Default,
    ]
    .into_iter()
    .find(|h| h.delta_file_name().eq_ignore_ascii_case(name))
}

/// Effects of one delta hive: applied to `base` when given, else read from the delta.
pub fn hive_effects(which: RootHive, base: Option<&Hive>, delta: &Hive) -> Effects {
    let mut out = Effects::default();
    match base {
        Some(b) => {
            let eff = hive::merge::apply(b, delta);
            for c in hdiff::diff(b, &eff) {
                let (path, value, e) = match c {
                    hdiff::Change::KeyAdded { path, .. } => (path, None, Effect::KeyCreated),
                    hdiff::Change::KeyDeleted { path, .. } => (path, None, Effect::KeyDeleted),
                    hdiff::Change::KeyLayerChanged { .. } => continue,
                    hdiff::Change::ValueAdded { path, name, .. }
                    | hdiff::Change::ValueChanged { path, name, .. } => {
                        let (kind, data) = eff
                            .find(&path)
                            .and_then(|k| k.value(&name))
                            .map(|v| (v.kind, v.data.clone()))
                            .unwrap_or_default();
                        (path, Some(name), Effect::ValueSet { kind, data })
                    }
                    hdiff::Change::ValueDeleted { path, name, .. } => {
                        (path, Some(name), Effect::ValueDeleted)
                    }
                };
                let t = Target {
                    hive: which,
                    path,
                    value,
                };
                // hive::diff lists a deleted subtree key by key: keep the top.
                if out.deleted(&Target {
                    value: None,
                    ..t.clone()
                }) {
                    continue;
                }
                out.push(t, e);
            }
        }
        None => walk_delta(which, &delta.root, "", &mut out),
    }
    out
}

fn walk_delta(which: RootHive, k: &Key, path: &str, out: &mut Effects) {
    let key_t = || Target {
        hive: which,
        path: path.to_string(),
        value: None,
    };
    match k.layer.semantics {
        LayerSemantics::Tombstone => {
            out.push(key_t(), Effect::KeyDeleted);
            return;
        }
        LayerSemantics::SupersedeTree | LayerSemantics::SupersedeLocal if !path.is_empty() => {
            out.push(key_t(), Effect::KeyCreated);
        }
        _ => {}
    }
    for v in &k.values {
        let t = Target {
            hive: which,
            path: path.to_string(),
            value: Some(v.name.clone()),
        };
        if v.tombstone {
            out.push(t, Effect::ValueDeleted);
        } else {
            out.push(
                t,
                Effect::ValueSet {
                    kind: v.kind,
                    data: v.data.clone(),
                },
            );
        }
    }
    for s in &k.subkeys {
        let p = if path.is_empty() {
            s.name.clone()
        } else {
            format!("{path}\\{}", s.name)
        };
        walk_delta(which, s, &p, out);
    }
}

/// Render an effect for a report.
pub fn render_effect(e: &Effect) -> String {
    match e {
        Effect::KeyCreated => "key created".into(),
        Effect::KeyDeleted => "key deleted".into(),
        Effect::ValueDeleted => "value deleted".into(),
        Effect::ValueSet { kind, data } => render_value(*kind, data),
    }
}

/// `REG_SZ "N"`, `REG_DWORD 0x01bcf674`, `REG_BINARY hex:0102`.
pub fn render_value(kind: u32, data: &[u8]) -> String {
    match model::render_data(kind, data) {
        Some(t) if matches!(kind, 1 | 2 | 6) => format!("{} {t:?}", model::type_name(kind)),
        Some(t) => format!("{} {t}", model::type_name(kind)),
        None => format!("{} hex:{}", model::type_name(kind), hex::encode(data)),
    }
}

fn reg_path(t: &Target) -> String {
    let h = format!("{:?}", t.hive);
    if t.path.is_empty() {
        h
    } else {
        format!("{h}\\{}", t.path)
    }
}

/// Registry changes that turn the `expected` effects into the `actual` ones; extras are
/// labelled by the noise rules.
///
/// A value the reference sets and the image under test leaves alone is shown with what
/// the base holds there (when the base hive is in `bases`): "altered", both values.
pub fn registry_changes(
    expected: &Effects,
    actual: &Effects,
    bases: &BTreeMap<RootHive, Hive>,
) -> Vec<Change> {
    let mut out = Vec::new();
    for (id, (t, ae)) in &actual.items {
        let c = match expected.items.get(id) {
            Some((_, ee)) if ee == ae => continue,
            Some((_, ee)) => change(
                Area::Registry,
                ChangeKind::Altered,
                &reg_path(t),
                t.value.as_deref(),
                Some(render_effect(ee)),
                Some(render_effect(ae)),
            ),
            None => change(
                Area::Registry,
                ChangeKind::Extra,
                &reg_path(t),
                t.value.as_deref(),
                None,
                Some(render_effect(ae)),
            ),
        };
        // An altered recipe edit is never noise; an extra change may be.
        let c = if c.change == ChangeKind::Extra {
            let rc = match ae {
                Effect::KeyCreated => noise::RegChange::KeyCreated,
                Effect::KeyDeleted => noise::RegChange::KeyDeleted,
                Effect::ValueDeleted => noise::RegChange::ValueDeleted,
                Effect::ValueSet { kind, data } => noise::RegChange::ValueSet { kind: *kind, data },
            };
            judged(
                c,
                noise::judge_registry(t.hive, &t.path, t.value.as_deref(), rc),
            )
        } else {
            c
        };
        out.push(c);
    }
    // A key only the image under test creates, holding only noise, is noise too.
    let mut created: Vec<usize> = out
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            c.change == ChangeKind::Extra
                && c.class == Class::Unexplained
                && c.field.is_none()
                && c.actual.as_deref() == Some("key created")
        })
        .map(|(i, _)| i)
        .collect();
    created.sort_by_key(|&i| std::cmp::Reverse(out[i].path.matches('\\').count()));
    for i in created {
        let key = out[i].path.to_ascii_lowercase();
        let prefix = format!("{key}\\");
        if only_noise_under(&out, |c| {
            let p = c.path.to_ascii_lowercase();
            (p == key && c.field.is_some()) || p.starts_with(&prefix)
        }) {
            let c = out[i].clone();
            out[i] = noise(c, noise::PARENT_KEY);
        }
    }
    for (id, (t, ee)) in &expected.items {
        if !actual.items.contains_key(id) {
            let in_base = t.value.as_deref().and_then(|n| {
                let v = bases.get(&t.hive)?.find(&t.path)?.value(n)?;
                Some(format!(
                    "{} (unchanged from the base)",
                    render_value(v.kind, &v.data)
                ))
            });
            let kind = if in_base.is_some() {
                ChangeKind::Altered
            } else {
                ChangeKind::Missing
            };
            out.push(change(
                Area::Registry,
                kind,
                &reg_path(t),
                t.value.as_deref(),
                Some(render_effect(ee)),
                in_base,
            ));
        }
    }
    out.sort();
    out
}

/// Effects of every delta hive of a layer (by hive), reading hive files with `hive::read`.
pub fn layer_effects(
    content: &LayerContent,
    bases: &BTreeMap<RootHive, Hive>,
) -> Result<Effects, Error> {
    let mut out = Effects::default();
    for (name, bytes) in &content.hives {
        let Some(which) = hive_of(name) else {
            continue;
        };
        let delta = hive::read(bytes).map_err(|e| Error::Hive(format!("Hives/{name}"), e))?;
        out.extend(&hive_effects(which, bases.get(&which), &delta));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hive::{Layer, Value, delta, regfile};

    fn utf16z(s: &str) -> Vec<u8> {
        s.encode_utf16()
            .chain([0])
            .flat_map(|u| u.to_le_bytes())
            .collect()
    }

    fn base() -> Hive {
        let sd = delta::DEFAULT_SD.to_vec();
        let mut root = Key::new("ROOT", Layer::default(), 1, sd.clone());
        let mut ms = Key::new("Microsoft", Layer::default(), 1, sd.clone());
        let mut ole = Key::new("Ole", Layer::default(), 1, sd.clone());
        ole.values.push(Value::new("EnableDCOM", 1, utf16z("Y")));
        ole.values.push(Value::new("Other", 4, vec![1, 0, 0, 0]));
        ms.subkeys.push(ole);
        root.subkeys.push(ms);
        Hive {
            header: model::Header::offreg(false),
            root,
        }
    }

    #[test]
    fn two_encodings_of_one_edit_agree_with_the_base_and_differ_without() {
        let b = base();
        let ops = regfile::parse(
            b"Windows Registry Editor Version 5.00\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ole]\n\"EnableDCOM\"=\"N\"\n",
        )
        .unwrap();
        // Pass-through (0x80) encoding, as built against the base.
        let d1 = delta::build(Some(&b), &ops, 5).unwrap();
        // Supersede-tree encoding of the same key with the base's other value copied in.
        let mut d2 = d1.clone();
        let ole = d2.root.subkeys[0].subkeys[0].clone();
        let mut ole = Key {
            layer: Layer::CREATED,
            ..ole
        };
        ole.values.push(Value::new("Other", 4, vec![1, 0, 0, 0]));
        d2.root.subkeys[0].subkeys[0] = ole;
        let e1 = hive_effects(RootHive::Software, Some(&b), &d1);
        let e2 = hive_effects(RootHive::Software, Some(&b), &d2);
        assert!(registry_changes(&e1, &e2, &BTreeMap::new()).is_empty());
        // Without the base, the layer semantics differ and show.
        let r1 = hive_effects(RootHive::Software, None, &d1);
        let r2 = hive_effects(RootHive::Software, None, &d2);
        let ch = registry_changes(&r1, &r2, &BTreeMap::new());
        assert!(
            ch.iter().any(
                |c| c.change == ChangeKind::Extra && c.actual.as_deref() == Some("key created")
            ),
            "{ch:?}"
        );
    }

    #[test]
    fn altered_value_names_both_values() {
        let b = base();
        let set = |v: &str| {
            let ops = regfile::parse(
                format!("Windows Registry Editor Version 5.00\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ole]\n\"EnableDCOM\"=\"{v}\"\n").as_bytes(),
            )
            .unwrap();
            hive_effects(
                RootHive::Software,
                Some(&b),
                &delta::build(Some(&b), &ops, 5).unwrap(),
            )
        };
        let (n, x) = (set("N"), set("X"));
        let ch = registry_changes(&n, &x, &BTreeMap::new());
        assert_eq!(ch.len(), 1, "{ch:?}");
        assert_eq!(ch[0].change, ChangeKind::Altered);
        assert_eq!(ch[0].path, "Software\\Microsoft\\Ole");
        assert_eq!(ch[0].field.as_deref(), Some("EnableDCOM"));
        assert_eq!(ch[0].expected.as_deref(), Some("REG_SZ \"N\""));
        assert_eq!(ch[0].actual.as_deref(), Some("REG_SZ \"X\""));
        assert_eq!(ch[0].class, Class::Unexplained);
        // Setting the base's own value changes nothing in the effective view.
        assert!(set("Y").items.is_empty());
    }

    #[test]
    fn deleted_subtree_is_one_effect() {
        let b = base();
        let ops = regfile::parse(
            b"Windows Registry Editor Version 5.00\n[-HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft]\n",
        )
        .unwrap();
        let d = delta::build(Some(&b), &ops, 5).unwrap();
        let e = hive_effects(RootHive::Software, Some(&b), &d);
        assert_eq!(e.items.len(), 1, "{:?}", e.items);
        let raw = hive_effects(RootHive::Software, None, &d);
        assert_eq!(raw.items.len(), 1);
        let t = Target {
            hive: RootHive::Software,
            path: "microsoft\\OLE".into(),
            value: Some("enabledcom".into()),
        };
        assert!(e.deleted(&t));
    }

    #[test]
    fn entry_diff_ignores_order_and_times_but_not_content() {
        let mk = |path: &str, sha: u8, t: i64| EntryFacts {
            path: path.into(),
            kind: "file".into(),
            link_target: None,
            size: 1,
            sha256: Some(Digest::of(&[sha])),
            fileattr: Some(32),
            sd: Some("O:BUG:BU".into()),
            mountpoint: false,
            mtime: PaxTime::from_secs(t),
            creation_time: None,
            pax_times: BTreeMap::new(),
            head: Vec::new(),
            hive_check: None,
        };
        let content = |v: Vec<EntryFacts>| {
            let mut c = LayerContent::default();
            for e in v {
                let k = fold(&e.path);
                c.order.push(k.clone());
                c.entries.insert(k, e);
            }
            c
        };
        let a = content(vec![mk("Files/a", 1, 0), mk("Files/b", 2, 0)]);
        let b = content(vec![mk("Files/b", 2, 9), mk("Files/a", 1, 9)]);
        let ch = entry_changes(&a, &b, false);
        assert!(ch.iter().all(|c| c.class == Class::Noise), "{ch:?}");
        assert!(
            ch.iter()
                .any(|c| c.rule.as_deref() == Some(noise::ENTRY_ORDER))
        );
        assert!(!ch.iter().any(|c| c.rule.as_deref() == Some(noise::TIMES)));
        let ch = entry_changes(&a, &b, true);
        assert!(ch.iter().any(|c| c.rule.as_deref() == Some(noise::TIMES)));
        let c = content(vec![mk("Files/a", 3, 0), mk("Files/b", 2, 0)]);
        let ch = entry_changes(&a, &c, false);
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].field.as_deref(), Some("content"));
        assert_eq!(ch[0].class, Class::Unexplained);
    }
}
