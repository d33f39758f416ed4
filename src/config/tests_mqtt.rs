//! The `mqtt` transport and its options, as Crossbar's node directories write them.

use serde_json::json;

use super::tests::{check, errors, notices, ok, with_transport};
use super::*;

fn mqtt(options: serde_json::Value) -> serde_json::Value {
    with_transport(
        json!({"type": "mqtt", "endpoint": {"type": "tcp", "port": 1883}, "options": options}),
    )
}

fn service(n: &NodeConfig) -> &MqttService {
    match &n.routers[0].transports[0].kind {
        TransportKind::Mqtt(m) => m,
        other => panic!("not an mqtt transport: {other:?}"),
    }
}

#[test]
fn crossbars_example_config_is_parsed_in_full() {
    let n = ok(&mqtt(json!({
        "realm": "realm1",
        "role": "anonymous",
        "payload_mapping": {
            "": {"type": "passthrough"},
            "com.example.native": {"type": "native", "serializer": "cbor"},
            "com.example.json": {"type": "native", "serializer": "json"},
            "com.example.dynamic": {"type": "dynamic", "realm": "codec",
                "encoder": "com.example.encode", "decoder": "com.example.decode"}
        },
        "auth": {"ticket": {"type": "static", "principals": {"dev1": {"ticket": "s3cret", "role": "device"}}}}
    })));
    let m = service(&n);
    assert_eq!(m.realm, "realm1");
    assert_eq!(m.role.as_deref(), Some("anonymous"));
    let mapping: Vec<(&str, &MqttPayloadFormat)> = m
        .payload_mapping
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    assert!(mapping.contains(&("", &MqttPayloadFormat::Passthrough)));
    assert!(mapping.contains(&(
        "com.example.native",
        &MqttPayloadFormat::Native(Serializer::Cbor)
    )));
    assert!(mapping.contains(&(
        "com.example.json",
        &MqttPayloadFormat::Native(Serializer::Json)
    )));
    assert!(mapping.contains(&(
        "com.example.dynamic",
        &MqttPayloadFormat::Dynamic {
            realm: Some("codec".into()),
            encoder: Some("com.example.encode".into()),
            decoder: Some("com.example.decode".into()),
        }
    )));
    assert!(m.auth.method("ticket").is_some());
    // The transport's auth is the service's.
    assert!(n.routers[0].transports[0].auth.method("ticket").is_some());
}

#[test]
fn check_says_the_transport_is_not_served_yet() {
    let v = mqtt(json!({"realm": "realm1"}));
    assert!(check(&v).result.is_ok());
    assert!(
        notices(&v)
            .iter()
            .any(|l| l.contains("workers[0].transports[0]")
                && l.contains("parsed but not served yet")),
        "{:?}",
        notices(&v)
    );
}

#[test]
fn without_auth_clients_are_anonymous() {
    let n = ok(&mqtt(json!({"realm": "realm1"})));
    assert!(service(&n).auth.method("anonymous").is_some());
    assert!(service(&n).payload_mapping.is_empty());
}

#[test]
fn options_and_realm_are_required() {
    assert_eq!(
        errors(&with_transport(
            json!({"type": "mqtt", "endpoint": {"type": "tcp", "port": 1883}})
        )),
        ["workers[0].transports[0].options: missing (an MQTT service needs options.realm)"]
    );
    assert_eq!(
        errors(&mqtt(json!({"role": "x"}))),
        ["workers[0].transports[0].options.realm: missing (a string is required)"]
    );
    assert_eq!(
        errors(&mqtt(json!({"realm": 5}))),
        ["workers[0].transports[0].options.realm: expected a string, found 5"]
    );
}

#[test]
fn unknown_keys_are_named() {
    assert_eq!(
        errors(&mqtt(json!({"realm": "r", "qos": 2}))),
        ["workers[0].transports[0].options.qos: unknown key (expected one of: realm, role, payload_mapping, auth)"]
    );
    assert_eq!(
        errors(&with_transport(json!({"type": "mqtt", "endpoint": {"type": "tcp", "port": 1883},
            "options": {"realm": "r"}, "serializers": ["json"]}))),
        ["workers[0].transports[0].serializers: unknown key (expected one of: id, type, endpoint, options, max_connections, debug)"]
    );
}

#[test]
fn payload_mapping_entries_are_checked() {
    let e = errors(&mqtt(json!({"realm": "r", "payload_mapping": {
        "a": {"type": "native"},
        "b": {"type": "native", "serializer": "ubjson"},
        "c": {"type": "native", "serializer": "xml"},
        "d": {"type": "magic"},
        "e": {"type": "dynamic"},
        "f": {"type": "dynamic", "encoder": "bad uri"},
        "g": {"type": "passthrough", "serializer": "json"}
    }})));
    let p = "workers[0].transports[0].options.payload_mapping";
    assert_eq!(
        e,
        [
            format!("{p}.a.serializer: missing (a string is required)"),
            format!("{p}.b.serializer: serializer 'ubjson' is not supported yet"),
            format!(
                r#"{p}.c.serializer: unknown serializer "xml" (expected json, cbor or msgpack)"#
            ),
            format!(
                r#"{p}.d.type: unknown payload mapping type "magic" (expected passthrough, native or dynamic)"#
            ),
            format!("{p}.e: a dynamic mapping needs an encoder or a decoder procedure"),
            format!(r#"{p}.f.encoder: invalid procedure URI "bad uri""#),
            format!("{p}.f: a dynamic mapping needs an encoder or a decoder procedure"),
            format!("{p}.g.serializer: unknown key (expected one of: type)"),
        ]
    );
}

#[test]
fn a_one_sided_dynamic_mapping_is_accepted_with_a_warning() {
    let v = mqtt(
        json!({"realm": "r", "payload_mapping": {"": {"type": "dynamic", "decoder": "x.decode"}}}),
    );
    ok(&v);
    assert!(
        notices(&v).iter().any(|l| l.contains("no encoder")),
        "{:?}",
        notices(&v)
    );
}

#[test]
fn challenge_response_auth_is_flagged_as_useless_over_mqtt() {
    let v = mqtt(json!({"realm": "r", "auth": {"wampcra": {"type": "static", "users": {}}}}));
    ok(&v);
    assert!(
        notices(&v)
            .iter()
            .any(|l| l.contains("options.auth.wampcra") && l.contains("never succeeds over MQTT")),
        "{:?}",
        notices(&v)
    );
}

#[test]
fn a_realm_the_router_does_not_define_is_flagged() {
    let v = mqtt(json!({"realm": "nowhere", "payload_mapping": {
        "x": {"type": "dynamic", "realm": "codecs", "decoder": "x.decode", "encoder": "x.encode"}}}));
    ok(&v);
    let n = notices(&v);
    assert!(
        n.iter()
            .any(|l| l.contains("options.realm") && l.contains("realm 'nowhere' is not defined")),
        "{n:?}"
    );
    assert!(
        n.iter()
            .any(|l| l.contains("payload_mapping.x.realm") && l.contains("'codecs'")),
        "{n:?}"
    );
    let ok_realm = notices(&mqtt(json!({"realm": "realm1"})));
    assert!(
        !ok_realm.iter().any(|l| l.contains("not defined")),
        "{ok_realm:?}"
    );
}
