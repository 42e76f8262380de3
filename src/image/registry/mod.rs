//! The `docker://` transport's client: talk to an OCI/Docker registry and move only
//! verified bytes.
//!
//! Owns: authentication per registry (anonymous, basic, bearer token; credentials from
//! `--creds` or docker's config, see [`auth`]), bounded retries ([`retry`]), size limits,
//! verified blob downloads into the blob cache (or memory / a private scratch directory with
//! `--no-cache`), parallel downloads with progress bars, uploads with an existence check
//! and cross-repository mount, manifest reads and writes, foreign-layer URL fetches, and
//! referrers ([`referrers`]). Does not own the image model or which blobs an image needs
//! (see `image`), nor what a layer holds.
//!
//! Built on `oci-client` (the client sigstore-rs uses) for the monolithic streamed blob
//! uploads. Around it, and why:
//! - the bearer token exchange is ours (realm/service/scope from `WWW-Authenticate`,
//!   credentials sent to the token endpoint): oci-client drops the answer's `expires_in`
//!   and keeps no way to replace a token the registry revoked. Ours caches each token
//!   until shortly before `expires_in` runs out, fetches a new one once when a request
//!   with it is refused (401), and hands it to oci-client for the uploads.
//! - manifest reads use reqwest directly: oci-client reads a manifest body whole with no
//!   size bound, so a hostile registry could make us buffer gigabytes. We refuse above
//!   [`MANIFEST_LIMIT`] from `Content-Length` and while streaming.
//! - blob reads use reqwest directly too: oci-client's `pull_blob_stream` hashes what it
//!   streams, and we must hash it ourselves anyway (into a landing that becomes visible
//!   only when digest and size match), so its pass would be a second SHA-256 of every layer.
//! - every call goes through [`retry`]: oci-client retries nothing.
//! - downloads are hashed and size-checked as they stream into a temporary file (renamed
//!   into the cache only when both match) or, with no cache, a private scratch directory
//!   (memory for small blobs, [`MEMORY_BLOB_LIMIT`]): nothing partial or unverified is
//!   ever visible. What landed is handed on as a [`VerifiedBlob`] (with the handle it was
//!   verified through), so a layout stores it without hashing it again.
//! - mount uses reqwest so that a registry answering a mount with an upload session
//!   (202) can be told to drop it; oci-client treats that as an error and leaks the session.
//! - referrers: listing and pushing via the OCI 1.1 API and the tag schema is ours
//!   (oci-client's fallback reads unbounded and has no push side).
//!
//! The rest of the crate is synchronous: [`Registry`] owns a tokio runtime and exposes
//! blocking methods.
//!
//! Files: `client` (options, repositories, the client and its authentication, retries),
//! `download` (manifests, verified blob landing, foreign URLs), `upload` (existence,
//! mount, push), `error` (errors and how responses map to them); `auth` (credentials and
//! challenges), `retry`, `referrers`, `transport` (the model's source and sink).

pub mod auth;
mod client;
mod download;
mod error;
pub mod referrers;
pub mod retry;
pub mod transport;
mod upload;

use crate::image::cache::{self, BlobCache};
use crate::image::digest::Digest;
use crate::image::model::Descriptor;
use crate::image::verified::VerifiedBlob;
use auth::{Challenge, Credentials};
use futures_util::StreamExt as _;
use oci_client::secrets::RegistryAuth;
use oci_client::token_cache::{RegistryToken, RegistryTokenType};
use oci_client::{Reference, RegistryOperation};
use retry::{Failure, RetryPolicy};
use sha2::Digest as _;
use std::collections::HashMap;
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest manifest or index we read (distribution's own default limit is 4 MiB).
pub use client::*;
pub use download::*;
pub use error::*;
pub use upload::*;

/// Largest manifest or index we read (distribution's own default limit is 4 MiB).
pub const MANIFEST_LIMIT: u64 = 4 << 20;

/// Largest image config we read as a whole.
pub const CONFIG_LIMIT: u64 = 4 << 20;

/// Manifest media types we ask for.
pub const MANIFEST_ACCEPT: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// Media types of foreign (non-distributable) layers.
pub fn is_foreign(media_type: &str) -> bool {
    media_type.contains(".foreign.") || media_type.contains("nondistributable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_to_plain_http_realms_only_where_plain_http_is_allowed() {
        let ok = |h: &str| is_loopback(h) || h == "mirror.internal:5000";
        assert_eq!(
            realm_refuses_credentials("https://auth.example/token", ok),
            None
        );
        assert_eq!(
            realm_refuses_credentials("http://127.0.0.1:5001/token", ok),
            None
        );
        assert_eq!(
            realm_refuses_credentials("http://mirror.internal:5000/t?x=1", ok),
            None
        );
        let e = realm_refuses_credentials("http://auth.example/token", ok).unwrap();
        assert!(e.contains("--insecure auth.example"), "{e}");
        assert!(realm_refuses_credentials("http://u@auth.example/", ok).is_some());
        assert!(realm_refuses_credentials("ftp://auth.example/", ok).is_some());
    }

    #[test]
    fn tls_verify_false_is_insecure_for_every_registry_but_not_for_other_realms() {
        let named = |o: RegistryOptions| Registry::new(o).unwrap();
        let insecure_one = named(RegistryOptions {
            insecure: vec!["registry.example".into()],
            ..RegistryOptions::default()
        });
        let all = named(RegistryOptions {
            insecure_all: true,
            ..RegistryOptions::default()
        });
        let secure = named(RegistryOptions::default());
        // As --insecure HOST for the registry named.
        assert_eq!(insecure_one.inner.scheme("registry.example"), "http");
        assert_eq!(all.inner.scheme("registry.example"), "http");
        assert_eq!(all.inner.scheme("other.example:5000"), "http");
        assert_eq!(secure.inner.scheme("registry.example"), "https");
        // Credentials still never go in clear to a token endpoint on a host not named.
        let repo = RepoRef::new("registry.example", "pause");
        assert!(
            all.inner
                .check_realm_for_credentials(&repo, "http://auth.example/token")
                .is_err()
        );
        assert!(
            all.inner
                .check_realm_for_credentials(&repo, "http://registry.example/token")
                .is_ok()
        );
        assert!(
            insecure_one
                .inner
                .check_realm_for_credentials(&repo, "http://registry.example/token")
                .is_ok()
        );
    }

    #[test]
    fn loopback_detection() {
        for h in [
            "127.0.0.1:5000",
            "localhost",
            "localhost:80",
            "[::1]:5000",
            "127.9.9.9",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "mcr.microsoft.com",
            "10.0.0.1:5000",
            "registry.k8s.io",
            "localhost.evil.com",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn foreign_media_types() {
        assert!(is_foreign(
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
        ));
        assert!(is_foreign(
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        ));
        assert!(!is_foreign("application/vnd.oci.image.layer.v1.tar+gzip"));
    }

    #[test]
    fn verified_reader_refuses_wrong_bytes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("b");
        std::fs::write(&p, b"hello").unwrap();
        let good = BlobRef {
            digest: Digest::of(b"hello"),
            size: 5,
            media_type: String::new(),
            urls: vec![],
        };
        let mut v = Vec::new();
        open_verified(&LocalBlob::File(p.clone()), &good)
            .unwrap()
            .read_to_end(&mut v)
            .unwrap();
        assert_eq!(v, b"hello");
        let bad = BlobRef {
            digest: Digest::of(b"hellO"),
            ..good.clone()
        };
        assert!(
            open_verified(&LocalBlob::File(p.clone()), &bad)
                .unwrap()
                .read_to_end(&mut v)
                .is_err()
        );
        let short = BlobRef { size: 4, ..good };
        assert!(
            open_verified(&LocalBlob::File(p.clone()), &short)
                .unwrap()
                .read_to_end(&mut v)
                .is_err()
        );
    }
}
