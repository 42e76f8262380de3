//! `pause-verify layout` and the `--link-out` links of `build` / `rebuild`, checked by the
//! reference verifier, Python `in-toto-verify` (PyPI in-toto): the synthetic chain
//! (fixture NanoServer → build by the builder's key → rebuild by the rebuilder's key,
//! threshold 2) verifies, and each tampering fails it (tests/intoto_chain.py makes the
//! keys and the tamperings with the reference library, re-signing validly where the
//! fault must be the only one).

use crate::common;
use common::images::root_ref;
use common::{Pv, assert_code, python, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PASSWORD: &str = "intoto-layout";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/intoto_chain.py")
}

fn in_toto_verify() -> Option<PathBuf> {
    let p = python().parent().map(|d| d.join("in-toto-verify"));
    let present = p.as_ref().is_some_and(|p| p.is_file());
    if common::need("in-toto-verify in the test venv (PyPI in-toto)", present) {
        p
    } else {
        None
    }
}

fn verify(tool: &Path, dir: &Path, owner_pub: &Path) -> Output {
    Command::new(tool)
        .arg("--layout")
        .arg(dir.join("root.layout"))
        .arg("--verification-keys")
        .arg(owner_pub)
        .arg("--link-dir")
        .arg(dir)
        .output()
        .unwrap()
}

#[test]
fn in_toto_verify_accepts_the_chain_and_rejects_each_tampering() {
    let Some(tool) = in_toto_verify() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let pv = || Pv::new().cwd(root).password(PASSWORD);
    let o = Command::new(python())
        .arg(script())
        .args(["keys"])
        .arg(root)
        .args(["owner", "builder", "rebuilder", "other"])
        .output()
        .unwrap();
    assert_code(&o, 0);
    // The same keys as cosign-encrypted files for the CLI.
    for name in ["owner", "builder", "rebuilder"] {
        let der = std::fs::read(root.join(format!("{name}.pk8"))).unwrap();
        let k = pause_verify::attest::PrivateKey::from_pkcs8_der(&der).unwrap();
        std::fs::write(
            root.join(format!("{name}.key")),
            k.to_encrypted_pem(PASSWORD.as_bytes(), 32768).unwrap(),
        )
        .unwrap();
    }
    pv().ok([
        "fixture",
        "nanoserver",
        "--out",
        "base",
        "-q",
        "--os-version",
        "10.0.20348.2849",
    ]);
    let base = root_ref(&root.join("base"));
    std::fs::create_dir(root.join("links")).unwrap();
    pv().ok([
        "build",
        "--base",
        &base,
        "--out",
        "built",
        "-q",
        "--link-out",
        "links",
        "--link-key",
        "builder.key",
    ]);
    let built = root_ref(&root.join("built"));
    let o = pv().run([
        "rebuild",
        "--image",
        &built,
        "--base",
        &base,
        "--out",
        "oci:rebuilt",
        "-q",
        "--link-out",
        "links",
        "--link-key",
        "rebuilder.key",
    ]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("IDENTICAL"), "{}", stdout(&o));
    let out = pv().ok([
        "layout",
        "--key",
        "owner.key",
        "--base",
        &base,
        "--functionary",
        "builder.pub",
        "--functionary",
        "rebuilder.pub",
        "--expires",
        "2030-01-01T00:00:00Z",
        "--out",
        "links/root.layout",
    ]);
    assert!(out.contains("threshold 2 of 2"), "{out}");
    let links: Vec<String> = std::fs::read_dir(root.join("links"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(links.len(), 5, "{links:?}");

    let o = verify(&tool, &root.join("links"), &root.join("owner.pub"));
    assert_code(&o, 0);
    // The layout is the owner's: another key does not verify it.
    let o = verify(&tool, &root.join("links"), &root.join("builder.pub"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));

    for (kind, class, says) in [
        (
            "foreign-signer",
            "LinkNotFoundError",
            "requires '2' link metadata",
        ),
        (
            "extra-product",
            "RuleVerificationError",
            "extra/payload.exe",
        ),
        (
            "unpinned-base",
            "RuleVerificationError",
            "nanoserver/blobs/sha256/",
        ),
        (
            "irreproducible",
            "ThresholdVerificationError",
            "different artifacts",
        ),
        (
            "layout-edited",
            "SignatureVerificationError",
            "Invalid signature",
        ),
    ] {
        let dst = root.join(format!("tampered-{kind}"));
        let o = Command::new(python())
            .arg(script())
            .arg("tamper")
            .arg(root.join("links"))
            .arg(&dst)
            .arg(kind)
            .arg(root)
            .output()
            .unwrap();
        assert_code(&o, 0);
        let o = verify(&tool, &dst, &root.join("owner.pub"));
        assert_eq!(
            o.status.code(),
            Some(1),
            "{kind}: in-toto-verify passed\n{}",
            stderr(&o)
        );
        // The verdict is after the warnings (the link's command differs from the layout's
        // empty expected command: in-toto only warns about that).
        let err = stderr(&o);
        let verdict = &err[err.find("(in-toto-verify)").unwrap_or(0)..];
        eprintln!("TAMPER {kind}: {verdict}");
        assert!(
            verdict.contains(class) && verdict.contains(says),
            "{kind}: {err}"
        );
    }
}

#[test]
fn layout_refuses_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let pv = || Pv::new().cwd(root).password(PASSWORD);
    let (key, _) = common::audit::signer_and_other_keys(root, PASSWORD);
    pv().ok(["fixture", "nanoserver", "--out", "base", "-q"]);
    let base = root_ref(&root.join("base"));
    let unpinned = format!("oci:{}", root.join("base").display());
    let k = key.to_str().unwrap();
    for (args, says) in [
        (
            vec!["--base", unpinned.as_str(), "--functionary", "signer.pub"],
            "not pinned",
        ),
        (
            vec!["--base", base.as_str(), "--functionary", "nope.pub"],
            "nope.pub",
        ),
        (
            vec![
                "--base",
                base.as_str(),
                "--functionary",
                "signer.pub",
                "--threshold",
                "2",
            ],
            "threshold 2",
        ),
        (
            vec![
                "--base",
                base.as_str(),
                "--functionary",
                "signer.pub",
                "--expires",
                "tomorrow",
            ],
            "RFC 3339",
        ),
    ] {
        let mut a = vec!["layout", "--key", k];
        a.extend(args);
        let o = pv().run(&a);
        assert_code(&o, 2);
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
    }
    // The --json document (docs/json-schema.md, kind layout).
    let doc: serde_json::Value = serde_json::from_str(&pv().ok([
        "layout",
        "--json",
        "--key",
        k,
        "--base",
        &base,
        "--functionary",
        "signer.pub",
        "--out",
        "l.layout",
    ]))
    .unwrap();
    assert_eq!(doc["kind"], "layout");
    assert_eq!(doc["threshold"], 1);
    assert_eq!(doc["functionaries"].as_array().unwrap().len(), 1);
    assert!(doc["baseBlobs"].as_u64().unwrap() >= 3, "{doc}");
    assert!(root.join("l.layout").is_file());
    // --link-out without --link-key (and the reverse) is a usage error.
    let o = pv().run(["build", "--base", &base, "--out", "b", "--link-out", "."]);
    assert_code(&o, 2);
}
