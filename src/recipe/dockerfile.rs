//! The Dockerfile subset a recipe may use, read the way the classic Windows builder
//! (moby `daemon/builder/dockerfile` with BuildKit's parser and shell lexer) reads it.
//!
//! Supported: parser directives (`# escape=` with `\` or `` ` ``; `# syntax=` is noted
//! and otherwise ignored), comments, line continuations, `ARG` (before and after FROM),
//! one `FROM`, `COPY`/`ADD` of local files and folders (folders recursively, in byte
//! order of names), `USER`, `ENV`, `WORKDIR`, `LABEL`, `CMD`, `ENTRYPOINT`, and `RUN` with
//! the commands of [`super::cmdline`], in JSON or shell form. Variable substitution
//! (`$V`, `${V}`, `${V:-w}`, `${V-w}`, `${V:+w}`, `${V+w}`), quotes and the escape
//! character follow BuildKit's lexer. Everything else (other instructions, flags such as
//! `--chown`, globs, URLs, archives to unpack, `.dockerignore`, a second FROM) is an
//! error naming it and its line: a recipe we cannot build exactly is refused, never
//! approximated.

use super::cmdline::{RunContext, parse_run, split_command_line};
use super::{
    CopiedFile, Error, InputFile, Recipe, Source, Step, StepKind, WINDOWS_SHELL, go_quote_list,
    nop, nop1, resolve_image_path, source_hash,
};
use crate::image::Digest;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Largest total of copied bytes a recipe may hold (recipes copy a few small files).
const MAX_COPY_BYTES: u64 = 256 << 20;
/// Most instructions in one recipe (the upstream one has about 15; each becomes a step
/// with its own history entry, so this bounds the build's memory too).
pub const MAX_INSTRUCTIONS: usize = 1000;
/// Longest logical instruction (continuations joined).
pub const MAX_INSTRUCTION_BYTES: usize = 256 << 10;

pub(crate) fn unset_arg_warning(name: &str) -> String {
    format!(
        "build arg {name} has no value: FROM resolves with it empty; pass --build-arg {name}=..."
    )
}

pub(crate) fn unconsumed_warning(names: &[&String]) -> String {
    let n: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
    format!("one or more build args [{}] were not consumed", n.join(" "))
}

/// One logical instruction.
#[derive(Debug, Clone)]
struct Instr {
    line: usize,
    /// Upper-cased keyword.
    keyword: String,
    /// Text after the keyword, leading whitespace removed.
    rest: String,
    /// The whole logical line (continuations joined), as moby keeps it.
    original: String,
}

/// Split a Dockerfile into logical instructions; returns them and the escape character.
fn split_instructions(text: &str, file: &str) -> Result<(Vec<Instr>, char, Vec<String>), Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut escape = '\\';
    let mut warnings = Vec::new();
    let mut idx = 0;
    // Parser directives: only at the very top, `# key=value`.
    let mut seen = std::collections::BTreeSet::new();
    while idx < lines.len() {
        let Some((k, v)) = directive(lines[idx]) else {
            break;
        };
        let k = k.to_ascii_lowercase();
        if !seen.insert(k.clone()) {
            return Err(Error::at(
                file,
                idx + 1,
                format!("directive {k} given twice"),
            ));
        }
        match k.as_str() {
            "escape" => {
                escape = match v.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(Error::at(
                            file,
                            idx + 1,
                            format!("invalid escape character {v:?}: must be \\ or `"),
                        ));
                    }
                }
            }
            "syntax" => warnings.push(format!(
                "{file}:{}: `# syntax={v}` ignored: recipes follow the classic builder",
                idx + 1
            )),
            _ => {}
        }
        idx += 1;
    }
    let mut out = Vec::new();
    let mut cur: Option<(usize, String)> = None;
    for (i, raw) in lines.iter().enumerate().skip(idx) {
        let lineno = i + 1;
        let (piece, start) = match &cur {
            None => {
                let t = raw.trim_start();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                (t, lineno)
            }
            Some((s, _)) => {
                let t = raw.trim_start();
                if t.starts_with('#') || t.is_empty() {
                    continue;
                }
                (*raw, *s)
            }
        };
        let (body, continues) = trim_continuation(piece, escape);
        let acc = match cur.take() {
            None => body.to_string(),
            Some((_, mut a)) => {
                a.push_str(body);
                a
            }
        };
        if acc.len() > MAX_INSTRUCTION_BYTES {
            return Err(Error::at(
                file,
                start,
                format!(
                    "instruction longer than the {} cap on one instruction",
                    crate::limits::human(MAX_INSTRUCTION_BYTES as u64)
                ),
            ));
        }
        if continues {
            cur = Some((start, acc));
        } else {
            if out.len() >= MAX_INSTRUCTIONS {
                return Err(Error::at(
                    file,
                    start,
                    format!("more than the {MAX_INSTRUCTIONS} instructions a recipe may hold"),
                ));
            }
            out.push(make_instr(start, acc));
        }
    }
    if let Some((s, a)) = cur
        && !a.trim().is_empty()
    {
        out.push(make_instr(s, a));
    }
    Ok((out, escape, warnings))
}

fn make_instr(line: usize, original: String) -> Instr {
    let t = original.trim();
    let (kw, rest) = match t.find(char::is_whitespace) {
        Some(p) => (&t[..p], t[p..].trim_start()),
        None => (t, ""),
    };
    Instr {
        line,
        keyword: kw.to_ascii_uppercase(),
        rest: rest.to_string(),
        original,
    }
}

fn directive(line: &str) -> Option<(String, String)> {
    let t = line.trim_start().strip_prefix('#')?.trim_start();
    let (k, v) = t.split_once('=')?;
    let k = k.trim_end();
    if k.is_empty()
        || !k.starts_with(|c: char| c.is_ascii_alphabetic())
        || !k.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return None;
    }
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    Some((k.to_string(), v.to_string()))
}

/// BuildKit's `\\[ \t]*$`: a trailing escape (then blanks) continues the line.
fn trim_continuation(s: &str, escape: char) -> (&str, bool) {
    let t = s.trim_end_matches([' ', '\t']);
    match t.strip_suffix(escape) {
        Some(body) => (body, true),
        None => (s, false),
    }
}

/// BuildKit's `parseWords`: split on blanks outside quotes, keeping quotes and escapes.
fn parse_words(s: &str, escape: char) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut w = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if quote.is_none() && c.is_whitespace() {
            if !w.is_empty() {
                words.push(std::mem::take(&mut w));
            }
            continue;
        }
        if c == escape && quote != Some('\'') {
            w.push(c);
            if let Some(n) = chars.next() {
                w.push(n);
            }
            continue;
        }
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
        w.push(c);
    }
    if quote.is_some() {
        return Err("unbalanced quote".into());
    }
    if !w.is_empty() {
        words.push(w);
    }
    Ok(words)
}

/// BuildKit's `ProcessWord`: remove quotes, apply escapes, expand variables.
pub fn process_word(
    word: &str,
    vars: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<String, String> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == escape {
            if let Some(n) = chars.get(i + 1) {
                out.push(*n);
            }
            i += 2;
            continue;
        }
        match c {
            '\'' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&x| x == '\'')
                    .ok_or("unterminated single quote")?;
                out.extend(&chars[i + 1..i + 1 + end]);
                i += end + 2;
            }
            '"' => {
                i += 1;
                loop {
                    let Some(&d) = chars.get(i) else {
                        return Err("unterminated double quote".into());
                    };
                    if d == '"' {
                        i += 1;
                        break;
                    }
                    if d == '$' {
                        let (v, n) = dollar(&chars[i..], vars, escape)?;
                        out.push_str(&v);
                        i += n;
                        continue;
                    }
                    if d == escape {
                        match chars.get(i + 1) {
                            None => {
                                i += 1;
                                continue;
                            }
                            Some(&n) if n == '"' || n == '$' || n == escape => {
                                out.push(n);
                                i += 2;
                                continue;
                            }
                            _ => {}
                        }
                    }
                    out.push(d);
                    i += 1;
                }
            }
            '$' => {
                let (v, n) = dollar(&chars[i..], vars, escape)?;
                out.push_str(&v);
                i += n;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Expand `$...` at the start of `s`; returns the value and the chars consumed.
fn dollar(
    s: &[char],
    vars: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<(String, usize), String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if s.get(1) == Some(&'{') {
        let close = s
            .iter()
            .position(|&c| c == '}')
            .ok_or("missing '}' in ${...}")?;
        let inner: String = s[2..close].iter().collect();
        let name_len = inner.chars().take_while(|&c| is_name(c)).count();
        let name = &inner[..name_len];
        if name.is_empty() {
            return Err(format!("bad substitution ${{{inner}}}"));
        }
        let op = &inner[name_len..];
        let val = vars(name);
        let res = if op.is_empty() {
            val.unwrap_or_default()
        } else if let Some(w) = op.strip_prefix(":-") {
            match val.filter(|v| !v.is_empty()) {
                Some(v) => v,
                None => process_word(w, vars, escape)?,
            }
        } else if let Some(w) = op.strip_prefix(":+") {
            match val.filter(|v| !v.is_empty()) {
                Some(_) => process_word(w, vars, escape)?,
                None => String::new(),
            }
        } else if let Some(w) = op.strip_prefix('-') {
            match val {
                Some(v) => v,
                None => process_word(w, vars, escape)?,
            }
        } else if let Some(w) = op.strip_prefix('+') {
            match val {
                Some(_) => process_word(w, vars, escape)?,
                None => String::new(),
            }
        } else {
            return Err(format!(
                "unsupported substitution ${{{inner}}}: use $V, ${{V}}, ${{V:-word}} or ${{V:+word}}"
            ));
        };
        return Ok((res, close + 1));
    }
    let n = s[1..].iter().take_while(|&&c| is_name(c)).count();
    if n == 0 {
        return Ok(("$".into(), 1));
    }
    let name: String = s[1..1 + n].iter().collect();
    Ok((vars(&name).unwrap_or_default(), 1 + n))
}

/// `["a","b"]` exec form, if `rest` is one.
fn json_form(rest: &str) -> Option<Vec<String>> {
    let t = rest.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

/// Leading `--flag` words, which no supported instruction accepts.
fn reject_flags(i: &Instr, file: &str) -> Result<(), Error> {
    if let Some(flag) = i
        .rest
        .split_whitespace()
        .next()
        .filter(|w| w.starts_with("--"))
    {
        let name = flag.split('=').next().unwrap_or(flag);
        return Err(Error::at(
            file,
            i.line,
            format!(
                "{} {name} is not supported (the build must not depend on options a Windows host would resolve)",
                i.keyword
            ),
        ));
    }
    Ok(())
}

struct State<'a> {
    file: String,
    dir: &'a Path,
    /// `dir` with every symlink resolved: sources must resolve inside it.
    context_root: PathBuf,
    escape: char,
    build_args: &'a BTreeMap<String, String>,
    implicit_args: &'a BTreeMap<String, String>,
    consumed: std::collections::BTreeSet<String>,
    meta: BTreeMap<String, Option<String>>,
    stage_args: Vec<(String, Option<String>)>,
    env: Vec<(String, String)>,
    workdir: String,
    from: Option<(String, String)>,
    steps: Vec<Step>,
    inputs: BTreeMap<String, InputFile>,
    copied_bytes: u64,
    warnings: Vec<String>,
}

impl State<'_> {
    fn err(&self, line: usize, msg: impl Into<String>) -> Error {
        Error::at(&self.file, line, msg)
    }

    /// Variables visible to substitution in the stage: ENV over ARG.
    fn stage_var(&self, name: &str) -> Option<String> {
        if let Some((_, v)) = self.env.iter().rev().find(|(k, _)| k == name) {
            return Some(v.clone());
        }
        self.stage_args
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.clone())
    }

    fn word(&self, line: usize, w: &str) -> Result<String, Error> {
        let f = |n: &str| self.stage_var(n);
        process_word(w, &f, self.escape).map_err(|e| self.err(line, e))
    }

    fn arg_value(&mut self, name: &str, default: Option<String>) -> Option<String> {
        if let Some(v) = self.build_args.get(name) {
            self.consumed.insert(name.to_string());
            return Some(v.clone());
        }
        if default.is_none()
            && let Some(v) = self.implicit_args.get(name)
        {
            return Some(v.clone());
        }
        default
    }

    fn instr(&mut self, i: &Instr) -> Result<(), Error> {
        if self.from.is_none() && !matches!(i.keyword.as_str(), "ARG" | "FROM") {
            return Err(self.err(
                i.line,
                format!("{} before FROM: only ARG may come before FROM", i.keyword),
            ));
        }
        match i.keyword.as_str() {
            "ARG" => self.arg(i),
            "FROM" => self.from(i),
            "COPY" | "ADD" => self.copy(i),
            "USER" => {
                let user = self.word(i.line, i.rest.trim())?;
                if user.is_empty() {
                    return Err(self.err(i.line, "USER needs a user name"));
                }
                self.push(i, nop(&format!("USER {user}")), StepKind::User { user });
                Ok(())
            }
            "ENV" | "LABEL" => self.env_label(i),
            "WORKDIR" => {
                let w = self.word(i.line, i.rest.trim())?;
                if w.is_empty() {
                    return Err(self.err(i.line, "WORKDIR needs a path"));
                }
                let p = resolve_image_path(&self.workdir, &w).map_err(|e| {
                    self.err(i.line, format!("{e} (with the default escape \\, write C:/path or use `# escape=``)"))
                })?;
                let path = super::windows_path(&p);
                self.workdir = path.clone();
                self.push(i, nop1(&format!("WORKDIR {path}")), StepKind::Workdir { path });
                Ok(())
            }
            "CMD" | "ENTRYPOINT" => {
                // moby's resolveCmdLine on Windows: exec form as written; shell form
                // one argument, the shell and the text, with ArgsEscaped set.
                let (args, shell_form) = match json_form(&i.rest) {
                    Some(a) => (a, false),
                    None => (vec![format!("{WINDOWS_SHELL} {}", shell_text(i))], true),
                };
                let cb = nop(&format!("{} {}", i.keyword, go_quote_list(&args)));
                let kind = if i.keyword == "CMD" {
                    StepKind::Cmd { args, shell_form }
                } else {
                    StepKind::Entrypoint { args, shell_form }
                };
                self.push(i, cb, kind);
                Ok(())
            }
            "RUN" => self.run(i),
            other => Err(self.err(
                i.line,
                format!(
                    "instruction {other} is not supported in a recipe (supported: ARG FROM COPY ADD USER ENV WORKDIR LABEL CMD ENTRYPOINT RUN)"
                ),
            )),
        }
    }

    fn push(&mut self, i: &Instr, created_by: String, kind: StepKind) {
        self.steps.push(Step {
            line: i.line,
            created_by,
            kind,
        });
    }

    fn arg(&mut self, i: &Instr) -> Result<(), Error> {
        let words = parse_words(&i.rest, self.escape).map_err(|e| self.err(i.line, e))?;
        if words.is_empty() {
            return Err(self.err(i.line, "ARG needs a name"));
        }
        let mut declared = Vec::new();
        for w in words {
            let (name, default) = match w.split_once('=') {
                Some((n, d)) => (n.to_string(), Some(d.to_string())),
                None => (w.clone(), None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(self.err(i.line, format!("invalid ARG name {name:?}")));
            }
            declared.push((name, default));
        }
        if self.from.is_none() {
            for (name, default) in declared {
                let meta = &self.meta;
                let f = |n: &str| meta.get(n).cloned().flatten();
                let default = match default {
                    Some(d) => {
                        Some(process_word(&d, &f, self.escape).map_err(|e| self.err(i.line, e))?)
                    }
                    None => None,
                };
                let v = self.arg_value(&name, default);
                self.meta.insert(name, v);
            }
            return Ok(());
        }
        let mut shown = Vec::new();
        for (name, default) in declared {
            let expanded = match &default {
                Some(d) => Some(self.word(i.line, d)?),
                None => self.meta.get(&name).cloned().flatten(),
            };
            let v = self.arg_value(&name, expanded);
            shown.push((name.clone(), default.clone()));
            self.stage_args.push((name, v));
        }
        let text: Vec<String> = shown
            .iter()
            .map(|(k, d)| match d {
                Some(d) => format!("{k}={d}"),
                None => k.clone(),
            })
            .collect();
        self.push(
            i,
            nop(&format!("ARG {}", text.join(" "))),
            StepKind::Arg { args: shown },
        );
        Ok(())
    }

    fn from(&mut self, i: &Instr) -> Result<(), Error> {
        if self.from.is_some() {
            return Err(self.err(
                i.line,
                "a second FROM: multi-stage recipes are not supported",
            ));
        }
        reject_flags(i, &self.file)?;
        let words: Vec<&str> = i.rest.split_whitespace().collect();
        match words.as_slice() {
            [_] => {}
            [_, as_, _] if as_.eq_ignore_ascii_case("as") => {}
            _ => {
                return Err(self.err(
                    i.line,
                    "FROM takes one image reference (and an optional AS name)",
                ));
            }
        }
        let template = words[0].to_string();
        let meta = &self.meta;
        let mut unset = Vec::new();
        for (k, v) in meta {
            if v.is_none()
                && (template.contains(&format!("${k}")) || template.contains(&format!("${{{k}")))
            {
                unset.push(k.clone());
            }
        }
        let f = |n: &str| meta.get(n).cloned().flatten();
        let base = process_word(&template, &f, self.escape).map_err(|e| self.err(i.line, e))?;
        for k in unset {
            self.warnings.push(unset_arg_warning(&k));
        }
        if base.is_empty() {
            return Err(self.err(i.line, "FROM resolves to an empty image reference"));
        }
        self.from = Some((template, base));
        Ok(())
    }

    fn env_label(&mut self, i: &Instr) -> Result<(), Error> {
        let words = parse_words(&i.rest, self.escape).map_err(|e| self.err(i.line, e))?;
        let mut pairs = Vec::new();
        if words.first().is_some_and(|w| !w.contains('=')) {
            // Legacy `ENV key value...`.
            let key = words[0].clone();
            let rest = i.rest.trim_start()[key.len()..].trim();
            if rest.is_empty() {
                return Err(self.err(i.line, format!("{} {key} needs a value", i.keyword)));
            }
            pairs.push((key, self.word(i.line, rest)?));
        } else {
            for w in &words {
                let (k, v) = w.split_once('=').ok_or_else(|| {
                    self.err(i.line, format!("{}: {w:?} is not KEY=VALUE", i.keyword))
                })?;
                let k = self.word(i.line, k)?;
                if k.is_empty() {
                    return Err(self.err(i.line, format!("{}: empty key", i.keyword)));
                }
                let v = self.word(i.line, v)?;
                pairs.push((k, v));
            }
        }
        if pairs.is_empty() {
            return Err(self.err(i.line, format!("{} needs KEY=VALUE", i.keyword)));
        }
        let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let cb = nop(&format!("{} {}", i.keyword, text.join(" ")));
        if i.keyword == "ENV" {
            self.env.extend(pairs.iter().cloned());
            self.push(i, cb, StepKind::Env { vars: pairs });
        } else {
            self.push(i, cb, StepKind::Label { labels: pairs });
        }
        Ok(())
    }

    fn run(&mut self, i: &Instr) -> Result<(), Error> {
        reject_flags(i, &self.file)?;
        let (args, mut created_by) = match json_form(&i.rest) {
            Some(a) => {
                let cb = a.join(" ");
                (a, cb)
            }
            None => {
                let text = shell_text(i);
                let a = split_command_line(&text)
                    .map_err(|e| self.err(i.line, format!("RUN {text}: {e}")))?;
                (a, format!("{WINDOWS_SHELL} {text}"))
            }
        };
        let steps = &self.steps;
        let lookup = |p: &str| -> Option<Vec<u8>> {
            steps
                .iter()
                .rev()
                .filter_map(|s| match &s.kind {
                    StepKind::Copy { files, .. } => Some(files),
                    _ => None,
                })
                .flatten()
                .find(|f| f.dest_path.eq_ignore_ascii_case(p))
                .map(|f| f.bytes.clone())
        };
        let ctx = RunContext {
            workdir: if self.workdir.is_empty() {
                "C:\\"
            } else {
                &self.workdir
            },
            copied: &lookup,
        };
        let kind = parse_run(&args, &ctx).map_err(|e| self.err(i.line, e))?;
        // moby's prependEnvOnCmd: stage ARGs with a value and no ENV of the same name.
        let mut build_env: Vec<String> = self
            .stage_args
            .iter()
            .filter(|(k, v)| v.is_some() && !self.env.iter().any(|(e, _)| e == k))
            .map(|(k, v)| format!("{k}={}", v.clone().unwrap_or_default()))
            .collect();
        build_env.sort();
        build_env.dedup();
        if !build_env.is_empty() {
            created_by = format!("|{} {} {created_by}", build_env.len(), build_env.join(" "));
        }
        self.push(i, created_by, kind);
        Ok(())
    }

    fn copy(&mut self, i: &Instr) -> Result<(), Error> {
        reject_flags(i, &self.file)?;
        let is_add = i.keyword == "ADD";
        let raw = match json_form(&i.rest) {
            Some(a) => a,
            None => i.rest.split_whitespace().map(str::to_string).collect(),
        };
        let mut words = Vec::new();
        for w in &raw {
            words.push(self.word(i.line, w)?);
        }
        if words.len() < 2 {
            return Err(self.err(
                i.line,
                format!("{} needs at least one source and a destination", i.keyword),
            ));
        }
        let dest_raw = words.pop().unwrap_or_default();
        let dest_is_dir = dest_raw.ends_with(['/', '\\']) || words.len() > 1;
        let dest = resolve_image_path(&self.workdir, &dest_raw).map_err(|e| self.err(i.line, e))?;
        let mut files: Vec<CopiedFile> = Vec::new();
        let mut dirs: std::collections::BTreeSet<String> = ancestors(&dest);
        let mut hashes = Vec::new();
        for src in &words {
            if src.contains(['*', '?', '[']) {
                return Err(self.err(
                    i.line,
                    format!(
                        "{} source {src:?}: wildcards are not supported; name the files",
                        i.keyword
                    ),
                ));
            }
            if src.contains("://") {
                return Err(self.err(
                    i.line,
                    format!(
                        "{} source {src:?}: remote sources are not supported",
                        i.keyword
                    ),
                ));
            }
            let rel = context_path(src).map_err(|e| self.err(i.line, e))?;
            let full = self.dir.join(&rel);
            self.inside_context(i, src, &full)?;
            let meta = std::fs::symlink_metadata(&full).map_err(|_| {
                self.err(
                    i.line,
                    format!(
                        "{} source {src:?} not found in {}",
                        i.keyword,
                        self.dir.display()
                    ),
                )
            })?;
            let rel_str = rel.to_string_lossy().replace('\\', "/");
            if meta.is_dir() {
                dirs.insert(dest.clone());
                let mut listing = Vec::new();
                self.walk(
                    i,
                    &full,
                    &rel_str,
                    "",
                    &dest,
                    &mut files,
                    &mut dirs,
                    &mut listing,
                    is_add,
                )?;
                hashes.push((true, listing));
            } else if meta.is_file() {
                let name = rel
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                let target = if dest_is_dir {
                    join(&dest, &name)
                } else {
                    dest.clone()
                };
                if target.is_empty() {
                    return Err(self.err(i.line, "cannot copy a file onto C:\\ itself"));
                }
                let parent = target
                    .rsplit_once('/')
                    .map(|(p, _)| p.to_string())
                    .unwrap_or_default();
                dirs.extend(ancestors(&parent));
                if !parent.is_empty() {
                    dirs.insert(parent);
                }
                let f = self.read_file(i, &full, &rel_str, &target, is_add)?;
                hashes.push((false, vec![(rel_str.clone(), f.sha256.clone())]));
                files.push(f);
            } else {
                return Err(self.err(i.line, format!("{} source {src:?} is neither a file nor a folder (symlinks are not followed)", i.keyword)));
            }
        }
        let cb = nop1(&format!(
            "{} {} in {} ",
            i.keyword,
            source_hash(&hashes),
            dest_raw.replace('/', "\\")
        ));
        let dirs: Vec<String> = dirs.into_iter().filter(|d| !d.is_empty()).collect();
        self.push(i, cb, StepKind::Copy { dest, dirs, files });
        Ok(())
    }

    /// A source whose path runs through a symlink out of the context is refused (the
    /// last component is checked by the callers: symlinks are never copied).
    fn inside_context(&self, i: &Instr, src: &str, full: &Path) -> Result<(), Error> {
        let parent = full.parent().unwrap_or(full);
        let Ok(real) = parent.canonicalize() else {
            // Missing: the caller's lookup names it.
            return Ok(());
        };
        if !real.starts_with(&self.context_root) {
            return Err(self.err(
                i.line,
                format!(
                    "{} source {src:?} resolves to {}, outside the build context {} (through a symlink)",
                    i.keyword,
                    real.display(),
                    self.dir.display()
                ),
            ));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn walk(
        &mut self,
        i: &Instr,
        full: &Path,
        rel_src: &str,
        rel_in: &str,
        dest: &str,
        files: &mut Vec<CopiedFile>,
        dirs: &mut std::collections::BTreeSet<String>,
        listing: &mut Vec<(String, Digest)>,
        is_add: bool,
    ) -> Result<(), Error> {
        let rd = std::fs::read_dir(full).map_err(|e| Error::io(full, e))?;
        let mut names = Vec::new();
        for e in rd {
            let e = e.map_err(|e| Error::io(full, e))?;
            let name = e.file_name().into_string().map_err(|n| {
                self.err(
                    i.line,
                    format!("file name {n:?} in {} is not UTF-8", full.display()),
                )
            })?;
            names.push(name);
        }
        names.sort();
        for name in names {
            let p = full.join(&name);
            let meta = std::fs::symlink_metadata(&p).map_err(|e| Error::io(&p, e))?;
            let src = format!("{rel_src}/{name}");
            let inner = join(rel_in, &name);
            let target = join(dest, &inner);
            if meta.is_dir() {
                dirs.insert(target);
                self.walk(i, &p, &src, &inner, dest, files, dirs, listing, is_add)?;
            } else if meta.is_file() {
                let f = self.read_file(i, &p, &src, &target, is_add)?;
                listing.push((inner, f.sha256.clone()));
                files.push(f);
            } else {
                return Err(self.err(i.line, format!("{src} is a symlink or special file: only regular files and folders can be copied")));
            }
        }
        Ok(())
    }

    fn read_file(
        &mut self,
        i: &Instr,
        p: &Path,
        src: &str,
        target: &str,
        is_add: bool,
    ) -> Result<CopiedFile, Error> {
        let left = crate::limits::Cap {
            kind: "file a recipe copies",
            bytes: MAX_COPY_BYTES.saturating_sub(self.copied_bytes),
        };
        // A .reg file is for `reg import`, which reads at most REG_FILE bytes: refuse a
        // bigger one here, before reading it.
        let is_reg = p.extension().is_some_and(|e| e.eq_ignore_ascii_case("reg"));
        let cap = if is_reg && crate::limits::REG_FILE.bytes < left.bytes {
            crate::limits::REG_FILE
        } else {
            left
        };
        let bytes = crate::limits::read_capped(p, &cap).map_err(|e| Error::io(p, e))?;
        self.copied_bytes += bytes.len() as u64;
        if self.copied_bytes > MAX_COPY_BYTES {
            return Err(self.err(
                i.line,
                format!("the recipe copies more than {MAX_COPY_BYTES} bytes"),
            ));
        }
        if is_add && is_archive(&bytes) {
            return Err(self.err(i.line, format!("ADD would unpack the archive {src}: unpacking is not supported; extract it and COPY the files")));
        }
        let d = Digest::of(&bytes);
        self.inputs.insert(
            src.to_string(),
            InputFile {
                path: src.to_string(),
                size: bytes.len() as u64,
                digest: d.clone(),
            },
        );
        Ok(CopiedFile {
            dest_path: target.to_string(),
            source: src.to_string(),
            bytes,
            sha256: d,
        })
    }
}

/// The text of a shell-form RUN/CMD/ENTRYPOINT as moby keeps it: the original logical
/// line after the keyword, leading blanks removed.
fn shell_text(i: &Instr) -> String {
    let o = i.original.trim_start();
    o.get(i.keyword.len()..)
        .unwrap_or("")
        .trim_start_matches([' ', '\t', '\u{b}', '\n'])
        .to_string()
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else if b.is_empty() {
        a.to_string()
    } else {
        format!("{a}/{b}")
    }
}

/// `a`, `a/b` for `a/b/c` (strict ancestors).
fn ancestors(p: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let comps: Vec<&str> = p.split('/').filter(|c| !c.is_empty()).collect();
    for n in 1..comps.len() {
        out.insert(comps[..n].join("/"));
    }
    out
}

/// A build-context-relative source path that stays inside the context.
fn context_path(src: &str) -> Result<PathBuf, String> {
    let b = src.as_bytes();
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        return Err(format!(
            "source {src:?} is an absolute path: sources are relative to the build context"
        ));
    }
    let s = src.replace('\\', "/");
    let p = Path::new(&s);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(x) => out.push(x),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return Err(format!("source {src:?} is outside the build context"));
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "source {src:?} is an absolute path: sources are relative to the build context"
                ));
            }
        }
    }
    Ok(out)
}

fn is_archive(b: &[u8]) -> bool {
    b.starts_with(&[0x1f, 0x8b])
        || b.starts_with(b"BZh")
        || b.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
        || b.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || b.get(257..262) == Some(b"ustar")
}

/// Parse a Dockerfile (`df`) whose build context is `dir`.
pub fn load(dir: &Path, df: &Path, build_args: &BTreeMap<String, String>) -> Result<Recipe, Error> {
    load_opts(
        dir,
        df,
        &super::LoadOptions {
            build_args: build_args.clone(),
            ..Default::default()
        },
    )
}

/// [`load`] with implicit args (`opts.context` is the caller's to apply: `dir`).
pub fn load_opts(dir: &Path, df: &Path, opts: &super::LoadOptions) -> Result<Recipe, Error> {
    let build_args = &opts.build_args;
    let bytes =
        crate::limits::read_capped(df, &crate::limits::RECIPE).map_err(|e| Error::io(df, e))?;
    let file = df.display().to_string();
    let text = String::from_utf8(bytes.clone())
        .map_err(|_| Error::Invalid(format!("{file} is not UTF-8 text")))?;
    if dir.join(".dockerignore").exists() {
        return Err(Error::Invalid(format!(
            "{} has a .dockerignore: it is not supported (remove it or move the ignored files out)",
            dir.display()
        )));
    }
    let mut recipe = load_text_opts(dir, &file, &text, build_args, &opts.implicit_args)?;
    let df_name = df
        .strip_prefix(dir)
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .unwrap_or_else(|_| {
            df.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default()
        });
    recipe.files.push(InputFile {
        path: df_name,
        size: bytes.len() as u64,
        digest: Digest::of(&bytes),
    });
    recipe.files.sort_by(|a, b| a.path.cmp(&b.path));
    recipe.source = Source::Dockerfile(df.to_path_buf());
    Ok(recipe)
}

/// Parse Dockerfile text (errors name `file`); copied files are read from `dir` (the
/// only file access: a text without COPY/ADD touches nothing). The returned recipe lists
/// only the copied files as inputs.
pub fn load_text(
    dir: &Path,
    file: &str,
    text: &str,
    build_args: &BTreeMap<String, String>,
) -> Result<Recipe, Error> {
    load_text_opts(dir, file, text, build_args, &BTreeMap::new())
}

fn load_text_opts(
    dir: &Path,
    file: &str,
    text: &str,
    build_args: &BTreeMap<String, String>,
    implicit_args: &BTreeMap<String, String>,
) -> Result<Recipe, Error> {
    let (instrs, escape, warnings) = split_instructions(text, file)?;
    let context_root = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
    let mut st = State {
        file: file.to_string(),
        dir,
        context_root,
        escape,
        build_args,
        implicit_args,
        consumed: Default::default(),
        meta: BTreeMap::new(),
        stage_args: Vec::new(),
        env: Vec::new(),
        workdir: String::new(),
        from: None,
        steps: Vec::new(),
        inputs: BTreeMap::new(),
        copied_bytes: 0,
        warnings,
    };
    for i in &instrs {
        st.instr(i)?;
    }
    let Some((base_template, base)) = st.from.clone() else {
        return Err(Error::Invalid(format!("{file} has no FROM instruction")));
    };
    let unused: Vec<&String> = build_args
        .keys()
        .filter(|k| !st.consumed.contains(*k))
        .collect();
    if !unused.is_empty() {
        st.warnings.push(unconsumed_warning(&unused));
    }
    let mut args = BTreeMap::new();
    for (k, v) in st
        .meta
        .iter()
        .chain(st.stage_args.iter().map(|(k, v)| (k, v)))
    {
        if let Some(v) = v {
            args.insert(k.clone(), v.clone());
        }
    }
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
        .unwrap_or_else(|| "recipe".into());
    Ok(Recipe {
        name,
        source: Source::Builtin,
        args,
        base_template,
        base,
        steps: st.steps,
        files: st.inputs.into_values().collect(),
        warnings: st.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(m: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: BTreeMap<String, String> = m
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |n| m.get(n).cloned()
    }

    #[test]
    fn lexer_follows_buildkit() {
        let v = vars(&[("A", "x"), ("E", "")]);
        let pw = |s: &str, e: char| process_word(s, &v, e).unwrap();
        assert_eq!(pw("$A-${A}", '\\'), "x-x");
        assert_eq!(pw("${B:-d}${E:-e}${E-f}${A:+p}", '\\'), "dep");
        assert_eq!(pw("c:\\\\", '\\'), "c:\\");
        assert_eq!(pw("C:\\tools", '`'), "C:\\tools");
        assert_eq!(pw("'$A'\"$A\\$\"", '\\'), "$Ax$");
        assert_eq!(pw("\\$A", '\\'), "$A");
        assert!(process_word("${A:?x}", &v, '\\').is_err());
        assert!(process_word("\"open", &v, '\\').is_err());
    }

    #[test]
    fn logical_lines() {
        let text = "# escape=`\nFROM a\n# comment\nRUN reg add `\n  # inner comment\n  HKLM\\X `\n\n  /f\n";
        let (ins, esc, _) = split_instructions(text, "Dockerfile").unwrap();
        assert_eq!(esc, '`');
        assert_eq!(ins.len(), 2);
        assert_eq!(ins[1].line, 4);
        assert_eq!(ins[1].original, "RUN reg add   HKLM\\X   /f");
        assert_eq!(shell_text(&ins[1]), "reg add   HKLM\\X   /f");
    }

    #[test]
    fn words_keep_quotes() {
        assert_eq!(
            parse_words(r#"a="b c" d=e\ f"#, '\\').unwrap(),
            [r#"a="b c""#, r"d=e\ f"]
        );
    }
}
