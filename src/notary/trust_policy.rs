//! notation's OCI trust policy document (`trustpolicy.json`, or the `oci` half of
//! `trustpolicy.oci.json`), as `trust-store-trust-policy.md` defines it and notation-go's
//! `trustpolicy` package validates it:
//!
//! ```json
//! {"version": "1.0", "trustPolicies": [{
//!   "name": "mcr", "registryScopes": ["mcr.microsoft.com/windows/nanoserver"],
//!   "signatureVerification": {"level": "strict", "override": {"revocation": "log"},
//!                             "verifyTimestamp": "always"},
//!   "trustStores": ["ca:microsoft", "tsa:microsoft"],
//!   "trustedIdentities": ["x509.subject: CN=Microsoft SCD Products RSA Signing, O=Microsoft Corporation, L=Redmond, ST=Washington, C=US"]}]}
//! ```
//!
//! Validation (each an error): version 1.0; unique non-empty names; scopes non-empty,
//! `*` alone and in one statement only, each other scope `registry/repository` in one
//! statement only; a known level; `override` only of authenticity, authenticTimestamp,
//! expiry, revocation, to enforce/log/skip, and not with level skip; level skip with no
//! trust stores or identities, any other level with both; stores `ca|signingAuthority|tsa:NAME`;
//! identities `*` alone or `x509.subject: DN` with at least C, ST and O and no repeated
//! attribute. [`Statement::warnings`] names configurations that would pass more than a
//! reader expects (identities `*`, levels that only log, no `tsa` store).

use super::trust_store::{StoreType, valid_name};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Largest trust policy file read.
pub const MAX_POLICY_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{path}: {detail}")]
    Read { path: String, detail: String },
    #[error("invalid trust policy: {0}")]
    Invalid(String),
}

/// What each verification step does on failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    Enforce,
    Log,
    Skip,
}

/// The steps a level governs (integrity is always enforced unless the level is skip).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Enforcement {
    pub integrity: Action,
    pub authenticity: Action,
    pub authentic_timestamp: Action,
    pub expiry: Action,
    pub revocation: Action,
}

/// `signatureVerification.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Strict,
    Permissive,
    Audit,
    Skip,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "strict" => Level::Strict,
            "permissive" => Level::Permissive,
            "audit" => Level::Audit,
            "skip" => Level::Skip,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Strict => "strict",
            Level::Permissive => "permissive",
            Level::Audit => "audit",
            Level::Skip => "skip",
        }
    }

    /// The spec's table of levels.
    pub fn enforcement(self) -> Enforcement {
        use Action::*;
        let (a, t, x, r) = match self {
            Level::Strict => (Enforce, Enforce, Enforce, Enforce),
            Level::Permissive => (Enforce, Log, Log, Log),
            Level::Audit => (Log, Log, Log, Log),
            Level::Skip => (Skip, Skip, Skip, Skip),
        };
        Enforcement {
            integrity: if self == Level::Skip { Skip } else { Enforce },
            authenticity: a,
            authentic_timestamp: t,
            expiry: x,
            revocation: r,
        }
    }
}

/// `verifyTimestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyTimestamp {
    Always,
    AfterCertExpiry,
}

/// One trusted identity: every attribute must equal the signing certificate's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X509Subject {
    /// As written, for reports.
    pub text: String,
    /// Upper-case attribute type → value.
    pub attributes: BTreeMap<String, String>,
}

impl X509Subject {
    /// Is this identity a subset of `subject` (its attributes)?
    pub fn matches(&self, subject: &BTreeMap<String, String>) -> bool {
        self.attributes
            .iter()
            .all(|(k, v)| subject.get(k) == Some(v))
    }
}

/// `trustedIdentities`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identities {
    Any,
    Subjects(Vec<X509Subject>),
}

/// One validated trust policy statement.
#[derive(Debug, Clone)]
pub struct Statement {
    pub name: String,
    pub registry_scopes: Vec<String>,
    pub level: Level,
    pub enforcement: Enforcement,
    pub verify_timestamp: VerifyTimestamp,
    /// `(type, name)` in the order written.
    pub trust_stores: Vec<(StoreType, String)>,
    pub identities: Identities,
}

impl Statement {
    pub fn stores_of(&self, t: StoreType) -> impl Iterator<Item = &str> {
        self.trust_stores
            .iter()
            .filter(move |(k, _)| *k == t)
            .map(|(_, n)| n.as_str())
    }

    /// Configurations that verify less than they seem to.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        let n = &self.name;
        if self.level == Level::Skip {
            w.push(format!(
                "trust policy {n:?}: level skip verifies nothing (pause-verify reports such signatures as not verified)"
            ));
            return w;
        }
        if self.level != Level::Strict {
            w.push(format!(
                "trust policy {n:?}: level {} only logs some failed checks (expiry, timestamp, revocation{})",
                self.level.name(),
                if self.level == Level::Audit {
                    ", authenticity"
                } else {
                    ""
                }
            ));
        }
        if self.identities == Identities::Any {
            w.push(format!(
                "trust policy {n:?}: trustedIdentities [\"*\"] accepts any signer the trust stores' CAs ever certified"
            ));
        }
        if self.stores_of(StoreType::Tsa).next().is_none() {
            w.push(format!(
                "trust policy {n:?}: no tsa trust store, so timestamps are not verified and an expired signing certificate fails"
            ));
        }
        if self.enforcement.revocation != Action::Skip {
            w.push(format!(
                "trust policy {n:?}: revocation (OCSP/CRL) is not checked offline by pause-verify"
            ));
        }
        w
    }
}

/// A validated trust policy document.
#[derive(Debug, Clone)]
pub struct PolicyDocument {
    pub statements: Vec<Statement>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawDoc {
    version: String,
    trust_policies: Vec<RawStatement>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawStatement {
    name: String,
    registry_scopes: Vec<String>,
    signature_verification: RawVerification,
    #[serde(default)]
    trust_stores: Vec<String>,
    #[serde(default)]
    trusted_identities: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawVerification {
    level: String,
    #[serde(default)]
    r#override: BTreeMap<String, String>,
    #[serde(default)]
    verify_timestamp: Option<String>,
}

impl PolicyDocument {
    /// Read and validate `path`.
    pub fn load(path: &Path) -> Result<PolicyDocument, PolicyError> {
        let read = |d: String| PolicyError::Read {
            path: path.display().to_string(),
            detail: d,
        };
        let len = std::fs::metadata(path)
            .map_err(|e| read(e.to_string()))?
            .len();
        if len > MAX_POLICY_BYTES {
            return Err(read(format!(
                "{len} bytes, over the {MAX_POLICY_BYTES}-byte limit"
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| read(e.to_string()))?;
        PolicyDocument::parse(&bytes)
    }

    /// Parse and validate a document.
    pub fn parse(bytes: &[u8]) -> Result<PolicyDocument, PolicyError> {
        let inv = PolicyError::Invalid;
        let raw: RawDoc = serde_json::from_slice(bytes).map_err(|e| inv(e.to_string()))?;
        if raw.version != "1.0" {
            return Err(inv(format!("version {:?} is not \"1.0\"", raw.version)));
        }
        if raw.trust_policies.is_empty() {
            return Err(inv("trustPolicies is empty".into()));
        }
        let mut statements: Vec<Statement> = Vec::new();
        let mut wildcard_seen = false;
        for s in raw.trust_policies {
            let n = s.name.clone();
            if n.is_empty() {
                return Err(inv("a statement has an empty name".into()));
            }
            if statements.iter().any(|o| o.name == n) {
                return Err(inv(format!("statement name {n:?} is used twice")));
            }
            if s.registry_scopes.is_empty() {
                return Err(inv(format!("{n:?}: registryScopes is empty")));
            }
            for sc in &s.registry_scopes {
                if sc == "*" {
                    if s.registry_scopes.len() > 1 {
                        return Err(inv(format!(
                            "{n:?}: the wildcard scope \"*\" must be alone"
                        )));
                    }
                    if wildcard_seen {
                        return Err(inv("the wildcard scope \"*\" is in two statements".into()));
                    }
                    wildcard_seen = true;
                    continue;
                }
                if !valid_scope(sc) {
                    return Err(inv(format!(
                        "{n:?}: registry scope {sc:?} is not REGISTRY/REPOSITORY (no tag or digest)"
                    )));
                }
                if statements.iter().any(|o| o.registry_scopes.contains(sc))
                    || s.registry_scopes.iter().filter(|x| *x == sc).count() > 1
                {
                    return Err(inv(format!("registry scope {sc:?} is in two statements")));
                }
            }
            let level = Level::parse(&s.signature_verification.level).ok_or_else(|| {
                inv(format!(
                    "{n:?}: level {:?} is not strict, permissive, audit or skip",
                    s.signature_verification.level
                ))
            })?;
            let mut enforcement = level.enforcement();
            if level == Level::Skip && !s.signature_verification.r#override.is_empty() {
                return Err(inv(format!(
                    "{n:?}: override is not allowed with level skip"
                )));
            }
            for (k, v) in &s.signature_verification.r#override {
                let a = match v.as_str() {
                    "enforce" => Action::Enforce,
                    "log" => Action::Log,
                    "skip" => Action::Skip,
                    _ => {
                        return Err(inv(format!(
                            "{n:?}: override {k} = {v:?} is not enforce, log or skip"
                        )));
                    }
                };
                let slot = match k.as_str() {
                    "authenticity" => &mut enforcement.authenticity,
                    "authenticTimestamp" => &mut enforcement.authentic_timestamp,
                    "expiry" => &mut enforcement.expiry,
                    "revocation" => &mut enforcement.revocation,
                    "integrity" => {
                        return Err(inv(format!("{n:?}: integrity cannot be overridden")));
                    }
                    _ => return Err(inv(format!("{n:?}: override of unknown check {k:?}"))),
                };
                if k == "authenticity" && a == Action::Skip {
                    return Err(inv(format!("{n:?}: authenticity cannot be skipped")));
                }
                *slot = a;
            }
            let verify_timestamp = match s.signature_verification.verify_timestamp.as_deref() {
                None | Some("") | Some("always") => VerifyTimestamp::Always,
                Some("afterCertExpiry") => VerifyTimestamp::AfterCertExpiry,
                Some(o) => {
                    return Err(inv(format!(
                        "{n:?}: verifyTimestamp {o:?} is not always or afterCertExpiry"
                    )));
                }
            };
            if level == Level::Skip {
                if !s.trust_stores.is_empty() || !s.trusted_identities.is_empty() {
                    return Err(inv(format!(
                        "{n:?}: level skip must not name trust stores or trusted identities"
                    )));
                }
            } else {
                if s.trust_stores.is_empty() {
                    return Err(inv(format!("{n:?}: trustStores is empty")));
                }
                if s.trusted_identities.is_empty() {
                    return Err(inv(format!("{n:?}: trustedIdentities is empty")));
                }
            }
            let mut trust_stores = Vec::new();
            for ts in &s.trust_stores {
                let (t, name) = ts.split_once(':').ok_or_else(|| {
                    inv(format!(
                        "{n:?}: trust store {ts:?} is not TYPE:NAME (ca, signingAuthority, tsa)"
                    ))
                })?;
                let t = StoreType::parse(t).ok_or_else(|| {
                    inv(format!(
                        "{n:?}: trust store type {t:?} is not ca, signingAuthority or tsa"
                    ))
                })?;
                if !valid_name(name) {
                    return Err(inv(format!(
                        "{n:?}: trust store name {name:?} must match [a-zA-Z0-9_.-]+"
                    )));
                }
                if trust_stores.contains(&(t, name.to_string())) {
                    return Err(inv(format!("{n:?}: trust store {ts:?} is named twice")));
                }
                trust_stores.push((t, name.to_string()));
            }
            if level != Level::Skip
                && !trust_stores
                    .iter()
                    .any(|(t, _)| matches!(t, StoreType::Ca | StoreType::SigningAuthority))
            {
                return Err(inv(format!(
                    "{n:?}: no ca or signingAuthority trust store (a tsa store alone trusts no signer)"
                )));
            }
            let identities = if s.trusted_identities.iter().any(|i| i == "*") {
                if s.trusted_identities.len() > 1 {
                    return Err(inv(format!(
                        "{n:?}: the wildcard identity \"*\" must be alone"
                    )));
                }
                Identities::Any
            } else {
                let mut v = Vec::new();
                for i in &s.trusted_identities {
                    v.push(parse_identity(i).map_err(|e| inv(format!("{n:?}: {e}")))?);
                }
                Identities::Subjects(v)
            };
            statements.push(Statement {
                name: n,
                registry_scopes: s.registry_scopes,
                level,
                enforcement,
                verify_timestamp,
                trust_stores,
                identities,
            });
        }
        Ok(PolicyDocument { statements })
    }

    /// The statement for an image in `scope` (`registry/repository`): the one naming it,
    /// else the wildcard one. `None` scope (an image with no registry, e.g. a layout not
    /// given `--notation-scope`) gets the wildcard statement only.
    pub fn statement_for(&self, scope: Option<&str>) -> Option<&Statement> {
        if let Some(sc) = scope
            && let Some(s) = self
                .statements
                .iter()
                .find(|s| s.registry_scopes.iter().any(|x| x == sc))
        {
            return Some(s);
        }
        self.statements
            .iter()
            .find(|s| s.registry_scopes.iter().any(|x| x == "*"))
    }
}

fn valid_scope(s: &str) -> bool {
    let Some((reg, repo)) = s.split_once('/') else {
        return false;
    };
    !reg.is_empty()
        && !repo.is_empty()
        && !s.contains('@')
        && !repo.contains(':')
        && repo
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b))
}

/// `x509.subject: DN` → the identity. Other prefixes (plugins' identities) are refused:
/// nothing here would check them.
pub fn parse_identity(s: &str) -> Result<X509Subject, String> {
    let (prefix, dn) = s
        .split_once(':')
        .ok_or_else(|| format!("trusted identity {s:?} has no TYPE: prefix"))?;
    if prefix.trim() != "x509.subject" {
        return Err(format!(
            "trusted identity {s:?}: only x509.subject identities are supported"
        ));
    }
    let attributes = parse_dn(dn.trim())?;
    for must in ["C", "ST", "O"] {
        if !attributes.contains_key(must) {
            return Err(format!(
                "trusted identity {s:?} lacks {must} (C, ST and O are required)"
            ));
        }
    }
    Ok(X509Subject {
        text: dn.trim().to_string(),
        attributes,
    })
}

/// An RFC 4514 distinguished name to attribute type (upper case) → value; a repeated
/// attribute type is an error (as notation). Escapes `\,` `\+` `\\` `\"` … and `\XX`.
pub fn parse_dn(dn: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    if dn.is_empty() {
        return Err("empty distinguished name".into());
    }
    for part in split_unescaped(dn) {
        let part = part.trim();
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} in {dn:?} is not TYPE=VALUE"))?;
        let k = k.trim().to_ascii_uppercase();
        if k.is_empty() {
            return Err(format!("empty attribute type in {dn:?}"));
        }
        let v = unescape(v.trim())?;
        if out.insert(k.clone(), v).is_some() {
            return Err(format!("attribute {k} is repeated in {dn:?}"));
        }
    }
    Ok(out)
}

fn split_unescaped(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut esc = false;
    for c in s.chars() {
        if esc {
            cur.push('\\');
            cur.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == ',' || c == '+' || c == ';' {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if esc {
        cur.push('\\');
    }
    parts.push(cur);
    parts
}

fn unescape(v: &str) -> Result<String, String> {
    let mut out = Vec::new();
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let Some(&n) = b.get(i + 1) else {
                return Err(format!("dangling escape in {v:?}"));
            };
            if n.is_ascii_hexdigit() && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit) {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(h, 16).unwrap_or(0));
                i += 3;
            } else {
                out.push(n);
                i += 2;
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{v:?} is not UTF-8 once unescaped"))
}
