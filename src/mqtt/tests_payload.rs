//! Payload mapping as Crossbar does it: passthrough, native and dynamic, by longest prefix.

use bytes::Bytes;

use super::payload::*;
use crate::codec::Serializer;
use crate::config::MqttPayloadFormat;
use crate::wamp::{Dict, Payload, Value};

fn mapper() -> PayloadMapper {
    PayloadMapper::new(&[
        ("".into(), MqttPayloadFormat::Passthrough),
        ("com.ex".into(), MqttPayloadFormat::Native(Serializer::Json)),
        (
            "com.example.cbor".into(),
            MqttPayloadFormat::Native(Serializer::Cbor),
        ),
        (
            "com.example.dyn".into(),
            MqttPayloadFormat::Dynamic {
                realm: Some("codec".into()),
                encoder: Some("x.encode".into()),
                decoder: None,
            },
        ),
    ])
}

#[test]
fn the_longest_string_prefix_wins() {
    let m = mapper();
    assert_eq!(
        m.lookup("com.example.cbor.t").unwrap(),
        &MqttPayloadFormat::Native(Serializer::Cbor)
    );
    // A string prefix, as Crossbar's StringTrie: "com.ex" matches "com.example".
    assert_eq!(
        m.lookup("com.example.json").unwrap(),
        &MqttPayloadFormat::Native(Serializer::Json)
    );
    assert_eq!(m.lookup("other").unwrap(), &MqttPayloadFormat::Passthrough);
    let strict = PayloadMapper::new(&[("a.".into(), MqttPayloadFormat::Passthrough)]);
    assert_eq!(
        strict.lookup("b.c"),
        Err(MappingError::NoMapping("b.c".into()))
    );
    assert_eq!(
        PayloadMapper::new(&[]).lookup("x").unwrap(),
        &MqttPayloadFormat::Passthrough
    );
}

#[test]
fn passthrough_carries_bytes_both_ways() {
    let m = mapper();
    let Inbound::Ready(p) = m
        .mqtt_to_wamp("t", "t", &Bytes::from_static(b"\x00\xff"))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(p.payload.args, Some(vec![Value::Bytes(vec![0, 0xff])]));
    assert_eq!(p.options.get_str("ppt_scheme"), Some("mqtt"));
    let back = m.wamp_to_mqtt("t", "t", &p.payload).unwrap();
    assert_eq!(
        back,
        OutboundPayload::Ready(Bytes::from_static(b"\x00\xff"))
    );
    // A structured event cannot be sent as opaque bytes.
    let structured = Payload {
        args: Some(vec![Value::Int(1), Value::Int(2)]),
        kwargs: None,
    };
    assert_eq!(
        m.wamp_to_mqtt("t", "t", &structured),
        Err(MappingError::NotPassthrough)
    );
}

#[test]
fn native_json_reads_args_kwargs_and_publish_options() {
    let m = mapper();
    let payload = Bytes::from_static(
        br#"{"args": [1, "a"], "kwargs": {"k": true}, "exclude_authid": ["x"], "other": 1}"#,
    );
    let Inbound::Ready(p) = m.mqtt_to_wamp("com.ex.t", "com/ex/t", &payload).unwrap() else {
        panic!()
    };
    assert_eq!(
        p.payload.args,
        Some(vec![Value::Int(1), Value::Str("a".into())])
    );
    assert_eq!(p.payload.kwargs, Some(Dict::new().with("k", true)));
    assert!(p.options.get("exclude_authid").is_some());
    assert!(p.options.get("other").is_none());
    for bad in [&b"[1,2]"[..], b"not json", b"{\"args\": 5}"] {
        assert!(
            m.mqtt_to_wamp("com.ex.t", "com/ex/t", &Bytes::copy_from_slice(bad))
                .is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn native_encodes_args_and_kwargs_and_round_trips_through_cbor() {
    let m = mapper();
    let payload = Payload {
        args: Some(vec![Value::Int(7)]),
        kwargs: None,
    };
    let OutboundPayload::Ready(b) = m.wamp_to_mqtt("com.ex.t", "com/ex/t", &payload).unwrap()
    else {
        panic!()
    };
    assert_eq!(&b[..], br#"{"args":[7],"kwargs":null}"#);
    let payload = Payload {
        args: None,
        kwargs: Some(Dict::new().with("v", Value::Float(1.5))),
    };
    let OutboundPayload::Ready(b) = m.wamp_to_mqtt("com.example.cbor.t", "t", &payload).unwrap()
    else {
        panic!()
    };
    let Inbound::Ready(p) = m.mqtt_to_wamp("com.example.cbor.t", "t", &b).unwrap() else {
        panic!()
    };
    assert_eq!(p.payload, payload);
}

#[test]
fn dynamic_mapping_is_a_call_for_the_router() {
    let m = mapper();
    let payload = Payload {
        args: Some(vec![Value::Int(1)]),
        kwargs: None,
    };
    let OutboundPayload::Call(call) = m
        .wamp_to_mqtt("com.example.dyn.t", "com/example/dyn/t", &payload)
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(call.realm.as_deref(), Some("codec"));
    assert_eq!(call.procedure, "x.encode");
    assert_eq!(
        call.args,
        [
            Value::Str("com/example/dyn/t".into()),
            Value::Str("com.example.dyn.t".into()),
            Value::List(vec![Value::Int(1)]),
            Value::Null
        ]
    );
    assert_eq!(
        PayloadMapper::from_encoder_result(Value::Bytes(vec![1])).unwrap(),
        Bytes::from_static(&[1])
    );
    assert!(PayloadMapper::from_encoder_result(Value::Int(1)).is_err());
    assert_eq!(
        m.mqtt_to_wamp("com.example.dyn.t", "t", &Bytes::new()),
        Err(MappingError::NoProcedure("decoder"))
    );
    let decoded = Value::Dict(Dict::new().with("args", Value::List(vec![Value::Int(3)])));
    assert_eq!(
        PayloadMapper::from_decoder_result(decoded)
            .unwrap()
            .payload
            .args,
        Some(vec![Value::Int(3)])
    );
}

#[test]
fn user_properties_keep_order_and_repeats_through_wamp() {
    let props = vec![
        ("unit".to_string(), "C".to_string()),
        ("tag".to_string(), "a".to_string()),
        ("tag".to_string(), "b".to_string()),
    ];
    let v = user_properties_to_wamp(&props);
    assert_eq!(user_properties_from_wamp(&v), Some(props));
    // A WAMP publisher may write a dict of strings.
    let d = Value::Dict(Dict::new().with("unit", "K"));
    assert_eq!(
        user_properties_from_wamp(&d),
        Some(vec![("unit".into(), "K".into())])
    );
    assert_eq!(
        user_properties_from_wamp(&Value::Dict(Dict::new().with("n", Value::Int(1)))),
        None
    );
    assert_eq!(user_properties_from_wamp(&Value::Int(1)), None);
}
