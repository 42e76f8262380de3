//! `copy --signatures`: an image mirrored together with its cosign signatures (`.sig`),
//! attestations (`.att`) and Sigstore bundle referrers — layout → layout, layout →
//! loopback registry → layout, a multi-platform list (whole, and one platform), a
//! tampered signature (copied as-is, still fails), and the real cosign fixture
//! (containers/image `dir-img-cosign-valid`) still verifying with `cosign.pub`.
//! The judge throughout is `verify` at the destination with the same key.

use crate::common;

use common::images::index;
use common::{Pv, assert_code, stderr, stdout};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

const PASSWORD: &str = "copy-signatures";

fn pvk(cwd: &Path, args: &[&str]) -> Output {
    Pv::new().cwd(cwd).password(PASSWORD).run(args)
}

#[track_caller]
fn ok(cwd: &Path, args: &[&str]) -> String {
    Pv::new().cwd(cwd).password(PASSWORD).ok(args)
}

#[track_caller]
fn json(cwd: &Path, args: &[&str]) -> Value {
    let out = ok(cwd, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// `verify --json` at `image`: (exit code, report).
fn verify(cwd: &Path, key: &str, extra: &[&str], image: &str) -> (i32, Value) {
    let mut args = vec!["verify", "--json", "--key", key];
    args.extend_from_slice(extra);
    args.push(image);
    let o = pvk(cwd, &args);
    let v = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("{e}: {} {}", stdout(&o), stderr(&o)));
    (o.status.code().unwrap_or(-1), v)
}

/// The synthetic NanoServer base for `versions`, and the image built on it (all
/// platforms). Returns the base list's digest.
fn build_image(cwd: &Path, versions: &[&str], out: &str) {
    let mut args = vec!["fixture", "nanoserver", "--out", "base", "-q"];
    for v in versions {
        args.extend_from_slice(&["--os-version", v]);
    }
    ok(cwd, &args);
    let base = format!(
        "oci:base@{}",
        index(&cwd.join("base"))["manifests"][0]["digest"]
            .as_str()
            .unwrap()
    );
    ok(cwd, &["build", "--base", &base, "--out", out, "-q"]);
}

/// Sign (with a bundle) and attest the layout's one image with `k.key`.
fn sign_and_attest(cwd: &Path, image: &str) {
    ok(cwd, &["sign", "-q", "--key", "k.key", "--bundle", image]);
    std::fs::write(cwd.join("pred.json"), br#"{"buildType":"x"}"#).unwrap();
    ok(
        cwd,
        &[
            "attest",
            "-q",
            "--key",
            "k.key",
            "--predicate",
            "pred.json",
            "--type",
            "https://slsa.dev/provenance/v1",
            image,
        ],
    );
}

/// index.json entries of a layout, as (digest, tag) pairs, without the image `skip`.
fn entries(dir: &Path, skip: &str) -> BTreeSet<(String, String)> {
    index(dir)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["digest"].as_str().unwrap().to_string(),
                e["annotations"]["org.opencontainers.image.ref.name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .filter(|(d, _)| d != skip)
        .collect()
}

/// Signature and attestation counts that verified: (signatures, attestations).
fn verified_counts(v: &Value, subject: usize) -> (u64, u64) {
    let s = &v["subjects"][subject];
    (
        s["signaturesVerified"].as_u64().unwrap(),
        s["attestationsVerified"].as_u64().unwrap_or(0),
    )
}

/// Every field name of the `attachments` object is documented in the `copy` section.
fn check_documented(v: &Value) {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json-schema.md"))
            .unwrap();
    let start = doc.find("## `copy`").unwrap();
    let end = doc[start + 3..]
        .find("\n## ")
        .map_or(doc.len(), |i| start + 3 + i);
    let section = &doc[start..end];
    fn names(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, x)| {
                out.insert(k.clone());
                names(x, out)
            }),
            Value::Array(a) => a.iter().for_each(|x| names(x, out)),
            _ => {}
        }
    }
    let mut all = BTreeSet::new();
    names(&v["attachments"], &mut all);
    for n in all {
        assert!(
            section.contains(&format!("`{n}`")),
            "copy --signatures field {n} is not documented in docs/json-schema.md's copy section"
        );
    }
}

#[test]
fn layout_to_layout_keeps_signatures_attestations_and_bundles() {
    let t = tempfile::tempdir().unwrap();
    let cwd = t.path();
    build_image(cwd, &["10.0.20348.2849"], "img");
    ok(cwd, &["generate-key-pair", "--output-key-prefix", "k"]);
    ok(cwd, &["generate-key-pair", "--output-key-prefix", "other"]);
    sign_and_attest(cwd, "oci:img");
    let (code, src_v) = verify(cwd, "k.pub", &["--attestations"], "oci:img");
    assert_eq!(code, 0, "{src_v}");
    let (src_sigs, src_atts) = verified_counts(&src_v, 0);
    // sign --bundle: a .sig layer and a signature bundle; attest: an .att layer.
    assert_eq!((src_sigs, src_atts), (2, 1), "{src_v}");

    // Without the flag: the image only, nothing verifies.
    ok(cwd, &["copy", "-q", "oci:img", "oci:plain:v1"]);
    let (code, _) = verify(cwd, "k.pub", &[], "oci:plain:v1");
    assert_eq!(code, 1);

    let v = json(
        cwd,
        &[
            "copy",
            "-q",
            "--json",
            "--signatures",
            "oci:img",
            "oci:dst:v1",
        ],
    );
    check_documented(&v);
    let image = src_v["subjects"][0]["digest"].as_str().unwrap();
    assert_eq!(v["root"]["digest"], image, "image digest unchanged: {v}");
    let a = &v["attachments"];
    let s = &a["subjects"][0];
    // The build's root is a one-platform list: the list, then its one platform (unsigned).
    assert_eq!(a["subjects"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(s["digest"], image);
    assert_eq!(a["subjects"][1]["signatures"], 0, "{v}");
    assert_eq!(a["subjects"][1]["added"], 0, "{v}");
    assert!(
        a["subjects"][1]["platform"]
            .as_str()
            .unwrap()
            .contains("10.0.20348")
    );
    assert_eq!(
        (&s["signatures"], &s["attestations"], &s["bundles"]),
        (&Value::from(1), &Value::from(1), &Value::from(1)),
        "{v}"
    );
    assert_eq!(s["added"], 3, "{v}");
    assert_eq!(a["added"], 3, "{v}");
    assert_eq!(a["skipped"], Value::Array(vec![]));
    let locations: Vec<&str> = s["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let hex = image.strip_prefix("sha256:").unwrap();
    assert!(
        locations.contains(&format!("oci:dst:sha256-{hex}.sig").as_str()),
        "{v}"
    );
    assert!(
        locations.contains(&format!("oci:dst:sha256-{hex}.att").as_str()),
        "{v}"
    );

    // Same key, same verdicts at the destination; another key fails there.
    let (code, dst_v) = verify(cwd, "k.pub", &["--attestations"], "oci:dst:v1");
    assert_eq!(code, 0, "{dst_v}");
    assert_eq!(verified_counts(&dst_v, 0), (src_sigs, src_atts));
    let (code, _) = verify(cwd, "other.pub", &[], "oci:dst:v1");
    assert_eq!(code, 1);
    // The attachments are the same manifests (same digests) as in the source.
    assert_eq!(
        entries(&cwd.join("dst"), image),
        entries(&cwd.join("img"), image)
    );

    // Idempotent: a second run adds nothing and leaves index.json as it was.
    // (Re-tagging the image may move its entry in index.json: compare as sets.)
    let before = entries(&cwd.join("dst"), "");
    let count = index(&cwd.join("dst"))["manifests"]
        .as_array()
        .unwrap()
        .len();
    let again = json(
        cwd,
        &[
            "copy",
            "-q",
            "--json",
            "--signatures",
            "oci:img",
            "oci:dst:v1",
        ],
    );
    assert_eq!(again["attachments"]["added"], 0, "{again}");
    assert_eq!(again["attachments"]["subjects"][0]["signatures"], 1);
    assert_eq!(
        again["attachments"]["subjects"][0]["locations"],
        v["attachments"]["subjects"][0]["locations"]
    );
    assert_eq!(entries(&cwd.join("dst"), ""), before);
    let after = index(&cwd.join("dst"))["manifests"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(after, count);
    // Human report says the same.
    let human = ok(
        cwd,
        &["copy", "-q", "--signatures", "oci:img", "oci:dst:v1"],
    );
    assert!(human.contains("Attachments: 0 added"), "{human}");
    assert!(
        human.contains("1 signatures, 1 attestations, 1 bundles"),
        "{human}"
    );

    // A source with none: fine, 0 copied.
    let none = json(
        cwd,
        &[
            "copy",
            "-q",
            "--json",
            "--signatures",
            "oci:plain:v1",
            "oci:plain2",
        ],
    );
    assert_eq!(none["attachments"]["added"], 0);
    assert_eq!(none["attachments"]["subjects"][0]["signatures"], 0);
    assert_eq!(
        none["attachments"]["subjects"][0]["locations"],
        Value::Array(vec![])
    );

    // A docker-archive is not a sink for signatures (nor for copy at all).
    let o = pvk(
        cwd,
        &["copy", "--signatures", "oci:img", "docker-archive:x.tar"],
    );
    assert_code(&o, 2);
}

#[test]
fn layout_registry_layout_round_trip_verifies() {
    let Some(host) = common::registry() else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let cwd = t.path();
    build_image(cwd, &["10.0.20348.2849"], "img");
    ok(cwd, &["generate-key-pair", "--output-key-prefix", "k"]);
    sign_and_attest(cwd, "oci:img");
    let (_, src_v) = verify(cwd, "k.pub", &["--attestations"], "oci:img");
    let counts = verified_counts(&src_v, 0);
    let image = src_v["subjects"][0]["digest"].as_str().unwrap().to_string();

    let repo = common::unique("pv-copysig", "img");
    let remote = format!("docker://{host}/{repo}:t");
    let v = json(
        cwd,
        &["copy", "-q", "--json", "--signatures", "oci:img", &remote],
    );
    assert_eq!(v["root"]["digest"], image.as_str());
    assert_eq!(v["attachments"]["added"], 3, "{v}");
    let (code, reg_v) = verify(cwd, "k.pub", &["--attestations"], &remote);
    assert_eq!(code, 0, "{reg_v}");
    assert_eq!(verified_counts(&reg_v, 0), counts);
    let again = json(
        cwd,
        &["copy", "-q", "--json", "--signatures", "oci:img", &remote],
    );
    assert_eq!(again["attachments"]["added"], 0, "{again}");

    // Back into a layout (the air-gapped side).
    let v = json(
        cwd,
        &[
            "copy",
            "-q",
            "--json",
            "--signatures",
            &remote,
            "oci:back:v1",
        ],
    );
    assert_eq!(v["root"]["digest"], image.as_str());
    assert_eq!(v["attachments"]["added"], 3, "{v}");
    let (code, back_v) = verify(cwd, "k.pub", &["--attestations"], "oci:back:v1");
    assert_eq!(code, 0, "{back_v}");
    assert_eq!(verified_counts(&back_v, 0), counts);
    assert_eq!(
        entries(&cwd.join("back"), &image),
        entries(&cwd.join("img"), &image)
    );
}

#[test]
fn multi_platform_keeps_list_and_platform_signatures() {
    let t = tempfile::tempdir().unwrap();
    let cwd = t.path();
    build_image(cwd, &["10.0.17763.3887", "10.0.20348.2849"], "oci:img:v1");
    ok(cwd, &["generate-key-pair", "--output-key-prefix", "k"]);
    let list = index(&cwd.join("img"))["manifests"][0].clone();
    assert!(
        list["mediaType"].as_str().unwrap().contains("index")
            || list["mediaType"].as_str().unwrap().contains("list")
    );
    let list_digest = list["digest"].as_str().unwrap().to_string();
    let (code, v) = verify(cwd, "k.pub", &["--all-platforms"], "oci:img:v1");
    assert_eq!(code, 1);
    let children: Vec<String> = v["subjects"].as_array().unwrap()[1..]
        .iter()
        .map(|s| s["digest"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(children.len(), 2, "{v}");
    let ltsc2022 = v["subjects"].as_array().unwrap()[1..]
        .iter()
        .find(|s| s["platform"].as_str().unwrap().contains("10.0.20348"))
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    // Sign the list, and one child by digest.
    ok(cwd, &["sign", "-q", "--key", "k.key", "oci:img:v1"]);
    ok(
        cwd,
        &[
            "sign",
            "-q",
            "--key",
            "k.key",
            &format!("oci:img@{ltsc2022}"),
        ],
    );
    let p2022 = "windows/amd64:10.0.20348";
    let (code, src_v) = verify(cwd, "k.pub", &["--platform", p2022], "oci:img:v1");
    assert_eq!(code, 0, "{src_v}");

    // The whole list: both levels travel.
    let v = json(
        cwd,
        &[
            "copy",
            "-q",
            "--json",
            "--signatures",
            "oci:img:v1",
            "oci:dst:v1",
        ],
    );
    assert_eq!(v["root"]["digest"], list_digest.as_str());
    let subjects = v["attachments"]["subjects"].as_array().unwrap();
    assert_eq!(subjects.len(), 3, "{v}");
    assert_eq!(subjects[0]["digest"], list_digest.as_str());
    assert_eq!(subjects[0]["signatures"], 1);
    let by_digest = |d: &str| subjects.iter().find(|s| s["digest"] == d).unwrap();
    assert_eq!(by_digest(&ltsc2022)["signatures"], 1);
    assert!(
        by_digest(&ltsc2022)["platform"]
            .as_str()
            .unwrap()
            .contains("10.0.20348")
    );
    let other = children.iter().find(|c| **c != ltsc2022).unwrap();
    assert_eq!(by_digest(other)["signatures"], 0);
    assert_eq!(v["attachments"]["added"], 2);
    let (code, dst_v) = verify(cwd, "k.pub", &["--platform", p2022], "oci:dst:v1");
    assert_eq!(code, 0, "{dst_v}");
    assert_eq!(verified_counts(&dst_v, 0), verified_counts(&src_v, 0));
    assert_eq!(verified_counts(&dst_v, 1), verified_counts(&src_v, 1));

    // One platform: its manifest's signature travels; the list's is skipped, and said so.
    let v = json(
        cwd,
        &[
            "copy",
            "-q",
            "--json",
            "--signatures",
            "--platform",
            p2022,
            "oci:img:v1",
            "oci:one:v1",
        ],
    );
    assert_eq!(v["root"]["digest"], ltsc2022.as_str());
    let a = &v["attachments"];
    assert_eq!(a["subjects"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(a["subjects"][0]["digest"], ltsc2022.as_str());
    assert_eq!(a["subjects"][0]["signatures"], 1);
    assert_eq!(a["skipped"][0]["digest"], list_digest.as_str(), "{v}");
    assert_eq!(a["skipped"][0]["signatures"], 1);
    assert!(
        a["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("--platform")
    );
    let (code, one_v) = verify(cwd, "k.pub", &[], "oci:one:v1");
    assert_eq!(code, 0, "{one_v}");
    assert_eq!(one_v["subjects"][0]["digest"], ltsc2022.as_str());
    // The list's signature did not come along: nothing in `one` is about the list.
    let listed = entries(&cwd.join("one"), &ltsc2022);
    let list_hex = list_digest.strip_prefix("sha256:").unwrap();
    assert!(
        listed.iter().all(|(_, t)| !t.contains(list_hex)),
        "{listed:?}"
    );
    let human = ok(
        cwd,
        &[
            "copy",
            "-q",
            "--signatures",
            "--platform",
            p2022,
            "oci:img:v1",
            "oci:one:v1",
        ],
    );
    assert!(human.contains(&format!("skipped {list_digest}")), "{human}");

    // The unsigned platform: copied, nothing to verify with.
    ok(
        cwd,
        &[
            "copy",
            "-q",
            "--signatures",
            "--platform",
            "windows/amd64:10.0.17763",
            "oci:img:v1",
            "oci:old:v1",
        ],
    );
    let (code, _) = verify(cwd, "k.pub", &[], "oci:old:v1");
    assert_eq!(code, 1);
}

/// The `.sig` manifest of `digest` in layout `dir`: (index.json position, manifest).
fn sig_manifest(dir: &Path, digest: &str) -> (usize, Value) {
    let hex = digest.strip_prefix("sha256:").unwrap();
    let idx = index(dir);
    let (i, e) = idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .find(|(_, e)| {
            e["annotations"]["org.opencontainers.image.ref.name"]
                == format!("sha256-{hex}.sig").as_str()
        })
        .unwrap();
    let d = e["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap();
    let m =
        serde_json::from_slice(&std::fs::read(dir.join("blobs/sha256").join(d)).unwrap()).unwrap();
    (i, m)
}

#[test]
fn tampered_signature_is_copied_as_is_and_still_fails() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let t = tempfile::tempdir().unwrap();
    let cwd = t.path();
    build_image(cwd, &["10.0.20348.2849"], "img");
    ok(cwd, &["generate-key-pair", "--output-key-prefix", "k"]);
    ok(cwd, &["sign", "-q", "--key", "k.key", "oci:img"]);
    let image = index(&cwd.join("img"))["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    // Flip the last byte of the DER signature (inside `s`: still well-formed DER).
    let (pos, mut m) = sig_manifest(&cwd.join("img"), &image);
    let ann = "dev.cosignproject.cosign/signature";
    let mut sig = b64
        .decode(m["layers"][0]["annotations"][ann].as_str().unwrap())
        .unwrap();
    *sig.last_mut().unwrap() ^= 0x01;
    let tampered = b64.encode(&sig);
    m["layers"][0]["annotations"][ann] = Value::from(tampered.clone());
    let bytes = serde_json::to_vec(&m).unwrap();
    let d = pause_verify::image::Digest::of(&bytes);
    std::fs::write(cwd.join("img/blobs/sha256").join(d.hex()), &bytes).unwrap();
    let mut idx = index(&cwd.join("img"));
    idx["manifests"][pos]["digest"] = Value::from(d.to_string());
    idx["manifests"][pos]["size"] = Value::from(bytes.len());
    std::fs::write(
        cwd.join("img/index.json"),
        serde_json::to_vec(&idx).unwrap(),
    )
    .unwrap();
    let (code, _) = verify(cwd, "k.pub", &[], "oci:img");
    assert_eq!(code, 1, "the source fails already");

    // Copy is not verify: the signature travels unchanged and fails at the destination.
    let v = json(
        cwd,
        &[
            "copy",
            "-q",
            "--json",
            "--signatures",
            "oci:img",
            "oci:dst:v1",
        ],
    );
    assert_eq!(v["attachments"]["subjects"][0]["signatures"], 1);
    assert_eq!(v["attachments"]["added"], 1);
    let (code, dst_v) = verify(cwd, "k.pub", &[], "oci:dst:v1");
    assert_eq!(code, 1, "{dst_v}");
    assert_eq!(
        dst_v["subjects"][0]["signatures"][0]["reason"],
        "bad_signature"
    );
    let (_, dm) = sig_manifest(&cwd.join("dst"), &image);
    assert_eq!(dm["layers"][0]["annotations"][ann], tampered.as_str());

    // A signature blob whose bytes do not match its descriptor is refused (exit 2),
    // after the image was written and with no attachment stored.
    let layer = m["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap()
        .to_string();
    let blob = cwd.join("img/blobs/sha256").join(&layer);
    let mut b = std::fs::read(&blob).unwrap();
    b[0] ^= 0x20;
    std::fs::write(&blob, b).unwrap();
    let o = pvk(
        cwd,
        &["copy", "-q", "--signatures", "oci:img", "oci:bad:v1"],
    );
    assert_code(&o, 2);
    assert!(stderr(&o).contains(&layer), "{}", stderr(&o));
    let bad = entries(&cwd.join("bad"), &image);
    assert!(bad.is_empty(), "the image only: {bad:?}");
    assert_eq!(
        index(&cwd.join("bad"))["manifests"][0]["digest"],
        image.as_str()
    );
}

/// The real cosign signature (containers/image fixtures): its image's blobs are not in
/// the fixtures, so `copy` itself cannot move the image; the destination already holds
/// the manifest (as a mirror made by another tool would) and the attachments go through
/// the same library calls `copy --signatures` makes. `verify` is then the binary.
#[test]
fn cosign_fixture_signature_still_verifies_after_copy() {
    use pause_verify::attest::attach::Store;
    use pause_verify::attest::simplesigning::parse_containers_image_signature;
    use pause_verify::attest::storage;
    use pause_verify::image::model::media;
    use pause_verify::image::registry::RegistryOptions;
    use pause_verify::image::{ImageRef, ImageSink, LayoutWriter};
    let Some(f) = common::fixtures() else { return };
    let ci = f.join("cosign/containers-image");
    let manifest = std::fs::read(ci.join("dir-img-cosign-valid/manifest.json")).unwrap();
    let sig = std::fs::read(ci.join("dir-img-cosign-valid/signature-1")).unwrap();
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    let mut w = LayoutWriter::create(&src).unwrap();
    let md = w.put_bytes(media::DOCKER_MANIFEST, &manifest).unwrap();
    w.add_manifest(&md, Some("v1")).unwrap();
    let tag = storage::sig_tag(&md.digest);
    let m = storage::cosign_manifest(
        None,
        &[parse_containers_image_signature(&sig).unwrap()],
        tag.clone(),
    )
    .unwrap();
    for b in &m.blobs {
        w.put_bytes(&b.descriptor.media_type, &b.bytes).unwrap();
    }
    let sd = w
        .put_bytes(&m.manifest.descriptor.media_type, &m.manifest.bytes)
        .unwrap();
    w.add_manifest(&sd, Some(&tag)).unwrap();
    let mut w = LayoutWriter::create(&dst).unwrap();
    w.put_bytes(media::DOCKER_MANIFEST, &manifest).unwrap();
    w.add_manifest(&md, Some("v1")).unwrap();

    let opts = RegistryOptions::default();
    let r = |d: &Path| -> ImageRef { format!("oci:{}:v1", d.display()).parse().unwrap() };
    let source = Store::open(&r(&src), &opts).unwrap();
    let a = source.attachments(&md.digest).unwrap();
    assert_eq!(a.signatures.len(), 1);
    assert!(a.attestations.is_empty() && a.bundles.is_empty());
    let mut dest = Store::open(&r(&dst), &opts).unwrap();
    assert_eq!(dest.put_attachments(&md, &a).unwrap().added, 1);
    assert_eq!(dest.put_attachments(&md, &a).unwrap().added, 0);

    let image = format!("oci:{}:v1", dst.display());
    let key = ci.join("cosign.pub");
    let (code, v) = verify(t.path(), key.to_str().unwrap(), &[], &image);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["subjects"][0]["signatures"][0]["detail"]["dockerReference"],
        "192.168.64.2:5000/cosign-signed-single-sample"
    );
    let key2 = ci.join("cosign2.pub");
    let (code, _) = verify(t.path(), key2.to_str().unwrap(), &[], &image);
    assert_eq!(code, 1);
    // The .sig manifest is the same bytes at both ends.
    let md = md.digest.to_string();
    assert_eq!(entries(&dst, &md), entries(&src, &md));
    assert_eq!(entries(&dst, &md).len(), 1);
}
