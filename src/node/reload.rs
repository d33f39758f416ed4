//! SIGHUP: the node reads its configuration again and applies what can change under live
//! sessions — realms, roles, permissions and realm options — without dropping a session. A
//! file that does not load, or a change that needs a restart (transports and their listeners,
//! limits, the shard count, the node id), keeps the running configuration, with one log line
//! saying why.

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use mio::Waker;
use thiserror::Error;

use crate::config::{self, NodeConfig, RealmConfig};
use crate::router::ReloadSummary;
use crate::shard::control::{Answer, Command, Control};

/// How long a shard may take to answer a reload step (it answers at its next turn).
const SHARD_ANSWER: Duration = Duration::from_secs(10);

/// Why a reload kept the running configuration.
#[derive(Debug, Error)]
pub enum ReloadError {
    /// The node runs the built-in default node: there is no file to read again.
    #[error("the node runs the built-in default configuration: there is no file to reload")]
    NoFile,
    /// The file did not load.
    #[error("{path}: {errors}")]
    Invalid {
        /// The config file.
        path: String,
        /// What is wrong with it.
        errors: config::ConfigErrors,
    },
    /// The change needs a restart.
    #[error("{0} changed, which needs a restart")]
    NeedsRestart(String),
    /// A shard did not answer in time (it may be stopping).
    #[error("shard {0} did not answer the reload")]
    ShardSilent(usize),
}

/// What a reload did, over all shards.
#[derive(Debug, Default)]
pub struct Reloaded {
    /// Realms added.
    pub added: Vec<String>,
    /// Realms removed.
    pub removed: Vec<String>,
    /// Sessions whose role the new configuration no longer has.
    pub orphaned_sessions: usize,
}

/// Reloads the node's configuration on request.
pub(super) struct Reloader {
    /// The config file; `None` for the built-in default node.
    path: Option<PathBuf>,
    running: NodeConfig,
    controls: Vec<Arc<Control>>,
    wakers: Vec<Arc<Waker>>,
}

impl Reloader {
    pub(super) fn new(
        path: Option<PathBuf>,
        running: NodeConfig,
        controls: Vec<Arc<Control>>,
        wakers: Vec<Arc<Waker>>,
    ) -> Self {
        Reloader {
            path,
            running,
            controls,
            wakers,
        }
    }

    /// Reads the configuration again and applies it on every shard.
    pub(super) fn reload(&mut self) -> Result<Reloaded, ReloadError> {
        let path = self.path.as_ref().ok_or(ReloadError::NoFile)?;
        let fresh = config::load_file_in(path, &self.running.cbdir).map_err(|errors| {
            ReloadError::Invalid {
                path: path.display().to_string(),
                errors,
            }
        })?;
        if let Some(what) = needs_restart(&self.running, &fresh) {
            return Err(ReloadError::NeedsRestart(what));
        }
        let realms: Arc<[RealmConfig]> = fresh
            .routers
            .iter()
            .flat_map(|r| r.realms.iter().cloned())
            .collect();
        let mut reloaded = Reloaded::default();
        for answer in self.ask(|| Command::PrepareReload(Arc::clone(&realms)))? {
            if let Answer::Prepared { summary, .. } = answer {
                merge(&mut reloaded, summary);
            }
        }
        self.ask(|| Command::CommitReload)?;
        self.running = fresh;
        Ok(reloaded)
    }

    /// Gives every shard a command, wakes it, and waits for every answer.
    fn ask(&self, command: impl Fn() -> Command) -> Result<Vec<Answer>, ReloadError> {
        let (tx, rx) = mpsc::channel();
        for (control, waker) in self.controls.iter().zip(&self.wakers) {
            control.set(command(), tx.clone());
            let _ = waker.wake();
        }
        drop(tx);
        let mut answers = Vec::with_capacity(self.controls.len());
        let mut answered = vec![false; self.controls.len()];
        while answers.len() < self.controls.len() {
            let Ok(answer) = rx.recv_timeout(SHARD_ANSWER) else {
                let silent = answered.iter().position(|a| !a).unwrap_or(0);
                return Err(ReloadError::ShardSilent(silent));
            };
            let shard = match &answer {
                Answer::Prepared { shard, .. } | Answer::Committed { shard } => *shard,
            };
            if let Some(flag) = answered.get_mut(shard) {
                *flag = true;
            }
            answers.push(answer);
        }
        Ok(answers)
    }
}

/// Every shard reports the same realm changes; orphaned sessions add up.
fn merge(total: &mut Reloaded, shard: ReloadSummary) {
    total.added = shard.added;
    total.removed = shard.removed;
    total.orphaned_sessions += shard.orphaned_sessions;
}

/// The first part of the configuration that differs in a way a running node cannot take, as
/// its config path.
fn needs_restart(running: &NodeConfig, fresh: &NodeConfig) -> Option<String> {
    if running.node_id != fresh.node_id {
        return Some("controller.id".into());
    }
    if running.routers.len() != fresh.routers.len() {
        return Some("the number of router workers".into());
    }
    for (i, (old, new)) in running.routers.iter().zip(&fresh.routers).enumerate() {
        if old.id != new.id {
            return Some(format!("workers[{i}].id"));
        }
        if old.shards != new.shards {
            return Some(format!("workers[{i}].options.shards"));
        }
        if old.limits != new.limits {
            return Some(format!("workers[{i}].options.limits"));
        }
        // Transports hold listeners, TLS and authentication settings that shards use directly;
        // they are compared as a whole (their Debug form is their full content).
        if format!("{:?}", old.transports) != format!("{:?}", new.transports) {
            return Some(format!("workers[{i}].transports"));
        }
    }
    None
}
