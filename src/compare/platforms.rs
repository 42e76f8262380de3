//! Multi-platform comparison: the Windows platforms of an image, matched with the same
//! platform of another (`diff IMAGE_A IMAGE_B`), compared in parallel (one thread per
//! platform, each with its own opened sources) into one [`Report`]. The rebuild
//! (`crate::rebuild`) enumerates platforms and runs its jobs with the same helpers.
//!
//! Owns: platform enumeration and matching, the thread budget, hashing layers that are
//! compared by digest only. Does not own: the comparison itself (`compare_platform`).

use super::{Error, Expectation, ImageId, Options, Report, Side, Verdict, compare_platform};
use crate::image::registry::RegistryOptions;
use crate::image::{
    self, Descriptor, ImageRef, ImageSource, Platform, PlatformSelector, ResolvedImage, Root,
    model, source,
};
use crate::progress::Progress;
use std::path::{Path, PathBuf};

/// One platform of an image: the index entry (or the root manifest) and the resolved image.
pub struct PlatformImage {
    pub descriptor: Descriptor,
    pub platform: Platform,
    pub image: ResolvedImage,
}

fn img_err(what: &str) -> impl Fn(image::Error) -> Error + '_ {
    move |e| Error::Image(what.to_string(), e)
}

/// Resolve a manifest descriptor to an image.
pub fn resolve_manifest(
    src: &dyn ImageSource,
    desc: &Descriptor,
    index: Option<&image::Index>,
) -> Result<ResolvedImage, Error> {
    let what = format!("{} manifest {}", src.name(), desc.digest);
    let manifest = src.read_manifest(desc).map_err(img_err(&what))?;
    manifest.check_image().map_err(img_err(&what))?;
    let config = src.read_config(&manifest.config).map_err(img_err(&what))?;
    Ok(ResolvedImage {
        index: index.cloned(),
        selected: index.map(|_| desc.clone()),
        manifest,
        config,
    })
}

/// Every Windows platform of an image (a single manifest is one platform), filtered by
/// `select`. Non-Windows entries are skipped; none left is an error.
pub fn windows_platforms(
    src: &dyn ImageSource,
    select: Option<&PlatformSelector>,
) -> Result<Vec<PlatformImage>, Error> {
    let name = src.name();
    let mut root = src.root().map_err(img_err(&name))?;
    // A layout's index.json whose one image is a list (signatures may sit beside it):
    // the platforms are that list's.
    for _ in 0..4 {
        let Root::Index(ix) = &root else { break };
        let next = match source::image_entries(ix).as_slice() {
            [one] if model::is_index(&one.media_type) => {
                src.read_root(one).map_err(img_err(&name))?
            }
            _ => break,
        };
        root = next;
    }
    let mut out = Vec::new();
    // Every Windows platform seen, for the error when `select` matches none of them.
    let mut seen: Vec<String> = Vec::new();
    match root {
        Root::Manifest(m) => {
            let img = resolve_manifest(src, &m.descriptor, None)?;
            let p = img.config.platform();
            seen.push(p.to_string());
            if select.is_none_or(|s| s.matches(&p)) {
                out.push(PlatformImage {
                    descriptor: m.descriptor.clone(),
                    platform: p,
                    image: img,
                });
            }
        }
        Root::Index(ix) => {
            for d in source::image_entries(&ix) {
                if !model::is_manifest(&d.media_type) {
                    continue;
                }
                let p = d.platform.clone().unwrap_or_default();
                if !p.os.is_empty() && p.os != "windows" {
                    continue;
                }
                seen.push(p.to_string());
                if select.is_some_and(|s| !s.matches(&p)) {
                    continue;
                }
                let img = resolve_manifest(src, d, Some(&ix))?;
                let cp = img.config.platform();
                if cp.os != "windows" {
                    continue;
                }
                out.push(PlatformImage {
                    descriptor: d.clone(),
                    platform: cp,
                    image: img,
                });
            }
        }
    }
    if out.is_empty() {
        return Err(Error::Input(format!(
            "{name}: no Windows platform{} in this image{}",
            select.map(|s| format!(" matching {s}")).unwrap_or_default(),
            if seen.is_empty() {
                String::new()
            } else {
                format!(" (available: {}); fix --platform", seen.join(", "))
            }
        )));
    }
    Ok(out)
}

/// The reference platform for `p`: same os, architecture and os.version.
pub fn matching<'a>(refs: &'a [PlatformImage], p: &Platform) -> Option<&'a PlatformImage> {
    refs.iter().find(|r| {
        r.platform.os == p.os
            && r.platform.architecture == p.architecture
            && r.platform.os_version == p.os_version
    })
}

/// `ImageId` of a source's root.
pub fn image_id(src: &dyn ImageSource, reference: &str) -> Result<ImageId, Error> {
    let root = src.root().map_err(img_err(reference))?;
    let d = root.descriptor();
    Ok(ImageId {
        reference: reference.to_string(),
        digest: d.digest.clone(),
        media_type: d.media_type.clone(),
    })
}

fn open(r: &ImageRef, registry: &RegistryOptions) -> Result<Box<dyn ImageSource>, Error> {
    image::open_with(r, registry).map_err(img_err(&r.to_string()))
}

/// An image opened once and held to the digest it resolved to: its [`ImageId`] (named as
/// the user wrote it), the reference by that digest, and a source opened by it. Every
/// later open (one per comparison thread) uses the pinned reference, so a tag that moves
/// mid-run cannot put another image's digest in the report (or a VSA's subject). A
/// docker-archive has no digest names and is read as given.
pub struct Pinned {
    pub id: ImageId,
    pub reference: ImageRef,
    pub source: Box<dyn ImageSource>,
}

pub fn open_pinned(r: &ImageRef, registry: &RegistryOptions) -> Result<Pinned, Error> {
    let first = open(r, registry)?;
    let id = image_id(first.as_ref(), &r.to_string())?;
    let Some(reference) = r.by_digest(&id.digest) else {
        return Ok(Pinned {
            id,
            reference: r.clone(),
            source: first,
        });
    };
    let source = open(&reference, registry)?;
    Ok(Pinned {
        id,
        reference,
        source,
    })
}

/// `diff IMAGE_A IMAGE_B`: every Windows platform of B against the same platform of A.
pub fn diff(
    a: &ImageRef,
    b: &ImageRef,
    select: Option<&PlatformSelector>,
    opts: &Options,
    registry: &RegistryOptions,
) -> Result<Report, Error> {
    let (a_pin, b_pin) = (open_pinned(a, registry)?, open_pinned(b, registry)?);
    let b_plats = windows_platforms(b_pin.source.as_ref(), select)?;
    let a_plats = windows_platforms(a_pin.source.as_ref(), select)?;
    let mut jobs = Vec::new();
    for bp in &b_plats {
        let ap = if a_plats.len() == 1 && b_plats.len() == 1 {
            &a_plats[0]
        } else {
            matching(&a_plats, &bp.platform).ok_or_else(|| {
                Error::Input(format!(
                    "{a} has no platform {} (it has: {})",
                    bp.platform,
                    a_plats
                        .iter()
                        .map(|p| p.platform.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?
        };
        jobs.push((ap, bp));
    }
    let results = parallel(&jobs, |(ap, bp)| {
        let (sa, sb) = (
            open(&a_pin.reference, registry)?,
            open(&b_pin.reference, registry)?,
        );
        let mut rep = compare_platform(
            &Side {
                source: sa.as_ref(),
                image: &ap.image,
            },
            &Side {
                source: sb.as_ref(),
                image: &bp.image,
            },
            &Expectation::default(),
            opts,
        )?;
        // The layers both share from the start (the base, compared by digest) are
        // hashed in IMAGE_B too: equal digests say nothing about the bytes behind them.
        let shared: Vec<Descriptor> = bp
            .image
            .layers()
            .iter()
            .zip(ap.image.layers())
            .take_while(|(x, y)| x.digest == y.digest)
            .map(|(x, _)| x.clone())
            .filter(|x| {
                !rep.layers
                    .iter()
                    .any(|l| l.published.as_ref().is_some_and(|p| p.digest == x.digest))
            })
            .collect();
        // Nothing else reads these blobs here (IMAGE_A's are not read either): no skip.
        let none = vec![None; shared.len()];
        for (i, why) in hash_blobs(sb.as_ref(), &shared, &none, &Progress::hidden()) {
            rep.reasons
                .push(format!("shared base layer {i} of {b}: {why}"));
            rep.verdict = Verdict::Different;
        }
        Ok::<_, Error>(rep)
    })?;
    Ok(super::report(
        "diff",
        b_pin.id,
        Some(a_pin.id),
        opts,
        results,
    ))
}

/// Run `f` over `jobs` on up to two threads at a time (the tool's core budget), keeping
/// order; the first error wins.
pub fn parallel<J: Sync, T: Send, E: Send + From<Error>, F>(jobs: &[J], f: F) -> Result<Vec<T>, E>
where
    F: Fn(&J) -> Result<T, E> + Sync,
{
    let width = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 4);
    let mut out: Vec<Option<Result<T, E>>> = (0..jobs.len()).map(|_| None).collect();
    for (chunk_i, chunk) in jobs.chunks(width).enumerate() {
        let res: Vec<Result<T, E>> = std::thread::scope(|s| {
            // Hive trees nest up to 512 keys deep: a bigger stack than the default.
            let hs: Vec<_> = chunk
                .iter()
                .map(|j| {
                    std::thread::Builder::new()
                        .stack_size(crate::limits::THREAD_STACK)
                        .spawn_scoped(s, || f(j))
                })
                .collect();
            hs.into_iter()
                .map(|h| match h {
                    Ok(h) => h.join().unwrap_or_else(|_| {
                        Err(Error::Input("a comparison thread panicked".into()).into())
                    }),
                    Err(e) => {
                        Err(Error::Input(format!("cannot start a comparison thread: {e}")).into())
                    }
                })
                .collect()
        });
        for (k, r) in res.into_iter().enumerate() {
            out[chunk_i * width + k] = Some(r);
        }
    }
    out.into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error::Input("missing result".into()).into())))
        .collect()
}

/// Hash `layers` of `src` against their descriptors, streaming; (index, why) per failure.
/// `base_files[i]`: a file the caller verifies anyway (skipped when it is the same file).
pub fn hash_blobs(
    src: &dyn ImageSource,
    layers: &[Descriptor],
    base_files: &[Option<PathBuf>],
    progress: &Progress,
) -> Vec<(usize, String)> {
    let mut failures = Vec::new();
    for (i, d) in layers.iter().enumerate() {
        if d.is_foreign() {
            continue;
        }
        if let (Some(p), Some(Some(b))) = (src.blob_file(d), base_files.get(i))
            && same_file(&p, b)
        {
            continue;
        }
        match src.verified_blob(d) {
            Ok(Some(_)) => continue,
            Ok(None) => {}
            Err(e) => {
                failures.push((i, format!("{} cannot be read: {e}", d.digest)));
                continue;
            }
        }
        let r = src.open_blob(d).and_then(|r| {
            let mut r = progress.wrap_read(r, d.size, &format!("published base layer {}", i + 1));
            image::layer::drain(&mut r)
                .map_err(|e| image::Error::from_io(e, format!("reading blob {}", d.digest)))
        });
        if let Err(e) = r {
            failures.push((i, e.to_string()));
        }
    }
    failures
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}
