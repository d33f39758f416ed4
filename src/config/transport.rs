//! Listening transports (`workers[].transports[]`), their endpoints, WebSocket and RawSocket
//! settings and `auth` blocks.

use std::net::IpAddr;

use serde_json::{Map, Value};

pub(crate) use super::auth::walk_auth;
use super::model::*;
use super::walk::{child, env_name, item, resolve, Walker};
use super::{mqtt, tls, universal, web};

/// Crossbar's (Twisted's) default listen backlog.
pub const DEFAULT_BACKLOG: u32 = 50;

/// The largest `max_message_size` / `max_frame_size` Crossbar's validator accepts (64 MiB).
pub const MAX_MESSAGE_LIMIT: u64 = 64 * 1024 * 1024;

/// The RawSocket `max_message_size` range, set by the protocol (`2^9` to `2^24` octets).
pub const RAWSOCKET_MESSAGE_MIN: u64 = 512;
/// See [`RAWSOCKET_MESSAGE_MIN`].
pub const RAWSOCKET_MESSAGE_MAX: u64 = 16 * 1024 * 1024;

const RAWSOCKET_KEYS: &[&str] = &[
    "id",
    "type",
    "endpoint",
    "serializers",
    "debug",
    "options",
    "auth",
    "max_connections",
];

const TRANSPORT_TYPES: &str = r#""websocket", "web", "rawsocket", "universal" or "mqtt""#;

const WEBSOCKET_KEYS: &[&str] = &[
    "id",
    "type",
    "endpoint",
    "url",
    "serializers",
    "debug",
    "options",
    "auth",
    "cookie",
    "max_connections",
];

/// One transport. `generated` counts ids generated so far in this worker.
pub(crate) fn walk_transport(
    w: &mut Walker,
    v: &Value,
    path: &str,
    generated: &mut usize,
) -> Option<TransportConfig> {
    let map = w.object(v, path)?;
    let tpath = child(path, "type");
    let kind = match map.get("type") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            w.expected(&tpath, "a transport type", other);
            return None;
        }
        None => {
            w.error(&tpath, format!("missing (expected {TRANSPORT_TYPES})"));
            return None;
        }
    };
    let id = w.item_id(map, path, "transport", generated);
    match kind {
        "websocket" | "web" | "rawsocket" | "universal" | "mqtt" => {}
        "flashpolicy" | "websocket.testee" | "stream.testee" => {
            w.unsupported(&tpath, format!("transport type '{kind}'"));
            return None;
        }
        other => {
            let msg = format!("unknown transport type '{other}' (expected {TRANSPORT_TYPES})");
            w.error(&tpath, msg);
            return None;
        }
    }
    let endpoint = match map.get("endpoint") {
        Some(e) => walk_endpoint(w, e, &child(path, "endpoint")),
        None => {
            w.error(
                &child(path, "endpoint"),
                "missing (a listening endpoint is required)",
            );
            None
        }
    };
    let max_connections = max_connections(w, map, path);
    // `auth.tls` needs the endpoint to verify client certificates: read from the raw config,
    // so a TLS block with other mistakes does not add a second error here.
    let verifies_clients = map
        .get("endpoint")
        .and_then(|e| e.get("tls"))
        .and_then(|t| t.get("ca_certificates"))
        .and_then(Value::as_array)
        .is_some_and(|l| !l.is_empty());
    w.transport_endpoint = Some((child(path, "endpoint"), verifies_clients));
    let walked = if kind == "mqtt" {
        mqtt::walk_mqtt_transport(w, map, path)
    } else if kind == "web" {
        web::walk_web_transport(w, map, path)
    } else if kind == "universal" {
        universal::walk_universal(w, map, path)
    } else if kind == "rawsocket" {
        w.keys(map, path, RAWSOCKET_KEYS);
        let rs = walk_rawsocket(w, map, path);
        let auth = match map.get("auth") {
            Some(a) => walk_auth(w, a, &child(path, "auth")),
            None => AuthConfig::default(),
        };
        warn_cookie_auth_on_rawsocket(w, &auth, path);
        Some((TransportKind::RawSocket(rs), auth))
    } else {
        w.keys(map, path, WEBSOCKET_KEYS);
        let mut ws = walk_websocket(w, map, path);
        let (auth, cookie) = walk_auth_and_cookie(w, map, path);
        ws.cookie = cookie;
        Some((TransportKind::WebSocket(ws), auth))
    };
    w.transport_endpoint = None;
    let (kind, auth) = walked?;
    Some(TransportConfig {
        id,
        endpoint: endpoint?,
        kind,
        anonymous: auth.static_anonymous(),
        auth,
        max_connections,
    })
}

/// `max_connections` (Crossbar 26.10, default 50 000).
fn max_connections(w: &mut Walker, map: &Map<String, Value>, path: &str) -> usize {
    w.opt_int(map, path, "max_connections", 1, u32::MAX as u64)
        .map_or(50_000, |n| n as usize)
}

/// `auth` and `cookie` of a WebSocket transport or path.
pub(crate) fn walk_auth_and_cookie(
    w: &mut Walker,
    map: &Map<String, Value>,
    path: &str,
) -> (AuthConfig, Option<CookieConfig>) {
    let cookie = map
        .get("cookie")
        .and_then(|c| walk_cookie(w, c, &child(path, "cookie")));
    let auth = match map.get("auth") {
        Some(a) => walk_auth(w, a, &child(path, "auth")),
        None => AuthConfig::default(),
    };
    // Checked on the raw block: a `cookie` block with mistakes is already an error, and a
    // second line about it would only repeat that.
    if auth.method("cookie").is_some() && !map.contains_key("cookie") {
        w.warn(
            &child(&child(path, "auth"), "cookie"),
            "cookie authentication never succeeds here: this WebSocket service has no `cookie` \
             block (cookie tracking), so its connections carry no cookie",
        );
    }
    (auth, cookie)
}

/// `auth.cookie` on a RawSocket transport: accepted, as Crossbar does, but it can never match
/// there. (Not called for a universal transport's RawSocket part: that part must repeat its
/// WebSocket paths' `auth`, cookie included.)
pub(crate) fn warn_cookie_auth_on_rawsocket(w: &mut Walker, auth: &AuthConfig, path: &str) {
    if auth.method("cookie").is_some() {
        w.warn(
            &child(&child(path, "auth"), "cookie"),
            "cookie authentication never succeeds on RawSocket: its connections carry no cookie",
        );
    }
}

const COOKIE_KEYS: &[&str] = &[
    "name",
    "length",
    "max_age",
    "store",
    "secure",
    "http_strict",
    "same_site",
];

/// A `cookie` block (Crossbar's `check_transport_cookie`). Every bad key is one error; the
/// block is kept only when all of it is valid.
fn walk_cookie(w: &mut Walker, v: &Value, path: &str) -> Option<CookieConfig> {
    let map = w.object(v, path)?;
    let errors_before = w.errors.len();
    w.keys(map, path, COOKIE_KEYS);
    let name = match w.opt_str(map, path, "name") {
        Some(n) if is_cookie_name(n) => n.to_owned(),
        Some(n) => {
            w.error(
                &child(path, "name"),
                format!("invalid cookie name {n:?} (expected ^[a-z][a-z0-9_]+$)"),
            );
            String::new()
        }
        None => COOKIE_DEFAULT_NAME.to_owned(),
    };
    let length = w
        .opt_int(map, path, "length", 6, 64)
        .map_or(COOKIE_DEFAULT_LENGTH, |n| n as usize);
    let max_age = w
        .opt_int(map, path, "max_age", 1, COOKIE_MAX_MAX_AGE)
        .unwrap_or(COOKIE_DEFAULT_MAX_AGE);
    let store = match map.get("store") {
        Some(s) => walk_cookie_store(w, s, &child(path, "store")),
        None => Some(CookieStoreConfig::Memory),
    };
    let secure = w.opt_bool(map, path, "secure").unwrap_or(false);
    let http_strict = w.opt_bool(map, path, "http_strict").unwrap_or(false);
    let same_site = match map.get("same_site") {
        None => None,
        Some(Value::String(s)) if s == "Strict" => Some(SameSite::Strict),
        Some(Value::String(s)) if s == "Lax" => Some(SameSite::Lax),
        Some(Value::String(s)) if s == "None" => Some(SameSite::None),
        Some(other) => {
            w.expected(
                &child(path, "same_site"),
                "\"Strict\", \"Lax\" or \"None\"",
                other,
            );
            None
        }
    };
    if w.errors.len() != errors_before {
        return None;
    }
    Some(CookieConfig {
        path: path.to_owned(),
        name,
        length,
        max_age,
        store: store?,
        secure,
        http_strict,
        same_site,
    })
}

/// Crossbar's `_COOKIE_NAME_PAT`: `^[a-z][a-z0-9_]+$`.
fn is_cookie_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// `cookie.store`: `memory`, or `file` with `filename` (relative to the node directory) and
/// `purge_on_startup`; `database` (Crossbar's LMDB store) is refused by name.
fn walk_cookie_store(w: &mut Walker, v: &Value, path: &str) -> Option<CookieStoreConfig> {
    let map = w.object(v, path)?;
    let tpath = child(path, "type");
    match map.get("type") {
        Some(Value::String(t)) if t == "memory" => {
            w.keys(map, path, &["type"]);
            Some(CookieStoreConfig::Memory)
        }
        Some(Value::String(t)) if t == "file" => {
            w.keys(map, path, &["type", "filename", "purge_on_startup"]);
            let purge_on_startup = w.opt_bool(map, path, "purge_on_startup").unwrap_or(false);
            let filename = w.req_str(map, path, "filename")?;
            if filename.is_empty() {
                w.error(&child(path, "filename"), "expected a non-empty file name");
                return None;
            }
            Some(CookieStoreConfig::File {
                filename: resolve(&w.cbdir, filename),
                purge_on_startup,
            })
        }
        Some(Value::String(t)) if t == "database" => {
            w.unsupported(
                &tpath,
                "the database cookie store ('database', Crossbar's LMDB store; use 'file')",
            );
            None
        }
        Some(other) => {
            w.expected(&tpath, "\"memory\" or \"file\"", other);
            None
        }
        None => {
            w.error(&tpath, "missing (expected \"memory\" or \"file\")");
            None
        }
    }
}

const TCP_KEYS: &[&str] = &[
    "type",
    "version",
    "port",
    "portrange",
    "shared",
    "interface",
    "backlog",
    "tls",
    "user_timeout",
];

/// A listening endpoint.
pub(crate) fn walk_endpoint(w: &mut Walker, v: &Value, path: &str) -> Option<Endpoint> {
    let map = w.object(v, path)?;
    let tpath = child(path, "type");
    match map.get("type").and_then(Value::as_str) {
        Some("tcp") => walk_tcp(w, map, path),
        Some("unix") => {
            w.keys(map, path, &["type", "path", "backlog"]);
            let backlog = w
                .opt_int(map, path, "backlog", 1, 65535)
                .unwrap_or(DEFAULT_BACKLOG as u64);
            let raw = w.req_str(map, path, "path")?;
            match w.expand_vars(raw) {
                Ok(p) => Some(Endpoint::Unix {
                    path: resolve(&w.cbdir, &p),
                    backlog: backlog as u32,
                }),
                Err(e) => {
                    w.error(&child(path, "path"), e);
                    None
                }
            }
        }
        Some(t @ ("twisted" | "onion")) => {
            w.unsupported(&tpath, format!("endpoint type '{t}'"));
            None
        }
        _ => {
            let found = map.get("type").cloned().unwrap_or(Value::Null);
            w.expected(&tpath, "\"tcp\" or \"unix\"", &found);
            None
        }
    }
}

fn walk_tcp(w: &mut Walker, map: &Map<String, Value>, path: &str) -> Option<Endpoint> {
    w.keys(map, path, TCP_KEYS);
    // `Some(None)`: a `tls` block with problems (already recorded).
    let tls = map
        .get("tls")
        .map(|t| tls::walk_tls(w, t, &child(path, "tls")));
    if map.contains_key("portrange") {
        w.unsupported(
            &child(path, "portrange"),
            "listening on the first free port of a range ('portrange')",
        );
    }
    if w.opt_bool(map, path, "shared").is_some() {
        // Every ferrobar listener is SO_REUSEPORT-shared between its own shards already.
        w.no_effect(path, "shared");
    }
    if map.contains_key("user_timeout") && w.opt_int(map, path, "user_timeout", 0, 65535).is_some()
    {
        w.no_effect(path, "user_timeout");
    }
    let version = match map.get("version") {
        None => IpVersion::V4,
        Some(v) if v.as_u64() == Some(4) => IpVersion::V4,
        Some(v) if v.as_u64() == Some(6) => IpVersion::V6,
        Some(other) => {
            w.expected(&child(path, "version"), "4 or 6", other);
            IpVersion::V4
        }
    };
    let interface = w.opt_str(map, path, "interface").map(str::to_string);
    if let Some(i) = &interface {
        match i.parse::<IpAddr>() {
            Ok(ip) if ip.is_ipv4() == (version == IpVersion::V4) => {}
            Ok(_) => {
                let v = if version == IpVersion::V4 { 4 } else { 6 };
                w.error(
                    &child(path, "interface"),
                    format!("{i:?} is not an IPv{v} address (endpoint version is {v})"),
                );
            }
            Err(_) => w.error(
                &child(path, "interface"),
                format!("expected an IP address, found {i:?}"),
            ),
        }
    }
    let backlog = w
        .opt_int(map, path, "backlog", 1, 65535)
        .unwrap_or(DEFAULT_BACKLOG as u64) as u32;
    let port = match map.get("port") {
        Some(p) => walk_port(w, p, &child(path, "port")),
        None if map.contains_key("portrange") => None,
        None => {
            w.error(
                &child(path, "port"),
                "missing (expected an integer 1..65535 or \"$ENV\")",
            );
            None
        }
    };
    Some(Endpoint::Tcp {
        port: port?,
        interface,
        version,
        backlog,
        tls: match tls {
            Some(t) => Some(t?),
            None => None,
        },
    })
}

/// A port: an integer, or `"$VAR"` / `"${VAR}"` naming an environment variable that holds one.
/// Port 0 (any free port) is allowed for tests.
fn walk_port(w: &mut Walker, v: &Value, path: &str) -> Option<u16> {
    const EXPECTED: &str = "an integer 1..65535 or \"$ENV\"";
    match v {
        Value::Number(n) => match n.as_u64().and_then(|n| u16::try_from(n).ok()) {
            Some(p) => Some(p),
            None => {
                w.expected(path, EXPECTED, v);
                None
            }
        },
        Value::String(s) => {
            match w.env_ref(s) {
                Ok(Some(val)) => match val.trim().parse::<u16>() {
                    Ok(p) => Some(p),
                    Err(_) => {
                        let name = env_name(s).unwrap_or(s);
                        w.error(path, format!("environment variable {name} is {val:?}, expected an integer 0..65535"));
                        None
                    }
                },
                Ok(None) => {
                    w.expected(path, EXPECTED, v);
                    None
                }
                Err(e) => {
                    w.error(path, e);
                    None
                }
            }
        }
        other => {
            w.expected(path, EXPECTED, other);
            None
        }
    }
}

/// The serializer names Crossbar knows; json, msgpack and cbor are offered by ferrobar.
const KNOWN_SERIALIZERS: &[&str] = &["json", "msgpack", "cbor", "ubjson", "flatbuffers"];

/// `serializers`, `options`, `url` and `debug` of a WebSocket transport or path service.
pub(crate) fn walk_websocket(
    w: &mut Walker,
    map: &Map<String, Value>,
    path: &str,
) -> WebSocketService {
    let mut ws = WebSocketService::default();
    if let Some(v) = map.get("serializers") {
        if let Some(s) = walk_serializers(w, v, &child(path, "serializers")) {
            ws.serializers = s;
        }
    }
    if let Some(url) = w.opt_str(map, path, "url") {
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            w.error(
                &child(path, "url"),
                format!("expected a ws:// or wss:// URL, found {url:?}"),
            );
        }
    }
    if w.opt_bool(map, path, "debug").is_some() {
        w.no_effect(path, "debug");
    }
    if let Some(o) = map.get("options") {
        walk_ws_options(w, o, &child(path, "options"), &mut ws.options);
    }
    ws
}

fn walk_serializers(w: &mut Walker, v: &Value, path: &str) -> Option<Vec<Serializer>> {
    let list = w.list(v, path)?;
    if list.is_empty() {
        w.error(path, "expected a non-empty list of serializers");
        return None;
    }
    let mut offered = Vec::new();
    let mut skipped = Vec::new();
    for (i, s) in list.iter().enumerate() {
        match s.as_str() {
            Some(name) if KNOWN_SERIALIZERS.contains(&name) => match Serializer::from_name(name) {
                Some(ser) if !offered.contains(&ser) => offered.push(ser),
                Some(_) => {}
                None => skipped.push(name),
            },
            _ => w.expected(
                &item(path, i),
                &format!("one of {}", KNOWN_SERIALIZERS.join(", ")),
                s,
            ),
        }
    }
    if offered.is_empty() {
        w.error(
            path,
            "none of these serializers is offered by ferrobar yet (expected json, msgpack or cbor)",
        );
        return None;
    }
    if !skipped.is_empty() {
        let names: Vec<&str> = offered.iter().map(|s| s.name()).collect();
        let usable = match names.split_last() {
            Some((last, [])) => last.to_string(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        };
        let msg = format!(
            "{} not offered by ferrobar yet: clients must use {usable}",
            skipped.join(", ")
        );
        w.info(path, msg);
    }
    Some(offered)
}

/// `serializers`, `options` and `debug` of a RawSocket transport (or of a universal
/// transport's `rawsocket` part).
pub(crate) fn walk_rawsocket(
    w: &mut Walker,
    map: &Map<String, Value>,
    path: &str,
) -> RawSocketService {
    let mut rs = RawSocketService::default();
    if let Some(v) = map.get("serializers") {
        if let Some(s) = walk_serializers(w, v, &child(path, "serializers")) {
            rs.serializers = s;
        }
    }
    if w.opt_bool(map, path, "debug").is_some() {
        w.no_effect(path, "debug");
    }
    if let Some(v) = map.get("options") {
        let opath = child(path, "options");
        if let Some(o) = w.object(v, &opath) {
            w.keys(o, &opath, &["max_message_size"]);
            if let Some(n) = w.opt_int(
                o,
                &opath,
                "max_message_size",
                RAWSOCKET_MESSAGE_MIN,
                RAWSOCKET_MESSAGE_MAX,
            ) {
                rs.max_message_size = n as usize;
            }
        }
    }
    rs
}

/// Knobs whose meaning does not carry over (Autobahn/Twisted internals, legacy protocol
/// switches, options only rendered on Crossbar's status page).
const WS_NO_EFFECT: &[&str] = &[
    "fail_by_drop",
    "echo_close_codereason",
    "tcp_nodelay",
    "validate_utf8",
    "external_port",
    "enable_hybi10",
    "enable_rfc6455",
    "mask_server_frames",
    "require_masked_client_frames",
    "apply_mask",
    "auto_fragment_size",
    "show_server_version",
    "enable_flash_policy",
    "flash_policy",
];

/// Robustness knobs a later issue will honour.
const WS_NOT_ENFORCED: &[&str] = &["auto_ping_restart_on_any_traffic"];

const WS_HONOURED: &[&str] = &[
    "max_message_size",
    "max_frame_size",
    "require_websocket_subprotocol",
    "enable_webstatus",
    "open_handshake_timeout",
    "close_handshake_timeout",
    "auto_ping_interval",
    "auto_ping_timeout",
    "auto_ping_size",
    "allowed_origins",
    "allow_null_origin",
    "compression",
];

fn walk_ws_options(w: &mut Walker, v: &Value, path: &str, out: &mut WebSocketOptions) {
    let Some(o) = w.object(v, path) else { return };
    let all: Vec<&str> = [WS_HONOURED, WS_NOT_ENFORCED, WS_NO_EFFECT].concat();
    w.keys(o, path, &all);
    if let Some(n) = w.opt_int(o, path, "max_message_size", 0, MAX_MESSAGE_LIMIT) {
        out.max_message_size = if n == 0 {
            // 0 meant "no limit" in Crossbar before 26.10; the validator's ceiling is the
            // closest bounded equivalent.
            w.info(path, "max_message_size: 0 (no limit) is capped at 64 MiB");
            MAX_MESSAGE_LIMIT as usize
        } else {
            n as usize
        };
    }
    if let Some(n) = w.opt_int(o, path, "max_frame_size", 0, MAX_MESSAGE_LIMIT) {
        out.max_frame_size = n as usize;
    }
    if let Some(b) = w.opt_bool(o, path, "require_websocket_subprotocol") {
        out.require_websocket_subprotocol = b;
    }
    if let Some(b) = w.opt_bool(o, path, "enable_webstatus") {
        out.enable_webstatus = b;
    }
    if o.contains_key("compression") {
        w.unsupported(
            &child(path, "compression"),
            "WebSocket compression ('compression')",
        );
    }
    out.open_handshake_timeout_ms = millis(w, o, path, "open_handshake_timeout");
    out.close_handshake_timeout_ms = millis(w, o, path, "close_handshake_timeout");
    out.auto_ping_interval_ms = millis(w, o, path, "auto_ping_interval");
    out.auto_ping_timeout_ms = millis(w, o, path, "auto_ping_timeout");
    if let Some(n) = w.opt_int(o, path, "auto_ping_size", 12, 125) {
        out.auto_ping_size = n as usize;
    }
    w.opt_bool(o, path, "auto_ping_restart_on_any_traffic");
    w.not_enforced_keys(o, path, WS_NOT_ENFORCED);
    walk_origins(w, o, path, out);
    for key in WS_NO_EFFECT {
        match (*key, o.get(*key)) {
            (_, None) => continue,
            ("external_port" | "auto_fragment_size", Some(v)) if v.as_u64().is_none() => {
                w.expected(&child(path, key), "an integer", v)
            }
            ("flash_policy" | "external_port" | "auto_fragment_size", Some(_)) => {}
            (_, Some(v)) if !v.is_boolean() => w.expected(&child(path, key), "true or false", v),
            _ => {}
        }
        w.no_effect(path, key);
    }
}

/// A time option in milliseconds (Crossbar's `_check_milliseconds`): 0 means "none", any
/// other value must be at least 1000 (catching a value meant as seconds).
fn millis(w: &mut Walker, o: &Map<String, Value>, path: &str, key: &str) -> Option<u64> {
    match w.opt_int(o, path, key, 0, u32::MAX as u64)? {
        0 => None,
        n if n < 1000 => {
            w.error(
                &child(path, key),
                format!("{n} is too small: the value is in milliseconds (0 or at least 1000)"),
            );
            None
        }
        n => Some(n),
    }
}

/// `allowed_origins` (a list of wildcard patterns) and `allow_null_origin`.
fn walk_origins(w: &mut Walker, o: &Map<String, Value>, path: &str, out: &mut WebSocketOptions) {
    if let Some(v) = o.get("allowed_origins") {
        let opath = child(path, "allowed_origins");
        if let Some(list) = w.list(v, &opath) {
            let mut patterns = Vec::with_capacity(list.len());
            for (i, x) in list.iter().enumerate() {
                match x.as_str() {
                    Some(s) => patterns.push(s.to_owned()),
                    None => w.expected(&item(&opath, i), "an origin pattern (a string)", x),
                }
            }
            out.allowed_origins = patterns;
        }
    }
    if let Some(b) = w.opt_bool(o, path, "allow_null_origin") {
        out.allow_null_origin = b;
    }
}
