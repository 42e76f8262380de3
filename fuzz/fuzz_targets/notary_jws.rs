//! The Notary JWS (JSON serialization) envelope parser and the payload parser: any bytes →
//! Ok or a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pause_verify::notary::{envelope, payload, x509};

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = envelope::parse(envelope::Format::Jws, data) {
        let _ = payload::parse(&e.payload);
        if let Ok(chain) = x509::parse_chain(&e.chain) {
            let _ = x509::check_code_signing_chain(&chain);
        }
    }
    let _ = pause_verify::notary::trust_policy::PolicyDocument::parse(data);
});
