//! The in-toto layout and links (`layout`): the module reads no file, so what is fuzzed
//! is what it is given and what it writes, selected by the first byte:
//! 0 any JSON document through the securesystemslib canonical encoder (the bytes every
//! layout and link signature is over): it fails only on floats, is idempotent, and its
//! bytes are the same document (read back with the control characters it leaves raw
//! escaped); 1 a chain spec (threshold and functionaries from the next byte, then
//! `expires` NUL `readme` NUL blob bytes) made into a layout, which must encode, read
//! back and sign, the signature verifying over its canonical bytes; 2 a link (`step` NUL
//! `command` NUL materials NUL products, names one a line), which must encode and read
//! back. Never a panic.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use pause_verify::image::Digest;
use pause_verify::layout::{self, ChainSpec, LayoutError};
use serde_json::Value;

/// Canonical bytes of `v` are `v` again: with the control characters it leaves raw
/// (securesystemslib escapes only `"` and `\`; outside strings it writes none) escaped
/// as `\u00XX`, they parse back to `v`, and encoding that gives the same bytes.
fn round_trip(v: &Value, bytes: &[u8]) {
    let mut json = Vec::with_capacity(bytes.len());
    for &b in bytes {
        if b < 0x20 {
            json.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            json.push(b);
        }
    }
    let back: Value = serde_json::from_slice(&json).expect("canonical JSON parses");
    assert_eq!(&back, v, "canonical JSON changed the document");
    assert_eq!(
        layout::canonical_json(&back).expect("encodes again"),
        bytes,
        "canonical JSON is not idempotent"
    );
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fuzz_target!(|data: &[u8]| {
    let Some((sel, rest)) = common::selector(data) else {
        return;
    };
    match sel % 3 {
        0 => {
            let Ok(v) = serde_json::from_slice::<Value>(rest) else {
                return;
            };
            match layout::canonical_json(&v) {
                Ok(bytes) => round_trip(&v, &bytes),
                Err(LayoutError::Float(_)) => {}
                Err(e) => panic!("canonical JSON failed on a float-free document: {e}"),
            }
        }
        1 => {
            let Some((shape, rest)) = common::selector(rest) else {
                return;
            };
            let signer = common::signing_key().public_key();
            let other = common::public_key().clone();
            // Bits 2-4 pick the functionaries (the signer twice is refused).
            let mut functionaries = Vec::new();
            for (bit, k) in [(4, &signer), (8, &other), (16, &signer)] {
                if shape & bit != 0 {
                    functionaries.push(k.clone());
                }
            }
            let (expires, rest) = common::split_nul(rest);
            let (readme, blobs) = common::split_nul(rest);
            let base_blobs: Vec<Digest> = blobs.chunks(8).map(Digest::of).collect();
            let spec = ChainSpec {
                base_layers: base_blobs.iter().step_by(2).cloned().collect(),
                base_blobs,
                functionaries,
                threshold: u32::from(shape & 3),
                expires: text(expires),
                readme: text(readme),
            };
            let Ok(signed) = layout::layout(&spec) else {
                return;
            };
            let bytes = layout::canonical_json(&signed).expect("a layout encodes");
            round_trip(&signed, &bytes);
            let block = layout::sign(signed, &[common::signing_key()]).expect("a layout signs");
            let sig = block["signatures"][0]["sig"].as_str().expect("a signature");
            let der: Vec<u8> = (0..sig.len() / 2)
                .map(|i| u8::from_str_radix(&sig[2 * i..2 * i + 2], 16).expect("hex"))
                .collect();
            signer
                .verify(&bytes, &der)
                .expect("the layout signature verifies over its canonical bytes");
        }
        _ => {
            let mut parts = rest.split(|&b| b == 0);
            let mut next = || text(parts.next().unwrap_or_default());
            let step = next();
            let command: Vec<String> = next().split(' ').map(str::to_string).collect();
            let named = |s: String| -> Vec<(String, Digest)> {
                s.lines()
                    .map(|n| (n.to_string(), Digest::of(n.as_bytes())))
                    .collect()
            };
            let materials = named(next());
            let products = named(next());
            if let Ok(signed) = layout::link(&step, &command, &materials, &products) {
                let bytes = layout::canonical_json(&signed).expect("a link encodes");
                round_trip(&signed, &bytes);
            }
        }
    }
});
