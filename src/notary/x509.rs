//! The X.509 side of a Notary signature: the signing key and its algorithm, signatures
//! of certificates over certificates, and the certificate rules of the Notary Project
//! specification (`signature-specification.md` § Certificate Requirements) as
//! notation-core-go applies them (`x509/codesigning_cert_validations.go`).
//!
//! Keys: RSA 2048/3072/4096 (RustCrypto `rsa`), ECDSA P-256/P-384 (`p256`/`p384`).
//! The spec's P-521 (ES512) is refused as unsupported: no P-521 crate is in the build.
//! Certificate signatures: sha256/384/512WithRSAEncryption, RSASSA-PSS (SHA-256/384/512),
//! ecdsa-with-SHA256/384/512.

use super::Failure;
use crate::time::rfc3339;
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use x509_cert::Certificate;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};

const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_SHA256_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const OID_SHA384_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const OID_SHA512_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const OID_ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const OID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
/// EKUs a code-signing leaf must not have (serverAuth, clientAuth, emailProtection,
/// timeStamping, OCSPSigning).
const EXCLUDED_CODE_SIGNING_EKUS: [&str; 5] = [
    "1.3.6.1.5.5.7.3.1",
    "1.3.6.1.5.5.7.3.2",
    "1.3.6.1.5.5.7.3.4",
    "1.3.6.1.5.5.7.3.8",
    "1.3.6.1.5.5.7.3.9",
];

/// A hash function of the signature algorithms here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

/// The envelope signature algorithms of the spec (JWS / COSE names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    Es512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Ps256 => "PS256",
            Algorithm::Ps384 => "PS384",
            Algorithm::Ps512 => "PS512",
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::Es512 => "ES512",
        }
    }

    pub fn from_jws(name: &str) -> Option<Algorithm> {
        Some(match name {
            "PS256" => Algorithm::Ps256,
            "PS384" => Algorithm::Ps384,
            "PS512" => Algorithm::Ps512,
            "ES256" => Algorithm::Es256,
            "ES384" => Algorithm::Es384,
            "ES512" => Algorithm::Es512,
            _ => return None,
        })
    }

    /// From the COSE algorithm identifier (RFC 9053 / RFC 8230).
    pub fn from_cose(id: i64) -> Option<Algorithm> {
        Some(match id {
            -37 => Algorithm::Ps256,
            -38 => Algorithm::Ps384,
            -39 => Algorithm::Ps512,
            -7 => Algorithm::Es256,
            -35 => Algorithm::Es384,
            -36 => Algorithm::Es512,
            _ => return None,
        })
    }

    fn hash(self) -> Hash {
        match self {
            Algorithm::Ps256 | Algorithm::Es256 => Hash::Sha256,
            Algorithm::Ps384 | Algorithm::Es384 => Hash::Sha384,
            Algorithm::Ps512 | Algorithm::Es512 => Hash::Sha512,
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A certificate's public key, of a kind the spec allows.
#[derive(Debug, Clone)]
pub enum Key {
    /// RSA with its modulus size in bits.
    Rsa(rsa::PublicKey, usize),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

impl Key {
    /// The key of `c`; spec-disallowed kinds and sizes are `Unsupported`.
    pub fn of(c: &Certificate) -> Result<Key, Failure> {
        use p256::pkcs8::DecodePublicKey;
        use rsa::traits::PublicKeyParts;
        let spki = c.tbs_certificate().subject_public_key_info();
        let der = spki
            .to_der()
            .map_err(|e| Failure::malformed("certificate public key", e))?;
        let alg = spki.algorithm.oid;
        if alg == OID_RSA {
            let k = rsa::PublicKey::from_public_key_der(&der)
                .map_err(|e| Failure::malformed("RSA public key", e))?;
            let bits = k.n().bit_width() as usize;
            if ![2048, 3072, 4096].contains(&bits) {
                return Err(Failure::Unsupported(format!(
                    "RSA key of {bits} bits (the spec allows 2048, 3072, 4096)"
                )));
            }
            return Ok(Key::Rsa(k, bits));
        }
        if alg == OID_EC {
            if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(&der) {
                return Ok(Key::P256(k));
            }
            if let Ok(k) = p384::ecdsa::VerifyingKey::from_public_key_der(&der) {
                return Ok(Key::P384(k));
            }
            return Err(Failure::Unsupported(
                "EC key on a curve other than P-256/P-384 (P-521 is not supported here)".into(),
            ));
        }
        Err(Failure::Unsupported(format!("public key algorithm {alg}")))
    }

    /// The envelope algorithm this key's spec implies (RSA-2048 → PS256, …).
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Key::Rsa(_, 2048) => Algorithm::Ps256,
            Key::Rsa(_, 3072) => Algorithm::Ps384,
            Key::Rsa(..) => Algorithm::Ps512,
            Key::P256(_) => Algorithm::Es256,
            Key::P384(_) => Algorithm::Es384,
        }
    }

    /// Verify an envelope signature: RSASSA-PSS with salt length = hash length
    /// (PSn), or ECDSA as the fixed-size `r ‖ s` both envelope formats use (ESn).
    pub fn verify_envelope(&self, alg: Algorithm, msg: &[u8], sig: &[u8]) -> bool {
        match (self, alg) {
            (Key::Rsa(k, _), Algorithm::Ps256 | Algorithm::Ps384 | Algorithm::Ps512) => {
                pss_verify(k, alg.hash(), msg, sig, None)
            }
            (Key::P256(k), Algorithm::Es256) => {
                use p256::ecdsa::signature::Verifier;
                p256::ecdsa::Signature::from_slice(sig).is_ok_and(|s| k.verify(msg, &s).is_ok())
            }
            (Key::P384(k), Algorithm::Es384) => {
                use p384::ecdsa::signature::Verifier;
                p384::ecdsa::Signature::from_slice(sig).is_ok_and(|s| k.verify(msg, &s).is_ok())
            }
            _ => false,
        }
    }
}

fn pss_verify(k: &rsa::PublicKey, h: Hash, msg: &[u8], sig: &[u8], salt: Option<usize>) -> bool {
    use rsa::signature::Verifier;
    let Ok(s) = rsa::pss::Signature::try_from(sig) else {
        return false;
    };
    match h {
        Hash::Sha256 => {
            rsa::pss::VerifyingKey::<Sha256>::new_with_salt_len(k.clone(), salt.unwrap_or(32))
                .verify(msg, &s)
                .is_ok()
        }
        Hash::Sha384 => {
            rsa::pss::VerifyingKey::<Sha384>::new_with_salt_len(k.clone(), salt.unwrap_or(48))
                .verify(msg, &s)
                .is_ok()
        }
        Hash::Sha512 => {
            rsa::pss::VerifyingKey::<Sha512>::new_with_salt_len(k.clone(), salt.unwrap_or(64))
                .verify(msg, &s)
                .is_ok()
        }
    }
}

fn pkcs1_verify(k: &rsa::PublicKey, h: Hash, msg: &[u8], sig: &[u8]) -> bool {
    use rsa::signature::Verifier;
    let Ok(s) = rsa::pkcs1v15::Signature::try_from(sig) else {
        return false;
    };
    match h {
        Hash::Sha256 => rsa::pkcs1v15::VerifyingKey::<Sha256>::new(k.clone())
            .verify(msg, &s)
            .is_ok(),
        Hash::Sha384 => rsa::pkcs1v15::VerifyingKey::<Sha384>::new(k.clone())
            .verify(msg, &s)
            .is_ok(),
        Hash::Sha512 => rsa::pkcs1v15::VerifyingKey::<Sha512>::new(k.clone())
            .verify(msg, &s)
            .is_ok(),
    }
}

fn hash_of_oid(o: ObjectIdentifier) -> Option<Hash> {
    match o {
        o if o == OID_SHA256 => Some(Hash::Sha256),
        o if o == OID_SHA384 => Some(Hash::Sha384),
        o if o == OID_SHA512 => Some(Hash::Sha512),
        _ => None,
    }
}

fn pss_params(der: &[u8]) -> Result<(Hash, usize), String> {
    let p = rsa::pkcs1::RsaPssParams::<x509_cert::der::Any>::from_der(der)
        .map_err(|e| format!("RSASSA-PSS parameters: {e}"))?;
    let h = hash_of_oid(p.hash.oid).ok_or("RSASSA-PSS with a hash other than SHA-2")?;
    Ok((h, usize::from(p.salt_len)))
}

/// Does `parent`'s key verify `child`'s signature? (Names are not compared here.)
pub fn signature_from(child: &Certificate, parent: &Certificate) -> Result<(), String> {
    let tbs = child
        .tbs_certificate()
        .to_der()
        .map_err(|e| e.to_string())?;
    let sig = child
        .signature()
        .as_bytes()
        .ok_or("signature bit string is not whole bytes")?;
    let alg = child.signature_algorithm();
    let key = parent
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| e.to_string())?;
    let rsa_key = || {
        use p256::pkcs8::DecodePublicKey;
        rsa::PublicKey::from_public_key_der(&key).map_err(|_| "the issuer key is not RSA")
    };
    let ok = match alg.oid {
        o if o == OID_SHA256_RSA => pkcs1_verify(&rsa_key()?, Hash::Sha256, &tbs, sig),
        o if o == OID_SHA384_RSA => pkcs1_verify(&rsa_key()?, Hash::Sha384, &tbs, sig),
        o if o == OID_SHA512_RSA => pkcs1_verify(&rsa_key()?, Hash::Sha512, &tbs, sig),
        o if o == OID_RSA_PSS => {
            let params = alg
                .parameters
                .as_ref()
                .ok_or("RSASSA-PSS without parameters")?
                .to_der()
                .map_err(|e| e.to_string())?;
            let (h, salt) = pss_params(&params)?;
            pss_verify(&rsa_key()?, h, &tbs, sig, Some(salt))
        }
        o if o == OID_ECDSA_SHA256 || o == OID_ECDSA_SHA384 || o == OID_ECDSA_SHA512 => {
            use p256::ecdsa::signature::hazmat::PrehashVerifier;
            use p256::pkcs8::DecodePublicKey;
            let h = match o {
                o if o == OID_ECDSA_SHA256 => Hash::Sha256,
                o if o == OID_ECDSA_SHA384 => Hash::Sha384,
                _ => Hash::Sha512,
            };
            let prehash = h.digest(&tbs);
            if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(&key) {
                p256::ecdsa::DerSignature::from_bytes(sig)
                    .is_ok_and(|s| k.verify_prehash(&prehash, &s).is_ok())
            } else if let Ok(k) = p384::ecdsa::VerifyingKey::from_public_key_der(&key) {
                p384::ecdsa::DerSignature::from_bytes(sig)
                    .is_ok_and(|s| k.verify_prehash(&prehash, &s).is_ok())
            } else {
                return Err("the issuer key is not ECDSA P-256/P-384".into());
            }
        }
        o => {
            return Err(format!(
                "certificate signature algorithm {o} is not supported"
            ));
        }
    };
    if ok {
        Ok(())
    } else {
        Err("the signature does not verify with the issuer's key".into())
    }
}

/// Was `child` issued by `parent` (name and signature)?
pub fn issued_by(child: &Certificate, parent: &Certificate) -> Result<(), String> {
    signature_from(child, parent)?;
    if child.tbs_certificate().issuer() != parent.tbs_certificate().subject() {
        return Err("the issuer name differs from the issuer's subject".into());
    }
    Ok(())
}

pub fn is_self_signed(c: &Certificate) -> bool {
    issued_by(c, c).is_ok()
}

/// The subject as RFC 4514 prints it (`CN=…,O=…,C=…`).
pub fn subject(c: &Certificate) -> String {
    c.tbs_certificate().subject().to_string()
}

/// notBefore and notAfter, in Unix seconds.
pub fn validity(c: &Certificate) -> (i64, i64) {
    let v = c.tbs_certificate().validity();
    let secs = |t: x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs());
    (
        secs(v.not_before).unwrap_or(i64::MAX),
        secs(v.not_after).unwrap_or(i64::MIN),
    )
}

/// `Ok` when `c` is valid at `t`; else the failure naming it.
pub fn valid_at(c: &Certificate, t: i64) -> Result<(), Failure> {
    let (nb, na) = validity(c);
    if nb <= t && t <= na {
        return Ok(());
    }
    Err(Failure::CertificateExpired {
        subject: subject(c),
        at: rfc3339(t),
        not_before: rfc3339(nb),
        not_after: rfc3339(na),
    })
}

/// SHA-256 (lower-case hex) of a certificate's DER.
pub fn thumbprint(c: &Certificate) -> String {
    hex::encode(Sha256::digest(c.to_der().unwrap_or_default()))
}

/// Parse the envelope's DER certificates (leaf first), within [`super::MAX_CHAIN_CERTS`].
pub fn parse_chain(ders: &[Vec<u8>]) -> Result<Vec<Certificate>, Failure> {
    if ders.is_empty() {
        return Err(Failure::InvalidChain(
            "the envelope carries no certificate chain".into(),
        ));
    }
    if ders.len() > super::MAX_CHAIN_CERTS {
        return Err(Failure::InvalidChain(format!(
            "{} certificates, over the limit of {}",
            ders.len(),
            super::MAX_CHAIN_CERTS
        )));
    }
    ders.iter()
        .enumerate()
        .map(|(i, d)| {
            Certificate::from_der(d)
                .map_err(|e| Failure::InvalidChain(format!("certificate {i}: {e}")))
        })
        .collect()
}

fn ext_critical(c: &Certificate, oid: ObjectIdentifier) -> Option<bool> {
    c.tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .find(|e| e.extn_id == oid)
        .map(|e| e.critical)
}

fn basic_constraints(c: &Certificate) -> Result<Option<BasicConstraints>, String> {
    c.tbs_certificate()
        .get_extension::<BasicConstraints>()
        .map(|o| o.map(|(_, b)| b))
        .map_err(|e| format!("basic constraints: {e}"))
}

fn key_usage(c: &Certificate) -> Result<Option<KeyUsage>, String> {
    c.tbs_certificate()
        .get_extension::<KeyUsage>()
        .map(|o| o.map(|(_, k)| k))
        .map_err(|e| format!("key usage: {e}"))
}

fn ekus(c: &Certificate) -> Result<Vec<String>, String> {
    Ok(c.tbs_certificate()
        .get_extension::<ExtendedKeyUsage>()
        .map_err(|e| format!("extended key usage: {e}"))?
        .map(|(_, e)| e.0.iter().map(|o| o.to_string()).collect())
        .unwrap_or_default())
}

/// A CA certificate `below` CA certificates above the leaf: basicConstraints cA true
/// (path length respected), key usage present, critical, with keyCertSign.
fn check_ca(c: &Certificate, below: usize) -> Result<(), String> {
    let s = subject(c);
    match basic_constraints(c)? {
        Some(bc) if bc.ca => {
            if let Some(n) = bc.path_len_constraint
                && usize::from(n) < below
            {
                return Err(format!(
                    "{s:?}: path length constraint {n}, but {below} CA certificate(s) below it"
                ));
            }
        }
        _ => {
            return Err(format!(
                "{s:?}: not a CA (basic constraints cA must be true)"
            ));
        }
    }
    key_usage_present(c)?;
    match key_usage(c)? {
        Some(ku) if ku.key_cert_sign() => Ok(()),
        _ => Err(format!("{s:?}: key usage lacks keyCertSign")),
    }
}

fn key_usage_present(c: &Certificate) -> Result<(), String> {
    match ext_critical(c, OID_KEY_USAGE) {
        Some(true) => Ok(()),
        Some(false) => Err(format!(
            "{:?}: the key usage extension must be critical",
            subject(c)
        )),
        None => Err(format!(
            "{:?}: the key usage extension must be present",
            subject(c)
        )),
    }
}

/// The code-signing leaf: not a CA; key usage critical with digitalSignature and none
/// of keyEncipherment, dataEncipherment, keyAgreement, keyCertSign, cRLSign,
/// encipherOnly, decipherOnly; no serverAuth/clientAuth/emailProtection/timeStamping/
/// OCSPSigning EKU; a key of an allowed kind.
fn check_code_signing_leaf(c: &Certificate) -> Result<(), Failure> {
    let s = subject(c);
    let bad = |m: String| Failure::InvalidChain(m);
    if basic_constraints(c).map_err(bad)?.is_some_and(|b| b.ca) {
        return Err(bad(format!("{s:?}: the signing certificate is a CA")));
    }
    key_usage_present(c).map_err(bad)?;
    let Some(ku) = key_usage(c).map_err(bad)? else {
        return Err(bad(format!(
            "{s:?}: the key usage extension must be present"
        )));
    };
    if !ku.digital_signature() {
        return Err(bad(format!("{s:?}: key usage lacks digitalSignature")));
    }
    if ku.key_encipherment()
        || ku.data_encipherment()
        || ku.key_agreement()
        || ku.key_cert_sign()
        || ku.crl_sign()
        || ku.encipher_only()
        || ku.decipher_only()
    {
        return Err(bad(format!(
            "{s:?}: key usage must be digitalSignature only (nonRepudiation allowed)"
        )));
    }
    for e in ekus(c).map_err(bad)? {
        if EXCLUDED_CODE_SIGNING_EKUS.contains(&e.as_str()) {
            return Err(bad(format!(
                "{s:?}: extended key usage {e} is not allowed on a code-signing certificate"
            )));
        }
    }
    Key::of(c)?;
    Ok(())
}

/// The chain rules of the spec (`ValidateCodeSigningCertChain` with no time): one
/// self-signed leaf, or leaf → intermediates → self-signed root, each issued by the next,
/// no self-signed certificate but the last, CA rules above the leaf, leaf rules on it.
pub fn check_code_signing_chain(chain: &[Certificate]) -> Result<(), Failure> {
    let bad = Failure::InvalidChain;
    let Some(leaf) = chain.first() else {
        return Err(bad("empty certificate chain".into()));
    };
    if chain.len() == 1 {
        issued_by(leaf, leaf).map_err(|e| {
            bad(format!(
                "{:?}: invalid self-signed certificate: {e}",
                subject(leaf)
            ))
        })?;
        return check_code_signing_leaf(leaf);
    }
    for (i, c) in chain.iter().enumerate() {
        if i == chain.len() - 1 {
            issued_by(c, c).map_err(|e| {
                bad(format!(
                    "the chain must end with a self-signed root; {:?}: {e}",
                    subject(c)
                ))
            })?;
        } else {
            if is_self_signed(c) {
                return Err(bad(format!(
                    "{:?} is self-signed but is not the last certificate of the chain",
                    subject(c)
                )));
            }
            issued_by(c, &chain[i + 1]).map_err(|e| {
                bad(format!(
                    "{:?} is not issued by {:?}: {e}",
                    subject(c),
                    subject(&chain[i + 1])
                ))
            })?;
        }
        if i == 0 {
            check_code_signing_leaf(c)?;
        } else {
            check_ca(c, i - 1).map_err(bad)?;
        }
    }
    Ok(())
}

/// Is `c` acceptable in a `ca`/`signingAuthority` trust store (a CA, or a self-signed
/// signing certificate)?
pub fn trust_store_ok(c: &Certificate) -> Result<(), String> {
    if basic_constraints(c)?.is_some_and(|b| b.ca) || signature_from(c, c).is_ok() {
        return Ok(());
    }
    Err(format!(
        "{:?} is neither a CA certificate nor a self-signed signing certificate",
        subject(c)
    ))
}

/// Is `c` a root (self-issued, self-signed) as a `tsa` trust store needs?
/// A root must be a CA too (as Go's `CheckSignatureFrom` demands of any issuer).
pub fn root_ok(c: &Certificate) -> Result<(), String> {
    let s = subject(c);
    issued_by(c, c).map_err(|e| format!("{s:?} is not a root certificate: {e}"))?;
    if !basic_constraints(c)?.is_some_and(|b| b.ca) {
        return Err(format!(
            "{s:?} is not a root CA certificate (basic constraints cA is not true)"
        ));
    }
    match key_usage(c)? {
        Some(ku) if !ku.key_cert_sign() => Err(format!("{s:?}: key usage lacks keyCertSign")),
        _ => Ok(()),
    }
}
