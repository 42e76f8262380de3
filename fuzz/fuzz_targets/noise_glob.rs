//! Noise rules: any (pattern, path) pair through the component glob, and any path
//! through the built-in file and registry rules: a yes/no, never a panic or a hang.
//! Input: pattern, NUL, path, NUL, value name.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pause_verify::compare::noise;
use pause_verify::hive::RootHive;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = s.splitn(3, '\0');
    let (pattern, path, value) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    // Patterns are the built-in rules (constants with at most one `**` and one `{}`):
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
    for hive in [RootHive::Software, RootHive::System, RootHive::Default] {
        let _ = noise::explain_registry(hive, path, Some(value));
        let _ = noise::explain_registry(hive, path, None);
    }
});
