//! Broker features of the Advanced Profile: subscriber black/white listing, publisher
//! identification on request, event retention, payload pass-through options.

use super::*;

fn ids(v: &[u64]) -> Value {
    Value::List(v.iter().map(|&i| Value::from(i)).collect())
}

fn names(v: &[&str]) -> Value {
    Value::List(v.iter().map(|&s| Value::from(s)).collect())
}

fn roles_realm() -> RealmConfig {
    let mut cfg = realm("realm1", allow_all());
    let mut backend = cfg.roles[0].clone();
    backend.name = "backend".into();
    cfg.roles.push(backend);
    cfg
}

fn join_as(net: &mut Net, shard: usize, role: &str, authid: &str) -> ConnId {
    let conn = net.open(shard, Serializer::Json);
    let auth = AnonymousAuth {
        role: role.into(),
        authid: Some(authid.into()),
    };
    let config = crate::config::AuthConfig {
        methods: vec![crate::config::AuthMethodConfig::Anonymous(
            crate::config::Authenticator::Static(auth),
        )],
    };
    net.cores[shard].sessions.get_mut(conn).unwrap().auth = Arc::new(config);
    net.send(
        conn,
        Message::Hello {
            realm: "realm1".into(),
            details: Dict::new(),
        },
    );
    let Some(Message::Welcome { session, .. }) = net.recv(conn) else {
        panic!("no WELCOME")
    };
    net.clients.get_mut(&conn).unwrap().session = session;
    conn
}

#[test]
fn black_and_white_listing_by_session_authid_and_authrole() {
    for seed in 0..5 {
        let mut net = Net::new(2, vec![roles_realm()], seed);
        let alice = join_as(&mut net, 0, "anonymous", "alice");
        let bob = join_as(&mut net, 1, "backend", "bob");
        let carol = join_as(&mut net, 1, "anonymous", "carol");
        let publisher = net.join(0, Serializer::MsgPack, "realm1");
        for c in [alice, bob, carol] {
            net.subscribe(c, "com.news");
        }
        let session = |net: &Net, c: ConnId| net.clients[&c].session;
        let cases: Vec<(Dict, Vec<ConnId>)> = vec![
            (
                Dict::new().with("exclude", ids(&[session(&net, alice)])),
                vec![bob, carol],
            ),
            (
                Dict::new().with("eligible", ids(&[session(&net, alice), session(&net, bob)])),
                vec![alice, bob],
            ),
            (
                Dict::new().with("exclude_authid", names(&["bob"])),
                vec![alice, carol],
            ),
            (
                Dict::new().with("eligible_authid", names(&["carol"])),
                vec![carol],
            ),
            (
                Dict::new().with("exclude_authrole", names(&["backend"])),
                vec![alice, carol],
            ),
            (
                Dict::new().with("eligible_authrole", names(&["backend"])),
                vec![bob],
            ),
            (
                Dict::new()
                    .with("eligible_authrole", names(&["anonymous"]))
                    .with("exclude", ids(&[session(&net, carol)])),
                vec![alice],
            ),
        ];
        for (i, (options, expected)) in cases.into_iter().enumerate() {
            net.publish(publisher, "com.news", vec![Value::Int(i as i64)], options);
            for c in [alice, bob, carol] {
                let got = net.recv_all(c).len();
                assert_eq!(
                    got,
                    usize::from(expected.contains(&c)),
                    "case {i}, seed {seed}"
                );
            }
        }
        let request = net.publish(
            publisher,
            "com.news",
            vec![],
            Dict::new()
                .with("acknowledge", true)
                .with("eligible", Value::Int(3)),
        );
        assert!(
            matches!(net.recv(publisher), Some(Message::Error { request: r, error, .. }) if r == request && error == "wamp.error.invalid_argument")
        );
    }
}

#[test]
fn disclose_me_identifies_the_publisher() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 21);
    let sub = net.join(1, Serializer::Json, "realm1");
    let publisher = net.join(0, Serializer::Json, "realm1");
    net.subscribe(sub, "com.x");
    net.publish(publisher, "com.x", vec![], Dict::new());
    let Some(Message::Event { details, .. }) = net.recv(sub) else {
        panic!()
    };
    assert_eq!(details.get("publisher"), None);
    net.publish(
        publisher,
        "com.x",
        vec![],
        Dict::new().with("disclose_me", true),
    );
    let Some(Message::Event { details, .. }) = net.recv(sub) else {
        panic!()
    };
    assert_eq!(
        details.get("publisher").and_then(Value::as_u64),
        Some(net.clients[&publisher].session)
    );
    assert_eq!(details.get_str("publisher_authrole"), Some("anonymous"));
}

#[test]
fn retained_events_reach_late_subscribers_that_ask_for_them() {
    for seed in 0..5 {
        let mut net = Net::new(3, vec![realm("realm1", allow_all())], seed);
        let publisher = net.join(0, Serializer::Json, "realm1");
        net.publish(
            publisher,
            "com.iot.s1.temp",
            vec![Value::Int(20)],
            Dict::new().with("retain", true),
        );
        net.publish(
            publisher,
            "com.iot.s1.temp",
            vec![Value::Int(21)],
            Dict::new().with("retain", true),
        );
        net.publish(
            publisher,
            "com.iot.s2.temp",
            vec![Value::Int(5)],
            Dict::new().with("retain", true),
        );
        net.publish(
            publisher,
            "com.iot.s3.temp",
            vec![Value::Int(9)],
            Dict::new(),
        );
        let late = net.join(2, Serializer::MsgPack, "realm1");
        let request = net.request(late);
        net.send(
            late,
            Message::Subscribe {
                request,
                options: Dict::new().with("get_retained", true),
                topic: "com.iot.s1.temp".into(),
            },
        );
        assert!(matches!(net.recv(late), Some(Message::Subscribed { .. })));
        match net.recv(late) {
            Some(Message::Event {
                details, payload, ..
            }) => {
                assert_eq!(details.get_bool("retained"), Some(true));
                assert_eq!(
                    payload.args,
                    Some(vec![Value::Int(21)]),
                    "only the last retained event"
                );
            }
            other => panic!("expected the retained EVENT, got {other:?}"),
        }
        assert!(net.recv(late).is_none());
        // A pattern subscription gets every matching retained topic; without get_retained, none.
        let pattern = net.join(1, Serializer::Json, "realm1");
        let request = net.request(pattern);
        let options = Dict::new()
            .with("get_retained", true)
            .with("match", "wildcard");
        net.send(
            pattern,
            Message::Subscribe {
                request,
                options,
                topic: "com.iot..temp".into(),
            },
        );
        assert!(matches!(
            net.recv(pattern),
            Some(Message::Subscribed { .. })
        ));
        let mut topics: Vec<String> = net
            .recv_all(pattern)
            .into_iter()
            .map(|m| match m {
                Message::Event { details, .. } => details.get_str("topic").unwrap().to_owned(),
                other => panic!("{other:?}"),
            })
            .collect();
        topics.sort();
        assert_eq!(topics, vec!["com.iot.s1.temp", "com.iot.s2.temp"]);
        let plain = net.join(1, Serializer::Json, "realm1");
        net.subscribe(plain, "com.iot.s2.temp");
        assert!(net.recv(plain).is_none());
    }
}

#[test]
fn payload_passthru_options_travel_untouched() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 22);
    let sub = net.join(1, Serializer::MsgPack, "realm1");
    let publisher = net.join(0, Serializer::MsgPack, "realm1");
    net.subscribe(sub, "com.secret");
    let options = Dict::new()
        .with("ppt_scheme", "x_custom")
        .with("ppt_serializer", "cbor")
        .with("ppt_cipher", "xsalsa20poly1305")
        .with("ppt_keyid", "k1");
    let blob = vec![Value::Bytes(vec![1, 2, 3, 255])];
    net.publish(publisher, "com.secret", blob.clone(), options);
    let Some(Message::Event {
        details, payload, ..
    }) = net.recv(sub)
    else {
        panic!()
    };
    assert_eq!(details.get_str("ppt_scheme"), Some("x_custom"));
    assert_eq!(details.get_str("ppt_keyid"), Some("k1"));
    assert_eq!(payload.args, Some(blob));
}
