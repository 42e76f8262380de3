//! Noise rules: any (pattern, path) pair through the component glob, and any path with
//! content through the built-in file and registry rules (`judge_file`, `judge_registry`,
//! `autostart`): a verdict, never a panic or a hang.
//! Input: pattern, NUL, path, NUL, value name, NUL, content / value data.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pause_verify::compare::noise::{self, FileFacts, RegChange};
use pause_verify::hive::RootHive;

const KINDS: [&str; 6] = ["file", "dir", "whiteout", "hardlink", "symlink", "other(3)"];

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = s.splitn(4, '\0');
    let (pattern, path, value, content) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("").as_bytes(),
    );
    // Patterns are the built-in rules (constants with at most two `**` and one `{}`):
    // a pattern with many of either costs exponential time by design, so fuzzed
    // patterns are held to a few. Paths (from layers) are not bounded.
    if pattern.matches("**").count() <= 3 && pattern.matches('{').count() <= 3 {
        let _ = noise::glob_match(pattern, path, '/');
        let _ = noise::glob_match(pattern, path, '\\');
    }
    if !path.contains(['*', '{']) {
        assert!(
            noise::glob_match(path, path, '/'),
            "{path:?} matches itself"
        );
        assert!(
            noise::glob_match(path, path, '\\'),
            "{path:?} matches itself"
        );
    }
    let _ = noise::explain_file(path);
    let _ = noise::is_profile_hive(path);
    let hive_ok: Result<(), String> = Ok(());
    let facts = FileFacts {
        path,
        kind: KINDS[content.len() % KINDS.len()],
        size: content.len() as u64,
        head: &content[..content.len().min(noise::HEAD)],
        hive: noise::is_profile_hive(path).then_some(&hive_ok),
    };
    let _ = noise::judge_file(&facts);
    let _ = noise::autostart(path, Some(value));
    let kind = content.first().map_or(1, |b| u32::from(b % 12));
    for hive in [RootHive::Software, RootHive::System, RootHive::Default] {
        for change in [
            RegChange::KeyCreated,
            RegChange::KeyDeleted,
            RegChange::ValueSet {
                kind,
                data: content,
            },
            RegChange::ValueDeleted,
        ] {
            let _ = noise::judge_registry(hive, path, Some(value), change);
            let _ = noise::judge_registry(hive, path, None, change);
        }
    }
});
