//! WebSocket over a Unix socket, the universal port, and the example node config/all-transports.

use super::*;

#[test]
fn websocket_over_a_unix_socket_in_every_serializer() {
    let dir = scratch();
    let sock = dir.path().join("ws.sock");
    let (mut router, ports) = start(1, &[&sock], |p| {
        node(vec![
            witness_web(p[0], json!({})),
            json!({"type": "websocket", "endpoint": unix_endpoint(&sock)}),
        ])
    });
    let mut w = WampClient::joined(ports[0], JSON);
    for ser in [Serializer::Json, Serializer::MsgPack, Serializer::Cbor] {
        let mut c = Ws::open(unix(&sock), "ws://localhost/ws", &[ser.subprotocol()], ser);
        exchange_with(&mut c, &mut w, &format!("ws_unix_{}", ser.name()));
    }
    // Bad input on the Unix socket: garbage closes that connection only.
    let mut u = unix(&sock);
    let _ = u.write_all(&[0xde, 0xad, 0xbe, 0xef, b'\r', b'\n', b'\r', b'\n']);
    let (reply, _) = read_until_closed(&mut u, T, "garbage on the unix socket");
    assert!(
        reply.is_empty() || parse_http(&reply).is_some_and(|r| r.status == 400),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
    Witness::new(ports[0]).check("after garbage on the unix socket");
    router.assert_alive();
}

#[test]
fn universal_port_serves_rawsocket_websocket_and_http() {
    let (mut router, ports) = start(1, &[], |p| {
        node(vec![json!({
            "type": "universal",
            "endpoint": tcp_endpoint(p[0]),
            "rawsocket": {"serializers": ["cbor", "json"]},
            "websocket": {"ws": {"type": "websocket"}},
            "web": {"paths": {"info": {"type": "nodeinfo"}}}
        })])
    });
    let port = ports[0];
    let mut witness = Witness::new(port);
    assert_eq!(http_get(port, "/info").status, 200);
    assert_eq!(http_get(port, "/nothing-here").status, 404);
    let mut w = WampClient::joined(port, JSON);
    let mut r = Rs::open(tcp(port), Serializer::Cbor);
    exchange_with(&mut r, &mut w, "universal_rs_cbor");
    let mut c = Ws::open(
        tcp(port),
        &format!("ws://127.0.0.1:{port}/ws"),
        &["wamp.2.cbor"],
        Serializer::Cbor,
    );
    exchange_with(&mut c, &mut w, "universal_ws_cbor");
    // The universal port's RawSocket part has its own serializer list.
    expect_handshake_error(port, rs_handshake_bytes(15, 2), 1);
    witness.check("after a refused RawSocket serializer on the universal port");
    router.assert_alive();
}

// ===================================================================================
// The example node config/all-transports

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Calls `f` on every listening endpoint object (`{"type": "tcp"|"unix", ...}`) of a config.
fn walk_endpoints(v: &mut Json, f: &mut impl FnMut(&mut Json)) {
    match v {
        Json::Object(m) => {
            let is_endpoint = m
                .get("type")
                .and_then(Json::as_str)
                .is_some_and(|t| t == "tcp" || t == "unix")
                && (m.contains_key("port") || m.contains_key("path"));
            if is_endpoint {
                f(v);
                return;
            }
            m.values_mut().for_each(|x| walk_endpoints(x, f));
        }
        Json::Array(a) => a.iter_mut().for_each(|x| walk_endpoints(x, f)),
        _ => {}
    }
}

/// Runs `ferrobar check --cbdir DIR`: (success, stdout + stderr).
fn ferrobar_check(cbdir: &Path) -> (bool, String) {
    let out = ferrobar_command()
        .arg("check")
        .arg("--cbdir")
        .arg(cbdir)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ferrobar check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn all_transports_example_passes_check_once_its_tls_files_exist_and_serves_every_transport() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/all-transports");
    let tmp = scratch();
    let root = tmp.path().join("all-transports");
    copy_dir(&example, &root);
    let cbdir = root.join(".crossbar");
    for f in [
        "server.key",
        "server.crt",
        "rawsocket.sock",
        "websocket.sock",
    ] {
        let _ = std::fs::remove_file(cbdir.join(f));
    }
    // Without the key files (never committed), check names them.
    let (ok, text) = ferrobar_check(&cbdir);
    assert!(
        !ok,
        "check must fail while the TLS files are missing:\n{text}"
    );
    assert!(
        text.contains("server.key") && text.contains("does not exist"),
        "check must name the missing key file:\n{text}"
    );
    // With them (the names the README gives), it passes.
    let pki = make_pki(&cbdir);
    let (ok, text) = ferrobar_check(&cbdir);
    assert!(
        ok,
        "ferrobar check on config/all-transports failed:\n{text}"
    );

    // And it serves: the same config on free ports, with the Unix sockets and the TLS files as
    // absolute paths (the router runs in a node dir of its own).
    let original: Json =
        serde_json::from_str(&std::fs::read_to_string(cbdir.join("config.json")).unwrap())
            .expect("config.json is JSON");
    let transports = original["workers"][0]["transports"]
        .as_array()
        .expect("transports")
        .clone();
    let ids: Vec<&str> = transports.iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(
        ids,
        [
            "web",
            "websocket",
            "rawsocket_tcp",
            "rawsocket_unix",
            "websocket_unix",
            "universal_tls"
        ],
        "this test knows the example's transports by id"
    );
    let rs_sock = cbdir.join("rawsocket.sock");
    let ws_sock = cbdir.join("websocket.sock");
    let (mut router, ports) = start(4, &[&rs_sock, &ws_sock], |p| {
        let mut c = original.clone();
        let mut i = 0;
        walk_endpoints(&mut c, &mut |e| {
            if e["type"] == "tcp" {
                e["port"] = json!(p[i]);
                i += 1;
                if let Some(tls) = e.get_mut("tls") {
                    tls["key"] = json!(pki.server_key);
                    tls["certificate"] = json!(pki.server_crt);
                }
            } else {
                let name = e["path"].as_str().unwrap().to_string();
                e["path"] = json!(cbdir.join(name));
            }
        });
        let web = &mut c["workers"][0]["transports"][0]["paths"]["/"];
        web["directory"] = json!(root.join("web"));
        c
    });
    let mut w = WampClient::joined(ports[0], JSON);
    // web: /info, /ws (CBOR too).
    assert_eq!(http_get(ports[0], "/info").status, 200);
    let url = format!("ws://127.0.0.1:{}/ws", ports[0]);
    let mut c = Ws::open(tcp(ports[0]), &url, &["wamp.2.cbor"], Serializer::Cbor);
    exchange_with(&mut c, &mut w, "example_web");
    // websocket on its own port.
    let url = format!("ws://127.0.0.1:{}/", ports[1]);
    let mut c = Ws::open(
        tcp(ports[1]),
        &url,
        &["wamp.2.msgpack"],
        Serializer::MsgPack,
    );
    exchange_with(&mut c, &mut w, "example_websocket");
    // rawsocket tcp and unix.
    let mut c = Rs::open(tcp(ports[2]), Serializer::Json);
    exchange_with(&mut c, &mut w, "example_rawsocket_tcp");
    let mut c = Rs::open(unix(&rs_sock), Serializer::Cbor);
    exchange_with(&mut c, &mut w, "example_rawsocket_unix");
    // websocket unix.
    let mut c = Ws::open(
        unix(&ws_sock),
        "ws://localhost/",
        &["wamp.2.json"],
        Serializer::Json,
    );
    exchange_with(&mut c, &mut w, "example_websocket_unix");
    // universal with TLS: RawSocket, WebSocket, /info.
    let mut c = Rs::open(tls(ports[3], &pki, ClientCert::None), Serializer::MsgPack);
    exchange_with(&mut c, &mut w, "example_universal_rs");
    let url = format!("wss://127.0.0.1:{}/ws", ports[3]);
    let mut c = Ws::open(
        tls(ports[3], &pki, ClientCert::None),
        &url,
        &["wamp.2.cbor"],
        Serializer::Cbor,
    );
    exchange_with(&mut c, &mut w, "example_universal_ws");
    let mut s = tls(ports[3], &pki, ClientCert::None);
    let answer = get_over(&mut s, ports[3], "/info").expect("GET /info over TLS");
    assert_eq!(parse_http(&answer).map(|r| r.status), Some(200));
    router.assert_alive();
}
