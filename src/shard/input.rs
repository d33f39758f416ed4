//! What a connection's plaintext bytes mean, phase by phase: the HTTP request head, the first
//! byte of a universal port, the RawSocket handshake, then WebSocket or RawSocket frames whose
//! messages are decoded and handed to the core.

use std::sync::Arc;
use std::time::SystemTime;

use crate::auth::cookie::CookieSession;
use crate::router::{Core, Framing, TransportInfo};
use crate::transport::http::{self, CookieRequest, HttpContext, HttpOutcome, NodeInfo};
use crate::transport::rawsocket::{self, HandshakeOutcome, RawEvent, RawReader};
use crate::transport::websocket::{self, Flow, WsEvent, WsLimits, WsReader};

use super::conn::{Conn, Phase};
use super::TransportRuntime;

/// What input handling needs besides the connection.
pub(crate) struct Input<'a> {
    pub(crate) core: &'a mut Core,
    pub(crate) dirty: &'a mut Vec<usize>,
    pub(crate) transports: &'a [TransportRuntime],
    pub(crate) node: &'a NodeInfo,
}

impl Input<'_> {
    fn mark_dirty(&mut self, conn: &mut Conn, key: usize) {
        super::mark_dirty(conn, key, self.dirty);
    }

    /// Handles fresh plaintext bytes from connection `key`.
    pub(crate) fn ingest(&mut self, conn: &mut Conn, key: usize, data: &mut [u8]) {
        match conn.phase {
            Phase::Closing => {}
            Phase::WebSocket { .. } | Phase::RawSocket { .. } => self.framed(conn, key, data),
            Phase::Sniff | Phase::Http | Phase::RawHandshake => {
                conn.rbuf.extend_from_slice(data);
                self.handshake(conn, key);
            }
        }
    }

    /// Frames: in place when nothing is buffered, else appended to the partial frame.
    fn framed(&mut self, conn: &mut Conn, key: usize, data: &mut [u8]) {
        if conn.rbuf.is_empty() {
            let used = self.frames(conn, key, data);
            if !matches!(conn.phase, Phase::Closing) {
                conn.rbuf.extend_from_slice(&data[used..]);
            }
        } else {
            conn.rbuf.extend_from_slice(data);
            self.buffered_frames(conn, key);
        }
    }

    fn buffered_frames(&mut self, conn: &mut Conn, key: usize) {
        let mut buf = std::mem::take(&mut conn.rbuf);
        let used = self.frames(conn, key, &mut buf);
        if !matches!(conn.phase, Phase::Closing) {
            buf.drain(..used.min(buf.len()));
            conn.rbuf = buf;
        }
        conn.trim_rbuf();
    }

    /// Advances the pre-session phases as far as the buffered bytes allow.
    fn handshake(&mut self, conn: &mut Conn, key: usize) {
        loop {
            let transport = &self.transports[conn.transport as usize];
            match conn.phase {
                Phase::Sniff => {
                    let Some(&first) = conn.rbuf.first() else {
                        return;
                    };
                    conn.phase = match (first == rawsocket::MAGIC, transport.rawsocket.is_some()) {
                        (true, true) => Phase::RawHandshake,
                        (false, _) => Phase::Http,
                        // RawSocket on a universal port that offers none: close, as Crossbar does.
                        (true, false) => {
                            conn.finish();
                            return self.mark_dirty(conn, key);
                        }
                    };
                }
                Phase::Http => return self.http(conn, key),
                Phase::RawHandshake => return self.raw_handshake(conn, key),
                _ => return,
            }
        }
    }

    fn http(&mut self, conn: &mut Conn, key: usize) {
        let transport = &self.transports[conn.transport as usize];
        let peer = conn.stream.peer();
        let ctx = HttpContext {
            transport: &transport.kind,
            node: self.node,
            peer: &peer,
        };
        match http::handle_request(&conn.rbuf, &ctx) {
            HttpOutcome::Incomplete => {}
            HttpOutcome::Respond { response } => {
                conn.wbuf.extend_from_slice(&response);
                conn.finish();
                self.mark_dirty(conn, key);
            }
            HttpOutcome::Upgrade {
                serializer,
                mut response,
                consumed,
                options,
                cookie,
            } => {
                let cookie = cookie.and_then(|c| track_cookie(transport, &c, &mut response));
                conn.wbuf.extend_from_slice(&response);
                self.mark_dirty(conn, key);
                conn.rbuf.drain(..consumed.min(conn.rbuf.len()));
                let limits = WsLimits::new(options.max_message_size, options.max_frame_size);
                conn.phase = Phase::WebSocket {
                    reader: WsReader::default(),
                    serializer,
                    limits,
                };
                conn.ping = options.auto_ping_interval_ms.map(|interval| {
                    super::conn::PingPolicy::new(
                        interval,
                        options.auto_ping_timeout_ms,
                        options.auto_ping_size,
                    )
                });
                self.open_session(conn, key, serializer, cookie);
                if !conn.rbuf.is_empty() {
                    self.buffered_frames(conn, key);
                }
                conn.trim_rbuf();
            }
        }
    }

    fn raw_handshake(&mut self, conn: &mut Conn, key: usize) {
        let Some(service) = &self.transports[conn.transport as usize].rawsocket else {
            return;
        };
        let max_exponent = rawsocket::max_exponent(service.max_message_size);
        match rawsocket::parse_handshake(&conn.rbuf, &service.serializers, max_exponent) {
            HandshakeOutcome::Incomplete => {}
            HandshakeOutcome::NotRawSocket => {
                tracing::debug!(peer = %conn.stream.peer(), "not a RawSocket handshake: closing");
                conn.finish();
                self.mark_dirty(conn, key);
            }
            HandshakeOutcome::Refuse { reply, reason } => {
                tracing::debug!(peer = %conn.stream.peer(), "RawSocket handshake refused: {reason}");
                conn.wbuf.extend_from_slice(&reply);
                conn.finish();
                self.mark_dirty(conn, key);
            }
            HandshakeOutcome::Accept {
                serializer,
                client_max_len,
                reply,
            } => {
                conn.wbuf.extend_from_slice(&reply);
                self.mark_dirty(conn, key);
                conn.rbuf.drain(..4);
                let max_len = rawsocket::exponent_len(max_exponent);
                conn.phase = Phase::RawSocket {
                    reader: RawReader::default(),
                    serializer,
                    max_len,
                    client_max_len,
                };
                self.open_session(conn, key, serializer, None);
                if !conn.rbuf.is_empty() {
                    self.buffered_frames(conn, key);
                }
                conn.trim_rbuf();
            }
        }
    }

    fn open_session(
        &mut self,
        conn: &mut Conn,
        key: usize,
        serializer: crate::codec::Serializer,
        cookie: Option<CookieSession>,
    ) {
        conn.session_open = true;
        let auth = Arc::clone(&self.transports[conn.transport as usize].auth);
        let client_cert_sha1 = conn.tls.as_ref().and_then(|t| client_cert_fingerprint(t));
        // `tls-unique` (RFC 5929) is the first Finished message, which rustls does not expose:
        // cryptosign channel binding is refused, with or without TLS.
        let channel_id = None;
        let (kind, max_message_len) = match &conn.phase {
            Phase::RawSocket { client_max_len, .. } => (Framing::RawSocket, *client_max_len),
            Phase::WebSocket { limits, .. } => (Framing::WebSocket, limits.max_message_len()),
            _ => (Framing::WebSocket, usize::MAX),
        };
        let info = TransportInfo {
            serializer,
            peer: conn.stream.peer().into(),
            auth,
            client_cert_sha1,
            channel_id,
            kind,
            cookie,
            max_message_len,
        };
        self.core.handle_open(conn.id(key), info);
    }

    /// Feeds frames to the reader and decoded messages to the core. Returns the bytes consumed.
    fn frames(&mut self, conn: &mut Conn, key: usize, buf: &mut [u8]) -> usize {
        let id = conn.id(key);
        let core = &mut *self.core;
        let mut wbuf = std::mem::take(&mut conn.wbuf);
        let mut peer_closed = false;
        let result = match &mut conn.phase {
            Phase::WebSocket {
                reader,
                serializer,
                limits,
            } => {
                let serializer = *serializer;
                reader
                    .process(buf, *limits, |event| match event {
                        WsEvent::Message { data, binary } => {
                            if binary != serializer.is_binary() {
                                // wamp.2.json travels in text messages only, binary serializers
                                // in binary messages only (spec, basic transports).
                                let kind = if binary { "binary" } else { "text" };
                                let msg = format!(
                                    "{kind} WebSocket message on a {} session",
                                    serializer.subprotocol()
                                );
                                core.handle_malformed(id, &msg);
                            } else {
                                deliver(core, id, serializer, data);
                            }
                            Flow::Continue
                        }
                        WsEvent::Ping(payload) => {
                            websocket::write_pong(&mut wbuf, payload);
                            Flow::Continue
                        }
                        WsEvent::Close { .. } => {
                            peer_closed = true;
                            Flow::Stop
                        }
                    })
                    .map_err(|e| (e.to_string(), e.close_code()))
            }
            Phase::RawSocket {
                reader,
                serializer,
                max_len,
                ..
            } => {
                let serializer = *serializer;
                reader
                    .process(buf, *max_len, |event| {
                        match event {
                            RawEvent::Message(data) => deliver(core, id, serializer, data),
                            RawEvent::Ping(payload) => {
                                // A ping payload is at most the negotiated length, so this fits.
                                let _ = rawsocket::write_pong(&mut wbuf, payload);
                            }
                            RawEvent::Pong => {}
                        }
                        Flow::Continue
                    })
                    .map_err(|e| (e.to_string(), websocket::CLOSE_PROTOCOL_ERROR))
            }
            _ => Ok(buf.len()),
        };
        conn.wbuf = wbuf;
        if !conn.wbuf.is_empty() {
            self.mark_dirty(conn, key);
        }
        match result {
            Ok(used) if peer_closed => {
                websocket::write_close(&mut conn.wbuf, websocket::CLOSE_NORMAL, "");
                conn.finish();
                self.mark_dirty(conn, key);
                used
            }
            Ok(used) => used,
            Err((reason, code)) => {
                conn.close_code = code;
                self.core.handle_malformed(id, &reason);
                buf.len()
            }
        }
    }
}

/// The connection's cookie on a WebSocket endpoint with cookie tracking: a known one is kept,
/// anything else gets a new one, sent back in `Set-Cookie` with the 101 (see
/// [`crate::auth::cookie`]). Locks the store once per upgrade.
fn track_cookie(
    transport: &TransportRuntime,
    request: &CookieRequest,
    response: &mut Vec<u8>,
) -> Option<CookieSession> {
    let Some(store) = transport
        .cookie_stores
        .iter()
        .find(|s| s.config().path == request.store)
    else {
        // The node makes a store for every cookie block; reaching this is a bug, not a reason
        // to refuse the connection.
        tracing::error!(cookie = %request.store, "no cookie store for this endpoint");
        return None;
    };
    let now_ms = crate::timestamp::unix_millis(SystemTime::now());
    let headers: Vec<&str> = request.headers.iter().map(String::as_str).collect();
    let upgrade = store.upgrade(&headers, now_ms);
    if let Some(value) = &upgrade.set_cookie {
        http::add_header(response, "Set-Cookie", value);
    }
    Some(upgrade.session)
}

fn deliver(
    core: &mut Core,
    id: crate::router::ConnId,
    serializer: crate::codec::Serializer,
    data: &mut [u8],
) {
    match serializer.decode(data) {
        Ok(msg) => core.handle_message(id, msg),
        Err(e) => core.handle_malformed(id, &e.to_string()),
    }
}

/// The SHA-1 fingerprint (lower-case hex) of the client's verified TLS certificate, which the
/// `tls` authentication method maps to a principal.
fn client_cert_fingerprint(tls: &rustls::ServerConnection) -> Option<std::sync::Arc<str>> {
    use sha1::Digest;
    let leaf = tls.peer_certificates()?.first()?;
    let digest = sha1::Sha1::digest(leaf.as_ref());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Some(hex.into())
}
