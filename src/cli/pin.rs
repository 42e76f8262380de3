//! `pause-verify pin IMAGE[@DIGEST] [--platform P] [--name NAME]`: print a pins-file entry
//! (`[[pin]]`, src/compare/pins.rs) for every Windows platform of an image the user has
//! in a layout, an archive or a registry: its os.version, the reference by digest, the
//! platform manifest digest and each layer's digest, size and diff_id, every one read
//! from verified blobs. So pins are made by the tool, not copied by hand. With `--json`:
//! kind `pin` (docs/json-schema.md).

use super::{Global, Outcome};
use anyhow::Context as _;
use pause_verify::compare::pins::{Pin, PinLayer, Pins};
use pause_verify::image::{self, ImageRef, PlatformSelector};
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The image: oci:DIR[@sha256:…], docker-archive:FILE, docker://HOST/REPO[:TAG|@sha256:…].
    pub image: String,
    /// Only platforms matching windows/amd64[:OSVERSION-PREFIX].
    #[arg(long)]
    pub platform: Option<String>,
    /// The pins' name (default: the image's last path component; `-OSVERSION` is added
    /// when the image has several platforms).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Serialize)]
struct Entries<'a> {
    pin: &'a [Pin],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonDoc<'a> {
    schema_version: &'static str,
    kind: &'static str,
    pins: &'a [Pin],
}

fn default_name(r: &ImageRef) -> String {
    let s = match r {
        ImageRef::Layout { dir, .. } | ImageRef::Dir { path: dir } => {
            dir.file_name().map(|n| n.to_string_lossy().to_string())
        }
        ImageRef::Archive { path, .. } => path.file_stem().map(|n| n.to_string_lossy().to_string()),
        ImageRef::Registry { repository, .. } => repository.rsplit('/').next().map(str::to_string),
    };
    s.filter(|s| !s.is_empty())
        .unwrap_or_else(|| "image".into())
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<Outcome> {
    let r: ImageRef = args.image.parse().context("IMAGE")?;
    let select: Option<PlatformSelector> = args
        .platform
        .as_deref()
        .map(str::parse)
        .transpose()
        .context("--platform")?;
    let registry = g.registry.options(g.quiet)?;
    let src = image::open_with(&r, &registry)?;
    let root = src.root()?.descriptor().clone();
    if let ImageRef::Layout {
        digest: Some(d), ..
    }
    | ImageRef::Registry {
        digest: Some(d), ..
    } = &r
        && d != &root.digest
    {
        anyhow::bail!("{r}: resolves to {}, not the digest given", root.digest);
    }
    let plats = pause_verify::compare::platforms::windows_platforms(src.as_ref(), select.as_ref())?;
    let reference = r.by_digest(&root.digest).unwrap_or_else(|| r.clone());
    let base_name = args.name.clone().unwrap_or_else(|| default_name(&r));
    let mut pins = Vec::new();
    for p in &plats {
        let os_version = p.platform.os_version.clone().unwrap_or_default();
        if os_version.is_empty() {
            anyhow::bail!(
                "{r}: platform {} has no os.version; a pin is matched by os.version",
                p.platform
            );
        }
        let diff_ids = p.image.config.diff_ids()?;
        let layers = p
            .image
            .layers()
            .iter()
            .enumerate()
            .map(|(i, l)| PinLayer {
                digest: l.digest.clone(),
                size: l.size,
                diff_id: diff_ids.get(i).cloned(),
            })
            .collect();
        pins.push(Pin {
            name: if plats.len() > 1 {
                format!("{base_name}-{os_version}")
            } else {
                base_name.clone()
            },
            os_version,
            image: Some(reference.to_string()),
            manifest: Some(p.image.manifest.descriptor.digest.clone()),
            synthetic: false,
            source: Some(format!("pause-verify pin {}", args.image)),
            layers,
        });
    }
    // What we print must load as a pins file.
    let text = toml::to_string(&Entries { pin: &pins }).context("rendering the pins entry")?;
    Pins::parse(
        &format!("schemaVersion = \"1\"\n{text}"),
        "the printed entry",
    )?;
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&JsonDoc {
                schema_version: "1",
                kind: "pin",
                pins: &pins,
            })?
        );
    } else {
        print!("{text}");
    }
    Ok(Outcome::Pass)
}
