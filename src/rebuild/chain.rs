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
//! Does not own: rebuilding one image (`rebuild::rebuild`), comparing (`compare`),
//! rendering (the CLI).

use super::{Error, RebuildRequest, RebuildResult, rebuild};
use crate::compare::noise::{self, Scope};
use crate::compare::pins::Pins;
use crate::compare::{Class, Options, PlatformReport, Report, Verdict};
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
    let plats = crate::compare::platforms::windows_platforms(src.as_ref(), platform)?;
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

/// The build record `scripts/build-pause-binaries.sh` leaves in the context
/// (`build-info.txt`): the VERSION, compiler versions, and `sha256  path` lines for every
/// source and output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BinaryBuildInfo {
    pub version: Option<String>,
    /// `cc ...`, `go ...` lines: tool name → version text.
    pub compilers: Vec<(String, String)>,
    /// Sources (`windows/...`) by digest.
    pub sources: Vec<(String, crate::image::Digest)>,
    /// Outputs (`bin/...`) by digest.
    pub outputs: Vec<(String, crate::image::Digest)>,
}

/// Largest build-info.txt read.
const MAX_BUILD_INFO: usize = 64 << 10;

/// Parse `build-info.txt`; errors name the line.
pub fn parse_build_info(text: &str) -> Result<BinaryBuildInfo, String> {
    if text.len() > MAX_BUILD_INFO {
        return Err(format!("over {MAX_BUILD_INFO} bytes"));
    }
    let mut info = BinaryBuildInfo::default();
    for (i, line) in text.lines().enumerate() {
        let bad = || {
            format!(
                "line {}: {line:?} is not `version V`, `cc …`, `go …` or `SHA256  PATH`",
                i + 1
            )
        };
        if let Some(v) = line.strip_prefix("version ") {
            info.version = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("cc ") {
            info.compilers.push(("cc".into(), v.to_string()));
        } else if let Some(v) = line.strip_prefix("go ") {
            info.compilers.push(("go".into(), v.to_string()));
        } else if let Some((hex, path)) = line.split_once("  ") {
            let d: crate::image::Digest = format!("sha256:{hex}").parse().map_err(|_| bad())?;
            if path.starts_with("bin/") {
                info.outputs.push((path.to_string(), d));
            } else {
                info.sources.push((path.to_string(), d));
            }
        } else if !line.trim().is_empty() {
            return Err(bad());
        }
    }
    Ok(info)
}

/// Where the chain's statements go.
pub struct ChainAttestRequest<'a> {
    pub key: &'a crate::attest::PrivateKey,
    pub dir: &'a Path,
    /// Also attach (`.att`): the final provenance to the rebuilt final image (`rebuilt`,
    /// from `--out`), the final VSA to the published final image and the base stage's
    /// VSA to the pause base, as `rebuild --attach` does for one image.
    pub attach: bool,
    pub rebuilt: Option<&'a ImageRef>,
    /// The context's build record, checked against the recipe's copied files.
    pub build_info: Option<&'a BinaryBuildInfo>,
    pub registry: &'a RegistryOptions,
    pub started_on: Option<String>,
    pub finished_on: Option<String>,
    /// Verified Notary signatures of the base stage's NanoServer, per base manifest:
    /// recorded on the base provenance's `base-image` dependency.
    pub base_signatures: &'a [(
        crate::image::Digest,
        serde_json::Map<String, serde_json::Value>,
    )],
}

/// What [`attest`] signed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainAttestations {
    /// The pause base stage: its rebuild's provenance and VSA.
    pub base: super::attest::Attestations,
    /// The final image: provenance per platform, and its VSA.
    pub provenance: Vec<super::attest::Written>,
    pub vsa: super::attest::Written,
}

/// Sign the chain: the base stage's provenance and VSA (as `rebuild --attest` does), then
/// per final platform a provenance whose `resolvedDependencies` name the pause base with
/// the digest of the VSA that verified it, the binaries' sources by digest and the
/// compilers, and a VSA for the final image whose `inputAttestations` include the base's
/// VSA. Its `verificationResult` is the chain's verdict. Statements go to `dir`.
pub fn attest(
    req: &ChainRequest,
    res: &ChainResult,
    a: &ChainAttestRequest,
) -> Result<ChainAttestations, super::attest::Error> {
    use super::attest::{self as ar, Written};
    use crate::attest::statement::{PROVENANCE_V1, VSA_V1};
    use crate::attest::{dsse, storage::AttestationsDir};
    use serde_json::{Value, json};
    // The build record must describe the files the recipe copies.
    if let Some(info) = a.build_info {
        for (path, d) in &info.outputs {
            let Some(f) = req.recipe.files.iter().find(|f| &f.path == path) else {
                continue;
            };
            if &f.digest != d {
                return Err(ar::Error::Usage(format!(
                    "build-info.txt says {path} is {d}, but the context holds {}: rebuild the binaries or fix the context",
                    f.digest
                )));
            }
        }
    }
    if a.attach && a.rebuilt.is_none() {
        return Err(ar::Error::Usage(
            "--attach stores the provenance with the rebuilt image: give --out too".into(),
        ));
    }
    let mut base = ar::attest(
        &res.base.report,
        &res.base.builds,
        &ar::AttestRequest {
            key: a.key,
            published: req.base,
            rebuilt: None,
            dir: Some(a.dir),
            attach: false,
            registry: a.registry,
            started_on: a.started_on.clone(),
            finished_on: a.finished_on.clone(),
            base_signatures: a.base_signatures,
        },
    )?;
    // The pause base was not kept (only the final image is, with --out): its VSA goes to
    // the pause base as published.
    if a.attach {
        let mut store = ar::open_store(req.base, a.registry)?;
        for s in &base.vsa.subjects {
            let at = ar::attach_to(&mut store, req.base, s, &base.vsa.envelope, VSA_V1)?;
            base.vsa.attached.push(at);
        }
    }
    let dir = AttestationsDir::new(a.dir);
    let sign = |st: &crate::attest::statement::Statement| {
        let env = dsse::sign_statement(st, a.key).to_json();
        let d = crate::image::Digest::of(&env);
        (env, d)
    };
    let name = ar::subject_name(req.published);
    let base_vsa_uri = base
        .vsa
        .files
        .first()
        .map(|f| f.display().to_string())
        .unwrap_or_default();
    let mut provenance = Vec::new();
    for b in &res.fin.builds {
        let mut st = ar::provenance_for(b, &name, a.started_on.clone(), a.finished_on.clone());
        let bd = &mut st.predicate["buildDefinition"];
        if let Some(deps) = bd["resolvedDependencies"].as_array_mut() {
            for d in deps.iter_mut() {
                if d["name"] == "base-image" {
                    d["annotations"] = json!({
                        "verifiedBy": {
                            "predicateType": VSA_V1,
                            "uri": base_vsa_uri,
                            "digest": {"sha256": base.vsa.envelope_digest.hex()},
                        },
                        "verificationResult": base.vsa.verification_result,
                    });
                }
            }
            if let Some(info) = a.build_info {
                for (path, d) in &info.sources {
                    deps.push(
                        json!({"name": format!("source/{path}"), "digest": {"sha256": d.hex()}}),
                    );
                }
            }
        }
        if let Some(info) = a.build_info {
            bd["internalParameters"]["binaries"] = json!({
                "version": info.version,
                "compilers": info.compilers.iter().map(|(k, v)| json!({"name": k, "version": v})).collect::<Vec<Value>>(),
                "script": "scripts/build-pause-binaries.sh",
            });
        }
        let (env, digest) = sign(&st);
        let subject = &b.manifest.digest;
        dir.add_envelope(subject, &env)?;
        provenance.push(Written {
            predicate_type: PROVENANCE_V1.into(),
            subjects: vec![subject.clone()],
            platform: st.predicate["buildDefinition"]["externalParameters"]["platform"]
                .as_str()
                .map(str::to_string),
            verification_result: None,
            envelope_digest: digest,
            files: vec![dir.envelopes_path(subject)],
            attached: Vec::new(),
            envelope: env,
        });
    }
    // The final VSA: the final stage's report with each platform's verdict replaced by the
    // chain's (so a failed base stage fails it too).
    let mut report = res.fin.report.clone();
    for p in &mut report.platforms {
        if let Some(c) = res
            .report
            .platforms
            .iter()
            .find(|c| c.platform == p.platform && c.os_version == p.os_version)
        {
            p.verdict = c.verdict;
        }
    }
    let mut inputs: Vec<(String, crate::image::Digest)> = provenance
        .iter()
        .map(|w| {
            (
                w.files
                    .first()
                    .map(|f| f.display().to_string())
                    .unwrap_or_default(),
                w.envelope_digest.clone(),
            )
        })
        .collect();
    inputs.push((base_vsa_uri, base.vsa.envelope_digest.clone()));
    let st = ar::vsa_for(&report, req.published, inputs, a.finished_on.clone())?;
    let (env, digest) = sign(&st);
    let subjects = ar::vsa_subjects(&report);
    let mut files = Vec::new();
    for s in &subjects {
        dir.add_envelope(s, &env)?;
        let p = dir.envelopes_path(s);
        if !files.contains(&p) {
            files.push(p);
        }
    }
    let mut vsa = Written {
        predicate_type: VSA_V1.into(),
        subjects,
        platform: None,
        verification_result: st.predicate["verificationResult"]
            .as_str()
            .map(str::to_string),
        envelope_digest: digest,
        files,
        attached: Vec::new(),
        envelope: env,
    };
    if let (true, Some(rebuilt)) = (a.attach, a.rebuilt) {
        let mut store = ar::open_store(rebuilt, a.registry)?;
        for w in &mut provenance {
            for s in &w.subjects {
                let at = ar::attach_to(&mut store, rebuilt, s, &w.envelope, PROVENANCE_V1)?;
                w.attached.push(at);
            }
        }
        let mut store = ar::open_store(req.published, a.registry)?;
        for s in &vsa.subjects {
            let at = ar::attach_to(&mut store, req.published, s, &vsa.envelope, VSA_V1)?;
            vsa.attached.push(at);
        }
    }
    Ok(ChainAttestations {
        base,
        provenance,
        vsa,
    })
}
