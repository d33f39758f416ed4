//! TLS: certificates, client certificates, bad handshakes.

use super::*;

#[test]
fn tls_port_receiving_plain_text_is_closed_and_tls_still_works() {
    let dir = scratch();
    let pki = make_pki(dir.path());
    let (mut router, ports) = start(3, &[], |p| {
        node(vec![
            witness_web(p[0], json!({"metrics": {"type": "metrics"}})),
            json!({"type": "web", "endpoint": tls_endpoint(p[1], &pki, false),
                   "paths": {"ws": {"type": "websocket"}, "info": {"type": "nodeinfo"}}}),
            json!({"type": "rawsocket", "endpoint": tls_endpoint(p[2], &pki, false)}),
        ])
    });
    // The certificate's expiry is a metric, per TLS transport (rcgen's default: 4096-01-01).
    let mut s = tcp(ports[0]);
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let (metrics, _) = read_until_closed(&mut s, T, "GET /metrics");
    let metrics = String::from_utf8_lossy(&metrics);
    let expiries: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("ferrobar_tls_certificate_expiry_timestamp_seconds{"))
        .collect();
    assert_eq!(
        expiries,
        [
            "ferrobar_tls_certificate_expiry_timestamp_seconds{transport=\"transport002\"} 67090118400",
            "ferrobar_tls_certificate_expiry_timestamp_seconds{transport=\"transport003\"} 67090118400",
        ],
        "{metrics}"
    );
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
