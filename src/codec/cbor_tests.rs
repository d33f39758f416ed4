//! Tests of `cbor.rs`.

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::codec::wire::testing;
use crate::codec::{json, msgpack};

fn dec(bytes: &[u8]) -> Result<Message, DecodeError> {
    decode(&mut bytes.to_vec())
}

fn enc(m: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    encode(m, &mut out);
    out
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// CBOR for a JSON text, written by a path independent of the codec under test
/// (serde_json's parser, minicbor's encoder driven directly), with the JSON binary
/// convention mapped to byte strings. Integers take the shortest form, floats a double,
/// as Autobahn|Python's cbor2 writes them.
fn from_json(text: &str) -> Vec<u8> {
    fn put(e: &mut minicbor::Encoder<&mut Vec<u8>>, v: &serde_json::Value) {
        match v {
            serde_json::Value::Null => e.null().map(drop),
            serde_json::Value::Bool(b) => e.bool(*b).map(drop),
            serde_json::Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    e.u64(u).map(drop)
                } else if let Some(i) = n.as_i64() {
                    e.i64(i).map(drop)
                } else {
                    e.f64(n.as_f64().expect("number")).map(drop)
                }
            }
            serde_json::Value::String(s) => match s.strip_prefix('\0') {
                Some(b64) => {
                    use base64::Engine as _;
                    let b = base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .expect("b64");
                    e.bytes(&b).map(drop)
                }
                None => e.str(s).map(drop),
            },
            serde_json::Value::Array(a) => {
                e.array(a.len() as u64).expect("vec");
                a.iter().for_each(|v| put(e, v));
                Ok(())
            }
            serde_json::Value::Object(o) => {
                e.map(o.len() as u64).expect("vec");
                for (k, v) in o {
                    e.str(k).expect("vec");
                    put(e, v);
                }
                Ok(())
            }
        }
        .expect("vec")
    }
    let v: serde_json::Value = serde_json::from_str(text).expect("golden JSON");
    let mut out = Vec::new();
    put(&mut minicbor::Encoder::new(&mut out), &v);
    out
}

fn event_args(m: Result<Message, DecodeError>) -> Vec<Value> {
    match m {
        Ok(Message::Event {
            payload: Payload { args: Some(a), .. },
            ..
        }) => a,
        other => panic!("not an EVENT with args: {other:?}"),
    }
}

/// `[36, 1, 2, {}, [<arg>]]` with one raw CBOR argument.
fn event_with_arg(arg: &[u8]) -> Vec<u8> {
    let mut b = vec![0x85, 0x18, 36, 1, 2, 0xa0, 0x81];
    b.extend_from_slice(arg);
    b
}

fn arg(bytes: &[u8]) -> Result<Value, DecodeError> {
    match dec(&event_with_arg(bytes)) {
        Ok(m) => Ok(event_args(Ok(m)).remove(0)),
        Err(e) => Err(e),
    }
}

fn malformed_detail(r: Result<Message, DecodeError>) -> String {
    match r {
        Err(DecodeError::Malformed {
            serializer: "CBOR",
            detail,
            ..
        }) => detail,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn what_autobahn_python_sends() {
    // Bytes written by cbor2 (Autobahn|Python's CBOR backend) for these messages.
    let hello = hex("8301667265616c6d31a165726f6c6573a16a73756273637269626572a0");
    let want = Message::Hello {
        realm: "realm1".into(),
        details: Dict::new().with("roles", Dict::new().with("subscriber", Dict::new())),
    };
    assert_eq!(dec(&hello), Ok(want.clone()));
    assert_eq!(enc(&want), hello);
    let event = hex("8518240102a086420102fb3ff8000000000000261bfffffffffffffffff6f5");
    let want = Message::Event {
        subscription: 1,
        publication: 2,
        details: Dict::new(),
        payload: Payload::args(vec![
            Value::Bytes(vec![1, 2]),
            Value::Float(1.5),
            Value::Int(-7),
            Value::UInt(u64::MAX),
            Value::Null,
            Value::Bool(true),
        ]),
    };
    assert_eq!(dec(&event), Ok(want.clone()));
    assert_eq!(enc(&want), event);
    let result = hex("8518321a00773bf7a16870726f6772657373f580a2656b61726d610a66757365726964187b");
    let msg = dec(&result).expect("RESULT");
    assert_eq!(enc(&msg), result);
}

#[test]
fn golden_vectors_decode_and_encode() {
    for (text, msg) in testing::golden() {
        let bytes = from_json(text);
        assert_eq!(dec(&bytes).as_ref(), Ok(&msg), "decoding {text}");
        assert_eq!(enc(&msg), bytes, "encoding {msg:?}");
    }
}

#[test]
fn json_to_cbor_to_msgpack_to_json() {
    for (text, msg) in testing::golden() {
        let from_json = json::decode(&mut text.as_bytes().to_vec()).expect("golden");
        let back = dec(&enc(&from_json)).expect("re-decodes");
        assert_eq!(back, msg);
        let mut packed = Vec::new();
        msgpack::encode(&back, &mut packed);
        let via_msgpack = msgpack::decode(&mut packed).expect("msgpack");
        let mut text_again = Vec::new();
        json::encode(&via_msgpack, &mut text_again);
        assert_eq!(text_again, text.as_bytes());
    }
}

#[test]
fn rfc8949_appendix_a_values() {
    let cases: Vec<(&str, Value)> = vec![
        ("00", Value::Int(0)),
        ("17", Value::Int(23)),
        ("1818", Value::Int(24)),
        ("1903e8", Value::Int(1000)),
        ("1a000f4240", Value::Int(1_000_000)),
        ("1b000000e8d4a51000", Value::Int(1_000_000_000_000)),
        ("1bffffffffffffffff", Value::UInt(u64::MAX)),
        ("20", Value::Int(-1)),
        ("3863", Value::Int(-100)),
        ("3903e7", Value::Int(-1000)),
        ("3b7fffffffffffffff", Value::Int(i64::MIN)),
        ("f90000", Value::Float(0.0)),
        ("f93c00", Value::Float(1.0)),
        ("f93e00", Value::Float(1.5)),
        ("f97bff", Value::Float(65504.0)),
        ("fa47c35000", Value::Float(100000.0)),
        ("fb3ff199999999999a", Value::Float(1.1)),
        ("f90001", Value::Float(5.960464477539063e-8)),
        ("f4", Value::Bool(false)),
        ("f5", Value::Bool(true)),
        ("f6", Value::Null),
        ("f7", Value::Null),
        ("40", Value::Bytes(vec![])),
        ("4401020304", Value::Bytes(vec![1, 2, 3, 4])),
        ("60", Value::Str(String::new())),
        ("6449455446", Value::Str("IETF".into())),
        ("62225c", Value::Str("\"\\".into())),
        ("62c3bc", Value::Str("\u{fc}".into())),
        ("64f0908591", Value::Str("\u{10151}".into())),
        ("80", Value::List(vec![])),
        (
            "8301820203820405",
            Value::List(vec![
                Value::Int(1),
                Value::List(vec![Value::Int(2), Value::Int(3)]),
                Value::List(vec![Value::Int(4), Value::Int(5)]),
            ]),
        ),
        ("a0", Value::Dict(Dict::new())),
        (
            "a26161016162820203",
            Value::Dict(
                Dict::new()
                    .with("a", 1i64)
                    .with("b", Value::List(vec![Value::Int(2), Value::Int(3)])),
            ),
        ),
        // Indefinite lengths.
        ("5f42010243030405ff", Value::Bytes(vec![1, 2, 3, 4, 5])),
        ("5fff", Value::Bytes(vec![])),
        ("7f657374726561646d696e67ff", Value::Str("streaming".into())),
        ("9fff", Value::List(vec![])),
        (
            "9f018202039f0405ffff",
            Value::List(vec![
                Value::Int(1),
                Value::List(vec![Value::Int(2), Value::Int(3)]),
                Value::List(vec![Value::Int(4), Value::Int(5)]),
            ]),
        ),
        (
            "bf61610161629f0203ffff",
            Value::Dict(
                Dict::new()
                    .with("a", 1i64)
                    .with("b", Value::List(vec![Value::Int(2), Value::Int(3)])),
            ),
        ),
        (
            "bf6346756ef563416d7421ff",
            Value::Dict(Dict::new().with("Fun", true).with("Amt", -2i64)),
        ),
        // An indefinite string as a map key; the self-describe tag anywhere.
        ("a17f6161ff01", Value::Dict(Dict::new().with("a", 1i64))),
        ("d9d9f7d9d9f705", Value::Int(5)),
        ("a1d9d9f7616101", Value::Dict(Dict::new().with("a", 1i64))),
    ];
    for (h, want) in cases {
        assert_eq!(arg(&hex(h)), Ok(want), "{h}");
    }
    // Infinities and NaN decode (JSON cannot carry them, but other serializers can).
    assert_eq!(arg(&hex("f97c00")), Ok(Value::Float(f64::INFINITY)));
    assert_eq!(
        arg(&hex("fbfff0000000000000")),
        Ok(Value::Float(f64::NEG_INFINITY))
    );
    assert!(matches!(arg(&hex("f97e00")), Ok(Value::Float(f)) if f.is_nan()));
}

#[test]
fn indefinite_and_tagged_messages() {
    // [36, 1, 2, {}] as an indefinite array with a self-describe prefix.
    let m = dec(&hex("d9d9f7 9f 1824 01 02 bfff ff")).expect("indefinite EVENT");
    assert_eq!(
        m,
        Message::Event {
            subscription: 1,
            publication: 2,
            details: Dict::new(),
            payload: Payload::empty(),
        }
    );
    // Extra elements in an indefinite array are read and must be well-formed.
    assert_eq!(
        dec(&hex("9f 1823 05 f6 ff")),
        Ok(Message::Unsubscribed {
            request: 5,
            details: Dict::new()
        })
    );
    malformed_detail(dec(&hex("9f 1823 05 1c ff")));
    // A missing break is a truncation; bytes after the break are trailing.
    malformed_detail(dec(&hex("9f 1823 05")));
    let trailing = malformed_detail(dec(&hex("9f 1823 05 ff 00")));
    assert!(trailing.contains("trailing"), "{trailing}");
}

#[test]
fn integers_normalise_and_encode_compactly() {
    assert_eq!(arg(&hex("1b0000000000000005")), Ok(Value::Int(5)));
    assert_eq!(arg(&hex("1b8000000000000000")), Ok(Value::UInt(1 << 63)));
    assert_eq!(arg(&hex("3b0000000000000000")), Ok(Value::Int(-1)));
    let below = malformed_detail(dec(&event_with_arg(&hex("3b8000000000000000"))));
    assert!(below.contains("-2^63"), "{below}");
    let m = Message::Result {
        request: 1,
        details: Dict::new(),
        payload: Payload::args(vec![
            Value::Int(5),
            Value::Int(-1),
            Value::Int(200),
            Value::Int(i64::MIN),
            Value::UInt(u64::MAX),
            Value::Float(0.5),
        ]),
    };
    let want =
        hex("84 1832 01 a0 86 05 20 18c8 3b7fffffffffffffff 1bffffffffffffffff fb3fe0000000000000");
    assert_eq!(enc(&m), want);
}

#[test]
fn binary_both_ways() {
    let big = vec![7u8; 300];
    let mut bin16 = vec![0x59, 0x01, 0x2c];
    bin16.extend_from_slice(&big);
    assert_eq!(arg(&bin16), Ok(Value::Bytes(big.clone())));
    let m = Message::Yield {
        request: 9,
        options: Dict::new(),
        payload: Payload::args(vec![Value::Bytes(big)]),
    };
    let out = enc(&m);
    assert_eq!(
        &out[..9],
        &[0x84, 0x18, 70, 9, 0xa0, 0x81, 0x59, 0x01, 0x2c]
    );
    assert_eq!(dec(&out), Ok(m));
}

#[test]
fn refuses_what_wamp_cannot_carry() {
    let date = malformed_detail(dec(&event_with_arg(&hex(
        "c074323031332d30332d32315432303a30343a30305a",
    ))));
    assert!(date.contains("tag 0"), "{date}");
    let bignum = malformed_detail(dec(&event_with_arg(&hex("c249010000000000000000"))));
    assert!(bignum.contains("tag 2"), "{bignum}");
    let simple = malformed_detail(dec(&event_with_arg(&hex("f0"))));
    assert!(simple.contains("simple"), "{simple}");
    malformed_detail(dec(&event_with_arg(&hex("f8ff"))));
    for reserved in ["1c", "3d", "5c", "7e", "9c", "bd", "dc", "fc", "fe"] {
        let d = malformed_detail(dec(&event_with_arg(&hex(reserved))));
        assert!(d.contains("reserved"), "{reserved}: {d}");
    }
    let brk = malformed_detail(dec(&event_with_arg(&hex("ff"))));
    assert!(brk.contains("break"), "{brk}");
    let utf8 = malformed_detail(dec(&hex("83 01 62fffe a0")));
    assert!(utf8.to_lowercase().contains("utf-8"), "{utf8}");
    // Each chunk of an indefinite string must be UTF-8 on its own (RFC 8949 §3.2.3).
    malformed_detail(dec(&event_with_arg(&hex("7f 61c3 61bc ff"))));
    // Chunks must be definite strings of the same major type.
    malformed_detail(dec(&event_with_arg(&hex("7f 4161 ff"))));
    malformed_detail(dec(&event_with_arg(&hex("7f 7f6161ff ff"))));
    malformed_detail(dec(&event_with_arg(&hex("5f 6161 ff"))));
    let key = malformed_detail(dec(&hex("83 01 6172 a1 01 02")));
    assert!(key.contains("key"), "{key}");
    let bytes_key = malformed_detail(dec(&hex("83 01 6172 a1 4161 02")));
    assert!(bytes_key.contains("key"), "{bytes_key}");
    let trailing = malformed_detail(dec(&hex("82 1823 05 00")));
    assert!(trailing.contains("trailing"), "{trailing}");
    // Extra elements are ignored but must still be well-formed.
    assert_eq!(
        dec(&hex("83 1823 05 f6")),
        Ok(Message::Unsubscribed {
            request: 5,
            details: Dict::new()
        })
    );
    malformed_detail(dec(&hex("83 1823 05 fc")));
}

#[test]
fn truncations_and_forged_lengths_are_malformed() {
    for (text, _) in testing::golden() {
        let bytes = from_json(text);
        for cut in 0..bytes.len() {
            malformed_detail(dec(&bytes[..cut]));
        }
    }
    malformed_detail(dec(&hex("9bffffffffffffffff 01")));
    malformed_detail(dec(&event_with_arg(&hex("9bffffffffffffffff"))));
    malformed_detail(dec(&event_with_arg(&hex("bbffffffffffffffff"))));
    malformed_detail(dec(&event_with_arg(&hex("7bffffffffffffffff 61"))));
    malformed_detail(dec(&event_with_arg(&hex("5bffffffffffffffff 01"))));
    malformed_detail(dec(&event_with_arg(&hex("5affffffff 01"))));
    malformed_detail(dec(&event_with_arg(&hex("5f 41"))));
    malformed_detail(dec(&event_with_arg(&hex("bf 6161"))));
}

#[test]
fn not_a_message_and_unknown_types() {
    for h in [
        "a0",
        "80",
        "9fff",
        "6178",
        "816131",
        "8120",
        "81fb3ff0000000000000",
        "f6",
        "d9d9f7a0",
    ] {
        assert_eq!(dec(&hex(h)), Err(DecodeError::NotAMessage), "{h}");
    }
    assert_eq!(dec(&hex("8107")), Err(DecodeError::UnknownType(7)));
    assert_eq!(
        dec(&hex("811bffffffffffffffff")),
        Err(DecodeError::UnknownType(u64::MAX))
    );
    malformed_detail(dec(&[]));
    let tag = malformed_detail(dec(&hex("c1 80")));
    assert!(tag.contains("tag 1"), "{tag}");
}

#[test]
fn bad_elements() {
    let e = |index, expected| DecodeError::BadElement {
        message: "PUBLISH",
        index,
        expected,
    };
    assert_eq!(
        dec(&hex("84 10 6131 a0 6174")),
        Err(e(1, "an id (integer in [0, 2^53])"))
    );
    assert_eq!(dec(&hex("84 10 01 80 6174")), Err(e(2, "a dict")));
    assert_eq!(dec(&hex("83 10 01 a0")), Err(e(3, "a URI (string)")));
    assert_eq!(
        dec(&hex("85 10 01 a0 6174 a0")),
        Err(e(4, "a list (Arguments)"))
    );
    assert_eq!(
        dec(&hex("86 10 01 a0 6174 80 80")),
        Err(e(5, "a dict (ArgumentsKw)"))
    );
    // A byte string is not a URI.
    assert_eq!(dec(&hex("84 10 01 a0 4174")), Err(e(3, "a URI (string)")));
    assert!(matches!(
        dec(&hex("83 02 1b0020000000000001 a0")),
        Err(DecodeError::BadElement { index: 1, .. })
    ));
}

#[test]
fn nesting_limit() {
    let nested = |levels: usize, open: u8| {
        let mut b = vec![0x85, 0x18, 36, 1, 2, 0xa0];
        b.extend(std::iter::repeat_n(open, levels - 2));
        b.push(0x80);
        if open == 0x9f {
            b.extend(std::iter::repeat_n(0xff, levels - 2));
        }
        b
    };
    for open in [0x81, 0x9f] {
        assert!(dec(&nested(MAX_DEPTH, open)).is_ok());
        assert_eq!(
            dec(&nested(MAX_DEPTH + 1, open)),
            Err(DecodeError::TooDeep(MAX_DEPTH))
        );
    }
    let mut maps = vec![0x85, 0x18, 36, 1, 2];
    for _ in 0..MAX_DEPTH {
        maps.extend_from_slice(&hex("a1 6161"));
    }
    maps.push(0xa0);
    assert_eq!(dec(&maps), Err(DecodeError::TooDeep(MAX_DEPTH)));
    assert_eq!(
        dec(&vec![0x81; 100_000]),
        Err(DecodeError::TooDeep(MAX_DEPTH))
    );
    assert_eq!(
        dec(&vec![0x9f; 100_000]),
        Err(DecodeError::TooDeep(MAX_DEPTH))
    );
    // A long chain of self-describe tags is a loop, not recursion.
    let mut tags = Vec::new();
    for _ in 0..50_000 {
        tags.extend_from_slice(&hex("d9d9f7"));
    }
    tags.extend_from_slice(&hex("82 1823 05"));
    assert_eq!(
        dec(&tags),
        Ok(Message::Unsubscribed {
            request: 5,
            details: Dict::new()
        })
    );
}

#[test]
fn encode_event_matches_encode() {
    for (_, msg) in testing::golden() {
        if let Message::Event {
            subscription,
            publication,
            details,
            payload,
        } = &msg
        {
            let mut out = Vec::new();
            encode_event(*subscription, *publication, details, payload, &mut out);
            assert_eq!(out, enc(&msg));
        }
    }
}

proptest! {
    #[test]
    fn round_trip(msg in testing::message()) {
        prop_assert_eq!(dec(&enc(&msg)), Ok(msg));
    }

    #[test]
    fn json_cbor_msgpack_json_round_trip(msg in testing::message()) {
        let mut text = Vec::new();
        json::encode(&msg, &mut text);
        let from_json = json::decode(&mut text).expect("own JSON decodes");
        let via_cbor = dec(&enc(&from_json)).expect("own CBOR decodes");
        prop_assert_eq!(&via_cbor, &msg);
        let mut packed = Vec::new();
        msgpack::encode(&via_cbor, &mut packed);
        let via_msgpack = msgpack::decode(&mut packed).expect("own MessagePack decodes");
        prop_assert_eq!(&via_msgpack, &msg);
        let again = dec(&enc(&via_msgpack)).expect("own CBOR decodes");
        let mut text_again = Vec::new();
        json::encode(&again, &mut text_again);
        prop_assert_eq!(json::decode(&mut text_again), Ok(msg));
    }
}

proptest! {
    // Cheap cases, so many of them.
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn garbage_never_panics(bytes in vec(any::<u8>(), 0..256)) {
        let _ = dec(&bytes);
    }

    #[test]
    fn initial_byte_soup_never_panics(
        bytes in vec(prop_oneof![
            Just(0x80u8), Just(0x81), Just(0x83), Just(0x9f), Just(0xa1), Just(0xbf),
            Just(0x61), Just(0x7f), Just(0x41), Just(0x5f), Just(0xff), Just(0x1b),
            Just(0x3b), Just(0xd9), Just(0xf9), Just(0x18), Just(0x24), Just(0x10),
            Just(0x00), any::<u8>(),
        ], 0..64)
    ) {
        let _ = dec(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(
        msg in testing::message(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut out = enc(&msg);
        for (i, b) in flips {
            let i = i.index(out.len());
            out[i] = b;
        }
        let _ = dec(&out);
    }
}

#[test]
fn uint8_typed_arrays_decode_as_bytes() {
    // cbor-x (wampy.js, browsers) writes a Uint8Array as tag 64 on a byte string; 68 is the
    // clamped variant. Both are plain binary to WAMP, in args and in kwargs, also behind a
    // self-describe tag and as an indefinite byte string.
    assert_eq!(
        arg(&hex("d8 40 43 010203")),
        Ok(Value::Bytes(vec![1, 2, 3]))
    );
    assert_eq!(arg(&hex("d8 44 42 ff00")), Ok(Value::Bytes(vec![0xff, 0])));
    assert_eq!(arg(&hex("d9d9f7 d8 40 40")), Ok(Value::Bytes(vec![])));
    assert_eq!(
        arg(&hex("d8 40 5f 41 01 42 0203 ff")),
        Ok(Value::Bytes(vec![1, 2, 3]))
    );
    let kwargs = hex("86 18 24 01 02 a0 80 a1 61 62 d8 40 42 0a0b");
    match dec(&kwargs) {
        Ok(Message::Event { payload, .. }) => assert_eq!(
            payload.kwargs.and_then(|k| k.get("b").cloned()),
            Some(Value::Bytes(vec![10, 11]))
        ),
        other => panic!("expected EVENT, got {other:?}"),
    }
    // Re-encoded as a plain byte string, which every CBOR reader takes as binary.
    let m = dec(&event_with_arg(&hex("d8 40 43 010203"))).expect("decodes");
    assert_eq!(enc(&m), event_with_arg(&hex("43 010203")));
}

#[test]
fn uint8_typed_array_tags_need_a_byte_string() {
    for bad in ["d8 40 63 616263", "d8 40 01", "d8 40 80", "d8 40"] {
        malformed_detail(dec(&event_with_arg(&hex(bad))));
    }
    // Other typed arrays (here 65, uint16 big-endian) have no WAMP meaning.
    let d = malformed_detail(dec(&event_with_arg(&hex("d8 41 42 0001"))));
    assert!(d.contains("tag 65"), "{d}");
    // A typed-array tag cannot stand on a map key or the message itself.
    malformed_detail(dec(&hex("85 18 24 01 02 a1 d8 40 41 61 01 81 01")));
    malformed_detail(dec(&[hex("d8 40"), hex("82 1823 05")].concat()));
}

#[test]
fn ids_written_as_integral_floats_are_ids() {
    // cbor-x (wampy.js) writes a Number above 2^32 as float64: UNREGISTER of registration
    // 6 000 000 000 as [66, 3, 6.0e9].
    assert_eq!(
        dec(&hex("83 1842 03 fb41f65a0bc0000000")),
        Ok(Message::Unregister {
            request: 3,
            registration: 6_000_000_000
        })
    );
    // A fraction or a value past 2^53 is not an id.
    malformed_or_bad(dec(&hex("83 1842 03 fb3ff8000000000000")));
    malformed_or_bad(dec(&hex("83 1842 03 fb4340000000000001")));
}

fn malformed_or_bad(r: Result<Message, DecodeError>) {
    assert!(r.is_err(), "decoded {r:?}");
}
