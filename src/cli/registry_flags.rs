//! Flags of the `docker://` transport, taken by every command (docs/registry.md).

use pause_verify::image::registry::{RegistryOptions, auth::Credentials};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct RegistryFlags {
    /// Registry credentials USER:PASS for every registry this run talks to (else docker's config.json / credential helpers).
    #[arg(long, global = true, value_name = "USER:PASS")]
    pub creds: Option<String>,
    /// Use plain HTTP for this registry (HOST[:PORT]); repeatable. Loopback registries always use HTTP.
    #[arg(long, global = true, value_name = "REGISTRY")]
    pub insecure: Vec<String>,
    /// Do not read or write the blob cache ($XDG_CACHE_HOME/pause-verify/blobs).
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Download foreign (non-distributable) layers from their URLs, verified like any blob.
    #[arg(long, global = true)]
    pub include_foreign: bool,
}

impl RegistryFlags {
    pub fn options(&self, quiet: bool) -> anyhow::Result<RegistryOptions> {
        let mut o = RegistryOptions::from_env();
        if let Some(c) = &self.creds {
            o.creds = Some(Credentials::parse(c)?);
        }
        o.insecure = self.insecure.clone();
        if self.no_cache {
            o.cache_dir = None;
        }
        o.include_foreign = self.include_foreign;
        o.progress = !quiet;
        Ok(o)
    }
}
