//! The node's live state for operators: Prometheus metrics, readiness and liveness.
//!
//! Each shard counts in plain fields of its own and, once a second, copies them with its core's
//! counters into its slot of the [`MetricsHub`] (a `try_lock`: a shard never waits for a
//! scrape). A scrape sums the slots. Nothing on the message path is shared or locked.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::router::{CallOutcome, CoreStats, RealmStats, CALL_LATENCY_BOUNDS, MESSAGE_CODES};
use crate::transport::http::{LivePages, LiveSummary};
use crate::wamp::MessageType;

use super::TransportRuntime;

/// A shard that has not turned for this long is not live.
const STALL: Duration = Duration::from_secs(5);

/// What one shard reports.
#[derive(Debug, Clone, Default)]
pub struct ShardReport {
    /// Its core's counters.
    pub core: CoreStats,
    /// Its core's realm gauges.
    pub realms: Vec<RealmStats>,
    /// Bytes read from connections.
    pub bytes_in: u64,
    /// Bytes of WAMP frames queued to connections.
    pub bytes_out: u64,
    /// EVENTs not delivered, by reason (see [`DROP_REASONS`]).
    pub events_dropped: [u64; DROP_REASONS.len()],
    /// Sessions closed as slow consumers.
    pub slow_consumers: u64,
    /// Output queued and not yet written, over its connections.
    pub output_queue_bytes: u64,
    /// Time spent handling work (not waiting in poll).
    pub busy: Duration,
    /// Its connections open now.
    pub connections: u64,
    /// When it last reported (`None`: never).
    pub at: Option<Instant>,
}

/// Why an EVENT was not delivered.
pub const DROP_REASONS: [&str; 3] = [
    // The connection's output queue was full under the drop-events policy.
    "output_queue_full",
    // The EVENT was larger than the peer accepts.
    "too_large_for_peer",
    // The shard's mailbox from another shard was full (the shard fell behind).
    "shard_mailbox_full",
];

/// Every shard's report, and what the node itself counts.
#[derive(Debug)]
pub struct MetricsHub {
    shards: Vec<Mutex<ShardReport>>,
    /// Set when the transports' runtimes exist (connections per transport).
    transports: OnceLock<Arc<Vec<TransportRuntime>>>,
    transport_ids: Vec<String>,
    /// When each TLS transport's certificate expires (Unix seconds).
    certificate_expiries: OnceLock<Vec<(String, i64)>>,
    /// Set once every listener is bound and the shards started.
    started: AtomicBool,
    /// Set when a graceful shutdown begins.
    stopping: AtomicBool,
    reloads_ok: AtomicU64,
    reloads_refused: AtomicU64,
    since: Instant,
}

impl MetricsHub {
    /// A hub for `shards` shards and the transports `transport_ids` (in index order).
    pub fn new(shards: usize, transport_ids: Vec<String>) -> Self {
        MetricsHub {
            shards: (0..shards).map(|_| Mutex::default()).collect(),
            transports: OnceLock::new(),
            transport_ids,
            certificate_expiries: OnceLock::new(),
            started: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            reloads_ok: AtomicU64::new(0),
            reloads_refused: AtomicU64::new(0),
            since: Instant::now(),
        }
    }

    /// The transports' runtimes, once built.
    pub fn set_transports(&self, transports: Arc<Vec<TransportRuntime>>) {
        let _ = self.transports.set(transports);
    }

    /// When each TLS transport's certificate expires (Unix seconds), read at start.
    pub fn set_certificate_expiries(&self, expiries: Vec<(String, i64)>) {
        let _ = self.certificate_expiries.set(expiries);
    }

    /// Every shard was started.
    pub fn set_started(&self) {
        self.started.store(true, Ordering::Release);
    }

    /// A graceful shutdown began: the node is no longer ready.
    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// A reload was applied (`true`) or refused.
    pub fn count_reload(&self, applied: bool) {
        let counter = if applied {
            &self.reloads_ok
        } else {
            &self.reloads_refused
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A shard's report; skipped if a scrape holds its slot right now.
    pub(crate) fn report(&self, shard: usize, report: ShardReport) {
        if let Some(Ok(mut slot)) = self.shards.get(shard).map(Mutex::try_lock) {
            *slot = report;
        }
    }

    fn reports(&self) -> Vec<ShardReport> {
        self.shards
            .iter()
            .map(|s| s.lock().map(|r| r.clone()).unwrap_or_default())
            .collect()
    }

    /// Shards that have not reported lately (or never), with how long ago.
    fn stalled(&self, reports: &[ShardReport]) -> Vec<String> {
        let now = Instant::now();
        reports
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match r.at {
                Some(at) if now.saturating_duration_since(at) <= STALL => None,
                Some(at) => Some(format!(
                    "shard {i} has not turned for {} s",
                    now.saturating_duration_since(at).as_secs()
                )),
                None => Some(format!("shard {i} has not started")),
            })
            .collect()
    }
}

impl LivePages for MetricsHub {
    fn metrics(&self) -> String {
        render(self, &self.reports())
    }

    fn health(&self) -> (bool, String) {
        let reports = self.reports();
        let mut reasons = Vec::new();
        if !self.started.load(Ordering::Acquire) {
            reasons.push("starting: listeners are not all up yet".to_owned());
        }
        if self.stopping.load(Ordering::Acquire) {
            reasons.push("shutting down".to_owned());
        }
        reasons.extend(self.stalled(&reports));
        let ready = reasons.is_empty();
        let body = serde_json::json!({
            "status": if ready { "ready" } else { "not ready" },
            "reasons": reasons,
        });
        (ready, body.to_string())
    }

    fn live(&self) -> bool {
        self.stalled(&self.reports()).is_empty()
    }

    fn summary(&self) -> LiveSummary {
        let reports = self.reports();
        let sum = |f: &dyn Fn(&ShardReport) -> u64| -> u64 { reports.iter().map(f).sum() };
        LiveSummary {
            realms: realm_totals(&reports)
                .into_iter()
                .map(|r| (r.name, r.sessions, r.subscriptions, r.registrations))
                .collect(),
            connections: sum(&|r| r.connections),
            publications: sum(&|r| r.core.publications),
            deliveries: sum(&|r| r.core.sent[MessageType::Event.code() as usize]),
            calls: sum(&|r| r.core.calls.iter().sum()),
            events_dropped: sum(&|r| r.events_dropped.iter().sum()),
            slow_consumers: sum(&|r| r.slow_consumers),
        }
    }
}

/// Realm gauges summed over the shards, by realm name.
fn realm_totals(reports: &[ShardReport]) -> Vec<RealmStats> {
    let mut realms: Vec<RealmStats> = Vec::new();
    for r in reports.iter().flat_map(|r| &r.realms) {
        match realms.iter_mut().find(|x| x.name == r.name) {
            Some(x) => {
                x.sessions += r.sessions;
                x.subscriptions += r.subscriptions;
                x.registrations += r.registrations;
            }
            None => realms.push(r.clone()),
        }
    }
    realms.sort_by(|a, b| a.name.cmp(&b.name));
    realms
}

/// A Prometheus label value, escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The text exposition (format 0.0.4) of every metric.
fn render(hub: &MetricsHub, reports: &[ShardReport]) -> String {
    let mut out = String::with_capacity(8 * 1024);
    let sum = |f: &dyn Fn(&ShardReport) -> u64| -> u64 { reports.iter().map(f).sum() };

    family(
        &mut out,
        "ferrobar_connections",
        "gauge",
        "Open connections, by transport.",
    );
    if let Some(transports) = hub.transports.get() {
        for (id, t) in hub.transport_ids.iter().zip(transports.iter()) {
            let open = t.open.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "ferrobar_connections{{transport=\"{}\"}} {open}",
                label(id)
            );
        }
    }

    let realms = realm_totals(reports);
    for (name, help, get) in [
        (
            "ferrobar_sessions",
            "Joined sessions, by realm.",
            (|r: &RealmStats| r.sessions) as fn(&RealmStats) -> u64,
        ),
        (
            "ferrobar_subscriptions",
            "Subscriptions (one per match policy and topic), by realm.",
            |r: &RealmStats| r.subscriptions,
        ),
        (
            "ferrobar_registrations",
            "Registrations, by realm.",
            |r: &RealmStats| r.registrations,
        ),
    ] {
        family(&mut out, name, "gauge", help);
        for r in &realms {
            let _ = writeln!(out, "{name}{{realm=\"{}\"}} {}", label(&r.name), get(r));
        }
    }

    for (name, help, codes) in [
        (
            "ferrobar_messages_received_total",
            "WAMP messages received, by type.",
            (|r: &ShardReport| r.core.received) as fn(&ShardReport) -> [u64; MESSAGE_CODES],
        ),
        (
            "ferrobar_messages_sent_total",
            "WAMP messages sent, by type (an EVENT once per subscriber).",
            |r: &ShardReport| r.core.sent,
        ),
    ] {
        family(&mut out, name, "counter", help);
        for code in 0..MESSAGE_CODES {
            let Some(kind) = MessageType::from_code(code as u64) else {
                continue;
            };
            let n: u64 = reports.iter().map(|r| codes(r)[code]).sum();
            let _ = writeln!(out, "{name}{{type=\"{}\"}} {n}", kind.name());
        }
    }

    let counters: [(&str, &str, u64); 6] = [
        (
            "ferrobar_bytes_received_total",
            "Bytes read from connections.",
            sum(&|r| r.bytes_in),
        ),
        (
            "ferrobar_bytes_sent_total",
            "Bytes of WAMP frames queued to connections.",
            sum(&|r| r.bytes_out),
        ),
        (
            "ferrobar_publications_total",
            "PUBLISH messages accepted.",
            sum(&|r| r.core.publications),
        ),
        (
            "ferrobar_deliveries_total",
            "EVENTs delivered (one per subscriber).",
            sum(&|r| r.core.sent[MessageType::Event.code() as usize]),
        ),
        (
            "ferrobar_slow_consumer_disconnects_total",
            "Sessions closed because they did not read their output.",
            sum(&|r| r.slow_consumers),
        ),
        (
            "ferrobar_protocol_violations_total",
            "Sessions closed for a protocol violation.",
            sum(&|r| r.core.protocol_violations),
        ),
    ];
    for (name, help, value) in counters {
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }

    family(
        &mut out,
        "ferrobar_events_dropped_total",
        "counter",
        "EVENTs not delivered, by reason.",
    );
    for (i, reason) in DROP_REASONS.iter().enumerate() {
        let n = sum(&|r| r.events_dropped[i]);
        let _ = writeln!(
            out,
            "ferrobar_events_dropped_total{{reason=\"{reason}\"}} {n}"
        );
    }

    family(
        &mut out,
        "ferrobar_output_queue_bytes",
        "gauge",
        "Output queued for connections and not yet written.",
    );
    let _ = writeln!(
        out,
        "ferrobar_output_queue_bytes {}",
        sum(&|r| r.output_queue_bytes)
    );

    family(
        &mut out,
        "ferrobar_calls_total",
        "counter",
        "Calls answered to their caller, by outcome.",
    );
    for (i, outcome) in CallOutcome::ALL.iter().enumerate() {
        let n = sum(&|r| r.core.calls[i]);
        let _ = writeln!(
            out,
            "ferrobar_calls_total{{outcome=\"{}\"}} {n}",
            outcome.label()
        );
    }

    family(
        &mut out,
        "ferrobar_call_duration_seconds",
        "histogram",
        "Time from CALL to the callee's final RESULT or ERROR.",
    );
    let mut cumulative = 0;
    for (i, bound) in CALL_LATENCY_BOUNDS.iter().enumerate() {
        cumulative += sum(&|r| r.core.call_latency[i]);
        let _ = writeln!(
            out,
            "ferrobar_call_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
        );
    }
    cumulative += sum(&|r| r.core.call_latency[CALL_LATENCY_BOUNDS.len()]);
    let _ = writeln!(
        out,
        "ferrobar_call_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
    );
    let latency_sum: f64 = reports
        .iter()
        .map(|r| r.core.call_latency_sum.as_secs_f64())
        .sum();
    let _ = writeln!(out, "ferrobar_call_duration_seconds_sum {latency_sum}");
    let _ = writeln!(out, "ferrobar_call_duration_seconds_count {cumulative}");

    family(
        &mut out,
        "ferrobar_auth_failures_total",
        "counter",
        "Failed authentications, by method (hello: refused before any challenge).",
    );
    let mut failures: Vec<(&str, u64)> = Vec::new();
    for (method, n) in reports.iter().flat_map(|r| &r.core.auth_failures) {
        match failures.iter_mut().find(|(m, _)| m == method) {
            Some((_, total)) => *total += n,
            None => failures.push((method, *n)),
        }
    }
    failures.sort_unstable();
    for (method, n) in failures {
        let _ = writeln!(
            out,
            "ferrobar_auth_failures_total{{method=\"{method}\"}} {n}"
        );
    }

    family(
        &mut out,
        "ferrobar_reloads_total",
        "counter",
        "Configuration reloads (SIGHUP), by result.",
    );
    let _ = writeln!(
        out,
        "ferrobar_reloads_total{{result=\"applied\"}} {}",
        hub.reloads_ok.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "ferrobar_reloads_total{{result=\"refused\"}} {}",
        hub.reloads_refused.load(Ordering::Relaxed)
    );

    family(
        &mut out,
        "ferrobar_shard_busy_seconds_total",
        "counter",
        "Time each shard spent handling work rather than waiting for it.",
    );
    for (i, r) in reports.iter().enumerate() {
        let _ = writeln!(
            out,
            "ferrobar_shard_busy_seconds_total{{shard=\"{i}\"}} {}",
            r.busy.as_secs_f64()
        );
    }
    family(
        &mut out,
        "ferrobar_tls_certificate_expiry_timestamp_seconds",
        "gauge",
        "When each TLS transport's certificate expires (Unix time), as read at start.",
    );
    for (transport, at) in hub.certificate_expiries.get().into_iter().flatten() {
        let _ = writeln!(
            out,
            "ferrobar_tls_certificate_expiry_timestamp_seconds{{transport=\"{}\"}} {at}",
            label(transport)
        );
    }
    family(
        &mut out,
        "ferrobar_uptime_seconds",
        "gauge",
        "Seconds since the node started.",
    );
    let _ = writeln!(
        out,
        "ferrobar_uptime_seconds {}",
        hub.since.elapsed().as_secs_f64()
    );
    out
}
