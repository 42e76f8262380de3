//! in-toto root layout (v0.9) and link metadata for the pause chain: the NanoServer base
//! (`nanoserver`, by digest) → the pause base (`pause-base`, built and rebuilt by the
//! functionaries' keys). Verified by the reference verifier, Python `in-toto-verify`
//! (tests/it/intoto_layout.rs). No final `pause` step yet: no command of this tool builds
//! the pause image on top of the base, so the layout has no such stage.
//!
//! Artifacts are image blobs by digest, named `STEP/blobs/sha256/<hex>` (as in an OCI
//! layout) with that sha256: a platform's manifest, config and layers, for every
//! platform. The rules:
//!
//! - `nanoserver` products: exactly the pinned base's blobs (REQUIRE + ALLOW each, then
//!   DISALLOW the rest); no materials.
//! - `pause-base` materials: only blobs the `nanoserver` step produced, with equal hashes
//!   (MATCH … FROM nanoserver, DISALLOW the rest); products: every pinned base layer
//!   (REQUIRE), the base layers matching the `nanoserver` products, new blobs (CREATE),
//!   nothing outside `pause-base/`. With `threshold` N, N functionaries' links must agree
//!   on materials and products: in-toto's own statement that a rebuild reproduced the
//!   build byte for byte.
//!
//! The `in-toto` crate (0.4) gives the step, artifact-rule and link models. Three parts
//! are done by hand here, because the crate's output would not verify with the reference
//! implementation for our cosign keys (ECDSA P-256):
//! - the key objects and key ids: the crate writes an ECDSA key's `keyval.public` as hex
//!   of the SEC1 point and hashes that for the key id, while securesystemslib (which
//!   in-toto-verify uses) writes and hashes the PEM SubjectPublicKeyInfo; with the
//!   crate's form the reference verifier finds no signature for the layout key;
//! - canonical JSON: the crate's canonicaliser escapes control characters (a PEM's
//!   newlines become `\n`), securesystemslib's `encode_canonical` escapes only `\` and
//!   `"`, so the signed bytes of a layout that holds PEM keys would differ;
//! - signatures: ECDSA-P256-SHA256, DER, with our key type (`attest::PrivateKey`), over
//!   those canonical bytes, in the `{"signed", "signatures"}` envelope in-toto 0.9 reads.

use crate::attest::{PrivateKey, PublicKey};
use crate::image::Digest;
use in_toto::crypto::{HashAlgorithm, HashValue, KeyId};
use in_toto::models::rule::{Artifact, ArtifactRule};
use in_toto::models::step::{Command, Step};
use in_toto::models::{Link, LinkMetadataBuilder, VirtualTargetPath};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap};

pub const STEP_NANOSERVER: &str = "nanoserver";
pub const STEP_PAUSE_BASE: &str = "pause-base";

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("canonical JSON has no floating-point numbers: {0}")]
    Float(String),
    #[error("in-toto model: {0}")]
    Model(String),
    #[error("{0}")]
    Invalid(String),
}

impl From<in_toto::Error> for LayoutError {
    fn from(e: in_toto::Error) -> Self {
        LayoutError::Model(e.to_string())
    }
}

/// A key as securesystemslib describes it: `{keytype, scheme, keyval: {public: PEM}}`,
/// and its key id, sha256 of that object's canonical JSON.
#[derive(Debug, Clone)]
pub struct Functionary {
    pub keyid: String,
    pub key: Value,
}

impl Functionary {
    pub fn new(key: &PublicKey) -> Functionary {
        let key = json!({
            "keytype": "ecdsa",
            "scheme": "ecdsa-sha2-nistp256",
            "keyval": {"public": key.to_pem()},
        });
        let keyid = hex::encode(Sha256::digest(canonical_json(&key).expect("no floats")));
        Functionary { keyid, key }
    }

    fn key_id(&self) -> Result<KeyId, LayoutError> {
        self.keyid.parse().map_err(LayoutError::from)
    }
}

/// securesystemslib's canonical JSON (OLPC): keys sorted by their UTF-8 bytes, no
/// whitespace, strings escaping only `\` and `"`, integers only.
pub fn canonical_json(v: &Value) -> Result<Vec<u8>, LayoutError> {
    let mut out = Vec::new();
    write_canonical(v, &mut out)?;
    Ok(out)
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) -> Result<(), LayoutError> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            if n.is_f64() {
                return Err(LayoutError::Float(n.to_string()));
            }
            out.extend_from_slice(n.to_string().as_bytes());
        }
        Value::String(s) => write_string(s, out),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out)?;
            }
            out.push(b']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write_canonical(&m[k], out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// The artifact name of a blob of `step`'s image: `STEP/blobs/sha256/<hex>`.
pub fn artifact(step: &str, d: &Digest) -> String {
    format!("{step}/blobs/sha256/{}", d.hex())
}

/// What the layout pins and who may perform the steps.
#[derive(Debug, Clone)]
pub struct ChainSpec {
    /// The NanoServer base's blobs (each platform's manifest, config, layers).
    pub base_blobs: Vec<Digest>,
    /// Its layers (each must appear among the pause base's products).
    pub base_layers: Vec<Digest>,
    /// Who builds or rebuilds (and so records the base): their links are accepted.
    pub functionaries: Vec<PublicKey>,
    /// How many functionaries' links must agree on the `pause-base` step.
    pub threshold: u32,
    /// RFC 3339 UTC, e.g. `2027-01-01T00:00:00Z`.
    pub expires: String,
    pub readme: String,
}

/// The layout's `signed` part.
pub fn layout(spec: &ChainSpec) -> Result<Value, LayoutError> {
    if spec.functionaries.is_empty() {
        return Err(LayoutError::Invalid(
            "a layout needs at least one functionary key".into(),
        ));
    }
    let fs: Vec<Functionary> = spec.functionaries.iter().map(Functionary::new).collect();
    let distinct: std::collections::BTreeSet<&str> = fs.iter().map(|f| f.keyid.as_str()).collect();
    if distinct.len() != fs.len() {
        return Err(LayoutError::Invalid(
            "a functionary key is given twice".into(),
        ));
    }
    if spec.threshold == 0 || spec.threshold as usize > fs.len() {
        return Err(LayoutError::Invalid(format!(
            "threshold {} needs between 1 and {} functionaries",
            spec.threshold,
            fs.len()
        )));
    }
    if spec.base_blobs.is_empty() {
        return Err(LayoutError::Invalid("the base has no blobs".into()));
    }
    let path = |s: String| VirtualTargetPath::new(s).map_err(LayoutError::from);
    let mut nano = Step::new(STEP_NANOSERVER)
        .threshold(1)
        .expected_command(Command::from(Vec::<String>::new()))
        .add_expected_material(ArtifactRule::Disallow(path("*".into())?));
    let mut pause = Step::new(STEP_PAUSE_BASE)
        .threshold(spec.threshold)
        .expected_command(Command::from(Vec::<String>::new()))
        .add_expected_material(ArtifactRule::Match {
            pattern: path("blobs/sha256/*".into())?,
            in_src: Some(STEP_NANOSERVER.into()),
            with: Artifact::Products,
            in_dst: Some(STEP_NANOSERVER.into()),
            from: STEP_NANOSERVER.into(),
        })
        .add_expected_material(ArtifactRule::Disallow(path("*".into())?));
    for f in &fs {
        nano = nano.add_key(f.key_id()?);
        pause = pause.add_key(f.key_id()?);
    }
    for d in &spec.base_blobs {
        nano =
            nano.add_expected_product(ArtifactRule::Require(path(artifact(STEP_NANOSERVER, d))?));
    }
    for d in &spec.base_blobs {
        nano = nano.add_expected_product(ArtifactRule::Allow(path(artifact(STEP_NANOSERVER, d))?));
    }
    nano = nano.add_expected_product(ArtifactRule::Disallow(path("*".into())?));
    for d in &spec.base_layers {
        pause =
            pause.add_expected_product(ArtifactRule::Require(path(artifact(STEP_PAUSE_BASE, d))?));
    }
    pause = pause
        .add_expected_product(ArtifactRule::Match {
            pattern: path("blobs/sha256/*".into())?,
            in_src: Some(STEP_PAUSE_BASE.into()),
            with: Artifact::Products,
            in_dst: Some(STEP_NANOSERVER.into()),
            from: STEP_NANOSERVER.into(),
        })
        .add_expected_product(ArtifactRule::Create(path(format!(
            "{STEP_PAUSE_BASE}/blobs/sha256/*"
        ))?))
        .add_expected_product(ArtifactRule::Disallow(path("*".into())?));
    let keys: Map<String, Value> = fs
        .iter()
        .map(|f| {
            let mut k = f.key.clone();
            k["keyid"] = Value::String(f.keyid.clone());
            (f.keyid.clone(), k)
        })
        .collect();
    let steps =
        serde_json::to_value(vec![nano, pause]).map_err(|e| LayoutError::Model(e.to_string()))?;
    Ok(json!({
        "_type": "layout",
        "expires": spec.expires,
        "readme": spec.readme,
        "keys": keys,
        "steps": steps,
        "inspect": [],
    }))
}

/// A link's `signed` part: `step` performed by `command`, from `materials` to `products`
/// (artifact name, sha256).
pub fn link(
    step: &str,
    command: &[String],
    materials: &[(String, Digest)],
    products: &[(String, Digest)],
) -> Result<Value, LayoutError> {
    let map = |xs: &[(String, Digest)]| -> Result<
        BTreeMap<VirtualTargetPath, HashMap<HashAlgorithm, HashValue>>,
        LayoutError,
    > {
        let mut m = BTreeMap::new();
        for (name, d) in xs {
            let bytes = hex::decode(d.hex()).map_err(|e| LayoutError::Invalid(e.to_string()))?;
            m.insert(
                VirtualTargetPath::new(name.clone())?,
                HashMap::from([(HashAlgorithm::Sha256, HashValue::new(bytes))]),
            );
        }
        Ok(m)
    };
    let meta = LinkMetadataBuilder::new()
        .name(step.to_string())
        .materials(map(materials)?)
        .products(map(products)?)
        .command(Command::from(command.to_vec()))
        .build()?;
    let mut v =
        serde_json::to_value(Link::from(&meta)?).map_err(|e| LayoutError::Model(e.to_string()))?;
    // in-toto 0.9 requires an object (the crate writes null when none is given).
    if v["environment"].is_null() {
        v["environment"] = json!({});
    }
    Ok(v)
}

/// The metablock `{"signed": …, "signatures": [{keyid, sig}]}`, each key signing the
/// canonical JSON of `signed`.
pub fn sign(signed: Value, keys: &[&PrivateKey]) -> Result<Value, LayoutError> {
    let bytes = canonical_json(&signed)?;
    let signatures: Vec<Value> = keys
        .iter()
        .map(|k| {
            let f = Functionary::new(&k.public_key());
            json!({"keyid": f.keyid, "sig": hex::encode(k.sign(&bytes))})
        })
        .collect();
    Ok(json!({"signed": signed, "signatures": signatures}))
}

/// The file name in-toto-verify looks for: `STEP.<first 8 hex of the key id>.link`.
pub fn link_file_name(step: &str, key: &PublicKey) -> String {
    format!("{step}.{}.link", &Functionary::new(key).keyid[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_escapes_only_quote_and_backslash() {
        let v = json!({"b": "x\ny\"\\", "a": [1, true, null], "é": {}});
        assert_eq!(
            String::from_utf8(canonical_json(&v).unwrap()).unwrap(),
            "{\"a\":[1,true,null],\"b\":\"x\ny\\\"\\\\\",\"é\":{}}"
        );
        assert!(matches!(
            canonical_json(&json!(1.5)),
            Err(LayoutError::Float(_))
        ));
    }

    #[test]
    fn thresholds_and_keys_are_checked() {
        let k = PrivateKey::generate().unwrap().public_key();
        let mut spec = ChainSpec {
            base_blobs: vec![Digest::of(b"m")],
            base_layers: vec![],
            functionaries: vec![k.clone()],
            threshold: 2,
            expires: "2030-01-01T00:00:00Z".into(),
            readme: String::new(),
        };
        assert!(
            layout(&spec)
                .unwrap_err()
                .to_string()
                .contains("threshold 2")
        );
        spec.functionaries.push(k);
        assert!(layout(&spec).unwrap_err().to_string().contains("twice"));
    }
}
