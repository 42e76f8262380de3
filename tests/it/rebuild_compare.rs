//! `pause-verify rebuild` and `diff` end to end, against images made by two other
//! methods: `pause-verify build` (must compare IDENTICAL) and an independent Python
//! publisher (tests/publish_independent.py: tarfile + hivex + byte patches, classic
//! builder shape, Windows noise) which must compare EQUIVALENT, and DIFFERENT in each
//! broken variant. The JSON output is checked against docs/compare-report.schema.json.

use crate::common;

use common::images::root_ref;
use common::{assert_code, pv, stderr, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const V2019: &str = "10.0.17763.3887";
const V2022: &str = "10.0.20348.2849";
const V2025: &str = "10.0.26100.2314";

/// The system Python with python3-hivex (Debian's module is not in venvs).
fn hivex_python() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/bin/python3");
    let ok = Command::new(&p)
        .args(["-c", "import hivex"])
        .output()
        .is_ok_and(|o| o.status.success());
    if common::need("python3-hivex (/usr/bin/python3 -c 'import hivex')", ok) {
        Some(p)
    } else {
        None
    }
}

fn fixture(dir: &Path, versions: &[&str], extra: &[&str]) -> String {
    let mut args = vec![
        "fixture".to_string(),
        "nanoserver".into(),
        "--out".into(),
        dir.display().to_string(),
        "-q".into(),
    ];
    for v in versions {
        args.push("--os-version".into());
        args.push(v.to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = pv(&args);
    assert_code(&o, 0);
    root_ref(dir)
}

fn publish(py: &Path, base: &Path, out: &Path, variant: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/publish_independent.py");
    let o = Command::new(py)
        .arg(&script)
        .arg("--base")
        .arg(base)
        .arg("--out")
        .arg(out)
        .args(variant)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "publisher failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn rebuild_json(image: &Path, base: &str, extra: &[&str], code: i32) -> Value {
    let mut args = vec![
        "rebuild".to_string(),
        "--image".into(),
        format!("oci:{}", image.display()),
        "--base".into(),
        base.to_string(),
        "--json".into(),
        "-q".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = pv(&args);
    assert_code(&o, code);
    let v: Value = serde_json::from_str(&stdout(&o)).expect("one JSON document");
    validate_schema(&v);
    v
}

fn changes<'a>(p: &'a Value, list: &str) -> &'a Vec<Value> {
    p[list].as_array().unwrap()
}

fn has_rule(p: &Value, rule: &str) -> bool {
    changes(p, "noise").iter().any(|c| c["rule"] == rule)
}

#[test]
fn independent_publisher_is_equivalent_with_noise_listed_and_broken_variants_differ() {
    let Some(py) = hivex_python() else { return };
    let t = tempfile::tempdir().unwrap();
    let base = fixture(&t.path().join("base"), &[V2022], &[]);
    let good = t.path().join("good");
    publish(&py, &t.path().join("base"), &good, &[]);

    // EQUIVALENT, every kind of noise the publisher added named by its rule.
    let r = rebuild_json(&good, &base, &[], 0);
    assert_eq!(r["kind"], "rebuild");
    assert_eq!(r["verdict"], "EQUIVALENT");
    let p = &r["platforms"][0];
    assert_eq!(p["verdict"], "EQUIVALENT", "{:#}", p["reasons"]);
    assert_eq!(p["base"]["ok"], true);
    assert_eq!(p["registryMode"], "effective");
    for rule in [
        "sys-container-id",
        "sys-computer-name",
        "sys-rng-aux-seed",
        "sys-lsa-pid",
        "file-event-logs",
        "file-user-profiles",
        "noise-parent-dir",
        "tar-entry-order",
    ] {
        assert!(
            has_rule(p, rule),
            "noise rule {rule} not listed: {:#}",
            p["noise"]
        );
    }
    assert!(changes(p, "unexplained").is_empty());
    assert!(
        p["recipeEdits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"] == "present")
    );
    // The classic builder's USER layers paired as metadata layers.
    let layers = p["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 5);
    assert!(
        layers
            .iter()
            .any(|l| l["step"] == "USER ContainerAdministrator" && l["verdict"] == "EQUIVALENT")
    );

    // --strict: the same image is DIFFERENT (noise counts, times compared).
    let r = rebuild_json(&good, &base, &["--strict"], 1);
    assert_eq!(r["platforms"][0]["verdict"], "DIFFERENT");
    assert!(
        changes(&r["platforms"][0], "noise")
            .iter()
            .any(|c| c["rule"] == "tar-times")
    );

    // EnableDCOM "Y": DIFFERENT, naming the key and both values.
    let bad = t.path().join("dcom");
    publish(&py, &t.path().join("base"), &bad, &["--enable-dcom", "Y"]);
    let r = rebuild_json(&bad, &base, &[], 1);
    let p = &r["platforms"][0];
    assert_eq!(p["verdict"], "DIFFERENT");
    let c = changes(p, "unexplained")
        .iter()
        .find(|c| c["field"] == "EnableDCOM")
        .expect("EnableDCOM change");
    assert_eq!(c["path"], "Software\\Microsoft\\Ole");
    assert_eq!(c["expected"], "REG_SZ \"N\"");
    assert!(
        c["actual"].as_str().unwrap().starts_with("REG_SZ \"Y\""),
        "{c}"
    );
    let e = p["recipeEdits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "EnableDCOM")
        .unwrap();
    assert_eq!(e["status"], "altered");

    // DiagTrack not deleted: DIFFERENT, the recipe's deleteKey missing.
    let bad = t.path().join("diag");
    publish(&py, &t.path().join("base"), &bad, &["--keep-diagtrack"]);
    let r = rebuild_json(&bad, &base, &[], 1);
    let p = &r["platforms"][0];
    let e = p["recipeEdits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "deleteKey")
        .unwrap();
    assert_eq!(e["status"], "missing");
    assert!(e["path"].as_str().unwrap().ends_with("DiagTrack"));
    assert!(changes(p, "unexplained").iter().any(|c| {
        c["path"].as_str().unwrap().ends_with("Services\\DiagTrack") && c["change"] == "missing"
    }));
}

#[test]
fn unexplained_change_is_reported_and_different_by_default_and_under_strict() {
    let Some(py) = hivex_python() else { return };
    let t = tempfile::tempdir().unwrap();
    let base = fixture(&t.path().join("base"), &[V2022], &[]);
    let bad = t.path().join("extra");
    publish(&py, &t.path().join("base"), &bad, &["--extra-change"]);
    for extra in [&[][..], &["--strict"][..]] {
        let r = rebuild_json(&bad, &base, extra, 1);
        let p = &r["platforms"][0];
        assert_eq!(p["verdict"], "DIFFERENT", "{extra:?}");
        let un = changes(p, "unexplained");
        assert!(
            un.iter().any(
                |c| c["path"] == "Software\\Microsoft\\Windows\\CurrentVersion\\Run"
                    && c["field"] == "Updater"
                    && c["class"] == "unexplained"
            ),
            "{un:#?}"
        );
        assert!(un.iter().any(|c| c["path"] == "Files/tools/x.exe"));
        // The recipe's own edits are still all there.
        assert!(
            p["recipeEdits"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["status"] == "present")
        );
    }
    // Human report names the change.
    let o = pv([
        "rebuild",
        "--image",
        &format!("oci:{}", bad.display()),
        "--base",
        &base,
    ]);
    assert_code(&o, 1);
    assert!(stdout(&o).contains("unexplained"), "{}", stdout(&o));
    assert!(stdout(&o).contains("CurrentVersion\\Run"));
}

#[test]
fn build_output_is_identical_and_another_base_is_a_base_mismatch() {
    let t = tempfile::tempdir().unwrap();
    let base = fixture(&t.path().join("base"), &[V2022], &[]);
    let built = t.path().join("built");
    let o = pv([
        "build",
        "--base",
        &base,
        "--out",
        &built.display().to_string(),
        "-q",
    ]);
    assert_code(&o, 0);
    let r = rebuild_json(
        &built,
        &base,
        &["--out", &t.path().join("kept").display().to_string()],
        0,
    );
    assert_eq!(r["verdict"], "IDENTICAL");
    assert_eq!(
        r["platforms"][0]["publishedManifest"],
        r["platforms"][0]["rebuiltManifest"]
    );
    // --out kept the rebuilt image: a layout whose root is what the report names.
    let kept_root = root_ref(&t.path().join("kept"));
    assert!(kept_root.ends_with(r["rebuilt"]["digest"].as_str().unwrap()));

    // The same recipe over another base (same os.version, other content).
    let other = fixture(&t.path().join("other"), &[V2022], &["--no-rpc"]);
    let built2 = t.path().join("built2");
    let o = pv([
        "build",
        "--base",
        &other,
        "--out",
        &built2.display().to_string(),
        "-q",
    ]);
    assert_code(&o, 0);
    let r = rebuild_json(&built2, &base, &[], 1);
    let p = &r["platforms"][0];
    assert_eq!(p["verdict"], "DIFFERENT");
    let reason = p["base"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("base mismatch"), "{reason}");
    let l = &p["base"]["layers"][0];
    assert_ne!(l["pinnedDigest"], l["publishedDigest"]);
    assert!(reason.contains(l["pinnedDigest"].as_str().unwrap()));
    assert!(reason.contains(l["publishedDigest"].as_str().unwrap()));

    // An unpinned --base is a usage error.
    let unpinned = format!("oci:{}", t.path().join("base").display());
    let o = pv([
        "rebuild",
        "--image",
        &format!("oci:{}", built.display()),
        "--base",
        &unpinned,
    ]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("pinned by digest"), "{}", stderr(&o));
}

#[test]
fn three_platforms_in_one_run_and_one_broken_platform_is_named() {
    let Some(py) = hivex_python() else { return };
    let t = tempfile::tempdir().unwrap();
    let versions = [V2019, V2022, V2025];
    let base = fixture(&t.path().join("base"), &versions, &[]);
    let good = t.path().join("good");
    publish(&py, &t.path().join("base"), &good, &[]);
    let r = rebuild_json(&good, &base, &[], 0);
    let plats = r["platforms"].as_array().unwrap();
    assert_eq!(plats.len(), 3);
    for (p, v) in plats.iter().zip(versions) {
        assert_eq!(p["osVersion"], v);
        assert_eq!(p["verdict"], "EQUIVALENT", "{v}: {:#}", p["reasons"]);
    }
    let bad = t.path().join("bad");
    publish(
        &py,
        &t.path().join("base"),
        &bad,
        &["--enable-dcom", "Y", "--broken-os-version", V2025],
    );
    let o = pv([
        "rebuild",
        "--image",
        &format!("oci:{}", bad.display()),
        "--base",
        &base,
    ]);
    assert_code(&o, 1);
    let text = stdout(&o);
    let row = text
        .lines()
        .find(|l| l.starts_with(&format!("windows/amd64:{V2025}")))
        .expect("summary row");
    assert!(row.contains("DIFFERENT"), "{text}");
    for v in [V2019, V2022] {
        let row = text
            .lines()
            .find(|l| l.starts_with(&format!("windows/amd64:{v}")))
            .unwrap();
        assert!(row.contains("EQUIVALENT"), "{text}");
    }
}

#[test]
fn pins_file_finds_the_base_and_an_unpinned_os_version_is_a_base_mismatch() {
    let Some(py) = hivex_python() else { return };
    let t = tempfile::tempdir().unwrap();
    let base_dir = t.path().join("base");
    let base = fixture(&base_dir, &[V2022], &[]);
    // The base's manifest and layer, as a pin.
    let o = pv(["inspect", &base, "--json"]);
    assert_code(&o, 0);
    let ins: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let layer = &ins["layers"][0];
    let pins = t.path().join("pins.toml");
    std::fs::write(
        &pins,
        format!(
            "schemaVersion = \"1\"\n[[pin]]\nname = \"synthetic-ltsc2022\"\nosVersion = \"{V2022}\"\nimage = \"{base}\"\nsynthetic = true\n[[pin.layers]]\ndigest = \"{}\"\nsize = {}\n",
            layer["digest"].as_str().unwrap(),
            layer["size"]
        ),
    )
    .unwrap();
    let good = t.path().join("good");
    publish(&py, &base_dir, &good, &[]);
    let o = pv([
        "rebuild",
        "--image",
        &format!("oci:{}", good.display()),
        "--pins",
        &pins.display().to_string(),
        "--json",
    ]);
    assert_code(&o, 0);
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    validate_schema(&r);
    assert_eq!(r["platforms"][0]["base"]["source"], "pins");
    assert_eq!(r["platforms"][0]["base"]["reference"], "synthetic-ltsc2022");

    // A pins file without this os.version: base mismatch, exit 1.
    std::fs::write(
        &pins,
        std::fs::read_to_string(&pins)
            .unwrap()
            .replace(V2022, "10.0.20348.1"),
    )
    .unwrap();
    let o = pv([
        "rebuild",
        "--image",
        &format!("oci:{}", good.display()),
        "--pins",
        &pins.display().to_string(),
    ]);
    assert_code(&o, 1);
    assert!(stdout(&o).contains("base mismatch: no pin for os.version"));
}

#[test]
fn checked_in_synthetic_pins_are_what_the_fixture_generator_writes() {
    let pins = pause_verify::compare::pins::Pins::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("attestations/pins.toml"),
    )
    .unwrap();
    let t = tempfile::tempdir().unwrap();
    let synthetic: Vec<_> = pins.pins.iter().filter(|p| p.synthetic).collect();
    assert_eq!(synthetic.len(), 3);
    for pin in synthetic {
        let dir = t.path().join(&pin.name);
        fixture(&dir, &[&pin.os_version], &[]);
        let o = pv([
            "inspect",
            &format!("oci:{}", dir.display()),
            "--platform",
            "windows/amd64",
            "--json",
        ]);
        assert_code(&o, 0);
        let ins: Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(
            ins["manifest"]["digest"].as_str(),
            pin.manifest.as_ref().map(|d| d.to_string()).as_deref(),
            "{}",
            pin.name
        );
        assert_eq!(ins["layers"][0]["digest"], pin.layers[0].digest.to_string());
        assert_eq!(ins["layers"][0]["size"], pin.layers[0].size);
        assert_eq!(
            ins["config"]["diffIds"][0],
            pin.layers[0].diff_id.as_ref().unwrap().to_string()
        );
    }
    // --base plus --pins: a base that is not the pinned one for its os.version is refused.
    let other = fixture(&t.path().join("other"), &[V2022], &["--no-ole"]);
    let built = t.path().join("built");
    assert_code(
        &pv([
            "build",
            "--base",
            &other,
            "--out",
            &built.display().to_string(),
            "-q",
        ]),
        0,
    );
    let o = pv([
        "rebuild",
        "--image",
        &format!("oci:{}", built.display()),
        "--base",
        &other,
        "--pins",
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("attestations/pins.toml")
            .display()
            .to_string(),
    ]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("synthetic-ltsc2022"), "{}", stderr(&o));
}

#[test]
fn diff_compares_two_given_images() {
    let Some(py) = hivex_python() else { return };
    let t = tempfile::tempdir().unwrap();
    let base = fixture(&t.path().join("base"), &[V2022], &[]);
    let built = t.path().join("built");
    assert_code(
        &pv([
            "build",
            "--base",
            &base,
            "--out",
            &built.display().to_string(),
            "--metadata-layers",
            "-q",
        ]),
        0,
    );
    let good = t.path().join("good");
    publish(&py, &t.path().join("base"), &good, &[]);
    let a = format!("oci:{}", built.display());
    let o = pv(["diff", &a, &format!("oci:{}", good.display()), "--json"]);
    assert_code(&o, 0);
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    validate_schema(&r);
    assert_eq!(r["kind"], "diff");
    assert_eq!(r["platforms"][0]["registryMode"], "delta");
    assert_eq!(r["platforms"][0]["verdict"], "EQUIVALENT");
    let bad = t.path().join("bad");
    publish(&py, &t.path().join("base"), &bad, &["--enable-dcom", "Y"]);
    let o = pv(["diff", &a, &format!("oci:{}", bad.display())]);
    assert_code(&o, 1);
    assert!(stdout(&o).contains("EnableDCOM"));
    // Same image twice: IDENTICAL.
    let o = pv(["diff", &a, &a]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("verdict: IDENTICAL"));
}

// ---------------------------------------------------------------------------------------
// A JSON Schema (2020-12 subset: type, const, enum, required, properties,
// additionalProperties: false, items, oneOf, $ref to #/$defs, minimum, and the one
// pattern the schema uses) checker, so the documented schema file is what the output is
// held against, not our own serde types.

fn validate_schema(doc: &Value) {
    let schema: Value = serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/compare-report.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut errors = Vec::new();
    check(&schema, &schema, doc, "$", &mut errors);
    assert!(errors.is_empty(), "schema violations: {errors:#?}");
}

fn check(root: &Value, s: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/$defs/").expect("local $ref");
        return check(root, &root["$defs"][name], v, at, errs);
    }
    if let Some(alts) = s.get("oneOf").and_then(Value::as_array) {
        let ok = alts
            .iter()
            .filter(|a| {
                let mut e = Vec::new();
                check(root, a, v, at, &mut e);
                e.is_empty()
            })
            .count();
        if ok != 1 {
            errs.push(format!("{at}: matches {ok} of oneOf"));
        }
        return;
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        errs.push(format!("{at}: {v} is not {c}"));
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        errs.push(format!("{at}: {v} not in {e:?}"));
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(x) => vec![x.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let is = |ty: &str| match ty {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_u64() || v.is_i64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            other => panic!("unsupported type {other}"),
        };
        if !types.iter().any(|t| is(t)) {
            errs.push(format!("{at}: {v} is not {types:?}"));
            return;
        }
    }
    if let Some(p) = s.get("pattern").and_then(Value::as_str) {
        assert_eq!(p, "^sha256:[0-9a-f]{64}$", "unsupported pattern");
        let ok = v
            .as_str()
            .and_then(|x| x.strip_prefix("sha256:"))
            .is_some_and(|h| {
                h.len() == 64
                    && h.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            });
        if !ok {
            errs.push(format!("{at}: {v} is not a sha256 digest"));
        }
    }
    if let Some(m) = s.get("minimum").and_then(Value::as_i64)
        && v.as_i64().is_some_and(|x| x < m)
    {
        errs.push(format!("{at}: {v} < {m}"));
    }
    if let Some(obj) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        if let Some(req) = s.get("required").and_then(Value::as_array) {
            for r in req {
                let r = r.as_str().unwrap();
                if !obj.contains_key(r) {
                    errs.push(format!("{at}: missing required {r}"));
                }
            }
        }
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check(root, ps, val, &format!("{at}.{k}"), errs),
                None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errs.push(format!("{at}: unexpected property {k}"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            check(root, items, x, &format!("{at}[{i}]"), errs);
        }
    }
}

#[test]
fn schema_checker_rejects_what_it_should() {
    // The checker itself: a valid minimal document passes, broken ones do not.
    let d = "sha256:".to_string() + &"a".repeat(64);
    let ok = serde_json::json!({
        "schemaVersion": "1", "kind": "diff", "toolVersion": "x",
        "published": {"reference": "r", "digest": d, "mediaType": "m"},
        "rebuilt": null, "strict": false, "noiseRulesVersion": "1",
        "verdict": "IDENTICAL", "platforms": []
    });
    validate_schema(&ok);
    for (k, bad) in [
        ("verdict", serde_json::json!("SAME")),
        ("schemaVersion", serde_json::json!(1)),
        ("extra", serde_json::json!(true)),
    ] {
        let mut doc = ok.clone();
        doc[k] = bad;
        let r = std::panic::catch_unwind(|| validate_schema(&doc));
        assert!(r.is_err(), "{k} should be rejected");
    }
}
