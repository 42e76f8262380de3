//! Any text as a policy: TOML parse, then validation and resolution of the files it
//! names against a scratch folder (holding `cosign.pub`, `pins.toml`,
//! `trusted_root.json`): a `PolicyError`, never a panic.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use pause_verify::policy::{self, CliInputs};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = common::scratch();
    if let Ok(p) = policy::parse(text, Path::new("policy.toml")) {
        if let Ok(l) = policy::resolve(p, "policy.toml".into(), None, dir, &CliInputs::default()) {
            let _ = l.pins_for("10.0.20348.2849");
            let _ = l.noise_allowed("file-prefetch-temp");
            let _ = l.builder_id();
        }
    }
});
