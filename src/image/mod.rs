//! The image model and its transports.
//!
//! Owns: image references, digests, the index/manifest/config model (OCI and Docker
//! schema2), platform selection, and the transports that read and write images
//! (`layout`: OCI image layout, `archive`: docker-archive, `registry`: docker://, later).
//! Every blob leaves a transport verified against its digest.
//!
//! Does not own: what is inside a layer (see `wclayer`) or what a change means (see
//! `build`, `compare`).
//!
//! API the other modules build on:
//! - [`ImageRef`] (`reference`): `oci:DIR[:TAG]`, `oci:DIR@sha256:…`, `docker-archive:FILE`,
//!   `docker://HOST/REPO[:TAG][@sha256:…]` (bare `HOST/REPO:TAG` = docker://); `FromStr` + `Display`.
//! - [`model`]: [`Descriptor`], [`Platform`], [`PlatformSelector`] (`windows/amd64[:PREFIX]`),
//!   [`Root`] = [`Index`] | [`Manifest`], [`ImageConfig`] (each keeps its raw bytes; digests are
//!   of those bytes), `model::media::*` constants, `is_index` / `is_manifest` / `is_foreign` /
//!   `is_gzip` / `is_layer`.
//! - [`ImageSource`] (`source`): `root()`, `open_blob(&Descriptor)` (verifies size and digest
//!   while streaming), `read_manifest`, `read_index`, `read_config`; [`resolve`] picks one
//!   platform and returns a [`ResolvedImage`] (manifest, config, layers).
//! - [`open`]: `ImageRef` → `Box<dyn ImageSource>`.
//! - [`ImageSink`] (`layout`): `put_blob`, `put_bytes`, `add_manifest`; [`LayoutWriter`] implements it.
//! - [`layer`]: `verify_layer(raw, &desc, consume)` / `verify_blob(source, &desc, consume)`:
//!   digest + diff_id + sizes ([`layer::LayerDigests`]) in one pass while `consume` reads the
//!   uncompressed tar as a `&mut dyn BufRead` on the calling thread; `layer::walk_tar` is a
//!   ready consumer. Verdicts come at the end (an integrity error outranks a gzip/tar error).
//! - [`copy::copy_image`]: source → sink, verified.
//! - [`Error`]: one error type; integrity variants name blob, expected and actual.

pub mod archive;
pub mod cache;
pub mod copy;
pub mod digest;
pub mod dir;
pub mod error;
pub mod layer;
pub mod layout;
pub mod model;
pub mod reference;
pub mod referrers;
pub mod registry;
pub mod sink;
pub mod source;
pub mod verified;

pub use archive::ArchiveSource;
pub use digest::Digest;
pub use error::{Error, Result};
pub use layout::{LayoutSource, LayoutWriter, StagedBlob};
pub use model::{Descriptor, ImageConfig, Index, Manifest, Platform, PlatformSelector, Root};
pub use reference::ImageRef;
pub use sink::{ImageSink, Placement};
pub use source::{AttachmentKind, ImageSource, ResolvedImage, VerifyingReader, resolve};
pub use verified::VerifiedBlob;

/// Open a destination for writing (`Error::Unsupported` for what cannot be written):
/// `oci:DIR[:TAG]` ([`layout::LayoutSink`]: a new DIR appears on commit),
/// `docker://HOST/REPO[:TAG]` (blobs mounted from `from` when it is a repository of the
/// same registry), `docker-archive:FILE[:NAME:TAG]`, `dir:DIR`. A destination takes a tag,
/// not a digest. Call [`ImageSink::commit`] when done.
pub fn open_sink(
    r: &ImageRef,
    opts: &registry::RegistryOptions,
    from: Option<&ImageRef>,
) -> Result<Box<dyn ImageSink>> {
    let no_digest = || {
        Error::Unsupported(format!(
            "destination {r}: a destination takes a tag, not a digest"
        ))
    };
    match r {
        ImageRef::Layout {
            digest: Some(_), ..
        }
        | ImageRef::Registry {
            digest: Some(_), ..
        } => Err(no_digest()),
        ImageRef::Layout { dir, tag, .. } => {
            Ok(Box::new(layout::LayoutSink::open(dir, tag.as_deref())?))
        }
        ImageRef::Registry { registry, .. } => {
            let mount_from = match from {
                Some(ImageRef::Registry {
                    registry: r2,
                    repository,
                    ..
                }) if r2 == registry => Some(registry::RepoRef::new(r2, repository)),
                _ => None,
            };
            Ok(Box::new(registry::transport::RegistrySink::open(
                r,
                opts.clone(),
                mount_from,
            )?))
        }
        ImageRef::Archive { index: Some(_), .. } => Err(Error::Unsupported(format!(
            "destination {r}: an archive destination takes a NAME:TAG, not @N (docker-archive:FILE[:NAME:TAG])"
        ))),
        ImageRef::Archive {
            path, reference, ..
        } => Ok(Box::new(archive::ArchiveSink::open(
            path,
            reference.as_deref(),
        )?)),
        ImageRef::Dir { path } => Ok(Box::new(dir::DirSink::open(path)?)),
    }
}

/// Open an image for reading, with registry options (credentials, cache, ...) for
/// `docker://` references.
pub fn open_with(r: &ImageRef, opts: &registry::RegistryOptions) -> Result<Box<dyn ImageSource>> {
    match r {
        ImageRef::Registry { .. } => Ok(Box::new(registry::transport::RegistrySource::open(
            r,
            opts.clone(),
        )?)),
        _ => open(r),
    }
}

/// Open an image for reading (registry options from the environment). The only place a
/// reference is resolved to a transport.
pub fn open(r: &ImageRef) -> Result<Box<dyn ImageSource>> {
    match r {
        // The one meaning of a bare `oci:DIR` in every command: the one image the layout
        // holds, signatures and referrers beside it not counted (several: an error
        // listing them). Never index.json itself, which nothing refers to by digest.
        ImageRef::Layout {
            dir,
            tag: None,
            digest: None,
        } => Ok(Box::new(LayoutSource::open_one(dir)?)),
        ImageRef::Layout { dir, tag, digest } => Ok(Box::new(LayoutSource::open(
            dir,
            tag.as_deref(),
            digest.as_ref(),
        )?)),
        ImageRef::Archive {
            path,
            reference,
            index,
        } => Ok(Box::new(ArchiveSource::open(
            path,
            reference.as_deref(),
            *index,
        )?)),
        ImageRef::Dir { path } => Ok(Box::new(dir::DirSource::open(path)?)),
        ImageRef::Registry { .. } => Ok(Box::new(registry::transport::RegistrySource::open(
            r,
            registry::RegistryOptions::from_env(),
        )?)),
    }
}
