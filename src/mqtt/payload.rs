//! Payload mapping between MQTT's opaque bytes and WAMP's `args`/`kwargs`, as Crossbar's bridge
//! does it, keyed by the longest string prefix of the WAMP topic (`options.payload_mapping`).
//!
//! - `passthrough`: MQTT → WAMP is a payload-passthru-mode publication (`args = [bytes]`,
//!   `ppt_scheme`/`enc_algo` = `"mqtt"`); WAMP → MQTT sends such an event's bytes as they are.
//! - `native` (`json`, `cbor`, `msgpack`): MQTT → WAMP decodes the payload, which must be a
//!   dict; its `args`, `kwargs` and the publish options `exclude`, `exclude_authid`,
//!   `exclude_authrole`, `eligible`, `eligible_authid`, `eligible_authrole` are used. WAMP →
//!   MQTT encodes `{"args": [...], "kwargs": {...}}` (absent ones as null), once per
//!   publication.
//! - `dynamic`: the router calls a procedure ([`MappingCall`]) — the decoder with
//!   `(wamp_topic, mqtt_topic, payload)` returning a dict as in `native`, the encoder with
//!   `(mqtt_topic, wamp_topic, args, kwargs)` returning bytes — and hands its result to
//!   [`PayloadMapper::from_decoder_result`] / [`PayloadMapper::from_encoder_result`].

use bytes::Bytes;
use thiserror::Error;

use crate::codec::Serializer;
use crate::config::MqttPayloadFormat;
use crate::wamp::{Dict, Payload, Value};

/// The publish options a `native` or `dynamic` payload may set (Crossbar's list).
pub const PUBLISH_OPTION_KEYS: &[&str] = &[
    "exclude",
    "exclude_authid",
    "exclude_authrole",
    "eligible",
    "eligible_authid",
    "eligible_authrole",
];

/// The `ppt_scheme` of passthrough publications (Crossbar sets `enc_algo` to the same).
pub const PASSTHROUGH_SCHEME: &str = "mqtt";

/// Why a payload could not be mapped (MQTT 5.0 clients get 0x99 Payload Format Invalid for
/// their publication; events that cannot be mapped are not delivered to MQTT subscribers).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MappingError {
    /// `payload_mapping` has no entry whose prefix matches the topic.
    #[error("no payload_mapping entry matches {0:?}")]
    NoMapping(String),
    /// The payload does not decode with the serializer.
    #[error("the payload is not valid {serializer}: {detail}")]
    Undecodable {
        /// The serializer name.
        serializer: &'static str,
        /// The decoder's message.
        detail: String,
    },
    /// The decoded payload (or decoder result) has the wrong shape.
    #[error("{0}")]
    BadShape(String),
    /// A passthrough mapping got an event that was not published in payload passthru mode.
    #[error("a passthrough topic got an event with structured args/kwargs")]
    NotPassthrough,
    /// A dynamic mapping has no procedure for this direction.
    #[error("the dynamic payload mapping has no {0} procedure")]
    NoProcedure(&'static str),
}

/// A WAMP publication made from an MQTT payload.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WampPublication {
    /// Positional and keyword arguments.
    pub payload: Payload,
    /// Publish options taken from the payload (or the passthru `ppt_scheme`/`enc_algo`).
    pub options: Dict,
}

/// A procedure the router must call to map a payload (`dynamic` mode).
#[derive(Debug, Clone, PartialEq)]
pub struct MappingCall {
    /// The realm to call it on (`None`: the MQTT transport's realm).
    pub realm: Option<String>,
    /// The procedure.
    pub procedure: String,
    /// Its positional arguments.
    pub args: Vec<Value>,
}

/// MQTT → WAMP.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// Publish this.
    Ready(WampPublication),
    /// Call this; its result goes to [`PayloadMapper::from_decoder_result`].
    Call(MappingCall),
}

/// WAMP → MQTT.
#[derive(Debug, Clone, PartialEq)]
pub enum OutboundPayload {
    /// Send these bytes.
    Ready(Bytes),
    /// Call this; its result goes to [`PayloadMapper::from_encoder_result`].
    Call(MappingCall),
}

/// The `payload_mapping` table of one MQTT transport.
#[derive(Debug, Clone, Default)]
pub struct PayloadMapper {
    /// Entries, longest prefix first.
    entries: Vec<(String, MqttPayloadFormat)>,
}

impl PayloadMapper {
    /// The table from config. An empty table maps everything as `passthrough` (Crossbar drops
    /// every message then; see `docs/mqtt.md`).
    pub fn new(entries: &[(String, MqttPayloadFormat)]) -> Self {
        let mut entries = entries.to_vec();
        entries.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        PayloadMapper { entries }
    }

    /// The mapping for a WAMP topic: the entry with the longest string prefix of it.
    pub fn lookup(&self, uri: &str) -> Result<&MqttPayloadFormat, MappingError> {
        static PASSTHROUGH: MqttPayloadFormat = MqttPayloadFormat::Passthrough;
        if self.entries.is_empty() {
            return Ok(&PASSTHROUGH);
        }
        self.entries
            .iter()
            .find(|(prefix, _)| uri.starts_with(prefix.as_str()))
            .map(|(_, f)| f)
            .ok_or_else(|| MappingError::NoMapping(uri.to_owned()))
    }

    /// Maps an inbound MQTT payload published to `topic` (WAMP `uri`).
    pub fn mqtt_to_wamp(
        &self,
        uri: &str,
        topic: &str,
        payload: &Bytes,
    ) -> Result<Inbound, MappingError> {
        match self.lookup(uri)? {
            MqttPayloadFormat::Passthrough => {
                let mut options = Dict::new();
                options.insert("ppt_scheme", PASSTHROUGH_SCHEME);
                options.insert("enc_algo", PASSTHROUGH_SCHEME);
                Ok(Inbound::Ready(WampPublication {
                    payload: Payload::args(vec![Value::Bytes(payload.to_vec())]),
                    options,
                }))
            }
            MqttPayloadFormat::Native(serializer) => {
                let mut scratch = payload.to_vec();
                let value = serializer.decode_value(&mut scratch).map_err(|e| {
                    MappingError::Undecodable {
                        serializer: serializer.name(),
                        detail: e.to_string(),
                    }
                })?;
                publication_from(value, "the payload").map(Inbound::Ready)
            }
            MqttPayloadFormat::Dynamic { realm, decoder, .. } => {
                let procedure = decoder
                    .clone()
                    .ok_or(MappingError::NoProcedure("decoder"))?;
                Ok(Inbound::Call(MappingCall {
                    realm: realm.clone(),
                    procedure,
                    args: vec![
                        Value::Str(uri.to_owned()),
                        Value::Str(topic.to_owned()),
                        Value::Bytes(payload.to_vec()),
                    ],
                }))
            }
        }
    }

    /// The publication from a dynamic decoder's result (a dict, as in `native`).
    pub fn from_decoder_result(result: Value) -> Result<WampPublication, MappingError> {
        publication_from(result, "the decoder's result")
    }

    /// Maps an event on WAMP `uri` (MQTT `topic`) to an MQTT payload. Called once per
    /// publication, not per subscriber.
    pub fn wamp_to_mqtt(
        &self,
        uri: &str,
        topic: &str,
        payload: &Payload,
    ) -> Result<OutboundPayload, MappingError> {
        match self.lookup(uri)? {
            MqttPayloadFormat::Passthrough => match (&payload.args, &payload.kwargs) {
                (Some(args), None) => match args.as_slice() {
                    [Value::Bytes(b)] => Ok(OutboundPayload::Ready(Bytes::from(b.clone()))),
                    [Value::Str(s)] => {
                        Ok(OutboundPayload::Ready(Bytes::from(s.clone().into_bytes())))
                    }
                    _ => Err(MappingError::NotPassthrough),
                },
                (None, None) => Ok(OutboundPayload::Ready(Bytes::new())),
                _ => Err(MappingError::NotPassthrough),
            },
            MqttPayloadFormat::Native(serializer) => {
                let mut out = Vec::new();
                serializer.encode_value(&native_envelope(payload), &mut out);
                Ok(OutboundPayload::Ready(Bytes::from(out)))
            }
            MqttPayloadFormat::Dynamic { realm, encoder, .. } => {
                let procedure = encoder
                    .clone()
                    .ok_or(MappingError::NoProcedure("encoder"))?;
                Ok(OutboundPayload::Call(MappingCall {
                    realm: realm.clone(),
                    procedure,
                    args: vec![
                        Value::Str(topic.to_owned()),
                        Value::Str(uri.to_owned()),
                        payload.args.clone().map_or(Value::Null, Value::List),
                        payload.kwargs.clone().map_or(Value::Null, Value::Dict),
                    ],
                }))
            }
        }
    }

    /// The MQTT payload from a dynamic encoder's result (bytes, or a string sent as UTF-8).
    pub fn from_encoder_result(result: Value) -> Result<Bytes, MappingError> {
        match result {
            Value::Bytes(b) => Ok(Bytes::from(b)),
            Value::Str(s) => Ok(Bytes::from(s.into_bytes())),
            other => Err(MappingError::BadShape(format!(
                "the encoder must return bytes, returned {}",
                kind(&other)
            ))),
        }
    }
}

/// `{"args": [...] | null, "kwargs": {...} | null}`.
fn native_envelope(payload: &Payload) -> Value {
    let mut d = Dict::new();
    d.insert(
        "args",
        payload.args.clone().map_or(Value::Null, Value::List),
    );
    d.insert(
        "kwargs",
        payload.kwargs.clone().map_or(Value::Null, Value::Dict),
    );
    Value::Dict(d)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Int(_) | Value::UInt(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Str(_) => "a string",
        Value::Bytes(_) => "bytes",
        Value::List(_) => "a list",
        Value::Dict(_) => "a dict",
    }
}

fn publication_from(value: Value, what: &str) -> Result<WampPublication, MappingError> {
    let Value::Dict(dict) = value else {
        return Err(MappingError::BadShape(format!(
            "{what} must be a dict with args/kwargs, got {}",
            kind(&value)
        )));
    };
    let mut publication = WampPublication::default();
    for (k, v) in dict.0 {
        match k.as_str() {
            "args" => match v {
                Value::List(l) => publication.payload.args = Some(l),
                Value::Null => {}
                other => {
                    return Err(MappingError::BadShape(format!(
                        "{what}: args must be a list, got {}",
                        kind(&other)
                    )))
                }
            },
            "kwargs" => match v {
                Value::Dict(d) => publication.payload.kwargs = Some(d),
                Value::Null => {}
                other => {
                    return Err(MappingError::BadShape(format!(
                        "{what}: kwargs must be a dict, got {}",
                        kind(&other)
                    )))
                }
            },
            key if PUBLISH_OPTION_KEYS.contains(&key) => publication.options.insert(key, v),
            // Crossbar ignores other keys too.
            _ => {}
        }
    }
    Ok(publication)
}

/// The key under which MQTT 5.0 user properties travel in WAMP: a PUBLISH option from MQTT
/// publishers, an EVENT detail for WAMP subscribers, and read back from a WAMP publication's
/// options for MQTT subscribers.
pub const USER_PROPERTIES_KEY: &str = "mqtt_user_properties";

/// MQTT 5.0 user properties as a WAMP value: a list of `[key, value]` pairs (a dict would lose
/// order and repeated keys, both of which MQTT keeps).
pub fn user_properties_to_wamp(props: &[(String, String)]) -> Value {
    Value::List(
        props
            .iter()
            .map(|(k, v)| Value::List(vec![Value::Str(k.clone()), Value::Str(v.clone())]))
            .collect(),
    )
}

/// User properties from a WAMP value: a list of `[key, value]` string pairs, or a dict of
/// strings (what a WAMP publisher writes most naturally). Anything else is `None`.
pub fn user_properties_from_wamp(v: &Value) -> Option<Vec<(String, String)>> {
    match v {
        Value::List(items) => items
            .iter()
            .map(|item| match item.as_list() {
                Some([Value::Str(k), Value::Str(v)]) => Some((k.clone(), v.clone())),
                _ => None,
            })
            .collect(),
        Value::Dict(d) => d
            .iter()
            .map(|(k, v)| v.as_str().map(|v| (k.to_owned(), v.to_owned())))
            .collect(),
        _ => None,
    }
}

/// The serializer of a `native` entry, for callers that need it.
pub fn native_serializer(format: &MqttPayloadFormat) -> Option<Serializer> {
    match format {
        MqttPayloadFormat::Native(s) => Some(*s),
        _ => None,
    }
}
