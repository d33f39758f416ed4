//! CPU time over a measured phase: the router's (with `--router-pid`) and wampbench's own.
//!
//! On a small machine the load generator is often the bottleneck, and then a router's rate
//! says more about wampbench than about the router. Router CPU time per delivery (or per call)
//! stays honest either way: it is what the router spent, whatever limited the rate. The
//! readings are taken when the measured phase starts and when it ends, never during setup.

use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::error::BenchError;
use crate::procinfo::{self, CpuReading, CpuSource};
use crate::report;

/// Checks before setup that the router's CPU time can be read, so a wrong pid fails fast.
pub fn check_router_pid(pid: Option<u32>) -> Result<(), BenchError> {
    match pid {
        Some(pid) => procinfo::read_cpu(pid).map(|_| ()).map_err(|e| {
            BenchError::Setup(format!(
                "cannot read the CPU time of --router-pid {pid}: {e}"
            ))
        }),
        None => Ok(()),
    }
}

/// The readings at the start of the measured phase.
#[derive(Debug)]
pub struct CpuMeter {
    pid: Option<u32>,
    router: Option<Result<CpuReading, String>>,
    client_ns: Option<u64>,
    start: Instant,
}

impl CpuMeter {
    /// Takes the start readings (call right before the measured phase begins).
    pub fn start(pid: Option<u32>) -> Self {
        CpuMeter {
            pid,
            router: pid.map(|p| procinfo::read_cpu(p).map_err(|e| e.to_string())),
            client_ns: procinfo::own_cpu_ns(),
            start: Instant::now(),
        }
    }

    /// Takes the end readings (call as soon as the measured phase ended, before closing).
    pub fn stop(self) -> CpuUsage {
        let window_ns = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let client_ns = match (self.client_ns, procinfo::own_cpu_ns()) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        let (router, error) = match (self.pid, self.router) {
            (Some(pid), Some(Ok(a))) => match procinfo::read_cpu(pid) {
                Ok(b) => (Some(procinfo::cpu_between(a, b)), None),
                Err(e) => (None, Some(format!("router CPU at the end: {e}"))),
            },
            (_, Some(Err(e))) => (None, Some(format!("router CPU at the start: {e}"))),
            _ => (None, None),
        };
        CpuUsage {
            router,
            client_ns,
            window_ns,
            error,
        }
    }
}

/// CPU used during the measured phase.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuUsage {
    /// The router's CPU time (ns), where it came from, and the `/proc` stat delta (ns).
    pub router: Option<(u64, CpuSource, u64)>,
    /// wampbench's own CPU time (ns).
    pub client_ns: Option<u64>,
    /// Wall time between the two readings (ns).
    pub window_ns: u64,
    /// Why the router could not be read, if it could not.
    pub error: Option<String>,
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

impl CpuUsage {
    /// Router CPU ns per unit of work (`None` without a router reading or without work).
    pub fn router_ns_per(&self, count: u64) -> Option<f64> {
        let (ns, _, _) = self.router?;
        (count > 0).then(|| ns as f64 / count as f64)
    }

    /// Adds the CPU figures to a run's results; `per_key` names the per-unit figure
    /// (`router_cpu_ns_per_delivery`, `router_cpu_ns_per_call`), `count` is the units done.
    /// Without `--router-pid` the router figures are present but null.
    pub fn add_results(&self, r: &mut Map<String, Value>, per_key: &str, count: u64) {
        let router = self.router;
        r.insert(
            "router_cpu_ms".into(),
            router.map_or(Value::Null, |(ns, _, _)| json!(report::round4(ms(ns)))),
        );
        r.insert(
            per_key.into(),
            self.router_ns_per(count)
                .map_or(Value::Null, |v| json!(report::round2(v))),
        );
        r.insert(
            "router_cpu_source".into(),
            router.map_or(Value::Null, |(_, s, _)| json!(s.name())),
        );
        r.insert(
            "router_cpu_resolution_ns".into(),
            router.map_or(Value::Null, |(_, s, _)| json!(s.resolution_ns())),
        );
        r.insert(
            "router_cpu_proc_stat_ms".into(),
            router.map_or(Value::Null, |(_, _, stat)| json!(report::round4(ms(stat)))),
        );
        r.insert(
            "router_cpu_cores".into(),
            router.map_or(Value::Null, |(ns, _, _)| {
                json!(report::round4(ns as f64 / self.window_ns.max(1) as f64))
            }),
        );
        r.insert(
            "client_cpu_ms".into(),
            self.client_ns
                .map_or(Value::Null, |ns| json!(report::round4(ms(ns)))),
        );
        r.insert(
            "cpu_window_s".into(),
            json!(report::round4(self.window_ns as f64 / 1e9)),
        );
    }

    /// One human line (`unit`: "delivery", "call").
    pub fn human(&self, unit: &str, count: u64) -> String {
        let client = self
            .client_ns
            .map_or("?".into(), |ns| format!("{:.1} ms", ms(ns)));
        let window_s = self.window_ns as f64 / 1e9;
        match self.router {
            Some((ns, source, stat)) => format!(
                "CPU over {window_s:.3} s: router {:.1} ms ({:.2} cores), {} ns per {unit} ({}, {} resolution; /proc stat: {:.0} ms); wampbench {client}",
                ms(ns),
                ns as f64 / self.window_ns.max(1) as f64,
                self.router_ns_per(count)
                    .map_or("?".into(), |v| format!("{v:.0}")),
                source.name(),
                match source {
                    CpuSource::Clock => "1 ns".to_string(),
                    CpuSource::ProcStat => format!("{:.0} ms", ms(source.resolution_ns())),
                },
                ms(stat),
            ),
            None => format!(
                "CPU over {window_s:.3} s: wampbench {client}{}",
                self.error
                    .as_deref()
                    .map_or(String::new(), |e| format!("; router not read: {e}"))
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_unit_arithmetic_and_fields() {
        let u = CpuUsage {
            router: Some((2_000_000_000, CpuSource::Clock, 1_990_000_000)),
            client_ns: Some(3_000_000_000),
            window_ns: 4_000_000_000,
            error: None,
        };
        assert_eq!(u.router_ns_per(1_000_000), Some(2000.0));
        assert_eq!(u.router_ns_per(0), None);
        let mut r = Map::new();
        u.add_results(&mut r, "router_cpu_ns_per_delivery", 1_000_000);
        assert_eq!(r["router_cpu_ms"], 2000.0);
        assert_eq!(r["router_cpu_ns_per_delivery"], 2000.0);
        assert_eq!(r["router_cpu_source"], "cpu_clock");
        assert_eq!(r["router_cpu_resolution_ns"], 1);
        assert_eq!(r["router_cpu_proc_stat_ms"], 1990.0);
        assert_eq!(r["router_cpu_cores"], 0.5);
        assert_eq!(r["client_cpu_ms"], 3000.0);
        assert_eq!(r["cpu_window_s"], 4.0);
        assert!(u
            .human("delivery", 1_000_000)
            .contains("2000 ns per delivery"));
    }

    #[test]
    fn without_a_router_the_fields_are_null() {
        let u = CpuMeter::start(None).stop();
        assert_eq!(u.router, None);
        assert_eq!(u.error, None);
        assert!(u.client_ns.is_some());
        let mut r = Map::new();
        u.add_results(&mut r, "router_cpu_ns_per_call", 10);
        assert_eq!(r["router_cpu_ms"], Value::Null);
        assert_eq!(r["router_cpu_ns_per_call"], Value::Null);
        assert!(r["client_cpu_ms"].is_number());
        assert!(check_router_pid(None).is_ok());
    }

    #[test]
    fn measures_a_real_process() {
        // This test process stands in for the router.
        let pid = std::process::id();
        assert!(check_router_pid(Some(pid)).is_ok());
        let u = CpuMeter::start(Some(pid)).stop();
        assert_eq!(u.error, None);
        let (_, source, _) = u.router.unwrap();
        assert!(matches!(source, CpuSource::Clock | CpuSource::ProcStat));
    }

    #[test]
    fn a_missing_router_is_reported_not_fatal() {
        assert!(matches!(
            check_router_pid(Some(0)),
            Err(BenchError::Setup(_))
        ));
        let u = CpuMeter::start(Some(0)).stop();
        assert_eq!(u.router, None);
        assert!(u.error.unwrap().contains("start"));
    }
}
