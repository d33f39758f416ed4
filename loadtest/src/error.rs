//! Typed errors. Anything a peer controls ends up here, never in a panic.

use std::io;

use thiserror::Error;

/// Why wampbench cannot run or continue.
#[derive(Debug, Error)]
pub enum BenchError {
    /// The command line asks for something impossible or forbidden.
    #[error("{0}")]
    Usage(String),
    /// The target is not on this machine.
    #[error("refusing target {target}: {why} (load tests may only target this machine: 127.0.0.0/8, ::1 or localhost)")]
    NotLoopback {
        /// The address or host as given.
        target: String,
        /// What is wrong with it.
        why: String,
    },
    /// The process cannot hold as many sockets as asked for.
    #[error("{wanted} sessions need about {needed} open files, but this process may open at most {limit} (RLIMIT_NOFILE hard limit); lower --sessions")]
    TooManyFiles {
        /// Sessions asked for.
        wanted: usize,
        /// File descriptors that needs.
        needed: u64,
        /// The limit in force.
        limit: u64,
    },
    /// Setup failed (nothing could be measured).
    #[error("setup failed: {0}")]
    Setup(String),
    /// An operating-system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: io::Error,
    },
}

impl BenchError {
    /// Wraps an I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        BenchError::Io {
            what: what.into(),
            source,
        }
    }
}

/// Why one connection failed. Counted, reported, never fatal to the run.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ConnError {
    /// TCP connect failed.
    #[error("connect failed: {0}")]
    Connect(String),
    /// The HTTP upgrade was refused or malformed.
    #[error("WebSocket handshake failed: {0}")]
    Handshake(String),
    /// The server broke the WebSocket framing rules.
    #[error("WebSocket protocol error: {0}")]
    Ws(String),
    /// A WAMP message could not be understood or came out of turn.
    #[error("WAMP protocol error: {0}")]
    Wamp(String),
    /// The router refused the session (ABORT) or closed it (GOODBYE).
    #[error("router closed the session: {0}")]
    Closed(String),
    /// The socket failed or the peer hung up.
    #[error("connection lost: {0}")]
    Lost(String),
}
