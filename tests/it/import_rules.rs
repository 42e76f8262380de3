//! The module layering of docs/architecture.md §2, enforced: every `crate::X` (and, in
//! the binary, `pause_verify::X`) path and every `super::` path that climbs out of a
//! top-level module is an import of module X; each module may import only the modules
//! its row of [`ALLOWED`] lists. A new edge either follows the table or changes the table
//! and the document together.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Module → the modules it may import (besides itself, std and crates). Keep in step
/// with the table in docs/architecture.md §2.
const ALLOWED: &[(&str, &[&str])] = &[
    // 0 leaves
    ("time", &[]),
    ("atomic", &[]),
    ("progress", &[]),
    ("limits", &[]),
    // 1 formats and the image model
    ("hive", &["time", "atomic", "progress", "limits"]),
    ("wclayer", &["time", "atomic", "progress", "limits", "hive"]),
    ("recipe", &["time", "atomic", "progress", "limits", "image"]),
    ("image", &["time", "atomic", "progress", "limits"]),
    ("pe", &["time", "atomic", "progress", "limits"]),
    // 2 use cases
    (
        "build",
        &[
            "time", "atomic", "progress", "limits", "hive", "wclayer", "recipe", "image",
        ],
    ),
    (
        "fixture",
        &[
            "time", "atomic", "progress", "limits", "hive", "wclayer", "recipe", "image", "build",
        ],
    ),
    (
        "compare",
        &[
            "time", "atomic", "progress", "limits", "hive", "wclayer", "recipe", "image", "pe",
        ],
    ),
    (
        "attest",
        &[
            "time", "atomic", "progress", "limits", "hive", "wclayer", "recipe", "image",
        ],
    ),
    (
        "notary",
        &["time", "atomic", "progress", "limits", "image", "attest"],
    ),
    // 2½ the rebuild use case (and its chain): build, compare, and the statements
    (
        "rebuild",
        &[
            "time", "atomic", "progress", "limits", "hive", "wclayer", "recipe", "image", "build",
            "pe", "compare", "attest", "notary",
        ],
    ),
    // 3 the gate
    (
        "policy",
        &[
            "time", "atomic", "progress", "limits", "hive", "wclayer", "recipe", "image", "build",
            "compare", "attest", "fixture", "notary", "rebuild",
        ],
    ),
    (
        "audit",
        &[
            "time", "atomic", "progress", "limits", "hive", "wclayer", "recipe", "image", "build",
            "compare", "attest", "fixture", "policy", "notary", "rebuild",
        ],
    ),
    // the in-toto layout and links: keys from attest, digests from image
    (
        "layout",
        &["time", "atomic", "progress", "limits", "image", "attest"],
    ),
];

/// One import that breaks the table: (file, line, from, to).
type Violation = (String, usize, String, String);

fn allowed(from: &str) -> Option<BTreeSet<&'static str>> {
    if from == "cli" {
        return None; // the binary may import anything
    }
    ALLOWED
        .iter()
        .find(|(m, _)| *m == from)
        .map(|(_, a)| a.iter().copied().collect())
}

/// The identifier starting at `s` (letters, digits, `_`).
fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules `text` (the file of module path `module`, e.g. ["attest",
/// "storage"]) refers to, with line numbers. Comments are skipped; an inline `mod x {`
/// makes the rest of the file one module deeper (test modules sit at the end).
fn imports(module: &[String], text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut depth_extra = 0usize;
    for (i, line) in text.lines().enumerate() {
        let code = match line.find("//") {
            Some(p) => &line[..p],
            None => line,
        };
        let t = code.trim_start();
        if t.starts_with("mod ") && t.trim_end().ends_with('{') {
            depth_extra += 1;
        }
        for prefix in ["crate::", "pause_verify::"] {
            let mut rest = code;
            while let Some(p) = rest.find(prefix) {
                let before_ok = rest[..p]
                    .chars()
                    .last()
                    .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
                let after = &rest[p + prefix.len()..];
                let name = ident(after);
                if before_ok && !name.is_empty() {
                    out.push((i + 1, name.to_string()));
                }
                rest = after;
            }
        }
        let mut rest = code;
        while let Some(p) = rest.find("super::") {
            let before_ok = rest[..p]
                .chars()
                .last()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'));
            let mut after = &rest[p..];
            let mut n = 0;
            while let Some(a) = after.strip_prefix("super::") {
                n += 1;
                after = a;
            }
            let depth = module.len() + depth_extra;
            if before_ok && n >= depth {
                // Climbed to the crate root: the next name is a top-level module.
                let mut a = after;
                for _ in depth..n {
                    a = a.split_once("::").map_or("", |(_, r)| r);
                }
                let name = ident(a);
                if !name.is_empty() {
                    out.push((i + 1, name.to_string()));
                }
            }
            rest = &rest[p + "super::".len()..];
        }
    }
    out
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn violations(src: &Path) -> Vec<Violation> {
    let mut files = Vec::new();
    rs_files(src, &mut files);
    files.sort();
    let tops: BTreeSet<String> = files
        .iter()
        .filter_map(|f| {
            let rel = f.strip_prefix(src).ok()?;
            let first = rel.components().next()?.as_os_str().to_str()?;
            Some(first.trim_end_matches(".rs").to_string())
        })
        .collect();
    let mut bad = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(src).unwrap();
        let mut module: Vec<String> = rel
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if module.last().is_some_and(|m| m == "mod") {
            module.pop();
        }
        if module == ["lib"] {
            continue; // the crate root declares the modules
        }
        let from = match module[0].as_str() {
            "main" | "cli" => "cli".to_string(),
            m => m.to_string(),
        };
        if from == "cli" {
            continue; // the binary may import anything
        }
        let Some(ok) = allowed(&from) else {
            // A module the table does not know would go unchecked: name it instead.
            bad.push((
                rel.display().to_string(),
                0,
                from.clone(),
                "anything (the module has no row in the layer table)".to_string(),
            ));
            continue;
        };
        // Files of the crate root's own level (src/x.rs) are modules of depth 1.
        let text = std::fs::read_to_string(f).unwrap();
        for (line, to) in imports(&module, &text) {
            if to == from || !tops.contains(&to) || to == "main" {
                continue;
            }
            if !ok.contains(to.as_str()) {
                bad.push((rel.display().to_string(), line, from.clone(), to));
            }
        }
    }
    bad
}

#[test]
fn every_import_follows_the_layer_table() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = violations(&src);
    let listed: Vec<String> = bad
        .iter()
        .map(|(f, l, from, to)| format!("src/{f}:{l}: {from} imports {to}"))
        .collect();
    assert!(
        bad.is_empty(),
        "imports that break docs/architecture.md §2:\n{}",
        listed.join("\n")
    );
    // Every top-level module has a row (a new module gets its place in the table).
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let m = first.trim_end_matches(".rs");
        if !["lib", "main", "cli"].contains(&m) {
            assert!(allowed(m).is_some(), "module {m} has no row in ALLOWED");
        }
    }
}

#[test]
fn the_scanner_sees_each_form_of_import() {
    let m = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let names = |module: &[String], text: &str| -> Vec<String> {
        imports(module, text).into_iter().map(|(_, n)| n).collect()
    };
    // crate:: paths, in use lines and inline.
    assert_eq!(
        names(
            &m(&["image", "x"]),
            "use crate::attest::storage;\nlet a = crate::time::now();"
        ),
        ["attest", "time"]
    );
    // super:: that stays inside the module is not an import; one that climbs out is.
    assert!(names(&m(&["image", "x"]), "use super::model::Descriptor;").is_empty());
    assert_eq!(
        names(
            &m(&["image", "registry", "x"]),
            "use super::super::super::attest::Y;"
        ),
        ["attest"]
    );
    assert_eq!(
        names(&m(&["policy"]), "use super::compare::Report;"),
        ["compare"]
    );
    // Inside a test module, one more super:: is needed to climb out.
    assert!(
        names(
            &m(&["attest", "storage"]),
            "#[cfg(test)]\nmod tests {\n    use super::super::simplesigning;\n"
        )
        .is_empty()
    );
    // Comments and longer identifiers ending in `crate` do not count.
    assert!(names(&m(&["image"]), "// see crate::attest\nlet notcrate::x = 1;").is_empty());
    // The binary's view of the library.
    assert_eq!(
        names(&m(&["cli", "x"]), "use pause_verify::audit;"),
        ["audit"]
    );
    // And a forbidden edge is reported with its file and line.
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("image")).unwrap();
    std::fs::create_dir_all(t.path().join("attest")).unwrap();
    std::fs::write(t.path().join("image/mod.rs"), "pub mod x;\n").unwrap();
    std::fs::write(
        t.path().join("image/x.rs"),
        "\nuse crate::attest::Failure;\n",
    )
    .unwrap();
    std::fs::write(
        t.path().join("attest/mod.rs"),
        "use crate::image::Digest;\n",
    )
    .unwrap();
    assert_eq!(
        violations(t.path()),
        vec![(
            "image/x.rs".to_string(),
            2,
            "image".to_string(),
            "attest".to_string()
        )]
    );
}
