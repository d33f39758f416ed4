//! The HTTP side of the web transport, as a pure function over the bytes read so far.
//!
//! The per-core reactor owns the socket. It calls [`handle_request`] with everything read on
//! a fresh connection and acts on the [`HttpOutcome`]: read more, write a response and close,
//! or write the `101 Switching Protocols` and hand the connection to WebSocket framing. No
//! socket, timer or thread is touched here, so every branch is tested with plain byte strings.
//!
//! Routing follows Crossbar's web transport (`paths{}`): the first path segment selects a
//! service, a `path` service nests, everything else goes to the `/` service. A `websocket`
//! transport is a WebSocket endpoint on every path. Every response except the 101 carries
//! `Connection: close`: one request per connection keeps the reactor's HTTP state trivial, and
//! WAMP clients only ever send one (the upgrade).

use std::time::SystemTime;

use tungstenite::handshake::derive_accept_key;

use crate::codec::Serializer;
use crate::config::model::{
    PathService, TransportKind, WebService, WebSocketOptions, WebSocketService,
};
use crate::transport::{nodeinfo, static_files};

/// Largest request head accepted; a longer one gets `431`. Upgrades are a few hundred bytes;
/// browsers with many cookies stay well under this.
pub const MAX_HEAD: usize = 16 * 1024;

/// Most request headers accepted; more gets `431`.
pub const MAX_HEADERS: usize = 64;

/// The `Server:` header value (no version: `show_server_version` is Crossbar's opt-in).
pub const SERVER: &str = "ferrobar";

/// What the node info page and the WebSocket status page show. Built once by the node and
/// shared (`Arc`) by every shard; it changes only on restart.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The node's live state for the `metrics` and `health` services (`None` in tests of the
    /// pages that do not need it).
    pub live: Option<std::sync::Arc<dyn LivePages>>,
    /// ferrobar's version (`env!("CARGO_PKG_VERSION")`).
    pub version: &'static str,
    /// The node id (`controller.id`, else `<hostname>-<pid>` as Crossbar does).
    pub node_id: String,
    /// When the node started.
    pub started: SystemTime,
    /// The process id.
    pub pid: u32,
    /// Number of shards (reactor threads).
    pub shards: usize,
    /// Router worker ids.
    pub workers: Vec<String>,
    /// Realm names.
    pub realms: Vec<String>,
    /// Transport descriptions (e.g. `transport001 web tcp/8080`).
    pub transports: Vec<String>,
}

/// What the node renders from its live state: the metrics and health services here and on
/// `ferrobar start --metrics`.
pub trait LivePages: Send + Sync + std::fmt::Debug {
    /// The Prometheus text exposition of every metric.
    fn metrics(&self) -> String;
    /// Whether the node is ready (listeners up, every shard turning, not shutting down), with
    /// a short JSON body saying why.
    fn health(&self) -> (bool, String);
    /// Whether every shard still turns (liveness).
    fn live(&self) -> bool;
    /// The live figures the node info page shows.
    fn summary(&self) -> LiveSummary;
}

/// What the node info page shows live (summed over the shards, as of their last report).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveSummary {
    /// Per realm: name, sessions, subscriptions, registrations.
    pub realms: Vec<(String, u64, u64, u64)>,
    /// Open connections.
    pub connections: u64,
    /// PUBLISHes accepted.
    pub publications: u64,
    /// EVENTs delivered.
    pub deliveries: u64,
    /// Calls answered.
    pub calls: u64,
    /// EVENTs not delivered.
    pub events_dropped: u64,
    /// Sessions closed as slow consumers.
    pub slow_consumers: u64,
}

/// The Prometheus text format's content type.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Everything [`handle_request`] needs besides the bytes.
#[derive(Debug, Clone, Copy)]
pub struct HttpContext<'a> {
    /// The listening transport the connection arrived on.
    pub transport: &'a TransportKind,
    /// Node facts for the info and status pages.
    pub node: &'a NodeInfo,
    /// The peer address as text (`127.0.0.1:50312`), shown on the node info page.
    pub peer: &'a str,
}

/// What the reactor does next with the connection.
#[derive(Debug)]
pub enum HttpOutcome {
    /// Not a complete request head yet; call again with more bytes.
    Incomplete,
    /// Upgrade accepted: write `response` (the 101), then speak WebSocket. `consumed` bytes of
    /// the input belong to the HTTP head; any rest is already WebSocket data.
    Upgrade {
        /// The negotiated serializer.
        serializer: Serializer,
        /// The complete `101 Switching Protocols` response.
        response: Vec<u8>,
        /// Length of the request head within the input.
        consumed: usize,
        /// The WebSocket options of the endpoint that accepted the upgrade.
        options: WebSocketOptions,
        /// The endpoint tracks cookies: the reactor gives the connection its cookie (and adds
        /// `Set-Cookie` to `response` with [`add_header`] when the cookie is new).
        cookie: Option<CookieRequest>,
    },
    /// Write `response` (complete HTTP/1.1 response, head + body), then close the connection.
    Respond {
        /// The complete response.
        response: Vec<u8>,
    },
}

/// What an upgrade on a WebSocket endpoint with a `cookie` block hands the reactor, which owns
/// the cookie stores (this module only parses and answers HTTP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieRequest {
    /// The endpoint's `cookie` block's JSON path ([`crate::config::CookieConfig::path`]): the
    /// key of its store.
    pub store: String,
    /// The request's `Cookie` header values, in order (a value that is not UTF-8 is left
    /// out: no cookie id is).
    pub headers: Vec<String>,
}

/// Adds a header to a complete response head (one ending in the empty line), before that
/// line; the value is made header-safe. False (nothing added) if `response` is not a complete
/// head.
pub fn add_header(response: &mut Vec<u8>, name: &str, value: &str) -> bool {
    if !response.ends_with(b"\r\n\r\n") {
        return false;
    }
    response.truncate(response.len() - 2);
    push_header(response, name, &header_safe(value));
    response.extend_from_slice(b"\r\n");
    true
}

/// Decides what to do with the bytes read so far on a new connection. Never panics.
///
/// Call it again with the whole buffer (not just the new bytes) after each read until it
/// returns something other than [`HttpOutcome::Incomplete`]. Once the buffer holds more than
/// [`MAX_HEAD`] bytes without a complete head the answer is a `431`, so the reactor never
/// needs to buffer more than `MAX_HEAD + 1` bytes.
pub fn handle_request(buf: &[u8], ctx: &HttpContext<'_>) -> HttpOutcome {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let consumed = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => return HttpOutcome::Incomplete,
        Ok(_) => return respond(Response::text(431, "Request head too large."), false),
        Err(httparse::Error::TooManyHeaders) => {
            return respond(Response::text(431, "Too many request headers."), false)
        }
        Err(e) => return respond(Response::text(400, &format!("Bad request: {e}.")), false),
    };
    let head = match parsed.method.unwrap_or("") {
        "GET" => false,
        "HEAD" => true,
        _ => {
            let resp = Response::text(405, "Only GET and HEAD are supported.")
                .header("Allow", "GET, HEAD");
            return respond(resp, false);
        }
    };
    let Some((path, query)) = split_target(parsed.path.unwrap_or("")) else {
        return respond(Response::text(400, "Bad request target."), head);
    };
    let req = Request {
        head,
        path,
        query,
        headers: parsed.headers,
    };
    match ctx.transport {
        TransportKind::WebSocket(ws) => websocket(ws, &req, consumed, ctx.node),
        TransportKind::Web(web) => match route(web, path) {
            Some((service, rest)) => serve(service, rest, &req, consumed, ctx),
            None => respond(Response::text(404, "Not found."), head),
        },
        TransportKind::Universal(universal) => match route(&universal.web, path) {
            Some((service, rest)) => serve(service, rest, &req, consumed, ctx),
            None => respond(Response::text(404, "Not found."), head),
        },
        // The reactor never hands a RawSocket (or MQTT) transport's bytes to HTTP; answer
        // sanely anyway.
        TransportKind::Mqtt(_) => respond(
            Response::text(400, "This port speaks MQTT, not HTTP."),
            head,
        ),
        TransportKind::RawSocket(_) => respond(
            Response::text(400, "This port speaks WAMP RawSocket, not HTTP."),
            head,
        ),
    }
}

/// The parts of a parsed request the services look at.
struct Request<'b> {
    head: bool,
    /// The path without query or fragment, as sent (still percent-encoded).
    path: &'b str,
    query: Option<&'b str>,
    headers: &'b [httparse::Header<'b>],
}

impl Request<'_> {
    /// All values of the header `name` (case-insensitive), in request order.
    fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s [u8]> + 's {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// The first value of the header `name`, trimmed.
    fn header<'s>(&'s self, name: &'s str) -> Option<&'s [u8]> {
        self.header_values(name).next().map(|v| v.trim_ascii())
    }

    /// True when a comma-separated header `name` lists `token` (case-insensitive).
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.header_values(name)
            .flat_map(|v| v.split(|&b| b == b','))
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    }
}

/// `?format=json` (the node info page's JSON twin).
fn wants_json(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|p| p == "format=json"))
}

/// Splits a request target into path and query, dropping any fragment. Accepts origin-form
/// (`/a?b`) and absolute-form (`http://host/a`); anything else (`*`, authority-form) is `None`.
fn split_target(target: &str) -> Option<(&str, Option<&str>)> {
    let target = target.split('#').next().unwrap_or("");
    let target = match target.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") =>
        {
            rest.find('/').map_or("/", |i| &rest[i..])
        }
        _ => target,
    };
    if !target.starts_with('/') {
        return None;
    }
    Some(match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    })
}

/// Finds the service for `path` in a web service tree. Returns the service and the part of the
/// path below it (`""` or starting with `/`). A `path` service recurses with the rest; a first
/// segment that names no service falls to the tree's `/` service.
fn route<'s, 'p>(web: &'s WebService, path: &'p str) -> Option<(&'s PathService, &'p str)> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let (segment, below) = trimmed
        .find('/')
        .map_or((trimmed, ""), |i| trimmed.split_at(i));
    if !segment.is_empty() {
        if let Some((_, service)) = web.paths.iter().find(|(key, _)| key == segment) {
            return match service {
                PathService::Path(nested) => route(nested, below),
                other => Some((other, below)),
            };
        }
    }
    match web.root.as_ref()? {
        PathService::Path(nested) => route(nested, path),
        other => Some((other, path)),
    }
}

/// Runs one (non-`path`) service.
fn serve(
    service: &PathService,
    rest: &str,
    req: &Request<'_>,
    consumed: usize,
    ctx: &HttpContext<'_>,
) -> HttpOutcome {
    let resp = match service {
        PathService::WebSocket(ws) => return websocket(ws, req, consumed, ctx.node),
        PathService::Static(svc) => static_files::serve(
            svc,
            &static_files::StaticRequest {
                full_path: req.path,
                rest,
                query: req.query,
                head: req.head,
            },
        ),
        PathService::NodeInfo if wants_json(req.query) => Response::new(200)
            .body(
                "application/json",
                nodeinfo::render_json(ctx.node, SystemTime::now()).into_bytes(),
            )
            .header("Cache-Control", "no-store"),
        PathService::NodeInfo => {
            Response::html(200, nodeinfo::render(ctx.node, ctx.peer, SystemTime::now()))
                .header("Cache-Control", "no-store")
        }
        PathService::Json(value) => {
            Response::new(200).body("application/json", value.as_bytes().to_vec())
        }
        PathService::Metrics => match &ctx.node.live {
            Some(live) => Response::new(200)
                .body(METRICS_CONTENT_TYPE, live.metrics().into_bytes())
                .header("Cache-Control", "no-store"),
            None => Response::text(404, "Not found."),
        },
        PathService::Health => match &ctx.node.live {
            Some(live) => {
                let (ready, body) = live.health();
                Response::new(if ready { 200 } else { 503 })
                    .body("application/json", body.into_bytes())
                    .header("Cache-Control", "no-store")
            }
            None => Response::text(404, "Not found."),
        },
        PathService::Redirect(url) => {
            Response::text(302, "Found.").header("Location", header_safe(url))
        }
        PathService::NotFound | PathService::Path(_) => Response::text(404, "Not found."),
    };
    respond(resp, req.head)
}

/// The WebSocket endpoint: the upgrade handshake (RFC 6455 §4.2) with WAMP subprotocol
/// negotiation, or the status page for a plain GET.
/// Crossbar's `allowed_origins` check: each pattern matches `scheme://host[:port]` of the
/// `Origin` header, `*` standing for any run of characters; `null` (sandboxed pages, files) is
/// governed by `allow_null_origin`. A request without `Origin` (not from a browser) passes.
fn origin_allowed(options: &WebSocketOptions, origin: &[u8]) -> bool {
    let Ok(origin) = std::str::from_utf8(origin) else {
        return false;
    };
    let origin = origin.trim();
    if origin == "null" {
        return options.allow_null_origin;
    }
    options
        .allowed_origins
        .iter()
        .any(|pattern| glob_matches(pattern.as_bytes(), origin.as_bytes()))
}

/// `*`-glob matching, case-insensitive (origins are case-insensitive in scheme and host).
fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            backtrack = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p].eq_ignore_ascii_case(&text[t]) {
            p += 1;
            t += 1;
        } else if let Some((bp, bt)) = backtrack {
            p = bp + 1;
            t = bt + 1;
            backtrack = Some((bp, bt + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

fn websocket(
    svc: &WebSocketService,
    req: &Request<'_>,
    consumed: usize,
    node: &NodeInfo,
) -> HttpOutcome {
    let head = req.head;
    // An upgrade must be a GET; a HEAD only ever sees the status page headers.
    if head || !req.has_token("Upgrade", "websocket") {
        let resp = if svc.options.enable_webstatus {
            Response::html(200, nodeinfo::status_page(svc, node))
                .header("Cache-Control", "no-store")
        } else {
            upgrade_required("This is a WebSocket endpoint: upgrade to WebSocket.")
        };
        return respond(resp, head);
    }
    if !req.has_token("Connection", "upgrade") {
        let msg = "WebSocket upgrade needs `Connection: Upgrade`.";
        return respond(Response::text(400, msg), head);
    }
    if req.header("Sec-WebSocket-Version") != Some(b"13") {
        let msg = "Only WebSocket version 13 (RFC 6455) is supported.";
        return respond(upgrade_required(msg), head);
    }
    if let Some(origin) = req.header("Origin") {
        if !origin_allowed(&svc.options, origin) {
            let msg = "The Origin of this request is not in the endpoint's allowed_origins.";
            return respond(Response::text(403, msg), head);
        }
    }
    let key = match req.header("Sec-WebSocket-Key") {
        Some(key) if valid_key(key) => key,
        _ => {
            let msg = "Missing or malformed Sec-WebSocket-Key.";
            return respond(Response::text(400, msg), head);
        }
    };
    let offered: Vec<&str> = req
        .header_values("Sec-WebSocket-Protocol")
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let serializer = if offered.is_empty() {
        // Crossbar treats a missing subprotocol as wamp.2.json unless the option forbids it.
        let json_ok = svc.serializers.contains(&Serializer::Json);
        if svc.options.require_websocket_subprotocol || !json_ok {
            let msg = format!(
                "A wamp.2.* WebSocket subprotocol is required; this endpoint speaks {}.",
                supported(svc)
            );
            return respond(Response::text(400, &msg), head);
        }
        Serializer::Json
    } else {
        // The client lists its preference first; take the first one we also offer.
        let chosen = offered
            .iter()
            .find_map(|p| Serializer::from_subprotocol(p).filter(|s| svc.serializers.contains(s)));
        match chosen {
            Some(s) => s,
            None => {
                let msg = format!(
                    "None of the offered WebSocket subprotocols is supported; this endpoint \
                     speaks {}.",
                    supported(svc)
                );
                return respond(Response::text(400, &msg), head);
            }
        }
    };
    let mut response = Vec::with_capacity(256);
    response.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    );
    push_header(
        &mut response,
        "Sec-WebSocket-Accept",
        &derive_accept_key(key),
    );
    // RFC 6455: never name a subprotocol the client did not offer (browsers fail on it).
    if !offered.is_empty() {
        push_header(
            &mut response,
            "Sec-WebSocket-Protocol",
            serializer.subprotocol(),
        );
    }
    push_header(&mut response, "Server", SERVER);
    response.extend_from_slice(b"\r\n");
    let cookie = svc.cookie.as_ref().map(|c| CookieRequest {
        store: c.path.clone(),
        headers: req
            .header_values("Cookie")
            .filter_map(|v| std::str::from_utf8(v).ok())
            .map(str::to_owned)
            .collect(),
    });
    HttpOutcome::Upgrade {
        serializer,
        response,
        consumed,
        options: svc.options.clone(),
        cookie,
    }
}

/// A `Sec-WebSocket-Key` must be the base64 of 16 bytes: 22 base64 characters and `==`.
fn valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// `wamp.2.json, wamp.2.msgpack` for the configured serializers.
fn supported(svc: &WebSocketService) -> String {
    let names: Vec<&str> = svc.serializers.iter().map(|s| s.subprotocol()).collect();
    if names.is_empty() {
        "no subprotocol at all (no serializers configured)".into()
    } else {
        names.join(", ")
    }
}

/// `426 Upgrade Required` naming the WebSocket version we speak.
fn upgrade_required(msg: &str) -> Response {
    Response::text(426, msg)
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
}

/// Makes a configured value safe for a header line: CR, LF and other controls are dropped so a
/// value can never end the header early.
fn header_safe(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn respond(resp: Response, head: bool) -> HttpOutcome {
    HttpOutcome::Respond {
        response: resp.encode(head),
    }
}

/// A non-101 response under construction. [`Response::encode`] adds `Content-Length`,
/// `Connection: close` and `Server`.
#[derive(Debug, Clone)]
pub struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// `Content-Length` when it differs from `body.len()` (a HEAD answered without reading).
    length: Option<u64>,
}

impl Response {
    /// A response with no headers and an empty body.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            length: None,
        }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Sets the body and its `Content-Type`.
    pub fn body(self, content_type: &str, body: Vec<u8>) -> Self {
        let mut resp = self.header("Content-Type", content_type);
        resp.body = body;
        resp.length = None;
        resp
    }

    /// Declares a body of `length` bytes without holding it: only valid for HEAD responses.
    pub fn head_only(self, content_type: &str, length: u64) -> Self {
        let mut resp = self.header("Content-Type", content_type);
        resp.body = Vec::new();
        resp.length = Some(length);
        resp
    }

    /// A short plain-text response.
    pub fn text(status: u16, msg: &str) -> Self {
        let mut body = msg.as_bytes().to_vec();
        body.push(b'\n');
        Response::new(status).body("text/plain; charset=utf-8", body)
    }

    /// An HTML page.
    pub fn html(status: u16, html: String) -> Self {
        Response::new(status).body("text/html; charset=utf-8", html.into_bytes())
    }

    /// The complete response bytes; for `head` the body is left out but its length is kept.
    pub fn encode(self, head: bool) -> Vec<u8> {
        let length = self.length.unwrap_or(self.body.len() as u64);
        let mut out = Vec::with_capacity(160 + self.body.len());
        let status_line = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        out.extend_from_slice(status_line.as_bytes());
        for (name, value) in &self.headers {
            push_header(&mut out, name, value);
        }
        push_header(&mut out, "Content-Length", &length.to_string());
        push_header(&mut out, "Connection", "close");
        push_header(&mut out, "Server", SERVER);
        out.extend_from_slice(b"\r\n");
        if !head {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// Reason phrases for the statuses ferrobar sends.
fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        _ => "Unknown",
    }
}

#[cfg(test)]
#[path = "http_tests.rs"]
pub(crate) mod tests;
