//! RFC 3161 timestamp tokens (`attest::timestamp`, the verifier Sigstore bundles and
//! Notary countersignatures share): the first byte is the length L of the stamped
//! message, the next L bytes the message, the rest the token (a TimeStampResp or a bare
//! TimeStampToken). A token that parses is verified against a Sigstore TSA (a
//! conformance trusted root: pinned signer and its chain, as `attest::tsa`), against a
//! Notary `tsa:` root (notation-go's GlobalSign vector) and, inside a bundle, through
//! `attest::tsa`'s policy. Each answers Ok or a typed error, never panics.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use pause_verify::attest::timestamp::{self, TsaTrust};
use pause_verify::attest::trust_root::TrustedRoot;
use pause_verify::attest::tsa;
use std::sync::OnceLock;
use x509_cert::Certificate;
use x509_cert::der::Decode;

const TSA_ROOT: &[u8] = include_bytes!(
    "../../tests/fixtures/cosign/sigstore-conformance/rekor2-timestamp-with-embedded-cert/trusted_root.json"
);
const NOTARY_TSA_ROOT: &[u8] = include_bytes!(
    "../../tests/fixtures/notation/notation-go/verifier/testdata/truststore/x509/tsa/test-timestamp/globalsignRoot.cer"
);

fn root() -> &'static TrustedRoot {
    static R: OnceLock<TrustedRoot> = OnceLock::new();
    R.get_or_init(|| TrustedRoot::from_json(TSA_ROOT).expect("fixture trusted root"))
}

fn notary_root() -> &'static Certificate {
    static C: OnceLock<Certificate> = OnceLock::new();
    C.get_or_init(|| Certificate::from_der(NOTARY_TSA_ROOT).expect("fixture TSA root"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&len, rest)) = data.split_first() else {
        return;
    };
    let (message, der) = rest.split_at(usize::from(len).min(rest.len()));
    let Ok(token) = timestamp::parse(der) else {
        return;
    };
    let _ = token.claimed_gen_time();
    for a in &root().timestamp_authorities {
        if let Some((anchor, _)) = a.chain.split_last() {
            let trust = TsaTrust {
                anchors: std::slice::from_ref(anchor),
                intermediates: &a.chain,
                signer: a.chain.first(),
            };
            let _ = token.verify(message, &trust);
        }
    }
    let notary = TsaTrust {
        anchors: std::slice::from_ref(notary_root()),
        intermediates: &[],
        signer: None,
    };
    let _ = token.verify(message, &notary);
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let bundle = serde_json::json!({
        "messageSignature": {"signature": b64(message)},
        "verificationMaterial": {"timestampVerificationData": {
            "rfc3161Timestamps": [{"signedTimestamp": b64(der)}]}},
    });
    let _ = tsa::verify_timestamps(root(), &bundle);
});
