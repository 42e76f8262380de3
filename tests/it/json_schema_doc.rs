//! docs/json-schema.md against what the commands really print with `--json`: every
//! command's document has a section for its `kind` that states the same schemaVersion,
//! and every field name the document uses (at any depth) is documented.
//!
//! The rebuild/diff report is also held against docs/compare-report.schema.json
//! elsewhere (tests/rebuild_compare.rs); this test is the cheap net for all commands.

use crate::common;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn doc() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json-schema.md"))
        .unwrap()
}

/// The headings (`## ...`) that name `kind`, e.g. "## `sign` (kind `sign`, schemaVersion `"1"`)".
fn headings<'a>(doc: &'a str, kind: &str) -> Vec<&'a str> {
    doc.lines()
        .filter(|l| l.starts_with("## "))
        .filter(|l| {
            let k = l.find("kind").map(|i| &l[i..]).unwrap_or("");
            k.contains(&format!("`{kind}`")) || k.contains(&format!("\"{kind}\""))
        })
        .collect()
}

fn field_names(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                // Maps keyed by data (digests, paths) are not field names.
                if !k.starts_with("sha256:") && !k.contains('/') && !k.contains('\\') {
                    out.insert(k.clone());
                }
                field_names(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| field_names(x, out)),
        _ => {}
    }
}

/// A field is documented when its name appears as a name: `name`, "name", `name[]`,
/// `{name, ...}` lists and the like, not merely inside another word.
fn documented(doc: &str, name: &str) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    doc.match_indices(name).any(|(i, _)| {
        let before = doc[..i].chars().next_back();
        let after = doc[i + name.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

#[track_caller]
fn check(doc: &str, out: &std::process::Output) {
    check_exit(doc, out, 0)
}

#[track_caller]
fn check_exit(doc: &str, out: &std::process::Output, code: i32) {
    common::assert_code(out, code);
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON document on stdout");
    let kind = v["kind"].as_str().expect("kind");
    let version = v["schemaVersion"]
        .as_str()
        .expect("schemaVersion is a string");
    let hs = headings(doc, kind);
    assert!(
        !hs.is_empty(),
        "docs/json-schema.md has no section for kind {kind:?}"
    );
    assert!(
        hs.iter()
            .any(|h| h.contains(&format!("schemaVersion `\"{version}\"`"))
                || h.contains(&format!("schemaVersion \"{version}\""))),
        "kind {kind}: output schemaVersion {version:?}, doc headings {hs:?}"
    );
    let mut names = BTreeSet::new();
    field_names(&v, &mut names);
    let missing: Vec<_> = names.iter().filter(|n| !documented(doc, n)).collect();
    assert!(
        missing.is_empty(),
        "kind {kind}: fields not in docs/json-schema.md: {missing:?}"
    );
}

#[test]
fn every_command_json_matches_the_documented_schema() {
    let doc = doc();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let pv = || common::Pv::new().cwd(d).password("pw");
    let run = |args: &[&str]| {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        pv().run(a)
    };

    let o = run(&["fixture", "nanoserver", "--out", "ns"]);
    check(&doc, &o);
    let fx: Value = serde_json::from_slice(&o.stdout).unwrap();
    let base = fx["reference"].as_str().unwrap().to_string();
    check(&doc, &run(&["build", "--base", &base, "--out", "pb"]));
    check(&doc, &run(&["inspect", "--diff-ids", "oci:pb"]));
    check(&doc, &run(&["copy", "oci:pb", "oci:pub:v1"]));
    check(&doc, &run(&["diff", "oci:pb", "oci:pub:v1"]));
    check(
        &doc,
        &run(&["generate-key-pair", "--output-key-prefix", "k"]),
    );
    check(
        &doc,
        &run(&["sign", "--key", "k.key", "--bundle", "oci:pub:v1"]),
    );
    std::fs::write(d.join("p.json"), br#"{"a":1}"#).unwrap();
    check(
        &doc,
        &run(&[
            "attest",
            "--key",
            "k.key",
            "--predicate",
            "p.json",
            "--type",
            "https://example.com/t",
            "--bundle",
            "--attestations-dir",
            "att",
            "oci:pub:v1",
        ]),
    );
    check(
        &doc,
        &run(&[
            "verify",
            "--key",
            "k.pub",
            "--attestations",
            "--attestations-dir",
            "att",
            "oci:pub:v1",
        ]),
    );
    let bundle = std::fs::read_dir(d.join("att"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".sigstore.json"))
        .unwrap();
    let hex = bundle
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .to_string();
    check(
        &doc,
        &run(&[
            "verify-bundle",
            "--bundle",
            bundle.to_str().unwrap(),
            "--digest",
            &format!("sha256:{hex}"),
            "--key",
            "k.pub",
        ]),
    );
    check(
        &doc,
        &run(&[
            "audit",
            "--image",
            "oci:pub:v1",
            "--key",
            "k.pub",
            "--base",
            &base,
        ]),
    );
    if let Some(f) = common::fixtures() {
        let delta = f.join("hives/yarp/System_Delta");
        let empty = f.join("hives/yarp/EmptyHive");
        check(&doc, &run(&["hive", "dump", delta.to_str().unwrap()]));
        // hive diff exits 1 when the hives differ; the document is printed either way.
        let o = run(&[
            "hive",
            "diff",
            delta.to_str().unwrap(),
            empty.to_str().unwrap(),
        ]);
        check_exit(&doc, &o, 1);
    }
}
