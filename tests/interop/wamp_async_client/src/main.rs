//! wamp_async interop client for the ferrobar tests (tests/interop/test_wamp_async.py).
//!
//! One process runs one scenario against the router, with one wamp_async session (two for
//! `exclude-me` and `lifecycle`), and prints one line per fact on stdout:
//!
//! ```text
//! TAG {json}
//! ```
//!
//! TAG is one of JOINED, SESSION, READY, EVENT, EVENTS, PUBLISHED, INVOKED, RESULT, RESULTS,
//! ERROR, STEP, IDS, META, ALIVE, LEFT, DISCONNECTED, DONE, FAIL, plus WIRE and LIBLOG (see
//! wire.rs). Long strings are printed as `{"__long__": <length>, "sha256": <hex>}`.
//!
//! Scenarios (scenarios.rs): join, subscribe, publish, callee, call, burst, register,
//! exclude-me, lifecycle, meta, bad-uri.
//!
//! Usage:
//!
//! ```text
//! wamp_async_client --url ws://127.0.0.1:PORT/ws | tcp://127.0.0.1:PORT
//!     [--realm realm1] [--serializer json|msgpack] [--auth anonymous|ticket|wampcra]
//!     [--authid ID] [--secret S] [--url2 URL] [--serializer2 S] [--timeout SECONDS]
//!     SCENARIO [--key value | --flag]...
//! ```
//!
//! Exit code: 0 when the scenario ran to its end (an expected ERROR is part of the
//! scenario), 1 on an unexpected failure (FAIL printed), 3 when the watchdog fired.

mod out;
mod scenarios;
mod session;
mod wire;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use wamp_async::SerializerType;

use crate::out::emit;
use crate::session::Target;

/// The command line: options before the scenario name, then the scenario's own.
pub struct Opts {
    pub target: Target,
    /// The second session of two-session scenarios.
    pub target2: Target,
    pub timeout: f64,
    pub scenario: String,
    args: HashMap<String, Option<String>>,
}

impl Opts {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.args.get(key).and_then(|v| v.as_deref())
    }

    pub fn req(&self, key: &str) -> Result<&str, String> {
        self.get(key).ok_or_else(|| format!("--{key} is required"))
    }

    pub fn flag(&self, key: &str) -> bool {
        self.args.contains_key(key)
    }

    pub fn num(&self, key: &str, default: usize) -> Result<usize, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{key}: not a number: {v}")),
        }
    }

    /// A bound for one step of a scenario (a reply the router owes us).
    pub fn step(&self) -> Duration {
        Duration::from_secs_f64((self.timeout / 2.0).clamp(1.0, 10.0))
    }
}

fn serializer(name: &str) -> Result<SerializerType, String> {
    match name {
        "json" => Ok(SerializerType::Json),
        "msgpack" => Ok(SerializerType::MsgPack),
        other => Err(format!(
            "unknown serializer {other} (wamp_async has json and msgpack)"
        )),
    }
}

fn parse(argv: Vec<String>) -> Result<Opts, String> {
    let mut global: HashMap<String, String> = HashMap::new();
    let mut it = argv.into_iter().skip(1).peekable();
    let mut scenario = None;
    while let Some(a) = it.next() {
        match a.strip_prefix("--") {
            Some(key) => {
                let v = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
                global.insert(key.to_string(), v);
            }
            None => {
                scenario = Some(a);
                break;
            }
        }
    }
    let scenario = scenario.ok_or("no scenario given")?;
    let mut args = HashMap::new();
    while let Some(a) = it.next() {
        let key = a
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {a}"))?
            .to_string();
        let value = match it.peek() {
            Some(v) if !v.starts_with("--") => it.next(),
            _ => None,
        };
        args.insert(key, value);
    }
    let g = |k: &str, d: &str| global.get(k).cloned().unwrap_or_else(|| d.to_string());
    let url = global.get("url").cloned().ok_or("--url is required")?;
    let target = Target {
        url: url.clone(),
        realm: g("realm", "realm1"),
        serializer: serializer(&g("serializer", "json"))?,
        auth: g("auth", "anonymous"),
        authid: g("authid", ""),
        secret: g("secret", ""),
    };
    let target2 = Target {
        url: g("url2", &url),
        serializer: serializer(&g("serializer2", &g("serializer", "json")))?,
        ..target.clone()
    };
    let timeout: f64 = g("timeout", "30")
        .parse()
        .map_err(|_| "--timeout: not a number")?;
    Ok(Opts {
        target,
        target2,
        timeout,
        scenario,
        args,
    })
}

fn main() {
    let o = match parse(std::env::args().collect()) {
        Ok(o) => o,
        Err(e) => {
            emit("FAIL", json!({"exception": format!("usage: {e}")}));
            std::process::exit(2);
        }
    };
    // The watchdog: whatever happens, the process ends by itself.
    let limit = o.timeout;
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs_f64(limit));
        emit(
            "FAIL",
            json!({"exception": format!("watchdog: no completion after {limit}s")}),
        );
        std::process::exit(3);
    });
    wire::install();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let rc = match rt.block_on(scenarios::run(&o)) {
        Ok(()) => 0,
        Err(e) => {
            emit("FAIL", e);
            1
        }
    };
    // Tasks still running (event loops of sessions closed already) need no orderly end.
    std::process::exit(rc);
}
