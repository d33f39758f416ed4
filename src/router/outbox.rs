//! The core's one output sink: what the shell must do, in the order the core decided it, and
//! the scratch buffer messages are encoded into.

use std::collections::VecDeque;

use bytes::Bytes;

use super::{ConnId, Output, ShardMsg};

/// Outputs waiting for the shell.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: VecDeque<Output>,
    /// Reused encode buffer: a message is encoded here, then copied into its frame.
    scratch: Vec<u8>,
}

impl Outbox {
    /// The next output for the shell.
    pub(crate) fn pop(&mut self) -> Option<Output> {
        self.queue.pop_front()
    }

    /// Encodes into the scratch buffer (cleared first); returns the encoded length.
    pub(crate) fn encode(&mut self, encode: impl FnOnce(&mut Vec<u8>)) -> usize {
        self.scratch.clear();
        encode(&mut self.scratch);
        self.scratch.len()
    }

    /// The bytes last encoded, as a frame of their own.
    pub(crate) fn encoded_frame(&self) -> Bytes {
        Bytes::copy_from_slice(&self.scratch)
    }

    /// Encodes a frame (see [`Outbox::encode`]).
    pub(crate) fn frame(&mut self, encode: impl FnOnce(&mut Vec<u8>)) -> Bytes {
        self.encode(encode);
        self.encoded_frame()
    }

    pub(crate) fn send(&mut self, conn: ConnId, frame: Bytes) {
        self.queue.push_back(Output::Send { conn, frame });
    }

    pub(crate) fn send_many(&mut self, conns: Vec<ConnId>, frame: Bytes) {
        self.queue.push_back(Output::SendMany { conns, frame });
    }

    /// Closes a connection after the frames already queued for it.
    pub(crate) fn close(&mut self, conn: ConnId) {
        self.queue.push_back(Output::Close { conn });
    }

    pub(crate) fn forward(&mut self, shard: usize, msg: ShardMsg) {
        self.queue.push_back(Output::ToShard { shard, msg });
    }
}
