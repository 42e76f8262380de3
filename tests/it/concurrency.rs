//! Concurrent writers (issue 11 point 5): runs writing into one attestations directory or
//! one layout take turns under the directory's lock, so none loses another's data; and a
//! killed run's temporaries are removed by the next run on that directory.

use crate::common;

use common::images::{Layout, gz_tar_layer};
use common::{Pv, assert_code, stderr};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A minimal image in a hand-written layout (attest only needs its manifest digest).
fn small_image(dir: &Path) -> String {
    let l = Layout::new(dir);
    let (layer, diff_id) = gz_tar_layer("Files/hello.txt", b"hello");
    let (ld, lsize) = l.put(&layer);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "windows",
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
    });
    let config = serde_json::to_vec(&config).unwrap();
    let (cd, csize) = l.put(&config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": csize},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld.to_string(), "size": lsize}],
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let (md, msize) = l.put(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md.to_string(), "size": msize}],
    });
    l.finish(&serde_json::to_vec(&index).unwrap());
    md.hex().to_string()
}

/// A key sealed with the cheapest scrypt cost cosign accepts (N=32768), to keep 200
/// runs fast.
fn key(dir: &Path) -> std::path::PathBuf {
    let k = pause_verify::attest::keys::PrivateKey::generate().unwrap();
    let p = dir.join("k.key");
    std::fs::write(&p, k.to_encrypted_pem(b"pw", 32768).unwrap()).unwrap();
    p
}

fn attest(image: &str, key: &Path, predicate: &Path, dir: &Path, extra: &[&str]) -> Child {
    Command::new(common::bin())
        .env("PAUSE_VERIFY_NO_CACHE", "1")
        .env("COSIGN_PASSWORD", "pw")
        .args(["attest", "-q", "--key"])
        .arg(key)
        .arg("--predicate")
        .arg(predicate)
        .args(["--type", "https://example.com/test/v1"])
        .arg("--attestations-dir")
        .arg(dir)
        .args(extra)
        .arg(image)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn ten_concurrent_attests_keep_ten_envelopes_twenty_times() {
    let tmp = tempfile::tempdir().unwrap();
    let hex = small_image(&tmp.path().join("img"));
    let image = format!("oci:{}", tmp.path().join("img").display());
    let key = key(tmp.path());
    for round in 0..20 {
        let dir = tmp.path().join(format!("att{round}"));
        let children: Vec<Child> = (0..10)
            .map(|i| {
                // Each run signs a different predicate, so each line is distinct.
                let p = tmp.path().join(format!("pred{round}-{i}.json"));
                std::fs::write(&p, format!("{{\"run\":{i},\"round\":{round}}}")).unwrap();
                attest(&image, &key, &p, &dir, &["--no-attach"])
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().unwrap();
            assert_code(&o, 0);
        }
        let lines = std::fs::read_to_string(dir.join(format!("{hex}.intoto.jsonl"))).unwrap();
        assert_eq!(
            lines.lines().filter(|l| !l.trim().is_empty()).count(),
            10,
            "round {round}: every concurrent run's envelope is kept"
        );
        let litter: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(litter.is_empty(), "no temporaries left: {litter:?}");
    }
}

#[test]
fn concurrent_attests_into_one_layout_keep_every_att_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("img");
    small_image(&img);
    let image = format!("oci:{}", img.display());
    let key = key(tmp.path());
    let children: Vec<Child> = (0..6)
        .map(|i| {
            let p = tmp.path().join(format!("pred{i}.json"));
            std::fs::write(&p, format!("{{\"run\":{i}}}")).unwrap();
            attest(&image, &key, &p, &tmp.path().join("att"), &[])
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert_code(&o, 0);
    }
    // The .att manifest under its tag lists all six attestations.
    let index = common::images::index(&img);
    let att = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .is_some_and(|t| t.ends_with(".att"))
        })
        .expect("an .att tag");
    let hex = att["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(img.join("blobs/sha256").join(hex)).unwrap())
            .unwrap();
    assert_eq!(m["layers"].as_array().unwrap().len(), 6, "{m}");
}

#[test]
fn a_killed_runs_stale_temporaries_are_removed_by_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("img");
    let hex = small_image(&img);
    let image = format!("oci:{}", img.display());
    let key = key(tmp.path());
    let att = tmp.path().join("att");
    std::fs::create_dir_all(&att).unwrap();
    let cache = tmp.path().join("cache");
    let partial_dir = cache.join("pause-verify/blobs/sha256");
    std::fs::create_dir_all(&partial_dir).unwrap();
    // What `kill -9` leaves: hidden temporaries nobody holds, older than a few seconds.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let leftovers = [
        att.join(".pause-verify-dead.tmp"),
        img.join("blobs/sha256/.pause-verify-dead.tmp"),
        partial_dir.join(".partial-dead"),
        tmp.path().join(".pause-verify-out-dead"),
    ];
    for p in &leftovers {
        if p.ends_with(".pause-verify-out-dead") {
            std::fs::create_dir_all(p.join("blobs")).unwrap();
        } else {
            std::fs::write(p, b"half").unwrap();
        }
        std::fs::File::open(p).unwrap().set_modified(old).unwrap();
    }
    // A live run's temporary (fresh) must survive.
    let fresh = att.join(".pause-verify-live.tmp");
    std::fs::write(&fresh, b"live").unwrap();
    let p = tmp.path().join("pred.json");
    std::fs::write(&p, "{}").unwrap();
    let o = attest(&image, &key, &p, &att, &[])
        .wait_with_output()
        .unwrap();
    assert_code(&o, 0);
    assert!(att.join(format!("{hex}.intoto.jsonl")).exists());
    assert!(!leftovers[0].exists(), "attestations dir swept");
    assert!(!leftovers[1].exists(), "layout blobs swept");
    assert!(fresh.exists(), "a fresh temporary may be a live run's");
    // The cache sweeps its own on open; a build sweeps its staging siblings.
    // Any registry run opens the cache (here one that cannot connect: exit 2).
    let o = Pv::new().cache(Some(&cache)).cwd(tmp.path()).run([
        "inspect",
        "-q",
        "docker://127.0.0.1:9/none:t",
    ]);
    assert_code(&o, 2);
    assert!(
        !leftovers[2].exists(),
        "cache .partial- swept: {}",
        stderr(&o)
    );
    let fx = tmp.path().join("fx");
    Pv::new().ok(["fixture", "nanoserver", "-q", "--out", fx.to_str().unwrap()]);
    let o = Pv::new().cwd(tmp.path()).run([
        "build",
        "-q",
        "--no-base-layers",
        "--base",
        &common::images::root_ref(&fx),
        "--out",
        tmp.path().join("out").to_str().unwrap(),
    ]);
    assert_code(&o, 0);
    assert!(
        !leftovers[3].exists(),
        "staging dir of a killed build swept"
    );
}

/// Public artefacts are created as a shell's `>` would (0666 less the umask), not 0600:
/// an attestation written under umask 022 is 0644, and the `dir:` sink's staging directory
/// (killed runs' leftovers included) is swept as the layout sink's is.
#[test]
fn public_artefacts_follow_the_umask_and_dir_staging_is_swept() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("img");
    let hex = small_image(&img);
    let image = format!("oci:{}", img.display());
    let key = key(tmp.path());
    let att = tmp.path().join("att");
    let p = tmp.path().join("pred.json");
    std::fs::write(&p, "{}").unwrap();
    let mut cmd = Command::new(common::bin());
    cmd.env("PAUSE_VERIFY_NO_CACHE", "1")
        .env("COSIGN_PASSWORD", "pw")
        .args(["attest", "-q", "--key"])
        .arg(&key)
        .arg("--predicate")
        .arg(&p)
        .args([
            "--type",
            "https://example.com/test/v1",
            "--attestations-dir",
        ])
        .arg(&att)
        .arg(&image);
    // SAFETY: umask is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    let o = cmd.output().unwrap();
    assert_code(&o, 0);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&att.join(format!("{hex}.intoto.jsonl"))), 0o644);

    let dead = tmp.path().join(".pause-verify-out-dead");
    std::fs::create_dir_all(dead.join("x")).unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::open(&dead)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let out = tmp.path().join("copied");
    Pv::new().ok(["copy", "-q", &image, &format!("dir:{}", out.display())]);
    assert!(out.join("manifest.json").exists());
    assert_eq!(
        mode(&out),
        0o755,
        "the committed dir: directory is readable"
    );
    assert!(
        !dead.exists(),
        "a killed run's dir: staging directory is swept"
    );
}
