//! Target `rawsocket`: the RawSocket handshake ([`parse_handshake`]) and framing
//! ([`RawReader::process`]) as the shell drives them, then each message decoded with the
//! negotiated serializer.
//!
//! Input: 1 byte offered-serializer mask, 1 byte configured `max_message_size` choice, 1 byte
//! chunking seed, then the client's byte stream (handshake first).
//!
//! Invariants: no panic; the handshake reply is well formed and agrees with the request (magic
//! octet, the client's serializer id, the router's length exponent, zero reserved octets, an
//! error code in 1..=4 on refusal; accepted exactly when the magic, reserved octets and an
//! offered serializer are right); `process` never reports more bytes consumed than it was
//! given and no message exceeds the limit; the stream gives the same events read whole, in
//! random reads or byte by byte; and every message re-framed with `write_message` reads back
//! as the same message.

use ferrobar::codec::Serializer;
use ferrobar::transport::rawsocket::{
    self, exponent_len, max_exponent, parse_handshake, Flow, HandshakeOutcome, RawError, RawEvent,
    RawReader, MAGIC,
};

use super::Input;

/// One thing the handshake or reader reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Handshake accepted.
    Accept(Serializer, usize, [u8; 4]),
    /// Handshake refused.
    Refuse([u8; 4]),
    /// Not a RawSocket client.
    NotRawSocket,
    /// A message.
    Message(Vec<u8>),
    /// A ping and its payload.
    Ping(Vec<u8>),
    /// A pong.
    Pong,
    /// The stream failed.
    Error(RawError),
}

fn check_handshake(hs: &[u8], offered: &[Serializer], router_l: u8, outcome: &HandshakeOutcome) {
    match outcome {
        HandshakeOutcome::Incomplete => {
            assert!(hs.len() < 4, "Incomplete with {} octets", hs.len());
            assert!(hs.first().is_none_or(|&b| b == MAGIC));
        }
        HandshakeOutcome::NotRawSocket => assert_ne!(hs[0], MAGIC),
        HandshakeOutcome::Refuse { reply, .. } => {
            assert_eq!(reply[0], MAGIC);
            assert_eq!(reply[1] & 0x0f, 0, "refusal with a serializer id");
            assert!(
                (1..=4).contains(&(reply[1] >> 4)),
                "error code {}",
                reply[1] >> 4
            );
            assert_eq!(&reply[2..], &[0, 0]);
            let acceptable = hs[2] == 0
                && hs[3] == 0
                && Serializer::from_rawsocket_id(hs[1] & 0x0f)
                    .is_some_and(|s| offered.contains(&s));
            assert!(!acceptable, "refused an acceptable handshake {hs:?}");
        }
        HandshakeOutcome::Accept {
            serializer,
            client_max_len,
            reply,
        } => {
            assert_eq!(hs[0], MAGIC);
            assert_eq!(&hs[2..4], &[0, 0], "accepted non-zero reserved octets");
            assert!(
                offered.contains(serializer),
                "accepted {serializer:?}, not offered"
            );
            assert_eq!(hs[1] & 0x0f, serializer.rawsocket_id());
            assert_eq!(*client_max_len, exponent_len(hs[1] >> 4));
            assert_eq!(
                *reply,
                [
                    MAGIC,
                    (router_l.min(15) << 4) | serializer.rawsocket_id(),
                    0,
                    0
                ]
            );
        }
    }
}

/// Reads `stream` as the shell does, in reads of the sizes `chunks` yields.
pub fn read_stream(
    stream: &[u8],
    offered: &[Serializer],
    max_message_size: usize,
    mut chunks: impl FnMut() -> usize,
) -> Vec<Event> {
    let router_l = max_exponent(max_message_size);
    let mut reader = RawReader::default();
    let mut session: Option<(Serializer, usize)> = None;
    let mut rbuf: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let n = chunks().clamp(1, rest.len());
        rbuf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        let (serializer, max_len) = match session {
            Some(s) => s,
            None => {
                let outcome = parse_handshake(&rbuf, offered, router_l);
                check_handshake(&rbuf, offered, router_l, &outcome);
                match outcome {
                    HandshakeOutcome::Incomplete => continue,
                    HandshakeOutcome::NotRawSocket => {
                        events.push(Event::NotRawSocket);
                        break;
                    }
                    HandshakeOutcome::Refuse { reply, .. } => {
                        events.push(Event::Refuse(reply));
                        break;
                    }
                    HandshakeOutcome::Accept {
                        serializer,
                        client_max_len,
                        reply,
                    } => {
                        events.push(Event::Accept(serializer, client_max_len, reply));
                        rbuf.drain(..4);
                        let s = (serializer, exponent_len(router_l));
                        session = Some(s);
                        s
                    }
                }
            }
        };
        let len = rbuf.len();
        let result = reader.process(&mut rbuf, max_len, |event| {
            match event {
                RawEvent::Message(data) => {
                    assert!(data.len() <= max_len, "message over the limit");
                    events.push(Event::Message(data.to_vec()));
                    let _ = serializer.decode(data);
                }
                RawEvent::Ping(data) => events.push(Event::Ping(data.to_vec())),
                RawEvent::Pong => events.push(Event::Pong),
            }
            Flow::Continue
        });
        match result {
            Ok(used) => {
                assert!(used <= len, "consumed {used} of {len} bytes");
                rbuf.drain(..used);
            }
            Err(e) => {
                events.push(Event::Error(e));
                break;
            }
        }
    }
    events
}

/// Runs one input; see the module docs.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let mask = input.u8();
    let offered: Vec<Serializer> = [Serializer::Json, Serializer::MsgPack, Serializer::Cbor]
        .into_iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, s)| s)
        .collect();
    let size_choice = input.u8();
    // 0..=511 (below the smallest exponent), powers of two and odd sizes up to 16 MiB.
    let max_message_size = match size_choice % 4 {
        0 => usize::from(size_choice),
        1 => rawsocket::MIN_MAX_LEN << (size_choice / 4 % 16),
        2 => (rawsocket::MIN_MAX_LEN << (size_choice / 4 % 16)) + 1,
        _ => rawsocket::MAX_LEN,
    };
    let seed = input.u8();
    let stream = input.rest();

    let whole = read_stream(stream, &offered, max_message_size, || usize::MAX);
    let mut state = u32::from(seed) | 1;
    let split = read_stream(stream, &offered, max_message_size, || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        1 + (state >> 16) as usize % 16
    });
    let bytewise = read_stream(stream, &offered, max_message_size, || 1);
    assert_eq!(whole, split, "reads split at random boundaries differ");
    assert_eq!(whole, bytewise, "byte-by-byte reads differ");

    // Re-frame every message and read it back.
    for event in &whole {
        if let Event::Message(payload) = event {
            let mut out = Vec::new();
            rawsocket::write_message(&mut out, payload).expect("a read message re-frames");
            let mut got = Vec::new();
            let used = RawReader::default()
                .process(&mut out, rawsocket::MAX_LEN, |e| {
                    if let RawEvent::Message(d) = e {
                        got.push(d.to_vec());
                    }
                    Flow::Continue
                })
                .expect("a written frame reads back");
            assert_eq!(used, payload.len() + 4);
            assert_eq!(got, vec![payload.clone()]);
        }
    }
}
