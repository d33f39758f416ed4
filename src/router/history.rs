//! Event history (Crossbar's in-memory realm store): the last N events of configured topics,
//! kept by the realm's home shard (which sees every publication) and read back with
//! `wamp.subscription.get_events`.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::config::{HistoryRule, StoreConfig};
use crate::wamp::uri::MatchPolicy;

use super::shard_msg::Publication;

/// One configured history and its events, oldest first.
#[derive(Debug)]
struct Store {
    rule: HistoryRule,
    events: VecDeque<(u64, Arc<Publication>)>,
}

/// A realm's event histories.
#[derive(Debug, Default)]
pub(crate) struct History {
    stores: Vec<Store>,
}

impl History {
    pub(crate) fn new(config: Option<&StoreConfig>) -> Self {
        let stores = config
            .map(|c| {
                c.event_history
                    .iter()
                    .map(|rule| Store {
                        rule: rule.clone(),
                        events: VecDeque::new(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        History { stores }
    }

    /// True when no topic keeps a history (the common case: nothing to do per publication).
    pub(crate) fn is_empty(&self) -> bool {
        self.stores.is_empty()
    }

    /// Keeps `publication` in every history whose topic pattern matches it.
    pub(crate) fn record(&mut self, publication: &Arc<Publication>, time_ns: u64) {
        for store in &mut self.stores {
            if store
                .rule
                .match_policy
                .matches(&store.rule.uri, &publication.topic)
            {
                if store.events.len() >= store.rule.limit {
                    store.events.pop_front();
                }
                store.events.push_back((time_ns, Arc::clone(publication)));
            }
        }
    }

    /// The events kept for exactly this (policy, URI), newest first; `None` when no history is
    /// configured for it.
    pub(crate) fn events(
        &self,
        policy: MatchPolicy,
        uri: &str,
    ) -> Option<impl Iterator<Item = &(u64, Arc<Publication>)>> {
        let store = self
            .stores
            .iter()
            .find(|s| s.rule.match_policy == policy && s.rule.uri == uri)?;
        Some(store.events.iter().rev())
    }
}
