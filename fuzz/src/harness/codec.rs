//! Targets `codec_json`, `codec_msgpack`, `codec_cbor`: one serializer's decoder on arbitrary
//! bytes.
//!
//! Invariants: decoding never panics; a decoded message re-encodes with the same serializer to
//! bytes that decode to the same message; and it encodes with every other serializer to bytes
//! that decode (the router transcodes a publisher's message for subscribers on other
//! serializers, so an encoding that does not decode is an undeliverable frame). An EVENT
//! encoded through the fan-out path (`encode_event`) is the same bytes as through `encode`.

use ferrobar::codec::Serializer;
use ferrobar::wamp::Message;

use super::{message_has_nul_string, same_message, Lossy};

const ALL: [Serializer; 3] = [Serializer::Json, Serializer::MsgPack, Serializer::Cbor];

/// Runs one input through `serializer`'s decoder and checks the invariants above.
pub fn run(serializer: Serializer, data: &[u8]) {
    let mut buf = data.to_vec();
    let Ok(msg) = serializer.decode(&mut buf) else {
        return;
    };
    for target in ALL {
        check_encoding(serializer, &msg, target);
    }
}

/// Encodes `msg` (decoded from `source`) with `target` and checks the result decodes to the
/// same message.
pub fn check_encoding(source: Serializer, msg: &Message, target: Serializer) {
    let mut out = Vec::new();
    target.encode(msg, &mut out);
    if let Message::Event {
        subscription,
        publication,
        details,
        payload,
    } = msg
    {
        let mut fast = Vec::new();
        target.encode_event(*subscription, *publication, details, payload, &mut fast);
        assert_eq!(
            fast, out,
            "{target:?}: encode_event and encode differ for {msg:?}"
        );
    }
    // A text string starting with NUL is binary to JSON (Autobahn's convention): such a
    // message from a binary serializer cannot cross into JSON intact, by design.
    if target == Serializer::Json && source != Serializer::Json && message_has_nul_string(msg) {
        return;
    }
    let mut copy = out.clone();
    let back = match target.decode(&mut copy) {
        Ok(m) => m,
        Err(e) => panic!(
            "{source:?} message {msg:?} encoded by {target:?} as {:?} does not decode: {e}",
            String::from_utf8_lossy(&out)
        ),
    };
    let lossy = if target == Serializer::Json {
        Lossy::Json
    } else {
        Lossy::Exact
    };
    assert!(
        same_message(msg, &back, lossy),
        "{source:?} -> {target:?} changed the message:\n before {msg:?}\n after  {back:?}\n bytes  {:?}",
        String::from_utf8_lossy(&out)
    );
}
