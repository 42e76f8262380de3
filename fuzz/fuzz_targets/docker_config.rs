//! Any bytes as a docker `config.json` (`auths`, `credsStore`, `credHelpers`): what it
//! says for a host or an error, never a panic (no credential helper runs here).
#![no_main]
use libfuzzer_sys::fuzz_target;
use pause_verify::image::registry::auth;

fuzz_target!(|data: &[u8]| {
    for host in ["docker.io", "localhost:5000", "ghcr.io"] {
        let _ = auth::parse_docker_config(data, host);
    }
});
