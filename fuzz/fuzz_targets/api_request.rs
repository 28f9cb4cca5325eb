//! cargo-fuzz target for the serving API's request decoders: arbitrary bytes
//! become one request (`umpire_serve::probe::request_from_bytes`:
//! method byte, target line, header lines, body), sent to the router of an
//! in-process server, and the answer must keep the API's contract: no panic,
//! no 5xx but the documented 503s, every error `{"error": {"code",
//! "message"}}`. The bounded, seeded version of this runs in CI as
//! `serve/tests/hardening.rs::mutated_requests_get_documented_answers`.
//!
//! `cargo +nightly fuzz run api_request`

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use umpire_serve::probe::Harness;

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| Harness::new().expect("the fuzz server starts on 127.0.0.1"))
}

fuzz_target!(|data: &[u8]| {
    if let Err(e) = harness().check(data) {
        panic!("{e}");
    }
});
