//! Every limit: connections, sessions, pending calls, output bytes.

use super::*;

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
