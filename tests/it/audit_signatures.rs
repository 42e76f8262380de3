//! `pause-verify audit` on a three-platform OCI layout with signatures and provenance
//! attached by the real `sign` / `attest` commands (rebuild not required by the policy:
//! the rebuild faults are in tests/audit_e2e.rs). Each fault must make audit exit 1
//! with that check named as the failure in the human, JSON and JUnit outputs; the VSA
//! must verify with securesystemslib and say PASSED exactly when audit exits 0.

use crate::common;
use common::{assert_code, pv, stdout};
use pause_verify::image::model::media;
use pause_verify::image::{Descriptor, Digest, ImageSink, LayoutWriter};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const PASSWORD: &str = "audit-test";
const VERSIONS: [&str; 3] = ["10.0.17763.1", "10.0.20348.2", "10.0.26100.3"];

struct Rig {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    layout: PathBuf,
    key: PathBuf,
    key_pub: PathBuf,
    other_key: PathBuf,
    /// (os.version, platform manifest digest)
    platforms: Vec<(String, Digest)>,
}

fn base_layer(v: &str) -> Vec<u8> {
    format!("nanoserver base layer {v}").into_bytes()
}

fn base_manifest(v: &str) -> Digest {
    Digest::of(format!("nanoserver manifest {v}").as_bytes())
}

/// A three-platform index whose platform `unpinned` (if any) has a base nobody pinned.
fn rig(unpinned: Option<usize>) -> Rig {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let layout = root.join("image");
    let mut w = LayoutWriter::create(&layout).unwrap();
    let mut entries = Vec::new();
    let mut platforms = Vec::new();
    for (i, v) in VERSIONS.iter().enumerate() {
        let base = if unpinned == Some(i) {
            b"some other base".to_vec()
        } else {
            base_layer(v)
        };
        let pause = format!("pause layer {v}").into_bytes();
        let l0 = w.put_bytes(media::OCI_LAYER, &base).unwrap();
        let l1 = w.put_bytes(media::OCI_LAYER, &pause).unwrap();
        let cfg = json!({
            "architecture": "amd64", "os": "windows", "os.version": v,
            "rootfs": {"type": "layers", "diff_ids": [l0.digest.to_string(), l1.digest.to_string()]},
        });
        let c = w
            .put_bytes(media::OCI_CONFIG, &serde_json::to_vec(&cfg).unwrap())
            .unwrap();
        let m = json!({"schemaVersion": 2, "mediaType": media::OCI_MANIFEST, "config": c, "layers": [l0, l1]});
        let mut md = w
            .put_bytes(media::OCI_MANIFEST, &serde_json::to_vec(&m).unwrap())
            .unwrap();
        platforms.push((v.to_string(), md.digest.clone()));
        md.platform = Some(pause_verify::image::Platform {
            architecture: "amd64".into(),
            os: "windows".into(),
            os_version: Some(v.to_string()),
            ..Default::default()
        });
        entries.push(md);
    }
    let idx = json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": entries});
    let id: Descriptor = w
        .put_bytes(media::OCI_INDEX, &serde_json::to_vec(&idx).unwrap())
        .unwrap();
    w.add_manifest(&id, Some("v1")).unwrap();

    let (key, other_key) = common::audit::signer_and_other_keys(&root, PASSWORD);
    let mut pins = String::new();
    for v in VERSIONS {
        pins.push_str(&format!(
            "[[pins.base]]\nos_version = '{v}'\nmanifest = '{}'\nlayers = ['{}']\n",
            base_manifest(v),
            Digest::of(&base_layer(v))
        ));
    }
    std::fs::write(
        root.join("policy.toml"),
        format!(
            "version = 1\nname = 'test gate'\n[platforms]\nrequired = ['windows/amd64:10.0.17763', 'windows/amd64:10.0.20348', 'windows/amd64:10.0.26100']\n\
             [signatures]\nkeys = ['signer.pub']\n[pins]\nrequired = true\n{pins}\
             [attestations.provenance]\nbuilder_id = 'https://github.com/pause-verify/pause-verify'\nbase_digest = 'pinned'\nedits = 'upstream'\n\
             [rebuild]\nrequired = false\n"
        ),
    )
    .unwrap();
    Rig {
        key_pub: root.join("signer.pub"),
        _tmp: tmp,
        layout,
        key,
        other_key,
        root,
        platforms,
    }
}

fn pvk<I, S>(args: I) -> std::process::Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    common::Pv::new()
        .password(PASSWORD)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .run(args)
}

impl Rig {
    fn image(&self) -> String {
        format!("oci:{}:v1", self.layout.display())
    }

    fn sign(&self, key: &Path) {
        let o = pvk(["sign", "--key", key.to_str().unwrap(), &self.image()]);
        assert_code(&o, 0);
    }

    /// One provenance per platform, attached to the index (each names its platform);
    /// tests/audit_e2e.rs attaches them to each platform manifest instead.
    fn attest(&self, drop_edit: Option<usize>) {
        for (i, (v, _)) in self.platforms.iter().enumerate() {
            let mut edits = serde_json::to_value(pause_verify::policy::upstream_edits()).unwrap();
            if drop_edit == Some(i) {
                edits.as_array_mut().unwrap().pop();
            }
            let pred = json!({
                "buildDefinition": {
                    "buildType": "https://github.com/pause-verify/pause-verify/buildtypes/windows-pause-base/v1",
                    "externalParameters": {
                        "platform": format!("windows/amd64:{v}"),
                        "baseImage": {"reference": "nanoserver", "digest": base_manifest(v).to_string()},
                        "registryEdits": edits,
                    },
                },
                "runDetails": {"builder": {"id": "https://github.com/pause-verify/pause-verify"}},
            });
            let pf = self.root.join(format!("pred-{i}.json"));
            std::fs::write(&pf, serde_json::to_vec(&pred).unwrap()).unwrap();
            let o = pvk([
                "attest",
                "--key",
                self.key.to_str().unwrap(),
                "--predicate",
                pf.to_str().unwrap(),
                "--type",
                "https://slsa.dev/provenance/v1",
                &self.image(),
            ]);
            assert_code(&o, 0);
        }
    }

    fn audit(&self, extra: &[&str]) -> Audit {
        let junit = self.root.join("audit.xml");
        let vsa = self.root.join("audit.vsa.json");
        let _ = std::fs::remove_file(&junit);
        let _ = std::fs::remove_file(&vsa);
        let base = [
            "audit",
            "--image",
            &self.image(),
            "--policy",
            self.root.join("policy.toml").to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
            "--vsa-out",
            vsa.to_str().unwrap(),
            "--sign-key",
            self.key.to_str().unwrap(),
        ]
        .map(str::to_string);
        let mut args: Vec<String> = base.to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        let json_out = self.root.join("audit.json");
        let mut human_args = args.clone();
        human_args.extend(["--json-out".to_string(), json_out.display().to_string()]);
        // Wide, so phrases the checks look for are not wrapped (human_output tests wrapping).
        let human = common::Pv::new()
            .password(PASSWORD)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .env("COLUMNS", "1000")
            .run(&human_args);
        args.push("--json".into());
        let json = pvk(&args);
        assert_eq!(human.status.code(), json.status.code());
        let from_file: Value = serde_json::from_slice(&std::fs::read(&json_out).unwrap()).unwrap();
        let from_stdout: Value = serde_json::from_slice(&json.stdout).unwrap_or_default();
        assert_eq!(from_file, from_stdout, "--json-out is the --json document");
        Audit {
            code: human.status.code().unwrap_or(-1),
            human: stdout(&human),
            json: serde_json::from_slice(&json.stdout)
                .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&json), common::stderr(&json))),
            junit: std::fs::read_to_string(&junit).unwrap(),
            vsa: vsa.clone(),
        }
    }
}

struct Audit {
    code: i32,
    human: String,
    json: Value,
    junit: String,
    vsa: PathBuf,
}

impl Audit {
    /// Assert exit 1 and that `check` failed on `platform` (a prefix of its name) in all
    /// three renderings.
    #[track_caller]
    fn assert_fails(&self, check: &str, platform: &str) {
        assert_eq!(self.code, 1, "{}", self.human);
        assert_eq!(self.json["passed"], false);
        let failed = common::audit::failed_checks(&self.json);
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
        assert!(
            summary.starts_with("FAIL:") && summary.contains(check) && summary.contains(platform),
            "human summary: {summary}"
        );
        common::audit::assert_junit_fails(&self.junit, check, platform);
        self.assert_vsa("FAILED");
    }

    #[track_caller]
    fn assert_passes(&self) {
        assert_eq!(self.code, 0, "{}", self.human);
        assert_eq!(self.json["passed"], true);
        assert!(!self.junit.contains("<failure "));
        assert!(self.human.contains("PASS: every required check passed"));
        self.assert_vsa("PASSED");
    }

    #[track_caller]
    fn assert_vsa(&self, result: &str) {
        let env: Value = serde_json::from_slice(&std::fs::read(&self.vsa).unwrap()).unwrap();
        let payload = base64_decode(env["payload"].as_str().unwrap());
        let st: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(
            st["predicateType"],
            "https://slsa.dev/verification_summary/v1"
        );
        assert_eq!(st["predicate"]["verificationResult"], result);
        assert_eq!(st["predicate"]["timeVerified"], "2023-11-14T22:13:20Z");
        assert_eq!(
            format!(
                "sha256:{}",
                st["subject"][0]["digest"]["sha256"].as_str().unwrap()
            ),
            self.json["image"]["digest"].as_str().unwrap()
        );
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[test]
fn signed_and_attested_passes_and_vsa_verifies_with_securesystemslib() {
    let r = rig(None);
    r.sign(&r.key);
    r.attest(None);
    let a = r.audit(&[]);
    a.assert_passes();
    // Every check per platform is there, with evidence by digest.
    let checks = a.json["checks"].as_array().unwrap();
    for (_, m) in &r.platforms {
        let sig = checks
            .iter()
            .find(|c| c["id"] == "signature" && c["status"] == "PASS")
            .unwrap();
        assert!(
            sig["evidence"][0]["digest"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
        assert!(
            a.json["platforms"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["manifest"] == m.to_string() && p["status"] == "PASS")
        );
    }
    assert_eq!(a.junit.matches("<testcase ").count(), checks.len());
    let levels = serde_json::to_string(&a.json).unwrap();
    assert!(levels.contains("base-pinned"));

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
pem = open(sys.argv[1], 'rb').read()
key = SSlibKey.from_crypto(serialization.load_pem_public_key(pem))
env = Envelope.from_dict(json.load(open(sys.argv[2])))
for s in env.signatures.values():
    key.verify_signature(Signature(key.keyid, s.signature), env.pae())
print(json.loads(env.payload)["predicate"]["verificationResult"])
"#;
    let o = std::process::Command::new(common::python())
        .args([
            "-c",
            script,
            r.key_pub.to_str().unwrap(),
            a.vsa.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_code(&o, 0);
    assert_eq!(stdout(&o).trim(), "PASSED");
}

#[test]
fn unsigned_image_fails_signature() {
    let r = rig(None);
    r.attest(None);
    let a = r.audit(&[]);
    for v in VERSIONS {
        a.assert_fails("signature", &format!("windows/amd64:{v}"));
    }
    assert!(a.human.contains("unsigned"), "{}", a.human);
}

#[test]
fn signature_by_another_key_fails_signature() {
    let r = rig(None);
    r.sign(&r.other_key);
    r.attest(None);
    let a = r.audit(&[]);
    a.assert_fails("signature", "windows/amd64:10.0.20348");
    assert!(a.human.contains("bad_signature"), "{}", a.human);
    let failed: Vec<&Value> = a.json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "FAIL")
        .collect();
    assert!(failed.iter().all(|c| c["id"] == "signature"), "{failed:?}");
}

#[test]
fn missing_attestation_fails_attestation() {
    let r = rig(None);
    r.sign(&r.key);
    let a = r.audit(&[]);
    a.assert_fails("attestation", "windows/amd64:10.0.17763");
    assert!(
        a.junit
            .contains("name=\"attestation[https://slsa.dev/provenance/v1]\"")
    );
}

#[test]
fn base_not_in_pins_fails_base_pinned_on_that_platform_only() {
    let r = rig(Some(1));
    r.sign(&r.key);
    r.attest(None);
    let a = r.audit(&[]);
    a.assert_fails("base-pinned", "windows/amd64:10.0.20348");
    let failed: Vec<(String, String)> = a.json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "FAIL")
        .map(|c| (c["id"].to_string(), c["platform"].to_string()))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
}

#[test]
fn provenance_missing_an_edit_fails_provenance_edits() {
    let r = rig(None);
    r.sign(&r.key);
    r.attest(Some(2));
    let a = r.audit(&[]);
    a.assert_fails("provenance-edits", "windows/amd64:10.0.26100");
    assert!(
        a.human.to_lowercase().contains("services\\diagtrack"),
        "{}",
        a.human
    );
}

#[test]
fn errors_exit_2() {
    let r = rig(None);
    let o = pv(["audit", "--image", &r.image()]);
    assert_code(&o, 2);
    assert!(
        common::stderr(&o).contains("--key"),
        "{}",
        common::stderr(&o)
    );
    let bad = r.root.join("bad.toml");
    std::fs::write(&bad, "version = 1\n[rebuild]\nverdict = 'CLOSE_ENOUGH'\n").unwrap();
    let o = pv([
        "audit",
        "--image",
        &r.image(),
        "--policy",
        bad.to_str().unwrap(),
        "--key",
        r.key_pub.to_str().unwrap(),
    ]);
    assert_code(&o, 2);
    assert!(common::stderr(&o).contains("CLOSE_ENOUGH"));
    let o = pv([
        "audit",
        "--image",
        "oci:/nonexistent/layout",
        "--key",
        r.key_pub.to_str().unwrap(),
    ]);
    assert_code(&o, 2);
}

/// Issue 11: a FAILED signature or attestation beside a verified one fails the audit
/// under the default rule `all`, naming it; `[signatures] rule = "any"` accepts it and
/// every output says which rule applied.
#[test]
fn a_failed_signature_beside_a_good_one_fails_unless_the_rule_is_any() {
    let r = rig(None);
    r.sign(&r.key);
    r.sign(&r.other_key);
    r.attest(None);
    let a = r.audit(&[]);
    a.assert_fails("signature", "windows/amd64:10.0.17763");
    assert_eq!(a.json["rule"], "all");
    assert!(a.human.contains("rule: all"), "{}", a.human);
    assert!(a.junit.contains("<property name=\"rule\" value=\"all\"/>"));
    let sigs: Vec<&Value> = a.json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == "signature")
        .collect();
    assert_eq!(sigs.len(), VERSIONS.len());
    for c in &sigs {
        assert_eq!(c["status"], "FAIL", "{c:#}");
        let msg = c["message"].as_str().unwrap();
        // The FAILED line is named (the other key's layer of the index's .sig) and so
        // is the good one: failing does not hide what verified.
        assert!(
            msg.starts_with("rule all: 1 of 2 signature(s) found FAILED: ")
                && msg.contains(".sig layer 1")
                && msg.contains("bad_signature")
                && msg.contains(".sig layer 0"),
            "{msg}"
        );
        let ev = c["evidence"].as_array().unwrap();
        assert_eq!(ev.len(), 2, "{c:#}");
        assert!(
            ev.iter()
                .any(|e| e["what"].as_str().unwrap().contains(".sig layer 1")
                    && e["found"].as_str().unwrap().starts_with("bad_signature")
                    && e["digest"].as_str().unwrap().starts_with("sha256:")),
            "{ev:#?}"
        );
    }
    // Only the signature checks fail: the attestations all verify.
    assert!(
        common::audit::failed_checks(&a.json)
            .iter()
            .all(|(id, _)| id == "signature")
    );
    assert!(a.human.contains(".sig layer 1"), "{}", a.human);

    // The same image under rule any: PASS, and the outputs say so.
    let policy = r.root.join("policy.toml");
    let text = std::fs::read_to_string(&policy).unwrap();
    let any = text.replacen("[signatures]\n", "[signatures]\nrule = 'any'\n", 1);
    assert_ne!(any, text);
    std::fs::write(&policy, &any).unwrap();
    let a = r.audit(&[]);
    a.assert_passes();
    assert_eq!(a.json["rule"], "any");
    assert!(a.human.contains("rule: any"), "{}", a.human);
    assert!(a.junit.contains("<property name=\"rule\" value=\"any\"/>"));
    assert!(
        a.human
            .contains("rule any: 1 FAILED signature(s) beside it accepted"),
        "{}",
        a.human
    );

    // A FAILED attestation (the other key's) beside the good ones: all fails the
    // attestation check, any accepts it.
    let r2 = rig(None);
    r2.sign(&r2.key);
    r2.attest(None);
    let pf = r2.root.join("pred-0.json");
    let o = pvk([
        "attest",
        "--key",
        r2.other_key.to_str().unwrap(),
        "--predicate",
        pf.to_str().unwrap(),
        "--type",
        "https://slsa.dev/provenance/v1",
        &r2.image(),
    ]);
    assert_code(&o, 0);
    let a = r2.audit(&[]);
    a.assert_fails("attestation", "windows/amd64:10.0.20348");
    let att = a.json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "attestation")
        .unwrap();
    let msg = att["message"].as_str().unwrap();
    assert!(
        msg.starts_with("rule all: 1 of 4 attestation(s) found FAILED: ")
            && msg.contains("bad_signature"),
        "{msg}"
    );
    let p2 = r2.root.join("policy.toml");
    let t2 = std::fs::read_to_string(&p2).unwrap();
    std::fs::write(
        &p2,
        t2.replacen("[signatures]\n", "[signatures]\nrule = 'any'\n", 1),
    )
    .unwrap();
    r2.audit(&[]).assert_passes();
}
