//! What an MQTT [`Session`](super::session::Session) hands to the router and takes back: the
//! CONNECT to authenticate, subscriptions and publications to route, the router's answers, the
//! end of a connection, and the state of a session that outlives its connection.

use std::sync::Arc;

use bytes::Bytes;
use mqtt5_protocol::{QoS, ReasonCode};
use thiserror::Error;

use super::codec::{CodecError, ProtocolVersion};
use super::flow::{DeliveryOutcome, DropReason, Flow, FlowLimits, Outbound, Queued};
use super::topic::{TopicError, WampFilter};

/// A protocol violation: the connection is closed with this MQTT 5.0 reason code (a DISCONNECT
/// after CONNACK, a CONNACK before it) and this text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message} (reason code 0x{:02X})", *code as u8)]
pub struct ProtocolError {
    /// The MQTT 5.0 reason code.
    pub code: ReasonCode,
    /// What happened, for the log and the 5.0 Reason String.
    pub message: String,
}

impl ProtocolError {
    pub(crate) fn new(code: ReasonCode, message: impl Into<String>) -> Self {
        ProtocolError {
            code,
            message: message.into(),
        }
    }
}

impl From<CodecError> for ProtocolError {
    fn from(e: CodecError) -> Self {
        let code = match e {
            CodecError::TooLarge { .. } => ReasonCode::PacketTooLarge,
            CodecError::UnsupportedProtocol { .. } => ReasonCode::UnsupportedProtocolVersion,
            CodecError::NotConnect(_) => ReasonCode::ProtocolError,
            CodecError::BadLength | CodecError::Malformed { .. } => ReasonCode::MalformedPacket,
        };
        ProtocolError::new(code, e.to_string())
    }
}

/// The last will of a connection: published (as a WAMP event, through the payload mapping)
/// when the connection ends without a normal DISCONNECT.
#[derive(Debug, Clone, PartialEq)]
pub struct Will {
    /// MQTT topic.
    pub topic: String,
    /// The WAMP topic it maps to.
    pub uri: String,
    /// Payload.
    pub payload: Bytes,
    /// QoS.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// MQTT 5.0 Will Delay Interval, seconds (0: at once).
    pub delay_secs: u32,
    /// MQTT 5.0 Message Expiry Interval, seconds.
    pub message_expiry_secs: Option<u32>,
    /// MQTT 5.0 user properties.
    pub user_properties: Vec<(String, String)>,
    /// MQTT 5.0 content type.
    pub content_type: Option<String>,
}

/// How the connecting client asks to be authenticated, as Crossbar's bridge synthesizes a
/// WAMP HELLO: `ticket` when both username and password are given, else `anonymous` with the
/// client id as authid. (A TLS client certificate is known to the shell, not here: it adds
/// the `tls` method.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthRequest {
    /// No credentials: anonymous, authid = client id.
    Anonymous {
        /// The client id.
        authid: String,
    },
    /// Username and password: WAMP ticket, authid = username, ticket = password.
    Ticket {
        /// The username.
        authid: String,
        /// The password (bytes as sent; WAMP tickets are strings, so the router refuses one
        /// that is not UTF-8).
        ticket: Vec<u8>,
    },
}

/// A valid CONNECT, for the router to authenticate ([`Session::accept`] or
/// [`Session::refuse`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectRequest {
    /// 3.1.1 or 5.0.
    pub version: ProtocolVersion,
    /// The client id (the assigned one when the client sent none).
    pub client_id: String,
    /// True if the client sent no client id and `client_id` was assigned here.
    pub assigned_client_id: bool,
    /// Clean Start / clean session: a parked session of this client id must be discarded.
    pub clean_start: bool,
    /// Seconds the session outlives the connection (0: not at all), already capped.
    pub session_expiry_secs: u32,
    /// Keep-alive in effect, seconds (0: none).
    pub keep_alive_secs: u16,
    /// What to authenticate.
    pub auth: AuthRequest,
    /// The last will, its topic already mapped.
    pub will: Option<Will>,
    /// MQTT 5.0 user properties of CONNECT (`authextra` material).
    pub user_properties: Vec<(String, String)>,
}

/// Why the router refuses a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Ticket authentication failed (3.1.1: 0x04, 5.0: 0x86).
    BadCredentials,
    /// Authenticated but not allowed on this realm/role, or no method fits (0x05 / 0x87).
    NotAuthorized,
    /// The realm or router is not available (0x03 / 0x88).
    ServerUnavailable,
    /// Too many connections or sessions (0x03 / 0x97 quota exceeded).
    QuotaExceeded,
    /// The client id is not accepted (0x02 / 0x85).
    ClientIdRejected,
}

impl Refusal {
    pub(crate) fn code(self) -> ReasonCode {
        match self {
            Refusal::BadCredentials => ReasonCode::BadUsernameOrPassword,
            Refusal::NotAuthorized => ReasonCode::NotAuthorized,
            Refusal::ServerUnavailable => ReasonCode::ServerUnavailable,
            Refusal::QuotaExceeded => ReasonCode::QuotaExceeded,
            Refusal::ClientIdRejected => ReasonCode::ClientIdentifierNotValid,
        }
    }
}

/// One filter of a SUBSCRIBE, for the router to authorize and subscribe.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscribeEntry {
    /// The MQTT filter.
    pub filter: String,
    /// The WAMP subscriptions it stands for, or why it has none (the SUBACK then carries the
    /// failure whatever the router answers).
    pub wamp: Result<WampFilter, TopicError>,
    /// Requested maximum QoS.
    pub qos: QoS,
    /// MQTT 5.0 No Local: do not deliver this client's own publications.
    pub no_local: bool,
    /// MQTT 5.0 Retain As Published.
    pub retain_as_published: bool,
    /// Send retained messages now: Retain Handling 0, or 1 and the subscription is new.
    pub send_retained: bool,
}

/// The router's answer for one [`SubscribeEntry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeGrant {
    /// Subscribed, at most this QoS (capped at the requested one).
    Granted(QoS),
    /// The role may not subscribe (5.0: 0x87, 3.1.1: 0x80).
    NotAuthorized,
    /// Another failure (0x80).
    Failed,
}

/// A subscription of the session (kept across reconnects in persistent sessions).
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// The MQTT filter.
    pub filter: String,
    /// Its WAMP subscriptions.
    pub wamp: WampFilter,
    /// Granted QoS.
    pub qos: QoS,
    /// No Local.
    pub no_local: bool,
    /// Retain As Published.
    pub retain_as_published: bool,
}

/// An inbound PUBLISH for the router to publish into the realm. For QoS 1/2 the router answers
/// with [`Session::complete_publish`].
#[derive(Debug, Clone, PartialEq)]
pub struct InboundPublish {
    /// Packet identifier (QoS 1/2).
    pub packet_id: Option<u16>,
    /// QoS.
    pub qos: QoS,
    /// RETAIN: store as the topic's retained event; an empty payload clears it instead.
    pub retain: bool,
    /// MQTT topic (resolved from its alias when one was used).
    pub topic: String,
    /// WAMP topic.
    pub uri: String,
    /// Payload (zero-copy slice of the input).
    pub payload: Bytes,
    /// MQTT 5.0 Message Expiry Interval, seconds.
    pub message_expiry_secs: Option<u32>,
    /// MQTT 5.0 user properties.
    pub user_properties: Vec<(String, String)>,
    /// MQTT 5.0 content type.
    pub content_type: Option<String>,
    /// MQTT 5.0 Payload Format Indicator (true: UTF-8).
    pub payload_is_utf8: bool,
    /// MQTT 5.0 response topic.
    pub response_topic: Option<String>,
    /// MQTT 5.0 correlation data.
    pub correlation_data: Option<Bytes>,
}

impl InboundPublish {
    /// A retained PUBLISH with an empty payload: clear the topic's retained message.
    pub fn clears_retained(&self) -> bool {
        self.retain && self.payload.is_empty()
    }
}

/// The router's verdict on an inbound QoS 1/2 PUBLISH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Published.
    Accepted,
    /// Published, nobody subscribed (5.0: 0x10).
    NoMatchingSubscribers,
    /// The role may not publish there (5.0: 0x87).
    NotAuthorized,
    /// The payload does not fit the payload mapping (5.0: 0x99).
    PayloadFormatInvalid,
    /// Any other failure (5.0: 0x80).
    Failed,
}

impl PublishOutcome {
    pub(crate) fn code(self) -> ReasonCode {
        match self {
            PublishOutcome::Accepted => ReasonCode::Success,
            PublishOutcome::NoMatchingSubscribers => ReasonCode::NoMatchingSubscribers,
            PublishOutcome::NotAuthorized => ReasonCode::NotAuthorized,
            PublishOutcome::PayloadFormatInvalid => ReasonCode::PayloadFormatInvalid,
            PublishOutcome::Failed => ReasonCode::UnspecifiedError,
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent DISCONNECT (5.0: with this reason code).
    ClientDisconnect(ReasonCode),
    /// The connection was lost (closed by the peer or the network) without DISCONNECT.
    ConnectionLost,
    /// The client broke the protocol.
    Protocol(ProtocolError),
    /// No CONNECT in time.
    ConnectTimeout,
    /// Nothing received within 1.5 × keep-alive.
    KeepAliveTimeout,
    /// The router refused the CONNECT.
    Refused(Refusal),
    /// Another connection took over the client id.
    TakenOver,
    /// The server is shutting down.
    ServerShutdown,
}

/// The end of a connection, for the router.
#[derive(Debug, Clone)]
pub struct Closed {
    /// Why.
    pub reason: CloseReason,
    /// The will to publish (after its delay), if the connection ended without a normal
    /// DISCONNECT.
    pub will: Option<Will>,
    /// The session's state when it outlives the connection (session expiry / clean_session=0):
    /// keep it under its client id, deliver to it with [`ParkedSession::deliver`], drop it when
    /// expired, hand it to [`Session::accept`] on reconnect.
    pub parked: Option<ParkedSession>,
}

/// Work for the router.
#[derive(Debug, Clone)]
pub enum Action {
    /// A valid CONNECT: authenticate, then [`Session::accept`] or [`Session::refuse`].
    Authenticate(Box<ConnectRequest>),
    /// Subscribe (authorize each entry), then [`Session::complete_subscribe`].
    Subscribe {
        /// The SUBSCRIBE's packet id.
        packet_id: u16,
        /// One per filter, in order.
        entries: Vec<SubscribeEntry>,
    },
    /// Drop these subscriptions (UNSUBACK is already sent).
    Unsubscribe(Vec<Subscription>),
    /// Publish into the realm.
    Publish(Box<InboundPublish>),
    /// The connection is over; nothing else comes from this session.
    Closed(Box<Closed>),
}

/// A session that outlives its connection: a plain struct the router parks under the client id
/// and resumes on reconnect; expired by time.
#[derive(Debug, Clone)]
pub struct ParkedSession {
    /// The client id.
    pub client_id: String,
    /// Its subscriptions (the router keeps their WAMP subscriptions while parked).
    pub subscriptions: Vec<Subscription>,
    /// Deadline (ms) after which it is dropped.
    pub expires_at: u64,
    /// Session expiry interval it was parked with, seconds.
    pub expiry_secs: u32,
    /// In-flight, queued and inbound QoS 2 state.
    pub flow: Flow,
    /// Queue bounds while parked.
    pub limits: FlowLimits,
}

impl ParkedSession {
    /// True once its expiry passed: drop it (and its WAMP subscriptions).
    pub fn is_expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }

    /// Queues a message for delivery on reconnect (QoS 0 is not kept for absent clients).
    pub fn deliver(
        &mut self,
        now: u64,
        msg: &Arc<Outbound>,
        qos: QoS,
        retain: bool,
    ) -> DeliveryOutcome {
        if msg.expires_at.is_some_and(|at| at <= now) {
            return DeliveryOutcome::Dropped(DropReason::Expired);
        }
        if qos == QoS::AtMostOnce {
            return DeliveryOutcome::Dropped(DropReason::Offline);
        }
        self.flow.enqueue(
            Queued {
                msg: Arc::clone(msg),
                qos,
                retain,
            },
            &self.limits,
        )
    }
}
