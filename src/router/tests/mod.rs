//! Deterministic tests of the router core: several cores wired by in-memory mailboxes, fake
//! connections, no sockets. Mail between shards is delivered in a seeded order that keeps each
//! ordered shard pair FIFO (as the real mailboxes do) and otherwise interleaves adversarially.

use std::collections::VecDeque;
use std::sync::Arc;

use hashbrown::HashMap;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::*;

mod authorizer;
mod broker;
mod cookie;
mod dealer;
mod meta;
use crate::codec::Serializer;
use crate::config::{Allow, AnonymousAuth, Disclose, Permission, RealmConfig, RoleConfig};
use crate::wamp::uri::{MatchPolicy, UriCheck};
use crate::wamp::Payload;

pub(super) const ALL: Allow = Allow {
    call: true,
    register: true,
    publish: true,
    subscribe: true,
};

pub(super) fn realm(name: &str, permissions: Vec<Permission>) -> RealmConfig {
    RealmConfig {
        name: name.into(),
        roles: vec![RoleConfig {
            name: "anonymous".into(),
            permissions,
            authorizer: None,
        }],
        uri_check: UriCheck::Loose,
        enable_meta_api: true,
        max_sessions: None,
        store: None,
    }
}

pub(super) fn allow_all() -> Vec<Permission> {
    vec![perm("", MatchPolicy::Prefix, ALL, Disclose::default())]
}

pub(super) fn perm(
    uri: &str,
    match_policy: MatchPolicy,
    allow: Allow,
    disclose: Disclose,
) -> Permission {
    Permission {
        uri: uri.into(),
        match_policy,
        allow,
        disclose,
        cache: false,
    }
}

pub(super) struct Client {
    shard: usize,
    serializer: Serializer,
    inbox: VecDeque<Message>,
    closed: bool,
    session: u64,
    next_request: u64,
}

pub(super) struct Net {
    base: std::time::Instant,
    elapsed: std::time::Duration,
    cores: Vec<Core>,
    clients: HashMap<ConnId, Client>,
    /// `mail[from][to]`
    mail: Vec<Vec<VecDeque<ShardMsg>>>,
    rng: SmallRng,
    next_conn: u64,
}

impl Net {
    pub(super) fn new(shards: usize, realms: Vec<RealmConfig>, seed: u64) -> Self {
        Self::with_limits(shards, realms, seed, 1000)
    }

    /// A net whose cores allow `max_pending_calls` outstanding calls per session.
    pub(super) fn with_limits(
        shards: usize,
        realms: Vec<RealmConfig>,
        seed: u64,
        max_pending_calls: usize,
    ) -> Self {
        let base = std::time::Instant::now();
        let throttle = Arc::new(std::sync::Mutex::new(crate::auth::FailureTracker::new(
            crate::auth::ThrottleConfig::default(),
        )));
        let realm_sessions: Arc<[std::sync::atomic::AtomicUsize]> = realms
            .iter()
            .map(|_| std::sync::atomic::AtomicUsize::new(0))
            .collect();
        let cores = (0..shards)
            .map(|shard| {
                Core::new(CoreConfig {
                    shard,
                    shards,
                    realms: realms.clone(),
                    node_id: "node".into(),
                    worker_id: "worker001".into(),
                    pid: 1,
                    seed: seed + shard as u64,
                    start: base,
                    hello_timeout: std::time::Duration::from_secs(10),
                    max_pending_calls,
                    realm_sessions: Arc::clone(&realm_sessions),
                    crypto_seed: [seed as u8; 32],
                    throttle: Arc::clone(&throttle),
                    node_key: None,
                })
            })
            .collect();
        Net {
            base,
            elapsed: std::time::Duration::ZERO,
            cores,
            clients: HashMap::new(),
            mail: (0..shards)
                .map(|_| (0..shards).map(|_| VecDeque::new()).collect())
                .collect(),
            rng: SmallRng::seed_from_u64(seed),
            next_conn: 1,
        }
    }

    pub(super) fn open(&mut self, shard: usize, serializer: Serializer) -> ConnId {
        self.open_with(shard, serializer, crate::config::AuthConfig::default())
    }

    /// Opens a connection whose transport authenticates anonymous sessions as `role`, and
    /// joins `realm` with it.
    pub(super) fn join_as(&mut self, shard: usize, realm: &str, role: &str) -> ConnId {
        use crate::config::{AuthConfig, AuthMethodConfig, Authenticator};
        let auth = AuthConfig {
            methods: vec![AuthMethodConfig::Anonymous(Authenticator::Static(
                AnonymousAuth {
                    role: role.into(),
                    authid: None,
                },
            ))],
        };
        let conn = self.open_with(shard, Serializer::Json, auth);
        let hello = Message::Hello {
            realm: realm.into(),
            details: Dict::new(),
        };
        self.send(conn, hello);
        match self.recv(conn) {
            Some(Message::Welcome { session, .. }) => {
                self.clients.get_mut(&conn).unwrap().session = session
            }
            other => panic!("expected WELCOME, got {other:?}"),
        }
        conn
    }

    fn open_with(
        &mut self,
        shard: usize,
        serializer: Serializer,
        auth: crate::config::AuthConfig,
    ) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let info = TransportInfo {
            serializer,
            peer: "test".into(),
            auth: Arc::new(auth),
            client_cert_sha1: None,
            channel_id: None,
            kind: "websocket",
            cookie: None,
        };
        self.cores[shard].handle_open(conn, info);
        self.clients.insert(
            conn,
            Client {
                shard,
                serializer,
                inbox: VecDeque::new(),
                closed: false,
                session: 0,
                next_request: 1,
            },
        );
        conn
    }

    /// Opens a connection and joins `realm`, returning the connection after WELCOME.
    pub(super) fn join(&mut self, shard: usize, serializer: Serializer, realm: &str) -> ConnId {
        self.join_with(shard, serializer, realm, Dict::new())
    }

    /// Joins with HELLO `details` (e.g. announced client features).
    pub(super) fn join_with(
        &mut self,
        shard: usize,
        serializer: Serializer,
        realm: &str,
        details: Dict,
    ) -> ConnId {
        let conn = self.open(shard, serializer);
        self.send(
            conn,
            Message::Hello {
                realm: realm.into(),
                details,
            },
        );
        match self.recv(conn) {
            Some(Message::Welcome { session, .. }) => {
                self.clients.get_mut(&conn).unwrap().session = session
            }
            other => panic!("expected WELCOME, got {other:?}"),
        }
        conn
    }

    pub(super) fn request(&mut self, conn: ConnId) -> u64 {
        let c = self.clients.get_mut(&conn).unwrap();
        c.next_request += 1;
        c.next_request
    }

    pub(super) fn collect(&mut self, shard: usize) {
        while let Some(out) = self.cores[shard].poll_output() {
            match out {
                Output::Send { conn, frame } => self.receive(shard, conn, &frame),
                Output::SendMany { conns, frame } => {
                    for conn in conns {
                        self.receive(shard, conn, &frame);
                    }
                }
                Output::Close { conn } => self.clients.get_mut(&conn).unwrap().closed = true,
                Output::ToShard { shard: to, msg } => self.mail[shard][to].push_back(msg),
            }
        }
    }

    fn receive(&mut self, shard: usize, conn: ConnId, frame: &[u8]) {
        let client = self
            .clients
            .get_mut(&conn)
            .expect("frame for an unknown connection");
        assert!(!client.closed, "frame sent after close");
        assert_eq!(client.shard, shard, "frame sent by the wrong shard");
        let mut bytes = frame.to_vec();
        let msg = client
            .serializer
            .decode(&mut bytes)
            .expect("router sent an undecodable frame");
        client.inbox.push_back(msg);
    }

    pub(super) fn send(&mut self, conn: ConnId, msg: Message) {
        let shard = self.clients[&conn].shard;
        self.cores[shard].handle_message(conn, msg);
        self.collect(shard);
        self.settle();
    }

    /// Delivers all mail, picking the next (from, to) pair at random.
    pub(super) fn settle(&mut self) {
        loop {
            let pairs: Vec<(usize, usize)> = (0..self.cores.len())
                .flat_map(|f| (0..self.cores.len()).map(move |t| (f, t)))
                .filter(|&(f, t)| !self.mail[f][t].is_empty())
                .collect();
            if pairs.is_empty() {
                return;
            }
            let (from, to) = pairs[self.rng.random_range(0..pairs.len())];
            self.deliver_one(from, to);
        }
    }

    pub(super) fn deliver_one(&mut self, from: usize, to: usize) -> bool {
        let Some(msg) = self.mail[from][to].pop_front() else {
            return false;
        };
        self.cores[to].handle_shard(msg);
        self.collect(to);
        true
    }

    /// Moves the fake clock forward and lets every core fire its timers.
    pub(super) fn advance(&mut self, by: std::time::Duration) {
        self.elapsed += by;
        for shard in 0..self.cores.len() {
            self.cores[shard]
                .handle_tick(self.base + self.elapsed, std::time::SystemTime::UNIX_EPOCH);
            self.collect(shard);
        }
        self.settle();
    }

    pub(super) fn recv(&mut self, conn: ConnId) -> Option<Message> {
        self.clients.get_mut(&conn).unwrap().inbox.pop_front()
    }

    pub(super) fn recv_all(&mut self, conn: ConnId) -> Vec<Message> {
        self.clients
            .get_mut(&conn)
            .unwrap()
            .inbox
            .drain(..)
            .collect()
    }

    pub(super) fn close(&mut self, conn: ConnId) {
        let shard = self.clients[&conn].shard;
        self.cores[shard].handle_closed(conn);
        self.clients.get_mut(&conn).unwrap().closed = true;
        self.collect(shard);
        self.settle();
    }

    pub(super) fn subscribe(&mut self, conn: ConnId, topic: &str) -> u64 {
        let request = self.request(conn);
        self.send(
            conn,
            Message::Subscribe {
                request,
                options: Dict::new(),
                topic: topic.into(),
            },
        );
        match self.recv(conn) {
            Some(Message::Subscribed {
                request: r,
                subscription,
            }) if r == request => subscription,
            other => panic!("expected SUBSCRIBED, got {other:?}"),
        }
    }

    pub(super) fn register(&mut self, conn: ConnId, procedure: &str) -> u64 {
        let request = self.request(conn);
        self.send(
            conn,
            Message::Register {
                request,
                options: Dict::new(),
                procedure: procedure.into(),
            },
        );
        match self.recv(conn) {
            Some(Message::Registered {
                request: r,
                registration,
            }) if r == request => registration,
            other => panic!("expected REGISTERED, got {other:?}"),
        }
    }

    pub(super) fn publish(
        &mut self,
        conn: ConnId,
        topic: &str,
        args: Vec<Value>,
        options: Dict,
    ) -> u64 {
        let request = self.request(conn);
        let msg = Message::Publish {
            request,
            options,
            topic: topic.into(),
            payload: Payload::args(args),
        };
        self.send(conn, msg);
        request
    }

    /// Asserts every core holds nothing for any session: no subscription, registration, pending call.
    pub(super) fn assert_empty(&self) {
        for core in &self.cores {
            assert!(core.by_session_id.is_empty(), "sessions left");
            for realm in &core.realms {
                assert!(
                    realm.broker.is_empty(),
                    "subscriptions left on shard {}",
                    core.shard
                );
                assert!(
                    realm.dealer.is_empty(),
                    "registrations left on shard {}",
                    core.shard
                );
                assert_eq!(realm.local_sessions, 0);
            }
        }
    }
}

pub(super) fn error_uri(msg: Option<Message>) -> String {
    match msg {
        Some(Message::Error { error, .. }) => error,
        other => panic!("expected ERROR, got {other:?}"),
    }
}

pub(super) fn event_args(msg: Option<Message>) -> Vec<Value> {
    match msg {
        Some(Message::Event { payload, .. }) => payload.args.unwrap_or_default(),
        other => panic!("expected EVENT, got {other:?}"),
    }
}

#[test]
fn welcome_announces_roles_and_anonymous_identity() {
    let mut net = Net::new(1, vec![realm("realm1", allow_all())], 1);
    let conn = net.open(0, Serializer::Json);
    net.send(
        conn,
        Message::Hello {
            realm: "realm1".into(),
            details: Dict::new(),
        },
    );
    let Some(Message::Welcome { session, details }) = net.recv(conn) else {
        panic!("no WELCOME")
    };
    assert!((1..=crate::wamp::id::MAX_ID).contains(&session));
    let roles = details.get_dict("roles").unwrap();
    assert!(roles.get_dict("broker").is_some() && roles.get_dict("dealer").is_some());
    assert_eq!(details.get_str("authrole"), Some("anonymous"));
    assert_eq!(details.get_str("authmethod"), Some("anonymous"));
    assert_eq!(details.get_str("authid").map(str::len), Some(29));
}

#[test]
fn unknown_realm_and_unknown_role_abort() {
    let mut net = Net::new(1, vec![realm("realm1", allow_all())], 2);
    let conn = net.open(0, Serializer::Json);
    net.send(
        conn,
        Message::Hello {
            realm: "nope".into(),
            details: Dict::new(),
        },
    );
    assert!(
        matches!(net.recv(conn), Some(Message::Abort { reason, .. }) if reason == "wamp.error.no_such_realm")
    );
    assert!(net.clients[&conn].closed);

    let mut cfg = realm("r2", allow_all());
    cfg.roles[0].name = "backend".into();
    let mut net = Net::new(1, vec![cfg], 2);
    let conn = net.open(0, Serializer::Json);
    net.send(
        conn,
        Message::Hello {
            realm: "r2".into(),
            details: Dict::new(),
        },
    );
    assert!(
        matches!(net.recv(conn), Some(Message::Abort { reason, .. }) if reason == "wamp.error.no_such_role")
    );
}

#[test]
fn messages_out_of_order_are_protocol_violations() {
    let mut net = Net::new(1, vec![realm("realm1", allow_all())], 3);
    let early = net.open(0, Serializer::Json);
    net.send(
        early,
        Message::Subscribe {
            request: 1,
            options: Dict::new(),
            topic: "a.b".into(),
        },
    );
    match net.recv(early) {
        Some(Message::Abort { reason, details }) => {
            assert_eq!(reason, "wamp.error.protocol_violation");
            assert!(details.get_str("message").unwrap().contains("before HELLO"));
        }
        other => panic!("expected ABORT, got {other:?}"),
    }
    assert!(net.clients[&early].closed);

    let twice = net.join(0, Serializer::Json, "realm1");
    net.send(
        twice,
        Message::Hello {
            realm: "realm1".into(),
            details: Dict::new(),
        },
    );
    assert!(
        matches!(net.recv(twice), Some(Message::Abort { reason, .. }) if reason == "wamp.error.protocol_violation")
    );

    let bad = net.join(0, Serializer::Json, "realm1");
    net.send(
        bad,
        Message::Event {
            subscription: 1,
            publication: 1,
            details: Dict::new(),
            payload: Payload::empty(),
        },
    );
    assert!(matches!(net.recv(bad), Some(Message::Abort { .. })));
    net.assert_empty();
}

#[test]
fn pubsub_across_shards_and_serializers_with_publisher_exclusion() {
    for seed in 0..20 {
        let mut net = Net::new(3, vec![realm("realm1", allow_all())], seed);
        let sub_json = net.join(1, Serializer::Json, "realm1");
        let sub_mp = net.join(2, Serializer::MsgPack, "realm1");
        let publisher = net.join(0, Serializer::MsgPack, "realm1");
        let id1 = net.subscribe(sub_json, "com.myapp.hello");
        let id2 = net.subscribe(sub_mp, "com.myapp.hello");
        assert_eq!(id1, id2, "one subscription id across shards");
        let own = net.subscribe(publisher, "com.myapp.hello");
        assert_eq!(own, id1);

        let args = vec![
            Value::Str("Hello World 0".into()),
            Value::Bytes(vec![0, 1, 255]),
            Value::Int(1 << 53),
        ];
        let request = net.publish(
            publisher,
            "com.myapp.hello",
            args.clone(),
            Dict::new().with("acknowledge", true),
        );
        assert!(
            matches!(net.recv(publisher), Some(Message::Published { request: r, .. }) if r == request)
        );
        assert_eq!(event_args(net.recv(sub_json)), args);
        assert_eq!(event_args(net.recv(sub_mp)), args);
        assert!(
            net.recv(publisher).is_none(),
            "publisher excluded by default"
        );

        net.publish(
            publisher,
            "com.myapp.hello",
            vec![Value::Int(2)],
            Dict::new().with("exclude_me", false),
        );
        assert_eq!(event_args(net.recv(publisher)), vec![Value::Int(2)]);
        for c in [sub_json, sub_mp, publisher] {
            net.close(c);
        }
        net.assert_empty();
    }
}

#[test]
fn events_from_one_publisher_arrive_in_order_across_topics_and_shards() {
    for seed in 0..10 {
        let mut net = Net::new(2, vec![realm("realm1", allow_all())], seed);
        let subscriber = net.join(1, Serializer::Json, "realm1");
        let publisher = net.join(0, Serializer::Json, "realm1");
        net.subscribe(subscriber, "t.a");
        net.subscribe(subscriber, "t.b");
        for i in 0..50 {
            let topic = if i % 3 == 0 { "t.a" } else { "t.b" };
            net.publish(publisher, topic, vec![Value::Int(i)], Dict::new());
        }
        let got: Vec<Value> = net
            .recv_all(subscriber)
            .into_iter()
            .flat_map(|m| event_args(Some(m)))
            .collect();
        assert_eq!(got, (0..50).map(Value::Int).collect::<Vec<_>>());
    }
}

#[test]
fn pattern_subscriptions_carry_the_concrete_topic() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 4);
    let subscriber = net.join(1, Serializer::Json, "realm1");
    let publisher = net.join(0, Serializer::Json, "realm1");
    for (policy, uri) in [("prefix", "com.iot."), ("wildcard", "com.iot..temperature")] {
        let request = net.request(subscriber);
        let options = Dict::new().with("match", policy);
        net.send(
            subscriber,
            Message::Subscribe {
                request,
                options,
                topic: uri.into(),
            },
        );
        assert!(matches!(
            net.recv(subscriber),
            Some(Message::Subscribed { .. })
        ));
    }
    net.publish(
        publisher,
        "com.iot.dev1.temperature",
        vec![Value::Int(21)],
        Dict::new(),
    );
    let events = net.recv_all(subscriber);
    assert_eq!(events.len(), 2, "one event per matching subscription");
    for e in events {
        let Message::Event { details, .. } = e else {
            panic!()
        };
        assert_eq!(details.get_str("topic"), Some("com.iot.dev1.temperature"));
    }
}

#[test]
fn rpc_across_shards_and_a_call_after_registered_always_finds_the_procedure() {
    for seed in 0..20 {
        let mut net = Net::new(3, vec![realm("realm1", allow_all())], seed);
        let callee = net.join(1, Serializer::Json, "realm1");
        let caller = net.join(2, Serializer::MsgPack, "realm1");
        // Register with only the home shard's reply delivered: shard 2's replica stays stale.
        let request = net.request(callee);
        net.cores[1].handle_message(
            callee,
            Message::Register {
                request,
                options: Dict::new(),
                procedure: "com.myapp.date".into(),
            },
        );
        net.collect(1);
        while net.deliver_one(1, 0) {}
        while net.deliver_one(0, 1) {}
        let Some(Message::Registered { registration, .. }) = net.recv(callee) else {
            panic!("no REGISTERED")
        };
        assert!(
            !net.mail[0][2].is_empty(),
            "replica update to shard 2 still in flight"
        );

        let call_request = net.request(caller);
        let payload = Payload {
            args: Some(vec![Value::Int(1)]),
            kwargs: Some(Dict::new().with("k", "v")),
        };
        net.send(
            caller,
            Message::Call {
                request: call_request,
                options: Dict::new(),
                procedure: "com.myapp.date".into(),
                payload: payload.clone(),
            },
        );
        let Some(Message::Invocation {
            request: inv,
            registration: reg,
            payload: got,
            ..
        }) = net.recv(callee)
        else {
            panic!("no INVOCATION")
        };
        assert_eq!(reg, registration);
        assert_eq!(got, payload);
        net.send(
            callee,
            Message::Yield {
                request: inv,
                options: Dict::new(),
                payload: Payload::args(vec!["2026-11-25T00:00:00Z".into()]),
            },
        );
        match net.recv(caller) {
            Some(Message::Result {
                request, payload, ..
            }) => {
                assert_eq!(request, call_request);
                assert_eq!(
                    payload.args,
                    Some(vec![Value::Str("2026-11-25T00:00:00Z".into())])
                );
            }
            other => panic!("expected RESULT, got {other:?}"),
        }
        net.close(caller);
        net.close(callee);
        net.assert_empty();
    }
}

#[test]
fn dealer_errors_users_rely_on() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 5);
    let a = net.join(0, Serializer::Json, "realm1");
    let b = net.join(1, Serializer::Json, "realm1");
    let reg = net.register(a, "com.x.proc");
    let request = net.request(b);
    net.send(
        b,
        Message::Register {
            request,
            options: Dict::new(),
            procedure: "com.x.proc".into(),
        },
    );
    assert_eq!(
        error_uri(net.recv(b)),
        "wamp.error.procedure_already_exists"
    );

    let request = net.request(b);
    net.send(
        b,
        Message::Call {
            request,
            options: Dict::new(),
            procedure: "com.x.none".into(),
            payload: Payload::empty(),
        },
    );
    assert_eq!(error_uri(net.recv(b)), "wamp.error.no_such_procedure");

    let request = net.request(b);
    net.send(
        b,
        Message::Unregister {
            request,
            registration: reg,
        },
    );
    assert_eq!(error_uri(net.recv(b)), "wamp.error.no_such_registration");

    let request = net.request(b);
    net.send(
        b,
        Message::Unsubscribe {
            request,
            subscription: 42,
        },
    );
    assert_eq!(error_uri(net.recv(b)), "wamp.error.no_such_subscription");

    let request = net.request(b);
    net.send(
        b,
        Message::Call {
            request,
            options: Dict::new(),
            procedure: "bad uri".into(),
            payload: Payload::empty(),
        },
    );
    assert_eq!(error_uri(net.recv(b)), "wamp.error.invalid_uri");

    let request = net.request(b);
    net.send(
        b,
        Message::Register {
            request,
            options: Dict::new(),
            procedure: "wamp.session.count".into(),
        },
    );
    assert_eq!(error_uri(net.recv(b)), "wamp.error.invalid_uri");

    // The callee's error reaches the caller with its URI and arguments.
    let request = net.request(b);
    net.send(
        b,
        Message::Call {
            request,
            options: Dict::new(),
            procedure: "com.x.proc".into(),
            payload: Payload::empty(),
        },
    );
    let Some(Message::Invocation { request: inv, .. }) = net.recv(a) else {
        panic!()
    };
    let payload = Payload::args(vec!["went wrong".into()]);
    net.send(
        a,
        Message::Error {
            request_type: 68,
            request: inv,
            details: Dict::new(),
            error: "com.myapp.error1".into(),
            payload: payload.clone(),
        },
    );
    match net.recv(b) {
        Some(Message::Error {
            request_type: 48,
            request: r,
            error,
            payload: p,
            ..
        }) => {
            assert_eq!(
                (r, error.as_str(), p),
                (request, "com.myapp.error1", payload)
            );
        }
        other => panic!("expected ERROR, got {other:?}"),
    }

    let request = net.request(a);
    net.send(
        a,
        Message::Unregister {
            request,
            registration: reg,
        },
    );
    assert!(matches!(net.recv(a), Some(Message::Unregistered { request: r }) if r == request));
    let request = net.request(b);
    net.send(
        b,
        Message::Call {
            request,
            options: Dict::new(),
            procedure: "com.x.proc".into(),
            payload: Payload::empty(),
        },
    );
    assert_eq!(error_uri(net.recv(b)), "wamp.error.no_such_procedure");
    net.close(a);
    net.close(b);
    net.assert_empty();
}

#[test]
fn callee_leaving_mid_call_cancels_and_caller_leaving_is_forgotten() {
    for seed in 0..10 {
        let mut net = Net::new(2, vec![realm("realm1", allow_all())], seed);
        let callee = net.join(1, Serializer::Json, "realm1");
        let caller = net.join(0, Serializer::Json, "realm1");
        net.register(callee, "com.slow");
        let request = net.request(caller);
        net.send(
            caller,
            Message::Call {
                request,
                options: Dict::new(),
                procedure: "com.slow".into(),
                payload: Payload::empty(),
            },
        );
        assert!(matches!(net.recv(callee), Some(Message::Invocation { .. })));
        net.close(callee);
        assert_eq!(error_uri(net.recv(caller)), "wamp.error.canceled");

        let callee = net.join(1, Serializer::Json, "realm1");
        net.register(callee, "com.slow");
        let request = net.request(caller);
        net.send(
            caller,
            Message::Call {
                request,
                options: Dict::new(),
                procedure: "com.slow".into(),
                payload: Payload::empty(),
            },
        );
        let Some(Message::Invocation { request: inv, .. }) = net.recv(callee) else {
            panic!()
        };
        net.close(caller);
        net.send(
            callee,
            Message::Yield {
                request: inv,
                options: Dict::new(),
                payload: Payload::empty(),
            },
        );
        net.close(callee);
        net.assert_empty();
    }
}

#[test]
fn reused_call_request_id_is_a_protocol_violation() {
    let mut net = Net::new(1, vec![realm("realm1", allow_all())], 6);
    let callee = net.join(0, Serializer::Json, "realm1");
    let caller = net.join(0, Serializer::Json, "realm1");
    net.register(callee, "com.slow");
    for _ in 0..2 {
        net.send(
            caller,
            Message::Call {
                request: 7,
                options: Dict::new(),
                procedure: "com.slow".into(),
                payload: Payload::empty(),
            },
        );
    }
    assert!(
        matches!(net.recv(caller), Some(Message::Abort { reason, .. }) if reason == "wamp.error.protocol_violation")
    );
    assert!(net.clients[&caller].closed);
    net.close(caller);
    net.close(callee);
    net.assert_empty();
}

#[test]
fn static_permissions_are_enforced_and_disclose_identity() {
    let permissions = vec![
        perm(
            "com.public.",
            MatchPolicy::Prefix,
            Allow {
                subscribe: true,
                publish: true,
                ..Allow::default()
            },
            Disclose {
                publisher: true,
                caller: false,
            },
        ),
        perm(
            "com.rpc.",
            MatchPolicy::Prefix,
            Allow {
                call: true,
                register: true,
                ..Allow::default()
            },
            Disclose {
                publisher: false,
                caller: true,
            },
        ),
    ];
    let mut net = Net::new(2, vec![realm("realm1", permissions)], 7);
    let a = net.join(0, Serializer::Json, "realm1");
    let b = net.join(1, Serializer::Json, "realm1");
    let request = net.request(a);
    net.send(
        a,
        Message::Subscribe {
            request,
            options: Dict::new(),
            topic: "com.private.x".into(),
        },
    );
    assert_eq!(error_uri(net.recv(a)), "wamp.error.not_authorized");
    let request = net.request(a);
    net.send(
        a,
        Message::Register {
            request,
            options: Dict::new(),
            procedure: "com.public.p".into(),
        },
    );
    assert_eq!(error_uri(net.recv(a)), "wamp.error.not_authorized");
    let request = net.publish(
        a,
        "com.private.x",
        vec![],
        Dict::new().with("acknowledge", true),
    );
    assert!(
        matches!(net.recv(a), Some(Message::Error { request: r, error, .. }) if r == request && error == "wamp.error.not_authorized")
    );
    net.publish(a, "com.private.x", vec![], Dict::new());
    assert!(net.recv(a).is_none(), "unacknowledged refusals are silent");

    net.subscribe(b, "com.public.news");
    net.publish(a, "com.public.news", vec![Value::Int(1)], Dict::new());
    let Some(Message::Event { details, .. }) = net.recv(b) else {
        panic!("no EVENT")
    };
    assert_eq!(
        details.get("publisher").and_then(Value::as_u64),
        Some(net.clients[&a].session)
    );

    net.register(b, "com.rpc.add");
    let request = net.request(a);
    net.send(
        a,
        Message::Call {
            request,
            options: Dict::new(),
            procedure: "com.rpc.add".into(),
            payload: Payload::empty(),
        },
    );
    let Some(Message::Invocation { details, .. }) = net.recv(b) else {
        panic!("no INVOCATION")
    };
    assert_eq!(
        details.get("caller").and_then(Value::as_u64),
        Some(net.clients[&a].session)
    );
    assert_eq!(details.get_str("caller_authrole"), Some("anonymous"));
}

#[test]
fn goodbye_is_answered_and_the_transport_can_join_again() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 8);
    let conn = net.join(0, Serializer::Json, "realm1");
    net.subscribe(conn, "a.b");
    net.register(conn, "a.c");
    net.send(
        conn,
        Message::Goodbye {
            details: Dict::new(),
            reason: "wamp.close.close_realm".into(),
        },
    );
    assert!(
        matches!(net.recv(conn), Some(Message::Goodbye { reason, .. }) if reason == "wamp.close.normal")
    );
    assert!(!net.clients[&conn].closed);
    net.assert_empty();
    net.send(
        conn,
        Message::Hello {
            realm: "realm1".into(),
            details: Dict::new(),
        },
    );
    assert!(matches!(net.recv(conn), Some(Message::Welcome { .. })));
}

#[test]
fn shutdown_says_goodbye_to_every_session() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 9);
    let a = net.join(0, Serializer::Json, "realm1");
    let b = net.join(1, Serializer::MsgPack, "realm1");
    net.subscribe(a, "x.y");
    for shard in 0..2 {
        net.cores[shard].shutdown();
        net.collect(shard);
    }
    for c in [a, b] {
        assert!(
            matches!(net.recv(c), Some(Message::Goodbye { reason, .. }) if reason == "wamp.close.system_shutdown")
        );
        assert!(net.clients[&c].closed);
    }
}

#[test]
fn random_churn_leaves_nothing_behind() {
    for seed in 0..30 {
        let mut net = Net::new(3, vec![realm("realm1", allow_all())], seed);
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut live: Vec<ConnId> = Vec::new();
        for step in 0..300 {
            let choice = rng.random_range(0..10);
            if live.is_empty() || choice == 0 {
                let shard = rng.random_range(0..3);
                live.push(net.join(shard, Serializer::Json, "realm1"));
                continue;
            }
            let conn = live[rng.random_range(0..live.len())];
            let topic = format!("t.{}", rng.random_range(0..4));
            let request = net.request(conn);
            let msg = match choice {
                1 | 2 => Message::Subscribe {
                    request,
                    options: Dict::new(),
                    topic,
                },
                3 => Message::Publish {
                    request,
                    options: Dict::new(),
                    topic,
                    payload: Payload::args(vec![Value::Int(step)]),
                },
                4 => Message::Register {
                    request,
                    options: Dict::new(),
                    procedure: topic,
                },
                5 | 6 => Message::Call {
                    request,
                    options: Dict::new(),
                    procedure: topic,
                    payload: Payload::empty(),
                },
                _ => {
                    live.retain(|c| *c != conn);
                    net.close(conn);
                    continue;
                }
            };
            net.send(conn, msg);
            // Answer some invocations, leave others pending.
            for c in live.clone() {
                for m in net.recv_all(c) {
                    if let Message::Invocation { request, .. } = m {
                        if rng.random_range(0..2) == 0 {
                            net.send(
                                c,
                                Message::Yield {
                                    request,
                                    options: Dict::new(),
                                    payload: Payload::empty(),
                                },
                            );
                        }
                    }
                }
            }
        }
        for c in live {
            net.close(c);
        }
        net.assert_empty();
    }
}

#[test]
fn a_connection_without_hello_is_closed_after_the_hello_timeout() {
    let mut net = Net::new(1, vec![realm("realm1", allow_all())], 40);
    let silent = net.open(0, Serializer::Json);
    let joined = net.join(0, Serializer::Json, "realm1");
    net.advance(std::time::Duration::from_secs(9));
    assert!(!net.clients[&silent].closed);
    net.advance(std::time::Duration::from_secs(2));
    match net.recv(silent) {
        Some(Message::Abort { reason, details }) => {
            assert_eq!(reason, "wamp.error.protocol_violation");
            assert!(details.get_str("message").unwrap().contains("no HELLO"));
        }
        other => panic!("expected ABORT, got {other:?}"),
    }
    assert!(net.clients[&silent].closed);
    assert!(
        !net.clients[&joined].closed,
        "a joined session is not affected"
    );
}

#[test]
fn max_sessions_is_enforced_across_shards() {
    let mut cfg = realm("realm1", allow_all());
    cfg.max_sessions = Some(2);
    let mut net = Net::new(2, vec![cfg], 41);
    let a = net.join(0, Serializer::Json, "realm1");
    net.join(1, Serializer::Json, "realm1");
    let third = net.open(1, Serializer::Json);
    net.send(
        third,
        Message::Hello {
            realm: "realm1".into(),
            details: Dict::new(),
        },
    );
    assert!(matches!(net.recv(third), Some(Message::Abort { reason, .. }) if reason == REALM_FULL));
    net.close(a);
    net.join(0, Serializer::Json, "realm1");
}

#[test]
fn outstanding_calls_per_session_are_bounded() {
    let mut net = Net::with_limits(1, vec![realm("realm1", allow_all())], 42, 3);
    let callee = net.join(0, Serializer::Json, "realm1");
    let caller = net.join(0, Serializer::Json, "realm1");
    net.register(callee, "com.slow");
    for _ in 0..3 {
        let request = net.request(caller);
        net.send(
            caller,
            Message::Call {
                request,
                options: Dict::new(),
                procedure: "com.slow".into(),
                payload: Payload::empty(),
            },
        );
    }
    assert!(net.recv(caller).is_none());
    let request = net.request(caller);
    net.send(
        caller,
        Message::Call {
            request,
            options: Dict::new(),
            procedure: "com.slow".into(),
            payload: Payload::empty(),
        },
    );
    assert_eq!(error_uri(net.recv(caller)), TOO_MANY_CALLS);
    assert_eq!(net.recv_all(callee).len(), 3);
}

#[test]
fn a_slow_consumer_is_told_why_it_is_closed() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 43);
    let slow = net.join(1, Serializer::MsgPack, "realm1");
    net.subscribe(slow, "com.x");
    net.cores[1].handle_slow_consumer(slow);
    net.collect(1);
    net.settle();
    match net.recv(slow) {
        Some(Message::Goodbye { reason, .. }) => assert_eq!(reason, SLOW_CONSUMER),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    assert!(net.clients[&slow].closed);
    net.close(slow);
    net.assert_empty();
}

#[test]
fn dropped_events_are_reported_to_sessions_that_ask() {
    let mut net = Net::new(1, vec![realm("realm1", allow_all())], 44);
    let watcher = net.join(0, Serializer::Json, "realm1");
    let plain = net.join(0, Serializer::Json, "realm1");
    let sub = net.subscribe(watcher, EVENTS_DROPPED_TOPIC);
    net.cores[0].handle_events_dropped(watcher, 42);
    net.cores[0].handle_events_dropped(plain, 7);
    net.collect(0);
    match net.recv(watcher) {
        Some(Message::Event {
            subscription,
            payload,
            ..
        }) => {
            assert_eq!(subscription, sub);
            assert_eq!(payload.args.unwrap()[0], Value::Int(42));
        }
        other => panic!("expected EVENT, got {other:?}"),
    }
    assert!(
        net.recv(plain).is_none(),
        "only subscribers of the topic are told"
    );
}
