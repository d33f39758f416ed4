//! What dealers on different shards tell each other.

use std::sync::Arc;

use crate::wamp::uri::MatchPolicy;
use crate::wamp::{Dict, Payload, Value};

use crate::router::shard_msg::Identity;

/// How a shared registration picks a callee (REGISTER `invoke`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InvokePolicy {
    Single,
    RoundRobin,
    Random,
    First,
    Last,
}

impl InvokePolicy {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "single" => InvokePolicy::Single,
            "roundrobin" => InvokePolicy::RoundRobin,
            "random" => InvokePolicy::Random,
            "first" => InvokePolicy::First,
            "last" => InvokePolicy::Last,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            InvokePolicy::Single => "single",
            InvokePolicy::RoundRobin => "roundrobin",
            InvokePolicy::Random => "random",
            InvokePolicy::First => "first",
            InvokePolicy::Last => "last",
        }
    }
}

/// A callee session and the shard it lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Callee {
    pub(crate) shard: usize,
    pub(crate) session: u64,
}

/// A registration as the home shard publishes it to every shard's replica.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Registration {
    pub(crate) id: u64,
    pub(crate) policy: MatchPolicy,
    pub(crate) uri: String,
    pub(crate) invoke: InvokePolicy,
    /// In registration order.
    pub(crate) callees: Vec<Callee>,
    /// When it was created, for the meta API.
    pub(crate) created: std::time::SystemTime,
}

/// The home shard's verdict on a REGISTER: the registration, or the error URI and message.
pub(crate) type RegisterOutcome = Result<Arc<Registration>, (&'static str, String)>;

/// A REGISTER being answered: the callee's shard, session and request, and the registration it
/// joins (a client may reuse a request id for REGISTERs in flight; each joins a different
/// registration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RegisterRef {
    pub(crate) shard: usize,
    pub(crate) session: u64,
    pub(crate) request: u64,
    pub(crate) registration: u64,
}

/// A call on its way to its callee's shard, or (with no target) to the home shard to resolve.
#[derive(Debug)]
pub(crate) struct Invoke {
    pub(crate) realm: usize,
    /// Registration id and chosen callee, once resolved.
    pub(crate) target: Option<(u64, Callee)>,
    /// True when the home shard resolved it: the callee's shard tells the caller's shard where
    /// the call went (needed for cancel, timeouts and progressive invocations).
    pub(crate) resolved_remotely: bool,
    pub(crate) procedure: String,
    pub(crate) caller_shard: usize,
    pub(crate) caller_session: u64,
    pub(crate) caller_request: u64,
    /// Set when the caller's identity is disclosed to the callee.
    pub(crate) caller: Option<Identity>,
    pub(crate) receive_progress: bool,
    /// A progressive call invocation: more CALLs with this request id follow.
    pub(crate) progress: bool,
    /// The caller's `timeout`, forwarded unchanged in INVOCATION details (the callee reads it
    /// in the unit its own client library uses, as the caller wrote it).
    pub(crate) timeout: Option<Value>,
    /// Payload pass-through options (`ppt_*`), forwarded untouched.
    pub(crate) ppt: Dict,
    pub(crate) payload: Payload,
}

/// How a canceled call ends (CANCEL `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CancelMode {
    Skip,
    Kill,
    KillNoWait,
}

impl CancelMode {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "skip" => CancelMode::Skip,
            "kill" => CancelMode::Kill,
            "killnowait" => CancelMode::KillNoWait,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CancelMode::Skip => "skip",
            CancelMode::Kill => "kill",
            CancelMode::KillNoWait => "killnowait",
        }
    }
}

/// Identifies one call realm-wide: the caller's shard, session and request id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CallRef {
    pub(crate) shard: usize,
    pub(crate) session: u64,
    pub(crate) request: u64,
}

#[derive(Debug)]
pub(crate) enum DealerMsg {
    /// To home: add `callee` to the registration (policy, uri).
    Register {
        realm: usize,
        policy: MatchPolicy,
        uri: String,
        invoke: InvokePolicy,
        force_reregister: bool,
        callee: Callee,
        request: u64,
    },
    /// From home: the outcome of a `Register`.
    RegisterDone {
        realm: usize,
        session: u64,
        request: u64,
        result: RegisterOutcome,
        /// Replica acknowledgements (`ReplicaAck`) to wait for before REGISTERED.
        acks: usize,
    },
    /// From home: a registration's new state (read-only replica update). With `ack`, the
    /// receiver acknowledges it to that registering callee's shard.
    Replica {
        realm: usize,
        registration: Arc<Registration>,
        ack: Option<RegisterRef>,
    },
    /// To a registering callee's shard: this shard's replica has its registration now.
    ReplicaAck { realm: usize, register: RegisterRef },
    /// From home: a registration is gone.
    ReplicaRemove {
        realm: usize,
        policy: MatchPolicy,
        uri: String,
        id: u64,
    },
    /// To home: remove `callee` from registration `id`; reply to `(shard, request)` if given.
    Unregister {
        realm: usize,
        id: u64,
        callee: Callee,
        reply: Option<(usize, u64)>,
    },
    /// From home: the outcome of an `Unregister` with a reply.
    UnregisterDone {
        session: u64,
        request: u64,
        ok: bool,
    },
    /// From home to a callee's shard: the callee lost the registration (`force_reregister`, or
    /// `wamp.registration.remove_callee` with its reason).
    Revoked {
        session: u64,
        id: u64,
        reason: Option<String>,
    },
    /// A call for a callee on the receiving shard (or, with no target, to resolve at home).
    Invoke(Box<Invoke>),
    /// From the callee's shard: where a remotely resolved call went.
    Routed { call: CallRef, callee: Callee },
    /// More input for a progressive call invocation.
    Continue {
        call: CallRef,
        callee: Option<u64>,
        progress: bool,
        payload: Payload,
    },
    /// A (possibly progressive) result for a caller on the receiving shard.
    Result {
        call: CallRef,
        progress: bool,
        /// Pass-through options of the YIELD, for the RESULT's details.
        details: Dict,
        payload: Box<Payload>,
    },
    /// An error for a caller on the receiving shard.
    Error {
        call: CallRef,
        error: String,
        details: Dict,
        payload: Box<Payload>,
    },
    /// The call is over for the caller (it left, canceled or timed out): tell the callee.
    Interrupt {
        call: CallRef,
        callee: Option<u64>,
        mode: Option<CancelMode>,
        reason: &'static str,
    },
}
