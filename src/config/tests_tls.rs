//! Loader tests: TLS on listening endpoints and the `universal` transport.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::tests::{check, errors, no_env, notices, ok, with_transport};
use super::*;

/// A node directory holding `files` (any bytes: the loader only checks they exist).
fn node_dir(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in files {
        let p = dir.path().join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"not really PEM").unwrap();
    }
    dir
}

fn check_in(v: &Value, cbdir: &Path) -> Checked {
    check_str(&v.to_string(), cbdir, &no_env)
}

fn errors_in(v: &Value, cbdir: &Path) -> Vec<String> {
    match check_in(v, cbdir).result {
        Ok(_) => panic!("expected errors for {v}"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

fn tls_transport(tls: Value) -> Value {
    with_transport(json!({"type": "websocket",
        "endpoint": {"type": "tcp", "port": 8443, "tls": tls}}))
}

fn endpoint_tls(n: &NodeConfig) -> &TlsConfig {
    match &n.routers[0].transports[0].endpoint {
        Endpoint::Tcp { tls: Some(t), .. } => t,
        other => panic!("expected a TLS endpoint, got {other:?}"),
    }
}

#[test]
fn tls_maps_to_the_model_with_paths_resolved_against_the_node_directory() {
    let dir = node_dir(&[
        "server.key",
        "server.crt",
        "chain.pem",
        "ca/one.pem",
        "ca/two.pem",
    ]);
    let cbdir = dir.path();
    let v = tls_transport(json!({"key": "server.key", "certificate": "./server.crt",
        "chain_certificates": ["chain.pem"], "ca_certificates": ["ca/one.pem", "ca/../ca/two.pem"]}));
    let c = check_in(&v, cbdir);
    assert!(c.notices.is_empty(), "{:?}", c.notices);
    let n = c.result.unwrap();
    assert_eq!(
        n.routers[0].transports[0].endpoint,
        Endpoint::Tcp {
            port: 8443,
            interface: None,
            version: IpVersion::V4,
            backlog: 50,
            tls: Some(TlsConfig {
                key: cbdir.join("server.key"),
                certificate: cbdir.join("server.crt"),
                chain_certificates: vec![cbdir.join("chain.pem")],
                ca_certificates: vec![cbdir.join("ca/one.pem"), cbdir.join("ca/two.pem")],
            }),
        }
    );

    // Only key and certificate are required; absolute paths are kept as they are.
    let other = node_dir(&["k.pem", "c.pem"]);
    let key = other.path().join("k.pem");
    let v = tls_transport(json!({"key": key.to_str().unwrap(), "certificate": "../other/c.pem"}));
    let inside = cbdir.join("node");
    std::fs::create_dir_all(cbdir.join("other")).unwrap();
    std::fs::write(cbdir.join("other/c.pem"), "x").unwrap();
    let n = check_in(&v, &inside).result.unwrap();
    assert_eq!(
        endpoint_tls(&n),
        &TlsConfig {
            key,
            certificate: cbdir.join("other/c.pem"),
            chain_certificates: vec![],
            ca_certificates: vec![],
        }
    );

    // No tls block: plain TCP.
    let n = ok(&with_transport(
        json!({"type": "websocket", "endpoint": {"type": "tcp", "port": 8080}}),
    ));
    assert!(matches!(
        n.routers[0].transports[0].endpoint,
        Endpoint::Tcp { tls: None, .. }
    ));
}

#[test]
fn missing_tls_files_are_errors_naming_the_json_path_and_the_file() {
    let dir = node_dir(&["server.crt", "ca.pem"]);
    let d = dir.path().display().to_string();
    std::fs::create_dir(dir.path().join("chain")).unwrap();
    let v = tls_transport(json!({"key": "server.key", "certificate": "server.crt",
        "chain_certificates": ["chain"], "ca_certificates": ["ca.pem", "missing-ca.pem"]}));
    assert_eq!(
        errors_in(&v, dir.path()),
        [
            format!("workers[0].transports[0].endpoint.tls.key: file {d}/server.key does not exist"),
            format!("workers[0].transports[0].endpoint.tls.chain_certificates[0]: {d}/chain is a directory, expected a file"),
            format!("workers[0].transports[0].endpoint.tls.ca_certificates[1]: file {d}/missing-ca.pem does not exist"),
        ]
    );
    // Both required files missing: two lines, one per file.
    let v = tls_transport(json!({"key": "k.pem", "certificate": "c.pem"}));
    assert_eq!(
        errors_in(&v, dir.path()),
        [
            format!("workers[0].transports[0].endpoint.tls.key: file {d}/k.pem does not exist"),
            format!(
                "workers[0].transports[0].endpoint.tls.certificate: file {d}/c.pem does not exist"
            ),
        ]
    );
}

#[test]
fn key_and_certificate_are_required_and_values_are_checked() {
    let dir = node_dir(&["server.key"]);
    let e = errors_in(&tls_transport(json!({})), dir.path());
    assert_eq!(
        e,
        [
            "workers[0].transports[0].endpoint.tls.key: missing (a string is required)",
            "workers[0].transports[0].endpoint.tls.certificate: missing (a string is required)",
        ]
    );
    let v = tls_transport(json!({"key": "server.key", "certificate": 7,
        "chain_certificates": "chain.pem", "ca_certificates": [], "dhparam": false}));
    assert_eq!(
        errors_in(&v, dir.path()),
        [
            "workers[0].transports[0].endpoint.tls.certificate: expected a string, found 7",
            "workers[0].transports[0].endpoint.tls.chain_certificates: expected a list, found \"chain.pem\"",
            "workers[0].transports[0].endpoint.tls.ca_certificates: expected a non-empty list of CA certificate files (an empty list would make Crossbar reject every client; leave the key out to request no client certificate)",
            "workers[0].transports[0].endpoint.tls.dhparam: expected a string, found false",
        ]
    );
    let e = errors_in(&tls_transport(json!("server.key")), dir.path());
    assert_eq!(
        e,
        ["workers[0].transports[0].endpoint.tls: expected an object, found \"server.key\""]
    );
    let v = tls_transport(json!({"key": "", "certificate": "server.key", "ca_certificates": [1]}));
    assert_eq!(
        errors_in(&v, dir.path()),
        [
            "workers[0].transports[0].endpoint.tls.key: expected a file path, found \"\"",
            "workers[0].transports[0].endpoint.tls.ca_certificates[0]: expected a file path (a string), found 1",
        ]
    );
}

#[test]
fn dhparam_and_ciphers_are_accepted_with_one_line_each() {
    let dir = node_dir(&["server.key", "server.crt"]);
    // The dhparam file is never read, so it need not exist.
    let v = tls_transport(json!({"key": "server.key", "certificate": "server.crt",
        "dhparam": "dhparam.pem", "ciphers": "ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256"}));
    let c = check_in(&v, dir.path());
    assert!(c.result.is_ok(), "{:?}", c.result);
    assert!(c.notices.iter().all(|n| n.level == NoticeLevel::Info));
    let lines: Vec<String> = c.notices.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "workers[0].transports[0].endpoint.tls: dhparam has no effect in ferrobar (rustls negotiates TLS 1.2/1.3 with its own cipher suites and ECDHE key exchange; Crossbar 26.10 ignores it too)",
            "workers[0].transports[0].endpoint.tls: ciphers has no effect in ferrobar (rustls negotiates TLS 1.2/1.3 with its own cipher suites and ECDHE key exchange; Crossbar 26.10 ignores it too)",
        ]
    );
}

#[test]
fn unknown_tls_keys_are_refused_by_name() {
    let dir = node_dir(&["server.key", "server.crt"]);
    let v = tls_transport(json!({"key": "server.key", "certificate": "server.crt",
        "password": "secret", "hostname": "example.com"}));
    let allowed = "key, certificate, chain_certificates, ca_certificates, dhparam, ciphers";
    assert_eq!(
        errors_in(&v, dir.path()),
        [
            format!("workers[0].transports[0].endpoint.tls.hostname: unknown key (expected one of: {allowed})"),
            format!("workers[0].transports[0].endpoint.tls.password: unknown key (expected one of: {allowed})"),
        ]
    );
    // TLS is for TCP endpoints only, as in Crossbar.
    let v = with_transport(json!({"type": "rawsocket", "endpoint":
        {"type": "unix", "path": "x.sock", "tls": {"key": "server.key", "certificate": "server.crt"}}}));
    assert_eq!(
        errors_in(&v, dir.path()),
        ["workers[0].transports[0].endpoint.tls: unknown key (expected one of: type, path, backlog)"]
    );
}

fn universal(extra: Value) -> Value {
    let mut t = json!({"type": "universal", "endpoint": {"type": "tcp", "port": 8080}});
    if let (Some(base), Value::Object(extra)) = (t.as_object_mut(), extra) {
        base.extend(extra);
    }
    with_transport(t)
}

fn universal_service(n: &NodeConfig) -> &UniversalService {
    match &n.routers[0].transports[0].kind {
        TransportKind::Universal(u) => u,
        other => panic!("expected a universal transport, got {other:?}"),
    }
}

fn path_names(web: &WebService) -> Vec<&str> {
    web.paths.iter().map(|(k, _)| k.as_str()).collect()
}

#[test]
fn universal_maps_rawsocket_websocket_paths_and_web_paths() {
    let anon = json!({"anonymous": {"type": "static", "role": "frontend"}});
    let v = universal(json!({"id": "public",
        "rawsocket": {"serializers": ["json"], "options": {"max_message_size": 4096}, "auth": anon},
        "websocket": {"ws": {"serializers": ["cbor"], "options": {"max_message_size": 2048},
                             "url": "wss://example.com/ws", "auth": anon},
                      "ws2": {"type": "websocket", "auth": anon}},
        "web": {"paths": {"/": {"type": "static", "directory": "../web"},
                          "info": {"type": "nodeinfo"},
                          "api": {"type": "websocket", "auth": anon}}}}));
    let c = check(&v);
    // Only the missing ../web directory is worth a line.
    let lines: Vec<String> = c.notices.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("/srv/node/web does not exist"),
        "{lines:?}"
    );
    let n = ok(&v);
    let t = &n.routers[0].transports[0];
    assert_eq!(t.id, "public");
    assert_eq!(t.anonymous.role, "frontend");
    let u = universal_service(&n);
    assert_eq!(
        u.rawsocket,
        Some(RawSocketService {
            serializers: vec![Serializer::Json],
            max_message_size: 4096
        })
    );
    let Some(PathService::Static(s)) = &u.web.root else {
        panic!("expected static at /, got {:?}", u.web.root)
    };
    assert_eq!(s.directory, PathBuf::from("/srv/node/web"));
    // web.paths first, then the websocket entries.
    assert_eq!(path_names(&u.web), ["api", "info", "ws", "ws2"]);
    assert!(matches!(u.web.paths[0].1, PathService::WebSocket(_)));
    assert!(matches!(u.web.paths[1].1, PathService::NodeInfo));
    let PathService::WebSocket(ws) = &u.web.paths[2].1 else {
        panic!("expected websocket at ws")
    };
    assert_eq!(ws.serializers, [Serializer::Cbor]);
    assert_eq!(ws.options.max_message_size, 2048);
    let PathService::WebSocket(ws2) = &u.web.paths[3].1 else {
        panic!("expected websocket at ws2")
    };
    assert_eq!(ws2.serializers, WebSocketService::default().serializers);
}

#[test]
fn universal_parts_are_optional() {
    // RawSocket only: HTTP gets an empty tree (404 everywhere).
    let n = ok(&universal(json!({"rawsocket": {}})));
    assert_eq!(
        n.routers[0].transports[0].anonymous,
        AnonymousAuth::default()
    );
    let u = universal_service(&n);
    assert_eq!(u.rawsocket, Some(RawSocketService::default()));
    assert!(u.web.root.is_none() && u.web.paths.is_empty());

    // WebSocket only, at "/": it becomes the root; no RawSocket.
    let n = ok(&universal(json!({"websocket": {"/": {}}})));
    let u = universal_service(&n);
    assert_eq!(u.rawsocket, None);
    assert!(matches!(u.web.root, Some(PathService::WebSocket(_))));
    assert!(u.web.paths.is_empty());

    // Nothing to serve.
    assert_eq!(
        errors(&universal(json!({}))),
        ["workers[0].transports[0]: a universal transport needs at least one of rawsocket, websocket, web or mqtt"]
    );
}

#[test]
fn universal_on_a_tls_endpoint() {
    let dir = node_dir(&["server.key", "server.crt"]);
    let v = with_transport(json!({"type": "universal",
        "endpoint": {"type": "tcp", "port": 8443, "tls": {"key": "server.key", "certificate": "server.crt"}},
        "websocket": {"ws": {}}}));
    let n = check_in(&v, dir.path()).result.unwrap();
    assert_eq!(endpoint_tls(&n).key, dir.path().join("server.key"));
    assert_eq!(path_names(&universal_service(&n).web), ["ws"]);
}

#[test]
fn a_path_in_both_websocket_and_web_paths_is_refused() {
    let v = universal(json!({"websocket": {"ws": {}, "/": {}},
        "web": {"paths": {"ws": {"type": "nodeinfo"}, "/": {"type": "json", "value": 1}}}}));
    assert_eq!(
        errors(&v),
        [
            r#"workers[0].transports[0].websocket["/"]: path "/" is also defined at workers[0].transports[0].web.paths["/"]: a path is served by either websocket or web.paths"#,
            r#"workers[0].transports[0].websocket.ws: path "ws" is also defined at workers[0].transports[0].web.paths.ws: a path is served by either websocket or web.paths"#,
        ]
    );
}

#[test]
fn universal_mqtt_part_is_parsed() {
    let n = ok(&universal(
        json!({"mqtt": {"options": {"realm": "realm1", "role": "device"}}}),
    ));
    let m = universal_service(&n).mqtt.as_ref().expect("mqtt part");
    assert_eq!(m.realm, "realm1");
    assert_eq!(m.role.as_deref(), Some("device"));
    assert!(universal_service(&n).rawsocket.is_none());
    let e = errors(&universal(json!({"rawsocket": {}, "mqtt": {}})));
    assert_eq!(
        e,
        ["workers[0].transports[0].mqtt.options: missing (an MQTT service needs options.realm)"]
    );
    let e = errors(&universal(
        json!({"mqtt": {"endpoint": {}, "options": {"realm": "r"}}}),
    ));
    assert_eq!(
        e,
        ["workers[0].transports[0].mqtt.endpoint: not allowed here: every part of a universal transport listens on the transport's endpoint"]
    );
}

#[test]
fn universal_auth_rules_are_those_of_the_other_transports() {
    let role = |r: &str| json!({"anonymous": {"type": "static", "role": r}});
    // One auth setting per transport: the RawSocket part and every WebSocket path must agree.
    let v = universal(json!({"rawsocket": {"auth": role("a")},
        "websocket": {"ws": {"auth": role("b")}}}));
    let e = errors(&v);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("workers[0].transports[0].websocket.ws: auth differs from the one at workers[0].transports[0].rawsocket: the RawSocket and WebSocket services of one universal transport must share"), "{}", e[0]);
    let v = universal(json!({"rawsocket": {"auth": role("a")},
        "web": {"paths": {"ws": {"type": "websocket"}}}}));
    let e = errors(&v);
    assert!(e[0].starts_with("workers[0].transports[0].web.paths.ws: auth differs from the one at workers[0].transports[0].rawsocket"), "{e:?}");
    // The same methods and refusals as elsewhere.
    let v = universal(json!({"rawsocket": {"auth": {"scram": {"type": "static"}}},
        "websocket": {"ws": {"auth": {"wampcra": {"type": "static"}}, "cookie": {"length": 5}}}}));
    assert_eq!(
        errors(&v),
        [
            "workers[0].transports[0].rawsocket.auth.scram: authentication method 'scram' is not supported yet",
            "workers[0].transports[0].websocket.ws.cookie.length: expected an integer 6..64, found 5",
            "workers[0].transports[0].websocket.ws.auth.wampcra.users: missing (a static method needs users)",
        ]
    );
    // Ticket on both parts, alike: one auth for the transport.
    let ticket =
        json!({"ticket": {"type": "static", "principals": {"joe": {"ticket": "t", "role": "r"}}}});
    let v = universal(json!({"rawsocket": {"auth": ticket},
        "websocket": {"ws": {"auth": ticket}}}));
    let n = ok(&v);
    let t = &n.routers[0].transports[0];
    assert_eq!(t.auth.methods.len(), 1);
    assert_eq!(t.auth.methods[0].name(), "ticket");
    assert_eq!(t.anonymous, AnonymousAuth::default());
}

#[test]
fn universal_keys_and_values_are_checked() {
    let v = universal(
        json!({"rawsocket": {"endpoint": {}, "max_message_size": 1, "options": {"max_message_size": 100}},
        "websocket": {"bad/path": {}, "ws": {"type": "static", "endpoint": {}}, "x": 1},
        "web": {"paths": {}, "endpoint": {}, "banana": 1}, "flavour": 1}),
    );
    assert_eq!(
        errors(&v),
        [
            "workers[0].transports[0].flavour: unknown key (expected one of: id, type, endpoint, rawsocket, websocket, web, mqtt, max_connections)",
            "workers[0].transports[0].rawsocket.endpoint: not allowed here: every part of a universal transport listens on the transport's endpoint",
            "workers[0].transports[0].rawsocket.max_message_size: unknown key (expected one of: serializers, options, auth, debug)",
            "workers[0].transports[0].rawsocket.options.max_message_size: expected an integer 512..16777216, found 100",
            "workers[0].transports[0].web.banana: unknown key (expected one of: paths, options)",
            "workers[0].transports[0].web.endpoint: not allowed here: every part of a universal transport listens on the transport's endpoint",
            r#"workers[0].transports[0].websocket["bad/path"]: invalid path (expected "/" or letters, digits, _ and -)"#,
            r#"workers[0].transports[0].websocket.ws.type: expected "websocket" (or no type), found "static""#,
            "workers[0].transports[0].websocket.ws.endpoint: not allowed here: every part of a universal transport listens on the transport's endpoint",
            "workers[0].transports[0].websocket.x: expected an object, found 1",
        ]
    );
    assert_eq!(
        errors(&universal(json!({"web": {}}))),
        ["workers[0].transports[0].web.paths: missing (web needs paths)"]
    );
    // max_connections and debug as on the other transports.
    let v = universal(json!({"max_connections": 100, "rawsocket": {"debug": true}}));
    assert_eq!(
        notices(&v),
        ["workers[0].transports[0].rawsocket: debug has no effect in ferrobar",]
    );
}

fn production() -> Value {
    serde_json::from_str(include_str!(
        "../../config/production/.crossbar/config.json"
    ))
    .unwrap()
}

#[test]
fn production_example_maps_to_the_model() {
    let dir = node_dir(&[".crossbar/server.key", ".crossbar/server.crt"]);
    std::fs::create_dir(dir.path().join("web")).unwrap();
    let cbdir = dir.path().join(".crossbar");
    let c = check_in(&production(), &cbdir);
    assert!(c.notices.is_empty(), "{:?}", c.notices);
    let n = c.result.unwrap();
    let r = &n.routers[0];
    assert_eq!(r.realms[0].name, "realm1");
    let roles: Vec<&str> = r.realms[0].roles.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(roles, ["backend", "frontend"]);
    let backend = &r.realms[0].roles[0].permissions[0];
    let frontend = &r.realms[0].roles[1].permissions[0];
    assert_eq!(
        (backend.uri.as_str(), frontend.uri.as_str()),
        ("com.example.", "com.example.")
    );
    assert!(backend.allow.register && backend.allow.publish && backend.allow.call);
    assert!(frontend.allow.call && frontend.allow.subscribe);
    assert!(!frontend.allow.register && !frontend.allow.publish);

    let public = &r.transports[0];
    assert_eq!(public.anonymous.role, "frontend");
    let tls = endpoint_tls(&n);
    assert_eq!(
        (&tls.key, &tls.certificate),
        (&cbdir.join("server.key"), &cbdir.join("server.crt"))
    );
    assert!(matches!(public.endpoint, Endpoint::Tcp { port: 8443, .. }));
    let u = universal_service(&n);
    assert!(u.rawsocket.is_some());
    assert!(matches!(u.web.root, Some(PathService::Static(_))));
    assert_eq!(path_names(&u.web), ["info", "ws"]);

    let backend = &r.transports[1];
    assert_eq!(backend.anonymous.role, "backend");
    assert_eq!(
        backend.endpoint,
        Endpoint::Unix {
            path: cbdir.join("backend.sock"),
            backlog: 50
        }
    );
    assert!(matches!(backend.kind, TransportKind::RawSocket(_)));

    // As shipped, without the key and certificate: exactly these two lines.
    let bare = tempfile::tempdir().unwrap();
    let d = bare.path().display();
    assert_eq!(
        errors_in(&production(), bare.path()),
        [
            format!("workers[0].transports[0].endpoint.tls.key: file {d}/server.key does not exist"),
            format!("workers[0].transports[0].endpoint.tls.certificate: file {d}/server.crt does not exist"),
        ]
    );
}
