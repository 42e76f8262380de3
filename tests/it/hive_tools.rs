//! Our written hives as independent readers see them: hivex (`hivexsh`, `hivexget`),
//! `reglookup`, Python `regipy` and `python-registry`. For each fixture, every tool must
//! list the same thing for our rewrite as for the original; for the pause edits, every
//! tool must list the expected keys, values and types.

use crate::common;

use pause_verify::hive::{self, Hive, LayerSemantics, delta, regfile};
use std::path::{Path, PathBuf};
use std::process::Command;

const PY_REGISTRY: &str = r#"
import sys, hashlib
from Registry import Registry
def rec(k, p):
    print("KEY", repr(p), k.timestamp().isoformat(), k.subkeys_number(), k.values_number())
    for v in k.values():
        try:
            print("  VAL", repr(v.name()), v.value_type(), hashlib.sha256(v.raw_data()).hexdigest())
        except Exception as e:
            print("  VAL", repr(v.name()), "ERROR", type(e).__name__)
    for s in k.subkeys():
        rec(s, p + "\\" + s.name())
rec(Registry.Registry(sys.argv[1]).root(), "")
"#;

const PY_REGIPY: &str = r#"
import sys, hashlib
from regipy.registry import RegistryHive
for e in RegistryHive(sys.argv[1]).recurse_subkeys(as_json=False):
    # regipy reads inline REG_DWORD_BIG_ENDIAN data through the offset field as if it were
    # a cell pointer (garbage that depends on layout), so only its name and type compare.
    vals = [(v.name, v.value_type, "-" if v.value_type == "REG_DWORD_BIG_ENDIAN" else hashlib.sha256(repr(v.value).encode()).hexdigest()) for v in (e.values or [])]
    print("KEY", repr(e.path), e.timestamp, vals)
"#;

/// Values as (name, type, repr(value)), one line per value: for expectations.
const PY_REGIPY_VALUES: &str = r#"
import sys
from regipy.registry import RegistryHive
for e in RegistryHive(sys.argv[1]).recurse_subkeys(as_json=False):
    print("KEY", e.path)
    for v in (e.values or []):
        print("VAL", e.path, repr(v.name), v.value_type, repr(v.value))
"#;

const PY_REGISTRY_VALUES: &str = r#"
import sys
from Registry import Registry
def rec(k, p):
    print("KEY", p)
    for v in k.values():
        print("VAL", p, repr(v.name()), v.value_type_str(), v.raw_data().hex())
    for s in k.subkeys():
        rec(s, p + "\\" + s.name())
rec(Registry.Registry(sys.argv[1]).root(), "")
"#;

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().expect("spawn tool");
    format!(
        "rc={:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Equal listings, or a failure that shows the first differing line (listings are large).
#[track_caller]
fn assert_same(a: &str, b: &str, what: &str) {
    if a == b {
        return;
    }
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let i = la
        .iter()
        .zip(&lb)
        .position(|(x, y)| x != y)
        .unwrap_or(la.len().min(lb.len()));
    let cut = |s: Option<&&str>| s.map(|s| s.chars().take(300).collect::<String>());
    panic!(
        "{what}: listings differ at line {i} ({} vs {} lines)\n original: {:?}\n ours:     {:?}",
        la.len(),
        lb.len(),
        cut(la.get(i)),
        cut(lb.get(i))
    );
}

fn python(script: &str, file: &Path) -> String {
    let o = Command::new(common::python())
        .args(["-c", script])
        .arg(file)
        .output()
        .expect("spawn python");
    assert!(
        o.status.success(),
        "python failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn hivexsh_listing(file: &Path, h: &Hive, limit: usize) -> String {
    let mut out = String::new();
    for (p, _) in h.walk().into_iter().take(limit) {
        let script = if p.is_empty() {
            "ls\nlsval\n".to_string()
        } else {
            format!("cd {p}\nls\nlsval\n")
        };
        let mut child = Command::new("hivexsh")
            .arg(file)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn hivexsh");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        out.push_str(&format!(
            "== {p}\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    out
}

fn tools_ok() -> bool {
    common::need_tool("hivexsh").is_some()
        && common::need_tool("hivexget").is_some()
        && common::need_tool("reglookup").is_some()
        && common::need(
            "python regipy + python-registry",
            common::python_has(&["regipy", "Registry"]),
        )
}

/// Every fixture rewritten by us reads the same in every independent tool as the original.
#[test]
fn rewritten_fixtures_read_the_same_in_every_tool() {
    let Some(fx) = common::fixtures() else { return };
    if !tools_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "yarp/System_Delta",
        "yarp/EmptyHive",
        "yarp/BigDataHive",
        "yarp/StringValuesHive",
        "yarp/ManySubkeysHive",
        "nt-hive/testhive",
    ] {
        let orig: PathBuf = fx.join("hives").join(f);
        let h = hive::read(&std::fs::read(&orig).unwrap()).unwrap();
        let ours = dir.path().join(f.replace('/', "_"));
        std::fs::write(&ours, hive::write(&h).unwrap()).unwrap();

        // stdout only: reglookup's stderr warnings name cell offsets, which differ.
        let rl = |p: &Path| {
            let o = Command::new("reglookup").arg(p).output().unwrap();
            format!(
                "rc={:?}\n{}",
                o.status.code(),
                String::from_utf8_lossy(&o.stdout)
            )
        };
        let (a, b) = (rl(&orig), rl(&ours));
        assert!(
            a.lines().count() > 2,
            "reglookup listed nothing for {f}: {a}"
        );
        assert_same(&a, &b, &format!("reglookup, {f}"));

        let limit = 400;
        let (a, b) = (
            hivexsh_listing(&orig, &h, limit),
            hivexsh_listing(&ours, &h, limit),
        );
        assert_same(&a, &b, &format!("hivexsh, {f}"));

        let (a, b) = (python(PY_REGISTRY, &orig), python(PY_REGISTRY, &ours));
        assert_same(&a, &b, &format!("python-registry, {f}"));
        let (a, b) = (python(PY_REGIPY, &orig), python(PY_REGIPY, &ours));
        assert_same(&a, &b, &format!("regipy, {f}"));
    }
}

/// The keylight.reg content, as the tests write it (docs/architecture.md §8), UTF-16LE with BOM
/// and CRLF as regedit saves it.
const KEYLIGHT: &str = "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\rpc]\r\n\"DCOM Protocols\"=hex(7):00,00\r\n\"UuidSequenceNumber\"=dword:01bcf674\r\n\"EpMapDisallowedProtocols\"=\"ncacn_ip_tcp\"\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ole]\r\n\"EnableDCOM\"=\"N\"\r\n";

fn pause_hives(dir: &Path) -> (PathBuf, PathBuf, Hive, Hive) {
    let reg = dir.join("keylight.reg");
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(KEYLIGHT.encode_utf16().flat_map(|u| u.to_le_bytes()));
    std::fs::write(&reg, &bytes).unwrap();
    let ops = regfile::parse(&std::fs::read(&reg).unwrap()).unwrap();
    let sw = delta::build(None, &ops, 133_000_000_000_000_000).unwrap();
    // sc.exe delete diagtrack = DeleteKey SYSTEM ControlSet001\Services\DiagTrack.
    let sys_ops = [regfile::RegOp {
        hive: regfile::RootHive::System,
        path: "ControlSet001\\Services\\DiagTrack".into(),
        action: regfile::Action::DeleteKey,
    }];
    let sy = delta::build(None, &sys_ops, 133_000_000_000_000_000).unwrap();
    let (swp, syp) = (dir.join("Software_Delta"), dir.join("System_Delta"));
    std::fs::write(&swp, hive::write(&sw).unwrap()).unwrap();
    std::fs::write(&syp, hive::write(&sy).unwrap()).unwrap();
    (swp, syp, sw, sy)
}

#[test]
fn upstream_keylight_reg_parses_as_is_to_the_same_ops() {
    let Some(up) = common::upstream_recipe() else {
        return;
    };
    let theirs = regfile::parse(&std::fs::read(up.join("binaries/keylight.reg")).unwrap()).unwrap();
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(KEYLIGHT.encode_utf16().flat_map(|u| u.to_le_bytes()));
    assert_eq!(theirs, regfile::parse(&utf16).unwrap());
    assert_eq!(theirs.len(), 6);
}

#[test]
fn pause_edits_read_back_in_every_tool() {
    if !tools_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (swp, syp, _, _) = pause_hives(dir.path());

    // Our reader: layer semantics as docs/architecture.md §5 describes the pause delta.
    let sw = hive::read(&std::fs::read(&swp).unwrap()).unwrap();
    assert!(sw.header.layered());
    for p in ["Microsoft", "Microsoft\\rpc", "Microsoft\\ole"] {
        assert_eq!(sw.find(p).unwrap().layer.to_byte(), 0x80, "{p}");
    }
    let sy = hive::read(&std::fs::read(&syp).unwrap()).unwrap();
    let dt = sy.find("ControlSet001\\Services\\DiagTrack").unwrap();
    assert_eq!(dt.layer.semantics, LayerSemantics::Tombstone);
    assert_eq!(dt.timestamp, 0);

    // hivexget prints a key's values in .reg syntax.
    let hg = |f: &Path, k: &str| run(Command::new("hivexget").arg(f).arg(k));
    let rpc = hg(&swp, "\\Microsoft\\rpc");
    assert!(rpc.starts_with("rc=Some(0)"), "{rpc}");
    assert!(rpc.contains("\"DCOM Protocols\"=hex(7):00,00"), "{rpc}");
    assert!(
        rpc.contains("\"UuidSequenceNumber\"=dword:01bcf674"),
        "{rpc}"
    );
    assert!(rpc.contains("\"EpMapDisallowedProtocols\"=hex(1):6e,00,63,00,61,00,63,00,6e,00,5f,00,69,00,70,00,5f,00,74,00,63,00,70,00,00,00") || rpc.contains("\"EpMapDisallowedProtocols\"=\"ncacn_ip_tcp\""), "{rpc}");
    let ole = hg(&swp, "\\Microsoft\\ole");
    assert!(
        ole.contains("\"EnableDCOM\"=hex(1):4e,00,00,00") || ole.contains("\"EnableDCOM\"=\"N\""),
        "{ole}"
    );
    // hivexsh sees the tombstone key (it cannot know it is one).
    let services = hivexsh_listing(&syp, &sy, 10);
    assert!(
        services.contains("== ControlSet001\\Services\nDiagTrack\n"),
        "{services}"
    );

    // reglookup CSV.
    let rl = run(Command::new("reglookup").arg(&swp));
    for line in [
        "/Microsoft/rpc/UuidSequenceNumber,DWORD,0x01BCF674,",
        "/Microsoft/rpc/EpMapDisallowedProtocols,SZ,ncacn_ip_tcp,",
        "/Microsoft/ole/EnableDCOM,SZ,N,",
        "/Microsoft/rpc/DCOM Protocols,MULTI_SZ,,",
    ] {
        assert!(
            rl.lines().any(|l| l.eq_ignore_ascii_case(line)),
            "reglookup lacks {line}:\n{rl}"
        );
    }
    let rl = run(Command::new("reglookup").arg(&syp));
    assert!(
        rl.contains("/ControlSet001/Services/DiagTrack,KEY,"),
        "{rl}"
    );

    // regipy.
    let rp = python(PY_REGIPY_VALUES, &swp);
    for line in [
        "VAL \\Microsoft\\rpc 'DCOM Protocols' REG_MULTI_SZ []",
        "VAL \\Microsoft\\rpc 'UuidSequenceNumber' REG_DWORD 29161076", // 0x01bcf674
        "VAL \\Microsoft\\rpc 'EpMapDisallowedProtocols' REG_SZ 'ncacn_ip_tcp'",
        "VAL \\Microsoft\\ole 'EnableDCOM' REG_SZ 'N'",
    ] {
        assert!(
            rp.lines().any(|l| l == line),
            "regipy lacks {line}:\n{}",
            rp.chars().take(3000).collect::<String>()
        );
    }
    assert!(python(PY_REGIPY_VALUES, &syp).contains("KEY \\ControlSet001\\Services\\DiagTrack"));

    // python-registry. It returns no bytes for a REG_MULTI_SZ of under 4 bytes stored
    // inline in the vk, so "DCOM Protocols" (2 bytes, 00 00) lists as empty; our inline
    // encoding equals offreg's (hive_lib.rs `inline_small_data_matches_offreg`).
    let pr = python(PY_REGISTRY_VALUES, &swp);
    let ep: String = "ncacn_ip_tcp\0"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .map(|b| format!("{b:02x}"))
        .collect();
    for line in [
        "VAL \\Microsoft\\rpc 'DCOM Protocols' RegMultiSZ ".to_string(),
        "VAL \\Microsoft\\rpc 'UuidSequenceNumber' RegDWord 74f6bc01".to_string(),
        format!("VAL \\Microsoft\\rpc 'EpMapDisallowedProtocols' RegSZ {ep}"),
        "VAL \\Microsoft\\ole 'EnableDCOM' RegSZ 4e000000".to_string(),
    ] {
        assert!(
            pr.lines().any(|l| l == line),
            "python-registry lacks {line:?}:\n{pr}"
        );
    }
    assert!(python(PY_REGISTRY_VALUES, &syp).contains("KEY \\ControlSet001\\Services\\DiagTrack"));
}
