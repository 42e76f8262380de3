//! Any bytes as a Windows layer tar: the streaming reader yields entries or an error
//! (truncated, bad header, too large), never panics and never allocates more than the
//! content it is asked to keep; `extract` agrees with it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pause_verify::wclayer::{self, LayerReader, LayerSummary};
use std::io::Read;

const KEEP: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let mut r = LayerReader::new(data);
    let mut summary = LayerSummary::default();
    let mut streamed_ok = true;
    loop {
        match r.next_entry() {
            Ok(Some(mut e)) => {
                summary.observe(&e.info);
                // Read some entries whole (bounded), stream others, skip the rest.
                match e.info.size % 3 {
                    0 => {
                        let _ = e.read_to_vec(KEEP);
                    }
                    1 => {
                        let mut buf = [0u8; 512];
                        let _ = e.read(&mut buf);
                    }
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => {
                streamed_ok = false;
                break;
            }
        }
    }
    let _ = summary.kind();
    let wanted = [
        "Hives/Software_Delta",
        "Files/Windows/System32/config/SOFTWARE",
    ];
    let extracted = wclayer::extract(data, &wanted, KEEP);
    if streamed_ok && summary.content_bytes <= KEEP {
        // Whatever streams cleanly with small files also extracts.
        let ex = extracted.expect("extract of a layer the reader read");
        assert_eq!(ex.summary.entries, summary.entries);
    }
});
