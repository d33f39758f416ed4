//! Static authorization from a realm's roles: the permission that decides is the one pattern
//! that best matches the URI, as for a call's registration (`PatternIndex::best_match`): an
//! exact permission wins, then the longest `prefix` permission, then the most specific
//! `wildcard` permission; no match denies. A role with an `authorizer` has no static permissions: its sessions' actions are
//! decided by that procedure (see `authorizer.rs`).

use crate::config::{Allow, Disclose, Permission, RoleConfig};

use super::index::PatternIndex;

/// The four actions a permission governs (the discriminants index per-action tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Call = 0,
    Register = 1,
    Publish = 2,
    Subscribe = 3,
}

impl Action {
    /// The name a dynamic authorizer is called with.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Call => "call",
            Action::Register => "register",
            Action::Publish => "publish",
            Action::Subscribe => "subscribe",
        }
    }

    fn allowed(self, allow: &Allow) -> bool {
        match self {
            Action::Call => allow.call,
            Action::Register => allow.register,
            Action::Publish => allow.publish,
            Action::Subscribe => allow.subscribe,
        }
    }
}

/// The outcome of an authorization check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decision {
    /// The action may proceed.
    pub allow: bool,
    /// Identity disclosure forced by the matching permission.
    pub disclose: Disclose,
}

/// One role's permissions, indexed by match policy.
#[derive(Debug)]
pub struct Role {
    /// The role name.
    pub name: std::sync::Arc<str>,
    /// `trusted` is allowed everything, as in Crossbar.
    trusted: bool,
    /// The procedure that decides this role's actions, if the role is dynamic.
    pub authorizer: Option<std::sync::Arc<str>>,
    permissions: PatternIndex<Permission>,
}

impl Role {
    /// Indexes a configured role.
    pub fn new(config: &RoleConfig) -> Self {
        let mut role = Role::empty(&config.name);
        for p in &config.permissions {
            // The first of two permissions for the same pattern counts.
            if role.permissions.get(p.match_policy, &p.uri).is_none() {
                role.permissions.insert(p.match_policy, &p.uri, p.clone());
            }
        }
        role.authorizer = config.authorizer.as_deref().map(Into::into);
        role
    }

    /// The built-in `trusted` role: everything allowed, nothing disclosed.
    pub fn trusted() -> Self {
        let mut role = Role::empty("trusted");
        role.trusted = true;
        role
    }

    /// A role that may do nothing: the place of a role a reload removed, kept for the sessions
    /// that still have it.
    pub fn denying(name: &str) -> Self {
        Role::empty(name)
    }

    fn empty(name: &str) -> Self {
        Role {
            name: name.into(),
            trusted: false,
            authorizer: None,
            permissions: PatternIndex::default(),
        }
    }

    /// Decides whether this role may perform `action` on `uri` from its permissions (a dynamic
    /// role has none: it denies here, and its authorizer decides).
    pub fn authorize(&self, uri: &str, action: Action) -> Decision {
        if self.trusted {
            return Decision {
                allow: true,
                disclose: Disclose::default(),
            };
        }
        match self.permissions.best_match(uri) {
            Some(p) => Decision {
                allow: action.allowed(&p.allow),
                disclose: p.disclose,
            },
            None => Decision::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wamp::uri::MatchPolicy;

    fn perm(uri: &str, policy: MatchPolicy, allow: Allow) -> Permission {
        Permission {
            uri: uri.into(),
            match_policy: policy,
            allow,
            disclose: Disclose::default(),
            cache: true,
        }
    }

    const ALL: Allow = Allow {
        call: true,
        register: true,
        publish: true,
        subscribe: true,
    };
    const NONE: Allow = Allow {
        call: false,
        register: false,
        publish: false,
        subscribe: false,
    };
    const SUB_ONLY: Allow = Allow {
        call: false,
        register: false,
        publish: false,
        subscribe: true,
    };

    #[test]
    fn exact_beats_prefix_beats_wildcard() {
        let role = Role::new(&RoleConfig {
            name: "r".into(),
            permissions: vec![
                perm("com.app.", MatchPolicy::Prefix, ALL),
                perm("com.app.secret", MatchPolicy::Exact, NONE),
                perm("com..x", MatchPolicy::Wildcard, SUB_ONLY),
                perm("com.app.pub.", MatchPolicy::Prefix, SUB_ONLY),
            ],
            authorizer: None,
        });
        assert!(role.authorize("com.app.hello", Action::Publish).allow);
        assert!(!role.authorize("com.app.secret", Action::Subscribe).allow);
        assert!(!role.authorize("com.app.pub.x", Action::Publish).allow);
        assert!(role.authorize("com.app.pub.x", Action::Subscribe).allow);
        assert!(role.authorize("com.other.x", Action::Subscribe).allow);
        assert!(!role.authorize("com.other.x", Action::Publish).allow);
        assert!(!role.authorize("org.x", Action::Call).allow);
    }

    #[test]
    fn the_wildcard_whose_first_wildcard_comes_latest_decides() {
        let role = Role::new(&RoleConfig {
            name: "r".into(),
            permissions: vec![
                perm("com..temp", MatchPolicy::Wildcard, NONE),
                perm("com.dev1.", MatchPolicy::Wildcard, SUB_ONLY),
                perm("com.dev1.temp", MatchPolicy::Prefix, NONE),
                perm("com.dev1.temp", MatchPolicy::Prefix, ALL),
            ],
            authorizer: None,
        });
        assert!(role.authorize("com.dev1.pressure", Action::Subscribe).allow);
        assert!(!role.authorize("com.dev2.temp", Action::Subscribe).allow);
        // The first permission for one pattern counts, as a list read top to bottom would.
        assert!(!role.authorize("com.dev1.temp", Action::Subscribe).allow);
    }

    #[test]
    fn empty_prefix_allows_everything_and_trusted_always() {
        let role = Role::new(&RoleConfig {
            name: "anonymous".into(),
            permissions: vec![perm("", MatchPolicy::Prefix, ALL)],
            authorizer: None,
        });
        assert!(role.authorize("anything.at.all", Action::Register).allow);
        assert!(Role::trusted().authorize("x", Action::Call).allow);
    }
}
