//! Any text as a registry's response headers and token answer: `WWW-Authenticate`,
//! `Link` (referrers paging), `Retry-After`, a token endpoint's JSON, `--creds`: a value
//! or `None`/an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pause_verify::image::registry::{auth, referrers, retry};
use std::time::{Duration, SystemTime};

fuzz_target!(|data: &[u8]| {
    let _ = auth::parse_token_reply(data);
    let Ok(v) = std::str::from_utf8(data) else {
        return;
    };
    let _ = auth::parse_challenge(v);
    if let Some(next) = referrers::next_link(v) {
        assert!(v.contains(next));
    }
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let _ = retry::parse_retry_after(v, now);
    let _ = auth::Credentials::parse(v);
});
