//! systemd's `Type=notify` protocol as a service manager sees it: the test binds a Unix
//! datagram socket, starts the real binary with `NOTIFY_SOCKET` pointing at it, and reads
//! what arrives. READY=1 must mean "serving": a connection made right after it is accepted
//! and answered. SIGTERM must bring STOPPING=1 before the process exits 0. With
//! `WATCHDOG_USEC` set, WATCHDOG=1 keeps coming while the shards run.

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A started node and the socket it notifies.
struct Notified {
    child: Child,
    socket: UnixDatagram,
    port: u16,
    _tmp: tempfile::TempDir,
}

impl Notified {
    fn start(env: &[(&str, &str)]) -> Notified {
        let tmp = tempfile::Builder::new()
            .prefix("ferrobar-systemd-")
            .tempdir()
            .expect("tempdir");
        let cbdir = tmp.path().join(".crossbar");
        std::fs::create_dir_all(&cbdir).expect("node dir");
        let port = free_port();
        std::fs::write(cbdir.join("config.json"), default_config(port).to_string())
            .expect("config.json");
        let path = tmp.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        socket
            .set_read_timeout(Some(START_TIMEOUT))
            .expect("read timeout");
        let mut cmd = ferrobar_command();
        cmd.args(["start", "--shards", "2", "--loglevel", "warn", "--cbdir"])
            .arg(&cbdir)
            .env("NOTIFY_SOCKET", &path)
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn ferrobar");
        Notified {
            child,
            socket,
            port,
            _tmp: tmp,
        }
    }

    /// The next datagram's lines (bounded by the socket's read timeout).
    fn next(&self) -> Vec<String> {
        let mut buf = [0u8; 4096];
        let n = self
            .socket
            .recv(&mut buf)
            .expect("a notification within the timeout");
        String::from_utf8_lossy(&buf[..n])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Reads datagrams until one has `line`; returns the lines seen before it.
    fn until(&self, line: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let msg = self.next();
            if msg.iter().any(|l| l == line) {
                return seen;
            }
            seen.extend(msg);
        }
    }

    /// Sends SIGHUP (a configuration reload).
    fn hangup(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: kill has no memory-safety preconditions; the child is ours and not reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    }

    fn terminate(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill has no memory-safety preconditions; the pid is our own unreaped child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    }

    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "ferrobar still runs {STOP_TIMEOUT:?} after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ready_comes_once_serving_and_stopping_on_sigterm() {
    let mut node = Notified::start(&[]);
    let before = node.until("READY=1");
    assert!(
        !before.iter().any(|l| l.starts_with("STOPPING")),
        "{before:?}"
    );
    // Serving now: no retry, no wait. The node info page comes from a shard.
    let info = http_get(node.port, "/info");
    assert_eq!(info.status, 200, "{}", info.body);
    // And a WAMP session joins.
    let _session = WampClient::joined(node.port, JSON);

    node.terminate();
    node.until("STOPPING=1");
    let status = node.wait();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

#[test]
fn watchdog_keepalives_come_while_the_shards_run() {
    // WatchdogSec=0.4s: a keep-alive every 200 ms.
    let mut node = Notified::start(&[("WATCHDOG_USEC", "400000")]);
    node.until("READY=1");
    let first = Instant::now();
    node.until("WATCHDOG=1");
    node.until("WATCHDOG=1");
    node.until("WATCHDOG=1");
    // Three keep-alives a half period apart, not a burst.
    assert!(
        first.elapsed() >= Duration::from_millis(400),
        "{:?}",
        first.elapsed()
    );
    node.terminate();
    assert!(node.wait().success());
}

#[test]
fn no_watchdog_for_another_process() {
    // WATCHDOG_PID names another process: the watchdog is not ours to feed (sd_watchdog_enabled).
    let mut node = Notified::start(&[("WATCHDOG_USEC", "200000"), ("WATCHDOG_PID", "1")]);
    node.until("READY=1");
    // Five would-be periods (100 ms each) pass with nothing sent.
    node.socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("read timeout");
    let mut buf = [0u8; 4096];
    match node.socket.recv(&mut buf) {
        Ok(n) => panic!(
            "unexpected notification: {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{e}"
        ),
    }
    node.socket
        .set_read_timeout(Some(START_TIMEOUT))
        .expect("read timeout");
    node.terminate();
    node.until("STOPPING=1");
    assert!(node.wait().success());
}

#[test]
fn a_reload_says_reloading_then_ready_and_the_node_keeps_serving() {
    let mut node = Notified::start(&[]);
    node.until("READY=1");
    let mut session = WampClient::joined(node.port, JSON);
    node.hangup();
    // One datagram: RELOADING=1 with the monotonic time systemd 253+ requires.
    let reloading = node.next();
    assert!(
        reloading.iter().any(|l| l == "RELOADING=1"),
        "{reloading:?}"
    );
    assert!(
        reloading.iter().any(|l| l.starts_with("MONOTONIC_USEC=")),
        "{reloading:?}"
    );
    let after = node.until("READY=1");
    assert!(
        !after.iter().any(|l| l.starts_with("STOPPING")),
        "{after:?}"
    );
    // The session made before the reload still works.
    session.publish_acked(
        "com.reload.check",
        ferrobar::wamp::Dict::new(),
        args(vec![]),
    );
    node.terminate();
    node.until("STOPPING=1");
    assert!(node.wait().success());
}
