//! Signing and attestations, cosign-compatible: keys, in-toto statements, DSSE, Sigstore
//! bundles, legacy `.sig` payloads, and how they are stored. Pure code over bytes (no
//! network, no printing; files only through `crate::atomic`), except [`attach`], which
//! moves those bytes through the image transports.
//!
//! - [`keys`]: cosign key files (encrypted private key, PKIX public key), ECDSA P-256.
//! - [`statement`]: in-toto Statement v1, SLSA Provenance v1 and VSA v1 builders.
//! - [`dsse`]: DSSE envelopes (PAE, sign, verify) and attestation checks.
//! - [`simplesigning`]: cosign's legacy image signature payloads.
//! - [`bundle`]: Sigstore bundles v0.3 (writing keyed ones; verifying keyed and keyless).
//! - [`keyless`]: offline keyless verification (Fulcio chain, identity, Rekor entry).
//! - [`legacy_keyless`]: cosign's keyless `.sig`/`.att` layers (certificate and Rekor
//!   bundle in annotations), verified through [`keyless`].
//! - [`trust_root`]: the Sigstore trusted root file (Fulcio CAs, Rekor and CT log keys).
//! - [`storage`]: `.sig`/`.att` manifests, referrer manifests, the `attestations/` dir.
//! - [`verify`]: the verdict vocabulary ([`Failure`], [`Check`]).
//! - [`attach`]: storing them with an image (OCI layout, registry) and checking
//!   everything stored for an image ([`attach::Store`]).
//!
//! Not here: fetching or pushing (image transports), choosing what to verify (policy).

pub mod attach;
pub mod bundle;
pub mod certificate;
pub mod dsse;
pub mod identity;
pub mod keyless;
pub mod keys;
pub mod legacy_keyless;
pub mod pkix;
pub mod simplesigning;
pub mod statement;
pub mod storage;
pub mod timestamp;
pub mod tlog;
pub mod trust_root;
pub mod tsa;
pub mod verify;

pub use keys::{KeyError, PrivateKey, PublicKey};
pub use verify::{Check, Failure, Verified};
