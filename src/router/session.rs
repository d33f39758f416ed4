//! Per-connection session state as the core sees it.

use std::sync::Arc;

use hashbrown::HashMap;

use crate::codec::Serializer;
use crate::config::AuthConfig;
use crate::wamp::Dict;

use super::dealer::msg::{CallRef, Callee};
use std::time::Instant;

use super::ConnId;

/// What the shell tells the core about a new WAMP transport connection.
#[derive(Debug, Clone)]
pub struct TransportInfo {
    /// The negotiated serializer.
    pub serializer: Serializer,
    /// The peer address (`tcp4:127.0.0.1:50412`, `unix`).
    pub peer: Arc<str>,
    /// Authentication settings of the transport the connection came in on.
    pub auth: Arc<AuthConfig>,
    /// SHA-1 fingerprint (hex) of the verified TLS client certificate, if any.
    pub client_cert_sha1: Option<Arc<str>>,
    /// On TLS: the `tls-unique` channel id cryptosign binds to (see the shell).
    pub channel_id: Option<[u8; 32]>,
    /// WebSocket or RawSocket, as dynamic authenticators and the meta API see it.
    pub kind: Framing,
    /// The connection's tracking cookie: a WebSocket service with a `cookie` block read or set
    /// it at the upgrade. `None` on RawSocket and on services without cookie tracking.
    pub cookie: Option<crate::auth::cookie::CookieSession>,
    /// The largest message the peer accepts: a RawSocket client's announced maximum, or the
    /// WebSocket service's `max_message_size`. Larger results, invocations and errors become
    /// an ERROR for their caller, larger EVENTs are dropped for this peer.
    pub max_message_len: usize,
}

/// How a connection frames WAMP messages (Crossbar's `channel_framing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// WebSocket (on a `websocket`, `web` or `universal` transport).
    WebSocket,
    /// RawSocket.
    RawSocket,
}

impl Framing {
    /// `websocket` or `rawsocket`.
    pub fn as_str(self) -> &'static str {
        match self {
            Framing::WebSocket => "websocket",
            Framing::RawSocket => "rawsocket",
        }
    }
}

/// A call this session made that has not been answered yet.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PendingCall {
    /// The callee, once known (a call resolved by the home shard learns it a little later).
    pub(crate) callee: Option<Callee>,
    /// The caller asked for progressive results.
    pub(crate) receive_progress: bool,
    /// A progressive call invocation whose input is still open.
    pub(crate) progressive: bool,
    /// When the router cancels the call (CALL `timeout`).
    pub(crate) deadline: Option<Instant>,
    /// The caller already has its final answer, but this progressive call's input was still
    /// open: the CALLs still coming with its request id are dropped, up to the last one.
    pub(crate) answered: bool,
    /// When the CALL came in (the core's clock), for the call-latency metric.
    pub(crate) started: Option<Instant>,
}

/// Where an invocation this session (as callee) must answer came from.
#[derive(Debug, Clone)]
pub(crate) struct InvocationOrigin {
    pub(crate) call: CallRef,
    pub(crate) registration: u64,
    /// The caller asked for progressive results.
    pub(crate) receive_progress: bool,
    /// A progressive call invocation whose input is still open.
    pub(crate) input_open: bool,
    /// For a progressive invocation: the details every INVOCATION of it carries.
    pub(crate) base_details: Option<Box<Dict>>,
}

/// Features a client announced in HELLO that change what the router sends it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ClientFeatures {
    /// The callee handles INTERRUPT.
    pub(crate) call_canceling: bool,
    /// The callee accepts progressive call invocations.
    pub(crate) progressive_call_invocations: bool,
    /// The callee is told (UNREGISTERED, request 0) when the router removes a registration.
    pub(crate) registration_revocation: bool,
}

impl ClientFeatures {
    pub(crate) fn from_hello(details: &Dict) -> Self {
        let callee = details
            .get_dict("roles")
            .and_then(|r| r.get_dict("callee"))
            .and_then(|c| c.get_dict("features"));
        let flag = |name: &str| callee.and_then(|f| f.get_bool(name)).unwrap_or(false);
        ClientFeatures {
            // The spec text misspells it in one place; accept both.
            call_canceling: flag("call_canceling") || flag("call_cancelling"),
            progressive_call_invocations: flag("progressive_call_invocations"),
            registration_revocation: flag("registration_revocation"),
        }
    }
}

/// A session that has joined a realm.
#[derive(Debug)]
pub(crate) struct Joined {
    pub(crate) id: u64,
    pub(crate) realm: usize,
    pub(crate) authid: Arc<str>,
    /// Index into the realm's roles.
    pub(crate) role: usize,
    /// Subscription ids this session holds.
    pub(crate) subscriptions: Vec<u64>,
    /// Its registrations, calls and invocations (allocated by the first RPC action).
    pub(crate) rpc: LazyRpc,
    pub(crate) features: ClientFeatures,
    /// Published by the router when the session goes away. Boxed: few sessions have any, and
    /// `None` takes 8 bytes of every idle session where an empty `Vec` takes 24.
    #[allow(clippy::box_collection)]
    pub(crate) testaments: Option<Box<Vec<super::testament::Testament>>>,
    /// Set when the session's role has a dynamic authorizer.
    pub(crate) dynamic: Option<Box<super::authorizer::DynamicAuthz>>,
}

/// A session's part in RPC.
#[derive(Debug, Default)]
pub(crate) struct Rpc {
    /// Registration ids this session holds.
    pub(crate) registrations: Vec<u64>,
    /// Calls made by this session, by request id.
    pub(crate) pending_calls: HashMap<u64, PendingCall>,
    /// Invocations sent to this session, by invocation request id.
    pub(crate) invocations: HashMap<u64, InvocationOrigin>,
    pub(crate) next_invocation: u64,
}

/// A session's [`Rpc`] state, allocated when first changed: most IoT sessions only publish and
/// subscribe, and an idle session's memory is a budget. Reads of a session that never used RPC
/// see one shared empty state.
#[derive(Debug, Default)]
pub(crate) struct LazyRpc(Option<Box<Rpc>>);

static NO_RPC: std::sync::LazyLock<Rpc> = std::sync::LazyLock::new(Rpc::default);

impl std::ops::Deref for LazyRpc {
    type Target = Rpc;
    fn deref(&self) -> &Rpc {
        self.0.as_deref().unwrap_or(&NO_RPC)
    }
}

impl std::ops::DerefMut for LazyRpc {
    fn deref_mut(&mut self) -> &mut Rpc {
        self.0.get_or_insert_with(Box::default)
    }
}

impl Joined {
    /// The call `request` got its final answer: returns it if it was still unanswered. A
    /// progressive call whose input is still open stays, marked answered, so that its
    /// remaining CALLs are dropped instead of starting a new call with the same request id.
    pub(crate) fn end_call(&mut self, request: u64) -> Option<PendingCall> {
        let pending = self.rpc.pending_calls.get_mut(&request)?;
        if pending.answered {
            return None;
        }
        let ended = *pending;
        if pending.progressive {
            pending.answered = true;
        } else {
            self.rpc.pending_calls.remove(&request);
        }
        Some(ended)
    }
}

/// A session between HELLO and WELCOME.
#[derive(Debug)]
pub(crate) struct Authenticating {
    /// The realm asked for (a dynamic authenticator may assign another).
    pub(crate) realm_name: String,
    /// The id the session gets once it joins.
    pub(crate) session: u64,
    pub(crate) features: ClientFeatures,
    /// The authenticator's state, while it waits for AUTHENTICATE or a dynamic answer.
    pub(crate) pending: Option<crate::auth::Pending>,
    /// The router's own call to a dynamic authenticator, while it runs.
    pub(crate) internal_call: Option<u64>,
    /// The method of the last CHALLENGE sent (for the authentication-failure metric).
    pub(crate) challenged: Option<&'static str>,
}

/// The session state machine of one connection.
#[derive(Debug)]
pub(crate) enum State {
    /// Transport open, no session (also after a GOODBYE exchange: the client may join again).
    ExpectHello,
    /// HELLO received; authentication in progress (CHALLENGE sent, or an authenticator asked).
    Authenticating(Box<Authenticating>),
    /// Joined a realm.
    Established(Box<Joined>),
    /// ABORTed or shut down: waiting for the shell to close the transport.
    Closed,
    /// Killed through the meta API: GOODBYE sent, waiting for the client's GOODBYE.
    Killed,
}

/// One connection's session.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) conn: ConnId,
    pub(crate) serializer: Serializer,
    pub(crate) peer: Arc<str>,
    pub(crate) auth: Arc<AuthConfig>,
    pub(crate) kind: Framing,
    /// See [`TransportInfo::max_message_len`] (saturated: no peer announces more than 4 GiB).
    pub(crate) max_message_len: u32,
    /// What only some connections have (TLS, a tracking cookie). Boxed: every idle session
    /// pays for this field, and most have none of it.
    pub(crate) extras: Option<Box<TransportExtras>>,
    pub(crate) state: State,
}

/// See [`TransportInfo`].
#[derive(Debug)]
pub(crate) struct TransportExtras {
    pub(crate) client_cert_sha1: Option<Arc<str>>,
    pub(crate) channel_id: Option<[u8; 32]>,
    pub(crate) cookie: Option<crate::auth::cookie::CookieSession>,
}

impl TransportExtras {
    /// `None` when the connection has none of them.
    pub(crate) fn of(info: &mut TransportInfo) -> Option<Box<Self>> {
        let extras = TransportExtras {
            client_cert_sha1: info.client_cert_sha1.take(),
            channel_id: info.channel_id.take(),
            cookie: info.cookie.take(),
        };
        let none = extras.client_cert_sha1.is_none()
            && extras.channel_id.is_none()
            && extras.cookie.is_none();
        (!none).then(|| Box::new(extras))
    }
}

impl Session {
    /// `details.transport` as dynamic authenticators and authorizers get it: a subset of
    /// Crossbar's `TransportDetails.marshal()` (`type`, `peer`, and `http_cbtid` when the
    /// connection carries a tracking cookie).
    pub(crate) fn transport_details(&self) -> crate::wamp::Dict {
        let details = crate::wamp::Dict::new()
            .with("type", self.kind.as_str())
            .with("peer", &*self.peer);
        match self.cookie() {
            Some(cookie) => details.with("http_cbtid", cookie.id()),
            None => details,
        }
    }

    /// See [`TransportInfo::cookie`].
    pub(crate) fn cookie(&self) -> Option<&crate::auth::cookie::CookieSession> {
        self.extras.as_ref()?.cookie.as_ref()
    }

    /// See [`TransportInfo::client_cert_sha1`].
    pub(crate) fn client_cert_sha1(&self) -> Option<&Arc<str>> {
        self.extras.as_ref()?.client_cert_sha1.as_ref()
    }

    /// See [`TransportInfo::channel_id`].
    pub(crate) fn channel_id(&self) -> Option<&[u8; 32]> {
        self.extras.as_ref()?.channel_id.as_ref()
    }

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
