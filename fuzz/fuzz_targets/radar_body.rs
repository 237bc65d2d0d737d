#![no_main]
//! Fuzz target: `checks::radar_body` on any request body (see fuzz/checks.rs).

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::radar_body(data);
});
