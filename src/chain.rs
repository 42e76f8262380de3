//! Chained verification: the image a cluster runs (the "final" image, e.g.
//! registry.k8s.io/pause for Windows) is a pause base plus a few recipe layers, and the
//! pause base is NanoServer plus registry edits. One run checks both links:
//!
//! 1. stage `base`: the pause base (`--base IMAGE@DIGEST`) is rebuilt from its own pinned
//!    NanoServer (the pins file) with the base recipe (default: the built-in upstream one)
//!    and compared as `rebuild` does;
//! 2. stage `final`: the final image's leading layers must be exactly that base's layers
//!    (digest and diff_id), its added layers are rebuilt from the final recipe (e.g.
//!    kubernetes' `Dockerfile_windows` with its build context) and compared, and its
//!    config must be the base's plus the recipe's ENV/ENTRYPOINT.
//!
//! The final stage is stricter than a pause-base rebuild: the recipe's added layers come
//! from ADD/COPY of local files, which run no container, so no Windows runtime churn can
//! explain an extra file or registry change there. A change explained only by a file or
//! registry noise rule fails the stage; structural rules (entry order, times,
//! compression, metadata layers, the PE rules of `compare::pe`) still apply.
//!
//! Owns: running the two stages and the per-platform verdict naming the failed stage.
//! Does not own: rebuilding or comparing (`compare::rebuild`), rendering (the CLI).

use crate::compare::noise::{self, Scope};
use crate::compare::pins::Pins;
use crate::compare::rebuild::{RebuildRequest, RebuildResult, rebuild};
use crate::compare::{Class, Error, Options, PlatformReport, Report, Verdict};
use crate::image::registry::RegistryOptions;
use crate::image::{ImageRef, PlatformSelector};
use crate::progress::Progress;
use crate::recipe::Recipe;
use serde::Serialize;
use std::path::Path;

/// Version of the `chain` JSON document.
pub const SCHEMA_VERSION: &str = "1";

/// What a chained rebuild is asked to do.
pub struct ChainRequest<'a> {
    /// The final image under test.
    pub published: &'a ImageRef,
    /// The pause base the final image is built on, pinned by digest.
    pub base: &'a ImageRef,
    /// The NanoServer pins the base stage rebuilds the pause base from.
    pub pins: &'a Pins,
    /// The pause base's recipe (the built-in upstream recipe by default).
    pub base_recipe: &'a Recipe,
    /// The final image's recipe (with its build context already read).
    pub recipe: &'a Recipe,
    pub platform: Option<&'a PlatformSelector>,
    /// Keep the rebuilt final image here.
    pub out: Option<&'a Path>,
    pub out_tag: Option<&'a str>,
    pub source_date_epoch: Option<i64>,
    pub options: Options,
    pub registry: &'a RegistryOptions,
}

/// One platform of the final image, over both stages.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainPlatform {
    pub platform: String,
    pub os_version: Option<String>,
    /// The worse of the two stages' verdicts (DIFFERENT when a stage failed).
    pub verdict: Verdict,
    /// `base`, `final-base-layers`, `final-added-layers` or `final-config`; absent on a
    /// pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_stage: Option<String>,
    pub base_verdict: Option<Verdict>,
    pub final_verdict: Verdict,
    /// Why the failed stage failed (empty on a pass).
    pub reasons: Vec<String>,
}

/// The chained report: both stages' full reports and one verdict per platform.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainReport {
    pub schema_version: String,
    /// `chain`.
    pub kind: String,
    pub verdict: Verdict,
    pub platforms: Vec<ChainPlatform>,
    /// The pause base rebuilt from its NanoServer pin.
    pub base_stage: Report,
    /// The final image rebuilt on the pause base.
    pub final_stage: Report,
}

impl ChainReport {
    pub fn passes(&self) -> bool {
        !self.platforms.is_empty() && self.platforms.iter().all(|p| p.verdict.passes())
    }
}

/// The chain's outcome and the builds behind each stage (for provenance).
pub struct ChainResult {
    pub report: ChainReport,
    pub base: RebuildResult,
    pub fin: RebuildResult,
}

/// True for a rule the final stage accepts: one about how a layer was written, not about
/// what a running container left behind.
fn structural(rule: &str) -> bool {
    noise::rule(rule)
        .is_none_or(|r| !matches!(r.scope, Scope::File { .. } | Scope::Registry { .. }))
}

/// The final stage's verdict for one platform and the stage that failed.
fn judge_final(p: &PlatformReport) -> (Verdict, Option<(&'static str, Vec<String>)>) {
    if p.base.as_ref().is_some_and(|b| !b.ok) || p.rebuilt_manifest.is_none() {
        let why = p
            .base
            .as_ref()
            .and_then(|b| b.reason.clone())
            .into_iter()
            .chain(p.reasons.iter().take(1).cloned())
            .take(1)
            .collect();
        return (Verdict::Different, Some(("final-base-layers", why)));
    }
    let mut added: Vec<String> = p
        .layers
        .iter()
        .filter(|l| l.verdict == Verdict::Different)
        .map(|l| {
            format!(
                "layer published #{} ({}): {}",
                l.published
                    .as_ref()
                    .map_or_else(|| "-".to_string(), |x| x.index.to_string()),
                l.step.as_deref().unwrap_or("?"),
                l.reason
            )
        })
        .collect();
    for c in p.noise.iter().filter(|c| c.class == Class::Noise) {
        if let Some(r) = c.rule.as_deref().filter(|r| !structural(r)) {
            added.push(format!(
                "{}: explained only by runtime noise rule {r}, which the final stage does not accept (its layers run no container)",
                crate::compare::render_change(c)
            ));
        }
    }
    for e in p.recipe_edits.iter().filter(|e| e.status != "present") {
        added.push(format!("recipe edit {}\\{}: {}", e.hive, e.path, e.status));
    }
    if !added.is_empty() {
        return (Verdict::Different, Some(("final-added-layers", added)));
    }
    if p.config.verdict == Verdict::Different {
        let why = p
            .config
            .differences
            .iter()
            .filter(|d| d.significant)
            .map(|d| {
                format!(
                    "config {}: expected {}, found {}",
                    d.field, d.expected, d.actual
                )
            })
            .collect();
        return (Verdict::Different, Some(("final-config", why)));
    }
    if p.verdict == Verdict::Different {
        return (
            Verdict::Different,
            Some(("final-added-layers", p.reasons.clone())),
        );
    }
    (p.verdict, None)
}

/// Combine the two stages' reports into per-platform verdicts.
pub fn combine(base: &Report, fin: &Report) -> Vec<ChainPlatform> {
    fin.platforms
        .iter()
        .map(|fp| {
            let bp = base
                .platforms
                .iter()
                .find(|b| b.os_version == fp.os_version && b.platform == fp.platform);
            let (final_verdict, final_fail) = judge_final(fp);
            let (verdict, failed_stage, reasons) = match bp {
                None => (
                    Verdict::Different,
                    Some("base".to_string()),
                    vec![format!(
                        "the pause base has no platform {} to verify",
                        fp.platform
                    )],
                ),
                Some(b) if b.verdict == Verdict::Different => (
                    Verdict::Different,
                    Some("base".to_string()),
                    b.reasons.clone(),
                ),
                Some(b) => match final_fail {
                    Some((stage, why)) => (Verdict::Different, Some(stage.to_string()), why),
                    None => (b.verdict.max(final_verdict), None, Vec::new()),
                },
            };
            ChainPlatform {
                platform: fp.platform.clone(),
                os_version: fp.os_version.clone(),
                verdict,
                failed_stage,
                base_verdict: bp.map(|b| b.verdict),
                final_verdict,
                reasons,
            }
        })
        .collect()
}

/// Run both stages and judge each platform.
pub fn verify(req: &ChainRequest, progress: &Progress) -> Result<ChainResult, Error> {
    if !crate::build::is_pinned(req.base) {
        return Err(Error::Input(format!(
            "--base {}: the pause base must be pinned by digest (oci:DIR@sha256:…, docker://HOST/REPO@sha256:…); `pause-verify pin` prints it",
            req.base
        )));
    }
    let base = rebuild(
        &RebuildRequest {
            published: req.base,
            base: None,
            pins: Some(req.pins),
            recipe: req.base_recipe,
            platform: req.platform,
            out: None,
            out_tag: None,
            source_date_epoch: None,
            options: req.options,
            registry: req.registry,
        },
        progress,
    )?;
    let fin = rebuild(
        &RebuildRequest {
            published: req.published,
            base: Some(req.base),
            pins: None,
            recipe: req.recipe,
            platform: req.platform,
            out: req.out,
            out_tag: req.out_tag,
            source_date_epoch: req.source_date_epoch,
            options: req.options,
            registry: req.registry,
        },
        progress,
    )?;
    let platforms = combine(&base.report, &fin.report);
    let verdict = platforms
        .iter()
        .map(|p| p.verdict)
        .max()
        .unwrap_or(Verdict::Different);
    Ok(ChainResult {
        report: ChainReport {
            schema_version: SCHEMA_VERSION.into(),
            kind: "chain".into(),
            verdict,
            platforms,
            base_stage: base.report.clone(),
            final_stage: fin.report.clone(),
        },
        base,
        fin,
    })
}

/// Is `base` a derived image (a pause base) rather than a NanoServer: for some platform,
/// do its layers strictly extend the pin of its os.version? Then `rebuild --base` verifies
/// the chain. A base equal to its pin is a NanoServer (the ordinary rebuild).
pub fn base_is_derived(
    base: &ImageRef,
    pins: &Pins,
    platform: Option<&PlatformSelector>,
    registry: &RegistryOptions,
) -> Result<bool, Error> {
    let src = crate::image::open_with(base, registry)
        .map_err(|e| Error::Image(format!("--base {base}"), e))?;
    let plats = crate::compare::rebuild::windows_platforms(src.as_ref(), platform)?;
    for p in &plats {
        let Some(pin) = pins.for_os_version(p.platform.os_version.as_deref().unwrap_or("")) else {
            continue;
        };
        let layers = p.image.layers();
        if layers.len() > pin.layers.len()
            && pin
                .layers
                .iter()
                .zip(layers)
                .all(|(a, b)| a.digest == b.digest)
        {
            return Ok(true);
        }
    }
    Ok(false)
}
