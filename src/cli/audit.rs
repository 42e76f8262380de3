//! `pause-verify audit --image IMAGE [--key PUB …] [--policy FILE] [--base IMAGE]
//! [--pins FILE] [--json] [--json-out FILE] [--junit FILE] [--vsa-out FILE [--sign-key K]]
//! [--attestations-dir DIR]`: the release gate. Loads the policy (docs/policy.md),
//! rebuilds and compares every platform when the policy asks (`rebuild::rebuild`, base
//! from `--base` / `rebuild.base` or each platform's pin), gathers the facts
//! (`audit::collect`), evaluates every check per platform and renders the report; exit 0
//! only when every required check passes, 1 when one fails, 2 on errors (bad policy,
//! unreadable image, no base to rebuild from). Offline when the image and the base are
//! OCI layouts and attestations come from the layout or a directory.

use super::style::{self, say};
use super::{Global, Outcome};
use anyhow::Context;
use pause_verify::attest::attach::Store;
use pause_verify::attest::storage::AttestationsDir;
use pause_verify::attest::{PublicKey, Verified};
use pause_verify::audit::{self, CheckResult, Report, Status, collect, junit, vsa};
use pause_verify::compare::{self, PlatformReport};
use pause_verify::image::registry::RegistryOptions;
use pause_verify::image::{Digest, ImageRef};
use pause_verify::policy;
use pause_verify::progress::Progress;
use pause_verify::rebuild::RebuildRequest;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The image: oci:DIR[:TAG|@DIGEST], docker://HOST/REPO[:TAG|@DIGEST] or docker-archive:FILE.
    #[arg(value_name = "IMAGE", required_unless_present = "image_flag")]
    pub image: Option<String>,
    /// The same as IMAGE (the form earlier versions took); give one of them.
    #[arg(long = "image", value_name = "IMAGE", hide = true)]
    pub image_flag: Option<String>,
    /// A public key (PEM) signatures and attestations may be signed with; repeatable. Added to the policy's keys.
    #[arg(long, value_name = "PUB")]
    pub key: Vec<PathBuf>,
    /// The policy (TOML, docs/policy.md). Default: the upstream recipe, every platform, signed by --key, base pinned when pins are given.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The NanoServer base to rebuild from, pinned by digest (a manifest, or a list with each platform's base). Replaces the policy's rebuild.base; without either, each platform's pin names its base.
    #[arg(long, value_name = "IMAGE")]
    pub base: Option<String>,
    /// A pins file (attestations/pins.toml format), added to the policy's pins. Without it the default policy reads ./attestations/pins.toml when that exists.
    #[arg(long, value_name = "FILE")]
    pub pins: Option<PathBuf>,
    /// Also write the JSON document (as --json prints it) to FILE, with the human report on stdout.
    #[arg(long, value_name = "FILE")]
    pub json_out: Option<PathBuf>,
    /// Also write the report as JUnit XML (one test case per check per platform).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write the report as Markdown (a PR comment); with GITHUB_STEP_SUMMARY set it is appended there too.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write the audit's SLSA verification summary (VSA v1): a DSSE envelope with --sign-key, else the bare statement.
    #[arg(long, value_name = "FILE")]
    pub vsa_out: Option<PathBuf>,
    /// The cosign private key that signs the VSA (password from COSIGN_PASSWORD or a prompt).
    #[arg(long, value_name = "KEY", requires = "vsa_out")]
    pub sign_key: Option<PathBuf>,
    /// Also read signatures and attestations from this directory (air-gapped use).
    #[arg(long, value_name = "DIR")]
    pub attestations_dir: Option<PathBuf>,
    /// The Sigstore trusted root (trusted_root.json) the policy's keyless identities are verified against; replaces signatures.trusted_root.
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// A keyless signer's certificate identity (SAN), exactly; added to the policy's identities (needs --certificate-oidc-issuer, and a trusted root from --trusted-root or the policy).
    #[arg(
        long,
        value_name = "ID",
        requires = "certificate_oidc_issuer",
        conflicts_with = "certificate_identity_regexp"
    )]
    pub certificate_identity: Option<String>,
    /// Or a regular expression the whole certificate identity must match (anchored).
    #[arg(long, value_name = "REGEXP", requires = "certificate_oidc_issuer")]
    pub certificate_identity_regexp: Option<String>,
    /// The OIDC issuer that keyless signer's certificate must name, exactly.
    #[arg(long, value_name = "URL")]
    pub certificate_oidc_issuer: Option<String>,
}

/// The report files are written after the whole audit: one that names an input (or a
/// directory, or another report) would destroy that input or fail only at the end, so
/// refuse it before any work.
fn check_report_paths(args: &Args) -> anyhow::Result<()> {
    let outputs = [
        ("--json-out", args.json_out.as_deref()),
        ("--junit", args.junit.as_deref()),
        ("--markdown", args.markdown.as_deref()),
        ("--vsa-out", args.vsa_out.as_deref()),
    ];
    let mut inputs: Vec<(&str, &Path)> = args.key.iter().map(|k| ("--key", k.as_path())).collect();
    inputs.extend(args.policy.as_deref().map(|p| ("--policy", p)));
    inputs.extend(args.pins.as_deref().map(|p| ("--pins", p)));
    inputs.extend(args.sign_key.as_deref().map(|p| ("--sign-key", p)));
    inputs.extend(args.trusted_root.as_deref().map(|p| ("--trusted-root", p)));
    let same = |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => matches!((std::path::absolute(a), std::path::absolute(b)), (Ok(x), Ok(y)) if x == y),
    };
    for (i, (flag, out)) in outputs.iter().enumerate() {
        let Some(out) = out else { continue };
        anyhow::ensure!(
            !out.is_dir(),
            "{flag} {}: is a directory; give a file path",
            out.display()
        );
        for (input_flag, input) in &inputs {
            anyhow::ensure!(
                !same(out, input),
                "{flag} {}: that is the {input_flag} input; write the report to another file",
                out.display()
            );
        }
        for (other_flag, other) in &outputs[i + 1..] {
            if let Some(other) = other {
                anyhow::ensure!(
                    !same(out, other),
                    "{flag} and {other_flag} both name {}; give each report its own file",
                    out.display()
                );
            }
        }
    }
    Ok(())
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<Outcome> {
    check_report_paths(&args)?;
    let identities: Vec<policy::Identity> = match &args.certificate_oidc_issuer {
        Some(issuer) => {
            anyhow::ensure!(
                args.certificate_identity.is_some() || args.certificate_identity_regexp.is_some(),
                "--certificate-oidc-issuer needs --certificate-identity or --certificate-identity-regexp"
            );
            vec![policy::Identity {
                issuer: issuer.clone(),
                subject: args.certificate_identity.clone().unwrap_or_default(),
                subject_regexp: args.certificate_identity_regexp.clone(),
            }]
        }
        None => Vec::new(),
    };
    let loaded = policy::load(
        args.policy.as_deref(),
        &policy::CliInputs {
            keys: &args.key,
            pins: args.pins.as_deref(),
            base: args.base.as_deref(),
            default_pins: Some(Path::new(compare::pins::DEFAULT_PATH)),
            trusted_root: args.trusted_root.as_deref(),
            identities: &identities,
        },
    )?;
    // Fail fast on what would stop the rebuild later (exit 2), before any network.
    let recipe = if loaded.policy.rebuild.required {
        anyhow::ensure!(
            loaded.base.is_some() || loaded.rebuild_pins.is_some(),
            "the policy requires a rebuild but no base is given: pass --base IMAGE@sha256:… or --pins FILE \
             (the default policy also reads ./attestations/pins.toml), or set [rebuild] base or [pins] file in the policy"
        );
        Some(match (&loaded.recipe, &loaded.chain) {
            (Some(p), Some(c)) => super::chain::policy_recipe(p, c)?,
            (Some(p), None) => pause_verify::recipe::load(p, &Default::default())
                .with_context(|| format!("the policy's rebuild.recipe {}", p.display()))?,
            (None, _) => pause_verify::recipe::builtin(),
        })
    } else {
        None
    };
    // Decrypt the VSA key before the (long) audit so a wrong password fails fast.
    let sign_key = args
        .sign_key
        .as_deref()
        .map(super::sign::load_private_key)
        .transpose()?;
    let r: ImageRef = super::one_image(args.image.clone(), args.image_flag.clone())?.parse()?;
    let registry = g.registry.options(g.quiet)?;
    let store = Store::open(&r, &registry).with_context(|| format!("opening {r}"))?;
    let dir = args.attestations_dir.as_ref().map(AttestationsDir::new);
    if let Some(d) = &dir {
        anyhow::ensure!(
            d.root.is_dir(),
            "--attestations-dir {}: not a directory",
            d.root.display()
        );
    }
    let keys: Vec<PublicKey> = loaded.keys.iter().map(|(_, k)| k.clone()).collect();
    if !g.quiet {
        eprintln!(
            "pause-verify: auditing {r} against {} ({} key(s))",
            loaded.uri,
            keys.len()
        );
    }
    let rebuilt = match &recipe {
        Some(recipe) => {
            // Rebuild exactly the root the store resolved (a tag could move meanwhile).
            let root = store
                .root()
                .with_context(|| format!("reading {r}"))?
                .descriptor()
                .digest
                .clone();
            Some(rebuild_image(
                &r.by_digest(&root).unwrap_or_else(|| r.clone()),
                &loaded,
                recipe,
                &registry,
                &Progress::new(g.quiet),
            )?)
        }
        None => None,
    };
    let facts = collect::collect(&collect::Inputs {
        reference: &r,
        store: &store,
        keys: &keys,
        keyless: loaded.keyless.as_ref(),
        dir: dir.as_ref(),
        rebuild: rebuilt.as_ref(),
    })
    .with_context(|| format!("reading {r}"))?;
    let mut facts = facts;
    if let Some(n) = &loaded.base_notation {
        base_signatures(&mut facts, n, &loaded, &registry, g.quiet)?;
    }
    let report = audit::evaluate(&loaded, &facts);

    if let Some(p) = &args.junit {
        write(p, junit::render(&report)?.as_bytes())?;
    }
    if let Some(p) = &args.vsa_out {
        let inputs = input_attestations(&facts);
        let resource = resource_uri(&r, &report.image.digest);
        let stmt = vsa::statement(&report, &resource, inputs, Some(vsa::rfc3339(now()?)))?;
        let mut bytes = match &sign_key {
            Some(k) => vsa::sign(&stmt, k).to_json(),
            None => stmt.to_json(),
        };
        bytes.push(b'\n');
        write(p, &bytes)?;
    }
    super::markdown::publish(&super::markdown::audit(&report), args.markdown.as_deref())?;
    if let Some(p) = &args.json_out {
        let mut doc = serde_json::to_vec_pretty(&report)?;
        doc.push(b'\n');
        write(p, &doc)?;
    }
    if g.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        style::print(&human(&report), g.style());
    }
    Ok(if report.passed {
        Outcome::Pass
    } else {
        Outcome::Fail
    })
}

/// Rebuild and compare every Windows platform of `published` (`rebuild::rebuild`). A
/// usage problem (no pin names a base image, bad pins) is an error (exit 2); anything
/// else that stops the rebuild becomes the reason its three checks fail (exit 1), so
/// the gate fails closed on a broken or unreadable image.
fn rebuild_image(
    published: &ImageRef,
    p: &policy::Loaded,
    recipe: &pause_verify::recipe::Recipe,
    registry: &RegistryOptions,
    progress: &Progress,
) -> anyhow::Result<Result<Vec<PlatformReport>, String>> {
    if let Some(c) = &p.chain {
        return super::chain::audit_rebuild(published, p, c, recipe, registry, progress);
    }
    let req = RebuildRequest {
        published,
        base: p.base.as_ref().map(|(_, b)| b),
        pins: p.rebuild_pins.as_ref(),
        recipe,
        platform: None,
        out: None,
        out_tag: None,
        // The published config's `created`: an image built with any clock rebuilds.
        source_date_epoch: None,
        options: compare::Options::default(),
        registry,
    };
    match pause_verify::rebuild::rebuild(&req, progress) {
        Ok(res) => {
            let mut platforms = res.report.platforms;
            // compare names a given base `--base`; say where it really came from.
            if let Some((source, _)) = &p.base {
                for b in platforms.iter_mut().filter_map(|x| x.base.as_mut()) {
                    if b.source == "--base" {
                        b.source.clone_from(source);
                    }
                }
            }
            Ok(Ok(platforms))
        }
        Err(e) if e.is_usage() => Err(anyhow::Error::new(e).context("the rebuild cannot run")),
        Err(e) => Ok(Err(format!("{:#}", anyhow::Error::new(e)))),
    }
}

/// `[base] notation`: each rebuilt platform's base manifest, its Notary signatures
/// verified where the base is read from (`--base` / `rebuild.base`, else the pin's image).
/// A trust policy or store that cannot be used is bad input (exit 2); a base that cannot
/// be read fails the check.
fn base_signatures(
    facts: &mut audit::ImageFacts,
    n: &policy::LoadedBaseNotation,
    loaded: &policy::Loaded,
    registry: &RegistryOptions,
    quiet: bool,
) -> anyhow::Result<()> {
    use pause_verify::attest::attach;
    use pause_verify::notary::stored;
    for p in &mut facts.platforms {
        let Some(Ok(rf)) = &mut p.rebuild else {
            continue;
        };
        let Some(base) = rf.base.as_ref().and_then(|b| b.manifest.clone()) else {
            rf.base_signatures = Some(Err("the base manifest digest is not known".into()));
            continue;
        };
        let base_ref: Option<ImageRef> = match &loaded.base {
            Some((_, b)) => Some(b.clone()),
            None => loaded
                .rebuild_pins
                .as_ref()
                .and_then(|ps| ps.pins.iter().find(|x| x.manifest.as_ref() == Some(&base)))
                .and_then(|x| x.image.as_deref())
                .and_then(|i| i.parse().ok()),
        };
        let Some(base_ref) = base_ref else {
            rf.base_signatures = Some(Err(format!(
                "no image to read base {base}'s signatures from (give --base, rebuild.base or a pin with image)"
            )));
            continue;
        };
        let scope = n.scope.clone().or_else(|| match &base_ref {
            ImageRef::Registry {
                registry,
                repository,
                ..
            } => Some(format!("{registry}/{repository}")),
            _ => None,
        });
        let trust = super::notation::load(&n.trust_policy, &n.trust_store, scope.as_deref())
            .context("[base] notation")?;
        if !quiet {
            for w in &trust.warnings {
                eprintln!("pause-verify: warning: [base] notation: {w}");
            }
        }
        let checked = (|| -> anyhow::Result<Vec<audit::BaseSignatureFact>> {
            let store = Store::open(&base_ref, registry)?;
            let root = store.root()?;
            let mut descs = vec![root.descriptor().clone()];
            descs.extend(attach::children(&store, &root, None, true)?);
            let d = descs
                .into_iter()
                .find(|d| d.digest == base)
                .with_context(|| format!("{base_ref} does not hold the base manifest {base}"))?;
            let checks = stored::check_subject(
                &store,
                &d,
                &trust.trust,
                super::notation::now(),
                &super::notation::timestamps(),
            )?;
            Ok(checks
                .into_iter()
                .map(|c| {
                    let manifest = c
                        .source
                        .strip_prefix("referrer ")
                        .and_then(|x| x.parse().ok())
                        .unwrap_or_else(|| base.clone());
                    match c.result {
                        Ok(v) => audit::BaseSignatureFact {
                            manifest,
                            reason: "verified".into(),
                            message: format!(
                                "{} {}, trust store {}, policy {} {}",
                                v.envelope, v.algorithm, v.trust_store, v.trust_policy, v.level
                            ),
                            signer: Some(v.signer),
                        },
                        Err(f) => audit::BaseSignatureFact {
                            manifest,
                            reason: f.code().into(),
                            message: f.to_string(),
                            signer: None,
                        },
                    }
                })
                .collect())
        })();
        rf.base_signatures = Some(checked.map_err(|e| format!("{e:#}")));
    }
    Ok(())
}

fn write(p: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    pause_verify::atomic::write(p, bytes).with_context(|| format!("writing {}", p.display()))
}

/// Seconds for `timeVerified`: SOURCE_DATE_EPOCH when set (reproducible runs), else now.
fn now() -> anyhow::Result<i64> {
    if let Ok(s) = std::env::var("SOURCE_DATE_EPOCH") {
        return s
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={s:?} is not a number of seconds"));
    }
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?;
    Ok(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The image by digest, as the VSA's `resourceUri`.
fn resource_uri(r: &ImageRef, digest: &Digest) -> String {
    match r {
        ImageRef::Registry {
            registry,
            repository,
            ..
        } => format!("docker://{registry}/{repository}@{digest}"),
        ImageRef::Layout { dir, .. } => format!("oci:{}@{digest}", dir.display()),
        other => format!("{other}@{digest}"),
    }
}

/// Every verified attestation the audit saw, by source and digest (deduplicated).
fn input_attestations(f: &audit::ImageFacts) -> Vec<(String, Digest)> {
    let mut out: Vec<(String, Digest)> = Vec::new();
    let all = f
        .root_attestations
        .iter()
        .chain(f.platforms.iter().flat_map(|p| &p.attestations));
    for a in all {
        if let (Ok(Verified { .. }), Some(d)) = (&a.check.result, &a.digest) {
            let entry = (a.check.source.clone(), d.clone());
            if !out.contains(&entry) {
                out.push(entry);
            }
        }
    }
    out
}

fn print_check(out: &mut String, c: &CheckResult, evidence: bool) {
    say!(
        out,
        "  {:<4}  {:<22} {}",
        c.status.as_str(),
        c.name(),
        c.message
    );
    if evidence {
        for e in &c.evidence {
            match &e.digest {
                Some(d) => say!(out, "          - {} {d}: {}", e.what, e.found),
                None => say!(out, "          - {}: {}", e.what, e.found),
            }
        }
    }
}

/// The human report, verdict first.
fn human(report: &Report) -> String {
    let mut text = String::new();
    let out = &mut text;
    let failed: Vec<String> = report
        .failures()
        .map(|c| format!("{} on {}", c.name(), c.platform))
        .collect();
    if failed.is_empty() {
        say!(out, "PASS: every required check passed");
    } else {
        say!(
            out,
            "FAIL: {} check(s) failed: {}",
            failed.len(),
            failed.join(", ")
        );
    }
    say!(
        out,
        "audit of {} ({})\npolicy: {} ({})",
        report.image.reference,
        report.image.digest,
        report.policy.name,
        report.policy.uri
    );
    say!(
        out,
        "rule: {}",
        if report.rule == "any" {
            "any ([signatures] rule = \"any\"): one verified signature / attestation per check suffices"
        } else {
            "all: at least one, and every signature / attestation found, must verify"
        }
    );
    let mut groups: Vec<&str> = Vec::new();
    for c in &report.checks {
        if !groups.contains(&c.platform.as_str()) {
            groups.push(&c.platform);
        }
    }
    for g in groups {
        let checks: Vec<&CheckResult> = report.checks.iter().filter(|c| c.platform == g).collect();
        let status = if checks.iter().any(|c| c.status == Status::Fail) {
            "FAIL"
        } else {
            "PASS"
        };
        say!(out, "\n{g}  {status}");
        for c in checks {
            print_check(out, c, c.status == Status::Fail);
        }
    }
    text
}
