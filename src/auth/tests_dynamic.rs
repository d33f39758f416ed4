//! Dynamic authenticators: what the router asks, and what it does with the answer.

use super::tests::{aborted, assert_failed, challenge, config, info, run, welcome, NO_EXTRA};
use super::*;
use crate::config::{AuthMethodConfig, Authenticator};
use crate::wamp::{Dict, Value};

/// The vectors of `tests.rs` this file needs (see there how Autobahn made them).
const CLIENT_PUBKEY: &str = "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664";
const CHALLENGE: &str = "6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283";
const SIGNED: &str = "915e65cfd174f3d539a0c1c2eca0debd79a8ef9e8c552eb1f166f4dd48e6c272a9cc393aa0e4d3248f6998a86f6516dcc0eb043339248ed1a31a19e7bcd8b9086465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283";
const NONCE: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v";

fn dynamic<T>() -> Authenticator<T> {
    Authenticator::Dynamic {
        procedure: "com.example.authenticate".into(),
        realm: Some("auth".into()),
        role: Some("authenticator".into()),
        default_role: None,
    }
}

fn request(step: Step) -> DynamicRequest {
    match step {
        Step::Dynamic(r) => r,
        other => panic!("expected a dynamic authenticator call, got {other:?}"),
    }
}

fn details(r: &DynamicRequest) -> &Dict {
    r.args[2].as_dict().expect("details")
}

#[test]
fn anonymous_dynamic_asks_with_a_random_authid() {
    let cfg = config(vec![AuthMethodConfig::Anonymous(dynamic())]);
    let extra = Dict::new().with("k", "v");
    let transport = Dict::new().with("peer", "tcp4:127.0.0.1:5000");
    let mut i = info(&["anonymous"], Some("asked"), &extra);
    i.transport = Some(&transport);
    let r = request(run(&cfg, &i));
    assert_eq!(r.procedure, "com.example.authenticate");
    assert_eq!(r.realm.as_deref(), Some("auth"));
    assert_eq!(r.role.as_deref(), Some("authenticator"));
    assert_eq!(r.method, "anonymous");
    assert_eq!(r.args.len(), 3);
    assert_eq!(r.args[0], Value::from("realm1"));
    let authid = r.args[1].as_str().unwrap().to_owned();
    assert_eq!(authid.len(), 29);
    let d = details(&r);
    assert_eq!(d.get("transport"), Some(&Value::Dict(transport.clone())));
    assert_eq!(
        d.get("session").and_then(Value::as_u64),
        Some(4_294_967_296)
    );
    assert_eq!(d.get_str("authmethod"), Some("anonymous"));
    assert_eq!(d.get_str("authid"), Some("asked"));
    assert_eq!(d.get("authrole"), Some(&Value::Null));
    assert_eq!(d.get_dict("authextra"), Some(&extra));
    assert!(!r.pending.awaits_authenticate());
    // A role string (Crossbar's legacy answer).
    let id = welcome(dynamic_result(r.pending, &Value::from("guest")));
    assert_eq!(id.authid, authid);
    assert_eq!(id.authrole, "guest");
    assert_eq!((id.authmethod, id.authprovider), ("anonymous", "dynamic"));
    assert_eq!((id.authextra, id.realm), (Dict::new(), None));
}

#[test]
fn a_dict_answer_may_reassign_authid_realm_and_extra() {
    let cfg = config(vec![AuthMethodConfig::Anonymous(dynamic())]);
    let r = request(run(&cfg, &info(&["anonymous"], None, &NO_EXTRA)));
    let answer = Dict::new()
        .with("role", "user")
        .with("authid", "alice")
        .with("realm", "realm2")
        .with("extra", Dict::new().with("tier", "gold"));
    let id = welcome(dynamic_result(r.pending, &Value::Dict(answer)));
    assert_eq!(id.authid, "alice");
    assert_eq!(id.authrole, "user");
    assert_eq!(id.realm.as_deref(), Some("realm2"));
    assert_eq!(id.authextra, Dict::new().with("tier", "gold"));
}

#[test]
fn invalid_answers_fail() {
    let cfg = config(vec![AuthMethodConfig::Ticket(dynamic())]);
    let answers = [
        Value::Int(1),
        Value::Null,
        Value::List(vec![]),
        Value::Dict(Dict::new()),
        Value::Dict(Dict::new().with("role", Value::Int(3))),
        Value::Dict(Dict::new().with("role", "r").with("extra", "x")),
        Value::Dict(
            Dict::new()
                .with("role", "r")
                .with("authid", Value::Bool(true)),
        ),
        Value::from(""),
    ];
    for answer in answers {
        let (_, _, pending) = challenge(run(&cfg, &info(&["ticket"], Some("joe"), &NO_EXTRA)));
        let r = request(authenticate(pending, "tkt", &Dict::new()));
        let (reason, message, cause) = aborted(dynamic_result(r.pending, &answer));
        assert_eq!((reason, message.as_str()), (NOT_AUTHORIZED, FAILED));
        assert!(
            matches!(cause, Failure::InvalidDynamicResult(_)),
            "{cause:?}"
        );
    }
    // No authid from the HELLO nor the answer.
    let (_, _, pending) = challenge(run(&cfg, &info(&["ticket"], None, &NO_EXTRA)));
    let r = request(authenticate(pending, "tkt", &Dict::new()));
    let (_, _, cause) = aborted(dynamic_result(r.pending, &Value::from("user")));
    assert_eq!(cause, Failure::InvalidDynamicResult("no authid".into()));
}

#[test]
fn default_role_fills_a_missing_role() {
    let cfg = config(vec![AuthMethodConfig::Anonymous(Authenticator::Dynamic {
        procedure: "com.example.authenticate".into(),
        realm: None,
        role: None,
        default_role: Some("fallback".into()),
    })]);
    let r = request(run(&cfg, &info(&["anonymous"], None, &NO_EXTRA)));
    assert_eq!((r.realm, r.role), (None, None));
    let answer = Value::Dict(Dict::new().with("authid", "bob"));
    let id = welcome(dynamic_result(r.pending, &answer));
    assert_eq!(
        (id.authid.as_str(), id.authrole.as_str()),
        ("bob", "fallback")
    );
}

#[test]
fn ticket_dynamic_challenges_first_and_passes_the_ticket() {
    let cfg = config(vec![AuthMethodConfig::Ticket(dynamic())]);
    let (method, extra, pending) = challenge(run(&cfg, &info(&["ticket"], Some("joe"), &NO_EXTRA)));
    assert_eq!((method, extra.len()), ("ticket", 0));
    assert!(pending.awaits_authenticate());
    let r = request(authenticate(pending, "my-ticket", &Dict::new()));
    assert_eq!(r.method, "ticket");
    assert_eq!(r.args[1], Value::from("joe"));
    assert_eq!(details(&r).get_str("ticket"), Some("my-ticket"));
    assert_eq!(details(&r).get_str("authmethod"), Some("ticket"));
    let id = welcome(dynamic_result(r.pending, &Value::from("frontend")));
    assert_eq!(
        (id.authid.as_str(), id.authrole.as_str()),
        ("joe", "frontend")
    );
    assert_eq!((id.authmethod, id.authprovider), ("ticket", "dynamic"));
}

#[test]
fn wampcra_dynamic_asks_for_the_secret_then_challenges() {
    let cfg = config(vec![AuthMethodConfig::WampCra(dynamic())]);
    let r = request(run(&cfg, &info(&["wampcra"], Some("joe"), &NO_EXTRA)));
    assert_eq!(r.method, "wampcra");
    assert_eq!(details(&r).get_str("authid"), Some("joe"));
    let answer = Dict::new()
        .with("secret", "secret123")
        .with("role", "frontend")
        .with("extra", Dict::new().with("x", 1i64));
    let (method, extra, pending) = challenge(dynamic_result(r.pending, &Value::Dict(answer)));
    assert_eq!(method, "wampcra");
    let expected = format!(
        "{{\"authid\": \"joe\", \"authrole\": \"frontend\", \"authmethod\": \"wampcra\", \
         \"authprovider\": \"dynamic\", \"session\": 4294967296, \"nonce\": \"{NONCE}\", \
         \"timestamp\": \"2026-05-01T12:00:00.000Z\"}}"
    );
    assert_eq!(extra, Dict::new().with("challenge", expected.as_str()));
    // compute_signature is Autobahn's compute_wcs (checked in tests.rs).
    let sig = wampcra::compute_signature("secret123", &expected);
    let id = welcome(authenticate(pending, &sig, &Dict::new()));
    assert_eq!(
        (id.authid.as_str(), id.authrole.as_str()),
        ("joe", "frontend")
    );
    assert_eq!(id.authprovider, "dynamic");
    assert_eq!(id.authextra, Dict::new().with("x", 1i64));
}

#[test]
fn wampcra_dynamic_salted_and_missing_secret() {
    let cfg = config(vec![AuthMethodConfig::WampCra(dynamic())]);
    let r = request(run(&cfg, &info(&["wampcra"], Some("joe"), &NO_EXTRA)));
    let answer = Dict::new()
        .with("secret", "secret123")
        .with("role", "frontend")
        .with("salt", "salt123")
        .with("iterations", 1000i64)
        .with("keylen", 32i64);
    let (_, extra, pending) = challenge(dynamic_result(r.pending, &Value::Dict(answer)));
    assert_eq!(extra.get_str("salt"), Some("salt123"));
    assert_eq!(extra.get("iterations"), Some(&Value::Int(1000)));
    let key = wampcra::derive_key("secret123", "salt123", 1000, 32);
    let sig = wampcra::compute_signature(&key, extra.get_str("challenge").unwrap());
    welcome(authenticate(pending, &sig, &Dict::new()));

    let r = request(run(&cfg, &info(&["wampcra"], Some("joe"), &NO_EXTRA)));
    let (_, _, cause) = aborted(dynamic_result(r.pending, &Value::from("frontend")));
    assert_eq!(
        cause,
        Failure::InvalidDynamicResult("no secret for wampcra".into())
    );
    let r = request(run(&cfg, &info(&["wampcra"], Some("joe"), &NO_EXTRA)));
    let bad = Dict::new()
        .with("secret", "s")
        .with("role", "r")
        .with("iterations", 0i64);
    let (_, _, cause) = aborted(dynamic_result(r.pending, &Value::Dict(bad)));
    assert!(matches!(cause, Failure::InvalidDynamicResult(_)));
}

#[test]
fn cryptosign_dynamic_returns_the_pubkey() {
    let cfg = config(vec![AuthMethodConfig::Cryptosign(dynamic())]);
    let extra = Dict::new().with("pubkey", CLIENT_PUBKEY);
    let r = request(run(&cfg, &info(&["cryptosign"], Some("device9"), &extra)));
    assert_eq!(r.method, "cryptosign");
    assert_eq!(details(&r).get_dict("authextra"), Some(&extra));
    let answer = Dict::new()
        .with("pubkey", CLIENT_PUBKEY)
        .with("role", "device");
    let (method, e, pending) = challenge(dynamic_result(r.pending, &Value::Dict(answer)));
    assert_eq!(method, "cryptosign");
    assert_eq!(e.get_str("challenge"), Some(CHALLENGE));
    let id = welcome(authenticate(pending, SIGNED, &Dict::new()));
    assert_eq!(
        (id.authid.as_str(), id.authprovider),
        ("device9", "dynamic")
    );

    // Another key than the one that signed.
    let r = request(run(&cfg, &info(&["cryptosign"], Some("device9"), &extra)));
    let other = NodeKey::from_hex(&"42".repeat(32)).unwrap().public_hex();
    let answer = Dict::new()
        .with("pubkey", other.as_str())
        .with("role", "device");
    let (_, _, pending) = challenge(dynamic_result(r.pending, &Value::Dict(answer)));
    assert_failed(
        authenticate(pending, SIGNED, &Dict::new()),
        Failure::WrongCryptosignSignature,
    );
    // No (valid) pubkey.
    for answer in [
        Value::from("device"),
        Value::Dict(Dict::new().with("pubkey", "zz").with("role", "device")),
    ] {
        let r = request(run(&cfg, &info(&["cryptosign"], Some("device9"), &extra)));
        let (_, _, cause) = aborted(dynamic_result(r.pending, &answer));
        assert!(
            matches!(cause, Failure::InvalidDynamicResult(_)),
            "{cause:?}"
        );
    }
}

#[test]
fn tls_dynamic_needs_a_certificate_and_asks() {
    let cfg = config(vec![AuthMethodConfig::Tls(dynamic())]);
    assert_failed(
        run(&cfg, &info(&["tls"], None, &NO_EXTRA)),
        Failure::NoClientCertificate,
    );
    let mut i = info(&["tls"], Some("svc"), &NO_EXTRA);
    i.client_cert_sha1 = Some("0123456789abcdef0123456789abcdef01234567");
    let r = request(run(&cfg, &i));
    assert_eq!((r.method, &r.args[1]), ("tls", &Value::from("svc")));
    let id = welcome(dynamic_result(r.pending, &Value::from("backend")));
    assert_eq!((id.authid.as_str(), id.authmethod), ("svc", "tls"));
}

#[test]
fn authenticator_errors_refuse_with_its_message() {
    let (reason, message, cause) = aborted(dynamic_error(
        "com.example.invalid_ticket",
        Some("ticket expired"),
    ));
    assert_eq!(reason, "wamp.error.not_authorized");
    assert_eq!(message, "ticket expired");
    assert_eq!(
        cause,
        Failure::DynamicRefused {
            error: "com.example.invalid_ticket".into()
        }
    );
    let (_, message, _) = aborted(dynamic_error("wamp.error.no_such_procedure", None));
    assert_eq!(message, "authentication failed");
}

#[test]
fn steps_out_of_order_fail() {
    // AUTHENTICATE while the authenticator has not answered.
    let cfg = config(vec![AuthMethodConfig::WampCra(dynamic())]);
    let r = request(run(&cfg, &info(&["wampcra"], Some("joe"), &NO_EXTRA)));
    assert_failed(
        authenticate(r.pending, "sig", &Dict::new()),
        Failure::NotAwaitingAuthenticate,
    );
    // An authenticator result for a static challenge.
    let cfg = config(vec![AuthMethodConfig::Ticket(Authenticator::Static(
        crate::config::TicketPrincipals(vec![]),
    ))]);
    let (_, _, pending) = challenge(run(&cfg, &info(&["ticket"], Some("joe"), &NO_EXTRA)));
    assert_failed(
        dynamic_result(pending, &Value::from("user")),
        Failure::NotAwaitingDynamicResult,
    );
}

#[test]
fn pending_debug_shows_no_secret() {
    let cfg = config(vec![AuthMethodConfig::Ticket(Authenticator::Static(
        crate::config::TicketPrincipals(vec![(
            "joe".into(),
            crate::config::TicketPrincipal {
                ticket: "hunter2".into(),
                role: "r".into(),
                realm: None,
            },
        )]),
    ))]);
    let (_, _, pending) = challenge(run(&cfg, &info(&["ticket"], Some("joe"), &NO_EXTRA)));
    let shown = format!("{pending:?} {:?}", cfg);
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("ticket"));
}
