//! Authentication against the real binary, over loopback WebSocket with WAMP messages written
//! by hand as JSON: what a client (or an attacker) can do wrong, and what the router answers.
//!
//! The signatures are computed here with the RustCrypto and dalek crates (HMAC-SHA256, PBKDF2,
//! Ed25519) following the protocol as Autobahn does it, not with ferrobar's own helpers, so a
//! mistake on the router side cannot cancel out. The positive tests show that these
//! hand-made answers are accepted, which gives the negative tests their meaning.
//!
//! Failed authentications are throttled per peer host (5 free failures, then 1 s doubling up to
//! 30 s: `src/auth/throttle.rs`). Tests that make several failures therefore connect from
//! loopback addresses of their own (127.0.0.x, one per attempt), except the throttle tests,
//! which use 127.0.0.1 and 127.0.0.2 on routers of their own.

mod common;

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use ed25519_dalek::{Signer as _, SigningKey};
use hmac::{KeyInit as _, Mac as _};
use serde_json::{json, Value as J};
use sha2::Sha256;
use tungstenite::client::ClientRequestBuilder;
use tungstenite::protocol::WebSocket;

const HELLO: u64 = 1;
const WELCOME: u64 = 2;
const ABORT: u64 = 3;
const CHALLENGE: u64 = 4;
const AUTHENTICATE: u64 = 5;

const NOT_AUTHORIZED: &str = "wamp.error.not_authorized";
const NO_AUTH_METHOD: &str = "wamp.error.no_auth_method";
const PROTOCOL_VIOLATION: &str = "wamp.error.protocol_violation";
const FAILED: &str = "authentication failed";

const JOE_TICKET: &str = "joe-secret-ticket";
const ALICE_SECRET: &str = "alice-secret";
const BOB_PASSWORD: &str = "bob-password";
const BOB_SALT: &str = "salt123";
const DEVICE_SEED: [u8; 32] = [7; 32];
const OTHER_SEED: [u8; 32] = [9; 32];

// ----- crypto, as the client side computes it -----

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length: {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Autobahn's `compute_wcs(key, challenge)`: base64(HMAC-SHA256(key, challenge)).
fn wampcra_signature(key: &str, challenge: &str) -> String {
    let mut mac = <hmac::Hmac<Sha256>>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(challenge.as_bytes());
    b64(&mac.finalize().into_bytes())
}

/// Autobahn's `derive_key(secret, salt, iterations, keylen)`: base64(PBKDF2-HMAC-SHA256).
fn derive_key(secret: &str, salt: &str, iterations: u32, keylen: usize) -> String {
    let mut out = vec![0u8; keylen];
    pbkdf2::pbkdf2_hmac::<Sha256>(secret.as_bytes(), salt.as_bytes(), iterations, &mut out);
    b64(&out)
}

fn public_hex(seed: &[u8; 32]) -> String {
    hex(SigningKey::from_bytes(seed).verifying_key().as_bytes())
}

/// Autobahn's cryptosign answer: hex(signature(challenge) || challenge).
fn cryptosign_signature(seed: &[u8; 32], challenge: &[u8]) -> String {
    let sig = SigningKey::from_bytes(seed).sign(challenge);
    format!("{}{}", hex(&sig.to_bytes()), hex(challenge))
}

// ----- the node -----

fn auth_block() -> J {
    json!({
        "ticket": {"type": "static", "principals": {
            "joe": {"ticket": JOE_TICKET, "role": "frontend"}}},
        "wampcra": {"type": "static", "users": {
            "alice": {"secret": ALICE_SECRET, "role": "frontend"},
            "bob": {"secret": BOB_PASSWORD, "role": "backend",
                    "salt": BOB_SALT, "iterations": 1000, "keylen": 32}}},
        "cryptosign": {"type": "static", "principals": {
            "device1": {"authorized_keys": [public_hex(&DEVICE_SEED)], "role": "device"}}}
    })
}

fn role(name: &str) -> J {
    json!({"name": name, "permissions": [{
        "uri": "", "match": "prefix",
        "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
        "disclose": {"caller": false, "publisher": false}, "cache": true}]})
}

/// realm1 with roles frontend, backend, device; one web transport whose `/ws` offers ticket,
/// WAMP-CRA (unsalted alice, salted bob) and cryptosign (device1), no anonymous.
fn auth_config(port: u16) -> J {
    json!({
        "version": 2,
        "workers": [{
            "type": "router",
            "realms": [{"name": "realm1",
                        "roles": [role("frontend"), role("backend"), role("device")]}],
            "transports": [{
                "type": "web",
                "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
                "paths": {"ws": {"type": "websocket", "auth": auth_block()}}
            }]
        }]
    })
}

fn auth_router(shards: usize) -> Router {
    Router::start_with(auth_config, shards)
}

// ----- a WebSocket client speaking JSON written by hand -----

/// 127.0.0.10 and up: one address per refused attempt, so no test is throttled by its own
/// failures (127.0.0.1 and 127.0.0.2 are the throttle tests').
static NEXT_SOURCE: AtomicU8 = AtomicU8::new(10);

fn fresh_source() -> Ipv4Addr {
    let n = NEXT_SOURCE.fetch_add(1, Ordering::Relaxed);
    assert!(n < 250, "out of loopback source addresses");
    Ipv4Addr::new(127, 0, 0, n)
}

struct Client {
    ws: WebSocket<Sock>,
    closed: bool,
}

#[derive(Debug)]
enum In {
    Msg(J),
    Closed,
    Timeout,
}

impl Client {
    /// Connects from 127.0.0.1 to `ws://127.0.0.1:port/ws` with `wamp.2.json`.
    fn connect(port: u16) -> Client {
        Self::connect_from(port, Ipv4Addr::LOCALHOST)
    }

    /// Connects from the local address `source` (any 127.0.0.0/8 address works on Linux).
    fn connect_from(port: u16, source: Ipv4Addr) -> Client {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        socket
            .bind(&SocketAddr::from((source, 0)).into())
            .unwrap_or_else(|e| panic!("bind {source}: {e}"));
        socket
            .connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)).into(), T)
            .expect("connect to the router");
        let stream: TcpStream = socket.into();
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(T)).unwrap();
        stream.set_write_timeout(Some(T)).unwrap();
        let uri: tungstenite::http::Uri = format!("ws://127.0.0.1:{port}/ws").parse().unwrap();
        let request = ClientRequestBuilder::new(uri).with_sub_protocol(JSON);
        let (ws, _) = tungstenite::client::client(request, Sock(stream))
            .unwrap_or_else(|e| panic!("WebSocket handshake failed: {e}"));
        Client { ws, closed: false }
    }

    fn send(&mut self, msg: J) {
        self.ws
            .send(tungstenite::Message::text(msg.to_string()))
            .expect("send");
    }

    fn next(&mut self, timeout: Duration) -> In {
        if self.closed {
            return In::Closed;
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return In::Timeout;
            }
            let _ = self.ws.get_ref().0.set_read_timeout(Some(left));
            match self.ws.read() {
                Ok(tungstenite::Message::Text(t)) => {
                    return In::Msg(serde_json::from_str(t.as_str()).expect("JSON from the router"))
                }
                Ok(tungstenite::Message::Close(_)) => {
                    self.closed = true;
                    return In::Closed;
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => {
                    self.closed = true;
                    return In::Closed;
                }
            }
        }
    }

    /// The next message, which must be of type `code`.
    fn expect(&mut self, code: u64, what: &str) -> J {
        match self.next(T) {
            In::Msg(m) if m[0] == code => m,
            other => panic!("expected {what}, got {other:?}"),
        }
    }

    /// The next message must be ABORT; then the connection must close with nothing else.
    /// Returns `(reason, message)`.
    fn expect_abort(&mut self) -> (String, String) {
        let abort = self.expect(ABORT, "ABORT");
        let reason = abort[2].as_str().expect("ABORT reason").to_owned();
        let message = abort[1]["message"].as_str().unwrap_or_default().to_owned();
        self.expect_closed_silently(&format!("after ABORT {abort}"));
        (reason, message)
    }

    /// Nothing more arrives and the connection closes (within [`T`]).
    fn expect_closed_silently(&mut self, context: &str) {
        match self.next(T) {
            In::Closed => {}
            other => panic!("{context}: expected the connection to close, got {other:?}"),
        }
    }

    fn hello(&mut self, authmethods: &[&str], authid: Option<&str>, authextra: J) {
        let mut details = json!({
            "roles": {"caller": {}, "callee": {}, "publisher": {}, "subscriber": {}},
            "authmethods": authmethods,
            "authextra": authextra,
        });
        if let Some(id) = authid {
            details["authid"] = json!(id);
        }
        self.send(json!([HELLO, "realm1", details]));
    }

    fn authenticate(&mut self, signature: &str) {
        self.send(json!([AUTHENTICATE, signature, {}]));
    }

    /// HELLO with one method and authid; returns CHALLENGE.extra (the method is checked).
    fn challenge(&mut self, method: &str, authid: &str) -> J {
        self.hello(&[method], Some(authid), json!({}));
        let c = self.expect(CHALLENGE, "CHALLENGE");
        assert_eq!(c[1], method, "CHALLENGE method: {c}");
        c[2].clone()
    }
}

/// Asserts a WELCOME with this identity.
fn assert_welcome(m: &J, authid: &str, authrole: &str, authmethod: &str) {
    assert_eq!(m[0], WELCOME, "expected WELCOME, got {m}");
    let d = &m[2];
    assert_eq!(
        (
            d["authid"].as_str(),
            d["authrole"].as_str(),
            d["authmethod"].as_str(),
            d["authprovider"].as_str()
        ),
        (
            Some(authid),
            Some(authrole),
            Some(authmethod),
            Some("static")
        ),
        "WELCOME details: {d}"
    );
}

/// The right answer to a WAMP-CRA CHALLENGE for `secret`, salted or not as `extra` says.
fn answer_wampcra(extra: &J, secret: &str) -> String {
    let challenge = extra["challenge"].as_str().expect("extra.challenge");
    let key = match extra["salt"].as_str() {
        Some(salt) => derive_key(
            secret,
            salt,
            extra["iterations"].as_u64().expect("iterations") as u32,
            extra["keylen"].as_u64().expect("keylen") as usize,
        ),
        None => secret.to_owned(),
    };
    wampcra_signature(&key, challenge)
}

fn answer_cryptosign(extra: &J, seed: &[u8; 32]) -> String {
    let challenge = unhex(extra["challenge"].as_str().expect("extra.challenge"));
    assert_eq!(challenge.len(), 32, "cryptosign challenge: {extra}");
    cryptosign_signature(seed, &challenge)
}

// ----- tests -----

#[test]
fn hand_made_answers_are_accepted_for_every_method() {
    let router = auth_router(2);
    let port = router.port;

    let mut c = Client::connect(port);
    let extra = c.challenge("ticket", "joe");
    assert_eq!(extra, json!({}), "a ticket CHALLENGE has no extra");
    c.authenticate(JOE_TICKET);
    assert_welcome(&c.expect(WELCOME, "WELCOME"), "joe", "frontend", "ticket");

    let mut c = Client::connect(port);
    let extra = c.challenge("wampcra", "alice");
    assert!(extra.get("salt").is_none(), "unsalted user: {extra}");
    let challenge: J = serde_json::from_str(extra["challenge"].as_str().unwrap()).unwrap();
    assert_eq!(challenge["authid"], "alice", "{challenge}");
    assert_eq!(challenge["authmethod"], "wampcra", "{challenge}");
    c.authenticate(&answer_wampcra(&extra, ALICE_SECRET));
    assert_welcome(
        &c.expect(WELCOME, "WELCOME"),
        "alice",
        "frontend",
        "wampcra",
    );

    let mut c = Client::connect(port);
    let extra = c.challenge("wampcra", "bob");
    assert_eq!(
        (&extra["salt"], &extra["iterations"], &extra["keylen"]),
        (&json!(BOB_SALT), &json!(1000), &json!(32)),
        "salted user: CHALLENGE.extra carries the PBKDF2 parameters: {extra}"
    );
    c.authenticate(&answer_wampcra(&extra, BOB_PASSWORD));
    assert_welcome(&c.expect(WELCOME, "WELCOME"), "bob", "backend", "wampcra");

    let mut c = Client::connect(port);
    let extra = c.challenge("cryptosign", "device1");
    c.authenticate(&answer_cryptosign(&extra, &DEVICE_SEED));
    assert_welcome(
        &c.expect(WELCOME, "WELCOME"),
        "device1",
        "device",
        "cryptosign",
    );

    // cryptosign by public key alone (no authid)
    let mut c = Client::connect(port);
    c.hello(
        &["cryptosign"],
        None,
        json!({"pubkey": public_hex(&DEVICE_SEED)}),
    );
    let ch = c.expect(CHALLENGE, "CHALLENGE");
    c.authenticate(&answer_cryptosign(&ch[2], &DEVICE_SEED));
    assert_welcome(
        &c.expect(WELCOME, "WELCOME"),
        "device1",
        "device",
        "cryptosign",
    );
}

#[test]
fn wrong_ticket_secret_and_signature_are_refused_alike() {
    let router = auth_router(2);
    let port = router.port;
    let mut refusals = Vec::new();

    let mut c = Client::connect_from(port, fresh_source());
    c.challenge("ticket", "joe");
    c.authenticate("not-joes-ticket");
    refusals.push(("wrong ticket", c.expect_abort()));

    let mut c = Client::connect_from(port, fresh_source());
    let extra = c.challenge("wampcra", "alice");
    c.authenticate(&answer_wampcra(&extra, "not-alices-secret"));
    refusals.push(("wrong WAMP-CRA secret", c.expect_abort()));

    // salted: signing with the password itself instead of the derived key
    let mut c = Client::connect_from(port, fresh_source());
    let extra = c.challenge("wampcra", "bob");
    c.authenticate(&wampcra_signature(
        BOB_PASSWORD,
        extra["challenge"].as_str().unwrap(),
    ));
    refusals.push(("salted WAMP-CRA signed with the password", c.expect_abort()));

    let mut c = Client::connect_from(port, fresh_source());
    let extra = c.challenge("cryptosign", "device1");
    c.authenticate(&answer_cryptosign(&extra, &OTHER_SEED));
    refusals.push(("cryptosign signed with another key", c.expect_abort()));

    let mut c = Client::connect_from(port, fresh_source());
    c.challenge("cryptosign", "device1");
    c.authenticate("zz-not-hex");
    refusals.push(("cryptosign garbage", c.expect_abort()));

    for (what, (reason, message)) in &refusals {
        assert_eq!(
            (reason.as_str(), message.as_str()),
            (NOT_AUTHORIZED, FAILED),
            "{what}"
        );
    }
}

#[test]
fn unknown_authid_is_refused_exactly_like_a_wrong_secret() {
    let router = auth_router(2);
    let port = router.port;
    for method in ["ticket", "wampcra", "cryptosign"] {
        // the wrong secret for a known principal ...
        let mut c = Client::connect_from(port, fresh_source());
        let known = match method {
            "ticket" => "joe",
            "wampcra" => "alice",
            _ => "device1",
        };
        let extra = c.challenge(method, known);
        let wrong = match method {
            "ticket" => "wrong".to_owned(),
            "wampcra" => answer_wampcra(&extra, "wrong"),
            _ => answer_cryptosign(&extra, &OTHER_SEED),
        };
        c.authenticate(&wrong);
        let wrong_secret = c.expect_abort();

        // ... and an authid no principal has: still a CHALLENGE (a decoy), then the same ABORT
        let mut c = Client::connect_from(port, fresh_source());
        let extra = c.challenge(method, "mallory");
        let answer = match method {
            "ticket" => JOE_TICKET.to_owned(),
            "wampcra" => answer_wampcra(&extra, ALICE_SECRET),
            _ => answer_cryptosign(&extra, &DEVICE_SEED),
        };
        c.authenticate(&answer);
        let unknown = c.expect_abort();

        assert_eq!(
            unknown, wrong_secret,
            "{method}: an unknown authid must be refused exactly as a wrong secret"
        );
        assert_eq!(
            unknown,
            (NOT_AUTHORIZED.to_owned(), FAILED.to_owned()),
            "{method}"
        );
    }
}

#[test]
fn cryptosign_signature_for_another_sessions_challenge_is_refused() {
    let router = auth_router(2);
    let port = router.port;

    // An eavesdropper saw session A's (valid) answer ...
    let mut a = Client::connect(port);
    let extra_a = a.challenge("cryptosign", "device1");
    let answer_a = answer_cryptosign(&extra_a, &DEVICE_SEED);
    a.authenticate(&answer_a);
    assert_welcome(
        &a.expect(WELCOME, "WELCOME"),
        "device1",
        "device",
        "cryptosign",
    );

    // ... and replays it on its own session B: refused.
    let mut b = Client::connect_from(port, fresh_source());
    let extra_b = b.challenge("cryptosign", "device1");
    assert_ne!(
        extra_a["challenge"], extra_b["challenge"],
        "every session gets a fresh challenge"
    );
    b.authenticate(&answer_a);
    assert_eq!(b.expect_abort(), (NOT_AUTHORIZED.into(), FAILED.into()));

    // The old signature with the new challenge pasted after it: refused too.
    let mut c = Client::connect_from(port, fresh_source());
    let extra_c = c.challenge("cryptosign", "device1");
    let forged = format!(
        "{}{}",
        &answer_a[..128],
        extra_c["challenge"].as_str().unwrap()
    );
    c.authenticate(&forged);
    assert_eq!(c.expect_abort(), (NOT_AUTHORIZED.into(), FAILED.into()));

    // A WAMP-CRA answer replayed on another session: refused as well.
    let mut d = Client::connect(port);
    let extra_d = d.challenge("wampcra", "alice");
    let answer_d = answer_wampcra(&extra_d, ALICE_SECRET);
    d.authenticate(&answer_d);
    assert_welcome(
        &d.expect(WELCOME, "WELCOME"),
        "alice",
        "frontend",
        "wampcra",
    );
    let mut e = Client::connect_from(port, fresh_source());
    e.challenge("wampcra", "alice");
    e.authenticate(&answer_d);
    assert_eq!(e.expect_abort(), (NOT_AUTHORIZED.into(), FAILED.into()));
}

#[test]
fn authenticate_without_a_challenge_is_a_protocol_violation() {
    // Before HELLO.
    let router = auth_router(2);
    let mut c = Client::connect_from(router.port, fresh_source());
    c.authenticate(JOE_TICKET);
    let (reason, _) = c.expect_abort();
    assert_eq!(reason, PROTOCOL_VIOLATION, "AUTHENTICATE before HELLO");

    // After HELLO on a transport that only has anonymous: the session is welcomed at once,
    // there is nothing to answer.
    let anon = Router::start_default(2);
    let mut c = Client::connect(anon.port);
    c.hello(&["anonymous"], None, json!({}));
    let w = c.expect(WELCOME, "WELCOME");
    assert_eq!(w[2]["authmethod"], "anonymous", "{w}");
    c.authenticate("anything");
    let (reason, _) = c.expect_abort();
    assert_eq!(
        reason, PROTOCOL_VIOLATION,
        "AUTHENTICATE on an anonymous session"
    );
}

#[test]
fn a_second_authenticate_is_a_protocol_violation() {
    let router = auth_router(2);
    let port = router.port;

    // Joined, then AUTHENTICATE again.
    let mut c = Client::connect(port);
    c.challenge("ticket", "joe");
    c.authenticate(JOE_TICKET);
    assert_welcome(&c.expect(WELCOME, "WELCOME"), "joe", "frontend", "ticket");
    c.authenticate(JOE_TICKET);
    let (reason, _) = c.expect_abort();
    assert_eq!(reason, PROTOCOL_VIOLATION, "AUTHENTICATE after WELCOME");

    // Both at once: WELCOME for the first, ABORT protocol_violation for the second.
    let mut c = Client::connect(port);
    c.challenge("ticket", "joe");
    c.authenticate(JOE_TICKET);
    c.authenticate(JOE_TICKET);
    assert_welcome(&c.expect(WELCOME, "WELCOME"), "joe", "frontend", "ticket");
    let (reason, _) = c.expect_abort();
    assert_eq!(reason, PROTOCOL_VIOLATION, "pipelined second AUTHENTICATE");

    // A wrong one, then the right one at once: the first ends the session (ABORT
    // not_authorized); the second gets no second chance and no second answer.
    let mut c = Client::connect_from(port, fresh_source());
    c.challenge("ticket", "joe");
    c.authenticate("wrong");
    c.authenticate(JOE_TICKET);
    assert_eq!(c.expect_abort(), (NOT_AUTHORIZED.into(), FAILED.into()));
}

#[test]
fn unknown_or_unoffered_authmethods_are_refused() {
    let router = auth_router(2);
    let port = router.port;
    let hello_only = |methods: &[&str]| {
        let mut c = Client::connect_from(port, fresh_source());
        c.hello(methods, Some("joe"), json!({}));
        c.expect_abort()
    };

    // Not a WAMP authmethod at all: refused as Crossbar does (not_authorized, naming it).
    let (reason, message) = hello_only(&["foo"]);
    assert_eq!(reason, NOT_AUTHORIZED);
    assert_eq!(message, "invalid authmethod \"foo\"");

    // Real methods this transport does not offer: no_auth_method.
    let (reason, message) = hello_only(&["anonymous", "scram"]);
    assert_eq!(reason, NO_AUTH_METHOD, "{message}");
    assert!(message.contains("anonymous"), "{message}");

    // No authmethods at all means anonymous, which this transport does not offer.
    let mut c = Client::connect_from(port, fresh_source());
    c.send(json!([HELLO, "realm1", {"roles": {"caller": {}}}]));
    assert_eq!(c.expect_abort().0, NO_AUTH_METHOD);

    // The client's first acceptable method wins: an unknown one listed after it is never
    // looked at (Crossbar's order).
    let mut c = Client::connect(port);
    c.hello(&["ticket", "foo"], Some("joe"), json!({}));
    c.expect(CHALLENGE, "CHALLENGE");
    c.authenticate(JOE_TICKET);
    assert_welcome(&c.expect(WELCOME, "WELCOME"), "joe", "frontend", "ticket");
}

/// Five wrong tickets from 127.0.0.1 (each refused as usual).
fn five_failures(port: u16) {
    for i in 0..5 {
        let mut c = Client::connect(port);
        c.challenge("ticket", "joe");
        c.authenticate("wrong");
        assert_eq!(
            c.expect_abort(),
            (NOT_AUTHORIZED.into(), FAILED.into()),
            "failure {} of 5 is refused as usual",
            i + 1
        );
    }
}

/// The right ticket from `source`: `Ok(())` on WELCOME, `Err(message)` when refused at HELLO.
fn right_ticket_from(port: u16, source: Ipv4Addr) -> Result<(), (String, String)> {
    let mut c = Client::connect_from(port, source);
    c.hello(&["ticket"], Some("joe"), json!({}));
    match c.next(T) {
        In::Msg(m) if m[0] == CHALLENGE => {
            c.authenticate(JOE_TICKET);
            assert_welcome(&c.expect(WELCOME, "WELCOME"), "joe", "frontend", "ticket");
            Ok(())
        }
        In::Msg(m) if m[0] == ABORT => {
            c.expect_closed_silently("after the throttle's ABORT");
            Err((
                m[2].as_str().unwrap_or_default().to_owned(),
                m[1]["message"].as_str().unwrap_or_default().to_owned(),
            ))
        }
        other => panic!("expected CHALLENGE or ABORT, got {other:?}"),
    }
}

fn assert_throttled(outcome: Result<(), (String, String)>, what: &str) {
    match outcome {
        Ok(()) => panic!("{what}: joined, but the host had 5 failed attempts just before"),
        Err((reason, message)) => {
            assert_eq!(reason, NOT_AUTHORIZED, "{what}: {message}");
            assert!(
                message.contains("too many failed authentication attempts")
                    && message.contains("retry in"),
                "{what}: the refusal must say to retry later: {message:?}"
            );
        }
    }
}

#[test]
fn throttle_after_five_failures_from_one_host_single_shard() {
    let router = auth_router(1);
    let port = router.port;
    five_failures(port);
    let last_failure = Instant::now();

    // The sixth attempt, even with the right ticket, is refused at HELLO.
    assert_throttled(
        right_ticket_from(port, Ipv4Addr::LOCALHOST),
        "sixth attempt",
    );

    // Another host is not affected.
    right_ticket_from(port, Ipv4Addr::new(127, 0, 0, 2))
        .expect("127.0.0.2 must not be throttled for 127.0.0.1's failures");

    // Slowed down, not locked out: after the 1 s wait the right ticket works again ...
    let wait = Duration::from_millis(1100).saturating_sub(last_failure.elapsed());
    std::thread::sleep(wait);
    right_ticket_from(port, Ipv4Addr::LOCALHOST)
        .expect("after the wait the right ticket must work again");

    // ... and that success forgot the failures: a wrong ticket is an ordinary refusal again.
    let mut c = Client::connect(port);
    c.challenge("ticket", "joe");
    c.authenticate("wrong");
    assert_eq!(c.expect_abort(), (NOT_AUTHORIZED.into(), FAILED.into()));
}

#[test]
fn throttle_counts_a_hosts_failures_on_every_shard() {
    // With two shards the connections of one host are spread over both (SO_REUSEPORT). The
    // failures are the host's, wherever they landed: after 5 of them, every attempt from that
    // host is slowed down, whichever shard takes it.
    let router = auth_router(2);
    let port = router.port;
    five_failures(port);
    let mut outcomes = Vec::new();
    for _ in 0..4 {
        outcomes.push(right_ticket_from(port, Ipv4Addr::LOCALHOST));
    }
    let summary = format!("{outcomes:?}");
    for (i, outcome) in outcomes.into_iter().enumerate() {
        assert_throttled(
            outcome,
            &format!(
                "attempt {} of 4 after 5 failures from 127.0.0.1 (2 shards; all 4: {summary})",
                i + 1
            ),
        );
    }
    right_ticket_from(port, Ipv4Addr::new(127, 0, 0, 2))
        .expect("127.0.0.2 must not be throttled for 127.0.0.1's failures");
}

#[test]
fn ferrobar_check_accepts_a_dynamic_authorizer_and_names_a_bad_one() {
    let check = |role: serde_json::Value| {
        let mut config = auth_config(free_port());
        config["workers"][0]["realms"][0]["roles"][0] = role;
        let dir = tempfile::Builder::new()
            .prefix("ferrobar-auth-")
            .tempdir()
            .unwrap();
        let cbdir = dir.path().join(".crossbar");
        std::fs::create_dir_all(&cbdir).unwrap();
        std::fs::write(
            cbdir.join("config.json"),
            serde_json::to_string_pretty(&config).unwrap(),
        )
        .unwrap();
        let out = ferrobar_command()
            .arg("check")
            .arg("--cbdir")
            .arg(&cbdir)
            .output()
            .expect("run ferrobar check");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stderr)
    };
    let (code, stderr) = check(json!({"name": "frontend", "authorizer": "com.example.authorize"}));
    assert_eq!(
        code,
        Some(0),
        "a dynamic authorizer role is valid: {stderr}"
    );

    let (code, stderr) = check(json!({"name": "frontend", "authorizer": "com.example..x"}));
    assert_eq!(code, Some(1), "ferrobar check must fail: {stderr}");
    let problems: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("workers["))
        .collect();
    assert_eq!(
        problems,
        [
            r#"workers[0].realms[0].roles[0].authorizer: invalid authorizer procedure URI "com.example..x""#
        ],
        "the only problem, named by its path: {stderr}"
    );
}

/// The router's log, at its most verbose, never holds a secret: not the tickets and WAMP-CRA
/// secrets of the config, not what clients sent to authenticate (right or wrong), not the keys
/// derived from salted passwords, not the node's or a client's private key.
#[test]
fn secrets_are_never_logged_even_at_trace_level() {
    let port = free_port();
    let router = Router::start_with_args(auth_config(port), 2, &["--loglevel", "trace"]);
    let wrong_ticket = "not-joes-ticket-but-secret-too";
    let bob_key = derive_key(BOB_PASSWORD, BOB_SALT, 1000, 32);

    let mut c = Client::connect(port);
    c.challenge("ticket", "joe");
    c.authenticate(JOE_TICKET);
    c.expect(WELCOME, "WELCOME");

    let mut c = Client::connect_from(port, fresh_source());
    c.challenge("ticket", "joe");
    c.authenticate(wrong_ticket);
    c.expect_abort();

    let mut c = Client::connect(port);
    let extra = c.challenge("wampcra", "alice");
    c.authenticate(&answer_wampcra(&extra, ALICE_SECRET));
    c.expect(WELCOME, "WELCOME");

    let mut c = Client::connect(port);
    let extra = c.challenge("wampcra", "bob");
    c.authenticate(&answer_wampcra(&extra, BOB_PASSWORD));
    c.expect(WELCOME, "WELCOME");

    let mut c = Client::connect(port);
    let extra = c.challenge("cryptosign", "device1");
    c.authenticate(&answer_cryptosign(&extra, &DEVICE_SEED));
    c.expect(WELCOME, "WELCOME");

    // Everything the node will write, shutdown included.
    let mut router = router;
    router.terminate();
    let deadline = std::time::Instant::now() + STOP_TIMEOUT;
    while router.is_alive() {
        assert!(
            std::time::Instant::now() < deadline,
            "the router did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = router.stderr();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the log ran at its most verbose:\n{log}"
    );
    let seed_hex = hex(&DEVICE_SEED);
    for (what, secret) in [
        ("joe's ticket", JOE_TICKET),
        ("a wrong ticket a client sent", wrong_ticket),
        ("alice's WAMP-CRA secret", ALICE_SECRET),
        ("bob's password", BOB_PASSWORD),
        ("bob's derived key", bob_key.as_str()),
        ("the client's private key", seed_hex.as_str()),
    ] {
        assert!(!log.contains(secret), "{what} is in the log:\n{log}");
    }
}
