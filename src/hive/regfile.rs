//! `.reg` file parser (regedit's import format) → registry operations per hive.
//!
//! Accepts "Windows Registry Editor Version 5.00" (UTF-16LE with BOM, or UTF-8 with or
//! without BOM) and "REGEDIT4"; CRLF or LF; a missing final newline. Lines: `[KEY]`
//! (create/open), `[-KEY]` (delete), `"name"=…` / `@=…` values, `"name"=-` (delete
//! value), `;` comments, blank lines. Value data: `"string"` (escapes `\\` and `\"`; any
//! other backslash is kept as written, as regedit does), `dword:XXXXXXXX`, `hex:…`
//! (REG_BINARY), `hex(N):…` (type N in hex) with `\` line continuations. Errors name the
//! line and the problem. Hand-written: no crate parses this format for writing hives.
//!
//! Key mapping (the hive files a container layer carries; abbreviations as reg.exe takes):
//!
//! | .reg key prefix                                         | hive       | path in hive            |
//! |---------------------------------------------------------|------------|-------------------------|
//! | `HKEY_LOCAL_MACHINE\SOFTWARE` (`HKLM\SOFTWARE`)          | Software   | rest                    |
//! | `HKEY_CLASSES_ROOT` (`HKCR`)                             | Software   | `Classes\` + rest       |
//! | `HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet`            | System     | `ControlSet001\` + rest |
//! | `HKEY_LOCAL_MACHINE\SYSTEM`                              | System     | rest                    |
//! | `HKEY_LOCAL_MACHINE\SAM`                                 | Sam        | rest                    |
//! | `HKEY_LOCAL_MACHINE\SECURITY`                            | Security   | rest                    |
//! | `HKEY_USERS\.DEFAULT` (`HKU\.DEFAULT`)                    | Default    | rest                    |
//! | `HKEY_CURRENT_USER` (`HKCU`), other `HKEY_USERS\…`, other `HKLM\…` | error | —          |
//!
//! HKCU is an error, not the default user hive: in a container RUN step HKCU is the
//! running user's own profile hive (a file under `Files/Users/`), which no `Hives/*_Delta`
//! holds; write `HKEY_USERS\.DEFAULT` to change the default user hive.

use serde::Serialize;

/// Which hive of a Windows layer an operation targets (`Hives/<X>_Delta`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum RootHive {
    Software,
    System,
    Sam,
    Security,
    /// The default user hive (`DefaultUser_Delta`).
    Default,
}

impl RootHive {
    /// The delta hive's file name in a layer tar (`Hives/<name>`).
    pub fn delta_file_name(self) -> &'static str {
        match self {
            RootHive::Software => "Software_Delta",
            RootHive::System => "System_Delta",
            RootHive::Sam => "Sam_Delta",
            RootHive::Security => "Security_Delta",
            RootHive::Default => "DefaultUser_Delta",
        }
    }
}

/// What an operation does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    /// Set a value (`name` "" = the default value); `kind` is the raw REG_* number.
    SetValue {
        name: String,
        kind: u32,
        data: Vec<u8>,
    },
    DeleteValue {
        name: String,
    },
    /// Create (or open) the key.
    CreateKey,
    /// Delete the key and everything under it.
    DeleteKey,
}

/// One registry edit: target hive, key path relative to that hive's root, action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegOp {
    pub hive: RootHive,
    pub path: String,
    #[serde(flatten)]
    pub action: Action,
}

impl RegOp {
    fn same_key(&self, other: &RegOp) -> bool {
        self.hive == other.hive && self.path.eq_ignore_ascii_case(&other.path)
    }
}

/// A key a build tombstoned in a delta hive (it and its subtree are gone). Serialized as
/// `HIVE\path` with the hive's upper-case name (`SYSTEM\ControlSet001\...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedKey {
    pub hive: RootHive,
    pub path: String,
}

impl Serialize for DeletedKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let hive = format!("{:?}", self.hive).to_uppercase();
        s.serialize_str(&format!("{hive}\\{}", self.path))
    }
}

/// The registry edits a list of operations makes, in the one vocabulary the rebuild
/// report, the provenance and the audit policy share (so all three count the same):
/// in order, duplicates dropped; a key creation only when no value is set under that key
/// (setting a value creates its key, and checking the value checks the key); then a
/// `DeleteKey` for each tombstoned key no operation already deletes.
pub fn net_edits(ops: &[RegOp], tombstoned: &[DeletedKey]) -> Vec<RegOp> {
    let mut out: Vec<RegOp> = Vec::new();
    for op in ops {
        let implied_create = op.action == Action::CreateKey
            && ops
                .iter()
                .any(|o| matches!(o.action, Action::SetValue { .. }) && o.same_key(op));
        if !implied_create && !out.contains(op) {
            out.push(op.clone());
        }
    }
    for d in tombstoned {
        let op = RegOp {
            hive: d.hive,
            path: d.path.clone(),
            action: Action::DeleteKey,
        };
        if !out
            .iter()
            .any(|o| o.action == Action::DeleteKey && o.same_key(&op))
        {
            out.push(op);
        }
    }
    out
}

/// A `.reg` syntax or mapping error at a line (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(".reg line {line}: {message}")]
pub struct RegFileError {
    pub line: usize,
    pub message: String,
}

/// Map a full registry key path (`HKEY_LOCAL_MACHINE\SOFTWARE\…`, `HKLM\…`) to its hive
/// and the path inside it (table in the module doc). Errors say what is accepted.
pub fn map_key(full: &str) -> Result<(RootHive, String), String> {
    let parts: Vec<&str> = full.split('\\').filter(|p| !p.is_empty()).collect();
    let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let Some(first) = parts.first() else {
        return Err("empty key path".into());
    };
    let rest = |n: usize| parts.get(n..).map(|p| p.join("\\")).unwrap_or_default();
    let hklm = eq(first, "HKEY_LOCAL_MACHINE") || eq(first, "HKLM");
    if hklm {
        let Some(second) = parts.get(1) else {
            return Err(format!(
                "{full}: name a hive under HKEY_LOCAL_MACHINE (SOFTWARE, SYSTEM, SAM, SECURITY)"
            ));
        };
        if eq(second, "SOFTWARE") {
            return Ok((RootHive::Software, rest(2)));
        }
        if eq(second, "SYSTEM") {
            if parts.get(2).is_some_and(|p| eq(p, "CurrentControlSet")) {
                let r = rest(3);
                let p = if r.is_empty() {
                    "ControlSet001".to_string()
                } else {
                    format!("ControlSet001\\{r}")
                };
                return Ok((RootHive::System, p));
            }
            return Ok((RootHive::System, rest(2)));
        }
        if eq(second, "SAM") {
            return Ok((RootHive::Sam, rest(2)));
        }
        if eq(second, "SECURITY") {
            return Ok((RootHive::Security, rest(2)));
        }
        return Err(format!(
            "{full}: HKEY_LOCAL_MACHINE\\{second} is not a hive a container layer carries (SOFTWARE, SYSTEM, SAM, SECURITY)"
        ));
    }
    if eq(first, "HKEY_CLASSES_ROOT") || eq(first, "HKCR") {
        let r = rest(1);
        let p = if r.is_empty() {
            "Classes".to_string()
        } else {
            format!("Classes\\{r}")
        };
        return Ok((RootHive::Software, p));
    }
    if eq(first, "HKEY_USERS") || eq(first, "HKU") {
        if parts.get(1).is_some_and(|p| eq(p, ".DEFAULT")) {
            return Ok((RootHive::Default, rest(2)));
        }
        return Err(format!(
            "{full}: only HKEY_USERS\\.DEFAULT (the default user hive) is in a layer"
        ));
    }
    if eq(first, "HKEY_CURRENT_USER") || eq(first, "HKCU") {
        return Err(format!(
            "{full}: HKEY_CURRENT_USER is the running user's profile hive, which no layer delta hive holds; use HKEY_USERS\\.DEFAULT for the default user hive"
        ));
    }
    Err(format!(
        "{full}: unknown root key (use HKEY_LOCAL_MACHINE, HKEY_CLASSES_ROOT or HKEY_USERS\\.DEFAULT)"
    ))
}

fn decode(bytes: &[u8]) -> Result<String, RegFileError> {
    let err = |m: &str| RegFileError {
        line: 1,
        message: m.to_string(),
    };
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        if rest.len() % 2 != 0 {
            return Err(err("UTF-16LE file has an odd number of bytes"));
        }
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16(&units).map_err(|_| err("invalid UTF-16LE text"));
    }
    if bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(err(
            "UTF-16 big-endian .reg files are not supported (save as UTF-16LE or UTF-8)",
        ));
    }
    let b = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    match std::str::from_utf8(b) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => {
            let line = 1 + b[..e.valid_up_to()].iter().filter(|&&c| c == b'\n').count();
            Err(RegFileError {
                line,
                message: "not valid UTF-8 (nor UTF-16LE with a BOM)".into(),
            })
        }
    }
}

/// Parse a `.reg` file into operations, in file order.
pub fn parse(bytes: &[u8]) -> Result<Vec<RegOp>, RegFileError> {
    let cap = &crate::limits::REG_FILE;
    if bytes.len() as u64 > cap.bytes {
        return Err(RegFileError {
            line: 1,
            message: crate::limits::too_large(cap, bytes.len() as u64).to_string(),
        });
    }
    let text = decode(bytes)?;
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut ops = Vec::new();
    let mut i = 0usize;
    let mut saw_header = false;
    // Current section: Some((hive, path)) for [KEY], None before any or after [-KEY].
    let mut section: Option<(RootHive, String)> = None;
    let mut deleted_section = false;
    while i < lines.len() {
        let lineno = i + 1;
        let err = |m: String| RegFileError {
            line: lineno,
            message: m,
        };
        let raw = lines[i].trim();
        i += 1;
        if raw.is_empty() || raw.starts_with(';') {
            continue;
        }
        if !saw_header {
            if raw == "Windows Registry Editor Version 5.00" || raw == "REGEDIT4" {
                saw_header = true;
                continue;
            }
            return Err(err(format!(
                "expected the header \"Windows Registry Editor Version 5.00\" or \"REGEDIT4\", found {raw:?}"
            )));
        }
        if let Some(inner) = raw.strip_prefix('[') {
            let Some(inner) = inner.strip_suffix(']') else {
                return Err(err("key line has no closing ']'".into()));
            };
            let (delete, name) = match inner.strip_prefix('-') {
                Some(n) => (true, n),
                None => (false, inner),
            };
            let (hive, path) = map_key(name.trim()).map_err(err)?;
            let depth = super::model::split_path(&path).count();
            if depth > crate::limits::MAX_KEY_DEPTH {
                return Err(err(format!(
                    "key nested {depth} levels deep, over the {} levels a hive allows",
                    crate::limits::MAX_KEY_DEPTH
                )));
            }
            if delete && path.is_empty() {
                return Err(err(format!("cannot delete the root of a hive: [{inner}]")));
            }
            ops.push(RegOp {
                hive,
                path: path.clone(),
                action: if delete {
                    Action::DeleteKey
                } else {
                    Action::CreateKey
                },
            });
            section = Some((hive, path));
            deleted_section = delete;
            continue;
        }
        // A value line, possibly continued with a trailing backslash.
        let mut line = raw.to_string();
        while line.ends_with('\\') && value_is_hex(&line) {
            line.pop();
            match lines.get(i) {
                Some(next) => {
                    line.push_str(next.trim());
                    i += 1;
                }
                None => return Err(err("line continuation '\\' at the end of the file".into())),
            }
        }
        let Some((hive, path)) = section.clone() else {
            return Err(err("value line before any [KEY] line".into()));
        };
        if deleted_section {
            return Err(err("value line under a [-KEY] (deleted key) section".into()));
        }
        let (name, rest) = parse_name(&line).map_err(err)?;
        let rest = rest.trim_start();
        let Some(data) = rest.strip_prefix('=') else {
            return Err(err(format!(
                "expected '=' after the value name, found {rest:?}"
            )));
        };
        let data = data.trim();
        let action = if data == "-" {
            Action::DeleteValue { name }
        } else {
            let (kind, bytes) = parse_data(data).map_err(err)?;
            Action::SetValue {
                name,
                kind,
                data: bytes,
            }
        };
        ops.push(RegOp { hive, path, action });
    }
    if !saw_header {
        return Err(RegFileError {
            line: 1,
            message: "empty file: no .reg header".into(),
        });
    }
    Ok(ops)
}

fn value_is_hex(line: &str) -> bool {
    // Continuations only belong to hex data (a string may legitimately end in '\').
    match line.find('=') {
        Some(p) => line[p + 1..].trim_start().starts_with("hex"),
        None => false,
    }
}

/// `@` or a quoted name; returns the name and the rest of the line.
fn parse_name(line: &str) -> Result<(String, &str), String> {
    if let Some(rest) = line.strip_prefix('@') {
        return Ok((String::new(), rest));
    }
    let Some(body) = line.strip_prefix('"') else {
        return Err(format!(
            "expected a quoted value name or '@', found {line:?}"
        ));
    };
    let (s, used) = parse_quoted(body).ok_or("value name has no closing quote")?;
    Ok((s, &body[used..]))
}

/// Parse a quoted string body (after the opening quote). Returns text and bytes consumed
/// including the closing quote.
fn parse_quoted(body: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut it = body.char_indices();
    while let Some((i, c)) = it.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\\' => match it.next() {
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, o)) => {
                    out.push('\\');
                    out.push(o);
                }
                None => return None,
            },
            c => out.push(c),
        }
    }
    None
}

fn parse_data(data: &str) -> Result<(u32, Vec<u8>), String> {
    if let Some(body) = data.strip_prefix('"') {
        let (s, used) = parse_quoted(body).ok_or("string value has no closing quote")?;
        let tail = body[used..].trim();
        if !tail.is_empty() && !tail.starts_with(';') {
            return Err(format!("unexpected text after the string: {tail:?}"));
        }
        let mut b: Vec<u8> = s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        b.extend_from_slice(&[0, 0]);
        return Ok((1, b));
    }
    let lower = data.to_ascii_lowercase();
    if let Some(h) = lower.strip_prefix("dword:") {
        let h = h.trim();
        if h.is_empty() || h.len() > 8 || !h.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("dword needs 1 to 8 hex digits, found {h:?}"));
        }
        let v = u32::from_str_radix(h, 16).map_err(|e| e.to_string())?;
        return Ok((4, v.to_le_bytes().to_vec()));
    }
    let (kind, bytes) = if let Some(b) = lower.strip_prefix("hex:") {
        (3u32, b)
    } else if let Some(r) = lower.strip_prefix("hex(") {
        let Some(close) = r.find(')') else {
            return Err("hex( has no closing ')'".into());
        };
        let n = &r[..close];
        let kind =
            u32::from_str_radix(n, 16).map_err(|_| format!("bad type number in hex({n})"))?;
        let Some(b) = r[close + 1..].strip_prefix(':') else {
            return Err(format!("expected ':' after hex({n})"));
        };
        (kind, b)
    } else {
        return Err(format!(
            "unknown value data {data:?} (expected \"string\", dword:, hex:, hex(N): or -)"
        ));
    };
    let mut out = Vec::new();
    for part in bytes.split(',') {
        let p = part.trim();
        if p.is_empty() {
            if bytes.trim().is_empty() {
                break;
            }
            return Err("empty byte in hex list".into());
        }
        if p.len() > 2 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("bad hex byte {p:?}"));
        }
        out.push(u8::from_str_radix(p, 16).map_err(|e| e.to_string())?);
    }
    Ok((kind, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16z(s: &str) -> Vec<u8> {
        let mut b: Vec<u8> = s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        b.extend_from_slice(&[0, 0]);
        b
    }

    #[test]
    fn parses_all_forms() {
        let text = "Windows Registry Editor Version 5.00\r\n\r\n; comment\r\n[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\X]\r\n@=\"def\"\r\n\"q\"=\"a\\\\b \\\"c\\\"\"\r\n\"bin\"=hex:01,02,\\\r\n  03\r\n\"m\"=hex(7):41,00,00,00,00,00\r\n\"gone\"=-\r\n[-HKEY_LOCAL_MACHINE\\SOFTWARE\\Old]\r\n";
        let ops = parse(text.as_bytes()).unwrap();
        assert_eq!(ops.len(), 7);
        assert_eq!(ops[0].hive, RootHive::System);
        assert_eq!(ops[0].path, "ControlSet001\\Services\\X");
        assert_eq!(
            ops[1].action,
            Action::SetValue {
                name: "".into(),
                kind: 1,
                data: utf16z("def")
            }
        );
        assert_eq!(
            ops[2].action,
            Action::SetValue {
                name: "q".into(),
                kind: 1,
                data: utf16z("a\\b \"c\"")
            }
        );
        assert_eq!(
            ops[3].action,
            Action::SetValue {
                name: "bin".into(),
                kind: 3,
                data: vec![1, 2, 3]
            }
        );
        assert_eq!(
            ops[4].action,
            Action::SetValue {
                name: "m".into(),
                kind: 7,
                data: vec![0x41, 0, 0, 0, 0, 0]
            }
        );
        assert_eq!(
            ops[5].action,
            Action::DeleteValue {
                name: "gone".into()
            }
        );
        assert_eq!(
            ops[6],
            RegOp {
                hive: RootHive::Software,
                path: "Old".into(),
                action: Action::DeleteKey
            }
        );
    }

    #[test]
    fn utf16_and_regedit4() {
        let text = "REGEDIT4\n[HKEY_USERS\\.DEFAULT\\A]\n\"d\"=dword:0000002a\n";
        let mut b = vec![0xFF, 0xFE];
        b.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
        let ops = parse(&b).unwrap();
        assert_eq!(ops[1].hive, RootHive::Default);
        assert_eq!(
            ops[1].action,
            Action::SetValue {
                name: "d".into(),
                kind: 4,
                data: vec![42, 0, 0, 0]
            }
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse(b"REGEDIT4\n[HKLM\\SOFTWARE\\A]\n\"x\"=dword:123456789\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("dword"), "{e}");
        let e = parse(b"REGEDIT4\n\n[HKEY_CURRENT_USER\\A]\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("HKEY_USERS\\.DEFAULT"), "{e}");
        let e = parse(b"REGEDIT4\n\"x\"=\"y\"\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse(b"hello\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse(b"REGEDIT4\n[HKLM\\SOFTWARE\\A]\n\"x\"=hex:01,\\\n").unwrap_err();
        assert_eq!(e.line, 3);
    }

    #[test]
    fn net_edits_fold_implied_creates_and_add_tombstones_once() {
        let op = |path: &str, action: Action| RegOp {
            hive: RootHive::System,
            path: path.into(),
            action,
        };
        let set = |path: &str| {
            op(
                path,
                Action::SetValue {
                    name: "v".into(),
                    kind: 4,
                    data: vec![1, 0, 0, 0],
                },
            )
        };
        let ops = vec![
            op("A", Action::CreateKey),
            set("a"), // same key, other case: the creation above is implied
            op("Empty", Action::CreateKey),
            set("a"), // a duplicate
            op("Gone", Action::DeleteKey),
        ];
        let tomb = |path: &str| DeletedKey {
            hive: RootHive::System,
            path: path.into(),
        };
        let net = net_edits(&ops, &[tomb("GONE"), tomb("Other")]);
        assert_eq!(
            net,
            vec![
                set("a"),
                op("Empty", Action::CreateKey),
                op("Gone", Action::DeleteKey),
                op("Other", Action::DeleteKey),
            ]
        );
        // A creation in another hive is not implied by a value in this one.
        let other = RegOp {
            hive: RootHive::Software,
            path: "a".into(),
            action: Action::CreateKey,
        };
        assert_eq!(
            net_edits(&[other.clone(), set("a")], &[]),
            vec![other, set("a")]
        );
        assert_eq!(
            serde_json::to_value(tomb("ControlSet001\\Services\\DiagTrack")).unwrap(),
            serde_json::json!("SYSTEM\\ControlSet001\\Services\\DiagTrack")
        );
    }
}
