#![no_main]
//! Fuzz target: the Rss feed parser on any body (see fuzz/checks.rs).

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::feed(academichub::ingest::feeds::SourceKind::Rss, data);
});
