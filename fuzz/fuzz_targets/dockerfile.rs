//! Any text as a Dockerfile (the classic Windows builder's subset) and as one word of
//! BuildKit's shell lexer: a recipe or a line-numbered error, never a panic. COPY reads
//! from a scratch build context holding `binaries/keylight.reg` and `a.txt`.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use pause_verify::recipe::dockerfile;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut args = BTreeMap::new();
    if text.len() % 2 == 0 {
        args.insert("OSVERSION".to_string(), "ltsc2022".to_string());
    }
    let _ = dockerfile::load_text(common::scratch(), "Dockerfile", text, &args);
    let vars = |k: &str| (k == "A").then(|| "a b".to_string());
    for escape in ['\\', '`'] {
        let _ = dockerfile::process_word(text, &vars, escape);
    }
});
