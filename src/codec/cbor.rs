//! `wamp.2.cbor`: CBOR (RFC 8949) via minicbor's low-level `Decoder` and `Encoder`.
//!
//! Decoding peeks at each item's type and dispatches to the matching `Decoder` method; definite
//! strings and byte strings are sliced straight out of the input. What a WAMP value cannot
//! carry is refused:
//!
//! - tags: the self-describe tag 55799 (`d9 d9 f7`), which any item may carry, is accepted
//!   (and dropped); so are the uint8 typed-array tags 64 and 68 (RFC 8746) on a byte string,
//!   which decode as bytes (cbor-x, in wampy.js and browsers, writes every `Uint8Array` so);
//!   every other tag (dates, bignums, ...) is [`DecodeError::Malformed`];
//! - simple values other than false/true/null/undefined (undefined decodes as `Null`, as
//!   JavaScript's `undefined` becomes `null` in JSON);
//! - negative integers below `i64::MIN`;
//! - map keys that are not text strings (WAMP dicts have string keys).
//!
//! Indefinite-length arrays, maps, text and byte strings are accepted on decode (chunks of a
//! text string must each be valid UTF-8, as RFC 8949 §3.2.3 requires); the encoder always
//! writes definite lengths, the shortest integer forms, and every float as a double.

use minicbor::data::Type;
use minicbor::decode::Error as CborError;
use minicbor::Decoder;

use super::wire::{self, ElementSource, ListSink};
use super::{DecodeError, MAX_DEPTH};
use crate::wamp::{Dict, Message, Payload, Value};

const SERIALIZER: &str = "CBOR";

/// The self-describe tag (RFC 8949 §3.4.6): "what follows is CBOR", no meaning of its own.
const SELF_DESCRIBE: u64 = 55799;

/// RFC 8746 typed arrays of unsigned bytes (64: uint8, 68: uint8 clamped): a byte string with
/// a JavaScript type attached, which WAMP carries as plain binary.
const UINT8_ARRAY: u64 = 64;
const UINT8_CLAMPED_ARRAY: u64 = 68;

/// The "break" stop code that ends an indefinite-length item.
const BREAK: u8 = 0xff;

/// Decodes one CBOR WAMP message.
///
/// Never panics: truncated or invalid input is [`DecodeError::Malformed`] (with the byte
/// offset), nesting beyond [`MAX_DEPTH`] (counting the message list itself) is
/// [`DecodeError::TooDeep`]. Elements after the ones the message type defines are still
/// checked for well-formedness, and bytes after the message are refused.
pub fn decode(bytes: &mut [u8]) -> Result<Message, DecodeError> {
    let bytes: &[u8] = bytes;
    let mut rd = Reader {
        d: Decoder::new(bytes),
    };
    rd.skip_self_describe()?;
    let remaining = match rd.datatype()? {
        Type::Array | Type::ArrayIndef => rd.wrap(|d| d.array())?,
        _ => return Err(DecodeError::NotAMessage),
    };
    let mut src = Elements { rd, remaining };
    let msg = wire::decode_message(&mut src)?;
    while src.has_next() {
        src.next_element()?;
    }
    if src.remaining.is_none() {
        // `has_next` returned false, so the break byte is next.
        src.rd.d.set_position(src.rd.d.position() + 1);
    }
    if src.rd.d.position() != bytes.len() {
        return Err(src.rd.malformed("trailing bytes after the message"));
    }
    Ok(msg)
}

/// Decodes one CBOR item as a plain [`Value`] (not a WAMP message): the MQTT bridge's `native`
/// payload mapping. Bytes after the item are refused.
pub fn decode_value(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut rd = Reader {
        d: Decoder::new(bytes),
    };
    rd.skip_self_describe()?;
    let v = rd.value(0)?;
    if rd.d.position() != bytes.len() {
        return Err(rd.malformed("trailing bytes after the value"));
    }
    Ok(v)
}

/// Appends the CBOR encoding of one plain [`Value`] to `out`.
pub fn encode_value(v: &Value, out: &mut Vec<u8>) {
    write_value(out, v);
}

/// A minicbor decoder that maps its errors to [`DecodeError`].
struct Reader<'a> {
    d: Decoder<'a>,
}

impl<'a> Reader<'a> {
    fn malformed(&self, detail: impl Into<String>) -> DecodeError {
        self.malformed_at(self.d.position(), detail)
    }

    fn malformed_at(&self, offset: usize, detail: impl Into<String>) -> DecodeError {
        DecodeError::Malformed {
            serializer: SERIALIZER,
            offset,
            detail: detail.into(),
        }
    }

    fn cbor_error(&self, e: CborError) -> DecodeError {
        let offset = e.position().unwrap_or(self.d.position());
        let detail = if e.is_end_of_input() {
            "unexpected end of input".to_owned()
        } else {
            e.to_string()
        };
        self.malformed_at(offset, detail)
    }

    /// Runs one minicbor read, mapping its error (truncation, mostly) to `Malformed`.
    #[inline]
    fn wrap<T>(
        &mut self,
        f: impl FnOnce(&mut Decoder<'a>) -> Result<T, CborError>,
    ) -> Result<T, DecodeError> {
        let r = f(&mut self.d);
        r.map_err(|e| self.cbor_error(e))
    }

    /// The type of the next item, without consuming it.
    #[inline]
    fn datatype(&self) -> Result<Type, DecodeError> {
        self.d.datatype().map_err(|e| self.cbor_error(e))
    }

    /// The byte at the current position, if any.
    #[inline]
    fn current(&self) -> Option<u8> {
        self.d.input().get(self.d.position()).copied()
    }

    /// Drops any self-describe tags in front of the next item; refuses every other tag.
    fn skip_self_describe(&mut self) -> Result<(), DecodeError> {
        let at = self.d.position();
        if self.tags()? {
            return Err(self.malformed_at(at, "a typed-array tag is only allowed on a value"));
        }
        Ok(())
    }

    /// Consumes the tags in front of the next item: self-describe tags are dropped, and a
    /// uint8 typed-array tag ends the run (true: a byte string must follow). Every other tag is
    /// refused.
    fn tags(&mut self) -> Result<bool, DecodeError> {
        // Tags are 0xc0..=0xdb; each loop turn consumes at least one byte, so this ends.
        while matches!(self.current(), Some(0xc0..=0xdb)) {
            let at = self.d.position();
            match self.wrap(|d| d.tag())?.as_u64() {
                SELF_DESCRIBE => {}
                UINT8_ARRAY | UINT8_CLAMPED_ARRAY => return Ok(true),
                tag => {
                    return Err(self.malformed_at(
                        at,
                        format!(
                            "CBOR tag {tag} is not supported by WAMP (only 55799, self-describe, \
                             and 64/68, byte arrays)"
                        ),
                    ))
                }
            }
        }
        Ok(false)
    }

    /// Upper bound for preallocating `len` elements: each takes at least one byte, so a forged
    /// length cannot make us allocate more than the input justifies.
    fn capacity(&self, len: u64) -> usize {
        let left = self.d.input().len().saturating_sub(self.d.position());
        usize::try_from(len).unwrap_or(usize::MAX).min(left)
    }

    /// A text string (definite, or indefinite as a series of definite chunks).
    fn string(&mut self, indefinite: bool) -> Result<String, DecodeError> {
        if !indefinite {
            return self.wrap(|d| d.str()).map(str::to_owned);
        }
        self.wrap(|d| {
            let mut out = String::new();
            for chunk in d.str_iter()? {
                out.push_str(chunk?);
            }
            Ok(out)
        })
    }

    /// A byte string (definite, or indefinite as a series of definite chunks).
    fn byte_string(&mut self, indefinite: bool) -> Result<Vec<u8>, DecodeError> {
        if !indefinite {
            return self.wrap(|d| d.bytes()).map(<[u8]>::to_vec);
        }
        self.wrap(|d| {
            let mut out = Vec::new();
            for chunk in d.bytes_iter()? {
                out.extend_from_slice(chunk?);
            }
            Ok(out)
        })
    }

    /// True while a container with `remaining` items (`None`: indefinite, ended by a break)
    /// has items left. Consumes the break of an indefinite container.
    fn more(&mut self, remaining: &mut Option<u64>) -> bool {
        match remaining {
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
            None => {
                if self.current() == Some(BREAK) {
                    self.d.set_position(self.d.position() + 1);
                    false
                } else {
                    // Truncated input also lands here; the item read then reports it.
                    true
                }
            }
        }
    }

    /// Decodes one value. `depth` is the number of enclosing lists/maps.
    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let byte_array = self.tags()?;
        let at = self.d.position();
        if byte_array {
            return match self.datatype()? {
                Type::Bytes => Ok(Value::Bytes(self.byte_string(false)?)),
                Type::BytesIndef => Ok(Value::Bytes(self.byte_string(true)?)),
                _ => Err(self.malformed_at(at, "a uint8 typed-array tag must wrap a byte string")),
            };
        }
        Ok(match self.datatype()? {
            Type::Null | Type::Undefined => {
                self.d.set_position(at + 1);
                Value::Null
            }
            Type::Bool => Value::Bool(self.wrap(|d| d.bool())?),
            Type::U8 | Type::U16 | Type::U32 | Type::U64 => Value::from(self.wrap(|d| d.u64())?),
            Type::I8 | Type::I16 | Type::I32 | Type::I64 => Value::Int(self.wrap(|d| d.i64())?),
            Type::Int => {
                return Err(self.malformed_at(at, "negative integer below -2^63 (out of range)"))
            }
            Type::F16 | Type::F32 | Type::F64 => Value::Float(self.wrap(|d| d.f64())?),
            Type::String => Value::Str(self.string(false)?),
            Type::StringIndef => Value::Str(self.string(true)?),
            Type::Bytes => Value::Bytes(self.byte_string(false)?),
            Type::BytesIndef => Value::Bytes(self.byte_string(true)?),
            Type::Array | Type::ArrayIndef => {
                if depth >= MAX_DEPTH {
                    return Err(DecodeError::TooDeep(MAX_DEPTH));
                }
                let mut remaining = self.wrap(|d| d.array())?;
                let mut list = Vec::with_capacity(self.capacity(remaining.unwrap_or(0)));
                while self.more(&mut remaining) {
                    list.push(self.value(depth + 1)?);
                }
                Value::List(list)
            }
            Type::Map | Type::MapIndef => {
                if depth >= MAX_DEPTH {
                    return Err(DecodeError::TooDeep(MAX_DEPTH));
                }
                let mut remaining = self.wrap(|d| d.map())?;
                // Duplicate keys are kept in order (no quadratic de-duplication on peer
                // input); lookups see the first.
                let mut entries = Vec::with_capacity(self.capacity(remaining.unwrap_or(0)));
                while self.more(&mut remaining) {
                    self.skip_self_describe()?;
                    let key = match self.datatype()? {
                        Type::String => self.string(false)?,
                        Type::StringIndef => self.string(true)?,
                        _ => return Err(self.malformed("map key is not a text string")),
                    };
                    entries.push((key, self.value(depth + 1)?));
                }
                Value::Dict(Dict(entries))
            }
            // `tags` consumed every tag it accepts.
            Type::Tag => return Err(self.malformed("unexpected tag")),
            Type::Simple => {
                return Err(self.malformed("CBOR simple values are not supported by WAMP"))
            }
            Type::Break => return Err(self.malformed("unexpected break (0xff)")),
            Type::Unknown(b) => {
                return Err(self.malformed(format!("reserved initial byte 0x{b:02x}")))
            }
        })
    }
}

/// The top-level array's elements, decoded one at a time.
struct Elements<'a> {
    rd: Reader<'a>,
    /// Elements left, or `None` for an indefinite-length array (ended by a break).
    remaining: Option<u64>,
}

impl ElementSource for Elements<'_> {
    #[inline]
    fn has_next(&self) -> bool {
        match self.remaining {
            Some(n) => n > 0,
            // Truncated input counts as "more": the element read then reports it.
            None => self.rd.current() != Some(BREAK),
        }
    }

    #[inline]
    fn next_element(&mut self) -> Result<Value, DecodeError> {
        if let Some(n) = &mut self.remaining {
            *n = n.saturating_sub(1);
        }
        self.rd.value(1)
    }
}

/// Appends the CBOR encoding of `msg` to `out`.
pub fn encode(msg: &Message, out: &mut Vec<u8>) {
    wire::encode_message(msg, &mut CborSink(out));
}

/// Appends the CBOR encoding of `[36, subscription, publication, details, args?, kwargs?]` to
/// `out`, from references (the fan-out hot path).
pub fn encode_event(
    subscription: u64,
    publication: u64,
    details: &Dict,
    payload: &Payload,
    out: &mut Vec<u8>,
) {
    wire::encode_event(
        &mut CborSink(out),
        subscription,
        publication,
        details,
        payload,
    );
}

type Encoder<'a> = minicbor::Encoder<&'a mut Vec<u8>>;

/// Writes into a `Vec<u8>` cannot fail (minicbor's error type for it is `Infallible`); this
/// documents that the result is deliberately dropped.
#[inline]
fn infallible<T, E>(r: Result<T, E>) {
    debug_assert!(r.is_ok(), "writing to a Vec failed");
}

#[inline]
fn enc(out: &mut Vec<u8>) -> Encoder<'_> {
    minicbor::Encoder::new(out)
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    let mut e = enc(out);
    match v {
        Value::Null => infallible(e.null()),
        Value::Bool(b) => infallible(e.bool(*b)),
        // Non-negative values get the unsigned major type, the most compact form.
        Value::Int(i) => infallible(e.i64(*i)),
        Value::UInt(u) => infallible(e.u64(*u)),
        Value::Float(f) => infallible(e.f64(*f)),
        Value::Str(s) => infallible(e.str(s)),
        Value::Bytes(b) => infallible(e.bytes(b)),
        Value::List(l) => write_list(out, l),
        Value::Dict(d) => write_dict(out, d),
    }
}

fn write_list(out: &mut Vec<u8>, l: &[Value]) {
    infallible(enc(out).array(l.len() as u64));
    for v in l {
        write_value(out, v);
    }
}

fn write_dict(out: &mut Vec<u8>, d: &Dict) {
    infallible(enc(out).map(d.len() as u64));
    for (k, v) in &d.0 {
        infallible(enc(out).str(k));
        write_value(out, v);
    }
}

/// The top-level message array.
struct CborSink<'a>(&'a mut Vec<u8>);

impl ListSink for CborSink<'_> {
    fn begin_list(&mut self, len: usize) {
        infallible(enc(self.0).array(len as u64));
    }

    fn uint(&mut self, v: u64) {
        infallible(enc(self.0).u64(v));
    }

    fn string(&mut self, s: &str) {
        infallible(enc(self.0).str(s));
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
#[path = "cbor_tests.rs"]
mod tests;
