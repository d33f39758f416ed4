//! `endpoint.tls` of a listening TCP endpoint: the key, certificate and CA files, resolved
//! against the node directory and checked to exist (the reactor reads and parses them).

use std::path::PathBuf;

use serde_json::{Map, Value};

use super::model::TlsConfig;
use super::walk::{child, item, resolve, Walker};

const TLS_KEYS: &[&str] = &[
    "key",
    "certificate",
    "chain_certificates",
    "ca_certificates",
    "dhparam",
    "ciphers",
];

/// Why `dhparam` and `ciphers` are accepted but not kept.
const NO_EFFECT_WHY: &str = "rustls negotiates TLS 1.2/1.3 with its own cipher suites and \
                             ECDHE key exchange; Crossbar 26.10 ignores it too";

/// A `tls` block. `None` when it is unusable (the problems are recorded).
pub(crate) fn walk_tls(w: &mut Walker, v: &Value, path: &str) -> Option<TlsConfig> {
    let map = w.object(v, path)?;
    w.keys(map, path, TLS_KEYS);
    let key = required_file(w, map, path, "key");
    let certificate = required_file(w, map, path, "certificate");
    let chain_certificates = file_list(w, map, path, "chain_certificates");
    let ca_certificates = file_list(w, map, path, "ca_certificates");
    if map
        .get("ca_certificates")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        w.error(
            &child(path, "ca_certificates"),
            "expected a non-empty list of CA certificate files (an empty list would make \
             Crossbar reject every client; leave the key out to request no client certificate)",
        );
    }
    for knob in ["dhparam", "ciphers"] {
        if w.opt_str(map, path, knob).is_some() {
            w.info(
                path,
                format!("{knob} has no effect in ferrobar ({NO_EFFECT_WHY})"),
            );
        }
    }
    Some(TlsConfig {
        key: key?,
        certificate: certificate?,
        chain_certificates: chain_certificates?,
        ca_certificates: ca_certificates?,
    })
}

fn required_file(
    w: &mut Walker,
    map: &Map<String, Value>,
    path: &str,
    key: &str,
) -> Option<PathBuf> {
    let name = w.req_str(map, path, key)?;
    existing_file(w, name, &child(path, key))
}

/// An optional list of files; `Some(vec![])` when the key is absent.
fn file_list(
    w: &mut Walker,
    map: &Map<String, Value>,
    path: &str,
    key: &str,
) -> Option<Vec<PathBuf>> {
    let Some(v) = map.get(key) else {
        return Some(Vec::new());
    };
    let lpath = child(path, key);
    let list = w.list(v, &lpath)?;
    let mut out = Vec::with_capacity(list.len());
    let mut ok = true;
    for (i, x) in list.iter().enumerate() {
        let ipath = item(&lpath, i);
        match x.as_str() {
            Some(name) => match existing_file(w, name, &ipath) {
                Some(p) => out.push(p),
                None => ok = false,
            },
            None => {
                w.expected(&ipath, "a file path (a string)", x);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// `name` resolved against the node directory, if it names an existing file.
fn existing_file(w: &mut Walker, name: &str, path: &str) -> Option<PathBuf> {
    if name.is_empty() {
        w.error(path, "expected a file path, found \"\"");
        return None;
    }
    let file = resolve(&w.cbdir, name);
    match std::fs::metadata(&file) {
        Ok(m) if m.is_dir() => {
            w.error(
                path,
                format!("{} is a directory, expected a file", file.display()),
            );
            None
        }
        Ok(_) => Some(file),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            w.error(path, format!("file {} does not exist", file.display()));
            None
        }
        Err(e) => {
            w.error(path, format!("cannot read {}: {e}", file.display()));
            None
        }
    }
}
