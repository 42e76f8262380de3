//! Verify one Notary signature against one image, in the order of
//! `trust-store-trust-policy.md` § Signature Verification (as notation-go's verifier):
//!
//! 1. **integrity** (always enforced): the envelope parses; the certificate chain obeys
//!    the spec's rules; the envelope algorithm is the one the leaf key implies; the
//!    signature verifies over the exact signed bytes; the payload type is Notary's and
//!    its `targetArtifact` equals the image's digest, media type and size; the
//!    manifest's `io.cncf.notary.x509chain.thumbprint#S256`, when present, lists the
//!    chain;
//! 2. **authenticity**: a certificate of the chain is one of the policy's trust store
//!    certificates (`ca:` for `notary.x509`; `signingAuthority:` for
//!    `notary.x509.signingAuthority`, refused when the policy names no such store); the
//!    leaf's subject matches a trusted identity;
//! 3. **expiry**: the signature's `io.cncf.notary.expiry` is after now;
//! 4. **authentic timestamp**: under `notary.x509`, with a `tsa:` store and
//!    `verifyTimestamp: always` (or `afterCertExpiry` once a chain certificate expired),
//!    the RFC 3161 countersignature over the signature bytes must verify to a `tsa:`
//!    root and fall within every chain certificate's validity; otherwise every chain
//!    certificate must be valid now. Under signingAuthority, the authentic signing time
//!    must be within every certificate's validity;
//! 5. **revocation**: not checked (no network); reported as such.
//!
//! A failed step with the policy's action `enforce` fails the signature with that step's
//! reason; `log` records it in [`Verdict::logged`]; `skip` does not run it.

use super::envelope::{self, Envelope, Format, SigningScheme};
use super::payload::{self, Expected, TargetArtifact};
use super::trust_policy::{Action, Identities, Level, Statement, VerifyTimestamp};
use super::trust_store::{StoreType, Trusted};
use super::{Failure, x509};
use crate::time::rfc3339;
use serde::Serialize;
use std::collections::BTreeMap;
use x509_cert::Certificate;
use x509_cert::der::Encode;

/// What an RFC 3161 timestamp established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    /// The TSTInfo genTime (Unix seconds).
    pub time: i64,
    /// ± accuracy in seconds (0 when none is stated).
    pub accuracy: i64,
    /// The TSA signing certificate's subject.
    pub tsa_subject: String,
}

/// The RFC 3161 verifier this module calls for countersignatures (the project's one
/// timestamp module, shared with the Sigstore timestamps). It must check the token's
/// CMS signature, that its message imprint is the hash of `signed` (the envelope's
/// signature bytes), and that the TSA chain ends at one of `roots` with the timestamping
/// EKU, valid at the time stamped; a token whose TSA is not under `roots` is
/// [`Failure::UntrustedTimestamp`].
pub trait TimestampVerifier {
    fn verify(
        &self,
        token: &[u8],
        signed: &[u8],
        roots: &[Certificate],
    ) -> Result<Timestamp, Failure>;
}

/// The stand-in while no RFC 3161 verifier is wired: every countersignature that would
/// have to be checked fails `timestamp_unsupported` (never passes unchecked).
pub struct NoTimestamps;

impl TimestampVerifier for NoTimestamps {
    fn verify(&self, _: &[u8], _: &[u8], _: &[Certificate]) -> Result<Timestamp, Failure> {
        Err(Failure::TimestampUnsupported(
            "this build has no RFC 3161 verifier".into(),
        ))
    }
}

/// A trust policy statement with its trust stores loaded.
#[derive(Debug, Clone)]
pub struct Trust {
    pub statement: Statement,
    pub ca: Vec<Trusted>,
    pub signing_authority: Vec<Trusted>,
    pub tsa: Vec<Trusted>,
}

/// One check's outcome that the level only logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Logged {
    pub check: &'static str,
    pub reason: &'static str,
    pub message: String,
}

/// What a verified Notary signature established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// `cose` or `jws`.
    pub envelope: &'static str,
    pub signing_scheme: &'static str,
    pub algorithm: &'static str,
    /// The signing certificate's subject (RFC 4514).
    pub signer: String,
    /// The chain's last certificate's subject.
    pub root: String,
    /// The trust store (`ca:NAME`) holding the certificate that anchored the chain.
    pub trust_store: String,
    /// SHA-256 of each chain certificate, leaf first.
    pub thumbprints: Vec<String>,
    /// The signing time the envelope claims (RFC 3339).
    pub signing_time: String,
    /// The verified timestamp (RFC 3339), when one was checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_authority: Option<String>,
    pub trust_policy: String,
    pub level: &'static str,
    /// Always `not_checked`: OCSP/CRL need a network.
    pub revocation: &'static str,
    /// Failed checks the level only logs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub logged: Vec<Logged>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The inputs besides the envelope.
pub struct Context<'a> {
    pub trust: &'a Trust,
    /// The image the signature must name.
    pub expected: Expected<'a>,
    /// The signature manifest's annotations (for the thumbprint list).
    pub manifest_annotations: Option<&'a BTreeMap<String, String>>,
    /// "Now", Unix seconds.
    pub now: i64,
    pub timestamps: &'a dyn TimestampVerifier,
}

/// Verify the envelope `bytes` of layer media type `media_type`.
pub fn verify(media_type: &str, bytes: &[u8], cx: &Context<'_>) -> Result<Verdict, Failure> {
    let st = &cx.trust.statement;
    if st.level == Level::Skip {
        return Err(Failure::Skipped(st.name.clone()));
    }
    let format = Format::from_media_type(media_type).ok_or_else(|| {
        Failure::malformed(
            "signature manifest",
            format!("layer media type {media_type:?} is neither application/cose nor application/jose+json"),
        )
    })?;
    // 1. integrity
    let env = envelope::parse(format, bytes)?;
    let chain = x509::parse_chain(&env.chain)?;
    x509::check_code_signing_chain(&chain)?;
    let key = x509::Key::of(&chain[0])?;
    if key.algorithm() != env.algorithm {
        return Err(Failure::AlgorithmMismatch {
            expected: key.algorithm().name().into(),
            found: env.algorithm.name().into(),
        });
    }
    if !key.verify_envelope(env.algorithm, &env.signed_bytes, &env.signature) {
        return Err(Failure::BadSignature);
    }
    let target: TargetArtifact = payload::parse(&env.payload)?;
    payload::check(&target, &cx.expected)?;
    let thumbprints: Vec<String> = chain.iter().map(x509::thumbprint).collect();
    if let Some(a) = cx
        .manifest_annotations
        .and_then(|m| m.get(super::THUMBPRINT_ANNOTATION))
    {
        let listed: Option<Vec<String>> = serde_json::from_str::<Vec<String>>(a)
            .ok()
            .map(|v| v.iter().map(|s| s.to_ascii_lowercase()).collect());
        if listed.as_ref() != Some(&thumbprints) {
            return Err(Failure::ThumbprintMismatch {
                expected: thumbprints,
                found: a.clone(),
            });
        }
    }
    let mut logged = Vec::new();
    let e = &st.enforcement;
    // 2. authenticity
    let anchors: &[Trusted] = match env.scheme {
        SigningScheme::X509 => &cx.trust.ca,
        SigningScheme::SigningAuthority => {
            if st.stores_of(StoreType::SigningAuthority).next().is_none() {
                return Err(Failure::SigningScheme(env.scheme.name().into()));
            }
            &cx.trust.signing_authority
        }
    };
    let mut trust_store = String::new();
    let authenticity = (|| {
        let ders: Vec<Vec<u8>> = chain
            .iter()
            .map(|c| c.to_der().unwrap_or_default())
            .collect();
        let hit = anchors.iter().find(|t| {
            let d = t.cert.to_der().unwrap_or_default();
            ders.contains(&d)
        });
        match hit {
            Some(t) => trust_store = t.store.clone(),
            None => {
                let kind = match env.scheme {
                    SigningScheme::X509 => StoreType::Ca,
                    SigningScheme::SigningAuthority => StoreType::SigningAuthority,
                };
                return Err(Failure::UntrustedSigner {
                    stores: st
                        .stores_of(kind)
                        .map(|n| format!("{}:{n}", kind.name()))
                        .collect(),
                });
            }
        }
        check_identity(&st.identities, &chain[0])
    })();
    gate("authenticity", e.authenticity, authenticity, &mut logged)?;
    // 3. expiry
    if e.expiry != Action::Skip
        && let Some(x) = env.expiry
    {
        let r = if cx.now >= x {
            Err(Failure::SignatureExpired(rfc3339(x)))
        } else {
            Ok(())
        };
        gate("expiry", e.expiry, r, &mut logged)?;
    }
    // 4. authentic timestamp
    let mut stamped = None;
    if e.authentic_timestamp != Action::Skip {
        let r = authentic_time(&env, &chain, cx).map(|t| stamped = t);
        gate("authenticTimestamp", e.authentic_timestamp, r, &mut logged)?;
    }
    Ok(Verdict {
        envelope: env.format.name(),
        signing_scheme: env.scheme.name(),
        algorithm: env.algorithm.name(),
        signer: x509::subject(&chain[0]),
        root: x509::subject(chain.last().unwrap_or(&chain[0])),
        trust_store,
        thumbprints,
        signing_time: rfc3339(env.signing_time),
        timestamp: stamped.as_ref().map(|t: &Timestamp| rfc3339(t.time)),
        timestamp_authority: stamped.map(|t| t.tsa_subject),
        trust_policy: st.name.clone(),
        level: st.level.name(),
        revocation: "not_checked",
        logged,
        annotations: target.annotations,
    })
}

fn gate(
    check: &'static str,
    action: Action,
    r: Result<(), Failure>,
    logged: &mut Vec<Logged>,
) -> Result<(), Failure> {
    match (r, action) {
        (Ok(()), _) | (Err(_), Action::Skip) => Ok(()),
        (Err(f), Action::Enforce) => Err(f),
        (Err(f), Action::Log) => {
            logged.push(Logged {
                check,
                reason: f.code(),
                message: f.to_string(),
            });
            Ok(())
        }
    }
}

/// The leaf subject's attributes (upper-case type → value).
pub fn subject_attributes(c: &Certificate) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for atv in c.tbs_certificate().subject().iter() {
        if let Ok(m) = super::trust_policy::parse_dn(&atv.to_string()) {
            out.extend(m);
        }
    }
    out
}

fn check_identity(ids: &Identities, leaf: &Certificate) -> Result<(), Failure> {
    let Identities::Subjects(list) = ids else {
        return Ok(());
    };
    let attrs = subject_attributes(leaf);
    if list.iter().any(|i| i.matches(&attrs)) {
        return Ok(());
    }
    Err(Failure::IdentityMismatch {
        subject: x509::subject(leaf),
        expected: list.iter().map(|i| i.text.clone()).collect(),
    })
}

/// Step 4: the time the chain must have been valid at, and the timestamp when checked.
fn authentic_time(
    env: &Envelope,
    chain: &[Certificate],
    cx: &Context<'_>,
) -> Result<Option<Timestamp>, Failure> {
    let st = &cx.trust.statement;
    if env.scheme == SigningScheme::SigningAuthority {
        for c in chain {
            x509::valid_at(c, env.signing_time)?;
        }
        return Ok(None);
    }
    let tsa_configured = st.stores_of(StoreType::Tsa).next().is_some();
    let expired_now = chain.iter().any(|c| x509::validity(c).1 < cx.now);
    let check = tsa_configured && (st.verify_timestamp == VerifyTimestamp::Always || expired_now);
    if !check {
        for c in chain {
            x509::valid_at(c, cx.now)?;
        }
        return Ok(None);
    }
    let token = env
        .timestamp_token
        .as_deref()
        .ok_or(Failure::TimestampMissing)?;
    let roots: Vec<Certificate> = cx.trust.tsa.iter().map(|t| t.cert.clone()).collect();
    let ts = cx.timestamps.verify(token, &env.signature, &roots)?;
    // The stamped interval [time - accuracy, time + accuracy] must lie within each
    // certificate's validity.
    let (lo, hi) = (
        ts.time.saturating_sub(ts.accuracy),
        ts.time.saturating_add(ts.accuracy),
    );
    for c in chain {
        let (nb, na) = x509::validity(c);
        if lo < nb || hi > na {
            return Err(Failure::TimestampOutsideValidity {
                subject: x509::subject(c),
                at: rfc3339(ts.time),
                not_before: rfc3339(nb),
                not_after: rfc3339(na),
            });
        }
    }
    Ok(Some(ts))
}

impl Trust {
    /// Load every trust store `statement` names from `store` (none for level skip).
    pub fn load(
        statement: &Statement,
        store: &super::trust_store::TrustStore,
    ) -> Result<Trust, super::trust_store::TrustStoreError> {
        let mut t = Trust {
            statement: statement.clone(),
            ca: Vec::new(),
            signing_authority: Vec::new(),
            tsa: Vec::new(),
        };
        for (kind, name) in &statement.trust_stores {
            let certs = store.load(*kind, name)?;
            match kind {
                StoreType::Ca => t.ca.extend(certs),
                StoreType::SigningAuthority => t.signing_authority.extend(certs),
                StoreType::Tsa => t.tsa.extend(certs),
            }
        }
        Ok(t)
    }
}

/// The project's RFC 3161 verifier (`attest::timestamp`, shared with Sigstore bundles)
/// for Notary countersignatures: the token must stamp the envelope's signature bytes and
/// chain to a `tsa:` root.
pub struct Rfc3161;

impl TimestampVerifier for Rfc3161 {
    fn verify(
        &self,
        token: &[u8],
        signed: &[u8],
        roots: &[Certificate],
    ) -> Result<Timestamp, Failure> {
        use crate::attest::timestamp::{self, TimestampError, TsaTrust};
        let trust = TsaTrust {
            anchors: roots,
            intermediates: &[],
            signer: None,
        };
        match timestamp::verify(token, signed, &trust) {
            Ok(t) => Ok(Timestamp {
                time: t.gen_time,
                // Rounded up: a partial second still widens the window.
                accuracy: t
                    .accuracy_micros
                    .map(|m| i64::try_from(m.div_ceil(1_000_000)).unwrap_or(i64::MAX))
                    .unwrap_or(0),
                tsa_subject: t.signer_subject,
            }),
            Err(e @ TimestampError::Untrusted(_)) => {
                Err(Failure::UntrustedTimestamp(format!("{e} ({})", e.code())))
            }
            Err(e) => Err(Failure::BadTimestamp(format!("{e} ({})", e.code()))),
        }
    }
}
