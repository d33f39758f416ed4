//! See `ferrobar_fuzz::harness::mqtt`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrobar_fuzz::harness::mqtt::run_session(data);
});
