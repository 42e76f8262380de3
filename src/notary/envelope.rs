//! The two Notary signature envelopes, read into one [`Envelope`]:
//!
//! - COSE_Sign1 (`application/cose`, `signature-envelope-cose.md`), decoded by `coset`:
//!   tag 18; protected `alg` (PS256/384/512 = -37/-38/-39, ES256/384/512 = -7/-35/-36),
//!   `crit`, `cty` = the payload type, `io.cncf.notary.signingScheme`,
//!   `io.cncf.notary.signingTime` / `io.cncf.notary.authenticSigningTime` /
//!   `io.cncf.notary.expiry` as CBOR tag 1 (epoch seconds); unprotected `x5chain` (33,
//!   leaf first), `io.cncf.notary.timestampSignature` (an RFC 3161 token over the
//!   signature bytes), `io.cncf.notary.signingAgent`. Signed bytes: the Sig_structure
//!   `["Signature1", protected, h'', payload]` over the protected header as received.
//! - JWS JSON serialization (`application/jose+json`, `signature-envelope-jws.md`):
//!   `{"payload","protected","header":{"x5c":[…],"io.cncf.notary.timestampSignature",
//!   "io.cncf.notary.signingAgent"},"signature"}`, base64url without padding; the same
//!   fields in the protected JSON header with RFC 3339 times. Signed bytes:
//!   `protected "." payload` as received.
//!
//! Both: every critical header must be one this verifier knows; the signing scheme and
//! signing time are required; an expiry must be after the signing time (as
//! notation-core-go's `validateSignerInfo`). The parse never judges the signature.

use super::x509::Algorithm;
use super::{Failure, MAX_ENVELOPE_BYTES, PAYLOAD_CONTENT_TYPE};
use crate::time::parse_rfc3339;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;

const H_SCHEME: &str = "io.cncf.notary.signingScheme";
const H_SIGNING_TIME: &str = "io.cncf.notary.signingTime";
const H_AUTHENTIC_TIME: &str = "io.cncf.notary.authenticSigningTime";
const H_EXPIRY: &str = "io.cncf.notary.expiry";
const H_TIMESTAMP: &str = "io.cncf.notary.timestampSignature";
const H_AGENT: &str = "io.cncf.notary.signingAgent";
/// Critical headers this verifier understands (the spec's; the verification-plugin
/// headers name plugins we do not run, so they stay unknown and fail).
const KNOWN_CRITICAL: [&str; 3] = [H_SCHEME, H_EXPIRY, H_AUTHENTIC_TIME];

/// Which envelope format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Cose,
    Jws,
}

impl Format {
    pub fn from_media_type(m: &str) -> Option<Format> {
        match m {
            super::MEDIA_TYPE_COSE => Some(Format::Cose),
            super::MEDIA_TYPE_JWS => Some(Format::Jws),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Cose => "cose",
            Format::Jws => "jws",
        }
    }
}

/// `notary.x509` or `notary.x509.signingAuthority`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningScheme {
    X509,
    SigningAuthority,
}

impl SigningScheme {
    pub fn name(self) -> &'static str {
        match self {
            SigningScheme::X509 => "notary.x509",
            SigningScheme::SigningAuthority => "notary.x509.signingAuthority",
        }
    }
}

/// A parsed envelope: what was signed, how, by which chain. Nothing here is verified.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub format: Format,
    pub algorithm: Algorithm,
    pub scheme: SigningScheme,
    /// Unix seconds (the signer's claim under notary.x509; authentic under signingAuthority).
    pub signing_time: i64,
    pub expiry: Option<i64>,
    /// The payload bytes (JSON).
    pub payload: Vec<u8>,
    /// The content type the protected header names.
    pub content_type: String,
    /// The exact bytes the signature is over.
    pub signed_bytes: Vec<u8>,
    pub signature: Vec<u8>,
    /// DER certificates, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// The RFC 3161 timestamp token (DER), if any.
    pub timestamp_token: Option<Vec<u8>>,
    pub signing_agent: Option<String>,
}

/// Parse an envelope of `format`.
pub fn parse(format: Format, bytes: &[u8]) -> Result<Envelope, Failure> {
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(Failure::Oversized {
            what: "signature envelope",
            size: bytes.len(),
            limit: MAX_ENVELOPE_BYTES,
        });
    }
    let e = match format {
        Format::Cose => parse_cose(bytes)?,
        Format::Jws => parse_jws(bytes)?,
    };
    if e.signature.is_empty() {
        return Err(Failure::malformed("envelope", "the signature is empty"));
    }
    if e.payload.is_empty() {
        return Err(Failure::malformed("envelope", "the payload is empty"));
    }
    if let Some(x) = e.expiry
        && x <= e.signing_time
    {
        return Err(Failure::malformed(
            "envelope",
            "the expiry is not after the signing time",
        ));
    }
    if e.content_type != PAYLOAD_CONTENT_TYPE {
        return Err(Failure::WrongPayloadType(e.content_type));
    }
    Ok(e)
}

fn scheme_of(s: &str) -> Result<SigningScheme, Failure> {
    match s {
        "notary.x509" => Ok(SigningScheme::X509),
        "notary.x509.signingAuthority" => Ok(SigningScheme::SigningAuthority),
        other => Err(Failure::SigningScheme(other.to_string())),
    }
}

fn check_crit(crit: &[String], present: &dyn Fn(&str) -> bool) -> Result<(), Failure> {
    for c in crit {
        if !KNOWN_CRITICAL.contains(&c.as_str()) {
            return Err(Failure::UnknownCriticalHeader(c.clone()));
        }
        if !present(c) {
            return Err(Failure::malformed(
                "envelope",
                format!("critical header {c:?} is listed but absent"),
            ));
        }
    }
    // The spec: the signing scheme (and expiry, authentic time when present) must be
    // marked critical.
    for must in [H_SCHEME, H_EXPIRY, H_AUTHENTIC_TIME] {
        if present(must) && !crit.iter().any(|c| c == must) {
            return Err(Failure::malformed(
                "envelope",
                format!("{must:?} must be marked critical"),
            ));
        }
    }
    Ok(())
}

// ---- COSE

fn parse_cose(bytes: &[u8]) -> Result<Envelope, Failure> {
    use coset::{Label, RegisteredLabel, RegisteredLabelWithPrivate};
    use coset::{TaggedCborSerializable as _, cbor::value::Value as C};
    let bad = |d: String| Failure::malformed("COSE_Sign1 envelope", d);
    let msg = coset::CoseSign1::from_tagged_slice(bytes).map_err(|e| bad(format!("{e:?}")))?;
    let p = &msg.protected.header;
    let alg = match &p.alg {
        Some(RegisteredLabelWithPrivate::Assigned(a)) => Algorithm::from_cose(*a as i64),
        Some(RegisteredLabelWithPrivate::PrivateUse(i)) => Algorithm::from_cose(*i),
        _ => None,
    }
    .ok_or_else(|| Failure::Unsupported(format!("COSE algorithm {:?}", p.alg)))?;
    let content_type = match &p.content_type {
        Some(RegisteredLabel::Text(t)) => t.clone(),
        other => return Err(bad(format!("content type {other:?} is not text"))),
    };
    fn text<'h>(h: &'h coset::Header, k: &str) -> Option<&'h C> {
        h.rest
            .iter()
            .find(|(l, _)| matches!(l, Label::Text(t) if t == k))
            .map(|(_, v)| v)
    }
    let mut crit = Vec::new();
    for c in &p.crit {
        match c {
            RegisteredLabelWithPrivate::Text(t) => crit.push(t.clone()),
            other => crit.push(format!("{other:?}")),
        }
    }
    check_crit(&crit, &|k| text(p, k).is_some())?;
    let time = |k: &str| -> Result<Option<i64>, Failure> {
        match text(p, k) {
            None => Ok(None),
            Some(C::Tag(1, v)) => match v.as_ref() {
                C::Integer(i) => i64::try_from(*i)
                    .map(Some)
                    .map_err(|_| bad(format!("{k} is out of range"))),
                _ => Err(bad(format!("{k} is not an integer epoch time"))),
            },
            Some(_) => Err(bad(format!("{k} is not a CBOR tag-1 time"))),
        }
    };
    let scheme = match text(p, H_SCHEME) {
        Some(C::Text(s)) => scheme_of(s)?,
        _ => return Err(bad(format!("{H_SCHEME} is missing or not text"))),
    };
    let signing_time = match scheme {
        SigningScheme::X509 => time(H_SIGNING_TIME)?,
        SigningScheme::SigningAuthority => time(H_AUTHENTIC_TIME)?,
    }
    .ok_or_else(|| bad("the signing time is missing".into()))?;
    let expiry = time(H_EXPIRY)?;
    let u = &msg.unprotected;
    let chain = match u
        .rest
        .iter()
        .find(|(l, _)| *l == Label::Int(33))
        .map(|(_, v)| v)
    {
        Some(C::Bytes(b)) => vec![b.clone()],
        Some(C::Array(a)) => {
            if a.len() > super::MAX_CHAIN_CERTS {
                return Err(Failure::InvalidChain(format!(
                    "{} certificates, over the limit of {}",
                    a.len(),
                    super::MAX_CHAIN_CERTS
                )));
            }
            a.iter()
                .map(|v| match v {
                    C::Bytes(b) => Ok(b.clone()),
                    _ => Err(bad("x5chain holds a non-bytes item".into())),
                })
                .collect::<Result<_, _>>()?
        }
        Some(_) => return Err(bad("x5chain is neither bytes nor an array".into())),
        None => Vec::new(),
    };
    let timestamp_token = match text(u, H_TIMESTAMP) {
        None => None,
        Some(C::Bytes(b)) => Some(b.clone()),
        Some(_) => return Err(bad(format!("{H_TIMESTAMP} is not bytes"))),
    };
    let signing_agent = match text(u, H_AGENT) {
        None => None,
        Some(C::Text(t)) => Some(t.clone()),
        Some(_) => return Err(bad(format!("{H_AGENT} is not text"))),
    };
    let payload = msg
        .payload
        .clone()
        .ok_or_else(|| bad("detached payloads are not Notary signatures".into()))?;
    // The Sig_structure over the protected header bytes as received (coset keeps them).
    let signed_bytes = msg.tbs_data(b"");
    // Reject protected headers that only re-encode to themselves by luck: coset must have
    // kept the original bytes.
    if msg.protected.original_data.is_none() && !msg.protected.is_empty() {
        return Err(bad("protected header bytes were not kept".into()));
    }
    Ok(Envelope {
        format: Format::Cose,
        algorithm: alg,
        scheme,
        signing_time,
        expiry,
        payload,
        content_type,
        signed_bytes,
        signature: msg.signature.clone(),
        chain,
        timestamp_token,
        signing_agent,
    })
}

// ---- JWS

fn parse_jws(bytes: &[u8]) -> Result<Envelope, Failure> {
    let bad = |d: String| Failure::malformed("JWS envelope", d);
    let v: Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    let obj = v
        .as_object()
        .ok_or_else(|| bad("not a JSON object".into()))?;
    let s = |k: &str| -> Result<&str, Failure> {
        obj.get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("{k:?} is missing or not a string")))
    };
    let b64 = |what: &str, t: &str| -> Result<Vec<u8>, Failure> {
        URL_SAFE_NO_PAD
            .decode(t)
            .map_err(|e| bad(format!("{what}: {e}")))
    };
    let protected_b64 = s("protected")?;
    let payload_b64 = s("payload")?;
    let protected_json = b64("protected", protected_b64)?;
    let payload = b64("payload", payload_b64)?;
    let signature = b64("signature", s("signature")?)?;
    let hdr: Value =
        serde_json::from_slice(&protected_json).map_err(|e| bad(format!("protected: {e}")))?;
    let hdr = hdr
        .as_object()
        .ok_or_else(|| bad("the protected header is not an object".into()))?;
    let alg_name = hdr
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("alg is missing".into()))?;
    let algorithm = Algorithm::from_jws(alg_name)
        .ok_or_else(|| Failure::Unsupported(format!("JWS algorithm {alg_name:?}")))?;
    let content_type = hdr
        .get("cty")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("cty is missing".into()))?
        .to_string();
    let crit: Vec<String> = match hdr.get("crit") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|c| {
                c.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("crit holds a non-string".into()))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad("crit is not an array".into())),
    };
    check_crit(&crit, &|k| hdr.contains_key(k))?;
    let time = |k: &str| -> Result<Option<i64>, Failure> {
        match hdr.get(k) {
            None => Ok(None),
            Some(Value::String(t)) => parse_rfc3339(t)
                .map(Some)
                .ok_or_else(|| bad(format!("{k} {t:?} is not RFC 3339"))),
            Some(_) => Err(bad(format!("{k} is not a string"))),
        }
    };
    let scheme = scheme_of(
        hdr.get(H_SCHEME)
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("{H_SCHEME} is missing")))?,
    )?;
    let signing_time = match scheme {
        SigningScheme::X509 => time(H_SIGNING_TIME)?,
        SigningScheme::SigningAuthority => time(H_AUTHENTIC_TIME)?,
    }
    .ok_or_else(|| bad("the signing time is missing".into()))?;
    let expiry = time(H_EXPIRY)?;
    let unprotected = match obj.get("header") {
        None => serde_json::Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(bad("header is not an object".into())),
    };
    let chain = match unprotected.get("x5c") {
        None => Vec::new(),
        Some(Value::Array(a)) => {
            if a.len() > super::MAX_CHAIN_CERTS {
                return Err(Failure::InvalidChain(format!(
                    "{} certificates, over the limit of {}",
                    a.len(),
                    super::MAX_CHAIN_CERTS
                )));
            }
            a.iter()
                .map(|c| {
                    c.as_str()
                        .ok_or_else(|| bad("x5c holds a non-string".into()))
                        .and_then(|t| STANDARD.decode(t).map_err(|e| bad(format!("x5c: {e}"))))
                })
                .collect::<Result<_, _>>()?
        }
        Some(_) => return Err(bad("x5c is not an array".into())),
    };
    let timestamp_token = match unprotected.get(H_TIMESTAMP) {
        None => None,
        Some(Value::String(t)) => Some(
            STANDARD
                .decode(t)
                .map_err(|e| bad(format!("{H_TIMESTAMP}: {e}")))?,
        ),
        Some(_) => return Err(bad(format!("{H_TIMESTAMP} is not a string"))),
    };
    let signing_agent = unprotected
        .get(H_AGENT)
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut signed_bytes = Vec::with_capacity(protected_b64.len() + payload_b64.len() + 1);
    signed_bytes.extend_from_slice(protected_b64.as_bytes());
    signed_bytes.push(b'.');
    signed_bytes.extend_from_slice(payload_b64.as_bytes());
    Ok(Envelope {
        format: Format::Jws,
        algorithm,
        scheme,
        signing_time,
        expiry,
        payload,
        content_type,
        signed_bytes,
        signature,
        chain,
        timestamp_token,
        signing_agent,
    })
}
