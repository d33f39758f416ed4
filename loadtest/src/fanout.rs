//! `fanout`: N subscribers on one topic (or spread over K topics), P publishers publishing M
//! events with acknowledgement, a bounded window of unacknowledged publishes each and, if
//! asked, a paced rate. Also the client side of `ceiling`, where the events come from
//! wampbench's own null router instead of publishers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::ser::Serializer;
use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

use crate::clock;
use crate::common::{self, FirstError, Mode, ProgressLine};
use crate::enc::{self, BenchArgs};
use crate::error::{BenchError, ConnError};
use crate::net::{Handler, Net};
use crate::proto::{self, Fields, Incoming};
use crate::report::{self, Latency, Report};
use crate::target::Target;

mod measure;
mod plan;
pub use measure::run;
pub use plan::{due_ns, subscribers_on, topic_name, topic_of, topic_of_subscriber};

/// What a fan-out run needs.
#[derive(Debug, Clone)]
pub struct FanoutParams {
    /// The router.
    pub target: Target,
    /// Realm to join.
    pub realm: String,
    /// Topic to subscribe and publish to (the base name when `topics` > 1).
    pub topic: String,
    /// Topics the subscribers are spread over: subscriber j on topic j % K.
    pub topics: usize,
    /// Serializer for every session.
    pub ser: Serializer,
    /// Subscriber sessions.
    pub subscribers: usize,
    /// Publisher sessions (0 in `ceiling`).
    pub publishers: usize,
    /// Events in total (over all publishers).
    pub events: u64,
    /// Unacknowledged publishes allowed per publisher.
    pub window: u64,
    /// Publishes per second per publisher (0: as fast as the window allows).
    pub rate: f64,
    /// Encoded size of each event's args.
    pub payload_size: usize,
    /// Worker threads.
    pub threads: usize,
    /// Limit for the setup phase and, separately, for the measured phase.
    pub timeout: Duration,
    /// Stop publishing after this long (optional).
    pub duration: Option<Duration>,
    /// Stop when nothing arrived for this long after publishing ended.
    pub idle_timeout: Duration,
    /// Sessions in their opening handshake at once, over all threads.
    pub max_pending: usize,
    /// Show a progress line.
    pub progress: bool,
    /// The router's pid: its CPU time over the measured phase.
    pub router_pid: Option<u32>,
}

/// The event source of `ceiling`: the null router's shared state.
#[derive(Debug, Clone)]
pub struct NullSource {
    /// Set by the run to start the flood.
    pub go: Arc<AtomicBool>,
    /// Server threads that generated all their events.
    pub finished: Arc<AtomicU64>,
    /// Server threads in all.
    pub server_threads: u64,
    /// Events each subscriber gets.
    pub events: u64,
    /// Clock reading of the first event generated (`u64::MAX` before).
    pub first_event_ns: Arc<AtomicU64>,
}

struct Shared {
    go: AtomicBool,
    /// The clock reading publishers schedule from (set before `go`).
    go_ns: AtomicU64,
    stop: AtomicBool,
    publish_until_ns: AtomicU64,
    subs_ready: AtomicU64,
    subs_failed: AtomicU64,
    subs_lost: AtomicU64,
    pubs_ready: AtomicU64,
    pubs_failed: AtomicU64,
    pubs_lost: AtomicU64,
    pubs_done: AtomicU64,
    published: AtomicU64,
    acked: AtomicU64,
    publish_errors: AtomicU64,
    received: AtomicU64,
    /// Deliveries the published events call for (subscribers of each event's topic).
    expected: AtomicU64,
    /// The part of `expected` whose publishes the router refused.
    refused_expected: AtomicU64,
    first_error: FirstError,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Joining,
    Subscribing,
    Ready,
    Leaving,
    Gone,
}

#[derive(Debug, Clone, Copy)]
enum Role {
    /// A subscriber on topic `topic`; `base` indexes its row of last sequence numbers.
    Sub { base: usize, topic: usize },
    /// A publisher; index into `pubs`.
    Pub { p: usize },
}

struct Slot {
    role: Role,
    state: State,
}

struct PubState {
    index: u64,
    quota: u64,
    conn: usize,
    sent: u64,
    inflight: u64,
    ready: bool,
    done: bool,
}

/// What one worker thread measured.
struct WorkerResult {
    hist: Histogram<u64>,
    received: u64,
    order_violations: u64,
    bad_events: u64,
    protocol_errors: u64,
    first_publish_ns: u64,
    last_ack_ns: u64,
    last_receive_ns: u64,
    /// Reads with data on subscriber connections during the measured phase.
    sub_reads: u64,
}

struct Worker {
    sh: Arc<Shared>,
    /// Topic names, by index.
    topics: Arc<Vec<String>>,
    /// Subscribers in the whole run (for the deliveries each event calls for).
    subscribers: u64,
    /// Publishers in the whole run (to stagger their schedules).
    publishers: usize,
    /// Nanoseconds between a publisher's events (0: not paced).
    interval_ns: f64,
    realm: String,
    payload_size: usize,
    window: u64,
    order_slots: usize,
    todo: VecDeque<Role>,
    slots: Vec<Slot>,
    pending: usize,
    max_pending: usize,
    setup_closed: bool,
    last_seq: Vec<u64>,
    pubs: Vec<PubState>,
    res: WorkerResult,
    received_delta: u64,
    published_delta: u64,
    acked_delta: u64,
    errors_delta: u64,
    expected_delta: u64,
    refused_delta: u64,
    /// Publishers finished since the last flush (published after the counts they depend on).
    done_delta: u64,
    /// Subscriber reads before the measured phase (setup's WELCOME and SUBSCRIBED).
    sub_reads_at_go: u64,
}

impl Worker {
    fn note(&self, e: &ConnError) {
        self.sh.first_error.note(|| e.to_string());
    }

    /// Accounts for a session that failed or was lost; it will not be counted again.
    fn mark_dead(&mut self, id: usize, error: &ConnError) {
        let Some(slot) = self.slots.get_mut(id) else {
            return;
        };
        let prev = slot.state;
        slot.state = State::Leaving;
        let role = slot.role;
        match prev {
            State::Joining | State::Subscribing => {
                self.note(error);
                self.pending = self.pending.saturating_sub(1);
                match role {
                    Role::Sub { .. } => self.sh.subs_failed.fetch_add(1, Ordering::AcqRel),
                    Role::Pub { .. } => self.sh.pubs_failed.fetch_add(1, Ordering::AcqRel),
                };
            }
            State::Ready => {
                self.note(error);
                match role {
                    Role::Sub { .. } => {
                        self.sh.subs_lost.fetch_add(1, Ordering::AcqRel);
                    }
                    Role::Pub { p } => {
                        self.sh.pubs_lost.fetch_add(1, Ordering::AcqRel);
                        let ps = &mut self.pubs[p];
                        if !ps.done {
                            ps.done = true;
                            self.done_delta += 1;
                        }
                    }
                }
            }
            State::Leaving | State::Gone => {}
        }
    }

    fn on_event(&mut self, base: usize, fields: Option<Fields>, now: u64) {
        match fields {
            Some(f) if (f.index as usize) < self.order_slots => {
                let last = &mut self.last_seq[base + f.index as usize];
                if f.seq <= *last {
                    self.res.order_violations += 1;
                } else {
                    *last = f.seq;
                }
                report::record_ns(&mut self.res.hist, now.saturating_sub(f.ts));
                self.res.received += 1;
                self.received_delta += 1;
                self.res.last_receive_ns = now;
            }
            _ => self.res.bad_events += 1,
        }
    }

    fn start_connections(&mut self, net: &mut Net) {
        while self.pending < self.max_pending {
            let Some(role) = self.todo.pop_front() else {
                break;
            };
            match net.connect(None) {
                Ok(id) => {
                    debug_assert_eq!(id, self.slots.len());
                    self.slots.push(Slot {
                        role,
                        state: State::Joining,
                    });
                    if let Role::Pub { p } = role {
                        self.pubs[p].conn = id;
                    }
                    self.pending += 1;
                }
                Err(e) => {
                    self.note(&e);
                    match role {
                        Role::Sub { .. } => self.sh.subs_failed.fetch_add(1, Ordering::AcqRel),
                        Role::Pub { .. } => self.sh.pubs_failed.fetch_add(1, Ordering::AcqRel),
                    };
                }
            }
        }
    }

    /// Reads with data on this thread's subscriber connections so far.
    fn subscriber_reads(&self, net: &Net) -> u64 {
        (self.slots.iter().enumerate())
            .filter(|(_, s)| matches!(s.role, Role::Sub { .. }))
            .map(|(id, _)| net.reads(id))
            .sum()
    }

    /// At go: sessions not ready by now are abandoned (counted as failed).
    fn close_setup(&mut self, net: &mut Net) {
        self.setup_closed = true;
        self.sub_reads_at_go = self.subscriber_reads(net);
        let late = ConnError::Connect("not ready when the setup phase ended".into());
        for id in 0..self.slots.len() {
            if matches!(self.slots[id].state, State::Joining | State::Subscribing) {
                self.mark_dead(id, &late);
                net.drop_conn(id, Some(late.clone()), self);
            }
        }
        while let Some(role) = self.todo.pop_front() {
            self.note(&late);
            match role {
                Role::Sub { .. } => self.sh.subs_failed.fetch_add(1, Ordering::AcqRel),
                Role::Pub { .. } => self.sh.pubs_failed.fetch_add(1, Ordering::AcqRel),
            };
        }
    }

    fn publish(&mut self, net: &mut Net) {
        let until = self.sh.publish_until_ns.load(Ordering::Acquire);
        let go_ns = self.sh.go_ns.load(Ordering::Acquire);
        let k = self.topics.len();
        for p in 0..self.pubs.len() {
            let ps = &self.pubs[p];
            if !ps.ready || ps.done {
                continue;
            }
            let (conn, index) = (ps.conn, ps.index);
            let mut now = clock::now_ns();
            while self.pubs[p].inflight < self.window
                && self.pubs[p].sent < self.pubs[p].quota
                && now < until
            {
                let seq = self.pubs[p].sent + 1;
                if self.interval_ns > 0.0
                    && due_ns(go_ns, self.interval_ns, index, self.publishers, seq) > now
                {
                    break;
                }
                let args = BenchArgs {
                    index,
                    seq,
                    ts: now,
                    size: self.payload_size,
                };
                let t = topic_of(index, seq, k);
                let topic = &self.topics[t];
                net.send_with(conn, |ser, out| enc::publish(ser, out, seq, topic, args));
                let ps = &mut self.pubs[p];
                ps.sent += 1;
                ps.inflight += 1;
                self.published_delta += 1;
                self.expected_delta += subscribers_on(self.subscribers, k, t);
                if self.res.first_publish_ns == u64::MAX {
                    self.res.first_publish_ns = now;
                }
                now = clock::now_ns();
            }
            let ps = &mut self.pubs[p];
            if (ps.sent >= ps.quota || now >= until) && ps.inflight == 0 {
                ps.done = true;
                self.done_delta += 1;
            }
        }
    }

    /// How long the loop may wait before a paced publisher's next event is due (`idle` when
    /// nothing is paced or every window is full: an acknowledgement wakes the loop then).
    fn next_due_wait(&self, idle: Duration) -> Duration {
        if self.interval_ns <= 0.0 || !self.sh.go.load(Ordering::Acquire) {
            return idle;
        }
        let go_ns = self.sh.go_ns.load(Ordering::Acquire);
        let next = self
            .pubs
            .iter()
            .filter(|ps| ps.ready && !ps.done && ps.sent < ps.quota && ps.inflight < self.window)
            .map(|ps| {
                due_ns(
                    go_ns,
                    self.interval_ns,
                    ps.index,
                    self.publishers,
                    ps.sent + 1,
                )
            })
            .min();
        match next {
            Some(due) => Duration::from_nanos(due.saturating_sub(clock::now_ns())).min(idle),
            None => idle,
        }
    }

    fn flush_counters(&mut self) {
        if self.expected_delta > 0 {
            self.sh
                .expected
                .fetch_add(self.expected_delta, Ordering::AcqRel);
            self.expected_delta = 0;
        }
        if self.refused_delta > 0 {
            self.sh
                .refused_expected
                .fetch_add(self.refused_delta, Ordering::AcqRel);
            self.refused_delta = 0;
        }
        if self.received_delta > 0 {
            self.sh
                .received
                .fetch_add(self.received_delta, Ordering::AcqRel);
            self.received_delta = 0;
        }
        if self.published_delta > 0 {
            self.sh
                .published
                .fetch_add(self.published_delta, Ordering::AcqRel);
            self.published_delta = 0;
        }
        if self.acked_delta > 0 {
            self.sh.acked.fetch_add(self.acked_delta, Ordering::AcqRel);
            self.acked_delta = 0;
        }
        if self.errors_delta > 0 {
            self.sh
                .publish_errors
                .fetch_add(self.errors_delta, Ordering::AcqRel);
            self.errors_delta = 0;
        }
        // Last, so that whoever sees a publisher done also sees everything it published.
        if self.done_delta > 0 {
            self.sh
                .pubs_done
                .fetch_add(self.done_delta, Ordering::AcqRel);
            self.done_delta = 0;
        }
    }

    fn publisher_of(&self, id: usize) -> Option<usize> {
        match self.slots.get(id)?.role {
            Role::Pub { p } => Some(p),
            Role::Sub { .. } => None,
        }
    }

    /// A PUBLISHED (`error` None) or ERROR for publish request `request` (= its seq).
    fn acked(&mut self, id: usize, request: u64, error: Option<String>) {
        let Some(p) = self.publisher_of(id) else {
            return;
        };
        let ps = &mut self.pubs[p];
        if ps.inflight == 0 {
            return;
        }
        ps.inflight -= 1;
        let index = ps.index;
        match error {
            None => {
                self.acked_delta += 1;
                self.res.last_ack_ns = clock::now_ns();
            }
            Some(e) => {
                self.errors_delta += 1;
                let k = self.topics.len();
                self.refused_delta +=
                    subscribers_on(self.subscribers, k, topic_of(index, request, k));
                self.sh.first_error.note(|| format!("publish refused: {e}"));
            }
        }
    }
}

impl Handler for Worker {
    fn on_open(&mut self, net: &mut Net, id: usize) {
        net.send_msg(id, &enc::hello(&self.realm));
    }

    fn on_message(&mut self, net: &mut Net, id: usize, data: &mut [u8]) {
        let ser = net.serializer();
        let Some(slot) = self.slots.get(id) else {
            return;
        };
        let (role, state) = (slot.role, slot.state);
        let msg = match proto::classify(ser, data) {
            Ok(m) => m,
            Err(e) => {
                self.res.protocol_errors += 1;
                self.note(&e);
                return;
            }
        };
        match msg {
            Incoming::Event { fields } => {
                if let Role::Sub { base, .. } = role {
                    self.on_event(base, fields, net.read_ns());
                }
            }
            Incoming::Published { request, .. } => self.acked(id, request, None),
            Incoming::Error {
                request_type: 16,
                request,
                error,
            } => self.acked(id, request, Some(error)),
            Incoming::Welcome { .. } if state == State::Joining => match role {
                Role::Sub { topic, .. } => {
                    let name = self.topics.get(topic).map_or("", String::as_str);
                    net.send_msg(id, &enc::subscribe(1, name));
                    self.slots[id].state = State::Subscribing;
                }
                Role::Pub { p } => {
                    self.slots[id].state = State::Ready;
                    self.pubs[p].ready = true;
                    self.pending = self.pending.saturating_sub(1);
                    self.sh.pubs_ready.fetch_add(1, Ordering::AcqRel);
                }
            },
            Incoming::Subscribed { .. } if state == State::Subscribing => {
                self.slots[id].state = State::Ready;
                self.pending = self.pending.saturating_sub(1);
                self.sh.subs_ready.fetch_add(1, Ordering::AcqRel);
            }
            Incoming::Error { error, .. } => {
                let e = ConnError::Wamp(format!("request refused: {error}"));
                self.mark_dead(id, &e);
                net.drop_conn(id, Some(e), self);
            }
            Incoming::Abort { reason } => {
                let e = ConnError::Closed(format!("ABORT {reason}"));
                self.mark_dead(id, &e);
                net.drop_conn(id, Some(e), self);
            }
            Incoming::Goodbye { reason } => {
                if state != State::Leaving {
                    self.mark_dead(id, &ConnError::Closed(format!("GOODBYE {reason}")));
                    net.send_msg(id, &enc::goodbye(true));
                }
                net.close(id);
            }
            _ => {}
        }
    }

    fn on_closed(&mut self, _net: &mut Net, id: usize, error: Option<ConnError>) {
        let e = error.unwrap_or_else(|| ConnError::Lost("closed".into()));
        self.mark_dead(id, &e);
        if let Some(s) = self.slots.get_mut(id) {
            s.state = State::Gone;
        }
    }
}

impl Mode for Worker {
    fn tick(&mut self, net: &mut Net) {
        let go = self.sh.go.load(Ordering::Acquire);
        if !self.setup_closed {
            if go {
                self.close_setup(net);
            } else {
                self.start_connections(net);
            }
        }
        if go {
            self.publish(net);
        }
        self.flush_counters();
    }

    fn wait(&self) -> Duration {
        if self.setup_closed {
            // A wait that is not whole milliseconds ends on time (see `Net::turn`).
            self.next_due_wait(Duration::from_millis(10))
        } else {
            Duration::from_millis(2)
        }
    }

    fn begin_close(&mut self, net: &mut Net) {
        self.flush_counters();
        if self.setup_closed {
            self.res.sub_reads = self
                .subscriber_reads(net)
                .saturating_sub(self.sub_reads_at_go);
        }
        for id in 0..self.slots.len() {
            match self.slots[id].state {
                State::Ready => {
                    self.slots[id].state = State::Leaving;
                    net.send_msg(id, &enc::goodbye(false));
                }
                State::Joining | State::Subscribing => {
                    self.slots[id].state = State::Gone;
                    net.drop_conn(id, None, self);
                }
                State::Leaving | State::Gone => {}
            }
        }
    }
}

fn new_shared() -> Shared {
    Shared {
        go: AtomicBool::new(false),
        go_ns: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        publish_until_ns: AtomicU64::new(u64::MAX),
        subs_ready: AtomicU64::new(0),
        subs_failed: AtomicU64::new(0),
        subs_lost: AtomicU64::new(0),
        pubs_ready: AtomicU64::new(0),
        pubs_failed: AtomicU64::new(0),
        pubs_lost: AtomicU64::new(0),
        pubs_done: AtomicU64::new(0),
        published: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        publish_errors: AtomicU64::new(0),
        received: AtomicU64::new(0),
        expected: AtomicU64::new(0),
        refused_expected: AtomicU64::new(0),
        first_error: FirstError::default(),
    }
}

fn spawn_worker(
    t: usize,
    p: &FanoutParams,
    sh: &Arc<Shared>,
    topics: &Arc<Vec<String>>,
) -> Result<thread::JoinHandle<Result<WorkerResult, String>>, BenchError> {
    let threads = p.threads;
    let order_slots = p.publishers.max(1);
    let mut todo = VecDeque::new();
    let mut pubs = Vec::new();
    // Publishers first: they are few and must be ready before the flood.
    for j in (t..p.publishers).step_by(threads) {
        let quota = common::share(p.events, p.publishers, j);
        todo.push_back(Role::Pub { p: pubs.len() });
        pubs.push(PubState {
            index: j as u64,
            quota,
            conn: usize::MAX,
            sent: 0,
            inflight: 0,
            ready: false,
            done: false,
        });
    }
    let mut subs = 0;
    for j in (t..p.subscribers).step_by(threads) {
        todo.push_back(Role::Sub {
            base: subs * order_slots,
            topic: topic_of_subscriber(j, topics.len()),
        });
        subs += 1;
    }
    let per_thread_pending = p.max_pending.div_ceil(threads).max(1);
    let mut worker = Worker {
        sh: Arc::clone(sh),
        topics: Arc::clone(topics),
        subscribers: p.subscribers as u64,
        publishers: p.publishers,
        interval_ns: if p.rate > 0.0 { 1e9 / p.rate } else { 0.0 },
        realm: p.realm.clone(),
        payload_size: p.payload_size,
        window: p.window,
        order_slots,
        todo,
        slots: Vec::new(),
        pending: 0,
        max_pending: per_thread_pending,
        setup_closed: false,
        last_seq: vec![0; subs * order_slots],
        pubs,
        res: WorkerResult {
            hist: report::new_histogram(),
            received: 0,
            order_violations: 0,
            bad_events: 0,
            protocol_errors: 0,
            first_publish_ns: u64::MAX,
            last_ack_ns: 0,
            last_receive_ns: 0,
            sub_reads: 0,
        },
        received_delta: 0,
        published_delta: 0,
        acked_delta: 0,
        errors_delta: 0,
        expected_delta: 0,
        refused_delta: 0,
        done_delta: 0,
        sub_reads_at_go: 0,
    };
    let target = p.target.clone();
    let ser = p.ser;
    let sh = Arc::clone(sh);
    thread::Builder::new()
        .name(format!("wampbench-{t}"))
        .spawn(move || {
            let mut net = Net::new(target, ser, t as u64 + 1).map_err(|e| format!("poll: {e}"))?;
            let r = common::drive(&mut net, &mut worker, &sh.stop, Duration::from_secs(2));
            worker.flush_counters();
            r.map_err(|e| format!("poll: {e}"))?;
            Ok(worker.res)
        })
        .map_err(|e| BenchError::io("spawn worker thread", e))
}
