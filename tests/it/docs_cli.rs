//! Every subcommand and flag `--help` shows is documented in README.md or docs/*.md.

use crate::common;

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
        &["layout"],
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

/// GitHub's heading anchor: lower case, punctuation other than '-' and '_' dropped,
/// spaces to '-'.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn in_page_links_resolve() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            files.push(p);
        }
    }
    let mut broken = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let anchors: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with('#'))
            .map(|l| slug(l.trim_start_matches('#')))
            .collect();
        for (i, _) in text.match_indices("](#") {
            let rest = &text[i + 3..];
            let a = &rest[..rest.find(')').unwrap()];
            if !anchors.iter().any(|x| x == a) {
                broken.push(format!(
                    "{}: #{a}",
                    f.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    assert!(broken.is_empty(), "links to missing headings: {broken:?}");
}
