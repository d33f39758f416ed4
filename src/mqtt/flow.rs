//! Outbound delivery state of one MQTT session, live or parked: packet identifiers, the
//! in-flight window, the bounded queue behind it, and inbound QoS 2 packet ids awaiting PUBREL.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};
use hashbrown::HashSet;
use mqtt5_protocol::packet::publish::PublishPacket;
use mqtt5_protocol::QoS;

use super::codec::{encode_publish, EncodeError, ProtocolVersion, PublishTemplate};

/// One publication on its way to MQTT subscribers: built once by the router per publication
/// and shared (`Arc`) by every MQTT session it reaches. Its PUBLISH is encoded at most once per
/// (protocol version, QoS 0 or not) and patched per subscriber (flags, packet id).
#[derive(Debug)]
pub struct Outbound {
    /// The MQTT topic name (from [`super::topic::uri_to_topic`]).
    pub topic: String,
    /// The MQTT payload (after the payload mapping).
    pub payload: Bytes,
    /// Deadline (ms, the caller's monotonic clock) from the publication's message expiry;
    /// `None`: never expires. An expired message is not sent.
    pub expires_at: Option<u64>,
    /// MQTT 5.0 user properties (from the WAMP publication; see `docs/mqtt.md`).
    pub user_properties: Vec<(String, String)>,
    /// MQTT 5.0 content type.
    pub content_type: Option<String>,
    templates: [OnceLock<Result<PublishTemplate, EncodeError>>; 4],
}

impl Outbound {
    /// A publication for MQTT subscribers.
    pub fn new(topic: String, payload: Bytes) -> Self {
        Outbound {
            topic,
            payload,
            expires_at: None,
            user_properties: Vec::new(),
            content_type: None,
            templates: Default::default(),
        }
    }

    /// The bytes a queue of this message is charged with.
    pub fn cost(&self) -> u64 {
        (self.payload.len() + self.topic.len()) as u64
    }

    fn packet(&self, version: ProtocolVersion, qos: QoS, now: u64) -> PublishPacket {
        let mut p = match version {
            ProtocolVersion::V311 => {
                PublishPacket::new_v311(self.topic.clone(), self.payload.clone(), qos)
            }
            ProtocolVersion::V5 => {
                PublishPacket::new(self.topic.clone(), self.payload.clone(), qos)
            }
        };
        if version == ProtocolVersion::V5 {
            for (k, v) in &self.user_properties {
                p.properties.add_user_property(k.clone(), v.clone());
            }
            if let Some(ct) = &self.content_type {
                p.properties.set_content_type(ct.clone());
            }
            if let Some(at) = self.expires_at {
                // Remaining lifetime, rounded up: MQTT-3.3.2-6.
                let secs = at.saturating_sub(now).div_ceil(1000);
                p.properties
                    .set_message_expiry_interval(u32::try_from(secs).unwrap_or(u32::MAX));
            }
        }
        if qos != QoS::AtMostOnce {
            p.packet_id = Some(1);
        }
        p
    }

    /// Appends this PUBLISH for one subscriber. Returns the encoded size, or an error if the
    /// message cannot be encoded (a topic or property MQTT cannot carry).
    pub fn write(
        &self,
        version: ProtocolVersion,
        delivery: Delivery,
        now: u64,
        out: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        let start = out.len();
        let with_id = delivery.qos != QoS::AtMostOnce;
        if self.expires_at.is_some() && version == ProtocolVersion::V5 {
            // The expiry interval differs per delivery: no shared template.
            let mut p = self.packet(version, delivery.qos, now);
            p.packet_id = with_id.then_some(delivery.packet_id);
            p.dup = delivery.dup;
            p.retain = delivery.retain;
            encode_publish(&p, out)?;
            return Ok(out.len() - start);
        }
        let slot = match (version, with_id) {
            (ProtocolVersion::V311, false) => 0,
            (ProtocolVersion::V311, true) => 1,
            (ProtocolVersion::V5, false) => 2,
            (ProtocolVersion::V5, true) => 3,
        };
        let template = self.templates[slot].get_or_init(|| {
            let qos = if with_id {
                QoS::AtLeastOnce
            } else {
                QoS::AtMostOnce
            };
            PublishTemplate::new(&self.packet(version, qos, now))
        });
        match template {
            Ok(t) => {
                t.write(
                    delivery.qos,
                    delivery.packet_id,
                    delivery.dup,
                    delivery.retain,
                    out,
                );
                Ok(out.len() - start)
            }
            Err(e) => Err(e.clone()),
        }
    }
}

/// Per-subscriber fields of one PUBLISH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// QoS of this delivery.
    pub qos: QoS,
    /// Packet identifier (ignored for QoS 0).
    pub packet_id: u16,
    /// DUP flag (a retransmission).
    pub dup: bool,
    /// RETAIN flag.
    pub retain: bool,
}

/// A QoS 1/2 message sent and not yet fully acknowledged.
#[derive(Debug, Clone)]
pub struct Inflight {
    /// Its packet identifier.
    pub packet_id: u16,
    /// The message.
    pub msg: Arc<Outbound>,
    /// QoS 1 or 2.
    pub qos: QoS,
    /// RETAIN flag it was sent with.
    pub retain: bool,
    /// QoS 2: PUBREC received and PUBREL sent; only PUBCOMP is awaited.
    pub released: bool,
}

/// A QoS 1/2 message waiting for a free slot in the in-flight window.
#[derive(Debug, Clone)]
pub struct Queued {
    /// The message.
    pub msg: Arc<Outbound>,
    /// QoS 1 or 2.
    pub qos: QoS,
    /// RETAIN flag to send it with.
    pub retain: bool,
}

/// Bounds of the outbound state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowLimits {
    /// Messages in flight at once (further capped by an MQTT 5.0 client's Receive Maximum).
    pub max_inflight: u16,
    /// Messages queued behind the window.
    pub max_queued: u32,
    /// Bytes (topic + payload) queued behind the window.
    pub max_queued_bytes: u64,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits {
            max_inflight: 32,
            max_queued: 1000,
            max_queued_bytes: 4 * 1024 * 1024,
        }
    }
}

/// What became of one message handed to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Written to the connection's output.
    Sent,
    /// Queued behind the in-flight window (or for a parked session). `evicted` older messages
    /// were dropped to make room (count them as `queue_full`).
    Queued {
        /// Messages dropped from the head of the queue.
        evicted: u32,
    },
    /// Not delivered.
    Dropped(DropReason),
}

/// Why a message was not delivered to an MQTT session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Its message expiry passed.
    Expired,
    /// QoS 0 to a session that is not connected.
    Offline,
    /// Larger than the queue's byte bound, or than the client's Maximum Packet Size.
    TooLarge,
    /// Cannot be encoded as MQTT.
    Unencodable,
    /// The session is closed.
    Closed,
}

/// The outbound (and inbound QoS 2) state of one session, kept across reconnects.
#[derive(Debug, Clone, Default)]
pub struct Flow {
    next_packet_id: u16,
    /// Sent, awaiting acknowledgement, in send order.
    pub inflight: VecDeque<Inflight>,
    /// Waiting for a window slot, oldest first.
    pub queue: VecDeque<Queued>,
    /// Bytes charged to `queue`.
    pub queued_bytes: u64,
    /// Inbound QoS 2 packet ids PUBREC'd and awaiting PUBREL (the dedupe set).
    pub awaiting_rel: HashSet<u16>,
}

impl Flow {
    /// The next free packet identifier (1..=65535, none in flight). `None` only if all 65535
    /// are in flight, which the window bound (a u16 below 65535) prevents.
    pub fn allocate_packet_id(&mut self) -> Option<u16> {
        for _ in 0..u16::MAX {
            self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
            let id = self.next_packet_id;
            if !self.inflight.iter().any(|m| m.packet_id == id) {
                return Some(id);
            }
        }
        None
    }

    /// Queues a QoS 1/2 message, evicting the oldest queued ones to stay within the bounds.
    pub fn enqueue(&mut self, q: Queued, limits: &FlowLimits) -> DeliveryOutcome {
        let cost = q.msg.cost();
        if cost > limits.max_queued_bytes || limits.max_queued == 0 {
            return DeliveryOutcome::Dropped(DropReason::TooLarge);
        }
        let mut evicted = 0;
        while self.queue.len() as u64 >= u64::from(limits.max_queued)
            || self.queued_bytes + cost > limits.max_queued_bytes
        {
            let Some(old) = self.queue.pop_front() else {
                break;
            };
            self.queued_bytes = self.queued_bytes.saturating_sub(old.msg.cost());
            evicted += 1;
        }
        self.queued_bytes += cost;
        self.queue.push_back(q);
        DeliveryOutcome::Queued { evicted }
    }

    /// Takes the oldest queued message that has not expired; expired ones are dropped and
    /// counted in `expired`.
    pub fn dequeue(&mut self, now: u64, expired: &mut u64) -> Option<Queued> {
        while let Some(q) = self.queue.pop_front() {
            self.queued_bytes = self.queued_bytes.saturating_sub(q.msg.cost());
            if q.msg.expires_at.is_some_and(|at| at <= now) {
                *expired += 1;
                continue;
            }
            return Some(q);
        }
        None
    }
}
