//! What we write verifies elsewhere: key files with an independent Python decryptor
//! (hashlib.scrypt + PyNaCl + cryptography), DSSE envelopes with securesystemslib, keyed
//! Sigstore bundles with @sigstore/verify. Each peer is also shown to reject a tampered
//! copy, so a peer that accepts everything would fail these tests.

use crate::common;

use pause_verify::attest::bundle::{self, sign_message_bundle, sign_statement_bundle};
use pause_verify::attest::dsse;
use pause_verify::attest::keys::PrivateKey;
use pause_verify::attest::statement::{self, EditOp, LayerRecord, ProvenanceInput, RegistryEdit};
use pause_verify::image::Digest;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A key pair made by the real binary, loaded back.
fn generated_key(dir: &Path) -> (PrivateKey, PathBuf, PathBuf) {
    let prefix = dir.join("k");
    let out = Command::new(common::bin())
        .args(["generate-key-pair", "--output-key-prefix"])
        .arg(&prefix)
        .env("COSIGN_PASSWORD", "s3cret")
        .output()
        .unwrap();
    common::assert_code(&out, 0);
    let key_path = dir.join("k.key");
    let pub_path = dir.join("k.pub");
    let key =
        PrivateKey::from_encrypted_pem(&std::fs::read(&key_path).unwrap(), b"s3cret").unwrap();
    (key, key_path, pub_path)
}

fn python_ok(modules: &[&str]) -> bool {
    common::need(
        &format!("Python with {modules:?} (PAUSE_VERIFY_PYTHON)"),
        common::python_has(modules),
    )
}

fn py(script: &str, args: &[&Path]) -> Output {
    Command::new(common::python())
        .arg(manifest_dir().join("tests").join(script))
        .args(args)
        .output()
        .unwrap()
}

fn provenance_statement(subject: &Digest) -> statement::Statement {
    statement::provenance(&ProvenanceInput {
        recipe_name: "windows-pause-image-base".into(),
        recipe_digest: Digest::of(b"recipe"),
        recipe_files: vec![("Dockerfile".into(), Digest::of(b"Dockerfile"))],
        base_ref: "docker://mcr.microsoft.com/windows/nanoserver:ltsc2022".into(),
        base_digest: Digest::of(b"base"),
        platform: "windows/amd64:10.0.20348.2849".into(),
        edits: vec![RegistryEdit {
            hive: "HKLM\\SOFTWARE".into(),
            key: "Microsoft\\ole".into(),
            value: Some("EnableDCOM".into()),
            type_: Some("REG_SZ".into()),
            data: Some(serde_json::json!("N")),
            op: EditOp::Set,
        }],
        layers: vec![LayerRecord {
            digest: Digest::of(b"l"),
            diff_id: Digest::of(b"u"),
        }],
        compressor: "gzip".into(),
        level: 9,
        subject_name: "oci:out".into(),
        subject_digest: subject.clone(),
        started_on: None,
        finished_on: None,
    })
}

#[test]
fn generated_key_file_decrypts_with_independent_python_code() {
    if !python_ok(&["nacl", "cryptography"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (_, key_path, pub_path) = generated_key(tmp.path());
    let out = Command::new(common::python())
        .arg(manifest_dir().join("tests/attest_key_decrypt.py"))
        .arg(&key_path)
        .arg("s3cret")
        .arg(&pub_path)
        .output()
        .unwrap();
    common::assert_code(&out, 0);
    assert_eq!(
        common::stdout(&out).trim(),
        "N=65536 r=8 p=1 curve=secp256r1"
    );
    // Wrong password: PyNaCl's authentication fails too.
    let bad = Command::new(common::python())
        .arg(manifest_dir().join("tests/attest_key_decrypt.py"))
        .arg(&key_path)
        .arg("wrong")
        .arg(&pub_path)
        .output()
        .unwrap();
    assert_ne!(bad.status.code(), Some(0));
}

#[test]
fn dsse_envelopes_verify_with_securesystemslib() {
    if !python_ok(&["securesystemslib", "cryptography"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (key, _, pub_path) = generated_key(tmp.path());
    let subject = Digest::of(b"image");
    let env = dsse::sign_statement(&provenance_statement(&subject), &key);
    let good = tmp.path().join("good.json");
    std::fs::write(&good, env.to_json()).unwrap();
    let out = py("attest_dsse_verify.py", &[&pub_path, &good]);
    common::assert_code(&out, 0);
    assert!(common::stdout(&out).contains("payloadType=application/vnd.in-toto+json"));

    // Negative control: one payload byte changed.
    let mut t = env.clone();
    if let Some(b) = t.payload.last_mut() {
        *b ^= 0x01;
    }
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, t.to_json()).unwrap();
    let out = py("attest_dsse_verify.py", &[&pub_path, &bad]);
    common::assert_code(&out, 1);
}

fn node(args: &[&Path]) -> Option<Output> {
    let dir = common::node_modules();
    let has = dir
        .as_ref()
        .is_some_and(|d| d.join("node_modules/@sigstore/verify").is_dir())
        && common::which("node").is_some();
    if !common::need("node with @sigstore/verify (PAUSE_VERIFY_NODE_DIR)", has) {
        return None;
    }
    let dir = dir?;
    Some(
        Command::new("node")
            .arg(manifest_dir().join("tests/attest_bundle_verify.js"))
            .args(args)
            .env("NODE_PATH", dir.join("node_modules"))
            .output()
            .unwrap(),
    )
}

#[test]
fn keyed_bundles_verify_with_sigstore_js() {
    let tmp = tempfile::tempdir().unwrap();
    let (key, _, pub_path) = generated_key(tmp.path());
    let other_prefix = tmp.path().join("other");
    std::fs::create_dir(&other_prefix).unwrap();
    let (_, _, other_pub) = generated_key(&other_prefix);
    let subject = Digest::of(b"image");

    // DSSE content.
    let b = sign_statement_bundle(&provenance_statement(&subject), &key);
    let dsse_path = tmp.path().join("dsse.sigstore.json");
    std::fs::write(&dsse_path, &b).unwrap();
    let Some(out) = node(&[&dsse_path, &pub_path]) else {
        return;
    };
    common::assert_code(&out, 0);
    // The image-signature form (cosign v3's statement).
    let sig = sign_statement_bundle(
        &bundle::image_signature_statement("example.com/pause", &subject),
        &key,
    );
    let sig_path = tmp.path().join("sig.sigstore.json");
    std::fs::write(&sig_path, &sig).unwrap();
    common::assert_code(&node(&[&sig_path, &pub_path]).unwrap(), 0);

    // messageSignature content over a blob.
    let blob = tmp.path().join("blob.txt");
    std::fs::write(&blob, b"hello, sigstore\n").unwrap();
    let m = sign_message_bundle(b"hello, sigstore\n", &key);
    let msg_path = tmp.path().join("msg.sigstore.json");
    std::fs::write(&msg_path, &m).unwrap();
    common::assert_code(&node(&[&msg_path, &pub_path, &blob]).unwrap(), 0);

    // Negative controls: another key (hint not found), another blob, a flipped payload.
    common::assert_code(&node(&[&dsse_path, &other_pub]).unwrap(), 1);
    let other_blob = tmp.path().join("other.txt");
    std::fs::write(&other_blob, b"hello, sigstore!\n").unwrap();
    common::assert_code(&node(&[&msg_path, &pub_path, &other_blob]).unwrap(), 1);
    let mut v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    let mut env =
        dsse::Envelope::from_json(&serde_json::to_vec(&v["dsseEnvelope"]).unwrap()).unwrap();
    env.payload[0] ^= 1;
    v["dsseEnvelope"]["payload"] =
        serde_json::from_slice::<serde_json::Value>(&env.to_json()).unwrap()["payload"].clone();
    let tampered = tmp.path().join("tampered.sigstore.json");
    std::fs::write(&tampered, serde_json::to_vec(&v).unwrap()).unwrap();
    common::assert_code(&node(&[&tampered, &pub_path]).unwrap(), 1);
}
