//! Churn: sessions that come and go, cleanly and not, leave nothing behind.

use super::*;

/// One round of five sessions on `port` that subscribe, register, publish and call each other
/// (across shards, as the kernel spreads the connections), then vanish without GOODBYE: by
/// TCP reset, by a plain close, mid-call as caller and as callee.
fn churn_round(port: u16, base: usize, procedures: &mut Vec<String>) {
    let mut s: Vec<WampClient> = (0..5)
        .map(|i| {
            WampClient::joined(
                port,
                if (base + i).is_multiple_of(2) {
                    JSON
                } else {
                    MSGPACK
                },
            )
        })
        .collect();
    for (i, c) in s.iter_mut().enumerate() {
        let id = base + i;
        c.subscribe(&format!("soak.churn.topic.{}", id % 4));
        c.subscribe_with(
            &format!("soak.churn.own.{id}"),
            Dict::new().with("match", "prefix"),
        )
        .expect("prefix subscription");
        c.subscribe_with("soak.churn..wild", Dict::new().with("match", "wildcard"))
            .expect("wildcard subscription");
        let procedure = format!("soak.churn.proc.{id}");
        c.register(&procedure)
            .unwrap_or_else(|e| panic!("register {procedure}: {e}"));
        procedures.push(procedure);
    }
    let proc_of = |i: usize| format!("soak.churn.proc.{}", base + i);
    let payload = || args(vec![Value::from(base as u64), Value::Str("churn".into())]);

    // Events to the shared topics: most sessions never read them (they pile up in their
    // sockets until the reset throws them away).
    s[0].publish_acked(
        &format!("soak.churn.topic.{}", (base + 1) % 4),
        Dict::new(),
        payload(),
    );
    s[1].publish_acked("soak.churn.x.wild", Dict::new(), payload());

    // 0 calls 1: answered.
    let call = s[0].call_nowait(&proc_of(1), payload());
    let (inv, _, p) = s[1].expect_invocation();
    s[1].yield_result(inv, p);
    assert_eq!(s[0].call_outcome(call), Ok(payload()), "churn call 0 -> 1");

    // 1 calls 2; 2 gets the INVOCATION and is reset: 1 gets wamp.error.canceled.
    let call = s[1].call_nowait(&proc_of(2), payload());
    s[2].expect_invocation();
    let s2 = s.remove(2); // s: 0 1 3 4
    reset(s2);
    let error = call_error(&mut s[1], call, "call to a callee that was reset");
    assert_eq!(error, "wamp.error.canceled", "the callee vanished mid-call");

    // 3 calls 4 and is reset before the answer; 4 answers into the void, then closes its TCP
    // connection without GOODBYE or WebSocket close.
    let call = s[2].call_nowait(&proc_of(4), payload());
    let _ = call;
    let (inv, _, p) = s[3].expect_invocation();
    let s3 = s.remove(2); // s: 0 1 4
    reset(s3);
    s[2].yield_result(inv, p);
    let s4 = s.remove(2); // s: 0 1
    s4.drop_abruptly();

    // 0 calls 1 and both vanish with the call outstanding: 0 by reset, 1 by a plain drop.
    s[0].call_nowait(&proc_of(1), payload());
    s[1].expect_invocation();
    let s1 = s.remove(1);
    let s0 = s.remove(0);
    reset(s0);
    drop(s1);
}

#[test]
fn churn_of_abruptly_vanishing_sessions_leaves_nothing_behind() {
    const THREADS: usize = 6;
    const ROUNDS: usize = 80; // 6 threads × 80 rounds × 5 sessions = 2400 sessions
    let (mut router, ports) = start(1, |p| node(json!({}), vec![], vec![web(p[0], json!({}))]));
    let port = ports[0];
    let pid = router.pid();
    let mut witness = Witness::new(port);
    let mut observer = WampClient::joined(port, JSON);
    let rss_before = rss_kib(pid);
    let started = Instant::now();
    let workers: Vec<JoinHandle<Vec<String>>> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut procedures = Vec::new();
                for r in 0..ROUNDS {
                    churn_round(port, (t * ROUNDS + r) * 5, &mut procedures);
                }
                procedures
            })
        })
        .collect();
    let mut procedures = Vec::new();
    for w in workers {
        match w.join() {
            Ok(p) => procedures.extend(p),
            Err(e) => std::panic::resume_unwind(e),
        }
    }
    let churn_took = started.elapsed();
    assert_eq!(procedures.len(), THREADS * ROUNDS * 5);
    witness.check("after the churn");
    router.assert_alive();

    // Only the witness pair and the observer are left, and their own subscription and
    // registration: every vanished session's state is gone on both shards.
    let mut fresh = WampClient::joined(port, MSGPACK);
    let witness_sub = meta(
        &mut fresh,
        "wamp.subscription.lookup",
        vec![Value::Str(WITNESS_TOPIC.into())],
    )
    .expect("lookup")
    .as_u64()
    .expect("the witness subscription");
    let witness_reg = meta(
        &mut fresh,
        "wamp.registration.lookup",
        vec![Value::Str(WITNESS_PROC.into())],
    )
    .expect("lookup")
    .as_u64()
    .expect("the witness registration");
    expect_census(
        &mut fresh,
        4,
        &[witness_sub],
        &[witness_reg],
        Duration::from_secs(5),
        "after the churn",
    );
    // No dangling registration anywhere: every procedure registers again, at once.
    for procedure in &procedures {
        fresh
            .register(procedure)
            .unwrap_or_else(|e| panic!("re-registering {procedure} after the churn: {e}"));
    }
    // And a call to one of them reaches the new callee.
    let call = observer.call_nowait(&procedures[7], args(vec![Value::from(7u64)]));
    let (inv, _, p) = fresh.expect_invocation();
    fresh.yield_result(inv, p);
    assert_eq!(
        observer.call_outcome(call),
        Ok(args(vec![Value::from(7u64)])),
        "a call to a re-registered procedure"
    );
    let rss_after = rss_kib(pid);
    eprintln!(
        "churn: {} sessions in {churn_took:?}; router RSS {rss_before} KiB before, {rss_after} KiB after",
        procedures.len()
    );
    // Room for allocator slack (≈ 5 MiB seen here), but a leak of more than 10 KiB per
    // session (a write buffer, a session's state, its queued events) would not fit.
    assert!(
        rss_after < rss_before + 24 * 1024,
        "router RSS grew from {rss_before} KiB to {rss_after} KiB over the churn"
    );
    router.assert_alive();
}
