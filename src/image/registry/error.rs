//! The registry transport's errors, and how a response or a transport failure maps to
//! one (retryable or final).

#[allow(unused_imports)]
use super::*;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "{registry}: authentication failed: {detail} (give --creds USER:PASS or add credentials for {registry} to docker's config.json)"
    )]
    Auth { registry: String, detail: String },
    #[error("{registry}: {what} not found")]
    NotFound { registry: String, what: String },
    #[error("{registry}: {what}: {}{detail} (gave up after {attempts} tries)", if *timeout { "timed out: " } else { "" })]
    Transport {
        registry: String,
        what: String,
        detail: String,
        attempts: u32,
        timeout: bool,
    },
    #[error("{registry}: {what} is larger than the {limit}-byte limit; refused")]
    TooLarge {
        registry: String,
        what: String,
        limit: u64,
    },
    #[error(
        "{registry}: {what}: content does not match: expected {expected} ({expected_size} bytes), received {actual} ({size} bytes)"
    )]
    Mismatch {
        registry: String,
        what: String,
        expected: Digest,
        expected_size: u64,
        actual: Digest,
        size: u64,
    },
    #[error("{registry}: {what}: the registry answered {status}: {detail}")]
    Refused {
        registry: String,
        what: String,
        status: u16,
        detail: String,
    },
    #[error("{registry}: {what}: {detail}")]
    Protocol {
        registry: String,
        what: String,
        detail: String,
    },
    #[error("foreign layer {digest} ({media_type}) is not downloaded without --include-foreign")]
    ForeignSkipped { digest: Digest, media_type: String },
    #[error(transparent)]
    Credentials(#[from] auth::AuthError),
    #[error(transparent)]
    Cache(#[from] cache::CacheError),
    #[error("{0}")]
    Setup(String),
}

/// Retry or give up on an HTTP status `code` (`shown` as the messages name it): 429 and
/// 5xx are transient, 401/403 auth, 404 not found, anything else a refusal.
pub(super) fn classify_code(
    registry: String,
    what: &str,
    code: u16,
    shown: &dyn std::fmt::Display,
    detail: String,
) -> Failure {
    match code {
        429 | 500..=599 => Failure::Transient {
            detail: format!("the registry answered {shown}"),
            timeout: false,
            retry_after: None,
        },
        401 | 403 => Failure::Fatal(RegistryError::Auth {
            registry,
            detail: format!("{what}: the registry answered {shown}"),
        }),
        404 => Failure::Fatal(RegistryError::NotFound {
            registry,
            what: what.to_string(),
        }),
        _ => Failure::Fatal(RegistryError::Refused {
            registry,
            what: what.to_string(),
            status: code,
            detail,
        }),
    }
}

pub(super) fn classify_reqwest(e: &reqwest::Error) -> Failure {
    let mut detail = e.to_string();
    let mut refused = false;
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        refused |= s
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused);
        src = s.source();
    }
    if refused && let Some(addr) = e.url().and_then(listening_address) {
        detail.push_str(&format!(" (is a registry listening on {addr}?)"));
    }
    Failure::Transient {
        detail,
        timeout: e.is_timeout(),
        retry_after: None,
    }
}

/// What a 429 or 503 answer's `Retry-After` asks for (other statuses: nothing).
/// `HOST:PORT` a URL connects to (the scheme's port when none is written).
fn listening_address(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    Some(if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

pub(super) fn retry_after_of(res: &reqwest::Response) -> Option<Duration> {
    if !matches!(res.status().as_u16(), 429 | 503) {
        return None;
    }
    let v = res
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    retry::parse_retry_after(v, std::time::SystemTime::now())
}

pub(super) fn classify_io(e: &std::io::Error) -> Option<Failure> {
    let inner = e.get_ref()?;
    if let Some(r) = inner.downcast_ref::<reqwest::Error>() {
        return Some(classify_reqwest(r));
    }
    None
}

impl Inner {
    /// Why a request failed, from the registry's answer (whose body is read, bounded,
    /// for the message). `sent`: the Authorization header the request carried.
    pub(super) async fn refusal(
        &self,
        repo: &RepoRef,
        what: &str,
        res: reqwest::Response,
        sent: Option<&str>,
    ) -> Failure {
        let status = res.status();
        let retry_after = retry_after_of(&res);
        let body = read_bounded(res, 64 << 10).await.unwrap_or_default();
        if status.as_u16() == 401 {
            if let Some(f) = self.refused_token(repo, what, sent) {
                return f;
            }
        }
        match self.classify_status(repo, what, status, &body) {
            Failure::Transient {
                detail, timeout, ..
            } => Failure::Transient {
                detail,
                timeout,
                retry_after,
            },
            f => f,
        }
    }
    pub(super) fn classify_status(
        &self,
        repo: &RepoRef,
        what: &str,
        status: reqwest::StatusCode,
        body: &[u8],
    ) -> Failure {
        let registry = repo.registry.clone();
        let detail = String::from_utf8_lossy(&body[..body.len().min(300)])
            .trim()
            .to_string();
        classify_code(registry, what, status.as_u16(), &status, detail)
    }
    pub(super) fn classify_oci(
        &self,
        repo: &RepoRef,
        what: &str,
        e: oci_client::errors::OciDistributionError,
    ) -> Failure {
        use oci_client::errors::{OciDistributionError as E, OciErrorCode as C};
        let registry = repo.registry.clone();
        match e {
            E::RequestError(r) => classify_reqwest(&r),
            E::IoError(io) => {
                if let Some(d) = io
                    .get_ref()
                    .and_then(|i| i.downcast_ref::<oci_client::errors::DigestError>())
                {
                    return Failure::Integrity(RegistryError::Protocol {
                        registry,
                        what: what.to_string(),
                        detail: format!("content does not match its digest: {d}"),
                    });
                }
                classify_io(&io).unwrap_or(Failure::Transient {
                    detail: io.to_string(),
                    timeout: io.kind() == std::io::ErrorKind::TimedOut,
                    retry_after: None,
                })
            }
            E::ServerError { code, message, .. } => {
                classify_code(registry, what, code, &code, message)
            }
            E::RegistryError { envelope, .. } => {
                let codes: Vec<&C> = envelope.errors.iter().map(|e| &e.code).collect();
                if codes.iter().any(|c| matches!(c, C::Toomanyrequests)) {
                    Failure::Transient {
                        detail: "the registry answered TOOMANYREQUESTS".into(),
                        timeout: false,
                        retry_after: None,
                    }
                } else if codes
                    .iter()
                    .any(|c| matches!(c, C::Unauthorized | C::Denied))
                {
                    Failure::Fatal(RegistryError::Auth {
                        registry,
                        detail: format!("{what}: {envelope}"),
                    })
                } else if codes.iter().any(|c| {
                    matches!(
                        c,
                        C::BlobUnknown | C::ManifestUnknown | C::NameUnknown | C::NotFound
                    )
                }) {
                    Failure::Fatal(RegistryError::NotFound {
                        registry,
                        what: what.to_string(),
                    })
                } else {
                    Failure::Fatal(RegistryError::Protocol {
                        registry,
                        what: what.to_string(),
                        detail: envelope.to_string(),
                    })
                }
            }
            E::UnauthorizedError { .. } => Failure::Fatal(RegistryError::Auth {
                registry,
                detail: format!("{what}: the registry answered 401"),
            }),
            E::AuthenticationFailure(m) => Failure::Fatal(RegistryError::Auth {
                registry,
                detail: format!("the token endpoint refused: {}", m.trim()),
            }),
            E::DigestError(d) => Failure::Integrity(RegistryError::Protocol {
                registry,
                what: what.to_string(),
                detail: format!("content does not match its digest: {d}"),
            }),
            other => Failure::Fatal(RegistryError::Protocol {
                registry,
                what: what.to_string(),
                detail: other.to_string(),
            }),
        }
    }
}
