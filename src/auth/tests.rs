//! Static authentication, checked against vectors computed with Autobahn|Python 26.10.2 itself
//! (`autobahn.wamp.auth`, `autobahn.wamp.cryptosign`, with PyNaCl), so a real Autobahn client
//! and ferrobar agree byte for byte. The script that made them (run in a venv with
//! `autobahn==26.10.2 pynacl base58 ecdsa twisted`):
//!
//! ```python
//! import json, txaio; txaio.use_twisted()
//! from autobahn.wamp import auth
//! from autobahn.wamp.types import Challenge
//! from autobahn.wamp.cryptosign import CryptosignKey
//! obj = {"authid": "joe", "authrole": "frontend", "authmethod": "wampcra", "authprovider": "static",
//!        "session": 4294967296, "nonce": <base64 of bytes(range(48))>,
//!        "timestamp": "2026-05-01T12:00:00.000Z"}
//! ch = json.dumps(obj, ensure_ascii=False)                         # WAMPCRA_CHALLENGE
//! auth.AuthWampCra(authid="joe", secret="secret123").on_challenge(
//!     None, Challenge("wampcra", {"challenge": ch}))              # WAMPCRA_SIGNATURE
//! auth.derive_key("secret123", "salt123", 1000, 32)              # DERIVED_KEY
//! auth.AuthWampCra(authid="joe", secret="secret123").on_challenge(None, Challenge("wampcra",
//!     {"challenge": ch, "salt": "salt123", "iterations": 1000, "keylen": 32}))  # SALTED_SIGNATURE
//! k = CryptosignKey.from_bytes(bytes(range(1, 33)))              # CLIENT_SEED -> CLIENT_PUBKEY
//! k.sign_challenge(Challenge("cryptosign", {"challenge": bytes(range(100, 132)).hex()}))
//!                                                                 # SIGNED (96 bytes hex)
//! k.sign_challenge(Challenge("cryptosign", {..., "channel_binding": "tls-unique"}),
//!     channel_id=bytes(range(200, 232)), channel_id_type="tls-unique")   # SIGNED_TLS_UNIQUE
//! k.sign_challenge(Challenge("cryptosign", {"challenge": bytes(range(32)).hex()}))  # SIGNED_OTHER
//! nk = CryptosignKey.from_bytes(bytes([0x42] * 32))              # NODE_PUBKEY
//! nk.sign(bytes(range(50, 82)))                                   # NODE_SIGNATURE (+ data)
//! ```

use std::convert::Infallible;
use std::time::Duration;

use super::*;
use crate::config::{
    AnonymousAuth, AuthConfig, AuthMethodConfig, Authenticator, CryptosignPrincipal,
    CryptosignPrincipals, TicketPrincipal, TicketPrincipals, TlsPrincipal, TlsPrincipals,
    WampCraUser, WampCraUsers,
};
use crate::timestamp::utc_timestamp;
use crate::wamp::{Dict, Value};

mod cryptosign_flow;

// ----- vectors from Autobahn|Python -----

const SESSION: u64 = 4_294_967_296;
const TIMESTAMP: &str = "2026-05-01T12:00:00.000Z";
/// `base64(bytes(range(48)))`: the nonce the scripted RNG below makes.
const NONCE: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v";
const WAMPCRA_CHALLENGE: &str = r#"{"authid": "joe", "authrole": "frontend", "authmethod": "wampcra", "authprovider": "static", "session": 4294967296, "nonce": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v", "timestamp": "2026-05-01T12:00:00.000Z"}"#;
/// `json.dumps(dict(obj, authid='jö"e\\', authrole="r"), ensure_ascii=False)`.
const WAMPCRA_CHALLENGE_ESCAPED: &str = r#"{"authid": "jö\"e\\", "authrole": "r", "authmethod": "wampcra", "authprovider": "static", "session": 4294967296, "nonce": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v", "timestamp": "2026-05-01T12:00:00.000Z"}"#;
const WAMPCRA_SIGNATURE: &str = "XhXv1R7PRQM2a4q5x6za6J2mU5TcGgmi4ojPS0mtHEU=";
const DERIVED_KEY: &str = "Eu7CQLfR+/Ffb+275A4s9/6H/RGKYxM4s6IMrsNKzC8=";
/// `auth.derive_key("pässwörd", "NaCl", 100, 16)`.
const DERIVED_KEY_SHORT: &str = "0o66kCGApg/2NPiUVZHDNw==";
const SALTED_SIGNATURE: &str = "8qOUjoQL3JK1QHlTcE+7a2SQxVKjaUGegUb5mUcM58E=";

const CLIENT_SEED: &str = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";
const CLIENT_PUBKEY: &str = "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664";
/// The router challenge of the scripted RNG: `bytes(range(100, 132))`.
const CHALLENGE: &str = "6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283";
const SIGNED: &str = "915e65cfd174f3d539a0c1c2eca0debd79a8ef9e8c552eb1f166f4dd48e6c272a9cc393aa0e4d3248f6998a86f6516dcc0eb043339248ed1a31a19e7bcd8b9086465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283";
/// `bytes(range(200, 232))`.
const CHANNEL_ID: [u8; 32] = {
    let mut id = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        id[i] = 200 + i as u8;
        i += 1;
    }
    id
};
const SIGNED_TLS_UNIQUE: &str = "591e6a764a6e95cc5e9de40af714f386a82d140761a540de9ba9d2f72def0172789047601094c69bec6f62940cf19549fcbd68fd26f5e36d5be85ee0ab018e02acacacaca4a4a4a4bcbcbcbca4a4a4a4acacacaca4a4a4a49c9c9c9c64646464";
/// The same key's answer to another session's challenge, `bytes(range(32))`.
const SIGNED_OTHER: &str = "91dd905cea357982290ea3734e9ec32ba0fa52056d4fcbf9756f50ffe2e54bc3abd8347de7d0b914ab4a6b45e46734d69ef41d603b4b1e8a843c98c705d97d00000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const NODE_SEED: &str = "4242424242424242424242424242424242424242424242424242424242424242";
const NODE_PUBKEY: &str = "2152f8d19b791d24453242e15f2eab6cb7cffa7b6a5ed30097960e069881db12";
/// `bytes(range(50, 82))`.
const CLIENT_CHALLENGE: &str = "32333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f5051";
const NODE_SIGNATURE: &str = "3a6a01520eff8293ed4aca855f97122918ef421bf1918889c5557b7122d8594228a5efbf3cb91d37c1676125330ca9779036a0f4b5c1473a1fd290db2e7fe00032333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f5051";

// ----- helpers -----

/// A deterministic RNG for tests: hands out `script` first, then counts up from 0.
/// (Marked cryptographic only so `hello` accepts it.)
pub(super) struct ScriptRng {
    script: Vec<u8>,
    counter: u8,
}

impl ScriptRng {
    pub(super) fn new(script: Vec<u8>) -> Self {
        ScriptRng { script, counter: 0 }
    }

    /// Scripted to make the nonce `NONCE` (WAMP-CRA) or the challenge `CHALLENGE` (cryptosign).
    pub(super) fn for_method(method: &str) -> Self {
        match method {
            "wampcra" => ScriptRng::new((0..48).collect()),
            _ => ScriptRng::new((100..132).collect()),
        }
    }

    fn byte(&mut self) -> u8 {
        if self.script.is_empty() {
            self.counter = self.counter.wrapping_add(1);
            self.counter
        } else {
            self.script.remove(0)
        }
    }
}

impl rand::TryRng for ScriptRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for d in dst {
            *d = self.byte();
        }
        Ok(())
    }
}

impl rand::TryCryptoRng for ScriptRng {}

pub(super) static NO_EXTRA: Dict = Dict::new();

pub(super) fn info<'a>(
    methods: &[&'a str],
    authid: Option<&'a str>,
    extra: &'a Dict,
) -> HelloInfo<'a> {
    HelloInfo {
        realm: "realm1",
        authmethods: methods.to_vec(),
        authid,
        authrole: None,
        authextra: extra,
        session: SESSION,
        channel_binding: None,
        client_cert_sha1: None,
        timestamp: TIMESTAMP,
        node_key: None,
        transport: None,
        cookie_id: None,
        cookie: None,
    }
}

pub(super) fn config(methods: Vec<AuthMethodConfig>) -> AuthConfig {
    AuthConfig { methods }
}

pub(super) fn run(config: &AuthConfig, info: &HelloInfo<'_>) -> Step {
    let method = info.authmethods.first().copied().unwrap_or("anonymous");
    hello(config, info, &mut ScriptRng::for_method(method))
}

pub(super) fn welcome(step: Step) -> Identity {
    match step {
        Step::Welcome(id) => id,
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

pub(super) fn challenge(step: Step) -> (&'static str, Dict, Pending) {
    match step {
        Step::Challenge {
            method,
            extra,
            pending,
        } => (method, extra, pending),
        other => panic!("expected CHALLENGE, got {other:?}"),
    }
}

pub(super) fn aborted(step: Step) -> (&'static str, String, Failure) {
    match step {
        Step::Abort {
            reason,
            message,
            cause,
        } => (reason, message, cause),
        other => panic!("expected ABORT, got {other:?}"),
    }
}

/// ABORT `wamp.error.not_authorized` "authentication failed", for `cause`.
#[track_caller]
pub(super) fn assert_failed(step: Step, cause: Failure) {
    let (reason, message, c) = aborted(step);
    assert_eq!(reason, "wamp.error.not_authorized");
    assert_eq!(message, "authentication failed");
    assert_eq!(c, cause);
}

fn ticket_config() -> AuthMethodConfig {
    AuthMethodConfig::Ticket(Authenticator::Static(TicketPrincipals(vec![
        (
            "joe".into(),
            TicketPrincipal {
                ticket: "s3cret-ticket".into(),
                role: "frontend".into(),
                realm: None,
            },
        ),
        (
            "only2".into(),
            TicketPrincipal {
                ticket: "t2".into(),
                role: "frontend".into(),
                realm: Some("realm2".into()),
            },
        ),
    ])))
}

fn wampcra_user(secret: &str, salt: Option<&str>, realm: Option<&str>) -> WampCraUser {
    let (iterations, keylen) = if salt.is_some() {
        (Some(1000), Some(32))
    } else {
        (None, None)
    };
    WampCraUser {
        secret: secret.into(),
        role: "frontend".into(),
        salt: salt.map(Into::into),
        iterations,
        keylen,
        realm: realm.map(Into::into),
        hmac_key: wampcra::hmac_key(secret, salt, iterations, keylen),
    }
}

fn wampcra_config(user: WampCraUser) -> AuthMethodConfig {
    AuthMethodConfig::WampCra(Authenticator::Static(WampCraUsers(vec![(
        "joe".into(),
        user,
    )])))
}

fn pubkey(hex: &str) -> [u8; 32] {
    cryptosign::parse_public_key(hex).unwrap()
}

fn cryptosign_config(realm: Option<&str>) -> AuthMethodConfig {
    let other = NodeKey::from_hex(NODE_SEED).unwrap().public_hex();
    AuthMethodConfig::Cryptosign(Authenticator::Static(CryptosignPrincipals(vec![
        (
            "device1".into(),
            CryptosignPrincipal {
                authorized_keys: vec![pubkey(&other), pubkey(CLIENT_PUBKEY)],
                role: "device".into(),
                realm: realm.map(Into::into),
            },
        ),
        (
            "node".into(),
            CryptosignPrincipal {
                authorized_keys: vec![pubkey(&other)],
                role: "device".into(),
                realm: None,
            },
        ),
    ])))
}

fn pubkey_extra(hex: &str) -> Dict {
    Dict::new().with("pubkey", hex)
}

// ----- WAMP-CRA: the primitives against Autobahn -----

#[test]
fn wampcra_challenge_text_is_pythons_json_dumps() {
    let fields = |authid, authrole| wampcra::ChallengeFields {
        authid,
        authrole,
        authprovider: "static",
        session: SESSION,
        nonce: NONCE,
        timestamp: TIMESTAMP,
    };
    assert_eq!(
        wampcra::challenge_json(&fields("joe", "frontend")),
        WAMPCRA_CHALLENGE
    );
    assert_eq!(
        wampcra::challenge_json(&fields("jö\"e\\", "r")),
        WAMPCRA_CHALLENGE_ESCAPED
    );
}

#[test]
fn wampcra_signature_and_key_derivation_match_autobahn() {
    assert_eq!(
        wampcra::compute_signature("secret123", WAMPCRA_CHALLENGE),
        WAMPCRA_SIGNATURE
    );
    assert_eq!(
        wampcra::derive_key("secret123", "salt123", 1000, 32),
        DERIVED_KEY
    );
    assert_eq!(
        wampcra::derive_key("pässwörd", "NaCl", 100, 16),
        DERIVED_KEY_SHORT
    );
    // Autobahn signs with the Base64 text of the derived key.
    assert_eq!(
        wampcra::compute_signature(DERIVED_KEY, WAMPCRA_CHALLENGE),
        SALTED_SIGNATURE
    );
    // The HMAC key a salted user gets, with Crossbar's defaults for iterations and keylen.
    assert_eq!(
        wampcra::hmac_key("secret123", Some("salt123"), None, None),
        DERIVED_KEY
    );
    assert_eq!(
        wampcra::hmac_key("secret123", None, Some(5), Some(7)),
        "secret123"
    );
}

#[test]
fn wampcra_nonce_is_64_base64_characters() {
    let n = wampcra::nonce(&[0xff; 48]);
    assert_eq!(n.len(), 64);
    assert_eq!(wampcra::nonce(&std::array::from_fn(|i| i as u8)), NONCE);
}

// ----- WAMP-CRA: the flow -----

#[test]
fn wampcra_unsalted_challenge_and_autobahn_signature_welcome() {
    let cfg = config(vec![wampcra_config(wampcra_user("secret123", None, None))]);
    let (method, extra, pending) =
        challenge(run(&cfg, &info(&["wampcra"], Some("joe"), &NO_EXTRA)));
    assert_eq!(method, "wampcra");
    assert_eq!(extra, Dict::new().with("challenge", WAMPCRA_CHALLENGE));
    assert_eq!(pending.method(), "wampcra");
    assert!(pending.awaits_authenticate());
    let id = welcome(authenticate(pending, WAMPCRA_SIGNATURE, &Dict::new()));
    assert_eq!(
        id,
        Identity {
            authid: "joe".into(),
            authrole: "frontend".into(),
            authmethod: "wampcra",
            authprovider: "static",
            authextra: Dict::new(),
            realm: None,
        }
    );
}

#[test]
fn wampcra_salted_challenge_carries_the_pbkdf2_parameters() {
    let cfg = config(vec![wampcra_config(wampcra_user(
        "secret123",
        Some("salt123"),
        None,
    ))]);
    let (_, extra, pending) = challenge(run(&cfg, &info(&["wampcra"], Some("joe"), &NO_EXTRA)));
    // Integers, not strings: Autobahn's derive_key refuses anything else.
    assert_eq!(
        extra,
        Dict::new()
            .with("challenge", WAMPCRA_CHALLENGE)
            .with("salt", "salt123")
            .with("iterations", Value::Int(1000))
            .with("keylen", Value::Int(32))
    );
    welcome(authenticate(pending, SALTED_SIGNATURE, &Dict::new()));
    // The unsalted signature (the password used as the key) is refused.
    let (_, _, pending) = challenge(run(&cfg, &info(&["wampcra"], Some("joe"), &NO_EXTRA)));
    assert_failed(
        authenticate(pending, WAMPCRA_SIGNATURE, &Dict::new()),
        Failure::WrongWampCraSignature,
    );
}

#[test]
fn wampcra_wrong_signature_fails_without_saying_why() {
    let cfg = config(vec![wampcra_config(wampcra_user("secret123", None, None))]);
    for sig in ["", "x", &WAMPCRA_SIGNATURE[1..], SALTED_SIGNATURE] {
        let (_, _, pending) = challenge(run(&cfg, &info(&["wampcra"], Some("joe"), &NO_EXTRA)));
        assert_failed(
            authenticate(pending, sig, &Dict::new()),
            Failure::WrongWampCraSignature,
        );
    }
}

#[test]
fn wampcra_unknown_or_missing_authid_gets_a_decoy_challenge() {
    let cfg = config(vec![wampcra_config(wampcra_user(
        "secret123",
        Some("salt123"),
        None,
    ))]);
    for authid in [Some("mallory"), None] {
        let (method, extra, pending) = challenge(run(&cfg, &info(&["wampcra"], authid, &NO_EXTRA)));
        assert_eq!(method, "wampcra");
        // Shaped like a real one: the same keys, the salt settings of the configured user.
        let keys: Vec<&str> = extra.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["challenge", "salt", "iterations", "keylen"]);
        assert_failed(
            authenticate(pending, SALTED_SIGNATURE, &Dict::new()),
            Failure::UnknownPrincipal,
        );
    }
    // No users at all: still a challenge.
    let empty = config(vec![AuthMethodConfig::WampCra(Authenticator::Static(
        WampCraUsers(vec![]),
    ))]);
    let (_, _, pending) = challenge(run(&empty, &info(&["wampcra"], Some("joe"), &NO_EXTRA)));
    assert_failed(
        authenticate(pending, "x", &Dict::new()),
        Failure::UnknownPrincipal,
    );
}

#[test]
fn wampcra_principal_realm_restricts_the_realm() {
    let cfg = config(vec![wampcra_config(wampcra_user(
        "secret123",
        None,
        Some("realm2"),
    ))]);
    let (_, _, pending) = challenge(run(&cfg, &info(&["wampcra"], Some("joe"), &NO_EXTRA)));
    assert_failed(
        authenticate(pending, WAMPCRA_SIGNATURE, &Dict::new()),
        Failure::RealmNotAllowed,
    );
    let cfg = config(vec![wampcra_config(wampcra_user(
        "secret123",
        None,
        Some("realm1"),
    ))]);
    let (_, _, pending) = challenge(run(&cfg, &info(&["wampcra"], Some("joe"), &NO_EXTRA)));
    let id = welcome(authenticate(pending, WAMPCRA_SIGNATURE, &Dict::new()));
    assert_eq!(id.realm, None);
}

// ----- ticket -----

#[test]
fn ticket_challenge_is_empty_and_the_ticket_welcomes() {
    let cfg = config(vec![ticket_config()]);
    let extra = Dict::new().with("app", "x");
    let (method, challenge_extra, pending) =
        challenge(run(&cfg, &info(&["ticket"], Some("joe"), &extra)));
    assert_eq!(method, "ticket");
    assert!(challenge_extra.is_empty());
    let id = welcome(authenticate(pending, "s3cret-ticket", &Dict::new()));
    assert_eq!(id.authid, "joe");
    assert_eq!(id.authrole, "frontend");
    assert_eq!((id.authmethod, id.authprovider), ("ticket", "static"));
    // Crossbar echoes the client's authextra in WELCOME for ticket.
    assert_eq!(id.authextra, extra);
}

#[test]
fn ticket_failures_look_alike() {
    let cfg = config(vec![ticket_config()]);
    for (authid, ticket, cause) in [
        (Some("joe"), "wrong", Failure::WrongTicket),
        (Some("joe"), "s3cret-ticke", Failure::WrongTicket),
        (Some("joe"), "s3cret-ticket ", Failure::WrongTicket),
        (Some("mallory"), "s3cret-ticket", Failure::UnknownPrincipal),
        (None, "s3cret-ticket", Failure::UnknownPrincipal),
        (Some("only2"), "t2", Failure::RealmNotAllowed),
    ] {
        // Every case gets the same CHALLENGE, then the same ABORT.
        let (method, extra, pending) = challenge(run(&cfg, &info(&["ticket"], authid, &NO_EXTRA)));
        assert_eq!((method, extra.len()), ("ticket", 0));
        assert_failed(authenticate(pending, ticket, &Dict::new()), cause);
    }
}

// ----- anonymous and method selection -----

fn is_serial(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 6
        && groups
            .iter()
            .all(|g| g.len() == 4 && g.bytes().all(|b| TOKEN_CHARS.contains(&b)))
}

#[test]
fn anonymous_is_the_default_with_a_random_crossbar_style_authid() {
    let extra = Dict::new().with("k", "v");
    // No auth block; a client naming no authmethods means anonymous.
    let id = welcome(run(
        &AuthConfig::default(),
        &info(&[], Some("ignored"), &extra),
    ));
    assert!(is_serial(&id.authid), "{}", id.authid);
    assert_ne!(id.authid, "ignored");
    assert_eq!(id.authrole, "anonymous");
    assert_eq!((id.authmethod, id.authprovider), ("anonymous", "static"));
    assert_eq!(id.authextra, extra);
    // Autobahn's own generate_serial_number() looks the same (e.g. VYWM-H7FF-JS9K-3YTV-7JRT-GC64).
    assert!(is_serial("VYWM-H7FF-JS9K-3YTV-7JRT-GC64"));
    let mut rng = ScriptRng::new(vec![]);
    assert_ne!(random_authid(&mut rng), random_authid(&mut rng));
}

#[test]
fn anonymous_fixed_authid_and_role() {
    let cfg = config(vec![AuthMethodConfig::Anonymous(Authenticator::Static(
        AnonymousAuth {
            role: "guest".into(),
            authid: Some("visitor".into()),
        },
    ))]);
    let id = welcome(run(&cfg, &info(&["anonymous"], None, &NO_EXTRA)));
    assert_eq!(
        (id.authid.as_str(), id.authrole.as_str()),
        ("visitor", "guest")
    );
}

#[test]
fn the_first_client_method_the_transport_offers_wins() {
    let cfg = config(vec![
        AuthMethodConfig::Anonymous(Authenticator::Static(AnonymousAuth::default())),
        ticket_config(),
        wampcra_config(wampcra_user("secret123", None, None)),
    ]);
    let step = |methods: &[&str]| run(&cfg, &info(methods, Some("joe"), &NO_EXTRA));
    assert_eq!(challenge(step(&["wampcra", "ticket"])).0, "wampcra");
    assert_eq!(challenge(step(&["ticket", "wampcra"])).0, "ticket");
    // Known but not offered here: skipped.
    assert_eq!(
        challenge(step(&["cryptosign", "scram", "ticket"])).0,
        "ticket"
    );
    assert_eq!(welcome(step(&["tls", "anonymous"])).authmethod, "anonymous");
}

#[test]
fn unknown_or_unoffered_methods_are_refused() {
    let cfg = config(vec![ticket_config()]);
    let (reason, message, cause) =
        aborted(run(&cfg, &info(&["password", "ticket"], None, &NO_EXTRA)));
    assert_eq!(reason, "wamp.error.not_authorized");
    assert_eq!(message, "invalid authmethod \"password\"");
    assert_eq!(cause, Failure::UnknownAuthMethod("password".into()));
    // Crossbar's NO_AUTH_METHOD, with its message.
    let (reason, message, cause) =
        aborted(run(&cfg, &info(&["wampcra", "anonymous"], None, &NO_EXTRA)));
    assert_eq!(reason, "wamp.error.no_auth_method");
    assert_eq!(
        message,
        "cannot authenticate using any of the offered authmethods ['wampcra', 'anonymous']"
    );
    assert_eq!(cause, Failure::NoAuthMethod);
    // A client naming no method means anonymous, which this transport does not offer.
    let (reason, _, _) = aborted(run(&cfg, &info(&[], None, &NO_EXTRA)));
    assert_eq!(reason, NO_AUTH_METHOD);
}

#[test]
fn hello_info_reads_the_hello_details() {
    let details = Dict::new()
        .with(
            "authmethods",
            Value::List(vec!["cryptosign".into(), Value::Int(3), "ticket".into()]),
        )
        .with("authid", "joe")
        .with("authrole", "admin")
        .with("authextra", Dict::new().with("pubkey", CLIENT_PUBKEY));
    let i = HelloInfo::from_hello("realm1", &details, 7, TIMESTAMP);
    assert_eq!(i.authmethods, ["cryptosign", "ticket"]);
    assert_eq!((i.authid, i.authrole), (Some("joe"), Some("admin")));
    assert_eq!(i.authextra.get_str("pubkey"), Some(CLIENT_PUBKEY));
    assert_eq!((i.realm, i.session, i.timestamp), ("realm1", 7, TIMESTAMP));
    let bare = Dict::new();
    let i = HelloInfo::from_hello("realm1", &bare, 7, TIMESTAMP);
    assert!(i.authmethods.is_empty() && i.authextra.is_empty() && i.authid.is_none());
}

// ----- AUTHENTICATE for another method -----

#[test]
fn authenticate_with_another_methods_answer_fails() {
    let cfg = config(vec![
        ticket_config(),
        wampcra_config(wampcra_user("s3cret-ticket", None, None)),
        cryptosign_config(None),
    ]);
    // A ticket pending answered with a WAMP-CRA signature.
    let (_, _, pending) = challenge(run(&cfg, &info(&["ticket"], Some("joe"), &NO_EXTRA)));
    assert_failed(
        authenticate(pending, WAMPCRA_SIGNATURE, &Dict::new()),
        Failure::WrongTicket,
    );
    // A WAMP-CRA pending answered with the ticket (here the same string as the secret).
    let (_, _, pending) = challenge(run(&cfg, &info(&["wampcra"], Some("joe"), &NO_EXTRA)));
    assert_failed(
        authenticate(pending, "s3cret-ticket", &Dict::new()),
        Failure::WrongWampCraSignature,
    );
    // A cryptosign pending answered with a WAMP-CRA signature or a ticket.
    let extra = pubkey_extra(CLIENT_PUBKEY);
    for answer in [WAMPCRA_SIGNATURE, "s3cret-ticket"] {
        let (_, _, pending) = challenge(run(&cfg, &info(&["cryptosign"], None, &extra)));
        assert_failed(
            authenticate(pending, answer, &Dict::new()),
            Failure::WrongCryptosignSignature,
        );
    }
}

// ----- TLS client certificates -----

fn tls_config() -> AuthConfig {
    config(vec![AuthMethodConfig::Tls(Authenticator::Static(
        TlsPrincipals(vec![
            (
                "client1".into(),
                TlsPrincipal {
                    certificate_sha1: "0123456789abcdef0123456789abcdef01234567".into(),
                    role: "backend".into(),
                    realm: None,
                },
            ),
            (
                "client2".into(),
                TlsPrincipal {
                    certificate_sha1: "fedcba9876543210fedcba9876543210fedcba98".into(),
                    role: "backend".into(),
                    realm: Some("realm2".into()),
                },
            ),
        ]),
    ))])
}

#[test]
fn tls_certificate_fingerprint_picks_the_principal() {
    let cfg = tls_config();
    let mut i = info(&["tls"], None, &NO_EXTRA);
    // pyOpenSSL's digest() format: upper case with colons.
    i.client_cert_sha1 = Some("01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67");
    let id = welcome(run(&cfg, &i));
    assert_eq!(
        (
            id.authid.as_str(),
            id.authrole.as_str(),
            id.authmethod,
            id.authprovider
        ),
        ("client1", "backend", "tls", "static")
    );
}

#[test]
fn tls_without_or_with_an_unknown_certificate_fails() {
    let cfg = tls_config();
    assert_failed(
        run(&cfg, &info(&["tls"], None, &NO_EXTRA)),
        Failure::NoClientCertificate,
    );
    let mut i = info(&["tls"], None, &NO_EXTRA);
    i.client_cert_sha1 = Some("1111111111111111111111111111111111111111");
    assert_failed(run(&cfg, &i), Failure::UnknownCertificate);
    i.client_cert_sha1 = Some("fedcba9876543210fedcba9876543210fedcba98");
    assert_failed(run(&cfg, &i), Failure::RealmNotAllowed);
}

#[test]
fn sha1_fingerprints_are_normalised() {
    assert_eq!(
        normalize_sha1("AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01").as_deref(),
        Some("abcdef0123456789abcdef0123456789abcdef01")
    );
    assert_eq!(normalize_sha1("abc"), None);
    assert_eq!(normalize_sha1(&"g".repeat(40)), None);
}

// ----- small helpers -----

#[test]
fn timestamps_are_autobahns_utcnow_format() {
    // util.utcstr(datetime(2026, 5, 1, 12, 0, 0, 123456)) == "2026-05-01T12:00:00.123Z"
    assert_eq!(utc_timestamp(1_777_636_800_123), "2026-05-01T12:00:00.123Z");
    // util.utcstr(datetime(2000, 2, 29, 23, 59, 59, 999999)) == "2000-02-29T23:59:59.999Z"
    assert_eq!(utc_timestamp(951_868_799_999), "2000-02-29T23:59:59.999Z");
    assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(utc_timestamp(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
}

#[test]
fn peer_hosts_drop_the_port() {
    assert_eq!(peer_host("tcp4:203.0.113.9:50412"), "203.0.113.9");
    assert_eq!(peer_host("tcp6:::1:50412"), "::1");
    assert_eq!(peer_host("tcp6:2001:db8::7:443"), "2001:db8::7");
    assert_eq!(peer_host("unix"), "unix");
}

// ----- throttling -----

#[test]
fn throttling_starts_after_the_free_failures_and_doubles_up_to_the_cap() {
    let t = FailureTracker::default();
    let delays: Vec<u64> = (0..12).map(|n| t.delay_after(n)).collect();
    assert_eq!(delays, [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 30, 30]);
    assert_eq!(t.delay_after(u32::MAX), 30);
    let huge = FailureTracker::new(ThrottleConfig {
        base_delay_secs: 3,
        max_delay_secs: u64::MAX,
        ..ThrottleConfig::default()
    });
    assert_eq!(huge.delay_after(6), 6);
    assert_eq!(huge.delay_after(200), u64::MAX);
}

#[test]
fn a_peer_waits_from_its_last_failure() {
    let mut t = FailureTracker::default();
    let peer = "203.0.113.9";
    for s in 0..4 {
        t.record_failure(peer, 100 + s);
        assert_eq!(t.delay_for(peer, 100 + s), None);
    }
    t.record_failure(peer, 104); // the fifth
    assert_eq!(t.failures(peer, 104), 5);
    assert_eq!(t.delay_for(peer, 104), Some(Duration::from_secs(1)));
    assert_eq!(t.delay_for(peer, 105), None);
    t.record_failure(peer, 105); // the sixth: 2 s
    assert_eq!(t.delay_for(peer, 105), Some(Duration::from_secs(2)));
    assert_eq!(t.delay_for(peer, 106), Some(Duration::from_secs(1)));
    for s in 0..10 {
        t.record_failure(peer, 106);
        let _ = s;
    }
    assert_eq!(t.delay_for(peer, 106), Some(Duration::from_secs(30)));
    assert_eq!(t.delay_for(peer, 130), Some(Duration::from_secs(6)));
    // Other peers are not slowed down.
    assert_eq!(t.delay_for("198.51.100.1", 106), None);
    // A quiet window starts over.
    assert_eq!(t.failures(peer, 106 + 301), 0);
    assert_eq!(t.delay_for(peer, 106 + 301), None);
    t.record_failure(peer, 106 + 301);
    assert_eq!(t.failures(peer, 106 + 301), 1);
    // Success forgets.
    t.record_success(peer);
    assert_eq!(t.failures(peer, 406), 0);
    assert!(t.is_empty());
}

#[test]
fn throttling_memory_is_bounded() {
    let mut t = FailureTracker::new(ThrottleConfig {
        max_entries: 100,
        ..ThrottleConfig::default()
    });
    for i in 0..1000u64 {
        t.record_failure(&format!("10.0.{}.{}", i / 256, i % 256), i);
        // The same peer again and again must not grow the order queue without bound either.
        t.record_failure("198.51.100.7", i);
        assert!(t.len() <= 100);
        assert!(t.order.len() <= 2 * 100 + 2);
    }
    // The peer failing all along is still tracked; the oldest others are gone.
    assert!(t.failures("198.51.100.7", 999) > 5);
    assert_eq!(t.failures("10.0.0.0", 999), 0);
    assert_eq!(t.failures("10.0.3.231", 999), 1);
}
