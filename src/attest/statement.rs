//! in-toto Statement v1 and the two predicates we write: SLSA Provenance v1 (what a
//! build/rebuild did) and SLSA Verification Summary (VSA) v1 (what a comparison found).
//!
//! Owns the JSON shapes, builders from plain Rust inputs, and the statement checks
//! verification needs (type, subject, predicate type). Does not sign (`dsse`) or store.
//!
//! Why not the in-toto org's `in_toto_attestation` crate (0.1.0, which does have Statement
//! v1, provenance v1 and VSA v1 types): its types are protobuf-generated (`protobuf` +
//! `protobuf-json-mapping` runtime; predicates are `google.protobuf.Struct`), and its
//! build script regenerates them from `../protos` with `protoc` in every non-debug build,
//! which fails from the crates.io package (measured: `cargo check --release` panics
//! "protoc binary not found"). Plain serde structs give the same JSON, deterministic key
//! order and no build-time tools.
//!
//! The build type we own is documented in docs/provenance.md.

use super::verify::Failure;
use crate::image::Digest;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// Older statements cosign still writes for `cosign attest` without the new bundle format.
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
pub const PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
pub const VSA_V1: &str = "https://slsa.dev/verification_summary/v1";
/// Our build type (docs/provenance.md).
pub const BUILD_TYPE: &str =
    "https://github.com/pause-verify/pause-verify/buildtypes/windows-pause-base/v1";
/// Builder and verifier id.
pub const BUILDER_ID: &str = "https://github.com/pause-verify/pause-verify";

#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    #[error("verified level {0:?} starts with SLSA_, which is reserved for SLSA's own levels")]
    ReservedLevel(String),
    #[error("verified level {0:?} is empty or contains characters other than A-Z, 0-9 and _")]
    BadLevel(String),
}

/// An in-toto ResourceDescriptor (the fields we use).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDescriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Map<String, Value>>,
}

impl ResourceDescriptor {
    pub fn named(name: impl Into<String>, digest: &Digest) -> ResourceDescriptor {
        ResourceDescriptor {
            name: Some(name.into()),
            digest: sha256_map(digest),
            ..Default::default()
        }
    }
}

fn sha256_map(d: &Digest) -> BTreeMap<String, String> {
    BTreeMap::from([("sha256".to_string(), d.hex().to_string())])
}

/// An in-toto Statement v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub type_: String,
    pub subject: Vec<ResourceDescriptor>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    #[serde(default)]
    pub predicate: Value,
}

impl Statement {
    pub fn new(subject: Vec<ResourceDescriptor>, predicate_type: &str, predicate: Value) -> Self {
        Statement {
            type_: STATEMENT_V1.to_string(),
            subject,
            predicate_type: predicate_type.to_string(),
            predicate,
        }
    }

    /// Compact JSON; object keys inside the predicate come out sorted (serde_json's
    /// map), so the same inputs always give the same bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Parse a statement payload and check it names `image` and (optionally) has the
/// expected predicate type. Returns the typed statement and the raw JSON value.
pub fn check_statement(
    payload: &[u8],
    image: &Digest,
    predicate_type: Option<&str>,
) -> Result<(Statement, Value), Failure> {
    let value: Value =
        serde_json::from_slice(payload).map_err(|e| Failure::malformed("in-toto statement", e))?;
    let stmt: Statement = serde_json::from_value(value.clone())
        .map_err(|e| Failure::malformed("in-toto statement", e))?;
    if stmt.type_ != STATEMENT_V1 && stmt.type_ != STATEMENT_V01 {
        return Err(Failure::WrongStatementType { found: stmt.type_ });
    }
    let names_image = stmt
        .subject
        .iter()
        .any(|s| s.digest.get("sha256").map(String::as_str) == Some(image.hex()));
    if !names_image {
        return Err(Failure::SubjectMismatch {
            expected: image.clone(),
            found: stmt
                .subject
                .iter()
                .map(|s| match s.digest.get("sha256") {
                    Some(h) => format!("sha256:{h}"),
                    None => format!("{:?}", s.digest),
                })
                .collect(),
        });
    }
    if let Some(want) = predicate_type.filter(|w| stmt.predicate_type != *w) {
        return Err(Failure::PredicateTypeMismatch {
            expected: want.to_string(),
            found: stmt.predicate_type,
        });
    }
    Ok((stmt, value))
}

/// The operation a registry edit performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EditOp {
    /// Create or overwrite a value (or create a key when `value` is None).
    Set,
    /// Delete a value.
    Delete,
    /// Delete a key and its subtree.
    DeleteKey,
}

/// One registry change a recipe makes, recorded as data in the provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryEdit {
    /// `HKLM\SOFTWARE`, `HKLM\SYSTEM`, ...
    pub hive: String,
    /// Key path below the hive root, `\`-separated.
    pub key: String,
    /// Value name (`""` = the default value); None for key operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `REG_SZ`, `REG_DWORD`, `REG_MULTI_SZ`, ...
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// The data as JSON: a string, a number, a list of strings, or hex for binary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    pub op: EditOp,
}

/// One layer the build produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRecord {
    /// Compressed (blob) digest.
    pub digest: Digest,
    /// Uncompressed digest (config `rootfs.diff_ids`): the reproducibility criterion.
    pub diff_id: Digest,
}

/// Everything a build/rebuild knows that the provenance records.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvenanceInput {
    pub recipe_name: String,
    pub recipe_digest: Digest,
    /// Each recipe file (Dockerfile, .reg, recipe TOML) with its digest.
    pub recipe_files: Vec<(String, Digest)>,
    /// The base image as the user named it (e.g. `docker://mcr.microsoft.com/windows/nanoserver:ltsc2022`).
    pub base_ref: String,
    /// The base image manifest digest actually used.
    pub base_digest: Digest,
    /// `windows/amd64:10.0.20348.2849`.
    pub platform: String,
    pub edits: Vec<RegistryEdit>,
    pub layers: Vec<LayerRecord>,
    /// `gzip (flate2/zlib-rs)` or similar: the pinned implementation.
    pub compressor: String,
    pub level: u32,
    /// Statement subject name (usually the output image reference or repository).
    pub subject_name: String,
    /// The rebuilt image's manifest digest.
    pub subject_digest: Digest,
    /// RFC 3339 times; None keeps the statement reproducible.
    pub started_on: Option<String>,
    pub finished_on: Option<String>,
}

/// Build a SLSA Provenance v1 statement for a build or rebuild.
pub fn provenance(input: &ProvenanceInput) -> Statement {
    let recipe_files: Vec<Value> = input
        .recipe_files
        .iter()
        .map(|(name, d)| json!({"name": name, "digest": {"sha256": d.hex()}}))
        .collect();
    let mut resolved = vec![ResourceDescriptor {
        name: Some("base-image".into()),
        uri: Some(input.base_ref.clone()),
        digest: sha256_map(&input.base_digest),
        ..Default::default()
    }];
    resolved.extend(
        input
            .recipe_files
            .iter()
            .map(|(name, d)| ResourceDescriptor::named(format!("recipe/{name}"), d)),
    );
    let byproducts: Vec<ResourceDescriptor> = input
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut ann = Map::new();
            ann.insert("diffId".into(), Value::String(l.diff_id.to_string()));
            ResourceDescriptor {
                name: Some(format!("layer/{i}")),
                digest: sha256_map(&l.digest),
                annotations: Some(ann),
                ..Default::default()
            }
        })
        .collect();
    let mut metadata = Map::new();
    if let Some(t) = &input.started_on {
        metadata.insert("startedOn".into(), Value::String(t.clone()));
    }
    if let Some(t) = &input.finished_on {
        metadata.insert("finishedOn".into(), Value::String(t.clone()));
    }
    let mut run_details = json!({
        "builder": {"id": BUILDER_ID, "version": {"pause-verify": crate::VERSION}},
        "byproducts": byproducts,
    });
    if !metadata.is_empty() {
        run_details["metadata"] = Value::Object(metadata);
    }
    let predicate = json!({
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "recipe": {
                    "name": input.recipe_name,
                    "digest": {"sha256": input.recipe_digest.hex()},
                    "files": recipe_files,
                },
                "baseImage": {
                    "reference": input.base_ref,
                    "digest": input.base_digest.to_string(),
                },
                "platform": input.platform,
                "registryEdits": input.edits,
            },
            "internalParameters": {
                "toolVersion": crate::VERSION,
                "compressor": input.compressor,
                "compressionLevel": input.level,
            },
            "resolvedDependencies": resolved,
        },
        "runDetails": run_details,
    });
    Statement::new(
        vec![ResourceDescriptor::named(
            &input.subject_name,
            &input.subject_digest,
        )],
        PROVENANCE_V1,
        predicate,
    )
}

/// Everything a comparison knows that the verification summary records.
#[derive(Debug, Clone, PartialEq)]
pub struct VsaInput {
    /// Statement subject name: the published image's repository.
    pub subject_name: String,
    /// The published image's manifest digest.
    pub subject_digest: Digest,
    /// `resourceUri`: the published image by digest, e.g. `docker://REPO@sha256:...`.
    pub resource_uri: String,
    /// Policy location and digest (the built-in policy has a `pause-verify:` URI).
    pub policy_uri: String,
    pub policy_digest: Option<Digest>,
    /// The attestations this verdict rests on (e.g. our provenance), by URI and digest.
    pub input_attestations: Vec<(String, Digest)>,
    pub passed: bool,
    /// Our own level names (must not start with `SLSA_`), e.g. `PAUSE_VERIFY_REBUILT_IDENTICAL`.
    pub verified_levels: Vec<String>,
    /// RFC 3339; None keeps the statement reproducible.
    pub time_verified: Option<String>,
}

/// Build a SLSA VSA v1 statement for a comparison.
pub fn vsa(input: &VsaInput) -> Result<Statement, StatementError> {
    for level in &input.verified_levels {
        if level.starts_with("SLSA_") {
            return Err(StatementError::ReservedLevel(level.clone()));
        }
        if level.is_empty()
            || !level
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(StatementError::BadLevel(level.clone()));
        }
    }
    let mut policy = json!({"uri": input.policy_uri});
    if let Some(d) = &input.policy_digest {
        policy["digest"] = json!({"sha256": d.hex()});
    }
    let inputs: Vec<Value> = input
        .input_attestations
        .iter()
        .map(|(uri, d)| json!({"uri": uri, "digest": {"sha256": d.hex()}}))
        .collect();
    let mut predicate = json!({
        "verifier": {"id": BUILDER_ID, "version": {"pause-verify": crate::VERSION}},
        "resourceUri": input.resource_uri,
        "policy": policy,
        "inputAttestations": inputs,
        "verificationResult": if input.passed { "PASSED" } else { "FAILED" },
        "verifiedLevels": input.verified_levels,
        "slsaVersion": "1.0",
    });
    if let Some(t) = &input.time_verified {
        predicate["timeVerified"] = Value::String(t.clone());
    }
    Ok(Statement::new(
        vec![ResourceDescriptor::named(
            &input.subject_name,
            &input.subject_digest,
        )],
        VSA_V1,
        predicate,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Digest {
        Digest::of(s.as_bytes())
    }

    pub(crate) fn sample_provenance() -> ProvenanceInput {
        ProvenanceInput {
            recipe_name: "windows-pause-image-base".into(),
            recipe_digest: d("recipe"),
            recipe_files: vec![
                ("Dockerfile".into(), d("Dockerfile")),
                ("binaries/keylight.reg".into(), d("reg")),
            ],
            base_ref: "docker://mcr.microsoft.com/windows/nanoserver:ltsc2022".into(),
            base_digest: d("base"),
            platform: "windows/amd64:10.0.20348.2849".into(),
            edits: vec![
                RegistryEdit {
                    hive: "HKLM\\SOFTWARE".into(),
                    key: "Microsoft\\rpc".into(),
                    value: Some("UuidSequenceNumber".into()),
                    type_: Some("REG_DWORD".into()),
                    data: Some(json!(29161076)),
                    op: EditOp::Set,
                },
                RegistryEdit {
                    hive: "HKLM\\SYSTEM".into(),
                    key: "ControlSet001\\Services\\DiagTrack".into(),
                    value: None,
                    type_: None,
                    data: None,
                    op: EditOp::DeleteKey,
                },
            ],
            layers: vec![LayerRecord {
                digest: d("l0"),
                diff_id: d("l0u"),
            }],
            compressor: "gzip/zlib-rs".into(),
            level: 9,
            subject_name: "oci:out".into(),
            subject_digest: d("image"),
            started_on: None,
            finished_on: None,
        }
    }

    #[test]
    fn provenance_has_the_slsa_v1_shape() {
        let s = provenance(&sample_provenance());
        let v: Value = serde_json::from_slice(&s.to_json()).unwrap();
        assert_eq!(v["_type"], STATEMENT_V1);
        assert_eq!(v["predicateType"], PROVENANCE_V1);
        assert_eq!(v["subject"][0]["digest"]["sha256"], d("image").hex());
        let bd = &v["predicate"]["buildDefinition"];
        assert_eq!(bd["buildType"], BUILD_TYPE);
        assert_eq!(
            bd["externalParameters"]["registryEdits"][1]["op"],
            "delete_key"
        );
        assert_eq!(
            bd["externalParameters"]["registryEdits"][0]["type"],
            "REG_DWORD"
        );
        assert!(
            bd["externalParameters"]["registryEdits"][1]
                .get("value")
                .is_none()
        );
        assert_eq!(
            bd["externalParameters"]["baseImage"]["digest"],
            d("base").to_string()
        );
        assert_eq!(bd["resolvedDependencies"].as_array().unwrap().len(), 3);
        assert_eq!(bd["internalParameters"]["compressionLevel"], 9);
        let bp = &v["predicate"]["runDetails"]["byproducts"][0];
        assert_eq!(bp["annotations"]["diffId"], d("l0u").to_string());
        assert!(v["predicate"]["runDetails"].get("metadata").is_none());
        // Deterministic.
        assert_eq!(s.to_json(), provenance(&sample_provenance()).to_json());
    }

    #[test]
    fn vsa_refuses_slsa_levels_and_has_the_v1_shape() {
        let mut input = VsaInput {
            subject_name: "registry.k8s.io/pause".into(),
            subject_digest: d("pub"),
            resource_uri: format!("docker://registry.k8s.io/pause@{}", d("pub")),
            policy_uri: "pause-verify:policy/default".into(),
            policy_digest: Some(d("policy")),
            input_attestations: vec![("attestations/x.intoto.jsonl".into(), d("att"))],
            passed: true,
            verified_levels: vec!["PAUSE_VERIFY_REBUILT_IDENTICAL".into()],
            time_verified: Some("2025-01-01T00:00:00Z".into()),
        };
        let v: Value = serde_json::from_slice(&vsa(&input).unwrap().to_json()).unwrap();
        assert_eq!(v["predicateType"], VSA_V1);
        assert_eq!(v["predicate"]["verificationResult"], "PASSED");
        assert_eq!(v["predicate"]["resourceUri"], input.resource_uri);
        assert_eq!(
            v["predicate"]["inputAttestations"][0]["digest"]["sha256"],
            d("att").hex()
        );
        input.verified_levels.push("SLSA_BUILD_LEVEL_3".into());
        assert!(matches!(vsa(&input), Err(StatementError::ReservedLevel(_))));
        input.verified_levels = vec!["lower".into()];
        assert!(matches!(vsa(&input), Err(StatementError::BadLevel(_))));
    }

    #[test]
    fn statement_checks() {
        let s = provenance(&sample_provenance()).to_json();
        assert!(check_statement(&s, &d("image"), Some(PROVENANCE_V1)).is_ok());
        assert!(matches!(
            check_statement(&s, &d("other"), None),
            Err(Failure::SubjectMismatch { .. })
        ));
        assert!(matches!(
            check_statement(&s, &d("image"), Some(VSA_V1)),
            Err(Failure::PredicateTypeMismatch { .. })
        ));
        let wrong = String::from_utf8(s.clone())
            .unwrap()
            .replace(STATEMENT_V1, "https://example.com/x");
        assert!(matches!(
            check_statement(wrong.as_bytes(), &d("image"), None),
            Err(Failure::WrongStatementType { .. })
        ));
        assert!(matches!(
            check_statement(b"[1,2]", &d("image"), None),
            Err(Failure::Malformed { .. })
        ));
    }
}
