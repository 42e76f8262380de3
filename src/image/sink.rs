//! The sink abstraction, beside [`super::ImageSource`]: something images are written to
//! (an OCI layout, a registry, a docker-archive, a `dir:` directory), chosen by
//! [`super::open_sink`]. Blobs go in verified; a manifest is recorded (tagged) only after
//! the blobs it names; [`ImageSink::commit`] makes a new destination appear, so a failed
//! write leaves nothing behind.
//!
//! Signatures and attestations are written through the same sinks: `.sig`/`.att`
//! manifests are manifests under a tag ([`ImageSink::put_bytes`] +
//! [`ImageSink::add_manifest`]), bundles are referrers ([`ImageSink::put_referrer`]), and
//! `dir:`'s signature files go through [`ImageSink::put_signatures`]. A transport that
//! cannot hold a kind says so (`Error::Unsupported`).

use super::Digest;
use super::error::{Error, Result};
use super::layout::StagedBlob;
use super::model::Descriptor;
use super::referrers::ReferrersVia;
use super::verified::VerifiedBlob;
use std::io::Read;
use std::path::Path;

/// Something images can be written to.
pub trait ImageSink {
    /// True if the sink already holds this blob (then `put_blob` need not be called).
    fn has_blob(&self, desc: &Descriptor) -> Result<bool>;

    /// Store a blob from a stream. With `expected`, size and digest are verified before
    /// the blob becomes visible (and an existing blob is not rewritten); the returned
    /// descriptor is `expected` (or, without it, an `application/octet-stream`
    /// descriptor of what was read).
    fn put_blob(
        &mut self,
        reader: &mut dyn Read,
        expected: Option<&Descriptor>,
    ) -> Result<Descriptor>;

    /// Store bytes as a blob of `media_type`.
    fn put_bytes(&mut self, media_type: &str, bytes: &[u8]) -> Result<Descriptor> {
        let d = Descriptor::of_bytes(media_type, bytes);
        self.put_blob(&mut &bytes[..], Some(&d))
    }

    /// Store a blob verified earlier in this process, without hashing it again where the
    /// sink can (see the module doc); the default streams it through `put_blob`, which
    /// verifies it once more.
    fn put_verified(&mut self, blob: &VerifiedBlob) -> Result<Placement> {
        let d = blob.descriptor();
        if self.has_blob(d)? {
            return Ok(Placement::Present);
        }
        let mut r = blob
            .open()
            .map_err(|e| Error::io(format!("opening blob {}", d.digest), e))?;
        self.put_blob(&mut r, Some(d))?;
        Ok(Placement::Copied)
    }

    /// Hard-link `src` (a blob file of another image, NOT verified) into the sink under
    /// a temporary name, for the caller to verify through [`StagedBlob::reader`] and then
    /// [`StagedBlob::commit`]. `None` when the sink cannot (another filesystem, a file
    /// not fit to share, not a layout): the caller copies instead.
    fn stage_link(&mut self, _desc: &Descriptor, _src: &Path) -> Result<Option<StagedBlob>> {
        Ok(None)
    }

    /// Record a manifest or index (already stored as a blob) as an image of the sink,
    /// under `tag` if given (moving the tag if another manifest had it).
    fn add_manifest(&mut self, desc: &Descriptor, tag: Option<&str>) -> Result<()>;

    /// Store a referrer manifest (it names `subject` in its `subject` field; its blobs are
    /// stored already) so that the referrers of `subject` list it.
    fn put_referrer(
        &mut self,
        _subject: &Digest,
        _manifest: &[u8],
        _media_type: &str,
    ) -> Result<ReferrersVia> {
        Err(Error::Unsupported(format!(
            "{}: referrers cannot be stored here",
            self.name()
        )))
    }

    /// Store signatures of the manifest `manifest` as the transport keeps them beside
    /// the image (`dir:`'s `signature-N` files), after the ones there; signatures already
    /// there are not repeated. Returns how many were new.
    fn put_signatures(&mut self, _manifest: &Digest, _signatures: &[Vec<u8>]) -> Result<usize> {
        Err(Error::Unsupported(format!(
            "{}: signature files cannot be stored here",
            self.name()
        )))
    }

    /// Hold the destination for a read-modify-write of its tags (a layout's index.json)
    /// until the guard drops, so two runs cannot lose each other's update. `None` where
    /// the transport needs no lock (a registry orders its own writes).
    fn lock_for_update(&self) -> Result<Option<crate::atomic::DirLock>> {
        Ok(None)
    }

    /// What the sink writes to, for messages.
    fn name(&self) -> String {
        "the destination".to_string()
    }

    /// Finish: wait for uploads, write the archive, move a new layout into place. Until
    /// then a new destination does not exist; dropping the sink uncommitted removes what
    /// it staged.
    fn commit(&mut self) -> Result<()> {
        Ok(())
    }
}

/// How [`ImageSink::put_verified`] stored a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The sink had it already.
    Present,
    /// Hard-linked to the file that was verified.
    Linked,
    /// Written (from verified memory, or copied and verified again).
    Copied,
}
