//! Loader tests: features refused by name, keys accepted with one notice, unknown keys.

use serde_json::json;

use super::tests::{check, errors, node, notices, with_realm, with_transport};
use super::NoticeLevel;

fn ws(extra: serde_json::Value) -> serde_json::Value {
    let mut t = json!({"type": "websocket", "endpoint": {"type": "tcp", "port": 9000}});
    if let (Some(base), serde_json::Value::Object(extra)) = (t.as_object_mut(), extra) {
        base.extend(extra);
    }
    t
}

#[test]
fn worker_types_are_refused_by_name() {
    for kind in ["container", "guest", "proxy", "websocket-testee"] {
        let v = json!({"version": 2, "workers": [{"type": kind}]});
        assert_eq!(
            errors(&v),
            [format!(
                "workers[0].type: worker type '{kind}' is not supported yet"
            )]
        );
    }
    let v = json!({"version": 2, "workers": [{"type": "hostmonitor"}, {"type": "banana"}]});
    let e = errors(&v);
    assert_eq!(
        e[0],
        "workers[0].type: worker type 'hostmonitor' (Crossbar edge) is not supported yet"
    );
    assert!(
        e[1].starts_with("workers[1].type: unknown worker type 'banana'"),
        "{}",
        e[1]
    );
}

#[test]
fn transport_types_are_refused_by_name() {
    for kind in ["flashpolicy", "websocket.testee", "stream.testee"] {
        let e = errors(&with_transport(
            json!({"type": kind, "endpoint": {"type": "tcp", "port": 9000}}),
        ));
        assert_eq!(
            e,
            [format!(
                "workers[0].transports[0].type: transport type '{kind}' is not supported yet"
            )]
        );
    }
}

#[test]
fn endpoint_features_are_refused_by_name() {
    let e = errors(&with_transport(ws(
        json!({"endpoint": {"type": "tcp", "portrange": [9000, 9010]}}),
    )));
    assert_eq!(
        e,
        ["workers[0].transports[0].endpoint.portrange: listening on the first free port of a range ('portrange') is not supported yet"]
    );
    for kind in ["twisted", "onion"] {
        let e = errors(&with_transport(ws(json!({"endpoint": {"type": kind}}))));
        assert_eq!(e, [format!("workers[0].transports[0].endpoint.type: endpoint type '{kind}' is not supported yet")]);
    }
}

#[test]
fn auth_methods_ferrobar_lacks_are_refused_by_name() {
    for method in ["scram", "anonymous-proxy", "cryptosign-proxy"] {
        let e = errors(&with_transport(ws(
            json!({"auth": {method: {"type": "static"}}}),
        )));
        assert_eq!(
            e,
            [format!("workers[0].transports[0].auth.{method}: authentication method '{method}' is not supported yet")]
        );
    }
    // Anonymous `realm` is accepted with a notice: Crossbar ignores it too.
    let v = with_transport(ws(
        json!({"auth": {"anonymous": {"type": "static", "realm": "x"}}}),
    ));
    assert!(check(&v).result.is_ok());
    assert!(
        notices(&v)
            .iter()
            .any(|n| n.contains("auth.anonymous: realm has no effect")),
        "{:?}",
        notices(&v)
    );
    // Cookie tracking and cookie authentication are accepted (tests_cookie.rs); only the
    // database cookie store is refused by name.
    let v = with_transport(ws(json!({"cookie": {}, "auth": {"cookie": {}}})));
    assert!(check(&v).result.is_ok(), "{:?}", errors_or_none(&v));
    let e = errors(&with_transport(ws(
        json!({"cookie": {"store": {"type": "database", "path": ".cookies"}}}),
    )));
    assert_eq!(
        e,
        ["workers[0].transports[0].cookie.store.type: the database cookie store ('database', Crossbar's LMDB store; use 'file') is not supported yet"]
    );
}

fn errors_or_none(v: &serde_json::Value) -> Option<Vec<String>> {
    check(v)
        .result
        .err()
        .map(|e| e.iter().map(ToString::to_string).collect())
}

#[test]
fn realm_features_are_refused_by_name() {
    let v = with_realm(
        json!({"name": "realm1", "store": {"type": "memory", "call-queue": []}, "rlinks": [],
        "inventory": {}, "stats": {}, "roles": [
            {"name": "open", "allow-by-default": true},
            {"name": "checked", "permissions": [{"uri": "com.x", "validate": {"call": "uint8"}}]}]}),
    );
    assert_eq!(
        errors(&v),
        [
            "workers[0].realms[0].stats: session statistics (wamp.session.on_stats) is not supported yet",
            "workers[0].realms[0].inventory: the realm type inventory is not supported yet",
            "workers[0].realms[0].rlinks: router-to-router links (rlinks) is not supported yet",
            "workers[0].realms[0].store.call-queue: call queueing ('call-queue') is not supported yet",
            "workers[0].realms[0].roles[0].allow-by-default: allow-by-default: true is not supported yet",
            "workers[0].realms[0].roles[1].permissions[0].validate: payload validation ('validate', needs a realm inventory) is not supported yet",
        ]
    );
}

#[test]
fn a_dynamic_authorizer_role_is_read_and_checked() {
    let v = with_realm(json!({"name": "realm1", "roles": [
        {"name": "user", "authorizer": "com.example.authorize"},
        {"name": "backend", "permissions": []}]}));
    let n = super::tests::ok(&v);
    let roles = &n.routers[0].realms[0].roles;
    assert_eq!(
        roles[0].authorizer.as_deref(),
        Some("com.example.authorize")
    );
    assert_eq!(roles[1].authorizer, None);

    let both = with_realm(json!({"name": "realm1", "roles": [
        {"name": "user", "authorizer": "com.example.authorize",
         "permissions": [{"uri": "", "match": "prefix", "allow": {"call": true}}]}]}));
    assert!(notices(&both).iter().any(|n| n.contains(
        "workers[0].realms[0].roles[0].permissions: ignored: the role's authorizer decides every action"
    )));

    let bad = with_realm(json!({"name": "realm1", "roles": [
        {"name": "user", "authorizer": "com..authorize"},
        {"name": "other", "authorizer": 7}]}));
    assert_eq!(
        errors(&bad),
        [
            r#"workers[0].realms[0].roles[0].authorizer: invalid authorizer procedure URI "com..authorize""#,
            "workers[0].realms[0].roles[1].authorizer: expected a string, found 7",
        ]
    );
}

#[test]
fn router_components_are_refused_but_an_empty_list_is_fine() {
    let e = errors(&node(
        json!({"components": [{"type": "class", "classname": "x.Y", "realm": "realm1"}]}),
    ));
    assert_eq!(
        e,
        ["workers[0].components: embedded router components ('components') is not supported yet"]
    );
    assert!(check(&node(json!({"components": []}))).result.is_ok());
}

#[test]
fn web_services_are_refused_by_name() {
    for kind in [
        "reverseproxy",
        "publisher",
        "caller",
        "longpoll",
        "wsgi",
        "cgi",
        "webhook",
        "archive",
    ] {
        let v = with_transport(
            json!({"type": "web", "endpoint": {"type": "tcp", "port": 9000},
            "paths": {"x": {"type": kind}}}),
        );
        assert_eq!(
            errors(&v),
            [format!("workers[0].transports[0].paths.x.type: web service type '{kind}' is not supported yet")]
        );
    }
    let v = with_transport(
        json!({"type": "web", "endpoint": {"type": "tcp", "port": 9000},
        "paths": {"/": {"type": "static", "package": "app", "resource": "web"}}}),
    );
    assert_eq!(
        errors(&v),
        [
            r#"workers[0].transports[0].paths["/"].package: serving a Python package resource ('package'/'resource') is not supported yet"#
        ]
    );
}

#[test]
fn websocket_compression_is_refused() {
    let e = errors(&with_transport(ws(
        json!({"options": {"compression": {"deflate": {}}}}),
    )));
    assert_eq!(
        e,
        ["workers[0].transports[0].options.compression: WebSocket compression ('compression') is not supported yet"]
    );
}

#[test]
fn serializers_not_offered_are_logged_or_refused() {
    let v = with_transport(ws(
        json!({"serializers": ["cbor", "msgpack", "ubjson", "json"]}),
    ));
    let c = check(&v);
    assert!(c.result.is_ok());
    assert_eq!(
        notices(&v),
        ["workers[0].transports[0].serializers: ubjson not offered by ferrobar yet: clients must use cbor, msgpack or json"]
    );
    let v = with_transport(ws(json!({"serializers": ["cbor", "flatbuffers"]})));
    assert_eq!(
        notices(&v),
        ["workers[0].transports[0].serializers: flatbuffers not offered by ferrobar yet: clients must use cbor"]
    );
    let e = errors(&with_transport(ws(
        json!({"serializers": ["ubjson", "flatbuffers"]}),
    )));
    assert_eq!(
        e,
        ["workers[0].transports[0].serializers: none of these serializers is offered by ferrobar yet (expected json, msgpack or cbor)"]
    );
    // The same rules on a rawsocket transport.
    let v = with_transport(
        json!({"type": "rawsocket", "endpoint": {"type": "tcp", "port": 9000},
        "serializers": ["ubjson", "msgpack"]}),
    );
    assert_eq!(
        notices(&v),
        ["workers[0].transports[0].serializers: ubjson not offered by ferrobar yet: clients must use msgpack"]
    );
    let e = errors(&with_transport(
        json!({"type": "rawsocket", "endpoint": {"type": "tcp", "port": 9000}, "serializers": []}),
    ));
    assert_eq!(
        e,
        ["workers[0].transports[0].serializers: expected a non-empty list of serializers"]
    );
    let e = errors(&with_transport(ws(
        json!({"serializers": ["json", "yaml"]}),
    )));
    assert_eq!(
        e,
        [
            r#"workers[0].transports[0].serializers[1]: expected one of json, msgpack, cbor, ubjson, flatbuffers, found "yaml""#
        ]
    );
}

#[test]
fn tuning_knobs_have_no_effect_with_one_line_each() {
    let v = json!({"version": 2, "controller": {"options": {"title": "cb"}}, "workers": [{
        "type": "router",
        "options": {"pythonpath": ["."], "cpu_affinity": [0], "env": {"inherit": true}, "expose_controller": true},
        "realms": [{"name": "realm1", "options": {"event_dispatching_chunk_size": 100}}],
        "transports": [{"type": "websocket",
            "endpoint": {"type": "tcp", "port": 9000, "shared": true, "user_timeout": 1000},
            "options": {"fail_by_drop": true, "echo_close_codereason": true, "tcp_nodelay": true, "validate_utf8": false}}]}]});
    let c = check(&v);
    assert!(c.result.is_ok(), "{:?}", c.result);
    assert!(c.notices.iter().all(|n| n.level == NoticeLevel::Info));
    assert_eq!(
        notices(&v),
        [
            "controller.options: title has no effect in ferrobar",
            "workers[0].options: pythonpath has no effect in ferrobar",
            "workers[0].options: cpu_affinity has no effect in ferrobar",
            "workers[0].options: env has no effect in ferrobar",
            "workers[0].options: expose_controller has no effect in ferrobar",
            "workers[0].realms[0].options: event_dispatching_chunk_size has no effect in ferrobar",
            "workers[0].transports[0].endpoint: shared has no effect in ferrobar",
            "workers[0].transports[0].endpoint: user_timeout has no effect in ferrobar",
            "workers[0].transports[0].options: fail_by_drop has no effect in ferrobar",
            "workers[0].transports[0].options: echo_close_codereason has no effect in ferrobar",
            "workers[0].transports[0].options: tcp_nodelay has no effect in ferrobar",
            "workers[0].transports[0].options: validate_utf8 has no effect in ferrobar",
        ]
    );
}

#[test]
fn robustness_knobs_not_enforced_yet_are_warnings() {
    // Timeouts, pings and origins are honoured (no notice); these two are not yet.
    let v = with_transport(ws(json!({"max_connections": 1000, "options": {
        "auto_ping_interval": 10000, "auto_ping_timeout": 5000, "auto_ping_size": 12,
        "auto_ping_restart_on_any_traffic": false,
        "open_handshake_timeout": 2500, "close_handshake_timeout": 1000,
        "allowed_origins": ["https://example.com"], "allow_null_origin": false}})));
    let c = check(&v);
    assert!(c.result.is_ok(), "{:?}", c.result);
    assert!(c.notices.iter().all(|n| n.level == NoticeLevel::Warn));
    assert_eq!(
        notices(&v),
        [
            "workers[0].transports[0].options: auto_ping_restart_on_any_traffic is accepted but not enforced yet",
        ]
    );
    let v = with_transport(
        json!({"type": "rawsocket", "endpoint": {"type": "tcp", "port": 9000},
        "max_connections": 10, "debug": true}),
    );
    assert_eq!(
        notices(&v),
        ["workers[0].transports[0]: debug has no effect in ferrobar",]
    );
}

#[test]
fn websocket_option_values_are_checked() {
    let e = errors(&with_transport(ws(json!({"options": {
        "open_handshake_timeout": 500, "close_handshake_timeout": 999,
        "auto_ping_interval": 1, "auto_ping_timeout": -1, "auto_ping_size": 4,
        "allowed_origins": ["*", 7], "allow_null_origin": "yes"}}))));
    assert_eq!(
        e,
        [
            "workers[0].transports[0].options.open_handshake_timeout: 500 is too small: the value is in milliseconds (0 or at least 1000)",
            "workers[0].transports[0].options.close_handshake_timeout: 999 is too small: the value is in milliseconds (0 or at least 1000)",
            "workers[0].transports[0].options.auto_ping_interval: 1 is too small: the value is in milliseconds (0 or at least 1000)",
            "workers[0].transports[0].options.auto_ping_timeout: expected an integer 0..4294967295, found -1",
            "workers[0].transports[0].options.auto_ping_size: expected an integer 12..125, found 4",
            "workers[0].transports[0].options.allowed_origins[1]: expected an origin pattern (a string), found 7",
            r#"workers[0].transports[0].options.allow_null_origin: expected true or false, found "yes""#,
        ]
    );
}

#[test]
fn rawsocket_settings_are_checked() {
    let raw = |extra: serde_json::Value| {
        let mut t = json!({"type": "rawsocket", "endpoint": {"type": "tcp", "port": 9000}});
        if let (Some(base), serde_json::Value::Object(extra)) = (t.as_object_mut(), extra) {
            base.extend(extra);
        }
        with_transport(t)
    };
    for size in [0, 511, 16 * 1024 * 1024 + 1, 64 * 1024 * 1024] {
        assert_eq!(
            errors(&raw(json!({"options": {"max_message_size": size}}))),
            [format!("workers[0].transports[0].options.max_message_size: expected an integer 512..16777216, found {size}")]
        );
    }
    let e = errors(&raw(json!({"url": "ws://x", "cookie": {},
        "options": {"max_message_size": 1024, "auto_ping_interval": 1000}})));
    let paths: Vec<&str> = e.iter().map(|l| l.split(": ").next().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "workers[0].transports[0].cookie",
            "workers[0].transports[0].url",
            "workers[0].transports[0].options.auto_ping_interval",
        ]
    );
    assert!(e.iter().all(|l| l.contains("unknown key")), "{e:?}");
    assert_eq!(
        errors(&raw(json!({"auth": {"scram": {"type": "static"}}}))),
        ["workers[0].transports[0].auth.scram: authentication method 'scram' is not supported yet"]
    );
    assert_eq!(
        errors(&raw(json!({"options": []}))),
        ["workers[0].transports[0].options: expected an object, found a list"]
    );
    assert_eq!(
        errors(&raw(json!({"serializers": ["json", "yaml"]}))),
        [
            r#"workers[0].transports[0].serializers[1]: expected one of json, msgpack, cbor, ubjson, flatbuffers, found "yaml""#
        ]
    );
    assert_eq!(
        errors(&with_transport(json!({"type": "rawsocket"}))),
        ["workers[0].transports[0].endpoint: missing (a listening endpoint is required)"]
    );
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    let v = json!({"version": 2, "controller": {"manager": {}}, "workers": [{"type": "router", "reactor": "epoll",
        "realms": [{"name": "realm1", "roles": [{"name": "r1", "permissions": [{"uri": "a", "call": true}]}]}],
        "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": 9000, "host": "x"}, "options": {"speed": 1}}]}]});
    let e = errors(&v);
    let paths: Vec<&str> = e.iter().map(|l| l.split(": ").next().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "controller.manager",
            "workers[0].reactor",
            "workers[0].realms[0].roles[0].permissions[0].call",
            "workers[0].transports[0].endpoint.host",
            "workers[0].transports[0].options.speed",
        ]
    );
    assert!(
        e.iter()
            .all(|l| l.contains("unknown key (expected one of: ")),
        "{e:?}"
    );
}

#[test]
fn websocket_paths_of_one_web_transport_must_share_auth() {
    let v = with_transport(
        json!({"type": "web", "endpoint": {"type": "tcp", "port": 9000}, "paths": {
        "a": {"type": "websocket", "auth": {"anonymous": {"type": "static", "role": "one"}}},
        "b": {"type": "websocket", "auth": {"anonymous": {"type": "static", "role": "two"}}}}}),
    );
    let e = errors(&v);
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("workers[0].transports[0].paths.b: auth differs from the one at workers[0].transports[0].paths.a"), "{}", e[0]);
}

#[test]
fn empty_exact_permission_uri_is_refused() {
    let v = with_realm(
        json!({"name": "realm1", "roles": [{"name": "r1", "permissions": [{"uri": ""}]}]}),
    );
    assert_eq!(
        errors(&v),
        [
            r#"workers[0].realms[0].roles[0].permissions[0].uri: an empty URI needs "match": "prefix" (which matches every URI)"#
        ]
    );
}

#[test]
fn missing_static_directory_is_a_warning() {
    let v = with_transport(
        json!({"type": "web", "endpoint": {"type": "tcp", "port": 9000},
        "paths": {"/": {"type": "static", "directory": "../no-such-web-dir"}}}),
    );
    let c = check(&v);
    assert!(c.result.is_ok());
    assert_eq!(c.notices.len(), 1);
    assert_eq!(c.notices[0].level, NoticeLevel::Warn);
    assert!(
        c.notices[0]
            .message
            .contains("/srv/node/no-such-web-dir does not exist"),
        "{}",
        c.notices[0]
    );
}

#[test]
fn meta_api_is_offered_and_bridging_has_no_effect() {
    let v = with_realm(
        json!({"name": "realm1", "options": {"enable_meta_api": true, "bridge_meta_api": true}}),
    );
    let c = check(&v);
    assert!(c.result.is_ok());
    assert_eq!(
        notices(&v),
        ["workers[0].realms[0].options: bridge_meta_api has no effect in ferrobar",]
    );
    let v = with_realm(json!({"name": "realm1", "options": {"enable_meta_api": false}}));
    assert!(notices(&v).is_empty());
}
