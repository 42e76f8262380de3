//! Any bytes as a Fulcio signing certificate (X.509 DER): decoding, the leaf profile,
//! SANs, the OIDC issuer extension, the embedded SCT list and the rebuilt precertificate
//! TBS fail with a `Failure`, never panic. The issuer is each Fulcio CA of the fixture
//! root in turn.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use pause_verify::attest::trust_root::EcKey;
use pause_verify::attest::{certificate, identity};
use x509_cert::Certificate;
use x509_cert::der::Decode;

fuzz_target!(|data: &[u8]| {
    let _ = EcKey::from_spki_der(data);
    let Ok(leaf) = Certificate::from_der(data) else {
        return;
    };
    let _ = certificate::check_leaf_profile(&leaf);
    let _ = identity::subject_alt_names(&leaf);
    let _ = identity::oidc_issuer(&leaf);
    let root = common::trusted_root();
    for ca in &root.certificate_authorities {
        if let Some(issuer) = ca.chain.first() {
            let _ = certificate::verify_scts(root, &leaf, data, issuer);
        }
    }
});
