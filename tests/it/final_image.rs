//! The image Kubernetes runs, end to end on a synthetic chain: synthetic NanoServer →
//! pause base (built-in recipe) → final image (kubernetes' Dockerfile_windows as quoted in
//! issue 15, with pause.exe and wincat.exe compiled here by mingw and Go from small
//! programs written in this file, not kubernetes' sources) → chained `rebuild`.
//!
//! "Published" final images come from our own build (IDENTICAL) and from the independent
//! Python publisher's final-image mode (tests/publish_independent.py --final: tarfile,
//! classic-builder shape), which must compare EQUIVALENT, and fail naming the stage in
//! each broken variant. PE comparison, recipe context checks and `pin` are tested here
//! too.

use crate::common;

use common::images::root_ref;
use common::{assert_code, pv, stderr, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const V2022: &str = "10.0.20348.2849";

/// kubernetes/kubernetes build/pause/Dockerfile_windows, as issue 15 quotes it.
const DOCKERFILE_WINDOWS: &str = r#"ARG BASE
FROM ${BASE}
ARG ARCH
ADD bin/pause-windows-${ARCH}.exe /pause.exe
ADD bin/wincat-windows-amd64 /Windows/System32/wincat.exe
ENV PATH="C:\Windows\system32;C:\Windows;"
ENTRYPOINT ["/pause.exe"]
"#;

/// A stand-in for pause.c (ours): prints VERSION for -v, else returns.
const TEST_PAUSE_C: &str = r#"#include <stdio.h>
#include <string.h>
#define STR(x) #x
#define XSTR(x) STR(x)
int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        printf("test-pause %s\n", XSTR(VERSION));
        return 0;
    }
    return 0;
}
"#;

/// The same program with other code (a different `.text`).
const TEST_PAUSE_C_OTHER: &str = r#"#include <stdio.h>
#include <string.h>
#define STR(x) #x
#define XSTR(x) STR(x)
int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        printf("test-pause %s\n", XSTR(VERSION));
        return 3;
    }
    return argc + 7;
}
"#;

/// A stand-in for wincat (ours).
const TEST_WINCAT_GO: &str = r#"package main

import "os"

func main() {
	if len(os.Args) > 1 {
		os.Stdout.WriteString(os.Args[1] + "\n")
	}
}
"#;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-pause-binaries.sh")
}

fn build_binaries(src: &Path, out: &Path) {
    let o = Command::new("bash")
        .arg(script())
        .arg("--version")
        .arg("v9.9.9-test")
        .arg(src)
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "build-pause-binaries.sh failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn write_sources(dir: &Path, pause_c: &str) {
    std::fs::create_dir_all(dir.join("windows/wincat")).unwrap();
    std::fs::write(dir.join("windows/pause.c"), pause_c).unwrap();
    std::fs::write(dir.join("windows/wincat/main.go"), TEST_WINCAT_GO).unwrap();
}

/// The system Python with python3-hivex (the publisher imports it).
fn hivex_python() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/bin/python3");
    let ok = Command::new(&p)
        .args(["-c", "import hivex"])
        .output()
        .is_ok_and(|o| o.status.success());
    if common::need("python3-hivex (/usr/bin/python3 -c 'import hivex')", ok) {
        Some(p)
    } else {
        None
    }
}

fn publish(py: &Path, base: &Path, out: &Path, variant: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/publish_independent.py");
    let o = Command::new(py)
        .arg(&script)
        .arg("--base")
        .arg(base)
        .arg("--out")
        .arg(out)
        .args(variant)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "publisher failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Everything the chain tests share, made once.
struct Chain {
    dir: PathBuf,
    /// The synthetic NanoServer, its pins file (made by `pause-verify pin`).
    pins: PathBuf,
    /// The pause base built from it with the built-in recipe.
    pause_base: PathBuf,
    pause_base_ref: String,
    /// The build context: Dockerfile_windows and bin/.
    ctx: PathBuf,
    /// pause.exe built from the other program.
    other_pause_exe: PathBuf,
    py: Option<PathBuf>,
}

static CHAIN: OnceLock<Option<Chain>> = OnceLock::new();

fn chain() -> Option<&'static Chain> {
    CHAIN.get_or_init(make_chain).as_ref()
}

fn make_chain() -> Option<Chain> {
    common::need_tool("x86_64-w64-mingw32-gcc")?;
    common::need_tool("go")?;
    let t = tempfile::tempdir().unwrap();
    let dir = t.keep();
    // Binaries: built twice from copies in other folders, at other times: same bytes.
    write_sources(&dir.join("src-a"), TEST_PAUSE_C);
    write_sources(&dir.join("src-b/nested"), TEST_PAUSE_C);
    build_binaries(&dir.join("src-a"), &dir.join("ctx"));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    build_binaries(&dir.join("src-b/nested"), &dir.join("ctx-b"));
    for f in ["bin/pause-windows-amd64.exe", "bin/wincat-windows-amd64"] {
        let a = std::fs::read(dir.join("ctx").join(f)).unwrap();
        let b = std::fs::read(dir.join("ctx-b").join(f)).unwrap();
        assert_eq!(a, b, "{f} differs between two builds");
        assert_eq!(&a[..2], b"MZ", "{f} is a PE file");
    }
    std::fs::write(dir.join("ctx/Dockerfile_windows"), DOCKERFILE_WINDOWS).unwrap();
    write_sources(&dir.join("src-other"), TEST_PAUSE_C_OTHER);
    build_binaries(&dir.join("src-other"), &dir.join("ctx-other"));
    let other_pause_exe = dir.join("ctx-other/bin/pause-windows-amd64.exe");

    let nano = dir.join("nano");
    let o = pv([
        "fixture",
        "nanoserver",
        "--out",
        nano.to_str().unwrap(),
        "--os-version",
        V2022,
        "-q",
    ]);
    assert_code(&o, 0);
    let nano_ref = root_ref(&nano);
    let o = pv(["pin", &nano_ref, "--name", "nano"]);
    assert_code(&o, 0);
    let pins = dir.join("pins.toml");
    std::fs::write(&pins, format!("schemaVersion = \"1\"\n{}", stdout(&o))).unwrap();

    let pause_base = dir.join("pause-base");
    let o = pv([
        "build",
        "--base",
        &nano_ref,
        "--out",
        pause_base.to_str().unwrap(),
        "--platform",
        "windows/amd64",
        "--build-arg",
        "OSVERSION=ltsc2022",
        "-q",
    ]);
    assert_code(&o, 0);
    let pause_base_ref = root_ref(&pause_base);
    Some(Chain {
        pins,
        pause_base_ref,
        pause_base,
        ctx: dir.join("ctx"),
        other_pause_exe,
        py: hivex_python(),
        dir,
    })
}

fn chain_rebuild(c: &Chain, image: &Path, base_ref: &str, code: i32) -> Value {
    let o = pv([
        "rebuild",
        "--image",
        &format!("oci:{}", image.display()),
        "--base",
        base_ref,
        "--recipe",
        c.ctx.join("Dockerfile_windows").to_str().unwrap(),
        "--context",
        c.ctx.to_str().unwrap(),
        "--build-arg",
        "ARCH=amd64",
        "--pins",
        c.pins.to_str().unwrap(),
        "--json",
        "-q",
    ]);
    assert_code(&o, code);
    let v: Value = serde_json::from_str(&stdout(&o)).expect("one JSON document");
    assert_eq!(v["kind"], "chain");
    v
}

fn final_of_our_build(c: &Chain, name: &str) -> PathBuf {
    let out = c.dir.join(name);
    let o = pv([
        "build",
        "--base",
        &c.pause_base_ref,
        "--recipe",
        c.ctx.join("Dockerfile_windows").to_str().unwrap(),
        "--context",
        c.ctx.to_str().unwrap(),
        "--build-arg",
        "ARCH=amd64",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_code(&o, 0);
    out
}

#[test]
fn dockerfile_windows_reads_as_the_classic_builder_does() {
    let t = tempfile::tempdir().unwrap();
    let ctx = t.path().join("ctx");
    std::fs::create_dir_all(ctx.join("bin")).unwrap();
    std::fs::write(ctx.join("bin/pause-windows-amd64.exe"), b"MZ pause").unwrap();
    std::fs::write(ctx.join("bin/wincat-windows-amd64"), b"MZ wincat").unwrap();
    // The Dockerfile lives elsewhere: --context names the context.
    let df = t.path().join("Dockerfile_windows");
    std::fs::write(&df, DOCKERFILE_WINDOWS).unwrap();
    use pause_verify::recipe::{LoadOptions, StepKind, load_with};
    let r = load_with(
        &df,
        &LoadOptions {
            build_args: [("ARCH".to_string(), "amd64".to_string())].into(),
            implicit_args: [("BASE".to_string(), "oci:/x@sha256:ab".to_string())].into(),
            context: Some(ctx.clone()),
        },
    )
    .unwrap();
    assert_eq!(r.base_template, "${BASE}");
    assert_eq!(r.base, "oci:/x@sha256:ab");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let cb: Vec<&str> = r.steps.iter().map(|s| s.created_by.as_str()).collect();
    assert_eq!(cb[0], "cmd /S /C #(nop)  ARG ARCH");
    assert!(cb[1].starts_with("cmd /S /C #(nop) ADD file:") && cb[1].ends_with(" in \\pause.exe "));
    assert!(
        cb[2].ends_with(" in \\Windows\\System32\\wincat.exe "),
        "{}",
        cb[2]
    );
    assert_eq!(
        cb[3],
        "cmd /S /C #(nop)  ENV PATH=C:\\Windows\\system32;C:\\Windows;"
    );
    assert_eq!(cb[4], "cmd /S /C #(nop)  ENTRYPOINT [\"/pause.exe\"]");
    match &r.steps[2].kind {
        StepKind::Copy { files, dirs, .. } => {
            assert_eq!(files[0].dest_path, "Windows/System32/wincat.exe");
            assert_eq!(files[0].bytes, b"MZ wincat");
            assert_eq!(dirs, &["Windows", "Windows/System32"]);
        }
        k => panic!("{k:?}"),
    }
    match &r.steps[3].kind {
        StepKind::Env { vars } => assert_eq!(
            vars,
            &[(
                "PATH".to_string(),
                "C:\\Windows\\system32;C:\\Windows;".to_string()
            )]
        ),
        k => panic!("{k:?}"),
    }
    // An explicit --build-arg BASE wins over the implicit one; shell-form ENTRYPOINT and
    // CMD are recorded as the classic Windows builder records them.
    let shell = t.path().join("Dockerfile_shell");
    std::fs::write(
        &shell,
        "ARG BASE=default\nFROM ${BASE}\nENTRYPOINT /pause.exe -v\nCMD [\"a\", \"b c\"]\n",
    )
    .unwrap();
    let r = load_with(
        &shell,
        &LoadOptions {
            build_args: [("BASE".to_string(), "given".to_string())].into(),
            implicit_args: [("BASE".to_string(), "implicit".to_string())].into(),
            context: None,
        },
    )
    .unwrap();
    assert_eq!(r.base, "given");
    assert_eq!(
        r.steps[0].kind,
        StepKind::Entrypoint {
            args: vec!["cmd /S /C /pause.exe -v".into()],
            shell_form: true,
        }
    );
    assert_eq!(
        r.steps[0].created_by,
        "cmd /S /C #(nop)  ENTRYPOINT [\"cmd /S /C /pause.exe -v\"]"
    );
    assert_eq!(
        r.steps[1].created_by,
        "cmd /S /C #(nop)  CMD [\"a\" \"b c\"]"
    );
    // A default is kept when no build arg is given (the implicit value fills only an
    // ARG without one).
    let r = load_with(
        &shell,
        &LoadOptions {
            implicit_args: [("BASE".to_string(), "implicit".to_string())].into(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.base, "default");
}

#[test]
fn add_outside_the_context_is_refused_with_its_line() {
    let t = tempfile::tempdir().unwrap();
    let ctx = t.path().join("ctx");
    std::fs::create_dir_all(ctx.join("bin")).unwrap();
    std::fs::write(t.path().join("secret"), b"outside").unwrap();
    std::os::unix::fs::symlink(t.path(), ctx.join("out")).unwrap();
    std::os::unix::fs::symlink(t.path().join("secret"), ctx.join("bin/link")).unwrap();
    for (src, want) in [
        ("../secret", "outside the build context"),
        ("/etc/hostname", "absolute path"),
        ("C:/secret", "absolute path"),
        ("out/secret", "outside the build context"),
        ("bin/link", "symlinks are not followed"),
        ("bin/missing", "not found"),
    ] {
        let df = ctx.join("Dockerfile");
        std::fs::write(
            &df,
            format!("ARG BASE=x\nFROM ${{BASE}}\n# a comment\nADD {src} /x.exe\n"),
        )
        .unwrap();
        let e = pause_verify::recipe::load(&df, &Default::default()).unwrap_err();
        assert_eq!(e.line(), Some(4), "{src}: {e}");
        assert!(e.to_string().contains(want), "{src}: {e}");
        // The CLI: exit 2 naming the file and line.
        let o = pv([
            "build",
            "--base",
            "oci:/nonexistent@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "--recipe",
            df.to_str().unwrap(),
            "--out",
            t.path().join("o").to_str().unwrap(),
        ]);
        assert_code(&o, 2);
        assert!(
            stderr(&o).contains("Dockerfile:4:"),
            "{src}: {}",
            stderr(&o)
        );
    }
    // --context must be a directory.
    let e = pause_verify::recipe::load_with(
        &ctx.join("Dockerfile"),
        &pause_verify::recipe::LoadOptions {
            context: Some(t.path().join("secret")),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("not a directory"), "{e}");
    // Unsupported instructions still fail with their line.
    std::fs::write(ctx.join("Dockerfile"), "FROM x\nHEALTHCHECK NONE\n").unwrap();
    let e = pause_verify::recipe::load(&ctx.join("Dockerfile"), &Default::default()).unwrap_err();
    assert_eq!(e.line(), Some(2), "{e}");
}

#[test]
fn our_final_image_rebuilds_identical_through_the_chain() {
    let Some(c) = chain() else { return };
    let fin = final_of_our_build(c, "final-ours");
    let v = chain_rebuild(c, &fin, &c.pause_base_ref, 0);
    assert_eq!(v["verdict"], "IDENTICAL", "{v:#}");
    let p = &v["platforms"][0];
    assert_eq!(p["baseVerdict"], "IDENTICAL");
    assert_eq!(p["finalVerdict"], "IDENTICAL");
    assert!(p.get("failedStage").is_none());
    // The final stage's base check names the pause base's layers: NanoServer, COPY and
    // the two RUN layers (the USER steps are empty_layer entries).
    let fp = &v["finalStage"]["platforms"][0];
    assert_eq!(fp["base"]["ok"], true);
    assert_eq!(fp["base"]["layers"].as_array().unwrap().len(), 4);
    // The config: the base's plus the recipe's ENV and ENTRYPOINT (exec form: no
    // ArgsEscaped); a shell-form ENTRYPOINT is recorded as the classic Windows builder
    // does, one argument with the shell and ArgsEscaped set.
    let cfg = config_of(&fin);
    assert_eq!(
        cfg["config"]["Entrypoint"],
        serde_json::json!(["/pause.exe"])
    );
    assert!(cfg["config"].get("ArgsEscaped").is_none(), "{cfg:#}");
    let env = cfg["config"]["Env"].as_array().unwrap();
    assert!(
        env.contains(&serde_json::json!(
            "PATH=C:\\Windows\\system32;C:\\Windows;"
        )),
        "{env:?}"
    );
    let shell_df = c.dir.join("Dockerfile_shell");
    std::fs::write(
        &shell_df,
        "ARG BASE\nFROM ${BASE}\nENTRYPOINT /pause.exe -v\n",
    )
    .unwrap();
    let out = c.dir.join("final-shell");
    let o = pv([
        "build",
        "--base",
        &c.pause_base_ref,
        "--recipe",
        shell_df.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_code(&o, 0);
    let cfg = config_of(&out);
    assert_eq!(
        cfg["config"]["Entrypoint"],
        serde_json::json!(["cmd /S /C /pause.exe -v"])
    );
    assert_eq!(cfg["config"]["ArgsEscaped"], true);

    // The human report says the same.
    let o = pv([
        "rebuild",
        "--image",
        &format!("oci:{}", fin.display()),
        "--base",
        &c.pause_base_ref,
        "--recipe",
        c.ctx.join("Dockerfile_windows").to_str().unwrap(),
        "--build-arg",
        "ARCH=amd64",
        "--pins",
        c.pins.to_str().unwrap(),
        "-q",
    ]);
    assert_code(&o, 0);
    let text = stdout(&o);
    assert!(text.contains("--- stage base"), "{text}");
    assert!(text.contains("chain verdict: IDENTICAL"), "{text}");
}

#[test]
fn independent_final_image_is_equivalent_and_broken_ones_fail_naming_the_stage() {
    let Some(c) = chain() else { return };
    let Some(py) = c.py.as_deref() else { return };
    let pause = c.ctx.join("bin/pause-windows-amd64.exe");
    let wincat = c.ctx.join("bin/wincat-windows-amd64");
    let bins = [
        "--final",
        "--pause-exe",
        pause.to_str().unwrap(),
        "--wincat",
        wincat.to_str().unwrap(),
    ];
    let run = |name: &str, base: &Path, extra: &[&str]| -> PathBuf {
        let out = c.dir.join(name);
        let mut args: Vec<&str> = bins.to_vec();
        args.extend(extra);
        publish(py, base, &out, &args);
        out
    };

    let good = run("py-good", &c.pause_base, &[]);
    let v = chain_rebuild(c, &good, &c.pause_base_ref, 0);
    let p = &v["platforms"][0];
    assert_eq!(v["verdict"], "EQUIVALENT", "{:#}", p["reasons"]);
    assert_eq!(p["finalVerdict"], "EQUIVALENT");

    // An extra file in the ADD layer.
    let extra = run("py-extra", &c.pause_base, &["--extra-file"]);
    let v = chain_rebuild(c, &extra, &c.pause_base_ref, 1);
    let p = &v["platforms"][0];
    assert_eq!(p["failedStage"], "final-added-layers", "{p:#}");
    assert!(
        p["reasons"].to_string().contains("Files/extra.txt"),
        "{p:#}"
    );

    // A registry change in the ADD layer, even one a runtime-noise rule would explain
    // in a RUN layer: ADD runs no container.
    let hive = run("py-hive", &c.pause_base, &["--hive-change"]);
    let v = chain_rebuild(c, &hive, &c.pause_base_ref, 1);
    let p = &v["platforms"][0];
    assert_eq!(p["failedStage"], "final-added-layers", "{p:#}");
    assert!(p["reasons"].to_string().contains("ContainerType"), "{p:#}");

    // A changed ENTRYPOINT.
    let ep = run(
        "py-ep",
        &c.pause_base,
        &["--entrypoint", "[\"/wincat.exe\"]"],
    );
    let v = chain_rebuild(c, &ep, &c.pause_base_ref, 1);
    let p = &v["platforms"][0];
    assert_eq!(p["failedStage"], "final-config", "{p:#}");
    assert!(p["reasons"].to_string().contains("entrypoint"), "{p:#}");

    // A pause.exe with other code.
    let other = c.other_pause_exe.to_str().unwrap();
    let out = c.dir.join("py-text");
    publish(
        py,
        &c.pause_base,
        &out,
        &[
            "--final",
            "--pause-exe",
            other,
            "--wincat",
            wincat.to_str().unwrap(),
        ],
    );
    let v = chain_rebuild(c, &out, &c.pause_base_ref, 1);
    let p = &v["platforms"][0];
    assert_eq!(p["failedStage"], "final-added-layers", "{p:#}");
    assert!(
        p["reasons"].to_string().contains("Files/pause.exe [pe "),
        "{p:#}"
    );
    let fp = &v["finalStage"]["platforms"][0];
    assert!(
        fp["unexplained"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["path"] == "Files/pause.exe" && c["field"] == "pe section .text (code)"),
        "{fp:#}"
    );

    // A final image on another base than the pinned pause base: the independent
    // publisher's pause base (same NanoServer, other layers).
    let nano = c.dir.join("nano");
    let other_base = c.dir.join("py-pause-base");
    publish(py, &nano, &other_base, &[]);
    let on_other = run("py-on-other-base", &other_base, &[]);
    let v = chain_rebuild(c, &on_other, &c.pause_base_ref, 1);
    let p = &v["platforms"][0];
    assert_eq!(p["failedStage"], "final-base-layers", "{p:#}");
    assert!(p["reasons"].to_string().contains("base mismatch"), "{p:#}");

    // A pause base that does not pass its own rebuild (DiagTrack kept): stage base.
    let broken_base = c.dir.join("py-pause-base-broken");
    publish(py, &nano, &broken_base, &["--keep-diagtrack"]);
    let on_broken = run("py-on-broken-base", &broken_base, &[]);
    let v = chain_rebuild(c, &on_broken, &root_ref(&broken_base), 1);
    let p = &v["platforms"][0];
    assert_eq!(p["failedStage"], "base", "{p:#}");
    assert_eq!(p["baseVerdict"], "DIFFERENT");
    assert!(p["reasons"].to_string().contains("DiagTrack"), "{p:#}");
}

/// `e_lfanew` and the PE32+ data directory offset of a mingw x86-64 binary.
fn pe_offsets(b: &[u8]) -> (usize, usize) {
    let e = u32::from_le_bytes(b[60..64].try_into().unwrap()) as usize;
    assert_eq!(&b[e..e + 4], b"PE\0\0");
    assert_eq!(
        u16::from_le_bytes(b[e + 24..e + 26].try_into().unwrap()),
        0x20b
    );
    (e, e + 24 + 112)
}

/// The same program, stamped at another time and Authenticode-"signed" (a well-formed
/// WIN_CERTIFICATE table appended, the security directory and CheckSum set).
fn stamped_and_signed(b: &[u8]) -> Vec<u8> {
    let mut v = b.to_vec();
    let (e, dirs) = pe_offsets(&v);
    v[e + 8..e + 12].copy_from_slice(&0x6553_f100u32.to_le_bytes());
    while !v.len().is_multiple_of(8) {
        v.push(0);
    }
    let off = v.len();
    let body = b"0\x82 not a real PKCS#7 SignedData, only its envelope";
    let len = 8 + body.len();
    v.extend_from_slice(&(len as u32).to_le_bytes());
    v.extend_from_slice(&0x0200u16.to_le_bytes());
    v.extend_from_slice(&0x0002u16.to_le_bytes());
    v.extend_from_slice(body);
    while !v.len().is_multiple_of(8) {
        v.push(0);
    }
    let size = v.len() - off;
    v[dirs + 32..dirs + 36].copy_from_slice(&(off as u32).to_le_bytes());
    v[dirs + 36..dirs + 40].copy_from_slice(&(size as u32).to_le_bytes());
    v[e + 24 + 64..e + 24 + 68].copy_from_slice(&0x0001_2345u32.to_le_bytes());
    v
}

#[test]
fn pe_differences_are_named_and_bad_pe_files_are_errors() {
    use pause_verify::pe::{PeDifference, PeError, compare};
    let Some(c) = chain() else { return };
    let a = std::fs::read(c.ctx.join("bin/pause-windows-amd64.exe")).unwrap();
    assert_eq!(compare(&a, &a).unwrap(), vec![]);
    let signed = stamped_and_signed(&a);
    let d = compare(&a, &signed).unwrap();
    let (e_lfanew, _) = pe_offsets(&a);
    let checksum = u32::from_le_bytes(a[e_lfanew + 88..e_lfanew + 92].try_into().unwrap());
    assert_eq!(
        d,
        vec![
            PeDifference::TimeDateStamp {
                expected: 0,
                actual: 0x6553_f100
            },
            PeDifference::CheckSum {
                expected: checksum,
                actual: 0x0001_2345
            },
            PeDifference::CertificateTable {
                expected: 0,
                actual: (signed.len() - a.len().div_ceil(8) * 8) as u32
            },
        ]
    );
    assert!(d.iter().all(PeDifference::is_noise));
    // Other code: the .text section is named, and it is not noise.
    let other = std::fs::read(&c.other_pause_exe).unwrap();
    let d = compare(&a, &other).unwrap();
    assert!(
        d.contains(&PeDifference::Section {
            name: ".text".into()
        }),
        "{d:?}"
    );
    assert!(!d.iter().all(PeDifference::is_noise));
    // A byte of code flipped in an otherwise signed copy is still a code difference.
    let mut patched = signed.clone();
    let text_at = a.windows(4).position(|w| w == b".tex").unwrap();
    let ptr = u32::from_le_bytes(a[text_at + 20..text_at + 24].try_into().unwrap()) as usize;
    patched[ptr + 16] ^= 0xff;
    let d = compare(&a, &patched).unwrap();
    assert!(
        d.contains(&PeDifference::Section {
            name: ".text".into()
        }),
        "{d:?}"
    );
    // An appended blob that is not a certificate table is trailing data, not noise.
    let mut trailing = a.clone();
    trailing.extend_from_slice(b"payload!");
    let d = compare(&a, &trailing).unwrap();
    assert_eq!(d, vec![PeDifference::TrailingData]);

    // Bad input: clear errors, no panic.
    for n in [0, 1, 63, 100, 300, 1000, a.len() / 2, a.len() - 1] {
        let e = compare(&a, &a[..n]).unwrap_err();
        assert!(
            matches!(e, PeError::NotPe(_) | PeError::Truncated(_)),
            "{n}: {e}"
        );
    }
    let mut many = a.clone();
    many[e_lfanew + 6..e_lfanew + 8].copy_from_slice(&0xffffu16.to_le_bytes());
    assert_eq!(
        compare(&a, &many).unwrap_err(),
        PeError::TooManySections(65535)
    );
    assert!(
        compare(&a, &many)
            .unwrap_err()
            .to_string()
            .contains("at most 96")
    );
    let mut far = a.clone();
    far[60..64].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    assert!(matches!(compare(&a, &far), Err(PeError::Truncated(_))));
    assert!(matches!(
        compare(
            &a,
            b"not an executable at all, only text that is long enough to have a header........."
        ),
        Err(PeError::NotPe(_))
    ));
}

#[test]
fn timestamp_and_authenticode_only_pause_exe_is_equivalent_with_the_rules_listed() {
    let Some(c) = chain() else { return };
    let Some(py) = c.py.as_deref() else { return };
    let a = std::fs::read(c.ctx.join("bin/pause-windows-amd64.exe")).unwrap();
    let signed = c.dir.join("pause-signed.exe");
    std::fs::write(&signed, stamped_and_signed(&a)).unwrap();
    let wincat = c.ctx.join("bin/wincat-windows-amd64");
    let out = c.dir.join("py-signed");
    publish(
        py,
        &c.pause_base,
        &out,
        &[
            "--final",
            "--pause-exe",
            signed.to_str().unwrap(),
            "--wincat",
            wincat.to_str().unwrap(),
        ],
    );
    let v = chain_rebuild(c, &out, &c.pause_base_ref, 0);
    assert_eq!(v["verdict"], "EQUIVALENT", "{v:#}");
    let fp = &v["finalStage"]["platforms"][0];
    let rules: Vec<&str> = fp["noise"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["path"] == "Files/pause.exe")
        .map(|c| c["rule"].as_str().unwrap())
        .collect();
    let mut rules = rules;
    rules.sort();
    assert_eq!(
        rules,
        ["pe-authenticode", "pe-checksum", "pe-timestamp"],
        "{fp:#}"
    );
}

#[test]
fn pin_prints_an_entry_that_rebuild_accepts() {
    let Some(c) = chain() else { return };
    let text = std::fs::read_to_string(&c.pins).unwrap();
    let pins = pause_verify::compare::pins::Pins::parse(&text, "pins").unwrap();
    let pin = pins.for_os_version(V2022).unwrap();
    assert_eq!(pin.name, "nano");
    assert_eq!(pin.layers.len(), 1);
    assert!(pin.layers[0].diff_id.is_some());
    assert!(pin.image.as_deref().unwrap().contains("@sha256:"));
    // The pause base: 4 layers, its own manifest; JSON form too.
    let o = pv(["pin", &c.pause_base_ref, "--json"]);
    assert_code(&o, 0);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["kind"], "pin");
    assert_eq!(v["pins"][0]["layers"].as_array().unwrap().len(), 4);
    assert_eq!(v["pins"][0]["osVersion"], V2022);
    // A digest the image does not have is refused.
    let wrong = format!("oci:{}@sha256:{}", c.pause_base.display(), "0".repeat(64));
    let o = pv(["pin", &wrong]);
    assert_code(&o, 2);
}

/// The statement inside a DSSE envelope line.
fn statement_of(envelope_line: &str) -> Value {
    use base64::Engine as _;
    let env: Value = serde_json::from_str(envelope_line).unwrap();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(env["payload"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

#[test]
fn chain_attestations_link_the_final_image_to_the_verified_base() {
    let Some(c) = chain() else { return };
    let d = c.dir.join("attest");
    std::fs::create_dir_all(&d).unwrap();
    let pvk = || common::Pv::new().password("chain-test").cwd(&d);
    pvk().ok(["generate-key-pair", "--output-key-prefix", "k"]);
    let fin = final_of_our_build(c, "final-attest");
    let o = pvk().env("SOURCE_DATE_EPOCH", "1700000000").run([
        "rebuild",
        "--image",
        &format!("oci:{}", fin.display()),
        "--base",
        &c.pause_base_ref,
        "--recipe",
        c.ctx.join("Dockerfile_windows").to_str().unwrap(),
        "--context",
        c.ctx.to_str().unwrap(),
        "--build-arg",
        "ARCH=amd64",
        "--pins",
        c.pins.to_str().unwrap(),
        "--attest",
        "--key",
        "k.key",
        "--attestations-dir",
        "atts",
        "--json",
        "-q",
    ]);
    assert_code(&o, 0);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let a = &v["attestations"];
    let base_vsa_digest = a["base"]["vsa"]["envelopeDigest"].as_str().unwrap();
    assert_eq!(a["base"]["vsa"]["verificationResult"], "PASSED");
    assert_eq!(a["vsa"]["verificationResult"], "PASSED");

    // The final provenance: the base with the digest of the VSA that verified it, the
    // sources by digest, the compilers.
    let prov_file = a["provenance"][0]["files"][0].as_str().unwrap();
    let text = std::fs::read_to_string(d.join(prov_file)).unwrap();
    let prov = text
        .lines()
        .map(statement_of)
        .find(|s| s["predicateType"] == "https://slsa.dev/provenance/v1")
        .unwrap();
    let bd = &prov["predicate"]["buildDefinition"];
    let deps = bd["resolvedDependencies"].as_array().unwrap();
    let base_dep = deps.iter().find(|x| x["name"] == "base-image").unwrap();
    assert_eq!(
        format!(
            "sha256:{}",
            base_dep["annotations"]["verifiedBy"]["digest"]["sha256"]
                .as_str()
                .unwrap()
        ),
        base_vsa_digest
    );
    let src = std::fs::read(c.dir.join("src-a/windows/pause.c")).unwrap();
    let src_dep = deps
        .iter()
        .find(|x| x["name"] == "source/windows/pause.c")
        .unwrap();
    assert_eq!(
        src_dep["digest"]["sha256"],
        pause_verify::image::Digest::of(&src).hex()
    );
    let compilers = bd["internalParameters"]["binaries"]["compilers"].to_string();
    assert!(
        compilers.contains("mingw32-gcc") && compilers.contains("go1."),
        "{compilers}"
    );
    assert_eq!(
        bd["internalParameters"]["binaries"]["version"],
        "v9.9.9-test"
    );

    // The final VSA rests on the base's VSA.
    let vsa_file = a["vsa"]["files"][0].as_str().unwrap();
    let text = std::fs::read_to_string(d.join(vsa_file)).unwrap();
    let vsa = text
        .lines()
        .map(statement_of)
        .find(|s| s["predicateType"] == "https://slsa.dev/verification_summary/v1")
        .unwrap();
    let inputs = vsa["predicate"]["inputAttestations"].to_string();
    assert!(
        inputs.contains(base_vsa_digest.trim_start_matches("sha256:")),
        "{inputs}"
    );
    // And `verify` accepts the final VSA with the key.
    let o = pvk().run([
        "verify",
        "--key",
        "k.pub",
        "--attestations-only",
        "--type",
        "https://slsa.dev/verification_summary/v1",
        "--attestations-dir",
        "atts",
        &format!("oci:{}", fin.display()),
    ]);
    assert_code(&o, 0);

    // A build record that does not describe the context's binaries is refused.
    let ctx2 = c.dir.join("ctx-lying");
    std::fs::create_dir_all(ctx2.join("bin")).unwrap();
    for f in [
        "bin/pause-windows-amd64.exe",
        "bin/wincat-windows-amd64",
        "Dockerfile_windows",
    ] {
        std::fs::copy(c.ctx.join(f), ctx2.join(f)).unwrap();
    }
    let info = std::fs::read_to_string(c.dir.join("ctx-other/build-info.txt")).unwrap();
    std::fs::write(ctx2.join("build-info.txt"), info).unwrap();
    let o = pvk().run([
        "rebuild",
        "--image",
        &format!("oci:{}", fin.display()),
        "--base",
        &c.pause_base_ref,
        "--recipe",
        ctx2.join("Dockerfile_windows").to_str().unwrap(),
        "--build-arg",
        "ARCH=amd64",
        "--pins",
        c.pins.to_str().unwrap(),
        "--attest",
        "--key",
        "k.key",
        "--attestations-dir",
        "atts2",
        "-q",
    ]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("build-info.txt says bin/pause-windows-amd64.exe"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn chain_and_pin_json_fields_are_documented() {
    let Some(c) = chain() else { return };
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json-schema.md"))
            .unwrap();
    let documented = |name: &str| {
        let w = |c: char| c.is_ascii_alphanumeric() || c == '_';
        doc.match_indices(name).any(|(i, _)| {
            !doc[..i].chars().next_back().is_some_and(w)
                && !doc[i + name.len()..].chars().next().is_some_and(w)
        })
    };
    let fin = final_of_our_build(c, "final-doc");
    let v = chain_rebuild(c, &fin, &c.pause_base_ref, 0);
    let mut names: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    names.extend(v["platforms"][0].as_object().unwrap().keys().cloned());
    let o = pv(["pin", &c.pause_base_ref, "--json"]);
    let p: Value = serde_json::from_str(&stdout(&o)).unwrap();
    names.extend(p.as_object().unwrap().keys().cloned());
    names.extend(p["pins"][0].as_object().unwrap().keys().cloned());
    names.extend(
        p["pins"][0]["layers"][0]
            .as_object()
            .unwrap()
            .keys()
            .cloned(),
    );
    for n in names {
        assert!(documented(&n), "{n} is not in docs/json-schema.md");
    }
    assert!(doc.contains("(kind `chain`, schemaVersion `\"1\"`)"));
    assert!(doc.contains("(kind `pin`, schemaVersion `\"1\"`)"));
}

#[test]
fn audit_with_a_chain_policy_passes_the_chain_and_fails_naming_the_stage() {
    let Some(c) = chain() else { return };
    let Some(py) = c.py.as_deref() else { return };
    let d = c.dir.join("audit");
    std::fs::create_dir_all(&d).unwrap();
    let policy = d.join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "version = 1\n[signatures]\nrequired = false\n[pins]\nfile = {:?}\n\
             [rebuild]\nrecipe = {:?}\n[rebuild.chain]\npause_base = {:?}\ncontext = {:?}\n\
             build_args = {{ ARCH = \"amd64\" }}\n",
            c.pins.display().to_string(),
            c.ctx.join("Dockerfile_windows").display().to_string(),
            c.pause_base_ref,
            c.ctx.display().to_string(),
        ),
    )
    .unwrap();
    let audit = |image: &Path, code: i32| -> Value {
        let o = common::Pv::new().cwd(&d).run([
            "audit",
            "--image",
            &format!("oci:{}", image.display()),
            "--policy",
            policy.to_str().unwrap(),
            "--json",
            "-q",
        ]);
        assert_code(&o, code);
        serde_json::from_str(&stdout(&o)).unwrap()
    };
    let status = |v: &Value, id: &str| -> (String, String) {
        let c = v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id && c["platform"] != "*")
            .unwrap_or_else(|| panic!("no check {id}: {v:#}"));
        (
            c["status"].as_str().unwrap().to_string(),
            c["message"].as_str().unwrap().to_string() + &c["evidence"].to_string(),
        )
    };
    let good = run_publish(c, py, "audit-good", &[]);
    let v = audit(&good, 0);
    assert_eq!(status(&v, "rebuild-verdict").0, "PASS", "{v:#}");
    let bad = run_publish(c, py, "audit-extra", &["--extra-file"]);
    let v = audit(&bad, 1);
    let (s, why) = status(&v, "rebuild-verdict");
    assert_eq!(s, "FAIL");
    assert!(why.contains("chain stage final-added-layers"), "{why}");
}

fn run_publish(c: &Chain, py: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = c.dir.join(name);
    let pause = c.ctx.join("bin/pause-windows-amd64.exe");
    let wincat = c.ctx.join("bin/wincat-windows-amd64");
    let mut args = vec![
        "--final",
        "--pause-exe",
        pause.to_str().unwrap(),
        "--wincat",
        wincat.to_str().unwrap(),
    ];
    args.extend(extra);
    publish(py, &c.pause_base, &out, &args);
    out
}

/// The image config of a single-manifest layout (read by hand).
fn config_of(layout: &Path) -> Value {
    let blob = |d: &str| -> Value {
        let p = layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"));
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let m = blob(index["manifests"][0]["digest"].as_str().unwrap());
    blob(m["config"]["digest"].as_str().unwrap())
}

/// `rebuild --attest --attach --out` of a chain attaches what it signs: the final
/// provenance to the rebuilt final image, the final VSA to the published final image and
/// the base stage's VSA to the pause base; `verify` finds each there (no directory).
#[test]
fn chain_attach_puts_each_statement_beside_its_image() {
    let Some(c) = chain() else { return };
    let d = c.dir.join("attach");
    std::fs::create_dir_all(&d).unwrap();
    let pvk = || common::Pv::new().password("chain-test").cwd(&d);
    pvk().ok(["generate-key-pair", "--output-key-prefix", "k"]);
    let fin = final_of_our_build(c, "final-attach");
    // A private copy of the pause base: attaching writes to its index.json.
    let pb = d.join("pause-base");
    let o = std::process::Command::new("cp")
        .arg("-a")
        .arg(&c.pause_base)
        .arg(&pb)
        .output()
        .unwrap();
    assert!(o.status.success());
    let pb_ref = c
        .pause_base_ref
        .replace(c.pause_base.to_str().unwrap(), pb.to_str().unwrap());
    let o = pvk().run([
        "rebuild",
        "--image",
        &format!("oci:{}", fin.display()),
        "--base",
        &pb_ref,
        "--recipe",
        c.ctx.join("Dockerfile_windows").to_str().unwrap(),
        "--context",
        c.ctx.to_str().unwrap(),
        "--build-arg",
        "ARCH=amd64",
        "--pins",
        c.pins.to_str().unwrap(),
        "--out",
        "oci:reb",
        "--attest",
        "--key",
        "k.key",
        "--attestations-dir",
        "atts",
        "--attach",
        "--json",
        "-q",
    ]);
    assert_code(&o, 0);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let a = &v["attestations"];
    for w in [&a["provenance"][0], &a["vsa"], &a["base"]["vsa"]] {
        assert!(
            !w["attached"].as_array().unwrap().is_empty(),
            "nothing attached: {w:#}"
        );
    }
    let verify = |image: String, ty: &str| {
        pvk().run([
            "verify",
            "--key",
            "k.pub",
            "--attestations-only",
            "--type",
            ty,
            &image,
        ])
    };
    let prov = "https://slsa.dev/provenance/v1";
    let vsa = "https://slsa.dev/verification_summary/v1";
    assert_code(&verify("oci:reb".into(), prov), 0);
    assert_code(&verify(format!("oci:{}", fin.display()), vsa), 0);
    assert_code(&verify(pb_ref.clone(), vsa), 0);
    // Not where it does not belong: the published final image holds no provenance of ours.
    assert_code(&verify(format!("oci:{}", fin.display()), prov), 1);
}
