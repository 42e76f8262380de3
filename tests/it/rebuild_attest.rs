//! `rebuild --attest` end to end through the binary: the signed provenance lists exactly
//! the upstream recipe's registry edits and the base digest (read back field by field
//! after verifying the DSSE envelope with our code and with Python securesystemslib);
//! the VSA's verificationResult follows the exit code (IDENTICAL / EQUIVALENT → PASSED,
//! DIFFERENT → FAILED); attached statements verify with `verify --attestations --type`;
//! usage errors exit 2 before anything is written.
//!
//! Expected edits come from the upstream recipe text (binaries/keylight.reg and
//! `sc.exe delete diagtrack`, DESIGN §1), not from our recipe code.

use crate::common;

use common::{assert_code, stderr, stdout};
use pause_verify::attest::PublicKey;
use pause_verify::attest::dsse::Envelope;
use pause_verify::image::Digest;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PASSWORD: &str = "rebuild-attest-test";
const PROVENANCE: &str = "https://slsa.dev/provenance/v1";
const VSA: &str = "https://slsa.dev/verification_summary/v1";
const OSV: &str = "10.0.20348.2849";

/// The binary in `cwd` with COSIGN_PASSWORD set (relative paths, as the demo uses them).
fn pvk<I, S>(cwd: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    common::Pv::new()
        .cwd(cwd)
        .password(PASSWORD)
        .env_remove("SOURCE_DATE_EPOCH")
        .run(args)
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}

fn index_digest(layout: &Path, i: usize) -> String {
    let idx: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    idx["manifests"][i]["digest"].as_str().unwrap().to_string()
}

fn blob(layout: &Path, digest: &str) -> Value {
    let hex = digest.strip_prefix("sha256:").unwrap();
    serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()).unwrap()
}

/// A work dir with a synthetic NanoServer (`ns`), a key pair (`k.key`, `k.pub`), the
/// pause base built from it (`pb`), and the base reference pinned by digest.
struct World {
    tmp: tempfile::TempDir,
    base: String,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        assert_code(
            &pvk(
                d,
                [
                    "fixture",
                    "nanoserver",
                    "--out",
                    "ns",
                    "--os-version",
                    OSV,
                    "-q",
                ],
            ),
            0,
        );
        let base = format!("oci:ns@{}", index_digest(&d.join("ns"), 0));
        assert_code(
            &pvk(d, ["generate-key-pair", "--output-key-prefix", "k"]),
            0,
        );
        assert_code(&pvk(d, ["build", "--base", &base, "--out", "pb", "-q"]), 0);
        World { tmp, base }
    }
    fn dir(&self) -> &Path {
        self.tmp.path()
    }
    fn public(&self) -> PublicKey {
        PublicKey::from_pem(&std::fs::read(self.dir().join("k.pub")).unwrap()).unwrap()
    }
    /// The platform manifest digest of the synthetic base (read from its list).
    fn base_manifest(&self) -> String {
        let ns = self.dir().join("ns");
        let list = blob(&ns, &index_digest(&ns, 0));
        list["manifests"][0]["digest"].as_str().unwrap().to_string()
    }
    fn rebuild(&self, image: &str, extra: &[&str], code: i32) -> Value {
        let mut args = vec![
            "rebuild", "--json", "-q", "--image", image, "--base", &self.base,
        ];
        args.extend_from_slice(extra);
        let o = pvk(self.dir(), &args);
        assert_code(&o, code);
        json_of(&o)
    }
}

/// The envelopes of a `.intoto.jsonl` file with their decoded statements.
fn envelopes(path: &Path) -> Vec<(Vec<u8>, Value)> {
    std::fs::read(path)
        .unwrap()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let env = Envelope::from_json(l).unwrap();
            let st: Value = serde_json::from_slice(&env.payload).unwrap();
            (l.to_vec(), st)
        })
        .collect()
}

fn of_type(path: &Path, t: &str) -> Vec<(Vec<u8>, Value)> {
    envelopes(path)
        .into_iter()
        .filter(|(_, s)| s["predicateType"] == t)
        .collect()
}

fn python_verifies(env: &[u8], public: &Path, dir: &Path) -> Option<bool> {
    if !common::need(
        "Python with securesystemslib (PAUSE_VERIFY_PYTHON)",
        common::python_has(&["securesystemslib", "cryptography"]),
    ) {
        return None;
    }
    let f = dir.join(format!("env-{}.json", Digest::of(env).hex()));
    std::fs::write(&f, env).unwrap();
    let o = Command::new(common::python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/attest_dsse_verify.py"))
        .arg(public)
        .arg(&f)
        .output()
        .unwrap();
    Some(o.status.success())
}

/// The upstream recipe's edits, as the provenance must record them (docs/provenance.md).
fn upstream_edits() -> Vec<Value> {
    vec![
        json!({"hive": "HKLM\\SOFTWARE", "key": "Microsoft\\rpc", "value": "DCOM Protocols",
               "type": "REG_MULTI_SZ", "data": [], "op": "set"}),
        json!({"hive": "HKLM\\SOFTWARE", "key": "Microsoft\\rpc", "value": "UuidSequenceNumber",
               "type": "REG_DWORD", "data": 0x01bc_f674, "op": "set"}),
        json!({"hive": "HKLM\\SOFTWARE", "key": "Microsoft\\rpc", "value": "EpMapDisallowedProtocols",
               "type": "REG_SZ", "data": "ncacn_ip_tcp", "op": "set"}),
        json!({"hive": "HKLM\\SOFTWARE", "key": "Microsoft\\ole", "value": "EnableDCOM",
               "type": "REG_SZ", "data": "N", "op": "set"}),
        json!({"hive": "HKLM\\SYSTEM", "key": "ControlSet001\\Services\\DiagTrack",
               "op": "delete_key"}),
    ]
}

/// The upstream recipe folder (vendored in tests/fixtures/upstream), copied so the test can
/// alter its EnableDCOM value.
fn recipe_dir(into: &Path, enable_dcom: &str) -> PathBuf {
    let dir = into.join(format!("recipe-{enable_dcom}"));
    std::fs::create_dir_all(dir.join("binaries")).unwrap();
    let up = common::upstream_recipe().expect("the vendored upstream recipe");
    let dockerfile = std::fs::read_to_string(up.join("Dockerfile")).unwrap();
    let reg = std::fs::read_to_string(up.join("binaries/keylight.reg")).unwrap();
    let reg = reg.replace(
        "\"EnableDCOM\"=\"N\"",
        &format!("\"EnableDCOM\"=\"{enable_dcom}\""),
    );
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(dir.join("binaries/keylight.reg"), reg).unwrap();
    dir
}

#[test]
fn provenance_lists_the_recipe_edits_and_base_and_verifies_with_two_implementations() {
    let w = World::new();
    let d = w.dir();
    let recipe = recipe_dir(d, "N");
    let recipe_arg = recipe.file_name().unwrap().to_str().unwrap().to_string();
    let rep = w.rebuild(
        "oci:pb",
        &[
            "--recipe",
            &recipe_arg,
            "--out",
            "oci:reb",
            "--attest",
            "--key",
            "k.key",
            "--attestations-dir",
            "att",
            "--attach",
        ],
        0,
    );
    assert_eq!(rep["verdict"], "IDENTICAL");
    // The rebuilt image (one platform: its root is the manifest).
    let subject = index_digest(&d.join("reb"), 0);
    let hex = subject.strip_prefix("sha256:").unwrap();
    let file = d.join("att").join(format!("{hex}.intoto.jsonl"));
    let provs = of_type(&file, PROVENANCE);
    assert_eq!(provs.len(), 1, "one provenance for the one platform");
    let (env, st) = &provs[0];

    // Verified by our code (signature, payload type, subject, predicate type) ...
    let checked = pause_verify::attest::dsse::verify_attestation(
        &[w.public()],
        env,
        &subject.parse().unwrap(),
        Some(PROVENANCE),
    );
    assert!(checked.is_ok(), "{checked:?}");
    // ... and by securesystemslib, which also rejects a tampered payload.
    if let Some(ok) = python_verifies(env, &d.join("k.pub"), d) {
        assert!(ok, "securesystemslib rejected our provenance envelope");
        let mut bad: Value = serde_json::from_slice(env).unwrap();
        let tampered = String::from_utf8(st.to_string().into_bytes())
            .unwrap()
            .replace("ncacn_ip_tcp", "ncacn_ip_udp");
        bad["payload"] = json!(base64_encode(tampered.as_bytes()));
        let bad = serde_json::to_vec(&bad).unwrap();
        assert_eq!(python_verifies(&bad, &d.join("k.pub"), d), Some(false));
    }

    // Field by field.
    assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        st["subject"],
        json!([{"name": "oci:reb", "digest": {"sha256": hex}}])
    );
    let bd = &st["predicate"]["buildDefinition"];
    let ext = &bd["externalParameters"];
    let edits = ext["registryEdits"].as_array().unwrap();
    let want = upstream_edits();
    assert_eq!(
        edits.len(),
        want.len(),
        "exactly the recipe's edits: {edits:#?}"
    );
    for e in &want {
        assert!(edits.contains(e), "missing {e} in {edits:#?}");
    }
    // One vocabulary and one count: the report checks exactly the edits the provenance
    // lists (the `.reg` section headers are implied by the values set under them).
    let checked = rep["platforms"][0]["recipeEdits"].as_array().unwrap();
    assert_eq!(checked.len(), edits.len(), "{checked:#?}");
    assert!(checked.iter().all(|e| e["action"] != "createKey"));
    assert_eq!(
        checked
            .iter()
            .filter(|e| e["action"] == "deleteKey")
            .count(),
        edits.iter().filter(|e| e["op"] == "delete_key").count()
    );
    assert_eq!(ext["platform"], format!("windows/amd64:{OSV}"));
    assert_eq!(ext["baseImage"]["reference"], w.base);
    assert_eq!(ext["baseImage"]["digest"], w.base_manifest());
    let deps = bd["resolvedDependencies"].as_array().unwrap();
    let base_dep = deps.iter().find(|r| r["name"] == "base-image").unwrap();
    assert_eq!(
        format!("sha256:{}", base_dep["digest"]["sha256"].as_str().unwrap()),
        w.base_manifest()
    );
    // Recipe files with their digests, in externalParameters and as dependencies.
    for f in ["Dockerfile", "binaries/keylight.reg"] {
        let want = Digest::of(&std::fs::read(recipe.join(f)).unwrap());
        let listed = ext["recipe"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == f)
            .unwrap_or_else(|| panic!("recipe file {f} not listed: {ext}"));
        assert_eq!(listed["digest"]["sha256"], want.hex());
        assert!(
            deps.iter()
                .any(|r| r["name"] == format!("recipe/{f}") && r["digest"]["sha256"] == want.hex()),
            "{f} not a resolved dependency"
        );
    }
    assert!(
        ext["recipe"]["digest"]["sha256"]
            .as_str()
            .is_some_and(|h| h.len() == 64)
    );
    let ip = &bd["internalParameters"];
    assert!(ip["compressor"].as_str().is_some_and(|c| !c.is_empty()));
    assert!(ip["compressionLevel"].is_u64());
    assert_eq!(ip["toolVersion"], env!("CARGO_PKG_VERSION"));
    // Byproducts: the layers the rebuild added on top of the base, digest and diff_id,
    // as the rebuilt manifest and config record them.
    let reb = d.join("reb");
    let manifest = blob(&reb, &subject);
    let config = blob(&reb, manifest["config"]["digest"].as_str().unwrap());
    let layers = manifest["layers"].as_array().unwrap();
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    let byproducts = st["predicate"]["runDetails"]["byproducts"]
        .as_array()
        .unwrap();
    let base_layers = layers.len() - byproducts.len();
    assert_eq!(base_layers, 1, "the synthetic base has one layer");
    for (i, b) in byproducts.iter().enumerate() {
        assert_eq!(
            format!("sha256:{}", b["digest"]["sha256"].as_str().unwrap()),
            layers[base_layers + i]["digest"].as_str().unwrap()
        );
        assert_eq!(b["annotations"]["diffId"], diff_ids[base_layers + i]);
    }
    assert_eq!(
        st["predicate"]["runDetails"]["builder"]["id"],
        "https://github.com/pause-verify/pause-verify"
    );

    // The JSON report says where everything went.
    let a = &rep["attestations"];
    assert_eq!(a["provenance"][0]["subjects"][0], subject);
    assert_eq!(a["vsa"]["verificationResult"], "PASSED");
    schema_lists_every_field(a);

    // Attached to the rebuilt image: verify --attestations --type provenance passes
    // (after signing it), and fails with another key or for the VSA type there.
    let o = pvk(
        d,
        [
            "verify",
            "--key",
            "k.pub",
            "--attestations-only",
            "--type",
            PROVENANCE,
            "oci:reb",
        ],
    );
    assert_code(&o, 0);
    assert_code(&pvk(d, ["sign", "--key", "k.key", "oci:reb"]), 0);
    let o = pvk(
        d,
        [
            "verify",
            "--key",
            "k.pub",
            "--attestations",
            "--type",
            PROVENANCE,
            "oci:reb",
        ],
    );
    assert_code(&o, 0);
    assert_code(
        &pvk(d, ["generate-key-pair", "--output-key-prefix", "other"]),
        0,
    );
    let o = pvk(
        d,
        [
            "verify",
            "--key",
            "other.pub",
            "--attestations",
            "--type",
            PROVENANCE,
            "oci:reb",
        ],
    );
    assert_code(&o, 1);
    // The published image is a list here: its VSA is attached to the list and to the
    // platform manifest (the same digest as the rebuilt one: the provenance is too).
    let o = pvk(
        d,
        [
            "verify",
            "--key",
            "k.pub",
            "--attestations-only",
            "--type",
            VSA,
            "--all-platforms",
            "oci:pb",
        ],
    );
    assert_code(&o, 0);
    assert_eq!(
        provenance_per_subject(d, "oci:pb"),
        [false, true],
        "the list has no provenance; its platform image (same digest as the rebuild) has"
    );
    // ... and the attestations dir alone verifies the rebuilt image too.
    let o = pvk(
        d,
        [
            "verify",
            "--key",
            "k.pub",
            "--attestations-only",
            "--type",
            PROVENANCE,
            "--attestations-dir",
            "att",
            "oci:reb",
        ],
    );
    assert_code(&o, 0);
}

/// The `attestations` object of the rebuild JSON uses only the fields (and has the
/// required ones) docs/compare-report.schema.json declares.
fn schema_lists_every_field(a: &Value) {
    let schema: Value = serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/compare-report.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let defs = &schema["$defs"];
    let fits = |v: &Value, def: &Value| {
        let obj = v.as_object().unwrap();
        let props = def["properties"].as_object().unwrap();
        for k in obj.keys() {
            assert!(props.contains_key(k), "field {k} is not in the schema");
        }
        for r in def["required"].as_array().unwrap() {
            assert!(
                obj.contains_key(r.as_str().unwrap()),
                "required {r} missing"
            );
        }
    };
    assert!(schema["properties"]["attestations"].is_object());
    fits(a, &defs["attestations"]);
    for w in a["provenance"]
        .as_array()
        .unwrap()
        .iter()
        .chain([&a["vsa"]])
    {
        fits(w, &defs["written"]);
        for at in w["attached"].as_array().unwrap() {
            fits(at, &defs["written"]["properties"]["attached"]["items"]);
        }
    }
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The VSA in `dir` for the published root `root` (exactly one).
fn vsa_of(dir: &Path, root: &str) -> (Vec<u8>, Value) {
    let f = dir.join(format!(
        "{}.intoto.jsonl",
        root.strip_prefix("sha256:").unwrap()
    ));
    let mut v = of_type(&f, VSA);
    assert_eq!(v.len(), 1, "one VSA in {}", f.display());
    v.remove(0)
}

#[test]
fn vsa_result_follows_the_exit_code() {
    let w = World::new();
    let d = w.dir();
    let published_root = index_digest(&d.join("pb"), 0);
    let platform_manifest = blob(&d.join("pb"), &published_root)["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();

    // IDENTICAL: PASSED, exit 0.
    let rep = w.rebuild(
        "oci:pb",
        &["--attest", "--key", "k.key", "--attestations-dir", "ok"],
        0,
    );
    assert_eq!(rep["verdict"], "IDENTICAL");
    let (env, st) = vsa_of(&d.join("ok"), &published_root);
    assert!(
        pause_verify::attest::dsse::verify_attestation(
            &[w.public()],
            &env,
            &published_root.parse().unwrap(),
            Some(VSA)
        )
        .is_ok()
    );
    if let Some(ok) = python_verifies(&env, &d.join("k.pub"), d) {
        assert!(ok, "securesystemslib rejected our VSA envelope");
    }
    let p = &st["predicate"];
    assert_eq!(p["verificationResult"], "PASSED");
    assert_eq!(p["resourceUri"], format!("oci:pb@{published_root}"));
    let subjects: Vec<&str> = st["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["digest"]["sha256"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        [
            published_root.strip_prefix("sha256:").unwrap(),
            platform_manifest.strip_prefix("sha256:").unwrap()
        ]
    );
    let levels: Vec<&str> = p["verifiedLevels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        levels.contains(&"PAUSE_VERIFY_REBUILT_IDENTICAL"),
        "{levels:?}"
    );
    assert!(levels.iter().all(|l| !l.starts_with("SLSA_")));
    assert_eq!(
        p["verifier"]["id"],
        "https://github.com/pause-verify/pause-verify"
    );
    assert!(
        p["policy"]["uri"]
            .as_str()
            .is_some_and(|u| u.starts_with("pause-verify:"))
    );
    assert!(p["timeVerified"].as_str().is_some_and(|t| t.ends_with('Z')));
    // inputAttestations names the provenance envelope by its digest.
    let prov_file = d.join("ok").join(format!(
        "{}.intoto.jsonl",
        platform_manifest.strip_prefix("sha256:").unwrap()
    ));
    let (prov_env, _) = of_type(&prov_file, PROVENANCE).remove(0);
    assert_eq!(
        p["inputAttestations"],
        json!([{"uri": format!("ok/{}", prov_file.file_name().unwrap().to_str().unwrap()),
                "digest": {"sha256": Digest::of(&prov_env).hex()}}])
    );

    // DIFFERENT (the recipe sets EnableDCOM=Y; the published image has N): FAILED,
    // no levels, exit 1; the provenance still records what was rebuilt.
    let y = recipe_dir(d, "Y");
    let rep = w.rebuild(
        "oci:pb",
        &[
            "--recipe",
            y.to_str().unwrap(),
            "--attest",
            "--key",
            "k.key",
            "--attestations-dir",
            "bad",
        ],
        1,
    );
    assert_eq!(rep["verdict"], "DIFFERENT");
    let (_, st) = vsa_of(&d.join("bad"), &published_root);
    assert_eq!(st["predicate"]["verificationResult"], "FAILED");
    assert_eq!(st["predicate"]["verifiedLevels"], json!([]));
    let rebuilt = rep["platforms"][0]["rebuiltManifest"].as_str().unwrap();
    assert_ne!(rebuilt, platform_manifest);
    let provs = of_type(
        &d.join("bad").join(format!(
            "{}.intoto.jsonl",
            rebuilt.strip_prefix("sha256:").unwrap()
        )),
        PROVENANCE,
    );
    let edits = &provs[0].1["predicate"]["buildDefinition"]["externalParameters"]["registryEdits"];
    assert!(edits.as_array().unwrap().contains(&json!({"hive": "HKLM\\SOFTWARE", "key": "Microsoft\\ole", "value": "EnableDCOM", "type": "REG_SZ", "data": "Y", "op": "set"})));

    // EQUIVALENT (an independent publisher: Python tarfile + hivex, Windows noise): PASSED.
    let py = PathBuf::from("/usr/bin/python3");
    let hivex = Command::new(&py)
        .args(["-c", "import hivex"])
        .output()
        .is_ok_and(|o| o.status.success());
    if common::need("python3-hivex (/usr/bin/python3 -c 'import hivex')", hivex) {
        let o = Command::new(&py)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/publish_independent.py"))
            .args(["--base", "ns", "--out", "indep"])
            .current_dir(d)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let rep = w.rebuild(
            "oci:indep",
            &["--attest", "--key", "k.key", "--attestations-dir", "eq"],
            0,
        );
        assert_eq!(rep["verdict"], "EQUIVALENT");
        let (_, st) = vsa_of(&d.join("eq"), &index_digest(&d.join("indep"), 0));
        assert_eq!(st["predicate"]["verificationResult"], "PASSED");
        assert!(
            st["predicate"]["verifiedLevels"]
                .as_array()
                .unwrap()
                .contains(&json!("PAUSE_VERIFY_REBUILT_EQUIVALENT"))
        );
    }
}

#[test]
fn usage_errors_exit_2_before_writing() {
    let w = World::new();
    let d = w.dir();
    // --attest needs --key (clap), somewhere to write, and --attach needs --out.
    for args in [
        vec!["--attest", "--attestations-dir", "x"],
        vec!["--key", "k.key", "--attestations-dir", "x"],
        vec!["--attest", "--key", "k.key"],
        vec!["--attest", "--key", "k.key", "--attach"],
    ] {
        let mut all = vec!["rebuild", "-q", "--image", "oci:pb", "--base", &w.base];
        all.extend(args.iter());
        let o = pvk(d, &all);
        assert_code(&o, 2);
        assert!(!d.join("x").exists());
    }
    // A wrong password fails before the rebuild, and nothing is written.
    let o = Command::new(common::bin())
        .current_dir(d)
        .args([
            "rebuild",
            "-q",
            "--image",
            "oci:pb",
            "--base",
            &w.base,
            "--out",
            "oci:r",
            "--attest",
            "--key",
            "k.key",
            "--attestations-dir",
            "x",
            "--attach",
        ])
        .env("COSIGN_PASSWORD", "wrong")
        .output()
        .unwrap();
    assert_code(&o, 2);
    assert!(stderr(&o).contains("k.key"), "{}", stderr(&o));
    assert!(!d.join("x").exists() && !d.join("r").exists());
}

#[test]
fn reproducible_with_source_date_epoch() {
    // Two separate work dirs, same relative paths, key and SOURCE_DATE_EPOCH: same
    // bytes (ECDSA signatures are deterministic, RFC 6979).
    let mut outs = Vec::new();
    let mut key: Option<PathBuf> = None;
    let _keep = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let w = World::new();
        let d = w.dir();
        let key = key
            .get_or_insert_with(|| {
                let k = _keep.path().join("k.key");
                std::fs::copy(d.join("k.key"), &k).unwrap();
                k
            })
            .clone();
        // The published image is built with the same clock the rebuild uses.
        let pb = Command::new(common::bin())
            .current_dir(d)
            .args(["build", "-q", "--base", &w.base, "--out", "pb-sde"])
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap();
        assert_code(&pb, 0);
        let o = Command::new(common::bin())
            .current_dir(d)
            .args([
                "rebuild",
                "-q",
                "--image",
                "oci:pb-sde",
                "--base",
                &w.base,
                "--attest",
                "--key",
                key.to_str().unwrap(),
                "--attestations-dir",
                "att",
            ])
            .env("COSIGN_PASSWORD", PASSWORD)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap();
        assert_code(&o, 0);
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(d.join("att"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().into_string().unwrap(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        for (_, bytes) in &files {
            for (_, st) in envelopes_bytes(bytes) {
                if st["predicateType"] == PROVENANCE {
                    assert_eq!(
                        st["predicate"]["runDetails"]["metadata"]["startedOn"],
                        "2023-11-14T22:13:20Z"
                    );
                } else {
                    assert_eq!(st["predicate"]["timeVerified"], "2023-11-14T22:13:20Z");
                }
            }
        }
        assert_eq!(files.len(), 2, "provenance (platform) and VSA (list) files");
        outs.push(files);
    }
    assert!(outs[0] == outs[1], "the two runs wrote different bytes");
}

fn envelopes_bytes(bytes: &[u8]) -> Vec<(Vec<u8>, Value)> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let env = Envelope::from_json(l).unwrap();
            (l.to_vec(), serde_json::from_slice(&env.payload).unwrap())
        })
        .collect()
}

#[test]
fn registry_published_image_gets_the_vsa_attached() {
    let Some(registry) = common::registry() else {
        return;
    };
    let w = World::new();
    let d = w.dir();
    let image = format!(
        "docker://{registry}/rebuild-attest/pause-{}:v1",
        std::process::id()
    );
    assert_code(
        &common::pv([
            "copy".to_string(),
            format!("oci:{}", d.join("pb").display()),
            image.clone(),
        ]),
        0,
    );
    let rep = w.rebuild(
        &image,
        &["--out", "oci:reb", "--attest", "--key", "k.key", "--attach"],
        0,
    );
    assert_eq!(rep["attestations"]["vsa"]["verificationResult"], "PASSED");
    let o = pvk(
        d,
        [
            "verify",
            "--key",
            "k.pub",
            "--attestations-only",
            "--type",
            VSA,
            "--all-platforms",
            &image,
        ],
    );
    assert_code(&o, 0);
    // Identical rebuild: the platform image in the registry carries the provenance too.
    assert_eq!(provenance_per_subject(d, &image), [false, true]);
}

/// `verify --attestations-only --type provenance --platform windows/amd64 IMAGE --json`:
/// whether each subject (the image as named, then its platform image) verified.
fn provenance_per_subject(d: &Path, image: &str) -> Vec<bool> {
    let o = pvk(
        d,
        [
            "verify",
            "--json",
            "--key",
            "k.pub",
            "--attestations-only",
            "--type",
            PROVENANCE,
            "--platform",
            "windows/amd64",
            image,
        ],
    );
    let v = json_of(&o);
    assert_code(&o, if v["verified"] == true { 0 } else { 1 });
    v["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["verified"].as_bool().unwrap())
        .collect()
}
