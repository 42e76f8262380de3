//! Any bytes as a `docker save` archive: opening it (tar index, manifest.json, config,
//! layer digests) and reading each blob it lists fail with an error, never panic.
//! The archive reader seeks in a file, so each input is written to a scratch file first
//! (tmpfs when there is one).
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use pause_verify::image::archive::ArchiveSource;
use pause_verify::image::model::Root;
use pause_verify::image::source::ImageSource;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch().join("archive.tar");
    std::fs::write(&path, data).expect("scratch file");
    for (reference, index) in [(None, None), (Some("pause:latest"), None), (None, Some(1))] {
        let Ok(src) = ArchiveSource::open(&path, reference, index) else {
            continue;
        };
        let Ok(Root::Manifest(m)) = src.root() else {
            continue;
        };
        let _ = src.read_config(&m.config);
        for l in &m.layers {
            if let Ok(mut r) = src.open_blob(l) {
                let _ = std::io::copy(&mut r, &mut std::io::sink());
            }
        }
        let _ = src.read_blob(&m.config).map(|b| b.len());
    }
});
