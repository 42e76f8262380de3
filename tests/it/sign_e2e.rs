//! `sign` / `attest` → `verify` through the binary: OCI layouts, the loopback registry,
//! the attestations directory, manifest lists, tampering, and skopeo reading our `.sig`.

use crate::common;

use pause_verify::attest::PublicKey;
use pause_verify::attest::simplesigning::{
    SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, parse_containers_image_signature,
};
use pause_verify::attest::storage;
use pause_verify::image::model::media;
use pause_verify::image::{Descriptor, Digest, ImageSink, LayoutWriter};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PASSWORD: &str = "test-password";

/// A key pair made by the binary (NAME.key, NAME.pub) in `dir`.
fn keypair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let prefix = dir.join(name);
    let o = Command::new(common::bin())
        .args(["generate-key-pair", "--output-key-prefix"])
        .arg(&prefix)
        .env("COSIGN_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    common::assert_code(&o, 0);
    (prefix.with_extension("key"), prefix.with_extension("pub"))
}

/// Run the binary with COSIGN_PASSWORD set.
fn pvk<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    common::Pv::new().password(PASSWORD).run(args)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One small Windows image (config + one empty tar layer) written to `w`; `n` makes it
/// unique. Returns its manifest descriptor (with platform).
fn put_image(w: &mut LayoutWriter, os_version: &str, n: u8) -> Descriptor {
    let layer = vec![n; 512]
        .into_iter()
        .chain(std::iter::repeat_n(0, 1024))
        .collect::<Vec<u8>>();
    let l = w.put_bytes(media::OCI_LAYER, &layer).unwrap();
    let cfg = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "windows", "os.version": os_version,
        "rootfs": {"type": "layers", "diff_ids": [l.digest.to_string()]}
    }))
    .unwrap();
    let c = w.put_bytes(media::OCI_CONFIG, &cfg).unwrap();
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": media::OCI_MANIFEST, "config": c, "layers": [l]
    }))
    .unwrap();
    let mut md = w.put_bytes(media::OCI_MANIFEST, &m).unwrap();
    md.platform = Some(
        serde_json::from_value(
            json!({"architecture": "amd64", "os": "windows", "os.version": os_version}),
        )
        .unwrap(),
    );
    md
}

/// A layout with one image tagged `v1`.
fn image_layout(dir: &Path) -> Digest {
    let mut w = LayoutWriter::create(dir).unwrap();
    let md = put_image(&mut w, "10.0.20348.2849", 1);
    w.add_manifest(&md, Some("v1")).unwrap();
    md.digest
}

/// A layout with a two-platform index tagged `v1`; returns (index, [children]).
fn list_layout(dir: &Path) -> (Digest, Vec<Digest>) {
    let mut w = LayoutWriter::create(dir).unwrap();
    let a = put_image(&mut w, "10.0.17763.3887", 1);
    let b = put_image(&mut w, "10.0.20348.2849", 2);
    let idx = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": [a, b]
    }))
    .unwrap();
    let id = w.put_bytes(media::OCI_INDEX, &idx).unwrap();
    w.add_manifest(&id, Some("v1")).unwrap();
    (id.digest, vec![a.digest, b.digest])
}

fn json_of(o: &Output) -> Value {
    serde_json::from_str(&common::stdout(o))
        .unwrap_or_else(|e| panic!("{e}: {}", common::stdout(o)))
}

fn reasons(v: &Value, list: &str) -> Vec<String> {
    v["subjects"][0][list]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reason"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn sign_verify_layout_and_tamper_cases() {
    let tmp = tempfile::tempdir().unwrap();
    let (key, public) = keypair(tmp.path(), "k");
    let (_, other_pub) = keypair(tmp.path(), "other");
    let layout = tmp.path().join("img");
    let digest = image_layout(&layout);
    let image = format!("oci:{}:v1", layout.display());

    // Not signed yet: exit 1, saying so.
    let o = common::pv(["verify", "--key", s(&public), &image]);
    common::assert_code(&o, 1);
    assert!(common::stdout(&o).contains("no signatures found"));

    let o = pvk(["sign", "--json", "--key", s(&key), &image]);
    common::assert_code(&o, 0);
    let v = json_of(&o);
    assert_eq!(v["kind"], "sign");
    assert_eq!(v["digest"], digest.to_string());
    assert_eq!(v["dockerReference"], format!("oci:{}", layout.display()));
    assert_eq!(v["stored"][0]["added"], 1);
    // Signing again changes nothing (deterministic signature, no duplicate layer).
    let o = pvk(["sign", "--json", "--key", s(&key), &image]);
    assert_eq!(json_of(&o)["stored"][0]["added"], 0);

    let o = common::pv(["verify", "--json", "--key", s(&public), &image]);
    common::assert_code(&o, 0);
    let v = json_of(&o);
    assert_eq!(v["verified"], true);
    assert_eq!(reasons(&v, "signatures"), ["verified"]);
    assert_eq!(
        v["subjects"][0]["signatures"][0]["detail"]["format"],
        "simple-signing"
    );

    // Tamper 1: a signature by another key.
    let o = common::pv(["verify", "--key", s(&other_pub), &image]);
    common::assert_code(&o, 1);
    assert!(common::stdout(&o).contains("bad_signature"));
    let v = json_of(&common::pv([
        "verify",
        "--json",
        "--key",
        s(&other_pub),
        &image,
    ]));
    assert_eq!(reasons(&v, "signatures"), ["bad_signature"]);

    // Identity: checked only when asked.
    let o = common::pv([
        "verify",
        "--key",
        s(&public),
        "--identity",
        "example.com/else",
        &image,
    ]);
    common::assert_code(&o, 1);
    assert!(common::stdout(&o).contains("identity_mismatch"));

    // Tamper 2: the payload for another digest. Sign a second image, then list its
    // .sig manifest under the first image's .sig tag.
    let second = tmp.path().join("second");
    let d2 = {
        let mut w = LayoutWriter::create(&second).unwrap();
        let md = put_image(&mut w, "10.0.20348.2849", 9);
        w.add_manifest(&md, Some("v1")).unwrap();
        md.digest
    };
    common::assert_code(
        &pvk([
            "sign",
            "--key",
            s(&key),
            &format!("oci:{}:v1", second.display()),
        ]),
        0,
    );
    let sig2 = sig_manifest_of(&second, &d2);
    let sig2_bytes = std::fs::read(second.join("blobs/sha256").join(sig2.hex())).unwrap();
    let layer_descs: Vec<Descriptor> = serde_json::from_value(
        serde_json::from_slice::<Value>(&sig2_bytes).unwrap()["layers"].clone(),
    )
    .unwrap();
    let forged = tmp.path().join("forged");
    copy_dir(&layout, &forged);
    {
        let mut w = LayoutWriter::create(&forged).unwrap();
        for b in std::iter::once(&sig2).chain(layer_descs.iter().map(|d| &d.digest)) {
            let bytes = std::fs::read(second.join("blobs/sha256").join(b.hex())).unwrap();
            w.put_bytes("application/octet-stream", &bytes).unwrap();
        }
        let config: Value = serde_json::from_slice(&sig2_bytes).unwrap();
        let cd: Descriptor = serde_json::from_value(config["config"].clone()).unwrap();
        let cb = std::fs::read(second.join("blobs/sha256").join(cd.digest.hex())).unwrap();
        w.put_bytes(&cd.media_type, &cb).unwrap();
        w.add_manifest(
            &Descriptor::of_bytes(media::OCI_MANIFEST, &sig2_bytes),
            Some(&storage::sig_tag(&digest)),
        )
        .unwrap();
    }
    let forged_image = format!("oci:{}:v1", forged.display());
    let o = common::pv(["verify", "--key", s(&public), &forged_image]);
    common::assert_code(&o, 1);
    assert!(common::stdout(&o).contains("digest_mismatch"));
    let v = json_of(&common::pv([
        "verify",
        "--json",
        "--key",
        s(&public),
        &forged_image,
    ]));
    assert_eq!(reasons(&v, "signatures"), ["digest_mismatch"]);

    // Attestations: verified with the right type, refused with another type filter.
    let pred = tmp.path().join("pred.json");
    std::fs::write(&pred, br#"{"buildType":"https://example.com/bt/v1"}"#).unwrap();
    let o = pvk([
        "attest",
        "--json",
        "--key",
        s(&key),
        "--predicate",
        s(&pred),
        "--type",
        "https://slsa.dev/provenance/v1",
        "--bundle",
        &image,
    ]);
    common::assert_code(&o, 0);
    assert_eq!(json_of(&o)["kind"], "attest");
    let o = common::pv([
        "verify",
        "--json",
        "--key",
        s(&public),
        "--attestations",
        "--type",
        "https://slsa.dev/provenance/v1",
        &image,
    ]);
    common::assert_code(&o, 0);
    let v = json_of(&o);
    assert_eq!(reasons(&v, "attestations"), ["verified", "verified"]);
    let formats: Vec<&str> = v["subjects"][0]["attestations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["detail"]["format"].as_str().unwrap())
        .collect();
    assert_eq!(formats, ["dsse", "bundle"]);
    // Tamper 3: wrong predicate type filter.
    let wrong = [
        "verify",
        "--key",
        s(&public),
        "--type",
        "https://slsa.dev/verification_summary/v1",
        &image,
    ];
    let o = common::pv(wrong);
    common::assert_code(&o, 1);
    assert!(common::stdout(&o).contains("predicate_type_mismatch"));
    let mut wrong_json = wrong.to_vec();
    wrong_json.insert(1, "--json");
    let v = json_of(&common::pv(wrong_json));
    assert_eq!(v["verified"], false);
    assert_eq!(
        reasons(&v, "attestations"),
        ["predicate_type_mismatch", "predicate_type_mismatch"]
    );
    // Signatures alone still verified in that run.
    assert_eq!(v["subjects"][0]["signaturesVerified"], 1);

    // A wrong password: exit 2, nothing written.
    let before = std::fs::read(layout.join("index.json")).unwrap();
    let o = Command::new(common::bin())
        .args(["sign", "--key", s(&key), "--bundle", &image])
        .env("COSIGN_PASSWORD", "wrong")
        .output()
        .unwrap();
    common::assert_code(&o, 2);
    assert_eq!(std::fs::read(layout.join("index.json")).unwrap(), before);
}

fn sig_manifest_of(layout: &Path, image: &Digest) -> Digest {
    let idx: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let tag = storage::sig_tag(image);
    idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str())
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn attestations_dir_only_air_gapped() {
    let tmp = tempfile::tempdir().unwrap();
    let (key, public) = keypair(tmp.path(), "k");
    let layout = tmp.path().join("img");
    let digest = image_layout(&layout);
    let image = format!("oci:{}:v1", layout.display());
    let dir = tmp.path().join("attestations");
    let index_before = std::fs::read(layout.join("index.json")).unwrap();
    common::assert_code(
        &pvk([
            "sign",
            "--key",
            s(&key),
            "--attestations-dir",
            s(&dir),
            "--no-attach",
            &image,
        ]),
        0,
    );
    let pred = tmp.path().join("pred.json");
    std::fs::write(&pred, br#"{"x":1}"#).unwrap();
    common::assert_code(
        &pvk([
            "attest",
            "--key",
            s(&key),
            "--predicate",
            s(&pred),
            "--type",
            "https://example.com/p/v1",
            "--attestations-dir",
            s(&dir),
            "--no-attach",
            &image,
        ]),
        0,
    );
    // Nothing was attached to the image.
    assert_eq!(
        std::fs::read(layout.join("index.json")).unwrap(),
        index_before
    );
    assert!(
        dir.join(format!("{}.sigstore.json", digest.hex()))
            .is_file()
    );
    let lines =
        std::fs::read_to_string(dir.join(format!("{}.intoto.jsonl", digest.hex()))).unwrap();
    assert_eq!(lines.lines().count(), 1);
    // Without the directory: nothing to verify.
    common::assert_code(&common::pv(["verify", "--key", s(&public), &image]), 1);
    let o = common::pv([
        "verify",
        "--json",
        "--key",
        s(&public),
        "--attestations-dir",
        s(&dir),
        "--type",
        "https://example.com/p/v1",
        &image,
    ]);
    common::assert_code(&o, 0);
    let v = json_of(&o);
    assert_eq!(reasons(&v, "signatures"), ["verified"]);
    assert_eq!(
        v["subjects"][0]["signatures"][0]["detail"]["format"],
        "bundle"
    );
    assert_eq!(reasons(&v, "attestations"), ["verified"]);
    // A flipped byte in the envelope line: refused, with its line named.
    let p = dir.join(format!("{}.intoto.jsonl", digest.hex()));
    let mut env: Value = serde_json::from_str(lines.trim()).unwrap();
    let sig = env["signatures"][0]["sig"].as_str().unwrap().to_string();
    let flipped = if sig.starts_with('M') { "N" } else { "M" };
    env["signatures"][0]["sig"] = Value::String(format!("{flipped}{}", &sig[1..]));
    std::fs::write(&p, format!("{env}\n")).unwrap();
    let o = common::pv([
        "verify",
        "--json",
        "--key",
        s(&public),
        "--attestations-dir",
        s(&dir),
        "--attestations-only",
        &image,
    ]);
    common::assert_code(&o, 1);
    let v = json_of(&o);
    let a = &v["subjects"][0]["attestations"][0];
    assert_ne!(a["reason"], "verified");
    assert!(a["source"].as_str().unwrap().ends_with(".intoto.jsonl:1"));
}

#[test]
fn manifest_list_and_platforms() {
    let tmp = tempfile::tempdir().unwrap();
    let (key, public) = keypair(tmp.path(), "k");
    let layout = tmp.path().join("list");
    let (index, children) = list_layout(&layout);
    let image = format!("oci:{}:v1", layout.display());
    let o = pvk(["sign", "--json", "--key", s(&key), &image]);
    common::assert_code(&o, 0);
    assert_eq!(json_of(&o)["digest"], index.to_string());
    common::assert_code(&common::pv(["verify", "--key", s(&public), &image]), 0);
    // The children are not signed yet.
    let o = common::pv([
        "verify",
        "--json",
        "--key",
        s(&public),
        "--all-platforms",
        &image,
    ]);
    common::assert_code(&o, 1);
    let v = json_of(&o);
    let subjects = v["subjects"].as_array().unwrap();
    assert_eq!(subjects.len(), 3);
    assert_eq!(subjects[0]["verified"], true);
    assert_eq!(subjects[1]["verified"], false);
    // Sign the list and every child; --platform picks one, --all-platforms all.
    let o = pvk(["sign", "--json", "--recursive", "--key", s(&key), &image]);
    common::assert_code(&o, 0);
    let v = json_of(&o);
    assert_eq!(
        v["platformDigests"],
        json!([children[0].to_string(), children[1].to_string()])
    );
    // The list's signature was already there.
    assert_eq!(v["stored"][0]["added"], 0);
    let o = common::pv([
        "verify",
        "--json",
        "--key",
        s(&public),
        "--platform",
        "windows/amd64:10.0.20348",
        &image,
    ]);
    common::assert_code(&o, 0);
    let v = json_of(&o);
    assert_eq!(v["subjects"].as_array().unwrap().len(), 2);
    assert_eq!(v["subjects"][1]["digest"], children[1].to_string());
    assert!(
        v["subjects"][1]["platform"]
            .as_str()
            .unwrap()
            .contains("10.0.20348.2849")
    );
    common::assert_code(
        &common::pv(["verify", "--key", s(&public), "--all-platforms", &image]),
        0,
    );
    // An unknown platform is bad input.
    common::assert_code(
        &common::pv([
            "verify",
            "--key",
            s(&public),
            "--platform",
            "windows/amd64:10.0.99999",
            &image,
        ]),
        2,
    );
}

#[test]
fn registry_sign_verify_and_skopeo_reads_our_sig() {
    let Some(registry) = common::registry() else {
        return;
    };
    let Some(_) = common::need_tool("skopeo") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (key, public) = keypair(tmp.path(), "k");
    let (_, other_pub) = keypair(tmp.path(), "other");
    let layout = tmp.path().join("img");
    let digest = image_layout(&layout);
    let repo = format!("sign-e2e/img-{}", std::process::id());
    let image = format!("docker://{registry}/{repo}:v1");
    common::assert_code(
        &common::pv([
            "copy".to_string(),
            format!("oci:{}:v1", layout.display()),
            image.clone(),
        ]),
        0,
    );
    let o = pvk(["sign", "--json", "--key", s(&key), "--bundle", &image]);
    common::assert_code(&o, 0);
    let v = json_of(&o);
    assert_eq!(v["digest"], digest.to_string());
    assert_eq!(v["dockerReference"], format!("{registry}/{repo}"));
    let pred = tmp.path().join("pred.json");
    std::fs::write(&pred, br#"{"x":1}"#).unwrap();
    common::assert_code(
        &pvk([
            "attest",
            "--key",
            s(&key),
            "--predicate",
            s(&pred),
            "--type",
            "https://example.com/p/v1",
            "--bundle",
            &image,
        ]),
        0,
    );
    let o = common::pv([
        "verify",
        "--json",
        "--key",
        s(&public),
        "--attestations",
        "--identity",
        &format!("{registry}/{repo}"),
        &image,
    ]);
    common::assert_code(&o, 0);
    let v = json_of(&o);
    assert_eq!(reasons(&v, "signatures"), ["verified", "verified"]);
    assert_eq!(reasons(&v, "attestations"), ["verified", "verified"]);
    let o = common::pv(["verify", "--json", "--key", s(&other_pub), &image]);
    common::assert_code(&o, 1);
    assert_eq!(
        reasons(&json_of(&o), "signatures"),
        ["bad_signature", "wrong_hint"]
    );

    // skopeo reads our .sig as a sigstore attachment into dir:.
    let regd = tmp.path().join("registries.d");
    std::fs::create_dir_all(&regd).unwrap();
    std::fs::write(
        regd.join("pv.yaml"),
        format!("docker:\n  {registry}:\n    use-sigstore-attachments: true\n"),
    )
    .unwrap();
    let out_dir = tmp.path().join("dir-copy");
    let o = Command::new("skopeo")
        .arg("--insecure-policy")
        .arg("--registries.d")
        .arg(&regd)
        .args(["copy", "--src-tls-verify=false", &image])
        .arg(format!("dir:{}", out_dir.display()))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "skopeo copy: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let theirs =
        parse_containers_image_signature(&std::fs::read(out_dir.join("signature-1")).unwrap())
            .unwrap();
    assert!(!out_dir.join("signature-2").exists());
    // Ours, straight from the registry.
    let sig_manifest = http_get(&format!(
        "http://{registry}/v2/{repo}/manifests/{}",
        storage::sig_tag(&digest)
    ));
    let m: Value = serde_json::from_slice(&sig_manifest).unwrap();
    let layer = &m["layers"][0];
    assert_eq!(layer["mediaType"], SIMPLE_SIGNING_MEDIA_TYPE);
    let payload = http_get(&format!(
        "http://{registry}/v2/{repo}/blobs/{}",
        layer["digest"].as_str().unwrap()
    ));
    assert_eq!(theirs.media_type, SIMPLE_SIGNING_MEDIA_TYPE);
    assert_eq!(theirs.payload, payload);
    assert_eq!(
        theirs
            .annotations
            .get(SIGNATURE_ANNOTATION)
            .map(String::as_str),
        layer["annotations"][SIGNATURE_ANNOTATION].as_str()
    );
    // And what skopeo stored verifies with our public key over its exact bytes.
    let pk = PublicKey::from_pem(&std::fs::read(&public).unwrap()).unwrap();
    let sig = base64_decode(&theirs.annotations[SIGNATURE_ANNOTATION]);
    pk.verify(&theirs.payload, &sig).unwrap();
    // The manifest skopeo copied is the one we signed.
    assert_eq!(
        Digest::of(&std::fs::read(out_dir.join("manifest.json")).unwrap()),
        digest
    );
}

fn http_get(url: &str) -> Vec<u8> {
    let o = Command::new("curl")
        .args([
            "-sf",
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
            url,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "curl {url}");
    o.stdout
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}
