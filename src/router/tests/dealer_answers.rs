//! What a caller and a callee get beyond the call itself, as other client libraries (wampy.js,
//! xconn) rely on: the callee named in RESULT details, CALL timeouts in either unit, refused
//! progressive calls ending once, and answers too large for their peer.

use std::time::Duration;

use super::dealer::{call, canceling_callee, invocation, register_with, yield_to};
use super::*;
use crate::config::CallTimeoutUnit;

fn realm_with(name: &str, unit: CallTimeoutUnit, disclose_callee: bool) -> RealmConfig {
    let mut config = realm(name, allow_all());
    config.call_timeout_unit = unit;
    config.disclose_callee = disclose_callee;
    config
}

fn result_details(msg: Option<Message>) -> Dict {
    match msg {
        Some(Message::Result { details, .. }) => details,
        other => panic!("expected RESULT, got {other:?}"),
    }
}

fn welcome_dealer_features(net: &mut Net, realm: &str) -> Dict {
    let conn = net.open(0, Serializer::Json);
    net.send(
        conn,
        Message::Hello {
            realm: realm.into(),
            details: Dict::new(),
        },
    );
    match net.recv(conn) {
        Some(Message::Welcome { details, .. }) => details
            .get_dict("roles")
            .and_then(|r| r.get_dict("dealer"))
            .and_then(|d| d.get_dict("features"))
            .cloned()
            .expect("dealer features"),
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

#[test]
fn result_details_name_the_callee_unless_the_realm_withholds_it() {
    let realms = vec![
        realm_with("realm1", CallTimeoutUnit::Seconds, true),
        realm_with("hidden", CallTimeoutUnit::Seconds, false),
    ];
    let mut net = Net::new(2, realms, 31);
    for (realm, disclosed) in [("realm1", true), ("hidden", false)] {
        let callee = net.join_with(1, Serializer::Json, realm, canceling_callee());
        let caller = net.join(0, Serializer::Json, realm);
        register_with(&mut net, callee, "com.echo", Dict::new());
        let callee_session = net.clients[&callee].session;
        let options = Dict::new().with("receive_progress", true);
        call(&mut net, caller, "com.echo", options, vec![]);
        let (inv, _, _) = invocation(net.recv(callee));
        let progress = Dict::new().with("progress", true);
        yield_to(&mut net, callee, inv, progress, vec![Value::Int(1)]);
        yield_to(&mut net, callee, inv, Dict::new(), vec![Value::Int(2)]);
        for details in [
            result_details(net.recv(caller)),
            result_details(net.recv(caller)),
        ] {
            if disclosed {
                // Crossbar's dealer always adds these, on progressive results too.
                assert_eq!(
                    details.get("callee").and_then(Value::as_u64),
                    Some(callee_session)
                );
                // Anonymous authids are random, as Crossbar's.
                assert!(details
                    .get_str("callee_authid")
                    .is_some_and(|a| !a.is_empty()));
                assert_eq!(details.get_str("callee_authrole"), Some("anonymous"));
            } else {
                for key in ["callee", "callee_authid", "callee_authrole"] {
                    assert!(details.get(key).is_none(), "{realm}: {key} in {details:?}");
                }
            }
        }
    }
}

#[test]
fn call_timeout_is_announced_only_where_the_realm_reads_milliseconds() {
    let realms = vec![
        realm_with("realm1", CallTimeoutUnit::Seconds, true),
        realm_with("realm-ms", CallTimeoutUnit::Millis, true),
    ];
    let mut net = Net::new(1, realms, 32);
    let seconds = welcome_dealer_features(&mut net, "realm1");
    assert!(seconds.get("call_timeout").is_none(), "{seconds:?}");
    assert_eq!(seconds.get_bool("call_canceling"), Some(true));
    let millis = welcome_dealer_features(&mut net, "realm-ms");
    assert_eq!(millis.get_bool("call_timeout"), Some(true));
}

#[test]
fn a_realm_on_milliseconds_times_calls_out_with_wamp_error_timeout() {
    let realms = vec![realm_with("realm-ms", CallTimeoutUnit::Millis, true)];
    let mut net = Net::new(2, realms, 33);
    let callee = net.join_with(1, Serializer::Json, "realm-ms", canceling_callee());
    let caller = net.join(0, Serializer::Json, "realm-ms");
    register_with(&mut net, callee, "com.slow", Dict::new());
    let request = call(
        &mut net,
        caller,
        "com.slow",
        Dict::new().with("timeout", 400u64),
        vec![],
    );
    let (inv, details, _) = invocation(net.recv(callee));
    assert_eq!(details.get("timeout").and_then(Value::as_u64), Some(400));
    net.advance(Duration::from_millis(350));
    assert!(net.recv(caller).is_none());
    net.advance(Duration::from_millis(100));
    match net.recv(caller) {
        Some(Message::Error {
            request: r, error, ..
        }) => {
            assert_eq!(r, request);
            assert_eq!(error, "wamp.error.timeout");
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
    assert!(matches!(net.recv(callee), Some(Message::Interrupt { request, .. }) if request == inv));
}

/// A caller streams three chunks to a callee that cannot take progressive invocations.
fn refused_progressive_call(net: &mut Net, settle_each: bool) -> (ConnId, ConnId, u64) {
    let plain = net.join(1, Serializer::Json, "realm1");
    let caller = net.join(0, Serializer::Json, "realm1");
    register_with(net, plain, "com.upload", Dict::new());
    let request = net.request(caller);
    for (i, more) in [true, true, false].into_iter().enumerate() {
        let msg = Message::Call {
            request,
            options: Dict::new().with("progress", more),
            procedure: "com.upload".into(),
            payload: Payload::args(vec![(i as u64).into()]),
        };
        if settle_each {
            net.send(caller, msg);
        } else {
            net.send_unsettled(caller, msg);
        }
    }
    net.settle();
    (caller, plain, request)
}

#[test]
fn a_refused_progressive_call_ends_once_and_never_invokes_the_callee() {
    // Whether the refusal comes back before the next chunk or after the last one.
    for (seed, settle_each) in [(34, true), (35, false), (36, true), (37, false)] {
        let mut net = Net::new(2, vec![realm("realm1", allow_all())], seed);
        let (caller, plain, request) = refused_progressive_call(&mut net, settle_each);
        let answers = net.recv_all(caller);
        assert_eq!(answers.len(), 1, "one answer, got {answers:?}");
        assert!(
            matches!(&answers[0], Message::Error { request: r, error, .. }
            if *r == request && error == "wamp.error.feature_not_supported")
        );
        assert!(net.recv(plain).is_none(), "the callee was invoked");
        // The last chunk freed the request id: a plain call with it works.
        net.send(
            caller,
            Message::Call {
                request,
                options: Dict::new(),
                procedure: "com.upload".into(),
                payload: Payload::args(vec![]),
            },
        );
        let (inv, _, _) = invocation(net.recv(plain));
        yield_to(&mut net, plain, inv, Dict::new(), vec![]);
        assert!(
            matches!(net.recv(caller), Some(Message::Result { request: r, .. }) if r == request)
        );
        net.close(caller);
        net.close(plain);
        net.assert_empty();
    }
}

#[test]
fn chunks_after_a_callees_early_answer_are_dropped() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 38);
    let callee = net.join_with(1, Serializer::Json, "realm1", canceling_callee());
    let caller = net.join(0, Serializer::Json, "realm1");
    register_with(&mut net, callee, "com.upload", Dict::new());
    let request = call(
        &mut net,
        caller,
        "com.upload",
        Dict::new().with("progress", true),
        vec![Value::Int(0)],
    );
    let (inv, _, _) = invocation(net.recv(callee));
    // The callee refuses the upload after its first chunk.
    net.send(
        callee,
        Message::Error {
            request_type: MessageType::Invocation.code(),
            request: inv,
            details: Dict::new(),
            error: "com.example.too_big".into(),
            payload: Payload::empty(),
        },
    );
    assert_eq!(error_uri(net.recv(caller)), "com.example.too_big");
    for more in [true, false] {
        let msg = Message::Call {
            request,
            options: Dict::new().with("progress", more),
            procedure: "com.upload".into(),
            payload: Payload::args(vec![Value::Int(1)]),
        };
        net.send(caller, msg);
    }
    assert!(net.recv(callee).is_none(), "a chunk became a new call");
    assert!(net.recv(caller).is_none());
}

#[test]
fn receive_progress_reaches_a_callee_that_did_not_announce_progressive_results() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 39);
    let callee = net.join(1, Serializer::Json, "realm1");
    let caller = net.join(0, Serializer::Json, "realm1");
    register_with(&mut net, callee, "com.count", Dict::new());
    let options = Dict::new().with("receive_progress", true);
    call(&mut net, caller, "com.count", options, vec![]);
    let (inv, details, _) = invocation(net.recv(callee));
    assert_eq!(details.get_bool("receive_progress"), Some(true));
    yield_to(
        &mut net,
        callee,
        inv,
        Dict::new().with("progress", true),
        vec![],
    );
    let progress = result_details(net.recv(caller));
    assert_eq!(progress.get_bool("progress"), Some(true));
    // A progressive YIELD for a caller that did not ask for progress is not forwarded.
    call(&mut net, caller, "com.count", Dict::new(), vec![]);
    let (inv, _, _) = invocation(net.recv(callee));
    yield_to(
        &mut net,
        callee,
        inv,
        Dict::new().with("progress", true),
        vec![],
    );
    assert!(net.recv(caller).is_none());
    yield_to(&mut net, callee, inv, Dict::new(), vec![]);
    let done = result_details(net.recv(caller));
    assert!(done.get("progress").is_none());
}

const SMALL: usize = 1024;

fn big() -> Vec<Value> {
    vec![Value::Str("x".repeat(2 * SMALL))]
}

#[test]
fn a_result_too_large_for_its_caller_becomes_an_error() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 40);
    let callee = net.join(1, Serializer::Json, "realm1");
    let caller = net.join_limited(0, "realm1", Dict::new(), SMALL);
    register_with(&mut net, callee, "com.big", Dict::new());
    let request = call(&mut net, caller, "com.big", Dict::new(), vec![]);
    let (inv, _, _) = invocation(net.recv(callee));
    yield_to(&mut net, callee, inv, Dict::new(), big());
    match net.recv(caller) {
        Some(Message::Error {
            request: r,
            error,
            payload,
            ..
        }) => {
            assert_eq!(r, request);
            assert_eq!(error, "wamp.error.invalid_argument");
            let message = payload.args.unwrap_or_default();
            let text = message.first().and_then(Value::as_str).unwrap_or("");
            assert!(text.contains("exceeds the 1024 bytes"), "{text}");
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
    assert!(!net.clients[&caller].closed);
    // The session goes on: a small result still arrives.
    let request = call(&mut net, caller, "com.big", Dict::new(), vec![]);
    let (inv, _, _) = invocation(net.recv(callee));
    yield_to(&mut net, callee, inv, Dict::new(), vec![Value::Int(1)]);
    assert!(matches!(net.recv(caller), Some(Message::Result { request: r, .. }) if r == request));
    // A callee's application error too large for the caller is refused the same way.
    call(&mut net, caller, "com.big", Dict::new(), vec![]);
    let (inv, _, _) = invocation(net.recv(callee));
    net.send(
        callee,
        Message::Error {
            request_type: MessageType::Invocation.code(),
            request: inv,
            details: Dict::new(),
            error: "com.example.failed".into(),
            payload: Payload::args(big()),
        },
    );
    assert_eq!(error_uri(net.recv(caller)), "wamp.error.invalid_argument");
}

#[test]
fn a_progressive_result_too_large_ends_the_call_and_interrupts_the_callee() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 41);
    let callee = net.join_with(1, Serializer::Json, "realm1", canceling_callee());
    let caller = net.join_limited(0, "realm1", Dict::new(), SMALL);
    register_with(&mut net, callee, "com.stream", Dict::new());
    let options = Dict::new().with("receive_progress", true);
    let request = call(&mut net, caller, "com.stream", options, vec![]);
    let (inv, _, _) = invocation(net.recv(callee));
    yield_to(
        &mut net,
        callee,
        inv,
        Dict::new().with("progress", true),
        big(),
    );
    assert_eq!(error_uri(net.recv(caller)), "wamp.error.invalid_argument");
    assert!(matches!(net.recv(callee), Some(Message::Interrupt { request, .. }) if request == inv));
    // Whatever the callee still sends for it is dropped.
    yield_to(&mut net, callee, inv, Dict::new(), vec![]);
    assert!(net.recv(caller).is_none(), "answer after the call ended");
    let _ = request;
    net.close(caller);
    net.close(callee);
    net.assert_empty();
}

#[test]
fn an_invocation_too_large_for_its_callee_fails_the_call() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 42);
    let callee = net.join_limited(1, "realm1", Dict::new(), SMALL);
    let caller = net.join(0, Serializer::Json, "realm1");
    register_with(&mut net, callee, "com.small", Dict::new());
    let request = call(&mut net, caller, "com.small", Dict::new(), big());
    match net.recv(caller) {
        Some(Message::Error {
            request: r, error, ..
        }) => {
            assert_eq!(r, request);
            assert_eq!(error, "wamp.error.invalid_argument");
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
    assert!(net.recv(callee).is_none());
    assert!(!net.clients[&callee].closed);
    // The callee still serves calls that fit.
    let request = call(
        &mut net,
        caller,
        "com.small",
        Dict::new(),
        vec![Value::Int(1)],
    );
    let (inv, _, _) = invocation(net.recv(callee));
    yield_to(&mut net, callee, inv, Dict::new(), vec![]);
    assert!(matches!(net.recv(caller), Some(Message::Result { request: r, .. }) if r == request));
}

#[test]
fn registered_is_sent_once_every_shard_can_route_to_the_new_callee() {
    // Home shard 0; the first callee on shard 1, the newest on shard 2, the caller on shard 1.
    let mut net = Net::new(3, vec![realm("realm1", allow_all())], 43);
    let first = net.join(1, Serializer::Json, "realm1");
    let newest = net.join(2, Serializer::Json, "realm1");
    let caller = net.join(1, Serializer::Json, "realm1");
    let last = Dict::new().with("invoke", "last");
    register_with(&mut net, first, "com.l", last.clone());
    let request = net.request(newest);
    net.send_unsettled(
        newest,
        Message::Register {
            request,
            options: last,
            procedure: "com.l".into(),
        },
    );
    assert!(net.deliver_one(2, 0));
    // The home shard's answer arrives before shard 1's replica has the new callee.
    assert!(net.deliver_one(0, 2));
    assert!(net.recv(newest).is_none(), "REGISTERED before shard 1 knew");
    assert!(net.deliver_one(0, 1));
    assert!(net.deliver_one(1, 2));
    assert!(matches!(
        net.recv(newest),
        Some(Message::Registered { request: r, .. }) if r == request
    ));
    // Called right after REGISTERED was received: the newest callee is the last one.
    call(&mut net, caller, "com.l", Dict::new(), vec![]);
    invocation(net.recv(newest));
    assert!(net.recv(first).is_none());
    net.close(newest);
    net.close(first);
    net.close(caller);
    net.assert_empty();
}

#[test]
fn registers_in_flight_with_one_request_id_each_get_their_answer() {
    // Found by the session fuzzer (fuzz/regressions/session/register-leave-1): a client reuses
    // a request id for two REGISTERs whose answers wait for the other shards; the second
    // overwrote the first, which then stayed registered after the session left.
    let mut net = Net::new(3, vec![realm("realm1", allow_all())], 44);
    let callee = net.join(0, Serializer::Json, "realm1");
    let request = net.request(callee);
    for procedure in ["com.a", "com.b"] {
        net.send_unsettled(
            callee,
            Message::Register {
                request,
                options: Dict::new(),
                procedure: procedure.into(),
            },
        );
    }
    net.settle();
    let answers = net.recv_all(callee);
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert!(answers
        .iter()
        .all(|m| matches!(m, Message::Registered { request: r, .. } if *r == request)));
    net.close(callee);
    net.assert_empty();
}
