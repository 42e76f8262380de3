//! Downloads: manifests (bounded), blobs verified as they land in the cache, memory or
//! scratch, foreign-layer URLs, and the verifying reader over what landed.

#[allow(unused_imports)]
use super::*;

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

/// Blobs up to this size (configs, small layers) are kept in memory when there is no
/// cache (`--no-cache`); larger ones land in a scratch file. Measured on a loopback pull
/// of 4 x 22 MB layers: a scratch file costs half the CPU of fresh memory (page faults
/// on every new page; writes to the page cache avoid them), and a layout on the same
/// filesystem hard-links it instead of writing it again.
pub const MEMORY_BLOB_LIMIT: u64 = 1 << 20;

/// Blobs to push (spooled from a reader) up to this size stay in memory without a cache.
pub(super) const SPOOL_MEMORY_LIMIT: u64 = 512 << 20;

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
pub(super) struct Held {
    pub(super) local: LocalBlob,
    pub(super) file: Option<Arc<std::fs::File>>,
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

pub(super) enum Landing {
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
    pub(super) inner: Box<dyn Read + Send>,
    pub(super) hasher: sha2::Sha256,
    pub(super) expected: Digest,
    pub(super) size: u64,
    pub(super) count: u64,
    pub(super) done: bool,
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

pub(super) enum ReadFail {
    TooLarge,
    Net(Failure),
}

pub(super) async fn read_bounded(res: reqwest::Response, limit: u64) -> Result<Vec<u8>, ReadFail> {
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

impl Registry {
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
}

impl Inner {
    pub(super) async fn manifest(
        self: Arc<Self>,
        repo: &RepoRef,
        reference: &ManifestRef,
    ) -> Result<FetchedManifest, RegistryError> {
        let what = format!("manifest {repo}:{reference}");
        self.retry(repo, &what, || self.manifest_once(repo, reference, &what))
            .await
    }
    pub(super) async fn manifest_once(
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
    pub(super) fn temp_file(&self) -> Result<tempfile::NamedTempFile, RegistryError> {
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
    pub(super) fn landing(&self, size: u64, limit: u64) -> Result<Landing, RegistryError> {
        if self.cache.is_none() && size <= limit {
            return Ok(Landing::Memory(Vec::with_capacity(size as usize)));
        }
        Ok(Landing::File(self.temp_file()?))
    }
    /// Make a checked landing visible under its digest.
    pub(super) fn land(&self, landing: Landing, digest: &Digest) -> Result<Held, RegistryError> {
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
    pub(super) fn lookup(&self, blob: &BlobRef) -> Result<Option<Held>, RegistryError> {
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
    pub(super) fn spool(&self, blob: &BlobRef, reader: impl Read) -> Result<Held, RegistryError> {
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
    pub(super) async fn fetch_blob(
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
    pub(super) async fn fetch_unlocked(
        &self,
        repo: &RepoRef,
        blob: &BlobRef,
    ) -> Result<Held, RegistryError> {
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
        bar.set_style(crate::progress::bar_style());
        bar.set_message(format!("pull {}", &blob.digest.hex()[..12]));
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
    pub(super) async fn download_once(
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
    pub(super) async fn foreign_stream(
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
}
