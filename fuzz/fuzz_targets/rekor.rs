//! Rekor evidence, selected by the first byte: 0 a checkpoint (signed note) checked
//! against the root's logs; 1 an entry body (`canonicalizedBody`: hashedrekord, dsse,
//! intoto) bound to the fixture bundle; 2 cosign's legacy Rekor bundle annotation of a
//! keyless `.sig` layer, verified under the fixture root; 3 an inclusion proof. Each
//! answers an error, never panics.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use pause_verify::attest::keyless;
use pause_verify::attest::legacy_keyless::{self, BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION};
use pause_verify::attest::simplesigning::{SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE};
use pause_verify::attest::storage::AttachedLayer;
use pause_verify::image::Digest;

fuzz_target!(|data: &[u8]| {
    let Some((sel, rest)) = common::selector(data) else {
        return;
    };
    let root = common::trusted_root();
    match sel % 4 {
        0 => {
            if let Ok(s) = std::str::from_utf8(rest) {
                let _ = keyless::verify_checkpoint(s, &root.tlogs);
            }
        }
        1 => {
            let (bundle, leaf) = common::fixture_bundle();
            let _ = keyless::check_body_binds(rest, bundle, leaf);
        }
        2 => {
            let Ok(annotation) = std::str::from_utf8(rest) else {
                return;
            };
            let (_, leaf) = common::fixture_bundle();
            let mut layer = AttachedLayer {
                media_type: SIMPLE_SIGNING_MEDIA_TYPE.to_string(),
                payload: b"{}".to_vec(),
                annotations: Default::default(),
            };
            layer
                .annotations
                .insert(CERTIFICATE_ANNOTATION.into(), common::cert_pem(leaf));
            layer
                .annotations
                .insert(BUNDLE_ANNOTATION.into(), annotation.to_string());
            layer
                .annotations
                .insert(SIGNATURE_ANNOTATION.into(), "MEUCIQ==".into());
            let _ = legacy_keyless::to_bundle_v01(&layer);
            let image = Digest::of(b"image");
            let _ = legacy_keyless::verify_sig_layer(
                &[],
                Some(common::keyless()),
                &layer,
                &image,
                None,
            );
        }
        _ => {
            let word = |b: &[u8]| {
                let mut w = [0u8; 8];
                for (d, s) in w.iter_mut().zip(b) {
                    *d = *s;
                }
                u64::from_le_bytes(w)
            };
            let index = word(rest.get(..8).unwrap_or_default());
            let size = word(rest.get(8..16).unwrap_or_default());
            let hashes: Vec<[u8; 32]> = rest
                .get(16..)
                .unwrap_or_default()
                .chunks_exact(32)
                .map(|c| c.try_into().unwrap_or([0; 32]))
                .collect();
            if let Some((leaf, more)) = hashes.split_first()
                && let Some((root_hash, proof)) = more.split_first()
            {
                let _ = keyless::verify_inclusion(leaf, index, size, proof, root_hash);
            }
            let _ = keyless::leaf_hash(rest);
        }
    }
});
