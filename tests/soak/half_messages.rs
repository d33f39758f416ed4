//! Clients that die or stall in the middle of a large message.

use super::*;

/// The header of a masked client WebSocket frame (FIN, binary) announcing `len` bytes.
fn ws_frame_header(len: u64) -> Vec<u8> {
    let mut h = vec![0x82, 0x80 | 127];
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&[0x11, 0x22, 0x33, 0x44]); // mask
    h
}

/// Writes `bytes` and tolerates the router closing in between.
fn write_some(s: &mut TcpStream, bytes: &[u8]) {
    let _ = s.write_all(bytes);
    let _ = s.flush();
}

#[test]
fn clients_dying_or_stalling_mid_message_do_not_hurt_the_router() {
    const MIB: u64 = 1 << 20;
    let half = vec![0x5Au8; (MIB / 2) as usize];
    let ws = json!({"max_message_size": 4 * MIB, "max_frame_size": 4 * MIB});
    let (mut router, ports) = start(2, |p| {
        node(
            json!({}),
            vec![],
            vec![
                web(p[0], ws.clone()),
                json!({"type": "rawsocket", "endpoint": tcp_endpoint(p[1]),
                       "serializers": ["json", "msgpack"]}),
            ],
        )
    });
    let (port, rs_port) = (ports[0], ports[1]);
    let pid = router.pid();
    let mut witness = Witness::new(port);
    let mut observer = WampClient::joined(port, MSGPACK);
    expect_census_sessions(&mut observer, 3, "before");
    let fds_before = fd_count(pid);

    // Half of a 1 MiB frame, then the process "dies": by reset (kill -9 with unread data) and
    // by a plain close (kill -9 otherwise), on WebSocket and on RawSocket.
    for how in ["reset", "close"] {
        let mut c = WampClient::joined(port, JSON);
        let mut frame = ws_frame_header(MIB);
        frame.extend_from_slice(&half);
        write_some(c.raw_stream(), &frame);
        if how == "reset" {
            reset(c);
        } else {
            drop(c);
        }
        let mut r = rawsocket_joined(rs_port);
        let mut frame = vec![0, (MIB >> 16) as u8, (MIB >> 8) as u8, MIB as u8];
        frame.extend_from_slice(&half);
        write_some(&mut r, &frame);
        if how == "reset" {
            reset_stream(r);
        } else {
            drop(r);
        }
        witness.check(&format!("after clients died mid-message ({how})"));
    }
    expect_census_sessions(&mut observer, 3, "after the dead clients");

    // Half a frame, then nothing: the router waits (there is no read timeout for a frame
    // body), keeps serving everyone else, and releases the connection once the peer closes.
    let mut stalled_ws = WampClient::joined(port, JSON);
    let mut frame = ws_frame_header(MIB);
    frame.extend_from_slice(&half);
    write_some(stalled_ws.raw_stream(), &frame);
    let mut stalled_rs = rawsocket_joined(rs_port);
    let mut frame = vec![0, (MIB >> 16) as u8, (MIB >> 8) as u8, MIB as u8];
    frame.extend_from_slice(&half);
    write_some(&mut stalled_rs, &frame);
    for i in 0..3 {
        std::thread::sleep(Duration::from_millis(300));
        witness.check(&format!("while two clients stall mid-frame ({i})"));
    }
    router.assert_alive();
    expect_census_sessions(&mut observer, 5, "with two stalled clients");
    drop(stalled_ws);
    drop(stalled_rs);
    expect_census_sessions(&mut observer, 3, "after the stalled clients closed");
    let fds_after = fds_settle(pid, fds_before, Duration::from_secs(15));
    assert!(
        fds_after <= fds_before,
        "the router holds {fds_after} descriptors, {fds_before} before: a connection leaked"
    );
    witness.check("at the end");
    router.assert_alive();
}
