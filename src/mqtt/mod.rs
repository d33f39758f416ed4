//! MQTT 3.1.1 and 5.0 bridged into WAMP realms: the sans-IO protocol layer.
//!
//! - [`codec`]: framing and packet codec (over the `mqtt5-protocol` crate) with a maximum
//!   packet size, and encode-once PUBLISH templates for fan-out.
//! - [`topic`]: MQTT topic names/filters ↔ WAMP URIs and match policies.
//! - [`actions`]: what a session hands to the router and takes back.
//! - [`session`]: one connection as a state machine (CONNECT/CONNACK, SUBSCRIBE, PUBLISH at
//!   QoS 0/1/2 both ways, keep-alive, will, persistent sessions), time passed in.
//! - [`flow`]: the outbound in-flight window and bounded queue, kept across reconnects.
//! - [`payload`]: Crossbar's `payload_mapping` (passthrough, native, dynamic).
//!
//! No sockets, clock or threads here: the shard's reactor drives it (see `docs/mqtt.md`). It
//! uses `wamp`, `codec` and `config` types only.

pub mod actions;
pub mod codec;
pub mod flow;
pub mod payload;
pub mod session;
pub mod topic;

#[cfg(test)]
mod tests_codec;
#[cfg(test)]
mod tests_payload;
#[cfg(test)]
mod tests_session;
#[cfg(test)]
mod tests_topic;

pub use mqtt5_protocol::{Packet, QoS, ReasonCode};
