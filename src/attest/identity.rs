//! The keyless verification policy: which signers (certificate SAN + OIDC issuer) are
//! accepted, and reading those two facts out of a Fulcio certificate (sigstore-go's
//! `CertificateIdentity`). Pure; the certificate itself is trusted elsewhere
//! (`certificate`).

use super::verify::Failure;
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::der::asn1::{ObjectIdentifier, Utf8StringRef};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

const OID_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
const OID_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");

/// One accepted signer: the certificate subject (a SAN) and the OIDC issuer (exact).
#[derive(Debug, Clone)]
pub struct CertIdentity {
    pub subject: SubjectMatch,
    pub issuer: String,
}

/// How a SAN is matched.
#[derive(Debug, Clone)]
pub enum SubjectMatch {
    /// Equal, byte for byte.
    Exact(String),
    /// The whole SAN matches the expression (anchored: cosign searches instead, which
    /// lets `https://github.com/org/` match any repository's workflow).
    Regexp(regex::Regex),
}

impl SubjectMatch {
    /// An anchored expression; errors name what is wrong with it.
    pub fn regexp(pattern: &str) -> Result<SubjectMatch, regex::Error> {
        regex::Regex::new(&format!("^(?:{pattern})$")).map(SubjectMatch::Regexp)
    }

    pub fn matches(&self, san: &str) -> bool {
        match self {
            SubjectMatch::Exact(s) => s == san,
            SubjectMatch::Regexp(r) => r.is_match(san),
        }
    }
}

impl std::fmt::Display for SubjectMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubjectMatch::Exact(s) => f.write_str(s),
            SubjectMatch::Regexp(r) => write!(f, "/{}/", r.as_str()),
        }
    }
}

/// The certificate's URI and e-mail subject alternative names.
pub fn subject_alt_names(c: &Certificate) -> Result<Vec<String>, Failure> {
    let san = c
        .tbs_certificate()
        .get_extension::<SubjectAltName>()
        .map_err(|e| Failure::malformed("certificate subjectAltName", e))?;
    Ok(san
        .map(|(_, s)| s.0)
        .unwrap_or_default()
        .iter()
        .filter_map(|n| match n {
            GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
            GeneralName::Rfc822Name(e) => Some(e.to_string()),
            _ => None,
        })
        .collect())
}

/// The Fulcio OIDC issuer: extension .1.8 (a DER UTF8String), else legacy .1.1 (raw
/// bytes).
pub fn oidc_issuer(c: &Certificate) -> Result<Option<String>, Failure> {
    let exts = c.tbs_certificate().extensions();
    let find = |oid: ObjectIdentifier| {
        exts.into_iter()
            .flatten()
            .find(|e| e.extn_id == oid)
            .map(|e| e.extn_value.as_bytes())
    };
    if let Some(v) = find(OID_ISSUER_V2) {
        let s = Utf8StringRef::from_der(v)
            .map_err(|e| Failure::malformed("certificate OIDC issuer extension", e))?;
        return Ok(Some(s.as_str().to_string()));
    }
    Ok(find(OID_ISSUER_V1).map(|v| String::from_utf8_lossy(v).into_owned()))
}

/// The first of `identities` the leaf matches: (its index, the SAN that matched). A SAN
/// that matches with the wrong issuer is reported as an issuer mismatch.
pub fn match_identity(
    identities: &[CertIdentity],
    leaf: &Certificate,
) -> Result<(usize, String), Failure> {
    let sans = subject_alt_names(leaf)?;
    let issuer = oidc_issuer(leaf)?;
    let mut subject_matched = false;
    for (i, id) in identities.iter().enumerate() {
        for san in &sans {
            if id.subject.matches(san) {
                subject_matched = true;
                if issuer.as_deref() == Some(id.issuer.as_str()) {
                    return Ok((i, san.clone()));
                }
            }
        }
    }
    if subject_matched {
        return Err(Failure::CertificateIssuerMismatch {
            expected: identities.iter().map(|i| i.issuer.clone()).collect(),
            found: issuer.unwrap_or_else(|| "(no issuer extension)".into()),
        });
    }
    Err(Failure::CertificateIdentityMismatch {
        expected: identities.iter().map(|i| i.subject.to_string()).collect(),
        found: sans,
    })
}
