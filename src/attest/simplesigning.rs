//! Cosign's legacy image signatures ("simple signing" payloads in `.sig` layers): build,
//! sign and verify, plus containers/image's on-disk form of one (its test fixtures).
//!
//! Owns the payload `{"critical":{"identity":{"docker-reference":R},"image":
//! {"docker-manifest-digest":D},"type":"cosign container image signature"},"optional":..}`
//! and the check order cosign and containers/image use: signature over the exact payload
//! bytes, then the signed digest against the image digest, then the identity. Does not
//! own the `.sig` manifest (`storage`).

use super::keys::{PrivateKey, PublicKey, SignatureError};
use super::storage::AttachedLayer;
use super::verify::{Failure, Verified, check_size};
use crate::image::Digest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = crate::image::model::media::COSIGN_SIMPLE_SIGNING;
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const COSIGN_SIGNATURE_TYPE: &str = "cosign container image signature";

#[derive(Serialize, Deserialize)]
struct Payload {
    critical: Critical,
    #[serde(default)]
    optional: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Serialize, Deserialize)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    type_: String,
}

#[derive(Serialize, Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Serialize, Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// The payload cosign signs for `docker_reference` (a repository, no tag) at `digest`,
/// byte for byte in cosign's field order.
pub fn payload(docker_reference: &str, digest: &Digest) -> Vec<u8> {
    let p = Payload {
        critical: Critical {
            identity: Identity {
                docker_reference: docker_reference.to_string(),
            },
            image: Image {
                docker_manifest_digest: digest.to_string(),
            },
            type_: COSIGN_SIGNATURE_TYPE.to_string(),
        },
        optional: None,
    };
    serde_json::to_vec(&p).unwrap_or_default()
}

/// Sign an image: the `.sig` layer (payload blob + signature annotation).
pub fn sign(key: &PrivateKey, docker_reference: &str, digest: &Digest) -> AttachedLayer {
    let payload = payload(docker_reference, digest);
    let sig = STANDARD.encode(key.sign(&payload));
    AttachedLayer {
        media_type: SIMPLE_SIGNING_MEDIA_TYPE.to_string(),
        annotations: BTreeMap::from([(SIGNATURE_ANNOTATION.to_string(), sig)]),
        payload,
    }
}

/// Drop a `:tag` and/or `@digest` so `host:5000/repo:tag` compares as `host:5000/repo`.
fn repository_of(reference: &str) -> &str {
    let r = reference.split('@').next().unwrap_or(reference);
    let last_slash = r.rfind('/').map_or(0, |i| i + 1);
    match r.get(last_slash..).and_then(|tail| tail.rfind(':')) {
        Some(colon) => r.get(..last_slash + colon).unwrap_or(r),
        None => r,
    }
}

/// Verify one `.sig` layer against the image digest. `expected_identity` (a repository,
/// tags and digests ignored on both sides) is checked when given.
pub fn verify(
    keys: &[PublicKey],
    layer: &AttachedLayer,
    image: &Digest,
    expected_identity: Option<&str>,
) -> Result<Verified, Failure> {
    if keys.is_empty() {
        return Err(Failure::NoKeys);
    }
    check_size("signature payload", &layer.payload)?;
    if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE {
        return Err(Failure::NotASignature {
            expected: SIMPLE_SIGNING_MEDIA_TYPE.to_string(),
            found: layer.media_type.clone(),
        });
    }
    let sig_b64 = layer
        .annotations
        .get(SIGNATURE_ANNOTATION)
        .ok_or(Failure::NoSignatures)?;
    if sig_b64.is_empty() {
        return Err(Failure::NoSignatures);
    }
    let sig = STANDARD.decode(sig_b64).map_err(|e| {
        Failure::SignatureEncoding(format!("signature annotation is not base64: {e}"))
    })?;
    let mut key_index = None;
    for (i, k) in keys.iter().enumerate() {
        match k.verify(&layer.payload, &sig) {
            Ok(()) => {
                key_index = Some(i);
                break;
            }
            Err(SignatureError::NotDer) => {
                return Err(Failure::SignatureEncoding(
                    SignatureError::NotDer.to_string(),
                ));
            }
            Err(SignatureError::Invalid) => {}
        }
    }
    let key_index = key_index.ok_or(Failure::BadSignature { keys: keys.len() })?;
    let p: Payload = serde_json::from_slice(&layer.payload)
        .map_err(|e| Failure::malformed("simple-signing payload", e))?;
    if p.critical.type_ != COSIGN_SIGNATURE_TYPE {
        return Err(Failure::WrongSignatureType {
            found: p.critical.type_,
        });
    }
    if p.critical.image.docker_manifest_digest != image.to_string() {
        return Err(Failure::DigestMismatch {
            expected: image.clone(),
            found: p.critical.image.docker_manifest_digest,
        });
    }
    let signed_ref = p.critical.identity.docker_reference;
    // No let-chains: the crate's MSRV is 1.85.
    if let Some(want) = expected_identity.filter(|w| repository_of(&signed_ref) != repository_of(w))
    {
        return Err(Failure::IdentityMismatch {
            expected: want.to_string(),
            found: signed_ref,
        });
    }
    Ok(Verified {
        key_index,
        format: "simple-signing",
        predicate_type: None,
        docker_reference: Some(signed_ref),
        keyless: None,
        transparency: None,
        statement: None,
    })
}

#[derive(Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ContainersImageSig {
    mime_type: String,
    payload: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// A cosign `.sig` layer in containers/image's on-disk form (what
/// [`parse_containers_image_signature`] reads; field order as containers/image writes it).
pub fn containers_image_signature(layer: &AttachedLayer) -> Vec<u8> {
    let s = ContainersImageSig {
        mime_type: layer.media_type.clone(),
        payload: STANDARD.encode(&layer.payload),
        annotations: layer.annotations.clone(),
    };
    let mut out = b"\x00sigstore-json\n".to_vec();
    out.extend(serde_json::to_vec(&s).unwrap_or_default());
    out
}

/// containers/image's on-disk cosign signature (`signature-N` files in a `dir:` image):
/// byte 0x00, `sigstore-json\n`, then `{"mimeType","payload":B64,"annotations"}`.
pub fn parse_containers_image_signature(bytes: &[u8]) -> Result<AttachedLayer, Failure> {
    const MAGIC: &[u8] = b"\x00sigstore-json\n";
    check_size("containers/image signature", bytes)?;
    let json = bytes.strip_prefix(MAGIC).ok_or_else(|| {
        Failure::malformed("containers/image signature", "no \\0sigstore-json header")
    })?;
    let s: ContainersImageSig = serde_json::from_slice(json)
        .map_err(|e| Failure::malformed("containers/image signature", e))?;
    let payload = STANDARD
        .decode(&s.payload)
        .map_err(|e| Failure::malformed("containers/image signature", format!("payload: {e}")))?;
    Ok(AttachedLayer {
        media_type: s.mime_type,
        payload,
        annotations: s.annotations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_cosigns_byte_layout() {
        let d = Digest::of(b"m");
        let p = String::from_utf8(payload("example.com/repo", &d)).unwrap();
        assert_eq!(
            p,
            format!(
                "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"example.com/repo\"}},\"image\":{{\"docker-manifest-digest\":\"{d}\"}},\"type\":\"cosign container image signature\"}},\"optional\":null}}"
            )
        );
    }

    #[test]
    fn repository_of_strips_tag_and_digest_not_port() {
        assert_eq!(repository_of("host:5000/a/b:tag"), "host:5000/a/b");
        assert_eq!(repository_of("host:5000/a/b"), "host:5000/a/b");
        assert_eq!(repository_of("a/b@sha256:00"), "a/b");
        assert_eq!(repository_of("a/b:t@sha256:00"), "a/b");
        assert_eq!(repository_of("b"), "b");
    }

    #[test]
    fn sign_then_verify_and_each_failure() {
        let key = PrivateKey::generate().unwrap();
        let pk = [key.public_key()];
        let d = Digest::of(b"img");
        let layer = sign(&key, "example.com/pause", &d);
        let ok = verify(&pk, &layer, &d, Some("example.com/pause:1.0")).unwrap();
        assert_eq!(ok.docker_reference.as_deref(), Some("example.com/pause"));
        assert!(matches!(
            verify(&pk, &layer, &Digest::of(b"other"), None),
            Err(Failure::DigestMismatch { .. })
        ));
        assert!(matches!(
            verify(&pk, &layer, &d, Some("example.com/other")),
            Err(Failure::IdentityMismatch { .. })
        ));
        let mut t = layer.clone();
        t.payload[10] ^= 1;
        assert!(matches!(
            verify(&pk, &t, &d, None),
            Err(Failure::BadSignature { .. })
        ));
        let mut t = layer.clone();
        t.annotations
            .insert(SIGNATURE_ANNOTATION.into(), "%%%".into());
        assert!(matches!(
            verify(&pk, &t, &d, None),
            Err(Failure::SignatureEncoding(_))
        ));
        let mut t = layer.clone();
        t.annotations.clear();
        assert!(matches!(
            verify(&pk, &t, &d, None),
            Err(Failure::NoSignatures)
        ));
        assert!(matches!(
            verify(&[], &layer, &d, None),
            Err(Failure::NoKeys)
        ));
    }
}
