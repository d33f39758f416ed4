//! The counters a core keeps for the metrics, summed over shards as the node sums them.

use super::dealer::{call, invocation, yield_to};
use super::*;
use crate::router::{CallOutcome, MESSAGE_CODES};

fn total(net: &Net, f: impl Fn(&crate::router::CoreStats) -> u64) -> u64 {
    net.cores.iter().map(|c| f(&c.stats())).sum()
}

fn outcome(net: &Net, outcome: CallOutcome) -> u64 {
    let i = CallOutcome::ALL.iter().position(|o| *o == outcome).unwrap();
    total(net, |s| s.calls[i])
}

#[test]
fn publications_deliveries_calls_and_latency_are_counted() {
    let mut net = Net::new(2, vec![realm("realm1", allow_all())], 70);
    let subscribers: Vec<ConnId> = (0..3)
        .map(|i| net.join(i % 2, Serializer::Json, "realm1"))
        .collect();
    for &s in &subscribers {
        net.subscribe(s, "com.metrics");
    }
    let publisher = net.join(1, Serializer::MsgPack, "realm1");
    for _ in 0..2 {
        net.publish(publisher, "com.metrics", vec![1u64.into()], Dict::new());
    }
    assert_eq!(total(&net, |s| s.publications), 2);
    assert_eq!(
        total(&net, |s| s.sent[MessageType::Event.code() as usize]),
        6
    );
    assert_eq!(
        total(&net, |s| s.received[MessageType::Publish.code() as usize]),
        2
    );
    assert_eq!(
        total(&net, |s| s.received[MessageType::Subscribe.code() as usize]),
        3
    );
    assert_eq!(
        total(&net, |s| s.sent[MessageType::Subscribed.code() as usize]),
        3
    );

    let callee = net.join(0, Serializer::Json, "realm1");
    net.register(callee, "com.add");
    let caller = net.join(1, Serializer::Json, "realm1");
    call(&mut net, caller, "com.add", Dict::new(), vec![]);
    let (inv, _, _) = invocation(net.recv(callee));
    net.advance(std::time::Duration::from_millis(3));
    yield_to(&mut net, callee, inv, Dict::new(), vec![]);
    assert!(matches!(net.recv(caller), Some(Message::Result { .. })));
    call(&mut net, caller, "com.nothing", Dict::new(), vec![]);
    assert_eq!(error_uri(net.recv(caller)), "wamp.error.no_such_procedure");

    assert_eq!(outcome(&net, CallOutcome::Result), 1);
    assert_eq!(outcome(&net, CallOutcome::NoSuchProcedure), 1);
    assert_eq!(outcome(&net, CallOutcome::Error), 0);
    // One latency sample, of about the 3 ms the callee took, in the 2.5–5 ms bucket.
    let samples: Vec<u64> = (0..crate::router::CALL_LATENCY_BOUNDS.len() + 1)
        .map(|b| total(&net, |s| s.call_latency[b]))
        .collect();
    assert_eq!(samples.iter().sum::<u64>(), 1);
    let bucket = samples.iter().position(|&n| n == 1).unwrap();
    assert_eq!(crate::router::CALL_LATENCY_BOUNDS[bucket], 0.005);
    assert!(MESSAGE_CODES > MessageType::Yield.code() as usize);
}
