//! The project's own `attestations/` (attestations/README.md): the checked-in provenance
//! and VSA of the demo's synthetic image must be what `scripts/attestations.sh` makes
//! today (else: "stale: run scripts/attestations.sh"), and must verify with the
//! checked-in public key, through the binary, against the image the same deterministic
//! steps rebuild in a temporary directory (and with securesystemslib, when present).

use crate::common;

use common::{assert_code, stderr, stdout};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const PROVENANCE: &str = "https://slsa.dev/provenance/v1";
const VSA: &str = "https://slsa.dev/verification_summary/v1";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `*.intoto.jsonl` files of a directory, by name.
fn envelope_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".intoto.jsonl"))
        .map(|e| {
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn verify_json(args: &[&str]) -> (i32, Value) {
    let o = common::pv(args);
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("verify: not JSON ({e}): {}\n{}", stdout(&o), stderr(&o)));
    (o.status.code().unwrap_or(-1), v)
}

#[test]
fn checked_in_attestations_are_fresh_and_verify() {
    if common::need_tool("bash").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let out = tmp.path().join("out");
    let o = Command::new("bash")
        .arg(repo().join("scripts/attestations.sh"))
        .arg("--out")
        .arg(&out)
        .env("PV", common::bin())
        .env("PV_DEMO_DIR", &work)
        .env("PAUSE_VERIFY_NO_CACHE", "1")
        .output()
        .unwrap();
    assert_code(&o, 0);

    // Fresh: the same files, byte for byte.
    let checked_in_dir = repo().join("attestations");
    let checked_in = envelope_files(&checked_in_dir);
    let regenerated = envelope_files(&out);
    assert!(!regenerated.is_empty(), "attestations.sh wrote nothing");
    if checked_in != regenerated {
        let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
        let differing: Vec<&String> = regenerated
            .iter()
            .filter(|(n, b)| checked_in.get(*n) != Some(b))
            .map(|(n, _)| n)
            .collect();
        panic!(
            "stale: run scripts/attestations.sh and commit attestations/*.intoto.jsonl\n  checked in: {:?}\n  regenerated: {:?}\n  new or different: {differing:?}",
            names(&checked_in),
            names(&regenerated)
        );
    }

    // Verify the checked-in files (only them: the built image pause-base/ has nothing
    // attached) with the checked-in public key, for the list and its platform image.
    let public = checked_in_dir.join("cosign.pub");
    let image = format!("oci:{}", work.join("pause-base").display());
    let dir = checked_in_dir.display().to_string();
    let (code, v) = verify_json(&[
        "verify",
        "--json",
        "--key",
        public.to_str().unwrap(),
        "--attestations-only",
        "--attestations-dir",
        &dir,
        "--all-platforms",
        &image,
    ]);
    assert_eq!(code, 0, "{v:#}");
    let subjects = v["subjects"].as_array().unwrap();
    assert_eq!(subjects.len(), 2, "the list and its one platform image");
    let mut types = Vec::new();
    for s in subjects {
        let checks = s["attestations"].as_array().unwrap();
        assert!(!checks.is_empty(), "nothing checked for {}", s["digest"]);
        for c in checks {
            assert_eq!(c["verified"], true, "{c:#}");
            assert!(
                c["source"].as_str().unwrap().starts_with(&dir),
                "only the checked-in files are read: {c}"
            );
            types.push(c["detail"]["predicateType"].as_str().unwrap().to_string());
        }
    }
    assert!(types.iter().any(|t| t == PROVENANCE), "{types:?}");
    assert!(types.iter().any(|t| t == VSA), "{types:?}");
    // The provenance is about the platform image (the list has only the VSA).
    let (code, v) = verify_json(&[
        "verify",
        "--json",
        "--key",
        public.to_str().unwrap(),
        "--attestations-only",
        "--type",
        PROVENANCE,
        "--attestations-dir",
        &dir,
        "--platform",
        "windows/amd64",
        &image,
    ]);
    assert_eq!(code, 1, "{v:#}");
    let verified: Vec<bool> = v["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["verified"].as_bool().unwrap())
        .collect();
    assert_eq!(verified, [false, true]);

    // Not vacuous: another key verifies none of them.
    let other = tmp.path().join("other");
    let o = Command::new(common::bin())
        .args(["generate-key-pair", "--output-key-prefix"])
        .arg(&other)
        .env("COSIGN_PASSWORD", "x")
        .output()
        .unwrap();
    assert_code(&o, 0);
    let (code, v) = verify_json(&[
        "verify",
        "--json",
        "--key",
        other.with_extension("pub").to_str().unwrap(),
        "--attestations-only",
        "--attestations-dir",
        &dir,
        "--all-platforms",
        &image,
    ]);
    assert_eq!(code, 1, "{v:#}");

    // And an independent DSSE implementation agrees, line by line.
    if common::need(
        "Python with securesystemslib (PAUSE_VERIFY_PYTHON)",
        common::python_has(&["securesystemslib", "cryptography"]),
    ) {
        for (name, bytes) in &checked_in {
            for (i, line) in bytes
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .enumerate()
            {
                let f = tmp.path().join(format!("{name}.{i}.json"));
                std::fs::write(&f, line).unwrap();
                let o = Command::new(common::python())
                    .arg(repo().join("tests/attest_dsse_verify.py"))
                    .arg(&public)
                    .arg(&f)
                    .output()
                    .unwrap();
                assert!(
                    o.status.success(),
                    "securesystemslib: {name} line {}: {}",
                    i + 1,
                    stdout(&o)
                );
            }
        }
    }
}
