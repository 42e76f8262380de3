//! Key files: any bytes as a `cosign.pub` (PEM PUBLIC KEY), as an encrypted cosign
//! private key (everything before scrypt: PEM, JSON, names, base64, nonce, scrypt
//! parameters; scrypt itself is bounded by the accepted N and not run here, at ~0.1 s a
//! try it would stall the fuzzer), and as the DER both wrap. Errors, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pause_verify::attest::keys::EncryptedPrivateKey;
use pause_verify::attest::{PrivateKey, PublicKey};

fuzz_target!(|data: &[u8]| {
    if let Ok(k) = PublicKey::from_pem(data) {
        // What reads writes back and reads to the same key.
        assert_eq!(
            PublicKey::from_pem(k.to_pem().as_bytes()).expect("own PEM"),
            k
        );
    }
    if let Ok(k) = EncryptedPrivateKey::parse(data) {
        assert!(pause_verify::attest::keys::ACCEPTED_SCRYPT_N.contains(&k.n));
    }
    let _ = PublicKey::from_spki_der(data);
    let _ = PrivateKey::from_pkcs8_der(data);
});
