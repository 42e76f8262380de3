//! `docker://` through the real binary: copy to and from the loopback registry, inspect,
//! the blob cache across runs, credentials and failures as exit codes.

use crate::common;
use crate::proxy;

use common::images::{Layout, gz_tar_layer};
use common::{Pv, assert_code, stderr, stdout};
use pause_verify::image::Digest;
use proxy::{Fault, Proxy, ReferrersApi};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A gzip tar layer with one file of `n` pseudo-random bytes.
fn layer(seed: u64, n: usize) -> (Vec<u8>, Digest) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data: Vec<u8> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    gz_tar_layer("Files/data.bin", &data)
}

/// An OCI layout with `n` layers, tagged `t`; returns the manifest digest.
fn make_layout(dir: &Path, seed: u64, n: usize) -> Digest {
    let out = Layout::new(dir);
    let put = |b: &[u8]| out.put(b);
    let mut layers = vec![];
    let mut diffs = vec![];
    for i in 0..n {
        let (gz, diff) = layer(seed * 10 + i as u64, 200_000 + i * 1000);
        let (d, s) = put(&gz);
        layers.push(format!(
            r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{d}","size":{s}}}"#
        ));
        diffs.push(format!("\"{diff}\""));
    }
    let cfg = format!(
        r#"{{"architecture":"amd64","os":"windows","rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        diffs.join(",")
    );
    let (cd, cs) = put(cfg.as_bytes());
    let man = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":{cs}}},"layers":[{}]}}"#,
        layers.join(",")
    );
    let (md, ms) = put(man.as_bytes());
    out.finish(format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{md}","size":{ms},"annotations":{{"org.opencontainers.image.ref.name":"t"}}}}]}}"#
    ).as_bytes());
    md
}

fn unique(name: &str) -> String {
    common::unique("pv-cli", name)
}

/// Run the binary with its own blob cache under `cache` (or none).
fn pv_cache(cache: Option<&Path>, args: &[&str]) -> Output {
    Pv::new().cache(cache).no_docker_config().run(args)
}

fn blobs_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("blobs/sha256"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn cache_files(cache: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(cache.join("pause-verify/blobs/sha256"))
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

#[test]
fn copy_to_registry_and_back_is_byte_identical() {
    let Some(host) = common::registry() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let digest = make_layout(&src, 1, 3);
    let dest = format!("docker://{host}/{}:v1", unique("copy"));

    let o = pv_cache(None, &["copy", &format!("oci:{}:t", src.display()), &dest]);
    assert_code(&o, 0);
    if common::need_tool("skopeo").is_some() {
        let s = Command::new("skopeo")
            .args([
                "inspect",
                "--tls-verify=false",
                "--format",
                "{{.Digest}}",
                &dest,
            ])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&s.stdout).trim(),
            digest.to_string()
        );
    }

    // By tag: the digest is resolved and reported; by digest: the same image.
    let o = pv_cache(None, &["inspect", "--json", "--diff-ids", &dest]);
    assert_code(&o, 0);
    assert!(
        stderr(&o).contains(&format!("resolved to {digest}")),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["root"]["digest"], digest.to_string());
    let by_digest = format!("{}@{digest}", dest.trim_end_matches(":v1"));
    let back = tmp.path().join("back");
    let o = pv_cache(
        None,
        &["copy", &by_digest, &format!("oci:{}:t", back.display())],
    );
    assert_code(&o, 0);
    assert_eq!(
        blobs_of(&src),
        blobs_of(&back),
        "manifest and blobs byte-identical"
    );

    // A digest that does not match the tag: @digest wins (and is not found here).
    let wrong = format!("{dest}@{}", Digest::of(b"nothing"));
    let o = pv_cache(None, &["inspect", &wrong]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("not found"), "{}", stderr(&o));
}

#[test]
fn second_inspect_of_the_same_image_downloads_nothing() {
    let Some(host) = common::registry() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    make_layout(&src, 2, 2);
    let name = unique("cache");
    let o = pv_cache(
        None,
        &[
            "copy",
            &format!("oci:{}:t", src.display()),
            &format!("docker://{host}/{name}:t"),
        ],
    );
    assert_code(&o, 0);
    let px = Proxy::start(&host);
    let img = format!("docker://{}/{name}:t", px.addr);
    let cache = tmp.path().join("cache");

    let o = pv_cache(Some(&cache), &["inspect", "--diff-ids", &img]);
    assert_code(&o, 0);
    let first = px.blob_bytes();
    assert!(first > 400_000, "first run downloads the layers ({first})");
    assert_eq!(cache_files(&cache).len(), 3, "2 layers + config cached");

    let o = pv_cache(Some(&cache), &["inspect", "--diff-ids", &img]);
    assert_code(&o, 0);
    assert_eq!(
        px.blob_bytes(),
        first,
        "second run: no blob bytes transferred"
    );

    // --no-cache goes to the network again and leaves the cache alone.
    let o = pv_cache(Some(&cache), &["inspect", "--digests", "--no-cache", &img]);
    assert_code(&o, 0);
    assert!(px.blob_bytes() > first);
}

#[test]
fn wrong_bytes_are_exit_2_and_never_cached() {
    let Some(host) = common::registry() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    make_layout(&src, 3, 1);
    let name = unique("corrupt");
    let o = pv_cache(
        None,
        &[
            "copy",
            &format!("oci:{}:t", src.display()),
            &format!("docker://{host}/{name}:t"),
        ],
    );
    assert_code(&o, 0);
    let px = Proxy::start(&host);
    px.add("GET", "/blobs/", Fault::Corrupt);
    let cache = tmp.path().join("cache");
    let out = tmp.path().join("out");
    let o = pv_cache(
        Some(&cache),
        &[
            "copy",
            &format!("docker://{}/{name}:t", px.addr),
            &format!("oci:{}:t", out.display()),
        ],
    );
    assert_code(&o, 2);
    assert!(stderr(&o).contains("does not match"), "{}", stderr(&o));
    assert!(cache_files(&cache).is_empty(), "{:?}", cache_files(&cache));
    assert!(
        !out.join("index.json").exists()
            || !std::fs::read_to_string(out.join("index.json"))
                .unwrap()
                .contains("sha256")
    );
}

#[test]
fn credentials_from_flag_and_docker_config_and_wrong_ones() {
    let Some((host, user, pass)) = common::auth_registry() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    make_layout(&src, 4, 1);
    let img = format!("docker://{host}/{}:t", unique("auth"));
    let creds = format!("{user}:{pass}");
    let o = pv_cache(
        None,
        &[
            "copy",
            "--creds",
            &creds,
            &format!("oci:{}:t", src.display()),
            &img,
        ],
    );
    assert_code(&o, 0);

    // docker config.json via DOCKER_CONFIG
    let dc = tmp.path().join("docker");
    std::fs::create_dir_all(&dc).unwrap();
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(&creds);
    std::fs::write(
        dc.join("config.json"),
        format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    let o = Command::new(common::bin())
        .args(["inspect", "--digests", &img])
        .env("PAUSE_VERIFY_NO_CACHE", "1")
        .env("DOCKER_CONFIG", &dc)
        .output()
        .unwrap();
    assert_code(&o, 0);

    let t = std::time::Instant::now();
    let o = pv_cache(
        None,
        &["inspect", "--creds", &format!("{user}:wrong"), &img],
    );
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains(&host),
        "names the registry: {}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("authentication failed"),
        "{}",
        stderr(&o)
    );
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "no retry storm"
    );
}

#[test]
fn oversized_manifest_is_exit_2() {
    let Some(host) = common::registry() else {
        return;
    };
    let px = Proxy::start(&host);
    let mut body = b"{\"schemaVersion\":2,\"x\":\"".to_vec();
    body.resize(6 << 20, b'x');
    px.add(
        "GET",
        "/manifests/",
        Fault::Replace {
            body,
            content_type: "application/vnd.oci.image.manifest.v1+json".into(),
            chunked: true,
        },
    );
    let o = pv_cache(
        None,
        &["inspect", &format!("docker://{}/any/thing:t", px.addr)],
    );
    assert_code(&o, 2);
    assert!(stderr(&o).contains("limit"), "{}", stderr(&o));
}

/// A 3-layer image copied straight to the plain registry; its repository name and the
/// source layout.
fn pushed(tmp: &Path, name: &str, seed: u64) -> Option<(String, String, PathBuf)> {
    let host = common::registry()?;
    let src = tmp.join("src");
    make_layout(&src, seed, 3);
    let name = unique(name);
    let o = pv_cache(
        None,
        &[
            "copy",
            &format!("oci:{}:t", src.display()),
            &format!("docker://{host}/{name}:t"),
        ],
    );
    assert_code(&o, 0);
    Some((host, name, src))
}

#[test]
fn retry_after_is_waited_and_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((host, name, _)) = pushed(tmp.path(), "retry-after", 5) else {
        return;
    };
    let px = Proxy::start(&host);
    px.add(
        "GET",
        "/manifests/",
        Fault::Throttle {
            status: 429,
            times: 1,
            retry_after: "1".into(),
        },
    );
    let o = pv_cache(
        None,
        &["inspect", &format!("docker://{}/{name}:t", px.addr)],
    );
    assert_code(&o, 0);
    assert!(
        stderr(&o).contains("retry 1 in 1000 ms (Retry-After: 1 s)"),
        "{}",
        stderr(&o)
    );
    let log = px.timed_log();
    let i = log.iter().position(|(_, l)| l.contains("-> 429")).unwrap();
    let gap = log[i + 1].0.duration_since(log[i].0);
    assert!(
        gap >= std::time::Duration::from_secs(1) && gap < std::time::Duration::from_secs(5),
        "{gap:?} {log:?}"
    );
}

#[test]
fn bearer_token_refused_mid_pull_is_fetched_anew_once() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((host, name, src)) = pushed(tmp.path(), "bearer-refresh", 6) else {
        return;
    };
    let px = Proxy::bearer(&host, "tokuser", "tokpass");
    // Lapses after the manifest and one more request: mid-pull.
    px.expire_token_after(1, 2);
    let back = tmp.path().join("back");
    let o = pv_cache(
        None,
        &[
            "copy",
            "--creds",
            "tokuser:tokpass",
            &format!("docker://{}/{name}:t", px.addr),
            &format!("oci:{}:t", back.display()),
        ],
    );
    assert_code(&o, 0);
    assert_eq!(blobs_of(&src), blobs_of(&back), "byte-identical");
    assert_eq!(px.token_requests().len(), 2, "{:?}", px.log());
    assert!(
        px.log()
            .iter()
            .any(|l| l.ends_with("-> 401") && l.contains("/blobs/")),
        "a blob request met the lapsed token: {:?}",
        px.log()
    );

    // A registry that refuses every token: exit 2 naming it, after one new token.
    let px = Proxy::bearer(&host, "tokuser", "tokpass");
    px.reject_all_tokens();
    let o = pv_cache(
        None,
        &[
            "copy",
            "--creds",
            "tokuser:tokpass",
            &format!("docker://{}/{name}:t", px.addr),
            &format!("oci:{}:t", tmp.path().join("never").display()),
        ],
    );
    assert_code(&o, 2);
    assert!(stderr(&o).contains(&px.addr), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("authentication failed"),
        "{}",
        stderr(&o)
    );
    assert_eq!(px.token_requests().len(), 2, "{:?}", px.log());
    assert!(px.log().len() <= 5, "no storm: {:?}", px.log());
}

#[test]
fn bundle_referrers_through_the_referrers_api() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((host, name, _)) = pushed(tmp.path(), "referrers-api", 7) else {
        return;
    };
    const PASSWORD: &str = "pw";
    let prefix = tmp.path().join("k");
    let o = Pv::new().password(PASSWORD).run([
        "generate-key-pair",
        "--output-key-prefix",
        prefix.to_str().unwrap(),
    ]);
    assert_code(&o, 0);
    let key = prefix.with_extension("key");
    let public = prefix.with_extension("pub");

    let px = Proxy::start(&host);
    px.referrers_api(ReferrersApi {
        oci_subject: true,
        filter: true,
        page_size: None,
        link_elsewhere: false,
    });
    let image = format!("docker://{}/{name}:t", px.addr);
    let o = Pv::new()
        .password(PASSWORD)
        .no_docker_config()
        .cache(None)
        .run([
            "sign",
            "--json",
            "--key",
            key.to_str().unwrap(),
            "--bundle",
            &image,
        ]);
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let digest: Digest = v["digest"].as_str().unwrap().parse().unwrap();
    let vias: Vec<&str> = v["stored"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["via"].as_str())
        .collect();
    assert_eq!(vias, ["api"], "{v}");
    let tag_schema = format!(
        "/v2/{name}/manifests/{}",
        pause_verify::attest::storage::referrers_tag(&digest)
    );
    let touched_tag_schema = |px: &Proxy| {
        px.log()
            .iter()
            .any(|l| l.split(' ').nth(1) == Some(tag_schema.as_str()))
    };
    assert!(!touched_tag_schema(&px), "{:?}", px.log());

    px.reset_counters();
    let verify = || {
        pv_cache(
            None,
            &[
                "verify",
                "--json",
                "--key",
                public.to_str().unwrap(),
                &image,
            ],
        )
    };
    let o = verify();
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let reasons: Vec<&str> = v["subjects"][0]["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["verified", "verified"], "the .sig and the bundle");
    assert_eq!(
        px.log()
            .iter()
            .filter(|l| l.contains("(referrers api)"))
            .count(),
        1,
        "{:?}",
        px.log()
    );
    assert!(!touched_tag_schema(&px), "{:?}", px.log());

    // Without the API the bundle is not found (no tag-schema index was written) ...
    let o = pv_cache(
        None,
        &[
            "verify",
            "--json",
            "--key",
            public.to_str().unwrap(),
            &format!("docker://{host}/{name}:t"),
        ],
    );
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["subjects"][0]["signatures"].as_array().unwrap().len(), 1);

    // ... and a broken API answer is exit 2, not "no bundles".
    px.add(
        "GET",
        "/referrers/",
        Fault::Replace {
            body: b"{\"schemaVersion\":2,\"manifests\":\"no\"}".to_vec(),
            content_type: "application/vnd.oci.image.index.v1+json".into(),
            chunked: false,
        },
    );
    let o = verify();
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("not an OCI image index") && stderr(&o).contains(&px.addr),
        "{}",
        stderr(&o)
    );
}

/// `build --out docker://…` (the sink chosen by `image::open_sink`): the registry gets
/// the very image a layout build writes (same root digest, and copied back, the same
/// blobs byte for byte), and it rebuilds IDENTICAL from there.
#[test]
fn build_straight_into_a_registry() {
    let Some(host) = common::registry() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let run = |args: &[&str]| {
        let o = Pv::new()
            .cwd(d)
            .no_docker_config()
            .env_remove("SOURCE_DATE_EPOCH")
            .run(args);
        assert_code(&o, 0);
        o
    };
    let json = |o: &Output| -> serde_json::Value { serde_json::from_slice(&o.stdout).unwrap() };
    let f = json(&run(&[
        "--json",
        "fixture",
        "nanoserver",
        "--out",
        "ns",
        "--os-version",
        "10.0.20348.2849",
    ]));
    let base = f["reference"].as_str().unwrap().to_string();
    let lay = json(&run(&[
        "--json",
        "build",
        "--base",
        &base,
        "--out",
        "oci:lay:t",
    ]));
    let dest = format!("docker://{host}/{}:v1", unique("build"));
    let reg = json(&run(&["--json", "build", "--base", &base, "--out", &dest]));
    assert_eq!(reg["root"], lay["root"], "same image");
    assert_eq!(reg["output"], dest.as_str());
    run(&["copy", &dest, "oci:back:t"]);
    assert_eq!(blobs_of(&d.join("lay")), blobs_of(&d.join("back")));
    let rb = json(&run(&[
        "--json", "rebuild", "-q", "--image", &dest, "--base", &base,
    ]));
    assert_eq!(rb["verdict"], "IDENTICAL", "{rb}");
    // A destination takes a tag, not a digest.
    let o = Pv::new().cwd(d).no_docker_config().run([
        "build",
        "--base",
        &base,
        "--out",
        &format!("docker://{host}/x@{}", Digest::of(b"x")),
    ]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("not a digest"), "{}", stderr(&o));
}
