use super::*;
use crate::attest::{Failure, PrivateKey};
use crate::policy::{self, Loaded};
use serde_json::json;

fn d(s: &str) -> Digest {
    Digest::of(s.as_bytes())
}

const VERSIONS: [&str; 3] = ["10.0.17763.1", "10.0.20348.2", "10.0.26100.3"];

fn policy_text() -> String {
    let mut s = String::from(
        "version = 1\n[platforms]\nrequired = ['windows/amd64:10.0.17763', 'windows/amd64:10.0.20348', 'windows/amd64:10.0.26100']\n\
         [signatures]\nkeys = ['k.pub']\n[pins]\nrequired = true\n\
         [attestations.provenance]\nbuilder_id = 'https://github.com/pause-verify/pause-verify'\n\
         [rebuild]\nverdict = 'EQUIVALENT'\nnoise = ['tar-times', 'sys-container-id']\n",
    );
    for v in VERSIONS {
        s.push_str(&format!(
            "[[pins.base]]\nos_version = '{v}'\nmanifest = '{}'\nlayers = ['{}']\n",
            d(&format!("nano-manifest-{v}")),
            d(&format!("nano-layer-{v}")),
        ));
    }
    s
}

fn load(text: &str) -> (tempfile::TempDir, Loaded) {
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate().unwrap();
    std::fs::write(dir.path().join("k.pub"), key.public_key().to_pem()).unwrap();
    let p = dir.path().join("policy.toml");
    std::fs::write(&p, text).unwrap();
    let l = policy::load(Some(&p), &policy::CliInputs::default()).unwrap();
    (dir, l)
}

fn verified(source: &str, subject: Digest, predicate: Option<(&str, Value)>) -> Found {
    Found {
        subject,
        digest: Some(d(source)),
        check: SigCheck {
            source: source.into(),
            result: Ok(Verified {
                key_index: 0,
                format: if predicate.is_some() {
                    "dsse"
                } else {
                    "simple-signing"
                },
                predicate_type: predicate.as_ref().map(|(t, _)| t.to_string()),
                docker_reference: None,
                keyless: None,
                transparency: None,
                statement: predicate.map(|(_, p)| json!({"predicate": p})),
            }),
        },
    }
}

fn provenance(v: &str) -> Value {
    json!({
        "buildDefinition": {"externalParameters": {
            "platform": format!("windows/amd64:{v}"),
            "baseImage": {"digest": d(&format!("nano-manifest-{v}")).to_string()},
            "registryEdits": policy::upstream_edits(),
        }},
        "runDetails": {"builder": {"id": "https://github.com/pause-verify/pause-verify"}},
    })
}

fn noise(rule: &str) -> NoiseFact {
    NoiseFact {
        rule: rule.into(),
        changes: 1,
        example: format!("a change {rule} explains"),
    }
}

fn good_platform(v: &str) -> PlatformFacts {
    let manifest = d(&format!("manifest-{v}"));
    PlatformFacts {
        platform: Platform {
            os: "windows".into(),
            architecture: "amd64".into(),
            os_version: Some(v.into()),
            ..Default::default()
        },
        config: d(&format!("config-{v}")),
        layers: vec![
            (d(&format!("nano-layer-{v}")), Some(d("u0"))),
            (d(&format!("pause-layer-{v}")), Some(d("u1"))),
        ],
        signatures: vec![verified(".sig layer 0", manifest.clone(), None)],
        attestations: vec![verified(
            ".att layer 0",
            manifest.clone(),
            Some((PROVENANCE_V1, provenance(v))),
        )],
        rebuild: Some(Ok(RebuildFacts {
            verdict: "EQUIVALENT".into(),
            rebuilt_manifest: Some(d("rebuilt")),
            reasons: vec![],
            noise_rules: vec![noise("tar-times")],
            edits: vec![EditFact {
                edit: "Software\\Microsoft\\ole:EnableDCOM (setValue)".into(),
                status: "present".into(),
                actual: None,
            }],
            ..Default::default()
        })),
        manifest,
    }
}

fn good_facts() -> ImageFacts {
    ImageFacts {
        reference: "oci:x:latest".into(),
        repository: "oci:x".into(),
        root: d("index"),
        root_media_type: "application/vnd.oci.image.index.v1+json".into(),
        root_is_index: true,
        root_signatures: vec![],
        root_attestations: vec![],
        platforms: VERSIONS.iter().map(|v| good_platform(v)).collect(),
    }
}

fn failed(r: &Report) -> Vec<(String, String)> {
    r.failures()
        .map(|c| (c.name(), c.platform.clone()))
        .collect()
}

#[test]
fn all_good_passes_with_every_check_evaluated() {
    let (_d, l) = load(&policy_text());
    let r = evaluate(&l, &good_facts());
    assert!(r.passed, "{:#?}", failed(&r));
    assert_eq!(r.platforms.len(), 3);
    // 3 presence checks + 3 platforms × (base, signature, attestation, 3 provenance, 3 rebuild).
    assert_eq!(r.checks.len(), 3 + 3 * 9);
    assert!(r.checks.iter().all(|c| c.status == Status::Pass));
    let levels = vsa::verified_levels(&r);
    assert!(levels.contains(&"PAUSE_VERIFY_REBUILT_EQUIVALENT".to_string()));
    assert!(levels.contains(&"PAUSE_VERIFY_BASE_PINNED".to_string()));
}

fn only_failure(r: &Report, id: &str, platform: &str) {
    let f = failed(r);
    assert!(
        f.iter().any(|(n, p)| n.starts_with(id) && p == platform),
        "expected {id} to fail on {platform}: {f:#?}"
    );
    assert!(!r.passed);
    assert!(vsa::verified_levels(r).is_empty());
}

#[test]
fn unsigned_and_wrong_key() {
    let (_d, l) = load(&policy_text());
    let mut f = good_facts();
    f.platforms[1].signatures.clear();
    let r = evaluate(&l, &f);
    only_failure(&r, ids::SIGNATURE, "windows/amd64:10.0.20348.2");
    assert_eq!(failed(&r).len(), 1, "{:#?}", failed(&r));
    let c = r.failures().next().unwrap();
    assert!(c.message.contains("unsigned"), "{}", c.message);

    let mut f = good_facts();
    f.platforms[0].signatures[0].check.result = Err(Failure::BadSignature { keys: 1 });
    let r = evaluate(&l, &f);
    only_failure(&r, ids::SIGNATURE, "windows/amd64:10.0.17763.1");
    let c = r.failures().next().unwrap();
    assert!(c.message.contains("bad_signature"), "{}", c.message);
    assert_eq!(c.evidence[0].digest, Some(d(".sig layer 0")));

    // A signature on the index covers every platform.
    let mut f = good_facts();
    for p in &mut f.platforms {
        p.signatures.clear();
    }
    f.root_signatures = vec![verified(".sig index", d("index"), None)];
    assert!(evaluate(&l, &f).passed);
}

#[test]
fn missing_attestation_names_the_attestation_check() {
    let (_d, l) = load(&policy_text());
    let mut f = good_facts();
    f.platforms[2].attestations.clear();
    let r = evaluate(&l, &f);
    only_failure(&r, ids::ATTESTATION, "windows/amd64:10.0.26100.3");
    let names: Vec<String> = failed(&r).into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&format!("attestation[{PROVENANCE_V1}]")));
}

#[test]
fn provenance_faults() {
    let (_d, l) = load(&policy_text());
    let mut f = good_facts();
    if let Ok(v) = &mut f.platforms[0].attestations[0].check.result {
        let s = v.statement.as_mut().unwrap();
        s["predicate"]["runDetails"]["builder"]["id"] = json!("https://evil");
        let edits = s["predicate"]["buildDefinition"]["externalParameters"]["registryEdits"]
            .as_array_mut()
            .unwrap();
        edits.pop();
        s["predicate"]["buildDefinition"]["externalParameters"]["baseImage"]["digest"] =
            json!(d("other").to_string());
    }
    let r = evaluate(&l, &f);
    let names: Vec<String> = failed(&r).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        vec![
            ids::PROVENANCE_BUILDER,
            ids::PROVENANCE_BASE,
            ids::PROVENANCE_EDITS
        ]
    );
    let edits = r.failures().nth(2).unwrap();
    assert!(
        edits.message.to_lowercase().contains("services\\diagtrack"),
        "{}",
        edits.message
    );
}

#[test]
fn base_not_pinned_and_platform_missing() {
    let (_d, l) = load(&policy_text());
    let mut f = good_facts();
    f.platforms[1].layers[0].0 = d("some other nanoserver");
    let r = evaluate(&l, &f);
    only_failure(&r, ids::BASE_PINNED, "windows/amd64:10.0.20348.2");
    assert_eq!(failed(&r).len(), 1);

    let mut f = good_facts();
    f.platforms[1].platform.os_version = Some("10.0.20348.9".into());
    let r = evaluate(&l, &f);
    let c = r.failures().next().unwrap();
    assert_eq!(c.id, ids::BASE_PINNED);
    assert!(c.message.contains("no pin for os.version 10.0.20348.9"));

    let mut f = good_facts();
    f.platforms.remove(0);
    let r = evaluate(&l, &f);
    only_failure(&r, ids::PLATFORM_PRESENT, "windows/amd64:10.0.17763");
}

#[test]
fn rebuild_faults() {
    let (_d, l) = load(&policy_text());
    let mut f = good_facts();
    if let Some(Ok(r)) = &mut f.platforms[2].rebuild {
        r.verdict = "DIFFERENT".into();
        r.reasons = vec!["layer 1 differs".into()];
        r.edits[0].status = "missing".into();
        r.noise_rules.push(noise("sys-computer-name"));
    }
    let r = evaluate(&l, &f);
    let names: Vec<String> = failed(&r).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        vec![ids::REBUILD_VERDICT, ids::IMAGE_EDITS, ids::NOISE_RULES]
    );
    assert!(
        r.failures()
            .next()
            .unwrap()
            .message
            .contains("layer 1 differs")
    );
    assert!(
        r.failures()
            .nth(2)
            .unwrap()
            .message
            .contains("sys-computer-name")
    );

    let mut f = good_facts();
    f.platforms[0].rebuild = Some(Err("base layer not available".into()));
    let r = evaluate(&l, &f);
    assert_eq!(failed(&r).len(), 3);
}

#[test]
fn default_policy_every_platform_and_skips() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate().unwrap();
    let k = dir.path().join("k.pub");
    std::fs::write(&k, key.public_key().to_pem()).unwrap();
    let keys = [k];
    let l = policy::load(
        None,
        &policy::CliInputs {
            keys: &keys,
            ..Default::default()
        },
    )
    .unwrap();
    let r = evaluate(&l, &good_facts());
    assert!(r.passed, "{:#?}", failed(&r));
    let skipped: Vec<&str> = r
        .checks
        .iter()
        .filter(|c| c.status == Status::Skip)
        .map(|c| c.id.as_str())
        .collect();
    assert!(skipped.contains(&ids::BASE_PINNED));
    assert!(skipped.contains(&ids::PROVENANCE_EDITS));
    assert!(!skipped.contains(&ids::SIGNATURE));
    let mut f = good_facts();
    f.platforms.clear();
    let r = evaluate(&l, &f);
    only_failure(&r, ids::PLATFORM_PRESENT, "*");
}

#[test]
fn junit_has_one_case_per_check_and_names_failures() {
    let (_d, l) = load(&policy_text());
    let mut f = good_facts();
    f.platforms[1].signatures.clear();
    let r = evaluate(&l, &f);
    let x = junit::render(&r).unwrap();
    assert_eq!(x.matches("<testcase ").count(), r.checks.len());
    assert_eq!(x.matches("<failure ").count(), 1);
    assert!(x.contains("<testsuites name=\"pause-verify audit oci:x:latest"));
    assert!(x.contains("failures=\"1\""));
    let fail_at = x.find("<failure ").unwrap();
    let case_start = x[..fail_at].rfind("<testcase ").unwrap();
    assert!(
        x[case_start..fail_at].contains(
            "name=\"signature\" classname=\"pause-verify.audit.windows/amd64:10.0.20348.2\""
        ),
        "{}",
        &x[case_start..fail_at]
    );
    assert_eq!(x, junit::render(&r).unwrap(), "deterministic");
    for volatile in ["timestamp=", "time=", "uuid=", "hostname="] {
        assert!(!x.contains(volatile), "{volatile} in\n{x}");
    }
}

#[test]
fn vsa_result_follows_the_report() {
    let (_d, l) = load(&policy_text());
    let r = evaluate(&l, &good_facts());
    let s = vsa::statement(&r, "oci:x@sha256:00", vec![], Some(vsa::rfc3339(0))).unwrap();
    assert_eq!(s.predicate["verificationResult"], "PASSED");
    assert_eq!(s.subject[0].digest["sha256"], d("index").hex());
    assert_eq!(
        s.predicate["policy"]["digest"]["sha256"],
        l.digest.as_ref().unwrap().hex()
    );
    let mut f = good_facts();
    f.platforms[0].signatures.clear();
    let r = evaluate(&l, &f);
    let s = vsa::statement(&r, "oci:x@sha256:00", vec![], None).unwrap();
    assert_eq!(s.predicate["verificationResult"], "FAILED");
    assert_eq!(s.predicate["verifiedLevels"], json!([]));
}

fn keyless_verified(source: &str, subject: Digest) -> Found {
    let mut f = verified(source, subject, None);
    if let Ok(v) = &mut f.check.result {
        v.format = "bundle";
        v.keyless = Some(crate::attest::keyless::KeylessSigner {
            identity: "https://github.com/o/r/.github/workflows/rel.yml@refs/heads/main".into(),
            issuer: "https://token.actions.githubusercontent.com".into(),
            integrated_time: 1,
            log_index: 2,
            log: "https://rekor.sigstore.dev".into(),
            inclusion_proof: true,
            certificate_authority: "https://fulcio.sigstore.dev".into(),
        });
    }
    f
}

const IDENTITY: &str = "[[signatures.identities]]\nissuer = 'https://token.actions.githubusercontent.com'\n\
    subject = 'https://github.com/o/r/.github/workflows/rel.yml@refs/heads/main'\n";

fn with_keyless(trusted_root: bool) -> (tempfile::TempDir, Loaded) {
    let mut text = policy_text().replacen(
        "[signatures]\nkeys = ['k.pub']\n",
        &format!(
            "[signatures]\nkeys = ['k.pub']\n{}",
            if trusted_root {
                "trusted_root = 'root.json'\n"
            } else {
                ""
            }
        ),
        1,
    );
    text.push_str(IDENTITY);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("root.json"),
        r#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#,
    )
    .unwrap();
    let key = PrivateKey::generate().unwrap();
    std::fs::write(dir.path().join("k.pub"), key.public_key().to_pem()).unwrap();
    let p = dir.path().join("policy.toml");
    std::fs::write(&p, text).unwrap();
    let l = policy::load(Some(&p), &policy::CliInputs::default()).unwrap();
    (dir, l)
}

#[test]
fn keyless_signers_need_a_trusted_root_and_a_keyless_verified_signature() {
    // Identities without a trusted root: the check fails and says what is missing.
    let (_d, l) = with_keyless(false);
    assert!(l.keyless.is_none());
    let r = evaluate(&l, &good_facts());
    let kl: Vec<&CheckResult> = r
        .checks
        .iter()
        .filter(|c| c.id == ids::KEYLESS_SIGNATURE)
        .collect();
    assert_eq!(kl.len(), 3);
    assert!(kl.iter().all(|c| c.status == Status::Fail));
    assert!(
        kl[0].message.contains("no trusted root"),
        "{}",
        kl[0].message
    );

    // With a trusted root: key-verified signatures do not satisfy the keyless check.
    let (_d, l) = with_keyless(true);
    let k = l.keyless.as_ref().unwrap();
    assert_eq!(k.identities.len(), 1);
    assert_eq!(
        k.identities[0].issuer,
        "https://token.actions.githubusercontent.com"
    );
    let r = evaluate(&l, &good_facts());
    only_failure(&r, ids::KEYLESS_SIGNATURE, "windows/amd64:10.0.17763.1");
    assert_eq!(failed(&r).len(), 3, "{:#?}", failed(&r));

    // A keyless-verified signature on the index: every platform's keyless check passes.
    let mut f = good_facts();
    f.root_signatures = vec![keyless_verified("referrer sha256:1", d("index"))];
    let r = evaluate(&l, &f);
    assert!(r.passed, "{:#?}", failed(&r));
    let c = r
        .checks
        .iter()
        .find(|c| c.id == ids::KEYLESS_SIGNATURE)
        .unwrap();
    assert!(c.message.contains("signed keyless"), "{}", c.message);
    assert!(
        c.evidence.iter().any(|e| e
            .found
            .contains("verified with keyless https://github.com/o/r/")),
        "{:?}",
        c.evidence
    );

    // ... but it does not satisfy the key-based signature check on its own.
    for p in &mut f.platforms {
        p.signatures.clear();
    }
    let r = evaluate(&l, &f);
    only_failure(&r, ids::SIGNATURE, "windows/amd64:10.0.17763.1");
    assert!(
        failed(&r).iter().all(|(id, _)| id == ids::SIGNATURE),
        "{:#?}",
        failed(&r)
    );
}

#[test]
fn trusted_root_policy_errors() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate().unwrap();
    std::fs::write(dir.path().join("k.pub"), key.public_key().to_pem()).unwrap();
    let p = dir.path().join("policy.toml");
    let empty_root = r#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#;
    // Keys and a trusted root, no identity: the root serves the keyed signatures'
    // transparency evidence, which is required unless the policy skips it.
    std::fs::write(dir.path().join("keyed.json"), empty_root).unwrap();
    std::fs::write(
        &p,
        "version = 1\n[signatures]\nkeys = ['k.pub']\ntrusted_root = 'keyed.json'\n",
    )
    .unwrap();
    let l = policy::load(Some(&p), &policy::CliInputs::default()).unwrap();
    let k = l.keyless.as_ref().unwrap();
    assert!(k.identities.is_empty() && !k.ignore_tlog);
    std::fs::write(
        &p,
        "version = 1\n[signatures]\nkeys = ['k.pub']\ntrusted_root = 'keyed.json'\ninsecure_ignore_tlog = true\n",
    )
    .unwrap();
    let l = policy::load(Some(&p), &policy::CliInputs::default()).unwrap();
    assert!(l.keyless.as_ref().unwrap().ignore_tlog);
    // An identity and a missing / malformed trusted root.
    std::fs::write(
        &p,
        format!(
            "version = 1\n[signatures]\nkeys = ['k.pub']\ntrusted_root = 'root.json'\n{IDENTITY}"
        ),
    )
    .unwrap();
    let e = policy::load(Some(&p), &policy::CliInputs::default()).unwrap_err();
    assert!(e.to_string().contains("root.json"), "{e}");
    std::fs::write(dir.path().join("root.json"), "[]").unwrap();
    assert!(policy::load(Some(&p), &policy::CliInputs::default()).is_err());
    // --trusted-root replaces the policy's (and is taken as given, not policy-relative).
    let good = dir.path().join("good.json");
    std::fs::write(
        &good,
        r#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#,
    )
    .unwrap();
    let l = policy::load(
        Some(&p),
        &policy::CliInputs {
            trusted_root: Some(&good),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(l.keyless.is_some());
    assert_eq!(l.trusted_root.as_deref(), Some(good.to_str().unwrap()));
}

#[test]
fn identity_subject_regexp_in_policies() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate().unwrap();
    std::fs::write(dir.path().join("k.pub"), key.public_key().to_pem()).unwrap();
    std::fs::write(
        dir.path().join("root.json"),
        r#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#,
    )
    .unwrap();
    let p = dir.path().join("policy.toml");
    let load = |ids: &str| {
        std::fs::write(
            &p,
            format!(
                "version = 1\n[signatures]\nkeys = ['k.pub']\ntrusted_root = 'root.json'\n{ids}"
            ),
        )
        .unwrap();
        policy::load(Some(&p), &policy::CliInputs::default())
    };
    let l = load(
        "[[signatures.identities]]\nissuer = 'https://i'\nsubject_regexp = 'https://github\\.com/o/.*'\n",
    )
    .unwrap();
    let id = &l.keyless.as_ref().unwrap().identities[0];
    assert!(
        id.subject
            .matches("https://github.com/o/r/.github/workflows/x.yml@refs/heads/main")
    );
    assert!(!id.subject.matches("https://evil/https://github.com/o/x"));
    for bad in [
        "[[signatures.identities]]\nissuer = 'https://i'\nsubject = 'a'\nsubject_regexp = 'a'\n",
        "[[signatures.identities]]\nissuer = 'https://i'\n",
        "[[signatures.identities]]\nissuer = 'https://i'\nsubject_regexp = '('\n",
        "[[signatures.identities]]\nissuer = ''\nsubject = 'a'\n",
    ] {
        assert!(load(bad).is_err(), "{bad}");
    }
}

#[test]
fn rule_all_fails_a_failed_line_beside_a_verified_one_and_any_accepts_it() {
    let bad = |source: &str, subject: Digest| Found {
        subject,
        digest: Some(d(source)),
        check: SigCheck {
            source: source.into(),
            result: Err(Failure::BadSignature { keys: 1 }),
        },
    };
    let mut f = good_facts();
    f.root_signatures = vec![bad(".sig index layer 1", d("index"))];
    let m1 = f.platforms[1].manifest.clone();
    f.platforms[1].attestations.push(bad(".att layer 1", m1));

    // Default (no `rule` key): all. The index's FAILED signature fails every platform's
    // signature check; the FAILED attestation fails the platform it is on.
    let (_d, l) = load(&policy_text());
    assert_eq!(l.policy.signatures.rule, SignatureRule::All);
    let r = evaluate(&l, &f);
    assert_eq!(r.rule, "all");
    let names = failed(&r);
    assert_eq!(names.len(), 4, "{names:#?}");
    let sig = r.failures().find(|c| c.id == ids::SIGNATURE).unwrap();
    assert!(
        sig.message
            .starts_with("rule all: 1 of 2 signature(s) found FAILED: .sig index layer 1 (for ")
            && sig.message.contains("bad_signature")
            && sig.message.contains(".sig layer 0 verifies"),
        "{}",
        sig.message
    );
    assert!(
        sig.evidence
            .iter()
            .any(|e| e.what.starts_with(".sig index layer 1")
                && e.found.starts_with("bad_signature"))
    );
    let att = r.failures().find(|c| c.id == ids::ATTESTATION).unwrap();
    assert_eq!(att.platform, "windows/amd64:10.0.20348.2");
    assert!(
        att.message
            .contains("1 of 2 attestation(s) found FAILED: .att layer 1"),
        "{}",
        att.message
    );
    assert!(
        junit::render(&r)
            .unwrap()
            .contains("<property name=\"rule\" value=\"all\"/>")
    );
    // A platform without FAILED lines passes and says so.
    let (_d, l2) = load(&policy_text());
    let r2 = evaluate(&l2, &good_facts());
    let c = r2.checks.iter().find(|c| c.id == ids::SIGNATURE).unwrap();
    assert!(
        c.message
            .ends_with("(rule all: every one of 1 signature(s) verifies)"),
        "{}",
        c.message
    );

    // rule = "any": one verified suffices; the failures stay in the evidence.
    let text = policy_text().replacen("[signatures]\n", "[signatures]\nrule = 'any'\n", 1);
    let (_d, l) = load(&text);
    let r = evaluate(&l, &f);
    assert!(r.passed, "{:#?}", failed(&r));
    assert_eq!(r.rule, "any");
    let sig = r.checks.iter().find(|c| c.id == ids::SIGNATURE).unwrap();
    assert!(
        sig.message
            .contains("rule any: 1 FAILED signature(s) beside it accepted"),
        "{}",
        sig.message
    );
    assert_eq!(sig.evidence.len(), 2);
    assert!(
        junit::render(&r)
            .unwrap()
            .contains("<property name=\"rule\" value=\"any\"/>")
    );

    // Keyless: the same rule.
    let (_d, l) = with_keyless(true);
    let mut f = good_facts();
    f.root_signatures = vec![
        keyless_verified("referrer sha256:1", d("index")),
        bad("referrer sha256:2", d("index")),
    ];
    let r = evaluate(&l, &f);
    let kl = r
        .failures()
        .find(|c| c.id == ids::KEYLESS_SIGNATURE)
        .unwrap();
    assert!(
        kl.message.contains("FAILED: referrer sha256:2"),
        "{}",
        kl.message
    );

    let bad_rule = policy_text().replacen("[signatures]\n", "[signatures]\nrule = 'most'\n", 1);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("policy.toml");
    std::fs::write(&p, bad_rule).unwrap();
    let e = policy::load(Some(&p), &policy::CliInputs::default()).unwrap_err();
    assert!(e.to_string().contains("most"), "{e}");
}
