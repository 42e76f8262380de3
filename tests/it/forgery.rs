//! A PASS that cannot be forged (issue 11), tried as an attacker would, through the real
//! binary: each forgery is planted in an image made by the independent publisher
//! (tests/publish_independent.py `--forge NAME`: Python tarfile + hivex, no pause-verify
//! code) beside the Windows churn it makes anyway, and then
//! - `rebuild` says DIFFERENT (exit 1) naming the planted entry or value, and so does
//!   `rebuild --strict`;
//! - `audit` with the default policy (signed image, `--base`) exits 1, its
//!   `rebuild-verdict` check failing and naming it;
//!
//! while the same publisher's image with only the churn stays EQUIVALENT and passes.
//!
//! `verify` is tried on a built, signed and attested two-platform layout: a changed byte in a
//! platform manifest, a config or a layer, and one FAILED attestation beside a good one,
//! each make it exit 1.

use crate::common;

use common::images::root_ref;
use common::{Pv, assert_code, stderr, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PASSWORD: &str = "forgery";
const PROVENANCE: &str = "https://slsa.dev/provenance/v1";

/// The system Python with python3-hivex (Debian's module is not in venvs).
fn hivex_python() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/bin/python3");
    let ok = Command::new(&p)
        .args(["-c", "import hivex"])
        .output()
        .is_ok_and(|o| o.status.success());
    common::need("python3-hivex (/usr/bin/python3 -c 'import hivex')", ok).then_some(p)
}

struct Rig {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    py: PathBuf,
    /// The synthetic NanoServer, pinned by digest.
    base: String,
    key_pub: PathBuf,
}

impl Rig {
    fn new() -> Option<Rig> {
        let py = hivex_python()?;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        pv(&root).ok(["fixture", "nanoserver", "--out", "base", "-q"]);
        let base = root_ref(&root.join("base"));
        common::audit::signer_and_other_keys(&root, PASSWORD);
        Some(Rig {
            key_pub: root.join("signer.pub"),
            _tmp: tmp,
            root,
            py,
            base,
        })
    }

    /// Publish into `name` with the independent publisher, optionally one forgery.
    fn publish(&self, name: &str, forge: Option<&str>) -> PathBuf {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/publish_independent.py");
        let out = self.root.join(name);
        let mut c = Command::new(&self.py);
        c.arg(&script)
            .arg("--base")
            .arg(self.root.join("base"))
            .arg("--out")
            .arg(&out);
        if let Some(f) = forge {
            c.args(["--forge", f]);
        }
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "publisher failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        out
    }

    /// `rebuild --json` (with `extra`): exit code and the report.
    fn rebuild(&self, image: &Path, extra: &[&str]) -> (i32, Value) {
        let img = format!("oci:{}", image.display());
        let mut args = vec![
            "rebuild", "--image", &img, "--base", &self.base, "--json", "-q",
        ];
        args.extend(extra);
        let o = pv(&self.root).run(&args);
        let v: Value = serde_json::from_str(&stdout(&o))
            .unwrap_or_else(|e| panic!("rebuild --json: {e}\n{}", stderr(&o)));
        (o.status.code().unwrap_or(-1), v)
    }

    /// Sign the image (as a release would), then run the default-policy audit.
    fn audit(&self, image: &Path) -> (i32, Value) {
        let img = format!("oci:{}", image.display());
        pv(&self.root).ok(["sign", "--key", "signer.key", "--recursive", &img]);
        let key = self.key_pub.display().to_string();
        let o = pv(&self.root).run([
            "audit", "--image", &img, "--key", &key, "--base", &self.base, "--json",
        ]);
        let v: Value = serde_json::from_str(&stdout(&o))
            .unwrap_or_else(|e| panic!("audit --json: {e}\n{}", stderr(&o)));
        (o.status.code().unwrap_or(-1), v)
    }
}

fn pv(cwd: &Path) -> Pv {
    Pv::new()
        .cwd(cwd)
        .password(PASSWORD)
        .env("SOURCE_DATE_EPOCH", "1700000000")
}

/// The unexplained changes and the reasons of the (one) platform, as one string.
fn unexplained_text(r: &Value) -> String {
    let p = &r["platforms"][0];
    format!("{} {}", p["unexplained"], p["reasons"])
}

/// Each forgery of the issue, and what the report must name.
const FORGERIES: &[(&str, &[&str])] = &[
    (
        "temp-dotdot",
        &["Files/Windows/Temp/../System32/evil.exe", "'..' component"],
    ),
    (
        "users-dotdot",
        &["Files/Users/ContainerUser/../../Windows/System32/drivers/etc/hosts"],
    ),
    (
        "temp-exe",
        &["Files/Windows/Temp/evil.exe", "PE executable"],
    ),
    ("startup-cmd", &["Startup/evil.cmd", "Startup folder"]),
    ("profile-run", &["ContainerUser/NTUSER.DAT", "Updater"]),
    (
        "service-hive",
        &[
            "Files/Windows/ServiceProfiles/LocalService/NTUSER.DAT",
            "registry hive",
        ],
    ),
    (
        "profile-image-path",
        &["ProfileImagePath", "not the default profile path"],
    ),
    ("nameserver", &["NameServer", "6.6.6.6"]),
    (
        "case-collision",
        &["Files/TOOLS/KeyLight.reg", "case-insensitive collision"],
    ),
    (
        "duplicate",
        &["Files/tools/keylight.reg", "duplicate entry"],
    ),
    (
        "symlink-escape",
        &["Files/Windows/Temp/x", "leaves the layer"],
    ),
    (
        "hardlink-escape",
        &["Files/Windows/Temp/y", "leaves the layer"],
    ),
];

#[test]
fn every_forgery_is_different_and_fails_the_audit() {
    let Some(rig) = Rig::new() else { return };
    for (forge, needles) in FORGERIES {
        let img = rig.publish(forge, Some(forge));
        for strict in [false, true] {
            let extra: &[&str] = if strict { &["--strict"] } else { &[] };
            let (code, r) = rig.rebuild(&img, extra);
            assert_eq!(code, 1, "{forge} strict={strict}: {r:#}");
            assert_eq!(r["verdict"], "DIFFERENT", "{forge} strict={strict}");
            let text = unexplained_text(&r);
            for n in *needles {
                assert!(
                    text.contains(n),
                    "{forge} strict={strict}: {n:?} not named in {text}"
                );
            }
        }
        let (code, a) = rig.audit(&img);
        assert_eq!(code, 1, "{forge}: audit {a:#}");
        let failed = common::audit::failed_checks(&a);
        assert!(
            failed.iter().any(|(id, _)| id == "rebuild-verdict"),
            "{forge}: {failed:?}"
        );
        let checks = a["checks"].to_string();
        assert!(
            checks.contains(needles[0]),
            "{forge}: audit does not name {:?}: {checks}",
            needles[0]
        );
    }
}

#[test]
fn real_churn_stays_equivalent_and_the_published_base_is_hashed() {
    let Some(rig) = Rig::new() else { return };
    let good = rig.publish("good", None);
    let (code, r) = rig.rebuild(&good, &[]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["verdict"], "EQUIVALENT");
    assert_eq!(r["noiseRulesVersion"], "3");
    let noise = r["platforms"][0]["noise"].to_string();
    for rule in ["file-event-logs", "file-user-profiles", "sys-container-id"] {
        assert!(noise.contains(rule), "{rule} not used: {noise}");
    }
    // --strict still refuses the churn.
    let (code, _) = rig.rebuild(&good, &["--strict"]);
    assert_eq!(code, 1);
    let (code, a) = rig.audit(&good);
    assert_eq!(code, 0, "{a:#}");

    // One flipped byte in the published copy of the NanoServer layer: same digests in
    // manifest and config, other bytes. Hashed now: a base mismatch.
    let flipped = rig.publish("flipped", None);
    let ix: Value =
        serde_json::from_slice(&std::fs::read(flipped.join("index.json")).unwrap()).unwrap();
    let blob = |d: &str| flipped.join("blobs/sha256").join(&d["sha256:".len()..]);
    let list: Value = serde_json::from_slice(
        &std::fs::read(blob(ix["manifests"][0]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let m: Value = serde_json::from_slice(
        &std::fs::read(blob(list["manifests"][0]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let layer0 = m["layers"][0]["digest"].as_str().unwrap().to_string();
    flip_byte(&blob(&layer0));
    for strict in [false, true] {
        let extra: &[&str] = if strict { &["--strict"] } else { &[] };
        let (code, r) = rig.rebuild(&flipped, extra);
        assert_eq!(code, 1, "{r:#}");
        let p = &r["platforms"][0];
        assert_eq!(p["verdict"], "DIFFERENT");
        assert_eq!(p["base"]["ok"], false);
        assert_eq!(p["base"]["layers"][0]["ok"], false);
        let reason = p["base"]["reason"].as_str().unwrap();
        assert!(
            reason.contains("published base layer 0") && reason.contains(&layer0),
            "{reason}"
        );
    }
    let (code, a) = rig.audit(&flipped);
    assert_eq!(code, 1, "{a:#}");
    assert!(a["checks"].to_string().contains("published base layer 0"));
    // `diff` hashes IMAGE_B's layers shared with IMAGE_A (same digests) too.
    let (ga, fb) = (
        format!("oci:{}", good.display()),
        format!("oci:{}", flipped.display()),
    );
    let o = pv(&rig.root).run(["diff", &ga, &fb, "--json", "-q"]);
    assert_code(&o, 1);
    let d: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(d["verdict"], "DIFFERENT");
    assert!(
        d["platforms"][0]["reasons"]
            .to_string()
            .contains("shared base layer 0"),
        "{d:#}"
    );
    let o = pv(&rig.root).run(["diff", &ga, &ga, "-q"]);
    assert_code(&o, 0);
    // The human report names the inputs as the user gave them (A, then B), not as a
    // rebuild's "rebuilt" and "published".
    let o = pv(&rig.root).run(["diff", &ga, &fb, "-q"]);
    let out = stdout(&o);
    // The verdict first, then the inputs.
    assert!(out.starts_with("verdict: "), "{out}");
    assert!(out.contains(&format!("\ndiff A {ga} (")), "{out}");
    assert!(out.contains(&format!("\n     B {fb} (")), "{out}");
    assert!(out.contains("\n  B         manifest sha256:"), "{out}");
    assert!(out.contains("\n  A         manifest sha256:"), "{out}");
    assert!(!out.contains("rebuilt"), "{out}");
}

/// XOR one byte in the middle of a file, in place (the name, i.e. the digest, stays).
fn flip_byte(p: &Path) {
    let mut b = std::fs::read(p).unwrap();
    let i = b.len() / 2;
    b[i] ^= 0x01;
    std::fs::write(p, b).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    let o = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert!(o.status.success());
}

fn verify(cwd: &Path, image: &Path, extra: &[&str]) -> (Output, Value) {
    let img = format!("oci:{}", image.display());
    let mut args = vec![
        "verify",
        "--key",
        "signer.pub",
        "--attestations",
        "--all-platforms",
    ];
    args.extend(extra);
    args.push(&img);
    let human = pv(cwd).run(&args);
    args.insert(1, "--json");
    let json = pv(cwd).run(&args);
    assert_eq!(human.status.code(), json.status.code());
    let v: Value = serde_json::from_str(&stdout(&json))
        .unwrap_or_else(|e| panic!("verify --json: {e}\n{}", stderr(&json)));
    (human, v)
}

#[test]
fn verify_hashes_the_whole_image_and_fails_on_any_failed_line() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    pv(d).ok([
        "fixture",
        "nanoserver",
        "--out",
        "base",
        "-q",
        "--os-version",
        "10.0.17763.6054",
        "--os-version",
        "10.0.20348.2849",
    ]);
    let base = root_ref(&d.join("base"));
    pv(d).ok(["build", "--base", &base, "--out", "img", "-q"]);
    common::audit::signer_and_other_keys(d, PASSWORD);
    let img = d.join("img");
    let img_ref = format!("oci:{}", img.display());
    std::fs::write(d.join("pred.json"), br#"{"builder":{"id":"x"}}"#).unwrap();
    pv(d).ok(["sign", "--key", "signer.key", "--recursive", &img_ref]);
    let ix: Value =
        serde_json::from_slice(&std::fs::read(img.join("index.json")).unwrap()).unwrap();
    let root_digest = root_ref(&img);
    let blob = |dir: &Path, dg: &str| dir.join("blobs/sha256").join(&dg["sha256:".len()..]);
    let root_hex = root_digest.rsplit('@').next().unwrap().to_string();
    let list: Value =
        serde_json::from_slice(&std::fs::read(blob(&img, &root_hex)).unwrap()).unwrap();
    let platforms: Vec<String> = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(platforms.len(), 2, "{ix:#}");
    let attest = |key: &str, subject: &str| {
        pv(d).ok([
            "attest",
            "--key",
            key,
            "--predicate",
            "pred.json",
            "--type",
            PROVENANCE,
            &format!("oci:{}@{subject}", img.display()),
        ]);
    };
    attest("signer.key", &root_hex);
    for p in &platforms {
        attest("signer.key", p);
    }
    let (o, v) = verify(d, &img, &[]);
    assert_code(&o, 0);
    assert_eq!(v["rule"], "all");
    assert_eq!(v["integrity"]["ok"], true);
    assert_eq!(v["integrity"]["manifests"], 2);
    assert_eq!(v["integrity"]["configs"], 2);
    assert!(v["integrity"]["layers"].as_u64().unwrap() >= 4, "{v:#}");
    assert!(stdout(&o).contains("rule: all"));

    let m0: Value =
        serde_json::from_slice(&std::fs::read(blob(&img, &platforms[0])).unwrap()).unwrap();
    let config = m0["config"]["digest"].as_str().unwrap().to_string();
    let last_layer = m0["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let base_layer = m0["layers"][0]["digest"].as_str().unwrap().to_string();
    for (name, digest, caught_without_blobs) in [
        ("manifest", platforms[1].clone(), true),
        ("config", config, true),
        ("layer", last_layer, false),
        ("base-layer", base_layer, false),
    ] {
        let copy = d.join(format!("t-{name}"));
        copy_dir(&img, &copy);
        flip_byte(&blob(&copy, &digest));
        let (o, v) = verify(d, &copy, &[]);
        assert_code(&o, 1);
        assert_eq!(v["verified"], false, "{name}");
        assert_eq!(v["integrity"]["ok"], false, "{name}");
        assert_eq!(
            v["integrity"]["failures"][0]["digest"],
            digest.as_str(),
            "{name}"
        );
        let out = stdout(&o);
        // Human output names the digest short (`sha256:` + 12 hex).
        assert!(
            out.contains("FAILED integrity") && out.contains(&digest[..7 + 12]),
            "{name}: {out}"
        );
        // Layers are not hashed with --skip-blobs: only manifest and config are caught.
        let (o, v) = verify(d, &copy, &["--skip-blobs"]);
        assert_eq!(
            o.status.code(),
            Some(if caught_without_blobs { 1 } else { 0 }),
            "{name} --skip-blobs: {v:#}"
        );
        assert_eq!(v["integrity"]["blobsSkipped"], true);
    }

    // One FAILED attestation (another key's) beside the good one: FAILED under the
    // default rule, VERIFIED only when at least one is asked for.
    attest("other.key", &root_hex);
    let (o, v) = verify(d, &img, &[]);
    assert_code(&o, 1);
    assert_eq!(v["subjects"][0]["verified"], false);
    assert_eq!(v["subjects"][0]["attestationsVerified"], 1);
    assert!(stdout(&o).contains("FAILED attestation"), "{}", stdout(&o));
    let (o, v) = verify(d, &img, &["--require-any"]);
    assert_code(&o, 0);
    assert_eq!(v["rule"], "any");
    assert!(stdout(&o).contains("rule: any"));
}
