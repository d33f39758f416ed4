//! The serializers wampbench speaks: JSON and MessagePack. wampbench's own enum (so that a
//! serializer added to ferrobar's codec does not change what the load generator does); encoding
//! and decoding of whole messages go through ferrobar's codec.

use ferrobar::codec::{self, DecodeError};
use ferrobar::wamp::Message;

/// A WAMP serializer of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serializer {
    /// `wamp.2.json` (text frames).
    Json,
    /// `wamp.2.msgpack` (binary frames).
    MsgPack,
}

impl Serializer {
    fn codec(self) -> codec::Serializer {
        match self {
            Serializer::Json => codec::Serializer::Json,
            Serializer::MsgPack => codec::Serializer::MsgPack,
        }
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Serializer::Json => "json",
            Serializer::MsgPack => "msgpack",
        }
    }

    /// The WebSocket subprotocol.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Serializer::Json => "wamp.2.json",
            Serializer::MsgPack => "wamp.2.msgpack",
        }
    }

    /// True when messages travel in binary frames.
    pub fn is_binary(self) -> bool {
        self == Serializer::MsgPack
    }

    /// Appends the encoding of `msg` (ferrobar's codec).
    pub fn encode(self, msg: &Message, out: &mut Vec<u8>) {
        self.codec().encode(msg, out);
    }

    /// Decodes one message (ferrobar's codec; JSON decodes in place).
    pub fn decode(self, bytes: &mut [u8]) -> Result<Message, DecodeError> {
        self.codec().decode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_ferrobar() {
        for s in [Serializer::Json, Serializer::MsgPack] {
            assert_eq!(s.subprotocol(), s.codec().subprotocol());
            assert_eq!(s.name(), s.codec().name());
            assert_eq!(s.is_binary(), s.codec().is_binary());
        }
    }
}
