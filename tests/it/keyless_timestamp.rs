//! RFC 3161 timestamp verification (`attest::timestamp`) on real tokens: the
//! sigstore-conformance Rekor v2 bundles (Sigstore's TSA, FreeTSA), each bundle's TSA
//! from its trusted root, and tokens made by `openssl ts` (RSA, ESSCertID v1 and v2).
//! Every byte of a real token altered → refused.

use crate::common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pause_verify::attest::timestamp::{self, TimestampError, TsaTrust};
use serde_json::Value;
use std::path::PathBuf;
use x509_cert::Certificate;
use x509_cert::der::Decode;

struct Case {
    token: Vec<u8>,
    signature: Vec<u8>,
    /// The first TSA of the case's trusted root: leaf first, root last.
    chain: Vec<Certificate>,
}

fn conf_dir() -> Option<PathBuf> {
    Some(common::fixtures()?.join("cosign/sigstore-conformance"))
}

fn case(name: &str) -> Option<Case> {
    let d = conf_dir()?.join(name);
    let b: Value =
        serde_json::from_slice(&std::fs::read(d.join("bundle.sigstore.json")).unwrap()).unwrap();
    let r: Value =
        serde_json::from_slice(&std::fs::read(d.join("trusted_root.json")).unwrap()).unwrap();
    let token = STANDARD
        .decode(
            b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]
                ["signedTimestamp"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let sig = b["messageSignature"]["signature"]
        .as_str()
        .or_else(|| b["dsseEnvelope"]["signatures"][0]["sig"].as_str())
        .unwrap();
    let chain = r["timestampAuthorities"][0]["certChain"]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            Certificate::from_der(&STANDARD.decode(c["rawBytes"].as_str().unwrap()).unwrap())
                .unwrap()
        })
        .collect();
    Some(Case {
        token,
        signature: STANDARD.decode(sig).unwrap(),
        chain,
    })
}

impl Case {
    /// Sigstore's use: the TSA's leaf pinned, its root the anchor.
    fn verify(&self, token: &[u8], msg: &[u8]) -> Result<timestamp::Timestamp, TimestampError> {
        let n = self.chain.len();
        timestamp::verify(
            token,
            msg,
            &TsaTrust {
                anchors: &self.chain[n - 1..],
                intermediates: &self.chain[..n - 1],
                signer: self.chain.first(),
            },
        )
    }
}

#[test]
fn sigstore_tsa_tokens_verify_at_their_gen_time() {
    let Some(c) = case("rekor2-happy-path") else {
        return;
    };
    let ts = c.verify(&c.token, &c.signature).unwrap();
    // openssl ts -reply -text: "Time stamp: Jun 12 12:02:20 2025 GMT" (the README of
    // trust-root-tsa-validity-end-inclusive quotes the same instant).
    assert_eq!(ts.gen_time, 1_749_729_740);
    assert_eq!(ts.policy, "1.3.6.1.4.1.57264.2");
    assert!(
        ts.signer_subject.contains("CN=sigstore-tsa"),
        "{}",
        ts.signer_subject
    );
    assert_eq!(ts.path.len(), 2);
    assert_eq!(ts.serial, "559742c71edae5b645233a7ac43a8d033142a5ac");
    for ok in [
        "rekor2-timestamp-with-embedded-cert",
        "rekor2-timestamp-without-embedded-cert",
        // The TSA chain expired five minutes after the token: checked at genTime.
        "rekor2-timestamp-with-expired-cert-chain",
        "rekor2-dsse-happy-path",
        "trust-root-tsa-validity-end-inclusive",
    ] {
        let c = case(ok).unwrap();
        c.verify(&c.token, &c.signature)
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn conformance_timestamp_defects_have_their_codes() {
    if conf_dir().is_none() {
        return;
    }
    for (name, code) in [
        (
            "rekor2-timestamp-payload-mismatch_fail",
            "timestamp_imprint_mismatch",
        ),
        (
            "rekor2-timestamp-outside-tsa-cert-validity_fail",
            "timestamp_outside_certificate_validity",
        ),
        (
            "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail",
            "timestamp_untrusted",
        ),
        (
            "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail",
            "timestamp_signer_unknown",
        ),
    ] {
        let c = case(name).unwrap();
        let e = c.verify(&c.token, &c.signature).unwrap_err();
        assert_eq!(e.code(), code, "{name}: {e}");
    }
    // Another message: the imprint.
    let c = case("rekor2-happy-path").unwrap();
    let e = c.verify(&c.token, b"other bytes").unwrap_err();
    assert_eq!(e.code(), "timestamp_imprint_mismatch");
    // The right TSA but an unrelated anchor: untrusted, even with the leaf known.
    let other = case("rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail").unwrap();
    let e = timestamp::verify(
        &c.token,
        &c.signature,
        &TsaTrust {
            anchors: &[],
            intermediates: &c.chain,
            signer: None,
        },
    )
    .unwrap_err();
    assert_eq!(e.code(), "timestamp_untrusted", "{e}");
    // The embedded FreeTSA token with FreeTSA's own certificate as its only anchor is
    // still no Sigstore TSA: pinning the Sigstore leaf refuses it.
    let e = timestamp::verify(
        &other.token,
        &other.signature,
        &TsaTrust {
            anchors: &c.chain[1..],
            intermediates: &[],
            signer: Some(&c.chain[0]),
        },
    )
    .unwrap_err();
    assert!(
        matches!(e.code(), "timestamp_untrusted"),
        "{}: {e}",
        e.code()
    );
}

#[test]
fn every_altered_byte_of_a_token_is_refused() {
    let Some(c) = case("rekor2-happy-path") else {
        return;
    };
    let mut codes = std::collections::BTreeMap::new();
    for i in 0..c.token.len() {
        {
            let flip = 0x01u8;
            // Byte 8 is the response's PKIStatus, 0 (granted): 1 is grantedWithMods,
            // also a grant (RFC 3161 §2.4.2), and the status is not signed.
            if (i, flip) == (8, 0x01) {
                assert_eq!(c.token[8], 0);
                continue;
            }
            let mut t = c.token.clone();
            t[i] ^= flip;
            match c.verify(&t, &c.signature) {
                Ok(_) => panic!("byte {i} ^ {flip:#x} accepted"),
                Err(e) => *codes.entry(e.code()).or_insert(0) += 1,
            }
        }
    }
    // The alterations reach the checks that name them, not one catch-all.
    for code in [
        "timestamp_malformed",
        "timestamp_imprint_mismatch",
        "timestamp_untrusted",
        "timestamp_signed_attributes",
        "timestamp_bad_signature",
    ] {
        assert!(codes.contains_key(code), "{code} never reached: {codes:?}");
    }
}

#[test]
fn truncated_and_enormous_tokens_are_malformed() {
    let Some(c) = case("rekor2-happy-path") else {
        return;
    };
    for n in [0, 1, 2, 10, c.token.len() / 2, c.token.len() - 1] {
        let e = c.verify(&c.token[..n], &c.signature).unwrap_err();
        assert_eq!(e.code(), "timestamp_malformed", "{n}: {e}");
    }
    let mut big = c.token.clone();
    big.resize(timestamp::MAX_TOKEN_BYTES + 1, 0);
    let e = c.verify(&big, &c.signature).unwrap_err();
    assert_eq!(e.code(), "timestamp_malformed");
    // A length field claiming 2^31 bytes.
    let e = c
        .verify(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x30], &c.signature)
        .unwrap_err();
    assert_eq!(e.code(), "timestamp_malformed");
}

/// A TSA made with `openssl`: an RSA root and an RSA (or P-256) timestamping leaf.
struct OpensslTsa {
    dir: tempfile::TempDir,
    openssl: PathBuf,
}

impl OpensslTsa {
    fn run(&self, args: &[&str]) {
        let out = std::process::Command::new(&self.openssl)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn new(leaf_key: &[&str], ess_alg: &str) -> Option<OpensslTsa> {
        let openssl = common::need_tool("openssl")?;
        let t = OpensslTsa {
            dir: tempfile::tempdir().unwrap(),
            openssl,
        };
        // openssl itself refuses to sign with a non-critical timestamping EKU.
        let eku = "critical,timeStamping";
        std::fs::write(
            t.dir.path().join("ext.cnf"),
            format!(
                "[ca]\nbasicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign\n\
                 [leaf]\nbasicConstraints=CA:false\nkeyUsage=critical,digitalSignature\n\
                 extendedKeyUsage={eku}\n"
            ),
        )
        .unwrap();
        std::fs::write(
            t.dir.path().join("ts.cnf"),
            format!(
                "[tsa]\ndefault_tsa=t\n[t]\nserial=./serial\nsigner_digest=sha256\n\
                 default_policy=1.2.3.4.1\ndigests=sha256,sha384,sha512\n\
                 ess_cert_id_alg={ess_alg}\ness_cert_id_chain=no\n"
            ),
        )
        .unwrap();
        std::fs::write(t.dir.path().join("serial"), "01\n").unwrap();
        {
            t.run(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                "/CN=test TSA root",
                "-days",
                "3650",
                "-extensions",
                "ca",
                "-config",
                "ext.cnf",
            ]);
            let mut args = vec![
                "req", "-new", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
            ];
            args.extend_from_slice(leaf_key);
            args.extend_from_slice(&["-subj", "/CN=test TSA"]);
            t.run(&args);
            t.run(&[
                "x509",
                "-req",
                "-in",
                "tsa.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "tsa.pem",
                "-days",
                "3650",
                "-extfile",
                "ext.cnf",
                "-extensions",
                "leaf",
            ]);
        }
        Some(t)
    }

    /// A token (TimeStampResp) over `msg`, with or without the certificate embedded.
    fn stamp(&self, msg: &[u8], hash: &str, embed: bool) -> Vec<u8> {
        std::fs::write(self.dir.path().join("msg"), msg).unwrap();
        let mut q = vec!["ts", "-query", "-data", "msg", hash, "-out", "q.tsq"];
        if embed {
            q.push("-cert");
        }
        self.run(&q);
        self.run(&[
            "ts",
            "-reply",
            "-config",
            "ts.cnf",
            "-queryfile",
            "q.tsq",
            "-inkey",
            "tsa.key",
            "-signer",
            "tsa.pem",
            "-out",
            "r.tsr",
        ]);
        std::fs::read(self.dir.path().join("r.tsr")).unwrap()
    }

    fn cert(&self, name: &str) -> Certificate {
        let pem = std::fs::read_to_string(self.dir.path().join(name)).unwrap();
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        Certificate::from_der(&STANDARD.decode(b64).unwrap()).unwrap()
    }
}

#[test]
fn openssl_tsa_tokens_rsa_and_ecdsa_ess_v1_and_v2() {
    for (key, ess, hash, embed) in [
        (&["-newkey", "rsa:2048"][..], "sha256", "-sha256", true),
        (&["-newkey", "rsa:3072"][..], "sha1", "-sha384", false),
        (
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"][..],
            "sha384",
            "-sha512",
            true,
        ),
    ] {
        let Some(tsa) = OpensslTsa::new(key, ess) else {
            return;
        };
        let (root, leaf) = (tsa.cert("ca.pem"), tsa.cert("tsa.pem"));
        let token = tsa.stamp(b"signature bytes", hash, embed);
        let trust = TsaTrust {
            anchors: std::slice::from_ref(&root),
            intermediates: std::slice::from_ref(&leaf),
            signer: None,
        };
        let ts = timestamp::verify(&token, b"signature bytes", &trust)
            .unwrap_or_else(|e| panic!("{key:?} {ess} {hash}: {e}"));
        assert_eq!(ts.policy, "1.2.3.4.1");
        assert_eq!(ts.path.len(), 2);
        assert!(ts.signer_subject.contains("CN=test TSA"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!((ts.gen_time - now).abs() < 600, "{} vs {now}", ts.gen_time);
        let e = timestamp::verify(&token, b"other", &trust).unwrap_err();
        assert_eq!(e.code(), "timestamp_imprint_mismatch");
        // Trusting the leaf's own issuer is needed: the leaf alone is no anchor path.
        let e = timestamp::verify(
            &token,
            b"signature bytes",
            &TsaTrust {
                anchors: &[],
                intermediates: std::slice::from_ref(&leaf),
                signer: None,
            },
        )
        .unwrap_err();
        assert_eq!(e.code(), "timestamp_untrusted");
    }
}
