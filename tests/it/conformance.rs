//! The sigstore-conformance offline suite (`test/assets/bundle-verify`, all 70 cases,
//! vendored: tests/fixtures/PROVENANCE.md) through the binary, with the arguments the
//! conformance CLI protocol (`docs/cli_protocol.md` there) passes to `verify-bundle`:
//!
//! `verify-bundle --bundle FILE (--key KEY | --certificate-identity ID
//! --certificate-oidc-issuer ISS) [--trusted-root FILE] FILE_OR_DIGEST`
//!
//! in that order, once with the artifact's path and once with its `sha256:` digest (as
//! the suite's `verify_digest` does). A case without `trusted_root.json` gets the
//! public-good production root (sigstore-python's embedded copy), as the suite's own
//! harness supplies it. `--json` (a global flag, before the subcommand) reads the
//! reason. Every must-pass case is accepted; every `_fail` case is rejected with the
//! code that names its defect (the table), never `unsupported_evidence`.

use crate::common;

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};

const ID: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISS: &str = "https://token.actions.githubusercontent.com";

/// Case → expected outcome: `verified`, a reason code (exit 1), or `exit2:` and a
/// phrase of the error (bad input).
const TABLE: &[(&str, &str)] = &[
    // Must pass.
    ("bundle-with-sct-with-extensions", "verified"),
    ("happy-path-intoto-in-dsse-v3", "verified"),
    ("happy-path-v0.1", "verified"),
    ("happy-path-v0.2", "verified"),
    ("happy-path-v0.3", "verified"),
    ("happy-path-v0.3-new-mediaType", "verified"),
    ("intoto-with-custom-trust-root", "verified"),
    ("managed-key-and-trusted-root", "verified"),
    ("managed-key-happy-path", "verified"),
    ("rekor2-checkpoint-cosigned", "verified"),
    ("rekor2-checkpoint-multiple-cosigs", "verified"),
    ("rekor2-checkpoint-origin-not-first", "verified"),
    ("rekor2-checkpoint-two-sigs-cosigned", "verified"),
    ("rekor2-checkpoint-two-sigs-from-origin", "verified"),
    ("rekor2-dsse-happy-path", "verified"),
    ("rekor2-happy-path", "verified"),
    ("rekor2-timestamp-with-embedded-cert", "verified"),
    ("rekor2-timestamp-with-expired-cert-chain", "verified"),
    ("rekor2-timestamp-without-embedded-cert", "verified"),
    ("trust-root-tlog-validity-end-inclusive", "verified"),
    ("trust-root-tsa-validity-end-inclusive", "verified"),
    // Must fail, each for its defect (the case's README).
    ("bundle-empty-certificate-chain_fail", "malformed"),
    // A staging bundle: its log is not in the production root.
    ("bundle-from-wrong-instance_fail", "bad_tlog_entry"),
    ("bundle-invalid-base64-signature_fail", "signature_encoding"),
    ("bundle-malformed-json_fail", "malformed"),
    ("bundle-negative-log-index_fail", "bad_tlog_entry"),
    ("bundle-unknown-version_fail", "unsupported_bundle"),
    ("bundle-with-root-cert_fail", "untrusted_certificate"),
    ("checkpoint-bad-keyhint_fail", "bad_checkpoint"),
    ("checkpoint-wrong-roothash_fail", "bad_checkpoint"),
    ("dsse-invalid-sig_fail", "bad_signature"),
    ("dsse-mismatch-envelope_fail", "tlog_body_mismatch"),
    ("dsse-mismatch-sig_fail", "tlog_body_mismatch"),
    ("inclusion-proof-corrupted-hash_fail", "bad_inclusion_proof"),
    // The entry's public key was edited: the SET over the body is what no longer holds.
    ("incorrect-public-key_fail", "bad_set"),
    (
        "integrated-time-in-future_fail",
        "certificate_expired_at_integration",
    ),
    (
        "intoto-expired-certificate_fail",
        "certificate_expired_at_integration",
    ),
    ("intoto-log-entry-mismatch_fail", "tlog_body_mismatch"),
    ("intoto-missing-inclusion-proof_fail", "bad_inclusion_proof"),
    (
        "intoto-set-outside-signing-cert-validity_fail",
        "certificate_expired_at_integration",
    ),
    (
        "intoto-tsa-timestamp-outside-cert-validity_fail",
        "certificate_expired_at_integration",
    ),
    ("invalid-checkpoint-signature_fail", "bad_checkpoint"),
    ("invalid-ct-key_fail", "bad_sct"),
    ("invalid-inclusion-proof_fail", "bad_inclusion_proof"),
    // No key.pub: identity flags against a keyed bundle.
    ("managed-key-no-key_fail", "no_keys"),
    // key.pub is not even a curve point: bad input.
    ("managed-key-wrong-key_fail", "exit2:loading key"),
    ("message-digest-mismatch_fail", "message_digest_mismatch"),
    (
        "rekor2-checkpoint-missing-log-signature_fail",
        "bad_checkpoint",
    ),
    ("rekor2-checkpoint-missing-origin_fail", "bad_checkpoint"),
    ("rekor2-checkpoint-missing-root-hash_fail", "bad_checkpoint"),
    ("rekor2-checkpoint-missing-size_fail", "bad_checkpoint"),
    (
        "rekor2-checkpoint-no-matching-signature_fail",
        "bad_checkpoint",
    ),
    ("rekor2-dsse-invalid-sig_fail", "bad_signature"),
    ("rekor2-dsse-mismatch-envelope_fail", "tlog_body_mismatch"),
    ("rekor2-dsse-mismatch-sig_fail", "tlog_body_mismatch"),
    ("rekor2-no-inclusion-proof_fail", "bad_inclusion_proof"),
    ("rekor2-no-timestamp_fail", "missing_timestamp"),
    (
        "rekor2-timestamp-outside-trust-root-tsa-validity_fail",
        "timestamp_outside_tsa_validity",
    ),
    (
        "rekor2-timestamp-outside-tsa-cert-validity_fail",
        "timestamp_outside_certificate_validity",
    ),
    (
        "rekor2-timestamp-payload-mismatch_fail",
        "timestamp_imprint_mismatch",
    ),
    (
        "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail",
        "timestamp_untrusted",
    ),
    (
        "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail",
        "timestamp_signer_unknown",
    ),
    (
        "rekor2-timestamp-with-incorrect-time_fail",
        "certificate_expired_at_integration",
    ),
    ("set-invalid-signature_fail", "bad_set"),
    ("signature-mismatch_fail", "bad_signature"),
    // A trusted root whose log lacks validFor.start is refused as input.
    (
        "trust-root-tlog-missing-validity-start_fail",
        "exit2:validFor has no start",
    ),
    ("wrong-hashedrekord-artifact_fail", "tlog_body_mismatch"),
    ("wrong-hashedrekord-cert-and-sig_fail", "tlog_body_mismatch"),
    ("wrong-hashedrekord-entry_fail", "tlog_body_mismatch"),
    ("wrong-material_fail", "message_digest_mismatch"),
];

fn suite() -> Option<PathBuf> {
    Some(common::fixtures()?.join("cosign/sigstore-conformance"))
}

/// The protocol's arguments for one case, the artifact as `target`.
fn protocol_args(dir: &Path, prod_root: &Path, target: &str) -> Vec<String> {
    let mut a = vec![
        "verify-bundle".to_string(),
        "--bundle".into(),
        dir.join("bundle.sigstore.json").display().to_string(),
    ];
    if dir.join("key.pub").exists() {
        a.extend(["--key".into(), dir.join("key.pub").display().to_string()]);
    } else {
        let read = |f: &str, d: &str| {
            std::fs::read_to_string(dir.join(f))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| d.to_string())
        };
        a.extend([
            "--certificate-identity".into(),
            read("identity", ID),
            "--certificate-oidc-issuer".into(),
            read("issuer", ISS),
        ]);
    }
    let root = dir.join("trusted_root.json");
    let root = if root.exists() {
        root
    } else {
        prod_root.to_path_buf()
    };
    a.extend(["--trusted-root".into(), root.display().to_string()]);
    a.push(target.to_string());
    a
}

/// (exit code, reason or stderr).
fn run(args: &[String]) -> (i32, String) {
    let mut full = vec!["--json".to_string()];
    full.extend(args.iter().cloned());
    let out = common::pv(&full);
    let code = out.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let reason = serde_json::from_str::<Value>(&stdout)
        .ok()
        .and_then(|v| v["check"]["reason"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).into_owned());
    (code, reason)
}

#[test]
fn all_seventy_cases_as_the_protocol_runs_them() {
    let Some(suite) = suite() else {
        return;
    };
    let prod = common::fixtures()
        .unwrap()
        .join("cosign/sigstore-python/trusted_root_prod.json");
    let mut dirs: Vec<String> = std::fs::read_dir(&suite)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            e.file_type()
                .unwrap()
                .is_dir()
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 70, "the suite has 70 cases");
    let mut table: Vec<&str> = TABLE.iter().map(|(c, _)| *c).collect();
    table.sort();
    assert_eq!(dirs, table, "the table names every case once");

    let (mut passed, mut failed) = (0, 0);
    let mut wrong = Vec::new();
    for (case, want) in TABLE {
        let dir = suite.join(case);
        let artifact = if dir.join("artifact").exists() {
            dir.join("artifact")
        } else {
            suite.join("a.txt")
        };
        let digest = format!(
            "sha256:{}",
            hex::encode(Sha256::digest(std::fs::read(&artifact).unwrap()))
        );
        assert_eq!(case.ends_with("_fail"), *want != "verified", "{case}");
        for target in [artifact.display().to_string(), digest] {
            let (code, reason) = run(&protocol_args(&dir, &prod, &target));
            let ok = match *want {
                "verified" => code == 0 && reason == "verified",
                w if w.starts_with("exit2:") => code == 2 && reason.contains(&w[6..]),
                w => code == 1 && reason == w,
            };
            assert_ne!(reason, "unsupported_evidence", "{case}");
            if !ok {
                wrong.push(format!(
                    "{case} ({target}): want {want}, got exit {code} {reason}"
                ));
            }
        }
        if *want == "verified" {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!((passed, failed), (21, 49));
}
