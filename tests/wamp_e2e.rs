//! End to end over real sockets: the real binary with `--shards 2`, many connections so the
//! kernel spreads them over both shards (SO_REUSEPORT), driven by our own blocking WAMP client.
//! The invariants are the ones DESIGN.md lists under "Shards and cross-core routing".

mod common;

use std::time::{Duration, Instant};

use common::*;
use ferrobar::wamp::{Dict, Message, Payload, Value};

const SHARDS: usize = 2;
const MAX_ID: u64 = 1 << 53;

/// A client per index, alternating JSON and MessagePack.
fn clients(port: u16, n: usize) -> Vec<WampClient> {
    (0..n)
        .map(|i| WampClient::joined(port, if i % 2 == 0 { JSON } else { MSGPACK }))
        .collect()
}

fn bin(i: usize) -> Value {
    Value::Bytes(
        (0..=(i % 40) as u8)
            .map(|b| b.wrapping_mul(37) ^ 0xA5)
            .chain([0u8, 0xFF])
            .collect(),
    )
}

#[test]
fn welcome_announces_broker_and_dealer_and_distinct_session_ids() {
    let router = Router::start_default(SHARDS);
    let mut ids = Vec::new();
    for i in 0..10 {
        let mut c = WampClient::connect(router.port, if i % 2 == 0 { JSON } else { MSGPACK });
        let details = c.hello("realm1");
        let roles = details
            .get_dict("roles")
            .unwrap_or_else(|| panic!("WELCOME without roles: {details:?}"));
        assert!(
            roles.get_dict("broker").is_some(),
            "WELCOME roles must include broker: {roles:?}"
        );
        assert!(
            roles.get_dict("dealer").is_some(),
            "WELCOME roles must include dealer: {roles:?}"
        );
        assert_eq!(details.get_str("realm"), Some("realm1"), "{details:?}");
        let id = c.session.unwrap();
        assert!(
            (1..=MAX_ID).contains(&id),
            "session id {id} outside [1, 2^53]"
        );
        ids.push(id);
    }
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "session ids must differ: {ids:?}");
}

#[test]
fn hello_for_unknown_realm_is_aborted() {
    let router = Router::start_default(SHARDS);
    let mut c = WampClient::connect(router.port, JSON);
    c.send(&Message::Hello {
        realm: "no.such.realm".into(),
        details: Dict::new(),
    });
    let (reason, _, _) = c.expect_abort_and_close();
    assert_eq!(reason, "wamp.error.no_such_realm");
}

#[test]
fn fanout_in_order_across_serializers_and_shards() {
    const SUBSCRIBERS: usize = 20;
    const EVENTS: usize = 200;
    const TOPIC: &str = "e2e.fanout";
    let router = Router::start_default(SHARDS);
    let mut subs = clients(router.port, SUBSCRIBERS);
    let mut sub_ids = Vec::new();
    for s in &mut subs {
        sub_ids.push(s.subscribe(TOPIC));
    }
    assert!(
        sub_ids.iter().all(|&id| id == sub_ids[0]),
        "one subscription id for all subscribers: {sub_ids:?}"
    );

    let mut publisher = WampClient::joined(router.port, JSON);
    publisher.subscribe(TOPIC);
    let payload = |i: usize| {
        let kwargs = Dict::new()
            .with("seq", i as u64)
            .with("bin", bin(i))
            .with("text", format!("event number {i} \u{e9}\u{1F600}"))
            .with(
                "nested",
                Dict::new().with(
                    "list",
                    vec![Value::Null, Value::Bool(true), Value::Float(1.5)],
                ),
            );
        args_kwargs(
            vec![Value::Int(i as i64), bin(i + 1), Value::Str("a".into())],
            kwargs,
        )
    };
    let requests: Vec<u64> = (0..EVENTS)
        .map(|i| publisher.publish_nowait(TOPIC, Dict::new().with("acknowledge", true), payload(i)))
        .collect();
    for (i, request) in requests.iter().enumerate() {
        match publisher.expect_msg("PUBLISHED") {
            Message::Published {
                request: r,
                publication,
            } => {
                assert_eq!(r, *request, "PUBLISHED {i} answers the request in order");
                assert!((1..=MAX_ID).contains(&publication));
            }
            other => panic!(
                "publisher: expected PUBLISHED {i}, got {other:?} (exclude_me defaults to true)"
            ),
        }
    }

    for (n, s) in subs.iter_mut().enumerate() {
        for i in 0..EVENTS {
            match s.expect_msg("EVENT") {
                Message::Event {
                    subscription,
                    payload: got,
                    ..
                } => {
                    assert_eq!(subscription, sub_ids[n]);
                    assert_eq!(
                        got,
                        payload(i),
                        "subscriber {n} ({:?}), event {i}",
                        s.serializer
                    );
                }
                other => panic!("subscriber {n}: expected EVENT {i}, got {other:?}"),
            }
        }
    }

    // exclude_me=false: the publisher gets its own event too, and it is the first event it
    // gets (so none of the 200 before reached it). Subscribers get it right after the 200.
    let own = args(vec![Value::Str("mine".into()), bin(3)]);
    let request = publisher.publish_nowait(
        TOPIC,
        Dict::new()
            .with("exclude_me", false)
            .with("acknowledge", true),
        own.clone(),
    );
    let mut got_event = false;
    let mut got_published = false;
    for _ in 0..2 {
        match publisher.expect_msg("EVENT and PUBLISHED") {
            Message::Event { payload, .. } if payload == own && !got_event => got_event = true,
            Message::Published { request: r, .. } if r == request && !got_published => {
                got_published = true
            }
            other => panic!("publisher: expected its own event and PUBLISHED, got {other:?}"),
        }
    }
    for (n, s) in subs.iter_mut().enumerate() {
        match s.expect_msg("EVENT") {
            Message::Event { payload, .. } => {
                assert_eq!(payload, own, "subscriber {n}: event {EVENTS}")
            }
            other => panic!("subscriber {n}: expected EVENT {EVENTS}, got {other:?}"),
        }
    }
}

#[test]
fn events_keep_publish_order_across_topics() {
    const TOPICS: usize = 3;
    const EVENTS: i64 = 150;
    let router = Router::start_default(SHARDS);
    let mut subs = clients(router.port, 10);
    for s in &mut subs {
        for t in 0..TOPICS {
            s.subscribe(&format!("e2e.order.t{t}"));
        }
        // And a prefix subscription that matches none of them, to exercise the matcher.
        s.subscribe_with("e2e.order.none", Dict::new().with("match", "prefix"))
            .unwrap();
    }
    let mut publisher = WampClient::joined(router.port, MSGPACK);
    for i in 0..EVENTS {
        let topic = format!("e2e.order.t{}", i as usize % TOPICS);
        publisher.publish_nowait(&topic, Dict::new(), args(vec![Value::Int(i)]));
    }
    for (n, s) in subs.iter_mut().enumerate() {
        for i in 0..EVENTS {
            match s.expect_msg("EVENT") {
                Message::Event { payload, .. } => {
                    assert_eq!(
                        payload,
                        args(vec![Value::Int(i)]),
                        "subscriber {n} ({:?})",
                        s.serializer
                    )
                }
                other => panic!("subscriber {n}: expected EVENT {i}, got {other:?}"),
            }
        }
    }
}

#[test]
fn binary_values_cross_serializers_both_ways() {
    let router = Router::start_default(SHARDS);
    let mut json = WampClient::joined(router.port, JSON);
    let mut mp = WampClient::joined(router.port, MSGPACK);
    json.subscribe("e2e.bin.to_json");
    mp.subscribe("e2e.bin.to_msgpack");
    let blob = Value::Bytes((0u8..=255).collect());
    let payload = args_kwargs(
        vec![blob.clone(), Value::Bytes(Vec::new())],
        Dict::new().with("b", blob.clone()),
    );
    mp.publish_acked("e2e.bin.to_json", Dict::new(), payload.clone());
    assert_eq!(json.expect_event().1, payload, "MessagePack -> JSON");
    json.publish_acked("e2e.bin.to_msgpack", Dict::new(), payload.clone());
    assert_eq!(mp.expect_event().1, payload, "JSON -> MessagePack");

    // And through RPC, both directions.
    mp.register("e2e.bin.echo").unwrap();
    let call = json.call_nowait("e2e.bin.echo", payload.clone());
    let (inv, _, got) = mp.expect_invocation();
    assert_eq!(got, payload, "INVOCATION JSON -> MessagePack");
    mp.yield_result(inv, got);
    assert_eq!(
        json.call_outcome(call),
        Ok(payload),
        "RESULT MessagePack -> JSON"
    );
}

#[test]
fn event_published_right_after_subscribed_is_delivered() {
    let router = Router::start_default(SHARDS);
    // Several subscribers and publishers so that some pairs sit on different shards.
    let mut subs = clients(router.port, 4);
    let mut pubs = clients(router.port, 4);
    for i in 0..50 {
        let topic = format!("e2e.inv.sub.t{i}");
        let (s, p) = (i % 4, (i / 4) % 4);
        subs[s].subscribe(&topic);
        pubs[p].publish_nowait(&topic, Dict::new(), args(vec![Value::Int(i as i64)]));
        match subs[s].recv(T) {
            Some(Message::Event { payload, .. }) => assert_eq!(payload, args(vec![Value::Int(i as i64)])),
            other => panic!("iteration {i} (subscriber {s}, publisher {p}): event published right after SUBSCRIBED not delivered, got {other:?}"),
        }
    }
}

#[test]
fn call_made_right_after_registered_finds_the_procedure() {
    let router = Router::start_default(SHARDS);
    let mut callees = clients(router.port, 4);
    let mut callers = clients(router.port, 4);
    for i in 0..50 {
        let procedure = format!("e2e.inv.reg.p{i}");
        let (e, r) = (i % 4, (i / 4) % 4);
        callees[e].register(&procedure).unwrap();
        let call = callers[r].call_nowait(&procedure, args(vec![Value::Int(i as i64)]));
        let (inv, _, payload) = match callees[e].recv(T) {
            Some(Message::Invocation {
                request,
                registration,
                payload,
                ..
            }) => (request, registration, payload),
            other => {
                let outcome = callers[r].recv(QUIET);
                panic!("iteration {i} (callee {e}, caller {r}): no INVOCATION for a CALL made right after REGISTERED: callee got {other:?}, caller got {outcome:?}")
            }
        };
        callees[e].yield_result(inv, payload);
        assert_eq!(
            callers[r].call_outcome(call),
            Ok(args(vec![Value::Int(i as i64)])),
            "iteration {i}"
        );
    }
}

#[test]
fn abrupt_disconnect_leaves_no_registration_or_subscription() {
    let router = Router::start_default(SHARDS);
    let port = router.port;
    let mut publisher = WampClient::joined(port, MSGPACK);
    let mut other_sub = WampClient::joined(port, JSON);
    for round in 0..6 {
        let procedure = format!("e2e.leave.proc{round}");
        let topic = format!("e2e.leave.topic{round}");
        let mut leaver = WampClient::joined(port, if round % 2 == 0 { JSON } else { MSGPACK });
        leaver.register(&procedure).unwrap();
        let old_sub = leaver.subscribe(&topic);
        leaver.drop_abruptly();

        // Registering the same procedure again succeeds once the close has been processed.
        let mut newcomer = WampClient::joined(port, if round % 2 == 0 { MSGPACK } else { JSON });
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match newcomer.register(&procedure) {
                Ok(_) => break,
                Err(e)
                    if e == "wamp.error.procedure_already_exists" && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    panic!("round {round}: re-registering {procedure} after the callee left: {e}")
                }
            }
        }

        // The leaver's subscription is gone: the subscription it was the only member of was
        // deleted, so a new subscriber gets a new subscription (the same id would mean the
        // departed session still holds it).
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let id = other_sub.subscribe(&topic);
            if id != old_sub {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: the departed session still holds subscription {old_sub} on {topic}"
            );
            other_sub.unsubscribe(id);
            std::thread::sleep(Duration::from_millis(20));
        }
        publisher.publish_acked(&topic, Dict::new(), args(vec![Value::Int(round)]));
        assert_eq!(other_sub.expect_event().1, args(vec![Value::Int(round)]));

        // And calls reach the new callee.
        let mut caller = WampClient::joined(port, JSON);
        let call = caller.call_nowait(&procedure, Payload::empty());
        let (inv, _, _) = newcomer.expect_invocation();
        newcomer.yield_result(inv, args(vec![Value::Str("new".into())]));
        assert_eq!(
            caller.call_outcome(call),
            Ok(args(vec![Value::Str("new".into())]))
        );
    }
}

#[test]
fn rpc_across_connections_with_args_and_kwargs() {
    let router = Router::start_default(SHARDS);
    let mut callees = clients(router.port, 4);
    let mut callers = clients(router.port, 4);
    for (n, callee) in callees.iter_mut().enumerate() {
        callee.register(&format!("e2e.rpc.add{n}")).unwrap();
    }
    for (r, caller) in callers.iter_mut().enumerate() {
        for (n, callee) in callees.iter_mut().enumerate() {
            let payload = args_kwargs(
                vec![Value::Int(r as i64), Value::Int(n as i64), bin(r + n)],
                Dict::new().with("k", "v"),
            );
            let call = caller.call_nowait(&format!("e2e.rpc.add{n}"), payload.clone());
            let (inv, _, got) = callee.expect_invocation();
            assert_eq!(got, payload, "caller {r} -> callee {n}");
            let result = args_kwargs(
                vec![Value::Int((r + n) as i64)],
                Dict::new().with("bin", bin(n)),
            );
            callee.yield_result(inv, result.clone());
            assert_eq!(
                caller.call_outcome(call),
                Ok(result),
                "caller {r} <- callee {n}"
            );
        }
    }
}

#[test]
fn rpc_errors_no_such_procedure_and_already_exists() {
    let router = Router::start_default(SHARDS);
    let mut clients = clients(router.port, 4);
    let err = clients[0]
        .call("e2e.rpc.nothing", Payload::empty())
        .unwrap_err();
    assert_eq!(err.0, "wamp.error.no_such_procedure");

    clients[1].register("e2e.rpc.taken").unwrap();
    for c in clients.iter_mut() {
        assert_eq!(
            c.register("e2e.rpc.taken"),
            Err("wamp.error.procedure_already_exists".into())
        );
    }
}

#[test]
fn rpc_callee_error_is_forwarded() {
    let router = Router::start_default(SHARDS);
    let mut callee = WampClient::joined(router.port, MSGPACK);
    let mut caller = WampClient::joined(router.port, JSON);
    callee.register("e2e.rpc.fails").unwrap();
    let call = caller.call_nowait("e2e.rpc.fails", args(vec![Value::Int(1)]));
    let (inv, _, _) = callee.expect_invocation();
    let err_payload = args_kwargs(
        vec![Value::Str("bad input".into()), Value::Int(42), bin(7)],
        Dict::new().with("why", "because"),
    );
    callee.send(&Message::Error {
        request_type: 68,
        request: inv,
        details: Dict::new(),
        error: "com.example.error.oops".into(),
        payload: err_payload.clone(),
    });
    assert_eq!(
        caller.call_outcome(call),
        Err(("com.example.error.oops".into(), err_payload))
    );
}

#[test]
fn callee_leaving_mid_call_cancels_the_call() {
    let router = Router::start_default(SHARDS);
    let mut caller = WampClient::joined(router.port, JSON);
    for (round, protocol) in [JSON, MSGPACK].repeat(4).into_iter().enumerate() {
        let procedure = format!("e2e.rpc.hangs{round}");
        let mut callee = WampClient::joined(router.port, protocol);
        callee.register(&procedure).unwrap();
        let call = caller.call_nowait(&procedure, Payload::empty());
        callee.expect_invocation();
        callee.drop_abruptly();
        match caller.call_outcome(call) {
            Err((error, _)) => assert_eq!(error, "wamp.error.canceled", "round {round}"),
            Ok(p) => panic!("round {round}: the call succeeded without a callee: {p:?}"),
        }
    }
}

#[test]
fn goodbye_then_hello_again_on_the_same_connection() {
    let router = Router::start_default(SHARDS);
    for protocol in [JSON, MSGPACK] {
        let mut c = WampClient::joined(router.port, protocol);
        let first = c.session.unwrap();
        c.register("e2e.bye.proc").unwrap();
        match c.goodbye() {
            Message::Goodbye { reason, .. } => assert_eq!(reason, "wamp.close.normal"),
            _ => unreachable!(),
        }
        c.hello("realm1");
        let second = c.session.unwrap();
        assert_ne!(first, second, "a new session id after re-joining");
        // The first session's registration left with it.
        c.register("e2e.bye.proc")
            .expect("the registration of the previous session is gone");
        c.subscribe("e2e.bye.topic");
        let mut p = WampClient::joined(router.port, JSON);
        p.publish_acked("e2e.bye.topic", Dict::new(), args(vec![Value::Int(1)]));
        assert_eq!(c.expect_event().1, args(vec![Value::Int(1)]));
        c.goodbye();
        drop(c);
        drop(p);
    }
}

#[test]
fn sigterm_sends_system_shutdown_and_exits_zero() {
    let router = Router::start_default(SHARDS);
    let mut sessions = clients(router.port, 8);
    // One connection that never joined, and one idle plain-HTTP connection.
    let mut unjoined = WampClient::connect(router.port, MSGPACK);
    let idle_http = std::net::TcpStream::connect(("127.0.0.1", router.port)).unwrap();
    router.terminate();
    for (i, s) in sessions.iter_mut().enumerate() {
        let (seen, _code) = s.expect_closed();
        let reasons: Vec<&str> = seen
            .iter()
            .filter_map(|m| match m {
                Message::Goodbye { reason, .. } => Some(reason.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            reasons,
            ["wamp.close.system_shutdown"],
            "session {i} got {seen:?}"
        );
    }
    let (seen, _) = unjoined.expect_closed();
    assert!(
        seen.is_empty(),
        "a session that never joined gets no GOODBYE: {seen:?}"
    );
    drop(sessions);
    drop(unjoined);
    drop(idle_http);
    let status = router.wait();
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
}

#[test]
fn node_info_page() {
    let router = Router::start_default(SHARDS);
    let r = http_get(router.port, "/info");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "{r:?}"
    );
    assert!(
        r.body.contains("ferrobar"),
        "the info page names ferrobar: {}",
        r.body
    );
    assert!(
        r.body.contains("realm1"),
        "the info page names the realm: {}",
        r.body
    );
}
