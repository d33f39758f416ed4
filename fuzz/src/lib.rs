//! The fuzz harnesses, as plain functions over bytes.
//!
//! `fuzz_targets/*.rs` call them under libFuzzer; `tests/fuzz_regressions.rs` (in the ferrobar
//! package) includes `src/harness/` by path and runs the committed regression inputs through
//! the very same functions on stable Rust, in `cargo test`. The harness therefore uses nothing
//! but `ferrobar` and `std`.

pub mod harness;
