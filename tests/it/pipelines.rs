//! The CI integrations (issue 18): the GitHub Action, the reusable matrix workflow, the
//! example workflow and the GitLab template validate against their published JSON
//! schemas (`check-jsonschema`'s vendored schemas, offline); the composite action's steps
//! run locally, exactly as action.yml states them (tests/action_runner.py), against the
//! loopback registry: PASSED on a signed pause image, FAILED on one signed by another
//! key; the matrix's merge step fails closed; the Tekton and Kyverno manifests hold the
//! keys their engines read (tests/pipelines_manifests.py).

use crate::common;
use common::images::root_ref;
use common::{Pv, assert_code, python};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const PASSWORD: &str = "pipelines-test";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tool of the test venv (beside its python).
fn venv_tool(name: &str) -> Option<PathBuf> {
    let p = python().parent().map(|d| d.join(name));
    let present = p.as_ref().is_some_and(|p| p.is_file());
    if common::need(&format!("{name} in the test venv"), present) {
        p
    } else {
        None
    }
}

fn check_jsonschema(schema: &str, files: &[PathBuf]) -> std::process::Output {
    let tool = venv_tool("check-jsonschema").unwrap();
    Command::new(tool)
        .arg("--builtin-schema")
        .arg(schema)
        .args(files)
        .output()
        .unwrap()
}

#[test]
fn workflow_action_and_gitlab_files_validate_against_their_schemas() {
    if venv_tool("check-jsonschema").is_none() {
        return;
    }
    let r = repo();
    let workflows: Vec<PathBuf> = std::fs::read_dir(r.join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    assert!(workflows.len() >= 2, "{workflows:?}");
    for (schema, files) in [
        ("vendor.github-workflows", workflows),
        ("vendor.github-actions", vec![r.join("action.yml")]),
        (
            "vendor.gitlab-ci",
            vec![r.join("ci/gitlab/pause-verify.gitlab-ci.yml")],
        ),
    ] {
        let o = check_jsonschema(schema, &files);
        assert_code(&o, 0);
        // A control: the same schema rejects a broken copy, so the pass above means
        // something (an unknown key where the schema allows none).
        let tmp = tempfile::tempdir().unwrap();
        let bad = tmp.path().join("bad.yml");
        let text = std::fs::read_to_string(&files[0]).unwrap();
        std::fs::write(&bad, format!("{text}\nnot-a-key-any-schema-allows: 1\n")).unwrap();
        let o = check_jsonschema(schema, &[bad]);
        assert_eq!(o.status.code(), Some(1), "{schema} accepted a broken file");
    }
}

/// Runs action.yml's steps with these inputs; returns the runner's JSON.
fn run_action(cwd: &Path, inputs: Value) -> Value {
    let out = cwd.join(format!(
        "runner-{}.json",
        inputs["out-dir"].as_str().unwrap_or("out")
    ));
    let o = Command::new(python())
        .arg(repo().join("tests/action_runner.py"))
        .arg(repo())
        .arg(inputs.to_string())
        .arg(&out)
        .current_dir(cwd)
        .env("PAUSE_VERIFY_NO_CACHE", "1")
        .env("COSIGN_PASSWORD", "not-this-one")
        .env("HOME", cwd)
        .output()
        .unwrap();
    assert_code(&o, 0);
    eprintln!("{}", String::from_utf8_lossy(&o.stdout));
    serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
}

#[test]
fn action_steps_pass_on_a_good_image_and_fail_on_a_bad_one() {
    let Some(registry) = common::registry() else {
        return;
    };
    if common::need_tool("jq").is_none() || venv_tool("check-jsonschema").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let pv = || Pv::new().cwd(root).password(PASSWORD);
    pv().ok([
        "fixture",
        "nanoserver",
        "--out",
        "base",
        "-q",
        "--os-version",
        "10.0.20348.2849",
    ]);
    let base = root_ref(&root.join("base"));
    pv().ok(["build", "--base", &base, "--out", "built", "-q"]);
    let (key, other) = common::audit::signer_and_other_keys(root, PASSWORD);
    let good = format!("docker://{}:v1", common::unique(&registry, "action-good"));
    let bad = format!("docker://{}:v1", common::unique(&registry, "action-bad"));
    for (image, k) in [(&good, &key), (&bad, &other)] {
        pv().ok(["copy", &root_ref(&root.join("built")), image, "-q"]);
        pv().ok([
            "sign",
            "--key",
            k.to_str().unwrap(),
            "--recursive",
            image,
            "-q",
        ]);
    }
    let inputs = |image: &str, out: &str, platform: &str| {
        json!({
            "image": image, "platform": platform, "key": "signer.pub", "base": base,
            "sign-key": "signer.key", "sign-key-password": PASSWORD,
            "insecure": registry, "out-dir": out, "binary": common::bin(),
            "attach-vsa": if out == "good" { "true" } else { "false" },
        })
    };

    let r = run_action(root, inputs(&good, "good", ""));
    assert_eq!(r["exit"], 0, "{r:#}");
    assert_eq!(r["steps"], json!(["plan", "install", "audit"]));
    assert_eq!(
        r["skipped"],
        json!(["actions/cache@v4", "actions/cache@v4"])
    );
    let out = &r["outputs"];
    assert_eq!(out["verdict"], "PASSED");
    let digest = out["digest"].as_str().unwrap();
    assert!(digest.starts_with("sha256:"), "{out}");
    assert!(
        out["image"]
            .as_str()
            .unwrap()
            .ends_with(&format!("@{digest}"))
    );
    assert!(
        r["summary"]
            .as_str()
            .unwrap()
            .contains("pause-verify audit: PASSED")
    );
    // One summary: the action's; the audit's own --markdown report is not appended too.
    assert!(
        !r["summary"].as_str().unwrap().contains("audit verdict:"),
        "{r:#}"
    );
    assert!(r["summary"].as_str().unwrap().contains(digest));
    let report: Value =
        serde_json::from_slice(&std::fs::read(root.join(out["json"].as_str().unwrap())).unwrap())
            .unwrap();
    assert_eq!(report["passed"], true);
    let junit = std::fs::read_to_string(root.join(out["junit"].as_str().unwrap())).unwrap();
    assert!(junit.contains("<testsuite") && !junit.contains("<failure "));
    let vsa: Value =
        serde_json::from_slice(&std::fs::read(root.join(out["vsa"].as_str().unwrap())).unwrap())
            .unwrap();
    assert_eq!(vsa["payloadType"], "application/vnd.in-toto+json");
    // attach-vsa stored it on the digest: it verifies as a VSA with the signer's key.
    let o = pv().run([
        "verify",
        "--key",
        "signer.pub",
        "--attestations-only",
        "--type",
        "https://slsa.dev/verification_summary/v1",
        "--insecure",
        &registry,
        out["image"].as_str().unwrap(),
    ]);
    assert_code(&o, 0);
    // Kyverno's conditions (deploy/kyverno), evaluated on this VSA: admitted; tampered: not.
    let o = Command::new(python())
        .arg(repo().join("tests/pipelines_manifests.py"))
        .arg(repo())
        .arg(root.join(out["vsa"].as_str().unwrap()))
        .arg(good.trim_end_matches(":v1"))
        .output()
        .unwrap();
    assert_code(&o, 0);
    assert!(String::from_utf8_lossy(&o.stdout).contains("4 tampered ones refused"));

    // One platform of the image, resolved to its manifest and audited by digest.
    let r = run_action(
        root,
        inputs(&good, "good-ltsc2022", "windows/amd64:10.0.20348"),
    );
    assert_eq!(r["exit"], 0, "{r:#}");
    let platform_image = r["outputs"]["image"].as_str().unwrap();
    assert_ne!(
        r["outputs"]["digest"],
        json!(digest),
        "the platform manifest, not the index"
    );
    assert!(platform_image.starts_with(good.trim_end_matches(":v1")));

    // Signed by a key the gate does not trust: FAILED, exit 1, the summary says why.
    let r = run_action(root, inputs(&bad, "bad", ""));
    assert_eq!(r["exit"], 1, "{r:#}");
    assert_eq!(r["outputs"]["verdict"], "FAILED");
    let summary = r["summary"].as_str().unwrap();
    assert!(summary.contains("pause-verify audit: FAILED"), "{summary}");
    assert!(
        summary.contains("| signature | windows/amd64:10.0.20348"),
        "{summary}"
    );
    assert!(summary.contains("❌ FAIL"), "{summary}");
    // fail-on-no-go: false lets the step pass with the verdict in the output.
    let mut soft = inputs(&bad, "bad-soft", "");
    soft["fail-on-no-go"] = json!("false");
    let r = run_action(root, soft);
    assert_eq!(r["exit"], 0, "{r:#}");
    assert_eq!(r["outputs"]["verdict"], "FAILED");
    // A missing input is exit 2 (ERROR), never a pass.
    let mut broken = inputs(&good, "broken", "");
    broken["key"] = json!("no-such.pub");
    let r = run_action(root, broken);
    assert_eq!(r["exit"], 2, "{r:#}");
    assert_eq!(r["outputs"]["verdict"], "ERROR");

    // A release binary by URL: installed only when its sha256 matches.
    let bin_sha = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(std::fs::read(common::bin()).unwrap()))
    };
    let url = format!("file://{}", common::bin().display());
    let mut by_url = inputs(&good, "by-url-bad", "");
    by_url["binary"] = json!("");
    by_url["binary-url"] = json!(url);
    by_url["binary-sha256"] = json!("0".repeat(64));
    let r = run_action(root, by_url.clone());
    assert_eq!(r["exit"], 2, "{r:#}");
    assert_eq!(
        r["steps"],
        json!(["plan", "install"]),
        "the audit must not run"
    );
    by_url["binary-sha256"] = json!(bin_sha);
    by_url["out-dir"] = json!("by-url");
    let r = run_action(root, by_url);
    assert_eq!(r["exit"], 0, "{r:#}");
    assert_eq!(r["outputs"]["verdict"], "PASSED");

    // The matrix's gather step: every expected job must have reported PASSED.
    let merge = |dirs: &[&str], expected: &str| {
        let m = tempfile::tempdir().unwrap();
        for d in dirs {
            std::fs::create_dir_all(m.path().join(d)).unwrap();
            std::fs::copy(
                root.join(d).join("verdict.json"),
                m.path().join(d).join("verdict.json"),
            )
            .unwrap();
        }
        let o = Command::new(repo().join("action/merge-verdicts.sh"))
            .arg(m.path())
            .arg(expected)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let (code, md) = merge(&["good", "good-ltsc2022"], "2");
    assert_eq!(code, Some(0), "{md}");
    assert!(md.contains("audit matrix: PASSED") && md.contains("windows/amd64:10.0.20348"));
    let (code, md) = merge(&["good", "bad"], "2");
    assert_eq!(code, Some(1), "{md}");
    assert!(md.contains("1 not PASSED"), "{md}");
    let (code, md) = merge(&["good"], "2");
    assert_eq!(
        code,
        Some(1),
        "a job that never reported must fail the gate: {md}"
    );
}

#[test]
fn tekton_and_kyverno_manifests_hold_what_their_engines_read() {
    let check = |root: &Path| {
        Command::new(python())
            .arg(repo().join("tests/pipelines_manifests.py"))
            .arg(root)
            .output()
            .unwrap()
    };
    assert_code(&check(&repo()), 0);
    // Controls: a copy with one engine-read key broken is refused, naming it.
    for (file, from, to, named) in [
        (
            "deploy/tekton/task-pause-verify-audit.yaml",
            "- name: IMAGE_DIGEST",
            "- name: IMAGE_SHA",
            "IMAGE_DIGEST",
        ),
        (
            "deploy/tekton/pipeline-pause-verify-platforms.yaml",
            "name: PLATFORM\n",
            "name: PLATFORMZ\n",
            "PLATFORMZ",
        ),
        (
            "deploy/kyverno/pause-verify-vsa.yaml",
            "{{ verifier.id }}",
            "{{ verifier.name }}",
            "verifier.id",
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        for f in [
            "deploy/tekton/task-pause-verify-audit.yaml",
            "deploy/tekton/pipeline-pause-verify-platforms.yaml",
            "deploy/kyverno/pause-verify-vsa.yaml",
            "attestations/cosign.pub",
        ] {
            let dest = tmp.path().join(f);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            let text = std::fs::read_to_string(repo().join(f)).unwrap();
            let text = if f == file {
                assert!(text.contains(from), "{f} lacks {from}");
                text.replacen(from, to, 1)
            } else {
                text
            };
            std::fs::write(dest, text).unwrap();
        }
        let o = check(tmp.path());
        assert_eq!(
            o.status.code(),
            Some(1),
            "{file}: {from} -> {to} not caught"
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(named),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
