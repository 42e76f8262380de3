//! The rebuild, as one use case: the published image's Windows platforms, each rebuilt
//! from its own pinned base (`build`), compared with what was published (`compare`), and
//! the statements that say so (`attest` via [`attest`]); [`chain`] does the same for a final
//! image built on a pause base. The CLI's `rebuild`, `audit` and the chain all come here.
//!
//! Owns: base resolution (pins / `--base`), calling `build` per platform, hashing the
//! published base layers beside the build, keeping the rebuilt image (`--out`), and which
//! statements a rebuild signs and where they go. Does not own: the comparison of two
//! resolved images (`compare::compare_platform`), the platform enumeration it shares with
//! `diff` (`compare::platforms`), statement shapes and signing (`attest`), rendering (the CLI).

pub mod attest;
pub mod chain;

use crate::build::{self, BuildOptions, BuildOutput};
use crate::compare::pins::Pins;
use crate::compare::platforms::{
    PlatformImage, hash_blobs, open_pinned, parallel, resolve_manifest, windows_platforms,
};
use crate::compare::{
    self, BaseCheck, BaseSpec, ConfigReport, Expectation, ImageId, Options, PlatformReport, Report,
    Side, Verdict, compare_platform,
};
use crate::hive::RegOp;
use crate::image::registry::RegistryOptions;
use crate::image::{
    self, Descriptor, ImageRef, ImageSink, ImageSource, LayoutSource, LayoutWriter, Platform,
    PlatformSelector, model::media, source,
};
use crate::progress::Progress;
use crate::recipe::Recipe;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The comparison (or reading an image for it) failed; its error says what.
    #[error(transparent)]
    Compare(#[from] compare::Error),
    // The source is printed by the caller's error chain (`{:#}`), not repeated here.
    #[error("{0}")]
    Image(String, #[source] image::Error),
    #[error("{what}: {reason}")]
    Integrity { what: String, reason: String },
    #[error("{0}")]
    Input(String),
    /// Rebuilding one platform failed; the build's own error is the source.
    #[error("rebuilding {platform}")]
    Build {
        platform: String,
        #[source]
        source: build::Error,
    },
}

impl Error {
    /// The request itself cannot run (no base, bad pins, a bad argument), as opposed to
    /// an image that fails to rebuild: the gate reports the first as a usage error.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::Input(_) | Error::Compare(compare::Error::Input(_) | compare::Error::Pins(_))
        )
    }
}

fn open(r: &ImageRef, registry: &RegistryOptions) -> Result<Box<dyn ImageSource>, Error> {
    image::open_with(r, registry).map_err(|e| Error::Image(r.to_string(), e))
}

/// What `rebuild` is asked to do.
pub struct RebuildRequest<'a> {
    /// The published image (a manifest or a multi-platform list).
    pub published: &'a ImageRef,
    /// The base, pinned by digest (a manifest, or a list holding each platform's base).
    pub base: Option<&'a ImageRef>,
    /// Pins to find (and check) each platform's base when no `base` is given.
    pub pins: Option<&'a Pins>,
    pub recipe: &'a Recipe,
    /// Only the platforms matching this.
    pub platform: Option<&'a PlatformSelector>,
    /// Keep the rebuilt image here (a new OCI layout; an index for several platforms).
    pub out: Option<&'a Path>,
    /// Tag for the kept image.
    pub out_tag: Option<&'a str>,
    /// The build clock; `None`: the published config's `created` (so a build made with
    /// any clock rebuilds identically).
    pub source_date_epoch: Option<i64>,
    pub options: Options,
    /// Registry settings (credentials, plain HTTP, cache, foreign layers) for every
    /// `docker://` image this rebuild reads: published, base, pinned images.
    pub registry: &'a RegistryOptions,
}

/// A rebuild's report and the builds behind it (one per rebuilt platform).
pub struct RebuildResult {
    pub report: Report,
    pub builds: Vec<BuildOutput>,
}

/// The registry edits a build made, as the comparison checks them: the same edits, in
/// the same vocabulary and count, as the provenance lists (`hive::net_edits`; typed end
/// to end, none lost in a round trip through text).
pub fn edits_of(b: &BuildOutput) -> Vec<RegOp> {
    let ops: Vec<RegOp> = b
        .registry_edits
        .iter()
        .map(|e| e.operation.clone())
        .collect();
    crate::hive::net_edits(&ops, &b.deleted_keys)
}

/// A platform report for a platform that could not be rebuilt for lack of a base.
fn no_base(pp: &PlatformImage, source: &str, reference: &str, reason: String) -> PlatformReport {
    PlatformReport {
        platform: pp.platform.to_string(),
        os_version: pp.platform.os_version.clone(),
        published_manifest: pp.image.manifest.descriptor.digest.clone(),
        rebuilt_manifest: None,
        verdict: Verdict::Different,
        reasons: vec![reason.clone()],
        base: Some(BaseCheck {
            source: source.into(),
            reference: reference.into(),
            manifest: None,
            ok: false,
            layers: Vec::new(),
            reason: Some(reason),
        }),
        registry_mode: "delta".into(),
        layers: Vec::new(),
        config: ConfigReport {
            published_digest: pp.image.config.descriptor.digest.clone(),
            rebuilt_digest: None,
            verdict: Verdict::Different,
            differences: Vec::new(),
        },
        recipe_edits: Vec::new(),
        noise: Vec::new(),
        unexplained: Vec::new(),
    }
}

fn selector_for(p: &Platform) -> PlatformSelector {
    PlatformSelector {
        os: p.os.clone(),
        architecture: p.architecture.clone(),
        variant: None,
        os_version_prefix: p.os_version.clone(),
    }
}

/// Where one platform's base comes from.
struct BaseChoice {
    reference: ImageRef,
    spec: BaseSpec,
}

fn choose_base(
    req: &RebuildRequest,
    pp: &PlatformImage,
) -> Result<Result<BaseChoice, (String, String, String)>, Error> {
    let v = pp.platform.os_version.clone().unwrap_or_default();
    let sel = selector_for(&pp.platform);
    if let Some(b) = req.base {
        if !build::is_pinned(b) {
            return Err(Error::Input(format!(
                "--base {b}: the base must be pinned by digest (oci:DIR@sha256:…, docker://HOST/REPO@sha256:…); `pause-verify inspect` shows the digest"
            )));
        }
        let src = open(b, req.registry)?;
        let img = match source::resolve(src.as_ref(), Some(&sel)) {
            Ok(i) => i,
            Err(image::Error::NoMatchingPlatform { available, .. }) => {
                return Ok(Err((
                    "--base".into(),
                    b.to_string(),
                    format!(
                        "base mismatch: the pinned base has no image for os.version {v} (it has: {})",
                        available.join(", ")
                    ),
                )));
            }
            Err(e) => return Err(Error::Image(format!("--base {b}"), e)),
        };
        let diff = img
            .config
            .diff_ids()
            .map_err(|e| Error::Image(format!("--base {b}"), e))?;
        let layers: Vec<_> = img
            .layers()
            .iter()
            .enumerate()
            .map(|(i, d)| (d.digest.clone(), diff.get(i).cloned()))
            .collect();
        // With a pins file too, a pinned os.version's base must be the pinned one.
        if let Some(pin) = req.pins.and_then(|p| p.for_os_version(&v)) {
            let same = pin.layers.len() == layers.len()
                && pin.layers.iter().zip(&layers).all(|(p, (d, di))| {
                    &p.digest == d && p.diff_id.as_ref().is_none_or(|x| di.as_ref() == Some(x))
                });
            if !same {
                return Err(Error::Integrity {
                    what: format!("--base {b}"),
                    reason: format!(
                        "its image for os.version {v} does not hold the layers of pin {}; rebuild from the pinned base",
                        pin.name
                    ),
                });
            }
        }
        return Ok(Ok(BaseChoice {
            reference: b.clone(),
            spec: BaseSpec {
                source: "--base".into(),
                reference: b.to_string(),
                manifest: Some(img.manifest.descriptor.digest.clone()),
                layers,
            },
        }));
    }
    let Some(pins) = req.pins else {
        return Err(Error::Input(
            "no base: give --base IMAGE@DIGEST or a pins file (--pins, default attestations/pins.toml)".into(),
        ));
    };
    let Some(pin) = pins.for_os_version(&v) else {
        return Ok(Err((
            "pins".into(),
            String::new(),
            format!(
                "base mismatch: no pin for os.version {v} (pinned: {})",
                pins.versions().join(", ")
            ),
        )));
    };
    let Some(image_ref) = pin.image.as_deref() else {
        return Err(Error::Input(format!(
            "pin {} ({v}) names no image to rebuild from; give --base IMAGE@DIGEST",
            pin.name
        )));
    };
    let r: ImageRef = image_ref
        .parse()
        .map_err(|e| Error::Image(format!("pin {} image {image_ref}", pin.name), e))?;
    let src = open(&r, req.registry)?;
    let img = source::resolve(src.as_ref(), Some(&sel))
        .map_err(|e| Error::Image(format!("pin {} image {r}", pin.name), e))?;
    let diff = img
        .config
        .diff_ids()
        .map_err(|e| Error::Image(format!("pin {} image {r}", pin.name), e))?;
    let got: Vec<_> = img.layers().iter().map(|d| d.digest.clone()).collect();
    let want: Vec<_> = pin.layers.iter().map(|l| l.digest.clone()).collect();
    let diff_ok = pin
        .layers
        .iter()
        .zip(&diff)
        .all(|(l, d)| l.diff_id.as_ref().is_none_or(|x| x == d));
    if got != want || !diff_ok {
        return Err(Error::Integrity {
            what: format!("pin {} image {r}", pin.name),
            reason: "its layers are not the pinned layers; the tag moved or the pin is wrong"
                .into(),
        });
    }
    if let Some(m) = &pin.manifest
        && m != &img.manifest.descriptor.digest
    {
        return Err(Error::Integrity {
            what: format!("pin {} image {r}", pin.name),
            reason: format!(
                "manifest {} is not the pinned {m}",
                img.manifest.descriptor.digest
            ),
        });
    }
    Ok(Ok(BaseChoice {
        reference: r,
        spec: BaseSpec {
            source: "pins".into(),
            reference: pin.name.clone(),
            manifest: Some(img.manifest.descriptor.digest.clone()),
            layers: pin
                .layers
                .iter()
                .zip(diff)
                .map(|(l, d)| (l.digest.clone(), Some(l.diff_id.clone().unwrap_or(d))))
                .collect(),
        },
    }))
}

/// True when the published image committed a layer for some metadata step (the classic
/// builder's habit): the rebuild then does the same.
fn wants_metadata_layers(pp: &PlatformImage, base_layers: usize) -> bool {
    compare::pair::steps(&pp.image.config, pp.image.layers().len(), base_layers)
        .unwrap_or_default()
        .iter()
        .any(|s| {
            s.layer.is_some()
                && compare::pair::METADATA_INSTRUCTIONS.contains(&s.instruction.as_str())
        })
}

fn rebuild_one(
    req: &RebuildRequest,
    pp: &PlatformImage,
    dir: &Path,
    progress: &Progress,
) -> Result<(PlatformReport, Option<BuildOutput>), Error> {
    let choice = match choose_base(req, pp)? {
        Ok(c) => c,
        Err((src, reference, reason)) => return Ok((no_base(pp, &src, &reference, reason), None)),
    };
    let epoch = match req.source_date_epoch {
        Some(e) => Some(e),
        None => pp
            .image
            .config
            .parsed
            .created()
            .as_deref()
            .and_then(crate::time::parse_rfc3339),
    };
    let bopts = BuildOptions {
        platform: Some(selector_for(&pp.platform)),
        source_date_epoch: epoch,
        metadata_layers: wants_metadata_layers(pp, choice.spec.layers.len()),
        // A recipe that edits no registry (a final image's ADDs) needs no base hive: its
        // base layers are then compared by digest only, not read again (chain.rs).
        no_base_layers: req.out.is_none() && !req.recipe.edits_registry(),
    };
    let (mut b, mut base_failures, mut psrc, shared) =
        build_beside(req, pp, &choice, &bopts, dir, true, progress)?;
    if b.is_err() && shared {
        // What failed may be a published layer the build read in place of the pinned
        // one: build again from the pinned base alone, the published layers hashed on
        // their own, so a corrupt published layer is a DIFFERENT verdict naming it (as
        // it always was), not an error.
        let _ = std::fs::remove_dir_all(dir);
        (b, base_failures, psrc, _) = build_beside(req, pp, &choice, &bopts, dir, false, progress)?;
    }
    let b = b.map_err(|source| Error::Build {
        platform: pp.platform.to_string(),
        source,
    })?;
    let rsrc = LayoutSource::open(dir, None, Some(&b.manifest.digest))
        .map_err(|e| Error::Image(dir.display().to_string(), e))?;
    let rimg = resolve_manifest(&rsrc, &b.manifest, None)?;
    let edits = edits_of(&b);
    let hives = (!b.base_hives.is_empty()).then_some(&b.base_hives);
    let rep = compare_platform(
        &Side {
            source: &rsrc,
            image: &rimg,
        },
        &Side {
            source: psrc.as_ref(),
            image: &pp.image,
        },
        &Expectation {
            base: Some(&choice.spec),
            edits: &edits,
            base_hives: hives,
        },
        &req.options,
    )?;
    let mut rep = rep;
    if let Some(bc) = rep.base.as_mut() {
        for (i, why) in &base_failures {
            if let Some(l) = bc.layers.get_mut(*i) {
                l.ok = false;
            }
            bc.ok = false;
            let reason = format!("base mismatch: published base layer {i}: {why}");
            bc.reason.get_or_insert_with(|| reason.clone());
            rep.reasons.push(reason);
            rep.verdict = Verdict::Different;
        }
    }
    Ok((rep, Some(b)))
}

/// One platform's build (into a layout at `dir`) with the published base layers hashed
/// beside it; with `share`, a published base layer holding the pinned digest is read by
/// the build in place of the pinned one (see `rebuild_one`). Returns the build, the
/// (layer index, why) of each published base layer that failed its hash, the published
/// image's source, and whether any layer was shared.
type Beside = (
    Result<BuildOutput, build::Error>,
    Vec<(usize, String)>,
    Box<dyn ImageSource>,
    bool,
);

#[allow(clippy::too_many_arguments)]
fn build_beside(
    req: &RebuildRequest,
    pp: &PlatformImage,
    choice: &BaseChoice,
    bopts: &BuildOptions,
    dir: &Path,
    share: bool,
    progress: &Progress,
) -> Result<Beside, Error> {
    let mut writer =
        LayoutWriter::create(dir).map_err(|e| Error::Image(dir.display().to_string(), e))?;
    // Without --out the base layers are read (verified, hives kept) but not copied: the
    // comparison never reads them from the rebuilt side.
    let mut sink = SkipBlobs {
        inner: &mut writer,
        skip: if req.out.is_some() {
            Vec::new()
        } else {
            choice.spec.layers.iter().map(|(d, _)| d.clone()).collect()
        },
    };
    // The published image's base layers are compared by digest only, so their bytes are
    // hashed too (a flipped byte there would pass). A published base layer with the
    // pinned digest IS the pinned layer: the build reads it from the published image and
    // verifies it (digest and diff_id) in its one pass, so each byte is read and hashed
    // once. The rest (another digest, or a build that reads no base layer) are hashed on
    // another thread while the build streams; a blob that is the very file the build
    // verifies is not read twice.
    let n_base = choice.spec.layers.len().min(pp.image.layers().len());
    let reads_base = share && !bopts.no_base_layers;
    let mut shared = Vec::new();
    // (layer index, descriptor) of the published base layers hashed on their own.
    let mut own: Vec<(usize, Descriptor)> = Vec::new();
    for (i, (d, (pinned, _))) in pp.image.layers()[..n_base]
        .iter()
        .zip(&choice.spec.layers)
        .enumerate()
    {
        if reads_base && !d.is_foreign() && &d.digest == pinned {
            shared.push(d.digest.clone());
        } else {
            own.push((i, d.clone()));
        }
    }
    let published_base: Vec<Descriptor> = own.iter().map(|(_, d)| d.clone()).collect();
    let any_shared = !shared.is_empty();
    let base_src = SharedBase {
        base: open(&choice.reference, req.registry)?,
        published: open(req.published, req.registry)?,
        shared,
    };
    let base_files: Vec<Option<PathBuf>> = published_base
        .iter()
        .map(|d| base_src.blob_file(d))
        .collect();
    let (b, base_failures) = std::thread::scope(|s| {
        let hashing = s.spawn(|| hash_published_base(req, &published_base, &base_files, progress));
        let b = build::build(
            &base_src,
            &choice.reference,
            req.recipe,
            bopts,
            &mut sink,
            progress,
        );
        let failures: Vec<(usize, String)> = hashing
            .join()
            .unwrap_or_else(|_| vec![(0, "the base layer hasher panicked".to_string())])
            .into_iter()
            .map(|(k, why)| (own.get(k).map_or(k, |(i, _)| *i), why))
            .collect();
        (b, failures)
    });
    if let Ok(b) = &b {
        sink.add_manifest(&b.manifest, None)
            .map_err(|e| Error::Image(dir.display().to_string(), e))?;
    }
    Ok((b, base_failures, base_src.published, any_shared))
}

/// Hash the published image's base layers against their descriptors (compressed bytes:
/// the digest is what was pinned), streaming. Returns (layer index, why) per failure. A
/// blob held as the same file the build reads (same device and inode) or already
/// verified by its transport is not read again; a foreign layer is never downloaded.
fn hash_published_base(
    req: &RebuildRequest,
    layers: &[Descriptor],
    base_files: &[Option<PathBuf>],
    progress: &Progress,
) -> Vec<(usize, String)> {
    match open(req.published, req.registry) {
        Ok(src) => hash_blobs(src.as_ref(), layers, base_files, progress),
        Err(e) => vec![(0, format!("cannot be read: {e}"))],
    }
}

/// The pinned base as the build reads it, with the layers the published image holds by
/// the same digest read from the published image instead (so that one verifying pass
/// covers both; see `rebuild_one`). Documents and every other blob: the base's.
struct SharedBase {
    base: Box<dyn ImageSource>,
    published: Box<dyn ImageSource>,
    shared: Vec<crate::image::Digest>,
}

impl SharedBase {
    fn for_blob(&self, d: &Descriptor) -> &dyn ImageSource {
        if self.shared.contains(&d.digest) {
            self.published.as_ref()
        } else {
            self.base.as_ref()
        }
    }
}

impl ImageSource for SharedBase {
    fn name(&self) -> String {
        self.base.name()
    }
    fn root(&self) -> image::Result<image::Root> {
        self.base.root()
    }
    fn open_raw(&self, d: &Descriptor) -> image::Result<Box<dyn std::io::Read + Send>> {
        self.for_blob(d).open_raw(d)
    }
    fn open_blob(&self, d: &Descriptor) -> image::Result<Box<dyn std::io::Read + Send>> {
        self.for_blob(d).open_blob(d)
    }
    fn verified_blob(&self, d: &Descriptor) -> image::Result<Option<image::VerifiedBlob>> {
        self.for_blob(d).verified_blob(d)
    }
    fn blob_file(&self, d: &Descriptor) -> Option<PathBuf> {
        self.for_blob(d).blob_file(d)
    }
}

/// A sink that claims to hold some blobs already (so the build only verifies them).
struct SkipBlobs<'a> {
    inner: &'a mut LayoutWriter,
    skip: Vec<crate::image::Digest>,
}

impl ImageSink for SkipBlobs<'_> {
    fn has_blob(&self, desc: &Descriptor) -> image::Result<bool> {
        if self.skip.contains(&desc.digest) {
            return Ok(true);
        }
        self.inner.has_blob(desc)
    }
    fn put_blob(
        &mut self,
        reader: &mut dyn std::io::Read,
        expected: Option<&Descriptor>,
    ) -> image::Result<Descriptor> {
        self.inner.put_blob(reader, expected)
    }
    fn add_manifest(&mut self, desc: &Descriptor, tag: Option<&str>) -> image::Result<()> {
        self.inner.add_manifest(desc, tag)
    }
}

/// `rebuild`: every Windows platform of the published image rebuilt from its own pinned
/// base and compared, in parallel.
pub fn rebuild(req: &RebuildRequest, progress: &Progress) -> Result<RebuildResult, Error> {
    // Opened once and held to its digest: the threads below read exactly this image.
    let pin = open_pinned(req.published, req.registry)?;
    let req = &RebuildRequest {
        published: &pin.reference,
        ..*req
    };
    let plats = windows_platforms(pin.source.as_ref(), req.platform)?;
    let stage_parent: PathBuf = match req.out {
        Some(o) => {
            if o.exists() {
                return Err(Error::Input(format!(
                    "--out {}: already exists; give a new directory",
                    o.display()
                )));
            }
            o.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."))
        }
        None => std::env::temp_dir(),
    };
    let stage = tempfile::Builder::new()
        .prefix(".pause-verify-rebuild-")
        .tempdir_in(&stage_parent)
        .map_err(|e| {
            Error::Input(format!(
                "creating a staging directory in {}: {e}",
                stage_parent.display()
            ))
        })?;
    crate::atomic::note_temporary(stage.path());
    let jobs: Vec<(usize, &PlatformImage)> = plats.iter().enumerate().collect();
    let results = parallel(&jobs, |(i, pp)| {
        rebuild_one(req, pp, &stage.path().join(format!("p{i}")), progress)
    })?;
    let mut platforms = Vec::new();
    let mut builds = Vec::new();
    let mut dirs = Vec::new();
    for (i, (rep, b)) in results.into_iter().enumerate() {
        platforms.push(rep);
        if let Some(b) = b {
            dirs.push(stage.path().join(format!("p{i}")));
            builds.push(b);
        }
    }
    let rebuilt_id = if let Some(out) = req.out {
        Some(keep(out, req.out_tag, &dirs, &builds)?)
    } else {
        None
    };
    let mut report = compare::report("rebuild", pin.id, rebuilt_id, &req.options, platforms);
    if report.rebuilt.is_none() && builds.len() == 1 {
        report.rebuilt = Some(ImageId {
            reference: "(not kept; use --out)".into(),
            digest: builds[0].manifest.digest.clone(),
            media_type: builds[0].manifest.media_type.clone(),
        });
    }
    Ok(RebuildResult { report, builds })
}

/// Move the staged layouts into one layout at `out`: blobs by rename, then the manifest
/// (one platform) or a new index of all (several), recorded last.
fn keep(
    out: &Path,
    tag: Option<&str>,
    dirs: &[PathBuf],
    builds: &[BuildOutput],
) -> Result<ImageId, Error> {
    let err = |e: image::Error| Error::Image(format!("--out {}", out.display()), e);
    let io = |e: std::io::Error| Error::Input(format!("--out {}: {e}", out.display()));
    let mut w = LayoutWriter::create(out).map_err(err)?;
    let blobs = out.join("blobs").join("sha256");
    for d in dirs {
        for f in std::fs::read_dir(d.join("blobs").join("sha256")).map_err(io)? {
            let f = f.map_err(io)?;
            let name = f.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let dest = blobs.join(&name);
            if !dest.exists() {
                std::fs::rename(f.path(), &dest).map_err(io)?;
            }
        }
    }
    let root = if builds.len() == 1 {
        builds[0].manifest.clone()
    } else {
        let docker = builds
            .iter()
            .all(|b| b.manifest.media_type == media::DOCKER_MANIFEST);
        let mt = if docker {
            media::DOCKER_LIST
        } else {
            media::OCI_INDEX
        };
        let doc = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": mt,
            "manifests": builds.iter().map(|b| &b.manifest).collect::<Vec<_>>(),
        });
        let raw = serde_json::to_vec(&doc).map_err(|e| Error::Input(e.to_string()))?;
        w.put_bytes(mt, &raw).map_err(err)?
    };
    w.add_manifest(&root, tag).map_err(err)?;
    Ok(ImageId {
        reference: format!("oci:{}@{}", out.display(), root.digest),
        digest: root.digest.clone(),
        media_type: root.media_type.clone(),
    })
}
