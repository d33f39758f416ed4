//! Messages between the cores of different shards. The shell carries them over the lock-free
//! mailboxes but cannot build or open them: the wrapper's inside is crate-private.

use std::sync::Arc;

use crate::wamp::uri::MatchPolicy;
use crate::wamp::Payload;

use super::dealer::msg::DealerMsg;

/// A message from one shard's core to another's.
#[derive(Debug)]
pub struct ShardMsg(pub(crate) Inner);

impl ShardMsg {
    /// A publication for the receiver's subscribers: the only message a shard may drop when
    /// its receiver falls far behind (its subscribers then miss the events, as slow consumers
    /// do). Every other message (subscriptions, calls, meta) changes state and is never
    /// dropped.
    pub fn is_publication(&self) -> bool {
        matches!(self.0, Inner::Publish(_))
    }

    /// A publication to `topic` (publication id `id`), for tests of the shell's mailboxes.
    #[cfg(test)]
    pub(crate) fn test_publication(topic: &str, id: u64) -> Self {
        ShardMsg(Inner::Publish(Arc::new(Publication {
            realm: 0,
            topic: topic.into(),
            id,
            publisher_session: 1,
            exclude_me: true,
            publisher: None,
            filter: None,
            retain: false,
            ppt: crate::wamp::Dict::new(),
            payload: Payload::empty(),
        })))
    }

    /// A state-changing message (a shard's last subscriber for `uri` left), for tests.
    #[cfg(test)]
    pub(crate) fn test_control(uri: &str) -> Self {
        let key = SubKey {
            policy: MatchPolicy::Exact,
            uri: uri.into(),
        };
        ShardMsg(Inner::SubRelease {
            realm: 0,
            key,
            from: 0,
        })
    }

    /// What a test message built above carries: the publication id or the URI.
    #[cfg(test)]
    pub(crate) fn test_label(&self) -> String {
        match &self.0 {
            Inner::Publish(p) => format!("pub{}", p.id),
            Inner::SubRelease { key, .. } => key.uri.clone(),
            other => format!("{other:?}"),
        }
    }
}

/// A subscription's realm-wide identity: its match policy and URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SubKey {
    pub(crate) policy: MatchPolicy,
    pub(crate) uri: String,
}

/// Identity of a session, as disclosed to a callee or subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) session: u64,
    pub(crate) authid: Arc<str>,
    pub(crate) authrole: Arc<str>,
}

/// One publication, shared by every shard it is forwarded to.
#[derive(Debug)]
pub(crate) struct Publication {
    pub(crate) realm: usize,
    pub(crate) topic: String,
    pub(crate) id: u64,
    pub(crate) publisher_session: u64,
    pub(crate) exclude_me: bool,
    /// Set when the publisher's identity is disclosed to subscribers.
    pub(crate) publisher: Option<Identity>,
    /// Subscriber black/white listing, if any.
    pub(crate) filter: Option<Box<super::broker::Filter>>,
    /// Kept as the topic's retained event.
    pub(crate) retain: bool,
    /// Payload pass-through options, forwarded in EVENT details.
    pub(crate) ppt: crate::wamp::Dict,
    pub(crate) payload: Payload,
}

#[derive(Debug)]
pub(crate) enum Inner {
    /// Deliver to this shard's matching subscribers.
    Publish(Arc<Publication>),
    /// To the home shard: the sender has its first local subscriber for `key`.
    SubAlloc {
        realm: usize,
        key: SubKey,
        from: usize,
    },
    /// From the home shard: the realm-wide id of `key`, and how many other shards acknowledge
    /// the new interest (`InterestAck`) before the subscribers may be told SUBSCRIBED.
    SubAllocated {
        realm: usize,
        key: SubKey,
        id: u64,
        acks: usize,
    },
    /// To the home shard: the sender's last local subscriber for `key` left.
    SubRelease {
        realm: usize,
        key: SubKey,
        from: usize,
    },
    /// From the home shard: `holder` has local subscribers for `key` (acknowledge to `holder`).
    InterestAdd {
        realm: usize,
        key: SubKey,
        holder: usize,
    },
    /// To the shard that subscribes: this shard routes its publications for `key` there now.
    InterestAck { realm: usize, key: SubKey },
    /// From the home shard: `holder` has no subscriber for `key` any more.
    InterestRemove {
        realm: usize,
        key: SubKey,
        holder: usize,
    },
    /// Dealer traffic.
    Dealer(Box<DealerMsg>),
    /// Meta API traffic.
    Meta(Box<super::meta::MetaMsg>),
    /// A client logged out (GOODBYE `wamp.close.logout`): close every connection of this shard
    /// that carries the same cookie.
    CookieLogout(Box<crate::auth::cookie::CookieSession>),
}
