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
mod examples;
mod fixture;
mod generate_key_pair;
mod hive;
mod inspect;
mod layout;
mod markdown;
mod notation;
mod pin;
mod rebuild;
mod registry_flags;
mod sign;
mod style;
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
    /// Colour verdicts in human output: auto (stdout a terminal, NO_COLOR unset), always, never.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub color: style::ColorChoice,
}

impl Global {
    /// Width and colour for human output on stdout.
    pub fn style(&self) -> style::Style {
        style::Style::detect(self.color)
    }
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
    version = version(),
    about = "Rebuild, compare, sign and verify the Windows pause base image, on Linux",
    long_about = None,
    after_help = examples::TOP
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
    #[command(after_help = examples::INSPECT)]
    Inspect(inspect::Args),
    /// Copy an image between any two transports (oci:, docker://, docker-archive:, dir:), verifying every blob.
    #[command(after_help = examples::COPY)]
    Copy(copy::Args),
    /// Read, dump and diff registry hives (normal and differencing).
    Hive(hive::Args),
    /// Plumbing for tests: format modules exposed directly (not a stable interface).
    #[command(hide = true)]
    Debug(debug::Args),
    /// Write a cosign-compatible key pair: NAME.key (encrypted) and NAME.pub.
    #[command(after_help = examples::GENERATE_KEY_PAIR)]
    GenerateKeyPair(generate_key_pair::Args),
    /// Sign an image's manifest digest with a cosign key (.sig tag, bundle referrer, attestations dir).
    #[command(after_help = examples::SIGN)]
    Sign(sign::Args),
    /// Sign an in-toto attestation about an image (.att tag, bundle referrer, attestations dir).
    #[command(after_help = examples::ATTEST)]
    Attest(attest::Args),
    /// Verify an image's cosign signatures (and attestations) with public keys or keyless trust.
    #[command(after_help = examples::VERIFY)]
    Verify(verify::Args),
    /// Verify one Sigstore bundle file about a blob or digest (keyed, or keyless against a trusted root).
    #[command(after_help = examples::VERIFY_BUNDLE)]
    VerifyBundle(verify_bundle::Args),
    /// Go / no-go for an image: every policy check per platform, with evidence (JUnit, VSA).
    #[command(after_help = examples::AUDIT)]
    Audit(audit::Args),
    /// Write the signed in-toto layout of the pause chain (NanoServer -> pause base) for in-toto-verify.
    #[command(after_help = examples::LAYOUT)]
    Layout(layout::Args),
    /// Build the pause base from a pinned base image and a recipe (Dockerfile or TOML), into any destination transport.
    #[command(after_help = examples::BUILD)]
    Build(build::Args),
    /// Write synthetic test images (a NanoServer stand-in) for tests and the offline demo.
    Fixture(fixture::Args),
    /// Rebuild the published image from its pinned base and compare, layer by layer.
    #[command(after_help = examples::REBUILD)]
    Rebuild(rebuild::Args),
    /// Compare two images layer by layer (IMAGE_B against IMAGE_A), without rebuilding.
    #[command(after_help = examples::DIFF)]
    Diff(diff::Args),
    /// Print a pins-file entry ([[pin]]: os.version, digests, sizes, diff_ids) for an image.
    #[command(after_help = examples::PIN)]
    Pin(pin::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    #[command(after_help = examples::COMPLETIONS)]
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
        #[command(flatten)]
        no_registry: registry_flags::NoRegistry,
    },
    /// Print the manual page (roff, section 1) on stdout: pause-verify(1), or pause-verify-COMMAND(1).
    #[command(after_help = examples::MAN)]
    Man {
        /// A command's own page: rebuild, hive dump (or hive-dump), as pause-verify(1) names them.
        #[arg(value_name = "COMMAND")]
        command: Vec<String>,
        #[command(flatten)]
        no_registry: registry_flags::NoRegistry,
    },
}

/// `--version`: the version, the commit it was built from, and what decides results
/// beyond the code: the gzip implementation and the noise rules (docs/noise-rules.md).
fn version() -> &'static str {
    let s = format!(
        "{} (commit {}; inflate: {}; noise rules version {})",
        env!("CARGO_PKG_VERSION"),
        env!("PAUSE_VERIFY_GIT_COMMIT"),
        pause_verify::build::COMPRESSOR,
        pause_verify::compare::noise::RULES_VERSION,
    );
    // Built once per process, for clap's &'static str.
    Box::leak(s.into_boxed_str())
}

fn completions(shell: clap_complete::Shell) -> anyhow::Result<Outcome> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut cmd, "pause-verify", &mut std::io::stdout());
    Ok(Outcome::Pass)
}

fn man(command: &str) -> anyhow::Result<Outcome> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    // Built, so each command's page lists the global options it takes.
    cmd.build();
    let page = match command {
        "" => cmd,
        name => {
            // `verify-bundle` is one command, `hive-dump` two: the longest name is tried first.
            let mut c = &cmd;
            let mut rest = name.replace(' ', "-");
            let mut path = vec!["pause-verify".to_string()];
            'walk: while !rest.is_empty() {
                let mut names: Vec<&clap::Command> =
                    c.get_subcommands().filter(|s| !s.is_hide_set()).collect();
                names.sort_by_key(|s| std::cmp::Reverse(s.get_name().len()));
                for s in names {
                    let n = s.get_name();
                    if rest == n || rest.starts_with(&format!("{n}-")) {
                        rest = rest[n.len()..].trim_start_matches('-').to_string();
                        path.push(n.to_string());
                        c = s;
                        continue 'walk;
                    }
                }
                anyhow::bail!("man {name}: no such command (pause-verify --help lists them)");
            }
            // Once per process, for clap's &'static str.
            let title: &'static str = Box::leak(path.join("-").into_boxed_str());
            c.clone().name(title).version(version())
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out)?;
    std::io::Write::write_all(&mut std::io::stdout(), &out)?;
    Ok(Outcome::Pass)
}

/// IMAGE given positionally or, as earlier versions took it, with `--image`: once.
fn one_image(positional: Option<String>, flag: Option<String>) -> anyhow::Result<String> {
    match (positional, flag) {
        (Some(_), Some(_)) => {
            anyhow::bail!("give the image once: IMAGE or --image IMAGE, not both")
        }
        (Some(i), None) | (None, Some(i)) => Ok(i),
        (None, None) => anyhow::bail!("IMAGE is required"),
    }
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
        Command::Completions { shell, no_registry } => no_registry
            .refuse("completions")
            .and_then(|()| completions(shell)),
        Command::Man {
            command,
            no_registry,
        } => no_registry
            .refuse("man")
            .and_then(|()| man(&command.join("-"))),
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
