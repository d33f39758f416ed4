//! ferrobar: a WAMP v2 router, a drop-in replacement for the Crossbar.io router.
//!
//! Data flows one way (see `DESIGN.md`):
//!
//! ```text
//! socket bytes -> transport (WebSocket | HTTP) -> codec (JSON | MessagePack)
//!    -> wamp::Message -> router core (realms, sessions, broker, dealer, authorization)
//!    -> outputs -> codec (encoded once per serializer) -> transport framing -> socket
//! ```
//!
//! A module uses only the layers below it, lowest first: `wamp` and `timestamp`; `codec` and
//! `credentials`; `config`; `auth` and `mqtt` (the sans-IO MQTT layer); `router` and `transport` (neither imports the other: the
//! core never imports I/O code); `shard`; `node`. `tests/layering.rs` checks it.

pub mod auth;
pub mod codec;
pub mod config;
pub mod credentials;
pub mod mqtt;
pub mod node;
pub mod router;
pub mod shard;
pub mod timestamp;
pub mod transport;
pub mod wamp;
