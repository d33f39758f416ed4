//! Limits and timeouts through the core: the HELLO timeout, `max_sessions` across shards,
//! outstanding calls per session, slow consumers and dropped-event reports.

use super::*;

#[test]
fn a_connection_without_hello_is_closed_after_the_hello_timeout() {
    let mut net = Net::new(1, vec![realm("realm1", allow_all())], 40);
    let silent = net.open(0, Serializer::Json);
    let joined = net.join(0, Serializer::Json, "realm1");
    net.advance(std::time::Duration::from_secs(9));
    assert!(!net.clients[&silent].closed);
    net.advance(std::time::Duration::from_secs(2));
    match net.recv(silent) {
        Some(Message::Abort { reason, details }) => {
            assert_eq!(reason, "wamp.error.protocol_violation");
            assert!(details.get_str("message").unwrap().contains("no HELLO"));
        }
        other => panic!("expected ABORT, got {other:?}"),
    }
    assert!(net.clients[&silent].closed);
    assert!(
        !net.clients[&joined].closed,
        "a joined session is not affected"
    );
}

#[test]
fn max_sessions_is_enforced_across_shards() {
    let mut cfg = realm("realm1", allow_all());
    cfg.max_sessions = Some(2);
    let mut net = Net::new(2, vec![cfg], 41);
    let a = net.join(0, Serializer::Json, "realm1");
    net.join(1, Serializer::Json, "realm1");
    let third = net.open(1, Serializer::Json);
    net.send(
        third,
        Message::Hello {
            realm: "realm1".into(),
            details: Dict::new(),
        },
    );
    assert!(matches!(net.recv(third), Some(Message::Abort { reason, .. }) if reason == REALM_FULL));
    net.close(a);
    net.join(0, Serializer::Json, "realm1");
}

#[test]
fn outstanding_calls_per_session_are_bounded() {
    let mut net = Net::with_limits(1, vec![realm("realm1", allow_all())], 42, 3);
    let callee = net.join(0, Serializer::Json, "realm1");
    let caller = net.join(0, Serializer::Json, "realm1");
    net.register(callee, "com.slow");
    for _ in 0..3 {
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
    }
    assert!(net.recv(caller).is_none());
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
    assert_eq!(error_uri(net.recv(caller)), TOO_MANY_CALLS);
    assert_eq!(net.recv_all(callee).len(), 3);
}

#[test]
fn a_slow_consumer_is_told_why_it_is_closed() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 43);
    let slow = net.join(1, Serializer::MsgPack, "realm1");
    net.subscribe(slow, "com.x");
    net.cores[1].handle_slow_consumer(slow);
    net.collect(1);
    net.settle();
    match net.recv(slow) {
        Some(Message::Goodbye { reason, .. }) => assert_eq!(reason, SLOW_CONSUMER),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    assert!(net.clients[&slow].closed);
    net.close(slow);
    net.assert_empty();
}

#[test]
fn dropped_events_are_reported_to_sessions_that_ask() {
    let mut net = Net::new(1, vec![realm("realm1", allow_all())], 44);
    let watcher = net.join(0, Serializer::Json, "realm1");
    let plain = net.join(0, Serializer::Json, "realm1");
    let sub = net.subscribe(watcher, EVENTS_DROPPED_TOPIC);
    net.cores[0].handle_events_dropped(watcher, 42);
    net.cores[0].handle_events_dropped(plain, 7);
    net.collect(0);
    match net.recv(watcher) {
        Some(Message::Event {
            subscription,
            payload,
            ..
        }) => {
            assert_eq!(subscription, sub);
            assert_eq!(payload.args.unwrap()[0], Value::Int(42));
        }
        other => panic!("expected EVENT, got {other:?}"),
    }
    assert!(
        net.recv(plain).is_none(),
        "only subscribers of the topic are told"
    );
}
