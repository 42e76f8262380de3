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
pub mod error;
pub mod layer;
pub mod layout;
pub mod model;
pub mod reference;
pub mod referrers;
pub mod registry;
pub mod source;
pub mod verified;

pub use archive::ArchiveSource;
pub use digest::Digest;
pub use error::{Error, Result};
pub use layout::{ImageSink, LayoutSource, LayoutWriter, Placement, StagedBlob};
pub use model::{Descriptor, ImageConfig, Index, Manifest, Platform, PlatformSelector, Root};
pub use reference::ImageRef;
pub use source::{ImageSource, ResolvedImage, VerifyingReader, resolve};
pub use verified::VerifiedBlob;

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

/// Open an image for reading (registry options from the environment).
pub fn open(r: &ImageRef) -> Result<Box<dyn ImageSource>> {
    match r {
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
        ImageRef::Registry { .. } => Ok(Box::new(registry::transport::RegistrySource::open(
            r,
            registry::RegistryOptions::from_env(),
        )?)),
    }
}
