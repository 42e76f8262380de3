//! JUnit XML for CI dashboards: one `<testsuite>` per platform, one `<testcase>` per
//! check (`classname` = `pause-verify.audit.<platform>`, `name` = the check name), a
//! `<failure>` for FAIL, `<skipped>` for checks the policy does not require; evidence
//! goes into the failure body and `<system-out>`.
//!
//! Hand-written: the subset of the (de-facto, Jenkins/Surefire) schema that GitLab,
//! GitHub test reporters and Jenkins read is a handful of elements, and a writer crate
//! would add a dependency for twenty lines. No timestamps or durations: the same report
//! gives the same bytes.

use super::{CheckResult, Report, Status};
use std::fmt::Write as _;

/// Escape text for XML content and attribute values. Characters XML 1.0 cannot carry
/// (controls other than tab, LF, CR) become U+FFFD.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn evidence_text(c: &CheckResult) -> String {
    let mut s = String::new();
    for e in &c.evidence {
        let _ = match &e.digest {
            Some(d) => writeln!(s, "{} {d}: {}", e.what, e.found),
            None => writeln!(s, "{}: {}", e.what, e.found),
        };
    }
    s
}

/// Render the report as JUnit XML.
pub fn render(report: &Report) -> String {
    // Suites in the order platforms first appear among the checks.
    let mut suites: Vec<&str> = Vec::new();
    for c in &report.checks {
        if !suites.contains(&c.platform.as_str()) {
            suites.push(&c.platform);
        }
    }
    let count = |f: &dyn Fn(&&CheckResult) -> bool| report.checks.iter().filter(f).count();
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">",
        escape(&format!(
            "pause-verify audit {} ({})",
            report.image.reference, report.image.digest
        )),
        report.checks.len(),
        count(&|c| c.status == Status::Fail),
        count(&|c| c.status == Status::Skip),
    );
    for suite in suites {
        let cases: Vec<&CheckResult> = report
            .checks
            .iter()
            .filter(|c| c.platform == suite)
            .collect();
        let n = |s: Status| cases.iter().filter(|c| c.status == s).count();
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">",
            escape(suite),
            cases.len(),
            n(Status::Fail),
            n(Status::Skip),
        );
        let _ = writeln!(
            x,
            "    <properties>\n      <property name=\"image\" value=\"{}\"/>\n      <property name=\"policy\" value=\"{}\"/>\n      <property name=\"rule\" value=\"{}\"/>\n    </properties>",
            escape(&report.image.digest.to_string()),
            escape(&report.policy.uri),
            report.rule,
        );
        for c in cases {
            let _ = write!(
                x,
                "    <testcase classname=\"{}\" name=\"{}\"",
                escape(&format!("pause-verify.audit.{}", c.platform)),
                escape(&c.name()),
            );
            let ev = evidence_text(c);
            match c.status {
                Status::Pass if ev.is_empty() => x.push_str("/>\n"),
                Status::Pass => {
                    let _ = writeln!(
                        x,
                        ">\n      <system-out>{}</system-out>\n    </testcase>",
                        escape(&format!("{}\n{ev}", c.message))
                    );
                }
                Status::Fail => {
                    let _ = writeln!(
                        x,
                        ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                        escape(&c.message),
                        escape(&c.id),
                        escape(&ev),
                    );
                }
                Status::Skip => {
                    let _ = writeln!(
                        x,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        escape(&c.message)
                    );
                }
            }
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            escape("a<b>&\"c\"'d'\u{1}\te"),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;\u{FFFD}\te"
        );
    }
}
