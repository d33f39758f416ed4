//! Loader tests: good configs map to the expected model, env substitution, ids, error
//! collection. Refusals and notices are in `tests_refuse.rs`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::*;
use crate::wamp::uri::{MatchPolicy, UriCheck};

pub(super) const CBDIR: &str = "/srv/node/.crossbar";

pub(super) fn no_env(_: &str) -> Option<String> {
    None
}

pub(super) fn check(v: &Value) -> Checked {
    check_str(&v.to_string(), Path::new(CBDIR), &no_env)
}

pub(super) fn ok(v: &Value) -> NodeConfig {
    match check(v).result {
        Ok(n) => n,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

/// The error lines of an invalid config.
pub(super) fn errors(v: &Value) -> Vec<String> {
    match check(v).result {
        Ok(_) => panic!("expected errors for {v}"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

/// The notice lines of a config.
pub(super) fn notices(v: &Value) -> Vec<String> {
    check(v).notices.iter().map(ToString::to_string).collect()
}

/// A node with one router worker holding `worker` merged over a minimal realm + transport.
pub(super) fn node(worker: Value) -> Value {
    let mut w = json!({
        "type": "router",
        "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": []}]}],
        "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": 9000}}]
    });
    if let (Value::Object(base), Value::Object(extra)) = (&mut w, worker) {
        base.extend(extra);
    }
    json!({"version": 2, "workers": [w]})
}

/// A node whose only transport is `transport`.
pub(super) fn with_transport(transport: Value) -> Value {
    node(json!({"transports": [transport]}))
}

/// A node whose only realm is `realm`.
pub(super) fn with_realm(realm: Value) -> Value {
    node(json!({"realms": [realm]}))
}

fn seed() -> Value {
    serde_json::from_str(include_str!(
        "../../config/getting-started/.crossbar/config.json"
    ))
    .unwrap()
}

#[test]
fn getting_started_maps_to_the_model() {
    let n = ok(&seed());
    assert_eq!(n.cbdir, PathBuf::from(CBDIR));
    assert_eq!(n.node_id, None);
    assert_eq!(n.routers.len(), 1);
    let r = &n.routers[0];
    assert_eq!(r.id, "worker001");
    assert_eq!(r.shards, None);
    assert_eq!(r.realms[0].name, "realm1");
    assert_eq!(r.realms[0].uri_check, UriCheck::Loose);
    let role = &r.realms[0].roles[0];
    assert_eq!(role.name, "anonymous");
    assert_eq!(
        role.permissions,
        vec![Permission {
            uri: String::new(),
            match_policy: MatchPolicy::Prefix,
            allow: Allow {
                call: true,
                register: true,
                publish: true,
                subscribe: true
            },
            disclose: Disclose {
                caller: false,
                publisher: false
            },
            cache: true,
        }]
    );
    let t = &r.transports[0];
    assert_eq!(t.id, "transport001");
    assert_eq!(t.anonymous, AnonymousAuth::default());
    assert_eq!(
        t.endpoint,
        Endpoint::Tcp {
            port: 8080,
            interface: None,
            version: IpVersion::V4,
            backlog: 50,
            tls: None
        }
    );
    let TransportKind::Web(web) = &t.kind else {
        panic!("expected a web transport")
    };
    let Some(PathService::Static(s)) = &web.root else {
        panic!("expected static at /")
    };
    assert_eq!(s.directory, PathBuf::from("/srv/node/web"));
    assert!(s.enable_directory_listing);
    let names: Vec<&str> = web.paths.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["info", "ws"]);
    assert!(matches!(web.paths[0].1, PathService::NodeInfo));
    let PathService::WebSocket(ws) = &web.paths[1].1 else {
        panic!("expected websocket")
    };
    // No `serializers`: Crossbar's preference order, cbor first.
    assert_eq!(
        ws.serializers,
        vec![Serializer::Cbor, Serializer::MsgPack, Serializer::Json]
    );
    assert_eq!(ws.options, WebSocketOptions::default());
}

#[test]
fn default_node_is_the_default_config_json() {
    let parsed = check_str(DEFAULT_CONFIG_JSON, Path::new(CBDIR), &no_env)
        .result
        .unwrap();
    assert_eq!(
        format!("{parsed:?}"),
        format!("{:?}", default_node(Path::new(CBDIR)))
    );
    // And the shipped example is byte-for-byte what `init` writes.
    assert_eq!(
        include_str!("../../config/default/.crossbar/config.json"),
        DEFAULT_CONFIG_JSON
    );
}

#[test]
fn iot_example_maps_roles_serializers_and_auth() {
    let text = include_str!("../../config/iot-fanout/.crossbar/config.json");
    let n = check_str(text, Path::new(CBDIR), &no_env).result.unwrap();
    assert_eq!(n.node_id.as_deref(), Some("iot_node"));
    let r = &n.routers[0];
    assert_eq!(r.id, "iot_router");
    let device = &r.realms[0].roles[0];
    assert_eq!(device.permissions[1].uri, "com.iot..command");
    assert_eq!(device.permissions[1].match_policy, MatchPolicy::Wildcard);
    assert!(device.permissions[1].allow.subscribe && !device.permissions[1].allow.publish);
    let t = &r.transports[0];
    assert_eq!(t.anonymous.role, "device");
    let TransportKind::Web(web) = &t.kind else {
        panic!("web")
    };
    let PathService::WebSocket(ws) = &web.paths.iter().find(|(k, _)| k == "ws").unwrap().1 else {
        panic!("ws")
    };
    assert_eq!(ws.serializers[0], Serializer::MsgPack);
    assert_eq!(ws.options.max_message_size, 65536);
    assert_eq!(r.transports[1].anonymous.role, "dashboard");
    assert!(matches!(
        &r.transports[1].endpoint,
        Endpoint::Tcp { interface: Some(i), port: 8081, .. } if i == "127.0.0.1"
    ));
}

#[test]
fn starred_uris_convert_as_crossbar_does() {
    let perms = json!([
        {"uri": "com.x.*", "allow": {"call": true}},
        {"uri": "com.*.update"},
        {"uri": "com.x.exact"},
        {"uri": "com.x.*", "match": "exact"}
    ]);
    let n = ok(&with_realm(
        json!({"name": "realm1", "roles": [{"name": "r1", "permissions": perms}]}),
    ));
    let p = &n.routers[0].realms[0].roles[0].permissions;
    assert_eq!(
        (p[0].uri.as_str(), p[0].match_policy),
        ("com.x.", MatchPolicy::Prefix)
    );
    assert!(p[0].allow.call && !p[0].allow.publish && !p[0].cache);
    assert_eq!(
        (p[1].uri.as_str(), p[1].match_policy),
        ("com..update", MatchPolicy::Wildcard)
    );
    assert_eq!(
        (p[2].uri.as_str(), p[2].match_policy),
        ("com.x.exact", MatchPolicy::Exact)
    );
    // An explicit match skips the conversion.
    assert_eq!(
        (p[3].uri.as_str(), p[3].match_policy),
        ("com.x.*", MatchPolicy::Exact)
    );
}

#[test]
fn realm_options_and_strict_uri_check() {
    let n = ok(&with_realm(
        json!({"name": "com.example", "options": {"uri_check": "strict"}}),
    ));
    assert_eq!(n.routers[0].realms[0].uri_check, UriCheck::Strict);
    let e = errors(&with_realm(
        json!({"name": "realm1", "options": {"uri_check": "lax"}}),
    ));
    assert_eq!(
        e,
        [r#"workers[0].realms[0].options.uri_check: expected "strict" or "loose", found "lax""#]
    );
}

#[test]
fn call_timeout_unit_and_disclose_callee() {
    let n = ok(&with_realm(json!({"name": "realm1"})));
    let realm = &n.routers[0].realms[0];
    assert_eq!(realm.call_timeout_unit, CallTimeoutUnit::Seconds);
    assert!(realm.disclose_callee);
    let n = ok(&with_realm(json!({"name": "realm1",
        "options": {"call_timeout_unit": "ms", "disclose_callee": false}})));
    let realm = &n.routers[0].realms[0];
    assert_eq!(realm.call_timeout_unit, CallTimeoutUnit::Millis);
    assert!(!realm.disclose_callee);
    let e = errors(&with_realm(json!({"name": "realm1",
        "options": {"call_timeout_unit": "minutes", "disclose_callee": "no"}})));
    assert_eq!(
        e,
        [
            r#"workers[0].realms[0].options.call_timeout_unit: expected "s" or "ms", found "minutes""#,
            r#"workers[0].realms[0].options.disclose_callee: expected true or false, found "no""#
        ]
    );
}

#[test]
fn port_from_environment() {
    let env = |name: &str| match name {
        "PORT" => Some("9100".to_string()),
        "BAD" => Some("abc".to_string()),
        _ => None,
    };
    for port in ["$PORT", "${PORT}"] {
        let v =
            with_transport(json!({"type": "websocket", "endpoint": {"type": "tcp", "port": port}}));
        let n = check_str(&v.to_string(), Path::new(CBDIR), &env)
            .result
            .unwrap();
        assert!(matches!(
            n.routers[0].transports[0].endpoint,
            Endpoint::Tcp { port: 9100, .. }
        ));
    }
    let missing =
        with_transport(json!({"type": "websocket", "endpoint": {"type": "tcp", "port": "$NOPE"}}));
    let e = check_str(&missing.to_string(), Path::new(CBDIR), &env)
        .result
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"workers[0].transports[0].endpoint.port: environment variable NOPE is not set (referenced as "$NOPE")"#
    );
    let bad =
        with_transport(json!({"type": "websocket", "endpoint": {"type": "tcp", "port": "$BAD"}}));
    let e = check_str(&bad.to_string(), Path::new(CBDIR), &env)
        .result
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("environment variable BAD is \"abc\""),
        "{e}"
    );
}

#[test]
fn unix_endpoint_expands_variables_and_resolves_against_cbdir() {
    let env = |name: &str| (name == "SOCKDIR").then(|| "run".to_string());
    let v = with_transport(
        json!({"type": "websocket", "endpoint": {"type": "unix", "path": "../${SOCKDIR}/wamp.sock"}}),
    );
    let n = check_str(&v.to_string(), Path::new(CBDIR), &env)
        .result
        .unwrap();
    assert_eq!(
        n.routers[0].transports[0].endpoint,
        Endpoint::Unix {
            path: PathBuf::from("/srv/node/run/wamp.sock"),
            backlog: 50
        }
    );
    let v = with_transport(
        json!({"type": "websocket", "endpoint": {"type": "unix", "path": "$MISSING/x"}}),
    );
    assert_eq!(
        errors(&v),
        ["workers[0].transports[0].endpoint.path: environment variable MISSING is not set"]
    );
}

#[test]
fn tcp_endpoint_options() {
    let v = with_transport(json!({"type": "websocket", "endpoint":
        {"type": "tcp", "port": 0, "version": 6, "interface": "::1", "backlog": 1000}}));
    let n = ok(&v);
    assert_eq!(
        n.routers[0].transports[0].endpoint,
        Endpoint::Tcp {
            port: 0,
            interface: Some("::1".into()),
            version: IpVersion::V6,
            backlog: 1000,
            tls: None
        }
    );
    let v = with_transport(json!({"type": "websocket", "endpoint":
        {"type": "tcp", "port": 70000, "version": 5, "interface": "::1", "backlog": 0}}));
    assert_eq!(
        errors(&v),
        [
            r#"workers[0].transports[0].endpoint.version: expected 4 or 6, found 5"#,
            r#"workers[0].transports[0].endpoint.interface: "::1" is not an IPv4 address (endpoint version is 4)"#,
            r#"workers[0].transports[0].endpoint.backlog: expected an integer 1..65535, found 0"#,
            r#"workers[0].transports[0].endpoint.port: expected an integer 1..65535 or "$ENV", found 70000"#,
        ]
    );
}

#[test]
fn websocket_options_are_honoured() {
    let v = with_transport(
        json!({"type": "websocket", "endpoint": {"type": "tcp", "port": 9000},
        "serializers": ["json", "cbor"], "url": "ws://localhost:9000", "options": {
            "max_message_size": 1048576, "max_frame_size": 65536,
            "require_websocket_subprotocol": false, "enable_webstatus": false,
            "open_handshake_timeout": 2500, "close_handshake_timeout": 1000,
            "auto_ping_interval": 10000, "auto_ping_timeout": 0, "auto_ping_size": 125,
            "allowed_origins": ["https://*.example.com:*", "http://localhost:8080"],
            "allow_null_origin": false}}),
    );
    let c = check(&v);
    assert!(c.notices.is_empty(), "{:?}", c.notices);
    let n = ok(&v);
    let TransportKind::WebSocket(ws) = &n.routers[0].transports[0].kind else {
        panic!()
    };
    assert_eq!(ws.serializers, vec![Serializer::Json, Serializer::Cbor]);
    assert_eq!(
        ws.options,
        WebSocketOptions {
            max_message_size: 1048576,
            max_frame_size: 65536,
            require_websocket_subprotocol: false,
            enable_webstatus: false,
            open_handshake_timeout_ms: Some(2500),
            close_handshake_timeout_ms: Some(1000),
            auto_ping_interval_ms: Some(10000),
            // 0 is Crossbar's "none".
            auto_ping_timeout_ms: None,
            auto_ping_size: 125,
            allowed_origins: vec![
                "https://*.example.com:*".into(),
                "http://localhost:8080".into()
            ],
            allow_null_origin: false,
        }
    );
    let d = WebSocketOptions::default();
    assert_eq!(
        (
            d.open_handshake_timeout_ms,
            d.close_handshake_timeout_ms,
            d.auto_ping_interval_ms,
            d.auto_ping_timeout_ms,
            d.auto_ping_size,
            d.allowed_origins.as_slice(),
            d.allow_null_origin
        ),
        (None, None, None, None, 12, &["*".to_string()][..], true)
    );
    let zero = with_transport(
        json!({"type": "websocket", "endpoint": {"type": "tcp", "port": 9000},
        "options": {"max_message_size": 0}}),
    );
    let TransportKind::WebSocket(ws) = &ok(&zero).routers[0].transports[0].kind else {
        panic!()
    };
    assert_eq!(ws.options.max_message_size, 64 * 1024 * 1024);
}

#[test]
fn static_options_and_other_path_services() {
    let v = with_transport(
        json!({"type": "web", "endpoint": {"type": "tcp", "port": 9000}, "paths": {
        "/": {"type": "static", "directory": "/var/www", "options": {"default_file": "home.html",
            "cache_timeout": 60, "mime_types": {".svg": "image/svg+xml", "wasm": "application/wasm"}}},
        "api": {"type": "path", "paths": {"/": {"type": "json", "value": {"a": 1}},
                                          "old": {"type": "redirect", "url": "/new"},
                                          "hidden": {"type": "none"}}}}}),
    );
    let n = ok(&v);
    let TransportKind::Web(web) = &n.routers[0].transports[0].kind else {
        panic!()
    };
    let Some(PathService::Static(s)) = &web.root else {
        panic!()
    };
    assert_eq!(s.directory, PathBuf::from("/var/www"));
    assert!(!s.enable_directory_listing);
    assert_eq!(s.default_file.as_deref(), Some("home.html"));
    assert_eq!(s.cache_timeout, Some(60));
    assert_eq!(
        s.mime_types,
        vec![
            (".svg".into(), "image/svg+xml".into()),
            (".wasm".into(), "application/wasm".into())
        ]
    );
    let PathService::Path(api) = &web.paths[0].1 else {
        panic!()
    };
    assert!(matches!(&api.root, Some(PathService::Json(j)) if j == r#"{"a":1}"#));
    let kinds: Vec<String> = api
        .paths
        .iter()
        .map(|(k, s)| format!("{k}={s:?}"))
        .collect();
    assert_eq!(kinds, [r#"hidden=NotFound"#, r#"old=Redirect("/new")"#]);
}

#[test]
fn anonymous_auth_role_and_authid() {
    let v = with_transport(
        json!({"type": "websocket", "endpoint": {"type": "tcp", "port": 9000},
        "auth": {"anonymous": {"type": "static", "role": "frontend", "authid": "guest"}}}),
    );
    let t = &ok(&v).routers[0].transports[0];
    assert_eq!(
        t.anonymous,
        AnonymousAuth {
            role: "frontend".into(),
            authid: Some("guest".into())
        }
    );
    // An empty auth block is the same as none, as in Crossbar.
    let v = with_transport(
        json!({"type": "websocket", "endpoint": {"type": "tcp", "port": 9000}, "auth": {}}),
    );
    assert_eq!(
        ok(&v).routers[0].transports[0].anonymous,
        AnonymousAuth::default()
    );
}

#[test]
fn ids_are_generated_and_checked() {
    let v = json!({"version": 2, "workers": [
        {"type": "router", "transports": [
            {"type": "websocket", "endpoint": {"type": "tcp", "port": 9001}},
            {"type": "websocket", "id": "second", "endpoint": {"type": "tcp", "port": 9002}},
            {"type": "websocket", "endpoint": {"type": "tcp", "port": 9003}}]},
        {"type": "router", "id": "edge_router"},
        {"type": "router"}]});
    let n = ok(&v);
    let ids: Vec<&str> = n.routers.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["worker001", "edge_router", "worker002"]);
    let tids: Vec<&str> = n.routers[0]
        .transports
        .iter()
        .map(|t| t.id.as_str())
        .collect();
    assert_eq!(tids, ["transport001", "second", "transport002"]);

    let v = json!({"version": 2, "workers": [{"type": "router", "id": "W1", "transports": [
        {"type": "websocket", "id": "same", "endpoint": {"type": "tcp", "port": 9001}},
        {"type": "websocket", "id": "same", "endpoint": {"type": "tcp", "port": 9002}}]}]});
    assert_eq!(
        errors(&v),
        [
            r#"workers[0].id: expected an id matching ^[a-z][a-z0-9_]{2,63}$, found "W1""#,
            "workers[0].transports[1].id: transport id 'same' is also used at workers[0].transports[0]",
        ]
    );
}

#[test]
fn shards_option() {
    let n = ok(&node(json!({"options": {"shards": 4}})));
    assert_eq!(n.routers[0].shards, Some(4));
    assert_eq!(
        errors(&node(json!({"options": {"shards": 257}}))),
        ["workers[0].options.shards: expected an integer 1..256, found 257"]
    );
}

#[test]
fn reactor_option() {
    assert_eq!(ok(&node(json!({}))).routers[0].reactor, None);
    for (name, kind) in [
        ("epoll", ReactorKind::Epoll),
        ("io_uring", ReactorKind::IoUring),
        ("auto", ReactorKind::Auto),
    ] {
        let n = ok(&node(json!({"options": {"reactor": name}})));
        assert_eq!(n.routers[0].reactor, Some(kind), "{name}");
    }
    assert_eq!(
        errors(&node(json!({"options": {"reactor": "uring"}}))),
        [r#"workers[0].options.reactor: expected "epoll", "io_uring" or "auto", found "uring""#]
    );
}

#[test]
fn disabled_worker_is_skipped() {
    let env = |name: &str| (name == "OFF").then(|| "1".to_string());
    let v = node(json!({"options": {"disabled": "${OFF}"}}));
    let n = check_str(&v.to_string(), Path::new(CBDIR), &env)
        .result
        .unwrap();
    assert!(n.routers.is_empty());
    let v = node(json!({"options": {"disabled": "${UNSET}"}}));
    let c = check_str(&v.to_string(), Path::new(CBDIR), &env);
    assert_eq!(c.result.unwrap().routers.len(), 1);
    assert!(c
        .notices
        .iter()
        .any(|n| n.message.contains("UNSET is not set")));
    assert!(ok(&node(json!({"options": {"disabled": true}})))
        .routers
        .is_empty());
}

#[test]
fn all_problems_are_collected_one_line_each() {
    let v = json!({"version": 2, "extra": 1, "workers": [{"type": "router",
        "realms": [{"name": "r", "roles": [{"permissions": [{"uri": "a b"}]}]}],
        "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": "abc"}}]}]});
    let e = check(&v).result.unwrap_err();
    let text = e.to_string();
    assert_eq!(text.lines().count(), e.len());
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "extra: unknown key (expected one of: $schema, version, controller, workers)",
            r#"workers[0].realms[0].name: invalid realm name "r" (expected 3 to 255 characters of letters, digits, _ - @ . starting with a letter, or an Ethereum address)"#,
            "workers[0].realms[0].roles[0].name: missing (a string is required)",
            r#"workers[0].realms[0].roles[0].permissions[0].uri: invalid URI "a b" for match policy exact"#,
            r#"workers[0].transports[0].endpoint.port: expected an integer 1..65535 or "$ENV", found "abc""#,
        ]
    );
}

#[test]
fn version_rules() {
    let upgrade = "please upgrade with `crossbar upgrade`";
    let e = errors(&json!({"workers": []}));
    assert_eq!(
        e,
        [format!(
            "version: missing: this looks like a version 1 config, {upgrade}"
        )]
    );
    let e = errors(&json!({"version": 1, "workers": [{"type": "nope"}]}));
    assert_eq!(
        e,
        [format!("version: config version 1 is too old, {upgrade}")]
    );
    assert_eq!(
        errors(&json!({"version": 3})),
        ["version: expected 2, found 3"]
    );
    assert_eq!(
        errors(&json!([1])),
        ["(top level): expected an object, found a list"]
    );
}

#[test]
fn json_syntax_errors_give_line_and_column() {
    let c = check_str(
        "{\"version\": 2,\n  \"workers\": [,]}",
        Path::new(CBDIR),
        &no_env,
    );
    let e = c.result.unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid JSON at line 2, column 15: expected value"
    );
}

#[test]
fn same_port_twice_is_refused() {
    let v = json!({"version": 2, "workers": [
        {"type": "router", "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": 9000}}]},
        {"type": "router", "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": 9000, "interface": "127.0.0.1"}}]}]});
    assert_eq!(
        errors(&v),
        ["workers: transport 'transport001' of worker 'worker002' listens on the same TCP port 9000 as transport 'transport001' of worker 'worker001'"]
    );
}

#[test]
fn find_config_prefers_json_and_refuses_yaml_only() {
    let dir = std::env::temp_dir().join(format!("ferrobar-find-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    assert_eq!(find_config(&dir).unwrap(), None);
    std::fs::write(dir.join("config.yaml"), "version: 2\n").unwrap();
    let e = find_config(&dir).unwrap_err();
    assert!(
        e.to_string()
            .contains("config.yaml is not supported yet: convert it to config.json"),
        "{e}"
    );
    std::fs::write(dir.join("config.json"), DEFAULT_CONFIG_JSON).unwrap();
    assert_eq!(find_config(&dir).unwrap(), Some(dir.join("config.json")));
    let n = load_file(&dir.join("config.json")).unwrap();
    assert_eq!(n.cbdir, dir);
    let e = load_file(&dir.join("missing.json")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: no such file", dir.join("missing.json").display())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rawsocket_transport_maps_to_the_model() {
    let v = with_transport(json!({"type": "rawsocket", "id": "raw_tcp",
        "endpoint": {"type": "tcp", "port": 9001, "interface": "127.0.0.1"},
        "serializers": ["cbor", "json"], "options": {"max_message_size": 65536},
        "auth": {"anonymous": {"type": "static", "role": "device"}}}));
    let c = check(&v);
    assert!(c.notices.is_empty(), "{:?}", c.notices);
    let n = ok(&v);
    let t = &n.routers[0].transports[0];
    assert_eq!(t.id, "raw_tcp");
    assert_eq!(t.anonymous.role, "device");
    assert_eq!(
        t.endpoint,
        Endpoint::Tcp {
            port: 9001,
            interface: Some("127.0.0.1".into()),
            version: IpVersion::V4,
            backlog: 50,
            tls: None
        }
    );
    let TransportKind::RawSocket(rs) = &t.kind else {
        panic!("expected a rawsocket transport, got {:?}", t.kind)
    };
    assert_eq!(
        rs,
        &RawSocketService {
            serializers: vec![Serializer::Cbor, Serializer::Json],
            max_message_size: 65536
        }
    );

    // Defaults: every serializer, 16 MiB, anonymous; a Unix socket endpoint.
    let v = with_transport(json!({"type": "rawsocket",
        "endpoint": {"type": "unix", "path": "../raw.sock"}}));
    let n = ok(&v);
    let t = &n.routers[0].transports[0];
    assert_eq!(t.id, "transport001");
    assert_eq!(t.anonymous, AnonymousAuth::default());
    assert_eq!(
        t.endpoint,
        Endpoint::Unix {
            path: PathBuf::from("/srv/node/raw.sock"),
            backlog: 50
        }
    );
    let TransportKind::RawSocket(rs) = &t.kind else {
        panic!("expected a rawsocket transport")
    };
    assert_eq!(rs, &RawSocketService::default());
    assert_eq!(
        rs.serializers,
        vec![Serializer::Cbor, Serializer::MsgPack, Serializer::Json]
    );
    assert_eq!(rs.max_message_size, 16 * 1024 * 1024);

    // The protocol's bounds are both accepted.
    for size in [512, 16 * 1024 * 1024] {
        let v = with_transport(json!({"type": "rawsocket",
            "endpoint": {"type": "tcp", "port": 9001}, "options": {"max_message_size": size}}));
        let TransportKind::RawSocket(rs) = &ok(&v).routers[0].transports[0].kind else {
            panic!()
        };
        assert_eq!(rs.max_message_size, size);
    }
}

#[test]
fn memory_store_event_history_and_meta_api_switch() {
    let cfg = ok(&with_realm(json!({
        "name": "realm1",
        "roles": [{"name": "anonymous", "permissions": []}],
        "options": {"enable_meta_api": false},
        "store": {
            "type": "memory",
            "limit": 50,
            "event-history": [
                {"uri": "com.iot.temp", "limit": 5},
                {"uri": "com.iot.", "match": "prefix"}
            ]
        }
    })));
    let realm = &cfg.routers[0].realms[0];
    assert!(!realm.enable_meta_api);
    let store = realm.store.as_ref().expect("store");
    assert_eq!(store.limit, 50);
    assert_eq!(
        store.event_history,
        vec![
            HistoryRule {
                uri: "com.iot.temp".into(),
                match_policy: MatchPolicy::Exact,
                limit: 5
            },
            HistoryRule {
                uri: "com.iot.".into(),
                match_policy: MatchPolicy::Prefix,
                limit: 50
            },
        ]
    );
    let default = ok(&node(json!({})));
    assert!(default.routers[0].realms[0].enable_meta_api);
    assert!(default.routers[0].realms[0].store.is_none());
}

#[test]
fn store_features_not_built_are_refused_by_name() {
    let lines = errors(&with_realm(json!({
        "name": "realm1",
        "store": {"type": "cfxdb", "call-queue": [{"uri": "com.x"}], "event-history": [{"uri": "bad uri"}]}
    })));
    let text = lines.join("\n");
    assert!(
        text.contains("workers[0].realms[0].store.type") && text.contains("cfxdb"),
        "{text}"
    );
    assert!(text.contains("store.call-queue"), "{text}");
    assert!(text.contains("store.event-history[0].uri"), "{text}");
}

#[test]
fn limits_keep_their_size_on_32_bit_targets() {
    let n = ok(&node(json!({"options": {"limits": {
        "max_output_bytes": 4_294_967_296_u64,
        "max_connections": 4_294_967_295_u64,
        "max_pending_calls": 4_294_967_295_u64,
    }}})));
    let limits = n.routers[0].limits;
    // The largest value allowed is 4 GiB: on a 32-bit target it is every byte there is, not 0.
    let four_gib = (1u64 << 32).min(usize::MAX as u64);
    assert_eq!(limits.max_output_bytes as u64, four_gib);
    assert_eq!(limits.max_connections as u64, u64::from(u32::MAX));
    assert_eq!(limits.max_pending_calls as u64, u64::from(u32::MAX));
}
