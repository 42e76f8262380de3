//! Hostile Notary signatures: truncated and malformed COSE/JWS, bad CBOR (deep nesting,
//! lying lengths), 10^5 certificates, over-long chains. Each is an error with a reason,
//! never a panic, a hang or an allocation of what the input claims; through the CLI a
//! bad signature is a verdict (exit 1), a bad trust store is bad input (exit 2).

use crate::common;

use common::{Pv, assert_code, stdout};
use pause_verify::notary::Failure;
use pause_verify::notary::envelope::{self, Format};
use pause_verify::notary::trust_store::parse_certificates;
use sha2::{Digest as _, Sha256};
use std::path::Path;

fn cose_err(b: &[u8]) -> Failure {
    envelope::parse(Format::Cose, b).expect_err("must fail")
}

#[test]
fn bad_cbor_is_malformed() {
    for b in [
        &b""[..],
        b"\xd2",
        b"\xd2\x84",
        b"\xd2\x84\x40\xa0\x40",
        b"\xd3\x84\x40\xa0\x40\x40", // tag 19, not COSE_Sign1
        b"\x84\x40\xa0\x40\x40",     // untagged
        b"\xd2\x9b\xff\xff\xff\xff\xff\xff\xff\xff", // an array "of 2^64-1 items"
        b"\xd2\x84\x5b\xff\xff\xff\xff\xff\xff\xff\xff", // a byte string "of 2^64-1 bytes"
        b"\xd2\x84\x40\xa0\x40\x40\x40", // trailing data
        b"\xff\xff\xff",
    ] {
        assert_eq!(cose_err(b).code(), "malformed_envelope", "{b:x?}");
    }
    // 100 000 nested arrays: bounded recursion, not a stack overflow.
    let mut deep = vec![0xd2];
    deep.extend(std::iter::repeat_n(0x81u8, 100_000));
    deep.push(0x00);
    assert_eq!(cose_err(&deep).code(), "malformed_envelope");
}

/// A COSE_Sign1 with a valid protected header and `n` one-byte "certificates".
fn cose_with_chain(n: usize) -> Vec<u8> {
    let prot: &[u8] = b"\xa4\x01\x38\x25\x02\x81\x78\x1cio.cncf.notary.signingScheme\x03\x78\x2bapplication/vnd.cncf.notary.payload.v1+json\x78\x1cio.cncf.notary.signingScheme\x6bnotary.x509";
    let mut p = Vec::new();
    // protected header with signing time added: rebuild the map with 5 entries.
    p.push(0xa5);
    p.extend_from_slice(&prot[1..]);
    p.extend_from_slice(b"\x78\x1aio.cncf.notary.signingTime\xc1\x1a\x63\x05\xc2\xc4");
    let mut out = vec![0xd2, 0x84];
    out.push(0x59);
    out.extend_from_slice(&(p.len() as u16).to_be_bytes());
    out.extend_from_slice(&p);
    out.extend_from_slice(b"\xa1\x18\x21"); // {33: [...]}
    out.push(0x9a);
    out.extend_from_slice(&(n as u32).to_be_bytes());
    for _ in 0..n {
        out.extend_from_slice(b"\x41\x00");
    }
    out.extend_from_slice(b"\x42{}\x41\x01");
    out
}

#[test]
fn enormous_chains_are_refused_before_parsing() {
    for n in [17, 100_000] {
        let e = cose_err(&cose_with_chain(n));
        assert_eq!(e.code(), "invalid_certificate_chain", "{n}: {e}");
        assert!(e.to_string().contains("over the limit of 16"), "{e}");
    }
    // Within the limit the header parses; the one-byte "certificates" fail as such later.
    let env = envelope::parse(Format::Cose, &cose_with_chain(3)).unwrap();
    assert_eq!(env.chain.len(), 3);
    let e = pause_verify::notary::x509::parse_chain(&env.chain).unwrap_err();
    assert_eq!(e.code(), "invalid_certificate_chain");
    // JWS: 10^5 x5c entries.
    let x5c: Vec<String> = (0..100_000).map(|_| "AA==".to_string()).collect();
    let jws = serde_json::json!({
        "payload": "e30",
        "protected": "eyJhbGciOiJQUzI1NiIsImN0eSI6ImFwcGxpY2F0aW9uL3ZuZC5jbmNmLm5vdGFyeS5wYXlsb2FkLnYxK2pzb24iLCJjcml0IjpbImlvLmNuY2Yubm90YXJ5LnNpZ25pbmdTY2hlbWUiXSwiaW8uY25jZi5ub3Rhcnkuc2lnbmluZ1NjaGVtZSI6Im5vdGFyeS54NTA5IiwiaW8uY25jZi5ub3Rhcnkuc2lnbmluZ1RpbWUiOiIyMDI2LTAxLTAxVDAwOjAwOjAwWiJ9",
        "header": {"x5c": x5c},
        "signature": "AQ",
    });
    let e = envelope::parse(Format::Jws, &serde_json::to_vec(&jws).unwrap()).unwrap_err();
    assert_eq!(e.code(), "invalid_certificate_chain", "{e}");
}

#[test]
fn malformed_jws_is_malformed() {
    for b in [
        &b""[..],
        b"{",
        b"[]",
        b"{\"payload\":1}",
        b"{\"payload\":\"e30\",\"protected\":\"!!\",\"signature\":\"AQ\"}",
        b"{\"payload\":\"e30\",\"protected\":\"e30\",\"signature\":\"AQ\"}",
    ] {
        let e = envelope::parse(Format::Jws, b).unwrap_err();
        assert_eq!(e.code(), "malformed_envelope", "{b:?}: {e}");
    }
    let big = vec![b' '; pause_verify::notary::MAX_ENVELOPE_BYTES + 1];
    assert_eq!(
        envelope::parse(Format::Jws, &big).unwrap_err().code(),
        "oversized"
    );
}

#[test]
fn trust_store_files_of_garbage_or_too_many_certificates_fail() {
    assert!(parse_certificates(b"").is_err());
    assert!(
        parse_certificates(b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n")
            .is_err()
    );
    assert!(parse_certificates(&[0x30, 0x82, 0xff, 0xff]).is_err());
    // 10^5 copies of a real certificate (DER, concatenated): refused past the limit.
    let Some(f) = common::fixtures() else { return };
    let der = std::fs::read(
        f.join("notation/notation-go/verifier/testdata/truststore/x509/ca/valid-trust-store/GlobalSign.der"),
    )
    .unwrap();
    let many: Vec<u8> = der
        .iter()
        .copied()
        .cycle()
        .take(der.len() * 100_000)
        .collect();
    let e = parse_certificates(&many).unwrap_err();
    assert!(e.contains("more than 1000"), "{e}");
}

fn put(layout: &Path, bytes: &[u8]) -> String {
    let hex = hex::encode(Sha256::digest(bytes));
    std::fs::write(layout.join("blobs/sha256").join(&hex), bytes).unwrap();
    format!("sha256:{hex}")
}

#[test]
fn a_garbage_envelope_in_a_layout_is_a_verdict_not_a_crash() {
    let Some(f) = common::fixtures() else { return };
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    Pv::new()
        .cwd(d)
        .ok(["fixture", "nanoserver", "-q", "--out", "ns"]);
    let ns = d.join("ns");
    let idx_path = ns.join("index.json");
    let mut idx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&idx_path).unwrap()).unwrap();
    let subject = idx["manifests"][0].clone();
    for (mt, env) in [
        ("application/cose", cose_with_chain(100_000)),
        ("application/cose", b"\xd2\x84\x40".to_vec()),
        ("application/jose+json", b"{\"payload\":".to_vec()),
        ("application/octet-stream", b"?".to_vec()),
    ] {
        let env_d = put(&ns, &env);
        let cfg_d = put(&ns, b"{}");
        let m = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.cncf.notary.signature",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": cfg_d, "size": 2},
            "layers": [{"mediaType": mt, "digest": env_d, "size": env.len()}],
            "subject": {"mediaType": subject["mediaType"], "digest": subject["digest"], "size": subject["size"]},
        });
        let mb = serde_json::to_vec(&m).unwrap();
        let md = put(&ns, &mb);
        idx["manifests"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": md, "size": mb.len(),
                "artifactType": "application/vnd.cncf.notary.signature",
            }));
    }
    std::fs::write(&idx_path, serde_json::to_vec(&idx).unwrap()).unwrap();
    let policy = d.join("tp.json");
    std::fs::write(
        &policy,
        r#"{"version":"1.0","trustPolicies":[{"name":"t","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:valid-trust-store"],"trustedIdentities":["*"]}]}"#,
    )
    .unwrap();
    let store = f.join("notation/notation-go/verifier/testdata/truststore");
    let o = Pv::new().cwd(d).run([
        "verify",
        "--json",
        "--trust-policy",
        policy.to_str().unwrap(),
        "--trust-store",
        store.to_str().unwrap(),
        "oci:ns",
    ]);
    assert_code(&o, 1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let mut reasons: Vec<String> = v["subjects"][0]["notation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reason"].as_str().unwrap().to_string())
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "invalid_certificate_chain",
            "malformed_envelope",
            "malformed_envelope",
            "malformed_envelope"
        ]
    );
    // A trust store holding a garbage file: bad input.
    let bad = d.join("store/x509/ca/bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("x.crt"), b"not a certificate").unwrap();
    std::fs::write(
        &policy,
        r#"{"version":"1.0","trustPolicies":[{"name":"t","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:bad"],"trustedIdentities":["*"]}]}"#,
    )
    .unwrap();
    let o = Pv::new().cwd(d).run([
        "verify",
        "--trust-policy",
        policy.to_str().unwrap(),
        "--trust-store",
        d.join("store").to_str().unwrap(),
        "oci:ns",
    ]);
    assert_code(&o, 2);
}
