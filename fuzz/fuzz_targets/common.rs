//! Shared by the fuzz targets (each includes it with `#[path]`): fixed keys and roots
//! from tests/fixtures (compiled in, so a target needs no files), a scratch directory,
//! and input splitting.
#![allow(dead_code)]

use pause_verify::attest::keyless::{CertIdentity, Keyless, SubjectMatch};
use pause_verify::attest::keys::EncryptedPrivateKey;
use pause_verify::attest::trust_root::TrustedRoot;
use pause_verify::attest::{PrivateKey, PublicKey};
use std::path::PathBuf;
use std::sync::OnceLock;

pub const COSIGN_PUB: &[u8] =
    include_bytes!("../../tests/fixtures/cosign/containers-image/cosign.pub");
pub const TRUSTED_ROOT: &[u8] =
    include_bytes!("../../tests/fixtures/cosign/cosign/trusted_root_pgi.json");
pub const KEYLIGHT_REG: &[u8] =
    include_bytes!("../../tests/fixtures/upstream/windows-pause-image-base/binaries/keylight.reg");
pub const PINS: &[u8] = include_bytes!("../../attestations/pins.toml");
/// cosign's test key (password "hello"), see tests/fixtures/PROVENANCE.md.
const SIGNING_KEY: &[u8] =
    include_bytes!("../../tests/fixtures/cosign/keys/keys_test-pemsigstorekey.key");

/// The public key of the containers/image fixtures (their signatures verify with it).
pub fn public_key() -> &'static PublicKey {
    static K: OnceLock<PublicKey> = OnceLock::new();
    K.get_or_init(|| PublicKey::from_pem(COSIGN_PUB).expect("fixture public key"))
}

/// A private key to sign fuzzed payloads with, so that the code after a signature
/// check is reached (scrypt runs once, in the targets' `init`, before any timed input).
pub fn signing_key() -> &'static PrivateKey {
    static K: OnceLock<PrivateKey> = OnceLock::new();
    K.get_or_init(|| {
        EncryptedPrivateKey::parse(SIGNING_KEY)
            .and_then(|k| k.decrypt(b"hello"))
            .expect("fixture private key")
    })
}

/// The public-good Sigstore trusted root of the fixtures.
pub fn trusted_root() -> &'static TrustedRoot {
    static R: OnceLock<TrustedRoot> = OnceLock::new();
    R.get_or_init(|| TrustedRoot::from_json(TRUSTED_ROOT).expect("fixture trusted root"))
}

/// Keyless acceptance under the fixture root, for the signers of the fixture bundles.
pub fn keyless() -> &'static Keyless {
    static K: OnceLock<Keyless> = OnceLock::new();
    K.get_or_init(|| {
        Keyless::new(
            trusted_root().clone(),
            vec![
                CertIdentity {
                    subject: SubjectMatch::Exact("cody@soyland.com".into()),
                    issuer: "https://github.com/login/oauth".into(),
                },
                CertIdentity {
                    subject: SubjectMatch::regexp("https://github.com/sigstore-conformance/.*")
                        .expect("regexp"),
                    issuer: "https://token.actions.githubusercontent.com".into(),
                },
            ],
        )
    })
}

/// A scratch directory for this process holding the files recipes and policies may
/// name (`binaries/keylight.reg`, `a.txt`, `cosign.pub`, `trusted_root.json`,
/// `pins.toml`).
pub fn scratch() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        // scripts/fuzz.sh points PV_FUZZ_SCRATCH at its temp dir, removed when it ends.
        let base = if let Some(d) = std::env::var_os("PV_FUZZ_SCRATCH") {
            PathBuf::from(d)
        } else if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let d = base.join(format!("pause-verify-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(d.join("binaries")).expect("scratch dir");
        std::fs::write(d.join("binaries/keylight.reg"), KEYLIGHT_REG).expect("scratch file");
        std::fs::write(d.join("a.txt"), b"a\n").expect("scratch file");
        std::fs::write(d.join("cosign.pub"), COSIGN_PUB).expect("scratch file");
        std::fs::write(d.join("trusted_root.json"), TRUSTED_ROOT).expect("scratch file");
        std::fs::write(d.join("pins.toml"), PINS).expect("scratch file");
        d
    })
}

/// The first byte (a selector) and the rest.
pub fn selector(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(s, r)| (*s, r))
}

/// Split at the first NUL: (before, after).
pub fn split_nul(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

pub const OCI_ATTESTATION_BUNDLE: &[u8] =
    include_bytes!("../../tests/fixtures/cosign/cosign/oci-attestation.sigstore.json");

/// The cosign fixture bundle (parsed) and its leaf certificate (DER).
pub fn fixture_bundle() -> &'static (serde_json::Value, Vec<u8>) {
    use base64::Engine as _;
    static B: OnceLock<(serde_json::Value, Vec<u8>)> = OnceLock::new();
    B.get_or_init(|| {
        let v: serde_json::Value =
            serde_json::from_slice(OCI_ATTESTATION_BUNDLE).expect("fixture bundle");
        let b64 = v["verificationMaterial"]["certificate"]["rawBytes"]
            .as_str()
            .expect("fixture leaf");
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("fixture leaf base64");
        (v, der)
    })
}

/// PEM text of a DER certificate (as cosign's certificate annotation holds it).
pub fn cert_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    for c in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(c).unwrap_or_default());
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s
}
