//! Every transport a Crossbar client can use, against the real binary over loopback and Unix
//! sockets in temp dirs: RawSocket (TCP, Unix, TLS; JSON, MessagePack, CBOR) and its bad input,
//! TLS (plain text on a TLS port, client certificates), WebSocket over a Unix socket and over
//! TLS, the universal port, and the WebSocket options (`open_handshake_timeout`,
//! `max_frame_size`, `max_message_size`, `auto_ping_*`, `allowed_origins`, `enable_webstatus`,
//! `require_websocket_subprotocol`, `serializers`). After each bad input a well-behaved pair of
//! sessions on the same router must still work ([`Witness`]).
//!
//! The TLS material is a throwaway CA with a server certificate for 127.0.0.1 and a client
//! certificate, made per test with rcgen. Every wait is bounded; a test that must sit out a
//! timeout configures a short one (1000 ms, the smallest Crossbar accepts) — except the one that
//! shows the 10 s default of a RawSocket-only transport, which has no option for it.

mod common;

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ferrobar::codec::Serializer;
use ferrobar::wamp::{Dict, Message, Payload, Value};
use serde_json::{json, Value as Json};
use tungstenite::client::ClientRequestBuilder;
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::{Role, WebSocket};

// ===================================================================================
// Streams: TCP, Unix, TLS — one trait for read timeouts.

/// A byte stream whose read timeout can be set (for bounded reads).
trait Conn: Read + Write {
    fn set_timeout(&self, d: Duration);
}

impl Conn for TcpStream {
    fn set_timeout(&self, d: Duration) {
        let _ = self.set_read_timeout(Some(d.max(Duration::from_millis(1))));
    }
}

impl Conn for UnixStream {
    fn set_timeout(&self, d: Duration) {
        let _ = self.set_read_timeout(Some(d.max(Duration::from_millis(1))));
    }
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

impl Conn for Tls {
    fn set_timeout(&self, d: Duration) {
        self.sock.set_timeout(d);
    }
}

impl Conn for Sock {
    fn set_timeout(&self, d: Duration) {
        self.0.set_timeout(d);
    }
}

fn tcp(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the router");
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.set_write_timeout(Some(T)).unwrap();
    s
}

fn unix(path: &Path) -> UnixStream {
    let s =
        UnixStream::connect(path).unwrap_or_else(|e| panic!("connect to {}: {e}", path.display()));
    s.set_read_timeout(Some(T)).unwrap();
    s.set_write_timeout(Some(T)).unwrap();
    s
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Reads until EOF or reset, within `limit` (panics if the peer keeps it open). Returns the
/// bytes read and how long it took.
fn read_until_closed(s: &mut impl Conn, limit: Duration, what: &str) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    let deadline = start + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let now = Instant::now();
        assert!(
            now < deadline,
            "{what}: the router did not close the connection within {limit:?} (got {:?})",
            String::from_utf8_lossy(&out)
        );
        s.set_timeout(deadline - now);
        match s.read(&mut buf) {
            Ok(0) => return (out, start.elapsed()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return (out, start.elapsed()),
        }
    }
}

// ===================================================================================
// Routers with several listeners.

/// A temp dir for Unix sockets and TLS files (absolute paths in the config, so the router's
/// own node dir from [`Router::start`] does not matter).
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("fb-tr-")
        .tempdir()
        .expect("tempdir")
}

fn anonymous_realm() -> Json {
    json!([{"name": "realm1", "roles": [allow_all_role()]}])
}

/// A node config with `transports`.
fn node(transports: Vec<Json>) -> Json {
    json!({
        "version": 2,
        "workers": [{"type": "router", "realms": anonymous_realm(), "transports": transports}]
    })
}

/// A web transport on 127.0.0.1:`port` with `/ws` (default WebSocket, used by the
/// [`Witness`]) and `/info`, plus `extra` paths.
fn witness_web(port: u16, extra: Json) -> Json {
    let mut paths = json!({"ws": {"type": "websocket"}, "info": {"type": "nodeinfo"}});
    if let (Some(p), Some(e)) = (paths.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            p.insert(k.clone(), v.clone());
        }
    }
    json!({"type": "web", "endpoint": tcp_endpoint(port), "paths": paths})
}

fn tcp_endpoint(port: u16) -> Json {
    json!({"type": "tcp", "interface": "127.0.0.1", "port": port})
}

fn tls_endpoint(port: u16, pki: &Pki, client_certs: bool) -> Json {
    let mut tls = json!({"key": pki.server_key, "certificate": pki.server_crt});
    if client_certs {
        tls["ca_certificates"] = json!([pki.ca_pem]);
    }
    json!({"type": "tcp", "interface": "127.0.0.1", "port": port, "tls": tls})
}

fn unix_endpoint(path: &Path) -> Json {
    json!({"type": "unix", "path": path})
}

/// Starts a router (2 shards) on `make(ports)` with `n` fresh TCP ports (`ports[0]` must be
/// the port of the first transport), and waits until every port and every socket in `sockets`
/// accepts.
fn start(n: usize, sockets: &[&Path], make: impl Fn(&[u16]) -> Json) -> (Router, Vec<u16>) {
    Router::start_on_ports(n, 2, sockets, make)
}

// ===================================================================================
// TLS material (rcgen) and TLS clients (rustls).

#[path = "transports/pki.rs"]
mod pki;
use pki::*;

// ===================================================================================
// WAMP clients over any stream: RawSocket and WebSocket.

/// What one read gave.
#[derive(Debug)]
enum In {
    Msg(Message),
    Closed,
    Timeout,
}

/// A WAMP connection (RawSocket or WebSocket) the helpers below drive.
trait Wamp {
    fn ser(&self) -> Serializer;
    fn send(&mut self, m: &Message);
    fn recv(&mut self, timeout: Duration) -> In;
    fn next_request(&mut self) -> u64;
    fn stash(&mut self) -> &mut VecDeque<Message>;
}

fn wait_for(c: &mut impl Wamp, what: &str, pred: impl Fn(&Message) -> bool) -> Message {
    if let Some(i) = c.stash().iter().position(&pred) {
        return c.stash().remove(i).unwrap();
    }
    let deadline = Instant::now() + T;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.recv(left) {
            In::Msg(m) if pred(&m) => return m,
            In::Msg(m) => c.stash().push_back(m),
            other => panic!(
                "{:?}: expected {what}, got {other:?} (kept meanwhile: {:?})",
                c.ser(),
                c.stash()
            ),
        }
    }
}

fn hello(c: &mut impl Wamp) -> u64 {
    let roles = Dict::new()
        .with("publisher", Dict::new())
        .with("subscriber", Dict::new())
        .with("caller", Dict::new())
        .with("callee", Dict::new());
    c.send(&Message::Hello {
        realm: "realm1".into(),
        details: Dict::new().with("roles", roles),
    });
    match wait_for(c, "WELCOME", |m| {
        matches!(m, Message::Welcome { .. } | Message::Abort { .. })
    }) {
        Message::Welcome { session, .. } => session,
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

fn subscribe(c: &mut impl Wamp, topic: &str) -> u64 {
    let request = c.next_request();
    c.send(&Message::Subscribe {
        request,
        options: Dict::new(),
        topic: topic.into(),
    });
    match wait_for(c, "SUBSCRIBED", |m| reply_to(m, request, 32)) {
        Message::Subscribed { subscription, .. } => subscription,
        other => panic!("SUBSCRIBE refused: {other:?}"),
    }
}

fn register(c: &mut impl Wamp, procedure: &str) -> u64 {
    let request = c.next_request();
    c.send(&Message::Register {
        request,
        options: Dict::new(),
        procedure: procedure.into(),
    });
    match wait_for(c, "REGISTERED", |m| reply_to(m, request, 64)) {
        Message::Registered { registration, .. } => registration,
        other => panic!("REGISTER refused: {other:?}"),
    }
}

fn publish_acked(c: &mut impl Wamp, topic: &str, payload: Payload) -> u64 {
    let request = c.next_request();
    c.send(&Message::Publish {
        request,
        options: Dict::new().with("acknowledge", true),
        topic: topic.into(),
        payload,
    });
    match wait_for(c, "PUBLISHED", |m| reply_to(m, request, 16)) {
        Message::Published { publication, .. } => publication,
        other => panic!("PUBLISH refused: {other:?}"),
    }
}

/// Reads until the connection closes (messages are ignored), within `limit`.
fn wamp_closed_within(c: &mut impl Wamp, limit: Duration, what: &str) -> Vec<Message> {
    let deadline = Instant::now() + limit;
    let mut seen: Vec<Message> = c.stash().drain(..).collect();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.recv(left) {
            In::Msg(m) => seen.push(m),
            In::Closed => return seen,
            In::Timeout => panic!("{what}: not closed within {limit:?}; seen {seen:?}"),
        }
    }
}

// ----- RawSocket -----

const MAGIC: u8 = 0x7F;

/// The client's handshake: magic, `LLLL SSSS`, two zero octets.
fn rs_handshake_bytes(max_exp: u8, ser_id: u8) -> [u8; 4] {
    [MAGIC, (max_exp << 4) | ser_id, 0, 0]
}

/// Sends `hs` and reads the router's 4-octet reply (panics if the connection closes first).
fn rs_reply(s: &mut impl Conn, hs: &[u8]) -> [u8; 4] {
    s.write_all(hs).expect("write the handshake");
    let mut reply = [0u8; 4];
    let mut got = 0;
    let deadline = Instant::now() + T;
    while got < 4 {
        assert!(Instant::now() < deadline, "no RawSocket handshake reply");
        s.set_timeout(deadline - Instant::now());
        match s.read(&mut reply[got..]) {
            Ok(0) => panic!("closed after {got} octets of the handshake reply: {reply:?}"),
            Ok(n) => got += n,
            Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("reading the handshake reply: {e}"),
        }
    }
    reply
}

/// A RawSocket WAMP connection after an accepted handshake.
struct Rs<S: Conn> {
    s: S,
    ser: Serializer,
    rbuf: Vec<u8>,
    next: u64,
    stash: VecDeque<Message>,
    closed: bool,
    /// PONG payloads received.
    pongs: Vec<Vec<u8>>,
    /// The `LLLL` of the router's handshake reply.
    router_exp: u8,
}

impl<S: Conn> Rs<S> {
    /// Handshakes for `ser` (stating a 16 MiB limit) and panics unless accepted.
    fn open(s: S, ser: Serializer) -> Rs<S> {
        Self::open_with(s, ser, 15)
    }

    fn open_with(mut s: S, ser: Serializer, max_exp: u8) -> Rs<S> {
        let id = ser.rawsocket_id();
        let reply = rs_reply(&mut s, &rs_handshake_bytes(max_exp, id));
        assert_eq!(reply[0], MAGIC, "handshake reply {reply:02x?}");
        assert_eq!(
            reply[1] & 0x0f,
            id,
            "handshake for {ser:?} refused: {reply:02x?}"
        );
        assert_eq!(&reply[2..], &[0, 0], "handshake reply {reply:02x?}");
        Rs {
            s,
            ser,
            rbuf: Vec::new(),
            next: 0,
            stash: VecDeque::new(),
            closed: false,
            pongs: Vec::new(),
            router_exp: reply[1] >> 4,
        }
    }

    fn write_frame(&mut self, ty: u8, payload: &[u8]) {
        let len = payload.len();
        assert!(len < 1 << 24);
        let mut out = vec![ty, (len >> 16) as u8, (len >> 8) as u8, len as u8];
        out.extend_from_slice(payload);
        // The router may close before reading it all (a frame over the limit).
        let _ = self.s.write_all(&out);
        let _ = self.s.flush();
    }

    /// The next frame (type, payload), or None on close / timeout (`closed` tells which).
    fn read_frame(&mut self, timeout: Duration) -> Option<(u8, Vec<u8>)> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.rbuf.len() >= 4 {
                let len = u32::from_be_bytes([0, self.rbuf[1], self.rbuf[2], self.rbuf[3]])
                    as usize
                    + if self.rbuf[0] & 0x08 != 0 { 1 << 24 } else { 0 };
                if self.rbuf.len() >= 4 + len {
                    let ty = self.rbuf[0];
                    let payload = self.rbuf[4..4 + len].to_vec();
                    self.rbuf.drain(..4 + len);
                    return Some((ty, payload));
                }
            }
            if self.closed {
                return None;
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            self.s.set_timeout(deadline - now);
            let mut buf = [0u8; 16384];
            match self.s.read(&mut buf) {
                Ok(0) => self.closed = true,
                Ok(n) => self.rbuf.extend_from_slice(&buf[..n]),
                Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
                Err(_) => self.closed = true,
            }
        }
    }
}

impl<S: Conn> Wamp for Rs<S> {
    fn ser(&self) -> Serializer {
        self.ser
    }

    fn send(&mut self, m: &Message) {
        let mut out = Vec::new();
        self.ser.encode(m, &mut out);
        self.write_frame(0, &out);
    }

    fn recv(&mut self, timeout: Duration) -> In {
        if let Some(m) = self.stash.pop_front() {
            return In::Msg(m);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_frame(left) {
                Some((0, mut payload)) => {
                    let copy = payload.clone();
                    return In::Msg(self.ser.decode(&mut payload).unwrap_or_else(|e| {
                        panic!(
                            "undecodable {:?} message from the router ({e}): {:?}",
                            self.ser,
                            String::from_utf8_lossy(&copy)
                        )
                    }));
                }
                Some((2, payload)) => self.pongs.push(payload),
                Some((ty, payload)) => {
                    panic!("unexpected RawSocket frame type {ty:#x} from the router: {payload:?}")
                }
                None if self.closed => return In::Closed,
                None => return In::Timeout,
            }
        }
    }

    fn next_request(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    fn stash(&mut self) -> &mut VecDeque<Message> {
        &mut self.stash
    }
}

// ----- WebSocket -----

/// A WebSocket WAMP connection over any stream (tungstenite).
struct Ws<S: Conn> {
    ws: WebSocket<S>,
    ser: Serializer,
    next: u64,
    stash: VecDeque<Message>,
    closed: bool,
    /// Pings received (tungstenite answers them on the next read or write).
    pings: Vec<Vec<u8>>,
    /// The close code, if the router sent a close frame.
    close_code: Option<u16>,
}

impl<S: Conn> Ws<S> {
    /// The WebSocket handshake for `url` offering `protocols` (comma-separated list of
    /// subprotocols); the router must pick `expect`.
    fn open(s: S, url: &str, protocols: &[&str], expect: Serializer) -> Ws<S> {
        let uri: tungstenite::http::Uri = url.parse().unwrap();
        let mut request = ClientRequestBuilder::new(uri);
        for p in protocols {
            request = request.with_sub_protocol(*p);
        }
        let (ws, response) = match tungstenite::client::client(request, s) {
            Ok(ok) => ok,
            Err(e) => panic!("WebSocket handshake with {url} ({protocols:?}) failed: {e}"),
        };
        let agreed = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok());
        assert_eq!(agreed, Some(expect.subprotocol()), "negotiated subprotocol");
        Ws::wrap(ws, expect)
    }

    fn wrap(ws: WebSocket<S>, ser: Serializer) -> Ws<S> {
        Ws {
            ws,
            ser,
            next: 0,
            stash: VecDeque::new(),
            closed: false,
            pings: Vec::new(),
            close_code: None,
        }
    }

    fn send_raw(&mut self, m: tungstenite::Message) -> bool {
        self.ws.send(m).is_ok()
    }
}

impl<S: Conn> Wamp for Ws<S> {
    fn ser(&self) -> Serializer {
        self.ser
    }

    fn send(&mut self, m: &Message) {
        let mut out = Vec::new();
        self.ser.encode(m, &mut out);
        let msg = if self.ser.is_binary() {
            tungstenite::Message::binary(out)
        } else {
            tungstenite::Message::text(String::from_utf8(out).unwrap())
        };
        self.ws.send(msg).expect("send a WebSocket message");
    }

    fn recv(&mut self, timeout: Duration) -> In {
        if let Some(m) = self.stash.pop_front() {
            return In::Msg(m);
        }
        if self.closed {
            return In::Closed;
        }
        let deadline = Instant::now() + timeout;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return In::Timeout;
            }
            self.ws.get_ref().set_timeout(deadline - now);
            let (mut bytes, binary) = match self.ws.read() {
                Ok(tungstenite::Message::Text(t)) => (t.as_bytes().to_vec(), false),
                Ok(tungstenite::Message::Binary(b)) => (b.to_vec(), true),
                Ok(tungstenite::Message::Ping(p)) => {
                    self.pings.push(p.to_vec());
                    continue;
                }
                Ok(tungstenite::Message::Close(f)) => {
                    self.close_code = f.map(|f| u16::from(f.code));
                    self.closed = true;
                    return In::Closed;
                }
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if is_timeout(&e) || e.kind() == ErrorKind::Interrupted =>
                {
                    continue
                }
                Err(_) => {
                    self.closed = true;
                    return In::Closed;
                }
            };
            assert_eq!(
                binary,
                self.ser.is_binary(),
                "frame kind (binary?) does not match {:?}",
                self.ser
            );
            let copy = bytes.clone();
            return In::Msg(self.ser.decode(&mut bytes).unwrap_or_else(|e| {
                panic!(
                    "undecodable {:?} message ({e}): {:?}",
                    self.ser,
                    String::from_utf8_lossy(&copy)
                )
            }));
        }
    }

    fn next_request(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    fn stash(&mut self) -> &mut VecDeque<Message> {
        &mut self.stash
    }
}

// ----- raw HTTP -----

/// A WebSocket upgrade request for `path` with `extra` header lines (each ending in CRLF).
fn upgrade_request(port: u16, path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// Writes `request` and reads the response head (up to the blank line) and whatever body
/// bytes came with it; the connection stays open.
fn http_head(s: &mut impl Conn, request: &str) -> HttpResponse {
    s.write_all(request.as_bytes()).expect("write the request");
    let deadline = Instant::now() + T;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(i) = out.windows(4).position(|w| w == b"\r\n\r\n") {
            // Give a short body (error responses) a moment to arrive.
            let head_end = i + 4;
            let mut resp = parse_http(&out).expect("an HTTP response");
            if resp.status != 101 {
                if let Some(len) = resp
                    .header("content-length")
                    .and_then(|l| l.parse::<usize>().ok())
                {
                    while out.len() < head_end + len && Instant::now() < deadline {
                        s.set_timeout(deadline - Instant::now());
                        match s.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => out.extend_from_slice(&buf[..n]),
                            Err(e) if is_timeout(&e) => {}
                            Err(_) => break,
                        }
                    }
                    resp = parse_http(&out).expect("an HTTP response");
                }
            }
            return resp;
        }
        assert!(
            Instant::now() < deadline,
            "no HTTP response head within {T:?}: {:?}",
            String::from_utf8_lossy(&out)
        );
        s.set_timeout(deadline - Instant::now());
        match s.read(&mut buf) {
            Ok(0) => panic!(
                "closed before a complete response head: {:?}",
                String::from_utf8_lossy(&out)
            ),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("reading the response: {e}"),
        }
    }
}

// ===================================================================================
// Payload checks

/// Args with binary, unicode, big integers, floats, nesting; kwargs likewise.
fn rich_payload(tag: &str) -> Payload {
    let args = vec![
        Value::Str(format!("{tag} Hello ünïcödé ☃ 中文 😀")),
        Value::Bytes(vec![0, 1, 2, 0xfe, 0xff, b'b', 0]),
        Value::Int(9_007_199_254_740_992),
        Value::Int(-9_007_199_254_740_992),
        Value::Int(4_294_967_297),
        Value::Float(2.5),
        Value::Bool(true),
        Value::Null,
        Value::List(vec![
            Value::Int(1),
            Value::List(vec![Value::Str("x".into())]),
        ]),
    ];
    let kwargs = Dict::new()
        .with("ключ", "значение")
        .with("bin", Value::Bytes((0u8..=255).collect()))
        .with(
            "nested",
            Dict::new().with("deep", Value::Bytes(vec![0, 0xff])),
        );
    args_kwargs(args, kwargs)
}

/// A session on `c` subscribes and registers; `witness` (JSON over TCP WebSocket) publishes and
/// calls; the event, invocation and result must carry `rich_payload` unchanged both ways.
fn exchange_with(c: &mut impl Wamp, witness: &mut WampClient, label: &str) {
    hello(c);
    let topic = format!("test.transports.{label}.topic");
    let procedure = format!("test.transports.{label}.echo");
    subscribe(c, &topic);
    register(c, &procedure);
    let payload = rich_payload(label);
    witness.publish_acked(&topic, Dict::new(), payload.clone());
    match wait_for(c, "EVENT", |m| matches!(m, Message::Event { .. })) {
        Message::Event { payload: got, .. } => {
            assert_eq!(got, payload, "{label}: the event's payload")
        }
        _ => unreachable!(),
    }
    let call = witness.call_nowait(&procedure, payload.clone());
    let (request, got) =
        match wait_for(c, "INVOCATION", |m| matches!(m, Message::Invocation { .. })) {
            Message::Invocation {
                request, payload, ..
            } => (request, payload),
            _ => unreachable!(),
        };
    assert_eq!(got, payload, "{label}: the invocation's payload");
    c.send(&Message::Yield {
        request,
        options: Dict::new(),
        payload: got,
    });
    assert_eq!(
        witness.call_outcome(call),
        Ok(payload.clone()),
        "{label}: the call result"
    );
    // And the other way: `c` publishes, the witness receives.
    let wtopic = format!("test.transports.{label}.back");
    witness.subscribe(&wtopic);
    publish_acked(c, &wtopic, payload.clone());
    let (_, got) = witness.expect_event();
    assert_eq!(got, payload, "{label}: the event it published");
}

/// Sends `hs`, expects exactly the error reply `0x7F, code << 4, 0, 0`, then a close.
fn expect_handshake_error(port: u16, hs: [u8; 4], code: u8) {
    let mut s = tcp(port);
    let reply = rs_reply(&mut s, &hs);
    assert_eq!(
        reply,
        [MAGIC, code << 4, 0, 0],
        "handshake {hs:02x?}: expected error code {code}"
    );
    let (rest, _) = read_until_closed(&mut s, T, "after a handshake error");
    assert!(
        rest.is_empty(),
        "nothing may follow the error reply: {rest:02x?}"
    );
}

// ===================================================================================
// The tests, by concern.

#[path = "transports/open_handshake.rs"]
mod open_handshake;
#[path = "transports/rawsocket.rs"]
mod rawsocket;
#[path = "transports/tls.rs"]
mod tls;
#[path = "transports/unix_and_universal.rs"]
mod unix_and_universal;
#[path = "transports/websocket_options.rs"]
mod websocket_options;
