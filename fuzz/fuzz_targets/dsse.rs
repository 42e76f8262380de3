//! Any bytes as a DSSE envelope (an `.att` layer, a line of an `.intoto.jsonl` file):
//! parse and verify fail with a `Failure`, never panic. The same bytes, signed here
//! as a payload, reach the in-toto statement checks behind the signature.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use pause_verify::attest::dsse::{self, Envelope, IN_TOTO_PAYLOAD_TYPE};
use pause_verify::image::Digest;

// The key's scrypt runs here, before the first input: on a loaded machine it can take
// longer than the per-input timeout (CI saw a 12 s "timeout" on the empty input).
fuzz_target!(init: { common::signing_key(); }, |data: &[u8]| {
    let image = Digest::of(b"image");
    let keys = [common::public_key().clone()];
    if let Ok(env) = Envelope::from_json(data) {
        let _ = env.verify_signatures(&keys);
        let _ = dsse::verify_attestation_envelope(&keys, &env, &image, None);
        // What parses writes back and parses to the same envelope.
        let again = Envelope::from_json(&env.to_json()).expect("our own envelope parses");
        assert_eq!(again.payload, env.payload);
        assert_eq!(again.payload_type, env.payload_type);
    }
    let signer = common::signing_key();
    let env = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, data, signer);
    let own = [signer.public_key()];
    let _ = dsse::verify_attestation_envelope(
        &own,
        &env,
        &image,
        Some("https://slsa.dev/provenance/v1"),
    );
    let _ = dsse::verify_attestation(&own, &env.to_json(), &image, None);
});
