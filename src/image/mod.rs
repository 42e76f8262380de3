//! The image model and its transports.
//!
//! Owns: image references, digests, the index/manifest/config model (OCI and Docker
//! schema2), platform selection, and the transports that read and write images
//! (`layout`: OCI image layout, `archive`: docker-archive, `registry`: docker://).
//! Every blob leaves a transport verified against its digest.
//!
//! Does not own: what is inside a layer (see `wclayer`) or what a change means (see
//! `build`, `compare`).

pub mod digest;

pub use digest::Digest;
pub mod cache;
pub mod registry;
