//! Command-line parsing and dispatch. One file per subcommand; each renders human output
//! on stdout (or one JSON document with `--json`) and logs/progress on stderr.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod attest;
mod audit;
mod build;
mod chain;
mod copy;
mod debug;
mod diff;
mod fixture;
mod generate_key_pair;
mod hive;
mod inspect;
mod layout;
mod notation;
mod pin;
mod rebuild;
mod registry_flags;
mod sign;
mod verify;
mod verify_bundle;

/// Options every subcommand takes.
#[derive(clap::Args, Debug, Clone)]
pub struct Global {
    /// Print one JSON document on stdout instead of the human report (schema: docs/json-schema.md).
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress bars or informational logs on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: registry_flags::RegistryFlags,
    /// Most bytes one layer may inflate to (e.g. 32GiB; suffixes KiB, MiB, GiB, TiB).
    #[arg(long, global = true, value_name = "SIZE", env = "PAUSE_VERIFY_MAX_LAYER_SIZE", default_value = "32GiB", value_parser = parse_size)]
    pub max_layer_size: u64,
    /// Most a layer may inflate per compressed byte, beyond its first 64 MiB (gzip bombs).
    #[arg(long, global = true, value_name = "N", env = "PAUSE_VERIFY_MAX_LAYER_RATIO", default_value_t = pause_verify::image::layer::DEFAULT_MAX_LAYER_RATIO, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_layer_ratio: u64,
}

/// `123`, `64MiB`, `4GiB` (binary units; `K`/`M`/`G`/`T` alone mean the same).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a size such as 4GiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        "t" | "tib" => 40,
        _ => return Err(format!("{s:?}: unknown unit (use KiB, MiB, GiB or TiB)")),
    };
    n.checked_mul(1u64 << shift)
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("{s:?}: out of range"))
}

#[derive(Parser, Debug)]
#[command(
    name = "pause-verify",
    version,
    about = "Rebuild, compare, sign and verify the Windows pause base image, on Linux",
    long_about = None
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show an image's platforms, config and layers (and verify diff_ids with --diff-ids).
    Inspect(inspect::Args),
    /// Copy an image into an OCI layout (oci:DIR[:TAG]), verifying every blob.
    Copy(copy::Args),
    /// Read, dump and diff registry hives (normal and differencing).
    Hive(hive::Args),
    /// Plumbing for tests: format modules exposed directly (not a stable interface).
    #[command(hide = true)]
    Debug(debug::Args),
    /// Write a cosign-compatible key pair: NAME.key (encrypted) and NAME.pub.
    GenerateKeyPair(generate_key_pair::Args),
    /// Sign an image's manifest digest with a cosign key (.sig tag, bundle referrer, attestations dir).
    Sign(sign::Args),
    /// Sign an in-toto attestation about an image (.att tag, bundle referrer, attestations dir).
    Attest(attest::Args),
    /// Verify an image's cosign signatures (and attestations) with public keys or keyless trust.
    Verify(verify::Args),
    /// Verify one Sigstore bundle file about a blob or digest (keyed, or keyless against a trusted root).
    VerifyBundle(verify_bundle::Args),
    /// Go / no-go for an image: every policy check per platform, with evidence (JUnit, VSA).
    Audit(audit::Args),
    /// Write the signed in-toto layout of the pause chain (NanoServer -> pause base) for in-toto-verify.
    Layout(layout::Args),
    /// Build the pause base from a pinned base image and a recipe, into an OCI layout.
    Build(build::Args),
    /// Write synthetic test images (a NanoServer stand-in) for tests and the offline demo.
    Fixture(fixture::Args),
    /// Rebuild the published image from its pinned base and compare, layer by layer.
    Rebuild(rebuild::Args),
    /// Compare two images layer by layer (IMAGE_B against IMAGE_A), without rebuilding.
    Diff(diff::Args),
    /// Print a pins-file entry ([[pin]]: os.version, digests, sizes, diff_ids) for an image.
    Pin(pin::Args),
}

/// What a command concluded, when it ran to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Verified / identical / equivalent: exit 0.
    Pass,
    /// A verdict failed (mismatch, bad signature, policy violation): exit 1.
    Fail,
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    pause_verify::image::layer::set_inflate_limits(pause_verify::image::layer::InflateLimits {
        max_bytes: cli.global.max_layer_size,
        max_ratio: cli.global.max_layer_ratio,
    });
    let result = match cli.command {
        Command::Rebuild(a) => rebuild::run(a, &cli.global),
        Command::Diff(a) => diff::run(a, &cli.global),
        Command::Pin(a) => pin::run(a, &cli.global),
        Command::Inspect(a) => inspect::run(a, &cli.global),
        Command::Copy(a) => copy::run(a, &cli.global),
        Command::Hive(a) => hive::run(a, &cli.global),
        Command::Debug(a) => debug::run(a, &cli.global),
        Command::GenerateKeyPair(a) => generate_key_pair::run(a, &cli.global),
        Command::Sign(a) => sign::run(a, &cli.global),
        Command::Attest(a) => attest::run(a, &cli.global),
        Command::Verify(a) => verify::run(a, &cli.global),
        Command::VerifyBundle(a) => verify_bundle::run(a, &cli.global),
        Command::Audit(a) => audit::run(a, &cli.global),
        Command::Layout(a) => layout::run(a, &cli.global),
        Command::Build(a) => build::run(a, &cli.global),
        Command::Fixture(a) => fixture::run(a, &cli.global),
    };
    match result {
        Ok(Outcome::Pass) => ExitCode::SUCCESS,
        Ok(Outcome::Fail) => ExitCode::from(1),
        Err(e) => {
            eprintln!("pause-verify: error: {}", render_error(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, `: `-separated like anyhow's `{:#}`, but without a cause
/// whose text is already there: many of our error types print their source inside their
/// own message, and `{:#}` would then show it twice.
fn render_error(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if s.is_empty() || msg.contains(&s) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&s);
    }
    msg
}
