//! Real cosign signatures (containers/image fixtures, see tests/fixtures/PROVENANCE.md)
//! stored the way cosign stores them — the signed manifest plus a `sha256-<hex>.sig`
//! manifest whose layers are the fixture payloads and signature annotations — in an OCI
//! layout and in the loopback registry, then judged by `pause-verify verify`.
//!
//! The registry cannot accept the fixture manifest by PUT (its config and layer blobs
//! are not available anywhere here), so the test places it into the registry's
//! filesystem storage the way distribution stores a pushed manifest; the `.sig` goes
//! in through `skopeo copy` (a real client), from the layout.

use crate::common;

use pause_verify::attest::simplesigning::parse_containers_image_signature;
use pause_verify::attest::storage::{self, AttachedLayer};
use pause_verify::image::model::media;
use pause_verify::image::{Descriptor, Digest, ImageSink, LayoutWriter};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn ci_dir() -> Option<PathBuf> {
    common::fixtures().map(|f| f.join("cosign/containers-image"))
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A layout holding `manifest` (tag `v1`) and a `.sig` manifest for it made of the
/// given containers/image signature files. Returns the manifest digest.
fn fixture_layout(dir: &Path, manifest: &[u8], signatures: &[PathBuf]) -> Digest {
    let mut w = LayoutWriter::create(dir).unwrap();
    let md = w.put_bytes(media::DOCKER_MANIFEST, manifest).unwrap();
    w.add_manifest(&md, Some("v1")).unwrap();
    let layers: Vec<AttachedLayer> = signatures
        .iter()
        .map(|p| parse_containers_image_signature(&read(p)).unwrap())
        .collect();
    let tag = storage::sig_tag(&md.digest);
    let m = storage::cosign_manifest(None, &layers, tag.clone()).unwrap();
    for b in &m.blobs {
        w.put_bytes(&b.descriptor.media_type, &b.bytes).unwrap();
    }
    let d = w
        .put_bytes(&m.manifest.descriptor.media_type, &m.manifest.bytes)
        .unwrap();
    w.add_manifest(&d, Some(&tag)).unwrap();
    md.digest
}

/// Put `manifest` into the loopback registry's storage as `repo:tag`, as distribution
/// lays out a pushed manifest.
fn plant_manifest(repo: &str, tag: &str, manifest: &[u8]) -> bool {
    let Some(root) = std::env::var_os("PV_REG_ROOT") else {
        return common::need("PV_REG_ROOT (storage of the loopback registry)", false);
    };
    let v2 = PathBuf::from(root).join("plain/storage/docker/registry/v2");
    let d = Digest::of(manifest);
    let hex = d.hex();
    let blob = v2.join(format!("blobs/sha256/{}/{hex}/data", &hex[..2]));
    let link = format!("sha256:{hex}");
    let m = v2.join(format!("repositories/{repo}/_manifests"));
    for (p, bytes) in [
        (blob, manifest.to_vec()),
        (
            m.join(format!("revisions/sha256/{hex}/link")),
            link.clone().into_bytes(),
        ),
        (
            m.join(format!("tags/{tag}/current/link")),
            link.clone().into_bytes(),
        ),
        (
            m.join(format!("tags/{tag}/index/sha256/{hex}/link")),
            link.into_bytes(),
        ),
    ] {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
    }
    true
}

/// Copy the layout's `.sig` manifest for `digest` into `registry/repo` with skopeo.
fn skopeo_copy_sig(layout: &Path, digest: &Digest, registry: &str, repo: &str) {
    let tag = storage::sig_tag(digest);
    let out = Command::new("skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &format!("oci:{}:{tag}", layout.display()),
            &format!("docker://{registry}/{repo}:{tag}"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo copy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Case {
    name: &'static str,
    manifest: &'static str,
    signatures: &'static [&'static str],
    /// (public key, expected exit, expected reason of the failing signatures)
    expect: &'static [(&'static str, i32, Option<&'static str>)],
}

const CASES: &[Case] = &[
    Case {
        name: "valid",
        manifest: "dir-img-cosign-valid/manifest.json",
        signatures: &["dir-img-cosign-valid/signature-1"],
        expect: &[
            ("cosign.pub", 0, None),
            ("cosign2.pub", 1, Some("bad_signature")),
        ],
    },
    Case {
        name: "valid-2",
        manifest: "dir-img-cosign-valid/manifest.json",
        signatures: &["dir-img-cosign-valid-2/signature-2"],
        expect: &[
            ("cosign.pub", 0, None),
            ("cosign2.pub", 1, Some("bad_signature")),
        ],
    },
    Case {
        // The valid signature copied onto a manifest with an extra field.
        name: "modified-manifest",
        manifest: "dir-img-cosign-modified-manifest/manifest.json",
        signatures: &["dir-img-cosign-valid/signature-1"],
        expect: &[("cosign.pub", 1, Some("digest_mismatch"))],
    },
    Case {
        name: "other-attachment",
        manifest: "dir-img-cosign-valid/manifest.json",
        signatures: &["dir-img-cosign-other-attachment/signature-1"],
        expect: &[("cosign.pub", 1, Some("not_a_signature"))],
    },
    Case {
        name: "unknown-key",
        manifest: "dir-img-cosign-valid/manifest.json",
        signatures: &["unknown-cosign-key.signature"],
        expect: &[
            ("cosign.pub", 1, Some("bad_signature")),
            ("cosign2.pub", 1, Some("bad_signature")),
        ],
    },
];

/// Run verify (human and JSON) against `image` and check exit code and reasons.
fn check_verify(ci: &Path, image: &str, case: &Case, digest: &Digest) {
    for (key, code, reason) in case.expect {
        let key = ci.join(key);
        let human = common::pv(["verify", "--key", key.to_str().unwrap(), image]);
        common::assert_code(&human, *code);
        let text = common::stdout(&human);
        let json = common::pv(["verify", "--json", "--key", key.to_str().unwrap(), image]);
        common::assert_code(&json, *code);
        let v: Value = serde_json::from_str(&common::stdout(&json)).unwrap();
        assert_eq!(v["kind"], "verify");
        assert_eq!(v["schemaVersion"], "1");
        assert_eq!(v["verified"], *code == 0, "{}: {v}", case.name);
        let subject = &v["subjects"][0];
        assert_eq!(subject["digest"], digest.to_string());
        let sigs = subject["signatures"].as_array().unwrap();
        assert_eq!(sigs.len(), case.signatures.len(), "{}: {v}", case.name);
        match reason {
            None => {
                assert!(text.contains("VERIFIED") && !text.contains("NOT VERIFIED"));
                assert_eq!(sigs[0]["verified"], true);
                assert_eq!(sigs[0]["reason"], "verified");
                assert_eq!(
                    sigs[0]["detail"]["dockerReference"],
                    "192.168.64.2:5000/cosign-signed-single-sample"
                );
            }
            Some(r) => {
                assert!(text.contains("NOT VERIFIED"), "{text}");
                assert!(text.contains(r), "{}: reason {r} not in\n{text}", case.name);
                for s in sigs {
                    assert_eq!(s["verified"], false);
                    assert_eq!(s["reason"], *r, "{}: {v}", case.name);
                    assert!(!s["message"].as_str().unwrap().is_empty());
                }
            }
        }
    }
}

#[test]
fn fixtures_in_an_oci_layout() {
    let Some(ci) = ci_dir() else { return };
    for case in CASES {
        let tmp = tempfile::tempdir().unwrap();
        let layout = tmp.path().join("layout");
        let sigs: Vec<PathBuf> = case.signatures.iter().map(|s| ci.join(s)).collect();
        let digest = fixture_layout(&layout, &read(&ci.join(case.manifest)), &sigs);
        check_verify(&ci, &format!("oci:{}:v1", layout.display()), case, &digest);
        // Untagged: the layout's one image (the .sig beside it is not an image).
        check_verify(&ci, &format!("oci:{}", layout.display()), case, &digest);
    }
}

#[test]
fn fixtures_in_the_loopback_registry() {
    let Some(ci) = ci_dir() else { return };
    let Some(registry) = common::registry() else {
        return;
    };
    if common::need_tool("skopeo").is_none() {
        return;
    }
    for case in CASES {
        let tmp = tempfile::tempdir().unwrap();
        let layout = tmp.path().join("layout");
        let manifest = read(&ci.join(case.manifest));
        let sigs: Vec<PathBuf> = case.signatures.iter().map(|s| ci.join(s)).collect();
        let digest = fixture_layout(&layout, &manifest, &sigs);
        let repo = format!("verify-fixtures/{}-{}", case.name, std::process::id());
        if !plant_manifest(&repo, "v1", &manifest) {
            return;
        }
        skopeo_copy_sig(&layout, &digest, &registry, &repo);
        check_verify(
            &ci,
            &format!("docker://{registry}/{repo}:v1"),
            case,
            &digest,
        );
        check_verify(
            &ci,
            &format!("docker://{registry}/{repo}@{digest}"),
            case,
            &digest,
        );
    }
}

#[test]
fn bad_input_exits_2() {
    let Some(ci) = ci_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    fixture_layout(
        &layout,
        &read(&ci.join("dir-img-cosign-valid/manifest.json")),
        &[ci.join("dir-img-cosign-valid/signature-1")],
    );
    let image = format!("oci:{}:v1", layout.display());
    // Unreadable key, a private key given as public, a missing tag, a non-layout.
    let missing = tmp.path().join("nope.pub");
    let o = common::pv(["verify", "--key", missing.to_str().unwrap(), &image]);
    common::assert_code(&o, 2);
    assert!(common::stderr(&o).contains("nope.pub"));
    let private = common::fixtures()
        .unwrap()
        .join("cosign/keys/cosign_generated_encrypted_empty_private.key");
    let o = common::pv(["verify", "--key", private.to_str().unwrap(), &image]);
    common::assert_code(&o, 2);
    let key = ci.join("cosign.pub");
    let o = common::pv([
        "verify",
        "--key",
        key.to_str().unwrap(),
        &format!("oci:{}:nope", layout.display()),
    ]);
    common::assert_code(&o, 2);
    let o = common::pv([
        "verify",
        "--key",
        key.to_str().unwrap(),
        &format!("oci:{}", tmp.path().display()),
    ]);
    common::assert_code(&o, 2);
    // A signature manifest whose layer blob is gone: a failed check, not a crash.
    let idx: Value = serde_json::from_slice(&read(&layout.join("index.json"))).unwrap();
    let sig_entry = idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .is_some_and(|t| t.ends_with(".sig"))
        })
        .unwrap();
    let sig_digest: Digest = sig_entry["digest"].as_str().unwrap().parse().unwrap();
    let sig_manifest: Value =
        serde_json::from_slice(&read(&layout.join("blobs/sha256").join(sig_digest.hex()))).unwrap();
    let layer: Descriptor = serde_json::from_value(sig_manifest["layers"][0].clone()).unwrap();
    std::fs::remove_file(layout.join("blobs/sha256").join(layer.digest.hex())).unwrap();
    let o = common::pv(["verify", "--json", "--key", key.to_str().unwrap(), &image]);
    common::assert_code(&o, 1);
    let v: Value = serde_json::from_str(&common::stdout(&o)).unwrap();
    assert_eq!(v["subjects"][0]["signatures"][0]["reason"], "malformed");
}
