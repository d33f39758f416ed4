//! The WAMP protocol as plain types: messages, values, ids, URI rules, error and close URIs.
//!
//! No I/O, no threads, no allocation policy. Everything right of this module in the data flow
//! (codec, router) speaks in these types.

pub mod error_uri;
pub mod id;
pub mod message;
pub mod uri;
pub mod value;

pub use message::{Message, MessageType, Payload};
pub use value::{Dict, Value};
