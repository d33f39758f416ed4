//! Dynamic authorizers: the router calls the role's authorizer for each action, keeps each
//! session's messages in order while it waits, caches what it may, and fails actions the
//! authorizer cannot decide.

use std::time::Duration;

use super::*;

const AUTHORIZER: &str = "com.example.authorize";

/// realm1 with a dynamic role `user` and a static role `backend` (allowed everything).
fn dynamic_realm() -> RealmConfig {
    let mut config = realm("realm1", allow_all());
    config.roles = vec![
        RoleConfig {
            name: "user".into(),
            permissions: Vec::new(),
            authorizer: Some(AUTHORIZER.into()),
        },
        RoleConfig {
            name: "backend".into(),
            permissions: allow_all(),
            authorizer: None,
        },
    ];
    config
}

/// Two shards; the authorizer's component on shard 0, the `user` session on shard 1.
fn setup(seed: u64) -> (Net, ConnId, ConnId) {
    let mut net = Net::new(2, vec![dynamic_realm()], seed);
    let backend = net.join_as(0, "realm1", "backend");
    net.register(backend, AUTHORIZER);
    let user = net.join_as(1, "realm1", "user");
    (net, backend, user)
}

/// The authorizer's next question: (invocation request, session details, uri, action).
fn question(net: &mut Net, backend: ConnId) -> (u64, Dict, String, String) {
    match net.recv(backend) {
        Some(Message::Invocation {
            request, payload, ..
        }) => {
            let args = payload.args.unwrap_or_default();
            assert_eq!(
                args.len(),
                4,
                "authorize(session_details, uri, action, options)"
            );
            let details = args[0].as_dict().cloned().expect("session details");
            let uri = args[1].as_str().unwrap().to_owned();
            let action = args[2].as_str().unwrap().to_owned();
            assert!(args[3].as_dict().is_some(), "options is a dict");
            (request, details, uri, action)
        }
        other => panic!("expected the authorizer's INVOCATION, got {other:?}"),
    }
}

fn answer(net: &mut Net, backend: ConnId, request: u64, value: Value) {
    net.send(
        backend,
        Message::Yield {
            request,
            options: Dict::new(),
            payload: Payload::args(vec![value]),
        },
    );
}

fn publish_acked(net: &mut Net, conn: ConnId, topic: &str, arg: u64) -> u64 {
    let options = Dict::new().with("acknowledge", true);
    net.publish(conn, topic, vec![arg.into()], options)
}

fn call(net: &mut Net, conn: ConnId, procedure: &str) -> u64 {
    let request = net.request(conn);
    net.send(
        conn,
        Message::Call {
            request,
            options: Dict::new(),
            procedure: procedure.into(),
            payload: Payload::empty(),
        },
    );
    request
}

fn error_text(msg: Option<Message>) -> (String, String) {
    match msg {
        Some(Message::Error { error, payload, .. }) => {
            let text = payload
                .args
                .and_then(|a| a.first().and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_default();
            (error, text)
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
}

#[test]
fn the_authorizer_decides_each_action_with_crossbars_arguments() {
    let (mut net, backend, user) = setup(1);
    let user_session = net.clients[&user].session;
    let request = net.request(user);
    net.send(
        user,
        Message::Subscribe {
            request,
            options: Dict::new().with("match", "prefix"),
            topic: "com.app".into(),
        },
    );
    assert!(
        net.recv(user).is_none(),
        "no answer before the authorizer's"
    );
    let (q, details, uri, action) = question(&mut net, backend);
    assert_eq!((uri.as_str(), action.as_str()), ("com.app", "subscribe"));
    assert_eq!(
        details.get("session").and_then(Value::as_u64),
        Some(user_session)
    );
    assert_eq!(details.get_str("authrole"), Some("user"));
    assert_eq!(details.get_str("authmethod"), Some("anonymous"));
    assert!(details.get_str("authid").is_some_and(|a| !a.is_empty()));
    let transport = details.get_dict("transport").expect("transport details");
    assert_eq!(transport.get_str("type"), Some("websocket"));
    answer(&mut net, backend, q, Value::Bool(true));
    assert!(matches!(net.recv(user), Some(Message::Subscribed { request: r, .. }) if r == request));

    let request = publish_acked(&mut net, user, "com.app.secret", 1);
    let (q, _, uri, action) = question(&mut net, backend);
    assert_eq!(
        (uri.as_str(), action.as_str()),
        ("com.app.secret", "publish")
    );
    answer(&mut net, backend, q, Value::Bool(false));
    let (error, _) = error_text(net.recv(user));
    assert_eq!(error, "wamp.error.not_authorized");
    assert!(
        net.recv(user).is_none(),
        "the refused publication reached no one"
    );

    net.register(backend, "com.app.add");
    let request_call = call(&mut net, user, "com.app.add");
    let (q, _, uri, action) = question(&mut net, backend);
    assert_eq!((uri.as_str(), action.as_str()), ("com.app.add", "call"));
    answer(
        &mut net,
        backend,
        q,
        Value::Dict(Dict::new().with("allow", true)),
    );
    let (inv, _, _) = match net.recv(backend) {
        Some(Message::Invocation {
            request,
            details,
            payload,
            ..
        }) => (request, details, payload),
        other => panic!("expected the call's INVOCATION, got {other:?}"),
    };
    answer(&mut net, backend, inv, Value::from(3u64));
    assert!(
        matches!(net.recv(user), Some(Message::Result { request, .. }) if request == request_call)
    );
    assert_ne!(request, request_call);
}

#[test]
fn parked_messages_keep_their_order_and_share_one_question() {
    let (mut net, backend, user) = setup(2);
    let subscriber = net.join_as(0, "realm1", "backend");
    net.subscribe(subscriber, "com.app.tick");
    for i in 0..5 {
        net.publish(
            user,
            "com.app.tick",
            vec![Value::from(i as u64)],
            Dict::new(),
        );
    }
    let (q, _, uri, _) = question(&mut net, backend);
    assert_eq!(uri, "com.app.tick");
    assert!(
        net.recv(backend).is_none(),
        "five identical questions, one call"
    );
    assert!(
        net.recv(subscriber).is_none(),
        "nothing delivered before the decision"
    );
    let cached = Dict::new().with("allow", true).with("cache", true);
    answer(&mut net, backend, q, Value::Dict(cached));
    for i in 0..5u64 {
        assert_eq!(event_args(net.recv(subscriber)), vec![Value::from(i)]);
    }
    // Cached: the next publication is routed without asking.
    net.publish(user, "com.app.tick", vec![Value::from(5u64)], Dict::new());
    assert!(
        net.recv(backend).is_none(),
        "a cached decision is not asked again"
    );
    assert_eq!(event_args(net.recv(subscriber)), vec![Value::from(5u64)]);
    // The cached decision is for publishing only: subscribing to the same URI is asked.
    let request = net.request(user);
    net.send(
        user,
        Message::Subscribe {
            request,
            options: Dict::new(),
            topic: "com.app.tick".into(),
        },
    );
    let (q, _, uri, action) = question(&mut net, backend);
    assert_eq!(
        (uri.as_str(), action.as_str()),
        ("com.app.tick", "subscribe")
    );
    answer(&mut net, backend, q, Value::Bool(false));
    assert_eq!(error_uri(net.recv(user)), "wamp.error.not_authorized");
}

#[test]
fn a_slow_decision_holds_back_later_messages_of_the_session_only() {
    let (mut net, backend, user) = setup(3);
    let subscriber = net.join_as(0, "realm1", "backend");
    net.subscribe(subscriber, "com.a");
    net.subscribe(subscriber, "com.b");
    net.publish(user, "com.a", vec![1u64.into()], Dict::new());
    net.publish(user, "com.b", vec![2u64.into()], Dict::new());
    let (qa, _, a, _) = question(&mut net, backend);
    let (qb, _, b, _) = question(&mut net, backend);
    assert_eq!((a.as_str(), b.as_str()), ("com.a", "com.b"));
    // The second question is answered first: its event still waits for the first.
    answer(&mut net, backend, qb, Value::Bool(true));
    assert!(net.recv(subscriber).is_none());
    // Another session is not held back.
    let other = net.join_as(1, "realm1", "backend");
    net.publish(other, "com.b", vec![0u64.into()], Dict::new());
    assert_eq!(event_args(net.recv(subscriber)), vec![Value::from(0u64)]);
    answer(&mut net, backend, qa, Value::Bool(true));
    assert_eq!(event_args(net.recv(subscriber)), vec![Value::from(1u64)]);
    assert_eq!(event_args(net.recv(subscriber)), vec![Value::from(2u64)]);
}

#[test]
fn an_uncached_decision_is_asked_again() {
    let (mut net, backend, user) = setup(4);
    for round in 0..2u64 {
        publish_acked(&mut net, user, "com.app.x", round);
        let (q, ..) = question(&mut net, backend);
        answer(&mut net, backend, q, Value::Bool(true));
        assert!(matches!(net.recv(user), Some(Message::Published { .. })));
    }
}

#[test]
fn disclose_in_the_answer_forces_caller_disclosure() {
    let (mut net, backend, user) = setup(5);
    let user_session = net.clients[&user].session;
    net.register(backend, "com.app.who");
    call(&mut net, user, "com.app.who");
    let (q, ..) = question(&mut net, backend);
    let allow = Dict::new().with("allow", true).with("disclose", true);
    answer(&mut net, backend, q, Value::Dict(allow));
    match net.recv(backend) {
        Some(Message::Invocation { details, .. }) => {
            assert_eq!(
                details.get("caller").and_then(Value::as_u64),
                Some(user_session)
            );
            assert_eq!(details.get_str("caller_authrole"), Some("user"));
        }
        other => panic!("expected INVOCATION, got {other:?}"),
    }
}

#[test]
fn an_authorizer_that_fails_errs_or_is_missing_fails_the_action() {
    let (mut net, backend, user) = setup(6);
    // An invalid answer.
    let request = call(&mut net, user, "com.app.f");
    let (q, ..) = question(&mut net, backend);
    answer(&mut net, backend, q, Value::Str("yes".into()));
    let (error, text) = error_text(net.recv(user));
    assert_eq!(error, "wamp.error.authorization_failed");
    assert!(text.contains("calling procedure 'com.app.f'"), "{text}");
    assert!(text.contains("unknown type"), "{text}");

    // An error raised by the authorizer.
    let request2 = call(&mut net, user, "com.app.g");
    let (q, ..) = question(&mut net, backend);
    net.send(
        backend,
        Message::Error {
            request_type: MessageType::Invocation.code(),
            request: q,
            details: Dict::new(),
            error: "com.example.boom".into(),
            payload: Payload::args(vec!["database down".into()]),
        },
    );
    let (error, text) = error_text(net.recv(user));
    assert_eq!(error, "wamp.error.authorization_failed");
    assert!(text.contains("com.example.boom: database down"), "{text}");

    // A silent authorizer: the action fails after the timeout.
    let request = request.max(request2);
    let request3 = call(&mut net, user, "com.app.h");
    assert!(request3 > request);
    let _ = question(&mut net, backend);
    net.advance(Duration::from_secs(9));
    assert!(net.recv(user).is_none());
    net.advance(Duration::from_secs(2));
    let (error, text) = error_text(net.recv(user));
    assert_eq!(error, "wamp.error.authorization_failed");
    assert!(text.contains("did not answer in time"), "{text}");

    // No authorizer registered.
    net.close(backend);
    let request = net.request(user);
    net.send(
        user,
        Message::Register {
            request,
            options: Dict::new(),
            procedure: "com.app.r".into(),
        },
    );
    let (error, text) = error_text(net.recv(user));
    assert_eq!(error, "wamp.error.authorization_failed");
    assert!(text.contains("not registered"), "{text}");
}

#[test]
fn leaving_with_parked_messages_leaves_nothing_behind() {
    let (mut net, backend, user) = setup(7);
    let subscriber = net.join_as(0, "realm1", "backend");
    net.subscribe(subscriber, "com.last");
    net.publish(user, "com.last", vec![1u64.into()], Dict::new());
    let (q, ..) = question(&mut net, backend);
    // GOODBYE waits behind the publication: the publication is not lost.
    net.send(
        user,
        Message::Goodbye {
            details: Dict::new(),
            reason: "wamp.close.normal".into(),
        },
    );
    assert!(net.recv(user).is_none(), "GOODBYE is answered in its turn");
    answer(&mut net, backend, q, Value::Bool(true));
    assert_eq!(event_args(net.recv(subscriber)), vec![Value::from(1u64)]);
    assert!(matches!(net.recv(user), Some(Message::Goodbye { .. })));

    // ABORT is not parked: the session ends at once, its parked publication with it.
    let user3 = net.join_as(1, "realm1", "user");
    net.publish(user3, "com.last", vec![3u64.into()], Dict::new());
    let (q3, ..) = question(&mut net, backend);
    net.send(
        user3,
        Message::Abort {
            details: Dict::new(),
            reason: "wamp.close.normal".into(),
        },
    );
    assert!(
        net.clients[&user3].closed,
        "ABORT closes without waiting for the authorizer"
    );
    answer(&mut net, backend, q3, Value::Bool(true));
    assert!(
        net.recv(subscriber).is_none(),
        "an aborted session's parked event is dropped"
    );

    // A session that drops with a question outstanding; the late answer changes nothing.
    let user2 = net.join_as(1, "realm1", "user");
    let request = net.request(user2);
    let subscribe = Message::Subscribe {
        request,
        options: Dict::new(),
        topic: "com.never".into(),
    };
    net.send(user2, subscribe);
    let (q, ..) = question(&mut net, backend);
    net.close(user2);
    answer(&mut net, backend, q, Value::Bool(true));
    for c in [user, user3, subscriber, backend] {
        net.close(c);
    }
    net.assert_empty();
}
