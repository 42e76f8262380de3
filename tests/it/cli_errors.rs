//! Mistaken input at the command line: each case exits 2 with a message naming the
//! problem, never panics, and leaves nothing half-written. Regression tests for what a
//! QA pass over the CLI found.

use crate::common;

use std::process::Output;

/// Exit 2, no panic, and stderr names what is wrong (every `needles` entry).
#[track_caller]
fn refused(o: &Output, needles: &[&str]) -> String {
    common::assert_code(o, 2);
    let err = common::stderr(o);
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
    err
}

#[test]
fn registry_port_typos_are_malformed_references_not_retried_requests() {
    for r in [
        "docker://localhost:99999/foo",
        "docker://localhost:abc/foo",
        "docker://127.0.0.1:0/foo:v1",
    ] {
        let o = common::pv(["inspect", r]);
        let err = refused(&o, &["malformed image reference", "port"]);
        assert!(!err.contains("retry"), "{err}");
    }
}

#[test]
fn fixture_size_beyond_the_bound_is_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("f");
    // u64::MAX MiB used to saturate and plan padding files forever.
    for n in ["18446744073709551615", "65537"] {
        let o = common::pv([
            "fixture",
            "nanoserver",
            "--out",
            out.to_str().unwrap(),
            "--size-mb",
            n,
        ]);
        refused(&o, &["--size-mb"]);
        assert!(!out.exists());
    }
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn layout_out_onto_a_file_or_empty_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("k.pub");
    std::fs::write(&file, b"keep me").unwrap();
    // Was a bare "Not a directory (os error 20)".
    let o = common::pv(["fixture", "nanoserver", "--out", file.to_str().unwrap()]);
    refused(&o, &["k.pub", "is not a directory"]);
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
    // Was "moving the output into place at : No such file or directory".
    let o = common::Pv::new()
        .cwd(tmp.path())
        .run(["fixture", "nanoserver", "--out", ""]);
    refused(&o, &["--out is empty"]);
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
}

#[test]
fn an_error_cause_is_printed_once() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("f");
    std::fs::write(&file, b"x").unwrap();
    let missing = tmp.path().join("missing.tar");
    for (image, cause) in [
        (format!("oci:{}", file.display()), "Not a directory"),
        (
            format!("docker-archive:{}", missing.display()),
            "No such file or directory",
        ),
    ] {
        let o = common::pv(["inspect", &image]);
        let err = refused(&o, &[cause]);
        assert_eq!(err.matches(cause).count(), 1, "{err}");
    }
}

#[test]
fn audit_reports_may_not_overwrite_an_input_or_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("k.pub"), b"the key").unwrap();
    let pv = |extra: &[&str]| {
        let mut a = vec!["audit", "--image", "oci:missing", "--key", "k.pub"];
        a.extend_from_slice(extra);
        common::Pv::new().cwd(tmp.path()).run(a)
    };
    // The JUnit report used to replace the key it had just read.
    refused(&pv(&["--junit", "./k.pub"]), &["--junit", "--key input"]);
    refused(
        &pv(&["--json-out", "r.out", "--vsa-out", "r.out"]),
        &["--json-out and --vsa-out"],
    );
    std::fs::create_dir(tmp.path().join("d")).unwrap();
    refused(&pv(&["--junit", "d"]), &["--junit d", "directory"]);
    assert_eq!(std::fs::read(tmp.path().join("k.pub")).unwrap(), b"the key");
    assert!(!tmp.path().join("r.out").exists());
}

#[test]
fn key_pair_prefix_must_name_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let pv = |prefix: &str, force: bool| {
        let mut a = vec!["generate-key-pair", "--output-key-prefix", prefix];
        if force {
            a.push("--force");
        }
        common::Pv::new().cwd(tmp.path()).password("pw").run(a)
    };
    // An empty prefix wrote the hidden files ".key" and ".pub".
    refused(&pv("", false), &["--output-key-prefix"]);
    std::fs::create_dir(tmp.path().join("sub")).unwrap();
    refused(&pv("sub/", false), &["--output-key-prefix"]);
    std::fs::create_dir(tmp.path().join("d.pub")).unwrap();
    refused(&pv("d", true), &["d.pub is a directory"]);
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(
        std::fs::read_dir(tmp.path().join("sub")).unwrap().count(),
        0
    );
}

#[test]
fn diff_platform_typo_lists_the_platforms_there_are() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ns");
    let o = common::pv([
        "fixture",
        "nanoserver",
        "--out",
        out.to_str().unwrap(),
        "--os-version",
        "10.0.20348.2849",
    ]);
    common::assert_code(&o, 0);
    let img = format!("oci:{}", out.display());
    // Was only "no Windows platform matching windows/amd64:10.0.17763 in this image".
    let o = common::pv(["diff", &img, &img, "--platform", "windows/amd64:10.0.17763"]);
    refused(&o, &["available: windows/amd64:10.0.20348.2849"]);
    // A doubled dot is not a version prefix (it parsed, then matched nothing).
    let o = common::pv(["inspect", &img, "--platform", "windows/amd64:10..0"]);
    refused(&o, &["dot-separated numbers"]);
}

#[test]
fn sign_checks_attestations_dir_before_attaching_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let pv = || common::Pv::new().cwd(tmp.path()).password("pw");
    pv().ok(["fixture", "nanoserver", "--out", "oci:ns:v1"]);
    pv().ok(["generate-key-pair", "--output-key-prefix", "k"]);
    let index = || std::fs::read_to_string(tmp.path().join("ns/index.json")).unwrap();
    let before = index();
    // Used to store the .sig with the image, then fail on the directory ("File exists").
    let o = pv().run([
        "sign",
        "--key",
        "k.key",
        "--attestations-dir",
        "k.pub",
        "oci:ns:v1",
    ]);
    refused(&o, &["--attestations-dir k.pub", "not a directory"]);
    assert_eq!(index(), before, "nothing attached");
}

#[test]
fn verify_of_a_docker_archive_needs_the_attestations_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let pv = || common::Pv::new().cwd(tmp.path()).password("pw");
    pv().ok(["generate-key-pair", "--output-key-prefix", "k"]);
    // As docs/signing.md says; it was a verdict (exit 1, "no signatures found").
    let o = pv().run(["verify", "--key", "k.pub", "docker-archive:img.tar"]);
    refused(&o, &["cannot hold signatures", "--attestations-dir"]);
}

#[test]
fn a_signed_untagged_layout_still_resolves_by_platform() {
    let tmp = tempfile::tempdir().unwrap();
    let pv = || common::Pv::new().cwd(tmp.path()).password("pw");
    pv().ok(["fixture", "nanoserver", "--out", "ns"]);
    pv().ok(["generate-key-pair", "--output-key-prefix", "k"]);
    // index.json now holds the image list and its .sig manifest.
    pv().ok(["sign", "--key", "k.key", "oci:ns"]);
    // Were: "no platform matches ... (available: no platform (sha256:…))" and
    // "oci:ns: no Windows platform in this image".
    pv().ok(["inspect", "oci:ns", "--platform", "windows/amd64"]);
    pv().ok(["diff", "oci:ns", "oci:ns"]);
    pv().ok(["verify", "--key", "k.pub", "oci:ns"]);
}

#[test]
fn keys_of_the_other_kind_empty_build_arg_names_and_schemeless_types_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let pv = || common::Pv::new().cwd(tmp.path()).password("pw");
    pv().ok(["fixture", "nanoserver", "--out", "oci:ns:v1"]);
    pv().ok(["generate-key-pair", "--output-key-prefix", "k"]);
    std::fs::write(tmp.path().join("p.json"), "{}").unwrap();
    let index = || std::fs::read_to_string(tmp.path().join("ns/index.json")).unwrap();
    let before = index();
    refused(
        &pv().run(["sign", "--key", "k.pub", "oci:ns:v1"]),
        &["this is a public key"],
    );
    refused(
        &pv().run(["verify", "--key", "k.key", "oci:ns:v1"]),
        &["this is a private key"],
    );
    for t in ["https://", "https:", "://x", "a b:c"] {
        let o = pv().run([
            "attest",
            "--key",
            "k.key",
            "--predicate",
            "p.json",
            "--type",
            t,
            "oci:ns:v1",
        ]);
        refused(&o, &["--type", "is not a URI"]);
    }
    assert_eq!(index(), before, "nothing attached");
    let o = pv().run([
        "build",
        "--base",
        "oci:ns:v1",
        "--allow-unpinned",
        "--build-arg",
        "=x",
        "--out",
        "oci:out",
    ]);
    refused(&o, &["--build-arg \"=x\"", "non-empty ARG name"]);
    assert!(!tmp.path().join("out").exists());
}

#[test]
fn a_reference_that_looks_like_a_path_suggests_oci_before_any_network() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("published")).unwrap();
    let run = |r: &str| common::Pv::new().cwd(tmp.path()).run(["inspect", r]);
    for (r, hint) in [
        ("./published", "did you mean oci:./published?"),
        ("../x", "did you mean oci:../x?"),
        ("/abs/dir", "did you mean oci:/abs/dir?"),
        // A bare name that is a directory here: not docker.io/library/published.
        ("published", "did you mean oci:published?"),
    ] {
        let started = std::time::Instant::now();
        let err = refused(&run(r), &[hint]);
        assert!(!err.contains("retry"), "{err}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{r}: no network wait"
        );
    }
    // A name with a registry host is a registry reference even if such a directory exists.
    std::fs::create_dir_all(tmp.path().join("localhost:1/x")).unwrap();
    let err = refused(&run("localhost:1/x"), &[]);
    assert!(!err.contains("did you mean oci:"), "{err}");
}

#[test]
fn connection_refused_asks_whether_a_registry_listens_there() {
    let o = common::pv(["inspect", "docker://127.0.0.1:1/pause:3.10"]);
    refused(&o, &["is a registry listening on 127.0.0.1:1?"]);
}
