//! One fan-out measurement: start the worker threads, wait for every session to be set up,
//! let the publishers go, collect and report; and the figures derived from the raw counts.

use super::*;
use crate::cpu::{self, CpuMeter};

/// Runs a fan-out measurement; with `source`, the events come from the null router (ceiling).
pub fn run(p: &FanoutParams, source: Option<&NullSource>) -> Result<Report, BenchError> {
    cpu::check_router_pid(p.router_pid)?;
    let sh = Arc::new(new_shared());
    let k = p.topics.max(1);
    let topics: Arc<Vec<String>> = Arc::new((0..k).map(|i| topic_name(&p.topic, k, i)).collect());
    let mut handles = Vec::new();
    for t in 0..p.threads {
        handles.push(spawn_worker(t, p, &sh, &topics)?);
    }
    let mut progress = ProgressLine::new(p.progress);
    let subs = p.subscribers as u64;
    let pubs = p.publishers as u64;

    // Setup: every session joined (and subscribed), or the timeout.
    let setup_start = Instant::now();
    loop {
        let sr = sh.subs_ready.load(Ordering::Acquire);
        let sf = sh.subs_failed.load(Ordering::Acquire);
        let pr = sh.pubs_ready.load(Ordering::Acquire);
        let pf = sh.pubs_failed.load(Ordering::Acquire);
        if sr + sf >= subs && pr + pf >= pubs {
            break;
        }
        if setup_start.elapsed() >= p.timeout || handles.iter().all(|h| h.is_finished()) {
            break;
        }
        progress.show(|| {
            format!(
                "setup: {sr}/{subs} subscribed, {pr}/{pubs} publishers joined, {} failed",
                sf + pf
            )
        });
        thread::sleep(Duration::from_millis(5));
    }
    let setup_s = setup_start.elapsed().as_secs_f64();
    let subs_ready = sh.subs_ready.load(Ordering::Acquire);
    let pubs_ready = sh.pubs_ready.load(Ordering::Acquire);
    if subs_ready == 0 || (source.is_none() && pubs_ready == 0) {
        sh.stop.store(true, Ordering::Release);
        for h in handles {
            let _ = h.join();
        }
        progress.clear();
        return Err(BenchError::Setup(format!(
            "{subs_ready} of {subs} subscribers and {pubs_ready} of {pubs} publishers ready after {setup_s:.1} s; first error: {}",
            sh.first_error.get().unwrap_or_else(|| "none (timeout)".into())
        )));
    }

    // Measured phase: CPU readings bracket it, setup and closing stay outside.
    let cpu_meter = CpuMeter::start(p.router_pid);
    let go_ns = clock::now_ns();
    sh.go_ns.store(go_ns, Ordering::Release);
    if let Some(d) = p.duration {
        let until = go_ns.saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        sh.publish_until_ns.store(until, Ordering::Release);
    }
    sh.go.store(true, Ordering::Release);
    if let Some(src) = source {
        src.go.store(true, Ordering::Release);
    }
    let run_start = Instant::now();
    let mut last_received = 0;
    let mut last_change = Instant::now();
    let mut timed_out = false;
    let mut idle = false;
    loop {
        thread::sleep(Duration::from_millis(2));
        let received = sh.received.load(Ordering::Acquire);
        let alive = subs_ready.saturating_sub(sh.subs_lost.load(Ordering::Acquire));
        // The publishing side is finished when every ready publisher is done (or the null
        // router generated its last event); then the expectation is fixed. With every
        // subscriber alive it is what the events called for; with some gone it is known only
        // on a single topic, elsewhere the idle timeout ends the run.
        let (publishing_done, published, target) = match source {
            Some(src) => (
                src.finished.load(Ordering::Acquire) >= src.server_threads,
                src.events,
                Some(src.events.saturating_mul(alive)),
            ),
            None => {
                let done =
                    sh.pubs_done.load(Ordering::Acquire) >= sh.pubs_ready.load(Ordering::Acquire);
                let published = sh.published.load(Ordering::Acquire);
                let accepted = published.saturating_sub(sh.publish_errors.load(Ordering::Acquire));
                let target = if alive == subs {
                    Some(
                        sh.expected
                            .load(Ordering::Acquire)
                            .saturating_sub(sh.refused_expected.load(Ordering::Acquire)),
                    )
                } else if k == 1 {
                    Some(accepted.saturating_mul(alive))
                } else {
                    None
                };
                (done, published, target)
            }
        };
        if publishing_done && target.is_some_and(|t| received >= t) {
            break;
        }
        if received != last_received {
            last_received = received;
            last_change = Instant::now();
        }
        if publishing_done && last_change.elapsed() >= p.idle_timeout {
            idle = true;
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
                "{:.1} s: published {published}, received {received} of {}",
                run_start.elapsed().as_secs_f64(),
                target.map_or("?".into(), |t| t.to_string())
            )
        });
    }
    let cpu_usage = cpu_meter.stop();
    sh.stop.store(true, Ordering::Release);
    progress.clear();

    let mut hist = report::new_histogram();
    let mut received = 0u64;
    let mut order_violations = 0u64;
    let mut bad_events = 0u64;
    let mut protocol_errors = 0u64;
    let mut first_publish_ns = u64::MAX;
    let mut last_ack_ns = 0u64;
    let mut last_receive_ns = 0u64;
    let mut sub_reads = 0u64;
    for h in handles {
        match h.join() {
            Ok(Ok(r)) => {
                let _ = hist.add(&r.hist);
                received += r.received;
                order_violations += r.order_violations;
                bad_events += r.bad_events;
                protocol_errors += r.protocol_errors;
                first_publish_ns = first_publish_ns.min(r.first_publish_ns);
                last_ack_ns = last_ack_ns.max(r.last_ack_ns);
                last_receive_ns = last_receive_ns.max(r.last_receive_ns);
                sub_reads += r.sub_reads;
            }
            Ok(Err(e)) => sh.first_error.note(|| e),
            Err(_) => sh.first_error.note(|| "a worker thread panicked".into()),
        }
    }
    let (published, publish_errors, acked, expected) = match source {
        Some(src) => {
            first_publish_ns = src.first_event_ns.load(Ordering::Acquire);
            (src.events, 0, 0, src.events.saturating_mul(subs))
        }
        None => (
            sh.published.load(Ordering::Acquire),
            sh.publish_errors.load(Ordering::Acquire),
            sh.acked.load(Ordering::Acquire),
            sh.expected
                .load(Ordering::Acquire)
                .saturating_sub(sh.refused_expected.load(Ordering::Acquire)),
        ),
    };
    let figures = Figures {
        expected,
        acked,
        received,
        first_publish_ns,
        last_ack_ns,
        last_receive_ns,
    };
    let latency = Latency::of(&hist);

    let mut params = Map::new();
    if source.is_none() {
        params.insert("url".into(), json!(p.target.url));
        params.insert("realm".into(), json!(p.realm));
        params.insert("topic".into(), json!(p.topic));
        params.insert("topics".into(), json!(k));
        params.insert("publishers".into(), json!(p.publishers));
        params.insert("window".into(), json!(p.window));
        params.insert("rate".into(), json!(p.rate));
        params.insert("router_pid".into(), json!(p.router_pid));
    }
    params.insert("serializer".into(), json!(p.ser.name()));
    params.insert("subscribers".into(), json!(p.subscribers));
    params.insert("events".into(), json!(p.events));
    params.insert("payload_size".into(), json!(p.payload_size));
    params.insert("threads".into(), json!(p.threads));
    params.insert("timeout_s".into(), json!(p.timeout.as_secs_f64()));
    params.insert(
        "duration_s".into(),
        p.duration.map_or(Value::Null, |d| json!(d.as_secs_f64())),
    );

    let subs_failed = sh.subs_failed.load(Ordering::Acquire);
    let subs_lost = sh.subs_lost.load(Ordering::Acquire);
    let pubs_failed = sh.pubs_failed.load(Ordering::Acquire);
    let pubs_lost = sh.pubs_lost.load(Ordering::Acquire);
    let first_error = sh.first_error.get();
    let mut r = Map::new();
    r.insert("subscribers_ready".into(), json!(subs_ready));
    r.insert("subscribers_failed".into(), json!(subs_failed));
    r.insert("subscribers_lost".into(), json!(subs_lost));
    if source.is_none() {
        r.insert("publishers_ready".into(), json!(pubs_ready));
        r.insert("publishers_failed".into(), json!(pubs_failed));
        r.insert("publishers_lost".into(), json!(pubs_lost));
        r.insert("events_acked".into(), json!(acked));
        r.insert("publish_errors".into(), json!(publish_errors));
        r.insert(
            "publish_rate".into(),
            json!(report::round2(figures.publish_rate())),
        );
    }
    r.insert("setup_s".into(), json!(report::round4(setup_s)));
    r.insert("events_published".into(), json!(published));
    r.insert("expected".into(), json!(figures.expected));
    r.insert("received".into(), json!(received));
    r.insert(
        "completeness".into(),
        json!(report::round4(figures.completeness())),
    );
    r.insert("order_violations".into(), json!(order_violations));
    r.insert("bad_events".into(), json!(bad_events));
    r.insert("protocol_errors".into(), json!(protocol_errors));
    r.insert(
        "elapsed_s".into(),
        json!(report::round4(figures.elapsed_s())),
    );
    r.insert(
        "delivery_rate".into(),
        json!(report::round2(figures.delivery_rate())),
    );
    r.insert("latency_us".into(), latency.to_json());
    r.insert("subscriber_reads".into(), json!(sub_reads));
    r.insert(
        "events_per_read".into(),
        json!(report::round2(report::rate(received, sub_reads as f64))),
    );
    r.insert("timed_out".into(), json!(timed_out));
    r.insert("stalled".into(), json!(idle));
    if source.is_none() {
        cpu_usage.add_results(&mut r, "router_cpu_ns_per_delivery", received);
    }
    r.insert("first_error".into(), json!(first_error));

    let mut lines = vec![
        format!(
            "sessions: {subs_ready}/{subs} subscribers ready{}, setup {setup_s:.2} s",
            if source.is_none() {
                format!(", {pubs_ready}/{pubs} publishers")
            } else {
                String::new()
            }
        ),
        format!(
            "events: {} published{}, {} expected deliveries, {} received ({:.2} %)",
            report::group(published),
            if source.is_none() {
                format!(
                    " ({} acked, {publish_errors} refused)",
                    report::group(acked)
                )
            } else {
                String::new()
            },
            report::group(figures.expected),
            report::group(received),
            figures.completeness() * 100.0
        ),
    ];
    if source.is_none() {
        lines.push(format!(
            "publish rate: {}",
            report::fmt_rate(figures.publish_rate())
        ));
    }
    lines.push(format!(
        "delivery rate: {} over {:.3} s (first publish to last receive)",
        report::fmt_rate(figures.delivery_rate()),
        figures.elapsed_s()
    ));
    lines.push(format!("latency: {}", latency.human()));
    lines.push(format!(
        "subscriber reads: {} ({:.2} events per read)",
        report::group(sub_reads),
        report::rate(received, sub_reads as f64)
    ));
    lines.push(format!(
        "order violations: {order_violations}, unrecognised events: {bad_events}, protocol errors: {protocol_errors}"
    ));
    if source.is_none() {
        lines.push(cpu_usage.human("delivery", received));
    }
    if subs_failed + subs_lost + pubs_failed + pubs_lost > 0 || timed_out || idle {
        lines.push(format!(
            "problems: {subs_failed} subscribers failed, {subs_lost} lost; {pubs_failed} publishers failed, {pubs_lost} lost{}{}",
            if timed_out { ", timed out" } else { "" },
            if idle { ", stalled (nothing arrived for the idle timeout)" } else { "" }
        ));
    }
    if let Some(e) = first_error {
        lines.push(format!("first error: {e}"));
    }
    Ok(Report {
        mode: if source.is_some() {
            "ceiling"
        } else {
            "fanout"
        },
        params,
        results: r,
        lines,
    })
}

/// The raw counts of a fan-out run and the figures derived from them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// Deliveries expected: for every accepted event, the subscribers (asked for) of its topic.
    pub expected: u64,
    /// Publishes acknowledged.
    pub acked: u64,
    /// Deliveries received by all subscribers.
    pub received: u64,
    /// First publish (clock ns; `u64::MAX` if none).
    pub first_publish_ns: u64,
    /// Last acknowledgement (clock ns).
    pub last_ack_ns: u64,
    /// Last delivery (clock ns).
    pub last_receive_ns: u64,
}

impl Figures {
    /// received / expected.
    pub fn completeness(&self) -> f64 {
        report::completeness(self.received, self.expected)
    }

    /// First publish to last receive, seconds.
    pub fn elapsed_s(&self) -> f64 {
        if self.first_publish_ns == u64::MAX || self.received == 0 {
            return 0.0;
        }
        clock::secs_between(self.first_publish_ns, self.last_receive_ns)
    }

    /// Deliveries per second.
    pub fn delivery_rate(&self) -> f64 {
        report::rate(self.received, self.elapsed_s())
    }

    /// Acknowledged publishes per second (first publish to last acknowledgement).
    pub fn publish_rate(&self) -> f64 {
        if self.first_publish_ns == u64::MAX {
            return 0.0;
        }
        report::rate(
            self.acked,
            clock::secs_between(self.first_publish_ns, self.last_ack_ns),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_arithmetic() {
        let f = Figures {
            expected: 100_000,
            acked: 1000,
            received: 50_000,
            first_publish_ns: 1_000_000_000,
            last_ack_ns: 1_500_000_000,
            last_receive_ns: 3_000_000_000,
        };
        assert_eq!(f.completeness(), 0.5);
        assert_eq!(f.elapsed_s(), 2.0);
        assert_eq!(f.delivery_rate(), 25_000.0);
        assert_eq!(f.publish_rate(), 2000.0);
        let nothing = Figures {
            received: 0,
            first_publish_ns: u64::MAX,
            ..f
        };
        assert_eq!(nothing.elapsed_s(), 0.0);
        assert_eq!(nothing.delivery_rate(), 0.0);
        assert_eq!(nothing.publish_rate(), 0.0);
    }
}
