//! WebSocket (RFC 6455) as a load generator needs it: the client handshake (GET upgrade with a
//! random key, 101 checked with httparse), masked client frames, reading server frames in place,
//! and the server side of the handshake for the ceiling's null router.
//!
//! Frame headers are parsed and formatted by tungstenite's `FrameHeader`. Nothing here
//! allocates per message except a fragmented message's reassembly.

use std::io::Cursor;

use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use crate::error::ConnError;

/// Close code: normal closure.
pub const CLOSE_NORMAL: u16 = 1000;

/// Largest HTTP upgrade head accepted (either side).
pub const MAX_HANDSHAKE: usize = 16 * 1024;

/// Writes the client's HTTP upgrade request.
pub fn write_client_request(
    out: &mut Vec<u8>,
    host: &str,
    path: &str,
    key: &str,
    subprotocol: &str,
) {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(256);
    // Writing into a String cannot fail.
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {subprotocol}\r\nUser-Agent: wampbench\r\n\r\n"
    );
    out.extend_from_slice(s.as_bytes());
}

/// A fresh random `Sec-WebSocket-Key`.
pub fn new_key() -> String {
    tungstenite::handshake::client::generate_key()
}

fn header<'h>(headers: &'h [httparse::Header<'_>], name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

fn header_has_token(headers: &[httparse::Header<'_>], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Parses the server's answer to the upgrade. `Ok(None)`: incomplete, read more.
/// `Ok(Some(n))`: a valid 101 of `n` bytes (frames may follow). Checks the status, the
/// `Upgrade`/`Connection` headers, the accept key and the negotiated subprotocol.
pub fn parse_server_response(
    buf: &[u8],
    key: &str,
    subprotocol: &str,
) -> Result<Option<usize>, ConnError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let n = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HANDSHAKE => {
            return Err(ConnError::Handshake("response head too large".into()))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            return Err(ConnError::Handshake(format!(
                "malformed HTTP response: {e}"
            )))
        }
    };
    let code = resp.code.unwrap_or(0);
    if code != 101 {
        return Err(ConnError::Handshake(format!(
            "HTTP {code} {} instead of 101 Switching Protocols",
            resp.reason.unwrap_or("")
        )));
    }
    let headers = resp.headers;
    if !header_has_token(headers, "Upgrade", "websocket") {
        return Err(ConnError::Handshake("no `Upgrade: websocket`".into()));
    }
    if !header_has_token(headers, "Connection", "upgrade") {
        return Err(ConnError::Handshake("no `Connection: Upgrade`".into()));
    }
    let expected = derive_accept_key(key.as_bytes());
    match header(headers, "Sec-WebSocket-Accept") {
        Some(v) if v == expected.as_bytes() => {}
        Some(_) => return Err(ConnError::Handshake("wrong Sec-WebSocket-Accept".into())),
        None => return Err(ConnError::Handshake("no Sec-WebSocket-Accept".into())),
    }
    match header(headers, "Sec-WebSocket-Protocol") {
        Some(v) if v.trim_ascii() == subprotocol.as_bytes() => Ok(Some(n)),
        Some(v) => Err(ConnError::Handshake(format!(
            "server chose subprotocol {:?}, asked for {subprotocol}",
            String::from_utf8_lossy(v)
        ))),
        None => Err(ConnError::Handshake(format!(
            "server did not accept subprotocol {subprotocol}"
        ))),
    }
}

/// A client's upgrade request as the null router sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    /// Bytes of the request head.
    pub len: usize,
    /// The client's key.
    pub key: String,
    /// Subprotocols offered, in order.
    pub protocols: Vec<String>,
}

/// Parses a client's upgrade request (null router side). `Ok(None)`: incomplete.
pub fn parse_client_request(buf: &[u8]) -> Result<Option<Upgrade>, ConnError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let n = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HANDSHAKE => {
            return Err(ConnError::Handshake("request head too large".into()))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ConnError::Handshake(format!("malformed HTTP request: {e}"))),
    };
    if req.method != Some("GET") {
        return Err(ConnError::Handshake("not a GET".into()));
    }
    let key = header(req.headers, "Sec-WebSocket-Key")
        .and_then(|k| std::str::from_utf8(k).ok())
        .map(|k| k.trim().to_owned())
        .ok_or_else(|| ConnError::Handshake("no Sec-WebSocket-Key".into()))?;
    let protocols = req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("Sec-WebSocket-Protocol"))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    Ok(Some(Upgrade {
        len: n,
        key,
        protocols,
    }))
}

/// Writes the null router's 101 answer.
pub fn write_server_response(out: &mut Vec<u8>, key: &str, subprotocol: &str) {
    let accept = derive_accept_key(key.as_bytes());
    out.extend_from_slice(
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {subprotocol}\r\n\r\n"
        )
        .as_bytes(),
    );
}

/// Masking keys for client frames: a xorshift generator per thread (a load generator's masks
/// need to vary, not to resist an attacker).
#[derive(Debug, Clone)]
pub struct Masker(u64);

impl Masker {
    /// A generator from a seed (any value; zero is replaced).
    pub fn new(seed: u64) -> Self {
        Masker(seed | 1)
    }

    /// The next masking key.
    pub fn next_key(&mut self) -> [u8; 4] {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        ((x >> 16) as u32).to_ne_bytes()
    }
}

/// XORs `key` over `buf` in place (RFC 6455 §5.3), eight bytes at a time.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        c.copy_from_slice(&(u64::from_ne_bytes(w) ^ wide).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

fn opcode(binary: bool) -> OpCode {
    if binary {
        OpCode::Data(Data::Binary)
    } else {
        OpCode::Data(Data::Text)
    }
}

fn write_frame(out: &mut Vec<u8>, op: OpCode, payload: &[u8], mask: Option<[u8; 4]>) {
    let header = FrameHeader {
        opcode: op,
        mask,
        ..FrameHeader::default()
    };
    // Writing into a Vec cannot fail.
    let _ = header.format(payload.len() as u64, out);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key);
    }
}

/// Appends one masked client data frame.
pub fn write_client_message(out: &mut Vec<u8>, payload: &[u8], binary: bool, key: [u8; 4]) {
    write_frame(out, opcode(binary), payload, Some(key));
}

/// Appends one masked client control frame (pong or close).
pub fn write_client_pong(out: &mut Vec<u8>, payload: &[u8], key: [u8; 4]) {
    let n = payload.len().min(125);
    write_frame(
        out,
        OpCode::Control(Control::Pong),
        &payload[..n],
        Some(key),
    );
}

/// Appends a masked client close frame with `code`.
pub fn write_client_close(out: &mut Vec<u8>, code: u16, key: [u8; 4]) {
    write_frame(
        out,
        OpCode::Control(Control::Close),
        &code.to_be_bytes(),
        Some(key),
    );
}

/// Appends one unmasked server data frame (null router).
pub fn write_server_message(out: &mut Vec<u8>, payload: &[u8], binary: bool) {
    write_frame(out, opcode(binary), payload, None);
}

/// Appends an unmasked server close frame (null router).
pub fn write_server_close(out: &mut Vec<u8>, code: u16) {
    write_frame(
        out,
        OpCode::Control(Control::Close),
        &code.to_be_bytes(),
        None,
    );
}

/// Something read from the peer.
#[derive(Debug)]
pub enum Frame<'a> {
    /// A complete data message, text or binary (may be modified in place: JSON decodes in
    /// place).
    Message(&'a mut [u8]),
    /// A ping to answer with a pong.
    Ping(&'a [u8]),
    /// The peer started or answered the closing handshake.
    Close(Option<u16>),
}

/// What the caller wants after a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading.
    Continue,
    /// Stop: the connection is closing.
    Stop,
}

/// `(header length, payload length)` of a final, unmasked, extension-free text or binary frame
/// with a 7- or 16-bit length at the start of `b`; `None` for anything else or too few bytes.
fn short_data_frame(b: &[u8]) -> Option<(usize, usize)> {
    let (&b0, &b1) = (b.first()?, b.get(1)?);
    if b0 != 0x81 && b0 != 0x82 {
        return None;
    }
    match b1 {
        0..=125 => Some((2, usize::from(b1))),
        126 => Some((4, usize::from(u16::from_be_bytes([*b.get(2)?, *b.get(3)?])))),
        _ => None,
    }
}

/// Reads frames from a byte buffer; reassembles fragmented messages (the only allocation).
/// Masked frames are unmasked in place, so the same reader serves both sides.
#[derive(Debug, Default)]
pub struct FrameReader {
    fragments: Vec<u8>,
    /// A fragmented message is being reassembled.
    fragmenting: bool,
}

impl FrameReader {
    /// Handles every complete frame at the start of `buf`; returns the bytes consumed (the rest
    /// is an incomplete frame to keep). Frames or messages over `max` bytes are an error.
    pub fn process(
        &mut self,
        buf: &mut [u8],
        max: usize,
        mut on_frame: impl FnMut(Frame<'_>) -> Flow,
    ) -> Result<usize, ConnError> {
        let mut pos = 0;
        while pos < buf.len() {
            // Fast path for what a router sends most: a final, unmasked text or binary frame
            // of up to 64 KiB with no extension bits. Everything else goes through tungstenite.
            if let Some((header_len, len)) = short_data_frame(&buf[pos..]) {
                if self.fragmenting {
                    return Err(ConnError::Ws(
                        "new message while a fragmented one is open".into(),
                    ));
                }
                if len > max {
                    return Err(ConnError::Ws(format!(
                        "message of {len} bytes exceeds the limit of {max}"
                    )));
                }
                let end = pos + header_len + len;
                if end > buf.len() {
                    break;
                }
                let flow = on_frame(Frame::Message(&mut buf[pos + header_len..end]));
                pos = end;
                if flow == Flow::Stop {
                    break;
                }
                continue;
            }
            let mut cursor = Cursor::new(&buf[pos..]);
            let (header, len) = match FrameHeader::parse(&mut cursor) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => return Err(ConnError::Ws(format!("bad frame header: {e}"))),
            };
            if header.rsv1 || header.rsv2 || header.rsv3 {
                return Err(ConnError::Ws("reserved bits set".into()));
            }
            let total = len.saturating_add(self.fragments.len() as u64);
            if total > max as u64 {
                return Err(ConnError::Ws(format!(
                    "message of {total} bytes exceeds the limit of {max}"
                )));
            }
            let start = pos + cursor.position() as usize;
            // `len` <= `max` (a usize) was checked above.
            let end = start + len as usize;
            if end > buf.len() {
                break;
            }
            let payload = &mut buf[start..end];
            if let Some(key) = header.mask {
                apply_mask(payload, key);
            }
            pos = end;
            let flow = match header.opcode {
                OpCode::Control(Control::Ping) => on_frame(Frame::Ping(payload)),
                OpCode::Control(Control::Pong) => Flow::Continue,
                OpCode::Control(Control::Close) => {
                    let code =
                        (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                    on_frame(Frame::Close(code));
                    Flow::Stop
                }
                OpCode::Data(Data::Text) | OpCode::Data(Data::Binary) => {
                    if self.fragmenting {
                        return Err(ConnError::Ws(
                            "new message while a fragmented one is open".into(),
                        ));
                    }
                    if header.is_final {
                        on_frame(Frame::Message(payload))
                    } else {
                        self.fragmenting = true;
                        self.fragments.extend_from_slice(payload);
                        Flow::Continue
                    }
                }
                OpCode::Data(Data::Continue) => {
                    if !self.fragmenting {
                        return Err(ConnError::Ws("continuation without a message".into()));
                    }
                    self.fragments.extend_from_slice(payload);
                    if header.is_final {
                        let mut message = std::mem::take(&mut self.fragments);
                        self.fragmenting = false;
                        on_frame(Frame::Message(&mut message))
                    } else {
                        Flow::Continue
                    }
                }
                _ => return Err(ConnError::Ws("reserved opcode".into())),
            };
            if flow == Flow::Stop {
                break;
            }
        }
        Ok(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(
        reader: &mut FrameReader,
        buf: &mut [u8],
    ) -> (Result<usize, ConnError>, Vec<String>) {
        let mut seen = Vec::new();
        let r = reader.process(buf, 1 << 20, |f| {
            seen.push(match f {
                Frame::Message(data) => format!("msg:{}", String::from_utf8_lossy(data)),
                Frame::Ping(p) => format!("ping:{}", String::from_utf8_lossy(p)),
                Frame::Close(code) => format!("close:{code:?}"),
            });
            Flow::Continue
        });
        (r, seen)
    }

    #[test]
    fn client_frames_are_masked_and_round_trip() {
        let mut masker = Masker::new(42);
        let mut out = Vec::new();
        let payload: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
        let key = masker.next_key();
        write_client_message(&mut out, &payload, true, key);
        // Mask bit set, 16-bit length, key present, payload not in clear.
        assert_eq!(out[0], 0x82);
        assert_eq!(out[1], 0x80 | 126);
        assert_eq!(&out[2..4], &300u16.to_be_bytes());
        assert_eq!(&out[4..8], &key);
        assert_ne!(&out[8..], &payload[..]);
        let mut reader = FrameReader::default();
        let mut seen = Vec::new();
        let n = reader
            .process(&mut out, 1 << 20, |f| {
                if let Frame::Message(data) = f {
                    seen.push(data.to_vec());
                }
                Flow::Continue
            })
            .unwrap();
        assert_eq!(n, 8 + 300);
        assert_eq!(seen, vec![payload]);
    }

    #[test]
    fn mask_matches_the_bytewise_definition() {
        let key = [1, 2, 3, 0xff];
        for len in 0..40 {
            let orig: Vec<u8> = (0..len as u8).collect();
            let mut fast = orig.clone();
            apply_mask(&mut fast, key);
            let slow: Vec<u8> = orig
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[i % 4])
                .collect();
            assert_eq!(fast, slow);
        }
        let mut m = Masker::new(0);
        assert_ne!(m.next_key(), m.next_key());
    }

    #[test]
    fn server_frames_split_anywhere_and_fragments() {
        let mut stream = Vec::new();
        write_server_message(&mut stream, b"[2,1,{}]", false);
        let long = "y".repeat(300);
        write_server_message(&mut stream, long.as_bytes(), true);
        // A fragmented binary message: "ab" + "cd".
        stream.extend_from_slice(&[0x02, 2, b'a', b'b', 0x80, 2, b'c', b'd']);
        stream.extend_from_slice(&[0x89, 1, b'p']); // ping
        write_server_close(&mut stream, 1000);
        for split in 0..stream.len() {
            let mut reader = FrameReader::default();
            let mut first = stream[..split].to_vec();
            let (r1, mut seen) = collect(&mut reader, &mut first);
            let used = r1.unwrap();
            let mut rest = stream[used..].to_vec();
            let (r2, seen2) = collect(&mut reader, &mut rest);
            assert_eq!(used + r2.unwrap(), stream.len(), "split {split}");
            seen.extend(seen2);
            assert_eq!(
                seen,
                vec![
                    "msg:[2,1,{}]".to_string(),
                    format!("msg:{long}"),
                    "msg:abcd".into(),
                    "ping:p".into(),
                    "close:Some(1000)".into()
                ],
                "split {split}"
            );
        }
    }

    #[test]
    fn bad_frames_are_errors() {
        let mut reader = FrameReader::default();
        assert!(reader
            .process(&mut [0xc1, 0], 100, |_| Flow::Continue)
            .is_err()); // rsv1
        let mut reader = FrameReader::default();
        assert!(reader
            .process(&mut [0x83, 0], 100, |_| Flow::Continue)
            .is_err()); // opcode 3
        let mut reader = FrameReader::default();
        assert!(reader
            .process(&mut [0x80, 0], 100, |_| Flow::Continue)
            .is_err()); // lone continuation
        let mut reader = FrameReader::default();
        let mut big = vec![0x82, 126, 0x10, 0x00];
        assert!(reader.process(&mut big, 100, |_| Flow::Continue).is_err()); // over the limit
    }

    #[test]
    fn handshake_both_sides() {
        let key = new_key();
        let mut req = Vec::new();
        write_client_request(&mut req, "127.0.0.1:8080", "/ws", &key, "wamp.2.json");
        assert!(parse_client_request(&req[..10]).unwrap().is_none());
        let up = parse_client_request(&req).unwrap().unwrap();
        assert_eq!(up.len, req.len());
        assert_eq!(up.key, key);
        assert_eq!(up.protocols, vec!["wamp.2.json"]);

        let mut resp = Vec::new();
        write_server_response(&mut resp, &key, "wamp.2.json");
        assert_eq!(
            parse_server_response(&resp[..20], &key, "wamp.2.json").unwrap(),
            None
        );
        assert_eq!(
            parse_server_response(&resp, &key, "wamp.2.json").unwrap(),
            Some(resp.len())
        );
        // Wrong key, wrong protocol, refusal.
        assert!(parse_server_response(&resp, &new_key(), "wamp.2.json").is_err());
        assert!(parse_server_response(&resp, &key, "wamp.2.msgpack").is_err());
        let refused = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(
            parse_server_response(refused, &key, "wamp.2.json"),
            Err(ConnError::Handshake(m)) if m.contains("404")
        ));
        assert!(parse_server_response(b"garbage\r\n\r\n", &key, "wamp.2.json").is_err());
    }
}
