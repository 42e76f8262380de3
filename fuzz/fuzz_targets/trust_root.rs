//! Any bytes as a Sigstore trusted root: a `TrustedRoot` or a `TrustRootError`, never a
//! panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pause_verify::attest::trust_root::TrustedRoot;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = TrustedRoot::from_json(data) {
        for l in r.tlogs.iter().chain(&r.ctlogs) {
            let _ = l.valid_for.contains(0);
        }
    }
});
