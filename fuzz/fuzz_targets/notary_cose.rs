//! The Notary COSE_Sign1 envelope parser and what verification does with a parsed one
//! (chain parsing, key extraction): any bytes → Ok or a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pause_verify::notary::{envelope, x509};

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = envelope::parse(envelope::Format::Cose, data)
        && let Ok(chain) = x509::parse_chain(&e.chain)
    {
        let _ = x509::check_code_signing_chain(&chain);
        let _ = pause_verify::notary::payload::parse(&e.payload);
    }
});
