//! The io_uring backend's write path: every send of a reactor turn goes to the kernel in one
//! `io_uring_enter`, instead of one `send` system call per connection.
//!
//! Readiness and accepting stay with mio (epoll); only the end-of-turn flush changes. Each send
//! carries `MSG_DONTWAIT`, so the kernel runs it inline during the submission and completes it
//! at once with what `send(2)` on the non-blocking socket would have returned (bytes written,
//! `EAGAIN` when the socket buffer is full, or the error). [`SendRing::send_all`] returns only
//! when every send it queued has completed, and it holds the connections borrowed all that
//! time, so no buffer the kernel reads from can move or change under it.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use io_uring::{opcode, types, IoUring};
use slab::Slab;

use super::conn::{Conn, Stream};

/// Submission queue entries: sends queued before one `io_uring_enter`. A fan-out to 1 000
/// subscribers of one shard fits in one submission; more take one more per 1 024.
const RING_ENTRIES: u32 = 1024;

/// The fewest sends worth a submission: a lone send costs less as `send(2)` (measured with
/// `cargo bench --bench gather -- send_batch`, see `docs/performance.md`).
pub(crate) const MIN_BATCH: usize = 2;

/// One shard's ring for sends, with the results of the last batch.
pub struct SendRing {
    ring: IoUring,
    /// Sends submitted or queued whose completion has not been reaped yet.
    inflight: usize,
    /// `(slab key, send result)` of the last [`SendRing::send_all`], in completion order.
    done: Vec<(usize, i32)>,
}

impl std::fmt::Debug for SendRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendRing")
            .field("entries", &self.ring.params().sq_entries())
            .finish()
    }
}

impl SendRing {
    /// Sets up a ring. Fails where the kernel refuses io_uring (too old, the
    /// `kernel.io_uring_disabled` sysctl, a seccomp filter, a memory limit).
    pub fn new() -> io::Result<Self> {
        let ring = IoUring::new(RING_ENTRIES)?;
        Ok(SendRing {
            ring,
            inflight: 0,
            done: Vec::with_capacity(RING_ENTRIES as usize),
        })
    }

    /// Sends the pending output of each connection of `keys` (which must exist, be plain
    /// sockets and have output pending), all in as few `io_uring_enter` calls as the ring's
    /// size allows, and waits for every send to complete. The results are in
    /// [`SendRing::take_done`]: a byte count or a negated `errno`, as `send(2)` gives them.
    ///
    /// An error here is the ring's own (not a connection's): the shard cannot go on with it.
    pub(crate) fn send_all(&mut self, conns: &Slab<Conn>, keys: &[usize]) -> io::Result<()> {
        self.done.clear();
        for &key in keys {
            let Some(conn) = conns.get(key) else {
                continue;
            };
            let pending = &conn.wbuf[conn.wpos.min(conn.wbuf.len())..];
            let len = u32::try_from(pending.len()).unwrap_or(u32::MAX);
            let entry = opcode::Send::new(types::Fd(raw_fd(&conn.stream)), pending.as_ptr(), len)
                .flags(libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
                .build()
                .user_data(key as u64);
            if self.ring.submission().is_full() {
                self.complete_all()?;
            }
            // SAFETY: the entry points into `conn.wbuf`, which `conns` keeps borrowed (so
            // unchanged and in place) until this function returns, and this function returns
            // only after `complete_all` reaped every completion, including this one's. The
            // socket stays open for the same reason.
            let pushed = unsafe { self.ring.submission().push(&entry) };
            if pushed.is_err() {
                // Not reachable: the queue was made non-full just above.
                self.complete_all()?;
                return Err(io::Error::other("io_uring submission queue full"));
            }
            self.inflight += 1;
        }
        self.complete_all()
    }

    /// The results of the last [`SendRing::send_all`]; hand the vector back with
    /// [`SendRing::give_done`] so that its memory is reused.
    pub(crate) fn take_done(&mut self) -> Vec<(usize, i32)> {
        std::mem::take(&mut self.done)
    }

    /// Returns the vector [`SendRing::take_done`] lent.
    pub(crate) fn give_done(&mut self, mut done: Vec<(usize, i32)>) {
        done.clear();
        self.done = done;
    }

    /// Submits what is queued and waits until every send in flight has completed.
    fn complete_all(&mut self) -> io::Result<()> {
        while self.inflight > 0 {
            match self.ring.submit_and_wait(self.inflight) {
                Ok(_) => {}
                // Interrupted or short of kernel memory for a moment: what was submitted
                // stays submitted; wait again for the rest.
                Err(e)
                    if e.kind() == io::ErrorKind::Interrupted
                        || e.raw_os_error() == Some(libc::EAGAIN)
                        || e.raw_os_error() == Some(libc::EBUSY) => {}
                Err(e) => return Err(e),
            }
            for cqe in self.ring.completion() {
                let key = usize::try_from(cqe.user_data()).unwrap_or(usize::MAX);
                self.done.push((key, cqe.result()));
                self.inflight = self.inflight.saturating_sub(1);
            }
        }
        Ok(())
    }
}

fn raw_fd(stream: &Stream) -> RawFd {
    match stream {
        Stream::Tcp(s) => s.as_raw_fd(),
        Stream::Unix(s) => s.as_raw_fd(),
    }
}
