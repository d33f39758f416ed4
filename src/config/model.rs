//! The typed node configuration that the rest of ferrobar consumes. `config::load` builds it
//! from a Crossbar `config.json`; nothing here has runtime effects.

use std::path::PathBuf;

pub use crate::codec::Serializer;
use crate::wamp::uri::{MatchPolicy, UriCheck};

/// The whole node: what `ferrobar start` serves.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The node directory (`.crossbar`); relative paths in the config are relative to it.
    pub cbdir: PathBuf,
    /// `controller.id`, if set.
    pub node_id: Option<String>,
    /// Router workers. ferrobar serves all of them in one process on shared shards.
    pub routers: Vec<RouterConfig>,
}

/// One `workers[]` entry of type `router`.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// The worker id (`worker001` when omitted).
    pub id: String,
    /// `options.shards`: reactor threads; `None` means one per available core.
    pub shards: Option<usize>,
    /// Realms this worker routes.
    pub realms: Vec<RealmConfig>,
    /// Listening transports.
    pub transports: Vec<TransportConfig>,
}

/// One realm.
#[derive(Debug, Clone)]
pub struct RealmConfig {
    /// The realm name (a URI).
    pub name: String,
    /// Static roles.
    pub roles: Vec<RoleConfig>,
    /// `options.uri_check`.
    pub uri_check: UriCheck,
    /// `options.enable_meta_api` (default true): the `wamp.*` meta procedures.
    pub enable_meta_api: bool,
    /// `store`: the in-memory realm store (event history).
    pub store: Option<StoreConfig>,
}

/// `realms[].store` of type `memory`: which topics keep an event history, and how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// `limit`: events kept per history entry when the entry gives none (Crossbar: 100).
    pub limit: usize,
    /// `event-history`: the topics whose events are kept.
    pub event_history: Vec<HistoryRule>,
}

/// One `event-history` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRule {
    /// Topic URI or pattern.
    pub uri: String,
    /// How `uri` matches (exact by default).
    pub match_policy: MatchPolicy,
    /// Events kept, newest last.
    pub limit: usize,
}

/// A role with static permissions.
#[derive(Debug, Clone)]
pub struct RoleConfig {
    /// The role name (`anonymous`, `backend`, ...).
    pub name: String,
    /// Permissions, in config order.
    pub permissions: Vec<Permission>,
}

/// One permission entry of a role.
#[derive(Debug, Clone, PartialEq)]
pub struct Permission {
    /// URI, prefix or wildcard pattern.
    pub uri: String,
    /// How `uri` matches.
    pub match_policy: MatchPolicy,
    /// Allowed actions.
    pub allow: Allow,
    /// Forced identity disclosure.
    pub disclose: Disclose,
    /// `cache`: accepted; decisions are always computed from an in-memory index.
    pub cache: bool,
}

/// The four WAMP actions a permission may allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Allow {
    pub call: bool,
    pub register: bool,
    pub publish: bool,
    pub subscribe: bool,
}

/// Identity disclosure forced by a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Disclose {
    pub caller: bool,
    pub publisher: bool,
}

/// A listening transport.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// The transport id (`transport001` when omitted).
    pub id: String,
    /// Where it listens.
    pub endpoint: Endpoint,
    /// What it serves.
    pub kind: TransportKind,
    /// Anonymous authentication settings (the only method built so far).
    pub anonymous: AnonymousAuth,
}

/// What a transport serves.
#[derive(Debug, Clone)]
pub enum TransportKind {
    /// `"type": "websocket"`: WAMP over WebSocket on any path.
    WebSocket(WebSocketService),
    /// `"type": "web"`: HTTP paths, some of them WebSocket.
    Web(WebService),
    /// `"type": "rawsocket"`: WAMP over RawSocket (4-octet handshake, length-prefixed frames).
    RawSocket(RawSocketService),
    /// `"type": "universal"`: RawSocket and HTTP (web paths, WebSocket among them) on one
    /// port, told apart by the first octet the client sends: `0x7F` is a RawSocket handshake,
    /// anything else is HTTP. (Crossbar also takes `0x10`, MQTT CONNECT; its `mqtt` part is
    /// refused by the loader.)
    Universal(UniversalService),
}

/// The `universal` transport's services.
#[derive(Debug, Clone)]
pub struct UniversalService {
    /// `rawsocket{}`: what a connection starting with `0x7F` gets. `None`: such a connection
    /// is not served (Crossbar closes it).
    pub rawsocket: Option<RawSocketService>,
    /// Everything HTTP: the `web.paths` entries, plus each `websocket{"<path>": {...}}` entry as
    /// a [`PathService::WebSocket`] under its path (`"/"` becomes `root`). The loader refuses a
    /// path named in both. Empty (no root, no paths) when the config has neither: every HTTP
    /// request then gets 404.
    pub web: WebService,
}

/// The `rawsocket` transport's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSocketService {
    /// Serializers offered (the client names one in its handshake; order does not matter).
    pub serializers: Vec<Serializer>,
    /// `options.max_message_size`: the largest message accepted, 512 B to 16 MiB (Crossbar's
    /// range and default: 16 MiB). The handshake reply states it rounded down to a power of two.
    pub max_message_size: usize,
}

impl Default for RawSocketService {
    fn default() -> Self {
        RawSocketService {
            serializers: vec![Serializer::Cbor, Serializer::MsgPack, Serializer::Json],
            max_message_size: 16 * 1024 * 1024,
        }
    }
}

/// Anonymous authentication (`auth.anonymous`, or no `auth` block at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnonymousAuth {
    /// The role given to anonymous sessions (`anonymous` by default).
    pub role: String,
    /// A fixed authid; `None` gives each session a random one, as Crossbar does.
    pub authid: Option<String>,
}

impl Default for AnonymousAuth {
    fn default() -> Self {
        AnonymousAuth {
            role: "anonymous".into(),
            authid: None,
        }
    }
}

/// A listening endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// TCP: `port`, `interface`, `version`, `backlog`, `tls`.
    Tcp {
        /// Port number (0 picks a free port; useful in tests).
        port: u16,
        /// Bind address; `None` binds all interfaces of `version`.
        interface: Option<String>,
        /// 4 or 6.
        version: IpVersion,
        /// Listen backlog.
        backlog: u32,
        /// `tls`: serve TLS on this port (`None`: plain TCP).
        tls: Option<TlsConfig>,
    },
    /// A Unix domain socket at `path` (already resolved against the node directory).
    Unix {
        /// Socket path.
        path: PathBuf,
        /// Listen backlog.
        backlog: u32,
    },
}

/// `endpoint.tls` of a listening TCP endpoint. Paths are resolved against the node directory,
/// and the loader has checked that every file exists; it has not read them: the reactor parses
/// the PEM at startup (and fails with the file's name when it cannot). `dhparam` and `ciphers`
/// are accepted with a log line and not kept: rustls negotiates TLS 1.2/1.3 with its own cipher
/// suites (ECDHE key exchange, no DH parameters), and Crossbar 26.10 ignores both too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// `key`: the server's private key (PEM).
    pub key: PathBuf,
    /// `certificate`: the server's certificate (PEM). It may hold the whole chain (a
    /// `fullchain.pem`), leaf first.
    pub certificate: PathBuf,
    /// `chain_certificates`: intermediate certificates sent after `certificate`, in order.
    pub chain_certificates: Vec<PathBuf>,
    /// `ca_certificates`: CA certificates for client certificates. Non-empty means the server
    /// requests a client certificate and verifies it against these CAs, as Crossbar does
    /// (Twisted's `verify=True` with its default `requireCertificate=True`): a client that
    /// sends none, or one that does not verify, fails the handshake. Today that verification is
    /// all it does; WAMP-TLS authentication (`auth.tls`, a later issue) will use it to map the
    /// verified certificate to an authid and role. Empty: no client certificate is requested
    /// (the loader refuses an explicit `[]`, with which Crossbar would reject every client).
    pub ca_certificates: Vec<PathBuf>,
}

/// IP version of a TCP endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpVersion {
    #[default]
    V4,
    V6,
}

/// The `web` transport: a tree of path services.
#[derive(Debug, Clone, Default)]
pub struct WebService {
    /// The service at `/`, if any.
    pub root: Option<PathService>,
    /// Services on first-level path segments (`ws`, `info`, ...), in config order.
    pub paths: Vec<(String, PathService)>,
}

/// One web path service.
#[derive(Debug, Clone)]
pub enum PathService {
    /// WAMP over WebSocket.
    WebSocket(WebSocketService),
    /// Static files from a directory.
    Static(StaticService),
    /// The node info page.
    NodeInfo,
    /// A nested tree (`"type": "path"`).
    Path(Box<WebService>),
    /// A fixed JSON value (`"type": "json"`).
    Json(String),
    /// An HTTP redirect (`"type": "redirect"`).
    Redirect(String),
    /// An explicit 404 (`"type": "none"`).
    NotFound,
}

/// `"type": "static"`.
#[derive(Debug, Clone)]
pub struct StaticService {
    /// The directory (resolved against the node directory).
    pub directory: PathBuf,
    /// `options.enable_directory_listing`.
    pub enable_directory_listing: bool,
    /// `options.default_file` (`index.html` by default).
    pub default_file: Option<String>,
    /// `options.cache_timeout` in seconds.
    pub cache_timeout: Option<u64>,
    /// `options.mime_types`: extra extension → MIME type mappings (extension with leading dot).
    pub mime_types: Vec<(String, String)>,
}

/// WAMP-over-WebSocket settings, shared by the `websocket` transport and the `websocket` path.
#[derive(Debug, Clone)]
pub struct WebSocketService {
    /// Serializers offered, in preference order.
    pub serializers: Vec<Serializer>,
    /// Options.
    pub options: WebSocketOptions,
}

impl Default for WebSocketService {
    fn default() -> Self {
        WebSocketService {
            serializers: vec![Serializer::Cbor, Serializer::MsgPack, Serializer::Json],
            options: WebSocketOptions::default(),
        }
    }
}

/// WebSocket options honoured so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketOptions {
    /// Largest reassembled message accepted, in bytes (Crossbar 26.10 default: 16 MiB).
    pub max_message_size: usize,
    /// Largest single frame accepted (0 = no limit beyond `max_message_size`).
    pub max_frame_size: usize,
    /// Reject an upgrade that names no `wamp.2.*` subprotocol (Crossbar default: true).
    pub require_websocket_subprotocol: bool,
    /// A plain GET on the WebSocket path renders a status page (default true).
    pub enable_webstatus: bool,
    /// `open_handshake_timeout` in ms: how long a connection may take to complete the opening
    /// handshake (`None`: no limit; Crossbar's 0 means the same).
    pub open_handshake_timeout_ms: Option<u64>,
    /// `close_handshake_timeout` in ms: how long to wait for the peer's close frame after
    /// sending one before dropping the connection (`None`: no limit).
    pub close_handshake_timeout_ms: Option<u64>,
    /// `auto_ping_interval` in ms: send a ping after this long (`None`: never).
    pub auto_ping_interval_ms: Option<u64>,
    /// `auto_ping_timeout` in ms: drop the connection when a ping is not answered within this
    /// (`None`: never).
    pub auto_ping_timeout_ms: Option<u64>,
    /// `auto_ping_size`: ping payload size in bytes, 12 to 125 (Autobahn's default and range: 12).
    pub auto_ping_size: usize,
    /// `allowed_origins`: patterns for the `Origin` of an upgrade, where `*` matches any run of
    /// characters. Autobahn matches them against the origin rebuilt as `scheme://host:port`
    /// (port always present), so `https://*.example.com:*` is the usual form. Default `["*"]`:
    /// any origin. A request without `Origin` (a non-browser client) is always allowed.
    pub allowed_origins: Vec<String>,
    /// `allow_null_origin`: accept `Origin: null` (sandboxed pages, `file://`). Default true.
    pub allow_null_origin: bool,
}

impl Default for WebSocketOptions {
    fn default() -> Self {
        WebSocketOptions {
            max_message_size: 16 * 1024 * 1024,
            max_frame_size: 0,
            require_websocket_subprotocol: true,
            enable_webstatus: true,
            open_handshake_timeout_ms: None,
            close_handshake_timeout_ms: None,
            auto_ping_interval_ms: None,
            auto_ping_timeout_ms: None,
            auto_ping_size: 12,
            allowed_origins: vec!["*".to_owned()],
            allow_null_origin: true,
        }
    }
}
