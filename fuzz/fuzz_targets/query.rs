#![no_main]
//! Fuzz target: `checks::query` on any UTF-8 input (see fuzz/checks.rs).

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        checks::query(text);
    }
});
