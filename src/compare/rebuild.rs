//! Multi-platform orchestration: enumerate the Windows platforms of the image under test,
//! find the reference for each (the other image for `diff`; a rebuild from the
//! platform's own pinned base for `rebuild`), compare them in parallel (one thread per
//! platform, each with its own opened sources), and gather one [`Report`].
//!
//! Owns: platform enumeration and matching, base resolution (pins / `--base`), calling
//! `build` per platform. Does not own: the comparison itself (`compare_platform`).

use super::{Error, Expectation, ImageId, Options, PlatformReport, Report, Side, compare_platform};
use crate::image::{
    self, Descriptor, ImageRef, ImageSource, Platform, PlatformSelector, ResolvedImage, Root,
    model, source,
};

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
    let root = src.root().map_err(img_err(&name))?;
    let mut out = Vec::new();
    match root {
        Root::Manifest(m) => {
            let img = resolve_manifest(src, &m.descriptor, None)?;
            let p = img.config.platform();
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
            "{name}: no Windows platform{} in this image",
            select.map(|s| format!(" matching {s}")).unwrap_or_default()
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

fn open(r: &ImageRef) -> Result<Box<dyn ImageSource>, Error> {
    image::open(r).map_err(img_err(&r.to_string()))
}

/// `diff IMAGE_A IMAGE_B`: every Windows platform of B against the same platform of A.
pub fn diff(
    a: &ImageRef,
    b: &ImageRef,
    select: Option<&PlatformSelector>,
    opts: &Options,
) -> Result<Report, Error> {
    let (a_src, b_src) = (open(a)?, open(b)?);
    let b_plats = windows_platforms(b_src.as_ref(), select)?;
    let a_plats = windows_platforms(a_src.as_ref(), select)?;
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
        let (sa, sb) = (open(a)?, open(b)?);
        compare_platform(
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
        )
    })?;
    Ok(super::report(
        "diff",
        image_id(b_src.as_ref(), &b.to_string())?,
        Some(image_id(a_src.as_ref(), &a.to_string())?),
        opts,
        results,
    ))
}

/// Run `f` over `jobs` on up to two threads at a time (the tool's core budget), keeping
/// order; the first error wins.
pub fn parallel<J: Sync, F>(jobs: &[J], f: F) -> Result<Vec<PlatformReport>, Error>
where
    F: Fn(&J) -> Result<PlatformReport, Error> + Sync,
{
    let width = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 4);
    let mut out: Vec<Option<Result<PlatformReport, Error>>> =
        (0..jobs.len()).map(|_| None).collect();
    for (chunk_i, chunk) in jobs.chunks(width).enumerate() {
        let res: Vec<Result<PlatformReport, Error>> = std::thread::scope(|s| {
            let hs: Vec<_> = chunk.iter().map(|j| s.spawn(|| f(j))).collect();
            hs.into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::Input("a comparison thread panicked".into()))
                    })
                })
                .collect()
        });
        for (k, r) in res.into_iter().enumerate() {
            out[chunk_i * width + k] = Some(r);
        }
    }
    out.into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error::Input("missing result".into()))))
        .collect()
}
