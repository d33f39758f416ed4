//! Messages between the cores of different shards. The shell carries them over the lock-free
//! mailboxes but cannot build or open them: the wrapper's inside is crate-private.

use std::sync::Arc;

use crate::wamp::uri::MatchPolicy;
use crate::wamp::{Dict, Payload};

/// A message from one shard's core to another's.
#[derive(Debug)]
pub struct ShardMsg(pub(crate) Inner);

/// A subscription's realm-wide identity: its match policy and URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SubKey {
    pub(crate) policy: MatchPolicy,
    pub(crate) uri: String,
}

/// Where a registration's callee lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RegTarget {
    pub(crate) id: u64,
    pub(crate) shard: usize,
    pub(crate) session: u64,
}

/// Identity of a session, as disclosed to a callee or subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) session: u64,
    pub(crate) authid: String,
    pub(crate) authrole: String,
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
    pub(crate) payload: Payload,
}

/// A call on its way to the callee's shard (or, with no target, to the realm's home shard,
/// which resolves it from the authoritative registration table).
#[derive(Debug)]
pub(crate) struct Invoke {
    pub(crate) realm: usize,
    pub(crate) target: Option<RegTarget>,
    pub(crate) procedure: String,
    pub(crate) caller_shard: usize,
    pub(crate) caller_session: u64,
    pub(crate) caller_request: u64,
    /// Set when the caller's identity is disclosed to the callee.
    pub(crate) caller: Option<Identity>,
    pub(crate) payload: Payload,
}

/// An ERROR travelling back to a caller.
#[derive(Debug)]
pub(crate) struct CallFailure {
    pub(crate) caller_session: u64,
    pub(crate) request: u64,
    pub(crate) error: String,
    pub(crate) details: Dict,
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
    /// From the home shard: the realm-wide id of `key`.
    SubAllocated { realm: usize, key: SubKey, id: u64 },
    /// To the home shard: the sender's last local subscriber for `key` left.
    SubRelease { realm: usize, key: SubKey },
    /// To the home shard: register `uri` for a session on shard `from`.
    Register {
        realm: usize,
        uri: String,
        from: usize,
        session: u64,
        request: u64,
    },
    /// From the home shard: the outcome of a `Register`.
    RegisterDone {
        realm: usize,
        uri: String,
        session: u64,
        request: u64,
        result: Result<u64, &'static str>,
    },
    /// From the home shard: a registration now exists (read-only replica update).
    ReplicaAdd {
        realm: usize,
        uri: String,
        target: RegTarget,
    },
    /// From the home shard: a registration is gone.
    ReplicaRemove { realm: usize, uri: String, id: u64 },
    /// To the home shard: drop a registration; reply to `(shard, request)` if given.
    Unregister {
        realm: usize,
        id: u64,
        session: u64,
        reply: Option<(usize, u64)>,
    },
    /// From the home shard: the outcome of an `Unregister` with a reply.
    UnregisterDone {
        session: u64,
        request: u64,
        ok: bool,
    },
    /// A call for a callee on the receiving shard (or to resolve, at the home shard).
    Invoke(Box<Invoke>),
    /// A callee's YIELD for a caller on the receiving shard.
    CallResult {
        caller_session: u64,
        request: u64,
        payload: Box<Payload>,
    },
    /// An error for a caller on the receiving shard.
    CallError(Box<CallFailure>),
    /// The caller of a pending invocation left; forget the invocation. Without a known callee
    /// session every local callee is searched.
    CallerGone {
        callee_session: Option<u64>,
        caller_shard: usize,
        caller_session: u64,
        request: u64,
    },
}
