//! pause-verify: rebuild the Windows pause base image on Linux, byte for byte, compare it
//! with the published one, and sign and verify what was found.
//!
//! The crate reads as the data flows (see docs/architecture.md §1–2 and README.md):
//!
//! - [`image`]: one image model (index → manifest → config → layers) and interchangeable
//!   transports (`oci:` layout, `docker-archive:`, `docker://`) that only move verified bytes.
//! - [`hive`]: the regf registry hive format, including differencing (delta) hives: pure
//!   code over bytes.
//! - [`wclayer`]: the Windows container layer tar format (hcsshim's): pure code over streams.
//! - [`recipe`]: what to build: the upstream Dockerfile subset, a TOML recipe, the built-in default.
//! - [`build`]: recipe + base image → the pause-base layers, config and manifest.
//! - [`compare`]: rebuilt image vs published image, layer by layer and key by key.
//! - [`rebuild`]: the rebuild as one use case: each platform built from its pinned base,
//!   compared with the published one, and the statements that say so; [`rebuild::chain`]
//!   for a final image on a pause base.
//! - [`attest`]: in-toto statements, DSSE, cosign-compatible keys, signatures and storage.
//! - [`notary`]: Notary Project (notation) signatures: COSE/JWS envelopes, trust store and policy.
//! - [`policy`], [`audit`]: the release gate: a TOML policy, every check with its evidence.
//! - [`layout`]: the in-toto layout and links of the chain (NanoServer → pause base).
//! - [`fixture`]: a synthetic NanoServer for tests and the offline demo.
//! - [`time`], [`atomic`], [`progress`], [`limits`]: civil time, write-then-rename and locks,
//!   progress bars, the caps on hostile input.
//!
//! Nothing here prints or exits: the binary's `cli` module renders and picks exit codes.

pub mod atomic;
pub mod attest;
pub mod audit;
pub mod build;
pub mod compare;
pub mod fixture;
pub mod hive;
pub mod image;
pub mod layout;
pub mod limits;
pub mod notary;
pub mod pe;
pub mod policy;
pub mod progress;
pub mod rebuild;
pub mod recipe;
pub mod time;
pub mod wclayer;

/// The tool's version, recorded in provenance and JSON reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
