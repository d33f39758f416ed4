//! Encoding what wampbench sends. The per-message ones (PUBLISH, CALL, YIELD, and EVENT for the
//! null router) are written straight into the output buffer without building a `Message`; the
//! rest (HELLO, SUBSCRIBE, REGISTER, GOODBYE, WELCOME, SUBSCRIBED) go through ferrobar's codec.
//!
//! Benchmark payload: `args = [index, sequence, send time in ns, padding]`, the padding being a
//! string of `x` sized so that the encoded args list is `payload_size` bytes (or as close as the
//! serializer's length prefixes allow, never less than the three integers need).

use crate::ser::Serializer;
use ferrobar::wamp::{Dict, Message, Value};

/// True for the URIs wampbench writes without escaping (topic and procedure names).
pub fn is_plain_uri(uri: &str) -> bool {
    !uri.is_empty()
        && uri.len() <= 255
        && uri
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
        && !uri.starts_with('.')
        && !uri.ends_with('.')
        && !uri.contains("..")
}

fn digits(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

fn json_uint(out: &mut Vec<u8>, v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn mp_uint_len(v: u64) -> usize {
    match v {
        0..=0x7f => 1,
        0x80..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

fn mp_uint(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=0x7f => out.push(v as u8),
        0x80..=0xff => out.extend_from_slice(&[0xcc, v as u8]),
        0x100..=0xffff => {
            out.push(0xcd);
            out.extend_from_slice(&(v as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xce);
            out.extend_from_slice(&(v as u32).to_be_bytes());
        }
        _ => {
            out.push(0xcf);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

fn mp_str_header_len(n: usize) -> usize {
    match n {
        0..=31 => 1,
        32..=0xff => 2,
        0x100..=0xffff => 3,
        _ => 5,
    }
}

fn mp_str_header(out: &mut Vec<u8>, n: usize) {
    match n {
        0..=31 => out.push(0xa0 | n as u8),
        32..=0xff => out.extend_from_slice(&[0xd9, n as u8]),
        0x100..=0xffff => {
            out.push(0xda);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdb);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }
}

fn mp_str(out: &mut Vec<u8>, s: &str) {
    mp_str_header(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    // Only plain URIs reach here (checked at the command line): nothing to escape.
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

/// The padding length that makes the args list `[a, b, c, pad]` encode to `size` bytes.
fn pad_len(ser: Serializer, ints: [u64; 3], size: usize) -> usize {
    match ser {
        Serializer::Json => {
            // [a,b,c,"pad"]
            let fixed = 2 + 3 + 2 + ints.iter().map(|&v| digits(v)).sum::<usize>();
            size.saturating_sub(fixed)
        }
        Serializer::MsgPack => {
            // 0x94 a b c str
            let fixed = 1 + ints.iter().map(|&v| mp_uint_len(v)).sum::<usize>();
            let room = size.saturating_sub(fixed);
            // The largest n whose header + n fits in room.
            let mut n = room.saturating_sub(1);
            while n > 0 && mp_str_header_len(n) + n > room {
                n -= 1;
            }
            n
        }
    }
}

/// Appends the benchmark args list `[index, seq, ts, padding]`.
pub fn bench_args(ser: Serializer, out: &mut Vec<u8>, index: u64, seq: u64, ts: u64, size: usize) {
    let pad = pad_len(ser, [index, seq, ts], size);
    match ser {
        Serializer::Json => {
            out.push(b'[');
            json_uint(out, index);
            out.push(b',');
            json_uint(out, seq);
            out.push(b',');
            json_uint(out, ts);
            out.extend_from_slice(b",\"");
            out.resize(out.len() + pad, b'x');
            out.extend_from_slice(b"\"]");
        }
        Serializer::MsgPack => {
            out.push(0x94);
            mp_uint(out, index);
            mp_uint(out, seq);
            mp_uint(out, ts);
            mp_str_header(out, pad);
            out.resize(out.len() + pad, b'x');
        }
    }
}

/// Benchmark payload fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchArgs {
    /// Publisher or caller index.
    pub index: u64,
    /// Sequence number (from 1).
    pub seq: u64,
    /// Send time, ns on the process clock.
    pub ts: u64,
    /// Target encoded size of the args list.
    pub size: usize,
}

/// Appends `[16, request, {"acknowledge": true}, topic, args]`.
pub fn publish(ser: Serializer, out: &mut Vec<u8>, request: u64, topic: &str, a: BenchArgs) {
    match ser {
        Serializer::Json => {
            out.extend_from_slice(b"[16,");
            json_uint(out, request);
            out.extend_from_slice(b",{\"acknowledge\":true},");
            json_str(out, topic);
            out.push(b',');
            bench_args(ser, out, a.index, a.seq, a.ts, a.size);
            out.push(b']');
        }
        Serializer::MsgPack => {
            out.extend_from_slice(&[0x95, 16]);
            mp_uint(out, request);
            out.push(0x81);
            mp_str(out, "acknowledge");
            out.push(0xc3);
            mp_str(out, topic);
            bench_args(ser, out, a.index, a.seq, a.ts, a.size);
        }
    }
}

/// Appends `[48, request, {}, procedure, args]`.
pub fn call(ser: Serializer, out: &mut Vec<u8>, request: u64, procedure: &str, a: BenchArgs) {
    match ser {
        Serializer::Json => {
            out.extend_from_slice(b"[48,");
            json_uint(out, request);
            out.extend_from_slice(b",{},");
            json_str(out, procedure);
            out.push(b',');
            bench_args(ser, out, a.index, a.seq, a.ts, a.size);
            out.push(b']');
        }
        Serializer::MsgPack => {
            out.extend_from_slice(&[0x95, 48]);
            mp_uint(out, request);
            out.push(0x80);
            mp_str(out, procedure);
            bench_args(ser, out, a.index, a.seq, a.ts, a.size);
        }
    }
}

/// Appends `[70, request, {}, args?, kwargs?]`, echoing raw encoded args/kwargs (spans of an
/// INVOCATION of the same serializer). kwargs without args get an empty args list.
pub fn yield_echo(
    ser: Serializer,
    out: &mut Vec<u8>,
    request: u64,
    args: Option<&[u8]>,
    kwargs: Option<&[u8]>,
) {
    let empty_args: &[u8] = match ser {
        Serializer::Json => b"[]",
        Serializer::MsgPack => &[0x90],
    };
    let args = args.or(kwargs.map(|_| empty_args));
    let count = 3 + usize::from(args.is_some()) + usize::from(kwargs.is_some());
    match ser {
        Serializer::Json => {
            out.extend_from_slice(b"[70,");
            json_uint(out, request);
            out.extend_from_slice(b",{}");
            for part in [args, kwargs].into_iter().flatten() {
                out.push(b',');
                out.extend_from_slice(part);
            }
            out.push(b']');
        }
        Serializer::MsgPack => {
            out.extend_from_slice(&[0x90 | count as u8, 70]);
            mp_uint(out, request);
            out.push(0x80);
            for part in [args, kwargs].into_iter().flatten() {
                out.extend_from_slice(part);
            }
        }
    }
}

/// Appends `[36, subscription, publication, {}, args]` (the null router's events).
pub fn event(
    ser: Serializer,
    out: &mut Vec<u8>,
    subscription: u64,
    publication: u64,
    a: BenchArgs,
) {
    match ser {
        Serializer::Json => {
            out.extend_from_slice(b"[36,");
            json_uint(out, subscription);
            out.push(b',');
            json_uint(out, publication);
            out.extend_from_slice(b",{},");
            bench_args(ser, out, a.index, a.seq, a.ts, a.size);
            out.push(b']');
        }
        Serializer::MsgPack => {
            out.extend_from_slice(&[0x95, 36]);
            mp_uint(out, subscription);
            mp_uint(out, publication);
            out.push(0x80);
            bench_args(ser, out, a.index, a.seq, a.ts, a.size);
        }
    }
}

/// HELLO announcing all four client roles.
pub fn hello(realm: &str) -> Message {
    let roles = Dict::new()
        .with("publisher", Dict::new())
        .with("subscriber", Dict::new())
        .with("caller", Dict::new())
        .with("callee", Dict::new());
    Message::Hello {
        realm: realm.to_owned(),
        details: Dict::new().with("roles", roles).with("agent", "wampbench"),
    }
}

/// SUBSCRIBE to `topic` (exact match).
pub fn subscribe(request: u64, topic: &str) -> Message {
    Message::Subscribe {
        request,
        options: Dict::new(),
        topic: topic.to_owned(),
    }
}

/// REGISTER `procedure`.
pub fn register(request: u64, procedure: &str) -> Message {
    Message::Register {
        request,
        options: Dict::new(),
        procedure: procedure.to_owned(),
    }
}

/// GOODBYE with `wamp.close.close_realm` (or the reply `wamp.close.goodbye_and_out`).
pub fn goodbye(reply: bool) -> Message {
    Message::Goodbye {
        details: Dict::new(),
        reason: if reply {
            "wamp.close.goodbye_and_out"
        } else {
            "wamp.close.close_realm"
        }
        .to_owned(),
    }
}

/// The null router's WELCOME.
pub fn welcome(session: u64) -> Message {
    let roles = Dict::new().with("broker", Dict::new());
    Message::Welcome {
        session,
        details: Dict::new()
            .with("roles", roles)
            .with("authrole", "anonymous")
            .with("authmethod", "anonymous")
            .with("agent", Value::from("wampbench-null-router")),
    }
}

/// The null router's SUBSCRIBED.
pub fn subscribed(request: u64, subscription: u64) -> Message {
    Message::Subscribed {
        request,
        subscription,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrobar::wamp::Payload;

    const SERS: [Serializer; 2] = [Serializer::Json, Serializer::MsgPack];

    fn decode(ser: Serializer, bytes: &[u8]) -> Message {
        let mut b = bytes.to_vec();
        ser.decode(&mut b).unwrap()
    }

    fn args(index: u64, seq: u64, ts: u64, pad: usize) -> Vec<Value> {
        vec![
            Value::from(index),
            Value::from(seq),
            Value::from(ts),
            Value::Str("x".repeat(pad)),
        ]
    }

    #[test]
    fn args_hit_the_payload_size() {
        for ser in SERS {
            for size in [
                0usize, 16, 30, 31, 32, 33, 34, 35, 36, 40, 64, 200, 256, 300, 1000, 70_000,
            ] {
                for ts in [0u64, 1_000, 123_456_789_012_345] {
                    let mut out = Vec::new();
                    bench_args(ser, &mut out, 7, 123_456, ts, size);
                    let mut minimal = Vec::new();
                    bench_args(ser, &mut minimal, 7, 123_456, ts, 0);
                    if size >= minimal.len() + 3 {
                        assert!(
                            out.len() == size
                                || (ser == Serializer::MsgPack && out.len() + 1 == size),
                            "{ser:?} size {size}: got {}",
                            out.len()
                        );
                    } else {
                        assert!(out.len() <= size.max(minimal.len()) + 1);
                    }
                }
            }
        }
    }

    #[test]
    fn raw_publish_and_call_decode_as_expected() {
        for ser in SERS {
            let a = BenchArgs {
                index: 2,
                seq: 9,
                ts: 55_555_555_555,
                size: 64,
            };
            let mut out = Vec::new();
            publish(ser, &mut out, 77, "com.bench.fanout", a);
            let Message::Publish {
                request,
                options,
                topic,
                payload,
            } = decode(ser, &out)
            else {
                panic!("not a publish")
            };
            assert_eq!(request, 77);
            assert_eq!(options.get_bool("acknowledge"), Some(true));
            assert_eq!(topic, "com.bench.fanout");
            let got = payload.args.unwrap();
            assert_eq!(&got[..3], &args(2, 9, 55_555_555_555, 0)[..3]);

            out.clear();
            call(ser, &mut out, 1 << 40, "com.bench.echo.3", a);
            let Message::Call {
                request, procedure, ..
            } = decode(ser, &out)
            else {
                panic!("not a call")
            };
            assert_eq!(request, 1 << 40);
            assert_eq!(procedure, "com.bench.echo.3");

            out.clear();
            event(ser, &mut out, 5, 6, a);
            let Message::Event {
                subscription,
                publication,
                payload,
                ..
            } = decode(ser, &out)
            else {
                panic!("not an event")
            };
            assert_eq!((subscription, publication), (5, 6));
            assert_eq!(payload.args.unwrap()[1], Value::from(9u64));
        }
    }

    #[test]
    fn yield_echoes_raw_args_and_kwargs() {
        for ser in SERS {
            let inv = Message::Invocation {
                request: 3,
                registration: 4,
                details: Dict::new(),
                payload: Payload {
                    args: Some(args(1, 2, 3, 10)),
                    kwargs: Some(Dict::new().with("k", "v")),
                },
            };
            let mut enc = Vec::new();
            ser.encode(&inv, &mut enc);
            let mut el = [crate::skim::Elem::default(); 6];
            let n = crate::skim::list(ser, &enc, &mut el).unwrap();
            assert_eq!(n, 6);
            let raw_args = &enc[el[4].start..el[4].end];
            let raw_kw = &enc[el[5].start..el[5].end];
            for (a, k) in [
                (Some(raw_args), Some(raw_kw)),
                (Some(raw_args), None),
                (None, Some(raw_kw)),
                (None, None),
            ] {
                let mut out = Vec::new();
                yield_echo(ser, &mut out, 3, a, k);
                let Message::Yield {
                    request, payload, ..
                } = decode(ser, &out)
                else {
                    panic!("not a yield")
                };
                assert_eq!(request, 3);
                match a {
                    Some(_) => assert_eq!(payload.args, Some(args(1, 2, 3, 10))),
                    None if k.is_some() => assert_eq!(payload.args, Some(vec![])),
                    None => assert_eq!(payload.args, None),
                }
                assert_eq!(payload.kwargs.is_some(), k.is_some());
            }
        }
    }

    #[test]
    fn plain_uris() {
        assert!(is_plain_uri("com.bench.fanout"));
        assert!(is_plain_uri("com.bench.echo.12"));
        assert!(!is_plain_uri(""));
        assert!(!is_plain_uri("a\"b"));
        assert!(!is_plain_uri("a..b"));
        assert!(!is_plain_uri(".a"));
        assert!(!is_plain_uri("a b"));
    }
}
