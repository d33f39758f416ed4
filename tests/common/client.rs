//! A WAMP test client over WebSocket (tungstenite) speaking JSON or MessagePack, and the
//! witness that proves the router still serves others after bad input.

use super::*;

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
        (Message::Unsubscribed { request: r, .. }, 34) => *r == request,
        (Message::Result { request: r, .. }, 48) => *r == request,
        (Message::Registered { request: r, .. }, 64) => *r == request,
        (Message::Unregistered { request: r, .. }, 66) => *r == request,
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
