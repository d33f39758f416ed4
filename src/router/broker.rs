//! The broker: SUBSCRIBE, UNSUBSCRIBE, PUBLISH and EVENT delivery.
//!
//! Each shard indexes its own sessions' subscriptions. A subscription's id is realm-wide per
//! (match policy, URI) and assigned by the realm's home shard when a shard gets its first local
//! subscriber for it, so every subscriber of one subscription sees one id. An EVENT is encoded
//! once per (subscription, serializer) and the same bytes go to every subscriber.

use std::sync::Arc;

use bytes::Bytes;
use hashbrown::HashMap;

use crate::codec::{Serializer, SERIALIZER_COUNT};
use crate::wamp::error_uri as uris;
use crate::wamp::uri::{self, MatchPolicy};
use crate::wamp::{Dict, Message, MessageType, Payload};

use super::authz::Action;
use super::index::PatternIndex;
use super::shard_msg::{Identity, Inner, Publication, SubKey};
use super::{ConnId, Core, Output};

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
}

/// A SUBSCRIBE waiting for the home shard to assign the subscription's id.
#[derive(Debug, Clone, Copy)]
struct PendingSubscribe {
    conn: ConnId,
    request: u64,
}

/// One shard's part of a realm's broker.
#[derive(Debug, Default)]
pub(crate) struct Broker {
    subscriptions: HashMap<u64, LocalSubscription>,
    /// (policy, URI) -> subscription id, for this shard's subscriptions.
    index: PatternIndex<u64>,
    pending: HashMap<SubKey, Vec<PendingSubscribe>>,
    /// Home shard only: realm-wide ids and how many shards hold each subscription.
    home_ids: HashMap<SubKey, (u64, usize)>,
}

impl Broker {
    fn insert(&mut self, id: u64, key: SubKey) {
        self.index.insert(key.policy, &key.uri, id);
        self.subscriptions.insert(
            id,
            LocalSubscription {
                key,
                subscribers: Vec::new(),
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
    pub(super) fn subscribe(&mut self, conn: ConnId, request: u64, options: &Dict, topic: String) {
        let Some(joined) = self.joined(conn) else {
            return;
        };
        let realm_idx = joined.realm;
        let role = joined.role;
        let session_id = joined.id;
        let policy = match options.get_str("match") {
            None => MatchPolicy::Exact,
            Some(m) => match MatchPolicy::parse(m) {
                Some(p) => p,
                None => {
                    let msg = format!("unknown match policy \"{m}\" (exact, prefix or wildcard)");
                    return self.send_error(
                        conn,
                        MessageType::Subscribe,
                        request,
                        uris::INVALID_ARGUMENT,
                        Some(msg),
                    );
                }
            },
        };
        let realm = &self.realms[realm_idx];
        if !uri::is_valid(&topic, realm.uri_check, policy) {
            let msg = format!(
                "invalid topic URI \"{topic}\" for match policy {}",
                policy.as_str()
            );
            return self.send_error(
                conn,
                MessageType::Subscribe,
                request,
                uris::INVALID_URI,
                Some(msg),
            );
        }
        if !realm.roles[role].authorize(&topic, Action::Subscribe).allow {
            let msg = format!("session is not authorized to subscribe to topic \"{topic}\"");
            return self.send_error(
                conn,
                MessageType::Subscribe,
                request,
                uris::NOT_AUTHORIZED,
                Some(msg),
            );
        }
        let Some(session) = self.sessions.get(&conn) else {
            return;
        };
        let serializer = session.serializer;
        let key = SubKey { policy, uri: topic };
        let broker = &mut self.realms[realm_idx].broker;
        if let Some(&id) = broker.index.get(key.policy, &key.uri) {
            let mut added = false;
            if let Some(sub) = broker.subscriptions.get_mut(&id) {
                if !sub.subscribers.iter().any(|s| s.conn == conn) {
                    sub.subscribers.push(Subscriber {
                        conn,
                        session: session_id,
                        serializer,
                    });
                    added = true;
                }
            }
            if added {
                if let Some(j) = self.joined_mut(conn) {
                    j.subscriptions.push(id);
                }
            }
            return self.send(
                conn,
                &Message::Subscribed {
                    request,
                    subscription: id,
                },
            );
        }
        let waiting = broker.pending.entry(key.clone()).or_default();
        waiting.push(PendingSubscribe { conn, request });
        if waiting.len() == 1 {
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

    pub(super) fn home_sub_alloc(&mut self, realm: usize, key: SubKey, from: usize) {
        let fresh = self.ids.next_id();
        let entry = self.realms[realm]
            .broker
            .home_ids
            .entry(key.clone())
            .or_insert((fresh, 0));
        entry.1 += 1;
        let id = entry.0;
        self.send_to_shard(from, Inner::SubAllocated { realm, key, id });
    }

    pub(super) fn home_sub_release(&mut self, realm: usize, key: SubKey) {
        let ids = &mut self.realms[realm].broker.home_ids;
        if let Some(entry) = ids.get_mut(&key) {
            entry.1 = entry.1.saturating_sub(1);
            if entry.1 == 0 {
                ids.remove(&key);
            }
        }
    }

    pub(super) fn sub_allocated(&mut self, realm: usize, key: SubKey, id: u64) {
        let waiting = self.realms[realm]
            .broker
            .pending
            .remove(&key)
            .unwrap_or_default();
        let mut subscribers: Vec<Subscriber> = Vec::new();
        let mut replies = Vec::new();
        for w in waiting {
            let Some(session) = self.sessions.get_mut(&w.conn) else {
                continue;
            };
            let serializer = session.serializer;
            let Some(joined) = session.joined_mut() else {
                continue;
            };
            if joined.realm != realm {
                continue;
            }
            if !subscribers.iter().any(|s| s.conn == w.conn) {
                subscribers.push(Subscriber {
                    conn: w.conn,
                    session: joined.id,
                    serializer,
                });
                joined.subscriptions.push(id);
            }
            replies.push(w);
        }
        if subscribers.is_empty() {
            return self.send_to_home(realm, Inner::SubRelease { realm, key });
        }
        let broker = &mut self.realms[realm].broker;
        broker.insert(id, key);
        if let Some(sub) = broker.subscriptions.get_mut(&id) {
            sub.subscribers = subscribers;
        }
        for w in replies {
            self.send(
                w.conn,
                &Message::Subscribed {
                    request: w.request,
                    subscription: id,
                },
            );
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
        let realm = joined.realm;
        self.drop_subscriber(realm, subscription, conn);
        self.send(conn, &Message::Unsubscribed { request });
    }

    /// Removes `conn` from a local subscription; the last one out releases it at the home shard.
    pub(super) fn drop_subscriber(&mut self, realm: usize, subscription: u64, conn: ConnId) {
        let broker = &mut self.realms[realm].broker;
        let Some(sub) = broker.subscriptions.get_mut(&subscription) else {
            return;
        };
        sub.subscribers.retain(|s| s.conn != conn);
        if sub.subscribers.is_empty() {
            if let Some(key) = broker.remove(subscription) {
                self.send_to_home(realm, Inner::SubRelease { realm, key });
            }
        }
    }

    pub(super) fn publish(
        &mut self,
        conn: ConnId,
        request: u64,
        options: &Dict,
        topic: String,
        payload: Payload,
    ) {
        let Some(joined) = self.joined(conn) else {
            return;
        };
        let acknowledge = options.get_bool("acknowledge").unwrap_or(false);
        let realm_idx = joined.realm;
        let realm = &self.realms[realm_idx];
        let role = &realm.roles[joined.role];
        let refusal = if !uri::is_valid(&topic, realm.uri_check, MatchPolicy::Exact) {
            Some((uris::INVALID_URI, format!("invalid topic URI \"{topic}\"")))
        } else if uri::is_reserved(&topic) && role.name != "trusted" {
            Some((
                uris::INVALID_URI,
                format!("topic \"{topic}\" is in the reserved wamp. namespace"),
            ))
        } else {
            None
        };
        let decision = role.authorize(&topic, Action::Publish);
        let refusal = refusal.or_else(|| {
            (!decision.allow).then(|| {
                (
                    uris::NOT_AUTHORIZED,
                    format!("session is not authorized to publish to topic \"{topic}\""),
                )
            })
        });
        if let Some((error, msg)) = refusal {
            if acknowledge {
                self.send_error(conn, MessageType::Publish, request, error, Some(msg));
            }
            return;
        }
        let publisher = decision.disclose.publisher.then(|| Identity {
            session: joined.id,
            authid: joined.authid.clone(),
            authrole: role.name.clone(),
        });
        let publisher_session = joined.id;
        let publication = Arc::new(Publication {
            realm: realm_idx,
            topic,
            id: self.ids.next_id(),
            publisher_session,
            exclude_me: options.get_bool("exclude_me").unwrap_or(true),
            publisher,
            payload,
        });
        self.deliver_publication(&publication);
        for shard in 0..self.shards {
            if shard != self.shard {
                let msg = super::ShardMsg(Inner::Publish(Arc::clone(&publication)));
                self.outputs.push_back(Output::ToShard { shard, msg });
            }
        }
        if acknowledge {
            self.send(
                conn,
                &Message::Published {
                    request,
                    publication: publication.id,
                },
            );
        }
    }

    /// Delivers a publication to this shard's matching subscribers.
    pub(super) fn deliver_publication(&mut self, publication: &Publication) {
        let Core {
            realms,
            outputs,
            scratch,
            ..
        } = self;
        let broker = &realms[publication.realm].broker;
        broker.index.for_each_match(&publication.topic, |id| {
            if let Some(sub) = broker.subscriptions.get(id) {
                deliver_to_subscription(*id, sub, publication, outputs, scratch);
            }
        });
    }
}

fn deliver_to_subscription(
    id: u64,
    sub: &LocalSubscription,
    publication: &Publication,
    outputs: &mut std::collections::VecDeque<Output>,
    scratch: &mut Vec<u8>,
) {
    let mut details = Dict::new();
    if sub.key.policy != MatchPolicy::Exact {
        details.insert("topic", publication.topic.as_str());
    }
    if let Some(p) = &publication.publisher {
        details.insert("publisher", p.session);
        details.insert("publisher_authid", p.authid.as_str());
        details.insert("publisher_authrole", p.authrole.as_str());
    }
    let mut frames: [Option<Bytes>; SERIALIZER_COUNT] = Default::default();
    for s in &sub.subscribers {
        if publication.exclude_me && s.session == publication.publisher_session {
            continue;
        }
        let frame = frames[s.serializer.index()].get_or_insert_with(|| {
            scratch.clear();
            s.serializer
                .encode_event(id, publication.id, &details, &publication.payload, scratch);
            Bytes::copy_from_slice(scratch)
        });
        outputs.push_back(Output::Send {
            conn: s.conn,
            frame: frame.clone(),
        });
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
    }
}
