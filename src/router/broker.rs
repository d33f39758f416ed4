//! The broker: SUBSCRIBE, UNSUBSCRIBE, PUBLISH and EVENT delivery, with pattern-based
//! subscriptions, publisher exclusion and identification, subscriber black/white listing and
//! event retention.
//!
//! Each shard indexes its own sessions' subscriptions. A subscription's id is realm-wide per
//! (match policy, URI) and assigned by the realm's home shard when a shard gets its first local
//! subscriber for it, so every subscriber of one subscription sees one id. An EVENT is encoded
//! once per (subscription, serializer) and the same bytes go to every subscriber. A publication
//! is forwarded only to the shards with matching subscribers (`interest.rs`); retained events
//! go to every shard, and each keeps them itself (sharing the publication).

use std::sync::Arc;

use bytes::Bytes;
use hashbrown::HashMap;

use crate::codec::{Serializer, SERIALIZER_COUNT};
use crate::wamp::error_uri as uris;
use crate::wamp::uri::{self, MatchPolicy};
use crate::wamp::{Dict, Message, MessageType, Payload, Value};

use super::authz::{Action, Decision};
use super::dealer::ppt_options;
pub(crate) use super::filter::Filter;
use super::index::PatternIndex;
use super::interest::{Interest, ShardSet};
use super::outbox::Outbox;
use super::realm::Realm;
use super::sessions::SessionTable;
use super::shard_msg::{Identity, Inner, Publication, SubKey};
use super::{ConnId, Core};

/// One local subscriber of a subscription.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subscriber {
    conn: ConnId,
    session: u64,
    serializer: Serializer,
}

/// A subscription as one shard holds it: only its local subscribers.
#[derive(Debug)]
pub(crate) struct LocalSubscription {
    key: SubKey,
    subscribers: Vec<Subscriber>,
    /// Subscribers waiting for the home shard's catalog to record them (they get SUBSCRIBED
    /// then): the subscription stays while any are outstanding.
    recording: u32,
}

/// A SUBSCRIBE on its way to the home shard's catalog, and back to its shard.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubscribeReply {
    /// The subscriber's shard.
    pub(crate) shard: usize,
    waiting: PendingSubscribe,
}

impl SubscribeReply {
    pub(crate) fn session(&self) -> u64 {
        self.waiting.session
    }
}

/// A SUBSCRIBE waiting for the home shard to assign the subscription's id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingSubscribe {
    conn: ConnId,
    session: u64,
    request: u64,
    get_retained: bool,
}

/// A (policy, URI) this shard has its first subscribers for, waiting for the home shard's id
/// and for every other shard to acknowledge the interest.
#[derive(Debug, Default)]
struct PendingKey {
    waiting: Vec<PendingSubscribe>,
    /// The id and the acknowledgements to wait for, once the home shard answered.
    allocated: Option<(u64, usize)>,
    /// Acknowledgements received (they may arrive before the id).
    acks: usize,
}

/// One shard's part of a realm's broker.
#[derive(Debug, Default)]
pub(crate) struct Broker {
    subscriptions: HashMap<u64, LocalSubscription>,
    /// (policy, URI) -> subscription id, for this shard's subscriptions.
    index: PatternIndex<u64>,
    pending: HashMap<SubKey, PendingKey>,
    /// The last event published with `retain` per topic.
    retained: HashMap<String, Arc<Publication>>,
    /// Home shard only: realm-wide ids and the shards that hold each subscription.
    home_ids: HashMap<SubKey, (u64, ShardSet)>,
    /// The other shards' subscriptions: where publications are forwarded.
    pub(crate) interest: Interest,
}

impl Broker {
    /// The id of this shard's exact subscription to `topic`, if any.
    pub(crate) fn exact_subscription(&self, topic: &str) -> Option<u64> {
        self.index.get(MatchPolicy::Exact, topic).copied()
    }

    fn insert(&mut self, id: u64, key: SubKey) {
        self.index.insert(key.policy, &key.uri, id);
        self.subscriptions.insert(
            id,
            LocalSubscription {
                key,
                subscribers: Vec::new(),
                recording: 0,
            },
        );
    }

    fn remove(&mut self, id: u64) -> Option<SubKey> {
        let sub = self.subscriptions.remove(&id)?;
        self.index.remove(sub.key.policy, &sub.key.uri);
        Some(sub.key)
    }
}

impl Core {
    pub(super) fn subscribe(
        &mut self,
        conn: ConnId,
        request: u64,
        options: &Dict,
        topic: String,
        granted: Option<Decision>,
    ) {
        let Some(joined) = self.joined(conn) else {
            return;
        };
        let (realm_idx, session) = (joined.realm, joined.id);
        let realm = &self.realms[realm_idx];
        let policy = options
            .get_str("match")
            .map_or(Some(MatchPolicy::Exact), MatchPolicy::parse);
        let refusal = match policy {
            None => Some((
                uris::INVALID_ARGUMENT,
                "unknown match policy (exact, prefix or wildcard)".to_owned(),
            )),
            Some(p) if !uri::is_valid(&topic, realm.uri_check, p) => Some((
                uris::INVALID_URI,
                format!(
                    "invalid topic URI \"{topic}\" for match policy {}",
                    p.as_str()
                ),
            )),
            Some(_)
                if !granted
                    .unwrap_or_else(|| {
                        realm.roles[joined.role].authorize(&topic, Action::Subscribe)
                    })
                    .allow =>
            {
                Some((
                    uris::NOT_AUTHORIZED,
                    format!("session is not authorized to subscribe to topic \"{topic}\""),
                ))
            }
            Some(_) => None,
        };
        let (Some(policy), None) = (policy, &refusal) else {
            let (error, msg) = refusal.unwrap_or((uris::INVALID_ARGUMENT, String::new()));
            return self.send_error(conn, MessageType::Subscribe, request, error, Some(msg));
        };
        let get_retained = options.get_bool("get_retained").unwrap_or(false);
        let key = SubKey { policy, uri: topic };
        let waiting = PendingSubscribe {
            conn,
            session,
            request,
            get_retained,
        };
        if let Some(&id) = self.realms[realm_idx]
            .broker
            .index
            .get(key.policy, &key.uri)
        {
            self.complete_subscribe(realm_idx, id, waiting);
            return;
        }
        let pending = self.realms[realm_idx]
            .broker
            .pending
            .entry(key.clone())
            .or_default();
        pending.waiting.push(waiting);
        if pending.waiting.len() == 1 && pending.allocated.is_none() {
            let from = self.shard;
            self.send_to_home(
                realm_idx,
                Inner::SubAlloc {
                    realm: realm_idx,
                    key,
                    from,
                },
            );
        }
    }

    /// Subscribes a session to local subscription `id`: at once when it already is a
    /// subscriber, else once the home shard's catalog has recorded it, so that the meta API
    /// (and `on_create`) never lags what the client was told. Returns false if the session is
    /// gone.
    fn complete_subscribe(&mut self, realm: usize, id: u64, w: PendingSubscribe) -> bool {
        let alive = self
            .sessions
            .get(w.conn)
            .and_then(|s| s.joined())
            .is_some_and(|j| j.id == w.session);
        let Some(sub) = self.realms[realm].broker.subscriptions.get_mut(&id) else {
            return false;
        };
        if !alive {
            return false;
        }
        let reply = SubscribeReply {
            shard: self.shard,
            waiting: w,
        };
        if sub.subscribers.iter().any(|s| s.conn == w.conn) {
            self.answer_subscribe(realm, id, reply);
            return true;
        }
        sub.recording += 1;
        let key = sub.key.clone();
        let msg = super::meta::MetaMsg::Subscribed {
            realm,
            id,
            key,
            reply,
        };
        self.meta_to_home(realm, msg);
        true
    }

    /// The home shard's catalog has the subscriber: it joins the local subscription and gets
    /// SUBSCRIBED. If it left meanwhile, the catalog forgets it again, and a subscription
    /// nobody holds is released.
    pub(super) fn subscribe_recorded(&mut self, realm: usize, id: u64, reply: SubscribeReply) {
        let w = reply.waiting;
        let Some(sub) = self.realms[realm].broker.subscriptions.get_mut(&id) else {
            return;
        };
        sub.recording = sub.recording.saturating_sub(1);
        let serializer = self
            .sessions
            .get(w.conn)
            .filter(|s| s.joined().is_some_and(|j| j.id == w.session))
            .map(|s| s.serializer);
        let Some(serializer) = serializer else {
            let unused = sub.subscribers.is_empty() && sub.recording == 0;
            let unsubscribed = super::meta::MetaMsg::Unsubscribed {
                realm,
                session: w.session,
                id,
            };
            self.meta_to_home(realm, unsubscribed);
            if unused {
                if let Some(key) = self.realms[realm].broker.remove(id) {
                    let from = self.shard;
                    self.send_to_home(realm, Inner::SubRelease { realm, key, from });
                }
            }
            return;
        };
        if !sub.subscribers.iter().any(|s| s.conn == w.conn) {
            sub.subscribers.push(Subscriber {
                conn: w.conn,
                session: w.session,
                serializer,
            });
            if let Some(joined) = self.joined_mut(w.conn) {
                joined.subscriptions.push(id);
            }
        }
        self.answer_subscribe(realm, id, reply);
    }

    /// SUBSCRIBED, then the retained events asked for.
    fn answer_subscribe(&mut self, realm: usize, id: u64, reply: SubscribeReply) {
        let w = reply.waiting;
        self.send(
            w.conn,
            &Message::Subscribed {
                request: w.request,
                subscription: id,
            },
        );
        if w.get_retained {
            if let Some(serializer) = self.sessions.get(w.conn).map(|s| s.serializer) {
                self.send_retained(realm, id, w.conn, w.session, serializer);
            }
        }
    }

    fn send_retained(
        &mut self,
        realm: usize,
        id: u64,
        conn: ConnId,
        session: u64,
        serializer: Serializer,
    ) {
        let Core {
            realms,
            sessions,
            out,
            stats,
            ..
        } = self;
        let realm = &realms[realm];
        let broker = &realm.broker;
        let Some(sub) = broker.subscriptions.get(&id) else {
            return;
        };
        let matching: Vec<&Arc<Publication>> = match sub.key.policy {
            MatchPolicy::Exact => broker.retained.get(&sub.key.uri).into_iter().collect(),
            policy => broker
                .retained
                .values()
                .filter(|p| policy.matches(&sub.key.uri, &p.topic))
                .collect(),
        };
        for publication in matching {
            let admitted = publication
                .filter
                .as_ref()
                .is_none_or(|f| f.admits(session, || identity(sessions, realm, conn)));
            if !admitted {
                continue;
            }
            let mut details = event_details(sub, publication);
            details.insert("retained", true);
            let frame = out.frame(|buf| {
                serializer.encode_event(id, publication.id, &details, &publication.payload, buf)
            });
            // An EVENT like any other: the shell drops it for a peer that cannot take its size.
            out.send_many(vec![conn], frame);
            stats.sent(MessageType::Event, 1);
        }
    }

    pub(super) fn home_sub_alloc(&mut self, realm: usize, key: SubKey, from: usize) {
        let fresh = self.ids.next_id();
        let entry = self.realms[realm]
            .broker
            .home_ids
            .entry(key.clone())
            .or_insert_with(|| (fresh, ShardSet::default()));
        entry.1.insert(from);
        let id = entry.0;
        let acks = self.announce_interest(realm, &key, from);
        self.send_to_shard(
            from,
            Inner::SubAllocated {
                realm,
                key,
                id,
                acks,
            },
        );
    }

    pub(super) fn home_sub_release(&mut self, realm: usize, key: SubKey, from: usize) {
        let ids = &mut self.realms[realm].broker.home_ids;
        if let Some(entry) = ids.get_mut(&key) {
            entry.1.remove(from);
            if entry.1.is_empty() {
                ids.remove(&key);
            }
        }
        self.withdraw_interest(realm, &key, from);
    }

    pub(super) fn sub_allocated(&mut self, realm: usize, key: SubKey, id: u64, acks: usize) {
        if let Some(pending) = self.realms[realm].broker.pending.get_mut(&key) {
            pending.allocated = Some((id, acks));
        }
        self.subscribe_when_known(realm, key);
    }

    /// Another shard routes `key`'s publications here now.
    pub(super) fn interest_acked(&mut self, realm: usize, key: SubKey) {
        if let Some(pending) = self.realms[realm].broker.pending.get_mut(&key) {
            pending.acks += 1;
        }
        self.subscribe_when_known(realm, key);
    }

    /// Once `key` has its id and every shard routes its publications here, its waiting
    /// subscribers get SUBSCRIBED.
    fn subscribe_when_known(&mut self, realm: usize, key: SubKey) {
        let broker = &mut self.realms[realm].broker;
        let ready = broker
            .pending
            .get(&key)
            .and_then(|p| p.allocated.filter(|&(_, acks)| p.acks >= acks));
        let Some((id, _)) = ready else {
            return;
        };
        let waiting = broker
            .pending
            .remove(&key)
            .map(|p| p.waiting)
            .unwrap_or_default();
        broker.insert(id, key.clone());
        let mut any = false;
        for w in waiting {
            any |= self.complete_subscribe(realm, id, w);
        }
        if !any {
            // Everyone who asked left meanwhile.
            self.realms[realm].broker.remove(id);
            let from = self.shard;
            self.send_to_home(realm, Inner::SubRelease { realm, key, from });
        }
    }

    pub(super) fn unsubscribe(&mut self, conn: ConnId, request: u64, subscription: u64) {
        let Some(joined) = self.joined_mut(conn) else {
            return;
        };
        let Some(pos) = joined.subscriptions.iter().position(|&s| s == subscription) else {
            let msg = format!("session holds no subscription {subscription}");
            return self.send_error(
                conn,
                MessageType::Unsubscribe,
                request,
                uris::NO_SUCH_SUBSCRIPTION,
                Some(msg),
            );
        };
        joined.subscriptions.swap_remove(pos);
        let (realm, session) = (joined.realm, joined.id);
        self.drop_subscriber(realm, subscription, conn, session);
        self.send(
            conn,
            &Message::Unsubscribed {
                request,
                details: Dict::new(),
            },
        );
    }

    /// Removes `conn` from a local subscription; the last one out releases it at the home shard.
    pub(super) fn drop_subscriber(
        &mut self,
        realm: usize,
        subscription: u64,
        conn: ConnId,
        session: u64,
    ) {
        self.remove_subscriber(realm, subscription, conn);
        self.notify_unsubscribed(realm, subscription, session);
    }

    /// Takes `conn` off a local subscription (the last one out releases it at the home shard).
    pub(super) fn remove_subscriber(&mut self, realm: usize, subscription: u64, conn: ConnId) {
        let broker = &mut self.realms[realm].broker;
        let Some(sub) = broker.subscriptions.get_mut(&subscription) else {
            return;
        };
        sub.subscribers.retain(|s| s.conn != conn);
        if sub.subscribers.is_empty() && sub.recording == 0 {
            if let Some(key) = broker.remove(subscription) {
                let from = self.shard;
                self.send_to_home(realm, Inner::SubRelease { realm, key, from });
            }
        }
    }

    /// Tells the home shard's catalog (which publishes the meta events). Called after the
    /// subscriber is off every subscription it is leaving, so it never gets those events.
    pub(super) fn notify_unsubscribed(&mut self, realm: usize, subscription: u64, session: u64) {
        let msg = super::meta::MetaMsg::Unsubscribed {
            realm,
            session,
            id: subscription,
        };
        self.meta_to_home(realm, msg);
    }

    pub(super) fn publish(
        &mut self,
        conn: ConnId,
        request: u64,
        options: &Dict,
        topic: String,
        payload: Payload,
        granted: Option<Decision>,
    ) {
        let Some(joined) = self.joined(conn) else {
            return;
        };
        let acknowledge = options.get_bool("acknowledge").unwrap_or(false);
        let realm_idx = joined.realm;
        let realm = &self.realms[realm_idx];
        let role = &realm.roles[joined.role];
        let decision = granted.unwrap_or_else(|| role.authorize(&topic, Action::Publish));
        let filter = Filter::parse(options);
        let refusal = if !uri::is_valid(&topic, realm.uri_check, MatchPolicy::Exact) {
            Some((uris::INVALID_URI, format!("invalid topic URI \"{topic}\"")))
        } else if uri::is_reserved(&topic) && &*role.name != "trusted" {
            Some((
                uris::INVALID_URI,
                format!("topic \"{topic}\" is in the reserved wamp. namespace"),
            ))
        } else if !decision.allow {
            Some((
                uris::NOT_AUTHORIZED,
                format!("session is not authorized to publish to topic \"{topic}\""),
            ))
        } else if let Err(e) = &filter {
            Some((uris::INVALID_ARGUMENT, e.clone()))
        } else {
            None
        };
        if let Some((error, msg)) = refusal {
            if acknowledge {
                self.send_error(conn, MessageType::Publish, request, error, Some(msg));
            }
            return;
        }
        let disclose =
            decision.disclose.publisher || options.get_bool("disclose_me").unwrap_or(false);
        let publisher = disclose.then(|| Identity {
            session: joined.id,
            authid: joined.authid.clone(),
            authrole: std::sync::Arc::clone(&role.name),
        });
        let publisher_session = joined.id;
        let publication = Publication {
            realm: realm_idx,
            topic,
            id: self.ids.next_id(),
            publisher_session,
            exclude_me: options.get_bool("exclude_me").unwrap_or(true),
            publisher,
            filter: filter.ok().flatten(),
            retain: options.get_bool("retain").unwrap_or(false),
            ppt: ppt_options(options),
            payload,
        };
        self.stats.publications += 1;
        let id = self.route_publication(publication);
        if acknowledge {
            self.send(
                conn,
                &Message::Published {
                    request,
                    publication: id,
                },
            );
        }
    }

    /// Delivers a publication here and forwards it once to every other shard that needs it.
    /// Returns its id.
    pub(super) fn route_publication(&mut self, publication: Publication) -> u64 {
        let publication = Arc::new(publication);
        self.deliver_publication(&publication);
        let targets =
            self.forward_targets(publication.realm, &publication.topic, publication.retain);
        for shard in targets.iter() {
            let msg = super::ShardMsg(Inner::Publish(Arc::clone(&publication)));
            self.out.forward(shard, msg);
        }
        self.route_targets = targets;
        publication.id
    }

    /// Delivers a publication to this shard's matching subscribers (and keeps it if retained).
    pub(super) fn deliver_publication(&mut self, publication: &Arc<Publication>) {
        let Core {
            realms,
            sessions,
            out,
            stats,
            ..
        } = self;
        let realm = &realms[publication.realm];
        let broker = &realm.broker;
        let mut delivered = 0;
        broker.index.for_each_match(&publication.topic, |id| {
            if let Some(sub) = broker.subscriptions.get(id) {
                delivered += deliver_to_subscription(*id, sub, publication, realm, sessions, out);
            }
        });
        stats.sent(MessageType::Event, delivered);
        if publication.retain {
            let retained = &mut realms[publication.realm].broker.retained;
            retained.insert(publication.topic.clone(), Arc::clone(publication));
        }
        let home = publication.realm % self.shards == self.shard;
        let history = &mut self.realms[publication.realm].history;
        if home && !history.is_empty() {
            let time_ns = self
                .wall_clock
                .duration_since(std::time::SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            history.record(publication, time_ns);
        }
    }
}

/// EVENT details for one subscription: the concrete topic for pattern subscriptions, the
/// publisher when disclosed, pass-through options.
fn event_details(sub: &LocalSubscription, publication: &Publication) -> Dict {
    let mut details = publication.ppt.clone();
    if sub.key.policy != MatchPolicy::Exact {
        details.insert("topic", publication.topic.as_str());
    }
    if let Some(p) = &publication.publisher {
        details.insert("publisher", p.session);
        details.insert("publisher_authid", &*p.authid);
        details.insert("publisher_authrole", &*p.authrole);
    }
    details
}

/// A local session's (authid, authrole).
fn identity<'a>(
    sessions: &'a SessionTable,
    realm: &'a Realm,
    conn: ConnId,
) -> Option<(&'a str, &'a str)> {
    let joined = sessions.joined(conn)?;
    Some((&*joined.authid, &*realm.roles.get(joined.role)?.name))
}

fn deliver_to_subscription(
    id: u64,
    sub: &LocalSubscription,
    publication: &Publication,
    realm: &Realm,
    sessions: &SessionTable,
    out: &mut Outbox,
) -> u64 {
    let details = event_details(sub, publication);
    let mut frames: [Option<Bytes>; SERIALIZER_COUNT] = Default::default();
    let mut targets: [Vec<ConnId>; SERIALIZER_COUNT] = Default::default();
    for s in &sub.subscribers {
        if publication.exclude_me && s.session == publication.publisher_session {
            continue;
        }
        if let Some(filter) = &publication.filter {
            if !filter.admits(s.session, || identity(sessions, realm, s.conn)) {
                continue;
            }
        }
        let i = s.serializer.index();
        if frames[i].is_none() {
            frames[i] = Some(out.frame(|buf| {
                s.serializer
                    .encode_event(id, publication.id, &details, &publication.payload, buf)
            }));
            targets[i].reserve_exact(sub.subscribers.len());
        }
        targets[i].push(s.conn);
    }
    // One output per serializer: the shell copies the same bytes into every connection.
    let mut delivered = 0;
    for (frame, conns) in frames.into_iter().zip(targets) {
        if let Some(frame) = frame {
            delivered += conns.len() as u64;
            out.send_many(conns, frame);
        }
    }
    delivered
}

/// A publication made by the router itself (meta events, testaments).
pub(crate) fn router_publication(
    realm: usize,
    id: u64,
    topic: &str,
    args: Vec<Value>,
    kwargs: Option<Dict>,
) -> Publication {
    Publication {
        realm,
        topic: topic.to_owned(),
        id,
        publisher_session: 0,
        exclude_me: false,
        publisher: None,
        filter: None,
        retain: false,
        ppt: Dict::new(),
        payload: Payload {
            args: Some(args),
            kwargs,
        },
    }
}

#[cfg(test)]
impl Broker {
    /// True when this shard holds no subscription, pending subscribe or realm-wide id.
    pub(crate) fn is_empty(&self) -> bool {
        self.subscriptions.is_empty()
            && self.index.is_empty()
            && self.pending.is_empty()
            && self.home_ids.is_empty()
            && self.interest.is_empty()
    }
}
