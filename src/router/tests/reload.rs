//! Configuration reload through the core: permissions change for live sessions, realms come
//! and go, nothing is dropped that the new configuration keeps.

use super::*;

/// Runs both steps of a reload on every core, as the node does: every shard prepares, then
/// every shard commits.
fn reload(net: &mut Net, realms: &[RealmConfig]) -> Vec<crate::router::ReloadSummary> {
    let summaries = (0..net.cores.len())
        .map(|shard| net.cores[shard].prepare_reload(realms))
        .collect();
    for shard in 0..net.cores.len() {
        net.cores[shard].commit_reload();
        net.collect(shard);
    }
    net.settle();
    summaries
}

fn publish_acknowledged(net: &mut Net, conn: ConnId, topic: &str) -> Option<Message> {
    net.publish(
        conn,
        topic,
        vec![1u64.into()],
        Dict::new().with("acknowledge", true),
    );
    net.recv(conn)
}

#[test]
fn a_permission_taken_away_is_refused_from_the_next_message_on() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 60);
    let publisher = net.join(0, Serializer::Json, "realm1");
    let subscriber = net.join(1, Serializer::Json, "realm1");
    net.subscribe(subscriber, "com.iot.temp");
    assert!(matches!(
        publish_acknowledged(&mut net, publisher, "com.iot.temp"),
        Some(Message::Published { .. })
    ));
    assert_eq!(event_args(net.recv(subscriber)), vec![Value::from(1u64)]);

    let subscribe_only = Allow {
        call: false,
        register: false,
        publish: false,
        subscribe: true,
    };
    let narrowed = realm(
        "realm1",
        vec![perm(
            "com.",
            MatchPolicy::Prefix,
            subscribe_only,
            Disclose::default(),
        )],
    );
    let summaries = reload(&mut net, &[narrowed]);
    assert!(summaries
        .iter()
        .all(|s| s.added.is_empty() && s.removed.is_empty()));

    assert_eq!(
        error_uri(publish_acknowledged(&mut net, publisher, "com.iot.temp")),
        "wamp.error.not_authorized"
    );
    assert!(
        net.recv(subscriber).is_none(),
        "the refused event was not delivered"
    );
    // The subscription made before the reload stays: a publisher the new rules allow reaches it.
    assert!(!net.clients[&subscriber].closed && !net.clients[&publisher].closed);
    let trusted = net.join_as(0, "realm1", "trusted");
    net.publish(trusted, "com.iot.temp", vec![2u64.into()], Dict::new());
    assert_eq!(event_args(net.recv(subscriber)), vec![Value::from(2u64)]);
}

#[test]
fn a_permission_granted_by_a_reload_applies_to_live_sessions() {
    let mut net = Net::new(2, vec![realm("realm1", vec![])], 61);
    let caller = net.join(1, Serializer::MsgPack, "realm1");
    let request = net.request(caller);
    net.send(
        caller,
        Message::Register {
            request,
            options: Dict::new(),
            procedure: "com.app.add".into(),
        },
    );
    assert_eq!(error_uri(net.recv(caller)), "wamp.error.not_authorized");
    reload(&mut net, &[realm("realm1", allow_all())]);
    net.register(caller, "com.app.add");
}

#[test]
fn a_new_realm_is_joinable_after_the_reload_on_every_shard() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 62);
    let summaries = reload(
        &mut net,
        &[realm("realm1", allow_all()), realm("realm2", allow_all())],
    );
    assert!(summaries.iter().all(|s| s.added == ["realm2"]));
    let subscriber = net.join(0, Serializer::Json, "realm2");
    let publisher = net.join(1, Serializer::Cbor, "realm2");
    net.subscribe(subscriber, "com.x");
    net.publish(publisher, "com.x", vec!["hi".into()], Dict::new());
    assert_eq!(event_args(net.recv(subscriber)), vec![Value::from("hi")]);
    // realm1's sessions see nothing of realm2.
    let other = net.join(1, Serializer::Json, "realm1");
    net.subscribe(other, "com.x");
    net.publish(publisher, "com.x", vec!["again".into()], Dict::new());
    assert!(net.recv(other).is_none());
}

#[test]
fn a_new_realm_is_not_joinable_before_every_shard_prepared() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 63);
    let both = [realm("realm1", allow_all()), realm("realm2", allow_all())];
    net.cores[0].prepare_reload(&both);
    let early = net.open(0, Serializer::Json);
    net.send(
        early,
        Message::Hello {
            realm: "realm2".into(),
            details: Dict::new(),
        },
    );
    assert!(
        matches!(net.recv(early), Some(Message::Abort { reason, .. }) if reason == "wamp.error.no_such_realm")
    );
    net.cores[1].prepare_reload(&both);
    net.cores[0].commit_reload();
    net.cores[1].commit_reload();
    net.join(0, Serializer::Json, "realm2");
}

#[test]
fn a_removed_realm_says_goodbye_to_its_sessions_and_refuses_new_ones() {
    let mut net = Net::new(
        2,
        vec![realm("realm1", allow_all()), realm("old", allow_all())],
        64,
    );
    let leaving = net.join(1, Serializer::Json, "old");
    net.subscribe(leaving, "com.x");
    net.register(leaving, "com.proc");
    let staying = net.join(0, Serializer::Json, "realm1");
    let summaries = reload(&mut net, &[realm("realm1", allow_all())]);
    assert!(summaries.iter().all(|s| s.removed == ["old"]));
    match net.recv(leaving) {
        Some(Message::Goodbye { reason, .. }) => assert_eq!(reason, "wamp.close.close_realm"),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    assert!(net.clients[&leaving].closed);
    assert!(!net.clients[&staying].closed);
    let late = net.open(1, Serializer::Json);
    net.send(
        late,
        Message::Hello {
            realm: "old".into(),
            details: Dict::new(),
        },
    );
    assert!(
        matches!(net.recv(late), Some(Message::Abort { reason, .. }) if reason == "wamp.error.no_such_realm")
    );
    net.close(staying);
    net.close(late);
    net.assert_empty();
}

#[test]
fn a_session_whose_role_was_removed_keeps_its_name_and_may_do_nothing() {
    let mut cfg = realm("realm1", allow_all());
    cfg.roles.push(RoleConfig {
        name: "device".into(),
        permissions: allow_all(),
        authorizer: None,
    });
    let mut net = Net::new(1, vec![cfg], 65);
    let device = net.join_as(0, "realm1", "device");
    let summaries = reload(&mut net, &[realm("realm1", allow_all())]);
    assert_eq!(summaries[0].orphaned_sessions, 1);
    assert_eq!(
        error_uri(publish_acknowledged(&mut net, device, "com.x")),
        "wamp.error.not_authorized"
    );
    // A later reload that brings the role back gives the session its permissions again.
    let mut back = realm("realm1", allow_all());
    back.roles.push(RoleConfig {
        name: "device".into(),
        permissions: allow_all(),
        authorizer: None,
    });
    reload(&mut net, &[back]);
    assert!(matches!(
        publish_acknowledged(&mut net, device, "com.x"),
        Some(Message::Published { .. })
    ));
}
