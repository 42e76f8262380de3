//! One-pass layer verification: the compressed digest, the diff_id (digest of the
//! uncompressed tar) and both sizes from a single read of the blob, while a consumer
//! (e.g. a tar walker) reads the uncompressed stream.
//!
//! Layout of the work (never more than a few MiB in memory, whatever the layer size):
//! a worker thread reads the blob in 1 MiB chunks and inflates it (flate2 / zlib-rs);
//! the calling thread hashes the compressed chunks and the uncompressed chunks (sha2,
//! SHA-NI where the CPU has it) and hands the uncompressed bytes to the consumer. The
//! inflater is the slowest stage, so it gets a core to itself.
//!
//! Verdicts come at the end: when the compressed digest or size disagrees, that is the
//! error (it explains any gzip or tar error seen on the way); otherwise a gzip error, then
//! a consumer error.

use super::Digest;
use super::error::{Error, Result};
use super::model::{self, Descriptor};
use super::source::ImageSource;
use sha2::{Digest as _, Sha256};
use std::io::{self, BufRead, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

/// Chunk size of reads and of inflated buffers.
pub const CHUNK: usize = 1 << 20;
/// Read size where a blob is only hashed (digest checks, cache checks, linked copies):
/// small enough that each block is still in cache when the hash reads it after the
/// kernel's copy. 1 MiB reads made `inspect --digests` slower than `openssl dgst`
/// (figures: scripts/bench.d/verify.sh, docs/build.md).
pub const HASH_READ: usize = 128 << 10;

/// Read `r` to its end in [`HASH_READ`] blocks, discarding the bytes (a verifying or
/// hashing reader does the work); the number of bytes read.
pub fn drain(r: &mut dyn Read) -> io::Result<u64> {
    let mut buf = vec![0u8; HASH_READ];
    let mut n = 0u64;
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(k) => n += k as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
/// Chunks in flight between the threads (bounds memory).
const IN_FLIGHT: usize = 8;

/// Caps on what one layer blob may inflate to (a gzip bomb of 4 MiB inflates to 4 GiB).
/// Process-wide: the binary sets them once from `--max-layer-size`/`--max-layer-ratio`
/// (or their environment variables) before any layer is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InflateLimits {
    /// Most uncompressed bytes of one layer.
    pub max_bytes: u64,
    /// Most uncompressed bytes per compressed byte, once [`RATIO_FLOOR`] bytes were
    /// inflated (a small layer of zero-filled hives is legitimately very compressible).
    pub max_ratio: u64,
}

/// Default [`InflateLimits::max_bytes`]: 32 GiB (a Server Core base layer is ~5 GiB).
pub const DEFAULT_MAX_LAYER_BYTES: u64 = 32 << 30;
/// Default [`InflateLimits::max_ratio`]: real Windows layers inflate 2–5×.
pub const DEFAULT_MAX_LAYER_RATIO: u64 = 100;
/// The ratio applies only beyond this many inflated bytes.
pub const RATIO_FLOOR: u64 = 64 << 20;

impl Default for InflateLimits {
    fn default() -> Self {
        InflateLimits {
            max_bytes: DEFAULT_MAX_LAYER_BYTES,
            max_ratio: DEFAULT_MAX_LAYER_RATIO,
        }
    }
}

static MAX_BYTES: AtomicU64 = AtomicU64::new(DEFAULT_MAX_LAYER_BYTES);
static MAX_RATIO: AtomicU64 = AtomicU64::new(DEFAULT_MAX_LAYER_RATIO);

/// Set the caps every later layer read uses.
pub fn set_inflate_limits(l: InflateLimits) {
    MAX_BYTES.store(l.max_bytes, Ordering::Relaxed);
    MAX_RATIO.store(l.max_ratio.max(1), Ordering::Relaxed);
}

/// The caps in force.
pub fn inflate_limits() -> InflateLimits {
    InflateLimits {
        max_bytes: MAX_BYTES.load(Ordering::Relaxed),
        max_ratio: MAX_RATIO.load(Ordering::Relaxed),
    }
}

impl InflateLimits {
    /// The error for `inflated` bytes out of `compressed`, if they break a cap.
    fn check(&self, inflated: u64, compressed: Option<u64>) -> io::Result<()> {
        if inflated > self.max_bytes {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the layer inflates to more than the {} cap on one layer (raise it with --max-layer-size or PAUSE_VERIFY_MAX_LAYER_SIZE if the layer is genuine)",
                    crate::limits::human(self.max_bytes)
                ),
            ));
        }
        if let Some(c) = compressed
            && inflated > RATIO_FLOOR
            && inflated / c.max(1) >= self.max_ratio
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the layer inflates more than the {}x cap on the compression ratio ({inflated} bytes from {c} compressed): a gzip bomb? (raise it with --max-layer-ratio or PAUSE_VERIFY_MAX_LAYER_RATIO if the layer is genuine)",
                    self.max_ratio
                ),
            ));
        }
        Ok(())
    }
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

/// The compression a layer media type declares. zstd and unknown types are errors.
pub fn compression_of(media_type: &str) -> Result<Compression> {
    if model::is_gzip(media_type) {
        Ok(Compression::Gzip)
    } else if model::is_zstd(media_type) {
        Err(Error::Unsupported(format!(
            "zstd layers ({media_type}) are not supported yet"
        )))
    } else if model::is_layer(media_type) {
        Ok(Compression::None)
    } else {
        Err(Error::UnknownMediaType {
            what: "layer".to_string(),
            media_type: media_type.to_string(),
        })
    }
}

/// What one pass over a layer found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerDigests {
    /// Digest of the blob as stored (checked against the descriptor).
    pub digest: Digest,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
}

enum Msg {
    /// Compressed bytes `buf[..len]`, to hash (then the buffer goes back to the pool).
    Raw(Vec<u8>, usize),
    /// Uncompressed bytes `buf[..len]` (for `Compression::None`: the blob itself).
    Data(Vec<u8>, usize),
    /// The worker is done; `Some` if inflating failed (the blob was still read to EOF).
    End(Option<io::Error>),
}

/// Verify `raw` (the blob as stored, unverified) against `desc` in one pass, giving the
/// uncompressed stream to `consume` on the calling thread. `consume` need not read to
/// the end: the rest is drained (and hashed) after it returns.
pub fn verify_layer<T>(
    raw: Box<dyn Read + Send>,
    desc: &Descriptor,
    consume: impl FnOnce(&mut dyn BufRead) -> io::Result<T>,
) -> Result<(LayerDigests, T)> {
    let compression = compression_of(&desc.media_type)?;
    let (tx, rx) = sync_channel::<Msg>(IN_FLIGHT);
    let (free_tx, free_rx) = channel::<Vec<u8>>();
    std::thread::scope(|s| {
        s.spawn(move || worker(raw, compression, tx, free_rx));
        let mut pipe = Pipe {
            rx,
            free: free_tx,
            cur: Vec::new(),
            len: 0,
            pos: 0,
            raw_hash: Sha256::new(),
            raw_len: 0,
            data_hash: Sha256::new(),
            data_len: 0,
            same: compression == Compression::None,
            end: None,
        };
        let consumed = consume(&mut pipe);
        // Drain whatever the consumer left (tar padding, or everything after an error)
        // so both digests cover the whole blob.
        let drained = pipe.drain();
        let (digest, diff_id) = if pipe.same {
            let d = Digest::from_hasher(pipe.data_hash.clone());
            (d.clone(), d)
        } else {
            (
                Digest::from_hasher(pipe.raw_hash.clone()),
                Digest::from_hasher(pipe.data_hash.clone()),
            )
        };
        let compressed_size = if pipe.same {
            pipe.data_len
        } else {
            pipe.raw_len
        };
        let found = LayerDigests {
            digest,
            diff_id,
            compressed_size,
            uncompressed_size: pipe.data_len,
        };
        let name = desc.digest.to_string();
        if found.compressed_size != desc.size {
            return Err(Error::SizeMismatch {
                blob: name,
                expected: desc.size,
                actual: found.compressed_size.to_string(),
            });
        }
        if found.digest != desc.digest {
            return Err(Error::DigestMismatch {
                blob: name,
                expected: desc.digest.clone(),
                actual: found.digest,
            });
        }
        if let Some(Some(e)) = pipe.end.take() {
            // A cap hit while draining after the consumer failed is not the cause: the
            // consumer's error (e.g. a hive over its cap) is.
            let capped = e.get_ref().is_some_and(|i| i.is::<Capped>());
            if !(capped && consumed.is_err()) {
                return Err(layer_err(desc, e, "reading the blob"));
            }
        }
        let value = consumed.map_err(|e| layer_err(desc, e, "reading the layer's tar stream"))?;
        drained.map_err(|e| layer_err(desc, e, "reading the blob"))?;
        Ok((found, value))
    })
}

fn layer_err(desc: &Descriptor, e: io::Error, doing: &str) -> Error {
    match Error::from_io(e, doing) {
        Error::Io { context, source } => Error::Layer {
            layer: desc.media_type.clone(),
            digest: desc.digest.clone(),
            reason: format!("{context}: {source}"),
        },
        other => other,
    }
}

/// `verify_layer` over a source's blob.
pub fn verify_blob<T>(
    source: &dyn ImageSource,
    desc: &Descriptor,
    consume: impl FnOnce(&mut dyn BufRead) -> io::Result<T>,
) -> Result<(LayerDigests, T)> {
    if desc.is_foreign() {
        return Err(Error::Unsupported(format!(
            "layer {} is foreign (non-distributable): it is never downloaded",
            desc.digest
        )));
    }
    verify_layer(source.open_raw(desc)?, desc, consume)
}

fn pooled(free: &Receiver<Vec<u8>>) -> Vec<u8> {
    // Pooled buffers always have length CHUNK: no zero-filling per chunk.
    free.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK])
}

/// Read until `buf` is full or EOF.
fn fill(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The blob as a `BufRead` for the gzip decoder: each 1 MiB chunk is read once into a
/// pooled buffer, inflated from in place, then handed whole to the hashing side.
struct Chunks<'a> {
    inner: Box<dyn Read + Send>,
    buf: Vec<u8>,
    len: usize,
    pos: usize,
    tx: &'a SyncSender<Msg>,
    free: &'a Receiver<Vec<u8>>,
    /// Compressed bytes the decoder consumed so far (for the ratio cap).
    total: u64,
}

impl Chunks<'_> {
    /// Send the current chunk (if any) to be hashed.
    fn flush(&mut self) -> io::Result<()> {
        if self.len > 0 {
            let full = std::mem::replace(&mut self.buf, pooled(self.free));
            self.tx
                .send(Msg::Raw(full, self.len))
                .map_err(|_| io::Error::other("hashing side stopped"))?;
            self.len = 0;
            self.pos = 0;
        }
        Ok(())
    }
}

impl Read for Chunks<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Chunks<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.len {
            self.flush()?;
            if self.buf.len() != CHUNK {
                self.buf = pooled(self.free);
            }
            self.len = fill(&mut self.inner, &mut self.buf)?;
            self.pos = 0;
        }
        Ok(&self.buf[self.pos..self.len])
    }
    fn consume(&mut self, n: usize) {
        let to = (self.pos + n).min(self.len);
        self.total += (to - self.pos) as u64;
        self.pos = to;
    }
}

fn worker(
    raw: Box<dyn Read + Send>,
    compression: Compression,
    tx: SyncSender<Msg>,
    free: Receiver<Vec<u8>>,
) {
    let send = |m: Msg| tx.send(m).map_err(|_| io::Error::other("consumer stopped"));
    let limits = inflate_limits();
    let outcome: io::Result<()> = (|| match compression {
        Compression::None => {
            let mut raw = raw;
            let mut total = 0u64;
            loop {
                let mut buf = pooled(&free);
                let n = fill(&mut raw, &mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                total += n as u64;
                limits.check(total, None)?;
                send(Msg::Data(buf, n))?;
            }
        }
        Compression::Gzip => {
            let chunks = Chunks {
                inner: raw,
                buf: Vec::new(),
                len: 0,
                pos: 0,
                tx: &tx,
                free: &free,
                total: 0,
            };
            let mut gz = flate2::bufread::MultiGzDecoder::new(chunks);
            let mut inflated = 0u64;
            let res: io::Result<()> = (|| loop {
                let mut buf = pooled(&free);
                let n = fill(&mut gz, &mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                inflated += n as u64;
                // Stop inflating at a cap; the blob is still read (not inflated) to its
                // end below, so a wrong digest is reported before the bomb.
                if let Err(e) = limits.check(inflated, Some(gz.get_ref().total)) {
                    return Err(io::Error::other(Capped(e)));
                }
                send(Msg::Data(buf, n))?;
            })();
            // Whatever happened, read the blob to its end so its digest can be checked.
            let mut rest = gz.into_inner();
            loop {
                let n = rest.fill_buf()?.len();
                if n == 0 {
                    break;
                }
                rest.consume(n);
            }
            rest.flush()?;
            res.map_err(|e| {
                if e.get_ref().is_some_and(|i| i.is::<Capped>()) {
                    e
                } else if e.kind() == io::ErrorKind::UnexpectedEof {
                    io::Error::new(e.kind(), "truncated gzip stream")
                } else {
                    io::Error::new(e.kind(), format!("corrupt gzip stream: {e}"))
                }
            })
        }
    })();
    let _ = tx.send(Msg::End(outcome.err()));
}

/// A cap was hit while inflating (not a gzip error).
#[derive(Debug)]
struct Capped(io::Error);

impl std::fmt::Display for Capped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Capped {}

/// The calling thread's side: hashes both streams and serves the uncompressed one.
struct Pipe {
    rx: Receiver<Msg>,
    free: Sender<Vec<u8>>,
    cur: Vec<u8>,
    len: usize,
    pos: usize,
    raw_hash: Sha256,
    raw_len: u64,
    data_hash: Sha256,
    data_len: u64,
    same: bool,
    /// Set once End arrived.
    end: Option<Option<io::Error>>,
}

fn copy_err(e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), e.to_string())
}

impl Pipe {
    /// Pull messages until new uncompressed data is in `cur` or the worker ended.
    fn next_data(&mut self) -> io::Result<()> {
        loop {
            if let Some(end) = &self.end {
                return match end {
                    Some(e) => Err(copy_err(e)),
                    None => Ok(()),
                };
            }
            match self.rx.recv() {
                Ok(Msg::Raw(v, n)) => {
                    self.raw_hash.update(&v[..n]);
                    self.raw_len += n as u64;
                    let _ = self.free.send(v);
                }
                Ok(Msg::Data(v, n)) => {
                    self.data_hash.update(&v[..n]);
                    self.data_len += n as u64;
                    let old = std::mem::replace(&mut self.cur, v);
                    if old.len() == CHUNK {
                        let _ = self.free.send(old);
                    }
                    self.len = n;
                    self.pos = 0;
                    return Ok(());
                }
                Ok(Msg::End(e)) => self.end = Some(e),
                Err(_) => {
                    self.end = Some(Some(io::Error::other("layer reader thread stopped")));
                }
            }
        }
    }

    /// Consume everything left, through the worker's End (hashing all of it).
    fn drain(&mut self) -> io::Result<()> {
        let mut first_err = None;
        while self.end.is_none() {
            self.pos = self.len;
            if let Err(e) = self.next_data() {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Read for Pipe {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Pipe {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.len {
            self.pos = 0;
            self.len = 0;
            self.next_data()?;
        }
        Ok(&self.cur[self.pos..self.len])
    }
    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.len);
    }
}

/// Forward-only `Seek` over a `BufRead`, so the tar crate skips file data by dropping
/// buffered bytes instead of copying each one through its 32 KiB buffer.
struct SkipForward<'a> {
    inner: &'a mut dyn BufRead,
    /// Bytes read or skipped so far (the tar crate takes `seek`'s result as its position).
    pos: u64,
}

impl Read for SkipForward<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl io::Seek for SkipForward<'_> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        let io::SeekFrom::Current(mut n) = pos else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a layer stream only skips forward",
            ));
        };
        if n < 0 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a layer stream only skips forward",
            ));
        }
        while n > 0 {
            let avail = self.inner.fill_buf()?.len();
            if avail == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "tar entry runs past the end of the layer",
                ));
            }
            let k = avail.min(usize::try_from(n).unwrap_or(usize::MAX));
            self.inner.consume(k);
            n -= k as i64;
            self.pos += k as u64;
        }
        Ok(self.pos)
    }
}

/// What a tar walk found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TarSummary {
    pub entries: u64,
}

/// Walk a tar stream's headers to the end (checks it is a well-formed tar).
pub fn walk_tar(r: &mut dyn BufRead) -> io::Result<TarSummary> {
    let mut ar = tar::Archive::new(SkipForward { inner: r, pos: 0 });
    let mut entries = 0u64;
    for e in ar.entries_with_seek()? {
        let e = e?;
        e.path()?;
        entries += 1;
    }
    Ok(TarSummary { entries })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn tarball(n: usize) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for i in 0..n {
            let body = vec![(i % 251) as u8; 3000 + i * 17];
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, format!("f{i}"), &body[..]).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn gzip_layer_digests_in_one_pass() {
        let t = tarball(700); // several MiB uncompressed: crosses chunk boundaries
        let z = gz(&t);
        let desc = Descriptor::of_bytes(model::media::OCI_LAYER_GZIP, &z);
        let (d, sum) = verify_layer(Box::new(io::Cursor::new(z.clone())), &desc, walk_tar).unwrap();
        assert_eq!(d.digest, Digest::of(&z));
        assert_eq!(d.diff_id, Digest::of(&t));
        assert_eq!(d.uncompressed_size, t.len() as u64);
        assert_eq!(sum.entries, 700);
    }

    #[test]
    fn uncompressed_layer() {
        let t = tarball(5);
        let desc = Descriptor::of_bytes(model::media::DOCKER_LAYER, &t);
        let (d, _) = verify_layer(Box::new(io::Cursor::new(t.clone())), &desc, walk_tar).unwrap();
        assert_eq!(d.digest, d.diff_id);
        assert_eq!(d.diff_id, Digest::of(&t));
    }

    #[test]
    fn corruption_is_reported_as_digest_mismatch() {
        let z = gz(&tarball(50));
        let desc = Descriptor::of_bytes(model::media::OCI_LAYER_GZIP, &z);
        let mut bad = z.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x55;
        let e = verify_layer(Box::new(io::Cursor::new(bad)), &desc, walk_tar).unwrap_err();
        assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
        let e = verify_layer(
            Box::new(io::Cursor::new(z[..mid].to_vec())),
            &desc,
            walk_tar,
        )
        .unwrap_err();
        assert!(matches!(e, Error::SizeMismatch { .. }), "{e}");
        // A truncated gzip whose descriptor matches it: a gzip error, not a panic.
        let cut = z[..mid].to_vec();
        let d2 = Descriptor::of_bytes(model::media::OCI_LAYER_GZIP, &cut);
        let e = verify_layer(Box::new(io::Cursor::new(cut)), &d2, walk_tar).unwrap_err();
        assert!(e.to_string().contains("truncated gzip"), "{e}");
    }
}
