//! The io_uring backend (`options.reactor: "io_uring"`) over real sockets: the real binary with
//! `--shards 2`, pub/sub and RPC across serializers and shards, output larger than the socket
//! buffers (short writes, `EAGAIN`, writable events), and a peer that vanishes mid-stream.
//!
//! The whole suite runs on either backend too: `FERROBAR_REACTOR=io_uring cargo test`
//! (the variable picks the backend of every node whose config does not name one).

mod common;

use common::*;
use ferrobar::wamp::{Dict, Payload, Value};
use serde_json::json;

const SHARDS: usize = 2;

/// [`default_config`] with `workers[0].options.reactor` set.
fn config(port: u16, reactor: &str) -> serde_json::Value {
    let mut c = default_config(port);
    c["workers"][0]["options"] = json!({ "reactor": reactor });
    c
}

fn start(reactor: &'static str) -> Router {
    Router::start_with(move |port| config(port, reactor), SHARDS)
}

/// The backend the node says it runs: io_uring, or epoll after the one fallback line where
/// this kernel refuses io_uring (a container's seccomp filter, the `io_uring_disabled` sysctl).
/// Called once a session was served: the line is written before the shards start.
fn assert_backend_logged(router: &Router) {
    let log = router.stderr();
    let io_uring = log.contains("reactor io_uring");
    let fallback = log.contains("refuses io_uring") && log.contains("reactor epoll");
    assert!(
        io_uring || fallback,
        "the start-up log names the backend:\n{log}"
    );
    assert!(
        log.matches("refuses io_uring").count() <= 1,
        "one fallback line at most:\n{log}"
    );
}

fn seq_of(payload: &Payload) -> i64 {
    match payload.args.as_deref() {
        Some([Value::Int(i), ..]) => *i,
        other => panic!("event without a sequence number: {other:?}"),
    }
}

#[test]
fn io_uring_node_routes_pubsub_and_rpc_across_shards_and_serializers() {
    const EVENTS: i64 = 100;
    let router = start("io_uring");
    let mut subs: Vec<WampClient> = (0..8)
        .map(|i| WampClient::joined(router.port, if i % 2 == 0 { JSON } else { MSGPACK }))
        .collect();
    for s in &mut subs {
        s.subscribe("uring.topic");
    }
    let mut publisher = WampClient::joined(router.port, MSGPACK);
    for i in 0..EVENTS {
        let payload = args(vec![Value::Int(i), Value::Str(format!("event {i} \u{e9}"))]);
        publisher.publish_acked("uring.topic", Dict::new(), payload);
    }
    for (n, s) in subs.iter_mut().enumerate() {
        for i in 0..EVENTS {
            let (_, payload) = s.expect_event();
            assert_eq!(
                seq_of(&payload),
                i,
                "subscriber {n}: events in publish order"
            );
            assert_eq!(
                payload.args.as_deref().and_then(|a| a.get(1)),
                Some(&Value::Str(format!("event {i} \u{e9}")))
            );
        }
    }

    let mut callee = WampClient::joined(router.port, JSON);
    callee.register("uring.add").expect("REGISTER");
    let mut callers: Vec<WampClient> = (0..4)
        .map(|i| WampClient::joined(router.port, if i % 2 == 0 { MSGPACK } else { JSON }))
        .collect();
    for (n, caller) in callers.iter_mut().enumerate() {
        let a = n as i64;
        let request = caller.call_nowait("uring.add", args(vec![Value::Int(a), Value::Int(40)]));
        let (invocation, _, payload) = callee.expect_invocation();
        let sum = match payload.args.as_deref() {
            Some([Value::Int(x), Value::Int(y)]) => x + y,
            other => panic!("INVOCATION args: {other:?}"),
        };
        callee.yield_result(invocation, args(vec![Value::Int(sum)]));
        let result = caller.call_outcome(request).expect("RESULT");
        assert_eq!(result.args, Some(vec![Value::Int(a + 40)]));
    }
    assert_backend_logged(&router);
}

/// More output than the kernel's socket buffers hold for subscribers that are not reading:
/// the sends come back short or with `EAGAIN`, the rest waits in the connections' buffers,
/// and it all arrives, in order, once they read. The publisher and a reading subscriber are
/// served as usual meanwhile. (Four subscribers on two shards: some shard has two, so its
/// sends go out as a batch on the ring; a lone send takes `send(2)`.)
#[test]
fn io_uring_output_past_the_socket_buffer_arrives_complete_and_in_order() {
    const EVENTS: i64 = 160;
    let big = "x".repeat(64 * 1024);
    let router = start("io_uring");
    let mut slow: Vec<WampClient> = (0..3)
        .map(|i| WampClient::joined(router.port, if i % 2 == 0 { JSON } else { MSGPACK }))
        .collect();
    for s in &mut slow {
        s.subscribe("uring.big");
    }
    let mut fast = WampClient::joined(router.port, MSGPACK);
    fast.subscribe("uring.big");
    let mut publisher = WampClient::joined(router.port, JSON);
    for i in 0..EVENTS {
        publisher.publish_acked(
            "uring.big",
            Dict::new(),
            args(vec![Value::Int(i), Value::Str(big.clone())]),
        );
        let (_, payload) = fast.expect_event();
        assert_eq!(seq_of(&payload), i);
    }
    for (n, s) in slow.iter_mut().enumerate() {
        for i in 0..EVENTS {
            let (_, payload) = s.expect_event();
            assert_eq!(seq_of(&payload), i, "slow subscriber {n}: events in order");
            assert_eq!(
                payload.args.as_deref().and_then(|a| a.get(1)),
                Some(&Value::Str(big.clone()))
            );
        }
    }
}

/// A subscriber whose socket breaks while events stream to it: its sends fail, it alone is
/// dropped, and the others get every event.
#[test]
fn io_uring_a_vanished_subscriber_affects_only_itself() {
    const EVENTS: i64 = 60;
    let router = start("io_uring");
    let mut doomed = WampClient::joined(router.port, JSON);
    doomed.subscribe("uring.drop");
    let mut survivors: Vec<WampClient> = (0..4)
        .map(|i| WampClient::joined(router.port, if i % 2 == 0 { JSON } else { MSGPACK }))
        .collect();
    for s in &mut survivors {
        s.subscribe("uring.drop");
    }
    let mut publisher = WampClient::joined(router.port, JSON);
    let payload = |i: i64| args(vec![Value::Int(i), Value::Str("y".repeat(4096))]);
    for i in 0..EVENTS / 2 {
        publisher.publish_acked("uring.drop", Dict::new(), payload(i));
    }
    doomed.drop_abruptly();
    for i in EVENTS / 2..EVENTS {
        publisher.publish_acked("uring.drop", Dict::new(), payload(i));
    }
    for s in &mut survivors {
        for i in 0..EVENTS {
            let (_, p) = s.expect_event();
            assert_eq!(seq_of(&p), i);
        }
    }
    // The node still takes new sessions and answers them.
    let mut late = WampClient::joined(router.port, MSGPACK);
    late.subscribe("uring.late");
    publisher.publish_acked("uring.late", Dict::new(), payload(7));
    let (_, p) = late.expect_event();
    assert_eq!(seq_of(&p), 7);
}

/// `epoll` named in the config is what runs, whatever `FERROBAR_REACTOR` says.
#[test]
fn reactor_named_in_the_config_is_the_one_that_runs() {
    let router = start("epoll");
    let mut sub = WampClient::joined(router.port, JSON);
    sub.subscribe("epoll.topic");
    let mut publisher = WampClient::joined(router.port, MSGPACK);
    publisher.publish_acked("epoll.topic", Dict::new(), args(vec![Value::Int(1)]));
    let (_, p) = sub.expect_event();
    assert_eq!(seq_of(&p), 1);
    let log = router.stderr();
    assert!(log.contains("reactor epoll"), "{log}");
    assert!(!log.contains("io_uring"), "{log}");
}
