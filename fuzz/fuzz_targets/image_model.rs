//! Any bytes as an index, manifest or config (OCI or Docker schema2, the media type
//! declared by the first byte): parse errors, never panics; what parses answers every
//! accessor the rest of the crate uses.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pause_verify::image::model::{ImageConfig, Index, Manifest, PlatformSelector, Root, media};

const DECLARED: [Option<&str>; 7] = [
    None,
    Some(media::OCI_INDEX),
    Some(media::OCI_MANIFEST),
    Some(media::DOCKER_LIST),
    Some(media::DOCKER_MANIFEST),
    Some("application/json"),
    Some(""),
];

fuzz_target!(|data: &[u8]| {
    let Some((sel, raw)) = data.split_first() else {
        return;
    };
    let declared = DECLARED[*sel as usize % DECLARED.len()];
    if let Ok(root) = Root::parse("fuzz", declared, raw.to_vec()) {
        let _ = root.descriptor();
        if let Root::Manifest(m) = &root {
            let _ = m.check_image();
        }
    }
    if let Ok(m) = Manifest::parse("fuzz", declared, raw.to_vec()) {
        let _ = m.check_image();
    }
    let _ = Index::parse("fuzz", declared, raw.to_vec());
    let config_type = if sel & 0x80 == 0 {
        media::OCI_CONFIG
    } else {
        media::DOCKER_CONFIG
    };
    if let Ok(c) = ImageConfig::parse(config_type, raw.to_vec()) {
        let _ = (
            c.os(),
            c.architecture(),
            c.os_version(),
            c.platform(),
            c.user(),
        );
        let _ = (c.entrypoint(), c.cmd(), c.history().len(), c.diff_ids());
    }
    if let Ok(s) = std::str::from_utf8(raw) {
        if let Ok(p) = s.parse::<PlatformSelector>() {
            let _ = p.to_string();
        }
    }
});
