//! `pause-verify generate-key-pair`, end to end through the binary.

use crate::common;

use pause_verify::attest::keys::{PrivateKey, PublicKey};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};

fn keygen(dir: &std::path::Path, extra: &[&str], password: Option<&str>) -> Output {
    let mut c = Command::new(common::bin());
    c.current_dir(dir).arg("generate-key-pair").args(extra);
    c.env_remove("COSIGN_PASSWORD").stdin(Stdio::null());
    if let Some(p) = password {
        c.env("COSIGN_PASSWORD", p);
    }
    c.output().unwrap()
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn writes_both_files_with_modes_and_the_key_loads_back_and_signs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = keygen(tmp.path(), &["--json"], Some("pw"));
    common::assert_code(&out, 0);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["kind"], "generate-key-pair");
    assert_eq!(doc["schemaVersion"], "1");
    let key_path = tmp.path().join("cosign.key");
    let pub_path = tmp.path().join("cosign.pub");
    assert_eq!(mode(&key_path), 0o600);
    assert_eq!(mode(&pub_path), 0o644);
    let key_pem = std::fs::read(&key_path).unwrap();
    assert!(key_pem.starts_with(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
    assert!(!key_pem.contains(&b'\r'));
    let key = PrivateKey::from_encrypted_pem(&key_pem, b"pw").unwrap();
    let public = PublicKey::from_pem(&std::fs::read(&pub_path).unwrap()).unwrap();
    assert_eq!(key.public_key(), public);
    assert_eq!(doc["publicKeyHint"], public.hint());
    public.verify(b"m", &key.sign(b"m")).unwrap();
    // No temp files left behind.
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn never_overwrites_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    common::assert_code(
        &keygen(tmp.path(), &["--output-key-prefix", "release"], Some("")),
        0,
    );
    let before = std::fs::read(tmp.path().join("release.key")).unwrap();
    let again = keygen(tmp.path(), &["--output-key-prefix", "release"], Some(""));
    common::assert_code(&again, 2);
    assert!(
        common::stderr(&again).contains("--force"),
        "{}",
        common::stderr(&again)
    );
    assert_eq!(
        std::fs::read(tmp.path().join("release.key")).unwrap(),
        before
    );
    // Only the .pub present still blocks, and the .key is not created.
    let t2 = tempfile::tempdir().unwrap();
    std::fs::write(t2.path().join("cosign.pub"), b"mine").unwrap();
    common::assert_code(&keygen(t2.path(), &[], Some("")), 2);
    assert!(!t2.path().join("cosign.key").exists());
    assert_eq!(
        std::fs::read(t2.path().join("cosign.pub")).unwrap(),
        b"mine"
    );
    // --force replaces both.
    common::assert_code(
        &keygen(
            tmp.path(),
            &["--output-key-prefix", "release", "--force"],
            Some(""),
        ),
        0,
    );
    let after = std::fs::read(tmp.path().join("release.key")).unwrap();
    assert_ne!(after, before);
    PrivateKey::from_encrypted_pem(&after, b"").unwrap();
}

#[test]
fn no_password_source_is_a_clear_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = keygen(tmp.path(), &[], None);
    common::assert_code(&out, 2);
    assert!(
        common::stderr(&out).contains("COSIGN_PASSWORD"),
        "{}",
        common::stderr(&out)
    );
    assert!(!tmp.path().join("cosign.key").exists());
}
