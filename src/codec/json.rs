//! `wamp.2.json`: JSON via simd-json (parse in place into a tape, then walk the tape).
//!
//! Binary values follow the WAMP/Autobahn convention: a JSON string whose first character is
//! NUL carries base64 of the bytes (`"\u0000" + base64(bytes)`).

use std::cell::RefCell;
use std::io;

use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT as BASE64;
use base64::Engine as _;
use simd_json::prelude::{BaseGenerator, ValueAsScalar};
use simd_json::{Buffers, ErrorType, Node, StaticNode, Tape};

use super::wire::{self, ElementSource, ListSink};
use super::{DecodeError, MAX_DEPTH};
use crate::wamp::{Dict, Message, Payload, Value};

const SERIALIZER: &str = "JSON";

/// Scratch space simd-json needs per parse, kept per thread so decoding a message does not
/// allocate it afresh. The tape is stored empty (`'static`) and re-lifetimed per call.
struct Scratch {
    buffers: Buffers,
    tape: Tape<'static>,
}

/// Inputs larger than this drop their (grown) scratch instead of keeping it for the thread.
const SCRATCH_KEEP_LIMIT: usize = 64 * 1024;

thread_local! {
    static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
}

/// Decodes one JSON WAMP message. simd-json parses in place, so `bytes` is scratch afterwards.
///
/// Never panics: invalid JSON is [`DecodeError::Malformed`], nesting beyond [`MAX_DEPTH`]
/// (counting the message list itself) is [`DecodeError::TooDeep`].
pub fn decode(bytes: &mut [u8]) -> Result<Message, DecodeError> {
    // Reuse this thread's scratch if it is free (it always is, unless a decode re-enters).
    let scratch = SCRATCH.with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.take()));
    let Scratch { mut buffers, tape } = scratch.unwrap_or_else(|| Scratch {
        buffers: Buffers::with_max_depth(bytes.len(), MAX_DEPTH),
        tape: Tape::null(),
    });
    let mut tape = tape.reset();
    let result = match simd_json::fill_tape(bytes, &mut buffers, &mut tape) {
        Ok(()) => decode_tape(&tape.0),
        Err(e) => Err(parse_error(&e)),
    };
    let tape = tape.reset();
    // Scratch grows to the largest input seen; don't let one huge message pin that memory.
    if bytes.len() <= SCRATCH_KEEP_LIMIT {
        SCRATCH.with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                *s = Some(Scratch { buffers, tape });
            }
        });
    }
    result
}

/// Decodes one JSON document as a plain [`Value`] (not a WAMP message): the MQTT bridge's
/// `native` payload mapping. Same guarantees as [`decode`]; `bytes` is scratch afterwards.
pub fn decode_value(bytes: &mut [u8]) -> Result<Value, DecodeError> {
    let mut buffers = Buffers::with_max_depth(bytes.len(), MAX_DEPTH);
    let mut tape = Tape::null().reset();
    simd_json::fill_tape(bytes, &mut buffers, &mut tape).map_err(|e| parse_error(&e))?;
    let mut pos = 0;
    to_value(&tape.0, &mut pos, 0)
}

/// Appends the JSON encoding of one plain [`Value`] to `out`.
pub fn encode_value(v: &Value, out: &mut Vec<u8>) {
    Gen(out).value(v);
}

fn parse_error(e: &simd_json::Error) -> DecodeError {
    match e.error() {
        ErrorType::DepthLimitExceeded => DecodeError::TooDeep(MAX_DEPTH),
        other => DecodeError::Malformed {
            serializer: SERIALIZER,
            offset: e.index(),
            detail: format!("{other:?}"),
        },
    }
}

fn malformed(detail: impl Into<String>) -> DecodeError {
    // The tape no longer knows input offsets.
    DecodeError::Malformed {
        serializer: SERIALIZER,
        offset: 0,
        detail: detail.into(),
    }
}

fn decode_tape(nodes: &[Node<'_>]) -> Result<Message, DecodeError> {
    let Some(Node::Array { len, .. }) = nodes.first() else {
        return Err(DecodeError::NotAMessage);
    };
    let mut src = TapeElements {
        nodes,
        pos: 1,
        remaining: *len,
    };
    // Trailing elements need no further check: simd-json has validated the whole document.
    wire::decode_message(&mut src)
}

/// The top-level list's elements, read off the tape in order.
struct TapeElements<'t, 'i> {
    nodes: &'t [Node<'i>],
    pos: usize,
    remaining: usize,
}

impl ElementSource for TapeElements<'_, '_> {
    #[inline]
    fn has_next(&self) -> bool {
        self.remaining > 0
    }

    #[inline]
    fn next_element(&mut self) -> Result<Value, DecodeError> {
        self.remaining = self.remaining.saturating_sub(1);
        to_value(self.nodes, &mut self.pos, 1)
    }
}

/// Converts the tape value at `*pos` (advancing past it). `depth` is the number of enclosing
/// lists/dicts; simd-json already enforces the limit, the check here keeps recursion bounded
/// on its own.
fn to_value(nodes: &[Node<'_>], pos: &mut usize, depth: usize) -> Result<Value, DecodeError> {
    let node = *nodes.get(*pos).ok_or_else(|| malformed("truncated tape"))?;
    *pos += 1;
    Ok(match node {
        Node::String(s) => string_value(s)?,
        Node::Static(s) => static_value(s)?,
        Node::Array { len, .. } => {
            if depth >= MAX_DEPTH {
                return Err(DecodeError::TooDeep(MAX_DEPTH));
            }
            let mut list = Vec::with_capacity(len);
            for _ in 0..len {
                list.push(to_value(nodes, pos, depth + 1)?);
            }
            Value::List(list)
        }
        Node::Object { len, .. } => {
            if depth >= MAX_DEPTH {
                return Err(DecodeError::TooDeep(MAX_DEPTH));
            }
            // Duplicate keys are kept in order (no quadratic de-duplication on peer input);
            // lookups see the first.
            let mut entries = Vec::with_capacity(len);
            for _ in 0..len {
                let key = match nodes.get(*pos) {
                    Some(Node::String(k)) => (*k).to_owned(),
                    _ => return Err(malformed("object key is not a string")),
                };
                *pos += 1;
                entries.push((key, to_value(nodes, pos, depth + 1)?));
            }
            Value::Dict(Dict(entries))
        }
    })
}

fn static_value(s: StaticNode) -> Result<Value, DecodeError> {
    Ok(match s {
        StaticNode::Null => Value::Null,
        StaticNode::Bool(b) => Value::Bool(b),
        StaticNode::I64(i) => Value::Int(i),
        StaticNode::U64(u) => Value::from(u),
        // Floats (and any wider integer type a simd-json feature might add).
        other => match other.as_f64() {
            Some(f) => Value::Float(f),
            None => return Err(malformed("unsupported number")),
        },
    })
}

/// A JSON string: binary when it starts with NUL (Autobahn's convention), text otherwise.
fn string_value(s: &str) -> Result<Value, DecodeError> {
    match s.strip_prefix('\0') {
        Some(b64) => BASE64
            .decode(b64)
            .map(Value::Bytes)
            .map_err(|e| malformed(format!("invalid base64 in binary string: {e}"))),
        None => Ok(Value::Str(s.to_owned())),
    }
}

/// Appends the JSON encoding of `msg` to `out`.
pub fn encode(msg: &Message, out: &mut Vec<u8>) {
    wire::encode_message(
        msg,
        &mut JsonSink {
            g: Gen(out),
            first: true,
        },
    );
}

/// Appends the JSON encoding of `[36, subscription, publication, details, args?, kwargs?]` to
/// `out`, from references (the fan-out hot path).
pub fn encode_event(
    subscription: u64,
    publication: u64,
    details: &Dict,
    payload: &Payload,
    out: &mut Vec<u8>,
) {
    let mut sink = JsonSink {
        g: Gen(out),
        first: true,
    };
    wire::encode_event(&mut sink, subscription, publication, details, payload);
}

/// value-trait's JSON generator over our output buffer: it supplies string escaping (SIMD) and
/// number formatting (itoa, ryu).
struct Gen<'a>(&'a mut Vec<u8>);

impl BaseGenerator for Gen<'_> {
    type T = Vec<u8>;

    #[inline]
    fn get_writer(&mut self) -> &mut Vec<u8> {
        self.0
    }

    #[inline]
    fn write_min(&mut self, _: &[u8], min: u8) -> io::Result<()> {
        self.0.push(min);
        Ok(())
    }
}

/// Writes into a `Vec<u8>` cannot fail; this documents that the result is deliberately dropped.
#[inline]
fn infallible(r: io::Result<()>) {
    debug_assert!(r.is_ok(), "writing to a Vec failed");
}

impl Gen<'_> {
    fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.0.extend_from_slice(b"null"),
            Value::Bool(true) => self.0.extend_from_slice(b"true"),
            Value::Bool(false) => self.0.extend_from_slice(b"false"),
            Value::Int(i) => infallible(self.write_int(*i)),
            Value::UInt(u) => infallible(self.write_int(*u)),
            // ryu keeps a `.0` or an exponent, so floats stay floats; NaN/inf become null.
            Value::Float(f) => infallible(self.write_float(*f)),
            Value::Str(s) => infallible(self.write_string(s)),
            Value::Bytes(b) => self.bytes(b),
            Value::List(l) => self.list(l),
            Value::Dict(d) => self.dict(d),
        }
    }

    /// `"\u0000" + base64(b)`, base64 written straight into the output buffer.
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b"\"\\u0000");
        let start = self.0.len();
        let len = base64::encoded_len(b.len(), true).unwrap_or(0);
        self.0.resize(start + len, 0);
        let written = self
            .0
            .get_mut(start..)
            .map(|tail| BASE64.encode_slice(b, tail));
        debug_assert!(matches!(written, Some(Ok(n)) if n == len));
        self.0.push(b'"');
    }

    fn list(&mut self, l: &[Value]) {
        self.0.push(b'[');
        for (i, v) in l.iter().enumerate() {
            if i > 0 {
                self.0.push(b',');
            }
            self.value(v);
        }
        self.0.push(b']');
    }

    fn dict(&mut self, d: &Dict) {
        self.0.push(b'{');
        for (i, (k, v)) in d.0.iter().enumerate() {
            if i > 0 {
                self.0.push(b',');
            }
            infallible(self.write_string(k));
            self.0.push(b':');
            self.value(v);
        }
        self.0.push(b'}');
    }
}

/// The top-level message list; writes the commas between elements.
struct JsonSink<'a> {
    g: Gen<'a>,
    first: bool,
}

impl JsonSink<'_> {
    #[inline]
    fn sep(&mut self) {
        if !self.first {
            self.g.0.push(b',');
        }
        self.first = false;
    }
}

impl ListSink for JsonSink<'_> {
    fn begin_list(&mut self, _len: usize) {
        self.g.0.push(b'[');
        self.first = true;
    }

    fn uint(&mut self, v: u64) {
        self.sep();
        infallible(self.g.write_int(v));
    }

    fn string(&mut self, s: &str) {
        self.sep();
        infallible(self.g.write_string(s));
    }

    fn dict(&mut self, d: &Dict) {
        self.sep();
        self.g.dict(d);
    }

    fn list(&mut self, l: &[Value]) {
        self.sep();
        self.g.list(l);
    }

    fn end_list(&mut self) {
        self.g.0.push(b']');
    }
}

#[cfg(test)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;
    use crate::codec::wire::testing;
    use crate::wamp::id::MAX_ID;

    fn dec(s: &str) -> Result<Message, DecodeError> {
        decode(&mut s.as_bytes().to_vec())
    }

    fn enc(m: &Message) -> String {
        let mut out = Vec::new();
        encode(m, &mut out);
        String::from_utf8(out).expect("JSON output is UTF-8")
    }

    fn bad(message: &'static str, index: usize, expected: &'static str) -> DecodeError {
        DecodeError::BadElement {
            message,
            index,
            expected,
        }
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

    #[test]
    fn golden_vectors_decode_and_encode() {
        for (json, msg) in testing::golden() {
            assert_eq!(dec(json).as_ref(), Ok(&msg), "decoding {json}");
            assert_eq!(enc(&msg), json, "encoding {msg:?}");
        }
    }

    #[test]
    fn decodes_whitespace_and_escapes() {
        let m = dec(" [ 1 , \"re\\u0061lm\\n\" , { \"k\" : [ ] } ] ").expect("valid");
        let want = Message::Hello {
            realm: "realm\n".into(),
            details: Dict::new().with("k", Value::List(vec![])),
        };
        assert_eq!(m, want);
    }

    #[test]
    fn kwargs_without_args_writes_empty_args() {
        let m = Message::Yield {
            request: 3,
            options: Dict::new(),
            payload: Payload {
                args: None,
                kwargs: Some(Dict::new().with("a", 1i64)),
            },
        };
        assert_eq!(enc(&m), r#"[70,3,{},[],{"a":1}]"#);
    }

    #[test]
    fn extra_elements_and_abort_args_are_ignored() {
        let abort = dec(r#"[3,{},"wamp.error.x",["a"],{"b":1}]"#).expect("valid");
        assert_eq!(
            abort,
            Message::Abort {
                details: Dict::new(),
                reason: "wamp.error.x".into()
            }
        );
        let m = dec(r#"[35,7,"later",{"fields":[1]}]"#).expect("valid");
        assert_eq!(
            m,
            Message::Unsubscribed {
                request: 7,
                details: Dict::new()
            }
        );
    }

    #[test]
    fn binary_convention_both_ways() {
        let m = Message::Result {
            request: 1,
            details: Dict::new(),
            payload: Payload::args(vec![
                Value::Bytes(vec![0, 0xff, 0x10]),
                Value::Bytes(vec![]),
            ]),
        };
        assert_eq!(enc(&m), r#"[50,1,{},["\u0000AP8Q","\u0000"]]"#);
        assert_eq!(dec(&enc(&m)), Ok(m));
        // A raw (unescaped) NUL is a control character, which JSON does not allow in strings.
        assert!(matches!(
            dec("[36,1,2,{},[\"\0AQI=\"]]"),
            Err(DecodeError::Malformed { .. })
        ));
        // Padding is optional on input; only a leading NUL marks binary.
        let args = event_args(dec(r#"[36,1,2,{},["\u0000AQI","\u0000AQI=","x\u0000"]]"#));
        assert_eq!(
            args,
            vec![
                Value::Bytes(vec![1, 2]),
                Value::Bytes(vec![1, 2]),
                Value::Str("x\0".into())
            ]
        );
    }

    #[test]
    fn numbers_normalise_and_floats_stay_floats() {
        let args = event_args(dec(
            "[36,1,2,{},[9223372036854775807,9223372036854775808,-9223372036854775808,-0,3.0,1e2,2.5e-3]]",
        ));
        assert_eq!(
            args,
            vec![
                Value::Int(i64::MAX),
                Value::UInt(1 << 63),
                Value::Int(i64::MIN),
                Value::Int(0),
                Value::Float(3.0),
                Value::Float(100.0),
                Value::Float(0.0025),
            ]
        );
        let floats = [1.0, -0.5, 1e16, 1e300, f64::MIN_POSITIVE, 5e-324, 0.1 + 0.2];
        let m = Message::Result {
            request: 1,
            details: Dict::new(),
            payload: Payload::args(floats.iter().map(|&f| Value::Float(f)).collect()),
        };
        let text = enc(&m);
        assert!(text.starts_with("[50,1,{},[1.0,-0.5,"), "{text}");
        assert_eq!(dec(&text), Ok(m));
        let nan = Message::Result {
            request: 1,
            details: Dict::new(),
            payload: Payload::args(vec![Value::Float(f64::NAN), Value::Float(f64::INFINITY)]),
        };
        assert_eq!(enc(&nan), "[50,1,{},[null,null]]");
    }

    #[test]
    fn ids_must_be_in_range() {
        assert_eq!(
            dec(&format!("[2,{MAX_ID},{{}}]")),
            Ok(Message::Welcome {
                session: MAX_ID,
                details: Dict::new()
            })
        );
        let e = bad("WELCOME", 1, "an id (integer in [0, 2^53])");
        assert_eq!(dec(&format!("[2,{},{{}}]", MAX_ID + 1)), Err(e.clone()));
        assert_eq!(dec("[2,-1,{}]"), Err(e.clone()));
        assert_eq!(dec("[2,1.5,{}]"), Err(e.clone()));
        assert_eq!(dec("[2,9007199254740994.0,{}]"), Err(e.clone()));
        assert_eq!(dec("[2,\"1\",{}]"), Err(e));
        // An integral float is the same id (what cbor-x writes for ids above 2^32).
        assert_eq!(
            dec("[34,7,4294967296.0]"),
            Ok(Message::Unsubscribe {
                request: 7,
                subscription: 4294967296
            })
        );
    }

    #[test]
    fn malformed_json() {
        for text in [
            "",
            "   ",
            "[1,\"realm1\"",
            "[1,]",
            "{\"a\"}",
            "[1] [2]",
            "nul",
            "[1,\"\\x\"]",
        ] {
            assert!(
                matches!(
                    dec(text),
                    Err(DecodeError::Malformed {
                        serializer: "JSON",
                        ..
                    })
                ),
                "{text:?} -> {:?}",
                dec(text)
            );
        }
        let invalid_utf8 = decode(&mut b"[1,\"\xff\",{}]".to_vec());
        assert!(matches!(invalid_utf8, Err(DecodeError::Malformed { .. })));
        let invalid_base64 = dec("[36,1,2,{},[\"\\u0000!!\"]]");
        match invalid_base64 {
            Err(DecodeError::Malformed { detail, .. }) => assert!(detail.contains("base64")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn not_a_message() {
        for text in [
            "{}", "[]", "\"x\"", "42", "null", "[\"1\"]", "[-1]", "[1.0]", "[[1]]",
        ] {
            assert_eq!(dec(text), Err(DecodeError::NotAMessage), "{text}");
        }
    }

    #[test]
    fn unknown_types() {
        assert_eq!(dec("[7,{}]"), Err(DecodeError::UnknownType(7)));
        assert_eq!(dec("[337,1]"), Err(DecodeError::UnknownType(337)));
        assert_eq!(
            dec("[18446744073709551615]"),
            Err(DecodeError::UnknownType(u64::MAX))
        );
    }

    #[test]
    fn bad_elements() {
        let cases = [
            (
                "[16,1,{},\"t\",\"x\"]",
                bad("PUBLISH", 4, "a list (Arguments)"),
            ),
            (
                "[16,1,{},\"t\",[],[]]",
                bad("PUBLISH", 5, "a dict (ArgumentsKw)"),
            ),
            ("[16,1,{}]", bad("PUBLISH", 3, "a URI (string)")),
            ("[16,1,[],\"t\"]", bad("PUBLISH", 2, "a dict")),
            ("[16,1,{},7]", bad("PUBLISH", 3, "a URI (string)")),
            ("[1]", bad("HELLO", 1, "a URI (string)")),
            ("[4,null,{}]", bad("CHALLENGE", 1, "a string")),
            (
                "[8,-3,1,{},\"e\"]",
                bad("ERROR", 1, "a message type code (non-negative integer)"),
            ),
            ("[70,1,{},{}]", bad("YIELD", 3, "a list (Arguments)")),
        ];
        for (text, want) in cases {
            assert_eq!(dec(text), Err(want), "{text}");
        }
    }

    #[test]
    fn nesting_limit() {
        // The message list is one level, the args list another.
        let nested = |levels: usize| {
            format!(
                "[36,1,2,{{}},{}{}]",
                "[".repeat(levels - 1),
                "]".repeat(levels - 1)
            )
        };
        assert!(dec(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(
            dec(&nested(MAX_DEPTH + 1)),
            Err(DecodeError::TooDeep(MAX_DEPTH))
        );
        let dicts = format!(
            "[36,1,2,{}{}]",
            "{\"a\":".repeat(MAX_DEPTH),
            "}".repeat(MAX_DEPTH)
        );
        assert_eq!(dec(&dicts), Err(DecodeError::TooDeep(MAX_DEPTH)));
        let unclosed = "[".repeat(100_000);
        assert!(dec(&unclosed).is_err());
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
                assert_eq!(out, enc(&msg).into_bytes());
            }
        }
    }

    #[test]
    fn encode_appends() {
        let mut out = b"prefix".to_vec();
        encode(
            &Message::Unsubscribed {
                request: 5,
                details: Dict::new(),
            },
            &mut out,
        );
        assert_eq!(out, b"prefix[35,5]");
    }

    proptest! {
        #[test]
        fn round_trip(msg in testing::message()) {
            let mut out = Vec::new();
            encode(&msg, &mut out);
            prop_assert!(std::str::from_utf8(&out).is_ok());
            prop_assert_eq!(decode(&mut out), Ok(msg));
        }

    }

    proptest! {
        // Cheap cases, so many of them.
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn garbage_never_panics(mut bytes in vec(any::<u8>(), 0..256)) {
            let _ = decode(&mut bytes);
        }

        #[test]
        fn json_like_garbage_never_panics(
            parts in vec(prop_oneof![
                Just("["), Just("]"), Just("{"), Just("}"), Just(","), Just(":"), Just("1"),
                Just("-1"), Just("1.5e3"), Just("\"s\""), Just("\"\\u0000AQ==\""), Just("null"),
                Just("36"), Just("16"), Just("9007199254740993"), Just("\"\\u0000*\""),
            ], 0..40)
        ) {
            let _ = decode(&mut parts.concat().into_bytes());
        }

        #[test]
        fn mutated_messages_never_panic(
            msg in testing::message(),
            flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut out = Vec::new();
            encode(&msg, &mut out);
            for (i, b) in flips {
                let i = i.index(out.len());
                out[i] = b;
            }
            let _ = decode(&mut out);
        }
    }
}
