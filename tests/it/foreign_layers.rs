//! `--include-foreign` in `inspect --digests/--diff-ids` and `copy`: a foreign
//! (non-distributable) layer is verified and copied like any blob, fetched from its URL
//! (here the plain loopback registry's own blob URL) by a registry source, read from the
//! layout by a layout source (absent: a clear error). Without the flag nothing changes:
//! reported, skipped, never fetched. A URL serving other bytes is an integrity error.

use crate::common;

use common::images::{Layout, gz_tar_layer};
use common::{Pv, assert_code, stderr};
use pause_verify::image::Digest;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;

const FOREIGN: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
const LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

fn pv(args: &[&str]) -> Output {
    Pv::new().no_docker_config().run(args)
}

#[track_caller]
fn json_ok(args: &[&str]) -> Value {
    let out = Pv::new().no_docker_config().ok(args);
    serde_json::from_str(&out).expect("one JSON document")
}

struct Layer<'a> {
    gz: &'a [u8],
    diff_id: &'a Digest,
    media_type: &'a str,
    urls: Vec<String>,
    /// Whether the layout holds the blob.
    stored: bool,
}

/// A Docker schema2 Windows image in a new layout, tagged `t`.
fn layout(dir: &Path, layers: &[Layer]) -> Digest {
    let out = Layout::new(dir);
    let put = |b: &[u8]| out.put(b);
    let mut descs = vec![];
    for l in layers {
        let d = Digest::of(l.gz);
        if l.stored {
            put(l.gz);
        }
        let mut desc =
            json!({"mediaType": l.media_type, "digest": d.to_string(), "size": l.gz.len()});
        if !l.urls.is_empty() {
            desc["urls"] = json!(l.urls);
        }
        descs.push(desc);
    }
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.to_string()).collect();
    let cfg = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "windows", "os.version": "10.0.20348.2849",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let (cd, cs) = put(&cfg);
    let man = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": cd.to_string(), "size": cs},
        "layers": descs,
    }))
    .unwrap();
    let (md, ms) = put(&man);
    let idx = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "digest": md.to_string(), "size": ms,
        "annotations": {"org.opencontainers.image.ref.name": "t"},
    }]});
    out.finish(&serde_json::to_vec(&idx).unwrap());
    md
}

fn unique(name: &str) -> String {
    common::unique("pv-foreign", name)
}

fn has_blob(dir: &Path, d: &Digest) -> bool {
    dir.join("blobs/sha256").join(d.hex()).exists()
}

#[test]
fn include_foreign_verifies_and_copies_foreign_layers() {
    let Some(host) = common::registry() else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let (base_gz, base_diff) = gz_tar_layer("Files/base.txt", b"the foreign base layer\n");
    let (top_gz, top_diff) = gz_tar_layer("Files/top.txt", b"the distributable layer\n");
    let (base_d, top_d) = (Digest::of(&base_gz), Digest::of(&top_gz));

    // Both blobs on the registry as ordinary layers: the foreign URL is the blob URL.
    let carrier_repo = unique("carrier");
    let carrier = t.path().join("carrier");
    let normal = |gz, diff_id| Layer {
        gz,
        diff_id,
        media_type: LAYER,
        urls: vec![],
        stored: true,
    };
    layout(
        &carrier,
        &[normal(&base_gz, &base_diff), normal(&top_gz, &top_diff)],
    );
    let o = pv(&[
        "copy",
        "-q",
        &format!("oci:{}:t", carrier.display()),
        &format!("docker://{host}/{carrier_repo}:t"),
    ]);
    assert_code(&o, 0);
    let url_of = |d: &Digest| format!("http://{host}/v2/{carrier_repo}/blobs/{d}");

    // The image under test: a foreign base (URL only) and a normal top layer.
    let img_dir = t.path().join("img");
    let foreign_layers = |url: String, stored: bool| {
        vec![
            Layer {
                gz: &base_gz,
                diff_id: &base_diff,
                media_type: FOREIGN,
                urls: vec![url],
                stored,
            },
            normal(&top_gz, &top_diff),
        ]
    };
    layout(&img_dir, &foreign_layers(url_of(&base_d), false));
    let img_local = format!("oci:{}:t", img_dir.display());
    let img = format!("docker://{host}/{}:t", unique("img"));
    let c = json_ok(&["copy", "-q", "--json", &img_local, &img]);
    assert_eq!(c["foreignSkipped"][0]["digest"], base_d.to_string());

    // inspect: skipped without the flag, verified (digest and diff_id) with it.
    let j = json_ok(&["inspect", "--diff-ids", "--json", "-q", &img]);
    assert_eq!(j["layers"][0]["digestStatus"], "not checked (foreign)");
    assert_eq!(j["layers"][0]["diffIdStatus"], "not checked (foreign)");
    let j = json_ok(&[
        "inspect",
        "--diff-ids",
        "--include-foreign",
        "--json",
        "-q",
        &img,
    ]);
    assert_eq!(j["layers"][0]["foreign"], true);
    assert_eq!(j["layers"][0]["digestStatus"], "verified", "{j}");
    assert_eq!(j["layers"][0]["diffIdStatus"], "verified");
    assert_eq!(j["layers"][0]["diffId"], base_diff.to_string());
    let j = json_ok(&[
        "inspect",
        "--digests",
        "--include-foreign",
        "--json",
        "-q",
        &img,
    ]);
    assert_eq!(j["layers"][0]["digestStatus"], "verified");

    // copy registry → layout: the blob is left out without the flag, fetched with it.
    let out = t.path().join("out-plain");
    let c = json_ok(&[
        "copy",
        "-q",
        "--json",
        &img,
        &format!("oci:{}", out.display()),
    ]);
    assert_eq!(c["foreignSkipped"].as_array().unwrap().len(), 1);
    assert!(!has_blob(&out, &base_d));
    let out = t.path().join("out-foreign");
    let c = json_ok(&[
        "copy",
        "-q",
        "--json",
        "--include-foreign",
        &img,
        &format!("oci:{}", out.display()),
    ]);
    assert_eq!(c["foreignSkipped"].as_array().unwrap().len(), 0, "{c}");
    assert_eq!(
        std::fs::read(out.join("blobs/sha256").join(base_d.hex())).unwrap(),
        base_gz
    );
    // The copied layout now verifies offline with the flag.
    let j = json_ok(&[
        "inspect",
        "--diff-ids",
        "--include-foreign",
        "--json",
        "-q",
        &format!("oci:{}", out.display()),
    ]);
    assert_eq!(j["layers"][0]["diffIdStatus"], "verified");

    // A layout source without the blob: a clear error naming the layer, nothing written.
    let o = pv(&[
        "copy",
        "-q",
        "--include-foreign",
        &img_local,
        &format!("oci:{}", t.path().join("none").display()),
    ]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains(&base_d.to_string()), "{}", stderr(&o));
    assert!(stderr(&o).contains("foreign layer"), "{}", stderr(&o));
    assert!(!t.path().join("none").exists());
    let o = pv(&["inspect", "--digests", "--include-foreign", &img_local]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("foreign layer"), "{}", stderr(&o));
    // A layout that holds the foreign blob: copied and verified like any blob.
    let held = t.path().join("held");
    layout(&held, &foreign_layers(url_of(&base_d), true));
    let out = t.path().join("held-out");
    let c = json_ok(&[
        "copy",
        "-q",
        "--json",
        "--include-foreign",
        &format!("oci:{}:t", held.display()),
        &format!("oci:{}", out.display()),
    ]);
    assert_eq!(c["foreignSkipped"].as_array().unwrap().len(), 0, "{c}");
    assert!(has_blob(&out, &base_d));
    // Without the flag the same layout copies as before.
    let o = pv(&[
        "copy",
        "-q",
        &img_local,
        &format!("oci:{}", t.path().join("skip").display()),
    ]);
    assert_code(&o, 0);

    // A URL serving other bytes: an integrity error, and no blob lands.
    let bad_dir = t.path().join("bad");
    layout(&bad_dir, &foreign_layers(url_of(&top_d), false));
    let bad = format!("docker://{host}/{}:t", unique("bad"));
    let o = pv(&["copy", "-q", &format!("oci:{}:t", bad_dir.display()), &bad]);
    assert_code(&o, 0);
    let out = t.path().join("out-bad");
    let o = pv(&[
        "copy",
        "-q",
        "--include-foreign",
        &bad,
        &format!("oci:{}", out.display()),
    ]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains(&base_d.to_string()), "{}", stderr(&o));
    assert!(!out.exists());
    let o = pv(&["inspect", "--digests", "--include-foreign", &bad]);
    assert_code(&o, 2);
}
