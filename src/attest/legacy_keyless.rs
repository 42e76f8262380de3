//! Cosign's legacy keyless signatures and attestations: `.sig` / `.att` layers that
//! carry their Fulcio certificate and Rekor entry in layer annotations (what `cosign
//! sign` / `cosign attest` write without `--new-bundle-format`; e.g. every image on
//! registry.k8s.io):
//!
//! - `dev.cosignproject.cosign/signature`: base64 signature over the layer blob (`.sig`;
//!   empty for `.att`, whose blob is a DSSE envelope carrying its own signature);
//! - `dev.sigstore.cosign/certificate`: the Fulcio leaf (PEM);
//! - `dev.sigstore.cosign/chain`: intermediates and root (PEM; used as untrusted
//!   intermediates only, never as anchors: a path must end at a CA of the trusted root);
//! - `dev.sigstore.cosign/bundle`: `{"SignedEntryTimestamp":B64,"Payload":{"body":B64,
//!   "integratedTime":N,"logIndex":N,"logID":HEX}}` (no inclusion proof);
//! - `dev.sigstore.cosign/rfc3161timestamp` (optional): `{"SignedRFC3161Timestamp":B64}`,
//!   an RFC 3161 timestamp over the signature, verified as a bundle's.
//!
//! Keyed layers that carry the Rekor bundle annotation get it verified (against the
//! key) when a trusted root is given, as cosign does; a keyed layer without one is then
//! refused unless the log is ignored (`--insecure-ignore-tlog`).
//!
//! Owns reading those annotations and the choice between keyed and keyless checks for a
//! layer. The checks themselves are `keyless`'s: the layer is read as the Sigstore
//! bundle v0.1 it is equivalent to ([`to_bundle_v01`]: a message signature over the
//! payload's sha256 for `.sig`, the DSSE envelope for `.att`, one tlog entry with an
//! inclusion promise and no proof), and `keyless::verify` checks SET, chain, SCTs,
//! identity, signature and content, and that the entry describes this signature. So a
//! legacy layer and a bundle pass or fail for the same reasons with the same codes.
//! Not here: keyed checks (`simplesigning`, `dsse`), storage (`storage`, `attach`).

use super::bundle::certificate_spki;
use super::dsse;
use super::keyless::{Keyless, pem_cert_der};
use super::keys::PublicKey;
use super::simplesigning::{self, SIGNATURE_ANNOTATION};
use super::storage::AttachedLayer;
use super::verify::{Failure, Verified};
use crate::image::Digest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
pub const RFC3161_ANNOTATION: &str = "dev.sigstore.cosign/rfc3161timestamp";
/// The bundle media type a legacy layer is read as.
pub const BUNDLE_V01_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle+json;version=0.1";

/// cosign's `bundle.RekorBundle`.
#[derive(Deserialize)]
struct RekorBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    signed_entry_timestamp: String,
    #[serde(rename = "Payload")]
    payload: RekorPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RekorPayload {
    body: String,
    integrated_time: i64,
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

/// Does this layer carry a Fulcio certificate (a keyless signature)?
pub fn is_keyless(layer: &AttachedLayer) -> bool {
    layer
        .annotations
        .get(CERTIFICATE_ANNOTATION)
        .is_some_and(|c| !c.trim().is_empty())
}

fn leaf_der(layer: &AttachedLayer) -> Result<Vec<u8>, Failure> {
    let pem = layer
        .annotations
        .get(CERTIFICATE_ANNOTATION)
        .ok_or_else(|| Failure::malformed("certificate annotation", "missing"))?;
    pem_cert_der(pem.as_bytes()).ok_or_else(|| {
        Failure::malformed(
            "certificate annotation",
            "not one PEM CERTIFICATE block of base64 DER",
        )
    })
}

#[derive(Deserialize)]
struct Rfc3161Json {
    #[serde(rename = "SignedRFC3161Timestamp")]
    signed: String,
}

/// The chain annotation's certificates (untrusted intermediates).
fn chain_certificates(layer: &AttachedLayer) -> Result<Vec<x509_cert::Certificate>, Failure> {
    use x509_cert::der::Decode;
    let Some(pem) = layer.annotations.get(CHAIN_ANNOTATION) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for block in pem.split("-----END CERTIFICATE-----") {
        if !block.contains("-----BEGIN CERTIFICATE-----") {
            continue;
        }
        if out.len() == 8 {
            return Err(Failure::malformed(
                "chain annotation",
                "more than 8 certificates",
            ));
        }
        let der = pem_cert_der(format!("{block}-----END CERTIFICATE-----\n").as_bytes())
            .ok_or_else(|| Failure::malformed("chain annotation", "not PEM certificates"))?;
        out.push(
            x509_cert::Certificate::from_der(&der)
                .map_err(|e| Failure::malformed("chain annotation", e))?,
        );
    }
    Ok(out)
}

/// The Sigstore bundle v0.1 equivalent to a legacy keyless layer: the leaf as
/// `x509CertificateChain` (the chain annotation is passed separately: it only ever
/// provides untrusted intermediates), the Rekor entry with its SET as inclusion promise,
/// the RFC 3161 timestamp, and a `messageSignature` (`.sig`: sha256 of the blob, the
/// signature annotation) or the `dsseEnvelope` (`.att`: the blob). Errors name the
/// annotation that is malformed.
pub fn to_bundle_v01(layer: &AttachedLayer) -> Result<Value, Failure> {
    let der = leaf_der(layer)?;
    let mut b = layer_bundle(layer, true)?;
    b["verificationMaterial"]["x509CertificateChain"] =
        json!({"certificates": [{"rawBytes": STANDARD.encode(&der)}]});
    Ok(b)
}

/// The bundle a layer is read as, without verification material for the signer; the
/// Rekor annotation is required when `need_rekor` (keyless), else read when present.
fn layer_bundle(layer: &AttachedLayer, need_rekor: bool) -> Result<Value, Failure> {
    super::verify::check_size("signature layer", &layer.payload)?;
    let mut bundle = json!({
        "mediaType": BUNDLE_V01_MEDIA_TYPE,
        "verificationMaterial": {"tlogEntries": []},
    });
    match layer.annotations.get(BUNDLE_ANNOTATION) {
        Some(a) => {
            bundle["verificationMaterial"]["tlogEntries"] = json!([rekor_entry(a)?]);
        }
        None if need_rekor => {
            return Err(Failure::BadTlogEntry(format!(
                "the layer has a certificate but no Rekor bundle annotation ({BUNDLE_ANNOTATION}); \
                 online Rekor lookups are not done"
            )));
        }
        None => {}
    }
    if let Some(t) = layer
        .annotations
        .get(RFC3161_ANNOTATION)
        .filter(|t| !t.trim().is_empty())
    {
        let t: Rfc3161Json = serde_json::from_str(t)
            .map_err(|e| Failure::malformed("RFC 3161 timestamp annotation", e))?;
        bundle["verificationMaterial"]["timestampVerificationData"] =
            json!({"rfc3161Timestamps": [{"signedTimestamp": t.signed}]});
    }
    let sig = layer
        .annotations
        .get(SIGNATURE_ANNOTATION)
        .map(String::as_str)
        .unwrap_or("");
    if sig.is_empty() {
        let env: Value = serde_json::from_slice(&layer.payload)
            .map_err(|e| Failure::malformed("DSSE envelope", e))?;
        bundle["dsseEnvelope"] = env;
    } else {
        bundle["messageSignature"] = json!({
            "messageDigest": {
                "algorithm": "SHA2_256",
                "digest": STANDARD.encode(Sha256::digest(&layer.payload)),
            },
            "signature": sig,
        });
    }
    Ok(bundle)
}

fn rekor_entry(annotation: &str) -> Result<Value, Failure> {
    let b: RekorBundle = serde_json::from_str(annotation)
        .map_err(|e| Failure::malformed("Rekor bundle annotation", e))?;
    let body = STANDARD
        .decode(&b.payload.body)
        .map_err(|e| Failure::malformed("Rekor bundle annotation", format!("body: {e}")))?;
    // Re-encoded when the SET is checked: refuse spellings that would not round-trip.
    let log_id = hex::decode(&b.payload.log_id)
        .ok()
        .filter(|id| hex::encode(id) == b.payload.log_id)
        .ok_or_else(|| {
            Failure::malformed("Rekor bundle annotation", "logID is not lowercase hex")
        })?;
    let body_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let kind = body_json.get("kind").and_then(Value::as_str).unwrap_or("");
    let version = body_json
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    Ok(json!({
        "logIndex": b.payload.log_index.to_string(),
        "logId": {"keyId": STANDARD.encode(&log_id)},
        "kindVersion": {"kind": kind, "version": version},
        "integratedTime": b.payload.integrated_time.to_string(),
        "inclusionPromise": {"signedEntryTimestamp": b.signed_entry_timestamp},
        "canonicalizedBody": STANDARD.encode(&body),
    }))
}

/// Keyless trust for one layer: `keyless::verify` with `content` run on the leaf key and
/// the chain annotation as untrusted intermediates.
fn verify_keyless(
    k: &Keyless,
    layer: &AttachedLayer,
    content: impl FnOnce(&PublicKey) -> Result<Verified, Failure>,
) -> Result<Verified, Failure> {
    let bundle = to_bundle_v01(layer)?;
    let der = leaf_der(layer)?;
    let chain = chain_certificates(layer)?;
    super::keyless::verify_with_intermediates(k, &bundle, &der, &chain, content)
}

/// A keyed verdict, and with a trusted root the layer's transparency evidence against
/// the key that verified.
fn with_keyed_evidence(
    keys: &[PublicKey],
    keyless: Option<&Keyless>,
    layer: &AttachedLayer,
    keyed: Result<Verified, Failure>,
) -> Result<Verified, Failure> {
    let (Some(k), Ok(ok)) = (keyless, &keyed) else {
        return keyed;
    };
    let Some(key) = keys.get(ok.key_index) else {
        return keyed;
    };
    let bundle = layer_bundle(layer, false)?;
    super::keyless::verify_keyed_evidence(k, &bundle, key, ok.clone())
}

/// No trusted root: check the signature against the certificate's own key (a wrong
/// one is reported as such), then refuse as not trusted.
fn untrusted(
    layer: &AttachedLayer,
    content: impl FnOnce(&PublicKey) -> Result<Verified, Failure>,
) -> Result<Verified, Failure> {
    let der = leaf_der(layer)?;
    let spki = certificate_spki(&der)
        .ok_or_else(|| Failure::malformed("certificate annotation", "not X.509 DER"))?;
    let key = PublicKey::from_spki_der(spki)
        .map_err(|e| Failure::malformed("certificate annotation", e))?;
    content(&key)?;
    Err(Failure::KeylessNotTrusted)
}

/// A keyed verdict that says nothing about a certificate signature: no key given, or
/// none verified.
fn keyed_inconclusive(r: &Result<Verified, Failure>) -> bool {
    matches!(r, Err(Failure::NoKeys | Failure::BadSignature { .. }))
}

/// One `.sig` layer: keyed exactly as `simplesigning::verify`; a layer with a
/// certificate that no key verifies is then checked keyless against `keyless` (or
/// refused as `keyless_not_trusted` without it).
pub fn verify_sig_layer(
    keys: &[PublicKey],
    keyless: Option<&Keyless>,
    layer: &AttachedLayer,
    image: &Digest,
    identity: Option<&str>,
) -> Result<Verified, Failure> {
    let keyed = simplesigning::verify(keys, layer, image, identity);
    if !is_keyless(layer) || !keyed_inconclusive(&keyed) {
        return with_keyed_evidence(keys, keyless, layer, keyed);
    }
    let content = |leaf: &PublicKey| {
        simplesigning::verify(std::slice::from_ref(leaf), layer, image, identity)
    };
    match keyless {
        Some(k) => verify_keyless(k, layer, content),
        None => untrusted(layer, content),
    }
}

/// One `.att` layer (a DSSE envelope): as [`verify_sig_layer`], with the attestation
/// checks of `dsse::verify_attestation`.
pub fn verify_att_layer(
    keys: &[PublicKey],
    keyless: Option<&Keyless>,
    layer: &AttachedLayer,
    image: &Digest,
    predicate_type: Option<&str>,
) -> Result<Verified, Failure> {
    let keyed = dsse::verify_attestation(keys, &layer.payload, image, predicate_type);
    if !is_keyless(layer) || !keyed_inconclusive(&keyed) {
        return with_keyed_evidence(keys, keyless, layer, keyed);
    }
    let content = |leaf: &PublicKey| {
        dsse::verify_attestation(
            std::slice::from_ref(leaf),
            &layer.payload,
            image,
            predicate_type,
        )
    };
    match keyless {
        Some(k) => verify_keyless(k, layer, content),
        None => untrusted(layer, content),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn layer(annotations: &[(&str, &str)]) -> AttachedLayer {
        AttachedLayer {
            media_type: simplesigning::SIMPLE_SIGNING_MEDIA_TYPE.into(),
            payload: b"{}".to_vec(),
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMAMCAQU=\n-----END CERTIFICATE-----\n";

    #[test]
    fn conversion_maps_each_annotation() {
        let body = br#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}"#;
        let bundle = json!({"SignedEntryTimestamp": "c2V0",
            "Payload": {"body": STANDARD.encode(body), "integratedTime": 17,
                        "logIndex": 5, "logID": "c0d2"}})
        .to_string();
        let l = layer(&[
            (CERTIFICATE_ANNOTATION, PEM),
            (BUNDLE_ANNOTATION, &bundle),
            (SIGNATURE_ANNOTATION, "c2ln"),
        ]);
        let b = to_bundle_v01(&l).unwrap();
        assert_eq!(b["mediaType"], BUNDLE_V01_MEDIA_TYPE);
        let e = &b["verificationMaterial"]["tlogEntries"][0];
        assert_eq!(e["logIndex"], "5");
        assert_eq!(e["integratedTime"], "17");
        assert_eq!(e["logId"]["keyId"], "wNI=");
        assert_eq!(e["kindVersion"]["kind"], "hashedrekord");
        assert_eq!(e["inclusionPromise"]["signedEntryTimestamp"], "c2V0");
        assert_eq!(
            b["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"],
            "MAMCAQU="
        );
        // sha256("{}"), by `printf '{}' | sha256sum`.
        assert_eq!(
            hex::encode(
                STANDARD
                    .decode(
                        b["messageSignature"]["messageDigest"]["digest"]
                            .as_str()
                            .unwrap()
                    )
                    .unwrap()
            ),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(b["messageSignature"]["signature"], "c2ln");
    }

    #[test]
    fn malformed_annotations_are_named() {
        let l = layer(&[(CERTIFICATE_ANNOTATION, PEM)]);
        assert!(matches!(to_bundle_v01(&l), Err(Failure::BadTlogEntry(_))));
        let l = layer(&[(CERTIFICATE_ANNOTATION, PEM), (BUNDLE_ANNOTATION, "{")]);
        assert!(matches!(
            to_bundle_v01(&l),
            Err(Failure::Malformed {
                what: "Rekor bundle annotation",
                ..
            })
        ));
        let upper = json!({"SignedEntryTimestamp": "", "Payload": {"body": "e30=",
            "integratedTime": 1, "logIndex": 1, "logID": "C0D2"}})
        .to_string();
        let l = layer(&[(CERTIFICATE_ANNOTATION, PEM), (BUNDLE_ANNOTATION, &upper)]);
        assert!(matches!(to_bundle_v01(&l), Err(Failure::Malformed { .. })));
        let l = layer(&[(CERTIFICATE_ANNOTATION, "not pem")]);
        assert!(matches!(
            to_bundle_v01(&l),
            Err(Failure::Malformed {
                what: "certificate annotation",
                ..
            })
        ));
        assert!(!is_keyless(&layer(&[(CERTIFICATE_ANNOTATION, " ")])));
    }
}
