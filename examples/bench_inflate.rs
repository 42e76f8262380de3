//! Baseline for scripts/bench.d/verify.sh: inflate a gzip file and discard the output,
//! with the same backend (flate2 + zlib-rs), reader and chunk sizes as
//! `pause_verify::image::layer`, and nothing else (no hashing, no tar walk).
//! Usage: bench_inflate FILE  (prints the uncompressed byte count)

use std::io::{BufReader, Read};

fn main() -> std::io::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| std::io::Error::other("usage: bench_inflate FILE"))?;
    let chunk = pause_verify::image::layer::CHUNK;
    let f = std::fs::File::open(path)?;
    let mut gz = flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(chunk, f));
    let mut buf = vec![0u8; chunk];
    let mut total = 0u64;
    loop {
        let n = gz.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    println!("{total}");
    Ok(())
}
