//! `pause-verify inspect IMAGE`.

use super::{Global, Outcome};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Image reference: oci:DIR[:TAG|@DIGEST], docker-archive:FILE, docker://HOST/REPO[:TAG][@DIGEST].
    pub image: String,
}

pub fn run(_args: Args, _g: &Global) -> anyhow::Result<Outcome> {
    anyhow::bail!("inspect is not implemented yet")
}
