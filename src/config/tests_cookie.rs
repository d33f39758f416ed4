//! Loader tests: the `cookie` block of WebSocket services (cookie tracking) and the `cookie`
//! authentication method.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::tests::{check, errors, notices, ok, with_transport, CBDIR};
use super::*;

fn ws(extra: Value) -> Value {
    let mut t = json!({"type": "websocket", "endpoint": {"type": "tcp", "port": 9000}});
    if let (Some(base), Value::Object(extra)) = (t.as_object_mut(), extra) {
        base.extend(extra);
    }
    with_transport(t)
}

/// A `websocket` transport with this `cookie` block.
fn cookie(block: Value) -> Value {
    ws(json!({ "cookie": block }))
}

fn ws_service(n: &NodeConfig) -> &WebSocketService {
    match &n.routers[0].transports[0].kind {
        TransportKind::WebSocket(ws) => ws,
        other => panic!("expected a websocket transport, got {other:?}"),
    }
}

fn path_service<'a>(web: &'a WebService, key: &str) -> &'a WebSocketService {
    match web.paths.iter().find(|(k, _)| k == key) {
        Some((_, PathService::WebSocket(ws))) => ws,
        other => panic!("expected a websocket path {key}, got {other:?}"),
    }
}

#[test]
fn an_empty_block_has_crossbars_defaults() {
    let n = ok(&cookie(json!({})));
    assert_eq!(
        ws_service(&n).cookie,
        Some(CookieConfig {
            path: "workers[0].transports[0].cookie".into(),
            name: "cbtid".into(),
            length: 24,
            max_age: 604_800,
            store: CookieStoreConfig::Memory,
            secure: false,
            http_strict: false,
            same_site: None,
        })
    );
    // No block: no cookie tracking.
    assert_eq!(ws_service(&ok(&ws(json!({})))).cookie, None);
}

#[test]
fn every_key_is_read() {
    let n = ok(&cookie(json!({
        "name": "session_2",
        "length": 64,
        "max_age": 86400 * 360 * 10,
        "store": {"type": "file", "filename": "../cookies.dat", "purge_on_startup": true},
        "secure": true,
        "http_strict": true,
        "same_site": "Lax",
    })));
    let c = ws_service(&n).cookie.clone().expect("cookie");
    assert_eq!(c.name, "session_2");
    assert_eq!(c.length, 64);
    assert_eq!(c.max_age, 311_040_000);
    assert_eq!(
        c.store,
        CookieStoreConfig::File {
            filename: PathBuf::from(CBDIR).parent().unwrap().join("cookies.dat"),
            purge_on_startup: true,
        }
    );
    assert!(c.secure && c.http_strict);
    assert_eq!(c.same_site, Some(SameSite::Lax));
    for (v, want) in [
        ("Strict", SameSite::Strict),
        ("Lax", SameSite::Lax),
        ("None", SameSite::None),
    ] {
        let n = ok(&cookie(json!({ "same_site": v })));
        assert_eq!(
            ws_service(&n).cookie.as_ref().unwrap().same_site,
            Some(want)
        );
        assert_eq!(want.as_str(), v);
    }
    let n = ok(&cookie(
        json!({"store": {"type": "file", "filename": "cookies.dat"}, "length": 6, "max_age": 1}),
    ));
    let c = ws_service(&n).cookie.clone().unwrap();
    assert_eq!(
        c.store,
        CookieStoreConfig::File {
            filename: PathBuf::from(CBDIR).join("cookies.dat"),
            purge_on_startup: false,
        }
    );
    assert_eq!((c.length, c.max_age), (6, 1));
    let n = ok(&cookie(json!({"store": {"type": "memory"}})));
    assert_eq!(
        ws_service(&n).cookie.as_ref().unwrap().store,
        CookieStoreConfig::Memory
    );
}

#[test]
fn each_bad_value_is_one_error_with_its_path() {
    let p = "workers[0].transports[0].cookie";
    let cases: Vec<(Value, String)> = vec![
        (json!({"name": "Cbtid"}), format!("{p}.name: invalid cookie name \"Cbtid\" (expected ^[a-z][a-z0-9_]+$)")),
        (json!({"name": "c"}), format!("{p}.name: invalid cookie name \"c\" (expected ^[a-z][a-z0-9_]+$)")),
        (json!({"name": "1abc"}), format!("{p}.name: invalid cookie name \"1abc\" (expected ^[a-z][a-z0-9_]+$)")),
        (json!({"name": "a-b"}), format!("{p}.name: invalid cookie name \"a-b\" (expected ^[a-z][a-z0-9_]+$)")),
        (json!({"name": 7}), format!("{p}.name: expected a string, found 7")),
        (json!({"length": 5}), format!("{p}.length: expected an integer 6..64, found 5")),
        (json!({"length": 65}), format!("{p}.length: expected an integer 6..64, found 65")),
        (json!({"length": "24"}), format!("{p}.length: expected an integer 6..64, found \"24\"")),
        (json!({"max_age": 0}), format!("{p}.max_age: expected an integer 1..311040000, found 0")),
        (json!({"max_age": 311_040_001}), format!("{p}.max_age: expected an integer 1..311040000, found 311040001")),
        (json!({"max_age": -1}), format!("{p}.max_age: expected an integer 1..311040000, found -1")),
        (json!({"secure": "yes"}), format!("{p}.secure: expected true or false, found \"yes\"")),
        (json!({"http_strict": 1}), format!("{p}.http_strict: expected true or false, found 1")),
        (json!({"same_site": "strict"}), format!("{p}.same_site: expected \"Strict\", \"Lax\" or \"None\", found \"strict\"")),
        (json!({"domain": "example.com"}), format!("{p}.domain: unknown key (expected one of: name, length, max_age, store, secure, http_strict, same_site)")),
        (json!({"store": "memory"}), format!("{p}.store: expected an object, found \"memory\"")),
        (json!({"store": {}}), format!("{p}.store.type: missing (expected \"memory\" or \"file\")")),
        (json!({"store": {"type": "redis"}}), format!("{p}.store.type: expected \"memory\" or \"file\", found \"redis\"")),
        (json!({"store": {"type": "memory", "filename": "x"}}), format!("{p}.store.filename: unknown key (expected one of: type)")),
        (json!({"store": {"type": "file"}}), format!("{p}.store.filename: missing (a string is required)")),
        (json!({"store": {"type": "file", "filename": ""}}), format!("{p}.store.filename: expected a non-empty file name")),
        (json!({"store": {"type": "file", "filename": "c", "purge_on_startup": "no"}}), format!("{p}.store.purge_on_startup: expected true or false, found \"no\"")),
        (json!({"store": {"type": "file", "filename": "c", "maxsize": 1}}), format!("{p}.store.maxsize: unknown key (expected one of: type, filename, purge_on_startup)")),
        (json!({"store": {"type": "database", "path": ".cookies"}}), format!("{p}.store.type: the database cookie store ('database', Crossbar's LMDB store; use 'file') is not supported yet")),
    ];
    for (block, want) in cases {
        assert_eq!(errors(&cookie(block.clone())), [want], "for {block}");
    }
    assert_eq!(
        errors(&cookie(json!(true))),
        [format!("{p}: expected an object, found true")]
    );
    // Several mistakes: one line each.
    let e = errors(&cookie(
        json!({"name": "X", "length": 1, "same_site": "lax"}),
    ));
    assert_eq!(e.len(), 3, "{e:?}");
}

#[test]
fn web_and_universal_websocket_paths_take_a_cookie_block() {
    let web = with_transport(json!({
        "type": "web", "endpoint": {"type": "tcp", "port": 8080},
        "paths": {
            "ws": {"type": "websocket", "cookie": {"name": "web_ws"}},
            "plain": {"type": "websocket"},
            "nested": {"type": "path", "paths": {"deep": {"type": "websocket", "cookie": {}}}},
        }
    }));
    let n = ok(&web);
    let TransportKind::Web(w) = &n.routers[0].transports[0].kind else {
        panic!("expected web")
    };
    let c = path_service(w, "ws").cookie.as_ref().expect("cookie");
    assert_eq!(c.name, "web_ws");
    assert_eq!(c.path, "workers[0].transports[0].paths.ws.cookie");
    assert_eq!(path_service(w, "plain").cookie, None);
    let Some((_, PathService::Path(nested))) = w.paths.iter().find(|(k, _)| k == "nested") else {
        panic!("expected the nested path")
    };
    assert_eq!(
        path_service(nested, "deep").cookie.as_ref().unwrap().path,
        "workers[0].transports[0].paths.nested.paths.deep.cookie"
    );
    let universal = with_transport(json!({
        "type": "universal", "endpoint": {"type": "tcp", "port": 8080},
        "websocket": {"ws": {"cookie": {"length": 12}}},
    }));
    let n = ok(&universal);
    let TransportKind::Universal(u) = &n.routers[0].transports[0].kind else {
        panic!("expected universal")
    };
    let c = path_service(&u.web, "ws").cookie.as_ref().expect("cookie");
    assert_eq!(c.length, 12);
    assert_eq!(c.path, "workers[0].transports[0].websocket.ws.cookie");
    // The same checks on a path.
    let bad = with_transport(json!({
        "type": "web", "endpoint": {"type": "tcp", "port": 8080},
        "paths": {"ws": {"type": "websocket", "cookie": {"max_age": 0}}}
    }));
    assert_eq!(
        errors(&bad),
        ["workers[0].transports[0].paths.ws.cookie.max_age: expected an integer 1..311040000, found 0"]
    );
}

#[test]
fn cookie_authentication_is_accepted_with_any_settings() {
    for settings in [json!({}), json!({"type": "static"}), json!(true)] {
        let n = ok(&ws(json!({
            "cookie": {},
            "auth": {"cookie": settings, "ticket": {"type": "static", "principals": {}}},
        })));
        let auth = &n.routers[0].transports[0].auth;
        assert_eq!(auth.method("cookie"), Some(&AuthMethodConfig::Cookie));
        assert!(auth.method("ticket").is_some());
        assert_eq!(AuthMethodConfig::Cookie.name(), "cookie");
    }
}

#[test]
fn cookie_authentication_without_cookie_tracking_is_a_warning() {
    let v = ws(json!({"auth": {"cookie": {}}}));
    assert!(check(&v).result.is_ok());
    let warn = check(&v)
        .notices
        .into_iter()
        .find(|n| n.path == "workers[0].transports[0].auth.cookie")
        .expect("a notice on auth.cookie");
    assert_eq!(warn.level, NoticeLevel::Warn);
    assert!(
        warn.message.contains("no `cookie` block"),
        "{}",
        warn.message
    );
    // With the block: no such notice.
    let v = ws(json!({"cookie": {}, "auth": {"cookie": {}}}));
    assert!(
        notices(&v).iter().all(|n| !n.contains("auth.cookie")),
        "{:?}",
        notices(&v)
    );
    // On a web path too.
    let v = with_transport(json!({
        "type": "web", "endpoint": {"type": "tcp", "port": 8080},
        "paths": {"ws": {"type": "websocket", "auth": {"cookie": {}}}}
    }));
    assert!(
        notices(&v)
            .iter()
            .any(|n| n.contains("paths.ws.auth.cookie: cookie authentication never succeeds")),
        "{:?}",
        notices(&v)
    );
    // RawSocket connections carry no cookie at all.
    let v = with_transport(json!({
        "type": "rawsocket", "endpoint": {"type": "tcp", "port": 9000},
        "auth": {"cookie": {}, "anonymous": {"type": "static"}}
    }));
    assert!(check(&v).result.is_ok());
    assert!(
        notices(&v).iter().any(|n| n.contains(
            "transports[0].auth.cookie: cookie authentication never succeeds on RawSocket"
        )),
        "{:?}",
        notices(&v)
    );
}
