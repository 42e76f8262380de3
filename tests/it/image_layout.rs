//! OCI layouts built here byte by byte (tar + flate2 + sha2 directly, not through our
//! image module), then read and copied by the binary: platforms, foreign layers, and
//! every kind of bad input (exit 2, a message naming the problem, nothing written).

use crate::common;

use common::{assert_code, pv, stderr, stdout};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn tar_bytes(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, body) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, &body[..]).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

struct Lay {
    dir: PathBuf,
}

impl Lay {
    fn new(dir: &Path) -> Lay {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Lay {
            dir: dir.to_path_buf(),
        }
    }
    fn blob(&self, b: &[u8]) -> String {
        let d = sha(b);
        std::fs::write(self.blob_path(&d), b).unwrap();
        d
    }
    fn blob_path(&self, d: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    }
    fn index(&self, entries: Value) {
        let doc = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries});
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&doc).unwrap(),
        )
        .unwrap();
    }
}

struct Img {
    layer_gz: Vec<u8>,
    layer_tar: Vec<u8>,
    manifest: Vec<u8>,
    config: Vec<u8>,
}

/// One windows image with one gzip layer; `edit` may change the config and manifest JSON.
fn image(lay: &Lay, os_version: &str, edit: impl FnOnce(&mut Value, &mut Value)) -> Img {
    let layer_tar = tar_bytes(&[
        (
            "Files/hello.txt",
            format!("hello {os_version}\n").into_bytes(),
        ),
        (
            "Files/bin.dat",
            (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect(),
        ),
    ]);
    let layer_gz = gzip(&layer_tar);
    let mut config = json!({
        "architecture": "amd64", "os": "windows", "os.version": os_version,
        "config": {"User": "ContainerUser", "Entrypoint": ["cmd.exe", "/c"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(&layer_tar)]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "Apply image"}]
    });
    let ld = lay.blob(&layer_gz);
    let mut manifest = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "", "size": 0},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": layer_gz.len()}]
    });
    edit(&mut config, &mut manifest);
    let config = serde_json::to_vec(&config).unwrap();
    manifest["config"]["digest"] = json!(lay.blob(&config));
    manifest["config"]["size"] = json!(config.len());
    let manifest = serde_json::to_vec(&manifest).unwrap();
    lay.blob(&manifest);
    Img {
        layer_gz,
        layer_tar,
        manifest,
        config,
    }
}

fn entry(m: &[u8], tag: Option<&str>, os_version: Option<&str>) -> Value {
    let mut e = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(m), "size": m.len()});
    if let Some(t) = tag {
        e["annotations"] = json!({"org.opencontainers.image.ref.name": t});
    }
    if let Some(v) = os_version {
        e["platform"] = json!({"os": "windows", "architecture": "amd64", "os.version": v});
    }
    e
}

fn single(dir: &Path) -> (Lay, Img) {
    let lay = Lay::new(dir);
    let img = image(&lay, "10.0.20348.2849", |_, _| {});
    lay.index(json!([entry(&img.manifest, Some("v1"), None)]));
    (lay, img)
}

fn json_of(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("bad JSON ({e}): {}", stdout(o)))
}

#[track_caller]
fn bad_input(o: &std::process::Output, needles: &[&str]) {
    assert_code(o, 2);
    let err = stderr(o);
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
}

#[test]
fn inspect_reports_what_the_bytes_say() {
    let t = tempfile::tempdir().unwrap();
    let (lay, img) = single(&t.path().join("l"));
    let o = pv([
        "inspect",
        "--json",
        "--diff-ids",
        &format!("oci:{}:v1", lay.dir.display()),
    ]);
    assert_code(&o, 0);
    let j = json_of(&o);
    assert_eq!(j["schemaVersion"], "1");
    assert_eq!(j["kind"], "inspect");
    assert_eq!(j["manifest"]["digest"], sha(&img.manifest));
    assert_eq!(j["config"]["digest"], sha(&img.config));
    assert_eq!(j["config"]["osVersion"], "10.0.20348.2849");
    assert_eq!(j["config"]["user"], "ContainerUser");
    assert_eq!(j["config"]["entrypoint"], json!(["cmd.exe", "/c"]));
    assert_eq!(j["config"]["history"][0]["createdBy"], "Apply image");
    let l = &j["layers"][0];
    assert_eq!(l["digest"], sha(&img.layer_gz));
    assert_eq!(l["size"], img.layer_gz.len());
    assert_eq!(l["diffId"], sha(&img.layer_tar));
    assert_eq!(l["diffIdStatus"], "verified");
    assert_eq!(l["uncompressedSize"], img.layer_tar.len());
    assert_eq!(l["tarEntries"], 2);

    // Human output names the same digests.
    let o = pv([
        "inspect",
        "--diff-ids",
        &format!("oci:{}@{}", lay.dir.display(), sha(&img.manifest)),
    ]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains(&sha(&img.layer_tar)), "{}", stdout(&o));
}

#[test]
fn platforms_selection_and_foreign_layers() {
    let t = tempfile::tempdir().unwrap();
    let lay = Lay::new(&t.path().join("l"));
    let a = image(&lay, "10.0.17763.3887", |_, _| {});
    let foreign_digest = sha(b"never stored");
    let b = image(&lay, "10.0.20348.5499", |c, m| {
        let first = c["rootfs"]["diff_ids"][0].clone();
        c["rootfs"]["diff_ids"] = json!([sha(b"foreign diff"), first]);
        let l0 = m["layers"][0].clone();
        m["layers"] = json!([{
            "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            "digest": foreign_digest, "size": 124257916,
            "urls": ["https://mcr.microsoft.com/v2/windows/nanoserver/blobs/x"]
        }, l0]);
    });
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry(&a.manifest, None, Some("10.0.17763.3887")), entry(&b.manifest, None, Some("10.0.20348.5499"))]
    }))
    .unwrap();
    lay.blob(&index);
    lay.index(json!([{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha(&index), "size": index.len(),
        "annotations": {"org.opencontainers.image.ref.name": "multi"}}]));
    let r = format!("oci:{}:multi", lay.dir.display());

    // Several platforms and no --platform: an error listing them.
    let o = pv(["inspect", &r]);
    bad_input(&o, &["--platform", "10.0.17763.3887", "10.0.20348.5499"]);
    // No match.
    bad_input(
        &pv(["inspect", &r, "--platform", "windows/amd64:10.0.26100"]),
        &["10.0.20348.5499"],
    );
    // A prefix picks one; the foreign layer is reported, never fetched.
    let o = pv([
        "inspect",
        "--json",
        "--diff-ids",
        &r,
        "--platform",
        "windows/amd64:10.0.20348",
    ]);
    assert_code(&o, 0);
    let j = json_of(&o);
    assert_eq!(j["manifest"]["digest"], sha(&b.manifest));
    assert_eq!(j["platforms"].as_array().unwrap().len(), 2);
    assert_eq!(j["platforms"][1]["selected"], true);
    assert_eq!(j["platforms"][1]["osVersion"], "10.0.20348.5499");
    assert_eq!(j["layers"][0]["foreign"], true);
    assert_eq!(j["layers"][0]["digest"], foreign_digest);
    assert_eq!(
        j["layers"][0]["urls"][0],
        "https://mcr.microsoft.com/v2/windows/nanoserver/blobs/x"
    );
    assert_eq!(j["layers"][0]["diffIdStatus"], "not checked (foreign)");
    assert_eq!(j["layers"][1]["diffId"], sha(&b.layer_tar));

    // copy of one platform: the destination's root is that manifest; the foreign blob is skipped.
    let dest = t.path().join("dest");
    let o = pv([
        "copy",
        "--json",
        &r,
        &format!("oci:{}:x", dest.display()),
        "--platform",
        "windows/amd64:10.0.20348",
    ]);
    assert_code(&o, 0);
    let j = json_of(&o);
    assert_eq!(j["kind"], "copy");
    assert_eq!(j["root"]["digest"], sha(&b.manifest));
    assert_eq!(j["foreignSkipped"][0]["digest"], foreign_digest);
    assert!(
        dest.join("blobs/sha256")
            .join(sha(&b.layer_gz).trim_start_matches("sha256:"))
            .is_file()
    );
    assert!(
        !dest
            .join("blobs/sha256")
            .join(foreign_digest.trim_start_matches("sha256:"))
            .exists()
    );
    // The whole index copies too (all platforms), digests unchanged.
    let all = t.path().join("all");
    assert_code(
        &pv(["copy", &r, &format!("oci:{}:multi", all.display())]),
        0,
    );
    let idx: Value =
        serde_json::from_slice(&std::fs::read(all.join("index.json")).unwrap()).unwrap();
    assert_eq!(idx["manifests"][0]["digest"], sha(&index));
}

#[test]
fn flipped_byte_in_layer() {
    let t = tempfile::tempdir().unwrap();
    let (lay, img) = single(&t.path().join("l"));
    let ld = sha(&img.layer_gz);
    let mut b = img.layer_gz.clone();
    let mid = b.len() / 2;
    b[mid] ^= 0x01;
    std::fs::write(lay.blob_path(&ld), &b).unwrap();
    let r = format!("oci:{}:v1", lay.dir.display());
    bad_input(
        &pv(["inspect", "--diff-ids", &r]),
        &[&ld, &sha(&b), "digest mismatch"],
    );
    bad_input(&pv(["inspect", "--digests", &r]), &[&ld, &sha(&b)]);
    let dest = t.path().join("dest");
    bad_input(
        &pv(["copy", &r, &format!("oci:{}:v1", dest.display())]),
        &[&ld, &sha(&b)],
    );
    assert!(!dest.exists(), "a failed copy must leave no destination");
    let leftovers: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}

#[test]
fn flipped_byte_in_config_and_manifest() {
    let t = tempfile::tempdir().unwrap();
    let (lay, img) = single(&t.path().join("l"));
    let cd = sha(&img.config);
    let mut c = img.config.clone();
    c[5] ^= 0x20;
    std::fs::write(lay.blob_path(&cd), &c).unwrap();
    bad_input(
        &pv(["inspect", &format!("oci:{}:v1", lay.dir.display())]),
        &[&cd, &sha(&c)],
    );

    let (lay, img) = single(&t.path().join("m"));
    let md = sha(&img.manifest);
    let mut m = img.manifest.clone();
    m[3] ^= 0x01;
    std::fs::write(lay.blob_path(&md), &m).unwrap();
    bad_input(
        &pv(["inspect", &format!("oci:{}:v1", lay.dir.display())]),
        &[&md, &sha(&m)],
    );
}

#[test]
fn missing_blob_into_existing_layout_changes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let (lay, img) = single(&t.path().join("l"));
    let ld = sha(&img.layer_gz);
    std::fs::remove_file(lay.blob_path(&ld)).unwrap();
    let r = format!("oci:{}:v1", lay.dir.display());
    bad_input(&pv(["inspect", "--diff-ids", &r]), &[&ld, "missing"]);
    // An existing destination: index.json untouched, no blob of the failed image.
    let (other, _) = single(&t.path().join("other"));
    let before = std::fs::read(other.dir.join("index.json")).unwrap();
    std::fs::remove_file(other.blob_path(&ld)).unwrap();
    bad_input(
        &pv(["copy", &r, &format!("oci:{}:new", other.dir.display())]),
        &[&ld],
    );
    assert_eq!(std::fs::read(other.dir.join("index.json")).unwrap(), before);
    assert!(!other.blob_path(&ld).exists());
    let names: Vec<String> = std::fs::read_dir(other.dir.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with('.')),
        "temp files left: {names:?}"
    );
}

#[test]
fn truncated_gzip_layer() {
    let t = tempfile::tempdir().unwrap();
    // Truncated on disk: the size check names it.
    let (lay, img) = single(&t.path().join("l"));
    let ld = sha(&img.layer_gz);
    std::fs::write(lay.blob_path(&ld), &img.layer_gz[..img.layer_gz.len() / 2]).unwrap();
    bad_input(
        &pv([
            "inspect",
            "--diff-ids",
            &format!("oci:{}:v1", lay.dir.display()),
        ]),
        &[&ld, "size"],
    );

    // A manifest that honestly describes a truncated gzip: the gzip error names the layer.
    let lay = Lay::new(&t.path().join("m"));
    let img = image(&lay, "10.0.20348.1", |_, m| {
        let full = m["layers"][0]["size"].as_u64().unwrap() as usize;
        let _ = full;
    });
    let cut = img.layer_gz[..img.layer_gz.len() - 100].to_vec();
    let cd = lay.blob(&cut);
    let mut m: Value = serde_json::from_slice(&img.manifest).unwrap();
    m["layers"][0]["digest"] = json!(cd);
    m["layers"][0]["size"] = json!(cut.len());
    let m = serde_json::to_vec(&m).unwrap();
    lay.blob(&m);
    lay.index(json!([entry(&m, Some("cut"), None)]));
    bad_input(
        &pv([
            "inspect",
            "--diff-ids",
            &format!("oci:{}:cut", lay.dir.display()),
        ]),
        &[&cd, "truncated gzip"],
    );
}

#[test]
fn diff_id_disagreeing_with_config() {
    let t = tempfile::tempdir().unwrap();
    let lay = Lay::new(&t.path().join("l"));
    let wrong = sha(b"not the layer");
    let img = image(&lay, "10.0.20348.1", |c, _| {
        c["rootfs"]["diff_ids"] = json!([wrong])
    });
    lay.index(json!([entry(&img.manifest, Some("v1"), None)]));
    let r = format!("oci:{}:v1", lay.dir.display());
    bad_input(
        &pv(["inspect", "--diff-ids", &r]),
        &["diff_id mismatch", &wrong, &sha(&img.layer_tar), "layer 0"],
    );
}

#[test]
fn malformed_index_unknown_media_type_missing_tag() {
    let t = tempfile::tempdir().unwrap();
    let (lay, _) = single(&t.path().join("l"));
    std::fs::write(
        lay.dir.join("index.json"),
        b"{\"schemaVersion\":2,\"manifests\":[{\"digest\":",
    )
    .unwrap();
    bad_input(
        &pv(["inspect", &format!("oci:{}:v1", lay.dir.display())]),
        &["index.json", "JSON"],
    );
    let dest = t.path().join("d1");
    bad_input(
        &pv([
            "copy",
            &format!("oci:{}:v1", lay.dir.display()),
            &format!("oci:{}", dest.display()),
        ]),
        &["index.json"],
    );
    assert!(!dest.exists());

    let lay = Lay::new(&t.path().join("u"));
    let img = image(&lay, "10.0.20348.1", |_, m| {
        m["layers"][0]["mediaType"] = json!("application/x-mystery")
    });
    lay.index(json!([entry(&img.manifest, Some("v1"), None)]));
    bad_input(
        &pv(["inspect", &format!("oci:{}:v1", lay.dir.display())]),
        &["unknown media type", "application/x-mystery"],
    );

    let (lay, _) = single(&t.path().join("t"));
    bad_input(
        &pv(["inspect", &format!("oci:{}:nope", lay.dir.display())]),
        &["\"nope\"", "v1"],
    );
    bad_input(
        &pv([
            "inspect",
            &format!("oci:{}", t.path().join("absent").display()),
        ]),
        &["oci-layout"],
    );
}

#[test]
fn references() {
    for (r, needle) in [
        ("oci:", "missing directory"),
        ("oci:/x:bad tag!", "invalid tag"),
        ("oci:/x@sha256:1234", "64 hex"),
        ("docker://Upper/Case", "invalid repository"),
        ("oci-archive:/x.tar", "not supported"),
        // Nothing listens there: a transport error naming the registry (tests make no
        // request off loopback).
        ("docker://127.0.0.1:9/pause:1.0", "127.0.0.1:9"),
    ] {
        bad_input(&pv(["inspect", r]), &[needle]);
    }
    bad_input(
        &pv(["inspect", "oci:/tmp/x", "--platform", "windows"]),
        &["platform"],
    );
    let t = tempfile::tempdir().unwrap();
    let (lay, _) = single(&t.path().join("l"));
    // Every transport is a destination (image::open_sink): a docker-archive too, and it
    // reads back as the same image (same config, same layers by diff_id).
    let ar = t.path().join("x.tar");
    let o = pv([
        "copy",
        &format!("oci:{}:v1", lay.dir.display()),
        &format!("docker-archive:{}:pause:v1", ar.display()),
    ]);
    common::assert_code(&o, 0);
    let a = json_of(&pv([
        "inspect",
        "--json",
        &format!("docker-archive:{}", ar.display()),
    ]));
    let l = json_of(&pv([
        "inspect",
        "--json",
        &format!("oci:{}:v1", lay.dir.display()),
    ]));
    assert!(a["config"]["digest"].is_string(), "{a}");
    assert_eq!(a["config"]["digest"], l["config"]["digest"], "{a}");
    // A destination takes a tag, never a digest.
    bad_input(
        &pv([
            "copy",
            &format!("oci:{}:v1", lay.dir.display()),
            &format!(
                "oci:{}@sha256:{}",
                t.path().join("y").display(),
                "0".repeat(64)
            ),
        ]),
        &["takes a tag, not a digest"],
    );
}

/// A real Docker schema2 manifest (containers/image fixture, digest from PROVENANCE.md):
/// parsed as such, its digest is that of its exact bytes, and a layout holding it without
/// its config fails cleanly naming the missing blob.
#[test]
fn real_docker_schema2_manifest() {
    let Some(fx) = common::fixtures() else { return };
    let raw = std::fs::read(fx.join("cosign/containers-image/dir-img-cosign-valid/manifest.json"))
        .unwrap();
    let want = "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00";
    let m = pause_verify::image::Manifest::parse("fixture", None, raw.clone()).unwrap();
    assert_eq!(m.descriptor.digest.to_string(), want);
    assert_eq!(
        m.descriptor.media_type,
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        m.config.media_type,
        "application/vnd.docker.container.image.v1+json"
    );
    assert_eq!(m.layers.len(), 1);
    assert_eq!(m.layers[0].size, 2896510);
    m.check_image().unwrap();

    let t = tempfile::tempdir().unwrap();
    let lay = Lay::new(&t.path().join("l"));
    assert_eq!(lay.blob(&raw), want);
    lay.index(json!([{"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "digest": want, "size": raw.len(), "annotations": {"org.opencontainers.image.ref.name": "x"}}]));
    bad_input(
        &pv(["inspect", &format!("oci:{}:x", lay.dir.display())]),
        &[
            "sha256:961769676411f082461f9ef46626dd7a2d1e2b2a38e6a44364bcbecf51e66dd4",
            "missing",
        ],
    );
}
