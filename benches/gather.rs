//! Copy or gather? The question behind the output buffers of `src/shard/conn.rs`: an EVENT is
//! encoded once and reaches many connections. Either each connection copies the frame into its
//! own write buffer (behind its WebSocket header) and sends that buffer, or it keeps the shared
//! frame by reference (`Bytes`, one reference count per delivery) and sends header and frame
//! with one `writev`. Both make one system call per connection per turn; this measures what
//! else each costs, over real loopback TCP sockets, per delivery.
//!
//! A second group, `send_batch`, compares one `send` per connection with the io_uring
//! backend's one submission for all, by batch size.
//!
//! `cargo bench --bench gather`: 1 000 connections, K frames per connection per turn (K = 1:
//! latency-bounded fan-out; K = 8: batched), frames of 100 B and 1 400 B. Only the writing is
//! timed (as this thread's CPU time); the reading ends of the sockets are drained between
//! iterations, untimed.

use std::io::{IoSlice, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrobar::transport::websocket;

const CONNS: usize = 1000;

struct Pairs {
    writers: Vec<TcpStream>,
    readers: Vec<TcpStream>,
    drain: Vec<u8>,
}

impl Pairs {
    fn new() -> Pairs {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("local_addr");
        let mut writers = Vec::with_capacity(CONNS);
        let mut readers = Vec::with_capacity(CONNS);
        for _ in 0..CONNS {
            let reader = TcpStream::connect(addr).expect("connect");
            let (writer, _) = listener.accept().expect("accept");
            writer.set_nodelay(true).expect("nodelay");
            writer.set_nonblocking(true).expect("nonblocking");
            reader
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            writers.push(writer);
            readers.push(reader);
        }
        Pairs {
            writers,
            readers,
            drain: vec![0; 64 * 1024],
        }
    }

    /// Reads `each` bytes from every reader (what the last iteration wrote).
    fn drain(&mut self, each: usize) {
        self.drain_first(CONNS, each);
    }

    /// Reads `each` bytes from each of the first `n` readers.
    fn drain_first(&mut self, n: usize, each: usize) {
        for r in self.readers.iter_mut().take(n) {
            let mut left = each;
            while left > 0 {
                let n = r
                    .read(&mut self.drain[..left.min(64 * 1024)])
                    .expect("drain");
                assert!(n > 0, "peer closed");
                left -= n;
            }
        }
    }
}

/// This thread's CPU time: what the writing costs, whatever else the (shared, noisy) machine
/// runs meanwhile. Loopback sends do the receiving side's protocol work in the sender's
/// thread, so it is counted too, alike for every variant.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The WebSocket header `write_message` puts before a `len`-byte text frame.
fn header(len: usize) -> Vec<u8> {
    let payload = vec![b'x'; len];
    let mut out = Vec::new();
    websocket::write_message(&mut out, &payload, false);
    out.truncate(out.len() - len);
    out
}

fn bench(c: &mut Criterion) {
    let mut pairs = Pairs::new();
    let mut group = c.benchmark_group("fanout_write");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_millis(500));
    group.sample_size(20);
    for size in [100usize, 1400] {
        let frame = Bytes::from(vec![b'x'; size]);
        let hdr = header(size);
        for k in [1usize, 8] {
            let per_conn = k * (hdr.len() + size);
            group.throughput(Throughput::Elements((CONNS * k) as u64));
            // Copy: frames appended to a per-connection buffer (reused), one send.
            let mut bufs: Vec<Vec<u8>> = (0..CONNS).map(|_| Vec::with_capacity(per_conn)).collect();
            group.bench_function(format!("copy/{size}B/x{k}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = thread_cpu();
                        for (w, buf) in pairs.writers.iter_mut().zip(&mut bufs) {
                            for _ in 0..k {
                                websocket::write_message(buf, &frame, false);
                            }
                            let n = w.write(buf).expect("send");
                            assert_eq!(n, buf.len(), "short write");
                            buf.clear();
                        }
                        total += thread_cpu().saturating_sub(start);
                        pairs.drain(per_conn);
                    }
                    total
                })
            });
            // Gather: the shared frame kept by reference behind a per-connection header, one
            // writev of 2K slices; the references are dropped once written.
            let mut queues: Vec<Vec<Bytes>> = (0..CONNS).map(|_| Vec::with_capacity(k)).collect();
            let mut headers: Vec<Vec<u8>> = (0..CONNS)
                .map(|_| Vec::with_capacity(k * hdr.len()))
                .collect();
            group.bench_function(format!("gather/{size}B/x{k}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = thread_cpu();
                        for ((w, q), h) in
                            pairs.writers.iter_mut().zip(&mut queues).zip(&mut headers)
                        {
                            for _ in 0..k {
                                h.extend_from_slice(&hdr);
                                q.push(frame.clone());
                            }
                            let mut slices = [IoSlice::new(&[]); 16];
                            for (i, f) in q.iter().enumerate() {
                                let at = i * hdr.len();
                                slices[2 * i] = IoSlice::new(&h[at..at + hdr.len()]);
                                slices[2 * i + 1] = IoSlice::new(f);
                            }
                            let n = w.write_vectored(&slices[..2 * k]).expect("writev");
                            assert_eq!(n, per_conn, "short write");
                            q.clear();
                            h.clear();
                        }
                        total += thread_cpu().saturating_sub(start);
                        pairs.drain(per_conn);
                    }
                    total
                })
            });
        }
    }
    group.finish();
}

/// One `send` per connection, or all of them queued on an io_uring and submitted with one
/// `io_uring_enter` (what `reactor: io_uring` does at the end of a turn), by batch size: where
/// the ring starts to pay.
fn bench_ring(c: &mut Criterion) {
    let mut pairs = Pairs::new();
    let mut ring = io_uring::IoUring::new(1024).expect("io_uring");
    let mut group = c.benchmark_group("send_batch");
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(300));
    group.sample_size(20);
    let frame = vec![b'x'; 100];
    for batch in [1usize, 2, 4, 16, 1000] {
        // Enough rounds per iteration that even batch 1 times a thousand sends.
        let rounds = CONNS / batch;
        group.throughput(Throughput::Elements((rounds * batch) as u64));
        group.bench_function(format!("send/{batch}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = thread_cpu();
                    for w in pairs.writers.iter_mut().take(rounds * batch) {
                        let n = w.write(&frame).expect("send");
                        assert_eq!(n, frame.len());
                    }
                    total += thread_cpu().saturating_sub(start);
                    pairs.drain_first(rounds * batch, frame.len());
                }
                total
            })
        });
        group.bench_function(format!("io_uring/{batch}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = thread_cpu();
                    for chunk in pairs.writers[..rounds * batch].chunks(batch) {
                        for w in chunk {
                            let sqe = io_uring::opcode::Send::new(
                                io_uring::types::Fd(w.as_raw_fd()),
                                frame.as_ptr(),
                                frame.len() as u32,
                            )
                            .flags(libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
                            .build();
                            // SAFETY: `frame` outlives the submission, which completes
                            // before the next line that could drop it.
                            unsafe { ring.submission().push(&sqe) }.expect("sq full");
                        }
                        ring.submit_and_wait(chunk.len()).expect("enter");
                        for cqe in ring.completion() {
                            assert_eq!(cqe.result(), frame.len() as i32);
                        }
                    }
                    total += thread_cpu().saturating_sub(start);
                    pairs.drain_first(rounds * batch, frame.len());
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, bench_ring);
criterion_main!(benches);
