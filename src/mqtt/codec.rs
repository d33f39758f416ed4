//! MQTT packets on the wire: a framing [`Decoder`] over `mqtt5-protocol`'s packet codec, and
//! encoders that append to a connection's output buffer.
//!
//! The crate decodes a packet body once the caller has framed it (a short body is reported as
//! malformed, not as "need more"), so framing is done here: the fixed header's remaining length
//! is read first, checked against the maximum packet size, and the body is handed over only once
//! it is complete. A CONNECT is peeked before it is decoded so that an unsupported protocol level
//! gets its own error (and CONNACK code) instead of "malformed".

use bytes::{Buf, BufMut, Bytes, BytesMut};
use mqtt5_protocol::packet::publish::PublishPacket;
use mqtt5_protocol::packet::{FixedHeader, MqttPacket, PacketType};
use mqtt5_protocol::{MqttError, Packet, QoS};
use thiserror::Error;

/// The largest remaining length the MQTT variable-length integer can express (256 MiB - 1).
pub const MAX_REMAINING_LENGTH: u32 = 268_435_455;

/// The protocol versions spoken here, by their CONNECT protocol level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolVersion {
    /// MQTT 3.1.1 (protocol level 4).
    V311,
    /// MQTT 5.0 (protocol level 5).
    V5,
}

impl ProtocolVersion {
    /// The protocol level byte of CONNECT.
    pub fn level(self) -> u8 {
        match self {
            ProtocolVersion::V311 => 4,
            ProtocolVersion::V5 => 5,
        }
    }

    /// The version for a protocol level, if spoken here.
    pub fn from_level(level: u8) -> Option<Self> {
        match level {
            4 => Some(ProtocolVersion::V311),
            5 => Some(ProtocolVersion::V5),
            _ => None,
        }
    }

    /// `"3.1.1"` or `"5.0"`.
    pub fn name(self) -> &'static str {
        match self {
            ProtocolVersion::V311 => "3.1.1",
            ProtocolVersion::V5 => "5.0",
        }
    }
}

/// Why bytes could not be decoded into a packet. Every variant closes the connection; the
/// session maps each to a CONNACK or DISCONNECT reason code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    /// The fixed header announces more than the maximum packet size (checked before the body
    /// is buffered, so an oversized packet never occupies memory).
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    TooLarge {
        /// Whole packet size announced (fixed header included).
        size: u64,
        /// The limit.
        max: u32,
    },
    /// The remaining-length field is longer than four bytes.
    #[error("malformed remaining length (more than 4 bytes)")]
    BadLength,
    /// The first packet of a connection is not CONNECT.
    #[error("the first packet must be CONNECT, got {0}")]
    NotConnect(&'static str),
    /// CONNECT with a protocol name/level not spoken here (MQTT 3.1 `MQIsdp`/3 among them).
    #[error("unsupported protocol {name:?} level {level} (MQTT 3.1.1 and 5.0 are spoken here)")]
    UnsupportedProtocol {
        /// The protocol name sent.
        name: String,
        /// The protocol level sent.
        level: u8,
    },
    /// The packet is malformed (the detail says how).
    #[error("malformed {packet}: {detail}")]
    Malformed {
        /// The packet type name (`"PUBLISH"`), or `"packet"` when not known.
        packet: &'static str,
        /// What was wrong.
        detail: String,
    },
}

/// Frames and decodes the packets of one connection. Append bytes with [`Decoder::extend`],
/// then call [`Decoder::next_packet`] until it returns `Ok(None)` ("need more"). Memory is
/// bounded: at most one incomplete packet (no larger than the maximum packet size) is held
/// beyond the bytes of the last read.
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    max_packet_size: u32,
    version: Option<ProtocolVersion>,
}

impl Decoder {
    /// A decoder for a new connection; the first packet must be CONNECT. `max_packet_size`
    /// bounds a whole packet, fixed header included.
    pub fn new(max_packet_size: u32) -> Self {
        Decoder {
            buf: BytesMut::new(),
            max_packet_size,
            version: None,
        }
    }

    /// A decoder for a stream whose version is already known (no CONNECT first): the packets
    /// a server sends, read back by a client, a test or a fuzz harness.
    pub fn with_version(max_packet_size: u32, version: ProtocolVersion) -> Self {
        Decoder {
            buf: BytesMut::new(),
            max_packet_size,
            version: Some(version),
        }
    }

    /// The protocol version, once CONNECT was decoded.
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.version
    }

    /// Bytes buffered but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Appends bytes read from the connection.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole packet, `Ok(None)` when more bytes are needed. After an error the
    /// connection must be closed: the stream position is lost.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, CodecError> {
        let Some((header_len, remaining)) = frame_header(&self.buf)? else {
            return Ok(None);
        };
        let size = header_len as u64 + u64::from(remaining);
        if remaining > MAX_REMAINING_LENGTH || size > u64::from(self.max_packet_size) {
            return Err(CodecError::TooLarge {
                size,
                max: self.max_packet_size,
            });
        }
        let first = self.buf.first().copied().unwrap_or(0);
        let type_name = type_name(first >> 4);
        if self.version.is_none() && first >> 4 != PacketType::Connect as u8 {
            return Err(CodecError::NotConnect(type_name));
        }
        // `size` fits in usize: it is at most max_packet_size (a u32) on 32-bit targets too.
        let total = usize::try_from(size).unwrap_or(usize::MAX);
        if self.buf.len() < total {
            return Ok(None);
        }
        let mut frame = self.buf.split_to(total).freeze();
        let malformed = |detail: String| CodecError::Malformed {
            packet: type_name,
            detail,
        };
        let fixed = FixedHeader::decode(&mut frame).map_err(|e| malformed(detail(e)))?;
        let version = match self.version {
            Some(v) => v,
            None => {
                let v = peek_connect_version(&frame)?;
                self.version = Some(v);
                v
            }
        };
        let packet = Packet::decode_from_body_with_version(
            fixed.packet_type,
            &fixed,
            &mut frame,
            version.level(),
        )
        .map_err(|e| malformed(detail(e)))?;
        if frame.has_remaining() {
            return Err(malformed(format!(
                "{} bytes after the packet's last field",
                frame.remaining()
            )));
        }
        if version == ProtocolVersion::V311 {
            check_v311_packet(&packet).map_err(|d| malformed(d.to_owned()))?;
        }
        Ok(Some(packet))
    }
}

/// MQTT 3.1.1 has no AUTH packet, no properties and no reason codes in DISCONNECT; the crate
/// decodes leniently, so what 3.1.1 forbids is refused here.
fn check_v311_packet(packet: &Packet) -> Result<(), &'static str> {
    match packet {
        Packet::Auth(_) => Err("AUTH does not exist in MQTT 3.1.1"),
        Packet::Disconnect(d) if d.reason_code != mqtt5_protocol::ReasonCode::Success => {
            Err("an MQTT 3.1.1 DISCONNECT has no reason code")
        }
        Packet::PubAck(p) if !p.properties.is_empty() => Err("properties in MQTT 3.1.1"),
        Packet::PubRec(p) if !p.properties.is_empty() => Err("properties in MQTT 3.1.1"),
        Packet::PubRel(p) if !p.properties.is_empty() => Err("properties in MQTT 3.1.1"),
        Packet::PubComp(p) if !p.properties.is_empty() => Err("properties in MQTT 3.1.1"),
        _ => Ok(()),
    }
}

fn detail(e: MqttError) -> String {
    e.to_string()
}

/// `(fixed header length, remaining length)` once the fixed header is complete.
fn frame_header(buf: &[u8]) -> Result<Option<(usize, u32)>, CodecError> {
    let mut value: u32 = 0;
    for i in 0..4 {
        let Some(&b) = buf.get(1 + i) else {
            return Ok(None);
        };
        value |= u32::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((2 + i, value)));
        }
    }
    Err(CodecError::BadLength)
}

/// The protocol version of a CONNECT body (after the fixed header): name `MQTT` with level 4
/// or 5. Anything else (MQTT 3.1's `MQIsdp`/3 included) is [`CodecError::UnsupportedProtocol`].
fn peek_connect_version(body: &[u8]) -> Result<ProtocolVersion, CodecError> {
    let malformed = |d: &str| CodecError::Malformed {
        packet: "CONNECT",
        detail: d.to_owned(),
    };
    let len = match body {
        [hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])),
        _ => return Err(malformed("no protocol name")),
    };
    let name = body
        .get(2..2 + len)
        .ok_or_else(|| malformed("truncated protocol name"))?;
    let level = *body
        .get(2 + len)
        .ok_or_else(|| malformed("no protocol level"))?;
    let name = String::from_utf8_lossy(name).into_owned();
    match ProtocolVersion::from_level(level) {
        Some(v) if name == "MQTT" => Ok(v),
        _ => Err(CodecError::UnsupportedProtocol { name, level }),
    }
}

fn type_name(code: u8) -> &'static str {
    match PacketType::from_u8(code) {
        Some(PacketType::Connect) => "CONNECT",
        Some(PacketType::ConnAck) => "CONNACK",
        Some(PacketType::Publish) => "PUBLISH",
        Some(PacketType::PubAck) => "PUBACK",
        Some(PacketType::PubRec) => "PUBREC",
        Some(PacketType::PubRel) => "PUBREL",
        Some(PacketType::PubComp) => "PUBCOMP",
        Some(PacketType::Subscribe) => "SUBSCRIBE",
        Some(PacketType::SubAck) => "SUBACK",
        Some(PacketType::Unsubscribe) => "UNSUBSCRIBE",
        Some(PacketType::UnsubAck) => "UNSUBACK",
        Some(PacketType::PingReq) => "PINGREQ",
        Some(PacketType::PingResp) => "PINGRESP",
        Some(PacketType::Disconnect) => "DISCONNECT",
        Some(PacketType::Auth) => "AUTH",
        None => "packet",
    }
}

/// Why a packet could not be encoded (only a packet the session built wrongly, never peer
/// input: reported, never a panic).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("cannot encode {packet}: {detail}")]
pub struct EncodeError {
    /// The packet type name.
    pub packet: &'static str,
    /// What was wrong.
    pub detail: String,
}

/// Appends the encoding of `packet` to `out`.
pub fn encode(packet: &Packet, out: &mut BytesMut) -> Result<(), EncodeError> {
    let r = match packet {
        Packet::Connect(p) => p.encode(out),
        Packet::ConnAck(p) => p.encode(out),
        Packet::Publish(p) => return encode_publish(p, out),
        Packet::PubAck(p) => p.encode(out),
        Packet::PubRec(p) => p.encode(out),
        Packet::PubRel(p) => p.encode(out),
        Packet::PubComp(p) => p.encode(out),
        Packet::Subscribe(p) => p.encode(out),
        Packet::SubAck(p) => p.encode(out),
        Packet::Unsubscribe(p) => p.encode(out),
        Packet::UnsubAck(p) => p.encode(out),
        Packet::PingReq => {
            out.put_slice(&[0xC0, 0]);
            Ok(())
        }
        Packet::PingResp => {
            out.put_slice(&[0xD0, 0]);
            Ok(())
        }
        Packet::Disconnect(p) => p.encode(out),
        Packet::Auth(p) => p.encode(out),
    };
    r.map_err(|e| EncodeError {
        packet: packet.packet_type_name(),
        detail: e.to_string(),
    })
}

/// Appends a PUBLISH without building its body in a temporary buffer.
pub fn encode_publish(p: &PublishPacket, out: &mut BytesMut) -> Result<(), EncodeError> {
    let err = |detail: String| EncodeError {
        packet: "PUBLISH",
        detail,
    };
    let body = u32::try_from(p.body_encoded_size())
        .ok()
        .filter(|n| *n <= MAX_REMAINING_LENGTH)
        .ok_or_else(|| err("larger than MQTT allows".into()))?;
    FixedHeader::new(PacketType::Publish, p.flags(), body)
        .encode(out)
        .map_err(|e| err(e.to_string()))?;
    p.encode_body_direct(out).map_err(|e| err(e.to_string()))
}

/// One PUBLISH encoded once and written to many connections: the fan-out path. Only the flags
/// (QoS, DUP, RETAIN in the first byte) and the packet identifier differ between subscribers of
/// one protocol version, so they are patched into a copy of the template.
#[derive(Debug, Clone)]
pub struct PublishTemplate {
    bytes: Bytes,
    /// Offset of the two packet identifier bytes; `None` for a QoS 0 template.
    packet_id_at: Option<usize>,
}

impl PublishTemplate {
    /// Encodes `p` (its QoS decides whether the template has a packet identifier field; its
    /// packet id, DUP and RETAIN are placeholders).
    pub fn new(p: &PublishPacket) -> Result<Self, EncodeError> {
        let mut p = p.clone();
        if p.qos != QoS::AtMostOnce {
            p.packet_id = Some(0);
        }
        let mut out = BytesMut::with_capacity(p.body_encoded_size() + 5);
        encode_publish(&p, &mut out)?;
        let packet_id_at = if p.qos == QoS::AtMostOnce {
            None
        } else {
            let header = frame_header(&out).ok().flatten().map_or(2, |(h, _)| h);
            Some(header + 2 + p.topic_name.len())
        };
        Ok(PublishTemplate {
            bytes: out.freeze(),
            packet_id_at,
        })
    }

    /// The encoded bytes as they are (the whole PUBLISH for a QoS 0 template: the same bytes
    /// can be queued on every QoS 0 subscriber's connection).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// True if the template carries a packet identifier (QoS 1 or 2).
    pub fn has_packet_id(&self) -> bool {
        self.packet_id_at.is_some()
    }

    /// Appends this PUBLISH to `out` with the given flags and packet identifier. `qos` must be
    /// 0 exactly when the template has no packet identifier field (otherwise the template's own
    /// QoS is kept).
    pub fn write(&self, qos: QoS, packet_id: u16, dup: bool, retain: bool, out: &mut BytesMut) {
        let start = out.len();
        out.extend_from_slice(&self.bytes);
        let qos = match (self.packet_id_at, qos) {
            (None, _) => QoS::AtMostOnce,
            (Some(_), QoS::AtMostOnce) => QoS::AtLeastOnce,
            (Some(_), q) => q,
        };
        if let Some(first) = out.get_mut(start) {
            let dup = dup && qos != QoS::AtMostOnce;
            *first = 0x30 | (u8::from(dup) << 3) | ((qos as u8) << 1) | u8::from(retain);
        }
        if let Some(at) = self.packet_id_at {
            if let Some(id) = out.get_mut(start + at..start + at + 2) {
                id.copy_from_slice(&packet_id.to_be_bytes());
            }
        }
    }
}
