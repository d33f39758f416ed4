//! One monotonic clock for the whole process, so a timestamp written by a publisher thread can
//! be compared with the time a subscriber thread reads.

use std::sync::OnceLock;
use std::time::Instant;

static BASE: OnceLock<Instant> = OnceLock::new();

/// Starts the clock (idempotent). Call once at program start so every thread shares the base.
pub fn init() {
    BASE.get_or_init(Instant::now);
}

/// Nanoseconds since the process clock started (monotonic, shared by all threads).
pub fn now_ns() -> u64 {
    let base = *BASE.get_or_init(Instant::now);
    u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Seconds between two clock readings, never negative.
pub fn secs_between(start_ns: u64, end_ns: u64) -> f64 {
    end_ns.saturating_sub(start_ns) as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_monotonic_and_shared() {
        init();
        let a = now_ns();
        let b = std::thread::spawn(now_ns).join().unwrap();
        let c = now_ns();
        assert!(a <= b && b <= c);
        assert_eq!(secs_between(c, a), 0.0);
        assert!((secs_between(0, 1_500_000_000) - 1.5).abs() < 1e-12);
    }
}
