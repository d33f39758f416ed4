//! Shared helpers for the integration tests: the real `ferrobar` binary on loopback, and a
//! small blocking WAMP client over tungstenite that decodes with ferrobar's own codec.
//!
//! Everything here is bounded in time: the router must come up within [`START_TIMEOUT`],
//! every read has a timeout, and a test that waits for something that never comes panics with
//! what it was waiting for (and the router's stderr where it helps).

#![allow(dead_code)]

use std::collections::VecDeque;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ferrobar::codec::Serializer;
use ferrobar::wamp::{Dict, Message, Payload, Value};
use serde_json::json;
use tungstenite::client::ClientRequestBuilder;
use tungstenite::protocol::WebSocket;

mod binary;
mod client;
pub use binary::*;
pub use client::*;

/// How long a router may take to accept TCP connections after it was spawned.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a router may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The default wait for one expected message.
pub const T: Duration = Duration::from_secs(3);
/// The wait used to show that something does *not* arrive.
pub const QUIET: Duration = Duration::from_millis(300);

pub const JSON: &str = "wamp.2.json";
pub const MSGPACK: &str = "wamp.2.msgpack";

/// A port that was free a moment ago (bind `127.0.0.1:0`, read the port, drop the socket).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// The anonymous role, allowed everything on every URI.
pub fn allow_all_role() -> serde_json::Value {
    json!({
        "name": "anonymous",
        "permissions": [{
            "uri": "",
            "match": "prefix",
            "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
            "disclose": {"caller": false, "publisher": false},
            "cache": true
        }]
    })
}

/// Realm `realm1` (anonymous allowed everything) and one `web` transport on
/// `127.0.0.1:<port>` with `/ws` (websocket) and `/info` (nodeinfo).
pub fn default_config(port: u16) -> serde_json::Value {
    config_with_ws(port, json!({"type": "websocket"}))
}

/// Like [`default_config`], with `ws` as the service at `/ws`.
pub fn config_with_ws(port: u16, ws: serde_json::Value) -> serde_json::Value {
    json!({
        "version": 2,
        "workers": [{
            "type": "router",
            "realms": [{"name": "realm1", "roles": [allow_all_role()]}],
            "transports": [{
                "type": "web",
                "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
                "paths": {
                    "ws": ws,
                    "info": {"type": "nodeinfo"}
                }
            }]
        }]
    })
}

/// Writes `config` as `<tmp>/.crossbar/config.json` and returns the temp dir and the node dir.
fn node_dir(config: &serde_json::Value) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::Builder::new()
        .prefix("ferrobar-test-")
        .tempdir()
        .expect("tempdir");
    let cbdir = tmp.path().join(".crossbar");
    std::fs::create_dir_all(&cbdir).expect("create node dir");
    let text = serde_json::to_string_pretty(config).expect("serialize config");
    std::fs::write(cbdir.join("config.json"), text).expect("write config.json");
    (tmp, cbdir)
}

fn spawn(cbdir: &std::path::Path, stderr_path: &std::path::Path, shards: usize) -> Child {
    spawn_with(cbdir, stderr_path, shards, &[])
}

fn spawn_with(
    cbdir: &std::path::Path,
    stderr_path: &std::path::Path,
    shards: usize,
    extra: &[&str],
) -> Child {
    let stderr = File::create(stderr_path).expect("create stderr file");
    let loglevel = std::env::var("FERROBAR_TEST_LOGLEVEL").unwrap_or_else(|_| "info".into());
    ferrobar_command()
        .arg("start")
        .arg("--cbdir")
        .arg(cbdir)
        .arg("--shards")
        .arg(shards.to_string())
        .args(if extra.contains(&"--loglevel") {
            vec![]
        } else {
            vec!["--loglevel".to_owned(), loglevel]
        })
        .arg("--color")
        .arg("false")
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr))
        .spawn()
        .expect("spawn ferrobar")
}

/// Waits (bounded) for `child` to exit.
fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `ferrobar start` on a config that must make it fail; returns its exit status and
/// stderr. Panics if it is still running after `timeout`.
pub fn start_expecting_failure(
    config: &serde_json::Value,
    timeout: Duration,
) -> (ExitStatus, String) {
    let (tmp, cbdir) = node_dir(config);
    let stderr_path = tmp.path().join("stderr.log");
    let mut child = spawn(&cbdir, &stderr_path, 1);
    let status = wait_bounded(&mut child, timeout);
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    match status {
        Some(s) => (s, stderr),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ferrobar start was expected to fail but still runs after {timeout:?}; stderr:\n{stderr}")
        }
    }
}

/// A running `ferrobar start` on a temp node directory. Killed on drop if still running.
pub struct Router {
    child: Option<Child>,
    /// The port of its (first) transport.
    pub port: u16,
    stderr_path: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Router {
    /// Starts the binary on `config` with `--shards shards` and waits (bounded) until `port`
    /// accepts TCP. Panics with the router's stderr if it exits or never listens.
    pub fn start(config: serde_json::Value, shards: usize) -> Router {
        let port = config["workers"][0]["transports"][0]["endpoint"]["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .expect("config must have workers[0].transports[0].endpoint.port");
        match Self::try_start(&config, port, shards) {
            Ok(r) => r,
            Err(stderr) => panic!("ferrobar did not start on port {port}; stderr:\n{stderr}"),
        }
    }

    /// Starts a router on [`default_config`] with a fresh free port.
    pub fn start_default(shards: usize) -> Router {
        Self::start_with(default_config, shards)
    }

    /// Starts a router on `make(port)` for a fresh free port, retrying with another port if the
    /// one picked was taken in between (parallel tests pick ports concurrently).
    pub fn start_with(make: impl Fn(u16) -> serde_json::Value, shards: usize) -> Router {
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            match Self::try_start(&make(port), port, shards) {
                Ok(r) => return r,
                Err(stderr) if stderr.contains("in use") => last = stderr,
                Err(stderr) => panic!("ferrobar did not start on port {port}; stderr:\n{stderr}"),
            }
        }
        panic!("ferrobar could not get a free port after 3 tries; last stderr:\n{last}")
    }

    /// Starts a router on `make(ports)` with `n` fresh TCP ports (`ports[0]` must be the port
    /// of the first transport) and waits (bounded) until every port and every Unix socket in
    /// `sockets` accepts. Retries with other ports if one was taken in between.
    pub fn start_on_ports(
        n: usize,
        shards: usize,
        sockets: &[&std::path::Path],
        make: impl Fn(&[u16]) -> serde_json::Value,
    ) -> (Router, Vec<u16>) {
        let mut last = String::new();
        for _ in 0..3 {
            let mut ports: Vec<u16> = Vec::new();
            while ports.len() < n {
                let p = free_port();
                if !ports.contains(&p) {
                    ports.push(p);
                }
            }
            let mut router = match Self::try_start(&make(&ports), ports[0], shards) {
                Ok(r) => r,
                Err(stderr) if stderr.contains("in use") => {
                    last = stderr;
                    continue;
                }
                Err(stderr) => panic!("ferrobar did not start; stderr:\n{stderr}"),
            };
            let deadline = Instant::now() + START_TIMEOUT;
            let mut pending_ports: Vec<u16> = ports.clone();
            let mut pending_socks: Vec<&std::path::Path> = sockets.to_vec();
            loop {
                pending_ports.retain(|&p| TcpStream::connect(("127.0.0.1", p)).is_err());
                pending_socks.retain(|p| std::os::unix::net::UnixStream::connect(p).is_err());
                if pending_ports.is_empty() && pending_socks.is_empty() {
                    return (router, ports);
                }
                if !router.is_alive() {
                    if router.stderr().contains("in use") {
                        last = router.stderr();
                        break;
                    }
                    panic!("the router exited; stderr:\n{}", router.stderr());
                }
                assert!(
                    Instant::now() < deadline,
                    "listeners not up within {START_TIMEOUT:?}: ports {pending_ports:?}, \
                     sockets {pending_socks:?}; stderr:\n{}",
                    router.stderr()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("could not get free ports after 3 tries; last:\n{last}")
    }

    /// Like [`Router::start`], with more `ferrobar start` arguments.
    pub fn start_with_args(config: serde_json::Value, shards: usize, extra: &[&str]) -> Router {
        let port = config["workers"][0]["transports"][0]["endpoint"]["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .expect("config must have workers[0].transports[0].endpoint.port");
        match Self::try_start_with(&config, port, shards, extra) {
            Ok(r) => r,
            Err(stderr) => panic!("ferrobar did not start on port {port}; stderr:\n{stderr}"),
        }
    }

    fn try_start(config: &serde_json::Value, port: u16, shards: usize) -> Result<Router, String> {
        Self::try_start_with(config, port, shards, &[])
    }

    fn try_start_with(
        config: &serde_json::Value,
        port: u16,
        shards: usize,
        extra: &[&str],
    ) -> Result<Router, String> {
        let (tmp, cbdir) = node_dir(config);
        let stderr_path = tmp.path().join("stderr.log");
        let child = spawn_with(&cbdir, &stderr_path, shards, extra);
        let mut router = Router {
            child: Some(child),
            port,
            stderr_path,
            _tmp: tmp,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        loop {
            if let Some(status) = router.child_mut().try_wait().expect("try_wait") {
                router.child = None;
                return Err(format!("(exited with {status})\n{}", router.stderr()));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(router);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "(not listening after {START_TIMEOUT:?})\n{}",
                    router.stderr()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("router already stopped")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("router already stopped").id()
    }

    /// Everything the router wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Replaces the node's `config.json` (for a reload).
    pub fn write_config(&self, config: &serde_json::Value) {
        let text = serde_json::to_string_pretty(config).expect("serialize config");
        std::fs::write(self.cbdir().join("config.json"), text).expect("write config.json");
    }

    /// Waits (bounded by [`START_TIMEOUT`]) until the router's log holds `needle` at least
    /// `count` times: how a test learns that the router finished something it only logs (a
    /// reload); panics with the log otherwise.
    pub fn wait_for_log(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let log = self.stderr();
            if log.matches(needle).count() >= count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the log did not say \"{needle}\" {count} time(s) within {START_TIMEOUT:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True while the process has not exited.
    pub fn is_alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().expect("try_wait").is_none(),
            None => false,
        }
    }

    /// Panics (with stderr) unless the process is still running.
    pub fn assert_alive(&mut self) {
        if !self.is_alive() {
            panic!("the router process is gone; stderr:\n{}", self.stderr());
        }
    }

    /// Sends SIGTERM (graceful shutdown) without waiting.
    pub fn terminate(&self) {
        let pid = libc::pid_t::try_from(self.pid()).expect("pid fits pid_t");
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child, not yet
        // reaped (we hold its `Child`), so it cannot have been reused.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(
            rc,
            0,
            "kill(SIGTERM) failed: {}",
            std::io::Error::last_os_error()
        );
    }

    /// Waits (bounded by [`STOP_TIMEOUT`]) for the process to exit after [`Router::terminate`].
    pub fn wait(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("router already stopped");
        match wait_bounded(&mut child, STOP_TIMEOUT) {
            Some(status) => status,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the router did not exit within {STOP_TIMEOUT:?} of SIGTERM; stderr:\n{}",
                    self.stderr()
                )
            }
        }
    }

    /// Stops the router (SIGTERM, bounded) and starts it again on the same node directory and
    /// port, so what a node keeps on disk across restarts can be tested.
    pub fn restart(&mut self, shards: usize) {
        self.terminate();
        let mut child = self.child.take().expect("router already stopped");
        if wait_bounded(&mut child, STOP_TIMEOUT).is_none() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the router did not stop for a restart; stderr:\n{}",
                self.stderr()
            );
        }
        let cbdir = self._tmp.path().join(".crossbar");
        self.child = Some(spawn(&cbdir, &self.stderr_path, shards));
        let deadline = Instant::now() + START_TIMEOUT;
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if !self.is_alive() || Instant::now() >= deadline {
                panic!(
                    "the router did not come back after a restart; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The node directory (`<tmp>/.crossbar`).
    pub fn cbdir(&self) -> PathBuf {
        self._tmp.path().join(".crossbar")
    }

    /// SIGTERM, then wait (bounded) for the exit status.
    pub fn stop(self) -> ExitStatus {
        self.terminate();
        self.wait()
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ----- plain HTTP -----

/// Sends `request` as is and returns everything the router answers until it closes the
/// connection (bounded by [`T`]). A reset after some bytes counts as the end.
pub fn http_raw(port: u16, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(T)).unwrap();
    s.set_write_timeout(Some(T)).unwrap();
    // The router may answer and close before it read everything: a failed write is fine.
    let _ = s.write_all(request);
    read_to_close(&mut s)
}

/// Reads until EOF, reset or [`T`] (panics on timeout: the router must close).
pub fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let deadline = Instant::now() + T;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                assert!(
                    Instant::now() < deadline,
                    "the router neither answered nor closed within {T:?} (got {:?})",
                    String::from_utf8_lossy(&out)
                );
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return out,
        }
    }
}

/// A parsed HTTP response: status, headers (lower-cased names), body as text.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a complete HTTP/1.1 response; `None` if `raw` is empty or not HTTP.
pub fn parse_http(raw: &[u8]) -> Option<HttpResponse> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.splitn(3, ' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(HttpResponse {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// `request` over a fresh connection, parsed; panics if the answer is not HTTP.
pub fn http(port: u16, request: &str) -> HttpResponse {
    let raw = http_raw(port, request.as_bytes());
    parse_http(&raw)
        .unwrap_or_else(|| panic!("not an HTTP response: {:?}", String::from_utf8_lossy(&raw)))
}

/// `GET path`.
pub fn http_get(port: u16, path: &str) -> HttpResponse {
    http(
        port,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: ferrobar-tests\r\n\r\n"
        ),
    )
}

// ----- WAMP client -----

/// Open descriptors of `pid` (Linux).
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Waits (up to `within`) until `pid` holds at most `limit` descriptors; returns the last count.
pub fn fds_settle(pid: u32, limit: usize, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let n = fd_count(pid);
        if n <= limit || Instant::now() >= deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
