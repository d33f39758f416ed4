//! What the benchmarks share: realms whose roles may do everything.

use ferrobar::config::{Permission, RealmConfig, RoleConfig};
use ferrobar::wamp::uri::UriCheck;

/// Everything allowed on every URI.
pub fn allow_everything() -> Vec<Permission> {
    vec![Permission::allow_everything()]
}

/// `realm1` with `roles` and every option at its default.
pub fn realm_with_roles(roles: Vec<RoleConfig>) -> RealmConfig {
    RealmConfig {
        name: "realm1".into(),
        roles,
        uri_check: UriCheck::Loose,
        enable_meta_api: true,
        max_sessions: None,
        store: None,
        call_timeout_unit: Default::default(),
        disclose_callee: true,
    }
}

/// `realm1`, where the anonymous role may do everything.
pub fn anonymous_realm() -> RealmConfig {
    realm_with_roles(vec![RoleConfig {
        name: "anonymous".into(),
        permissions: allow_everything(),
        authorizer: None,
    }])
}
