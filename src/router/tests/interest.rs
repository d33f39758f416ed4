//! Interest-routed shards: a publication crosses only to the shards with matching subscribers,
//! and a subscriber is told SUBSCRIBED only once every shard routes its publications to it.

use super::*;

fn subscribe_with(net: &mut Net, conn: ConnId, topic: &str, policy: &str) -> u64 {
    let request = net.request(conn);
    net.send(
        conn,
        Message::Subscribe {
            request,
            options: Dict::new().with("match", policy),
            topic: topic.into(),
        },
    );
    match net.recv(conn) {
        Some(Message::Subscribed { subscription, .. }) => subscription,
        other => panic!("expected SUBSCRIBED, got {other:?}"),
    }
}

/// Publishes from `publisher` and returns how many shards the publication was forwarded to.
fn forwarded_by(net: &mut Net, publisher: ConnId, topic: &str, options: Dict) -> Vec<usize> {
    let before = net.forwarded.clone();
    net.publish(publisher, topic, vec![Value::Int(1)], options);
    net.forwarded
        .iter()
        .zip(before)
        .enumerate()
        .filter(|(_, (after, before))| **after > *before)
        .map(|(shard, _)| shard)
        .collect()
}

#[test]
fn publications_cross_only_to_shards_with_matching_subscribers() {
    let mut net = Net::new(4, vec![realm("realm1", allow_all())], 51);
    let publisher = net.join(0, Serializer::Json, "realm1");
    let exact = net.join(1, Serializer::Json, "realm1");
    let prefix = net.join(2, Serializer::Json, "realm1");
    let wildcard = net.join(3, Serializer::MsgPack, "realm1");
    subscribe_with(&mut net, exact, "com.a.x", "exact");
    subscribe_with(&mut net, prefix, "com.b", "prefix");
    subscribe_with(&mut net, wildcard, "com..x", "wildcard");

    assert_eq!(
        forwarded_by(&mut net, publisher, "com.a.x", Dict::new()),
        vec![1, 3]
    );
    assert_eq!(
        forwarded_by(&mut net, publisher, "com.b.y", Dict::new()),
        vec![2]
    );
    assert_eq!(
        forwarded_by(&mut net, publisher, "com.q.x", Dict::new()),
        vec![3]
    );
    assert!(forwarded_by(&mut net, publisher, "com.none", Dict::new()).is_empty());
    // Each subscriber got exactly what it matches, once.
    assert_eq!(net.recv_all(exact).len(), 1);
    assert_eq!(net.recv_all(prefix).len(), 1);
    assert_eq!(net.recv_all(wildcard).len(), 2);
    // A retained event goes everywhere: each shard serves it to its own late subscribers.
    let retain = Dict::new().with("retain", true);
    assert_eq!(
        forwarded_by(&mut net, publisher, "com.kept", retain),
        vec![1, 2, 3]
    );
    for conn in [publisher, exact, prefix, wildcard] {
        net.close(conn);
    }
    net.assert_empty();
}

#[test]
fn subscribed_is_sent_only_once_every_shard_routes_to_the_subscriber() {
    // Home shard 0 (realm 0), subscriber on shard 2, publisher on shard 1.
    let mut net = Net::new(3, vec![realm("realm1", allow_all())], 52);
    let publisher = net.join(1, Serializer::Json, "realm1");
    let subscriber = net.join(2, Serializer::Json, "realm1");
    let request = net.request(subscriber);
    net.send_unsettled(
        subscriber,
        Message::Subscribe {
            request,
            options: Dict::new(),
            topic: "com.first".into(),
        },
    );
    // The home shard assigns the id and tells the publisher's shard about the interest...
    assert!(net.deliver_one(2, 0));
    // ...and the id reaches the subscriber's shard before the publisher's shard acknowledged.
    assert!(net.deliver_one(0, 2));
    assert!(
        net.recv(subscriber).is_none(),
        "SUBSCRIBED before shard 1 knew"
    );
    assert!(net.deliver_one(0, 1));
    assert!(
        net.recv(subscriber).is_none(),
        "SUBSCRIBED before the acknowledgement arrived"
    );
    assert!(net.deliver_one(1, 2));
    // Then the home shard's meta catalog records the subscriber (catalog.rs tests that).
    net.settle();
    assert!(matches!(
        net.recv(subscriber),
        Some(Message::Subscribed { request: r, .. }) if r == request
    ));
    // Published right after SUBSCRIBED was received: delivered.
    net.publish(publisher, "com.first", vec![Value::Int(7)], Dict::new());
    assert_eq!(event_args(net.recv(subscriber)), vec![Value::Int(7)]);
}

#[test]
fn the_interest_of_a_shard_goes_when_its_last_subscriber_leaves() {
    let mut net = Net::new(3, vec![realm("realm1", allow_all())], 53);
    let publisher = net.join(0, Serializer::Json, "realm1");
    let a = net.join(2, Serializer::Json, "realm1");
    let b = net.join(2, Serializer::Cbor, "realm1");
    let sub = net.subscribe(a, "com.t");
    assert_eq!(net.subscribe(b, "com.t"), sub);
    assert_eq!(
        forwarded_by(&mut net, publisher, "com.t", Dict::new()),
        vec![2]
    );
    let request = net.request(a);
    net.send(
        a,
        Message::Unsubscribe {
            request,
            subscription: sub,
        },
    );
    // b still subscribes on shard 2.
    assert_eq!(
        forwarded_by(&mut net, publisher, "com.t", Dict::new()),
        vec![2]
    );
    net.close(b);
    assert!(forwarded_by(&mut net, publisher, "com.t", Dict::new()).is_empty());
    // Subscribing again brings it back, with the interest in place before SUBSCRIBED.
    net.recv_all(a);
    net.subscribe(a, "com.t");
    assert_eq!(
        forwarded_by(&mut net, publisher, "com.t", Dict::new()),
        vec![2]
    );
    assert_eq!(event_args(net.recv(a)), vec![Value::Int(1)]);
    net.close(a);
    net.close(publisher);
    net.assert_empty();
}

#[test]
fn a_realm_with_event_history_forwards_to_its_home_shard() {
    let mut config = realm("realm1", allow_all());
    config.store = Some(crate::config::StoreConfig {
        limit: 10,
        event_history: vec![crate::config::HistoryRule {
            uri: "com.h".into(),
            match_policy: MatchPolicy::Exact,
            limit: 10,
        }],
    });
    let mut net = Net::new(3, vec![config], 54);
    let publisher = net.join(2, Serializer::Json, "realm1");
    // No subscriber anywhere: the home shard (0) still gets it, to keep the history.
    assert_eq!(
        forwarded_by(&mut net, publisher, "com.h", Dict::new()),
        vec![0]
    );
}
