//! Per-connection session state as the core sees it.

use std::sync::Arc;

use hashbrown::HashMap;

use crate::codec::Serializer;
use crate::config::AnonymousAuth;

use super::ConnId;

/// What the shell tells the core about a new WAMP transport connection.
#[derive(Debug, Clone)]
pub struct TransportInfo {
    /// The negotiated serializer.
    pub serializer: Serializer,
    /// The peer address (`tcp4:127.0.0.1:50412`, `unix`).
    pub peer: String,
    /// Anonymous authentication settings of the transport the connection came in on.
    pub auth: Arc<AnonymousAuth>,
}

/// A call this session made that has not been answered yet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingCall {
    /// The callee's shard and session, once known (a call resolved by the home shard is not).
    pub(crate) callee: Option<(usize, u64)>,
}

/// Where an invocation this session (as callee) must answer came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InvocationOrigin {
    pub(crate) caller_shard: usize,
    pub(crate) caller_session: u64,
    pub(crate) caller_request: u64,
}

/// A session that has joined a realm.
#[derive(Debug)]
pub(crate) struct Joined {
    pub(crate) id: u64,
    pub(crate) realm: usize,
    pub(crate) authid: String,
    /// Index into the realm's roles.
    pub(crate) role: usize,
    /// Subscription ids this session holds.
    pub(crate) subscriptions: Vec<u64>,
    /// Registration ids this session holds.
    pub(crate) registrations: Vec<u64>,
    /// REGISTER requests sent to the home shard and not answered yet.
    pub(crate) pending_registers: usize,
    /// Calls made by this session, by request id.
    pub(crate) pending_calls: HashMap<u64, PendingCall>,
    /// Invocations sent to this session, by invocation request id.
    pub(crate) invocations: HashMap<u64, InvocationOrigin>,
    pub(crate) next_invocation: u64,
}

/// The session state machine of one connection.
#[derive(Debug)]
pub(crate) enum State {
    /// Transport open, no session (also after a GOODBYE exchange: the client may join again).
    ExpectHello,
    /// Joined a realm.
    Established(Box<Joined>),
    /// ABORTed or shut down: waiting for the shell to close the transport.
    Closed,
}

/// One connection's session.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) conn: ConnId,
    pub(crate) serializer: Serializer,
    pub(crate) peer: String,
    pub(crate) auth: Arc<AnonymousAuth>,
    pub(crate) state: State,
}

impl Session {
    pub(crate) fn joined(&self) -> Option<&Joined> {
        match &self.state {
            State::Established(j) => Some(j),
            _ => None,
        }
    }

    pub(crate) fn joined_mut(&mut self) -> Option<&mut Joined> {
        match &mut self.state {
            State::Established(j) => Some(j),
            _ => None,
        }
    }
}
