//! A realm as one shard holds it: roles, this shard's subscriptions, the registration replica,
//! and — on the realm's home shard — the realm-wide subscription ids and registration table.

use std::sync::Arc;

use hashbrown::HashMap;

use crate::config::RealmConfig;
use crate::wamp::uri::UriCheck;

use super::authz::Role;
use super::broker::Broker;
use super::dealer::Dealer;

/// One realm on one shard.
#[derive(Debug)]
pub(crate) struct Realm {
    pub(crate) name: String,
    pub(crate) uri_check: UriCheck,
    pub(crate) roles: Vec<Role>,
    role_index: HashMap<String, usize>,
    pub(crate) broker: Broker,
    pub(crate) dealer: Dealer,
    /// Home shard only: the realm-wide view the meta API answers from.
    pub(crate) catalog: super::meta::Catalog,
    /// Sessions joined on this shard.
    pub(crate) local_sessions: usize,
    /// `options.enable_meta_api`.
    pub(crate) meta_enabled: bool,
    /// `options.max_sessions`.
    pub(crate) max_sessions: Option<usize>,
    /// `options.call_timeout_unit`: how a CALL's `timeout` is read.
    pub(crate) call_timeout_unit: crate::config::CallTimeoutUnit,
    /// `options.disclose_callee`: RESULT details name the callee.
    pub(crate) disclose_callee: bool,
    /// Home shard only: event histories (`store.event-history`).
    pub(crate) history: super::history::History,
    /// The `store` the histories were made from (a reload that changes it starts them anew).
    store: Option<crate::config::StoreConfig>,
    /// The labels this shard's sessions were welcomed with, shared (see `AuthLabels`); as
    /// many as (role, authmethod, authprovider) combinations occur.
    auth_labels: Vec<Arc<super::meta::AuthLabels>>,
}

impl Realm {
    pub(crate) fn new(config: &RealmConfig) -> Self {
        let roles = roles_of(config);
        let role_index = index_roles(&roles);
        Realm {
            name: config.name.clone(),
            uri_check: config.uri_check,
            roles,
            role_index,
            broker: Broker::default(),
            dealer: Dealer::default(),
            catalog: Default::default(),
            meta_enabled: config.enable_meta_api,
            max_sessions: config.max_sessions,
            call_timeout_unit: config.call_timeout_unit,
            disclose_callee: config.disclose_callee,
            history: super::history::History::new(config.store.as_ref()),
            store: config.store.clone(),
            local_sessions: 0,
            auth_labels: Vec::new(),
        }
    }

    /// The shared labels for a session of `role` authenticated by `authmethod` through
    /// `authprovider`.
    pub(crate) fn auth_labels(
        &mut self,
        role: usize,
        authmethod: &'static str,
        authprovider: &'static str,
    ) -> Arc<super::meta::AuthLabels> {
        let authrole = &self.roles[role].name;
        let known = self.auth_labels.iter().find(|l| {
            l.authrole == *authrole && l.authmethod == authmethod && l.authprovider == authprovider
        });
        if let Some(labels) = known {
            return Arc::clone(labels);
        }
        let labels = Arc::new(super::meta::AuthLabels {
            authrole: Arc::clone(authrole),
            authmethod,
            authprovider,
        });
        self.auth_labels.push(Arc::clone(&labels));
        labels
    }

    pub(crate) fn role(&self, name: &str) -> Option<usize> {
        self.role_index.get(name).copied()
    }

    /// Takes a reloaded configuration's roles and options. Returns, for each role index before,
    /// the role's index now and whether the configuration still has it: a dropped role keeps a
    /// place with no permissions (its sessions are refused every action), and no new session
    /// gets it.
    pub(crate) fn reconfigure(&mut self, config: &RealmConfig) -> Vec<(usize, bool)> {
        let mut roles = roles_of(config);
        self.role_index = index_roles(&roles);
        let remap = self
            .roles
            .iter()
            .map(|old| match roles.iter().position(|r| r.name == old.name) {
                Some(index) => (index, true),
                None => {
                    roles.push(Role::denying(&old.name));
                    (roles.len() - 1, false)
                }
            })
            .collect();
        self.roles = roles;
        self.name = config.name.clone();
        self.uri_check = config.uri_check;
        self.meta_enabled = config.enable_meta_api;
        self.max_sessions = config.max_sessions;
        self.call_timeout_unit = config.call_timeout_unit;
        self.disclose_callee = config.disclose_callee;
        if self.store != config.store {
            self.history = super::history::History::new(config.store.as_ref());
            self.store = config.store.clone();
        }
        remap
    }
}

/// A realm's configured roles, and `trusted` (always there, as in Crossbar).
fn roles_of(config: &RealmConfig) -> Vec<Role> {
    let mut roles: Vec<Role> = config.roles.iter().map(Role::new).collect();
    if !roles.iter().any(|r| &*r.name == "trusted") {
        roles.push(Role::trusted());
    }
    roles
}

fn index_roles(roles: &[Role]) -> HashMap<String, usize> {
    roles
        .iter()
        .enumerate()
        .map(|(i, r)| (r.name.to_string(), i))
        .collect()
}
