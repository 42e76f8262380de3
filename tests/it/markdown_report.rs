//! The reports to look at: `--markdown FILE` of `rebuild`, `diff` and `audit`, rendered
//! by a real Markdown renderer (Python `markdown`, tables extension) to check the tables
//! and the verdict; `$GITHUB_STEP_SUMMARY` appended to, never replaced; and `verify
//! --tree` on a layout with a `.sig`, a `.att`, a bundle referrer, an
//! `--attestations-dir` entry and one signature by another key.

use crate::common;

use common::{assert_code, stderr, stdout};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const PASSWORD: &str = "markdown-report-test";
const OSV: &str = "10.0.20348.2849";

fn pv<I, S>(cwd: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    common::Pv::new()
        .cwd(cwd)
        .password(PASSWORD)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("GITHUB_STEP_SUMMARY")
        .run(args)
}

/// A NanoServer fixture, a key pair `k` and a pause image `pb` built on it, signed by
/// `k`. Returns the pinned base reference.
fn signed_image(d: &Path) -> String {
    assert_code(
        &pv(
            d,
            [
                "fixture",
                "nanoserver",
                "--out",
                "ns",
                "--os-version",
                OSV,
                "-q",
            ],
        ),
        0,
    );
    let idx: Value =
        serde_json::from_slice(&std::fs::read(d.join("ns/index.json")).unwrap()).unwrap();
    let base = format!("oci:ns@{}", idx["manifests"][0]["digest"].as_str().unwrap());
    assert_code(&pv(d, ["generate-key-pair", "--output-key-prefix", "k"]), 0);
    assert_code(&pv(d, ["build", "--base", &base, "--out", "pb", "-q"]), 0);
    assert_code(&pv(d, ["sign", "-q", "--key", "k.key", "oci:pb"]), 0);
    base
}

const RENDER: &str = r#"
import json, sys, markdown
from html.parser import HTMLParser
html = markdown.markdown(open(sys.argv[1], encoding="utf-8").read(),
                         extensions=["tables", "fenced_code"])
class P(HTMLParser):
    def __init__(self):
        super().__init__(); self.tables = []; self.th = None; self.first = None
    def handle_starttag(self, tag, attrs):
        if self.first is None: self.first = tag
        if tag == "table": self.tables.append([])
        if tag == "th": self.th = ""
    def handle_endtag(self, tag):
        if tag == "th": self.tables[-1].append(self.th.strip()); self.th = None
    def handle_data(self, data):
        if self.th is not None: self.th += data
p = P(); p.feed(html)
print(json.dumps({"html": html, "tables": p.tables, "first": p.first}))
"#;

/// The HTML of a Markdown file, its tables' header cells and its first element.
fn render(md: &Path) -> Option<(String, Vec<Vec<String>>, String)> {
    if !common::need(
        "Python markdown package (PAUSE_VERIFY_PYTHON)",
        common::python_has(&["markdown"]),
    ) {
        return None;
    }
    let o = Command::new(common::python())
        .args(["-c", RENDER])
        .arg(md)
        .output()
        .unwrap();
    assert!(o.status.success(), "render: {}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let tables = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            t.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    Some((
        v["html"].as_str().unwrap().to_string(),
        tables,
        v["first"].as_str().unwrap().to_string(),
    ))
}

fn headers(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn markdown_reports_render_as_tables_and_append_to_the_step_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let base = signed_image(d);
    let earlier = "# an earlier step\n\nits summary\n";
    std::fs::write(d.join("summary.md"), earlier).unwrap();
    let with_summary = |args: &[&str], code: i32| {
        let o = common::Pv::new()
            .cwd(d)
            .password(PASSWORD)
            .env_remove("SOURCE_DATE_EPOCH")
            .env("GITHUB_STEP_SUMMARY", d.join("summary.md"))
            .run(args);
        assert_code(&o, code);
        o
    };
    let o = with_summary(
        &[
            "rebuild",
            "-q",
            "oci:pb",
            "--base",
            &base,
            "--markdown",
            "rebuild.md",
        ],
        0,
    );
    // The human report still goes to stdout.
    assert!(stdout(&o).contains("verdict: IDENTICAL"), "{}", stdout(&o));
    with_summary(
        &[
            "audit",
            "-q",
            "oci:pb",
            "--key",
            "k.pub",
            "--base",
            &base,
            "--markdown",
            "audit.md",
        ],
        0,
    );
    let rebuild_md = std::fs::read_to_string(d.join("rebuild.md")).unwrap();
    let audit_md = std::fs::read_to_string(d.join("audit.md")).unwrap();
    // Appended in order after what was there, each run's report whole.
    assert_eq!(
        std::fs::read_to_string(d.join("summary.md")).unwrap(),
        format!("{earlier}\n{rebuild_md}\n{audit_md}")
    );
    // A public artefact: the mode a file this process creates gets (0666 less the umask).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(d.join("probe"), b"").unwrap();
        let mode = |p: &str| std::fs::metadata(d.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("rebuild.md"), mode("probe"));
        assert_eq!(mode("audit.md"), mode("probe"));
    }
    // No temporary left beside the report.
    assert!(
        std::fs::read_dir(d).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp"))
    );

    let Some((html, tables, first)) = render(&d.join("rebuild.md")) else {
        return;
    };
    assert_eq!(first, "h2", "the verdict line comes first: {html}");
    assert!(
        html.starts_with("<h2>") && html[..html.find("</h2>").unwrap()].contains("IDENTICAL"),
        "{html}"
    );
    assert_eq!(
        tables[0],
        headers(&[
            "Platform",
            "Verdict",
            "Base",
            "Layers",
            "Edits",
            "Noise",
            "Unexplained"
        ]),
        "{html}"
    );
    assert_eq!(
        tables[1],
        headers(&["Layer", "published", "rebuilt", "Verdict", "Step", "Reason"]),
        "{html}"
    );
    assert!(
        html.contains(&format!("<td>windows/amd64:{OSV}</td>")),
        "{html}"
    );
    assert!(html.contains("<td>✅ IDENTICAL</td>"), "{html}");
    // The recipe's edits, with their markers: set values `+`, the deleted key `-`.
    assert!(
        html.contains("+ present  setValue Software\\Microsoft\\ole &quot;EnableDCOM&quot;"),
        "{html}"
    );
    assert!(
        html.contains("- present  deleteKey System\\ControlSet001\\Services\\DiagTrack"),
        "{html}"
    );
    // Digests are short: no 64-hex digest anywhere.
    assert!(!has_long_hex(&rebuild_md), "{rebuild_md}");

    let (html, tables, first) = render(&d.join("audit.md")).unwrap();
    assert_eq!(first, "h2", "{html}");
    assert!(
        html[..html.find("</h2>").unwrap()].contains("PASS"),
        "{html}"
    );
    assert!(
        tables.len() >= 2
            && tables
                .iter()
                .all(|t| *t == headers(&["Platform", "Check", "Status", "Message"])),
        "{tables:?}"
    );
    assert!(html.contains("<code>signature</code>"), "{html}");
    assert!(html.contains("<code>rebuild-verdict</code>"), "{html}");

    // diff: the same report, A the reference; without GITHUB_STEP_SUMMARY nothing else is written.
    assert_code(
        &pv(
            d,
            ["diff", "-q", "oci:pb", "oci:pb", "--markdown", "diff.md"],
        ),
        0,
    );
    let (html, _, _) = render(&d.join("diff.md")).unwrap();
    assert!(
        html.contains("diff verdict: <strong>IDENTICAL</strong>"),
        "{html}"
    );

    // A directory is refused before the rebuild runs (exit 2).
    let o = pv(
        d,
        [
            "rebuild",
            "-q",
            "oci:pb",
            "--base",
            &base,
            "--markdown",
            "ns",
        ],
    );
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("--markdown ns: is a directory"),
        "{}",
        stderr(&o)
    );

    // A failing diff: the same recipe on a base without the OLE key. The verdict line says
    // DIFFERENT, the platform row fails, and the unexplained change is listed.
    assert_code(
        &pv(
            d,
            [
                "fixture",
                "nanoserver",
                "--out",
                "ns2",
                "--os-version",
                OSV,
                "--no-ole",
                "-q",
            ],
        ),
        0,
    );
    let idx: Value =
        serde_json::from_slice(&std::fs::read(d.join("ns2/index.json")).unwrap()).unwrap();
    let base2 = format!(
        "oci:ns2@{}",
        idx["manifests"][0]["digest"].as_str().unwrap()
    );
    assert_code(&pv(d, ["build", "--base", &base2, "--out", "pb2", "-q"]), 0);
    assert_code(
        &pv(
            d,
            ["diff", "-q", "oci:pb", "oci:pb2", "--markdown", "diff2.md"],
        ),
        1,
    );
    let md = std::fs::read_to_string(d.join("diff2.md")).unwrap();
    assert!(!has_long_hex(&md), "{md}");
    let (html, tables, _) = render(&d.join("diff2.md")).unwrap();
    assert_eq!(
        tables[1],
        headers(&["Layer", "B", "A", "Verdict", "Step", "Reason"])
    );
    assert!(
        html.starts_with("<h2>❌ diff verdict: <strong>DIFFERENT</strong></h2>"),
        "{html}"
    );
    assert!(html.contains("<td>❌ DIFFERENT</td>"), "{html}");
    assert!(html.contains("Unexplained differences (2)"), "{html}");
    assert!(
        html.contains("extra Software\\Microsoft\\ole: key created"),
        "{html}"
    );
}

fn has_long_hex(s: &str) -> bool {
    let mut run = 0;
    for c in s.chars() {
        run = if c.is_ascii_hexdigit() { run + 1 } else { 0 };
        if run >= 64 {
            return true;
        }
    }
    false
}

#[test]
fn verify_tree_shows_every_signature_with_its_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    signed_image(d);
    // The bundle referrer, a .att with a copy in a directory, and a .sig by another key.
    assert_code(
        &pv(d, ["sign", "-q", "--key", "k.key", "--bundle", "oci:pb"]),
        0,
    );
    std::fs::write(d.join("pred.json"), b"{\"checked\":true}").unwrap();
    assert_code(
        &pv(
            d,
            [
                "attest",
                "-q",
                "--key",
                "k.key",
                "--predicate",
                "pred.json",
                "--type",
                "https://example.com/checked/v1",
                "--attestations-dir",
                "att",
                "oci:pb",
            ],
        ),
        0,
    );
    assert_code(
        &pv(d, ["generate-key-pair", "--output-key-prefix", "other"]),
        0,
    );
    assert_code(&pv(d, ["sign", "-q", "--key", "other.key", "oci:pb"]), 0);

    let o = pv(
        d,
        [
            "verify",
            "--tree",
            "--attestations",
            "--attestations-dir",
            "att",
            "--key",
            "k.pub",
            "oci:pb",
        ],
    );
    // The other key's signature fails the (default: all) rule.
    assert_code(&o, 1);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "oci:pb", "{out}");
    assert!(lines[1].starts_with("├── ✓ integrity"), "{out}");
    let line = |needle: &str| {
        lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in\n{out}"))
            .to_string()
    };
    assert!(
        line("index sha256:").starts_with("└── ✗ index sha256:"),
        "{out}"
    );
    let ok_sig = line(".sig layer 0");
    assert!(ok_sig.starts_with("    ├── ✓ .sig signature"), "{out}");
    assert!(ok_sig.contains("with k.pub"), "{out}");
    let bad_sig = line(".sig layer 1");
    assert!(bad_sig.starts_with("    ├── ✗ .sig signature"), "{out}");
    assert!(bad_sig.contains("bad_signature"), "{out}");
    assert!(
        line("cosign bundle (referrer)")
            .contains("✓ cosign bundle (referrer) signature referrer sha256:"),
        "{out}"
    );
    assert!(
        line("✓ .att attestation").contains("predicate https://example.com/checked/v1"),
        "{out}"
    );
    assert!(
        line("✓ attestations-dir attestation att/").contains(".intoto.jsonl:1"),
        "{out}"
    );
    assert!(
        line("platforms").starts_with("    └── platforms: 1, not checked"),
        "{out}"
    );
    assert_eq!(lines.last(), Some(&"NOT VERIFIED"), "{out}");

    // With the platforms: each under the index, its own (absent) signatures failing.
    let o = pv(
        d,
        [
            "verify",
            "--tree",
            "--all-platforms",
            "--key",
            "k.pub",
            "oci:pb",
        ],
    );
    assert_code(&o, 1);
    let out = stdout(&o);
    assert!(
        out.contains(
            "    └── platforms
        └── ✗ manifest sha256:"
        ),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "(windows/amd64:{OSV})\n            └── ✗ signatures: none found"
        )),
        "{out}"
    );
}
