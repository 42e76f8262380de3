//! scripts/own-image.sh: the tool's own OCI image is assembled byte-identically twice,
//! signed with a SLSA provenance, verified and audited by pause-verify itself
//! (deploy/own-image/policy.toml); a tampered copy fails. The test assembles it around
//! the debug binary (`--allow-dynamic`): the static release binary takes a release build
//! (docs/release-gate.md, section 8, has the figures of that run).

use crate::common;
use common::{Pv, assert_code, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const PASSWORD: &str = "own-image";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn manifest_digest(layout: &Path) -> String {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn own_image_is_reproducible_signed_and_verified_and_a_tampered_copy_fails() {
    if common::need_tool("python3").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (key, _other) = common::audit::signer_and_other_keys(root, PASSWORD);
    let out = root.join("img");
    let o = Command::new(repo().join("scripts/own-image.sh"))
        .args(["--allow-dynamic", "--check", "--tag", "test", "--binary"])
        .arg(common::bin())
        .arg("--out")
        .arg(&out)
        .arg("--key")
        .arg(&key)
        .env("COSIGN_PASSWORD", PASSWORD)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("PAUSE_VERIFY_NO_CACHE", "1")
        .output()
        .unwrap();
    assert_code(&o, 0);
    let text = stdout(&o);
    let digest = manifest_digest(&out);
    assert!(
        text.contains(&format!("reproducible: built twice, both {digest}")),
        "{text}"
    );
    assert!(text.contains("VERIFIED"), "{text}");
    assert!(text.contains("PASS: every required check passed"), "{text}");
    let image = format!("oci:{}:test", out.display());
    let policy = repo().join("deploy/own-image/policy.toml");
    let pv = || Pv::new().cwd(root);
    let audit = |img: &str, k: &str| {
        pv().run([
            "audit",
            "--image",
            img,
            "--key",
            k,
            "--policy",
            policy.to_str().unwrap(),
        ])
    };
    assert_code(&audit(&image, "signer.pub"), 0);
    // Another key: the signature and provenance do not count.
    assert_code(&audit(&image, "other.pub"), 1);

    // A tampered manifest (one annotation changed, index.json pointed at it): the
    // signature covers the old digest only.
    let copy = root.join("tampered");
    let o = Command::new("cp")
        .arg("-a")
        .arg(&out)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(o.success());
    let blobs = copy.join("blobs/sha256");
    let raw = std::fs::read(blobs.join(digest.trim_start_matches("sha256:"))).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let evil = text.replace("\"pause-verify\"", "\"pause-verify-evil\"");
    assert_ne!(evil, text);
    let evil_digest = pause_verify::image::Digest::of(evil.as_bytes());
    std::fs::write(blobs.join(evil_digest.hex()), &evil).unwrap();
    let mut index: Value =
        serde_json::from_slice(&std::fs::read(copy.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"] = Value::String(evil_digest.to_string());
    index["manifests"][0]["size"] = Value::from(evil.len());
    std::fs::write(copy.join("index.json"), index.to_string()).unwrap();
    let tampered = format!("oci:{}:test", copy.display());
    let o = pv().run(["verify", "--key", "signer.pub", &tampered]);
    assert_code(&o, 1);
    assert_code(&audit(&tampered, "signer.pub"), 1);

    // A tampered layer blob: every reader that uses the bytes checks them (exit 2).
    let copy2 = root.join("tampered-layer");
    assert!(
        Command::new("cp")
            .arg("-a")
            .arg(&out)
            .arg(&copy2)
            .status()
            .unwrap()
            .success()
    );
    let manifest: Value = serde_json::from_str(&text).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let path = copy2
        .join("blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let o = pv().run([
        "inspect",
        "--digests",
        &format!("oci:{}:test", copy2.display()),
    ]);
    assert_code(&o, 2);
}
