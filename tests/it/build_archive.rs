//! `pause-verify build --out docker-archive:FILE[:NAME:TAG]`: the archive holds the same
//! image as an OCI-layout build (config bytes, diff_ids), skopeo reads and copies it,
//! two builds give the same bytes, and refused builds leave neither FILE nor staging.

use crate::common;

use common::{assert_code, pv, stderr, stdout};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;

const OS: &str = "10.0.20348.2849";

fn fixture(dir: &Path, os: &[&str]) -> String {
    let mut args = vec![
        "--json".to_string(),
        "fixture".into(),
        "nanoserver".into(),
        "--out".into(),
        dir.display().to_string(),
    ];
    for o in os {
        args.push("--os-version".into());
        args.push(o.to_string());
    }
    let o = pv(&args);
    assert_code(&o, 0);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    v["reference"].as_str().unwrap().to_string()
}

fn build(base: &str, out: &str, extra: &[&str]) -> std::process::Output {
    Command::new(common::bin())
        .args(["--json", "build", "--base", base, "--out", out])
        .args(extra)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap()
}

fn json(o: &std::process::Output) -> Value {
    assert_code(o, 0);
    serde_json::from_str(&stdout(o)).unwrap()
}

fn sha(b: &[u8]) -> String {
    let h: String = Sha256::digest(b)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{h}")
}

/// Every member of a tar, name → bytes (the test archives are a few MiB).
fn members(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut ar = tar::Archive::new(std::fs::File::open(path).unwrap());
    let mut out = BTreeMap::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut v = Vec::new();
        e.read_to_end(&mut v).unwrap();
        out.insert(name, v);
    }
    out
}

#[track_caller]
fn no_leftovers(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let n = e.unwrap().file_name().into_string().unwrap();
        assert!(!n.starts_with(".pause-verify"), "staging left behind: {n}");
    }
}

#[test]
fn archive_holds_the_same_image_and_tools_read_it() {
    let Some(_) = common::need_tool("skopeo") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let base = fixture(&t.path().join("base"), &[OS]);

    // The same build into an OCI layout: its config and diff_ids are the reference.
    let layout = t.path().join("layout");
    let b = json(&build(&base, layout.to_str().unwrap(), &[]));
    let oci_ref = b["output"].as_str().unwrap().to_string();
    let oci = json(&pv(["--json", "inspect", &oci_ref]));
    let want: Vec<String> = oci["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["diffIdExpected"].as_str().unwrap().to_string())
        .collect();
    assert!(want.len() >= 2, "base layer + built layers: {want:?}");
    let config_digest = oci["config"]["digest"].as_str().unwrap().to_string();

    let outs = t.path().join("outs");
    std::fs::create_dir(&outs).unwrap();
    let file = outs.join("pause.tar");
    let out = format!("docker-archive:{}:pause:test", file.display());
    let a = json(&build(&base, &out, &[]));
    assert_eq!(a["output"], out.as_str());
    assert_eq!(a["root"]["digest"], b["root"]["digest"], "same build");
    no_leftovers(&outs);

    // (1) our reader: same diff_ids, each verified against the layer's content.
    let ins = json(&pv([
        "--json",
        "inspect",
        "--diff-ids",
        &format!("docker-archive:{}", file.display()),
    ]));
    let got: Vec<String> = ins["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(l["diffIdStatus"], "verified", "{l}");
            l["diffId"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(ins["config"]["digest"], config_digest.as_str());

    // The members themselves, hashed here: names are digests of their bytes, the config
    // is the OCI build's config byte for byte, manifest.json lists them in order.
    let m = members(&file);
    let mj: Value = serde_json::from_slice(&m["manifest.json"]).unwrap();
    assert_eq!(mj.as_array().unwrap().len(), 1);
    assert_eq!(mj[0]["RepoTags"], serde_json::json!(["pause:test"]));
    let cfg_name = mj[0]["Config"].as_str().unwrap();
    assert_eq!(
        format!("sha256:{}", cfg_name.strip_suffix(".json").unwrap()),
        config_digest
    );
    assert_eq!(
        m[cfg_name],
        std::fs::read(
            layout
                .join("blobs/sha256")
                .join(config_digest.strip_prefix("sha256:").unwrap())
        )
        .unwrap()
    );
    let names: Vec<&str> = mj[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(names.len(), want.len());
    for (n, w) in names.iter().zip(&want) {
        assert_eq!(&sha(&m[*n]), w, "{n}");
        assert_eq!(format!("sha256:{}", n.strip_suffix(".tar").unwrap()), *w);
    }
    assert_eq!(m.len(), 2 + names.len(), "nothing else in the archive");

    // (2) skopeo inspect: the layers (uncompressed) are the diff_ids.
    let o = Command::new("skopeo")
        .args(["inspect", &format!("docker-archive:{}", file.display())])
        .output()
        .unwrap();
    assert_code(&o, 0);
    let s: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let sl: Vec<String> = s["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(sl, want);
    assert_eq!(s["Os"], "windows");

    // (3) skopeo copy to an OCI layout (skopeo rewrites the config as OCI): same diff_ids.
    let other = t.path().join("other");
    let o = Command::new("skopeo")
        .args([
            "copy",
            &format!("docker-archive:{}:pause:test", file.display()),
            &format!("oci:{}:t", other.display()),
        ])
        .output()
        .unwrap();
    assert_code(&o, 0);
    let c = json(&pv([
        "--json",
        "inspect",
        "--diff-ids",
        &format!("oci:{}:t", other.display()),
    ]));
    let copied: Vec<String> = c["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(l["diffIdStatus"], "verified", "{l}");
            l["diffId"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(copied, want);

    // (4) a second build, into another directory, gives the same bytes.
    let file2 = t.path().join("again.tar");
    json(&build(
        &base,
        &format!("docker-archive:{}:pause:test", file2.display()),
        &[],
    ));
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(&file2).unwrap()
    );
}

#[test]
fn refused_archive_builds_leave_nothing() {
    let t = tempfile::tempdir().unwrap();
    let multi = fixture(&t.path().join("multi"), &[OS, "10.0.17763.3887"]);
    let single = fixture(&t.path().join("single"), &[OS]);
    let outs = t.path().join("outs");
    std::fs::create_dir(&outs).unwrap();
    let file = outs.join("x.tar");
    let out = format!("docker-archive:{}:pause:test", file.display());

    // (5) a multi-platform base without --platform.
    let o = build(&multi, &out, &[]);
    assert_code(&o, 2);
    let e = stderr(&o);
    assert!(e.contains("--platform") && e.contains("one image"), "{e}");
    assert!(!file.exists());
    no_leftovers(&outs);

    // ... and with --platform it builds that one.
    let o = build(&multi, &out, &["--platform", "windows/amd64:10.0.17763"]);
    let v = json(&o);
    assert_eq!(v["builds"].as_array().unwrap().len(), 1);
    assert!(file.exists());
    std::fs::remove_file(&file).unwrap();

    // --no-base-layers cannot fill an archive.
    let o = build(&single, &out, &["--no-base-layers"]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("--no-base-layers"), "{}", stderr(&o));
    assert!(!file.exists());

    // A bad recipe fails during the build: no FILE, no staging layout.
    let recipe = t.path().join("recipe");
    std::fs::create_dir(&recipe).unwrap();
    std::fs::write(recipe.join("Dockerfile"), "FROM x\nFROBNICATE\n").unwrap();
    let o = build(&single, &out, &["--recipe", recipe.to_str().unwrap()]);
    assert_code(&o, 2);
    assert!(!file.exists());
    no_leftovers(&outs);

    // An @N selector makes no sense for an output.
    let o = build(
        &single,
        &format!("docker-archive:{}:@0", file.display()),
        &[],
    );
    assert_code(&o, 2);
    assert!(stderr(&o).contains("NAME:TAG"), "{}", stderr(&o));
    assert!(!file.exists());
    no_leftovers(&outs);
}

/// D2: a docker-archive carries its layers uncompressed, so its base layer's digest is
/// the base's diff_id, not the pinned (gzip) layer digest. `rebuild` pairs it by diff_id:
/// SAME_CONTENT with the reason named, never a false "base mismatch". An archive whose
/// base layer is another tar still fails the base check.
#[test]
fn rebuilding_a_docker_archive_pairs_the_base_by_diff_id() {
    let t = tempfile::tempdir().unwrap();
    let base = fixture(&t.path().join("base"), &[OS]);
    let file = t.path().join("pause.tar");
    json(&build(
        &base,
        &format!("docker-archive:{}", file.display()),
        &[],
    ));
    let rebuild = |image: &str| pv(["--json", "rebuild", "-q", "--image", image, "--base", &base]);
    let o = rebuild(&format!("docker-archive:{}", file.display()));
    let v = json(&o);
    assert_eq!(v["verdict"], "SAME_CONTENT", "{v}");
    let p = &v["platforms"][0];
    assert_eq!(p["base"]["ok"], true, "{p}");
    let reasons = p["reasons"].to_string();
    assert!(reasons.contains("paired by diff_id"), "{reasons}");
    assert!(!reasons.contains("base mismatch"), "{reasons}");

    // Another base (no ole key: another base layer tar) built into an archive, rebuilt
    // against the first base: the diff_ids differ, so the base check fails.
    let other = t.path().join("other");
    let o = pv([
        "--json",
        "fixture",
        "nanoserver",
        "--out",
        other.to_str().unwrap(),
        "--os-version",
        OS,
        "--no-ole",
    ]);
    assert_code(&o, 0);
    let other_ref = serde_json::from_str::<Value>(&stdout(&o)).unwrap()["reference"]
        .as_str()
        .unwrap()
        .to_string();
    let bad = t.path().join("other.tar");
    json(&build(
        &other_ref,
        &format!("docker-archive:{}", bad.display()),
        &[],
    ));
    let o = rebuild(&format!("docker-archive:{}", bad.display()));
    assert_code(&o, 1);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["verdict"], "DIFFERENT");
    assert!(
        v["platforms"][0]["reasons"]
            .to_string()
            .contains("base mismatch"),
        "{v}"
    );
}
