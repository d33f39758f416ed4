//! systemd's service notifications (`Type=notify`, sd_notify(3)): a datagram to
//! `$NOTIFY_SOCKET` when the node is ready (every listener bound, every shard in its loop),
//! when it starts to stop, and — with `WatchdogSec=` set (`$WATCHDOG_USEC`) — a keep-alive
//! every half period, sent only while every shard makes progress, so that systemd restarts a
//! node whose reactor is wedged. Without `$NOTIFY_SOCKET` nothing is sent.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mio::Waker;
use sd_notify::NotifyState;

/// Sends `states`; a failure is logged, never fatal (the node runs without systemd as well).
fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("systemd notification failed: {e}");
    }
}

/// `READY=1` with a one-line status.
pub(super) fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// `RELOADING=1`: a configuration reload has begun (`READY=1` follows when it ends).
pub(super) fn reloading() {
    // systemd 253 and newer require the monotonic time with RELOADING=1.
    let mut states = vec![
        NotifyState::Reloading,
        NotifyState::Status("reloading the configuration"),
    ];
    if let Ok(now) = NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    notify(&states);
}

/// `STOPPING=1`: the graceful shutdown has begun.
pub(super) fn stopping() {
    notify(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// The shards whose heartbeat did not move between two readings.
pub(super) fn stalled(before: &[u32], now: &[u32]) -> Vec<usize> {
    before
        .iter()
        .zip(now)
        .enumerate()
        .filter(|(_, (b, n))| b == n)
        .map(|(i, _)| i)
        .collect()
}

/// Reads every shard's heartbeat.
pub(super) fn read_heartbeats(heartbeats: &[Arc<AtomicU32>]) -> Vec<u32> {
    heartbeats
        .iter()
        .map(|h| h.load(Ordering::Acquire))
        .collect()
}

/// With `WatchdogSec=` set, a thread that every half period wakes every shard and sends
/// `WATCHDOG=1` only if each of them has since completed a turn of its loop. Ends when the
/// node stops (`done`).
pub(super) fn spawn_watchdog(
    heartbeats: Vec<Arc<AtomicU32>>,
    wakers: Vec<Arc<Waker>>,
    done: Arc<AtomicBool>,
) -> std::io::Result<()> {
    let Some(timeout) = sd_notify::watchdog_enabled() else {
        return Ok(());
    };
    let period = (timeout / 2).max(Duration::from_millis(1));
    tracing::info!("systemd watchdog: {timeout:?}; keep-alive every {period:?} while every shard makes progress");
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            let mut silent = false;
            while !done.load(Ordering::Acquire) {
                let before = read_heartbeats(&heartbeats);
                // An idle shard sleeps in its poll: a wake-up makes it turn once.
                for w in &wakers {
                    let _ = w.wake();
                }
                std::thread::sleep(period);
                let stuck = stalled(&before, &read_heartbeats(&heartbeats));
                if stuck.is_empty() {
                    if silent {
                        tracing::info!("every shard makes progress again: WATCHDOG=1 resumed");
                        silent = false;
                    }
                    notify(&[NotifyState::Watchdog]);
                } else if !silent {
                    tracing::error!(
                        "shard(s) {stuck:?} made no progress for {period:?}: WATCHDOG=1 withheld \
                         (systemd restarts the node after {timeout:?})"
                    );
                    silent = true;
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::stalled;

    #[test]
    fn a_shard_whose_heartbeat_did_not_move_is_stalled() {
        assert_eq!(stalled(&[1, 5, 9], &[2, 6, 10]), Vec::<usize>::new());
        assert_eq!(stalled(&[1, 5, 9], &[2, 5, 10]), [1]);
        assert_eq!(
            stalled(&[u32::MAX, 3], &[0, 3]),
            [1],
            "a wrapped counter moved"
        );
    }
}
