//! `pause-verify diff IMAGE_A IMAGE_B [--platform P] [--strict]`: the comparison of
//! `rebuild` without rebuilding: IMAGE_A is the reference, IMAGE_B the image under test
//! (changes are B relative to A). Layers both share from the start count as the base;
//! registry changes are compared as the delta hives' own contents; those shared layers'
//! blobs are hashed in IMAGE_B (equal digests say nothing about the bytes behind them).
//! Output: the `rebuild` report with kind `diff`.

use super::{Global, Outcome};
use anyhow::Context;
use pause_verify::compare;
use pause_verify::image::{ImageRef, PlatformSelector};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The reference image.
    pub image_a: String,
    /// The image under test.
    pub image_b: String,
    /// Only platforms matching windows/amd64[:OSVERSION-PREFIX].
    #[arg(long)]
    pub platform: Option<String>,
    /// Every change counts (noise included) and tar times are compared.
    #[arg(long)]
    pub strict: bool,
    /// Also write the report as Markdown (a PR comment); with GITHUB_STEP_SUMMARY set it is appended there too.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<std::path::PathBuf>,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<Outcome> {
    super::markdown::check_path(args.markdown.as_deref())?;
    let a: ImageRef = args.image_a.parse().context("IMAGE_A")?;
    let b: ImageRef = args.image_b.parse().context("IMAGE_B")?;
    let platform: Option<PlatformSelector> = args
        .platform
        .as_deref()
        .map(str::parse)
        .transpose()
        .context("--platform")?;
    let report = compare::platforms::diff(
        &a,
        &b,
        platform.as_ref(),
        &compare::Options {
            strict: args.strict,
        },
        &g.registry.options(g.quiet)?,
    )?;
    super::markdown::publish(&super::markdown::compare(&report), args.markdown.as_deref())?;
    super::rebuild::emit(&report, g)
}
