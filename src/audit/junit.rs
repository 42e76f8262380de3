//! JUnit XML for CI dashboards: one `<testsuite>` per platform, one `<testcase>` per
//! check (`classname` = `pause-verify.audit.<platform>`, `name` = the check name), a
//! `<failure>` for FAIL, `<skipped>` for checks the policy does not require; evidence
//! goes into the failure body and `<system-out>`.
//!
//! Written by `quick-junit` (nextest's serializer of the Jenkins/Surefire schema that
//! GitLab, GitHub test reporters and Jenkins read), which does the escaping. No
//! timestamps, durations or UUIDs are set, so the same report gives the same bytes.

use super::{CheckResult, Report, Status};
use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};
use std::fmt::Write as _;

pub use quick_junit::SerializeError;

/// Characters XML 1.0 cannot carry become U+FFFD. quick-junit drops C0 controls and ANSI
/// escapes but passes U+FFFE/U+FFFF through; a visible marker in evidence beats a silent
/// hole, and an invalid document would be rejected by the reporter whole.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect()
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

fn case(c: &CheckResult) -> TestCase {
    let ev = evidence_text(c);
    let status = match c.status {
        Status::Pass => TestCaseStatus::success(),
        Status::Fail => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(clean(&c.message)).set_type(clean(&c.id));
            s.set_description(clean(&ev));
            s
        }
        Status::Skip => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(clean(&c.message));
            s
        }
    };
    let mut t = TestCase::new(clean(&c.name()), status);
    t.set_classname(clean(&format!("pause-verify.audit.{}", c.platform)));
    if c.status == Status::Pass && !ev.is_empty() {
        t.set_system_out(clean(&format!("{}\n{ev}", c.message)));
    }
    t
}

/// Render the report as JUnit XML.
pub fn render(report: &Report) -> Result<String, SerializeError> {
    let mut x = quick_junit::Report::new(clean(&format!(
        "pause-verify audit {} ({})",
        report.image.reference, report.image.digest
    )));
    // Suites in the order platforms first appear among the checks.
    let mut suites: Vec<&str> = Vec::new();
    for c in &report.checks {
        if !suites.contains(&c.platform.as_str()) {
            suites.push(&c.platform);
        }
    }
    for name in suites {
        let mut suite = TestSuite::new(clean(name));
        suite.add_properties([
            Property::new("image", clean(&report.image.digest.to_string())),
            Property::new("policy", clean(&report.policy.uri)),
            Property::new("rule", report.rule.to_string()),
        ]);
        suite.add_test_cases(
            report
                .checks
                .iter()
                .filter(|c| c.platform == name)
                .map(case),
        );
        x.add_test_suite(suite);
    }
    x.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning() {
        assert_eq!(
            clean("a<b>\u{1}\te\u{FFFE}\u{1b}[31m"),
            "a<b>\u{FFFD}\te\u{FFFD}\u{FFFD}[31m"
        );
    }
}
