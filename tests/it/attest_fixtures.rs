//! Real artifacts made by cosign, containers/image and Sigstore clients (shared fixtures,
//! see PROVENANCE.md) against our key loading and verification core.

use crate::common;

use pause_verify::attest::bundle::verify_bundle;
use pause_verify::attest::keys::{KeyError, PrivateKey, PublicKey};
use pause_verify::attest::simplesigning::{self, parse_containers_image_signature};
use pause_verify::attest::storage::AttachedLayer;
use pause_verify::attest::{Failure, Verified};
use pause_verify::image::Digest;
use std::path::{Path, PathBuf};

fn cosign_dir() -> Option<PathBuf> {
    common::fixtures().map(|f| f.join("cosign"))
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn key(p: &Path) -> PublicKey {
    PublicKey::from_pem(&read(p)).unwrap()
}

fn sig(p: &Path) -> AttachedLayer {
    parse_containers_image_signature(&read(p)).unwrap()
}

fn check(keys: &[PublicKey], layer: &AttachedLayer, digest: &Digest) -> Result<Verified, Failure> {
    simplesigning::verify(keys, layer, digest, None)
}

#[test]
fn containers_image_signatures_verify_with_cosign_pub_only() {
    let Some(dir) = cosign_dir() else { return };
    let ci = dir.join("containers-image");
    let manifest_digest = Digest::of(&read(&ci.join("dir-img-cosign-valid/manifest.json")));
    assert_eq!(
        manifest_digest.hex(),
        "634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"
    );
    let k1 = key(&ci.join("cosign.pub"));
    let k2 = key(&ci.join("cosign2.pub"));
    assert_ne!(k1, k2);
    for s in [
        "dir-img-cosign-valid/signature-1",
        "dir-img-cosign-valid-2/signature-2",
    ] {
        let layer = sig(&ci.join(s));
        let ok = simplesigning::verify(
            std::slice::from_ref(&k1),
            &layer,
            &manifest_digest,
            Some("192.168.64.2:5000/cosign-signed-single-sample:latest"),
        )
        .unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(
            ok.docker_reference.as_deref(),
            Some("192.168.64.2:5000/cosign-signed-single-sample")
        );
        // With both keys, the verifying one is reported.
        assert_eq!(
            check(&[k2.clone(), k1.clone()], &layer, &manifest_digest)
                .unwrap()
                .key_index,
            1
        );
        assert_eq!(
            check(std::slice::from_ref(&k2), &layer, &manifest_digest),
            Err(Failure::BadSignature { keys: 1 }),
            "{s} must not verify with cosign2.pub"
        );
        // The right signature, another repository expected.
        assert!(matches!(
            simplesigning::verify(
                std::slice::from_ref(&k1),
                &layer,
                &manifest_digest,
                Some("example.com/other")
            ),
            Err(Failure::IdentityMismatch { .. })
        ));
    }
}

#[test]
fn containers_image_negative_fixtures_are_rejected_with_their_reason() {
    let Some(dir) = cosign_dir() else { return };
    let ci = dir.join("containers-image");
    let k1 = key(&ci.join("cosign.pub"));
    let k2 = key(&ci.join("cosign2.pub"));
    let valid = Digest::of(&read(&ci.join("dir-img-cosign-valid/manifest.json")));

    let modified = Digest::of(&read(
        &ci.join("dir-img-cosign-modified-manifest/manifest.json"),
    ));
    assert_ne!(modified, valid);
    match check(
        std::slice::from_ref(&k1),
        &sig(&ci.join("dir-img-cosign-valid/signature-1")),
        &modified,
    ) {
        Err(Failure::DigestMismatch { expected, found }) => {
            assert_eq!(expected, modified);
            assert_eq!(found, valid.to_string());
        }
        other => panic!("modified manifest: {other:?}"),
    }

    let other = sig(&ci.join("dir-img-cosign-other-attachment/signature-1"));
    assert_eq!(other.media_type, "text/plain");
    assert!(matches!(
        check(std::slice::from_ref(&k1), &other, &valid),
        Err(Failure::NotASignature { .. })
    ));

    let unknown = sig(&ci.join("unknown-cosign-key.signature"));
    assert_eq!(
        check(&[k1, k2], &unknown, &valid),
        Err(Failure::BadSignature { keys: 2 })
    );
}

#[test]
fn cosign_key_files_decrypt_to_their_public_keys() {
    let Some(dir) = cosign_dir() else { return };
    let keys = dir.join("keys");
    for (file, password, spki_b64) in [
        (
            "cosign_generated_encrypted_empty_private.key",
            "",
            "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEGmsWpZNuu+SUX70n3lVK4JLsaoV7T+rhea2rQUu29EQiatoLB06QdsmSd+GsQGlQzfcDtsKPzb+B2zLggrWZjg==",
        ),
        (
            "keys_test-pemsigstorekey.key",
            "hello",
            "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7z9gA/tqa9iHt/f9F3ulyVi4lwqULfHWfhG2mK4eyJ8LDcLstb+VVhxj3pkMjc3fNo+sSfiIY2NLR7c+DG1V4w==",
        ),
        (
            "keys_test-pemcosignkey-rsa.key",
            "hello",
            "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAECYtspttZZ7e9PMd8wyU2CWDlpEXNbqTve0ZBuOXu9xTjtm7Z107cVLCCk96Ma4D0tesnKeCPwrcspLz7GNZJSw==",
        ),
    ] {
        let pem = read(&keys.join(file));
        let k = PrivateKey::from_encrypted_pem(&pem, password.as_bytes())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        use base64::Engine as _;
        let expected = base64::engine::general_purpose::STANDARD
            .decode(spki_b64)
            .unwrap();
        assert_eq!(k.public_key().spki_der(), &expected[..], "{file}");
        // It signs, and the listed public key verifies.
        let public = PublicKey::from_spki_der(&expected).unwrap();
        public.verify(b"payload", &k.sign(b"payload")).unwrap();
        // A wrong password is an authentication failure, said as such.
        let err = PrivateKey::from_encrypted_pem(&pem, b"not the password").unwrap_err();
        assert!(matches!(err, KeyError::WrongPassword), "{file}: {err}");
        assert!(err.to_string().contains("wrong password"));
    }
}

#[test]
fn conformance_managed_key_bundles() {
    let Some(dir) = cosign_dir() else { return };
    let sc = dir.join("sigstore-conformance");
    let artifact = Digest::of(&read(&sc.join("a.txt")));
    let happy = sc.join("managed-key-happy-path");
    let k = key(&happy.join("key.pub"));
    let ok = verify_bundle(
        std::slice::from_ref(&k),
        &read(&happy.join("bundle.sigstore.json")),
        &artifact,
        None,
    )
    .unwrap();
    assert_eq!(ok.key_index, 0);
    // The same bundle for another artifact is refused.
    assert!(matches!(
        verify_bundle(
            std::slice::from_ref(&k),
            &read(&happy.join("bundle.sigstore.json")),
            &Digest::of(b"b"),
            None
        ),
        Err(Failure::MessageDigestMismatch { .. })
    ));

    // wrong-key: the key file is not a valid P-256 point, so it cannot verify anything.
    let wrong = sc.join("managed-key-wrong-key_fail");
    let err = PublicKey::from_pem(&read(&wrong.join("key.pub"))).unwrap_err();
    assert!(matches!(err, KeyError::NotP256Public(_)), "{err}");
    // And another real key is refused by hint before any signature check.
    let other = key(&dir.join("containers-image/cosign.pub"));
    assert!(matches!(
        verify_bundle(
            &[other],
            &read(&wrong.join("bundle.sigstore.json")),
            &artifact,
            None
        ),
        Err(Failure::WrongHint { .. })
    ));
}

#[test]
fn conformance_keyless_bundles() {
    let Some(dir) = cosign_dir() else { return };
    let sc = dir.join("sigstore-conformance");
    let artifact = Digest::of(&read(&sc.join("a.txt")));
    let any_key = [key(&sc.join("managed-key-happy-path/key.pub"))];
    // The DSSE signature does not match the leaf certificate's key.
    let bad = read(&sc.join("dsse-invalid-sig_fail/bundle.sigstore.json"));
    assert_eq!(
        verify_bundle(&any_key, &bad, &artifact, None),
        Err(Failure::BadSignature { keys: 1 })
    );
    // The valid keyless bundle is consistent, but we do not trust Fulcio identities.
    let good = read(&sc.join("happy-path-intoto-in-dsse-v3/bundle.sigstore.json"));
    assert_eq!(
        verify_bundle(&any_key, &good, &artifact, None),
        Err(Failure::KeylessNotTrusted)
    );
    let cosign_att = read(&dir.join("cosign/oci-attestation.sigstore.json"));
    let subject: Digest = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
        .parse()
        .unwrap();
    assert_eq!(
        verify_bundle(&any_key, &cosign_att, &subject, None),
        Err(Failure::KeylessNotTrusted)
    );
    // Its statement names that subject and no other.
    assert!(matches!(
        verify_bundle(&any_key, &cosign_att, &artifact, None),
        Err(Failure::SubjectMismatch { .. })
    ));
}
