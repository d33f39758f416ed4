//! Fault and soak tests against the real binary with `--shards 2`, over loopback: churn of
//! sessions that vanish abruptly, slow consumers under a flood (both policies), write stalls,
//! callees that never answer, clients killed in the middle of a large message, thousands of
//! silent TCP connections, and the connection / session / pending-call / HELLO limits.
//!
//! Each test asserts behaviour (every well-behaved event delivered in order, counts back to
//! zero through the meta API, the bad session closed with the stated ABORT / error, or for a
//! slow consumer with the reason in the router's log, the router's descriptors back to their
//! baseline), never a rate. Every wait is bounded; each test takes a
//! few seconds. The router's memory is read from `/proc/PID/status` (`VmRSS`) where a bound
//! is part of the behaviour (a slow consumer must not make the router buffer the flood).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use ferrobar::codec::Serializer;
use ferrobar::wamp::{Dict, Message, Payload, Value};
use serde_json::{json, Value as Json};
use tungstenite::client::ClientRequestBuilder;
use tungstenite::protocol::WebSocket;

const SHARDS: usize = 2;

// ===================================================================================
// Routers

fn tcp_endpoint(port: u16) -> Json {
    json!({"type": "tcp", "interface": "127.0.0.1", "port": port, "backlog": 4096})
}

/// A web transport on `port` with a WebSocket service at `/ws` (`ws_options`) and `/info`.
fn web(port: u16, ws_options: Json) -> Json {
    json!({
        "type": "web",
        "endpoint": tcp_endpoint(port),
        "paths": {
            "ws": {"type": "websocket", "options": ws_options},
            "info": {"type": "nodeinfo"}
        }
    })
}

/// Realm `name`, anonymous allowed everything (meta API included), with `options`.
fn realm(name: &str, options: Json) -> Json {
    json!({"name": name, "roles": [allow_all_role()], "options": options})
}

/// A node: realm1 (plus `extra_realms`), worker `limits`, and `transports`.
fn node(limits: Json, extra_realms: Vec<Json>, transports: Vec<Json>) -> Json {
    let mut realms = vec![realm("realm1", json!({}))];
    realms.extend(extra_realms);
    json!({
        "version": 2,
        "workers": [{
            "type": "router",
            "options": {"limits": limits},
            "realms": realms,
            "transports": transports
        }]
    })
}

/// Starts a router on `make(ports)` with `n` fresh ports (`ports[0]` is the first
/// transport's) and waits until every port accepts.
fn start(n: usize, make: impl Fn(&[u16]) -> Json) -> (Router, Vec<u16>) {
    Router::start_on_ports(n, SHARDS, &[], make)
}

// ===================================================================================
// The router process: memory and descriptors

/// `VmRSS` of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Samples the router's RSS every 10 ms in a thread; [`RssPeak::stop`] returns the peak (KiB).
struct RssPeak {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<u64>,
}

impl RssPeak {
    fn start(pid: u32) -> RssPeak {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut peak = 0;
            // Bounded: the test stops it, and it gives up after 60 s on its own.
            let deadline = Instant::now() + Duration::from_secs(60);
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                peak = peak.max(rss_kib(pid));
                std::thread::sleep(Duration::from_millis(10));
            }
            peak.max(rss_kib(pid))
        });
        RssPeak { stop, handle }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("RSS sampler")
    }
}

// ===================================================================================
// WAMP helpers on top of tests/common

/// Resets the connection: SO_LINGER 0, then close, so the router sees a TCP RST (no GOODBYE,
/// no WebSocket close) — what a crashed client or a dropped NAT mapping looks like.
fn reset(mut c: WampClient) {
    let _ = socket2::SockRef::from(&*c.raw_stream()).set_linger(Some(Duration::ZERO));
    drop(c);
}

/// Resets a plain TCP stream (SO_LINGER 0 and close).
fn reset_stream(s: TcpStream) {
    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
    drop(s);
}

/// Calls a meta procedure; returns its first result argument.
fn meta(c: &mut WampClient, procedure: &str, arguments: Vec<Value>) -> Result<Value, String> {
    match c.call(procedure, args(arguments)) {
        Ok(p) => Ok(p
            .args
            .and_then(|a| a.into_iter().next())
            .unwrap_or(Value::Null)),
        Err((error, _)) => Err(error),
    }
}

/// The ids in a `wamp.subscription.list` / `wamp.registration.list` result
/// (`{exact: [...], prefix: [...], wildcard: [...]}`).
fn listed_ids(v: &Value) -> Vec<u64> {
    let d = v
        .as_dict()
        .unwrap_or_else(|| panic!("expected {{exact, prefix, wildcard}}, got {v:?}"));
    ["exact", "prefix", "wildcard"]
        .iter()
        .flat_map(|k| {
            d.get(k)
                .and_then(Value::as_list)
                .unwrap_or_else(|| panic!("no list {k:?} in {v:?}"))
                .iter()
                .filter_map(Value::as_u64)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// What the meta API shows: sessions in the realm, subscription ids, registration ids.
#[derive(Debug, PartialEq)]
struct Census {
    sessions: u64,
    subscriptions: Vec<u64>,
    registrations: Vec<u64>,
}

fn census(c: &mut WampClient) -> Census {
    let sessions = meta(c, "wamp.session.count", vec![])
        .expect("wamp.session.count")
        .as_u64()
        .expect("a count");
    let subscriptions = listed_ids(&meta(c, "wamp.subscription.list", vec![]).expect("list"));
    let registrations = listed_ids(&meta(c, "wamp.registration.list", vec![]).expect("list"));
    Census {
        sessions,
        subscriptions,
        registrations,
    }
}

/// Polls (up to `within`) until the meta API shows exactly `sessions` sessions, and the
/// subscriptions and registrations in `subs` / `regs` (the ones the caller still holds).
fn expect_census(
    c: &mut WampClient,
    sessions: u64,
    subs: &[u64],
    regs: &[u64],
    within: Duration,
    what: &str,
) {
    let mut subs = subs.to_vec();
    let mut regs = regs.to_vec();
    subs.sort_unstable();
    regs.sort_unstable();
    let want = Census {
        sessions,
        subscriptions: subs,
        registrations: regs,
    };
    let deadline = Instant::now() + within;
    loop {
        let mut got = census(c);
        got.subscriptions.sort_unstable();
        got.registrations.sort_unstable();
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the meta API still shows {got:?} after {within:?}, expected {want:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether the router still knows session `id` (`wamp.session.get`).
fn session_known(c: &mut WampClient, id: u64) -> bool {
    match meta(c, "wamp.session.get", vec![Value::from(id)]) {
        Ok(_) => true,
        Err(e) if e == "wamp.error.no_such_session" => false,
        Err(e) => panic!("wamp.session.get {id}: unexpected error {e}"),
    }
}

/// Polls (up to `within`) until session `id` is gone from the realm.
fn expect_session_gone(c: &mut WampClient, id: u64, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    while session_known(c, id) {
        assert!(
            Instant::now() < deadline,
            "{what}: session {id} is still in the realm after {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends CALL with `options`; returns the request id.
fn call_with(c: &mut WampClient, procedure: &str, options: Dict, payload: Payload) -> u64 {
    let request = c.next_request();
    c.send(&Message::Call {
        request,
        options,
        procedure: procedure.into(),
        payload,
    });
    request
}

/// The ERROR URI of call `request` (panics on RESULT or on nothing within [`T`]).
fn call_error(c: &mut WampClient, request: u64, what: &str) -> String {
    match c.call_outcome(request) {
        Err((error, _)) => error,
        Ok(p) => panic!("{what}: expected an ERROR, got RESULT {p:?}"),
    }
}

/// A session that joins announcing `call_canceling` as callee (so it gets INTERRUPTs).
fn joined_with_call_canceling(port: u16) -> WampClient {
    let mut c = WampClient::connect(port, JSON);
    let callee = Dict::new().with("features", Dict::new().with("call_canceling", true));
    let roles = Dict::new()
        .with("caller", Dict::new())
        .with("callee", callee);
    c.send(&Message::Hello {
        realm: "realm1".into(),
        details: Dict::new().with("roles", roles),
    });
    match c.expect_msg("WELCOME") {
        Message::Welcome { session, .. } => c.session = Some(session),
        other => panic!("expected WELCOME, got {other:?}"),
    }
    c
}

// ===================================================================================
// A subscriber with a small, fixed receive buffer that can stop reading.

/// A WebSocket WAMP session (JSON) whose socket has SO_RCVBUF set before connecting, so the
/// kernel cannot autotune it up to `tcp_rmem`'s maximum (32 MiB here): what it absorbs before
/// the router's own queue fills is then the router's send buffer (at most `tcp_wmem`'s 4 MiB)
/// plus this small buffer.
struct Stubborn {
    ws: WebSocket<Sock>,
    session: u64,
    subscription: u64,
}

impl Stubborn {
    /// Connects, joins realm1 and subscribes to `topic`.
    fn subscribe(port: u16, topic: &str) -> Stubborn {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        socket.set_recv_buffer_size(32 * 1024).expect("SO_RCVBUF");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        socket.connect(&addr.into()).expect("connect");
        let stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(T)).unwrap();
        stream.set_write_timeout(Some(T)).unwrap();
        let uri: tungstenite::http::Uri = format!("ws://127.0.0.1:{port}/ws").parse().unwrap();
        let request = ClientRequestBuilder::new(uri).with_sub_protocol(JSON);
        let (ws, _) = tungstenite::client::client(request, Sock(stream))
            .unwrap_or_else(|e| panic!("WebSocket handshake failed: {e}"));
        let mut s = Stubborn {
            ws,
            session: 0,
            subscription: 0,
        };
        s.send(&Message::Hello {
            realm: "realm1".into(),
            details: Dict::new().with("roles", Dict::new().with("subscriber", Dict::new())),
        });
        match s.recv(T) {
            Some(Message::Welcome { session, .. }) => s.session = session,
            other => panic!("expected WELCOME, got {other:?}"),
        }
        s.send(&Message::Subscribe {
            request: 1,
            options: Dict::new(),
            topic: topic.into(),
        });
        match s.recv(T) {
            Some(Message::Subscribed { subscription, .. }) => s.subscription = subscription,
            other => panic!("expected SUBSCRIBED, got {other:?}"),
        }
        s
    }

    fn send(&mut self, msg: &Message) {
        let mut out = Vec::new();
        Serializer::Json.encode(msg, &mut out);
        let text = String::from_utf8(out).expect("JSON");
        self.ws
            .send(tungstenite::Message::text(text))
            .expect("send");
    }

    /// The next message within `timeout`; `None` on timeout; panics on close.
    fn recv(&mut self, timeout: Duration) -> Option<Message> {
        match self.next(timeout) {
            Ok(m) => m,
            Err(()) => panic!("the connection closed"),
        }
    }

    /// `Ok(Some(msg))`, `Ok(None)` on timeout, `Err(())` once the connection is closed.
    fn next(&mut self, timeout: Duration) -> Result<Option<Message>, ()> {
        let deadline = Instant::now() + timeout;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let _ = self
                .ws
                .get_ref()
                .0
                .set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))));
            match self.ws.read() {
                Ok(tungstenite::Message::Text(t)) => {
                    let mut bytes = t.as_bytes().to_vec();
                    let m = Serializer::Json.decode(&mut bytes).expect("decodable JSON");
                    return Ok(Some(m));
                }
                Ok(tungstenite::Message::Close(_)) => return Err(()),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => return Err(()),
            }
        }
    }
}

// ===================================================================================
// A flood: one publisher, well-behaved subscribers that check order, and a stubborn one.

/// The payload of event `seq`: `[seq, padding]`, about `size` bytes encoded.
fn event_payload(seq: u64, size: usize) -> Payload {
    args(vec![Value::from(seq), Value::Str("x".repeat(size))])
}

/// The sequence number of an EVENT's payload.
fn seq_of(payload: &Payload) -> u64 {
    payload
        .args
        .as_ref()
        .and_then(|a| a.first())
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("an event without a sequence number: {payload:?}"))
}

/// A subscriber in its own thread that expects events 0..n in order, with no gap and no
/// duplicate; `progress` counts what arrived. Returns how many arrived.
fn ordered_reader(
    mut c: WampClient,
    n: u64,
    progress: Arc<AtomicU64>,
    name: String,
) -> JoinHandle<Result<u64, String>> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(45);
        let mut next = 0u64;
        while next < n {
            if Instant::now() >= deadline {
                return Err(format!("{name}: only {next} of {n} events within 45 s"));
            }
            match c.next_incoming(Duration::from_secs(10)) {
                Incoming::Msg(Message::Event { payload, .. }) => {
                    let seq = seq_of(&payload);
                    if seq != next {
                        return Err(format!("{name}: event {seq} arrived when {next} was due"));
                    }
                    next += 1;
                    progress.store(next, Ordering::Relaxed);
                }
                Incoming::Msg(other) => return Err(format!("{name}: unexpected {other:?}")),
                Incoming::Closed(code) => {
                    return Err(format!(
                        "{name}: closed (code {code:?}) after {next} of {n} events"
                    ))
                }
                Incoming::Timeout => {
                    return Err(format!("{name}: no event for 10 s after {next} of {n}"))
                }
            }
        }
        Ok(next)
    })
}

struct Flood {
    /// Events published (all acknowledged).
    published: u64,
    /// What each well-behaved subscriber got (all of them, in order, or the failure).
    readers: Vec<Result<u64, String>>,
    /// The router's peak RSS during the flood, KiB.
    peak_rss: u64,
    took: Duration,
}

/// Publishes `n` events of about `size` bytes to `topic` with `acknowledge`, at most `WINDOW`
/// unacknowledged, and never more than `LEAD_BYTES` of events ahead of what the slowest of
/// `good` has read. That lead bounds what the router can hold for a well-behaved subscriber
/// even before the kernel's socket buffers have grown, so it stays under the 256 KiB
/// `max_output_bytes` of the slow-consumer tests: the well-behaved subscribers are never slow
/// consumers themselves; the stubborn one is.
fn flood(
    router: &Router,
    publisher: &mut WampClient,
    good: Vec<WampClient>,
    topic: &str,
    n: u64,
    size: usize,
) -> Flood {
    const WINDOW: usize = 32;
    const LEAD_BYTES: u64 = 128 * 1024;
    let lead = (LEAD_BYTES / size as u64).max(1);
    let progress: Vec<Arc<AtomicU64>> = good.iter().map(|_| Arc::new(AtomicU64::new(0))).collect();
    let readers: Vec<_> = good
        .into_iter()
        .zip(&progress)
        .enumerate()
        .map(|(i, (c, p))| ordered_reader(c, n, Arc::clone(p), format!("good subscriber {i}")))
        .collect();
    let sampler = RssPeak::start(router.pid());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(40);
    let mut outstanding = 0usize;
    let mut published = 0u64;
    let slowest = |progress: &[Arc<AtomicU64>]| {
        progress
            .iter()
            .map(|p| p.load(Ordering::Relaxed))
            .min()
            .unwrap_or(u64::MAX)
    };
    let ack =
        |publisher: &mut WampClient, outstanding: &mut usize, published: &mut u64| match publisher
            .wait_for("PUBLISHED", |m| {
                matches!(m, Message::Published { .. } | Message::Error { .. })
            }) {
            Message::Published { .. } => {
                *outstanding -= 1;
                *published += 1;
            }
            other => panic!("PUBLISH refused: {other:?}"),
        };
    for seq in 0..n {
        while seq > slowest(&progress).saturating_add(lead) {
            assert!(
                Instant::now() < deadline,
                "the well-behaved subscribers stopped at {} of {seq} published",
                slowest(&progress)
            );
            if readers.iter().any(|r| r.is_finished()) {
                break; // one failed: it reports why below
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if outstanding >= WINDOW {
            ack(publisher, &mut outstanding, &mut published);
        }
        publisher.publish_nowait(
            topic,
            Dict::new().with("acknowledge", true),
            event_payload(seq, size),
        );
        outstanding += 1;
    }
    while outstanding > 0 {
        ack(publisher, &mut outstanding, &mut published);
    }
    let readers: Vec<Result<u64, String>> = readers
        .into_iter()
        .map(|h| h.join().expect("reader thread"))
        .collect();
    let took = started.elapsed();
    let peak_rss = sampler.stop();
    Flood {
        published,
        readers,
        peak_rss,
        took,
    }
}

/// A RawSocket session (JSON) on `port`: handshake, HELLO, WELCOME.
fn rawsocket_joined(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(T)).unwrap();
    s.set_write_timeout(Some(T)).unwrap();
    s.write_all(&[0x7F, 0xF1, 0, 0]).expect("handshake"); // 16 MiB, JSON
    let mut reply = [0u8; 4];
    s.read_exact(&mut reply).expect("handshake reply");
    assert_eq!(reply[0], 0x7F);
    assert_eq!(reply[1] & 0x0F, 1, "JSON accepted: {reply:02x?}");
    let hello = br#"[1,"realm1",{"roles":{"subscriber":{}}}]"#;
    let len = hello.len() as u32;
    let mut frame = vec![0, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    frame.extend_from_slice(hello);
    s.write_all(&frame).expect("HELLO");
    let mut head = [0u8; 4];
    s.read_exact(&mut head).expect("WELCOME header");
    let len = u32::from_be_bytes([0, head[1], head[2], head[3]]) as usize;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("WELCOME");
    assert!(
        body.starts_with(b"[2,"),
        "expected WELCOME: {}",
        String::from_utf8_lossy(&body)
    );
    s
}

/// Polls until the realm has `n` sessions.
fn expect_census_sessions(c: &mut WampClient, n: u64, what: &str) {
    // Generous: sessions leave asynchronously, and CI machines are shared.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = meta(c, "wamp.session.count", vec![])
            .expect("wamp.session.count")
            .as_u64()
            .expect("a count");
        if got == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {got} sessions in the realm after 15 s, expected {n}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ===================================================================================
// The tests, by concern.

#[path = "soak/churn.rs"]
mod churn;
#[path = "soak/half_messages.rs"]
mod half_messages;
#[path = "soak/limits.rs"]
mod limits;
#[path = "soak/silent_callee.rs"]
mod silent_callee;
#[path = "soak/silent_connections.rs"]
mod silent_connections;
#[path = "soak/slow_consumers.rs"]
mod slow_consumers;
