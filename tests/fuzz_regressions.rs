//! Fuzz regressions on stable Rust: every input under `fuzz/seeds/<target>/` and
//! `fuzz/regressions/<target>/` is run through the same harness function the cargo-fuzz target
//! calls (`fuzz/src/harness/`, included here by path), so a crash the fuzzer once found stays
//! fixed without nightly, libFuzzer or sanitizers. The named tests below pin each bug a fuzzer
//! found to the behaviour it should have; see `fuzz/README.md` for how to add one.

#[allow(dead_code, unreachable_pub)]
#[path = "../fuzz/src/harness/mod.rs"]
mod harness;

use std::path::{Path, PathBuf};

use ferrobar::codec::Serializer;

/// Every file in `fuzz/<kind>/<target>/`, sorted (a missing directory is no input).
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// Runs every seed and regression input of `target` through `run`, naming the file that fails.
fn replay(target: &str, run: fn(&[u8])) {
    let mut count = 0;
    for kind in ["seeds", "regressions"] {
        for path in inputs(kind, target) {
            let data = std::fs::read(&path).expect("read a fuzz input");
            let outcome = std::panic::catch_unwind(|| run(&data));
            if let Err(panic) = outcome {
                let msg = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                panic!("{} fails: {msg}", path.display());
            }
            count += 1;
        }
    }
    assert!(count > 0, "no seed or regression input for {target}");
}

#[test]
fn codec_json_inputs() {
    replay("codec_json", |d| harness::codec::run(Serializer::Json, d));
}

#[test]
fn codec_msgpack_inputs() {
    replay("codec_msgpack", |d| {
        harness::codec::run(Serializer::MsgPack, d)
    });
}

#[test]
fn codec_cbor_inputs() {
    replay("codec_cbor", |d| harness::codec::run(Serializer::Cbor, d));
}

#[test]
fn websocket_inputs() {
    replay("websocket", harness::websocket::run);
}

#[test]
fn rawsocket_inputs() {
    replay("rawsocket", harness::rawsocket::run);
}

#[test]
fn http_inputs() {
    replay("http", harness::http::run);
}

#[test]
fn config_inputs() {
    replay("config", harness::config::run);
}

#[test]
fn mqtt_codec_inputs() {
    replay("mqtt_codec", harness::mqtt::run_codec);
}

#[test]
fn mqtt_session_inputs() {
    replay("mqtt_session", harness::mqtt::run_session);
}

#[test]
fn session_inputs() {
    replay("session", harness::session::run);
}

/// The empty input is a valid program for every harness.
#[test]
fn empty_inputs() {
    for s in [Serializer::Json, Serializer::MsgPack, Serializer::Cbor] {
        harness::codec::run(s, b"");
    }
    harness::websocket::run(b"");
    harness::rawsocket::run(b"");
    harness::http::run(b"");
    harness::config::run(b"");
    harness::session::run(b"");
    harness::mqtt::run_codec(b"");
    harness::mqtt::run_session(b"");
}

// ---------------------------------------------------------------------------------------------
// Bugs the fuzzers found, stated as the behaviour the router must have.

/// Found by the `session` target (`fuzz/regressions/session/frame-after-close-1`: open, HELLO,
/// SUBSCRIBE with `match: prefix` to `""`, then the end-of-run close; `-2`: the same after a
/// first, exact subscription).
///
/// A session subscribed to a pattern that matches `wamp.subscription.on_unsubscribe` leaves
/// (its transport closed). Leaving drops its subscriptions one by one, and each drop publishes
/// `wamp.subscription.on_unsubscribe` (when this shard is the realm's home) while the leaving
/// session is still in the local subscriber list of that subscription and of the ones not
/// dropped yet, so the core sends the EVENT to the connection the shell has just reported
/// closed. The core must produce no output at all for a closed connection.
#[test]
fn no_meta_event_for_a_session_that_left() {
    use std::sync::Arc;

    use ferrobar::router::{ConnId, Core, Output};
    use ferrobar::wamp::{Dict, Message};

    let realms = harness::session::realms();
    let counters = Arc::new(ferrobar::router::RealmSessionCounts::default());
    let start = std::time::Instant::now();
    let throttle = Arc::new(std::sync::Mutex::new(Default::default()));
    let mut core = Core::new(harness::session::core_config(
        0, 1, &realms, start, &counters, &throttle,
    ));
    let conn = ConnId(1);
    let info = harness::session::transport_info(Serializer::Json, Default::default());
    core.handle_open(conn, info);
    let drain = |core: &mut Core| std::iter::from_fn(|| core.poll_output()).collect::<Vec<_>>();
    core.handle_message(
        conn,
        Message::Hello {
            realm: "realm1".into(),
            details: Dict::new(),
        },
    );
    // One subscription matching the meta topics, one that does not (`-2`: its drop notifies
    // the first while that one is still in place).
    core.handle_message(
        conn,
        Message::Subscribe {
            request: 1,
            options: Dict::new(),
            topic: "com.a".into(),
        },
    );
    core.handle_message(
        conn,
        Message::Subscribe {
            request: 2,
            options: Dict::new().with("match", "prefix"),
            topic: "wamp.subscription.".into(),
        },
    );
    let before = drain(&mut core);
    assert!(
        before
            .iter()
            .any(|o| matches!(o, Output::Send { conn: c, .. } if *c == conn)),
        "the session joined and subscribed: {before:?}"
    );

    core.handle_closed(conn);
    let after = drain(&mut core);
    let for_conn: Vec<&Output> = after
        .iter()
        .filter(|o| match o {
            Output::Send { conn: c, .. } | Output::Close { conn: c } => *c == conn,
            Output::SendMany { conns, .. } => conns.contains(&conn),
            Output::ToShard { .. } => false,
        })
        .collect();
    assert!(
        for_conn.is_empty(),
        "output for a connection the shell reported closed: {for_conn:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Seed corpora. `fuzz/seeds/` is generated by this (ignored) test, so the seeds follow the
// encoders and the harness input layouts:
//   cargo test --test fuzz_regressions -- --ignored write_seed_corpora

mod seeds {
    use std::path::{Path, PathBuf};

    use ferrobar::codec::Serializer;
    use ferrobar::wamp::{Dict, Message, Payload, Value};

    fn dir(target: &str) -> PathBuf {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz")
            .join("seeds")
            .join(target);
        std::fs::create_dir_all(&dir).expect("create a seed directory");
        dir
    }

    fn write(target: &str, name: &str, data: &[u8]) {
        std::fs::write(dir(target).join(name), data).expect("write a seed");
    }

    /// One message of every type, with the option and payload shapes the router looks at.
    pub(super) fn messages() -> Vec<(&'static str, Message)> {
        let roles = Dict::new()
            .with("caller", Dict::new())
            .with(
                "callee",
                Dict::new().with("features", Dict::new().with("call_canceling", true)),
            )
            .with("publisher", Dict::new())
            .with("subscriber", Dict::new());
        let args = vec![
            Value::Int(-1),
            Value::from(u64::MAX),
            Value::Float(1.5),
            Value::Str("héllo".into()),
            Value::Bytes(vec![0, 1, 0xff]),
            Value::List(vec![Value::Null, Value::Bool(true)]),
        ];
        let kwargs = Dict::new()
            .with("k", "v")
            .with("n", Value::Dict(Dict::new().with("x", 1u64)));
        let payload = Payload {
            args: Some(args),
            kwargs: Some(kwargs),
        };
        vec![
            (
                "hello",
                Message::Hello {
                    realm: "realm1".into(),
                    details: Dict::new()
                        .with("roles", roles)
                        .with("authmethods", Value::List(vec!["anonymous".into()])),
                },
            ),
            (
                "welcome",
                Message::Welcome {
                    session: 9_007_199_254_740_992,
                    details: Dict::new().with("authrole", "anonymous"),
                },
            ),
            (
                "abort",
                Message::Abort {
                    details: Dict::new().with("message", "no"),
                    reason: "wamp.error.no_such_realm".into(),
                },
            ),
            (
                "challenge",
                Message::Challenge {
                    method: "wampcra".into(),
                    extra: Dict::new().with("challenge", "{}"),
                },
            ),
            (
                "authenticate",
                Message::Authenticate {
                    signature: "sig".into(),
                    extra: Dict::new(),
                },
            ),
            (
                "goodbye",
                Message::Goodbye {
                    details: Dict::new(),
                    reason: "wamp.close.normal".into(),
                },
            ),
            (
                "error",
                Message::Error {
                    request_type: 48,
                    request: 7,
                    details: Dict::new(),
                    error: "com.err".into(),
                    payload: payload.clone(),
                },
            ),
            (
                "publish",
                Message::Publish {
                    request: 1,
                    options: Dict::new()
                        .with("acknowledge", true)
                        .with("exclude", Value::List(vec![1u64.into()])),
                    topic: "com.a.b".into(),
                    payload: payload.clone(),
                },
            ),
            (
                "published",
                Message::Published {
                    request: 1,
                    publication: 2,
                },
            ),
            (
                "subscribe",
                Message::Subscribe {
                    request: 2,
                    options: Dict::new().with("match", "wildcard"),
                    topic: "com..b".into(),
                },
            ),
            (
                "subscribed",
                Message::Subscribed {
                    request: 2,
                    subscription: 3,
                },
            ),
            (
                "unsubscribe",
                Message::Unsubscribe {
                    request: 3,
                    subscription: 3,
                },
            ),
            (
                "unsubscribed",
                Message::Unsubscribed {
                    request: 3,
                    details: Dict::new(),
                },
            ),
            (
                "event",
                Message::Event {
                    subscription: 3,
                    publication: 4,
                    details: Dict::new().with("topic", "com.a.b"),
                    payload: payload.clone(),
                },
            ),
            (
                "call",
                Message::Call {
                    request: 4,
                    options: Dict::new()
                        .with("timeout", 1000u64)
                        .with("receive_progress", true),
                    procedure: "com.p".into(),
                    payload: payload.clone(),
                },
            ),
            (
                "cancel",
                Message::Cancel {
                    request: 4,
                    options: Dict::new().with("mode", "kill"),
                },
            ),
            (
                "result",
                Message::Result {
                    request: 4,
                    details: Dict::new().with("progress", true),
                    payload: payload.clone(),
                },
            ),
            (
                "register",
                Message::Register {
                    request: 5,
                    options: Dict::new().with("invoke", "roundrobin"),
                    procedure: "com.p".into(),
                },
            ),
            (
                "registered",
                Message::Registered {
                    request: 5,
                    registration: 6,
                },
            ),
            (
                "unregister",
                Message::Unregister {
                    request: 6,
                    registration: 6,
                },
            ),
            (
                "unregistered",
                Message::Unregistered {
                    request: 6,
                    details: Dict::new(),
                },
            ),
            (
                "invocation",
                Message::Invocation {
                    request: 7,
                    registration: 6,
                    details: Dict::new(),
                    payload: payload.clone(),
                },
            ),
            (
                "interrupt",
                Message::Interrupt {
                    request: 7,
                    options: Dict::new().with("mode", "killnowait"),
                },
            ),
            (
                "yield",
                Message::Yield {
                    request: 7,
                    options: Dict::new(),
                    payload,
                },
            ),
        ]
    }

    fn encode(s: Serializer, m: &Message) -> Vec<u8> {
        let mut out = Vec::new();
        s.encode(m, &mut out);
        out
    }

    /// A masked client WebSocket frame.
    fn ws_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xffff => {
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

    fn raw_frame(ty: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut out = vec![ty, (len >> 16) as u8, (len >> 8) as u8, len as u8];
        out.extend_from_slice(payload);
        out
    }

    pub(super) fn write_all() {
        let all = [Serializer::Json, Serializer::MsgPack, Serializer::Cbor];
        let msgs = messages();
        for s in all {
            for (name, m) in &msgs {
                write(&format!("codec_{}", s.name()), name, &encode(s, m));
            }
        }

        // WebSocket: [max_message u16, max_frame choice, serializer, chunk seed] + frames.
        let hello = &msgs[0].1;
        for (i, s) in all.into_iter().enumerate() {
            let opcode = if s.is_binary() { 2 } else { 1 };
            let bytes = encode(s, hello);
            let (a, b) = bytes.split_at(bytes.len() / 2);
            let mut stream = vec![0x40, 0x00, 0, i as u8, 0x55];
            stream.extend(ws_frame(opcode, true, &bytes));
            stream.extend(ws_frame(opcode, false, a));
            stream.extend(ws_frame(9, true, b"ping"));
            stream.extend(ws_frame(0, true, b));
            stream.extend(ws_frame(10, true, b""));
            stream.extend(ws_frame(8, true, &1000u16.to_be_bytes()));
            write("websocket", &format!("session_{}", s.name()), &stream);
        }
        let mut big = vec![0xff, 0xff, 3, 0, 0x21];
        big.extend(ws_frame(1, true, &vec![b' '; 300]));
        write("websocket", "extended_length", &big);

        // RawSocket: [offered mask, size choice, chunk seed] + handshake + frames.
        for s in all {
            let mut stream = vec![7, 0x3d, 0x55, 0x7f, 0xf0 | s.rawsocket_id(), 0, 0];
            stream.extend(raw_frame(0, &encode(s, hello)));
            stream.extend(raw_frame(1, b"ping"));
            stream.extend(raw_frame(2, b"ping"));
            stream.extend(raw_frame(0, &encode(s, &msgs[7].1)));
            write("rawsocket", &format!("session_{}", s.name()), &stream);
        }
        write("rawsocket", "refused", &[1, 0, 0, 0x7f, 0x42, 0, 0]);
        write("rawsocket", "http", b"\x07\x01\x00GET / HTTP/1.1\r\n\r\n");

        // HTTP: [transport/options choice] + request.
        let upgrade =
            "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Protocol: wamp.2.msgpack, wamp.2.json\r\nOrigin: https://a.example.com\r\n\r\n";
        let requests: &[(&str, u8, &str)] = &[
            ("upgrade_web", 0, upgrade),
            ("upgrade_websocket", 1, upgrade),
            ("upgrade_universal", 2, upgrade),
            (
                "nested_upgrade",
                0x20,
                &upgrade.replace("GET /ws", "GET /nested/ws"),
            ),
            ("index", 0, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("listing", 0x80, "GET /sub/ HTTP/1.1\r\n\r\n"),
            ("redirect_dir", 0, "GET /sub?x=1 HTTP/1.1\r\n\r\n"),
            ("file_head", 0, "HEAD /sub/a.txt HTTP/1.1\r\n\r\n"),
            ("traversal", 0, "GET /%2e%2e/secret.txt HTTP/1.1\r\n\r\n"),
            ("info", 0, "GET /info HTTP/1.1\r\n\r\n"),
            ("json", 0, "GET /json HTTP/1.1\r\n\r\n"),
            ("redirect", 0, "GET /go HTTP/1.1\r\n\r\n"),
            ("absolute", 0, "GET http://x/nested/ HTTP/1.1\r\n\r\n"),
            ("post", 0, "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
            ("partial", 0, "GET / HTTP/1.1\r\nHost:"),
        ];
        for (name, choice, req) in requests {
            let mut data = vec![*choice];
            data.extend_from_slice(req.as_bytes());
            write("http", name, &data);
        }

        // Config: the repository's example nodes and the built-in default.
        write(
            "config",
            "default",
            ferrobar::config::DEFAULT_CONFIG_JSON.as_bytes(),
        );
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut nodes: Vec<_> = std::fs::read_dir(config)
            .expect("config/")
            .filter_map(Result::ok)
            .collect();
        nodes.sort_by_key(|e| e.file_name());
        for node in nodes {
            let file = node.path().join(".crossbar").join("config.json");
            if let Ok(text) = std::fs::read(&file) {
                write("config", &node.file_name().to_string_lossy(), &text);
            }
        }

        // Session programs (layout: fuzz/src/harness/session.rs, `run_program`).
        let pubsub_rpc: &[u8] = &[
            0x00, 0, 0, // open slot 0: shard 0, JSON, anonymous
            0x10, 1, 0, // open slot 1: shard 1, MessagePack, anonymous
            0x04, 0, 0x03, 0, // slot 0 HELLO realm1 (callee features)
            0x14, 0, 0x03, 0, // slot 1 HELLO realm1
            0x0c, 1, // deliver all mail
            0x14, 0, 0x00, 5, 0, // slot 1 SUBSCRIBE com.a
            0x0c, 3, 0x04, 0, 0x01, 8, 0, 1, 1, 1,
            1, // slot 0 PUBLISH com.a, acknowledge, [true]
            0x0c, 5, 0x14, 0, 0x00, 11, 1, // slot 1 REGISTER com.a.b
            0x0c, 7, 0x04, 1, 0x01, 14, 2, 0, 1, 0, // slot 0 CALL com.a.b, timeout 100 ms
            0x0c, 9, 0x1f, 0, 1, 0, 0, // slot 1 YIELD its invocation
            0x0c, 11, 0x0d, 4,    // advance 5 s
            0x02, // close slot 0
            0x0c, 13,
        ];
        write("session", "pubsub_rpc", pubsub_rpc);
        let meta: &[u8] = &[
            0x00, 2, 2, // open slot 0: shard 0, CBOR, trusted
            0x04, 0, 0x00, 0, // HELLO realm1
            0x0c, 1, 0x04, 0, 0x00, 14, 1, 0, 0, // CALL wamp.session.count
            0x0a, 0, 1, // deliver one 0 -> 1
            0x0a, 1, 0, // deliver one 1 -> 0
            0x04, 0, 0x00, 14, 1, 9, 0, // CALL wamp.subscription.list
            0x0c, 3, 0x0d, 7, // advance 1 h
            0x10, 0, 0, // open slot 1, never HELLO: timed out
            0x0d, 5,
        ];
        write("session", "meta", meta);

        // MQTT (layouts: fuzz/src/harness/mqtt.rs).
        let v3: &[&[u8]] = &[
            &[
                0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 2, b'c', b'1',
            ],
            &[0x82, 8, 0, 1, 0, 3, b'a', b'/', b'#', 1],
            &[0x32, 9, 0, 3, b'a', b'/', b'b', 0, 2, b'h', b'i'],
            &[0x62, 2, 0, 2],
            &[0xC0, 0],
            &[0xE0, 0],
        ];
        let v5: &[&[u8]] = &[
            &[
                0x10, 15, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 60, 0, 0, 2, b'c', b'1',
            ],
            &[0x82, 9, 0, 1, 0, 0, 3, b'a', b'/', b'#', 1],
            &[0x32, 10, 0, 3, b'a', b'/', b'b', 0, 2, 0, b'h', b'i'],
            &[0x34, 10, 0, 3, b'a', b'/', b'c', 0, 3, 0, b'h', b'i'],
            &[0xC0, 0],
            &[0xE0, 0],
        ];
        for (name, packets) in [("v311", v3), ("v5", v5)] {
            let mut codec = vec![2, 0x55];
            codec.extend(packets.concat());
            write("mqtt_codec", name, &codec);
            // Session: CONNECT prefixed (bit 0, bit 1 = 5.0), then: read SUBSCRIBE, grant it,
            // read PUBLISH, complete it, deliver QoS 1 and QoS 2, read PINGREQ, tick, lose.
            let setup = if name == "v5" { 3 } else { 1 };
            let mut program = vec![setup];
            program.extend([0, packets[1].len() as u8]);
            program.extend(packets[1]);
            program.extend([5, 0, 0]);
            program.extend([0, packets[2].len() as u8]);
            program.extend(packets[2]);
            program.extend([4, 0, 0]);
            program.extend([6, 1, 5, 0, 0, 6, 2, 9, 1, 3, 0]);
            program.extend([0, 2, 0xC0, 0]);
            program.extend([7, 0x40, 0, 8]);
            write("mqtt_session", name, &program);
        }
    }
}

#[test]
#[ignore = "writes fuzz/seeds/; run by hand after changing an encoder or a harness layout"]
fn write_seed_corpora() {
    seeds::write_all();
}
