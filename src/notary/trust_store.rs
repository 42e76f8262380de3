//! notation's trust store, laid out as notation lays it out
//! (`trust-store-trust-policy.md`): `truststore/x509/{ca,signingAuthority,tsa}/NAME/*`,
//! each file one or more certificates, PEM or DER. As notation-go's `x509TrustStore`:
//! a named store is a real directory (no symlink), holding only regular files (no
//! sub-directories, no symlinks); every certificate in a `ca`/`signingAuthority` store is
//! a CA or a self-signed signing certificate; every one in a `tsa` store is a root
//! (self-issued and self-signed); a store with no certificate is an error, never an
//! empty trust.
//!
//! Bounds (hostile or mistaken directories): at most [`MAX_FILES`] files per store,
//! [`MAX_FILE_BYTES`] per file and [`MAX_STORE_CERTS`] certificates per store.

use super::x509;
use std::path::{Path, PathBuf};
use x509_cert::Certificate;
use x509_cert::der::Decode;

pub const MAX_FILES: usize = 1000;
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
pub const MAX_STORE_CERTS: usize = 1000;

/// The three store types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StoreType {
    Ca,
    SigningAuthority,
    Tsa,
}

impl StoreType {
    pub fn parse(s: &str) -> Option<StoreType> {
        match s {
            "ca" => Some(StoreType::Ca),
            "signingAuthority" => Some(StoreType::SigningAuthority),
            "tsa" => Some(StoreType::Tsa),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StoreType::Ca => "ca",
            StoreType::SigningAuthority => "signingAuthority",
            StoreType::Tsa => "tsa",
        }
    }
}

/// Why a trust store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustStoreError {
    #[error("the trust store {name:?} of type {kind} does not exist ({path})")]
    Missing {
        kind: &'static str,
        name: String,
        path: PathBuf,
    },
    #[error("{path}: {detail}")]
    Bad { path: PathBuf, detail: String },
    #[error("the trust store {name:?} of type {kind} holds no certificate ({path})")]
    Empty {
        kind: &'static str,
        name: String,
        path: PathBuf,
    },
}

/// A trusted certificate and the store it came from.
#[derive(Debug, Clone)]
pub struct Trusted {
    pub cert: Certificate,
    /// `ca:NAME` etc.
    pub store: String,
    /// The file it was read from.
    pub file: PathBuf,
}

/// A trust store directory: the `truststore` directory (holding `x509/`), or notation's
/// configuration directory (holding `truststore/x509/`).
#[derive(Debug, Clone)]
pub struct TrustStore {
    pub x509: PathBuf,
}

impl TrustStore {
    pub fn new(dir: &Path) -> TrustStore {
        let nested = dir.join("truststore").join("x509");
        let x509 = if !dir.join("x509").is_dir() && nested.is_dir() {
            nested
        } else {
            dir.join("x509")
        };
        TrustStore { x509 }
    }

    /// Every certificate of the named store, checked as notation checks them.
    pub fn load(&self, kind: StoreType, name: &str) -> Result<Vec<Trusted>, TrustStoreError> {
        let path = self.x509.join(kind.name()).join(name);
        let bad = |p: &Path, d: String| TrustStoreError::Bad {
            path: p.to_path_buf(),
            detail: d,
        };
        if !valid_name(name) {
            return Err(bad(
                &path,
                format!("trust store name {name:?} must match [a-zA-Z0-9_.-]+"),
            ));
        }
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(TrustStoreError::Missing {
                    kind: kind.name(),
                    name: name.into(),
                    path,
                });
            }
            Err(e) => return Err(bad(&path, e.to_string())),
        };
        if !meta.is_dir() {
            return Err(bad(
                &path,
                "not a regular directory (symlinks are not followed, as notation)".into(),
            ));
        }
        let mut entries: Vec<_> = std::fs::read_dir(&path)
            .map_err(|e| bad(&path, e.to_string()))?
            .take(MAX_FILES + 1)
            .collect::<Result<_, _>>()
            .map_err(|e| bad(&path, e.to_string()))?;
        if entries.len() > MAX_FILES {
            return Err(bad(&path, format!("more than {MAX_FILES} files")));
        }
        entries.sort_by_key(|e| e.file_name());
        let mut out = Vec::new();
        for e in entries {
            let file = e.path();
            let ft = e.file_type().map_err(|er| bad(&file, er.to_string()))?;
            if !ft.is_file() {
                return Err(bad(
                    &file,
                    "not a regular file (directories and symlinks are not supported, as notation)"
                        .into(),
                ));
            }
            let len = e.metadata().map_err(|er| bad(&file, er.to_string()))?.len();
            if len > MAX_FILE_BYTES {
                return Err(bad(
                    &file,
                    format!("{len} bytes, over the {MAX_FILE_BYTES}-byte limit"),
                ));
            }
            let bytes = std::fs::read(&file).map_err(|er| bad(&file, er.to_string()))?;
            let certs = parse_certificates(&bytes).map_err(|d| bad(&file, d))?;
            for c in certs {
                let check = match kind {
                    StoreType::Tsa => x509::root_ok(&c),
                    _ => x509::trust_store_ok(&c),
                };
                check.map_err(|d| bad(&file, d))?;
                if out.len() == MAX_STORE_CERTS {
                    return Err(bad(
                        &path,
                        format!("more than {MAX_STORE_CERTS} certificates"),
                    ));
                }
                out.push(Trusted {
                    cert: c,
                    store: format!("{}:{name}", kind.name()),
                    file: file.clone(),
                });
            }
        }
        if out.is_empty() {
            return Err(TrustStoreError::Empty {
                kind: kind.name(),
                name: name.into(),
                path,
            });
        }
        Ok(out)
    }
}

/// notation's file-name rule for store names.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The certificates of one file: PEM (one or more `CERTIFICATE` blocks) or DER (one or
/// more concatenated).
pub fn parse_certificates(bytes: &[u8]) -> Result<Vec<Certificate>, String> {
    let text = bytes.trim_ascii_start();
    if text.starts_with(b"-----BEGIN") {
        let certs = Certificate::load_pem_chain(bytes).map_err(|e| format!("PEM: {e}"))?;
        if certs.is_empty() {
            return Err("no certificate in the PEM file".into());
        }
        return Ok(certs);
    }
    let mut rest = bytes;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (c, tail) = Certificate::from_der_partial(rest).map_err(|e| format!("DER: {e}"))?;
        out.push(c);
        rest = tail;
        if out.len() > MAX_STORE_CERTS {
            return Err(format!("more than {MAX_STORE_CERTS} certificates"));
        }
    }
    if out.is_empty() {
        return Err("empty file".into());
    }
    Ok(out)
}
