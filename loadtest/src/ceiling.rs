//! `ceiling`: a null router inside wampbench plus N subscriber connections. The router answers
//! HELLO and SUBSCRIBE and then writes M events to every subscriber as fast as it can: each event
//! is encoded and framed once, into shared chunks, and every subscriber's socket is written from
//! those chunks with vectored writes. No routing, no per-subscriber copy. What the clients
//! measure is the best this machine, its kernel and wampbench's client side can do.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::ser::Serializer;
use ferrobar::wamp::Message;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use serde_json::json;
use socket2::{Domain, Protocol, Socket, Type};

use crate::clock;
use crate::common;
use crate::enc::{self, BenchArgs};
use crate::error::BenchError;
use crate::fanout::{self, FanoutParams, NullSource};
use crate::report::Report;
use crate::target;
use crate::ws::{self, Flow, Frame, FrameReader};

/// What a ceiling run needs.
#[derive(Debug, Clone)]
pub struct CeilingParams {
    /// Subscriber connections.
    pub subscribers: usize,
    /// Events each subscriber gets.
    pub events: u64,
    /// Encoded size of each event's args.
    pub payload_size: usize,
    /// Serializer.
    pub ser: Serializer,
    /// Listening port on 127.0.0.1 (0: any free port).
    pub port: u16,
    /// Client worker threads.
    pub threads: usize,
    /// Null router threads.
    pub server_threads: usize,
    /// Limit for setup and, separately, for the measured phase.
    pub timeout: Duration,
    /// Stop when nothing arrived for this long after the router finished.
    pub idle_timeout: Duration,
    /// Sessions in their opening handshake at once.
    pub max_pending: usize,
    /// Show a progress line.
    pub progress: bool,
}

const LISTENER: Token = Token(usize::MAX - 1);
/// Bytes of frames per chunk.
const CHUNK: usize = 32 * 1024;
/// Chunks the generator may run ahead of the slowest subscriber.
const MAX_CHUNKS: usize = 64;
/// Slices per vectored write.
const MAX_IOV: usize = 64;
/// Unprocessed client bytes the null router buffers at most (clients send only control).
const MAX_CLIENT_INPUT: usize = 1 << 20;

fn listener(port: u16) -> io::Result<std::net::TcpListener> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(4096)?;
    Ok(s.into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Upgrading,
    Open,
    Closed,
}

struct SConn {
    stream: Option<TcpStream>,
    phase: Phase,
    inbuf: Vec<u8>,
    reader: FrameReader,
    out: Vec<u8>,
    out_pos: usize,
    blocked: bool,
    subscribed: bool,
    /// Position in the event stream: chunk (absolute index) and offset in it.
    chunk: u64,
    off: usize,
    /// Close the TCP connection once `out` is written.
    close_after: bool,
}

struct Server {
    poll: Poll,
    listener: TcpListener,
    conns: Vec<SConn>,
    ser: Serializer,
    thread: u64,
    src: NullSource,
    payload_size: usize,
    chunks: VecDeque<Vec<u8>>,
    base_chunk: u64,
    generated: u64,
    finished_reported: bool,
    tmp: Vec<u8>,
}

impl Server {
    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    let id = self.conns.len();
                    let _ = stream.set_nodelay(true);
                    if self
                        .poll
                        .registry()
                        .register(
                            &mut stream,
                            Token(id),
                            Interest::READABLE | Interest::WRITABLE,
                        )
                        .is_err()
                    {
                        continue;
                    }
                    self.conns.push(SConn {
                        stream: Some(stream),
                        phase: Phase::Upgrading,
                        inbuf: Vec::new(),
                        reader: FrameReader::default(),
                        out: Vec::new(),
                        out_pos: 0,
                        blocked: false,
                        subscribed: false,
                        chunk: 0,
                        off: 0,
                        close_after: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    fn drop_conn(&mut self, id: usize) {
        let c = &mut self.conns[id];
        if let Some(mut s) = c.stream.take() {
            let _ = self.poll.registry().deregister(&mut s);
        }
        c.phase = Phase::Closed;
        c.subscribed = false;
        c.inbuf = Vec::new();
        c.out = Vec::new();
    }

    fn read(&mut self, id: usize) {
        let mut buf = [0u8; 4096];
        loop {
            let Some(stream) = self.conns[id].stream.as_mut() else {
                return;
            };
            match stream.read(&mut buf) {
                Ok(0) => return self.drop_conn(id),
                Ok(n) => {
                    self.conns[id].inbuf.extend_from_slice(&buf[..n]);
                    if self.conns[id].inbuf.len() > MAX_CLIENT_INPUT {
                        return self.drop_conn(id);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.drop_conn(id),
            }
        }
        if self.process(id).is_err() {
            self.drop_conn(id);
        }
    }

    fn process(&mut self, id: usize) -> Result<(), ()> {
        let mut inbuf = std::mem::take(&mut self.conns[id].inbuf);
        let mut used = 0;
        if self.conns[id].phase == Phase::Upgrading {
            match ws::parse_client_request(&inbuf) {
                Ok(None) => {
                    self.conns[id].inbuf = inbuf;
                    return Ok(());
                }
                Ok(Some(up)) => {
                    let proto = self.ser.subprotocol();
                    if !up.protocols.iter().any(|p| p == proto) {
                        return Err(());
                    }
                    ws::write_server_response(&mut self.conns[id].out, &up.key, proto);
                    self.conns[id].phase = Phase::Open;
                    used = up.len;
                }
                Err(_) => return Err(()),
            }
        }
        let mut reader = std::mem::take(&mut self.conns[id].reader);
        let mut messages: Vec<Vec<u8>> = Vec::new();
        let mut closed = false;
        let r = reader.process(&mut inbuf[used..], 1 << 20, |f| match f {
            Frame::Message(data) => {
                messages.push(data.to_vec());
                Flow::Continue
            }
            Frame::Ping(_) => Flow::Continue,
            Frame::Close(_) => {
                closed = true;
                Flow::Stop
            }
        });
        let n = r.map_err(|_| ())?;
        inbuf.drain(..used + n);
        let c = &mut self.conns[id];
        c.inbuf = inbuf;
        c.reader = reader;
        for mut m in messages {
            let Ok(msg) = self.ser.decode(&mut m) else {
                return Err(());
            };
            self.answer(id, msg);
        }
        if closed {
            let c = &mut self.conns[id];
            // Answer the close between frames only; mid-frame, just hang up.
            if c.off == 0 && !c.close_after {
                ws::write_server_close(&mut c.out, ws::CLOSE_NORMAL);
            }
            c.subscribed = false;
            c.close_after = true;
        }
        Ok(())
    }

    fn send(&mut self, id: usize, msg: &Message) {
        self.tmp.clear();
        self.ser.encode(msg, &mut self.tmp);
        let binary = self.ser.is_binary();
        ws::write_server_message(&mut self.conns[id].out, &self.tmp, binary);
    }

    fn answer(&mut self, id: usize, msg: Message) {
        match msg {
            Message::Hello { .. } => {
                let session = (self.thread << 32) | (id as u64 + 1);
                self.send(id, &enc::welcome(session));
            }
            Message::Subscribe { request, .. } => {
                // Subscriptions are only taken before the flood starts (all start at event 1).
                self.send(id, &enc::subscribed(request, 1));
                let c = &mut self.conns[id];
                c.subscribed = true;
                c.chunk = self.base_chunk;
                c.off = 0;
            }
            Message::Goodbye { .. } => {
                let c = &self.conns[id];
                // Mid-frame in the event stream: a reply would corrupt the framing; hang up.
                if c.subscribed && c.off != 0 {
                    self.conns[id].subscribed = false;
                    self.conns[id].close_after = true;
                    self.conns[id].out.clear();
                    self.conns[id].out_pos = 0;
                    return;
                }
                self.send(id, &enc::goodbye(true));
                let c = &mut self.conns[id];
                ws::write_server_close(&mut c.out, ws::CLOSE_NORMAL);
                c.subscribed = false;
                c.close_after = true;
            }
            _ => {}
        }
    }

    /// Writes pending control output (and hangs up if asked to).
    fn flush_control(&mut self, id: usize) {
        let c = &mut self.conns[id];
        if c.blocked || c.phase == Phase::Closed {
            return;
        }
        let Some(stream) = c.stream.as_mut() else {
            return;
        };
        while c.out_pos < c.out.len() {
            match stream.write(&c.out[c.out_pos..]) {
                Ok(0) => return self.drop_conn(id),
                Ok(n) => c.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    c.blocked = true;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.drop_conn(id),
            }
        }
        c.out.clear();
        c.out_pos = 0;
        if c.close_after {
            self.drop_conn(id);
        }
    }

    fn generate(&mut self) {
        let until = self.src.events;
        while self.chunks.len() < MAX_CHUNKS && self.generated < until {
            let mut chunk = Vec::with_capacity(CHUNK + 512);
            let binary = self.ser.is_binary();
            while chunk.len() < CHUNK && self.generated < until {
                let seq = self.generated + 1;
                let now = clock::now_ns();
                self.tmp.clear();
                enc::event(
                    self.ser,
                    &mut self.tmp,
                    1,
                    seq,
                    BenchArgs {
                        index: 0,
                        seq,
                        ts: now,
                        size: self.payload_size,
                    },
                );
                ws::write_server_message(&mut chunk, &self.tmp, binary);
                if seq == 1 {
                    common::atomic_min(&self.src.first_event_ns, now);
                }
                self.generated = seq;
            }
            self.chunks.push_back(chunk);
        }
    }

    /// Writes event chunks to every subscriber; true if anything was written.
    fn blast(&mut self) -> bool {
        let mut wrote = false;
        let end_chunk = self.base_chunk + self.chunks.len() as u64;
        for id in 0..self.conns.len() {
            let c = &mut self.conns[id];
            if !c.subscribed || c.blocked || c.out_pos < c.out.len() || c.chunk >= end_chunk {
                continue;
            }
            let Some(stream) = c.stream.as_mut() else {
                continue;
            };
            let first = (c.chunk - self.base_chunk) as usize;
            let mut iov: [IoSlice<'_>; MAX_IOV] = [IoSlice::new(&[]); MAX_IOV];
            let mut n_iov = 0;
            for (k, chunk) in self.chunks.iter().skip(first).take(MAX_IOV).enumerate() {
                iov[k] = IoSlice::new(if k == 0 { &chunk[c.off..] } else { chunk });
                n_iov += 1;
            }
            match stream.write_vectored(&iov[..n_iov]) {
                Ok(0) => {}
                Ok(mut n) => {
                    wrote = true;
                    while n > 0 {
                        let idx = (c.chunk - self.base_chunk) as usize;
                        let rem = self.chunks[idx].len() - c.off;
                        if n >= rem {
                            n -= rem;
                            c.chunk += 1;
                            c.off = 0;
                        } else {
                            c.off += n;
                            n = 0;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.blocked = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.drop_conn(id),
            }
        }
        // Drop chunks every subscriber has written.
        let min = self
            .conns
            .iter()
            .filter(|c| c.subscribed)
            .map(|c| c.chunk)
            .min()
            .unwrap_or(end_chunk);
        while self.base_chunk < min && !self.chunks.is_empty() {
            self.chunks.pop_front();
            self.base_chunk += 1;
        }
        wrote
    }

    fn run(&mut self, stop: &AtomicBool) {
        let mut events = Events::with_capacity(1024);
        let mut busy = false;
        while !stop.load(Ordering::Acquire) {
            let timeout = if busy {
                Duration::ZERO
            } else {
                Duration::from_millis(5)
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return;
                }
            }
            for ev in events.iter() {
                if ev.token() == LISTENER {
                    self.accept();
                    continue;
                }
                let id = ev.token().0;
                if id >= self.conns.len() {
                    continue;
                }
                if ev.is_writable() {
                    self.conns[id].blocked = false;
                }
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    self.read(id);
                }
            }
            for id in 0..self.conns.len() {
                if self.conns[id].out_pos < self.conns[id].out.len() || self.conns[id].close_after {
                    self.flush_control(id);
                }
            }
            busy = false;
            if self.src.go.load(Ordering::Acquire) {
                self.generate();
                busy = self.blast();
                if !self.finished_reported && self.generated >= self.src.events {
                    self.finished_reported = true;
                    self.src.finished.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
    }
}

/// Runs the ceiling measurement.
pub fn run(p: &CeilingParams) -> Result<Report, BenchError> {
    // Listeners first (port 0: the kernel picks one, the others share it by SO_REUSEPORT).
    let first = listener(p.port)
        .map_err(|e| BenchError::io(format!("listen on 127.0.0.1:{}", p.port), e))?;
    let port = first
        .local_addr()
        .map_err(|e| BenchError::io("listener address", e))?
        .port();
    let mut listeners = vec![first];
    for _ in 1..p.server_threads {
        listeners.push(
            listener(port).map_err(|e| BenchError::io(format!("listen on 127.0.0.1:{port}"), e))?,
        );
    }
    let src = NullSource {
        go: Arc::new(AtomicBool::new(false)),
        finished: Arc::new(AtomicU64::new(0)),
        server_threads: p.server_threads as u64,
        events: p.events,
        first_event_ns: Arc::new(AtomicU64::new(u64::MAX)),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let mut servers = Vec::new();
    for (t, l) in listeners.into_iter().enumerate() {
        let poll = Poll::new().map_err(|e| BenchError::io("poll", e))?;
        let mut listener = TcpListener::from_std(l);
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(|e| BenchError::io("register listener", e))?;
        let mut server = Server {
            poll,
            listener,
            conns: Vec::new(),
            ser: p.ser,
            thread: t as u64 + 1,
            src: src.clone(),
            payload_size: p.payload_size,
            chunks: VecDeque::new(),
            base_chunk: 0,
            generated: 0,
            finished_reported: false,
            tmp: Vec::with_capacity(1024),
        };
        let stop = Arc::clone(&stop);
        servers.push(
            thread::Builder::new()
                .name(format!("null-router-{t}"))
                .spawn(move || server.run(&stop))
                .map_err(|e| BenchError::io("spawn null router thread", e))?,
        );
    }
    let url = format!("ws://127.0.0.1:{port}/ws");
    let fp = FanoutParams {
        target: target::parse_url(&url)?,
        realm: "realm1".into(),
        topic: "com.bench.ceiling".into(),
        ser: p.ser,
        subscribers: p.subscribers,
        publishers: 0,
        events: p.events,
        window: 0,
        rate: 0.0,
        topics: 1,
        router_pid: None,
        payload_size: p.payload_size,
        threads: p.threads,
        timeout: p.timeout,
        duration: None,
        idle_timeout: p.idle_timeout,
        max_pending: p.max_pending,
        progress: p.progress,
    };
    let result = fanout::run(&fp, Some(&src));
    stop.store(true, Ordering::Release);
    for s in servers {
        let _ = s.join();
    }
    let mut report = result?;
    report.params.insert("port".into(), json!(port));
    report
        .params
        .insert("server_threads".into(), json!(p.server_threads));
    Ok(report)
}
