//! Codec micro-benchmarks: decode and encode per serializer for the messages that dominate a
//! router's traffic (PUBLISH in, EVENT out, CALL), and JSON -> MessagePack / CBOR transcoding
//! (what a mixed-serializer fan-out pays).
//!
//! Run: `cargo bench --bench codec` (add `-- --quick` for a fast, rougher pass).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ferrobar::codec::{cbor, json, msgpack};
use ferrobar::wamp::{Dict, Message, Payload, Value};

/// PUBLISH with one 64-byte string argument.
fn publish() -> Message {
    Message::Publish {
        request: 239_714_735,
        options: Dict::new(),
        topic: "com.myapp.sensor.temperature".into(),
        payload: Payload::args(vec![Value::Str("x".repeat(64))]),
    }
}

/// CALL with a small kwargs dict.
fn call() -> Message {
    Message::Call {
        request: 7_814_135,
        options: Dict::new(),
        procedure: "com.myapp.add2".into(),
        payload: Payload {
            args: Some(vec![]),
            kwargs: Some(
                Dict::new()
                    .with("x", 23i64)
                    .with("y", 7i64)
                    .with("name", "alice")
                    .with("verbose", true),
            ),
        },
    }
}

fn encoded(msg: &Message, encode: fn(&Message, &mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    encode(msg, &mut out);
    out
}

fn bench_serializer(
    c: &mut Criterion,
    name: &str,
    encode: fn(&Message, &mut Vec<u8>),
    decode: fn(&mut [u8]) -> Result<Message, ferrobar::codec::DecodeError>,
    encode_event: fn(u64, u64, &Dict, &Payload, &mut Vec<u8>),
) {
    let mut g = c.benchmark_group(name);
    for (label, msg) in [("publish", publish()), ("call", call())] {
        let bytes = encoded(&msg, encode);
        // JSON parses in place, so every iteration gets a fresh copy (not timed).
        g.bench_function(format!("decode/{label}"), |b| {
            b.iter_batched_ref(
                || bytes.clone(),
                |buf| black_box(decode(black_box(buf))),
                BatchSize::SmallInput,
            )
        });
        let mut out = Vec::with_capacity(256);
        g.bench_function(format!("encode/{label}"), |b| {
            b.iter(|| {
                out.clear();
                encode(black_box(&msg), &mut out);
                black_box(out.len())
            })
        });
    }
    let details = Dict::new();
    let payload = Payload::args(vec![Value::Str("x".repeat(64))]);
    let mut out = Vec::with_capacity(256);
    g.bench_function("encode_event", |b| {
        b.iter(|| {
            out.clear();
            encode_event(
                black_box(5_512_315_355),
                black_box(4_429_313_566),
                black_box(&details),
                black_box(&payload),
                &mut out,
            );
            black_box(out.len())
        })
    });
    g.finish();
}

fn codecs(c: &mut Criterion) {
    bench_serializer(c, "json", json::encode, json::decode, json::encode_event);
    bench_serializer(
        c,
        "msgpack",
        msgpack::encode,
        msgpack::decode,
        msgpack::encode_event,
    );
    bench_serializer(c, "cbor", cbor::encode, cbor::decode, cbor::encode_event);

    let mut g = c.benchmark_group("transcode");
    for (label, msg) in [("publish", publish()), ("call", call())] {
        let text = encoded(&msg, json::encode);
        let mut out = Vec::with_capacity(256);
        g.bench_function(format!("json_to_msgpack/{label}"), |b| {
            b.iter_batched_ref(
                || text.clone(),
                |buf| {
                    out.clear();
                    if let Ok(m) = json::decode(black_box(buf)) {
                        msgpack::encode(&m, &mut out);
                    }
                    black_box(out.len())
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function(format!("json_to_cbor/{label}"), |b| {
            b.iter_batched_ref(
                || text.clone(),
                |buf| {
                    out.clear();
                    if let Ok(m) = json::decode(black_box(buf)) {
                        cbor::encode(&m, &mut out);
                    }
                    black_box(out.len())
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, codecs);
criterion_main!(benches);
