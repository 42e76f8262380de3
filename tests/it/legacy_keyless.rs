//! Cosign's legacy keyless `.sig` / `.att` layers (certificate and Rekor bundle in
//! annotations), through the binary. No such layer exists in the shared fixtures, so a
//! throw-away PKI (root and intermediate CA, Fulcio-profile leaves with embedded SCTs, a
//! Rekor key, a trusted root listing them) and the layers are made at test time by
//! `tests/legacy_keyless_pki.py` with Python `cryptography`, never by pause-verify. The
//! layers are stored as cosign stores them (a `sha256-<hex>.sig` manifest in an OCI
//! layout, and in the loopback registry through skopeo), then judged by `verify` and
//! `audit`; the verdicts are cross-checked with @sigstore/verify on the same layers
//! turned into Sigstore bundles v0.1 by this file.

use crate::common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pause_verify::attest::storage::{self, AttachedLayer};
use pause_verify::image::model::media;
use pause_verify::image::{Descriptor, Digest, ImageSink, LayoutWriter};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const ID: &str = "release-signer@example.com";
const ISS: &str = "https://issuer.example";
/// The leaf's notBefore (it lives 600 s); any fixed past time works offline.
const NOW: i64 = 1_750_000_000;
const CERT: &str = "dev.sigstore.cosign/certificate";
const BUNDLE: &str = "dev.sigstore.cosign/bundle";
const SIG: &str = "dev.cosignproject.cosign/signature";
const PREDICATE: &str = "https://example.com/predicate/v1";

struct Pki {
    root: PathBuf,
    layers: Vec<AttachedLayer>,
    tmp: tempfile::TempDir,
}

/// Run the generator on `specs` (one layer each).
fn generate(specs: Vec<Value>) -> Option<Pki> {
    if !common::need(
        "Python with cryptography (PAUSE_VERIFY_PYTHON)",
        common::python_has(&["cryptography"]),
    ) {
        return None;
    }
    let spec = json!({"now": NOW, "identity": ID, "issuer": ISS, "layers": specs});
    let mut child = Command::new(common::python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/legacy_keyless_pki.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        &serde_json::to_vec(&spec).unwrap(),
    )
    .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", common::stderr(&o));
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("trusted_root.json");
    std::fs::write(&root, serde_json::to_vec(&out["trustedRoot"]).unwrap()).unwrap();
    let layers = out["layers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&specs_att(&spec))
        .map(|(l, att)| {
            let mut annotations: BTreeMap<String, String> =
                serde_json::from_value(l["annotations"].clone()).unwrap();
            let media_type = if *att {
                annotations.insert("predicateType".into(), PREDICATE.into());
                "application/vnd.dsse.envelope.v1+json"
            } else {
                "application/vnd.dev.cosign.simplesigning.v1+json"
            };
            AttachedLayer {
                media_type: media_type.into(),
                payload: STANDARD.decode(l["blob"].as_str().unwrap()).unwrap(),
                annotations,
            }
        })
        .collect();
    Some(Pki { root, layers, tmp })
}

fn specs_att(spec: &Value) -> Vec<bool> {
    spec["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["att"].as_bool().unwrap_or(false))
        .collect()
}

/// A layer spec: `payload` signed by `cert`'s key, logged at `t`.
fn spec(payload: &[u8], cert: &str, t: i64) -> Value {
    json!({"payload": STANDARD.encode(payload), "cert": cert, "t": t, "logIndex": 4242})
}

/// cosign's simple-signing payload for `digest`, written out here (not by pause-verify).
fn sig_payload(digest: &str) -> Vec<u8> {
    format!(
        "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"registry.example/pause\"}},\"image\":{{\"docker-manifest-digest\":\"{digest}\"}},\"type\":\"cosign container image signature\"}},\"optional\":null}}"
    )
    .into_bytes()
}

fn statement(digest: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "registry.example/pause",
                     "digest": {"sha256": digest.trim_start_matches("sha256:")}}],
        "predicateType": PREDICATE,
        "predicate": {"built": true},
    }))
    .unwrap()
}

/// One small Windows image (config + one layer) tagged `v1`; the same bytes every time.
fn put_image(dir: &Path) -> (LayoutWriter, Descriptor) {
    let mut w = LayoutWriter::create(dir).unwrap();
    let layer = [vec![7u8; 512], vec![0u8; 1024]].concat();
    let l = w.put_bytes(media::OCI_LAYER, &layer).unwrap();
    let cfg = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "windows", "os.version": "10.0.20348.2849",
        "rootfs": {"type": "layers", "diff_ids": [l.digest.to_string()]}
    }))
    .unwrap();
    let c = w.put_bytes(media::OCI_CONFIG, &cfg).unwrap();
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": media::OCI_MANIFEST, "config": c, "layers": [l]
    }))
    .unwrap();
    let md = w.put_bytes(media::OCI_MANIFEST, &m).unwrap();
    w.add_manifest(&md, Some("v1")).unwrap();
    (w, md)
}

fn image_digest() -> Digest {
    let t = tempfile::tempdir().unwrap();
    put_image(t.path()).1.digest
}

/// Store `layers` under the `.sig` (or `.att`) tag of `image` in layout `dir`, as cosign
/// lays out its signature manifest.
fn attach(dir: &Path, tag: String, layers: &[AttachedLayer]) {
    let mut w = LayoutWriter::create(dir).unwrap();
    let m = storage::cosign_manifest(None, layers, tag.clone()).unwrap();
    for b in &m.blobs {
        w.put_bytes(&b.descriptor.media_type, &b.bytes).unwrap();
    }
    let d = w
        .put_bytes(&m.manifest.descriptor.media_type, &m.manifest.bytes)
        .unwrap();
    w.add_manifest(&d, Some(&tag)).unwrap();
}

/// A fresh layout with the image and `layers` as its `.sig` (or `.att`).
fn layout(base: &Path, name: &str, att: bool, layers: &[AttachedLayer]) -> PathBuf {
    let dir = base.join(name);
    let (_, md) = put_image(&dir);
    let tag = if att {
        storage::att_tag(&md.digest)
    } else {
        storage::sig_tag(&md.digest)
    };
    attach(&dir, tag, layers);
    dir
}

fn verify(image: &str, root: &Path, id: &str, iss: &str, extra: &[&str]) -> (Output, Value) {
    let mut args = vec![
        "verify",
        "--json",
        "--trusted-root",
        root.to_str().unwrap(),
        "--certificate-identity",
        id,
        "--certificate-oidc-issuer",
        iss,
    ];
    args.extend_from_slice(extra);
    args.push(image);
    let o = common::pv(args);
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o, v)
}

fn verify_regexp(image: &str, root: &Path, re: &str) -> (Output, Value) {
    let o = common::pv([
        "verify",
        "--json",
        "--trusted-root",
        root.to_str().unwrap(),
        "--certificate-identity-regexp",
        re,
        "--certificate-oidc-issuer",
        ISS,
        image,
    ]);
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o, v)
}

fn reasons(v: &Value, list: &str) -> Vec<String> {
    v["subjects"][0][list]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|c| c["reason"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn message(v: &Value, list: &str) -> String {
    v["subjects"][0][list][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn set_annotation(l: &AttachedLayer, key: &str, value: String) -> AttachedLayer {
    let mut l = l.clone();
    l.annotations.insert(key.into(), value);
    l
}

/// The bundle annotation with `f` applied to its JSON.
fn edit_bundle(l: &AttachedLayer, f: impl FnOnce(&mut Value)) -> AttachedLayer {
    let mut b: Value = serde_json::from_str(&l.annotations[BUNDLE]).unwrap();
    f(&mut b);
    set_annotation(l, BUNDLE, b.to_string())
}

fn flip_b64(s: &str) -> String {
    let mut raw = STANDARD.decode(s).unwrap();
    let n = raw.len();
    raw[n / 2] ^= 1;
    STANDARD.encode(raw)
}

#[test]
fn legacy_sig_accepted_and_each_tampering_rejected() {
    let d = image_digest().to_string();
    let other = Digest::of(b"another image").to_string();
    let good = sig_payload(&d);
    let Some(p) = generate(vec![
        spec(&good, "leaf", NOW + 100),
        // Logged after the leaf expired (valid SET).
        spec(&good, "leaf", NOW + 700),
        // A valid signature of another image.
        spec(&sig_payload(&other), "leaf", NOW + 100),
        // A leaf from a CA the trusted root does not list.
        spec(&good, "rogue", NOW + 100),
        // Signed by leaf2 (same identity, trusted CA), but carrying leaf's log entry.
        json!({"payload": STANDARD.encode(&good), "cert": "leaf2", "t": NOW + 100,
               "logIndex": 1, "entryFor": {"cert": "leaf", "payload": STANDARD.encode(&good)}}),
        // A valid SET over an entry about another payload.
        json!({"payload": STANDARD.encode(&good), "cert": "leaf", "t": NOW + 100,
               "logIndex": 1, "entryFor": {"cert": "leaf", "payload": STANDARD.encode(sig_payload(&other))}}),
        // Older cosign logged `rekord` entries; the same one about another payload.
        json!({"payload": STANDARD.encode(&good), "cert": "leaf", "t": NOW + 100,
               "logIndex": 2, "kind": "rekord"}),
        json!({"payload": STANDARD.encode(&good), "cert": "leaf", "t": NOW + 100, "logIndex": 2,
               "kind": "rekord", "entryFor": {"cert": "leaf", "payload": STANDARD.encode(sig_payload(&other))}}),
    ]) else {
        return;
    };
    let base = p.tmp.path();
    let l = &p.layers;

    // Accepted, with who signed and which log entry, and no inclusion proof.
    let dir = layout(base, "good", false, &l[0..1]);
    let image = format!("oci:{}", dir.display());
    let (o, v) = verify(&image, &p.root, ID, ISS, &[]);
    common::assert_code(&o, 0);
    let c = &v["subjects"][0]["signatures"][0];
    assert_eq!(c["reason"], "verified");
    assert_eq!(c["detail"]["format"], "simple-signing");
    assert_eq!(c["detail"]["dockerReference"], "registry.example/pause");
    let k = &c["detail"]["keyless"];
    assert_eq!(k["identity"], ID);
    assert_eq!(k["issuer"], ISS);
    assert_eq!(k["integratedTime"], NOW + 100);
    assert_eq!(k["logIndex"], 4242);
    assert_eq!(k["log"], "https://rekor.test");
    assert_eq!(k["inclusionProof"], false);
    assert_eq!(k["certificateAuthority"], "https://fulcio.test");
    // Human output names the signer (wide, so the phrase is on one line).
    let o = common::Pv::new().env("COLUMNS", "1000").run([
        "verify",
        "--trusted-root",
        p.root.to_str().unwrap(),
        "--certificate-identity",
        ID,
        "--certificate-oidc-issuer",
        ISS,
        &image,
    ]);
    common::assert_code(&o, 0);
    assert!(
        common::stdout(&o).contains(&format!("keyless {ID} from {ISS}")),
        "{}",
        common::stdout(&o)
    );

    // A `rekord` entry binds the same way.
    let rekord = layout(base, "rekord", false, &l[6..7]);
    let (o, v) = verify(&format!("oci:{}", rekord.display()), &p.root, ID, ISS, &[]);
    common::assert_code(&o, 0);
    assert_eq!(
        v["subjects"][0]["signatures"][0]["detail"]["keyless"]["logIndex"],
        2
    );

    // Wrong identity, wrong issuer.
    let (o, v) = verify(&image, &p.root, "someone@example.com", ISS, &[]);
    common::assert_code(&o, 1);
    assert_eq!(reasons(&v, "signatures"), ["certificate_identity_mismatch"]);
    let (o, v) = verify(&image, &p.root, ID, "https://other.example", &[]);
    common::assert_code(&o, 1);
    assert_eq!(reasons(&v, "signatures"), ["certificate_issuer_mismatch"]);

    let pem2 = l[4].annotations[CERT].clone();
    let cases: Vec<(&str, AttachedLayer, &str, &str)> = vec![
        (
            "set-flipped",
            edit_bundle(&l[0], |b| {
                let s = flip_b64(b["SignedEntryTimestamp"].as_str().unwrap());
                b["SignedEntryTimestamp"] = s.into();
            }),
            "bad_set",
            "signed entry timestamp",
        ),
        (
            "body-altered",
            edit_bundle(&l[0], |b| {
                let body = STANDARD
                    .decode(b["Payload"]["body"].as_str().unwrap())
                    .unwrap();
                let text = String::from_utf8(body).unwrap();
                let hex = hex::encode(Sha256::digest(&good));
                let altered = text.replace(&hex, &hex::encode(Sha256::digest(b"x")));
                assert_ne!(altered, text);
                b["Payload"]["body"] = STANDARD.encode(altered).into();
            }),
            "bad_set",
            "signed entry timestamp",
        ),
        (
            "log-index-altered",
            edit_bundle(&l[0], |b| b["Payload"]["logIndex"] = 4243.into()),
            "bad_set",
            "signed entry timestamp",
        ),
        (
            "entry-about-another-payload",
            l[5].clone(),
            "tlog_body_mismatch",
            "data hash",
        ),
        (
            "rekord-entry-about-another-payload",
            l[7].clone(),
            "tlog_body_mismatch",
            "data hash",
        ),
        (
            "cert-swapped",
            set_annotation(&l[0], CERT, pem2),
            "bad_signature",
            "",
        ),
        (
            "cert-swapped-and-resigned",
            l[4].clone(),
            "tlog_body_mismatch",
            "signature",
        ),
        (
            "time-outside-leaf-validity",
            l[1].clone(),
            "certificate_expired_at_integration",
            "",
        ),
        (
            "payload-of-another-image",
            l[2].clone(),
            "digest_mismatch",
            "",
        ),
        (
            "signature-flipped",
            set_annotation(&l[0], SIG, flip_b64(&l[0].annotations[SIG])),
            "bad_signature",
            "",
        ),
        ("untrusted-ca", l[3].clone(), "untrusted_certificate", ""),
        (
            "rfc3161-timestamp",
            set_annotation(
                &l[0],
                "dev.sigstore.cosign/rfc3161timestamp",
                r#"{"SignedRFC3161Timestamp":"AAAA"}"#.into(),
            ),
            "timestamp_malformed",
            "",
        ),
        (
            "no-bundle",
            {
                let mut t = l[0].clone();
                t.annotations.remove(BUNDLE);
                t
            },
            "bad_tlog_entry",
            "Rekor bundle annotation",
        ),
    ];
    for (name, layer, code, text) in cases {
        let dir = layout(base, name, false, &[layer]);
        let (o, v) = verify(&format!("oci:{}", dir.display()), &p.root, ID, ISS, &[]);
        common::assert_code(&o, 1);
        assert_eq!(reasons(&v, "signatures"), [code], "{name}: {v}");
        assert!(message(&v, "signatures").contains(text), "{name}: {v}");
    }

    // Trusted roots missing the CT log, the Rekor key or the CA.
    let full: Value = serde_json::from_slice(&std::fs::read(&p.root).unwrap()).unwrap();
    for (field, code) in [
        ("ctlogs", "bad_sct"),
        ("tlogs", "bad_tlog_entry"),
        ("certificateAuthorities", "untrusted_certificate"),
    ] {
        let mut r = full.clone();
        r[field] = json!([]);
        let path = base.join(format!("root-without-{field}.json"));
        std::fs::write(&path, serde_json::to_vec(&r).unwrap()).unwrap();
        let (o, v) = verify(&image, &path, ID, ISS, &[]);
        common::assert_code(&o, 1);
        assert_eq!(reasons(&v, "signatures"), [code], "without {field}: {v}");
    }
    // An identity expression must match the whole SAN.
    let (o, _) = verify_regexp(&image, &p.root, r"release-signer@example\.com");
    common::assert_code(&o, 0);
    let (o, v) = verify_regexp(&image, &p.root, r"release-signer@example");
    common::assert_code(&o, 1);
    assert_eq!(reasons(&v, "signatures"), ["certificate_identity_mismatch"]);

    // Without a trusted root, a key that is not the signer's: not trusted, said so.
    let pubkey = base.join("other.pub");
    let k = pause_verify::attest::PrivateKey::generate().unwrap();
    std::fs::write(&pubkey, k.public_key().to_pem()).unwrap();
    let o = common::pv([
        "verify",
        "--json",
        "--key",
        pubkey.to_str().unwrap(),
        &image,
    ]);
    common::assert_code(&o, 1);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(reasons(&v, "signatures"), ["keyless_not_trusted"]);
    // ... unless the layer's signature does not even match its own certificate.
    let bad = layout(
        base,
        "untrusted-flipped",
        false,
        &[set_annotation(&l[0], SIG, flip_b64(&l[0].annotations[SIG]))],
    );
    let o = common::pv([
        "verify",
        "--json",
        "--key",
        pubkey.to_str().unwrap(),
        &format!("oci:{}", bad.display()),
    ]);
    common::assert_code(&o, 1);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(reasons(&v, "signatures"), ["bad_signature"]);
}

#[test]
fn legacy_att_intoto_and_dsse_entries() {
    let d = image_digest().to_string();
    let stmt = statement(&d);
    let att = |kind: &str, cert: &str, payload: &[u8]| {
        json!({"payload": STANDARD.encode(payload), "att": true, "kind": kind,
               "cert": cert, "t": NOW + 60, "logIndex": 9})
    };
    let Some(p) = generate(vec![
        att("intoto", "leaf", &stmt),
        att("dsse", "leaf", &stmt),
        att("intoto", "rogue", &stmt),
        att(
            "intoto",
            "leaf",
            &statement(&Digest::of(b"other").to_string()),
        ),
        // An intoto entry about leaf2's envelope, carried by leaf's.
        json!({"payload": STANDARD.encode(&stmt), "att": true, "kind": "intoto", "cert": "leaf",
               "t": NOW + 60, "logIndex": 9, "entryFor": {"cert": "leaf2", "payload": STANDARD.encode(&stmt)}}),
    ]) else {
        return;
    };
    let base = p.tmp.path();
    for (i, (name, code)) in [
        ("intoto", "verified"),
        ("dsse", "verified"),
        ("rogue", "untrusted_certificate"),
        ("other-subject", "subject_mismatch"),
        ("entry-of-another-envelope", "tlog_body_mismatch"),
    ]
    .into_iter()
    .enumerate()
    {
        let dir = layout(base, name, true, &p.layers[i..i + 1]);
        let (o, v) = verify(
            &format!("oci:{}", dir.display()),
            &p.root,
            ID,
            ISS,
            &["--attestations-only", "--type", PREDICATE],
        );
        common::assert_code(&o, if code == "verified" { 0 } else { 1 });
        assert_eq!(reasons(&v, "attestations"), [code], "{name}: {v}");
        if code == "verified" {
            let c = &v["subjects"][0]["attestations"][0]["detail"];
            assert_eq!(c["format"], "dsse");
            assert_eq!(c["predicateType"], PREDICATE);
            assert_eq!(c["keyless"]["identity"], ID);
        }
    }
    // A predicate filter still applies.
    let dir = base.join("intoto");
    let (o, v) = verify(
        &format!("oci:{}", dir.display()),
        &p.root,
        ID,
        ISS,
        &["--attestations-only", "--type", "https://example.com/other"],
    );
    common::assert_code(&o, 1);
    assert_eq!(reasons(&v, "attestations"), ["predicate_type_mismatch"]);
}

#[test]
fn legacy_sig_in_the_registry() {
    let Some(registry) = common::registry() else {
        return;
    };
    let Some(_) = common::need_tool("skopeo") else {
        return;
    };
    let d = image_digest();
    let Some(p) = generate(vec![spec(&sig_payload(&d.to_string()), "leaf", NOW + 5)]) else {
        return;
    };
    let dir = layout(p.tmp.path(), "img", false, &p.layers);
    let repo = common::unique("legacy-keyless", "pause");
    let image = format!("docker://{registry}/{repo}:v1");
    common::assert_code(
        &common::pv([
            "copy".to_string(),
            format!("oci:{}:v1", dir.display()),
            image.clone(),
        ]),
        0,
    );
    // The `.sig` goes in with skopeo, as any OCI client pushes it.
    let tag = storage::sig_tag(&d);
    let out = Command::new("skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &format!("oci:{}:{tag}", dir.display()),
            &format!("docker://{registry}/{repo}:{tag}"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let (o, v) = verify(&image, &p.root, ID, ISS, &[]);
    common::assert_code(&o, 0);
    assert_eq!(reasons(&v, "signatures"), ["verified"]);
    assert_eq!(v["subjects"][0]["digest"], d.to_string());
    let (o, v) = verify(&image, &p.root, "someone@example.com", ISS, &[]);
    common::assert_code(&o, 1);
    assert_eq!(reasons(&v, "signatures"), ["certificate_identity_mismatch"]);
}

// ---- cross-check with @sigstore/verify

/// The layer as a Sigstore bundle v0.1, converted here from cosign's annotation format
/// (independently of pause-verify's own conversion).
fn as_bundle_v01(l: &AttachedLayer) -> Value {
    let b: Value = serde_json::from_str(&l.annotations[BUNDLE]).unwrap();
    let pem = &l.annotations[CERT];
    let der: String = pem
        .lines()
        .filter(|x| !x.starts_with("-----"))
        .collect::<String>();
    let body = STANDARD
        .decode(b["Payload"]["body"].as_str().unwrap())
        .unwrap();
    let body_json: Value = serde_json::from_slice(&body).unwrap();
    json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": {
            "x509CertificateChain": {"certificates": [{"rawBytes": der}]},
            "tlogEntries": [{
                "logIndex": b["Payload"]["logIndex"].to_string(),
                "logId": {"keyId": STANDARD.encode(hex::decode(b["Payload"]["logID"].as_str().unwrap()).unwrap())},
                "kindVersion": {"kind": body_json["kind"], "version": body_json["apiVersion"]},
                "integratedTime": b["Payload"]["integratedTime"].to_string(),
                "inclusionPromise": {"signedEntryTimestamp": b["SignedEntryTimestamp"]},
                "canonicalizedBody": b["Payload"]["body"],
            }],
        },
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": STANDARD.encode(Sha256::digest(&l.payload))},
            "signature": l.annotations[SIG],
        },
    })
}

fn sigstore_js(bundle: &Path, root: &Path, id: &str, artifact: &Path) -> Option<i32> {
    let dir = common::node_modules();
    let has = dir
        .as_ref()
        .is_some_and(|d| d.join("node_modules/@sigstore/verify").is_dir())
        && common::which("node").is_some();
    if !common::need("node with @sigstore/verify (PAUSE_VERIFY_NODE_DIR)", has) {
        return None;
    }
    let o = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keyless_bundle_verify.js"))
        .args([bundle, root])
        .args([id, ISS])
        .arg(artifact)
        .env("NODE_PATH", dir?.join("node_modules"))
        .output()
        .unwrap();
    let code = o.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 1, "{}", common::stderr(&o));
    Some(code)
}

#[test]
fn verdicts_agree_with_sigstore_js() {
    let d = image_digest().to_string();
    let good = sig_payload(&d);
    let Some(p) = generate(vec![
        spec(&good, "leaf", NOW + 30),
        spec(&good, "rogue", NOW + 30),
        spec(&good, "leaf", NOW + 900),
        json!({"payload": STANDARD.encode(&good), "cert": "leaf2", "t": NOW + 30,
               "logIndex": 3, "entryFor": {"cert": "leaf", "payload": STANDARD.encode(&good)}}),
    ]) else {
        return;
    };
    let base = p.tmp.path();
    let l = &p.layers;
    let cases: Vec<(&str, AttachedLayer, &str, bool)> = vec![
        ("accept", l[0].clone(), ID, true),
        ("wrong identity", l[0].clone(), "someone@example.com", false),
        (
            "set flipped",
            edit_bundle(&l[0], |b| {
                let s = flip_b64(b["SignedEntryTimestamp"].as_str().unwrap());
                b["SignedEntryTimestamp"] = s.into();
            }),
            ID,
            false,
        ),
        (
            "signature flipped",
            set_annotation(&l[0], SIG, flip_b64(&l[0].annotations[SIG])),
            ID,
            false,
        ),
        ("untrusted ca", l[1].clone(), ID, false),
        ("expired at integration", l[2].clone(), ID, false),
        ("entry of another signature", l[3].clone(), ID, false),
    ];
    let artifact = base.join("payload.json");
    for (i, (name, layer, id, accept)) in cases.into_iter().enumerate() {
        let dir = layout(
            base,
            &format!("case{i}"),
            false,
            std::slice::from_ref(&layer),
        );
        let (o, _) = verify(&format!("oci:{}", dir.display()), &p.root, id, ISS, &[]);
        let ours = o.status.code().unwrap();
        let bundle = base.join(format!("case{i}.sigstore.json"));
        std::fs::write(&bundle, serde_json::to_vec(&as_bundle_v01(&layer)).unwrap()).unwrap();
        std::fs::write(&artifact, &layer.payload).unwrap();
        let Some(theirs) = sigstore_js(&bundle, &p.root, id, &artifact) else {
            return;
        };
        assert_eq!(ours, if accept { 0 } else { 1 }, "{name}: pause-verify");
        assert_eq!(theirs, ours, "{name}: @sigstore/verify disagrees");
        // The same bundle through verify-bundle agrees too.
        let o = common::pv([
            "verify-bundle",
            "--bundle",
            bundle.to_str().unwrap(),
            "--artifact",
            artifact.to_str().unwrap(),
            "--trusted-root",
            p.root.to_str().unwrap(),
            "--certificate-identity",
            id,
            "--certificate-oidc-issuer",
            ISS,
        ]);
        assert_eq!(o.status.code(), Some(ours), "{name}: verify-bundle");
    }
}

// ---- audit

#[test]
fn audit_keyless_signature_passes_for_a_legacy_sig() {
    let tmp = tempfile::tempdir().unwrap();
    let layout_dir = tmp.path().join("img");
    common::assert_code(
        &common::pv([
            "fixture",
            "nanoserver",
            "--out",
            layout_dir.to_str().unwrap(),
        ]),
        0,
    );
    let root = common::images::root_digest(&layout_dir);
    let Some(p) = generate(vec![spec(&sig_payload(&root), "leaf", NOW + 10)]) else {
        return;
    };
    let d: Digest = root.parse().unwrap();
    attach(&layout_dir, storage::sig_tag(&d), &p.layers);
    let policy = p.tmp.path().join("policy.toml");
    let audit = |subject: &str| {
        std::fs::write(
            &policy,
            format!(
                "version = 1\n[signatures]\ntrusted_root = {:?}\n[[signatures.identities]]\nissuer = {ISS:?}\nsubject = {subject:?}\n[rebuild]\nrequired = false\n",
                p.root.display().to_string()
            ),
        )
        .unwrap();
        let o = common::pv([
            "--json",
            "audit",
            "--image",
            &format!("oci:{}", layout_dir.display()),
            "--policy",
            policy.to_str().unwrap(),
        ]);
        let doc: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", common::stderr(&o)));
        let c = doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "keyless-signature")
            .cloned()
            .unwrap();
        (o, c)
    };
    let (o, c) = audit(ID);
    assert_eq!(c["status"], "PASS", "{c}");
    assert!(c["message"].as_str().unwrap().contains(ID), "{c}");
    // Nothing else in this policy can fail: the whole gate passes.
    common::assert_code(&o, 0);
    let (o, c) = audit("someone@example.com");
    assert_eq!(c["status"], "FAIL", "{c}");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("certificate_identity_mismatch"),
        "{c}"
    );
    common::assert_code(&o, 1);

    // The same signer given on the command line instead of in the policy.
    std::fs::write(&policy, "version = 1\n[rebuild]\nrequired = false\n").unwrap();
    let image = format!("oci:{}", layout_dir.display());
    let root_file = p.root.display().to_string();
    let audit_cli = |flags: &[&str]| {
        let mut args = vec![
            "--json",
            "audit",
            "--image",
            &image,
            "--policy",
            policy.to_str().unwrap(),
            "--trusted-root",
            &root_file,
        ];
        args.extend_from_slice(flags);
        common::pv(args)
    };
    let keyless_check = |o: &Output| {
        let doc: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", common::stderr(o)));
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "keyless-signature")
            .cloned()
            .unwrap()
    };
    let o = audit_cli(&[
        "--certificate-identity",
        ID,
        "--certificate-oidc-issuer",
        ISS,
    ]);
    assert_eq!(
        keyless_check(&o)["status"],
        "PASS",
        "{}",
        common::stderr(&o)
    );
    common::assert_code(&o, 0);
    let o = audit_cli(&[
        "--certificate-identity-regexp",
        "someone@.*",
        "--certificate-oidc-issuer",
        ISS,
    ]);
    let c = keyless_check(&o);
    assert_eq!(c["status"], "FAIL");
    // The signer is named by its expression, not by an empty subject.
    assert!(
        c["message"].as_str().unwrap().contains("/someone@.*/ from"),
        "{c}"
    );
    common::assert_code(&o, 1);
    // An issuer without an identity is a usage error, not a silent "no keyless signer".
    let o = audit_cli(&["--certificate-oidc-issuer", ISS]);
    common::assert_code(&o, 2);
    assert!(common::stderr(&o).contains("--certificate-identity"));
}

/// A keyed `.sig` layer (our own key) with the trusted root given: its Rekor bundle
/// annotation is evidence to verify, refused when tampered or missing unless
/// `--insecure-ignore-tlog`, which the report records.
#[test]
fn keyed_sig_layers_have_their_rekor_evidence_verified() {
    use pause_verify::attest::PrivateKey;
    let d = image_digest().to_string();
    let good = sig_payload(&d);
    let Some(p) = generate(vec![spec(&good, "leaf", NOW + 100)]) else {
        return;
    };
    let base = p.tmp.path();
    let key = PrivateKey::generate().unwrap();
    let pub_path = base.join("k.pub");
    std::fs::write(&pub_path, key.public_key().to_pem()).unwrap();
    let root: Value = serde_json::from_slice(&std::fs::read(&p.root).unwrap()).unwrap();
    let log_id = hex::encode(
        STANDARD
            .decode(root["tlogs"][0]["logId"]["keyId"].as_str().unwrap())
            .unwrap(),
    );
    let plain = AttachedLayer {
        media_type: "application/vnd.dev.cosign.simplesigning.v1+json".into(),
        payload: good.clone(),
        annotations: [(SIG.to_string(), STANDARD.encode(key.sign(&good)))]
            .into_iter()
            .collect(),
    };
    let garbage = json!({"SignedEntryTimestamp": STANDARD.encode(b"garbage"),
        "Payload": {"body": STANDARD.encode(b"{}"), "integratedTime": NOW + 100,
                    "logIndex": 1, "logID": log_id}})
    .to_string();
    let tampered = set_annotation(&plain, BUNDLE, garbage);
    let run = |name: &str, layer: &AttachedLayer, extra: &[&str]| {
        let dir = layout(base, name, false, std::slice::from_ref(layer));
        let image = format!("oci:{}", dir.display());
        let mut args = vec![
            "verify",
            "--json",
            "--key",
            pub_path.to_str().unwrap(),
            "--trusted-root",
            p.root.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.push(&image);
        let o = common::pv(args);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        (o, v)
    };
    // Without a trusted root the key alone decides, as before.
    let dir = layout(base, "no-root", false, std::slice::from_ref(&tampered));
    let o = common::pv([
        "verify",
        "--key",
        pub_path.to_str().unwrap(),
        &format!("oci:{}", dir.display()),
    ]);
    common::assert_code(&o, 0);
    // With it: the garbage SET, and a missing entry, are refused.
    let (o, v) = run("tampered", &tampered, &[]);
    common::assert_code(&o, 1);
    assert_eq!(reasons(&v, "signatures"), ["bad_set"], "{v}");
    let (o, v) = run("no-entry", &plain, &[]);
    common::assert_code(&o, 1);
    assert_eq!(reasons(&v, "signatures"), ["bad_tlog_entry"], "{v}");
    // --insecure-ignore-tlog: accepted, and said.
    for (name, layer) in [
        ("tampered-ignored", &tampered),
        ("no-entry-ignored", &plain),
    ] {
        let (o, v) = run(name, layer, &["--insecure-ignore-tlog"]);
        common::assert_code(&o, 0);
        assert_eq!(
            v["subjects"][0]["signatures"][0]["detail"]["transparency"]["tlogIgnored"], true,
            "{v}"
        );
        assert!(common::stderr(&o).contains("--insecure-ignore-tlog"));
    }
}

/// A P-384 Fulcio leaf (signing with SHA-384) verifies; the chain annotation serves as
/// untrusted intermediates: a leaf issued by an intermediate the trusted root does not
/// list verifies when the annotation carries it, and not without.
#[test]
fn p384_leaves_and_chain_annotations_as_intermediates() {
    let d = image_digest().to_string();
    let good = sig_payload(&d);
    let Some(p) = generate(vec![
        spec(&good, "leaf384", NOW + 100),
        spec(&good, "leaf-inter2", NOW + 100),
        json!({"payload": STANDARD.encode(&good), "cert": "leaf-inter2", "t": NOW + 100,
               "logIndex": 3, "noChain": true}),
    ]) else {
        return;
    };
    let base = p.tmp.path();
    for (i, name, code) in [
        (0, "p384", "verified"),
        (1, "inter2-with-chain", "verified"),
        (2, "inter2-without-chain", "untrusted_certificate"),
    ] {
        let dir = layout(base, name, false, &p.layers[i..i + 1]);
        let (o, v) = verify(&format!("oci:{}", dir.display()), &p.root, ID, ISS, &[]);
        assert_eq!(reasons(&v, "signatures"), [code], "{name}: {v}");
        common::assert_code(&o, if code == "verified" { 0 } else { 1 });
    }
}
