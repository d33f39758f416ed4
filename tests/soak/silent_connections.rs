//! Thousands of silent connections.

use super::*;

#[test]
fn thousands_of_silent_connections_are_closed_after_the_handshake_timeout() {
    const SILENT: usize = 2000;
    let (mut router, ports) = start(1, |p| {
        node(
            json!({}),
            vec![],
            vec![web(p[0], json!({"open_handshake_timeout": 1000}))],
        )
    });
    let port = ports[0];
    let pid = router.pid();
    let mut witness = Witness::new(port);
    let fds_before = fd_count(pid);

    let opened = Instant::now();
    let mut silent: Vec<TcpStream> = (0..SILENT)
        .map(|i| {
            TcpStream::connect(("127.0.0.1", port))
                .unwrap_or_else(|e| panic!("silent connection {i}: {e}"))
        })
        .collect();
    let open_took = opened.elapsed();
    witness.check("with thousands of silent connections open");
    let fds_peak = fd_count(pid);

    let deadline = opened + open_took + Duration::from_secs(8);
    let mut buf = [0u8; 256];
    for (i, s) in silent.iter_mut().enumerate() {
        let mut reply = Vec::new();
        loop {
            let now = Instant::now();
            assert!(
                now < deadline,
                "silent connection {i} of {SILENT} still open {:?} after they were opened \
                 (open_handshake_timeout 1000 ms)",
                opened.elapsed()
            );
            s.set_read_timeout(Some(deadline - now)).unwrap();
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => reply.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if i == 0 {
            let at = opened.elapsed();
            assert!(
                at >= Duration::from_millis(900),
                "closed after {at:?}, before the timeout"
            );
        }
        assert!(
            reply.is_empty() || reply.starts_with(b"HTTP/1.1 408"),
            "silent connection {i}: unexpected answer {:?}",
            String::from_utf8_lossy(&reply)
        );
        if i % 500 == 0 {
            witness.check(&format!("while the silent connections close ({i})"));
        }
    }
    let all_closed = opened.elapsed();
    drop(silent);
    let fds_after = fds_settle(pid, fds_before, Duration::from_secs(15));
    eprintln!(
        "silent: {SILENT} connections opened in {open_took:?}, all closed {all_closed:?} after \
         the first; router fds {fds_before} before, {fds_peak} with them, {fds_after} after"
    );
    assert!(
        fds_after <= fds_before,
        "the router holds {fds_after} descriptors, {fds_before} before the silent connections"
    );
    witness.check("after the silent connections");
    router.assert_alive();
}
