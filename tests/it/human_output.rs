//! Human output a person can scan: verdict first, short digests (full ones stay in
//! `--json`), lines no wider than `COLUMNS` except a single unbreakable token, and
//! colour only when asked (`--color`, `NO_COLOR`), for rebuild, diff, verify and audit.

use crate::common;

use common::{assert_code, stdout};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

const OSV: &str = "10.0.20348.2849";

fn pv(cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut p = common::Pv::new()
        .cwd(cwd)
        .password("human-output-test")
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS");
    for (k, v) in env {
        p = p.env(k, v);
    }
    p.run(args)
}

fn first_entry(layout: &Path) -> String {
    let idx: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    idx["manifests"][0]["digest"].as_str().unwrap().to_string()
}

/// Every line fits `width`, or is one token (its indent aside).
fn assert_fits(text: &str, width: usize, what: &str) {
    for l in text.lines() {
        let n = l.chars().count();
        assert!(
            n <= width || !l.trim().contains(' '),
            "{what} at {width}: a {n}-wide line: {l:?}\n{text}"
        );
    }
}

/// The full digests in `json` appear only shortened in `human`.
fn assert_short(human: &str, digest: &str, what: &str) {
    let hex = digest.strip_prefix("sha256:").unwrap();
    assert!(
        !human.contains(hex),
        "{what}: full digest in human output\n{human}"
    );
    assert!(
        human.contains(&format!("sha256:{}", &hex[..12])),
        "{what}: no short digest sha256:{}\n{human}",
        &hex[..12]
    );
    assert!(
        !human.contains(&format!("sha256:{}", &hex[..13])),
        "{what}: digest not cut at 12 hex\n{human}"
    );
}

#[test]
fn rebuild_diff_verify_audit_are_short_wrapped_and_coloured_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ok = |args: &[&str]| assert_code(&pv(d, &[], args), 0);
    ok(&[
        "fixture",
        "nanoserver",
        "--out",
        "ns",
        "--os-version",
        OSV,
        "-q",
    ]);
    let base = format!("oci:ns@{}", first_entry(&d.join("ns")));
    ok(&["generate-key-pair", "--output-key-prefix", "k"]);
    ok(&["build", "--base", &base, "--out", "pb", "-q"]);
    ok(&["sign", "-q", "--key", "k.key", "oci:pb"]);

    let cases: Vec<(&str, Vec<&str>, i32, &str)> = vec![
        (
            "rebuild",
            vec!["rebuild", "-q", "oci:pb", "--base", &base],
            0,
            "verdict: IDENTICAL",
        ),
        // The base against the pause image: many differences, long lines.
        (
            "diff",
            vec!["diff", "-q", &base, "oci:pb"],
            1,
            "verdict: DIFFERENT",
        ),
        (
            "verify",
            vec!["verify", "-q", "--key", "k.pub", "oci:pb"],
            0,
            "VERIFIED",
        ),
        (
            "audit",
            vec!["audit", "-q", "oci:pb", "--key", "k.pub", "--base", &base],
            0,
            "PASS: every required check passed",
        ),
    ];
    for (what, args, code, verdict) in &cases {
        let mut json_args = args.clone();
        json_args.push("--json");
        let j = pv(d, &[], &json_args);
        assert_code(&j, *code);
        let json = stdout(&j);
        let doc: Value = serde_json::from_str(&json).unwrap();
        let digest = match *what {
            "rebuild" | "diff" => doc["published"]["digest"].as_str(),
            "verify" => doc["subjects"][0]["digest"].as_str(),
            _ => doc["image"]["digest"].as_str(),
        }
        .unwrap()
        .to_string();
        assert!(
            json.contains(&digest) && digest.len() == 71,
            "{what}: {json}"
        );
        assert!(!json.contains('\x1b'), "{what}: escapes in JSON");
        // --color=always leaves JSON alone.
        let mut always_json = json_args.clone();
        always_json.push("--color=always");
        assert_eq!(stdout(&pv(d, &[], &always_json)), json, "{what}");

        for width in [80usize, 160] {
            let cols = width.to_string();
            let o = pv(d, &[("COLUMNS", &cols)], args);
            assert_code(&o, *code);
            let text = stdout(&o);
            assert!(
                text.lines().next().unwrap_or("").starts_with(verdict),
                "{what}: verdict not first\n{text}"
            );
            assert_fits(&text, width, what);
            assert_short(&text, &digest, what);
            assert!(!text.contains('\x1b'), "{what}: colour on a pipe\n{text}");
        }
        let mut never = args.clone();
        never.push("--color=never");
        let mut always = args.clone();
        always.push("--color=always");
        let o = pv(d, &[("NO_COLOR", "1")], &never);
        assert!(!o.stdout.contains(&0x1b), "{what}: --color=never");
        let o = pv(d, &[("NO_COLOR", "1")], args);
        assert!(!o.stdout.contains(&0x1b), "{what}: NO_COLOR");
        let o = pv(d, &[], &always);
        assert_code(&o, *code);
        let text = stdout(&o);
        assert!(
            text.contains("\x1b["),
            "{what}: --color=always gave no colour\n{text}"
        );
        // Colour does not change the words or the layout.
        let plain = stdout(&pv(d, &[], args));
        let stripped = text
            .replace("\x1b[32m", "")
            .replace("\x1b[31m", "")
            .replace("\x1b[33m", "")
            .replace("\x1b[0m", "");
        assert_eq!(stripped, plain, "{what}");
    }
}
