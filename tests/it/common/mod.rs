//! Shared helpers for integration tests: the binary, fixtures, external tools.
//!
//! External components (hivex, reglookup, skopeo, umoci, Python and npm verifiers, the
//! loopback registry) are installed and started by `scripts/test.sh`, which sets
//! `PAUSE_VERIFY_REQUIRE_TOOLS=1`. With that (or `CI=true`) a missing component is a test
//! failure, never a skip. A developer running bare `cargo test` without them gets a loud
//! note on stderr and the check is skipped.
#![allow(dead_code)]

pub mod audit;
pub mod images;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Path of the built `pause-verify` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pause-verify"))
}

/// Run `pause-verify` with arguments; returns the output (never panics on non-zero exit).
pub fn pv<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(bin())
        .args(args)
        .env("PAUSE_VERIFY_NO_CACHE", "1")
        .output()
        .expect("spawn pause-verify")
}

/// A `pause-verify` run with the environment a test sets: no blob cache unless
/// [`Pv::cache`] gives one, plus whatever the builder methods add.
pub struct Pv(Command);

impl Default for Pv {
    fn default() -> Self {
        Self::new()
    }
}

impl Pv {
    pub fn new() -> Pv {
        let mut c = Command::new(bin());
        c.env("PAUSE_VERIFY_NO_CACHE", "1");
        Pv(c)
    }

    pub fn cwd(mut self, dir: &Path) -> Pv {
        self.0.current_dir(dir);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Pv {
        self.0.env(key, value);
        self
    }

    /// Unset an inherited variable.
    pub fn env_remove(mut self, key: &str) -> Pv {
        self.0.env_remove(key);
        self
    }

    /// The cosign key password (`COSIGN_PASSWORD`).
    pub fn password(self, password: &str) -> Pv {
        self.env("COSIGN_PASSWORD", password)
    }

    /// No docker config, so only `--creds` can authenticate.
    pub fn no_docker_config(self) -> Pv {
        self.env("DOCKER_CONFIG", "/nonexistent-pause-verify")
    }

    /// The blob cache under `dir` (`None`: no cache).
    pub fn cache(mut self, dir: Option<&Path>) -> Pv {
        match dir {
            Some(d) => {
                self.0.env_remove("PAUSE_VERIFY_NO_CACHE");
                self.0.env("XDG_CACHE_HOME", d);
            }
            None => {
                self.0.env("PAUSE_VERIFY_NO_CACHE", "1");
            }
        }
        self
    }

    /// Run; never panics on a non-zero exit.
    pub fn run<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Output {
        self.0.args(args).output().expect("spawn pause-verify")
    }

    /// Run and require exit 0; returns stdout.
    #[track_caller]
    pub fn ok<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(self, args: I) -> String {
        let o = self.run(args);
        assert_code(&o, 0);
        stdout(&o)
    }
}

/// A repository name no earlier run used: `<prefix>/<name>-<nanoseconds>`.
pub fn unique(prefix: &str, name: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}/{name}-{n}")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert an exit code, printing both streams on failure.
#[track_caller]
pub fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "expected exit {code}\n--- stdout\n{}\n--- stderr\n{}",
        stdout(o),
        stderr(o)
    );
}

/// True when missing components must fail the test instead of skipping it.
pub fn required() -> bool {
    std::env::var("PAUSE_VERIFY_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skip (locally) or fail (CI / scripts/test.sh) when a component is missing.
/// Returns `false` when the caller should return early.
#[track_caller]
pub fn need(what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    if required() {
        panic!("required test component missing: {what} (scripts/test.sh installs it)");
    }
    eprintln!("SKIPPING: {what} is not available (run scripts/test.sh to install it)");
    false
}

/// Find an executable on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `need` for an executable on PATH; returns its path.
#[track_caller]
pub fn need_tool(name: &str) -> Option<PathBuf> {
    let p = which(name);
    if need(name, p.is_some()) { p } else { None }
}

/// The vendored fixtures of other tools (`tests/fixtures`, see its PROVENANCE.md).
#[track_caller]
pub fn fixtures() -> Option<PathBuf> {
    let p = std::env::var_os("PAUSE_VERIFY_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"));
    if need("tests/fixtures", p.is_dir()) {
        Some(p)
    } else {
        None
    }
}

/// The upstream recipe checkout, vendored (`tests/fixtures/upstream/windows-pause-image-base`).
#[track_caller]
pub fn upstream_recipe() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/upstream/windows-pause-image-base");
    if need(
        "tests/fixtures/upstream/windows-pause-image-base",
        p.is_dir(),
    ) {
        Some(p)
    } else {
        None
    }
}

/// The Python interpreter of the test venv (regipy, python-registry, securesystemslib).
pub fn python() -> PathBuf {
    std::env::var_os("PAUSE_VERIFY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// True if the test Python can import every module named.
pub fn python_has(modules: &[&str]) -> bool {
    let code = modules
        .iter()
        .map(|m| format!("import {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    Command::new(python())
        .args(["-c", &code])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Folder holding npm packages for the tests (contains node_modules/), if set.
pub fn node_modules() -> Option<PathBuf> {
    std::env::var_os("PAUSE_VERIFY_NODE_DIR").map(PathBuf::from)
}

/// The loopback registry started by scripts/test.sh, as HOST:PORT.
#[track_caller]
pub fn registry() -> Option<String> {
    let r = std::env::var("PAUSE_VERIFY_REGISTRY").ok();
    if need("loopback registry (PAUSE_VERIFY_REGISTRY)", r.is_some()) {
        r
    } else {
        None
    }
}

/// The htpasswd-protected loopback registry started by scripts/test.sh, as
/// (HOST:PORT, user, password).
#[track_caller]
pub fn auth_registry() -> Option<(String, String, String)> {
    let r = std::env::var("PAUSE_VERIFY_AUTH_REGISTRY").ok();
    if !need(
        "loopback auth registry (PAUSE_VERIFY_AUTH_REGISTRY)",
        r.is_some(),
    ) {
        return None;
    }
    let user = std::env::var("PAUSE_VERIFY_AUTH_USER").unwrap_or_else(|_| "pvuser".into());
    let pass = std::env::var("PAUSE_VERIFY_AUTH_PASS").unwrap_or_else(|_| "pvpass".into());
    r.map(|r| (r, user, pass))
}
