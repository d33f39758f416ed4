//! The `web` transport and its path services (`paths{"/": {...}, "ws": {...}}`).

use serde_json::{Map, Value};

use super::model::*;
use super::transport::{walk_auth_and_cookie, walk_websocket};
use super::walk::{child, is_valid_id, Walker};

const WEB_KEYS: &[&str] = &[
    "id",
    "type",
    "endpoint",
    "paths",
    "options",
    "max_connections",
];
const WEB_OPTION_KEYS: &[&str] = &[
    "access_log",
    "display_tracebacks",
    "hsts",
    "hsts_max_age",
    "client_timeout",
];

/// Path service types Crossbar has and ferrobar refuses by name.
const REFUSED_SERVICES: &[&str] = &[
    "websocket-reverseproxy",
    "reverseproxy",
    "longpoll",
    "wsgi",
    "resource",
    "cgi",
    "publisher",
    "caller",
    "webhook",
    "archive",
    "wap",
    "catalog",
    "pairme",
    "upload",
    "fileupload",
];
const SUPPORTED_SERVICES: &str =
    "static, websocket, nodeinfo, metrics, health, path, json, redirect, none";

/// The auth of every WAMP service (WebSocket path, RawSocket part) seen in one transport, with
/// its JSON path.
pub(crate) type PathAuths = Vec<(String, AuthConfig)>;

/// The part of a `web` transport after its endpoint: paths and options. The transport's auth
/// comes from its WebSocket paths, which must agree (the model has one auth setting per
/// transport).
pub(crate) fn walk_web_transport(
    w: &mut Walker,
    map: &Map<String, Value>,
    path: &str,
) -> Option<(TransportKind, AuthConfig)> {
    w.keys(map, path, WEB_KEYS);
    let mut auths = PathAuths::new();
    let service = walk_web_body(w, map, path, "a web transport", &mut auths)?;
    let auth = shared_auth(w, &auths, "WebSocket paths of one web transport");
    Some((TransportKind::Web(service), auth))
}

/// `options` and `paths` (required) of a web transport, or of a universal transport's `web`
/// part (`what` names it in the "missing" error). The caller checks the keys.
pub(crate) fn walk_web_body(
    w: &mut Walker,
    map: &Map<String, Value>,
    path: &str,
    what: &str,
    auths: &mut PathAuths,
) -> Option<WebService> {
    if let Some(o) = map.get("options") {
        walk_web_options(w, o, &child(path, "options"));
    }
    let ppath = child(path, "paths");
    let paths = match map.get("paths") {
        Some(p) => w.object(p, &ppath)?,
        None => {
            w.error(&ppath, format!("missing ({what} needs paths)"));
            return None;
        }
    };
    Some(walk_paths(w, paths, &ppath, auths))
}

/// The one auth setting of a transport whose WAMP services each carry an `auth` block: they
/// must agree (per-path auth is not modelled). `services` names them in the error.
pub(crate) fn shared_auth(w: &mut Walker, auths: &PathAuths, services: &str) -> AuthConfig {
    let auth = auths.first().map(|(_, a)| a.clone()).unwrap_or_default();
    if let Some((first, _)) = auths.first() {
        for (p, a) in &auths[1..] {
            if *a != auth {
                let msg = format!(
                    "auth differs from the one at {first}: {services} must share their auth \
                     settings (per-path auth is not supported yet)"
                );
                w.error(p, msg);
            }
        }
    }
    auth
}

fn walk_web_options(w: &mut Walker, v: &Value, path: &str) {
    let Some(o) = w.object(v, path) else { return };
    w.keys(o, path, WEB_OPTION_KEYS);
    for key in ["access_log", "display_tracebacks", "hsts"] {
        if w.opt_bool(o, path, key).is_some() {
            w.no_effect(path, key);
        }
    }
    // ferrobar does not send the Strict-Transport-Security header (yet).
    if o.contains_key("hsts_max_age") && w.opt_int(o, path, "hsts_max_age", 0, u64::MAX).is_some() {
        w.no_effect(path, "hsts_max_age");
    }
    // null is Crossbar's way of saying "no timeout".
    let timeout_set = !matches!(o.get("client_timeout"), None | Some(Value::Null));
    if timeout_set && w.opt_int(o, path, "client_timeout", 1, 86400).is_some() {
        w.not_enforced(path, "client_timeout");
    }
}

/// Crossbar's path key rule: `^([a-z0-9A-Z_\-]+|/)$`.
pub(crate) fn is_valid_path_key(k: &str) -> bool {
    k == "/"
        || (!k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
}

fn walk_paths(
    w: &mut Walker,
    map: &Map<String, Value>,
    path: &str,
    auths: &mut PathAuths,
) -> WebService {
    let mut out = WebService::default();
    for (k, v) in map {
        let p = child(path, k);
        if !is_valid_path_key(k) {
            w.error(
                &p,
                "invalid path (expected \"/\" or letters, digits, _ and -)",
            );
            continue;
        }
        if let Some(s) = walk_service(w, v, &p, auths) {
            if k == "/" {
                out.root = Some(s);
            } else {
                out.paths.push((k.clone(), s));
            }
        }
    }
    out
}

fn walk_service(
    w: &mut Walker,
    v: &Value,
    path: &str,
    auths: &mut PathAuths,
) -> Option<PathService> {
    let map = w.object(v, path)?;
    check_service_id(w, map, path);
    let tpath = child(path, "type");
    let kind = match map.get("type") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            w.expected(&tpath, &format!("one of {SUPPORTED_SERVICES}"), other);
            return None;
        }
        None => {
            w.error(
                &tpath,
                format!("missing (expected one of {SUPPORTED_SERVICES})"),
            );
            return None;
        }
    };
    match kind {
        "static" => walk_static(w, map, path),
        "websocket" => Some(walk_websocket_path(w, map, path, auths)),
        "nodeinfo" | "none" | "metrics" | "health" => {
            w.keys(map, path, &["id", "type"]);
            Some(match kind {
                "none" => PathService::NotFound,
                "metrics" => PathService::Metrics,
                "health" => PathService::Health,
                _ => PathService::NodeInfo,
            })
        }
        "path" => {
            w.keys(map, path, &["id", "type", "paths"]);
            let ppath = child(path, "paths");
            let Some(p) = map.get("paths") else {
                w.error(&ppath, "missing (a path service needs paths)");
                return None;
            };
            let p = w.object(p, &ppath)?;
            Some(PathService::Path(Box::new(walk_paths(w, p, &ppath, auths))))
        }
        "json" => walk_json(w, map, path),
        "redirect" => {
            w.keys(map, path, &["id", "type", "url"]);
            w.req_str(map, path, "url")
                .map(|u| PathService::Redirect(u.to_string()))
        }
        t if REFUSED_SERVICES.contains(&t) => {
            w.unsupported(&tpath, format!("web service type '{t}'"));
            None
        }
        other => {
            let msg = format!(
                "unknown web service type '{other}' (expected one of {SUPPORTED_SERVICES})"
            );
            w.error(&tpath, msg);
            None
        }
    }
}

/// The optional `id` of a path service: checked, not kept.
pub(crate) fn check_service_id(w: &mut Walker, map: &Map<String, Value>, path: &str) {
    if let Some(id) = map.get("id") {
        if !id.as_str().is_some_and(is_valid_id) {
            w.expected(
                &child(path, "id"),
                "an id matching ^[a-z][a-z0-9_]{2,63}$",
                id,
            );
        }
    }
}

/// A WebSocket path service (`"type": "websocket"` under `paths`, or an entry of a universal
/// transport's `websocket{}`); its auth goes to `auths`.
pub(crate) fn walk_websocket_path(
    w: &mut Walker,
    map: &Map<String, Value>,
    path: &str,
    auths: &mut PathAuths,
) -> PathService {
    let keys = [
        "id",
        "type",
        "url",
        "serializers",
        "cookie",
        "auth",
        "options",
        "debug",
    ];
    w.keys(map, path, &keys);
    let mut ws = walk_websocket(w, map, path);
    let (auth, cookie) = walk_auth_and_cookie(w, map, path);
    ws.cookie = cookie;
    auths.push((path.to_string(), auth));
    PathService::WebSocket(ws)
}

fn walk_static(w: &mut Walker, map: &Map<String, Value>, path: &str) -> Option<PathService> {
    w.keys(
        map,
        path,
        &["id", "type", "directory", "package", "resource", "options"],
    );
    if map.contains_key("package") || map.contains_key("resource") {
        let key = if map.contains_key("package") {
            "package"
        } else {
            "resource"
        };
        w.unsupported(
            &child(path, key),
            "serving a Python package resource ('package'/'resource')",
        );
        return None;
    }
    let dir = w.req_str(map, path, "directory")?;
    let directory = super::walk::resolve(&w.cbdir, dir);
    if directory.is_file() {
        w.error(
            &child(path, "directory"),
            format!("{} is a file, expected a directory", directory.display()),
        );
    } else if !directory.exists() {
        // Crossbar's getting-started config names ../web, which a fresh node may not have.
        let msg = format!(
            "directory {} does not exist: requests will get 404 until it is created",
            directory.display()
        );
        w.warn(path, msg);
    }
    let mut service = StaticService {
        directory,
        enable_directory_listing: false,
        default_file: None,
        cache_timeout: None,
        mime_types: Vec::new(),
    };
    let opath = child(path, "options");
    if let Some(o) = map.get("options").and_then(|o| w.object(o, &opath)) {
        w.keys(
            o,
            &opath,
            &[
                "enable_directory_listing",
                "mime_types",
                "cache_timeout",
                "default_file",
            ],
        );
        service.enable_directory_listing = w
            .opt_bool(o, &opath, "enable_directory_listing")
            .unwrap_or(false);
        service.default_file = w.opt_str(o, &opath, "default_file").map(str::to_string);
        if !matches!(o.get("cache_timeout"), None | Some(Value::Null)) {
            service.cache_timeout = w.opt_int(o, &opath, "cache_timeout", 0, u64::MAX);
        }
        let mpath = child(&opath, "mime_types");
        if let Some(m) = o.get("mime_types").and_then(|m| w.object(m, &mpath)) {
            for (ext, ty) in m {
                match ty.as_str() {
                    Some(t) if !ext.is_empty() => {
                        let ext = if ext.starts_with('.') {
                            ext.clone()
                        } else {
                            format!(".{ext}")
                        };
                        service.mime_types.push((ext, t.to_string()));
                    }
                    _ => w.expected(
                        &child(&mpath, ext),
                        "a MIME type string for a file extension",
                        ty,
                    ),
                }
            }
        }
    }
    Some(PathService::Static(service))
}

fn walk_json(w: &mut Walker, map: &Map<String, Value>, path: &str) -> Option<PathService> {
    w.keys(map, path, &["id", "type", "value", "options"]);
    let mut prettify = false;
    let opath = child(path, "options");
    if let Some(o) = map.get("options").and_then(|o| w.object(o, &opath)) {
        w.keys(
            o,
            &opath,
            &["prettify", "allow_cross_origin", "discourage_caching"],
        );
        prettify = w.opt_bool(o, &opath, "prettify").unwrap_or(false);
        for key in ["allow_cross_origin", "discourage_caching"] {
            if w.opt_bool(o, &opath, key) == Some(true) {
                w.not_enforced(&opath, key);
            }
        }
    }
    let Some(value) = map.get("value") else {
        w.error(&child(path, "value"), "missing (the JSON value to serve)");
        return None;
    };
    let text = if prettify {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    match text {
        Ok(t) => Some(PathService::Json(t)),
        Err(e) => {
            w.error(&child(path, "value"), format!("cannot serialize: {e}"));
            None
        }
    }
}
