//! The global registry flags (`--creds`, `--no-cache`) reach every command that reads an
//! image from a registry, not only `copy`/`inspect`: `build`, `rebuild`, `diff` and
//! `audit`'s rebuild, against the htpasswd loopback registry. Without credentials each
//! of them is a usage error (exit 2) that names the registry.

use crate::common;

use common::images::root_digest;
use common::{Pv, assert_code, stderr, stdout};
use pause_verify::attest::PrivateKey;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

const V2022: &str = "10.0.20348.2849";

/// Run the binary with no docker config (so only `--creds` can authenticate) and the
/// blob cache under `cache` (or none).
fn run(cwd: &Path, cache: Option<&Path>, args: &[&str]) -> Output {
    Pv::new().cwd(cwd).no_docker_config().cache(cache).run(args)
}

fn unique(name: &str) -> String {
    common::unique("pv-flags", name)
}

/// Regular files under `dir` (the blob cache), recursively.
fn files_under(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { files_under(&p) } else { 1 })
        .sum()
}

#[track_caller]
fn assert_unauthorized(o: &Output, host: &str) {
    assert_code(o, 2);
    assert!(
        stderr(o).contains(host),
        "the error names the registry: {}",
        stderr(o)
    );
}

#[test]
fn creds_and_no_cache_reach_build_rebuild_diff_and_audit() {
    let Some((host, user, pass)) = common::auth_registry() else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let cwd = t.path();
    let creds = format!("{user}:{pass}");
    let ok = |args: &[&str]| {
        let o = run(cwd, None, args);
        assert_code(&o, 0);
        stdout(&o)
    };

    // A base and the pause image built from it, both pushed to the auth registry.
    ok(&[
        "fixture",
        "nanoserver",
        "--out",
        "base",
        "-q",
        "--os-version",
        V2022,
    ]);
    let base_digest = root_digest(&cwd.join("base"));
    let base_local = format!("oci:base@{base_digest}");
    ok(&["build", "--base", &base_local, "--out", "built", "-q"]);
    let base_repo = unique("base");
    let img_repo = unique("pause");
    ok(&[
        "copy",
        "-q",
        "--creds",
        &creds,
        &base_local,
        &format!("docker://{host}/{base_repo}:t"),
    ]);
    ok(&[
        "copy",
        "-q",
        "--creds",
        &creds,
        "oci:built",
        &format!("docker://{host}/{img_repo}:t"),
    ]);
    let base = format!("docker://{host}/{base_repo}@{base_digest}");
    let img = format!("docker://{host}/{img_repo}:t");

    // build: the base from the registry.
    let o = run(cwd, None, &["build", "--base", &base, "--out", "b1", "-q"]);
    assert_unauthorized(&o, &host);
    assert!(!cwd.join("b1").exists());
    ok(&[
        "build", "--creds", &creds, "--base", &base, "--out", "b2", "-q",
    ]);
    assert_eq!(
        root_digest(&cwd.join("b2")),
        root_digest(&cwd.join("built")),
        "the same base from the registry builds the same image"
    );

    // rebuild: published image and base from the registry.
    let rebuild = ["rebuild", "--image", &img, "--base", &base, "--json", "-q"];
    assert_unauthorized(&run(cwd, None, &rebuild), &host);
    let mut with_creds = rebuild.to_vec();
    with_creds.extend(["--creds", &creds]);
    let r: Value = serde_json::from_str(&ok(&with_creds)).unwrap();
    assert_eq!(r["verdict"], "IDENTICAL", "{r}");

    // --no-cache: nothing lands in the blob cache; without it, the blobs do.
    let cache = cwd.join("cache");
    let mut no_cache = with_creds.clone();
    no_cache.push("--no-cache");
    let o = run(cwd, Some(&cache), &no_cache);
    assert_code(&o, 0);
    assert_eq!(files_under(&cache), 0, "--no-cache wrote to the blob cache");
    let o = run(cwd, Some(&cache), &with_creds);
    assert_code(&o, 0);
    assert!(
        files_under(&cache) > 0,
        "the cache is used without --no-cache"
    );

    // diff: both images from the registry.
    let diff = ["diff", &base, &img, "--json", "-q"];
    assert_unauthorized(&run(cwd, None, &diff), &host);
    let mut with_creds = diff.to_vec();
    with_creds.extend(["--creds", &creds]);
    let o = run(cwd, None, &with_creds);
    // base → pause image is a real change (exit 1), but it was compared.
    assert_code(&o, 1);
    let d: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(d["kind"], "diff");
    assert_eq!(d["platforms"].as_array().unwrap().len(), 1, "{d}");

    // audit: its rebuild reads the image and base with the same credentials.
    let k = PrivateKey::generate().unwrap();
    std::fs::write(cwd.join("k.pub"), k.public_key().to_pem()).unwrap();
    let audit = [
        "audit", "--image", &img, "--key", "k.pub", "--base", &base, "--json", "-q",
    ];
    assert_unauthorized(&run(cwd, None, &audit), &host);
    let mut with_creds = audit.to_vec();
    with_creds.extend(["--creds", &creds]);
    let o = run(cwd, None, &with_creds);
    // Unsigned, so the audit fails, but the rebuild itself must have run and matched.
    assert_code(&o, 1);
    let a: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rebuild_checks: Vec<&Value> = a["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == "rebuild-verdict")
        .collect();
    assert_eq!(rebuild_checks.len(), 1, "{a}");
    assert_eq!(rebuild_checks[0]["status"], "PASS", "{}", rebuild_checks[0]);
}
