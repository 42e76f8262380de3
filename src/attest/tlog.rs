//! Rekor transparency-log evidence in a Sigstore bundle (`verificationMaterial.tlogEntries`),
//! as sigstore-go's `pkg/verify/tlog.go` checks it, offline against the trusted root:
//!
//! - **Rekor v1** entries (`hashedrekord`/`rekord`/`dsse` 0.0.1, `intoto` 0.0.2): the
//!   signed entry timestamp (SET, over the canonical JSON `{"body","integratedTime",
//!   "logID","logIndex"}`) with the trusted log whose ID the entry names, valid at
//!   `integratedTime`, which the SET then authenticates; the inclusion proof when present
//!   (required from bundle v0.2 on);
//! - **Rekor v2** entries (`hashedrekord`/`dsse` 0.0.2, tile-based logs): no SET and no
//!   integration time (a verified RFC 3161 timestamp must give the time: `tsa`), the
//!   inclusion proof and its checkpoint are mandatory; the log is selected by the C2SP
//!   key ID (for Ed25519: sha256(origin ‖ 0x0A ‖ 0x01 ‖ key), for ECDSA: sha256(PKIX
//!   DER)) and must have been in use at every verified time (checked by the caller, who
//!   knows the times);
//! - the RFC 6962 inclusion proof (leaf = SHA-256(0x00 ‖ body)) to the checkpoint's root;
//! - the checkpoint, a C2SP signed note: `origin\nsize\nroot-b64\n[more lines]\n\n` then
//!   `— NAME base64(keyID[4] ‖ signature)` lines. For v2 the origin must be the log's
//!   (its base URL's host) and a line by that name and key ID must verify (every such
//!   line must); witness cosignatures and other keys' lines are ignored. For v1 the key
//!   hint alone selects (Rekor v1 names its checkpoints `host - treeID`);
//! - the entry body binds to this bundle ([`check_body_binds_signer`]): digest or payload
//!   hash, signature, and the verifier (certificate or public key).
//!
//! Bounds: checkpoint ≤ [`MAX_CHECKPOINT_BYTES`] and ≤ [`MAX_NOTE_SIGNATURES`] signature
//! lines, proof ≤ [`MAX_PROOF_HASHES`] hashes (a tree of 2^64 leaves needs 64).
//!
//! What stays ours rather than the `sigstore` crate's `crypto::merkle`: see `keyless`.

use super::dsse::decode_b64;
use super::keyless::pem_cert_der;
use super::trust_root::{Log, LogKey, TrustedRoot};
use super::verify::Failure;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// Largest checkpoint parsed (real ones are < 1 KiB).
pub const MAX_CHECKPOINT_BYTES: usize = 64 * 1024;
/// Most signature lines read from a checkpoint (Go's `note` package stops at 100).
pub const MAX_NOTE_SIGNATURES: usize = 100;
/// Most hashes in an inclusion proof.
pub const MAX_PROOF_HASHES: usize = 64;

fn bad(m: impl Into<String>) -> Failure {
    Failure::BadTlogEntry(m.into())
}

fn bad_proof(m: impl Into<String>) -> Failure {
    Failure::BadInclusionProof(m.into())
}

fn bad_checkpoint(m: impl Into<String>) -> Failure {
    Failure::BadCheckpoint(m.into())
}

/// Who signed, as the entry body must name it.
#[derive(Debug, Clone, Copy)]
pub enum Signer<'a> {
    /// A Fulcio leaf (DER).
    Certificate(&'a [u8]),
    /// A public key (PKIX DER).
    Key(&'a [u8]),
}

/// A verified entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub body: Vec<u8>,
    /// The integration time the SET authenticates (Rekor v1); None for Rekor v2.
    pub integrated_time: Option<i64>,
    pub log_index: i64,
    /// The log (its `baseUrl` in the trusted root).
    pub log_url: String,
    pub log_valid_for: super::trust_root::ValidFor,
    /// Whether an inclusion proof and checkpoint were present (and then verified).
    pub inclusion_proof: bool,
    /// 1 or 2.
    pub rekor_version: u8,
}

/// An int64 as protobuf JSON writes it (a string) or as a number.
pub(crate) fn int_at(v: &Value, key: &str) -> Option<i64> {
    match v.get(key)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn b64_at(v: &Value, path: &[&str]) -> Option<Vec<u8>> {
    let s = path.iter().try_fold(v, |v, k| v.get(k))?.as_str()?;
    STANDARD.decode(s).ok()
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// The bytes Rekor signs for a SET: canonical JSON (RFC 8785: sorted keys, no spaces).
/// Base64 and hex never need escaping, so the four fields are written in order.
pub fn set_payload(body: &[u8], integrated_time: i64, log_id: &[u8], log_index: i64) -> Vec<u8> {
    format!(
        "{{\"body\":\"{}\",\"integratedTime\":{integrated_time},\"logID\":\"{}\",\"logIndex\":{log_index}}}",
        STANDARD.encode(body),
        hex::encode(log_id)
    )
    .into_bytes()
}

/// The (kind, apiVersion) of an entry body.
fn kind_version(body: &[u8]) -> Result<(String, String), Failure> {
    let b: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("canonicalizedBody is not JSON: {e}")))?;
    Ok((
        b.get("kind").and_then(Value::as_str).unwrap_or("").into(),
        b.get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .into(),
    ))
}

/// Rekor v2 writes exactly these kinds.
fn is_rekor_v2(kind: &str, version: &str) -> bool {
    version == "0.0.2" && matches!(kind, "hashedrekord" | "dsse")
}

/// Verify one entry's log evidence (not yet its binding to the bundle, nor the log's
/// validity at the TSA times: [`Entry::log_valid_for`]).
pub fn verify_entry(root: &TrustedRoot, e: &Value, proof_required: bool) -> Result<Entry, Failure> {
    let log_index = int_at(e, "logIndex").ok_or_else(|| bad("logIndex is missing"))?;
    if log_index < 0 {
        return Err(bad(format!("logIndex {log_index} is negative")));
    }
    let body = b64_at(e, &["canonicalizedBody"])
        .ok_or_else(|| bad("canonicalizedBody is missing or not base64"))?;
    let (kind, version) = kind_version(&body)?;
    if let Some(kv) = e.get("kindVersion")
        && (str_at(kv, &["kind"]) != Some(kind.as_str())
            || str_at(kv, &["version"]) != Some(version.as_str()))
    {
        return Err(bad(format!(
            "kindVersion {}/{} is not the body's {kind}/{version}",
            str_at(kv, &["kind"]).unwrap_or(""),
            str_at(kv, &["version"]).unwrap_or("")
        )));
    }
    let log_id = b64_at(e, &["logId", "keyId"])
        .ok_or_else(|| bad("logId.keyId is missing or not base64"))?;
    let v2 = is_rekor_v2(&kind, &version);
    let t = int_at(e, "integratedTime").unwrap_or(0);
    let named = root.tlogs.iter().filter(|l| l.log_id == log_id);
    let log = if v2 {
        named.into_iter().next()
    } else {
        named.into_iter().find(|l| l.valid_for.contains(t))
    }
    .ok_or_else(|| {
        bad(if v2 {
            format!(
                "no Rekor log with ID {} in the trusted root",
                hex::encode(&log_id)
            )
        } else {
            format!(
                "no Rekor log with ID {} valid at integratedTime {t} in the trusted root",
                hex::encode(&log_id)
            )
        })
    })?;
    let key = log.key.as_ref().ok_or_else(|| {
        bad(format!(
            "the trusted root's key for log {} ({}) is not ECDSA P-256/P-384 or Ed25519",
            log.base_url, log.key_details
        ))
    })?;
    let has_set = e.get("inclusionPromise").is_some_and(|p| !p.is_null());
    let integrated_time = if v2 {
        // Rekor v2 has no SET and no integration time; one that claims either is not
        // what a v2 log writes.
        if has_set || t != 0 {
            return Err(bad(
                "a Rekor v2 entry carries an inclusion promise or integratedTime (v2 logs write neither)",
            ));
        }
        None
    } else {
        let set = b64_at(e, &["inclusionPromise", "signedEntryTimestamp"]).ok_or_else(|| {
            bad("no inclusion promise (signedEntryTimestamp) for a Rekor v1 entry")
        })?;
        if !key.verify(&set_payload(&body, t, &log_id, log_index), &set) {
            return Err(Failure::BadSet(format!(
                "the signed entry timestamp does not verify with the key of {}",
                log.base_url
            )));
        }
        Some(t)
    };
    let inclusion_proof = match e.get("inclusionProof") {
        None | Some(Value::Null) if v2 => {
            return Err(bad_proof(
                "a Rekor v2 entry without an inclusion proof (v2 logs have no SET: the proof is the evidence)",
            ));
        }
        None | Some(Value::Null) if proof_required => {
            return Err(bad_proof(
                "no inclusion proof (bundles v0.2 and later must carry one)",
            ));
        }
        None | Some(Value::Null) => false,
        Some(p) => {
            // Rekor v1 proofs count within the log shard, entries across shards; a v2
            // log is one tree.
            if v2 && int_at(p, "logIndex") != Some(log_index) {
                return Err(bad_proof(format!(
                    "inclusionProof.logIndex is not the entry's logIndex {log_index}"
                )));
            }
            verify_proof(log, key, v2, p, &body)?;
            true
        }
    };
    Ok(Entry {
        body,
        integrated_time,
        log_index,
        log_url: log.base_url.clone(),
        log_valid_for: log.valid_for,
        inclusion_proof,
        rekor_version: if v2 { 2 } else { 1 },
    })
}

fn verify_proof(log: &Log, key: &LogKey, v2: bool, p: &Value, body: &[u8]) -> Result<(), Failure> {
    let index = int_at(p, "logIndex")
        .and_then(|i| u64::try_from(i).ok())
        .ok_or_else(|| bad_proof("inclusionProof.logIndex is missing"))?;
    let size = int_at(p, "treeSize")
        .and_then(|i| u64::try_from(i).ok())
        .ok_or_else(|| bad_proof("inclusionProof.treeSize is missing"))?;
    let root_hash: [u8; 32] = b64_at(p, &["rootHash"])
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| bad_proof("inclusionProof.rootHash is not 32 base64 bytes"))?;
    let listed = p
        .get("hashes")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if listed.len() > MAX_PROOF_HASHES {
        return Err(bad_proof(format!(
            "the inclusion proof has {} hashes, more than {MAX_PROOF_HASHES}",
            listed.len()
        )));
    }
    let mut hashes = Vec::with_capacity(listed.len());
    for h in listed {
        let h: [u8; 32] = h
            .as_str()
            .and_then(|s| STANDARD.decode(s).ok())
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| {
                bad_proof("inclusionProof.hashes holds a value that is not 32 base64 bytes")
            })?;
        hashes.push(h);
    }
    if !verify_inclusion(&leaf_hash(body), index, size, &hashes, &root_hash) {
        return Err(bad_proof(format!(
            "the inclusion proof (index {index}, tree size {size}) does not lead to the root hash"
        )));
    }
    let envelope = p
        .get("checkpoint")
        .and_then(|c| c.get("envelope"))
        .and_then(Value::as_str)
        .ok_or_else(|| bad_checkpoint("the inclusion proof has no checkpoint"))?;
    let cp = if v2 {
        verify_checkpoint_v2(envelope, log, key)
    } else {
        verify_checkpoint(envelope, std::slice::from_ref(log))
    }
    .map_err(bad_checkpoint)?;
    if cp.size != size || cp.root_hash != root_hash {
        return Err(bad_checkpoint(format!(
            "the checkpoint (size {}, root {}) is not the proof's tree (size {size}, root {})",
            cp.size,
            hex::encode(&cp.root_hash),
            hex::encode(root_hash)
        )));
    }
    Ok(())
}

/// RFC 6962 leaf hash.
pub fn leaf_hash(data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

pub(crate) fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// RFC 9162 §2.1.3.2: does `proof` lead from `leaf` at `index` to `root` in a tree of
/// `size` leaves?
pub fn verify_inclusion(
    leaf: &[u8; 32],
    index: u64,
    size: u64,
    proof: &[[u8; 32]],
    root: &[u8; 32],
) -> bool {
    if index >= size || proof.len() > MAX_PROOF_HASHES {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// A checkpoint's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root_hash: Vec<u8>,
}

/// A signed note split into its text (with the final newline), its body and its
/// signature lines `(name, key hint, signature)`. Malformed signature lines are errors.
/// One signature line: key name, key hint, signature.
type NoteSignature<'a> = (&'a str, [u8; 4], Vec<u8>);

fn parse_note(envelope: &str) -> Result<(&str, Checkpoint, Vec<NoteSignature<'_>>), String> {
    if envelope.len() > MAX_CHECKPOINT_BYTES {
        return Err(format!(
            "the checkpoint is {} bytes, over the {MAX_CHECKPOINT_BYTES}-byte limit",
            envelope.len()
        ));
    }
    if envelope.chars().any(|c| c.is_control() && c != '\n') {
        return Err("the checkpoint contains control characters".into());
    }
    let split = envelope
        .rfind("\n\n")
        .ok_or("the checkpoint has no blank line before its signatures")?;
    let text = envelope.get(..split + 1).unwrap_or_default();
    let sigs = envelope.get(split + 2..).unwrap_or_default();
    let mut lines = text.lines();
    let origin = lines.next().unwrap_or_default();
    if origin.is_empty() {
        return Err("the checkpoint has no origin line".into());
    }
    let size_line = lines.next().unwrap_or_default();
    let size = size_line
        .parse::<u64>()
        .ok()
        .filter(|n| n.to_string() == size_line)
        .ok_or("the checkpoint's second line is not a tree size")?;
    let root_hash = lines
        .next()
        .and_then(|s| STANDARD.decode(s).ok())
        .filter(|h| h.len() == 32)
        .ok_or("the checkpoint's third line is not a base64 SHA-256 root hash")?;
    if !sigs.ends_with('\n') {
        return Err("the checkpoint's signatures do not end with a newline".into());
    }
    let mut out = Vec::new();
    for line in sigs.lines() {
        if out.len() == MAX_NOTE_SIGNATURES {
            return Err(format!(
                "the checkpoint has more than {MAX_NOTE_SIGNATURES} signature lines"
            ));
        }
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or("a checkpoint signature line does not start with an em dash")?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or("a checkpoint signature line has no signature")?;
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| "a checkpoint signature is not base64".to_string())?;
        let (Some(hint), Some(sig)) = (raw.get(..4), raw.get(4..)) else {
            return Err("a checkpoint signature is shorter than its key hint".into());
        };
        let hint: [u8; 4] = hint.try_into().map_err(|_| "key hint")?;
        out.push((name, hint, sig.to_vec()));
    }
    if out.is_empty() {
        return Err("the checkpoint has no signature".into());
    }
    Ok((
        text,
        Checkpoint {
            origin: origin.to_string(),
            size,
            root_hash,
        },
        out,
    ))
}

/// A Rekor v1 checkpoint: a signature whose key hint is the first 4 bytes of one of
/// `logs`' IDs must verify with that log's key.
pub fn verify_checkpoint(envelope: &str, logs: &[Log]) -> Result<Checkpoint, String> {
    let (text, cp, sigs) = parse_note(envelope)?;
    let mut tried = 0;
    for (_, hint, sig) in &sigs {
        for log in logs
            .iter()
            .filter(|l| l.log_id.get(..4) == Some(hint.as_slice()))
        {
            tried += 1;
            if log
                .key
                .as_ref()
                .is_some_and(|k| k.verify(text.as_bytes(), sig))
            {
                return Ok(cp);
            }
        }
    }
    Err(if tried == 0 {
        "the checkpoint has no signature by the log (key hint = the first 4 bytes of its ID)".into()
    } else {
        "the checkpoint signature does not verify".into()
    })
}

/// The C2SP signed-note key ID of a log key named `name`.
pub fn note_key_id(name: &str, key: &LogKey, spki: &[u8]) -> [u8; 4] {
    let h: [u8; 32] = match key {
        LogKey::Ed25519(k) => {
            let mut h = Sha256::new();
            h.update(name.as_bytes());
            h.update([0x0a, 0x01]);
            h.update(k.as_bytes());
            h.finalize().into()
        }
        LogKey::Ecdsa(_) => Sha256::digest(spki).into(),
    };
    [h[0], h[1], h[2], h[3]]
}

/// A Rekor v2 checkpoint: the origin is the log's, and the lines signed by that name
/// with the log's key ID verify (at least one; every one).
pub fn verify_checkpoint_v2(envelope: &str, log: &Log, key: &LogKey) -> Result<Checkpoint, String> {
    let (text, cp, sigs) = parse_note(envelope)?;
    let origin = log.origin();
    if cp.origin != origin {
        return Err(format!(
            "the checkpoint origin {:?} is not the log's {origin:?}",
            cp.origin
        ));
    }
    let id = note_key_id(origin, key, &log.spki);
    let mut verified = 0;
    for (name, hint, sig) in &sigs {
        if *name != origin || *hint != id {
            continue; // a witness or another key: not ours to judge
        }
        if !key.verify(text.as_bytes(), sig) {
            return Err("the log's checkpoint signature does not verify".into());
        }
        verified += 1;
    }
    if verified == 0 {
        return Err(format!(
            "the checkpoint has no signature by {origin} with key ID {}",
            hex::encode(id)
        ));
    }
    Ok(cp)
}

/// Does the Rekor entry body describe this bundle's signature, content and certificate?
pub fn check_body_binds(body: &[u8], bundle: &Value, leaf_der: &[u8]) -> Result<(), Failure> {
    check_body_binds_signer(body, bundle, Signer::Certificate(leaf_der))
}

fn mismatch(m: impl Into<String>) -> Failure {
    Failure::TlogBodyMismatch(m.into())
}

/// [`check_body_binds`] for a certificate or a public key.
pub fn check_body_binds_signer(
    body: &[u8],
    bundle: &Value,
    signer: Signer<'_>,
) -> Result<(), Failure> {
    let b: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("canonicalizedBody is not JSON: {e}")))?;
    let kind = b.get("kind").and_then(Value::as_str).unwrap_or("");
    let api = b.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let spec = b.get("spec").unwrap_or(&Value::Null);
    // v0.0.1 bodies hold the verifier as base64 PEM (a certificate or a public key).
    let pem_is_ours = |b64: Option<&str>| {
        let Some(pem) = b64.and_then(decode_b64) else {
            return false;
        };
        match signer {
            Signer::Certificate(der) => pem_cert_der(&pem).is_some_and(|d| d == der),
            Signer::Key(spki) => pem_public_key_der(&pem).is_some_and(|d| d == spki),
        }
    };
    // v0.0.2 bodies hold it as protobuf JSON: x509Certificate or publicKey rawBytes.
    let verifier_is_ours = |v: &Value| match signer {
        Signer::Certificate(der) => {
            str_at(v, &["x509Certificate", "rawBytes"])
                .and_then(decode_b64)
                .as_deref()
                == Some(der)
        }
        Signer::Key(spki) => {
            str_at(v, &["publicKey", "rawBytes"])
                .and_then(decode_b64)
                .as_deref()
                == Some(spki)
        }
    };
    let envelope_and_payload = |kind: &str| -> Result<(&Value, Vec<u8>), Failure> {
        let env = bundle.get("dsseEnvelope").ok_or_else(|| {
            mismatch(format!(
                "the entry is a{} {kind} entry but the bundle has no DSSE envelope",
                if kind.starts_with('i') { "n" } else { "" }
            ))
        })?;
        let payload = str_at(env, &["payload"])
            .and_then(decode_b64)
            .ok_or_else(|| Failure::malformed("dsseEnvelope", "payload is not base64"))?;
        Ok((env, Sha256::digest(&payload).to_vec()))
    };
    let one_signature = |theirs: Option<&Vec<Value>>,
                         env: &Value|
     -> Result<(Value, Vec<u8>), Failure> {
        let ours = env.get("signatures").and_then(Value::as_array);
        let (Some([theirs]), Some([ours])) = (theirs.map(Vec::as_slice), ours.map(Vec::as_slice))
        else {
            return Err(mismatch(
                "the entry and the envelope must each hold exactly one signature",
            ));
        };
        let sig = str_at(ours, &["sig"]).and_then(decode_b64).ok_or_else(|| {
            Failure::SignatureEncoding("the envelope signature is not base64".into())
        })?;
        Ok((theirs.clone(), sig))
    };
    // The bundle's message signature: (digest, signature), each if it decodes.
    type Decoded = (Option<Vec<u8>>, Option<Vec<u8>>);
    let message_signature = || -> Result<Decoded, Failure> {
        let ms = bundle.get("messageSignature").ok_or_else(|| {
            mismatch("the entry is a hashedrekord entry but the bundle has no message signature")
        })?;
        Ok((
            str_at(ms, &["messageDigest", "digest"]).and_then(decode_b64),
            str_at(ms, &["signature"]).and_then(decode_b64),
        ))
    };
    match (kind, api) {
        ("dsse", "0.0.1") => {
            let (env, want) = envelope_and_payload("dsse")?;
            if str_at(spec, &["payloadHash", "algorithm"]) != Some("sha256")
                || str_at(spec, &["payloadHash", "value"]) != Some(hex::encode(&want).as_str())
            {
                return Err(mismatch(
                    "the entry's payload hash is not the sha256 of this bundle's payload",
                ));
            }
            let (theirs, sig_o) =
                one_signature(spec.get("signatures").and_then(Value::as_array), env)?;
            if str_at(&theirs, &["signature"]).and_then(decode_b64) != Some(sig_o) {
                return Err(mismatch(
                    "the entry's signature is not this envelope's signature",
                ));
            }
            if !pem_is_ours(str_at(&theirs, &["verifier"])) {
                return Err(mismatch("the entry's verifier is not this bundle's signer"));
            }
            Ok(())
        }
        ("dsse", "0.0.2") => {
            let (env, want) = envelope_and_payload("dsse")?;
            let s = spec.get("dsseV002").unwrap_or(&Value::Null);
            if str_at(s, &["payloadHash", "algorithm"]) != Some("SHA2_256")
                || str_at(s, &["payloadHash", "digest"]).and_then(decode_b64) != Some(want)
            {
                return Err(mismatch(
                    "the entry's payload hash is not the sha256 of this bundle's payload",
                ));
            }
            let (theirs, sig_o) =
                one_signature(s.get("signatures").and_then(Value::as_array), env)?;
            if str_at(&theirs, &["content"]).and_then(decode_b64) != Some(sig_o) {
                return Err(mismatch(
                    "the entry's signature is not this envelope's signature",
                ));
            }
            if !verifier_is_ours(theirs.get("verifier").unwrap_or(&Value::Null)) {
                return Err(mismatch("the entry's verifier is not this bundle's signer"));
            }
            Ok(())
        }
        ("intoto", "0.0.2") => {
            // Older `cosign attest`: the envelope is in the entry, its signature base64
            // twice, its verifier under `publicKey`.
            let (env, want) = envelope_and_payload("intoto")?;
            let content = spec.get("content").unwrap_or(&Value::Null);
            if str_at(content, &["payloadHash", "algorithm"]) != Some("sha256")
                || str_at(content, &["payloadHash", "value"]) != Some(hex::encode(&want).as_str())
            {
                return Err(mismatch(
                    "the entry's payload hash is not the sha256 of this bundle's payload",
                ));
            }
            let (theirs, sig_o) = one_signature(
                content
                    .get("envelope")
                    .and_then(|e| e.get("signatures"))
                    .and_then(Value::as_array),
                env,
            )?;
            let sig_t = str_at(&theirs, &["sig"])
                .and_then(decode_b64)
                .and_then(|inner| String::from_utf8(inner).ok())
                .and_then(|inner| decode_b64(&inner));
            if sig_t != Some(sig_o) {
                return Err(mismatch(
                    "the entry's signature is not this envelope's signature",
                ));
            }
            if !pem_is_ours(str_at(&theirs, &["publicKey"])) {
                return Err(mismatch(
                    "the entry's public key is not this bundle's signer",
                ));
            }
            Ok(())
        }
        // `rekord` 0.0.1 (what cosign before 1.5 logged for `.sig` layers) names the
        // artifact hash, signature and key at the same paths; cosign accepts both.
        ("hashedrekord", "0.0.1") | ("rekord", "0.0.1") => {
            let (digest, sig_o) = message_signature()?;
            if str_at(spec, &["data", "hash", "algorithm"]) != Some("sha256")
                || digest.is_none()
                || str_at(spec, &["data", "hash", "value"]) != digest.map(hex::encode).as_deref()
            {
                return Err(mismatch(
                    "the entry's data hash is not this bundle's message digest",
                ));
            }
            let sig_t = str_at(spec, &["signature", "content"]).and_then(decode_b64);
            if sig_t.is_none() || sig_t != sig_o {
                return Err(mismatch(
                    "the entry's signature is not this bundle's signature",
                ));
            }
            if !pem_is_ours(str_at(spec, &["signature", "publicKey", "content"])) {
                return Err(mismatch(
                    "the entry's public key is not this bundle's signer",
                ));
            }
            Ok(())
        }
        ("hashedrekord", "0.0.2") => {
            // Rekor v2 logs a DSSE envelope as hashedrekord over SHA-256(PAE(type,
            // payload)) with the envelope's one signature (rekor-v2 spec §6.1.4).
            let (digest, sig_o) = if let Some(env) = bundle.get("dsseEnvelope") {
                let payload = str_at(env, &["payload"])
                    .and_then(decode_b64)
                    .ok_or_else(|| Failure::malformed("dsseEnvelope", "payload is not base64"))?;
                let pt = str_at(env, &["payloadType"]).unwrap_or("");
                // The entry holds one signature: the envelope must too.
                let sig = match env
                    .get("signatures")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                {
                    Some([one]) => str_at(one, &["sig"]).and_then(decode_b64).ok_or_else(|| {
                        Failure::SignatureEncoding("the envelope signature is not base64".into())
                    })?,
                    _ => {
                        return Err(mismatch(
                            "a hashedrekord entry over an envelope needs exactly one signature",
                        ));
                    }
                };
                (
                    Some(Sha256::digest(super::dsse::pae(pt, &payload)).to_vec()),
                    Some(sig),
                )
            } else {
                let (d, s) = message_signature()?;
                (d, s)
            };
            let s = spec.get("hashedRekordV002").unwrap_or(&Value::Null);
            if str_at(s, &["data", "algorithm"]) != Some("SHA2_256")
                || digest.is_none()
                || str_at(s, &["data", "digest"]).and_then(decode_b64) != digest
            {
                return Err(mismatch(
                    "the entry's data digest is not this bundle's message digest",
                ));
            }
            let sig_t = str_at(s, &["signature", "content"]).and_then(decode_b64);
            if sig_t.is_none() || sig_t != sig_o {
                return Err(mismatch(
                    "the entry's signature is not this bundle's signature",
                ));
            }
            if !verifier_is_ours(
                s.get("signature")
                    .and_then(|x| x.get("verifier"))
                    .unwrap_or(&Value::Null),
            ) {
                return Err(mismatch("the entry's verifier is not this bundle's signer"));
            }
            Ok(())
        }
        _ => Err(bad(format!(
            "entry kind {kind:?} version {api:?} is not supported (dsse 0.0.1/0.0.2, intoto 0.0.2, hashedrekord 0.0.1/0.0.2, rekord 0.0.1)"
        ))),
    }
}

/// DER of the (first) public key in a PEM text.
fn pem_public_key_der(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find("-----BEGIN PUBLIC KEY-----")?;
    let rest = text.get(start + "-----BEGIN PUBLIC KEY-----".len()..)?;
    let end = rest.find("-----END PUBLIC KEY-----")?;
    let b64: String = rest
        .get(..end)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(b64).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_payload_is_canonical_json() {
        // Written by hand from Rekor's SET definition: keys sorted, no whitespace,
        // body as standard padded base64, log ID as lowercase hex.
        assert_eq!(
            String::from_utf8(set_payload(b"{}", 1_734_374_576, &[0xc0, 0xd2, 0x3d], 155)).unwrap(),
            r#"{"body":"e30=","integratedTime":1734374576,"logID":"c0d23d","logIndex":155}"#
        );
        // serde_json's sorted map gives the same bytes (an independent canonicalizer).
        let v =
            serde_json::json!({"logIndex": 7, "logID": "ab", "integratedTime": 9, "body": "e30="});
        assert_eq!(
            serde_json::to_vec(&v).unwrap(),
            set_payload(b"{}", 9, &[0xab], 7)
        );
    }

    /// RFC 6962 §2.1 MTH, recursively (the definition, independent of the verifier).
    fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => leaves[0],
            n => {
                let k = (n.next_power_of_two() / 2).max(1);
                let k = if k == n { n / 2 } else { k };
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    /// RFC 6962 §2.1.1 PATH(m, D[n]), recursively.
    fn path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = n.next_power_of_two() / 2;
        let k = if k == n { n / 2 } else { k };
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    #[test]
    fn merkle_inclusion_against_the_rfc_definition() {
        for n in 1..=17usize {
            let leaves: Vec<[u8; 32]> = (0..n).map(|i| leaf_hash(&[i as u8])).collect();
            let root = mth(&leaves);
            for m in 0..n {
                let p = path(m, &leaves);
                assert!(
                    verify_inclusion(&leaves[m], m as u64, n as u64, &p, &root),
                    "{m}/{n}"
                );
                // Wrong index, wrong leaf, truncated or extended proof, flipped hash.
                if n > 1 {
                    assert!(!verify_inclusion(
                        &leaves[m],
                        ((m + 1) % n) as u64,
                        n as u64,
                        &p,
                        &root
                    ));
                    assert!(!verify_inclusion(
                        &leaves[(m + 1) % n],
                        m as u64,
                        n as u64,
                        &p,
                        &root
                    ));
                    assert!(!verify_inclusion(
                        &leaves[m],
                        m as u64,
                        n as u64,
                        &p[..p.len() - 1],
                        &root
                    ));
                    let mut q = p.clone();
                    q[0][0] ^= 1;
                    assert!(!verify_inclusion(&leaves[m], m as u64, n as u64, &q, &root));
                }
                let mut q = p.clone();
                q.push(root);
                assert!(!verify_inclusion(&leaves[m], m as u64, n as u64, &q, &root));
            }
            assert!(!verify_inclusion(
                &leaves[0],
                n as u64,
                n as u64,
                &[],
                &root
            ));
        }
        // A proof of 10^5 hashes is refused before any hashing.
        let long = vec![[0u8; 32]; 100_000];
        assert!(!verify_inclusion(&[0; 32], 0, u64::MAX, &long, &[0; 32]));
    }

    #[test]
    fn checkpoint_parsing_refuses_garbage() {
        assert!(verify_checkpoint("no separator", &[]).is_err());
        let root = STANDARD.encode([0u8; 32]);
        assert!(verify_checkpoint(&format!("o\nx\n{root}\n\n\u{2014} n AAAAAAAA\n"), &[]).is_err());
        assert!(
            verify_checkpoint(&format!("o\n01\n{root}\n\n\u{2014} n AAAAAAAA\n"), &[]).is_err()
        );
        // Well-formed but no known log.
        let e =
            verify_checkpoint(&format!("o\n1\n{root}\n\n\u{2014} n AAAAAAAA\n"), &[]).unwrap_err();
        assert!(e.contains("no signature by the log"), "{e}");
        // A million lines, or a hundred and one signatures: refused, bounded.
        let huge = format!(
            "o\n1\n{root}\n{}\n\u{2014} n AAAAAAAA\n",
            "x\n".repeat(1_000_000)
        );
        assert!(verify_checkpoint(&huge, &[]).unwrap_err().contains("limit"));
        let many = format!(
            "o\n1\n{root}\n\n{}",
            "\u{2014} n AAAAAAAA\n".repeat(MAX_NOTE_SIGNATURES + 1)
        );
        assert!(
            verify_checkpoint(&many, &[])
                .unwrap_err()
                .contains("more than")
        );
    }
}
