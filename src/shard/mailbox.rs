//! Bounded lock-free SPSC queues between every ordered pair of shards, with the receiver's
//! `mio::Waker`. A full queue spills into a local FIFO that is retried every turn, so per-pair
//! order is kept and the sender never blocks.

use std::collections::VecDeque;
use std::sync::Arc;

use mio::Waker;

use crate::router::ShardMsg;

/// Slots per ordered shard pair.
pub const MAILBOX_CAPACITY: usize = 64 * 1024;

/// The sending side of one shard pair.
pub struct Outbox {
    producer: rtrb::Producer<ShardMsg>,
    overflow: VecDeque<ShardMsg>,
    waker: Arc<Waker>,
    /// Something was pushed since the last wake.
    pending_wake: bool,
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
        }
    }

    /// Queues `msg`, keeping order behind anything that spilled earlier.
    pub fn push(&mut self, msg: ShardMsg) {
        self.pending_wake = true;
        if !self.overflow.is_empty() {
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
