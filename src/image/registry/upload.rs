//! Uploads: blobs (existence check, cross-repository mount, monolithic streamed push),
//! manifests by digest and tag.

#[allow(unused_imports)]
use super::*;

/// How a blob got to the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PushOutcome {
    Existed,
    Mounted,
    Uploaded,
}

/// An upload running in the background.
pub struct PendingPush(pub(super) tokio::task::JoinHandle<Result<PushOutcome, RegistryError>>);

impl Registry {
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

impl Inner {
    pub(super) async fn blob_exists(
        &self,
        repo: &RepoRef,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
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
    pub(super) async fn try_mount(
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
    pub(super) async fn push_blob(
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
        bar.set_style(crate::progress::bar_style());
        bar.set_message(format!("push {}", &blob.digest.hex()[..12]));
        let r = self
            .retry(&repo, &what, || {
                self.upload_once(&repo, &blob, &path, &bar, &what)
            })
            .await;
        bar.finish_and_clear();
        r.map(|_| PushOutcome::Uploaded)
    }
    pub(super) async fn upload_once(
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
    pub(super) async fn put_manifest(
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
