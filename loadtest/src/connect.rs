//! `connect`: open K sessions (HELLO/WELCOME) at R per second from a set of 127.0.0.x source
//! addresses, hold them, close them all with GOODBYE; with `--router-pid`, the router's RSS
//! before, while holding and after.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::ser::Serializer;
use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

use crate::clock;
use crate::common::{self, FirstError, Mode, ProgressLine};
use crate::enc;
use crate::error::{BenchError, ConnError};
use crate::net::{Handler, Net};
use crate::procinfo;
use crate::proto::{self, Incoming};
use crate::report::{self, Latency, Report};
use crate::sys;
use crate::target::Target;

/// What a connect run needs.
#[derive(Debug, Clone)]
pub struct ConnectParams {
    /// The router.
    pub target: Target,
    /// Realm to join.
    pub realm: String,
    /// Serializer.
    pub ser: Serializer,
    /// Sessions to open.
    pub sessions: usize,
    /// Sessions started per second.
    pub rate: f64,
    /// How long to hold them.
    pub hold: Duration,
    /// Source addresses, used round-robin (empty: the kernel chooses).
    pub source_ips: Vec<IpAddr>,
    /// The router's pid, to read its RSS.
    pub router_pid: Option<u32>,
    /// Worker threads.
    pub threads: usize,
    /// Limit for opening and, separately, for closing.
    pub timeout: Duration,
    /// Sessions in their opening handshake at once, over all threads.
    pub max_pending: usize,
    /// Show a progress line.
    pub progress: bool,
}

struct Shared {
    start_ns: u64,
    stop: AtomicBool,
    established: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    closed_clean: AtomicU64,
    first_error: FirstError,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Joining,
    Ready,
    Leaving,
    Gone,
}

struct WorkerResult {
    hist: Histogram<u64>,
    first_start_ns: u64,
    last_welcome_ns: u64,
}

struct Worker {
    sh: Arc<Shared>,
    realm: String,
    ns_per_session: f64,
    /// Global indices of this thread's sessions, in start order.
    mine: Vec<usize>,
    next: usize,
    sources: Arc<Vec<IpAddr>>,
    states: Vec<State>,
    started_ns: Vec<u64>,
    pending: usize,
    max_pending: usize,
    res: WorkerResult,
}

impl Worker {
    fn due_ns(&self, i: usize) -> u64 {
        self.sh.start_ns + (i as f64 * self.ns_per_session) as u64
    }

    fn mark_dead(&mut self, id: usize, error: &ConnError) {
        let Some(state) = self.states.get_mut(id) else {
            return;
        };
        let prev = *state;
        *state = State::Leaving;
        match prev {
            State::Joining => {
                self.pending = self.pending.saturating_sub(1);
                self.sh.failed.fetch_add(1, Ordering::AcqRel);
                self.sh.first_error.note(|| error.to_string());
            }
            State::Ready => {
                self.sh.dropped.fetch_add(1, Ordering::AcqRel);
                self.sh.first_error.note(|| error.to_string());
            }
            State::Leaving | State::Gone => {}
        }
    }
}

impl Handler for Worker {
    fn on_open(&mut self, net: &mut Net, id: usize) {
        net.send_msg(id, &enc::hello(&self.realm));
    }

    fn on_message(&mut self, net: &mut Net, id: usize, data: &mut [u8]) {
        let ser = net.serializer();
        let Some(&state) = self.states.get(id) else {
            return;
        };
        match proto::classify(ser, data) {
            Ok(Incoming::Welcome { .. }) if state == State::Joining => {
                let now = clock::now_ns();
                self.states[id] = State::Ready;
                self.pending = self.pending.saturating_sub(1);
                self.sh.established.fetch_add(1, Ordering::AcqRel);
                report::record_ns(&mut self.res.hist, now.saturating_sub(self.started_ns[id]));
                self.res.last_welcome_ns = now;
            }
            Ok(Incoming::Abort { reason }) => {
                let e = ConnError::Closed(format!("ABORT {reason}"));
                self.mark_dead(id, &e);
                net.drop_conn(id, Some(e), self);
            }
            Ok(Incoming::Goodbye { reason }) => {
                if state == State::Leaving {
                    self.sh.closed_clean.fetch_add(1, Ordering::AcqRel);
                } else {
                    self.mark_dead(id, &ConnError::Closed(format!("GOODBYE {reason}")));
                    net.send_msg(id, &enc::goodbye(true));
                }
                net.close(id);
            }
            Ok(_) => {}
            Err(e) => self.sh.first_error.note(|| e.to_string()),
        }
    }

    fn on_closed(&mut self, _net: &mut Net, id: usize, error: Option<ConnError>) {
        let e = error.unwrap_or_else(|| ConnError::Lost("closed".into()));
        self.mark_dead(id, &e);
        if let Some(s) = self.states.get_mut(id) {
            *s = State::Gone;
        }
    }
}

impl Mode for Worker {
    fn tick(&mut self, net: &mut Net) {
        let now = clock::now_ns();
        while self.next < self.mine.len() && self.pending < self.max_pending {
            let i = self.mine[self.next];
            if self.due_ns(i) > now {
                break;
            }
            self.next += 1;
            let source = (!self.sources.is_empty()).then(|| self.sources[i % self.sources.len()]);
            match net.connect(source) {
                Ok(id) => {
                    debug_assert_eq!(id, self.states.len());
                    self.states.push(State::Joining);
                    self.started_ns.push(now);
                    self.pending += 1;
                    self.res.first_start_ns = self.res.first_start_ns.min(now);
                }
                Err(e) => {
                    self.sh.failed.fetch_add(1, Ordering::AcqRel);
                    self.sh.first_error.note(|| e.to_string());
                }
            }
        }
    }

    fn wait(&self) -> Duration {
        if self.next < self.mine.len() && self.pending < self.max_pending {
            let due = self.due_ns(self.mine[self.next]);
            let now = clock::now_ns();
            Duration::from_nanos(due.saturating_sub(now).min(5_000_000))
        } else {
            Duration::from_millis(5)
        }
    }

    fn begin_close(&mut self, net: &mut Net) {
        for id in 0..self.states.len() {
            match self.states[id] {
                State::Ready => {
                    self.states[id] = State::Leaving;
                    net.send_msg(id, &enc::goodbye(false));
                }
                State::Joining => {
                    self.states[id] = State::Gone;
                    net.drop_conn(id, None, self);
                }
                State::Leaving | State::Gone => {}
            }
        }
    }
}

/// The figures of a connect run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectFigures {
    /// Sessions asked for.
    pub sessions: u64,
    /// Sessions that got a WELCOME.
    pub established: u64,
    /// First connect (clock ns).
    pub first_start_ns: u64,
    /// Last WELCOME (clock ns).
    pub last_welcome_ns: u64,
    /// Router RSS before connecting, bytes.
    pub rss_before: Option<u64>,
    /// Router RSS with every session held, bytes.
    pub rss_held: Option<u64>,
}

impl ConnectFigures {
    /// Sessions established per second (first connect to last WELCOME).
    pub fn session_rate(&self) -> f64 {
        if self.established == 0 || self.first_start_ns == u64::MAX {
            return 0.0;
        }
        report::rate(
            self.established,
            clock::secs_between(self.first_start_ns, self.last_welcome_ns),
        )
    }

    /// (held − before) / sessions asked for, bytes (negative if the router shrank).
    pub fn rss_per_session(&self) -> Option<f64> {
        let (b, h) = (self.rss_before?, self.rss_held?);
        (self.sessions > 0).then(|| (h as f64 - b as f64) / self.sessions as f64)
    }
}

/// Checks that `sessions` fit this process's open-file limit and the source ports.
pub fn check_capacity(
    sessions: usize,
    sources: usize,
    fd_limit: u64,
    ports_per_source: Option<u64>,
) -> Result<(), BenchError> {
    sys::check_fd_budget(sessions, fd_limit)?;
    if let Some(ports) = ports_per_source {
        // Leave a tenth of the range for everything else on the machine.
        let usable = ports - ports / 10;
        let per_source = (sessions as u64).div_ceil(sources.max(1) as u64);
        if per_source > usable {
            return Err(BenchError::Usage(format!(
                "{sessions} sessions over {} source address(es) need {per_source} ephemeral ports each, but only about {usable} are usable per address; add 127.0.0.x addresses to --source-ips",
                sources.max(1)
            )));
        }
    }
    Ok(())
}

fn rss(pid: Option<u32>, errors: &FirstError) -> Option<u64> {
    let pid = pid?;
    match procinfo::read_rss(pid) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.note(|| e.to_string());
            None
        }
    }
}

/// Runs a connect measurement.
pub fn run(p: &ConnectParams) -> Result<Report, BenchError> {
    let first_error = FirstError::default();
    let rss_before = rss(p.router_pid, &first_error);
    if p.router_pid.is_some() && rss_before.is_none() {
        return Err(BenchError::Setup(format!(
            "cannot read the router's RSS: {}",
            first_error.get().unwrap_or_default()
        )));
    }
    let sh = Arc::new(Shared {
        start_ns: clock::now_ns() + 1_000_000,
        stop: AtomicBool::new(false),
        established: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        closed_clean: AtomicU64::new(0),
        first_error,
    });
    let sources = Arc::new(p.source_ips.clone());
    let ns_per_session = 1e9 / p.rate;
    let mut handles = Vec::new();
    for t in 0..p.threads {
        let mine: Vec<usize> = (t..p.sessions).step_by(p.threads).collect();
        let mut worker = Worker {
            sh: Arc::clone(&sh),
            realm: p.realm.clone(),
            ns_per_session,
            states: Vec::with_capacity(mine.len()),
            started_ns: Vec::with_capacity(mine.len()),
            mine,
            next: 0,
            sources: Arc::clone(&sources),
            pending: 0,
            max_pending: p.max_pending.div_ceil(p.threads).max(1),
            res: WorkerResult {
                hist: report::new_histogram(),
                first_start_ns: u64::MAX,
                last_welcome_ns: 0,
            },
        };
        let target = p.target.clone();
        let ser = p.ser;
        let sh = Arc::clone(&sh);
        let grace = p.timeout;
        let h = thread::Builder::new()
            .name(format!("wampbench-{t}"))
            .spawn(move || {
                let mut net =
                    Net::new(target, ser, t as u64 + 1).map_err(|e| format!("poll: {e}"))?;
                common::drive(&mut net, &mut worker, &sh.stop, grace)
                    .map_err(|e| format!("poll: {e}"))?;
                Ok::<_, String>(worker.res)
            })
            .map_err(|e| BenchError::io("spawn worker thread", e))?;
        handles.push(h);
    }
    let mut progress = ProgressLine::new(p.progress);
    let k = p.sessions as u64;

    // Open everything (or time out).
    let open_start = Instant::now();
    let open_limit = p.timeout + Duration::from_secs_f64(p.sessions as f64 / p.rate);
    let mut open_timed_out = false;
    loop {
        let est = sh.established.load(Ordering::Acquire);
        let failed = sh.failed.load(Ordering::Acquire);
        if est + failed >= k {
            break;
        }
        if open_start.elapsed() >= open_limit {
            open_timed_out = true;
            break;
        }
        if handles.iter().all(|h| h.is_finished()) {
            break;
        }
        progress.show(|| format!("opening: {est}/{k} established, {failed} failed"));
        thread::sleep(Duration::from_millis(5));
    }
    let open_s = open_start.elapsed().as_secs_f64();

    // Hold.
    let hold_start = Instant::now();
    while hold_start.elapsed() < p.hold {
        if handles.iter().all(|h| h.is_finished()) {
            break;
        }
        progress.show(|| {
            format!(
                "holding {} sessions: {:.0} s left",
                sh.established.load(Ordering::Acquire)
                    - sh.dropped
                        .load(Ordering::Acquire)
                        .min(sh.established.load(Ordering::Acquire)),
                (p.hold.saturating_sub(hold_start.elapsed())).as_secs_f64()
            )
        });
        thread::sleep(Duration::from_millis(20));
    }
    let rss_held = rss(p.router_pid, &sh.first_error);
    let held = sh
        .established
        .load(Ordering::Acquire)
        .saturating_sub(sh.dropped.load(Ordering::Acquire));

    // Close.
    progress.show(|| format!("closing {held} sessions"));
    let close_start = Instant::now();
    sh.stop.store(true, Ordering::Release);
    let mut hist = report::new_histogram();
    let mut first_start_ns = u64::MAX;
    let mut last_welcome_ns = 0;
    for h in handles {
        match h.join() {
            Ok(Ok(r)) => {
                let _ = hist.add(&r.hist);
                first_start_ns = first_start_ns.min(r.first_start_ns);
                last_welcome_ns = last_welcome_ns.max(r.last_welcome_ns);
            }
            Ok(Err(e)) => sh.first_error.note(|| e),
            Err(_) => sh.first_error.note(|| "a worker thread panicked".into()),
        }
    }
    let close_s = close_start.elapsed().as_secs_f64();
    progress.clear();
    let rss_after = p.router_pid.and_then(|_| {
        // Give the router a moment to release what the sessions held.
        thread::sleep(Duration::from_secs(1));
        rss(p.router_pid, &sh.first_error)
    });

    let established = sh.established.load(Ordering::Acquire);
    let failed = sh.failed.load(Ordering::Acquire);
    let dropped = sh.dropped.load(Ordering::Acquire);
    let closed_clean = sh.closed_clean.load(Ordering::Acquire);
    let fig = ConnectFigures {
        sessions: k,
        established,
        first_start_ns,
        last_welcome_ns,
        rss_before,
        rss_held,
    };
    let latency = Latency::of(&hist);
    let first_error = sh.first_error.get();

    let mut params = Map::new();
    params.insert("url".into(), json!(p.target.url));
    params.insert("realm".into(), json!(p.realm));
    params.insert("serializer".into(), json!(p.ser.name()));
    params.insert("sessions".into(), json!(p.sessions));
    params.insert("rate".into(), json!(p.rate));
    params.insert("hold_s".into(), json!(p.hold.as_secs_f64()));
    params.insert(
        "source_ips".into(),
        json!(p
            .source_ips
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()),
    );
    params.insert("router_pid".into(), json!(p.router_pid));
    params.insert("threads".into(), json!(p.threads));
    params.insert("timeout_s".into(), json!(p.timeout.as_secs_f64()));
    let mut r = Map::new();
    r.insert("established".into(), json!(established));
    r.insert("failed".into(), json!(failed));
    r.insert("dropped_while_held".into(), json!(dropped));
    r.insert("held".into(), json!(held));
    r.insert("closed_clean".into(), json!(closed_clean));
    r.insert("open_s".into(), json!(report::round4(open_s)));
    r.insert("open_timed_out".into(), json!(open_timed_out));
    r.insert("close_s".into(), json!(report::round4(close_s)));
    r.insert(
        "session_rate".into(),
        json!(report::round2(fig.session_rate())),
    );
    r.insert("join_latency_us".into(), latency.to_json());
    r.insert("rss_before".into(), json!(rss_before));
    r.insert("rss_held".into(), json!(rss_held));
    r.insert("rss_after".into(), json!(rss_after));
    r.insert(
        "rss_per_session".into(),
        fig.rss_per_session()
            .map_or(Value::Null, |v| json!(report::round2(v))),
    );
    r.insert("first_error".into(), json!(first_error));
    let mut lines = vec![
        format!(
            "sessions: {established}/{k} established, {failed} failed, {dropped} dropped while held, {closed_clean} closed with GOODBYE"
        ),
        format!(
            "session rate: {} (opening took {open_s:.2} s{}), closing took {close_s:.2} s",
            report::fmt_rate(fig.session_rate()),
            if open_timed_out { ", timed out" } else { "" }
        ),
        format!("join latency (connect to WELCOME): {}", latency.human()),
    ];
    if let (Some(b), Some(h)) = (rss_before, rss_held) {
        lines.push(format!(
            "router RSS: {:.1} MiB before, {:.1} MiB held, {} after; {} bytes per session",
            b as f64 / 1048576.0,
            h as f64 / 1048576.0,
            rss_after.map_or("?".into(), |a| format!("{:.1} MiB", a as f64 / 1048576.0)),
            fig.rss_per_session()
                .map_or("?".into(), |v| format!("{v:.0}"))
        ));
    }
    if let Some(e) = first_error {
        lines.push(format!("first error: {e}"));
    }
    Ok(Report {
        mode: "connect",
        params,
        results: r,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures() {
        let f = ConnectFigures {
            sessions: 1000,
            established: 1000,
            first_start_ns: 0,
            last_welcome_ns: 2_000_000_000,
            rss_before: Some(10_000_000),
            rss_held: Some(15_000_000),
        };
        assert_eq!(f.session_rate(), 500.0);
        assert_eq!(f.rss_per_session(), Some(5000.0));
        let no_pid = ConnectFigures {
            rss_before: None,
            ..f
        };
        assert_eq!(no_pid.rss_per_session(), None);
        let none = ConnectFigures {
            established: 0,
            ..f
        };
        assert_eq!(none.session_rate(), 0.0);
    }

    #[test]
    fn capacity() {
        assert!(check_capacity(15_000, 3, 20_000, Some(28_232)).is_ok());
        assert!(matches!(
            check_capacity(30_000, 3, 20_000, Some(28_232)),
            Err(BenchError::TooManyFiles { .. })
        ));
        assert!(matches!(
            check_capacity(15_000, 1, 20_000, Some(10_000)),
            Err(BenchError::Usage(_))
        ));
        assert!(check_capacity(15_000, 2, 20_000, Some(10_000)).is_ok());
        assert!(check_capacity(100, 1, 20_000, None).is_ok());
    }
}
