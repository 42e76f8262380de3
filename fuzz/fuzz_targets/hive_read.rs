//! Any bytes: `hive::read` returns Ok or Err, never panics; what it accepts, the writer
//! writes and the reader reads back to the same model (subkeys in Windows order: a
//! damaged file may list them unsorted, the writer always sorts).
#![no_main]
use libfuzzer_sys::fuzz_target;
use pause_verify::hive;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut h) = hive::read(data)
        && let Ok(bytes) = hive::write(&h)
    {
        let again = hive::read(&bytes).expect("our own output must read back");
        h.root.sort_recursive();
        assert_eq!(again, h);
    }
});
