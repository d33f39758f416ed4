//! Commands from the node controller to a shard that are not connections' traffic: the two
//! steps of a configuration reload. The node sets a command and wakes the shard; the shard
//! carries it out at its next turn and answers on the node's channel. A flag keeps the check
//! off the hot path: one relaxed load per turn, the lock only when a command is there.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use crate::config::RealmConfig;
use crate::router::ReloadSummary;

/// A command for one shard.
#[derive(Debug)]
pub enum Command {
    /// Step one of a reload: the whole new realm list (see `Core::prepare_reload`).
    PrepareReload(Arc<[RealmConfig]>),
    /// Step two, once every shard prepared (see `Core::commit_reload`).
    CommitReload,
}

/// What a shard answers.
#[derive(Debug)]
pub enum Answer {
    /// It prepared the reload.
    Prepared {
        /// The shard.
        shard: usize,
        /// What changed there.
        summary: ReloadSummary,
    },
    /// It committed the reload.
    Committed {
        /// The shard.
        shard: usize,
    },
}

/// The node's line to one shard.
#[derive(Debug)]
pub struct Control {
    pending: AtomicBool,
    command: Mutex<Option<(Command, Sender<Answer>)>>,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            pending: AtomicBool::new(false),
            command: Mutex::new(None),
        }
    }
}

impl Control {
    /// Node side: hands the shard `command` (the caller then wakes the shard).
    pub fn set(&self, command: Command, answer: Sender<Answer>) {
        let mut slot = self.command.lock().unwrap_or_else(|p| p.into_inner());
        *slot = Some((command, answer));
        self.pending.store(true, Ordering::Release);
    }

    /// Shard side: the command waiting, if any.
    pub(crate) fn take(&self) -> Option<(Command, Sender<Answer>)> {
        if !self.pending.load(Ordering::Acquire) {
            return None;
        }
        self.pending.store(false, Ordering::Release);
        self.command
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}
