//! Bytes <-> [`wamp::Message`](crate::wamp::Message), one module per serializer.
//!
//! Decoders never panic on peer bytes: every malformed input is a [`DecodeError`] naming what
//! was expected. Encoders write into a caller-supplied buffer so the hot path can reuse it.

pub mod cbor;
pub mod json;
pub mod msgpack;
mod wire;

use thiserror::Error;

use crate::wamp::{Dict, Message, Payload, Value};

/// A serializer ferrobar speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Serializer {
    /// `wamp.2.json` (text frames).
    Json,
    /// `wamp.2.msgpack` (binary frames).
    MsgPack,
    /// `wamp.2.cbor` (binary frames).
    Cbor,
}

/// How many serializers there are; per-serializer caches are arrays of this length.
pub const SERIALIZER_COUNT: usize = 3;

impl Serializer {
    /// Every serializer ferrobar speaks, in the order `ferrobar version` lists them.
    pub const ALL: [Serializer; SERIALIZER_COUNT] =
        [Serializer::Json, Serializer::MsgPack, Serializer::Cbor];

    /// The WebSocket subprotocol name.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Serializer::Json => "wamp.2.json",
            Serializer::MsgPack => "wamp.2.msgpack",
            Serializer::Cbor => "wamp.2.cbor",
        }
    }

    /// The config name (`"json"`, `"msgpack"`, `"cbor"`).
    pub fn name(self) -> &'static str {
        match self {
            Serializer::Json => "json",
            Serializer::MsgPack => "msgpack",
            Serializer::Cbor => "cbor",
        }
    }

    /// Parses a config name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "json" => Some(Serializer::Json),
            "msgpack" => Some(Serializer::MsgPack),
            "cbor" => Some(Serializer::Cbor),
            _ => None,
        }
    }

    /// Parses a WebSocket subprotocol name.
    pub fn from_subprotocol(p: &str) -> Option<Self> {
        match p {
            "wamp.2.json" => Some(Serializer::Json),
            "wamp.2.msgpack" => Some(Serializer::MsgPack),
            "wamp.2.cbor" => Some(Serializer::Cbor),
            _ => None,
        }
    }

    /// The RawSocket serializer id (the low nibble of the handshake's second octet).
    pub fn rawsocket_id(self) -> u8 {
        match self {
            Serializer::Json => 1,
            Serializer::MsgPack => 2,
            Serializer::Cbor => 3,
        }
    }

    /// The serializer with RawSocket id `id` (1 JSON, 2 MessagePack, 3 CBOR); `None` for 0
    /// (illegal), 4 (UBJSON), 5 (FlatBuffers) and the reserved ids.
    pub fn from_rawsocket_id(id: u8) -> Option<Self> {
        match id {
            1 => Some(Serializer::Json),
            2 => Some(Serializer::MsgPack),
            3 => Some(Serializer::Cbor),
            _ => None,
        }
    }

    /// True when messages travel in WebSocket binary frames.
    pub fn is_binary(self) -> bool {
        matches!(self, Serializer::MsgPack | Serializer::Cbor)
    }

    /// Index into per-serializer arrays.
    pub fn index(self) -> usize {
        match self {
            Serializer::Json => 0,
            Serializer::MsgPack => 1,
            Serializer::Cbor => 2,
        }
    }

    /// Decodes one message. JSON decoding works in place, so the buffer is taken mutably and
    /// its contents are unspecified afterwards.
    pub fn decode(self, bytes: &mut [u8]) -> Result<Message, DecodeError> {
        match self {
            Serializer::Json => json::decode(bytes),
            Serializer::MsgPack => msgpack::decode(bytes),
            Serializer::Cbor => cbor::decode(bytes),
        }
    }

    /// Appends the encoding of `msg` to `out`.
    pub fn encode(self, msg: &Message, out: &mut Vec<u8>) {
        match self {
            Serializer::Json => json::encode(msg, out),
            Serializer::MsgPack => msgpack::encode(msg, out),
            Serializer::Cbor => cbor::encode(msg, out),
        }
    }

    /// Decodes one plain value (not a WAMP message), e.g. an MQTT payload in the bridge's
    /// `native` mapping. JSON decodes in place: `bytes` is scratch afterwards.
    pub fn decode_value(self, bytes: &mut [u8]) -> Result<Value, DecodeError> {
        match self {
            Serializer::Json => json::decode_value(bytes),
            Serializer::MsgPack => msgpack::decode_value(bytes),
            Serializer::Cbor => cbor::decode_value(bytes),
        }
    }

    /// Appends the encoding of one plain value to `out`.
    pub fn encode_value(self, v: &Value, out: &mut Vec<u8>) {
        match self {
            Serializer::Json => json::encode_value(v, out),
            Serializer::MsgPack => msgpack::encode_value(v, out),
            Serializer::Cbor => cbor::encode_value(v, out),
        }
    }

    /// Appends the encoding of `[36, subscription, publication, details, args?, kwargs?]` to
    /// `out` without building a [`Message`] (the fan-out hot path encodes from references).
    pub fn encode_event(
        self,
        subscription: u64,
        publication: u64,
        details: &Dict,
        payload: &Payload,
        out: &mut Vec<u8>,
    ) {
        match self {
            Serializer::Json => {
                json::encode_event(subscription, publication, details, payload, out)
            }
            Serializer::MsgPack => {
                msgpack::encode_event(subscription, publication, details, payload, out)
            }
            Serializer::Cbor => {
                cbor::encode_event(subscription, publication, details, payload, out)
            }
        }
    }
}

/// Why a message could not be decoded. The text is sent to the peer in the protocol violation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The bytes are not valid for the serializer at all.
    #[error("malformed {serializer} at byte {offset}: {detail}")]
    Malformed {
        /// `"JSON"`, `"MessagePack"` or `"CBOR"`.
        serializer: &'static str,
        /// Byte offset where decoding stopped, when known.
        offset: usize,
        /// What went wrong.
        detail: String,
    },
    /// Well-formed, but not a WAMP message: the top level is not a list, or empty.
    #[error("a WAMP message must be a non-empty list starting with the message type")]
    NotAMessage,
    /// The message type code is not one WAMP defines.
    #[error("unknown WAMP message type {0}")]
    UnknownType(u64),
    /// An element has the wrong type or is missing.
    #[error("{message}: element {index} must be {expected}")]
    BadElement {
        /// Message name (`"PUBLISH"`).
        message: &'static str,
        /// Position in the list (0 is the type code).
        index: usize,
        /// What it must be (`"a dict"`, `"an id in [0, 2^53]"`).
        expected: &'static str,
    },
    /// Nesting deeper than the decoder allows (a defence against stack exhaustion).
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
}

/// The deepest nesting of lists and dicts a decoder accepts.
pub const MAX_DEPTH: usize = 64;
