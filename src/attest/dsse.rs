//! DSSE (Dead Simple Signing Envelope) v1: the pre-authentication encoding, signing and
//! verifying envelopes, and checking the in-toto statement inside.
//!
//! Owns the envelope JSON `{"payloadType","payload","signatures":[{"keyid","sig"}]}` and
//! PAE = `"DSSEv1" SP len(type) SP type SP len(payload) SP payload`. Does not own where
//! envelopes are stored (`storage`) or bundles around them (`bundle`).
//!
//! Hand-written: the format is a dozen lines; the Rust DSSE crates either pull a whole
//! in-toto or sigstore stack or do not expose per-signature results.

use super::keys::{PrivateKey, PublicKey, SignatureError};
use super::statement::{self, Statement};
use super::verify::{Failure, Verified, check_size};
use crate::image::Digest;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

/// The payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A DSSE envelope with its payload decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature; `sig` is still base64 text as found, so that a malformed one is
/// reported for itself rather than failing the whole envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    #[serde(default)]
    pub keyid: String,
    pub sig: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeJson {
    payload_type: String,
    payload: String,
    signatures: Vec<EnvelopeSignature>,
}

/// DSSE v1 pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// DSSE allows standard or URL-safe base64, padded or not.
pub(crate) fn decode_b64(s: &str) -> Option<Vec<u8>> {
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
}

impl Envelope {
    /// Sign `payload` with one key. `keyid` is left empty as cosign does; verifiers match
    /// keys by trying them.
    pub fn sign(payload_type: &str, payload: &[u8], key: &PrivateKey) -> Envelope {
        let sig = key.sign(&pae(payload_type, payload));
        Envelope {
            payload_type: payload_type.to_string(),
            payload: payload.to_vec(),
            signatures: vec![EnvelopeSignature {
                keyid: String::new(),
                sig: STANDARD.encode(sig),
            }],
        }
    }

    /// Compact JSON, fields in the order the DSSE spec lists them.
    pub fn to_json(&self) -> Vec<u8> {
        let json = EnvelopeJson {
            payload_type: self.payload_type.clone(),
            payload: STANDARD.encode(&self.payload),
            signatures: self.signatures.clone(),
        };
        // Serializing strings and a Vec of plain structs cannot fail.
        serde_json::to_vec(&json).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Envelope, Failure> {
        check_size("DSSE envelope", bytes)?;
        let json: EnvelopeJson =
            serde_json::from_slice(bytes).map_err(|e| Failure::malformed("DSSE envelope", e))?;
        let payload = decode_b64(&json.payload)
            .ok_or_else(|| Failure::malformed("DSSE envelope", "payload is not base64"))?;
        check_size("DSSE payload", &payload)?;
        Ok(Envelope {
            payload_type: json.payload_type,
            payload,
            signatures: json.signatures,
        })
    }

    /// Check the signatures: accepted when any signature verifies with any key (the
    /// cosign threshold of one). Returns the index of the key that verified.
    pub fn verify_signatures(&self, keys: &[PublicKey]) -> Result<usize, Failure> {
        if keys.is_empty() {
            return Err(Failure::NoKeys);
        }
        if self.signatures.is_empty() {
            return Err(Failure::NoSignatures);
        }
        let message = pae(&self.payload_type, &self.payload);
        let mut encoding_error = None;
        let mut any_decodable = false;
        for s in &self.signatures {
            let Some(sig) = decode_b64(&s.sig) else {
                encoding_error = Some("DSSE signature is not base64".to_string());
                continue;
            };
            for (i, key) in keys.iter().enumerate() {
                match key.verify(&message, &sig) {
                    Ok(()) => return Ok(i),
                    Err(SignatureError::NotDer) => {
                        encoding_error = Some(SignatureError::NotDer.to_string())
                    }
                    Err(SignatureError::Invalid) => any_decodable = true,
                }
            }
        }
        match encoding_error {
            Some(e) if !any_decodable => Err(Failure::SignatureEncoding(e)),
            _ => Err(Failure::BadSignature { keys: keys.len() }),
        }
    }
}

/// Verify an in-toto attestation envelope (a `.att` layer, a line of an
/// `.intoto.jsonl` file): signature with one of `keys`, payload type in-toto, statement
/// subject naming `image`, and (if given) the predicate type.
pub fn verify_attestation(
    keys: &[PublicKey],
    envelope_json: &[u8],
    image: &Digest,
    predicate_type: Option<&str>,
) -> Result<Verified, Failure> {
    let env = Envelope::from_json(envelope_json)?;
    verify_attestation_envelope(keys, &env, image, predicate_type)
}

/// [`verify_attestation`] on a parsed envelope (bundles reuse it).
pub fn verify_attestation_envelope(
    keys: &[PublicKey],
    env: &Envelope,
    image: &Digest,
    predicate_type: Option<&str>,
) -> Result<Verified, Failure> {
    let key_index = env.verify_signatures(keys)?;
    if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(Failure::WrongPayloadType {
            expected: IN_TOTO_PAYLOAD_TYPE.to_string(),
            found: env.payload_type.clone(),
        });
    }
    let (stmt, value) = statement::check_statement(&env.payload, image, predicate_type)?;
    Ok(Verified {
        key_index,
        format: "dsse",
        predicate_type: Some(stmt.predicate_type),
        docker_reference: None,
        keyless: None,
        transparency: None,
        statement: Some(value),
    })
}

/// Sign a statement into an envelope (payload = the statement's canonical JSON bytes).
pub fn sign_statement(statement: &Statement, key: &PrivateKey) -> Envelope {
    Envelope::sign(IN_TOTO_PAYLOAD_TYPE, &statement.to_json(), key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_spec_example() {
        // Example from the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn round_trip_and_tampering() {
        let key = PrivateKey::generate().unwrap();
        let other = PrivateKey::generate().unwrap().public_key();
        let env = Envelope::sign("text/plain", b"abc", &key);
        let parsed = Envelope::from_json(&env.to_json()).unwrap();
        assert_eq!(parsed, env);
        assert_eq!(
            parsed.verify_signatures(&[other.clone(), key.public_key()]),
            Ok(1)
        );
        assert_eq!(
            parsed.verify_signatures(&[other]),
            Err(Failure::BadSignature { keys: 1 })
        );
        let mut t = parsed.clone();
        t.payload_type = "text/html".into();
        assert!(matches!(
            t.verify_signatures(&[key.public_key()]),
            Err(Failure::BadSignature { .. })
        ));
        let mut t = parsed.clone();
        t.signatures.clear();
        assert_eq!(
            t.verify_signatures(&[key.public_key()]),
            Err(Failure::NoSignatures)
        );
        let mut t = parsed.clone();
        t.signatures[0].sig = "***".into();
        assert!(matches!(
            t.verify_signatures(&[key.public_key()]),
            Err(Failure::SignatureEncoding(_))
        ));
        assert_eq!(parsed.verify_signatures(&[]), Err(Failure::NoKeys));
    }

    #[test]
    fn oversized_envelope_is_refused_before_parsing() {
        let big = vec![b' '; super::super::verify::MAX_PAYLOAD_BYTES + 1];
        assert!(matches!(
            Envelope::from_json(&big),
            Err(Failure::Oversized { .. })
        ));
    }
}
