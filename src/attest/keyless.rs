//! Offline Sigstore verification of a bundle against a trusted root file, as
//! `cosign verify-blob(-attestation) --trusted-root … --certificate-identity …
//! --certificate-oidc-issuer …` (keyless) or `--key … --trusted-root …` (keyed) does
//! without a network: the one entry point (sigstore-go's `Verify(entity, policy)`),
//! which runs the concerns, one module each, in this order:
//!
//! 1. `tsa`: every RFC 3161 timestamp verifies with an authority of the trusted root
//!    and lies in its period → verified times;
//! 2. `tlog`: every transparency-log entry verifies (Rekor v1: SET, which makes
//!    `integratedTime` a verified time; Rekor v2: inclusion proof + signed checkpoint,
//!    no time) and its log was in use at every verified time. Required: at least one
//!    entry, unless `ignore_tlog` (cosign's `--insecure-ignore-tlog`, reported);
//! 3. at least one verified time, or the bundle is refused as `missing_timestamp` (a
//!    Rekor v2 entry without a TSA timestamp proves no time); keyed signatures need one
//!    only for a Rekor v2 entry (keys have no validity window);
//! 4. `certificate` (keyless): chain, leaf profile and validity at every verified time,
//!    SCT; `identity`: a SAN and the OIDC issuer equal to an expected pair;
//! 5. (the caller's closure) the signature over the exact bytes with the leaf key or the
//!    given key, then the payload/subject/predicate checks;
//! 6. every entry body binds to this bundle (digest/payload hash, signature, verifier).
//!
//! Keyed bundles and keyed `.sig`/`.att` layers take steps 1-3 and 6 with the key as
//! verifier when a trusted root is given ([`verify_keyed_evidence`]).
//!
//! Not checked: detached SCTs, the DSSE `envelopeHash` of a dsse 0.0.1 entry (Rekor
//! hashes its own re-serialization), certificate revocation. No clock is read.
//!
//! The `sigstore` crate (sigstore-rs 0.15), evaluated with `default-features = false,
//! features = ["cert"]` as issue 13 asks: it then builds without a TLS stack, but adds 27
//! crates (`cargo tree -e normal`, unique: 306 with this module's own dependencies → 333;
//! 294 before this work: `cms`, `rsa`, `ed25519-dalek`, `sha1` added 12), among them
//! aes-gcm, pbkdf2, pkcs5, tls_codec, chrono. What it would give is not reachable: its
//! `crypto::merkle` and `CertificatePool` are `pub(crate)`, and the Merkle inclusion
//! check is compiled only with the `rekor`/`verify` features, which pull `fulcio` and
//! with it reqwest; its `bundle::verify` has no Rekor v2, signed-note or RFC 3161
//! support to check offline. Its public `CosignVerificationKey` (Ed25519, ECDSA) would
//! replace the dozen lines of `trust_root::LogKey`, not worth 27 crates; for its key
//! import see `keys`. So this stays ours: the per-signature reason codes
//! (`verify::Failure`), which its verifier does not give; Rekor v2 bodies, C2SP
//! checkpoints, RFC 3161 timestamps; RFC 6962 inclusion (`tlog::verify_inclusion`,
//! twenty lines held against the RFC's recursive definition in tests). Its
//! `sigstore_protobuf_specs` JSON types were not taken either: the bundle is read as
//! `serde_json::Value` where each missing or malformed field must become its own
//! reason, which typed deserialization would fold into one parse error.

use super::bundle::der_tlv;
use super::certificate;
use super::identity;
pub use super::identity::{CertIdentity, SubjectMatch, oidc_issuer, subject_alt_names};
use super::keys::PublicKey;
use super::tlog::{self, Signer};
pub use super::tlog::{
    Checkpoint, check_body_binds, leaf_hash, set_payload, verify_checkpoint, verify_inclusion,
};
use super::trust_root::TrustedRoot;
pub use super::tsa::TsaTime;
use super::verify::{Failure, Verified};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::Value;
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};

/// What Sigstore acceptance needs: the trusted root, the identities any of which may
/// have signed keyless (empty: keyed evidence only), and whether transparency-log
/// evidence is skipped.
#[derive(Debug, Clone)]
pub struct Keyless {
    pub root: TrustedRoot,
    pub identities: Vec<CertIdentity>,
    /// cosign's `--insecure-ignore-tlog`: entries are neither required nor checked.
    pub ignore_tlog: bool,
}

impl Keyless {
    pub fn new(root: TrustedRoot, identities: Vec<CertIdentity>) -> Keyless {
        Keyless {
            root,
            identities,
            ignore_tlog: false,
        }
    }
}

/// Who signed a keyless bundle, as established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeylessSigner {
    /// The SAN that matched.
    pub identity: String,
    pub issuer: String,
    /// Rekor v1's integration time (Unix seconds), authenticated by the SET; 0 for
    /// Rekor v2 entries (which have none) and when the log was ignored.
    pub integrated_time: i64,
    pub log_index: i64,
    /// The Rekor log (its `baseUrl` in the trusted root); empty when ignored.
    pub log: String,
    /// Whether an inclusion proof and checkpoint were present (and then verified).
    pub inclusion_proof: bool,
    /// The certificate authority (`uri` in the trusted root) that issued the leaf.
    pub certificate_authority: String,
}

/// The transparency evidence a bundle's acceptance rested on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Transparency {
    /// The verified log entries.
    pub entries: Vec<TlogEvidence>,
    /// The verified RFC 3161 timestamps.
    pub timestamps: Vec<TsaTime>,
    /// `--insecure-ignore-tlog`: the entries were not checked.
    pub tlog_ignored: bool,
    /// Every verified time (Unix seconds) the certificate was checked at.
    pub verified_times: Vec<i64>,
}

/// One verified log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TlogEvidence {
    pub log: String,
    pub log_index: i64,
    pub rekor_version: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrated_time: Option<i64>,
    pub inclusion_proof: bool,
}

/// Steps 1-3: timestamps and entries; the verified times and the entries. A keyless
/// signature always needs a verified time (its certificate's window); a keyed one only
/// to place a Rekor v2 entry in its log's period.
fn evidence(
    k: &Keyless,
    v: &Value,
    keyless: bool,
) -> Result<(Transparency, Vec<tlog::Entry>), Failure> {
    // The signature must decode before any evidence about it is weighed.
    super::tsa::signature_bytes(v)?;
    let timestamps = super::tsa::verify_timestamps(&k.root, v)?;
    // Bundles v0.2 and later must carry inclusion proofs; v0.1 may rely on the SET.
    let proof_required = v.get("mediaType").and_then(Value::as_str)
        != Some("application/vnd.dev.sigstore.bundle+json;version=0.1");
    let raw = v
        .get("verificationMaterial")
        .and_then(|m| m.get("tlogEntries"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut entries = Vec::new();
    if !k.ignore_tlog {
        if raw.is_empty() {
            return Err(Failure::BadTlogEntry(
                "the bundle has no transparency log entry (pass --insecure-ignore-tlog to accept that)"
                    .into(),
            ));
        }
        if raw.len() > 16 {
            return Err(Failure::BadTlogEntry(format!(
                "{} transparency log entries, more than 16",
                raw.len()
            )));
        }
        for e in raw {
            entries.push(tlog::verify_entry(&k.root, e, proof_required)?);
        }
    }
    let mut times: Vec<i64> = timestamps.iter().map(|t| t.time).collect();
    times.extend(entries.iter().filter_map(|e| e.integrated_time));
    times.sort_unstable();
    times.dedup();
    let v2 = entries.iter().any(|e| e.rekor_version == 2);
    if times.is_empty() && (keyless || v2) {
        return Err(Failure::MissingTimestamp(
            if v2 {
                "a Rekor v2 entry proves inclusion but no time: the bundle needs an RFC 3161 timestamp"
            } else {
                "no verified time: neither a Rekor v1 SET nor an RFC 3161 timestamp"
            }
            .into(),
        ));
    }
    // A log must have been in use at every verified time (Rekor v1 logs were selected
    // at their integratedTime already; this also holds them to the TSA times).
    for e in &entries {
        if let Some(t) = times.iter().find(|&&t| !e.log_valid_for.contains(t)) {
            return Err(Failure::BadTlogEntry(format!(
                "the log {} was not in use at the verified time {t}",
                e.log_url
            )));
        }
    }
    Ok((
        Transparency {
            entries: entries
                .iter()
                .map(|e| TlogEvidence {
                    log: e.log_url.clone(),
                    log_index: e.log_index,
                    rekor_version: e.rekor_version,
                    integrated_time: e.integrated_time,
                    inclusion_proof: e.inclusion_proof,
                })
                .collect(),
            timestamps,
            tlog_ignored: k.ignore_tlog,
            verified_times: times,
        },
        entries,
    ))
}

/// The certificates a bundle carries beyond its leaf (`x509CertificateChain`), which
/// may only serve as untrusted intermediates.
fn carried_certificates(v: &Value) -> Result<Vec<Certificate>, Failure> {
    let certs = v
        .get("verificationMaterial")
        .and_then(|m| m.get("x509CertificateChain"))
        .and_then(|c| c.get("certificates"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if certs.len() > 8 {
        return Err(Failure::malformed(
            "Sigstore bundle certificate chain",
            format!("{} certificates, more than 8", certs.len()),
        ));
    }
    certs
        .iter()
        .skip(1)
        .map(|c| {
            let der = c
                .get("rawBytes")
                .and_then(Value::as_str)
                .and_then(|s| STANDARD.decode(s).ok())
                .ok_or_else(|| {
                    Failure::malformed("Sigstore bundle certificate chain", "not base64")
                })?;
            Certificate::from_der(&der)
                .map_err(|e| Failure::malformed("Sigstore bundle certificate chain", e))
        })
        .collect()
}

/// Verify a certificate bundle (`v`, parsed) against `k`; `content` checks the signature
/// and payload with the leaf key (step 5) and its result is returned with the signer.
pub(crate) fn verify(
    k: &Keyless,
    v: &Value,
    leaf_der: &[u8],
    content: impl FnOnce(&PublicKey) -> Result<Verified, Failure>,
) -> Result<Verified, Failure> {
    verify_with_intermediates(k, v, leaf_der, &[], content)
}

/// [`verify`] with further untrusted intermediates (the legacy `.sig` chain annotation).
pub(crate) fn verify_with_intermediates(
    k: &Keyless,
    v: &Value,
    leaf_der: &[u8],
    extra: &[Certificate],
    content: impl FnOnce(&PublicKey) -> Result<Verified, Failure>,
) -> Result<Verified, Failure> {
    let leaf = Certificate::from_der(leaf_der)
        .map_err(|e| Failure::malformed("Sigstore bundle certificate", e))?;
    if leaf.to_der().ok().as_deref() != Some(leaf_der) {
        return Err(Failure::malformed(
            "Sigstore bundle certificate",
            "not canonical DER",
        ));
    }
    let mut carried = carried_certificates(v)?;
    // Structural, so before any evidence: roots come from the trusted root only. A
    // bundle that carries one is refused (sigstore-conformance bundle-with-root-cert);
    // cosign's legacy chain annotation always ends with its root, which is dropped.
    certificate::refuse_carried_roots(&carried)?;
    carried.extend(
        extra
            .iter()
            .filter(|c| c.tbs_certificate().issuer() != c.tbs_certificate().subject())
            .cloned(),
    );

    // 1-3. Timestamps, entries, verified times.
    let (transparency, entries) = evidence(k, v, true)?;

    // 4. The certificate at every verified time, and the identity.
    let chain = certificate::verify_chain(&k.root, &leaf, &carried, &transparency.verified_times)?;
    certificate::check_leaf_profile(&leaf)?;
    certificate::verify_scts(&k.root, &leaf, leaf_der, &chain.issuer)?;
    let (index, san) = identity::match_identity(&k.identities, &leaf)?;
    let id = k
        .identities
        .get(index)
        .ok_or_else(|| Failure::malformed("identity", "index"))?;

    // 5. Signature and content with the leaf key.
    let spki = leaf
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| Failure::malformed("Sigstore bundle certificate", e))?;
    let leaf_key = PublicKey::from_spki_der(&spki).map_err(|e| {
        Failure::malformed(
            "Sigstore bundle certificate",
            format!("leaf key is not ECDSA P-256/P-384: {e}"),
        )
    })?;
    let mut ok = content(&leaf_key)?;

    // 6. Every entry is about this bundle.
    for e in &entries {
        tlog::check_body_binds_signer(&e.body, v, Signer::Certificate(leaf_der))?;
    }

    let first = entries.first();
    ok.key_index = index;
    ok.keyless = Some(KeylessSigner {
        identity: san,
        issuer: id.issuer.clone(),
        integrated_time: first.and_then(|e| e.integrated_time).unwrap_or(0),
        log_index: first.map(|e| e.log_index).unwrap_or(0),
        log: first.map(|e| e.log_url.clone()).unwrap_or_default(),
        inclusion_proof: first.is_some_and(|e| e.inclusion_proof),
        certificate_authority: chain.ca.uri.clone(),
    });
    ok.transparency = Some(transparency);
    Ok(ok)
}

/// Keyed evidence (steps 1-3 and 6 with `key` as the verifier) for a bundle whose
/// signature `key` verified; the evidence is recorded in `ok`.
pub(crate) fn verify_keyed_evidence(
    k: &Keyless,
    v: &Value,
    key: &PublicKey,
    mut ok: Verified,
) -> Result<Verified, Failure> {
    let (transparency, entries) = evidence(k, v, false)?;
    for e in &entries {
        tlog::check_body_binds_signer(&e.body, v, Signer::Key(key.spki_der()))?;
    }
    ok.transparency = Some(transparency);
    Ok(ok)
}

// ---- PEM

/// DER of the (first) certificate in a PEM text, as Rekor stores verifiers.
pub(crate) fn pem_cert_der(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find("-----BEGIN CERTIFICATE-----")?;
    let rest = text.get(start + "-----BEGIN CERTIFICATE-----".len()..)?;
    let end = rest.find("-----END CERTIFICATE-----")?;
    let b64: String = rest
        .get(..end)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD.decode(b64).ok()?;
    // Exactly one DER value.
    let (_, _, after, _) = der_tlv(&der)?;
    after.is_empty().then_some(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_certificates() {
        assert!(pem_cert_der(b"nothing").is_none());
        let der = [0x30u8, 0x03, 0x02, 0x01, 0x05];
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            STANDARD.encode(der)
        );
        assert_eq!(pem_cert_der(pem.as_bytes()), Some(der.to_vec()));
        let trailing = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            STANDARD.encode([0x30, 0x00, 0x00])
        );
        assert!(pem_cert_der(trailing.as_bytes()).is_none());
    }
}
