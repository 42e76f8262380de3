//! What to build: the recipe model and its three sources.
//!
//! - [`builtin`]: the upstream recipe (microsoft/windows-pause-image-base, MIT) built into
//!   the binary: COPY `binaries` (holding `keylight.reg`, see `assets/NOTICE`) to `\tools`,
//!   USER ContainerAdministrator, `RUN reg import tools\keylight.reg`,
//!   `RUN sc.exe delete diagtrack -f`, USER ContainerUser.
//! - [`load_dir`] / [`load`]: an upstream-style folder with a Dockerfile (a subset of the
//!   classic Windows builder's language, [`dockerfile`]) and the files it copies.
//! - [`load`] on a `.toml` file: the declarative format of `docs/recipe.md` ([`toml_recipe`]).
//!
//! Every source yields the same [`Recipe`]: steps with the history string the classic
//! Windows builder (moby `daemon/builder/dockerfile`) records for them, and every input
//! file's bytes and digest. Owns: parsing and the model. Does not own: what a step does
//! to the image (`build`) or what a `.reg` file means (`hive`): `.reg` bytes stay raw.
//!
//! History strings (`created_by`), as moby's classic builder writes them on Windows
//! (`strings.Join(Cmd, " ")` of the commit's config, default shell `cmd /S /C`):
//! - metadata instructions: `cmd /S /C #(nop)  USER ContainerAdministrator` (two spaces:
//!   `#(nop) ` and the comment are separate arguments), same for ENV, LABEL, ARG, CMD,
//!   ENTRYPOINT (`CMD ["a" "b"]`, Go's `%q` of a string list);
//! - WORKDIR: `cmd /S /C #(nop) WORKDIR C:\tools` (one argument, one space);
//! - COPY/ADD: `cmd /S /C #(nop) COPY dir:<hex> in \tools ` (destination as written, with
//!   `/` turned into `\`, and a trailing space). The `<hex>` is *ours*: Docker hashes tar
//!   headers of its build context (modes, sizes from the build host) which no one can
//!   reproduce off that host; we hash contents and relative paths (see [`source_hash`]).
//!   A comparison must treat that hash as builder-specific;
//! - RUN, shell form: `cmd /S /C ` + the instruction's text after `RUN` (moby keeps the
//!   raw command line on Windows); exec form: the arguments joined by spaces. With ARGs
//!   declared after FROM, moby prefixes `|N K=V ...` (sorted) and so do we.

pub mod cmdline;
pub mod dockerfile;
pub mod toml_recipe;

use crate::image::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The `.reg` file the built-in recipe copies (byte-identical to upstream's).
pub const KEYLIGHT_REG: &[u8] = include_bytes!("../../assets/keylight.reg");

/// The upstream FROM line's image reference template.
pub const UPSTREAM_BASE_TEMPLATE: &str = "mcr.microsoft.com/windows/nanoserver:${OSVERSION}-amd64";

/// The default shell of the classic Windows builder.
pub const WINDOWS_SHELL: &str = "cmd /S /C";

/// A recipe: a base image reference and the steps on top of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Recipe {
    /// `builtin`, or the recipe folder's / file's name.
    pub name: String,
    pub source: Source,
    /// Values of the build args the recipe declares (after `--build-arg`); unset args
    /// are absent.
    pub args: BTreeMap<String, String>,
    /// The FROM reference as written (e.g. `...nanoserver:${OSVERSION}-amd64`).
    pub base_template: String,
    /// The FROM reference with build args substituted (unset args are empty, as docker).
    pub base: String,
    pub steps: Vec<Step>,
    /// Every input file the recipe read (the Dockerfile or TOML file itself, and every
    /// copied file), by path relative to the recipe folder, sorted.
    pub files: Vec<InputFile>,
    /// Things docker would warn about (unconsumed build args, unset args in FROM...).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "path", rename_all = "lowercase")]
pub enum Source {
    Builtin,
    Dockerfile(PathBuf),
    Toml(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InputFile {
    pub path: String,
    pub size: u64,
    pub digest: Digest,
}

/// One recipe instruction that makes an image history entry (and, with the classic
/// Windows builder, a layer).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    /// 1-based line of the instruction in its source (0 for the built-in recipe's
    /// programmatic steps is never used: builtin numbers them as upstream's Dockerfile).
    pub line: usize,
    /// Docker-style history string (see the module doc).
    pub created_by: String,
    pub kind: StepKind,
}

/// A file a COPY/ADD step puts into the image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopiedFile {
    /// Path in the image relative to `C:\`, `/`-separated, e.g. `tools/keylight.reg`.
    pub dest_path: String,
    /// Where it came from, relative to the recipe folder (`/`-separated).
    pub source: String,
    #[serde(skip)]
    pub bytes: Vec<u8>,
    pub sha256: Digest,
}

/// Which value `reg add` writes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegAddValue {
    /// No `/v` or `/ve`: only create the key.
    KeyOnly,
    /// `/ve`: the key's default (unnamed) value.
    Default,
    /// `/v NAME`.
    Named(String),
}

/// What `reg delete` removes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegDeleteTarget {
    /// No `/v`, `/ve`, `/va`: the key and its subtree.
    Key,
    /// `/v NAME`.
    Value(String),
    /// `/ve`: the default value.
    DefaultValue,
    /// `/va`: every value of the key (the key stays).
    AllValues,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum StepKind {
    Copy {
        /// The destination as resolved in the image (`tools`), `/`-separated from `C:\`.
        dest: String,
        /// Every directory the copy needs (ancestors of `dest`, `dest`, and copied
        /// subdirectories), top-down, sorted.
        dirs: Vec<String>,
        files: Vec<CopiedFile>,
    },
    User {
        user: String,
    },
    Env {
        vars: Vec<(String, String)>,
    },
    Workdir {
        /// Normalized Windows form, e.g. `C:\tools`.
        path: String,
    },
    Label {
        labels: Vec<(String, String)>,
    },
    Cmd {
        args: Vec<String>,
        /// Shell form: one argument `cmd /S /C TEXT`, which the classic Windows builder
        /// marks `ArgsEscaped: true` in the config (passed to the OS as is).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        shell_form: bool,
    },
    Entrypoint {
        args: Vec<String>,
        /// As for `Cmd`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        shell_form: bool,
    },
    /// ARG after FROM (a history entry with the classic builder).
    Arg {
        args: Vec<(String, Option<String>)>,
    },
    RegImport {
        /// Resolved against WORKDIR, e.g. `tools/keylight.reg`.
        path_in_image: String,
        #[serde(skip)]
        content: Vec<u8>,
        sha256: Digest,
    },
    RegAdd {
        /// As written, e.g. `HKLM\SOFTWARE\Microsoft\rpc` (root validated).
        key: String,
        value: RegAddValue,
        /// `REG_SZ` unless `/t` says otherwise (upper-cased).
        reg_type: String,
        /// `/d`, raw as reg.exe receives it.
        data: Option<String>,
        /// `/s` for REG_MULTI_SZ (reg.exe defaults to `\0`).
        separator: Option<String>,
        force: bool,
    },
    RegDelete {
        key: String,
        target: RegDeleteTarget,
        force: bool,
    },
    /// `sc.exe delete NAME`: deletes `HKLM\SYSTEM\ControlSet001\Services\NAME`.
    ScDelete {
        service: String,
    },
}

impl StepKind {
    /// True for steps that only change the image config (USER, ENV, ...): the classic
    /// builder still records a history entry and, on Windows, a small layer for them.
    pub fn is_metadata_only(&self) -> bool {
        matches!(
            self,
            StepKind::User { .. }
                | StepKind::Env { .. }
                | StepKind::Label { .. }
                | StepKind::Cmd { .. }
                | StepKind::Entrypoint { .. }
                | StepKind::Arg { .. }
        )
    }
}

/// Everything that can go wrong reading a recipe.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file}:{line}: {msg}")]
    At {
        file: String,
        line: usize,
        msg: String,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn at(file: &str, line: usize, msg: impl Into<String>) -> Error {
        Error::At {
            file: file.to_string(),
            line,
            msg: msg.into(),
        }
    }
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }
    /// The line number, when the error has one.
    pub fn line(&self) -> Option<usize> {
        match self {
            Error::At { line, .. } => Some(*line),
            _ => None,
        }
    }
}

impl Recipe {
    /// A digest of what the recipe *does*: base template and steps (history strings,
    /// operations, copied paths and content digests), independent of whether it came
    /// from the built-in default, a Dockerfile or a TOML file.
    pub fn steps_digest(&self) -> Digest {
        // Line numbers are left out: they depend on the form, not on what is built.
        let steps: Vec<_> = self
            .steps
            .iter()
            .map(|s| serde_json::json!({"created_by": s.created_by, "kind": s.kind}))
            .collect();
        let doc = serde_json::json!({
            "base": self.base_template,
            "steps": steps,
        });
        Digest::of(doc.to_string().as_bytes())
    }

    /// Does any step edit the registry (RUN reg/sc)? Only then does a build need the
    /// base's hives.
    pub fn edits_registry(&self) -> bool {
        self.steps.iter().any(|s| {
            matches!(
                s.kind,
                StepKind::RegImport { .. }
                    | StepKind::RegAdd { .. }
                    | StepKind::RegDelete { .. }
                    | StepKind::ScDelete { .. }
            )
        })
    }

    /// Content of a file the recipe copied into the image, by image path
    /// (ASCII-case-insensitive, last copy wins).
    pub fn copied_file(&self, path_in_image: &str) -> Option<&CopiedFile> {
        self.steps
            .iter()
            .rev()
            .filter_map(|s| match &s.kind {
                StepKind::Copy { files, .. } => Some(files),
                _ => None,
            })
            .flatten()
            .find(|f| f.dest_path.eq_ignore_ascii_case(path_in_image))
    }
}

/// `cmd /S /C #(nop)  X`: the history string of a metadata instruction.
pub fn nop(comment: &str) -> String {
    format!("{WINDOWS_SHELL} #(nop)  {comment}")
}

/// `cmd /S /C #(nop) X`: WORKDIR, COPY and ADD pass their comment as one argument.
pub fn nop1(comment: &str) -> String {
    format!("{WINDOWS_SHELL} #(nop) {comment}")
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub fn go_quote_list(args: &[String]) -> String {
    let parts: Vec<String> = args.iter().map(|a| go_quote(a)).collect();
    format!("[{}]", parts.join(" "))
}

/// Go's `strconv.Quote` for the printable strings recipes hold.
pub fn go_quote(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            '\x07' => o.push_str("\\a"),
            '\x08' => o.push_str("\\b"),
            '\x0c' => o.push_str("\\f"),
            '\x0b' => o.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                o.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Our COPY source hash: `file:<sha256 of content>` for one file; for a directory
/// `dir:<sha256 of "path=sha256hex" lines joined by ",">` over its files in order; for
/// several sources `multi:<sha256 of the source hashes joined by ",">` (moby's shape).
pub fn source_hash(sources: &[(bool, Vec<(String, Digest)>)]) -> String {
    let one = |(is_dir, files): &(bool, Vec<(String, Digest)>)| -> String {
        if *is_dir {
            let joined: Vec<String> = files
                .iter()
                .map(|(p, d)| format!("{p}={}", d.hex()))
                .collect();
            format!("dir:{}", Digest::of(joined.join(",").as_bytes()).hex())
        } else {
            format!(
                "file:{}",
                files
                    .first()
                    .map(|(_, d)| d.hex().to_string())
                    .unwrap_or_default()
            )
        }
    };
    if sources.len() == 1 {
        return one(&sources[0]);
    }
    let all: Vec<String> = sources.iter().map(one).collect();
    format!("multi:{}", Digest::of(all.join(",").as_bytes()).hex())
}

/// Resolve a Windows path as a container sees it (`C:\x`, `c:/x`, `\x`, `/x`, or relative
/// to `workdir`) to an image path relative to `C:\`, `/`-separated (`""` = `C:\`).
pub fn resolve_image_path(workdir: &str, p: &str) -> Result<String, String> {
    let (abs, rest) = split_drive(p)?;
    let mut comps: Vec<String> = Vec::new();
    if !abs {
        let (_, wd) = split_drive(workdir)?;
        comps.extend(
            wd.split(['\\', '/'])
                .filter(|c| !c.is_empty() && *c != ".")
                .map(str::to_string),
        );
    }
    for c in rest.split(['\\', '/']) {
        match c {
            "" | "." => {}
            ".." => {
                if comps.pop().is_none() {
                    return Err(format!("{p:?} climbs above C:\\"));
                }
            }
            c => {
                if c.contains(['*', '?', '"', '<', '>', '|', ':']) {
                    return Err(format!("{p:?}: {c:?} is not a valid Windows file name"));
                }
                comps.push(c.to_string())
            }
        }
    }
    Ok(comps.join("/"))
}

/// Is `p` absolute (drive or leading separator)? Returns the part after the drive.
fn split_drive(p: &str) -> Result<(bool, &str), String> {
    let b = p.as_bytes();
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        if !b[0].eq_ignore_ascii_case(&b'c') {
            return Err(format!(
                "{p:?} is on drive {}: a container image has only C:",
                b[0] as char
            ));
        }
        let rest = &p[2..];
        if !rest.is_empty() && !rest.starts_with(['\\', '/']) {
            return Err(format!("{p:?} is drive-relative; write C:\\{}", rest));
        }
        return Ok((true, rest));
    }
    Ok((p.starts_with(['\\', '/']), p))
}

/// The Windows form `C:\a\b` of an image path `a/b`.
pub fn windows_path(image_path: &str) -> String {
    format!("C:\\{}", image_path.replace('/', "\\"))
}

/// The built-in recipe (the upstream recipe), with `build_args` applied to its
/// `ARG OSVERSION`.
pub fn builtin_with_args(build_args: &BTreeMap<String, String>) -> Recipe {
    let reg_digest = Digest::of(KEYLIGHT_REG);
    let copy_hash = source_hash(&[(true, vec![("keylight.reg".to_string(), reg_digest.clone())])]);
    let mut args = BTreeMap::new();
    let mut warnings = Vec::new();
    if let Some(v) = build_args.get("OSVERSION") {
        args.insert("OSVERSION".to_string(), v.clone());
    } else {
        warnings.push(dockerfile::unset_arg_warning("OSVERSION"));
    }
    let unused: Vec<&String> = build_args.keys().filter(|k| *k != "OSVERSION").collect();
    if !unused.is_empty() {
        warnings.push(dockerfile::unconsumed_warning(&unused));
    }
    let base =
        UPSTREAM_BASE_TEMPLATE.replace("${OSVERSION}", args.get("OSVERSION").map_or("", |s| s));
    // Line numbers are those of the upstream Dockerfile.
    let steps = vec![
        Step {
            line: 4,
            created_by: nop1(&format!("COPY {copy_hash} in \\tools ")),
            kind: StepKind::Copy {
                dest: "tools".into(),
                dirs: vec!["tools".into()],
                files: vec![CopiedFile {
                    dest_path: "tools/keylight.reg".into(),
                    source: "binaries/keylight.reg".into(),
                    bytes: KEYLIGHT_REG.to_vec(),
                    sha256: reg_digest.clone(),
                }],
            },
        },
        Step {
            line: 5,
            created_by: nop("USER ContainerAdministrator"),
            kind: StepKind::User {
                user: "ContainerAdministrator".into(),
            },
        },
        Step {
            line: 6,
            created_by: format!("{WINDOWS_SHELL} reg import tools\\keylight.reg"),
            kind: StepKind::RegImport {
                path_in_image: "tools/keylight.reg".into(),
                content: KEYLIGHT_REG.to_vec(),
                sha256: reg_digest.clone(),
            },
        },
        Step {
            line: 8,
            created_by: format!("{WINDOWS_SHELL} sc.exe delete diagtrack -f"),
            kind: StepKind::ScDelete {
                service: "diagtrack".into(),
            },
        },
        Step {
            line: 9,
            created_by: nop("USER ContainerUser"),
            kind: StepKind::User {
                user: "ContainerUser".into(),
            },
        },
    ];
    Recipe {
        name: "builtin".into(),
        source: Source::Builtin,
        args,
        base_template: UPSTREAM_BASE_TEMPLATE.into(),
        base,
        steps,
        files: vec![InputFile {
            path: "binaries/keylight.reg".into(),
            size: KEYLIGHT_REG.len() as u64,
            digest: reg_digest,
        }],
        warnings,
    }
}

/// The built-in recipe without build args (FROM resolves with an empty OSVERSION, as
/// docker would; pass `--build-arg OSVERSION=...` via [`builtin_with_args`]).
pub fn builtin() -> Recipe {
    builtin_with_args(&BTreeMap::new())
}

/// How to read a recipe beyond its path.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--build-arg KEY=VALUE`: reported when no ARG consumes them.
    pub build_args: BTreeMap<String, String>,
    /// Values for ARGs the recipe declares and `build_args` leaves unset, never reported
    /// as unconsumed (e.g. `BASE` = the `--base` reference for `FROM ${BASE}`).
    pub implicit_args: BTreeMap<String, String>,
    /// The build context COPY/ADD read from (`--context DIR`); default: the recipe's
    /// folder. Sources must stay inside it.
    pub context: Option<PathBuf>,
}

/// Load a recipe from a folder holding a `Dockerfile`, a Dockerfile path, or a `.toml`
/// recipe file.
pub fn load(path: &Path, build_args: &BTreeMap<String, String>) -> Result<Recipe, Error> {
    load_with(
        path,
        &LoadOptions {
            build_args: build_args.clone(),
            ..Default::default()
        },
    )
}

/// [`load`] with a build context and implicit args.
pub fn load_with(path: &Path, opts: &LoadOptions) -> Result<Recipe, Error> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if let Some(c) = &opts.context
        && !c.is_dir()
    {
        return Err(Error::Invalid(format!(
            "--context {}: not a directory",
            c.display()
        )));
    }
    if meta.is_dir() {
        let df = path.join("Dockerfile");
        if !df.is_file() {
            return Err(Error::Invalid(format!(
                "{} has no Dockerfile: pass a folder with a Dockerfile, a Dockerfile path, or a .toml recipe",
                path.display()
            )));
        }
        let dir = opts.context.as_deref().unwrap_or(path);
        return dockerfile::load_opts(dir, &df, opts);
    }
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
    {
        if opts.context.is_some() {
            return Err(Error::Invalid(format!(
                "{}: --context applies to Dockerfiles; a TOML recipe copies from its own folder",
                path.display()
            )));
        }
        return toml_recipe::load_file(path, &opts.build_args);
    }
    let dir = match &opts.context {
        Some(c) => c.as_path(),
        None => path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    };
    dockerfile::load_opts(dir, path, opts)
}

/// Load an upstream-style folder: `DIR/Dockerfile` plus the files it copies.
pub fn load_dir(dir: &Path, build_args: &BTreeMap<String, String>) -> Result<Recipe, Error> {
    let df = dir.join("Dockerfile");
    if !df.is_file() {
        return Err(Error::Invalid(format!(
            "{} has no Dockerfile: pass a folder with a Dockerfile, a Dockerfile path, or a .toml recipe",
            dir.display()
        )));
    }
    dockerfile::load(dir, &df, build_args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_windows_paths() {
        assert_eq!(
            resolve_image_path("", "tools\\keylight.reg").unwrap(),
            "tools/keylight.reg"
        );
        assert_eq!(
            resolve_image_path("C:\\", "tools\\keylight.reg").unwrap(),
            "tools/keylight.reg"
        );
        assert_eq!(
            resolve_image_path("C:\\x", "..\\tools\\a.reg").unwrap(),
            "tools/a.reg"
        );
        assert_eq!(
            resolve_image_path("C:\\x", "\\tools\\a.reg").unwrap(),
            "tools/a.reg"
        );
        assert_eq!(
            resolve_image_path("C:\\x", "c:/tools/a.reg").unwrap(),
            "tools/a.reg"
        );
        assert_eq!(resolve_image_path("C:\\x", "a.reg").unwrap(), "x/a.reg");
        assert!(resolve_image_path("", "D:\\a").is_err());
        assert!(resolve_image_path("", "..\\a").is_err());
        assert!(resolve_image_path("", "C:a").is_err());
    }

    #[test]
    fn go_quoting() {
        assert_eq!(
            go_quote_list(&["c:\\windows\\system32\\cmd.exe".to_string()]),
            r#"["c:\\windows\\system32\\cmd.exe"]"#
        );
        assert_eq!(go_quote_list(&["a".into(), "b c".into()]), r#"["a" "b c"]"#);
    }

    #[test]
    fn builtin_is_the_upstream_recipe() {
        let r = builtin();
        assert_eq!(r.steps.len(), 5);
        assert_eq!(
            r.steps[1].created_by,
            "cmd /S /C #(nop)  USER ContainerAdministrator"
        );
        assert_eq!(
            r.steps[2].created_by,
            "cmd /S /C reg import tools\\keylight.reg"
        );
        assert!(
            r.steps[0]
                .created_by
                .starts_with("cmd /S /C #(nop) COPY dir:")
        );
        assert!(r.steps[0].created_by.ends_with(" in \\tools "));
        assert_eq!(r.base, "mcr.microsoft.com/windows/nanoserver:-amd64");
        let a = BTreeMap::from([("OSVERSION".to_string(), "ltsc2022".to_string())]);
        assert_eq!(
            builtin_with_args(&a).base,
            "mcr.microsoft.com/windows/nanoserver:ltsc2022-amd64"
        );
        let text = std::str::from_utf8(KEYLIGHT_REG).unwrap();
        assert!(text.contains("\"UuidSequenceNumber\"=dword:01bcf674"));
        assert!(
            text.contains("[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ole]\n\"EnableDCOM\"=\"N\"")
        );
    }
}
