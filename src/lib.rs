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
//! A module uses only the layers left of it: the router core never imports `shard` or
//! `transport`.

pub mod auth;
pub mod codec;
pub mod config;
pub mod node;
pub mod router;
pub mod shard;
pub mod timestamp;
pub mod transport;
pub mod wamp;
