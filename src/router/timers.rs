//! The core's timers: call deadlines (CALL `timeout`, the router's own calls to dynamic
//! authenticators) and HELLO deadlines of fresh connections. Entries are never removed early:
//! whoever handles a due entry checks that it still applies.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use super::ConnId;

/// A call deadline: the caller's session (0: the router's own call) and its request id.
pub(crate) type CallDeadline = (Instant, u64, u64);

#[derive(Debug)]
pub(crate) struct Timers {
    calls: BinaryHeap<Reverse<CallDeadline>>,
    hellos: BinaryHeap<Reverse<(Instant, ConnId)>>,
    /// A connection must send HELLO this soon after it opens.
    pub(crate) hello_timeout: Duration,
}

impl Timers {
    pub(crate) fn new(hello_timeout: Duration) -> Self {
        Timers {
            calls: BinaryHeap::new(),
            hellos: BinaryHeap::new(),
            hello_timeout,
        }
    }

    /// The call `request` of `session` ends at `deadline` unless answered before.
    pub(crate) fn call_deadline(&mut self, deadline: Instant, session: u64, request: u64) {
        self.calls.push(Reverse((deadline, session, request)));
    }

    /// A connection opened at `now` must send HELLO within the HELLO timeout.
    pub(crate) fn hello_deadline(&mut self, now: Instant, conn: ConnId) {
        self.hellos.push(Reverse((now + self.hello_timeout, conn)));
    }

    /// The next call deadline that is due at `now`, taken off the timers.
    pub(crate) fn due_call(&mut self, now: Instant) -> Option<CallDeadline> {
        let Reverse(due) = *self.calls.peek()?;
        (due.0 <= now).then(|| {
            self.calls.pop();
            release_if_drained(&mut self.calls);
            due
        })
    }

    /// The next connection whose HELLO deadline is due at `now`, taken off the timers.
    pub(crate) fn due_hello(&mut self, now: Instant) -> Option<ConnId> {
        let Reverse((deadline, conn)) = *self.hellos.peek()?;
        (deadline <= now).then(|| {
            self.hellos.pop();
            release_if_drained(&mut self.hellos);
            conn
        })
    }

    /// When the next timer is due.
    pub(crate) fn next(&self) -> Option<Instant> {
        let call = self.calls.peek().map(|Reverse((deadline, _, _))| *deadline);
        let hello = self.hellos.peek().map(|Reverse((deadline, _))| *deadline);
        match (call, hello) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Gives a drained heap's memory back: a burst of connections or calls leaves capacity for all
/// of them, which idle sessions would otherwise keep paying for.
fn release_if_drained<T: Ord>(heap: &mut BinaryHeap<T>) {
    if heap.is_empty() && heap.capacity() > 64 {
        *heap = BinaryHeap::new();
    }
}
