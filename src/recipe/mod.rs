//! What to build: the recipe model, the upstream Dockerfile subset, the built-in default.
//!
//! Owns: parsing a Dockerfile of the subset the pause base uses (`ARG`, one `FROM`,
//! `COPY`, `RUN`, `USER`, `ENV`, `WORKDIR`, `LABEL`; comments, `\` continuations and the
//! `# escape=` directive), reading the build-context files its `COPY` steps name, and the
//! recipe's identity (a digest over the Dockerfile and those files). Does not own what a
//! `RUN` command means (`build` interprets `reg import`, `reg add`, `reg delete`,
//! `sc.exe delete`) nor where the base comes from (the `build` caller pins it; `FROM` is
//! recorded, never followed).
//!
//! The built-in default is microsoft/windows-pause-image-base's `Dockerfile` and
//! `binaries/keylight.reg`, embedded byte for byte (MIT, see `default/LICENSE`), so a
//! checkout of that repository given to `--recipe` builds the same image.
//!
//! Hand-written: the Dockerfile crates on crates.io parse the full grammar into an AST
//! but do not give line-accurate errors for a refused subset, which is what users need.

use crate::image::Digest;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Largest context file a recipe may COPY (the layers are built in memory).
pub const MAX_FILE: u64 = 64 << 20;

/// Recipe errors: each names the file and, for syntax, the line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file} line {line}: {message}")]
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
    #[error(
        "{file} line {line}: unsupported instruction {instruction}; the recipe subset is ARG, FROM, COPY, RUN, USER, ENV, WORKDIR, LABEL"
    )]
    Unsupported {
        file: String,
        line: usize,
        instruction: String,
    },
    #[error(
        "{file} line {line}: COPY source {source_path:?} does not exist in the build context {context}"
    )]
    CopySourceMissing {
        file: String,
        line: usize,
        source_path: String,
        context: String,
    },
    #[error("reading the recipe {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("recipe {0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// One recipe instruction that the builder acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "instruction", rename_all = "camelCase")]
pub enum StepKind {
    /// `COPY SRC... DEST`: context-relative sources ('/'-separated), the destination as written.
    Copy {
        sources: Vec<String>,
        dest: String,
    },
    /// `RUN COMMAND` (shell form; the JSON form is joined with spaces).
    Run {
        command: String,
    },
    User {
        user: String,
    },
    Env {
        vars: Vec<(String, String)>,
    },
    Workdir {
        path: String,
    },
    Label {
        labels: Vec<(String, String)>,
    },
}

impl StepKind {
    /// True for steps that only change the image config.
    pub fn is_metadata(&self) -> bool {
        !matches!(self, StepKind::Copy { .. } | StepKind::Run { .. })
    }
}

/// A step with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// 1-based line of the instruction's first line in the Dockerfile.
    pub line: usize,
    #[serde(flatten)]
    pub kind: StepKind,
}

/// A loaded recipe: the Dockerfile, the context files its COPY steps use, the steps.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// `builtin` or the directory / file it was loaded from.
    pub name: String,
    /// The file name used in messages (`Dockerfile` or the given path).
    pub dockerfile_name: String,
    pub dockerfile: Vec<u8>,
    /// Context files under the COPY sources: '/'-separated relative path → bytes.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The `FROM` argument as written (never followed: the base is given to the build).
    pub from: Option<String>,
    pub steps: Vec<Step>,
}

impl Recipe {
    /// Every input file with its digest: `Dockerfile` first, then context files.
    pub fn file_digests(&self) -> Vec<(String, Digest)> {
        let mut v = vec![("Dockerfile".to_string(), Digest::of(&self.dockerfile))];
        v.extend(self.files.iter().map(|(p, b)| (p.clone(), Digest::of(b))));
        v
    }

    /// The recipe's identity: sha256 over `PATH\0sha256:HEX\n` for each input file
    /// (the Dockerfile as `Dockerfile`, then context files in byte order of their paths).
    /// The same content gives the same digest wherever it was loaded from.
    pub fn digest(&self) -> Digest {
        let mut s = Vec::new();
        for (p, d) in self.file_digests() {
            s.extend_from_slice(p.as_bytes());
            s.push(0);
            s.extend_from_slice(d.to_string().as_bytes());
            s.push(b'\n');
        }
        Digest::of(&s)
    }
}

const BUILTIN_DOCKERFILE: &[u8] = include_bytes!("default/Dockerfile");
const BUILTIN_KEYLIGHT: &[u8] = include_bytes!("default/binaries/keylight.reg");

/// The built-in default: the upstream windows-pause-image-base recipe.
pub fn builtin() -> Recipe {
    let mut files = BTreeMap::new();
    files.insert(
        "binaries/keylight.reg".to_string(),
        BUILTIN_KEYLIGHT.to_vec(),
    );
    let parsed = parse_dockerfile("Dockerfile", BUILTIN_DOCKERFILE)
        .expect("the embedded default Dockerfile parses (unit-tested)");
    Recipe {
        name: "builtin".to_string(),
        dockerfile_name: "Dockerfile".to_string(),
        dockerfile: BUILTIN_DOCKERFILE.to_vec(),
        files,
        from: parsed.from,
        steps: parsed.steps,
    }
}

/// Load a recipe from a path: a directory holding `Dockerfile` (its build context), or a
/// Dockerfile (its directory is the context).
pub fn load(path: &Path) -> Result<Recipe> {
    let io = |p: &Path, source| Error::Io {
        path: p.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
    let (context, dockerfile_path): (PathBuf, PathBuf) = if meta.is_dir() {
        (path.to_path_buf(), path.join("Dockerfile"))
    } else {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        (parent, path.to_path_buf())
    };
    let dockerfile = read_limited(&dockerfile_path).map_err(|e| io(&dockerfile_path, e))?;
    let dname = dockerfile_path.display().to_string();
    let parsed = parse_dockerfile(&dname, &dockerfile)?;
    let mut files = BTreeMap::new();
    for step in &parsed.steps {
        if let StepKind::Copy { sources, .. } = &step.kind {
            for s in sources {
                let full = context.join(s);
                let m = std::fs::symlink_metadata(&full).map_err(|_| Error::CopySourceMissing {
                    file: dname.clone(),
                    line: step.line,
                    source_path: s.clone(),
                    context: context.display().to_string(),
                })?;
                collect(&full, s, m.is_dir(), &mut files)?;
            }
        }
    }
    Ok(Recipe {
        name: path.display().to_string(),
        dockerfile_name: dname,
        dockerfile,
        files,
        from: parsed.from,
        steps: parsed.steps,
    })
}

fn read_limited(p: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(p)?;
    let mut v = Vec::new();
    f.take(MAX_FILE + 1).read_to_end(&mut v)?;
    if v.len() as u64 > MAX_FILE {
        return Err(std::io::Error::other(format!(
            "larger than the {MAX_FILE}-byte limit for recipe files"
        )));
    }
    Ok(v)
}

fn collect(
    full: &Path,
    rel: &str,
    is_dir: bool,
    out: &mut BTreeMap<String, Vec<u8>>,
) -> Result<()> {
    let io = |source| Error::Io {
        path: full.display().to_string(),
        source,
    };
    if !is_dir {
        out.insert(rel.to_string(), read_limited(full).map_err(io)?);
        return Ok(());
    }
    let mut names: Vec<(String, bool)> = Vec::new();
    for e in std::fs::read_dir(full).map_err(io)? {
        let e = e.map_err(io)?;
        let name = e.file_name().into_string().map_err(|n| {
            Error::Invalid(format!("{}: file name {n:?} is not UTF-8", full.display()))
        })?;
        let ft = e.file_type().map_err(io)?;
        if ft.is_symlink() {
            return Err(Error::Invalid(format!(
                "{}: symbolic links in the build context are not supported",
                full.join(&name).display()
            )));
        }
        names.push((name, ft.is_dir()));
    }
    names.sort();
    for (n, d) in names {
        collect(&full.join(&n), &format!("{rel}/{n}"), d, out)?;
    }
    Ok(())
}

/// What [`parse_dockerfile`] found.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub from: Option<String>,
    pub steps: Vec<Step>,
}

/// Parse a Dockerfile of the supported subset. `file` names it in errors.
pub fn parse_dockerfile(file: &str, bytes: &[u8]) -> Result<Parsed> {
    let text = std::str::from_utf8(bytes).map_err(|e| Error::Syntax {
        file: file.to_string(),
        line: 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count(),
        message: "not UTF-8 text".to_string(),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let syntax = |line: usize, message: String| Error::Syntax {
        file: file.to_string(),
        line,
        message,
    };
    let mut escape = '\\';
    let mut directives_open = true;
    let mut from: Option<String> = None;
    let mut steps = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let start = i + 1;
        let raw = lines[i].trim_end_matches('\r');
        i += 1;
        let t = raw.trim();
        if t.is_empty() {
            directives_open = false;
            continue;
        }
        if let Some(c) = t.strip_prefix('#') {
            if directives_open
                && let Some((k, v)) = c.split_once('=')
                && k.trim().eq_ignore_ascii_case("escape")
            {
                escape = match v.trim() {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(syntax(
                            start,
                            format!("escape directive {other:?}: only \\ and ` are valid"),
                        ));
                    }
                };
            }
            continue;
        }
        directives_open = false;
        // Join continuation lines (comment lines inside a continuation are skipped).
        let mut logical = String::new();
        let mut cur = raw.trim_end().to_string();
        loop {
            if let Some(body) = cur.strip_suffix(escape) {
                logical.push_str(body);
                logical.push(' ');
                let mut next = None;
                while i < lines.len() {
                    let l = lines[i].trim_end_matches('\r');
                    i += 1;
                    if l.trim_start().starts_with('#') {
                        continue;
                    }
                    next = Some(l.trim_end().to_string());
                    break;
                }
                match next {
                    Some(n) => cur = n,
                    None => break,
                }
            } else {
                logical.push_str(&cur);
                break;
            }
        }
        let logical = logical.trim();
        let (word, rest) = match logical.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim()),
            None => (logical, ""),
        };
        let instr = word.to_ascii_uppercase();
        let need_args = |what: &str| -> Result<()> {
            if rest.is_empty() {
                Err(syntax(start, format!("{what} needs arguments")))
            } else {
                Ok(())
            }
        };
        let kind = match instr.as_str() {
            "ARG" => {
                need_args("ARG")?;
                continue;
            }
            "FROM" => {
                need_args("FROM")?;
                if from.is_some() {
                    return Err(syntax(
                        start,
                        "a second FROM: multi-stage recipes are not supported".to_string(),
                    ));
                }
                from = Some(rest.to_string());
                continue;
            }
            _ if from.is_none() => {
                return Err(syntax(
                    start,
                    format!("{instr} before FROM: the recipe must start with FROM (after ARG)"),
                ));
            }
            "COPY" => {
                need_args("COPY")?;
                if rest.starts_with("--") {
                    return Err(syntax(
                        start,
                        format!(
                            "COPY flags are not supported ({})",
                            rest.split_whitespace().next().unwrap_or("")
                        ),
                    ));
                }
                let words = words_or_json(rest).map_err(|m| syntax(start, m))?;
                let Some((dest, sources)) = words.split_last() else {
                    return Err(syntax(
                        start,
                        "COPY needs a source and a destination".into(),
                    ));
                };
                if sources.is_empty() {
                    return Err(syntax(
                        start,
                        "COPY needs a source and a destination".into(),
                    ));
                }
                let mut srcs = Vec::new();
                for s in sources {
                    srcs.push(context_path(s).map_err(|m| syntax(start, m))?);
                }
                StepKind::Copy {
                    sources: srcs,
                    dest: dest.clone(),
                }
            }
            "RUN" => {
                need_args("RUN")?;
                let command = if rest.starts_with('[') {
                    words_or_json(rest).map_err(|m| syntax(start, m))?.join(" ")
                } else {
                    rest.to_string()
                };
                StepKind::Run { command }
            }
            "USER" => {
                need_args("USER")?;
                StepKind::User {
                    user: rest.to_string(),
                }
            }
            "WORKDIR" => {
                need_args("WORKDIR")?;
                StepKind::Workdir {
                    path: rest.to_string(),
                }
            }
            "ENV" => {
                need_args("ENV")?;
                StepKind::Env {
                    vars: pairs(rest).map_err(|m| syntax(start, m))?,
                }
            }
            "LABEL" => {
                need_args("LABEL")?;
                StepKind::Label {
                    labels: pairs(rest).map_err(|m| syntax(start, m))?,
                }
            }
            _ => {
                return Err(Error::Unsupported {
                    file: file.to_string(),
                    line: start,
                    instruction: word.to_string(),
                });
            }
        };
        steps.push(Step { line: start, kind });
    }
    if from.is_none() {
        return Err(Error::Invalid(format!("{file}: no FROM instruction")));
    }
    Ok(Parsed { from, steps })
}

/// A COPY source as a clean context-relative '/'-path.
fn context_path(s: &str) -> std::result::Result<String, String> {
    let norm = s.replace('\\', "/");
    let parts: Vec<&str> = norm
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if norm.starts_with('/') || parts.contains(&"..") || parts.is_empty() {
        return Err(format!(
            "COPY source {s:?} must be a path inside the build context"
        ));
    }
    if parts.iter().any(|p| p.contains(['*', '?', '['])) {
        return Err(format!("COPY source {s:?}: wildcards are not supported"));
    }
    Ok(parts.join("/"))
}

fn words_or_json(rest: &str) -> std::result::Result<Vec<String>, String> {
    if rest.starts_with('[') {
        serde_json::from_str::<Vec<String>>(rest)
            .map_err(|e| format!("invalid JSON array form: {e}"))
    } else {
        Ok(rest.split_whitespace().map(str::to_string).collect())
    }
}

fn unquote(s: &str) -> String {
    if s.len() >= 2
        && ((s.starts_with('"') && s.ends_with('"')) || (s.starts_with('\'') && s.ends_with('\'')))
    {
        s[1..s.len() - 1].to_string()
    } else {
        s.to_string()
    }
}

/// `K=V K2="V 2"` or the legacy `K V...` form.
fn pairs(rest: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let first = rest.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let (k, v) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("{rest:?}: expected KEY=VALUE or KEY VALUE"))?;
        return Ok(vec![(k.to_string(), unquote(v.trim()))]);
    }
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut tok = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.peek() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => tok.push(c),
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c.is_whitespace() => break,
                None => tok.push(c),
            }
            chars.next();
        }
        if quote.is_some() {
            return Err(format!("unterminated quote in {rest:?}"));
        }
        let (k, v) = tok
            .split_once('=')
            .ok_or_else(|| format!("{tok:?}: expected KEY=VALUE"))?;
        if k.is_empty() {
            return Err(format!("{tok:?}: empty key"));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_is_the_upstream_recipe() {
        let r = builtin();
        assert_eq!(
            r.from.as_deref(),
            Some("mcr.microsoft.com/windows/nanoserver:${OSVERSION}-amd64")
        );
        let kinds: Vec<&StepKind> = r.steps.iter().map(|s| &s.kind).collect();
        assert_eq!(
            kinds,
            vec![
                &StepKind::Copy {
                    sources: vec!["binaries".into()],
                    dest: "/tools".into()
                },
                &StepKind::User {
                    user: "ContainerAdministrator".into()
                },
                &StepKind::Run {
                    command: "reg import tools\\keylight.reg".into()
                },
                &StepKind::Run {
                    command: "sc.exe delete diagtrack -f".into()
                },
                &StepKind::User {
                    user: "ContainerUser".into()
                },
            ]
        );
        assert_eq!(r.steps[0].line, 4);
        assert_eq!(r.steps[3].line, 8);
        assert!(r.files["binaries/keylight.reg"].starts_with(b"Windows Registry Editor"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_dockerfile("D", b"FROM x\nUSER a\nHEALTHCHECK NONE\n").unwrap_err();
        assert!(
            matches!(e, Error::Unsupported { line: 3, ref instruction, .. } if instruction == "HEALTHCHECK"),
            "{e}"
        );
        let e = parse_dockerfile("D", b"USER a\n").unwrap_err();
        assert!(matches!(e, Error::Syntax { line: 1, .. }), "{e}");
        let e = parse_dockerfile("D", b"FROM x\nCOPY --chown=a b c\n").unwrap_err();
        assert!(matches!(e, Error::Syntax { line: 2, .. }), "{e}");
        let e = parse_dockerfile("D", b"FROM x\nCOPY ../etc c\n").unwrap_err();
        assert!(e.to_string().contains("inside the build context"), "{e}");
    }

    #[test]
    fn continuations_env_and_json() {
        let p = parse_dockerfile(
            "D",
            b"# escape=`\nFROM x\nRUN reg add `\n  HKLM\\SOFTWARE\\A /f\nENV A=1 B=\"two words\"\nENV C three four\nCOPY [\"a b\", \"C:\\\\t\"]\n",
        )
        .unwrap();
        assert_eq!(
            p.steps[0].kind,
            StepKind::Run {
                command: "reg add    HKLM\\SOFTWARE\\A /f".into()
            }
        );
        assert_eq!(
            p.steps[1].kind,
            StepKind::Env {
                vars: vec![("A".into(), "1".into()), ("B".into(), "two words".into())]
            }
        );
        assert_eq!(
            p.steps[2].kind,
            StepKind::Env {
                vars: vec![("C".into(), "three four".into())]
            }
        );
        assert_eq!(
            p.steps[3].kind,
            StepKind::Copy {
                sources: vec!["a b".into()],
                dest: "C:\\t".into()
            }
        );
        assert_eq!(p.steps[3].line, 7);
    }

    #[test]
    fn digest_depends_on_content_only() {
        let a = builtin();
        let mut b = builtin();
        b.name = "elsewhere".into();
        assert_eq!(a.digest(), b.digest());
        b.files
            .get_mut("binaries/keylight.reg")
            .unwrap()
            .push(b'\n');
        assert_ne!(a.digest(), b.digest());
    }
}
