//! The WAMP meta API (sessions, subscriptions, registrations) and testaments.
//!
//! The realm's home shard keeps the realm-wide catalog: every shard reports joins, leaves,
//! subscribes and unsubscribes to it, and it owns the registrations already. Meta procedures
//! are answered there, so the answer is the same whichever shard the caller is on; meta events
//! are published from there like any other event. Testaments live with their session.

mod procedures;

use std::sync::Arc;
use std::time::SystemTime;

use hashbrown::HashMap;

use crate::timestamp::rfc3339;
use crate::wamp::error_uri as uris;
use crate::wamp::uri::{self, MatchPolicy};
use crate::wamp::{Dict, Message, MessageType, Payload, Value};

use super::broker::router_publication;
use super::dealer::msg::{CallRef, Callee, DealerMsg};
use super::session::Joined;
use super::shard_msg::{Inner, SubKey};
use super::{ConnId, Core};

/// What the catalog knows of a session.
#[derive(Debug)]
pub(crate) struct SessionInfo {
    pub(crate) session: u64,
    /// The session's shard (small: the catalog keeps one of these per session of the realm).
    pub(crate) shard: u32,
    pub(crate) authid: Arc<str>,
    pub(crate) labels: Arc<AuthLabels>,
    pub(crate) peer: Arc<str>,
    pub(crate) serializer: crate::codec::Serializer,
    pub(crate) framing: super::session::Framing,
}

/// A session's role and how it authenticated: the same for many sessions, so each realm keeps
/// one of each ([`super::realm::Realm::auth_labels`]) and sessions share it.
#[derive(Debug)]
pub(crate) struct AuthLabels {
    pub(crate) authrole: Arc<str>,
    pub(crate) authmethod: &'static str,
    pub(crate) authprovider: &'static str,
}

impl SessionInfo {
    pub(crate) fn shard(&self) -> usize {
        self.shard as usize
    }

    pub(crate) fn authrole(&self) -> &str {
        &self.labels.authrole
    }

    /// Crossbar's `SessionDetails`, as `wamp.session.get` and `on_join` give it.
    fn details(&self, realm: &str) -> Dict {
        // `channel_framing` is Crossbar's name for the same.
        let transport = Dict::new()
            .with("type", self.framing.as_str())
            .with("channel_framing", self.framing.as_str())
            .with("protocol", self.serializer.subprotocol())
            .with("peer", &*self.peer);
        Dict::new()
            .with("session", self.session)
            .with("realm", realm)
            .with("authid", &*self.authid)
            .with("authrole", self.authrole())
            .with("authmethod", self.labels.authmethod)
            .with("authprovider", self.labels.authprovider)
            .with("authextra", Dict::new())
            .with("transport", transport)
    }
}

/// A subscription in the realm-wide catalog.
#[derive(Debug)]
struct SubInfo {
    key: SubKey,
    created: SystemTime,
    subscribers: Vec<u64>,
}

/// The home shard's realm-wide view.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    sessions: HashMap<u64, Arc<SessionInfo>>,
    subscriptions: HashMap<u64, SubInfo>,
}

impl Catalog {
    /// The realm's subscriptions (one per match policy and URI, however many subscribers).
    pub(crate) fn subscription_count(&self) -> u64 {
        self.subscriptions.len() as u64
    }
}

#[derive(Debug)]
pub(crate) enum MetaMsg {
    /// To the home shard: a session joined; it gets its WELCOME once this is recorded.
    Joined {
        realm: usize,
        info: Arc<SessionInfo>,
    },
    /// From the home shard: the catalog has the session; its WELCOME may go out.
    JoinRecorded {
        session: u64,
    },
    Left {
        realm: usize,
        session: u64,
    },
    /// To the home shard: a session subscribes; it gets SUBSCRIBED once this is recorded.
    Subscribed {
        realm: usize,
        id: u64,
        key: SubKey,
        reply: super::broker::SubscribeReply,
    },
    /// From the home shard: the catalog has the subscriber; its SUBSCRIBED may go out.
    SubscribeRecorded {
        realm: usize,
        id: u64,
        reply: super::broker::SubscribeReply,
    },
    Unsubscribed {
        realm: usize,
        session: u64,
        id: u64,
    },
    Call {
        realm: usize,
        call: CallRef,
        role: usize,
        procedure: String,
        payload: Payload,
    },
    /// To a session's shard: end it with GOODBYE.
    Kill {
        session: u64,
        reason: String,
        message: Option<String>,
    },
    /// To a subscriber's shard: drop it from a subscription.
    RemoveSubscriber {
        session: u64,
        id: u64,
    },
}

/// Meta procedures answered by the home shard.
const HOME_PROCEDURES: &[&str] = &[
    "wamp.session.count",
    "wamp.session.list",
    "wamp.session.get",
    "wamp.session.kill",
    "wamp.session.kill_by_authid",
    "wamp.session.kill_by_authrole",
    "wamp.session.kill_all",
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
];

/// True for the `wamp.` procedures the router answers itself.
pub(super) fn is_meta_procedure(procedure: &str) -> bool {
    HOME_PROCEDURES.contains(&procedure)
        || procedure == "wamp.session.add_testament"
        || procedure == "wamp.session.flush_testaments"
}

/// A meta call's failure: error URI and message.
pub(super) type MetaError = (&'static str, String);

pub(super) fn arg(payload: &Payload, i: usize) -> Option<&Value> {
    payload.args.as_ref().and_then(|a| a.get(i))
}

pub(super) fn kwarg<'a>(payload: &'a Payload, name: &str) -> Option<&'a Value> {
    payload.kwargs.as_ref().and_then(|k| k.get(name))
}

/// The optional third argument of `remove_subscriber` / `remove_callee`: a reason URI.
fn optional_reason(payload: &Payload) -> Result<Option<String>, MetaError> {
    match arg(payload, 2) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(reason)) => Ok(Some(reason.clone())),
        Some(_) => Err((
            uris::INVALID_ARGUMENT,
            "argument 2 must be a reason URI".to_owned(),
        )),
    }
}

/// UNREGISTERED details of a revocation: what was removed, and why.
pub(super) fn revocation_details(what: &str, id: u64, reason: Option<String>) -> Dict {
    let details = Dict::new().with(what, id);
    match reason {
        Some(reason) => details.with("reason", reason),
        None => details,
    }
}

fn id_arg(payload: &Payload, i: usize, what: &str) -> Result<u64, MetaError> {
    arg(payload, i).and_then(Value::as_id).ok_or_else(|| {
        (
            uris::INVALID_ARGUMENT,
            format!("argument {i} must be {what}"),
        )
    })
}

pub(super) fn str_arg<'a>(
    payload: &'a Payload,
    i: usize,
    what: &str,
) -> Result<&'a str, MetaError> {
    arg(payload, i).and_then(Value::as_str).ok_or_else(|| {
        (
            uris::INVALID_ARGUMENT,
            format!("argument {i} must be {what}"),
        )
    })
}

impl Core {
    pub(super) fn handle_meta_msg(&mut self, msg: MetaMsg) {
        match msg {
            MetaMsg::Joined { realm, info } => {
                let details = info.details(&self.realms[realm].name);
                let (session, shard) = (info.session, info.shard());
                self.realms[realm].catalog.sessions.insert(session, info);
                let recorded = MetaMsg::JoinRecorded { session };
                self.send_to_shard(shard, Inner::Meta(Box::new(recorded)));
                self.meta_event(realm, "wamp.session.on_join", vec![details.into()]);
            }
            MetaMsg::JoinRecorded { session } => self.send_welcome(session),
            MetaMsg::Left { realm, session } => {
                if self.realms[realm]
                    .catalog
                    .sessions
                    .remove(&session)
                    .is_some()
                {
                    // The session id alone, as Crossbar sends it: handlers written for Crossbar
                    // (`def on_leave(session_id)`) must keep working.
                    self.meta_event(realm, "wamp.session.on_leave", vec![session.into()]);
                }
            }
            MetaMsg::Subscribed {
                realm,
                id,
                key,
                reply,
            } => {
                // The answer goes out before the meta events: the subscriber gets SUBSCRIBED
                // before any event about its subscription (mailboxes are FIFO per pair). Nothing
                // runs on this shard in between, so the catalog has it all the same.
                let session = reply.session();
                let recorded = MetaMsg::SubscribeRecorded { realm, id, reply };
                self.send_to_shard(reply.shard, Inner::Meta(Box::new(recorded)));
                self.home_subscribed(realm, session, id, key);
            }
            MetaMsg::SubscribeRecorded { realm, id, reply } => {
                self.subscribe_recorded(realm, id, reply)
            }
            MetaMsg::Unsubscribed { realm, session, id } => {
                self.home_unsubscribed(realm, session, id)
            }
            MetaMsg::Call {
                realm,
                call,
                role,
                procedure,
                payload,
            } => {
                let reply = match self.home_meta_call(realm, call, role, &procedure, &payload) {
                    Ok(value) => DealerMsg::Result {
                        call,
                        progress: false,
                        details: Dict::new(),
                        payload: Box::new(Payload::args(vec![value])),
                    },
                    Err((error, message)) => DealerMsg::Error {
                        call,
                        error: error.to_owned(),
                        details: Dict::new(),
                        payload: Box::new(Payload::args(vec![message.into()])),
                    },
                };
                self.send_to_shard(call.shard, Inner::Dealer(Box::new(reply)));
            }
            MetaMsg::Kill {
                session,
                reason,
                message,
            } => self.kill_local(session, reason, message),
            MetaMsg::RemoveSubscriber { session, id } => {
                let Some(conn) = self.conn_of(session) else {
                    return;
                };
                let Some(joined) = self.joined_mut(conn) else {
                    return;
                };
                let Some(pos) = joined.subscriptions.iter().position(|&s| s == id) else {
                    return;
                };
                joined.subscriptions.swap_remove(pos);
                // The subscriber is not told: Autobahn|Python 26.10 announces
                // subscription_revocation but fails its connection on UNSUBSCRIBED with
                // request 0 (docs/features.md).
                let realm = joined.realm;
                self.drop_subscriber(realm, id, conn, session);
            }
        }
    }

    pub(super) fn meta_to_home(&mut self, realm: usize, msg: MetaMsg) {
        self.send_to_home(realm, Inner::Meta(Box::new(msg)));
    }

    /// Publishes a meta event from the router.
    pub(super) fn meta_event(&mut self, realm: usize, topic: &str, args: Vec<Value>) {
        let id = self.ids.next_id();
        self.route_publication(router_publication(realm, id, topic, args, None));
    }

    fn home_subscribed(&mut self, realm: usize, session: u64, id: u64, key: SubKey) {
        let created = self.wall_clock;
        let catalog = &mut self.realms[realm].catalog;
        let mut fresh = false;
        let info = catalog.subscriptions.entry(id).or_insert_with(|| {
            fresh = true;
            SubInfo {
                key,
                created,
                subscribers: Vec::new(),
            }
        });
        if info.subscribers.contains(&session) {
            return;
        }
        info.subscribers.push(session);
        let details = sub_details(id, info);
        if fresh {
            self.meta_event(
                realm,
                "wamp.subscription.on_create",
                vec![session.into(), details.into()],
            );
        }
        self.meta_event(
            realm,
            "wamp.subscription.on_subscribe",
            vec![session.into(), id.into()],
        );
    }

    fn home_unsubscribed(&mut self, realm: usize, session: u64, id: u64) {
        let catalog = &mut self.realms[realm].catalog;
        let Some(info) = catalog.subscriptions.get_mut(&id) else {
            return;
        };
        let Some(pos) = info.subscribers.iter().position(|&s| s == session) else {
            return;
        };
        info.subscribers.swap_remove(pos);
        let empty = info.subscribers.is_empty();
        if empty {
            catalog.subscriptions.remove(&id);
        }
        self.meta_event(
            realm,
            "wamp.subscription.on_unsubscribe",
            vec![session.into(), id.into()],
        );
        if empty {
            self.meta_event(
                realm,
                "wamp.subscription.on_delete",
                vec![session.into(), id.into()],
            );
        }
    }

    /// Registration meta events, published by the home shard's dealer.
    pub(super) fn registration_event(
        &mut self,
        realm: usize,
        topic: &str,
        session: u64,
        detail: Value,
    ) {
        self.meta_event(realm, topic, vec![session.into(), detail]);
    }

    /// A CALL to a `wamp.` procedure the router implements (see [`is_meta_procedure`]).
    pub(super) fn meta_call(
        &mut self,
        conn: ConnId,
        request: u64,
        procedure: &str,
        payload: Payload,
    ) {
        let Some(joined) = self.joined(conn) else {
            return;
        };
        let (realm, session) = (joined.realm, joined.id);
        let call = CallRef {
            shard: self.shard,
            session,
            request,
        };
        let role = joined.role;
        let answer = match procedure {
            "wamp.session.add_testament" => self.add_testament(conn, &payload),
            "wamp.session.flush_testaments" => self.flush_testaments(conn, &payload),
            p if HOME_PROCEDURES.contains(&p) => {
                if let Some(j) = self.joined_mut(conn) {
                    j.rpc.pending_calls.insert(request, Default::default());
                }
                let msg = MetaMsg::Call {
                    realm,
                    call,
                    role,
                    procedure: p.to_owned(),
                    payload,
                };
                return self.meta_to_home(realm, msg);
            }
            _ => Err((
                uris::NO_SUCH_PROCEDURE,
                format!("no meta procedure {procedure}"),
            )),
        };
        let msg = match answer {
            Ok(value) => Message::Result {
                request,
                details: Dict::new(),
                payload: Payload::args(vec![value]),
            },
            Err((error, message)) => Message::Error {
                request_type: MessageType::Call.code(),
                request,
                details: Dict::new(),
                error: error.to_owned(),
                payload: Payload::args(vec![message.into()]),
            },
        };
        self.send(conn, &msg);
    }

    fn kill(&mut self, shard: usize, session: u64, p: &Payload) {
        let reason = kwarg(p, "reason")
            .and_then(Value::as_str)
            .unwrap_or(uris::CLOSE_KILLED)
            .to_owned();
        let message = kwarg(p, "message")
            .and_then(Value::as_str)
            .map(str::to_owned);
        self.send_to_shard(
            shard,
            Inner::Meta(Box::new(MetaMsg::Kill {
                session,
                reason,
                message,
            })),
        );
    }

    /// Ends a local session with GOODBYE; its GOODBYE reply is then expected.
    fn kill_local(&mut self, session: u64, reason: String, message: Option<String>) {
        let Some(conn) = self.conn_of(session) else {
            return;
        };
        let mut details = Dict::new();
        if let Some(m) = message {
            details.insert("message", m);
        }
        self.send(conn, &Message::Goodbye { details, reason });
        self.end_session(conn, super::sessions::AfterSession::Killed);
    }

    /// Publishes a leaving session's testaments and tells the home shard it left.
    pub(super) fn leave_meta(&mut self, joined: &Joined) {
        self.publish_testaments(joined);
        self.meta_to_home(
            joined.realm,
            MetaMsg::Left {
                realm: joined.realm,
                session: joined.id,
            },
        );
    }
}

/// `wamp.subscription.get_events` for a subscription without history (Crossbar's URI).
const HISTORY_UNAVAILABLE: &str = "wamp.error.history_unavailable";

/// One history entry as Crossbar's memory store returns it.
fn history_entry(realm: &str, time_ns: u64, publication: &super::shard_msg::Publication) -> Dict {
    let mut entry = Dict::new()
        .with("time_ns", time_ns)
        .with("realm", realm)
        .with("publication", publication.id)
        .with("topic", publication.topic.as_str())
        .with(
            "args",
            Value::List(publication.payload.args.clone().unwrap_or_default()),
        )
        .with(
            "kwargs",
            Value::Dict(publication.payload.kwargs.clone().unwrap_or_default()),
        );
    if let Some(p) = &publication.publisher {
        entry.insert("session_id", p.session);
        entry.insert("authid", &*p.authid);
        entry.insert("authrole", &*p.authrole);
    }
    entry
}

fn no_such_session(id: u64) -> MetaError {
    (
        uris::NO_SUCH_SESSION,
        format!("no session {id} on this realm"),
    )
}

fn match_option(p: &Payload) -> Result<MatchPolicy, MetaError> {
    let options = arg(p, 1).and_then(Value::as_dict);
    match options.and_then(|o| o.get_str("match")) {
        None => Ok(MatchPolicy::Exact),
        Some(m) => MatchPolicy::parse(m)
            .ok_or((uris::INVALID_ARGUMENT, format!("unknown match policy {m}"))),
    }
}

fn policy_index(policy: MatchPolicy) -> usize {
    match policy {
        MatchPolicy::Exact => 0,
        MatchPolicy::Prefix => 1,
        MatchPolicy::Wildcard => 2,
    }
}

fn by_policy_dict(mut by_policy: [Vec<u64>; 3]) -> Value {
    for ids in &mut by_policy {
        ids.sort_unstable();
    }
    let list = |ids: &[u64]| Value::List(ids.iter().map(|&i| Value::from(i)).collect());
    Dict::new()
        .with("exact", list(&by_policy[0]))
        .with("prefix", list(&by_policy[1]))
        .with("wildcard", list(&by_policy[2]))
        .into()
}

fn sub_details(id: u64, info: &SubInfo) -> Dict {
    Dict::new()
        .with("id", id)
        .with("created", rfc3339(info.created))
        .with("uri", info.key.uri.as_str())
        .with("match", info.key.policy.as_str())
}
