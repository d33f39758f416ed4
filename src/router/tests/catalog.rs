//! The meta catalog is exactly as consistent as what clients were told: once a session has its
//! WELCOME, the meta API on every shard counts it; once a session has its SUBSCRIBED, the
//! catalog has it as a subscriber, so `on_create` never names a later one. No polling: mail is
//! delivered step by step in the order that used to expose the lag.

use super::meta::meta;
use super::*;

/// Delivers mail between shards 0 and 1 of a two-shard net, answers (0 -> 1) first, until
/// `conn` received something or no mail is left.
fn step_until_answered(net: &mut Net, conn: ConnId) -> Option<Message> {
    loop {
        if let Some(m) = net.recv(conn) {
            return Some(m);
        }
        if !net.deliver_one(0, 1) && !net.deliver_one(1, 0) {
            return None;
        }
    }
}

#[test]
fn a_welcomed_session_is_counted_on_every_shard_at_once() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 61);
    let admin = net.join(1, Serializer::Json, "realm1");
    let conn = net.open(1, Serializer::Json);
    let hello = Message::Hello {
        realm: "realm1".into(),
        details: Dict::new(),
    };
    net.send_unsettled(conn, hello);
    assert!(
        net.recv(conn).is_none(),
        "WELCOME before the home shard's catalog had the session"
    );
    let Some(Message::Welcome { session, .. }) = step_until_answered(&mut net, conn) else {
        panic!("expected WELCOME");
    };
    // Asked from the other shard right after WELCOME: the session is there.
    let other = net.join(0, Serializer::Json, "realm1");
    let count = meta(&mut net, other, "wamp.session.count", vec![], None);
    assert_eq!(count, Ok(Value::Int(3)));
    let list = meta(&mut net, admin, "wamp.session.list", vec![], None).expect("list");
    let ids: Vec<u64> = list
        .as_list()
        .map(|l| l.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    assert!(ids.contains(&session), "{ids:?} lacks {session}");
}

#[test]
fn on_create_names_the_session_that_was_told_subscribed_first() {
    // Home shard 0. A subscribes on shard 1; B subscribes on the home shard right after A has
    // its SUBSCRIBED, before any more mail moves.
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 62);
    let watcher = net.join(0, Serializer::Json, "realm1");
    for topic in [
        "wamp.subscription.on_create",
        "wamp.subscription.on_subscribe",
    ] {
        net.subscribe(watcher, topic);
        // The watcher's own subscription makes meta events too.
        net.recv_all(watcher);
    }
    let a = net.join(1, Serializer::Json, "realm1");
    let b = net.join(0, Serializer::Json, "realm1");
    let (sa, sb) = (net.clients[&a].session, net.clients[&b].session);
    let request = net.request(a);
    let subscribe = |request| Message::Subscribe {
        request,
        options: Dict::new(),
        topic: "com.new.topic".into(),
    };
    net.send_unsettled(a, subscribe(request));
    assert!(matches!(
        step_until_answered(&mut net, a),
        Some(Message::Subscribed { request: r, .. }) if r == request
    ));
    let request = net.request(b);
    net.send(b, subscribe(request));
    assert!(matches!(net.recv(b), Some(Message::Subscribed { .. })));
    let events: Vec<(u64, Vec<Value>)> = net
        .recv_all(watcher)
        .into_iter()
        .filter_map(|m| match m {
            Message::Event {
                subscription,
                payload,
                ..
            } => Some((subscription, payload.args.unwrap_or_default())),
            _ => None,
        })
        .collect();
    let creators: Vec<Option<u64>> = events
        .iter()
        .filter(|(_, args)| args.len() == 2 && args[1].as_dict().is_some())
        .map(|(_, args)| args[0].as_u64())
        .collect();
    assert_eq!(creators, vec![Some(sa)], "on_create names A: {events:?}");
    let subscribers: Vec<Option<u64>> = events
        .iter()
        .filter(|(_, args)| args.len() == 2 && args[1].as_dict().is_none())
        .map(|(_, args)| args[0].as_u64())
        .collect();
    assert_eq!(
        subscribers,
        vec![Some(sa), Some(sb)],
        "on_subscribe in order"
    );
}

#[test]
fn a_subscriber_that_leaves_before_its_subscribed_leaves_nothing_behind() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 63);
    let admin = net.join(0, Serializer::Json, "realm1");
    let a = net.join(1, Serializer::Json, "realm1");
    let request = net.request(a);
    net.send_unsettled(
        a,
        Message::Subscribe {
            request,
            options: Dict::new(),
            topic: "com.brief".into(),
        },
    );
    // The id is allocated and the catalog asked; A goes before the answer comes back.
    assert!(net.deliver_one(1, 0));
    assert!(net.deliver_one(0, 1));
    assert!(net.deliver_one(1, 0));
    net.close(a);
    let lookup = meta(
        &mut net,
        admin,
        "wamp.subscription.lookup",
        vec!["com.brief".into()],
        None,
    );
    assert_eq!(
        lookup,
        Ok(Value::Null),
        "the catalog forgot the subscription"
    );
    net.close(admin);
    net.assert_empty();
}

#[test]
fn a_message_sent_before_welcome_is_answered_after_it() {
    // Found by tests/auth.rs under load: a second message pipelined behind HELLO (here a
    // second HELLO, a protocol violation) was answered with ABORT before the WELCOME, which the
    // home shard's catalog had not released yet, and the WELCOME never came.
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 64);
    let conn = net.open(1, Serializer::Json);
    for _ in 0..2 {
        let hello = Message::Hello {
            realm: "realm1".into(),
            details: Dict::new(),
        };
        net.send_unsettled(conn, hello);
    }
    net.settle();
    let got = net.recv_all(conn);
    assert!(
        matches!(got.first(), Some(Message::Welcome { .. })),
        "{got:?}"
    );
    assert!(
        matches!(got.get(1), Some(Message::Abort { reason, .. }) if reason == "wamp.error.protocol_violation"),
        "{got:?}"
    );
}
