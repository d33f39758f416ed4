//! Finding, reading and checking a Crossbar node config (`config.json`, version 2), and the
//! built-in default node. The JSON is walked by hand (not derived) so that every problem is
//! reported with its JSON path, all of them in one run.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::error::{ConfigError, ConfigErrors, Notice};
use super::model::*;
use super::walk::{child, env_name, item, normalize, EnvLookup, Walker};
use super::{realm, transport};
use crate::wamp::uri::UriCheck;

/// The default node as `ferrobar init` writes it (and `config/default` ships it): Crossbar's
/// getting-started node. Realm `realm1` where role `anonymous` may do everything, and a web
/// transport on port 8080 serving `../web` at `/`, WAMP-over-WebSocket at `/ws` and the node
/// info page at `/info`. [`default_node`] is the same node, built without parsing.
pub const DEFAULT_CONFIG_JSON: &str = r#"{
    "$schema": "https://raw.githubusercontent.com/crossbario/crossbar/master/crossbar.json",
    "version": 2,
    "controller": {},
    "workers": [
        {
            "type": "router",
            "realms": [
                {
                    "name": "realm1",
                    "roles": [
                        {
                            "name": "anonymous",
                            "permissions": [
                                {
                                    "uri": "",
                                    "match": "prefix",
                                    "allow": {
                                        "call": true,
                                        "register": true,
                                        "publish": true,
                                        "subscribe": true
                                    },
                                    "disclose": {
                                        "caller": false,
                                        "publisher": false
                                    },
                                    "cache": true
                                }
                            ]
                        }
                    ]
                }
            ],
            "transports": [
                {
                    "type": "web",
                    "endpoint": {
                        "type": "tcp",
                        "port": 8080
                    },
                    "paths": {
                        "/": {
                            "type": "static",
                            "directory": "../web",
                            "options": {
                                "enable_directory_listing": true
                            }
                        },
                        "ws": {
                            "type": "websocket"
                        },
                        "info": {
                            "type": "nodeinfo"
                        }
                    }
                }
            ]
        }
    ]
}
"#;

/// A config checked without side effects: the result plus the notices to show the user.
#[derive(Debug)]
pub struct Checked {
    /// The node, or every problem found.
    pub result: Result<NodeConfig, ConfigErrors>,
    /// Accepted keys that deserve a line (no effect, not enforced yet, missing directory...).
    pub notices: Vec<Notice>,
}

impl Checked {
    /// Logs the notices through `tracing` (when the config is valid) and returns the result.
    pub fn log_notices(self) -> Result<NodeConfig, ConfigErrors> {
        // With errors, only the errors matter: the notices come back once they are fixed.
        if self.result.is_ok() {
            for n in &self.notices {
                n.log();
            }
        }
        self.result
    }
}

/// Finds the config in a node directory as Crossbar does: `config.yaml` first, then
/// `config.json`. `Ok(None)` when there is neither; an error when only a YAML file exists,
/// since ferrobar reads JSON only (convert it with `crossbar convert`).
pub fn find_config(cbdir: &Path) -> Result<Option<PathBuf>, ConfigError> {
    let yaml = cbdir.join("config.yaml");
    let json = cbdir.join("config.json");
    match (yaml.is_file(), json.is_file()) {
        (_, true) => {
            if yaml.is_file() {
                // Crossbar would read the YAML one; say which one ferrobar reads.
                tracing::warn!(
                    "{}: both config.yaml and config.json exist; Crossbar reads config.yaml, \
                     ferrobar reads config.json",
                    cbdir.display()
                );
            }
            Ok(Some(json))
        }
        (true, false) => Err(yaml_unsupported(&yaml)),
        (false, false) => Ok(None),
    }
}

fn yaml_unsupported(path: &Path) -> ConfigError {
    ConfigError::new(
        path.display().to_string(),
        "config.yaml is not supported yet: convert it to config.json (`crossbar convert`)",
    )
}

/// Loads and checks a config file; relative paths in it resolve against the file's directory.
/// Notices are logged through `tracing`.
pub fn load_file(path: &Path) -> Result<NodeConfig, ConfigErrors> {
    let cbdir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    check_file(path, &cbdir).log_notices()
}

/// Loads and checks a config file whose relative paths resolve against `cbdir` (Crossbar's
/// rule when `--config` names a file outside the node directory). Notices are logged.
pub fn load_file_in(path: &Path, cbdir: &Path) -> Result<NodeConfig, ConfigErrors> {
    check_file(path, cbdir).log_notices()
}

/// Reads and checks a config file without logging: for `ferrobar check`, which prints the
/// notices itself.
pub fn check_file(path: &Path, cbdir: &Path) -> Checked {
    let fail = |message: String| Checked {
        result: Err(ConfigErrors::one(path.display().to_string(), message)),
        notices: Vec::new(),
    };
    if let Some("yaml" | "yml") = path.extension().and_then(|e| e.to_str()) {
        return Checked {
            result: Err(ConfigErrors(vec![yaml_unsupported(path)])),
            notices: vec![],
        };
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return fail("no such file".into());
        }
        Err(e) => return fail(format!("cannot read: {e}")),
    };
    let mut checked = check_str(&text, cbdir, &|name| std::env::var(name).ok());
    if let Err(errors) = &mut checked.result {
        // A JSON syntax error has no JSON path; name the file instead.
        for e in &mut errors.0 {
            if e.path.is_empty() {
                e.path = path.display().to_string();
            }
        }
    }
    checked
}

/// Parses and checks config text; relative paths resolve against `cbdir`. Notices are logged.
pub fn parse_str(text: &str, cbdir: &Path) -> Result<NodeConfig, ConfigErrors> {
    check_str(text, cbdir, &|name| std::env::var(name).ok()).log_notices()
}

/// Parses and checks config text with an explicit environment (tests use a fixed one).
pub fn check_str(text: &str, cbdir: &Path, env: EnvLookup<'_>) -> Checked {
    let root: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let msg = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let detail = msg.strip_suffix(&suffix).unwrap_or(&msg);
            let message = format!(
                "invalid JSON at line {}, column {}: {detail}",
                e.line(),
                e.column()
            );
            return Checked {
                result: Err(ConfigErrors::one("", message)),
                notices: Vec::new(),
            };
        }
    };
    let mut w = Walker::new(absolute(cbdir), env);
    let node = walk_root(&mut w, &root);
    let result = match node {
        Some(node) if w.errors.is_empty() => Ok(node),
        _ => Err(ConfigErrors(w.errors)),
    };
    Checked {
        result,
        notices: w.notices,
    }
}

/// The node directory as an absolute, lexically normalised path.
fn absolute(cbdir: &Path) -> PathBuf {
    normalize(&std::path::absolute(cbdir).unwrap_or_else(|_| cbdir.to_path_buf()))
}

/// Crossbar's default node (the same as [`DEFAULT_CONFIG_JSON`]), what `ferrobar start` runs
/// in a node directory that has no config file.
pub fn default_node(cbdir: &Path) -> NodeConfig {
    let cbdir = absolute(cbdir);
    let allow_all = Permission::allow_everything();
    let web = WebService {
        root: Some(PathService::Static(StaticService {
            directory: normalize(&cbdir.join("../web")),
            enable_directory_listing: true,
            default_file: None,
            cache_timeout: None,
            mime_types: Vec::new(),
        })),
        paths: vec![
            ("info".into(), PathService::NodeInfo),
            (
                "ws".into(),
                PathService::WebSocket(WebSocketService::default()),
            ),
        ],
    };
    NodeConfig {
        cbdir,
        node_id: None,
        routers: vec![RouterConfig {
            id: "worker001".into(),
            shards: None,
            reactor: None,
            limits: Limits::default(),
            realms: vec![RealmConfig {
                name: "realm1".into(),
                roles: vec![RoleConfig {
                    name: "anonymous".into(),
                    permissions: vec![allow_all],
                    authorizer: None,
                }],
                uri_check: UriCheck::Loose,
                enable_meta_api: true,
                max_sessions: None,
                store: None,
                call_timeout_unit: Default::default(),
                disclose_callee: true,
            }],
            transports: vec![TransportConfig {
                id: "transport001".into(),
                endpoint: Endpoint::Tcp {
                    port: 8080,
                    interface: None,
                    version: IpVersion::V4,
                    backlog: transport::DEFAULT_BACKLOG,
                    tls: None,
                },
                kind: TransportKind::Web(web),
                anonymous: AnonymousAuth::default(),
                auth: AuthConfig::default(),
                max_connections: 50_000,
            }],
        }],
    }
}

const TOP_KEYS: &[&str] = &["$schema", "version", "controller", "workers"];
const UPGRADE: &str = "please upgrade with `crossbar upgrade`";

fn walk_root(w: &mut Walker, root: &Value) -> Option<NodeConfig> {
    let Value::Object(map) = root else {
        w.expected("(top level)", "an object", root);
        return None;
    };
    // A version-1 config fails on almost every key; one line saying so is more useful.
    match map.get("version") {
        None => {
            w.error(
                "version",
                format!("missing: this looks like a version 1 config, {UPGRADE}"),
            );
            return None;
        }
        Some(v) if v.as_u64() == Some(1) => {
            w.error("version", format!("config version 1 is too old, {UPGRADE}"));
            return None;
        }
        Some(v) if v.as_u64() == Some(2) => {}
        Some(v) => w.expected("version", "2", v),
    }
    w.keys(map, "", TOP_KEYS);
    if let Some(v) = map.get("$schema").filter(|v| !v.is_string()) {
        w.expected("$schema", "a string", v);
    }
    let node_id = map
        .get("controller")
        .and_then(|c| walk_controller(w, c, "controller"));

    let mut routers = Vec::new();
    if let Some(workers) = map.get("workers").and_then(|v| w.list(v, "workers")) {
        let mut generated = 0;
        for (i, v) in workers.iter().enumerate() {
            let path = item("workers", i);
            if let Some(r) = walk_worker(w, v, &path, &mut generated) {
                routers.push(r);
            }
        }
    }
    let routers: Vec<RouterConfig> = routers.into_iter().flatten().collect();
    cross_checks(w, &routers);
    if routers.is_empty() && w.errors.is_empty() {
        w.warn(
            "workers",
            "no router worker is enabled: the node will serve nothing",
        );
    }
    Some(NodeConfig {
        cbdir: w.cbdir.clone(),
        node_id,
        routers,
    })
}

fn walk_controller(w: &mut Walker, v: &Value, path: &str) -> Option<String> {
    let map = w.object(v, path)?;
    w.keys(
        map,
        path,
        &["id", "options", "manhole", "connections", "keyring"],
    );
    let id = match map.get("id") {
        Some(Value::String(s)) if super::walk::is_valid_id(s) => Some(s.clone()),
        Some(other) => {
            w.expected(
                &child(path, "id"),
                "an id matching ^[a-z][a-z0-9_]{2,63}$",
                other,
            );
            None
        }
        None => None,
    };
    if let Some(options) = map.get("options") {
        let opath = child(path, "options");
        if let Some(o) = w.object(options, &opath) {
            w.keys(
                o,
                &opath,
                &["title", "shutdown", "enable_parallel_worker_start"],
            );
            w.opt_str(o, &opath, "title");
            w.opt_bool(o, &opath, "enable_parallel_worker_start");
            if let Some(s) = o.get("shutdown") {
                check_shutdown(w, s, &child(&opath, "shutdown"));
            }
            w.no_effect_keys(
                o,
                &opath,
                &["title", "shutdown", "enable_parallel_worker_start"],
            );
        }
    }
    if let Some(k) = map.get("keyring") {
        let kpath = child(path, "keyring");
        if let Some(k) = w.object(k, &kpath) {
            match k.get("type").and_then(Value::as_str) {
                Some("file") => w.keys(k, &kpath, &["type", "path"]),
                Some("hsm") => w.keys(k, &kpath, &["type", "driver", "port"]),
                _ => w.error(&child(&kpath, "type"), "expected \"file\" or \"hsm\""),
            }
        }
    }
    // The node key only serves cryptosign mutual auth and management uplinks, which ferrobar
    // does not have; the manhole is a Python REPL.
    w.no_effect_keys(map, path, &["keyring", "connections"]);
    if map.contains_key("manhole") {
        w.warn(
            path,
            "manhole (the Python SSH shell) has no effect in ferrobar",
        );
    }
    id
}

const SHUTDOWN_MODES: &[&str] = &[
    "shutdown_on_shutdown_requested",
    "shutdown_on_worker_exit",
    "shutdown_on_worker_exit_with_error",
    "shutdown_on_last_worker_exit",
];

fn check_shutdown(w: &mut Walker, v: &Value, path: &str) {
    let modes: Vec<(String, &Value)> = match v {
        Value::String(_) => vec![(path.to_string(), v)],
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, m)| (item(path, i), m))
            .collect(),
        other => return w.expected(path, "a shutdown mode or a list of them", other),
    };
    for (p, m) in modes {
        if !m.as_str().is_some_and(|s| SHUTDOWN_MODES.contains(&s)) {
            w.expected(&p, &format!("one of {}", SHUTDOWN_MODES.join(", ")), m);
        }
    }
}

/// One `workers[]` entry. `Some(None)` for a valid but disabled router worker.
fn walk_worker(
    w: &mut Walker,
    v: &Value,
    path: &str,
    generated: &mut usize,
) -> Option<Option<RouterConfig>> {
    let map = w.object(v, path)?;
    let tpath = child(path, "type");
    let kind = match map.get("type") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            w.expected(&tpath, "a worker type", other);
            return None;
        }
        None => {
            w.error(&tpath, "missing (expected \"router\")");
            return None;
        }
    };
    let id = w.item_id(map, path, "worker", generated);
    match kind {
        "router" => walk_router(w, map, path, id),
        "container" | "guest" | "proxy" | "websocket-testee" => {
            w.unsupported(&tpath, format!("worker type '{kind}'"));
            None
        }
        "hostmonitor" | "xbrmm" => {
            w.unsupported(&tpath, format!("worker type '{kind}' (Crossbar edge)"));
            None
        }
        other => {
            w.error(
                &tpath,
                format!(
                    "unknown worker type '{other}' (expected router; container, guest, proxy \
                     and websocket-testee are not supported yet)"
                ),
            );
            None
        }
    }
}

const ROUTER_KEYS: &[&str] = &[
    "id",
    "type",
    "options",
    "manhole",
    "realms",
    "transports",
    "components",
    "connections",
];

const WORKER_OPTION_KEYS: &[&str] = &[
    "extra",
    "title",
    "python",
    "pythonpath",
    "cpu_affinity",
    "env",
    "expose_controller",
    "expose_shared",
    "disabled",
    "shards",
    "reactor",
    "limits",
];

const LIMIT_KEYS: &[&str] = &[
    "max_connections",
    "max_output_bytes",
    "slow_consumer",
    "write_stall_timeout",
    "hello_timeout",
    "max_pending_calls",
];

/// `options.limits` of a router worker (ferrobar's own keys; times in ms as Crossbar's are).
fn walk_limits(w: &mut Walker, v: &Value, path: &str) -> Limits {
    let mut limits = Limits::default();
    let Some(map) = w.object(v, path) else {
        return limits;
    };
    w.keys(map, path, LIMIT_KEYS);
    let int = |w: &mut Walker, key: &str, min: u64, max: u64| w.opt_int(map, path, key, min, max);
    if let Some(n) = int(w, "max_connections", 1, u32::MAX as u64) {
        limits.max_connections = n as usize;
    }
    if let Some(n) = int(w, "max_output_bytes", 64 * 1024, 1 << 32) {
        // 4 GiB does not fit a 32-bit usize (armhf): saturate, never wrap to 0.
        limits.max_output_bytes = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(n) = int(w, "write_stall_timeout", 1000, 3_600_000) {
        limits.write_stall_timeout_ms = n;
    }
    if let Some(n) = int(w, "hello_timeout", 1000, 3_600_000) {
        limits.hello_timeout_ms = n;
    }
    if let Some(n) = int(w, "max_pending_calls", 1, u32::MAX as u64) {
        limits.max_pending_calls = n as usize;
    }
    match map.get("slow_consumer") {
        None => {}
        Some(Value::String(s)) if s == "close" => limits.slow_consumer = SlowConsumerPolicy::Close,
        Some(Value::String(s)) if s == "drop-events" => {
            limits.slow_consumer = SlowConsumerPolicy::DropEvents
        }
        Some(other) => w.expected(
            &child(path, "slow_consumer"),
            "\"close\" or \"drop-events\"",
            other,
        ),
    }
    limits
}

fn walk_router(
    w: &mut Walker,
    map: &Map<String, Value>,
    path: &str,
    id: String,
) -> Option<Option<RouterConfig>> {
    w.keys(map, path, ROUTER_KEYS);
    let mut shards = None;
    let mut reactor = None;
    let mut limits = Limits::default();
    let mut disabled = false;
    if let Some(o) = map.get("options") {
        let opath = child(path, "options");
        if let Some(o) = w.object(o, &opath) {
            w.keys(o, &opath, WORKER_OPTION_KEYS);
            shards = w.opt_int(o, &opath, "shards", 1, 256).map(|n| n as usize);
            if let Some(v) = o.get("reactor") {
                match v.as_str().and_then(ReactorKind::parse) {
                    Some(r) => reactor = Some(r),
                    None => w.expected(&child(&opath, "reactor"), ReactorKind::NAMES, v),
                }
            }
            if let Some(l) = o.get("limits") {
                limits = walk_limits(w, l, &child(&opath, "limits"));
            }
            disabled = worker_disabled(w, o, &opath);
            w.opt_str(o, &opath, "title");
            w.opt_str(o, &opath, "python");
            w.opt_bool(o, &opath, "expose_controller");
            w.opt_bool(o, &opath, "expose_shared");
            for key in ["pythonpath", "cpu_affinity"] {
                if let Some(v) = o.get(key) {
                    w.list(v, &child(&opath, key));
                }
            }
            if let Some(v) = o.get("env") {
                w.object(v, &child(&opath, "env"));
            }
            let knobs = [
                "extra",
                "title",
                "python",
                "pythonpath",
                "cpu_affinity",
                "env",
                "expose_controller",
                "expose_shared",
            ];
            w.no_effect_keys(o, &opath, &knobs);
        }
    }
    if map.contains_key("manhole") {
        w.warn(
            path,
            "manhole (the Python SSH shell) has no effect in ferrobar",
        );
    }
    w.no_effect_keys(map, path, &["connections"]);
    if let Some(c) = map.get("components") {
        let cpath = child(path, "components");
        if let Some(list) = w.list(c, &cpath) {
            if !list.is_empty() {
                w.unsupported(&cpath, "embedded router components ('components')");
            }
        }
    }

    let mut realms = Vec::new();
    if let Some(list) = map
        .get("realms")
        .and_then(|v| w.list(v, &child(path, "realms")))
    {
        let rpath = child(path, "realms");
        for (i, v) in list.iter().enumerate() {
            let p = item(&rpath, i);
            if let Some(r) = realm::walk_realm(w, v, &p) {
                if let Some(j) = realms
                    .iter()
                    .position(|(_, x): &(String, RealmConfig)| x.name == r.name)
                {
                    w.error(
                        &child(&p, "name"),
                        format!("realm '{}' is also defined at {}", r.name, realms[j].0),
                    );
                }
                realms.push((p, r));
            }
        }
    }
    let mut transports = Vec::new();
    if let Some(list) = map
        .get("transports")
        .and_then(|v| w.list(v, &child(path, "transports")))
    {
        let tpath = child(path, "transports");
        let mut generated = 0;
        for (i, v) in list.iter().enumerate() {
            let p = item(&tpath, i);
            if let Some(t) = transport::walk_transport(w, v, &p, &mut generated) {
                if let Some(j) = transports
                    .iter()
                    .position(|(_, x): &(String, TransportConfig)| x.id == t.id)
                {
                    w.error(
                        &child(&p, "id"),
                        format!(
                            "transport id '{}' is also used at {}",
                            t.id, transports[j].0
                        ),
                    );
                }
                transports.push((p, t));
            }
        }
    }
    let realm_names: Vec<&str> = realms.iter().map(|(_, r)| r.name.as_str()).collect();
    for (p, t) in &transports {
        super::mqtt::check_realm(w, p, t, &realm_names);
    }
    if disabled {
        w.info(
            path,
            format!("worker '{id}' is disabled (options.disabled): skipped"),
        );
        return Some(None);
    }
    // Only when the config lists none: a list whose items all failed already has errors.
    let listed = |key: &str| {
        map.get(key)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    };
    if !listed("realms") {
        w.warn(path, "no realm: no client can join this router");
    }
    if !listed("transports") {
        w.warn(path, "no transport: nothing listens for this router");
    }
    Some(Some(RouterConfig {
        id,
        shards,
        reactor,
        limits,
        realms: realms.into_iter().map(|(_, r)| r).collect(),
        transports: transports.into_iter().map(|(_, t)| t).collect(),
    }))
}

/// `options.disabled`: a bool, or a string where `"${VAR}"` reads the variable (unset or empty
/// means enabled) and any other non-empty string means disabled, as Crossbar's
/// `maybe_from_env` handling does.
fn worker_disabled(w: &mut Walker, o: &Map<String, Value>, opath: &str) -> bool {
    match o.get("disabled") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => match s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
            Some(name) if env_name(s).is_some() => match w.env(name) {
                Some(v) => !v.is_empty(),
                None => {
                    let msg =
                        format!("disabled: environment variable {name} is not set: worker enabled");
                    w.warn(opath, msg);
                    false
                }
            },
            _ => !s.is_empty(),
        },
        Some(other) => {
            w.expected(
                &child(opath, "disabled"),
                "true, false or \"${VAR}\"",
                other,
            );
            false
        }
    }
}

/// Checks across workers: ferrobar serves every router worker in one process, so two workers
/// must not define the same realm or listen on the same address. Two listeners on one port
/// would not even fail to bind: with `SO_REUSEPORT` the kernel would split connections
/// between them.
fn cross_checks(w: &mut Walker, routers: &[RouterConfig]) {
    let mut ids: Vec<&str> = Vec::new();
    let mut realms: Vec<(&str, &str)> = Vec::new();
    let mut listeners: Vec<(&Endpoint, String)> = Vec::new();
    for r in routers {
        if ids.contains(&r.id.as_str()) {
            w.error("workers", format!("worker id '{}' is used twice", r.id));
        }
        ids.push(&r.id);
        for realm in &r.realms {
            if let Some((_, other)) = realms
                .iter()
                .find(|(n, id)| *n == realm.name && *id != r.id)
            {
                let msg = format!(
                    "realm '{}' is defined in workers '{other}' and '{}'",
                    realm.name, r.id
                );
                w.error("workers", msg);
            }
            realms.push((&realm.name, &r.id));
        }
        for t in &r.transports {
            let here = format!("transport '{}' of worker '{}'", t.id, r.id);
            if let Some((_, other)) = listeners.iter().find(|(e, _)| conflicts(e, &t.endpoint)) {
                let msg = format!(
                    "{here} listens on the same {} as {other}",
                    describe_endpoint(&t.endpoint)
                );
                w.error("workers", msg);
            }
            listeners.push((&t.endpoint, here));
        }
    }
}

fn conflicts(a: &Endpoint, b: &Endpoint) -> bool {
    match (a, b) {
        (
            Endpoint::Tcp {
                port: pa,
                interface: ia,
                version: va,
                ..
            },
            Endpoint::Tcp {
                port: pb,
                interface: ib,
                version: vb,
                ..
            },
        ) => *pa != 0 && pa == pb && va == vb && (ia.is_none() || ib.is_none() || ia == ib),
        (Endpoint::Unix { path: pa, .. }, Endpoint::Unix { path: pb, .. }) => pa == pb,
        _ => false,
    }
}

fn describe_endpoint(e: &Endpoint) -> String {
    match e {
        Endpoint::Tcp { port, .. } => format!("TCP port {port}"),
        Endpoint::Unix { path, .. } => format!("Unix socket {}", path.display()),
    }
}
