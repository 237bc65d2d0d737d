#![no_main]
//! Fuzz target: `checks::paper_body` on any request body (see fuzz/checks.rs).

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::paper_body(data);
});
