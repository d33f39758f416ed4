//! Slow consumers: the others stay complete and in order, memory stays bounded.

use super::*;

const FLOOD_TOPIC: &str = "soak.flood";
/// 24 000 events of 1 KiB: 24 MiB, several times what the kernel's socket buffers absorb for
/// the stubborn subscriber (the router's send buffer grows to `tcp_wmem`'s 4 MiB, the
/// subscriber's receive buffer is fixed at 64 KiB), so the router's own queue overflows.
const FLOOD_EVENTS: u64 = 24_000;
const FLOOD_SIZE: usize = 1024;
/// The router's RSS may grow by this much over its baseline during a flood. Justification:
/// output is bounded to `max_output_bytes` (256 KiB; twice that for drop-events) on each of
/// the 5 connections (≤ 2.5 MiB), plus write buffers from the per-shard pools, the inter-shard
/// rings and allocator slack: a few MiB. A router that buffered the stubborn subscriber's
/// backlog instead would grow by the flood minus what the kernel absorbs, ≥ 19 MiB.
const FLOOD_RSS_BOUND_KIB: u64 = 16 * 1024;

fn slow_consumer_router(policy: &str) -> (Router, u16) {
    let limits = json!({
        "max_output_bytes": 262_144,
        "slow_consumer": policy,
        // Out of the way: this test is about the queue limit, not the stall timeout.
        "write_stall_timeout": 120_000
    });
    let (router, ports) = start(1, |p| {
        node(limits.clone(), vec![], vec![web(p[0], json!({}))])
    });
    (router, ports[0])
}

/// The well-behaved subscribers of a flood: one JSON, one MessagePack.
fn good_subscribers(port: u16) -> Vec<WampClient> {
    [JSON, MSGPACK]
        .iter()
        .map(|ser| {
            let mut c = WampClient::joined(port, ser);
            c.subscribe(FLOOD_TOPIC);
            c
        })
        .collect()
}

fn report_flood(what: &str, f: &Flood, rss_before: u64) {
    eprintln!(
        "{what}: {} events of {FLOOD_SIZE} B in {:?}; router RSS {rss_before} KiB before, peak {} KiB",
        f.published, f.took, f.peak_rss
    );
    for (i, r) in f.readers.iter().enumerate() {
        assert_eq!(
            r,
            &Ok(FLOOD_EVENTS),
            "{what}: well-behaved subscriber {i} must get every event in order"
        );
    }
    assert_eq!(f.published, FLOOD_EVENTS);
    assert!(
        f.peak_rss < rss_before + FLOOD_RSS_BOUND_KIB,
        "{what}: router RSS peaked at {} KiB, baseline {rss_before} KiB: more than the {} KiB bound",
        f.peak_rss,
        FLOOD_RSS_BOUND_KIB
    );
}

#[test]
fn slow_consumer_is_closed_and_the_others_get_every_event_in_order() {
    let (mut router, port) = slow_consumer_router("close");
    let mut stubborn = Stubborn::subscribe(port, FLOOD_TOPIC);
    let good = good_subscribers(port);
    let mut publisher = WampClient::joined(port, MSGPACK);
    let mut observer = WampClient::joined(port, JSON);
    assert!(session_known(&mut observer, stubborn.session));
    let rss_before = rss_kib(router.pid());

    let f = flood(
        &router,
        &mut publisher,
        good,
        FLOOD_TOPIC,
        FLOOD_EVENTS,
        FLOOD_SIZE,
    );
    report_flood("close", &f, rss_before);

    // The stubborn subscriber is out of the realm, and its connection is closed: what the
    // kernel buffered arrives (in order), then the close.
    expect_session_gone(
        &mut observer,
        stubborn.session,
        Duration::from_secs(5),
        "the slow consumer (policy close)",
    );
    let mut got = 0u64;
    let mut last = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(
            Instant::now() < deadline,
            "the slow consumer's connection is still open after reading {got} events"
        );
        match stubborn.next(Duration::from_secs(5)) {
            Ok(Some(Message::Event { payload, .. })) => {
                let seq = seq_of(&payload);
                assert!(
                    last.is_none_or(|l| seq == l + 1),
                    "gap or reorder: {last:?} then {seq}"
                );
                last = Some(seq);
                got += 1;
            }
            Ok(Some(other)) => eprintln!("slow consumer got {other:?}"),
            Ok(None) => panic!("the slow consumer's connection is neither closed nor sending"),
            Err(()) => break,
        }
    }
    assert!(
        got < FLOOD_EVENTS,
        "the slow consumer got all {got} events: it was never slow, the test proves nothing"
    );
    let stderr = router.stderr();
    assert!(
        stderr.contains("closing slow consumer"),
        "the router must log why it closed the connection; stderr:\n{stderr}"
    );
    eprintln!("close: the slow consumer got {got} events before the close");
    router.assert_alive();
}

#[test]
fn slow_consumer_with_drop_events_stays_open_and_the_others_get_every_event_in_order() {
    let (mut router, port) = slow_consumer_router("drop-events");
    let mut stubborn = Stubborn::subscribe(port, FLOOD_TOPIC);
    let good = good_subscribers(port);
    let mut publisher = WampClient::joined(port, MSGPACK);
    let mut observer = WampClient::joined(port, JSON);
    let rss_before = rss_kib(router.pid());

    let f = flood(
        &router,
        &mut publisher,
        good,
        FLOOD_TOPIC,
        FLOOD_EVENTS,
        FLOOD_SIZE,
    );
    report_flood("drop-events", &f, rss_before);

    // Only events overflowed: the session is still there, and once it reads again it gets a
    // subsequence of the events, in order, then the next one published.
    assert!(
        session_known(&mut observer, stubborn.session),
        "the slow consumer was closed although only events overflowed (drop-events)"
    );
    let mut got = 0u64;
    let mut last: Option<u64> = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "the backlog does not end");
        match stubborn.next(Duration::from_millis(1000)) {
            Ok(Some(Message::Event { payload, .. })) => {
                let seq = seq_of(&payload);
                assert!(last.is_none_or(|l| seq > l), "reorder: {last:?} then {seq}");
                last = Some(seq);
                got += 1;
            }
            Ok(Some(other)) => panic!("unexpected {other:?}"),
            Ok(None) => break,
            Err(()) => panic!("the slow consumer was closed after {got} events (drop-events)"),
        }
    }
    assert!(
        got < FLOOD_EVENTS,
        "the slow consumer got all {got} events: nothing was dropped, the test proves nothing"
    );
    publisher.publish_acked(FLOOD_TOPIC, Dict::new(), event_payload(FLOOD_EVENTS, 8));
    let details = match stubborn.recv(T) {
        Some(Message::Event {
            payload, details, ..
        }) => {
            assert_eq!(seq_of(&payload), FLOOD_EVENTS);
            details
        }
        other => panic!("after catching up the slow consumer must get new events: {other:?}"),
    };
    eprintln!(
        "drop-events: the slow consumer got {got} of {FLOOD_EVENTS} events; the next EVENT's \
         details: {details:?}"
    );
    assert!(session_known(&mut observer, stubborn.session));
    router.assert_alive();
}

#[test]
fn write_stall_closes_a_subscriber_that_stops_reading_under_the_queue_limit() {
    // The default max_output_bytes (16 MiB) is never reached: 8 MiB are published, of which
    // the kernel absorbs up to ~4 MiB; the rest waits in the router's queue without progress.
    const EVENTS: u64 = 2000;
    const SIZE: usize = 4096;
    let limits = json!({"write_stall_timeout": 1000});
    let (mut router, ports) = start(1, |p| {
        node(limits.clone(), vec![], vec![web(p[0], json!({}))])
    });
    let port = ports[0];
    let stubborn = Stubborn::subscribe(port, FLOOD_TOPIC);
    let mut good = WampClient::joined(port, MSGPACK);
    good.subscribe(FLOOD_TOPIC);
    let mut publisher = WampClient::joined(port, MSGPACK);
    let mut observer = WampClient::joined(port, JSON);
    let f = flood(
        &router,
        &mut publisher,
        vec![good],
        FLOOD_TOPIC,
        EVENTS,
        SIZE,
    );
    assert_eq!(
        f.readers,
        vec![Ok(EVENTS)],
        "the reading subscriber gets everything"
    );
    let flooded = Instant::now();
    expect_session_gone(
        &mut observer,
        stubborn.session,
        Duration::from_secs(6),
        "a subscriber with stalled output (write_stall_timeout 1000 ms)",
    );
    eprintln!(
        "write stall: flood of {:.1} MiB took {:?}; the stalled subscriber was gone {:?} after it",
        (EVENTS * SIZE as u64) as f64 / f64::from(1u32 << 20),
        f.took,
        flooded.elapsed()
    );
    let stderr = router.stderr();
    assert!(
        stderr.contains("no write progress"),
        "the router must log the stall; stderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("unwritten"),
        "closed for the queue limit, not the stall; stderr:\n{stderr}"
    );
    drop(stubborn);
    router.assert_alive();
}
