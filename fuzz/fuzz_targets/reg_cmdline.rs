//! Any text as a RUN command line: split with the MSVCRT rules, then read as `reg add`,
//! `reg delete`, `reg import` (the imported file is the upstream keylight.reg) or `sc
//! delete`: a step or an error message, never a panic.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use pause_verify::recipe::cmdline::{self, RunContext};

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let copied = |p: &str| {
        p.to_ascii_lowercase()
            .ends_with(".reg")
            .then(|| common::KEYLIGHT_REG.to_vec())
    };
    let ctx = RunContext {
        workdir: "C:\\tools",
        copied: &copied,
    };
    if let Ok(args) = cmdline::split_command_line(line) {
        let _ = cmdline::parse_run(&args, &ctx);
    }
    // The exec form gives the arguments as written.
    let args: Vec<String> = line.split('\u{1f}').map(str::to_string).collect();
    let _ = cmdline::parse_run(&args, &ctx);
});
