//! The Json decoder on arbitrary bytes; every decoded message must re-encode and decode on every
//! serializer (the router transcodes between them).
#![no_main]

use ferrobar::codec::Serializer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrobar_fuzz::harness::codec::run(Serializer::Json, data);
});
