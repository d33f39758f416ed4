//! The `mqtt` transport and the `mqtt{}` part of a `universal` transport (Crossbar's
//! `check_listening_transport_mqtt`): `options{realm, role, payload_mapping, auth}`.

use serde_json::{Map, Value};

use super::model::*;
use super::transport::walk_auth;
use super::walk::{child, Walker};

/// Keys of an `mqtt` transport.
pub(crate) const MQTT_TRANSPORT_KEYS: &[&str] = &[
    "id",
    "type",
    "endpoint",
    "options",
    "max_connections",
    "debug",
];
/// Keys of a universal transport's `mqtt{}` part.
const MQTT_PART_KEYS: &[&str] = &["type", "options", "debug"];
const OPTION_KEYS: &[&str] = &["realm", "role", "payload_mapping", "auth"];
const PASSTHROUGH_KEYS: &[&str] = &["type"];
const NATIVE_KEYS: &[&str] = &["type", "serializer"];
const DYNAMIC_KEYS: &[&str] = &["type", "realm", "encoder", "decoder"];

/// The warning every parsed MQTT service gets, so `ferrobar check` says what `start` will do.
pub(crate) const NOT_SERVED: &str =
    "the mqtt transport is parsed but not served yet: `ferrobar start` refuses this node";

/// An `mqtt` transport (after `id`, `type`, `endpoint`, `max_connections`).
pub(crate) fn walk_mqtt_transport(
    w: &mut Walker,
    map: &Map<String, Value>,
    path: &str,
) -> Option<(TransportKind, AuthConfig)> {
    w.keys(map, path, MQTT_TRANSPORT_KEYS);
    check_debug(w, map, path);
    let service = walk_mqtt_options(w, map, path)?;
    let auth = service.auth.clone();
    Some((TransportKind::Mqtt(service), auth))
}

/// A universal transport's `mqtt{}` part.
pub(crate) fn walk_mqtt_part(w: &mut Walker, v: &Value, path: &str) -> Option<MqttService> {
    let map = w.object(v, path)?;
    for k in map.keys() {
        if k == "endpoint" {
            w.error(
                &child(path, "endpoint"),
                "not allowed here: every part of a universal transport listens on the \
                 transport's endpoint",
            );
        } else if !MQTT_PART_KEYS.contains(&k.as_str()) {
            let msg = format!(
                "unknown key (expected one of: {})",
                MQTT_PART_KEYS.join(", ")
            );
            w.error(&child(path, k), msg);
        }
    }
    match map.get("type") {
        None => {}
        Some(Value::String(t)) if t == "mqtt" => {}
        Some(other) => w.expected(&child(path, "type"), "\"mqtt\" (or no type)", other),
    }
    check_debug(w, map, path);
    walk_mqtt_options(w, map, path)
}

fn check_debug(w: &mut Walker, map: &Map<String, Value>, path: &str) {
    if map.contains_key("debug") && w.opt_bool(map, path, "debug").is_some() {
        w.no_effect(&child(path, "debug"), "debug");
    }
}

/// `options` of an MQTT service: required, with a required `realm`.
fn walk_mqtt_options(w: &mut Walker, map: &Map<String, Value>, path: &str) -> Option<MqttService> {
    let opath = child(path, "options");
    let Some(v) = map.get("options") else {
        w.error(&opath, "missing (an MQTT service needs options.realm)");
        return None;
    };
    let options = w.object(v, &opath)?;
    let errors_before = w.errors.len();
    w.keys(options, &opath, OPTION_KEYS);
    let realm = w.req_str(options, &opath, "realm").map(str::to_owned);
    if let Some(r) = &realm {
        if r.is_empty() || r.chars().any(char::is_whitespace) {
            w.error(&child(&opath, "realm"), format!("invalid realm name {r:?}"));
        }
    }
    let role = w.opt_str(options, &opath, "role").map(str::to_owned);
    if role.as_deref().is_some_and(str::is_empty) {
        w.error(&child(&opath, "role"), "empty role name");
    }
    let payload_mapping = match options.get("payload_mapping") {
        Some(m) => walk_payload_mapping(w, m, &child(&opath, "payload_mapping")),
        None => Vec::new(),
    };
    let auth = match options.get("auth") {
        Some(a) => walk_auth(w, a, &child(&opath, "auth")),
        None => AuthConfig::default(),
    };
    // MQTT's CONNECT carries a username and password, nothing more: challenge-response and
    // cookie methods are accepted (Crossbar does) but can never succeed.
    for method in ["wampcra", "cryptosign", "cookie"] {
        if auth.method(method).is_some() {
            w.warn(
                &child(&child(&opath, "auth"), method),
                format!("{method} authentication never succeeds over MQTT (anonymous, ticket and tls do)"),
            );
        }
    }
    if w.errors.len() != errors_before {
        return None;
    }
    w.warn(path, NOT_SERVED);
    Some(MqttService {
        realm: realm?,
        role,
        payload_mapping,
        auth,
    })
}

/// `payload_mapping`: `{uri_prefix: {type, ...}}`.
fn walk_payload_mapping(w: &mut Walker, v: &Value, path: &str) -> Vec<(String, MqttPayloadFormat)> {
    let Some(map) = w.object(v, path) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (prefix, entry) in map {
        let epath = child(path, prefix);
        if prefix.chars().any(char::is_whitespace) || prefix.contains('#') {
            w.error(&epath, "a URI prefix has no whitespace and no '#'");
            continue;
        }
        if let Some(format) = walk_payload_format(w, entry, &epath) {
            out.push((prefix.clone(), format));
        }
    }
    out
}

fn walk_payload_format(w: &mut Walker, v: &Value, path: &str) -> Option<MqttPayloadFormat> {
    let map = w.object(v, path)?;
    let kind = w.req_str(map, path, "type")?;
    match kind {
        "passthrough" => {
            w.keys(map, path, PASSTHROUGH_KEYS);
            Some(MqttPayloadFormat::Passthrough)
        }
        "native" => {
            w.keys(map, path, NATIVE_KEYS);
            let spath = child(path, "serializer");
            match w.req_str(map, path, "serializer")? {
                "ubjson" => {
                    w.unsupported(&spath, "serializer 'ubjson'");
                    None
                }
                name => match Serializer::from_name(name) {
                    Some(s) => Some(MqttPayloadFormat::Native(s)),
                    None => {
                        w.error(
                            &spath,
                            format!("unknown serializer {name:?} (expected json, cbor or msgpack)"),
                        );
                        None
                    }
                },
            }
        }
        "dynamic" => {
            w.keys(map, path, DYNAMIC_KEYS);
            let realm = w.opt_str(map, path, "realm").map(str::to_owned);
            let encoder = procedure(w, map, path, "encoder");
            let decoder = procedure(w, map, path, "decoder");
            if encoder.is_none() && decoder.is_none() {
                w.error(
                    path,
                    "a dynamic mapping needs an encoder or a decoder procedure",
                );
                return None;
            }
            for (missing, direction) in [
                (
                    encoder.is_none(),
                    "encoder: WAMP events on these topics are not sent to MQTT",
                ),
                (
                    decoder.is_none(),
                    "decoder: MQTT publications on these topics are refused",
                ),
            ] {
                if missing {
                    w.warn(path, format!("no {direction}"));
                }
            }
            Some(MqttPayloadFormat::Dynamic {
                realm,
                encoder,
                decoder,
            })
        }
        other => {
            w.error(
                &child(path, "type"),
                format!("unknown payload mapping type {other:?} (expected passthrough, native or dynamic)"),
            );
            None
        }
    }
}

fn procedure(w: &mut Walker, map: &Map<String, Value>, path: &str, key: &str) -> Option<String> {
    let p = w.opt_str(map, path, key)?;
    if crate::wamp::uri::is_valid(
        p,
        crate::wamp::uri::UriCheck::Loose,
        crate::wamp::uri::MatchPolicy::Exact,
    ) {
        Some(p.to_owned())
    } else {
        w.error(&child(path, key), format!("invalid procedure URI {p:?}"));
        None
    }
}

/// Warns when an MQTT service names a realm (its own, or a dynamic mapping's) that this router
/// does not define: its clients would all be refused (CONNACK 0x88 / 3), or its mappings fail.
pub(crate) fn check_realm(w: &mut Walker, path: &str, t: &TransportConfig, realms: &[&str]) {
    let (service, spath) = match &t.kind {
        TransportKind::Mqtt(m) => (m, path.to_owned()),
        TransportKind::Universal(UniversalService { mqtt: Some(m), .. }) => {
            (m, child(path, "mqtt"))
        }
        _ => return,
    };
    let opath = child(&spath, "options");
    if !realms.contains(&service.realm.as_str()) {
        w.warn(
            &child(&opath, "realm"),
            format!(
                "realm '{}' is not defined in this router: every MQTT client would be refused",
                service.realm
            ),
        );
    }
    for (prefix, format) in &service.payload_mapping {
        if let MqttPayloadFormat::Dynamic { realm: Some(r), .. } = format {
            if !realms.contains(&r.as_str()) {
                let p = child(&child(&child(&opath, "payload_mapping"), prefix), "realm");
                w.warn(&p, format!("realm '{r}' is not defined in this router"));
            }
        }
    }
}
