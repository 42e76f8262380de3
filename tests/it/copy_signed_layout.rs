//! `copy oci:DIR DEST` without a tag on a layout that also holds signatures and
//! attestations (`sha256-….sig`/`.att` tags, bundle referrers): the source is the one
//! image in it, as for sign/verify/audit, never index.json with the attachments as
//! "platforms". A layout with several images is an error naming each.

use crate::common;

use common::images::index;
use common::{Pv, assert_code, stderr};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

const PASSWORD: &str = "copy-signed";

fn pvk(cwd: &Path, args: &[&str]) -> Output {
    Pv::new().cwd(cwd).password(PASSWORD).run(args)
}

#[track_caller]
fn ok(cwd: &Path, args: &[&str]) -> String {
    Pv::new().cwd(cwd).password(PASSWORD).ok(args)
}

#[test]
fn untagged_signed_layout_copies_its_one_image() {
    let t = tempfile::tempdir().unwrap();
    let cwd = t.path();
    ok(
        cwd,
        &[
            "fixture",
            "nanoserver",
            "--out",
            "base",
            "-q",
            "--os-version",
            "10.0.20348.2849",
        ],
    );
    let base = format!(
        "oci:base@{}",
        index(&cwd.join("base"))["manifests"][0]["digest"]
            .as_str()
            .unwrap()
    );
    ok(cwd, &["build", "--base", &base, "--out", "img", "-q"]);
    let image = index(&cwd.join("img"))["manifests"][0].clone();
    let image_digest = image["digest"].as_str().unwrap().to_string();

    ok(cwd, &["generate-key-pair", "--output-key-prefix", "k"]);
    ok(
        cwd,
        &["sign", "-q", "--key", "k.key", "--bundle", "oci:img"],
    );
    std::fs::write(cwd.join("pred.json"), br#"{"buildType":"x"}"#).unwrap();
    ok(
        cwd,
        &[
            "attest",
            "-q",
            "--key",
            "k.key",
            "--predicate",
            "pred.json",
            "--type",
            "https://slsa.dev/provenance/v1",
            "oci:img",
        ],
    );
    let signed = index(&cwd.join("img"));
    let entries = signed["manifests"].as_array().unwrap();
    assert!(
        entries.len() >= 3,
        "image + .sig + .att (+ referrer) listed: {signed}"
    );

    // To a layout: the destination's only entry is the image itself.
    ok(cwd, &["copy", "-q", "oci:img", "oci:dst:v1"]);
    let dst = index(&cwd.join("dst"));
    let listed = dst["manifests"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{dst}");
    assert_eq!(listed[0]["digest"], image_digest.as_str());
    assert_eq!(listed[0]["mediaType"], image["mediaType"]);
    let o = pvk(cwd, &["inspect", "--digests", "oci:dst:v1"]);
    assert_code(&o, 0);

    // To a registry: the tag names the image, not an index of attachments.
    if let Some(host) = common::registry() {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let remote = format!("docker://{host}/pv-copy/signed-{n}:t");
        let out = ok(cwd, &["copy", "-q", "--json", "oci:img", &remote]);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["root"]["digest"], image_digest.as_str(), "{v}");
    }

    // A second (different) image in the layout: untagged is ambiguous, and the error
    // names both.
    ok(
        cwd,
        &[
            "fixture",
            "nanoserver",
            "--out",
            "base2",
            "-q",
            "--no-rpc",
            "--os-version",
            "10.0.20348.2849",
        ],
    );
    let base2 = format!(
        "oci:base2@{}",
        index(&cwd.join("base2"))["manifests"][0]["digest"]
            .as_str()
            .unwrap()
    );
    ok(
        cwd,
        &["build", "--base", &base2, "--out", "oci:img:two", "-q"],
    );
    let o = pvk(cwd, &["copy", "-q", "oci:img", "oci:dst2"]);
    assert_code(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("holds 2 images"), "{err}");
    assert!(err.contains("two"), "{err}");
    assert!(err.contains(&image_digest), "{err}");
    assert!(!cwd.join("dst2").join("index.json").exists());
}
