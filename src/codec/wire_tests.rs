//! Golden vectors and proptest strategies shared by the serializers' tests (`wire.rs`).

use proptest::collection::vec;
use proptest::prelude::*;

use crate::wamp::id::MAX_ID;
use crate::wamp::{Dict, Message, Payload, Value};

fn d() -> Dict {
    Dict::new()
}

fn args(a: Vec<Value>) -> Payload {
    Payload::args(a)
}

fn kw(a: Vec<Value>, k: Dict) -> Payload {
    Payload {
        args: Some(a),
        kwargs: Some(k),
    }
}

/// Every message type as canonical compact JSON (what `json::encode` writes) and as a
/// [`Message`]. Dict keys are sorted so a `serde_json` transcoding keeps their order.
pub fn golden() -> Vec<(&'static str, Message)> {
    use Message::*;
    let roles = |role: &str| d().with("roles", d().with(role, d()));
    vec![
        (
            r#"[1,"realm1",{"roles":{"subscriber":{}}}]"#,
            Hello {
                realm: "realm1".into(),
                details: roles("subscriber"),
            },
        ),
        (
            r#"[2,9129137332,{"roles":{"broker":{}}}]"#,
            Welcome {
                session: 9129137332,
                details: roles("broker"),
            },
        ),
        (
            r#"[3,{"message":"no such realm"},"wamp.error.no_such_realm"]"#,
            Abort {
                details: d().with("message", "no such realm"),
                reason: "wamp.error.no_such_realm".into(),
            },
        ),
        (
            r#"[4,"wampcra",{"challenge":"{\"nonce\":1}"}]"#,
            Challenge {
                method: "wampcra".into(),
                extra: d().with("challenge", "{\"nonce\":1}"),
            },
        ),
        (
            r#"[5,"c2lnbmF0dXJl",{}]"#,
            Authenticate {
                signature: "c2lnbmF0dXJl".into(),
                extra: d(),
            },
        ),
        (
            r#"[6,{},"wamp.close.close_realm"]"#,
            Goodbye {
                details: d(),
                reason: "wamp.close.close_realm".into(),
            },
        ),
        (
            r#"[8,48,7814135,{},"wamp.error.no_such_procedure"]"#,
            Error {
                request_type: 48,
                request: 7814135,
                details: d(),
                error: "wamp.error.no_such_procedure".into(),
                payload: Payload::empty(),
            },
        ),
        (
            r#"[8,68,6131533,{},"com.myapp.error.range",["out of range"],{"max":10}]"#,
            Error {
                request_type: 68,
                request: 6131533,
                details: d(),
                error: "com.myapp.error.range".into(),
                payload: kw(vec!["out of range".into()], d().with("max", 10i64)),
            },
        ),
        (
            r#"[16,239714735,{},"com.myapp.mytopic1"]"#,
            Publish {
                request: 239714735,
                options: d(),
                topic: "com.myapp.mytopic1".into(),
                payload: Payload::empty(),
            },
        ),
        (
            r#"[16,239714735,{"acknowledge":true},"com.myapp.mytopic1",["Hello, world!"]]"#,
            Publish {
                request: 239714735,
                options: d().with("acknowledge", true),
                topic: "com.myapp.mytopic1".into(),
                payload: args(vec!["Hello, world!".into()]),
            },
        ),
        (
            r#"[16,1,{},"t",[],{"a":1.5}]"#,
            Publish {
                request: 1,
                options: d(),
                topic: "t".into(),
                payload: kw(vec![], d().with("a", Value::Float(1.5))),
            },
        ),
        (
            r#"[17,239714735,4429313566]"#,
            Published {
                request: 239714735,
                publication: 4429313566,
            },
        ),
        (
            r#"[32,713845233,{"match":"prefix"},"com.myapp"]"#,
            Subscribe {
                request: 713845233,
                options: d().with("match", "prefix"),
                topic: "com.myapp".into(),
            },
        ),
        (
            r#"[33,713845233,5512315355]"#,
            Subscribed {
                request: 713845233,
                subscription: 5512315355,
            },
        ),
        (
            r#"[34,85346237,5512315355]"#,
            Unsubscribe {
                request: 85346237,
                subscription: 5512315355,
            },
        ),
        (
            r#"[35,85346237]"#,
            Unsubscribed {
                request: 85346237,
                details: Dict::new(),
            },
        ),
        (
            r#"[35,0,{"reason":"wamp.close.kicked","subscription":5512315355}]"#,
            Unsubscribed {
                request: 0,
                details: Dict::new()
                    .with("reason", "wamp.close.kicked")
                    .with("subscription", 5512315355u64),
            },
        ),
        (
            r#"[36,5512315355,4429313566,{},["Hello, world!"]]"#,
            Event {
                subscription: 5512315355,
                publication: 4429313566,
                details: d(),
                payload: args(vec!["Hello, world!".into()]),
            },
        ),
        (
            r#"[36,1,2,{"topic":"a.b"},[null,true,false,-7,18446744073709551615,0.5],{"bin":"\u0000AQID"}]"#,
            Event {
                subscription: 1,
                publication: 2,
                details: d().with("topic", "a.b"),
                payload: kw(
                    vec![
                        Value::Null,
                        true.into(),
                        false.into(),
                        Value::Int(-7),
                        Value::UInt(u64::MAX),
                        Value::Float(0.5),
                    ],
                    d().with("bin", Value::Bytes(vec![1, 2, 3])),
                ),
            },
        ),
        (
            r#"[48,7814135,{},"com.myapp.ping"]"#,
            Call {
                request: 7814135,
                options: d(),
                procedure: "com.myapp.ping".into(),
                payload: Payload::empty(),
            },
        ),
        (
            r#"[48,7814135,{},"com.myapp.add2",[23,7]]"#,
            Call {
                request: 7814135,
                options: d(),
                procedure: "com.myapp.add2".into(),
                payload: args(vec![Value::Int(23), Value::Int(7)]),
            },
        ),
        (
            r#"[49,7814135,{"mode":"kill"}]"#,
            Cancel {
                request: 7814135,
                options: d().with("mode", "kill"),
            },
        ),
        (
            r#"[50,7814135,{},[30]]"#,
            Result {
                request: 7814135,
                details: d(),
                payload: args(vec![Value::Int(30)]),
            },
        ),
        (
            r#"[50,7814135,{"progress":true},[],{"karma":10,"userid":123}]"#,
            Result {
                request: 7814135,
                details: d().with("progress", true),
                payload: kw(vec![], d().with("karma", 10i64).with("userid", 123i64)),
            },
        ),
        (
            r#"[64,25349185,{},"com.myapp.myprocedure1"]"#,
            Register {
                request: 25349185,
                options: d(),
                procedure: "com.myapp.myprocedure1".into(),
            },
        ),
        (
            r#"[65,25349185,2103333224]"#,
            Registered {
                request: 25349185,
                registration: 2103333224,
            },
        ),
        (
            r#"[66,788923562,2103333224]"#,
            Unregister {
                request: 788923562,
                registration: 2103333224,
            },
        ),
        (
            r#"[67,788923562]"#,
            Unregistered {
                request: 788923562,
                details: Dict::new(),
            },
        ),
        (
            r#"[67,0,{"registration":2103333224}]"#,
            Unregistered {
                request: 0,
                details: Dict::new().with("registration", 2103333224u64),
            },
        ),
        (
            r#"[68,6131533,9823526,{},["johnny"],{"firstname":"John"}]"#,
            Invocation {
                request: 6131533,
                registration: 9823526,
                details: d(),
                payload: kw(vec!["johnny".into()], d().with("firstname", "John")),
            },
        ),
        (
            r#"[69,6131533,{"mode":"killnowait"}]"#,
            Interrupt {
                request: 6131533,
                options: d().with("mode", "killnowait"),
            },
        ),
        (
            r#"[70,6131533,{},["Hello"]]"#,
            Yield {
                request: 6131533,
                options: d(),
                payload: args(vec!["Hello".into()]),
            },
        ),
    ]
}

/// A string that JSON can carry as a string: not starting with NUL (that marks binary).
pub fn text() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|s| match s.strip_prefix('\0') {
        Some(rest) => format!("x{rest}"),
        None => s,
    })
}

/// Any value both serializers round-trip exactly: finite floats, and `UInt` only above
/// `i64::MAX` (smaller unsigned integers decode as `Int`).
pub fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        ((i64::MAX as u64 + 1)..=u64::MAX).prop_map(Value::UInt),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::Float),
        text().prop_map(Value::Str),
        vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::List),
            vec((text(), inner), 0..6).prop_map(|kv| Value::Dict(Dict(kv))),
        ]
    })
}

/// Any dict of arbitrary values.
pub fn dict() -> impl Strategy<Value = Dict> {
    vec((text(), value()), 0..4).prop_map(Dict)
}

fn id() -> impl Strategy<Value = u64> {
    0..=MAX_ID
}

/// Any payload, in the form a decoder returns it: kwargs always come with args (possibly
/// empty), since that is how the wire carries them.
pub fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        Just(Payload::empty()),
        vec(value(), 0..4).prop_map(Payload::args),
        (vec(value(), 0..4), dict()).prop_map(|(a, k)| Payload {
            args: Some(a),
            kwargs: Some(k)
        }),
    ]
}

/// Any message of any type.
pub fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (text(), dict()).prop_map(|(realm, details)| Message::Hello { realm, details }),
        (id(), dict()).prop_map(|(session, details)| Message::Welcome { session, details }),
        (dict(), text()).prop_map(|(details, reason)| Message::Abort { details, reason }),
        (text(), dict()).prop_map(|(method, extra)| Message::Challenge { method, extra }),
        (text(), dict()).prop_map(|(signature, extra)| Message::Authenticate { signature, extra }),
        (dict(), text()).prop_map(|(details, reason)| Message::Goodbye { details, reason }),
        (any::<u64>(), id(), dict(), text(), payload()).prop_map(
            |(request_type, request, details, error, payload)| Message::Error {
                request_type,
                request,
                details,
                error,
                payload
            }
        ),
        (id(), dict(), text(), payload()).prop_map(|(request, options, topic, payload)| {
            Message::Publish {
                request,
                options,
                topic,
                payload,
            }
        }),
        (id(), id()).prop_map(|(request, publication)| Message::Published {
            request,
            publication
        }),
        (id(), dict(), text()).prop_map(|(request, options, topic)| Message::Subscribe {
            request,
            options,
            topic
        }),
        (id(), id()).prop_map(|(request, subscription)| Message::Subscribed {
            request,
            subscription
        }),
        (id(), id()).prop_map(|(request, subscription)| Message::Unsubscribe {
            request,
            subscription
        }),
        id().prop_map(|request| Message::Unsubscribed {
            request,
            details: Dict::new()
        }),
        (id(), id(), dict(), payload()).prop_map(
            |(subscription, publication, details, payload)| Message::Event {
                subscription,
                publication,
                details,
                payload
            }
        ),
        (id(), dict(), text(), payload()).prop_map(|(request, options, procedure, payload)| {
            Message::Call {
                request,
                options,
                procedure,
                payload,
            }
        }),
        (id(), dict()).prop_map(|(request, options)| Message::Cancel { request, options }),
        (id(), dict(), payload()).prop_map(|(request, details, payload)| Message::Result {
            request,
            details,
            payload
        }),
        (id(), dict(), text()).prop_map(|(request, options, procedure)| Message::Register {
            request,
            options,
            procedure
        }),
        (id(), id()).prop_map(|(request, registration)| Message::Registered {
            request,
            registration
        }),
        (id(), id()).prop_map(|(request, registration)| Message::Unregister {
            request,
            registration
        }),
        id().prop_map(|request| Message::Unregistered {
            request,
            details: Dict::new()
        }),
        (id(), id(), dict(), payload()).prop_map(|(request, registration, details, payload)| {
            Message::Invocation {
                request,
                registration,
                details,
                payload,
            }
        }),
        (id(), dict()).prop_map(|(request, options)| Message::Interrupt { request, options }),
        (id(), dict(), payload()).prop_map(|(request, options, payload)| Message::Yield {
            request,
            options,
            payload
        }),
    ]
}

proptest! {
    /// A plain value (the MQTT bridge's native payload) reads back equal on every serializer,
    /// and bytes after it are refused.
    #[test]
    fn plain_values_round_trip(v in value()) {
        for s in [crate::codec::Serializer::Json, crate::codec::Serializer::MsgPack, crate::codec::Serializer::Cbor] {
            let mut out = Vec::new();
            s.encode_value(&v, &mut out);
            prop_assert_eq!(&s.decode_value(&mut out.clone()).unwrap(), &v);
            out.extend_from_slice(if s == crate::codec::Serializer::Json { b"]" } else { b"\x00" });
            prop_assert!(s.decode_value(&mut out).is_err());
        }
    }
}
