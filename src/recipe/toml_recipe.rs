//! The declarative TOML recipe format (documented in `docs/recipe.md`).
//!
//! A TOML recipe is the Dockerfile subset with one table per step; it is translated into
//! the same instructions and read by the same code as a Dockerfile, so both give the
//! same [`Recipe`] (history strings included) for the same steps. Line numbers in errors
//! are those of the step's table in the TOML file.

use super::{Error, Recipe, Source};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    format: u32,
    #[serde(default)]
    name: Option<String>,
    base: String,
    #[serde(default)]
    args: BTreeMap<String, String>,
    #[serde(default)]
    steps: Vec<toml::Spanned<StepT>>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Cmd {
    Shell(String),
    Exec(Vec<String>),
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CopyT {
    src: OneOrMany,
    dest: String,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RegAddT {
    key: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    default_value: bool,
    #[serde(default, rename = "type")]
    reg_type: Option<String>,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    separator: Option<String>,
    #[serde(default = "yes")]
    force: bool,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RegDeleteT {
    key: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    default_value: bool,
    #[serde(default)]
    all_values: bool,
    #[serde(default = "yes")]
    force: bool,
}

fn yes() -> bool {
    true
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StepT {
    #[serde(default)]
    copy: Option<CopyT>,
    #[serde(default)]
    add: Option<CopyT>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    env: Option<BTreeMap<String, String>>,
    #[serde(default)]
    workdir: Option<String>,
    #[serde(default)]
    label: Option<BTreeMap<String, String>>,
    #[serde(default)]
    cmd: Option<Cmd>,
    #[serde(default)]
    entrypoint: Option<Cmd>,
    #[serde(default)]
    run: Option<Cmd>,
    #[serde(default)]
    reg_import: Option<String>,
    #[serde(default)]
    reg_add: Option<RegAddT>,
    #[serde(default)]
    reg_delete: Option<RegDeleteT>,
    #[serde(default)]
    sc_delete: Option<String>,
}

/// Quote an argument for a cmd.exe command line (MSVCRT rules) when it needs it.
fn q(s: &str) -> String {
    if !s.is_empty() && !s.contains([' ', '\t', '"']) {
        return s.to_string();
    }
    let mut o = String::from("\"");
    let mut bs = 0;
    for c in s.chars() {
        match c {
            '\\' => bs += 1,
            '"' => {
                o.extend(std::iter::repeat_n('\\', bs * 2 + 1));
                o.push('"');
                bs = 0;
                continue;
            }
            _ => {}
        }
        if c != '\\' {
            o.extend(std::iter::repeat_n('\\', bs));
            bs = 0;
            o.push(c);
        }
    }
    o.extend(std::iter::repeat_n('\\', bs * 2));
    o.push('"');
    o
}

fn json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// A Dockerfile word with `$`, quotes and the escape (backtick) neutralised, so the
/// TOML value is taken literally.
fn lit(s: &str) -> String {
    let mut o = String::from("'");
    for c in s.chars() {
        if c == '\'' {
            o.push_str("'\"'\"'");
        } else {
            o.push(c);
        }
    }
    o.push('\'');
    o
}

/// Translate one step table into a Dockerfile instruction (escape character `` ` ``).
fn instruction(s: &StepT) -> Result<String, String> {
    let mut out = Vec::new();
    if let Some(c) = &s.copy {
        out.push(copy_line("COPY", c));
    }
    if let Some(c) = &s.add {
        out.push(copy_line("ADD", c));
    }
    if let Some(u) = &s.user {
        out.push(format!("USER {}", lit(u)));
    }
    if let Some(e) = &s.env {
        let kv: Vec<String> = e
            .iter()
            .map(|(k, v)| format!("{}={}", lit(k), lit(v)))
            .collect();
        out.push(format!("ENV {}", kv.join(" ")));
    }
    if let Some(w) = &s.workdir {
        out.push(format!("WORKDIR {}", lit(w)));
    }
    if let Some(l) = &s.label {
        let kv: Vec<String> = l
            .iter()
            .map(|(k, v)| format!("{}={}", lit(k), lit(v)))
            .collect();
        out.push(format!("LABEL {}", kv.join(" ")));
    }
    for (kw, c) in [
        ("CMD", &s.cmd),
        ("ENTRYPOINT", &s.entrypoint),
        ("RUN", &s.run),
    ] {
        match c {
            Some(Cmd::Shell(t)) => out.push(format!("{kw} {t}")),
            Some(Cmd::Exec(a)) => out.push(format!("{kw} {}", json(a))),
            None => {}
        }
    }
    if let Some(p) = &s.reg_import {
        out.push(format!("RUN reg import {}", q(p)));
    }
    if let Some(r) = &s.reg_add {
        let mut c = format!("RUN reg add {}", q(&r.key));
        match (&r.value, r.default_value) {
            (Some(_), true) => return Err("reg_add: give value or default_value, not both".into()),
            (Some(v), false) => c.push_str(&format!(" /v {}", q(v))),
            (None, true) => c.push_str(" /ve"),
            (None, false) => {}
        }
        if let Some(t) = &r.reg_type {
            c.push_str(&format!(" /t {}", q(t)));
        }
        if let Some(sep) = &r.separator {
            c.push_str(&format!(" /s {}", q(sep)));
        }
        if let Some(d) = &r.data {
            c.push_str(&format!(" /d {}", q(d)));
        }
        if r.force {
            c.push_str(" /f");
        }
        out.push(c);
    }
    if let Some(r) = &s.reg_delete {
        let mut c = format!("RUN reg delete {}", q(&r.key));
        let n = usize::from(r.value.is_some())
            + usize::from(r.default_value)
            + usize::from(r.all_values);
        if n > 1 {
            return Err("reg_delete: give at most one of value, default_value, all_values".into());
        }
        if let Some(v) = &r.value {
            c.push_str(&format!(" /v {}", q(v)));
        }
        if r.default_value {
            c.push_str(" /ve");
        }
        if r.all_values {
            c.push_str(" /va");
        }
        if r.force {
            c.push_str(" /f");
        }
        out.push(c);
    }
    if let Some(svc) = &s.sc_delete {
        out.push(format!("RUN sc.exe delete {} -f", q(svc)));
    }
    match out.len() {
        1 => Ok(out.remove(0)),
        0 => Err("empty step: give one of copy, add, user, env, workdir, label, cmd, entrypoint, run, reg_import, reg_add, reg_delete, sc_delete".into()),
        _ => Err("a step holds exactly one operation".into()),
    }
}

fn copy_line(kw: &str, c: &CopyT) -> String {
    let mut v = match &c.src {
        OneOrMany::One(s) => vec![s.clone()],
        OneOrMany::Many(m) => m.clone(),
    };
    v.push(c.dest.clone());
    // JSON form: no whitespace splitting; quotes/escapes still apply, so neutralise `$`.
    let v: Vec<String> = v.iter().map(|s| s.replace('$', "`$")).collect();
    format!("{kw} {}", json(&v))
}

/// Load a `.toml` recipe; copied files are read relative to the file's folder.
pub fn load_file(path: &Path, build_args: &BTreeMap<String, String>) -> Result<Recipe, Error> {
    let text = crate::limits::read_capped_string(path, &crate::limits::RECIPE)
        .map_err(|e| Error::io(path, e))?;
    let file = path.display().to_string();
    let line_of = |off: usize| text[..off.min(text.len())].matches('\n').count() + 1;
    let f: File = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| line_of(s.start)).unwrap_or(0);
        Error::at(&file, line, format!("not a valid recipe: {}", e.message()))
    })?;
    if f.format != 1 {
        return Err(Error::at(
            &file,
            1,
            format!(
                "format = {} is not supported (this version reads format = 1)",
                f.format
            ),
        ));
    }
    // Build the equivalent Dockerfile: escape directive, ARGs, FROM, then one line per
    // step (each supported instruction after FROM makes exactly one step).
    if f.base.trim().is_empty() || f.base.contains(char::is_whitespace) {
        return Err(Error::at(
            &file,
            1,
            format!("base {:?} is not an image reference", f.base),
        ));
    }
    let mut df = String::from("# escape=`\n");
    for (k, v) in &f.args {
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::at(&file, 1, format!("invalid arg name {k:?}")));
        }
        if v.is_empty() {
            df.push_str(&format!("ARG {k}\n"));
        } else {
            df.push_str(&format!("ARG {k}={}\n", lit(v)));
        }
    }
    df.push_str(&format!("FROM {}\n", f.base));
    let first_step_line = df.matches('\n').count() + 1;
    let mut step_lines = Vec::new();
    for s in &f.steps {
        let line = line_of(s.span().start);
        let ins = instruction(s.get_ref()).map_err(|e| Error::at(&file, line, e))?;
        if ins.contains(['\n', '\r']) || ins.trim_end().ends_with('`') {
            return Err(Error::at(
                &file,
                line,
                "a step's command must be one line (and not end with `)",
            ));
        }
        df.push_str(&ins);
        df.push('\n');
        step_lines.push(line);
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut recipe =
        super::dockerfile::load_text(dir, &file, &df, build_args).map_err(|e| match e {
            Error::At { line, msg, .. } => {
                let toml_line = line
                    .checked_sub(first_step_line)
                    .and_then(|i| step_lines.get(i).copied())
                    .unwrap_or(1);
                Error::At {
                    file: file.clone(),
                    line: toml_line,
                    msg,
                }
            }
            other => other,
        })?;
    // Map step line numbers back to the TOML file.
    for (s, l) in recipe.steps.iter_mut().zip(step_lines.iter()) {
        s.line = *l;
    }
    recipe.name = f.name.unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default()
    });
    recipe.source = Source::Toml(path.to_path_buf());
    let bytes = text.as_bytes();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    recipe.files.push(super::InputFile {
        path: name,
        size: bytes.len() as u64,
        digest: crate::image::Digest::of(bytes),
    });
    recipe.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(recipe)
}
