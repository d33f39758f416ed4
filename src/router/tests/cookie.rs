//! Cookie authentication through the core: a join remembers the identity on the connection's
//! cookie, a later connection with that cookie and `cookie` among its authmethods joins at once,
//! a HELLO without `cookie` revokes it, `wamp.close.logout` deletes it.

use std::sync::Arc;

use super::*;
use crate::auth::cookie::{CookieSession, CookieStore};
use crate::config::{
    AuthConfig, AuthMethodConfig, Authenticator, CookieConfig, CookieStoreConfig, TicketPrincipal,
    TicketPrincipals,
};
use crate::wamp::Value;

/// The core's wall clock in these tests (`Net::advance` ticks with the Unix epoch).
const NOW: u64 = 0;

fn cookie_config() -> CookieConfig {
    CookieConfig {
        path: "workers[0].transports[0].cookie".into(),
        name: "cbtid".into(),
        length: 24,
        max_age: 3600,
        store: CookieStoreConfig::Memory,
        secure: false,
        http_strict: false,
        same_site: None,
    }
}

fn ticket_and_cookie() -> AuthConfig {
    AuthConfig {
        methods: vec![
            AuthMethodConfig::Ticket(Authenticator::Static(TicketPrincipals(vec![(
                "joe".into(),
                TicketPrincipal {
                    ticket: "joe-ticket".into(),
                    role: "frontend".into(),
                    realm: None,
                },
            )]))),
            AuthMethodConfig::Cookie,
        ],
    }
}

/// realm1 and realm2, each with the roles `anonymous` and `frontend`.
fn realms() -> Vec<RealmConfig> {
    ["realm1", "realm2"]
        .into_iter()
        .map(|name| {
            let mut r = realm(name, allow_all());
            r.roles.push(RoleConfig {
                name: "frontend".into(),
                permissions: allow_all(),
                authorizer: None,
            });
            r
        })
        .collect()
}

impl Net {
    /// A WebSocket connection with this auth and cookie.
    fn open_cookie(
        &mut self,
        shard: usize,
        auth: &AuthConfig,
        cookie: Option<CookieSession>,
    ) -> ConnId {
        let conn = self.open(shard, Serializer::Json);
        // Reopen the same connection id with the cookie: the core replaces the session.
        let info = TransportInfo {
            serializer: Serializer::Json,
            peer: "tcp4:127.0.0.1:1".into(),
            auth: Arc::new(auth.clone()),
            client_cert_sha1: None,
            channel_id: None,
            kind: crate::router::Framing::WebSocket,
            cookie,
            max_message_len: usize::MAX,
        };
        self.cores[shard].handle_open(conn, info);
        conn
    }

    fn hello(&mut self, conn: ConnId, realm: &str, methods: &[&str]) -> Option<Message> {
        let list: Vec<Value> = methods.iter().map(|m| Value::from(*m)).collect();
        let details = Dict::new()
            .with("authmethods", Value::List(list))
            .with("authid", "joe");
        self.send(
            conn,
            Message::Hello {
                realm: realm.into(),
                details,
            },
        );
        self.recv(conn)
    }

    /// Joins by ticket on a fresh cookie; returns the cookie.
    fn ticket_join(&mut self, store: &Arc<CookieStore>) -> (ConnId, CookieSession) {
        let session = store.upgrade(&[], NOW).session;
        let conn = self.open_cookie(0, &ticket_and_cookie(), Some(session.clone()));
        let Some(Message::Challenge { method, .. }) =
            self.hello(conn, "realm1", &["cookie", "ticket"])
        else {
            panic!("expected a ticket CHALLENGE on a fresh cookie")
        };
        assert_eq!(method, "ticket");
        self.send(
            conn,
            Message::Authenticate {
                signature: "joe-ticket".into(),
                extra: Dict::new(),
            },
        );
        assert!(matches!(self.recv(conn), Some(Message::Welcome { .. })));
        (conn, session)
    }
}

fn store() -> Arc<CookieStore> {
    Arc::new(CookieStore::new(cookie_config(), [11; 32]))
}

/// The cookie as the next connection of the same browser presents it.
fn presented(store: &Arc<CookieStore>, cookie: &CookieSession) -> CookieSession {
    let up = store.upgrade(&[&format!("cbtid={}", cookie.id())], NOW);
    assert_eq!(up.session.id(), cookie.id());
    assert_eq!(up.set_cookie, None);
    up.session
}

#[test]
fn a_ticket_join_is_remembered_and_the_cookie_then_authenticates() {
    let mut net = Net::new(2, realms(), 21);
    let store = store();
    let (_, cookie) = net.ticket_join(&store);
    let remembered = cookie.authentication(NOW).expect("remembered");
    assert_eq!(
        (
            remembered.authid.as_str(),
            remembered.authrole.as_str(),
            remembered.authmethod.as_str(),
            remembered.authrealm.as_str()
        ),
        ("joe", "frontend", "ticket", "realm1")
    );
    // Another connection (other shard) with the cookie: WELCOME at once, no CHALLENGE, in the
    // remembered realm whatever it asked for.
    let again = presented(&store, &cookie);
    let conn = net.open_cookie(1, &ticket_and_cookie(), Some(again));
    match net.hello(conn, "realm2", &["cookie", "ticket"]) {
        Some(Message::Welcome { details, .. }) => {
            assert_eq!(details.get_str("authid"), Some("joe"));
            assert_eq!(details.get_str("authrole"), Some("frontend"));
            assert_eq!(details.get_str("authmethod"), Some("ticket"));
            assert_eq!(details.get_str("authprovider"), Some("cookie"));
            assert_eq!(details.get_str("realm"), Some("realm1"));
            let extra = details.get_dict("authextra").unwrap();
            assert!(extra.get("x_cb_node").is_some(), "{extra:?}");
        }
        other => panic!("expected WELCOME, got {other:?}"),
    }
    // Leaving normally keeps the cookie authenticated.
    net.send(
        conn,
        Message::Goodbye {
            details: Dict::new(),
            reason: "wamp.close.close_realm".into(),
        },
    );
    assert!(matches!(net.recv(conn), Some(Message::Goodbye { .. })));
    assert!(cookie.authentication(NOW).is_some());
}

#[test]
fn a_hello_without_cookie_revokes_it_and_authenticates_anew() {
    let mut net = Net::new(1, realms(), 22);
    let store = store();
    let (_, cookie) = net.ticket_join(&store);
    let conn = net.open_cookie(0, &ticket_and_cookie(), Some(presented(&store, &cookie)));
    assert!(matches!(
        net.hello(conn, "realm1", &["ticket"]),
        Some(Message::Challenge { .. })
    ));
    assert_eq!(cookie.authentication(NOW), None, "revoked at HELLO");
    net.send(
        conn,
        Message::Authenticate {
            signature: "wrong".into(),
            extra: Dict::new(),
        },
    );
    assert!(matches!(net.recv(conn), Some(Message::Abort { .. })));
    // Still revoked: cookie alone no longer gets in.
    let conn = net.open_cookie(
        0,
        &ticket_and_cookie(),
        Some(presented_unchecked(&store, &cookie)),
    );
    match net.hello(conn, "realm1", &["cookie"]) {
        Some(Message::Abort { reason, .. }) => assert_eq!(reason, "wamp.error.no_auth_method"),
        other => panic!("expected ABORT, got {other:?}"),
    }
}

/// As [`presented`], for a cookie the store may no longer know (then it is a new one).
fn presented_unchecked(store: &Arc<CookieStore>, cookie: &CookieSession) -> CookieSession {
    store
        .upgrade(&[&format!("cbtid={}", cookie.id())], NOW)
        .session
}

#[test]
fn logout_deletes_the_cookies_authentication() {
    let mut net = Net::new(1, realms(), 23);
    let store = store();
    let (conn, cookie) = net.ticket_join(&store);
    net.send(
        conn,
        Message::Goodbye {
            details: Dict::new(),
            reason: "wamp.close.logout".into(),
        },
    );
    assert!(matches!(net.recv(conn), Some(Message::Goodbye { .. })));
    assert_eq!(cookie.authentication(NOW), None);
    assert!(store.is_empty());
    // The browser's next connection presents a cookie the store no longer knows: a new one.
    let up = store.upgrade(&[&format!("cbtid={}", cookie.id())], NOW);
    assert_ne!(up.session.id(), cookie.id());
    let conn = net.open_cookie(0, &ticket_and_cookie(), Some(up.session));
    assert!(matches!(
        net.hello(conn, "realm1", &["cookie", "ticket"]),
        Some(Message::Challenge { .. })
    ));
}

#[test]
fn logout_closes_the_cookies_other_connections_on_every_shard() {
    let mut net = Net::new(2, realms(), 25);
    let store = store();
    let (conn, cookie) = net.ticket_join(&store);
    // Another tab, joined by cookie on the other shard; a third, not joined yet.
    let tab = net.open_cookie(1, &ticket_and_cookie(), Some(presented(&store, &cookie)));
    assert!(matches!(
        net.hello(tab, "realm1", &["cookie", "ticket"]),
        Some(Message::Welcome { .. })
    ));
    let idle = net.open_cookie(0, &ticket_and_cookie(), Some(presented(&store, &cookie)));
    // Another browser's cookie is not affected.
    let (other, _) = net.ticket_join(&store);
    net.send(
        conn,
        Message::Goodbye {
            details: Dict::new(),
            reason: "wamp.close.logout".into(),
        },
    );
    assert!(matches!(net.recv(conn), Some(Message::Goodbye { .. })));
    match net.recv(tab) {
        Some(Message::Goodbye { reason, .. }) => assert_eq!(reason, "wamp.close.logout"),
        other => panic!("expected GOODBYE on the other tab, got {other:?}"),
    }
    assert!(net.clients[&tab].closed && net.clients[&idle].closed);
    assert!(
        net.recv(idle).is_none(),
        "nothing for a connection that had not joined"
    );
    assert!(
        !net.clients[&conn].closed,
        "the logging-out connection may join again"
    );
    assert!(!net.clients[&other].closed);
    assert!(net.recv(other).is_none());
    for c in [conn, tab, idle, other] {
        net.close(c);
    }
    net.assert_empty();
}

#[test]
fn anonymous_sessions_are_remembered_with_the_cookie_id_as_authid() {
    let mut net = Net::new(1, realms(), 24);
    let store = store();
    let cookie = store.upgrade(&[], NOW).session;
    let conn = net.open_cookie(0, &AuthConfig::default(), Some(cookie.clone()));
    match net.hello(conn, "realm1", &[]) {
        Some(Message::Welcome { details, .. }) => {
            assert_eq!(details.get_str("authid"), Some(cookie.id()));
            assert_eq!(details.get_str("authmethod"), Some("anonymous"));
        }
        other => panic!("expected WELCOME, got {other:?}"),
    }
    let remembered = cookie.authentication(NOW).unwrap();
    assert_eq!(remembered.authid, cookie.id());
    assert_eq!(remembered.authmethod, "anonymous");
    // RawSocket-like connections (no cookie) keep random authids.
    let plain = net.open_cookie(0, &AuthConfig::default(), None);
    match net.hello(plain, "realm1", &[]) {
        Some(Message::Welcome { details, .. }) => {
            assert_eq!(details.get_str("authid").map(str::len), Some(29))
        }
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

#[test]
fn authorizers_see_the_cookie_id_in_the_transport_details() {
    let mut config = realm("realm1", allow_all());
    config.roles.push(RoleConfig {
        name: "user".into(),
        permissions: Vec::new(),
        authorizer: Some("com.example.authorize".into()),
    });
    let mut net = Net::new(1, vec![config], 26);
    let backend = net.join(0, Serializer::Json, "realm1");
    net.register(backend, "com.example.authorize");
    let store = store();
    let cookie = store.upgrade(&[], NOW).session;
    let as_user = AuthConfig {
        methods: vec![AuthMethodConfig::Anonymous(Authenticator::Static(
            crate::config::AnonymousAuth {
                role: "user".into(),
                authid: None,
            },
        ))],
    };
    let conn = net.open_cookie(0, &as_user, Some(cookie.clone()));
    assert!(matches!(
        net.hello(conn, "realm1", &["anonymous"]),
        Some(Message::Welcome { .. })
    ));
    let request = net.request(conn);
    net.send(
        conn,
        Message::Subscribe {
            request,
            options: Dict::new(),
            topic: "com.x".into(),
        },
    );
    let Some(Message::Invocation { payload, .. }) = net.recv(backend) else {
        panic!("expected the authorizer's INVOCATION")
    };
    let args = payload.args.unwrap_or_default();
    let transport = args[0]
        .as_dict()
        .and_then(|d| d.get_dict("transport"))
        .expect("session_details.transport");
    assert_eq!(transport.get_str("http_cbtid"), Some(cookie.id()));
    assert_eq!(transport.get_str("type"), Some("websocket"));
}
