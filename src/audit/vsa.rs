//! The audit's SLSA Verification Summary (VSA v1): what a deploy-time admission gate
//! checks instead of re-running the audit.
//!
//! Subject: the image root (index or manifest) the audit resolved; `resourceUri`: the
//! image by digest; `policy`: the policy file (URI and sha256) or the built-in default's
//! URI; `inputAttestations`: every attestation that verified and that the checks relied
//! on; `verificationResult`: PASSED exactly when the audit passed (exit 0);
//! `verifiedLevels` (only when PASSED): our own level names (docs/policy.md).
//!
//! Builds the statement through `attest::statement::vsa` and signs it with DSSE. The
//! time comes from the caller (SOURCE_DATE_EPOCH or the clock, chosen in the CLI) so the
//! same audit can give the same bytes.

use super::{Report, Status, ids};
use crate::attest::PrivateKey;
use crate::attest::dsse::{self, Envelope};
use crate::attest::statement::{self, Statement, StatementError, VsaInput};
use crate::image::Digest;

/// Level names a passing audit records, from the checks that passed.
pub fn verified_levels(report: &Report) -> Vec<String> {
    if !report.passed {
        return Vec::new();
    }
    let all_pass = |id: &str| {
        let mut it = report.checks.iter().filter(|c| c.id == id).peekable();
        it.peek().is_some() && it.all(|c| c.status == Status::Pass)
    };
    let mut levels = vec!["PAUSE_VERIFY_AUDIT_PASSED".to_string()];
    for (id, level) in [
        (ids::SIGNATURE, "PAUSE_VERIFY_SIGNED"),
        (ids::BASE_PINNED, "PAUSE_VERIFY_BASE_PINNED"),
        (ids::PROVENANCE_EDITS, "PAUSE_VERIFY_PROVENANCE"),
    ] {
        if all_pass(id) {
            levels.push(level.to_string());
        }
    }
    if all_pass(ids::REBUILD_VERDICT) {
        // The weakest verdict over the platforms names the level.
        let worst = report
            .checks
            .iter()
            .filter(|c| c.id == ids::REBUILD_VERDICT)
            .filter_map(|c| c.message.split_whitespace().next())
            .max_by_key(|v| match *v {
                "IDENTICAL" => 0,
                "SAME_CONTENT" => 1,
                _ => 2,
            });
        if let Some(v) = worst {
            levels.push(format!("PAUSE_VERIFY_REBUILT_{v}"));
        }
    }
    levels
}

/// The VSA statement for a report. `attestations` are the inputs the verdict rests on
/// (URI, envelope digest); `time_verified` is RFC 3339 or None.
pub fn statement(
    report: &Report,
    resource_uri: &str,
    attestations: Vec<(String, Digest)>,
    time_verified: Option<String>,
) -> Result<Statement, StatementError> {
    statement::vsa(&VsaInput {
        subject_name: report.image.repository.clone(),
        subject_digest: report.image.digest.clone(),
        resource_uri: resource_uri.to_string(),
        policy_uri: report.policy.uri.clone(),
        policy_digest: report.policy.digest.clone(),
        input_attestations: attestations,
        passed: report.passed,
        verified_levels: verified_levels(report),
        time_verified,
    })
}

/// Sign a VSA statement as a DSSE envelope (compact JSON, one line).
pub fn sign(statement: &Statement, key: &PrivateKey) -> Envelope {
    dsse::sign_statement(statement, key)
}

/// RFC 3339 UTC (`2024-05-01T12:00:00Z`) for seconds since the Unix epoch.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        // `date -u -d @951782400` = Tue Feb 29 00:00:00 UTC 2000.
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        // `date -u -d @1700000000` = Tue Nov 14 22:13:20 UTC 2023.
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(4_102_444_800), "2100-01-01T00:00:00Z");
    }
}
