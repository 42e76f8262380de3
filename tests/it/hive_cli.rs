//! `pause-verify hive dump|diff` end to end through the real binary.

use crate::common;

use common::{assert_code, pv, stderr, stdout};
use std::path::PathBuf;

fn fx(rel: &str) -> Option<PathBuf> {
    Some(common::fixtures()?.join("hives").join(rel))
}

#[test]
fn dump_json_shows_layers_and_tombstones() {
    let Some(f) = fx("yarp/System_Delta") else {
        return;
    };
    let o = pv(["hive", "dump", "--json"]
        .map(Into::into)
        .into_iter()
        .chain([f.into_os_string()]));
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["schemaVersion"], "1");
    assert_eq!(v["kind"], "hive-dump");
    assert_eq!(v["layered"], true);
    assert_eq!(v["summary"]["keys"], 586);
    assert_eq!(v["summary"]["tombstoneKeys"], 2);
    assert_eq!(v["summary"]["tombstoneValues"], 3);
    assert_eq!(v["summary"]["layerBytes"]["0x80"], 514);
    assert_eq!(v["summary"]["layerBytes"]["0x83"], 1);
    let keys = v["keys"].as_array().unwrap();
    let k = keys
        .iter()
        .find(|k| k["path"] == "ControlSet001\\Services\\XBOXGIP")
        .unwrap();
    assert_eq!(k["layer"]["semantics"], "tombstone");
    assert_eq!(k["layerByte"], "0x01");
    let x = keys
        .iter()
        .find(|k| k["path"] == "ControlSet001\\Services\\XboxNetApiSvc")
        .unwrap();
    let dn = x["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "displayname")
        .unwrap();
    assert_eq!(dn["tombstone"], true);
    let c = keys
        .iter()
        .find(|k| k["path"] == "ControlSet001\\Control")
        .unwrap();
    let ci = c["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "ContainerId")
        .unwrap();
    assert_eq!(ci["typeName"], "REG_SZ");
    assert_eq!(ci["text"], "A9AB3D85-47B5-56F9-8205-B04A5D26B08B");
}

#[test]
fn dump_human_marks_tombstones() {
    let Some(f) = fx("yarp/System_Delta") else {
        return;
    };
    let o = pv([
        std::ffi::OsString::from("hive"),
        "dump".into(),
        f.into_os_string(),
    ]);
    assert_code(&o, 0);
    let s = stdout(&o);
    assert!(
        s.contains("[\\ControlSet001\\Services\\XBOXGIP] tombstone (0x01) ts=0"),
        "{}",
        &s[..500]
    );
    assert!(s.contains("\"displayname\" (deleted: tombstone)"));
    assert!(
        s.contains("[\\ControlSet001\\Services\\xboxgipsvc] supersede-tree+inherit-class (0x83)")
    );
}

#[test]
fn diff_reports_changes_and_exit_codes() {
    let (Some(a), Some(b)) = (fx("yarp/StringValuesHive"), fx("yarp/BigDataHive")) else {
        return;
    };
    let same = pv([
        std::ffi::OsString::from("hive"),
        "diff".into(),
        a.clone().into(),
        a.clone().into(),
    ]);
    assert_code(&same, 0);
    let o = pv([
        std::ffi::OsString::from("hive"),
        "diff".into(),
        "--json".into(),
        a.into(),
        b.into(),
    ]);
    assert_code(&o, 1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["kind"], "hive-diff");
    assert_eq!(v["identical"], false);
    let ch = v["changes"].as_array().unwrap();
    assert!(
        ch.iter()
            .any(|c| c["change"] == "key-deleted" && c["path"] == "key")
    );
    assert!(
        ch.iter()
            .any(|c| c["change"] == "key-added" && c["path"] == "key_with_bigdata")
    );
    let added = ch
        .iter()
        .find(|c| c["change"] == "value-added" && c["name"] == "")
        .unwrap();
    assert_eq!(added["after"]["typeName"], "REG_BINARY");
    assert_eq!(added["after"]["hex"].as_str().unwrap().len(), 16345 * 2);
}

#[test]
fn diff_with_base_applies_the_deltas() {
    let Some(d) = fx("yarp/System_Delta") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The delta against itself as a "base": the effective views are equal.
    let o = pv([
        std::ffi::OsString::from("hive"),
        "diff".into(),
        "--base".into(),
        d.clone().into(),
        d.clone().into(),
        d.clone().into(),
    ]);
    assert_code(&o, 0);
    // Against the raw delta (no --base) a normal hive differs in layers and tombstones.
    let other = dir.path().join("x");
    let h = pause_verify::hive::read(&std::fs::read(&d).unwrap()).unwrap();
    let eff = pause_verify::hive::merge::apply(&h, &h);
    std::fs::write(&other, pause_verify::hive::write(&eff).unwrap()).unwrap();
    let o = pv([
        std::ffi::OsString::from("hive"),
        "diff".into(),
        d.into(),
        other.into(),
    ]);
    assert_code(&o, 1);
    assert!(stdout(&o).contains("layer merge+inherit-class -> merge"));
}

#[test]
fn bad_input_exits_2_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let o = pv([
        std::ffi::OsString::from("hive"),
        "dump".into(),
        missing.into(),
    ]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));
    let Some(f) = fx("nt-hive/testhive") else {
        return;
    };
    let bytes = std::fs::read(f).unwrap();
    for len in [0usize, 100, 4096, 5000, bytes.len() - 1] {
        let t = dir.path().join(format!("t{len}"));
        std::fs::write(&t, &bytes[..len]).unwrap();
        let o = pv([std::ffi::OsString::from("hive"), "dump".into(), t.into()]);
        assert_code(&o, 2);
        let e = stderr(&o);
        assert!(
            e.contains("is not a readable hive") && !e.contains("panicked"),
            "{e}"
        );
    }
}
