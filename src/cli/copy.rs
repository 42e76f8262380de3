//! `pause-verify copy SRC DEST [--platform P]`: copy an image into an OCI layout (e.g. to
//! mirror a base image for offline builds), every blob verified on the way.
//! SRC: `oci:` or `docker-archive:`; DEST: `oci:DIR[:TAG]`. A new DEST layout appears
//! only when the copy succeeded; foreign layers are referenced, not copied, unless
//! `--include-foreign` (then copied and verified like any blob).
//! An untagged `oci:DIR` source is the one image the layout holds
//! (`LayoutSource::open_one`: signatures and attestations beside it are skipped).

use super::{Global, Outcome};
use pause_verify::image::registry::{RepoRef, transport::RegistrySink};
use pause_verify::image::{
    self, Digest, ImageRef, ImageSource, LayoutSource, PlatformSelector, copy,
};
use pause_verify::progress::Progress;
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Source image: oci:DIR[:TAG|@DIGEST], docker-archive:FILE[:NAME:TAG|:@N] or docker://HOST/REPO[:TAG][@DIGEST].
    pub source: String,
    /// Destination: oci:DIR[:TAG] (created if missing) or docker://HOST/REPO[:TAG].
    pub destination: String,
    /// Copy only this platform (its manifest becomes the destination's image); default: everything.
    #[arg(long)]
    pub platform: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    schema_version: &'static str,
    kind: &'static str,
    source: String,
    destination: String,
    #[serde(flatten)]
    copy: copy::CopyReport,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<Outcome> {
    let src_ref: ImageRef = args.source.parse()?;
    let dst_ref: ImageRef = args.destination.parse()?;
    let platform: Option<PlatformSelector> =
        args.platform.as_deref().map(str::parse).transpose()?;
    let opts = g.registry.options(g.quiet)?;
    let src: Box<dyn ImageSource> = match &src_ref {
        // A layout named without tag or digest is the one image it holds (signatures and
        // referrers beside it are not images), as for sign/verify/audit; copying its
        // index.json as an index would carry the attachments along as "platforms".
        ImageRef::Layout {
            dir,
            tag: None,
            digest: None,
        } => Box::new(LayoutSource::open_one(dir)?),
        _ => image::open_with(&src_ref, &opts)?,
    };
    let progress = Progress::new(g.quiet);
    let copy_opts = copy::CopyOptions {
        include_foreign: g.registry.include_foreign,
    };
    let report = match &dst_ref {
        ImageRef::Layout {
            dir,
            tag,
            digest: None,
        } => copy::copy_to_layout(
            src.as_ref(),
            dir,
            platform.as_ref(),
            tag.as_deref(),
            copy_opts,
            &progress,
        )?,
        ImageRef::Layout {
            digest: Some(_), ..
        } => {
            anyhow::bail!(
                "destination {dst_ref}: a destination takes a tag, not a digest (oci:DIR[:TAG])"
            )
        }
        ImageRef::Registry { tag, .. } => {
            // Blobs already in the same registry are mounted rather than uploaded.
            let mount_from = match &src_ref {
                ImageRef::Registry {
                    registry,
                    repository,
                    ..
                } => Some(RepoRef::new(registry, repository)),
                _ => None,
            };
            let mut sink = RegistrySink::open(&dst_ref, opts.clone(), mount_from)?;
            let report = copy::copy_image(
                src.as_ref(),
                &mut sink,
                platform.as_ref(),
                tag.as_deref(),
                copy_opts,
                &progress,
            )?;
            sink.flush()?;
            report
        }
        _ => anyhow::bail!(
            "destination {dst_ref}: only OCI layouts (oci:DIR[:TAG]) and registries (docker://) can be written"
        ),
    };
    if g.json {
        let doc = Report {
            schema_version: "1",
            kind: "copy",
            source: src.name(),
            destination: dst_ref.to_string(),
            copy: report,
        };
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        let root: Option<&Digest> = report.root.as_ref().map(|d| &d.digest);
        println!(
            "Copied {} -> {}: {} ({} blobs written, {} already present, {} bytes)",
            src.name(),
            dst_ref,
            root.map(|d| d.to_string()).unwrap_or_default(),
            report.blobs_written,
            report.blobs_present,
            report.bytes_written
        );
        for f in &report.foreign_skipped {
            println!(
                "  foreign layer {} not copied (urls: {})",
                f.digest,
                f.urls.join(" ")
            );
        }
    }
    Ok(Outcome::Pass)
}
