//! Compare an image under test (the published image, or IMAGE_B of `diff`) with a
//! reference (the rebuilt image, or IMAGE_A), layer by layer and key by key.
//!
//! Per platform ([`compare_platform`]):
//! 1. Base: the image's leading layers must be exactly the pinned base's layers, by
//!    compressed digest and diff_id (from manifest and config: base layers are never
//!    read). Otherwise the verdict is DIFFERENT, "base mismatch", naming both digests.
//! 2. Pause layers are paired by history (`pair`), then each pair gets a verdict:
//!    IDENTICAL (same digest), SAME_CONTENT (same diff_id), EQUIVALENT (every change is
//!    explained by a `noise` rule) or DIFFERENT. Every pause layer of both images is read
//!    once (they are small), verified against its digest and its config diff_id, and
//!    diffed by `layerdiff` when the digests differ.
//! 3. Every registry edit of the recipe is looked up in the image under test: present,
//!    missing or altered.
//! 4. Config: os, architecture, os.version, user, env, entrypoint, cmd, working dir,
//!    history.
//!
//! `strict` makes every change count (noise included) and compares tar times.
//!
//! Owns: the comparison and its [`Report`]. Does not own: building the reference
//! (`build`, from `crate::rebuild`), fetching images (`image`), rendering (the CLI). The
//! multi-platform side of `diff` (two images, every platform) is [`platforms`].

pub mod layerdiff;
pub mod noise;
pub mod pair;
pub mod pe;
pub mod pins;
pub mod platforms;
pub mod report;

pub use report::{
    Area, BaseCheck, BaseLayer, Change, ChangeKind, Class, ConfigDiff, ConfigReport, EditStatus,
    ImageId, LayerId, LayerReport, PlatformReport, Report, SCHEMA_VERSION, Verdict,
};

use crate::hive::{self, Hive, RegOp, RootHive, regfile::Action};
use crate::image::{self, Descriptor, Digest, ImageConfig, ImageSource, ResolvedImage};
use layerdiff::{Effect, Effects, LayerContent, Target};
use std::collections::BTreeMap;

/// What can stop a comparison (a verdict is never an error).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // The source is printed by the caller's error chain (`{:#}`), not repeated here.
    #[error("{0}")]
    Image(String, #[source] image::Error),
    #[error("{0}")]
    Hive(String, #[source] hive::Error),
    #[error(transparent)]
    Pins(#[from] pins::PinsError),
    #[error("{what}: {reason}")]
    Integrity { what: String, reason: String },
    #[error("{0}")]
    Input(String),
}

/// One side of a comparison: where blobs come from and the resolved image.
pub struct Side<'a> {
    pub source: &'a dyn ImageSource,
    pub image: &'a ResolvedImage,
}

/// The pinned base a published image must start with.
#[derive(Debug, Clone)]
pub struct BaseSpec {
    /// `--base` or `pins`.
    pub source: String,
    /// The base reference or pin name.
    pub reference: String,
    pub manifest: Option<Digest>,
    /// Compressed digest and, when known, diff_id of each base layer.
    pub layers: Vec<(Digest, Option<Digest>)>,
}

/// Options of a comparison.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Count every change (noise too) and compare tar times.
    pub strict: bool,
}

/// What the reference side knows beyond its image.
#[derive(Default)]
pub struct Expectation<'a> {
    /// The pinned base; `None` for `diff` (then the common digest prefix is the base).
    pub base: Option<&'a BaseSpec>,
    /// The recipe's registry edits, in order.
    pub edits: &'a [RegOp],
    /// The base's full hives, when at hand: registry changes are then compared as
    /// effective views; otherwise as the delta hives' own contents.
    pub base_hives: Option<&'a BTreeMap<RootHive, Hive>>,
}

fn diff_ids(c: &ImageConfig, what: &str) -> Result<Vec<Digest>, Error> {
    c.diff_ids().map_err(|e| Error::Image(what.to_string(), e))
}

fn layer_id(img: &ResolvedImage, diff: &[Digest], i: usize) -> Option<LayerId> {
    let d = img.layers().get(i)?;
    Some(LayerId {
        index: i,
        digest: d.digest.clone(),
        diff_id: diff.get(i).cloned(),
        size: d.size,
        media_type: d.media_type.clone(),
    })
}

/// Read a pause layer, checking its diff_id against the config.
fn read_checked(side: &Side, diff: &[Digest], i: usize, what: &str) -> Result<LayerContent, Error> {
    let desc: &Descriptor = side
        .image
        .layers()
        .get(i)
        .ok_or_else(|| Error::Input(format!("{what}: layer {i} does not exist")))?;
    let c = layerdiff::read_layer(side.source, desc)?;
    if let (Some(got), Some(want)) = (c.digests.as_ref(), diff.get(i))
        && &got.diff_id != want
    {
        return Err(Error::Integrity {
            what: format!("{what} layer {i} ({})", desc.digest),
            reason: format!(
                "its uncompressed digest is {} but the config's rootfs.diff_ids[{i}] says {want}; the image is inconsistent",
                got.diff_id
            ),
        });
    }
    Ok(c)
}

/// Compare one platform.
pub fn compare_platform(
    reference: &Side,
    actual: &Side,
    exp: &Expectation,
    opts: &Options,
) -> Result<PlatformReport, Error> {
    let a_img = actual.image;
    let e_img = reference.image;
    let a_diff = diff_ids(&a_img.config, "image under test")?;
    let e_diff = diff_ids(&e_img.config, "reference image")?;
    if a_diff.len() != a_img.layers().len() {
        return Err(Error::Integrity {
            what: format!("manifest {}", a_img.manifest.descriptor.digest),
            reason: format!(
                "{} layers but the config lists {} diff_ids",
                a_img.layers().len(),
                a_diff.len()
            ),
        });
    }
    let mut reasons: Vec<String> = Vec::new();

    // 1. Base.
    let (base_layers, base_check) = match exp.base {
        Some(b) => {
            let check = check_base(b, a_img, &a_diff);
            if let Some(r) = &check.reason {
                reasons.push(r.clone());
            }
            for l in check.layers.iter().filter(|l| l.ok) {
                if let Some(got) = l
                    .published_digest
                    .as_ref()
                    .filter(|g| **g != l.pinned_digest)
                {
                    reasons.push(format!(
                        "base layer {}: paired by diff_id: the image carries it uncompressed ({got}, as a docker-archive does), the pinned base compressed ({})",
                        l.index, l.pinned_digest
                    ));
                }
            }
            (b.layers.len(), Some(check))
        }
        None => {
            let n = a_img
                .layers()
                .iter()
                .zip(e_img.layers())
                .zip(a_diff.iter().zip(&e_diff))
                .take_while(|((a, e), (ad, ed))| a.digest == e.digest && ad == ed)
                .count();
            (n, None)
        }
    };

    // 2. Pair and compare pause layers.
    let a_steps = pair::steps(&a_img.config, a_img.layers().len(), base_layers);
    let e_steps = pair::steps(&e_img.config, e_img.layers().len(), base_layers);
    let pairs = pair::pair(
        e_steps.as_deref(),
        e_img.layers().len(),
        a_steps.as_deref(),
        a_img.layers().len(),
        base_layers,
    );
    let empty_bases = BTreeMap::new();
    let bases = exp.base_hives.unwrap_or(&empty_bases);
    let registry_mode = if exp.base_hives.is_some() {
        "effective"
    } else {
        "delta"
    };
    let mut actual_effects = Effects::default();
    let mut layers = Vec::new();
    let mut cache_a: BTreeMap<usize, (LayerContent, Effects)> = BTreeMap::new();
    let mut cache_e: BTreeMap<usize, (LayerContent, Effects)> = BTreeMap::new();
    let load = |side: &Side,
                diff: &[Digest],
                i: usize,
                what: &str,
                cache: &mut BTreeMap<usize, (LayerContent, Effects)>|
     -> Result<(), Error> {
        if let std::collections::btree_map::Entry::Vacant(slot) = cache.entry(i) {
            let c = read_checked(side, diff, i, what)?;
            let eff = layerdiff::layer_effects(&c, bases)?;
            slot.insert((c, eff));
        }
        Ok(())
    };
    for p in &pairs {
        if let Some(i) = p.actual {
            load(actual, &a_diff, i, "image under test", &mut cache_a)?;
        }
        if let Some(i) = p.expected {
            load(reference, &e_diff, i, "reference image", &mut cache_e)?;
        }
    }
    // Layers no pair names (history inconsistent with pairing): none by construction,
    // but fold every pause layer of the image under test for the edit check.
    for i in base_layers..a_img.layers().len() {
        load(actual, &a_diff, i, "image under test", &mut cache_a)?;
        if let Some((_, eff)) = cache_a.get(&i) {
            actual_effects.extend(eff);
        }
    }
    let empty = (LayerContent::default(), Effects::default());
    for p in &pairs {
        let (ec, ee) = p.expected.and_then(|i| cache_e.get(&i)).unwrap_or(&empty);
        let (ac, ae) = p.actual.and_then(|i| cache_a.get(&i)).unwrap_or(&empty);
        let lr = compare_pair(
            p,
            layer_id(e_img, &e_diff, p.expected.unwrap_or(usize::MAX)),
            layer_id(a_img, &a_diff, p.actual.unwrap_or(usize::MAX)),
            (ec, ee),
            (ac, ae),
            bases,
            opts,
        );
        if lr.verdict == Verdict::Different {
            reasons.push(format!("layer {}: {}", describe_pair(&lr), lr.reason));
        }
        layers.push(lr);
    }

    // 3. Recipe edits.
    let recipe_edits: Vec<EditStatus> = exp
        .edits
        .iter()
        .map(|op| edit_status(op, &actual_effects, exp.base_hives))
        .collect();
    for e in &recipe_edits {
        if e.status != "present" {
            reasons.push(format!(
                "recipe edit {} {}\\{}{}: {}{}",
                e.action,
                e.hive,
                e.path,
                e.name
                    .as_deref()
                    .map(|n| format!(" value {n:?}"))
                    .unwrap_or_default(),
                e.status,
                match (&e.expected, &e.actual) {
                    (Some(x), Some(y)) => format!(" (recipe: {x}; image: {y})"),
                    (Some(x), None) => format!(" (recipe: {x})"),
                    _ => String::new(),
                }
            ));
        }
    }

    // 4. Config.
    let config = compare_config(&e_img.config, &a_img.config, opts);
    if config.verdict == Verdict::Different {
        for d in config
            .differences
            .iter()
            .filter(|d| d.significant || opts.strict)
        {
            reasons.push(format!(
                "config {}: expected {}, found {}",
                d.field, d.expected, d.actual
            ));
        }
    }

    let mut noise_list = Vec::new();
    let mut unexplained = Vec::new();
    for l in &layers {
        for c in &l.changes {
            match c.class {
                Class::Noise => noise_list.push(c.clone()),
                Class::Unexplained => unexplained.push(c.clone()),
            }
        }
    }

    let same_manifest = a_img.manifest.descriptor.digest == e_img.manifest.descriptor.digest;
    let mut verdict = if same_manifest {
        Verdict::Identical
    } else {
        layers
            .iter()
            .map(|l| l.verdict)
            .chain([config.verdict])
            .max()
            .unwrap_or(Verdict::Identical)
    };
    if base_check.as_ref().is_some_and(|b| !b.ok)
        || recipe_edits.iter().any(|e| e.status != "present")
    {
        verdict = Verdict::Different;
    }
    if verdict != Verdict::Different && !same_manifest && verdict == Verdict::Identical {
        // Same layers and config digests but other manifest bytes.
        verdict = Verdict::SameContent;
        reasons.push("manifest bytes differ; layers and config are identical".into());
    }
    if opts.strict && verdict == Verdict::Different && !noise_list.is_empty() {
        reasons.push(format!(
            "--strict: {} change(s) the noise rules explain count as differences",
            noise_list.len()
        ));
    }

    Ok(PlatformReport {
        platform: a_img.config.platform().to_string(),
        os_version: a_img.config.os_version().map(str::to_string),
        published_manifest: a_img.manifest.descriptor.digest.clone(),
        rebuilt_manifest: Some(e_img.manifest.descriptor.digest.clone()),
        verdict,
        reasons,
        base: base_check,
        registry_mode: registry_mode.to_string(),
        layers,
        config,
        recipe_edits,
        noise: noise_list,
        unexplained,
    })
}

fn describe_pair(l: &LayerReport) -> String {
    let side = |x: &Option<LayerId>| {
        x.as_ref()
            .map_or_else(|| "-".to_string(), |l| l.index.to_string())
    };
    let mut s = format!(
        "published #{} / rebuilt #{}",
        side(&l.published),
        side(&l.rebuilt)
    );
    if let Some(st) = &l.step {
        s.push_str(&format!(" ({st})"));
    }
    s
}

/// The published image's leading layers against the pin.
pub fn check_base(b: &BaseSpec, img: &ResolvedImage, diff: &[Digest]) -> BaseCheck {
    let mut layers = Vec::new();
    let mut first_bad: Option<String> = None;
    for (i, (pd, pdi)) in b.layers.iter().enumerate() {
        let got = img.layers().get(i).map(|d| d.digest.clone());
        let got_diff = diff.get(i).cloned();
        // A layer stored uncompressed (a docker-archive's) is named by its content: its
        // digest is its diff_id. It is the pinned base layer when that is the pin's
        // diff_id, whatever compression the base was published with.
        let uncompressed = img.layers().get(i).is_some_and(|d| {
            !crate::image::model::is_gzip(&d.media_type)
                && !crate::image::model::is_zstd(&d.media_type)
                && !d.is_foreign()
        }) && got.is_some()
            && got == got_diff;
        let by_diff_id = uncompressed && pdi.is_some() && got_diff.as_ref() == pdi.as_ref();
        let ok = by_diff_id
            || (got.as_ref() == Some(pd)
                && pdi.as_ref().is_none_or(|x| got_diff.as_ref() == Some(x)));
        if !ok && first_bad.is_none() {
            first_bad = Some(match (&got, got.as_ref() == Some(pd)) {
                (None, _) => format!(
                    "base mismatch: the image has only {} layer(s); pinned base layer {i} is {pd}",
                    img.layers().len()
                ),
                (Some(g), false) => format!(
                    "base mismatch: layer {i} is {g}, the pinned base ({}) has {pd}",
                    b.reference
                ),
                (Some(_), true) => format!(
                    "base mismatch: layer {i} diff_id is {}, the pinned base ({}) has {}",
                    got_diff
                        .as_ref()
                        .map_or_else(|| "(none)".into(), |d| d.to_string()),
                    b.reference,
                    pdi.as_ref()
                        .map_or_else(|| "(none)".into(), |d| d.to_string())
                ),
            });
        }
        layers.push(BaseLayer {
            index: i,
            pinned_digest: pd.clone(),
            pinned_diff_id: pdi.clone(),
            published_digest: got,
            published_diff_id: got_diff,
            ok,
        });
    }
    BaseCheck {
        source: b.source.clone(),
        reference: b.reference.clone(),
        manifest: b.manifest.clone(),
        ok: first_bad.is_none(),
        layers,
        reason: first_bad,
    }
}

/// Top-level directory entries every Windows layer has; never a change by themselves.
fn structural(c: &Change) -> bool {
    c.area == Area::File
        && c.change != ChangeKind::Altered
        && matches!(c.path.as_str(), "Files" | "Hives")
}

/// Delta hive files are compared by meaning (registry changes), not as files.
fn hive_file(c: &Change) -> bool {
    c.area == Area::File
        && c.change != ChangeKind::Altered
        && c.path
            .strip_prefix("Hives/")
            .is_some_and(|n| layerdiff::hive_of(n).is_some())
}

fn compare_pair(
    p: &pair::Pair,
    rebuilt: Option<LayerId>,
    published: Option<LayerId>,
    (ec, ee): (&LayerContent, &Effects),
    (ac, ae): (&LayerContent, &Effects),
    bases: &BTreeMap<RootHive, Hive>,
    opts: &Options,
) -> LayerReport {
    let mk = |verdict, reason: String, changes| LayerReport {
        step: p.step.clone(),
        published: published.clone(),
        rebuilt: rebuilt.clone(),
        verdict,
        reason,
        changes,
    };
    if let (Some(r), Some(u)) = (&rebuilt, &published) {
        if r.digest == u.digest {
            return mk(Verdict::Identical, "same digest".into(), Vec::new());
        }
        if r.diff_id.is_some() && r.diff_id == u.diff_id {
            let v = if opts.strict {
                Verdict::Different
            } else {
                Verdict::SameContent
            };
            return mk(
                v,
                format!(
                    "same diff_id, other compressed digest ({})",
                    noise::COMPRESSION
                ),
                Vec::new(),
            );
        }
    }
    let mut changes: Vec<Change> = layerdiff::entry_changes(ec, ac, opts.strict)
        .into_iter()
        .filter(|c| !structural(c) && !hive_file(c))
        .collect();
    pe::refine(&mut changes, ec, ac);
    let reg = layerdiff::registry_changes(ee, ae, bases);
    // Delta hive bytes that differ while their meaning is equal: an encoding difference.
    for (name, bytes) in &ac.hives {
        if let Some(other) = ec.hives.get(name)
            && other != bytes
            && reg.is_empty()
            && opts.strict
        {
            changes.push(Change {
                area: Area::Registry,
                change: ChangeKind::Altered,
                path: format!("Hives/{name}"),
                field: Some("bytes".into()),
                expected: Some(Digest::of(other).to_string()),
                actual: Some(Digest::of(bytes).to_string()),
                class: Class::Noise,
                rule: Some(noise::HIVE_ENCODING.into()),
            });
        }
    }
    changes.extend(reg);
    changes.sort();
    let unexplained = changes
        .iter()
        .filter(|c| c.class == Class::Unexplained)
        .count();
    let noisy = changes.len() - unexplained;
    let one_sided = rebuilt.is_none() || published.is_none();
    if one_sided {
        let which = if published.is_some() {
            "extra layer in the published image"
        } else {
            "layer missing from the published image"
        };
        return if unexplained == 0 && p.metadata && !opts.strict {
            let mut changes = changes;
            changes.push(Change {
                area: Area::Layer,
                change: if published.is_some() {
                    ChangeKind::Extra
                } else {
                    ChangeKind::Missing
                },
                path: format!(
                    "layer {}",
                    published
                        .as_ref()
                        .or(rebuilt.as_ref())
                        .map_or(0, |l| l.index)
                ),
                field: p.step.clone(),
                expected: None,
                actual: None,
                class: Class::Noise,
                rule: Some(noise::METADATA_LAYER.into()),
            });
            mk(
                Verdict::Equivalent,
                format!(
                    "{which} for a metadata step, with no unexplained change ({})",
                    noise::METADATA_LAYER
                ),
                changes,
            )
        } else {
            mk(
                Verdict::Different,
                format!(
                    "{which}{}: {unexplained} unexplained change(s)",
                    if p.metadata {
                        ""
                    } else {
                        " (not a metadata step)"
                    }
                ),
                changes,
            )
        };
    }
    if unexplained > 0 {
        let first = most_telling(&changes);
        return mk(
            Verdict::Different,
            format!("{unexplained} unexplained change(s), first: {first}"),
            changes,
        );
    }
    if opts.strict && noisy > 0 {
        return mk(
            Verdict::Different,
            format!("--strict: {noisy} change(s) explained only as noise"),
            changes,
        );
    }
    mk(
        Verdict::Equivalent,
        if noisy > 0 {
            format!("same meaning; {noisy} change(s) explained by noise rules")
        } else {
            "same entries and registry changes; tar bytes differ".into()
        },
        changes,
    )
}

/// The unexplained changes that say most, up to three, `; `-separated: refused entries
/// and refused content first, then other entries and values, parent directories and
/// created keys (which only hold the others) last.
fn most_telling(changes: &[Change]) -> String {
    let rank = |c: &Change| {
        let a = c.actual.as_deref().unwrap_or("");
        if c.field.as_deref() == Some("name") {
            0
        } else if a.contains("not noise:") {
            1
        } else if a == "dir" || a == "key created" {
            3
        } else {
            2
        }
    };
    let mut u: Vec<&Change> = changes
        .iter()
        .filter(|c| c.class == Class::Unexplained)
        .collect();
    u.sort_by_key(|c| rank(c));
    u.iter()
        .take(3)
        .map(|c| render_change(c))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One line for a change.
pub fn render_change(c: &Change) -> String {
    let what = match c.change {
        ChangeKind::Extra => "extra",
        ChangeKind::Missing => "missing",
        ChangeKind::Altered => "altered",
    };
    let mut s = format!("{what} {}", c.path);
    if let Some(f) = &c.field {
        s.push_str(&format!(" [{f}]"));
    }
    match (&c.expected, &c.actual) {
        (Some(e), Some(a)) => s.push_str(&format!(": expected {e}, found {a}")),
        (None, Some(a)) => s.push_str(&format!(": {a}")),
        (Some(e), None) => s.push_str(&format!(": expected {e}")),
        (None, None) => {}
    }
    s
}

fn hive_name(h: RootHive) -> String {
    format!("{h:?}")
}

/// Look up one recipe edit in the folded effects of the image under test.
fn edit_status(op: &RegOp, eff: &Effects, bases: Option<&BTreeMap<RootHive, Hive>>) -> EditStatus {
    let key_t = Target {
        hive: op.hive,
        path: op.path.clone(),
        value: None,
    };
    let (action, name, expected, status, actual) = match &op.action {
        Action::SetValue { name, kind, data } => {
            let t = Target {
                value: Some(name.clone()),
                ..key_t.clone()
            };
            let want = layerdiff::render_value(*kind, data);
            match eff.get(&t) {
                Some(Effect::ValueSet { kind: k, data: d }) if k == kind && d == data => {
                    ("setValue", Some(name.clone()), Some(want), "present", None)
                }
                Some(other) => (
                    "setValue",
                    Some(name.clone()),
                    Some(want),
                    "altered",
                    Some(layerdiff::render_effect(other)),
                ),
                None => {
                    // Setting a value to what the base already holds records nothing.
                    let base_v = bases
                        .and_then(|b| b.get(&op.hive))
                        .and_then(|h| h.find(&op.path))
                        .and_then(|k| k.value(name));
                    let same = base_v.is_some_and(|v| v.kind == *kind && &v.data == data);
                    if same && !eff.deleted(&t) {
                        ("setValue", Some(name.clone()), Some(want), "present", None)
                    } else if let Some(v) = base_v.filter(|_| !eff.deleted(&t)) {
                        (
                            "setValue",
                            Some(name.clone()),
                            Some(want),
                            "altered",
                            Some(format!(
                                "{} (unchanged from the base)",
                                layerdiff::render_value(v.kind, &v.data)
                            )),
                        )
                    } else {
                        let actual = if eff.deleted(&t) {
                            Some("key deleted".into())
                        } else {
                            None
                        };
                        (
                            "setValue",
                            Some(name.clone()),
                            Some(want),
                            "missing",
                            actual,
                        )
                    }
                }
            }
        }
        Action::DeleteValue { name } => {
            let t = Target {
                value: Some(name.clone()),
                ..key_t.clone()
            };
            let ok = matches!(eff.get(&t), Some(Effect::ValueDeleted)) || eff.deleted(&t);
            (
                "deleteValue",
                Some(name.clone()),
                None,
                if ok { "present" } else { "missing" },
                eff.get(&t).filter(|_| !ok).map(layerdiff::render_effect),
            )
        }
        Action::DeleteKey => {
            let ok = eff.deleted(&key_t);
            (
                "deleteKey",
                None,
                Some("key deleted".into()),
                if ok { "present" } else { "missing" },
                eff.get(&key_t)
                    .filter(|_| !ok)
                    .map(layerdiff::render_effect),
            )
        }
        Action::CreateKey => {
            let in_base = bases
                .and_then(|b| b.get(&op.hive))
                .is_some_and(|h| h.find(&op.path).is_some());
            let ok = !eff.deleted(&key_t) && (eff.touches(&key_t) || in_base);
            (
                "createKey",
                None,
                None,
                if ok { "present" } else { "missing" },
                None,
            )
        }
    };
    EditStatus {
        hive: hive_name(op.hive),
        path: op.path.clone(),
        action: action.into(),
        name,
        expected,
        actual,
        status: status.into(),
    }
}

fn history_steps(c: &ImageConfig) -> Vec<String> {
    c.history()
        .iter()
        .map(|h| {
            let (ins, text) = pair::normalise(h.created_by().as_deref().unwrap_or(""));
            if ins == "COPY" || ins == "ADD" {
                ins
            } else {
                text
            }
        })
        .collect()
}

/// Compare the config fields that matter.
pub fn compare_config(e: &ImageConfig, a: &ImageConfig, opts: &Options) -> ConfigReport {
    use serde_json::json;
    let mut diffs = Vec::new();
    let mut field =
        |name: &str, ev: serde_json::Value, av: serde_json::Value, significant: bool| {
            if ev != av {
                diffs.push(ConfigDiff {
                    field: name.into(),
                    expected: ev,
                    actual: av,
                    significant,
                });
            }
        };
    let cfg = |c: &ImageConfig| c.parsed.config().clone().unwrap_or_default();
    let (ec, ac) = (cfg(e), cfg(a));
    field("os", json!(e.os()), json!(a.os()), true);
    field(
        "architecture",
        json!(e.architecture()),
        json!(a.architecture()),
        true,
    );
    field(
        "os.version",
        json!(e.os_version()),
        json!(a.os_version()),
        true,
    );
    field("user", json!(ec.user()), json!(ac.user()), true);
    field("env", json!(ec.env()), json!(ac.env()), true);
    field(
        "entrypoint",
        json!(ec.entrypoint()),
        json!(ac.entrypoint()),
        true,
    );
    field("cmd", json!(ec.cmd()), json!(ac.cmd()), true);
    field(
        "workingDir",
        json!(ec.working_dir()),
        json!(ac.working_dir()),
        true,
    );
    let (eh, ah) = (history_steps(e), history_steps(a));
    let hist_same = eh.len() == ah.len()
        && eh.iter().zip(&ah).all(|(x, y)| {
            let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
            squash(x).eq_ignore_ascii_case(&squash(y))
        });
    if !hist_same {
        field("history", json!(eh), json!(ah), true);
    }
    field(
        "created",
        json!(e.parsed.created()),
        json!(a.parsed.created()),
        false,
    );
    let verdict = if e.descriptor.digest == a.descriptor.digest {
        Verdict::Identical
    } else if diffs.iter().any(|d| d.significant) || (opts.strict && !diffs.is_empty()) {
        Verdict::Different
    } else if diffs.is_empty() {
        Verdict::SameContent
    } else {
        Verdict::Equivalent
    };
    ConfigReport {
        published_digest: a.descriptor.digest.clone(),
        rebuilt_digest: Some(e.descriptor.digest.clone()),
        verdict,
        differences: diffs,
    }
}

/// Wrap platform reports into a [`Report`].
pub fn report(
    kind: &str,
    published: ImageId,
    rebuilt: Option<ImageId>,
    opts: &Options,
    platforms: Vec<PlatformReport>,
) -> Report {
    let verdict = platforms
        .iter()
        .map(|p| p.verdict)
        .max()
        .unwrap_or(Verdict::Different);
    Report {
        schema_version: SCHEMA_VERSION.into(),
        kind: kind.into(),
        tool_version: crate::VERSION.into(),
        published,
        rebuilt,
        strict: opts.strict,
        noise_rules_version: noise::RULES_VERSION.into(),
        verdict,
        platforms,
    }
}
