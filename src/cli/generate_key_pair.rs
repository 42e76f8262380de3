//! `pause-verify generate-key-pair [--output-key-prefix NAME] [--force]`: write a
//! cosign-compatible `NAME.key` (encrypted, mode 0600) and `NAME.pub` (mode 0644).

use super::{Global, Outcome};
use anyhow::{Context, bail};
use pause_verify::atomic;
use pause_verify::attest::keys;
use std::io::{IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write NAME.key and NAME.pub.
    #[arg(long, value_name = "NAME", default_value = "cosign")]
    pub output_key_prefix: String,
    /// Overwrite existing key files.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub no_registry: super::registry_flags::NoRegistry,
}

/// The password: `COSIGN_PASSWORD` (may be empty, as with cosign), else a prompt on a
/// terminal (asked twice), else an error: never block on a pipe.
fn password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("COSIGN_PASSWORD") {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "no password: set COSIGN_PASSWORD (it may be empty) or run on a terminal to be asked"
        );
    }
    let first = rpassword::prompt_password("Enter password for private key: ")
        .context("reading the password from the terminal")?;
    let again = rpassword::prompt_password("Enter password for private key again: ")
        .context("reading the password from the terminal")?;
    if first != again {
        bail!("the two passwords differ; nothing was written");
    }
    Ok(first)
}

fn stage_file(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<atomic::Staged> {
    let (staged, ()) = atomic::stage(path, |f| {
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)
    })
    .with_context(|| format!("writing {}", path.display()))?;
    Ok(staged)
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<Outcome> {
    args.no_registry.refuse("generate-key-pair")?;
    let prefix = &args.output_key_prefix;
    if prefix.is_empty() || prefix.ends_with('/') {
        bail!(
            "--output-key-prefix {prefix:?} names no file: give a name such as cosign or keys/release (NAME.key and NAME.pub are written)"
        );
    }
    let key_path = PathBuf::from(format!("{}.key", args.output_key_prefix));
    let pub_path = PathBuf::from(format!("{}.pub", args.output_key_prefix));
    if !args.force {
        for p in [&key_path, &pub_path] {
            if p.symlink_metadata().is_ok() {
                bail!(
                    "{} exists; pass --force to overwrite it (nothing was written)",
                    p.display()
                );
            }
        }
    }
    for p in [&key_path, &pub_path] {
        if p.is_dir() {
            bail!(
                "{} is a directory; choose another --output-key-prefix",
                p.display()
            );
        }
    }
    let password = password()?;
    if !g.quiet {
        eprintln!("pause-verify: generating an ECDSA P-256 key (scrypt N=65536 encryption)...");
    }
    let kp = keys::generate_key_pair(password.as_bytes()).context("generating the key pair")?;
    // Both files are written whole before either is renamed into place: a failure while
    // writing leaves no half pair, and with --force the old pair stays as it was.
    let key = stage_file(&key_path, kp.private_pem.as_bytes(), 0o600)?;
    let public = stage_file(&pub_path, kp.public_pem.as_bytes(), 0o644)?;
    key.commit()
        .with_context(|| format!("moving {} into place", key_path.display()))?;
    if let Err(e) = public.commit() {
        // Never a new private key whose public half is missing or old.
        let _ = std::fs::remove_file(&key_path);
        return Err(e).with_context(|| format!("moving {} into place", pub_path.display()));
    }
    if g.json {
        let doc = serde_json::json!({
            "schemaVersion": "1",
            "kind": "generate-key-pair",
            "privateKey": key_path,
            "publicKey": pub_path,
            "publicKeyHint": kp.public_key.hint(),
        });
        println!("{doc}");
    } else {
        println!("Private key written to {}", key_path.display());
        println!("Public key written to {}", pub_path.display());
    }
    Ok(Outcome::Pass)
}
