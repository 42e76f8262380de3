//! Any bytes as a Fulcio signing certificate (X.509 DER): decoding, the leaf profile,
//! SANs, the OIDC issuer extension, the embedded SCT list and the rebuilt precertificate
//! TBS fail with a `Failure`, never panic. The issuer is the fixture root's Fulcio CA.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use pause_verify::attest::keyless;
use pause_verify::attest::trust_root::EcKey;

fuzz_target!(|data: &[u8]| {
    let root = common::trusted_root();
    for ca in &root.certificate_authorities {
        if let Some(issuer) = ca.chain.first() {
            let _ = keyless::inspect_leaf(root, data, issuer);
        }
    }
    let _ = EcKey::from_spki_der(data);
});
