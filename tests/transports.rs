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
use std::process::Command;
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

/// A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate, as
/// PEM files in a directory (for the router) and DER (for the test's clients).
struct Pki {
    ca_pem: PathBuf,
    server_key: PathBuf,
    server_crt: PathBuf,
    ca_der: rustls::pki_types::CertificateDer<'static>,
    client_crt_der: rustls::pki_types::CertificateDer<'static>,
    client_key_der: Vec<u8>,
    /// A client certificate from another CA.
    rogue_crt_der: rustls::pki_types::CertificateDer<'static>,
    rogue_key_der: Vec<u8>,
}

fn make_ca(cn: &str) -> (rcgen::CertificateParams, rcgen::KeyPair, rcgen::Certificate) {
    let key = rcgen::KeyPair::generate().expect("CA key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let cert = params.self_signed(&key).expect("self-sign the CA");
    (params, key, cert)
}

fn make_leaf(
    issuer: &rcgen::Issuer<'_, &rcgen::KeyPair>,
    names: &[&str],
    cn: &str,
    eku: rcgen::ExtendedKeyUsagePurpose,
) -> (rcgen::KeyPair, rcgen::Certificate) {
    let key = rcgen::KeyPair::generate().expect("leaf key");
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names).expect("leaf params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages = vec![eku];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, issuer).expect("sign the leaf");
    (key, cert)
}

/// Makes the CA, the server and the client certificates; writes `ca.pem`, `server.key` and
/// `server.crt` (PEM, PKCS#8 key) into `dir` (the names the config examples use).
fn make_pki(dir: &Path) -> Pki {
    let (ca_params, ca_key, ca_cert) = make_ca("ferrobar test CA");
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let (server_key, server_cert) = make_leaf(
        &issuer,
        &["127.0.0.1", "localhost"],
        "127.0.0.1",
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_key, client_cert) = make_leaf(
        &issuer,
        &[],
        "test client",
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    );
    let (rogue_params, rogue_ca_key, _) = make_ca("some other CA");
    let rogue_issuer = rcgen::Issuer::from_params(&rogue_params, &rogue_ca_key);
    let (rogue_key, rogue_cert) = make_leaf(
        &rogue_issuer,
        &[],
        "rogue client",
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    );
    let pki = Pki {
        ca_pem: dir.join("ca.pem"),
        server_key: dir.join("server.key"),
        server_crt: dir.join("server.crt"),
        ca_der: ca_cert.der().clone(),
        client_crt_der: client_cert.der().clone(),
        client_key_der: client_key.serialize_der(),
        rogue_crt_der: rogue_cert.der().clone(),
        rogue_key_der: rogue_key.serialize_der(),
    };
    std::fs::write(&pki.ca_pem, ca_cert.pem()).unwrap();
    std::fs::write(&pki.server_key, server_key.serialize_pem()).unwrap();
    std::fs::write(&pki.server_crt, server_cert.pem()).unwrap();
    pki
}

#[derive(Clone, Copy, PartialEq)]
enum ClientCert {
    None,
    Good,
    Rogue,
}

fn tls_config(pki: &Pki, cert: ClientCert) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).expect("add the test CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots);
    let key = |der: &Vec<u8>| {
        rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
            der.clone(),
        ))
    };
    let config = match cert {
        ClientCert::None => builder.with_no_client_auth(),
        ClientCert::Good => builder
            .with_client_auth_cert(vec![pki.client_crt_der.clone()], key(&pki.client_key_der))
            .expect("client cert"),
        ClientCert::Rogue => builder
            .with_client_auth_cert(vec![pki.rogue_crt_der.clone()], key(&pki.rogue_key_der))
            .expect("rogue cert"),
    };
    Arc::new(config)
}

/// A TLS connection to 127.0.0.1:`port` (verifying the server certificate for 127.0.0.1);
/// the handshake runs on the first read or write.
fn tls(port: u16, pki: &Pki, cert: ClientCert) -> Tls {
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(tls_config(pki, cert), name).expect("TLS client");
    rustls::StreamOwned::new(conn, tcp(port))
}

/// GET `path` over `s` (HTTP/1.1, Connection: close); the whole answer.
fn get_over(s: &mut impl Conn, port: u16, path: &str) -> Result<Vec<u8>, std::io::Error> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())?;
    s.flush()?;
    let deadline = Instant::now() + T;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        assert!(
            Instant::now() < deadline,
            "no complete answer to GET {path}"
        );
        s.set_timeout(deadline - Instant::now());
        match s.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
            Err(e) if !out.is_empty() => {
                let _ = e;
                return Ok(out);
            }
            Err(e) => return Err(e),
        }
    }
}

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

// ===================================================================================
// Tests: RawSocket

/// Shared config: a web transport (witness), RawSocket on TCP and on a Unix socket.
fn rawsocket_router(dir: &Path, rs_options: Json) -> (Router, Vec<u16>, PathBuf) {
    let sock = dir.join("rs.sock");
    let (router, ports) = start(2, &[&sock], |p| {
        node(vec![
            witness_web(p[0], json!({})),
            json!({"type": "rawsocket", "endpoint": tcp_endpoint(p[1]),
                   "serializers": ["json", "msgpack", "cbor"], "options": rs_options}),
            json!({"type": "rawsocket", "endpoint": unix_endpoint(&sock)}),
        ])
    });
    (router, ports, sock)
}

#[test]
fn rawsocket_sessions_in_every_serializer_over_tcp_and_unix() {
    let dir = scratch();
    let (mut router, ports, sock) = rawsocket_router(dir.path(), json!({}));
    let mut witness = WampClient::joined(ports[0], JSON);
    for ser in [Serializer::Json, Serializer::MsgPack, Serializer::Cbor] {
        let mut c = Rs::open(tcp(ports[1]), ser);
        // The router states its own limit: 16 MiB by default (LLLL = 15).
        assert_eq!(c.router_exp, 15, "router's LLLL for the default 16 MiB");
        exchange_with(&mut c, &mut witness, &format!("rs_tcp_{}", ser.name()));
        let mut u = Rs::open(unix(&sock), ser);
        exchange_with(&mut u, &mut witness, &format!("rs_unix_{}", ser.name()));
    }
    router.assert_alive();
}

#[test]
fn rawsocket_bad_magic_is_closed_without_a_reply() {
    let dir = scratch();
    let (mut router, ports, sock) = rawsocket_router(dir.path(), json!({}));
    let mut witness = Witness::new(ports[0]);
    let inputs: [&[u8]; 4] = [
        &[0x00, 0xF1, 0, 0],
        &[0x7E, 0xF1, 0, 0],
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[0xFF; 64],
    ];
    for input in inputs {
        let mut s = tcp(ports[1]);
        let _ = s.write_all(input);
        let (reply, _) = read_until_closed(&mut s, T, "bad magic");
        assert!(
            reply.is_empty(),
            "bad magic {input:02x?}: expected a close without reply, got {reply:02x?}"
        );
        let mut u = unix(&sock);
        let _ = u.write_all(input);
        let (reply, _) = read_until_closed(&mut u, T, "bad magic (unix)");
        assert!(reply.is_empty(), "unix: got {reply:02x?}");
        witness.check(&format!("after bad magic {:02x?}", &input[..4]));
    }
    router.assert_alive();
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

#[test]
fn rawsocket_reserved_bits_get_error_3() {
    let dir = scratch();
    let (mut router, ports, _) = rawsocket_router(dir.path(), json!({}));
    let mut witness = Witness::new(ports[0]);
    for hs in [
        [MAGIC, 0xF1, 0x01, 0x00],
        [MAGIC, 0xF1, 0x00, 0x80],
        [MAGIC, 0x12, 0xFF, 0xFF],
    ] {
        expect_handshake_error(ports[1], hs, 3);
        witness.check(&format!("after reserved bits {hs:02x?}"));
    }
    router.assert_alive();
}

#[test]
fn rawsocket_unknown_serializer_gets_error_1() {
    let dir = scratch();
    let (mut router, ports, _) = rawsocket_router(dir.path(), json!({}));
    let mut witness = Witness::new(ports[0]);
    // 0 is illegal, 4 UBJSON and 5 FlatBuffers are not offered, 6..15 are reserved.
    for id in [0u8, 4, 5, 6, 9, 15] {
        expect_handshake_error(ports[1], rs_handshake_bytes(15, id), 1);
        witness.check(&format!("after serializer id {id}"));
    }
    router.assert_alive();
}

#[test]
fn rawsocket_serializer_not_in_the_transport_list_gets_error_1() {
    let (mut router, ports) = start(3, &[], |p| {
        node(vec![
            witness_web(p[0], json!({})),
            json!({"type": "rawsocket", "endpoint": tcp_endpoint(p[1]), "serializers": ["json"]}),
            json!({"type": "rawsocket", "endpoint": tcp_endpoint(p[2]), "serializers": ["cbor"]}),
        ])
    });
    let mut witness = Witness::new(ports[0]);
    for ser in [Serializer::MsgPack, Serializer::Cbor] {
        expect_handshake_error(ports[1], rs_handshake_bytes(15, ser.rawsocket_id()), 1);
    }
    for ser in [Serializer::Json, Serializer::MsgPack] {
        expect_handshake_error(ports[2], rs_handshake_bytes(15, ser.rawsocket_id()), 1);
    }
    witness.check("after refused serializers");
    let mut c = Rs::open(tcp(ports[1]), Serializer::Json);
    hello(&mut c);
    let mut c = Rs::open(tcp(ports[2]), Serializer::Cbor);
    hello(&mut c);
    router.assert_alive();
}

#[test]
fn rawsocket_frame_longer_than_negotiated_is_closed() {
    let dir = scratch();
    let (mut router, ports, _) = rawsocket_router(dir.path(), json!({"max_message_size": 1024}));
    let mut witness = Witness::new(ports[0]);

    // The router states 2^(9+1) = 1024 octets in its reply.
    let mut c = Rs::open(tcp(ports[1]), Serializer::Json);
    assert_eq!(
        c.router_exp, 1,
        "LLLL for max_message_size 1024 must be 1 (2^10)"
    );
    hello(&mut c);
    // A message of exactly 1024 octets is accepted (PUBLISH with acknowledge).
    let fixed = r#"[16,7,{"acknowledge":true},"test.big",[""]]"#.len();
    let filler = "x".repeat(1024 - fixed);
    let exact = format!(r#"[16,7,{{"acknowledge":true}},"test.big",["{filler}"]]"#);
    assert_eq!(exact.len(), 1024);
    c.write_frame(0, exact.as_bytes());
    match wait_for(&mut c, "PUBLISHED", |m| {
        matches!(m, Message::Published { .. })
    }) {
        Message::Published { request: 7, .. } => {}
        other => panic!("expected PUBLISHED for request 7, got {other:?}"),
    }
    // 1025 octets: over the limit -> the connection is closed.
    let over = format!(r#"[16,8,{{"acknowledge":true}},"test.big",["{filler}x"]]"#);
    assert_eq!(over.len(), 1025);
    c.write_frame(0, over.as_bytes());
    let seen = wamp_closed_within(&mut c, T, "frame of 1025 octets");
    assert!(
        !seen
            .iter()
            .any(|m| matches!(m, Message::Published { request: 8, .. })),
        "the oversized PUBLISH must not be processed: {seen:?}"
    );
    witness.check("after a frame over the limit");

    // A prefix announcing 16 MiB (X bit) before any payload: closed at once, nothing buffered.
    let mut c = Rs::open(tcp(ports[1]), Serializer::MsgPack);
    let _ = c.s.write_all(&[0x08, 0, 0, 0]);
    let (_, took) = read_until_closed(&mut c.s, T, "16 MiB prefix");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    witness.check("after a 16 MiB prefix");
    router.assert_alive();
}

/// A client that states 1 KiB in its handshake (`LLLL` = 1) never gets a longer frame: the
/// router closes it instead (it cannot split a WAMP message), and serves everyone else. (Not
/// 512 octets, `LLLL` = 0: the WELCOME with the router's role features is about 900 octets of
/// JSON, in Crossbar too.)
#[test]
fn rawsocket_message_longer_than_the_client_accepts_is_never_sent() {
    let dir = scratch();
    let (mut router, ports, _) = rawsocket_router(dir.path(), json!({}));
    let mut witness = Witness::new(ports[0]);
    let mut w = WampClient::joined(ports[0], JSON);
    let mut c = Rs::open_with(tcp(ports[1]), Serializer::Json, 1);
    hello(&mut c);
    subscribe(&mut c, "test.small.client");
    // A small event arrives...
    w.publish_acked("test.small.client", Dict::new(), args(vec![Value::Int(1)]));
    match wait_for(&mut c, "EVENT", |m| matches!(m, Message::Event { .. })) {
        Message::Event { payload, .. } => assert_eq!(payload.args, Some(vec![Value::Int(1)])),
        _ => unreachable!(),
    }
    // ...a 2000-octet one must not.
    let big = "z".repeat(2000);
    w.publish_acked(
        "test.small.client",
        Dict::new(),
        args(vec![Value::Str(big)]),
    );
    let deadline = Instant::now() + T;
    loop {
        match c.read_frame(deadline.saturating_duration_since(Instant::now())) {
            Some((ty, payload)) => assert!(
                payload.len() <= 1024,
                "the router sent a frame of type {ty} and {} octets to a client that accepts \
                 1024",
                payload.len()
            ),
            None if c.closed => break,
            None => panic!(
                "the router neither skipped the event in a visible way nor closed the \
                 connection within {T:?}"
            ),
        }
    }
    witness.check("after closing a client with a small limit");
    router.assert_alive();
}

#[test]
fn rawsocket_bad_frame_prefix_is_closed() {
    let dir = scratch();
    let (mut router, ports, _) = rawsocket_router(dir.path(), json!({}));
    let mut witness = Witness::new(ports[0]);
    // Reserved bits, reserved frame types 3..7, the X bit with a non-zero length.
    for prefix in [
        [0x10u8, 0, 0, 1],
        [0x03, 0, 0, 0],
        [0x07, 0, 0, 0],
        [0x08, 0, 0, 1],
    ] {
        let mut c = Rs::open(tcp(ports[1]), Serializer::Json);
        hello(&mut c);
        let _ = c.s.write_all(&prefix);
        let _ = c.s.write_all(b"x");
        wamp_closed_within(&mut c, T, &format!("frame prefix {prefix:02x?}"));
        witness.check(&format!("after frame prefix {prefix:02x?}"));
    }
    router.assert_alive();
}

#[test]
fn rawsocket_ping_is_answered_with_pong_echoing_the_payload() {
    let dir = scratch();
    let (mut router, ports, sock) = rawsocket_router(dir.path(), json!({}));
    for ser in [Serializer::Json, Serializer::Cbor] {
        let mut c = Rs::open(tcp(ports[1]), ser);
        // Before the session...
        c.write_frame(1, b"ping before HELLO \x00\xff");
        // ...an empty one...
        c.write_frame(1, b"");
        hello(&mut c);
        // ...and during it, with a binary payload.
        let big: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        c.write_frame(1, &big);
        subscribe(&mut c, "test.after.ping");
        let deadline = Instant::now() + T;
        while c.pongs.len() < 3 && Instant::now() < deadline {
            if let In::Msg(m) = c.recv(Duration::from_millis(100)) {
                panic!("unexpected message {m:?}");
            }
        }
        assert_eq!(
            c.pongs,
            vec![b"ping before HELLO \x00\xff".to_vec(), Vec::new(), big],
            "{ser:?}: PONG payloads must echo the PINGs, in order"
        );
    }
    // On the Unix socket too.
    let mut u = Rs::open(unix(&sock), Serializer::MsgPack);
    u.write_frame(1, b"unix ping");
    let deadline = Instant::now() + T;
    while u.pongs.is_empty() && Instant::now() < deadline {
        let _ = u.recv(Duration::from_millis(100));
    }
    assert_eq!(u.pongs, vec![b"unix ping".to_vec()]);
    router.assert_alive();
}

// ===================================================================================
// Tests: TLS

#[test]
fn tls_port_receiving_plain_text_is_closed_and_tls_still_works() {
    let dir = scratch();
    let pki = make_pki(dir.path());
    let (mut router, ports) = start(3, &[], |p| {
        node(vec![
            witness_web(p[0], json!({})),
            json!({"type": "web", "endpoint": tls_endpoint(p[1], &pki, false),
                   "paths": {"ws": {"type": "websocket"}, "info": {"type": "nodeinfo"}}}),
            json!({"type": "rawsocket", "endpoint": tls_endpoint(p[2], &pki, false)}),
        ])
    });
    let mut witness = Witness::new(ports[0]);
    let inputs: [&[u8]; 4] = [
        b"GET /info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        &[MAGIC, 0xF1, 0, 0],
        &[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5],
        &[0u8; 600],
    ];
    for port in [ports[1], ports[2]] {
        for input in inputs {
            let mut s = tcp(port);
            let _ = s.write_all(input);
            let (reply, _) = read_until_closed(&mut s, T, "plain text on a TLS port");
            assert!(
                !reply.starts_with(b"HTTP/") && !reply.starts_with(&[MAGIC]),
                "a TLS port must not answer plain text in plain text: {:?}",
                String::from_utf8_lossy(&reply)
            );
            witness.check(&format!(
                "after plain text {:02x?} on a TLS port",
                &input[..4]
            ));
        }
    }
    router.assert_alive();

    // HTTPS /info.
    let mut s = tls(ports[1], &pki, ClientCert::None);
    let answer = get_over(&mut s, ports[1], "/info").expect("GET /info over TLS");
    let resp = parse_http(&answer).expect("HTTP over TLS");
    assert_eq!(resp.status, 200, "GET /info over TLS");
    // wss:// with every serializer.
    let mut w = WampClient::joined(ports[0], JSON);
    for ser in [Serializer::Json, Serializer::MsgPack, Serializer::Cbor] {
        let url = format!("wss://127.0.0.1:{}/ws", ports[1]);
        let mut c = Ws::open(
            tls(ports[1], &pki, ClientCert::None),
            &url,
            &[ser.subprotocol()],
            ser,
        );
        exchange_with(&mut c, &mut w, &format!("wss_{}", ser.name()));
        let mut r = Rs::open(tls(ports[2], &pki, ClientCert::None), ser);
        exchange_with(&mut r, &mut w, &format!("rss_{}", ser.name()));
    }
    router.assert_alive();
}

#[test]
fn tls_with_ca_certificates_requires_a_client_certificate_from_that_ca() {
    let dir = scratch();
    let pki = make_pki(dir.path());
    let (mut router, ports) = start(3, &[], |p| {
        node(vec![
            witness_web(p[0], json!({})),
            json!({"type": "web", "endpoint": tls_endpoint(p[1], &pki, true),
                   "paths": {"ws": {"type": "websocket"}, "info": {"type": "nodeinfo"}}}),
            json!({"type": "rawsocket", "endpoint": tls_endpoint(p[2], &pki, true)}),
        ])
    });
    let mut witness = Witness::new(ports[0]);
    for cert in [ClientCert::None, ClientCert::Rogue] {
        let mut s = tls(ports[1], &pki, cert);
        let answer = get_over(&mut s, ports[1], "/info").unwrap_or_default();
        assert!(
            !answer.starts_with(b"HTTP/"),
            "without a certificate from the CA there must be no HTTP answer, got {:?}",
            String::from_utf8_lossy(&answer)
        );
        let mut s = tls(ports[2], &pki, cert);
        let _ = s.write_all(&rs_handshake_bytes(15, 1));
        let _ = s.flush();
        let (reply, _) = read_until_closed(&mut s, T, "RawSocket over TLS without a good cert");
        assert!(reply.is_empty(), "got a RawSocket reply: {reply:02x?}");
        witness.check("after a refused client certificate");
    }
    let mut s = tls(ports[1], &pki, ClientCert::Good);
    let answer = get_over(&mut s, ports[1], "/info").expect("GET /info with a client cert");
    assert_eq!(parse_http(&answer).map(|r| r.status), Some(200));
    let mut c = Rs::open(tls(ports[2], &pki, ClientCert::Good), Serializer::Cbor);
    hello(&mut c);
    let url = format!("wss://127.0.0.1:{}/ws", ports[1]);
    let mut c = Ws::open(
        tls(ports[1], &pki, ClientCert::Good),
        &url,
        &["wamp.2.msgpack"],
        Serializer::MsgPack,
    );
    hello(&mut c);
    router.assert_alive();
}

// ===================================================================================
// Tests: open handshake timeout (silent and half-finished handshakes)

/// Waits (up to 5 s) until the router's fd count is at most `limit`; returns the last count.
fn fds_settle(pid: u32, limit: usize) -> usize {
    common::fds_settle(pid, limit, Duration::from_secs(5))
}

/// Opens one connection per input (writing it, if any), then expects every one closed within
/// `within` of the moment it was opened, and never before `not_before`.
fn expect_all_closed(
    port: u16,
    inputs: &[&[u8]],
    not_before: Duration,
    within: Duration,
    what: &str,
) {
    expect_all_closed_with(port, inputs, not_before, within, what, |reply| {
        reply.is_empty() || reply.starts_with(b"HTTP/1.1 408")
    })
}

/// [`expect_all_closed`] with `reply_ok` judging what the router sent before closing.
fn expect_all_closed_with(
    port: u16,
    inputs: &[&[u8]],
    not_before: Duration,
    within: Duration,
    what: &str,
    reply_ok: impl Fn(&[u8]) -> bool,
) {
    let opened = Instant::now();
    let mut conns: Vec<TcpStream> = inputs
        .iter()
        .map(|input| {
            let mut s = tcp(port);
            if !input.is_empty() {
                s.write_all(input).expect("write");
            }
            s
        })
        .collect();
    let all_opened = opened.elapsed();
    for (i, s) in conns.iter_mut().enumerate() {
        let left = within.saturating_sub(opened.elapsed()) + all_opened;
        let (reply, _) = read_until_closed(s, left, &format!("{what} #{i}"));
        let at = opened.elapsed();
        // The first one is read at once, so its close is seen when it happens.
        assert!(
            i > 0 || at >= not_before,
            "{what} #{i}: closed after {at:?}, before the {not_before:?} timeout"
        );
        assert!(
            reply_ok(&reply),
            "{what} #{i}: unexpected answer before the close: {:?}",
            String::from_utf8_lossy(&reply)
        );
    }
}

#[test]
fn half_finished_http_handshake_is_closed_after_open_handshake_timeout() {
    let dir = scratch();
    let pki = make_pki(dir.path());
    let short = json!({"type": "websocket", "options": {"open_handshake_timeout": 1000}});
    let (mut router, ports) = start(2, &[], |p| {
        node(vec![
            witness_web(p[0], json!({"ws": short})),
            json!({"type": "web", "endpoint": tls_endpoint(p[1], &pki, false),
                   "paths": {"ws": short, "info": {"type": "nodeinfo"}}}),
        ])
    });
    // On a TLS port: silence, a TLS record header announcing more than comes, a ClientHello
    // that is never finished. Closed in time; no plain-text answer.
    let tls_inputs: [&[u8]; 3] = [b"", &[0x16, 0x03, 0x01, 0x02, 0x00], &[0x16, 0x03, 0x01]];
    expect_all_closed_with(
        ports[1],
        &tls_inputs,
        Duration::from_millis(900),
        Duration::from_millis(3500),
        "silent / unfinished TLS handshake",
        |reply| !reply.starts_with(b"HTTP/"),
    );
    // A TLS session that completes TLS but sends half an HTTP head.
    let mut s = tls(ports[1], &pki, ClientCert::None);
    let _ = s.write_all(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    let _ = s.flush();
    let (_, took) = read_until_closed(&mut s, Duration::from_millis(3500), "half head over TLS");
    assert!(took >= Duration::from_millis(800), "closed after {took:?}");
    let port = ports[0];
    let mut witness = Witness::new(port);
    let partial = format!("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n");
    let one: [&[u8]; 2] = [b"", partial.as_bytes()];
    expect_all_closed(
        port,
        &one,
        Duration::from_millis(900),
        Duration::from_millis(3500),
        "silent / half HTTP head",
    );
    witness.check("after two expired handshakes");

    // A burst of 200: all closed in time, no descriptor left behind, the router answers.
    let pid = router.pid();
    let before = fd_count(pid);
    let burst: Vec<&[u8]> = (0..200)
        .map(|i| {
            if i % 2 == 0 {
                &b""[..]
            } else {
                partial.as_bytes()
            }
        })
        .collect();
    expect_all_closed(
        port,
        &burst,
        Duration::from_millis(900),
        Duration::from_millis(5000),
        "burst",
    );
    witness.check("after a burst of 200 expired handshakes");
    let after = fds_settle(pid, before + 4);
    assert!(
        after <= before + 4,
        "the router holds {after} descriptors after the burst, {before} before: connections leak"
    );
    router.assert_alive();
}

#[test]
fn half_finished_rawsocket_handshake_on_universal_is_closed_after_open_handshake_timeout() {
    let (mut router, ports) = start(1, &[], |p| {
        node(vec![json!({
            "type": "universal",
            "endpoint": tcp_endpoint(p[0]),
            "rawsocket": {},
            "websocket": {"ws": {"type": "websocket", "options": {"open_handshake_timeout": 1000}}},
            "web": {"paths": {"info": {"type": "nodeinfo"}}}
        })])
    });
    let port = ports[0];
    let mut witness = Witness::new(port);
    let inputs: [&[u8]; 4] = [b"", &[MAGIC], &[MAGIC, 0xF1], &[MAGIC, 0xF1, 0]];
    expect_all_closed(
        port,
        &inputs,
        Duration::from_millis(900),
        Duration::from_millis(3500),
        "half RawSocket handshake on a universal port",
    );
    witness.check("after expired RawSocket handshakes");

    let pid = router.pid();
    let before = fd_count(pid);
    let burst: Vec<&[u8]> = (0..200).map(|i| inputs[i % inputs.len()]).collect();
    expect_all_closed(
        port,
        &burst,
        Duration::from_millis(900),
        Duration::from_millis(5000),
        "burst of half RawSocket handshakes",
    );
    witness.check("after a burst of 200 expired RawSocket handshakes");
    let after = fds_settle(pid, before + 4);
    assert!(
        after <= before + 4,
        "the router holds {after} descriptors after the burst, {before} before"
    );
    // A complete RawSocket handshake on the same port still works.
    let mut c = Rs::open(tcp(port), Serializer::Cbor);
    hello(&mut c);
    router.assert_alive();
}

/// A RawSocket-only transport has no WebSocket options: the 10 s default applies.
#[test]
fn half_finished_rawsocket_handshake_is_closed_after_the_default_10s() {
    let (mut router, ports) = start(2, &[], |p| {
        node(vec![
            witness_web(p[0], json!({})),
            json!({"type": "rawsocket", "endpoint": tcp_endpoint(p[1])}),
        ])
    });
    let mut witness = Witness::new(ports[0]);
    let inputs: [&[u8]; 3] = [b"", &[MAGIC], &[MAGIC, 0xF1, 0]];
    expect_all_closed(
        ports[1],
        &inputs,
        Duration::from_secs(9),
        Duration::from_secs(13),
        "half RawSocket handshake (default timeout)",
    );
    witness.check("after expired RawSocket handshakes");
    router.assert_alive();
}

// ===================================================================================
// Tests: WebSocket options

#[test]
fn websocket_frame_over_max_frame_size_is_closed() {
    let (mut router, ports) = start(1, &[], |p| {
        node(vec![witness_web(
            p[0],
            json!({"small": {"type": "websocket",
                             "options": {"max_frame_size": 1024, "max_message_size": 4096}}}),
        )])
    });
    let port = ports[0];
    let mut witness = Witness::new(port);
    let url = format!("ws://127.0.0.1:{port}/small");
    let publish = |request: u64, len: usize| -> String {
        let fixed = format!(r#"[16,{request},{{"acknowledge":true}},"test.frames",[""]]"#).len();
        let s = format!(
            r#"[16,{request},{{"acknowledge":true}},"test.frames",["{}"]]"#,
            "y".repeat(len - fixed)
        );
        assert_eq!(s.len(), len);
        s
    };

    // One frame of 1024 bytes: fine. A message of 3000 bytes in frames of 1000: fine (the
    // limit is per frame, the message is under max_message_size).
    let mut c = Ws::open(tcp(port), &url, &["wamp.2.json"], Serializer::Json);
    hello(&mut c);
    c.ws.send(tungstenite::Message::text(publish(1, 1024)))
        .unwrap();
    wait_for(&mut c, "PUBLISHED 1", |m| {
        matches!(m, Message::Published { request: 1, .. })
    });
    let msg = publish(2, 3000);
    let parts = [&msg[..1000], &msg[1000..2000], &msg[2000..]];
    for (i, part) in parts.iter().enumerate() {
        let op = if i == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        let frame = Frame::message(part.as_bytes().to_vec(), op, i == parts.len() - 1);
        assert!(c.send_raw(tungstenite::Message::Frame(frame)));
    }
    wait_for(&mut c, "PUBLISHED 2", |m| {
        matches!(m, Message::Published { request: 2, .. })
    });

    // One frame of 1025 bytes: closed.
    c.ws.send(tungstenite::Message::text(publish(3, 1025)))
        .unwrap();
    let seen = wamp_closed_within(&mut c, T, "frame of 1025 bytes");
    assert!(
        !seen
            .iter()
            .any(|m| matches!(m, Message::Published { request: 3, .. })),
        "{seen:?}"
    );
    if let Some(code) = c.close_code {
        assert_eq!(code, 1009, "close code for a frame over the limit");
    }
    witness.check("after a frame over max_frame_size");

    // Frames under the limit adding up to more than max_message_size: closed.
    let mut c = Ws::open(tcp(port), &url, &["wamp.2.json"], Serializer::Json);
    hello(&mut c);
    let msg = publish(4, 5000);
    let chunks: Vec<&str> = (0..5).map(|i| &msg[i * 1000..(i + 1) * 1000]).collect();
    for (i, part) in chunks.iter().enumerate() {
        let op = if i == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        let frame = Frame::message(part.as_bytes().to_vec(), op, i == chunks.len() - 1);
        if !c.send_raw(tungstenite::Message::Frame(frame)) {
            break;
        }
    }
    let seen = wamp_closed_within(&mut c, T, "message of 5000 bytes");
    assert!(
        !seen
            .iter()
            .any(|m| matches!(m, Message::Published { request: 4, .. })),
        "{seen:?}"
    );
    witness.check("after a message over max_message_size");
    router.assert_alive();
}

/// A hand-made masked (zero key) WebSocket frame from a client.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(payload);
    out
}

/// A frame from the router: when it arrived, its opcode, its payload.
type ServerFrame = (Duration, u8, Vec<u8>);

/// Reads server frames (unmasked) from `s` until EOF or `limit`: each frame with the time it
/// arrived (since the call), its opcode and payload, and the time of the EOF if it came.
fn server_frames(s: &mut impl Conn, limit: Duration) -> (Vec<ServerFrame>, Option<Duration>) {
    server_frames_until(s, limit, 0xff)
}

/// [`server_frames`], returning as soon as a frame with opcode `stop` arrived.
fn server_frames_until(
    s: &mut impl Conn,
    limit: Duration,
    stop: u8,
) -> (Vec<ServerFrame>, Option<Duration>) {
    let start = Instant::now();
    let mut frames = Vec::new();
    let mut rbuf = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        s.set_timeout(Duration::from_millis(50));
        match s.read(&mut buf) {
            Ok(0) => return (frames, Some(start.elapsed())),
            Ok(n) => rbuf.extend_from_slice(&buf[..n]),
            Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return (frames, Some(start.elapsed())),
        }
        while rbuf.len() >= 2 {
            let opcode = rbuf[0] & 0x0f;
            let (len, hdr) = match rbuf[1] & 0x7f {
                126 if rbuf.len() >= 4 => (u16::from_be_bytes([rbuf[2], rbuf[3]]) as usize, 4),
                126 => break,
                127 => panic!("unexpected 64-bit frame length"),
                l => (l as usize, 2),
            };
            if rbuf.len() < hdr + len {
                break;
            }
            frames.push((start.elapsed(), opcode, rbuf[hdr..hdr + len].to_vec()));
            rbuf.drain(..hdr + len);
            if opcode == stop {
                return (frames, None);
            }
        }
    }
    (frames, None)
}

/// Opens a WebSocket on `path` by hand and sends a PUBLISH before HELLO (a protocol
/// violation). Returns the socket once the router's ABORT and close frame arrived, and when.
fn provoke_close(port: u16, path: &str) -> (TcpStream, Instant) {
    let mut s = tcp(port);
    let resp = http_head(
        &mut s,
        &upgrade_request(port, path, "Sec-WebSocket-Protocol: wamp.2.json\r\n"),
    );
    assert_eq!(resp.status, 101);
    s.write_all(&client_frame(0x1, br#"[16,1,{},"too.early"]"#))
        .unwrap();
    let (frames, _) = server_frames_until(&mut s, T, 0x8);
    let at = Instant::now();
    let texts: Vec<String> = frames
        .iter()
        .filter(|(_, op, _)| *op == 0x1)
        .map(|(_, _, p)| String::from_utf8_lossy(p).into_owned())
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("[3,") && t.contains("protocol_violation")),
        "expected an ABORT, got {texts:?}"
    );
    assert!(
        frames.iter().any(|(_, op, _)| *op == 0x8),
        "no close frame within {T:?}: {frames:?}"
    );
    (s, at)
}

/// The router initiates the close (after a protocol violation): close frame, then it waits up
/// to `close_handshake_timeout` for the peer to finish the close. A peer that never does is
/// dropped when the timeout expires (its descriptor released); one that closes at once is
/// released at once.
#[test]
fn close_handshake_timeout_bounds_the_wait_for_the_peer_to_close() {
    let (mut router, ports) = start(1, &[], |p| {
        node(vec![witness_web(
            p[0],
            json!({"slow": {"type": "websocket", "options": {"close_handshake_timeout": 4000}}}),
        )])
    });
    let port = ports[0];
    let mut witness = Witness::new(port);
    let pid = router.pid();
    let base = fd_count(pid);

    // A peer that never answers: the router holds the connection until the timeout.
    let (s, close_at) = provoke_close(port, "/slow");
    let released_at = loop {
        if fd_count(pid) <= base {
            break close_at.elapsed();
        }
        assert!(
            close_at.elapsed() < Duration::from_secs(8),
            "the router still holds the connection 8 s after its close frame; stderr:\n{}",
            router.stderr()
        );
        std::thread::sleep(Duration::from_millis(25));
    };
    assert!(
        released_at >= Duration::from_millis(3500) && released_at <= Duration::from_millis(6000),
        "the connection was released {released_at:?} after the close frame \
         (close_handshake_timeout 4000 ms)"
    );
    drop(s);

    // A peer that closes at once is released at once.
    let (s, close_at) = provoke_close(port, "/slow");
    drop(s);
    let released_at = loop {
        if fd_count(pid) <= base {
            break close_at.elapsed();
        }
        assert!(
            close_at.elapsed() < Duration::from_secs(8),
            "the router still holds a connection its peer closed"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        released_at < Duration::from_millis(1500),
        "a connection closed by its peer was released only after {released_at:?}"
    );
    witness.check("after the close handshakes");
    router.assert_alive();
}

#[test]
fn auto_ping_closes_a_peer_that_never_answers_and_keeps_one_that_does() {
    let (mut router, ports) = start(1, &[], |p| {
        node(vec![witness_web(
            p[0],
            json!({"pinged": {"type": "websocket", "options": {
                "auto_ping_interval": 1000, "auto_ping_timeout": 1000, "auto_ping_size": 16}}}),
        )])
    });
    let port = ports[0];
    let mut witness = Witness::new(port);

    // The answering peer (tungstenite answers pings while it reads) runs in its own thread.
    let answering = std::thread::spawn(move || {
        let url = format!("ws://127.0.0.1:{port}/pinged");
        let mut c = Ws::open(tcp(port), &url, &["wamp.2.msgpack"], Serializer::MsgPack);
        hello(&mut c);
        let until = Instant::now() + Duration::from_millis(4500);
        while Instant::now() < until {
            if let In::Closed = c.recv(until.saturating_duration_since(Instant::now())) {
                panic!("the router closed a peer that answers its pings");
            }
        }
        // Still connected and serving.
        subscribe(&mut c, "test.still.here");
        c.pings
    });

    // The silent peer: a hand-made handshake and HELLO, then it only reads.
    let mut s = tcp(port);
    let resp = http_head(
        &mut s,
        &upgrade_request(port, "/pinged", "Sec-WebSocket-Protocol: wamp.2.json\r\n"),
    );
    assert_eq!(resp.status, 101);
    s.write_all(&client_frame(
        0x1,
        br#"[1,"realm1",{"roles":{"subscriber":{}}}]"#,
    ))
    .unwrap();
    let (frames, eof) = server_frames(&mut s, Duration::from_secs(6));
    let pings: Vec<&Vec<u8>> = frames
        .iter()
        .filter(|(_, op, _)| *op == 0x9)
        .map(|(_, _, p)| p)
        .collect();
    let close_frame = frames.iter().find(|(_, op, _)| *op == 0x8).map(|f| f.0);
    let closed_at = close_frame.or(eof);
    let closed_at = closed_at.unwrap_or_else(|| {
        panic!(
            "a peer that never answers pings is still connected after 6 s (pings: {pings:?}); \
             stderr:\n{}",
            router.stderr()
        )
    });
    assert!(
        !pings.is_empty(),
        "the silent peer got no ping before the close"
    );
    assert_eq!(pings[0].len(), 16, "auto_ping_size");
    assert!(
        closed_at <= Duration::from_millis(4000),
        "closed only after {closed_at:?} (interval 1 s + timeout 1 s)"
    );
    assert!(
        closed_at >= Duration::from_millis(900),
        "closed after {closed_at:?}: before a ping could have timed out"
    );

    let got = answering.join().expect("the answering peer");
    assert!(
        got.len() >= 2,
        "the answering peer should have been pinged at least twice in 4.5 s, got {got:?}"
    );
    assert!(got.iter().all(|p| p.len() == 16), "auto_ping_size: {got:?}");
    witness.check("after auto-ping");
    router.assert_alive();
}

#[test]
fn allowed_origins_refuse_other_origins_with_403() {
    let (mut router, ports) = start(1, &[], |p| {
        node(vec![witness_web(
            p[0],
            json!({"strict": {"type": "websocket", "options": {
                "allowed_origins": ["https://good.example", "http://localhost:*"],
                "allow_null_origin": false}}}),
        )])
    });
    let port = ports[0];
    let mut witness = Witness::new(port);
    let proto = "Sec-WebSocket-Protocol: wamp.2.json\r\n";
    for (origin, status) in [
        (Some("https://evil.example"), 403),
        (Some("https://good.example.evil.org"), 403),
        (Some("null"), 403),
        (Some("https://good.example"), 101),
        (Some("http://localhost:8080"), 101),
        (None, 101),
    ] {
        let extra = match origin {
            Some(o) => format!("{proto}Origin: {o}\r\n"),
            None => proto.to_string(),
        };
        let mut s = tcp(port);
        let resp = http_head(&mut s, &upgrade_request(port, "/strict", &extra));
        assert_eq!(resp.status, status, "Origin {origin:?}");
        if status == 101 {
            let ws = WebSocket::from_raw_socket(Sock(s), Role::Client, None);
            let mut c = Ws::wrap(ws, Serializer::Json);
            hello(&mut c);
        }
    }
    witness.check("after origin checks");
    router.assert_alive();
}

#[test]
fn enable_webstatus_false_answers_426_and_the_default_a_status_page() {
    let (mut router, ports) = start(1, &[], |p| {
        node(vec![witness_web(
            p[0],
            json!({"quiet": {"type": "websocket", "options": {"enable_webstatus": false}}}),
        )])
    });
    let port = ports[0];
    let resp = http_get(port, "/quiet");
    assert_eq!(
        resp.status, 426,
        "GET on a WebSocket path with enable_webstatus false"
    );
    let resp = http_get(port, "/ws");
    assert_eq!(resp.status, 200, "GET on a WebSocket path: the status page");
    assert!(resp.body.to_ascii_lowercase().contains("<html"), "{resp:?}");
    Witness::new(port).check("after GETs");
    router.assert_alive();
}

#[test]
fn require_websocket_subprotocol_false_accepts_an_upgrade_without_one_as_json() {
    let (mut router, ports) = start(1, &[], |p| {
        node(vec![witness_web(
            p[0],
            json!({"open": {"type": "websocket",
                            "options": {"require_websocket_subprotocol": false}}}),
        )])
    });
    let port = ports[0];
    // Default (true): refused.
    let mut s = tcp(port);
    let resp = http_head(&mut s, &upgrade_request(port, "/ws", ""));
    assert_eq!(
        resp.status, 400,
        "no subprotocol on a path that requires one"
    );
    // false: upgraded, no subprotocol named, JSON spoken.
    let mut s = tcp(port);
    let resp = http_head(&mut s, &upgrade_request(port, "/open", ""));
    assert_eq!(resp.status, 101);
    assert_eq!(resp.header("sec-websocket-protocol"), None);
    let ws = WebSocket::from_raw_socket(Sock(s), Role::Client, None);
    let mut c = Ws::wrap(ws, Serializer::Json);
    let mut w = WampClient::joined(port, MSGPACK);
    exchange_with(&mut c, &mut w, "no_subprotocol");
    router.assert_alive();
}

#[test]
fn batched_subprotocols_are_not_offered_and_the_serializer_list_is_honoured() {
    let (mut router, ports) = start(1, &[], |p| {
        node(vec![witness_web(
            p[0],
            json!({"cbor": {"type": "websocket", "serializers": ["cbor"]}}),
        )])
    });
    let port = ports[0];
    let url = |path: &str| format!("ws://127.0.0.1:{port}{path}");
    // Only batched: refused with 400.
    for offer in [
        "wamp.2.json.batched",
        "wamp.2.cbor.batched, wamp.2.msgpack.batched",
    ] {
        let mut s = tcp(port);
        let extra = format!("Sec-WebSocket-Protocol: {offer}\r\n");
        let resp = http_head(&mut s, &upgrade_request(port, "/ws", &extra));
        assert_eq!(resp.status, 400, "offer {offer}");
    }
    // Batched first, then unbatched: the first unbatched one the router supports.
    let c = Ws::open(
        tcp(port),
        &url("/ws"),
        &["wamp.2.cbor.batched", "wamp.2.msgpack", "wamp.2.json"],
        Serializer::MsgPack,
    );
    drop(c);
    let mut c = Ws::open(
        tcp(port),
        &url("/ws"),
        &["wamp.2.cbor", "wamp.2.json"],
        Serializer::Cbor,
    );
    hello(&mut c);
    // serializers: ["cbor"]: json and msgpack are refused, cbor is picked even when second.
    for offer in ["wamp.2.json", "wamp.2.json, wamp.2.msgpack"] {
        let mut s = tcp(port);
        let extra = format!("Sec-WebSocket-Protocol: {offer}\r\n");
        let resp = http_head(&mut s, &upgrade_request(port, "/cbor", &extra));
        assert_eq!(resp.status, 400, "offer {offer} on a cbor-only path");
    }
    let mut c = Ws::open(
        tcp(port),
        &url("/cbor"),
        &["wamp.2.json", "wamp.2.cbor"],
        Serializer::Cbor,
    );
    let mut w = WampClient::joined(port, JSON);
    exchange_with(&mut c, &mut w, "cbor_only");
    router.assert_alive();
}

// ===================================================================================
// Tests: WebSocket over a Unix socket, the universal port

#[test]
fn websocket_over_a_unix_socket_in_every_serializer() {
    let dir = scratch();
    let sock = dir.path().join("ws.sock");
    let (mut router, ports) = start(1, &[&sock], |p| {
        node(vec![
            witness_web(p[0], json!({})),
            json!({"type": "websocket", "endpoint": unix_endpoint(&sock)}),
        ])
    });
    let mut w = WampClient::joined(ports[0], JSON);
    for ser in [Serializer::Json, Serializer::MsgPack, Serializer::Cbor] {
        let mut c = Ws::open(unix(&sock), "ws://localhost/ws", &[ser.subprotocol()], ser);
        exchange_with(&mut c, &mut w, &format!("ws_unix_{}", ser.name()));
    }
    // Bad input on the Unix socket: garbage closes that connection only.
    let mut u = unix(&sock);
    let _ = u.write_all(&[0xde, 0xad, 0xbe, 0xef, b'\r', b'\n', b'\r', b'\n']);
    let (reply, _) = read_until_closed(&mut u, T, "garbage on the unix socket");
    assert!(
        reply.is_empty() || parse_http(&reply).is_some_and(|r| r.status == 400),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
    Witness::new(ports[0]).check("after garbage on the unix socket");
    router.assert_alive();
}

#[test]
fn universal_port_serves_rawsocket_websocket_and_http() {
    let (mut router, ports) = start(1, &[], |p| {
        node(vec![json!({
            "type": "universal",
            "endpoint": tcp_endpoint(p[0]),
            "rawsocket": {"serializers": ["cbor", "json"]},
            "websocket": {"ws": {"type": "websocket"}},
            "web": {"paths": {"info": {"type": "nodeinfo"}}}
        })])
    });
    let port = ports[0];
    let mut witness = Witness::new(port);
    assert_eq!(http_get(port, "/info").status, 200);
    assert_eq!(http_get(port, "/nothing-here").status, 404);
    let mut w = WampClient::joined(port, JSON);
    let mut r = Rs::open(tcp(port), Serializer::Cbor);
    exchange_with(&mut r, &mut w, "universal_rs_cbor");
    let mut c = Ws::open(
        tcp(port),
        &format!("ws://127.0.0.1:{port}/ws"),
        &["wamp.2.cbor"],
        Serializer::Cbor,
    );
    exchange_with(&mut c, &mut w, "universal_ws_cbor");
    // The universal port's RawSocket part has its own serializer list.
    expect_handshake_error(port, rs_handshake_bytes(15, 2), 1);
    witness.check("after a refused RawSocket serializer on the universal port");
    router.assert_alive();
}

// ===================================================================================
// The example node config/all-transports

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Calls `f` on every listening endpoint object (`{"type": "tcp"|"unix", ...}`) of a config.
fn walk_endpoints(v: &mut Json, f: &mut impl FnMut(&mut Json)) {
    match v {
        Json::Object(m) => {
            let is_endpoint = m
                .get("type")
                .and_then(Json::as_str)
                .is_some_and(|t| t == "tcp" || t == "unix")
                && (m.contains_key("port") || m.contains_key("path"));
            if is_endpoint {
                f(v);
                return;
            }
            m.values_mut().for_each(|x| walk_endpoints(x, f));
        }
        Json::Array(a) => a.iter_mut().for_each(|x| walk_endpoints(x, f)),
        _ => {}
    }
}

/// Runs `ferrobar check --cbdir DIR`: (success, stdout + stderr).
fn ferrobar_check(cbdir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrobar"))
        .arg("check")
        .arg("--cbdir")
        .arg(cbdir)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ferrobar check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn all_transports_example_passes_check_once_its_tls_files_exist_and_serves_every_transport() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/all-transports");
    let tmp = scratch();
    let root = tmp.path().join("all-transports");
    copy_dir(&example, &root);
    let cbdir = root.join(".crossbar");
    for f in [
        "server.key",
        "server.crt",
        "rawsocket.sock",
        "websocket.sock",
    ] {
        let _ = std::fs::remove_file(cbdir.join(f));
    }
    // Without the key files (never committed), check names them.
    let (ok, text) = ferrobar_check(&cbdir);
    assert!(
        !ok,
        "check must fail while the TLS files are missing:\n{text}"
    );
    assert!(
        text.contains("server.key") && text.contains("does not exist"),
        "check must name the missing key file:\n{text}"
    );
    // With them (the names the README gives), it passes.
    let pki = make_pki(&cbdir);
    let (ok, text) = ferrobar_check(&cbdir);
    assert!(
        ok,
        "ferrobar check on config/all-transports failed:\n{text}"
    );

    // And it serves: the same config on free ports, with the Unix sockets and the TLS files as
    // absolute paths (the router runs in a node dir of its own).
    let original: Json =
        serde_json::from_str(&std::fs::read_to_string(cbdir.join("config.json")).unwrap())
            .expect("config.json is JSON");
    let transports = original["workers"][0]["transports"]
        .as_array()
        .expect("transports")
        .clone();
    let ids: Vec<&str> = transports.iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(
        ids,
        [
            "web",
            "websocket",
            "rawsocket_tcp",
            "rawsocket_unix",
            "websocket_unix",
            "universal_tls"
        ],
        "this test knows the example's transports by id"
    );
    let rs_sock = cbdir.join("rawsocket.sock");
    let ws_sock = cbdir.join("websocket.sock");
    let (mut router, ports) = start(4, &[&rs_sock, &ws_sock], |p| {
        let mut c = original.clone();
        let mut i = 0;
        walk_endpoints(&mut c, &mut |e| {
            if e["type"] == "tcp" {
                e["port"] = json!(p[i]);
                i += 1;
                if let Some(tls) = e.get_mut("tls") {
                    tls["key"] = json!(pki.server_key);
                    tls["certificate"] = json!(pki.server_crt);
                }
            } else {
                let name = e["path"].as_str().unwrap().to_string();
                e["path"] = json!(cbdir.join(name));
            }
        });
        let web = &mut c["workers"][0]["transports"][0]["paths"]["/"];
        web["directory"] = json!(root.join("web"));
        c
    });
    let mut w = WampClient::joined(ports[0], JSON);
    // web: /info, /ws (CBOR too).
    assert_eq!(http_get(ports[0], "/info").status, 200);
    let url = format!("ws://127.0.0.1:{}/ws", ports[0]);
    let mut c = Ws::open(tcp(ports[0]), &url, &["wamp.2.cbor"], Serializer::Cbor);
    exchange_with(&mut c, &mut w, "example_web");
    // websocket on its own port.
    let url = format!("ws://127.0.0.1:{}/", ports[1]);
    let mut c = Ws::open(
        tcp(ports[1]),
        &url,
        &["wamp.2.msgpack"],
        Serializer::MsgPack,
    );
    exchange_with(&mut c, &mut w, "example_websocket");
    // rawsocket tcp and unix.
    let mut c = Rs::open(tcp(ports[2]), Serializer::Json);
    exchange_with(&mut c, &mut w, "example_rawsocket_tcp");
    let mut c = Rs::open(unix(&rs_sock), Serializer::Cbor);
    exchange_with(&mut c, &mut w, "example_rawsocket_unix");
    // websocket unix.
    let mut c = Ws::open(
        unix(&ws_sock),
        "ws://localhost/",
        &["wamp.2.json"],
        Serializer::Json,
    );
    exchange_with(&mut c, &mut w, "example_websocket_unix");
    // universal with TLS: RawSocket, WebSocket, /info.
    let mut c = Rs::open(tls(ports[3], &pki, ClientCert::None), Serializer::MsgPack);
    exchange_with(&mut c, &mut w, "example_universal_rs");
    let url = format!("wss://127.0.0.1:{}/ws", ports[3]);
    let mut c = Ws::open(
        tls(ports[3], &pki, ClientCert::None),
        &url,
        &["wamp.2.cbor"],
        Serializer::Cbor,
    );
    exchange_with(&mut c, &mut w, "example_universal_ws");
    let mut s = tls(ports[3], &pki, ClientCert::None);
    let answer = get_over(&mut s, ports[3], "/info").expect("GET /info over TLS");
    assert_eq!(parse_http(&answer).map(|r| r.status), Some(200));
    router.assert_alive();
}
