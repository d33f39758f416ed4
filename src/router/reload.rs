//! Configuration reload: realms, roles, permissions and realm options change under live
//! sessions, without dropping any.
//!
//! Two steps, each run on every shard's core: [`Core::prepare_reload`] adds the new realms (not
//! joinable yet) and reconfigures the existing ones; once every shard has prepared,
//! [`Core::commit_reload`] makes the new realms joinable and ends the sessions of the realms the
//! configuration no longer has. Realm indexes only grow, so no shard is ever sent a message for
//! a realm it does not have yet.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use hashbrown::HashMap;

use crate::config::RealmConfig;
use crate::wamp::error_uri as uris;

use super::realm::Realm;
use super::{ConnId, Core};

/// Sessions per realm over all shards, by realm name (for `options.max_sessions`). Shared by
/// every core; locked only when a core starts or reloads, never per session.
#[derive(Debug, Default)]
pub struct RealmSessionCounts(Mutex<std::collections::HashMap<String, Arc<AtomicUsize>>>);

impl RealmSessionCounts {
    /// The counter of realm `name`, shared by every core.
    pub(crate) fn counter(&self, name: &str) -> Arc<AtomicUsize> {
        let mut counts = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(counts.entry(name.to_owned()).or_default())
    }
}

/// What a reload changed on one shard.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReloadSummary {
    /// Realms added.
    pub added: Vec<String>,
    /// Realms removed (their sessions were closed).
    pub removed: Vec<String>,
    /// Sessions of this shard whose role the new configuration no longer has: they keep the
    /// role's name and are refused every action from now on.
    pub orphaned_sessions: usize,
}

impl Core {
    /// Step one of a reload: takes `realms` (the whole new list). New realms exist from now on
    /// but are joinable only after [`Core::commit_reload`]; existing realms take their new
    /// roles, permissions and options at once, so a session whose role lost a permission is
    /// refused that action from its next message on.
    pub fn prepare_reload(&mut self, realms: &[RealmConfig]) -> ReloadSummary {
        let mut summary = ReloadSummary::default();
        let mut next_index: HashMap<String, usize> = HashMap::new();
        for config in realms {
            if next_index.contains_key(&config.name) {
                continue;
            }
            let index = match self.realm_index.get(&config.name) {
                Some(&index) => {
                    let remap = self.realms[index].reconfigure(config);
                    summary.orphaned_sessions += self.remap_roles(index, &remap);
                    index
                }
                None => {
                    let index = self.realms.len();
                    self.realms.push(Realm::new(config));
                    self.realm_sessions
                        .push(self.session_counts.counter(&config.name));
                    summary.added.push(config.name.clone());
                    index
                }
            };
            next_index.insert(config.name.clone(), index);
        }
        summary.removed = self
            .realm_index
            .keys()
            .filter(|name| !next_index.contains_key(*name))
            .cloned()
            .collect();
        summary.removed.sort();
        self.next_realm_index = Some(next_index);
        summary
    }

    /// Step two of a reload, once every shard has prepared: new realms become joinable, and
    /// the sessions of removed realms get GOODBYE `wamp.close.close_realm` and are closed.
    pub fn commit_reload(&mut self) {
        let Some(next) = self.next_realm_index.take() else {
            return;
        };
        let removed: Vec<usize> = self
            .realm_index
            .iter()
            .filter(|(name, _)| !next.contains_key(*name))
            .map(|(_, &index)| index)
            .collect();
        self.realm_index = next;
        if removed.is_empty() {
            return;
        }
        let closing: Vec<ConnId> = self
            .sessions
            .conns_sorted()
            .into_iter()
            .filter(|&conn| {
                self.sessions
                    .joined(conn)
                    .is_some_and(|j| removed.contains(&j.realm))
            })
            .collect();
        for conn in closing {
            self.goodbye_and_close(
                conn,
                uris::CLOSE_REALM,
                "the realm was removed from the router's configuration",
            );
        }
    }

    /// Gives the sessions of realm `realm` their role's new index; returns how many lost it.
    fn remap_roles(&mut self, realm: usize, remap: &[(usize, bool)]) -> usize {
        let mut orphaned = 0;
        for conn in self.sessions.conns_sorted() {
            let Some(joined) = self.sessions.joined_mut(conn) else {
                continue;
            };
            if joined.realm != realm {
                continue;
            }
            if let Some(&(role, kept)) = remap.get(joined.role) {
                joined.role = role;
                orphaned += usize::from(!kept);
            }
        }
        orphaned
    }
}
