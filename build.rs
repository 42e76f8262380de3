//! The git commit `--version` names: `git rev-parse --short HEAD` when this is a git
//! checkout with git installed, else "unknown" (a crates.io tarball, a vendored copy).
//! Nothing else of the environment gets in, so a build stays reproducible given its commit.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=PAUSE_VERIFY_GIT_COMMIT={commit}");
    // Rebuild when HEAD moves (a commit or a checkout). The git dir is asked for: in a
    // worktree `.git` is a file naming it elsewhere.
    let git_dir = Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok());
    if let Some(d) = git_dir {
        let d = std::path::PathBuf::from(d.trim());
        for f in [d.join("HEAD"), d.join("logs/HEAD")] {
            if f.exists() {
                println!("cargo:rerun-if-changed={}", f.display());
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
