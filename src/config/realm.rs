//! Realms, roles and static permissions (`workers[].realms[]`). Authorization is where a
//! silently ignored key would change security, so everything ferrobar cannot honour here
//! (payload validation, realm stores, rlinks) is refused by name.

use serde_json::{Map, Value};

use super::model::{
    Allow, CallTimeoutUnit, Disclose, HistoryRule, Permission, RealmConfig, RoleConfig, StoreConfig,
};
use super::walk::{child, is_valid_id, item, Walker};
use crate::wamp::uri::{self, MatchPolicy, UriCheck};

const REALM_KEYS: &[&str] = &[
    "id",
    "name",
    "roles",
    "options",
    "store",
    "stats",
    "inventory",
    "rlinks",
];
const REALM_OPTION_KEYS: &[&str] = &[
    "event_dispatching_chunk_size",
    "uri_check",
    "enable_meta_api",
    "bridge_meta_api",
    "max_sessions",
    "call_timeout_unit",
    "disclose_callee",
];
const ROLE_KEYS: &[&str] = &[
    "id",
    "name",
    "permissions",
    "authorizer",
    "allow-by-default",
];
const PERMISSION_KEYS: &[&str] = &["uri", "match", "allow", "disclose", "cache", "validate"];

/// Autobahn's realm name rule (`_URI_PAT_REALM_NAME`), plus Ethereum addresses (`0x` + 40 hex
/// digits), which Crossbar also accepts.
pub(crate) fn is_valid_realm_name(name: &str) -> bool {
    let b = name.as_bytes();
    let standard = (3..=255).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_-@.".contains(c));
    let eth = name.len() == 42
        && name.starts_with("0x")
        && name[2..].bytes().all(|c| c.is_ascii_hexdigit());
    standard || eth
}

/// Autobahn's `convert_starred_uri`: a version-1 permission URI with `*` and no explicit
/// `match`. No star: exact. One trailing star: prefix without it. Otherwise: wildcard with
/// the stars removed (`com.*.update` -> `com..update`).
pub(crate) fn convert_starred_uri(uri: &str) -> (String, MatchPolicy) {
    let stars = uri.matches('*').count();
    if stars == 0 {
        (uri.to_string(), MatchPolicy::Exact)
    } else if stars == 1 && uri.ends_with('*') {
        (uri[..uri.len() - 1].to_string(), MatchPolicy::Prefix)
    } else {
        (uri.replace('*', ""), MatchPolicy::Wildcard)
    }
}

/// One realm.
pub(crate) fn walk_realm(w: &mut Walker, v: &Value, path: &str) -> Option<RealmConfig> {
    let map = w.object(v, path)?;
    w.keys(map, path, REALM_KEYS);
    if let Some(id) = map.get("id") {
        if !id.as_str().is_some_and(is_valid_id) {
            w.expected(
                &child(path, "id"),
                "an id matching ^[a-z][a-z0-9_]{2,63}$",
                id,
            );
        }
    }
    w.unsupported_keys(
        map,
        path,
        &[
            ("stats", "session statistics (wamp.session.on_stats)"),
            ("inventory", "the realm type inventory"),
            ("rlinks", "router-to-router links (rlinks)"),
        ],
    );
    let name = w.req_str(map, path, "name");
    if let Some(n) = name {
        if !is_valid_realm_name(n) {
            let msg = format!(
                "invalid realm name {n:?} (expected 3 to 255 characters of letters, digits, \
                 _ - @ . starting with a letter, or an Ethereum address)"
            );
            w.error(&child(path, "name"), msg);
        }
    }
    let options = walk_options(w, map, path);
    let store = map
        .get("store")
        .and_then(|v| walk_store(w, v, &child(path, "store")));

    let mut roles: Vec<RoleConfig> = Vec::new();
    if let Some(list) = map
        .get("roles")
        .and_then(|v| w.list(v, &child(path, "roles")))
    {
        let rpath = child(path, "roles");
        for (i, v) in list.iter().enumerate() {
            let p = item(&rpath, i);
            if let Some(role) = walk_role(w, v, &p) {
                if roles.iter().any(|r| r.name == role.name) {
                    w.error(
                        &child(&p, "name"),
                        format!("role '{}' is defined twice", role.name),
                    );
                }
                roles.push(role);
            }
        }
    }
    Some(RealmConfig {
        name: name?.to_string(),
        roles,
        uri_check: options.uri_check,
        enable_meta_api: options.enable_meta_api,
        max_sessions: options.max_sessions,
        store,
        call_timeout_unit: options.call_timeout_unit,
        disclose_callee: options.disclose_callee,
    })
}

const STORE_KEYS: &[&str] = &["type", "limit", "event-history", "call-queue"];
const HISTORY_KEYS: &[&str] = &["uri", "match", "limit"];

/// `store`: Crossbar's in-memory realm store. Only its event history is built; `call-queue`
/// (queueing calls over a callee's concurrency) and the persistent `cfxdb` store are refused.
fn walk_store(w: &mut Walker, v: &Value, path: &str) -> Option<StoreConfig> {
    let map = w.object(v, path)?;
    w.keys(map, path, STORE_KEYS);
    match map.get("type") {
        Some(Value::String(t)) if t == "memory" => {}
        Some(Value::String(t)) if t == "cfxdb" => {
            w.unsupported(
                &child(path, "type"),
                "the persistent realm store (type 'cfxdb')",
            );
        }
        Some(other) => w.expected(&child(path, "type"), "\"memory\"", other),
        None => w.error(&child(path, "type"), "expected a store type (\"memory\")"),
    }
    w.unsupported_keys(map, path, &[("call-queue", "call queueing ('call-queue')")]);
    let limit = w.opt_int(map, path, "limit", 1, 1_000_000).unwrap_or(100) as usize;
    let mut event_history = Vec::new();
    if let Some(list) = map
        .get("event-history")
        .and_then(|v| w.list(v, &child(path, "event-history")))
    {
        let hpath = child(path, "event-history");
        for (i, v) in list.iter().enumerate() {
            let p = item(&hpath, i);
            let Some(entry) = w.object(v, &p) else {
                continue;
            };
            w.keys(entry, &p, HISTORY_KEYS);
            let Some(uri_text) = w.req_str(entry, &p, "uri") else {
                continue;
            };
            let match_policy = match entry.get("match") {
                None => MatchPolicy::Exact,
                Some(Value::String(m)) if MatchPolicy::parse(m).is_some() => {
                    MatchPolicy::parse(m).unwrap_or_default()
                }
                Some(other) => {
                    w.expected(
                        &child(&p, "match"),
                        "\"exact\", \"prefix\" or \"wildcard\"",
                        other,
                    );
                    continue;
                }
            };
            if !uri::is_valid(uri_text, UriCheck::Loose, match_policy) {
                w.error(
                    &child(&p, "uri"),
                    format!(
                        "invalid topic URI {uri_text:?} for match {}",
                        match_policy.as_str()
                    ),
                );
                continue;
            }
            let entry_limit = w
                .opt_int(entry, &p, "limit", 1, 1_000_000)
                .map_or(limit, |l| l as usize);
            event_history.push(HistoryRule {
                uri: uri_text.to_owned(),
                match_policy,
                limit: entry_limit,
            });
        }
    }
    Some(StoreConfig {
        limit,
        event_history,
    })
}

/// What a realm's `options` say.
struct RealmOptions {
    uri_check: UriCheck,
    enable_meta_api: bool,
    max_sessions: Option<usize>,
    call_timeout_unit: CallTimeoutUnit,
    disclose_callee: bool,
}

impl Default for RealmOptions {
    fn default() -> Self {
        RealmOptions {
            uri_check: UriCheck::default(),
            enable_meta_api: true,
            max_sessions: None,
            call_timeout_unit: CallTimeoutUnit::default(),
            disclose_callee: true,
        }
    }
}

fn walk_options(w: &mut Walker, map: &Map<String, Value>, path: &str) -> RealmOptions {
    let mut options = RealmOptions::default();
    let Some(o) = map.get("options") else {
        return options;
    };
    let opath = child(path, "options");
    let Some(o) = w.object(o, &opath) else {
        return options;
    };
    options.max_sessions = w
        .opt_int(o, &opath, "max_sessions", 1, u32::MAX as u64)
        .map(|n| n as usize);
    w.keys(o, &opath, REALM_OPTION_KEYS);
    if o.contains_key("event_dispatching_chunk_size")
        && w.opt_int(
            o,
            &opath,
            "event_dispatching_chunk_size",
            1,
            u32::MAX as u64,
        )
        .is_some()
    {
        w.no_effect(&opath, "event_dispatching_chunk_size");
    }
    options.enable_meta_api = w.opt_bool(o, &opath, "enable_meta_api").unwrap_or(true);
    if w.opt_bool(o, &opath, "bridge_meta_api") == Some(true) {
        // There is no node management router to bridge to.
        w.no_effect(&opath, "bridge_meta_api");
    }
    options.uri_check = match o.get("uri_check") {
        None => UriCheck::default(),
        Some(Value::String(s)) if s == "strict" => UriCheck::Strict,
        Some(Value::String(s)) if s == "loose" => UriCheck::Loose,
        Some(other) => {
            w.expected(
                &child(&opath, "uri_check"),
                "\"strict\" or \"loose\"",
                other,
            );
            UriCheck::default()
        }
    };
    options.call_timeout_unit = match o.get("call_timeout_unit") {
        None => CallTimeoutUnit::default(),
        Some(Value::String(s)) if s == "s" => CallTimeoutUnit::Seconds,
        Some(Value::String(s)) if s == "ms" => CallTimeoutUnit::Millis,
        Some(other) => {
            w.expected(
                &child(&opath, "call_timeout_unit"),
                "\"s\" or \"ms\"",
                other,
            );
            CallTimeoutUnit::default()
        }
    };
    options.disclose_callee = w.opt_bool(o, &opath, "disclose_callee").unwrap_or(true);
    options
}

fn walk_role(w: &mut Walker, v: &Value, path: &str) -> Option<RoleConfig> {
    let map = w.object(v, path)?;
    w.keys(map, path, ROLE_KEYS);
    if let Some(id) = map.get("id") {
        if !id.as_str().is_some_and(is_valid_id) {
            w.expected(
                &child(path, "id"),
                "an id matching ^[a-z][a-z0-9_]{2,63}$",
                id,
            );
        }
    }
    let name = w.req_str(map, path, "name");
    if name == Some("") {
        w.error(&child(path, "name"), "expected a non-empty role name");
    }
    let authorizer = w.opt_str(map, path, "authorizer").map(str::to_owned);
    if let Some(a) = &authorizer {
        if !uri::is_valid(a, UriCheck::Strict, MatchPolicy::Exact) {
            w.error(
                &child(path, "authorizer"),
                format!("invalid authorizer procedure URI \"{a}\""),
            );
        }
        if map.contains_key("permissions") {
            // Crossbar's dynamic role ignores them too; say so rather than leave a reader
            // believing they restrict anything.
            w.warn(
                &child(path, "permissions"),
                "ignored: the role's authorizer decides every action",
            );
        }
    }
    // allow-by-default would grant every action no permission mentions.
    if w.opt_bool(map, path, "allow-by-default") == Some(true) {
        w.unsupported(&child(path, "allow-by-default"), "allow-by-default: true");
    }
    let mut permissions = Vec::new();
    if let Some(list) = map
        .get("permissions")
        .and_then(|v| w.list(v, &child(path, "permissions")))
    {
        let ppath = child(path, "permissions");
        for (i, v) in list.iter().enumerate() {
            if let Some(p) = walk_permission(w, v, &item(&ppath, i)) {
                permissions.push(p);
            }
        }
    }
    Some(RoleConfig {
        name: name?.to_string(),
        permissions,
        authorizer,
    })
}

fn walk_permission(w: &mut Walker, v: &Value, path: &str) -> Option<Permission> {
    let map = w.object(v, path)?;
    w.keys(map, path, PERMISSION_KEYS);
    if map.contains_key("validate") {
        w.unsupported(
            &child(path, "validate"),
            "payload validation ('validate', needs a realm inventory)",
        );
    }
    let raw = w.req_str(map, path, "uri");
    // Crossbar skips the starred-URI conversion when `match` is given explicitly.
    let explicit = match map.get("match") {
        None => None,
        Some(Value::String(s)) if MatchPolicy::parse(s).is_some() => MatchPolicy::parse(s),
        Some(other) => {
            w.expected(
                &child(path, "match"),
                "\"exact\", \"prefix\" or \"wildcard\"",
                other,
            );
            return None;
        }
    };
    let allow = walk_flags(
        w,
        map,
        path,
        "allow",
        &["call", "register", "publish", "subscribe"],
    );
    let disclose = walk_flags(w, map, path, "disclose", &["caller", "publisher"]);
    let cache = w.opt_bool(map, path, "cache").unwrap_or(false);
    let raw = raw?;
    let (uri, match_policy) = match explicit {
        Some(m) => (raw.to_string(), m),
        None => convert_starred_uri(raw),
    };
    let upath = child(path, "uri");
    if uri.is_empty() && match_policy == MatchPolicy::Exact {
        // Older Crossbar releases took an empty URI as the role's default permissions; refuse
        // the ambiguity rather than guess.
        w.error(
            &upath,
            "an empty URI needs \"match\": \"prefix\" (which matches every URI)",
        );
        return None;
    }
    if !uri::is_valid(&uri, UriCheck::Loose, match_policy) {
        let msg = format!(
            "invalid URI {raw:?} for match policy {}",
            match_policy.as_str()
        );
        w.error(&upath, msg);
        return None;
    }
    Some(Permission {
        uri,
        match_policy,
        allow: Allow {
            call: allow[0],
            register: allow[1],
            publish: allow[2],
            subscribe: allow[3],
        },
        disclose: Disclose {
            caller: disclose[0],
            publisher: disclose[1],
        },
        cache,
    })
}

/// An object of bool flags (`allow`, `disclose`); absent flags are false.
fn walk_flags(
    w: &mut Walker,
    map: &Map<String, Value>,
    path: &str,
    key: &str,
    flags: &[&str],
) -> Vec<bool> {
    let mut out = vec![false; flags.len()];
    let Some(v) = map.get(key) else { return out };
    let fpath = child(path, key);
    let Some(m) = w.object(v, &fpath) else {
        return out;
    };
    w.keys(m, &fpath, flags);
    for (i, f) in flags.iter().enumerate() {
        out[i] = w.opt_bool(m, &fpath, f).unwrap_or(false);
    }
    out
}
