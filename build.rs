//! The git commit `--version` names: `git rev-parse --short=12 HEAD` when this package is
//! its own git checkout and git is installed, else "unknown" (a crates.io tarball, a vendored copy).
//! Nothing else of the environment gets in, so a build stays reproducible given its commit.

use std::process::Command;

fn main() {
    let commit = if own_checkout() { head() } else { None };
    let commit = commit.unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=PAUSE_VERIFY_GIT_COMMIT={commit}");
    watch_head();
    println!("cargo:rerun-if-changed=build.rs");
}

/// `git rev-parse ARGS` in the package directory, if git ran and succeeded.
fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
}

/// The work tree is this package's own: a copy unpacked inside some other repository
/// (vendored, a crates.io tarball under a git-tracked folder) must not take its commit.
fn own_checkout() -> bool {
    let (Some(top), Ok(here)) = (
        git(&["rev-parse", "--show-toplevel"]),
        std::env::var("CARGO_MANIFEST_DIR"),
    ) else {
        return false;
    };
    let canon = |p: &str| std::fs::canonicalize(p).ok();
    canon(&top).is_some_and(|t| Some(t) == canon(&here))
}

/// The commit, 12 hex digits (a fixed length: `--short` alone grows with the repository).
fn head() -> Option<String> {
    git(&["rev-parse", "--short=12", "HEAD"])
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Rebuild when HEAD moves (a commit or a checkout). The git dir is asked for: in a
/// worktree `.git` is a file naming it elsewhere. Outside git: nothing to watch.
fn watch_head() {
    if let Some(d) = git(&["rev-parse", "--absolute-git-dir"]) {
        let d = std::path::PathBuf::from(d);
        for f in [d.join("HEAD"), d.join("logs/HEAD")] {
            if f.exists() {
                println!("cargo:rerun-if-changed={}", f.display());
            }
        }
    }
}
