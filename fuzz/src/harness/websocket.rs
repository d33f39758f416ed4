//! Target `websocket`: WebSocket framing as the router uses it ([`WsReader::process`] over the
//! shell's read buffer, then each message decoded with the session's serializer).
//!
//! Input: 2 bytes `max_message`, 1 byte `max_frame` choice, 1 byte serializer, 1 byte chunking
//! seed, then the client's byte stream.
//!
//! Invariants: no panic; `process` never reports more bytes consumed than it was given; no
//! message exceeds `max_message`, no ping payload exceeds 125 bytes; and the stream read in
//! one piece gives exactly the same events and the same error as the stream split into
//! arbitrary reads (reassembly across reads is the shell's buffer plus the reader's state).

use ferrobar::codec::Serializer;
use ferrobar::transport::websocket::{Flow, WsError, WsEvent, WsLimits, WsReader};

use super::Input;

/// One thing the reader reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete message.
    Message(Vec<u8>, bool),
    /// A ping and its payload.
    Ping(Vec<u8>),
    /// The peer's close.
    Close(Option<u16>),
    /// The stream failed.
    Error(WsError),
}

/// Reads `stream` as the shell does, handing `process` reads of the sizes `chunks` yields
/// (`usize::MAX`: everything at once), and returns what was reported.
pub fn read_stream(
    stream: &[u8],
    limits: WsLimits,
    serializer: Serializer,
    mut chunks: impl FnMut() -> usize,
) -> Vec<Event> {
    let mut reader = WsReader::default();
    let mut rbuf: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let n = chunks().clamp(1, rest.len());
        rbuf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        let len = rbuf.len();
        let mut stop = false;
        let result = reader.process(&mut rbuf, limits, |event| match event {
            WsEvent::Message { data, binary } => {
                assert!(
                    data.len() <= limits.max_message_len(),
                    "a {} byte message passed the {} byte limit",
                    data.len(),
                    limits.max_message
                );
                let copy = data.to_vec();
                if binary == serializer.is_binary() {
                    // What the shell does with it; the decoder must cope with anything.
                    let _ = serializer.decode(data);
                }
                events.push(Event::Message(copy, binary));
                Flow::Continue
            }
            WsEvent::Ping(payload) => {
                assert!(payload.len() <= 125, "a ping payload over 125 bytes");
                events.push(Event::Ping(payload.to_vec()));
                Flow::Continue
            }
            WsEvent::Close { code } => {
                events.push(Event::Close(code));
                stop = true;
                Flow::Stop
            }
        });
        match result {
            Ok(used) => {
                assert!(used <= len, "consumed {used} of {len} bytes");
                if stop {
                    break;
                }
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
    let max_message = usize::from(input.u16());
    let max_frame = match input.u8() % 4 {
        0 => 0,
        1 => 125,
        2 => 1,
        _ => 1 << 16,
    };
    let serializer = input.pick(&[Serializer::Json, Serializer::MsgPack, Serializer::Cbor]);
    let seed = input.u8();
    let stream = input.rest();
    let limits = WsLimits::new(max_message, max_frame);
    let whole = read_stream(stream, limits, serializer, || usize::MAX);
    // A simple deterministic sequence of read sizes from the seed (1..=16 bytes).
    let mut state = u32::from(seed) | 1;
    let split = read_stream(stream, limits, serializer, || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        1 + (state >> 16) as usize % 16
    });
    let bytewise = read_stream(stream, limits, serializer, || 1);
    assert_eq!(whole, split, "reads split at random boundaries differ");
    assert_eq!(whole, bytewise, "byte-by-byte reads differ");
}
