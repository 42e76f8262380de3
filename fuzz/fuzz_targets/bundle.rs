//! Any bytes as a Sigstore bundle (keyed or keyless, DSSE or message signature): the
//! verifier answers with a `Failure`, never panics, under the fixture trusted root.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use pause_verify::attest::bundle;
use pause_verify::image::Digest;

fuzz_target!(|data: &[u8]| {
    let keys = [common::public_key().clone()];
    let _ = bundle::peek_predicate_type(data);
    // The statement subject of the cosign fixture bundle; the conformance artifact.
    for expected in [
        "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4",
        "sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf",
    ] {
        let expected: Digest = expected.parse().expect("digest");
        let _ = bundle::verify_bundle(&keys, data, &expected, None);
        let _ = bundle::verify_bundle_with(&keys, Some(common::keyless()), data, &expected, None);
    }
});
