//! Brute-force throttling (ferrobar's own; Crossbar has none): failed authentications are
//! counted per peer, and past a number of them within a window the peer must wait, twice as
//! long after each further failure, up to a cap. Pure: the caller passes the time in.
//!
//! Key it by the peer's host, not host and port (every connection has a new port):
//! [`super::peer_host`] turns Crossbar's `tcp4:203.0.113.9:50412` into `203.0.113.9`.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// How failures are throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures a peer may have within `window_secs` before it is slowed down.
    pub free_failures: u32,
    /// A peer with no failure for this long starts from zero again.
    pub window_secs: u64,
    /// The wait after the `free_failures`-th failure; it doubles with each further one.
    pub base_delay_secs: u64,
    /// The longest wait.
    pub max_delay_secs: u64,
    /// Peers remembered at most; past this the one whose last failure is oldest is forgotten.
    pub max_entries: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            free_failures: 5,
            window_secs: 300,
            base_delay_secs: 1,
            max_delay_secs: 30,
            max_entries: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Failures since the window started.
    failures: u32,
    /// Time of the last failure.
    last: u64,
    /// Position of this entry's newest record in `order`.
    seq: u64,
}

/// Failed authentications per peer, with bounded memory.
#[derive(Debug)]
pub struct FailureTracker {
    config: ThrottleConfig,
    entries: HashMap<String, Entry>,
    /// Peers by the time of their last failure, oldest first; a record is stale when its `seq`
    /// is not the entry's (the peer failed again since).
    pub(super) order: VecDeque<(String, u64)>,
    next_seq: u64,
}

impl Default for FailureTracker {
    fn default() -> Self {
        FailureTracker::new(ThrottleConfig::default())
    }
}

impl FailureTracker {
    /// An empty tracker.
    pub fn new(config: ThrottleConfig) -> Self {
        FailureTracker {
            config,
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &ThrottleConfig {
        &self.config
    }

    /// Peers remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no peer is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Failures counted for `peer` in its current window (0 once the window has passed).
    pub fn failures(&self, peer: &str, now_secs: u64) -> u32 {
        match self.entries.get(peer) {
            Some(e) if !self.expired(e, now_secs) => e.failures,
            _ => 0,
        }
    }

    /// Records a failed authentication of `peer` at `now_secs`.
    pub fn record_failure(&mut self, peer: &str, now_secs: u64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let window = self.config.window_secs;
        match self.entries.get_mut(peer) {
            Some(e) => {
                if now_secs.saturating_sub(e.last) > window {
                    e.failures = 0;
                }
                e.failures = e.failures.saturating_add(1);
                e.last = e.last.max(now_secs);
                e.seq = seq;
            }
            None => {
                self.entries.insert(
                    peer.to_owned(),
                    Entry {
                        failures: 1,
                        last: now_secs,
                        seq,
                    },
                );
            }
        }
        self.order.push_back((peer.to_owned(), seq));
        self.evict();
    }

    /// Forgets `peer` (after it authenticated successfully).
    pub fn record_success(&mut self, peer: &str) {
        // Its records in `order` become stale and are dropped when reached.
        self.entries.remove(peer);
    }

    /// How long `peer` must still wait before its next attempt is handled, if at all: none
    /// below `free_failures` failures in the window, else `base_delay_secs` doubled for each
    /// failure past that (capped at `max_delay_secs`), counted from its last failure.
    pub fn delay_for(&self, peer: &str, now_secs: u64) -> Option<Duration> {
        let e = self.entries.get(peer)?;
        if self.expired(e, now_secs) || e.failures < self.config.free_failures {
            return None;
        }
        let delay = self.delay_after(e.failures);
        let until = e.last.saturating_add(delay);
        (until > now_secs).then(|| Duration::from_secs(until - now_secs))
    }

    /// The full wait imposed after `failures` failures in one window.
    pub fn delay_after(&self, failures: u32) -> u64 {
        let c = &self.config;
        if failures < c.free_failures {
            return 0;
        }
        let doublings = (failures - c.free_failures).min(63);
        c.base_delay_secs
            .checked_shl(doublings)
            .filter(|d| d >> doublings == c.base_delay_secs)
            .unwrap_or(u64::MAX)
            .min(c.max_delay_secs)
    }

    fn expired(&self, e: &Entry, now_secs: u64) -> bool {
        now_secs.saturating_sub(e.last) > self.config.window_secs
    }

    /// Keeps at most `max_entries` peers (dropping those whose last failure is oldest) and the
    /// order queue within twice that.
    fn evict(&mut self) {
        while self.entries.len() > self.config.max_entries {
            let Some((peer, seq)) = self.order.pop_front() else {
                break;
            };
            if self.entries.get(&peer).is_some_and(|e| e.seq == seq) {
                self.entries.remove(&peer);
            }
        }
        if self.order.len() > 2 * self.config.max_entries.max(16) {
            let entries = &self.entries;
            self.order
                .retain(|(peer, seq)| entries.get(peer).is_some_and(|e| e.seq == *seq));
        }
    }
}
