//! The base view: the base image's layers, read ONCE each, streamed into the output
//! sink (the compressed blob as stored) while, on another thread, the same bytes are
//! verified (digest, size, diff_id) and walked as a Windows layer tar to pull out the
//! registry hives the build needs. The hives are used only after verification succeeded.
//! When the base is a layout on the output's filesystem, the blob is hard-linked into
//! the output instead of copied and the one pass reads through the link
//! (`ImageSink::stage_link`): nothing of the base is written.
//!
//! Per layer, in order: full hives under `Files/Windows/System32/config/{SOFTWARE,SYSTEM}`
//! replace the view; delta hives `Hives/{Software,System}_Delta` are merged onto it
//! (`hive::merge`), so a base that is itself a built image gives its effective registry.

use super::Error;
use crate::hive::{self, Hive, RootHive};
use crate::image::layer::{self, LayerDigests};
use crate::image::{Descriptor, Digest, ImageSink, ImageSource};
use crate::progress::Progress;
use crate::wclayer::{LayerReader, reader::EntryType};
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Largest hive file we keep in memory (real SOFTWARE hives are ~50-80 MB at most).
pub const MAX_HIVE: u64 = crate::limits::HIVE.bytes;

/// Refuse a hive entry over its cap, or one that takes the layer's hive bytes over theirs,
/// on the tar header's size (before reading it).
fn check_hive(
    path: &str,
    size: u64,
    held: &mut u64,
    one: &crate::limits::Cap,
    all: &crate::limits::Cap,
) -> io::Result<()> {
    *held = held.saturating_add(size);
    for (cap, n) in [(one, size), (all, *held)] {
        if n > cap.bytes {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{path}: {}", crate::limits::too_large(cap, n)),
            ));
        }
    }
    Ok(())
}

const FULL: [(&str, RootHive); 2] = [
    ("Files/Windows/System32/config/SOFTWARE", RootHive::Software),
    ("Files/Windows/System32/config/SYSTEM", RootHive::System),
];
const DELTA: [(&str, RootHive); 2] = [
    ("Hives/Software_Delta", RootHive::Software),
    ("Hives/System_Delta", RootHive::System),
];

/// What reading one layer found.
#[derive(Debug, Default)]
pub struct LayerHives {
    pub full: Vec<(RootHive, Vec<u8>)>,
    pub delta: Vec<(RootHive, Vec<u8>)>,
}

fn walk(r: &mut dyn io::BufRead) -> io::Result<LayerHives> {
    let mut out = LayerHives::default();
    let mut reader = LayerReader::new(r);
    let (mut full_bytes, mut delta_bytes) = (0u64, 0u64);
    loop {
        let next = reader.next_entry().map_err(io::Error::other)?;
        let Some(mut e) = next else { break };
        if e.kind != EntryType::File {
            continue;
        }
        let full = FULL.iter().find(|(p, _)| p.eq_ignore_ascii_case(&e.path));
        let delta = DELTA.iter().find(|(p, _)| p.eq_ignore_ascii_case(&e.path));
        if let Some((_, h)) = full {
            use crate::limits::{HIVE, LAYER_FULL_HIVES};
            check_hive(&e.path, e.size, &mut full_bytes, &HIVE, &LAYER_FULL_HIVES)?;
            out.full
                .push((*h, e.read_to_vec(MAX_HIVE).map_err(io::Error::other)?));
        } else if let Some((_, h)) = delta {
            use crate::limits::{DELTA_HIVE, LAYER_DELTA_HIVES};
            check_hive(
                &e.path,
                e.size,
                &mut delta_bytes,
                &DELTA_HIVE,
                &LAYER_DELTA_HIVES,
            )?;
            out.delta
                .push((*h, e.read_to_vec(MAX_HIVE).map_err(io::Error::other)?));
        }
    }
    Ok(out)
}

/// Passes the blob through to the sink and a copy of each chunk to the verifier. Reads
/// the source in 1 MiB chunks (one allocation and one channel message per chunk, however
/// small the sink's reads are).
struct Tee<R> {
    inner: R,
    tx: SyncSender<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.buf.len() {
            self.buf.resize(layer::CHUNK, 0);
            let mut n = 0;
            while n < self.buf.len() {
                match self.inner.read(&mut self.buf[n..]) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            self.buf.truncate(n);
            self.pos = 0;
            if n == 0 {
                return Ok(0);
            }
            self.tx
                .send(self.buf.clone())
                .map_err(|_| io::Error::other("the layer verifier stopped"))?;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The verifier's side of the tee.
struct ChanReader {
    rx: Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.cur.len() {
            match self.rx.recv() {
                Ok(v) => {
                    self.cur = v;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Read base layer `desc` once: store it in `sink` (unless already there) and verify it
/// against `desc` and `diff_id`, returning the hives it holds.
pub fn read_layer(
    source: &dyn ImageSource,
    sink: &mut dyn ImageSink,
    index: usize,
    desc: &Descriptor,
    diff_id: Option<&Digest>,
    progress: &Progress,
) -> Result<(LayerDigests, LayerHives), Error> {
    let label = format!("base layer {}", index + 1);
    let check_diff_id = |digests: &LayerDigests| match diff_id {
        Some(want) if *want != digests.diff_id => Err(crate::image::Error::DiffIdMismatch {
            layer: index,
            digest: desc.digest.clone(),
            expected: want.clone(),
            actual: digests.diff_id.clone(),
        }),
        _ => Ok(()),
    };
    let present = sink.has_blob(desc)?;
    if !present && let Some(v) = source.verified_blob(desc)? {
        // Verified by the transport as it landed (a registry download or cache entry):
        // stored without another pass (linked from the cache where the sink can), then
        // read once for the diff_id and the hives, which checks the digest again.
        sink.put_verified(&v)?;
        let raw = v
            .open()
            .map_err(|e| crate::image::Error::io(format!("reading blob {}", desc.digest), e))?;
        let raw = progress.wrap_read(raw, desc.size, &label);
        let (digests, hives) = layer::verify_layer(raw, desc, walk)?;
        check_diff_id(&digests)?;
        return Ok((digests, hives));
    }
    if !present
        && let Some(path) = source.blob_file(desc)
        && let Some(staged) = sink.stage_link(desc, &path)?
    {
        // The base blob is a file on the output's filesystem: hard-linked under a
        // temporary name, verified and walked by reading through that link (the very
        // inode that lands), made visible only after every check passed.
        let file = staged
            .reader()
            .map_err(|e| crate::image::Error::io(format!("reading {}", path.display()), e))?;
        let raw = progress.wrap_read(file, desc.size, &label);
        let (digests, hives) = layer::verify_layer(raw, desc, walk)?;
        check_diff_id(&digests)?;
        staged.commit()?;
        return Ok((digests, hives));
    }
    let raw = source.open_raw(desc)?;
    let raw = progress.wrap_read(raw, desc.size, &label);
    let (digests, hives) = if present {
        layer::verify_layer(raw, desc, walk)?
    } else {
        let (tx, rx) = sync_channel::<Vec<u8>>(16);
        let chan = ChanReader {
            rx,
            cur: Vec::new(),
            pos: 0,
        };
        let mut tee = Tee {
            inner: raw,
            tx,
            buf: Vec::new(),
            pos: 0,
        };
        std::thread::scope(|s| {
            let verifier = s.spawn(move || layer::verify_layer(Box::new(chan), desc, walk));
            // The sink names the blob by what it hashed; the verifier checks it against
            // the descriptor. On any failure the caller discards the staged output.
            let stored = sink.put_blob(&mut tee, None);
            drop(tee);
            let verified = verifier
                .join()
                .map_err(|_| Error::Internal("the layer verifier panicked".into()))?;
            let (digests, hives) = verified?;
            let stored = stored?;
            if stored.digest != desc.digest {
                return Err(Error::Internal(format!(
                    "stored {} but verified {}",
                    stored.digest, desc.digest
                )));
            }
            Ok::<_, Error>((digests, hives))
        })?
    };
    check_diff_id(&digests)?;
    Ok((digests, hives))
}

/// Fold one verified layer's hives into the view.
pub fn apply(
    view: &mut BTreeMap<RootHive, Hive>,
    found: LayerHives,
    index: usize,
) -> Result<(), Error> {
    for (h, bytes) in found.full {
        let parsed = hive::read(&bytes).map_err(|e| Error::BaseHive {
            layer: index,
            hive: h,
            source: e,
        })?;
        view.insert(h, parsed);
    }
    for (h, bytes) in found.delta {
        let d = hive::read(&bytes).map_err(|e| Error::BaseHive {
            layer: index,
            hive: h,
            source: e,
        })?;
        if let Some(b) = view.get(&h) {
            let merged = hive::merge::apply(b, &d);
            view.insert(h, merged);
        }
    }
    Ok(())
}
