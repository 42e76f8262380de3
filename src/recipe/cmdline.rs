//! The RUN commands a recipe may use, parsed the way the Windows tools see them:
//! `reg import FILE`, `reg add KEY [/v NAME | /ve] [/t TYPE] [/s SEP] [/d DATA] [/f]`,
//! `reg delete KEY [/v NAME | /ve | /va] [/f]`, `sc[.exe] delete NAME [-f]`.
//!
//! The shell form goes through `cmd /S /C`; we do not emulate cmd.exe, so anything whose
//! meaning depends on it (`&`, `|`, `<`, `>`, `^`, `%VAR%`) is refused with a message
//! rather than guessed. Arguments are split with the MSVCRT/`CommandLineToArgvW` rules
//! reg.exe and sc.exe use (quotes group, backslashes are literal except before a quote).

use super::{Digest, RegAddValue, RegDeleteTarget, StepKind, resolve_image_path};

/// What a RUN command may refer to: the working directory and files copied earlier.
pub struct RunContext<'a> {
    /// Current WORKDIR in Windows form (`C:\` when unset).
    pub workdir: &'a str,
    /// Content of a file copied by an earlier step, by image path (case-insensitive).
    pub copied: &'a dyn Fn(&str) -> Option<Vec<u8>>,
}

/// Split a shell-form command line into arguments (MSVCRT rules), refusing cmd.exe
/// syntax we would have to emulate.
pub fn split_command_line(line: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut have = false;
    let mut quoted = false;
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    if line.contains('%') {
        return Err(
            "'%' (cmd.exe variable expansion) is not supported: write the value literally".into(),
        );
    }
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let mut n = 0;
                while i < chars.len() && chars[i] == '\\' {
                    n += 1;
                    i += 1;
                }
                if i < chars.len() && chars[i] == '"' {
                    cur.extend(std::iter::repeat_n('\\', n / 2));
                    if n % 2 == 1 {
                        cur.push('"');
                        i += 1;
                    }
                } else {
                    cur.extend(std::iter::repeat_n('\\', n));
                }
                have = true;
                continue;
            }
            '"' => {
                quoted = !quoted;
                have = true;
            }
            ' ' | '\t' if !quoted => {
                if have {
                    args.push(std::mem::take(&mut cur));
                    have = false;
                }
            }
            '&' | '|' | '<' | '>' | '^' if !quoted => {
                return Err(format!(
                    "{c:?} is cmd.exe syntax (chaining, pipes, redirection, escapes) that is not supported: use one command per RUN"
                ));
            }
            '\n' | '\r' => {
                return Err("a command spans several lines".into());
            }
            c => {
                cur.push(c);
                have = true;
            }
        }
        i += 1;
    }
    if quoted {
        return Err("unbalanced double quote".into());
    }
    if have {
        args.push(cur);
    }
    Ok(args)
}

/// The program name without directory and `.exe`, lower-cased.
fn program(arg: &str) -> String {
    let base = arg
        .rsplit(['\\', '/'])
        .next()
        .unwrap_or(arg)
        .to_ascii_lowercase();
    base.strip_suffix(".exe")
        .map(str::to_string)
        .unwrap_or(base)
}

const ROOTS: [&str; 10] = [
    "HKLM",
    "HKEY_LOCAL_MACHINE",
    "HKCU",
    "HKEY_CURRENT_USER",
    "HKCR",
    "HKEY_CLASSES_ROOT",
    "HKU",
    "HKEY_USERS",
    "HKCC",
    "HKEY_CURRENT_CONFIG",
];

fn check_key(key: &str) -> Result<(), String> {
    if key.starts_with("\\\\") {
        return Err(format!("{key:?}: remote registries are not supported"));
    }
    let root = key.split('\\').next().unwrap_or("");
    if !ROOTS.iter().any(|r| r.eq_ignore_ascii_case(root)) {
        return Err(format!(
            "{key:?} does not start with a registry root (HKLM, HKEY_LOCAL_MACHINE, HKCU, HKU, HKCR, HKCC)"
        ));
    }
    Ok(())
}

/// An option like `/v` or `-v` (reg.exe accepts both), lower-cased without the prefix.
fn opt(a: &str) -> Option<String> {
    let rest = a.strip_prefix('/').or_else(|| a.strip_prefix('-'))?;
    if rest.is_empty() {
        return None;
    }
    Some(rest.to_ascii_lowercase())
}

const REG_TYPES: [&str; 7] = [
    "REG_SZ",
    "REG_MULTI_SZ",
    "REG_EXPAND_SZ",
    "REG_DWORD",
    "REG_QWORD",
    "REG_BINARY",
    "REG_NONE",
];

/// Turn a RUN command's arguments into a step.
pub fn parse_run(args: &[String], ctx: &RunContext<'_>) -> Result<StepKind, String> {
    let Some(first) = args.first() else {
        return Err("empty RUN".into());
    };
    let prog = program(first);
    let sub = args.get(1).map(|s| s.to_ascii_lowercase());
    match (prog.as_str(), sub.as_deref()) {
        ("reg", Some("import")) => reg_import(&args[2..], ctx),
        ("reg", Some("add")) => reg_add(&args[2..]),
        ("reg", Some("delete")) => reg_delete(&args[2..]),
        ("sc", Some("delete")) => sc_delete(&args[2..]),
        ("reg", other) | ("sc", other) => Err(format!(
            "`{prog} {}` is not supported: a recipe may run reg import|add|delete and sc delete",
            other.unwrap_or("")
        )),
        _ => Err(format!(
            "command {first:?} is not supported: a recipe may run only reg import|add|delete and sc.exe delete (the build has no Windows to run anything else)"
        )),
    }
}

fn reg_import(args: &[String], ctx: &RunContext<'_>) -> Result<StepKind, String> {
    let mut file = None;
    for a in args {
        match opt(a).as_deref() {
            Some("reg:64") => {}
            Some(o) => return Err(format!("reg import: option /{o} is not supported")),
            None if file.is_none() => file = Some(a.clone()),
            None => return Err(format!("reg import: unexpected argument {a:?}")),
        }
    }
    let file = file.ok_or("reg import needs a file")?;
    let path = resolve_image_path(ctx.workdir, &file)?;
    let content = (ctx.copied)(&path).ok_or_else(|| {
        format!(
            "reg import {file}: {} was not put into the image by an earlier COPY/ADD (a recipe can import only files it copies)",
            super::windows_path(&path)
        )
    })?;
    Ok(StepKind::RegImport {
        path_in_image: path,
        sha256: Digest::of(&content),
        content,
    })
}

fn reg_add(args: &[String]) -> Result<StepKind, String> {
    let mut it = args.iter();
    let key = it.next().ok_or("reg add needs a key")?.clone();
    check_key(&key)?;
    let mut value = RegAddValue::KeyOnly;
    let mut reg_type = None;
    let mut data = None;
    let mut separator = None;
    let mut force = false;
    while let Some(a) = it.next() {
        let o = opt(a).ok_or_else(|| format!("reg add: unexpected argument {a:?}"))?;
        let mut take = |what: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("reg add: /{what} needs a value"))
        };
        match o.as_str() {
            "v" => value = RegAddValue::Named(take("v")?),
            "ve" => value = RegAddValue::Default,
            "t" => {
                let t = take("t")?.to_ascii_uppercase();
                if !REG_TYPES.contains(&t.as_str()) {
                    return Err(format!(
                        "reg add: unknown type {t} (one of {})",
                        REG_TYPES.join(", ")
                    ));
                }
                reg_type = Some(t);
            }
            "d" => data = Some(take("d")?),
            "s" => separator = Some(take("s")?),
            "f" => force = true,
            "reg:64" => {}
            o => return Err(format!("reg add: option /{o} is not supported")),
        }
    }
    if value == RegAddValue::KeyOnly && data.is_some() {
        // reg.exe writes /d without /v to the default value.
        value = RegAddValue::Default;
    }
    Ok(StepKind::RegAdd {
        key,
        value,
        reg_type: reg_type.unwrap_or_else(|| "REG_SZ".into()),
        data,
        separator,
        force,
    })
}

fn reg_delete(args: &[String]) -> Result<StepKind, String> {
    let mut it = args.iter();
    let key = it.next().ok_or("reg delete needs a key")?.clone();
    check_key(&key)?;
    let mut target = RegDeleteTarget::Key;
    let mut force = false;
    while let Some(a) = it.next() {
        let o = opt(a).ok_or_else(|| format!("reg delete: unexpected argument {a:?}"))?;
        match o.as_str() {
            "v" => {
                target = RegDeleteTarget::Value(
                    it.next()
                        .cloned()
                        .ok_or("reg delete: /v needs a value name")?,
                )
            }
            "ve" => target = RegDeleteTarget::DefaultValue,
            "va" => target = RegDeleteTarget::AllValues,
            "f" => force = true,
            "reg:64" => {}
            o => return Err(format!("reg delete: option /{o} is not supported")),
        }
    }
    Ok(StepKind::RegDelete { key, target, force })
}

fn sc_delete(args: &[String]) -> Result<StepKind, String> {
    let service = args.first().ok_or("sc delete needs a service name")?;
    if service.starts_with("\\\\") {
        return Err("sc delete on a remote machine is not supported".into());
    }
    if service.contains(['\\', '/']) || service.is_empty() {
        return Err(format!("{service:?} is not a service name"));
    }
    for a in &args[1..] {
        if !matches!(a.to_ascii_lowercase().as_str(), "-f" | "/f") {
            return Err(format!("sc delete: unexpected argument {a:?}"));
        }
    }
    Ok(StepKind::ScDelete {
        service: service.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx_none() -> impl Fn(&str) -> Option<Vec<u8>> {
        |_| None
    }

    #[test]
    fn splits_like_msvcrt() {
        assert_eq!(
            split_command_line(r#"reg add "HKLM\Software\My Key" /v a /d "x y""#).unwrap(),
            [
                "reg",
                "add",
                r"HKLM\Software\My Key",
                "/v",
                "a",
                "/d",
                "x y"
            ]
        );
        assert_eq!(split_command_line(r#"a\\\"b"#).unwrap(), [r#"a\"b"#]);
        assert_eq!(split_command_line(r#""""#).unwrap(), [""]);
        assert!(split_command_line("reg import a.reg && echo hi").is_err());
        assert!(split_command_line("reg add HKLM\\X /d %PATH%").is_err());
        assert!(split_command_line("\"unbalanced").is_err());
    }

    #[test]
    fn parses_reg_and_sc() {
        let f = ctx_none();
        let ctx = RunContext {
            workdir: "C:\\",
            copied: &f,
        };
        let run = |s: &str| parse_run(&split_command_line(s).unwrap(), &ctx);
        assert_eq!(
            run("sc.exe delete diagtrack -f").unwrap(),
            StepKind::ScDelete {
                service: "diagtrack".into()
            }
        );
        assert_eq!(
            run(r"reg add HKLM\SOFTWARE\X /v N /t reg_dword /d 1 /f").unwrap(),
            StepKind::RegAdd {
                key: r"HKLM\SOFTWARE\X".into(),
                value: RegAddValue::Named("N".into()),
                reg_type: "REG_DWORD".into(),
                data: Some("1".into()),
                separator: None,
                force: true
            }
        );
        assert_eq!(
            run(r"reg delete HKLM\SOFTWARE\X /va /f").unwrap(),
            StepKind::RegDelete {
                key: r"HKLM\SOFTWARE\X".into(),
                target: RegDeleteTarget::AllValues,
                force: true
            }
        );
        assert!(
            run(r"reg add SOFTWARE\X")
                .unwrap_err()
                .contains("registry root")
        );
        assert!(run(r"reg add HKLM\X /t REG_FOO").is_err());
        assert!(
            run(r"reg query HKLM\X")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(
            run("powershell -c echo")
                .unwrap_err()
                .contains("powershell")
        );
        assert!(
            run(r"reg import tools\missing.reg")
                .unwrap_err()
                .contains("C:\\tools\\missing.reg")
        );
        assert!(run("sc delete a b").is_err());
    }
}
