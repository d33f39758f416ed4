//! The Basic Profile through the core: joining, pub/sub and RPC across shards and serializers,
//! errors users rely on, static permissions, goodbye and shutdown, and random churn that must
//! leave nothing behind.

use super::*;

#[test]
fn welcome_announces_roles_and_anonymous_identity() {
    let mut net = Net::new(1, vec![realm("realm1", allow_all())], 1);
    let conn = net.open(0, Serializer::Json);
    net.send(
        conn,
        Message::Hello {
            realm: "realm1".into(),
            details: Dict::new(),
        },
    );
    let Some(Message::Welcome { session, details }) = net.recv(conn) else {
        panic!("no WELCOME")
    };
    assert!((1..=crate::wamp::id::MAX_ID).contains(&session));
    let roles = details.get_dict("roles").unwrap();
    assert!(roles.get_dict("broker").is_some() && roles.get_dict("dealer").is_some());
    assert_eq!(details.get_str("authrole"), Some("anonymous"));
    assert_eq!(details.get_str("authmethod"), Some("anonymous"));
    assert_eq!(details.get_str("authid").map(str::len), Some(29));
}

#[test]
fn unknown_realm_and_unknown_role_abort() {
    let mut net = Net::new(1, vec![realm("realm1", allow_all())], 2);
    let conn = net.open(0, Serializer::Json);
    net.send(
        conn,
        Message::Hello {
            realm: "nope".into(),
            details: Dict::new(),
        },
    );
    assert!(
        matches!(net.recv(conn), Some(Message::Abort { reason, .. }) if reason == "wamp.error.no_such_realm")
    );
    assert!(net.clients[&conn].closed);

    let mut cfg = realm("r2", allow_all());
    cfg.roles[0].name = "backend".into();
    let mut net = Net::new(1, vec![cfg], 2);
    let conn = net.open(0, Serializer::Json);
    net.send(
        conn,
        Message::Hello {
            realm: "r2".into(),
            details: Dict::new(),
        },
    );
    assert!(
        matches!(net.recv(conn), Some(Message::Abort { reason, .. }) if reason == "wamp.error.no_such_role")
    );
}

#[test]
fn messages_out_of_order_are_protocol_violations() {
    let mut net = Net::new(1, vec![realm("realm1", allow_all())], 3);
    let early = net.open(0, Serializer::Json);
    net.send(
        early,
        Message::Subscribe {
            request: 1,
            options: Dict::new(),
            topic: "a.b".into(),
        },
    );
    match net.recv(early) {
        Some(Message::Abort { reason, details }) => {
            assert_eq!(reason, "wamp.error.protocol_violation");
            assert!(details.get_str("message").unwrap().contains("before HELLO"));
        }
        other => panic!("expected ABORT, got {other:?}"),
    }
    assert!(net.clients[&early].closed);

    let twice = net.join(0, Serializer::Json, "realm1");
    net.send(
        twice,
        Message::Hello {
            realm: "realm1".into(),
            details: Dict::new(),
        },
    );
    assert!(
        matches!(net.recv(twice), Some(Message::Abort { reason, .. }) if reason == "wamp.error.protocol_violation")
    );

    let bad = net.join(0, Serializer::Json, "realm1");
    net.send(
        bad,
        Message::Event {
            subscription: 1,
            publication: 1,
            details: Dict::new(),
            payload: Payload::empty(),
        },
    );
    assert!(matches!(net.recv(bad), Some(Message::Abort { .. })));
    net.assert_empty();
}

#[test]
fn pubsub_across_shards_and_serializers_with_publisher_exclusion() {
    for seed in 0..20 {
        let mut net = Net::new(3, vec![realm("realm1", allow_all())], seed);
        let sub_json = net.join(1, Serializer::Json, "realm1");
        let sub_mp = net.join(2, Serializer::MsgPack, "realm1");
        let publisher = net.join(0, Serializer::MsgPack, "realm1");
        let id1 = net.subscribe(sub_json, "com.myapp.hello");
        let id2 = net.subscribe(sub_mp, "com.myapp.hello");
        assert_eq!(id1, id2, "one subscription id across shards");
        let own = net.subscribe(publisher, "com.myapp.hello");
        assert_eq!(own, id1);

        let args = vec![
            Value::Str("Hello World 0".into()),
            Value::Bytes(vec![0, 1, 255]),
            Value::Int(1 << 53),
        ];
        let request = net.publish(
            publisher,
            "com.myapp.hello",
            args.clone(),
            Dict::new().with("acknowledge", true),
        );
        assert!(
            matches!(net.recv(publisher), Some(Message::Published { request: r, .. }) if r == request)
        );
        assert_eq!(event_args(net.recv(sub_json)), args);
        assert_eq!(event_args(net.recv(sub_mp)), args);
        assert!(
            net.recv(publisher).is_none(),
            "publisher excluded by default"
        );

        net.publish(
            publisher,
            "com.myapp.hello",
            vec![Value::Int(2)],
            Dict::new().with("exclude_me", false),
        );
        assert_eq!(event_args(net.recv(publisher)), vec![Value::Int(2)]);
        for c in [sub_json, sub_mp, publisher] {
            net.close(c);
        }
        net.assert_empty();
    }
}

#[test]
fn events_from_one_publisher_arrive_in_order_across_topics_and_shards() {
    for seed in 0..10 {
        let mut net = Net::new(2, vec![realm("realm1", allow_all())], seed);
        let subscriber = net.join(1, Serializer::Json, "realm1");
        let publisher = net.join(0, Serializer::Json, "realm1");
        net.subscribe(subscriber, "t.a");
        net.subscribe(subscriber, "t.b");
        for i in 0..50 {
            let topic = if i % 3 == 0 { "t.a" } else { "t.b" };
            net.publish(publisher, topic, vec![Value::Int(i)], Dict::new());
        }
        let got: Vec<Value> = net
            .recv_all(subscriber)
            .into_iter()
            .flat_map(|m| event_args(Some(m)))
            .collect();
        assert_eq!(got, (0..50).map(Value::Int).collect::<Vec<_>>());
    }
}

#[test]
fn pattern_subscriptions_carry_the_concrete_topic() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 4);
    let subscriber = net.join(1, Serializer::Json, "realm1");
    let publisher = net.join(0, Serializer::Json, "realm1");
    for (policy, uri) in [("prefix", "com.iot."), ("wildcard", "com.iot..temperature")] {
        let request = net.request(subscriber);
        let options = Dict::new().with("match", policy);
        net.send(
            subscriber,
            Message::Subscribe {
                request,
                options,
                topic: uri.into(),
            },
        );
        assert!(matches!(
            net.recv(subscriber),
            Some(Message::Subscribed { .. })
        ));
    }
    net.publish(
        publisher,
        "com.iot.dev1.temperature",
        vec![Value::Int(21)],
        Dict::new(),
    );
    let events = net.recv_all(subscriber);
    assert_eq!(events.len(), 2, "one event per matching subscription");
    for e in events {
        let Message::Event { details, .. } = e else {
            panic!()
        };
        assert_eq!(details.get_str("topic"), Some("com.iot.dev1.temperature"));
    }
}

#[test]
fn rpc_across_shards_and_a_call_after_registered_always_finds_the_procedure() {
    for seed in 0..20 {
        let mut net = Net::new(3, vec![realm("realm1", allow_all())], seed);
        let callee = net.join(1, Serializer::Json, "realm1");
        let caller = net.join(2, Serializer::MsgPack, "realm1");
        // With only the home shard's reply delivered, shard 2's replica is stale: the callee
        // is not told REGISTERED until shard 2 has it.
        let request = net.request(callee);
        net.cores[1].handle_message(
            callee,
            Message::Register {
                request,
                options: Dict::new(),
                procedure: "com.myapp.date".into(),
            },
        );
        net.collect(1);
        while net.deliver_one(1, 0) {}
        while net.deliver_one(0, 1) {}
        assert!(
            !net.mail[0][2].is_empty(),
            "replica update to shard 2 still in flight"
        );
        assert!(net.recv(callee).is_none(), "REGISTERED before shard 2 knew");
        net.settle();
        let Some(Message::Registered { registration, .. }) = net.recv(callee) else {
            panic!("no REGISTERED")
        };

        let call_request = net.request(caller);
        let payload = Payload {
            args: Some(vec![Value::Int(1)]),
            kwargs: Some(Dict::new().with("k", "v")),
        };
        net.send(
            caller,
            Message::Call {
                request: call_request,
                options: Dict::new(),
                procedure: "com.myapp.date".into(),
                payload: payload.clone(),
            },
        );
        let Some(Message::Invocation {
            request: inv,
            registration: reg,
            payload: got,
            ..
        }) = net.recv(callee)
        else {
            panic!("no INVOCATION")
        };
        assert_eq!(reg, registration);
        assert_eq!(got, payload);
        net.send(
            callee,
            Message::Yield {
                request: inv,
                options: Dict::new(),
                payload: Payload::args(vec!["2026-11-25T00:00:00Z".into()]),
            },
        );
        match net.recv(caller) {
            Some(Message::Result {
                request, payload, ..
            }) => {
                assert_eq!(request, call_request);
                assert_eq!(
                    payload.args,
                    Some(vec![Value::Str("2026-11-25T00:00:00Z".into())])
                );
            }
            other => panic!("expected RESULT, got {other:?}"),
        }
        net.close(caller);
        net.close(callee);
        net.assert_empty();
    }
}

#[test]
fn dealer_errors_users_rely_on() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 5);
    let a = net.join(0, Serializer::Json, "realm1");
    let b = net.join(1, Serializer::Json, "realm1");
    let reg = net.register(a, "com.x.proc");
    let request = net.request(b);
    net.send(
        b,
        Message::Register {
            request,
            options: Dict::new(),
            procedure: "com.x.proc".into(),
        },
    );
    assert_eq!(
        error_uri(net.recv(b)),
        "wamp.error.procedure_already_exists"
    );

    let request = net.request(b);
    net.send(
        b,
        Message::Call {
            request,
            options: Dict::new(),
            procedure: "com.x.none".into(),
            payload: Payload::empty(),
        },
    );
    assert_eq!(error_uri(net.recv(b)), "wamp.error.no_such_procedure");

    let request = net.request(b);
    net.send(
        b,
        Message::Unregister {
            request,
            registration: reg,
        },
    );
    assert_eq!(error_uri(net.recv(b)), "wamp.error.no_such_registration");

    let request = net.request(b);
    net.send(
        b,
        Message::Unsubscribe {
            request,
            subscription: 42,
        },
    );
    assert_eq!(error_uri(net.recv(b)), "wamp.error.no_such_subscription");

    let request = net.request(b);
    net.send(
        b,
        Message::Call {
            request,
            options: Dict::new(),
            procedure: "bad uri".into(),
            payload: Payload::empty(),
        },
    );
    assert_eq!(error_uri(net.recv(b)), "wamp.error.invalid_uri");

    let request = net.request(b);
    net.send(
        b,
        Message::Register {
            request,
            options: Dict::new(),
            procedure: "wamp.session.count".into(),
        },
    );
    assert_eq!(error_uri(net.recv(b)), "wamp.error.invalid_uri");

    // The callee's error reaches the caller with its URI and arguments.
    let request = net.request(b);
    net.send(
        b,
        Message::Call {
            request,
            options: Dict::new(),
            procedure: "com.x.proc".into(),
            payload: Payload::empty(),
        },
    );
    let Some(Message::Invocation { request: inv, .. }) = net.recv(a) else {
        panic!()
    };
    let payload = Payload::args(vec!["went wrong".into()]);
    net.send(
        a,
        Message::Error {
            request_type: 68,
            request: inv,
            details: Dict::new(),
            error: "com.myapp.error1".into(),
            payload: payload.clone(),
        },
    );
    match net.recv(b) {
        Some(Message::Error {
            request_type: 48,
            request: r,
            error,
            payload: p,
            ..
        }) => {
            assert_eq!(
                (r, error.as_str(), p),
                (request, "com.myapp.error1", payload)
            );
        }
        other => panic!("expected ERROR, got {other:?}"),
    }

    let request = net.request(a);
    net.send(
        a,
        Message::Unregister {
            request,
            registration: reg,
        },
    );
    assert!(matches!(net.recv(a), Some(Message::Unregistered { request: r, .. }) if r == request));
    let request = net.request(b);
    net.send(
        b,
        Message::Call {
            request,
            options: Dict::new(),
            procedure: "com.x.proc".into(),
            payload: Payload::empty(),
        },
    );
    assert_eq!(error_uri(net.recv(b)), "wamp.error.no_such_procedure");
    net.close(a);
    net.close(b);
    net.assert_empty();
}

#[test]
fn callee_leaving_mid_call_cancels_and_caller_leaving_is_forgotten() {
    for seed in 0..10 {
        let mut net = Net::new(2, vec![realm("realm1", allow_all())], seed);
        let callee = net.join(1, Serializer::Json, "realm1");
        let caller = net.join(0, Serializer::Json, "realm1");
        net.register(callee, "com.slow");
        let request = net.request(caller);
        net.send(
            caller,
            Message::Call {
                request,
                options: Dict::new(),
                procedure: "com.slow".into(),
                payload: Payload::empty(),
            },
        );
        assert!(matches!(net.recv(callee), Some(Message::Invocation { .. })));
        net.close(callee);
        assert_eq!(error_uri(net.recv(caller)), "wamp.error.canceled");

        let callee = net.join(1, Serializer::Json, "realm1");
        net.register(callee, "com.slow");
        let request = net.request(caller);
        net.send(
            caller,
            Message::Call {
                request,
                options: Dict::new(),
                procedure: "com.slow".into(),
                payload: Payload::empty(),
            },
        );
        let Some(Message::Invocation { request: inv, .. }) = net.recv(callee) else {
            panic!()
        };
        net.close(caller);
        net.send(
            callee,
            Message::Yield {
                request: inv,
                options: Dict::new(),
                payload: Payload::empty(),
            },
        );
        net.close(callee);
        net.assert_empty();
    }
}

#[test]
fn reused_call_request_id_is_a_protocol_violation() {
    let mut net = Net::new(1, vec![realm("realm1", allow_all())], 6);
    let callee = net.join(0, Serializer::Json, "realm1");
    let caller = net.join(0, Serializer::Json, "realm1");
    net.register(callee, "com.slow");
    for _ in 0..2 {
        net.send(
            caller,
            Message::Call {
                request: 7,
                options: Dict::new(),
                procedure: "com.slow".into(),
                payload: Payload::empty(),
            },
        );
    }
    assert!(
        matches!(net.recv(caller), Some(Message::Abort { reason, .. }) if reason == "wamp.error.protocol_violation")
    );
    assert!(net.clients[&caller].closed);
    net.close(caller);
    net.close(callee);
    net.assert_empty();
}

#[test]
fn static_permissions_are_enforced_and_disclose_identity() {
    let permissions = vec![
        perm(
            "com.public.",
            MatchPolicy::Prefix,
            Allow {
                subscribe: true,
                publish: true,
                ..Allow::default()
            },
            Disclose {
                publisher: true,
                caller: false,
            },
        ),
        perm(
            "com.rpc.",
            MatchPolicy::Prefix,
            Allow {
                call: true,
                register: true,
                ..Allow::default()
            },
            Disclose {
                publisher: false,
                caller: true,
            },
        ),
    ];
    let mut net = Net::new(2, vec![realm("realm1", permissions)], 7);
    let a = net.join(0, Serializer::Json, "realm1");
    let b = net.join(1, Serializer::Json, "realm1");
    let request = net.request(a);
    net.send(
        a,
        Message::Subscribe {
            request,
            options: Dict::new(),
            topic: "com.private.x".into(),
        },
    );
    assert_eq!(error_uri(net.recv(a)), "wamp.error.not_authorized");
    let request = net.request(a);
    net.send(
        a,
        Message::Register {
            request,
            options: Dict::new(),
            procedure: "com.public.p".into(),
        },
    );
    assert_eq!(error_uri(net.recv(a)), "wamp.error.not_authorized");
    let request = net.publish(
        a,
        "com.private.x",
        vec![],
        Dict::new().with("acknowledge", true),
    );
    assert!(
        matches!(net.recv(a), Some(Message::Error { request: r, error, .. }) if r == request && error == "wamp.error.not_authorized")
    );
    net.publish(a, "com.private.x", vec![], Dict::new());
    assert!(net.recv(a).is_none(), "unacknowledged refusals are silent");

    net.subscribe(b, "com.public.news");
    net.publish(a, "com.public.news", vec![Value::Int(1)], Dict::new());
    let Some(Message::Event { details, .. }) = net.recv(b) else {
        panic!("no EVENT")
    };
    assert_eq!(
        details.get("publisher").and_then(Value::as_u64),
        Some(net.clients[&a].session)
    );

    net.register(b, "com.rpc.add");
    let request = net.request(a);
    net.send(
        a,
        Message::Call {
            request,
            options: Dict::new(),
            procedure: "com.rpc.add".into(),
            payload: Payload::empty(),
        },
    );
    let Some(Message::Invocation { details, .. }) = net.recv(b) else {
        panic!("no INVOCATION")
    };
    assert_eq!(
        details.get("caller").and_then(Value::as_u64),
        Some(net.clients[&a].session)
    );
    assert_eq!(details.get_str("caller_authrole"), Some("anonymous"));
}

#[test]
fn goodbye_is_answered_and_the_transport_can_join_again() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 8);
    let conn = net.join(0, Serializer::Json, "realm1");
    net.subscribe(conn, "a.b");
    net.register(conn, "a.c");
    net.send(
        conn,
        Message::Goodbye {
            details: Dict::new(),
            reason: "wamp.close.close_realm".into(),
        },
    );
    assert!(
        matches!(net.recv(conn), Some(Message::Goodbye { reason, .. }) if reason == "wamp.close.normal")
    );
    assert!(!net.clients[&conn].closed);
    net.assert_empty();
    net.send(
        conn,
        Message::Hello {
            realm: "realm1".into(),
            details: Dict::new(),
        },
    );
    assert!(matches!(net.recv(conn), Some(Message::Welcome { .. })));
}

#[test]
fn shutdown_says_goodbye_to_every_session() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 9);
    let a = net.join(0, Serializer::Json, "realm1");
    let b = net.join(1, Serializer::MsgPack, "realm1");
    net.subscribe(a, "x.y");
    for shard in 0..2 {
        net.cores[shard].shutdown();
        net.collect(shard);
    }
    for c in [a, b] {
        assert!(
            matches!(net.recv(c), Some(Message::Goodbye { reason, .. }) if reason == "wamp.close.system_shutdown")
        );
        assert!(net.clients[&c].closed);
    }
}

#[test]
fn random_churn_leaves_nothing_behind() {
    for seed in 0..30 {
        let mut net = Net::new(3, vec![realm("realm1", allow_all())], seed);
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut live: Vec<ConnId> = Vec::new();
        for step in 0..300 {
            let choice = rng.random_range(0..10);
            if live.is_empty() || choice == 0 {
                let shard = rng.random_range(0..3);
                live.push(net.join(shard, Serializer::Json, "realm1"));
                continue;
            }
            let conn = live[rng.random_range(0..live.len())];
            let topic = format!("t.{}", rng.random_range(0..4));
            let request = net.request(conn);
            let msg = match choice {
                1 | 2 => Message::Subscribe {
                    request,
                    options: Dict::new(),
                    topic,
                },
                3 => Message::Publish {
                    request,
                    options: Dict::new(),
                    topic,
                    payload: Payload::args(vec![Value::Int(step)]),
                },
                4 => Message::Register {
                    request,
                    options: Dict::new(),
                    procedure: topic,
                },
                5 | 6 => Message::Call {
                    request,
                    options: Dict::new(),
                    procedure: topic,
                    payload: Payload::empty(),
                },
                _ => {
                    live.retain(|c| *c != conn);
                    net.close(conn);
                    continue;
                }
            };
            net.send(conn, msg);
            // Answer some invocations, leave others pending.
            for c in live.clone() {
                for m in net.recv_all(c) {
                    if let Message::Invocation { request, .. } = m {
                        if rng.random_range(0..2) == 0 {
                            net.send(
                                c,
                                Message::Yield {
                                    request,
                                    options: Dict::new(),
                                    payload: Payload::empty(),
                                },
                            );
                        }
                    }
                }
            }
        }
        for c in live {
            net.close(c);
        }
        net.assert_empty();
    }
}
