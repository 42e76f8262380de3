//! Recipe → plan: what each step will put in its layer or config, decided before any base
//! byte is read, so that recipe errors (a COPY source missing, a `.reg` syntax error, an
//! unsupported RUN command) stop the build before it writes anything.
//!
//! RUN commands understood (one or several joined by `&&`; `reg`/`reg.exe`, `sc`/`sc.exe`,
//! case-insensitive): `reg import FILE` (FILE must have been put in the image by an earlier
//! COPY; it is parsed by `hive::regfile`), `reg add KEY [/v NAME | /ve] [/t TYPE] [/s SEP]
//! [/d DATA] [/f]`, `reg delete KEY [/v NAME | /ve] [/f]`, `sc delete NAME` (extra
//! arguments are ignored, as sc.exe ignores them; the upstream recipe passes `-f`).

use super::Error;
use crate::hive::regfile::{self, Action, RegOp, RootHive};
use crate::image::Digest;
use crate::recipe::{Recipe, StepKind};
use std::collections::{BTreeMap, BTreeSet};

/// The default shell of a Windows image without SHELL (Docker's `cmd /S /C`).
pub const SHELL: &str = "cmd /S /C";

/// One registry-changing action of a RUN step.
#[derive(Debug, Clone)]
pub enum RunAction {
    Reg(RegOp),
    /// `sc delete NAME`: the key `ControlSet001\Services\NAME` of SYSTEM, checked against
    /// the base when its SYSTEM hive is at hand.
    DeleteService {
        name: String,
    },
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Planned {
    /// Files to add under `Files/` (layer paths like `Files/tools/keylight.reg`).
    Copy {
        files: Vec<(String, Vec<u8>)>,
        dirs: BTreeSet<String>,
    },
    Run {
        actions: Vec<RunAction>,
    },
    User(String),
    Env(Vec<(String, String)>),
    Workdir(String),
    Label(Vec<(String, String)>),
}

/// A step ready to build.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    pub line: usize,
    /// The instruction as a short text (`RUN sc.exe delete diagtrack -f`).
    pub instruction: String,
    /// History `created_by`, in the classic builder's style.
    pub created_by: String,
    pub planned: Planned,
}

impl PlannedStep {
    pub fn is_metadata(&self) -> bool {
        !matches!(self.planned, Planned::Copy { .. } | Planned::Run { .. })
    }
}

/// A Windows path as components below `C:\`.
fn win_components(path: &str, workdir: &[String]) -> Result<Vec<String>, String> {
    let p = path.replace('/', "\\");
    let (absolute, rest) = if p.len() >= 2 && p.as_bytes()[1] == b':' {
        if !p[..1].eq_ignore_ascii_case("c") {
            return Err(format!("{path}: only drive C: exists in a container image"));
        }
        (true, &p[2..])
    } else {
        (p.starts_with('\\'), p.as_str())
    };
    let mut out: Vec<String> = if absolute {
        Vec::new()
    } else {
        workdir.to_vec()
    };
    for c in rest.split('\\').filter(|c| !c.is_empty() && *c != ".") {
        if c == ".." {
            out.pop();
        } else if c.contains([':', '*', '?', '"', '<', '>', '|']) {
            return Err(format!("{path}: {c:?} is not a valid Windows file name"));
        } else {
            out.push(c.to_string());
        }
    }
    Ok(out)
}

fn win_display(c: &[String]) -> String {
    format!("C:\\{}", c.join("\\"))
}

fn lower_key(c: &[String]) -> String {
    c.iter()
        .map(|s| s.to_lowercase())
        .collect::<Vec<_>>()
        .join("\\")
}

/// Split a command line as cmd.exe passes arguments to reg.exe/sc.exe: whitespace
/// separates, double quotes group (and are removed).
fn tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

fn is_cmd(t: &str, name: &str) -> bool {
    t.eq_ignore_ascii_case(name) || t.eq_ignore_ascii_case(&format!("{name}.exe"))
}

/// Plan every step of `recipe`.
pub fn plan(recipe: &Recipe) -> Result<Vec<PlannedStep>, Error> {
    let mut workdir: Vec<String> = Vec::new();
    // Files the recipe put in the image so far: lower-cased Windows path → content.
    let mut image_files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut out = Vec::new();
    let file = &recipe.dockerfile_name;
    for step in &recipe.steps {
        let line = step.line;
        let bad = |message: String| Error::Step {
            file: file.clone(),
            line,
            message,
        };
        let (instruction, created_by, planned) = match &step.kind {
            StepKind::Copy { sources, dest } => {
                let dest_c = win_components(dest, &workdir).map_err(&bad)?;
                let into_dir = dest.ends_with(['/', '\\']) || sources.len() > 1;
                let mut files: Vec<(Vec<String>, Vec<u8>)> = Vec::new();
                let mut listing = Vec::new();
                let mut kind = "file";
                for s in sources {
                    let prefix = format!("{s}/");
                    let under: Vec<(&String, &Vec<u8>)> = recipe
                        .files
                        .iter()
                        .filter(|(p, _)| p.starts_with(&prefix))
                        .collect();
                    if !under.is_empty() {
                        kind = "dir";
                        for (p, b) in under {
                            let rel = &p[prefix.len()..];
                            let mut c = dest_c.clone();
                            c.extend(rel.split('/').map(str::to_string));
                            listing.push((rel.to_string(), Digest::of(b)));
                            files.push((c, b.clone()));
                        }
                    } else if let Some(b) = recipe.files.get(s) {
                        let mut c = dest_c.clone();
                        if into_dir {
                            c.push(s.rsplit('/').next().unwrap_or(s).to_string());
                        }
                        if c.is_empty() {
                            return Err(bad(format!("COPY {s} {dest}: cannot replace C:\\")));
                        }
                        listing.push((s.clone(), Digest::of(b)));
                        files.push((c, b.clone()));
                    } else {
                        return Err(Error::Recipe(crate::recipe::Error::CopySourceMissing {
                            file: file.clone(),
                            line,
                            source_path: s.clone(),
                            context: recipe.name.clone(),
                        }));
                    }
                }
                if sources.len() > 1 {
                    kind = "multi";
                }
                let mut h = Vec::new();
                for (p, d) in &listing {
                    h.extend_from_slice(p.as_bytes());
                    h.push(0);
                    h.extend_from_slice(d.hex().as_bytes());
                    h.push(b'\n');
                }
                let mut dirs = BTreeSet::new();
                let mut layer_files = Vec::new();
                for (c, b) in files {
                    for i in 1..c.len() {
                        dirs.insert(format!("Files/{}", c[..i].join("/")));
                    }
                    image_files.insert(lower_key(&c), b.clone());
                    layer_files.push((format!("Files/{}", c.join("/")), b));
                }
                (
                    format!("COPY {} {dest}", sources.join(" ")),
                    format!(
                        "{SHELL} #(nop) COPY {kind}:{} in {} ",
                        Digest::of(&h).hex(),
                        win_display(&dest_c)
                    ),
                    Planned::Copy {
                        files: layer_files,
                        dirs,
                    },
                )
            }
            StepKind::Run { command } => {
                let mut actions = Vec::new();
                for part in command.split("&&") {
                    let t = tokens(part);
                    let words: Vec<&str> = t.iter().map(String::as_str).collect();
                    match words.as_slice() {
                        [reg, sub, rest @ ..] if is_cmd(reg, "reg") => actions
                            .extend(reg_command(sub, rest, &workdir, &image_files).map_err(&bad)?),
                        [sc, sub, name, ..]
                            if is_cmd(sc, "sc") && sub.eq_ignore_ascii_case("delete") =>
                        {
                            actions.push(RunAction::DeleteService {
                                name: name.to_string(),
                            })
                        }
                        _ => {
                            return Err(bad(format!(
                                "RUN {:?}: unsupported command; a build without Windows can run only reg import, reg add, reg delete and sc.exe delete",
                                part.trim()
                            )));
                        }
                    }
                }
                (
                    format!("RUN {command}"),
                    format!("{SHELL} {command}"),
                    Planned::Run { actions },
                )
            }
            StepKind::User { user } => (
                format!("USER {user}"),
                format!("{SHELL} #(nop)  USER {user}"),
                Planned::User(user.clone()),
            ),
            StepKind::Env { vars } => {
                let text = vars
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                (
                    format!("ENV {text}"),
                    format!("{SHELL} #(nop)  ENV {text}"),
                    Planned::Env(vars.clone()),
                )
            }
            StepKind::Workdir { path } => {
                workdir = win_components(path, &workdir).map_err(&bad)?;
                let shown = win_display(&workdir);
                (
                    format!("WORKDIR {path}"),
                    format!("{SHELL} #(nop) WORKDIR {shown}"),
                    Planned::Workdir(shown),
                )
            }
            StepKind::Label { labels } => {
                let text = labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                (
                    format!("LABEL {text}"),
                    format!("{SHELL} #(nop)  LABEL {text}"),
                    Planned::Label(labels.clone()),
                )
            }
        };
        out.push(PlannedStep {
            line,
            instruction,
            created_by,
            planned,
        });
    }
    Ok(out)
}

fn reg_command(
    sub: &str,
    rest: &[&str],
    workdir: &[String],
    image_files: &BTreeMap<String, Vec<u8>>,
) -> Result<Vec<RunAction>, String> {
    if sub.eq_ignore_ascii_case("import") {
        let [path] = rest else {
            return Err("reg import takes exactly one file".into());
        };
        let c = win_components(path, workdir)?;
        let Some(bytes) = image_files.get(&lower_key(&c)) else {
            return Err(format!(
                "reg import {path}: {} is not in the image; only files an earlier COPY put there can be imported",
                win_display(&c)
            ));
        };
        let ops = regfile::parse(bytes).map_err(|e| format!("reg import {path}: {e}"))?;
        return Ok(ops.into_iter().map(RunAction::Reg).collect());
    }
    let add = sub.eq_ignore_ascii_case("add");
    if !add && !sub.eq_ignore_ascii_case("delete") {
        return Err(format!(
            "reg {sub}: unsupported; reg import, reg add and reg delete are"
        ));
    }
    let Some((key, flags)) = rest.split_first() else {
        return Err(format!("reg {sub} needs a key"));
    };
    let (hive, path) = regfile::map_key(key)?;
    let mut value: Option<String> = None;
    let mut kind = "REG_SZ".to_string();
    let mut data: Option<String> = None;
    let mut sep = "\\0".to_string();
    let mut i = 0;
    while i < flags.len() {
        let f = flags[i].to_ascii_lowercase();
        let arg = |i: usize| {
            flags
                .get(i + 1)
                .map(|s| s.to_string())
                .ok_or_else(|| format!("reg {sub}: {} needs an argument", flags[i]))
        };
        match f.as_str() {
            "/v" => {
                value = Some(arg(i)?);
                i += 1;
            }
            "/ve" => value = Some(String::new()),
            "/t" if add => {
                kind = arg(i)?.to_ascii_uppercase();
                i += 1;
            }
            "/d" if add => {
                data = Some(arg(i)?);
                i += 1;
            }
            "/s" if add => {
                sep = arg(i)?;
                i += 1;
            }
            "/f" | "/reg:64" => {}
            other => return Err(format!("reg {sub}: option {other} is not supported")),
        }
        i += 1;
    }
    let action = if add {
        match value {
            None if data.is_none() => Action::CreateKey,
            None => Action::SetValue {
                name: String::new(),
                kind: 1,
                data: encode(&kind, data.as_deref().unwrap_or(""), &sep)?.1,
            },
            Some(name) => {
                let (k, d) = encode(&kind, data.as_deref().unwrap_or(""), &sep)?;
                Action::SetValue {
                    name,
                    kind: k,
                    data: d,
                }
            }
        }
    } else {
        match value {
            None => Action::DeleteKey,
            Some(name) => Action::DeleteValue { name },
        }
    };
    Ok(vec![RunAction::Reg(RegOp { hive, path, action })])
}

fn utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain(std::iter::once(0))
        .flat_map(|u| u.to_le_bytes())
        .collect()
}

fn parse_num(d: &str) -> Option<u64> {
    match d.strip_prefix("0x").or_else(|| d.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => d.parse().ok(),
    }
}

/// reg.exe's `/t TYPE /d DATA` → (type number, bytes).
fn encode(kind: &str, data: &str, sep: &str) -> Result<(u32, Vec<u8>), String> {
    Ok(match kind {
        "REG_SZ" => (1, utf16z(data)),
        "REG_EXPAND_SZ" => (2, utf16z(data)),
        "REG_MULTI_SZ" => {
            let mut v = Vec::new();
            if !data.is_empty() {
                for part in data.split(sep) {
                    v.extend(utf16z(part));
                }
            }
            v.extend([0, 0]);
            (7, v)
        }
        "REG_DWORD" => {
            let n = parse_num(data)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| format!("/d {data:?} is not a REG_DWORD number"))?;
            (4, n.to_le_bytes().to_vec())
        }
        "REG_QWORD" => {
            let n =
                parse_num(data).ok_or_else(|| format!("/d {data:?} is not a REG_QWORD number"))?;
            (11, n.to_le_bytes().to_vec())
        }
        "REG_BINARY" | "REG_NONE" => {
            if data.len() % 2 != 0 {
                return Err(format!(
                    "/d {data:?}: hex data needs an even number of digits"
                ));
            }
            let b = hex::decode(data).map_err(|_| format!("/d {data:?} is not hex"))?;
            (if kind == "REG_BINARY" { 3 } else { 0 }, b)
        }
        other => return Err(format!("/t {other}: unsupported type")),
    })
}

/// Which hive an action targets.
pub fn action_hive(a: &RunAction) -> RootHive {
    match a {
        RunAction::Reg(op) => op.hive,
        RunAction::DeleteService { .. } => RootHive::System,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_plan() {
        let p = plan(&crate::recipe::builtin()).unwrap();
        assert_eq!(p.len(), 5);
        let Planned::Copy { files, dirs } = &p[0].planned else {
            panic!()
        };
        assert_eq!(files[0].0, "Files/tools/keylight.reg");
        assert_eq!(dirs.iter().collect::<Vec<_>>(), ["Files/tools"]);
        assert!(p[0].created_by.starts_with("cmd /S /C #(nop) COPY dir:"));
        assert!(p[0].created_by.ends_with(" in C:\\tools "));
        assert_eq!(
            p[1].created_by,
            "cmd /S /C #(nop)  USER ContainerAdministrator"
        );
        let Planned::Run { actions } = &p[2].planned else {
            panic!()
        };
        assert_eq!(actions.len(), 6); // two CreateKey + four SetValue
        assert_eq!(p[3].created_by, "cmd /S /C sc.exe delete diagtrack -f");
    }

    #[test]
    fn reg_add_and_delete() {
        let a = reg_command(
            "add",
            &[
                "HKLM\\SOFTWARE\\X",
                "/v",
                "N",
                "/t",
                "REG_DWORD",
                "/d",
                "0x10",
                "/f",
            ],
            &[],
            &BTreeMap::new(),
        )
        .unwrap();
        let RunAction::Reg(op) = &a[0] else { panic!() };
        assert_eq!(op.hive, RootHive::Software);
        assert_eq!(
            op.action,
            Action::SetValue {
                name: "N".into(),
                kind: 4,
                data: vec![16, 0, 0, 0]
            }
        );
        let a = reg_command(
            "delete",
            &["HKLM\\SYSTEM\\CurrentControlSet\\Services\\X", "/f"],
            &[],
            &BTreeMap::new(),
        )
        .unwrap();
        let RunAction::Reg(op) = &a[0] else { panic!() };
        assert_eq!(op.path, "ControlSet001\\Services\\X");
        assert_eq!(op.action, Action::DeleteKey);
        assert!(reg_command("query", &["HKLM\\SOFTWARE"], &[], &BTreeMap::new()).is_err());
        assert!(reg_command("import", &["missing.reg"], &[], &BTreeMap::new()).is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(win_components("/tools", &[]).unwrap(), ["tools"]);
        assert_eq!(win_components("C:\\a\\..\\b", &[]).unwrap(), ["b"]);
        assert_eq!(
            win_components("x\\y", &["w".into()]).unwrap(),
            ["w", "x", "y"]
        );
        assert!(win_components("D:\\x", &[]).is_err());
        assert_eq!(
            tokens(r#"reg add "HKLM\A B" /d "x y""#),
            ["reg", "add", "HKLM\\A B", "/d", "x y"]
        );
    }
}
