//! Retry policy for registry requests: which failures are worth another try, and how
//! long to wait.
//!
//! Transient failures (429, 5xx, connection refused/reset, timeouts, a body cut short)
//! are retried with exponential backoff up to a bound. A body that arrives whole but
//! wrong (digest or size mismatch) is retried once from scratch, then fatal. Everything
//! else (401/403, 404, malformed answers) is fatal at once: retrying a wrong password
//! only locks accounts.
//!
//! Hand-written because oci-client has no retry layer, and reqwest-middleware's retry
//! cannot replay a streamed download into our verified sink from scratch.

use super::RegistryError;
use std::future::Future;
use std::time::Duration;

/// Bounds on retrying.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Tries in all for a transient failure (the first one included).
    pub attempts: u32,
    /// Wait before the second try; doubled for each further try.
    pub base_delay: Duration,
    /// Longest wait between tries.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
        }
    }
}

impl RetryPolicy {
    pub fn delay(&self, failed_tries: u32) -> Duration {
        let factor = 1u32 << failed_tries.saturating_sub(1).min(16);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// How one try failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Worth another try after a pause.
    Transient { detail: String, timeout: bool },
    /// The body came but was wrong: one more try from scratch.
    Integrity(RegistryError),
    /// Give up now.
    Fatal(RegistryError),
}

/// Run `op` under `policy`. `on_retry` is told about each retry (for logs).
pub(crate) async fn run<T, F, Fut>(
    policy: &RetryPolicy,
    what: &str,
    registry: &str,
    mut on_retry: impl FnMut(&str),
    mut op: F,
) -> Result<T, RegistryError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut transient = 0u32;
    let mut integrity = 0u32;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Integrity(e)) => {
                integrity += 1;
                if integrity > 1 {
                    return Err(e);
                }
                on_retry(&format!("{e}; retrying once from scratch"));
            }
            Err(Failure::Transient { detail, timeout }) => {
                transient += 1;
                if transient >= policy.attempts.max(1) {
                    return Err(RegistryError::Transport {
                        registry: registry.to_string(),
                        what: what.to_string(),
                        detail,
                        attempts: transient,
                        timeout,
                    });
                }
                let wait = policy.delay(transient);
                on_retry(&format!(
                    "{what}: {detail}; retry {transient} in {} ms",
                    wait.as_millis()
                ));
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fatal() -> RegistryError {
        RegistryError::Auth {
            registry: "r".into(),
            detail: "no".into(),
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1), Duration::from_millis(250));
        assert_eq!(p.delay(2), Duration::from_millis(500));
        assert_eq!(p.delay(3), Duration::from_millis(1000));
        assert_eq!(p.delay(20), Duration::from_secs(4));
    }

    #[test]
    fn bounds_each_kind() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let p = RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        };
        // How many attempts `run` makes when every one fails with `fail()`, and its result.
        let attempts = |fail: fn() -> Failure| {
            let mut n = 0;
            let r: Result<(), _> = rt.block_on(run(
                &p,
                "x",
                "r",
                |_| {},
                || {
                    n += 1;
                    let f = fail();
                    async move { Err(f) }
                },
            ));
            (n, r)
        };
        let (n, r) = attempts(|| Failure::Transient {
            detail: "503".into(),
            timeout: false,
        });
        assert_eq!(n, 3);
        assert!(matches!(
            r,
            Err(RegistryError::Transport { attempts: 3, .. })
        ));
        let (n, r) = attempts(|| Failure::Integrity(fatal()));
        assert_eq!(n, 2, "a wrong body is retried exactly once");
        assert!(r.is_err());
        let (n, r) = attempts(|| Failure::Fatal(fatal()));
        assert_eq!(n, 1, "fatal is not retried");
        assert!(r.is_err());

        let mut n = 0;
        let r = rt.block_on(run(
            &p,
            "x",
            "r",
            |_| {},
            || {
                n += 1;
                let k = n;
                async move {
                    if k < 3 {
                        Err(Failure::Transient {
                            detail: "500".into(),
                            timeout: false,
                        })
                    } else {
                        Ok(k)
                    }
                }
            },
        ));
        assert_eq!(r.unwrap(), 3);
    }
}
