//! `cargo +nightly fuzz run scenario`: arbitrary UTF-8 through the scenario
//! reader, with the same property as the seeded mutation test in CI
//! (`umpire_sim::fuzz::check`): no panic, located problems or a scenario
//! within the caps, and small runs that neither panic nor pass on a NaN.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Err(e) = umpire_sim::fuzz::check(text, true)
    {
        panic!("{e}");
    }
});
