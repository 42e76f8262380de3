//! `pause-verify audit` end to end, rebuild included: a three-platform pause image built
//! from the synthetic NanoServer (`fixture nanoserver` ×3, `build`), pushed to the
//! loopback registry (`copy`), signed and attested per platform with the real `sign` /
//! `attest` commands, then audited with a policy that requires everything (pins,
//! signature, provenance, rebuild against the checked-in synthetic pins). It passes, and
//! each single fault makes audit exit 1 naming that check in the human, JSON and JUnit
//! outputs; every VSA verifies with Python securesystemslib and says PASSED exactly when
//! audit exits 0. A second test does the same offline on an OCI layout with
//! per-platform attestations (`attest oci:DIR@<platform digest>`) and the independent
//! publisher's image (noise rules as evidence).

use crate::common;
use common::images::root_ref;
use common::{Pv, assert_code, stdout};
use pause_verify::attest::PrivateKey;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PASSWORD: &str = "audit-e2e";
/// The synthetic pins in attestations/pins.toml are for these os.versions.
const VERSIONS: [&str; 3] = ["10.0.17763.6054", "10.0.20348.2849", "10.0.26100.2314"];
const PROVENANCE: &str = "https://slsa.dev/provenance/v1";
const BUILDER: &str = "https://github.com/pause-verify/pause-verify";

fn repo_file(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// Run pause-verify with the key password and a fixed clock, in `cwd`.
fn pvk_in<S: AsRef<std::ffi::OsStr>>(cwd: &Path, args: &[S]) -> Output {
    pv_in(cwd).run(args)
}

fn pv_in(cwd: &Path) -> Pv {
    Pv::new()
        .cwd(cwd)
        .password(PASSWORD)
        .env("SOURCE_DATE_EPOCH", "1700000000")
}

/// Run and require exit 0; returns stdout.
#[track_caller]
fn ok<S: AsRef<std::ffi::OsStr>>(cwd: &Path, args: &[S]) -> String {
    pv_in(cwd).ok(args)
}

/// One built image: its root reference and, per platform, (os.version, manifest
/// digest, a provenance predicate made from the build report).
struct Built {
    root: String,
    platforms: Vec<(String, String, Value)>,
}

struct Rig {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    base: String,
    key: PathBuf,
    key_pub: PathBuf,
    other_key: PathBuf,
    good: Built,
}

fn rig() -> Rig {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let mut args = vec!["fixture", "nanoserver", "--out", "base", "-q"];
    for v in VERSIONS {
        args.extend(["--os-version", v]);
    }
    ok(&root, &args);
    let base = root_ref(&root.join("base"));
    let good = build(&root, &base, "good", None);
    let (key, other_key) = common::audit::signer_and_other_keys(&root, PASSWORD);
    // Everything required; the rebuild's base is a layout path relative to the policy.
    let base_rel = base.replace(&format!("oci:{}/", root.display()), "oci:");
    std::fs::write(
        root.join("policy.toml"),
        format!(
            "version = 1\nname = 'e2e gate'\n\
             [platforms]\nrequired = ['windows/amd64:10.0.17763', 'windows/amd64:10.0.20348', 'windows/amd64:10.0.26100']\n\
             [signatures]\nkeys = ['signer.pub']\n\
             [pins]\nrequired = true\nfile = '{}'\n\
             [attestations.provenance]\nbuilder_id = '{BUILDER}'\nbase_digest = 'pinned'\nedits = 'upstream'\n\
             [rebuild]\nbase = '{base_rel}'\nverdict = 'EQUIVALENT'\n",
            repo_file("attestations/pins.toml").display()
        ),
    )
    .unwrap();
    Rig {
        key_pub: root.join("signer.pub"),
        key,
        other_key,
        _tmp: tmp,
        root,
        base,
        good,
    }
}

/// `build --base BASE --out DIR [--recipe R] --json`, and a provenance predicate per
/// platform written from the build report (as docs/provenance.md describes it).
fn build(cwd: &Path, base: &str, out: &str, recipe: Option<&Path>) -> Built {
    let mut args = vec![
        "build".to_string(),
        "--base".into(),
        base.into(),
        "--out".into(),
        out.into(),
        "--json".into(),
        "-q".into(),
    ];
    if let Some(r) = recipe {
        args.extend(["--recipe".into(), r.display().to_string()]);
    }
    let doc: Value = serde_json::from_str(&ok(cwd, &args)).unwrap();
    let platforms = doc["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let v = b["base"]["platform"]["os.version"]
                .as_str()
                .unwrap()
                .to_string();
            let pred = json!({
                "buildDefinition": {
                    "buildType": "https://github.com/pause-verify/pause-verify/buildtypes/windows-pause-base/v1",
                    "externalParameters": {
                        "platform": format!("windows/amd64:{v}"),
                        "baseImage": {"reference": base, "digest": b["base"]["manifest"]["digest"]},
                        "registryEdits": b["registryEdits"].as_array().unwrap().iter().filter_map(edit).collect::<Vec<_>>(),
                    },
                },
                "runDetails": {"builder": {"id": BUILDER}},
            });
            (v, b["manifest"]["digest"].as_str().unwrap().to_string(), pred)
        })
        .collect();
    Built {
        root: root_ref(&cwd.join(out)),
        platforms,
    }
}

/// A build report's registry edit as the provenance records it (None: key creation).
fn edit(e: &Value) -> Option<Value> {
    let hive = match e["hive"].as_str()? {
        "Software" => "HKLM\\SOFTWARE",
        "System" => "HKLM\\SYSTEM",
        other => panic!("hive {other}"),
    };
    let key = e["key"].as_str()?;
    match e["op"].as_str()? {
        "setValue" => {
            let ty = e["valueType"].as_str()?;
            let raw = hex_decode(e["dataHex"].as_str()?);
            let utf16: Vec<u16> = raw
                .chunks(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            let data = match ty {
                "REG_DWORD" => json!(u32::from_le_bytes(raw[..4].try_into().unwrap())),
                "REG_SZ" => json!(String::from_utf16(&utf16).unwrap().trim_end_matches('\0')),
                "REG_MULTI_SZ" => json!(
                    String::from_utf16(&utf16)
                        .unwrap()
                        .split('\0')
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                ),
                other => panic!("type {other}"),
            };
            Some(
                json!({"hive": hive, "key": key, "value": e["valueName"], "type": ty, "data": data, "op": "set"}),
            )
        }
        "deleteKey" => Some(json!({"hive": hive, "key": key, "op": "delete_key"})),
        "createKey" => None,
        other => panic!("op {other}"),
    }
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

impl Rig {
    fn run(&self, args: &[&str]) -> String {
        ok(&self.root, args)
    }

    fn sign(&self, image: &str, key: &Path) {
        self.run(&["sign", "--key", key.to_str().unwrap(), image]);
    }

    /// One provenance per platform, attached to the platform manifest itself.
    /// `image_at(digest)` names the image by that digest.
    fn attest(&self, built: &Built, preds: &Built, image_at: &dyn Fn(&str) -> String) {
        for ((v, digest, _), (pv, _, pred)) in built.platforms.iter().zip(&preds.platforms) {
            assert_eq!(v, pv);
            let f = self.root.join(format!("pred-{v}.json"));
            std::fs::write(&f, serde_json::to_vec(pred).unwrap()).unwrap();
            self.run(&[
                "attest",
                "--key",
                self.key.to_str().unwrap(),
                "--predicate",
                f.to_str().unwrap(),
                "--type",
                PROVENANCE,
                &image_at(digest),
            ]);
        }
    }

    /// Run audit (human on stdout, --json-out, --junit, a signed VSA).
    fn audit(&self, image: &str, args: &[&str]) -> Audit {
        self.audit_with(image, args, false)
    }

    /// As [`Rig::audit`], and once more with `--json`: stdout must be the --json-out
    /// document and the exit code the same.
    fn audit_json_too(&self, image: &str, args: &[&str]) -> Audit {
        self.audit_with(image, args, true)
    }

    fn audit_with(&self, image: &str, args: &[&str], json_stdout: bool) -> Audit {
        let junit = self.root.join("audit.xml");
        let vsa = self.root.join("audit.vsa.json");
        let json_out = self.root.join("audit.json");
        for f in [&junit, &vsa, &json_out] {
            let _ = std::fs::remove_file(f);
        }
        let mut a: Vec<String> = [
            "audit",
            "--image",
            image,
            "--junit",
            junit.to_str().unwrap(),
            "--vsa-out",
            vsa.to_str().unwrap(),
            "--sign-key",
            self.key.to_str().unwrap(),
        ]
        .map(str::to_string)
        .to_vec();
        a.extend(args.iter().map(|s| s.to_string()));
        let mut human_args = a.clone();
        human_args.extend(["--json-out".to_string(), json_out.display().to_string()]);
        // Wide, so phrases the checks look for are not wrapped (human_output tests wrapping).
        let human = pv_in(&self.root).env("COLUMNS", "1000").run(&human_args);
        let doc: Value = serde_json::from_slice(&std::fs::read(&json_out).unwrap_or_default())
            .unwrap_or_else(|e| panic!("--json-out: {e}\n{}", common::stderr(&human)));
        if json_stdout {
            a.push("--json".into());
            let json = pvk_in(&self.root, &a);
            assert_eq!(
                human.status.code(),
                json.status.code(),
                "{}",
                common::stderr(&json)
            );
            let from_stdout: Value = serde_json::from_slice(&json.stdout)
                .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&json), common::stderr(&json)));
            assert_eq!(from_stdout, doc, "--json prints the --json-out document");
        }
        let audit = Audit {
            code: human.status.code().unwrap_or(-1),
            human: stdout(&human),
            json: doc,
            junit: std::fs::read_to_string(&junit).unwrap(),
        };
        audit.assert_vsa(&vsa, &self.key_pub);
        audit
    }
}

struct Audit {
    code: i32,
    human: String,
    json: Value,
    junit: String,
}

impl Audit {
    fn checks(&self) -> &Vec<Value> {
        self.json["checks"].as_array().unwrap()
    }

    /// (id, platform) of every failing check.
    fn failed(&self) -> Vec<(String, String)> {
        common::audit::failed_checks(&self.json)
    }

    fn check(&self, id: &str, platform: &str) -> &Value {
        self.checks()
            .iter()
            .find(|c| c["id"] == id && c["platform"].as_str().unwrap().starts_with(platform))
            .unwrap_or_else(|| panic!("no {id} on {platform}"))
    }

    /// Exit 1 and `check` failed on `platform` (a prefix) in JSON, human and JUnit.
    #[track_caller]
    fn assert_fails(&self, check: &str, platform: &str) {
        assert_eq!(self.code, 1, "{}", self.human);
        assert_eq!(self.json["passed"], false);
        let failed = self.failed();
        assert!(
            failed
                .iter()
                .any(|(id, p)| id == check && p.starts_with(platform)),
            "JSON: {check} on {platform} not among {failed:?}"
        );
        // The verdict comes first; a long one wraps onto indented lines.
        let mut lines = self.human.lines();
        let mut summary = lines.next().unwrap_or("").to_string();
        for l in lines.take_while(|l| l.starts_with("    ")) {
            summary.push(' ');
            summary.push_str(l.trim_start());
        }
        let list = summary.split_once(" failed: ").map_or("", |(_, l)| l);
        let named = list.split(", ").any(|item| {
            let (name, on) = item.split_once(" on ").unwrap_or((item, ""));
            (name == check || name.starts_with(&format!("{check}["))) && on.starts_with(platform)
        });
        assert!(
            summary.starts_with("FAIL:") && named,
            "human summary: {summary}"
        );
        common::audit::assert_junit_fails(&self.junit, check, platform);
    }

    /// Only these check ids failed (on any platform).
    #[track_caller]
    fn assert_only(&self, ids: &[&str]) {
        let failed = self.failed();
        assert!(
            failed.iter().all(|(id, _)| ids.contains(&id.as_str())),
            "unexpected failures: {failed:?}\n{}",
            self.human
        );
    }

    #[track_caller]
    fn assert_passes(&self) {
        assert_eq!(self.code, 0, "{}", self.human);
        assert_eq!(self.json["passed"], true);
        assert!(!self.junit.contains("<failure "));
        assert!(self.human.contains("PASS: every required check passed"));
    }

    /// The VSA verifies with securesystemslib against the signer's key and its
    /// verificationResult is PASSED exactly when audit exited 0.
    #[track_caller]
    fn assert_vsa(&self, vsa: &Path, key_pub: &Path) {
        let env: Value = serde_json::from_slice(&std::fs::read(vsa).unwrap()).unwrap();
        let want = if self.code == 0 { "PASSED" } else { "FAILED" };
        let payload = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(env["payload"].as_str().unwrap())
                .unwrap()
        };
        let st: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(st["predicate"]["verificationResult"], want);
        assert_eq!(
            format!(
                "sha256:{}",
                st["subject"][0]["digest"]["sha256"].as_str().unwrap()
            ),
            self.json["image"]["digest"].as_str().unwrap()
        );
        if !common::need(
            "python securesystemslib",
            common::python_has(&["securesystemslib"]),
        ) {
            return;
        }
        let script = r#"
import json, sys
from securesystemslib.signer import SSlibKey, Signature
from securesystemslib.dsse import Envelope
from cryptography.hazmat.primitives import serialization
key = SSlibKey.from_crypto(serialization.load_pem_public_key(open(sys.argv[1], 'rb').read()))
env = Envelope.from_dict(json.load(open(sys.argv[2])))
assert env.signatures, "no signature"
for s in env.signatures.values():
    key.verify_signature(Signature(key.keyid, s.signature), env.pae())
print(json.loads(env.payload)["predicate"]["verificationResult"])
"#;
        let o = Command::new(common::python())
            .args([
                "-c",
                script,
                key_pub.to_str().unwrap(),
                vsa.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert_code(&o, 0);
        assert_eq!(stdout(&o).trim(), want);
    }
}

/// The upstream recipe with `"EnableDCOM"="N"` left out of keylight.reg.
fn recipe_without_enable_dcom(dir: &Path) -> Option<PathBuf> {
    let up = common::upstream_recipe()?;
    let out = dir.join("recipe-no-dcom");
    std::fs::create_dir_all(out.join("binaries")).unwrap();
    std::fs::copy(up.join("Dockerfile"), out.join("Dockerfile")).unwrap();
    let reg = std::fs::read_to_string(up.join("binaries/keylight.reg")).unwrap();
    assert!(reg.contains("\"EnableDCOM\"=\"N\""));
    std::fs::write(
        out.join("binaries/keylight.reg"),
        reg.replace("\"EnableDCOM\"=\"N\"", ""),
    )
    .unwrap();
    Some(out)
}

/// A layout with a manifest list of `good`'s first two platforms and `bad`'s third.
fn mixed_layout(root: &Path, good: &Path, bad: &Path, out: &str) -> String {
    let dest = root.join(out);
    let blobs = dest.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(
        dest.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    for src in [good, bad] {
        for f in std::fs::read_dir(src.join("blobs/sha256")).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), blobs.join(f.file_name())).unwrap();
        }
    }
    let list = |dir: &Path| -> Value {
        let r = root_ref(dir);
        let hex = r.rsplit_once("sha256:").unwrap().1.to_string();
        serde_json::from_slice(&std::fs::read(dir.join("blobs/sha256").join(hex)).unwrap()).unwrap()
    };
    let (g, b) = (list(good), list(bad));
    let mut doc = g.clone();
    doc["manifests"] = json!([g["manifests"][0], g["manifests"][1], b["manifests"][2]]);
    let bytes = serde_json::to_vec(&doc).unwrap();
    let digest = pause_verify::image::Digest::of(&bytes);
    std::fs::write(blobs.join(digest.hex()), &bytes).unwrap();
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": doc["mediaType"], "digest": digest.to_string(), "size": bytes.len()}]});
    std::fs::write(dest.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    format!("oci:{}@{digest}", dest.display())
}

#[test]
fn registry_end_to_end_passes_and_each_single_fault_names_its_check() {
    let Some(reg) = common::registry() else {
        return;
    };
    let r = rig();
    let Some(no_dcom) = recipe_without_enable_dcom(&r.root) else {
        return;
    };
    // Unique repositories: the registry outlives this test.
    let run = r
        .root
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_lowercase()
        .replace(|c: char| !c.is_ascii_alphanumeric(), "");
    let push = |layout: &str, name: &str| -> (String, String) {
        let repo = format!("{reg}/audit-e2e-{run}/{name}");
        r.run(&["copy", layout, &format!("docker://{repo}:v1"), "-q"]);
        (format!("docker://{repo}:v1"), repo)
    };
    let policy = r.root.join("policy.toml");
    let policy = policy.to_str().unwrap();

    // --- The good image: pushed, signed (the list), attested per platform: PASS.
    let (good, repo) = push(&r.good.root, "good");
    r.sign(&good, &r.key);
    r.attest(&r.good, &r.good, &|d| format!("docker://{repo}@{d}"));
    let a = r.audit_json_too(&good, &["--policy", policy]);
    a.assert_passes();
    assert_eq!(a.json["platforms"].as_array().unwrap().len(), 3);
    for v in VERSIONS {
        let plat = format!("windows/amd64:{v}");
        for id in [
            "base-pinned",
            "signature",
            "attestation",
            "provenance-builder",
            "provenance-base",
            "provenance-edits",
            "rebuild-verdict",
            "image-edits",
            "noise-rules",
        ] {
            assert_eq!(a.check(id, &plat)["status"], "PASS", "{id} on {plat}");
        }
        let rv = a.check("rebuild-verdict", &plat);
        assert!(
            rv["message"].as_str().unwrap().starts_with("IDENTICAL"),
            "{rv}"
        );
        let ev = rv["evidence"].as_array().unwrap();
        assert_eq!(ev[0]["digest"], ev[1]["digest"], "published = rebuilt");
        assert!(ev.iter().any(|e| {
            e["what"]
                .as_str()
                .unwrap()
                .starts_with("base (rebuild.base oci:")
        }));
        let edits = a.check("image-edits", &plat)["evidence"]
            .as_array()
            .unwrap();
        // The upstream recipe's five edits (hive::net_edits): the four keylight.reg
        // values and the DiagTrack deletion, as the provenance counts them.
        assert_eq!(edits.len(), 5, "{edits:?}");
        assert!(
            !edits
                .iter()
                .any(|e| e["what"].as_str().unwrap().contains("createKey"))
        );
        assert!(edits.iter().all(|e| e["found"] == "present"));
    }
    assert!(
        a.json["policy"]["rebuildBase"]
            .as_str()
            .unwrap()
            .starts_with(&format!("rebuild.base oci:{}/base@", r.root.display()))
    );
    assert!(
        a.json["policy"]["pinsFiles"][0]
            .as_str()
            .unwrap()
            .ends_with("attestations/pins.toml")
    );
    assert!(a.junit.matches("<testcase ").count() >= 3 * 9);

    // The default policy (no --policy): signed by --key, rebuilt from --base, base pinned
    // by --pins. The same image passes; the policy is named as the default.
    let pins = repo_file("attestations/pins.toml");
    let default_args = [
        "--key",
        r.key_pub.to_str().unwrap(),
        "--base",
        &r.base,
        "--pins",
        pins.to_str().unwrap(),
    ];
    let a = r.audit(&good, &default_args);
    a.assert_passes();
    assert_eq!(a.json["policy"]["uri"], "pause-verify:policy/default/v1");
    assert_eq!(a.check("base-pinned", "windows/amd64:")["status"], "PASS");

    // --- Unsigned image.
    let (img, repo) = push(&r.good.root, "unsigned");
    r.attest(&r.good, &r.good, &|d| format!("docker://{repo}@{d}"));
    let a = r.audit(&img, &["--policy", policy]);
    for v in VERSIONS {
        a.assert_fails("signature", &format!("windows/amd64:{v}"));
    }
    a.assert_only(&["signature"]);
    assert!(a.human.contains("unsigned"), "{}", a.human);

    // --- Signed by another key.
    let (img, repo) = push(&r.good.root, "otherkey");
    r.sign(&img, &r.other_key);
    r.attest(&r.good, &r.good, &|d| format!("docker://{repo}@{d}"));
    let a = r.audit(&img, &["--policy", policy]);
    a.assert_fails("signature", "windows/amd64:10.0.20348");
    a.assert_only(&["signature"]);
    assert!(a.human.contains("bad_signature"), "{}", a.human);

    // --- Attestation missing.
    let (img, _) = push(&r.good.root, "noatt");
    r.sign(&img, &r.key);
    let a = r.audit(&img, &["--policy", policy]);
    a.assert_fails("attestation", "windows/amd64:10.0.26100");
    a.assert_only(&[
        "attestation",
        "provenance-builder",
        "provenance-base",
        "provenance-edits",
    ]);
    assert!(
        a.junit
            .contains(&format!("name=\"attestation[{PROVENANCE}]\""))
    );

    // --- An edit missing in the image: built from a keylight.reg without EnableDCOM,
    // attested with a provenance that claims every upstream edit. The provenance checks
    // believe the claim; the rebuild does not.
    let no_edit = build(&r.root, &r.base, "noedit", Some(&no_dcom));
    let (img, repo) = push(&no_edit.root, "noedit");
    r.sign(&img, &r.key);
    r.attest(&no_edit, &r.good, &|d| format!("docker://{repo}@{d}"));
    let a = r.audit(&img, &["--policy", policy]);
    for v in VERSIONS {
        a.assert_fails("image-edits", &format!("windows/amd64:{v}"));
    }
    a.assert_only(&["image-edits", "rebuild-verdict"]);
    let c = a.check("image-edits", "windows/amd64:10.0.17763");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            // The synthetic base holds EnableDCOM=Y: the image keeps the base's value.
            .contains("Software\\Microsoft\\ole:EnableDCOM (setValue) (altered)"),
        "{c}"
    );
    assert!(a.human.contains("EnableDCOM"), "{}", a.human);

    // --- A base not in the pins: the same recipe over another NanoServer (same
    // os.versions, other content), honestly attested.
    let mut args = vec![
        "fixture",
        "nanoserver",
        "--out",
        "other-base",
        "--no-ole",
        "-q",
    ];
    for v in VERSIONS {
        args.extend(["--os-version", v]);
    }
    r.run(&args);
    let other_base = root_ref(&r.root.join("other-base"));
    let unpinned = build(&r.root, &other_base, "unpinned", None);
    let (img, repo) = push(&unpinned.root, "unpinned");
    r.sign(&img, &r.key);
    r.attest(&unpinned, &unpinned, &|d| format!("docker://{repo}@{d}"));
    let a = r.audit(&img, &["--policy", policy]);
    for v in VERSIONS {
        a.assert_fails("base-pinned", &format!("windows/amd64:{v}"));
    }
    a.assert_only(&[
        "base-pinned",
        "provenance-base",
        "rebuild-verdict",
        "image-edits",
    ]);
    let rv = a.check("rebuild-verdict", "windows/amd64:10.0.20348");
    assert!(
        rv["message"].as_str().unwrap().contains("base mismatch"),
        "{rv}"
    );

    // --- One platform of three broken: the good image's 1809 and ltsc2022 platforms and
    // the EnableDCOM-less ltsc2025 one, in one list, attested as good.
    let mixed = mixed_layout(
        &r.root,
        &r.root.join("good"),
        &r.root.join("noedit"),
        "mixed",
    );
    let mixed_built = Built {
        root: mixed.clone(),
        platforms: vec![
            r.good.platforms[0].clone(),
            r.good.platforms[1].clone(),
            no_edit.platforms[2].clone(),
        ],
    };
    let (img, repo) = push(&mixed, "broken");
    r.sign(&img, &r.key);
    r.attest(&mixed_built, &r.good, &|d| format!("docker://{repo}@{d}"));
    let a = r.audit_json_too(&img, &["--policy", policy]);
    a.assert_fails("image-edits", "windows/amd64:10.0.26100");
    a.assert_fails("rebuild-verdict", "windows/amd64:10.0.26100");
    let failed = a.failed();
    assert!(
        failed
            .iter()
            .all(|(_, p)| p == "windows/amd64:10.0.26100.2314"),
        "only the broken platform fails: {failed:?}"
    );
    let plats = a.json["platforms"].as_array().unwrap();
    let status: Vec<(&str, &str)> = plats
        .iter()
        .map(|p| {
            (
                p["platform"].as_str().unwrap(),
                p["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        status,
        vec![
            ("windows/amd64:10.0.17763.6054", "PASS"),
            ("windows/amd64:10.0.20348.2849", "PASS"),
            ("windows/amd64:10.0.26100.2314", "FAIL"),
        ]
    );
}

/// The system Python with python3-hivex, for the independent publisher.
fn hivex_python() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/bin/python3");
    let ok = Command::new(&p)
        .args(["-c", "import hivex"])
        .output()
        .is_ok_and(|o| o.status.success());
    if common::need("python3-hivex (/usr/bin/python3 -c 'import hivex')", ok) {
        Some(p)
    } else {
        None
    }
}

#[test]
fn layout_offline_with_per_platform_attestations_and_noise_rules() {
    let r = rig();
    // Sign the list; attest each platform manifest inside the layout by its digest.
    let layout = r.root.join("good");
    r.sign(&r.good.root, &r.key);
    let dir = layout.display().to_string();
    r.attest(&r.good, &r.good, &|d| format!("oci:{dir}@{d}"));
    let policy = r.root.join("policy.toml");
    let a = r.audit(&r.good.root, &["--policy", policy.to_str().unwrap()]);
    a.assert_passes();
    for (v, digest, _) in &r.good.platforms {
        let c = a.check("attestation", &format!("windows/amd64:{v}"));
        assert_eq!(c["status"], "PASS");
        let for_platform = c["evidence"].as_array().unwrap().iter().any(|e| {
            e["what"]
                .as_str()
                .unwrap()
                .contains(&format!("(for {digest})"))
        });
        assert!(for_platform, "{c}");
    }

    // scripts/release-gate.sh around the same audit: GO, and the audited digest recorded.
    let out = r.root.join("gate");
    let o = Command::new("sh")
        .arg(repo_file("scripts/release-gate.sh"))
        .arg(&r.good.root)
        .current_dir(&r.root)
        .env("PAUSE_VERIFY", common::bin())
        .env("PAUSE_VERIFY_NO_CACHE", "1")
        .env("COSIGN_PASSWORD", PASSWORD)
        .env("AUDIT_OUT", &out)
        .env("AUDIT_KEY", &r.key_pub)
        .env("AUDIT_SIGN_KEY", &r.key)
        .env("AUDIT_BASE", &r.base)
        .env("AUDIT_PINS", repo_file("attestations/pins.toml"))
        .output()
        .unwrap();
    assert_code(&o, 0);
    let root_digest = r.good.root.rsplit_once('@').unwrap().1;
    assert_eq!(
        std::fs::read_to_string(out.join("image.digest"))
            .unwrap()
            .trim(),
        root_digest
    );
    assert!(
        !std::fs::read_to_string(out.join("audit.xml"))
            .unwrap()
            .contains("<failure ")
    );

    // The independent publisher's image (classic builder shape, Windows noise): rebuilt
    // EQUIVALENT, each noise rule it needed named with a count and an example.
    let Some(py) = hivex_python() else { return };
    let o = Command::new(&py)
        .arg(repo_file("tests/publish_independent.py"))
        .arg("--base")
        .arg(r.root.join("base"))
        .arg("--out")
        .arg(r.root.join("published"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let published = root_ref(&r.root.join("published"));
    r.sign(&published, &r.key);
    let pins = repo_file("attestations/pins.toml");
    let args = [
        "--key",
        r.key_pub.to_str().unwrap(),
        "--base",
        &r.base,
        "--pins",
        pins.to_str().unwrap(),
    ];
    let a = r.audit(&published, &args);
    a.assert_passes();
    for v in VERSIONS {
        let plat = format!("windows/amd64:{v}");
        assert!(
            a.check("rebuild-verdict", &plat)["message"]
                .as_str()
                .unwrap()
                .starts_with("EQUIVALENT")
        );
        let noise = a.check("noise-rules", &plat);
        let ev = noise["evidence"].as_array().unwrap();
        assert!(
            ev.iter().any(|e| e["what"] == "noise rule sys-container-id"
                && e["found"]
                    .as_str()
                    .unwrap()
                    .starts_with("allowed; explains")),
            "{noise}"
        );
    }

    // A policy that allows no noise rule: noise-rules fails, naming the rules.
    let strict = r.root.join("no-noise.toml");
    std::fs::write(
        &strict,
        format!(
            "version = 1\n[signatures]\nkeys = ['signer.pub']\n[rebuild]\nbase = '{}'\nnoise = []\n",
            r.base
        ),
    )
    .unwrap();
    let a = r.audit(&published, &["--policy", strict.to_str().unwrap()]);
    for v in VERSIONS {
        a.assert_fails("noise-rules", &format!("windows/amd64:{v}"));
    }
    a.assert_only(&["noise-rules"]);
    assert!(a.human.contains("sys-container-id"), "{}", a.human);
}

#[test]
fn audit_that_cannot_rebuild_exits_2() {
    let t = tempfile::tempdir().unwrap();
    let k = PrivateKey::generate().unwrap();
    let key_pub = t.path().join("k.pub");
    std::fs::write(&key_pub, k.public_key().to_pem()).unwrap();
    ok(
        t.path(),
        &[
            "fixture",
            "nanoserver",
            "--out",
            "base",
            "-q",
            "--os-version",
            VERSIONS[1],
        ],
    );
    let base = root_ref(&t.path().join("base"));
    ok(t.path(), &["build", "--base", &base, "--out", "img", "-q"]);
    let img = root_ref(&t.path().join("img"));
    let key = key_pub.to_str().unwrap();
    // No base and no pins (no attestations/pins.toml in this working directory).
    let o = pvk_in(t.path(), &["audit", "--image", &img, "--key", key]);
    assert_code(&o, 2);
    assert!(
        common::stderr(&o).contains("--base"),
        "{}",
        common::stderr(&o)
    );
    // A base by tag only.
    let unpinned = format!("oci:{}", t.path().join("base").display());
    let o = pvk_in(
        t.path(),
        &["audit", "--image", &img, "--key", key, "--base", &unpinned],
    );
    assert_code(&o, 2);
    assert!(
        common::stderr(&o).contains("pinned by digest"),
        "{}",
        common::stderr(&o)
    );
    // The checked-in synthetic pins name no image to rebuild from: say to give --base.
    let pins = repo_file("attestations/pins.toml");
    let o = pvk_in(
        t.path(),
        &[
            "audit",
            "--image",
            &img,
            "--key",
            key,
            "--pins",
            pins.to_str().unwrap(),
        ],
    );
    assert_code(&o, 2);
    assert!(
        common::stderr(&o).contains("give --base"),
        "{}",
        common::stderr(&o)
    );
}
