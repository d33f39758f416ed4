//! The cookie store: Cookie header parsing, ids, expiry, the entry cap, the file format
//! (Crossbar's JSON lines), and cookie authentication in [`super::hello`].

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;

use super::cookie::*;
use super::tests::ScriptRng;
use super::*;
use crate::config::{
    AnonymousAuth, AuthConfig, AuthMethodConfig, Authenticator, CookieConfig, CookieStoreConfig,
    SameSite, TicketPrincipal, TicketPrincipals,
};
use crate::timestamp::{parse_utc_timestamp, utc_timestamp};
use crate::wamp::{Dict, Value};

/// 2026-05-01T12:00:00.000Z.
const NOW: u64 = 1_777_636_800_000;
const DAY_MS: u64 = 86_400_000;

fn config() -> CookieConfig {
    CookieConfig {
        path: "workers[0].transports[0].cookie".into(),
        name: "cbtid".into(),
        length: 24,
        max_age: 604_800,
        store: CookieStoreConfig::Memory,
        secure: false,
        http_strict: false,
        same_site: None,
    }
}

fn store() -> Arc<CookieStore> {
    Arc::new(CookieStore::new(config(), [7; 32]))
}

fn ticket_auth(authid: &str) -> CookieAuth {
    CookieAuth {
        authid: authid.into(),
        authrole: "frontend".into(),
        authmethod: "ticket".into(),
        authrealm: "realm1".into(),
        authextra: Dict::new().with("greeting", "hi"),
    }
}

/// A fresh cookie that a session then authenticated on.
fn authenticated(store: &Arc<CookieStore>, authid: &str, now: u64) -> CookieSession {
    let up = store.upgrade(&[], now);
    up.session.remember(ticket_auth(authid), now);
    up.session
}

fn header_for(session: &CookieSession) -> String {
    format!("theme=dark; cbtid={}; lang=en", session.id())
}

/// A writer the test can read back: what the file store would append.
#[derive(Clone, Default)]
struct SharedLog(Arc<Mutex<Vec<u8>>>);

impl SharedLog {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for SharedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct BrokenDisk;

impl Write for BrokenDisk {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("no space left on device"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// ----- the Cookie header -----

#[test]
fn cookie_header_parsing() {
    let cases: &[(&str, Option<&str>)] = &[
        ("cbtid=abc123", Some("abc123")),
        ("theme=dark; cbtid=abc123; lang=en", Some("abc123")),
        ("theme=dark;cbtid=abc123", Some("abc123")),
        ("  cbtid = abc123  ", Some("abc123")),
        ("cbtid=\"abc123\"", Some("abc123")),
        // The first one counts (browsers send the most specific path first).
        ("cbtid=first; cbtid=second", Some("first")),
        // Crossbar's ids are base64: `+` and `/` are cookie octets.
        ("cbtid=ab+c/12", Some("ab+c/12")),
        ("", None),
        ("theme=dark", None),
        ("cbtid", None),
        ("cbtid=", None),
        ("cbtid=\"\"", None),
        ("xcbtid=abc; cbtid2=def; CBTID=ghi", None),
        ("cbtid=a b", None),
        ("cbtid=a,b", None),
        ("cbtid=a\\b", None),
        ("cbtid=\"abc", None),
        ("cbtid=é", None),
        (";;;=;=cbtid;", None),
        // A malformed pair before it does not hide it.
        ("garbage; =x; cbtid=ok", Some("ok")),
    ];
    for (header, want) in cases {
        assert_eq!(parse_cookie(header, "cbtid"), *want, "header {header:?}");
    }
    let long = format!("cbtid={}", "a".repeat(129));
    assert_eq!(parse_cookie(&long, "cbtid"), None);
    let max = format!("cbtid={}", "a".repeat(128));
    assert_eq!(parse_cookie(&max, "cbtid").map(str::len), Some(128));
}

proptest! {
    #[test]
    fn cookie_header_parsing_never_panics(header in ".{0,300}", name in "[a-z][a-z0-9_]{1,8}") {
        if let Some(v) = parse_cookie(&header, &name) {
            prop_assert!(!v.is_empty() && v.len() <= 128);
            prop_assert!(header.contains(v));
        }
    }
}

// ----- upgrades -----

#[test]
fn a_connection_without_a_cookie_gets_a_new_random_one() {
    let store = store();
    let a = store.upgrade(&[], NOW);
    let b = store.upgrade(&["theme=dark"], NOW);
    for up in [&a, &b] {
        let id = up.session.id();
        assert_eq!(id.len(), 24);
        assert!(id.bytes().all(|c| c.is_ascii_alphanumeric()), "{id}");
        assert_eq!(
            up.set_cookie.as_deref(),
            Some(format!("cbtid={id};max-age=604800").as_str())
        );
    }
    assert_ne!(a.session.id(), b.session.id());
    // Handing out ids stores nothing: connections without a cookie cost the store nothing.
    for _ in 0..1000 {
        let _ = store.upgrade(&[], NOW);
    }
    assert!(store.is_empty());
}

#[test]
fn set_cookie_attributes_follow_the_config() {
    let mut c = config();
    c.name = "session".into();
    c.length = 6;
    c.max_age = 60;
    c.secure = true;
    c.http_strict = true;
    c.same_site = Some(SameSite::Strict);
    let store = Arc::new(CookieStore::new(c.clone(), [1; 32]));
    let up = store.upgrade(&[], NOW);
    let id = up.session.id().to_owned();
    assert_eq!(id.len(), 6);
    assert_eq!(
        up.set_cookie.unwrap(),
        format!("session={id};max-age=60;Secure;HttpOnly;SameSite=Strict")
    );
    c.secure = false;
    c.http_strict = false;
    c.same_site = Some(SameSite::None);
    assert_eq!(
        set_cookie_value(&c, "xyz"),
        "session=xyz;max-age=60;SameSite=None"
    );
}

#[test]
fn an_unknown_cookie_is_never_adopted() {
    let store = store();
    for forged in ["ATTACKER0CHOSEN0COOKIE01", "x", "cbtid-of-yesterday"] {
        let up = store.upgrade(&[&format!("cbtid={forged}")], NOW);
        assert_ne!(up.session.id(), forged);
        assert!(up.set_cookie.is_some());
        // Even once the connection authenticates, the forged id knows nothing.
        up.session.remember(ticket_auth("joe"), NOW);
        assert_eq!(store.authentication(forged, NOW), None);
    }
}

#[test]
fn a_known_cookie_is_kept_and_its_authentication_is_found() {
    let store = store();
    let first = authenticated(&store, "joe", NOW);
    let again = store.upgrade(&[&header_for(&first)], NOW + 1000);
    assert_eq!(again.session.id(), first.id());
    assert_eq!(again.set_cookie, None);
    assert_eq!(
        again.session.authentication(NOW + 1000),
        Some(ticket_auth("joe"))
    );
    // Several Cookie headers: each is searched.
    let split = store.upgrade(&["theme=dark", &header_for(&first)], NOW);
    assert_eq!(split.session.id(), first.id());
    // An identity names the original method, provider `cookie`, the remembered realm.
    let identity = ticket_auth("joe").identity();
    assert_eq!(
        identity,
        Identity {
            authid: "joe".into(),
            authrole: "frontend".into(),
            authmethod: "ticket",
            authprovider: "cookie",
            authextra: Dict::new().with("greeting", "hi"),
            realm: Some("realm1".into()),
        }
    );
    let mut odd = ticket_auth("joe");
    odd.authmethod = "some-future-method".into();
    assert_eq!(odd.identity().authmethod, "cookie");
}

#[test]
fn remembering_again_updates_and_forgetting_deletes() {
    let store = store();
    let s = authenticated(&store, "joe", NOW);
    s.remember(ticket_auth("mary"), NOW + 5);
    assert_eq!(s.authentication(NOW + 5).unwrap().authid, "mary");
    assert_eq!(store.len(), 1);
    assert!(s.forget(NOW + 6));
    assert!(!s.forget(NOW + 7));
    assert_eq!(s.authentication(NOW + 8), None);
    // The id is then unknown: the next upgrade hands out a new one.
    let up = store.upgrade(&[&header_for(&s)], NOW + 9);
    assert_ne!(up.session.id(), s.id());
}

#[test]
fn a_hello_without_cookie_revokes_it_where_the_transport_offers_cookie_auth() {
    let store = store();
    let with_cookie_auth = AuthConfig {
        methods: vec![AuthMethodConfig::Cookie, ticket_method()],
    };
    let without = AuthConfig {
        methods: vec![ticket_method()],
    };
    let s = authenticated(&store, "joe", NOW);
    assert_eq!(
        s.for_hello(&with_cookie_auth, &["cookie", "ticket"], NOW),
        Some(ticket_auth("joe"))
    );
    // Not offering cookie on a transport without cookie auth changes nothing.
    assert_eq!(
        s.for_hello(&without, &["ticket"], NOW),
        Some(ticket_auth("joe"))
    );
    // Offering other methods only (or none: anonymous) revokes it.
    assert_eq!(s.for_hello(&with_cookie_auth, &["ticket"], NOW), None);
    assert_eq!(s.authentication(NOW), None);
    let s = authenticated(&store, "joe", NOW);
    assert_eq!(s.for_hello(&with_cookie_auth, &[], NOW), None);
    assert_eq!(s.authentication(NOW), None);
}

// ----- expiry and the cap -----

#[test]
fn entries_expire_max_age_after_the_cookie_was_handed_out() {
    let store = store();
    let up = store.upgrade(&[], NOW);
    // Authenticated a day after the cookie was set: still expires a week after NOW.
    up.session.remember(ticket_auth("joe"), NOW + DAY_MS);
    let week = 7 * DAY_MS;
    assert!(up.session.authentication(NOW + week - 1).is_some());
    let late = store.upgrade(&[&header_for(&up.session)], NOW + week);
    assert_ne!(late.session.id(), up.session.id(), "expired: a new cookie");
    assert!(late.set_cookie.is_some());
    assert_eq!(store.authentication(up.session.id(), NOW + week), None);
    // A cookie the browser has already dropped is not stored at all.
    let old = store.upgrade(&[], NOW);
    old.session.remember(ticket_auth("joe"), NOW + week + 1);
    assert_eq!(store.len(), 0);
}

#[test]
fn expired_entries_are_swept_when_another_is_added() {
    let store = store();
    for i in 0..10 {
        authenticated(&store, &format!("user{i}"), NOW);
    }
    assert_eq!(store.len(), 10);
    authenticated(&store, "late", NOW + 8 * DAY_MS);
    assert_eq!(store.len(), 1);
}

#[test]
fn past_the_cap_the_entry_that_expires_first_is_evicted() {
    let store = Arc::new(CookieStore::with_limit(config(), [3; 32], 3));
    let log = SharedLog::default();
    store.set_log(Box::new(log.clone()));
    let sessions: Vec<CookieSession> = (0..5)
        .map(|i| authenticated(&store, &format!("user{i}"), NOW + i))
        .collect();
    assert_eq!(store.len(), 3);
    for (i, s) in sessions.iter().enumerate() {
        assert_eq!(s.authentication(NOW + 10).is_some(), i >= 2, "user{i}");
    }
    // The evictions are in the file too, so a restart does not bring them back.
    store.flush();
    let reloaded = CookieStore::new(config(), [4; 32]);
    let report = reloaded.load(&log.text(), NOW + 10);
    assert_eq!(report.live, 3);
    assert_eq!(reloaded.authentication(sessions[0].id(), NOW + 10), None);
    assert!(reloaded
        .authentication(sessions[4].id(), NOW + 10)
        .is_some());
}

// ----- the file store -----

/// A dict with its keys sorted (a JSON file does not keep the order).
fn sorted(mut d: Dict) -> Dict {
    d.0.sort_by(|a, b| a.0.cmp(&b.0));
    d
}

fn ts(ms: u64) -> String {
    utc_timestamp(ms)
}

#[test]
fn timestamps_round_trip_and_malformed_ones_are_refused() {
    for ms in [0, 1, 999, NOW, NOW + 123, 253_402_300_799_999] {
        assert_eq!(parse_utc_timestamp(&ts(ms)), Some(ms), "{}", ts(ms));
    }
    assert_eq!(parse_utc_timestamp("2026-05-01T12:00:00Z"), Some(NOW));
    assert_eq!(parse_utc_timestamp("2026-05-01T12:00:00"), Some(NOW));
    assert_eq!(
        parse_utc_timestamp("2026-05-01T12:00:00.123456Z"),
        Some(NOW + 123)
    );
    assert_eq!(
        parse_utc_timestamp("2024-02-29T00:00:00.000Z"),
        Some(1_709_164_800_000)
    );
    for bad in [
        "",
        "now",
        "2026-05-01",
        "2026-13-01T00:00:00Z",
        "2026-05-01T24:00:00Z",
        "2026-05-01T12:00:00.Z",
        "2026-05-01T12:00:00.12aZ",
        "1969-12-31T23:59:59Z",
        "2026-05-01T12:00Z",
        "-2026-05-01T12:00:00Z",
    ] {
        assert_eq!(parse_utc_timestamp(bad), None, "{bad:?}");
    }
}

/// A cookie file as Crossbar 26.10 writes it (`CookieStoreFileBacked._persist`), plus its
/// `purge_on_startup` format and a few lines it would choke on.
fn crossbar_file() -> String {
    let created = ts(NOW - DAY_MS);
    let lines = [
        // Made at an upgrade, authenticated later (a modified record repeats created).
        format!(r#"{{"cbtid": "Ab+c/DEFghij0123456789xy", "status": "created", "created": "{created}", "modified": null, "deleted": null, "max_age": 604800, "authid": null, "authrole": null, "authmethod": null, "authrealm": null, "authextra": null}}"#),
        format!(r#"{{"cbtid": "Ab+c/DEFghij0123456789xy", "status": "modified", "created": "{created}", "modified": "{created}", "deleted": null, "max_age": 604800, "authid": "joe", "authrole": "frontend", "authmethod": "ticket", "authrealm": "realm1", "authextra": {{"x": 1, "bin": "\u0000AQID", "list": [1.5, null, "s"]}}}}"#),
        // Never authenticated: of no use to cookie authentication.
        format!(r#"{{"cbtid": "neverAuthenticated000000", "status": "created", "created": "{created}", "modified": null, "deleted": null, "max_age": 604800, "authid": null, "authrole": null, "authmethod": null, "authrealm": null, "authextra": null}}"#),
        // Logged out.
        format!(r#"{{"cbtid": "loggedOut000000000000000", "status": "created", "created": "{created}", "modified": null, "deleted": null, "max_age": 604800, "authid": "ann", "authrole": "frontend", "authmethod": "wampcra", "authrealm": "realm1", "authextra": {{}}}}"#),
        format!(r#"{{"cbtid": "loggedOut000000000000000", "status": "deleted", "created": "{created}", "modified": null, "deleted": "{}", "max_age": 604800, "authid": "ann", "authrole": "frontend", "authmethod": "wampcra", "authrealm": "realm1", "authextra": {{}}}}"#, ts(NOW)),
        // purge_on_startup's format (no status), then a modified record without created.
        format!(r#"{{"cbtid": "purged000000000000000000", "created": "{created}", "max_age": 604800, "authid": "a", "authrole": "r", "authmethod": "anonymous", "authrealm": "realm1", "authextra": {{}}}}"#),
        format!(r#"{{"cbtid": "purged000000000000000000", "modified": "{}", "max_age": 604800, "authid": "b", "authrole": "r2", "authmethod": "cryptosign", "authrealm": "realm2", "authextra": {{}}}}"#, ts(NOW - 1000)),
        // Expired a day ago.
        format!(r#"{{"cbtid": "expired000000000000000000", "status": "modified", "created": "{}", "modified": null, "deleted": null, "max_age": 604800, "authid": "old", "authrole": "r", "authmethod": "ticket", "authrealm": "realm1", "authextra": {{}}}}"#, ts(NOW - 8 * DAY_MS)),
        // Broken lines.
        "not json".to_owned(),
        r#"{"status": "created"}"#.to_owned(),
        "[1, 2, 3]".to_owned(),
        String::new(),
        // No time at all: the age is unknown, so it is not kept.
        r#"{"cbtid": "ageless", "authid": "x", "authrole": "r", "authmethod": "ticket", "authrealm": "realm1"}"#.to_owned(),
    ];
    lines.join("\n") + "\n"
}

#[test]
fn a_crossbar_cookie_file_loads() {
    let store = Arc::new(CookieStore::new(config(), [9; 32]));
    let report = store.load(&crossbar_file(), NOW);
    assert_eq!(
        report,
        LoadReport {
            records: 12,
            malformed: 3,
            live: 2,
        }
    );
    let joe = store
        .authentication("Ab+c/DEFghij0123456789xy", NOW)
        .unwrap();
    assert_eq!(joe.authid, "joe");
    assert_eq!(joe.authmethod, "ticket");
    assert_eq!(joe.authrealm, "realm1");
    assert_eq!(
        sorted(joe.authextra),
        Dict::new()
            .with("bin", Value::Bytes(vec![1, 2, 3]))
            .with(
                "list",
                Value::List(vec![Value::Float(1.5), Value::Null, "s".into()])
            )
            .with("x", 1i64)
    );
    let purged = store
        .authentication("purged000000000000000000", NOW)
        .unwrap();
    assert_eq!(
        (purged.authid.as_str(), purged.authrealm.as_str()),
        ("b", "realm2")
    );
    for gone in [
        "neverAuthenticated000000",
        "loggedOut000000000000000",
        "expired000000000000000000",
        "ageless",
    ] {
        assert_eq!(store.authentication(gone, NOW), None, "{gone}");
    }
    // The browser presents a Crossbar (base64) id: it is kept.
    let up = store.upgrade(&["cbtid=Ab+c/DEFghij0123456789xy"], NOW);
    assert_eq!(up.session.id(), "Ab+c/DEFghij0123456789xy");
    assert_eq!(up.set_cookie, None);
    // A cookie made with a longer max_age than configured now lives only as long as allowed.
    let mut short = config();
    short.max_age = 3600;
    let store = CookieStore::new(short, [9; 32]);
    assert_eq!(store.load(&crossbar_file(), NOW).live, 0);
}

#[test]
fn the_file_round_trips_and_purge_keeps_only_live_cookies() {
    let store = store();
    let log = SharedLog::default();
    store.set_log(Box::new(log.clone()));
    let joe = authenticated(&store, "joe", NOW);
    let mary = authenticated(&store, "mary", NOW + 1);
    let gone = authenticated(&store, "gone", NOW + 2);
    joe.remember(
        CookieAuth {
            authextra: Dict::new()
                .with("n", 5u64)
                .with("b", Value::Bytes(vec![0, 255])),
            ..ticket_auth("joe2")
        },
        NOW + 3,
    );
    // Unchanged: nothing written.
    mary.remember(ticket_auth("mary"), NOW + 4);
    assert!(gone.forget(NOW + 5));
    store.flush();
    let text = log.text();
    let statuses: Vec<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["status"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        statuses,
        ["created", "created", "created", "modified", "deleted"]
    );
    // Every record has Crossbar's keys.
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    for key in [
        "cbtid",
        "status",
        "created",
        "modified",
        "deleted",
        "max_age",
        "authid",
        "authrole",
        "authmethod",
        "authrealm",
        "authextra",
    ] {
        assert!(first.get(key).is_some(), "{key} missing in {first}");
    }
    assert_eq!(first["created"], ts(NOW));
    assert_eq!(first["max_age"], 604_800);
    // A restart: the same cookies authenticate.
    let reloaded = CookieStore::new(config(), [5; 32]);
    let report = reloaded.load(&text, NOW + 10);
    assert_eq!((report.records, report.malformed, report.live), (5, 0, 2));
    let j = reloaded.authentication(joe.id(), NOW + 10).unwrap();
    assert_eq!(j.authid, "joe2");
    assert_eq!(
        sorted(j.authextra),
        Dict::new()
            .with("b", Value::Bytes(vec![0, 255]))
            .with("n", 5u64)
    );
    // The same authentication again, keys in another order: nothing new is written.
    let before = log.text().lines().count();
    let reordered = CookieSession::clone(&joe);
    reordered.remember(
        CookieAuth {
            authextra: Dict::new()
                .with("b", Value::Bytes(vec![0, 255]))
                .with("n", 5u64),
            ..ticket_auth("joe2")
        },
        NOW + 11,
    );
    store.flush();
    assert_eq!(log.text().lines().count(), before);
    assert_eq!(
        reloaded.authentication(mary.id(), NOW + 10),
        Some(ticket_auth("mary"))
    );
    assert_eq!(reloaded.authentication(gone.id(), NOW + 10), None);
    // purge_on_startup: one record per live cookie, which loads to the same state.
    let compacted = reloaded.compacted(NOW + 10);
    assert_eq!(compacted.lines().count(), 2);
    let again = CookieStore::new(config(), [6; 32]);
    assert_eq!(again.load(&compacted, NOW + 10).live, 2);
    assert_eq!(
        again.authentication(joe.id(), NOW + 10).unwrap().authid,
        "joe2"
    );
    // Expired cookies are left out of it.
    assert_eq!(reloaded.compacted(NOW + 8 * DAY_MS), "");
}

#[test]
fn write_errors_are_not_fatal() {
    let store = store();
    store.set_log(Box::new(BrokenDisk));
    let s = authenticated(&store, "joe", NOW);
    store.flush();
    assert!(s.authentication(NOW).is_some());
    assert!(s.forget(NOW));
    store.flush();
}

#[test]
fn a_file_store_config_needs_nothing_else() {
    // The store itself is the same for memory and file: the node attaches the file.
    let mut c = config();
    c.store = CookieStoreConfig::File {
        filename: PathBuf::from("/srv/node/.crossbar/cookies.dat"),
        purge_on_startup: true,
    };
    let store = Arc::new(CookieStore::new(c, [2; 32]));
    assert!(store.upgrade(&[], NOW).set_cookie.is_some());
}

// ----- cookie authentication in hello() -----

fn ticket_method() -> AuthMethodConfig {
    AuthMethodConfig::Ticket(Authenticator::Static(TicketPrincipals(vec![(
        "joe".into(),
        TicketPrincipal {
            ticket: "secret".into(),
            role: "frontend".into(),
            realm: None,
        },
    )])))
}

fn anonymous_method(authid: Option<&str>) -> AuthMethodConfig {
    AuthMethodConfig::Anonymous(Authenticator::Static(AnonymousAuth {
        role: "anonymous".into(),
        authid: authid.map(str::to_owned),
    }))
}

fn hello_with(
    config: &AuthConfig,
    methods: &[&str],
    cookie_id: Option<&str>,
    cookie: Option<&CookieAuth>,
) -> Step {
    let list: Vec<Value> = methods.iter().map(|m| Value::from(*m)).collect();
    let details = Dict::new()
        .with("authmethods", Value::List(list))
        .with("authid", "joe");
    let mut info = HelloInfo::from_hello("realm2", &details, 1, "2026-05-01T12:00:00.000Z");
    info.cookie_id = cookie_id;
    info.cookie = cookie;
    hello(config, &info, &mut ScriptRng::new(Vec::new()))
}

#[test]
fn a_remembered_cookie_welcomes_at_once_with_the_original_identity() {
    let config = AuthConfig {
        methods: vec![ticket_method(), AuthMethodConfig::Cookie],
    };
    let joe = ticket_auth("joe");
    // Wherever `cookie` is in the list.
    for methods in [
        &["cookie", "ticket"][..],
        &["ticket", "cookie"][..],
        &["cookie"][..],
    ] {
        match hello_with(&config, methods, Some("id"), Some(&joe)) {
            Step::Welcome(identity) => {
                assert_eq!(identity.authid, "joe");
                assert_eq!(identity.authmethod, "ticket");
                assert_eq!(identity.authprovider, "cookie");
                // The remembered realm, not the one asked for.
                assert_eq!(identity.realm.as_deref(), Some("realm1"));
                assert_eq!(identity.authextra, Dict::new().with("greeting", "hi"));
            }
            other => panic!("{methods:?}: expected WELCOME, got {other:?}"),
        }
    }
    // Without `cookie` in the client's list, the remembered identity is not used.
    assert!(matches!(
        hello_with(&config, &["ticket"], Some("id"), Some(&joe)),
        Step::Challenge {
            method: "ticket",
            ..
        }
    ));
    // Without cookie auth on the transport, neither.
    let ticket_only = AuthConfig {
        methods: vec![ticket_method()],
    };
    assert!(matches!(
        hello_with(&ticket_only, &["cookie", "ticket"], Some("id"), Some(&joe)),
        Step::Challenge { .. }
    ));
}

#[test]
fn a_cookie_without_authentication_falls_through_or_is_refused() {
    let config = AuthConfig {
        methods: vec![ticket_method(), AuthMethodConfig::Cookie],
    };
    assert!(matches!(
        hello_with(&config, &["cookie", "ticket"], Some("id"), None),
        Step::Challenge {
            method: "ticket",
            ..
        }
    ));
    match hello_with(&config, &["cookie"], Some("id"), None) {
        Step::Abort { reason, cause, .. } => {
            assert_eq!(reason, NO_AUTH_METHOD);
            assert_eq!(cause, Failure::NoAuthMethod);
        }
        other => panic!("expected ABORT, got {other:?}"),
    }
    // No cookie at all (RawSocket): the same.
    assert!(matches!(
        hello_with(&config, &["cookie"], None, None),
        Step::Abort {
            reason: NO_AUTH_METHOD,
            ..
        }
    ));
}

#[test]
fn anonymous_sessions_take_the_cookie_id_as_authid_unless_the_cookie_authenticates() {
    let authid = |config: &AuthConfig, cookie_id: Option<&str>| match hello_with(
        config,
        &["anonymous"],
        cookie_id,
        None,
    ) {
        Step::Welcome(identity) => identity.authid,
        other => panic!("expected WELCOME, got {other:?}"),
    };
    let plain = AuthConfig {
        methods: vec![anonymous_method(None)],
    };
    assert_eq!(authid(&plain, Some("CookieId123")), "CookieId123");
    assert_eq!(authid(&plain, None).len(), 29, "random without a cookie");
    // A configured authid wins.
    let fixed = AuthConfig {
        methods: vec![anonymous_method(Some("visitor"))],
    };
    assert_eq!(authid(&fixed, Some("CookieId123")), "visitor");
    // With cookie authentication the id is a credential: never shown as an authid.
    let with_cookie_auth = AuthConfig {
        methods: vec![anonymous_method(None), AuthMethodConfig::Cookie],
    };
    let got = authid(&with_cookie_auth, Some("CookieId123"));
    assert_ne!(got, "CookieId123");
    assert_eq!(got.len(), 29);
}
