//! WebSocket options: message and frame limits, pings, close handshake, origins, web status.

use super::*;

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

/// `max_message_size` bounds what a WebSocket peer is sent too: an EVENT larger than that is
/// dropped for the peers of that path alone (counted and reported to them), never their
/// connection; peers on other paths get it.
#[test]
fn max_message_size_drops_larger_events_for_that_path_only() {
    let (mut router, ports) = start(1, &[], |p| {
        node(vec![witness_web(
            p[0],
            json!({"small": {"type": "websocket", "options": {"max_message_size": 4096}}}),
        )])
    });
    let port = ports[0];
    let mut witness = Witness::new(port);
    let url = format!("ws://127.0.0.1:{port}/small");
    let mut c = Ws::open(tcp(port), &url, &["wamp.2.json"], Serializer::Json);
    hello(&mut c);
    let topic_sub = subscribe(&mut c, "test.sizes");
    let dropped_sub = subscribe(&mut c, "ferrobar.session.on_events_dropped");
    let mut w = WampClient::joined(port, JSON);
    let big = Value::Str("b".repeat(6000));
    for arg in [big.clone(), Value::Int(7)] {
        w.publish_acked("test.sizes", Dict::new(), args(vec![arg]));
    }
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match c.recv(T) {
            In::Msg(Message::Event {
                subscription,
                payload,
                ..
            }) => seen.push((subscription, payload.args.unwrap_or_default())),
            other => panic!("expected two EVENTs, got {other:?} after {seen:?}"),
        }
    }
    seen.sort_by_key(|(sub, _)| *sub != topic_sub);
    assert_eq!(seen[0], (topic_sub, vec![Value::Int(7)]));
    assert_eq!(seen[1].0, dropped_sub);
    assert_eq!(seen[1].1.first().and_then(Value::as_u64), Some(1));
    // The other path's peer got both.
    let mut other = WampClient::joined(port, JSON);
    let sub = other.subscribe("test.sizes");
    w.publish_acked("test.sizes", Dict::new(), args(vec![big.clone()]));
    let (s, payload) = other.expect_event();
    assert_eq!((s, payload.args), (sub, Some(vec![big])));
    witness.check("after dropping an event too large for one path");
    router.assert_alive();
}
