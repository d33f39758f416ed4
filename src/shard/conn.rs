//! One client connection as the reactor holds it: the socket, its protocol phase and its
//! buffers. Buffers are empty (unallocated) while a connection is idle, so an idle session
//! costs little more than this struct.

use std::io::{self, Read, Write};

use mio::event::Source;
use mio::{Interest, Registry, Token};

use crate::codec::Serializer;
use crate::router::ConnId;
use crate::transport::rawsocket::RawReader;
use crate::transport::websocket::{WsLimits, WsReader, CLOSE_NORMAL};

/// A connected socket.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(mio::net::TcpStream),
    Unix(mio::net::UnixStream),
}

impl Stream {
    /// The peer as Crossbar writes it (`tcp4:127.0.0.1:50412`, `unix`). Asked of the kernel
    /// when needed rather than kept per connection: it is only for logs and session details.
    pub(crate) fn peer(&self) -> String {
        match self {
            Stream::Tcp(s) => match s.peer_addr() {
                Ok(addr) => {
                    let family = if addr.is_ipv4() { "tcp4" } else { "tcp6" };
                    format!("{family}:{}:{}", addr.ip(), addr.port())
                }
                Err(_) => "tcp:unknown".to_owned(),
            },
            Stream::Unix(_) => "unix".to_owned(),
        }
    }

    pub(crate) fn shutdown_write(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Source for Stream {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(registry, token, interests),
            Stream::Unix(s) => s.register(registry, token, interests),
        }
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(registry, token, interests),
            Stream::Unix(s) => s.reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(registry),
            Stream::Unix(s) => s.deregister(registry),
        }
    }
}

/// Where a connection is in its life.
#[derive(Debug)]
pub(crate) enum Phase {
    /// A universal port: the first byte tells RawSocket (0x7F) from HTTP.
    Sniff,
    /// Reading the HTTP request head.
    Http,
    /// Reading the 4-byte RawSocket handshake.
    RawHandshake,
    /// Speaking WAMP over WebSocket.
    WebSocket {
        reader: WsReader,
        serializer: Serializer,
        limits: WsLimits,
    },
    /// Speaking WAMP over RawSocket.
    RawSocket {
        reader: RawReader,
        serializer: Serializer,
        /// The largest message we accept (what we announced).
        max_len: usize,
        /// The largest message the client accepts.
        client_max_len: usize,
    },
    /// Writing its last bytes; input is discarded.
    Closing,
}

/// WebSocket auto-ping settings of a connection (Crossbar's `auto_ping_*` options), in whole
/// seconds: the reactor sweeps once a second, and small fields keep idle connections small.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PingPolicy {
    pub(crate) interval_s: u32,
    /// 0: no timeout, keep pinging.
    pub(crate) timeout_s: u32,
    pub(crate) size: u8,
}

impl PingPolicy {
    pub(crate) fn new(interval_ms: u64, timeout_ms: Option<u64>, size: usize) -> Self {
        let secs = |ms: u64| u32::try_from(ms.div_ceil(1000)).unwrap_or(u32::MAX).max(1);
        PingPolicy {
            interval_s: secs(interval_ms),
            timeout_s: timeout_ms.map_or(0, secs),
            size: u8::try_from(size.min(125)).unwrap_or(125),
        }
    }
}

/// One connection.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) stream: Stream,
    /// Distinguishes this connection from earlier ones in the same slab slot.
    pub(crate) generation: u32,
    /// Index of the transport it came in on.
    pub(crate) transport: u32,
    pub(crate) phase: Phase,
    /// Bytes read but not yet consumed (a partial frame or HTTP head).
    pub(crate) rbuf: Vec<u8>,
    /// Bytes to write; `wbuf[wpos..]` is still pending.
    pub(crate) wbuf: Vec<u8>,
    pub(crate) wpos: usize,
    /// Close once `wbuf` is written.
    pub(crate) close_after_flush: bool,
    /// Our write side is shut; waiting for the peer to close (bounded by a deadline).
    pub(crate) lingering: bool,
    /// Listed in the shard's dirty list this turn.
    pub(crate) dirty: bool,
    /// The core knows this connection (WebSocket handshake done).
    pub(crate) session_open: bool,
    /// Close code for the WebSocket close frame when the core asks to close.
    pub(crate) close_code: u16,
    /// TLS state, on TLS endpoints.
    pub(crate) tls: Option<Box<rustls::ServerConnection>>,
    /// Auto-ping, when configured on the WebSocket service.
    pub(crate) ping: Option<PingPolicy>,
    /// When the peer last sent anything, in seconds of the shard's clock.
    pub(crate) last_rx: u32,
    /// When our unanswered ping went out, in seconds of the shard's clock (0: none pending).
    pub(crate) ping_sent: u32,
    /// When pending output last made progress (or began), in seconds of the shard's clock.
    pub(crate) last_tx_progress: u32,
    /// Set by a flush that wrote anything; the reactor turns it into `last_tx_progress`.
    pub(crate) wrote: bool,
    /// Being closed as a slow consumer: no more events are queued.
    pub(crate) slow: bool,
    /// EVENTs dropped for it (drop-events policy) since it last caught up.
    pub(crate) dropped_events: u32,
}

impl Conn {
    pub(crate) fn new(
        stream: Stream,
        generation: u32,
        transport: usize,
        phase: Phase,
        tls: Option<Box<rustls::ServerConnection>>,
        now: u32,
    ) -> Self {
        Conn {
            stream,
            generation,
            // A node has a handful of transports.
            transport: u32::try_from(transport).unwrap_or(u32::MAX),
            phase,
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            wpos: 0,
            close_after_flush: false,
            lingering: false,
            dirty: false,
            session_open: false,
            close_code: CLOSE_NORMAL,
            tls,
            ping: None,
            last_rx: now,
            ping_sent: 0,
            last_tx_progress: now,
            wrote: false,
            slow: false,
            dropped_events: 0,
        }
    }

    /// Writes what is queued, then closes; input from now on is discarded.
    pub(crate) fn finish(&mut self) {
        self.phase = Phase::Closing;
        self.close_after_flush = true;
        self.rbuf = Vec::new();
    }

    /// The id the core knows this connection by.
    pub(crate) fn id(&self, key: usize) -> ConnId {
        ConnId((u64::from(self.generation) << 32) | key as u64)
    }

    /// Bytes queued and not yet written.
    pub(crate) fn pending_output(&self) -> usize {
        self.wbuf.len() - self.wpos
    }

    /// Writes as much of `wbuf` as the socket takes (through TLS when there is TLS). `Ok(true)`
    /// when everything is written.
    pub(crate) fn flush(&mut self) -> io::Result<bool> {
        if self.tls.is_some() {
            return self.flush_tls();
        }
        self.flush_plain()
    }

    fn flush_tls(&mut self) -> io::Result<bool> {
        let Some(tls) = self.tls.as_mut() else {
            return Ok(true);
        };
        loop {
            // Hand plaintext to rustls as far as its buffer takes it, then push ciphertext out.
            if self.wpos < self.wbuf.len() {
                let n = tls.writer().write(&self.wbuf[self.wpos..])?;
                self.wpos += n;
            }
            while tls.wants_write() {
                match tls.write_tls(&mut self.stream) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::WriteZero,
                            "socket accepted no bytes",
                        ))
                    }
                    Ok(_) => self.wrote = true,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if self.wpos >= self.wbuf.len() {
                break;
            }
        }
        self.wpos = 0;
        self.wbuf.clear();
        Ok(true)
    }

    fn flush_plain(&mut self) -> io::Result<bool> {
        while self.wpos < self.wbuf.len() {
            match self.stream.write(&self.wbuf[self.wpos..]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "socket accepted no bytes",
                    ))
                }
                Ok(n) => {
                    self.wpos += n;
                    self.wrote = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.compact_wbuf();
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.wpos = 0;
        self.wbuf.clear();
        Ok(true)
    }

    /// Takes the result of a send of `wbuf[wpos..]` that the io_uring backend made (a byte
    /// count, or a negated `errno`) and goes on exactly as [`Conn::flush`] would after that
    /// `send`: done when all is written, else write on (a short write), `Ok(false)` when the
    /// socket is full, an error that closes this connection alone otherwise.
    pub(crate) fn complete_send(&mut self, result: i32) -> io::Result<bool> {
        match usize::try_from(result) {
            Ok(0) if self.pending_output() > 0 => Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "socket accepted no bytes",
            )),
            Ok(n) => {
                self.wpos = (self.wpos + n).min(self.wbuf.len());
                self.wrote |= n > 0;
                // Everything written: clears the buffer without a system call. A short write:
                // writes on until done or `WouldBlock`, as the plain path does.
                self.flush_plain()
            }
            Err(_) => {
                let e = io::Error::from_raw_os_error(result.saturating_neg());
                match e.kind() {
                    io::ErrorKind::WouldBlock => {
                        self.compact_wbuf();
                        Ok(false)
                    }
                    io::ErrorKind::Interrupted => self.flush_plain(),
                    _ => Err(e),
                }
            }
        }
    }

    /// After a partial flush: drops the written front of `wbuf` once it is most of it.
    fn compact_wbuf(&mut self) {
        if self.wpos > self.wbuf.len() / 2 {
            self.wbuf.drain(..self.wpos);
            self.wpos = 0;
        }
    }

    /// Releases the read buffer's memory once it holds nothing.
    pub(crate) fn trim_rbuf(&mut self) {
        if self.rbuf.is_empty() && self.rbuf.capacity() > 0 {
            self.rbuf = Vec::new();
        }
    }
}

/// Splits a [`ConnId`] back into slab key and generation.
pub(crate) fn split_id(id: ConnId) -> (usize, u32) {
    ((id.0 & 0xffff_ffff) as usize, (id.0 >> 32) as u32)
}
