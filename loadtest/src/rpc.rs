//! `rpc`: K callees register an echo procedure (each its own name when K > 1), C callers keep W
//! calls outstanding each until M calls in total.

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
use crate::cpu::{self, CpuMeter};
use crate::enc::{self, BenchArgs};
use crate::error::{BenchError, ConnError};
use crate::net::{Handler, Net};
use crate::proto::{self, Incoming};
use crate::report::{self, Latency, Report};
use crate::target::Target;

/// What an RPC run needs.
#[derive(Debug, Clone)]
pub struct RpcParams {
    /// The router.
    pub target: Target,
    /// Realm to join.
    pub realm: String,
    /// Procedure name (K > 1: `<procedure>.<i>` per callee).
    pub procedure: String,
    /// Serializer for every session.
    pub ser: Serializer,
    /// Callee sessions.
    pub callees: usize,
    /// Caller sessions.
    pub callers: usize,
    /// Calls outstanding per caller.
    pub outstanding: u64,
    /// Calls in total.
    pub calls: u64,
    /// Encoded size of each call's args.
    pub payload_size: usize,
    /// Worker threads.
    pub threads: usize,
    /// Limit for setup and, separately, for the measured phase.
    pub timeout: Duration,
    /// Stop calling after this long (optional).
    pub duration: Option<Duration>,
    /// Sessions in their opening handshake at once, over all threads.
    pub max_pending: usize,
    /// Show a progress line.
    pub progress: bool,
    /// The router's pid: its CPU time over the measured phase.
    pub router_pid: Option<u32>,
}

/// The procedure callee `i` of `k` registers.
pub fn procedure_name(base: &str, k: usize, i: usize) -> String {
    if k <= 1 {
        base.to_owned()
    } else {
        format!("{base}.{i}")
    }
}

struct Shared {
    go: AtomicBool,
    stop: AtomicBool,
    call_until_ns: AtomicU64,
    callees_ready: AtomicU64,
    callees_failed: AtomicU64,
    callees_lost: AtomicU64,
    callers_ready: AtomicU64,
    callers_failed: AtomicU64,
    callers_done: AtomicU64,
    issued: AtomicU64,
    completed: AtomicU64,
    errors: AtomicU64,
    first_error: FirstError,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Joining,
    Registering,
    Ready,
    Leaving,
    Gone,
}

#[derive(Debug, Clone, Copy)]
enum Role {
    Callee { index: usize },
    Caller { c: usize },
}

struct Slot {
    role: Role,
    state: State,
}

struct CallerState {
    index: u64,
    quota: u64,
    conn: usize,
    sent: u64,
    inflight: u64,
    ready: bool,
    done: bool,
}

struct WorkerResult {
    hist: Histogram<u64>,
    completed: u64,
    errors: u64,
    invocations: u64,
    protocol_errors: u64,
    first_call_ns: u64,
    last_result_ns: u64,
}

struct Worker {
    sh: Arc<Shared>,
    realm: String,
    procedures: Arc<Vec<String>>,
    payload_size: usize,
    outstanding: u64,
    todo: VecDeque<Role>,
    slots: Vec<Slot>,
    pending: usize,
    max_pending: usize,
    setup_closed: bool,
    callers: Vec<CallerState>,
    res: WorkerResult,
    issued_delta: u64,
    completed_delta: u64,
    errors_delta: u64,
    done_delta: u64,
}

impl Worker {
    fn note(&self, e: &ConnError) {
        self.sh.first_error.note(|| e.to_string());
    }

    fn count_failed(&self, role: Role) {
        match role {
            Role::Callee { .. } => self.sh.callees_failed.fetch_add(1, Ordering::AcqRel),
            Role::Caller { .. } => self.sh.callers_failed.fetch_add(1, Ordering::AcqRel),
        };
    }

    fn mark_dead(&mut self, id: usize, error: &ConnError) {
        let Some(slot) = self.slots.get_mut(id) else {
            return;
        };
        let prev = slot.state;
        slot.state = State::Leaving;
        let role = slot.role;
        match prev {
            State::Joining | State::Registering => {
                self.note(error);
                self.pending = self.pending.saturating_sub(1);
                self.count_failed(role);
            }
            State::Ready => {
                self.note(error);
                match role {
                    Role::Callee { .. } => {
                        self.sh.callees_lost.fetch_add(1, Ordering::AcqRel);
                    }
                    Role::Caller { c } => {
                        let cs = &mut self.callers[c];
                        if !cs.done {
                            cs.done = true;
                            self.done_delta += 1;
                        }
                    }
                }
            }
            State::Leaving | State::Gone => {}
        }
    }

    fn start_connections(&mut self, net: &mut Net) {
        while self.pending < self.max_pending {
            let Some(role) = self.todo.pop_front() else {
                break;
            };
            match net.connect(None) {
                Ok(id) => {
                    self.slots.push(Slot {
                        role,
                        state: State::Joining,
                    });
                    if let Role::Caller { c } = role {
                        self.callers[c].conn = id;
                    }
                    self.pending += 1;
                }
                Err(e) => {
                    self.note(&e);
                    self.count_failed(role);
                }
            }
        }
    }

    fn close_setup(&mut self, net: &mut Net) {
        self.setup_closed = true;
        let late = ConnError::Connect("not ready when the setup phase ended".into());
        for id in 0..self.slots.len() {
            if matches!(self.slots[id].state, State::Joining | State::Registering) {
                self.mark_dead(id, &late);
                net.drop_conn(id, Some(late.clone()), self);
            }
        }
        while let Some(role) = self.todo.pop_front() {
            self.note(&late);
            self.count_failed(role);
        }
    }

    fn call(&mut self, net: &mut Net) {
        let until = self.sh.call_until_ns.load(Ordering::Acquire);
        let k = self.procedures.len().max(1);
        for c in 0..self.callers.len() {
            let cs = &self.callers[c];
            if !cs.ready || cs.done {
                continue;
            }
            let (conn, index) = (cs.conn, cs.index);
            let mut now = clock::now_ns();
            while self.callers[c].inflight < self.outstanding
                && self.callers[c].sent < self.callers[c].quota
                && now < until
            {
                let seq = self.callers[c].sent + 1;
                let args = BenchArgs {
                    index,
                    seq,
                    ts: now,
                    size: self.payload_size,
                };
                let procedure = &self.procedures[(index as usize + seq as usize) % k];
                net.send_with(conn, |ser, out| enc::call(ser, out, seq, procedure, args));
                let cs = &mut self.callers[c];
                cs.sent += 1;
                cs.inflight += 1;
                self.issued_delta += 1;
                if self.res.first_call_ns == u64::MAX {
                    self.res.first_call_ns = now;
                }
                now = clock::now_ns();
            }
            let cs = &mut self.callers[c];
            if (cs.sent >= cs.quota || now >= until) && cs.inflight == 0 {
                cs.done = true;
                self.done_delta += 1;
            }
        }
    }

    fn flush_counters(&mut self) {
        for (delta, counter) in [
            (&mut self.issued_delta, &self.sh.issued),
            (&mut self.completed_delta, &self.sh.completed),
            (&mut self.errors_delta, &self.sh.errors),
            (&mut self.done_delta, &self.sh.callers_done),
        ] {
            if *delta > 0 {
                counter.fetch_add(*delta, Ordering::AcqRel);
                *delta = 0;
            }
        }
    }

    fn finished_call(&mut self, id: usize, now: u64, ts: Option<u64>, error: Option<String>) {
        let Some(Role::Caller { c }) = self.slots.get(id).map(|s| s.role) else {
            return;
        };
        let cs = &mut self.callers[c];
        if cs.inflight == 0 {
            return;
        }
        cs.inflight -= 1;
        match error {
            None => {
                self.res.completed += 1;
                self.completed_delta += 1;
                self.res.last_result_ns = now;
                if let Some(ts) = ts {
                    report::record_ns(&mut self.res.hist, now.saturating_sub(ts));
                }
            }
            Some(e) => {
                self.res.errors += 1;
                self.errors_delta += 1;
                self.sh.first_error.note(|| format!("call failed: {e}"));
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
            Incoming::Invocation {
                request,
                args,
                kwargs,
            } => {
                self.res.invocations += 1;
                net.send_with(id, |ser, out| {
                    enc::yield_echo(ser, out, request, args, kwargs)
                });
            }
            Incoming::Result { fields, .. } => {
                self.finished_call(id, net.read_ns(), fields.map(|f| f.ts), None)
            }
            Incoming::Error {
                request_type: 48,
                error,
                ..
            } => self.finished_call(id, net.read_ns(), None, Some(error)),
            Incoming::Welcome { .. } if state == State::Joining => match role {
                Role::Callee { index } => {
                    let name = &self.procedures[index];
                    net.send_msg(id, &enc::register(1, name));
                    self.slots[id].state = State::Registering;
                }
                Role::Caller { c } => {
                    self.slots[id].state = State::Ready;
                    self.callers[c].ready = true;
                    self.pending = self.pending.saturating_sub(1);
                    self.sh.callers_ready.fetch_add(1, Ordering::AcqRel);
                }
            },
            Incoming::Registered { .. } if state == State::Registering => {
                self.slots[id].state = State::Ready;
                self.pending = self.pending.saturating_sub(1);
                self.sh.callees_ready.fetch_add(1, Ordering::AcqRel);
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
            self.call(net);
        }
        self.flush_counters();
    }

    fn wait(&self) -> Duration {
        Duration::from_millis(if self.setup_closed { 10 } else { 2 })
    }

    fn begin_close(&mut self, net: &mut Net) {
        self.flush_counters();
        for id in 0..self.slots.len() {
            match self.slots[id].state {
                State::Ready => {
                    self.slots[id].state = State::Leaving;
                    net.send_msg(id, &enc::goodbye(false));
                }
                State::Joining | State::Registering => {
                    self.slots[id].state = State::Gone;
                    net.drop_conn(id, None, self);
                }
                State::Leaving | State::Gone => {}
            }
        }
    }
}

/// The counts of an RPC run and the figures derived from them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RpcFigures {
    /// Calls answered with a RESULT.
    pub completed: u64,
    /// First call sent (clock ns; `u64::MAX` if none).
    pub first_call_ns: u64,
    /// Last RESULT received (clock ns).
    pub last_result_ns: u64,
}

impl RpcFigures {
    /// First call to last result, seconds.
    pub fn elapsed_s(&self) -> f64 {
        if self.first_call_ns == u64::MAX || self.completed == 0 {
            return 0.0;
        }
        clock::secs_between(self.first_call_ns, self.last_result_ns)
    }

    /// Completed calls per second.
    pub fn call_rate(&self) -> f64 {
        report::rate(self.completed, self.elapsed_s())
    }
}

/// Runs an RPC measurement.
pub fn run(p: &RpcParams) -> Result<Report, BenchError> {
    cpu::check_router_pid(p.router_pid)?;
    let sh = Arc::new(Shared {
        go: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        call_until_ns: AtomicU64::new(u64::MAX),
        callees_ready: AtomicU64::new(0),
        callees_failed: AtomicU64::new(0),
        callees_lost: AtomicU64::new(0),
        callers_ready: AtomicU64::new(0),
        callers_failed: AtomicU64::new(0),
        callers_done: AtomicU64::new(0),
        issued: AtomicU64::new(0),
        completed: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_error: FirstError::default(),
    });
    let procedures: Arc<Vec<String>> = Arc::new(
        (0..p.callees)
            .map(|i| procedure_name(&p.procedure, p.callees, i))
            .collect(),
    );
    let mut handles = Vec::new();
    for t in 0..p.threads {
        let mut todo = VecDeque::new();
        for i in (t..p.callees).step_by(p.threads) {
            todo.push_back(Role::Callee { index: i });
        }
        let mut callers = Vec::new();
        for j in (t..p.callers).step_by(p.threads) {
            todo.push_back(Role::Caller { c: callers.len() });
            callers.push(CallerState {
                index: j as u64,
                quota: common::share(p.calls, p.callers, j),
                conn: usize::MAX,
                sent: 0,
                inflight: 0,
                ready: false,
                done: false,
            });
        }
        let mut worker = Worker {
            sh: Arc::clone(&sh),
            realm: p.realm.clone(),
            procedures: Arc::clone(&procedures),
            payload_size: p.payload_size,
            outstanding: p.outstanding,
            todo,
            slots: Vec::new(),
            pending: 0,
            max_pending: p.max_pending.div_ceil(p.threads).max(1),
            setup_closed: false,
            callers,
            res: WorkerResult {
                hist: report::new_histogram(),
                completed: 0,
                errors: 0,
                invocations: 0,
                protocol_errors: 0,
                first_call_ns: u64::MAX,
                last_result_ns: 0,
            },
            issued_delta: 0,
            completed_delta: 0,
            errors_delta: 0,
            done_delta: 0,
        };
        let target = p.target.clone();
        let ser = p.ser;
        let sh = Arc::clone(&sh);
        let h = thread::Builder::new()
            .name(format!("wampbench-{t}"))
            .spawn(move || {
                let mut net =
                    Net::new(target, ser, t as u64 + 1).map_err(|e| format!("poll: {e}"))?;
                let r = common::drive(&mut net, &mut worker, &sh.stop, Duration::from_secs(2));
                worker.flush_counters();
                r.map_err(|e| format!("poll: {e}"))?;
                Ok::<_, String>(worker.res)
            })
            .map_err(|e| BenchError::io("spawn worker thread", e))?;
        handles.push(h);
    }
    let mut progress = ProgressLine::new(p.progress);
    let (callees, callers) = (p.callees as u64, p.callers as u64);

    let setup_start = Instant::now();
    loop {
        let er = sh.callees_ready.load(Ordering::Acquire);
        let ef = sh.callees_failed.load(Ordering::Acquire);
        let cr = sh.callers_ready.load(Ordering::Acquire);
        let cf = sh.callers_failed.load(Ordering::Acquire);
        if er + ef >= callees && cr + cf >= callers {
            break;
        }
        if setup_start.elapsed() >= p.timeout || handles.iter().all(|h| h.is_finished()) {
            break;
        }
        progress.show(|| {
            format!("setup: {er}/{callees} callees registered, {cr}/{callers} callers joined")
        });
        thread::sleep(Duration::from_millis(5));
    }
    let setup_s = setup_start.elapsed().as_secs_f64();
    let callees_ready = sh.callees_ready.load(Ordering::Acquire);
    let callers_ready = sh.callers_ready.load(Ordering::Acquire);
    if callees_ready < callees || callers_ready == 0 {
        // A missing callee would turn its share of calls into errors: refuse to measure.
        sh.stop.store(true, Ordering::Release);
        for h in handles {
            let _ = h.join();
        }
        progress.clear();
        return Err(BenchError::Setup(format!(
            "{callees_ready} of {callees} callees registered and {callers_ready} of {callers} callers joined after {setup_s:.1} s; first error: {}",
            sh.first_error.get().unwrap_or_else(|| "none (timeout)".into())
        )));
    }

    // Measured phase: CPU readings bracket it, setup and closing stay outside.
    let cpu_meter = CpuMeter::start(p.router_pid);
    let go_ns = clock::now_ns();
    if let Some(d) = p.duration {
        let until = go_ns.saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        sh.call_until_ns.store(until, Ordering::Release);
    }
    sh.go.store(true, Ordering::Release);
    let run_start = Instant::now();
    let mut timed_out = false;
    loop {
        thread::sleep(Duration::from_millis(2));
        let done = sh.callers_done.load(Ordering::Acquire);
        if done >= sh.callers_ready.load(Ordering::Acquire) {
            break;
        }
        if run_start.elapsed() >= p.timeout {
            timed_out = true;
            break;
        }
        if handles.iter().all(|h| h.is_finished()) {
            break;
        }
        progress.show(|| {
            format!(
                "{:.1} s: {} of {} calls completed, {} errors",
                run_start.elapsed().as_secs_f64(),
                sh.completed.load(Ordering::Acquire),
                p.calls,
                sh.errors.load(Ordering::Acquire)
            )
        });
    }
    let cpu_usage = cpu_meter.stop();
    sh.stop.store(true, Ordering::Release);
    progress.clear();

    let mut hist = report::new_histogram();
    let mut completed = 0;
    let mut errors = 0;
    let mut invocations = 0;
    let mut protocol_errors = 0;
    let mut first_call_ns = u64::MAX;
    let mut last_result_ns = 0;
    for h in handles {
        match h.join() {
            Ok(Ok(r)) => {
                let _ = hist.add(&r.hist);
                completed += r.completed;
                errors += r.errors;
                invocations += r.invocations;
                protocol_errors += r.protocol_errors;
                first_call_ns = first_call_ns.min(r.first_call_ns);
                last_result_ns = last_result_ns.max(r.last_result_ns);
            }
            Ok(Err(e)) => sh.first_error.note(|| e),
            Err(_) => sh.first_error.note(|| "a worker thread panicked".into()),
        }
    }
    let issued = sh.issued.load(Ordering::Acquire);
    let fig = RpcFigures {
        completed,
        first_call_ns,
        last_result_ns,
    };
    let latency = Latency::of(&hist);
    let first_error = sh.first_error.get();

    let mut params = Map::new();
    params.insert("url".into(), json!(p.target.url));
    params.insert("realm".into(), json!(p.realm));
    params.insert("procedure".into(), json!(p.procedure));
    params.insert("serializer".into(), json!(p.ser.name()));
    params.insert("callees".into(), json!(p.callees));
    params.insert("callers".into(), json!(p.callers));
    params.insert("outstanding".into(), json!(p.outstanding));
    params.insert("calls".into(), json!(p.calls));
    params.insert("payload_size".into(), json!(p.payload_size));
    params.insert("threads".into(), json!(p.threads));
    params.insert("timeout_s".into(), json!(p.timeout.as_secs_f64()));
    params.insert(
        "duration_s".into(),
        p.duration.map_or(Value::Null, |d| json!(d.as_secs_f64())),
    );
    params.insert("router_pid".into(), json!(p.router_pid));
    let mut r = Map::new();
    r.insert("callees_ready".into(), json!(callees_ready));
    r.insert("callers_ready".into(), json!(callers_ready));
    r.insert(
        "callees_lost".into(),
        json!(sh.callees_lost.load(Ordering::Acquire)),
    );
    r.insert("setup_s".into(), json!(report::round4(setup_s)));
    r.insert("calls_issued".into(), json!(issued));
    r.insert("calls_completed".into(), json!(completed));
    r.insert("errors".into(), json!(errors));
    r.insert("invocations".into(), json!(invocations));
    r.insert("protocol_errors".into(), json!(protocol_errors));
    r.insert("elapsed_s".into(), json!(report::round4(fig.elapsed_s())));
    r.insert("call_rate".into(), json!(report::round2(fig.call_rate())));
    r.insert("latency_us".into(), latency.to_json());
    r.insert("timed_out".into(), json!(timed_out));
    cpu_usage.add_results(&mut r, "router_cpu_ns_per_call", completed);
    r.insert("first_error".into(), json!(first_error));
    let mut lines = vec![
        format!(
            "sessions: {callees_ready}/{callees} callees, {callers_ready}/{callers} callers, setup {setup_s:.2} s"
        ),
        format!(
            "calls: {} issued, {} completed, {errors} errors{}",
            report::group(issued),
            report::group(completed),
            if timed_out { " (timed out)" } else { "" }
        ),
        format!(
            "call rate: {} over {:.3} s",
            report::fmt_rate(fig.call_rate()),
            fig.elapsed_s()
        ),
        format!("latency: {}", latency.human()),
        cpu_usage.human("call", completed),
    ];
    if let Some(e) = first_error {
        lines.push(format!("first error: {e}"));
    }
    Ok(Report {
        mode: "rpc",
        params,
        results: r,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn procedure_names() {
        assert_eq!(procedure_name("com.bench.echo", 1, 0), "com.bench.echo");
        assert_eq!(procedure_name("com.bench.echo", 3, 2), "com.bench.echo.2");
    }

    #[test]
    fn rpc_figures() {
        let f = RpcFigures {
            completed: 3000,
            first_call_ns: 0,
            last_result_ns: 1_500_000_000,
        };
        assert_eq!(f.elapsed_s(), 1.5);
        assert_eq!(f.call_rate(), 2000.0);
        let none = RpcFigures {
            completed: 0,
            first_call_ns: u64::MAX,
            last_result_ns: 0,
        };
        assert_eq!(none.call_rate(), 0.0);
    }
}
