//! Bounded lock-free SPSC queues between every ordered pair of shards, with the receiver's
//! `mio::Waker`. A full queue spills into a local FIFO that is retried every turn, so per-pair
//! order is kept and the sender never blocks.
//!
//! When the receiver falls far behind (a stalled or overloaded shard), the spill FIFO is
//! bounded: past [`OVERFLOW_PUBLICATIONS`] messages, publications for that shard are dropped,
//! counted and logged; its subscribers miss those events, as slow consumers do. Messages that
//! change state (subscriptions, calls and their answers, meta) are always kept, in order: their
//! number is bounded by what sessions may have outstanding (`max_pending_calls` and the like),
//! not by the publish rate.

use std::collections::VecDeque;
use std::sync::Arc;

use mio::Waker;

use crate::router::ShardMsg;

/// Slots per ordered shard pair.
pub const MAILBOX_CAPACITY: usize = 64 * 1024;

/// Spilled messages past which publications for the receiver are dropped.
pub const OVERFLOW_PUBLICATIONS: usize = 64 * 1024;

/// The sending side of one shard pair.
pub struct Outbox {
    producer: rtrb::Producer<ShardMsg>,
    overflow: VecDeque<ShardMsg>,
    waker: Arc<Waker>,
    /// Something was pushed since the last wake.
    pending_wake: bool,
    /// Publications dropped because the receiver fell too far behind.
    dropped: u64,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("overflow", &self.overflow.len())
            .finish()
    }
}

impl Outbox {
    /// A sender towards the shard owning `waker`.
    pub fn new(producer: rtrb::Producer<ShardMsg>, waker: Arc<Waker>) -> Self {
        Outbox {
            producer,
            overflow: VecDeque::new(),
            waker,
            pending_wake: false,
            dropped: 0,
        }
    }

    /// Queues `msg`, keeping order behind anything that spilled earlier. A publication is
    /// dropped instead when the spill FIFO is full (see the module docs).
    pub fn push(&mut self, msg: ShardMsg) {
        self.pending_wake = true;
        if !self.overflow.is_empty() {
            if self.overflow.len() >= OVERFLOW_PUBLICATIONS && msg.is_publication() {
                self.dropped += 1;
                if self.dropped.is_power_of_two() {
                    tracing::warn!(
                        dropped = self.dropped,
                        "a shard is far behind: dropping publications for its subscribers"
                    );
                }
                return;
            }
            self.overflow.push_back(msg);
            return;
        }
        if let Err(rtrb::PushError::Full(msg)) = self.producer.push(msg) {
            self.overflow.push_back(msg);
        }
    }

    /// Moves spilled messages into the queue as space allows; wakes the receiver once if
    /// anything was sent this turn.
    pub fn flush(&mut self) {
        while let Some(msg) = self.overflow.pop_front() {
            if let Err(rtrb::PushError::Full(msg)) = self.producer.push(msg) {
                self.overflow.push_front(msg);
                break;
            }
        }
        if self.pending_wake {
            self.pending_wake = false;
            if let Err(e) = self.waker.wake() {
                tracing::error!("cannot wake shard: {e}");
            }
        }
    }

    /// Messages still waiting for queue space.
    pub fn backlog(&self) -> usize {
        self.overflow.len()
    }

    /// Publications dropped so far because the receiver fell too far behind.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// Builds the full mesh for `shards` shards: `outboxes[i][j]` sends from i to j and
/// `inboxes[j][i]` receives it (`None` on the diagonal).
#[allow(clippy::type_complexity)]
pub fn mesh(
    wakers: &[Arc<Waker>],
) -> (
    Vec<Vec<Option<Outbox>>>,
    Vec<Vec<Option<rtrb::Consumer<ShardMsg>>>>,
) {
    let n = wakers.len();
    let mut outboxes: Vec<Vec<Option<Outbox>>> =
        (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    let mut inboxes: Vec<Vec<Option<rtrb::Consumer<ShardMsg>>>> =
        (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    for i in 0..n {
        for j in 0..n {
            if i != j {
                let (producer, consumer) = rtrb::RingBuffer::new(MAILBOX_CAPACITY);
                outboxes[i][j] = Some(Outbox::new(producer, Arc::clone(&wakers[j])));
                inboxes[j][i] = Some(consumer);
            }
        }
    }
    (outboxes, inboxes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A receiving shard that never drains its inbox: publications beyond the spill bound are
    /// dropped and counted; state-changing messages are all kept, in order; once the receiver
    /// catches up, publications flow again.
    #[test]
    fn a_stalled_receiver_loses_publications_never_state() {
        let poll = mio::Poll::new().expect("poll");
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(0)).expect("waker"));
        let (producer, mut consumer) = rtrb::RingBuffer::new(4);
        let mut outbox = Outbox::new(producer, waker);
        let total = 4 + OVERFLOW_PUBLICATIONS + 100;
        let mut expected = Vec::new();
        for i in 0..total as u64 {
            outbox.push(ShardMsg::test_publication("com.t", i));
            if i < (4 + OVERFLOW_PUBLICATIONS) as u64 {
                expected.push(format!("pub{i}"));
            }
            if i % 1000 == 0 {
                outbox.push(ShardMsg::test_control(&format!("ctl{i}")));
                expected.push(format!("ctl{i}"));
            }
            outbox.flush();
        }
        // The ring took 4; the spill FIFO took publications up to its bound (control messages
        // count towards it too), then only control messages.
        let dropped = outbox.dropped();
        assert!(dropped >= 100, "dropped {dropped}");
        let mut got = Vec::new();
        loop {
            while let Ok(msg) = consumer.pop() {
                got.push(msg.test_label());
            }
            if outbox.backlog() == 0 {
                break;
            }
            outbox.flush();
        }
        let controls = |v: &[String]| {
            v.iter()
                .filter(|l| l.starts_with("ctl"))
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(
            controls(&got),
            controls(&expected),
            "every control message, in order"
        );
        let publications: Vec<&String> = got.iter().filter(|l| l.starts_with("pub")).collect();
        assert_eq!(publications.len() as u64, total as u64 - dropped);
        assert!(
            publications.windows(2).all(|w| {
                let n = |s: &str| s[3..].parse::<u64>().unwrap_or(0);
                n(w[0]) < n(w[1])
            }),
            "publications keep their order"
        );
        // Caught up: nothing more is dropped.
        outbox.push(ShardMsg::test_publication("com.t", u64::MAX));
        outbox.flush();
        assert_eq!(outbox.dropped(), dropped);
        assert_eq!(
            consumer.pop().map(|m| m.test_label()).ok(),
            Some(format!("pub{}", u64::MAX))
        );
    }
}
