//! RFC 3161 timestamps: verify a TimeStampToken (or a whole TimeStampResp) over given
//! bytes against a caller's set of trusted timestamp authorities, and return the
//! authenticated time. Shared by Sigstore bundles (`timestampVerificationData`, the
//! trusted root's `timestampAuthorities`) and Notary Project signatures (the
//! `io.cncf.notary.timestampSignature` token, the `tsa` trust store).
//!
//! Use:
//! ```text
//! let token = timestamp::parse(&der)?;                 // structure only, nothing trusted
//! let ts = token.verify(signature_bytes, &TsaTrust {   // every check below
//!     anchors: &roots, intermediates: &known, signer: None })?;
//! ts.gen_time                                          // Unix seconds, now authenticated
//! ```
//! `verify` checks, in this order (the first failure is the error, each with a stable
//! [`TimestampError::code`]):
//! 1. the DER: a TimeStampResp whose status is granted (0) or grantedWithMods (1), or a
//!    bare ContentInfo; SignedData with eContentType id-ct-TSTInfo and exactly one
//!    SignerInfo; TSTInfo version 1 (at most [`MAX_TOKEN_BYTES`]);
//! 2. the message imprint: the hash the token names (SHA-256/384/512) of the given bytes;
//! 3. the signer certificate: the one the SignerInfo `sid` names (issuer and serial, or
//!    subject key identifier), from the token's certificates if it has any, else the
//!    caller's; when
//!    [`TsaTrust::signer`] is set it must be that certificate;
//! 4. its validity at genTime (inclusive) and a path from it to an anchor through the
//!    token's and the caller's untrusted certificates, every one valid at genTime
//!    (`pkix::build_path`: never the clock, so a TSA chain that expired since is fine);
//! 5. the timestamping EKU as RFC 3161 §2.3 requires it: present, critical, and only
//!    id-kp-timeStamping;
//! 6. the signed attributes: content-type id-ct-TSTInfo, message-digest = the
//!    digestAlgorithm hash of the TSTInfo, and a signing-certificate attribute
//!    (ESSCertIDv2, RFC 5816, or ESSCertID with SHA-1) whose first entry is the signer's
//!    certificate hash (and issuer/serial, when present);
//! 7. the signature over the signed attributes: ECDSA P-256/P-384, RSA PKCS#1 v1.5 or
//!    RSASSA-PSS (SHA-256/384/512).
//!
//! Not checked: a nonce (there was no request here), the policy OID (returned for the
//! caller to judge), revocation. genTime's fraction is dropped (floor) for the window
//! checks; `accuracy` is returned, not applied. What a TSA is trusted *for* (e.g. the
//! Sigstore trusted root's `validFor` period) is the caller's check on the returned time.
//!
//! Crates: RustCrypto `cms` (SignedData, SignerInfo) and `der` derives for TSTInfo and the
//! ESS attributes. `x509-tsp` 0.1 would give TSTInfo, but it is built on `der` 0.7 and
//! `cms` 0.2, a generation older than `x509-cert` 0.3 that the project uses: its types
//! would not interoperate and the whole stack would be compiled twice; TSTInfo is ten
//! fields. Pure: no I/O, no clock.

use super::pkix::{self, Hash};
use cms::cert::CertificateChoices;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{SignedData, SignerIdentifier};
use der::asn1::{Any, BitString, Int, ObjectIdentifier, OctetString};
use der::{Decode, Encode, Sequence, Tagged};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectKeyIdentifier};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;

/// Largest token or response we parse (real ones, chain included, are 1-8 KiB).
pub const MAX_TOKEN_BYTES: usize = 256 * 1024;

const OID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const OID_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const OID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const OID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const OID_SIGNING_CERT: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.12");
const OID_SIGNING_CERT_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const OID_KP_TIMESTAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
const OID_EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");

/// Why a timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("RFC 3161 timestamp is malformed: {0}")]
    Malformed(String),
    #[error("the timestamp authority did not grant the timestamp (status {0})")]
    NotGranted(u32),
    #[error("RFC 3161 timestamp uses what is not supported: {0}")]
    Unsupported(String),
    #[error("the timestamp's message imprint ({0}) is not the hash of the signed bytes")]
    ImprintMismatch(&'static str),
    #[error("the timestamp's signer certificate is not found: {0}")]
    SignerNotFound(String),
    #[error(
        "the timestamp's signer certificate was not valid at genTime {gen_time} \
         (valid {not_before}..{not_after})"
    )]
    SignerExpired {
        gen_time: i64,
        not_before: i64,
        not_after: i64,
    },
    #[error("the timestamp is not signed by a trusted timestamp authority: {0}")]
    Untrusted(String),
    #[error("the timestamp signer certificate is not for timestamping: {0}")]
    NotTimestamping(String),
    #[error("the timestamp's signed attributes do not bind: {0}")]
    SignedAttributes(String),
    #[error("the timestamp's signing-certificate attribute does not name its signer: {0}")]
    SigningCertificateMismatch(String),
    #[error("the timestamp signature does not verify: {0}")]
    BadSignature(String),
}

impl TimestampError {
    /// Stable machine-readable code (docs/json-schema.md).
    pub fn code(&self) -> &'static str {
        match self {
            TimestampError::Malformed(_) => "timestamp_malformed",
            TimestampError::NotGranted(_) => "timestamp_not_granted",
            TimestampError::Unsupported(_) => "timestamp_unsupported",
            TimestampError::ImprintMismatch(_) => "timestamp_imprint_mismatch",
            TimestampError::SignerNotFound(_) => "timestamp_signer_unknown",
            TimestampError::SignerExpired { .. } => "timestamp_outside_certificate_validity",
            TimestampError::Untrusted(_) => "timestamp_untrusted",
            TimestampError::NotTimestamping(_) => "timestamp_bad_eku",
            TimestampError::SignedAttributes(_) => "timestamp_signed_attributes",
            TimestampError::SigningCertificateMismatch(_) => {
                "timestamp_signing_certificate_mismatch"
            }
            TimestampError::BadSignature(_) => "timestamp_bad_signature",
        }
    }
}

fn malformed(m: impl std::fmt::Display) -> TimestampError {
    TimestampError::Malformed(m.to_string())
}

/// Whom the caller trusts to timestamp.
#[derive(Debug, Clone, Copy)]
pub struct TsaTrust<'a> {
    /// Trust anchors (root CAs; for a Sigstore TSA, the last certificate of its chain).
    /// A signer that is itself an anchor is trusted directly.
    pub anchors: &'a [Certificate],
    /// Untrusted certificates that may complete a path or name the signer when the token
    /// carries none (for a Sigstore TSA: the rest of its chain, leaf included).
    pub intermediates: &'a [Certificate],
    /// When set, the signer must be exactly this certificate.
    pub signer: Option<&'a Certificate>,
}

/// A verified timestamp.
#[derive(Debug, Clone)]
pub struct Timestamp {
    /// genTime, Unix seconds (fraction dropped).
    pub gen_time: i64,
    /// The TSA's stated accuracy, microseconds, if any.
    pub accuracy_micros: Option<u64>,
    /// The message imprint's hash.
    pub hash: Hash,
    /// The TSA policy OID, dotted.
    pub policy: String,
    /// The TSTInfo serial number, hex.
    pub serial: String,
    /// The signer certificate's subject (RFC 4514 string).
    pub signer_subject: String,
    /// The path used: signer first, anchor last.
    pub path: Vec<Certificate>,
}

// ---- ASN.1 (RFC 3161 §2.4, RFC 2634 §5.4, RFC 5816)

#[derive(Sequence)]
struct TimeStampResp {
    status: PkiStatusInfo,
    #[asn1(optional = "true")]
    token: Option<ContentInfo>,
}

#[derive(Sequence)]
struct PkiStatusInfo {
    status: u32,
    #[asn1(optional = "true")]
    status_string: Option<Vec<String>>,
    #[asn1(optional = "true")]
    fail_info: Option<BitString>,
}

#[derive(Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

#[derive(Sequence)]
struct Accuracy {
    #[asn1(optional = "true")]
    seconds: Option<u64>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    millis: Option<u16>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    micros: Option<u16>,
}

fn no_ordering() -> bool {
    false
}

#[derive(Sequence)]
struct TstInfo {
    version: u8,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: Int,
    /// GeneralizedTime, kept raw: `der` refuses fractional seconds, which TSAs send.
    gen_time: Any,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(default = "no_ordering")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<Vec<x509_cert::ext::Extension>>,
}

#[derive(Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial: SerialNumber,
}

#[derive(Sequence)]
struct EssCertIdV2 {
    #[asn1(optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<IssuerSerial>,
}

#[derive(Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    policies: Option<Any>,
}

#[derive(Sequence)]
struct EssCertId {
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<IssuerSerial>,
}

#[derive(Sequence)]
struct SigningCertificate {
    certs: Vec<EssCertId>,
    #[asn1(optional = "true")]
    policies: Option<Any>,
}

/// A parsed, not yet trusted, token.
pub struct Token {
    signed: SignedData,
    tst_der: Vec<u8>,
    tst: TstInfo,
    gen_time: i64,
}

/// Parse a TimeStampResp or a bare TimeStampToken (ContentInfo), structure only.
pub fn parse(bytes: &[u8]) -> Result<Token, TimestampError> {
    if bytes.len() > MAX_TOKEN_BYTES {
        return Err(malformed(format!(
            "{} bytes, over the {MAX_TOKEN_BYTES}-byte limit",
            bytes.len()
        )));
    }
    // A response starts SEQUENCE { SEQUENCE (status) ...}; a token SEQUENCE { OID ...}.
    let content_info = match bytes.get(2..).and_then(|b| {
        let skip = if bytes.get(1).is_some_and(|l| l & 0x80 != 0) {
            usize::from(bytes.get(1).copied().unwrap_or(0) & 0x7f)
        } else {
            0
        };
        b.get(skip)
    }) {
        Some(0x30) => {
            let resp = TimeStampResp::from_der(bytes)
                .map_err(|e| malformed(format!("TimeStampResp: {e}")))?;
            if resp.status.status > 1 {
                return Err(TimestampError::NotGranted(resp.status.status));
            }
            resp.token
                .ok_or_else(|| malformed("the granted response has no token"))?
        }
        Some(0x06) => {
            ContentInfo::from_der(bytes).map_err(|e| malformed(format!("ContentInfo: {e}")))?
        }
        _ => return Err(malformed("neither a TimeStampResp nor a TimeStampToken")),
    };
    if content_info.content_type != OID_SIGNED_DATA {
        return Err(malformed(format!(
            "content type {} is not SignedData",
            content_info.content_type
        )));
    }
    let signed: SignedData = content_info
        .content
        .decode_as()
        .map_err(|e| malformed(format!("SignedData: {e}")))?;
    // RFC 5652 §5.1: version 3 whenever the content is not id-data. Unsigned fields are
    // held to the RFC so that no byte of a token can change without a refusal.
    if signed.version != CmsVersion::V3 {
        return Err(malformed(format!(
            "SignedData version {:?} is not 3",
            signed.version
        )));
    }
    if signed.encap_content_info.econtent_type != OID_TST_INFO {
        return Err(malformed(format!(
            "encapsulated content type {} is not id-ct-TSTInfo",
            signed.encap_content_info.econtent_type
        )));
    }
    let tst_der = signed
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| malformed("no encapsulated TSTInfo"))?
        .decode_as::<OctetString>()
        .map_err(|e| malformed(format!("eContent: {e}")))?
        .into_bytes()
        .into_vec();
    let tst = TstInfo::from_der(&tst_der).map_err(|e| malformed(format!("TSTInfo: {e}")))?;
    if tst.version != 1 {
        return Err(malformed(format!("TSTInfo version {}", tst.version)));
    }
    let gen_time = generalized_time(&tst.gen_time)?;
    Ok(Token {
        signed,
        tst_der,
        tst,
        gen_time,
    })
}

/// `YYYYMMDDHHMMSS[.f*]Z` (RFC 3161 §2.4.2: UTC, fraction without trailing zeros).
fn generalized_time(a: &Any) -> Result<i64, TimestampError> {
    if a.tag() != der::Tag::GeneralizedTime {
        return Err(malformed("genTime is not a GeneralizedTime"));
    }
    let s = std::str::from_utf8(a.value()).map_err(|_| malformed("genTime is not ASCII"))?;
    let bad = || malformed(format!("genTime {s:?} is not YYYYMMDDHHMMSS[.f]Z"));
    let digits = s
        .get(..14)
        .filter(|d| d.bytes().all(|c| c.is_ascii_digit()));
    let (Some(d), Some(rest)) = (digits, s.get(14..)) else {
        return Err(bad());
    };
    let frac = match rest.strip_suffix('Z') {
        Some("") => "",
        Some(f)
            if f.len() > 1
                && f.starts_with('.')
                && f[1..].bytes().all(|c| c.is_ascii_digit())
                && !f.ends_with('0') =>
        {
            f
        }
        _ => return Err(bad()),
    };
    let rfc = format!(
        "{}-{}-{}T{}:{}:{}{frac}Z",
        &d[..4],
        &d[4..6],
        &d[6..8],
        &d[8..10],
        &d[10..12],
        &d[12..14]
    );
    crate::time::parse_rfc3339(&rfc).ok_or_else(bad)
}

impl Token {
    /// genTime as the token states it (not yet authenticated).
    pub fn claimed_gen_time(&self) -> i64 {
        self.gen_time
    }

    /// Run checks 2-7 of the module comment.
    pub fn verify(
        &self,
        message: &[u8],
        trust: &TsaTrust<'_>,
    ) -> Result<Timestamp, TimestampError> {
        let t = self.gen_time;
        // 2. The imprint.
        let imprint = &self.tst.message_imprint;
        let hash = Hash::from_oid(imprint.hash_algorithm.oid).ok_or_else(|| {
            TimestampError::Unsupported(format!(
                "message imprint hash {}",
                imprint.hash_algorithm.oid
            ))
        })?;
        if hash.digest(message) != imprint.hashed_message.as_bytes() {
            return Err(TimestampError::ImprintMismatch(hash.name()));
        }

        // 3. The signer.
        let infos = self.signed.signer_infos.0.as_slice();
        let [si] = infos else {
            return Err(malformed(format!(
                "{} SignerInfos (a timestamp has exactly one)",
                infos.len()
            )));
        };
        // RFC 5652 §5.3: version 1 with issuer/serial, 3 with a key identifier; the
        // digest algorithm listed in digestAlgorithms.
        let want_version = match si.sid {
            SignerIdentifier::IssuerAndSerialNumber(_) => CmsVersion::V1,
            SignerIdentifier::SubjectKeyIdentifier(_) => CmsVersion::V3,
        };
        if si.version != want_version {
            return Err(malformed(format!(
                "SignerInfo version {:?} does not fit its signer identifier",
                si.version
            )));
        }
        if !self
            .signed
            .digest_algorithms
            .iter()
            .any(|a| a.oid == si.digest_alg.oid)
        {
            return Err(malformed(
                "the SignerInfo digest algorithm is not in digestAlgorithms",
            ));
        }
        let embedded: Vec<Certificate> = self
            .signed
            .certificates
            .iter()
            .flat_map(|s| s.0.iter())
            .filter_map(|c| match c {
                CertificateChoices::Certificate(c) => Some(c.clone()),
                CertificateChoices::Other(_) => None,
            })
            .collect();
        let names = |c: &Certificate| match &si.sid {
            SignerIdentifier::IssuerAndSerialNumber(isn) => {
                c.tbs_certificate().issuer() == &isn.issuer
                    && c.tbs_certificate().serial_number() == &isn.serial_number
            }
            SignerIdentifier::SubjectKeyIdentifier(ski) => c
                .tbs_certificate()
                .get_extension::<SubjectKeyIdentifier>()
                .ok()
                .flatten()
                .is_some_and(|(_, k)| k == *ski),
        };
        // A token that carries certificates must carry its signer's (the TSA was asked
        // for it); one without is matched against the caller's certificates.
        let signer = if embedded.is_empty() {
            trust
                .signer
                .into_iter()
                .chain(trust.intermediates)
                .chain(trust.anchors)
                .find(|c| names(c))
        } else {
            embedded.iter().find(|c| names(c))
        }
        .cloned()
        .ok_or_else(|| {
            TimestampError::SignerNotFound(if embedded.is_empty() {
                "the token carries no certificate and none of the trusted ones matches its SignerInfo".into()
            } else {
                "none of the token's certificates matches its SignerInfo".into()
            })
        })?;
        if let Some(want) = trust.signer
            && want.to_der().ok() != signer.to_der().ok()
        {
            return Err(TimestampError::Untrusted(format!(
                "signed by {:?}, not by the trusted authority's certificate {:?}",
                signer.tbs_certificate().subject().to_string(),
                want.tbs_certificate().subject().to_string()
            )));
        }

        // 4. Validity at genTime and the path to an anchor.
        let (nb, na) = pkix::validity(&signer);
        if t < nb || t > na {
            return Err(TimestampError::SignerExpired {
                gen_time: t,
                not_before: nb,
                not_after: na,
            });
        }
        let mut pool: Vec<Certificate> = embedded;
        pool.extend(trust.intermediates.iter().cloned());
        let path = pkix::build_path(&signer, &pool, trust.anchors, t)
            .map_err(TimestampError::Untrusted)?;

        // 5. RFC 3161 §2.3: one EKU, critical, id-kp-timeStamping.
        let tbs = signer.tbs_certificate();
        let eku_ext = tbs
            .extensions()
            .into_iter()
            .flatten()
            .find(|e| e.extn_id == OID_EKU)
            .ok_or_else(|| TimestampError::NotTimestamping("no extended key usage".into()))?;
        let eku = ExtendedKeyUsage::from_der(eku_ext.extn_value.as_bytes())
            .map_err(|e| malformed(format!("signer extended key usage: {e}")))?;
        if !eku_ext.critical || eku.0 != [OID_KP_TIMESTAMPING] {
            return Err(TimestampError::NotTimestamping(
                "the extended key usage must be critical and only id-kp-timeStamping".into(),
            ));
        }

        // 6. Signed attributes.
        let attrs = si.signed_attrs.as_ref().ok_or_else(|| {
            TimestampError::SignedAttributes("the SignerInfo has no signed attributes".into())
        })?;
        let single = |oid: ObjectIdentifier, name: &str| -> Result<&Any, TimestampError> {
            let mut found = attrs.iter().filter(|a| a.oid == oid);
            match (found.next(), found.next()) {
                (Some(a), None) if a.values.len() == 1 => {
                    a.values.iter().next().ok_or_else(|| malformed(name))
                }
                (None, _) => Err(TimestampError::SignedAttributes(format!(
                    "no {name} attribute"
                ))),
                _ => Err(TimestampError::SignedAttributes(format!(
                    "the {name} attribute is not single-valued"
                ))),
            }
        };
        let ct: ObjectIdentifier = single(OID_CONTENT_TYPE, "content-type")?
            .decode_as()
            .map_err(|e| malformed(format!("content-type attribute: {e}")))?;
        if ct != OID_TST_INFO {
            return Err(TimestampError::SignedAttributes(format!(
                "content-type attribute {ct} is not id-ct-TSTInfo"
            )));
        }
        let digest_hash = Hash::from_oid(si.digest_alg.oid).ok_or_else(|| {
            TimestampError::Unsupported(format!("digest algorithm {}", si.digest_alg.oid))
        })?;
        let md: OctetString = single(OID_MESSAGE_DIGEST, "message-digest")?
            .decode_as()
            .map_err(|e| malformed(format!("message-digest attribute: {e}")))?;
        if md.as_bytes() != digest_hash.digest(&self.tst_der) {
            return Err(TimestampError::SignedAttributes(
                "the message-digest attribute is not the hash of the TSTInfo".into(),
            ));
        }
        check_ess(attrs, &signer)?;

        // 7. The signature over DER(SET OF attributes).
        let scheme = pkix::scheme(&si.signature_algorithm, Some(digest_hash))
            .map_err(TimestampError::Unsupported)?;
        let signed_bytes = attrs
            .to_der()
            .map_err(|e| malformed(format!("signed attributes: {e}")))?;
        let spki = pkix::spki_der(&signer).map_err(malformed)?;
        pkix::verify_signature(&spki, scheme, &signed_bytes, si.signature.as_bytes())
            .map_err(TimestampError::BadSignature)?;

        let accuracy_micros = self.tst.accuracy.as_ref().map(|a| {
            a.seconds.unwrap_or(0).saturating_mul(1_000_000)
                + u64::from(a.millis.unwrap_or(0)) * 1000
                + u64::from(a.micros.unwrap_or(0))
        });
        Ok(Timestamp {
            gen_time: t,
            accuracy_micros,
            hash,
            policy: self.tst.policy.to_string(),
            serial: hex::encode(self.tst.serial_number.as_bytes()),
            signer_subject: signer.tbs_certificate().subject().to_string(),
            path,
        })
    }
}

/// The ESS signing-certificate attribute names `signer` (RFC 5035 §5.4: the first
/// certificate identifier is the signer's).
fn check_ess(
    attrs: &x509_cert::attr::Attributes,
    signer: &Certificate,
) -> Result<(), TimestampError> {
    let der = signer.to_der().map_err(malformed)?;
    let mismatch = |m: &str| TimestampError::SigningCertificateMismatch(m.into());
    let issuer_serial_ok = |is: &Option<IssuerSerial>| {
        match is {
        None => true,
        Some(is) => {
            is.serial == *signer.tbs_certificate().serial_number()
                && is.issuer.iter().any(|g| {
                    matches!(g, GeneralName::DirectoryName(n) if n == signer.tbs_certificate().issuer())
                })
        }
    }
    };
    let one = |oid: ObjectIdentifier| -> Result<Option<&Any>, TimestampError> {
        let mut it = attrs.iter().filter(|a| a.oid == oid);
        match (it.next(), it.next()) {
            (None, _) => Ok(None),
            (Some(a), None) if a.values.len() == 1 => Ok(a.values.iter().next()),
            _ => Err(TimestampError::SignedAttributes(
                "the signing-certificate attribute is not single-valued".into(),
            )),
        }
    };
    if let Some(v) = one(OID_SIGNING_CERT_V2)? {
        let sc: SigningCertificateV2 = v
            .decode_as()
            .map_err(|e| malformed(format!("signingCertificateV2: {e}")))?;
        let first = sc
            .certs
            .first()
            .ok_or_else(|| mismatch("signingCertificateV2 lists no certificate"))?;
        let hash = match &first.hash_algorithm {
            None => Hash::Sha256,
            Some(a) => Hash::from_oid(a.oid).ok_or_else(|| {
                TimestampError::Unsupported(format!("ESSCertIDv2 hash {}", a.oid))
            })?,
        };
        if first.cert_hash.as_bytes() != hash.digest(&der) {
            return Err(mismatch(
                "the ESSCertIDv2 certificate hash is not the signer certificate's",
            ));
        }
        if !issuer_serial_ok(&first.issuer_serial) {
            return Err(mismatch(
                "the ESSCertIDv2 issuer/serial is not the signer certificate's",
            ));
        }
        return Ok(());
    }
    if let Some(v) = one(OID_SIGNING_CERT)? {
        use sha1::Digest as _;
        let sc: SigningCertificate = v
            .decode_as()
            .map_err(|e| malformed(format!("signingCertificate: {e}")))?;
        let first = sc
            .certs
            .first()
            .ok_or_else(|| mismatch("signingCertificate lists no certificate"))?;
        if first.cert_hash.as_bytes() != sha1::Sha1::digest(&der).as_slice() {
            return Err(mismatch(
                "the ESSCertID certificate hash is not the signer certificate's",
            ));
        }
        if !issuer_serial_ok(&first.issuer_serial) {
            return Err(mismatch(
                "the ESSCertID issuer/serial is not the signer certificate's",
            ));
        }
        return Ok(());
    }
    Err(TimestampError::SignedAttributes(
        "no signing-certificate attribute (ESSCertIDv2 or ESSCertID)".into(),
    ))
}

/// Parse and verify in one step.
pub fn verify(
    token: &[u8],
    message: &[u8],
    trust: &TsaTrust<'_>,
) -> Result<Timestamp, TimestampError> {
    parse(token)?.verify(message, trust)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gt(s: &str) -> Result<i64, TimestampError> {
        let any = Any::new(der::Tag::GeneralizedTime, s.as_bytes()).unwrap();
        generalized_time(&any)
    }

    #[test]
    fn generalized_times() {
        assert_eq!(gt("20250612120220Z"), Ok(1_749_729_740));
        assert_eq!(gt("20250612120220.5Z"), Ok(1_749_729_740));
        assert_eq!(gt("20250612120220.123456Z"), Ok(1_749_729_740));
        for bad in [
            "20250612120220",
            "20250612120220.Z",
            "20250612120220.50Z",
            "2025061212022Z",
            "20251312120220Z",
            "20250612120220+0100",
            "2025-06-12T12:02:20Z",
        ] {
            assert_eq!(gt(bad).unwrap_err().code(), "timestamp_malformed", "{bad}");
        }
        let utc = Any::new(der::Tag::UtcTime, b"250612120220Z".as_slice()).unwrap();
        assert!(generalized_time(&utc).is_err());
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for b in [
            &[][..],
            &[0x30],
            &[0x30, 0x00],
            &[0x30, 0x03, 0x30, 0x01, 0x02],
            &[0x30, 0x03, 0x06, 0x01, 0x00],
            &[0x04, 0x00],
        ] {
            assert_eq!(
                parse(b).err().map(|e| e.code()),
                Some("timestamp_malformed")
            );
        }
    }
}
