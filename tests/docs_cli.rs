//! Every subcommand and flag `--help` shows is documented in README.md or docs/*.md.

mod common;

use std::path::Path;

fn docs() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = std::fs::read_to_string(root.join("README.md")).unwrap();
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            all.push_str(&std::fs::read_to_string(p).unwrap());
        }
    }
    all
}

/// `--long-flag` names in a help text.
fn flags(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        let t = t.strip_prefix("-q, ").unwrap_or(t);
        if let Some(rest) = t.strip_prefix("--") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            out.push(format!("--{name}"));
        }
    }
    out
}

#[test]
fn every_help_flag_is_documented() {
    let docs = docs();
    let documented = |flag: &str| {
        docs.match_indices(flag).any(|(i, _)| {
            let after = docs[i + flag.len()..].chars().next();
            !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
        })
    };
    let commands: &[&[&str]] = &[
        &[],
        &["inspect"],
        &["copy"],
        &["fixture", "nanoserver"],
        &["build"],
        &["rebuild"],
        &["diff"],
        &["hive", "dump"],
        &["hive", "diff"],
        &["generate-key-pair"],
        &["sign"],
        &["attest"],
        &["verify"],
        &["verify-bundle"],
        &["audit"],
    ];
    let mut missing = Vec::new();
    for c in commands {
        let mut args: Vec<&str> = c.to_vec();
        args.push("--help");
        let o = common::pv(&args);
        common::assert_code(&o, 0);
        let help = common::stdout(&o);
        for f in flags(&help) {
            if f != "--help" && f != "--version" && !documented(&f) {
                missing.push(format!("{} {f}", c.join(" ")));
            }
        }
        let name = c.join(" ");
        if !name.is_empty() {
            assert!(
                docs.contains(&format!("pause-verify {name}")),
                "no synopsis for `pause-verify {name}` in README.md or docs/"
            );
        }
    }
    assert!(missing.is_empty(), "undocumented flags: {missing:?}");
}
