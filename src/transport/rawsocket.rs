//! WAMP RawSocket (the spec's `transport_rawsocket.md`) over buffers the shell owns: the
//! 4-octet handshake, and the 4-octet length prefix of every frame after it.
//!
//! Handshake, client to router: `0x7F`, `LLLL SSSS`, `0x00`, `0x00`. `SSSS` names the
//! serializer (1 JSON, 2 MessagePack, 3 CBOR, 4 UBJSON, 5 FlatBuffers; 0 is illegal) and `LLLL`
//! the largest message the client accepts, `2^(9+L)` octets (512 B to 16 MiB). The router
//! answers the same four octets with its own `LLLL`, or `0x7F, EEEE 0000, 0, 0` with an error
//! code `EEEE` and then closes.
//!
//! Frames: `RRRR XTTT` + a 24-bit big-endian length, then the payload. `RRRR` are reserved
//! (must be zero), `X` is a 25th length bit (set only for exactly 16 MiB), `TTT` is the frame
//! type: 0 a WAMP message, 1 a PING, 2 a PONG (echoing the PING's payload), 3 to 7 reserved.
//!
//! The first octet `0x7F` was chosen so that no HTTP request starts with it: a listener that
//! serves both (Crossbar's `universal` transport) looks at the first octet only.

use thiserror::Error;

use crate::codec::Serializer;
pub use crate::transport::websocket::Flow;

/// The first octet of a RawSocket handshake (and of the router's reply).
pub const MAGIC: u8 = 0x7F;

/// The smallest message-length limit a handshake can state (`LLLL` = 0): 512 octets.
pub const MIN_MAX_LEN: usize = 1 << 9;

/// The largest message a RawSocket frame can carry (`LLLL` = 15, and the `X` bit): 16 MiB.
pub const MAX_LEN: usize = 1 << 24;

/// Handshake error code: the serializer is not offered (or is the illegal 0).
pub const ERR_SERIALIZER_UNSUPPORTED: u8 = 1;
/// Handshake error code: the maximum message length is unacceptable. Every `LLLL` the wire can
/// express (512 B to 16 MiB) is acceptable to ferrobar, so it never sends this one.
pub const ERR_MAX_LEN_UNACCEPTABLE: u8 = 2;
/// Handshake error code: the reserved octets 3 and 4 are not zero.
pub const ERR_RESERVED_BITS: u8 = 3;
/// Handshake error code: the listener's connection limit is reached.
pub const ERR_MAX_CONNECTIONS: u8 = 4;

/// Frame type: a WAMP message.
const TYPE_MESSAGE: u8 = 0;
/// Frame type: a PING.
const TYPE_PING: u8 = 1;
/// Frame type: a PONG.
const TYPE_PONG: u8 = 2;

/// The result of looking at the first octets of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeOutcome {
    /// Fewer than 4 octets so far (and the first, if any, is `0x7F`); read more.
    Incomplete,
    /// The first octet is not `0x7F`: not a RawSocket client. A pure RawSocket listener closes
    /// the connection without a reply; a listener that also serves HTTP hands it over.
    NotRawSocket,
    /// The handshake is accepted: write `reply`, then speak framed WAMP. The 4 handshake
    /// octets are consumed; anything after them is already framed data.
    Accept {
        /// The serializer the client asked for (one of `offered`).
        serializer: Serializer,
        /// The largest message the client accepts (`2^(9+L)`, 512 B to 16 MiB). A larger
        /// outgoing message must not be sent: the client would fail the connection.
        client_max_len: usize,
        /// The router's handshake reply.
        reply: [u8; 4],
    },
    /// The handshake is refused: write `reply`, then close.
    Refuse {
        /// The router's error reply (`0x7F, EEEE 0000, 0, 0`).
        reply: [u8; 4],
        /// Why, for the log.
        reason: &'static str,
    },
}

/// The router's `LLLL` for a configured `max_message_size`: the largest `L` in `0..=15` with
/// `2^(9+L) <= max_message_size` (0 when the size is below 512). The router states it in its
/// handshake reply; it is what a compliant client keeps its messages under.
pub fn max_exponent(max_message_size: usize) -> u8 {
    let mut l = 0u8;
    while l < 15 && (MIN_MAX_LEN << (l + 1)) <= max_message_size {
        l += 1;
    }
    l
}

/// The message length `2^(9+L)` that an `LLLL` value states (only the low 4 bits count).
pub fn exponent_len(l: u8) -> usize {
    MIN_MAX_LEN << (l & 0x0f)
}

fn error_reply(code: u8) -> [u8; 4] {
    [MAGIC, code << 4, 0, 0]
}

/// Parses the client's handshake at the start of `buf`.
///
/// `offered` are the listener's serializers; `router_max_exponent` is the router's `LLLL`
/// (see [`max_exponent`]; values above 15 are clamped). Only `buf[..4]` is looked at.
pub fn parse_handshake(
    buf: &[u8],
    offered: &[Serializer],
    router_max_exponent: u8,
) -> HandshakeOutcome {
    match buf.first() {
        None => return HandshakeOutcome::Incomplete,
        Some(&b) if b != MAGIC => return HandshakeOutcome::NotRawSocket,
        Some(_) => {}
    }
    let Some(&[_, ls, r1, r2]) = buf.first_chunk::<4>() else {
        return HandshakeOutcome::Incomplete;
    };
    if r1 != 0 || r2 != 0 {
        return HandshakeOutcome::Refuse {
            reply: error_reply(ERR_RESERVED_BITS),
            reason: "the reserved handshake octets are not zero",
        };
    }
    let id = ls & 0x0f;
    let serializer = match Serializer::from_rawsocket_id(id) {
        Some(s) if offered.contains(&s) => s,
        _ => {
            let reason = match id {
                0 => "serializer id 0 is illegal",
                1..=3 => "the serializer is not offered on this transport",
                4 => "UBJSON is not supported",
                5 => "FlatBuffers is not supported",
                _ => "the serializer id is reserved",
            };
            return HandshakeOutcome::Refuse {
                reply: error_reply(ERR_SERIALIZER_UNSUPPORTED),
                reason,
            };
        }
    };
    let router_l = router_max_exponent.min(15);
    HandshakeOutcome::Accept {
        serializer,
        client_max_len: exponent_len(ls >> 4),
        reply: [MAGIC, (router_l << 4) | id, 0, 0],
    }
}

/// The reply refusing a connection because the listener's connection limit is reached
/// (error code 4); write it, then close.
pub fn refuse_max_connections() -> [u8; 4] {
    error_reply(ERR_MAX_CONNECTIONS)
}

/// Why the peer's RawSocket stream cannot be read further. Either way the connection fails
/// (the spec has no error frame after the handshake).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RawError {
    /// A frame prefix that breaks the spec: reserved bits or a reserved frame type.
    #[error("RawSocket protocol error: {0}")]
    Protocol(&'static str),
    /// A frame over the limit, refused from its prefix alone (never buffered).
    #[error("RawSocket frame of {size} bytes exceeds the limit of {limit} bytes")]
    TooBig {
        /// The length the prefix announces (or the payload length, when writing).
        size: u64,
        /// The limit.
        limit: usize,
    },
}

/// Something read from the peer.
#[derive(Debug)]
pub enum RawEvent<'a> {
    /// A complete WAMP message; the slice may be modified (decoded in place).
    Message(&'a mut [u8]),
    /// A PING; answer with a PONG carrying the same bytes ([`write_pong`]).
    Ping(&'a [u8]),
    /// A PONG (its payload is not looked at).
    Pong,
}

/// The incoming side of one RawSocket connection after the handshake. Frames are length
/// prefixed and the caller keeps a partial frame in its buffer until the rest arrives, so there
/// is no state between calls; the type exists so the shell holds a reader per connection as
/// for WebSocket, and to leave room for state later.
#[derive(Debug, Default)]
pub struct RawReader {
    _private: (),
}

/// Parses a frame prefix: the frame type and payload length, checked against `max_len`.
fn parse_prefix(prefix: [u8; 4], max_len: usize) -> Result<(u8, usize), RawError> {
    let [ctl, l0, l1, l2] = prefix;
    if ctl & 0xf0 != 0 {
        return Err(RawError::Protocol("reserved bits set in a frame prefix"));
    }
    let ty = ctl & 0x07;
    if ty > TYPE_PONG {
        return Err(RawError::Protocol("reserved frame type"));
    }
    let low = u32::from_be_bytes([0, l0, l1, l2]);
    let len = if ctl & 0x08 != 0 {
        if low != 0 {
            return Err(RawError::Protocol(
                "length bit X set with a length other than exactly 16 MiB",
            ));
        }
        MAX_LEN as u64
    } else {
        u64::from(low)
    };
    if len > max_len as u64 {
        return Err(RawError::TooBig {
            size: len,
            limit: max_len,
        });
    }
    // Bounded by `max_len`, a usize.
    Ok((ty, len as usize))
}

impl RawReader {
    /// Parses every complete frame at the start of `buf`, calling `on_event` for each message,
    /// ping and pong. Returns how many bytes were consumed; the rest is an incomplete frame to
    /// keep for the next read.
    ///
    /// `max_len` is the largest frame accepted (the router's configured `max_message_size`,
    /// which its handshake reply stated); a longer one is [`RawError::TooBig`] as soon as its
    /// prefix is in `buf`. Processing stops early when `on_event` returns [`Flow::Stop`].
    pub fn process(
        &mut self,
        buf: &mut [u8],
        max_len: usize,
        mut on_event: impl FnMut(RawEvent<'_>) -> Flow,
    ) -> Result<usize, RawError> {
        let mut pos = 0;
        while let Some(&prefix) = buf.get(pos..).and_then(|rest| rest.first_chunk::<4>()) {
            let (ty, len) = parse_prefix(prefix, max_len)?;
            let start = pos + 4;
            let Some(end) = start.checked_add(len) else {
                return Err(RawError::Protocol("frame length overflows"));
            };
            if end > buf.len() {
                break;
            }
            let payload = &mut buf[start..end];
            pos = end;
            let flow = match ty {
                TYPE_MESSAGE => on_event(RawEvent::Message(payload)),
                TYPE_PING => on_event(RawEvent::Ping(payload)),
                _ => on_event(RawEvent::Pong),
            };
            if flow == Flow::Stop {
                break;
            }
        }
        Ok(pos)
    }
}

fn write_frame(out: &mut Vec<u8>, ty: u8, payload: &[u8]) -> Result<(), RawError> {
    let len = payload.len();
    if len > MAX_LEN {
        return Err(RawError::TooBig {
            size: len as u64,
            limit: MAX_LEN,
        });
    }
    let ctl = if len == MAX_LEN { 0x08 | ty } else { ty };
    let [_, l0, l1, l2] = (len as u32).to_be_bytes();
    out.extend_from_slice(&[ctl, l0, l1, l2]);
    out.extend_from_slice(payload);
    Ok(())
}

/// Appends a WAMP message frame holding `payload`.
///
/// A payload over 16 MiB cannot be framed: nothing is written and the result is
/// [`RawError::TooBig`]. The caller must also keep to the peer's own limit (`client_max_len`
/// of the handshake), which may be smaller: a compliant client fails the connection on a
/// longer message.
pub fn write_message(out: &mut Vec<u8>, payload: &[u8]) -> Result<(), RawError> {
    write_frame(out, TYPE_MESSAGE, payload)
}

/// Appends a PING frame holding `payload` (the peer answers with a PONG echoing it). Over
/// 16 MiB: nothing is written, [`RawError::TooBig`].
pub fn write_ping(out: &mut Vec<u8>, payload: &[u8]) -> Result<(), RawError> {
    write_frame(out, TYPE_PING, payload)
}

/// Appends a PONG frame answering a PING with `payload`. A PING read through
/// [`RawReader::process`] is at most 16 MiB, so answering one cannot fail.
pub fn write_pong(out: &mut Vec<u8>, payload: &[u8]) -> Result<(), RawError> {
    write_frame(out, TYPE_PONG, payload)
}

#[cfg(test)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;

    const ALL: [Serializer; 3] = [Serializer::Cbor, Serializer::MsgPack, Serializer::Json];

    fn refuse_code(o: HandshakeOutcome) -> u8 {
        match o {
            HandshakeOutcome::Refuse { reply, .. } => {
                assert_eq!(reply[0], MAGIC);
                assert_eq!(reply[1] & 0x0f, 0);
                assert_eq!(&reply[2..], &[0, 0]);
                reply[1] >> 4
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn handshake_accepts_each_serializer_and_states_both_limits() {
        for (id, ser) in [
            (1, Serializer::Json),
            (2, Serializer::MsgPack),
            (3, Serializer::Cbor),
        ] {
            for l in 0..16u8 {
                let o = parse_handshake(&[0x7f, (l << 4) | id, 0, 0], &ALL, 15);
                assert_eq!(
                    o,
                    HandshakeOutcome::Accept {
                        serializer: ser,
                        client_max_len: 512 << l,
                        reply: [0x7f, 0xf0 | id, 0, 0],
                    }
                );
            }
            let o = parse_handshake(&[0x7f, 0xf0 | id, 0, 0, 0xaa, 0xbb], &[ser], 4);
            assert!(
                matches!(o, HandshakeOutcome::Accept { reply, .. } if reply == [0x7f, 0x40 | id, 0, 0])
            );
        }
        // Values above 15 are clamped.
        assert!(matches!(
            parse_handshake(&[0x7f, 0x12, 0, 0], &ALL, 200),
            HandshakeOutcome::Accept {
                reply: [0x7f, 0xf2, 0, 0],
                client_max_len: 1024,
                ..
            }
        ));
    }

    #[test]
    fn handshake_incomplete_and_not_rawsocket() {
        assert_eq!(parse_handshake(&[], &ALL, 15), HandshakeOutcome::Incomplete);
        for n in 1..4 {
            assert_eq!(
                parse_handshake(&[0x7f, 0x11, 0, 0][..n], &ALL, 15),
                HandshakeOutcome::Incomplete
            );
        }
        assert_eq!(
            parse_handshake(b"G", &ALL, 15),
            HandshakeOutcome::NotRawSocket
        );
        assert_eq!(
            parse_handshake(b"GET / HTTP/1.1\r\n", &ALL, 15),
            HandshakeOutcome::NotRawSocket
        );
        assert_eq!(
            parse_handshake(&[0x10, 0, 0, 0], &ALL, 15),
            HandshakeOutcome::NotRawSocket
        );
    }

    #[test]
    fn handshake_error_codes() {
        // 1: serializer unsupported (illegal 0, not offered, UBJSON, FlatBuffers, reserved).
        for ls in [0xf0, 0xf4, 0xf5, 0xf6, 0xff] {
            assert_eq!(
                refuse_code(parse_handshake(&[0x7f, ls, 0, 0], &ALL, 15)),
                ERR_SERIALIZER_UNSUPPORTED,
                "{ls:#x}"
            );
        }
        let json_only = [Serializer::Json];
        for id in [2, 3] {
            assert_eq!(
                refuse_code(parse_handshake(&[0x7f, 0xf0 | id, 0, 0], &json_only, 15)),
                1
            );
        }
        assert_eq!(
            refuse_code(parse_handshake(&[0x7f, 0x11, 0, 0], &[], 15)),
            1
        );
        // 3: reserved octets.
        for tail in [[1, 0], [0, 1], [0xff, 0xff]] {
            let o = parse_handshake(&[0x7f, 0xf1, tail[0], tail[1]], &ALL, 15);
            assert_eq!(refuse_code(o), ERR_RESERVED_BITS);
        }
        // Reserved octets are checked before the serializer.
        assert_eq!(
            refuse_code(parse_handshake(&[0x7f, 0x00, 0, 1], &ALL, 15)),
            3
        );
        // 4: the connection limit, sent by the shell.
        assert_eq!(refuse_max_connections(), [0x7f, 0x40, 0, 0]);
        assert_eq!(
            refuse_code(HandshakeOutcome::Refuse {
                reply: refuse_max_connections(),
                reason: ""
            }),
            ERR_MAX_CONNECTIONS
        );
        // 2 is never needed: every length the wire can state is acceptable.
        assert_eq!(ERR_MAX_LEN_UNACCEPTABLE, 2);
    }

    #[test]
    fn router_exponent_from_max_message_size() {
        let cases = [
            (0, 0),
            (1, 0),
            (511, 0),
            (512, 0),
            (1023, 0),
            (1024, 1),
            (65_535, 6),
            (65_536, 7),
            (1 << 20, 11),
            (MAX_LEN - 1, 14),
            (MAX_LEN, 15),
            (64 << 20, 15),
            (usize::MAX, 15),
        ];
        for (size, l) in cases {
            assert_eq!(max_exponent(size), l, "{size}");
        }
        for l in 0..16 {
            assert_eq!(max_exponent(exponent_len(l)), l);
            assert_eq!(exponent_len(l), 512 << l);
        }
    }

    fn frame(ty: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_frame(&mut out, ty, payload).unwrap();
        out
    }

    fn collect(
        reader: &mut RawReader,
        buf: &mut [u8],
        max_len: usize,
    ) -> (Result<usize, RawError>, Vec<String>) {
        let mut seen = Vec::new();
        let r = reader.process(buf, max_len, |e| {
            seen.push(match e {
                RawEvent::Message(data) => format!("msg:{}", String::from_utf8_lossy(data)),
                RawEvent::Ping(p) => format!("ping:{}", String::from_utf8_lossy(p)),
                RawEvent::Pong => "pong".to_owned(),
            });
            Flow::Continue
        });
        (r, seen)
    }

    #[test]
    fn frames_split_at_every_byte() {
        let mut stream = frame(0, b"[1,\"realm1\",{}]");
        stream.extend(frame(1, b"hi"));
        stream.extend(frame(0, b""));
        stream.extend(frame(2, b"hi"));
        stream.extend(frame(0, b"[6,{},\"x\"]"));
        let want = vec![
            "msg:[1,\"realm1\",{}]",
            "ping:hi",
            "msg:",
            "pong",
            "msg:[6,{},\"x\"]",
        ];
        for split in 0..=stream.len() {
            let mut reader = RawReader::default();
            let mut first = stream[..split].to_vec();
            let (r1, mut seen) = collect(&mut reader, &mut first, 1024);
            let used = r1.unwrap();
            assert!(used <= split);
            let mut rest = stream[used..].to_vec();
            let (r2, seen2) = collect(&mut reader, &mut rest, 1024);
            assert_eq!(r2.unwrap(), rest.len());
            seen.extend(seen2);
            assert_eq!(seen, want, "split at {split}");
        }
    }

    #[test]
    fn messages_are_mutable_in_place_and_stop_halts() {
        let mut stream = frame(0, b"abc");
        stream.extend(frame(0, b"def"));
        let mut n = 0;
        let used = RawReader::default()
            .process(&mut stream, 1024, |e| {
                if let RawEvent::Message(data) = e {
                    data[0] = b'X';
                    n += 1;
                }
                Flow::Stop
            })
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(used, 7);
        assert_eq!(&stream[4..7], b"Xbc");
    }

    #[test]
    fn ping_is_answered_with_an_echoing_pong() {
        let mut stream = frame(1, b"\x00\x01payload");
        let mut out = Vec::new();
        RawReader::default()
            .process(&mut stream, 1024, |e| {
                if let RawEvent::Ping(p) = e {
                    write_pong(&mut out, p).unwrap();
                }
                Flow::Continue
            })
            .unwrap();
        assert_eq!(out, [&[0x02, 0, 0, 9][..], b"\x00\x01payload"].concat());
        let mut ping = Vec::new();
        write_ping(&mut ping, b"").unwrap();
        assert_eq!(ping, [0x01, 0, 0, 0]);
    }

    #[test]
    fn reserved_bits_and_types_are_protocol_errors() {
        for ctl in [0x10, 0x20, 0x40, 0x80, 0xf0] {
            let mut buf = vec![ctl, 0, 0, 1, b'x'];
            assert_eq!(
                collect(&mut RawReader::default(), &mut buf, 1024).0,
                Err(RawError::Protocol("reserved bits set in a frame prefix")),
                "{ctl:#x}"
            );
        }
        for ty in 3..8 {
            let mut buf = vec![ty, 0, 0, 0];
            assert_eq!(
                collect(&mut RawReader::default(), &mut buf, 1024).0,
                Err(RawError::Protocol("reserved frame type")),
                "{ty}"
            );
        }
        // X with any other length bit is not exactly 16 MiB.
        let mut buf = vec![0x08, 0, 0, 1];
        assert!(matches!(
            collect(&mut RawReader::default(), &mut buf, MAX_LEN).0,
            Err(RawError::Protocol(_))
        ));
        // A good frame before a bad one is still delivered.
        let mut buf = frame(0, b"ok");
        buf.extend_from_slice(&[0x07, 0, 0, 0]);
        let (r, seen) = collect(&mut RawReader::default(), &mut buf, 1024);
        assert!(r.is_err());
        assert_eq!(seen, ["msg:ok"]);
    }

    #[test]
    fn too_big_from_the_prefix_alone() {
        let mut prefix = vec![0x00, 0x00, 0x04, 0x01];
        assert_eq!(
            collect(&mut RawReader::default(), &mut prefix, 1024).0,
            Err(RawError::TooBig {
                size: 1025,
                limit: 1024
            })
        );
        let mut ok = vec![0x00, 0x00, 0x04, 0x00];
        assert_eq!(collect(&mut RawReader::default(), &mut ok, 1024).0, Ok(0));
        // Pings count too.
        let mut ping = vec![0x01, 0x00, 0x04, 0x01];
        assert!(matches!(
            collect(&mut RawReader::default(), &mut ping, 1024).0,
            Err(RawError::TooBig { .. })
        ));
        // Exactly 16 MiB uses the X bit; it is too big for any smaller limit.
        let mut x = vec![0x08, 0, 0, 0];
        assert_eq!(collect(&mut RawReader::default(), &mut x, MAX_LEN).0, Ok(0));
        assert_eq!(
            collect(&mut RawReader::default(), &mut x, MAX_LEN - 1).0,
            Err(RawError::TooBig {
                size: MAX_LEN as u64,
                limit: MAX_LEN - 1
            })
        );
    }

    #[test]
    fn sixteen_mib_round_trips_with_the_x_bit() {
        let payload = vec![0x5a; MAX_LEN];
        let mut out = Vec::new();
        write_message(&mut out, &payload).unwrap();
        assert_eq!(&out[..4], &[0x08, 0, 0, 0]);
        assert_eq!(out.len(), MAX_LEN + 4);
        let mut got = 0;
        let used = RawReader::default()
            .process(&mut out, MAX_LEN, |e| {
                if let RawEvent::Message(d) = e {
                    got = d.len();
                }
                Flow::Continue
            })
            .unwrap();
        assert_eq!((used, got), (MAX_LEN + 4, MAX_LEN));
        let mut out = Vec::new();
        assert_eq!(
            write_message(&mut out, &vec![0; MAX_LEN + 1]),
            Err(RawError::TooBig {
                size: MAX_LEN as u64 + 1,
                limit: MAX_LEN
            })
        );
        assert!(out.is_empty());
    }

    #[test]
    fn write_message_prefix() {
        let mut out = Vec::new();
        write_message(&mut out, &[7u8; 300]).unwrap();
        assert_eq!(&out[..4], &[0x00, 0x00, 0x01, 0x2c]);
        assert_eq!(out.len(), 304);
        let mut out = Vec::new();
        write_message(&mut out, &vec![1u8; MAX_LEN - 1]).unwrap();
        assert_eq!(&out[..4], &[0x00, 0xff, 0xff, 0xff]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn random_bytes_never_panic(
            mut bytes in vec(any::<u8>(), 0..128),
            max_len in prop_oneof![Just(0usize), Just(16), 0usize..200, Just(MAX_LEN)],
        ) {
            let _ = parse_handshake(&bytes, &ALL, 15);
            let len = bytes.len();
            let mut reader = RawReader::default();
            if let Ok(used) = reader.process(&mut bytes, max_len, |_| Flow::Continue) {
                prop_assert!(used <= len);
            }
        }

        #[test]
        fn written_frames_read_back(
            payloads in vec((0u8..3, vec(any::<u8>(), 0..40)), 0..8),
            split in any::<prop::sample::Index>(),
        ) {
            let mut stream = Vec::new();
            for (ty, p) in &payloads {
                write_frame(&mut stream, *ty, p).unwrap();
            }
            let cut = split.index(stream.len() + 1);
            let mut reader = RawReader::default();
            let mut seen = Vec::new();
            let mut record = |e: RawEvent<'_>| {
                seen.push(match e {
                    RawEvent::Message(d) => (0, d.to_vec()),
                    RawEvent::Ping(p) => (1, p.to_vec()),
                    RawEvent::Pong => (2, Vec::new()),
                });
                Flow::Continue
            };
            let mut first = stream[..cut].to_vec();
            let used = reader.process(&mut first, 64, &mut record).unwrap();
            let mut rest = stream[used..].to_vec();
            prop_assert_eq!(reader.process(&mut rest, 64, &mut record).unwrap(), rest.len());
            let want: Vec<(u8, Vec<u8>)> = payloads
                .into_iter()
                .map(|(ty, p)| (ty, if ty == 2 { Vec::new() } else { p }))
                .collect();
            prop_assert_eq!(seen, want);
        }
    }
}
