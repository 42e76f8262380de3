//! Simple-signing payloads: any bytes as containers/image's on-disk cosign signature, and
//! as a `.sig` payload signed here (so the payload JSON behind the signature check is
//! reached): `verify` answers a `Failure`, never panics.
#![no_main]
#[path = "common.rs"]
mod common;

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use pause_verify::attest::simplesigning::{self, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE};
use pause_verify::attest::storage::AttachedLayer;
use pause_verify::image::Digest;

// The key's scrypt runs here, before the first input: on a loaded machine it can take
// longer than the per-input timeout (CI saw a 12 s "timeout" on the empty input).
fuzz_target!(init: { common::signing_key(); }, |data: &[u8]| {
    // The manifest digest the containers/image fixture signatures sign.
    let fixture: Digest = "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"
        .parse()
        .expect("digest");
    if let Ok(layer) = simplesigning::parse_containers_image_signature(data) {
        let _ = simplesigning::verify(&[common::public_key().clone()], &layer, &fixture, None);
    }
    let signer = common::signing_key();
    let sig = base64::engine::general_purpose::STANDARD.encode(signer.sign(data));
    let mut layer = AttachedLayer {
        media_type: SIMPLE_SIGNING_MEDIA_TYPE.to_string(),
        payload: data.to_vec(),
        annotations: Default::default(),
    };
    layer.annotations.insert(SIGNATURE_ANNOTATION.into(), sig);
    let _ = simplesigning::verify(
        &[signer.public_key()],
        &layer,
        &fixture,
        Some("192.168.64.2:5000/cosign-signed-single-sample"),
    );
});
