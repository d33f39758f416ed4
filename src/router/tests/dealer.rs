//! Dealer features of the Advanced Profile: shared and pattern-based registrations,
//! progressive results and invocations, call canceling and router-enforced timeouts.

use std::time::Duration;

use super::*;

/// HELLO details of a callee that handles INTERRUPT and progressive results.
pub(super) fn canceling_callee() -> Dict {
    let features = Dict::new()
        .with("call_canceling", true)
        .with("progressive_call_results", true)
        .with("progressive_call_invocations", true);
    let callee = Dict::new().with("features", features);
    Dict::new().with("roles", Dict::new().with("callee", callee))
}

pub(super) fn register_with(
    net: &mut Net,
    conn: ConnId,
    procedure: &str,
    options: Dict,
) -> Option<Message> {
    let request = net.request(conn);
    net.send(
        conn,
        Message::Register {
            request,
            options,
            procedure: procedure.into(),
        },
    );
    net.recv(conn)
}

pub(super) fn call(
    net: &mut Net,
    conn: ConnId,
    procedure: &str,
    options: Dict,
    args: Vec<Value>,
) -> u64 {
    let request = net.request(conn);
    let payload = Payload::args(args);
    net.send(
        conn,
        Message::Call {
            request,
            options,
            procedure: procedure.into(),
            payload,
        },
    );
    request
}

pub(super) fn invocation(msg: Option<Message>) -> (u64, Dict, Payload) {
    match msg {
        Some(Message::Invocation {
            request,
            details,
            payload,
            ..
        }) => (request, details, payload),
        other => panic!("expected INVOCATION, got {other:?}"),
    }
}

pub(super) fn yield_to(
    net: &mut Net,
    callee: ConnId,
    request: u64,
    options: Dict,
    args: Vec<Value>,
) {
    net.send(
        callee,
        Message::Yield {
            request,
            options,
            payload: Payload::args(args),
        },
    );
}

#[test]
fn shared_registration_roundrobin_spreads_calls_over_callees_on_all_shards() {
    let mut net = Net::new(3, vec![realm("realm1", allow_all())], 11);
    let callees: Vec<ConnId> = (0..3)
        .map(|s| net.join(s, Serializer::Json, "realm1"))
        .collect();
    let mut ids = Vec::new();
    for &c in &callees {
        match register_with(
            &mut net,
            c,
            "com.work",
            Dict::new().with("invoke", "roundrobin"),
        ) {
            Some(Message::Registered { registration, .. }) => ids.push(registration),
            other => panic!("expected REGISTERED, got {other:?}"),
        }
    }
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "one registration id for all callees"
    );
    let caller = net.join(1, Serializer::MsgPack, "realm1");
    for i in 0..6 {
        call(
            &mut net,
            caller,
            "com.work",
            Dict::new(),
            vec![Value::Int(i)],
        );
    }
    let counts: Vec<usize> = callees.iter().map(|&c| net.recv_all(c).len()).collect();
    assert_eq!(counts, vec![2, 2, 2]);
}

#[test]
fn first_last_and_policy_conflicts() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 12);
    let a = net.join(0, Serializer::Json, "realm1");
    let b = net.join(1, Serializer::Json, "realm1");
    let caller = net.join(0, Serializer::Json, "realm1");
    assert!(matches!(
        register_with(&mut net, a, "com.f", Dict::new().with("invoke", "first")),
        Some(Message::Registered { .. })
    ));
    assert!(matches!(
        register_with(&mut net, b, "com.f", Dict::new().with("invoke", "first")),
        Some(Message::Registered { .. })
    ));
    call(&mut net, caller, "com.f", Dict::new(), vec![]);
    assert!(matches!(net.recv(a), Some(Message::Invocation { .. })));
    assert!(net.recv(b).is_none());

    assert!(matches!(
        register_with(&mut net, a, "com.l", Dict::new().with("invoke", "last")),
        Some(Message::Registered { .. })
    ));
    assert!(matches!(
        register_with(&mut net, b, "com.l", Dict::new().with("invoke", "last")),
        Some(Message::Registered { .. })
    ));
    call(&mut net, caller, "com.l", Dict::new(), vec![]);
    assert!(matches!(net.recv(b), Some(Message::Invocation { .. })));
    assert!(net.recv(a).is_none());

    let conflict = register_with(
        &mut net,
        caller,
        "com.l",
        Dict::new().with("invoke", "roundrobin"),
    );
    assert_eq!(
        error_uri(conflict),
        "wamp.error.procedure_exists_with_different_invocation_policy"
    );
    // `single` onto a shared registration is a policy conflict too, as in Crossbar; only an
    // existing `single` registration is "already exists".
    let single = register_with(&mut net, caller, "com.l", Dict::new());
    assert_eq!(
        error_uri(single),
        "wamp.error.procedure_exists_with_different_invocation_policy"
    );
    net.register(a, "com.only");
    let shared_onto_single = register_with(
        &mut net,
        caller,
        "com.only",
        Dict::new().with("invoke", "roundrobin"),
    );
    assert_eq!(
        error_uri(shared_onto_single),
        "wamp.error.procedure_already_exists"
    );
    let unknown = register_with(
        &mut net,
        caller,
        "com.x",
        Dict::new().with("invoke", "sometimes"),
    );
    assert_eq!(error_uri(unknown), "wamp.error.invalid_argument");

    // The last callee of a shared registration leaving removes it; the other keeps serving.
    net.close(b);
    call(&mut net, caller, "com.l", Dict::new(), vec![]);
    assert!(matches!(net.recv(a), Some(Message::Invocation { .. })));
}

#[test]
fn pattern_registrations_follow_the_spec_precedence() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 13);
    let exact = net.join(0, Serializer::Json, "realm1");
    let short = net.join(1, Serializer::Json, "realm1");
    let long = net.join(0, Serializer::Json, "realm1");
    let wild = net.join(1, Serializer::Json, "realm1");
    let caller = net.join(0, Serializer::Json, "realm1");
    for (c, uri, policy) in [
        (exact, "com.app.user.get", "exact"),
        (short, "com.app.", "prefix"),
        (long, "com.app.user.", "prefix"),
        (wild, "com..user.list", "wildcard"),
    ] {
        let reply = register_with(&mut net, c, uri, Dict::new().with("match", policy));
        assert!(
            matches!(reply, Some(Message::Registered { .. })),
            "{uri}: {reply:?}"
        );
    }
    for (procedure, expect) in [
        ("com.app.user.get", exact),
        ("com.app.user.delete", long),
        ("com.app.order.get", short),
        ("com.x.user.list", wild),
        ("com.app.user.list", long),
    ] {
        call(&mut net, caller, procedure, Dict::new(), vec![]);
        let (_, details, _) = invocation(net.recv(expect));
        if expect == exact {
            assert_eq!(details.get_str("procedure"), None);
        } else {
            assert_eq!(
                details.get_str("procedure"),
                Some(procedure),
                "concrete URI for {procedure}"
            );
        }
    }
    call(&mut net, caller, "org.none", Dict::new(), vec![]);
    assert_eq!(error_uri(net.recv(caller)), "wamp.error.no_such_procedure");
}

#[test]
fn progressive_results_reach_callers_that_asked_for_them() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 14);
    let callee = net.join_with(1, Serializer::Json, "realm1", canceling_callee());
    let caller = net.join(0, Serializer::MsgPack, "realm1");
    register_with(&mut net, callee, "com.stream", Dict::new());
    let request = call(
        &mut net,
        caller,
        "com.stream",
        Dict::new().with("receive_progress", true),
        vec![],
    );
    let (inv, details, _) = invocation(net.recv(callee));
    assert_eq!(details.get_bool("receive_progress"), Some(true));
    for i in 0..3 {
        yield_to(
            &mut net,
            callee,
            inv,
            Dict::new().with("progress", true),
            vec![Value::Int(i)],
        );
    }
    yield_to(&mut net, callee, inv, Dict::new(), vec![Value::Int(99)]);
    let results = net.recv_all(caller);
    assert_eq!(results.len(), 4);
    for (i, r) in results.into_iter().enumerate() {
        let Message::Result {
            request: r_id,
            details,
            payload,
        } = r
        else {
            panic!("expected RESULT")
        };
        assert_eq!(r_id, request);
        assert_eq!(
            details.get_bool("progress"),
            if i < 3 { Some(true) } else { None }
        );
        assert_eq!(
            payload.args.unwrap()[0],
            Value::Int(if i < 3 { i as i64 } else { 99 })
        );
    }
    // Without receive_progress, progressive yields are not forwarded; the final one is.
    call(&mut net, caller, "com.stream", Dict::new(), vec![]);
    let (inv, details, _) = invocation(net.recv(callee));
    assert_eq!(details.get_bool("receive_progress"), None);
    yield_to(
        &mut net,
        callee,
        inv,
        Dict::new().with("progress", true),
        vec![],
    );
    yield_to(&mut net, callee, inv, Dict::new(), vec![Value::Int(1)]);
    let results = net.recv_all(caller);
    assert_eq!(results.len(), 1);
}

#[test]
fn progressive_call_invocations_stream_into_one_invocation() {
    for seed in 0..5 {
        let mut net = Net::new(3, vec![realm("realm1", allow_all())], seed);
        let callee = net.join_with(2, Serializer::Json, "realm1", canceling_callee());
        let caller = net.join(1, Serializer::Json, "realm1");
        register_with(&mut net, callee, "com.upload", Dict::new());
        let request = net.request(caller);
        for (i, progress) in [true, true, false].into_iter().enumerate() {
            let mut options = Dict::new();
            if progress {
                options.insert("progress", true);
            }
            let payload = Payload::args(vec![Value::Int(i as i64)]);
            net.send(
                caller,
                Message::Call {
                    request,
                    options,
                    procedure: "com.upload".into(),
                    payload,
                },
            );
        }
        let invocations = net.recv_all(callee);
        assert_eq!(invocations.len(), 3, "seed {seed}");
        let first = match &invocations[0] {
            Message::Invocation { request, .. } => *request,
            other => panic!("{other:?}"),
        };
        for (i, m) in invocations.into_iter().enumerate() {
            let (inv, details, payload) = invocation(Some(m));
            assert_eq!(inv, first, "one invocation request id for the stream");
            assert_eq!(
                details.get_bool("progress"),
                if i < 2 { Some(true) } else { None }
            );
            assert_eq!(payload.args.unwrap(), vec![Value::Int(i as i64)]);
        }
        yield_to(
            &mut net,
            callee,
            first,
            Dict::new(),
            vec![Value::Str("done".into())],
        );
        assert!(
            matches!(net.recv(caller), Some(Message::Result { request: r, .. }) if r == request)
        );
    }
}

#[test]
fn cancel_modes() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 15);
    let callee = net.join_with(1, Serializer::Json, "realm1", canceling_callee());
    let caller = net.join(0, Serializer::Json, "realm1");
    register_with(&mut net, callee, "com.slow", Dict::new());

    // skip: the caller gets canceled at once, the callee is not told; its late answer is dropped.
    let request = call(&mut net, caller, "com.slow", Dict::new(), vec![]);
    let (inv, _, _) = invocation(net.recv(callee));
    net.send(
        caller,
        Message::Cancel {
            request,
            options: Dict::new().with("mode", "skip"),
        },
    );
    assert_eq!(error_uri(net.recv(caller)), "wamp.error.canceled");
    assert!(net.recv(callee).is_none());
    yield_to(&mut net, callee, inv, Dict::new(), vec![]);
    assert!(net.recv(caller).is_none());

    // killnowait: canceled at once and the callee gets INTERRUPT.
    let request = call(&mut net, caller, "com.slow", Dict::new(), vec![]);
    let (inv, _, _) = invocation(net.recv(callee));
    net.send(
        caller,
        Message::Cancel {
            request,
            options: Dict::new().with("mode", "killnowait"),
        },
    );
    assert_eq!(error_uri(net.recv(caller)), "wamp.error.canceled");
    match net.recv(callee) {
        Some(Message::Interrupt { request, options }) => {
            assert_eq!(request, inv);
            assert_eq!(options.get_str("mode"), Some("killnowait"));
        }
        other => panic!("expected INTERRUPT, got {other:?}"),
    }

    // kill: the callee gets INTERRUPT and its ERROR ends the call.
    let request = call(&mut net, caller, "com.slow", Dict::new(), vec![]);
    let (inv, _, _) = invocation(net.recv(callee));
    net.send(
        caller,
        Message::Cancel {
            request,
            options: Dict::new().with("mode", "kill"),
        },
    );
    assert!(net.recv(caller).is_none(), "kill waits for the callee");
    assert!(matches!(net.recv(callee), Some(Message::Interrupt { request, .. }) if request == inv));
    let payload = Payload::empty();
    net.send(
        callee,
        Message::Error {
            request_type: 68,
            request: inv,
            details: Dict::new(),
            error: "wamp.error.canceled".into(),
            payload,
        },
    );
    assert_eq!(error_uri(net.recv(caller)), "wamp.error.canceled");

    // kill on a callee without call_canceling behaves as skip.
    let plain = net.join(1, Serializer::Json, "realm1");
    register_with(&mut net, plain, "com.plain", Dict::new());
    let request = call(&mut net, caller, "com.plain", Dict::new(), vec![]);
    invocation(net.recv(plain));
    net.send(
        caller,
        Message::Cancel {
            request,
            options: Dict::new().with("mode", "kill"),
        },
    );
    assert_eq!(error_uri(net.recv(caller)), "wamp.error.canceled");
    assert!(net.recv(plain).is_none());
}

#[test]
fn router_enforces_call_timeouts_in_seconds_like_crossbar() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 16);
    let callee = net.join_with(1, Serializer::Json, "realm1", canceling_callee());
    let caller = net.join(0, Serializer::Json, "realm1");
    register_with(&mut net, callee, "com.slow", Dict::new());
    let request = call(
        &mut net,
        caller,
        "com.slow",
        Dict::new().with("timeout", 2u64),
        vec![],
    );
    let (inv, details, _) = invocation(net.recv(callee));
    // The callee gets the caller's value as written, in the caller's unit.
    assert_eq!(details.get("timeout").and_then(Value::as_u64), Some(2));
    net.advance(Duration::from_millis(1500));
    assert!(net.recv(caller).is_none());
    net.advance(Duration::from_millis(600));
    match net.recv(caller) {
        Some(Message::Error {
            request: r, error, ..
        }) => {
            assert_eq!(r, request);
            assert_eq!(error, "wamp.error.canceled");
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
    assert!(matches!(net.recv(callee), Some(Message::Interrupt { request, .. }) if request == inv));
    // A call answered in time is not canceled later.
    let request = call(
        &mut net,
        caller,
        "com.slow",
        Dict::new().with("timeout", Value::Float(0.5)),
        vec![],
    );
    let (inv, _, _) = invocation(net.recv(callee));
    yield_to(&mut net, callee, inv, Dict::new(), vec![]);
    assert!(matches!(net.recv(caller), Some(Message::Result { request: r, .. }) if r == request));
    net.advance(Duration::from_secs(1));
    assert!(net.recv(caller).is_none());
    assert!(net.recv(callee).is_none());
}

#[test]
fn progressive_invocations_need_a_callee_that_announced_them() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 17);
    let plain = net.join(1, Serializer::Json, "realm1");
    let caller = net.join(0, Serializer::Json, "realm1");
    register_with(&mut net, plain, "com.upload", Dict::new());
    let request = call(
        &mut net,
        caller,
        "com.upload",
        Dict::new().with("progress", true),
        vec![],
    );
    match net.recv(caller) {
        Some(Message::Error {
            request: r, error, ..
        }) => {
            assert_eq!(r, request);
            assert_eq!(error, "wamp.error.feature_not_supported");
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
    assert!(net.recv(plain).is_none());
}

#[test]
fn progressive_invocations_repeat_the_first_calls_details_and_yield_ppt_reaches_the_caller() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 18);
    let callee = net.join_with(1, Serializer::Json, "realm1", canceling_callee());
    let caller = net.join(0, Serializer::Json, "realm1");
    register_with(&mut net, callee, "com.upload", Dict::new());
    let request = net.request(caller);
    for (i, options) in [
        Dict::new().with("progress", true).with("disclose_me", true),
        Dict::new(),
    ]
    .into_iter()
    .enumerate()
    {
        let payload = Payload::args(vec![Value::Int(i as i64)]);
        net.send(
            caller,
            Message::Call {
                request,
                options,
                procedure: "com.upload".into(),
                payload,
            },
        );
    }
    let invocations = net.recv_all(callee);
    assert_eq!(invocations.len(), 2);
    let caller_session = net.clients[&caller].session;
    let mut inv_request = 0;
    for m in invocations {
        let (inv, details, _) = invocation(Some(m));
        inv_request = inv;
        assert_eq!(
            details.get("caller").and_then(Value::as_u64),
            Some(caller_session)
        );
    }
    let options = Dict::new()
        .with("ppt_scheme", "x_custom")
        .with("ppt_keyid", "k9");
    yield_to(&mut net, callee, inv_request, options, vec![]);
    match net.recv(caller) {
        Some(Message::Result {
            request: r,
            details,
            ..
        }) => {
            assert_eq!(r, request);
            assert_eq!(details.get_str("ppt_scheme"), Some("x_custom"));
            assert_eq!(details.get_str("ppt_keyid"), Some("k9"));
        }
        other => panic!("expected RESULT, got {other:?}"),
    }
}
