//! What every mode shares: the worker loop, run-wide flags and counters, the progress line.

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::net::{Handler, Net};

/// A mode's per-thread logic on top of [`Handler`].
pub trait Mode: Handler {
    /// Called once per loop turn, after events: start connections, send, publish counters.
    fn tick(&mut self, net: &mut Net);
    /// How long the next poll may wait (wakes earlier on socket readiness).
    fn wait(&self) -> Duration {
        Duration::from_millis(5)
    }
    /// The run is over: say GOODBYE on every open session.
    fn begin_close(&mut self, net: &mut Net);
}

/// Runs a worker until `stop`, then closes its sessions politely for at most `grace`.
pub fn drive<M: Mode>(
    net: &mut Net,
    m: &mut M,
    stop: &AtomicBool,
    grace: Duration,
) -> io::Result<()> {
    let mut result = Ok(());
    while !stop.load(Ordering::Acquire) {
        m.tick(net);
        net.flush(m);
        if let Err(e) = net.turn(m.wait(), m) {
            result = Err(e);
            break;
        }
    }
    m.begin_close(net);
    net.flush(m);
    let deadline = Instant::now() + grace;
    while net.live() > 0 && Instant::now() < deadline {
        if net.turn(Duration::from_millis(10), m).is_err() {
            break;
        }
    }
    net.release_all();
    result
}

/// Keeps the first error message seen anywhere in the run (for the report).
#[derive(Debug, Default)]
pub struct FirstError(Mutex<Option<String>>);

impl FirstError {
    /// Records `msg` if nothing was recorded yet.
    pub fn note(&self, msg: impl FnOnce() -> String) {
        if let Ok(mut slot) = self.0.lock() {
            if slot.is_none() {
                *slot = Some(msg());
            }
        }
    }

    /// The recorded message.
    pub fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|s| s.clone())
    }
}

/// `a = min(a, v)` atomically.
pub fn atomic_min(a: &AtomicU64, v: u64) {
    a.fetch_min(v, Ordering::AcqRel);
}

/// A one-line progress display on stderr, only when stderr is a terminal.
#[derive(Debug)]
pub struct ProgressLine {
    enabled: bool,
    last: Option<Instant>,
}

impl ProgressLine {
    /// Enabled if asked for and stderr is a terminal.
    pub fn new(wanted: bool) -> Self {
        ProgressLine {
            enabled: wanted && io::stderr().is_terminal(),
            last: None,
        }
    }

    /// Shows `line` (at most four times a second).
    pub fn show(&mut self, line: impl FnOnce() -> String) {
        if !self.enabled {
            return;
        }
        if self
            .last
            .is_some_and(|t| t.elapsed() < Duration::from_millis(250))
        {
            return;
        }
        self.last = Some(Instant::now());
        let mut err = io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{}", line());
        let _ = err.flush();
    }

    /// Clears the line.
    pub fn clear(&mut self) {
        if self.enabled && self.last.is_some() {
            let mut err = io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
        self.last = None;
    }
}

/// Splits `total` items over `parts` as evenly as possible: part `i` gets this many.
pub fn share(total: u64, parts: usize, i: usize) -> u64 {
    if parts == 0 {
        return 0;
    }
    let parts = parts as u64;
    let i = i as u64;
    total / parts + u64::from(i < total % parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for total in [0u64, 1, 7, 100, 1001] {
            for parts in 1..9 {
                let sum: u64 = (0..parts).map(|i| share(total, parts, i)).sum();
                assert_eq!(sum, total);
                let max = (0..parts).map(|i| share(total, parts, i)).max().unwrap();
                let min = (0..parts).map(|i| share(total, parts, i)).min().unwrap();
                assert!(max - min <= 1);
            }
        }
        assert_eq!(share(10, 0, 0), 0);
    }

    #[test]
    fn first_error_keeps_the_first() {
        let f = FirstError::default();
        assert_eq!(f.get(), None);
        f.note(|| "a".into());
        f.note(|| "b".into());
        assert_eq!(f.get().as_deref(), Some("a"));
        let a = AtomicU64::new(u64::MAX);
        atomic_min(&a, 5);
        atomic_min(&a, 9);
        assert_eq!(a.load(Ordering::Relaxed), 5);
    }
}
