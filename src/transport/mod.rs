//! Framing state machines over buffers: the HTTP side of the web transport (upgrade decision,
//! static files, node info), WebSocket framing and the RawSocket handshake and framing. Nothing
//! here imports mio or owns a socket.

pub mod http;
pub mod nodeinfo;
pub mod rawsocket;
pub mod static_files;
pub mod tls;
pub mod websocket;
