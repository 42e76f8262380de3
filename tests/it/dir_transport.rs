//! `dir:` (containers/image's directory transport) end to end: containers/image's own
//! signed `dir-img-cosign-*` fixtures verified through `dir:` give the verdicts
//! tests/fixtures/PROVENANCE.md documents; skopeo copies what we write (image and
//! signature files, verified again by us after skopeo's copy) and we read what skopeo
//! writes, layer for layer.

use crate::common;

use common::{assert_code, stderr, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PASSWORD: &str = "dir-transport-test";
const OSV: &str = "10.0.20348.2849";
const SIGNED: &str = "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00";

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

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}

/// A `dir:` image assembled from fixture files: (name in the dir, fixture file).
fn assemble(into: &Path, name: &str, files: &[(&str, PathBuf)]) -> String {
    let d = into.join(name);
    std::fs::create_dir_all(&d).unwrap();
    for (n, f) in files {
        std::fs::copy(f, d.join(n)).unwrap();
    }
    format!("dir:{}", d.display())
}

#[test]
fn containers_image_signed_fixtures_give_their_documented_verdicts() {
    let Some(fx) = common::fixtures() else { return };
    let ci = fx.join("cosign/containers-image");
    let t = tempfile::tempdir().unwrap();
    let key = ci.join("cosign.pub").display().to_string();
    let key2 = ci.join("cosign2.pub").display().to_string();
    let manifest = ci.join("dir-img-cosign-valid/manifest.json");
    let valid = format!("dir:{}", ci.join("dir-img-cosign-valid").display());
    let verify = |image: &str, key: &str| pv(t.path(), ["verify", "--json", "--key", key, image]);

    // dir-img-cosign-valid: VERIFIES with cosign.pub, over the manifest's own digest.
    let o = verify(&valid, &key);
    assert_code(&o, 0);
    let v = json_of(&o);
    assert_eq!(v["subjects"][0]["digest"], SIGNED);
    assert_eq!(v["subjects"][0]["signaturesVerified"], 1);
    assert_eq!(
        v["subjects"][0]["signatures"][0]["detail"]["dockerReference"],
        "192.168.64.2:5000/cosign-signed-single-sample"
    );
    // ... fails with cosign2.pub.
    let o = verify(&valid, &key2);
    assert_code(&o, 1);
    assert_eq!(
        json_of(&o)["subjects"][0]["signatures"][0]["reason"],
        "bad_signature"
    );

    // dir-img-cosign-valid-2/signature-2: a second signature over the same payload,
    // verified as the second file beside the first.
    let two = assemble(
        t.path(),
        "two",
        &[
            ("manifest.json", manifest.clone()),
            ("signature-1", ci.join("dir-img-cosign-valid/signature-1")),
            ("signature-2", ci.join("dir-img-cosign-valid-2/signature-2")),
        ],
    );
    let o = verify(&two, &key);
    assert_code(&o, 0);
    assert_eq!(json_of(&o)["subjects"][0]["signaturesVerified"], 2);

    // dir-img-cosign-modified-manifest: the valid signature does not sign this manifest.
    let modified = assemble(
        t.path(),
        "modified",
        &[
            (
                "manifest.json",
                ci.join("dir-img-cosign-modified-manifest/manifest.json"),
            ),
            ("signature-1", ci.join("dir-img-cosign-valid/signature-1")),
        ],
    );
    let o = verify(&modified, &key);
    assert_code(&o, 1);
    let v = json_of(&o);
    assert_ne!(v["subjects"][0]["digest"], SIGNED);
    assert_eq!(v["verified"], false);

    // dir-img-cosign-other-attachment: not a signature.
    let other = assemble(
        t.path(),
        "other",
        &[
            ("manifest.json", manifest.clone()),
            (
                "signature-1",
                ci.join("dir-img-cosign-other-attachment/signature-1"),
            ),
        ],
    );
    let o = verify(&other, &key);
    assert_code(&o, 1);
    assert_eq!(json_of(&o)["verified"], false);

    // unknown-cosign-key.signature: rejected with both keys.
    let unknown = assemble(
        t.path(),
        "unknown",
        &[
            ("manifest.json", manifest),
            ("signature-1", ci.join("unknown-cosign-key.signature")),
        ],
    );
    for k in [&key, &key2] {
        let o = verify(&unknown, k);
        assert_code(&o, 1);
        assert_eq!(json_of(&o)["verified"], false);
    }

    // A FIFO for manifest.json is refused at once (never blocks), exit 2.
    let fifo = t.path().join("fifo");
    std::fs::create_dir(&fifo).unwrap();
    let made = Command::new("mkfifo")
        .arg(fifo.join("manifest.json"))
        .status()
        .unwrap();
    assert!(made.success());
    let o = pv(t.path(), ["inspect", &format!("dir:{}", fifo.display())]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("FIFO"), "{}", stderr(&o));

    // Not a dir: image at all: a clear error, exit 2.
    let o = pv(
        t.path(),
        [
            "inspect",
            &format!("dir:{}", t.path().join("nope").display()),
        ],
    );
    assert_code(&o, 2);
    assert!(stderr(&o).contains("manifest.json"), "{}", stderr(&o));
}

fn layers(v: &Value) -> Vec<(String, String)> {
    v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["digest"].as_str().unwrap().to_string(),
                l["diffIdExpected"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn skopeo_copies_what_we_write_and_we_read_what_skopeo_writes() {
    let Some(skopeo) = common::need_tool("skopeo") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let ok = |args: &[&str]| {
        let o = pv(d, args);
        assert_code(&o, 0);
        o
    };
    let sk = |args: &[&str]| {
        let o = Command::new(&skopeo)
            .args(["--insecure-policy"])
            .args(args)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(o.status.success(), "skopeo {args:?}: {}", stderr(&o));
    };
    ok(&[
        "fixture",
        "nanoserver",
        "--out",
        "ns",
        "--os-version",
        OSV,
        "-q",
    ]);
    ok(&["generate-key-pair", "--output-key-prefix", "k"]);
    let idx: Value =
        serde_json::from_slice(&std::fs::read(d.join("ns/index.json")).unwrap()).unwrap();
    let base = format!("oci:ns@{}", idx["manifests"][0]["digest"].as_str().unwrap());
    ok(&["build", "--base", &base, "--out", "pb", "-q"]);

    // Ours -> skopeo: one platform into dir:, signed there (signature-1).
    ok(&["copy", "--platform", "windows/amd64", "oci:pb", "dir:ours"]);
    assert_eq!(
        std::fs::read(d.join("ours/version")).unwrap(),
        b"Directory Transport Version: 1.1\n"
    );
    let signed = json_of(&ok(&["sign", "--json", "--key", "k.key", "dir:ours"]));
    assert!(d.join("ours/signature-1").is_file());
    let image = signed["digest"].as_str().unwrap().to_string();
    // skopeo reads it (verifying every blob) and copies it with its signature ...
    sk(&["copy", "dir:ours", "dir:theirs"]);
    // ... and we verify the copy skopeo made.
    let v = json_of(&ok(&["verify", "--json", "--key", "k.pub", "dir:theirs"]));
    assert_eq!(v["subjects"][0]["digest"], image.as_str());
    assert_eq!(v["verified"], true);
    let ours = json_of(&ok(&["inspect", "--json", "dir:ours"]));

    // skopeo -> ours: skopeo converts it into an OCI layout and writes that to dir:.
    sk(&["copy", "--remove-signatures", "dir:ours", "oci:sk:v1"]);
    sk(&["copy", "oci:sk:v1", "dir:skdir"]);
    let theirs = json_of(&ok(&["inspect", "--json", "dir:skdir"]));
    assert_eq!(theirs["transport"], "dir");
    assert_eq!(
        layers(&theirs),
        layers(&ours),
        "same layers, by digest and diff_id"
    );
    // Our dir: holds exactly skopeo's file names for the same image.
    let names = |p: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != "signature-1")
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&d.join("ours")), names(&d.join("theirs")));

    // A list: manifest.json is the list, each instance <hex>.manifest.json; skopeo copies
    // it whole.
    ok(&["copy", "oci:pb", "dir:list"]);
    let list = json_of(&ok(&["inspect", "--json", "dir:list"]));
    let inst = list["manifest"]["digest"].as_str().unwrap();
    assert!(
        d.join("list")
            .join(format!(
                "{}.manifest.json",
                inst.strip_prefix("sha256:").unwrap()
            ))
            .is_file()
    );
    sk(&["copy", "--all", "dir:list", "dir:list2"]);
    let list2 = json_of(&ok(&["inspect", "--json", "dir:list2"]));
    assert_eq!(list2["root"], list["root"]);
    assert_eq!(layers(&list2), layers(&list));

    // Tampering: a flipped byte in a layer is refused by skopeo and by us.
    let (layer, _) = &layers(&ours)[1];
    let p = d.join("ours").join(layer.strip_prefix("sha256:").unwrap());
    let mut b = std::fs::read(&p).unwrap();
    b[0] ^= 1;
    std::fs::write(&p, &b).unwrap();
    let o = pv(d, ["copy", "dir:ours", "oci:bad"]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("digest mismatch"), "{}", stderr(&o));
    assert!(!d.join("bad").exists());
    let o = Command::new(&skopeo)
        .args(["--insecure-policy", "copy", "dir:ours", "dir:bad2"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(!o.status.success());
}
