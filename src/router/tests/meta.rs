//! The meta API and testaments: realm-wide answers whichever shard asks, meta events delivered
//! like any other event.

use super::*;

pub(super) fn meta(
    net: &mut Net,
    conn: ConnId,
    procedure: &str,
    args: Vec<Value>,
    kwargs: Option<Dict>,
) -> Result<Value, String> {
    let request = net.request(conn);
    let payload = Payload {
        args: Some(args),
        kwargs,
    };
    net.send(
        conn,
        Message::Call {
            request,
            options: Dict::new(),
            procedure: procedure.into(),
            payload,
        },
    );
    match net.recv(conn) {
        Some(Message::Result {
            request: r,
            payload,
            ..
        }) if r == request => Ok(payload
            .args
            .and_then(|a| a.into_iter().next())
            .unwrap_or(Value::Null)),
        Some(Message::Error {
            request: r, error, ..
        }) if r == request => Err(error),
        other => panic!("expected RESULT or ERROR for {procedure}, got {other:?}"),
    }
}

fn ids(v: Value) -> Vec<u64> {
    let mut ids: Vec<u64> = v
        .as_list()
        .unwrap_or(&[])
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn session_meta_answers_the_same_on_every_shard() {
    for seed in 0..5 {
        let mut net = Net::new(3, vec![realm("realm1", allow_all())], seed);
        let conns: Vec<ConnId> = (0..3)
            .map(|s| net.join(s, Serializer::Json, "realm1"))
            .collect();
        let mut all: Vec<u64> = conns.iter().map(|c| net.clients[c].session).collect();
        all.sort_unstable();
        for &c in &conns {
            assert_eq!(
                meta(&mut net, c, "wamp.session.count", vec![], None),
                Ok(Value::Int(3))
            );
            assert_eq!(
                ids(meta(&mut net, c, "wamp.session.list", vec![], None).unwrap()),
                all
            );
        }
        let target = net.clients[&conns[2]].session;
        let details = meta(
            &mut net,
            conns[0],
            "wamp.session.get",
            vec![target.into()],
            None,
        )
        .unwrap();
        let details = details.as_dict().unwrap();
        assert_eq!(details.get("session").and_then(Value::as_u64), Some(target));
        assert_eq!(details.get_str("authrole"), Some("anonymous"));
        assert_eq!(details.get_str("realm"), Some("realm1"));
        let none = meta(
            &mut net,
            conns[0],
            "wamp.session.get",
            vec![Value::Int(42)],
            None,
        );
        assert_eq!(none, Err("wamp.error.no_such_session".into()));
        // An id written as an integral float (JavaScript's cbor-x writes ids above 2^32 as
        // float64) is the same id, as Crossbar takes it; a fraction is not an id.
        let float = meta(
            &mut net,
            conns[0],
            "wamp.session.get",
            vec![Value::Float(target as f64)],
            None,
        );
        assert_eq!(float.ok().as_ref().and_then(Value::as_dict), Some(details));
        let fraction = meta(
            &mut net,
            conns[0],
            "wamp.session.get",
            vec![Value::Float(1.5)],
            None,
        );
        assert_eq!(fraction, Err("wamp.error.invalid_argument".into()));
        let count = meta(
            &mut net,
            conns[0],
            "wamp.session.count",
            vec![names(&["nobody"])],
            None,
        );
        assert_eq!(count, Ok(Value::Int(0)));
    }
}

fn names(v: &[&str]) -> Value {
    Value::List(v.iter().map(|&s| Value::from(s)).collect())
}

#[test]
fn join_and_leave_events_and_kill() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 31);
    let watcher = net.join(1, Serializer::Json, "realm1");
    net.subscribe(watcher, "wamp.session.on_join");
    net.subscribe(watcher, "wamp.session.on_leave");
    let victim = net.join(0, Serializer::MsgPack, "realm1");
    let victim_id = net.clients[&victim].session;
    match net.recv(watcher) {
        Some(Message::Event { payload, .. }) => {
            let details = payload.args.unwrap()[0].as_dict().cloned().unwrap();
            assert_eq!(
                details.get("session").and_then(Value::as_u64),
                Some(victim_id)
            );
        }
        other => panic!("expected on_join, got {other:?}"),
    }
    let admin = net.join(1, Serializer::Json, "realm1");
    net.recv_all(watcher);
    let killed = meta(
        &mut net,
        admin,
        "wamp.session.kill",
        vec![victim_id.into()],
        Some(Dict::new().with("message", "bye")),
    );
    assert_eq!(killed, Ok(Value::Null));
    match net.recv(victim) {
        Some(Message::Goodbye { reason, details }) => {
            assert_eq!(reason, "wamp.close.killed");
            assert_eq!(details.get_str("message"), Some("bye"));
        }
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    match net.recv(watcher) {
        Some(Message::Event { payload, .. }) => {
            assert_eq!(payload.args.unwrap()[0].as_u64(), Some(victim_id))
        }
        other => panic!("expected on_leave, got {other:?}"),
    }
    // The killed client's GOODBYE reply is accepted; it may join again.
    net.send(
        victim,
        Message::Goodbye {
            details: Dict::new(),
            reason: "wamp.close.goodbye_and_out".into(),
        },
    );
    assert!(net.recv(victim).is_none());
    net.send(
        victim,
        Message::Hello {
            realm: "realm1".into(),
            details: Dict::new(),
        },
    );
    assert!(matches!(net.recv(victim), Some(Message::Welcome { .. })));
    net.recv_all(watcher);
    let own = net.clients[&watcher].session;
    assert_eq!(
        meta(
            &mut net,
            watcher,
            "wamp.session.kill",
            vec![own.into()],
            None
        ),
        Err("wamp.error.no_such_session".into())
    );
}

#[test]
fn kill_by_authid_and_all_spare_the_caller() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 32);
    let conns: Vec<ConnId> = (0..4)
        .map(|i| net.join(i % 2, Serializer::Json, "realm1"))
        .collect();
    let killed = meta(&mut net, conns[0], "wamp.session.kill_all", vec![], None).unwrap();
    assert_eq!(ids(killed).len(), 3);
    for &c in &conns[1..] {
        assert!(matches!(net.recv(c), Some(Message::Goodbye { .. })));
    }
    assert_eq!(
        meta(&mut net, conns[0], "wamp.session.count", vec![], None),
        Ok(Value::Int(1))
    );
    let authid = "nobody-has-this";
    assert_eq!(
        ids(meta(
            &mut net,
            conns[0],
            "wamp.session.kill_by_authid",
            vec![authid.into()],
            None
        )
        .unwrap()),
        Vec::<u64>::new()
    );
}

#[test]
fn subscription_meta_and_events() {
    for seed in 0..5 {
        let mut net = Net::new(3, vec![realm("realm1", allow_all())], seed);
        let watcher = net.join(0, Serializer::Json, "realm1");
        for t in [
            "wamp.subscription.on_create",
            "wamp.subscription.on_subscribe",
            "wamp.subscription.on_unsubscribe",
            "wamp.subscription.on_delete",
        ] {
            let request = net.request(watcher);
            net.send(
                watcher,
                Message::Subscribe {
                    request,
                    options: Dict::new(),
                    topic: t.into(),
                },
            );
        }
        let subscribed = net
            .recv_all(watcher)
            .into_iter()
            .filter(|m| matches!(m, Message::Subscribed { .. }))
            .count();
        assert_eq!(subscribed, 4);
        let a = net.join(1, Serializer::Json, "realm1");
        let b = net.join(2, Serializer::Json, "realm1");
        let sub = net.subscribe(a, "com.iot.temp");
        assert_eq!(net.subscribe(b, "com.iot.temp"), sub);
        let request = net.request(b);
        net.send(
            b,
            Message::Subscribe {
                request,
                options: Dict::new().with("match", "prefix"),
                topic: "com.iot.".into(),
            },
        );
        let Some(Message::Subscribed {
            subscription: prefix_sub,
            ..
        }) = net.recv(b)
        else {
            panic!()
        };
        let topics: Vec<String> = net
            .recv_all(watcher)
            .into_iter()
            .map(|m| match m {
                Message::Event { subscription, .. } => subscription.to_string(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(topics.len(), 5, "2 on_create + 3 on_subscribe");

        let list = meta(&mut net, watcher, "wamp.subscription.list", vec![], None).unwrap();
        let list = list.as_dict().unwrap();
        assert_eq!(ids(list.get("exact").cloned().unwrap()), vec![sub]);
        assert_eq!(ids(list.get("prefix").cloned().unwrap()), vec![prefix_sub]);
        assert_eq!(
            meta(
                &mut net,
                watcher,
                "wamp.subscription.lookup",
                vec!["com.iot.temp".into()],
                None
            ),
            Ok(Value::from(sub))
        );
        let opts = Dict::new().with("match", "prefix");
        assert_eq!(
            meta(
                &mut net,
                watcher,
                "wamp.subscription.lookup",
                vec!["com.iot.".into(), opts.into()],
                None
            ),
            Ok(Value::from(prefix_sub))
        );
        let mut both = vec![sub, prefix_sub];
        both.sort_unstable();
        assert_eq!(
            ids(meta(
                &mut net,
                watcher,
                "wamp.subscription.match",
                vec!["com.iot.temp".into()],
                None
            )
            .unwrap()),
            both
        );
        assert_eq!(
            meta(
                &mut net,
                watcher,
                "wamp.subscription.match",
                vec!["org.none".into()],
                None
            ),
            Ok(Value::Null)
        );
        let mut subscribers = vec![net.clients[&a].session, net.clients[&b].session];
        subscribers.sort_unstable();
        assert_eq!(
            ids(meta(
                &mut net,
                watcher,
                "wamp.subscription.list_subscribers",
                vec![sub.into()],
                None
            )
            .unwrap()),
            subscribers
        );
        assert_eq!(
            meta(
                &mut net,
                watcher,
                "wamp.subscription.count_subscribers",
                vec![sub.into()],
                None
            ),
            Ok(Value::Int(2))
        );
        let got = meta(
            &mut net,
            watcher,
            "wamp.subscription.get",
            vec![sub.into()],
            None,
        )
        .unwrap();
        assert_eq!(got.as_dict().unwrap().get_str("uri"), Some("com.iot.temp"));
        assert_eq!(
            meta(
                &mut net,
                watcher,
                "wamp.subscription.get",
                vec![Value::Int(5)],
                None
            ),
            Err("wamp.error.no_such_subscription".into())
        );
        // The watcher's own meta subscriptions are protected and not listed to non-trusted callers.
        assert_eq!(
            meta(
                &mut net,
                watcher,
                "wamp.subscription.lookup",
                vec!["wamp.subscription.on_create".into()],
                None
            ),
            Ok(Value::Null)
        );

        // remove_subscriber: the subscriber stops receiving events.
        let a_session = net.clients[&a].session;
        assert_eq!(
            meta(
                &mut net,
                watcher,
                "wamp.subscription.remove_subscriber",
                vec![sub.into(), a_session.into()],
                None
            ),
            Ok(Value::Null)
        );
        let publisher = net.join(0, Serializer::Json, "realm1");
        net.recv_all(watcher);
        net.publish(publisher, "com.iot.temp", vec![], Dict::new());
        assert!(net.recv(a).is_none());
        assert_eq!(net.recv_all(b).len(), 2, "b gets it on both subscriptions");
        net.close(b);
        let events = net.recv_all(watcher).len();
        assert_eq!(
            events, 4,
            "b was last on both subscriptions: 2 on_unsubscribe + 2 on_delete"
        );
    }
}

#[test]
fn registration_meta() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 33);
    let watcher = net.join(0, Serializer::Json, "realm1");
    net.subscribe(watcher, "wamp.registration.on_create");
    net.subscribe(watcher, "wamp.registration.on_register");
    net.recv_all(watcher);
    let a = net.join(1, Serializer::Json, "realm1");
    let b = net.join(0, Serializer::Json, "realm1");
    for c in [a, b] {
        let request = net.request(c);
        net.send(
            c,
            Message::Register {
                request,
                options: Dict::new().with("invoke", "roundrobin"),
                procedure: "com.work".into(),
            },
        );
        assert!(matches!(net.recv(c), Some(Message::Registered { .. })));
    }
    assert_eq!(
        net.recv_all(watcher).len(),
        3,
        "one on_create, two on_register"
    );
    let reg = meta(
        &mut net,
        watcher,
        "wamp.registration.lookup",
        vec!["com.work".into()],
        None,
    )
    .unwrap()
    .as_u64()
    .unwrap();
    assert_eq!(
        meta(
            &mut net,
            watcher,
            "wamp.registration.match",
            vec!["com.work".into()],
            None
        ),
        Ok(Value::from(reg))
    );
    assert_eq!(
        meta(
            &mut net,
            watcher,
            "wamp.registration.count_callees",
            vec![reg.into()],
            None
        ),
        Ok(Value::Int(2))
    );
    let got = meta(
        &mut net,
        watcher,
        "wamp.registration.get",
        vec![reg.into()],
        None,
    )
    .unwrap();
    assert_eq!(got.as_dict().unwrap().get_str("invoke"), Some("roundrobin"));
    let list = meta(&mut net, watcher, "wamp.registration.list", vec![], None).unwrap();
    assert_eq!(
        ids(list.as_dict().unwrap().get("exact").cloned().unwrap()),
        vec![reg]
    );
    let a_session = net.clients[&a].session;
    assert_eq!(
        meta(
            &mut net,
            watcher,
            "wamp.registration.remove_callee",
            vec![reg.into(), a_session.into()],
            None
        ),
        Ok(Value::Null)
    );
    assert_eq!(
        ids(meta(
            &mut net,
            watcher,
            "wamp.registration.list_callees",
            vec![reg.into()],
            None
        )
        .unwrap()),
        vec![net.clients[&b].session]
    );
    assert_eq!(
        meta(
            &mut net,
            watcher,
            "wamp.registration.get",
            vec![Value::Int(9)],
            None
        ),
        Err("wamp.error.no_such_registration".into())
    );
}

#[test]
fn testaments_are_published_when_the_session_is_lost() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 34);
    let watcher = net.join(1, Serializer::Json, "realm1");
    net.subscribe(watcher, "com.device.offline");
    let device = net.join(0, Serializer::MsgPack, "realm1");
    let args = vec![
        "com.device.offline".into(),
        Value::List(vec!["dev-7".into()]),
        Dict::new().with("why", "lost").into(),
    ];
    assert_eq!(
        meta(
            &mut net,
            device,
            "wamp.session.add_testament",
            args.clone(),
            None
        ),
        Ok(Value::Null)
    );
    net.close(device);
    match net.recv(watcher) {
        Some(Message::Event { payload, .. }) => {
            assert_eq!(payload.args, Some(vec!["dev-7".into()]));
            assert_eq!(payload.kwargs.unwrap().get_str("why"), Some("lost"));
        }
        other => panic!("expected the testament, got {other:?}"),
    }
    // Flushed testaments are not published.
    let device = net.join(0, Serializer::Json, "realm1");
    meta(&mut net, device, "wamp.session.add_testament", args, None).unwrap();
    assert_eq!(
        meta(
            &mut net,
            device,
            "wamp.session.flush_testaments",
            vec![],
            None
        ),
        Ok(Value::Int(1))
    );
    net.close(device);
    assert!(net.recv(watcher).is_none());
}

#[test]
fn event_history_is_kept_for_configured_topics_only() {
    let mut cfg = realm("realm1", allow_all());
    cfg.store = Some(crate::config::StoreConfig {
        limit: 100,
        event_history: vec![crate::config::HistoryRule {
            uri: "com.iot.temp".into(),
            match_policy: MatchPolicy::Exact,
            limit: 3,
        }],
    });
    for seed in 0..3 {
        let mut net = Net::new(2, vec![cfg.clone()], seed);
        let publisher = net.join(1, Serializer::Json, "realm1");
        let reader = net.join(0, Serializer::MsgPack, "realm1");
        let sub = net.subscribe(reader, "com.iot.temp");
        let other = net.subscribe(reader, "com.iot.humidity");
        for i in 0..5 {
            net.publish(publisher, "com.iot.temp", vec![Value::Int(i)], Dict::new());
            net.publish(
                publisher,
                "com.iot.humidity",
                vec![Value::Int(i)],
                Dict::new(),
            );
        }
        net.recv_all(reader);
        let events = meta(
            &mut net,
            reader,
            "wamp.subscription.get_events",
            vec![sub.into()],
            None,
        )
        .unwrap();
        let args: Vec<Value> = events
            .as_list()
            .unwrap()
            .iter()
            .map(|e| e.as_dict().unwrap().get("args").unwrap().as_list().unwrap()[0].clone())
            .collect();
        assert_eq!(
            args,
            vec![Value::Int(4), Value::Int(3), Value::Int(2)],
            "newest first, limited to 3"
        );
        let two = meta(
            &mut net,
            reader,
            "wamp.subscription.get_events",
            vec![sub.into(), Value::Int(2)],
            None,
        )
        .unwrap();
        assert_eq!(two.as_list().unwrap().len(), 2);
        let none = meta(
            &mut net,
            reader,
            "wamp.subscription.get_events",
            vec![other.into()],
            None,
        );
        assert_eq!(none, Err("wamp.error.history_unavailable".into()));
    }
}

#[test]
fn meta_api_can_be_disabled_per_realm() {
    let mut cfg = realm("realm1", allow_all());
    cfg.enable_meta_api = false;
    let mut net = Net::new(2, vec![cfg], 35);
    let c = net.join(0, Serializer::Json, "realm1");
    assert_eq!(
        meta(&mut net, c, "wamp.session.count", vec![], None),
        Err("wamp.error.no_such_procedure".into())
    );
}

/// HELLO details announcing registration revocation, as Autobahn|Python's do.
fn revocable() -> Dict {
    let features = Dict::new().with("registration_revocation", true);
    Dict::new().with(
        "roles",
        Dict::new().with("callee", Dict::new().with("features", features)),
    )
}

#[test]
fn removed_callees_are_told_when_they_announced_revocation() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 34);
    let admin = net.join(0, Serializer::Json, "realm1");
    let told = net.join_with(1, Serializer::Json, "realm1", revocable());
    let silent = net.join(1, Serializer::Json, "realm1");
    let reg = net.register(told, "com.work");
    let sub = net.subscribe(told, "com.watched");
    let (told_session, silent_session) = (net.clients[&told].session, net.clients[&silent].session);
    let reason = Value::Str("com.example.kicked".into());
    let remove = "wamp.registration.remove_callee";
    let args = vec![reg.into(), told_session.into(), reason.clone()];
    assert_eq!(meta(&mut net, admin, remove, args, None), Ok(Value::Null));
    match net.recv(told) {
        Some(Message::Unregistered {
            request: 0,
            details,
        }) => {
            assert_eq!(
                details.get("registration").and_then(Value::as_u64),
                Some(reg)
            );
            assert_eq!(details.get_str("reason"), Some("com.example.kicked"));
        }
        other => panic!("expected UNREGISTERED 0, got {other:?}"),
    }
    // A callee that did not announce it is removed all the same, without a message; the
    // reason is optional.
    let other = net.register(silent, "com.other");
    let args = vec![other.into(), silent_session.into()];
    assert_eq!(meta(&mut net, admin, remove, args, None), Ok(Value::Null));
    assert!(net.recv(silent).is_none());
    // A removed subscriber is not told (Autobahn|Python fails its connection on it), with or
    // without a reason.
    let args = vec![sub.into(), told_session.into(), reason];
    let unsubscribe = "wamp.subscription.remove_subscriber";
    assert_eq!(
        meta(&mut net, admin, unsubscribe, args, None),
        Ok(Value::Null)
    );
    assert!(net.recv(told).is_none());
    // The router's WELCOME announces registration revocation only.
    let conn = net.open(0, Serializer::Json);
    let hello = Message::Hello {
        realm: "realm1".into(),
        details: Dict::new(),
    };
    net.send(conn, hello);
    let Some(Message::Welcome { details, .. }) = net.recv(conn) else {
        panic!("expected WELCOME");
    };
    let roles = details.get_dict("roles").expect("roles");
    let feature = |role: &str, name: &str| {
        roles
            .get_dict(role)
            .and_then(|r| r.get_dict("features"))
            .and_then(|f| f.get_bool(name))
    };
    assert_eq!(feature("dealer", "registration_revocation"), Some(true));
    assert_eq!(feature("broker", "subscription_revocation"), None);
    // A reason that is not a string is refused.
    let again = net.register(silent, "com.again");
    let args = vec![again.into(), silent_session.into(), Value::Int(1)];
    assert_eq!(
        meta(&mut net, admin, remove, args, None),
        Err("wamp.error.invalid_argument".into())
    );
}
