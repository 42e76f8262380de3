//! `pause-verify copy SRC DEST [--platform P] [--signatures]`: copy an image into an OCI
//! layout or a registry (e.g. to mirror a base image for offline builds), every blob
//! verified on the way; with `--signatures`, then its signatures, attestations and
//! bundles (`attach::Store::attachments` / `put_attachments`), image first so a failure
//! never leaves attachments without their image.
//! SRC and DEST: any transport (`image::open` / `image::open_sink`: `oci:`, `docker://`,
//! `docker-archive:`, `dir:`). A new DEST appears only when the copy succeeded; foreign
//! layers are referenced, not copied, unless `--include-foreign` (then copied and
//! verified like any blob). An untagged `oci:DIR` source is the one image the layout
//! holds (signatures and attestations beside it are skipped), as in every command.

use super::{Global, Outcome};
use anyhow::Context;
use pause_verify::attest::attach::Store;
use pause_verify::image::registry::RegistryOptions;
use pause_verify::image::source::image_entries;
use pause_verify::image::{self, Descriptor, Digest, ImageRef, PlatformSelector, Root, copy};
use pause_verify::progress::Progress;
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Source image: oci:DIR[:TAG|@DIGEST], docker-archive:FILE[:NAME:TAG|:@N], dir:DIR or docker://HOST/REPO[:TAG][@DIGEST].
    pub source: String,
    /// Destination: oci:DIR[:TAG] (created if missing), docker://HOST/REPO[:TAG], docker-archive:FILE[:NAME:TAG] (one image) or dir:DIR.
    pub destination: String,
    /// Copy only this platform (its manifest becomes the destination's image); default: everything.
    #[arg(long)]
    pub platform: Option<String>,
    /// After the image, copy its signatures, attestations and bundle referrers (root and each platform's manifest), as they are: copy does not verify them. With --platform: that manifest's only.
    #[arg(long)]
    pub signatures: bool,
    /// Credentials USER:PASS for the source's registry only (skopeo's --src-creds); there they replace --creds.
    #[arg(long, value_name = "USER:PASS", help_heading = "Registry options")]
    pub src_creds: Option<String>,
    /// Credentials USER:PASS for the destination's registry only (skopeo's --dest-creds); there they replace --creds.
    #[arg(long, value_name = "USER:PASS", help_heading = "Registry options")]
    pub dest_creds: Option<String>,
}

/// The run's registry options with one side's own credentials, if given.
fn side_options(base: &RegistryOptions, creds: Option<&str>) -> anyhow::Result<RegistryOptions> {
    let mut o = base.clone();
    if let Some(c) = creds {
        o.creds = Some(pause_verify::image::registry::auth::Credentials::parse(c)?);
    }
    Ok(o)
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
    #[serde(skip_serializing_if = "Option::is_none")]
    attachments: Option<AttachmentsReport>,
}

/// What `--signatures` copied.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct AttachmentsReport {
    /// Layers and bundles new at the destination, over all subjects.
    added: usize,
    subjects: Vec<SubjectAttachments>,
    /// Source subjects whose attachments were not copied, and why.
    skipped: Vec<SkippedSubject>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SubjectAttachments {
    digest: Digest,
    media_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<String>,
    /// Found at the source (and so now at the destination).
    signatures: usize,
    attestations: usize,
    bundles: usize,
    /// New at the destination (0: all there already).
    added: usize,
    /// Where they are in the destination now (added or there already).
    locations: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SkippedSubject {
    digest: Digest,
    signatures: usize,
    attestations: usize,
    bundles: usize,
    reason: String,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<Outcome> {
    let src_ref: ImageRef = args.source.parse()?;
    let dst_ref: ImageRef = args.destination.parse()?;
    let platform: Option<PlatformSelector> =
        args.platform.as_deref().map(str::parse).transpose()?;
    let opts = g.registry.options(g.quiet)?;
    let src_opts = side_options(&opts, args.src_creds.as_deref()).context("--src-creds")?;
    let dst_opts = side_options(&opts, args.dest_creds.as_deref()).context("--dest-creds")?;
    let src = image::open_with(&src_ref, &src_opts)?;
    let progress = Progress::new(g.quiet);
    let copy_opts = copy::CopyOptions {
        include_foreign: g.registry.include_foreign,
    };
    // Blobs already in the same registry are mounted rather than uploaded.
    let mut sink = image::open_sink(&dst_ref, &dst_opts, Some(&src_ref))?;
    let report = copy::copy_image(
        src.as_ref(),
        sink.as_mut(),
        platform.as_ref(),
        None,
        copy_opts,
        &progress,
    )?;
    sink.commit()?;
    let attachments = if args.signatures {
        Some(copy_attachments(
            &src_ref,
            &dst_ref,
            (&src_opts, &dst_opts),
            report.root.as_ref(),
            platform.is_some(),
        )?)
    } else {
        None
    };
    if g.json {
        let doc = Report {
            schema_version: "1",
            kind: "copy",
            source: src.name(),
            destination: dst_ref.to_string(),
            copy: report,
            attachments,
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
        if let Some(a) = &attachments {
            print_attachments(a);
        }
    }
    Ok(Outcome::Pass)
}

/// The destination as a [`Store`] holding the image just copied (named by digest, so a
/// layout holding other images too is no obstacle).
fn destination_store(
    dst_ref: &ImageRef,
    root: &Digest,
    opts: &RegistryOptions,
) -> anyhow::Result<Store> {
    let Some(r) = dst_ref.by_digest(root) else {
        anyhow::bail!("destination {dst_ref}: signatures cannot be stored in a docker-archive")
    };
    Ok(Store::open(&r, opts)?)
}

/// Copy the attachments of the image just copied (`root`): of the root and, for a list,
/// of each platform's manifest. With `one_platform` the root is a platform's manifest
/// taken out of a list: the list's own attachments cannot apply to it and are reported
/// as skipped.
fn copy_attachments(
    src_ref: &ImageRef,
    dst_ref: &ImageRef,
    (src_opts, dst_opts): (&RegistryOptions, &RegistryOptions),
    root: Option<&Descriptor>,
    one_platform: bool,
) -> anyhow::Result<AttachmentsReport> {
    let Some(root) = root else {
        anyhow::bail!("the copy recorded no root; nothing to attach signatures to")
    };
    let src = Store::open(src_ref, src_opts)?;
    let mut dst = destination_store(dst_ref, &root.digest, dst_opts)?;
    let mut out = AttachmentsReport::default();
    let src_root = src.root()?;
    let mut subjects = vec![root.clone()];
    if one_platform {
        let list = src_root.descriptor();
        if list.digest != root.digest {
            let a = src.attachments(&list.digest)?;
            out.skipped.push(SkippedSubject {
                digest: list.digest.clone(),
                signatures: a.signatures.len(),
                attestations: a.attestations.len(),
                bundles: a.bundles.len(),
                reason: "--platform: the list is not copied, so what is attached to it cannot apply to the copy".into(),
            });
        }
    } else if let Root::Index(index) = &src_root {
        subjects.extend(image_entries(index).into_iter().cloned());
    }
    for subject in subjects {
        let a = src.attachments(&subject.digest)?;
        let put = dst.put_attachments(&subject, &a)?;
        out.added += put.added;
        out.subjects.push(SubjectAttachments {
            digest: subject.digest.clone(),
            media_type: subject.media_type.clone(),
            platform: subject.platform.as_ref().map(|p| p.to_string()),
            signatures: a.signatures.len(),
            attestations: a.attestations.len(),
            bundles: a.bundles.len(),
            added: put.added,
            locations: put.locations,
        });
    }
    Ok(out)
}

fn print_attachments(a: &AttachmentsReport) {
    for s in &a.subjects {
        let platform = s
            .platform
            .as_deref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        println!(
            "  attachments of {}{platform}: {} signatures, {} attestations, {} bundles; {} added",
            s.digest, s.signatures, s.attestations, s.bundles, s.added
        );
        for l in &s.locations {
            println!("    -> {l}");
        }
    }
    for s in &a.skipped {
        println!(
            "  skipped {}: {} signatures, {} attestations, {} bundles ({})",
            s.digest, s.signatures, s.attestations, s.bundles, s.reason
        );
    }
    println!("Attachments: {} added", a.added);
}
