//! One MQTT connection as a sans-IO state machine (quinn-proto style): bytes and answers from the
//! router go in ([`Session::handle_input`], [`Session::accept`], [`Session::complete_publish`],
//! …), packets to send come out of [`Session::poll_transmit`], work for the router comes out of
//! [`Session::poll_action`], and time is an argument (`now`, milliseconds of the caller's
//! monotonic clock), with [`Session::poll_timeout`] / [`Session::handle_timeout`] for deadlines.
//! No sockets, no clock, no threads.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use hashbrown::HashMap;
use mqtt5_protocol::packet::connack::ConnAckPacket;
use mqtt5_protocol::packet::connect::ConnectPacket;
use mqtt5_protocol::packet::disconnect::DisconnectPacket;
use mqtt5_protocol::packet::puback::PubAckPacket;
use mqtt5_protocol::packet::pubcomp::PubCompPacket;
use mqtt5_protocol::packet::publish::PublishPacket;
use mqtt5_protocol::packet::pubrec::PubRecPacket;
use mqtt5_protocol::packet::pubrel::PubRelPacket;
use mqtt5_protocol::packet::suback::{SubAckPacket, SubAckReasonCode};
use mqtt5_protocol::packet::subscribe::SubscribePacket;
use mqtt5_protocol::packet::subscribe_options::RetainHandling;
use mqtt5_protocol::packet::unsuback::{UnsubAckPacket, UnsubAckReasonCode};
use mqtt5_protocol::packet::unsubscribe::UnsubscribePacket;
use mqtt5_protocol::{Packet, Properties, PropertyId, PropertyValue, QoS, ReasonCode};

use super::codec::{encode, Decoder, ProtocolVersion};
use super::flow::{
    Delivery, DeliveryOutcome, DropReason, Flow, FlowLimits, Inflight, Outbound, Queued,
};
use super::topic::{filter_to_wamp, topic_to_uri, TopicError};

/// The session's inputs and outputs live in [`super::actions`]; re-exported for callers.
pub use super::actions::*;

/// Limits and timeouts of MQTT sessions (per transport).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// The largest packet accepted from a client, fixed header included (announced to MQTT
    /// 5.0 clients as Maximum Packet Size).
    pub max_packet_size: u32,
    /// CONNECT must arrive this soon after the connection opens.
    pub connect_timeout_ms: u64,
    /// Outbound window and queue.
    pub flow: FlowLimits,
    /// QoS 1/2 PUBLISHes a client may have unacknowledged (Receive Maximum announced to MQTT
    /// 5.0 clients; exceeding it is a protocol error).
    pub receive_maximum: u16,
    /// Topic aliases an MQTT 5.0 client may use (0: none).
    pub topic_alias_maximum: u16,
    /// Longest session expiry granted, in seconds; also the expiry of MQTT 3.1.1 persistent
    /// (`clean_session=0`) sessions, which MQTT lets live forever.
    pub max_session_expiry_secs: u32,
    /// Longest keep-alive accepted from an MQTT 5.0 client, in seconds (0: no limit). A longer
    /// or zero keep-alive is replaced by this one (Server Keep Alive).
    pub max_keep_alive_secs: u16,
    /// Longest client identifier accepted, in bytes.
    pub max_client_id_len: u16,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            max_packet_size: 1024 * 1024,
            connect_timeout_ms: 10_000,
            flow: FlowLimits::default(),
            receive_maximum: 64,
            topic_alias_maximum: 16,
            max_session_expiry_secs: 24 * 3600,
            max_keep_alive_secs: 0,
            max_client_id_len: 256,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitingConnect,
    AwaitingAuth,
    Connected,
    Closed,
}

/// Inbound QoS 1/2 publishes handed to the router and not yet answered.
type PendingPublishes = HashMap<u16, QoS>;

/// One MQTT connection.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    phase: Phase,
    decoder: Decoder,
    version: ProtocolVersion,
    out: BytesMut,
    actions: VecDeque<Action>,
    connect_deadline: u64,
    last_rx: u64,
    keep_alive_ms: u64,
    /// Set once CONNECT is valid.
    request: Option<ConnectRequest>,
    connect_props: ClientLimits,
    subscriptions: Vec<Subscription>,
    pending_subscribes: HashMap<u16, Vec<SubscribeEntry>>,
    pending_publishes: PendingPublishes,
    topic_aliases: Vec<Option<String>>,
    flow: Flow,
    expired: u64,
    session_expiry_secs: u32,
    client_id_seed: u64,
    /// The latest `now` seen.
    clock: u64,
}

/// What an MQTT 5.0 client announced in CONNECT.
#[derive(Debug, Clone, Copy)]
struct ClientLimits {
    receive_maximum: u16,
    max_packet_size: u32,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            receive_maximum: u16::MAX,
            max_packet_size: u32::MAX,
        }
    }
}

impl Session {
    /// A new connection at `now`. `client_id_seed` makes the client id assigned to a client
    /// that sends none unique (the shell passes a connection or session number).
    pub fn new(config: SessionConfig, now: u64, client_id_seed: u64) -> Self {
        Session {
            decoder: Decoder::new(config.max_packet_size),
            connect_deadline: now.saturating_add(config.connect_timeout_ms),
            config,
            phase: Phase::AwaitingConnect,
            version: ProtocolVersion::V311,
            out: BytesMut::new(),
            actions: VecDeque::new(),
            last_rx: now,
            keep_alive_ms: 0,
            request: None,
            connect_props: ClientLimits::default(),
            subscriptions: Vec::new(),
            pending_subscribes: HashMap::new(),
            pending_publishes: HashMap::new(),
            topic_aliases: Vec::new(),
            flow: Flow::default(),
            expired: 0,
            session_expiry_secs: 0,
            client_id_seed,
            clock: now,
        }
    }

    /// The protocol version (3.1.1 until CONNECT says otherwise).
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// True once the session is connected (CONNACK 0 sent).
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Connected
    }

    /// True once the session is over.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The client id, once CONNECT was valid.
    pub fn client_id(&self) -> Option<&str> {
        self.request.as_ref().map(|r| r.client_id.as_str())
    }

    /// The session's subscriptions.
    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subscriptions
    }

    /// Outbound state (window, queue) for inspection and metrics.
    pub fn flow(&self) -> &Flow {
        &self.flow
    }

    /// Queued messages dropped because they expired before a window slot freed.
    pub fn expired_count(&self) -> u64 {
        self.expired
    }

    /// False while the router decides on CONNECT: the shell should stop reading (the client
    /// may pipeline packets after CONNECT; they wait in the decoder until then).
    pub fn wants_input(&self) -> bool {
        matches!(self.phase, Phase::AwaitingConnect | Phase::Connected)
    }

    /// Bytes to write to the connection, if any.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        (!self.out.is_empty()).then(|| self.out.split().freeze())
    }

    /// The next piece of work for the router.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next deadline (ms) at which [`Session::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<u64> {
        match self.phase {
            Phase::AwaitingConnect => Some(self.connect_deadline),
            Phase::Connected if self.keep_alive_ms > 0 => {
                // MQTT-3.1.2-24: one and a half times the keep-alive.
                Some(
                    self.last_rx
                        .saturating_add(self.keep_alive_ms + self.keep_alive_ms / 2),
                )
            }
            _ => None,
        }
    }

    /// Fires the deadline if it has passed.
    pub fn handle_timeout(&mut self, now: u64) {
        self.tick(now);
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now < deadline {
            return;
        }
        match self.phase {
            Phase::AwaitingConnect => self.close(CloseReason::ConnectTimeout, false),
            Phase::Connected => {
                self.send_disconnect(ReasonCode::KeepAliveTimeout, "keep-alive timeout");
                self.close(CloseReason::KeepAliveTimeout, true);
            }
            _ => {}
        }
    }

    /// Bytes read from the connection.
    pub fn handle_input(&mut self, now: u64, bytes: &[u8]) {
        self.tick(now);
        if self.phase == Phase::Closed {
            return;
        }
        self.decoder.extend(bytes);
        if self.phase == Phase::AwaitingAuth
            && self.decoder.buffered() as u64 > 2 * u64::from(self.config.max_packet_size)
        {
            let e = ProtocolError::new(
                ReasonCode::QuotaExceeded,
                "too much data sent before CONNACK",
            );
            self.protocol_error(e);
            return;
        }
        self.process(now);
    }

    /// The connection was closed by the peer or the network.
    pub fn connection_lost(&mut self, now: u64) {
        self.tick(now);
        if self.phase != Phase::Closed {
            self.close(CloseReason::ConnectionLost, true);
        }
    }

    /// Another connection took over this client id: DISCONNECT 0x8E (5.0) and close.
    pub fn take_over(&mut self, now: u64) {
        self.tick(now);
        if self.phase == Phase::Connected {
            self.send_disconnect(
                ReasonCode::SessionTakenOver,
                "another connection took over this client id",
            );
            self.close(CloseReason::TakenOver, true);
        } else if self.phase != Phase::Closed {
            self.close(CloseReason::TakenOver, false);
        }
    }

    /// The server is shutting down: DISCONNECT 0x8B (5.0) and close.
    pub fn shutdown(&mut self, now: u64) {
        self.tick(now);
        if self.phase == Phase::Connected {
            self.send_disconnect(
                ReasonCode::ServerShuttingDown,
                "the server is shutting down",
            );
        }
        if self.phase != Phase::Closed {
            let connected = self.phase == Phase::Connected;
            self.close(CloseReason::ServerShutdown, connected);
        }
    }

    fn tick(&mut self, now: u64) {
        self.clock = self.clock.max(now);
    }

    fn process(&mut self, now: u64) {
        while matches!(self.phase, Phase::AwaitingConnect | Phase::Connected) {
            match self.decoder.next_packet() {
                Ok(Some(packet)) => {
                    self.last_rx = now;
                    if let Err(e) = self.handle_packet(now, packet) {
                        self.protocol_error(e);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.protocol_error(e.into());
                }
            }
        }
    }

    /// Handles one decoded packet (the fuzz target drives this directly). A protocol error is
    /// returned, not yet acted on: [`Session::handle_input`] closes the connection for it.
    pub fn handle_packet(&mut self, now: u64, packet: Packet) -> Result<(), ProtocolError> {
        match self.phase {
            Phase::Closed => return Ok(()),
            Phase::AwaitingConnect => {
                return match packet {
                    Packet::Connect(c) => self.handle_connect(now, *c),
                    other => Err(ProtocolError::new(
                        ReasonCode::ProtocolError,
                        format!(
                            "the first packet must be CONNECT, got {}",
                            other.packet_type_name()
                        ),
                    )),
                };
            }
            Phase::AwaitingAuth => {
                return Err(ProtocolError::new(
                    ReasonCode::ProtocolError,
                    "packet handled before CONNACK",
                ))
            }
            Phase::Connected => {}
        }
        match packet {
            Packet::Connect(_) => Err(ProtocolError::new(
                ReasonCode::ProtocolError,
                "a second CONNECT",
            )),
            Packet::Publish(p) => self.handle_publish(now, p),
            Packet::PubAck(a) => {
                self.ack_inflight(now, a.packet_id, QoS::AtLeastOnce);
                Ok(())
            }
            Packet::PubRec(r) => {
                self.handle_pubrec(now, r);
                Ok(())
            }
            Packet::PubRel(r) => {
                self.handle_pubrel(r.packet_id);
                Ok(())
            }
            Packet::PubComp(c) => {
                self.ack_inflight(now, c.packet_id, QoS::ExactlyOnce);
                Ok(())
            }
            Packet::Subscribe(s) => self.handle_subscribe(s),
            Packet::Unsubscribe(u) => {
                self.handle_unsubscribe(u);
                Ok(())
            }
            Packet::PingReq => {
                self.emit(&Packet::PingResp);
                Ok(())
            }
            Packet::Disconnect(d) => self.handle_disconnect(d),
            Packet::Auth(_) => Err(ProtocolError::new(
                ReasonCode::ProtocolError,
                "AUTH without an authentication method in CONNECT",
            )),
            other => Err(ProtocolError::new(
                ReasonCode::ProtocolError,
                format!(
                    "{} is sent by servers, not clients",
                    other.packet_type_name()
                ),
            )),
        }
    }

    fn handle_connect(&mut self, now: u64, c: ConnectPacket) -> Result<(), ProtocolError> {
        self.version = ProtocolVersion::from_level(c.protocol_version).ok_or_else(|| {
            ProtocolError::new(
                ReasonCode::UnsupportedProtocolVersion,
                "unsupported protocol level",
            )
        })?;
        let v5 = self.version == ProtocolVersion::V5;
        let mut assigned = false;
        let client_id = if c.client_id.is_empty() {
            if !v5 && !c.clean_start {
                return Err(ProtocolError::new(
                    ReasonCode::ClientIdentifierNotValid,
                    "an empty client id needs clean_session=1",
                ));
            }
            assigned = true;
            format!("ferrobar-{:016x}", self.client_id_seed)
        } else {
            c.client_id.clone()
        };
        if client_id.len() > usize::from(self.config.max_client_id_len) {
            return Err(ProtocolError::new(
                ReasonCode::ClientIdentifierNotValid,
                format!(
                    "client id longer than {} bytes",
                    self.config.max_client_id_len
                ),
            ));
        }
        if v5 && c.properties.get_authentication_method().is_some() {
            return Err(ProtocolError::new(
                ReasonCode::BadAuthenticationMethod,
                "MQTT 5.0 enhanced authentication is not supported",
            ));
        }
        let mut limits = ClientLimits::default();
        if v5 {
            if let Some(rm) = c.properties.get_receive_maximum() {
                if rm == 0 {
                    return Err(ProtocolError::new(
                        ReasonCode::ProtocolError,
                        "Receive Maximum 0",
                    ));
                }
                limits.receive_maximum = rm;
            }
            if let Some(mps) = c.properties.get_maximum_packet_size() {
                if mps == 0 {
                    return Err(ProtocolError::new(
                        ReasonCode::ProtocolError,
                        "Maximum Packet Size 0",
                    ));
                }
                limits.max_packet_size = mps;
            }
        }
        let session_expiry_secs = if v5 {
            c.properties
                .get_session_expiry_interval()
                .unwrap_or(0)
                .min(self.config.max_session_expiry_secs)
        } else if c.clean_start {
            0
        } else {
            self.config.max_session_expiry_secs
        };
        let mut keep_alive = c.keep_alive;
        let max_ka = self.config.max_keep_alive_secs;
        if v5 && max_ka > 0 && (keep_alive == 0 || keep_alive > max_ka) {
            keep_alive = max_ka;
        }
        let will = match &c.will {
            None => None,
            Some(w) => {
                let uri = topic_to_uri(&w.topic).map_err(|e| {
                    ProtocolError::new(ReasonCode::TopicNameInvalid, format!("will: {e}"))
                })?;
                Some(Will {
                    topic: w.topic.clone(),
                    uri,
                    payload: Bytes::from(w.payload.clone()),
                    qos: w.qos,
                    retain: w.retain,
                    delay_secs: w.properties.will_delay_interval.unwrap_or(0),
                    message_expiry_secs: w.properties.message_expiry_interval,
                    user_properties: w.properties.user_properties.clone(),
                    content_type: w.properties.content_type.clone(),
                })
            }
        };
        let auth = match (&c.username, &c.password) {
            (Some(u), Some(p)) => AuthRequest::Ticket {
                authid: u.clone(),
                ticket: p.clone(),
            },
            _ => AuthRequest::Anonymous {
                authid: client_id.clone(),
            },
        };
        let request = ConnectRequest {
            version: self.version,
            client_id,
            assigned_client_id: assigned,
            clean_start: c.clean_start,
            session_expiry_secs,
            keep_alive_secs: keep_alive,
            auth,
            will,
            user_properties: user_properties(&c.properties),
        };
        self.connect_props = limits;
        self.keep_alive_ms = u64::from(keep_alive) * 1000;
        self.session_expiry_secs = session_expiry_secs;
        self.last_rx = now;
        self.phase = Phase::AwaitingAuth;
        self.request = Some(request.clone());
        self.actions
            .push_back(Action::Authenticate(Box::new(request)));
        Ok(())
    }

    /// The router accepted the CONNECT. `resume`: the client's parked session, if it has one
    /// and asked not to start clean (ignored when `clean_start` was set).
    pub fn accept(&mut self, now: u64, resume: Option<ParkedSession>) {
        self.tick(now);
        if self.phase != Phase::AwaitingAuth {
            return;
        }
        let Some(request) = self.request.clone() else {
            return;
        };
        let resume = resume.filter(|p| !request.clean_start && !p.is_expired(now));
        let session_present = resume.is_some();
        let mut ack = match self.version {
            ProtocolVersion::V311 => ConnAckPacket::new_v311(session_present, ReasonCode::Success),
            ProtocolVersion::V5 => ConnAckPacket::new(session_present, ReasonCode::Success),
        };
        if self.version == ProtocolVersion::V5 {
            let p = &mut ack.properties;
            p.set_receive_maximum(self.config.receive_maximum.max(1));
            p.set_maximum_packet_size(self.config.max_packet_size);
            p.set_topic_alias_maximum(self.config.topic_alias_maximum);
            p.set_retain_available(true);
            p.set_wildcard_subscription_available(true);
            p.set_subscription_identifier_available(false);
            p.set_shared_subscription_available(false);
            if request.assigned_client_id {
                p.set_assigned_client_identifier(request.client_id.clone());
            }
            // Always state the expiry in effect: it may be capped.
            p.set_session_expiry_interval(request.session_expiry_secs);
            if self.config.max_keep_alive_secs > 0 {
                p.set_server_keep_alive(request.keep_alive_secs);
            }
        }
        self.emit(&Packet::ConnAck(ack));
        self.topic_aliases = vec![None; usize::from(self.config.topic_alias_maximum)];
        self.phase = Phase::Connected;
        self.last_rx = now;
        if let Some(parked) = resume {
            self.subscriptions = parked.subscriptions;
            self.flow = parked.flow;
            self.retransmit(now);
        }
        // Packets the client pipelined after CONNECT.
        self.process(now);
    }

    /// The router refused the CONNECT: CONNACK with the code, then close.
    pub fn refuse(&mut self, refusal: Refusal) {
        if self.phase != Phase::AwaitingAuth {
            return;
        }
        self.send_connack_error(refusal.code(), "");
        self.close(CloseReason::Refused(refusal), false);
    }

    fn window(&self) -> usize {
        usize::from(
            self.config
                .flow
                .max_inflight
                .min(self.connect_props.receive_maximum)
                .max(1),
        )
    }

    /// Hands one message to this session for delivery with `qos` (the router has taken the
    /// minimum of the publication's and the subscription's QoS) and `retain` (set for retained
    /// messages sent because of a new subscription, or with Retain As Published).
    pub fn deliver(
        &mut self,
        now: u64,
        msg: &Arc<Outbound>,
        qos: QoS,
        retain: bool,
    ) -> DeliveryOutcome {
        self.tick(now);
        match self.phase {
            Phase::Connected => {}
            Phase::Closed => return DeliveryOutcome::Dropped(DropReason::Closed),
            // Not connected yet: queue QoS 1/2 as for a parked session.
            Phase::AwaitingConnect | Phase::AwaitingAuth => {
                if qos == QoS::AtMostOnce {
                    return DeliveryOutcome::Dropped(DropReason::Offline);
                }
                let q = Queued {
                    msg: Arc::clone(msg),
                    qos,
                    retain,
                };
                return self.flow.enqueue(q, &self.config.flow);
            }
        }
        if msg.expires_at.is_some_and(|at| at <= now) {
            return DeliveryOutcome::Dropped(DropReason::Expired);
        }
        if qos == QoS::AtMostOnce {
            let d = Delivery {
                qos,
                packet_id: 0,
                dup: false,
                retain,
            };
            return match self.write_publish(msg, d, now) {
                Ok(()) => DeliveryOutcome::Sent,
                Err(reason) => DeliveryOutcome::Dropped(reason),
            };
        }
        if self.flow.inflight.len() < self.window() && self.flow.queue.is_empty() {
            return self.send_inflight(now, Arc::clone(msg), qos, retain);
        }
        let q = Queued {
            msg: Arc::clone(msg),
            qos,
            retain,
        };
        self.flow.enqueue(q, &self.config.flow)
    }

    fn send_inflight(
        &mut self,
        now: u64,
        msg: Arc<Outbound>,
        qos: QoS,
        retain: bool,
    ) -> DeliveryOutcome {
        let Some(packet_id) = self.flow.allocate_packet_id() else {
            let q = Queued { msg, qos, retain };
            return self.flow.enqueue(q, &self.config.flow);
        };
        let d = Delivery {
            qos,
            packet_id,
            dup: false,
            retain,
        };
        if let Err(reason) = self.write_publish(&msg, d, now) {
            return DeliveryOutcome::Dropped(reason);
        }
        self.flow.inflight.push_back(Inflight {
            packet_id,
            msg,
            qos,
            retain,
            released: false,
        });
        DeliveryOutcome::Sent
    }

    /// Appends one PUBLISH, unless it cannot be encoded or is larger than the client's Maximum
    /// Packet Size (MQTT-3.1.2-25: never sent; checked on the bytes written, so the common case
    /// costs nothing extra).
    fn write_publish(&mut self, msg: &Outbound, d: Delivery, now: u64) -> Result<(), DropReason> {
        let start = self.out.len();
        let written = msg
            .write(self.version, d, now, &mut self.out)
            .map_err(|_| DropReason::Unencodable)?;
        if written as u64 > u64::from(self.connect_props.max_packet_size) {
            self.out.truncate(start);
            return Err(DropReason::TooLarge);
        }
        Ok(())
    }

    /// Moves queued messages into free window slots.
    fn pump(&mut self, now: u64) {
        while self.phase == Phase::Connected && self.flow.inflight.len() < self.window() {
            let Some(q) = self.flow.dequeue(now, &mut self.expired) else {
                break;
            };
            self.send_inflight(now, q.msg, q.qos, q.retain);
        }
    }

    /// On resume: every unacknowledged PUBLISH again with DUP, every PUBREL again.
    fn retransmit(&mut self, now: u64) {
        let version = self.version;
        for m in &self.flow.inflight {
            if m.released {
                let _ = encode(
                    &Packet::PubRel(PubRelPacket::new(m.packet_id)),
                    &mut self.out,
                );
            } else {
                let d = Delivery {
                    qos: m.qos,
                    packet_id: m.packet_id,
                    dup: true,
                    retain: m.retain,
                };
                // An unencodable message never got into flight.
                let _ = m.msg.write(version, d, now, &mut self.out);
            }
        }
        self.pump(now);
    }

    fn ack_inflight(&mut self, now: u64, packet_id: u16, expected: QoS) {
        let pos = self.flow.inflight.iter().position(|m| {
            m.packet_id == packet_id
                && m.qos == expected
                && (expected == QoS::AtLeastOnce || m.released)
        });
        if let Some(i) = pos {
            self.flow.inflight.remove(i);
            self.pump(now);
        }
        // An acknowledgement for an unknown packet id is ignored (a late duplicate).
    }

    fn handle_pubrec(&mut self, now: u64, r: PubRecPacket) {
        let pos = self
            .flow
            .inflight
            .iter()
            .position(|m| m.packet_id == r.packet_id && m.qos == QoS::ExactlyOnce);
        match pos {
            Some(i) if (r.reason_code as u8) >= 0x80 => {
                // MQTT 5.0: the client refused the message; it is done with.
                self.flow.inflight.remove(i);
                self.pump(now);
            }
            Some(i) => {
                if let Some(m) = self.flow.inflight.get_mut(i) {
                    m.released = true;
                }
                self.emit(&Packet::PubRel(PubRelPacket::new(r.packet_id)));
            }
            None => {
                let rel = if self.version == ProtocolVersion::V5 {
                    PubRelPacket::new_with_reason(r.packet_id, ReasonCode::PacketIdentifierNotFound)
                } else {
                    PubRelPacket::new(r.packet_id)
                };
                self.emit(&Packet::PubRel(rel));
            }
        }
    }

    fn handle_pubrel(&mut self, packet_id: u16) {
        let found = self.flow.awaiting_rel.remove(&packet_id);
        let comp = if found || self.version == ProtocolVersion::V311 {
            PubCompPacket::new(packet_id)
        } else {
            PubCompPacket::new_with_reason(packet_id, ReasonCode::PacketIdentifierNotFound)
        };
        self.emit(&Packet::PubComp(comp));
    }

    fn handle_publish(&mut self, _now: u64, p: PublishPacket) -> Result<(), ProtocolError> {
        let v5 = self.version == ProtocolVersion::V5;
        let mut topic = p.topic_name.clone();
        if v5 {
            if let Some(alias) = p.properties.get_topic_alias() {
                let slot = usize::from(alias)
                    .checked_sub(1)
                    .filter(|i| *i < self.topic_aliases.len())
                    .ok_or_else(|| {
                        ProtocolError::new(
                            ReasonCode::TopicAliasInvalid,
                            format!(
                                "topic alias {alias} outside 1..={}",
                                self.topic_aliases.len()
                            ),
                        )
                    })?;
                if topic.is_empty() {
                    topic = self.topic_aliases[slot].clone().ok_or_else(|| {
                        ProtocolError::new(
                            ReasonCode::ProtocolError,
                            format!("topic alias {alias} is not set"),
                        )
                    })?;
                } else {
                    self.topic_aliases[slot] = Some(topic.clone());
                }
            }
        }
        if let Some(id) = p.packet_id {
            if p.qos == QoS::ExactlyOnce && self.flow.awaiting_rel.contains(&id) {
                // A retransmission of a QoS 2 message already published: PUBREC again only.
                self.emit(&Packet::PubRec(PubRecPacket::new(id)));
                return Ok(());
            }
            if self.pending_publishes.contains_key(&id) {
                if p.dup {
                    // A retransmission of a message the router is still deciding on.
                    return Ok(());
                }
                return Err(ProtocolError::new(
                    ReasonCode::ProtocolError,
                    format!("packet id {id} reused before it was acknowledged"),
                ));
            }
            let unacked = self.pending_publishes.len() + self.flow.awaiting_rel.len();
            if v5 && unacked >= usize::from(self.config.receive_maximum.max(1)) {
                return Err(ProtocolError::new(
                    ReasonCode::ReceiveMaximumExceeded,
                    format!(
                        "more than {} QoS 1/2 publications unacknowledged",
                        self.config.receive_maximum
                    ),
                ));
            }
        }
        let uri = match topic_to_uri(&topic) {
            Ok(uri) => uri,
            Err(e @ TopicError::Invalid { .. }) => {
                return Err(ProtocolError::new(
                    ReasonCode::TopicNameInvalid,
                    e.to_string(),
                ))
            }
            Err(e) => {
                return match (v5, p.packet_id) {
                    // MQTT 5.0 can refuse one message and keep the connection.
                    (true, Some(id)) => {
                        self.answer_publish(id, p.qos, ReasonCode::TopicNameInvalid);
                        Ok(())
                    }
                    _ => Err(ProtocolError::new(
                        ReasonCode::TopicNameInvalid,
                        e.to_string(),
                    )),
                };
            }
        };
        let props = &p.properties;
        let publish = InboundPublish {
            packet_id: p.packet_id,
            qos: p.qos,
            retain: p.retain,
            topic,
            uri,
            payload: p.payload.clone(),
            message_expiry_secs: props.get_message_expiry_interval(),
            user_properties: user_properties(props),
            content_type: props.get_content_type(),
            payload_is_utf8: matches!(
                props.get(PropertyId::PayloadFormatIndicator),
                Some(PropertyValue::Byte(1))
            ),
            response_topic: match props.get(PropertyId::ResponseTopic) {
                Some(PropertyValue::Utf8String(s)) => Some(s.clone()),
                _ => None,
            },
            correlation_data: match props.get(PropertyId::CorrelationData) {
                Some(PropertyValue::BinaryData(b)) => Some(b.clone()),
                _ => None,
            },
        };
        if let Some(id) = p.packet_id {
            self.pending_publishes.insert(id, p.qos);
        }
        self.actions.push_back(Action::Publish(Box::new(publish)));
        Ok(())
    }

    /// The router's verdict on an inbound QoS 1/2 PUBLISH: PUBACK or PUBREC with its code
    /// (MQTT 3.1.1 has no codes there: the client gets a plain acknowledgement whatever the
    /// outcome, as MQTT-3.3.5-2 allows).
    pub fn complete_publish(&mut self, packet_id: u16, outcome: PublishOutcome) {
        let Some(qos) = self.pending_publishes.remove(&packet_id) else {
            return;
        };
        if self.phase != Phase::Connected {
            return;
        }
        let code = outcome.code();
        if qos == QoS::ExactlyOnce && (code as u8) < 0x80 {
            self.flow.awaiting_rel.insert(packet_id);
        }
        self.answer_publish(packet_id, qos, code);
    }

    fn answer_publish(&mut self, packet_id: u16, qos: QoS, code: ReasonCode) {
        let code = if self.version == ProtocolVersion::V5 {
            code
        } else {
            ReasonCode::Success
        };
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => self.emit(&Packet::PubAck(PubAckPacket::new_with_reason(
                packet_id, code,
            ))),
            QoS::ExactlyOnce => self.emit(&Packet::PubRec(PubRecPacket::new_with_reason(
                packet_id, code,
            ))),
        }
    }

    fn handle_subscribe(&mut self, s: SubscribePacket) -> Result<(), ProtocolError> {
        if s.properties.contains(PropertyId::SubscriptionIdentifier) {
            return Err(ProtocolError::new(
                ReasonCode::SubscriptionIdentifiersNotSupported,
                "subscription identifiers are not supported",
            ));
        }
        if s.filters.is_empty() {
            return Err(ProtocolError::new(
                ReasonCode::ProtocolError,
                "SUBSCRIBE without filters",
            ));
        }
        if self.pending_subscribes.contains_key(&s.packet_id) {
            return Err(ProtocolError::new(
                ReasonCode::ProtocolError,
                format!("SUBSCRIBE packet id {} in use", s.packet_id),
            ));
        }
        let entries: Vec<SubscribeEntry> = s
            .filters
            .iter()
            .map(|f| {
                let exists = self.subscriptions.iter().any(|x| x.filter == f.filter);
                let o = &f.options;
                SubscribeEntry {
                    filter: f.filter.clone(),
                    wamp: filter_to_wamp(&f.filter),
                    qos: o.qos,
                    no_local: o.no_local,
                    retain_as_published: o.retain_as_published,
                    send_retained: match o.retain_handling {
                        RetainHandling::SendAtSubscribe => true,
                        RetainHandling::SendAtSubscribeIfNew => !exists,
                        RetainHandling::DoNotSend => false,
                    },
                }
            })
            .collect();
        self.pending_subscribes.insert(s.packet_id, entries.clone());
        self.actions.push_back(Action::Subscribe {
            packet_id: s.packet_id,
            entries,
        });
        Ok(())
    }

    /// The router's answers for a SUBSCRIBE, one per entry in order (missing answers count as
    /// failures). Sends SUBACK and records the granted subscriptions.
    pub fn complete_subscribe(&mut self, packet_id: u16, grants: &[SubscribeGrant]) {
        let Some(entries) = self.pending_subscribes.remove(&packet_id) else {
            return;
        };
        if self.phase != Phase::Connected {
            return;
        }
        let v5 = self.version == ProtocolVersion::V5;
        let mut ack = if v5 {
            SubAckPacket::new(packet_id)
        } else {
            SubAckPacket::new_v311(packet_id)
        };
        for (i, entry) in entries.into_iter().enumerate() {
            let grant = grants.get(i).copied().unwrap_or(SubscribeGrant::Failed);
            let code = match (&entry.wamp, grant) {
                (Err(TopicError::Shared(_)), _) => {
                    SubAckReasonCode::SharedSubscriptionsNotSupported
                }
                (Err(_), _) => SubAckReasonCode::TopicFilterInvalid,
                (Ok(_), SubscribeGrant::NotAuthorized) => SubAckReasonCode::NotAuthorized,
                (Ok(_), SubscribeGrant::Failed) => SubAckReasonCode::UnspecifiedError,
                (Ok(wamp), SubscribeGrant::Granted(q)) => {
                    let qos = if (q as u8) < (entry.qos as u8) {
                        q
                    } else {
                        entry.qos
                    };
                    let sub = Subscription {
                        filter: entry.filter.clone(),
                        wamp: wamp.clone(),
                        qos,
                        no_local: entry.no_local,
                        retain_as_published: entry.retain_as_published,
                    };
                    match self
                        .subscriptions
                        .iter_mut()
                        .find(|s| s.filter == sub.filter)
                    {
                        Some(existing) => *existing = sub,
                        None => self.subscriptions.push(sub),
                    }
                    SubAckReasonCode::from_qos(qos)
                }
            };
            // MQTT 3.1.1 has one failure code.
            let code = if v5 || (code as u8) < 0x80 {
                code
            } else {
                SubAckReasonCode::UnspecifiedError
            };
            ack = ack.add_reason_code(code);
        }
        self.emit(&Packet::SubAck(ack));
    }

    fn handle_unsubscribe(&mut self, u: UnsubscribePacket) {
        let v5 = self.version == ProtocolVersion::V5;
        let mut ack = if v5 {
            UnsubAckPacket::new(u.packet_id)
        } else {
            UnsubAckPacket::new_v311(u.packet_id)
        };
        let mut removed = Vec::new();
        for f in &u.filters {
            match self.subscriptions.iter().position(|s| &s.filter == f) {
                Some(i) => {
                    removed.push(self.subscriptions.remove(i));
                    ack = ack.add_reason_code(UnsubAckReasonCode::Success);
                }
                None => ack = ack.add_reason_code(UnsubAckReasonCode::NoSubscriptionExisted),
            }
        }
        if !removed.is_empty() {
            self.actions.push_back(Action::Unsubscribe(removed));
        }
        self.emit(&Packet::UnsubAck(ack));
    }

    fn handle_disconnect(&mut self, d: DisconnectPacket) -> Result<(), ProtocolError> {
        if let Some(expiry) = d.properties.get_session_expiry_interval() {
            if self.session_expiry_secs == 0 && expiry != 0 {
                return Err(ProtocolError::new(
                    ReasonCode::ProtocolError,
                    "DISCONNECT sets a session expiry after CONNECT set none",
                ));
            }
            self.session_expiry_secs = expiry.min(self.config.max_session_expiry_secs);
        }
        let with_will = d.reason_code == ReasonCode::DisconnectWithWillMessage;
        self.close(CloseReason::ClientDisconnect(d.reason_code), with_will);
        Ok(())
    }

    fn protocol_error(&mut self, e: ProtocolError) {
        match self.phase {
            Phase::Closed => return,
            Phase::AwaitingConnect => {
                // No session yet: answer with a CONNACK where the protocol has one for it.
                // MQTT 5.0: every refusal has its reason code. MQTT 3.1.1: an unsupported
                // protocol level gets 0x01 and a CONNECT refused after decoding gets its
                // return code; a malformed CONNECT only closes (MQTT-3.2.2-4 ff.).
                let malformed = matches!(
                    e.code,
                    ReasonCode::MalformedPacket | ReasonCode::PacketTooLarge
                );
                match self.decoder.version() {
                    Some(ProtocolVersion::V5) => {
                        self.version = ProtocolVersion::V5;
                        self.send_connack_error(e.code, &e.message);
                    }
                    Some(ProtocolVersion::V311)
                        if !malformed && e.code != ReasonCode::ProtocolError =>
                    {
                        self.send_connack_error(e.code, "");
                    }
                    None if e.code == ReasonCode::UnsupportedProtocolVersion => {
                        self.send_connack_error(e.code, "");
                    }
                    _ => {}
                }
            }
            // CONNACK is still owed: it carries the code.
            Phase::AwaitingAuth => self.send_connack_error(e.code, &e.message),
            Phase::Connected => self.send_disconnect(e.code, &e.message),
        }
        let will = self.phase != Phase::AwaitingConnect;
        self.close(CloseReason::Protocol(e), will);
    }

    fn send_connack_error(&mut self, code: ReasonCode, message: &str) {
        let code = connack_code(code);
        let ack = match self.version {
            ProtocolVersion::V311 => ConnAckPacket::new_v311(false, code),
            ProtocolVersion::V5 => {
                let mut a = ConnAckPacket::new(false, code);
                if !message.is_empty() {
                    a.properties.set_reason_string(message.to_owned());
                }
                a
            }
        };
        self.emit(&Packet::ConnAck(ack));
    }

    fn send_disconnect(&mut self, code: ReasonCode, message: &str) {
        // MQTT 3.1.1 servers never send DISCONNECT: they close the connection.
        if self.version == ProtocolVersion::V5 {
            let mut d = DisconnectPacket::new(disconnect_code(code));
            if !message.is_empty() {
                d.properties.set_reason_string(message.to_owned());
            }
            self.emit(&Packet::Disconnect(d));
        }
    }

    fn close(&mut self, reason: CloseReason, publish_will: bool) {
        let was_connected = matches!(self.phase, Phase::Connected);
        self.phase = Phase::Closed;
        // No will without a session: only a connection that was accepted has one.
        let will = if publish_will && was_connected {
            self.request.as_mut().and_then(|r| r.will.take())
        } else {
            None
        };
        let parked = match &self.request {
            Some(r) if was_connected && self.session_expiry_secs > 0 => {
                let mut flow = std::mem::take(&mut self.flow);
                // Handed to the router already: a retransmission after reconnect is a duplicate.
                for (id, qos) in self.pending_publishes.drain() {
                    if qos == QoS::ExactlyOnce {
                        flow.awaiting_rel.insert(id);
                    }
                }
                Some(ParkedSession {
                    client_id: r.client_id.clone(),
                    subscriptions: std::mem::take(&mut self.subscriptions),
                    expires_at: self
                        .clock
                        .saturating_add(u64::from(self.session_expiry_secs) * 1000),
                    expiry_secs: self.session_expiry_secs,
                    flow,
                    limits: self.config.flow,
                })
            }
            _ => None,
        };
        self.actions.push_back(Action::Closed(Box::new(Closed {
            reason,
            will,
            parked,
        })));
    }

    fn emit(&mut self, packet: &Packet) {
        if self.phase != Phase::Closed
            || matches!(packet, Packet::ConnAck(_) | Packet::Disconnect(_))
        {
            self.emit_raw(packet);
        }
    }

    fn emit_raw(&mut self, packet: &Packet) {
        // Packets built here always encode; a failure is a bug, dropped rather than panicking.
        let _ = encode(packet, &mut self.out);
    }
}

/// The user properties of a property set, in order.
fn user_properties(p: &Properties) -> Vec<(String, String)> {
    p.get_all(PropertyId::UserProperty)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| match v {
            PropertyValue::Utf8StringPair(k, v) => Some((k.clone(), v.clone())),
            _ => None,
        })
        .collect()
}

/// `code` if MQTT 5.0 allows it in CONNACK (3.2.2.2), else Unspecified Error.
fn connack_code(code: ReasonCode) -> ReasonCode {
    match code as u8 {
        0x00 | 0x80..=0x8A | 0x8C | 0x90 | 0x95 | 0x97 | 0x99..=0x9D | 0x9F => code,
        _ => ReasonCode::UnspecifiedError,
    }
}

/// `code` if MQTT 5.0 allows it in a server's DISCONNECT (3.14.2.1), else Protocol Error.
fn disconnect_code(code: ReasonCode) -> ReasonCode {
    match code as u8 {
        0x00 | 0x80..=0x83 | 0x87 | 0x89 | 0x8B | 0x8D..=0x90 | 0x93..=0xA2 => code,
        _ => ReasonCode::ProtocolError,
    }
}
