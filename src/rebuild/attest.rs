//! `rebuild --attest`: the statements a rebuild signs, and where they go.
//!
//! Owns the glue between a rebuild's records and the statement builders:
//! - [`provenance_for`]: one SLSA Provenance v1 per rebuilt platform, from its
//!   [`BuildOutput`] (subject = that platform's rebuilt manifest digest);
//! - [`vsa_for`]: one SLSA VSA v1 for the published image, from the comparison
//!   [`Report`] (subjects = the published root digest and each compared platform
//!   manifest, so `verify` of the index or of any platform finds it);
//! - [`attest`]: sign both (DSSE), append them to an attestations directory and/or attach
//!   them (`.att`) to the rebuilt image (`--out`) and the published image.
//!
//! Not here: the statement shapes (`statement`), signing (`dsse`), storage formats
//! (`storage`, `attach`), key loading and rendering (the CLI). Builders are pure: times
//! come from the caller (SOURCE_DATE_EPOCH or the clock, chosen in the CLI), so the same
//! rebuild gives the same bytes. Field meanings: docs/provenance.md.

use crate::attest::PrivateKey;
use crate::attest::attach::{AttachError, Attached, Store};
use crate::attest::dsse;
use crate::attest::statement::{
    self, EditOp, LayerRecord, PROVENANCE_V1, ProvenanceInput, RegistryEdit, ResourceDescriptor,
    Statement, StatementError, VSA_V1, VsaInput,
};
use crate::attest::storage::{self, AttestationsDir, DirError};
use crate::build::BuildOutput;
use crate::compare::{Report, Verdict};
use crate::hive::RootHive;
use crate::hive::regfile::Action;
use crate::hive::{DeletedKey, RegOp};
use crate::image::registry::RegistryOptions;
use crate::image::{Digest, ImageRef};
use serde::Serialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("building the verification summary: {0}")]
    Statement(#[from] StatementError),
    #[error("writing the attestations directory: {0}")]
    Dir(#[from] DirError),
    #[error("attaching to {image}: {source}")]
    Attach {
        image: String,
        #[source]
        source: Box<AttachError>,
    },
    #[error("{0}")]
    Usage(String),
}

/// `HKLM\SOFTWARE`, `HKLM\SYSTEM`, `HKLM\SAM`, `HKLM\SECURITY`, `HKU\.DEFAULT`.
pub fn hive_name(h: RootHive) -> &'static str {
    match h {
        RootHive::Software => "HKLM\\SOFTWARE",
        RootHive::System => "HKLM\\SYSTEM",
        RootHive::Sam => "HKLM\\SAM",
        RootHive::Security => "HKLM\\SECURITY",
        RootHive::Default => "HKU\\.DEFAULT",
    }
}

use crate::hive::model::utf16le as utf16;

/// Registry data as JSON (docs/provenance.md): strings for REG_SZ / REG_EXPAND_SZ /
/// REG_LINK (one trailing NUL dropped), a list of strings for REG_MULTI_SZ (the
/// terminating empty strings dropped), numbers for REG_DWORD / REG_DWORD_BIG_ENDIAN /
/// REG_QWORD, lower-case hex for anything else or data that does not decode.
pub fn data_json(type_name: &str, data: &[u8]) -> Value {
    let decoded = match type_name {
        "REG_SZ" | "REG_EXPAND_SZ" | "REG_LINK" => utf16(data).and_then(|mut u| {
            if u.last() == Some(&0) {
                u.pop();
            }
            String::from_utf16(&u).ok().map(Value::String)
        }),
        "REG_MULTI_SZ" => utf16(data).and_then(|u| {
            let mut parts = u
                .split(|&c| c == 0)
                .map(|s| String::from_utf16(s).ok())
                .collect::<Option<Vec<_>>>()?;
            while parts.last().is_some_and(String::is_empty) {
                parts.pop();
            }
            Some(json!(parts))
        }),
        "REG_DWORD" => <[u8; 4]>::try_from(data)
            .ok()
            .map(|b| json!(u32::from_le_bytes(b))),
        "REG_DWORD_BIG_ENDIAN" => <[u8; 4]>::try_from(data)
            .ok()
            .map(|b| json!(u32::from_be_bytes(b))),
        "REG_QWORD" => <[u8; 8]>::try_from(data)
            .ok()
            .map(|b| json!(u64::from_le_bytes(b))),
        _ => None,
    };
    decoded.unwrap_or_else(|| Value::String(hex::encode(data)))
}

fn edit_of(op: &RegOp) -> RegistryEdit {
    let (value, type_, data, op_kind) = match &op.action {
        Action::SetValue { name, kind, data } => {
            let ty = crate::hive::model::type_name(*kind);
            (
                Some(name.clone()),
                Some(ty.clone()),
                Some(data_json(&ty, data)),
                EditOp::Set,
            )
        }
        Action::DeleteValue { name } => (Some(name.clone()), None, None, EditOp::Delete),
        Action::CreateKey => (None, None, None, EditOp::Set),
        Action::DeleteKey => (None, None, None, EditOp::DeleteKey),
    };
    RegistryEdit {
        hive: hive_name(op.hive).to_string(),
        key: op.path.clone(),
        value,
        type_,
        data,
        op: op_kind,
    }
}

/// Every registry change the build made, in recipe order, as the provenance lists it:
/// [`crate::hive::net_edits`] of its operations and tombstones, the same edits the
/// rebuild report checks (`rebuild::edits_of`) and the audit policy expects.
pub fn registry_edits(b: &BuildOutput) -> Vec<RegistryEdit> {
    let ops: Vec<RegOp> = b
        .registry_edits
        .iter()
        .map(|e| e.operation.clone())
        .collect();
    provenance_edits(&ops, &b.deleted_keys)
}

/// [`registry_edits`] from the operations themselves (and the keys tombstoned): one
/// vocabulary for the provenance and for what a policy expects of it.
pub fn provenance_edits(ops: &[RegOp], deleted_keys: &[DeletedKey]) -> Vec<RegistryEdit> {
    crate::hive::net_edits(ops, deleted_keys)
        .iter()
        .map(edit_of)
        .collect()
}

/// The statement subject name for an image: `HOST/REPO` for a registry, the tag-less
/// `oci:DIR` (as written) for a layout, `docker-archive:FILE` for an archive — as
/// `sign` and `attest` name it.
pub fn subject_name(r: &ImageRef) -> String {
    match r {
        ImageRef::Registry {
            registry,
            repository,
            ..
        } => format!("{registry}/{repository}"),
        ImageRef::Layout { dir, .. } => format!("oci:{}", dir.display()),
        ImageRef::Archive { path, .. } => format!("docker-archive:{}", path.display()),
        ImageRef::Dir { path } => format!("dir:{}", path.display()),
    }
}

/// The image by digest, as a VSA `resourceUri`: `docker://HOST/REPO@sha256:…`,
/// `oci:DIR@sha256:…`, `docker-archive:FILE@sha256:…` (the same form `audit` writes).
pub fn resource_uri(r: &ImageRef, digest: &Digest) -> String {
    match r {
        ImageRef::Registry {
            registry,
            repository,
            ..
        } => format!("docker://{registry}/{repository}@{digest}"),
        other => format!("{}@{digest}", subject_name(other)),
    }
}

/// The provenance of one rebuilt platform image. `started_on` / `finished_on` are RFC
/// 3339 or None.
pub fn provenance_for(
    b: &BuildOutput,
    subject_name: &str,
    started_on: Option<String>,
    finished_on: Option<String>,
) -> Statement {
    let p = &b.base.platform;
    statement::provenance(&ProvenanceInput {
        recipe_name: b.recipe.name.clone(),
        recipe_digest: b.recipe.digest.clone(),
        recipe_files: b.recipe.files.clone(),
        base_ref: b.base.reference.clone(),
        // The platform manifest (what pins and `audit` compare), not the index the
        // reference may name.
        base_digest: b.base.manifest.digest.clone(),
        platform: format!(
            "{}/{}:{}",
            p.os,
            p.architecture,
            p.os_version.as_deref().unwrap_or("")
        ),
        edits: registry_edits(b),
        layers: b
            .layers
            .iter()
            .map(|l| LayerRecord {
                digest: l.descriptor.digest.clone(),
                diff_id: l.diff_id.clone(),
            })
            .collect(),
        compressor: b.compressor.name.clone(),
        level: b.compressor.level,
        subject_name: subject_name.to_string(),
        subject_digest: b.manifest.digest.clone(),
        started_on,
        finished_on,
    })
}

/// The policy a rebuild verdict applies: the built-in rebuild rules at a noise-rules
/// version, strict or not (no digest: it is code, named by version).
pub fn policy_uri(report: &Report) -> String {
    format!(
        "pause-verify:policy/rebuild/v1?noiseRules={}&strict={}",
        report.noise_rules_version, report.strict
    )
}

/// Our level names for a passing rebuild (none when it fails):
/// `PAUSE_VERIFY_REBUILT_<IDENTICAL|SAME_CONTENT|EQUIVALENT>` (the weakest platform
/// verdict) and `PAUSE_VERIFY_BASE_PINNED` when every platform's base layers are the
/// pinned ones.
pub fn verified_levels(report: &Report) -> Vec<String> {
    if !report.passes() {
        return Vec::new();
    }
    let worst = report
        .platforms
        .iter()
        .map(|p| p.verdict)
        .max()
        .unwrap_or(Verdict::Different);
    let mut levels = vec![format!("PAUSE_VERIFY_REBUILT_{}", worst.as_str())];
    if report
        .platforms
        .iter()
        .all(|p| p.base.as_ref().is_some_and(|b| b.ok))
    {
        levels.push("PAUSE_VERIFY_BASE_PINNED".into());
    }
    levels
}

/// The published image's digests a VSA is about: the root, then each compared platform
/// manifest (deduplicated; a single-manifest image has one).
pub fn vsa_subjects(report: &Report) -> Vec<Digest> {
    let mut out = vec![report.published.digest.clone()];
    for p in &report.platforms {
        if !out.contains(&p.published_manifest) {
            out.push(p.published_manifest.clone());
        }
    }
    out
}

/// The verification summary of a rebuild for the published image `published`.
/// `verificationResult` is PASSED exactly when the rebuild passes (exit 0).
/// `inputs` are the provenance attestations it rests on (URI, envelope digest).
pub fn vsa_for(
    report: &Report,
    published: &ImageRef,
    inputs: Vec<(String, Digest)>,
    time_verified: Option<String>,
) -> Result<Statement, StatementError> {
    let name = subject_name(published);
    let mut s = statement::vsa(&VsaInput {
        subject_name: name.clone(),
        subject_digest: report.published.digest.clone(),
        resource_uri: resource_uri(published, &report.published.digest),
        policy_uri: policy_uri(report),
        policy_digest: None,
        input_attestations: inputs,
        passed: report.passes(),
        verified_levels: verified_levels(report),
        time_verified,
    })?;
    for d in vsa_subjects(report).into_iter().skip(1) {
        s.subject.push(ResourceDescriptor::named(&name, &d));
    }
    Ok(s)
}

/// Where `rebuild --attest` puts the statements.
pub struct AttestRequest<'a> {
    pub key: &'a PrivateKey,
    /// The published image (VSA subject; `--attach` stores the VSA with it).
    pub published: &'a ImageRef,
    /// The rebuilt image kept with `--out` (provenance subject name; `--attach` stores
    /// the provenance with it). Without it the provenance is named after the published
    /// image's repository it reproduces.
    pub rebuilt: Option<&'a ImageRef>,
    /// Append every envelope to `<subject-hex>.intoto.jsonl` here.
    pub dir: Option<&'a Path>,
    /// Attach (`.att`) to the images: provenance to the rebuilt image (and to the
    /// published image when its digest is the same), the VSA to the published image.
    pub attach: bool,
    pub registry: &'a RegistryOptions,
    /// RFC 3339 times (or None).
    pub started_on: Option<String>,
    pub finished_on: Option<String>,
    /// What was verified about a base manifest (by digest): its Notary signature's
    /// manifest and signer, recorded as the annotations of the provenance's
    /// `base-image` dependency (docs/provenance.md).
    pub base_signatures: &'a [(Digest, serde_json::Map<String, Value>)],
}

/// Record `annotations` on the `base-image` entry of a provenance's resolvedDependencies.
pub fn annotate_base(st: &mut Statement, annotations: &serde_json::Map<String, Value>) {
    if let Some(deps) = st.predicate["buildDefinition"]["resolvedDependencies"].as_array_mut()
        && let Some(base) = deps.iter_mut().find(|d| d["name"] == "base-image")
    {
        base["annotations"] = Value::Object(annotations.clone());
    }
}

/// One signed statement and where it went.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Written {
    pub predicate_type: String,
    /// The statement's subject digests.
    pub subjects: Vec<Digest>,
    /// `windows/amd64:10.0.20348.2849` for a provenance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `PASSED` / `FAILED` for a VSA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_result: Option<String>,
    /// sha256 of the DSSE envelope (one JSON line): what a VSA's inputAttestations name.
    pub envelope_digest: Digest,
    pub files: Vec<PathBuf>,
    pub attached: Vec<Attached>,
    /// The envelope itself (not rendered).
    #[serde(skip)]
    pub envelope: Vec<u8>,
}

/// What [`attest`] did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attestations {
    pub key_hint: String,
    pub provenance: Vec<Written>,
    pub vsa: Written,
}

fn signed(statement: &Statement, key: &PrivateKey) -> (Vec<u8>, Digest) {
    let env = dsse::sign_statement(statement, key).to_json();
    let d = Digest::of(&env);
    (env, d)
}

pub(super) fn open_store(r: &ImageRef, opts: &RegistryOptions) -> Result<Store, Error> {
    Store::open(r, opts).map_err(|source| Error::Attach {
        image: r.to_string(),
        source: Box::new(source),
    })
}

pub(super) fn attach_to(
    store: &mut Store,
    r: &ImageRef,
    subject: &Digest,
    envelope: &[u8],
    predicate_type: &str,
) -> Result<Attached, Error> {
    let layer = storage::attestation_layer(envelope, predicate_type);
    store
        .attach_layers(storage::att_tag(subject), &[layer])
        .map_err(|source| Error::Attach {
            image: r.to_string(),
            source: Box::new(source),
        })
}

/// Sign the provenance of every rebuilt platform and the VSA of the published image,
/// then store them as asked. Nothing is signed or stored for a platform that could not
/// be rebuilt (its verdict is in the VSA).
pub fn attest(
    report: &Report,
    builds: &[BuildOutput],
    req: &AttestRequest<'_>,
) -> Result<Attestations, Error> {
    if req.dir.is_none() && !req.attach {
        return Err(Error::Usage(
            "--attest needs somewhere to put the statements: --attestations-dir DIR and/or --attach".into(),
        ));
    }
    if req.attach && req.rebuilt.is_none() {
        return Err(Error::Usage(
            "--attach stores the provenance with the rebuilt image: give --out too".into(),
        ));
    }
    let dir = req.dir.map(AttestationsDir::new);
    let prov_name = subject_name(req.rebuilt.unwrap_or(req.published));
    let published_digests = vsa_subjects(report);
    let mut rebuilt_store = match (req.attach, req.rebuilt) {
        (true, Some(r)) => Some((open_store(r, req.registry)?, r)),
        _ => None,
    };
    let mut published_store = if req.attach {
        Some(open_store(req.published, req.registry)?)
    } else {
        None
    };

    let mut provenance = Vec::new();
    for b in builds {
        let mut st = provenance_for(
            b,
            &prov_name,
            req.started_on.clone(),
            req.finished_on.clone(),
        );
        if let Some((_, ann)) = req
            .base_signatures
            .iter()
            .find(|(d, _)| *d == b.base.manifest.digest)
        {
            annotate_base(&mut st, ann);
        }
        let (env, digest) = signed(&st, req.key);
        let subject = &b.manifest.digest;
        let mut w = Written {
            predicate_type: PROVENANCE_V1.into(),
            subjects: vec![subject.clone()],
            platform: st.predicate["buildDefinition"]["externalParameters"]["platform"]
                .as_str()
                .map(str::to_string),
            verification_result: None,
            envelope_digest: digest,
            files: Vec::new(),
            attached: Vec::new(),
            envelope: env,
        };
        if let Some(d) = &dir {
            d.add_envelope(subject, &w.envelope)?;
            w.files.push(d.envelopes_path(subject));
        }
        if let Some((store, r)) = rebuilt_store.as_mut() {
            w.attached
                .push(attach_to(store, r, subject, &w.envelope, PROVENANCE_V1)?);
        }
        // A byte-identical rebuild is the published image: its provenance is too.
        if let Some(store) = published_store.as_mut()
            && published_digests.contains(subject)
        {
            w.attached.push(attach_to(
                store,
                req.published,
                subject,
                &w.envelope,
                PROVENANCE_V1,
            )?);
        }
        provenance.push(w);
    }

    let inputs = provenance
        .iter()
        .map(|w| {
            let uri = match (w.files.first(), w.attached.first()) {
                (Some(f), _) => f.display().to_string(),
                (None, Some(a)) => a.location.clone(),
                (None, None) => String::new(),
            };
            (uri, w.envelope_digest.clone())
        })
        .collect();
    let st = vsa_for(report, req.published, inputs, req.finished_on.clone())?;
    let (env, digest) = signed(&st, req.key);
    let mut vsa = Written {
        predicate_type: VSA_V1.into(),
        subjects: published_digests.clone(),
        platform: None,
        verification_result: st.predicate["verificationResult"]
            .as_str()
            .map(str::to_string),
        envelope_digest: digest,
        files: Vec::new(),
        attached: Vec::new(),
        envelope: env,
    };
    for subject in &published_digests {
        if let Some(d) = &dir {
            d.add_envelope(subject, &vsa.envelope)?;
            let p = d.envelopes_path(subject);
            if !vsa.files.contains(&p) {
                vsa.files.push(p);
            }
        }
        if let Some(store) = published_store.as_mut() {
            vsa.attached.push(attach_to(
                store,
                req.published,
                subject,
                &vsa.envelope,
                VSA_V1,
            )?);
        }
    }
    Ok(Attestations {
        key_hint: req.key.public_key().hint(),
        provenance,
        vsa,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_data_as_json() {
        let sz: Vec<u8> = "ncacn_ip_tcp\0"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(data_json("REG_SZ", &sz), json!("ncacn_ip_tcp"));
        assert_eq!(data_json("REG_MULTI_SZ", &[0, 0]), json!([]));
        let multi: Vec<u8> = "a\0bc\0\0"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(data_json("REG_MULTI_SZ", &multi), json!(["a", "bc"]));
        assert_eq!(
            data_json("REG_DWORD", &[0x74, 0xf6, 0xbc, 0x01]),
            json!(0x01bc_f674)
        );
        assert_eq!(
            data_json("REG_DWORD_BIG_ENDIAN", &[0x01, 0xbc, 0xf6, 0x74]),
            json!(0x01bc_f674)
        );
        assert_eq!(
            data_json("REG_QWORD", &[1, 0, 0, 0, 0, 0, 0, 0x80]),
            json!(0x8000_0000_0000_0001u64)
        );
        assert_eq!(data_json("REG_BINARY", &[0xde, 0xad]), json!("dead"));
        // Malformed data falls back to hex rather than losing bytes.
        assert_eq!(data_json("REG_DWORD", &[1, 2, 3]), json!("010203"));
        assert_eq!(data_json("REG_SZ", &[0x41]), json!("41"));
    }

    #[test]
    fn names_and_uris() {
        let l: ImageRef = "oci:out:latest".parse().unwrap();
        let d = Digest::of(b"x");
        assert_eq!(subject_name(&l), "oci:out");
        assert_eq!(resource_uri(&l, &d), format!("oci:out@{d}"));
        let r: ImageRef = "docker://127.0.0.1:5000/pause:1".parse().unwrap();
        assert_eq!(subject_name(&r), "127.0.0.1:5000/pause");
        assert_eq!(
            resource_uri(&r, &d),
            format!("docker://127.0.0.1:5000/pause@{d}")
        );
    }
}
