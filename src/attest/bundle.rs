//! Sigstore bundles (v0.3, reading v0.1-v0.3) for keyed signing: a DSSE envelope or a
//! message signature plus `verificationMaterial.publicKey.hint` = base64(sha256(PKIX DER)).
//!
//! Owns writing keyed bundles and verifying them against caller-supplied keys. Keyless
//! bundles (a Fulcio certificate instead of a key hint) are verified by `keyless` when a
//! trusted root and identities are given ([`verify_bundle_with`]); without them they are
//! only checked for internal consistency (the signature against the certificate's key)
//! and then refused with [`Failure::KeylessNotTrusted`]. With a trusted root, a keyed
//! bundle's transparency evidence (log entries, RFC 3161 timestamps) is verified too
//! (`keyless::verify_keyed_evidence`). We write no tlog entries or timestamps (offline,
//! keyed).
//!
//! Hand-written because no light Rust crate writes bundles (see `keys` for `sigstore`).

use super::dsse::{self, Envelope, decode_b64};
use super::keyless::Keyless;
use super::keys::{PrivateKey, PublicKey, SignatureError};
use super::statement::{ResourceDescriptor, Statement};
use super::verify::{Failure, Verified, check_size};
use crate::image::Digest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

pub const BUNDLE_V03_MEDIA_TYPE: &str = crate::image::model::media::SIGSTORE_BUNDLE_V03;
/// The predicate type cosign v3 uses for image signatures in bundle form: a statement
/// whose subject is the image and whose predicate is empty.
pub const COSIGN_SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";

fn accepted_media_type(mt: &str) -> bool {
    matches!(
        mt,
        "application/vnd.dev.sigstore.bundle.v0.3+json"
            | "application/vnd.dev.sigstore.bundle+json;version=0.3"
            | "application/vnd.dev.sigstore.bundle+json;version=0.2"
            | "application/vnd.dev.sigstore.bundle+json;version=0.1"
    )
}

fn envelope_json_value(env: &Envelope) -> Value {
    json!({
        "payload": STANDARD.encode(&env.payload),
        "payloadType": env.payload_type,
        "signatures": env.signatures.iter().map(|s| json!({"sig": s.sig, "keyid": s.keyid})).collect::<Vec<_>>(),
    })
}

fn keyed_material(key: &PublicKey) -> Value {
    json!({"publicKey": {"hint": key.hint()}, "tlogEntries": []})
}

/// A keyed v0.3 bundle around a DSSE envelope signed by `key`.
pub fn bundle_envelope(env: &Envelope, key: &PublicKey) -> Vec<u8> {
    let b = json!({
        "mediaType": BUNDLE_V03_MEDIA_TYPE,
        "verificationMaterial": keyed_material(key),
        "dsseEnvelope": envelope_json_value(env),
    });
    serde_json::to_vec(&b).unwrap_or_default()
}

/// Sign `statement` and wrap it in a keyed v0.3 bundle.
pub fn sign_statement_bundle(statement: &Statement, key: &PrivateKey) -> Vec<u8> {
    bundle_envelope(&dsse::sign_statement(statement, key), &key.public_key())
}

/// The statement cosign v3 signs for an image in bundle form.
pub fn image_signature_statement(repository: &str, image: &Digest) -> Statement {
    Statement::new(
        vec![ResourceDescriptor::named(repository, image)],
        COSIGN_SIGN_PREDICATE_TYPE,
        json!({}),
    )
}

/// A keyed v0.3 bundle with a message signature over `message` (a blob).
pub fn sign_message_bundle(message: &[u8], key: &PrivateKey) -> Vec<u8> {
    let digest = Digest::of(message);
    let raw = hex::decode(digest.hex()).unwrap_or_default();
    let b = json!({
        "mediaType": BUNDLE_V03_MEDIA_TYPE,
        "verificationMaterial": keyed_material(&key.public_key()),
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": STANDARD.encode(raw)},
            "signature": STANDARD.encode(key.sign(message)),
        },
    });
    serde_json::to_vec(&b).unwrap_or_default()
}

/// The predicate type of a DSSE bundle's statement, without verifying anything (for
/// referrer annotations and listings).
pub fn peek_predicate_type(bundle: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(bundle).ok()?;
    let payload = decode_b64(v.get("dsseEnvelope")?.get("payload")?.as_str()?)?;
    let s: Value = serde_json::from_slice(&payload).ok()?;
    s.get("predicateType")?.as_str().map(str::to_string)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// Verify a bundle with `keys`. For a DSSE bundle, `expected` is the image (statement
/// subject) digest and `predicate_type` filters; for a message-signature bundle,
/// `expected` is the sha256 of the signed blob (and a predicate filter fails it).
pub fn verify_bundle(
    keys: &[PublicKey],
    bundle: &[u8],
    expected: &Digest,
    predicate_type: Option<&str>,
) -> Result<Verified, Failure> {
    verify_bundle_with(keys, None, bundle, expected, predicate_type)
}

/// [`verify_bundle`], and with `keyless` given, certificate bundles are verified against
/// its trusted root and identities (`keyless`) instead of refused.
pub fn verify_bundle_with(
    keys: &[PublicKey],
    keyless: Option<&Keyless>,
    bundle: &[u8],
    expected: &Digest,
    predicate_type: Option<&str>,
) -> Result<Verified, Failure> {
    check_size("Sigstore bundle", bundle)?;
    let v: Value =
        serde_json::from_slice(bundle).map_err(|e| Failure::malformed("Sigstore bundle", e))?;
    if !v.is_object() {
        return Err(Failure::malformed("Sigstore bundle", "not a JSON object"));
    }
    // The content is a oneof: with both, which one a verifier checks decides what passes.
    if v.get("dsseEnvelope").is_some() && v.get("messageSignature").is_some() {
        return Err(Failure::malformed(
            "Sigstore bundle",
            "holds both dsseEnvelope and messageSignature (a bundle has exactly one)",
        ));
    }
    let media_type = v.get("mediaType").and_then(Value::as_str).unwrap_or("");
    if !accepted_media_type(media_type) {
        return Err(Failure::UnsupportedBundle {
            found: media_type.to_string(),
        });
    }
    let vm = v
        .get("verificationMaterial")
        .ok_or_else(|| Failure::malformed("Sigstore bundle", "no verificationMaterial"))?;
    // Which keys may have signed: the hinted one, or every key when the hint is empty.
    let candidates: Vec<usize> = if let Some(pk) = vm.get("publicKey") {
        if keys.is_empty() {
            return Err(Failure::NoKeys);
        }
        let hint = pk.get("hint").and_then(Value::as_str).unwrap_or("");
        if hint.is_empty() {
            (0..keys.len()).collect()
        } else {
            let m: Vec<usize> = (0..keys.len())
                .filter(|&i| keys.get(i).is_some_and(|k| k.hint() == hint))
                .collect();
            if m.is_empty() {
                return Err(Failure::WrongHint {
                    expected: keys.iter().map(PublicKey::hint).collect(),
                    found: hint.to_string(),
                });
            }
            m
        }
    } else {
        let cert_b64 = str_at(vm, &["certificate", "rawBytes"]).or_else(|| {
            vm.get("x509CertificateChain")?
                .get("certificates")?
                .get(0)?
                .get("rawBytes")?
                .as_str()
        });
        let cert_b64 = cert_b64.ok_or_else(|| {
            Failure::malformed("Sigstore bundle", "no publicKey hint and no certificate")
        })?;
        let der = STANDARD
            .decode(cert_b64)
            .map_err(|e| Failure::malformed("Sigstore bundle certificate", e))?;
        if let Some(k) = keyless {
            return super::keyless::verify(k, &v, &der, |leaf| {
                check_content(
                    std::slice::from_ref(leaf),
                    &[0],
                    &v,
                    expected,
                    predicate_type,
                )
            });
        }
        let spki = certificate_spki(&der)
            .ok_or_else(|| Failure::malformed("Sigstore bundle certificate", "not X.509 DER"))?;
        let cert_key = PublicKey::from_spki_der(spki)
            .map_err(|e| Failure::malformed("Sigstore bundle certificate", e))?;
        // Internal consistency only: a wrong signature is reported as such, a right one
        // is still not trusted.
        check_content(&[cert_key], &[0], &v, expected, predicate_type)?;
        return Err(Failure::KeylessNotTrusted);
    };
    let ok = check_content(keys, &candidates, &v, expected, predicate_type)?;
    // With a trusted root, a keyed bundle's log entries and timestamps are evidence to
    // verify too (cosign requires the log by default).
    match (keyless, keys.get(ok.key_index)) {
        (Some(k), Some(key)) => super::keyless::verify_keyed_evidence(k, &v, key, ok),
        _ => Ok(ok),
    }
}

fn check_content(
    keys: &[PublicKey],
    candidates: &[usize],
    v: &Value,
    expected: &Digest,
    predicate_type: Option<&str>,
) -> Result<Verified, Failure> {
    let chosen: Vec<PublicKey> = candidates
        .iter()
        .filter_map(|&i| keys.get(i).cloned())
        .collect();
    if let Some(env_v) = v.get("dsseEnvelope") {
        let env = Envelope::from_json(
            &serde_json::to_vec(env_v).map_err(|e| Failure::malformed("dsseEnvelope", e))?,
        )?;
        let mut ok = dsse::verify_attestation_envelope(&chosen, &env, expected, predicate_type)?;
        ok.key_index = candidates
            .get(ok.key_index)
            .copied()
            .unwrap_or(ok.key_index);
        ok.format = "bundle";
        return Ok(ok);
    }
    if let Some(ms) = v.get("messageSignature") {
        let algo = str_at(ms, &["messageDigest", "algorithm"]).unwrap_or("");
        if algo != "SHA2_256" {
            return Err(Failure::malformed(
                "messageSignature",
                format!("digest algorithm {algo:?} is not SHA2_256"),
            ));
        }
        let found = str_at(ms, &["messageDigest", "digest"])
            .and_then(decode_b64)
            .ok_or_else(|| {
                Failure::malformed("messageSignature", "messageDigest.digest is not base64")
            })?;
        let want = hex::decode(expected.hex()).unwrap_or_default();
        if found != want {
            return Err(Failure::MessageDigestMismatch {
                expected: expected.clone(),
                found: format!("sha256:{}", hex::encode(&found)),
            });
        }
        if let Some(p) = predicate_type {
            return Err(Failure::PredicateTypeMismatch {
                expected: p.to_string(),
                found: "(message signature: no predicate)".into(),
            });
        }
        let sig_text = str_at(ms, &["signature"]).unwrap_or("");
        if sig_text.is_empty() {
            return Err(Failure::NoSignatures);
        }
        let sig = decode_b64(sig_text).ok_or_else(|| {
            Failure::SignatureEncoding("messageSignature.signature is not base64".into())
        })?;
        let prehash: [u8; 32] = want
            .as_slice()
            .try_into()
            .map_err(|_| Failure::malformed("expected digest", "not 32 bytes"))?;
        for (&i, k) in candidates.iter().zip(&chosen) {
            match k.verify_sha256_prehash(&prehash, &sig) {
                Ok(()) => {
                    return Ok(Verified {
                        key_index: i,
                        format: "bundle",
                        predicate_type: None,
                        docker_reference: None,
                        keyless: None,
                        transparency: None,
                        statement: None,
                    });
                }
                Err(SignatureError::NotDer) => {
                    return Err(Failure::SignatureEncoding(
                        SignatureError::NotDer.to_string(),
                    ));
                }
                Err(SignatureError::Invalid) => {}
            }
        }
        return Err(Failure::BadSignature { keys: chosen.len() });
    }
    Err(Failure::malformed(
        "Sigstore bundle",
        "neither dsseEnvelope nor messageSignature",
    ))
}

/// One DER TLV: (tag, content, rest after this TLV, the whole TLV).
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

pub(crate) fn der_tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, rest) = (rest.get(..n)?, rest.get(n..)?);
        (
            bytes.iter().fold(0usize, |a, &b| (a << 8) | b as usize),
            rest,
        )
    };
    let content = rest.get(..len)?;
    let after = rest.get(len..)?;
    let whole = input.get(..input.len() - after.len())?;
    Some((tag, content, after, whole))
}

/// The SubjectPublicKeyInfo (whole TLV) of an X.509 certificate. A DER walk of six
/// fields does not justify an X.509 crate; the key found is then parsed strictly.
pub(crate) fn certificate_spki(cert: &[u8]) -> Option<&[u8]> {
    let (tag, cert_body, _, _) = der_tlv(cert)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, mut tbs, _, _) = der_tlv(cert_body)?;
    if tag != 0x30 {
        return None;
    }
    // [0] version is optional.
    if tbs.first() == Some(&0xa0) {
        tbs = der_tlv(tbs)?.2;
    }
    // serialNumber, signature, issuer, validity, subject.
    for _ in 0..5 {
        tbs = der_tlv(tbs)?.2;
    }
    let (tag, _, _, whole) = der_tlv(tbs)?;
    (tag == 0x30).then_some(whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_dsse_bundle_round_trip_and_hint_checks() {
        let key = PrivateKey::generate().unwrap();
        let other = PrivateKey::generate().unwrap();
        let img = Digest::of(b"image");
        let stmt = image_signature_statement("example.com/pause", &img);
        let b = sign_statement_bundle(&stmt, &key);
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(
            v["verificationMaterial"]["publicKey"]["hint"],
            key.public_key().hint()
        );
        let ok = verify_bundle(&[other.public_key(), key.public_key()], &b, &img, None).unwrap();
        assert_eq!(ok.key_index, 1);
        assert_eq!(
            ok.predicate_type.as_deref(),
            Some(COSIGN_SIGN_PREDICATE_TYPE)
        );
        assert_eq!(
            peek_predicate_type(&b).as_deref(),
            Some(COSIGN_SIGN_PREDICATE_TYPE)
        );
        assert!(matches!(
            verify_bundle(&[other.public_key()], &b, &img, None),
            Err(Failure::WrongHint { .. })
        ));
        // A hint pointing at the other key: the right hint, the wrong signer.
        let mut forged = v.clone();
        forged["verificationMaterial"]["publicKey"]["hint"] = json!(other.public_key().hint());
        let forged = serde_json::to_vec(&forged).unwrap();
        assert!(matches!(
            verify_bundle(&[other.public_key(), key.public_key()], &forged, &img, None),
            Err(Failure::BadSignature { .. })
        ));
        let mut mt = v.clone();
        mt["mediaType"] = json!("application/vnd.dev.sigstore.bundle.v9.9+json");
        assert!(matches!(
            verify_bundle(
                &[key.public_key()],
                &serde_json::to_vec(&mt).unwrap(),
                &img,
                None
            ),
            Err(Failure::UnsupportedBundle { .. })
        ));
    }

    #[test]
    fn message_bundle_round_trip() {
        let key = PrivateKey::generate().unwrap();
        let b = sign_message_bundle(b"blob", &key);
        let pk = [key.public_key()];
        assert!(verify_bundle(&pk, &b, &Digest::of(b"blob"), None).is_ok());
        assert!(matches!(
            verify_bundle(&pk, &b, &Digest::of(b"blob2"), None),
            Err(Failure::MessageDigestMismatch { .. })
        ));
        assert!(matches!(
            verify_bundle(&pk, &b, &Digest::of(b"blob"), Some("x")),
            Err(Failure::PredicateTypeMismatch { .. })
        ));
    }

    #[test]
    fn a_bundle_with_both_contents_is_refused() {
        let key = PrivateKey::generate().unwrap();
        let img = Digest::of(b"image");
        let dsse: Value = serde_json::from_slice(&sign_statement_bundle(
            &image_signature_statement("example.com/pause", &img),
            &key,
        ))
        .unwrap();
        let msg: Value = serde_json::from_slice(&sign_message_bundle(b"blob", &key)).unwrap();
        let mut both = dsse.clone();
        both["messageSignature"] = msg["messageSignature"].clone();
        let e = verify_bundle(
            &[key.public_key()],
            &serde_json::to_vec(&both).unwrap(),
            &img,
            None,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("both dsseEnvelope and messageSignature"),
            "{e}"
        );
    }

    #[test]
    fn der_walker_refuses_garbage() {
        assert!(certificate_spki(b"").is_none());
        assert!(certificate_spki(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
        assert!(certificate_spki(&[0x30, 0x02, 0x30, 0x00]).is_none());
    }
}
