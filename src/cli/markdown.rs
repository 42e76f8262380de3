//! Markdown reports for a pull-request comment or a GitHub job summary: `--markdown FILE`
//! of `rebuild`, `diff` and `audit`, and the same text appended to `$GITHUB_STEP_SUMMARY`
//! when that is set. Rendered from the typed reports (`compare::Report`,
//! `audit::Report`), the facts the human reports show, with 12-hex digests.

use anyhow::Context;
use pause_verify::audit::{self, Status};
use pause_verify::compare::{Class, EditStatus, PlatformReport, Report, render_change};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use super::style::{short, shorten_hex_runs};

/// At most this many changes are listed per platform: a PR comment holds 65536
/// characters, and a long list says no more than its count.
const MAX_CHANGES: usize = 50;

/// Text in a table cell: `|` would end the cell and a newline the row.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// Inline code that survives any backticks in `s`.
fn code(s: &str) -> String {
    let mut fence = "`".to_string();
    while s.contains(fence.as_str()) {
        fence.push('`');
    }
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

fn mark(pass: bool) -> &'static str {
    if pass { "✅" } else { "❌" }
}

/// `+` set / created / deleted as the recipe says is `+`, except a deletion (`-`); `~`
/// another value; `-` missing.
fn edit_marker(e: &EditStatus) -> char {
    match e.status.as_str() {
        "present" if e.action.starts_with("delete") => '-',
        "present" => '+',
        "altered" => '~',
        _ => '-',
    }
}

/// The text report's edit line, behind its `+`/`~`/`-` marker.
fn edit_line(e: &EditStatus) -> String {
    format!("{} {}", edit_marker(e), super::rebuild::edit_line(e))
}

/// A fenced block whose fence no line of `lines` can close.
fn fenced(s: &mut String, info: &str, lines: &[String]) {
    let mut fence = "```".to_string();
    while lines.iter().any(|l| l.contains(fence.as_str())) {
        fence.push('`');
    }
    let _ = writeln!(s, "{fence}{info}");
    for l in lines {
        let _ = writeln!(s, "{}", l.replace('\n', " "));
    }
    let _ = writeln!(s, "{fence}\n");
}

/// The `rebuild` / `diff` report.
pub fn compare(r: &Report) -> String {
    let (tested, reference) = if r.kind == "diff" {
        ("B", "A")
    } else {
        ("published", "rebuilt")
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## {} {} verdict: **{}**\n",
        mark(r.passes()),
        r.kind,
        r.verdict
    );
    let _ = writeln!(
        s,
        "- {tested}: {} ({})",
        code(&shorten_hex_runs(&r.published.reference)),
        code(&short(&r.published.digest))
    );
    if let Some(rb) = &r.rebuilt {
        let _ = writeln!(
            s,
            "- {reference}: {} ({})",
            code(&shorten_hex_runs(&rb.reference)),
            code(&short(&rb.digest))
        );
    }
    let _ = writeln!(
        s,
        "- noise rules v{}{}\n",
        r.noise_rules_version,
        if r.strict { ", `--strict`" } else { "" }
    );
    let _ = writeln!(
        s,
        "| Platform | Verdict | Base | Layers | Edits | Noise | Unexplained |\n|---|---|---|---|---|---|---|"
    );
    for p in &r.platforms {
        let base = match &p.base {
            Some(b) if b.ok => "ok",
            Some(_) => "MISMATCH",
            None => "-",
        };
        let (passing, edits_ok) = (p.layers_passing(), p.edits_present());
        let _ = writeln!(
            s,
            "| {} | {} {} | {base} | {passing}/{} | {edits_ok}/{} | {} | {} |",
            cell(&p.platform),
            mark(p.verdict.passes()),
            p.verdict,
            p.layers.len(),
            p.recipe_edits.len(),
            p.noise.len(),
            p.unexplained.len()
        );
    }
    s.push('\n');
    for p in &r.platforms {
        platform(&mut s, p, tested, reference);
    }
    s
}

fn platform(s: &mut String, p: &PlatformReport, tested: &str, reference: &str) {
    let _ = writeln!(
        s,
        "### {} {}: {}\n",
        mark(p.verdict.passes()),
        p.platform,
        p.verdict
    );
    let _ = write!(
        s,
        "{tested} manifest {}",
        code(&short(&p.published_manifest))
    );
    if let Some(m) = &p.rebuilt_manifest {
        let _ = write!(s, ", {reference} manifest {}", code(&short(m)));
    }
    s.push_str("\n\n");
    for r in &p.reasons {
        let _ = writeln!(s, "- {}", cell(&shorten_hex_runs(r)));
    }
    if !p.reasons.is_empty() {
        s.push('\n');
    }
    if let Some(b) = &p.base {
        let _ = writeln!(
            s,
            "Base: **{}** ({} {}{})\n",
            if b.ok { "ok" } else { "MISMATCH" },
            b.source,
            code(&shorten_hex_runs(&b.reference)),
            b.manifest
                .as_ref()
                .map(|m| format!(", manifest {}", code(&short(m))))
                .unwrap_or_default()
        );
    }
    if !p.layers.is_empty() {
        let _ = writeln!(
            s,
            "| Layer | {tested} | {reference} | Verdict | Step | Reason |\n|---|---|---|---|---|---|"
        );
        for (i, l) in p.layers.iter().enumerate() {
            let side = |x: &Option<pause_verify::compare::LayerId>| {
                x.as_ref().map_or_else(
                    || "-".to_string(),
                    |l| format!("#{} {}", l.index, code(&short(&l.digest))),
                )
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} {} | {} | {} |",
                i + 1,
                side(&l.published),
                side(&l.rebuilt),
                mark(l.verdict.passes()),
                l.verdict,
                cell(&shorten_hex_runs(l.step.as_deref().unwrap_or(""))),
                cell(&shorten_hex_runs(&l.reason))
            );
        }
        s.push('\n');
    }
    let c = &p.config;
    let _ = writeln!(
        s,
        "Config: {} {}{}\n",
        mark(c.verdict.passes()),
        c.verdict,
        if c.differences.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                c.differences
                    .iter()
                    .map(|d| format!("{}{}", d.field, if d.significant { "" } else { ": noise" }))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    if !p.recipe_edits.is_empty() {
        let _ = writeln!(
            s,
            "Recipe registry edits (`+` set, `~` altered, `-` deleted or missing):\n"
        );
        let lines: Vec<String> = p.recipe_edits.iter().map(edit_line).collect();
        fenced(s, "diff", &lines);
    }
    let unexplained: Vec<String> = p
        .unexplained
        .iter()
        .map(|c| match (&c.class, &c.rule) {
            // --strict counts the noise too: say which rule would have explained it.
            (Class::Noise, Some(rule)) => {
                shorten_hex_runs(&format!("{} [noise rule {rule}]", render_change(c)))
            }
            _ => shorten_hex_runs(&render_change(c)),
        })
        .collect();
    if !unexplained.is_empty() {
        let _ = writeln!(s, "Unexplained differences ({}):\n", unexplained.len());
        let mut lines: Vec<String> = unexplained.iter().take(MAX_CHANGES).cloned().collect();
        if unexplained.len() > MAX_CHANGES {
            lines.push(format!(
                "… and {} more (the JSON report has them all)",
                unexplained.len() - MAX_CHANGES
            ));
        }
        fenced(s, "text", &lines);
    }
    if !p.noise.is_empty() {
        let _ = writeln!(
            s,
            "{} change(s) explained by the noise rules.\n",
            p.noise.len()
        );
    }
}

/// The chained `rebuild` report: one row per platform, then both stages' reports.
pub fn chain(r: &pause_verify::rebuild::chain::ChainReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## {} chain verdict: **{}**\n",
        mark(r.passes()),
        r.verdict
    );
    let _ = writeln!(
        s,
        "| Platform | Verdict | Base stage | Final stage | Failed stage |\n|---|---|---|---|---|"
    );
    for p in &r.platforms {
        let _ = writeln!(
            s,
            "| {} | {} {} | {} | {} | {} |",
            cell(&p.platform),
            mark(p.verdict.passes()),
            p.verdict,
            p.base_verdict.map_or("-", |v| v.as_str()),
            p.final_verdict,
            p.failed_stage.as_deref().unwrap_or("-")
        );
    }
    s.push('\n');
    for p in r.platforms.iter().filter(|p| !p.reasons.is_empty()) {
        for why in &p.reasons {
            let _ = writeln!(s, "- {}: {}", cell(&p.platform), cell(why));
        }
        s.push('\n');
    }
    let _ = writeln!(s, "### Stage base (the pause base from its pin)\n");
    s.push_str(&compare(&r.base_stage));
    let _ = writeln!(s, "### Stage final (the final image on the pause base)\n");
    s.push_str(&compare(&r.final_stage));
    s
}

/// The `audit` report.
pub fn audit(r: &audit::Report) -> String {
    let failed: Vec<String> = r
        .failures()
        .map(|c| format!("{} on {}", c.name(), c.platform))
        .collect();
    let mut s = String::new();
    if failed.is_empty() {
        let _ = writeln!(s, "## ✅ audit verdict: **PASS**\n");
    } else {
        let _ = writeln!(
            s,
            "## ❌ audit verdict: **FAIL** ({} check(s) failed: {})\n",
            failed.len(),
            cell(&failed.join(", "))
        );
    }
    let _ = writeln!(
        s,
        "- image: {} ({})\n- policy: {} ({})\n- rule: {}\n",
        code(&shorten_hex_runs(&r.image.reference)),
        code(&short(&r.image.digest)),
        cell(&r.policy.name),
        code(&r.policy.uri),
        r.rule
    );
    let mut groups: Vec<&str> = Vec::new();
    for c in &r.checks {
        if !groups.contains(&c.platform.as_str()) {
            groups.push(&c.platform);
        }
    }
    for g in groups {
        let checks: Vec<&audit::CheckResult> =
            r.checks.iter().filter(|c| c.platform == g).collect();
        let pass = !checks.iter().any(|c| c.status == Status::Fail);
        let _ = writeln!(
            s,
            "### {} {}: {}\n",
            mark(pass),
            // `*`: the checks on the image as a whole.
            if g == "*" { "image" } else { g },
            if pass { "PASS" } else { "FAIL" }
        );
        let _ = writeln!(
            s,
            "| Platform | Check | Status | Message |\n|---|---|---|---|"
        );
        for c in &checks {
            let status = match c.status {
                Status::Pass => "✅ PASS",
                Status::Fail => "❌ FAIL",
                Status::Skip => "➖ SKIP",
            };
            let _ = writeln!(
                s,
                "| {} | {} | {status} | {} |",
                cell(g),
                code(&c.name()),
                cell(&shorten_hex_runs(&c.message))
            );
        }
        s.push('\n');
        for c in checks.iter().filter(|c| c.status == Status::Fail) {
            let lines: Vec<String> = c
                .evidence
                .iter()
                .take(MAX_CHANGES)
                .map(|e| match &e.digest {
                    Some(d) => shorten_hex_runs(&format!("{} {d}: {}", e.what, e.found)),
                    None => shorten_hex_runs(&format!("{}: {}", e.what, e.found)),
                })
                .collect();
            if !lines.is_empty() {
                let _ = writeln!(s, "Evidence for {}:\n", code(&c.name()));
                fenced(&mut s, "text", &lines);
            }
        }
    }
    s
}

/// Refuse a `--markdown` path that is a directory before any work (the report is written
/// at the end, after a long rebuild).
pub fn check_path(file: Option<&Path>) -> anyhow::Result<()> {
    if let Some(p) = file {
        anyhow::ensure!(
            !p.is_dir(),
            "--markdown {}: is a directory; give a file path",
            p.display()
        );
    }
    Ok(())
}

/// Write `md` to `file` (atomically, 0666 less the umask, as the other reports) and
/// append it to `$GITHUB_STEP_SUMMARY` when that is set (GitHub's convention: every step
/// appends; replacing would drop earlier steps' summaries).
pub fn publish(md: &str, file: Option<&Path>) -> anyhow::Result<()> {
    if let Some(p) = file {
        pause_verify::atomic::write(p, md.as_bytes())
            .with_context(|| format!("writing --markdown {}", p.display()))?;
    }
    if let Some(p) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        let p = Path::new(&p);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .with_context(|| format!("opening GITHUB_STEP_SUMMARY {}", p.display()))?;
        // One write: a summary appended by a parallel step cannot land inside ours.
        let mut all = String::with_capacity(md.len() + 1);
        all.push('\n');
        all.push_str(md);
        f.write_all(all.as_bytes())
            .with_context(|| format!("appending to GITHUB_STEP_SUMMARY {}", p.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_markers_follow_action_and_status() {
        let e = |action: &str, status: &str| EditStatus {
            hive: "Software".into(),
            path: "Microsoft\\ole".into(),
            action: action.into(),
            name: None,
            expected: None,
            actual: None,
            status: status.into(),
        };
        assert_eq!(edit_marker(&e("setValue", "present")), '+');
        assert_eq!(edit_marker(&e("createKey", "present")), '+');
        assert_eq!(edit_marker(&e("deleteKey", "present")), '-');
        assert_eq!(edit_marker(&e("setValue", "altered")), '~');
        assert_eq!(edit_marker(&e("setValue", "missing")), '-');
    }

    #[test]
    fn cells_and_code_escape() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
        assert_eq!(code("x`y"), "``x`y``");
        assert_eq!(code("`x"), "`` `x ``");
        let hex = "ab".repeat(32);
        assert_eq!(short(&format!("sha256:{hex}")), "sha256:abababababab");
        assert_eq!(
            shorten_hex_runs(&format!(
                "oci:x@sha256:{hex} sha256-{hex}.sig dir:{hex}0 12"
            )),
            format!("oci:x@sha256:abababababab sha256-abababababab.sig dir:{hex}0 12")
        );
    }
}
