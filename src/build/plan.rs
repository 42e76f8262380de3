//! Recipe → plan: what each step will put in its layer or config, decided before any base
//! byte is read, so that recipe errors (a `.reg` syntax error, a bad `reg add` type or
//! data) stop the build before it writes anything. The recipe module has already parsed
//! the Dockerfile/TOML, resolved COPY sources and RUN commands (`reg import`, `reg add`,
//! `reg delete`, `sc.exe delete`); this module turns them into layer files and
//! `hive::RegOp`s (the `.reg` bytes are parsed here, by `hive::regfile`).

use super::Error;
use crate::hive::regfile::{self, Action, RegOp, RootHive};
use crate::recipe::{Recipe, RegAddValue, RegDeleteTarget, Source, StepKind};
use std::collections::BTreeSet;

/// One registry-changing action of a RUN step.
#[derive(Debug, Clone)]
pub enum RunAction {
    Reg(RegOp),
    /// `sc delete NAME`: the key `ControlSet001\Services\NAME` of SYSTEM, checked against
    /// the base when its SYSTEM hive is at hand.
    DeleteService {
        name: String,
    },
    /// `reg delete KEY /va`: every value the key has in the base (needs the base hive).
    DeleteAllValues {
        hive: RootHive,
        path: String,
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
    /// The args and whether they are the shell form (ArgsEscaped).
    Cmd(Vec<String>, bool),
    Entrypoint(Vec<String>, bool),
    /// ARG after FROM: a history entry only.
    Arg,
}

/// A step ready to build.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    pub line: usize,
    /// The instruction as a short text (`sc.exe delete diagtrack -f`, `USER X`).
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

/// Plan every step of `recipe` (already parsed and checked by `crate::recipe`).
pub fn plan(recipe: &Recipe) -> Result<Vec<PlannedStep>, Error> {
    let file = recipe_file(recipe);
    let mut out = Vec::new();
    for step in &recipe.steps {
        let line = step.line;
        let bad = |message: String| Error::Step {
            file: file.clone(),
            line,
            message,
        };
        let planned = match &step.kind {
            StepKind::Copy { dirs, files, .. } => Planned::Copy {
                files: files
                    .iter()
                    .map(|f| (format!("Files/{}", f.dest_path), f.bytes.clone()))
                    .collect(),
                dirs: dirs
                    .iter()
                    .filter(|d| !d.is_empty())
                    .map(|d| format!("Files/{d}"))
                    .collect(),
            },
            StepKind::RegImport {
                path_in_image,
                content,
                ..
            } => {
                let ops = regfile::parse(content).map_err(|e| {
                    bad(format!(
                        "reg import {}: {e}",
                        crate::recipe::windows_path(path_in_image)
                    ))
                })?;
                Planned::Run {
                    actions: ops.into_iter().map(RunAction::Reg).collect(),
                }
            }
            StepKind::RegAdd {
                key,
                value,
                reg_type,
                data,
                separator,
                ..
            } => {
                let (hive, path) = regfile::map_key(key).map_err(&bad)?;
                let sep = separator.as_deref().unwrap_or("\\0");
                let d = data.as_deref().unwrap_or("");
                let action = match value {
                    RegAddValue::KeyOnly => Action::CreateKey,
                    RegAddValue::Default | RegAddValue::Named(_) => {
                        let (kind, bytes) = encode(reg_type, d, sep).map_err(&bad)?;
                        let name = match value {
                            RegAddValue::Named(n) => n.clone(),
                            _ => String::new(),
                        };
                        Action::SetValue {
                            name,
                            kind,
                            data: bytes,
                        }
                    }
                };
                Planned::Run {
                    actions: vec![RunAction::Reg(RegOp { hive, path, action })],
                }
            }
            StepKind::RegDelete { key, target, .. } => {
                let (hive, path) = regfile::map_key(key).map_err(&bad)?;
                let action = match target {
                    RegDeleteTarget::Key => RunAction::Reg(RegOp {
                        hive,
                        path,
                        action: Action::DeleteKey,
                    }),
                    RegDeleteTarget::Value(n) => RunAction::Reg(RegOp {
                        hive,
                        path,
                        action: Action::DeleteValue { name: n.clone() },
                    }),
                    RegDeleteTarget::DefaultValue => RunAction::Reg(RegOp {
                        hive,
                        path,
                        action: Action::DeleteValue {
                            name: String::new(),
                        },
                    }),
                    RegDeleteTarget::AllValues => RunAction::DeleteAllValues { hive, path },
                };
                Planned::Run {
                    actions: vec![action],
                }
            }
            StepKind::ScDelete { service } => Planned::Run {
                actions: vec![RunAction::DeleteService {
                    name: service.clone(),
                }],
            },
            StepKind::User { user } => Planned::User(user.clone()),
            StepKind::Env { vars } => Planned::Env(vars.clone()),
            StepKind::Workdir { path } => Planned::Workdir(path.clone()),
            StepKind::Label { labels } => Planned::Label(labels.clone()),
            StepKind::Cmd { args, shell_form } => Planned::Cmd(args.clone(), *shell_form),
            StepKind::Entrypoint { args, shell_form } => {
                Planned::Entrypoint(args.clone(), *shell_form)
            }
            StepKind::Arg { .. } => Planned::Arg,
        };
        let instruction = step
            .created_by
            .strip_prefix(crate::recipe::WINDOWS_SHELL)
            .map(|s| s.trim_start_matches(" #(nop)").trim().to_string())
            .unwrap_or_else(|| step.created_by.clone());
        out.push(PlannedStep {
            line,
            instruction,
            created_by: step.created_by.clone(),
            planned,
        });
    }
    Ok(out)
}

/// The recipe file named in messages.
pub fn recipe_file(recipe: &Recipe) -> String {
    match &recipe.source {
        Source::Builtin => "builtin recipe (Dockerfile)".to_string(),
        Source::Dockerfile(p) | Source::Toml(p) => p.display().to_string(),
    }
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
            if !data.len().is_multiple_of(2) {
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
        RunAction::DeleteAllValues { hive, .. } => *hive,
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
        assert_eq!(p[1].instruction, "USER ContainerAdministrator");
        let Planned::Run { actions } = &p[2].planned else {
            panic!()
        };
        assert_eq!(actions.len(), 6); // two CreateKey + four SetValue
        assert!(
            matches!(&p[3].planned, Planned::Run { actions } if matches!(&actions[0], RunAction::DeleteService { name } if name == "diagtrack"))
        );
    }

    #[test]
    fn reg_add_types() {
        assert_eq!(
            encode("REG_DWORD", "0x10", "\\0").unwrap(),
            (4, vec![16, 0, 0, 0])
        );
        assert_eq!(
            encode("REG_MULTI_SZ", "a\\0b", "\\0").unwrap().1,
            b"a\0\0\0b\0\0\0\0\0".to_vec()
        );
        assert!(encode("REG_DWORD", "x", "\\0").is_err());
        assert!(encode("REG_FOO", "", "\\0").is_err());
    }
}
