//! Notary Project signatures end to end: a test-made PKI (tests/notary_pki.py, Python
//! `cryptography`, a CBOR writer of its own) signs a synthetic NanoServer's manifest
//! list and platform manifests as notation lays them out in an OCI layout; `verify`
//! checks them with a notation trust policy and trust store. Each attack fails with
//! its own reason code; cosign and notation signatures on one image are both listed;
//! `copy --signatures` carries notation signatures.

use crate::common;

use common::{Pv, assert_code, python, python_has, stderr, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const PASSWORD: &str = "notary-e2e";
const IDENTITY: &str =
    "x509.subject: C=US, ST=Washington, O=Pause Verify Test, CN=Test NanoServer Signing";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/notary_pki.py")
}

/// The PKI, made once per test run (RSA key generation is most of its cost) and copied
/// into `dir` (None when the Python tools are missing and not required).
fn pki(dir: &Path) -> Option<()> {
    static MADE: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let src = MADE.get_or_init(|| {
        if !common::need("python cryptography", python_has(&["cryptography"]))
            || common::need_tool("openssl").is_none()
        {
            return None;
        }
        let p = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("notary-pki-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        let o = Command::new(python())
            .arg(script())
            .arg("pki")
            .arg(&p)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        Some(p)
    });
    let src = src.as_ref()?;
    let o = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", src.display()))
        .arg(dir)
        .output()
        .unwrap();
    assert!(o.status.success());
    Some(())
}

fn sign(dir: &Path, layout: &Path, spec: &str) {
    let o = Command::new(python())
        .arg(script())
        .arg("sign")
        .arg(dir)
        .arg(layout)
        .arg(spec)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn nanoserver(dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    Pv::new().cwd(dir).ok([
        "fixture",
        "nanoserver",
        "-q",
        "--out",
        out.to_str().unwrap(),
        "--os-version",
        "10.0.20348.2849",
    ]);
    out
}

fn policy(dir: &Path, name: &str, level: &str, stores: &[&str], identities: &[&str]) -> PathBuf {
    let p = dir.join(name);
    let doc = serde_json::json!({
        "version": "1.0",
        "trustPolicies": [{
            "name": "nanoserver",
            "registryScopes": ["*"],
            "signatureVerification": {"level": level},
            "trustStores": stores,
            "trustedIdentities": identities,
        }]
    });
    std::fs::write(&p, serde_json::to_vec(&doc).unwrap()).unwrap();
    p
}

/// The SLSA provenance statements of every envelope in an attestations directory.
fn provenances(dir: &Path) -> Vec<Value> {
    use base64::Engine as _;
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        for line in std::fs::read_to_string(e.unwrap().path()).unwrap().lines() {
            let env: Value = serde_json::from_str(line).unwrap();
            let st: Value = serde_json::from_slice(
                &base64::engine::general_purpose::STANDARD
                    .decode(env["payload"].as_str().unwrap())
                    .unwrap(),
            )
            .unwrap();
            if st["predicateType"] == "https://slsa.dev/provenance/v1" {
                out.push(st);
            }
        }
    }
    out
}

fn verify_json(dir: &Path, layout: &Path, policy: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec![
        "verify".to_string(),
        "--json".into(),
        "--trust-policy".into(),
        policy.display().to_string(),
        "--trust-store".into(),
        dir.join("truststore").display().to_string(),
        "--all-platforms".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(format!("oci:{}", layout.display()));
    let o = Pv::new().cwd(dir).password(PASSWORD).run(&args);
    let code = o.status.code().unwrap_or(-1);
    let v: Value = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("{e}: {} {}", stdout(&o), stderr(&o)));
    (code, v)
}

/// The reason codes of every notation check, subject by subject.
fn reasons(v: &Value) -> Vec<Vec<String>> {
    v["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["notation"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["reason"].as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn signed_nanoserver_index_and_platforms_verify() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    if pki(d).is_none() {
        return;
    }
    let p = policy(d, "tp.json", "strict", &["ca:test"], &[IDENTITY]);
    for (format, signer, alg) in [("cose", "leaf", "PS384"), ("jws", "ecleaf", "ES256")] {
        let ns = nanoserver(d, &format!("ns-{format}"));
        sign(
            d,
            &ns,
            &format!(r#"{{"format":"{format}","signer":"{signer}","subjects":"all"}}"#),
        );
        let (code, v) = verify_json(d, &ns, &p, &[]);
        assert_eq!(code, 0, "{v:#}");
        assert_eq!(v["verified"], true);
        let subjects = v["subjects"].as_array().unwrap();
        assert_eq!(subjects.len(), 2, "the list and its one platform manifest");
        for s in subjects {
            assert_eq!(s["verified"], true);
            assert_eq!(s["notationVerified"], 1);
            let c = &s["notation"][0];
            assert_eq!(c["detail"]["envelope"], format);
            assert_eq!(c["detail"]["algorithm"], alg);
            assert_eq!(
                c["detail"]["signer"],
                "CN=Test NanoServer Signing,O=Pause Verify Test,L=Redmond,ST=Washington,C=US"
            );
            assert_eq!(c["detail"]["trustStore"], "ca:test");
            assert_eq!(
                c["detail"]["root"],
                "CN=Test Supply Chain Root,O=Pause Verify Test,L=Redmond,ST=Washington,C=US"
            );
            assert_eq!(c["detail"]["thumbprints"].as_array().unwrap().len(), 3);
            assert_eq!(c["detail"]["revocation"], "not_checked");
        }
        // Only the list signed: the platform manifest has none, so it fails.
        let ns2 = nanoserver(d, &format!("ns2-{format}"));
        sign(
            d,
            &ns2,
            &format!(r#"{{"format":"{format}","signer":"{signer}","subjects":"index"}}"#),
        );
        let (code, v) = verify_json(d, &ns2, &p, &[]);
        assert_eq!(code, 1);
        assert_eq!(reasons(&v), vec![vec!["verified".to_string()], vec![]]);
    }
}

#[test]
fn each_attack_fails_with_its_own_reason() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    if pki(d).is_none() {
        return;
    }
    let p = policy(d, "tp.json", "strict", &["ca:test"], &[IDENTITY]);
    for (i, (signer, variant, reason)) in [
        ("rogue", "null", "untrusted_signer"),
        ("leaf", "\"tamper\"", "bad_signature"),
        ("leaf", "\"other-digest\"", "payload_digest_mismatch"),
        ("expired", "null", "certificate_expired"),
        ("leaf", "\"bad-thumbprint\"", "thumbprint_mismatch"),
    ]
    .into_iter()
    .enumerate()
    {
        for format in ["cose", "jws"] {
            let ns = nanoserver(d, &format!("ns{i}-{format}"));
            sign(
                d,
                &ns,
                &format!(
                    r#"{{"format":"{format}","signer":"{signer}","subjects":"all","variant":{variant}}}"#
                ),
            );
            let (code, v) = verify_json(d, &ns, &p, &[]);
            assert_eq!(code, 1, "{signer} {variant} {format}: {v:#}");
            assert_eq!(
                reasons(&v),
                vec![vec![reason.to_string()], vec![reason.to_string()]],
                "{signer} {variant} {format}"
            );
        }
    }
    // A signer the policy does not name (the rogue CA trusted, the identity not).
    let ns = nanoserver(d, "ns-identity");
    sign(
        d,
        &ns,
        r#"{"format":"cose","signer":"rogue","subjects":"all"}"#,
    );
    let p2 = policy(d, "tp2.json", "strict", &["ca:rogue"], &[IDENTITY]);
    let (code, v) = verify_json(d, &ns, &p2, &[]);
    assert_eq!(code, 1);
    assert_eq!(reasons(&v)[0], vec!["identity_mismatch".to_string()]);
    // audit level only logs authenticity: the signature passes, the failure is recorded.
    let p3 = policy(d, "tp3.json", "audit", &["ca:test"], &[IDENTITY]);
    let (code, v) = verify_json(d, &ns, &p3, &[]);
    assert_eq!(code, 0, "{v:#}");
    let logged = &v["subjects"][0]["notation"][0]["detail"]["logged"];
    assert_eq!(logged[0]["check"], "authenticity");
    assert_eq!(logged[0]["reason"], "untrusted_signer");
    assert!(
        v["notationWarnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("level audit"))
    );
}

#[test]
fn countersignatures_by_openssl_ts_verify_and_an_untrusted_tsa_fails() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    if pki(d).is_none() {
        return;
    }
    let p = policy(
        d,
        "tp.json",
        "strict",
        &["ca:test", "tsa:test"],
        &[IDENTITY],
    );
    for format in ["cose", "jws"] {
        let ns = nanoserver(d, &format!("ns-{format}"));
        sign(
            d,
            &ns,
            &format!(r#"{{"format":"{format}","signer":"leaf","subjects":"all","tsa":"tsa"}}"#),
        );
        let (code, v) = verify_json(d, &ns, &p, &[]);
        assert_eq!(code, 0, "{v:#}");
        let c = &v["subjects"][1]["notation"][0]["detail"];
        assert_eq!(
            c["timestampAuthority"],
            "CN=Test TSA,O=Pause Verify Test,C=US"
        );
        assert!(c["timestamp"].as_str().is_some());
        // The same signature, countersigned by a TSA the policy does not trust.
        let ns = nanoserver(d, &format!("rogue-{format}"));
        sign(
            d,
            &ns,
            &format!(
                r#"{{"format":"{format}","signer":"leaf","subjects":"all","tsa":"rogue-tsa"}}"#
            ),
        );
        let (code, v) = verify_json(d, &ns, &p, &[]);
        assert_eq!(code, 1);
        assert_eq!(
            reasons(&v),
            vec![vec!["untrusted_timestamp".to_string()]; 2]
        );
        // No countersignature at all, while the policy's tsa store requires one.
        let ns = nanoserver(d, &format!("none-{format}"));
        sign(
            d,
            &ns,
            &format!(r#"{{"format":"{format}","signer":"leaf","subjects":"all"}}"#),
        );
        let (_, v) = verify_json(d, &ns, &p, &[]);
        assert_eq!(reasons(&v), vec![vec!["timestamp_missing".to_string()]; 2]);
    }
    // An expired signing certificate whose timestamp is now (after its expiry).
    let ns = nanoserver(d, "expired");
    sign(
        d,
        &ns,
        r#"{"format":"cose","signer":"expired","subjects":"all","tsa":"tsa"}"#,
    );
    let (_, v) = verify_json(d, &ns, &p, &[]);
    assert_eq!(
        reasons(&v),
        vec![vec!["timestamp_outside_validity".to_string()]; 2]
    );
}

#[test]
fn misconfiguration_is_reported_not_passed() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    if pki(d).is_none() {
        return;
    }
    let ns = nanoserver(d, "ns");
    sign(
        d,
        &ns,
        r#"{"format":"cose","signer":"leaf","subjects":"all"}"#,
    );
    // An empty named trust store: bad input, exit 2, naming it.
    std::fs::create_dir_all(d.join("truststore/x509/ca/empty")).unwrap();
    let p = policy(d, "empty.json", "strict", &["ca:empty"], &[IDENTITY]);
    let o = Pv::new().cwd(d).run([
        "verify",
        "--trust-policy",
        p.to_str().unwrap(),
        "--trust-store",
        d.join("truststore").to_str().unwrap(),
        &format!("oci:{}", ns.display()),
    ]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("holds no certificate"),
        "{}",
        stderr(&o)
    );
    // level skip: nothing verified, so nothing passes.
    let skip = d.join("skip.json");
    std::fs::write(
        &skip,
        r#"{"version":"1.0","trustPolicies":[{"name":"s","registryScopes":["*"],"signatureVerification":{"level":"skip"}}]}"#,
    )
    .unwrap();
    let (code, v) = verify_json(d, &ns, &skip, &[]);
    assert_eq!(code, 1);
    assert_eq!(reasons(&v)[0], vec!["verification_skipped".to_string()]);
    // trustedIdentities "*": passes, with a warning.
    let any = policy(d, "any.json", "strict", &["ca:test"], &["*"]);
    let (code, v) = verify_json(d, &ns, &any, &[]);
    assert_eq!(code, 0);
    assert!(
        v["notationWarnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("accepts any signer"))
    );
    // A malformed policy: exit 2.
    let bad = d.join("bad.json");
    std::fs::write(&bad, r#"{"version":"1.0","trustPolicies":[{"name":"x","registryScopes":["*", "a/b"],"signatureVerification":{"level":"strict"},"trustStores":["ca:test"],"trustedIdentities":["*"]}]}"#).unwrap();
    let o = Pv::new().cwd(d).run([
        "verify",
        "--trust-policy",
        bad.to_str().unwrap(),
        "--trust-store",
        d.join("truststore").to_str().unwrap(),
        &format!("oci:{}", ns.display()),
    ]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("must be alone"), "{}", stderr(&o));
}

#[test]
fn cosign_and_notation_signatures_are_both_listed_and_copied() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    if pki(d).is_none() {
        return;
    }
    let ns = nanoserver(d, "ns");
    Pv::new()
        .cwd(d)
        .password(PASSWORD)
        .ok(["generate-key-pair", "--output-key-prefix", "k"]);
    Pv::new().cwd(d).password(PASSWORD).ok([
        "sign",
        "-q",
        "--recursive",
        "--key",
        "k.key",
        &format!("oci:{}", ns.display()),
    ]);
    sign(
        d,
        &ns,
        r#"{"format":"jws","signer":"leaf","subjects":"all"}"#,
    );
    let p = policy(d, "tp.json", "strict", &["ca:test"], &[IDENTITY]);
    let (code, v) = verify_json(d, &ns, &p, &["--key", "k.pub"]);
    assert_eq!(code, 0, "{v:#}");
    let s = &v["subjects"][0];
    assert_eq!(s["signatures"][0]["verified"], true);
    assert_eq!(s["notation"][0]["verified"], true);
    // A wrong cosign key fails the subject although notation passes.
    Pv::new()
        .cwd(d)
        .password(PASSWORD)
        .ok(["generate-key-pair", "--output-key-prefix", "other"]);
    let (code, v) = verify_json(d, &ns, &p, &["--key", "other.pub"]);
    assert_eq!(code, 1);
    assert_eq!(v["subjects"][0]["signatures"][0]["verified"], false);
    assert_eq!(v["subjects"][0]["notation"][0]["verified"], true);
    // copy --signatures carries the notation referrers (same manifests), twice idempotently.
    let dst = d.join("copy");
    for _ in 0..2 {
        Pv::new().cwd(d).ok([
            "copy",
            "-q",
            "--signatures",
            &format!("oci:{}", ns.display()),
            &format!("oci:{}", dst.display()),
        ]);
    }
    let (code, v) = verify_json(d, &dst, &p, &["--key", "k.pub"]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(reasons(&v), vec![vec!["verified".to_string()]; 2]);
    let idx: Value =
        serde_json::from_slice(&std::fs::read(dst.join("index.json")).unwrap()).unwrap();
    let notation = idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["artifactType"] == "application/vnd.cncf.notary.signature")
        .count();
    assert_eq!(notation, 2, "one referrer per subject, not repeated");
}

/// The pause base rebuilt from a notation-signed NanoServer: `audit` with `[base]
/// notation` passes `base-signature` naming the signer; an unsigned base, or one signed
/// by another signer than `[base] notation` accepts, fails it.
#[test]
fn audit_checks_the_base_notation_signature() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    if pki(d).is_none() {
        return;
    }
    let ns = nanoserver(d, "ns");
    sign(
        d,
        &ns,
        r#"{"format":"cose","signer":"leaf","subjects":"all"}"#,
    );
    let unsigned = nanoserver(d, "unsigned");
    let idx: Value =
        serde_json::from_slice(&std::fs::read(ns.join("index.json")).unwrap()).unwrap();
    let list = idx["manifests"][0]["digest"].as_str().unwrap().to_string();
    Pv::new().cwd(d).ok([
        "build",
        "-q",
        "--base",
        &format!("oci:ns@{list}"),
        "--out",
        "pb",
    ]);
    Pv::new()
        .cwd(d)
        .password(PASSWORD)
        .ok(["generate-key-pair", "--output-key-prefix", "k"]);
    Pv::new().cwd(d).password(PASSWORD).ok([
        "sign",
        "-q",
        "--recursive",
        "--key",
        "k.key",
        "oci:pb",
    ]);
    policy(d, "tp.json", "strict", &["ca:test"], &[IDENTITY]);
    let write_policy = |base: &str, identity: &str| {
        std::fs::write(
            d.join("policy.toml"),
            format!(
                r#"version = 1
[signatures]
keys = ["k.pub"]
[rebuild]
required = true
base = "{base}"
[base]
notation = {{ trust_policy = "tp.json", trust_store = "truststore", identities = ["{identity}"] }}
"#
            ),
        )
        .unwrap();
    };
    let audit = || {
        let o = Pv::new().cwd(d).run([
            "audit",
            "--json",
            "--policy",
            "policy.toml",
            "--image",
            "oci:pb",
        ]);
        let v: Value = serde_json::from_str(&stdout(&o))
            .unwrap_or_else(|e| panic!("{e}: {} {}", stdout(&o), stderr(&o)));
        (o.status.code(), v)
    };
    let check = |v: &Value| -> Value {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "base-signature")
            .cloned()
            .unwrap_or_else(|| panic!("no base-signature check: {v:#}"))
    };
    write_policy(&format!("oci:ns@{list}"), IDENTITY);
    let (code, v) = audit();
    assert_eq!(code, Some(0), "{v:#}");
    let c = check(&v);
    assert_eq!(c["status"], "PASS");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("CN=Test NanoServer Signing,O=Pause Verify Test"),
        "{c:#}"
    );
    assert!(
        c["evidence"][0]["found"]
            .as_str()
            .unwrap()
            .starts_with("verified: signed by")
    );
    // The signer is trusted by the trust policy but not the one [base] notation names.
    write_policy(
        &format!("oci:ns@{list}"),
        "x509.subject: C=US, ST=Washington, O=Pause Verify Test, CN=Someone Else",
    );
    let (code, v) = audit();
    assert_eq!(code, Some(1));
    assert_eq!(check(&v)["status"], "FAIL");
    // The same base bytes with no notation signature at all.
    write_policy(&format!("oci:unsigned@{list}"), IDENTITY);
    let (code, v) = audit();
    assert_eq!(code, Some(1));
    let c = check(&v);
    assert_eq!(c["status"], "FAIL");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("no Notary signature"),
        "{c:#}"
    );

    // rebuild --attest with a trust policy: the provenance's base-image dependency
    // records the verified signature.
    let rebuild = |base: &str, att: &str| {
        Pv::new().cwd(d).password(PASSWORD).run([
            "rebuild",
            "--json",
            "--image",
            "oci:pb",
            "--base",
            base,
            "--trust-policy",
            "tp.json",
            "--trust-store",
            "truststore",
            "--attest",
            "--key",
            "k.key",
            "--attestations-dir",
            att,
        ])
    };
    let o = rebuild(&format!("oci:ns@{list}"), "att");
    assert_code(&o, 0);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["baseSignatures"][0]["verified"], true, "{v:#}");
    let mut found = 0;
    for st in provenances(&d.join("att")) {
        let dep = &st["predicate"]["buildDefinition"]["resolvedDependencies"][0];
        assert_eq!(dep["name"], "base-image");
        let a = &dep["annotations"];
        assert_eq!(
            a["notation.signer"],
            "CN=Test NanoServer Signing,O=Pause Verify Test,L=Redmond,ST=Washington,C=US"
        );
        assert!(
            a["notation.signatureManifest"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
        assert_eq!(a["notation.trustStore"], "ca:test");
        found += 1;
    }
    assert_eq!(found, 1, "one provenance (one platform)");
    // An unsigned base: exit 1 and nothing signed.
    let o = rebuild(&format!("oci:unsigned@{list}"), "att2");
    assert_code(&o, 1);
    assert!(!d.join("att2").exists() || std::fs::read_dir(d.join("att2")).unwrap().count() == 0);
    let _ = unsigned;
}

/// Through a registry (Debian's distribution 2.8: no referrers API, so the tag schema):
/// `copy --signatures` pushes the notation referrers, `verify docker://…` finds them for
/// the list and the platform manifest, and a copy back to a layout verifies too.
#[test]
fn notation_signatures_round_trip_through_a_registry() {
    let Some(host) = common::registry() else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    if pki(d).is_none() {
        return;
    }
    let ns = nanoserver(d, "ns");
    sign(
        d,
        &ns,
        r#"{"format":"jws","signer":"leaf","subjects":"all"}"#,
    );
    let repo = common::unique("notary", "nanoserver");
    let dst = format!("docker://{host}/{repo}:ltsc2022");
    Pv::new().cwd(d).ok([
        "copy",
        "-q",
        "--signatures",
        &format!("oci:{}", ns.display()),
        &dst,
    ]);
    // A statement scoped to the registry repository applies (no "*" statement at all).
    let p = d.join("scoped.json");
    std::fs::write(
        &p,
        serde_json::to_vec(&serde_json::json!({
            "version": "1.0",
            "trustPolicies": [{
                "name": "scoped",
                "registryScopes": [format!("{host}/{repo}")],
                "signatureVerification": {"level": "strict"},
                "trustStores": ["ca:test"],
                "trustedIdentities": [IDENTITY],
            }]
        }))
        .unwrap(),
    )
    .unwrap();
    let o = Pv::new().cwd(d).run([
        "verify",
        "--json",
        "--trust-policy",
        p.to_str().unwrap(),
        "--trust-store",
        d.join("truststore").to_str().unwrap(),
        "--all-platforms",
        &dst,
    ]);
    assert_code(&o, 0);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(reasons(&v), vec![vec!["verified".to_string()]; 2]);
    // The same statement does not apply to a layout unless told its scope.
    let back = d.join("back");
    Pv::new().cwd(d).ok([
        "copy",
        "-q",
        "--signatures",
        &dst,
        &format!("oci:{}", back.display()),
    ]);
    let o = Pv::new().cwd(d).run([
        "verify",
        "--trust-policy",
        p.to_str().unwrap(),
        "--trust-store",
        d.join("truststore").to_str().unwrap(),
        &format!("oci:{}", back.display()),
    ]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("no statement applies"),
        "{}",
        stderr(&o)
    );
    let (code, v) = verify_json(
        d,
        &back,
        &p,
        &["--notation-scope", &format!("{host}/{repo}")],
    );
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(reasons(&v), vec![vec!["verified".to_string()]; 2]);
}

/// The chain (a final image on a pause base on NanoServer) checks the NanoServer's Notary
/// signature as `rebuild` does: with a trust policy, a signed NanoServer passes and the
/// base stage's provenance records the signer; an unsigned one fails the chain (exit 1)
/// and nothing is signed. (Before, the chain ignored the trust policy: exit 0.)
#[test]
fn chain_rebuild_checks_the_nanoserver_notation_signature() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    if pki(d).is_none() {
        return;
    }
    policy(d, "tp.json", "strict", &["ca:test"], &[IDENTITY]);
    Pv::new()
        .cwd(d)
        .password(PASSWORD)
        .ok(["generate-key-pair", "--output-key-prefix", "k"]);
    std::fs::create_dir_all(d.join("ctx")).unwrap();
    std::fs::write(d.join("ctx/hello.txt"), b"hello from the final image\n").unwrap();
    std::fs::write(
        d.join("ctx/Dockerfile"),
        "ARG BASE\nFROM ${BASE}\nADD hello.txt /hello.txt\nENTRYPOINT [\"cmd.exe\"]\n",
    )
    .unwrap();
    // One chain per NanoServer: its pin, the pause base on it, the final image on that.
    let chain = |name: &str, signed: bool| -> (i32, Value) {
        let ns = nanoserver(d, name);
        if signed {
            sign(
                d,
                &ns,
                r#"{"format":"cose","signer":"leaf","subjects":"all"}"#,
            );
        }
        let ns_ref = common::images::root_ref(&ns);
        let o = Pv::new().cwd(d).run(["pin", &ns_ref, "--name", "nano"]);
        assert_code(&o, 0);
        let pins = d.join(format!("{name}-pins.toml"));
        std::fs::write(&pins, format!("schemaVersion = \"1\"\n{}", stdout(&o))).unwrap();
        let pb = d.join(format!("{name}-pb"));
        let fin = d.join(format!("{name}-fin"));
        Pv::new().cwd(d).ok([
            "build",
            "-q",
            "--base",
            &ns_ref,
            "--out",
            pb.to_str().unwrap(),
        ]);
        let pb_ref = common::images::root_ref(&pb);
        Pv::new().cwd(d).ok([
            "build",
            "-q",
            "--base",
            &pb_ref,
            "--recipe",
            "ctx/Dockerfile",
            "--context",
            "ctx",
            "--out",
            fin.to_str().unwrap(),
        ]);
        let o = Pv::new().cwd(d).password(PASSWORD).run([
            "rebuild",
            "--json",
            "-q",
            "--image",
            &format!("oci:{}", fin.display()),
            "--base",
            &pb_ref,
            "--recipe",
            "ctx/Dockerfile",
            "--context",
            "ctx",
            "--pins",
            pins.to_str().unwrap(),
            "--trust-policy",
            "tp.json",
            "--trust-store",
            "truststore",
            "--attest",
            "--key",
            "k.key",
            "--attestations-dir",
            &format!("{name}-att"),
        ]);
        let v: Value = serde_json::from_str(&stdout(&o))
            .unwrap_or_else(|_| panic!("one JSON document: {}", stderr(&o)));
        assert_eq!(v["kind"], "chain", "{v:#}");
        (o.status.code().unwrap_or(-1), v)
    };

    let (code, v) = chain("signed", true);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["baseSignatures"][0]["verified"], true, "{v:#}");
    // The base stage's provenance names the NanoServer's signer.
    let mut signers = Vec::new();
    for st in provenances(&d.join("signed-att")) {
        let deps = st["predicate"]["buildDefinition"]["resolvedDependencies"]
            .as_array()
            .unwrap();
        for dep in deps.iter().filter(|x| x["name"] == "base-image") {
            if let Some(s) = dep["annotations"]["notation.signer"].as_str() {
                signers.push(s.to_string());
            }
        }
    }
    assert_eq!(
        signers,
        ["CN=Test NanoServer Signing,O=Pause Verify Test,L=Redmond,ST=Washington,C=US"],
        "the base stage's provenance (only) records the NanoServer's signer"
    );

    let (code, v) = chain("unsigned", false);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["baseSignatures"][0]["verified"], false, "{v:#}");
    assert!(v.get("attestations").is_none(), "{v:#}");
    let att = d.join("unsigned-att");
    assert!(!att.exists() || std::fs::read_dir(&att).unwrap().count() == 0);
}
