//! The `universal` transport: RawSocket, MQTT and HTTP (web paths and WebSocket) on one port.
//! `rawsocket{}` keeps its own settings; each `websocket{"<path>": {...}}` entry joins the
//! `web.paths` tree as a WebSocket path service.

use serde_json::{Map, Value};

use super::model::*;
use super::mqtt::walk_mqtt_part;
use super::transport::{walk_auth, walk_rawsocket};
use super::walk::{child, Walker};
use super::web::{
    check_service_id, is_valid_path_key, shared_auth, walk_web_body, walk_websocket_path, PathAuths,
};

const UNIVERSAL_KEYS: &[&str] = &[
    "id",
    "type",
    "endpoint",
    "rawsocket",
    "websocket",
    "web",
    "mqtt",
    "max_connections",
];
const RAWSOCKET_KEYS: &[&str] = &["serializers", "options", "auth", "debug"];
const WEB_KEYS: &[&str] = &["paths", "options"];

/// The part of a `universal` transport after its endpoint (and `max_connections`, which the
/// caller handles for every transport type).
pub(crate) fn walk_universal(
    w: &mut Walker,
    map: &Map<String, Value>,
    path: &str,
) -> Option<(TransportKind, AuthConfig)> {
    w.keys(map, path, UNIVERSAL_KEYS);
    if !["rawsocket", "websocket", "web", "mqtt"]
        .iter()
        .any(|k| map.contains_key(*k))
    {
        w.error(
            path,
            "a universal transport needs at least one of rawsocket, websocket, web or mqtt",
        );
        return None;
    }
    let mut auths = PathAuths::new();
    let rawsocket = map
        .get("rawsocket")
        .and_then(|v| walk_rawsocket_part(w, v, &child(path, "rawsocket"), &mut auths));
    let mut web = WebService::default();
    // JSON path of each entry of `web.paths`, to name it when `websocket` repeats it.
    let mut web_paths: Vec<(String, String)> = Vec::new();
    if let Some(v) = map.get("web") {
        let wpath = child(path, "web");
        if let Some(m) = w.object(v, &wpath) {
            part_keys(w, m, &wpath, WEB_KEYS);
            if let Some(s) = walk_web_body(w, m, &wpath, "web", &mut auths) {
                web = s;
            }
            if let Some(Value::Object(p)) = m.get("paths") {
                let ppath = child(&wpath, "paths");
                web_paths = p.keys().map(|k| (k.clone(), child(&ppath, k))).collect();
            }
        }
    }
    if let Some(v) = map.get("websocket") {
        let wspath = child(path, "websocket");
        if let Some(m) = w.object(v, &wspath) {
            for (k, cfg) in m {
                let p = child(&wspath, k);
                if !is_valid_path_key(k) {
                    w.error(
                        &p,
                        "invalid path (expected \"/\" or letters, digits, _ and -)",
                    );
                    continue;
                }
                let Some(service) = walk_websocket_entry(w, cfg, &p, &mut auths) else {
                    continue;
                };
                if let Some((_, other)) = web_paths.iter().find(|(name, _)| name == k) {
                    let msg = format!(
                        "path {k:?} is also defined at {other}: a path is served by either \
                         websocket or web.paths"
                    );
                    w.error(&p, msg);
                } else if k == "/" {
                    web.root = Some(service);
                } else {
                    web.paths.push((k.clone(), service));
                }
            }
        }
    }
    let auth = shared_auth(
        w,
        &auths,
        "the RawSocket and WebSocket services of one universal transport",
    );
    let mqtt = map
        .get("mqtt")
        .and_then(|v| walk_mqtt_part(w, v, &child(path, "mqtt")));
    let service = UniversalService {
        rawsocket,
        web,
        mqtt,
    };
    Some((TransportKind::Universal(service), auth))
}

/// `rawsocket{}`: a RawSocket transport without `id`, `type` and `endpoint`.
fn walk_rawsocket_part(
    w: &mut Walker,
    v: &Value,
    path: &str,
    auths: &mut PathAuths,
) -> Option<RawSocketService> {
    let map = w.object(v, path)?;
    part_keys(w, map, path, RAWSOCKET_KEYS);
    let rs = walk_rawsocket(w, map, path);
    let auth = match map.get("auth") {
        Some(a) => walk_auth(w, a, &child(path, "auth")),
        None => AuthConfig::default(),
    };
    auths.push((path.to_string(), auth));
    Some(rs)
}

/// One `websocket{"<path>": {...}}` entry: a WebSocket path service whose `type`, if given,
/// must be `websocket`.
fn walk_websocket_entry(
    w: &mut Walker,
    v: &Value,
    path: &str,
    auths: &mut PathAuths,
) -> Option<PathService> {
    let map = w.object(v, path)?;
    check_service_id(w, map, path);
    match map.get("type") {
        None => {}
        Some(Value::String(t)) if t == "websocket" => {}
        Some(other) => w.expected(&child(path, "type"), "\"websocket\" (or no type)", other),
    }
    if map.contains_key("endpoint") {
        refuse_endpoint(w, path);
        let mut rest = map.clone();
        rest.remove("endpoint");
        return Some(walk_websocket_path(w, &rest, path, auths));
    }
    Some(walk_websocket_path(w, map, path, auths))
}

/// Reports every key of a part of a universal transport not in `allowed`, and `endpoint` with
/// the reason it is not allowed.
fn part_keys(w: &mut Walker, map: &Map<String, Value>, path: &str, allowed: &[&str]) {
    for k in map.keys() {
        if k == "endpoint" {
            refuse_endpoint(w, path);
        } else if !allowed.contains(&k.as_str()) {
            let msg = format!("unknown key (expected one of: {})", allowed.join(", "));
            w.error(&child(path, k), msg);
        }
    }
}

fn refuse_endpoint(w: &mut Walker, path: &str) {
    w.error(
        &child(path, "endpoint"),
        "not allowed here: every part of a universal transport listens on the transport's \
         endpoint",
    );
}
