//! RawSocket: handshake, framing, limits and bad input over TCP, TLS and Unix.

use super::*;

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

/// A client that states 1 KiB in its handshake (`LLLL` = 1) never gets a longer frame. An EVENT
/// too large for it is dropped for it alone (counted and reported on
/// `ferrobar.session.on_events_dropped`), a RESULT too large becomes an ERROR: any publisher
/// could otherwise disconnect every small-limit subscriber. (Not 512 octets, `LLLL` = 0: the
/// WELCOME with the router's role features is about 900 octets of JSON, in Crossbar too.)
#[test]
fn rawsocket_message_longer_than_the_client_accepts_is_never_sent() {
    let dir = scratch();
    let (mut router, ports, _) = rawsocket_router(dir.path(), json!({}));
    let mut witness = Witness::new(ports[0]);
    let mut w = WampClient::joined(ports[0], JSON);
    let mut c = Rs::open_with(tcp(ports[1]), Serializer::Json, 1);
    hello(&mut c);
    subscribe(&mut c, "test.small.client");
    let dropped_sub = subscribe(&mut c, "ferrobar.session.on_events_dropped");
    // Another subscriber, with no small limit, gets everything.
    let mut other = WampClient::joined(ports[0], JSON);
    let big_sub = other.subscribe("test.small.client");
    let big = "z".repeat(2000);
    for arg in [Value::Str(big.clone()), Value::Int(2)] {
        w.publish_acked("test.small.client", Dict::new(), args(vec![arg]));
    }
    for expected in [Value::Str(big.clone()), Value::Int(2)] {
        let (sub, payload) = other.expect_event();
        assert_eq!(sub, big_sub);
        assert_eq!(payload.args, Some(vec![expected]));
    }
    // The small client stays: the large event was skipped, the small one arrives, and it is
    // told one event was dropped.
    let mut dropped = None;
    let mut small = None;
    let deadline = Instant::now() + T;
    while dropped.is_none() || small.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no small event and drop notice within {T:?}"
        );
        match c.recv(left) {
            In::Msg(Message::Event {
                subscription,
                payload,
                ..
            }) => {
                let args = payload.args.unwrap_or_default();
                if subscription == dropped_sub {
                    dropped = args.first().and_then(Value::as_u64);
                } else {
                    assert_eq!(args, vec![Value::Int(2)], "only the small event arrives");
                    small = Some(());
                }
            }
            In::Msg(other) => panic!("unexpected {other:?}"),
            other => panic!("the small client lost its session: {other:?}"),
        }
    }
    assert_eq!(dropped, Some(1));
    // A RESULT too large for it becomes an ERROR, and the session goes on.
    let reg = w.register("test.small.big_result").expect("register");
    let request = c.next_request();
    c.send(&Message::Call {
        request,
        options: Dict::new(),
        procedure: "test.small.big_result".into(),
        payload: Payload::empty(),
    });
    let (inv, registration, _) = w.expect_invocation();
    assert_eq!(registration, reg);
    w.yield_result(inv, args(vec![Value::Str(big)]));
    match wait_for(&mut c, "ERROR", |m| matches!(m, Message::Error { .. })) {
        Message::Error {
            request: r, error, ..
        } => {
            assert_eq!(r, request);
            assert_eq!(error, "wamp.error.invalid_argument");
        }
        _ => unreachable!(),
    }
    publish_acked(&mut c, "test.small.after", Payload::empty());
    witness.check("after skipping messages too large for a client");
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
