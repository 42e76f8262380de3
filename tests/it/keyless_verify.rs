//! Keyless (Fulcio + Rekor) verification through the binary (`verify-bundle`), against
//! real bundles made by Sigstore clients and the public-good trusted root
//! (fixtures cosign/, PROVENANCE.md), each tampering with its reason code, plus a
//! cross-check of verdicts with @sigstore/verify.

use crate::common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pause_verify::attest::Failure;
use pause_verify::attest::keyless::check_body_binds;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const CONF_ID: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const CONF_ISS: &str = "https://token.actions.githubusercontent.com";
const COSIGN_ID: &str = "cody@soyland.com";
const COSIGN_ISS: &str = "https://github.com/login/oauth";
const COSIGN_SUBJECT: &str =
    "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4";

struct Fx {
    conf: Value,
    cosign: Value,
    root: Value,
    root_path: PathBuf,
    a_txt: PathBuf,
    tmp: tempfile::TempDir,
}

fn load(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn fx() -> Option<Fx> {
    let f = common::fixtures()?.join("cosign");
    Some(Fx {
        conf: load(
            &f.join("sigstore-conformance/happy-path-intoto-in-dsse-v3/bundle.sigstore.json"),
        ),
        cosign: load(&f.join("cosign/oci-attestation.sigstore.json")),
        root: load(&f.join("cosign/trusted_root_pgi.json")),
        root_path: f.join("cosign/trusted_root_pgi.json"),
        a_txt: f.join("sigstore-conformance/a.txt"),
        tmp: tempfile::tempdir().unwrap(),
    })
}

/// Which bundle and subject a run checks.
enum Which {
    Conf,
    Cosign,
}

impl Fx {
    fn write(&self, name: &str, v: &Value) -> PathBuf {
        let p = self.tmp.path().join(name);
        std::fs::write(&p, serde_json::to_vec(v).unwrap()).unwrap();
        p
    }

    /// Run verify-bundle --json; returns (exit code, reason, message).
    fn run(
        &self,
        which: Which,
        bundle: &Value,
        root: &Value,
        id: &str,
        iss: &str,
    ) -> (i32, String, String) {
        let b = self.write("bundle.json", bundle);
        let r = self.write("root.json", root);
        let mut args: Vec<String> = vec![
            "--json".into(),
            "verify-bundle".into(),
            "--bundle".into(),
            b.display().to_string(),
            "--trusted-root".into(),
            r.display().to_string(),
            "--certificate-identity".into(),
            id.into(),
            "--certificate-oidc-issuer".into(),
            iss.into(),
        ];
        match which {
            Which::Conf => args.extend(["--artifact".into(), self.a_txt.display().to_string()]),
            Which::Cosign => args.extend(["--digest".into(), COSIGN_SUBJECT.into()]),
        }
        let o = common::pv(&args);
        let code = o.status.code().unwrap_or(-1);
        assert!(code == 0 || code == 1, "{}", common::stderr(&o));
        let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(doc["kind"], "verify-bundle");
        assert_eq!(doc["schemaVersion"], "1");
        assert_eq!(doc["verified"], code == 0);
        let c = &doc["check"];
        (
            code,
            c["reason"].as_str().unwrap().to_string(),
            c["message"].as_str().unwrap_or_default().to_string(),
        )
    }

    fn conf(&self, bundle: &Value) -> (i32, String, String) {
        self.run(Which::Conf, bundle, &self.root, CONF_ID, CONF_ISS)
    }

    fn conf_root(&self, root: &Value) -> (i32, String, String) {
        self.run(Which::Conf, &self.conf, root, CONF_ID, CONF_ISS)
    }
}

#[track_caller]
fn rejected(r: (i32, String, String), code: &str) {
    assert_eq!((r.0, r.1.as_str()), (1, code), "message: {}", r.2);
}

fn entry(b: &mut Value) -> &mut Value {
    &mut b["verificationMaterial"]["tlogEntries"][0]
}

/// Flip one bit of the byte at `at` (from the end when negative) of a base64 field.
fn flip_b64(v: &mut Value, at: isize) {
    let mut bytes = STANDARD.decode(v.as_str().unwrap()).unwrap();
    let i = if at < 0 {
        bytes.len() - at.unsigned_abs()
    } else {
        at as usize
    };
    bytes[i] ^= 0x01;
    *v = json!(STANDARD.encode(bytes));
}

#[test]
fn real_keyless_bundles_are_accepted_with_their_identity() {
    let Some(f) = fx() else { return };
    let r = f.conf(&f.conf);
    assert_eq!((r.0, r.1.as_str()), (0, "verified"), "{}", r.2);
    let r = f.run(Which::Cosign, &f.cosign, &f.root, COSIGN_ID, COSIGN_ISS);
    assert_eq!((r.0, r.1.as_str()), (0, "verified"), "{}", r.2);

    // The fixture files as they are (not re-serialized), human output, with details.
    let o = common::pv([
        "verify-bundle",
        "--bundle",
        f.root_path
            .parent()
            .unwrap()
            .join("oci-attestation.sigstore.json")
            .to_str()
            .unwrap(),
        "--digest",
        COSIGN_SUBJECT,
        "--trusted-root",
        f.root_path.to_str().unwrap(),
        "--certificate-identity",
        COSIGN_ID,
        "--certificate-oidc-issuer",
        COSIGN_ISS,
    ]);
    common::assert_code(&o, 0);
    let out = common::stdout(&o);
    assert!(
        out.contains("keyless: cody@soyland.com from https://github.com/login/oauth"),
        "{out}"
    );
    assert!(
        out.contains(
            "Rekor v1 https://rekor.sigstore.dev entry 175508996 integrated 2025-02-28T19:18:11Z"
        ),
        "{out}"
    );
    assert!(out.contains("VERIFIED"), "{out}");
}

#[test]
fn json_report_names_the_signer_and_log_entry() {
    let Some(f) = fx() else { return };
    let b = f.write("b.json", &f.conf);
    let o = common::pv([
        "--json",
        "verify-bundle",
        "--bundle",
        b.to_str().unwrap(),
        "--artifact",
        f.a_txt.to_str().unwrap(),
        "--trusted-root",
        f.root_path.to_str().unwrap(),
        "--certificate-identity",
        CONF_ID,
        "--certificate-oidc-issuer",
        CONF_ISS,
    ]);
    common::assert_code(&o, 0);
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    // sha256 of a.txt, from PROVENANCE.md.
    assert_eq!(
        doc["subject"],
        "sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf"
    );
    let d = &doc["check"]["detail"];
    assert_eq!(d["predicateType"], "https://slsa.dev/provenance/v1");
    let k = &d["keyless"];
    assert_eq!(k["identity"], CONF_ID);
    assert_eq!(k["issuer"], CONF_ISS);
    // Values from the bundle's tlog entry.
    assert_eq!(k["integratedTime"], 1734374576);
    assert_eq!(k["logIndex"], 155690850);
    assert_eq!(k["log"], "https://rekor.sigstore.dev");
    assert_eq!(k["inclusionProof"], true);
    assert_eq!(k["certificateAuthority"], "https://fulcio.sigstore.dev");
}

#[test]
fn identity_and_issuer_must_match_exactly() {
    let Some(f) = fx() else { return };
    let r = f.run(
        Which::Conf,
        &f.conf,
        &f.root,
        &format!("{CONF_ID}x"),
        CONF_ISS,
    );
    rejected(r, "certificate_identity_mismatch");
    // A prefix of the real identity is not it (no substring/regex matching).
    let r = f.run(Which::Conf, &f.conf, &f.root, &CONF_ID[..40], CONF_ISS);
    rejected(r, "certificate_identity_mismatch");
    let r = f.run(
        Which::Conf,
        &f.conf,
        &f.root,
        CONF_ID,
        "https://accounts.google.com",
    );
    rejected(r, "certificate_issuer_mismatch");
    let r = f.run(
        Which::Cosign,
        &f.cosign,
        &f.root,
        "cody@soyland.co",
        COSIGN_ISS,
    );
    rejected(r, "certificate_identity_mismatch");
    let r = f.run(Which::Cosign, &f.cosign, &f.root, COSIGN_ID, CONF_ISS);
    rejected(r, "certificate_issuer_mismatch");
}

#[test]
fn trusted_root_without_the_fulcio_ca_or_the_rekor_key_rejects() {
    let Some(f) = fx() else { return };
    let mut root = f.root.clone();
    root["certificateAuthorities"] = json!([]);
    rejected(f.conf_root(&root), "untrusted_certificate");
    // Only the 2021-2022 CA (expired before this bundle was made).
    let mut root = f.root.clone();
    root["certificateAuthorities"]
        .as_array_mut()
        .unwrap()
        .remove(1);
    rejected(f.conf_root(&root), "untrusted_certificate");
    // The current CA, but its intermediate replaced by the old root.
    let mut root = f.root.clone();
    let old_root = root["certificateAuthorities"][0]["certChain"]["certificates"][0].clone();
    root["certificateAuthorities"][1]["certChain"]["certificates"][0] = old_root;
    rejected(f.conf_root(&root), "untrusted_certificate");
    // The current CA's period ending before the entry was integrated.
    let mut root = f.root.clone();
    root["certificateAuthorities"][1]["validFor"]["end"] = json!("2024-12-01T00:00:00Z");
    rejected(f.conf_root(&root), "untrusted_certificate");

    let mut root = f.root.clone();
    root["tlogs"] = json!([]);
    rejected(f.conf_root(&root), "bad_tlog_entry");
    // Certificate transparency: no CT log; the CT log's key swapped for Rekor's; the
    // CT log's period ending before the SCT.
    let mut root = f.root.clone();
    root["ctlogs"] = json!([]);
    rejected(f.conf_root(&root), "bad_sct");
    let mut root = f.root.clone();
    root["ctlogs"][1]["publicKey"]["rawBytes"] = root["tlogs"][0]["publicKey"]["rawBytes"].clone();
    let r = f.conf_root(&root);
    assert!(r.2.contains("does not verify"), "{}", r.2);
    rejected(r, "bad_sct");
    let mut root = f.root.clone();
    root["ctlogs"][1]["publicKey"]["validFor"]["end"] = json!("2023-01-01T00:00:00Z");
    rejected(
        f.run(Which::Cosign, &f.cosign, &root, COSIGN_ID, COSIGN_ISS),
        "bad_sct",
    );
    // Rekor's log ID kept, its key swapped for the CT log's (also P-256).
    let mut root = f.root.clone();
    root["tlogs"][0]["publicKey"]["rawBytes"] = root["ctlogs"][1]["publicKey"]["rawBytes"].clone();
    let r = f.conf_root(&root);
    assert!(r.2.contains("signed entry timestamp"), "{}", r.2);
    rejected(r, "bad_set");
    // The log's period starting after the entry.
    let mut root = f.root.clone();
    root["tlogs"][0]["publicKey"]["validFor"]["start"] = json!("2025-01-01T00:00:00Z");
    rejected(f.conf_root(&root), "bad_tlog_entry");
}

#[test]
fn tampered_log_entries_reject() {
    let Some(f) = fx() else { return };
    // The SET.
    let mut b = f.conf.clone();
    flip_b64(
        &mut entry(&mut b)["inclusionPromise"]["signedEntryTimestamp"],
        10,
    );
    rejected(f.conf(&b), "bad_set");
    // The body: another envelope hash (still valid JSON and base64).
    let mut b = f.conf.clone();
    let body = entry(&mut b)["canonicalizedBody"]
        .as_str()
        .unwrap()
        .to_string();
    let text = String::from_utf8(STANDARD.decode(body).unwrap()).unwrap();
    let altered = text.replacen("5608b4de", "5608b4df", 1);
    assert_ne!(altered, text);
    entry(&mut b)["canonicalizedBody"] = json!(STANDARD.encode(altered));
    rejected(f.conf(&b), "bad_set");
    // integratedTime moved an hour (outside the ten-minute leaf validity): the SET no
    // longer covers it.
    let mut b = f.conf.clone();
    entry(&mut b)["integratedTime"] = json!("1734378176");
    rejected(f.conf(&b), "bad_set");
    let mut b = f.conf.clone();
    entry(&mut b)["logIndex"] = json!("155690851");
    rejected(f.conf(&b), "bad_set");
    // The inclusion proof: a path hash, the root hash, the checkpoint's signature.
    let mut b = f.conf.clone();
    flip_b64(&mut entry(&mut b)["inclusionProof"]["hashes"][3], 0);
    let r = f.conf(&b);
    assert!(r.2.contains("inclusion proof"), "{}", r.2);
    rejected(r, "bad_inclusion_proof");
    let mut b = f.conf.clone();
    entry(&mut b)["inclusionProof"]["logIndex"] = json!("33786587");
    rejected(f.conf(&b), "bad_inclusion_proof");
    let mut b = f.conf.clone();
    let env = entry(&mut b)["inclusionProof"]["checkpoint"]["envelope"]
        .as_str()
        .unwrap()
        .to_string();
    // Flip a character of the signature (base64 after the key hint).
    let pos = env.rfind('=').unwrap() - 5;
    let mut bytes = env.into_bytes();
    bytes[pos] = if bytes[pos] == b'A' { b'B' } else { b'A' };
    entry(&mut b)["inclusionProof"]["checkpoint"]["envelope"] =
        json!(String::from_utf8(bytes).unwrap());
    let r = f.conf(&b);
    assert!(r.2.contains("checkpoint"), "{}", r.2);
    rejected(r, "bad_checkpoint");
    // No inclusion proof: refused for bundles v0.2+, the SET suffices for v0.1.
    let mut b = f.conf.clone();
    entry(&mut b)
        .as_object_mut()
        .unwrap()
        .remove("inclusionProof");
    let r = f.conf(&b);
    assert!(r.2.contains("no inclusion proof"), "{}", r.2);
    rejected(r, "bad_inclusion_proof");
    b["mediaType"] = json!("application/vnd.dev.sigstore.bundle+json;version=0.1");
    let r = f.conf(&b);
    assert_eq!((r.0, r.1.as_str()), (0, "verified"), "{}", r.2);
    // A malformed RFC 3161 timestamp is refused, not ignored.
    let mut b = f.conf.clone();
    b["verificationMaterial"]["timestampVerificationData"] =
        json!({"rfc3161Timestamps": [{"signedTimestamp": "MAA="}]});
    rejected(f.conf(&b), "timestamp_malformed");
    // No log entry at all.
    let mut b = f.conf.clone();
    b["verificationMaterial"]["tlogEntries"] = json!([]);
    rejected(f.conf(&b), "bad_tlog_entry");
    // The cosign bundle's SET too.
    let mut b = f.cosign.clone();
    flip_b64(
        &mut entry(&mut b)["inclusionPromise"]["signedEntryTimestamp"],
        -3,
    );
    rejected(
        f.run(Which::Cosign, &b, &f.root, COSIGN_ID, COSIGN_ISS),
        "bad_set",
    );
}

#[test]
fn tampered_content_signature_or_certificate_rejects() {
    let Some(f) = fx() else { return };
    // One byte of the DSSE payload (the statement).
    let mut b = f.conf.clone();
    flip_b64(&mut b["dsseEnvelope"]["payload"], 100);
    rejected(f.conf(&b), "bad_signature");
    // The DSSE signature (a byte inside r: still DER).
    let mut b = f.conf.clone();
    flip_b64(&mut b["dsseEnvelope"]["signatures"][0]["sig"], 10);
    rejected(f.conf(&b), "bad_signature");
    // The conformance suite's own bad-signature bundle.
    let bad = load(
        &common::fixtures()
            .unwrap()
            .join("cosign/sigstore-conformance/dsse-invalid-sig_fail/bundle.sigstore.json"),
    );
    rejected(f.conf(&bad), "bad_signature");
    // The certificate of the other real bundle (a valid Fulcio leaf, from 2025): not
    // valid when this entry was integrated (2024).
    let mut b = f.conf.clone();
    b["verificationMaterial"]["certificate"] =
        f.cosign["verificationMaterial"]["certificate"].clone();
    rejected(
        f.run(Which::Conf, &b, &f.root, COSIGN_ID, COSIGN_ISS),
        "certificate_expired_at_integration",
    );
    rejected(f.conf(&b), "certificate_expired_at_integration");
    // A certificate byte flipped (in the signature value: still parses).
    let mut b = f.conf.clone();
    flip_b64(
        &mut b["verificationMaterial"]["certificate"]["rawBytes"],
        -5,
    );
    rejected(f.conf(&b), "untrusted_certificate");
    // The wrong artifact: the statement does not name it.
    let r = f.run(Which::Cosign, &f.conf, &f.root, CONF_ID, CONF_ISS);
    rejected(r, "subject_mismatch");
}

#[test]
fn the_log_entry_must_describe_this_bundle() {
    // Library-level: steps before this one (SET, chain, signature) make these
    // unreachable with real bundles, so the binding check is exercised alone.
    let Some(f) = fx() else { return };
    let body_of = |b: &Value| {
        STANDARD
            .decode(
                b["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap()
    };
    let cert_of = |b: &Value| {
        STANDARD
            .decode(
                b["verificationMaterial"]["certificate"]["rawBytes"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap()
    };
    let (body, leaf) = (body_of(&f.conf), cert_of(&f.conf));
    assert_eq!(check_body_binds(&body, &f.conf, &leaf), Ok(()));
    assert_eq!(
        check_body_binds(&body_of(&f.cosign), &f.cosign, &cert_of(&f.cosign)),
        Ok(())
    );
    let is_bad = |r: Result<(), Failure>| {
        matches!(
            r,
            Err(Failure::TlogBodyMismatch(_) | Failure::BadTlogEntry(_))
        )
    };
    // Another bundle's entry.
    assert!(is_bad(check_body_binds(
        &body_of(&f.cosign),
        &f.conf,
        &leaf
    )));
    // Another certificate.
    assert!(is_bad(check_body_binds(
        &body,
        &f.conf,
        &cert_of(&f.cosign)
    )));
    let mut b = f.conf.clone();
    flip_b64(&mut b["dsseEnvelope"]["payload"], 0);
    assert!(is_bad(check_body_binds(&body, &b, &leaf)));
    let mut b = f.conf.clone();
    flip_b64(&mut b["dsseEnvelope"]["signatures"][0]["sig"], 10);
    assert!(is_bad(check_body_binds(&body, &b, &leaf)));
    // Two signatures in the envelope.
    let mut b = f.conf.clone();
    let s = b["dsseEnvelope"]["signatures"][0].clone();
    b["dsseEnvelope"]["signatures"]
        .as_array_mut()
        .unwrap()
        .push(s);
    assert!(is_bad(check_body_binds(&body, &b, &leaf)));
    // A dsse entry for a message-signature bundle; an unknown kind.
    let mut b = f.conf.clone();
    b.as_object_mut().unwrap().remove("dsseEnvelope");
    assert!(is_bad(check_body_binds(&body, &b, &leaf)));
    // An intoto 0.0.2 entry (older cosign attest), written by hand from Rekor's schema:
    // the signature base64 twice, the certificate PEM under publicKey.
    let sig = f.conf["dsseEnvelope"]["signatures"][0]["sig"]
        .as_str()
        .unwrap();
    let payload = STANDARD
        .decode(f.conf["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        STANDARD.encode(&leaf)
    );
    let intoto = |sig: &str, payload: &[u8], pem: &str| {
        use sha2::Digest as _;
        serde_json::to_vec(&json!({"apiVersion": "0.0.2", "kind": "intoto", "spec": {"content": {
            "envelope": {"signatures": [{"sig": STANDARD.encode(sig), "publicKey": STANDARD.encode(pem)}]},
            "payloadHash": {"algorithm": "sha256", "value": hex::encode(sha2::Sha256::digest(payload))}}}}))
        .unwrap()
    };
    assert_eq!(
        check_body_binds(&intoto(sig, &payload, &pem), &f.conf, &leaf),
        Ok(())
    );
    assert!(is_bad(check_body_binds(
        &intoto(sig, b"other", &pem),
        &f.conf,
        &leaf
    )));
    let other_sig = f.cosign["dsseEnvelope"]["signatures"][0]["sig"]
        .as_str()
        .unwrap();
    assert!(is_bad(check_body_binds(
        &intoto(other_sig, &payload, &pem),
        &f.conf,
        &leaf
    )));
    let other_pem = pem.replace("MII", "MIJ");
    assert!(is_bad(check_body_binds(
        &intoto(sig, &payload, &other_pem),
        &f.conf,
        &leaf
    )));
    let other_kind = String::from_utf8(body.clone()).unwrap().replacen(
        "\"kind\":\"dsse\"",
        "\"kind\":\"rekord\"",
        1,
    );
    assert!(is_bad(check_body_binds(
        other_kind.as_bytes(),
        &f.conf,
        &leaf
    )));
}

#[test]
fn usage_errors_exit_2_and_untrusted_keyless_stays_refused() {
    let Some(f) = fx() else { return };
    let b = f.write("b.json", &f.conf);
    let a = f.a_txt.to_str().unwrap();
    let base = [
        "verify-bundle",
        "--bundle",
        b.to_str().unwrap(),
        "--artifact",
        a,
    ];
    let with = |extra: &[&str]| {
        let mut v: Vec<&str> = base.to_vec();
        v.extend_from_slice(extra);
        common::pv(v)
    };
    let missing = f.tmp.path().join("missing.json");
    let o = with(&[
        "--trusted-root",
        missing.to_str().unwrap(),
        "--certificate-identity",
        CONF_ID,
        "--certificate-oidc-issuer",
        CONF_ISS,
    ]);
    common::assert_code(&o, 2);
    assert!(
        common::stderr(&o).contains("trusted root"),
        "{}",
        common::stderr(&o)
    );
    for junk in [json!([1]), json!({"mediaType": "application/json"})] {
        let p = f.write("junk.json", &junk);
        let o = with(&[
            "--trusted-root",
            p.to_str().unwrap(),
            "--certificate-identity",
            CONF_ID,
            "--certificate-oidc-issuer",
            CONF_ISS,
        ]);
        common::assert_code(&o, 2);
    }
    // Half the keyless flags; no trust at all.
    common::assert_code(&with(&["--trusted-root", f.root_path.to_str().unwrap()]), 2);
    common::assert_code(&with(&["--certificate-identity", CONF_ID]), 2);
    common::assert_code(&with(&[]), 2);
    // A key but no trusted root: the keyless bundle is consistent but not trusted.
    let key = common::fixtures()
        .unwrap()
        .join("cosign/containers-image/cosign.pub");
    let o = with(&["--key", key.to_str().unwrap()]);
    common::assert_code(&o, 1);
    assert!(
        common::stdout(&o).contains("keyless_not_trusted"),
        "{}",
        common::stdout(&o)
    );
}

// ---- cross-check with @sigstore/verify

fn sigstore_js(
    bundle: &Path,
    root: &Path,
    id: &str,
    iss: &str,
    artifact: Option<&Path>,
) -> Option<i32> {
    let dir = common::node_modules();
    let has = dir
        .as_ref()
        .is_some_and(|d| d.join("node_modules/@sigstore/verify").is_dir())
        && common::which("node").is_some();
    if !common::need("node with @sigstore/verify (PAUSE_VERIFY_NODE_DIR)", has) {
        return None;
    }
    let mut c = Command::new("node");
    c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keyless_bundle_verify.js"))
        .arg(bundle)
        .arg(root)
        .arg(id)
        .arg(iss);
    if let Some(a) = artifact {
        c.arg(a);
    }
    let o = c
        .env("NODE_PATH", dir?.join("node_modules"))
        .output()
        .unwrap();
    let code = o.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "{}{}",
        common::stdout(&o),
        common::stderr(&o)
    );
    Some(code)
}

#[test]
fn verdicts_agree_with_sigstore_js() {
    let Some(f) = fx() else { return };
    let mut cases: Vec<(&str, Which, Value, Value, &str, &str)> = vec![
        (
            "conformance",
            Which::Conf,
            f.conf.clone(),
            f.root.clone(),
            CONF_ID,
            CONF_ISS,
        ),
        (
            "cosign",
            Which::Cosign,
            f.cosign.clone(),
            f.root.clone(),
            COSIGN_ID,
            COSIGN_ISS,
        ),
        (
            "wrong identity",
            Which::Cosign,
            f.cosign.clone(),
            f.root.clone(),
            "cody@soyland.co",
            COSIGN_ISS,
        ),
        (
            "wrong issuer",
            Which::Conf,
            f.conf.clone(),
            f.root.clone(),
            CONF_ID,
            COSIGN_ISS,
        ),
    ];
    let mut b = f.conf.clone();
    flip_b64(
        &mut entry(&mut b)["inclusionPromise"]["signedEntryTimestamp"],
        10,
    );
    cases.push((
        "SET flipped",
        Which::Conf,
        b,
        f.root.clone(),
        CONF_ID,
        CONF_ISS,
    ));
    let mut b = f.conf.clone();
    flip_b64(&mut b["dsseEnvelope"]["payload"], 100);
    cases.push((
        "payload flipped",
        Which::Conf,
        b,
        f.root.clone(),
        CONF_ID,
        CONF_ISS,
    ));
    let mut b = f.conf.clone();
    b["verificationMaterial"]["certificate"] =
        f.cosign["verificationMaterial"]["certificate"].clone();
    cases.push((
        "certificate swapped",
        Which::Conf,
        b,
        f.root.clone(),
        COSIGN_ID,
        COSIGN_ISS,
    ));
    let mut root = f.root.clone();
    root["certificateAuthorities"] = json!([]);
    cases.push((
        "no CA",
        Which::Conf,
        f.conf.clone(),
        root,
        CONF_ID,
        CONF_ISS,
    ));
    let mut root = f.root.clone();
    root["ctlogs"] = json!([]);
    cases.push((
        "no CT log",
        Which::Conf,
        f.conf.clone(),
        root,
        CONF_ID,
        CONF_ISS,
    ));
    let mut root = f.root.clone();
    root["tlogs"][0]["publicKey"]["rawBytes"] = root["ctlogs"][1]["publicKey"]["rawBytes"].clone();
    cases.push((
        "Rekor key swapped",
        Which::Cosign,
        f.cosign.clone(),
        root,
        COSIGN_ID,
        COSIGN_ISS,
    ));

    for (name, which, bundle, root, id, iss) in cases {
        let ours = f.run(which, &bundle, &root, id, iss).0;
        let b = f.write("js-bundle.json", &bundle);
        let r = f.write("js-root.json", &root);
        // DSSE bundles carry their subject; sigstore-js needs no artifact for them.
        let Some(theirs) = sigstore_js(&b, &r, id, iss, None) else {
            return;
        };
        assert_eq!(
            ours, theirs,
            "{name}: pause-verify exit {ours}, sigstore-js exit {theirs}"
        );
    }
}

#[test]
fn image_verify_takes_the_keyless_path_for_bundles_in_an_attestations_dir() {
    // No real keyless bundle signs an image we have, so this checks the wiring: the
    // conformance bundle placed as an attestation of a synthetic image passes the log,
    // chain and identity checks and then fails on the subject (a.txt is not the image),
    // and a wrong identity is caught, which only the keyless path checks.
    let Some(f) = fx() else { return };
    let layout = f.tmp.path().join("img");
    let o = common::pv(["fixture", "nanoserver", "--out", layout.to_str().unwrap()]);
    common::assert_code(&o, 0);
    let root = common::images::root_digest(&layout);
    let dir = f.tmp.path().join("atts");
    std::fs::create_dir(&dir).unwrap();
    let hex = root.strip_prefix("sha256:").unwrap();
    std::fs::write(
        dir.join(format!("{hex}.sigstore.json")),
        serde_json::to_vec(&f.conf).unwrap(),
    )
    .unwrap();
    let image = common::images::root_ref(&layout);
    let verify = |extra: &[&str]| {
        let mut a = vec![
            "--json",
            "verify",
            "--attestations-only",
            "--attestations-dir",
            dir.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        a.push(&image);
        let o = common::pv(a);
        common::assert_code(&o, 1);
        let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
        let c = &doc["subjects"][0]["attestations"][0];
        (doc.clone(), c["reason"].as_str().unwrap().to_string())
    };
    let root_file = f.root_path.to_str().unwrap();
    let (doc, reason) = verify(&[
        "--trusted-root",
        root_file,
        "--certificate-identity",
        CONF_ID,
        "--certificate-oidc-issuer",
        CONF_ISS,
    ]);
    assert_eq!(reason, "subject_mismatch");
    assert_eq!(doc["certificateIdentity"], CONF_ID);
    assert_eq!(doc["certificateOidcIssuer"], CONF_ISS);
    assert_eq!(doc["trustedRoot"], root_file);
    let (_, reason) = verify(&[
        "--trusted-root",
        root_file,
        "--certificate-identity",
        COSIGN_ID,
        "--certificate-oidc-issuer",
        CONF_ISS,
    ]);
    assert_eq!(reason, "certificate_identity_mismatch");
    let key = common::fixtures()
        .unwrap()
        .join("cosign/containers-image/cosign.pub");
    // With a key only, the bundle gets the consistency check (which already fails on
    // the subject) and never reaches keyless trust.
    let (_, reason) = verify(&["--key", key.to_str().unwrap()]);
    assert_eq!(reason, "subject_mismatch");
    // Neither a key nor a trusted root: a usage error.
    let o = common::pv(["verify", "--attestations-only", &image]);
    common::assert_code(&o, 2);
}

#[test]
fn identity_regexp_must_match_the_whole_san() {
    let Some(f) = fx() else { return };
    let b = f.write("b.json", &f.conf);
    let run = |re: &str| {
        common::pv([
            "--json",
            "verify-bundle",
            "--bundle",
            b.to_str().unwrap(),
            "--artifact",
            f.a_txt.to_str().unwrap(),
            "--trusted-root",
            f.root_path.to_str().unwrap(),
            "--certificate-identity-regexp",
            re,
            "--certificate-oidc-issuer",
            CONF_ISS,
        ])
    };
    let o = run(r"https://github\.com/sigstore-conformance/.*@refs/heads/main");
    common::assert_code(&o, 0);
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    // The SAN that matched, not the expression.
    assert_eq!(doc["check"]["detail"]["keyless"]["identity"], CONF_ID);
    assert_eq!(
        doc["certificateIdentityRegexp"],
        r"https://github\.com/sigstore-conformance/.*@refs/heads/main"
    );
    // A prefix does not match (cosign's search semantics would accept it).
    let o = run(r"https://github\.com/sigstore-conformance/");
    common::assert_code(&o, 1);
    assert!(common::stdout(&o).contains("certificate_identity_mismatch"));
    let o = run(r"(unclosed");
    common::assert_code(&o, 2);
    assert!(common::stderr(&o).contains("--certificate-identity-regexp"));
    // Both forms at once is a usage error; so is an issuer without an identity.
    let o = common::pv([
        "verify-bundle",
        "--bundle",
        b.to_str().unwrap(),
        "--artifact",
        f.a_txt.to_str().unwrap(),
        "--trusted-root",
        f.root_path.to_str().unwrap(),
        "--certificate-identity",
        CONF_ID,
        "--certificate-identity-regexp",
        ".*",
        "--certificate-oidc-issuer",
        CONF_ISS,
    ]);
    common::assert_code(&o, 2);
    let o = common::pv([
        "verify-bundle",
        "--bundle",
        b.to_str().unwrap(),
        "--artifact",
        f.a_txt.to_str().unwrap(),
        "--trusted-root",
        f.root_path.to_str().unwrap(),
        "--certificate-oidc-issuer",
        CONF_ISS,
    ]);
    common::assert_code(&o, 2);
}

#[test]
fn audit_reads_the_trusted_root_from_the_policy_or_the_flag() {
    let Some(f) = fx() else { return };
    let layout = f.tmp.path().join("img");
    common::assert_code(
        &common::pv(["fixture", "nanoserver", "--out", layout.to_str().unwrap()]),
        0,
    );
    let policy = f.tmp.path().join("policy.toml");
    let write_policy = |trusted_root: Option<&Path>| {
        let tr = trusted_root
            .map(|p| format!("trusted_root = {:?}\n", p.display().to_string()))
            .unwrap_or_default();
        std::fs::write(
            &policy,
            format!(
                "version = 1\n[signatures]\n{tr}[[signatures.identities]]\nissuer = {CONF_ISS:?}\nsubject = {CONF_ID:?}\n[rebuild]\nrequired = false\n"
            ),
        )
        .unwrap();
    };
    let image = format!("oci:{}", layout.display());
    let audit = |extra: &[&str]| {
        let mut a = vec![
            "--json",
            "audit",
            "--image",
            &image,
            "--policy",
            policy.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        common::pv(a)
    };
    let keyless_message = |o: &std::process::Output| {
        common::assert_code(o, 1);
        let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "keyless-signature")
            .map(|c| {
                (
                    c["status"].as_str().unwrap().to_string(),
                    c["message"].as_str().unwrap().to_string(),
                )
            })
            .unwrap()
    };
    // Identities, no trusted root: the check fails and says so.
    write_policy(None);
    let (status, m) = keyless_message(&audit(&[]));
    assert_eq!(status, "FAIL");
    assert!(m.contains("no trusted root"), "{m}");
    // From the flag: the root is read; the image is unsigned, so the check fails on that.
    let (status, m) = keyless_message(&audit(&["--trusted-root", f.root_path.to_str().unwrap()]));
    assert_eq!(status, "FAIL");
    assert!(m.contains("no signature found"), "{m}");
    // From the policy, and a missing file named in the policy: exit 2.
    write_policy(Some(&f.root_path));
    let (_, m) = keyless_message(&audit(&[]));
    assert!(m.contains("no signature found"), "{m}");
    let missing = f.tmp.path().join("nope.json");
    write_policy(Some(&missing));
    let o = audit(&[]);
    common::assert_code(&o, 2);
    assert!(
        common::stderr(&o).contains("nope.json"),
        "{}",
        common::stderr(&o)
    );
}
