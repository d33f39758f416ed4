//! The client side: one `Net` per worker thread, a mio `Poll` with many WebSocket connections.
//!
//! Reads go into one scratch buffer per thread; complete frames are handled in place and only an
//! incomplete tail is copied into the connection, so an idle connection holds no buffer and the
//! receive path does not allocate. Writes are appended to each connection's output buffer and
//! flushed once per turn of the loop (batched), or when the socket becomes writable again.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use crate::ser::Serializer;
use ferrobar::wamp::Message;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, Socket, Type};

use crate::error::ConnError;
use crate::target::Target;
use crate::ws::{self, Flow, Frame, FrameReader, Masker};

/// Largest message accepted from a router.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;
/// Read at least this much per `read` call.
const MIN_READ: usize = 64 * 1024;
/// Initial size of the per-thread read scratch.
const SCRATCH: usize = 256 * 1024;
/// An emptied output buffer larger than this is shrunk (connection memory stays small).
const OUT_KEEP: usize = 256 * 1024;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// TCP connect in progress.
    Connecting,
    /// Upgrade request sent, waiting for the 101.
    Upgrading,
    /// WebSocket open.
    Open,
    /// We sent a close frame; waiting for the router's close or EOF.
    Closing,
    /// Gone (socket dropped).
    Closed,
}

/// One client connection.
#[derive(Debug)]
pub struct Conn {
    stream: Option<TcpStream>,
    /// Where the connection is.
    pub phase: Phase,
    key: String,
    inbuf: Vec<u8>,
    reader: FrameReader,
    out: Vec<u8>,
    out_pos: usize,
    write_blocked: bool,
    dirty: bool,
    /// Reads that returned data: messages per read shows how batched the router's writes
    /// (or our own reading) were.
    reads: u64,
}

/// A mode's reaction to what happens on its connections.
pub trait Handler {
    /// The WebSocket is open (send HELLO).
    fn on_open(&mut self, net: &mut Net, id: usize);
    /// A complete message arrived (may be modified in place).
    fn on_message(&mut self, net: &mut Net, id: usize, data: &mut [u8]);
    /// The connection is gone: `None` after a clean close we asked for.
    fn on_closed(&mut self, net: &mut Net, id: usize, error: Option<ConnError>);
}

/// The connections of one worker thread.
pub struct Net {
    poll: Poll,
    events: Option<Events>,
    scratch: Vec<u8>,
    /// Connections by id (the mio token); ids are never reused.
    pub conns: Vec<Conn>,
    dirty: Vec<usize>,
    masker: Masker,
    tmp: Vec<u8>,
    ser: Serializer,
    target: Target,
    live: usize,
    read_ns: u64,
    /// Wakes the poll at a sub-millisecond instant (created on first need; if that fails,
    /// waits are whole milliseconds, rounded up).
    timer: TimerState,
}

/// The poll's wake-up timer.
enum TimerState {
    Unused,
    Ready(OwnedFd),
    Unavailable,
}

/// The timer's token: never a connection id (ids are indices into `conns`).
const TIMER: Token = Token(usize::MAX - 1);

/// A non-blocking timerfd added to the poll's epoll set (edge-triggered, like mio's own).
///
/// epoll waits in whole milliseconds and mio rounds a shorter wait up, so a paced publisher
/// would oversleep its due time by up to a millisecond; the timer wakes the poll on time.
/// mio's `Poll` exposes its epoll descriptor for this kind of integration; events for
/// `TIMER` are ignored by `turn` (their only purpose is to end the wait).
fn new_timer(poll: &Poll) -> io::Result<OwnedFd> {
    // SAFETY: timerfd_create takes no pointers; a valid fd is owned by OwnedFd below.
    let fd = unsafe {
        libc::timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLET) as u32,
        u64: TIMER.0 as u64,
    };
    // SAFETY: both descriptors are open; epoll_ctl only reads `ev`.
    if unsafe {
        libc::epoll_ctl(
            poll.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            fd.as_raw_fd(),
            &mut ev,
        )
    } != 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Arms `fd` to expire once, `after` from now (re-arming also clears a past expiry).
fn arm_timer(fd: &OwnedFd, after: Duration) -> io::Result<()> {
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: libc::time_t::try_from(after.as_secs()).unwrap_or(libc::time_t::MAX),
            // Below 10^9, fits every c_long; a zero value would disarm, so at least 1 ns.
            tv_nsec: after.subsec_nanos().max(u32::from(after.as_secs() == 0)) as libc::c_long,
        },
    };
    // SAFETY: fd is open; timerfd_settime reads `spec` and may write nothing (null old value).
    if unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn is_would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// Opens a non-blocking TCP connection to `addr`, from `source` if given.
pub fn connect_socket(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    if let Some(ip) = source {
        socket.bind(&SocketAddr::new(ip, 0).into())?;
    }
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) || is_would_block(&e) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}

impl Net {
    /// A new poll for connections to `target` speaking `ser`; `seed` varies the masks.
    pub fn new(target: Target, ser: Serializer, seed: u64) -> io::Result<Self> {
        Ok(Net {
            poll: Poll::new()?,
            events: Some(Events::with_capacity(1024)),
            scratch: vec![0; SCRATCH],
            conns: Vec::new(),
            dirty: Vec::new(),
            masker: Masker::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ crate::clock::now_ns()),
            tmp: Vec::with_capacity(4096),
            ser,
            target,
            live: 0,
            read_ns: 0,
            timer: TimerState::Unused,
        })
    }

    /// The serializer in use.
    pub fn serializer(&self) -> Serializer {
        self.ser
    }

    /// When the bytes being handled were read (clock ns): the receive time of every message
    /// in them, one clock reading per read instead of one per message.
    pub fn read_ns(&self) -> u64 {
        self.read_ns
    }

    /// Connections not yet closed.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Reads that returned data on connection `id` so far (0 for an unknown id).
    pub fn reads(&self, id: usize) -> u64 {
        self.conns.get(id).map_or(0, |c| c.reads)
    }

    /// Starts a connection; its id is returned even if it failed at once (then it is already
    /// closed and the error is returned instead).
    pub fn connect(&mut self, source: Option<IpAddr>) -> Result<usize, ConnError> {
        let id = self.conns.len();
        let mut stream = connect_socket(self.target.addr, source)
            .map_err(|e| ConnError::Connect(e.to_string()))?;
        self.poll
            .registry()
            .register(
                &mut stream,
                Token(id),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| ConnError::Connect(format!("register: {e}")))?;
        self.conns.push(Conn {
            stream: Some(stream),
            phase: Phase::Connecting,
            key: String::new(),
            inbuf: Vec::new(),
            reader: FrameReader::default(),
            out: Vec::new(),
            out_pos: 0,
            write_blocked: true,
            dirty: false,
            reads: 0,
        });
        self.live += 1;
        Ok(id)
    }

    /// Appends one message (already encoded) to connection `id`'s output.
    pub fn send_raw(&mut self, id: usize, payload: &[u8]) {
        let key = self.masker.next_key();
        let binary = self.ser.is_binary();
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        if c.phase != Phase::Open {
            return;
        }
        ws::write_client_message(&mut c.out, payload, binary, key);
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(id);
        }
    }

    /// Encodes with `f` and sends.
    pub fn send_with(&mut self, id: usize, f: impl FnOnce(Serializer, &mut Vec<u8>)) {
        let mut tmp = std::mem::take(&mut self.tmp);
        tmp.clear();
        f(self.ser, &mut tmp);
        self.send_raw(id, &tmp);
        self.tmp = tmp;
    }

    /// Encodes `msg` with ferrobar's codec and sends it.
    pub fn send_msg(&mut self, id: usize, msg: &Message) {
        self.send_with(id, |ser, out| ser.encode(msg, out));
    }

    /// Starts the WebSocket closing handshake (after the WAMP GOODBYE exchange).
    pub fn close(&mut self, id: usize) {
        let key = self.masker.next_key();
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        if c.phase != Phase::Open {
            return;
        }
        ws::write_client_close(&mut c.out, ws::CLOSE_NORMAL, key);
        c.phase = Phase::Closing;
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(id);
        }
    }

    /// Drops connection `id` now and tells the handler.
    pub fn drop_conn(&mut self, id: usize, error: Option<ConnError>, h: &mut impl Handler) {
        if self.release(id) {
            h.on_closed(self, id, error);
        }
    }

    /// Drops a connection silently (at the end of a run). True if it was live.
    fn release(&mut self, id: usize) -> bool {
        let Some(c) = self.conns.get_mut(id) else {
            return false;
        };
        if c.phase == Phase::Closed {
            return false;
        }
        if let Some(mut s) = c.stream.take() {
            let _ = self.poll.registry().deregister(&mut s);
        }
        c.phase = Phase::Closed;
        c.inbuf = Vec::new();
        c.out = Vec::new();
        c.out_pos = 0;
        c.key = String::new();
        c.reader = FrameReader::default();
        self.live -= 1;
        true
    }

    /// Drops every connection without telling the handler (end of run).
    pub fn release_all(&mut self) {
        for id in 0..self.conns.len() {
            self.release(id);
        }
    }

    /// One turn: waits up to `timeout` for readiness (to the microsecond, see `wake_after`),
    /// handles it, flushes all output.
    pub fn turn(&mut self, timeout: Duration, h: &mut impl Handler) -> io::Result<()> {
        let mut events = self
            .events
            .take()
            .unwrap_or_else(|| Events::with_capacity(1024));
        self.wake_after(timeout);
        let polled = self.poll.poll(&mut events, Some(timeout));
        if let Err(e) = polled {
            self.events = Some(events);
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e)
            };
        }
        for ev in events.iter() {
            let id = ev.token().0;
            if id >= self.conns.len() {
                continue;
            }
            if ev.is_writable() || ev.is_error() {
                self.on_writable(id, h);
            }
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                self.on_readable(id, h);
            }
        }
        self.events = Some(events);
        self.flush(h);
        Ok(())
    }

    /// A wait that is not a whole number of milliseconds is meant to end on time: arm the
    /// timer for it (mio's own timeout, rounded up, stays as the bound if the timer fails).
    fn wake_after(&mut self, timeout: Duration) {
        if timeout.is_zero() || timeout.subsec_nanos().is_multiple_of(1_000_000) {
            return;
        }
        if matches!(self.timer, TimerState::Unused) {
            self.timer = match new_timer(&self.poll) {
                Ok(fd) => TimerState::Ready(fd),
                Err(_) => TimerState::Unavailable,
            };
        }
        if let TimerState::Ready(fd) = &self.timer {
            if arm_timer(fd, timeout).is_err() {
                self.timer = TimerState::Unavailable;
            }
        }
    }

    fn on_writable(&mut self, id: usize, h: &mut impl Handler) {
        let c = &mut self.conns[id];
        let Some(stream) = c.stream.as_mut() else {
            return;
        };
        if c.phase == Phase::Connecting {
            match stream.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => {
                    return self.drop_conn(id, Some(ConnError::Connect(e.to_string())), h);
                }
            }
            match stream.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => return self.drop_conn(id, Some(ConnError::Connect(e.to_string())), h),
            }
            c.phase = Phase::Upgrading;
            c.key = ws::new_key();
            ws::write_client_request(
                &mut c.out,
                &self.target.host_header,
                &self.target.path,
                &c.key,
                self.ser.subprotocol(),
            );
        }
        c.write_blocked = false;
        if !c.out.is_empty() && !c.dirty {
            c.dirty = true;
            self.dirty.push(id);
        }
    }

    fn on_readable(&mut self, id: usize, h: &mut impl Handler) {
        if matches!(self.conns[id].phase, Phase::Connecting | Phase::Closed) {
            // A connect failure shows as an error/hang-up before writability.
            if self.conns[id].phase == Phase::Connecting {
                if let Some(Ok(Some(e))) = self.conns[id].stream.as_ref().map(|s| s.take_error()) {
                    self.drop_conn(id, Some(ConnError::Connect(e.to_string())), h);
                }
            }
            return;
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut filled = {
            let c = &mut self.conns[id];
            let n = c.inbuf.len();
            if scratch.len() < n + MIN_READ {
                scratch.resize(n + MIN_READ, 0);
            }
            scratch[..n].copy_from_slice(&c.inbuf);
            c.inbuf.clear();
            n
        };
        let mut outcome: Option<Option<ConnError>> = None;
        loop {
            if scratch.len() - filled < MIN_READ {
                if scratch.len() >= MAX_MESSAGE + 2 * MIN_READ {
                    outcome = Some(Some(ConnError::Ws(format!(
                        "message larger than {MAX_MESSAGE} bytes"
                    ))));
                    break;
                }
                scratch.resize(scratch.len() * 2, 0);
            }
            let Some(stream) = self.conns[id].stream.as_mut() else {
                break;
            };
            match stream.read(&mut scratch[filled..]) {
                Ok(0) => {
                    let clean = self.conns[id].phase == Phase::Closing;
                    outcome = Some((!clean).then(|| ConnError::Lost("router hung up".into())));
                    break;
                }
                Ok(n) => {
                    filled += n;
                    self.conns[id].reads += 1;
                    self.read_ns = crate::clock::now_ns();
                    match self.process(id, &mut scratch[..filled], h) {
                        Ok(used) => {
                            scratch.copy_within(used..filled, 0);
                            filled -= used;
                        }
                        Err(e) => {
                            outcome = Some(Some(e));
                            break;
                        }
                    }
                    if self.conns[id].phase == Phase::Closed {
                        break;
                    }
                }
                Err(e) if is_would_block(&e) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    outcome = Some(Some(ConnError::Lost(e.to_string())));
                    break;
                }
            }
        }
        match outcome {
            Some(err) => {
                // Send what is queued (e.g. a close reply) before dropping, best effort.
                self.flush_one(id);
                self.drop_conn(id, err, h);
            }
            None => {
                if let Some(c) = self.conns.get_mut(id) {
                    if c.phase != Phase::Closed {
                        c.inbuf.extend_from_slice(&scratch[..filled]);
                    }
                }
            }
        }
        // Keep a grown scratch only up to a modest size.
        if scratch.len() > 4 * SCRATCH {
            scratch.truncate(SCRATCH);
            scratch.shrink_to_fit();
        }
        self.scratch = scratch;
    }

    /// Handles the complete frames (or the 101) at the start of `buf`; returns bytes used.
    fn process(
        &mut self,
        id: usize,
        buf: &mut [u8],
        h: &mut impl Handler,
    ) -> Result<usize, ConnError> {
        let mut used = 0;
        if self.conns[id].phase == Phase::Upgrading {
            let c = &mut self.conns[id];
            match ws::parse_server_response(buf, &c.key, self.ser.subprotocol())? {
                None => return Ok(0),
                Some(n) => {
                    used = n;
                    c.phase = Phase::Open;
                    c.key = String::new();
                    h.on_open(self, id);
                }
            }
        }
        let mut reader = std::mem::take(&mut self.conns[id].reader);
        let mut close_code: Option<Option<u16>> = None;
        let result = reader.process(&mut buf[used..], MAX_MESSAGE, |frame| match frame {
            Frame::Message(data) => {
                h.on_message(self, id, data);
                if self.conns[id].phase == Phase::Closed {
                    Flow::Stop
                } else {
                    Flow::Continue
                }
            }
            Frame::Ping(p) => {
                let key = self.masker.next_key();
                let c = &mut self.conns[id];
                ws::write_client_pong(&mut c.out, p, key);
                if !c.dirty {
                    c.dirty = true;
                    self.dirty.push(id);
                }
                Flow::Continue
            }
            Frame::Close(code) => {
                close_code = Some(code);
                Flow::Stop
            }
        });
        if let Some(c) = self.conns.get_mut(id) {
            if c.phase != Phase::Closed {
                c.reader = reader;
            }
        }
        let n = result?;
        if let Some(code) = close_code {
            if self.conns[id].phase == Phase::Closing {
                self.drop_conn(id, None, h);
                return Ok(used + n);
            }
            let c = &mut self.conns[id];
            // The router closed first: answer and report.
            let key = self.masker.next_key();
            ws::write_client_close(&mut c.out, code.unwrap_or(ws::CLOSE_NORMAL), key);
            return Err(ConnError::Closed(format!(
                "WebSocket close{}",
                code.map(|c| format!(" {c}")).unwrap_or_default()
            )));
        }
        Ok(used + n)
    }

    /// Writes what each dirty connection has queued.
    pub fn flush(&mut self, h: &mut impl Handler) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for &id in &dirty {
            if let Some(c) = self.conns.get_mut(id) {
                c.dirty = false;
            }
            if let Err(e) = self.try_flush(id) {
                self.drop_conn(id, Some(ConnError::Lost(e.to_string())), h);
            }
        }
        dirty.clear();
        // Connections made dirty during the drops above were pushed to the new list.
        dirty.append(&mut self.dirty);
        self.dirty = dirty;
    }

    fn flush_one(&mut self, id: usize) {
        let _ = self.try_flush(id);
    }

    fn try_flush(&mut self, id: usize) -> io::Result<()> {
        let Some(c) = self.conns.get_mut(id) else {
            return Ok(());
        };
        if c.write_blocked {
            return Ok(());
        }
        let Some(stream) = c.stream.as_mut() else {
            return Ok(());
        };
        while c.out_pos < c.out.len() {
            match stream.write(&c.out[c.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => c.out_pos += n,
                Err(e) if is_would_block(&e) => {
                    c.write_blocked = true;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        c.out.clear();
        c.out_pos = 0;
        if c.out.capacity() > OUT_KEEP {
            c.out = Vec::new();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target;

    #[test]
    fn sub_millisecond_waits_arm_the_wake_timer() {
        let target = target::parse_url("ws://127.0.0.1:9/ws").unwrap();
        let mut net = Net::new(target, Serializer::Json, 1).unwrap();
        // Whole milliseconds are epoll's own unit: no timer needed.
        net.wake_after(Duration::from_millis(2));
        net.wake_after(Duration::ZERO);
        assert!(matches!(net.timer, TimerState::Unused));
        net.wake_after(Duration::from_micros(300));
        assert!(matches!(net.timer, TimerState::Ready(_)));
        // Its expiry arrives on the poll under the timer's token, which `turn` ignores.
        let mut events = Events::with_capacity(8);
        net.poll
            .poll(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
        assert!(events.iter().any(|e| e.token() == TIMER));
        // Re-arming clears the past expiry and arms again.
        net.wake_after(Duration::from_micros(1500));
        assert!(matches!(net.timer, TimerState::Ready(_)));
    }
}
