//! `pause-verify fixture nanoserver --out DEST [--os-version V]... [--size-mb N]`: write
//! a synthetic NanoServer (see `pause_verify::fixture`) as an OCI layout whose root is a
//! Docker manifest list, for tests, benchmarks and the offline demo.

use super::{Global, Outcome};
use pause_verify::fixture::{self, FixtureOptions, FixtureOutput};
use pause_verify::image::ImageSink;
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
    #[command(flatten)]
    pub no_registry: super::registry_flags::NoRegistry,
}

#[derive(clap::Subcommand, Debug)]
pub enum What {
    /// A synthetic NanoServer base image (Docker schema2 manifest list, one Windows base layer per OS version).
    #[command(after_help = super::examples::FIXTURE)]
    Nanoserver(NanoArgs),
}

#[derive(clap::Args, Debug)]
pub struct NanoArgs {
    /// Where to write: oci:DIR[:TAG] or a directory path (created).
    #[arg(long)]
    pub out: String,
    /// OS version of an image (repeat for a multi-platform list), e.g. 10.0.17763.3887,
    /// 10.0.20348.2849, 10.0.26100.2314.
    #[arg(long = "os-version", default_value = fixture::DEFAULT_OS_VERSION)]
    pub os_versions: Vec<String>,
    /// Extra uncompressed size per layer in MiB (padding files), e.g. 300 for the benchmark;
    /// at most 65536 (64 GiB).
    // Bounded: the padding plan is built in memory first, so an absurd size (a typo, or
    // u64::MAX) would run for hours instead of being refused.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(..=65536))]
    pub size_mb: u64,
    /// Leave SOFTWARE\Microsoft\Ole out.
    #[arg(long)]
    pub no_ole: bool,
    /// Leave SOFTWARE\Microsoft\Rpc out.
    #[arg(long)]
    pub no_rpc: bool,
    /// Leave the DiagTrack service out of SYSTEM.
    #[arg(long)]
    pub no_diagtrack: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    schema_version: &'static str,
    kind: &'static str,
    /// A pinned reference to the list, for `build --base`.
    reference: String,
    options: &'a FixtureOptions,
    #[serde(flatten)]
    output: &'a FixtureOutput,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<Outcome> {
    args.no_registry.refuse("fixture")?;
    let What::Nanoserver(a) = args.what;
    let (dir, tag) = super::build::layout_dest(&a.out)?;
    let opts = FixtureOptions {
        os_versions: a.os_versions,
        size_mb: a.size_mb,
        with_ole: !a.no_ole,
        with_rpc: !a.no_rpc,
        with_diagtrack: !a.no_diagtrack,
    };
    let progress = pause_verify::progress::Progress::new(g.quiet);
    let out = super::build::with_layout(&dir, |w| {
        let scratch = w.dir().to_path_buf();
        let out = fixture::write_fixture(&opts, w, &scratch, &progress)?;
        w.add_manifest(&out.list, tag.as_deref())?;
        Ok(out)
    })?;
    let reference = format!("oci:{}@{}", dir.display(), out.list.digest);
    if g.json {
        let r = Report {
            schema_version: "1",
            kind: "fixture",
            reference,
            options: &opts,
            output: &out,
        };
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(Outcome::Pass);
    }
    println!("synthetic NanoServer (not Microsoft software)");
    for i in &out.images {
        println!("  windows/amd64 {}", i.os_version);
        println!("    manifest {}", i.manifest.digest);
        println!("    config   {}", i.config.digest);
        println!(
            "    layer    {} ({} B gzip, {} B tar)",
            i.layer.digest, i.layer.size, i.uncompressed_size
        );
        println!("    diff_id  {}", i.diff_id);
    }
    println!("list      {} ({})", out.list.digest, out.list.media_type);
    println!("wrote     {reference}");
    Ok(Outcome::Pass)
}
