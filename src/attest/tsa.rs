//! RFC 3161 timestamps in a Sigstore bundle (`verificationMaterial.
//! timestampVerificationData.rfc3161Timestamps[].signedTimestamp`) against the trusted
//! root's `timestampAuthorities`, as sigstore-go's `VerifySignedTimestamp` does: each
//! token is over the bundle's signature bytes (the message signature, or the DSSE
//! envelope's one signature), signed by an authority whose chain is in the trusted root
//! (its first certificate is the TSA's signing certificate, pinned; its last is the
//! anchor), and its genTime lies in that authority's `validFor` (inclusive). Every token
//! present must verify: a bundle is refused rather than a token ignored.
//!
//! The token itself is `timestamp`'s (shared with Notary); this is the Sigstore trust
//! policy around it.

use super::dsse::decode_b64;
use super::timestamp::{self, TimestampError, TsaTrust};
use super::trust_root::TrustedRoot;
use super::verify::Failure;
use serde::Serialize;
use serde_json::Value;
use x509_cert::ext::pkix::BasicConstraints;

/// Most timestamps read from one bundle.
pub const MAX_TIMESTAMPS: usize = 16;

/// A verified timestamp: when, and by whom (the authority's `uri` in the trusted root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TsaTime {
    pub time: i64,
    pub authority: String,
    pub signer: String,
}

/// The bytes a bundle's timestamps are over: the signature.
pub fn signature_bytes(bundle: &Value) -> Result<Vec<u8>, Failure> {
    let s = if let Some(ms) = bundle.get("messageSignature") {
        ms.get("signature").and_then(Value::as_str)
    } else {
        bundle
            .get("dsseEnvelope")
            .and_then(|e| e.get("signatures"))
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(|s| s.get("sig"))
            .and_then(Value::as_str)
    };
    s.and_then(decode_b64)
        .ok_or_else(|| Failure::SignatureEncoding("the bundle signature is not base64".into()))
}

/// The timestamps of `bundle`, each verified; empty when it has none.
pub fn verify_timestamps(root: &TrustedRoot, bundle: &Value) -> Result<Vec<TsaTime>, Failure> {
    let tokens = bundle
        .get("verificationMaterial")
        .and_then(|m| m.get("timestampVerificationData"))
        .and_then(|t| t.get("rfc3161Timestamps"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if tokens.is_empty() {
        return Ok(Vec::new());
    }
    if tokens.len() > MAX_TIMESTAMPS {
        return Err(Failure::Timestamp(TimestampError::Malformed(format!(
            "{} timestamps, more than {MAX_TIMESTAMPS}",
            tokens.len()
        ))));
    }
    let message = signature_bytes(bundle)?;
    let mut out = Vec::new();
    for t in tokens {
        let der = t
            .get("signedTimestamp")
            .and_then(Value::as_str)
            // Line breaks are ignored, as Go's decoder (sigstore-go) does: tokens are
            // often pasted from `base64`, which wraps.
            .map(|s| s.replace(['\n', '\r'], ""))
            .and_then(|s| decode_b64(&s))
            .ok_or_else(|| {
                Failure::Timestamp(TimestampError::Malformed(
                    "signedTimestamp is missing or not base64".into(),
                ))
            })?;
        out.push(verify_one(root, &der, &message)?);
    }
    Ok(out)
}

fn verify_one(root: &TrustedRoot, der: &[u8], message: &[u8]) -> Result<TsaTime, Failure> {
    let token = timestamp::parse(der).map_err(Failure::Timestamp)?;
    if root.timestamp_authorities.is_empty() {
        return Err(Failure::Timestamp(TimestampError::Untrusted(
            "the trusted root lists no timestamp authority".into(),
        )));
    }
    let mut first_err = None;
    for tsa in &root.timestamp_authorities {
        let Some((anchor, _)) = tsa.chain.split_last() else {
            continue;
        };
        // The first certificate is the TSA's own unless the chain holds CAs only.
        let signer = tsa.chain.first().filter(|c| {
            !matches!(c.tbs_certificate().get_extension::<BasicConstraints>(),
                      Ok(Some((_, bc))) if bc.ca)
        });
        let trust = TsaTrust {
            anchors: std::slice::from_ref(anchor),
            intermediates: &tsa.chain,
            signer,
        };
        match token.verify(message, &trust) {
            Ok(ts) if tsa.valid_for.contains(ts.gen_time) => {
                return Ok(TsaTime {
                    time: ts.gen_time,
                    authority: tsa.uri.clone(),
                    signer: ts.signer_subject,
                });
            }
            Ok(ts) => {
                // A verified token of an authority outside its period says more than
                // another authority's mismatch.
                first_err = Some(Failure::TimestampOutsideTsaValidity {
                    gen_time: ts.gen_time,
                    authority: tsa.uri.clone(),
                });
            }
            Err(e) => {
                if first_err.is_none() {
                    first_err = Some(Failure::Timestamp(e));
                }
            }
        }
    }
    Err(first_err.unwrap_or_else(|| {
        Failure::Timestamp(TimestampError::Untrusted(
            "no timestamp authority of the trusted root has a chain".into(),
        ))
    }))
}
