//! Loader tests: transport `auth` blocks, every method static and dynamic, and their errors.

use std::path::Path;

use serde_json::{json, Value};

use super::tests::{errors, notices, ok, with_transport, CBDIR};
use super::*;

const PUBKEY: &str = "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664";

fn ws_auth(auth: Value) -> Value {
    with_transport(
        json!({"type": "websocket", "endpoint": {"type": "tcp", "port": 9000},
        "auth": auth}),
    )
}

fn auth_of(n: &NodeConfig) -> &AuthConfig {
    &n.routers[0].transports[0].auth
}

fn env(name: &str) -> Option<String> {
    match name {
        "TICKET" => Some("from-env".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn check_env(v: &Value) -> Checked {
    check_str(&v.to_string(), Path::new(CBDIR), &env)
}

/// The error lines of `auth` on a websocket transport.
fn auth_errors(auth: Value) -> Vec<String> {
    errors(&ws_auth(auth))
}

#[test]
fn no_auth_block_or_an_empty_one_is_anonymous() {
    for v in [
        with_transport(json!({"type": "websocket", "endpoint": {"type": "tcp", "port": 9000}})),
        ws_auth(json!({})),
    ] {
        let n = ok(&v);
        assert_eq!(*auth_of(&n), AuthConfig::default());
        assert_eq!(
            auth_of(&n).methods,
            [AuthMethodConfig::Anonymous(Authenticator::Static(
                AnonymousAuth::default()
            ))]
        );
        assert_eq!(
            n.routers[0].transports[0].anonymous,
            AnonymousAuth::default()
        );
    }
}

#[test]
fn every_static_method_maps_to_the_model() {
    let v = ws_auth(json!({
        "anonymous": {"type": "static", "role": "guest", "authid": "visitor"},
        "ticket": {"type": "static", "principals": {
            "joe": {"ticket": "${TICKET}", "role": "frontend"},
            "ann": {"ticket": "$literal", "role": "backend", "realm": "realm1"}}},
        "wampcra": {"type": "static", "users": {
            "plain": {"secret": "secret123", "role": "frontend"},
            "salted": {"secret": "secret123", "role": "frontend", "salt": "salt123",
                       "iterations": 1000, "keylen": 32, "realm": "realm1"}}},
        "cryptosign": {"type": "static", "principals": {
            "device1": {"authorized_keys": [PUBKEY, PUBKEY.to_uppercase()], "role": "device",
                        "realm": "realm1"}}}
    }));
    let c = check_env(&v);
    assert!(c.notices.is_empty(), "{:?}", c.notices);
    let n = c.result.unwrap();
    let t = &n.routers[0].transports[0];
    // The anonymous settings stay where today's core reads them.
    assert_eq!(
        t.anonymous,
        AnonymousAuth {
            role: "guest".into(),
            authid: Some("visitor".into())
        }
    );
    // Sorted by method name, as serde_json reads the map.
    let names: Vec<&str> = t.auth.methods.iter().map(AuthMethodConfig::name).collect();
    assert_eq!(names, ["anonymous", "cryptosign", "ticket", "wampcra"]);
    assert_eq!(
        t.auth.method("ticket"),
        Some(&AuthMethodConfig::Ticket(Authenticator::Static(
            TicketPrincipals(vec![
                (
                    "ann".into(),
                    TicketPrincipal {
                        ticket: "$literal".into(),
                        role: "backend".into(),
                        realm: Some("realm1".into())
                    }
                ),
                (
                    "joe".into(),
                    TicketPrincipal {
                        ticket: "from-env".into(),
                        role: "frontend".into(),
                        realm: None
                    }
                ),
            ])
        )))
    );
    let Some(AuthMethodConfig::WampCra(Authenticator::Static(users))) = t.auth.method("wampcra")
    else {
        panic!("{:?}", t.auth)
    };
    assert_eq!(users.0[0].0, "plain");
    assert_eq!(users.0[0].1.hmac_key, "secret123");
    assert_eq!(users.0[0].1.salt, None);
    let salted = &users.0[1].1;
    assert_eq!(
        (salted.salt.as_deref(), salted.iterations, salted.keylen),
        (Some("salt123"), Some(1000), Some(32))
    );
    assert_eq!(salted.realm.as_deref(), Some("realm1"));
    // Autobahn's derive_key("secret123", "salt123", 1000, 32), derived once at load.
    assert_eq!(
        salted.hmac_key,
        "Eu7CQLfR+/Ffb+275A4s9/6H/RGKYxM4s6IMrsNKzC8="
    );
    let Some(AuthMethodConfig::Cryptosign(Authenticator::Static(p))) = t.auth.method("cryptosign")
    else {
        panic!("{:?}", t.auth)
    };
    assert_eq!(p.0[0].0, "device1");
    assert_eq!(p.0[0].1.authorized_keys.len(), 2);
    assert_eq!(p.0[0].1.authorized_keys[0], p.0[0].1.authorized_keys[1]);
    assert_eq!(p.0[0].1.authorized_keys[0][..2], [0x79, 0xb5]);
    assert_eq!(p.0[0].1.role, "device");
}

#[test]
fn salt_without_iterations_uses_crossbars_defaults() {
    let n = ok(&ws_auth(json!({"wampcra": {"type": "static", "users": {
        "joe": {"secret": "secret123", "role": "r", "salt": "salt123"}}}})));
    let Some(AuthMethodConfig::WampCra(Authenticator::Static(users))) =
        auth_of(&n).method("wampcra")
    else {
        panic!()
    };
    assert_eq!(users.0[0].1.iterations, None);
    assert_eq!(
        users.0[0].1.hmac_key,
        "Eu7CQLfR+/Ffb+275A4s9/6H/RGKYxM4s6IMrsNKzC8="
    );
    // iterations without a salt: accepted, with a warning.
    let v = ws_auth(json!({"wampcra": {"type": "static", "users": {
        "joe": {"secret": "s", "role": "r", "iterations": 10}}}}));
    assert_eq!(
        notices(&v),
        ["workers[0].transports[0].auth.wampcra.users.joe: iterations has no effect without salt (the secret is used as the key)"]
    );
}

#[test]
fn every_method_may_be_dynamic() {
    for method in ["anonymous", "ticket", "wampcra", "cryptosign"] {
        let v = ws_auth(json!({method: {"type": "dynamic",
            "authenticator": "com.example.authenticate",
            "authenticator-realm": "auth", "authenticator-role": "authenticator",
            "default-role": "user"}}));
        let n = ok(&v);
        let expected = Authenticator::<()>::Dynamic {
            procedure: "com.example.authenticate".into(),
            realm: Some("auth".into()),
            role: Some("authenticator".into()),
            default_role: Some("user".into()),
        };
        let m = &auth_of(&n).methods[0];
        assert_eq!(m.name(), method);
        let got = match m {
            AuthMethodConfig::Anonymous(a) => strip(a),
            AuthMethodConfig::Ticket(a) => strip(a),
            AuthMethodConfig::WampCra(a) => strip(a),
            AuthMethodConfig::Cryptosign(a) => strip(a),
            AuthMethodConfig::Tls(a) => strip(a),
            AuthMethodConfig::Cookie => panic!("cookie has no authenticator"),
        };
        assert_eq!(got, expected);
        // A dynamic anonymous method leaves the static settings at their default.
        assert_eq!(
            n.routers[0].transports[0].anonymous,
            AnonymousAuth::default()
        );
    }
    // Only the procedure is required.
    let n = ok(&ws_auth(
        json!({"ticket": {"type": "dynamic", "authenticator": "com.example.auth"}}),
    ));
    assert_eq!(
        strip(match &auth_of(&n).methods[0] {
            AuthMethodConfig::Ticket(a) => a,
            other => panic!("{other:?}"),
        }),
        Authenticator::Dynamic {
            procedure: "com.example.auth".into(),
            realm: None,
            role: None,
            default_role: None
        }
    );
}

/// The dynamic settings without the principal type.
fn strip<T>(a: &Authenticator<T>) -> Authenticator<()> {
    match a {
        Authenticator::Static(_) => Authenticator::Static(()),
        Authenticator::Dynamic {
            procedure,
            realm,
            role,
            default_role,
        } => Authenticator::Dynamic {
            procedure: procedure.clone(),
            realm: realm.clone(),
            role: role.clone(),
            default_role: default_role.clone(),
        },
    }
}

#[test]
fn type_is_required_and_function_is_refused_by_name() {
    assert_eq!(
        auth_errors(json!({"ticket": {"principals": {}}})),
        ["workers[0].transports[0].auth.ticket.type: missing (expected \"static\" or \"dynamic\")"]
    );
    assert_eq!(
        auth_errors(json!({"wampcra": {"type": "magic"}})),
        ["workers[0].transports[0].auth.wampcra.type: expected \"static\" or \"dynamic\", found \"magic\""]
    );
    for method in ["anonymous", "ticket", "wampcra", "cryptosign"] {
        assert_eq!(
            auth_errors(json!({method: {"type": "function", "create": "pkg.auth"}})),
            [format!("workers[0].transports[0].auth.{method}.type: {method} authentication of type 'function' (an in-process Python authenticator) is not supported yet")]
        );
    }
}

#[test]
fn dynamic_authenticators_are_checked() {
    assert_eq!(
        auth_errors(json!({"ticket": {"type": "dynamic"}})),
        ["workers[0].transports[0].auth.ticket.authenticator: missing (a string is required)"]
    );
    assert_eq!(
        auth_errors(json!({"ticket": {"type": "dynamic", "authenticator": "not a uri"}})),
        ["workers[0].transports[0].auth.ticket.authenticator: expected a procedure URI, found \"not a uri\""]
    );
    assert_eq!(
        auth_errors(json!({"anonymous": {"type": "dynamic", "authenticator": "a.b",
            "authenticator-realm": "", "principals": {}}})),
        [
            "workers[0].transports[0].auth.anonymous.principals: unknown key (expected one of: type, authenticator, authenticator-realm, authenticator-role, default-role)",
            "workers[0].transports[0].auth.anonymous.authenticator-realm: expected a non-empty string",
        ]
    );
}

#[test]
fn principals_are_checked() {
    let p = "workers[0].transports[0].auth";
    assert_eq!(
        auth_errors(json!({"ticket": {"type": "static"}})),
        [format!(
            "{p}.ticket.principals: missing (a static method needs principals)"
        )]
    );
    assert_eq!(
        auth_errors(json!({"ticket": {"type": "static", "principals": []}})),
        [format!(
            "{p}.ticket.principals: expected an object, found a list"
        )]
    );
    assert_eq!(
        auth_errors(json!({"ticket": {"type": "static", "principals": {
            "joe": {"role": "r", "secret": "x"}, "ann": {"ticket": "", "role": ""}, "": {}}}})),
        [
            format!("{p}.ticket.principals[\"\"]: expected a non-empty authid"),
            format!("{p}.ticket.principals.ann.ticket: expected a non-empty ticket"),
            format!("{p}.ticket.principals.ann.role: expected a non-empty string"),
            format!("{p}.ticket.principals.joe.secret: unknown key (expected one of: ticket, role, realm)"),
            format!("{p}.ticket.principals.joe.ticket: missing (a string is required)"),
        ]
    );
    assert_eq!(
        auth_errors(json!({"wampcra": {"type": "static", "users": {
            "joe": {"secret": "s", "iterations": 0, "keylen": 4096, "salt": 5}}}})),
        [
            format!("{p}.wampcra.users.joe.role: missing (a role name is required)"),
            format!("{p}.wampcra.users.joe.salt: expected a string, found 5"),
            format!("{p}.wampcra.users.joe.iterations: expected an integer 1..10000000, found 0"),
            format!("{p}.wampcra.users.joe.keylen: expected an integer 1..1024, found 4096"),
        ]
    );
}

#[test]
fn secrets_from_the_environment() {
    let v = ws_auth(json!({"ticket": {"type": "static", "principals": {
        "joe": {"ticket": "${NOPE}", "role": "r"}, "ann": {"ticket": "${EMPTY}", "role": "r"}}}}));
    let e: Vec<String> = check_env(&v)
        .result
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        e,
        [
            "workers[0].transports[0].auth.ticket.principals.ann.ticket: expected a non-empty ticket",
            "workers[0].transports[0].auth.ticket.principals.joe.ticket: environment variable NOPE is not set (referenced as \"${NOPE}\")",
        ]
    );
}

#[test]
fn cryptosign_keys_are_checked_and_trustroots_refused() {
    let p = "workers[0].transports[0].auth.cryptosign";
    let with_keys = |keys: Value| {
        auth_errors(json!({"cryptosign": {"type": "static", "principals": {
            "d": {"authorized_keys": keys, "role": "device"}}}}))
    };
    assert_eq!(
        with_keys(json!([PUBKEY, "abcd", 7, "0200000000000000000000000000000000000000000000000000000000000000"])),
        [
            format!("{p}.principals.d.authorized_keys[1]: expected an Ed25519 public key (64 hex digits)"),
            format!("{p}.principals.d.authorized_keys[2]: expected an Ed25519 public key (64 hex digits), found 7"),
            format!("{p}.principals.d.authorized_keys[3]: expected an Ed25519 public key (64 hex digits)"),
        ]
    );
    assert_eq!(
        with_keys(json!(PUBKEY)),
        [format!(
            "{p}.principals.d.authorized_keys: expected a list, found \"{}\"...",
            &PUBKEY[..40]
        )]
    );
    assert_eq!(
        auth_errors(json!({"cryptosign": {"type": "static", "principals": {"d": {"role": "x"}}}})),
        [format!("{p}.principals.d.authorized_keys: missing (a list of Ed25519 public keys in hex is required)")]
    );
    // An empty list is allowed (a principal that cannot log in), with a warning.
    let v = ws_auth(json!({"cryptosign": {"type": "static", "principals": {
        "d": {"authorized_keys": [], "role": "device"}}}}));
    assert_eq!(
        notices(&v),
        [format!(
            "{p}.principals.d.authorized_keys: no keys: this principal cannot authenticate"
        )]
    );
    assert_eq!(
        auth_errors(json!({"cryptosign": {"type": "static",
            "trustroots": {"realm1": {"certificate": "root.json"}}}})),
        [format!("{p}.trustroots: cryptosign trust roots ('trustroots', EIP-712 certificate chains) is not supported yet")]
    );
}

#[test]
fn unknown_methods_are_errors() {
    assert_eq!(
        auth_errors(json!({"password": {"type": "static"}})),
        ["workers[0].transports[0].auth.password: unknown authentication method 'password' (expected anonymous, ticket, wampcra, cryptosign, scram, tls or cookie)"]
    );
    assert_eq!(
        auth_errors(json!([])),
        ["workers[0].transports[0].auth: expected an object, found a list"]
    );
}

#[test]
fn rawsocket_and_web_paths_take_auth_too() {
    let ticket = json!({"ticket": {"type": "static", "principals": {
        "joe": {"ticket": "t", "role": "frontend"}}}});
    let n = ok(&with_transport(json!({"type": "rawsocket",
        "endpoint": {"type": "tcp", "port": 9000}, "auth": ticket})));
    assert_eq!(auth_of(&n).methods[0].name(), "ticket");
    let n = ok(&with_transport(json!({"type": "web",
        "endpoint": {"type": "tcp", "port": 8080},
        "paths": {"ws": {"type": "websocket", "auth": ticket},
                  "ws2": {"type": "websocket", "auth": ticket}}})));
    assert_eq!(auth_of(&n).methods[0].name(), "ticket");
    // Paths of one transport must agree, whatever the method.
    let e = errors(&with_transport(json!({"type": "web",
        "endpoint": {"type": "tcp", "port": 8080},
        "paths": {"ws": {"type": "websocket", "auth": ticket},
                  "ws2": {"type": "websocket"}}})));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("workers[0].transports[0].paths.ws2: auth differs from the one at workers[0].transports[0].paths.ws"),
        "{e:?}"
    );
}

/// A node directory with TLS files (the loader only checks that they exist).
fn tls_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["server.key", "server.crt", "ca.pem"] {
        std::fs::write(dir.path().join(f), b"PEM").unwrap();
    }
    dir
}

fn tls_auth() -> Value {
    json!({"tls": {"type": "static", "principals": {
        "client1": {"certificate-sha1": "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01",
                    "role": "backend"}}}})
}

#[test]
fn tls_auth_maps_fingerprints_and_needs_client_certificates() {
    let dir = tls_dir();
    let check_in = |v: &Value| check_str(&v.to_string(), dir.path(), &env);
    let endpoint = |ca: bool| {
        let mut tls = json!({"key": "server.key", "certificate": "server.crt"});
        if ca {
            tls["ca_certificates"] = json!(["ca.pem"]);
        }
        json!({"type": "tcp", "port": 8443, "tls": tls})
    };
    let v = with_transport(
        json!({"type": "websocket", "endpoint": endpoint(true), "auth": tls_auth()}),
    );
    let n = check_in(&v).result.unwrap();
    assert_eq!(
        auth_of(&n).methods,
        [AuthMethodConfig::Tls(Authenticator::Static(TlsPrincipals(
            vec![(
                "client1".into(),
                TlsPrincipal {
                    certificate_sha1: "abcdef0123456789abcdef0123456789abcdef01".into(),
                    role: "backend".into(),
                    realm: None
                }
            )]
        )))]
    );
    // Without ca_certificates, or without TLS at all: an error naming what to set.
    for ep in [endpoint(false), json!({"type": "tcp", "port": 8080})] {
        let v = with_transport(json!({"type": "websocket", "endpoint": ep, "auth": tls_auth()}));
        let e: Vec<String> = check_in(&v)
            .result
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            e,
            ["workers[0].transports[0].auth.tls: TLS client-certificate authentication needs an endpoint that verifies client certificates: set workers[0].transports[0].endpoint.tls.ca_certificates"]
        );
    }
    // Dynamic too, and on a web transport's path.
    let v = with_transport(json!({"type": "web", "endpoint": endpoint(false),
        "paths": {"ws": {"type": "websocket",
            "auth": {"tls": {"type": "dynamic", "authenticator": "com.example.auth"}}}}}));
    let e = check_in(&v).result.unwrap_err();
    assert_eq!(
        e.iter().next().unwrap().to_string(),
        "workers[0].transports[0].paths.ws.auth.tls: TLS client-certificate authentication needs an endpoint that verifies client certificates: set workers[0].transports[0].endpoint.tls.ca_certificates"
    );
    // A bad fingerprint.
    let v = with_transport(json!({"type": "websocket", "endpoint": endpoint(true),
        "auth": {"tls": {"type": "static", "principals": {"c": {"certificate-sha1": "abc", "role": "r"}}}}}));
    assert_eq!(
        check_in(&v).result.unwrap_err().iter().next().unwrap().to_string(),
        "workers[0].transports[0].auth.tls.principals.c.certificate-sha1: expected a SHA-1 fingerprint (40 hex digits, colons allowed), found \"abc\""
    );
}

#[test]
fn debug_output_hides_secrets() {
    let n = ok(&ws_auth(json!({
        "ticket": {"type": "static", "principals": {"joe": {"ticket": "hunter2", "role": "r"}}},
        "wampcra": {"type": "static", "users": {"ann": {"secret": "swordfish", "role": "r"}}}})));
    let shown = format!("{n:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("swordfish"),
        "{shown}"
    );
    assert!(shown.contains("<redacted>"));
}
