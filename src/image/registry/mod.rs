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

pub mod auth;
pub mod referrers;
pub mod retry;
pub mod transport;

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

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "{registry}: authentication failed: {detail} (give --creds USER:PASS or add credentials for {registry} to docker's config.json)"
    )]
    Auth { registry: String, detail: String },
    #[error("{registry}: {what} not found")]
    NotFound { registry: String, what: String },
    #[error("{registry}: {what}: {}{detail} (gave up after {attempts} tries)", if *timeout { "timed out: " } else { "" })]
    Transport {
        registry: String,
        what: String,
        detail: String,
        attempts: u32,
        timeout: bool,
    },
    #[error("{registry}: {what} is larger than the {limit}-byte limit; refused")]
    TooLarge {
        registry: String,
        what: String,
        limit: u64,
    },
    #[error(
        "{registry}: {what}: content does not match: expected {expected} ({expected_size} bytes), received {actual} ({size} bytes)"
    )]
    Mismatch {
        registry: String,
        what: String,
        expected: Digest,
        expected_size: u64,
        actual: Digest,
        size: u64,
    },
    #[error("{registry}: {what}: the registry answered {status}: {detail}")]
    Refused {
        registry: String,
        what: String,
        status: u16,
        detail: String,
    },
    #[error("{registry}: {what}: {detail}")]
    Protocol {
        registry: String,
        what: String,
        detail: String,
    },
    #[error("foreign layer {digest} ({media_type}) is not downloaded without --include-foreign")]
    ForeignSkipped { digest: Digest, media_type: String },
    #[error(transparent)]
    Credentials(#[from] auth::AuthError),
    #[error(transparent)]
    Cache(#[from] cache::CacheError),
    #[error("{0}")]
    Setup(String),
}

/// What a command asked of the transport.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// `--creds USER:PASS`: used for every registry this run talks to.
    pub creds: Option<Credentials>,
    /// `--insecure REGISTRY` (repeatable): plain HTTP for these hosts. Loopback hosts
    /// (127.0.0.0/8, localhost, [::1]) always use plain HTTP.
    pub insecure: Vec<String>,
    /// Blob cache root (`None`: no cache; blobs go to a scratch directory removed at exit).
    pub cache_dir: Option<PathBuf>,
    /// `--include-foreign`: fetch foreign layers from their URLs.
    pub include_foreign: bool,
    /// Progress bars on stderr (only when it is a terminal).
    pub progress: bool,
    /// Docker config file (default `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`).
    pub docker_config: Option<PathBuf>,
    /// Longest wait for the next bytes of an answer.
    pub read_timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    /// Blobs moved at once.
    pub parallel: usize,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            creds: None,
            insecure: Vec::new(),
            cache_dir: None,
            include_foreign: false,
            progress: false,
            docker_config: auth::default_config_path(),
            read_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(15),
            retry: RetryPolicy::default(),
            parallel: 4,
        }
    }
}

impl RegistryOptions {
    /// Defaults plus the environment: the XDG blob cache unless `PAUSE_VERIFY_NO_CACHE=1`,
    /// `PAUSE_VERIFY_HTTP_TIMEOUT` (seconds) for the read timeout.
    pub fn from_env() -> RegistryOptions {
        let mut o = RegistryOptions {
            cache_dir: if cache::disabled_by_env() {
                None
            } else {
                cache::default_dir()
            },
            ..RegistryOptions::default()
        };
        if let Some(secs) = std::env::var("PAUSE_VERIFY_HTTP_TIMEOUT")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
        {
            o.read_timeout = Duration::from_secs_f64(secs);
        }
        o
    }
}

/// A repository on a registry: `HOST[:PORT]` and `path/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoRef {
    pub registry: String,
    pub repository: String,
}

impl RepoRef {
    pub fn new(registry: &str, repository: &str) -> RepoRef {
        RepoRef {
            registry: registry.to_string(),
            repository: repository.to_string(),
        }
    }

    fn oci(&self, tag: &str) -> Reference {
        Reference::with_tag(
            self.registry.clone(),
            self.repository.clone(),
            tag.to_string(),
        )
    }

    /// The host the API is served from (docker.io's is not docker.io).
    pub fn api_host(&self) -> String {
        self.oci("latest").resolve_registry().to_string()
    }
}

impl std::fmt::Display for RepoRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)
    }
}

/// A manifest by tag or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestRef {
    Tag(String),
    Digest(Digest),
}

impl std::fmt::Display for ManifestRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManifestRef::Tag(t) => f.write_str(t),
            ManifestRef::Digest(d) => write!(f, "{d}"),
        }
    }
}

/// A manifest as the registry served it, verified.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

/// What a blob is expected to be (from its descriptor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub urls: Vec<String>,
}

/// How a blob got to the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PushOutcome {
    Existed,
    Mounted,
    Uploaded,
}

/// Blobs up to this size (configs, small layers) are kept in memory when there is no
/// cache (`--no-cache`); larger ones land in a scratch file. Measured on a loopback pull
/// of 4 x 22 MB layers: a scratch file costs half the CPU of fresh memory (page faults
/// on every new page; writes to the page cache avoid them), and a layout on the same
/// filesystem hard-links it instead of writing it again.
pub const MEMORY_BLOB_LIMIT: u64 = 1 << 20;

/// Blobs to push (spooled from a reader) up to this size stay in memory without a cache.
const SPOOL_MEMORY_LIMIT: u64 = 512 << 20;

/// A verified blob held locally: a file (cache or scratch) or, without a cache, memory.
#[derive(Debug, Clone)]
pub enum LocalBlob {
    File(PathBuf),
    Memory(bytes::Bytes),
}

impl LocalBlob {
    /// Its bytes as stored (verified when stored; [`open_verified`] checks again).
    pub fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(match self {
            LocalBlob::File(p) => Box::new(std::fs::File::open(p)?),
            LocalBlob::Memory(b) => Box::new(std::io::Cursor::new(b.clone())),
        })
    }

    pub fn read_all(&self) -> std::io::Result<Vec<u8>> {
        match self {
            LocalBlob::File(p) => std::fs::read(p),
            LocalBlob::Memory(b) => Ok(b.to_vec()),
        }
    }

    pub fn path(&self) -> Option<&Path> {
        match self {
            LocalBlob::File(p) => Some(p),
            LocalBlob::Memory(_) => None,
        }
    }
}

/// A blob landed and verified in this process: where it is, and for a file the handle
/// it was verified through (see [`VerifiedBlob`]).
#[derive(Debug, Clone)]
struct Held {
    local: LocalBlob,
    file: Option<Arc<std::fs::File>>,
}

impl Held {
    fn verified(&self, desc: &Descriptor) -> Option<VerifiedBlob> {
        match (&self.local, &self.file) {
            (LocalBlob::Memory(b), _) => {
                Some(VerifiedBlob::from_verified_memory(desc.clone(), b.clone()))
            }
            (LocalBlob::File(p), Some(f)) => Some(VerifiedBlob::from_verified_file(
                desc.clone(),
                p.clone(),
                f.clone(),
            )),
            (LocalBlob::File(_), None) => None,
        }
    }
}

enum Landing {
    File(tempfile::NamedTempFile),
    Memory(Vec<u8>),
}

impl Landing {
    fn write(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Landing::File(f) => f.as_file_mut().write_all(b),
            Landing::Memory(v) => {
                v.extend_from_slice(b);
                Ok(())
            }
        }
    }
}

/// An upload running in the background.
pub struct PendingPush(tokio::task::JoinHandle<Result<PushOutcome, RegistryError>>);

/// Byte counters (for reports and tests).
#[derive(Debug, Default)]
pub struct Counters {
    pub downloaded: AtomicU64,
    pub uploaded: AtomicU64,
    pub cache_hits: AtomicU64,
}

/// A bearer token and until when we use it.
#[derive(Clone)]
struct Token {
    value: String,
    fresh_until: Instant,
}

#[derive(Clone)]
struct HostAuth {
    challenge: Challenge,
    creds: Option<Credentials>,
}

struct Inner {
    http: reqwest::Client,
    opts: RegistryOptions,
    cache: Option<BlobCache>,
    scratch: tempfile::TempDir,
    oci: Mutex<HashMap<String, oci_client::Client>>,
    hosts: tokio::sync::Mutex<HashMap<String, HostAuth>>,
    tokens: Mutex<HashMap<(String, String, bool), Token>>,
    /// Held while a token is fetched, so that requests which find none (or all had the
    /// same one refused) wait for one fetch instead of each asking.
    token_fetch: tokio::sync::Mutex<()>,
    counters: Counters,
    bars: indicatif::MultiProgress,
    /// Verified blobs kept in memory (no cache).
    memory: Mutex<HashMap<Digest, bytes::Bytes>>,
    /// One download per digest at a time (prefetch and foreground share it). A prefetch
    /// leaves what it landed in the slot for the next foreground fetch, which takes it
    /// instead of looking the blob up (and hashing a cache entry) again.
    inflight: Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<Option<Held>>>>>,
    /// Bounds background transfers.
    permits: Arc<tokio::sync::Semaphore>,
}

/// A blocking registry client: one per command run, shared by every image it touches.
pub struct Registry {
    rt: tokio::runtime::Runtime,
    inner: Arc<Inner>,
}

/// Why credentials must not go to this token endpoint, if they must not: only over TLS,
/// unless its host is one plain HTTP is allowed for anyway (loopback or `--insecure`), so
/// a registry cannot make us send the user's password in clear by naming an `http://`
/// realm elsewhere.
fn realm_refuses_credentials(realm: &str, plain_http_ok: impl Fn(&str) -> bool) -> Option<String> {
    if realm.starts_with("https://") {
        return None;
    }
    let Some(rest) = realm.strip_prefix("http://") else {
        return Some(format!(
            "the token endpoint {realm:?} is not an http(s) URL; refusing to send credentials"
        ));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    if plain_http_ok(host) {
        None
    } else {
        Some(format!(
            "the token endpoint {realm} is plain HTTP on a non-loopback host; refusing to send \
             credentials in clear (pass --insecure {host} if that is really intended)"
        ))
    }
}

fn is_loopback(host: &str) -> bool {
    let h = host
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map(|(h, _)| h)
        .unwrap_or(host);
    let h = h.trim_start_matches('[').trim_end_matches(']');
    h == "localhost"
        || h == "::1"
        || h.parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
}

impl Registry {
    pub fn new(opts: RegistryOptions) -> Result<Registry, RegistryError> {
        // reqwest/oci-client are built without a default rustls provider (no aws-lc C
        // build); install ring once. An error means one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| RegistryError::Setup(format!("cannot start the I/O runtime: {e}")))?;
        let http = reqwest::Client::builder()
            .read_timeout(opts.read_timeout)
            .connect_timeout(opts.connect_timeout)
            .user_agent(concat!("pause-verify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RegistryError::Setup(format!("cannot build the HTTP client: {e}")))?;
        let cache = match &opts.cache_dir {
            Some(d) => Some(BlobCache::open(d)?),
            None => None,
        };
        let scratch = tempfile::Builder::new()
            .prefix("pause-verify-blobs-")
            .tempdir()
            .map_err(|e| RegistryError::Setup(format!("cannot create a scratch directory: {e}")))?;
        crate::atomic::note_temporary(scratch.path());
        let bars = if opts.progress && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            indicatif::MultiProgress::new()
        } else {
            indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden())
        };
        let opts_parallel = opts.parallel.max(1);
        Ok(Registry {
            rt,
            inner: Arc::new(Inner {
                http,
                opts,
                cache,
                scratch,
                oci: Mutex::new(HashMap::new()),
                hosts: tokio::sync::Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
                token_fetch: tokio::sync::Mutex::new(()),
                counters: Counters::default(),
                bars,
                memory: Mutex::new(HashMap::new()),
                inflight: Mutex::new(HashMap::new()),
                permits: Arc::new(tokio::sync::Semaphore::new(opts_parallel)),
            }),
        })
    }

    pub fn options(&self) -> &RegistryOptions {
        &self.inner.opts
    }

    pub fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    /// Read a manifest or index (bounded by [`MANIFEST_LIMIT`], digest-checked).
    pub fn manifest(
        &self,
        repo: &RepoRef,
        reference: &ManifestRef,
    ) -> Result<FetchedManifest, RegistryError> {
        self.rt
            .block_on(self.inner.clone().manifest(repo, reference))
    }

    /// Resolve a tag to the digest of the manifest it names now.
    pub fn resolve(&self, repo: &RepoRef, tag: &str) -> Result<Digest, RegistryError> {
        Ok(self
            .manifest(repo, &ManifestRef::Tag(tag.to_string()))?
            .digest)
    }

    /// A verified local copy of a blob (cache hit or fresh download).
    pub fn fetch_blob(&self, repo: &RepoRef, blob: &BlobRef) -> Result<LocalBlob, RegistryError> {
        let inner = self.inner.clone();
        Ok(self
            .rt
            .block_on(inner.fetch_blob(repo.clone(), blob.clone(), false))?
            .local)
    }

    /// [`Registry::fetch_blob`] as a [`VerifiedBlob`] for `desc`, so a sink can store it
    /// without hashing it again. `None` (rare: a scratch file found again without the
    /// handle it was verified through) means: read it with [`LocalBlob::open`] and verify.
    pub fn fetch_verified(
        &self,
        repo: &RepoRef,
        desc: &Descriptor,
    ) -> Result<Option<VerifiedBlob>, RegistryError> {
        let blob = BlobRef {
            digest: desc.digest.clone(),
            size: desc.size,
            media_type: desc.media_type.clone(),
            urls: desc.urls.clone(),
        };
        let inner = self.inner.clone();
        let held = self
            .rt
            .block_on(inner.fetch_blob(repo.clone(), blob, false))?;
        Ok(held.verified(desc))
    }

    /// Fetch several blobs in parallel (at most `parallel` at once); paths in input order.
    pub fn fetch_blobs(
        &self,
        repo: &RepoRef,
        blobs: &[BlobRef],
    ) -> Result<Vec<LocalBlob>, RegistryError> {
        let inner = self.inner.clone();
        let repo = repo.clone();
        let blobs = blobs.to_vec();
        self.rt.block_on(async move {
            let n = inner.opts.parallel.max(1);
            let tasks = blobs.into_iter().map(|b| {
                let inner = inner.clone();
                let repo = repo.clone();
                tokio::spawn(async move { inner.fetch_blob(repo, b, false).await.map(|h| h.local) })
            });
            let results: Vec<_> = futures_util::stream::iter(tasks)
                .buffered(n)
                .collect()
                .await;
            results
                .into_iter()
                .map(|r| {
                    r.map_err(|e| RegistryError::Setup(format!("download task failed: {e}")))?
                })
                .collect()
        })
    }

    /// Start downloading blobs in the background (bounded by `parallel`); a later
    /// [`Registry::fetch_blob`] of one of them waits for its download instead of starting
    /// another. Failures are left for that foreground call to meet and report.
    pub fn prefetch(&self, repo: &RepoRef, blobs: &[BlobRef]) {
        for b in blobs {
            if is_foreign(&b.media_type) && !self.inner.opts.include_foreign {
                continue;
            }
            let inner = self.inner.clone();
            let repo = repo.clone();
            let b = b.clone();
            self.rt.spawn(async move {
                let Ok(_permit) = inner.permits.clone().acquire_owned().await else {
                    return;
                };
                let _ = inner.fetch_blob(repo, b, true).await;
            });
        }
    }

    /// Start uploading one blob from a file in the background; see [`PendingPush::wait`].
    pub fn start_push(
        &self,
        repo: &RepoRef,
        blob: &BlobRef,
        path: LocalBlob,
        mount_from: Option<&RepoRef>,
    ) -> PendingPush {
        let inner = self.inner.clone();
        let repo = repo.clone();
        let blob = blob.clone();
        let mount_from = mount_from
            .filter(|m| m.registry == repo.registry && m.repository != repo.repository)
            .cloned();
        PendingPush(self.rt.spawn(async move {
            let _permit = inner.permits.clone().acquire_owned().await;
            inner.push_blob(repo, blob, path, mount_from).await
        }))
    }

    /// Wait for a background upload.
    pub fn wait(&self, p: PendingPush) -> Result<PushOutcome, RegistryError> {
        self.rt
            .block_on(p.0)
            .map_err(|e| RegistryError::Setup(format!("upload task failed: {e}")))?
    }

    /// Copy a reader into the blob store, verified against `blob`; returns its path.
    pub fn spool(&self, blob: &BlobRef, reader: impl Read) -> Result<LocalBlob, RegistryError> {
        Ok(self.inner.spool(blob, reader)?.local)
    }

    /// Copy a reader of unknown digest into the blob store; returns path, digest, size.
    pub fn spool_any(&self, reader: impl Read) -> Result<(LocalBlob, Digest, u64), RegistryError> {
        let mut tmp = self.inner.temp_file()?;
        let mut r = crate::image::digest::HashingReader::new(reader);
        std::io::copy(&mut r, tmp.as_file_mut())
            .map_err(|e| RegistryError::Setup(format!("reading a blob to push: {e}")))?;
        let (d, n) = r.finish();
        let p = self.inner.land(Landing::File(tmp), &d)?;
        Ok((p.local, d, n))
    }

    /// Read a small blob (a config) whole; refused above `limit`.
    pub fn blob_bytes(
        &self,
        repo: &RepoRef,
        blob: &BlobRef,
        limit: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        if blob.size > limit {
            return Err(RegistryError::TooLarge {
                registry: repo.registry.clone(),
                what: format!("blob {}", blob.digest),
                limit,
            });
        }
        let p = self.fetch_blob(repo, blob)?;
        let mut r = open_verified(&p, blob)?;
        let mut v = Vec::with_capacity(blob.size as usize);
        r.read_to_end(&mut v).map_err(|e| RegistryError::Protocol {
            registry: repo.registry.clone(),
            what: format!("blob {}", blob.digest),
            detail: e.to_string(),
        })?;
        Ok(v)
    }

    /// Is this blob in the repository?
    pub fn blob_exists(&self, repo: &RepoRef, digest: &Digest) -> Result<bool, RegistryError> {
        let inner = self.inner.clone();
        self.rt
            .block_on(async move { inner.blob_exists(repo, digest).await })
    }

    /// Upload blobs (each from a file holding exactly its bytes) in parallel: skipped when
    /// the repository has it, mounted from `mount_from` (same registry) when possible.
    pub fn push_blobs(
        &self,
        repo: &RepoRef,
        blobs: &[(BlobRef, LocalBlob)],
        mount_from: Option<&RepoRef>,
    ) -> Result<Vec<PushOutcome>, RegistryError> {
        let inner = self.inner.clone();
        let repo = repo.clone();
        let mount_from = mount_from
            .filter(|m| m.registry == repo.registry && m.repository != repo.repository)
            .cloned();
        let blobs = blobs.to_vec();
        self.rt.block_on(async move {
            let n = inner.opts.parallel.max(1);
            let tasks = blobs.into_iter().map(|(b, p)| {
                let inner = inner.clone();
                let repo = repo.clone();
                let mount_from = mount_from.clone();
                tokio::spawn(async move { inner.push_blob(repo, b, p, mount_from).await })
            });
            let results: Vec<_> = futures_util::stream::iter(tasks)
                .buffered(n)
                .collect()
                .await;
            results
                .into_iter()
                .map(|r| r.map_err(|e| RegistryError::Setup(format!("upload task failed: {e}")))?)
                .collect()
        })
    }

    /// Upload one blob from a reader: it is first copied into the cache (or scratch),
    /// verified, so that retries can start again from a file.
    pub fn push_blob_reader(
        &self,
        repo: &RepoRef,
        blob: &BlobRef,
        reader: impl Read,
        mount_from: Option<&RepoRef>,
    ) -> Result<PushOutcome, RegistryError> {
        let path = self.inner.spool(blob, reader)?.local;
        Ok(self
            .push_blobs(repo, &[(blob.clone(), path)], mount_from)?
            .remove(0))
    }

    /// Put a manifest by digest, then under each tag. Returns its digest.
    pub fn push_manifest(
        &self,
        repo: &RepoRef,
        bytes: &[u8],
        media_type: &str,
        tags: &[String],
    ) -> Result<Digest, RegistryError> {
        let inner = self.inner.clone();
        self.rt.block_on(async move {
            let digest = Digest::of(bytes);
            inner
                .put_manifest(
                    repo,
                    &ManifestRef::Digest(digest.clone()),
                    bytes,
                    media_type,
                )
                .await?;
            for t in tags {
                inner
                    .put_manifest(repo, &ManifestRef::Tag(t.clone()), bytes, media_type)
                    .await?;
            }
            Ok(digest)
        })
    }
}

/// Open a local blob file, verifying digest and size as it is read: the reader fails at
/// end of stream (and on overrun) instead of returning wrong bytes unnoticed.
pub fn open_verified(local: &LocalBlob, blob: &BlobRef) -> Result<VerifiedReader, RegistryError> {
    let f = local
        .open()
        .map_err(|e| RegistryError::Setup(format!("cannot open local blob {local:?}: {e}")))?;
    Ok(VerifiedReader {
        inner: f,
        hasher: sha2::Sha256::new(),
        expected: blob.digest.clone(),
        size: blob.size,
        count: 0,
        done: false,
    })
}

/// See [`open_verified`].
pub struct VerifiedReader {
    inner: Box<dyn Read + Send>,
    hasher: sha2::Sha256,
    expected: Digest,
    size: u64,
    count: u64,
    done: bool,
}

impl Read for VerifiedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.size {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "blob {} is longer than its descriptor's {} bytes",
                    self.expected, self.size
                ),
            ));
        }
        self.hasher.update(&buf[..n]);
        if n == 0 {
            self.done = true;
            let got = Digest::from_hasher(std::mem::take(&mut self.hasher));
            if got != self.expected || self.count != self.size {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "blob {} does not match: read {} bytes hashing to {got}",
                        self.expected, self.count
                    ),
                ));
            }
        }
        Ok(n)
    }
}

/// Retry or give up on an HTTP status `code` (`shown` as the messages name it): 429 and
/// 5xx are transient, 401/403 auth, 404 not found, anything else a refusal.
fn classify_code(
    registry: String,
    what: &str,
    code: u16,
    shown: &dyn std::fmt::Display,
    detail: String,
) -> Failure {
    match code {
        429 | 500..=599 => Failure::Transient {
            detail: format!("the registry answered {shown}"),
            timeout: false,
            retry_after: None,
        },
        401 | 403 => Failure::Fatal(RegistryError::Auth {
            registry,
            detail: format!("{what}: the registry answered {shown}"),
        }),
        404 => Failure::Fatal(RegistryError::NotFound {
            registry,
            what: what.to_string(),
        }),
        _ => Failure::Fatal(RegistryError::Refused {
            registry,
            what: what.to_string(),
            status: code,
            detail,
        }),
    }
}

fn classify_reqwest(e: &reqwest::Error) -> Failure {
    let mut detail = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        src = s.source();
    }
    Failure::Transient {
        detail,
        timeout: e.is_timeout(),
        retry_after: None,
    }
}

/// What a 429 or 503 answer's `Retry-After` asks for (other statuses: nothing).
fn retry_after_of(res: &reqwest::Response) -> Option<Duration> {
    if !matches!(res.status().as_u16(), 429 | 503) {
        return None;
    }
    let v = res
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    retry::parse_retry_after(v, std::time::SystemTime::now())
}

fn classify_io(e: &std::io::Error) -> Option<Failure> {
    let inner = e.get_ref()?;
    if let Some(r) = inner.downcast_ref::<reqwest::Error>() {
        return Some(classify_reqwest(r));
    }
    None
}

impl Inner {
    fn log(&self, msg: &str) {
        if self.opts.progress {
            self.bars.suspend(|| eprintln!("pause-verify: {msg}"));
        }
    }

    fn check_realm_for_credentials(
        &self,
        repo: &RepoRef,
        realm: &str,
    ) -> Result<(), RegistryError> {
        match realm_refuses_credentials(realm, |h| self.scheme(h) == "http") {
            None => Ok(()),
            Some(detail) => Err(RegistryError::Auth {
                registry: repo.registry.clone(),
                detail,
            }),
        }
    }

    fn scheme(&self, host: &str) -> &'static str {
        if is_loopback(host) || self.opts.insecure.iter().any(|h| h == host) {
            "http"
        } else {
            "https"
        }
    }

    fn base(&self, repo: &RepoRef) -> String {
        let host = repo.api_host();
        format!("{}://{}/v2/{}", self.scheme(&host), host, repo.repository)
    }

    fn oci_client(&self, host: &str) -> oci_client::Client {
        let mut map = self.oci.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(host.to_string())
            .or_insert_with(|| {
                let protocol = if self.scheme(host) == "http" {
                    oci_client::client::ClientProtocol::Http
                } else {
                    oci_client::client::ClientProtocol::Https
                };
                oci_client::Client::new(oci_client::client::ClientConfig {
                    protocol,
                    use_monolithic_push: true,
                    read_timeout: Some(self.opts.read_timeout),
                    connect_timeout: Some(self.opts.connect_timeout),
                    ..Default::default()
                })
            })
            .clone()
    }

    fn registry_auth(h: &HostAuth) -> RegistryAuth {
        match &h.creds {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
            None => RegistryAuth::Anonymous,
        }
    }

    /// Probe `/v2/` once per host and find credentials.
    async fn host_auth(&self, repo: &RepoRef) -> Result<HostAuth, Failure> {
        let host = repo.api_host();
        let mut hosts = self.hosts.lock().await;
        if let Some(h) = hosts.get(&host) {
            return Ok(h.clone());
        }
        let url = format!("{}://{}/v2/", self.scheme(&host), host);
        let res = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| classify_reqwest(&e))?;
        let status = res.status();
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(Failure::Transient {
                detail: format!("{url} answered {status}"),
                timeout: false,
                retry_after: retry_after_of(&res),
            });
        }
        let challenge = match res.headers().get(reqwest::header::WWW_AUTHENTICATE) {
            Some(v) => auth::parse_challenge(v.to_str().unwrap_or("")).ok_or_else(|| {
                Failure::Fatal(RegistryError::Protocol {
                    registry: repo.registry.clone(),
                    what: "/v2/".into(),
                    detail: format!("unsupported WWW-Authenticate challenge {v:?}"),
                })
            })?,
            None if status.is_success() => Challenge::None,
            None => {
                return Err(Failure::Fatal(RegistryError::Refused {
                    registry: repo.registry.clone(),
                    what: "/v2/ (is this a container registry?)".into(),
                    status: status.as_u16(),
                    detail: String::new(),
                }));
            }
        };
        let creds = match &self.opts.creds {
            Some(c) => Some(c.clone()),
            None => match &self.opts.docker_config {
                Some(p) => auth::from_docker_config(p, &repo.registry)
                    .map_err(|e| Failure::Fatal(e.into()))?,
                None => None,
            },
        };
        let h = HostAuth { challenge, creds };
        if !matches!(h.challenge, Challenge::None) {
            self.oci_client(&host)
                .store_auth_if_needed(&host, &Self::registry_auth(&h))
                .await;
        }
        hosts.insert(host, h.clone());
        Ok(h)
    }

    /// The Authorization header for our own requests (None: anonymous).
    async fn authorization(&self, repo: &RepoRef, push: bool) -> Result<Option<String>, Failure> {
        let h = self.host_auth(repo).await?;
        let fail = |detail: String| {
            Failure::Fatal(RegistryError::Auth {
                registry: repo.registry.clone(),
                detail,
            })
        };
        match &h.challenge {
            Challenge::None => Ok(None),
            Challenge::Basic => match &h.creds {
                Some(c) => Ok(Some(format!(
                    "Basic {}",
                    base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        format!("{}:{}", c.username, c.password)
                    )
                ))),
                None => Err(fail(
                    "the registry asks for credentials and none were given".into(),
                )),
            },
            Challenge::Bearer { realm, service } => {
                let key = (repo.api_host(), repo.repository.clone(), push);
                if let Some(t) = self.cached_token(&key) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let _one = self.token_fetch.lock().await;
                // Another request may have fetched it while we waited.
                if let Some(t) = self.cached_token(&key) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let t = self
                    .fetch_token(repo, realm, service.as_deref(), h.creds.as_ref(), push)
                    .await?;
                // Uploads go through oci-client: it sends the same token.
                let op = if push {
                    RegistryOperation::Push
                } else {
                    RegistryOperation::Pull
                };
                self.oci_client(&repo.api_host())
                    .tokens
                    .insert(
                        &repo.oci("latest"),
                        op,
                        RegistryTokenType::Bearer(RegistryToken::Token {
                            token: t.value.clone(),
                        }),
                    )
                    .await;
                let header = format!("Bearer {}", t.value);
                self.tokens
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, t);
                Ok(Some(header))
            }
        }
    }

    fn cached_token(&self, key: &(String, String, bool)) -> Option<String> {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .filter(|t| Instant::now() < t.fresh_until)
            .map(|t| t.value.clone())
    }

    /// Ask the token endpoint (distribution's token protocol) for `repository:NAME:pull`
    /// (or `pull,push`), with the credentials if there are any.
    async fn fetch_token(
        &self,
        repo: &RepoRef,
        realm: &str,
        service: Option<&str>,
        creds: Option<&Credentials>,
        push: bool,
    ) -> Result<Token, Failure> {
        let scope = format!(
            "repository:{}:{}",
            repo.repository,
            if push { "pull,push" } else { "pull" }
        );
        let mut query = vec![("scope", scope.as_str())];
        if let Some(s) = service {
            query.push(("service", s));
        }
        let asked = Instant::now();
        if creds.is_some() {
            self.check_realm_for_credentials(repo, realm)
                .map_err(Failure::Fatal)?;
        }
        let mut req = self.http.get(realm).query(&query);
        if let Some(c) = creds {
            req = req.basic_auth(&c.username, Some(&c.password));
        }
        let res = req.send().await.map_err(|e| classify_reqwest(&e))?;
        let status = res.status();
        let refused = |detail: String| {
            Failure::Fatal(RegistryError::Auth {
                registry: repo.registry.clone(),
                detail,
            })
        };
        if !status.is_success() {
            let retry_after = retry_after_of(&res);
            let body = read_bounded(res, 64 << 10).await.unwrap_or_default();
            let body = String::from_utf8_lossy(&body[..body.len().min(300)])
                .trim()
                .to_string();
            return Err(match status.as_u16() {
                429 | 500..=599 => Failure::Transient {
                    detail: format!("the token endpoint answered {status}"),
                    timeout: false,
                    retry_after,
                },
                _ => refused(format!("the token endpoint refused: {status} {body}")),
            });
        }
        let body = match read_bounded(res, auth::TOKEN_REPLY_LIMIT).await {
            Ok(b) => b,
            Err(ReadFail::Net(f)) => return Err(f),
            Err(ReadFail::TooLarge) => {
                return Err(Failure::Fatal(RegistryError::TooLarge {
                    registry: repo.registry.clone(),
                    what: "token endpoint answer".into(),
                    limit: auth::TOKEN_REPLY_LIMIT,
                }));
            }
        };
        let reply = auth::parse_token_reply(&body).map_err(|detail| {
            Failure::Fatal(RegistryError::Protocol {
                registry: repo.registry.clone(),
                what: "token endpoint answer".into(),
                detail,
            })
        })?;
        Ok(Token {
            fresh_until: asked + reply.use_for(),
            value: reply.token,
        })
    }

    /// A request carrying bearer token `sent` was answered 401: the token expired or was
    /// revoked. Forget it (the next try fetches another); `None` if no token was sent.
    fn refused_token(&self, repo: &RepoRef, what: &str, sent: Option<&str>) -> Option<Failure> {
        let token = sent?.strip_prefix("Bearer ")?;
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, t| t.value != token);
        Some(Failure::Unauthorized(RegistryError::Auth {
            registry: repo.registry.clone(),
            detail: format!(
                "{what}: the registry answered 401 Unauthorized to a bearer token, also to a newly fetched one"
            ),
        }))
    }

    /// Why a request failed, from the registry's answer (whose body is read, bounded,
    /// for the message). `sent`: the Authorization header the request carried.
    async fn refusal(
        &self,
        repo: &RepoRef,
        what: &str,
        res: reqwest::Response,
        sent: Option<&str>,
    ) -> Failure {
        let status = res.status();
        let retry_after = retry_after_of(&res);
        let body = read_bounded(res, 64 << 10).await.unwrap_or_default();
        if status.as_u16() == 401 {
            if let Some(f) = self.refused_token(repo, what, sent) {
                return f;
            }
        }
        match self.classify_status(repo, what, status, &body) {
            Failure::Transient {
                detail, timeout, ..
            } => Failure::Transient {
                detail,
                timeout,
                retry_after,
            },
            f => f,
        }
    }

    fn classify_status(
        &self,
        repo: &RepoRef,
        what: &str,
        status: reqwest::StatusCode,
        body: &[u8],
    ) -> Failure {
        let registry = repo.registry.clone();
        let detail = String::from_utf8_lossy(&body[..body.len().min(300)])
            .trim()
            .to_string();
        classify_code(registry, what, status.as_u16(), &status, detail)
    }

    fn classify_oci(
        &self,
        repo: &RepoRef,
        what: &str,
        e: oci_client::errors::OciDistributionError,
    ) -> Failure {
        use oci_client::errors::{OciDistributionError as E, OciErrorCode as C};
        let registry = repo.registry.clone();
        match e {
            E::RequestError(r) => classify_reqwest(&r),
            E::IoError(io) => {
                if let Some(d) = io
                    .get_ref()
                    .and_then(|i| i.downcast_ref::<oci_client::errors::DigestError>())
                {
                    return Failure::Integrity(RegistryError::Protocol {
                        registry,
                        what: what.to_string(),
                        detail: format!("content does not match its digest: {d}"),
                    });
                }
                classify_io(&io).unwrap_or(Failure::Transient {
                    detail: io.to_string(),
                    timeout: io.kind() == std::io::ErrorKind::TimedOut,
                    retry_after: None,
                })
            }
            E::ServerError { code, message, .. } => {
                classify_code(registry, what, code, &code, message)
            }
            E::RegistryError { envelope, .. } => {
                let codes: Vec<&C> = envelope.errors.iter().map(|e| &e.code).collect();
                if codes.iter().any(|c| matches!(c, C::Toomanyrequests)) {
                    Failure::Transient {
                        detail: "the registry answered TOOMANYREQUESTS".into(),
                        timeout: false,
                        retry_after: None,
                    }
                } else if codes
                    .iter()
                    .any(|c| matches!(c, C::Unauthorized | C::Denied))
                {
                    Failure::Fatal(RegistryError::Auth {
                        registry,
                        detail: format!("{what}: {envelope}"),
                    })
                } else if codes.iter().any(|c| {
                    matches!(
                        c,
                        C::BlobUnknown | C::ManifestUnknown | C::NameUnknown | C::NotFound
                    )
                }) {
                    Failure::Fatal(RegistryError::NotFound {
                        registry,
                        what: what.to_string(),
                    })
                } else {
                    Failure::Fatal(RegistryError::Protocol {
                        registry,
                        what: what.to_string(),
                        detail: envelope.to_string(),
                    })
                }
            }
            E::UnauthorizedError { .. } => Failure::Fatal(RegistryError::Auth {
                registry,
                detail: format!("{what}: the registry answered 401"),
            }),
            E::AuthenticationFailure(m) => Failure::Fatal(RegistryError::Auth {
                registry,
                detail: format!("the token endpoint refused: {}", m.trim()),
            }),
            E::DigestError(d) => Failure::Integrity(RegistryError::Protocol {
                registry,
                what: what.to_string(),
                detail: format!("content does not match its digest: {d}"),
            }),
            other => Failure::Fatal(RegistryError::Protocol {
                registry,
                what: what.to_string(),
                detail: other.to_string(),
            }),
        }
    }

    async fn retry<T, F, Fut>(&self, repo: &RepoRef, what: &str, op: F) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        retry::run(&self.opts.retry, what, &repo.registry, |m| self.log(m), op).await
    }

    async fn manifest(
        self: Arc<Self>,
        repo: &RepoRef,
        reference: &ManifestRef,
    ) -> Result<FetchedManifest, RegistryError> {
        let what = format!("manifest {repo}:{reference}");
        self.retry(repo, &what, || self.manifest_once(repo, reference, &what))
            .await
    }

    async fn manifest_once(
        &self,
        repo: &RepoRef,
        reference: &ManifestRef,
        what: &str,
    ) -> Result<FetchedManifest, Failure> {
        let url = format!("{}/manifests/{reference}", self.base(repo));
        let mut req = self
            .http
            .get(&url)
            .header(reqwest::header::ACCEPT, MANIFEST_ACCEPT.join(", "));
        let authz = self.authorization(repo, false).await?;
        if let Some(a) = &authz {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        let res = req.send().await.map_err(|e| classify_reqwest(&e))?;
        if !res.status().is_success() {
            return Err(self.refusal(repo, what, res, authz.as_deref()).await);
        }
        let too_large = || {
            Failure::Fatal(RegistryError::TooLarge {
                registry: repo.registry.clone(),
                what: what.to_string(),
                limit: MANIFEST_LIMIT,
            })
        };
        if res.content_length().is_some_and(|n| n > MANIFEST_LIMIT) {
            return Err(too_large());
        }
        let header_digest = res
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok());
        let content_type = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or(s).trim().to_string());
        let bytes = match read_bounded(res, MANIFEST_LIMIT).await {
            Ok(b) => b,
            Err(ReadFail::TooLarge) => return Err(too_large()),
            Err(ReadFail::Net(f)) => return Err(f),
        };
        let digest = Digest::of(&bytes);
        let expected = match reference {
            ManifestRef::Digest(d) => Some(d.clone()),
            ManifestRef::Tag(_) => header_digest,
        };
        if let Some(exp) = expected {
            if exp != digest {
                return Err(Failure::Integrity(RegistryError::Mismatch {
                    registry: repo.registry.clone(),
                    what: what.to_string(),
                    expected: exp,
                    expected_size: bytes.len() as u64,
                    actual: digest,
                    size: bytes.len() as u64,
                }));
            }
        }
        let media_type = match content_type.filter(|c| MANIFEST_ACCEPT.contains(&c.as_str())) {
            Some(c) => c,
            None => serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string))
                .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".into()),
        };
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
        })
    }

    fn temp_file(&self) -> Result<tempfile::NamedTempFile, RegistryError> {
        match &self.cache {
            Some(c) => Ok(c.temp()?),
            None => tempfile::Builder::new()
                .prefix(".partial-")
                .tempfile_in(self.scratch.path())
                .map_err(|e| RegistryError::Setup(format!("scratch directory: {e}"))),
        }
    }

    /// Where a download of `size` bytes lands while it is checked.
    /// `limit`: keep blobs up to this size in memory when there is no cache.
    fn landing(&self, size: u64, limit: u64) -> Result<Landing, RegistryError> {
        if self.cache.is_none() && size <= limit {
            return Ok(Landing::Memory(Vec::with_capacity(size as usize)));
        }
        Ok(Landing::File(self.temp_file()?))
    }

    /// Make a checked landing visible under its digest.
    fn land(&self, landing: Landing, digest: &Digest) -> Result<Held, RegistryError> {
        match (landing, &self.cache) {
            (Landing::Memory(v), _) => {
                let b = bytes::Bytes::from(v);
                self.memory
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(digest.clone(), b.clone());
                Ok(Held {
                    local: LocalBlob::Memory(b),
                    file: None,
                })
            }
            (Landing::File(tmp), Some(c)) => {
                let (p, f) = c.commit_file(tmp, digest)?;
                Ok(Held {
                    local: LocalBlob::File(p),
                    file: Some(Arc::new(f)),
                })
            }
            (Landing::File(tmp), None) => {
                let p = self.scratch.path().join(digest.hex());
                let setup =
                    |e: std::io::Error| RegistryError::Setup(format!("scratch directory: {e}"));
                cache::shareable(tmp.as_file()).map_err(setup)?;
                let f = tmp.persist(&p).map_err(|e| setup(e.error))?;
                Ok(Held {
                    local: LocalBlob::File(p),
                    file: Some(Arc::new(f)),
                })
            }
        }
    }

    fn lookup(&self, blob: &BlobRef) -> Result<Option<Held>, RegistryError> {
        if let Some(c) = &self.cache {
            if let Some((p, f)) = c.get_file(&blob.digest, blob.size)? {
                self.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Some(Held {
                    local: LocalBlob::File(p),
                    file: Some(Arc::new(f)),
                }));
            }
            return Ok(None);
        }
        if let Some(b) = self
            .memory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&blob.digest)
        {
            return Ok(Some(Held {
                local: LocalBlob::Memory(b.clone()),
                file: None,
            }));
        }
        let p = self.scratch.path().join(blob.digest.hex());
        Ok(p.exists().then_some(Held {
            local: LocalBlob::File(p),
            file: None,
        }))
    }

    /// Copy a reader into the store, verified.
    fn spool(&self, blob: &BlobRef, reader: impl Read) -> Result<Held, RegistryError> {
        if let Some(p) = self.lookup(blob)? {
            return Ok(p);
        }
        // A blob to push is read back once, by the upload: memory serves that best.
        let mut tmp = self.landing(blob.size, SPOOL_MEMORY_LIMIT)?;
        let mut r = crate::image::digest::HashingReader::new(reader.take(blob.size + 1));
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = r
                .read(&mut buf)
                .map_err(|e| RegistryError::Setup(format!("reading blob {}: {e}", blob.digest)))?;
            if n == 0 {
                break;
            }
            tmp.write(&buf[..n])
                .map_err(|e| RegistryError::Setup(format!("spooling blob {}: {e}", blob.digest)))?;
        }
        let (actual, n) = r.finish();
        if actual != blob.digest || n != blob.size {
            return Err(RegistryError::Mismatch {
                registry: "local".into(),
                what: format!("blob {}", blob.digest),
                expected: blob.digest.clone(),
                expected_size: blob.size,
                actual,
                size: n,
            });
        }
        self.land(tmp, &blob.digest)
    }

    /// `keep`: a prefetch, whose result waits in the in-flight slot for the foreground.
    async fn fetch_blob(
        self: Arc<Self>,
        repo: RepoRef,
        blob: BlobRef,
        keep: bool,
    ) -> Result<Held, RegistryError> {
        let lock = self
            .inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(blob.digest.clone())
            .or_default()
            .clone();
        let mut slot = lock.lock().await;
        if keep && let Some(h) = slot.as_ref() {
            return Ok(h.clone());
        }
        // Landed and verified by a prefetch in this process: handed over once, so a
        // later fetch looks the blob up (and checks a cache entry) again.
        if let Some(h) = slot.take() {
            return Ok(h);
        }
        let held = self.fetch_unlocked(&repo, &blob).await?;
        if keep {
            *slot = Some(held.clone());
        }
        Ok(held)
    }

    async fn fetch_unlocked(&self, repo: &RepoRef, blob: &BlobRef) -> Result<Held, RegistryError> {
        let (repo, blob) = (repo.clone(), blob.clone());
        if let Some(p) = self.lookup(&blob)? {
            return Ok(p);
        }
        let foreign = is_foreign(&blob.media_type);
        if foreign && !self.opts.include_foreign {
            return Err(RegistryError::ForeignSkipped {
                digest: blob.digest.clone(),
                media_type: blob.media_type.clone(),
            });
        }
        let bar = self.bars.add(indicatif::ProgressBar::new(blob.size));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:19} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(blob.digest.hex()[..12].to_string());
        let what = format!("blob {}", blob.digest);
        let r = self
            .retry(&repo, &what, || {
                bar.set_position(0);
                self.download_once(&repo, &blob, foreign, &bar, &what)
            })
            .await;
        bar.finish_and_clear();
        r
    }

    async fn download_once(
        &self,
        repo: &RepoRef,
        blob: &BlobRef,
        foreign: bool,
        bar: &indicatif::ProgressBar,
        what: &str,
    ) -> Result<Held, Failure> {
        let mut stream: futures_util::stream::BoxStream<'static, std::io::Result<bytes::Bytes>> =
            if foreign {
                self.foreign_stream(repo, blob, what).await?
            } else {
                // Our own GET rather than oci-client's `pull_blob_stream`: that one hashes
                // the stream as well, a second SHA-256 pass over every layer for nothing.
                // The token is ours (see `authorization`).
                let url = format!("{}/blobs/{}", self.base(repo), blob.digest);
                let mut req = self.http.get(&url);
                let authz = self.authorization(repo, false).await?;
                if let Some(a) = &authz {
                    req = req.header(reqwest::header::AUTHORIZATION, a);
                }
                let res = req.send().await.map_err(|e| classify_reqwest(&e))?;
                if !res.status().is_success() {
                    return Err(self.refusal(repo, what, res, authz.as_deref()).await);
                }
                if let Some(n) = res.content_length().filter(|n| *n != blob.size) {
                    return Err(Failure::Integrity(RegistryError::Protocol {
                        registry: repo.registry.clone(),
                        what: what.to_string(),
                        detail: format!(
                            "the registry announces {n} bytes, the descriptor says {}",
                            blob.size
                        ),
                    }));
                }
                res.bytes_stream()
                    .map(|r| r.map_err(std::io::Error::other))
                    .boxed()
            };
        let fatal = |e: RegistryError| Failure::Fatal(e);
        let mut tmp = self.landing(blob.size, MEMORY_BLOB_LIMIT).map_err(fatal)?;
        let mut hasher = sha2::Sha256::new();
        let mut n: u64 = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    if let Some(d) = e
                        .get_ref()
                        .and_then(|i| i.downcast_ref::<oci_client::errors::DigestError>())
                    {
                        return Err(Failure::Integrity(RegistryError::Protocol {
                            registry: repo.registry.clone(),
                            what: what.to_string(),
                            detail: format!("content does not match its digest: {d}"),
                        }));
                    }
                    return Err(classify_io(&e).unwrap_or(Failure::Transient {
                        detail: e.to_string(),
                        timeout: e.kind() == std::io::ErrorKind::TimedOut,
                        retry_after: None,
                    }));
                }
            };
            n += chunk.len() as u64;
            self.counters
                .downloaded
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            if n > blob.size {
                return Err(Failure::Integrity(RegistryError::Protocol {
                    registry: repo.registry.clone(),
                    what: what.to_string(),
                    detail: format!("longer than its descriptor's {} bytes", blob.size),
                }));
            }
            hasher.update(&chunk);
            tmp.write(&chunk)
                .map_err(|e| fatal(RegistryError::Setup(format!("storing {what}: {e}"))))?;
            bar.set_position(n);
        }
        let actual = Digest::from_hasher(hasher);
        if actual != blob.digest || n != blob.size {
            return Err(Failure::Integrity(RegistryError::Mismatch {
                registry: repo.registry.clone(),
                what: what.to_string(),
                expected: blob.digest.clone(),
                expected_size: blob.size,
                actual,
                size: n,
            }));
        }
        self.land(tmp, &blob.digest).map_err(fatal)
    }

    /// A foreign layer's body from the first of its URLs that answers. Never sends our
    /// registry credentials there (CVE-2020-15157); the digest check is the same.
    async fn foreign_stream(
        &self,
        repo: &RepoRef,
        blob: &BlobRef,
        what: &str,
    ) -> Result<futures_util::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>, Failure>
    {
        let mut last = None;
        for url in &blob.urls {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                continue;
            }
            match self.http.get(url).send().await {
                Ok(res) if res.status().is_success() => {
                    return Ok(res
                        .bytes_stream()
                        .map(|r| r.map_err(std::io::Error::other))
                        .boxed());
                }
                Ok(res) => {
                    last = Some(self.refusal(repo, what, res, None).await);
                }
                Err(e) => last = Some(classify_reqwest(&e)),
            }
        }
        Err(last.unwrap_or_else(|| {
            Failure::Fatal(RegistryError::Protocol {
                registry: repo.registry.clone(),
                what: what.to_string(),
                detail: "foreign layer has no http(s) URL to fetch from".into(),
            })
        }))
    }

    async fn blob_exists(&self, repo: &RepoRef, digest: &Digest) -> Result<bool, RegistryError> {
        let what = format!("blob {digest}");
        self.retry(repo, &what, || async {
            let url = format!("{}/blobs/{digest}", self.base(repo));
            let mut req = self.http.head(&url);
            let authz = self.authorization(repo, false).await?;
            if let Some(a) = &authz {
                req = req.header(reqwest::header::AUTHORIZATION, a);
            }
            let res = req.send().await.map_err(|e| classify_reqwest(&e))?;
            match res.status().as_u16() {
                200 => Ok(true),
                404 => Ok(false),
                _ => Err(self.refusal(repo, &what, res, authz.as_deref()).await),
            }
        })
        .await
    }

    /// `POST /blobs/uploads/?mount=&from=`: 201 means mounted; a 202 upload session
    /// (mount not possible) is cancelled so nothing dangles.
    async fn try_mount(
        &self,
        repo: &RepoRef,
        from: &RepoRef,
        digest: &Digest,
    ) -> Result<bool, Failure> {
        let url = format!("{}/blobs/uploads/", self.base(repo));
        let mut req = self
            .http
            .post(&url)
            .query(&[
                ("mount", digest.to_string()),
                ("from", from.repository.clone()),
            ])
            .header(reqwest::header::CONTENT_LENGTH, "0");
        let authz = self.authorization(repo, true).await?;
        if let Some(a) = &authz {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        let res = req.send().await.map_err(|e| classify_reqwest(&e))?;
        match res.status().as_u16() {
            201 => Ok(true),
            202 => {
                if let Some(loc) = res
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                {
                    let host = repo.api_host();
                    let loc = if loc.starts_with('/') {
                        format!("{}://{}{loc}", self.scheme(&host), host)
                    } else {
                        loc.to_string()
                    };
                    let mut del = self.http.delete(&loc);
                    if let Some(a) = &authz {
                        del = del.header(reqwest::header::AUTHORIZATION, a);
                    }
                    let _ = del.send().await;
                }
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    async fn push_blob(
        self: Arc<Self>,
        repo: RepoRef,
        blob: BlobRef,
        path: LocalBlob,
        mount_from: Option<RepoRef>,
    ) -> Result<PushOutcome, RegistryError> {
        if self.blob_exists(&repo, &blob.digest).await? {
            return Ok(PushOutcome::Existed);
        }
        let what = format!("upload of blob {}", blob.digest);
        if let Some(from) = &mount_from {
            if self
                .retry(&repo, &what, || self.try_mount(&repo, from, &blob.digest))
                .await?
            {
                return Ok(PushOutcome::Mounted);
            }
        }
        let bar = self.bars.add(indicatif::ProgressBar::new(blob.size));
        bar.set_message(blob.digest.hex()[..12].to_string());
        let r = self
            .retry(&repo, &what, || {
                self.upload_once(&repo, &blob, &path, &bar, &what)
            })
            .await;
        bar.finish_and_clear();
        r.map(|_| PushOutcome::Uploaded)
    }

    async fn upload_once(
        &self,
        repo: &RepoRef,
        blob: &BlobRef,
        path: &LocalBlob,
        bar: &indicatif::ProgressBar,
        what: &str,
    ) -> Result<(), Failure> {
        let authz = self.authorization(repo, true).await?;
        let file = path
            .open()
            .map_err(|e| Failure::Fatal(RegistryError::Setup(format!("{path:?}: {e}"))))?;
        bar.set_position(0);
        let progress = bar.clone();
        let inner_counter = Arc::new(AtomicU64::new(0));
        let counter = inner_counter.clone();
        // Blocking reads of a local file (page-cache speed) or memory, in 1 MiB chunks.
        let stream = futures_util::stream::unfold(file, move |mut f| {
            let progress = progress.clone();
            let counter = counter.clone();
            async move {
                let mut buf = vec![0u8; 1 << 20];
                match f.read(&mut buf) {
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        progress.inc(n as u64);
                        counter.fetch_add(n as u64, Ordering::Relaxed);
                        Some((Ok(bytes::Bytes::from(buf)), f))
                    }
                    Err(e) => Some((Err(oci_client::errors::OciDistributionError::IoError(e)), f)),
                }
            }
        });
        let client = self.oci_client(&repo.api_host());
        let r = client
            .push_blob_stream(
                &repo.oci("latest"),
                stream,
                &blob.digest.to_string(),
                Some(blob.size),
            )
            .await;
        self.counters
            .uploaded
            .fetch_add(inner_counter.load(Ordering::Relaxed), Ordering::Relaxed);
        r.map(|_| ()).map_err(|e| {
            use oci_client::errors::OciDistributionError as E;
            let unauthorized = matches!(
                e,
                E::UnauthorizedError { .. } | E::ServerError { code: 401, .. }
            );
            match unauthorized
                .then(|| self.refused_token(repo, what, authz.as_deref()))
                .flatten()
            {
                Some(f) => f,
                None => self.classify_oci(repo, what, e),
            }
        })
    }

    async fn put_manifest(
        &self,
        repo: &RepoRef,
        reference: &ManifestRef,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Option<Digest>, RegistryError> {
        let what = format!("manifest {repo}:{reference}");
        self.retry(repo, &what, || async {
            let url = format!("{}/manifests/{reference}", self.base(repo));
            let mut req = self
                .http
                .put(&url)
                .header(reqwest::header::CONTENT_TYPE, media_type)
                .body(bytes.to_vec());
            let authz = self.authorization(repo, true).await?;
            if let Some(a) = &authz {
                req = req.header(reqwest::header::AUTHORIZATION, a);
            }
            let res = req.send().await.map_err(|e| classify_reqwest(&e))?;
            let status = res.status();
            let subject = res
                .headers()
                .get("oci-subject")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<Digest>().ok());
            if status.is_success() {
                return Ok(subject);
            }
            Err(self.refusal(repo, &what, res, authz.as_deref()).await)
        })
        .await
    }
}

enum ReadFail {
    TooLarge,
    Net(Failure),
}

async fn read_bounded(res: reqwest::Response, limit: u64) -> Result<Vec<u8>, ReadFail> {
    let mut out = Vec::new();
    let mut s = res.bytes_stream();
    while let Some(c) = s.next().await {
        let c = c.map_err(|e| ReadFail::Net(classify_reqwest(&e)))?;
        if out.len() as u64 + c.len() as u64 > limit {
            return Err(ReadFail::TooLarge);
        }
        out.extend_from_slice(&c);
    }
    Ok(out)
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
