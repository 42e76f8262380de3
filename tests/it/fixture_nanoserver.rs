//! `pause-verify fixture nanoserver`: a deterministic synthetic NanoServer that real tools
//! read as a Windows image with full hives.

use crate::common;

use common::{assert_code, pv, stdout};
use serde_json::Value;
use std::process::Command;

fn make(dir: &std::path::Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "--json",
        "fixture",
        "nanoserver",
        "--out",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = pv(&args);
    assert_code(&o, 0);
    serde_json::from_str(&stdout(&o)).unwrap()
}

#[test]
fn three_platform_list_is_deterministic_and_verifies() {
    let t = tempfile::tempdir().unwrap();
    let vs = ["10.0.17763.3887", "10.0.20348.2849", "10.0.26100.2314"];
    let args = [
        "--os-version",
        vs[0],
        "--os-version",
        vs[1],
        "--os-version",
        vs[2],
    ];
    let a = make(&t.path().join("a"), &args);
    let b = make(&t.path().join("b"), &args);
    assert_eq!(a["list"], b["list"]);
    assert_eq!(a["images"].as_array().unwrap().len(), 3);
    assert_eq!(
        a["list"]["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    let list: Value = serde_json::from_slice(
        &std::fs::read(
            t.path()
                .join("a/blobs/sha256")
                .join(&a["list"]["digest"].as_str().unwrap()[7..]),
        )
        .unwrap(),
    )
    .unwrap();
    for (i, v) in vs.iter().enumerate() {
        assert_eq!(list["manifests"][i]["platform"]["os.version"], *v);
        assert_eq!(list["manifests"][i]["platform"]["os"], "windows");
        // Every layer verifies (digest + diff_id) and is a Windows base layer.
        let o = pv([
            "inspect",
            "--diff-ids",
            "--platform",
            &format!("windows/amd64:{v}"),
            a["reference"].as_str().unwrap(),
        ]);
        assert_code(&o, 0);
        assert!(
            stdout(&o).contains(&format!("Apply image {v}")),
            "{}",
            stdout(&o)
        );
    }
}

#[test]
fn hives_read_with_hivexget_and_match_the_os_version() {
    let Some(hivexget) = common::need_tool("hivexget") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let f = make(&t.path().join("a"), &["--os-version", "10.0.17763.3887"]);
    let layer = t
        .path()
        .join("a/blobs/sha256")
        .join(&f["images"][0]["layer"]["digest"].as_str().unwrap()[7..]);
    let x = t.path().join("x");
    std::fs::create_dir(&x).unwrap();
    let data = std::fs::read(&layer).unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&data[..]));
    let mut names = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        if let Some(h) = p.strip_prefix("Files/Windows/System32/config/") {
            let mut out = std::fs::File::create(x.join(h)).unwrap();
            std::io::copy(&mut e, &mut out).unwrap();
        }
        names.push(p);
    }
    for h in ["DEFAULT", "SAM", "SECURITY", "SOFTWARE", "SYSTEM"] {
        assert!(x.join(h).exists(), "{h}");
    }
    assert!(!names.iter().any(|n| n.starts_with("Hives")));
    assert!(names.iter().any(|n| n.starts_with("UtilityVM/")));
    let get = |hive: &str, key: &str, val: &str| {
        let o = Command::new(&hivexget)
            .arg(x.join(hive))
            .arg(key)
            .arg(val)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{key} {val}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    assert_eq!(
        get(
            "SOFTWARE",
            "\\Microsoft\\Windows NT\\CurrentVersion",
            "CurrentBuild"
        ),
        "17763"
    );
    assert_eq!(
        get("SOFTWARE", "\\Microsoft\\Windows NT\\CurrentVersion", "UBR"),
        "3887"
    );
    assert_eq!(get("SOFTWARE", "\\Microsoft\\Ole", "EnableDCOM"), "Y");
    assert_eq!(
        get("SYSTEM", "\\ControlSet001\\Services\\DiagTrack", "Start"),
        "2"
    );
    assert_eq!(
        get(
            "SYSTEM",
            "\\ControlSet001\\Services\\DiagTrack",
            "ImagePath"
        ),
        "%SystemRoot%\\System32\\svchost.exe -k utcsvc -p"
    );
}

#[test]
fn bad_os_version_is_exit_2_and_writes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("o");
    let o = pv([
        "fixture",
        "nanoserver",
        "--out",
        out.to_str().unwrap(),
        "--os-version",
        "10.0.20348",
    ]);
    assert_code(&o, 2);
    assert!(common::stderr(&o).contains("four dot-separated numbers"));
    assert!(!out.exists());
}
