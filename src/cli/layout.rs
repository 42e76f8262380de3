//! `pause-verify layout --key OWNER.key --base IMAGE@DIGEST --functionary PUB… [--threshold N]
//! [--expires RFC3339] [--out FILE]`: write the signed in-toto root layout of the pause
//! chain (`pause_verify::layout`), and the `--link-out DIR --link-key KEY` flags with which
//! `build` and `rebuild` write the in-toto links of their step (`nanoserver`: the base
//! they read, by digest; `pause-base`: what they produced from it). Verify with the
//! reference verifier: `in-toto-verify --layout root.layout --verification-keys OWNER.pub
//! --link-dir DIR`.

use super::{Global, Outcome};
use anyhow::Context;
use pause_verify::attest::{PrivateKey, PublicKey};
use pause_verify::image::model::Root;
use pause_verify::image::registry::RegistryOptions;
use pause_verify::image::source::image_entries;
use pause_verify::image::{self, Digest, ImageRef, ImageSource};
use pause_verify::layout::{self as itl, ChainSpec, STEP_NANOSERVER, STEP_PAUSE_BASE};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The layout owner's cosign private key (password from COSIGN_PASSWORD or a prompt).
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
    /// The NanoServer base, pinned by digest: the layout allows exactly its blobs.
    #[arg(long, value_name = "IMAGE")]
    pub base: String,
    /// A functionary's public key: who may build or rebuild (repeatable).
    #[arg(long, value_name = "PUB", required = true)]
    pub functionary: Vec<PathBuf>,
    /// How many functionaries' pause-base links must agree (default: all of them).
    #[arg(long, value_name = "N")]
    pub threshold: Option<u32>,
    /// When the layout expires (RFC 3339 UTC); default: one year after SOURCE_DATE_EPOCH or now.
    #[arg(long, value_name = "TIME")]
    pub expires: Option<String>,
    /// Where to write the layout (also --output-file, cosign's name).
    #[arg(
        long,
        visible_alias = "output-file",
        value_name = "FILE",
        default_value = "root.layout"
    )]
    pub out: PathBuf,
}

/// `--link-out DIR --link-key KEY` for `build` and `rebuild`.
#[derive(clap::Args, Debug, Default)]
pub struct LinkArgs {
    /// Write the in-toto links of this step (nanoserver.KEYID.link, pause-base.KEYID.link) into DIR (see `pause-verify layout`).
    #[arg(long, value_name = "DIR", requires = "link_key")]
    pub link_out: Option<PathBuf>,
    /// The cosign private key that signs the links (password from COSIGN_PASSWORD or a prompt).
    #[arg(long, value_name = "KEY", requires = "link_out")]
    pub link_key: Option<PathBuf>,
}

/// The link key, decrypted before the (long) build so a wrong password fails fast.
pub fn link_key(a: &LinkArgs) -> anyhow::Result<Option<(PathBuf, PrivateKey)>> {
    match (&a.link_out, &a.link_key) {
        (Some(dir), Some(k)) => {
            anyhow::ensure!(
                dir.is_dir(),
                "--link-out {}: not a directory",
                dir.display()
            );
            Ok(Some((dir.clone(), super::sign::load_private_key(k)?)))
        }
        _ => Ok(None),
    }
}

/// Every platform's manifest, config and layers of `src` (in order, once each), and
/// the layers alone. The documents are read verified; layers are named by the verified
/// manifests' digests.
fn image_blobs(src: &dyn ImageSource) -> anyhow::Result<(Vec<Digest>, Vec<Digest>)> {
    fn walk(
        src: &dyn ImageSource,
        root: Root,
        depth: u32,
        blobs: &mut Vec<Digest>,
        layers: &mut Vec<Digest>,
    ) -> anyhow::Result<()> {
        match root {
            Root::Manifest(m) => {
                let push = |v: &mut Vec<Digest>, d: &Digest| {
                    if !v.contains(d) {
                        v.push(d.clone());
                    }
                };
                push(blobs, &m.descriptor.digest);
                push(blobs, &m.config.digest);
                for l in &m.layers {
                    push(blobs, &l.digest);
                    push(layers, &l.digest);
                }
            }
            Root::Index(i) => {
                anyhow::ensure!(depth < 4, "indexes nested more than 4 deep");
                for e in image_entries(&i) {
                    let child = src.read_root(e)?;
                    walk(src, child, depth + 1, blobs, layers)?;
                }
            }
        }
        Ok(())
    }
    let (mut blobs, mut layers) = (Vec::new(), Vec::new());
    walk(src, src.root()?, 0, &mut blobs, &mut layers)?;
    Ok((blobs, layers))
}

fn pinned_blobs(r: &str, registry: &RegistryOptions) -> anyhow::Result<(Vec<Digest>, Vec<Digest>)> {
    let base: ImageRef = r.parse().context("--base")?;
    anyhow::ensure!(
        pause_verify::build::is_pinned(&base),
        "base {base} is not pinned by digest: give IMAGE@sha256:…"
    );
    let src = image::open_with(&base, registry).with_context(|| format!("opening {base}"))?;
    image_blobs(src.as_ref()).with_context(|| format!("reading {base}"))
}

/// Write the two links of a build or rebuild: `nanoserver` (the base's blobs as
/// products) and `pause-base` (those as materials, the output's blobs as products).
pub fn write_links(
    (dir, key): &(PathBuf, PrivateKey),
    command: &[String],
    base: &ImageRef,
    product: &ImageRef,
    registry: &RegistryOptions,
    quiet: bool,
) -> anyhow::Result<()> {
    let src = image::open_with(base, registry).with_context(|| format!("opening {base}"))?;
    let (base_blobs, _) = image_blobs(src.as_ref())?;
    let out = image::open_with(product, registry).with_context(|| format!("opening {product}"))?;
    let (products, _) = image_blobs(out.as_ref())?;
    let named = |step: &str, ds: &[Digest]| -> Vec<(String, Digest)> {
        ds.iter()
            .map(|d| (itl::artifact(step, d), d.clone()))
            .collect()
    };
    let nano = named(STEP_NANOSERVER, &base_blobs);
    for (step, materials, products) in [
        (STEP_NANOSERVER, Vec::new(), nano.clone()),
        (
            STEP_PAUSE_BASE,
            nano.clone(),
            named(STEP_PAUSE_BASE, &products),
        ),
    ] {
        let cmd: &[String] = if step == STEP_PAUSE_BASE {
            command
        } else {
            &[]
        };
        let signed = itl::link(step, cmd, &materials, &products)?;
        let doc = itl::sign(signed, &[key])?;
        let path = dir.join(itl::link_file_name(step, &key.public_key()));
        pause_verify::atomic::write(&path, serde_json::to_string_pretty(&doc)?.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        if !quiet {
            eprintln!("pause-verify: wrote in-toto link {}", path.display());
        }
    }
    Ok(())
}

fn expires_default() -> anyhow::Result<String> {
    let now = match super::build::source_date_epoch()? {
        Some(e) => e,
        None => i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("the system clock is before 1970")?
                .as_secs(),
        )
        .unwrap_or(i64::MAX),
    };
    Ok(pause_verify::time::rfc3339(
        now.saturating_add(365 * 86_400),
    ))
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<Outcome> {
    let key = super::sign::load_private_key(&args.key)?;
    let functionaries: Vec<PublicKey> = super::verify_bundle::load_public_keys(&args.functionary)?;
    let expires = match &args.expires {
        Some(e) => {
            anyhow::ensure!(
                pause_verify::time::parse_rfc3339(e).is_some() && e.ends_with('Z'),
                "--expires {e}: give RFC 3339 UTC, e.g. 2027-01-01T00:00:00Z"
            );
            e.clone()
        }
        None => expires_default()?,
    };
    let registry = g.registry.options(g.quiet)?;
    let (base_blobs, base_layers) = pinned_blobs(&args.base, &registry)?;
    let spec = ChainSpec {
        base_blobs,
        base_layers,
        threshold: args.threshold.unwrap_or(functionaries.len() as u32),
        functionaries,
        expires,
        readme: format!(
            "pause-verify {}: NanoServer {} -> pause base (steps nanoserver, pause-base)",
            pause_verify::VERSION,
            args.base
        ),
    };
    let doc = itl::sign(itl::layout(&spec)?, &[&key])?;
    write_file(&args.out, &doc)?;
    if g.json {
        let keyids: Vec<String> = spec
            .functionaries
            .iter()
            .map(|k| itl::Functionary::new(k).keyid)
            .collect();
        let r = serde_json::json!({
            "schemaVersion": "1", "kind": "layout", "layout": args.out,
            "keyid": itl::Functionary::new(&key.public_key()).keyid,
            "functionaries": keyids, "threshold": spec.threshold, "expires": spec.expires,
            "baseBlobs": spec.base_blobs.len(),
        });
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "layout    steps {STEP_NANOSERVER} ({} pinned blobs), {STEP_PAUSE_BASE} (threshold {} of {})",
            spec.base_blobs.len(),
            spec.threshold,
            spec.functionaries.len()
        );
        println!("expires   {}", spec.expires);
        println!("wrote     {}", args.out.display());
    }
    Ok(Outcome::Pass)
}

fn write_file(path: &Path, doc: &serde_json::Value) -> anyhow::Result<()> {
    pause_verify::atomic::write(path, serde_json::to_string_pretty(doc)?.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
