//! Any bytes: the .reg parser returns ops or a line-numbered error, never panics; the ops
//! it returns always build a delta hive that writes and reads back.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pause_verify::hive::{self, delta, regfile};

fuzz_target!(|data: &[u8]| {
    match regfile::parse(data) {
        Ok(ops) => {
            let Some(first) = ops.first() else { return };
            let same: Vec<_> = ops
                .iter()
                .filter(|o| o.hive == first.hive)
                .cloned()
                .collect();
            let d = delta::build(None, &same, 1).expect("ops from the parser build");
            if let Ok(bytes) = hive::write(&d) {
                hive::read(&bytes).expect("our own output must read back");
            }
        }
        Err(e) => assert!(e.line >= 1),
    }
});
