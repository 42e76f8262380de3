//! Interoperability with independent tools: umoci writes a layout we read; we write a
//! layout skopeo reads and copies; skopeo writes a docker-archive we read. Expected
//! values come from the tools themselves (the layout's JSON, sha256sum, gzip -dc).

use crate::common;

use common::{assert_code, need_tool, pv, stderr, stdout};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

#[track_caller]
fn run(cmd: &str, args: &[&str], cwd: &Path) -> String {
    let o = Command::new(cmd)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect(cmd);
    assert!(
        o.status.success(),
        "{cmd} {args:?} failed:\n{}\n{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

fn sh(script: &str, cwd: &Path) -> String {
    run("sh", &["-c", script], cwd)
}

fn sha256sum(path: &Path) -> String {
    let out = run("sha256sum", &[path.to_str().unwrap()], Path::new("/"));
    format!("sha256:{}", out.split_whitespace().next().unwrap())
}

fn gunzip_sha(path: &Path) -> String {
    let out = sh(
        &format!("gzip -dc '{}' | sha256sum", path.display()),
        Path::new("/"),
    );
    format!("sha256:{}", out.split_whitespace().next().unwrap())
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn blob(layout: &Path, digest: &str) -> std::path::PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// A two-layer layout made by umoci (rootless, so it works as root or not).
fn umoci_layout(dir: &Path) -> Option<()> {
    need_tool("umoci")?;
    run("umoci", &["init", "--layout", "lay"], dir);
    run("umoci", &["new", "--image", "lay:v1"], dir);
    run(
        "umoci",
        &["unpack", "--rootless", "--image", "lay:v1", "bundle"],
        dir,
    );
    sh(
        "mkdir -p bundle/rootfs/etc bundle/rootfs/data && echo hello > bundle/rootfs/etc/hello && \
         for i in $(seq 1 40); do head -c $((i*3000)) /dev/urandom > bundle/rootfs/data/r$i; \
         seq 1 $((i*200)) > bundle/rootfs/data/t$i; done",
        dir,
    );
    run("umoci", &["repack", "--image", "lay:v1", "bundle"], dir);
    sh("rm -rf bundle", dir);
    run(
        "umoci",
        &["unpack", "--rootless", "--image", "lay:v1", "bundle"],
        dir,
    );
    sh("echo second > bundle/rootfs/etc/second", dir);
    run("umoci", &["repack", "--image", "lay:v1", "bundle"], dir);
    Some(())
}

#[test]
fn reads_a_umoci_layout_and_skopeo_accepts_ours() {
    let t = tempfile::tempdir().unwrap();
    if umoci_layout(t.path()).is_none() {
        return;
    }
    let lay = t.path().join("lay");
    // What the layout's own JSON says.
    let index = read_json(&lay.join("index.json"));
    let mdesc = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == "v1")
        .unwrap()
        .clone();
    let mdigest = mdesc["digest"].as_str().unwrap().to_string();
    let manifest = read_json(&blob(&lay, &mdigest));
    let config_digest = manifest["config"]["digest"].as_str().unwrap().to_string();
    let config = read_json(&blob(&lay, &config_digest));
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "umoci made two layers");

    let o = pv([
        "inspect",
        "--json",
        "--diff-ids",
        &format!("oci:{}:v1", lay.display()),
    ]);
    assert_code(&o, 0);
    let j: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["manifest"]["digest"], mdigest);
    assert_eq!(sha256sum(&blob(&lay, &mdigest)), mdigest);
    assert_eq!(j["config"]["digest"], config_digest);
    for (i, l) in layers.iter().enumerate() {
        let d = l["digest"].as_str().unwrap();
        let p = blob(&lay, d);
        let ours = &j["layers"][i];
        assert_eq!(ours["digest"], d);
        assert_eq!(ours["digest"], sha256sum(&p).as_str());
        assert_eq!(ours["size"], l["size"]);
        assert_eq!(ours["mediaType"], l["mediaType"]);
        let diff = gunzip_sha(&p);
        assert_eq!(ours["diffId"], diff.as_str());
        assert_eq!(config["rootfs"]["diff_ids"][i], diff.as_str());
        assert_eq!(ours["diffIdStatus"], "verified");
    }

    // We write a layout; skopeo reads it and copies it.
    let Some(_) = need_tool("skopeo") else { return };
    let ours = t.path().join("ours");
    let o = pv([
        "copy",
        &format!("oci:{}:v1", lay.display()),
        &format!("oci:{}:mirror", ours.display()),
    ]);
    assert_code(&o, 0);
    let si: Value = serde_json::from_str(&run(
        "skopeo",
        &["inspect", &format!("oci:{}:mirror", ours.display())],
        t.path(),
    ))
    .unwrap();
    assert_eq!(si["Digest"], mdigest);
    let want: Vec<&str> = layers
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    let got: Vec<&str> = si["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(got, want);
    let raw = run(
        "skopeo",
        &[
            "inspect",
            "--raw",
            &format!("oci:{}:mirror", ours.display()),
        ],
        t.path(),
    );
    assert_eq!(
        raw.as_bytes(),
        std::fs::read(blob(&lay, &mdigest)).unwrap(),
        "manifest bytes kept"
    );
    run(
        "skopeo",
        &[
            "copy",
            &format!("oci:{}:mirror", ours.display()),
            &format!("oci:{}:again", t.path().join("other").display()),
        ],
        t.path(),
    );
    let other = read_json(&t.path().join("other/index.json"));
    assert_eq!(other["manifests"][0]["digest"], mdigest);
    // Copying again into our layout writes nothing new.
    let o = pv([
        "copy",
        "--json",
        &format!("oci:{}:v1", lay.display()),
        &format!("oci:{}:mirror", ours.display()),
    ]);
    assert_code(&o, 0);
    let j: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["blobsWritten"], 0);
}

#[test]
fn reads_a_skopeo_docker_archive() {
    let t = tempfile::tempdir().unwrap();
    if umoci_layout(t.path()).is_none() {
        return;
    }
    let Some(_) = need_tool("skopeo") else { return };
    let lay = t.path().join("lay");
    let archive = t.path().join("img.tar");
    run(
        "skopeo",
        &[
            "copy",
            &format!("oci:{}:v1", lay.display()),
            &format!("docker-archive:{}:example/pause:v1", archive.display()),
        ],
        t.path(),
    );
    // The layer files as stored in the archive are uncompressed: their sha256sum is the
    // diff_id of the gzip layers in the layout.
    let manifest = read_json(&blob(
        &lay,
        read_json(&lay.join("index.json"))["manifests"][0]["digest"]
            .as_str()
            .unwrap(),
    ));
    let diff_ids: Vec<String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| gunzip_sha(&blob(&lay, l["digest"].as_str().unwrap())))
        .collect();
    let x = t.path().join("x");
    std::fs::create_dir(&x).unwrap();
    run(
        "tar",
        &["-xf", archive.to_str().unwrap(), "-C", x.to_str().unwrap()],
        t.path(),
    );
    let am = read_json(&x.join("manifest.json"));
    let stored: Vec<String> = am[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| sha256sum(&x.join(p.as_str().unwrap())))
        .collect();
    assert_eq!(stored, diff_ids);

    for r in [
        format!("docker-archive:{}", archive.display()),
        format!("docker-archive:{}:example/pause:v1", archive.display()),
    ] {
        let o = pv(["inspect", "--json", "--diff-ids", &r]);
        assert_code(&o, 0);
        let j: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["transport"], "docker-archive");
        let got: Vec<&str> = j["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap())
            .collect();
        assert_eq!(got, diff_ids);
        let got: Vec<&str> = j["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["diffId"].as_str().unwrap())
            .collect();
        assert_eq!(got, diff_ids);
        assert_eq!(
            j["config"]["digest"],
            sha256sum(&x.join(am[0]["Config"].as_str().unwrap())).as_str()
        );
    }
    bad_tag(&archive);

    // A flipped byte inside a layer file of the archive: exit 2 naming that layer.
    let bad = t.path().join("bad.tar");
    std::fs::copy(&archive, &bad).unwrap();
    let first = am[0]["Layers"][0].as_str().unwrap();
    let off = sh(
        &format!(
            "python3 -c \"import tarfile; t=tarfile.open('{}'); m=t.getmember('{first}'); m=m if m.isfile() else t.getmember(m.linkname if m.islnk() else __import__('posixpath').normpath(__import__('posixpath').join(__import__('posixpath').dirname('{first}'), m.linkname))); print(m.offset_data + m.size // 2)\"",
            bad.display()
        ),
        t.path(),
    );
    let off: usize = off.trim().parse().unwrap();
    let mut bytes = std::fs::read(&bad).unwrap();
    bytes[off] ^= 0x40;
    std::fs::write(&bad, &bytes).unwrap();
    let o = pv([
        "inspect",
        "--diff-ids",
        &format!("docker-archive:{}", bad.display()),
    ]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains(&diff_ids[0]) && stderr(&o).contains("digest mismatch"),
        "{}",
        stderr(&o)
    );

    // docker-archive -> layout, then skopeo reads it.
    let out = t.path().join("from-archive");
    assert_code(
        &pv([
            "copy",
            &format!("docker-archive:{}", archive.display()),
            &format!("oci:{}:a", out.display()),
        ]),
        0,
    );
    let si: Value = serde_json::from_str(&run(
        "skopeo",
        &["inspect", &format!("oci:{}:a", out.display())],
        t.path(),
    ))
    .unwrap();
    let got: Vec<&str> = si["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(got, diff_ids);
}

fn bad_tag(archive: &Path) {
    let o = pv([
        "inspect",
        &format!("docker-archive:{}:example/other:v9", archive.display()),
    ]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("example/pause:v1"), "{}", stderr(&o));
}
