//! The registry client against real loopback registries (Debian's docker-registry,
//! distribution 2.8, started by scripts/test.sh), skopeo as the independent peer, and a
//! fault-injecting proxy for the failure cases.

use crate::common;
use crate::proxy;

use pause_verify::image::Digest;
use pause_verify::image::registry::referrers::ReferrersVia;
use pause_verify::image::registry::retry::RetryPolicy;
use pause_verify::image::registry::{
    BlobRef, ManifestRef, PushOutcome, Registry, RegistryError, RegistryOptions, RepoRef,
};
use proxy::{Fault, Proxy, ReferrersApi};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Deterministic filler bytes (xorshift), different per seed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

struct TestImage {
    manifest: Vec<u8>,
    config: (BlobRef, Vec<u8>),
    layers: Vec<(BlobRef, Vec<u8>)>,
}

impl TestImage {
    fn new(seed: u64, sizes: &[usize]) -> TestImage {
        let layers: Vec<(BlobRef, Vec<u8>)> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let b = noise(seed * 100 + i as u64, n);
                (blob(&b, OCI_LAYER), b)
            })
            .collect();
        let config = format!(
            r#"{{"architecture":"amd64","os":"windows","rootfs":{{"type":"layers","diff_ids":[]}},"seed":{seed}}}"#
        )
        .into_bytes();
        let config = (
            blob(&config, "application/vnd.oci.image.config.v1+json"),
            config,
        );
        let desc = |b: &BlobRef| {
            format!(
                r#"{{"mediaType":"{}","digest":"{}","size":{}}}"#,
                b.media_type, b.digest, b.size
            )
        };
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{},"layers":[{}]}}"#,
            desc(&config.0),
            layers
                .iter()
                .map(|(b, _)| desc(b))
                .collect::<Vec<_>>()
                .join(",")
        )
        .into_bytes();
        TestImage {
            manifest,
            config,
            layers,
        }
    }

    fn blobs(&self) -> Vec<(BlobRef, Vec<u8>)> {
        let mut v = self.layers.clone();
        v.push(self.config.clone());
        v
    }

    fn digest(&self) -> Digest {
        Digest::of(&self.manifest)
    }

    /// Write as an OCI layout (for skopeo).
    fn write_layout(&self, dir: &Path, tag: &str) {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        for (b, data) in self.blobs() {
            std::fs::write(blobs.join(b.digest.hex()), data).unwrap();
        }
        std::fs::write(blobs.join(self.digest().hex()), &self.manifest).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        std::fs::write(
            dir.join("index.json"),
            format!(
                r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"{tag}"}}}}]}}"#,
                self.digest(),
                self.manifest.len()
            ),
        )
        .unwrap();
    }
}

fn blob(data: &[u8], media_type: &str) -> BlobRef {
    BlobRef {
        digest: Digest::of(data),
        size: data.len() as u64,
        media_type: media_type.to_string(),
        urls: vec![],
    }
}

fn fast_opts() -> RegistryOptions {
    RegistryOptions {
        docker_config: None,
        retry: RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
            ..RetryPolicy::default()
        },
        ..RegistryOptions::default()
    }
}

fn client(opts: RegistryOptions) -> Registry {
    Registry::new(opts).expect("registry client")
}

/// Push `img` to `repo` (blobs from memory through the reader path), tagged `tag`.
fn push(reg: &Registry, repo: &RepoRef, img: &TestImage, tag: &str) {
    for (b, data) in img.blobs() {
        reg.push_blob_reader(repo, &b, &data[..], None)
            .expect("push blob");
    }
    let d = reg
        .push_manifest(repo, &img.manifest, OCI_MANIFEST, &[tag.to_string()])
        .expect("push manifest");
    assert_eq!(d, img.digest());
}

fn unique(name: &str) -> String {
    common::unique("pv-test", name)
}

fn skopeo_digest(image: &str) -> String {
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            image,
        ])
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo inspect {image}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn push_then_pull_by_digest_is_byte_identical_and_skopeo_agrees() {
    let Some(host) = common::registry() else {
        return;
    };
    if common::need_tool("skopeo").is_none() {
        return;
    }
    let repo = RepoRef::new(&host, &unique("roundtrip"));
    let img = TestImage::new(1, &[300_000, 1_000_000, 1]);
    let reg = client(fast_opts());
    push(&reg, &repo, &img, "v1");

    // Read by tag: resolves to our digest; by digest: byte-identical manifest.
    assert_eq!(reg.resolve(&repo, "v1").unwrap(), img.digest());
    let m = reg
        .manifest(&repo, &ManifestRef::Digest(img.digest()))
        .unwrap();
    assert_eq!(m.bytes, img.manifest);
    assert_eq!(m.media_type, OCI_MANIFEST);
    let want: Vec<BlobRef> = img.blobs().into_iter().map(|(b, _)| b).collect();
    let paths = reg.fetch_blobs(&repo, &want).unwrap();
    for ((_, data), p) in img.blobs().iter().zip(&paths) {
        assert_eq!(&p.read_all().unwrap(), data);
    }

    // skopeo sees the same digest, by tag.
    assert_eq!(
        skopeo_digest(&format!("docker://{repo}:v1")),
        img.digest().to_string()
    );

    // Pushing again: every blob already exists.
    let again = reg
        .push_blobs(
            &repo,
            &img.blobs()
                .into_iter()
                .zip(&paths)
                .map(|((b, _), p)| (b, p.clone()))
                .collect::<Vec<_>>(),
            None,
        )
        .unwrap();
    assert!(again.iter().all(|o| *o == PushOutcome::Existed));

    // Cross-repository mount on the same registry.
    let other = RepoRef::new(&host, &unique("mounted"));
    let outcomes = reg
        .push_blobs(
            &other,
            &[(img.layers[0].0.clone(), paths[0].clone())],
            Some(&repo),
        )
        .unwrap();
    assert_eq!(outcomes, vec![PushOutcome::Mounted]);
    assert!(reg.blob_exists(&other, &img.layers[0].0.digest).unwrap());
}

#[test]
fn pulls_what_skopeo_pushed() {
    let Some(host) = common::registry() else {
        return;
    };
    if common::need_tool("skopeo").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = TestImage::new(2, &[200_000, 5_000]);
    img.write_layout(dir.path(), "t");
    let repo = RepoRef::new(&host, &unique("from-skopeo"));
    let st = Command::new("skopeo")
        .args([
            "copy",
            "--dest-tls-verify=false",
            &format!("oci:{}:t", dir.path().display()),
            &format!("docker://{repo}:t"),
        ])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let skopeo_says = skopeo_digest(&format!("docker://{repo}:t"));

    let reg = client(fast_opts());
    let m = reg.manifest(&repo, &ManifestRef::Tag("t".into())).unwrap();
    assert_eq!(m.digest.to_string(), skopeo_says);
    let v: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap();
    for l in v["layers"].as_array().unwrap() {
        let b = BlobRef {
            digest: l["digest"].as_str().unwrap().parse().unwrap(),
            size: l["size"].as_u64().unwrap(),
            media_type: l["mediaType"].as_str().unwrap().into(),
            urls: vec![],
        };
        let p = reg.fetch_blob(&repo, &b).unwrap();
        assert_eq!(Digest::of(&p.read_all().unwrap()), b.digest);
    }
}

#[test]
fn basic_auth_with_creds_and_docker_config_and_wrong_creds() {
    let Some((host, user, pass)) = common::auth_registry() else {
        return;
    };
    // Count requests through a transparent proxy to see there is no retry storm.
    let px = Proxy::start(&host);
    let repo = RepoRef::new(&px.addr, &unique("auth"));
    let img = TestImage::new(3, &[10_000]);

    // --creds
    let reg = client(RegistryOptions {
        creds: Some(pause_verify::image::registry::auth::Credentials {
            username: user.clone(),
            password: pass.clone(),
        }),
        ..fast_opts()
    });
    push(&reg, &repo, &img, "latest");
    assert_eq!(reg.resolve(&repo, "latest").unwrap(), img.digest());

    // docker config.json `auths` entry
    let d = tempfile::tempdir().unwrap();
    let auth = base64_encode(&format!("{user}:{pass}"));
    std::fs::write(
        d.path().join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, px.addr),
    )
    .unwrap();
    let reg = client(RegistryOptions {
        docker_config: Some(d.path().join("config.json")),
        ..fast_opts()
    });
    let p = reg.fetch_blob(&repo, &img.layers[0].0).unwrap();
    assert_eq!(p.read_all().unwrap(), img.layers[0].1);

    // No credentials at all: a clear auth error.
    let reg = client(fast_opts());
    let e = reg.resolve(&repo, "latest").unwrap_err();
    assert!(matches!(e, RegistryError::Auth { .. }), "{e}");

    // Wrong credentials: auth error naming the registry, after very few requests.
    px.reset_counters();
    let reg = client(RegistryOptions {
        creds: Some(pause_verify::image::registry::auth::Credentials {
            username: user,
            password: "wrong".into(),
        }),
        ..fast_opts()
    });
    let e = reg.resolve(&repo, "latest").unwrap_err();
    assert!(matches!(e, RegistryError::Auth { .. }), "{e}");
    assert!(e.to_string().contains(&px.addr), "{e}");
    let n = px.log().len();
    assert!(n <= 3, "no retry storm on bad credentials: {:?}", px.log());
}

fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn bearer_token_flow() {
    let Some(host) = common::registry() else {
        return;
    };
    let px = Proxy::bearer(&host, "tokuser", "tokpass");
    let repo = RepoRef::new(&px.addr, &unique("bearer"));
    let img = TestImage::new(4, &[20_000]);
    let reg = client(RegistryOptions {
        creds: Some(pause_verify::image::registry::auth::Credentials {
            username: "tokuser".into(),
            password: "tokpass".into(),
        }),
        ..fast_opts()
    });
    push(&reg, &repo, &img, "latest");
    let reg2 = client(RegistryOptions {
        creds: Some(pause_verify::image::registry::auth::Credentials {
            username: "tokuser".into(),
            password: "tokpass".into(),
        }),
        ..fast_opts()
    });
    assert_eq!(reg2.resolve(&repo, "latest").unwrap(), img.digest());
    let p = reg2.fetch_blob(&repo, &img.layers[0].0).unwrap();
    assert_eq!(p.read_all().unwrap(), img.layers[0].1);
    let scopes = px.token_requests().join("\n");
    let name = repo.repository.replace('/', "%2F");
    assert!(
        scopes.contains(&format!("scope=repository%3A{name}%3Apull%2Cpush")),
        "push asked for a push scope: {scopes}"
    );
    assert!(scopes.contains("service=pv-test"), "{scopes}");

    // Wrong password: the token endpoint refuses, we stop at once.
    let before = px.token_requests().len();
    let reg3 = client(RegistryOptions {
        creds: Some(pause_verify::image::registry::auth::Credentials {
            username: "tokuser".into(),
            password: "nope".into(),
        }),
        ..fast_opts()
    });
    let e = reg3.resolve(&repo, "latest").unwrap_err();
    assert!(matches!(e, RegistryError::Auth { .. }), "{e}");
    assert!(px.token_requests().len() - before <= 1);
}

/// An image pushed straight to the registry, read through a proxy.
fn faulty_setup(name: &str, seed: u64) -> Option<(Proxy, RepoRef, TestImage)> {
    let host = common::registry()?;
    let repo_name = unique(name);
    let img = TestImage::new(seed, &[400_000]);
    push(
        &client(fast_opts()),
        &RepoRef::new(&host, &repo_name),
        &img,
        "latest",
    );
    let px = Proxy::start(&host);
    let repo = RepoRef::new(&px.addr, &repo_name);
    Some((px, repo, img))
}

fn cache_entries(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir.join("blobs/sha256")) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => vec![],
    }
}

#[test]
fn server_errors_then_success_are_retried() {
    let Some((px, repo, img)) = faulty_setup("e500", 5) else {
        return;
    };
    px.add(
        "GET",
        "/manifests/",
        Fault::Status {
            status: 500,
            times: 2,
        },
    );
    px.add(
        "GET",
        "/blobs/",
        Fault::Status {
            status: 503,
            times: 2,
        },
    );
    px.add(
        "GET",
        "/blobs/",
        Fault::Status {
            status: 429,
            times: 1,
        },
    );
    let reg = client(fast_opts());
    assert_eq!(reg.resolve(&repo, "latest").unwrap(), img.digest());
    let p = reg.fetch_blob(&repo, &img.layers[0].0).unwrap();
    assert_eq!(p.read_all().unwrap(), img.layers[0].1);
    let injected = px.log().iter().filter(|l| l.contains("injected")).count();
    assert_eq!(injected, 5, "{:?}", px.log());

    // Past the bound: a clear error, not an endless loop.
    px.add(
        "GET",
        "/manifests/",
        Fault::Status {
            status: 502,
            times: 100,
        },
    );
    let e = reg.resolve(&repo, "latest").unwrap_err();
    assert!(
        matches!(e, RegistryError::Transport { attempts: 4, .. }),
        "{e}"
    );
}

#[test]
fn connection_reset_mid_blob_is_retried() {
    let Some((px, repo, img)) = faulty_setup("reset", 6) else {
        return;
    };
    px.add("GET", "/blobs/", Fault::ResetMidBody { times: 2 });
    let cache = tempfile::tempdir().unwrap();
    let reg = client(RegistryOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..fast_opts()
    });
    let p = reg.fetch_blob(&repo, &img.layers[0].0).unwrap();
    assert_eq!(p.read_all().unwrap(), img.layers[0].1);
    let cut = px.log().iter().filter(|l| l.contains("(fault)")).count();
    assert_eq!(cut, 2, "{:?}", px.log());
    assert_eq!(
        cache_entries(cache.path()),
        vec![img.layers[0].0.digest.hex().to_string()]
    );
}

#[test]
fn wrong_bytes_for_a_digest_fail_and_cache_nothing() {
    let Some((px, repo, img)) = faulty_setup("corrupt", 7) else {
        return;
    };
    px.add("GET", "/blobs/", Fault::Corrupt);
    let cache = tempfile::tempdir().unwrap();
    let reg = client(RegistryOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..fast_opts()
    });
    let e = reg.fetch_blob(&repo, &img.layers[0].0).unwrap_err();
    assert!(
        matches!(
            e,
            RegistryError::Mismatch { .. } | RegistryError::Protocol { .. }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("does not match"), "{e}");
    let gets = px
        .log()
        .iter()
        .filter(|l| l.starts_with("GET") && l.contains("/blobs/"))
        .count();
    assert_eq!(gets, 2, "retried once from scratch: {:?}", px.log());
    assert!(cache_entries(cache.path()).is_empty(), "nothing cached");

    // A tampered manifest by digest is refused too.
    px.add("GET", "/manifests/", Fault::Corrupt);
    let e = reg
        .manifest(&repo, &ManifestRef::Digest(img.digest()))
        .unwrap_err();
    assert!(matches!(e, RegistryError::Mismatch { .. }), "{e}");
}

#[test]
fn slow_body_times_out_with_a_clear_error() {
    let Some((px, repo, img)) = faulty_setup("slow", 8) else {
        return;
    };
    px.add(
        "GET",
        "/blobs/",
        Fault::Slow {
            delay: Duration::from_secs(3),
        },
    );
    let reg = client(RegistryOptions {
        read_timeout: Duration::from_millis(500),
        retry: RetryPolicy {
            attempts: 2,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
            ..RetryPolicy::default()
        },
        ..fast_opts()
    });
    let t = std::time::Instant::now();
    let e = reg.fetch_blob(&repo, &img.layers[0].0).unwrap_err();
    assert!(
        matches!(e, RegistryError::Transport { timeout: true, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("timed out"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn oversized_manifest_is_refused() {
    let Some((px, repo, _img)) = faulty_setup("big", 9) else {
        return;
    };
    let reg = client(fast_opts());
    for chunked in [false, true] {
        px.clear();
        let mut body = b"{\"schemaVersion\":2,\"pad\":\"".to_vec();
        body.resize(5 << 20, b'a');
        px.add(
            "GET",
            "/manifests/",
            Fault::Replace {
                body,
                content_type: OCI_MANIFEST.into(),
                chunked,
            },
        );
        let e = reg.resolve(&repo, "latest").unwrap_err();
        assert!(matches!(e, RegistryError::TooLarge { .. }), "{e}");
    }
}

#[test]
fn second_pull_transfers_no_blob_bytes() {
    let Some((px, repo, img)) = faulty_setup("cache", 10) else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let opts = RegistryOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..fast_opts()
    };
    let want: Vec<BlobRef> = img.blobs().into_iter().map(|(b, _)| b).collect();
    let reg = client(opts.clone());
    reg.fetch_blobs(&repo, &want).unwrap();
    let first = px.blob_bytes();
    assert!(first >= want.iter().map(|b| b.size).sum::<u64>());

    // A new client (as a second command run would be): nothing comes over the wire.
    let reg = client(opts);
    let paths = reg.fetch_blobs(&repo, &want).unwrap();
    assert_eq!(px.blob_bytes(), first, "no blob bytes on the second pull");
    assert_eq!(
        reg.counters().cache_hits.load(Ordering::Relaxed),
        want.len() as u64
    );
    for ((_, data), p) in img.blobs().iter().zip(paths) {
        assert_eq!(&p.read_all().unwrap(), data);
    }

    // A corrupted cache entry is noticed, dropped and fetched again.
    let victim = cache
        .path()
        .join("blobs/sha256")
        .join(img.layers[0].0.digest.hex());
    std::fs::write(&victim, b"rot").unwrap();
    let p = reg.fetch_blob(&repo, &img.layers[0].0).unwrap();
    assert_eq!(p.read_all().unwrap(), img.layers[0].1);
    assert!(px.blob_bytes() > first);
}

#[test]
fn foreign_layers_are_skipped_unless_asked_and_verified_from_urls() {
    let Some((px, repo, img)) = faulty_setup("foreign", 11) else {
        return;
    };
    let real = &img.layers[0].0;
    let url = format!(
        "http://{}/v2/{}/blobs/{}",
        px.addr, repo.repository, real.digest
    );
    let foreign = BlobRef {
        media_type: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip".into(),
        urls: vec!["ftp://ignored.example/x".into(), url],
        ..real.clone()
    };
    let e = client(fast_opts()).fetch_blob(&repo, &foreign).unwrap_err();
    assert!(matches!(e, RegistryError::ForeignSkipped { .. }), "{e}");
    assert_eq!(px.blob_bytes(), 0);

    let reg = client(RegistryOptions {
        include_foreign: true,
        ..fast_opts()
    });
    let p = reg.fetch_blob(&repo, &foreign).unwrap();
    assert_eq!(p.read_all().unwrap(), img.layers[0].1);

    // Same verification: wrong bytes from the URL are refused.
    px.add("GET", "/blobs/", Fault::Corrupt);
    let reg = client(RegistryOptions {
        include_foreign: true,
        ..fast_opts()
    });
    assert!(reg.fetch_blob(&repo, &foreign).is_err());
}

#[test]
fn referrers_via_tag_schema_on_distribution_2_8() {
    let Some(host) = common::registry() else {
        return;
    };
    let repo = RepoRef::new(&host, &unique("referrers"));
    let img = TestImage::new(12, &[1000]);
    let reg = client(fast_opts());
    push(&reg, &repo, &img, "latest");
    assert!(
        reg.referrers(&repo, &img.digest(), None)
            .unwrap()
            .0
            .is_empty()
    );

    let empty = b"{}".to_vec();
    let empty_ref = blob(&empty, "application/vnd.oci.empty.v1+json");
    reg.push_blob_reader(&repo, &empty_ref, &empty[..], None)
        .unwrap();
    let mk = |artifact: &str, note: &str| {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"{artifact}","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{}","size":2}},"layers":[],"subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{}}},"annotations":{{"note":"{note}"}}}}"#,
            empty_ref.digest,
            img.digest(),
            img.manifest.len()
        )
        .into_bytes()
    };
    let a = mk("application/vnd.dev.sigstore.bundle.v0.3+json", "a");
    let b = mk("application/vnd.example.other", "b");
    let (da, via) = reg
        .push_referrer(&repo, &img.digest(), &a, OCI_MANIFEST)
        .unwrap();
    assert_eq!(via, ReferrersVia::TagSchema);
    let (db, _) = reg
        .push_referrer(&repo, &img.digest(), &b, OCI_MANIFEST)
        .unwrap();
    // Pushing the same referrer twice does not duplicate it.
    reg.push_referrer(&repo, &img.digest(), &a, OCI_MANIFEST)
        .unwrap();

    let (all, via) = reg.referrers(&repo, &img.digest(), None).unwrap();
    assert_eq!(via, ReferrersVia::TagSchema);
    let digests: Vec<_> = all.iter().map(|d| d.digest.clone()).collect();
    assert_eq!(digests, vec![da.clone(), db]);
    let (only, _) = reg
        .referrers(
            &repo,
            &img.digest(),
            Some("application/vnd.dev.sigstore.bundle.v0.3+json"),
        )
        .unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].digest, da);
    assert_eq!(
        only[0].annotations.get("note").map(String::as_str),
        Some("a")
    );
    // The referrer itself is readable by digest.
    let m = reg.manifest(&repo, &ManifestRef::Digest(da)).unwrap();
    assert_eq!(m.bytes, a);
}

/// When the proxy saw the request after the first one whose log line contains `first`
/// and that starts with `then` (a retry of it), as a gap.
fn gap_after(px: &Proxy, first: &str, then: &str) -> Duration {
    let log = px.timed_log();
    let i = log
        .iter()
        .position(|(_, l)| l.contains(first))
        .unwrap_or_else(|| panic!("no {first:?} in {log:?}"));
    let (t0, _) = log[i];
    let (t1, _) = log[i + 1..]
        .iter()
        .find(|(_, l)| l.starts_with(then))
        .unwrap_or_else(|| panic!("no retry {then:?} after {first:?} in {log:?}"));
    t1.duration_since(t0)
}

#[test]
fn retry_after_is_honoured_and_capped() {
    let Some((px, repo, img)) = faulty_setup("retry-after", 13) else {
        return;
    };
    // Our own backoff is 20 ms here: only Retry-After can make the wait 1 s.
    px.add(
        "GET",
        "/manifests/",
        Fault::Throttle {
            status: 429,
            times: 1,
            retry_after: "1".into(),
        },
    );
    let reg = client(fast_opts());
    assert_eq!(reg.resolve(&repo, "latest").unwrap(), img.digest());
    let gap = gap_after(&px, "/manifests/latest -> 429", "GET /v2/");
    assert!(
        gap >= Duration::from_secs(1) && gap < Duration::from_secs(5),
        "{gap:?}"
    );

    // An HTTP-date about 2 s ahead (second resolution: at least 1 s from now).
    px.reset_counters();
    let at = std::time::SystemTime::now() + Duration::from_secs(2);
    px.add(
        "GET",
        "/blobs/",
        Fault::Throttle {
            status: 503,
            times: 1,
            retry_after: httpdate::fmt_http_date(at),
        },
    );
    let p = reg.fetch_blob(&repo, &img.layers[0].0).unwrap();
    assert_eq!(p.read_all().unwrap(), img.layers[0].1);
    let gap = gap_after(&px, "-> 503", "GET /v2/");
    assert!(
        gap >= Duration::from_millis(900) && gap < Duration::from_secs(5),
        "{gap:?}"
    );

    // Junk is ignored: the backoff alone (were it read as a long wait, 60 s).
    px.clear();
    px.reset_counters();
    px.add(
        "GET",
        "/blobs/",
        Fault::Throttle {
            status: 503,
            times: 1,
            retry_after: "soon".into(),
        },
    );
    reg.fetch_blob(&repo, &img.config.0).unwrap();
    let gap = gap_after(&px, "-> 503", "GET /v2/");
    assert!(gap < Duration::from_secs(2), "junk ignored: {gap:?}");

    // An hour is cut to the policy's cap (300 ms here).
    px.clear();
    px.reset_counters();
    px.add(
        "GET",
        "/manifests/",
        Fault::Throttle {
            status: 429,
            times: 1,
            retry_after: "3600".into(),
        },
    );
    let reg = client(RegistryOptions {
        retry: RetryPolicy {
            max_retry_after: Duration::from_millis(300),
            ..fast_opts().retry
        },
        ..fast_opts()
    });
    let t = Instant::now();
    assert_eq!(reg.resolve(&repo, "latest").unwrap(), img.digest());
    let gap = gap_after(&px, "-> 429", "GET /v2/");
    assert!(
        gap >= Duration::from_millis(300) && gap < Duration::from_secs(3),
        "{gap:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(5));
}

fn tok_creds() -> Option<pause_verify::image::registry::auth::Credentials> {
    Some(pause_verify::image::registry::auth::Credentials {
        username: "tokuser".into(),
        password: "tokpass".into(),
    })
}

/// A bearer proxy in front of the plain registry, and a 3-layer image pushed there.
fn bearer_setup(name: &str, seed: u64) -> Option<(Proxy, RepoRef, TestImage)> {
    let host = common::registry()?;
    let repo_name = unique(name);
    let img = TestImage::new(seed, &[150_000, 90_000, 40_000]);
    push(
        &client(fast_opts()),
        &RepoRef::new(&host, &repo_name),
        &img,
        "latest",
    );
    let px = Proxy::bearer(&host, "tokuser", "tokpass");
    let repo = RepoRef::new(&px.addr, &repo_name);
    Some((px, repo, img))
}

/// Requests the proxy answered 401 other than the anonymous `/v2/` probe.
fn refused(px: &Proxy) -> Vec<String> {
    px.log()
        .into_iter()
        .filter(|l| l.ends_with("-> 401") && !l.starts_with("GET /v2/ "))
        .collect()
}

#[test]
fn bearer_token_is_fetched_anew_once_when_refused() {
    let Some((px, repo, img)) = bearer_setup("refresh", 14) else {
        return;
    };
    // The first token lapses after the manifest and one blob; the pull fetches its
    // blobs in parallel, so several requests may hold it when it goes.
    px.expire_token_after(1, 2);
    let reg = client(RegistryOptions {
        creds: tok_creds(),
        ..fast_opts()
    });
    assert_eq!(reg.resolve(&repo, "latest").unwrap(), img.digest());
    let want: Vec<BlobRef> = img.blobs().into_iter().map(|(b, _)| b).collect();
    let got = reg.fetch_blobs(&repo, &want).unwrap();
    for ((_, data), p) in img.blobs().iter().zip(got) {
        assert_eq!(&p.read_all().unwrap(), data);
    }
    assert_eq!(
        px.token_requests().len(),
        2,
        "one token, then exactly one more: {:?}",
        px.log()
    );
    assert!(!refused(&px).is_empty(), "the first token was refused");
}

#[test]
fn bearer_token_expires_in_is_respected() {
    let Some((px, repo, img)) = bearer_setup("expires", 15) else {
        return;
    };
    // expires_in 3 s: used for 2.7 s (a tenth is margin), then asked for again.
    px.token_expires_in(3);
    let reg = client(RegistryOptions {
        creds: tok_creds(),
        ..fast_opts()
    });
    assert_eq!(reg.resolve(&repo, "latest").unwrap(), img.digest());
    reg.fetch_blob(&repo, &img.layers[0].0).unwrap();
    assert_eq!(px.token_requests().len(), 1, "still fresh: {:?}", px.log());
    std::thread::sleep(Duration::from_secs(3));
    let p = reg.fetch_blob(&repo, &img.layers[1].0).unwrap();
    assert_eq!(p.read_all().unwrap(), img.layers[1].1);
    assert_eq!(
        px.token_requests().len(),
        2,
        "a new token once expires_in ran out: {:?}",
        px.log()
    );
    assert!(
        refused(&px).is_empty(),
        "asked before the registry had to refuse: {:?}",
        px.log()
    );
}

#[test]
fn bearer_tokens_refused_every_time_fail_after_one_refresh() {
    let Some((px, repo, _img)) = bearer_setup("revoked", 16) else {
        return;
    };
    px.reject_all_tokens();
    let reg = client(RegistryOptions {
        creds: tok_creds(),
        ..fast_opts()
    });
    let e = reg.resolve(&repo, "latest").unwrap_err();
    assert!(matches!(e, RegistryError::Auth { .. }), "{e}");
    assert!(e.to_string().contains(&px.addr), "{e}");
    assert_eq!(px.token_requests().len(), 2, "{:?}", px.log());
    assert_eq!(refused(&px).len(), 2, "{:?}", px.log());
}

#[test]
fn bearer_token_refresh_on_push() {
    let Some(host) = common::registry() else {
        return;
    };
    let px = Proxy::bearer(&host, "tokuser", "tokpass");
    // Token 1 is the pull token (existence checks), token 2 the push token: it is
    // refused in the middle of the first upload, which oci-client sends.
    px.expire_token_after(2, 1);
    let repo = RepoRef::new(&px.addr, &unique("push-refresh"));
    let img = TestImage::new(17, &[60_000, 30_000]);
    let reg = client(RegistryOptions {
        creds: tok_creds(),
        parallel: 1,
        ..fast_opts()
    });
    push(&reg, &repo, &img, "latest");
    assert_eq!(px.token_requests().len(), 3, "{:?}", px.log());
    let refused = refused(&px);
    assert_eq!(refused.len(), 1, "{:?}", px.log());
    assert!(refused[0].contains("/blobs/uploads/"), "{refused:?}");
    let scopes = px.token_requests();
    assert!(scopes[1].contains("pull%2Cpush") && scopes[2].contains("pull%2Cpush"));
    let direct = client(fast_opts());
    let m = direct
        .manifest(
            &RepoRef::new(&host, &repo.repository),
            &ManifestRef::Tag("latest".into()),
        )
        .unwrap();
    assert_eq!(m.bytes, img.manifest);
}

const BUNDLE_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// A referrer manifest of `subject` with an empty config (which must be pushed).
fn referrer(subject: &TestImage, artifact: &str, note: &str) -> Vec<u8> {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"{artifact}","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{}","size":2}},"layers":[],"subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{}}},"annotations":{{"note":"{note}"}}}}"#,
        Digest::of(b"{}"),
        subject.digest(),
        subject.manifest.len()
    )
    .into_bytes()
}

#[test]
fn referrers_api_is_used_when_the_registry_has_one() {
    let Some(host) = common::registry() else {
        return;
    };
    let name = unique("referrers-api");
    let direct_repo = RepoRef::new(&host, &name);
    let img = TestImage::new(18, &[1000]);
    let direct = client(fast_opts());
    push(&direct, &direct_repo, &img, "latest");
    let empty = b"{}".to_vec();
    direct
        .push_blob_reader(
            &direct_repo,
            &blob(&empty, "application/vnd.oci.empty.v1+json"),
            &empty[..],
            None,
        )
        .unwrap();

    // A registry with the API that does not confirm subjects: the tag schema is kept too.
    let px = Proxy::start(&host);
    px.referrers_api(ReferrersApi {
        oci_subject: false,
        filter: true,
        page_size: None,
        link_elsewhere: false,
    });
    let repo = RepoRef::new(&px.addr, &name);
    let reg = client(fast_opts());
    let a = referrer(&img, BUNDLE_TYPE, "a");
    let b = referrer(&img, "application/vnd.example.other", "b");
    let (da, via) = reg
        .push_referrer(&repo, &img.digest(), &a, OCI_MANIFEST)
        .unwrap();
    assert_eq!(via, ReferrersVia::TagSchema);
    let (db, _) = reg
        .push_referrer(&repo, &img.digest(), &b, OCI_MANIFEST)
        .unwrap();

    let tag_path = format!(
        "/v2/{name}/manifests/{}",
        pause_verify::attest::storage::referrers_tag(&img.digest())
    );
    let asked_tag = |px: &Proxy| {
        px.log()
            .iter()
            .any(|l| l.split(' ').nth(1) == Some(tag_path.as_str()))
    };
    px.reset_counters();
    let (api, via) = reg.referrers(&repo, &img.digest(), None).unwrap();
    assert_eq!(via, ReferrersVia::Api);
    assert_eq!(
        px.log()
            .iter()
            .filter(|l| l.contains("(referrers api)"))
            .count(),
        1,
        "{:?}",
        px.log()
    );
    assert!(!asked_tag(&px), "no tag-schema read: {:?}", px.log());
    // The same referrers as the tag schema the registry itself holds.
    let (fallback, via) = direct.referrers(&direct_repo, &img.digest(), None).unwrap();
    assert_eq!(via, ReferrersVia::TagSchema);
    assert_eq!(api, fallback);
    assert_eq!(
        api.iter().map(|d| d.digest.clone()).collect::<Vec<_>>(),
        vec![da.clone(), db]
    );

    // artifactType: filtered by the registry (OCI-Filters-Applied) or, if it ignores the
    // parameter, by us; the same answer either way.
    for filter in [true, false] {
        px.referrers_api(ReferrersApi {
            oci_subject: false,
            filter,
            page_size: None,
            link_elsewhere: false,
        });
        let (only, via) = reg
            .referrers(&repo, &img.digest(), Some(BUNDLE_TYPE))
            .unwrap();
        assert_eq!(via, ReferrersVia::Api);
        assert_eq!(
            only.iter().map(|d| &d.digest).collect::<Vec<_>>(),
            vec![&da],
            "filter applied by the registry: {filter}"
        );
    }

    // With OCI-Subject the registry confirms the subject: no tag-schema index is written.
    px.referrers_api(ReferrersApi {
        oci_subject: true,
        filter: true,
        page_size: None,
        link_elsewhere: false,
    });
    px.reset_counters();
    let c = referrer(&img, BUNDLE_TYPE, "c");
    let (dc, via) = reg
        .push_referrer(&repo, &img.digest(), &c, OCI_MANIFEST)
        .unwrap();
    assert_eq!(via, ReferrersVia::Api);
    assert!(!asked_tag(&px), "tag schema untouched: {:?}", px.log());
    let (api, _) = reg.referrers(&repo, &img.digest(), None).unwrap();
    assert!(api.iter().any(|d| d.digest == dc));
    let (fallback, _) = direct.referrers(&direct_repo, &img.digest(), None).unwrap();
    assert!(!fallback.iter().any(|d| d.digest == dc));

    // Result pages (`Link: rel="next"`) are followed, the filter kept across them.
    px.referrers_api(ReferrersApi {
        oci_subject: true,
        filter: true,
        page_size: Some(1),
        link_elsewhere: false,
    });
    px.reset_counters();
    let (paged, _) = reg.referrers(&repo, &img.digest(), None).unwrap();
    assert_eq!(paged, api);
    let pages = |px: &Proxy| {
        px.log()
            .iter()
            .filter(|l| l.contains("(referrers api)"))
            .count()
    };
    assert_eq!(pages(&px), 3, "{:?}", px.log());
    px.reset_counters();
    let (bundles, _) = reg
        .referrers(&repo, &img.digest(), Some(BUNDLE_TYPE))
        .unwrap();
    assert_eq!(
        bundles.iter().map(|d| &d.digest).collect::<Vec<_>>(),
        vec![&da, &dc]
    );
    assert_eq!(pages(&px), 2, "{:?}", px.log());
    // A next page on another host is not followed (our token would go with it).
    px.referrers_api(ReferrersApi {
        oci_subject: true,
        filter: true,
        page_size: Some(1),
        link_elsewhere: true,
    });
    px.reset_counters();
    let e = reg.referrers(&repo, &img.digest(), None).unwrap_err();
    assert!(e.to_string().contains("not followed"), "{e}");
    assert_eq!(pages(&px), 1, "{:?}", px.log());

    // A broken answer is an error, not "no referrers" (nor a quiet fall back to the
    // tag schema), whatever its Content-Type says.
    let index = "application/vnd.oci.image.index.v1+json";
    let huge = {
        let mut v = br#"{"schemaVersion":2,"manifests":[],"x":""#.to_vec();
        v.resize(5 << 20, b'a');
        v
    };
    for (body, content_type, oversized) in [
        (b"<html>nope</html>".to_vec(), "text/html", false),
        (
            br#"{"schemaVersion":1,"manifests":[]}"#.to_vec(),
            index,
            false,
        ),
        (
            br#"{"schemaVersion":2,"manifests":{}}"#.to_vec(),
            index,
            false,
        ),
        (huge, index, true),
    ] {
        px.clear();
        px.add(
            "GET",
            "/referrers/",
            Fault::Replace {
                body,
                content_type: content_type.into(),
                chunked: false,
            },
        );
        let e = reg.referrers(&repo, &img.digest(), None).unwrap_err();
        if oversized {
            assert!(matches!(e, RegistryError::TooLarge { .. }), "{e}");
        } else {
            assert!(matches!(e, RegistryError::Protocol { .. }), "{e}");
            assert!(e.to_string().contains("not an OCI image index"), "{e}");
        }
    }
}
