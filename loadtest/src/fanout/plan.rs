//! Where the events of a fan-out run go and when: topics (subscriber j on topic j % K, each
//! publisher round-robin over all K), the deliveries each event calls for, and the paced
//! publishing schedule of `--rate`.

use crate::common;

/// The name of topic `i` of `k`: the base name itself when there is only one.
pub fn topic_name(base: &str, k: usize, i: usize) -> String {
    if k <= 1 {
        base.to_owned()
    } else {
        format!("{base}.{i}")
    }
}

/// The topic (of `k`) subscriber `j` (of the whole run) subscribes to.
pub fn topic_of_subscriber(j: usize, k: usize) -> usize {
    j % k.max(1)
}

/// The topic (of `k`) of publisher `index`'s event `seq` (1-based): round-robin, each publisher
/// starting at its own topic so that P publishers do not all hit topic 0 at once.
pub fn topic_of(index: u64, seq: u64, k: usize) -> usize {
    let k = k.max(1) as u64;
    // Wrapping: `seq` may come from a router's ERROR; garbage must not overflow.
    (index.wrapping_add(seq.wrapping_sub(1)) % k) as usize
}

/// Subscribers on topic `i` of `k` (as [`topic_of_subscriber`] spreads them).
pub fn subscribers_on(subscribers: u64, k: usize, i: usize) -> u64 {
    common::share(subscribers, k.max(1), i)
}

/// When publisher `index` (of `publishers`) may send event `seq` at `interval_ns` between
/// events: an absolute schedule from `go_ns`, the publishers staggered evenly within an
/// interval. A publisher behind schedule (its window full) catches up as the window allows.
pub fn due_ns(go_ns: u64, interval_ns: f64, index: u64, publishers: usize, seq: u64) -> u64 {
    let slot = seq.saturating_sub(1) as f64 + index as f64 / publishers.max(1) as f64;
    go_ns.saturating_add((slot * interval_ns) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        assert_eq!(topic_name("com.bench.fanout", 1, 0), "com.bench.fanout");
        assert_eq!(
            topic_name("com.bench.fanout", 1000, 999),
            "com.bench.fanout.999"
        );
    }

    /// The deliveries counted per event (`subscribers_on` of the event's topic) are exactly the
    /// subscribers the subscribe side put on that topic, for every publisher and event.
    #[test]
    fn expected_deliveries_match_the_subscriptions() {
        for (n, k, publishers, events) in [
            (10, 1, 1, 7),
            (1000, 1000, 4, 2003),
            (7, 3, 2, 11),
            (5, 8, 3, 40),
        ] {
            let mut on_topic = vec![0u64; k];
            for j in 0..n {
                on_topic[topic_of_subscriber(j, k)] += 1;
            }
            let mut expected = 0;
            let mut brute = 0;
            let mut hits = vec![0u64; k];
            for i in 0..publishers {
                for seq in 1..=common::share(events, publishers, i) {
                    let t = topic_of(i as u64, seq, k);
                    hits[t] += 1;
                    expected += subscribers_on(n as u64, k, t);
                    brute += on_topic[t];
                }
            }
            assert_eq!(expected, brute, "n {n} k {k}");
            // Round-robin: no topic gets more than its fair share plus one per publisher.
            let fair = events / k as u64;
            assert!(
                hits.iter().all(|&h| h <= fair + publishers as u64),
                "{hits:?}"
            );
        }
        // One topic: every event goes to every subscriber, as before topics existed.
        assert_eq!(subscribers_on(1000, 1, 0), 1000);
        assert_eq!(topic_of(3, 99, 1), 0);
    }

    #[test]
    fn publishers_start_on_different_topics() {
        assert_eq!(topic_of(0, 1, 4), 0);
        assert_eq!(topic_of(1, 1, 4), 1);
        assert_eq!(topic_of(1, 4, 4), 0);
        // A router's garbage request id does not overflow.
        assert!(topic_of(u64::MAX, 0, 7) < 7);
        assert!(topic_of(5, u64::MAX, 7) < 7);
        assert_eq!(topic_of_subscriber(12, 0), 0);
    }

    #[test]
    fn pacing_schedule() {
        let go = 1_000_000_000;
        // 1000/s: one event per millisecond, the first at go.
        assert_eq!(due_ns(go, 1e6, 0, 1, 1), go);
        assert_eq!(due_ns(go, 1e6, 0, 1, 2), go + 1_000_000);
        assert_eq!(due_ns(go, 1e6, 0, 1, 1001), go + 1_000_000_000);
        // Four publishers are staggered by a quarter interval each.
        assert_eq!(due_ns(go, 1e6, 1, 4, 1), go + 250_000);
        assert_eq!(due_ns(go, 1e6, 3, 4, 2), go + 1_750_000);
        // Absurd inputs saturate instead of overflowing.
        assert_eq!(due_ns(u64::MAX, 1e6, 0, 1, 5), u64::MAX);
        assert_eq!(due_ns(go, 1e9, 0, 1, u64::MAX), u64::MAX);
    }
}
