//! One hand-rolled reactor per core: a mio `Poll`, this shard's listening sockets, a slab of
//! connections, mailboxes to the other shards, and the router [`Core`] it drives.
//!
//! One turn: poll; accept; read each ready connection (deframe, decode, hand messages to the
//! core); drain the mailboxes; route the core's outputs (frames appended to connection buffers,
//! messages to other shards); flush each dirty connection once; wake each shard that got mail.
//! Sockets are registered readable+writable once, edge-triggered; reads and accepts run until
//! `WouldBlock` or a per-turn budget, and a connection that hit its budget is read again next
//! turn.
//!
//! Two backends write the turn's output (`options.reactor`): epoll, one `send` per connection
//! with output pending, and io_uring ([`uring`]), all plain-socket sends of the turn in one
//! `io_uring_enter`. TLS connections keep the `send`-per-connection path on both (rustls
//! writes its records through `write_tls`).

mod accept;
mod conn;
pub mod control;
mod housekeeping;
mod input;
pub mod listener;
pub mod mailbox;
pub mod metrics;
mod pool;
pub mod uring;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::config::{AuthConfig, RawSocketService, SlowConsumerPolicy, TransportKind};
use crate::router::{ConnId, Core, Output, ShardMsg};
use crate::transport::http::{self, NodeInfo};
use crate::transport::rawsocket;
use crate::transport::websocket::{self, CLOSE_GOING_AWAY};

use conn::{split_id, Conn, Phase, Stream};
use listener::BoundListener;
use mailbox::Outbox;

/// The waker's token.
pub const WAKER_TOKEN: Token = Token(usize::MAX);
const LISTENER_BASE: usize = usize::MAX - 1;
/// Bytes read from one connection per turn before others get their turn.
const READ_BUDGET: usize = 256 * 1024;
/// Connections accepted per listener per turn.
const ACCEPT_BUDGET: usize = 512;
/// Messages taken from one other shard per turn.
const MAIL_BUDGET: usize = 4096;
/// Size of the shard's shared read buffer.
const SCRATCH_SIZE: usize = 64 * 1024;
/// How long accepting pauses after the process ran out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How long a closed connection waits for the peer's FIN after ours.
const LINGER: Duration = Duration::from_secs(2);
/// How long shutdown waits for goodbyes to be written.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// A transport as the reactor needs it.
#[derive(Debug)]
pub struct TransportRuntime {
    /// What it serves.
    pub kind: TransportKind,
    /// Authentication settings.
    pub auth: Arc<AuthConfig>,
    /// RawSocket settings, on `rawsocket` and `universal` transports.
    pub rawsocket: Option<RawSocketService>,
    /// TLS, on endpoints with a `tls` block.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// How long a connection may take to finish its handshake (HTTP head or RawSocket octets).
    pub handshake_timeout: Duration,
    /// Some WebSocket service of this transport has `auto_ping_interval`.
    pub auto_ping: bool,
    /// `max_connections` of the transport.
    pub max_connections: usize,
    /// Its connections open now, over all shards.
    pub open: AtomicUsize,
    /// How long a closing connection waits for the peer to close after us
    /// (`close_handshake_timeout`, else 2 s).
    pub close_timeout: Duration,
    /// The cookie stores of its WebSocket services with a `cookie` block, shared by every
    /// shard; found by [`crate::config::CookieConfig::path`].
    pub cookie_stores: Vec<Arc<crate::auth::cookie::CookieStore>>,
}

impl TransportRuntime {
    fn first_phase(&self) -> Phase {
        match (&self.kind, &self.rawsocket) {
            (TransportKind::RawSocket(_), _) => Phase::RawHandshake,
            (_, Some(_)) => Phase::Sniff,
            _ => Phase::Http,
        }
    }
}

/// A graceful shutdown spreading its GOODBYEs over a window.
#[derive(Debug)]
struct Drain {
    start: Instant,
    window: Duration,
    /// Sessions when it began.
    total: usize,
    /// Sessions ended so far.
    closed: usize,
}

/// Everything a shard thread starts with.
pub struct ShardSetup {
    /// This shard's index.
    pub id: usize,
    /// Its poll instance (the waker is already registered on it with [`WAKER_TOKEN`]).
    pub poll: Poll,
    /// Its listening sockets, with the transport index each serves.
    pub listeners: Vec<(BoundListener, usize)>,
    /// All transports, by index.
    pub transports: Arc<Vec<TransportRuntime>>,
    /// What the node info page shows.
    pub node: Arc<NodeInfo>,
    /// The router core.
    pub core: Core,
    /// `outboxes[j]` sends to shard j.
    pub outboxes: Vec<Option<Outbox>>,
    /// `inboxes[i]` receives from shard i.
    pub inboxes: Vec<Option<rtrb::Consumer<ShardMsg>>>,
    /// Set by the node controller to begin a graceful shutdown.
    pub shutdown: Arc<AtomicBool>,
    /// Other commands from the node controller (reload).
    pub control: Arc<control::Control>,
    /// Where it reports its counters once a second.
    pub metrics: Arc<metrics::MetricsHub>,
    /// Incremented at each turn of the loop: the node controller's proof that this shard
    /// runs and makes progress (systemd's READY and WATCHDOG).
    pub heartbeat: Arc<AtomicU32>,
    /// Node-wide limits and the shared connection count.
    pub limits: Arc<NodeLimits>,
    /// The io_uring backend's ring; `None`: the epoll backend.
    pub send_ring: Option<uring::SendRing>,
}

/// Limits every shard enforces together.
#[derive(Debug)]
pub struct NodeLimits {
    /// Connections the node accepts in total.
    pub max_connections: usize,
    /// Connections open now, over all shards.
    pub open: AtomicUsize,
    /// Unwritten output one connection may hold.
    pub max_output_bytes: usize,
    /// What a slow consumer gets.
    pub slow_consumer: SlowConsumerPolicy,
    /// Seconds without write progress that make a connection a slow consumer.
    pub write_stall_secs: u32,
    /// How long a graceful shutdown spreads its GOODBYEs over (`--drain-seconds`), so that
    /// thousands of clients do not all reconnect elsewhere in the same instant.
    pub drain_window: Duration,
}

enum Listener {
    Tcp(mio::net::TcpListener),
    Unix(mio::net::UnixListener),
}

struct Shard {
    id: usize,
    limits: Arc<NodeLimits>,
    metrics: Arc<metrics::MetricsHub>,
    /// Bytes read from connections.
    bytes_in: u64,
    /// Bytes of WAMP frames queued to connections.
    bytes_out: u64,
    /// Time spent on turns' work (not in poll).
    busy: Duration,
    /// Connections refused at the limits (for rate-limited logging).
    refused: u64,
    /// Slow consumers the core must close this turn (with GOODBYE).
    slow_consumers: Vec<ConnId>,
    /// The connection count the last memory trim was measured against (its high-water mark).
    conns_at_trim: usize,
    /// Listeners to accept from again once their backoff passes.
    accept_retry: Vec<(usize, Instant)>,
    /// Connections closed as slow consumers, and EVENTs dropped for them.
    slow_closed: u64,
    events_dropped: u64,
    /// Of those, EVENTs larger than their peer accepts.
    oversized_events: u64,
    poll: Poll,
    listeners: Vec<(Listener, usize)>,
    transports: Arc<Vec<TransportRuntime>>,
    node: Arc<NodeInfo>,
    core: Core,
    outboxes: Vec<Option<Outbox>>,
    inboxes: Vec<Option<rtrb::Consumer<ShardMsg>>>,
    shutdown: Arc<AtomicBool>,
    control: Arc<control::Control>,
    heartbeat: Arc<AtomicU32>,
    conns: Slab<Conn>,
    next_generation: u32,
    scratch: Vec<u8>,
    /// Write buffers lent to connections while they have output pending.
    pool: pool::BufferPool,
    /// Plaintext read out of TLS connections.
    plain: Vec<u8>,
    /// When this reactor turn started.
    turn_start: Instant,
    /// When the shard started; `clock_s` counts whole seconds since.
    epoch: Instant,
    clock_s: u32,
    dirty: Vec<usize>,
    pending_reads: Vec<usize>,
    pending_accepts: Vec<usize>,
    lingering: Vec<(usize, u32, Instant)>,
    doomed: Vec<usize>,
    shutdown_deadline: Option<Instant>,
    /// While a graceful shutdown drains this shard's sessions in batches.
    draining: Option<Drain>,
    /// A mailbox still held messages after its budget: poll without blocking.
    mail_pending: bool,
    /// Some WebSocket service has auto-ping: wake up regularly to send pings.
    pings_enabled: bool,
    /// The cookie stores of every transport (shared with the other shards).
    cookie_stores: Vec<Arc<crate::auth::cookie::CookieStore>>,
    last_ping_sweep: Instant,
    /// Connections still in the HTTP phase, oldest first (one timeout for all keeps it sorted).
    handshake_deadlines: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    /// The io_uring backend's ring (`None`: epoll).
    send_ring: Option<uring::SendRing>,
    /// Reused per flush: the connections being flushed, those sent through the ring, the rest.
    flushing: Vec<usize>,
    ring_batch: Vec<usize>,
    flush_rest: Vec<usize>,
}

/// Runs one shard until shutdown completes.
pub fn run(setup: ShardSetup) -> io::Result<()> {
    let mut listeners = Vec::new();
    for (i, (bound, transport)) in setup.listeners.into_iter().enumerate() {
        let mut l = match bound {
            BoundListener::Tcp(l) => Listener::Tcp(mio::net::TcpListener::from_std(l)),
            BoundListener::Unix(l) => Listener::Unix(mio::net::UnixListener::from_std(l)),
        };
        let token = Token(LISTENER_BASE - i);
        match &mut l {
            Listener::Tcp(l) => setup
                .poll
                .registry()
                .register(l, token, Interest::READABLE)?,
            Listener::Unix(l) => setup
                .poll
                .registry()
                .register(l, token, Interest::READABLE)?,
        }
        listeners.push((l, transport));
    }
    let pings_enabled = setup.transports.iter().any(|t| t.auto_ping);
    let cookie_stores = setup
        .transports
        .iter()
        .flat_map(|t| t.cookie_stores.iter().cloned())
        .collect();
    let mut shard = Shard {
        id: setup.id,
        poll: setup.poll,
        listeners,
        transports: setup.transports,
        node: setup.node,
        core: setup.core,
        outboxes: setup.outboxes,
        inboxes: setup.inboxes,
        shutdown: setup.shutdown,
        control: setup.control,
        heartbeat: setup.heartbeat,
        limits: setup.limits,
        metrics: setup.metrics,
        bytes_in: 0,
        bytes_out: 0,
        busy: Duration::ZERO,
        refused: 0,
        slow_consumers: Vec::new(),
        conns_at_trim: 0,
        accept_retry: Vec::new(),
        slow_closed: 0,
        events_dropped: 0,
        oversized_events: 0,
        conns: Slab::new(),
        next_generation: 0,
        scratch: vec![0; SCRATCH_SIZE],
        pool: pool::BufferPool::default(),
        plain: vec![0; SCRATCH_SIZE],
        turn_start: Instant::now(),
        epoch: Instant::now(),
        clock_s: 0,
        dirty: Vec::new(),
        pending_reads: Vec::new(),
        pending_accepts: Vec::new(),
        lingering: Vec::new(),
        doomed: Vec::new(),
        shutdown_deadline: None,
        draining: None,
        mail_pending: false,
        pings_enabled,
        cookie_stores,
        last_ping_sweep: Instant::now(),
        handshake_deadlines: BinaryHeap::new(),
        send_ring: setup.send_ring,
        flushing: Vec::new(),
        ring_batch: Vec::new(),
        flush_rest: Vec::new(),
    };
    shard.run()
}

impl Shard {
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        self.report_metrics();
        loop {
            self.heartbeat.fetch_add(1, Ordering::Release);
            // Output queued while the last turn flushed (a closed session's meta events, the
            // dropped-events notice) is flushed in the next turn, without waiting.
            let busy = !self.pending_reads.is_empty()
                || !self.pending_accepts.is_empty()
                || !self.dirty.is_empty()
                || self.mail_pending;
            let timeout = if busy {
                Some(Duration::ZERO)
            } else if self.shutdown_deadline.is_some()
                || !self.lingering.is_empty()
                || self.pings_enabled
            {
                Some(Duration::from_millis(100))
            } else {
                let handshake = self
                    .handshake_deadlines
                    .peek()
                    .map(|Reverse((deadline, _, _))| *deadline);
                let handshake = match (handshake, self.accept_retry.iter().map(|(_, t)| *t).min()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let next = match (handshake, self.core.poll_timeout()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let wait = next.map(|deadline| {
                    deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(1)
                });
                // Open connections need the once-a-second housekeeping (stalled writers), and
                // every shard reports its counters once a second (an idle one too: that it
                // turns is what liveness means).
                Some(wait.map_or(Duration::from_secs(1), |w| w.min(Duration::from_secs(1))))
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            self.turn_start = Instant::now();
            self.clock_s = u32::try_from(self.turn_start.duration_since(self.epoch).as_secs())
                .unwrap_or(u32::MAX);
            self.core
                .handle_tick(self.turn_start, std::time::SystemTime::now());
            self.route_outputs();
            for event in events.iter() {
                let token = event.token();
                if token == WAKER_TOKEN {
                    continue;
                }
                if token.0 > LISTENER_BASE - self.listeners.len() {
                    self.accept(LISTENER_BASE - token.0);
                    continue;
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.read_conn(token.0);
                }
                if event.is_writable() {
                    if self.send_ring.is_some() {
                        // Written with the rest of the turn's output, in one submission.
                        if let Some(c) = self.conns.get_mut(token.0) {
                            mark_dirty(c, token.0, &mut self.dirty);
                        }
                    } else {
                        self.flush_conn(token.0);
                    }
                }
            }
            for key in std::mem::take(&mut self.pending_reads) {
                self.read_conn(key);
            }
            for i in std::mem::take(&mut self.pending_accepts) {
                self.accept(i);
            }
            if !self.accept_retry.is_empty() {
                let now = Instant::now();
                let (due, later): (Vec<_>, Vec<_>) =
                    self.accept_retry.drain(..).partition(|(_, t)| *t <= now);
                self.accept_retry = later;
                for (i, _) in due {
                    self.accept(i);
                }
            }
            self.drain_inboxes();
            if let Some((command, answer)) = self.control.take() {
                self.obey(command, &answer);
            }
            if self.shutdown.load(Ordering::Acquire) && self.shutdown_deadline.is_none() {
                self.begin_shutdown();
            }
            if self.draining.is_some() {
                self.drain_step();
            }
            self.expire_handshakes();
            self.sweep_pings();
            self.flush_dirty()?;
            for outbox in self.outboxes.iter_mut().flatten() {
                outbox.flush();
            }
            self.expire_lingering();
            self.busy += self.turn_start.elapsed();
            if let Some(deadline) = self.shutdown_deadline {
                if self.conns.is_empty() || Instant::now() >= deadline {
                    tracing::debug!(shard = self.id, open = self.conns.len(), "shard stopped");
                    return Ok(());
                }
            }
        }
    }

    fn read_conn(&mut self, key: usize) {
        let mut budget = READ_BUDGET;
        loop {
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            if conn.lingering {
                // Waiting for the peer's FIN: discard whatever still arrives.
                match conn.stream.read(&mut self.scratch) {
                    Ok(0) => return self.remove_conn(key),
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(_) => return self.remove_conn(key),
                }
            }
            match conn.stream.read(&mut self.scratch) {
                Ok(0) => return self.remove_conn(key),
                Ok(n) => {
                    conn.last_rx = self.clock_s;
                    conn.ping_sent = 0;
                    self.bytes_in += n as u64;
                    if let Err(e) = self.ingest(key, n) {
                        tracing::debug!("closing connection {key}: {e}");
                        return self.remove_conn(key);
                    }
                    self.route_outputs();
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        self.pending_reads.push(key);
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.remove_conn(key),
            }
        }
    }

    /// Handles `n` fresh bytes of `self.scratch` read from connection `key`: through TLS when the
    /// connection has it, then by protocol phase. An error is a TLS failure (the alert is queued).
    fn ingest(&mut self, key: usize, n: usize) -> Result<(), rustls::Error> {
        let Shard {
            conns,
            scratch,
            plain,
            core,
            transports,
            node,
            dirty,
            ..
        } = self;
        let Some(conn) = conns.get_mut(key) else {
            return Ok(());
        };
        let mut input = input::Input {
            core,
            dirty,
            transports,
            node,
        };
        if conn.tls.is_none() {
            input.ingest(conn, key, &mut scratch[..n]);
            return Ok(());
        };
        let mut ciphertext = &scratch[..n];
        while let Some(tls) = conn.tls.as_mut() {
            if !ciphertext.is_empty() && tls.read_tls(&mut ciphertext).is_err() {
                break;
            }
            if let Err(e) = tls.process_new_packets() {
                // Send the alert rustls prepared; the caller then drops the connection.
                let _ = conn.flush();
                return Err(e);
            }
            while let Some(tls) = conn.tls.as_mut() {
                let got = match tls.reader().read(plain) {
                    Ok(0) | Err(_) => break,
                    Ok(got) => got,
                };
                input.ingest(conn, key, &mut plain[..got]);
            }
            if conn.tls.as_ref().is_some_and(|t| t.wants_write()) {
                mark_dirty(conn, key, input.dirty);
            }
            if ciphertext.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// Hands mail from the other shards to the core, at most [`MAIL_BUDGET`] messages per
    /// sender per turn so a busy neighbour cannot starve this shard's own sockets.
    /// Carries out a command of the node controller and answers it.
    fn obey(
        &mut self,
        command: control::Command,
        answer: &std::sync::mpsc::Sender<control::Answer>,
    ) {
        let shard = self.id;
        let reply = match command {
            control::Command::PrepareReload(realms) => control::Answer::Prepared {
                shard,
                summary: self.core.prepare_reload(&realms),
            },
            control::Command::CommitReload => {
                self.core.commit_reload();
                control::Answer::Committed { shard }
            }
        };
        self.route_outputs();
        // The node waits for every shard; if it gave up meanwhile, nobody listens.
        let _ = answer.send(reply);
    }

    fn drain_inboxes(&mut self) {
        self.mail_pending = false;
        for i in 0..self.inboxes.len() {
            for _ in 0..MAIL_BUDGET {
                let Some(Some(inbox)) = self.inboxes.get_mut(i) else {
                    break;
                };
                let Ok(msg) = inbox.pop() else { break };
                if self.draining.is_some() || self.shutdown_deadline.is_none() {
                    self.core.handle_shard(msg);
                    self.route_outputs();
                }
            }
            if self
                .inboxes
                .get(i)
                .and_then(Option::as_ref)
                .is_some_and(|inbox| !inbox.is_empty())
            {
                self.mail_pending = true;
            }
        }
    }

    /// Frames one encoded message into a connection's write buffer. `event` marks EVENTs, the
    /// only messages the drop-events policy may drop.
    fn send_frame(&mut self, conn: ConnId, frame: &[u8], event: bool) {
        let (key, generation) = split_id(conn);
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if c.generation != generation {
            return;
        }
        let limit = self.limits.max_output_bytes;
        if c.slow {
            // Being closed as a slow consumer: only its GOODBYE (non-event) still goes out.
            if event {
                return;
            }
        } else if event
            && self.limits.slow_consumer == SlowConsumerPolicy::DropEvents
            && c.pending_output() > limit
        {
            c.dropped_events = c.dropped_events.saturating_add(1);
            self.events_dropped += 1;
            if self.events_dropped.is_power_of_two() {
                tracing::warn!(
                    shard = self.id,
                    dropped = self.events_dropped,
                    "dropping events for slow consumers"
                );
            }
            return;
        }
        let peer_max = match &c.phase {
            Phase::WebSocket { limits, .. } => limits.max_message_len(),
            Phase::RawSocket { client_max_len, .. } => *client_max_len,
            _ => usize::MAX,
        };
        if event && frame.len() > peer_max {
            // Too large for this peer: dropped for it alone, counted, and reported to it once
            // it has written what it has (marked dirty so that the flush sees the count).
            c.dropped_events = c.dropped_events.saturating_add(1);
            self.events_dropped += 1;
            self.oversized_events += 1;
            if self.oversized_events.is_power_of_two() {
                tracing::warn!(
                    shard = self.id,
                    dropped = self.oversized_events,
                    peer = %c.stream.peer(),
                    "dropping an event of {} bytes: the peer accepts at most {peer_max}",
                    frame.len()
                );
            }
            mark_dirty(c, key, &mut self.dirty);
            return;
        }
        if c.pending_output() == 0 {
            c.last_tx_progress = self.clock_s;
        }
        if c.wbuf.capacity() == 0 {
            c.wbuf = self.pool.take();
        }
        self.bytes_out += frame.len() as u64;
        match c.phase {
            Phase::WebSocket { serializer, .. } => {
                websocket::write_message(&mut c.wbuf, frame, serializer.is_binary());
            }
            Phase::RawSocket { client_max_len, .. } => {
                if frame.len() > client_max_len
                    || rawsocket::write_message(&mut c.wbuf, frame).is_err()
                {
                    tracing::warn!(peer = %c.stream.peer(), "closing: a {} byte message exceeds what the client accepts ({client_max_len})", frame.len());
                    self.doomed.push(key);
                    return;
                }
            }
            _ => return,
        }
        mark_dirty(c, key, &mut self.dirty);
        // With drop-events only non-event messages grow the queue further; they are never
        // dropped silently, so a connection twice over the limit is closed all the same.
        let hard = match self.limits.slow_consumer {
            SlowConsumerPolicy::Close => limit,
            SlowConsumerPolicy::DropEvents => limit.saturating_mul(2),
        };
        if c.pending_output() > hard && !c.slow {
            // Nothing more is queued for it but the core's GOODBYE (reason
            // wamp.close.slow_consumer) behind what it has not read yet; if it never reads
            // that far, the write-stall timeout drops the connection.
            c.slow = true;
            self.slow_closed += 1;
            tracing::warn!(peer = %c.stream.peer(), closed = self.slow_closed, "closing slow consumer: over {hard} bytes unwritten");
            if c.session_open {
                self.slow_consumers.push(conn);
            } else {
                self.doomed.push(key);
            }
        }
    }

    /// Carries out everything the core asked for.
    fn route_outputs(&mut self) {
        // Cookie records the core just made (a join, a logout) reach the file before the
        // WELCOME that goes with them is queued for its client. Nothing to write: one atomic
        // swap per store, and most nodes have none.
        for store in &self.cookie_stores {
            store.flush();
        }
        loop {
            self.route_core_outputs();
            if self.slow_consumers.is_empty() {
                return;
            }
            for conn in std::mem::take(&mut self.slow_consumers) {
                self.core.handle_slow_consumer(conn);
            }
        }
    }

    fn route_core_outputs(&mut self) {
        while let Some(output) = self.core.poll_output() {
            match output {
                Output::Send { conn, frame } => self.send_frame(conn, &frame, false),
                Output::SendMany { conns, frame } => {
                    for conn in conns {
                        self.send_frame(conn, &frame, true);
                    }
                }
                Output::Close { conn } => {
                    let (key, generation) = split_id(conn);
                    let Some(c) = self.conns.get_mut(key) else {
                        continue;
                    };
                    if c.generation != generation {
                        continue;
                    }
                    if let Phase::WebSocket { .. } = c.phase {
                        websocket::write_close(&mut c.wbuf, c.close_code, "");
                    }
                    c.phase = Phase::Closing;
                    c.close_after_flush = true;
                    c.rbuf = Vec::new();
                    mark_dirty(c, key, &mut self.dirty);
                }
                Output::ToShard { shard, msg } => {
                    if let Some(Some(outbox)) = self.outboxes.get_mut(shard) {
                        outbox.push(msg);
                    }
                }
            }
        }
        for key in std::mem::take(&mut self.doomed) {
            self.remove_conn(key);
        }
    }

    /// Flushes each connection that got output this turn. Connections dirtied while doing so
    /// (a close that tells the core, which answers others) are flushed next turn.
    fn flush_dirty(&mut self) -> io::Result<()> {
        let mut keys = std::mem::take(&mut self.flushing);
        std::mem::swap(&mut keys, &mut self.dirty);
        for &key in &keys {
            if let Some(c) = self.conns.get_mut(key) {
                c.dirty = false;
            }
        }
        if self.send_ring.is_some() {
            self.flush_through_ring(&keys)?;
        } else {
            for &key in &keys {
                self.flush_conn(key);
            }
        }
        keys.clear();
        self.flushing = keys;
        Ok(())
    }

    /// The io_uring backend's flush: the plain sockets' sends go out in one submission; then
    /// each result is handled as [`Shard::flush_conn`] handles a `send`'s. TLS connections,
    /// those with nothing to send (or lingering), and a lone send take the `flush_conn` path.
    fn flush_through_ring(&mut self, keys: &[usize]) -> io::Result<()> {
        let mut batch = std::mem::take(&mut self.ring_batch);
        let mut rest = std::mem::take(&mut self.flush_rest);
        for &key in keys {
            match self.conns.get(key) {
                Some(c) if c.tls.is_none() && !c.lingering && c.pending_output() > 0 => {
                    batch.push(key)
                }
                Some(_) => rest.push(key),
                None => {}
            }
        }
        if batch.len() < uring::MIN_BATCH {
            // A lone send: `send(2)` is cheaper than a submission.
            rest.append(&mut batch);
        }
        if let Some(ring) = self.send_ring.as_mut().filter(|_| !batch.is_empty()) {
            ring.send_all(&self.conns, &batch)?;
            let done = ring.take_done();
            for &(key, result) in &done {
                if let Some(conn) = self.conns.get_mut(key) {
                    let result = conn.complete_send(result);
                    self.after_flush(key, result);
                }
            }
            if let Some(ring) = self.send_ring.as_mut() {
                ring.give_done(done);
            }
        }
        for &key in &rest {
            self.flush_conn(key);
        }
        batch.clear();
        rest.clear();
        self.ring_batch = batch;
        self.flush_rest = rest;
        Ok(())
    }

    fn flush_conn(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.lingering {
            return;
        }
        let result = conn.flush();
        self.after_flush(key, result);
    }

    /// What follows a flush of connection `key` that had `result`.
    fn after_flush(&mut self, key: usize, result: io::Result<bool>) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if std::mem::take(&mut conn.wrote) {
            conn.last_tx_progress = self.clock_s;
        }
        match result {
            Ok(true) if !conn.close_after_flush => {
                // Nothing pending: the buffer goes back to the pool, so an idle connection
                // holds no write buffer at all.
                self.pool.give(std::mem::take(&mut conn.wbuf));
                let dropped = std::mem::take(&mut conn.dropped_events);
                if dropped > 0 && conn.session_open {
                    // It caught up: tell it how many events it missed.
                    let id = conn.id(key);
                    self.core.handle_events_dropped(id, u64::from(dropped));
                    self.route_outputs();
                }
            }
            Ok(true) if conn.close_after_flush => {
                conn.stream.shutdown_write();
                conn.lingering = true;
                let generation = conn.generation;
                let linger = self
                    .transports
                    .get(conn.transport as usize)
                    .map_or(LINGER, |t| t.close_timeout);
                if conn.session_open {
                    conn.session_open = false;
                    let id = conn.id(key);
                    self.core.handle_closed(id);
                    self.route_outputs();
                }
                self.lingering
                    .push((key, generation, Instant::now() + linger));
            }
            Ok(_) => {}
            Err(_) => self.remove_conn(key),
        }
    }

    fn remove_conn(&mut self, key: usize) {
        if !self.conns.contains(key) {
            return;
        }
        let mut conn = self.conns.remove(key);
        let _ = self.poll.registry().deregister(&mut conn.stream);
        self.transports[conn.transport as usize]
            .open
            .fetch_sub(1, Ordering::Relaxed);
        self.limits.open.fetch_sub(1, Ordering::Relaxed);
        if conn.session_open {
            self.core.handle_closed(conn.id(key));
            self.route_outputs();
        }
    }

    fn begin_shutdown(&mut self) {
        let now = Instant::now();
        let window = self.limits.drain_window;
        self.shutdown_deadline = Some(now + window + SHUTDOWN_GRACE);
        for (listener, _) in &mut self.listeners {
            let _ = match listener {
                Listener::Tcp(l) => self.poll.registry().deregister(l),
                Listener::Unix(l) => self.poll.registry().deregister(l),
            };
        }
        // Closed, not only unwatched: the kernel would still complete handshakes into a
        // listening socket's backlog. With SO_REUSEPORT, shards still running take the rest.
        self.listeners.clear();
        tracing::info!(
            shard = self.id,
            sessions = self.core.stats().sessions,
            drain_seconds = self.limits.drain_window.as_secs_f64(),
            "shutting down: listeners closed, sessions get GOODBYE over the drain window"
        );
        for (_, conn) in self.conns.iter_mut() {
            conn.close_code = CLOSE_GOING_AWAY;
        }
        // Connections without a WAMP session (HTTP, handshakes) close at once; sessions keep
        // working until their batch of the drain.
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            if let Some(c) = self.conns.get_mut(key) {
                if !c.session_open && !c.close_after_flush {
                    c.close_after_flush = true;
                    c.phase = Phase::Closing;
                    mark_dirty(c, key, &mut self.dirty);
                }
            }
        }
        self.draining = Some(Drain {
            start: now,
            window,
            total: self.core.shutdown_some(0),
            closed: 0,
        });
        self.drain_step();
    }

    /// Ends the share of the sessions the drain window's elapsed part calls for; the last step
    /// ends the rest.
    fn drain_step(&mut self) {
        let Some(drain) = self.draining.as_mut() else {
            return;
        };
        let elapsed = drain.start.elapsed();
        let due = if elapsed >= drain.window {
            usize::MAX
        } else {
            let share = elapsed.as_secs_f64() / drain.window.as_secs_f64();
            ((drain.total as f64 * share).ceil() as usize).max(1)
        };
        let batch = due.saturating_sub(drain.closed);
        if batch == 0 {
            return;
        }
        drain.closed = drain.closed.saturating_add(batch);
        let left = self.core.shutdown_some(batch);
        self.route_outputs();
        if left == 0 && due == usize::MAX {
            self.draining = None;
        }
    }
}

fn mark_dirty(conn: &mut Conn, key: usize, dirty: &mut Vec<usize>) {
    if !conn.dirty {
        conn.dirty = true;
        dirty.push(key);
    }
}
