//! Retry policy for registry requests: which failures are worth another try, and how
//! long to wait.
//!
//! Transient failures (429, 5xx, connection refused/reset, timeouts, a body cut short)
//! are retried with exponential backoff up to a bound; a 429 or 503 with `Retry-After`
//! (RFC 9110 §10.2.3: delta-seconds or an HTTP-date) waits that long instead, capped at
//! [`RetryPolicy::max_retry_after`] and never shorter than our own backoff. A body that
//! arrives whole but wrong (digest or size mismatch) is retried once from scratch, then
//! fatal. A bearer token the registry refuses (401) is fetched anew and the request
//! repeated once; a second refusal is fatal. Everything else (401/403 otherwise, 404,
//! malformed answers) is fatal at once: retrying a wrong password only locks accounts.
//!
//! Hand-written because oci-client has no retry layer, and reqwest-middleware's retry
//! cannot replay a streamed download into our verified sink from scratch.

use super::RegistryError;
use std::future::Future;
use std::time::{Duration, SystemTime};

/// Bounds on retrying.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Tries in all for a transient failure (the first one included).
    pub attempts: u32,
    /// Wait before the second try; doubled for each further try.
    pub base_delay: Duration,
    /// Longest wait between tries of our own backoff.
    pub max_delay: Duration,
    /// Longest wait a registry's `Retry-After` can ask for; longer asks are cut to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    pub fn delay(&self, failed_tries: u32) -> Duration {
        let factor = 1u32 << failed_tries.saturating_sub(1).min(16);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The wait before the next try after `failed_tries`, given what the registry's
    /// `Retry-After` asked for, and why (for the log).
    pub fn wait(&self, failed_tries: u32, retry_after: Option<Duration>) -> (Duration, String) {
        let backoff = self.delay(failed_tries);
        let Some(asked) = retry_after else {
            return (backoff, "backoff".into());
        };
        let why = if asked > self.max_retry_after {
            format!(
                "Retry-After asked for {} s, capped at {} s",
                asked.as_secs(),
                self.max_retry_after.as_secs_f64()
            )
        } else {
            format!("Retry-After: {} s", asked.as_secs_f64())
        };
        let capped = asked.min(self.max_retry_after);
        if capped > backoff {
            (capped, why)
        } else {
            (backoff, format!("backoff, longer than {why}"))
        }
    }
}

/// A `Retry-After` header value as a wait from `now`: delta-seconds or an HTTP-date
/// (any of RFC 9110's three formats; a date in the past is no wait). Anything else is
/// ignored (`None`). Huge values saturate; the policy's cap applies later.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// How one try failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Worth another try after a pause (at least `retry_after`, when the registry said).
    Transient {
        detail: String,
        timeout: bool,
        retry_after: Option<Duration>,
    },
    /// The registry refused the bearer token we sent (401); the caller has dropped it
    /// from the cache, so the next try fetches a new one. Once only.
    Unauthorized(RegistryError),
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
    let mut refused = 0u32;
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
            Err(Failure::Unauthorized(e)) => {
                refused += 1;
                if refused > 1 {
                    return Err(e);
                }
                on_retry(&format!(
                    "{what}: the registry refused our bearer token (401); fetching a new one"
                ));
            }
            Err(Failure::Transient {
                detail,
                timeout,
                retry_after,
            }) => {
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
                let (wait, why) = policy.wait(transient, retry_after);
                on_retry(&format!(
                    "{what}: {detail}; retry {transient} in {} ms ({why})",
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
    fn parses_retry_after() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let secs = |v: &str| parse_retry_after(v, now).map(|d| d.as_secs());
        assert_eq!(secs("1"), Some(1));
        assert_eq!(secs(" 120 "), Some(120));
        assert_eq!(secs("99999999999999999999999"), Some(u64::MAX));
        // RFC 9110's three date formats, 30 s after `now`.
        assert_eq!(secs("Sun, 06 Nov 1994 08:50:07 GMT"), Some(30));
        assert_eq!(secs("Sunday, 06-Nov-94 08:50:07 GMT"), Some(30));
        assert_eq!(secs("Sun Nov  6 08:50:07 1994"), Some(30));
        // A date in the past: no wait.
        assert_eq!(secs("Sat, 05 Nov 1994 08:49:37 GMT"), Some(0));
        for junk in [
            "",
            "-1",
            "1.5",
            "soon",
            "0x10",
            "Sun, 32 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(secs(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn retry_after_is_capped_and_never_below_backoff() {
        let p = RetryPolicy {
            max_retry_after: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        assert_eq!(p.wait(1, None).0, Duration::from_millis(250));
        let (w, why) = p.wait(1, Some(Duration::from_secs(5)));
        assert_eq!(w, Duration::from_secs(5));
        assert!(why.contains("Retry-After"), "{why}");
        let (w, why) = p.wait(1, Some(Duration::from_secs(3600)));
        assert_eq!(w, Duration::from_secs(60));
        assert!(why.contains("capped at 60 s"), "{why}");
        // Asking for less than our backoff does not shorten it.
        let (w, _) = p.wait(3, Some(Duration::ZERO));
        assert_eq!(w, Duration::from_secs(1));
        // A cap below the backoff: the backoff still applies.
        let tight = RetryPolicy {
            max_retry_after: Duration::from_millis(100),
            ..RetryPolicy::default()
        };
        assert_eq!(
            tight.wait(1, Some(Duration::from_secs(3600))).0,
            Duration::from_millis(250)
        );
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
            max_retry_after: Duration::from_millis(5),
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
            retry_after: None,
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
        let (n, r) = attempts(|| Failure::Unauthorized(fatal()));
        assert_eq!(n, 2, "a refused token is fetched anew exactly once");
        assert!(matches!(r, Err(RegistryError::Auth { .. })));

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
                            retry_after: None,
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
