//! A callee that never answers.

use super::*;

#[test]
fn callee_that_never_answers_timeouts_cancels_and_its_leaving_release_everything() {
    const NEVER: &str = "soak.never";
    const NEVER_KILL: &str = "soak.never.kill";
    let limits = json!({"max_pending_calls": 3});
    let (mut router, ports) = start(1, |p| {
        node(limits.clone(), vec![], vec![web(p[0], json!({}))])
    });
    let port = ports[0];
    let mut observer = WampClient::joined(port, JSON);
    // Two callees that never answer: one that cannot be interrupted, one that announces
    // call_canceling (it gets INTERRUPTs, and still never answers).
    let mut callee = WampClient::joined(port, MSGPACK);
    callee.register(NEVER).expect("register");
    let mut callee_kill = joined_with_call_canceling(port);
    callee_kill.register(NEVER_KILL).expect("register");
    let mut callers: Vec<WampClient> = (0..4)
        .map(|i| WampClient::joined(port, if i % 2 == 0 { JSON } else { MSGPACK }))
        .collect();
    let p = |i: u64| args(vec![Value::from(i)]);

    // Router-side timeouts, in seconds as Crossbar: an integer and a float.
    let started = Instant::now();
    let t1 = call_with(
        &mut callers[0],
        NEVER,
        Dict::new().with("timeout", 1u64),
        p(1),
    );
    let t2 = call_with(
        &mut callers[1],
        NEVER,
        Dict::new().with("timeout", Value::Float(0.5)),
        p(2),
    );
    assert_eq!(
        call_error(&mut callers[1], t2, "timeout 0.5"),
        "wamp.error.canceled"
    );
    assert_eq!(
        call_error(&mut callers[0], t1, "timeout 1"),
        "wamp.error.canceled"
    );
    let timed_out = started.elapsed();
    assert!(
        timed_out >= Duration::from_millis(900),
        "a 1 s timeout ended the call after {timed_out:?}"
    );
    // The callee got both INVOCATIONs (and, announcing no call_canceling, no INTERRUPT).
    callee.expect_invocation();
    callee.expect_invocation();

    // No timeout: CANCEL in each mode. skip and killnowait (the default) answer at once; kill
    // on a callee that cannot be interrupted behaves as skip.
    for (mode, procedure) in [
        (None, NEVER),
        (Some("skip"), NEVER),
        (Some("killnowait"), NEVER),
        (Some("kill"), NEVER),
        (Some("killnowait"), NEVER_KILL),
    ] {
        let request = callers[2].call_nowait(procedure, p(3));
        // Make sure the INVOCATION went out before canceling.
        if procedure == NEVER {
            callee.expect_invocation();
        } else {
            callee_kill.expect_invocation();
        }
        let options = mode.map_or_else(Dict::new, |m| Dict::new().with("mode", m));
        callers[2].send(&Message::Cancel { request, options });
        assert_eq!(
            call_error(&mut callers[2], request, &format!("CANCEL mode {mode:?}")),
            "wamp.error.canceled",
            "CANCEL mode {mode:?} on {procedure}"
        );
    }
    // The interruptible callee was told (killnowait).
    let interrupt = callee_kill.wait_for("INTERRUPT", |m| matches!(m, Message::Interrupt { .. }));
    eprintln!("never-answering callee: timeouts after {timed_out:?}; {interrupt:?}");

    // Calls left waiting: two on the plain callee, one in kill mode on the interruptible one
    // (canceled, INTERRUPT sent, no answer ever). max_pending_calls is 3: caller 3 is full.
    let waiting: Vec<u64> = (0..2)
        .map(|i| callers[3].call_nowait(NEVER, p(10 + i)))
        .collect();
    let kill = callers[3].call_nowait(NEVER_KILL, p(12));
    callee_kill.expect_invocation();
    callers[3].send(&Message::Cancel {
        request: kill,
        options: Dict::new().with("mode", "kill"),
    });
    callee_kill.wait_for("INTERRUPT (kill)", |m| {
        matches!(m, Message::Interrupt { .. })
    });
    callers[3].expect_nothing("kill mode waits for the callee");
    let over = callers[3].call_nowait(NEVER, p(13));
    assert_eq!(
        call_error(&mut callers[3], over, "a 4th outstanding call"),
        "ferrobar.error.too_many_pending_calls"
    );

    // The callees leave abruptly: every waiting caller gets wamp.error.canceled.
    reset(callee);
    for request in waiting {
        assert_eq!(
            call_error(&mut callers[3], request, "callee left"),
            "wamp.error.canceled",
            "a pending call whose callee left"
        );
    }
    callee_kill.drop_abruptly();
    assert_eq!(
        call_error(&mut callers[3], kill, "interruptible callee left"),
        "wamp.error.canceled",
        "a kill-mode cancel whose callee left without answering"
    );

    // Nothing is left: no registration; the observer and the 4 callers are the only sessions.
    expect_census(
        &mut observer,
        5,
        &[],
        &[],
        Duration::from_secs(5),
        "after the callees left",
    );
    // Both procedures register again, and every caller has its full budget of pending calls
    // back (max_pending_calls 3): nothing of the canceled calls is still counted.
    let mut answering = WampClient::joined(port, MSGPACK);
    answering.register(NEVER).expect("register again");
    answering.register(NEVER_KILL).expect("register again");
    for (i, c) in callers.iter_mut().enumerate() {
        let requests: Vec<u64> = (0..3).map(|k| c.call_nowait(NEVER, p(100 + k))).collect();
        for _ in 0..3 {
            let (inv, _, payload) = answering.expect_invocation();
            answering.yield_result(inv, payload);
        }
        for (k, request) in requests.into_iter().enumerate() {
            assert_eq!(
                c.call_outcome(request),
                Ok(p(100 + k as u64)),
                "caller {i}, call {k} after the cleanup"
            );
        }
    }
    router.assert_alive();
}
