//! Cosign-compatible ECDSA P-256 keys: the encrypted private key file (`cosign.key`), the
//! PKIX public key (`cosign.pub`), signing and verifying, and the Sigstore key hint.
//!
//! Owns the key file formats and the raw ECDSA-P256-SHA256 operations. Does not own where
//! a password comes from (the CLI asks for it) nor where files go (`crate::atomic`).
//!
//! The private key file is PEM around JSON (cosign / go-securesystemslib "encrypted"):
//! `{"kdf":{"name":"scrypt","params":{"N":..,"r":8,"p":1},"salt":B64},
//!   "cipher":{"name":"nacl/secretbox","nonce":B64},"ciphertext":B64}`, the ciphertext being
//! XSalsa20-Poly1305 (NaCl secretbox) over the PKCS#8 DER key, keyed by
//! scrypt(password, salt, 32 bytes).
//!
//! Why RustCrypto crates (`p256`, `scrypt`, `crypto_secretbox`) and not the `sigstore`
//! crate: measured on this project's machine, `sigstore` 0.15 does not compile with
//! `default-features = false` (it demands `native-tls` or `rustls-tls`); with `rustls-tls`
//! it pulls 156 crates including `aws-lc-sys` (a C build through cmake/bindgen), tokio,
//! hyper and reqwest, for roughly 150 lines of key handling. It also falls short of the
//! format: it accepts only N = 32768 or 65536 (cosign also accepts 131072), writes
//! N = 32768 (cosign writes 65536), and writes PEM with CRLF line ends (cosign writes LF).
//! So we implement the format ourselves on the same primitives sigstore-rs uses.
//!
//! Signatures are RFC 6979 deterministic: signing the same payload twice gives the same
//! bytes, which keeps our outputs reproducible. Verifiers (cosign, securesystemslib,
//! sigstore-js) accept them like any ECDSA signature.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// PEM label cosign writes today.
pub const SIGSTORE_PRIVATE_KEY_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// PEM label older cosign versions wrote; still read.
pub const COSIGN_PRIVATE_KEY_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";
pub const PUBLIC_KEY_LABEL: &str = "PUBLIC KEY";

/// The scrypt parameter sets cosign (go-securesystemslib) accepts: legacy, standard, OWASP.
/// Anything else is refused before deriving, so a crafted key file cannot make us burn
/// gigabytes of memory.
pub const ACCEPTED_SCRYPT_N: [u64; 3] = [32768, 65536, 131072];
/// What we write: cosign's current default.
pub const DEFAULT_SCRYPT_N: u64 = 65536;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not a PEM file with a {0:?} block")]
    NoPemBlock(String),
    #[error("found a PEM {found:?} block where a {wanted:?} block was expected{hint}")]
    WrongPemBlock {
        wanted: String,
        found: String,
        hint: &'static str,
    },
    #[error("truncated key file: the PEM {0:?} block has no END line")]
    Truncated(String),
    #[error(
        "the file holds {count} PEM {label:?} blocks; give one key per file (a second key is never ignored)"
    )]
    SeveralKeys { label: String, count: usize },
    #[error("PEM block is not valid base64: {0}")]
    PemBase64(String),
    #[error("encrypted key JSON is malformed: {0}")]
    Json(String),
    #[error("unsupported key encryption: {0} (cosign keys use scrypt + nacl/secretbox)")]
    Unsupported(String),
    #[error(
        "scrypt parameters N={n} r={r} p={p} are not ones cosign writes (N 32768/65536/131072, r 8, p 1)"
    )]
    ScryptParams { n: u64, r: u64, p: u64 },
    #[error("wrong password (or corrupted key file): decryption failed authentication")]
    WrongPassword,
    #[error("decrypted key is not a PKCS#8 ECDSA P-256 private key: {0}")]
    NotP256Private(String),
    #[error("not a PKIX ECDSA P-256 public key: {0}")]
    NotP256Public(String),
    #[error("no random numbers from the operating system: {0}")]
    Random(String),
}

/// An ECDSA P-256 signing key.
pub struct PrivateKey {
    signing: SigningKey,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("public", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// An ECDSA verification key with its PKIX (SubjectPublicKeyInfo) DER encoding: P-256
/// (cosign keys, Fulcio leaves) or P-384 (Fulcio leaves of P-384 signers, which sign
/// with SHA-384).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    verifying: Verifying,
    spki_der: Vec<u8>,
}

#[derive(Clone, PartialEq, Eq)]
enum Verifying {
    P256(VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey(hint {})", self.hint())
    }
}

#[derive(Serialize, Deserialize)]
struct EncryptedKey {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u64,
    p: u64,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

fn random_bytes<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(b)
}

fn scrypt_key(password: &[u8], salt: &[u8], n: u64, r: u64, p: u64) -> Result<[u8; 32], KeyError> {
    if !ACCEPTED_SCRYPT_N.contains(&n) || r != 8 || p != 1 {
        return Err(KeyError::ScryptParams { n, r, p });
    }
    let log_n = n.trailing_zeros() as u8;
    let params = scrypt::Params::new(log_n, 8, 1).map_err(|e| KeyError::Json(e.to_string()))?;
    let mut out = [0u8; 32];
    scrypt::scrypt(password, salt, &params, &mut out).map_err(|e| KeyError::Json(e.to_string()))?;
    Ok(out)
}

impl PrivateKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Result<PrivateKey, KeyError> {
        // Rejection sampling: a 32-byte string is a valid scalar unless it is zero or
        // >= the group order (probability ~2^-32); retry rather than bias.
        for _ in 0..64 {
            let bytes = random_bytes::<32>()?;
            if let Ok(signing) = SigningKey::from_slice(&bytes) {
                return Ok(PrivateKey { signing });
            }
        }
        Err(KeyError::Random(
            "no valid P-256 scalar in 64 draws".to_string(),
        ))
    }

    /// From PKCS#8 DER (what the encrypted file wraps).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<PrivateKey, KeyError> {
        let signing =
            SigningKey::from_pkcs8_der(der).map_err(|e| KeyError::NotP256Private(e.to_string()))?;
        Ok(PrivateKey { signing })
    }

    /// Decrypt a cosign key file (`ENCRYPTED SIGSTORE PRIVATE KEY` or the older
    /// `ENCRYPTED COSIGN PRIVATE KEY`) with its password.
    pub fn from_encrypted_pem(pem: &[u8], password: &[u8]) -> Result<PrivateKey, KeyError> {
        let der = pem_decode_any(pem, &[SIGSTORE_PRIVATE_KEY_LABEL, COSIGN_PRIVATE_KEY_LABEL])?;
        let enc: EncryptedKey =
            serde_json::from_slice(&der).map_err(|e| KeyError::Json(e.to_string()))?;
        if enc.kdf.name != "scrypt" {
            return Err(KeyError::Unsupported(format!("kdf {:?}", enc.kdf.name)));
        }
        if enc.cipher.name != "nacl/secretbox" {
            return Err(KeyError::Unsupported(format!(
                "cipher {:?}",
                enc.cipher.name
            )));
        }
        let b64 = |what: &str, s: &str| {
            B64.decode(s)
                .map_err(|e| KeyError::Json(format!("{what} is not base64: {e}")))
        };
        let salt = b64("salt", &enc.kdf.salt)?;
        let nonce = b64("nonce", &enc.cipher.nonce)?;
        let ciphertext = b64("ciphertext", &enc.ciphertext)?;
        if nonce.len() != 24 {
            return Err(KeyError::Json(format!(
                "secretbox nonce must be 24 bytes, found {}",
                nonce.len()
            )));
        }
        let p = &enc.kdf.params;
        let key = scrypt_key(password, &salt, p.n, p.r, p.p)?;
        let plain = secretbox_open(&key, &nonce, &ciphertext)?;
        PrivateKey::from_pkcs8_der(&plain)
    }

    /// Encrypt as cosign does (scrypt N=`n`, r=8, p=1, fresh 32-byte salt and 24-byte
    /// nonce) and wrap in PEM `ENCRYPTED SIGSTORE PRIVATE KEY` with LF line ends.
    pub fn to_encrypted_pem(&self, password: &[u8], n: u64) -> Result<String, KeyError> {
        let salt = random_bytes::<32>()?;
        let nonce = random_bytes::<24>()?;
        let key = scrypt_key(password, &salt, n, 8, 1)?;
        let der = self
            .signing
            .to_pkcs8_der()
            .map_err(|e| KeyError::NotP256Private(e.to_string()))?;
        let ciphertext = secretbox_seal(&key, &nonce, der.as_bytes())?;
        let json = serde_json::to_vec(&EncryptedKey {
            kdf: Kdf {
                name: "scrypt".into(),
                params: ScryptParams { n, r: 8, p: 1 },
                salt: B64.encode(salt),
            },
            cipher: Cipher {
                name: "nacl/secretbox".into(),
                nonce: B64.encode(nonce),
            },
            ciphertext: B64.encode(ciphertext),
        })
        .map_err(|e| KeyError::Json(e.to_string()))?;
        Ok(pem_encode(SIGSTORE_PRIVATE_KEY_LABEL, &json))
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_verifying(*self.signing.verifying_key())
    }

    /// ECDSA-P256-SHA256 over `message`, ASN.1 DER encoded (what cosign and DSSE carry).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer as _;
        let sig: DerSignature = self.signing.sign(message);
        sig.as_bytes().to_vec()
    }
}

fn secretbox_open(key: &[u8; 32], nonce: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, KeyError> {
    use crypto_secretbox::aead::{Aead, KeyInit};
    let cipher = crypto_secretbox::XSalsa20Poly1305::new(key.into());
    let nonce = crypto_secretbox::Nonce::from_slice(nonce);
    cipher
        .decrypt(nonce, ciphertext)
        .map_err(|_| KeyError::WrongPassword)
}

fn secretbox_seal(key: &[u8; 32], nonce: &[u8; 24], plain: &[u8]) -> Result<Vec<u8>, KeyError> {
    use crypto_secretbox::aead::{Aead, KeyInit};
    let cipher = crypto_secretbox::XSalsa20Poly1305::new(key.into());
    cipher
        .encrypt(nonce.into(), plain)
        .map_err(|_| KeyError::Unsupported("secretbox encryption failed".into()))
}

impl PublicKey {
    fn from_verifying(verifying: VerifyingKey) -> PublicKey {
        // Encoding a valid P-256 point as SPKI cannot fail; fall back to an empty DER
        // (which matches no hint) rather than panicking if the crate ever says otherwise.
        let spki_der = verifying
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        PublicKey {
            verifying: Verifying::P256(verifying),
            spki_der,
        }
    }

    /// From PKIX (SubjectPublicKeyInfo) DER: P-256, or P-384.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        use p256::pkcs8::DecodePublicKey;
        match VerifyingKey::from_public_key_der(der) {
            Ok(v) => Ok(PublicKey::from_verifying(v)),
            Err(e) => match p384::ecdsa::VerifyingKey::from_public_key_der(der) {
                Ok(v) => Ok(PublicKey {
                    verifying: Verifying::P384(v),
                    spki_der: der.to_vec(),
                }),
                Err(_) => Err(KeyError::NotP256Public(e.to_string())),
            },
        }
    }

    /// From a PEM `PUBLIC KEY` block (cosign.pub).
    pub fn from_pem(pem: &[u8]) -> Result<PublicKey, KeyError> {
        let der = pem_decode_any(pem, &[PUBLIC_KEY_LABEL])?;
        PublicKey::from_spki_der(&der)
    }

    /// PEM `PUBLIC KEY`, 64-column base64, LF line ends (as cosign writes).
    pub fn to_pem(&self) -> String {
        pem_encode(PUBLIC_KEY_LABEL, &self.spki_der)
    }

    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// Sigstore's key hint: base64 (standard, padded) of sha256 of the PKIX DER.
    pub fn hint(&self) -> String {
        B64.encode(Sha256::digest(&self.spki_der))
    }

    /// Check an ASN.1 DER ECDSA signature over `message` (P-256 with SHA-256, P-384 with
    /// SHA-384).
    pub fn verify(&self, message: &[u8], der_signature: &[u8]) -> Result<(), SignatureError> {
        use p256::ecdsa::signature::Verifier as _;
        match &self.verifying {
            Verifying::P256(k) => {
                let sig = p256::ecdsa::Signature::from_der(der_signature)
                    .map_err(|_| SignatureError::NotDer)?;
                k.verify(message, &sig).map_err(|_| SignatureError::Invalid)
            }
            Verifying::P384(k) => {
                let sig = p384::ecdsa::Signature::from_der(der_signature)
                    .map_err(|_| SignatureError::NotDer)?;
                k.verify(message, &sig).map_err(|_| SignatureError::Invalid)
            }
        }
    }

    /// Check a DER signature given only the SHA-256 of the message (Sigstore
    /// `messageSignature` bundles carry the digest, not the artifact).
    pub fn verify_sha256_prehash(
        &self,
        sha256: &[u8; 32],
        der_signature: &[u8],
    ) -> Result<(), SignatureError> {
        use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
        match &self.verifying {
            Verifying::P256(k) => {
                let sig = p256::ecdsa::Signature::from_der(der_signature)
                    .map_err(|_| SignatureError::NotDer)?;
                k.verify_prehash(sha256, &sig)
                    .map_err(|_| SignatureError::Invalid)
            }
            Verifying::P384(k) => {
                let sig = p384::ecdsa::Signature::from_der(der_signature)
                    .map_err(|_| SignatureError::NotDer)?;
                k.verify_prehash(sha256, &sig)
                    .map_err(|_| SignatureError::Invalid)
            }
        }
    }
}

/// Why a raw signature check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature is not an ASN.1 DER ECDSA signature")]
    NotDer,
    #[error("signature does not verify with this key")]
    Invalid,
}

/// A freshly generated key pair as the two files cosign writes.
pub struct KeyPairFiles {
    /// `cosign.key`: PEM `ENCRYPTED SIGSTORE PRIVATE KEY`.
    pub private_pem: String,
    /// `cosign.pub`: PEM `PUBLIC KEY`.
    pub public_pem: String,
    pub public_key: PublicKey,
}

/// Generate a P-256 key pair encrypted with `password` at cosign's default scrypt cost.
pub fn generate_key_pair(password: &[u8]) -> Result<KeyPairFiles, KeyError> {
    let key = PrivateKey::generate()?;
    let public_key = key.public_key();
    Ok(KeyPairFiles {
        private_pem: key.to_encrypted_pem(password, DEFAULT_SCRYPT_N)?,
        public_pem: public_key.to_pem(),
        public_key,
    })
}

/// Go's `encoding/pem` layout: 64-column base64 lines, LF, trailing newline.
fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    // base64 output is ASCII, so byte chunks are valid UTF-8.
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Find the first PEM block with one of `labels` and decode it. Lenient like Go's
/// `encoding/pem` about what surrounds the block, CRLF vs LF and a missing final newline
/// (sigstore-rs writes CRLF; cosign's test keys have no final newline), which the strict
/// RFC 7468 decoder in `pem-rfc7468` would refuse.
fn pem_decode_any(pem: &[u8], labels: &[&str]) -> Result<Vec<u8>, KeyError> {
    let text = std::str::from_utf8(pem).map_err(|_| KeyError::NoPemBlock(labels.join(" or ")))?;
    for label in labels {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        let Some(start) = text.find(&begin) else {
            continue;
        };
        let count = text.matches(&begin).count();
        if count > 1 {
            return Err(KeyError::SeveralKeys {
                label: label.to_string(),
                count,
            });
        }
        let body_start = start + begin.len();
        let Some(body_len) = text.get(body_start..).and_then(|rest| rest.find(&end)) else {
            return Err(KeyError::Truncated(label.to_string()));
        };
        let body: String = text
            .get(body_start..body_start + body_len)
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        if body.contains(':') {
            return Err(KeyError::PemBase64("PEM headers are not supported".into()));
        }
        // Like Go's non-strict base64: non-zero trailing bits are ignored, so a damaged
        // key is reported as a bad key rather than bad base64.
        let lenient = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        );
        return lenient
            .decode(body.as_bytes())
            .map_err(|e| KeyError::PemBase64(e.to_string()));
    }
    let wanted = labels.join(" or ");
    let found = text
        .split("-----BEGIN ")
        .nth(1)
        .and_then(|rest| rest.split_once("-----"))
        .map(|(label, _)| label.to_string());
    Err(match found {
        Some(found) => {
            let hint = if found.contains("PUBLIC") && wanted.contains("PRIVATE") {
                ": this is a public key; sign with the private .key file"
            } else if found.contains("PRIVATE") && wanted.contains("PUBLIC") {
                ": this is a private key; verify with the public .pub file"
            } else {
                ""
            };
            KeyError::WrongPemBlock {
                wanted,
                found,
                hint,
            }
        }
        // `-----BEGIN PUBL` and nothing after: cut off inside the BEGIN line.
        None if text.contains("-----BEGIN") => KeyError::Truncated(wanted),
        None => KeyError::NoPemBlock(wanted),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_of_the_other_kind_is_named_as_such() {
        let k = PrivateKey::generate().unwrap();
        let public = k.public_key().to_pem();
        let e = PrivateKey::from_encrypted_pem(public.as_bytes(), b"x").unwrap_err();
        assert!(e.to_string().contains("this is a public key"), "{e}");
        let private = k.to_encrypted_pem(b"x", 32768).unwrap();
        let e = PublicKey::from_pem(private.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("this is a private key"), "{e}");
        let e = PublicKey::from_pem(b"hello").unwrap_err();
        assert!(matches!(e, KeyError::NoPemBlock(_)), "{e}");
    }

    #[test]
    fn truncated_and_doubled_key_files_say_so() {
        let public = PrivateKey::generate().unwrap().public_key().to_pem();
        for cut in [public.len() - 10, public.len() / 2, 20] {
            let e = PublicKey::from_pem(&public.as_bytes()[..cut]).unwrap_err();
            assert!(matches!(e, KeyError::Truncated(_)), "{cut}: {e}");
            assert!(e.to_string().starts_with("truncated key file"), "{e}");
        }
        let other = PrivateKey::generate().unwrap().public_key().to_pem();
        let two = format!("{public}{other}");
        let e = PublicKey::from_pem(two.as_bytes()).unwrap_err();
        assert!(matches!(e, KeyError::SeveralKeys { count: 2, .. }), "{e}");
        let private = PrivateKey::generate()
            .unwrap()
            .to_encrypted_pem(b"x", 32768)
            .unwrap();
        let e = PrivateKey::from_encrypted_pem(&private.as_bytes()[..private.len() - 30], b"x")
            .unwrap_err();
        assert!(matches!(e, KeyError::Truncated(_)), "{e}");
    }

    #[test]
    fn generated_key_round_trips_and_signs() {
        let kp = generate_key_pair(b"pw").unwrap();
        assert!(
            kp.private_pem
                .starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
        );
        assert!(!kp.private_pem.contains('\r'));
        assert!(
            kp.private_pem
                .lines()
                .all(|l| l.len() <= 64 || l.starts_with("-----"))
        );
        let key = PrivateKey::from_encrypted_pem(kp.private_pem.as_bytes(), b"pw").unwrap();
        assert_eq!(key.public_key(), kp.public_key);
        let public = PublicKey::from_pem(kp.public_pem.as_bytes()).unwrap();
        let sig = key.sign(b"hello");
        public.verify(b"hello", &sig).unwrap();
        assert_eq!(public.verify(b"hellO", &sig), Err(SignatureError::Invalid));
        assert!(matches!(
            PrivateKey::from_encrypted_pem(kp.private_pem.as_bytes(), b"PW"),
            Err(KeyError::WrongPassword)
        ));
    }

    #[test]
    fn written_kdf_params_are_cosigns_default() {
        let kp = generate_key_pair(b"").unwrap();
        let der = pem_decode_any(kp.private_pem.as_bytes(), &[SIGSTORE_PRIVATE_KEY_LABEL]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&der).unwrap();
        assert_eq!(
            v["kdf"]["params"],
            serde_json::json!({"N":65536,"r":8,"p":1})
        );
        assert_eq!(
            B64.decode(v["kdf"]["salt"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        assert_eq!(
            B64.decode(v["cipher"]["nonce"].as_str().unwrap())
                .unwrap()
                .len(),
            24
        );
    }

    #[test]
    fn every_cost_cosign_accepts_round_trips() {
        let key = PrivateKey::generate().unwrap();
        for n in ACCEPTED_SCRYPT_N {
            let pem = key.to_encrypted_pem(b"pw", n).unwrap();
            let back = PrivateKey::from_encrypted_pem(pem.as_bytes(), b"pw").unwrap();
            assert_eq!(back.public_key(), key.public_key(), "N={n}");
        }
        // The older label is read too.
        let pem = key
            .to_encrypted_pem(b"pw", 32768)
            .unwrap()
            .replace(SIGSTORE_PRIVATE_KEY_LABEL, COSIGN_PRIVATE_KEY_LABEL);
        assert!(PrivateKey::from_encrypted_pem(pem.as_bytes(), b"pw").is_ok());
    }

    #[test]
    fn refuses_expensive_or_odd_scrypt_params() {
        for (n, r, p) in [
            (1u64 << 20, 8, 1),
            (65536, 16, 1),
            (65536, 8, 4),
            (1000, 8, 1),
        ] {
            assert!(matches!(
                scrypt_key(b"", b"salt", n, r, p),
                Err(KeyError::ScryptParams { .. })
            ));
        }
    }

    #[test]
    fn pem_decoder_tolerates_crlf_and_missing_newline() {
        let key = PrivateKey::generate().unwrap().public_key();
        let crlf = key.to_pem().replace('\n', "\r\n");
        assert_eq!(
            PublicKey::from_pem(crlf.trim_end().as_bytes()).unwrap(),
            key
        );
        assert!(matches!(
            PublicKey::from_pem(b"-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n"),
            Err(KeyError::PemBase64(_))
        ));
        assert!(matches!(
            PublicKey::from_pem(b"nothing"),
            Err(KeyError::NoPemBlock(_))
        ));
    }

    #[test]
    fn signatures_are_deterministic() {
        let k = PrivateKey::generate().unwrap();
        assert_eq!(k.sign(b"x"), k.sign(b"x"));
    }
}
