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
    /// `options.reactor` (ferrobar extension): how the shards write to sockets; `None`: not
    /// set (`FERROBAR_REACTOR`, else `auto`).
    pub reactor: Option<ReactorKind>,
    /// `options.limits`: resource limits.
    pub limits: Limits,
    /// Realms this worker routes.
    pub realms: Vec<RealmConfig>,
    /// Listening transports.
    pub transports: Vec<TransportConfig>,
}

/// `options.reactor` (ferrobar extension): the I/O backend of the shards. Both backends wait
/// for readiness and accept with epoll; they differ in how a reactor turn's output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReactorKind {
    /// The faster backend of the two where the kernel offers it (measured: see
    /// `docs/performance.md`), else epoll.
    #[default]
    Auto,
    /// One `send` system call per connection with pending output, per turn.
    Epoll,
    /// All of a turn's sends in one `io_uring_enter`; falls back to epoll (with one log line)
    /// where the kernel refuses io_uring.
    IoUring,
}

impl ReactorKind {
    /// The names the config, `--reactor` and `FERROBAR_REACTOR` accept.
    pub const NAMES: &'static str = "\"epoll\", \"io_uring\" or \"auto\"";

    /// Parses `epoll`, `io_uring` or `auto`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "auto" => Some(ReactorKind::Auto),
            "epoll" => Some(ReactorKind::Epoll),
            "io_uring" => Some(ReactorKind::IoUring),
            _ => None,
        }
    }

    /// The name as the config spells it.
    pub fn name(self) -> &'static str {
        match self {
            ReactorKind::Auto => "auto",
            ReactorKind::Epoll => "epoll",
            ReactorKind::IoUring => "io_uring",
        }
    }
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
    /// `options.max_sessions`: sessions the realm admits at once (ferrobar extension).
    pub max_sessions: Option<usize>,
    /// `store`: the in-memory realm store (event history).
    pub store: Option<StoreConfig>,
    /// `options.call_timeout_unit` (ferrobar extension): how a CALL's `timeout` is read.
    pub call_timeout_unit: CallTimeoutUnit,
    /// `options.disclose_callee` (ferrobar extension, default true): RESULT details name the
    /// callee (`callee`, `callee_authid`, `callee_authrole`), as Crossbar's always do.
    pub disclose_callee: bool,
}

/// How a CALL's `timeout` option is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallTimeoutUnit {
    /// Seconds, as Crossbar and Autobahn|Python read it; `call_timeout` is not announced.
    #[default]
    Seconds,
    /// The WAMP spec's milliseconds; `call_timeout` is announced in WELCOME and an expired call
    /// answers `wamp.error.timeout`.
    Millis,
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

/// A role: static permissions, or a dynamic authorizer.
#[derive(Debug, Clone, Default)]
pub struct RoleConfig {
    /// The role name (`anonymous`, `backend`, ...).
    pub name: String,
    /// Permissions, in config order (unused when `authorizer` is set, as in Crossbar).
    pub permissions: Vec<Permission>,
    /// `authorizer`: the procedure (on the same realm) that decides each action of the role's
    /// sessions.
    pub authorizer: Option<String>,
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

impl Permission {
    /// Every action on every URI, nothing disclosed: the role of Crossbar's default node.
    pub fn allow_everything() -> Self {
        Permission {
            uri: String::new(),
            match_policy: MatchPolicy::Prefix,
            allow: Allow {
                call: true,
                register: true,
                publish: true,
                subscribe: true,
            },
            disclose: Disclose::default(),
            cache: true,
        }
    }
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
    /// The first static `anonymous` method of [`TransportConfig::auth`] (or the default when
    /// it has none), kept for the parts of the router that only know anonymous sessions.
    pub anonymous: AnonymousAuth,
    /// The `auth` block: every authentication method this transport offers.
    pub auth: AuthConfig,
    /// `max_connections`: connections over this are refused (HTTP 503 before the upgrade,
    /// RawSocket error 4). Crossbar 26.10's default is 50 000.
    pub max_connections: usize,
}

/// What a slow consumer (a connection whose unwritten output passed the limit) gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlowConsumerPolicy {
    /// Close the connection (counted and logged).
    #[default]
    Close,
    /// Drop EVENTs for it while it is over the limit; other messages are still queued, and a
    /// connection twice over the limit is closed.
    DropEvents,
}

/// `workers[].options.limits`: ferrobar's resource limits (not in Crossbar's schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections the node accepts in total.
    pub max_connections: usize,
    /// Unwritten output one connection may hold.
    pub max_output_bytes: usize,
    /// What happens past `max_output_bytes`.
    pub slow_consumer: SlowConsumerPolicy,
    /// A connection whose output makes no progress this long is a slow consumer.
    pub write_stall_timeout_ms: u64,
    /// A WAMP transport must send HELLO this soon after its handshake.
    pub hello_timeout_ms: u64,
    /// Calls one session may have outstanding.
    pub max_pending_calls: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1_000_000,
            max_output_bytes: 16 * 1024 * 1024,
            slow_consumer: SlowConsumerPolicy::Close,
            write_stall_timeout_ms: 10_000,
            hello_timeout_ms: 10_000,
            max_pending_calls: 10_000,
        }
    }
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
    /// `"type": "universal"`: RawSocket, MQTT and HTTP (web paths, WebSocket among them) on
    /// one port, told apart by the first octet the client sends: `0x7F` is a RawSocket
    /// handshake, `0x10` an MQTT CONNECT, anything else is HTTP.
    Universal(UniversalService),
    /// `"type": "mqtt"`: MQTT 3.1.1/5.0 clients bridged into a realm. Parsed and validated;
    /// not served yet: `node::start` refuses a node that has one (see
    /// `node::refuse_unserved_transports`).
    Mqtt(MqttService),
}

/// An MQTT service: the `options` of an `mqtt` transport or of a universal transport's `mqtt`
/// part (Crossbar's `check_listening_transport_mqtt`).
#[derive(Debug, Clone, PartialEq)]
pub struct MqttService {
    /// `options.realm`: the realm MQTT clients join.
    pub realm: String,
    /// `options.role`: the role MQTT sessions get when authentication does not name one
    /// (Crossbar validates it but never reads it; here it is the anonymous role's default).
    pub role: Option<String>,
    /// `options.payload_mapping`: WAMP URI prefix → payload format, in config order. Looked
    /// up by longest string prefix.
    pub payload_mapping: Vec<(String, MqttPayloadFormat)>,
    /// `options.auth`: the same blocks as WAMP transports (anonymous, ticket, tls).
    pub auth: AuthConfig,
}

/// One `payload_mapping` entry's `type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MqttPayloadFormat {
    /// `passthrough`: MQTT payload ↔ WAMP payload-passthru-mode event.
    Passthrough,
    /// `native` with a `serializer`: the payload is `{"args": [...], "kwargs": {...}}`.
    Native(Serializer),
    /// `dynamic`: procedures map payloads (called on `realm`, default the transport's).
    Dynamic {
        /// `realm` the procedures are called on.
        realm: Option<String>,
        /// `encoder`: WAMP → MQTT.
        encoder: Option<String>,
        /// `decoder`: MQTT → WAMP.
        decoder: Option<String>,
    },
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
    /// `mqtt{}`: what a connection starting with `0x10` (MQTT CONNECT) gets. Parsed, not served
    /// yet (`node::start` refuses it).
    pub mqtt: Option<MqttService>,
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
    /// Prometheus metrics (`"type": "metrics"`, ferrobar extension).
    Metrics,
    /// Readiness: 200 when ready, else 503 with the reasons (`"type": "health"`, ferrobar
    /// extension).
    Health,
    /// A nested tree (`"type": "path"`).
    Path(Box<WebService>),
    /// A fixed JSON value (`"type": "json"`).
    Json(String),
    /// An HTTP redirect (`"type": "redirect"`).
    Redirect(String),
    /// An explicit 404 (`"type": "none"`).
    NotFound,
}

impl PathService {
    /// The `type` the config names this service by.
    pub fn type_name(&self) -> &'static str {
        match self {
            PathService::WebSocket(_) => "websocket",
            PathService::Static(_) => "static",
            PathService::NodeInfo => "nodeinfo",
            PathService::Metrics => "metrics",
            PathService::Health => "health",
            PathService::Path(_) => "path",
            PathService::Json(_) => "json",
            PathService::Redirect(_) => "redirect",
            PathService::NotFound => "none",
        }
    }
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
    /// `cookie`: cookie tracking (and with `auth.cookie`, cookie authentication) on this
    /// service; `None`: no cookie is read or set.
    pub cookie: Option<CookieConfig>,
}

impl Default for WebSocketService {
    fn default() -> Self {
        WebSocketService {
            serializers: vec![Serializer::Cbor, Serializer::MsgPack, Serializer::Json],
            options: WebSocketOptions::default(),
            cookie: None,
        }
    }
}

/// Crossbar's default cookie name.
pub const COOKIE_DEFAULT_NAME: &str = "cbtid";
/// Crossbar's default cookie id length.
pub const COOKIE_DEFAULT_LENGTH: usize = 24;
/// Crossbar's default cookie lifetime: one week, in seconds.
pub const COOKIE_DEFAULT_MAX_AGE: u64 = 604_800;
/// The longest cookie lifetime Crossbar's validator accepts: "10 years" of 360 days.
pub const COOKIE_MAX_MAX_AGE: u64 = 86_400 * 360 * 10;

/// The `cookie` block of a WebSocket transport or path (Crossbar's cookie tracking): each
/// upgrade reads the cookie `name`, keeps a known id and hands out a new one otherwise; a
/// session's authentication is remembered on its cookie for `auth.cookie`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieConfig {
    /// The JSON path of the block (`workers[0].transports[0].paths.ws.cookie`): unique in the
    /// node, so it names the block's store in the log and is the key the reactor finds the
    /// store by.
    pub path: String,
    /// `name` (`cbtid`): the cookie's name, `^[a-z][a-z0-9_]+$`.
    pub name: String,
    /// `length` (24): characters of a new cookie id, 6 to 64.
    pub length: usize,
    /// `max_age` in seconds (one week): the cookie's `max-age`, and how long an authentication
    /// is remembered on it.
    pub max_age: u64,
    /// `store`: where remembered authentications live.
    pub store: CookieStoreConfig,
    /// `secure`: the cookie gets `Secure` (browsers then send it over TLS only).
    pub secure: bool,
    /// `http_strict`: the cookie gets `HttpOnly` (page scripts cannot read it).
    pub http_strict: bool,
    /// `same_site`: the cookie gets `SameSite=<value>`.
    pub same_site: Option<SameSite>,
}

/// `cookie.store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieStoreConfig {
    /// `"type": "memory"` (the default): lost on restart.
    Memory,
    /// `"type": "file"`: Crossbar's append-only JSON-lines file.
    File {
        /// `filename`, resolved against the node directory.
        filename: PathBuf,
        /// `purge_on_startup`: rewrite the file at start with only the live cookies.
        purge_on_startup: bool,
    },
}

/// `cookie.same_site`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Strict,
    Lax,
    None,
}

impl SameSite {
    /// The attribute value, as configured and as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
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

/// A transport's `auth` block: the authentication methods it offers. No block, or an empty
/// one, offers anonymous authentication as role `anonymous` (Crossbar's rule). The order is the
/// config map's (sorted by method name, as the config is read); it has no effect: the client's
/// `authmethods` order picks the method, as in Crossbar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// The methods, at most one per kind.
    pub methods: Vec<AuthMethodConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            methods: vec![AuthMethodConfig::Anonymous(Authenticator::Static(
                AnonymousAuth::default(),
            ))],
        }
    }
}

impl AuthConfig {
    /// The method configured under `name` (`anonymous`, `ticket`, `wampcra`, `cryptosign`,
    /// `tls`, `cookie`).
    pub fn method(&self, name: &str) -> Option<&AuthMethodConfig> {
        self.methods.iter().find(|m| m.name() == name)
    }

    /// The static anonymous settings, if anonymous authentication is static; else the default
    /// (what [`TransportConfig::anonymous`] holds).
    pub fn static_anonymous(&self) -> AnonymousAuth {
        self.methods
            .iter()
            .find_map(|m| match m {
                AuthMethodConfig::Anonymous(Authenticator::Static(a)) => Some(a.clone()),
                _ => None,
            })
            .unwrap_or_default()
    }
}

/// One entry of a transport's `auth` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethodConfig {
    /// `anonymous`: static (role, fixed authid) or dynamic (the authenticator is called with a
    /// random authid and may assign role, authid, realm and extra).
    Anonymous(Authenticator<AnonymousAuth>),
    /// `ticket`: a shared secret sent in AUTHENTICATE (use only over TLS).
    Ticket(Authenticator<TicketPrincipals>),
    /// `wampcra`: HMAC-SHA256 challenge-response, optionally with PBKDF2-salted secrets.
    WampCra(Authenticator<WampCraUsers>),
    /// `cryptosign`: Ed25519 challenge-response.
    Cryptosign(Authenticator<CryptosignPrincipals>),
    /// `tls`: the verified TLS client certificate's SHA-1 fingerprint picks the principal.
    Tls(Authenticator<TlsPrincipals>),
    /// `cookie`: a connection whose tracking cookie was authenticated before (by another
    /// method) joins again as that identity. Needs the service's `cookie` block; Crossbar
    /// takes any value for the method's own settings and so does ferrobar (none is used).
    Cookie,
}

impl AuthMethodConfig {
    /// The `authmethod` name (the `auth` map key, and what WELCOME carries).
    pub fn name(&self) -> &'static str {
        match self {
            AuthMethodConfig::Anonymous(_) => "anonymous",
            AuthMethodConfig::Ticket(_) => "ticket",
            AuthMethodConfig::WampCra(_) => "wampcra",
            AuthMethodConfig::Cryptosign(_) => "cryptosign",
            AuthMethodConfig::Tls(_) => "tls",
            AuthMethodConfig::Cookie => "cookie",
        }
    }
}

/// Where a method's principals come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authenticator<T> {
    /// `"type": "static"`: principals in the config.
    Static(T),
    /// `"type": "dynamic"`: the router calls the WAMP procedure `procedure` with
    /// `(realm, authid, details)`.
    Dynamic {
        /// `authenticator`: the procedure URI.
        procedure: String,
        /// `authenticator-realm`: the realm the procedure is called on (`None`: the realm the
        /// client asked for).
        realm: Option<String>,
        /// `authenticator-role`: the role the router's calling session has there (`None`: the
        /// router's own trusted session).
        role: Option<String>,
        /// `default-role`: the role given when the authenticator's answer names none.
        default_role: Option<String>,
    },
}

/// `auth.ticket.principals`: authid → principal, in config order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketPrincipals(pub Vec<(String, TicketPrincipal)>);

/// One ticket principal.
#[derive(Clone, PartialEq, Eq)]
pub struct TicketPrincipal {
    /// The ticket (already read from `${ENV}` when given so).
    pub ticket: String,
    /// The role it authenticates as.
    pub role: String,
    /// `realm`: the only realm this principal may join (`None`: any).
    pub realm: Option<String>,
}

impl std::fmt::Debug for TicketPrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketPrincipal")
            .field("ticket", &"<redacted>")
            .field("role", &self.role)
            .field("realm", &self.realm)
            .finish()
    }
}

/// `auth.wampcra.users`: authid → user, in config order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WampCraUsers(pub Vec<(String, WampCraUser)>);

/// One WAMP-CRA user.
#[derive(Clone, PartialEq, Eq)]
pub struct WampCraUser {
    /// The secret (the password when `salt` is set: router and client both derive the key
    /// from it, Crossbar 26.10's semantics). Already read from `${ENV}` when given so.
    pub secret: String,
    /// The role it authenticates as.
    pub role: String,
    /// `salt`: PBKDF2 salt; set, the key is `PBKDF2-HMAC-SHA256(secret, salt, iterations,
    /// keylen)` and CHALLENGE.extra carries `salt`, `iterations` and `keylen`.
    pub salt: Option<String>,
    /// `iterations` (default 1000 when `salt` is set).
    pub iterations: Option<u32>,
    /// `keylen` in bytes (default 32 when `salt` is set).
    pub keylen: Option<u32>,
    /// `realm`: the only realm this user may join (`None`: any).
    pub realm: Option<String>,
    /// The HMAC-SHA256 key both sides sign the challenge with: `secret` itself, or when `salt`
    /// is set the Base64 of `PBKDF2-HMAC-SHA256(secret, salt, iterations, keylen)` (Autobahn's
    /// `derive_key`). Derived once when the config is loaded (`auth::wampcra::hmac_key`), so a
    /// HELLO costs one HMAC, not a key derivation.
    pub hmac_key: String,
}

impl std::fmt::Debug for WampCraUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WampCraUser")
            .field("secret", &"<redacted>")
            .field("role", &self.role)
            .field("salt", &self.salt)
            .field("iterations", &self.iterations)
            .field("keylen", &self.keylen)
            .field("realm", &self.realm)
            .field("hmac_key", &"<redacted>")
            .finish()
    }
}

/// `auth.cryptosign.principals`: authid → principal, in config order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CryptosignPrincipals(pub Vec<(String, CryptosignPrincipal)>);

/// One cryptosign principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptosignPrincipal {
    /// `authorized_keys`: Ed25519 public keys (decoded from hex).
    pub authorized_keys: Vec<[u8; 32]>,
    /// The role it authenticates as.
    pub role: String,
    /// `realm`: the only realm this principal may join (`None`: any).
    pub realm: Option<String>,
}

/// `auth.tls.principals`: authid → principal, in config order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsPrincipals(pub Vec<(String, TlsPrincipal)>);

/// One TLS client-certificate principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPrincipal {
    /// `certificate-sha1`: the certificate's SHA-1 fingerprint, normalised to lower-case hex
    /// without colons (40 characters).
    pub certificate_sha1: String,
    /// The role it authenticates as.
    pub role: String,
    /// `realm`: the only realm this principal may join (`None`: any).
    pub realm: Option<String>,
}
