//! The open handshake timeout: silent and half-finished handshakes.

use super::*;

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
    // A TLS session that completes TLS but sends half an HTTP head. The timeout runs from the
    // accept, so the time is counted from before the connect: the TLS handshake is part of it
    // (and takes a good part of a second under qemu, `make cross`).
    let connecting = Instant::now();
    let mut s = tls(ports[1], &pki, ClientCert::None);
    let _ = s.write_all(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    let _ = s.flush();
    let _ = read_until_closed(&mut s, Duration::from_millis(3500), "half head over TLS");
    let took = connecting.elapsed();
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
