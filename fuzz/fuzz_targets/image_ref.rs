//! Any text as an image reference (`oci:`, `docker-archive:`, `docker://`, bare
//! `HOST/REPO:TAG`), a digest and a platform selector: parsed or refused, never a
//! panic; what parses prints to a form that parses to the same reference.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pause_verify::image::model::PlatformSelector;
use pause_verify::image::{Digest, ImageRef};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = s.parse::<ImageRef>() {
        let shown = r.to_string();
        let again: ImageRef = shown.parse().expect("a printed reference parses");
        assert_eq!(again.to_string(), shown);
        let _ = r.by_digest(&Digest::of(b"x"));
    }
    if let Ok(d) = s.parse::<Digest>() {
        assert_eq!(d.to_string().parse::<Digest>().expect("printed digest"), d);
    }
    let _ = s.parse::<PlatformSelector>();
});
