//! Allocation-free reading of the hot messages (EVENT, PUBLISHED, RESULT, INVOCATION): the
//! top-level list is walked element by element, giving each element's byte span and, when it is
//! a non-negative integer, its value. Nothing is built; a payload can be echoed by copying its
//! span. Everything else goes through ferrobar's full decoder.
//!
//! Never panics and never reads out of bounds, whatever the bytes.

use crate::ser::Serializer;

/// One element of a list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Elem {
    /// Start offset in the buffer.
    pub start: usize,
    /// End offset (exclusive).
    pub end: usize,
    /// The value, when the element is an integer in [0, 2^64).
    pub uint: Option<u64>,
}

/// The bytes are not a well-formed list of the serializer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkimError;

/// Reads a list's elements one at a time, inspecting nothing beyond the element asked for.
#[derive(Debug, Clone)]
pub struct ListReader<'a> {
    ser: Serializer,
    b: &'a [u8],
    /// Start of the next element.
    pos: usize,
    /// MessagePack: elements left. JSON: 0 once the closing bracket was seen, else 1.
    left: u64,
}

impl<'a> ListReader<'a> {
    /// Starts reading the list at the beginning of `b`.
    pub fn new(ser: Serializer, b: &'a [u8]) -> Result<Self, SkimError> {
        let (pos, left) = match ser {
            Serializer::Json => {
                let i = skip_ws(b, 0);
                if b.get(i) != Some(&b'[') {
                    return Err(SkimError);
                }
                let i = skip_ws(b, i + 1);
                (i, u64::from(b.get(i) != Some(&b']')))
            }
            Serializer::MsgPack => match b.first() {
                Some(&m @ 0x90..=0x9f) => (1, u64::from(m & 0x0f)),
                Some(0xdc) => (3, be(b, 1, 2)?),
                Some(0xdd) => (5, be(b, 1, 4)?),
                _ => return Err(SkimError),
            },
        };
        Ok(ListReader { ser, b, pos, left })
    }

    /// The next element, or `None` at the end of the list.
    pub fn next_elem(&mut self) -> Result<Option<Elem>, SkimError> {
        if self.left == 0 {
            return Ok(None);
        }
        let (b, i) = (self.b, self.pos);
        match self.ser {
            Serializer::Json => {
                let (end, uint) = json_value(b, i)?;
                let j = skip_ws(b, end);
                match b.get(j) {
                    Some(b',') => self.pos = skip_ws(b, j + 1),
                    Some(b']') => self.left = 0,
                    _ => return Err(SkimError),
                }
                Ok(Some(Elem {
                    start: i,
                    end,
                    uint,
                }))
            }
            Serializer::MsgPack => {
                let end = msgpack_skip(b, i)?;
                self.pos = end;
                self.left -= 1;
                Ok(Some(Elem {
                    start: i,
                    end,
                    uint: msgpack_uint(b, i),
                }))
            }
        }
    }

    /// The next element as a non-negative integer (`None`: absent or not such an integer).
    pub fn next_uint(&mut self) -> Result<Option<u64>, SkimError> {
        Ok(self.next_elem()?.and_then(|e| e.uint))
    }

    /// Where the next element starts, if there is one (it is not inspected).
    pub fn rest(&self) -> Option<usize> {
        (self.left > 0 && self.pos < self.b.len()).then_some(self.pos)
    }
}

/// Fills `out` with the first `out.len()` elements of the list in `buf` (fewer if the list is
/// shorter); returns how many were filled. Elements past those are not inspected.
pub fn list(ser: Serializer, buf: &[u8], out: &mut [Elem]) -> Result<usize, SkimError> {
    list_head(ser, buf, out).map(|(n, _)| n)
}

/// Like [`list`], and also returns where the element after the filled ones starts, if the
/// list goes on (that element is not inspected).
pub fn list_head(
    ser: Serializer,
    buf: &[u8],
    out: &mut [Elem],
) -> Result<(usize, Option<usize>), SkimError> {
    let mut r = ListReader::new(ser, buf)?;
    let mut n = 0;
    while n < out.len() {
        match r.next_elem()? {
            Some(e) => out[n] = e,
            None => break,
        }
        n += 1;
    }
    Ok((n, r.rest()))
}

// ---------------------------------------------------------------- JSON

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// `i` at an opening quote; returns the index after the closing quote.
fn json_skip_string(b: &[u8], mut i: usize) -> Result<usize, SkimError> {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'"' => return Ok(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    Err(SkimError)
}

/// Skips one JSON value starting at `i` (no leading whitespace); returns its end.
fn json_skip_value(b: &[u8], i: usize) -> Result<usize, SkimError> {
    match b.get(i) {
        None => Err(SkimError),
        Some(b'"') => json_skip_string(b, i),
        Some(b'[') | Some(b'{') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = json_skip_string(b, j)?;
                        continue;
                    }
                    b'[' | b'{' => depth += 1,
                    b']' | b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            Err(SkimError)
        }
        Some(b']') | Some(b'}') | Some(b',') | Some(b':') => Err(SkimError),
        Some(_) => {
            // A scalar: number, true, false, null.
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            Ok(j)
        }
    }
}

/// One JSON value at `i` (no leading whitespace): its end, and its value if it is a
/// non-negative integer (digits are read once, while scanning).
fn json_value(b: &[u8], i: usize) -> Result<(usize, Option<u64>), SkimError> {
    if b.get(i).is_some_and(u8::is_ascii_digit) {
        // Up to 19 digits cannot overflow a u64: no checks in the loop.
        let mut j = i;
        let mut v: u64 = 0;
        while let Some(&c) = b.get(j) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            v = v.wrapping_mul(10).wrapping_add(u64::from(d));
            j += 1;
        }
        let digits = &b[i..j];
        let mut v = match digits.len() {
            0..=19 => Some(v),
            20 => digits.iter().try_fold(0u64, |acc, &c| {
                acc.checked_mul(10)?.checked_add(u64::from(c - b'0'))
            }),
            _ => None,
        };
        if digits.len() > 1 && digits[0] == b'0' {
            v = None; // a leading zero is not JSON
        }
        if b.get(j)
            .is_none_or(|c| matches!(c, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r'))
        {
            return Ok((j, v));
        }
        // 1.5, 1e3: a number, not an integer.
        return json_skip_value(b, j).map(|end| (end, None));
    }
    json_skip_value(b, i).map(|end| (end, None))
}

// ---------------------------------------------------------------- MessagePack

fn be(b: &[u8], i: usize, n: usize) -> Result<u64, SkimError> {
    let s = b
        .get(i..i.checked_add(n).ok_or(SkimError)?)
        .ok_or(SkimError)?;
    Ok(s.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
}

/// The integer at `i`, if the marker there is a non-negative integer.
fn msgpack_uint(b: &[u8], i: usize) -> Option<u64> {
    let m = *b.get(i)?;
    match m {
        0x00..=0x7f => Some(u64::from(m)),
        0xcc => be(b, i + 1, 1).ok(),
        0xcd => be(b, i + 1, 2).ok(),
        0xce => be(b, i + 1, 4).ok(),
        0xcf => be(b, i + 1, 8).ok(),
        0xd0 => be(b, i + 1, 1).ok().filter(|v| *v < 0x80),
        0xd1 => be(b, i + 1, 2).ok().filter(|v| *v < 0x8000),
        0xd2 => be(b, i + 1, 4).ok().filter(|v| *v < 0x8000_0000),
        0xd3 => be(b, i + 1, 8).ok().filter(|v| *v < 1 << 63),
        _ => None,
    }
}

/// One marker: bytes it occupies itself (header plus inline data) and how many child values
/// follow it.
fn msgpack_marker(b: &[u8], i: usize) -> Result<(u64, u64), SkimError> {
    let m = *b.get(i).ok_or(SkimError)?;
    Ok(match m {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (1, 0),
        0x80..=0x8f => (1, 2 * u64::from(m & 0x0f)),
        0x90..=0x9f => (1, u64::from(m & 0x0f)),
        0xa0..=0xbf => (1 + u64::from(m & 0x1f), 0),
        0xc4 | 0xd9 => (2 + be(b, i + 1, 1)?, 0),
        0xc5 | 0xda => (3 + be(b, i + 1, 2)?, 0),
        0xc6 | 0xdb => (5 + be(b, i + 1, 4)?, 0),
        0xc7 => (3 + be(b, i + 1, 1)?, 0),
        0xc8 => (4 + be(b, i + 1, 2)?, 0),
        0xc9 => (6 + be(b, i + 1, 4)?, 0),
        0xca => (5, 0),
        0xcb => (9, 0),
        0xcc | 0xd0 => (2, 0),
        0xcd | 0xd1 => (3, 0),
        0xce | 0xd2 => (5, 0),
        0xcf | 0xd3 => (9, 0),
        0xd4 => (3, 0),
        0xd5 => (4, 0),
        0xd6 => (6, 0),
        0xd7 => (10, 0),
        0xd8 => (18, 0),
        0xdc => (3, be(b, i + 1, 2)?),
        0xdd => (5, be(b, i + 1, 4)?),
        0xde => (3, 2 * be(b, i + 1, 2)?),
        0xdf => (5, 2 * be(b, i + 1, 4)?),
        0xc1 => return Err(SkimError),
    })
}

/// Skips one MessagePack value at `i`; returns its end. Iterative: containers just add their
/// children to the count of values still to skip, so nesting costs no stack.
fn msgpack_skip(b: &[u8], i: usize) -> Result<usize, SkimError> {
    let mut pos = i;
    let mut remaining: u64 = 1;
    while remaining > 0 {
        remaining -= 1;
        let (size, children) = msgpack_marker(b, pos)?;
        let size = usize::try_from(size).map_err(|_| SkimError)?;
        pos = pos.checked_add(size).ok_or(SkimError)?;
        if pos > b.len() {
            return Err(SkimError);
        }
        // Every child takes at least one byte, so a count beyond the bytes left is bogus.
        remaining = remaining.checked_add(children).ok_or(SkimError)?;
        if remaining > (b.len() - pos) as u64 {
            return Err(SkimError);
        }
    }
    Ok(pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrobar::wamp::{Dict, Message, Payload, Value};

    fn event(details: Dict, args: Vec<Value>) -> Message {
        Message::Event {
            subscription: 123_456,
            publication: (1 << 53) - 1,
            details,
            payload: Payload::args(args),
        }
    }

    fn tricky_details() -> Dict {
        Dict::new()
            .with("topic", "com.a\"]},[{b")
            .with(
                "nested",
                Value::List(vec![Value::Dict(Dict::new().with("x", 1u64))]),
            )
            .with("f", Value::Float(-1.5))
            .with("neg", Value::Int(-7))
            .with("bin", Value::Bytes(vec![0, 1, 2, 255]))
    }

    #[test]
    fn reads_events_of_both_serializers() {
        for ser in [Serializer::Json, Serializer::MsgPack] {
            for details in [Dict::new(), tricky_details()] {
                let args = vec![
                    Value::Int(3),
                    Value::Int(70_000),
                    Value::Int(123_456_789_012),
                    Value::Str("x".repeat(300)),
                ];
                let mut buf = Vec::new();
                ser.encode(&event(details.clone(), args), &mut buf);
                let mut el = [Elem::default(); 6];
                let n = list(ser, &buf, &mut el).unwrap();
                assert_eq!(n, 5, "{ser:?}");
                assert_eq!(el[0].uint, Some(36));
                assert_eq!(el[1].uint, Some(123_456));
                assert_eq!(el[2].uint, Some((1 << 53) - 1));
                assert_eq!(el[3].uint, None);
                let args = &buf[el[4].start..el[4].end];
                let mut a = [Elem::default(); 3];
                assert_eq!(list(ser, args, &mut a).unwrap(), 3);
                let got: Vec<_> = a.iter().map(|e| e.uint).collect();
                assert_eq!(got, vec![Some(3), Some(70_000), Some(123_456_789_012)]);
            }
        }
    }

    #[test]
    fn head_points_at_the_next_element() {
        let mut two = [Elem::default(); 2];
        let b = b"[1, 2 , [3,4,\"x";
        assert_eq!(
            list_head(Serializer::Json, b, &mut two).unwrap(),
            (2, Some(8))
        );
        assert_eq!(
            list_head(Serializer::Json, b"[1,2]", &mut two).unwrap(),
            (2, None)
        );
        let mut three = [Elem::default(); 3];
        assert_eq!(
            list_head(Serializer::Json, b"[1,2]", &mut three).unwrap(),
            (2, None)
        );
        let mp = [0x93, 0x01, 0x02, 0x92, 0x03, 0x04];
        assert_eq!(
            list_head(Serializer::MsgPack, &mp, &mut two).unwrap(),
            (2, Some(3))
        );
        assert_eq!(
            list_head(Serializer::MsgPack, &mp[..3], &mut two).unwrap(),
            (2, None)
        );
        assert_eq!(
            list_head(Serializer::MsgPack, &mp, &mut three).unwrap().1,
            None
        );
    }

    #[test]
    fn json_whitespace_and_short_lists() {
        let b = b" [ 17 , 5 ,\n 99 ] ";
        let mut el = [Elem::default(); 4];
        assert_eq!(list(Serializer::Json, b, &mut el).unwrap(), 3);
        assert_eq!(el[2].uint, Some(99));
        assert_eq!(list(Serializer::Json, b"[]", &mut el).unwrap(), 0);
        // Stops after out.len() elements even if the rest is garbage.
        let mut two = [Elem::default(); 2];
        assert_eq!(
            list(Serializer::Json, b"[1,2,garbage", &mut two).unwrap(),
            2
        );
        // Not integers.
        assert_eq!(list(Serializer::Json, b"[-1,1.5,1e3]", &mut el).unwrap(), 3);
        assert!(el[..3].iter().all(|e| e.uint.is_none()));
        assert_eq!(
            list(Serializer::Json, b"[99999999999999999999999]", &mut el).unwrap(),
            1
        );
        assert_eq!(el[0].uint, None);
        let max = format!("[{},{}]", u64::MAX, u128::from(u64::MAX) + 1);
        assert_eq!(list(Serializer::Json, max.as_bytes(), &mut el).unwrap(), 2);
        assert_eq!((el[0].uint, el[1].uint), (Some(u64::MAX), None));
        assert_eq!(list(Serializer::Json, b"[0,007,10]", &mut el).unwrap(), 3);
        let got: Vec<_> = el[..3].iter().map(|e| e.uint).collect();
        assert_eq!(got, vec![Some(0), None, Some(10)]);
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        let cases: &[&[u8]] = &[
            b"", b"{}", b"[", b"[1,", b"[\"abc", b"[[[[", b"[1 2]", b"[,]", b"[\"\\", b"]",
        ];
        let mut el = [Elem::default(); 4];
        for c in cases {
            assert!(list(Serializer::Json, c, &mut el).is_err(), "{c:?}");
        }
        let mp: &[&[u8]] = &[
            b"",
            b"\x80",
            b"\x93\x01",
            b"\x93\xc1\x01\x02",
            b"\x92\xdd\xff\xff\xff\xff",
            b"\x91\xdb\x00\x00\x00\x10abc",
            b"\x91\x9f",
            b"\xdc\x00",
        ];
        for c in mp {
            assert!(list(Serializer::MsgPack, c, &mut el).is_err(), "{c:?}");
        }
        // Exhaustive over short byte strings: no panic.
        for a in 0..=255u8 {
            for b in [0u8, 1, 0x7f, 0x80, 0x91, 0xc4, 0xdc, 0xff] {
                let buf = [0x93, a, b, a];
                let _ = list(Serializer::MsgPack, &buf, &mut el);
                let buf = [b'[', a, b, b']'];
                let _ = list(Serializer::Json, &buf, &mut el);
            }
        }
    }

    #[test]
    fn msgpack_integer_widths() {
        let mut el = [Elem::default(); 8];
        let buf = [
            0x97, 0x05, 0xcc, 200, 0xcd, 1, 0, 0xce, 0, 1, 0, 0, 0xd0, 5, 0xd0, 0xff, 0xe0,
        ];
        assert_eq!(list(Serializer::MsgPack, &buf, &mut el).unwrap(), 7);
        let got: Vec<_> = el[..7].iter().map(|e| e.uint).collect();
        assert_eq!(
            got,
            vec![
                Some(5),
                Some(200),
                Some(256),
                Some(65536),
                Some(5),
                None,
                None
            ]
        );
    }
}
