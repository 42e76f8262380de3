//! Flags of the `docker://` transport, taken by every command (docs/registry.md). The
//! skopeo spellings (`--authfile`, `--tls-verify=false`, `--cert-dir`) mean what they
//! mean there, as far as our transport has the notion.

use pause_verify::image::registry::{RegistryOptions, auth::Credentials};
use std::path::PathBuf;

const HEADING: &str = "Registry options";

#[derive(clap::Args, Debug, Clone, Default)]
pub struct RegistryFlags {
    /// Registry credentials USER:PASS for every registry this run talks to (else docker's config.json / credential helpers).
    #[arg(long, global = true, value_name = "USER:PASS", help_heading = HEADING)]
    pub creds: Option<String>,
    /// The docker config.json to read credentials from (skopeo's --authfile), instead of $DOCKER_CONFIG/config.json or ~/.docker/config.json.
    #[arg(long, global = true, value_name = "FILE", help_heading = HEADING)]
    pub authfile: Option<PathBuf>,
    /// Use plain HTTP for this registry (HOST[:PORT]); repeatable. Loopback registries always use HTTP.
    #[arg(long, global = true, value_name = "REGISTRY", help_heading = HEADING)]
    pub insecure: Vec<String>,
    /// --tls-verify=false: plain HTTP for every registry the run's images name (as --insecure for each; skopeo's flag). A token endpoint on another host still needs TLS for credentials.
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", help_heading = HEADING)]
    pub tls_verify: Option<bool>,
    /// Also trust the CA certificates in DIR/*.crt (PEM) for registry TLS (skopeo's --cert-dir; client certificates are not supported).
    #[arg(long, global = true, value_name = "DIR", help_heading = HEADING)]
    pub cert_dir: Option<PathBuf>,
    /// Do not read or write the blob cache ($XDG_CACHE_HOME/pause-verify/blobs).
    #[arg(long, global = true, help_heading = HEADING)]
    pub no_cache: bool,
    /// Download foreign (non-distributable) layers from their URLs, verified like any blob.
    #[arg(long, global = true, help_heading = HEADING)]
    pub include_foreign: bool,
}

impl RegistryFlags {
    pub fn options(&self, quiet: bool) -> anyhow::Result<RegistryOptions> {
        let mut o = RegistryOptions::from_env();
        if let Some(c) = &self.creds {
            o.creds = Some(Credentials::parse(c)?);
        }
        if let Some(f) = &self.authfile {
            // A missing file would silently mean "anonymous": say so instead.
            if !f.is_file() {
                anyhow::bail!("--authfile {}: no such file", f.display());
            }
            o.docker_config = Some(f.clone());
        }
        o.insecure = self.insecure.clone();
        o.insecure_all = self.tls_verify == Some(false);
        if let Some(dir) = &self.cert_dir {
            o.extra_roots_pem = read_cert_dir(dir)?;
        }
        if self.no_cache {
            o.cache_dir = None;
        }
        o.include_foreign = self.include_foreign;
        o.progress = !quiet;
        Ok(o)
    }
}

/// The `*.crt` files of DIR, sorted by name (as containers/image reads a cert dir).
fn read_cert_dir(dir: &std::path::Path) -> anyhow::Result<Vec<Vec<u8>>> {
    use anyhow::Context;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("--cert-dir {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "crt"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).with_context(|| format!("--cert-dir: {}", p.display())))
        .collect()
}

/// For a command that touches no registry (`hive`, `fixture`, `generate-key-pair`,
/// `verify-bundle`, `completions`, `man`): the registry options' ids again, hidden. clap
/// does not propagate a global option into a command that has an argument of the same
/// id, so they are not offered in its `--help` (nor in its subcommands'); given anyway,
/// [`NoRegistry::refuse`] says they do not apply instead of ignoring them. Types and
/// parsers as in [`RegistryFlags`]: clap hands global values between the two.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct NoRegistry {
    #[arg(long, hide = true)]
    creds: Option<String>,
    #[arg(long, hide = true)]
    authfile: Option<PathBuf>,
    #[arg(long, hide = true)]
    insecure: Vec<String>,
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    tls_verify: Option<bool>,
    #[arg(long, hide = true)]
    cert_dir: Option<PathBuf>,
    #[arg(long, hide = true)]
    no_cache: bool,
    #[arg(long, hide = true)]
    include_foreign: bool,
}

impl NoRegistry {
    pub fn refuse(&self, command: &str) -> anyhow::Result<()> {
        let given: Vec<&str> = [
            ("--creds", self.creds.is_some()),
            ("--authfile", self.authfile.is_some()),
            ("--insecure", !self.insecure.is_empty()),
            ("--tls-verify", self.tls_verify.is_some()),
            ("--cert-dir", self.cert_dir.is_some()),
            ("--no-cache", self.no_cache),
            ("--include-foreign", self.include_foreign),
        ]
        .into_iter()
        .filter_map(|(f, set)| set.then_some(f))
        .collect();
        if given.is_empty() {
            return Ok(());
        }
        anyhow::bail!(
            "{command} reads no registry: {} does not apply here",
            given.join(", ")
        )
    }
}
