//! `pause-verify build` end to end against the synthetic NanoServer: determinism across
//! directories, TZ, umask and wall clock; what SOURCE_DATE_EPOCH changes; validity for
//! skopeo, Python tarfile, hivex and regipy; recipe checkouts vs the built-in default.

use crate::common;

use common::{assert_code, pv, stderr, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The upstream recipe, as the test writes a checkout of it (bytes of
/// microsoft/windows-pause-image-base's Dockerfile and binaries/keylight.reg).
const DOCKERFILE: &str = "ARG OSVERSION\n# Notice this image has license terms/requirements \u{2013} see https://docs.microsoft.com/en-us/virtualization/windowscontainers/images-eula\nFROM mcr.microsoft.com/windows/nanoserver:${OSVERSION}-amd64\nCOPY binaries /tools\nUSER ContainerAdministrator\nRUN reg import tools\\keylight.reg\n# Delete DiagTrack service as it causes CPU spikes and delays pod/container startup times.\nRUN sc.exe delete diagtrack -f\nUSER ContainerUser\n";
const KEYLIGHT: &str = "Windows Registry Editor Version 5.00\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\rpc]\n\"DCOM Protocols\"=hex(7):00,00\n\"UuidSequenceNumber\"=dword:01bcf674\n\"EpMapDisallowedProtocols\"=\"ncacn_ip_tcp\"\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ole]\n\"EnableDCOM\"=\"N\"";

/// The fixture's clock (fixture::CREATED, whole seconds).
const BASE_CREATED: i64 = 1_731_126_731;
const USERS_SD: &str = "AQAAgBQAAAAkAAAAAAAAAAAAAAABAgAAAAAABSAAAAAhAgAAAQIAAAAAAAUgAAAAIQIAAA==";

pub fn fixture(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "--json".to_string(),
        "fixture".into(),
        "nanoserver".into(),
        "--out".into(),
        dir.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = pv(&args);
    assert_code(&o, 0);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    v["reference"].as_str().unwrap().to_string()
}

fn build_cmd(base: &str, out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(common::bin());
    c.args(["--json", "build", "--base", base, "--out"])
        .arg(out)
        .args(extra)
        .env_remove("SOURCE_DATE_EPOCH");
    c
}

fn run_json(mut c: Command) -> Value {
    let o = c.output().unwrap();
    assert_code(&o, 0);
    serde_json::from_str(&stdout(&o)).unwrap()
}

fn build(base: &str, out: &Path, extra: &[&str]) -> Value {
    run_json(build_cmd(base, out, extra))
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

fn new_layers(b: &Value) -> Vec<Value> {
    b["builds"][0]["layers"].as_array().unwrap().clone()
}

/// Every blob of a layout: name → bytes.
fn blobs(layout: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn same_inputs_same_bytes_across_dirs_tz_umask_and_time() {
    let t = tempfile::tempdir().unwrap();
    let base = fixture(&t.path().join("base"), &[]);
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let a_out = a_dir.path().join("deep/er/out-a");
    std::fs::create_dir_all(a_out.parent().unwrap()).unwrap();
    let mut c = build_cmd(&base, &a_out, &[]);
    c.env("TZ", "Pacific/Kiritimati");
    let a = run_json(c);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // Second build: other directory, other TZ, umask 077, a second later.
    let b_out = b_dir.path().join("out-b");
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("umask 077; exec \"$0\" \"$@\"")
        .arg(common::bin())
        .args(["--json", "build", "--base", &base, "--out"])
        .arg(&b_out)
        .env("TZ", "America/St_Johns")
        .env_remove("SOURCE_DATE_EPOCH");
    let b = run_json(c);
    assert_eq!(a["root"]["digest"], b["root"]["digest"]);
    assert_eq!(
        a["builds"][0]["manifest"]["digest"],
        b["builds"][0]["manifest"]["digest"]
    );
    assert_eq!(blobs(&a_out), blobs(&b_out), "every blob byte-identical");
    assert_eq!(
        std::fs::read(a_out.join("index.json")).unwrap(),
        std::fs::read(b_out.join("index.json")).unwrap()
    );
    // The clock is the base's created time, not the wall clock.
    assert_eq!(a["builds"][0]["clock"]["source"], "base-created");
    assert_eq!(a["builds"][0]["clock"]["created"], "2024-11-09T04:32:11Z");
}

fn py_tar_listing(python: &Path, blob: &Path) -> Value {
    let code = r#"
import tarfile, sys, json
out = []
with tarfile.open(sys.argv[1], 'r:gz') as t:
    for m in t.getmembers():
        out.append({"name": m.name, "type": m.type.decode(), "size": m.size, "mode": m.mode,
                    "uid": m.uid, "gid": m.gid, "uname": m.uname, "gname": m.gname,
                    "mtime": m.mtime, "pax": dict(sorted(m.pax_headers.items()))})
print(json.dumps(out))
"#;
    let o = Command::new(python)
        .args(["-c", code])
        .arg(blob)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The entry Python's tarfile must see: times all `t`, Windows metadata as hcsshim writes it.
fn entry(name: &str, dir: bool, size: u64, sd: bool, t: i64) -> Value {
    let mut pax = serde_json::json!({
        "LIBARCHIVE.creationtime": t.to_string(),
        "MSWINDOWS.fileattr": if dir { "16" } else { "32" },
        "atime": t.to_string(),
        "ctime": t.to_string(),
    });
    if sd {
        pax["MSWINDOWS.rawsd"] = USERS_SD.into();
    }
    serde_json::json!({
        "name": name, "type": if dir { "5" } else { "0" }, "size": size,
        "mode": if dir { 0o40000 } else { 0o100000 },
        "uid": 0, "gid": 0, "uname": "", "gname": "", "mtime": t, "pax": pax,
    })
}

fn expected_layers(t: i64, software_size: u64, system_size: u64) -> Vec<Value> {
    vec![
        serde_json::json!([
            entry("Files", true, 0, false, t),
            entry("Files/tools", true, 0, true, t),
            entry(
                "Files/tools/keylight.reg",
                false,
                KEYLIGHT.len() as u64,
                true,
                t
            ),
            entry("Hives", true, 0, false, t),
        ]),
        serde_json::json!([
            entry("Files", true, 0, false, t),
            entry("Hives", true, 0, false, t),
            entry("Hives/Software_Delta", false, software_size, false, t),
        ]),
        serde_json::json!([
            entry("Files", true, 0, false, t),
            entry("Hives", true, 0, false, t),
            entry("Hives/System_Delta", false, system_size, false, t),
        ]),
    ]
}

fn extract(blob: &Path, name: &str, to: &Path) -> PathBuf {
    let data = std::fs::read(blob).unwrap();
    let tar = flate2::read::GzDecoder::new(&data[..]);
    let mut ar = tar::Archive::new(tar);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some(name) {
            let p = to.join(name.replace('/', "_"));
            let mut f = std::fs::File::create(&p).unwrap();
            std::io::copy(&mut e, &mut f).unwrap();
            return p;
        }
    }
    panic!("{name} not in {}", blob.display());
}

#[test]
fn output_is_valid_for_skopeo_tarfile_hivex_and_regipy() {
    let t = tempfile::tempdir().unwrap();
    let base = fixture(&t.path().join("base"), &[]);
    let out = t.path().join("out");
    let b = build(&base, &out, &[]);

    if let Some(skopeo) = common::need_tool("skopeo") {
        let o = Command::new(&skopeo)
            .args(["inspect", "--override-os", "windows"])
            .arg(format!("oci:{}", out.display()))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["Os"], "windows");
        assert_eq!(v["Layers"].as_array().unwrap().len(), 4);
        let o = Command::new(&skopeo)
            .args(["copy", "-q", "--all"])
            .arg(format!("oci:{}", out.display()))
            .arg(format!("oci:{}", t.path().join("copied").display()))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // skopeo converts the manifests to OCI for an OCI destination, but carries every
        // layer blob over byte for byte.
        for l in new_layers(&b) {
            let d = l["descriptor"]["digest"].as_str().unwrap();
            assert_eq!(
                std::fs::read(blob(&t.path().join("copied"), d)).unwrap(),
                std::fs::read(blob(&out, d)).unwrap()
            );
        }
    }

    let layers = new_layers(&b);
    assert_eq!(layers.len(), 3);
    let scratch = t.path().join("x");
    std::fs::create_dir(&scratch).unwrap();
    let sw = extract(
        &blob(&out, layers[1]["descriptor"]["digest"].as_str().unwrap()),
        "Hives/Software_Delta",
        &scratch,
    );
    let sy = extract(
        &blob(&out, layers[2]["descriptor"]["digest"].as_str().unwrap()),
        "Hives/System_Delta",
        &scratch,
    );
    let want = expected_layers(
        BASE_CREATED,
        std::fs::metadata(&sw).unwrap().len(),
        std::fs::metadata(&sy).unwrap().len(),
    );
    if common::need("python3", common::which("python3").is_some()) {
        for (l, w) in layers.iter().zip(&want) {
            let got = py_tar_listing(
                Path::new("python3"),
                &blob(&out, l["descriptor"]["digest"].as_str().unwrap()),
            );
            assert_eq!(&got, w, "layer {}", l["createdBy"]);
        }
    }
    // The delta hives' sizes are what the config said (4096 base block + bins).
    assert_eq!(std::fs::metadata(&sw).unwrap().len() % 4096, 0);

    // Layer semantics, by our hive engine.
    let o = pv(["hive", "dump", "--json", sw.to_str().unwrap()]);
    assert_code(&o, 0);
    let d: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let keys: Vec<(String, String)> = d["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["path"].as_str().unwrap().to_string(),
                k["layerByte"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // rpc and ole exist in the base: pass-through (0x80), with the base's name casing.
    assert_eq!(
        keys,
        [
            ("".to_string(), "0x00".to_string()),
            ("Microsoft".into(), "0x80".into()),
            ("Microsoft\\Ole".into(), "0x80".into()),
            ("Microsoft\\Rpc".into(), "0x80".into()),
        ]
    );
    let o = pv(["hive", "dump", "--json", sy.to_str().unwrap()]);
    let d: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let last = d["keys"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["path"], "ControlSet001\\Services\\DiagTrack");
    assert_eq!(last["layerByte"], "0x01");
    assert_eq!(d["summary"]["keys"], 4);

    // Keys and values, by hivex (system python3-hivex).
    if common::need(
        "python3 with hivex (python3-hivex)",
        Command::new("/usr/bin/python3")
            .args(["-c", "import hivex"])
            .status()
            .is_ok_and(|s| s.success()),
    ) {
        let code = r#"
import hivex, sys, json
def walk(h, n, path, out):
    vals = [[h.value_key(v), h.value_value(v)[0], h.value_value(v)[1].hex()] for v in h.node_values(n)]
    out.append([path, vals])
    for c in h.node_children(n):
        walk(h, c, (path + "\\" if path else "") + h.node_name(c), out)
for f in sys.argv[1:]:
    h = hivex.Hivex(f)
    out = []
    walk(h, h.root(), "", out)
    print(json.dumps(out))
"#;
        let o = Command::new("/usr/bin/python3")
            .args(["-c", code])
            .arg(&sw)
            .arg(&sy)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8(o.stdout).unwrap();
        let mut lines = text.lines();
        let got_sw: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        let got_sy: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(
            got_sw,
            serde_json::json!([
                ["", []],
                ["Microsoft", []],
                ["Microsoft\\Ole", [["EnableDCOM", 1, "4e000000"]]],
                [
                    "Microsoft\\Rpc",
                    [
                        ["DCOM Protocols", 7, "0000"],
                        ["UuidSequenceNumber", 4, "74f6bc01"],
                        [
                            "EpMapDisallowedProtocols",
                            1,
                            "6e006300610063006e005f00690070005f007400630070000000"
                        ]
                    ]
                ]
            ])
        );
        assert_eq!(
            got_sy,
            serde_json::json!([
                ["", []],
                ["ControlSet001", []],
                ["ControlSet001\\Services", []],
                ["ControlSet001\\Services\\DiagTrack", []]
            ])
        );
    }

    // And by regipy (venv).
    let py = common::python();
    if common::need("python regipy", common::python_has(&["regipy"])) {
        let code = r#"
import sys, json
from regipy.registry import RegistryHive
r = RegistryHive(sys.argv[1])
out = {}
for p in ["\\Microsoft\\Rpc", "\\Microsoft\\Ole"]:
    out[p] = [[v.name, v.value_type, v.value] for v in r.get_key(p).get_values()]
s = RegistryHive(sys.argv[2])
out["services"] = [k.name for k in s.get_key("\\ControlSet001\\Services").iter_subkeys()]
print(json.dumps(out))
"#;
        let o = Command::new(&py)
            .args(["-c", code])
            .arg(&sw)
            .arg(&sy)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "\\Microsoft\\Rpc": [
                    ["DCOM Protocols", "REG_MULTI_SZ", []],
                    ["UuidSequenceNumber", "REG_DWORD", 29161076],
                    ["EpMapDisallowedProtocols", "REG_SZ", "ncacn_ip_tcp"]
                ],
                "\\Microsoft\\Ole": [["EnableDCOM", "REG_SZ", "N"]],
                "services": ["DiagTrack"]
            })
        );
    }

    // Config: os fields from the base, User, history in Docker's style, diff_ids.
    let cfg: Value = serde_json::from_slice(
        &std::fs::read(blob(
            &out,
            b["builds"][0]["config"]["digest"].as_str().unwrap(),
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(cfg["os"], "windows");
    assert_eq!(cfg["architecture"], "amd64");
    assert_eq!(cfg["os.version"], "10.0.20348.2849");
    assert_eq!(cfg["config"]["User"], "ContainerUser");
    assert_eq!(cfg["created"], "2024-11-09T04:32:11Z");
    let hist: Vec<(String, bool)> = cfg["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["created_by"].as_str().unwrap().to_string(),
                h["empty_layer"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(hist[0], ("Apply image 10.0.20348.2849".to_string(), false));
    assert!(
        hist[1].0.starts_with("cmd /S /C #(nop) COPY dir:") && hist[1].0.ends_with(" in \\tools ")
    );
    assert_eq!(
        hist[2..],
        [
            (
                "cmd /S /C #(nop)  USER ContainerAdministrator".to_string(),
                true
            ),
            ("cmd /S /C reg import tools\\keylight.reg".into(), false),
            ("cmd /S /C sc.exe delete diagtrack -f".into(), false),
            ("cmd /S /C #(nop)  USER ContainerUser".into(), true),
        ]
    );
    assert_eq!(cfg["rootfs"]["diff_ids"].as_array().unwrap().len(), 4);
    // Media types follow the (Docker schema2) base.
    let m: Value = serde_json::from_slice(
        &std::fs::read(blob(
            &out,
            b["builds"][0]["manifest"]["digest"].as_str().unwrap(),
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        m["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.docker.container.image.v1+json"
    );
    for l in m["layers"].as_array().unwrap() {
        assert_eq!(
            l["mediaType"],
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        );
    }
    assert_eq!(b["builds"][0]["compressor"]["level"], 6);
    assert_eq!(b["builds"][0]["baseView"]["rule"], "base-layers");
}

#[test]
fn source_date_epoch_changes_times_only() {
    let t = tempfile::tempdir().unwrap();
    let base = fixture(&t.path().join("base"), &[]);
    let a_out = t.path().join("a");
    let b_out = t.path().join("b");
    let a = build(&base, &a_out, &[]);
    let mut c = build_cmd(&base, &b_out, &[]);
    c.env("SOURCE_DATE_EPOCH", "1700000000");
    let b = run_json(c);
    let (ab, bb) = (&a["builds"][0], &b["builds"][0]);
    assert_eq!(bb["clock"]["source"], "SOURCE_DATE_EPOCH");
    assert_eq!(bb["clock"]["created"], "2023-11-14T22:13:20Z");
    // Base layer: same blob. Config, manifest and every new layer: different.
    assert_eq!(ab["base"]["layers"], bb["base"]["layers"]);
    assert_ne!(ab["config"]["digest"], bb["config"]["digest"]);
    assert_ne!(ab["manifest"]["digest"], bb["manifest"]["digest"]);
    let (la, lb) = (new_layers(&a), new_layers(&b));
    for (x, y) in la.iter().zip(&lb) {
        assert_ne!(x["diffId"], y["diffId"]);
        assert_eq!(x["entries"], y["entries"]);
    }
    // What differs inside the layers is times only: tar times and hive key timestamps.
    if common::need("python3", common::which("python3").is_some()) {
        let scratch = tempfile::tempdir().unwrap();
        for (i, (x, y)) in la.iter().zip(&lb).enumerate() {
            let bx = blob(&a_out, x["descriptor"]["digest"].as_str().unwrap());
            let by = blob(&b_out, y["descriptor"]["digest"].as_str().unwrap());
            let (mut ex, mut ey) = (
                py_tar_listing(Path::new("python3"), &bx),
                py_tar_listing(Path::new("python3"), &by),
            );
            for (e, tt) in [(&mut ex, BASE_CREATED), (&mut ey, 1_700_000_000)] {
                for m in e.as_array_mut().unwrap() {
                    assert_eq!(m["mtime"], tt);
                    m["mtime"] = 0.into();
                    for k in ["LIBARCHIVE.creationtime", "atime", "ctime"] {
                        assert_eq!(m["pax"][k], tt.to_string());
                        m["pax"][k] = "T".into();
                    }
                }
            }
            assert_eq!(ex, ey, "layer {i}: only times differ");
            if i > 0 {
                let name = if i == 1 {
                    "Hives/Software_Delta"
                } else {
                    "Hives/System_Delta"
                };
                let hx = extract(&bx, name, &scratch.path().join("x").tap_mkdir());
                let hy = extract(&by, name, &scratch.path().join("y").tap_mkdir());
                let dump = |p: &Path| -> Value {
                    let o = pv(["hive", "dump", "--json", p.to_str().unwrap()]);
                    assert_code(&o, 0);
                    serde_json::from_str(&stdout(&o)).unwrap()
                };
                let (mut dx, mut dy) = (dump(&hx), dump(&hy));
                for (d, tt) in [(&mut dx, BASE_CREATED), (&mut dy, 1_700_000_000)] {
                    let ft = (tt as u64 + 11_644_473_600) * 10_000_000;
                    d["file"] = "".into();
                    let base_ft = (BASE_CREATED as u64 + 11_644_473_600) * 10_000_000;
                    // Parents of a created or deleted key changed their subkey list.
                    let changed_parents: Vec<String> = d["keys"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|k| k["layerByte"] == "0x01" || k["layerByte"] == "0x03")
                        .map(|k| {
                            let p = k["path"].as_str().unwrap();
                            p.rsplit_once('\\').map_or("", |x| x.0).to_string()
                        })
                        .collect();
                    for k in d["keys"].as_array_mut().unwrap() {
                        let ts = k["timestamp"].as_u64().unwrap();
                        // Keys the layer changes (values set, subkeys added or deleted, the
                        // root) take the clock; a pass-through key keeps its base
                        // timestamp; a tombstone has 0.
                        if k["layerByte"] == "0x01" {
                            assert_eq!(ts, 0);
                        } else if !k["values"].as_array().unwrap().is_empty()
                            || k["path"] == ""
                            || changed_parents.iter().any(|p| k["path"] == p.as_str())
                        {
                            assert_eq!(ts, ft, "{}", k["path"]);
                        } else {
                            assert_eq!(ts, base_ft, "{}", k["path"]);
                        }
                        k["timestamp"] = 0.into();
                    }
                }
                assert_eq!(dx, dy, "{name}: only key timestamps differ");
            }
        }
    }
}

trait TapMkdir {
    fn tap_mkdir(self) -> PathBuf;
}
impl TapMkdir for PathBuf {
    fn tap_mkdir(self) -> PathBuf {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}

fn write_checkout(dir: &Path) {
    std::fs::create_dir_all(dir.join("binaries")).unwrap();
    std::fs::write(dir.join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(dir.join("binaries/keylight.reg"), KEYLIGHT).unwrap();
}

#[test]
fn recipe_checkout_builds_the_builtin_image() {
    let t = tempfile::tempdir().unwrap();
    let base = fixture(&t.path().join("base"), &[]);
    let checkout = t.path().join("windows-pause-image-base");
    write_checkout(&checkout);
    let builtin = build(&base, &t.path().join("o1"), &[]);
    let from_dir = build(
        &base,
        &t.path().join("o2"),
        &["--recipe", checkout.to_str().unwrap()],
    );
    let from_file = build(
        &base,
        &t.path().join("o3"),
        &["--recipe", checkout.join("Dockerfile").to_str().unwrap()],
    );
    assert_eq!(builtin["root"]["digest"], from_dir["root"]["digest"]);
    assert_eq!(builtin["root"]["digest"], from_file["root"]["digest"]);
    assert_eq!(
        builtin["builds"][0]["recipe"]["digest"],
        from_dir["builds"][0]["recipe"]["digest"]
    );
    assert_eq!(builtin["builds"][0]["recipe"]["name"], "builtin");
    if let Some(up) = common::upstream_recipe() {
        let real = build(
            &base,
            &t.path().join("o4"),
            &["--recipe", up.to_str().unwrap()],
        );
        assert_eq!(builtin["root"]["digest"], real["root"]["digest"]);
    }
    // A changed .reg file changes the image.
    std::fs::write(
        checkout.join("binaries/keylight.reg"),
        KEYLIGHT.replace("\"N\"", "\"Y\""),
    )
    .unwrap();
    let changed = build(
        &base,
        &t.path().join("o5"),
        &["--recipe", checkout.to_str().unwrap()],
    );
    assert_ne!(builtin["root"]["digest"], changed["root"]["digest"]);
}

#[test]
fn multi_platform_base_builds_an_index_or_one_platform() {
    let t = tempfile::tempdir().unwrap();
    let vs = ["10.0.17763.3887", "10.0.20348.2849", "10.0.26100.2314"];
    let base = fixture(
        &t.path().join("base"),
        &[
            "--os-version",
            vs[0],
            "--os-version",
            vs[1],
            "--os-version",
            vs[2],
        ],
    );
    let all = build(&base, &t.path().join("all"), &[]);
    assert_eq!(all["builds"].as_array().unwrap().len(), 3);
    assert_eq!(
        all["root"]["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    let list: Value = serde_json::from_slice(
        &std::fs::read(blob(
            &t.path().join("all"),
            all["root"]["digest"].as_str().unwrap(),
        ))
        .unwrap(),
    )
    .unwrap();
    let got: Vec<&str> = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["os.version"].as_str().unwrap())
        .collect();
    assert_eq!(got, vs);
    for (i, b) in all["builds"].as_array().unwrap().iter().enumerate() {
        let cfg: Value = serde_json::from_slice(
            &std::fs::read(blob(
                &t.path().join("all"),
                b["config"]["digest"].as_str().unwrap(),
            ))
            .unwrap(),
        )
        .unwrap();
        assert_eq!(cfg["os.version"], vs[i]);
        assert_eq!(list["manifests"][i]["digest"], b["manifest"]["digest"]);
    }
    let one = build(
        &base,
        &t.path().join("one"),
        &["--platform", "windows/amd64:10.0.20348"],
    );
    assert_eq!(
        one["root"]["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        one["root"]["digest"],
        all["builds"][1]["manifest"]["digest"]
    );
}

#[test]
fn no_base_layers_and_metadata_layers() {
    let t = tempfile::tempdir().unwrap();
    let base = fixture(&t.path().join("base"), &[]);
    let out = t.path().join("nb");
    let b = build(&base, &out, &["--no-base-layers"]);
    let bb = &b["builds"][0];
    assert_eq!(bb["baseView"]["rule"], "assume-existing");
    let notes = bb["baseView"]["notes"].to_string();
    assert!(notes.contains("--no-base-layers"), "{notes}");
    assert!(notes.contains("sc.exe delete is not checked"), "{notes}");
    assert_eq!(bb["base"]["layers"][0]["read"], false);
    // The base layer blob is referenced, not copied.
    assert!(!blob(&out, bb["base"]["layers"][0]["digest"].as_str().unwrap()).exists());
    // The service name keeps the recipe's casing when the base is not at hand.
    assert_eq!(
        bb["deletedKeys"],
        serde_json::json!(["SYSTEM\\ControlSet001\\Services\\diagtrack"])
    );

    let m = build(&base, &t.path().join("ml"), &["--metadata-layers"]);
    let layers = new_layers(&m);
    assert_eq!(layers.len(), 5);
    assert_eq!(layers[1]["entries"], serde_json::json!(["Files", "Hives"]));
    assert!(
        m["builds"][0]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["emptyLayer"] == false)
    );
}

#[test]
fn human_report_names_what_it_did() {
    let t = tempfile::tempdir().unwrap();
    let base = fixture(&t.path().join("base"), &[]);
    let o = pv([
        "build",
        "--base",
        &base,
        "--out",
        t.path().join("h").to_str().unwrap(),
    ]);
    assert_code(&o, 0);
    let s = stdout(&o);
    for want in [
        "base view base-layers",
        "System_Delta    deleteKey ControlSet001\\Services\\DiagTrack",
        "flate2 (zlib-rs backend) level 6",
        "manifest  sha256:",
    ] {
        assert!(
            s.contains(want),
            "{want:?} missing from\n{s}\n{}",
            stderr(&o)
        );
    }
}
