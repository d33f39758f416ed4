//! WebSocket framing as the router uses it, over buffers the shell owns.
//!
//! Frame headers are parsed and formatted by tungstenite (`FrameHeader`); message reassembly,
//! masking and limits live here so that an idle connection holds no buffer at all (tungstenite's
//! own `WebSocket` allocates 128 KiB read and write buffers per connection) and so that a
//! complete unfragmented message is decoded in place, without a copy.

use std::io::Cursor;

use thiserror::Error;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

/// Close code: normal closure.
pub const CLOSE_NORMAL: u16 = 1000;
/// Close code: the endpoint is going away (router shutdown).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code: protocol error.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close code: message too big.
pub const CLOSE_TOO_BIG: u16 = 1009;

/// Why the peer's WebSocket stream cannot be read further.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WsError {
    /// A frame that breaks RFC 6455 (unmasked client frame, reserved bits or opcodes, a
    /// fragmented or oversized control frame, a continuation without a start).
    #[error("WebSocket protocol error: {0}")]
    Protocol(&'static str),
    /// A frame or reassembled message over the configured limit. Never buffered whole.
    #[error("WebSocket message of {size} bytes exceeds the limit of {limit} bytes")]
    TooBig {
        /// Size announced by the frame header (or reached by reassembly).
        size: u64,
        /// The configured limit.
        limit: usize,
    },
}

impl WsError {
    /// The close code to send for this error.
    pub fn close_code(&self) -> u16 {
        match self {
            WsError::Protocol(_) => CLOSE_PROTOCOL_ERROR,
            WsError::TooBig { .. } => CLOSE_TOO_BIG,
        }
    }
}

/// Size limits of one WebSocket connection. `u32`: every connection keeps its own copy, and
/// the config allows at most 16 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsLimits {
    /// Largest reassembled message.
    pub max_message: u32,
    /// Largest single frame (0: only `max_message` applies).
    pub max_frame: u32,
}

impl WsLimits {
    /// The limits for these sizes, saturated at `u32::MAX`.
    pub fn new(max_message: usize, max_frame: usize) -> Self {
        let saturate = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        WsLimits {
            max_message: saturate(max_message),
            max_frame: saturate(max_frame),
        }
    }

    /// The largest reassembled message, as a length.
    pub fn max_message_len(self) -> usize {
        usize::try_from(self.max_message).unwrap_or(usize::MAX)
    }
}

/// Something read from the peer.
#[derive(Debug)]
pub enum WsEvent<'a> {
    /// A complete data message; the slice may be modified (decoded in place).
    Message {
        /// The message bytes.
        data: &'a mut [u8],
        /// Sent as a binary (not text) message.
        binary: bool,
    },
    /// A ping; answer with a pong carrying the same bytes.
    Ping(&'a [u8]),
    /// The peer started or answered the closing handshake.
    Close {
        /// The close code, if the peer sent one.
        code: Option<u16>,
    },
}

/// What the caller wants after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading frames.
    Continue,
    /// Stop: the connection is closing.
    Stop,
}

/// Reassembly state of one connection's incoming messages. Empty (no allocation) between
/// fragmented messages.
#[derive(Debug, Default)]
pub struct WsReader {
    fragments: Vec<u8>,
    /// `Some(binary)` while a fragmented message is being reassembled.
    fragment_kind: Option<bool>,
}

impl WsReader {
    /// Parses every complete frame at the start of `buf` (unmasking in place), calling `on_event`
    /// for each message, ping and close. Returns how many bytes were consumed; the rest is an
    /// incomplete frame to keep for the next read.
    pub fn process(
        &mut self,
        buf: &mut [u8],
        limits: WsLimits,
        mut on_event: impl FnMut(WsEvent<'_>) -> Flow,
    ) -> Result<usize, WsError> {
        let mut pos = 0;
        while pos < buf.len() {
            let mut cursor = Cursor::new(&buf[pos..]);
            let (header, len) = match FrameHeader::parse(&mut cursor) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(_) => return Err(WsError::Protocol("malformed frame header")),
            };
            let header_len = cursor.position() as usize;
            check_header(&header, len, limits, self.fragments.len())?;
            // `check_header` bounded `len` by the limits, which are `usize`.
            let len = len as usize;
            let Some(end) = pos.checked_add(header_len).and_then(|p| p.checked_add(len)) else {
                return Err(WsError::Protocol("frame length overflows"));
            };
            if end > buf.len() {
                break;
            }
            let payload = &mut buf[pos + header_len..end];
            if let Some(mask) = header.mask {
                apply_mask(payload, mask);
            }
            pos = end;
            let flow = self.frame(header.opcode, header.is_final, payload, &mut on_event)?;
            if flow == Flow::Stop {
                break;
            }
        }
        Ok(pos)
    }

    fn frame(
        &mut self,
        opcode: OpCode,
        is_final: bool,
        payload: &mut [u8],
        on_event: &mut impl FnMut(WsEvent<'_>) -> Flow,
    ) -> Result<Flow, WsError> {
        match opcode {
            OpCode::Control(Control::Ping) => Ok(on_event(WsEvent::Ping(payload))),
            OpCode::Control(Control::Pong) => Ok(Flow::Continue),
            OpCode::Control(Control::Close) => {
                let code =
                    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                on_event(WsEvent::Close { code });
                Ok(Flow::Stop)
            }
            OpCode::Data(Data::Text) | OpCode::Data(Data::Binary) => {
                if self.fragment_kind.is_some() {
                    return Err(WsError::Protocol(
                        "new data frame while a fragmented message is open",
                    ));
                }
                let binary = opcode == OpCode::Data(Data::Binary);
                if is_final {
                    return Ok(on_event(WsEvent::Message {
                        data: payload,
                        binary,
                    }));
                }
                self.fragment_kind = Some(binary);
                self.fragments.extend_from_slice(payload);
                Ok(Flow::Continue)
            }
            OpCode::Data(Data::Continue) => {
                let Some(binary) = self.fragment_kind else {
                    return Err(WsError::Protocol(
                        "continuation frame without a message to continue",
                    ));
                };
                self.fragments.extend_from_slice(payload);
                if !is_final {
                    return Ok(Flow::Continue);
                }
                let mut message = std::mem::take(&mut self.fragments);
                self.fragment_kind = None;
                Ok(on_event(WsEvent::Message {
                    data: &mut message,
                    binary,
                }))
            }
            _ => Err(WsError::Protocol("reserved opcode")),
        }
    }
}

fn check_header(
    header: &FrameHeader,
    len: u64,
    limits: WsLimits,
    assembled: usize,
) -> Result<(), WsError> {
    if header.rsv1 || header.rsv2 || header.rsv3 {
        return Err(WsError::Protocol(
            "reserved bits set (no extension was negotiated)",
        ));
    }
    if header.mask.is_none() {
        return Err(WsError::Protocol("client frames must be masked"));
    }
    if let OpCode::Control(_) = header.opcode {
        if !header.is_final || len > 125 {
            return Err(WsError::Protocol(
                "control frames must be final and at most 125 bytes",
            ));
        }
        return Ok(());
    }
    if limits.max_frame > 0 && len > u64::from(limits.max_frame) {
        return Err(WsError::TooBig {
            size: len,
            limit: usize::try_from(limits.max_frame).unwrap_or(usize::MAX),
        });
    }
    let total = len.saturating_add(assembled as u64);
    if total > u64::from(limits.max_message) {
        return Err(WsError::TooBig {
            size: total,
            limit: limits.max_message_len(),
        });
    }
    Ok(())
}

/// XORs the client's masking key over the payload (RFC 6455 §5.3).
fn apply_mask(payload: &mut [u8], mask: [u8; 4]) {
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// Appends one unmasked, unfragmented server frame holding `payload`.
pub fn write_message(out: &mut Vec<u8>, payload: &[u8], binary: bool) {
    let opcode = if binary {
        OpCode::Data(Data::Binary)
    } else {
        OpCode::Data(Data::Text)
    };
    write_frame(out, opcode, payload);
}

/// Appends a ping carrying `payload` (at most 125 bytes).
pub fn write_ping(out: &mut Vec<u8>, payload: &[u8]) {
    write_frame(
        out,
        OpCode::Control(Control::Ping),
        &payload[..payload.len().min(125)],
    );
}

/// Appends a pong answering a ping with `payload`.
pub fn write_pong(out: &mut Vec<u8>, payload: &[u8]) {
    write_frame(out, OpCode::Control(Control::Pong), payload);
}

/// Appends a close frame with `code` and a reason (cut to fit a control frame).
pub fn write_close(out: &mut Vec<u8>, code: u16, reason: &str) {
    let mut cut = reason.len().min(123);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut payload = [0u8; 125];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    payload[2..2 + cut].copy_from_slice(&reason.as_bytes()[..cut]);
    write_frame(out, OpCode::Control(Control::Close), &payload[..2 + cut]);
}

fn write_frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    let header = FrameHeader {
        opcode,
        ..FrameHeader::default()
    };
    // Writing into a Vec cannot fail.
    let _ = header.format(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: WsLimits = WsLimits {
        max_message: 1024,
        max_frame: 0,
    };

    fn client_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mask = [0x11, 0x22, 0x33, 0x44];
        let mut out = vec![opcode | if fin { 0x80 } else { 0 }];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n < 65536 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn collect(reader: &mut WsReader, buf: &mut [u8]) -> (Result<usize, WsError>, Vec<String>) {
        let mut seen = Vec::new();
        let r = reader.process(buf, LIMITS, |e| {
            seen.push(match e {
                WsEvent::Message { data, binary } => format!(
                    "{}:{}",
                    if binary { "bin" } else { "text" },
                    String::from_utf8_lossy(data)
                ),
                WsEvent::Ping(p) => format!("ping:{}", String::from_utf8_lossy(p)),
                WsEvent::Close { code } => format!("close:{code:?}"),
            });
            Flow::Continue
        });
        (r, seen)
    }

    #[test]
    fn unmasks_and_reassembles_fragments_split_anywhere() {
        let mut stream = client_frame(0x1, false, b"[1,\"re");
        stream.extend(client_frame(0x9, true, b"hi"));
        stream.extend(client_frame(0x0, true, b"alm1\",{}]"));
        stream.extend(client_frame(0x2, true, b"bin"));
        for split in 0..stream.len() {
            let mut reader = WsReader::default();
            let mut first = stream[..split].to_vec();
            let (r1, mut seen) = collect(&mut reader, &mut first);
            let used = r1.unwrap();
            let mut rest = stream[used..].to_vec();
            let (r2, seen2) = collect(&mut reader, &mut rest);
            assert_eq!(r2.unwrap(), rest.len());
            seen.extend(seen2);
            assert_eq!(
                seen,
                vec!["ping:hi", "text:[1,\"realm1\",{}]", "bin:bin"],
                "split at {split}"
            );
        }
    }

    #[test]
    fn rejects_unmasked_reserved_and_oversized() {
        let mut unmasked = vec![0x81, 0x02, b'h', b'i'];
        assert_eq!(
            collect(&mut WsReader::default(), &mut unmasked).0,
            Err(WsError::Protocol("client frames must be masked"))
        );
        let mut rsv = client_frame(0x1 | 0x40, true, b"x");
        assert!(matches!(
            collect(&mut WsReader::default(), &mut rsv).0,
            Err(WsError::Protocol(_))
        ));
        let mut big = client_frame(0x2, true, &[0u8; 2000]);
        assert_eq!(
            collect(&mut WsReader::default(), &mut big).0,
            Err(WsError::TooBig {
                size: 2000,
                limit: 1024
            })
        );
        // An oversized frame is refused from its header alone, before its payload arrives.
        let mut header_only = big[..14].to_vec();
        assert!(matches!(
            collect(&mut WsReader::default(), &mut header_only).0,
            Err(WsError::TooBig { .. })
        ));
        let mut stray = client_frame(0x0, true, b"x");
        assert!(matches!(
            collect(&mut WsReader::default(), &mut stray).0,
            Err(WsError::Protocol(_))
        ));
    }

    #[test]
    fn fragments_count_against_the_message_limit() {
        let mut reader = WsReader::default();
        let mut stream = client_frame(0x2, false, &[0u8; 600]);
        stream.extend(client_frame(0x0, true, &[0u8; 600]));
        assert_eq!(
            collect(&mut reader, &mut stream).0,
            Err(WsError::TooBig {
                size: 1200,
                limit: 1024
            })
        );
    }

    #[test]
    fn close_stops_and_server_frames_are_well_formed() {
        let mut stream = client_frame(0x8, true, &1000u16.to_be_bytes());
        stream.extend(client_frame(0x1, true, b"after"));
        let (_, seen) = collect(&mut WsReader::default(), &mut stream);
        assert_eq!(seen, vec!["close:Some(1000)"]);

        let mut out = Vec::new();
        write_message(&mut out, &[7u8; 300], true);
        assert_eq!(&out[..4], &[0x82, 126, 0x01, 0x2c]);
        assert_eq!(out.len(), 304);
        let mut close = Vec::new();
        write_close(&mut close, CLOSE_GOING_AWAY, "bye");
        assert_eq!(close, vec![0x88, 5, 0x03, 0xe9, b'b', b'y', b'e']);
    }
}
