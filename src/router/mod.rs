//! The sans-IO router core: realms, sessions, broker, dealer, static authorization.
//!
//! # Contract
//!
//! One [`Core`] runs per shard. The shell feeds it input through the `handle_*` methods and,
//! after each call, drains [`Core::poll_output`] until it returns `None`, carrying out each
//! [`Output`] in order: `Send` a frame to a local connection, `Close` a connection (after its
//! queued frames), or hand a [`ShardMsg`] to another shard's core, whose shell passes it to
//! [`Core::handle_shard`] in the order sent.
//!
//! The core never touches a socket, a clock, a thread or a global RNG: identical inputs and
//! seed give identical outputs in identical order, so it is tested without a network.
//!
//! Cross-shard routing (see `DESIGN.md`): each realm has a home shard that owns realm-wide
//! state (subscription ids, the authoritative registration table). A publication is delivered
//! locally and forwarded once to each other shard with a matching subscription (`interest.rs`).
//! A call is resolved from the local replica
//! of the registration table, and on a miss by the home shard, then goes straight to the
//! callee's shard; the result goes straight back.
//!
//! # Parts
//!
//! `Core` dispatches each input to the part that owns it; every part writes to the one
//! output sink (`outbox`).
//!
//! - `sessions` — the session table (by connection, session id, cookie) and the session state
//!   machine (`session`); `Core::end_session` is the one way a session ends.
//! - `handshake` — HELLO, authentication, WELCOME/ABORT; `authorizer` — dynamic authorizers.
//! - `broker` (+ `interest`, `filter`, `history`) — subscriptions and publications; per realm
//!   in `Realm::broker`.
//! - `dealer` — registrations, calls, cancel, timeouts; per realm in `Realm::dealer`.
//! - `meta` (+ `testament`) — the catalog the meta API answers from, on each realm's home
//!   shard, and the meta events.
//! - `index` — the one URI pattern index: every match (subscriptions) and the best match
//!   (registrations, permissions in `authz`).
//! - `timers` — call and HELLO deadlines.

mod authorizer;
pub mod authz;
mod broker;
mod dealer;
mod filter;
mod handshake;
mod history;
pub mod index;
mod interest;
mod meta;
mod outbox;
mod realm;
mod reload;
mod session;
mod sessions;
mod shard_msg;
mod stats;
mod testament;
mod timers;

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use hashbrown::HashMap;

use crate::config::RealmConfig;
use crate::wamp::error_uri as uris;
use crate::wamp::id::IdGenerator;
use crate::wamp::{Dict, Message, MessageType, Value};

use realm::Realm;
pub use reload::{RealmSessionCounts, ReloadSummary};
pub use session::{Framing, TransportInfo};
use session::{Joined, Session, State, TransportExtras};
use sessions::{AfterSession, SessionTable};
use shard_msg::Inner;
pub use shard_msg::ShardMsg;
pub use stats::{CallOutcome, CoreStats, RealmStats, CALL_LATENCY_BOUNDS, MESSAGE_CODES};

/// ABORT reason when a realm is at its `max_sessions` (ferrobar's own URI: WAMP has none).
pub const REALM_FULL: &str = "ferrobar.error.realm_full";
/// GOODBYE reason for a session closed because it did not read its output fast enough.
pub const SLOW_CONSUMER: &str = "wamp.close.slow_consumer";
/// Meta topic a session subscribes to, to learn how many EVENTs were dropped for it.
pub const EVENTS_DROPPED_TOPIC: &str = "ferrobar.session.on_events_dropped";
/// ERROR for a CALL over the session's limit of outstanding calls (ferrobar's own URI).
pub const TOO_MANY_CALLS: &str = "ferrobar.error.too_many_pending_calls";

/// A connection handle chosen by the shell. Its low 32 bits index the core's session table, so
/// the shell keeps them small and dense (its slab key) and reuses one only after
/// [`Core::handle_closed`]; the high bits tell reuses apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Something the shell must do.
#[must_use]
#[derive(Debug)]
pub enum Output {
    /// Send one encoded WAMP message (in the connection's serializer) to a local connection.
    Send {
        /// The connection.
        conn: ConnId,
        /// The encoded message; shared when many connections get the same bytes.
        frame: Bytes,
    },
    /// Send the same encoded message to many local connections (one EVENT to the subscribers
    /// of one subscription that share a serializer).
    SendMany {
        /// The connections.
        conns: Vec<ConnId>,
        /// The encoded message.
        frame: Bytes,
    },
    /// Close a connection once the frames already queued for it are written.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Hand a message to another shard's core.
    ToShard {
        /// The target shard.
        shard: usize,
        /// The message.
        msg: ShardMsg,
    },
}

/// What a core needs to know about its node.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// This shard's index.
    pub shard: usize,
    /// Number of shards.
    pub shards: usize,
    /// Realms, in the same order on every shard.
    pub realms: Vec<RealmConfig>,
    /// Node id shown in WELCOME `authextra.x_cb_node`.
    pub node_id: String,
    /// Worker id shown in WELCOME `authextra.x_cb_worker`.
    pub worker_id: String,
    /// Process id shown in WELCOME `authextra.x_cb_pid`.
    pub pid: u32,
    /// Seed of the id generator (session, publication ids).
    pub seed: u64,
    /// The time the core starts at (the shell's clock; tests use a fake one).
    pub start: Instant,
    /// A connection must send HELLO this soon after it opens.
    pub hello_timeout: std::time::Duration,
    /// Seed of the cryptographic RNG (authentication challenges); from the OS in production.
    pub crypto_seed: [u8; 32],
    /// Failed authentications per peer host, shared by every shard's core.
    pub throttle: Arc<std::sync::Mutex<crate::auth::FailureTracker>>,
    /// The node key for cryptosign mutual authentication.
    pub node_key: Option<Arc<crate::auth::NodeKey>>,
    /// Calls one session may have outstanding.
    pub max_pending_calls: usize,
    /// Sessions per realm over all shards (shared by every core), for `max_sessions`.
    pub realm_sessions: Arc<RealmSessionCounts>,
}

/// The router core of one shard.
#[derive(Debug)]
pub struct Core {
    shard: usize,
    shards: usize,
    /// Node id, worker id and process id, as WELCOME's `authextra` shows them.
    node: (String, String, u32),
    realms: Vec<Realm>,
    realm_index: HashMap<String, usize>,
    sessions: SessionTable,
    ids: IdGenerator,
    /// Everything the core decides, for the shell: the one output sink.
    out: outbox::Outbox,
    /// Reused set of the shards a publication is forwarded to.
    route_targets: interest::ShardSet,
    /// WELCOME details of sessions whose join the home shard's catalog has not recorded yet,
    /// and what those sessions sent meanwhile (handled, in order, after their WELCOME).
    awaiting_welcome: HashMap<u64, (Dict, Vec<Message>)>,
    stats: CoreStats,
    /// The time of the last [`Core::handle_tick`].
    now: Instant,
    /// Wall-clock time of the last tick, for creation times shown by the meta API.
    wall_clock: SystemTime,
    /// What authentication needs across sessions.
    auth: handshake::AuthState,
    timers: timers::Timers,
    max_pending_calls: usize,
    /// Sessions per realm over all shards, by realm index (from `session_counts`).
    realm_sessions: Vec<Arc<std::sync::atomic::AtomicUsize>>,
    session_counts: Arc<RealmSessionCounts>,
    /// Between the two steps of a reload: the realms joinable once it commits.
    next_realm_index: Option<HashMap<String, usize>>,
}

impl Core {
    /// A core for one shard.
    pub fn new(config: CoreConfig) -> Self {
        let mut realms = Vec::new();
        let mut realm_index = HashMap::new();
        for rc in &config.realms {
            if realm_index.contains_key(&rc.name) {
                continue;
            }
            realm_index.insert(rc.name.clone(), realms.len());
            realms.push(Realm::new(rc));
        }
        let realm_sessions = realms
            .iter()
            .map(|r| config.realm_sessions.counter(&r.name))
            .collect();
        Core {
            shard: config.shard,
            shards: config.shards.max(1),
            node: (config.node_id, config.worker_id, config.pid),
            realms,
            realm_index,
            sessions: SessionTable::default(),
            ids: IdGenerator::from_seed(config.seed),
            out: Default::default(),
            route_targets: Default::default(),
            awaiting_welcome: HashMap::new(),
            stats: CoreStats::default(),
            now: config.start,
            wall_clock: SystemTime::UNIX_EPOCH,
            timers: timers::Timers::new(config.hello_timeout),
            auth: handshake::AuthState {
                epoch: config.start,
                throttle: config.throttle,
                node_key: config.node_key,
                crypto_rng: rand::SeedableRng::from_seed(config.crypto_seed),
                internal_calls: HashMap::new(),
                next_internal_call: 0,
            },
            max_pending_calls: config.max_pending_calls.max(1),
            realm_sessions,
            session_counts: config.realm_sessions,
            next_realm_index: None,
        }
    }

    /// Advances the core's clock (the shell calls this every reactor turn) and fires due timers.
    pub fn handle_tick(&mut self, now: Instant, wall_clock: SystemTime) {
        self.now = self.now.max(now);
        self.wall_clock = wall_clock;
        self.expire_calls(self.now);
        self.expire_hellos(self.now);
    }

    /// Closes connections that opened a WAMP transport but sent no HELLO in time.
    fn expire_hellos(&mut self, now: Instant) {
        while let Some(conn) = self.timers.due_hello(now) {
            if matches!(
                self.sessions.get(conn).map(|s| &s.state),
                Some(State::ExpectHello)
            ) {
                let secs = self.timers.hello_timeout.as_secs();
                self.abort(
                    conn,
                    uris::PROTOCOL_VIOLATION,
                    &format!("no HELLO within {secs} s of connecting"),
                );
            }
        }
    }

    /// When the core next needs [`Core::handle_tick`], if it has a timer running.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// The next thing the shell must do, if any.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop()
    }

    /// Current counters.
    pub fn stats(&self) -> CoreStats {
        CoreStats {
            sessions: self.sessions.joined_count(),
            ..self.stats.clone()
        }
    }

    /// Each realm's gauges as this shard holds them (realms removed by a reload left out).
    pub fn realm_stats(&self) -> Vec<RealmStats> {
        self.realm_index
            .values()
            .map(|&i| {
                let realm = &self.realms[i];
                let home = self.home_shard(i) == self.shard;
                RealmStats {
                    name: realm.name.clone(),
                    sessions: realm.local_sessions as u64,
                    subscriptions: if home {
                        realm.catalog.subscription_count()
                    } else {
                        0
                    },
                    registrations: if home {
                        realm.dealer.registrations().count() as u64
                    } else {
                        0
                    },
                }
            })
            .collect()
    }

    /// A WAMP transport connection is open (WebSocket handshake done).
    pub fn handle_open(&mut self, conn: ConnId, mut info: TransportInfo) {
        if let Some(stale) = self.sessions.occupant(conn) {
            self.end_session(stale, AfterSession::Removed);
        }
        let extras = TransportExtras::of(&mut info);
        self.sessions.open(Session {
            conn,
            serializer: info.serializer,
            peer: info.peer,
            auth: info.auth,
            kind: info.kind,
            max_message_len: u32::try_from(info.max_message_len).unwrap_or(u32::MAX),
            extras,
            state: State::ExpectHello,
        });
        self.timers.hello_deadline(self.now, conn);
    }

    /// The transport closed (by the peer, an error, or after a `Close` output).
    pub fn handle_closed(&mut self, conn: ConnId) {
        self.end_session(conn, AfterSession::Removed);
    }

    /// The shell closes a connection whose output queue passed its limit: the session ends with
    /// GOODBYE `wamp.close.slow_consumer` (queued behind what the peer has not read yet).
    pub fn handle_slow_consumer(&mut self, conn: ConnId) {
        self.goodbye_and_close(
            conn,
            SLOW_CONSUMER,
            "the router's output queue for this session was full",
        );
    }

    /// Ends a connection from the router's side: a joined session gets GOODBYE `reason` with
    /// `message` (queued behind what the peer has not read yet) and leaves; then the
    /// connection is closed.
    fn goodbye_and_close(&mut self, conn: ConnId, reason: &str, message: &str) {
        if self.joined(conn).is_some() {
            let details = Dict::new().with("message", message);
            let goodbye = Message::Goodbye {
                details,
                reason: reason.into(),
            };
            self.send(conn, &goodbye);
        }
        self.end_session(conn, AfterSession::Closing);
        self.out.close(conn);
    }

    /// EVENTs were dropped for a connection (drop-events policy) and it has caught up: it gets
    /// `ferrobar.session.on_events_dropped` with the count, if it subscribed to that topic.
    pub fn handle_events_dropped(&mut self, conn: ConnId, count: u64) {
        let Some(joined) = self.joined(conn) else {
            return;
        };
        let (realm, session) = (joined.realm, joined.id);
        let Some(sub) = self.realms[realm]
            .broker
            .exact_subscription(EVENTS_DROPPED_TOPIC)
        else {
            return;
        };
        if !joined.subscriptions.contains(&sub) {
            return;
        }
        let publication = self.ids.next_id();
        let details = Dict::new().with("topic", EVENTS_DROPPED_TOPIC);
        let payload = crate::wamp::Payload::args(vec![count.into(), session.into()]);
        self.send(
            conn,
            &Message::Event {
                subscription: sub,
                publication,
                details,
                payload,
            },
        );
    }

    /// The shell could not decode or frame a message: close the session as a protocol violation.
    pub fn handle_malformed(&mut self, conn: ConnId, reason: &str) {
        self.protocol_violation(conn, reason);
    }

    /// A decoded message from a connection.
    pub fn handle_message(&mut self, conn: ConnId, msg: Message) {
        let Some(session) = self.sessions.get(conn) else {
            return;
        };
        self.stats.received(msg.message_type());
        match &session.state {
            State::Closed => {}
            State::Killed => {
                if let Message::Goodbye { .. } = msg {
                    if let Some(s) = self.sessions.get_mut(conn) {
                        s.state = State::ExpectHello;
                    }
                }
            }
            State::Authenticating(_) => match msg {
                Message::Authenticate { signature, extra } => {
                    self.authenticate(conn, signature, extra)
                }
                Message::Abort { .. } => {
                    if let Some(s) = self.sessions.get_mut(conn) {
                        s.state = State::Closed;
                    }
                    self.out.close(conn);
                }
                other => self.protocol_violation(
                    conn,
                    &format!(
                        "{} received before the session was authenticated",
                        other.message_type().name()
                    ),
                ),
            },
            State::ExpectHello => match msg {
                Message::Hello { realm, details } => self.hello(conn, realm, details),
                other => self.protocol_violation(
                    conn,
                    &format!("{} received before HELLO", other.message_type().name()),
                ),
            },
            State::Established(joined) if self.awaiting_welcome.contains_key(&joined.id) => {
                let session = joined.id;
                self.park_before_welcome(conn, session, msg)
            }
            State::Established(joined) if joined.dynamic.is_some() => {
                self.dynamic_message(conn, msg)
            }
            State::Established(_) => self.dispatch(conn, msg, None),
        }
    }

    /// A message from another shard's core.
    pub fn handle_shard(&mut self, msg: ShardMsg) {
        match msg.0 {
            Inner::Publish(publication) => self.deliver_publication(&publication),
            Inner::SubAlloc { realm, key, from } => self.home_sub_alloc(realm, key, from),
            Inner::SubAllocated {
                realm,
                key,
                id,
                acks,
            } => self.sub_allocated(realm, key, id, acks),
            Inner::SubRelease { realm, key, from } => self.home_sub_release(realm, key, from),
            Inner::InterestAdd { realm, key, holder } => self.interest_added(realm, key, holder),
            Inner::InterestAck { realm, key } => self.interest_acked(realm, key),
            Inner::InterestRemove { realm, key, holder } => {
                self.interest_removed(realm, &key, holder)
            }
            Inner::Dealer(msg) => self.handle_dealer_msg(*msg),
            Inner::Meta(msg) => self.handle_meta_msg(*msg),
            Inner::CookieLogout(cookie) => self.close_cookie_connections(&cookie, None),
        }
    }

    /// Graceful shutdown: every joined session gets GOODBYE `wamp.close.system_shutdown`, every
    /// connection is closed.
    pub fn shutdown(&mut self) {
        self.shutdown_some(usize::MAX);
    }

    /// One batch of a draining shutdown: up to `max` connections end as in
    /// [`Core::shutdown`]. Returns how many are left.
    pub fn shutdown_some(&mut self, max: usize) -> usize {
        let conns = self.sessions.open_conns_sorted();
        let left = conns.len().saturating_sub(max);
        for conn in conns.into_iter().take(max) {
            let joined = self.sessions.get(conn).and_then(|s| s.joined()).is_some();
            if joined {
                let msg = Message::Goodbye {
                    details: Dict::new().with("message", "the router is shutting down"),
                    reason: uris::CLOSE_SYSTEM_SHUTDOWN.into(),
                };
                self.send(conn, &msg);
            }
            self.end_session(conn, AfterSession::Closing);
            self.out.close(conn);
        }
        left
    }

    // ----- session lifecycle -----

    fn welcome_details(&self, realm: usize, identity: &crate::auth::Identity, peer: &str) -> Dict {
        let flags = |names: &[&str]| {
            Dict(
                names
                    .iter()
                    .map(|f| ((*f).to_owned(), Value::Bool(true)))
                    .collect(),
            )
        };
        let broker = Dict::new().with(
            "features",
            flags(&[
                "publisher_exclusion",
                "publisher_identification",
                "pattern_based_subscription",
                "subscriber_blackwhite_listing",
                "event_retention",
                "payload_passthru_mode",
                "session_meta_api",
                "subscription_meta_api",
                "event_history",
            ]),
        );
        let mut dealer_features = vec![
            "caller_identification",
            "pattern_based_registration",
            "shared_registration",
            "call_canceling",
            "progressive_call_results",
            "progressive_call_invocations",
            "payload_passthru_mode",
            "session_meta_api",
            "registration_meta_api",
            "registration_revocation",
            "testament_meta_api",
        ];
        // Clients that see `call_timeout` send the spec's milliseconds; the realm reads
        // Crossbar's seconds unless it opted into milliseconds, so it only announces then.
        if self.realms[realm].call_timeout_unit == crate::config::CallTimeoutUnit::Millis {
            dealer_features.push("call_timeout");
        }
        let dealer = Dict::new().with("features", flags(&dealer_features));
        let (node_id, worker_id, pid) = &self.node;
        let authextra = identity
            .authextra
            .clone()
            .with("x_cb_node", node_id.as_str())
            .with("x_cb_worker", worker_id.as_str())
            .with("x_cb_peer", peer)
            .with("x_cb_pid", u64::from(*pid));
        Dict::new()
            .with("realm", self.realms[realm].name.as_str())
            .with("authid", identity.authid.as_str())
            .with("authrole", identity.authrole.as_str())
            .with("authmethod", identity.authmethod)
            .with("authprovider", identity.authprovider)
            .with("authextra", authextra)
            .with(
                "roles",
                Dict::new().with("broker", broker).with("dealer", dealer),
            )
    }

    /// Carries out a joined session's message. `granted`: the dynamic authorizer's decision for
    /// the action it asks (`None`: the role's static permissions decide).
    fn dispatch(&mut self, conn: ConnId, msg: Message, granted: Option<authz::Decision>) {
        match msg {
            Message::Hello { .. } => {
                self.protocol_violation(conn, "HELLO received on a session that has already joined")
            }
            Message::Goodbye { reason, .. } => {
                if reason == handshake::LOGOUT {
                    self.cookie_logout(conn);
                }
                let reply = Message::Goodbye {
                    details: Dict::new(),
                    reason: uris::CLOSE_NORMAL.into(),
                };
                self.send(conn, &reply);
                self.end_session(conn, AfterSession::ExpectHello);
            }
            Message::Abort { .. } => {
                self.end_session(conn, AfterSession::Closing);
                self.out.close(conn);
            }
            Message::Subscribe {
                request,
                options,
                topic,
            } => self.subscribe(conn, request, &options, topic, granted),
            Message::Unsubscribe {
                request,
                subscription,
            } => self.unsubscribe(conn, request, subscription),
            Message::Publish {
                request,
                options,
                topic,
                payload,
            } => self.publish(conn, request, &options, topic, payload, granted),
            Message::Register {
                request,
                options,
                procedure,
            } => self.register(conn, request, &options, procedure, granted),
            Message::Unregister {
                request,
                registration,
            } => self.unregister(conn, request, registration),
            Message::Call {
                request,
                options,
                procedure,
                payload,
            } => self.call(conn, request, &options, procedure, payload, granted),
            Message::Yield {
                request,
                options,
                payload,
            } => self.yield_result(conn, request, &options, payload),
            Message::Error {
                request_type,
                request,
                details,
                error,
                payload,
            } => {
                if request_type == MessageType::Invocation.code() {
                    self.invocation_error(conn, request, details, error, payload)
                } else {
                    self.protocol_violation(
                        conn,
                        &format!(
                            "ERROR for request type {request_type} is not one a client may send"
                        ),
                    )
                }
            }
            Message::Cancel { request, options } => self.cancel(conn, request, &options),
            Message::Authenticate { .. } => {
                self.protocol_violation(conn, "AUTHENTICATE on a session that has already joined")
            }
            other => {
                let name = other.message_type().name();
                self.protocol_violation(conn, &format!("{name} is a router-to-client message"))
            }
        }
    }

    /// The one way a session ends: the connection's state becomes `after`, and everything the
    /// session held as a joined session is released — subscriptions, registrations, pending
    /// calls and invocations, its place in the meta catalog — and its testaments published.
    fn end_session(&mut self, conn: ConnId, after: AfterSession) {
        let Some(joined) = self.sessions.end(conn, after) else {
            return;
        };
        let joined = *joined;
        self.awaiting_welcome.remove(&joined.id);
        self.realms[joined.realm].local_sessions -= 1;
        if let Some(counter) = self.realm_sessions.get(joined.realm) {
            counter.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
        // Off every subscription first, then the meta events: a leaving session must not get
        // the on_unsubscribe/on_delete events its own leaving causes.
        for sub in &joined.subscriptions {
            self.remove_subscriber(joined.realm, *sub, conn);
        }
        for sub in &joined.subscriptions {
            self.notify_unsubscribed(joined.realm, *sub, joined.id);
        }
        self.leave_dealer(&joined);
        self.leave_meta(&joined);
    }

    // ----- output helpers -----

    /// Encodes `msg` in the connection's serializer and queues it.
    fn send(&mut self, conn: ConnId, msg: &Message) {
        let Some(session) = self.sessions.get(conn) else {
            return;
        };
        let serializer = session.serializer;
        let max = session.max_message_len as usize;
        let len = self.out.encode(|buf| serializer.encode(msg, buf));
        if len > max && self.refuse_oversized(conn, msg, len, max) {
            return;
        }
        let frame = self.out.encoded_frame();
        self.out.send(conn, frame);
        self.count_sent(msg);
    }

    /// Counts a message sent, and a call's outcome when it is the caller's final answer.
    fn count_sent(&mut self, msg: &Message) {
        self.stats.sent(msg.message_type(), 1);
        match msg {
            Message::Result { details, .. } if !details.get_bool("progress").unwrap_or(false) => {
                self.stats.call_answered(CallOutcome::Result)
            }
            Message::Error {
                request_type,
                error,
                ..
            } if *request_type == MessageType::Call.code() => {
                self.stats.call_answered(CallOutcome::of_error(error))
            }
            _ => {}
        }
    }

    fn send_error(
        &mut self,
        conn: ConnId,
        request_type: MessageType,
        request: u64,
        error: &str,
        message: Option<String>,
    ) {
        let payload = match message {
            Some(m) => crate::wamp::Payload::args(vec![Value::Str(m)]),
            None => crate::wamp::Payload::empty(),
        };
        let msg = Message::Error {
            request_type: request_type.code(),
            request,
            details: Dict::new(),
            error: error.to_owned(),
            payload,
        };
        self.send(conn, &msg);
    }

    fn abort(&mut self, conn: ConnId, reason: &str, message: &str) {
        let msg = Message::Abort {
            details: Dict::new().with("message", message),
            reason: reason.to_owned(),
        };
        self.send(conn, &msg);
        self.end_session(conn, AfterSession::Closing);
        self.out.close(conn);
    }

    fn protocol_violation(&mut self, conn: ConnId, message: &str) {
        self.stats.protocol_violations += 1;
        tracing::debug!(conn = conn.0, "protocol violation: {message}");
        self.abort(conn, uris::PROTOCOL_VIOLATION, message);
    }

    fn home_shard(&self, realm: usize) -> usize {
        realm % self.shards
    }

    /// Runs `msg` on the realm's home shard: here when this is it, else through the mailbox.
    fn send_to_home(&mut self, realm: usize, msg: Inner) {
        let home = self.home_shard(realm);
        self.send_to_shard(home, msg);
    }

    fn send_to_shard(&mut self, shard: usize, msg: Inner) {
        if shard == self.shard {
            self.handle_shard(ShardMsg(msg));
        } else {
            self.out.forward(shard, ShardMsg(msg));
        }
    }

    fn conn_of(&self, session: u64) -> Option<ConnId> {
        self.sessions.conn_of(session)
    }

    fn joined(&self, conn: ConnId) -> Option<&Joined> {
        self.sessions.joined(conn)
    }

    fn joined_mut(&mut self, conn: ConnId) -> Option<&mut Joined> {
        self.sessions.joined_mut(conn)
    }
}

#[cfg(test)]
mod tests;
