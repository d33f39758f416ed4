//! What this build of ferrobar offers, by the names a Crossbar config uses: what
//! `ferrobar version` prints. Each list is checked against the loader by
//! `tests_capabilities.rs` (every name listed is accepted, and the Crossbar names ferrobar
//! refuses are not listed), so the list cannot claim more, or less, than the code does.

/// Transport `type`s a router worker accepts.
pub const TRANSPORTS: &[&str] = &["websocket", "rawsocket", "universal", "web"];

/// Web path service `type`s (`web` and `universal` transports).
pub const WEB_SERVICES: &[&str] = &[
    "websocket",
    "static",
    "nodeinfo",
    "metrics",
    "health",
    "path",
    "json",
    "redirect",
    "none",
];

/// Listening endpoint `type`s.
pub const ENDPOINTS: &[&str] = &["tcp", "unix"];

/// Authentication methods (`auth` keys) a transport may offer.
pub const AUTH_METHODS: &[&str] = &[
    "anonymous",
    "ticket",
    "wampcra",
    "cryptosign",
    "tls",
    "cookie",
];

/// Authentication methods whose principals may come from a dynamic authenticator (a WAMP
/// procedure) instead of the config.
pub const DYNAMIC_AUTH_METHODS: &[&str] = &["anonymous", "ticket", "wampcra", "cryptosign", "tls"];

/// Names Crossbar knows that this build refuses by name (listed by `ferrobar version` as
/// not offered, so nobody has to find out from a refused config).
pub const REFUSED_TRANSPORTS: &[&str] = &["flashpolicy"];

/// Transport `type`s the loader parses and checks but the node does not serve yet: `ferrobar
/// check` accepts them with a warning, `ferrobar start` refuses them by name.
pub const PARSED_NOT_SERVED_TRANSPORTS: &[&str] = &["mqtt"];

/// Authentication methods Crossbar has and this build refuses by name.
pub const REFUSED_AUTH_METHODS: &[&str] = &["scram", "anonymous-proxy", "cryptosign-proxy"];
