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
mod basic;
mod broker;
mod catalog;
mod cookie;
mod dealer;
mod dealer_answers;
mod interest;
mod limits;
mod meta;
mod reload;
mod stats;
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
        call_timeout_unit: Default::default(),
        disclose_callee: true,
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
    /// Publications forwarded to each shard by the others.
    pub(super) forwarded: Vec<usize>,
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
        let realm_sessions = Arc::new(crate::router::RealmSessionCounts::default());
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
            forwarded: vec![0; shards],
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
        self.join_hello(conn, realm, Dict::new());
        conn
    }

    fn open_with(
        &mut self,
        shard: usize,
        serializer: Serializer,
        auth: crate::config::AuthConfig,
    ) -> ConnId {
        self.open_limited(shard, serializer, auth, usize::MAX)
    }

    /// Opens a connection whose peer accepts messages of at most `max_message_len` bytes.
    pub(super) fn open_limited(
        &mut self,
        shard: usize,
        serializer: Serializer,
        auth: crate::config::AuthConfig,
        max_message_len: usize,
    ) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let info = TransportInfo {
            serializer,
            peer: "test".into(),
            auth: Arc::new(auth),
            client_cert_sha1: None,
            channel_id: None,
            kind: crate::router::Framing::WebSocket,
            cookie: None,
            max_message_len,
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

    /// Joins `realm` on a connection whose peer accepts at most `max_message_len` bytes.
    pub(super) fn join_limited(
        &mut self,
        shard: usize,
        realm: &str,
        details: Dict,
        max_message_len: usize,
    ) -> ConnId {
        let auth = crate::config::AuthConfig::default();
        let conn = self.open_limited(shard, Serializer::Json, auth, max_message_len);
        self.join_hello(conn, realm, details);
        conn
    }

    fn join_hello(&mut self, conn: ConnId, realm: &str, details: Dict) {
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
        self.join_hello(conn, realm, details);
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
                Output::ToShard { shard: to, msg } => {
                    if matches!(msg.0, Inner::Publish(_)) {
                        self.forwarded[to] += 1;
                    }
                    self.mail[shard][to].push_back(msg)
                }
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

    /// Hands `msg` to its shard's core without delivering the mail it makes: what follows
    /// arrives before any other shard has answered.
    pub(super) fn send_unsettled(&mut self, conn: ConnId, msg: Message) {
        let shard = self.clients[&conn].shard;
        self.cores[shard].handle_message(conn, msg);
        self.collect(shard);
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
            assert!(core.sessions.joined_count() == 0, "sessions left");
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
