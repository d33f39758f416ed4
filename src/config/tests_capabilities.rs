//! The lists of `capabilities` (what `ferrobar version` prints) against the loader: every name
//! listed is accepted and maps to what it says, and every name listed as refused is refused.

use serde_json::{json, Value};

use super::capabilities::*;
use super::tests::{check, errors, ok, with_transport};
use super::*;

fn tcp() -> Value {
    json!({"type": "tcp", "port": 9000})
}

/// The authmethods, by name, of a websocket transport whose `auth` block is `auth`.
fn methods_of(n: &NodeConfig) -> Vec<&'static str> {
    n.routers[0].transports[0]
        .auth
        .methods
        .iter()
        .map(AuthMethodConfig::name)
        .collect()
}

#[test]
fn every_listed_transport_type_loads_as_itself() {
    for t in TRANSPORTS {
        let mut transport = json!({"type": t, "endpoint": tcp()});
        match *t {
            "universal" => transport["rawsocket"] = json!({}),
            "web" => transport["paths"] = json!({"info": {"type": "nodeinfo"}}),
            _ => {}
        }
        let n = ok(&with_transport(transport));
        let kind = match n.routers[0].transports[0].kind {
            TransportKind::WebSocket(_) => "websocket",
            TransportKind::RawSocket(_) => "rawsocket",
            TransportKind::Universal(_) => "universal",
            TransportKind::Web(_) => "web",
            TransportKind::Mqtt(_) => "mqtt",
        };
        assert_eq!(kind, *t);
    }
}

#[test]
fn every_listed_endpoint_type_loads() {
    for e in ENDPOINTS {
        let endpoint = match *e {
            "tcp" => tcp(),
            "unix" => json!({"type": "unix", "path": "router.sock"}),
            other => panic!("no test config for endpoint type {other}"),
        };
        let n = ok(&with_transport(
            json!({"type": "rawsocket", "endpoint": endpoint}),
        ));
        let loaded = match n.routers[0].transports[0].endpoint {
            Endpoint::Tcp { .. } => "tcp",
            Endpoint::Unix { .. } => "unix",
        };
        assert_eq!(loaded, *e);
    }
}

#[test]
fn every_listed_web_service_loads() {
    let dir = tempfile::tempdir().unwrap();
    for s in WEB_SERVICES {
        let service = match *s {
            "static" => json!({"type": "static", "directory": "."}),
            "json" => json!({"type": "json", "value": {"a": 1}}),
            "redirect" => json!({"type": "redirect", "url": "https://example.com/"}),
            "path" => json!({"type": "path", "paths": {"x": {"type": "nodeinfo"}}}),
            other => json!({"type": other}),
        };
        let v = with_transport(json!({"type": "web", "endpoint": tcp(),
            "paths": {"p": service}}));
        let c = check_str(&v.to_string(), dir.path(), &|_| None);
        let n = match c.result {
            Ok(n) => n,
            Err(e) => panic!("web service {s}: {e}"),
        };
        let TransportKind::Web(web) = &n.routers[0].transports[0].kind else {
            panic!("not a web transport");
        };
        assert_eq!(web.paths[0].1.type_name(), *s);
    }
}

#[test]
fn every_listed_auth_method_loads_and_is_named_as_listed() {
    // `tls` needs an endpoint that verifies client certificates; the loader only checks that
    // the files exist.
    let dir = tempfile::tempdir().unwrap();
    for f in ["server.key", "server.crt", "ca.pem"] {
        std::fs::write(dir.path().join(f), b"PEM").unwrap();
    }
    let endpoint = json!({"type": "tcp", "port": 8443, "tls": {"key": "server.key",
        "certificate": "server.crt", "ca_certificates": ["ca.pem"]}});
    for m in AUTH_METHODS {
        let settings = match *m {
            "anonymous" => json!({"type": "static"}),
            "cookie" => json!({}),
            _ => json!({"type": "dynamic", "authenticator": "com.example.authenticate"}),
        };
        let v = with_transport(json!({"type": "websocket", "endpoint": endpoint,
            "cookie": {}, "auth": {*m: settings}}));
        let c = check_str(&v.to_string(), dir.path(), &|_| None);
        match c.result {
            Ok(n) => assert_eq!(methods_of(&n), [*m]),
            Err(e) => panic!("auth method {m}: {e}"),
        }
    }
}

#[test]
fn every_listed_dynamic_auth_method_loads_as_dynamic() {
    for m in DYNAMIC_AUTH_METHODS.iter().filter(|m| **m != "tls") {
        let v = with_transport(json!({"type": "websocket", "endpoint": tcp(),
            "auth": {*m: {"type": "dynamic", "authenticator": "com.example.authenticate"}}}));
        let n = ok(&v);
        let dynamic = match &n.routers[0].transports[0].auth.methods[0] {
            AuthMethodConfig::Anonymous(a) => matches!(a, Authenticator::Dynamic { .. }),
            AuthMethodConfig::Ticket(a) => matches!(a, Authenticator::Dynamic { .. }),
            AuthMethodConfig::WampCra(a) => matches!(a, Authenticator::Dynamic { .. }),
            AuthMethodConfig::Cryptosign(a) => matches!(a, Authenticator::Dynamic { .. }),
            AuthMethodConfig::Tls(a) => matches!(a, Authenticator::Dynamic { .. }),
            AuthMethodConfig::Cookie => false,
        };
        assert!(dynamic, "{m} did not load as a dynamic authenticator");
    }
    assert!(DYNAMIC_AUTH_METHODS
        .iter()
        .all(|m| AUTH_METHODS.contains(m)));
}

#[test]
fn the_names_listed_as_refused_are_refused_by_name() {
    for t in REFUSED_TRANSPORTS {
        assert!(!TRANSPORTS.contains(t));
        let e = errors(&with_transport(json!({"type": t, "endpoint": tcp()})));
        assert!(
            e.iter()
                .any(|l| l.contains(&format!("transport type '{t}'"))),
            "{t}: {e:?}"
        );
    }
    for m in REFUSED_AUTH_METHODS {
        assert!(!AUTH_METHODS.contains(m));
        let e = errors(&with_transport(
            json!({"type": "websocket", "endpoint": tcp(),
            "auth": {*m: {"type": "static"}}}),
        ));
        assert!(
            e.iter()
                .any(|l| l.contains(&format!("authentication method '{m}'"))),
            "{m}: {e:?}"
        );
    }
    // A config using a refused name does not load at all.
    assert!(
        check(&with_transport(json!({"type": "mqtt", "endpoint": tcp()})))
            .result
            .is_err()
    );
}
