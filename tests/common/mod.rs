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
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ferrobar::codec::Serializer;
use ferrobar::wamp::{Dict, Message, Payload, Value};
use serde_json::json;
use tungstenite::client::ClientRequestBuilder;
use tungstenite::protocol::WebSocket;

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
    let stderr = File::create(stderr_path).expect("create stderr file");
    let loglevel = std::env::var("FERROBAR_TEST_LOGLEVEL").unwrap_or_else(|_| "info".into());
    Command::new(env!("CARGO_BIN_EXE_ferrobar"))
        .arg("start")
        .arg("--cbdir")
        .arg(cbdir)
        .arg("--shards")
        .arg(shards.to_string())
        .arg("--loglevel")
        .arg(loglevel)
        .arg("--color")
        .arg("false")
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

    fn try_start(config: &serde_json::Value, port: u16, shards: usize) -> Result<Router, String> {
        let (tmp, cbdir) = node_dir(config);
        let stderr_path = tmp.path().join("stderr.log");
        let child = spawn(&cbdir, &stderr_path, shards);
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

/// What one read from a WAMP connection gave.
#[derive(Debug)]
pub enum Incoming {
    /// A decoded WAMP message.
    Msg(Message),
    /// The connection closed: with the WebSocket close code if the router sent a close frame,
    /// `None` for a TCP close or reset.
    Closed(Option<u16>),
    /// Nothing within the timeout.
    Timeout,
}

/// A TCP stream that retries reads and writes interrupted by a signal (EINTR): a socket with a
/// timeout is never restarted by the kernel, and tungstenite fails its handshake on EINTR.
pub struct Sock(pub TcpStream);

impl Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }
}

impl Write for Sock {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        loop {
            match self.0.write(buf) {
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// A blocking WAMP client for tests. Messages read while waiting for a specific reply are kept
/// and returned, in order, by later reads.
pub struct WampClient {
    ws: WebSocket<Sock>,
    /// The negotiated serializer.
    pub serializer: Serializer,
    /// The session id from the last WELCOME.
    pub session: Option<u64>,
    next_request: u64,
    stash: VecDeque<Message>,
    closed: Option<Option<u16>>,
}

impl WampClient {
    /// Connects to `ws://127.0.0.1:port/ws` offering `protocol` (`wamp.2.json` or
    /// `wamp.2.msgpack`).
    pub fn connect(port: u16, protocol: &str) -> WampClient {
        Self::connect_path(port, "/ws", protocol)
    }

    /// Connects to `/ws` and joins `realm1`.
    pub fn joined(port: u16, protocol: &str) -> WampClient {
        let mut c = Self::connect(port, protocol);
        c.hello("realm1");
        c
    }

    /// Connects to `ws://127.0.0.1:port<path>` offering `protocol`.
    pub fn connect_path(port: u16, path: &str, protocol: &str) -> WampClient {
        let serializer =
            Serializer::from_subprotocol(protocol).expect("wamp.2.json or wamp.2.msgpack");
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the router");
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(T)).unwrap();
        stream.set_write_timeout(Some(T)).unwrap();
        let uri: tungstenite::http::Uri = format!("ws://127.0.0.1:{port}{path}").parse().unwrap();
        let request = ClientRequestBuilder::new(uri).with_sub_protocol(protocol);
        let (ws, response) = match tungstenite::client::client(request, Sock(stream)) {
            Ok(ok) => ok,
            Err(e) => panic!("WebSocket handshake with {path} ({protocol}) failed: {e}"),
        };
        let agreed = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok());
        assert_eq!(
            agreed,
            Some(protocol),
            "the router must agree to the offered subprotocol"
        );
        WampClient {
            ws,
            serializer,
            session: None,
            next_request: 0,
            stash: VecDeque::new(),
            closed: None,
        }
    }

    /// A fresh request id (1, 2, 3, ...).
    pub fn next_request(&mut self) -> u64 {
        self.next_request += 1;
        self.next_request
    }

    /// The underlying socket, for writing raw bytes.
    pub fn raw_stream(&mut self) -> &mut TcpStream {
        &mut self.ws.get_mut().0
    }

    /// Sends one WAMP message in this connection's serializer.
    pub fn send(&mut self, msg: &Message) {
        let mut out = Vec::new();
        self.serializer.encode(msg, &mut out);
        if self.serializer.is_binary() {
            self.send_binary(out);
        } else {
            self.send_text(String::from_utf8(out).expect("JSON encoder produced UTF-8"));
        }
    }

    /// Sends a text frame holding `text` as is.
    pub fn send_text(&mut self, text: impl Into<String>) {
        let text: String = text.into();
        self.ws
            .send(tungstenite::Message::text(text))
            .expect("send text frame");
    }

    /// Sends a binary frame holding `bytes` as is.
    pub fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws
            .send(tungstenite::Message::binary(bytes))
            .expect("send binary frame");
    }

    /// Reads the next message, close, or timeout.
    pub fn next_incoming(&mut self, timeout: Duration) -> Incoming {
        if let Some(m) = self.stash.pop_front() {
            return Incoming::Msg(m);
        }
        self.read_incoming(timeout)
    }

    fn read_incoming(&mut self, timeout: Duration) -> Incoming {
        if let Some(code) = self.closed {
            return Incoming::Closed(code);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Incoming::Timeout;
            }
            let left = (deadline - now).max(Duration::from_millis(1));
            let _ = self.ws.get_ref().0.set_read_timeout(Some(left));
            match self.ws.read() {
                Ok(tungstenite::Message::Text(t)) => {
                    let mut bytes = t.as_bytes().to_vec();
                    return Incoming::Msg(self.decode(Serializer::Json, &mut bytes));
                }
                Ok(tungstenite::Message::Binary(b)) => {
                    let mut bytes = b.to_vec();
                    return Incoming::Msg(self.decode(Serializer::MsgPack, &mut bytes));
                }
                Ok(tungstenite::Message::Close(frame)) => {
                    let code = frame.map(|f| u16::from(f.code));
                    self.closed = Some(code);
                    return Incoming::Closed(code);
                }
                Ok(_) => {} // ping, pong, raw frame
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.closed = Some(None);
                    return Incoming::Closed(None);
                }
            }
        }
    }

    fn decode(&self, serializer: Serializer, bytes: &mut [u8]) -> Message {
        assert_eq!(
            serializer, self.serializer,
            "the router sent a frame of the wrong kind (text vs binary)"
        );
        let copy = bytes.to_vec();
        serializer.decode(bytes).unwrap_or_else(|e| {
            panic!(
                "the router sent an undecodable {serializer:?} message ({e}): {:?}",
                String::from_utf8_lossy(&copy)
            )
        })
    }

    /// The next message within `timeout`; `None` on timeout or close.
    pub fn recv(&mut self, timeout: Duration) -> Option<Message> {
        match self.next_incoming(timeout) {
            Incoming::Msg(m) => Some(m),
            _ => None,
        }
    }

    /// The next message; panics on timeout or close, naming `what` was expected.
    pub fn expect_msg(&mut self, what: &str) -> Message {
        match self.next_incoming(T) {
            Incoming::Msg(m) => m,
            other => panic!("expected {what}, got {other:?}"),
        }
    }

    /// The first message matching `pred` within [`T`]; other messages are kept for later reads.
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&Message) -> bool) -> Message {
        if let Some(i) = self.stash.iter().position(&pred) {
            return self.stash.remove(i).unwrap();
        }
        let deadline = Instant::now() + T;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_incoming(left) {
                Incoming::Msg(m) if pred(&m) => return m,
                Incoming::Msg(m) => self.stash.push_back(m),
                other => panic!(
                    "expected {what}, got {other:?} (kept meanwhile: {:?})",
                    self.stash
                ),
            }
        }
    }

    /// Asserts nothing arrives within [`QUIET`].
    pub fn expect_nothing(&mut self, context: &str) {
        if let Incoming::Msg(m) = self.next_incoming(QUIET) {
            panic!("{context}: expected no message, got {m:?}");
        }
    }

    /// Reads until the connection closes (within [`T`]); returns the messages seen before and
    /// the close code (`None`: TCP close without a close frame).
    pub fn expect_closed(&mut self) -> (Vec<Message>, Option<u16>) {
        let mut seen: Vec<Message> = self.stash.drain(..).collect();
        let deadline = Instant::now() + T;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_incoming(left) {
                Incoming::Msg(m) => seen.push(m),
                Incoming::Closed(code) => return (seen, code),
                Incoming::Timeout => {
                    panic!("the connection was not closed within {T:?}; seen: {seen:?}")
                }
            }
        }
    }

    /// Expects an ABORT next (after any messages already queued), then the connection to
    /// close. Returns the reason, the details and the close code.
    pub fn expect_abort_and_close(&mut self) -> (String, Dict, Option<u16>) {
        let (seen, code) = self.expect_closed();
        let abort = seen.iter().find_map(|m| match m {
            Message::Abort { details, reason } => Some((reason.clone(), details.clone())),
            _ => None,
        });
        match abort {
            Some((reason, details)) => (reason, details, code),
            None => panic!("expected ABORT before the close (code {code:?}), got {seen:?}"),
        }
    }

    /// HELLO (roles publisher, subscriber, caller, callee); returns the WELCOME details.
    pub fn hello(&mut self, realm: &str) -> Dict {
        let roles = Dict::new()
            .with("publisher", Dict::new())
            .with("subscriber", Dict::new())
            .with("caller", Dict::new())
            .with("callee", Dict::new());
        self.send(&Message::Hello {
            realm: realm.into(),
            details: Dict::new().with("roles", roles),
        });
        match self.expect_msg("WELCOME") {
            Message::Welcome { session, details } => {
                self.session = Some(session);
                details
            }
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }

    /// GOODBYE `wamp.close.close_realm`; returns the router's reply.
    pub fn goodbye(&mut self) -> Message {
        self.send(&Message::Goodbye {
            details: Dict::new(),
            reason: "wamp.close.close_realm".into(),
        });
        self.wait_for("GOODBYE", |m| matches!(m, Message::Goodbye { .. }))
    }

    /// SUBSCRIBE with `options`; returns the subscription id or the ERROR.
    pub fn subscribe_with(&mut self, topic: &str, options: Dict) -> Result<u64, Message> {
        let request = self.next_request();
        self.send(&Message::Subscribe {
            request,
            options,
            topic: topic.into(),
        });
        match self.wait_for("SUBSCRIBED", |m| reply_to(m, request, 32)) {
            Message::Subscribed { subscription, .. } => Ok(subscription),
            err => Err(err),
        }
    }

    /// SUBSCRIBE (exact); returns the subscription id. Panics on ERROR.
    pub fn subscribe(&mut self, topic: &str) -> u64 {
        self.subscribe_with(topic, Dict::new())
            .unwrap_or_else(|e| panic!("SUBSCRIBE {topic} refused: {e:?}"))
    }

    /// UNSUBSCRIBE; panics unless UNSUBSCRIBED.
    pub fn unsubscribe(&mut self, subscription: u64) {
        let request = self.next_request();
        self.send(&Message::Unsubscribe {
            request,
            subscription,
        });
        match self.wait_for("UNSUBSCRIBED", |m| reply_to(m, request, 34)) {
            Message::Unsubscribed { .. } => {}
            other => panic!("UNSUBSCRIBE refused: {other:?}"),
        }
    }

    /// Sends PUBLISH without waiting; returns its request id.
    pub fn publish_nowait(&mut self, topic: &str, options: Dict, payload: Payload) -> u64 {
        let request = self.next_request();
        self.send(&Message::Publish {
            request,
            options,
            topic: topic.into(),
            payload,
        });
        request
    }

    /// PUBLISH with `acknowledge: true`; returns the publication id. Panics on ERROR.
    pub fn publish_acked(&mut self, topic: &str, options: Dict, payload: Payload) -> u64 {
        let request = self.publish_nowait(topic, options.with("acknowledge", true), payload);
        match self.wait_for("PUBLISHED", |m| reply_to(m, request, 16)) {
            Message::Published { publication, .. } => publication,
            other => panic!("PUBLISH {topic} refused: {other:?}"),
        }
    }

    /// The next EVENT (other messages are kept); returns (subscription, payload).
    pub fn expect_event(&mut self) -> (u64, Payload) {
        match self.wait_for("EVENT", |m| matches!(m, Message::Event { .. })) {
            Message::Event {
                subscription,
                payload,
                ..
            } => (subscription, payload),
            _ => unreachable!(),
        }
    }

    /// REGISTER; returns the registration id or the ERROR's URI.
    pub fn register(&mut self, procedure: &str) -> Result<u64, String> {
        let request = self.next_request();
        self.send(&Message::Register {
            request,
            options: Dict::new(),
            procedure: procedure.into(),
        });
        match self.wait_for("REGISTERED", |m| reply_to(m, request, 64)) {
            Message::Registered { registration, .. } => Ok(registration),
            Message::Error { error, .. } => Err(error),
            _ => unreachable!(),
        }
    }

    /// Sends CALL without waiting; returns its request id.
    pub fn call_nowait(&mut self, procedure: &str, payload: Payload) -> u64 {
        let request = self.next_request();
        self.send(&Message::Call {
            request,
            options: Dict::new(),
            procedure: procedure.into(),
            payload,
        });
        request
    }

    /// Waits for the RESULT (or ERROR) of call `request`.
    pub fn call_outcome(&mut self, request: u64) -> Result<Payload, (String, Payload)> {
        match self.wait_for("RESULT", |m| reply_to(m, request, 48)) {
            Message::Result { payload, .. } => Ok(payload),
            Message::Error { error, payload, .. } => Err((error, payload)),
            _ => unreachable!(),
        }
    }

    /// CALL and wait for its RESULT (or ERROR).
    pub fn call(
        &mut self,
        procedure: &str,
        payload: Payload,
    ) -> Result<Payload, (String, Payload)> {
        let request = self.call_nowait(procedure, payload);
        self.call_outcome(request)
    }

    /// The next INVOCATION (other messages are kept); returns (request, registration, payload).
    pub fn expect_invocation(&mut self) -> (u64, u64, Payload) {
        match self.wait_for("INVOCATION", |m| matches!(m, Message::Invocation { .. })) {
            Message::Invocation {
                request,
                registration,
                payload,
                ..
            } => (request, registration, payload),
            _ => unreachable!(),
        }
    }

    /// YIELD for invocation `request`.
    pub fn yield_result(&mut self, request: u64, payload: Payload) {
        self.send(&Message::Yield {
            request,
            options: Dict::new(),
            payload,
        });
    }

    /// Drops the socket without GOODBYE or WebSocket close (an abrupt disconnect).
    pub fn drop_abruptly(self) {
        let _ = self.ws.get_ref().0.shutdown(Shutdown::Both);
    }
}

/// True when `m` answers request `request` of type `request_type`: the matching success
/// message (SUBSCRIBED for 32, ...) or an ERROR for it.
pub fn reply_to(m: &Message, request: u64, request_type: u64) -> bool {
    match (m, request_type) {
        (
            Message::Error {
                request_type: t,
                request: r,
                ..
            },
            _,
        ) => *t == request_type && *r == request,
        (Message::Published { request: r, .. }, 16) => *r == request,
        (Message::Subscribed { request: r, .. }, 32) => *r == request,
        (Message::Unsubscribed { request: r }, 34) => *r == request,
        (Message::Result { request: r, .. }, 48) => *r == request,
        (Message::Registered { request: r, .. }, 64) => *r == request,
        (Message::Unregistered { request: r }, 66) => *r == request,
        _ => false,
    }
}

/// A payload of positional args only.
pub fn args(values: Vec<Value>) -> Payload {
    Payload::args(values)
}

/// A payload of args and kwargs.
pub fn args_kwargs(values: Vec<Value>, kwargs: Dict) -> Payload {
    Payload {
        args: Some(values),
        kwargs: Some(kwargs),
    }
}

/// Two well-behaved sessions that prove the router keeps serving: `a` (JSON) subscribes to a
/// topic and registers a procedure, `b` (MessagePack) publishes and calls.
pub struct Witness {
    a: WampClient,
    b: WampClient,
    n: i64,
}

pub const WITNESS_TOPIC: &str = "test.witness.topic";
pub const WITNESS_PROC: &str = "test.witness.echo";

impl Witness {
    pub fn new(port: u16) -> Witness {
        let mut a = WampClient::joined(port, JSON);
        let b = WampClient::joined(port, MSGPACK);
        a.subscribe(WITNESS_TOPIC);
        a.register(WITNESS_PROC)
            .expect("register the witness procedure");
        let mut w = Witness { a, b, n: 0 };
        w.check("before the bad input");
        w
    }

    /// One event and one call round trip; panics (naming `context`) if either fails.
    pub fn check(&mut self, context: &str) {
        self.n += 1;
        let n = self.n;
        self.b
            .publish_acked(WITNESS_TOPIC, Dict::new(), args(vec![Value::Int(n)]));
        let (_, payload) = self.a.expect_event();
        assert_eq!(
            payload.args,
            Some(vec![Value::Int(n)]),
            "{context}: witness event"
        );
        let call = self.b.call_nowait(WITNESS_PROC, args(vec![Value::Int(n)]));
        let (inv, _, payload) = self.a.expect_invocation();
        self.a.yield_result(inv, payload);
        let result = self.b.call_outcome(call);
        assert_eq!(
            result,
            Ok(args(vec![Value::Int(n)])),
            "{context}: witness call"
        );
    }
}

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
