//! `pause-verify build` refuses bad input with exit 2, a message naming the problem (and
//! the line), and no output directory.

use crate::common;

use common::{assert_code, pv, stderr, stdout};
use serde_json::Value;
use std::path::Path;

const KEYLIGHT: &str = "Windows Registry Editor Version 5.00\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\rpc]\n\"DCOM Protocols\"=hex(7):00,00\n\"UuidSequenceNumber\"=dword:01bcf674\n\"EpMapDisallowedProtocols\"=\"ncacn_ip_tcp\"\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ole]\n\"EnableDCOM\"=\"N\"";

fn fixture(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "--json",
        "fixture",
        "nanoserver",
        "--out",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = pv(&args);
    assert_code(&o, 0);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    v["reference"].as_str().unwrap().to_string()
}

fn recipe(dir: &Path, dockerfile: &str, reg: Option<&str>) -> String {
    std::fs::create_dir_all(dir.join("binaries")).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    if let Some(r) = reg {
        std::fs::write(dir.join("binaries/keylight.reg"), r).unwrap();
    }
    dir.display().to_string()
}

/// Run a failing build; returns stderr. Asserts exit 2 and that DEST was not created.
#[track_caller]
fn fails(base: &str, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["build", "--base", base, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = pv(&args);
    assert_code(&o, 2);
    assert!(!out.exists(), "no partial output at {}", out.display());
    let parent = out.parent().unwrap();
    for e in std::fs::read_dir(parent).unwrap() {
        let n = e.unwrap().file_name().into_string().unwrap();
        assert!(!n.starts_with(".pause-verify"), "staging left behind: {n}");
    }
    stderr(&o)
}

const HEAD: &str = "ARG OSVERSION\nFROM mcr.microsoft.com/windows/nanoserver:${OSVERSION}-amd64\n";

#[test]
fn each_bad_input_is_exit_2_with_a_clear_message() {
    let t = tempfile::tempdir().unwrap();
    let base = fixture(&t.path().join("base"), &[]);
    let out_dir = t.path().join("outs");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("o");

    // Unsupported instruction, with its line.
    let r = recipe(
        &t.path().join("r1"),
        &format!("{HEAD}COPY binaries /tools\nHEALTHCHECK NONE\n"),
        Some(KEYLIGHT),
    );
    let e = fails(&base, &out, &["--recipe", &r]);
    assert!(
        e.contains("Dockerfile:4:") && e.contains("HEALTHCHECK is not supported"),
        "{e}"
    );

    // An unsupported RUN command, with its line.
    let r = recipe(
        &t.path().join("r1b"),
        &format!("{HEAD}RUN powershell -c Remove-Item x\n"),
        None,
    );
    let e = fails(&base, &out, &["--recipe", &r]);
    assert!(
        e.contains("Dockerfile:3:") && e.contains("\"powershell\" is not supported"),
        "{e}"
    );

    // COPY source missing.
    let r = recipe(
        &t.path().join("r2"),
        &format!("{HEAD}COPY nothere /tools\n"),
        None,
    );
    let e = fails(&base, &out, &["--recipe", &r]);
    assert!(
        e.contains("Dockerfile:3:") && e.contains("COPY source \"nothere\" not found"),
        "{e}"
    );

    // .reg syntax error, with the .reg line and the Dockerfile line.
    let bad_reg = KEYLIGHT.replace("dword:01bcf674", "dword:xyz");
    let r = recipe(
        &t.path().join("r3"),
        &format!("{HEAD}COPY binaries /tools\nRUN reg import tools\\keylight.reg\n"),
        Some(&bad_reg),
    );
    let e = fails(&base, &out, &["--recipe", &r]);
    assert!(
        e.contains("Dockerfile:4:") && e.contains(".reg line 4"),
        "{e}"
    );

    // Tag-only base.
    let tagged = t.path().join("tagged");
    let o = pv([
        "fixture",
        "nanoserver",
        "--out",
        &format!("oci:{}:nano", tagged.display()),
    ]);
    assert_code(&o, 0);
    let e = fails(&format!("oci:{}:nano", tagged.display()), &out, &[]);
    assert!(
        e.contains("not pinned by digest") && e.contains("--allow-unpinned"),
        "{e}"
    );

    // Platform not in the base's list: the message lists what is there.
    let e = fails(&base, &out, &["--platform", "windows/amd64:10.0.17763"]);
    assert!(
        e.contains("no platform matches windows/amd64:10.0.17763"),
        "{e}"
    );
    assert!(e.contains("10.0.20348.2849"), "{e}");
}

#[test]
fn deleting_a_service_the_base_lacks_is_refused_when_the_base_is_at_hand() {
    let t = tempfile::tempdir().unwrap();
    let base = fixture(&t.path().join("base"), &["--no-diagtrack"]);
    let out = t.path().join("o");
    let e = fails(&base, &out, &[]);
    assert!(
        e.contains("Dockerfile):8:")
            && e.contains("sc.exe delete diagtrack")
            && e.contains("no service"),
        "{e}"
    );
    // Without the base layers it cannot be checked: the build goes on and says so.
    let o = pv([
        "build",
        "--base",
        &base,
        "--out",
        out.to_str().unwrap(),
        "--no-base-layers",
    ]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("sc.exe delete is not checked"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn unpinned_base_is_allowed_on_request_and_recorded() {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().join("base");
    let o = pv(["fixture", "nanoserver", "--out", base.to_str().unwrap()]);
    assert_code(&o, 0);
    let o = pv([
        "--json",
        "build",
        "--base",
        &format!("oci:{}", base.display()),
        "--out",
        t.path().join("o").to_str().unwrap(),
        "--allow-unpinned",
    ]);
    assert_code(&o, 0);
    assert!(stderr(&o).contains("warning: base"), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["builds"][0]["base"]["pinned"], false);
    assert!(
        v["builds"][0]["base"]["root"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
}

#[test]
fn corrupt_base_layer_fails_verification_with_no_output() {
    let t = tempfile::tempdir().unwrap();
    let base_dir = t.path().join("base");
    let base = fixture(&base_dir, &[]);
    // Flip a byte of the (only) layer blob: the largest file in blobs/.
    let mut biggest = None;
    for e in std::fs::read_dir(base_dir.join("blobs/sha256")).unwrap() {
        let p = e.unwrap().path();
        let n = std::fs::metadata(&p).unwrap().len();
        if biggest.as_ref().is_none_or(|(m, _)| n > *m) {
            biggest = Some((n, p));
        }
    }
    let p = biggest.unwrap().1;
    let mut b = std::fs::read(&p).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x40;
    let mut perm = std::fs::metadata(&p).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&p, perm).unwrap();
    std::fs::write(&p, b).unwrap();
    let e = fails(&base, &t.path().join("o"), &[]);
    assert!(e.contains("digest mismatch"), "{e}");
}
