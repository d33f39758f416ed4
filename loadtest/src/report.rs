//! Result arithmetic and output: rates, completeness, latency percentiles; one JSON line for
//! scripts or a short human summary.

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

/// Highest latency recorded, in microseconds (one hour); larger values are clamped.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A latency histogram in microseconds.
pub fn new_histogram() -> Histogram<u64> {
    // Constant bounds that hdrhistogram accepts (low >= 1, high >= 2 * low, sigfig <= 5).
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("constant histogram bounds are valid")
}

/// Records a latency given in nanoseconds (clamped to [1 µs, 1 h]).
pub fn record_ns(h: &mut Histogram<u64>, ns: u64) {
    h.saturating_record((ns / 1000).clamp(1, MAX_LATENCY_US));
}

/// Events (or calls) per second; 0 when no time passed.
pub fn rate(count: u64, secs: f64) -> f64 {
    if secs > 0.0 && secs.is_finite() {
        count as f64 / secs
    } else {
        0.0
    }
}

/// Fraction of the expected that arrived; 1 when nothing was expected.
pub fn completeness(received: u64, expected: u64) -> f64 {
    if expected == 0 {
        1.0
    } else {
        received as f64 / expected as f64
    }
}

/// Latency summary in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl Latency {
    /// Summarises a histogram (all zero when empty).
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Latency {
                count: 0,
                p50: 0,
                p99: 0,
                p999: 0,
                max: 0,
                mean: 0.0,
            };
        }
        Latency {
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }

    /// As a JSON object.
    pub fn to_json(self) -> Value {
        json!({
            "count": self.count,
            "p50": self.p50,
            "p99": self.p99,
            "p999": self.p999,
            "max": self.max,
            "mean": round2(self.mean),
        })
    }

    /// As one human line.
    pub fn human(self) -> String {
        if self.count == 0 {
            return "no samples".into();
        }
        format!(
            "p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs (mean {:.1} µs, {} samples)",
            self.p50, self.p99, self.p999, self.max, self.mean, self.count
        )
    }
}

/// Rounds to two decimals (keeps JSON short and readable).
pub fn round2(v: f64) -> f64 {
    if v.is_finite() {
        (v * 100.0).round() / 100.0
    } else {
        0.0
    }
}

/// Rounds to four decimals.
pub fn round4(v: f64) -> f64 {
    if v.is_finite() {
        (v * 10_000.0).round() / 10_000.0
    } else {
        0.0
    }
}

/// A finished run: mode, parameters, results, and the lines a human reads.
#[derive(Debug, Clone)]
pub struct Report {
    /// Mode name.
    pub mode: &'static str,
    /// Parameters as given (after defaults).
    pub params: Map<String, Value>,
    /// Figures.
    pub results: Map<String, Value>,
    /// Human summary lines.
    pub lines: Vec<String>,
}

impl Report {
    /// The one-line JSON object.
    pub fn to_json_line(&self) -> String {
        json!({
            "mode": self.mode,
            "params": Value::Object(self.params.clone()),
            "results": Value::Object(self.results.clone()),
        })
        .to_string()
    }

    /// The human summary.
    pub fn to_human(&self) -> String {
        let mut s = format!("wampbench {}\n", self.mode);
        for l in &self.lines {
            s.push_str("  ");
            s.push_str(l);
            s.push('\n');
        }
        s
    }
}

/// Formats a rate with thousands separators (`1 234 567/s`).
pub fn fmt_rate(v: f64) -> String {
    format!("{}/s", group(v.round() as u64))
}

/// Groups digits by thousands with thin spaces.
pub fn group(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic() {
        assert_eq!(rate(1000, 2.0), 500.0);
        assert_eq!(rate(1000, 0.0), 0.0);
        assert_eq!(rate(1000, f64::NAN), 0.0);
        assert_eq!(completeness(50, 100), 0.5);
        assert_eq!(completeness(0, 0), 1.0);
        assert_eq!(round2(1.23456), 1.23);
        assert_eq!(round4(0.999_96), 1.0);
        assert_eq!(group(1_234_567), "1 234 567");
        assert_eq!(group(12), "12");
        assert_eq!(fmt_rate(999_999.6), "1 000 000/s");
    }

    #[test]
    fn latency_percentiles() {
        let mut h = new_histogram();
        assert_eq!(Latency::of(&h).count, 0);
        for us in 1..=1000u64 {
            record_ns(&mut h, us * 1000);
        }
        record_ns(&mut h, 0); // clamped to 1 µs
        record_ns(&mut h, u64::MAX); // clamped to an hour
        let l = Latency::of(&h);
        assert_eq!(l.count, 1002);
        assert!((499..=502).contains(&l.p50), "{l:?}");
        assert!((985..=1000).contains(&l.p99), "{l:?}");
        assert!(l.max >= MAX_LATENCY_US - MAX_LATENCY_US / 1000);
        let j = l.to_json();
        assert_eq!(j["count"], 1002);
    }

    #[test]
    fn report_is_one_json_line() {
        let mut params = Map::new();
        params.insert("subscribers".into(), json!(10));
        let mut results = Map::new();
        results.insert("delivery_rate".into(), json!(1.5));
        let r = Report {
            mode: "fanout",
            params,
            results,
            lines: vec!["x".into()],
        };
        let line = r.to_json_line();
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["mode"], "fanout");
        assert_eq!(v["params"]["subscribers"], 10);
        assert_eq!(v["results"]["delivery_rate"], 1.5);
        assert!(r.to_human().contains("wampbench fanout"));
    }
}
