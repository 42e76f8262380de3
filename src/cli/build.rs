//! `pause-verify build --base IMAGE --out DEST [--recipe R] [--platform P]`: build the
//! pause base from a pinned base image and a recipe (built-in default: the upstream
//! recipe) into any destination `image::open_sink` opens: an OCI layout, a registry
//! (`docker://`), a docker-archive (`docker save` tar, one platform only) or a `dir:`
//! directory. Renders `build::BuildSet` (human report or `--json`, kind `build`,
//! docs/json-schema.md). A new DEST appears only when the build succeeded.

use super::{Global, Outcome};
use anyhow::Context as _;
use pause_verify::build::{self, BuildOptions, BuildOutput};
use pause_verify::image::layout::LayoutSink;
use pause_verify::image::{
    self, Descriptor, ImageRef, ImageSink, LayoutWriter, PlatformSelector, Root,
};
use pause_verify::progress::Progress;
use pause_verify::recipe;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The base image, pinned by digest: oci:DIR@sha256:…, docker://HOST/REPO@sha256:…
    #[arg(long)]
    pub base: String,
    /// Where to write: an OCI layout, oci:DIR[:TAG] (or a plain directory path), a registry
    /// docker://HOST/REPO[:TAG], a docker-archive (`docker save` tar)
    /// docker-archive:FILE[:NAME:TAG] (one platform), or dir:DIR (one platform or a list).
    #[arg(long)]
    pub out: String,
    /// The recipe: a directory with a Dockerfile (e.g. a windows-pause-image-base
    /// checkout), a Dockerfile, or a TOML recipe (.toml, docs/recipe.md). Default: the
    /// built-in upstream recipe.
    #[arg(long)]
    pub recipe: Option<PathBuf>,
    /// Build one platform of a multi-platform base: windows/amd64[:OSVERSION-PREFIX].
    /// Without it, a multi-platform base is built for every platform, into an index.
    #[arg(long)]
    pub platform: Option<String>,
    /// Accept a base given by tag only: the resolved digest is recorded and a warning printed.
    #[arg(long)]
    pub allow_unpinned: bool,
    /// Do not read (nor copy) the base layers: registry edits follow the no-base rule
    /// (keys named are assumed to exist) and the output references the base layers.
    #[arg(long)]
    pub no_base_layers: bool,
    /// Give each metadata step (USER, ENV, WORKDIR, LABEL) a small layer, as the classic
    /// Windows builder does, instead of an empty_layer history entry.
    #[arg(long)]
    pub metadata_layers: bool,
    /// A build arg for the recipe's ARGs, as docker build takes it (KEY=VALUE, repeatable).
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// The recipe's build context (ADD/COPY sources). Default: the recipe's folder.
    #[arg(long, value_name = "DIR", requires = "recipe")]
    pub context: Option<PathBuf>,
    #[command(flatten)]
    pub link: super::layout::LinkArgs,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    schema_version: &'static str,
    kind: &'static str,
    output: String,
    root: &'a Descriptor,
    builds: &'a [BuildOutput],
}

/// SOURCE_DATE_EPOCH from the environment: unset or empty = none; anything else must be
/// a non-negative integer.
pub fn source_date_epoch() -> anyhow::Result<Option<i64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) if s.is_empty() => Ok(None),
        Ok(s) => {
            let v: i64 = s.trim().parse().ok().filter(|v| *v >= 0).with_context(|| {
                format!("SOURCE_DATE_EPOCH={s:?} is not a number of seconds since 1970")
            })?;
            Ok(Some(v))
        }
        Err(_) => Ok(None),
    }
}

/// Parse an output reference: `oci:DIR[:TAG]` or a plain path.
pub fn layout_dest(out: &str) -> anyhow::Result<(PathBuf, Option<String>)> {
    match out_ref(out)? {
        ImageRef::Layout {
            dir,
            tag,
            digest: None,
        } => Ok((dir, tag)),
        _ => anyhow::bail!("--out {out}: only OCI layouts (oci:DIR[:TAG]) can be written here"),
    }
}

/// `--out`: a plain path is an OCI layout; otherwise any reference a sink can be
/// opened for (`image::open_sink`), without a digest.
fn out_ref(out: &str) -> anyhow::Result<ImageRef> {
    if out.is_empty() {
        anyhow::bail!("--out is empty: give a directory or oci:DIR[:TAG]");
    }
    if !out.contains(':') {
        return Ok(ImageRef::Layout {
            dir: PathBuf::from(out),
            tag: None,
            digest: None,
        });
    }
    let r: ImageRef = out.parse()?;
    match &r {
        ImageRef::Layout {
            digest: Some(_), ..
        }
        | ImageRef::Registry {
            digest: Some(_), ..
        } => anyhow::bail!("--out {out}: an output takes a tag, not a digest"),
        _ => Ok(r),
    }
}

/// Run `f` against a layout at `dir` (`image::layout::LayoutSink`): a DEST that does
/// not exist is built under a temporary sibling and renamed into place only on success;
/// into an existing layout, blobs are added and index.json changes last (by
/// `add_manifest` in `f`).
pub fn with_layout<T>(
    dir: &Path,
    f: impl FnOnce(&mut LayoutWriter) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut sink = LayoutSink::open(dir, None)?;
    let out = f(sink.writer())?;
    sink.commit()?;
    Ok(out)
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<Outcome> {
    let base_ref: ImageRef = args.base.parse()?;
    let platform: Option<PlatformSelector> =
        args.platform.as_deref().map(str::parse).transpose()?;
    let out = out_ref(&args.out)?;
    let archive = matches!(out, ImageRef::Archive { .. });
    let link = super::layout::link_key(&args.link)?;
    anyhow::ensure!(
        link.is_none() || !archive,
        "--link-out: the links name the output's blobs; write an OCI layout or a registry, not a docker-archive"
    );
    if archive && args.no_base_layers {
        anyhow::bail!(
            "--out {}: a docker-archive must hold every layer, so it cannot be combined with --no-base-layers; write an OCI layout instead",
            args.out
        );
    }
    let pinned = build::is_pinned(&base_ref);
    if !pinned && !args.allow_unpinned {
        anyhow::bail!(
            "base {base_ref} is not pinned by digest: the build's point is a known base. Give it as oci:DIR@sha256:… or docker://HOST/REPO@sha256:…, or pass --allow-unpinned to build anyway (the resolved digest is recorded)"
        );
    }
    let build_args = super::chain::parse_build_args(&args.build_args)?;
    let recipe = match &args.recipe {
        Some(p) => recipe::load_with(
            p,
            &recipe::LoadOptions {
                build_args: build_args.clone(),
                // `FROM ${BASE}` (kubernetes' Dockerfile_windows) names the --base image.
                implicit_args: [("BASE".to_string(), args.base.clone())].into(),
                context: args.context.clone(),
            },
        )?,
        None => recipe::builtin_with_args(&build_args),
    };
    let opts = BuildOptions {
        platform,
        source_date_epoch: source_date_epoch()?,
        metadata_layers: args.metadata_layers,
        no_base_layers: args.no_base_layers,
    };
    let reg_opts = g.registry.options(g.quiet)?;
    let src = image::open_with(&base_ref, &reg_opts)?;
    if !pinned && !g.quiet {
        let root = src.root()?;
        eprintln!(
            "pause-verify: warning: base {base_ref} is not pinned; it resolved to {} (recorded in the output)",
            root.descriptor().digest
        );
    }
    if archive
        && opts.platform.is_none()
        && let Root::Index(i) = src.root()?
    {
        let n = image::source::image_entries(&i).len();
        if n > 1 {
            anyhow::bail!(
                "--out {}: a docker-archive holds one image, and base {base_ref} has {n} platforms; choose one with --platform, or write an OCI layout",
                args.out
            );
        }
    }
    let progress = Progress::new(g.quiet);
    // The one place the destination's transport is chosen; blobs of a base in the
    // same registry are mounted.
    let mut sink = image::open_sink(&out, &reg_opts, Some(&base_ref))?;
    let set = build::build_all(
        src.as_ref(),
        &base_ref,
        &recipe,
        &opts,
        sink.as_mut(),
        &progress,
    )?;
    sink.add_manifest(&set.root, None)?;
    sink.commit()?;
    let output = match &out {
        ImageRef::Layout { dir, tag: None, .. } => {
            format!("oci:{}@{}", dir.display(), set.root.digest)
        }
        ImageRef::Registry { tag: None, .. } => format!("{out}@{}", set.root.digest),
        other => other.to_string(),
    };
    if let Some(link) = &link {
        let argv: Vec<String> = std::env::args().collect();
        let product: ImageRef = output.parse()?;
        super::layout::write_links(link, &argv, &base_ref, &product, &reg_opts, g.quiet)?;
    }
    if g.json {
        let r = Report {
            schema_version: "1",
            kind: "build",
            output,
            root: &set.root,
            builds: &set.builds,
        };
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(Outcome::Pass);
    }
    for b in &set.builds {
        render(b);
        println!();
    }
    if set.builds.len() > 1 {
        println!("index     {} ({})", set.root.digest, set.root.media_type);
    }
    println!("wrote     {output}");
    Ok(Outcome::Pass)
}

fn render(b: &BuildOutput) {
    println!(
        "base      {} ({})",
        b.base.reference,
        if b.base.pinned {
            "pinned"
        } else {
            "NOT pinned"
        }
    );
    println!("          root {}", b.base.root.digest);
    println!("          manifest {}", b.base.manifest.digest);
    println!("platform  {}", b.base.platform);
    let read: Vec<String> = b
        .base
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.read)
        .map(|(i, l)| format!("layer {} [{}]", i + 1, l.hives.join(", ")))
        .collect();
    println!(
        "base view {} ({})",
        b.base_view.rule,
        if read.is_empty() {
            "no base layer read".to_string()
        } else {
            format!("read and verified: {}", read.join("; "))
        }
    );
    for n in &b.base_view.notes {
        println!("          note: {n}");
    }
    println!("clock     {} ({})", b.clock.created, b.clock.source);
    println!("recipe    {} {}", b.recipe.name, b.recipe.digest);
    println!("steps");
    for s in &b.steps {
        let what = match s.layer {
            Some(i) => {
                let l = &b.layers[i];
                format!("layer {} ({} B)", l.descriptor.digest, l.descriptor.size)
            }
            None => "empty layer".to_string(),
        };
        println!("  line {:<3} {:<40} {what}", s.line, s.instruction);
    }
    if !b.registry_edits.is_empty() {
        println!("registry edits");
        for e in &b.registry_edits {
            let mut line = format!("  {:<15} {} {}", e.delta_file, e.op, e.key);
            if let Some(v) = &e.value_name {
                line.push_str(&format!(" {v:?}"));
            }
            if let Some(t) = &e.value_type {
                line.push_str(&format!(" {t}"));
            }
            if let Some(d) = e.data.as_ref().or(e.data_hex.as_ref()) {
                line.push_str(&format!(" = {d}"));
            }
            println!("{line}");
        }
    }
    println!(
        "gzip      {} level {}",
        b.compressor.name, b.compressor.level
    );
    println!("config    {}", b.config.digest);
    println!("manifest  {}", b.manifest.digest);
}
