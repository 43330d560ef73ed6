//! Fuzz target: any bytes as a lab file must load, validate, plan and render diagnostics without
//! panicking. Run with `cargo fuzz run lab_file` (see README); the corpus in `corpus/lab_file` is
//! replayed by `crates/labform-planner/tests/fuzz_corpus.rs` in every test run.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    labform_planner::check_bytes(bytes);
});
