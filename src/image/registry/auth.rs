//! Registry credentials: `--creds`, docker's `config.json` (`auths`, `credsStore`,
//! `credHelpers`) and the `docker-credential-*` helper protocol; and the
//! `WWW-Authenticate` challenge parser.
//!
//! Owns finding a user name and secret for a registry host, and reading a token
//! endpoint's answer ([`parse_token_reply`]). Does not own the requests (the registry
//! client sends them) nor retries.
//!
//! Kept hand-written rather than `docker_credential` (1.4), which does read a given
//! config (from a reader, so `--authfile` would fit) and returns identity tokens, but:
//! matches `credHelpers` keys exactly, where ours reads them as `auths` keys (URL forms,
//! `index.docker.io` for `docker.io`); asks `credsStore` only after `auths` (docker asks it
//! first) and makes a helper's "credentials not found" an error; has no pure parse that
//! runs no helper (the fuzz target and `parse_docker_config` need one); its errors are
//! bare variants without the file, host or JSON detail; and it brings a second base64.
//! Its identity tokens would not help anyway: using one needs the OAuth2 refresh-token
//! exchange, which the registry client does not do, so we refuse them with a hint. The
//! format is small (docker/cli `configfile` and the `docker-credential-helpers` client
//! protocol: `get`, host on stdin, JSON on stdout).

use base64::Engine as _;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A user name and secret for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.username)
    }
}

impl Credentials {
    /// Parse `USER:PASS` (the password may contain `:`).
    pub fn parse(s: &str) -> Result<Credentials, AuthError> {
        match s.split_once(':') {
            Some((u, p)) if !u.is_empty() => Ok(Credentials {
                username: u.to_string(),
                password: p.to_string(),
            }),
            _ => Err(AuthError::BadCreds),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("--creds must be USER:PASS")]
    BadCreds,
    #[error("docker config {path}: {detail}")]
    Config { path: PathBuf, detail: String },
    #[error(
        "credential helper docker-credential-{helper} for {host}: {detail} (check the helper is installed and logged in)"
    )]
    Helper {
        helper: String,
        host: String,
        detail: String,
    },
}

#[derive(serde::Deserialize, Default)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(serde::Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// The docker config file to read: `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`.
pub fn default_config_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(d).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
}

/// `auths` keys may be URLs (`https://index.docker.io/v1/`) or bare hosts.
fn normalize_host(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let k = k.split('/').next().unwrap_or(k);
    match k {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        other => other,
    }
}

fn same_host(a: &str, b: &str) -> bool {
    normalize_host(a) == normalize_host(b)
}

/// Credentials for `host` from the docker config at `path` (absent file: none).
/// Precedence as in docker: `credHelpers[host]`, then `credsStore`, then `auths`.
pub fn from_docker_config(path: &Path, host: &str) -> Result<Option<Credentials>, AuthError> {
    from_docker_config_in(path, host, None)
}

/// As [`from_docker_config`], with credential helpers looked up in `helper_dir` instead
/// of `PATH` when given (tests).
fn from_docker_config_in(
    path: &Path,
    host: &str,
    helper_dir: Option<&Path>,
) -> Result<Option<Credentials>, AuthError> {
    let text = match crate::limits::read_capped(path, &crate::limits::DOCKER_CONFIG) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(AuthError::Config {
                path: path.to_path_buf(),
                detail: e.to_string(),
            });
        }
    };
    let config_err = |detail: String| AuthError::Config {
        path: path.to_path_buf(),
        detail,
    };
    let found = parse_docker_config(&text, host).map_err(config_err)?;
    if let Some(helper) = &found.helper {
        return run_helper(helper, host, helper_dir);
    }
    if let Some(store) = &found.creds_store {
        if let Some(c) = run_helper(store, host, helper_dir)? {
            return Ok(Some(c));
        }
    }
    found.auths.map_err(config_err)
}

/// What a docker config says about one host, before any credential helper runs.
#[derive(Debug)]
pub struct ConfigLookup {
    /// `credHelpers[host]`: this helper alone answers for the host.
    pub helper: Option<String>,
    /// `credsStore`: asked next; when it has nothing, `auths` answers.
    pub creds_store: Option<String>,
    /// The `auths` entry for the host, decoded (an error names what is wrong with it).
    pub auths: Result<Option<Credentials>, String>,
}

/// Read a docker `config.json` (its bytes) for `host`: pure, runs no helper. An error is
/// the detail of a config that is not valid JSON.
pub fn parse_docker_config(text: &[u8], host: &str) -> Result<ConfigLookup, String> {
    let cfg: ConfigFile =
        serde_json::from_slice(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let helper = cfg
        .cred_helpers
        .iter()
        .find(|(k, _)| same_host(k, host))
        .map(|(_, v)| v.clone());
    Ok(ConfigLookup {
        helper,
        creds_store: cfg.creds_store.clone(),
        auths: auths_entry(&cfg, host),
    })
}

fn auths_entry(cfg: &ConfigFile, host: &str) -> Result<Option<Credentials>, String> {
    let Some(entry) = cfg
        .auths
        .iter()
        .find(|(k, _)| same_host(k, host))
        .map(|(_, v)| v)
    else {
        return Ok(None);
    };
    let bad = |detail: &str| format!("auths entry for {host}: {detail}");
    if entry.identitytoken.is_some() {
        return Err(bad(
            "identity tokens (OAuth refresh tokens) are not supported; use --creds or a user/password entry",
        ));
    }
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Ok(Some(Credentials {
            username: u.clone(),
            password: p.clone(),
        }));
    }
    match &entry.auth {
        Some(a) if !a.is_empty() => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(a.trim())
                .map_err(|_| bad("\"auth\" is not base64"))?;
            let s = String::from_utf8(raw).map_err(|_| bad("\"auth\" is not UTF-8"))?;
            Credentials::parse(&s)
                .map(Some)
                .map_err(|_| bad("\"auth\" must be base64 of USER:PASS"))
        }
        _ => Ok(None),
    }
}

#[derive(serde::Deserialize)]
struct HelperReply {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Run `docker-credential-NAME get` with the host on stdin. "credentials not found" is
/// `None`, as docker treats it.
fn run_helper(
    name: &str,
    host: &str,
    helper_dir: Option<&Path>,
) -> Result<Option<Credentials>, AuthError> {
    let err = |detail: String| AuthError::Helper {
        helper: name.to_string(),
        host: host.to_string(),
        detail,
    };
    let program = format!("docker-credential-{name}");
    let program = match helper_dir {
        Some(d) => d.join(program),
        None => PathBuf::from(program),
    };
    let mut child = Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(format!("cannot run it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(host.as_bytes())
            .map_err(|e| err(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| err(e.to_string()))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        if msg.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(err(format!("exited with {}: {}", out.status, msg.trim())));
    }
    let reply: HelperReply =
        serde_json::from_slice(&out.stdout).map_err(|e| err(format!("unexpected output: {e}")))?;
    if reply.username == "<token>" {
        return Err(err(
            "returned an identity token, which is not supported; use --creds".to_string(),
        ));
    }
    Ok(Some(Credentials {
        username: reply.username,
        password: reply.secret,
    }))
}

/// Largest token endpoint answer we read (tokens are a few KiB at most).
pub const TOKEN_REPLY_LIMIT: u64 = 1 << 20;

/// A token endpoint's answer (distribution's token authentication specification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenReply {
    pub token: String,
    /// How long the token lasts from when it was asked for.
    pub expires_in: std::time::Duration,
}

impl TokenReply {
    /// How long to keep using the token: `expires_in` less a margin (a tenth, at most
    /// 10 s) for the time a request takes to reach the registry.
    pub fn use_for(&self) -> std::time::Duration {
        let margin = (self.expires_in / 10).min(std::time::Duration::from_secs(10));
        self.expires_in - margin
    }
}

#[derive(serde::Deserialize)]
struct TokenJson {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Read a token endpoint's JSON answer: `token` (or the OAuth2 `access_token`) and
/// `expires_in` seconds (60 when absent, as the specification says).
pub fn parse_token_reply(body: &[u8]) -> Result<TokenReply, String> {
    let j: TokenJson =
        serde_json::from_slice(body).map_err(|e| format!("not a token answer: {e}"))?;
    let token = j
        .token
        .filter(|t| !t.is_empty())
        .or(j.access_token.filter(|t| !t.is_empty()))
        .ok_or("no \"token\" or \"access_token\" in the answer")?;
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the token is not printable ASCII".into());
    }
    Ok(TokenReply {
        token,
        expires_in: std::time::Duration::from_secs(j.expires_in.unwrap_or(60)),
    })
}

/// What a registry's `/v2/` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// No authentication asked.
    None,
    /// `Basic realm=...`.
    Basic,
    /// `Bearer realm=...,service=...`: a token endpoint.
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// Parse a `WWW-Authenticate` header value (RFC 7235 auth-params, quoted or token).
pub fn parse_challenge(value: &str) -> Option<Challenge> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let mut params = BTreeMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (k, after) = s.split_once('=')?;
        let after = after.trim_start();
        let (v, tail) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        params.insert(k.trim().to_ascii_lowercase(), v.to_string());
        s = tail.trim_start().trim_start_matches(',').trim_start();
    }
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_cfg(dir: &Path, json: &str) -> PathBuf {
        let p = dir.join("config.json");
        std::fs::write(&p, json).unwrap();
        p
    }

    #[test]
    fn reads_auths_entries() {
        let d = tempfile::tempdir().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode("alice:s3:cret");
        let p = write_cfg(
            d.path(),
            &format!(
                r#"{{"auths":{{"https://reg.example:5000/v1/":{{"auth":"{b64}"}},"other.example":{{"username":"bob","password":"pw"}}}}}}"#
            ),
        );
        let c = from_docker_config(&p, "reg.example:5000").unwrap().unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("alice", "s3:cret")
        );
        let c = from_docker_config(&p, "other.example").unwrap().unwrap();
        assert_eq!(c.username, "bob");
        assert!(from_docker_config(&p, "third.example").unwrap().is_none());
        assert!(
            from_docker_config(&d.path().join("absent.json"), "x")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn refuses_malformed_config() {
        let d = tempfile::tempdir().unwrap();
        let p = write_cfg(d.path(), r#"{"auths":{"h":{"auth":"!!!"}}}"#);
        assert!(from_docker_config(&p, "h").is_err());
        let p = write_cfg(d.path(), "{not json");
        assert!(from_docker_config(&p, "h").is_err());
    }

    #[test]
    fn runs_credential_helpers() {
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("docker-credential-pvtest");
        // A helper that answers for one host only, as the protocol says.
        std::fs::write(
            &bin,
            "#!/bin/sh\nread h\nif [ \"$h\" = reg.example ]; then echo '{\"ServerURL\":\"reg.example\",\"Username\":\"hu\",\"Secret\":\"hs\"}'; else echo 'credentials not found in native keychain'; exit 1; fi\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let p = write_cfg(d.path(), r#"{"credHelpers":{"reg.example":"pvtest"}}"#);
        let got = from_docker_config_in(&p, "reg.example", Some(d.path()));
        let p2 = write_cfg(d.path(), r#"{"credsStore":"pvtest"}"#);
        let none = from_docker_config_in(&p2, "elsewhere.example", Some(d.path()));
        let c = got.unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("hu", "hs"));
        assert!(none.unwrap().is_none());
    }

    #[test]
    fn reads_token_replies() {
        let r = parse_token_reply(br#"{"token":"abc","expires_in":300}"#).unwrap();
        assert_eq!(r.token, "abc");
        assert_eq!(r.expires_in, std::time::Duration::from_secs(300));
        assert_eq!(r.use_for(), std::time::Duration::from_secs(290));
        let r = parse_token_reply(br#"{"access_token":"xyz"}"#).unwrap();
        assert_eq!(
            (r.token.as_str(), r.expires_in.as_secs()),
            ("xyz", 60),
            "expires_in defaults to 60 s"
        );
        assert_eq!(r.use_for(), std::time::Duration::from_secs(54));
        let r = parse_token_reply(br#"{"token":"","access_token":"a2","expires_in":1}"#).unwrap();
        assert_eq!(r.token, "a2");
        assert_eq!(r.use_for(), std::time::Duration::from_millis(900));
        for bad in [
            &b"{}"[..],
            b"not json",
            br#"{"token":"a
b"}"#,
            br#"{"token":"x","expires_in":-1}"#,
        ] {
            assert!(parse_token_reply(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parses_challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.example/token",service="reg.example",scope="repository:a:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("reg.example".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert!(Credentials::parse("nouser").is_err());
    }
}
