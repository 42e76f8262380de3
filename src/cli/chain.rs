//! `pause-verify rebuild --image FINAL --base PAUSE_BASE@DIGEST --recipe Dockerfile_windows
//! --context DIR`: when `--base` is itself a pause base (its layers strictly extend a
//! NanoServer pin), the rebuild verifies the chain (`pause_verify::chain`): the base
//! stage rebuilds the pause base from its pin, the final stage rebuilds the final image on
//! it. Renders the chain report (kind `chain`, docs/json-schema.md). Also the recipe and
//! `--build-arg` reading `build` and `rebuild` share.

use super::rebuild::Args;
use super::{Global, Outcome};
use anyhow::Context as _;
use pause_verify::compare::{self, pins::Pins};
use pause_verify::image::{ImageRef, PlatformSelector};
use pause_verify::progress::Progress;
use pause_verify::rebuild::chain::{self, ChainReport, ChainRequest};
use pause_verify::recipe::{self, LoadOptions, Recipe};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// `--build-arg KEY=VALUE` flags.
pub fn parse_build_args(args: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for a in args {
        let (k, v) = a
            .split_once('=')
            .with_context(|| format!("--build-arg {a:?}: expected KEY=VALUE"))?;
        if k.is_empty() || k.contains(char::is_whitespace) {
            anyhow::bail!("--build-arg {a:?}: the name before '=' must be a non-empty ARG name");
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// The rebuild's recipe: `--recipe` with `--context` and `--build-arg` (`BASE` defaults to
/// `--base`), else the built-in one.
pub fn load_recipe(args: &Args, base: Option<&ImageRef>) -> anyhow::Result<Recipe> {
    let build_args = parse_build_args(&args.build_args)?;
    Ok(match &args.recipe {
        Some(p) => recipe::load_with(
            p,
            &LoadOptions {
                build_args,
                implicit_args: base
                    .map(|b| [("BASE".to_string(), b.to_string())].into())
                    .unwrap_or_default(),
                context: args.context.clone(),
            },
        )?,
        None => recipe::builtin_with_args(&build_args),
    })
}

/// Run the chained verification when `base` is a pause base; `None`: an ordinary rebuild.
pub fn maybe_run(
    args: &Args,
    base: &ImageRef,
    image: &ImageRef,
    platform: Option<&PlatformSelector>,
    g: &Global,
) -> anyhow::Result<Option<Outcome>> {
    let pins = match &args.pins {
        Some(p) => Pins::load(p)?,
        None => {
            let p = Path::new(compare::pins::DEFAULT_PATH);
            if !p.exists() {
                return Ok(None);
            }
            Pins::load(p)?
        }
    };
    let registry = g.registry.options(g.quiet)?;
    if !chain::base_is_derived(base, &pins, platform, &registry)? {
        return Ok(None);
    }
    // Everything --attest needs is checked (and the key decrypted) before the rebuild.
    let key = match &args.key {
        Some(k) if args.attest => {
            if args.attach && args.out.is_none() {
                anyhow::bail!("--attach stores the provenance with the rebuilt image: give --out");
            }
            if args.attach && matches!(image, ImageRef::Archive { .. }) {
                anyhow::bail!(
                    "--attach: a docker-archive cannot hold attestations; use --attestations-dir only"
                );
            }
            if args.attestations_dir.is_none() {
                anyhow::bail!("--attest of a chain needs --attestations-dir DIR");
            }
            Some(super::sign::load_private_key(k)?)
        }
        _ => None,
    };
    let base_recipe = match &args.base_recipe {
        Some(p) => recipe::load(p, &BTreeMap::new())?,
        None => recipe::builtin(),
    };
    let recipe = load_recipe(args, Some(base))?;
    let (out, tag) = match &args.out {
        Some(o) => {
            let (d, t) = super::rebuild::out_dest(o)?;
            (Some(d), t)
        }
        None => (None, None),
    };
    let epoch = super::rebuild::source_date_epoch()?;
    let started = attest_time(epoch)?;
    let req = ChainRequest {
        published: image,
        base,
        pins: &pins,
        base_recipe: &base_recipe,
        recipe: &recipe,
        platform,
        out: out.as_deref(),
        out_tag: tag.as_deref(),
        source_date_epoch: epoch,
        options: compare::Options {
            strict: args.strict,
        },
        registry: &registry,
    };
    let res = chain::verify(&req, &Progress::new(g.quiet))?;
    super::markdown::publish(
        &super::markdown::chain(&res.report),
        args.markdown.as_deref(),
    )?;
    // The base stage's NanoServer, checked against the trust policy as `rebuild` checks
    // its base: an unverified one fails the chain and nothing is signed.
    let base_sigs = if args.notation.enabled() {
        Some(super::notation::check_bases(
            &args.notation,
            &res.base.builds,
            &registry,
            g.quiet,
        )?)
    } else {
        None
    };
    let sigs_ok = base_sigs.iter().flatten().all(|b| b.verified);
    let annotations: Vec<_> = base_sigs
        .iter()
        .flatten()
        .filter_map(|b| b.annotations().map(|a| (b.base.clone(), a)))
        .collect();
    // The final image as kept by --out, by the digest the chain rebuilt.
    let rebuilt = out.as_ref().map(|dir| ImageRef::Layout {
        dir: dir.clone(),
        tag: None,
        digest: res.fin.report.rebuilt.as_ref().map(|r| r.digest.clone()),
    });
    let done = match (&key, &args.attestations_dir) {
        _ if !sigs_ok => None,
        (Some(key), Some(dir)) => {
            let context = args
                .context
                .clone()
                .or_else(|| recipe_folder(args.recipe.as_deref()?));
            let info = match context.map(|c| c.join("build-info.txt")) {
                Some(p) if p.is_file() => {
                    let text = std::fs::read_to_string(&p)
                        .with_context(|| format!("reading {}", p.display()))?;
                    Some(
                        chain::parse_build_info(&text)
                            .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
                    )
                }
                _ => None,
            };
            Some(chain::attest(
                &req,
                &res,
                &chain::ChainAttestRequest {
                    key,
                    dir,
                    build_info: info.as_ref(),
                    registry: &registry,
                    started_on: Some(started),
                    finished_on: Some(attest_time(epoch)?),
                    base_signatures: &annotations,
                    attach: args.attach,
                    rebuilt: rebuilt.as_ref(),
                },
            )?)
        }
        _ => None,
    };
    if g.json {
        let mut doc = serde_json::to_value(&res.report)?;
        if let Some(d) = &done {
            doc["attestations"] = serde_json::to_value(d)?;
        }
        if let Some(b) = &base_sigs {
            doc["baseSignatures"] = serde_json::to_value(b)?;
        }
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", human(&res.report));
        if let Some(b) = &base_sigs {
            super::notation::print_bases(b);
        }
        if let Some(d) = &done {
            print!("{}", human_attestations(d));
        }
    }
    Ok(Some(if res.report.passes() && sigs_ok {
        Outcome::Pass
    } else {
        Outcome::Fail
    }))
}

/// The human chain report: one line per platform, then both stages' reports.
pub fn human(r: &ChainReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "chain {} on {}\n",
        r.final_stage.published.reference, r.base_stage.published.reference
    );
    let _ = writeln!(
        s,
        "{:<34} {:<13} {:<13} {:<13} FAILED STAGE",
        "PLATFORM", "VERDICT", "BASE", "FINAL"
    );
    for p in &r.platforms {
        let _ = writeln!(
            s,
            "{:<34} {:<13} {:<13} {:<13} {}",
            p.platform,
            p.verdict.as_str(),
            p.base_verdict.map_or("-", |v| v.as_str()),
            p.final_verdict.as_str(),
            p.failed_stage.as_deref().unwrap_or("-")
        );
        for why in &p.reasons {
            let _ = writeln!(s, "  ! {why}");
        }
    }
    let _ = writeln!(s, "\n--- stage base (the pause base from its pin)");
    s.push_str(&super::rebuild::human(&r.base_stage));
    let _ = writeln!(s, "\n--- stage final (the final image on the pause base)");
    s.push_str(&super::rebuild::human(&r.final_stage));
    let _ = writeln!(s, "\nchain verdict: {}", r.verdict);
    s
}

/// The folder of a recipe path (itself when it is a folder).
fn recipe_folder(p: &Path) -> Option<std::path::PathBuf> {
    if p.is_dir() {
        Some(p.to_path_buf())
    } else {
        p.parent().map(Path::to_path_buf)
    }
}

fn attest_time(epoch: Option<i64>) -> anyhow::Result<String> {
    super::rebuild::attest_time(epoch)
}

fn human_attestations(a: &chain::ChainAttestations) -> String {
    let mut s = String::from("\nattestations:\n");
    let mut one = |what: &str, w: &pause_verify::rebuild::attest::Written| {
        let _ = writeln!(
            s,
            "  {what} {}, envelope {}",
            w.platform
                .as_deref()
                .or(w.verification_result.as_deref())
                .unwrap_or(""),
            w.envelope_digest
        );
        for f in &w.files {
            let _ = writeln!(s, "    wrote {}", f.display());
        }
        for at in &w.attached {
            let verb = if at.added == 0 {
                "already at"
            } else {
                "attached"
            };
            let _ = writeln!(s, "    {verb} {}", at.location);
        }
    };
    for w in &a.base.provenance {
        one("base provenance", w);
    }
    one("base VSA", &a.base.vsa);
    for w in &a.provenance {
        one("final provenance", w);
    }
    one("final VSA", &a.vsa);
    s
}

/// The final recipe a `[rebuild.chain]` policy names, with its context and build args
/// (`BASE` defaults to the pause base).
pub fn policy_recipe(path: &Path, c: &pause_verify::policy::LoadedChain) -> anyhow::Result<Recipe> {
    recipe::load_with(
        path,
        &LoadOptions {
            build_args: c.build_args.clone(),
            implicit_args: [("BASE".to_string(), c.pause_base.to_string())].into(),
            context: c.context.clone(),
        },
    )
    .with_context(|| format!("the policy's rebuild.recipe {}", path.display()))
}

/// `audit` with `[rebuild.chain]`: the chained rebuild, as platform reports the audit
/// checks read: the final stage's, each with the chain's verdict, the failed stage in its
/// reasons, and the base stage's noise and recipe edits added (so `rebuild.noise` and
/// `image-edits` cover both stages). A
/// usage problem is an error (exit 2); anything else that stops the chain fails the
/// rebuild checks with the reason.
pub fn audit_rebuild(
    published: &ImageRef,
    p: &pause_verify::policy::Loaded,
    c: &pause_verify::policy::LoadedChain,
    recipe: &Recipe,
    registry: &pause_verify::image::registry::RegistryOptions,
    progress: &Progress,
) -> anyhow::Result<Result<Vec<compare::PlatformReport>, String>> {
    let Some(pins) = p.rebuild_pins.as_ref() else {
        anyhow::bail!(
            "[rebuild.chain] needs the NanoServer pins the pause base is rebuilt from: [pins] file or --pins"
        );
    };
    let base_recipe = match &c.base_recipe {
        Some(r) => recipe::load(r, &BTreeMap::new())
            .with_context(|| format!("the policy's rebuild.chain.base_recipe {}", r.display()))?,
        None => recipe::builtin(),
    };
    let req = ChainRequest {
        published,
        base: &c.pause_base,
        pins,
        base_recipe: &base_recipe,
        recipe,
        platform: None,
        out: None,
        out_tag: None,
        source_date_epoch: None,
        options: compare::Options::default(),
        registry,
    };
    match chain::verify(&req, progress) {
        Ok(res) => {
            let mut platforms = res.fin.report.platforms;
            for fp in &mut platforms {
                let Some(cp) = res
                    .report
                    .platforms
                    .iter()
                    .find(|x| x.platform == fp.platform && x.os_version == fp.os_version)
                else {
                    continue;
                };
                fp.verdict = cp.verdict;
                if let Some(stage) = &cp.failed_stage {
                    let mut reasons: Vec<String> = cp
                        .reasons
                        .iter()
                        .map(|r| format!("chain stage {stage}: {r}"))
                        .collect();
                    reasons.append(&mut fp.reasons);
                    fp.reasons = reasons;
                }
                if let Some(bp) = res
                    .base
                    .report
                    .platforms
                    .iter()
                    .find(|b| b.platform == fp.platform && b.os_version == fp.os_version)
                {
                    fp.noise.extend(bp.noise.iter().cloned());
                    // The pause base's registry edits, looked up in the pause base whose
                    // layers the final image starts with (checked by digest).
                    fp.recipe_edits.extend(bp.recipe_edits.iter().cloned());
                }
            }
            Ok(Ok(platforms))
        }
        Err(e) if e.is_usage() => {
            Err(anyhow::Error::new(e).context("the chained rebuild cannot run"))
        }
        Err(e) => Ok(Err(format!("{:#}", anyhow::Error::new(e)))),
    }
}
