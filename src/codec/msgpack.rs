//! `wamp.2.msgpack`: MessagePack via rmp's low-level reader and writer functions.
//!
//! Decoding peeks at each marker and dispatches to the matching `rmp::decode` function; strings
//! and binaries are sliced straight out of the input. Extension types have no WAMP meaning and
//! are refused, but for the one msgpackr (wampy.js, browsers) writes for JavaScript's
//! `undefined`, read as null as CBOR's `undefined` is; map keys must be strings (WAMP dicts
//! have string keys).

use std::fmt::Debug;

use rmp::decode::Bytes;
use rmp::Marker;

use super::wire::{self, ElementSource, ListSink};

/// msgpackr's `undefined`: fixext 1, type 0, data 0 (the value a JavaScript client sends for
/// an option it left out).
const MSGPACKR_UNDEFINED: [u8; 3] = [0xd4, 0x00, 0x00];
use super::{DecodeError, MAX_DEPTH};
use crate::wamp::{Dict, Message, Payload, Value};

const SERIALIZER: &str = "MessagePack";

/// Decodes one MessagePack WAMP message.
///
/// Never panics: truncated or invalid input is [`DecodeError::Malformed`] (with the byte
/// offset), nesting beyond [`MAX_DEPTH`] (counting the message list itself) is
/// [`DecodeError::TooDeep`]. Elements after the ones the message type defines are still
/// checked for well-formedness, and bytes after the message are refused.
pub fn decode(bytes: &mut [u8]) -> Result<Message, DecodeError> {
    let bytes: &[u8] = bytes;
    let mut rd = Reader {
        input: bytes,
        rd: Bytes::new(bytes),
    };
    let len = match rd.peek()? {
        Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
            rd.read(rmp::decode::read_array_len)?
        }
        _ => return Err(DecodeError::NotAMessage),
    };
    let mut src = Elements { rd, remaining: len };
    let msg = wire::decode_message(&mut src)?;
    while src.has_next() {
        src.next_element()?;
    }
    if !src.rd.rd.remaining_slice().is_empty() {
        return Err(src.rd.malformed("trailing bytes after the message"));
    }
    Ok(msg)
}

/// Decodes one MessagePack item as a plain [`Value`] (not a WAMP message): the MQTT bridge's
/// `native` payload mapping. Bytes after the item are refused.
pub fn decode_value(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut rd = Reader {
        input: bytes,
        rd: Bytes::new(bytes),
    };
    let v = rd.value(0)?;
    if !rd.rd.remaining_slice().is_empty() {
        return Err(rd.malformed("trailing bytes after the value"));
    }
    Ok(v)
}

/// Appends the MessagePack encoding of one plain [`Value`] to `out`.
pub fn encode_value(v: &Value, out: &mut Vec<u8>) {
    write_value(out, v);
}

/// A cursor over the input that knows its byte offset for error reports.
struct Reader<'a> {
    input: &'a [u8],
    rd: Bytes<'a>,
}

impl<'a> Reader<'a> {
    fn offset(&self) -> usize {
        self.input
            .len()
            .saturating_sub(self.rd.remaining_slice().len())
    }

    fn malformed(&self, detail: impl Into<String>) -> DecodeError {
        DecodeError::Malformed {
            serializer: SERIALIZER,
            offset: self.offset(),
            detail: detail.into(),
        }
    }

    /// Runs one rmp read function, mapping its error (truncation, mostly) to `Malformed`.
    fn read<T, E: Debug>(
        &mut self,
        f: impl FnOnce(&mut Bytes<'a>) -> Result<T, E>,
    ) -> Result<T, DecodeError> {
        let r = f(&mut self.rd);
        r.map_err(|e| self.malformed(format!("truncated or invalid data: {e:?}")))
    }

    /// The next marker, without consuming it.
    fn peek(&self) -> Result<Marker, DecodeError> {
        match self.rd.remaining_slice().first() {
            Some(&b) => Ok(Marker::from_u8(b)),
            None => Err(self.malformed("unexpected end of input")),
        }
    }

    /// Takes the next `len` bytes (a string's or a binary's data).
    fn take(&mut self, len: u32) -> Result<&'a [u8], DecodeError> {
        let rest = self.rd.remaining_slice();
        match usize::try_from(len)
            .ok()
            .and_then(|n| rest.split_at_checked(n))
        {
            Some((data, tail)) => {
                self.rd = Bytes::new(tail);
                Ok(data)
            }
            None => Err(self.malformed(format!(
                "{len} bytes of data announced, {} left",
                rest.len()
            ))),
        }
    }

    /// Upper bound for preallocating `len` elements: each takes at least one byte, so a forged
    /// length cannot make us allocate more than the input justifies.
    fn capacity(&self, len: u32) -> usize {
        usize::try_from(len)
            .unwrap_or(usize::MAX)
            .min(self.rd.remaining_slice().len())
    }

    fn str_data(&mut self) -> Result<&'a str, DecodeError> {
        let len = self.read(rmp::decode::read_str_len)?;
        let at = self.offset();
        let data = self.take(len)?;
        std::str::from_utf8(data).map_err(|e| DecodeError::Malformed {
            serializer: SERIALIZER,
            offset: at + e.valid_up_to(),
            detail: "string is not valid UTF-8".to_owned(),
        })
    }

    /// Decodes one value. `depth` is the number of enclosing lists/maps.
    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        use rmp::decode as d;
        Ok(match self.peek()? {
            Marker::Null => {
                self.read(d::read_nil)?;
                Value::Null
            }
            Marker::True | Marker::False => Value::Bool(self.read(d::read_bool)?),
            Marker::FixPos(_) | Marker::U8 | Marker::U16 | Marker::U32 | Marker::U64 => {
                Value::from(self.read(d::read_int::<u64, _>)?)
            }
            Marker::FixNeg(_) | Marker::I8 | Marker::I16 | Marker::I32 | Marker::I64 => {
                Value::Int(self.read(d::read_int::<i64, _>)?)
            }
            Marker::F32 => Value::Float(f64::from(self.read(d::read_f32)?)),
            Marker::F64 => Value::Float(self.read(d::read_f64)?),
            Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                Value::Str(self.str_data()?.to_owned())
            }
            Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => {
                let len = self.read(d::read_bin_len)?;
                Value::Bytes(self.take(len)?.to_vec())
            }
            Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
                if depth >= MAX_DEPTH {
                    return Err(DecodeError::TooDeep(MAX_DEPTH));
                }
                let len = self.read(d::read_array_len)?;
                let mut list = Vec::with_capacity(self.capacity(len));
                for _ in 0..len {
                    list.push(self.value(depth + 1)?);
                }
                Value::List(list)
            }
            Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
                if depth >= MAX_DEPTH {
                    return Err(DecodeError::TooDeep(MAX_DEPTH));
                }
                let len = self.read(d::read_map_len)?;
                // Duplicate keys are kept in order (no quadratic de-duplication on peer
                // input); lookups see the first.
                let mut entries = Vec::with_capacity(self.capacity(len));
                for _ in 0..len {
                    let key = match self.peek()? {
                        Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                            self.str_data()?.to_owned()
                        }
                        _ => return Err(self.malformed("map key is not a string")),
                    };
                    entries.push((key, self.value(depth + 1)?));
                }
                Value::Dict(Dict(entries))
            }
            Marker::FixExt1 if self.rd.remaining_slice().starts_with(&MSGPACKR_UNDEFINED) => {
                self.take(MSGPACKR_UNDEFINED.len() as u32)?;
                Value::Null
            }
            Marker::FixExt1
            | Marker::FixExt2
            | Marker::FixExt4
            | Marker::FixExt8
            | Marker::FixExt16
            | Marker::Ext8
            | Marker::Ext16
            | Marker::Ext32 => {
                return Err(self.malformed("extension types are not supported by WAMP"))
            }
            Marker::Reserved => return Err(self.malformed("reserved marker 0xc1")),
        })
    }
}

/// The top-level array's elements, decoded one at a time.
struct Elements<'a> {
    rd: Reader<'a>,
    remaining: u32,
}

impl ElementSource for Elements<'_> {
    #[inline]
    fn has_next(&self) -> bool {
        self.remaining > 0
    }

    #[inline]
    fn next_element(&mut self) -> Result<Value, DecodeError> {
        self.remaining = self.remaining.saturating_sub(1);
        self.rd.value(1)
    }
}

/// Appends the MessagePack encoding of `msg` to `out`.
pub fn encode(msg: &Message, out: &mut Vec<u8>) {
    wire::encode_message(msg, &mut MsgPackSink(out));
}

/// Appends the MessagePack encoding of `[36, subscription, publication, details, args?,
/// kwargs?]` to `out`, from references (the fan-out hot path).
pub fn encode_event(
    subscription: u64,
    publication: u64,
    details: &Dict,
    payload: &Payload,
    out: &mut Vec<u8>,
) {
    wire::encode_event(
        &mut MsgPackSink(out),
        subscription,
        publication,
        details,
        payload,
    );
}

/// Writes into a `Vec<u8>` cannot fail; this documents that the result is deliberately dropped.
#[inline]
fn infallible<T, E>(r: Result<T, E>) {
    debug_assert!(r.is_ok(), "writing to a Vec failed");
}

/// A length as MessagePack's u32. Nothing in memory has 2^32 elements or bytes in practice;
/// saturating keeps this total (the output would then be refused by the peer).
#[inline]
fn len32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    use rmp::encode as e;
    match v {
        Value::Null => infallible(e::write_nil(out)),
        Value::Bool(b) => infallible(e::write_bool(out, *b)),
        // Non-negative values get unsigned markers, the most compact form.
        Value::Int(i) => infallible(e::write_sint(out, *i)),
        Value::UInt(u) => infallible(e::write_uint(out, *u)),
        Value::Float(f) => infallible(e::write_f64(out, *f)),
        Value::Str(s) => infallible(e::write_str(out, s)),
        Value::Bytes(b) => infallible(e::write_bin(out, b)),
        Value::List(l) => write_list(out, l),
        Value::Dict(d) => write_dict(out, d),
    }
}

fn write_list(out: &mut Vec<u8>, l: &[Value]) {
    infallible(rmp::encode::write_array_len(out, len32(l.len())));
    for v in l {
        write_value(out, v);
    }
}

fn write_dict(out: &mut Vec<u8>, d: &Dict) {
    infallible(rmp::encode::write_map_len(out, len32(d.len())));
    for (k, v) in &d.0 {
        infallible(rmp::encode::write_str(out, k));
        write_value(out, v);
    }
}

/// The top-level message array.
struct MsgPackSink<'a>(&'a mut Vec<u8>);

impl ListSink for MsgPackSink<'_> {
    fn begin_list(&mut self, len: usize) {
        infallible(rmp::encode::write_array_len(self.0, len32(len)));
    }

    fn uint(&mut self, v: u64) {
        infallible(rmp::encode::write_uint(self.0, v));
    }

    fn string(&mut self, s: &str) {
        infallible(rmp::encode::write_str(self.0, s));
    }

    fn dict(&mut self, d: &Dict) {
        write_dict(self.0, d);
    }

    fn list(&mut self, l: &[Value]) {
        write_list(self.0, l);
    }

    fn end_list(&mut self) {}
}

#[cfg(test)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;
    use crate::codec::json;
    use crate::codec::wire::testing;

    fn dec(bytes: &[u8]) -> Result<Message, DecodeError> {
        decode(&mut bytes.to_vec())
    }

    fn enc(m: &Message) -> Vec<u8> {
        let mut out = Vec::new();
        encode(m, &mut out);
        out
    }

    /// MessagePack for a JSON text, written by a path independent of the codec under test
    /// (serde_json's parser, rmp's writers), with the JSON binary convention mapped to bin.
    fn from_json(text: &str) -> Vec<u8> {
        fn put(out: &mut Vec<u8>, v: &serde_json::Value) {
            use rmp::encode as e;
            match v {
                serde_json::Value::Null => e::write_nil(out).expect("vec"),
                serde_json::Value::Bool(b) => e::write_bool(out, *b).expect("vec"),
                serde_json::Value::Number(n) => {
                    if let Some(u) = n.as_u64() {
                        e::write_uint(out, u).map(drop).expect("vec")
                    } else if let Some(i) = n.as_i64() {
                        e::write_sint(out, i).map(drop).expect("vec")
                    } else {
                        e::write_f64(out, n.as_f64().expect("number")).expect("vec")
                    }
                }
                serde_json::Value::String(s) => match s.strip_prefix('\0') {
                    Some(b64) => {
                        use base64::Engine as _;
                        let b = base64::engine::general_purpose::STANDARD
                            .decode(b64)
                            .expect("b64");
                        e::write_bin(out, &b).expect("vec")
                    }
                    None => e::write_str(out, s).expect("vec"),
                },
                serde_json::Value::Array(a) => {
                    e::write_array_len(out, a.len() as u32).expect("vec");
                    a.iter().for_each(|v| put(out, v));
                }
                serde_json::Value::Object(o) => {
                    e::write_map_len(out, o.len() as u32).expect("vec");
                    for (k, v) in o {
                        e::write_str(out, k).expect("vec");
                        put(out, v);
                    }
                }
            }
        }
        let v: serde_json::Value = serde_json::from_str(text).expect("golden JSON");
        let mut out = Vec::new();
        put(&mut out, &v);
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

    /// `[36, 1, 2, {}, [<arg>]]` with one raw MessagePack argument.
    fn event_with_arg(arg: &[u8]) -> Vec<u8> {
        let mut b = vec![0x95, 36, 1, 2, 0x80, 0x91];
        b.extend_from_slice(arg);
        b
    }

    fn malformed_detail(r: Result<Message, DecodeError>) -> String {
        match r {
            Err(DecodeError::Malformed {
                serializer: "MessagePack",
                detail,
                ..
            }) => detail,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn hand_written_vectors() {
        let hello = b"\x93\x01\xa6realm1\x80";
        let want = Message::Hello {
            realm: "realm1".into(),
            details: Dict::new(),
        };
        assert_eq!(dec(hello), Ok(want.clone()));
        assert_eq!(enc(&want), hello);
        let event = [0x95, 0x24, 0x01, 0x02, 0x80, 0x91, 0xc4, 0x02, 0x01, 0x02];
        let want = Message::Event {
            subscription: 1,
            publication: 2,
            details: Dict::new(),
            payload: Payload::args(vec![Value::Bytes(vec![1, 2])]),
        };
        assert_eq!(dec(&event), Ok(want.clone()));
        assert_eq!(enc(&want), event);
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
    fn json_to_msgpack_to_json() {
        for (text, msg) in testing::golden() {
            let from_json = json::decode(&mut text.as_bytes().to_vec()).expect("golden");
            let packed = enc(&from_json);
            let back = dec(&packed).expect("re-decodes");
            assert_eq!(back, msg);
            let mut text_again = Vec::new();
            json::encode(&back, &mut text_again);
            assert_eq!(text_again, text.as_bytes());
        }
    }

    #[test]
    fn integers_normalise_and_encode_compactly() {
        let args = event_args(dec(&[
            0x95, 36, 1, 2, 0x80, 0x96, 0xcf, 0, 0, 0, 0, 0, 0, 0, 5, 0xd0, 5, 0xcf, 0x80, 0, 0, 0,
            0, 0, 0, 0, 0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xca, 0x3f, 0xc0, 0,
            0, 0xe0,
        ]));
        assert_eq!(
            args,
            vec![
                Value::Int(5),
                Value::Int(5),
                Value::UInt(1 << 63),
                Value::Int(-1),
                Value::Float(1.5),
                Value::Int(-32),
            ]
        );
        let m = Message::Result {
            request: 1,
            details: Dict::new(),
            payload: Payload::args(vec![
                Value::Int(5),
                Value::Int(-1),
                Value::Int(200),
                Value::UInt(u64::MAX),
            ]),
        };
        let want = [
            0x94, 50, 1, 0x80, 0x94, 5, 0xff, 0xcc, 200, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff,
        ];
        assert_eq!(enc(&m), want);
    }

    #[test]
    fn binary_both_ways() {
        let big = vec![7u8; 300];
        let mut bin16 = vec![0xc5, 0x01, 0x2c];
        bin16.extend_from_slice(&big);
        assert_eq!(
            event_args(dec(&event_with_arg(&bin16))),
            vec![Value::Bytes(big.clone())]
        );
        let m = Message::Yield {
            request: 9,
            options: Dict::new(),
            payload: Payload::args(vec![Value::Bytes(big)]),
        };
        let out = enc(&m);
        assert_eq!(&out[..8], &[0x94, 70, 9, 0x80, 0x91, 0xc5, 0x01, 0x2c]);
        assert_eq!(dec(&out), Ok(m));
    }

    #[test]
    fn msgpackr_undefined_reads_as_null() {
        // wampy.js 8 sends SUBSCRIBE options it was not given as `undefined`: [32, 1,
        // {"match": undefined}, "com.t"]. Read as null, which options treat as absent.
        let mut msg = vec![0x94, 32, 1, 0x81, 0xa5];
        msg.extend_from_slice(b"match");
        msg.extend_from_slice(&MSGPACKR_UNDEFINED);
        msg.extend_from_slice(&[0xa5]);
        msg.extend_from_slice(b"com.t");
        match dec(&msg) {
            Ok(Message::Subscribe { options, topic, .. }) => {
                assert_eq!(options.get("match"), Some(&Value::Null));
                assert_eq!(topic, "com.t");
            }
            other => panic!("expected SUBSCRIBE, got {other:?}"),
        }
        assert_eq!(
            event_args(dec(&event_with_arg(&MSGPACKR_UNDEFINED))),
            vec![Value::Null]
        );
    }

    #[test]
    fn refuses_what_wamp_cannot_carry() {
        let ext = malformed_detail(dec(&event_with_arg(&[0xd4, 0x01, 0x00])));
        assert!(ext.contains("extension"), "{ext}");
        let ext = malformed_detail(dec(&event_with_arg(&[0xd4, 0x00, 0x01])));
        assert!(ext.contains("extension"), "{ext}");
        let ext8 = malformed_detail(dec(&event_with_arg(&[0xc7, 0x01, 0x05, 0x00])));
        assert!(ext8.contains("extension"), "{ext8}");
        let reserved = malformed_detail(dec(&event_with_arg(&[0xc1])));
        assert!(reserved.contains("reserved"), "{reserved}");
        let utf8 = malformed_detail(dec(b"\x93\x01\xa2\xff\xfe\x80"));
        assert!(utf8.contains("UTF-8"), "{utf8}");
        let key = malformed_detail(dec(b"\x93\x01\xa1r\x81\x01\x02"));
        assert!(key.contains("key"), "{key}");
        let trailing = malformed_detail(dec(b"\x92\x23\x05\x00"));
        assert!(trailing.contains("trailing"), "{trailing}");
        // Extra elements are ignored but must still be well-formed.
        assert_eq!(
            dec(b"\x93\x23\x05\xc0"),
            Ok(Message::Unsubscribed {
                request: 5,
                details: Dict::new()
            })
        );
        malformed_detail(dec(b"\x93\x23\x05\xc1"));
    }

    #[test]
    fn truncations_and_forged_lengths_are_malformed() {
        for (text, _) in testing::golden() {
            let bytes = from_json(text);
            for cut in 0..bytes.len() {
                malformed_detail(dec(&bytes[..cut]));
            }
        }
        malformed_detail(dec(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]));
        malformed_detail(dec(&event_with_arg(&[0xdd, 0xff, 0xff, 0xff, 0xff])));
        malformed_detail(dec(&event_with_arg(&[0xdf, 0xff, 0xff, 0xff, 0xff])));
        malformed_detail(dec(&event_with_arg(&[0xdb, 0xff, 0xff, 0xff, 0xff, b'a'])));
        malformed_detail(dec(&event_with_arg(&[0xc6, 0xff, 0xff, 0xff, 0xff, 1])));
    }

    #[test]
    fn not_a_message_and_unknown_types() {
        for bytes in [
            &b"\x80"[..],
            b"\x90",
            b"\xa1x",
            b"\x91\xa11",
            b"\x91\xff",
            b"\x91\xcb\x3f\xf0\0\0\0\0\0\0",
            b"\xc0",
        ] {
            assert_eq!(dec(bytes), Err(DecodeError::NotAMessage), "{bytes:02x?}");
        }
        assert_eq!(dec(b"\x91\x07"), Err(DecodeError::UnknownType(7)));
        assert_eq!(
            dec(b"\x91\xcf\xff\xff\xff\xff\xff\xff\xff\xff"),
            Err(DecodeError::UnknownType(u64::MAX))
        );
    }

    #[test]
    fn bad_elements() {
        let e = |index, expected| DecodeError::BadElement {
            message: "PUBLISH",
            index,
            expected,
        };
        assert_eq!(
            dec(b"\x94\x10\xa11\x80\xa1t"),
            Err(e(1, "an id (integer in [0, 2^53])"))
        );
        assert_eq!(dec(b"\x94\x10\x01\x90\xa1t"), Err(e(2, "a dict")));
        assert_eq!(dec(b"\x93\x10\x01\x80"), Err(e(3, "a URI (string)")));
        assert_eq!(
            dec(b"\x95\x10\x01\x80\xa1t\x80"),
            Err(e(4, "a list (Arguments)"))
        );
        assert_eq!(
            dec(b"\x96\x10\x01\x80\xa1t\x90\x90"),
            Err(e(5, "a dict (ArgumentsKw)"))
        );
        let too_big = b"\x93\x02\xcf\x00\x20\x00\x00\x00\x00\x00\x01\x80";
        assert!(matches!(
            dec(too_big),
            Err(DecodeError::BadElement { index: 1, .. })
        ));
    }

    #[test]
    fn nesting_limit() {
        let nested = |levels: usize| {
            let mut b = vec![0x95, 36, 1, 2, 0x80];
            b.extend(std::iter::repeat_n(0x91, levels - 2));
            b.push(0x90);
            b
        };
        assert!(dec(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(
            dec(&nested(MAX_DEPTH + 1)),
            Err(DecodeError::TooDeep(MAX_DEPTH))
        );
        let mut maps = vec![0x95, 36, 1, 2];
        for _ in 0..MAX_DEPTH {
            maps.extend_from_slice(b"\x81\xa1a");
        }
        maps.push(0x80);
        assert_eq!(dec(&maps), Err(DecodeError::TooDeep(MAX_DEPTH)));
        assert_eq!(
            dec(&vec![0x91; 100_000]),
            Err(DecodeError::TooDeep(MAX_DEPTH))
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
        fn json_msgpack_json_round_trip(msg in testing::message()) {
            let mut text = Vec::new();
            json::encode(&msg, &mut text);
            let from_json = json::decode(&mut text).expect("own JSON decodes");
            let via_msgpack = dec(&enc(&from_json)).expect("own MessagePack decodes");
            prop_assert_eq!(&via_msgpack, &msg);
            let mut text_again = Vec::new();
            json::encode(&via_msgpack, &mut text_again);
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
        fn marker_soup_never_panics(
            bytes in vec(prop_oneof![
                Just(0x90u8), Just(0x91), Just(0x93), Just(0x81), Just(0xa1), Just(0xc4),
                Just(0xdc), Just(0xde), Just(0xd9), Just(0xcf), Just(0xd4), Just(0x24), Just(0x10),
                Just(0x00), Just(0xff), any::<u8>(),
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
}
