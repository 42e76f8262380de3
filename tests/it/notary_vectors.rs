//! notation-go's verifier test vectors (tests/fixtures/notation, PROVENANCE.md): each
//! verdict is the one notation-go's own tests expect, by our reason code.

use crate::common;

use pause_verify::notary::envelope::{self, Format};
use pause_verify::notary::payload::Expected;
use pause_verify::notary::trust_policy::PolicyDocument;
use pause_verify::notary::trust_store::{StoreType, TrustStore};
use pause_verify::notary::verify::{
    self, Context, NoTimestamps, Rfc3161, TimestampVerifier, Trust,
};
use pause_verify::notary::{Failure, MEDIA_TYPE_COSE, MEDIA_TYPE_JWS};
use std::path::PathBuf;

/// 2026-06-01T00:00:00Z: after the "Expired" signing certificates' ten minutes in 2024,
/// before the others' end in 2033.
const NOW: i64 = 1_780_272_000;

fn dir() -> Option<PathBuf> {
    Some(common::fixtures()?.join("notation/notation-go/verifier/testdata"))
}

fn trust(stores: &[&str], verify_timestamp: &str) -> Trust {
    let doc = format!(
        r#"{{"version":"1.0","trustPolicies":[{{"name":"test","registryScopes":["*"],
        "signatureVerification":{{"level":"strict","verifyTimestamp":"{verify_timestamp}"}},
        "trustStores":{},"trustedIdentities":["*"]}}]}}"#,
        serde_json::to_string(stores).unwrap()
    );
    let doc = PolicyDocument::parse(doc.as_bytes()).unwrap();
    let store = TrustStore::new(&dir().unwrap().join("truststore"));
    Trust::load(&doc.statements[0], &store).unwrap()
}

/// As [`trust`], with the signing certificate of `name` itself as the `ca:signer` store
/// (notation-go's timestamp tests call the timestamp step alone, trusting that chain).
fn trust_signer_of(
    name: &str,
    tsa: Option<&str>,
    verify_timestamp: &str,
) -> (tempfile::TempDir, Trust) {
    let (mt, bytes) = envelope(name);
    let e = envelope::parse(Format::from_media_type(mt).unwrap(), &bytes).unwrap();
    let d = tempfile::tempdir().unwrap();
    let ca = d.path().join("x509/ca/signer");
    std::fs::create_dir_all(&ca).unwrap();
    std::fs::write(ca.join("signer.der"), e.chain.last().unwrap()).unwrap();
    let mut stores = vec!["ca:signer".to_string()];
    if let Some(t) = tsa {
        let src = dir().unwrap().join("truststore/x509/tsa").join(t);
        let dst = d.path().join("x509/tsa").join(t);
        std::fs::create_dir_all(&dst).unwrap();
        for f in std::fs::read_dir(&src).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), dst.join(f.file_name())).unwrap();
        }
        stores.push(format!("tsa:{t}"));
    }
    let doc = format!(
        r#"{{"version":"1.0","trustPolicies":[{{"name":"test","registryScopes":["*"],
        "signatureVerification":{{"level":"strict","verifyTimestamp":"{verify_timestamp}"}},
        "trustStores":{},"trustedIdentities":["*"]}}]}}"#,
        serde_json::to_string(&stores).unwrap()
    );
    let doc = PolicyDocument::parse(doc.as_bytes()).unwrap();
    let t = Trust::load(&doc.statements[0], &TrustStore::new(d.path())).unwrap();
    (d, t)
}

fn envelope(name: &str) -> (&'static str, Vec<u8>) {
    let bytes = std::fs::read(dir().unwrap().join("timestamp/sigEnv").join(name)).unwrap();
    let mt = if bytes.first() == Some(&b'{') {
        MEDIA_TYPE_JWS
    } else {
        MEDIA_TYPE_COSE
    };
    (mt, bytes)
}

/// The descriptor each envelope signs (read back from its payload, so the test checks the
/// verification, not our guess of the image).
fn target(mt: &str, bytes: &[u8]) -> (String, String, u64) {
    let f = Format::from_media_type(mt).unwrap();
    let e = envelope::parse(f, bytes).unwrap();
    let t = pause_verify::notary::payload::parse(&e.payload).unwrap();
    (t.digest, t.media_type, t.size)
}

fn run(name: &str, t: &Trust, ts: &dyn TimestampVerifier) -> Result<verify::Verdict, Failure> {
    let (mt, bytes) = envelope(name);
    run_bytes(mt, &bytes, t, ts)
}

fn run_bytes(
    mt: &str,
    bytes: &[u8],
    t: &Trust,
    ts: &dyn TimestampVerifier,
) -> Result<verify::Verdict, Failure> {
    let (digest, media_type, size) = target(mt, bytes);
    let cx = Context {
        trust: t,
        expected: Expected {
            digest: &digest,
            media_type: &media_type,
            size,
        },
        manifest_annotations: None,
        now: NOW,
        timestamps: ts,
    };
    verify::verify(mt, bytes, &cx)
}

fn code(r: &Result<verify::Verdict, Failure>) -> &'static str {
    match r {
        Ok(_) => "verified",
        Err(f) => f.code(),
    }
}

#[test]
fn without_timestamp_and_no_tsa_store_passes() {
    if dir().is_none() {
        return;
    }
    // notation-go: no tsa store → "Timestamp verification disabled", chain valid now → ok.
    let t = trust(&["ca:valid-trust-store"], "always");
    let v = run("withoutTimestamp.sig", &t, &NoTimestamps).unwrap();
    assert_eq!(v.envelope, "jws");
    assert_eq!(v.algorithm, "PS256");
    assert_eq!(v.signer, "CN=alpine,O=Notary,L=Seattle,ST=WA,C=US");
    assert_eq!(v.trust_store, "ca:valid-trust-store");
    assert_eq!(v.timestamp, None);
    for name in ["jwsWithTimestamp.sig", "coseWithTimestamp.sig"] {
        let v = run(name, &t, &NoTimestamps).unwrap();
        assert_eq!(
            v.signer, "CN=alpine,O=Notary,L=Seattle,ST=WA,C=US",
            "{name}"
        );
    }
}

#[test]
fn missing_countersignature_with_tsa_store_fails() {
    if dir().is_none() {
        return;
    }
    // notation-go: "no timestamp countersignature was found in the signature envelope".
    let t = trust(&["ca:valid-trust-store", "tsa:test-timestamp"], "always");
    let r = run("withoutTimestamp.sig", &t, &NoTimestamps);
    assert_eq!(code(&r), "timestamp_missing");
}

#[test]
fn expired_certificate_without_tsa_store_fails() {
    if dir().is_none() {
        return;
    }
    // notation-go: "verification time is after certificate \"CN=testTSA,...\" validity
    // period, it was expired at \"Tue, 18 Jun 2024 07:30:31 +0000\"".
    for name in [
        "coseExpiredWithTimestamp.sig",
        "jwsExpiredWithTimestamp.sig",
    ] {
        let (_d, t) = trust_signer_of(name, None, "always");
        let r = run(name, &t, &NoTimestamps);
        match r {
            Err(Failure::CertificateExpired {
                subject, not_after, ..
            }) => {
                assert_eq!(subject, "CN=testTSA,O=Notary,L=Seattle,ST=WA,C=US");
                assert_eq!(not_after, "2024-06-18T07:30:31Z");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn after_cert_expiry_skips_the_timestamp_while_the_chain_is_valid() {
    if dir().is_none() {
        return;
    }
    // notation-go: verifyTimestamp afterCertExpiry and an unexpired chain → no timestamp
    // check, so even a missing countersignature passes.
    let t = trust(
        &["ca:valid-trust-store", "tsa:test-timestamp"],
        "afterCertExpiry",
    );
    assert_eq!(
        code(&run("withoutTimestamp.sig", &t, &NoTimestamps)),
        "verified"
    );
    // ... but an expired chain needs the timestamp, which must then be checked.
    let (_d, t) = trust_signer_of(
        "coseExpiredWithTimestamp.sig",
        Some("test-timestamp"),
        "afterCertExpiry",
    );
    let r = run("coseExpiredWithTimestamp.sig", &t, &NoTimestamps);
    assert_eq!(code(&r), "timestamp_unsupported");
}

#[test]
fn a_timestamp_that_must_be_checked_is_never_passed_unchecked() {
    if dir().is_none() {
        return;
    }
    // Without an RFC 3161 verifier the countersignature fails, never passes.
    let (_d, t) = trust_signer_of("coseWithTimestamp.sig", Some("test-timestamp"), "always");
    assert_eq!(
        code(&run("coseWithTimestamp.sig", &t, &NoTimestamps)),
        "timestamp_unsupported"
    );
}

#[test]
fn authentic_timestamps_as_notation_go_expects() {
    if dir().is_none() {
        return;
    }
    // notation-go TestAuthenticTimestamp: valid JWS/COSE with timestamp; expired signing
    // certificate with a timestamp inside its validity: all pass with tsa:test-timestamp.
    for name in [
        "coseWithTimestamp.sig",
        "jwsWithTimestamp.sig",
        "coseExpiredWithTimestamp.sig",
        "jwsExpiredWithTimestamp.sig",
    ] {
        let (_d, t) = trust_signer_of(name, Some("test-timestamp"), "always");
        let v = run(name, &t, &Rfc3161).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(v.timestamp.is_some(), "{name}");
        assert!(
            v.timestamp_authority
                .as_deref()
                .unwrap()
                .contains("GlobalSign"),
            "{name}: {:?}",
            v.timestamp_authority
        );
    }
    // afterCertExpiry with the expired chain: the timestamp is checked and passes.
    let (_d, t) = trust_signer_of(
        "coseExpiredWithTimestamp.sig",
        Some("test-timestamp"),
        "afterCertExpiry",
    );
    assert_eq!(
        code(&run("coseExpiredWithTimestamp.sig", &t, &Rfc3161)),
        "verified"
    );
    // "tsa not trust": a tsa store with another root.
    let (_d, t) = trust_signer_of("coseWithTimestamp.sig", Some("test-mismatch"), "always");
    assert_eq!(
        code(&run("coseWithTimestamp.sig", &t, &Rfc3161)),
        "untrusted_timestamp"
    );
    // "timestamp before signing cert not before" / "after not after".
    for name in ["timestampBeforeNotBefore.sig", "timestampAfterNotAfter.sig"] {
        let (_d, t) = trust_signer_of(name, Some("test-timestamp"), "always");
        assert_eq!(
            code(&run(name, &t, &Rfc3161)),
            "timestamp_outside_validity",
            "{name}"
        );
    }
}

#[test]
fn a_signer_outside_the_trust_store_fails() {
    if dir().is_none() {
        return;
    }
    // "valid-trust-store-2" would be notation's; here: a store that lacks the
    // self-signed "alpine" certificate.
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("x509/ca/other");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::copy(
        dir()
            .unwrap()
            .join("truststore/x509/ca/valid-trust-store/NotationTestRoot.pem"),
        store.join("root.pem"),
    )
    .unwrap();
    let doc = PolicyDocument::parse(
        br#"{"version":"1.0","trustPolicies":[{"name":"t","registryScopes":["*"],
        "signatureVerification":{"level":"strict"},"trustStores":["ca:other"],
        "trustedIdentities":["*"]}]}"#,
    )
    .unwrap();
    let t = Trust::load(&doc.statements[0], &TrustStore::new(d.path())).unwrap();
    assert_eq!(
        code(&run("withoutTimestamp.sig", &t, &NoTimestamps)),
        "untrusted_signer"
    );
}

#[test]
fn tampered_payload_and_other_digest_fail() {
    if dir().is_none() {
        return;
    }
    let t = trust(&["ca:valid-trust-store"], "always");
    let (mt, bytes) = envelope("withoutTimestamp.sig");
    // The payload re-encoded naming another digest: the signature no longer covers it.
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let p = b64.decode(v["payload"].as_str().unwrap()).unwrap();
    let p2 = String::from_utf8(p)
        .unwrap()
        .replace("c0669ef3", "d0669ef3");
    v["payload"] = b64.encode(p2).into();
    let tampered = serde_json::to_vec(&v).unwrap();
    let (digest, media_type, size) = target(mt, &bytes);
    let check = |b: &[u8], d: &str| {
        verify::verify(
            mt,
            b,
            &Context {
                trust: &t,
                expected: Expected {
                    digest: d,
                    media_type: &media_type,
                    size,
                },
                manifest_annotations: None,
                now: NOW,
                timestamps: &NoTimestamps,
            },
        )
    };
    assert_eq!(code(&check(&tampered, &digest)), "bad_signature");
    // The untouched envelope, checked against another image.
    let other = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    assert_eq!(code(&check(&bytes, other)), "payload_digest_mismatch");
    assert_eq!(code(&check(&bytes, &digest)), "verified");
}

#[test]
fn trust_store_rules_as_notation() {
    let Some(d) = dir() else { return };
    let store = TrustStore::new(&d.join("truststore"));
    // A leaf that is neither a CA nor self-signed; a file that is no certificate; a tsa
    // store holding a non-root.
    assert!(
        store
            .load(StoreType::Ca, "trust-store-with-leaf-certs")
            .is_err()
    );
    assert!(
        store
            .load(StoreType::Ca, "trust-store-with-invalid-certs")
            .is_err()
    );
    assert!(store.load(StoreType::Tsa, "test-nonCA").is_err());
    assert!(store.load(StoreType::Tsa, "test-nonSelfIssued").is_err());
    let e = store.load(StoreType::Tsa, "does-not-exist").unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    // The valid ones: six certificates in five files (PEM and DER).
    assert_eq!(
        store
            .load(StoreType::Ca, "valid-trust-store")
            .unwrap()
            .len(),
        6
    );
    assert_eq!(
        store.load(StoreType::Tsa, "test-timestamp").unwrap().len(),
        1
    );
    assert_eq!(
        store.load(StoreType::Tsa, "test-mismatch").unwrap().len(),
        1
    );
}

#[test]
fn countersignature_substitutions_are_checked_not_ignored() {
    let Some(d) = dir() else { return };
    // notation-go swaps the unsigned timestamp of withoutTimestamp.sig for these tokens;
    // in JWS that header is unsigned, so the envelope still verifies and the token alone
    // decides.
    let t = trust(&["ca:valid-trust-store", "tsa:test-timestamp"], "always");
    let (mt, bytes) = envelope("withoutTimestamp.sig");
    for tok in [
        "TimeStampToken.p7s",
        "TimeStampTokenWithInvalidTSTInfo.p7s",
        "TimeStampTokenWithInvalideContentType.p7s",
        "TimeStampTokenWithoutCertificate.p7s",
    ] {
        let token = std::fs::read(d.join("timestamp/countersignature").join(tok)).unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        use base64::Engine as _;
        v["header"]["io.cncf.notary.timestampSignature"] =
            base64::engine::general_purpose::STANDARD
                .encode(&token)
                .into();
        let b = serde_json::to_vec(&v).unwrap();
        // notation-go: invalid content type, invalid TSTInfo, mismatched message,
        // signing certificate not found: each an error.
        let r = run_bytes(mt, &b, &t, &Rfc3161);
        assert_eq!(code(&r), "bad_timestamp", "{tok}: {r:?}");
    }
}

#[test]
fn conformance_envelopes_with_an_unknown_critical_header_are_refused() {
    let Some(f) = common::fixtures() else { return };
    let core = f.join("notation/notation-core-go/signature");
    // COSE: notation-core-go's expected COSE_Sign1 (PS384, signing time, expiry and the
    // extended critical header "signedCritKey1").
    let c: serde_json::Value = serde_json::from_slice(
        &std::fs::read(core.join("cose/testdata/conformance.json")).unwrap(),
    )
    .unwrap();
    let cose = hex::decode(c["expectedOutput"]["cborHex"].as_str().unwrap()).unwrap();
    match envelope::parse(Format::Cose, &cose) {
        Err(Failure::UnknownCriticalHeader(h)) => assert_eq!(h, "signedCritKey1"),
        other => panic!("{other:?}"),
    }
    // Truncated at every length: an error, never a panic.
    for n in 0..cose.len() {
        assert!(envelope::parse(Format::Cose, &cose[..n]).is_err(), "{n}");
    }
    // JWS: the conformance envelope (ES256) with the same critical header.
    let jws = std::fs::read(core.join("jws/testdata/conformance.json")).unwrap();
    match envelope::parse(Format::Jws, &jws) {
        Err(Failure::UnknownCriticalHeader(h)) => assert_eq!(h, "signedCritKey1"),
        other => panic!("{other:?}"),
    }
    for n in 0..jws.len() {
        assert!(envelope::parse(Format::Jws, &jws[..n]).is_err(), "{n}");
    }
}
