//! What the fuzz targets (fuzz/, docs/fuzzing.md) found, as regression tests with the
//! input inlined, and the pure entry points the targets call, checked against the real
//! fixtures (so a target fuzzes the same code the commands run).

use crate::common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pause_verify::attest::keys::{EncryptedPrivateKey, KeyError};
use pause_verify::attest::trust_root::TrustedRoot;
use pause_verify::attest::{certificate, identity};
use pause_verify::image::registry::auth::{Credentials, parse_docker_config};
use pause_verify::image::registry::referrers::next_link;
use serde_json::Value;
use std::collections::BTreeMap;

fn read(rel: &str) -> Option<Vec<u8>> {
    let dir = common::fixtures()?;
    Some(std::fs::read(dir.join(rel)).expect(rel))
}

/// SANs and OIDC issuer of a leaf.
type LeafFacts = (Vec<String>, Option<String>);

/// The certificate half of keyless verification, as `x509_sct` drives it: profile,
/// SANs, issuer, SCT list against each Fulcio CA of the root.
fn leaf_checks(root: &TrustedRoot, der: &[u8]) -> Vec<Result<LeafFacts, String>> {
    use x509_cert::der::Decode;
    root.certificate_authorities
        .iter()
        .map(|ca| {
            let leaf = x509_cert::Certificate::from_der(der).map_err(|e| e.to_string())?;
            certificate::check_leaf_profile(&leaf).map_err(|e| e.to_string())?;
            let sans = identity::subject_alt_names(&leaf).map_err(|e| e.to_string())?;
            let issuer = identity::oidc_issuer(&leaf).map_err(|e| e.to_string())?;
            certificate::verify_scts(root, &leaf, der, &ca.chain[0]).map_err(|e| e.to_string())?;
            Ok((sans, issuer))
        })
        .collect()
}

#[test]
fn x509_sct_entry_reads_the_fulcio_fixture_leaf_and_its_sct() {
    let (Some(root), Some(bundle)) = (
        read("cosign/cosign/trusted_root_pgi.json"),
        read("cosign/cosign/oci-attestation.sigstore.json"),
    ) else {
        return;
    };
    let root = TrustedRoot::from_json(&root).expect("trusted root");
    let b: Value = serde_json::from_slice(&bundle).expect("bundle");
    let leaf = STANDARD
        .decode(
            b["verificationMaterial"]["certificate"]["rawBytes"]
                .as_str()
                .expect("leaf"),
        )
        .expect("base64");
    // The leaf's issuer is one of the root's Fulcio CAs: exactly one accepts its SCT.
    let answers = leaf_checks(&root, &leaf);
    let ok: Vec<_> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
    assert_eq!(ok.len(), 1, "{answers:?}");
    assert_eq!(ok[0].0, ["cody@soyland.com"]);
    assert_eq!(ok[0].1.as_deref(), Some("https://github.com/login/oauth"));
    // One flipped byte inside the TBS: no longer what the CT log signed, or not DER.
    let mut bad = leaf.clone();
    bad[200] ^= 1;
    assert!(leaf_checks(&root, &bad).iter().all(Result::is_err));
}

#[test]
fn docker_config_lookup_is_pure_and_names_the_bad_entry() {
    let cfg = br#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},
        "ghcr.io":{"identitytoken":"x"},"bad.example":{"auth":"%%%"}},
        "credHelpers":{"localhost:5000":"pass"},"credsStore":"desktop"}"#;
    let d = parse_docker_config(cfg, "docker.io").expect("valid config");
    assert_eq!(d.helper, None);
    assert_eq!(d.creds_store.as_deref(), Some("desktop"));
    assert_eq!(
        d.auths.expect("auths entry"),
        Some(Credentials::parse("user:pass").expect("creds"))
    );
    let l = parse_docker_config(cfg, "localhost:5000").expect("valid config");
    assert_eq!(l.helper.as_deref(), Some("pass"));
    let g = parse_docker_config(cfg, "ghcr.io").expect("valid config");
    assert!(g.auths.unwrap_err().contains("identity tokens"));
    let b = parse_docker_config(cfg, "bad.example").expect("valid config");
    assert!(b.auths.unwrap_err().contains("not base64"));
    assert!(
        parse_docker_config(b"{", "x")
            .unwrap_err()
            .contains("not valid JSON")
    );
}

#[test]
fn encrypted_key_parse_checks_everything_before_scrypt() {
    let Some(pem) = read("cosign/keys/keys_test-pemsigstorekey.key") else {
        return;
    };
    let k = EncryptedPrivateKey::parse(&pem).expect("fixture key parses");
    assert_eq!(k.n, 32768);
    assert!(matches!(k.decrypt(b"wrong"), Err(KeyError::WrongPassword)));
    let key = k.decrypt(b"hello").expect("right password");
    assert_eq!(
        STANDARD.encode(key.public_key().spki_der()),
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7z9gA/tqa9iHt/f9F3ulyVi4lwqULfHWfhG2mK4eyJ8LDcLstb+VVhxj3pkMjc3fNo+sSfiIY2NLR7c+DG1V4w=="
    );
    // A huge N is refused by parse, before any memory is spent on it.
    let json = r#"{"kdf":{"name":"scrypt","params":{"N":1099511627776,"r":8,"p":1},"salt":"AA=="},"cipher":{"name":"nacl/secretbox","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},"ciphertext":"AA=="}"#;
    let pem = format!(
        "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n{}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
        STANDARD.encode(json)
    );
    assert!(matches!(
        EncryptedPrivateKey::parse(pem.as_bytes()),
        Err(KeyError::ScryptParams {
            n: 1099511627776,
            ..
        })
    ));
}

#[test]
fn recipe_text_entries_match_the_file_loaders() {
    let Some(dir) = common::upstream_recipe() else {
        return;
    };
    let df = std::fs::read_to_string(dir.join("Dockerfile")).expect("Dockerfile");
    let args = BTreeMap::new();
    let from_text = pause_verify::recipe::dockerfile::load_text(&dir, "Dockerfile", &df, &args)
        .expect("upstream Dockerfile");
    let from_file = pause_verify::recipe::load_dir(&dir, &args).expect("upstream folder");
    assert_eq!(from_text.steps_digest(), from_file.steps_digest());

    let tmp = tempfile::tempdir().expect("tempdir");
    let toml = "format = 1\nbase = \"mcr.microsoft.com/windows/nanoserver:ltsc2022\"\n[[steps]]\nuser = \"ContainerUser\"\n";
    let path = tmp.path().join("r.toml");
    std::fs::write(&path, toml).expect("write");
    let a = pause_verify::recipe::toml_recipe::load_text(&path, toml, &args).expect("recipe");
    let b = pause_verify::recipe::toml_recipe::load_file(&path, &args).expect("recipe");
    assert_eq!(a.steps_digest(), b.steps_digest());
}

#[test]
fn link_header_next_target() {
    assert_eq!(
        next_link(r#"<https://r.example/p1>; rel="prev", </v2/x?last=a>; rel="next""#),
        Some("/v2/x?last=a")
    );
    assert_eq!(next_link("<x>"), None);
}

/// A USTAR header block (name, typeflag, size) with its checksum.
fn tar_header(name: &str, typeflag: u8, size: usize) -> Vec<u8> {
    let mut h = vec![0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

fn padded(mut v: Vec<u8>) -> Vec<u8> {
    v.resize(v.len().div_ceil(512) * 512, 0);
    v
}

/// Found by review while writing `wclayer_reader` (its inputs are too short to reach
/// it): consecutive PAX headers of one entry each passed the 1 MiB cap but piled up, so a
/// layer of nothing but `x` headers (a gzip of a few MiB) grew memory with its inflated
/// size. Now the extended headers of one entry are capped at 1 MiB together.
#[test]
fn wclayer_reader_caps_the_extended_headers_of_one_entry_together() {
    use pause_verify::wclayer::LayerReader;
    // 700 KiB of valid 100-byte PAX records.
    let record = format!("100 comment={}\n", "a".repeat(87));
    assert_eq!(record.len(), 100);
    let pax = record.repeat(7168);
    let file = |n: usize| {
        let mut t = Vec::new();
        for _ in 0..n {
            t.extend(tar_header("PaxHeaders/x", b'x', pax.len()));
            t.extend(padded(pax.clone().into_bytes()));
        }
        t.extend(tar_header("Files/a.txt", b'0', 2));
        t.extend(padded(b"hi".to_vec()));
        t.extend([0u8; 1024]);
        t
    };
    // One such header is fine (hcsshim's are far smaller, Go's cap is per header).
    let one = file(1);
    let mut r = LayerReader::new(&one[..]);
    assert_eq!(
        r.next_entry()
            .expect("one PAX header")
            .expect("an entry")
            .path,
        "Files/a.txt"
    );
    // Two of them for one entry: refused, naming the limit.
    let two = file(2);
    let mut r = LayerReader::new(&two[..]);
    let err = r
        .next_entry()
        .err()
        .expect("two PAX headers of 700 KiB are refused");
    assert!(err.to_string().contains("over the 1 MiB limit"), "{err}");
}
