//! A per-shard pool of write buffers. A connection borrows one when output is queued for it and
//! gives it back once everything is written, so idle connections hold no buffer and busy ones
//! do not allocate per turn.

/// Buffers kept for reuse, at most.
const MAX_POOLED: usize = 256;
/// Buffers that grew beyond this are freed instead of pooled (one large message must not pin
/// its memory).
const MAX_POOLED_CAPACITY: usize = 64 * 1024;
/// Capacity of a fresh buffer: a few typical messages with their frame headers.
const INITIAL_CAPACITY: usize = 4 * 1024;

/// The pool.
#[derive(Debug, Default)]
pub(crate) struct BufferPool {
    free: Vec<Vec<u8>>,
}

impl BufferPool {
    /// An empty buffer, reused when one is available.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        self.free
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(INITIAL_CAPACITY))
    }

    /// Takes a buffer back (its contents are discarded).
    pub(crate) fn give(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() == 0
            || buf.capacity() > MAX_POOLED_CAPACITY
            || self.free.len() >= MAX_POOLED
        {
            return;
        }
        buf.clear();
        self.free.push(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_buffers_and_bounds_what_it_keeps() {
        let mut pool = BufferPool::default();
        let mut a = pool.take();
        a.extend_from_slice(b"hello");
        let ptr = a.as_ptr();
        pool.give(a);
        let b = pool.take();
        assert!(b.is_empty());
        assert_eq!(b.as_ptr(), ptr, "the same allocation comes back");
        pool.give(Vec::with_capacity(MAX_POOLED_CAPACITY + 1));
        assert!(pool.free.is_empty(), "oversized buffers are not kept");
        for _ in 0..MAX_POOLED + 10 {
            pool.give(Vec::with_capacity(16));
        }
        assert_eq!(pool.free.len(), MAX_POOLED);
    }
}
