//! Signatures and attestations attached to images: where they are stored for each image
//! transport, and checking everything stored for an image.
//!
//! The one part of `attest` that does I/O, and only through the image transports: an
//! OCI layout through `LayoutSource` / `LayoutWriter` (every blob verified and written
//! atomically), a registry through `image::registry` (referrers API with the tag-schema
//! fallback), and the `attestations/` directory through [`AttestationsDir`]. The bytes
//! themselves come from the pure modules (`storage`, `simplesigning`, `dsse`, `bundle`).
//!
//! Layout convention (docs/signing.md): cosign-style `.sig` / `.att` manifests are listed
//! in the layout's `index.json` under `org.opencontainers.image.ref.name` =
//! `sha256-<hex>.sig` / `.att`; bundles are OCI 1.1 referrer manifests (with `subject`)
//! listed in `index.json` too, their entry carrying `artifactType` and the manifest's
//! annotations as a referrers API would. Image selection skips both
//! (`image::source::image_entries`).
//!
//! Not here: choosing keys, rendering reports, policy.

use super::storage::{self, AttachedLayer, AttestationsDir, DirError, ManifestToPush};
use super::verify::MAX_PAYLOAD_BYTES;
use super::{Check, Failure, PublicKey, bundle, dsse, legacy_keyless};
use crate::image::referrers::ReferrersVia;
use crate::image::registry::{RegistryError, RegistryOptions};
use crate::image::source::image_entries;
use crate::image::{
    self, AttachmentKind, Descriptor, Digest, ImageRef, ImageSink, ImageSource, Root,
};
use serde::Serialize;
use std::io::Read;

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error(transparent)]
    Image(#[from] image::Error),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Dir(#[from] DirError),
    #[error("{what}: {failure}; fix or delete it before adding to it")]
    Stored { what: String, failure: Failure },
    #[error("{0}")]
    Unsupported(String),
}

pub type Result<T, E = AttachError> = std::result::Result<T, E>;

/// An image and the place its signatures and attestations are kept: the transport's
/// source (reads) and, opened on the first write, its sink (`image::open_sink` on the
/// same location). Which transport that is was decided once, by `image::open`.
pub struct Store {
    source: Box<dyn ImageSource>,
    sink: Option<Box<dyn ImageSink>>,
    reference: ImageRef,
    opts: RegistryOptions,
}

/// What one attach call did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attached {
    /// Where it went: `oci:DIR:sha256-<hex>.sig`, `docker://HOST/REPO@sha256:…`, …
    pub location: String,
    /// The manifest written (the `.sig`/`.att` manifest or the referrer).
    pub manifest: Digest,
    /// How many layers were new (0: everything was there already).
    pub added: usize,
    /// For referrers in a registry: `api` or `tag-schema`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<&'static str>,
}

impl Store {
    /// Open the image `r` names (`image::open_with`: a layout named without tag or
    /// digest is the one image it holds; signatures and referrers beside it do not count).
    pub fn open(r: &ImageRef, opts: &RegistryOptions) -> Result<Store> {
        Ok(Store {
            source: image::open_with(r, opts)?,
            sink: None,
            reference: r.clone(),
            opts: opts.clone(),
        })
    }

    pub fn source(&self) -> &dyn ImageSource {
        self.source.as_ref()
    }

    /// The image's root (manifest or index) as resolved now: its descriptor is what
    /// gets signed.
    pub fn root(&self) -> Result<Root> {
        Ok(self.source.root()?)
    }

    /// The docker-reference written into signatures by default: the repository
    /// (`HOST/REPO`) for a registry, the tag-less `oci:DIR` for a layout, the archive's
    /// `docker-archive:FILE` otherwise.
    pub fn default_identity(&self) -> String {
        match self.reference.location() {
            ImageRef::Registry {
                registry,
                repository,
                ..
            } => format!("{registry}/{repository}"),
            other => other.to_string(),
        }
    }

    /// The location without tag or digest (`oci:DIR`, `docker://HOST/REPO`, …).
    fn name(&self) -> String {
        self.reference.location().to_string()
    }

    /// Whether signatures can be attached here (layouts and registries; not archives).
    pub fn can_attach(&self) -> bool {
        self.source.can_attach()
    }

    fn sink(&mut self) -> Result<&mut dyn ImageSink> {
        if !self.can_attach() {
            return Err(self.no_attach());
        }
        if self.sink.is_none() {
            self.sink = Some(image::open_sink(
                &self.reference.location(),
                &self.opts,
                None,
            )?);
        }
        Ok(self.sink.as_deref_mut().expect("opened above"))
    }

    // ---- reading

    /// The manifest under `tag`, if there is one.
    fn tagged_manifest(&self, tag: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.source.tagged_manifest(tag)?)
    }

    /// A signature-sized blob, verified against its descriptor.
    fn blob(&self, d: &Descriptor) -> Result<Vec<u8>> {
        let limit = MAX_PAYLOAD_BYTES as u64;
        if d.size > limit {
            return Err(AttachError::Stored {
                what: format!("blob {}", d.digest),
                failure: Failure::Oversized {
                    what: "signature blob",
                    size: usize::try_from(d.size).unwrap_or(usize::MAX),
                    limit: MAX_PAYLOAD_BYTES,
                },
            });
        }
        let mut r = self.source.open_blob(d)?;
        let mut buf = Vec::new();
        r.read_to_end(&mut buf)
            .map_err(|e| image::Error::from_io(e, format!("reading blob {}", d.digest)))?;
        Ok(buf)
    }

    /// Sigstore bundle referrers of `subject`: (manifest digest, manifest bytes or why
    /// they could not be read). Other artifact types are not ours to judge.
    fn referrers(&self, subject: &Digest) -> Result<Vec<(Digest, Result<Vec<u8>>)>> {
        self.referrers_of(subject, bundle::BUNDLE_V03_MEDIA_TYPE)
    }

    /// [`Store::referrers`] of any artifact type.
    fn referrers_of(
        &self,
        subject: &Digest,
        artifact_type: &str,
    ) -> Result<Vec<(Digest, Result<Vec<u8>>)>> {
        let list = self.source.referrers(subject, Some(artifact_type))?;
        Ok(list
            .into_iter()
            .map(|d| {
                let m = self.source.read_blob(&d).map_err(AttachError::from);
                (d.digest, m)
            })
            .collect())
    }

    // ---- writing

    fn put_blobs(&mut self, blobs: &[storage::Blob]) -> Result<()> {
        let sink = self.sink()?;
        for b in blobs {
            sink.put_bytes(&b.descriptor.media_type, &b.bytes)?;
        }
        Ok(())
    }

    fn no_attach(&self) -> AttachError {
        let what = match self.source.attachment_kind() {
            AttachmentKind::SignatureFiles => {
                "bundles and attestations cannot be stored in a dir: image"
            }
            _ => "signatures cannot be stored in a docker-archive",
        };
        AttachError::Unsupported(format!(
            "{}: {what}; use --attestations-dir DIR (with --no-attach), or copy the image to \
             an OCI layout or a registry first",
            self.reference
        ))
    }

    /// Append layers to the cosign manifest under `tag` (`.sig` or `.att`), creating it
    /// if needed; layers already there (same blob, same annotations) are not repeated.
    pub fn attach_layers(&mut self, tag: String, layers: &[AttachedLayer]) -> Result<Attached> {
        match self.source.attachment_kind() {
            AttachmentKind::None => return Err(self.no_attach()),
            AttachmentKind::SignatureFiles => return self.attach_signature_files(&tag, layers),
            AttachmentKind::Tags => {}
        }
        // A layout's tag is read, extended and rewritten: one run at a time (the lock
        // nests with the one `add_manifest` takes).
        let _lock = self.sink()?.lock_for_update()?;
        let existing = self.tagged_manifest(&tag)?;
        let m = storage::cosign_manifest(existing.as_deref(), layers, tag.clone()).map_err(
            |failure| AttachError::Stored {
                what: format!("{}:{tag}", self.name()),
                failure,
            },
        )?;
        let location = format!("{}:{tag}", self.name());
        if m.added == 0 {
            return Ok(Attached {
                location,
                manifest: existing
                    .as_deref()
                    .map_or_else(|| m.manifest.descriptor.digest.clone(), Digest::of),
                added: 0,
                via: None,
            });
        }
        self.put_blobs(&m.blobs)?;
        self.put_manifest(&m, Some(&tag))?;
        Ok(Attached {
            location,
            manifest: m.manifest.descriptor.digest.clone(),
            added: m.added,
            via: None,
        })
    }

    /// `dir:` keeps signatures as `signature-N` files beside the manifest (containers/
    /// image's format); it has no place for attestations.
    fn attach_signature_files(&mut self, tag: &str, layers: &[AttachedLayer]) -> Result<Attached> {
        let subject = tag
            .strip_suffix(".sig")
            .and_then(|t| t.strip_prefix("sha256-"))
            .and_then(|hex| format!("sha256:{hex}").parse::<Digest>().ok())
            .filter(|_| {
                layers
                    .iter()
                    .all(|l| l.media_type == super::simplesigning::SIMPLE_SIGNING_MEDIA_TYPE)
            })
            .ok_or_else(|| {
                AttachError::Unsupported(format!(
                    "{}: a dir: image keeps only signatures (signature-N files); store attestations with --attestations-dir DIR (with --no-attach), or copy the image to an OCI layout or a registry first",
                    self.name()
                ))
            })?;
        let files: Vec<Vec<u8>> = layers
            .iter()
            .map(super::simplesigning::containers_image_signature)
            .collect();
        let sink = self.sink()?;
        let added = sink.put_signatures(&subject, &files)?;
        sink.commit()?;
        Ok(Attached {
            location: format!("{} (signature files)", self.name()),
            manifest: subject,
            added,
            via: None,
        })
    }

    fn put_manifest(&mut self, m: &ManifestToPush, tag: Option<&str>) -> Result<()> {
        let sink = self.sink()?;
        let d = sink.put_bytes(&m.manifest.descriptor.media_type, &m.manifest.bytes)?;
        sink.add_manifest(&d, tag)?;
        sink.commit()?;
        Ok(())
    }

    /// Store a Sigstore bundle about `subject` as an OCI 1.1 referrer.
    pub fn attach_bundle(&mut self, subject: &Descriptor, bundle_json: &[u8]) -> Result<Attached> {
        self.attach_bundle_created(subject, bundle_json, None)
    }

    /// [`Store::attach_bundle`] with the referrer's `org.opencontainers.image.created`
    /// annotation (a copy keeps the source's, so the referrer manifest stays the same).
    fn attach_bundle_created(
        &mut self,
        subject: &Descriptor,
        bundle_json: &[u8],
        created: Option<&str>,
    ) -> Result<Attached> {
        if self.source.attachment_kind() != AttachmentKind::Tags {
            return Err(self.no_attach());
        }
        let m = storage::referrer_manifest(bundle_json, subject, created);
        self.put_referrer(subject, &m)
    }

    /// Store a referrer manifest about `subject` and its blobs (layout: listed in
    /// index.json; registry: referrers API or tag schema).
    fn put_referrer(&mut self, subject: &Descriptor, m: &ManifestToPush) -> Result<Attached> {
        if self.source.attachment_kind() != AttachmentKind::Tags {
            return Err(self.no_attach());
        }
        // Refuse what we would not read back (a manifest without its subject).
        storage::referrer_descriptor(m).map_err(|failure| AttachError::Stored {
            what: "referrer manifest".into(),
            failure,
        })?;
        self.put_blobs(&m.blobs)?;
        let digest = m.manifest.descriptor.digest.clone();
        let name = self.name();
        let sink = self.sink()?;
        let via = sink.put_referrer(
            &subject.digest,
            &m.manifest.bytes,
            &m.manifest.descriptor.media_type,
        )?;
        sink.commit()?;
        // A layout's listing is index.json itself: nothing to report.
        let via = (via != ReferrersVia::Layout).then_some(via.as_str());
        Ok(Attached {
            location: format!("{name}@{digest}"),
            manifest: digest,
            added: 1,
            via,
        })
    }

    // ---- copying

    /// Everything stored here for `subject`, as the read side of
    /// [`Store::verify_subject`] finds it: the `.sig` and `.att` layers and the Sigstore
    /// bundle referrers. Every blob is checked against its descriptor (size and digest);
    /// signatures themselves are not judged (copying is not verifying). A manifest or
    /// blob that cannot be read is an error, never a silent omission.
    pub fn attachments(&self, subject: &Digest) -> Result<Attachments> {
        let layers = |tag: String| -> Result<Vec<AttachedLayer>> {
            let Some(manifest) = self.tagged_manifest(&tag)? else {
                return Ok(Vec::new());
            };
            let what = format!("{}:{tag}", self.name());
            let stored = |failure| AttachError::Stored {
                what: what.clone(),
                failure,
            };
            let parsed = storage::parse_cosign_manifest(&manifest).map_err(stored)?;
            parsed
                .layers
                .iter()
                .map(|d| {
                    let blob = self.blob(d)?;
                    storage::layer_from_blob(d, &blob).map_err(stored)
                })
                .collect()
        };
        let mut signatures = layers(storage::sig_tag(subject))?;
        for (i, file) in self.source.stored_signatures(subject)?.iter().enumerate() {
            let l = super::simplesigning::parse_containers_image_signature(file).map_err(
                |failure| AttachError::Stored {
                    what: format!("{} signature-{}", self.name(), i + 1),
                    failure,
                },
            )?;
            if !signatures.contains(&l) {
                signatures.push(l);
            }
        }
        let attestations = layers(storage::att_tag(subject))?;
        let mut bundles = Vec::new();
        for (rd, bytes) in self.referrers(subject)? {
            let stored = |failure| AttachError::Stored {
                what: format!("{} referrer {rd}", self.name()),
                failure,
            };
            let manifest = bytes?;
            let created = storage::parse_referrer_manifest(&manifest)
                .map_err(stored)?
                .annotations
                .get(CREATED_ANNOTATION)
                .cloned();
            let bundle = self.referrer_bundle(&manifest).map_err(stored)?;
            bundles.push(BundleAttachment { bundle, created });
        }
        let mut notary = Vec::new();
        for (rd, r) in self.notary_signatures(subject)? {
            notary.push(r.map_err(|failure| AttachError::Stored {
                what: format!("{} notation referrer {rd}", self.name()),
                failure,
            })?);
        }
        Ok(Attachments {
            signatures,
            attestations,
            bundles,
            notary,
        })
    }

    /// Notary Project signatures of `subject` (OCI 1.1 referrers of artifactType
    /// `application/vnd.cncf.notary.signature`): each manifest with its config and
    /// envelope blob, every one checked against its descriptor, or why it could not be
    /// read. Nothing is judged here (`crate::notary` does).
    pub fn notary_signatures(
        &self,
        subject: &Digest,
    ) -> Result<Vec<(Digest, Result<NotaryReferrer, Failure>)>> {
        let mut out = Vec::new();
        for (rd, bytes) in self.referrers_of(subject, NOTARY_ARTIFACT_TYPE)? {
            let r = bytes
                .map_err(|e| Failure::malformed("notation referrer", e))
                .and_then(|m| self.notary_referrer(&rd, m));
            out.push((rd, r));
        }
        Ok(out)
    }

    fn notary_referrer(
        &self,
        digest: &Digest,
        manifest: Vec<u8>,
    ) -> Result<NotaryReferrer, Failure> {
        let r = storage::parse_referrer_manifest(&manifest)?;
        if r.artifact_type.as_deref() != Some(NOTARY_ARTIFACT_TYPE) {
            return Err(Failure::NotASignature {
                expected: NOTARY_ARTIFACT_TYPE.into(),
                found: r.artifact_type.unwrap_or_default(),
            });
        }
        if r.layers.len() != 1 {
            return Err(Failure::malformed(
                "notation signature manifest",
                format!("{} layers (one envelope expected)", r.layers.len()),
            ));
        }
        let config = storage::config_descriptor(&manifest)?;
        let fetch = |d: &storage::Descriptor| {
            self.blob(d)
                .map(|bytes| storage::Blob {
                    descriptor: d.clone(),
                    bytes,
                })
                .map_err(|e| Failure::malformed("notation signature blob", e))
        };
        let envelope = fetch(&r.layers[0])?;
        let config = fetch(&config)?;
        Ok(NotaryReferrer {
            digest: digest.clone(),
            manifest,
            subject: r.subject,
            annotations: r.annotations,
            config,
            envelope,
        })
    }

    /// Store `a` here for `subject` through the same paths `sign`/`attest` use: layers
    /// are appended to the `.sig`/`.att` manifests without duplicates, and a bundle
    /// already carried by one of `subject`'s referrers is not stored again. So copying
    /// the same attachments twice adds nothing the second time.
    pub fn put_attachments(
        &mut self,
        subject: &Descriptor,
        a: &Attachments,
    ) -> Result<PutAttachments> {
        let mut out = PutAttachments::default();
        for (tag, layers) in [
            (storage::sig_tag(&subject.digest), &a.signatures),
            (storage::att_tag(&subject.digest), &a.attestations),
        ] {
            if layers.is_empty() {
                continue;
            }
            let done = self.attach_layers(tag, layers)?;
            out.added += done.added;
            out.locations.push(done.location);
        }
        if !a.notary.is_empty() {
            let present: Vec<Digest> = self
                .referrers_of(&subject.digest, NOTARY_ARTIFACT_TYPE)?
                .into_iter()
                .map(|(d, _)| d)
                .collect();
            for n in &a.notary {
                if present.contains(&n.digest) {
                    out.locations.push(format!("{}@{}", self.name(), n.digest));
                    continue;
                }
                let m = ManifestToPush {
                    manifest: storage::Blob {
                        descriptor: storage::Descriptor::of_bytes(
                            storage::OCI_MANIFEST_MEDIA_TYPE,
                            &n.manifest,
                        ),
                        bytes: n.manifest.clone(),
                    },
                    blobs: vec![n.config.clone(), n.envelope.clone()],
                    layers: vec![n.envelope.descriptor.clone()],
                    added: 1,
                    tag: None,
                };
                let done = self.put_referrer(subject, &m)?;
                out.added += done.added;
                out.locations.push(done.location);
            }
        }
        if a.bundles.is_empty() {
            return Ok(out);
        }
        // The bundles already here: (digest of the bundle bytes, referrer manifest).
        // One that cannot be read is not ours to repair; a new referrer goes beside it.
        let mut present = Vec::new();
        for (rd, bytes) in self.referrers(&subject.digest)? {
            if let Ok(b) = bytes
                .map_err(|_| ())
                .and_then(|m| self.referrer_bundle(&m).map_err(|_| ()))
            {
                present.push((Digest::of(&b), rd));
            }
        }
        for b in &a.bundles {
            let d = Digest::of(&b.bundle);
            if let Some((_, rd)) = present.iter().find(|(p, _)| *p == d) {
                out.locations.push(format!("{}@{rd}", self.name()));
                continue;
            }
            let done = self.attach_bundle_created(subject, &b.bundle, b.created.as_deref())?;
            present.push((d, done.manifest));
            out.added += done.added;
            out.locations.push(done.location);
        }
        Ok(out)
    }

    // ---- verifying

    /// Check every signature (and, if asked, attestation) stored for `subject` here
    /// and in `opts.dir`.
    pub fn verify_subject(
        &self,
        subject: &Descriptor,
        opts: &VerifyOptions<'_>,
    ) -> Result<SubjectReport> {
        let digest = &subject.digest;
        let mut signatures = Vec::new();
        let mut attestations = Vec::new();
        if opts.signatures {
            let check = |layer: &AttachedLayer| {
                legacy_keyless::verify_sig_layer(
                    opts.keys,
                    opts.keyless,
                    layer,
                    digest,
                    opts.identity,
                )
            };
            self.cosign_layers(&storage::sig_tag(digest), &mut signatures, check)?;
            // `dir:`'s signature files: the same cosign payload and signature.
            for (i, file) in self.source.stored_signatures(digest)?.iter().enumerate() {
                let result = super::simplesigning::parse_containers_image_signature(file)
                    .and_then(|l| check(&l));
                signatures.push(Check {
                    source: format!("{} signature-{}", self.name(), i + 1),
                    result,
                });
            }
        }
        if opts.attestations {
            self.cosign_layers(&storage::att_tag(digest), &mut attestations, |layer| {
                if layer.media_type != storage::DSSE_LAYER_MEDIA_TYPE {
                    return Err(Failure::NotASignature {
                        expected: storage::DSSE_LAYER_MEDIA_TYPE.into(),
                        found: layer.media_type.clone(),
                    });
                }
                legacy_keyless::verify_att_layer(
                    opts.keys,
                    opts.keyless,
                    layer,
                    digest,
                    opts.predicate_type,
                )
            })?;
        }
        for (rd, bytes) in self.referrers(digest)? {
            let source = format!("referrer {rd}");
            let bundle_json = bytes.map_err(|e| Failure::Malformed {
                what: "referrer",
                detail: e.to_string(),
            });
            let bundle_json = bundle_json.and_then(|b| self.referrer_bundle(&b));
            let is_sig = bundle_json
                .as_ref()
                .ok()
                .and_then(|b| bundle::peek_predicate_type(b))
                .is_some_and(|p| p == bundle::COSIGN_SIGN_PREDICATE_TYPE);
            if let Some(check) = bundle_check(source, bundle_json, is_sig, digest, opts) {
                if is_sig {
                    signatures.push(check);
                } else {
                    attestations.push(check);
                }
            }
        }
        if let Some(dir) = opts.dir {
            let env_path = dir.envelopes_path(digest);
            if opts.attestations {
                for (line, env) in dir.envelopes(digest)? {
                    attestations.push(Check {
                        source: format!("{}:{line}", env_path.display()),
                        result: dsse::verify_attestation(
                            opts.keys,
                            &env,
                            digest,
                            opts.predicate_type,
                        ),
                    });
                }
            }
            for (path, b) in dir.bundles(digest)? {
                let is_sig = bundle::peek_predicate_type(&b)
                    .is_some_and(|p| p == bundle::COSIGN_SIGN_PREDICATE_TYPE);
                let source = path.display().to_string();
                if let Some(check) = bundle_check(source, Ok(b), is_sig, digest, opts) {
                    if is_sig {
                        signatures.push(check);
                    } else {
                        attestations.push(check);
                    }
                }
            }
        }
        let sig_ok = !opts.signatures || signatures.iter().any(Check::is_verified);
        let att_ok = !opts.attestations || attestations.iter().any(Check::is_verified);
        Ok(SubjectReport {
            digest: digest.clone(),
            media_type: subject.media_type.clone(),
            platform: subject.platform.as_ref().map(|p| p.to_string()),
            signatures_verified: signatures.iter().filter(|c| c.is_verified()).count(),
            attestations_verified: opts
                .attestations
                .then(|| attestations.iter().filter(|c| c.is_verified()).count()),
            signatures,
            attestations: opts.attestations.then_some(attestations),
            verified: sig_ok && att_ok,
        })
    }

    /// Read the cosign manifest under `tag` and check each layer with `check`.
    fn cosign_layers(
        &self,
        tag: &str,
        out: &mut Vec<Check>,
        check: impl Fn(&AttachedLayer) -> Result<super::Verified, Failure>,
    ) -> Result<()> {
        let Some(manifest) = self.tagged_manifest(tag)? else {
            return Ok(());
        };
        let parsed = match storage::parse_cosign_manifest(&manifest) {
            Ok(p) => p,
            Err(f) => {
                out.push(Check {
                    source: format!("{tag} manifest"),
                    result: Err(f),
                });
                return Ok(());
            }
        };
        for (i, d) in parsed.layers.iter().enumerate() {
            let source = format!("{tag} layer {i} ({})", d.digest);
            let result = match self.blob(d) {
                Ok(b) => storage::layer_from_blob(d, &b).and_then(|l| check(&l)),
                Err(e) => Err(Failure::Malformed {
                    what: "signature layer",
                    detail: e.to_string(),
                }),
            };
            out.push(Check { source, result });
        }
        Ok(())
    }

    /// The bundle a referrer manifest carries (its one layer), or why not.
    fn referrer_bundle(&self, manifest: &[u8]) -> Result<Vec<u8>, Failure> {
        let r = storage::parse_referrer_manifest(manifest)?;
        if !r.is_sigstore_bundle() {
            return Err(Failure::UnsupportedBundle {
                found: r.artifact_type.unwrap_or_default(),
            });
        }
        let layer = r
            .layers
            .first()
            .ok_or_else(|| Failure::malformed("referrer manifest", "no layers"))?;
        let blob = self.blob(layer).map_err(|e| Failure::Malformed {
            what: "bundle layer",
            detail: e.to_string(),
        })?;
        storage::layer_from_blob(layer, &blob).map(|l| l.payload)
    }
}

const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";

/// One Sigstore bundle stored as a referrer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleAttachment {
    /// The bundle JSON, as stored.
    pub bundle: Vec<u8>,
    /// The referrer manifest's `org.opencontainers.image.created`, if it had one.
    pub created: Option<String>,
}

/// What [`Store::attachments`] found for one subject.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attachments {
    /// Layers of `sha256-<hex>.sig`.
    pub signatures: Vec<AttachedLayer>,
    /// Layers of `sha256-<hex>.att`.
    pub attestations: Vec<AttachedLayer>,
    /// Sigstore bundle referrers.
    pub bundles: Vec<BundleAttachment>,
    /// Notary Project signature referrers, copied as they are (same manifest digest).
    pub notary: Vec<NotaryReferrer>,
}

impl Attachments {
    pub fn is_empty(&self) -> bool {
        self.signatures.is_empty()
            && self.attestations.is_empty()
            && self.bundles.is_empty()
            && self.notary.is_empty()
    }
}

/// `artifactType` of Notary Project signatures (`crate::notary::SIGNATURE_ARTIFACT_TYPE`).
pub const NOTARY_ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";

/// One Notary signature referrer as stored, its blobs verified against their descriptors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotaryReferrer {
    /// The signature manifest's digest.
    pub digest: Digest,
    pub manifest: Vec<u8>,
    pub subject: storage::Descriptor,
    pub annotations: std::collections::BTreeMap<String, String>,
    pub config: storage::Blob,
    /// The envelope (its descriptor's media type says COSE or JWS).
    pub envelope: storage::Blob,
}

/// What [`Store::put_attachments`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutAttachments {
    /// Layers and bundles that were new here (0: everything was there already).
    pub added: usize,
    /// Where they are now (see [`Attached::location`]): the `.sig`/`.att` manifest tags
    /// and each bundle's referrer, whether added now or found there already.
    pub locations: Vec<String>,
}

/// One bundle's check, or `None` when this run does not look at its kind.
fn bundle_check(
    source: String,
    bundle_json: Result<Vec<u8>, Failure>,
    is_sig: bool,
    digest: &Digest,
    opts: &VerifyOptions<'_>,
) -> Option<Check> {
    let wanted = if is_sig {
        opts.signatures
    } else {
        opts.attestations
    };
    if !wanted {
        return None;
    }
    let filter = if is_sig {
        Some(bundle::COSIGN_SIGN_PREDICATE_TYPE)
    } else {
        opts.predicate_type
    };
    let result = bundle_json
        .and_then(|b| bundle::verify_bundle_with(opts.keys, opts.keyless, &b, digest, filter));
    Some(Check { source, result })
}

/// What [`Store::verify_subject`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions<'a> {
    pub keys: &'a [PublicKey],
    /// Trust for keyless (Fulcio) bundles and legacy keyless `.sig`/`.att` layers;
    /// without it they fail `keyless_not_trusted`.
    pub keyless: Option<&'a super::keyless::Keyless>,
    /// Check `.sig` signatures (and signature bundles); at least one must verify.
    pub signatures: bool,
    /// Check attestations (`.att`, attestation bundles, the directory's envelopes); at
    /// least one must verify.
    pub attestations: bool,
    /// Only attestations of this predicate type pass.
    pub predicate_type: Option<&'a str>,
    /// The docker-reference signatures must name (repository; tags/digests ignored).
    pub identity: Option<&'a str>,
    /// Also read this `attestations/` directory.
    pub dir: Option<&'a AttestationsDir>,
}

/// Every check for one image (a manifest list, or one of its platforms).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectReport {
    pub digest: Digest,
    pub media_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    pub verified: bool,
    pub signatures_verified: usize,
    pub signatures: Vec<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestations_verified: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestations: Option<Vec<Check>>,
}

/// The platform manifests of an index to check besides the index itself: the one
/// matching `platform`, or all of them.
pub fn children(
    store: &Store,
    root: &Root,
    platform: Option<&image::PlatformSelector>,
    all: bool,
) -> Result<Vec<Descriptor>> {
    let Root::Index(index) = root else {
        return Ok(Vec::new());
    };
    if all {
        return Ok(image_entries(index).into_iter().cloned().collect());
    }
    match platform {
        Some(p) => Ok(vec![
            image::source::select(index, Some(p), &store.source().name())?.clone(),
        ]),
        None => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::PrivateKey;
    use crate::image::model::media;
    use crate::image::{LayoutSource, LayoutWriter};

    /// A layout holding one tiny image; returns its manifest descriptor.
    fn layout_with_image(dir: &std::path::Path) -> Descriptor {
        let mut w = LayoutWriter::create(dir).unwrap();
        let cfg =
            br#"{"architecture":"amd64","os":"windows","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let c = w.put_bytes(media::OCI_CONFIG, cfg).unwrap();
        let m = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": media::OCI_MANIFEST, "config": c, "layers": []
        }))
        .unwrap();
        let md = w.put_bytes(media::OCI_MANIFEST, &m).unwrap();
        w.add_manifest(&md, Some("v1")).unwrap();
        md
    }

    fn opts<'a>(keys: &'a [PublicKey]) -> VerifyOptions<'a> {
        VerifyOptions {
            keys,
            keyless: None,
            signatures: true,
            attestations: false,
            predicate_type: None,
            identity: None,
            dir: None,
        }
    }

    #[test]
    fn layout_sign_attach_and_verify_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let md = layout_with_image(tmp.path());
        let key = PrivateKey::generate().unwrap();
        let keys = [key.public_key()];
        // Untagged: the only image, even once signatures sit beside it.
        let r: ImageRef = format!("oci:{}", tmp.path().display()).parse().unwrap();
        let mut store = Store::open(&r, &RegistryOptions::default()).unwrap();
        assert_eq!(store.root().unwrap().descriptor().digest, md.digest);
        let layer = super::super::simplesigning::sign(&key, &store.default_identity(), &md.digest);
        let a = store
            .attach_layers(storage::sig_tag(&md.digest), std::slice::from_ref(&layer))
            .unwrap();
        assert_eq!(a.added, 1);
        // Deterministic signature: signing again adds nothing.
        let again = store
            .attach_layers(storage::sig_tag(&md.digest), &[layer])
            .unwrap();
        assert_eq!(again.added, 0);
        assert_eq!(again.manifest, a.manifest);

        let store = Store::open(&r, &RegistryOptions::default()).unwrap();
        assert_eq!(store.root().unwrap().descriptor().digest, md.digest);
        let rep = store.verify_subject(&md, &opts(&keys)).unwrap();
        assert!(rep.verified);
        assert_eq!(rep.signatures.len(), 1);
        let other = [PrivateKey::generate().unwrap().public_key()];
        let rep = store.verify_subject(&md, &opts(&other)).unwrap();
        assert!(!rep.verified);
        assert_eq!(
            rep.signatures[0].result,
            Err(Failure::BadSignature { keys: 1 })
        );
    }

    #[test]
    fn layout_bundles_are_referrers_of_their_subject_only() {
        let tmp = tempfile::tempdir().unwrap();
        let md = layout_with_image(tmp.path());
        let key = PrivateKey::generate().unwrap();
        let keys = [key.public_key()];
        let r: ImageRef = format!("oci:{}:v1", tmp.path().display()).parse().unwrap();
        let mut store = Store::open(&r, &RegistryOptions::default()).unwrap();
        let stmt = super::super::statement::Statement::new(
            vec![super::super::statement::ResourceDescriptor::named(
                "x", &md.digest,
            )],
            "https://example.com/p/v1",
            serde_json::json!({"a": 1}),
        );
        let b = bundle::sign_statement_bundle(&stmt, &key);
        store.attach_bundle(&md, &b).unwrap();
        // A bundle about another subject in the same index.json is not ours.
        let other = Descriptor::of_bytes(media::OCI_MANIFEST, b"{}");
        store.attach_bundle(&other, &b).unwrap();
        let idx = LayoutSource::open(tmp.path(), None, None)
            .unwrap()
            .index_json()
            .unwrap();
        assert_eq!(idx.manifests.len(), 3);
        let mut o = opts(&keys);
        o.signatures = false;
        o.attestations = true;
        let rep = store.verify_subject(&md, &o).unwrap();
        let atts = rep.attestations.unwrap();
        assert_eq!(atts.len(), 1, "{atts:?}");
        assert!(atts[0].is_verified());
        o.predicate_type = Some("https://example.com/other");
        let rep = store.verify_subject(&md, &o).unwrap();
        assert!(!rep.verified);
        assert!(matches!(
            rep.attestations.unwrap()[0].result,
            Err(Failure::PredicateTypeMismatch { .. })
        ));
    }

    #[test]
    fn attachments_copy_between_layouts_once_keeping_what_is_there() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let md = layout_with_image(a.path());
        assert_eq!(layout_with_image(b.path()), md);
        let r = |d: &std::path::Path| -> ImageRef {
            format!("oci:{}:v1", d.display()).parse().unwrap()
        };
        let o = RegistryOptions::default();
        let key = PrivateKey::generate().unwrap();
        let mut src = Store::open(&r(a.path()), &o).unwrap();
        let sig = super::super::simplesigning::sign(&key, "x", &md.digest);
        src.attach_layers(storage::sig_tag(&md.digest), &[sig])
            .unwrap();
        // A referrer made elsewhere, with a `created` annotation: copied, it keeps it.
        let stmt = super::super::statement::Statement::new(
            vec![super::super::statement::ResourceDescriptor::named(
                "x", &md.digest,
            )],
            "https://example.com/p/v1",
            serde_json::json!({}),
        );
        let bundle_json = bundle::sign_statement_bundle(&stmt, &key);
        src.attach_bundle_created(&md, &bundle_json, Some("2026-01-01T00:00:00Z"))
            .unwrap();
        let found = src.attachments(&md.digest).unwrap();
        assert_eq!(found.signatures.len(), 1);
        assert!(found.attestations.is_empty());
        assert_eq!(found.bundles.len(), 1);
        assert_eq!(found.bundles[0].bundle, bundle_json);
        assert_eq!(
            found.bundles[0].created.as_deref(),
            Some("2026-01-01T00:00:00Z")
        );

        // The destination has a signature of its own: kept, the source's appended.
        let mut dst = Store::open(&r(b.path()), &o).unwrap();
        let own = super::super::simplesigning::sign(&key, "y", &md.digest);
        dst.attach_layers(storage::sig_tag(&md.digest), &[own])
            .unwrap();
        let put = dst.put_attachments(&md, &found).unwrap();
        assert_eq!(put.added, 2);
        assert_eq!(put.locations.len(), 2);
        let there = dst.attachments(&md.digest).unwrap();
        assert_eq!(there.signatures.len(), 2);
        assert_eq!(there.bundles, found.bundles);
        let listed = |d: &std::path::Path| -> Vec<Digest> {
            let idx = LayoutSource::open(d, None, None)
                .unwrap()
                .index_json()
                .unwrap();
            idx.manifests
                .iter()
                .filter(|e| e.artifact_type.is_some())
                .map(|e| e.digest.clone())
                .collect()
        };
        assert_eq!(listed(b.path()), listed(a.path()), "same referrer manifest");
        let again = dst.put_attachments(&md, &found).unwrap();
        assert_eq!(again.added, 0);
        assert_eq!(again.locations, put.locations, "where they are, as before");
        // Nothing found, nothing done.
        let none = Attachments::default();
        assert!(none.is_empty());
        assert_eq!(dst.put_attachments(&md, &none).unwrap().added, 0);
    }

    #[test]
    fn attachment_tags() {
        let d = Digest::of(b"");
        assert!(image::source::is_attachment_tag(&storage::sig_tag(&d)));
        assert!(image::source::is_attachment_tag(&storage::att_tag(&d)));
        assert!(image::source::is_attachment_tag(&storage::referrers_tag(
            &d
        )));
        assert!(!image::source::is_attachment_tag("latest"));
        assert!(!image::source::is_attachment_tag("sha256-abc.sig"));
        assert!(!image::source::is_attachment_tag(&format!(
            "{}.txt",
            storage::referrers_tag(&d)
        )));
    }
}
