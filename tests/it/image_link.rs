//! The blob fast paths, through the binary: a layout copied or built from a layout on
//! the same filesystem shares the source's blob files (hard links, checked by inode) yet
//! still verifies them (a corrupted source is refused and leaves nothing); across
//! filesystems, or from a file unfit to share, blobs are copied; a registry pull
//! hard-links the verified cache entries. Every written blob is compared with the
//! source's bytes, and its name with the SHA-256 of its bytes (computed here by sha2).

use crate::common;

use common::{assert_code, pv, stderr};
use sha2::{Digest as _, Sha256};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A synthetic NanoServer base layout (index + manifest + config + one layer).
fn base(dir: &Path) -> String {
    base_mb(dir, 2)
}

/// The fixture with `mb` MiB of padding (a different size gives different blobs).
fn base_mb(dir: &Path, mb: u32) -> String {
    let o = pv([
        "--json",
        "fixture",
        "nanoserver",
        "--out",
        dir.to_str().unwrap(),
        "--size-mb",
        &mb.to_string(),
    ]);
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["reference"].as_str().unwrap().to_string()
}

fn blobs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// The largest blob (the layer).
fn layer_blob(dir: &Path) -> PathBuf {
    blobs(dir)
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap()
}

fn inode(p: &Path) -> (u64, u64) {
    let m = std::fs::metadata(p).unwrap();
    (m.dev(), m.ino())
}

/// Every blob is named by the SHA-256 of its bytes; no temporary file is left.
#[track_caller]
fn sound(dir: &Path) {
    for p in blobs(dir) {
        let n = name(&p);
        assert!(!n.starts_with('.'), "temporary file left: {}", p.display());
        let b = std::fs::read(&p).unwrap();
        assert_eq!(hex::encode(Sha256::digest(&b)), n, "{}", p.display());
    }
}

/// Flip a byte of a file in place (same inode, as an in-place edit would).
fn corrupt_in_place(p: &Path) {
    let mut b = std::fs::read(p).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x40;
    std::fs::write(p, b).unwrap();
}

fn same_fs(a: &Path, b: &Path) -> bool {
    inode(a).0 == inode(b).0
}

#[test]
fn copy_between_layouts_links_and_still_verifies() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("a");
    let r = base(&src);
    let dest = t.path().join("b");
    let o = pv(["copy", &r, &format!("oci:{}:t", dest.display())]);
    assert_code(&o, 0);
    sound(&dest);
    // Every blob of the source is there, as the very same file.
    let want: Vec<String> = blobs(&src).iter().map(|p| name(p)).collect();
    let got: Vec<String> = blobs(&dest).iter().map(|p| name(p)).collect();
    assert_eq!(got, want);
    let layer = layer_blob(&src);
    let copied = dest.join("blobs/sha256").join(name(&layer));
    assert_eq!(inode(&copied), inode(&layer), "the layer is hard-linked");
    assert_eq!(std::fs::metadata(&copied).unwrap().mode() & 0o777, 0o644);
    let o = pv([
        "inspect",
        "--diff-ids",
        &format!("oci:{}:t", dest.display()),
    ]);
    assert_code(&o, 0);

    // A layer edited in place in the source: refused, no destination, nothing left.
    let src2 = t.path().join("c");
    let r2 = base_mb(&src2, 3);
    let victim = layer_blob(&src2);
    corrupt_in_place(&victim);
    let dest2 = t.path().join("d");
    let o = pv(["copy", &r2, &format!("oci:{}:t", dest2.display())]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("digest mismatch"), "{}", stderr(&o));
    assert!(!dest2.exists());
    // Into an existing layout: no blob of it and no temporary link either.
    let o = pv(["copy", &r2, &format!("oci:{}:t2", dest.display())]);
    assert_code(&o, 2);
    assert!(!dest.join("blobs/sha256").join(name(&victim)).exists());
    sound(&dest);
    let names: Vec<String> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| name(&e.unwrap().path()))
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with('.')),
        "staging left: {names:?}"
    );
}

#[test]
fn copy_falls_back_to_a_verified_copy() {
    let t = tempfile::tempdir().unwrap();
    // A source blob writable by others is never shared: copied.
    let src = t.path().join("a");
    let r = base(&src);
    let layer = layer_blob(&src);
    let mut perm = std::fs::metadata(&layer).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o666);
    std::fs::set_permissions(&layer, perm).unwrap();
    let dest = t.path().join("b");
    assert_code(&pv(["copy", &r, &format!("oci:{}", dest.display())]), 0);
    sound(&dest);
    let copied = dest.join("blobs/sha256").join(name(&layer));
    assert_ne!(inode(&copied), inode(&layer));
    assert_eq!(std::fs::metadata(&copied).unwrap().mode() & 0o777, 0o644);

    // Another filesystem (tmpfs): copied, and a corrupted source still refused.
    let Ok(shm) = tempfile::tempdir_in("/dev/shm") else {
        return;
    };
    if same_fs(shm.path(), t.path()) {
        return;
    }
    let src = shm.path().join("a");
    let r = base(&src);
    let dest = t.path().join("c");
    assert_code(&pv(["copy", &r, &format!("oci:{}", dest.display())]), 0);
    sound(&dest);
    let layer = layer_blob(&src);
    assert_eq!(
        std::fs::metadata(dest.join("blobs/sha256").join(name(&layer)))
            .unwrap()
            .nlink(),
        1
    );
    corrupt_in_place(&layer);
    let dest = t.path().join("d");
    let o = pv(["copy", &r, &format!("oci:{}", dest.display())]);
    assert_code(&o, 2);
    assert!(!dest.exists());
}

#[test]
fn build_links_the_base_layer_and_output_is_the_same_as_a_copying_build() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("base");
    let r = base(&src);
    let out = t.path().join("out");
    let o = pv(["build", "--base", &r, "--out", out.to_str().unwrap()]);
    assert_code(&o, 0);
    sound(&out);
    let layer = layer_blob(&src);
    let in_out = out.join("blobs/sha256").join(name(&layer));
    assert_eq!(inode(&in_out), inode(&layer), "base layer hard-linked");

    // The same base where it cannot be linked (writable by others): the output is
    // byte-for-byte the same.
    let src2 = t.path().join("base2");
    let r2 = base(&src2);
    assert_eq!(r2.rsplit('@').next(), r.rsplit('@').next());
    let layer2 = layer_blob(&src2);
    let mut perm = std::fs::metadata(&layer2).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o666);
    std::fs::set_permissions(&layer2, perm).unwrap();
    let out2 = t.path().join("out2");
    let o = pv(["build", "--base", &r2, "--out", out2.to_str().unwrap()]);
    assert_code(&o, 0);
    assert_ne!(
        inode(&out2.join("blobs/sha256").join(name(&layer2))),
        inode(&layer2)
    );
    assert_eq!(
        std::fs::read(out.join("index.json")).unwrap(),
        std::fs::read(out2.join("index.json")).unwrap()
    );
    let a: Vec<String> = blobs(&out).iter().map(|p| name(p)).collect();
    let b: Vec<String> = blobs(&out2).iter().map(|p| name(p)).collect();
    assert_eq!(a, b);
    sound(&out2);

    // A base layer edited in place: the build fails, the output is not created.
    corrupt_in_place(&layer);
    let out3 = t.path().join("out3");
    let o = pv(["build", "--base", &r, "--out", out3.to_str().unwrap()]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("digest mismatch"), "{}", stderr(&o));
    assert!(!out3.exists());
}

/// The binary with a blob cache at `cache` (pv() turns the cache off).
fn pv_cached(cache: &Path, args: &[&str]) -> Output {
    Command::new(common::bin())
        .args(args)
        .env_remove("PAUSE_VERIFY_NO_CACHE")
        .env("XDG_CACHE_HOME", cache)
        .output()
        .unwrap()
}

#[test]
fn registry_pull_links_cache_entries_and_rechecks_them() {
    let Some(reg) = common::registry() else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("a");
    let r = base(&src);
    let repo = format!("docker://{reg}/pv-link-{}:t", std::process::id());
    assert_code(&pv(["copy", &r, &repo]), 0);
    let layer = layer_blob(&src);
    let layer_name = name(&layer);

    // With a cache: the layout's layer is the cache entry itself, same bytes as pushed.
    let cache = t.path().join("cache");
    let out = t.path().join("out");
    let o = pv_cached(
        &cache,
        &["copy", &repo, &format!("oci:{}:t", out.display())],
    );
    assert_code(&o, 0);
    sound(&out);
    let entry = cache.join("pause-verify/blobs/sha256").join(&layer_name);
    let pulled = out.join("blobs/sha256").join(&layer_name);
    assert_eq!(inode(&pulled), inode(&entry));
    assert_eq!(
        std::fs::read(&pulled).unwrap(),
        std::fs::read(&layer).unwrap()
    );
    assert_eq!(std::fs::metadata(&pulled).unwrap().mode() & 0o777, 0o644);
    assert_eq!(
        std::fs::metadata(cache.join("pause-verify"))
            .unwrap()
            .mode()
            & 0o777,
        0o700,
        "a new cache is private"
    );

    // The cache entry replaced with bad bytes (a new file; the first layout keeps its
    // own inode): a second pull notices, downloads again, and its layout is right.
    let bad = t.path().join("bad");
    std::fs::copy(&entry, &bad).unwrap();
    corrupt_in_place(&bad);
    std::fs::rename(&bad, &entry).unwrap();
    let out2 = t.path().join("out2");
    let o = pv_cached(
        &cache,
        &["copy", &repo, &format!("oci:{}:t", out2.display())],
    );
    assert_code(&o, 0);
    sound(&out2);
    sound(&out);

    // --no-cache: the scratch landing is linked, then removed at exit: one link left.
    let out3 = t.path().join("out3");
    assert_code(
        &pv(["copy", &repo, &format!("oci:{}:t", out3.display())]),
        0,
    );
    sound(&out3);
    let p = out3.join("blobs/sha256").join(&layer_name);
    assert_eq!(std::fs::metadata(&p).unwrap().nlink(), 1);
    assert_eq!(std::fs::read(&p).unwrap(), std::fs::read(&layer).unwrap());
}

#[test]
fn build_from_a_registry_base_links_the_cache_entry() {
    let Some(reg) = common::registry() else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("a");
    let r = base_mb(&src, 4);
    let digest = r.rsplit('@').next().unwrap().to_string();
    let repo = format!("{reg}/pv-link-build-{}", std::process::id());
    assert_code(&pv(["copy", &r, &format!("docker://{repo}:t")]), 0);
    let pinned = format!("docker://{repo}@{digest}");

    // Reference: the same build from the layout.
    let want = t.path().join("want");
    assert_code(
        &pv(["build", "--base", &r, "--out", want.to_str().unwrap()]),
        0,
    );
    let layer_name = name(&layer_blob(&src));

    let cache = t.path().join("cache");
    let out = t.path().join("out");
    let o = pv_cached(
        &cache,
        &["build", "--base", &pinned, "--out", out.to_str().unwrap()],
    );
    assert_code(&o, 0);
    sound(&out);
    let entry = cache.join("pause-verify/blobs/sha256").join(&layer_name);
    assert_eq!(
        inode(&out.join("blobs/sha256").join(&layer_name)),
        inode(&entry)
    );
    let no_cache = t.path().join("nc");
    assert_code(
        &pv([
            "build",
            "--base",
            &pinned,
            "--out",
            no_cache.to_str().unwrap(),
        ]),
        0,
    );
    sound(&no_cache);
    for d in [&out, &no_cache] {
        assert_eq!(
            std::fs::read(d.join("index.json")).unwrap(),
            std::fs::read(want.join("index.json")).unwrap()
        );
        let a: Vec<String> = blobs(d).iter().map(|p| name(p)).collect();
        let b: Vec<String> = blobs(&want).iter().map(|p| name(p)).collect();
        assert_eq!(a, b);
    }
}
