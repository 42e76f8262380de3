//! Copy an image from any source to any sink, every blob verified on the way.
//!
//! Blobs a transport verified already (registry downloads) go to the sink as
//! `VerifiedBlob`s, not hashed again; a source layout's blob files are hard-linked into a
//! destination layout on the same filesystem and verified through the link. See
//! `layout`'s module doc for the rule both keep.
//!
//! Order: layers, config, manifests, indexes, and only then the tag in the sink's index,
//! so a sink never lists an image whose blobs it lacks. Foreign (non-distributable)
//! layers are not copied by default: their descriptors keep their `urls`, the blobs are
//! left out (as go-containerregistry does by default). With `include_foreign` they are
//! copied and verified like any blob (a registry source fetches them from their `urls`
//! when its options allow it; a layout source must hold the blob).

use super::error::{Error, Result};
use super::model::{self, Descriptor, PlatformSelector, Root};
use super::sink::ImageSink;
use super::source::{self, ImageSource};
use crate::progress::Progress;
use std::path::Path;

/// What a copy did.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyReport {
    /// The descriptor recorded in the destination (root index or manifest).
    pub root: Option<Descriptor>,
    pub blobs_written: u64,
    pub blobs_present: u64,
    pub bytes_written: u64,
    /// Foreign layers referenced but not copied.
    pub foreign_skipped: Vec<Descriptor>,
    #[serde(skip)]
    include_foreign: bool,
}

/// What to copy besides the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// Copy foreign (non-distributable) layers too, verified like any blob.
    pub include_foreign: bool,
}

/// Copy `src` into `sink`, tagging the root `tag`. With `platform`, only the matching
/// image (its manifest becomes the root); otherwise the whole root (all platforms).
pub fn copy_image(
    src: &dyn ImageSource,
    sink: &mut dyn ImageSink,
    platform: Option<&PlatformSelector>,
    tag: Option<&str>,
    opts: CopyOptions,
    progress: &Progress,
) -> Result<CopyReport> {
    let mut report = CopyReport {
        include_foreign: opts.include_foreign,
        ..CopyReport::default()
    };
    let root_desc = match platform {
        Some(_) => {
            let img = source::resolve(src, platform)?;
            copy_manifest(src, sink, &img.manifest, progress, &mut report)?;
            let mut d = img.manifest.descriptor.clone();
            if let Some(sel) = &img.selected {
                d.platform = sel.platform.clone();
            }
            d
        }
        None => {
            let root = src.root()?;
            copy_root(src, sink, &root, progress, &mut report, 0)?;
            root.descriptor().clone()
        }
    };
    sink.add_manifest(&root_desc, tag)?;
    report.root = Some(root_desc);
    Ok(report)
}

fn copy_root(
    src: &dyn ImageSource,
    sink: &mut dyn ImageSink,
    root: &Root,
    progress: &Progress,
    report: &mut CopyReport,
    depth: u32,
) -> Result<()> {
    match root {
        Root::Manifest(m) => copy_manifest(src, sink, m, progress, report),
        Root::Index(i) => {
            if depth > 4 {
                return Err(Error::malformed(
                    format!("index {}", i.descriptor.digest),
                    "indexes nested more than 4 deep",
                ));
            }
            for entry in &i.manifests {
                if !model::is_index(&entry.media_type) && !model::is_manifest(&entry.media_type) {
                    return Err(Error::UnknownMediaType {
                        what: format!("index {} entry {}", i.descriptor.digest, entry.digest),
                        media_type: entry.media_type.clone(),
                    });
                }
                let child = src.read_root(entry)?;
                copy_root(src, sink, &child, progress, report, depth + 1)?;
            }
            put_document(sink, &i.descriptor, &i.raw, report)
        }
    }
}

fn copy_manifest(
    src: &dyn ImageSource,
    sink: &mut dyn ImageSink,
    m: &model::Manifest,
    progress: &Progress,
    report: &mut CopyReport,
) -> Result<()> {
    for l in &m.layers {
        if !l.is_foreign() {
            copy_blob(src, sink, l, progress, report)?;
        } else if report.include_foreign {
            copy_blob(src, sink, l, progress, report).map_err(|e| foreign_missing(e, l))?;
        } else {
            report.foreign_skipped.push(l.clone());
        }
    }
    copy_blob(src, sink, &m.config, progress, report)?;
    put_document(sink, &m.descriptor, &m.raw, report)
}

/// A foreign layer absent from a layout source: say why it was wanted and what to do.
fn foreign_missing(e: Error, l: &Descriptor) -> Error {
    match e {
        Error::BlobMissing { digest, location } => Error::Unsupported(format!(
            "foreign layer {digest} is not in {location}: --include-foreign copies a foreign layer only when the source holds it (a registry source fetches it from its urls: {}); add the blob or copy without --include-foreign",
            if l.urls.is_empty() {
                "none".to_string()
            } else {
                l.urls.join(" ")
            }
        )),
        other => other,
    }
}

fn put_document(
    sink: &mut dyn ImageSink,
    d: &Descriptor,
    raw: &[u8],
    report: &mut CopyReport,
) -> Result<()> {
    if sink.has_blob(d)? {
        report.blobs_present += 1;
        return Ok(());
    }
    sink.put_blob(&mut &raw[..], Some(d))?;
    report.blobs_written += 1;
    report.bytes_written += d.size;
    Ok(())
}

fn copy_blob(
    src: &dyn ImageSource,
    sink: &mut dyn ImageSink,
    d: &Descriptor,
    progress: &Progress,
    report: &mut CopyReport,
) -> Result<()> {
    if sink.has_blob(d)? {
        report.blobs_present += 1;
        return Ok(());
    }
    let label = format!("copy {}", short(&d.digest));
    // Verified already by the transport (a registry download): stored without a second
    // hash, hard-linked where the sink can.
    if let Some(v) = src.verified_blob(d)? {
        sink.put_verified(&v)?;
        report.blobs_written += 1;
        report.bytes_written += d.size;
        return Ok(());
    }
    // A blob file of another layout: linked under a temporary name, verified by reading
    // through the link, made visible only then. One read, no write.
    if let Some(path) = src.blob_file(d)
        && let Some(staged) = sink.stage_link(d, &path)?
    {
        let file = staged
            .reader()
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let r = progress.wrap_read(Box::new(file), d.size, &label);
        let mut v = source::VerifyingReader::new(r, d);
        super::layer::drain(&mut v)
            .map_err(|e| Error::from_io(e, format!("reading blob {}", d.digest)))?;
        staged.commit()?;
        report.blobs_written += 1;
        report.bytes_written += d.size;
        return Ok(());
    }
    // Unverified here: the sink verifies size and digest before the blob becomes visible.
    let raw = src.open_raw(d)?;
    let mut r = progress.wrap_read(raw, d.size, &label);
    sink.put_blob(&mut r, Some(d))?;
    report.blobs_written += 1;
    report.bytes_written += d.size;
    Ok(())
}

fn short(d: &super::Digest) -> String {
    d.hex().chars().take(12).collect()
}

/// Copy into an OCI layout directory ([`super::layout::LayoutSink`]: a layout that does
/// not exist yet appears only when the copy succeeded).
pub fn copy_to_layout(
    src: &dyn ImageSource,
    dir: &Path,
    platform: Option<&PlatformSelector>,
    tag: Option<&str>,
    opts: CopyOptions,
    progress: &Progress,
) -> Result<CopyReport> {
    let mut sink = super::layout::LayoutSink::open(dir, tag)?;
    let report = copy_image(src, &mut sink, platform, None, opts, progress)?;
    sink.commit()?;
    Ok(report)
}
