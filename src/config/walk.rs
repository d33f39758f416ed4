//! The hand-written walk over `serde_json::Value`: typed getters that record a problem (with
//! its JSON path) instead of stopping, so one run reports every mistake in the file.

use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use super::error::{ConfigError, Notice, NoticeLevel};

/// Looks up an environment variable; injectable so tests need not touch the process env.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Collects errors and notices while walking one config.
pub(crate) struct Walker<'a> {
    pub errors: Vec<ConfigError>,
    pub notices: Vec<Notice>,
    /// Absolute node directory; relative paths in the config are resolved against it.
    pub cbdir: PathBuf,
    /// While one transport is walked: its endpoint's JSON path, and whether that endpoint
    /// verifies TLS client certificates (`tls.ca_certificates`), which `auth.tls` needs.
    pub transport_endpoint: Option<(String, bool)>,
    env: EnvLookup<'a>,
}

/// `parent.key`, or `parent["key"]` for keys that would read badly after a dot (`/`).
pub(crate) fn child(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'$');
    match (parent.is_empty(), plain) {
        (true, true) => key.to_string(),
        (true, false) => format!("[{key:?}]"),
        (false, true) => format!("{parent}.{key}"),
        (false, false) => format!("{parent}[{key:?}]"),
    }
}

/// `parent[i]`.
pub(crate) fn item(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// A short description of a JSON value for "found ..." in error messages.
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            if s.chars().count() > 40 {
                let short: String = s.chars().take(40).collect();
                format!("{short:?}...")
            } else {
                format!("{s:?}")
            }
        }
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Crossbar's item id rule (`_CONFIG_ITEM_ID_PAT`): `^[a-z][a-z0-9_]{2,63}$`.
pub(crate) fn is_valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    (3..=64).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// `cbdir/rel`, normalised lexically as Crossbar's `os.path.abspath(os.path.join(...))` does.
pub(crate) fn resolve(cbdir: &Path, rel: &str) -> PathBuf {
    normalize(&cbdir.join(rel))
}

/// Removes `.` and folds `..` into the preceding component, without touching the filesystem.
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

impl<'a> Walker<'a> {
    pub fn new(cbdir: PathBuf, env: EnvLookup<'a>) -> Self {
        Walker {
            errors: Vec::new(),
            notices: Vec::new(),
            cbdir,
            transport_endpoint: None,
            env,
        }
    }

    pub fn env(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    /// Records a problem.
    pub fn error(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(ConfigError::new(path, message));
    }

    /// Records "expected X, found Y".
    pub fn expected(&mut self, path: &str, what: &str, found: &Value) {
        self.error(path, format!("expected {what}, found {}", describe(found)));
    }

    /// Refuses a Crossbar feature ferrobar does not have yet, by name.
    pub fn unsupported(&mut self, path: &str, what: impl std::fmt::Display) {
        self.error(path, format!("{what} is not supported yet"));
    }

    pub fn info(&mut self, path: &str, message: impl Into<String>) {
        self.notices.push(Notice {
            level: NoticeLevel::Info,
            path: path.into(),
            message: message.into(),
        });
    }

    pub fn warn(&mut self, path: &str, message: impl Into<String>) {
        self.notices.push(Notice {
            level: NoticeLevel::Warn,
            path: path.into(),
            message: message.into(),
        });
    }

    /// A Crossbar tuning knob that means nothing for ferrobar: accepted, one info line.
    pub fn no_effect(&mut self, path: &str, key: &str) {
        self.info(path, format!("{key} has no effect in ferrobar"));
    }

    /// A robustness knob ferrobar will honour later: accepted, one warning line.
    pub fn not_enforced(&mut self, path: &str, key: &str) {
        self.warn(path, format!("{key} is accepted but not enforced yet"));
    }

    /// The value as an object, or an error.
    pub fn object<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            other => {
                self.expected(path, "an object", other);
                None
            }
        }
    }

    /// The value as a list, or an error.
    pub fn list<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v Vec<Value>> {
        match v {
            Value::Array(a) => Some(a),
            other => {
                self.expected(path, "a list", other);
                None
            }
        }
    }

    /// Reports every key of `map` not in `allowed`, naming it and the keys that are valid there.
    pub fn keys(&mut self, map: &Map<String, Value>, path: &str, allowed: &[&str]) {
        for k in map.keys() {
            if !allowed.contains(&k.as_str()) {
                let msg = format!("unknown key (expected one of: {})", allowed.join(", "));
                self.error(&child(path, k), msg);
            }
        }
    }

    /// An optional bool.
    pub fn opt_bool(&mut self, map: &Map<String, Value>, path: &str, key: &str) -> Option<bool> {
        match map.get(key)? {
            Value::Bool(b) => Some(*b),
            other => {
                self.expected(&child(path, key), "true or false", other);
                None
            }
        }
    }

    /// An optional string.
    pub fn opt_str<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<&'v str> {
        match map.get(key)? {
            Value::String(s) => Some(s),
            other => {
                self.expected(&child(path, key), "a string", other);
                None
            }
        }
    }

    /// A required string.
    pub fn req_str<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<&'v str> {
        if !map.contains_key(key) {
            self.error(&child(path, key), "missing (a string is required)");
            return None;
        }
        self.opt_str(map, path, key)
    }

    /// An optional integer within `lo..=hi`.
    pub fn opt_int(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        key: &str,
        lo: u64,
        hi: u64,
    ) -> Option<u64> {
        let v = map.get(key)?;
        match v.as_u64() {
            Some(n) if (lo..=hi).contains(&n) => Some(n),
            _ => {
                self.expected(&child(path, key), &format!("an integer {lo}..{hi}"), v);
                None
            }
        }
    }

    /// The optional `id` of a config item: checked against Crossbar's pattern, else generated
    /// as `<prefix>001`, `<prefix>002`, ... counting only the generated ones, as Crossbar does.
    pub fn item_id(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        prefix: &str,
        generated: &mut usize,
    ) -> String {
        match map.get("id") {
            Some(Value::String(s)) if is_valid_id(s) => return s.clone(),
            Some(other) => self.expected(
                &child(path, "id"),
                "an id matching ^[a-z][a-z0-9_]{2,63}$",
                other,
            ),
            None => {}
        }
        *generated += 1;
        format!("{prefix}{:03}", *generated)
    }

    /// Accepts every key of `keys` present in `map` with one "has no effect" line each.
    pub fn no_effect_keys(&mut self, map: &Map<String, Value>, path: &str, keys: &[&str]) {
        for k in keys {
            if map.contains_key(*k) {
                self.no_effect(path, k);
            }
        }
    }

    /// Accepts every key of `keys` present in `map` with one "not enforced yet" line each.
    pub fn not_enforced_keys(&mut self, map: &Map<String, Value>, path: &str, keys: &[&str]) {
        for k in keys {
            if map.contains_key(*k) {
                self.not_enforced(path, k);
            }
        }
    }

    /// Refuses every key of `keys` present in `map`, naming the feature.
    pub fn unsupported_keys(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        keys: &[(&str, &str)],
    ) {
        for (k, what) in keys {
            if map.contains_key(*k) {
                self.unsupported(&child(path, k), what);
            }
        }
    }

    /// Resolves `"$VAR"` / `"${VAR}"` when the whole string names one variable (Crossbar's
    /// `_readenv` / `maybe_from_env`); `Ok(None)` when the string is not a reference.
    pub fn env_ref(&mut self, s: &str) -> Result<Option<String>, String> {
        let Some(name) = env_name(s) else {
            return Ok(None);
        };
        match self.env(name) {
            Some(v) => Ok(Some(v)),
            None => Err(format!(
                "environment variable {name} is not set (referenced as {s:?})"
            )),
        }
    }

    /// Expands every `$VAR` and `${VAR}` inside `s` (as Python's `os.path.expandvars`, used by
    /// Crossbar for Unix socket paths), but a missing variable is an error instead of being
    /// left in place, so a typo does not bind a socket at a literal `$TYPO` path.
    pub fn expand_vars(&mut self, s: &str) -> Result<String, String> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            let (name, consumed) = if let Some(inner) = after.strip_prefix('{') {
                match inner.find('}') {
                    Some(end) => (&inner[..end], end + 2),
                    None => ("", 0),
                }
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            };
            if name.is_empty() || !is_env_name(name) {
                out.push('$');
                rest = after;
                continue;
            }
            match self.env(name) {
                Some(v) => out.push_str(&v),
                None => return Err(format!("environment variable {name} is not set")),
            }
            rest = &after[consumed..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The variable name of `"$VAR"` or `"${VAR}"`, if `s` is exactly such a reference.
pub(crate) fn env_name(s: &str) -> Option<&str> {
    let name = s
        .strip_prefix("${")
        .and_then(|r| r.strip_suffix('}'))
        .or_else(|| s.strip_prefix('$'))?;
    is_env_name(name).then_some(name)
}

/// Crossbar's `_ENV_VAR_PAT`: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
