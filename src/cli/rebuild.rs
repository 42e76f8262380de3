//! `pause-verify rebuild --image IMAGE [--base IMAGE] [--pins FILE] [--recipe R]
//! [--platform P] [--out DEST] [--strict] [--attest --key K [--attestations-dir DIR]
//! [--attach]]`: rebuild every Windows platform of the published image from its pinned
//! base and say, layer by layer, whether the published image is what the recipe says
//! (`rebuild::rebuild`). Renders `compare::Report` as text or JSON (kind `rebuild`,
//! docs/json-schema.md). With `--attest`, signs the rebuilt image's provenance and the
//! published image's VSA (`rebuild::attest`). Also holds the text renderer `diff` uses.

use super::style::short;
use super::{Global, Outcome};
use anyhow::Context;
use pause_verify::compare::{
    self, Area, Change, Class, PlatformReport, Report, noise, pins::Pins, render_change,
};
use pause_verify::image::{ImageRef, PlatformSelector};
use pause_verify::progress::Progress;
use pause_verify::rebuild::RebuildRequest;
use pause_verify::rebuild::attest as attest_rebuild;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The published image: a manifest or a multi-platform list (oci:, docker-archive:, docker://).
    #[arg(value_name = "IMAGE", required_unless_present = "image_flag")]
    pub image: Option<String>,
    /// The same as IMAGE (the form earlier versions took); give one of them.
    #[arg(long = "image", value_name = "IMAGE", hide = true)]
    pub image_flag: Option<String>,
    /// The base, pinned by digest (a manifest, or a list with each platform's base).
    /// Without it, each platform's base comes from the pins file.
    #[arg(long)]
    pub base: Option<String>,
    /// The pins file (NanoServer digests per os.version). Default: attestations/pins.toml.
    #[arg(long)]
    pub pins: Option<PathBuf>,
    /// The recipe: a directory with a Dockerfile, a Dockerfile, or a TOML recipe (.toml, docs/recipe.md). Default: built-in upstream recipe.
    #[arg(long)]
    pub recipe: Option<PathBuf>,
    /// Only platforms matching windows/amd64[:OSVERSION-PREFIX].
    #[arg(long)]
    pub platform: Option<String>,
    /// Keep the rebuilt image in a new OCI layout (oci:DIR[:TAG] or a path).
    #[arg(long)]
    pub out: Option<String>,
    /// Every change counts (noise included) and tar times are compared.
    #[arg(long)]
    pub strict: bool,
    /// Sign a SLSA provenance for each rebuilt platform image and a SLSA VSA for the published image (docs/provenance.md).
    #[arg(long, requires = "key")]
    pub attest: bool,
    /// The cosign private key for --attest; password from COSIGN_PASSWORD or a prompt.
    #[arg(long, value_name = "FILE", requires = "attest")]
    pub key: Option<PathBuf>,
    /// Append the signed statements to DIR/<subject-hex>.intoto.jsonl.
    #[arg(long, value_name = "DIR", requires = "attest")]
    pub attestations_dir: Option<PathBuf>,
    /// Attach them (.att): provenance to the rebuilt image (needs --out), VSA to the published image.
    #[arg(long, requires = "attest")]
    pub attach: bool,
    /// The recipe's build context (ADD/COPY sources). Default: the recipe's folder.
    #[arg(long, value_name = "DIR", requires = "recipe")]
    pub context: Option<PathBuf>,
    /// A build arg for the recipe's ARGs (KEY=VALUE, repeatable); `BASE` defaults to --base.
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Chained verification (a --base that is itself a pause base): the recipe the base
    /// stage rebuilds it with. Default: the built-in upstream recipe.
    #[arg(long, value_name = "PATH", requires = "base")]
    pub base_recipe: Option<PathBuf>,
    /// Check each base's Notary Project signature (docs/signing.md "Is the base Microsoft's?").
    #[command(flatten)]
    pub notation: super::notation::NotationArgs,
    #[command(flatten)]
    pub link: super::layout::LinkArgs,
    /// Also write the report as Markdown (a PR comment); with GITHUB_STEP_SUMMARY set it is appended there too.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
}

/// SOURCE_DATE_EPOCH from the environment (unset or empty: none).
pub(super) fn source_date_epoch() -> anyhow::Result<Option<i64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) if !s.trim().is_empty() => Ok(Some(s.trim().parse().with_context(|| {
            format!("SOURCE_DATE_EPOCH={s:?} is not a number of seconds since 1970")
        })?)),
        _ => Ok(None),
    }
}

pub(super) fn out_dest(out: &str) -> anyhow::Result<(PathBuf, Option<String>)> {
    if !out.starts_with("oci:") {
        return Ok((PathBuf::from(out), None));
    }
    match out.parse::<ImageRef>()? {
        ImageRef::Layout {
            dir,
            tag,
            digest: None,
        } => Ok((dir, tag)),
        _ => anyhow::bail!("--out {out}: give oci:DIR[:TAG] or a directory path"),
    }
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<Outcome> {
    super::sign::check_attestations_dir(args.attestations_dir.as_deref())?;
    super::markdown::check_path(args.markdown.as_deref())?;
    let image: ImageRef = super::one_image(args.image.clone(), args.image_flag.clone())?
        .parse()
        .context("IMAGE")?;
    let base: Option<ImageRef> = args
        .base
        .as_deref()
        .map(str::parse)
        .transpose()
        .context("--base")?;
    let platform: Option<PlatformSelector> = args
        .platform
        .as_deref()
        .map(str::parse)
        .transpose()
        .context("--platform")?;
    if let Some(b) = &base
        && let Some(outcome) = super::chain::maybe_run(&args, b, &image, platform.as_ref(), g)?
    {
        return Ok(outcome);
    }
    let pins = match (&args.pins, &base) {
        (Some(p), _) => Some(Pins::load(p)?),
        (None, None) => {
            let p = Path::new(compare::pins::DEFAULT_PATH);
            if p.exists() {
                Some(Pins::load(p)?)
            } else {
                None
            }
        }
        (None, Some(_)) => None,
    };
    let recipe = super::chain::load_recipe(&args, base.as_ref())?;
    let (out, tag) = match &args.out {
        Some(o) => {
            let (d, t) = out_dest(o)?;
            (Some(d), t)
        }
        None => (None, None),
    };
    // Everything --attest needs is checked (and the key decrypted) before the rebuild.
    let key = match &args.key {
        Some(k) if args.attest => {
            if args.attestations_dir.is_none() && !args.attach {
                anyhow::bail!("--attest needs --attestations-dir DIR and/or --attach");
            }
            if args.attach && args.out.is_none() {
                anyhow::bail!("--attach stores the provenance with the rebuilt image: give --out");
            }
            if args.attach && matches!(image, ImageRef::Archive { .. }) {
                anyhow::bail!(
                    "--attach: a docker-archive cannot hold attestations; use --attestations-dir only"
                );
            }
            Some(super::sign::load_private_key(k)?)
        }
        _ => None,
    };
    let link = super::layout::link_key(&args.link)?;
    anyhow::ensure!(
        link.is_none() || (base.is_some() && out.is_some()),
        "--link-out records the base read and the image written: give --base and --out"
    );
    let epoch = source_date_epoch()?;
    let started = attest_time(epoch)?;
    let registry = g.registry.options(g.quiet)?;
    let req = RebuildRequest {
        published: &image,
        base: base.as_ref(),
        pins: pins.as_ref(),
        recipe: &recipe,
        platform: platform.as_ref(),
        out: out.as_deref(),
        out_tag: tag.as_deref(),
        source_date_epoch: epoch,
        options: compare::Options {
            strict: args.strict,
        },
        registry: &registry,
    };
    let progress = Progress::new(g.quiet);
    let res = pause_verify::rebuild::rebuild(&req, &progress)?;
    super::markdown::publish(
        &super::markdown::compare(&res.report),
        args.markdown.as_deref(),
    )?;
    let base_sigs = if args.notation.enabled() {
        Some(super::notation::check_bases(
            &args.notation,
            &res.builds,
            &registry,
            g.quiet,
        )?)
    } else {
        None
    };
    if let Some(b) = &base_sigs
        && !b.iter().all(|x| x.verified)
    {
        // The base is not what the trust policy accepts: no provenance is signed.
        if g.json {
            let mut doc = serde_json::to_value(&res.report)?;
            doc["baseSignatures"] = serde_json::to_value(b)?;
            println!("{}", serde_json::to_string_pretty(&doc)?);
        } else {
            print!("{}", human(&res.report));
            super::notation::print_bases(b);
        }
        return Ok(Outcome::Fail);
    }
    let annotations: Vec<_> = base_sigs
        .iter()
        .flatten()
        .filter_map(|b| b.annotations().map(|a| (b.base.clone(), a)))
        .collect();
    if let (Some(link), Some(base), Some(dir), Some(r)) = (&link, &base, &out, &res.report.rebuilt)
    {
        let argv: Vec<String> = std::env::args().collect();
        let product = ImageRef::Layout {
            dir: dir.clone(),
            tag: None,
            digest: Some(r.digest.clone()),
        };
        super::layout::write_links(link, &argv, base, &product, &registry, g.quiet)?;
    } else if link.is_some() {
        eprintln!("pause-verify: nothing was rebuilt, so no in-toto links were written");
    }
    let Some(key) = key else {
        if let Some(b) = &base_sigs {
            if g.json {
                let mut doc = serde_json::to_value(&res.report)?;
                doc["baseSignatures"] = serde_json::to_value(b)?;
                println!("{}", serde_json::to_string_pretty(&doc)?);
                return Ok(if res.report.passes() {
                    Outcome::Pass
                } else {
                    Outcome::Fail
                });
            }
            super::notation::print_bases(b);
        }
        return emit(&res.report, g);
    };
    let rebuilt = out.as_ref().map(|dir| ImageRef::Layout {
        dir: dir.clone(),
        tag: None,
        digest: res.report.rebuilt.as_ref().map(|r| r.digest.clone()),
    });
    let done = attest_rebuild::attest(
        &res.report,
        &res.builds,
        &attest_rebuild::AttestRequest {
            key: &key,
            published: &image,
            rebuilt: rebuilt.as_ref(),
            dir: args.attestations_dir.as_deref(),
            attach: args.attach,
            registry: &registry,
            started_on: Some(started),
            finished_on: Some(attest_time(epoch)?),
            base_signatures: &annotations,
        },
    )?;
    if g.json {
        let mut doc = serde_json::to_value(&res.report)?;
        doc["attestations"] = serde_json::to_value(&done)?;
        if let Some(b) = &base_sigs {
            doc["baseSignatures"] = serde_json::to_value(b)?;
        }
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", human(&res.report));
        if let Some(b) = &base_sigs {
            super::notation::print_bases(b);
        }
        print!("{}", human_attestations(&done));
    }
    Ok(if res.report.passes() {
        Outcome::Pass
    } else {
        Outcome::Fail
    })
}

/// Statement times: SOURCE_DATE_EPOCH when set (reproducible statements), else now.
pub(super) fn attest_time(epoch: Option<i64>) -> anyhow::Result<String> {
    let secs = match epoch {
        Some(e) => e,
        None => {
            let d = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("the system clock is before 1970")?;
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
        }
    };
    Ok(pause_verify::time::rfc3339(secs))
}

fn human_attestations(a: &attest_rebuild::Attestations) -> String {
    let mut s = String::from("\nattestations (key ");
    let _ = writeln!(s, "{}):", a.key_hint);
    let mut one = |what: String, w: &attest_rebuild::Written| {
        let _ = writeln!(s, "  {what}, envelope {}", w.envelope_digest);
        for f in &w.files {
            let _ = writeln!(s, "    wrote {}", f.display());
        }
        for at in &w.attached {
            let _ = writeln!(
                s,
                "    {} {}",
                if at.added == 0 {
                    "already at"
                } else {
                    "attached"
                },
                at.location
            );
        }
    };
    for w in &a.provenance {
        one(
            format!(
                "provenance {} for {}",
                w.platform.as_deref().unwrap_or("?"),
                w.subjects
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            ),
            w,
        );
    }
    one(
        format!(
            "VSA {} for {}",
            a.vsa.verification_result.as_deref().unwrap_or("?"),
            a.vsa
                .subjects
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        &a.vsa,
    );
    s
}

/// Print the report (JSON or text) and pick the outcome.
pub fn emit(r: &Report, g: &Global) -> anyhow::Result<Outcome> {
    if g.json {
        println!("{}", serde_json::to_string_pretty(r)?);
    } else {
        super::style::print(&human(r), g.style());
    }
    Ok(if r.passes() {
        Outcome::Pass
    } else {
        Outcome::Fail
    })
}

/// The human report: the verdict first, then what was compared, a table, and each
/// platform with its security-relevant differences first. Digests are shortened and
/// lines wrapped when printed (`style::print`).
pub fn human(r: &Report) -> String {
    let mut s = String::new();
    let sides = Sides::of(r);
    let _ = writeln!(s, "verdict: {}", r.verdict);
    if r.kind == "diff" {
        // `diff A B`: the inputs as the user named them, A (reference) first.
        if let Some(a) = &r.rebuilt {
            let _ = writeln!(s, "diff A {} ({})", a.reference, a.digest);
        }
        let _ = writeln!(
            s,
            "     B {} ({})",
            r.published.reference, r.published.digest
        );
    } else {
        let _ = writeln!(
            s,
            "{} {} ({})",
            r.kind, r.published.reference, r.published.digest
        );
        if let Some(rb) = &r.rebuilt {
            let _ = writeln!(s, "rebuilt {} ({})", rb.reference, rb.digest);
        }
    }
    let _ = writeln!(
        s,
        "noise rules v{}{}\n",
        r.noise_rules_version,
        if r.strict { ", --strict" } else { "" }
    );
    let _ = writeln!(
        s,
        "{:<30} {:<12} {:<4} {:<6} {:<5} {:<5} UNEXPLAINED",
        "PLATFORM", "VERDICT", "BASE", "LAYERS", "EDITS", "NOISE"
    );
    for p in &r.platforms {
        let base = match &p.base {
            Some(b) if b.ok => "ok",
            Some(_) => "DIFF",
            None => "-",
        };
        let (passing, edits_ok) = (p.layers_passing(), p.edits_present());
        let _ = writeln!(
            s,
            "{:<30} {:<12} {:<4} {:<6} {:<5} {:<5} {}",
            p.platform,
            p.verdict.as_str(),
            base,
            format!("{passing}/{}", p.layers.len()),
            format!("{edits_ok}/{}", p.recipe_edits.len()),
            p.noise.len(),
            p.unexplained.len()
        );
    }
    for p in &r.platforms {
        s.push('\n');
        platform(&mut s, p, &sides);
    }
    s
}

/// What the human report calls its two images: `rebuild` compares the published image
/// with its rebuild; `diff A B` compares B (under test) with A (the reference).
struct Sides {
    tested: &'static str,
    reference: &'static str,
}

impl Sides {
    fn of(r: &Report) -> Sides {
        if r.kind == "diff" {
            Sides {
                tested: "B",
                reference: "A",
            }
        } else {
            Sides {
                tested: "published",
                reference: "rebuilt",
            }
        }
    }
}

/// A change a reviewer must see first: a script or executable, or an autostart location.
fn security_relevant(c: &Change) -> bool {
    match c.area {
        Area::File => noise::is_script_or_exe(&c.path),
        Area::Registry => noise::autostart(&c.path, c.field.as_deref()).is_some(),
        _ => false,
    }
}

pub(super) fn edit_line(e: &compare::EditStatus) -> String {
    let mut line = format!("{:<8} {} {}\\{}", e.status, e.action, e.hive, e.path);
    if let Some(n) = &e.name {
        let _ = write!(line, " {n:?}");
    }
    if let Some(x) = &e.expected {
        let _ = write!(line, " = {x}");
    }
    if let Some(a) = &e.actual {
        let _ = write!(line, " (image: {a})");
    }
    line
}

fn platform(s: &mut String, p: &PlatformReport, sides: &Sides) {
    let _ = writeln!(s, "== {}: {}", p.platform, p.verdict);
    // Security-relevant differences first, each once: recipe registry edits the image
    // lacks or alters, then unexplained executables/scripts and autostart entries.
    let bad_edits: Vec<_> = p
        .recipe_edits
        .iter()
        .filter(|e| e.status != "present")
        .collect();
    let risky: Vec<&Change> = p
        .unexplained
        .iter()
        .filter(|c| c.class == Class::Unexplained && security_relevant(c))
        .collect();
    if !bad_edits.is_empty() || !risky.is_empty() {
        let _ = writeln!(s, "  security-relevant:");
        for e in &bad_edits {
            let _ = writeln!(s, "    recipe edit {}", edit_line(e));
        }
        for c in &risky {
            let _ = writeln!(s, "    {}", render_change(c));
        }
    }
    let _ = writeln!(s, "  {:<9} manifest {}", sides.tested, p.published_manifest);
    if let Some(m) = &p.rebuilt_manifest {
        let _ = writeln!(s, "  {:<9} manifest {m}", sides.reference);
    }
    // Layer and recipe-edit reasons are said where those are listed.
    for r in p
        .reasons
        .iter()
        .filter(|r| !r.starts_with("layer ") && !r.starts_with("recipe edit "))
    {
        let _ = writeln!(s, "  ! {r}");
    }
    if let Some(b) = &p.base {
        let _ = writeln!(
            s,
            "  base: {} ({} {}{})",
            if b.ok { "ok" } else { "MISMATCH" },
            b.source,
            b.reference,
            b.manifest
                .as_ref()
                .map(|m| format!(", manifest {m}"))
                .unwrap_or_default()
        );
        for l in &b.layers {
            let _ = writeln!(
                s,
                "    layer {}: pinned {} {} {} {}",
                l.index,
                l.pinned_digest,
                sides.tested,
                l.published_digest
                    .as_ref()
                    .map_or_else(|| "(none)".to_string(), |d| d.to_string()),
                if l.ok { "ok" } else { "MISMATCH" }
            );
        }
    }
    if !p.layers.is_empty() {
        let _ = writeln!(
            s,
            "  layers (registry compared as {} views):",
            p.registry_mode
        );
        for l in &p.layers {
            let side = |x: &Option<compare::LayerId>| {
                x.as_ref().map_or_else(
                    || "-".to_string(),
                    |l| format!("#{} {}", l.index, short(&l.digest)),
                )
            };
            let _ = writeln!(
                s,
                "    {} {:<24} {} {:<24} {:<12} {}",
                sides.tested,
                side(&l.published),
                sides.reference,
                side(&l.rebuilt),
                l.verdict.as_str(),
                l.step.as_deref().unwrap_or("")
            );
            let _ = writeln!(s, "      {}", l.reason);
        }
    }
    if !p.recipe_edits.is_empty() {
        let _ = writeln!(
            s,
            "  recipe edits: {} of {} present",
            p.recipe_edits.len() - bad_edits.len(),
            p.recipe_edits.len()
        );
        for e in p.recipe_edits.iter().filter(|e| e.status == "present") {
            let _ = writeln!(s, "    {}", edit_line(e));
        }
    }
    let c = &p.config;
    let _ = writeln!(s, "  config: {}", c.verdict);
    for d in &c.differences {
        let _ = writeln!(
            s,
            "    {}{}: expected {}, found {}",
            d.field,
            if d.significant { "" } else { " (noise)" },
            d.expected,
            d.actual
        );
    }
    if !p.noise.is_empty() {
        let _ = writeln!(s, "  noise ({}):", p.noise.len());
        for c in &p.noise {
            let _ = writeln!(
                s,
                "    [{}] {}",
                c.rule.as_deref().unwrap_or("?"),
                render_change(c)
            );
        }
    }
    let rest: Vec<&Change> = p
        .unexplained
        .iter()
        .filter(|c| c.class == Class::Unexplained && !security_relevant(c))
        .collect();
    if !rest.is_empty() {
        let _ = writeln!(s, "  unexplained ({}):", rest.len());
        for c in rest {
            let _ = writeln!(s, "    {}", render_change(c));
        }
    }
}
