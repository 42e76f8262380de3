//! One meaning per reference (defect D1): after `sign` on an untagged layout, its
//! index.json lists the image and the `.sig` manifest. A bare `oci:DIR` must still be
//! the one image in every command (`image::open`), never index.json itself: inspect,
//! verify, rebuild (and the VSA `rebuild --attest` signs), diff, audit and sign all name
//! the same digest. A layout with two images is an error listing both.

use crate::common;

use common::{assert_code, stderr, stdout};
use pause_verify::attest::dsse::Envelope;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

const PASSWORD: &str = "one-reference-test";
const OSV: &str = "10.0.20348.2849";
const VSA: &str = "https://slsa.dev/verification_summary/v1";

fn pv<I, S>(cwd: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    common::Pv::new()
        .cwd(cwd)
        .password(PASSWORD)
        .env_remove("SOURCE_DATE_EPOCH")
        .run(args)
}

fn json_ok(o: &Output, code: i32) -> Value {
    assert_code(o, code);
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}

fn first_entry(layout: &Path) -> String {
    let idx: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    idx["manifests"][0]["digest"].as_str().unwrap().to_string()
}

#[test]
fn a_signed_untagged_layout_is_the_same_image_in_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let run = |args: &[&str], code: i32| json_ok(&pv(d, args), code);
    assert_code(
        &pv(
            d,
            [
                "fixture",
                "nanoserver",
                "--out",
                "ns",
                "--os-version",
                OSV,
                "-q",
            ],
        ),
        0,
    );
    let base = format!("oci:ns@{}", first_entry(&d.join("ns")));
    assert_code(&pv(d, ["generate-key-pair", "--output-key-prefix", "k"]), 0);
    assert_code(&pv(d, ["build", "--base", &base, "--out", "pb", "-q"]), 0);

    let signed = run(&["sign", "--json", "-q", "--key", "k.key", "oci:pb"], 0);
    let image = signed["digest"].as_str().unwrap().to_string();
    // index.json now lists the image and its .sig manifest; its own digest is not the image.
    let idx = std::fs::read(d.join("pb/index.json")).unwrap();
    let idx_json: Value = serde_json::from_slice(&idx).unwrap();
    assert_eq!(
        idx_json["manifests"].as_array().unwrap().len(),
        2,
        "{idx_json}"
    );
    let index_json_digest = pause_verify::image::Digest::of(&idx).to_string();
    assert_ne!(image, index_json_digest);

    let inspect = run(&["inspect", "--json", "oci:pb"], 0);
    assert_eq!(
        inspect["root"]["digest"],
        image.as_str(),
        "inspect: {inspect}"
    );
    assert_eq!(inspect["reference"], "oci:pb");

    let verify = run(&["verify", "--json", "-q", "--key", "k.pub", "oci:pb"], 0);
    assert_eq!(verify["verified"], true);
    assert_eq!(
        verify["subjects"][0]["digest"],
        image.as_str(),
        "verify: {verify}"
    );

    let rebuild = run(
        &[
            "rebuild",
            "--json",
            "-q",
            "--image",
            "oci:pb",
            "--base",
            &base,
            "--attest",
            "--key",
            "k.key",
            "--attestations-dir",
            "att",
        ],
        0,
    );
    assert_eq!(
        rebuild["published"]["digest"],
        image.as_str(),
        "rebuild: {rebuild}"
    );
    assert_eq!(rebuild["verdict"], "IDENTICAL");
    // The VSA is about the image, not about index.json.
    let hex = image.strip_prefix("sha256:").unwrap();
    let lines = std::fs::read(d.join("att").join(format!("{hex}.intoto.jsonl"))).unwrap();
    let vsas: Vec<Value> = lines
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(&Envelope::from_json(l).unwrap().payload).unwrap())
        .filter(|s: &Value| s["predicateType"] == VSA)
        .collect();
    assert_eq!(vsas.len(), 1, "one VSA for the published image");
    assert_eq!(vsas[0]["subject"][0]["digest"]["sha256"], hex);
    let ixhex = index_json_digest.strip_prefix("sha256:").unwrap();
    assert!(!d.join("att").join(format!("{ixhex}.intoto.jsonl")).exists());

    let diff = run(
        &["diff", "--json", "-q", "oci:pb", &format!("oci:pb@{image}")],
        0,
    );
    assert_eq!(diff["published"]["digest"], image.as_str(), "diff: {diff}");
    assert_eq!(diff["rebuilt"]["digest"], image.as_str(), "diff: {diff}");
    assert_eq!(diff["verdict"], "IDENTICAL");

    let audit = run(
        &[
            "audit", "--json", "-q", "--image", "oci:pb", "--key", "k.pub", "--base", &base,
        ],
        0,
    );
    assert_eq!(audit["image"]["digest"], image.as_str(), "audit: {audit}");
    assert_eq!(audit["passed"], true);

    // Signing again names the same image and adds nothing.
    let again = run(&["sign", "--json", "-q", "--key", "k.key", "oci:pb"], 0);
    assert_eq!(again["digest"], image.as_str());
    assert_eq!(again["stored"][0]["added"], 0);

    // A second image in the layout: a bare oci:DIR is ambiguous, and the error lists both.
    assert_code(&pv(d, ["copy", "-q", &base, "oci:pb:ns"]), 0);
    let o = pv(d, ["inspect", "oci:pb"]);
    assert_code(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("2 images") && err.contains("ns") && err.contains(&image),
        "{err}"
    );
    for cmd in [
        vec!["verify", "-q", "--key", "k.pub", "oci:pb"],
        vec!["sign", "-q", "--key", "k.key", "oci:pb"],
    ] {
        let o = pv(d, &cmd);
        assert_code(&o, 2);
        assert!(stderr(&o).contains("2 images"), "{cmd:?}: {}", stderr(&o));
    }
}
