//! Windows layer tars we write, read by other tar implementations (Go's archive/tar as
//! hcsshim uses it, Python's tarfile, GNU tar), and tars they write, read by us.

use crate::common;

use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const SD_USERS: &str = "AQAAgBQAAAAkAAAAAAAAAAAAAAABAgAAAAAABSAAAAAhAgAAAQIAAAAAAAUgAAAAIQIAAA==";
const T: i64 = 1_700_000_000;

/// A pause-like non-base layer in hcsshim order, plus a few edge cases: a hard link, a
/// whiteout, a fractional time, a 101-byte name, a non-ASCII name.
fn spec() -> Value {
    let long = format!("Files/tools/{}", "n".repeat(95));
    let deep = format!("Files/{}", "d".repeat(110));
    json!([
        {"path": "Files", "kind": "dir", "time": T},
        {"path": "Files/old.txt", "kind": "whiteout"},
        {"path": deep, "kind": "dir", "time": T},
        {"path": format!("{deep}/gone"), "kind": "whiteout"},
        {"path": "Files/tools", "kind": "dir", "time": T, "sd_b64": SD_USERS},
        {"path": "Files/tools/keylight.reg", "kind": "file", "time": T, "nanos": 250000000,
         "sd_b64": SD_USERS, "data": "Windows Registry Editor Version 5.00\n"},
        {"path": "Files/tools/link.reg", "kind": "hardlink", "time": T, "target": "Files/tools/keylight.reg"},
        {"path": long, "kind": "file", "time": T, "data": "x"},
        {"path": "Files/tools/\u{e9}t\u{e9}.txt", "kind": "file", "time": T, "data": ""},
        {"path": "Hives", "kind": "dir", "time": T},
        {"path": "Hives/Software_Delta", "kind": "file", "time": T, "data": "regf-fake"},
    ])
}

fn write_spec(dir: &Path, name: &str, spec: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(spec).unwrap()).unwrap();
    p
}

fn write_layer(dir: &Path, spec: &Value, name: &str) -> PathBuf {
    let s = write_spec(dir, &format!("{name}.json"), spec);
    let out = dir.join(name);
    let o = pv([
        "debug".as_ref(),
        "wclayer-write".as_ref(),
        "--spec".as_ref(),
        s.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_code(&o, 0);
    out
}

fn list(path: &Path, extract: &[&str]) -> (Value, std::process::Output) {
    let mut args: Vec<std::ffi::OsString> =
        vec!["debug".into(), "wclayer-list".into(), path.into()];
    for e in extract {
        args.push("--extract".into());
        args.push((*e).into());
    }
    let o = pv(args);
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (v, o)
}

/// The hcsshim side, written as hcsshim's exporter builds headers (go-winio
/// backuptar.BasicInfoHeader + ociwclayer's whiteout/hard-link headers) with Go's
/// archive/tar. This is an oracle for the bytes, not a copy of either project.
const GO_ORACLE: &str = r#"
package main

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

type E struct {
	Path   string  `json:"path"`
	Kind   string  `json:"kind"`
	Data   *string `json:"data"`
	Time   int64   `json:"time"`
	Nanos  int64   `json:"nanos"`
	Attrs  *uint32 `json:"attrs"`
	SD     *string `json:"sd_b64"`
	Target string  `json:"target"`
}

func paxTime(t time.Time) string {
	s, n := t.Unix(), t.Nanosecond()
	if n == 0 {
		return strconv.FormatInt(s, 10)
	}
	return strings.TrimRight(fmt.Sprintf("%d.%09d", s, n), "0")
}

func main() {
	b, err := os.ReadFile(os.Args[1])
	if err != nil { panic(err) }
	var es []E
	if err := json.Unmarshal(b, &es); err != nil { panic(err) }
	f, err := os.Create(os.Args[2])
	if err != nil { panic(err) }
	tw := tar.NewWriter(f)
	for _, e := range es {
		if e.Kind == "whiteout" {
			dir, name := path.Split(e.Path)
			if err := tw.WriteHeader(&tar.Header{Name: dir + ".wh." + name}); err != nil { panic(err) }
			continue
		}
		t := time.Unix(e.Time, e.Nanos)
		data := []byte{}
		if e.Data != nil { data = []byte(*e.Data) }
		attrs := uint32(32)
		if e.Kind == "dir" { attrs = 16 }
		if e.Attrs != nil { attrs = *e.Attrs }
		h := &tar.Header{Format: tar.FormatPAX, Name: e.Path, Size: int64(len(data)),
			Typeflag: tar.TypeReg, ModTime: t, ChangeTime: t, AccessTime: t,
			PAXRecords: map[string]string{}}
		h.PAXRecords["MSWINDOWS.fileattr"] = fmt.Sprintf("%d", attrs)
		h.PAXRecords["LIBARCHIVE.creationtime"] = paxTime(t)
		if attrs&16 != 0 { h.Mode |= 0o40000; h.Size = 0; h.Typeflag = tar.TypeDir }
		switch e.Kind {
		case "file":
			h.Mode |= 0o100000
		case "hardlink":
			h.Mode = 0o644; h.Typeflag = tar.TypeLink; h.Linkname = e.Target; h.Size = 0
		}
		if e.SD != nil { h.PAXRecords["MSWINDOWS.rawsd"] = *e.SD }
		if err := tw.WriteHeader(h); err != nil { panic(err) }
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(data); err != nil { panic(err) }
		}
	}
	if err := tw.Close(); err != nil { panic(err) }
	if err := f.Close(); err != nil { panic(err) }
}
"#;

#[test]
fn go_archive_tar_writes_the_same_bytes() {
    let Some(go) = need_tool("go") else { return };
    let d = tempfile::tempdir().unwrap();
    let ours = write_layer(d.path(), &spec(), "ours.tar");
    std::fs::write(d.path().join("main.go"), GO_ORACLE).unwrap();
    let spec_path = write_spec(d.path(), "go.json", &spec());
    let go_out = d.path().join("go.tar");
    let o = Command::new(go)
        .current_dir(d.path())
        .env("GOCACHE", d.path().join("gocache"))
        .env("GO111MODULE", "off")
        .env("GOFLAGS", "")
        .args(["run", "main.go"])
        .arg(&spec_path)
        .arg(&go_out)
        .output()
        .unwrap();
    assert!(o.status.success(), "go run failed: {}", stderr(&o));
    let a = std::fs::read(&ours).unwrap();
    let b = std::fs::read(&go_out).unwrap();
    if a != b {
        let first = a.iter().zip(&b).position(|(x, y)| x != y);
        panic!(
            "layers differ: ours {} bytes, Go {} bytes, first difference at {:?}",
            a.len(),
            b.len(),
            first
        );
    }
}

#[test]
fn python_tarfile_reads_names_types_pax_and_sizes() {
    let py = python();
    if !need("python3", Command::new(&py).arg("-V").output().is_ok()) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let layer = write_layer(d.path(), &spec(), "l.tar");
    let script = r#"
import json, sys, tarfile
out = []
with tarfile.open(sys.argv[1], "r:") as t:
    for m in t:
        out.append({"name": m.name, "type": m.type.decode(), "size": m.size, "mode": m.mode,
                    "uid": m.uid, "gid": m.gid, "uname": m.uname, "gname": m.gname,
                    "mtime": m.mtime, "linkname": m.linkname, "pax": m.pax_headers})
print(json.dumps(out))
"#;
    let o = Command::new(&py)
        .args(["-c", script])
        .arg(&layer)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    let long = format!("Files/tools/{}", "n".repeat(95));
    let deep = format!("Files/{}", "d".repeat(110));
    let deep_wh = format!("{deep}/.wh.gone");
    assert_eq!(
        names,
        [
            "Files",
            "Files/.wh.old.txt",
            deep.as_str(),
            deep_wh.as_str(),
            "Files/tools",
            "Files/tools/keylight.reg",
            "Files/tools/link.reg",
            long.as_str(),
            "Files/tools/\u{e9}t\u{e9}.txt",
            "Hives",
            "Hives/Software_Delta"
        ]
    );
    let by = |n: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == n)
            .unwrap()
            .clone()
    };
    for m in v.as_array().unwrap() {
        assert_eq!(m["uid"], 0);
        assert_eq!(m["gid"], 0);
        assert_eq!(m["uname"], "");
        assert_eq!(m["gname"], "");
    }
    let files = by("Files");
    assert_eq!(files["type"], "5");
    assert_eq!(files["mode"], 0o40000);
    assert_eq!(files["pax"]["MSWINDOWS.fileattr"], "16");
    assert_eq!(files["pax"]["LIBARCHIVE.creationtime"], T.to_string());
    assert!(files["pax"].get("MSWINDOWS.rawsd").is_none());

    let wh = by("Files/.wh.old.txt");
    assert_eq!(wh["type"], "0");
    assert_eq!(wh["size"], 0);
    assert_eq!(wh["mode"], 0);
    assert_eq!(wh["pax"], json!({}));

    let reg = by("Files/tools/keylight.reg");
    assert_eq!(reg["type"], "0");
    assert_eq!(reg["mode"], 0o100000);
    assert_eq!(reg["size"], 37);
    assert_eq!(reg["pax"]["MSWINDOWS.rawsd"], SD_USERS);
    assert_eq!(reg["pax"]["MSWINDOWS.fileattr"], "32");
    assert_eq!(reg["pax"]["LIBARCHIVE.creationtime"], "1700000000.25");
    assert_eq!(reg["pax"]["mtime"], "1700000000.25");
    assert_eq!(reg["pax"]["atime"], "1700000000.25");

    let link = by("Files/tools/link.reg");
    assert_eq!(link["type"], "1");
    assert_eq!(link["linkname"], "Files/tools/keylight.reg");
    assert_eq!(link["mode"], 0o644);

    assert_eq!(by(&long)["pax"]["path"], long.as_str());
    let hive = by("Hives/Software_Delta");
    assert!(hive["pax"].get("MSWINDOWS.rawsd").is_none());
    assert_eq!(hive["size"], 9);
    assert!(by("Hives")["pax"].get("MSWINDOWS.rawsd").is_none());
}

#[test]
fn gnu_tar_lists_and_extracts() {
    let Some(tar) = need_tool("tar") else { return };
    let d = tempfile::tempdir().unwrap();
    let layer = write_layer(d.path(), &spec(), "l.tar");
    let o = Command::new(&tar).arg("-tvf").arg(&layer).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let listing = stdout(&o);
    assert!(!listing.contains("PaxHeaders"), "{listing}");
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 11, "{listing}");
    assert!(
        lines[0].starts_with('d') && lines[0].ends_with(" Files"),
        "{}",
        lines[0]
    );
    assert!(
        lines[3].ends_with(&format!("{}/.wh.gone", "d".repeat(110))),
        "{}",
        lines[3]
    );
    assert!(
        lines[5].starts_with('-')
            && lines[5].contains(" 0/0 ")
            && lines[5].ends_with("Files/tools/keylight.reg"),
        "{}",
        lines[5]
    );
    assert!(
        lines[6].starts_with('h') && lines[6].contains("link to Files/tools/keylight.reg"),
        "{}",
        lines[6]
    );
    let x = d.path().join("x");
    std::fs::create_dir(&x).unwrap();
    let o = Command::new(&tar)
        .arg("-xf")
        .arg(&layer)
        .arg("-C")
        .arg(&x)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(x.join("Files/tools/keylight.reg")).unwrap(),
        b"Windows Registry Editor Version 5.00\n"
    );
    assert_eq!(
        std::fs::read(x.join("Hives/Software_Delta")).unwrap(),
        b"regf-fake"
    );
}

#[test]
fn reads_a_layer_python_writes() {
    let py = python();
    if !need("python3", Command::new(&py).arg("-V").output().is_ok()) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let layer = d.path().join("py.tar");
    // An independent writer: Python's tarfile in PAX mode with the Windows records, plus
    // a GNU-format member with a long name, and Hives/.
    let script = r#"
import io, sys, tarfile
def add(t, name, typ, data=b"", pax=None, fmt=None):
    ti = tarfile.TarInfo(name)
    ti.type = typ
    ti.size = len(data) if typ == tarfile.REGTYPE else 0
    ti.mode = 0o40000 if typ == tarfile.DIRTYPE else 0o100000
    ti.mtime = 1600000000
    if pax is not None: ti.pax_headers = pax
    t.addfile(ti, io.BytesIO(data) if typ == tarfile.REGTYPE else None)
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    add(t, "Files", tarfile.DIRTYPE, pax={"MSWINDOWS.fileattr": "16"})
    add(t, "Files/.wh.gone", tarfile.REGTYPE)
    add(t, "Files/a.txt", tarfile.REGTYPE, b"hello", pax={"MSWINDOWS.fileattr": "32",
        "MSWINDOWS.rawsd": sys.argv[2], "LIBARCHIVE.creationtime": "1600000000.5"})
    add(t, "Files/" + "d" * 120, tarfile.REGTYPE, b"long")
    add(t, "Hives", tarfile.DIRTYPE)
    add(t, "Hives/System_Delta", tarfile.REGTYPE, b"regf")
"#;
    let o = Command::new(&py)
        .args(["-c", script])
        .arg(&layer)
        .arg(SD_USERS)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (v, o) = list(&layer, &["files/A.TXT", "Hives/System_Delta"]);
    assert_code(&o, 0);
    assert_eq!(v["layerKind"], "non-base");
    let e = &v["entries"];
    assert_eq!(e[0]["path"], "Files");
    assert_eq!(e[0]["fileattr"], 16);
    assert_eq!(e[1]["type"], "whiteout");
    assert_eq!(e[1]["whiteout_target"], "Files/gone");
    assert_eq!(e[2]["sddl"], "O:BUG:BU");
    assert_eq!(e[2]["creationtime"], "1600000000.5");
    assert_eq!(e[2]["mtime"], "1600000000");
    assert_eq!(e[3]["path"], format!("Files/{}", "d".repeat(120)));
    assert_eq!(e[3]["size"], 4);
    // sha256("hello")
    assert_eq!(
        v["extracted"]["Files/a.txt"]["sha256"],
        "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    assert_eq!(v["summary"]["delta_hives"], json!(["System_Delta"]));
}

#[test]
fn base_layer_is_told_from_non_base() {
    let d = tempfile::tempdir().unwrap();
    let base = json!([
        {"path": "Files", "kind": "dir", "time": T},
        {"path": "Files/Windows", "kind": "dir", "time": T, "sd_b64": SD_USERS},
        {"path": "Files/Windows/System32", "kind": "dir", "time": T, "sd_b64": SD_USERS},
        {"path": "Files/Windows/System32/config", "kind": "dir", "time": T, "sd_b64": SD_USERS},
        {"path": "Files/Windows/System32/config/SOFTWARE", "kind": "file", "time": T, "data": "software-hive"},
        {"path": "Files/Windows/System32/config/SYSTEM", "kind": "file", "time": T, "data": "system-hive"},
        {"path": "UtilityVM", "kind": "dir", "time": T},
        {"path": "UtilityVM/Files", "kind": "dir", "time": T},
    ]);
    let layer = write_layer(d.path(), &base, "base.tar");
    let (v, o) = list(&layer, &["Files/Windows/System32/config/SOFTWARE"]);
    assert_code(&o, 0);
    assert_eq!(v["layerKind"], "base");
    assert_eq!(v["summary"]["base_hives"], json!(["SOFTWARE", "SYSTEM"]));
    // sha256("software-hive"), computed independently with sha256sum.
    let expect = Command::new("sh")
        .args(["-c", "printf software-hive | sha256sum | cut -d' ' -f1"])
        .output()
        .unwrap();
    assert_eq!(
        v["extracted"]["Files/Windows/System32/config/SOFTWARE"]["sha256"],
        format!("sha256:{}", stdout(&expect).trim())
    );
    let nb = write_layer(d.path(), &spec(), "nb.tar");
    let (v, _) = list(&nb, &[]);
    assert_eq!(v["layerKind"], "non-base");
}

#[test]
fn same_entries_same_bytes_whatever_the_input_order() {
    let d = tempfile::tempdir().unwrap();
    let a = std::fs::read(write_layer(d.path(), &spec(), "a.tar")).unwrap();
    let b = std::fs::read(write_layer(d.path(), &spec(), "b.tar")).unwrap();
    let mut shuffled = spec().as_array().unwrap().clone();
    shuffled.reverse();
    shuffled.swap(1, 4);
    let c = std::fs::read(write_layer(d.path(), &Value::Array(shuffled), "c.tar")).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a.len() % 512, 0);
}

#[test]
fn bad_input_is_a_clear_error_not_a_panic() {
    let d = tempfile::tempdir().unwrap();
    let good = std::fs::read(write_layer(d.path(), &spec(), "g.tar")).unwrap();
    let check = |name: &str, bytes: &[u8], needle: &str| {
        let p = d.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let (_, o) = list(&p, &[]);
        assert_code(&o, 2);
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert!(err.contains(needle), "{name}: expected {needle:?} in {err}");
    };
    // Cut inside the keylight.reg content.
    let off = good
        .windows(37)
        .position(|w| w == b"Windows Registry Editor Version 5.00\n")
        .unwrap();
    check("cut-content.tar", &good[..off + 10], "truncated");
    // Cut at a header boundary: no end-of-archive marker.
    check("cut-trailer.tar", &good[..good.len() - 1024], "truncated");
    // Cut inside a header block.
    check("cut-header.tar", &good[..700], "truncated");
    // A PAX record whose length lies (first record "38 LIBARCHIVE..." -> "99").
    let mut bad = good.clone();
    assert_eq!(&bad[512..515], b"38 ");
    bad[512..514].copy_from_slice(b"99");
    check("bad-pax.tar", &bad, "PAX record");
    // A flipped byte in a header: checksum mismatch.
    let mut bad = good.clone();
    bad[1024] ^= 0x01;
    check("bad-checksum.tar", &bad, "checksum");
    // Not a tar at all.
    check("garbage.tar", &[0x42u8; 2000], "malformed tar header");
    // A bad spec for the writer is exit 2 too.
    let s = write_spec(
        d.path(),
        "bad.json",
        &json!([{"path": "Hives", "kind": "dir", "time": T, "sd_b64": SD_USERS}]),
    );
    let o = pv([
        "debug".as_ref(),
        "wclayer-write".as_ref(),
        "--spec".as_ref(),
        s.as_os_str(),
        "--out".as_ref(),
        d.path().join("never.tar").as_os_str(),
    ]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("security descriptor"), "{}", stderr(&o));
    assert!(!d.path().join("never.tar").exists());
}

#[test]
fn sddl_of_the_ggcr_descriptor() {
    let o = pv(["debug", "sddl", SD_USERS]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o).trim(), "O:BUG:BU");
    let o = pv(["debug", "sddl", "AQAA"]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("malformed security descriptor"));
}
