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

// ===================================================================================
// Tests: churn

/// One round of five sessions on `port` that subscribe, register, publish and call each other
/// (across shards, as the kernel spreads the connections), then vanish without GOODBYE: by
/// TCP reset, by a plain close, mid-call as caller and as callee.
fn churn_round(port: u16, base: usize, procedures: &mut Vec<String>) {
    let mut s: Vec<WampClient> = (0..5)
        .map(|i| {
            WampClient::joined(
                port,
                if (base + i).is_multiple_of(2) {
                    JSON
                } else {
                    MSGPACK
                },
            )
        })
        .collect();
    for (i, c) in s.iter_mut().enumerate() {
        let id = base + i;
        c.subscribe(&format!("soak.churn.topic.{}", id % 4));
        c.subscribe_with(
            &format!("soak.churn.own.{id}"),
            Dict::new().with("match", "prefix"),
        )
        .expect("prefix subscription");
        c.subscribe_with("soak.churn..wild", Dict::new().with("match", "wildcard"))
            .expect("wildcard subscription");
        let procedure = format!("soak.churn.proc.{id}");
        c.register(&procedure)
            .unwrap_or_else(|e| panic!("register {procedure}: {e}"));
        procedures.push(procedure);
    }
    let proc_of = |i: usize| format!("soak.churn.proc.{}", base + i);
    let payload = || args(vec![Value::from(base as u64), Value::Str("churn".into())]);

    // Events to the shared topics: most sessions never read them (they pile up in their
    // sockets until the reset throws them away).
    s[0].publish_acked(
        &format!("soak.churn.topic.{}", (base + 1) % 4),
        Dict::new(),
        payload(),
    );
    s[1].publish_acked("soak.churn.x.wild", Dict::new(), payload());

    // 0 calls 1: answered.
    let call = s[0].call_nowait(&proc_of(1), payload());
    let (inv, _, p) = s[1].expect_invocation();
    s[1].yield_result(inv, p);
    assert_eq!(s[0].call_outcome(call), Ok(payload()), "churn call 0 -> 1");

    // 1 calls 2; 2 gets the INVOCATION and is reset: 1 gets wamp.error.canceled.
    let call = s[1].call_nowait(&proc_of(2), payload());
    s[2].expect_invocation();
    let s2 = s.remove(2); // s: 0 1 3 4
    reset(s2);
    let error = call_error(&mut s[1], call, "call to a callee that was reset");
    assert_eq!(error, "wamp.error.canceled", "the callee vanished mid-call");

    // 3 calls 4 and is reset before the answer; 4 answers into the void, then closes its TCP
    // connection without GOODBYE or WebSocket close.
    let call = s[2].call_nowait(&proc_of(4), payload());
    let _ = call;
    let (inv, _, p) = s[3].expect_invocation();
    let s3 = s.remove(2); // s: 0 1 4
    reset(s3);
    s[2].yield_result(inv, p);
    let s4 = s.remove(2); // s: 0 1
    s4.drop_abruptly();

    // 0 calls 1 and both vanish with the call outstanding: 0 by reset, 1 by a plain drop.
    s[0].call_nowait(&proc_of(1), payload());
    s[1].expect_invocation();
    let s1 = s.remove(1);
    let s0 = s.remove(0);
    reset(s0);
    drop(s1);
}

#[test]
fn churn_of_abruptly_vanishing_sessions_leaves_nothing_behind() {
    const THREADS: usize = 6;
    const ROUNDS: usize = 80; // 6 threads × 80 rounds × 5 sessions = 2400 sessions
    let (mut router, ports) = start(1, |p| node(json!({}), vec![], vec![web(p[0], json!({}))]));
    let port = ports[0];
    let pid = router.pid();
    let mut witness = Witness::new(port);
    let mut observer = WampClient::joined(port, JSON);
    let rss_before = rss_kib(pid);
    let started = Instant::now();
    let workers: Vec<JoinHandle<Vec<String>>> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut procedures = Vec::new();
                for r in 0..ROUNDS {
                    churn_round(port, (t * ROUNDS + r) * 5, &mut procedures);
                }
                procedures
            })
        })
        .collect();
    let mut procedures = Vec::new();
    for w in workers {
        match w.join() {
            Ok(p) => procedures.extend(p),
            Err(e) => std::panic::resume_unwind(e),
        }
    }
    let churn_took = started.elapsed();
    assert_eq!(procedures.len(), THREADS * ROUNDS * 5);
    witness.check("after the churn");
    router.assert_alive();

    // Only the witness pair and the observer are left, and their own subscription and
    // registration: every vanished session's state is gone on both shards.
    let mut fresh = WampClient::joined(port, MSGPACK);
    let witness_sub = meta(
        &mut fresh,
        "wamp.subscription.lookup",
        vec![Value::Str(WITNESS_TOPIC.into())],
    )
    .expect("lookup")
    .as_u64()
    .expect("the witness subscription");
    let witness_reg = meta(
        &mut fresh,
        "wamp.registration.lookup",
        vec![Value::Str(WITNESS_PROC.into())],
    )
    .expect("lookup")
    .as_u64()
    .expect("the witness registration");
    expect_census(
        &mut fresh,
        4,
        &[witness_sub],
        &[witness_reg],
        Duration::from_secs(5),
        "after the churn",
    );
    // No dangling registration anywhere: every procedure registers again, at once.
    for procedure in &procedures {
        fresh
            .register(procedure)
            .unwrap_or_else(|e| panic!("re-registering {procedure} after the churn: {e}"));
    }
    // And a call to one of them reaches the new callee.
    let call = observer.call_nowait(&procedures[7], args(vec![Value::from(7u64)]));
    let (inv, _, p) = fresh.expect_invocation();
    fresh.yield_result(inv, p);
    assert_eq!(
        observer.call_outcome(call),
        Ok(args(vec![Value::from(7u64)])),
        "a call to a re-registered procedure"
    );
    let rss_after = rss_kib(pid);
    eprintln!(
        "churn: {} sessions in {churn_took:?}; router RSS {rss_before} KiB before, {rss_after} KiB after",
        procedures.len()
    );
    // Room for allocator slack (≈ 5 MiB seen here), but a leak of more than 10 KiB per
    // session (a write buffer, a session's state, its queued events) would not fit.
    assert!(
        rss_after < rss_before + 24 * 1024,
        "router RSS grew from {rss_before} KiB to {rss_after} KiB over the churn"
    );
    router.assert_alive();
}

// ===================================================================================
// Tests: slow consumers

const FLOOD_TOPIC: &str = "soak.flood";
/// 24 000 events of 1 KiB: 24 MiB, several times what the kernel's socket buffers absorb for
/// the stubborn subscriber (the router's send buffer grows to `tcp_wmem`'s 4 MiB, the
/// subscriber's receive buffer is fixed at 64 KiB), so the router's own queue overflows.
const FLOOD_EVENTS: u64 = 24_000;
const FLOOD_SIZE: usize = 1024;
/// The router's RSS may grow by this much over its baseline during a flood. Justification:
/// output is bounded to `max_output_bytes` (256 KiB; twice that for drop-events) on each of
/// the 5 connections (≤ 2.5 MiB), plus write buffers from the per-shard pools, the inter-shard
/// rings and allocator slack: a few MiB. A router that buffered the stubborn subscriber's
/// backlog instead would grow by the flood minus what the kernel absorbs, ≥ 19 MiB.
const FLOOD_RSS_BOUND_KIB: u64 = 16 * 1024;

fn slow_consumer_router(policy: &str) -> (Router, u16) {
    let limits = json!({
        "max_output_bytes": 262_144,
        "slow_consumer": policy,
        // Out of the way: this test is about the queue limit, not the stall timeout.
        "write_stall_timeout": 120_000
    });
    let (router, ports) = start(1, |p| {
        node(limits.clone(), vec![], vec![web(p[0], json!({}))])
    });
    (router, ports[0])
}

/// The well-behaved subscribers of a flood: one JSON, one MessagePack.
fn good_subscribers(port: u16) -> Vec<WampClient> {
    [JSON, MSGPACK]
        .iter()
        .map(|ser| {
            let mut c = WampClient::joined(port, ser);
            c.subscribe(FLOOD_TOPIC);
            c
        })
        .collect()
}

fn report_flood(what: &str, f: &Flood, rss_before: u64) {
    eprintln!(
        "{what}: {} events of {FLOOD_SIZE} B in {:?}; router RSS {rss_before} KiB before, peak {} KiB",
        f.published, f.took, f.peak_rss
    );
    for (i, r) in f.readers.iter().enumerate() {
        assert_eq!(
            r,
            &Ok(FLOOD_EVENTS),
            "{what}: well-behaved subscriber {i} must get every event in order"
        );
    }
    assert_eq!(f.published, FLOOD_EVENTS);
    assert!(
        f.peak_rss < rss_before + FLOOD_RSS_BOUND_KIB,
        "{what}: router RSS peaked at {} KiB, baseline {rss_before} KiB: more than the {} KiB bound",
        f.peak_rss,
        FLOOD_RSS_BOUND_KIB
    );
}

#[test]
fn slow_consumer_is_closed_and_the_others_get_every_event_in_order() {
    let (mut router, port) = slow_consumer_router("close");
    let mut stubborn = Stubborn::subscribe(port, FLOOD_TOPIC);
    let good = good_subscribers(port);
    let mut publisher = WampClient::joined(port, MSGPACK);
    let mut observer = WampClient::joined(port, JSON);
    assert!(session_known(&mut observer, stubborn.session));
    let rss_before = rss_kib(router.pid());

    let f = flood(
        &router,
        &mut publisher,
        good,
        FLOOD_TOPIC,
        FLOOD_EVENTS,
        FLOOD_SIZE,
    );
    report_flood("close", &f, rss_before);

    // The stubborn subscriber is out of the realm, and its connection is closed: what the
    // kernel buffered arrives (in order), then the close.
    expect_session_gone(
        &mut observer,
        stubborn.session,
        Duration::from_secs(5),
        "the slow consumer (policy close)",
    );
    let mut got = 0u64;
    let mut last = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(
            Instant::now() < deadline,
            "the slow consumer's connection is still open after reading {got} events"
        );
        match stubborn.next(Duration::from_secs(5)) {
            Ok(Some(Message::Event { payload, .. })) => {
                let seq = seq_of(&payload);
                assert!(
                    last.is_none_or(|l| seq == l + 1),
                    "gap or reorder: {last:?} then {seq}"
                );
                last = Some(seq);
                got += 1;
            }
            Ok(Some(other)) => eprintln!("slow consumer got {other:?}"),
            Ok(None) => panic!("the slow consumer's connection is neither closed nor sending"),
            Err(()) => break,
        }
    }
    assert!(
        got < FLOOD_EVENTS,
        "the slow consumer got all {got} events: it was never slow, the test proves nothing"
    );
    let stderr = router.stderr();
    assert!(
        stderr.contains("closing slow consumer"),
        "the router must log why it closed the connection; stderr:\n{stderr}"
    );
    eprintln!("close: the slow consumer got {got} events before the close");
    router.assert_alive();
}

#[test]
fn slow_consumer_with_drop_events_stays_open_and_the_others_get_every_event_in_order() {
    let (mut router, port) = slow_consumer_router("drop-events");
    let mut stubborn = Stubborn::subscribe(port, FLOOD_TOPIC);
    let good = good_subscribers(port);
    let mut publisher = WampClient::joined(port, MSGPACK);
    let mut observer = WampClient::joined(port, JSON);
    let rss_before = rss_kib(router.pid());

    let f = flood(
        &router,
        &mut publisher,
        good,
        FLOOD_TOPIC,
        FLOOD_EVENTS,
        FLOOD_SIZE,
    );
    report_flood("drop-events", &f, rss_before);

    // Only events overflowed: the session is still there, and once it reads again it gets a
    // subsequence of the events, in order, then the next one published.
    assert!(
        session_known(&mut observer, stubborn.session),
        "the slow consumer was closed although only events overflowed (drop-events)"
    );
    let mut got = 0u64;
    let mut last: Option<u64> = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "the backlog does not end");
        match stubborn.next(Duration::from_millis(1000)) {
            Ok(Some(Message::Event { payload, .. })) => {
                let seq = seq_of(&payload);
                assert!(last.is_none_or(|l| seq > l), "reorder: {last:?} then {seq}");
                last = Some(seq);
                got += 1;
            }
            Ok(Some(other)) => panic!("unexpected {other:?}"),
            Ok(None) => break,
            Err(()) => panic!("the slow consumer was closed after {got} events (drop-events)"),
        }
    }
    assert!(
        got < FLOOD_EVENTS,
        "the slow consumer got all {got} events: nothing was dropped, the test proves nothing"
    );
    publisher.publish_acked(FLOOD_TOPIC, Dict::new(), event_payload(FLOOD_EVENTS, 8));
    let details = match stubborn.recv(T) {
        Some(Message::Event {
            payload, details, ..
        }) => {
            assert_eq!(seq_of(&payload), FLOOD_EVENTS);
            details
        }
        other => panic!("after catching up the slow consumer must get new events: {other:?}"),
    };
    eprintln!(
        "drop-events: the slow consumer got {got} of {FLOOD_EVENTS} events; the next EVENT's \
         details: {details:?}"
    );
    assert!(session_known(&mut observer, stubborn.session));
    router.assert_alive();
}

#[test]
fn write_stall_closes_a_subscriber_that_stops_reading_under_the_queue_limit() {
    // The default max_output_bytes (16 MiB) is never reached: 8 MiB are published, of which
    // the kernel absorbs up to ~4 MiB; the rest waits in the router's queue without progress.
    const EVENTS: u64 = 2000;
    const SIZE: usize = 4096;
    let limits = json!({"write_stall_timeout": 1000});
    let (mut router, ports) = start(1, |p| {
        node(limits.clone(), vec![], vec![web(p[0], json!({}))])
    });
    let port = ports[0];
    let stubborn = Stubborn::subscribe(port, FLOOD_TOPIC);
    let mut good = WampClient::joined(port, MSGPACK);
    good.subscribe(FLOOD_TOPIC);
    let mut publisher = WampClient::joined(port, MSGPACK);
    let mut observer = WampClient::joined(port, JSON);
    let f = flood(
        &router,
        &mut publisher,
        vec![good],
        FLOOD_TOPIC,
        EVENTS,
        SIZE,
    );
    assert_eq!(
        f.readers,
        vec![Ok(EVENTS)],
        "the reading subscriber gets everything"
    );
    let flooded = Instant::now();
    expect_session_gone(
        &mut observer,
        stubborn.session,
        Duration::from_secs(6),
        "a subscriber with stalled output (write_stall_timeout 1000 ms)",
    );
    eprintln!(
        "write stall: flood of {:.1} MiB took {:?}; the stalled subscriber was gone {:?} after it",
        (EVENTS * SIZE as u64) as f64 / f64::from(1u32 << 20),
        f.took,
        flooded.elapsed()
    );
    let stderr = router.stderr();
    assert!(
        stderr.contains("no write progress"),
        "the router must log the stall; stderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("unwritten"),
        "closed for the queue limit, not the stall; stderr:\n{stderr}"
    );
    drop(stubborn);
    router.assert_alive();
}

// ===================================================================================
// Tests: a callee that never answers

#[test]
fn callee_that_never_answers_timeouts_cancels_and_its_leaving_release_everything() {
    const NEVER: &str = "soak.never";
    const NEVER_KILL: &str = "soak.never.kill";
    let limits = json!({"max_pending_calls": 3});
    let (mut router, ports) = start(1, |p| {
        node(limits.clone(), vec![], vec![web(p[0], json!({}))])
    });
    let port = ports[0];
    let mut observer = WampClient::joined(port, JSON);
    // Two callees that never answer: one that cannot be interrupted, one that announces
    // call_canceling (it gets INTERRUPTs, and still never answers).
    let mut callee = WampClient::joined(port, MSGPACK);
    callee.register(NEVER).expect("register");
    let mut callee_kill = joined_with_call_canceling(port);
    callee_kill.register(NEVER_KILL).expect("register");
    let mut callers: Vec<WampClient> = (0..4)
        .map(|i| WampClient::joined(port, if i % 2 == 0 { JSON } else { MSGPACK }))
        .collect();
    let p = |i: u64| args(vec![Value::from(i)]);

    // Router-side timeouts, in seconds as Crossbar: an integer and a float.
    let started = Instant::now();
    let t1 = call_with(
        &mut callers[0],
        NEVER,
        Dict::new().with("timeout", 1u64),
        p(1),
    );
    let t2 = call_with(
        &mut callers[1],
        NEVER,
        Dict::new().with("timeout", Value::Float(0.5)),
        p(2),
    );
    assert_eq!(
        call_error(&mut callers[1], t2, "timeout 0.5"),
        "wamp.error.canceled"
    );
    assert_eq!(
        call_error(&mut callers[0], t1, "timeout 1"),
        "wamp.error.canceled"
    );
    let timed_out = started.elapsed();
    assert!(
        timed_out >= Duration::from_millis(900),
        "a 1 s timeout ended the call after {timed_out:?}"
    );
    // The callee got both INVOCATIONs (and, announcing no call_canceling, no INTERRUPT).
    callee.expect_invocation();
    callee.expect_invocation();

    // No timeout: CANCEL in each mode. skip and killnowait (the default) answer at once; kill
    // on a callee that cannot be interrupted behaves as skip.
    for (mode, procedure) in [
        (None, NEVER),
        (Some("skip"), NEVER),
        (Some("killnowait"), NEVER),
        (Some("kill"), NEVER),
        (Some("killnowait"), NEVER_KILL),
    ] {
        let request = callers[2].call_nowait(procedure, p(3));
        // Make sure the INVOCATION went out before canceling.
        if procedure == NEVER {
            callee.expect_invocation();
        } else {
            callee_kill.expect_invocation();
        }
        let options = mode.map_or_else(Dict::new, |m| Dict::new().with("mode", m));
        callers[2].send(&Message::Cancel { request, options });
        assert_eq!(
            call_error(&mut callers[2], request, &format!("CANCEL mode {mode:?}")),
            "wamp.error.canceled",
            "CANCEL mode {mode:?} on {procedure}"
        );
    }
    // The interruptible callee was told (killnowait).
    let interrupt = callee_kill.wait_for("INTERRUPT", |m| matches!(m, Message::Interrupt { .. }));
    eprintln!("never-answering callee: timeouts after {timed_out:?}; {interrupt:?}");

    // Calls left waiting: two on the plain callee, one in kill mode on the interruptible one
    // (canceled, INTERRUPT sent, no answer ever). max_pending_calls is 3: caller 3 is full.
    let waiting: Vec<u64> = (0..2)
        .map(|i| callers[3].call_nowait(NEVER, p(10 + i)))
        .collect();
    let kill = callers[3].call_nowait(NEVER_KILL, p(12));
    callee_kill.expect_invocation();
    callers[3].send(&Message::Cancel {
        request: kill,
        options: Dict::new().with("mode", "kill"),
    });
    callee_kill.wait_for("INTERRUPT (kill)", |m| {
        matches!(m, Message::Interrupt { .. })
    });
    callers[3].expect_nothing("kill mode waits for the callee");
    let over = callers[3].call_nowait(NEVER, p(13));
    assert_eq!(
        call_error(&mut callers[3], over, "a 4th outstanding call"),
        "ferrobar.error.too_many_pending_calls"
    );

    // The callees leave abruptly: every waiting caller gets wamp.error.canceled.
    reset(callee);
    for request in waiting {
        assert_eq!(
            call_error(&mut callers[3], request, "callee left"),
            "wamp.error.canceled",
            "a pending call whose callee left"
        );
    }
    callee_kill.drop_abruptly();
    assert_eq!(
        call_error(&mut callers[3], kill, "interruptible callee left"),
        "wamp.error.canceled",
        "a kill-mode cancel whose callee left without answering"
    );

    // Nothing is left: no registration; the observer and the 4 callers are the only sessions.
    expect_census(
        &mut observer,
        5,
        &[],
        &[],
        Duration::from_secs(5),
        "after the callees left",
    );
    // Both procedures register again, and every caller has its full budget of pending calls
    // back (max_pending_calls 3): nothing of the canceled calls is still counted.
    let mut answering = WampClient::joined(port, MSGPACK);
    answering.register(NEVER).expect("register again");
    answering.register(NEVER_KILL).expect("register again");
    for (i, c) in callers.iter_mut().enumerate() {
        let requests: Vec<u64> = (0..3).map(|k| c.call_nowait(NEVER, p(100 + k))).collect();
        for _ in 0..3 {
            let (inv, _, payload) = answering.expect_invocation();
            answering.yield_result(inv, payload);
        }
        for (k, request) in requests.into_iter().enumerate() {
            assert_eq!(
                c.call_outcome(request),
                Ok(p(100 + k as u64)),
                "caller {i}, call {k} after the cleanup"
            );
        }
    }
    router.assert_alive();
}

// ===================================================================================
// Tests: clients that die or stall in the middle of a large message

/// The header of a masked client WebSocket frame (FIN, binary) announcing `len` bytes.
fn ws_frame_header(len: u64) -> Vec<u8> {
    let mut h = vec![0x82, 0x80 | 127];
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&[0x11, 0x22, 0x33, 0x44]); // mask
    h
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

/// Writes `bytes` and tolerates the router closing in between.
fn write_some(s: &mut TcpStream, bytes: &[u8]) {
    let _ = s.write_all(bytes);
    let _ = s.flush();
}

#[test]
fn clients_dying_or_stalling_mid_message_do_not_hurt_the_router() {
    const MIB: u64 = 1 << 20;
    let half = vec![0x5Au8; (MIB / 2) as usize];
    let ws = json!({"max_message_size": 4 * MIB, "max_frame_size": 4 * MIB});
    let (mut router, ports) = start(2, |p| {
        node(
            json!({}),
            vec![],
            vec![
                web(p[0], ws.clone()),
                json!({"type": "rawsocket", "endpoint": tcp_endpoint(p[1]),
                       "serializers": ["json", "msgpack"]}),
            ],
        )
    });
    let (port, rs_port) = (ports[0], ports[1]);
    let pid = router.pid();
    let mut witness = Witness::new(port);
    let mut observer = WampClient::joined(port, MSGPACK);
    expect_census_sessions(&mut observer, 3, "before");
    let fds_before = fd_count(pid);

    // Half of a 1 MiB frame, then the process "dies": by reset (kill -9 with unread data) and
    // by a plain close (kill -9 otherwise), on WebSocket and on RawSocket.
    for how in ["reset", "close"] {
        let mut c = WampClient::joined(port, JSON);
        let mut frame = ws_frame_header(MIB);
        frame.extend_from_slice(&half);
        write_some(c.raw_stream(), &frame);
        if how == "reset" {
            reset(c);
        } else {
            drop(c);
        }
        let mut r = rawsocket_joined(rs_port);
        let mut frame = vec![0, (MIB >> 16) as u8, (MIB >> 8) as u8, MIB as u8];
        frame.extend_from_slice(&half);
        write_some(&mut r, &frame);
        if how == "reset" {
            reset_stream(r);
        } else {
            drop(r);
        }
        witness.check(&format!("after clients died mid-message ({how})"));
    }
    expect_census_sessions(&mut observer, 3, "after the dead clients");

    // Half a frame, then nothing: the router waits (there is no read timeout for a frame
    // body), keeps serving everyone else, and releases the connection once the peer closes.
    let mut stalled_ws = WampClient::joined(port, JSON);
    let mut frame = ws_frame_header(MIB);
    frame.extend_from_slice(&half);
    write_some(stalled_ws.raw_stream(), &frame);
    let mut stalled_rs = rawsocket_joined(rs_port);
    let mut frame = vec![0, (MIB >> 16) as u8, (MIB >> 8) as u8, MIB as u8];
    frame.extend_from_slice(&half);
    write_some(&mut stalled_rs, &frame);
    for i in 0..3 {
        std::thread::sleep(Duration::from_millis(300));
        witness.check(&format!("while two clients stall mid-frame ({i})"));
    }
    router.assert_alive();
    expect_census_sessions(&mut observer, 5, "with two stalled clients");
    drop(stalled_ws);
    drop(stalled_rs);
    expect_census_sessions(&mut observer, 3, "after the stalled clients closed");
    let fds_after = fds_settle(pid, fds_before, Duration::from_secs(15));
    assert!(
        fds_after <= fds_before,
        "the router holds {fds_after} descriptors, {fds_before} before: a connection leaked"
    );
    witness.check("at the end");
    router.assert_alive();
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
// Tests: thousands of silent connections

#[test]
fn thousands_of_silent_connections_are_closed_after_the_handshake_timeout() {
    const SILENT: usize = 2000;
    let (mut router, ports) = start(1, |p| {
        node(
            json!({}),
            vec![],
            vec![web(p[0], json!({"open_handshake_timeout": 1000}))],
        )
    });
    let port = ports[0];
    let pid = router.pid();
    let mut witness = Witness::new(port);
    let fds_before = fd_count(pid);

    let opened = Instant::now();
    let mut silent: Vec<TcpStream> = (0..SILENT)
        .map(|i| {
            TcpStream::connect(("127.0.0.1", port))
                .unwrap_or_else(|e| panic!("silent connection {i}: {e}"))
        })
        .collect();
    let open_took = opened.elapsed();
    witness.check("with thousands of silent connections open");
    let fds_peak = fd_count(pid);

    let deadline = opened + open_took + Duration::from_secs(8);
    let mut buf = [0u8; 256];
    for (i, s) in silent.iter_mut().enumerate() {
        let mut reply = Vec::new();
        loop {
            let now = Instant::now();
            assert!(
                now < deadline,
                "silent connection {i} of {SILENT} still open {:?} after they were opened \
                 (open_handshake_timeout 1000 ms)",
                opened.elapsed()
            );
            s.set_read_timeout(Some(deadline - now)).unwrap();
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => reply.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if i == 0 {
            let at = opened.elapsed();
            assert!(
                at >= Duration::from_millis(900),
                "closed after {at:?}, before the timeout"
            );
        }
        assert!(
            reply.is_empty() || reply.starts_with(b"HTTP/1.1 408"),
            "silent connection {i}: unexpected answer {:?}",
            String::from_utf8_lossy(&reply)
        );
        if i % 500 == 0 {
            witness.check(&format!("while the silent connections close ({i})"));
        }
    }
    let all_closed = opened.elapsed();
    drop(silent);
    let fds_after = fds_settle(pid, fds_before, Duration::from_secs(15));
    eprintln!(
        "silent: {SILENT} connections opened in {open_took:?}, all closed {all_closed:?} after \
         the first; router fds {fds_before} before, {fds_peak} with them, {fds_after} after"
    );
    assert!(
        fds_after <= fds_before,
        "the router holds {fds_after} descriptors, {fds_before} before the silent connections"
    );
    witness.check("after the silent connections");
    router.assert_alive();
}

// ===================================================================================
// Tests: limits

/// Sends `request` and returns the response head (up to the blank line), or what came before
/// the router closed.
fn http_head(port: u16, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(T)).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while !out.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!(
                "reading an HTTP answer: {e} (got {:?})",
                String::from_utf8_lossy(&out)
            ),
        }
    }
    out
}

#[test]
fn transport_max_connections_refuses_with_503_and_rawsocket_error_4() {
    let (mut router, ports) = start(3, |p| {
        node(
            json!({}),
            vec![],
            vec![
                web(p[0], json!({})),
                json!({"type": "websocket", "endpoint": tcp_endpoint(p[1]),
                       "max_connections": 5}),
                json!({"type": "rawsocket", "endpoint": tcp_endpoint(p[2]),
                       "max_connections": 5, "serializers": ["json"]}),
            ],
        )
    });
    let (ws_port, rs_port) = (ports[1], ports[2]);
    let mut witness = Witness::new(ports[0]);
    let mut observer = WampClient::joined(ports[0], MSGPACK);
    // The start-up probes connected to these ports too: wait until they are released.
    std::thread::sleep(Duration::from_millis(200));

    let upgrade = format!(
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{ws_port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n"
    );
    // WebSocket: 5 sessions, the 6th is refused with 503 before any upgrade.
    let mut held: Vec<WampClient> = (0..5).map(|_| WampClient::joined(ws_port, JSON)).collect();
    let refused = parse_http(&http_raw(ws_port, upgrade.as_bytes()))
        .expect("an HTTP answer to the 6th connection");
    assert_eq!(
        refused.status, 503,
        "the 6th WebSocket connection: {refused:?}"
    );
    witness.check("with the WebSocket transport full");
    // One leaves: there is room again (bounded wait for the router to see the close).
    held.pop().expect("a session").goodbye();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let head = http_head(ws_port, upgrade.as_bytes());
        if head.starts_with(b"HTTP/1.1 101") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no room after a session left: {:?}",
            String::from_utf8_lossy(&head)
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // RawSocket: 5 sessions, the 6th gets error 4 (maximum connection count reached).
    let rs: Vec<TcpStream> = (0..5).map(|_| rawsocket_joined(rs_port)).collect();
    let mut s = TcpStream::connect(("127.0.0.1", rs_port)).expect("connect");
    s.set_read_timeout(Some(T)).unwrap();
    let _ = s.write_all(&[0x7F, 0xF1, 0, 0]);
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    assert_eq!(
        reply,
        vec![0x7F, 0x40, 0, 0],
        "RawSocket error 4 for the 6th connection"
    );
    drop(rs);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut s = TcpStream::connect(("127.0.0.1", rs_port)).expect("connect");
        s.set_read_timeout(Some(T)).unwrap();
        let _ = s.write_all(&[0x7F, 0xF1, 0, 0]);
        let mut reply = [0u8; 4];
        let _ = s.read_exact(&mut reply);
        if reply[1] == 0xF1 || reply[1] & 0x0F == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no RawSocket room after closing: {reply:02x?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Refusing never touched the sessions on the other transports.
    expect_census_sessions(&mut observer, 3 + held.len() as u64, "after the refusals");
    witness.check("after the refusals");
    router.assert_alive();
}

#[test]
fn node_max_connections_counts_every_transport() {
    let limits = json!({"max_connections": 6});
    let (mut router, ports) = start(2, |p| {
        node(
            limits.clone(),
            vec![],
            vec![
                web(p[0], json!({})),
                json!({"type": "rawsocket", "endpoint": tcp_endpoint(p[1]),
                       "serializers": ["json"]}),
            ],
        )
    });
    std::thread::sleep(Duration::from_millis(200));
    let mut witness = Witness::new(ports[0]); // 2 connections
    let rs: Vec<TcpStream> = (0..4).map(|_| rawsocket_joined(ports[1])).collect(); // 6
    let refused = parse_http(&http_raw(
        ports[0],
        format!("GET /info HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", ports[0]).as_bytes(),
    ))
    .expect("an HTTP answer");
    assert_eq!(
        refused.status, 503,
        "the 7th connection of the node: {refused:?}"
    );
    let mut s = TcpStream::connect(("127.0.0.1", ports[1])).expect("connect");
    s.set_read_timeout(Some(T)).unwrap();
    let _ = s.write_all(&[0x7F, 0xF1, 0, 0]);
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    assert_eq!(
        reply,
        vec![0x7F, 0x40, 0, 0],
        "RawSocket error 4 at the node limit"
    );
    witness.check("at the node's connection limit");
    drop(rs);
    router.assert_alive();
}

#[test]
fn max_pending_calls_refuses_the_call_over_the_limit() {
    let limits = json!({"max_pending_calls": 3});
    let (mut router, ports) = start(1, |p| {
        node(limits.clone(), vec![], vec![web(p[0], json!({}))])
    });
    let port = ports[0];
    let mut callee = WampClient::joined(port, JSON);
    callee.register("soak.slow").expect("register");
    let mut caller = WampClient::joined(port, MSGPACK);
    let p = |i: u64| args(vec![Value::from(i)]);
    let first: Vec<u64> = (0..3)
        .map(|i| caller.call_nowait("soak.slow", p(i)))
        .collect();
    let fourth = caller.call_nowait("soak.slow", p(3));
    assert_eq!(
        call_error(&mut caller, fourth, "the 4th outstanding call"),
        "ferrobar.error.too_many_pending_calls"
    );
    // Another session has its own budget.
    let mut other = WampClient::joined(port, JSON);
    let o = other.call_nowait("soak.slow", p(50));
    // The callee got exactly 4 invocations (3 + the other's), never the refused one.
    let mut invocations = Vec::new();
    for _ in 0..4 {
        invocations.push(callee.expect_invocation());
    }
    callee.expect_nothing("the refused call never reached the callee");
    assert!(
        invocations.iter().all(|(_, _, a)| a != &p(3)),
        "{invocations:?}"
    );
    // One answer frees one slot.
    let (inv, _, payload) = invocations.remove(0);
    callee.yield_result(inv, payload.clone());
    assert_eq!(caller.call_outcome(first[0]), Ok(payload));
    let fifth = caller.call_nowait("soak.slow", p(4));
    let (inv5, _, payload5) = callee.expect_invocation();
    assert_eq!(payload5, p(4));
    let sixth = caller.call_nowait("soak.slow", p(5));
    assert_eq!(
        call_error(&mut caller, sixth, "over the limit again"),
        "ferrobar.error.too_many_pending_calls"
    );
    for (inv, _, payload) in invocations {
        callee.yield_result(inv, payload);
    }
    callee.yield_result(inv5, payload5);
    assert_eq!(caller.call_outcome(first[1]), Ok(p(1)));
    assert_eq!(caller.call_outcome(first[2]), Ok(p(2)));
    assert_eq!(caller.call_outcome(fifth), Ok(p(4)));
    assert_eq!(other.call_outcome(o), Ok(p(50)));
    router.assert_alive();
}

#[test]
fn realm_max_sessions_aborts_the_hello_over_the_limit() {
    let (mut router, ports) = start(1, |p| {
        node(
            json!({}),
            vec![realm("small", json!({"max_sessions": 2}))],
            vec![web(p[0], json!({}))],
        )
    });
    let port = ports[0];
    let join = |ser: &str| {
        let mut c = WampClient::connect(port, ser);
        c.hello("small");
        c
    };
    let a = join(JSON);
    let _b = join(MSGPACK);
    let mut third = WampClient::connect(port, JSON);
    third.send(&Message::Hello {
        realm: "small".into(),
        details: Dict::new().with("roles", Dict::new().with("caller", Dict::new())),
    });
    let (reason, _, _) = third.expect_abort_and_close();
    assert_eq!(reason, "ferrobar.error.realm_full");
    // Other realms are not affected.
    let mut other = WampClient::joined(port, JSON);
    assert_eq!(
        meta(&mut other, "wamp.session.count", vec![]),
        Ok(Value::from(1u64))
    );
    // A session that leaves (abruptly) makes room.
    reset(a);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = WampClient::connect(port, MSGPACK);
        c.send(&Message::Hello {
            realm: "small".into(),
            details: Dict::new().with("roles", Dict::new().with("caller", Dict::new())),
        });
        match c.expect_msg("WELCOME or ABORT") {
            Message::Welcome { .. } => break,
            Message::Abort { reason, .. } => {
                assert_eq!(reason, "ferrobar.error.realm_full");
                assert!(Instant::now() < deadline, "no room after a session left");
                std::thread::sleep(Duration::from_millis(50));
            }
            other => panic!("expected WELCOME or ABORT, got {other:?}"),
        }
    }
    router.assert_alive();
}

#[test]
fn hello_timeout_aborts_a_websocket_that_never_says_hello() {
    let limits = json!({"hello_timeout": 1000});
    let (mut router, ports) = start(1, |p| {
        node(limits.clone(), vec![], vec![web(p[0], json!({}))])
    });
    let port = ports[0];
    let mut witness = Witness::new(port);
    let started = Instant::now();
    let mut silent = WampClient::connect(port, JSON);
    let mut silent_bin = WampClient::connect(port, MSGPACK);
    let (reason, _, _) = silent.expect_abort_and_close();
    assert_eq!(reason, "wamp.error.protocol_violation");
    let (reason, _, _) = silent_bin.expect_abort_and_close();
    assert_eq!(reason, "wamp.error.protocol_violation");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "aborted after {took:?}, before the timeout"
    );
    // A session that did say HELLO in time is not affected.
    std::thread::sleep(Duration::from_millis(500));
    witness.check("after the hello timeout");
    router.assert_alive();
}
