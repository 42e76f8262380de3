//! Recipe + pinned base image → the pause-base image: one Windows layer per COPY/RUN step,
//! registry edits as delta hives, a config and a manifest, byte-for-byte the same on every
//! run. Full rules (which bytes depend on what): docs/build.md.
//!
//! Owns: the plan (`plan`: recipe steps → files and registry operations), the base view
//! (`base`: the base layers read once, verified, copied to the sink, their SOFTWARE and
//! SYSTEM hives kept), layer assembly (wclayer tar + delta hives, gzip pinned to
//! [`COMPRESSOR`] level [`GZIP_LEVEL`]), config and manifest, and the [`BuildOutput`]
//! record that provenance needs. Does not own transports, formats or rendering.
//!
//! Decisions:
//! - Metadata steps (USER, ENV, WORKDIR, LABEL) give `empty_layer: true` history entries
//!   by default; `metadata_layers` makes each a small layer (`Files` and `Hives`
//!   directories only), as the classic Windows builder does.
//! - The clock is SOURCE_DATE_EPOCH when given, else the base config's `created` (whole
//!   seconds): layer entry times, hive key timestamps, config `created`, history `created`.
//! - Media types follow the base: a Docker schema2 base gives a Docker schema2 image.
//! - Without a base hive (foreign layer, `read_base_layers == false`, or a base layer
//!   without it) the delta builder's documented rule applies (`hive::delta::BaseRule::
//!   AssumeExisting`) and `sc delete` is not checked; the output says so.
//! - An index base without a platform selector builds every image of the index into an
//!   index of the same family ([`build_all`]).

pub mod base;
pub mod plan;

use crate::hive::{self, Hive, RegOp, RootHive, delta::BaseRule, regfile::Action};
use crate::image::model::media;
use crate::image::{
    Descriptor, Digest, ImageConfig, ImageRef, ImageSink, ImageSource, Platform, PlatformSelector,
    ResolvedImage, Root, source,
};
use crate::progress::Progress;
use crate::recipe::Recipe;
use crate::wclayer::{self, Entry, LayerItem, PaxTime};
use base64::Engine as _;
use plan::{Planned, RunAction};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;

/// The gzip implementation every layer we write goes through (pinned in Cargo.lock).
pub const COMPRESSOR: &str = "flate2 (zlib-rs backend)";
/// Its compression level (gzip's default).
pub const GZIP_LEVEL: u32 = 6;

/// A gzip writer as the build pins it: header mtime 0, no name, OS byte 255, level 6.
/// Passes writes through and ignores `flush`: a flush would change a gzip stream's bytes.
struct NoFlush<W>(W);

impl<W: Write> Write for NoFlush<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The size of the writes the gzip encoder receives (part of what makes layers reproducible).
const GZIP_INPUT_CHUNK: usize = 1 << 20;

/// Stream a new layer: tar → diff_id hash → gzip → digest hash → an anonymous spool file,
/// then into the sink as a verified blob. Neither the tar nor the gzip stream is held in
/// memory (only the entries' contents, which the recipe already holds).
fn write_new_layer(
    items: Vec<LayerItem>,
    media_type: &str,
    sink: &mut dyn ImageSink,
) -> Result<(Descriptor, Digest, u64)> {
    use crate::image::digest::HashingWriter;
    use std::io::{Seek, SeekFrom};
    let io = |what: &str, e: std::io::Error| Error::Internal(format!("{what}: {e}"));
    let mut spool = tempfile::tempfile().map_err(|e| io("layer spool file", e))?;
    let compressed = HashingWriter::new(std::io::BufWriter::with_capacity(1 << 16, &mut spool));
    // The compressed bytes must depend only on the tar: the compressor sees the tar in
    // fixed 1 MiB writes (one write for a layer below 1 MiB, as the pause layers are), and
    // never a flush, which would make zlib emit a sync marker.
    let gz = NoFlush(gzip_writer(compressed));
    let gz = std::io::BufWriter::with_capacity(GZIP_INPUT_CHUNK, gz);
    let tar = wclayer::write_layer(HashingWriter::new(gz), items)?;
    let (gz, diff_id, tar_len) = tar.finish();
    let NoFlush(gz) = gz.into_inner().map_err(|e| io("gzip", e.into_error()))?;
    let compressed = gz.finish().map_err(|e| io("gzip", e))?;
    let (mut out, digest, size) = compressed.finish();
    out.flush().map_err(|e| io("layer spool file", e))?;
    drop(out);
    spool
        .seek(SeekFrom::Start(0))
        .map_err(|e| io("layer spool file", e))?;
    let expected = Descriptor::new(media_type, digest, size);
    let desc = sink.put_blob(&mut spool, Some(&expected))?;
    Ok((desc, diff_id, tar_len))
}

pub fn gzip_writer<W: Write>(w: W) -> flate2::write::GzEncoder<W> {
    flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(w, flate2::Compression::new(GZIP_LEVEL))
}

/// Build errors. Each says what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Recipe(#[from] crate::recipe::Error),
    #[error("{file}:{line}: {message}")]
    Step {
        file: String,
        line: usize,
        message: String,
    },
    #[error(
        "{file}:{line}: sc.exe delete {name}: the base image has no service {name:?} (no key SYSTEM\\ControlSet001\\Services\\{name}); check the base image or the recipe"
    )]
    ServiceMissing {
        file: String,
        line: usize,
        name: String,
    },
    #[error(transparent)]
    Image(#[from] crate::image::Error),
    #[error("base layer {layer}: its {hive:?} hive cannot be read: {source}")]
    BaseHive {
        layer: usize,
        hive: RootHive,
        #[source]
        source: hive::Error,
    },
    #[error("building a delta hive: {0}")]
    Hive(#[from] hive::Error),
    #[error("writing a layer: {0}")]
    Layer(#[from] wclayer::Error),
    #[error("the base image is {0}, not windows: the pause base is built on a Windows base")]
    NotWindows(String),
    #[error(
        "the base config has no usable `created` time ({0}); set SOURCE_DATE_EPOCH to fix the build's clock"
    )]
    NoClock(String),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// How to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Which image of a multi-platform base (required to pick one of several, unless
    /// [`build_all`] builds them all).
    pub platform: Option<PlatformSelector>,
    /// SOURCE_DATE_EPOCH (the CLI reads the environment; the library never does).
    pub source_date_epoch: Option<i64>,
    /// A small layer for each metadata step instead of an empty_layer history entry.
    pub metadata_layers: bool,
    /// Skip reading (and copying) the base layers: the output references them only.
    pub no_base_layers: bool,
}

/// Is `r` pinned by digest?
pub fn is_pinned(r: &ImageRef) -> bool {
    match r {
        ImageRef::Layout { digest, .. } | ImageRef::Registry { digest, .. } => digest.is_some(),
        ImageRef::Archive { .. } | ImageRef::Dir { .. } => false,
    }
}

/// One base layer as the build saw it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BaseLayer {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    /// From the base config's rootfs.diff_ids.
    pub diff_id: Option<Digest>,
    pub foreign: bool,
    /// Read, verified (digest + diff_id) and stored in the output.
    pub read: bool,
    /// Hives found in it (`SOFTWARE`, `SYSTEM`, `Software_Delta`, ...).
    pub hives: Vec<String>,
}

/// The base image, as pinned and resolved.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BaseInfo {
    pub reference: String,
    pub pinned: bool,
    /// The root the reference resolved to (index or manifest).
    pub root: Descriptor,
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub platform: Platform,
    pub created: Option<String>,
    pub layers: Vec<BaseLayer>,
}

/// How each key's layer semantics were decided.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BaseView {
    /// `base-layers` when both hives came from the base layers, `assume-existing` when
    /// neither did, `mixed` otherwise.
    pub rule: String,
    pub hives: Vec<HiveView>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HiveView {
    pub hive: RootHive,
    pub rule: BaseRule,
}

/// The build clock.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Clock {
    /// `SOURCE_DATE_EPOCH` or `base-created`.
    pub source: String,
    pub epoch: i64,
    pub created: String,
}

/// One registry edit as applied to a delta hive.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegEdit {
    pub step_line: usize,
    pub hive: RootHive,
    pub delta_file: String,
    pub key: String,
    /// `setValue`, `deleteValue`, `createKey`, `deleteKey`.
    pub op: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_type: Option<String>,
    /// Raw data, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_hex: Option<String>,
    /// Readable rendering when the type has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The edit itself, typed: what compare looks up and attest records (the fields
    /// above are its rendering for the report).
    #[serde(skip)]
    pub operation: RegOp,
}

/// A layer the build wrote.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewLayer {
    pub descriptor: Descriptor,
    pub diff_id: Digest,
    pub uncompressed_size: u64,
    pub created_by: String,
    /// Tar entry names, in order.
    pub entries: Vec<String>,
    /// Delta hives in it, with their digests.
    pub delta_hives: Vec<(String, Digest)>,
}

/// One recipe step's outcome.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepOutput {
    pub line: usize,
    pub instruction: String,
    pub created_by: String,
    pub empty_layer: bool,
    /// Index into [`BuildOutput::layers`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
}

/// The recipe as built: `digest` is `Recipe::steps_digest` (what it does, whatever form it
/// came in); `files` every input file the recipe read, with its digest.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipeInfo {
    pub name: String,
    pub digest: Digest,
    pub files: Vec<(String, Digest)>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompressorInfo {
    pub name: String,
    pub level: u32,
}

/// Everything one platform's build did: what provenance and comparison need.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildOutput {
    pub base: BaseInfo,
    pub base_view: BaseView,
    pub recipe: RecipeInfo,
    pub clock: Clock,
    pub metadata_layers: bool,
    pub steps: Vec<StepOutput>,
    pub layers: Vec<NewLayer>,
    pub registry_edits: Vec<RegEdit>,
    /// Keys deleted (tombstoned); JSON `HIVE\path`.
    pub deleted_keys: Vec<hive::DeletedKey>,
    pub compressor: CompressorInfo,
    pub config: Descriptor,
    /// The output manifest, with the platform set.
    pub manifest: Descriptor,
    /// The base's full hives as read from the base layers, before any recipe edit
    /// (empty when not read): what `compare` applies delta hives to.
    #[serde(skip)]
    pub base_hives: BTreeMap<RootHive, Hive>,
}

/// A build of one or several platforms.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildSet {
    /// What the sink should record: the manifest (one build) or the new index.
    pub root: Descriptor,
    pub builds: Vec<BuildOutput>,
}

/// Build for every image of the base (an index without `opts.platform`: each image entry,
/// into a new index of the same family) or for one (`opts.platform`, or a manifest base).
/// The caller records `BuildSet::root` in the sink (`add_manifest`).
pub fn build_all(
    source: &dyn ImageSource,
    base_ref: &ImageRef,
    recipe: &Recipe,
    opts: &BuildOptions,
    sink: &mut dyn ImageSink,
    progress: &Progress,
) -> Result<BuildSet> {
    let root = source.root()?;
    let index = match (&root, &opts.platform) {
        (Root::Index(i), None) => i,
        _ => {
            let b = build(source, base_ref, recipe, opts, sink, progress)?;
            return Ok(BuildSet {
                root: b.manifest.clone(),
                builds: vec![b],
            });
        }
    };
    let entries = source::image_entries(index);
    let mut builds = Vec::new();
    let mut manifests = Vec::new();
    for e in entries {
        let p = e.platform.clone().ok_or_else(|| {
            crate::image::Error::malformed(
                format!("index {}", index.descriptor.digest),
                format!(
                    "entry {} has no platform; build it with --platform",
                    e.digest
                ),
            )
        })?;
        let sel = PlatformSelector {
            os: p.os.clone(),
            architecture: p.architecture.clone(),
            variant: p.variant.clone(),
            os_version_prefix: p.os_version.clone(),
        };
        let o = BuildOptions {
            platform: Some(sel),
            ..opts.clone()
        };
        let b = build(source, base_ref, recipe, &o, sink, progress)?;
        manifests.push(b.manifest.clone());
        builds.push(b);
    }
    let docker = index.descriptor.media_type == media::DOCKER_LIST;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct IndexDoc<'a> {
        schema_version: u32,
        media_type: &'a str,
        manifests: &'a [Descriptor],
    }
    let mt = if docker {
        media::DOCKER_LIST
    } else {
        media::OCI_INDEX
    };
    let raw = serde_json::to_vec(&IndexDoc {
        schema_version: 2,
        media_type: mt,
        manifests: &manifests,
    })
    .map_err(|e| Error::Internal(e.to_string()))?;
    let root = sink.put_bytes(mt, &raw)?;
    Ok(BuildSet { root, builds })
}

/// Build one platform's image into `sink` (blobs only; the caller records the manifest).
pub fn build(
    source: &dyn ImageSource,
    base_ref: &ImageRef,
    recipe: &Recipe,
    opts: &BuildOptions,
    sink: &mut dyn ImageSink,
    progress: &Progress,
) -> Result<BuildOutput> {
    // 1. Everything that can fail without the base layers, before writing anything.
    let steps = plan::plan(recipe)?;
    let root_desc = source.root()?.descriptor().clone();
    let img = source::resolve(source, opts.platform.as_ref())?;
    let cfg = &img.config;
    if cfg.os() != "windows" {
        return Err(Error::NotWindows(cfg.platform().to_string()));
    }
    let base_created = cfg.parsed.created().clone();
    let clock = clock_of(opts, base_created.as_deref())?;
    let diff_ids = base_diff_ids(&img)?;

    // 2. The base layers: one pass each, into the sink, hives kept.
    let BaseRead {
        mut view,
        layers: base_layers,
        view_info: base_view,
    } = read_base(source, sink, &img, &diff_ids, opts, progress)?;
    let base_hives = view.clone();

    // 3. The new layers, one per recipe step that makes one.
    let docker = img.manifest.descriptor.media_type == media::DOCKER_MANIFEST;
    let NewLayers {
        layers,
        steps: out_steps,
        edits,
        deleted_keys,
        meta,
    } = new_layers(&steps, recipe, &mut view, &clock, docker, opts, sink)?;

    // 4. Config: the base's, extended.
    let config = write_config(
        cfg, &clock, &meta, &out_steps, &diff_ids, &layers, docker, sink,
    )?;

    // 5. Manifest.
    let mut manifest = write_manifest(&img, &config, &layers, docker, sink)?;
    let platform = img
        .selected
        .as_ref()
        .and_then(|s| s.platform.clone())
        .unwrap_or_else(|| cfg.platform());
    manifest.platform = Some(platform.clone());

    Ok(BuildOutput {
        base: BaseInfo {
            reference: base_ref.to_string(),
            pinned: is_pinned(base_ref),
            root: root_desc,
            manifest: img.manifest.descriptor.clone(),
            config: cfg.descriptor.clone(),
            platform,
            created: base_created,
            layers: base_layers,
        },
        base_hives,
        base_view,
        recipe: RecipeInfo {
            name: recipe.name.clone(),
            digest: recipe.steps_digest(),
            files: recipe
                .files
                .iter()
                .map(|f| (f.path.clone(), f.digest.clone()))
                .collect(),
        },
        clock,
        metadata_layers: opts.metadata_layers,
        steps: out_steps,
        layers,
        registry_edits: edits,
        deleted_keys,
        compressor: CompressorInfo {
            name: COMPRESSOR.into(),
            level: GZIP_LEVEL,
        },
        config,
        manifest,
    })
}

/// The build clock: SOURCE_DATE_EPOCH, else the base config's `created`.
fn clock_of(opts: &BuildOptions, base_created: Option<&str>) -> Result<Clock> {
    let clock = match opts.source_date_epoch {
        Some(e) => Clock {
            source: "SOURCE_DATE_EPOCH".into(),
            epoch: e,
            created: crate::time::rfc3339(e),
        },
        None => {
            let c = base_created.ok_or_else(|| Error::NoClock("missing".into()))?;
            let e =
                crate::time::parse_rfc3339(c).ok_or_else(|| Error::NoClock(format!("{c:?}")))?;
            Clock {
                source: "base-created".into(),
                epoch: e,
                created: crate::time::rfc3339(e),
            }
        }
    };
    if clock.epoch < 0 {
        return Err(Error::NoClock(format!("{} is before 1970", clock.epoch)));
    }
    Ok(clock)
}

/// The base config's diff_ids, one per base layer.
fn base_diff_ids(img: &ResolvedImage) -> Result<Vec<Digest>> {
    let cfg = &img.config;
    let diff_ids = cfg.diff_ids()?;
    if diff_ids.len() != img.manifest.layers.len() {
        return Err(crate::image::Error::malformed(
            format!("base config {}", cfg.descriptor.digest),
            format!(
                "{} diff_ids for {} layers",
                diff_ids.len(),
                img.manifest.layers.len()
            ),
        )
        .into());
    }
    Ok(diff_ids)
}

/// What reading the base layers gave.
struct BaseRead {
    view: BTreeMap<RootHive, Hive>,
    layers: Vec<BaseLayer>,
    view_info: BaseView,
}

/// Phase 2: each non-foreign base layer read once (verified, copied into `sink`), its
/// SOFTWARE and SYSTEM hives kept as the view registry edits start from.
fn read_base(
    source: &dyn ImageSource,
    sink: &mut dyn ImageSink,
    img: &ResolvedImage,
    diff_ids: &[Digest],
    opts: &BuildOptions,
    progress: &Progress,
) -> Result<BaseRead> {
    // 2. The base layers: one pass each, into the sink, hives kept.
    let mut view: BTreeMap<RootHive, Hive> = BTreeMap::new();
    let mut notes = Vec::new();
    let mut base_layers = Vec::new();
    for (i, l) in img.manifest.layers.iter().enumerate() {
        let mut bl = BaseLayer {
            media_type: l.media_type.clone(),
            digest: l.digest.clone(),
            size: l.size,
            diff_id: diff_ids.get(i).cloned(),
            foreign: l.is_foreign(),
            read: false,
            hives: Vec::new(),
        };
        if l.is_foreign() {
            notes.push(format!(
                "base layer {i} ({}) is foreign (non-distributable): referenced, not downloaded; its hives are not read",
                l.digest
            ));
        } else if opts.no_base_layers {
            // Noted once below.
        } else {
            let (_, found) = base::read_layer(source, sink, i, l, diff_ids.get(i), progress)?;
            for (h, _) in &found.full {
                bl.hives.push(format!("{h:?}").to_uppercase());
            }
            for (h, _) in &found.delta {
                bl.hives.push(h.delta_file_name().to_string());
            }
            base::apply(&mut view, found, i)?;
            bl.read = true;
        }
        base_layers.push(bl);
    }
    if opts.no_base_layers {
        notes.push(
            "--no-base-layers: base layers were not read nor copied; the output references them"
                .into(),
        );
    }
    let mut hives_view = Vec::new();
    for h in [RootHive::Software, RootHive::System] {
        let rule = hive::delta::base_rule(view.get(&h));
        if rule == BaseRule::AssumeExisting {
            notes.push(format!(
                "no base {} hive at hand: every key an edit names is assumed to exist in the base (layer byte 0x80 on the path, deletes become tombstones){}",
                format!("{h:?}").to_uppercase(),
                if h == RootHive::System {
                    "; sc.exe delete is not checked against the base"
                } else {
                    ""
                }
            ));
        }
        hives_view.push(HiveView { hive: h, rule });
    }
    let read_count = hives_view
        .iter()
        .filter(|v| v.rule == BaseRule::FromBase)
        .count();
    let base_view = BaseView {
        rule: match read_count {
            2 => "base-layers",
            0 => "assume-existing",
            _ => "mixed",
        }
        .into(),
        hives: hives_view,
        notes,
    };

    Ok(BaseRead {
        view,
        layers: base_layers,
        view_info: base_view,
    })
}

/// The config fields metadata steps set.
#[derive(Default)]
struct Meta {
    user: Option<String>,
    env: Vec<(String, String)>,
    workdir: Option<String>,
    labels: Vec<(String, String)>,
    cmd: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    /// The last CMD/ENTRYPOINT's form decides `ArgsEscaped` (moby: true for shell form
    /// on Windows, omitted when false).
    args_escaped: Option<bool>,
}

/// What the recipe steps made.
struct NewLayers {
    layers: Vec<NewLayer>,
    steps: Vec<StepOutput>,
    edits: Vec<RegEdit>,
    deleted_keys: Vec<hive::DeletedKey>,
    meta: Meta,
}

/// Phase 3: one layer per COPY / RUN (and per metadata step with `metadata_layers`),
/// registry edits as delta hives against `view`, which each RUN advances.
#[allow(clippy::too_many_arguments)]
fn new_layers(
    steps: &[plan::PlannedStep],
    recipe: &Recipe,
    view: &mut BTreeMap<RootHive, Hive>,
    clock: &Clock,
    docker: bool,
    opts: &BuildOptions,
    sink: &mut dyn ImageSink,
) -> Result<NewLayers> {
    // 3. The new layers.
    let t = PaxTime::from_secs(clock.epoch);
    let ft = crate::time::filetime(clock.epoch);
    let layer_mt = if docker {
        media::DOCKER_LAYER_GZIP
    } else {
        media::OCI_LAYER_GZIP
    };
    let mut layers = Vec::new();
    let mut out_steps = Vec::new();
    let mut edits = Vec::new();
    let mut deleted_keys = Vec::new();
    let mut meta = Meta::default();
    let users_sd = base64::engine::general_purpose::STANDARD
        .decode(wclayer::GGCR_USERS_SD_B64)
        .map_err(|e| Error::Internal(e.to_string()))?;
    for step in steps {
        let mut items: Option<Vec<LayerItem>> = None;
        let mut delta_hives = Vec::new();
        match &step.planned {
            Planned::Copy { files, dirs } => {
                let mut v = vec![
                    LayerItem::dir(Entry::dir("Files", t)),
                    LayerItem::dir(Entry::dir("Hives", t)),
                ];
                for d in dirs {
                    v.push(LayerItem::dir(Entry::dir(d, t).with_sd(users_sd.clone())));
                }
                for (p, b) in files {
                    v.push(LayerItem::file(
                        Entry::file(p, b.len() as u64, t).with_sd(users_sd.clone()),
                        b.clone(),
                    ));
                }
                items = Some(v);
            }
            Planned::Run { actions } => {
                let mut per_hive: BTreeMap<RootHive, Vec<RegOp>> = BTreeMap::new();
                let mut expanded: Vec<RunAction> = Vec::new();
                for a in actions {
                    if let RunAction::DeleteAllValues { hive: h, path } = a {
                        let Some(base) = view.get(h) else {
                            return Err(Error::Step {
                                file: plan::recipe_file(recipe),
                                line: step.line,
                                message: format!(
                                    "reg delete {path} /va: which values exist is known only from the base {h:?} hive, which is not at hand"
                                ),
                            });
                        };
                        if let Some(k) = base.find(path) {
                            for v in &k.values {
                                expanded.push(RunAction::Reg(RegOp {
                                    hive: *h,
                                    path: path.clone(),
                                    action: Action::DeleteValue {
                                        name: v.name.clone(),
                                    },
                                }));
                            }
                        }
                        continue;
                    }
                    expanded.push(a.clone());
                }
                for a in &expanded {
                    let op = match a {
                        RunAction::Reg(op) => op.clone(),
                        RunAction::DeleteService { name } => {
                            let path = format!("ControlSet001\\Services\\{name}");
                            let path = match view.get(&RootHive::System) {
                                Some(sys) => match sys.find(&path) {
                                    Some(k) => format!("ControlSet001\\Services\\{}", k.name),
                                    None => {
                                        return Err(Error::ServiceMissing {
                                            file: plan::recipe_file(recipe),
                                            line: step.line,
                                            name: name.clone(),
                                        });
                                    }
                                },
                                None => path,
                            };
                            RegOp {
                                hive: RootHive::System,
                                path,
                                action: Action::DeleteKey,
                            }
                        }
                        RunAction::DeleteAllValues { .. } => continue,
                    };
                    edits.push(edit(step.line, &op));
                    per_hive.entry(op.hive).or_default().push(op);
                }
                let mut v = vec![
                    LayerItem::dir(Entry::dir("Files", t)),
                    LayerItem::dir(Entry::dir("Hives", t)),
                ];
                for (h, ops) in &per_hive {
                    let base = view.get(h);
                    let delta = hive::delta::build(base, ops, ft)?;
                    for (p, k) in delta.walk() {
                        if k.layer.semantics == hive::LayerSemantics::Tombstone {
                            deleted_keys.push(hive::DeletedKey {
                                hive: *h,
                                path: p.to_string(),
                            });
                        }
                    }
                    let bytes = hive::write(&delta)?;
                    let name = h.delta_file_name();
                    delta_hives.push((name.to_string(), Digest::of(&bytes)));
                    v.push(LayerItem::file(
                        Entry::file(&format!("Hives/{name}"), bytes.len() as u64, t),
                        bytes,
                    ));
                    if let Some(b) = base {
                        let merged = hive::merge::apply(b, &delta);
                        view.insert(*h, merged);
                    }
                }
                items = Some(v);
            }
            Planned::User(u) => meta.user = Some(u.clone()),
            Planned::Env(vars) => {
                for (k, val) in vars {
                    meta.env.retain(|(x, _)| !x.eq_ignore_ascii_case(k));
                    meta.env.push((k.clone(), val.clone()));
                }
            }
            Planned::Workdir(w) => meta.workdir = Some(w.clone()),
            Planned::Label(l) => {
                for (k, val) in l {
                    meta.labels.retain(|(x, _)| x != k);
                    meta.labels.push((k.clone(), val.clone()));
                }
            }
            Planned::Cmd(a, shell) => {
                meta.cmd = Some(a.clone());
                meta.args_escaped = Some(*shell);
            }
            Planned::Entrypoint(a, shell) => {
                meta.entrypoint = Some(a.clone());
                meta.args_escaped = Some(*shell);
            }
            Planned::Arg => {}
        }
        if items.is_none() && opts.metadata_layers {
            items = Some(vec![
                LayerItem::dir(Entry::dir("Files", t)),
                LayerItem::dir(Entry::dir("Hives", t)),
            ]);
        }
        let layer_index = match items {
            Some(items) => {
                let entries: Vec<String> = {
                    let mut sorted: Vec<&LayerItem> = items.iter().collect();
                    sorted.sort_by_cached_key(|i| {
                        i.entry
                            .path
                            .split('/')
                            .map(|c| c.as_bytes().to_vec())
                            .collect::<Vec<_>>()
                    });
                    sorted.iter().map(|i| i.entry.tar_name()).collect()
                };
                let (desc, diff_id, uncompressed_size) = write_new_layer(items, layer_mt, sink)?;
                layers.push(NewLayer {
                    descriptor: desc,
                    diff_id,
                    uncompressed_size,
                    created_by: step.created_by.clone(),
                    entries,
                    delta_hives,
                });
                Some(layers.len() - 1)
            }
            None => None,
        };
        out_steps.push(StepOutput {
            line: step.line,
            instruction: step.instruction.clone(),
            created_by: step.created_by.clone(),
            empty_layer: layer_index.is_none(),
            layer: layer_index,
        });
    }

    Ok(NewLayers {
        layers,
        steps: out_steps,
        edits,
        deleted_keys,
        meta,
    })
}

/// Phase 4: the base's config with the clock, the metadata steps, one history entry per
/// step and the new diff_ids.
#[allow(clippy::too_many_arguments)]
fn write_config(
    cfg: &ImageConfig,
    clock: &Clock,
    meta: &Meta,
    out_steps: &[StepOutput],
    diff_ids: &[Digest],
    layers: &[NewLayer],
    docker: bool,
    sink: &mut dyn ImageSink,
) -> Result<Descriptor> {
    let Meta {
        user,
        env,
        workdir,
        labels,
        cmd,
        entrypoint,
        args_escaped,
    } = meta;
    let mut doc: serde_json::Value =
        serde_json::from_slice(&cfg.raw).map_err(|e| crate::image::Error::Json {
            what: format!("base config {}", cfg.descriptor.digest),
            source: e,
        })?;
    let obj = doc.as_object_mut().ok_or_else(|| {
        crate::image::Error::malformed(
            format!("base config {}", cfg.descriptor.digest),
            "not a JSON object",
        )
    })?;
    obj.insert("created".into(), clock.created.clone().into());
    {
        let c = obj.entry("config").or_insert_with(|| serde_json::json!({}));
        if !c.is_object() {
            *c = serde_json::json!({});
        }
        let c = c
            .as_object_mut()
            .ok_or_else(|| Error::Internal("config".into()))?;
        if let Some(u) = &user {
            c.insert("User".into(), u.clone().into());
        }
        if !env.is_empty() {
            let mut list: Vec<String> = c
                .get("Env")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            for (k, v) in env {
                list.retain(|e| {
                    !e.split_once('=')
                        .is_some_and(|(x, _)| x.eq_ignore_ascii_case(k))
                });
                list.push(format!("{k}={v}"));
            }
            c.insert("Env".into(), list.into());
        }
        if let Some(w) = &workdir {
            c.insert("WorkingDir".into(), w.clone().into());
        }
        if let Some(a) = &cmd {
            c.insert("Cmd".into(), a.clone().into());
        }
        if let Some(a) = &entrypoint {
            c.insert("Entrypoint".into(), a.clone().into());
        }
        match args_escaped {
            Some(true) => {
                c.insert("ArgsEscaped".into(), true.into());
            }
            Some(false) => {
                c.remove("ArgsEscaped");
            }
            None => {}
        }
        if !labels.is_empty() {
            let l = c.entry("Labels").or_insert_with(|| serde_json::json!({}));
            if !l.is_object() {
                *l = serde_json::json!({});
            }
            if let Some(m) = l.as_object_mut() {
                for (k, v) in labels {
                    m.insert(k.clone(), v.clone().into());
                }
            }
        }
    }
    {
        let h = obj
            .entry("history")
            .or_insert_with(|| serde_json::json!([]));
        if !h.is_array() {
            *h = serde_json::json!([]);
        }
        if let Some(a) = h.as_array_mut() {
            for s in out_steps {
                let mut e = serde_json::json!({
                    "created": clock.created,
                    "created_by": s.created_by,
                });
                if s.empty_layer {
                    e["empty_layer"] = true.into();
                }
                a.push(e);
            }
        }
    }
    {
        let mut ids: Vec<serde_json::Value> =
            diff_ids.iter().map(|d| d.to_string().into()).collect();
        ids.extend(layers.iter().map(|l| l.diff_id.to_string().into()));
        obj.insert(
            "rootfs".into(),
            serde_json::json!({"type": "layers", "diff_ids": ids}),
        );
    }
    let config_raw = serde_json::to_vec(&doc).map_err(|e| Error::Internal(e.to_string()))?;
    let config_mt = if docker {
        media::DOCKER_CONFIG
    } else {
        media::OCI_CONFIG
    };
    Ok(sink.put_bytes(config_mt, &config_raw)?)
}

/// Phase 5: the manifest: the base's layers, then the new ones.
fn write_manifest(
    img: &ResolvedImage,
    config: &Descriptor,
    layers: &[NewLayer],
    docker: bool,
    sink: &mut dyn ImageSink,
) -> Result<Descriptor> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct ManifestDoc<'a> {
        schema_version: u32,
        media_type: &'a str,
        config: &'a Descriptor,
        layers: Vec<Descriptor>,
    }
    let mut all_layers: Vec<Descriptor> = img.manifest.layers.clone();
    all_layers.extend(layers.iter().map(|l| l.descriptor.clone()));
    let manifest_mt = if docker {
        media::DOCKER_MANIFEST
    } else {
        media::OCI_MANIFEST
    };
    let manifest_raw = serde_json::to_vec(&ManifestDoc {
        schema_version: 2,
        media_type: manifest_mt,
        config,
        layers: all_layers,
    })
    .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(sink.put_bytes(manifest_mt, &manifest_raw)?)
}

fn edit(line: usize, op: &RegOp) -> RegEdit {
    let (name, value_name, value_type, data_hex, data) = match &op.action {
        Action::SetValue { name, kind, data } => (
            "setValue",
            Some(name.clone()),
            Some(hive::model::type_name(*kind)),
            Some(hex::encode(data)),
            hive::model::render_data(*kind, data),
        ),
        Action::DeleteValue { name } => ("deleteValue", Some(name.clone()), None, None, None),
        Action::CreateKey => ("createKey", None, None, None, None),
        Action::DeleteKey => ("deleteKey", None, None, None, None),
    };
    RegEdit {
        step_line: line,
        hive: op.hive,
        delta_file: op.hive.delta_file_name().to_string(),
        key: op.path.clone(),
        op: name.into(),
        value_name,
        value_type,
        data_hex,
        data,
        operation: op.clone(),
    }
}
