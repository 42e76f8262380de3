//! Any text as a pins file: `Pins` or a `PinsError`, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pause_verify::compare::pins::Pins;
use pause_verify::image::Digest;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = Pins::parse(text, "pins.toml") {
        for pin in &p.pins {
            assert!(p.for_os_version(&pin.os_version).is_some());
            let layers: Vec<Digest> = pin.layers.iter().map(|l| l.digest.clone()).collect();
            assert!(p.by_layers(&layers).is_some());
        }
        let _ = p.versions();
    }
});
