//! Civil time as seconds since the Unix epoch: RFC 3339 rendered
//! (`2024-11-09T04:32:11Z`) and parsed (a base config's `created`, a trusted root's
//! `validFor`), and FILETIME for hive keys. The build's clock (SOURCE_DATE_EPOCH or the
//! base's `created`) is chosen in `build`; this module only converts.
//!
//! RFC 3339 is chrono's: it is already in the tree (in-toto and oci-client use it), so it
//! costs no crate, and its parser is the strict RFC 3339 one (jiff would add two crates
//! and a second date library; humantime parses no `+01:00` offsets). FILETIME stays here:
//! it is one constant and a multiplication, which no date crate offers.

use chrono::{DateTime, SecondsFormat};

/// Seconds between 1601-01-01 (FILETIME epoch) and 1970-01-01.
const FILETIME_UNIX_DIFF: i64 = 11_644_473_600;

/// FILETIME (100 ns since 1601) of `secs` since the Unix epoch (clamped at 1601).
pub fn filetime(secs: i64) -> u64 {
    (secs.saturating_add(FILETIME_UNIX_DIFF).max(0) as u64).saturating_mul(10_000_000)
}

/// `YYYY-MM-DDTHH:MM:SSZ`. Seconds outside years 0000..=9999, which RFC 3339 cannot
/// write, are clamped to that range.
pub fn rfc3339(secs: i64) -> String {
    // 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
    let secs = secs.clamp(-62_167_219_200, 253_402_300_799);
    DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parse RFC 3339 (`2024-11-09T04:32:11.4521837Z`, `...+01:00`) to whole seconds since the
/// epoch (the fraction is dropped: floor; a leap second `:60` reads as `:59`).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    // `timestamp()` is the floor: chrono keeps the fraction as non-negative nanoseconds
    // (a leap second as nanoseconds past 1e9 of `:59`).
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_known_values() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_731_126_731), "2024-11-09T04:32:11Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(i64::MIN), "0000-01-01T00:00:00Z");
        assert_eq!(
            parse_rfc3339("2024-11-09T04:32:11.4521837Z"),
            Some(1_731_126_731)
        );
        assert_eq!(
            parse_rfc3339("2024-11-09T05:32:11+01:00"),
            Some(1_731_126_731)
        );
        assert_eq!(parse_rfc3339("2024-11-09 04:32:11z"), Some(1_731_126_731));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.5Z"), Some(-1));
        assert_eq!(parse_rfc3339("2016-12-31T23:59:60Z"), Some(1_483_228_799));
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(951_782_400));
        for s in [0i64, 951_782_400, 4_102_444_800, 1_700_000_000, -1] {
            assert_eq!(parse_rfc3339(&rfc3339(s)), Some(s));
        }
        assert_eq!(parse_rfc3339("2024-11-09"), None);
        assert_eq!(parse_rfc3339("2024-13-09T04:32:11Z"), None);
        assert_eq!(parse_rfc3339("2023-02-29T04:32:11Z"), None);
        // Trusted-root `validFor` forms; values from `date -u -d ... +%s`.
        assert_eq!(
            parse_rfc3339("2021-01-12T11:53:27.000Z"),
            Some(1_610_452_407)
        );
        assert_eq!(
            parse_rfc3339("2022-12-31T23:59:59.999Z"),
            Some(1_672_531_199)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00+02:00"),
            Some(1_709_200_800)
        );
        for bad in [
            "",
            "2021-01-12T00:00:00",
            "2021-01-12T00:00:00.Z",
            "x021-01-12T00:00:00Z",
            "2021-01-12T00:00:00Z ",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        // FILETIME of the Unix epoch.
        assert_eq!(filetime(0), 116_444_736_000_000_000);
    }
}
