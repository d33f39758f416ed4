//! Accepting connections: per-listener accept budget, the node-wide and per-transport
//! connection limits (refused with HTTP 503 or RawSocket error 4), back-off when the process is
//! out of file descriptors, and adding an accepted stream to the slab.

use super::*;

impl Shard {
    pub(super) fn accept(&mut self, index: usize) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        for _ in 0..ACCEPT_BUDGET {
            let Some((listener, transport)) = self.listeners.get(index) else {
                return;
            };
            let transport = *transport;
            let accepted = match listener {
                Listener::Tcp(l) => l.accept().map(|(s, _)| {
                    let _ = s.set_nodelay(true);
                    Stream::Tcp(s)
                }),
                Listener::Unix(l) => l.accept().map(|(s, _)| Stream::Unix(s)),
            };
            match accepted {
                Ok(stream) => {
                    if self.admit(transport) {
                        self.add_conn(stream, transport);
                    } else {
                        self.refuse(stream, transport);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning; the connections wait
                    // in the listen backlog and are accepted once descriptors free up.
                    tracing::warn!(
                        shard = self.id,
                        "accept failed ({e}); retrying in {ACCEPT_BACKOFF:?}"
                    );
                    self.accept_retry
                        .push((index, Instant::now() + ACCEPT_BACKOFF));
                    return;
                }
            }
        }
        self.pending_accepts.push(index);
    }

    /// Counts a new connection against its transport's and the node's limits.
    fn admit(&mut self, transport: usize) -> bool {
        let runtime = &self.transports[transport];
        let open = runtime.open.fetch_add(1, Ordering::Relaxed);
        let total = self.limits.open.fetch_add(1, Ordering::Relaxed);
        if open < runtime.max_connections && total < self.limits.max_connections {
            return true;
        }
        runtime.open.fetch_sub(1, Ordering::Relaxed);
        self.limits.open.fetch_sub(1, Ordering::Relaxed);
        false
    }

    /// Turns a connection over the limits away at once: RawSocket error 4, or HTTP 503.
    fn refuse(&mut self, mut stream: Stream, transport: usize) {
        self.refused += 1;
        if self.refused.is_power_of_two() {
            tracing::warn!(
                shard = self.id,
                refused = self.refused,
                "connection limit reached: refusing connections"
            );
        }
        let runtime = &self.transports[transport];
        let reply: Vec<u8> = if matches!(runtime.kind, TransportKind::RawSocket(_)) {
            rawsocket::refuse_max_connections().to_vec()
        } else {
            http::Response::text(
                503,
                "The router has reached its connection limit; try again later.",
            )
            .encode(false)
        };
        // A fresh socket's send buffer takes these few bytes; if not, the close says enough.
        let _ = io::Write::write(&mut stream, &reply);
        stream.shutdown_write();
    }

    fn add_conn(&mut self, stream: Stream, transport: usize) {
        self.next_generation = self.next_generation.wrapping_add(1);
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        let runtime = &self.transports[transport];
        let tls = match &runtime.tls {
            Some(config) => match rustls::ServerConnection::new(Arc::clone(config)) {
                Ok(c) => Some(Box::new(c)),
                Err(e) => {
                    tracing::warn!(peer = %stream.peer(), "cannot start TLS: {e}");
                    return;
                }
            },
            None => None,
        };
        let now = Instant::now();
        let phase = runtime.first_phase();
        let deadline = now + runtime.handshake_timeout;
        let conn = entry.insert(Conn::new(
            stream,
            self.next_generation,
            transport,
            phase,
            tls,
            self.clock_s,
        ));
        self.handshake_deadlines
            .push(Reverse((deadline, key, self.next_generation)));
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut conn.stream, Token(key), interest)
        {
            tracing::warn!("cannot register connection: {e}");
            self.conns.remove(key);
        }
    }
}
