//! Library-level hive tests against the real fixtures (tests/fixtures/hives, see its
//! PROVENANCE.md): reading exactly, round trips, determinism, robustness, and our layered
//! encoding compared field by field with the offreg-written `System_Delta`.

use crate::common;

use pause_verify::hive::{
    self, Hive, Key, LayerSemantics, Value, delta, diff::Change, merge, model, regfile,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn fixture(rel: &str) -> Option<Vec<u8>> {
    let p: PathBuf = common::fixtures()?.join("hives").join(rel);
    Some(std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
}

const ALL: [&str; 6] = [
    "yarp/System_Delta",
    "yarp/EmptyHive",
    "yarp/BigDataHive",
    "yarp/StringValuesHive",
    "yarp/ManySubkeysHive",
    "nt-hive/testhive",
];

fn utf16z(s: &str) -> Vec<u8> {
    let mut b: Vec<u8> = s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    b.extend_from_slice(&[0, 0]);
    b
}

fn val<'a>(h: &'a Hive, key: &str, name: &str) -> &'a Value {
    h.find(key)
        .unwrap_or_else(|| panic!("no key {key}"))
        .value(name)
        .unwrap_or_else(|| panic!("no value {key}:{name}"))
}

// ---------- raw cell access, independent of src/hive (for structural checks) ----------

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}
/// Payload of the cell at hive-bin offset `off`; asserts it is allocated.
fn cell(b: &[u8], off: u32) -> &[u8] {
    let o = 4096 + off as usize;
    let s = u32_at(b, o) as i32;
    assert!(s < 0, "cell {off:#x} is not allocated");
    &b[o + 4..o + (-s) as usize]
}
fn raw_subkeys(b: &[u8], list: u32) -> Vec<(u32, Option<u32>)> {
    let c = cell(b, list);
    let n = u16_at(c, 2) as usize;
    match &c[0..2] {
        b"lh" | b"lf" => (0..n)
            .map(|i| (u32_at(c, 4 + 8 * i), Some(u32_at(c, 8 + 8 * i))))
            .collect(),
        b"li" => (0..n).map(|i| (u32_at(c, 4 + 4 * i), None)).collect(),
        b"ri" => (0..n)
            .flat_map(|i| raw_subkeys(b, u32_at(c, 4 + 4 * i)))
            .collect(),
        s => panic!("unknown list {s:?}"),
    }
}
fn raw_name(c: &[u8], flag_ascii: bool, at: usize, len: usize) -> String {
    if flag_ascii {
        c[at..at + len].iter().map(|&x| x as char).collect()
    } else {
        let u: Vec<u16> = c[at..at + len]
            .chunks(2)
            .map(|x| u16::from_le_bytes([x[0], x[1]]))
            .collect();
        String::from_utf16(&u).unwrap()
    }
}
fn nk_name(c: &[u8]) -> String {
    raw_name(c, u16_at(c, 2) & 0x20 != 0, 76, u16_at(c, 72) as usize)
}
/// Offset of the nk cell at `path` (case-insensitive ASCII match).
fn raw_find(b: &[u8], path: &str) -> u32 {
    let mut off = u32_at(b, 36);
    for part in path.split('\\').filter(|p| !p.is_empty()) {
        let c = cell(b, off);
        off = raw_subkeys(b, u32_at(c, 28))
            .into_iter()
            .map(|(o, _)| o)
            .find(|&o| nk_name(cell(b, o)).eq_ignore_ascii_case(part))
            .unwrap_or_else(|| panic!("raw: no {part} in {path}"));
    }
    off
}
/// (name, flags, type, size, offset) of each vk of the nk at `off`.
fn raw_values(b: &[u8], nk: u32) -> Vec<(String, u16, u32, u32, u32, u16)> {
    let c = cell(b, nk);
    let n = u32_at(c, 36) as usize;
    if n == 0 {
        return vec![];
    }
    let list = cell(b, u32_at(c, 40));
    (0..n)
        .map(|i| {
            let v = cell(b, u32_at(list, 4 * i));
            assert_eq!(&v[0..2], b"vk");
            let fl = u16_at(v, 16);
            (
                raw_name(v, fl & 1 != 0, 20, u16_at(v, 2) as usize),
                fl,
                u32_at(v, 12),
                u32_at(v, 4),
                u32_at(v, 8),
                u16_at(v, 18),
            )
        })
        .collect()
}

// ---------------------------------- reading ----------------------------------

#[test]
fn system_delta_reads_as_provenance_says() {
    let Some(b) = fixture("yarp/System_Delta") else {
        return;
    };
    let h = hive::read(&b).unwrap();
    assert!(h.header.layered());
    assert_eq!(h.header.minor_version, 6);
    let keys = h.walk();
    assert_eq!(keys.len(), 586);
    let mut bytes: BTreeMap<u8, usize> = BTreeMap::new();
    for (_, k) in &keys {
        *bytes.entry(k.layer.to_byte()).or_default() += 1;
    }
    assert_eq!(
        bytes,
        BTreeMap::from([(0x00, 8), (0x01, 2), (0x03, 61), (0x80, 514), (0x83, 1)])
    );
    let svc = "ControlSet001\\Services\\";
    let x = h.find(&format!("{svc}xboxgipsvc")).unwrap();
    assert_eq!(x.layer.semantics, LayerSemantics::SupersedeTree);
    assert!(x.layer.inherit_class);
    let a = h.find(&format!("{svc}xboxgipsvc\\a_subkey")).unwrap();
    assert_eq!(a.layer.to_byte(), 0x03);
    let tombs: Vec<&str> = keys
        .iter()
        .filter(|(_, k)| k.layer.semantics == LayerSemantics::Tombstone)
        .map(|(p, _)| p.as_str())
        .collect();
    assert_eq!(
        tombs,
        vec![
            "ControlSet001\\Control\\WMI\\Autologger\\AutoLogger-Diagtrack-Listener\\{BA84F32B-8AF2-5006-F147-5030CDD7F22D}",
            "ControlSet001\\Services\\XBOXGIP",
        ]
    );
    for (_, k) in keys
        .iter()
        .filter(|(_, k)| k.layer.semantics == LayerSemantics::Tombstone)
    {
        assert!(k.values.is_empty() && k.subkeys.is_empty() && k.class.is_none());
        assert_eq!(k.timestamp, 0);
    }
    let mut tv: Vec<(String, String)> = keys
        .iter()
        .flat_map(|(p, k)| {
            k.values
                .iter()
                .filter(|v| v.tombstone)
                .map(move |v| (p.clone(), v.name.clone()))
        })
        .collect();
    tv.sort();
    assert_eq!(
        tv,
        vec![
            (
                "ControlSet001\\Control\\Session Manager\\Memory Management".to_string(),
                "ExistingPageFiles".to_string()
            ),
            (
                "ControlSet001\\Services\\EventLog\\State".into(),
                "6005BT".into()
            ),
            (
                "ControlSet001\\Services\\XboxNetApiSvc".into(),
                "displayname".into()
            ),
        ]
    );
    let start = val(&h, "ControlSet001\\Services\\XboxNetApiSvc", "start");
    assert!(!start.tombstone);
    let names: Vec<&str> = h.root.subkeys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, vec!["ControlSet001", "MountedDevices"]);
    let ct = val(&h, "ControlSet001\\Control", "ContainerType");
    assert_eq!((ct.kind, ct.data.clone()), (4, 2u32.to_le_bytes().to_vec()));
    let ci = val(&h, "ControlSet001\\Control", "ContainerId");
    assert_eq!(ci.kind, 1);
    assert_eq!(ci.data, utf16z("A9AB3D85-47B5-56F9-8205-B04A5D26B08B"));
    let cn = val(
        &h,
        "ControlSet001\\Control\\ComputerName\\ComputerName",
        "ComputerName",
    );
    assert_eq!(cn.data, utf16z("D59F6865D8A6"));
}

/// Parse a Python repr'd string starting at `s` (quote char first); returns (text, rest).
fn py_str(s: &str) -> (String, &str) {
    let q = s.chars().next().unwrap();
    let mut out = String::new();
    let mut it = s[1..].char_indices();
    while let Some((i, c)) = it.next() {
        if c == q {
            return (out, &s[1 + i + 1..]);
        }
        if c == '\\' {
            let (_, e) = it.next().unwrap();
            out.push(match e {
                'n' => '\n',
                't' => '\t',
                'x' => {
                    let h: String = [it.next().unwrap().1, it.next().unwrap().1]
                        .iter()
                        .collect();
                    char::from_u32(u32::from_str_radix(&h, 16).unwrap()).unwrap()
                }
                o => o,
            });
        } else {
            out.push(c);
        }
    }
    panic!("unterminated python string: {s}")
}

/// The yarp (msuhanov) dump of System_Delta, an independent reader's view, matches ours:
/// every key path in order, its layer flags, subkey and value counts, and every value's
/// name, type and tombstone flag.
#[test]
fn system_delta_matches_yarp_dump() {
    let Some(b) = fixture("yarp/System_Delta") else {
        return;
    };
    let dump =
        String::from_utf8(fixture("yarp/System_Delta.yarp-print-dump.txt").unwrap()).unwrap();
    let h = hive::read(&b).unwrap();
    let ours = h.walk();
    let mut ki = 0usize;
    let mut vi = 0usize;
    let mut cur: Option<&Key> = None;
    let mut keys_seen = 0;
    let mut vals_seen = 0;
    for line in dump.lines() {
        if let Some(rest) = line.strip_prefix("KEY ") {
            let (path, rest) = py_str(rest);
            let flags = rest
                .split("flags=")
                .nth(1)
                .unwrap()
                .split(" subkeys=")
                .next()
                .unwrap();
            let counts: Vec<usize> = rest
                .split_whitespace()
                .filter_map(|t| t.split('=').nth(1).and_then(|n| n.parse().ok()))
                .collect();
            let (p, k) = &ours[ki];
            assert_eq!(p, &path, "key #{ki}");
            let expect = match flags {
                "None" => 0x00,
                "InheritClass" => 0x80,
                "IsSupersedeTree" => 0x03,
                "IsTombstone" => 0x01,
                "InheritClass | IsSupersedeTree" => 0x83,
                f => panic!("unexpected yarp flags {f}"),
            };
            assert_eq!(k.layer.to_byte(), expect, "{path}");
            assert_eq!(counts, vec![k.subkeys.len(), k.values.len()], "{path}");
            cur = Some(k);
            ki += 1;
            vi = 0;
            keys_seen += 1;
        } else if let Some(rest) = line.trim_start().strip_prefix("VAL (") {
            let (name, rest) = py_str(rest);
            let (ty, _) = py_str(rest.trim_start_matches([',', ' ']));
            let v = &cur.unwrap().values[vi];
            assert_eq!(v.name, name);
            assert_eq!(model::type_name(v.kind), ty, "{name}");
            assert_eq!(v.tombstone, line.ends_with("'IsTombstone')"), "{name}");
            vi += 1;
            vals_seen += 1;
        }
    }
    assert_eq!(keys_seen, 586);
    assert_eq!(vals_seen, 820);
}

#[test]
fn testhive_reads_as_provenance_says() {
    let Some(b) = fixture("nt-hive/testhive") else {
        return;
    };
    let h = hive::read(&b).unwrap();
    let names: Vec<&str> = h.root.subkeys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "big-data-test",
            "character-encoding-test",
            "data-test",
            "subkey-test",
            "subpath-test"
        ]
    );
    let enc: Vec<&str> = h
        .find("character-encoding-test")
        .unwrap()
        .subkeys
        .iter()
        .map(|k| k.name.as_str())
        .collect();
    assert_eq!(enc, ["äöü", "\u{10410}", "\u{10438}", "\u{FF21}"]);
    assert_eq!(
        h.find("character-encoding-test\\\u{FF41}").unwrap().name,
        "\u{FF21}"
    );
    assert_ne!(
        h.find("character-encoding-test\\\u{10410}").unwrap().name,
        h.find("character-encoding-test\\\u{10438}").unwrap().name
    );
    for (n, c, len) in [("A", b'A', 16343), ("B", b'B', 16344), ("C", b'C', 16345)] {
        let v = val(&h, "big-data-test", n);
        assert_eq!(v.kind, 3);
        assert_eq!(v.data, vec![c; len]);
    }
    let d = "data-test";
    // PROVENANCE.md says "no NUL stored" for reg-sz, but its vk says 16 bytes (raw check
    // below): offreg stored the terminator for both.
    assert_eq!(val(&h, d, "reg-sz").data, utf16z("sz-test"));
    let raw = raw_values(&b, raw_find(&b, d));
    assert_eq!((raw[0].0.as_str(), raw[0].3), ("reg-sz", 16));
    assert_eq!(
        val(&h, d, "reg-sz-with-terminating-nul").data,
        utf16z("sz-test")
    );
    assert_eq!(val(&h, d, "reg-expand-sz").kind, 2);
    let multi = val(&h, d, "reg-multi-sz");
    assert_eq!(multi.kind, 7);
    assert_eq!(
        model::render_data(7, &multi.data).unwrap(),
        r#"["multi-sz-test","line2"]"#
    );
    let big = val(&h, d, "reg-multi-sz-big");
    let expect = format!("[\"{}\",\"0123456789\"]", "0123456789".repeat(820));
    assert_eq!(model::render_data(7, &big.data).unwrap(), expect);
    assert_eq!(val(&h, d, "dword").data, 42u32.to_le_bytes());
    let be = val(&h, d, "dword-big-endian");
    assert_eq!((be.kind, be.data.clone()), (5, vec![0x2a, 0, 0, 0]));
    assert_eq!(val(&h, d, "qword").data, u64::MAX.to_le_bytes());
    assert_eq!(val(&h, d, "binary").data, vec![1, 2, 3, 4, 5]);
    let st = h.find("subkey-test").unwrap();
    assert_eq!(st.subkeys.len(), 512);
    for i in 0..512 {
        assert!(h.find(&format!("subkey-test\\KEY{i}")).is_some());
    }
    let mut sorted: Vec<String> = st.subkeys.iter().map(|k| k.name.clone()).collect();
    sorted.sort_by_key(|a| a.to_ascii_uppercase());
    assert_eq!(
        sorted,
        st.subkeys
            .iter()
            .map(|k| k.name.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        &cell(&b, u32_at(cell(&b, raw_find(&b, "subkey-test")), 28))[0..2],
        b"ri"
    );
    assert!(
        h.find("subpath-test\\with-two-levels-of-subkeys\\subkey1\\subkey2")
            .is_some()
    );
    assert!(
        h.find("subpath-test\\no-subkeys")
            .unwrap()
            .subkeys
            .is_empty()
    );
}

#[test]
fn yarp_normal_hives_read_as_provenance_says() {
    let Some(b) = fixture("yarp/BigDataHive") else {
        return;
    };
    let h = hive::read(&b).unwrap();
    assert_eq!(val(&h, "key_with_bigdata", "").data, vec![b'1'; 16345]);
    assert_eq!(val(&h, "key_with_bigdata", "V").data, vec![b'2'; 81725]);
    assert!(
        h.find("key_with_bigdata")
            .unwrap()
            .value("doesnt_exist")
            .is_none()
    );

    let h = hive::read(&fixture("yarp/StringValuesHive").unwrap()).unwrap();
    assert_eq!(val(&h, "key", "").data, utf16z("test тест"));
    assert_eq!(val(&h, "key", "1").data, b"test");
    assert_eq!(val(&h, "key", "2").data, utf16z("test тест"));
    assert_eq!(val(&h, "key", "3").data, utf16z("test тест "));

    let b = fixture("yarp/ManySubkeysHive").unwrap();
    let h = hive::read(&b).unwrap();
    assert_eq!(h.find("key_with_many_subkeys").unwrap().subkeys.len(), 5000);
    assert_eq!(
        &cell(
            &b,
            u32_at(cell(&b, raw_find(&b, "key_with_many_subkeys")), 28)
        )[0..2],
        b"ri"
    );

    let h = hive::read(&fixture("yarp/EmptyHive").unwrap()).unwrap();
    assert!(h.root.subkeys.is_empty());
    // 2017-03-04 16:37:31 UTC = Unix 1488645451 = FILETIME second 1488645451 + 11644473600.
    assert_eq!(
        h.header.timestamp / 10_000_000,
        1_488_645_451 + 11_644_473_600
    );
    assert_eq!(
        h.root.timestamp / 10_000_000,
        1_488_645_451 + 11_644_473_600
    );
}

// ------------------------------ writing ------------------------------

#[test]
fn every_fixture_round_trips_and_writes_deterministically() {
    for f in ALL {
        let Some(b) = fixture(f) else { return };
        let h = hive::read(&b).unwrap();
        let w1 = hive::write(&h).unwrap();
        let w2 = hive::write(&h.clone()).unwrap();
        assert_eq!(w1, w2, "{f}: same model, different bytes");
        let h2 = hive::read(&w1).unwrap_or_else(|e| panic!("{f}: re-read failed: {e}"));
        assert_eq!(h, h2, "{f}: model changed in the round trip");
        assert_eq!(hive::write(&h2).unwrap(), w1, "{f}: not a fixpoint");
    }
}

/// Our writer's `lh` hashes and leaf split equal offreg's in testhive (the hash of
/// supplementary-plane names, the 507-entry first leaf under the `ri`).
#[test]
fn writer_lists_match_offreg_testhive() {
    let Some(b) = fixture("nt-hive/testhive") else {
        return;
    };
    let w = hive::write(&hive::read(&b).unwrap()).unwrap();
    for path in ["", "character-encoding-test", "subkey-test"] {
        let theirs: Vec<u32> = raw_subkeys(&b, u32_at(cell(&b, raw_find(&b, path)), 28))
            .into_iter()
            .map(|x| x.1.unwrap())
            .collect();
        let ours: Vec<u32> = raw_subkeys(&w, u32_at(cell(&w, raw_find(&w, path)), 28))
            .into_iter()
            .map(|x| x.1.unwrap())
            .collect();
        assert_eq!(ours, theirs, "lh hashes under {path:?}");
    }
    let leaves = |x: &[u8]| {
        let ri = cell(x, u32_at(cell(x, raw_find(x, "subkey-test")), 28));
        assert_eq!(&ri[0..2], b"ri");
        (0..u16_at(ri, 2) as usize)
            .map(|i| u16_at(cell(x, u32_at(ri, 4 + 4 * i)), 2))
            .collect::<Vec<_>>()
    };
    assert_eq!(leaves(&w), leaves(&b));
    assert_eq!(leaves(&w), vec![507, 5]);
    // Big data: C (16345) in `db`, B (16344) in one cell, as offreg wrote them.
    let vals = raw_values(&w, raw_find(&w, "big-data-test"));
    let sig = |off: u32| cell(&w, off)[0..2].to_vec();
    assert_eq!(sig(vals[2].4), b"db");
    assert_ne!(sig(vals[1].4), b"db");
}

/// sk cells: one per distinct descriptor, a correct circular list, refcounts = users.
#[test]
fn security_cells_are_shared_and_linked() {
    let Some(b) = fixture("yarp/System_Delta") else {
        return;
    };
    let h = hive::read(&b).unwrap();
    let w = hive::write(&h).unwrap();
    let mut distinct: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
    for (_, k) in h.walk() {
        *distinct.entry(k.security.to_vec()).or_default() += 1;
    }
    let first = u32_at(cell(&w, u32_at(&w, 36)), 44);
    let mut off = first;
    let mut seen = BTreeMap::new();
    loop {
        let c = cell(&w, off);
        assert_eq!(&c[0..2], b"sk");
        let (flink, refs, len) = (u32_at(c, 4), u32_at(c, 12), u32_at(c, 16) as usize);
        assert_eq!(u32_at(cell(&w, flink), 8), off, "blink of next is not this");
        seen.insert(c[20..20 + len].to_vec(), refs);
        off = flink;
        if off == first {
            break;
        }
        assert!(seen.len() <= distinct.len(), "sk list does not close");
    }
    assert_eq!(seen, distinct);
}

// ------------------------- layered encoding vs offreg -------------------------

struct Nk {
    flags: u16,
    ts: u64,
    access: u8,
    layer: u8,
    spare: u16,
    nsub: u32,
    nvol: u32,
    vol_list: u32,
    nval: u32,
    val_list: u32,
    sk_sig: Vec<u8>,
    class: u32,
    class_len: u16,
    max: [u32; 4],
    workvar: u32,
}
fn nk(b: &[u8], off: u32) -> Nk {
    let c = cell(b, off);
    assert_eq!(&c[0..2], b"nk");
    Nk {
        flags: u16_at(c, 2),
        ts: u64_at(c, 4),
        access: c[12],
        layer: c[13],
        spare: u16_at(c, 14),
        nsub: u32_at(c, 20),
        nvol: u32_at(c, 24),
        vol_list: u32_at(c, 32),
        nval: u32_at(c, 36),
        val_list: u32_at(c, 40),
        sk_sig: cell(b, u32_at(c, 44))[0..2].to_vec(),
        class: u32_at(c, 48),
        class_len: u16_at(c, 74),
        max: [u32_at(c, 52), u32_at(c, 56), u32_at(c, 60), u32_at(c, 64)],
        workvar: u32_at(c, 68),
    }
}

fn pause_system_delta(base: Option<&Hive>) -> Vec<u8> {
    let ops = vec![
        regfile::RegOp {
            hive: regfile::RootHive::System,
            path: "ControlSet001\\Services\\DiagTrack".into(),
            action: regfile::Action::DeleteKey,
        },
        regfile::RegOp {
            hive: regfile::RootHive::System,
            path: "ControlSet001\\Services\\XboxNetApiSvc".into(),
            action: regfile::Action::DeleteValue {
                name: "displayname".into(),
            },
        },
        regfile::RegOp {
            hive: regfile::RootHive::System,
            path: "ControlSet001\\Services\\NewSvc".into(),
            action: regfile::Action::SetValue {
                name: "".into(),
                kind: 1,
                data: utf16z(""),
            },
        },
    ];
    let d = delta::build(base, &ops, 132_419_070_870_141_907).unwrap();
    hive::write(&d).unwrap()
}

/// Each layered cell we write carries the same flags and field values as the matching
/// cell offreg wrote in System_Delta (names, offsets and timestamps aside).
#[test]
fn layered_cells_match_offreg_field_by_field() {
    let Some(theirs) = fixture("yarp/System_Delta") else {
        return;
    };
    let base = base_system();
    let ours = pause_system_delta(Some(&base));
    let svc = "ControlSet001\\Services\\";

    // Base block: every field but timestamps, sizes, root offset, file name, checksum value.
    for (name, at) in [
        ("major", 20),
        ("minor", 24),
        ("type", 28),
        ("format", 32),
        ("clustering", 44),
        ("flags (0x2 layered)", 144),
        ("offreg signature OfRg", 176),
        ("offreg flags", 180),
        ("boot type", 4088),
        ("boot recover", 4092),
    ] {
        assert_eq!(u32_at(&ours, at), u32_at(&theirs, at), "base block {name}");
    }
    assert_eq!(
        u32_at(&ours, 4),
        u32_at(&ours, 8),
        "primary = secondary sequence"
    );
    assert_eq!(u32_at(&ours, 40) % 4096, 0, "data size multiple of 4096");
    let x = ours[..508]
        .chunks(4)
        .fold(0u32, |a, c| a ^ u32::from_le_bytes(c.try_into().unwrap()));
    assert_eq!(u32_at(&ours, 508), x, "checksum");
    assert_eq!(&ours[4096..4100], b"hbin");
    assert_eq!(
        ours[4096 + 12..4096 + 32],
        theirs[4096 + 12..4096 + 32],
        "hbin reserved/timestamp/spare"
    );

    // Root: flags 0x2c, layer 0, access bits.
    let (r_o, r_t) = (
        nk(&ours, u32_at(&ours, 36)),
        nk(&theirs, u32_at(&theirs, 36)),
    );
    assert_eq!(nk_name(cell(&ours, u32_at(&ours, 36))), "ROOT");
    assert_eq!(
        (r_o.flags, r_o.layer, r_o.access),
        (r_t.flags, r_t.layer, r_t.access)
    );

    let same = |what: &str, o: &Nk, t: &Nk, with_values: bool| {
        assert_eq!(o.flags, t.flags, "{what}: flags");
        assert_eq!(o.access, t.access, "{what}: access bits");
        assert_eq!(o.layer, t.layer, "{what}: layer byte");
        assert_eq!(o.spare, t.spare, "{what}: spare");
        assert_eq!(o.nvol, t.nvol, "{what}: volatile subkey count");
        assert_eq!(o.vol_list, t.vol_list, "{what}: volatile list");
        assert_eq!(o.sk_sig, t.sk_sig, "{what}: sk set");
        assert_eq!(
            (o.class, o.class_len),
            (t.class, t.class_len),
            "{what}: class"
        );
        assert_eq!(o.workvar, t.workvar, "{what}: workvar");
        if with_values {
            assert_eq!(
                (o.nval, o.val_list == u32::MAX),
                (t.nval, t.val_list == u32::MAX),
                "{what}: values"
            );
        }
    };
    // Tombstone key: DiagTrack (ours) vs XBOXGIP (offreg).
    let (o, t) = (
        nk(&ours, raw_find(&ours, &format!("{svc}DiagTrack"))),
        nk(&theirs, raw_find(&theirs, &format!("{svc}XBOXGIP"))),
    );
    same("tombstone key", &o, &t, true);
    assert_eq!((o.ts, o.nsub, o.max), (0, 0, [0; 4]));
    assert_eq!((t.ts, t.nsub, t.max), (0, 0, [0; 4]));
    // Pass-through key: ControlSet001 in both; Services.
    for p in ["ControlSet001", "ControlSet001\\Services"] {
        let (o, t) = (
            nk(&ours, raw_find(&ours, p)),
            nk(&theirs, raw_find(&theirs, p)),
        );
        same(p, &o, &t, p == "ControlSet001");
        assert_eq!(o.layer, 0x80);
    }
    // Supersede-tree (created) key: NewSvc vs a_subkey (offreg's plain 0x03 created key with one value).
    let (o, t) = (
        nk(&ours, raw_find(&ours, &format!("{svc}NewSvc"))),
        nk(
            &theirs,
            raw_find(&theirs, &format!("{svc}xboxgipsvc\\a_subkey")),
        ),
    );
    same("supersede-tree key", &o, &t, true);
    assert_eq!(o.layer, 0x03);
    // Tombstone value: displayname in both.
    let tv = |b: &[u8]| {
        raw_values(b, raw_find(b, &format!("{svc}XboxNetApiSvc")))
            .into_iter()
            .find(|v| v.0 == "displayname")
            .unwrap()
    };
    let (o, t) = (tv(&ours), tv(&theirs));
    assert_eq!(
        (o.1, o.2, o.3, o.4, o.5),
        (t.1, t.2, t.3, t.4, t.5),
        "tombstone vk flags/type/size/offset/spare"
    );
    assert_eq!((o.1, o.2, o.3, o.4), (0x3, 0, 0, u32::MAX));
    // Max-length fields follow the same rule as offreg's: UTF-16 bytes, tombstones included.
    let xb = nk(&ours, raw_find(&ours, &format!("{svc}XboxNetApiSvc")));
    assert_eq!(xb.max[2], 22, "max value name = len(\"displayname\") * 2");
}

/// Data of 1-4 bytes is stored inline as offreg does: size | 0x80000000, bytes in the
/// offset field (offreg: XboxNetApiSvc "start", REG_SZ of 2 bytes).
#[test]
fn inline_small_data_matches_offreg() {
    let Some(theirs) = fixture("yarp/System_Delta") else {
        return;
    };
    let ops = regfile::parse(
        b"REGEDIT4\n[HKLM\\SOFTWARE\\Microsoft\\rpc]\n\"DCOM Protocols\"=hex(7):00,00\n",
    )
    .unwrap();
    let ours = hive::write(&delta::build(None, &ops, 1).unwrap()).unwrap();
    let o = raw_values(&ours, raw_find(&ours, "Microsoft\\rpc"));
    let t = raw_values(
        &theirs,
        raw_find(&theirs, "ControlSet001\\Services\\XboxNetApiSvc"),
    );
    let t = t.iter().find(|v| v.0 == "start").unwrap();
    assert_eq!(
        (o[0].1, o[0].3, o[0].4, o[0].5),
        (t.1, t.3, t.4, t.5),
        "flags, size, offset field, spare"
    );
    assert_eq!((o[0].2, t.2), (7, 1));
}

// --------------------------- delta build, merge, diff ---------------------------

fn sd(tag: u8) -> Vec<u8> {
    let mut s = delta::DEFAULT_SD.to_vec();
    s.push(tag);
    s
}

fn base_system() -> Hive {
    let mut root = Key::new("ROOT", Default::default(), 1, sd(0));
    let mut cs = Key::new("ControlSet001", Default::default(), 2, sd(0));
    let mut services = Key::new("Services", Default::default(), 3, sd(0));
    let mut diag = Key::new("DiagTrack", Default::default(), 4, sd(7));
    diag.values
        .push(Value::new("Start", 4, 2u32.to_le_bytes().to_vec()));
    diag.subkeys
        .push(Key::new("Parameters", Default::default(), 5, sd(7)));
    let mut xbox = Key::new("XboxNetApiSvc", Default::default(), 6, sd(0));
    xbox.values
        .push(Value::new("displayname", 1, utf16z("Xbox")));
    xbox.values
        .push(Value::new("start", 4, 3u32.to_le_bytes().to_vec()));
    services.subkeys.extend([diag, xbox]);
    cs.subkeys.push(services);
    root.subkeys.push(cs);
    Hive {
        header: model::Header::offreg(false),
        root,
    }
}

#[test]
fn delta_from_base_uses_base_casing_sd_and_merges_back() {
    let base = base_system();
    assert_eq!(delta::base_rule(Some(&base)), delta::BaseRule::FromBase);
    let ops = [regfile::RegOp {
        hive: regfile::RootHive::System,
        path: "ControlSet001\\Services\\diagtrack".into(),
        action: regfile::Action::DeleteKey,
    }];
    let d = delta::build(Some(&base), &ops, 99).unwrap();
    let t = d.find("ControlSet001\\Services\\DiagTrack").unwrap();
    assert_eq!(t.name, "DiagTrack");
    assert_eq!(t.layer.to_byte(), 0x01);
    assert_eq!(&t.security[..], &sd(7)[..]);
    assert_eq!(t.timestamp, 0);
    assert_eq!(d.find("ControlSet001").unwrap().layer.to_byte(), 0x80);
    assert_eq!(
        d.find("ControlSet001").unwrap().timestamp,
        2,
        "pass-through keeps base time"
    );
    assert_eq!(
        d.find("ControlSet001\\Services").unwrap().timestamp,
        99,
        "parent of a deleted key changed"
    );
    let eff = merge::apply(&base, &hive::read(&hive::write(&d).unwrap()).unwrap());
    assert!(eff.find("ControlSet001\\Services\\DiagTrack").is_none());
    assert!(eff.find("ControlSet001\\Services\\XboxNetApiSvc").is_some());
    let changes = hive::diff::diff(&base, &eff);
    let deleted: Vec<&str> = changes
        .iter()
        .filter_map(|c| match c {
            Change::KeyDeleted { path, .. } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        deleted,
        [
            "ControlSet001\\Services\\DiagTrack",
            "ControlSet001\\Services\\DiagTrack\\Parameters"
        ]
    );
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, Change::ValueDeleted { name, .. } if name == "Start"))
    );
    // Deleting a key the base lacks records nothing.
    let none = [regfile::RegOp {
        hive: regfile::RootHive::System,
        path: "ControlSet001\\Services\\Nope".into(),
        action: regfile::Action::DeleteKey,
    }];
    assert!(
        delta::build(Some(&base), &none, 9)
            .unwrap()
            .root
            .subkeys
            .is_empty()
    );
}

/// The real offreg delta merged onto a base: its tombstones hide base keys and values.
#[test]
fn merge_applies_offreg_tombstones() {
    let Some(b) = fixture("yarp/System_Delta") else {
        return;
    };
    let d = hive::read(&b).unwrap();
    let mut base = base_system();
    let services: &mut Vec<Key> = &mut base.root.subkeys[0].subkeys[0].subkeys;
    let mut gip = Key::new("XBOXGIP", Default::default(), 1, sd(0));
    gip.values.push(Value::new("x", 4, vec![1, 0, 0, 0]));
    services.push(gip);
    let eff = merge::apply(&base, &d);
    assert!(
        eff.find("ControlSet001\\Services\\XBOXGIP").is_none(),
        "tombstone key hides base key"
    );
    let x = eff.find("ControlSet001\\Services\\XboxNetApiSvc").unwrap();
    assert!(
        x.value("displayname").is_none(),
        "tombstone value hides base value"
    );
    assert_eq!(
        x.value("start").unwrap().data,
        utf16z(""),
        "delta value overrides base value"
    );
    assert!(
        eff.find("ControlSet001\\Services\\DiagTrack").is_some(),
        "untouched base key stays"
    );
    assert!(
        eff.find("ControlSet001\\Services\\xboxgipsvc\\a_subkey")
            .is_some()
    );
    assert!(!eff.header.layered());
    assert!(
        eff.walk()
            .iter()
            .all(|(_, k)| k.layer.to_byte() == 0 && k.values.iter().all(|v| !v.tombstone))
    );
}

// ------------------------------- robustness -------------------------------

#[test]
fn every_truncation_is_a_clean_error() {
    for f in ALL {
        let Some(b) = fixture(f) else { return };
        let end = 4096 + u32_at(&b, 40) as usize;
        for len in 0..end {
            assert!(
                hive::read(&b[..len]).is_err(),
                "{f} truncated to {len} was accepted"
            );
        }
        // Past the hive-bin data the file is only padding: still a valid hive.
        assert!(hive::read(&b[..end]).is_ok());
    }
}

#[test]
fn random_byte_flips_never_panic() {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut errors = 0;
    let mut runs = 0;
    for f in ALL {
        let Some(orig) = fixture(f) else { return };
        let end = 4096 + u32_at(&orig, 40) as usize;
        let iters = if f.contains("ManySubkeys") { 150 } else { 600 };
        for _ in 0..iters {
            let mut b = orig[..end].to_vec();
            let flips = 1 + next() % 8;
            for _ in 0..flips {
                let at = 4096 + (next() as usize) % (end - 4096);
                b[at] ^= 1 << (next() % 8);
            }
            runs += 1;
            if hive::read(&b).is_err() {
                errors += 1;
            }
        }
    }
    assert!(
        errors > 0 && errors < runs,
        "flips should hit both harmless and structural bytes"
    );
}

// ------------------------------- streaming -------------------------------

/// One key as both readers report it: path, depth, layer byte, timestamp, flags, access
/// bits, class, values.
type Row = (String, usize, u8, u64, u16, u8, Option<String>, Vec<Value>);

fn streamed(b: &[u8]) -> Result<(Vec<Row>, hive::stream::Counts), hive::Error> {
    let s = hive::stream::open(b)?;
    let counts = s.check()?;
    let mut rows = Vec::new();
    let mut keys = s.keys();
    while let Some(k) = keys.next_key()? {
        let values = k
            .values()
            .map(|v| {
                v.map(|v| Value {
                    name: v.name,
                    kind: v.kind,
                    data: v.data.into_owned(),
                    tombstone: v.tombstone,
                })
            })
            .collect::<Result<_, _>>()?;
        rows.push((
            k.path.to_string(),
            k.depth,
            k.layer.to_byte(),
            k.timestamp,
            k.flags,
            k.access_bits,
            k.class.map(str::to_string),
            values,
        ));
    }
    Ok((rows, counts))
}

fn modeled(h: &Hive) -> Vec<Row> {
    h.walk()
        .into_iter()
        .map(|(p, k)| {
            let depth = model::split_path(&p).count();
            (
                p,
                depth,
                k.layer.to_byte(),
                k.timestamp,
                k.flags,
                k.access_bits,
                k.class.clone(),
                k.values.clone(),
            )
        })
        .collect()
}

#[test]
fn stream_walks_what_the_model_holds() {
    let generated = hive::write(&hive::generate(2_000)).unwrap();
    let mut files: Vec<(&str, Vec<u8>)> = vec![("generated", generated)];
    for f in ALL {
        let Some(b) = fixture(f) else { return };
        files.push((f, b));
    }
    for (f, b) in &files {
        let h = hive::read(b).unwrap();
        let (rows, counts) = streamed(b).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(rows, modeled(&h), "{f}");
        assert_eq!(counts.keys, rows.len(), "{f}");
        let values: usize = rows.iter().map(|r| r.7.len()).sum();
        assert_eq!(counts.values, values, "{f}");
        let tv = rows
            .iter()
            .flat_map(|r| &r.7)
            .filter(|v| v.tombstone)
            .count();
        assert_eq!(counts.tombstone_values, tv, "{f}");
        assert_eq!(counts.layer_bytes.iter().sum::<usize>(), rows.len(), "{f}");
    }
    // System_Delta's counts as hive_cli's dump test knows them.
    let Some(b) = fixture("yarp/System_Delta") else {
        return;
    };
    let c = streamed(&b).unwrap().1;
    assert_eq!((c.keys, c.tombstone_keys, c.tombstone_values), (586, 2, 3));
    assert_eq!((c.layer_bytes[0x80], c.layer_bytes[0x83]), (514, 1));
}

/// Damaged hives: the stream refuses exactly what `hive::read` refuses, and reads the
/// same content from what it accepts (truncations and random flips, as above).
#[test]
fn stream_refuses_what_read_refuses() {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut errors, mut runs) = (0, 0);
    for f in ALL {
        let Some(orig) = fixture(f) else { return };
        let end = 4096 + u32_at(&orig, 40) as usize;
        for len in (0..end).step_by(997) {
            assert!(streamed(&orig[..len]).is_err(), "{f} truncated to {len}");
        }
        let iters = if f.contains("ManySubkeys") { 100 } else { 400 };
        for _ in 0..iters {
            let mut b = orig[..end].to_vec();
            for _ in 0..1 + next() % 8 {
                let at = 4096 + (next() as usize) % (end - 4096);
                b[at] ^= 1 << (next() % 8);
            }
            runs += 1;
            match (hive::read(&b), streamed(&b)) {
                (Ok(h), Ok((rows, _))) => assert_eq!(rows, modeled(&h), "{f}"),
                (Err(_), Err(_)) => errors += 1,
                (Ok(_), Err(e)) => panic!("{f}: read accepts, stream refuses: {e}"),
                (Err(e), Ok(_)) => panic!("{f}: stream accepts, read refuses: {e}"),
            }
        }
    }
    assert!(errors > 0 && errors < runs, "{errors} of {runs}");
}

/// A chain 512 deep under the root streams; pointing its deepest key at another key's
/// subkeys makes 513 levels (refused), pointing a key at itself is a loop (refused);
/// both with the model reader's message. (On a big stack: the model, its writer and its
/// drop recurse over the 512 levels; the stream does not.)
#[test]
fn stream_bounds_depth_and_refuses_loops() {
    std::thread::Builder::new()
        .stack_size(pause_verify::limits::THREAD_STACK)
        .spawn(deep_and_looped)
        .unwrap()
        .join()
        .unwrap();
}

fn deep_and_looped() {
    let sd = delta::DEFAULT_SD.to_vec();
    let mut root = Key::new("ROOT", Default::default(), 1, sd.clone());
    let mut chain = Key::new("A", Default::default(), 1, sd.clone());
    for _ in 1..512 {
        let mut up = Key::new("A", Default::default(), 1, sd.clone());
        up.subkeys.push(chain);
        chain = up;
    }
    let mut b_key = Key::new("B", Default::default(), 1, sd.clone());
    b_key
        .subkeys
        .push(Key::new("C", Default::default(), 1, sd.clone()));
    root.subkeys.push(chain);
    root.subkeys.push(b_key);
    let h = Hive {
        header: model::Header::offreg(false),
        root,
    };
    let bytes = hive::write(&h).unwrap();
    let (rows, _) = streamed(&bytes).unwrap();
    assert_eq!(rows.iter().map(|r| r.1).max(), Some(512));
    assert_eq!(rows, modeled(&hive::read(&bytes).unwrap()));

    let deepest = raw_find(&bytes, &vec!["A"; 512].join("\\"));
    let b_list = u32_at(cell(&bytes, raw_find(&bytes, "B")), 28);
    let nk_field = |off: u32, at: usize| 4096 + off as usize + 4 + at;
    let mut deep = bytes.clone();
    deep[nk_field(deepest, 20)..][..4].copy_from_slice(&1u32.to_le_bytes());
    deep[nk_field(deepest, 28)..][..4].copy_from_slice(&b_list.to_le_bytes());
    let mut looped = bytes.clone();
    let root_off = u32_at(&bytes, 36);
    let list = u32_at(cell(&bytes, root_off), 28);
    looped[4096 + list as usize + 4 + 4..][..4].copy_from_slice(&root_off.to_le_bytes());
    for (b, want) in [
        (&deep, "keys nest deeper than 512 levels"),
        (&looped, "referenced twice (a loop)"),
    ] {
        let e = streamed(b).expect_err("refused").to_string();
        assert!(e.contains(want), "{e}");
        assert_eq!(e, hive::read(b).unwrap_err().to_string());
    }
}
