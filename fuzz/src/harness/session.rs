//! Target `session`: arbitrary message sequences fed to the router core, through its public
//! API only.
//!
//! Two [`Core`]s (two shards) are wired by in-memory mailboxes, as the shard shell wires them.
//! The input is a program over a few connection slots: open a connection (shard, serializer,
//! anonymous role), close it, send it raw bytes (decoded with its serializer as the shell
//! does), send it a message built from the input (HELLO, SUBSCRIBE, PUBLISH with filters,
//! REGISTER with invocation policies, CALL with timeouts and progress, CANCEL, YIELD and ERROR
//! answering the invocations it received, meta API calls, messages only a router may send...),
//! report it malformed, deliver one piece of shard mail (the input picks which mailbox, so
//! delivery interleaves adversarially while each mailbox stays FIFO, as the real rings are), or
//! advance the clock (call timeouts, HELLO timeouts).
//!
//! Invariants, checked after every step:
//! - no panic (and the core's own `debug_assert!`s hold: the fuzz build keeps them on);
//! - every frame the core sends decodes with the serializer of the connection it is for, and
//!   is a message a router may send;
//! - no frame, `Close` or anything else for a connection the shell reported closed, none for a
//!   connection the core never saw, none for a connection after the core's own `Close` of it,
//!   and none from a shard for a connection that lives on another one;
//! - shard mail only goes to a shard that exists, and all mail settles (no endless ping-pong).
//!
//! And at the end, after every connection is closed, all mail delivered and the clock moved
//! past every timeout: no session remains on any shard; a fresh session on each shard finds,
//! through the meta API, exactly the two checker sessions and no subscription or registration
//! in the realm; it can subscribe to and register each test URI (nothing is left registered),
//! and a publication and a call reach exactly the fresh sessions (nothing left subscribed or
//! registered on any shard's local tables, or the frame would go to a dead connection); the
//! realm with `max_sessions = 2` admits two new sessions (its counter came back to zero).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use ferrobar::auth::FailureTracker;
use ferrobar::codec::Serializer;
use ferrobar::config::{
    Allow, AnonymousAuth, AuthConfig, AuthMethodConfig, Authenticator, Disclose, HistoryRule,
    Permission, RealmConfig, RoleConfig, StoreConfig, TicketPrincipal, TicketPrincipals,
};
use ferrobar::router::{
    ConnId, Core, CoreConfig, Output, RealmSessionCounts, ShardMsg, TransportInfo,
};
use ferrobar::wamp::id::MAX_ID;
use ferrobar::wamp::uri::{MatchPolicy, UriCheck};
use ferrobar::wamp::{Dict, Message, Payload, Value};

use super::Input;

mod check;
mod program;

/// Shards (cores) in the simulation.
pub const SHARDS: usize = 2;
/// Connection slots the program addresses.
const SLOTS: usize = 6;
/// Most program steps per input (keeps every execution short).
const MAX_STEPS: usize = 400;
/// Most shard messages delivered while settling before the mail is declared a storm.
const MAIL_LIMIT: usize = 200_000;

const SERIALIZERS: [Serializer; 3] = [Serializer::Json, Serializer::MsgPack, Serializer::Cbor];

/// Topic and procedure URIs the program picks from (valid, invalid, patterns, reserved).
const URIS: &[&str] = &[
    "com.a",
    "com.a.b",
    "com.a.c",
    "com",
    "com..c",
    "com.a.",
    "x.y",
    "",
    "com.A b",
    "wamp.session.on_join",
    "wamp.session.on_leave",
    "wamp.subscription.on_create",
    "wamp.subscription.on_subscribe",
    "wamp.subscription.on_delete",
    "wamp.registration.on_register",
    "wamp.registration.on_create",
    "com.auth",
];

/// Meta procedures (and a reserved one that is not).
const META: &[&str] = &[
    "wamp.session.count",
    "wamp.session.list",
    "wamp.session.get",
    "wamp.session.kill",
    "wamp.session.kill_by_authid",
    "wamp.session.kill_by_authrole",
    "wamp.session.kill_all",
    "wamp.session.add_testament",
    "wamp.session.flush_testaments",
    "wamp.subscription.list",
    "wamp.subscription.lookup",
    "wamp.subscription.match",
    "wamp.subscription.get",
    "wamp.subscription.list_subscribers",
    "wamp.subscription.count_subscribers",
    "wamp.subscription.remove_subscriber",
    "wamp.subscription.get_events",
    "wamp.registration.list",
    "wamp.registration.lookup",
    "wamp.registration.match",
    "wamp.registration.get",
    "wamp.registration.list_callees",
    "wamp.registration.count_callees",
    "wamp.registration.remove_callee",
    "wamp.nope",
];

/// URIs the end-of-run check subscribes to, publishes to, registers and calls.
const CHECK_URIS: &[&str] = &["com.a", "com.a.b", "com.a.c", "com", "x.y"];

const ALL: Allow = Allow {
    call: true,
    register: true,
    publish: true,
    subscribe: true,
};

fn perm(uri: &str, match_policy: MatchPolicy, allow: Allow, disclose: Disclose) -> Permission {
    Permission {
        uri: uri.into(),
        match_policy,
        allow,
        disclose,
        cache: false,
    }
}

/// `realm1`: everything allowed to roles `anonymous` and `trusted` (who also sees reserved
/// URIs in the meta API), a role `user` decided by the dynamic authorizer `com.auth`, meta API
/// on, an event history. `realm2`: strict URIs, a few narrow
/// permissions with forced disclosure, no meta API, at most 2 sessions.
pub fn realms() -> Vec<RealmConfig> {
    let everything = vec![perm("", MatchPolicy::Prefix, ALL, Disclose::default())];
    let realm1 = RealmConfig {
        name: "realm1".into(),
        roles: vec![
            RoleConfig {
                name: "anonymous".into(),
                permissions: everything.clone(),
                authorizer: None,
            },
            RoleConfig {
                name: "trusted".into(),
                permissions: everything,
                authorizer: None,
            },
            RoleConfig {
                name: "user".into(),
                permissions: Vec::new(),
                authorizer: Some("com.auth".into()),
            },
        ],
        uri_check: UriCheck::Loose,
        enable_meta_api: true,
        max_sessions: None,
        store: Some(StoreConfig {
            limit: 3,
            event_history: vec![
                HistoryRule {
                    uri: "com.a".into(),
                    match_policy: MatchPolicy::Exact,
                    limit: 2,
                },
                HistoryRule {
                    uri: "com".into(),
                    match_policy: MatchPolicy::Prefix,
                    limit: 3,
                },
            ],
        }),
        call_timeout_unit: Default::default(),
        disclose_callee: true,
    };
    let pubsub = Allow {
        subscribe: true,
        publish: true,
        ..Allow::default()
    };
    let rpc = Allow {
        call: true,
        register: true,
        ..Allow::default()
    };
    let realm2 = RealmConfig {
        name: "realm2".into(),
        roles: vec![RoleConfig {
            name: "anonymous".into(),
            permissions: vec![
                perm(
                    "com.a",
                    MatchPolicy::Prefix,
                    pubsub,
                    Disclose {
                        caller: false,
                        publisher: true,
                    },
                ),
                perm(
                    "com.a.b",
                    MatchPolicy::Exact,
                    rpc,
                    Disclose {
                        caller: true,
                        publisher: false,
                    },
                ),
                perm("com..c", MatchPolicy::Wildcard, ALL, Disclose::default()),
            ],
            authorizer: None,
        }],
        uri_check: UriCheck::Strict,
        enable_meta_api: false,
        max_sessions: Some(2),
        store: None,
        call_timeout_unit: Default::default(),
        disclose_callee: true,
    };
    vec![realm1, realm2]
}

/// The core configuration of shard `shard` of `shards` (kept in one place: the struct grows).
pub fn core_config(
    shard: usize,
    shards: usize,
    realms: &[RealmConfig],
    start: Instant,
    realm_sessions: &Arc<RealmSessionCounts>,
    throttle: &Arc<Mutex<FailureTracker>>,
) -> CoreConfig {
    CoreConfig {
        shard,
        shards,
        realms: realms.to_vec(),
        node_id: "fuzz".into(),
        worker_id: "worker001".into(),
        pid: 1,
        seed: 7 + shard as u64,
        start,
        hello_timeout: Duration::from_secs(10),
        crypto_seed: [7; 32],
        throttle: Arc::clone(throttle),
        node_key: None,
        max_pending_calls: 4,
        realm_sessions: Arc::clone(realm_sessions),
    }
}

/// The authentication a connection's transport is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Static anonymous, role `anonymous`.
    Anonymous,
    /// Static anonymous, role `trusted`.
    Trusted,
    /// Static anonymous with a role no realm has.
    NoSuchRole,
    /// Static ticket: authid `joe`, ticket `secret`, role `anonymous`; and static anonymous.
    Ticket,
    /// Dynamic anonymous: the router calls `com.auth` (which a fuzzed session may register).
    Dynamic,
    /// Static anonymous, role `user` of realm1, whose actions the authorizer `com.auth`
    /// decides (the same procedure: whatever a fuzzed callee answers).
    Authorized,
}

const AUTHS: [Auth; 6] = [
    Auth::Anonymous,
    Auth::Authorized,
    Auth::Trusted,
    Auth::NoSuchRole,
    Auth::Ticket,
    Auth::Dynamic,
];

impl Auth {
    fn config(self) -> AuthConfig {
        let anonymous = |role: &str| {
            AuthMethodConfig::Anonymous(Authenticator::Static(AnonymousAuth {
                role: role.into(),
                ..AnonymousAuth::default()
            }))
        };
        let methods = match self {
            Auth::Anonymous => vec![anonymous("anonymous")],
            Auth::Trusted => vec![anonymous("trusted")],
            Auth::NoSuchRole => vec![anonymous("nobody")],
            Auth::Authorized => vec![anonymous("user")],
            Auth::Ticket => vec![
                anonymous("anonymous"),
                AuthMethodConfig::Ticket(Authenticator::Static(TicketPrincipals(vec![(
                    "joe".into(),
                    TicketPrincipal {
                        ticket: "secret".into(),
                        role: "anonymous".into(),
                        realm: None,
                    },
                )]))),
            ],
            Auth::Dynamic => vec![AuthMethodConfig::Anonymous(Authenticator::Dynamic {
                procedure: "com.auth".into(),
                realm: Some("realm1".into()),
                role: None,
                default_role: Some("anonymous".into()),
            })],
        };
        AuthConfig { methods }
    }
}

/// What the shell tells the core about a new connection (kept in one place: the struct grows).
pub fn transport_info(serializer: Serializer, auth: AuthConfig) -> TransportInfo {
    TransportInfo {
        serializer,
        peer: "tcp4:127.0.0.1:1".into(),
        auth: Arc::new(auth),
        client_cert_sha1: None,
        channel_id: None,
        kind: ferrobar::router::Framing::WebSocket,
        cookie: None,
        max_message_len: usize::MAX,
    }
}

#[derive(Debug)]
struct Conn {
    shard: usize,
    serializer: Serializer,
    /// The core sent `Close` for it; the shell ignores its input until it reports it closed.
    closing: bool,
}

/// The shell side of the simulation: cores, mailboxes, connections and what they received.
pub struct Sim {
    base: Instant,
    elapsed: Duration,
    cores: Vec<Core>,
    /// `mail[from][to]`
    mail: Vec<Vec<VecDeque<ShardMsg>>>,
    slots: [Option<ConnId>; SLOTS],
    /// Connections opened and not reported closed.
    conns: HashMap<ConnId, Conn>,
    /// Connections reported closed, with their serializer (ids are never reused).
    dead: HashMap<ConnId, Serializer>,
    next_conn: u64,
    /// Ids seen in the router's messages (sessions, subscriptions, registrations, ...).
    ids: Vec<u64>,
    /// INVOCATION / INTERRUPT request ids each connection received.
    invocations: Vec<(ConnId, u64)>,
    /// Decoded frames per connection, kept for the end-of-run check only.
    inbox: HashMap<ConnId, VecDeque<Message>>,
    record: bool,
}

impl Default for Sim {
    fn default() -> Self {
        Self::new()
    }
}

impl Sim {
    /// Two fresh cores with [`realms`].
    pub fn new() -> Self {
        let realms = realms();
        let base = Instant::now();
        let realm_sessions = Arc::new(RealmSessionCounts::default());
        let throttle = Arc::new(Mutex::new(FailureTracker::default()));
        Sim {
            base,
            elapsed: Duration::ZERO,
            cores: (0..SHARDS)
                .map(|s| {
                    Core::new(core_config(
                        s,
                        SHARDS,
                        &realms,
                        base,
                        &realm_sessions,
                        &throttle,
                    ))
                })
                .collect(),
            mail: (0..SHARDS)
                .map(|_| (0..SHARDS).map(|_| VecDeque::new()).collect())
                .collect(),
            slots: [None; SLOTS],
            conns: HashMap::new(),
            dead: HashMap::new(),
            next_conn: 1,
            ids: Vec::new(),
            invocations: Vec::new(),
            inbox: HashMap::new(),
            record: false,
        }
    }

    // ----- the shell -----

    /// Carries out everything shard `shard` asked for, checking each output.
    fn drain(&mut self, shard: usize) {
        while let Some(out) = self.cores[shard].poll_output() {
            match out {
                Output::Send { conn, frame } => self.frame(shard, conn, &frame),
                Output::SendMany { conns, frame } => {
                    let unique: HashSet<&ConnId> = conns.iter().collect();
                    assert_eq!(
                        unique.len(),
                        conns.len(),
                        "SendMany names a connection twice"
                    );
                    for conn in conns {
                        self.frame(shard, conn, &frame);
                    }
                }
                Output::Close { conn } => {
                    assert!(!self.dead.contains_key(&conn), "Close for closed {conn:?}");
                    let c = self
                        .conns
                        .get_mut(&conn)
                        .unwrap_or_else(|| panic!("Close for unknown {conn:?}"));
                    assert_eq!(c.shard, shard, "Close from shard {shard} for {conn:?}");
                    c.closing = true;
                }
                Output::ToShard { shard: to, msg } => {
                    assert!(to < SHARDS, "mail for shard {to} of {SHARDS}");
                    self.mail[shard][to].push_back(msg);
                }
            }
        }
    }

    fn frame(&mut self, shard: usize, conn: ConnId, frame: &[u8]) {
        if let Some(serializer) = self.dead.get(&conn) {
            let msg = serializer.decode(&mut frame.to_vec());
            panic!("frame for {conn:?} after the shell reported it closed: {msg:?}");
        }
        let c = self
            .conns
            .get(&conn)
            .unwrap_or_else(|| panic!("frame for unknown {conn:?}"));
        assert_eq!(c.shard, shard, "frame from shard {shard} for {conn:?}");
        let mut bytes = frame.to_vec();
        let msg = c.serializer.decode(&mut bytes).unwrap_or_else(|e| {
            panic!(
                "undecodable {:?} frame for {conn:?}: {e}: {:?}",
                c.serializer,
                String::from_utf8_lossy(frame)
            )
        });
        assert!(
            !c.closing,
            "frame for {conn:?} after the core closed it: {msg:?}"
        );
        if trace() {
            eprintln!("shard {shard} -> {conn:?}: {msg:?}");
        }
        self.harvest(conn, &msg);
        if self.record {
            self.inbox.entry(conn).or_default().push_back(msg);
        }
    }

    /// Remembers ids from a router message; panics on a message a router never sends.
    fn harvest(&mut self, conn: ConnId, msg: &Message) {
        let mut keep = |id: u64| {
            if self.ids.len() >= 32 {
                self.ids.remove(0);
            }
            self.ids.push(id);
        };
        match msg {
            Message::Welcome { session, .. } => {
                assert!((1..=MAX_ID).contains(session), "session id {session}");
                keep(*session);
            }
            Message::Subscribed { subscription, .. } => keep(*subscription),
            Message::Registered { registration, .. } => keep(*registration),
            Message::Published { publication, .. } => keep(*publication),
            Message::Event {
                subscription,
                publication,
                ..
            } => {
                keep(*subscription);
                keep(*publication);
            }
            Message::Invocation {
                request,
                registration,
                ..
            } => {
                keep(*registration);
                self.remember_invocation(conn, *request);
            }
            Message::Interrupt { request, .. } => self.remember_invocation(conn, *request),
            Message::Abort { .. }
            | Message::Goodbye { .. }
            | Message::Challenge { .. }
            | Message::Error { .. }
            | Message::Unsubscribed { .. }
            | Message::Unregistered { .. }
            | Message::Result { .. } => {}
            other => panic!("the router sent a client message: {other:?}"),
        }
    }

    fn remember_invocation(&mut self, conn: ConnId, request: u64) {
        if self.invocations.len() >= 32 {
            self.invocations.remove(0);
        }
        self.invocations.push((conn, request));
    }

    fn open(&mut self, shard: usize, serializer: Serializer, auth: Auth) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let info = transport_info(serializer, auth.config());
        self.cores[shard].handle_open(conn, info);
        self.conns.insert(
            conn,
            Conn {
                shard,
                serializer,
                closing: false,
            },
        );
        self.drain(shard);
        conn
    }

    fn close(&mut self, conn: ConnId) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        self.dead.insert(conn, c.serializer);
        self.cores[c.shard].handle_closed(conn);
        self.drain(c.shard);
    }

    /// Bytes from the peer, as the shell hands them over: decoded, or reported malformed.
    fn bytes(&mut self, conn: ConnId, data: &mut [u8]) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.closing {
            return;
        }
        let shard = c.shard;
        match c.serializer.decode(data) {
            Ok(msg) => self.cores[shard].handle_message(conn, msg),
            Err(e) => self.cores[shard].handle_malformed(conn, &e.to_string()),
        }
        self.drain(shard);
    }

    /// A message from the peer, through its serializer's encoder and decoder.
    fn send(&mut self, conn: ConnId, msg: &Message) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if trace() {
            eprintln!("{conn:?} (shard {}) sends {msg:?}", c.shard);
        }
        let mut wire = Vec::new();
        c.serializer.encode(msg, &mut wire);
        self.bytes(conn, &mut wire);
    }

    fn deliver(&mut self, from: usize, to: usize) -> bool {
        let Some(msg) = self.mail[from][to].pop_front() else {
            return false;
        };
        if trace() {
            eprintln!("mail {from} -> {to}: {msg:?}");
        }
        self.cores[to].handle_shard(msg);
        self.drain(to);
        true
    }

    /// Delivers all mail, the mailbox of each step chosen by `choose` among the non-empty ones.
    fn settle_with(&mut self, mut choose: impl FnMut(usize) -> usize) {
        let mut delivered = 0usize;
        loop {
            let pairs: Vec<(usize, usize)> = (0..SHARDS)
                .flat_map(|f| (0..SHARDS).map(move |t| (f, t)))
                .filter(|&(f, t)| !self.mail[f][t].is_empty())
                .collect();
            if pairs.is_empty() {
                return;
            }
            let (from, to) = pairs[choose(pairs.len()) % pairs.len()];
            self.deliver(from, to);
            delivered += 1;
            assert!(delivered < MAIL_LIMIT, "shard mail does not settle");
        }
    }

    fn settle(&mut self) {
        let mut turn = 0usize;
        self.settle_with(|n| {
            turn += 1;
            turn % n
        });
    }

    fn advance(&mut self, by: Duration) {
        self.elapsed += by;
        for shard in 0..SHARDS {
            self.cores[shard].handle_tick(
                self.base + self.elapsed,
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000) + self.elapsed,
            );
            self.drain(shard);
        }
    }
}

/// `FERROBAR_FUZZ_TRACE=1` prints every frame the cores send (to debug a crash input).
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("FERROBAR_FUZZ_TRACE").is_some())
}

/// Runs one input: the program, then the end-of-run check.
pub fn run(data: &[u8]) {
    let mut sim = Sim::new();
    let mut input = Input::new(data);
    sim.run_program(&mut input);
    sim.check_clean();
}
