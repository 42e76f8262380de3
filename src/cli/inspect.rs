//! `pause-verify inspect IMAGE [--platform P] [--digests] [--diff-ids]`: platforms, config
//! and layers of an image; with `--digests` every layer blob is read and checked against
//! its digest; with `--diff-ids` each layer is also decompressed in the same pass, its tar
//! walked and its diff_id checked against the config's `rootfs.diff_ids`.

use super::{Global, Outcome};
use pause_verify::image::{
    self, Descriptor, Digest, Error, ImageRef, PlatformSelector, Root, layer, source,
};
use pause_verify::progress::Progress;
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Image reference: oci:DIR[:TAG|@DIGEST], docker-archive:FILE[:NAME:TAG|:@N], docker://HOST/REPO[:TAG][@DIGEST].
    pub image: String,
    /// Select one platform of a multi-platform image: OS/ARCH[/VARIANT][:OSVERSION-PREFIX], e.g. windows/amd64:10.0.20348.
    #[arg(long)]
    pub platform: Option<String>,
    /// Read every layer blob and verify its digest and size (no decompression).
    #[arg(long)]
    pub digests: bool,
    /// Also decompress every layer in the same pass, walk its tar and check its diff_id
    /// against the config's rootfs.diff_ids (implies --digests). Foreign layers are never downloaded.
    #[arg(long)]
    pub diff_ids: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    schema_version: &'static str,
    kind: &'static str,
    reference: String,
    transport: &'static str,
    root: Brief,
    platforms: Vec<PlatformEntry>,
    manifest: Brief,
    config: ConfigReport,
    layers: Vec<LayerReport>,
    notes: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Brief {
    media_type: String,
    digest: Digest,
    size: u64,
}

impl From<&Descriptor> for Brief {
    fn from(d: &Descriptor) -> Brief {
        Brief {
            media_type: d.media_type.clone(),
            digest: d.digest.clone(),
            size: d.size,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlatformEntry {
    os: Option<String>,
    architecture: Option<String>,
    variant: Option<String>,
    os_version: Option<String>,
    media_type: String,
    digest: Digest,
    size: u64,
    selected: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfigReport {
    media_type: String,
    digest: Digest,
    size: u64,
    os: String,
    architecture: String,
    variant: Option<String>,
    os_version: Option<String>,
    user: Option<String>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    history: Vec<HistoryEntry>,
    diff_ids: Vec<Digest>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HistoryEntry {
    created: Option<String>,
    created_by: Option<String>,
    comment: Option<String>,
    empty_layer: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LayerReport {
    index: usize,
    media_type: String,
    digest: Digest,
    size: u64,
    foreign: bool,
    urls: Vec<String>,
    /// "verified" | "not checked" | "not checked (foreign)"
    digest_status: &'static str,
    /// The config's rootfs.diff_ids entry for this layer.
    diff_id_expected: Option<Digest>,
    /// The diff_id computed from the stream (with --diff-ids).
    diff_id: Option<Digest>,
    /// "verified" | "not checked" | "not checked (foreign)"
    diff_id_status: &'static str,
    uncompressed_size: Option<u64>,
    tar_entries: Option<u64>,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<Outcome> {
    let r: ImageRef = args.image.parse()?;
    let platform: Option<PlatformSelector> =
        args.platform.as_deref().map(str::parse).transpose()?;
    let src = image::open_with(&r, &g.registry.options(g.quiet)?)?;
    let root = src.root()?;
    let img = source::resolve(src.as_ref(), platform.as_ref())?;
    let progress = Progress::new(g.quiet);

    let platforms = match &root {
        Root::Index(i) => i
            .manifests
            .iter()
            .map(|d| PlatformEntry {
                os: d.platform.as_ref().map(|p| p.os.clone()),
                architecture: d.platform.as_ref().map(|p| p.architecture.clone()),
                variant: d.platform.as_ref().and_then(|p| p.variant.clone()),
                os_version: d.platform.as_ref().and_then(|p| p.os_version.clone()),
                media_type: d.media_type.clone(),
                digest: d.digest.clone(),
                size: d.size,
                selected: img.selected.as_ref().is_some_and(|s| s.digest == d.digest),
            })
            .collect(),
        Root::Manifest(_) => Vec::new(),
    };

    let cfg = &img.config;
    let diff_ids = cfg.diff_ids()?;
    if diff_ids.len() != img.layers().len() {
        return Err(Error::malformed(
            format!("config {}", cfg.descriptor.digest),
            format!(
                "rootfs.diff_ids lists {} layers but manifest {} has {}",
                diff_ids.len(),
                img.manifest.descriptor.digest,
                img.layers().len()
            ),
        )
        .into());
    }

    let mut layers = Vec::new();
    let n = img.layers().len();
    for (i, d) in img.layers().iter().enumerate() {
        let mut lr = LayerReport {
            index: i,
            media_type: d.media_type.clone(),
            digest: d.digest.clone(),
            size: d.size,
            foreign: d.is_foreign(),
            urls: d.urls.clone(),
            digest_status: "not checked",
            diff_id_expected: diff_ids.get(i).cloned(),
            diff_id: None,
            diff_id_status: "not checked",
            uncompressed_size: None,
            tar_entries: None,
        };
        // --include-foreign: verified like any blob (a registry fetches it from its urls).
        if d.is_foreign() && !g.registry.include_foreign && (args.digests || args.diff_ids) {
            lr.digest_status = "not checked (foreign)";
            lr.diff_id_status = "not checked (foreign)";
        } else if args.diff_ids {
            let raw = src.open_raw(d).map_err(|e| foreign_context(e, d))?;
            let label = format!("layer {}/{n}", i + 1);
            let raw = progress.wrap_read(raw, d.size, &label);
            let (found, tar) = layer::verify_layer(raw, d, |r| layer::walk_tar(r))?;
            let expected = &diff_ids[i];
            if &found.diff_id != expected {
                return Err(Error::DiffIdMismatch {
                    layer: i,
                    digest: d.digest.clone(),
                    expected: expected.clone(),
                    actual: found.diff_id,
                }
                .into());
            }
            lr.digest_status = "verified";
            lr.diff_id = Some(found.diff_id);
            lr.diff_id_status = "verified";
            lr.uncompressed_size = Some(found.uncompressed_size);
            lr.tar_entries = Some(tar.entries);
        } else if args.digests {
            let blob = src.open_blob(d).map_err(|e| foreign_context(e, d))?;
            let mut blob = progress.wrap_read(blob, d.size, &format!("layer {}/{n}", i + 1));
            // The digest check is the whole cost here (layer::HASH_READ blocks).
            layer::drain(&mut blob)
                .map_err(|e| Error::from_io(e, format!("reading layer {i} ({})", d.digest)))?;
            lr.digest_status = "verified";
        }
        layers.push(lr);
    }

    let mut notes = Vec::new();
    let transport = match r {
        ImageRef::Layout { .. } => "oci",
        ImageRef::Archive { .. } => {
            notes.push("docker-archive stores uncompressed layers: each layer's digest is its diff_id; the manifest is synthesised by pause-verify (its digest is not a registry's)".to_string());
            "docker-archive"
        }
        ImageRef::Registry { .. } => "docker",
        ImageRef::Dir { .. } => "dir",
    };
    if layers.iter().any(|l| l.foreign) {
        notes.push(if g.registry.include_foreign {
            "foreign (non-distributable) layers are verified like any blob (--include-foreign)"
        } else {
            "foreign (non-distributable) layers are reported by digest and URLs and not downloaded (--include-foreign verifies them)"
        }.to_string());
    }
    let history = cfg
        .history()
        .iter()
        .map(|h| HistoryEntry {
            created: h.created().clone(),
            created_by: h.created_by().clone(),
            comment: h.comment().clone(),
            empty_layer: h.empty_layer().unwrap_or(false),
        })
        .collect();
    let report = Report {
        schema_version: "1",
        kind: "inspect",
        reference: src.name(),
        transport,
        root: root.descriptor().into(),
        platforms,
        manifest: (&img.manifest.descriptor).into(),
        config: ConfigReport {
            media_type: img.manifest.config.media_type.clone(),
            digest: cfg.descriptor.digest.clone(),
            size: cfg.descriptor.size,
            os: cfg.os(),
            architecture: cfg.architecture(),
            variant: cfg.parsed.variant().clone(),
            os_version: cfg.os_version().map(str::to_string),
            user: cfg.user().map(str::to_string),
            entrypoint: cfg.entrypoint().map(<[String]>::to_vec),
            cmd: cfg.cmd().map(<[String]>::to_vec),
            history,
            diff_ids,
        },
        layers,
        notes,
    };
    if g.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", human(&report));
    }
    Ok(Outcome::Pass)
}

/// A foreign layer that could not be read under --include-foreign: say what to do.
fn foreign_context(e: Error, d: &Descriptor) -> anyhow::Error {
    let foreign = d.is_foreign();
    let e = anyhow::Error::new(e);
    if foreign {
        e.context(format!(
            "foreign layer {} (--include-foreign): a layout must hold its blob; a registry fetches it from its urls ({})",
            d.digest,
            if d.urls.is_empty() { "none".to_string() } else { d.urls.join(" ") }
        ))
    } else {
        e
    }
}

fn human(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "Image:     {}", r.reference);
    let _ = writeln!(
        s,
        "Root:      {} {} ({} bytes)",
        r.root.media_type, r.root.digest, r.root.size
    );
    if !r.platforms.is_empty() {
        let _ = writeln!(s, "Platforms:");
        for p in &r.platforms {
            let plat = match (&p.os, &p.architecture) {
                (Some(o), Some(a)) => {
                    let mut x = format!("{o}/{a}");
                    if let Some(v) = &p.variant {
                        x.push_str(&format!("/{v}"));
                    }
                    x
                }
                _ => "(no platform)".to_string(),
            };
            let _ = writeln!(
                s,
                "  {} {:<14} {:<22} {}",
                if p.selected { "*" } else { " " },
                plat,
                p.os_version.as_deref().unwrap_or("-"),
                p.digest
            );
        }
    }
    let _ = writeln!(
        s,
        "Manifest:  {} {} ({} bytes)",
        r.manifest.media_type, r.manifest.digest, r.manifest.size
    );
    let c = &r.config;
    let _ = writeln!(s, "Config:    {} ({} bytes)", c.digest, c.size);
    let _ = writeln!(
        s,
        "  platform:   {}/{}{}  os.version: {}",
        c.os,
        c.architecture,
        c.variant
            .as_ref()
            .map(|v| format!("/{v}"))
            .unwrap_or_default(),
        c.os_version.as_deref().unwrap_or("-")
    );
    let _ = writeln!(s, "  user:       {}", c.user.as_deref().unwrap_or("-"));
    let _ = writeln!(
        s,
        "  entrypoint: {}",
        c.entrypoint
            .as_ref()
            .map(|e| format!("{e:?}"))
            .unwrap_or("-".into())
    );
    if c.cmd.is_some() {
        let _ = writeln!(
            s,
            "  cmd:        {:?}",
            c.cmd.as_ref().unwrap_or(&Vec::new())
        );
    }
    if !c.history.is_empty() {
        let _ = writeln!(s, "  history:");
        for h in &c.history {
            let _ = writeln!(
                s,
                "    - {} {}{}",
                h.created.as_deref().unwrap_or("-"),
                h.created_by.as_deref().unwrap_or(""),
                if h.empty_layer { " (empty layer)" } else { "" }
            );
        }
    }
    let _ = writeln!(s, "Layers:");
    for l in &r.layers {
        let _ = writeln!(
            s,
            "  {}. {} {} bytes  {}",
            l.index + 1,
            l.digest,
            l.size,
            l.media_type
        );
        for u in &l.urls {
            let _ = writeln!(s, "       url: {u}");
        }
        if l.digest_status != "not checked" {
            let _ = writeln!(s, "       digest: {}", l.digest_status);
        }
        match (&l.diff_id, &l.diff_id_expected) {
            (Some(d), _) => {
                let _ = writeln!(
                    s,
                    "       diff_id: {d} ({}; {} bytes, {} tar entries)",
                    l.diff_id_status,
                    l.uncompressed_size.unwrap_or(0),
                    l.tar_entries.unwrap_or(0)
                );
            }
            (None, Some(e)) => {
                let _ = writeln!(s, "       diff_id: {e} (from config; {})", l.diff_id_status);
            }
            (None, None) => {}
        }
    }
    for n in &r.notes {
        let _ = writeln!(s, "Note: {n}");
    }
    s
}
