//! `docker://` as a source and a sink of the image model.
//!
//! Owns the mapping from the model's operations to registry calls: manifests and indexes
//! come from `/manifests/<digest>`, everything else from the verified blob store; the
//! first layer asked of a manifest starts background downloads of that manifest's other
//! layers (bounded), so copies and `inspect --diff-ids` fetch in parallel while the
//! model's consumers still read one blob at a time. The sink uploads blobs in the
//! background and puts a manifest only after every upload before it has landed.
//!
//! `verified_blob` hands a landed blob on as a `VerifiedBlob` (verified as it landed, in
//! this process), which a layout sink stores without hashing it again; `open_raw` readers
//! are verified again by the model as they read. Does not own which blobs an image needs
//! (see `image::copy`).

use super::{BlobRef, ManifestRef, PendingPush, Registry, RegistryError, RegistryOptions, RepoRef};
use crate::image::error::{Error, Result};
use crate::image::layout::ImageSink;
use crate::image::model::{self, Descriptor, Manifest, Root};
use crate::image::source::ImageSource;
use crate::image::verified::VerifiedBlob;
use crate::image::{Digest, ImageRef};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::Mutex;

impl From<RegistryError> for Error {
    fn from(e: RegistryError) -> Error {
        Error::Registry(Box::new(e))
    }
}

fn blob_ref(d: &Descriptor) -> BlobRef {
    BlobRef {
        digest: d.digest.clone(),
        size: d.size,
        media_type: d.media_type.clone(),
        urls: d.urls.clone(),
    }
}

fn split(r: &ImageRef) -> Result<(RepoRef, Option<String>, Option<Digest>)> {
    match r {
        ImageRef::Registry {
            registry,
            repository,
            tag,
            digest,
        } => Ok((
            RepoRef::new(registry, repository),
            tag.clone(),
            digest.clone(),
        )),
        other => Err(Error::Unsupported(format!(
            "{other} is not a registry reference"
        ))),
    }
}

/// Reads an image from a registry.
pub struct RegistrySource {
    reg: Registry,
    repo: RepoRef,
    tag: Option<String>,
    digest: Option<Digest>,
    name: String,
    /// layer digest -> the other blobs of the manifest that lists it.
    siblings: Mutex<HashMap<Digest, Vec<BlobRef>>>,
    prefetched: Mutex<HashSet<Digest>>,
    resolved: Mutex<Option<Digest>>,
}

impl RegistrySource {
    pub fn open(r: &ImageRef, opts: RegistryOptions) -> Result<RegistrySource> {
        let (repo, tag, digest) = split(r)?;
        Ok(RegistrySource {
            reg: Registry::new(opts)?,
            repo,
            tag,
            digest,
            name: r.to_string(),
            siblings: Mutex::new(HashMap::new()),
            prefetched: Mutex::new(HashSet::new()),
            resolved: Mutex::new(None),
        })
    }

    pub fn repo(&self) -> &RepoRef {
        &self.repo
    }

    pub fn registry(&self) -> &Registry {
        &self.reg
    }

    /// The digest the reference resolved to (after [`ImageSource::root`]).
    pub fn resolved_digest(&self) -> Option<Digest> {
        self.resolved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn remember(&self, m: &Manifest) {
        let mut all: Vec<BlobRef> = m.layers.iter().map(blob_ref).collect();
        all.push(blob_ref(&m.config));
        let mut map = self.siblings.lock().unwrap_or_else(|e| e.into_inner());
        for l in &m.layers {
            map.insert(l.digest.clone(), all.clone());
        }
    }

    fn fetch_manifest(&self, desc: &Descriptor) -> Result<Vec<u8>> {
        if desc.size > super::MANIFEST_LIMIT {
            return Err(RegistryError::TooLarge {
                registry: self.repo.registry.clone(),
                what: format!("manifest {}", desc.digest),
                limit: super::MANIFEST_LIMIT,
            }
            .into());
        }
        Ok(self
            .reg
            .manifest(&self.repo, &ManifestRef::Digest(desc.digest.clone()))?
            .bytes)
    }
}

impl ImageSource for RegistrySource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn root(&self) -> Result<Root> {
        // `@digest` wins over a tag.
        let reference = match (&self.digest, &self.tag) {
            (Some(d), _) => ManifestRef::Digest(d.clone()),
            (None, Some(t)) => ManifestRef::Tag(t.clone()),
            (None, None) => ManifestRef::Tag("latest".into()),
        };
        let m = self.reg.manifest(&self.repo, &reference)?;
        let first = self
            .resolved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(m.digest.clone())
            .is_none();
        if let (ManifestRef::Tag(t), true) = (&reference, first) {
            if self.reg.options().progress {
                eprintln!(
                    "pause-verify: docker://{}:{t} resolved to {}",
                    self.repo, m.digest
                );
            }
        }
        let root = Root::parse(&self.name, Some(&m.media_type), m.bytes)?;
        if let Root::Manifest(man) = &root {
            self.remember(man);
        }
        Ok(root)
    }

    fn open_raw(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send>> {
        if model::is_index(&desc.media_type) || model::is_manifest(&desc.media_type) {
            return Ok(Box::new(std::io::Cursor::new(self.fetch_manifest(desc)?)));
        }
        self.prefetch_siblings(desc);
        let local = self.reg.fetch_blob(&self.repo, &blob_ref(desc))?;
        local
            .open()
            .map_err(|e| Error::io(format!("opening blob {}", desc.digest), e))
    }

    fn verified_blob(&self, desc: &Descriptor) -> Result<Option<VerifiedBlob>> {
        if model::is_index(&desc.media_type) || model::is_manifest(&desc.media_type) {
            return Ok(None);
        }
        self.prefetch_siblings(desc);
        Ok(self.reg.fetch_verified(&self.repo, desc)?)
    }

    fn attachment_kind(&self) -> crate::image::source::AttachmentKind {
        crate::image::source::AttachmentKind::Tags
    }

    fn tagged_manifest(&self, tag: &str) -> Result<Option<Vec<u8>>> {
        match self
            .reg
            .manifest(&self.repo, &ManifestRef::Tag(tag.to_string()))
        {
            Ok(m) => Ok(Some(m.bytes)),
            Err(RegistryError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn referrers(&self, subject: &Digest, artifact_type: Option<&str>) -> Result<Vec<Descriptor>> {
        Ok(self.reg.referrers(&self.repo, subject, artifact_type)?.0)
    }

    fn read_manifest(&self, desc: &Descriptor) -> Result<Manifest> {
        let raw = self.read_blob(desc)?;
        let m = Manifest::parse(
            &format!("manifest {}", desc.digest),
            Some(&desc.media_type),
            raw,
        )?;
        self.remember(&m);
        Ok(m)
    }
}

impl RegistrySource {
    /// The first layer asked of a manifest starts downloads of its other layers.
    fn prefetch_siblings(&self, desc: &Descriptor) {
        let siblings = self
            .siblings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&desc.digest)
            .cloned();
        if let Some(all) = siblings {
            // Keyed by the manifest's config (the last entry): once per manifest.
            let first_time = all.last().is_some_and(|cfg| {
                self.prefetched
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(cfg.digest.clone())
            });
            if first_time {
                let others: Vec<BlobRef> = all
                    .into_iter()
                    .filter(|b| b.digest != desc.digest && model::is_layer(&b.media_type))
                    .collect();
                self.reg.prefetch(&self.repo, &others);
            }
        }
    }
}

/// Writes an image to a registry.
pub struct RegistrySink {
    reg: Registry,
    repo: RepoRef,
    tag: Option<String>,
    mount_from: Option<RepoRef>,
    pending: Vec<PendingPush>,
    manifests: HashMap<Digest, (Vec<u8>, String)>,
}

impl RegistrySink {
    /// `mount_from`: the source repository, when it is on the same registry.
    pub fn open(
        r: &ImageRef,
        opts: RegistryOptions,
        mount_from: Option<RepoRef>,
    ) -> Result<RegistrySink> {
        let (repo, tag, digest) = split(r)?;
        if digest.is_some() {
            return Err(Error::Unsupported(format!(
                "destination {r}: a destination takes a tag, not a digest"
            )));
        }
        Ok(RegistrySink {
            reg: Registry::new(opts)?,
            repo,
            tag,
            mount_from,
            pending: Vec::new(),
            manifests: HashMap::new(),
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.reg
    }

    /// Wait for every upload started so far.
    pub fn flush(&mut self) -> Result<()> {
        let mut first_err = None;
        for p in self.pending.drain(..) {
            match self.reg.wait(p) {
                Ok(_) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

impl ImageSink for RegistrySink {
    fn has_blob(&self, desc: &Descriptor) -> Result<bool> {
        if model::is_index(&desc.media_type) || model::is_manifest(&desc.media_type) {
            // Manifests are always put (idempotent), so that tags and order stay ours.
            return Ok(false);
        }
        Ok(self.reg.blob_exists(&self.repo, &desc.digest)?)
    }

    fn put_blob(
        &mut self,
        reader: &mut dyn Read,
        expected: Option<&Descriptor>,
    ) -> Result<Descriptor> {
        let Some(desc) = expected else {
            let (path, digest, size) = self.reg.spool_any(reader)?;
            let desc = Descriptor::new("application/octet-stream", digest, size);
            self.pending.push(self.reg.start_push(
                &self.repo,
                &blob_ref(&desc),
                path,
                self.mount_from.as_ref(),
            ));
            return Ok(desc);
        };
        if model::is_index(&desc.media_type) || model::is_manifest(&desc.media_type) {
            if desc.size > super::MANIFEST_LIMIT {
                return Err(RegistryError::TooLarge {
                    registry: "local".into(),
                    what: format!("manifest {}", desc.digest),
                    limit: super::MANIFEST_LIMIT,
                }
                .into());
            }
            let mut bytes = Vec::new();
            reader
                .take(desc.size + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| Error::from_io(e, format!("reading manifest {}", desc.digest)))?;
            let got = Digest::of(&bytes);
            if got != desc.digest || bytes.len() as u64 != desc.size {
                return Err(Error::DigestMismatch {
                    blob: format!("manifest {}", desc.digest),
                    expected: desc.digest.clone(),
                    actual: got,
                });
            }
            // A manifest may only land after the blobs it names.
            self.flush()?;
            self.reg
                .push_manifest(&self.repo, &bytes, &desc.media_type, &[])?;
            self.manifests
                .insert(desc.digest.clone(), (bytes, desc.media_type.clone()));
            return Ok(desc.clone());
        }
        let path = self.reg.spool(&blob_ref(desc), reader)?;
        self.pending.push(self.reg.start_push(
            &self.repo,
            &blob_ref(desc),
            path,
            self.mount_from.as_ref(),
        ));
        Ok(desc.clone())
    }

    fn add_manifest(&mut self, desc: &Descriptor, tag: Option<&str>) -> Result<()> {
        self.flush()?;
        let tag = tag.map(str::to_string).or_else(|| self.tag.clone());
        let Some(tag) = tag else { return Ok(()) };
        let Some((bytes, media_type)) = self.manifests.get(&desc.digest).cloned() else {
            return Err(Error::malformed(
                format!("manifest {}", desc.digest),
                "was not written to this registry before being tagged",
            ));
        };
        self.reg
            .push_manifest(&self.repo, &bytes, &media_type, &[tag])?;
        Ok(())
    }

    fn put_referrer(
        &mut self,
        subject: &Digest,
        manifest: &[u8],
        media_type: &str,
    ) -> Result<crate::image::referrers::ReferrersVia> {
        self.flush()?;
        Ok(self
            .reg
            .push_referrer(&self.repo, subject, manifest, media_type)?
            .1)
    }

    fn name(&self) -> String {
        format!("docker://{}", self.repo)
    }

    fn commit(&mut self) -> Result<()> {
        self.flush()
    }
}

impl Drop for RegistrySink {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
