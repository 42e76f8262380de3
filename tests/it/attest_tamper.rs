//! Tamper cases: each altered signature, envelope, bundle or manifest is rejected, and
//! for the reason that names what was altered. Also the full store-and-read-back paths
//! (`.sig`, `.att`, referrer, attestations/ directory) with real keys.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pause_verify::attest::bundle::{self, verify_bundle};
use pause_verify::attest::dsse::{self, Envelope, IN_TOTO_PAYLOAD_TYPE, verify_attestation};
use pause_verify::attest::keys::PrivateKey;
use pause_verify::attest::simplesigning::{self, SIGNATURE_ANNOTATION};
use pause_verify::attest::statement::{self, ResourceDescriptor, Statement};
use pause_verify::attest::storage::{self, AttachedLayer, AttestationsDir};
use pause_verify::attest::verify::MAX_PAYLOAD_BYTES;
use pause_verify::attest::{Failure, PublicKey};
use pause_verify::image::Digest;
use serde_json::{Value, json};

struct Fx {
    key: PrivateKey,
    pk: Vec<PublicKey>,
    other: PrivateKey,
    image: Digest,
}

fn fx() -> Fx {
    let key = PrivateKey::generate().unwrap();
    let pk = vec![key.public_key()];
    Fx {
        key,
        pk,
        other: PrivateKey::generate().unwrap(),
        image: Digest::of(b"the image manifest"),
    }
}

fn stmt(subject: &Digest, predicate_type: &str) -> Statement {
    Statement::new(
        vec![ResourceDescriptor::named("example.com/pause", subject)],
        predicate_type,
        json!({"k": "v"}),
    )
}

fn sig_layer(f: &Fx) -> AttachedLayer {
    simplesigning::sign(&f.key, "example.com/pause", &f.image)
}

fn code<T: std::fmt::Debug>(r: Result<T, Failure>) -> &'static str {
    match r {
        Ok(v) => panic!("accepted: {v:?}"),
        Err(e) => {
            assert!(!e.to_string().is_empty());
            e.code()
        }
    }
}

fn ss(f: &Fx, l: &AttachedLayer) -> &'static str {
    code(simplesigning::verify(
        &f.pk,
        l,
        &f.image,
        Some("example.com/pause"),
    ))
}

// ---- legacy .sig payloads

#[test]
fn t01_sig_payload_byte_flipped() {
    let f = fx();
    let mut l = sig_layer(&f);
    l.payload[20] ^= 0x20;
    assert_eq!(ss(&f, &l), "bad_signature");
}

#[test]
fn t02_sig_signature_byte_flipped() {
    let f = fx();
    let mut l = sig_layer(&f);
    let mut raw = STANDARD
        .decode(&l.annotations[SIGNATURE_ANNOTATION])
        .unwrap();
    let n = raw.len();
    raw[n - 3] ^= 0x01; // inside s: still DER, wrong value
    l.annotations
        .insert(SIGNATURE_ANNOTATION.into(), STANDARD.encode(raw));
    assert_eq!(ss(&f, &l), "bad_signature");
}

#[test]
fn t03_sig_for_another_image() {
    let f = fx();
    let l = simplesigning::sign(&f.key, "example.com/pause", &Digest::of(b"another image"));
    assert_eq!(ss(&f, &l), "digest_mismatch");
}

#[test]
fn t04_sig_wrong_key() {
    let f = fx();
    let l = simplesigning::sign(&f.other, "example.com/pause", &f.image);
    assert_eq!(ss(&f, &l), "bad_signature");
}

#[test]
fn t05_sig_truncated_signature() {
    let f = fx();
    let mut l = sig_layer(&f);
    let raw = STANDARD
        .decode(&l.annotations[SIGNATURE_ANNOTATION])
        .unwrap();
    l.annotations.insert(
        SIGNATURE_ANNOTATION.into(),
        STANDARD.encode(&raw[..raw.len() - 5]),
    );
    assert_eq!(ss(&f, &l), "signature_encoding");
}

#[test]
fn t06_sig_non_base64_signature() {
    let f = fx();
    let mut l = sig_layer(&f);
    l.annotations
        .insert(SIGNATURE_ANNOTATION.into(), "not base64!".into());
    assert_eq!(ss(&f, &l), "signature_encoding");
}

#[test]
fn t07_sig_empty_signature() {
    let f = fx();
    let mut l = sig_layer(&f);
    l.annotations
        .insert(SIGNATURE_ANNOTATION.into(), String::new());
    assert_eq!(ss(&f, &l), "no_signatures");
}

#[test]
fn t08_sig_other_repository() {
    let f = fx();
    let l = simplesigning::sign(&f.key, "evil.example.com/pause", &f.image);
    assert_eq!(ss(&f, &l), "identity_mismatch");
}

#[test]
fn t09_sig_signed_payload_of_another_type() {
    let f = fx();
    let payload = String::from_utf8(simplesigning::payload("example.com/pause", &f.image))
        .unwrap()
        .replace(
            "cosign container image signature",
            "atomic container signature",
        );
    let l = AttachedLayer {
        media_type: simplesigning::SIMPLE_SIGNING_MEDIA_TYPE.into(),
        annotations: [(
            SIGNATURE_ANNOTATION.to_string(),
            STANDARD.encode(f.key.sign(payload.as_bytes())),
        )]
        .into(),
        payload: payload.into_bytes(),
    };
    assert_eq!(ss(&f, &l), "wrong_signature_type");
}

#[test]
fn t10_sig_layer_with_another_media_type() {
    let f = fx();
    let mut l = sig_layer(&f);
    l.media_type = "text/plain".into();
    assert_eq!(ss(&f, &l), "not_a_signature");
}

#[test]
fn t11_sig_oversized_payload() {
    let f = fx();
    let mut l = sig_layer(&f);
    l.payload = vec![b' '; MAX_PAYLOAD_BYTES + 1];
    assert_eq!(ss(&f, &l), "oversized");
}

#[test]
fn t12_sig_signed_garbage_payload() {
    let f = fx();
    let payload = b"{\"critical\":".to_vec();
    let l = AttachedLayer {
        media_type: simplesigning::SIMPLE_SIGNING_MEDIA_TYPE.into(),
        annotations: [(
            SIGNATURE_ANNOTATION.to_string(),
            STANDARD.encode(f.key.sign(&payload)),
        )]
        .into(),
        payload,
    };
    assert_eq!(ss(&f, &l), "malformed");
}

// ---- DSSE attestations

fn env(f: &Fx) -> Envelope {
    dsse::sign_statement(&stmt(&f.image, statement::PROVENANCE_V1), &f.key)
}

fn att(f: &Fx, e: &[u8], predicate: Option<&str>) -> &'static str {
    code(verify_attestation(&f.pk, e, &f.image, predicate))
}

#[test]
fn t13_dsse_payload_byte_flipped() {
    let f = fx();
    let mut e = env(&f);
    e.payload[5] ^= 0x01;
    assert_eq!(att(&f, &e.to_json(), None), "bad_signature");
}

#[test]
fn t14_dsse_signature_byte_flipped() {
    let f = fx();
    let mut e = env(&f);
    let mut raw = STANDARD.decode(&e.signatures[0].sig).unwrap();
    let n = raw.len();
    raw[n - 1] ^= 0x01;
    e.signatures[0].sig = STANDARD.encode(raw);
    assert_eq!(att(&f, &e.to_json(), None), "bad_signature");
}

#[test]
fn t15_dsse_payload_type_swapped_after_signing() {
    let f = fx();
    let mut e = env(&f);
    e.payload_type = "application/json".into();
    assert_eq!(att(&f, &e.to_json(), None), "bad_signature");
}

#[test]
fn t16_dsse_signed_with_another_payload_type() {
    let f = fx();
    let e = Envelope::sign(
        "application/json",
        &stmt(&f.image, statement::PROVENANCE_V1).to_json(),
        &f.key,
    );
    assert_eq!(att(&f, &e.to_json(), None), "wrong_payload_type");
}

#[test]
fn t17_dsse_statement_about_another_image() {
    let f = fx();
    let e = dsse::sign_statement(
        &stmt(&Digest::of(b"other"), statement::PROVENANCE_V1),
        &f.key,
    );
    assert_eq!(att(&f, &e.to_json(), None), "subject_mismatch");
}

#[test]
fn t18_dsse_predicate_type_filter() {
    let f = fx();
    assert_eq!(
        att(&f, &env(&f).to_json(), Some(statement::VSA_V1)),
        "predicate_type_mismatch"
    );
    // And the right filter passes.
    verify_attestation(
        &f.pk,
        &env(&f).to_json(),
        &f.image,
        Some(statement::PROVENANCE_V1),
    )
    .unwrap();
}

#[test]
fn t19_dsse_empty_signature_list() {
    let f = fx();
    let mut e = env(&f);
    e.signatures.clear();
    assert_eq!(att(&f, &e.to_json(), None), "no_signatures");
}

#[test]
fn t20_dsse_wrong_key() {
    let f = fx();
    let e = dsse::sign_statement(&stmt(&f.image, statement::PROVENANCE_V1), &f.other);
    assert_eq!(att(&f, &e.to_json(), None), "bad_signature");
}

#[test]
fn t21_dsse_not_json_or_payload_not_base64() {
    let f = fx();
    assert_eq!(att(&f, b"{\"payloadType\":", None), "malformed");
    let mut v: Value = serde_json::from_slice(&env(&f).to_json()).unwrap();
    v["payload"] = json!("@@@@");
    assert_eq!(att(&f, &serde_json::to_vec(&v).unwrap(), None), "malformed");
}

#[test]
fn t22_dsse_truncated_signature() {
    let f = fx();
    let mut e = env(&f);
    let raw = STANDARD.decode(&e.signatures[0].sig).unwrap();
    e.signatures[0].sig = STANDARD.encode(&raw[..20]);
    assert_eq!(att(&f, &e.to_json(), None), "signature_encoding");
}

#[test]
fn t23_dsse_not_an_in_toto_statement() {
    let f = fx();
    let mut s = stmt(&f.image, statement::PROVENANCE_V1);
    s.type_ = "https://in-toto.io/Statement/v9".into();
    let e = dsse::sign_statement(&s, &f.key);
    assert_eq!(att(&f, &e.to_json(), None), "wrong_statement_type");
}

#[test]
fn t24_dsse_oversized_envelope() {
    let f = fx();
    let big = vec![b' '; MAX_PAYLOAD_BYTES + 1];
    assert_eq!(att(&f, &big, None), "oversized");
}

// ---- bundles

#[test]
fn t25_bundle_hint_for_another_key() {
    let f = fx();
    let b = bundle::sign_statement_bundle(&stmt(&f.image, statement::PROVENANCE_V1), &f.other);
    assert_eq!(code(verify_bundle(&f.pk, &b, &f.image, None)), "wrong_hint");
}

#[test]
fn t26_bundle_hint_rewritten_to_our_key() {
    let f = fx();
    let b = bundle::sign_statement_bundle(&stmt(&f.image, statement::PROVENANCE_V1), &f.other);
    let mut v: Value = serde_json::from_slice(&b).unwrap();
    v["verificationMaterial"]["publicKey"]["hint"] = json!(f.pk[0].hint());
    let b = serde_json::to_vec(&v).unwrap();
    assert_eq!(
        code(verify_bundle(&f.pk, &b, &f.image, None)),
        "bad_signature"
    );
}

#[test]
fn t27_bundle_statement_about_another_image_and_filter() {
    let f = fx();
    let b = bundle::sign_statement_bundle(&stmt(&f.image, statement::VSA_V1), &f.key);
    assert_eq!(
        code(verify_bundle(&f.pk, &b, &Digest::of(b"x"), None)),
        "subject_mismatch"
    );
    assert_eq!(
        code(verify_bundle(
            &f.pk,
            &b,
            &f.image,
            Some(statement::PROVENANCE_V1)
        )),
        "predicate_type_mismatch"
    );
}

#[test]
fn t28_bundle_unknown_media_type_and_garbage() {
    let f = fx();
    let b = bundle::sign_statement_bundle(&stmt(&f.image, statement::VSA_V1), &f.key);
    let mut v: Value = serde_json::from_slice(&b).unwrap();
    v["mediaType"] = json!("application/json");
    assert_eq!(
        code(verify_bundle(
            &f.pk,
            &serde_json::to_vec(&v).unwrap(),
            &f.image,
            None
        )),
        "unsupported_bundle"
    );
    assert_eq!(
        code(verify_bundle(&f.pk, b"[]", &f.image, None)),
        "malformed"
    );
}

#[test]
fn t29_message_bundle_for_another_blob() {
    let f = fx();
    let b = bundle::sign_message_bundle(b"blob", &f.key);
    assert_eq!(
        code(verify_bundle(&f.pk, &b, &Digest::of(b"blob!"), None)),
        "message_digest_mismatch"
    );
}

// ---- storage

#[test]
fn t30_sig_manifest_with_duplicate_layers() {
    let f = fx();
    let m = storage::cosign_manifest(None, &[sig_layer(&f)], storage::sig_tag(&f.image)).unwrap();
    let mut v: Value = serde_json::from_slice(&m.manifest.bytes).unwrap();
    let l = v["layers"][0].clone();
    v["layers"].as_array_mut().unwrap().push(l);
    let r = storage::parse_cosign_manifest(&serde_json::to_vec(&v).unwrap());
    assert_eq!(code(r), "duplicate_layer");
}

#[test]
fn t31_sig_layer_blob_swapped() {
    let f = fx();
    let m = storage::cosign_manifest(None, &[sig_layer(&f)], storage::sig_tag(&f.image)).unwrap();
    let other = simplesigning::sign(&f.key, "example.com/pause", &Digest::of(b"x"));
    assert_eq!(
        code(storage::layer_from_blob(&m.layers[0], &other.payload)),
        "malformed"
    );
}

#[test]
fn t32_attestations_dir_line_tampered() {
    let f = fx();
    let tmp = tempfile::tempdir().unwrap();
    let dir = AttestationsDir::new(tmp.path());
    dir.add_envelope(&f.image, &env(&f).to_json()).unwrap();
    let path = dir.envelopes_path(&f.image);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut e = env(&f);
    e.payload[3] ^= 1;
    std::fs::write(
        &path,
        format!("{text}{}\n", String::from_utf8(e.to_json()).unwrap()),
    )
    .unwrap();
    let checks = storage::verify_attestations_dir(&dir, &f.pk, &f.image, None).unwrap();
    assert_eq!(checks.len(), 2);
    assert!(checks[0].is_verified());
    assert!(checks[0].source.ends_with(":1"));
    assert_eq!(
        checks[1].result.as_ref().unwrap_err().code(),
        "bad_signature"
    );
    assert!(checks[1].source.ends_with(":2"));
}

// ---- full paths, untampered

#[test]
fn sig_and_att_manifests_round_trip_through_storage() {
    let f = fx();
    // .sig
    let m = storage::cosign_manifest(None, &[sig_layer(&f)], storage::sig_tag(&f.image)).unwrap();
    let parsed = storage::parse_cosign_manifest(&m.manifest.bytes).unwrap();
    let blob = &m
        .blobs
        .iter()
        .find(|b| b.descriptor.digest == parsed.layers[0].digest)
        .unwrap()
        .bytes;
    let layer = storage::layer_from_blob(&parsed.layers[0], blob).unwrap();
    simplesigning::verify(&f.pk, &layer, &f.image, Some("example.com/pause")).unwrap();
    // .att
    let e = env(&f).to_json();
    let a = storage::cosign_manifest(
        None,
        &[storage::attestation_layer(&e, statement::PROVENANCE_V1)],
        storage::att_tag(&f.image),
    )
    .unwrap();
    let pl = &storage::parse_cosign_manifest(&a.manifest.bytes)
        .unwrap()
        .layers[0];
    assert_eq!(pl.media_type, storage::DSSE_LAYER_MEDIA_TYPE);
    assert_eq!(pl.annotations["predicateType"], statement::PROVENANCE_V1);
    assert_eq!(pl.annotations[SIGNATURE_ANNOTATION], "");
    let layer = storage::layer_from_blob(pl, &e).unwrap();
    let ok = verify_attestation(
        &f.pk,
        &layer.payload,
        &f.image,
        Some(statement::PROVENANCE_V1),
    )
    .unwrap();
    assert_eq!(ok.predicate_type.as_deref(), Some(statement::PROVENANCE_V1));
    assert_eq!(IN_TOTO_PAYLOAD_TYPE, "application/vnd.in-toto+json");
    // referrer
    let subject =
        storage::Descriptor::of_bytes(storage::OCI_MANIFEST_MEDIA_TYPE, b"the image manifest");
    assert_eq!(subject.digest, f.image);
    let b = bundle::sign_statement_bundle(&stmt(&f.image, statement::VSA_V1), &f.key);
    let r = storage::referrer_manifest(&b, &subject, None);
    let pr = storage::parse_referrer_manifest(&r.manifest.bytes).unwrap();
    assert_eq!(
        pr.annotations[storage::BUNDLE_PREDICATE_TYPE_ANNOTATION],
        statement::VSA_V1
    );
    let bl = r
        .blobs
        .iter()
        .find(|x| x.descriptor.digest == pr.layers[0].digest)
        .unwrap();
    verify_bundle(
        &f.pk,
        &bl.bytes,
        &pr.subject.digest,
        Some(statement::VSA_V1),
    )
    .unwrap();
}
