//! The audit: one policy-driven go/no-go over an image, every check with its evidence.
//!
//! Owns the check model ([`CheckResult`]: id, platform, PASS/FAIL/SKIP, evidence by
//! digest, message), the evaluation of a [`policy::Loaded`](crate::policy::Loaded)
//! against what was found about an image ([`ImageFacts`], gathered by [`collect`]), the
//! aggregate [`Report`], the JUnit XML rendering ([`junit`]) and the VSA of the audit
//! ([`vsa`]). Evaluation is pure: the same facts and policy give the same report.
//!
//! Not here: verifying signatures or comparing layers (that is `attest` and `compare`;
//! their outcomes arrive as facts), printing, exit codes (the CLI).

pub mod collect;
pub mod junit;
pub mod vsa;

use crate::attest::statement::{EditOp, PROVENANCE_V1, RegistryEdit};
use crate::attest::{Check as SigCheck, Verified};
use crate::image::{Digest, Platform};
use crate::policy::{Loaded, Pin, SignatureRule};
use serde::Serialize;
use serde_json::Value;

/// Version of the `audit` JSON document (docs/json-schema.md).
pub const SCHEMA_VERSION: &str = "1";

/// Stable check ids (docs/policy.md lists what each looks at).
pub mod ids {
    pub const PLATFORM_PRESENT: &str = "platform-present";
    pub const BASE_PINNED: &str = "base-pinned";
    pub const BASE_SIGNATURE: &str = "base-signature";
    pub const SIGNATURE: &str = "signature";
    pub const KEYLESS_SIGNATURE: &str = "keyless-signature";
    pub const ATTESTATION: &str = "attestation";
    pub const PROVENANCE_BUILDER: &str = "provenance-builder";
    pub const PROVENANCE_BASE: &str = "provenance-base";
    pub const PROVENANCE_EDITS: &str = "provenance-edits";
    pub const REBUILD_VERDICT: &str = "rebuild-verdict";
    pub const IMAGE_EDITS: &str = "image-edits";
    pub const NOISE_RULES: &str = "noise-rules";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Pass,
    Fail,
    /// Not required by the policy (not evaluated).
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// One thing a check looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// What it is: `platform manifest`, `.sig layer 0`, `pin 10.0.20348.2849`, ...
    pub what: String,
    /// Its digest, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// What was found in it (verified, a failure reason, a value).
    pub found: String,
}

impl Evidence {
    pub fn new(what: impl Into<String>, digest: Option<&Digest>, found: impl Into<String>) -> Self {
        Evidence {
            what: what.into(),
            digest: digest.cloned(),
            found: found.into(),
        }
    }
}

/// One check on one platform (or on the image as a whole: platform `*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    pub id: String,
    /// The check's parameter when it has one (the predicate type of `attestation`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `windows/amd64:10.0.20348.2849`, a required selector for `platform-present`, or `*`.
    pub platform: String,
    pub status: Status,
    /// One line: why it passed or failed.
    pub message: String,
    pub evidence: Vec<Evidence>,
}

impl CheckResult {
    /// `id` or `id[target]`: unique within a platform.
    pub fn name(&self) -> String {
        match &self.target {
            Some(t) => format!("{}[{t}]", self.id),
            None => self.id.clone(),
        }
    }
}

/// A signature or attestation found for a digest, and how its verification went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The image digest it was found for (platform manifest or index).
    pub subject: Digest,
    /// Digest of the signature layer / envelope / bundle bytes, when known.
    pub digest: Option<Digest>,
    pub check: SigCheck,
}

/// What a rebuild-and-compare of one platform established.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RebuildFacts {
    /// `IDENTICAL`, `SAME_CONTENT`, `EQUIVALENT` or `DIFFERENT`.
    pub verdict: String,
    pub rebuilt_manifest: Option<Digest>,
    pub reasons: Vec<String>,
    /// The base the platform was rebuilt from, and whether the image starts with it.
    pub base: Option<BaseFact>,
    /// Each paired pause layer.
    pub layers: Vec<LayerFact>,
    /// Every noise rule the comparison used to explain a difference.
    pub noise_rules: Vec<NoiseFact>,
    /// How many changes no noise rule explains.
    pub unexplained: usize,
    /// The recipe's registry edits, looked up in the image.
    pub edits: Vec<EditFact>,
    /// The base's Notary Project signatures (None: not looked for; Err: why they could
    /// not be read).
    pub base_signatures: Option<Result<Vec<BaseSignatureFact>, String>>,
}

/// One Notary signature found for a platform's base manifest, as verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseSignatureFact {
    /// The signature manifest's digest.
    pub manifest: Digest,
    /// `verified` or the failure code.
    pub reason: String,
    /// The signing certificate's subject (RFC 4514), when verified.
    pub signer: Option<String>,
    /// The failure message, or the trust store and policy that verified it.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseFact {
    /// `--base` or `pins`.
    pub source: String,
    /// The base reference or pin name.
    pub reference: String,
    pub manifest: Option<Digest>,
    /// True when the image's leading layers are the base's.
    pub ok: bool,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerFact {
    /// The recipe step (`RUN reg import …`), when known.
    pub step: Option<String>,
    pub published: Option<Digest>,
    pub rebuilt: Option<Digest>,
    pub verdict: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoiseFact {
    pub rule: String,
    /// How many changes it explained.
    pub changes: usize,
    /// One of them, rendered.
    pub example: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditFact {
    /// `Software\Microsoft\rpc:EpMapDisallowedProtocols (setValue)`.
    pub edit: String,
    /// `present`, `missing` or `altered`.
    pub status: String,
    pub actual: Option<String>,
}

/// Everything found about one platform of the image.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformFacts {
    pub platform: Platform,
    pub manifest: Digest,
    pub config: Digest,
    /// Layer blob digests and diff_ids, in order.
    pub layers: Vec<(Digest, Option<Digest>)>,
    /// Signatures found for the platform manifest.
    pub signatures: Vec<Found>,
    /// Attestations found for the platform manifest.
    pub attestations: Vec<Found>,
    /// None: not run (not required); Err: the rebuild could not run (why).
    pub rebuild: Option<Result<RebuildFacts, String>>,
}

impl PlatformFacts {
    pub fn name(&self) -> String {
        self.platform.to_string()
    }
}

/// Everything found about the image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFacts {
    /// The reference as given.
    pub reference: String,
    /// The repository (for the VSA subject name), e.g. `127.0.0.1:5000/pause` or `oci:DIR`.
    pub repository: String,
    /// Digest and media type of the root the reference resolved to.
    pub root: Digest,
    pub root_media_type: String,
    /// True when the root is an index (signatures on it cover every platform).
    pub root_is_index: bool,
    /// Signatures and attestations found for the root, when it is an index.
    pub root_signatures: Vec<Found>,
    pub root_attestations: Vec<Found>,
    pub platforms: Vec<PlatformFacts>,
}

/// The audit's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub schema_version: &'static str,
    pub kind: &'static str,
    pub tool_version: &'static str,
    pub image: ImageId,
    pub policy: PolicyId,
    /// The rule the signature and attestation checks applied (`[signatures] rule`): `all`
    /// (none found may FAIL) or `any`.
    pub rule: &'static str,
    /// True when every check is PASS or SKIP.
    pub passed: bool,
    pub platforms: Vec<PlatformSummary>,
    pub checks: Vec<CheckResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageId {
    pub reference: String,
    pub repository: String,
    pub digest: Digest,
    pub media_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyId {
    pub name: String,
    pub uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// The pins files read (policy `pins.file`, `--pins`, or the default
    /// `attestations/pins.toml`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pins_files: Vec<String>,
    /// The base every platform was rebuilt from, when one was given (`--base` or
    /// `rebuild.base`): `SOURCE REF`. Absent: each platform's pin names its base.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebuild_base: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformSummary {
    pub platform: String,
    pub manifest: Digest,
    pub status: Status,
    pub failed: Vec<String>,
}

impl Report {
    pub fn failures(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|c| c.status == Status::Fail)
    }
}

/// Evaluate `policy` against `facts`.
pub fn evaluate(policy: &Loaded, facts: &ImageFacts) -> Report {
    let mut checks = Vec::new();
    platform_presence(policy, facts, &mut checks);
    for p in &facts.platforms {
        let name = p.name();
        let mut push = |id: &str, target: Option<&str>, status, message: String, evidence| {
            checks.push(CheckResult {
                id: id.to_string(),
                target: target.map(str::to_string),
                platform: name.clone(),
                status,
                message,
                evidence,
            })
        };
        let (s, m, e) = base_pinned(policy, p);
        push(ids::BASE_PINNED, None, s, m, e);
        if policy.base_notation.is_some() {
            let (s, m, e) = base_signature(policy, p);
            push(ids::BASE_SIGNATURE, None, s, m, e);
        }
        let (s, m, e) = signature(policy, facts, p);
        push(ids::SIGNATURE, None, s, m, e);
        if !policy.policy.signatures.identities.is_empty() {
            let (s, m, e) = keyless(policy, facts, p);
            push(ids::KEYLESS_SIGNATURE, None, s, m, e);
        }
        for t in &policy.predicate_types {
            let (s, m, e) = attestation(policy.policy.signatures.rule, facts, p, t);
            push(ids::ATTESTATION, Some(t), s, m, e);
        }
        if policy.policy.attestations.provenance.is_some() {
            let provs = provenances(facts, p);
            for (id, (s, m, e)) in [
                (ids::PROVENANCE_BUILDER, provenance_builder(policy, &provs)),
                (ids::PROVENANCE_BASE, provenance_base(policy, p, &provs)),
                (ids::PROVENANCE_EDITS, provenance_edits(policy, &provs)),
            ] {
                push(id, None, s, m, e);
            }
        } else {
            for id in [
                ids::PROVENANCE_BUILDER,
                ids::PROVENANCE_BASE,
                ids::PROVENANCE_EDITS,
            ] {
                push(id, None, Status::Skip, not_required(), Vec::new());
            }
        }
        for (id, (s, m, e)) in rebuild(policy, p) {
            push(id, None, s, m, e);
        }
    }
    let platforms = facts
        .platforms
        .iter()
        .map(|p| {
            let name = p.name();
            let failed: Vec<String> = checks
                .iter()
                .filter(|c| c.platform == name && c.status == Status::Fail)
                .map(CheckResult::name)
                .collect();
            PlatformSummary {
                status: if failed.is_empty() {
                    Status::Pass
                } else {
                    Status::Fail
                },
                platform: name,
                manifest: p.manifest.clone(),
                failed,
            }
        })
        .collect();
    Report {
        schema_version: SCHEMA_VERSION,
        kind: "audit",
        tool_version: crate::VERSION,
        image: ImageId {
            reference: facts.reference.clone(),
            repository: facts.repository.clone(),
            digest: facts.root.clone(),
            media_type: facts.root_media_type.clone(),
        },
        policy: PolicyId {
            name: policy.name.clone(),
            uri: policy.uri.clone(),
            digest: policy.digest.clone(),
            pins_files: policy.pins_files.clone(),
            rebuild_base: policy
                .base
                .as_ref()
                .filter(|_| policy.policy.rebuild.required)
                .map(|(src, r)| format!("{src} {r}")),
        },
        rule: policy.policy.signatures.rule.as_str(),
        passed: checks.iter().all(|c| c.status != Status::Fail),
        platforms,
        checks,
    }
}

type Outcome = (Status, String, Vec<Evidence>);

fn not_required() -> String {
    "not required by the policy".into()
}

fn platform_presence(policy: &Loaded, facts: &ImageFacts, checks: &mut Vec<CheckResult>) {
    let present: Vec<Evidence> = facts
        .platforms
        .iter()
        .map(|p| Evidence::new("platform manifest", Some(&p.manifest), p.name()))
        .collect();
    if policy.platforms.is_empty() {
        let ok = !facts.platforms.is_empty();
        checks.push(CheckResult {
            id: ids::PLATFORM_PRESENT.into(),
            target: None,
            platform: "*".into(),
            status: if ok { Status::Pass } else { Status::Fail },
            message: if ok {
                format!(
                    "{} platform(s); every one is audited",
                    facts.platforms.len()
                )
            } else {
                "the image has no platform to audit".into()
            },
            evidence: present,
        });
        return;
    }
    for sel in &policy.platforms {
        let m: Vec<&PlatformFacts> = facts
            .platforms
            .iter()
            .filter(|p| sel.matches(&p.platform))
            .collect();
        let (status, message) = match m.as_slice() {
            [] => (
                Status::Fail,
                format!(
                    "no platform of the image matches {sel} (it has: {})",
                    list_or_none(facts.platforms.iter().map(PlatformFacts::name))
                ),
            ),
            found => (
                Status::Pass,
                format!(
                    "{sel} is present: {}",
                    found
                        .iter()
                        .map(|p| p.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        };
        checks.push(CheckResult {
            id: ids::PLATFORM_PRESENT.into(),
            target: None,
            platform: sel.to_string(),
            status,
            message,
            evidence: present.clone(),
        });
    }
}

fn list_or_none(items: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = items.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn layers_evidence(p: &PlatformFacts, n: usize) -> Vec<Evidence> {
    p.layers
        .iter()
        .take(n.max(1))
        .enumerate()
        .map(|(i, (d, diff))| {
            Evidence::new(
                format!("image layer {i}"),
                Some(d),
                diff.as_ref()
                    .map_or_else(|| "diff_id unknown".into(), |x| format!("diff_id {x}")),
            )
        })
        .collect()
}

fn pin_matches(pin: &Pin, p: &PlatformFacts) -> bool {
    if pin.layers.is_empty() && pin.diff_ids.is_empty() {
        return false;
    }
    let by_digest = !pin.layers.is_empty()
        && pin.layers.len() <= p.layers.len()
        && pin.layers.iter().zip(&p.layers).all(|(a, (b, _))| a == b);
    let by_diff = !pin.diff_ids.is_empty()
        && pin.diff_ids.len() <= p.layers.len()
        && pin
            .diff_ids
            .iter()
            .zip(&p.layers)
            .all(|(a, (_, b))| b.as_ref() == Some(a));
    by_digest || by_diff
}

fn pin_evidence(pin: &Pin) -> Evidence {
    let layers: Vec<String> = pin.layers.iter().map(Digest::to_string).collect();
    let diffs: Vec<String> = pin.diff_ids.iter().map(Digest::to_string).collect();
    Evidence::new(
        format!(
            "pin {}{}",
            pin.os_version,
            pin.image
                .as_ref()
                .map(|i| format!(" ({i})"))
                .unwrap_or_default()
        ),
        pin.manifest.as_ref(),
        format!(
            "layers [{}] diff_ids [{}]",
            layers.join(", "),
            diffs.join(", ")
        ),
    )
}

fn base_pinned(policy: &Loaded, p: &PlatformFacts) -> Outcome {
    if !policy.policy.pins.required {
        return (Status::Skip, not_required(), Vec::new());
    }
    let Some(ver) = p.platform.os_version.as_deref() else {
        return (
            Status::Fail,
            "the platform has no os.version, so no pin can apply".into(),
            layers_evidence(p, 1),
        );
    };
    let pins = policy.pins_for(ver);
    let n = pins
        .iter()
        .map(|pin| pin.layers.len().max(pin.diff_ids.len()))
        .max()
        .unwrap_or(1);
    let mut evidence = layers_evidence(p, n);
    evidence.extend(pins.iter().map(|pin| pin_evidence(pin)));
    if pins.is_empty() {
        let known: Vec<String> = policy.pins.iter().map(|p| p.os_version.clone()).collect();
        return (
            Status::Fail,
            format!(
                "no pin for os.version {ver} (pinned: {})",
                list_or_none(known.into_iter())
            ),
            evidence,
        );
    }
    match pins.iter().find(|pin| pin_matches(pin, p)) {
        Some(pin) => (
            Status::Pass,
            format!(
                "the base layers are the pinned NanoServer {}",
                pin.os_version
            ),
            evidence,
        ),
        None => (
            Status::Fail,
            format!(
                "the base layers are not the pinned NanoServer for {ver}: layer 0 is {}",
                p.layers
                    .first()
                    .map_or_else(|| "absent".into(), |(d, _)| d.to_string())
            ),
            evidence,
        ),
    }
}

/// The base's Notary signature: one verified, by a signer the `[base] notation`
/// identities accept (any, when it lists none beyond the trust policy's).
fn base_signature(policy: &Loaded, p: &PlatformFacts) -> Outcome {
    let Some(n) = &policy.base_notation else {
        return (Status::Skip, not_required(), Vec::new());
    };
    let rf = match &p.rebuild {
        Some(Ok(rf)) => rf,
        Some(Err(e)) => {
            return (
                Status::Fail,
                format!("the rebuild did not run: {e}"),
                Vec::new(),
            );
        }
        None => {
            return (
                Status::Fail,
                "the base is known from the rebuild, which the policy does not require ([rebuild] required = true)".into(),
                Vec::new(),
            );
        }
    };
    let base = rf.base.as_ref().and_then(|b| b.manifest.as_ref());
    let list = match &rf.base_signatures {
        None => {
            return (
                Status::Fail,
                "the base's signatures were not checked".into(),
                Vec::new(),
            );
        }
        Some(Err(e)) => return (Status::Fail, e.clone(), Vec::new()),
        Some(Ok(l)) => l,
    };
    let accepted = |signer: &str| {
        n.identities.is_empty() || {
            let attrs = crate::notary::trust_policy::parse_dn(signer).unwrap_or_default();
            n.identities.iter().any(|i| i.matches(&attrs))
        }
    };
    let mut evidence = Vec::new();
    let mut ok = None;
    for f in list {
        let found = match (&f.signer, f.reason.as_str()) {
            (Some(s), "verified") if accepted(s) => {
                ok.get_or_insert_with(|| s.clone());
                format!("verified: signed by {s} ({})", f.message)
            }
            (Some(s), "verified") => {
                format!("verified, but the signer {s} matches none of [base] notation identities")
            }
            _ => format!("{}: {}", f.reason, f.message),
        };
        evidence.push(Evidence::new(
            format!(
                "notation signature {} of base {}",
                f.manifest,
                base.map(|d| d.to_string()).unwrap_or_default()
            ),
            Some(&f.manifest),
            found,
        ));
    }
    match ok {
        Some(signer) => (
            Status::Pass,
            format!(
                "the base {} is signed by {signer}",
                base.map(|d| d.to_string()).unwrap_or_default()
            ),
            evidence,
        ),
        None if list.is_empty() => (
            Status::Fail,
            "no Notary signature found for the base manifest".into(),
            evidence,
        ),
        None => (
            Status::Fail,
            format!(
                "no Notary signature of the base verified by an accepted signer ({})",
                list.iter()
                    .map(|f| f.reason.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            evidence,
        ),
    }
}

fn found_evidence(f: &Found, keys: &[(String, crate::attest::PublicKey)]) -> Evidence {
    let found = match &f.check.result {
        Ok(v) => {
            let key = match &v.keyless {
                Some(k) => format!("keyless {} from {}", k.identity, k.issuer),
                None => keys
                    .get(v.key_index)
                    .map_or_else(|| format!("key #{}", v.key_index), |(n, _)| n.clone()),
            };
            let key = match &v.transparency {
                Some(t) => format!("{key} ({})", transparency_note(t)),
                None => key,
            };
            match &v.predicate_type {
                Some(t) => format!("verified with {key}: {t}"),
                None => format!("verified with {key}"),
            }
        }
        Err(e) => format!("{}: {e}", e.code()),
    };
    Evidence::new(
        format!("{} (for {})", f.check.source, f.subject),
        f.digest.as_ref(),
        found,
    )
}

fn signature(policy: &Loaded, facts: &ImageFacts, p: &PlatformFacts) -> Outcome {
    if !policy.policy.signatures.required {
        return (Status::Skip, not_required(), Vec::new());
    }
    let all: Vec<&Found> = p.signatures.iter().chain(&facts.root_signatures).collect();
    let evidence: Vec<Evidence> = all
        .iter()
        .map(|f| found_evidence(f, &policy.keys))
        .collect();
    if policy.keys.is_empty() {
        return (
            Status::Skip,
            "no public keys in the policy (keyless identities are checked separately)".into(),
            evidence,
        );
    }
    let rule = policy.policy.signatures.rule;
    // Keyless signatures count for `keyless-signature`, not here.
    if let Some(ok) = all
        .iter()
        .find(|f| matches!(&f.check.result, Ok(v) if v.keyless.is_none()))
    {
        let ok = format!("{} verifies for {}", ok.check.source, ok.subject);
        return match rule_violation(rule, "signature", &all) {
            Some(why) => (Status::Fail, format!("{why}; {ok}"), evidence),
            None => (
                Status::Pass,
                format!("signed: {ok} ({})", rule_note(rule, "signature", &all)),
                evidence,
            ),
        };
    }
    let subjects = if facts.root_is_index {
        format!("{} or the index {}", p.manifest, facts.root)
    } else {
        p.manifest.to_string()
    };
    let message = if all.is_empty() {
        format!("unsigned: no signature found for {subjects}")
    } else {
        format!(
            "no signature for {subjects} verifies with the {} given key(s) ({} found: {})",
            policy.keys.len(),
            all.len(),
            failure_codes(&all)
        )
    };
    (Status::Fail, message, evidence)
}

fn keyless(policy: &Loaded, facts: &ImageFacts, p: &PlatformFacts) -> Outcome {
    let ids: Vec<String> = policy
        .policy
        .signatures
        .identities
        .iter()
        .map(|i| match &i.subject_regexp {
            Some(re) => format!("/{re}/ from {}", i.issuer),
            None => format!("{} from {}", i.subject, i.issuer),
        })
        .collect();
    let all: Vec<&Found> = p.signatures.iter().chain(&facts.root_signatures).collect();
    let evidence = all
        .iter()
        .map(|f| found_evidence(f, &policy.keys))
        .collect();
    if policy.keyless.is_none() {
        return (
            Status::Fail,
            format!(
                "keyless signers ({}) are listed but no trusted root is given to verify them against: \
                 pass --trusted-root trusted_root.json or set signatures.trusted_root",
                ids.join("; ")
            ),
            evidence,
        );
    }
    let rule = policy.policy.signatures.rule;
    if let Some((f, k)) = all.iter().find_map(|f| match &f.check.result {
        Ok(v) => v.keyless.as_ref().map(|k| (f, k)),
        Err(_) => None,
    }) {
        let ok = format!(
            "{} verifies for {}: {} from {}",
            f.check.source, f.subject, k.identity, k.issuer
        );
        return match rule_violation(rule, "signature", &all) {
            Some(why) => (Status::Fail, format!("{why}; {ok}"), evidence),
            None => (
                Status::Pass,
                format!(
                    "signed keyless: {ok} ({})",
                    rule_note(rule, "signature", &all)
                ),
                evidence,
            ),
        };
    }
    (
        Status::Fail,
        if all.is_empty() {
            format!(
                "no signature found to verify for the keyless signers ({})",
                ids.join("; ")
            )
        } else {
            format!(
                "no signature verifies as one of the keyless signers ({}) ({} found: {})",
                ids.join("; "),
                all.len(),
                failure_codes(&all)
            )
        },
        evidence,
    )
}

/// The transparency evidence a verified signature rested on, for the audit evidence:
/// `Rekor v1 entry 7 at 1700000000; timestamp 1700000001 by URI`, or that the log was
/// not checked (`signatures.insecure_ignore_tlog`).
fn transparency_note(t: &crate::attest::keyless::Transparency) -> String {
    let mut parts: Vec<String> = t
        .entries
        .iter()
        .map(|e| match e.integrated_time {
            Some(at) => format!("Rekor v{} entry {} at {at}", e.rekor_version, e.log_index),
            None => format!("Rekor v{} entry {}", e.rekor_version, e.log_index),
        })
        .collect();
    if t.tlog_ignored {
        parts.push("transparency log NOT checked: insecure_ignore_tlog".into());
    }
    parts.extend(
        t.timestamps
            .iter()
            .map(|ts| format!("timestamp {} by {}", ts.time, ts.authority)),
    );
    parts.join("; ")
}

/// Under rule `all`, why the FAILED ones among `found` fail the check: `rule all: 1 of 2
/// signature(s) found FAILED: SOURCE (for DIGEST): CODE`. None when the rule is met.
fn rule_violation(rule: SignatureRule, kind: &str, found: &[&Found]) -> Option<String> {
    let failed: Vec<String> = found
        .iter()
        .filter_map(|f| {
            let e = f.check.result.as_ref().err()?;
            Some(format!(
                "{} (for {}): {}",
                f.check.source,
                f.subject,
                e.code()
            ))
        })
        .collect();
    if rule == SignatureRule::Any || failed.is_empty() {
        return None;
    }
    Some(format!(
        "rule all: {} of {} {kind}(s) found FAILED: {} ([signatures] rule = \"any\" would accept one verified)",
        failed.len(),
        found.len(),
        failed.join("; ")
    ))
}

/// What the rule made of a passing check: `rule all: every one of 2 signature(s) verifies`
/// or `rule any: 1 FAILED signature(s) beside it accepted`.
fn rule_note(rule: SignatureRule, kind: &str, found: &[&Found]) -> String {
    let failed = found.iter().filter(|f| f.check.result.is_err()).count();
    match rule {
        SignatureRule::All => format!("rule all: every one of {} {kind}(s) verifies", found.len()),
        SignatureRule::Any if failed == 0 => format!("rule any: all {} verify", found.len()),
        SignatureRule::Any => format!("rule any: {failed} FAILED {kind}(s) beside it accepted"),
    }
}

/// The distinct reasons the signatures found failed, sorted: `bad_signature, no_keys`.
fn failure_codes(found: &[&Found]) -> String {
    let mut codes: Vec<&str> = found
        .iter()
        .filter_map(|f| f.check.result.as_ref().err().map(|e| e.code()))
        .collect();
    codes.sort_unstable();
    codes.dedup();
    codes.join(", ")
}

fn verified_of_type<'a>(
    facts: &'a ImageFacts,
    p: &'a PlatformFacts,
    t: &'a str,
) -> impl Iterator<Item = (&'a Found, &'a Verified)> + 'a {
    p.attestations
        .iter()
        .chain(&facts.root_attestations)
        .filter_map(move |f| match &f.check.result {
            Ok(v) if v.predicate_type.as_deref() == Some(t) => Some((f, v)),
            _ => None,
        })
}

fn attestation(rule: SignatureRule, facts: &ImageFacts, p: &PlatformFacts, t: &str) -> Outcome {
    let all: Vec<&Found> = p
        .attestations
        .iter()
        .chain(&facts.root_attestations)
        .collect();
    let evidence: Vec<Evidence> = all.iter().map(|f| found_evidence(f, &[])).collect();
    if let Some((f, _)) = verified_of_type(facts, p, t).next() {
        let ok = format!("{} is a verified {t} attestation", f.check.source);
        // Every attestation found counts, whatever its type: one that FAILED does not
        // say which type it would have been.
        return match rule_violation(rule, "attestation", &all) {
            Some(why) => (Status::Fail, format!("{why}; {ok}"), evidence),
            None => (
                Status::Pass,
                format!("{ok} ({})", rule_note(rule, "attestation", &all)),
                evidence,
            ),
        };
    }
    let message = if all.is_empty() {
        format!("no attestation found for {}", p.manifest)
    } else {
        format!(
            "none of the {} attestation(s) found is a verified {t} statement for {}",
            all.len(),
            p.manifest
        )
    };
    (Status::Fail, message, evidence)
}

/// A verified provenance statement that applies to this platform, with where it came from.
struct Prov<'a> {
    found: &'a Found,
    predicate: &'a Value,
}

fn provenances<'a>(facts: &'a ImageFacts, p: &'a PlatformFacts) -> Vec<Prov<'a>> {
    let ver = p.platform.os_version.as_deref();
    verified_of_type(facts, p, PROVENANCE_V1)
        .filter_map(|(f, v)| {
            let predicate = v.statement.as_ref()?.get("predicate")?;
            // A provenance attached to the index applies to the platform it names.
            if f.subject != p.manifest {
                let plat = predicate
                    .pointer("/buildDefinition/externalParameters/platform")
                    .and_then(Value::as_str)?;
                let plat_ver = plat.rsplit_once(':').map(|(_, v)| v);
                if plat_ver != ver {
                    return None;
                }
            }
            Some(Prov {
                found: f,
                predicate,
            })
        })
        .collect()
}

fn no_provenance() -> Outcome {
    (
        Status::Fail,
        format!(
            "no verified {PROVENANCE_V1} attestation for this platform (see check attestation)"
        ),
        Vec::new(),
    )
}

fn prov_evidence(p: &Prov<'_>, field: &str, value: String) -> Evidence {
    Evidence::new(
        format!("{} {field}", p.found.check.source),
        p.found.digest.as_ref(),
        value,
    )
}

fn provenance_builder(policy: &Loaded, provs: &[Prov<'_>]) -> Outcome {
    if provs.is_empty() {
        return no_provenance();
    }
    let get = |p: &Prov<'_>| {
        p.predicate
            .pointer("/runDetails/builder/id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let evidence = provs
        .iter()
        .map(|p| prov_evidence(p, "runDetails.builder.id", get(p)))
        .collect();
    match policy.builder_id() {
        None => (Status::Pass, "any builder is accepted".into(), evidence),
        Some(want) if provs.iter().any(|p| get(p) == want) => {
            (Status::Pass, format!("built by {want}"), evidence)
        }
        Some(want) => (
            Status::Fail,
            format!("no provenance names the builder {want}"),
            evidence,
        ),
    }
}

fn provenance_base(policy: &Loaded, p: &PlatformFacts, provs: &[Prov<'_>]) -> Outcome {
    if provs.is_empty() {
        return no_provenance();
    }
    let get = |p: &Prov<'_>| -> Option<Digest> {
        p.predicate
            .pointer("/buildDefinition/externalParameters/baseImage/digest")
            .and_then(Value::as_str)?
            .parse()
            .ok()
    };
    let mut evidence: Vec<Evidence> = provs
        .iter()
        .map(|pr| {
            prov_evidence(
                pr,
                "externalParameters.baseImage.digest",
                get(pr).map_or_else(|| "absent or malformed".into(), |d| d.to_string()),
            )
        })
        .collect();
    let rule = policy
        .policy
        .attestations
        .provenance
        .as_ref()
        .map_or("any", |r| r.base_digest.as_str());
    let allowed: Vec<Digest> = match rule {
        "any" => {
            return if provs.iter().any(|pr| get(pr).is_some()) {
                (Status::Pass, "any base is accepted".into(), evidence)
            } else {
                (
                    Status::Fail,
                    "the provenance records no base image digest".into(),
                    evidence,
                )
            };
        }
        "pinned" => {
            let ver = p.platform.os_version.as_deref().unwrap_or("");
            let pins = policy.pins_for(ver);
            evidence.extend(pins.iter().map(|pin| pin_evidence(pin)));
            pins.iter().filter_map(|pin| pin.manifest.clone()).collect()
        }
        d => d.parse().ok().into_iter().collect(),
    };
    match provs.iter().filter_map(get).find(|d| allowed.contains(d)) {
        Some(d) => (
            Status::Pass,
            format!("built on the {rule} base {d}"),
            evidence,
        ),
        None if allowed.is_empty() => (
            Status::Fail,
            format!(
                "no pinned base manifest for os.version {}",
                p.platform.os_version.as_deref().unwrap_or("(none)")
            ),
            evidence,
        ),
        None => (
            Status::Fail,
            format!(
                "the provenance's base is not the {rule} base ({})",
                allowed
                    .iter()
                    .map(Digest::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            evidence,
        ),
    }
}

/// Whether the provenance's edit `have` is the policy's edit `want`: same hive, key and
/// value name (case-insensitive, as the registry), same operation, and the same type and
/// data where the policy states them.
pub fn edit_matches(want: &RegistryEdit, have: &RegistryEdit) -> bool {
    let ci = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let norm = |k: &str| k.trim_matches('\\').to_string();
    ci(&want.hive, &have.hive)
        && ci(&norm(&want.key), &norm(&have.key))
        && match (&want.value, &have.value) {
            (None, None) => true,
            (Some(a), Some(b)) => ci(a, b),
            _ => false,
        }
        && want.op == have.op
        && want
            .type_
            .as_ref()
            .is_none_or(|t| have.type_.as_ref() == Some(t))
        && want
            .data
            .as_ref()
            .is_none_or(|d| have.data.as_ref() == Some(d))
}

/// `HKLM\SOFTWARE\Microsoft\rpc:UuidSequenceNumber (set)`.
pub fn describe_edit(e: &RegistryEdit) -> String {
    let op = match e.op {
        EditOp::Set => "set",
        EditOp::Delete => "delete",
        EditOp::DeleteKey => "delete_key",
    };
    match &e.value {
        Some(v) => format!("{}\\{}:{v} ({op})", e.hive, e.key),
        None => format!("{}\\{} ({op})", e.hive, e.key),
    }
}

fn provenance_edits(policy: &Loaded, provs: &[Prov<'_>]) -> Outcome {
    if provs.is_empty() {
        return no_provenance();
    }
    if policy.provenance_edits.is_empty() {
        return (
            Status::Pass,
            "no registry edits are required".into(),
            Vec::new(),
        );
    }
    let mut best: Option<(usize, Vec<String>, Vec<Evidence>)> = None;
    for pr in provs {
        let have: Vec<RegistryEdit> = pr
            .predicate
            .pointer("/buildDefinition/externalParameters/registryEdits")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        let mut missing = Vec::new();
        let mut evidence = Vec::new();
        for want in &policy.provenance_edits {
            let ok = have.iter().any(|h| edit_matches(want, h));
            if !ok {
                missing.push(describe_edit(want));
            }
            evidence.push(prov_evidence(
                pr,
                &format!("registryEdits {}", describe_edit(want)),
                if ok { "present" } else { "missing" }.into(),
            ));
        }
        if best.as_ref().is_none_or(|(n, _, _)| missing.len() < *n) {
            best = Some((missing.len(), missing, evidence));
        }
    }
    let (_, missing, evidence) = best.unwrap_or_default();
    if missing.is_empty() {
        (
            Status::Pass,
            format!(
                "all {} required registry edits are recorded",
                policy.provenance_edits.len()
            ),
            evidence,
        )
    } else {
        (
            Status::Fail,
            format!("the provenance lacks {}", missing.join("; ")),
            evidence,
        )
    }
}

fn rebuild(policy: &Loaded, p: &PlatformFacts) -> Vec<(&'static str, Outcome)> {
    let checks = [ids::REBUILD_VERDICT, ids::IMAGE_EDITS, ids::NOISE_RULES];
    if !policy.policy.rebuild.required {
        return checks
            .iter()
            .map(|&id| (id, (Status::Skip, not_required(), Vec::new())))
            .collect();
    }
    let r = match &p.rebuild {
        Some(Ok(r)) => r,
        Some(Err(why)) => {
            return checks
                .iter()
                .map(|&id| {
                    (
                        id,
                        (
                            Status::Fail,
                            format!("the rebuild could not run: {why}"),
                            Vec::new(),
                        ),
                    )
                })
                .collect();
        }
        None => {
            return checks
                .iter()
                .map(|&id| (id, (Status::Fail, "no rebuild was run".into(), Vec::new())))
                .collect();
        }
    };
    let ev = rebuild_evidence(p, r);
    let want = policy.policy.rebuild.verdict;
    let verdict = if want.accepts(&r.verdict) {
        (
            Status::Pass,
            format!("{} (required: {} or better)", r.verdict, want.as_str()),
            ev.clone(),
        )
    } else {
        let why = r
            .reasons
            .first()
            .map(|w| format!(": {w}"))
            .unwrap_or_default();
        (
            Status::Fail,
            format!(
                "{} but {} or better is required{why}",
                r.verdict,
                want.as_str()
            ),
            ev.clone(),
        )
    };
    let edit_ev: Vec<Evidence> = r
        .edits
        .iter()
        .map(|e| {
            Evidence::new(
                e.edit.clone(),
                Some(&p.manifest),
                match &e.actual {
                    Some(a) => format!("{} (image holds {a})", e.status),
                    None => e.status.clone(),
                },
            )
        })
        .collect();
    let bad: Vec<&EditFact> = r.edits.iter().filter(|e| e.status != "present").collect();
    let edits = if r.edits.is_empty() {
        (
            Status::Fail,
            match r.reasons.first() {
                // No rebuild for this platform (no base): nothing to look up.
                Some(why) if r.rebuilt_manifest.is_none() => {
                    format!("not looked up: the platform was not rebuilt: {why}")
                }
                _ => "the comparison reported no recipe edits to look up".into(),
            },
            edit_ev,
        )
    } else if bad.is_empty() {
        (
            Status::Pass,
            format!(
                "all {} recipe registry edits are in the image",
                r.edits.len()
            ),
            edit_ev,
        )
    } else {
        (
            Status::Fail,
            format!(
                "the image lacks recipe edits: {}",
                bad.iter()
                    .map(|e| format!("{} ({})", e.edit, e.status))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            edit_ev,
        )
    };
    let disallowed: Vec<&str> = r
        .noise_rules
        .iter()
        .filter(|n| !policy.noise_allowed(&n.rule))
        .map(|n| n.rule.as_str())
        .collect();
    let noise_ev: Vec<Evidence> = r
        .noise_rules
        .iter()
        .map(|n| {
            Evidence::new(
                format!("noise rule {}", n.rule),
                r.rebuilt_manifest.as_ref(),
                format!(
                    "{}; explains {} change(s), e.g. {}",
                    if policy.noise_allowed(&n.rule) {
                        "allowed"
                    } else {
                        "not allowed"
                    },
                    n.changes,
                    n.example
                ),
            )
        })
        .collect();
    let rule_names: Vec<&str> = r.noise_rules.iter().map(|n| n.rule.as_str()).collect();
    let noise = if disallowed.is_empty() {
        (
            Status::Pass,
            if r.noise_rules.is_empty() {
                "no noise rule was needed".into()
            } else {
                format!(
                    "noise explained by allowed rules: {}",
                    rule_names.join(", ")
                )
            },
            noise_ev,
        )
    } else {
        (
            Status::Fail,
            format!(
                "the comparison relies on noise rules the policy does not allow: {}",
                disallowed.join(", ")
            ),
            noise_ev,
        )
    };
    vec![
        (ids::REBUILD_VERDICT, verdict),
        (ids::IMAGE_EDITS, edits),
        (ids::NOISE_RULES, noise),
    ]
}

/// What `rebuild-verdict` looked at: both manifests, the base, each layer pair.
fn rebuild_evidence(p: &PlatformFacts, r: &RebuildFacts) -> Vec<Evidence> {
    let mut ev = vec![Evidence::new(
        "published manifest",
        Some(&p.manifest),
        p.name(),
    )];
    if let Some(m) = &r.rebuilt_manifest {
        ev.push(Evidence::new(
            "rebuilt manifest",
            Some(m),
            r.verdict.clone(),
        ));
    }
    if let Some(b) = &r.base {
        ev.push(Evidence::new(
            format!("base ({} {})", b.source, b.reference),
            b.manifest.as_ref(),
            match (&b.reason, b.ok) {
                (_, true) => "the image starts with its layers".to_string(),
                (Some(why), false) => why.clone(),
                (None, false) => "the image does not start with its layers".into(),
            },
        ));
    }
    for l in &r.layers {
        let step = l.step.as_deref().unwrap_or("(no step)");
        let rebuilt = l
            .rebuilt
            .as_ref()
            .map_or_else(|| "nothing".to_string(), Digest::to_string);
        ev.push(Evidence::new(
            format!("published layer for {step}"),
            l.published.as_ref(),
            format!("{} against rebuilt {rebuilt}: {}", l.verdict, l.reason),
        ));
    }
    if r.unexplained > 0 {
        ev.push(Evidence::new(
            "unexplained changes",
            None,
            format!("{} change(s) no noise rule explains", r.unexplained),
        ));
    }
    ev
}

#[cfg(test)]
mod tests;
