//! Any bytes as a self-relative security descriptor (`MSWINDOWS.rawsd`): an SDDL string
//! or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pause_verify::wclayer::sddl;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = sddl::to_sddl(data) {
        assert!(
            s.starts_with("O:")
                || s.starts_with("G:")
                || s.starts_with("D:")
                || s.starts_with("S:")
                || s.is_empty(),
            "{s}"
        );
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = sddl::sid_alias(s);
    }
});
