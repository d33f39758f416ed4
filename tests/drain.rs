//! Graceful shutdown with a drain window, over the real binary: on SIGTERM the node stops
//! accepting, spreads its sessions' GOODBYEs over `--drain-seconds`, keeps routing for the
//! sessions not yet told, and exits 0.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use ferrobar::wamp::{Dict, Message, Value};

const SESSIONS: usize = 40;

#[test]
fn sigterm_drains_sessions_over_the_window_and_keeps_routing_meanwhile() {
    let port = free_port();
    let router = Router::start_with_args(default_config(port), 2, &["--drain-seconds", "2"]);
    let mut clients: Vec<WampClient> = (0..SESSIONS)
        .map(|_| WampClient::joined(router.port, JSON))
        .collect();
    for c in &mut clients {
        c.subscribe("com.drain.ping");
    }

    let signalled = Instant::now();
    router.terminate();
    // The first batch is told at once.
    let mut told: Vec<Option<Instant>> = vec![None; SESSIONS];
    let first = loop {
        let mut found = None;
        for (i, c) in clients.iter_mut().enumerate() {
            if let Some(Message::Goodbye { reason, .. }) = c.recv(Duration::from_millis(10)) {
                assert_eq!(reason, "wamp.close.system_shutdown");
                found = Some(i);
                break;
            }
        }
        if let Some(i) = found {
            told[i] = Some(Instant::now());
            break i;
        }
        assert!(
            signalled.elapsed() < T,
            "no GOODBYE within {T:?} of SIGTERM"
        );
    };
    router.wait_for_log("listeners closed", 2);
    assert!(
        TcpStream::connect(("127.0.0.1", router.port)).is_err(),
        "the node stops accepting connections when the drain begins"
    );

    // Sessions not told yet still route: each publishes once; those still open are
    // acknowledged and their publications reach the subscribers still open.
    let live: Vec<usize> = (0..SESSIONS).filter(|&i| i != first).collect();
    for &i in &live {
        clients[i].publish_nowait(
            "com.drain.ping",
            Dict::new().with("acknowledge", true),
            args(vec![Value::from("still here")]),
        );
    }
    // Every session gets GOODBYE in the end.
    let (mut events, mut acknowledged) = (0, 0);
    for &i in &live {
        loop {
            match clients[i].recv(Duration::from_secs(5)) {
                Some(Message::Event { .. }) => events += 1,
                Some(Message::Published { .. }) => acknowledged += 1,
                Some(Message::Goodbye { reason, .. }) => {
                    assert_eq!(reason, "wamp.close.system_shutdown");
                    told[i] = Some(Instant::now());
                    break;
                }
                Some(other) => panic!("unexpected {other:?}"),
                None => panic!("session {i} got no GOODBYE; stderr:\n{}", router.stderr()),
            }
        }
    }
    assert!(
        acknowledged > 0,
        "sessions in a later batch could still publish"
    );
    assert!(
        events > 0,
        "sessions in a later batch still got the publication"
    );
    let last = told.iter().flatten().max().copied().expect("GOODBYEs");
    let earliest = told.iter().flatten().min().copied().expect("GOODBYEs");
    assert!(
        last.duration_since(earliest) >= Duration::from_secs(1),
        "the GOODBYEs are spread over the 2 s window, not sent at once \
         (first to last: {:?})",
        last.duration_since(earliest)
    );
    assert!(router.wait().success(), "the node exits 0 after draining");
}
