//! Every subcommand and flag `--help` shows is documented in README.md or docs/*.md.

use crate::common;

use std::path::Path;

fn docs() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = std::fs::read_to_string(root.join("README.md")).unwrap();
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            all.push_str(&std::fs::read_to_string(p).unwrap());
        }
    }
    all
}

/// `--long-flag` names in a help text.
fn flags(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        let t = t.strip_prefix("-q, ").unwrap_or(t);
        if let Some(rest) = t.strip_prefix("--") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            out.push(format!("--{name}"));
        }
    }
    out
}

#[test]
fn every_help_flag_is_documented() {
    let docs = docs();
    let documented = |flag: &str| {
        docs.match_indices(flag).any(|(i, _)| {
            let after = docs[i + flag.len()..].chars().next();
            !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
        })
    };
    let commands: &[&[&str]] = &[
        &[],
        &["inspect"],
        &["copy"],
        &["fixture", "nanoserver"],
        &["build"],
        &["rebuild"],
        &["diff"],
        &["hive", "dump"],
        &["hive", "diff"],
        &["generate-key-pair"],
        &["sign"],
        &["attest"],
        &["verify"],
        &["verify-bundle"],
        &["audit"],
        &["layout"],
        &["pin"],
        &["completions"],
        &["man"],
    ];
    let mut missing = Vec::new();
    for c in commands {
        let mut args: Vec<&str> = c.to_vec();
        args.push("--help");
        let o = common::pv(&args);
        common::assert_code(&o, 0);
        let help = common::stdout(&o);
        for f in flags(&help) {
            if f != "--help" && f != "--version" && !documented(&f) {
                missing.push(format!("{} {f}", c.join(" ")));
            }
        }
        let name = c.join(" ");
        if !name.is_empty() {
            assert!(
                docs.contains(&format!("pause-verify {name}")),
                "no synopsis for `pause-verify {name}` in README.md or docs/"
            );
        }
    }
    assert!(missing.is_empty(), "undocumented flags: {missing:?}");
}

/// GitHub's heading anchor: lower case, punctuation other than '-' and '_' dropped,
/// spaces to '-'.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn in_page_links_resolve() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            files.push(p);
        }
    }
    let mut broken = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let anchors: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with('#'))
            .map(|l| slug(l.trim_start_matches('#')))
            .collect();
        for (i, _) in text.match_indices("](#") {
            let rest = &text[i + 3..];
            let a = &rest[..rest.find(')').unwrap()];
            if !anchors.iter().any(|x| x == a) {
                broken.push(format!(
                    "{}: #{a}",
                    f.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    assert!(broken.is_empty(), "links to missing headings: {broken:?}");
}

// ---- Help that teaches, one argument shape, cosign/skopeo spellings ----

use common::images::root_digest;
use common::{Pv, assert_code, stderr, stdout};
use std::path::PathBuf;

const PASSWORD: &str = "examples";

/// The files the help examples name (src/cli/examples.rs), in a fresh directory:
/// `oci:base`, `oci:published` and `oci:rebuilt` built from it, `cosign.key`/`.pub`,
/// `pins.toml`, hives `SYSTEM.old`/`SYSTEM`, `predicate.json`, and a keyed Sigstore
/// conformance bundle as `artifact`, `artifact.sigstore.json`, `signer.pub`.
/// Returns the directory and `oci:base@DIGEST`.
fn demo_dir() -> Option<(tempfile::TempDir, String)> {
    let case = common::fixtures()?.join("cosign/sigstore-conformance");
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let pv = || Pv::new().cwd(d).password(PASSWORD).no_docker_config();
    pv().ok(["-q", "fixture", "nanoserver", "--out", "oci:base"]);
    let base = format!("oci:base@{}", root_digest(&d.join("base")));
    for out in ["oci:published", "oci:rebuilt"] {
        pv().ok(["-q", "build", "--base", &base, "--out", out]);
    }
    pv().ok(["-q", "generate-key-pair"]);
    let pins = pv().ok(["pin", "oci:base"]);
    std::fs::write(
        d.join("pins.toml"),
        format!("schemaVersion = \"1\"\n{pins}"),
    )
    .unwrap();
    pv().ok(["hive", "generate", "--keys", "20", "SYSTEM.old"]);
    pv().ok(["hive", "generate", "--keys", "30", "SYSTEM"]);
    std::fs::write(d.join("predicate.json"), r#"{"buildType":"example"}"#).unwrap();
    let k = case.join("managed-key-happy-path");
    std::fs::copy(case.join("a.txt"), d.join("artifact")).unwrap();
    std::fs::copy(
        k.join("bundle.sigstore.json"),
        d.join("artifact.sigstore.json"),
    )
    .unwrap();
    std::fs::copy(k.join("key.pub"), d.join("signer.pub")).unwrap();
    Some((t, base))
}

/// The example command lines of a help text, each with its expected exit status
/// (a trailing `# exit N`, else 0).
fn examples(help: &str) -> Vec<(String, i32)> {
    let Some((_, section)) = help.split_once("\nExamples") else {
        return Vec::new();
    };
    let section = section.split_once(":\n").map_or("", |(_, s)| s);
    section
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("pause-verify "))
        .map(|l| {
            let (cmd, comment) = l.split_once("  #").unwrap_or((l, ""));
            let code = comment
                .trim()
                .strip_prefix("exit ")
                .and_then(|c| c.split(':').next())
                .map_or(0, |c| c.parse().unwrap());
            (cmd.trim().to_string(), code)
        })
        .collect()
}

/// Subcommand names a help text's "Commands:" section lists (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    let Some((_, section)) = help.split_once("Commands:\n") else {
        return Vec::new();
    };
    section
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// Every command in the order its examples run (sign before verify, and so on).
const EXAMPLE_ORDER: &[&[&str]] = &[
    &["fixture", "nanoserver"],
    &["inspect"],
    &["copy"],
    &["build"],
    &["rebuild"],
    &["diff"],
    &["pin"],
    &["hive", "dump"],
    &["hive", "diff"],
    &["generate-key-pair"],
    &["sign"],
    &["attest"],
    &["verify"],
    &["verify-bundle"],
    &["audit"],
    &["layout"],
    &["completions"],
    &["man"],
    &[],
];

#[test]
fn every_command_help_has_examples_and_they_run() {
    // The list above is every visible command.
    let top = subcommands(&common::Pv::new().ok(["--help"]));
    let mut listed: Vec<String> = EXAMPLE_ORDER
        .iter()
        .filter_map(|c| c.first().map(|s| s.to_string()))
        .collect();
    listed.dedup();
    let mut sorted_top = top.clone();
    sorted_top.sort();
    let mut sorted_listed = listed.clone();
    sorted_listed.sort();
    assert_eq!(sorted_top, sorted_listed, "EXAMPLE_ORDER misses a command");
    for nested in ["hive", "fixture"] {
        for sub in subcommands(&common::Pv::new().ok([nested, "--help"])) {
            assert!(
                EXAMPLE_ORDER.iter().any(|c| c == &[nested, sub.as_str()]),
                "EXAMPLE_ORDER misses {nested} {sub}"
            );
        }
    }
    let Some((t, base)) = demo_dir() else {
        return;
    };
    // The top-level round trip starts from nothing (the fixture is deterministic, so its
    // base has the digest `base` names).
    let empty = tempfile::tempdir().unwrap();
    let mut ran = 0;
    for c in EXAMPLE_ORDER {
        let dir = if c.is_empty() { empty.path() } else { t.path() };
        let mut args = c.to_vec();
        args.push("--help");
        let help = Pv::new().ok(&args);
        let ex = examples(&help);
        assert!(
            !ex.is_empty(),
            "`pause-verify {}` --help has no Examples:",
            c.join(" ")
        );
        for (line, code) in ex {
            assert!(
                line.starts_with(format!("pause-verify {}", c.join(" ")).trim_end()),
                "an example of {} runs another command: {line}",
                c.join(" ")
            );
            let line = line.replace("oci:base@sha256:…", &base);
            let words: Vec<&str> = line.split_whitespace().skip(1).collect();
            let o = Pv::new()
                .cwd(dir)
                .password(PASSWORD)
                .no_docker_config()
                .run(&words);
            assert_eq!(
                o.status.code(),
                Some(code),
                "example `{line}`:\nstdout: {}\nstderr: {}",
                stdout(&o),
                stderr(&o)
            );
            assert!(!stdout(&o).is_empty(), "example `{line}` printed nothing");
            ran += 1;
        }
    }
    assert!(ran >= EXAMPLE_ORDER.len(), "{ran} examples ran");
}

#[test]
fn version_names_commit_inflate_backend_and_noise_rules() {
    for flag in ["--version", "-V"] {
        let v = Pv::new().ok([flag]);
        assert!(
            v.starts_with(&format!("pause-verify {}", env!("CARGO_PKG_VERSION"))),
            "{v}"
        );
        let commit = v
            .split("commit ")
            .nth(1)
            .and_then(|r| r.split(';').next())
            .unwrap();
        assert!(
            commit == "unknown"
                || (commit.len() >= 7 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
            "{v}"
        );
        assert!(v.contains(pause_verify::build::COMPRESSOR), "{v}");
        assert!(
            v.contains(&format!(
                "noise rules version {}",
                pause_verify::compare::noise::RULES_VERSION
            )),
            "{v}"
        );
    }
}

#[test]
fn completions_and_man_page_render() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let s = Pv::new().ok(["completions", shell]);
        for sub in ["rebuild", "audit", "verify-bundle", "completions"] {
            assert!(s.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    assert_code(&Pv::new().run(["completions", "tcsh"]), 2);
    let man = Pv::new().ok(["man"]);
    assert!(man.contains(".TH"), "{man}");
    assert!(
        man.contains("rebuild") && man.contains(r"\-\-creds"),
        "{man}"
    );
    // Each command's own page, with the options it takes.
    let rebuild = Pv::new().ok(["man", "rebuild"]);
    assert!(rebuild.contains(".TH pause-verify-rebuild 1"), "{rebuild}");
    assert!(
        rebuild.contains(r"\-\-base") && rebuild.contains(r"\-\-creds"),
        "{rebuild}"
    );
    for dump in [["man", "hive", "dump"], ["man", "hive-dump", "-q"]] {
        let dump = Pv::new().ok(dump);
        assert!(dump.contains(".TH pause-verify-hive-dump 1"), "{dump}");
        assert!(!dump.contains(r"\-\-creds"), "{dump}");
    }
    assert_code(&Pv::new().run(["man", "nope"]), 2);
}

#[test]
fn registry_options_have_their_own_heading() {
    let help = Pv::new().ok(["inspect", "--help"]);
    let (before, after) = help
        .split_once("Registry options:")
        .expect("a Registry options heading");
    for f in [
        "--creds",
        "--authfile",
        "--insecure",
        "--tls-verify",
        "--cert-dir",
        "--no-cache",
        "--include-foreign",
    ] {
        assert!(
            after.contains(f) && !before.contains(f),
            "{f} under Registry options:\n{help}"
        );
    }
    // Commands that touch no registry do not offer them, and refuse them when given.
    for c in [
        &["hive", "dump"][..],
        &["hive", "diff"],
        &["generate-key-pair"],
        &["fixture", "nanoserver"],
        &["verify-bundle"],
        &["completions"],
        &["man"],
    ] {
        let mut a = c.to_vec();
        a.push("--help");
        let help = Pv::new().ok(&a);
        assert!(
            !help.contains("Registry options") && !help.contains("--creds"),
            "{help}"
        );
    }
    let t = tempfile::tempdir().unwrap();
    let o = Pv::new().cwd(t.path()).password(PASSWORD).run([
        "generate-key-pair",
        "--no-cache",
        "--creds",
        "a:b",
    ]);
    assert_code(&o, 2);
    assert!(
        stderr(&o)
            .contains("generate-key-pair reads no registry: --creds, --no-cache does not apply"),
        "{}",
        stderr(&o)
    );
    assert!(!t.path().join("cosign.key").exists());
    let o = Pv::new().run(["hive", "dump", "--insecure", "h:5000", "SYSTEM"]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("--insecure"), "{}", stderr(&o));
    let copy = Pv::new().ok(["copy", "--help"]);
    let (_, after) = copy.split_once("Registry options:").unwrap();
    assert!(
        after.contains("--src-creds") && after.contains("--dest-creds"),
        "{copy}"
    );
}

/// `--json` output with what differs between two runs of the same work (times) removed.
fn json_without_times(o: &std::process::Output) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.retain(|k, _| {
                    !k.contains("seconds") && !k.contains("time") && !k.ends_with("_ms")
                });
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(o), stderr(o)));
    strip(&mut v);
    v
}

#[test]
fn rebuild_and_audit_take_image_positionally_and_image_stays_an_alias() {
    let Some((t, base)) = demo_dir() else {
        return;
    };
    let pv = || {
        Pv::new()
            .cwd(t.path())
            .password(PASSWORD)
            .no_docker_config()
    };
    for cmd in ["rebuild", "audit"] {
        let extra: &[&str] = if cmd == "audit" {
            &["--key", "cosign.pub"]
        } else {
            &[]
        };
        let run = |image: &[&str]| {
            let mut a = vec!["--json", cmd, "--base", &base];
            a.extend_from_slice(extra);
            a.extend_from_slice(image);
            pv().run(&a)
        };
        let positional = run(&["oci:published"]);
        let flag = run(&["--image", "oci:published"]);
        assert_eq!(
            positional.status.code(),
            flag.status.code(),
            "{cmd}: {}",
            stderr(&flag)
        );
        assert!(
            matches!(positional.status.code(), Some(0 | 1)),
            "{cmd}: {}",
            stderr(&positional)
        );
        assert_eq!(
            json_without_times(&positional),
            json_without_times(&flag),
            "{cmd}"
        );
        let both = run(&["oci:published", "--image", "oci:published"]);
        assert_code(&both, 2);
        assert!(
            stderr(&both).contains("give the image once"),
            "{}",
            stderr(&both)
        );
        let none = run(&[]);
        assert_code(&none, 2);
        assert!(stderr(&none).contains("IMAGE"), "{}", stderr(&none));
    }
}

#[test]
fn layout_output_file_is_out() {
    let Some((t, base)) = demo_dir() else {
        return;
    };
    let write = |flag: &str, file: &str| {
        Pv::new()
            .cwd(t.path())
            .password(PASSWORD)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .ok([
                "layout",
                "--key",
                "cosign.key",
                "--base",
                &base,
                "--functionary",
                "cosign.pub",
                flag,
                file,
            ]);
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(t.path().join(file)).unwrap()).unwrap();
        v["signed"].clone()
    };
    let a = write("--out", "a.layout");
    assert!(a.is_object(), "{a}");
    assert_eq!(a, write("--output-file", "b.layout"));
}

#[test]
fn authfile_and_per_side_copy_credentials_act_as_creds() {
    let Some((host, user, pass)) = common::auth_registry() else {
        return;
    };
    let Some((t, _)) = demo_dir() else {
        return;
    };
    let d = t.path();
    let pv = || Pv::new().cwd(d).no_docker_config();
    let creds = format!("{user}:{pass}");
    let repo = format!("docker://{host}/{}:v1", common::unique("pv-alias", "pause"));
    // --dest-creds authenticates the destination only: the source side's are not used there.
    let o = pv().run(["copy", "--src-creds", &creds, "oci:published", &repo]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("authentication failed"),
        "{}",
        stderr(&o)
    );
    pv().ok(["-q", "copy", "--dest-creds", &creds, "oci:published", &repo]);
    // --src-creds is --creds for the source.
    let back = |flag: &str, out: &str| {
        let o = pv().run(["--json", "copy", flag, &creds, &repo, out]);
        assert_code(&o, 0);
        let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["destination"] = serde_json::Value::Null;
        v
    };
    assert_eq!(
        back("--creds", "oci:via-creds"),
        back("--src-creds", "oci:via-src-creds")
    );
    // --authfile FILE is a docker config.json, read instead of $DOCKER_CONFIG's.
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(&creds);
    let file: PathBuf = d.join("auth.json");
    std::fs::write(
        &file,
        format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    let inspect = |args: &[&str]| {
        let mut a = vec!["--json", "inspect"];
        a.extend_from_slice(args);
        a.push(&repo);
        pv().run(&a)
    };
    let with_creds = inspect(&["--creds", &creds]);
    let with_file = inspect(&["--authfile", file.to_str().unwrap()]);
    assert_code(&with_file, 0);
    assert_eq!(stdout(&with_creds), stdout(&with_file));
    assert_code(&inspect(&[]), 2);
    let missing = inspect(&["--authfile", "no-such.json"]);
    assert_code(&missing, 2);
    assert!(
        stderr(&missing).contains("--authfile"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn cert_dir_adds_pem_roots_and_refuses_a_crt_without_one() {
    let Some(fx) = common::fixtures() else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let good = t.path().join("good");
    let bad = t.path().join("bad");
    std::fs::create_dir_all(&good).unwrap();
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::copy(
        fx.join("notation/notation-go/verifier/testdata/truststore/x509/ca/valid-trust-store/GlobalSignRootCA.crt"),
        good.join("ca.crt"),
    )
    .unwrap();
    std::fs::write(bad.join("ca.crt"), "not a certificate\n").unwrap();
    let run = |dir: &Path| {
        Pv::new().run([
            "inspect",
            "--cert-dir",
            dir.to_str().unwrap(),
            "docker://127.0.0.1:1/pause:3.10",
        ])
    };
    // A good root is taken: the run gets as far as the network.
    let o = run(&good);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("is a registry listening on 127.0.0.1:1?"),
        "{}",
        stderr(&o)
    );
    let o = run(&bad);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("--cert-dir"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("listening"), "{}", stderr(&o));
    let o = run(&t.path().join("missing"));
    assert_code(&o, 2);
    assert!(stderr(&o).contains("--cert-dir"), "{}", stderr(&o));
}

#[test]
fn tls_verify_false_is_insecure_for_the_registry_named() {
    // 0.0.0.0 is not a loopback name to the transport (plain HTTP is not implied), yet
    // Linux connects it locally, where port 1 refuses: the error shows the scheme tried.
    let run = |flag: &str| {
        let o = Pv::new().run(["inspect", flag, "docker://0.0.0.0:1/pause:3.10"]);
        assert_code(&o, 2);
        stderr(&o)
    };
    let tls_off = run("--tls-verify=false");
    assert!(tls_off.contains("(http://0.0.0.0:1/v2/)"), "{tls_off}");
    assert_eq!(tls_off, run("--insecure=0.0.0.0:1"));
    let default = run("--tls-verify=true");
    assert!(default.contains("(https://0.0.0.0:1/v2/)"), "{default}");
    assert_code(
        &Pv::new().run(["inspect", "--tls-verify=maybe", "oci:x"]),
        2,
    );
}
