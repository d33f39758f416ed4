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
    /// Sets up a ring and checks that it works: the kernel knows `IORING_OP_SEND` and
    /// completes a no-op submitted through `io_uring_enter`. Fails where the kernel refuses
    /// io_uring (too old, the `kernel.io_uring_disabled` sysctl, a seccomp filter that blocks
    /// any of its system calls, a memory limit), or offers only part of it (as some sandboxes
    /// do), so the node can fall back to epoll before any connection depends on the ring.
    pub fn new() -> io::Result<Self> {
        let mut ring = IoUring::new(RING_ENTRIES)?;
        let mut probe = io_uring::Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        if !probe.is_supported(opcode::Send::CODE) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the kernel's io_uring has no IORING_OP_SEND",
            ));
        }
        let nop = opcode::Nop::new().build().user_data(u64::MAX);
        // SAFETY: a no-op refers to no memory.
        unsafe { ring.submission().push(&nop) }
            .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        ring.submit_and_wait(1)?;
        let completed = ring.completion().next();
        match completed.map(|cqe| cqe.result()) {
            Some(0) => {}
            Some(errno) if errno < 0 => return Err(io::Error::from_raw_os_error(-errno)),
            _ => return Err(io::Error::other("io_uring did not complete a no-op")),
        }
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

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::shard::conn::Phase;

    /// A connection over one end of a Unix socket pair, with `pending` queued for it.
    fn conn_with(pending: &[u8]) -> (Conn, std::os::unix::net::UnixStream) {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        ours.set_nonblocking(true).expect("nonblocking");
        let stream = Stream::Unix(mio::net::UnixStream::from_std(ours));
        let mut conn = Conn::new(stream, 0, 0, Phase::Closing, None, 0);
        conn.wbuf.extend_from_slice(pending);
        (conn, theirs)
    }

    fn ring() -> Option<SendRing> {
        match SendRing::new() {
            Ok(ring) => Some(ring),
            Err(e) => {
                // The node falls back to epoll here; there is no ring to test.
                eprintln!("io_uring refused by this kernel ({e}): nothing to test");
                None
            }
        }
    }

    #[test]
    fn a_batch_writes_each_connections_pending_bytes() {
        let Some(mut ring) = ring() else { return };
        let mut conns = Slab::new();
        let mut peers = Vec::new();
        for i in 0..3u8 {
            let (mut conn, peer) = conn_with(&[b'a' + i; 100]);
            conn.wpos = 10 * usize::from(i);
            peers.push((conns.insert(conn), peer));
        }
        let keys: Vec<usize> = peers.iter().map(|(k, _)| *k).collect();
        ring.send_all(&conns, &keys).expect("send_all");
        let done = ring.take_done();
        assert_eq!(done.len(), 3);
        for &(key, result) in &done {
            let conn = &mut conns[key];
            assert_eq!(result as usize, conn.pending_output());
            assert!(conn.complete_send(result).expect("complete"), "all written");
            assert_eq!(conn.pending_output(), 0);
        }
        ring.give_done(done);
        for (i, (_, mut peer)) in peers.into_iter().enumerate() {
            let mut got = vec![0; 100 - 10 * i];
            peer.read_exact(&mut got).expect("read");
            assert!(got.iter().all(|&b| b == b'a' + i as u8));
        }
    }

    #[test]
    fn a_full_socket_gives_a_short_write_then_eagain_and_keeps_the_rest() {
        let Some(mut ring) = ring() else { return };
        let data: Vec<u8> = (0..8 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
        let (conn, mut peer) = conn_with(&data);
        let (other, _other_peer) = conn_with(b"x");
        let mut conns = Slab::new();
        let key = conns.insert(conn);
        let other_key = conns.insert(other);
        // Until the socket is full: short writes, then EAGAIN, which leaves the rest queued.
        let mut saw_eagain = false;
        for _ in 0..64 {
            ring.send_all(&conns, &[key, other_key]).expect("send_all");
            let done = ring.take_done();
            for &(k, result) in &done {
                if k != key {
                    continue;
                }
                let complete = conns[k].complete_send(result).expect("no error");
                assert!(!complete, "8 MiB do not fit a socket buffer");
                saw_eagain |= result == -libc::EAGAIN;
            }
            ring.give_done(done);
            conns[other_key].wbuf.extend_from_slice(b"x");
            if saw_eagain {
                break;
            }
        }
        assert!(saw_eagain, "a full socket answers EAGAIN");
        let written = data.len() - conns[key].pending_output();
        let mut got = vec![0; written];
        peer.read_exact(&mut got).expect("read");
        assert_eq!(
            got,
            data[..written],
            "what was written is the front, in order"
        );
        assert_eq!(
            conns[key].wbuf[conns[key].wpos..],
            data[written..],
            "the rest is still queued"
        );
    }

    #[test]
    fn a_closed_peer_fails_that_connection_alone() {
        let Some(mut ring) = ring() else { return };
        let (gone, gone_peer) = conn_with(b"to nobody");
        let (alive, mut alive_peer) = conn_with(b"to someone");
        drop(gone_peer);
        let mut conns = Slab::new();
        let gone_key = conns.insert(gone);
        let alive_key = conns.insert(alive);
        ring.send_all(&conns, &[gone_key, alive_key])
            .expect("send_all");
        let done = ring.take_done();
        for &(key, result) in &done {
            let outcome = conns[key].complete_send(result);
            if key == gone_key {
                let e = outcome.expect_err("EPIPE");
                assert_eq!(e.raw_os_error(), Some(libc::EPIPE));
            } else {
                assert!(outcome.expect("written"));
            }
        }
        let mut got = [0; 10];
        alive_peer.read_exact(&mut got).expect("read");
        assert_eq!(&got, b"to someone");
    }
}
