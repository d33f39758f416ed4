//! Once-a-second and deadline work of a shard: lingering closes, handshake deadlines,
//! WebSocket auto-ping, stalled writers, returning freed memory.

use std::time::{Duration, Instant};

use std::cmp::Reverse;

use super::conn::Phase;
use super::{mark_dirty, Shard};
use crate::transport::{http, websocket};

impl Shard {
    pub(super) fn expire_lingering(&mut self) {
        if self.lingering.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut expired = Vec::new();
        self.lingering.retain(|&(key, generation, deadline)| {
            if deadline > now {
                return true;
            }
            expired.push((key, generation));
            false
        });
        for (key, generation) in expired {
            if self
                .conns
                .get(key)
                .is_some_and(|c| c.generation == generation && c.lingering)
            {
                self.remove_conn(key);
            }
        }
    }

    /// Copies this shard's counters to the metrics hub (once a second, and at start).
    pub(super) fn report_metrics(&mut self) {
        let oversized = self.oversized_events;
        let mailbox_full: u64 = self.outboxes.iter().flatten().map(|o| o.dropped()).sum();
        let report = super::metrics::ShardReport {
            core: self.core.stats(),
            realms: self.core.realm_stats(),
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            events_dropped: [
                self.events_dropped.saturating_sub(oversized),
                oversized,
                mailbox_full,
            ],
            slow_consumers: self.slow_closed,
            output_queue_bytes: self
                .conns
                .iter()
                .map(|(_, c)| c.pending_output() as u64)
                .sum(),
            busy: self.busy,
            connections: self.conns.len() as u64,
            at: Some(self.turn_start),
        };
        self.metrics.report(self.id, report);
    }

    /// WebSocket auto-ping: once a second, pings connections idle for their interval and closes
    /// those whose ping went unanswered past the timeout (half-open TCP, vanished devices).
    pub(super) fn sweep_pings(&mut self) {
        if self.turn_start.duration_since(self.last_ping_sweep) < Duration::from_secs(1) {
            return;
        }
        self.last_ping_sweep = self.turn_start;
        self.report_metrics();
        self.sweep_stalled();
        self.return_memory();
        if !self.pings_enabled {
            return;
        }
        let now = self.clock_s;
        let mut dead = Vec::new();
        for (key, conn) in self.conns.iter_mut() {
            let (Some(policy), Phase::WebSocket { .. }) = (conn.ping, &conn.phase) else {
                continue;
            };
            if conn.ping_sent != 0 {
                if policy.timeout_s > 0 && now.saturating_sub(conn.ping_sent) >= policy.timeout_s {
                    dead.push(key);
                }
            } else if now.saturating_sub(conn.last_rx) >= policy.interval_s {
                let payload = [b'*'; 125];
                websocket::write_ping(&mut conn.wbuf, &payload[..usize::from(policy.size)]);
                conn.ping_sent = now.max(1);
                mark_dirty(conn, key, &mut self.dirty);
            }
        }
        for key in dead {
            if let Some(c) = self.conns.get(key) {
                tracing::info!(peer = %c.stream.peer(), "closing: no answer to the WebSocket ping in time");
            }
            self.remove_conn(key);
        }
    }

    /// After many connections went away, hands freed heap back to the kernel, so the router's
    /// RSS follows its load down as well as up (glibc keeps freed small blocks otherwise).
    fn return_memory(&mut self) {
        let open = self.conns.len();
        if self.conns_at_trim > open + 1000 {
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            // SAFETY: malloc_trim only releases free heap pages; it touches no live allocation.
            unsafe {
                libc::malloc_trim(0);
            }
            tracing::debug!(
                shard = self.id,
                open,
                was = self.conns_at_trim,
                "returned freed memory"
            );
        }
        if self.conns_at_trim > open + 1000 || open > self.conns_at_trim {
            self.conns_at_trim = open;
        }
    }

    /// Closes connections whose pending output made no progress for the stall timeout: the
    /// peer stopped reading (a stuck client or a half-open TCP connection).
    fn sweep_stalled(&mut self) {
        let now = self.clock_s;
        let stall = self.limits.write_stall_secs;
        let stalled: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                !c.lingering
                    && c.pending_output() > 0
                    && now.saturating_sub(c.last_tx_progress) >= stall
            })
            .map(|(k, _)| k)
            .collect();
        for key in stalled {
            self.slow_closed += 1;
            if let Some(c) = self.conns.get(key) {
                tracing::warn!(peer = %c.stream.peer(), closed = self.slow_closed, "closing slow consumer: no write progress for {stall} s");
            }
            self.remove_conn(key);
        }
    }

    /// Closes connections that did not finish their HTTP request in time, with a 408.
    pub(super) fn expire_handshakes(&mut self) {
        let now = Instant::now();
        while let Some(&Reverse((deadline, key, generation))) = self.handshake_deadlines.peek() {
            if deadline > now {
                return;
            }
            self.handshake_deadlines.pop();
            // A burst of connections leaves capacity for all of them; give it back once drained.
            if self.handshake_deadlines.is_empty() && self.handshake_deadlines.capacity() > 64 {
                self.handshake_deadlines = std::collections::BinaryHeap::new();
            }
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if conn.generation != generation {
                continue;
            }
            match conn.phase {
                Phase::Http => {
                    tracing::debug!(peer = %conn.stream.peer(), "HTTP request not complete in time: closing");
                    let response = http::Response::text(
                        408,
                        "request timeout: the HTTP request did not arrive in time",
                    );
                    conn.wbuf.extend_from_slice(&response.encode(false));
                }
                Phase::Sniff | Phase::RawHandshake => {
                    tracing::debug!(peer = %conn.stream.peer(), "handshake not complete in time: closing");
                }
                _ => continue,
            }
            conn.finish();
            mark_dirty(conn, key, &mut self.dirty);
        }
    }
}
