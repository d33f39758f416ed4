//! Bad peer input against the real binary: each offending connection is closed with a clear
//! reason, while a well-behaved session on the same router keeps working and the process
//! stays up (DESIGN.md, "Errors").

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::*;
use ferrobar::wamp::{Dict, Message, Payload, Value};
use serde_json::json;

const PROTOCOL_VIOLATION: &str = "wamp.error.protocol_violation";

/// Deterministic pseudo-random bytes (xorshift64*), so a failure reproduces.
fn garbage(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            (seed.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// Asserts an ABORT `wamp.error.protocol_violation` with a human-readable `details.message`,
/// then the close of the connection.
fn assert_protocol_violation(client: &mut WampClient, context: &str) -> String {
    let (reason, details, _code) = client.expect_abort_and_close();
    assert_eq!(reason, PROTOCOL_VIOLATION, "{context}: ABORT reason");
    let message = details.get_str("message").unwrap_or_else(|| {
        panic!("{context}: ABORT details must carry a message, got {details:?}")
    });
    assert!(
        message.len() >= 5,
        "{context}: ABORT message too terse: {message:?}"
    );
    message.to_owned()
}

fn is_400_or_nothing(raw: &[u8]) -> bool {
    raw.is_empty() || parse_http(raw).is_some_and(|r| r.status == 400)
}

#[test]
fn raw_garbage_gets_400_or_close() {
    let mut router = Router::start_default(2);
    let port = router.port;
    let mut witness = Witness::new(port);

    for seed in 1..=4u64 {
        let raw = http_raw(port, &garbage(4096, seed));
        assert!(
            is_400_or_nothing(&raw),
            "4 KiB of garbage (seed {seed}): expected HTTP 400 or a close, got {:?}",
            String::from_utf8_lossy(&raw)
        );
    }
    // A RawSocket client handshake (magic 0x7F, max length 2^24, JSON): this port speaks only
    // HTTP/WebSocket, so the router must refuse it rather than wait for more bytes.
    let raw = http_raw(port, &[0x7F, 0xF1, 0x00, 0x00]);
    assert!(
        is_400_or_nothing(&raw),
        "RawSocket handshake: expected HTTP 400 or a close, got {:?}",
        String::from_utf8_lossy(&raw)
    );
    // The same followed by a RawSocket-framed HELLO.
    let hello = br#"[1,"realm1",{}]"#;
    let mut bytes = vec![0x7F, 0xF1, 0x00, 0x00, 0x00, 0x00, 0x00, hello.len() as u8];
    bytes.extend_from_slice(hello);
    let raw = http_raw(port, &bytes);
    assert!(
        is_400_or_nothing(&raw),
        "RawSocket HELLO: got {:?}",
        String::from_utf8_lossy(&raw)
    );

    witness.check("after garbage bytes");
    router.assert_alive();
}

#[test]
fn plain_http_requests_get_404_200_405() {
    let mut router = Router::start_default(2);
    let port = router.port;
    let mut witness = Witness::new(port);

    let r = http_get(port, "/no/such/path");
    assert_eq!(r.status, 404, "unknown path: {r:?}");

    let r = http_get(port, "/ws");
    assert_eq!(
        r.status, 200,
        "GET /ws without upgrade shows the status page: {r:?}"
    );
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "{r:?}"
    );

    let r = http(
        port,
        &format!("POST /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 5\r\n\r\nhello"),
    );
    assert_eq!(r.status, 405, "POST: {r:?}");
    assert!(
        r.header("allow").is_some_and(|a| a.contains("GET")),
        "405 names the allowed methods: {r:?}"
    );

    witness.check("after plain HTTP requests");
    router.assert_alive();
}

#[test]
fn upgrade_with_only_unsupported_subprotocol_is_refused() {
    let mut router = Router::start_default(2);
    let port = router.port;
    let mut witness = Witness::new(port);

    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: wamp.2.ubjson\r\n\r\n"
    );
    let r = http(port, &request);
    assert_eq!(r.status, 400, "only wamp.2.ubjson offered: {r:?}");
    assert!(
        r.body.contains("wamp.2.json"),
        "the refusal names what the endpoint speaks: {r:?}"
    );

    witness.check("after a refused upgrade");
    router.assert_alive();
}

#[test]
fn malformed_json_and_msgpack_abort_the_session() {
    let mut router = Router::start_default(2);
    let port = router.port;
    let mut witness = Witness::new(port);

    // Truncated JSON from a joined session.
    let mut c = WampClient::joined(port, JSON);
    c.send_text(r#"[16, 1, {}, "com.example.topic", [1, 2"#);
    let msg = assert_protocol_violation(&mut c, "truncated JSON");
    eprintln!("truncated JSON -> {msg}");

    // Not JSON at all, before HELLO.
    let mut c = WampClient::connect(port, JSON);
    c.send_text("this is not json {");
    assert_protocol_violation(&mut c, "non-JSON text before HELLO");

    // MessagePack garbage (0xc1 is never used by MessagePack) from a joined session.
    let mut c = WampClient::joined(port, MSGPACK);
    c.send_binary(vec![0x94, 0xc1, 0xff, 0x00, 0x13, 0x37]);
    let msg = assert_protocol_violation(&mut c, "MessagePack garbage");
    eprintln!("MessagePack garbage -> {msg}");

    // Truncated MessagePack (a 4-element array with only 2 elements).
    let mut c = WampClient::joined(port, MSGPACK);
    c.send_binary(vec![0x94, 0x10, 0x01]);
    assert_protocol_violation(&mut c, "truncated MessagePack");

    witness.check("after malformed messages");
    router.assert_alive();
}

#[test]
fn unknown_message_type_aborts() {
    let mut router = Router::start_default(2);
    let port = router.port;
    let mut witness = Witness::new(port);

    let mut c = WampClient::joined(port, JSON);
    c.send_text("[99, 1, {}]");
    let msg = assert_protocol_violation(&mut c, "message type 99");
    assert!(msg.contains("99"), "the message names the type: {msg:?}");

    let mut c = WampClient::joined(port, MSGPACK);
    c.send_binary(vec![0x93, 0x63, 0x01, 0x80]); // [99, 1, {}]
    assert_protocol_violation(&mut c, "message type 99 (MessagePack)");

    witness.check("after unknown message types");
    router.assert_alive();
}

#[test]
fn message_before_hello_and_second_hello_abort() {
    let mut router = Router::start_default(2);
    let port = router.port;
    let mut witness = Witness::new(port);

    let mut c = WampClient::connect(port, JSON);
    c.send_text(r#"[32, 1, {}, "a.b"]"#);
    let msg = assert_protocol_violation(&mut c, "SUBSCRIBE before HELLO");
    eprintln!("SUBSCRIBE before HELLO -> {msg}");

    let mut c = WampClient::joined(port, MSGPACK);
    c.send(&Message::Hello {
        realm: "realm1".into(),
        details: Dict::new(),
    });
    let msg = assert_protocol_violation(&mut c, "second HELLO");
    eprintln!("second HELLO -> {msg}");

    witness.check("after out-of-order messages");
    router.assert_alive();
}

#[test]
fn reused_call_request_id_aborts() {
    let mut router = Router::start_default(2);
    let port = router.port;
    let mut witness = Witness::new(port);

    let mut callee = WampClient::joined(port, MSGPACK);
    callee.register("test.bad.never_answers").expect("register");
    let mut caller = WampClient::joined(port, JSON);
    let call = |request| Message::Call {
        request,
        options: Dict::new(),
        procedure: "test.bad.never_answers".into(),
        payload: Payload::empty(),
    };
    caller.send(&call(7));
    // The call is pending once the callee holds the invocation.
    callee.expect_invocation();
    caller.send(&call(7));
    let msg = assert_protocol_violation(&mut caller, "CALL request id reused");
    eprintln!("CALL id reused -> {msg}");

    // The callee is untouched: it can still be called by someone else.
    let mut other = WampClient::joined(port, JSON);
    let request = other.call_nowait("test.bad.never_answers", args(vec![Value::Int(1)]));
    let (inv, _, payload) = callee.expect_invocation();
    assert_eq!(payload, args(vec![Value::Int(1)]));
    callee.yield_result(inv, args(vec![Value::Int(2)]));
    assert_eq!(other.call_outcome(request), Ok(args(vec![Value::Int(2)])));

    witness.check("after a reused CALL id");
    router.assert_alive();
}

#[test]
fn oversized_frame_closes_the_connection() {
    let ws = json!({"type": "websocket", "options": {"max_message_size": 4096}});
    let mut router = Router::start_with(|port| config_with_ws(port, ws.clone()), 2);
    let port = router.port;
    let mut witness = Witness::new(port);

    for protocol in [JSON, MSGPACK] {
        let mut c = WampClient::joined(port, protocol);
        // Just under the limit is fine.
        c.publish_acked(
            "test.bad.big",
            Dict::new(),
            args(vec![Value::Str("x".repeat(3000))]),
        );
        // 8 KiB is not.
        c.publish_nowait(
            "test.bad.big",
            Dict::new(),
            args(vec![Value::Str("x".repeat(8192))]),
        );
        let (seen, code) = c.expect_closed();
        eprintln!("{protocol} 8 KiB frame -> close code {code:?}, messages {seen:?}");
        assert!(
            code.is_none() || code == Some(1009),
            "{protocol}: expected close code 1009 (message too big) or a TCP close, got {code:?}"
        );
        if let Some(Message::Abort { reason, .. }) = seen.last() {
            assert_eq!(reason, PROTOCOL_VIOLATION, "{protocol}: ABORT reason");
        }
    }

    witness.check("after oversized frames");
    router.assert_alive();
}

#[test]
fn unmasked_client_frame_closes_the_connection() {
    let mut router = Router::start_default(2);
    let port = router.port;
    let mut witness = Witness::new(port);

    let mut c = WampClient::joined(port, JSON);
    let payload = br#"[32, 1, {}, "a.b"]"#;
    let mut frame = vec![0x81, payload.len() as u8]; // FIN + text, no mask bit
    frame.extend_from_slice(payload);
    c.raw_stream().write_all(&frame).expect("write raw frame");
    let (seen, code) = c.expect_closed();
    eprintln!("unmasked frame -> close code {code:?}, messages {seen:?}");
    assert!(
        code.is_none() || code == Some(1002),
        "expected close code 1002 (protocol error) or a TCP close, got {code:?}"
    );

    witness.check("after an unmasked frame");
    router.assert_alive();
}

#[test]
fn hostile_payloads_abort_without_crashing() {
    let mut router = Router::start_default(2);
    let port = router.port;
    let mut witness = Witness::new(port);

    let json_cases = [
        ("200k nested JSON lists", "[".repeat(200_000)),
        (
            "deeply nested args",
            format!(
                "[16, 1, {{}}, \"a.b\", {}{}]",
                "[".repeat(100_000),
                "]".repeat(100_000)
            ),
        ),
        (
            "request id above 2^53",
            r#"[48, 9007199254740993, {}, "a.b"]"#.to_owned(),
        ),
        ("negative request id", r#"[48, -1, {}, "a.b"]"#.to_owned()),
        ("empty list", "[]".to_owned()),
        ("a dict, not a list", "{}".to_owned()),
        ("empty frame", String::new()),
    ];
    for (name, text) in json_cases {
        let mut c = WampClient::joined(port, JSON);
        c.send_text(text);
        assert_protocol_violation(&mut c, name);
    }
    let msgpack_cases: [(&str, Vec<u8>); 5] = [
        ("200k nested MessagePack arrays", vec![0x91; 200_000]),
        (
            "array announcing 2^32-1 elements",
            vec![0xdd, 0xff, 0xff, 0xff, 0xff],
        ),
        (
            "str announcing 4 GiB",
            vec![0x94, 0x10, 0x01, 0x80, 0xdb, 0xff, 0xff, 0xff, 0xff],
        ),
        (
            "map announcing 2^32-1 entries",
            vec![0x94, 0x10, 0x01, 0xdf, 0xff, 0xff, 0xff, 0xff],
        ),
        ("empty frame", Vec::new()),
    ];
    for (name, bytes) in msgpack_cases {
        let mut c = WampClient::joined(port, MSGPACK);
        c.send_binary(bytes);
        assert_protocol_violation(&mut c, name);
    }
    // A text frame that is not UTF-8 (written raw: tungstenite only sends valid text).
    let mut c = WampClient::joined(port, JSON);
    let payload = b"[16, 1, {}, \"a\xff\xfe\"]";
    let mask = [0x11u8, 0x22, 0x33, 0x44];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    c.raw_stream().write_all(&frame).expect("write raw frame");
    assert_protocol_violation(&mut c, "text frame with invalid UTF-8");

    witness.check("after hostile payloads");
    router.assert_alive();
}

/// RFC "WebSocket transport": JSON messages MUST travel in text frames, MessagePack in binary
/// frames. Crossbar (Autobahn) fails the session with a protocol error on a mismatch.
#[test]
fn wrong_frame_type_for_the_serializer_aborts() {
    let mut router = Router::start_default(2);
    let port = router.port;
    let mut witness = Witness::new(port);

    let mut c = WampClient::joined(port, MSGPACK);
    c.send_text(r#"[16, 1, {}, "a.b"]"#);
    assert_protocol_violation(&mut c, "text frame on a wamp.2.msgpack session");

    let mut c = WampClient::joined(port, JSON);
    c.send_binary(br#"[16, 1, {"acknowledge": true}, "a.b"]"#.to_vec());
    assert_protocol_violation(&mut c, "binary frame on a wamp.2.json session");

    witness.check("after frames of the wrong type");
    router.assert_alive();
}

/// The lines of stderr that are not routine log lines.
fn problem_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| !l.contains(" INFO ") && !l.contains(" DEBUG ") && !l.trim().is_empty())
        .collect()
}

#[test]
fn port_in_use_fails_with_one_clear_line() {
    let holder = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().unwrap().port();
    let (status, stderr) = start_expecting_failure(&default_config(port), Duration::from_secs(10));
    assert!(
        !status.success(),
        "must exit non-zero when the port is taken; stderr:\n{stderr}"
    );
    let problems = problem_lines(&stderr);
    assert_eq!(
        problems.len(),
        1,
        "exactly one error line expected, got:\n{stderr}"
    );
    assert!(
        problems[0].contains(&port.to_string()),
        "the error line names the port {port}: {:?}",
        problems[0]
    );
    // The holder was never disturbed.
    drop(TcpStream::connect(("127.0.0.1", port)).expect("the holder still listens"));
}

#[test]
fn invalid_config_fails_naming_the_json_path() {
    let config = json!({"version": 2, "workers": [{"type": "router", "transports": [
        {"type": "web", "endpoint": {"type": "tcp", "port": "x"}}]}]});
    let (status, stderr) = start_expecting_failure(&config, Duration::from_secs(10));
    assert!(
        !status.success(),
        "must exit non-zero on an invalid config; stderr:\n{stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("workers[0].transports[0].endpoint.port")),
        "an error line names the JSON path workers[0].transports[0].endpoint.port:\n{stderr}"
    );
}
