//! What wamp_async knows but does not expose: it keeps the session id, the negotiated
//! serializer, and the details of WELCOME, GOODBYE and RESULT to itself (its API returns
//! none of them), and reports messages for unknown subscriptions or requests only as log
//! warnings. It does log each message it receives (`debug!("Recv : ...")`, the JSON text or,
//! for MessagePack, the decoded message's Debug form), so this logger reads them there:
//!
//! - `WIRE {"msg": [...]}` (JSON) or `WIRE {"debug": "..."}` (MessagePack) for each WELCOME,
//!   ABORT, GOODBYE, ERROR and RESULT received (skipped above 64 KiB);
//! - `LIBLOG {"level", "target", "msg"}` for each warning or error the library logs;
//! - the session id of the last join and the serializer of the last connection.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use log::{Level, LevelFilter, Log, Metadata, Record};
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::out::emit;

/// Messages larger than this are not printed (a 1 MB RESULT would make a 1 MB line).
const WIRE_MAX: usize = 64 * 1024;

/// One message of interest, as received.
#[derive(Debug, Clone)]
pub struct Wire {
    /// The WAMP message code (2 WELCOME, 3 ABORT, 6 GOODBYE, 8 ERROR, 50 RESULT).
    pub code: u64,
    /// The message (JSON), or its Debug text (MessagePack).
    pub value: Value,
}

impl Wire {
    /// The reason of a GOODBYE or ABORT.
    pub fn reason(&self) -> Option<String> {
        match &self.value {
            Value::Array(m) => m.get(2).and_then(Value::as_str).map(str::to_string),
            Value::String(s) => crate::out::uri_in_message(s),
            _ => None,
        }
    }
}

struct Capture {
    wires: Mutex<Vec<Wire>>,
    notify: Notify,
    session: AtomicU64,
    serializer: Mutex<Option<String>>,
    /// Warnings about an EVENT for a subscription the client no longer has.
    late_events: AtomicUsize,
}

fn capture() -> &'static Capture {
    static C: OnceLock<Capture> = OnceLock::new();
    C.get_or_init(|| Capture {
        wires: Mutex::new(Vec::new()),
        notify: Notify::new(),
        session: AtomicU64::new(0),
        serializer: Mutex::new(None),
        late_events: AtomicUsize::new(0),
    })
}

struct Logger;

static LOGGER: Logger = Logger;

pub fn install() {
    // Only fails if a logger is already set: there is none.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(LevelFilter::Debug);
}

/// Debug-form prefixes (MessagePack) of the messages printed as WIRE, with their codes.
const DEBUG_KINDS: [(&str, u64); 5] = [
    ("Ok(Welcome", 2),
    ("Ok(Abort", 3),
    ("Ok(Goodbye", 6),
    ("Ok(Error", 8),
    ("Ok(Result", 50),
];

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= Level::Debug && m.target().starts_with("wamp_async")
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let text = r.args().to_string();
        let c = capture();
        if r.level() <= Level::Warn {
            if text.contains("event for sub ID we are not subscribed to") {
                c.late_events.fetch_add(1, Ordering::SeqCst);
            }
            emit(
                "LIBLOG",
                json!({"level": r.level().as_str(), "target": r.target(), "msg": clip(&text, 2000)}),
            );
            return;
        }
        if let Some(id) = text.strip_prefix("Connected with session_id ") {
            if let Ok(id) = id.trim_end_matches(" !").trim().parse::<u64>() {
                c.session.store(id, Ordering::SeqCst);
            }
            return;
        }
        if let Some(s) = text.strip_prefix("Connected with serializer : ") {
            *c.serializer.lock().unwrap() = Some(s.trim().to_string());
            return;
        }
        let Some(body) = text.strip_prefix("Recv : ") else {
            return;
        };
        if body.len() > WIRE_MAX {
            return;
        }
        let wire = if body.starts_with('[') {
            match serde_json::from_str::<Value>(body) {
                Ok(v) => {
                    let code = v.get(0).and_then(Value::as_u64).unwrap_or(0);
                    if ![2, 3, 6, 8, 50].contains(&code) {
                        return;
                    }
                    emit("WIRE", json!({"msg": v}));
                    Wire { code, value: v }
                }
                Err(_) => return,
            }
        } else {
            let Some(&(_, code)) = DEBUG_KINDS.iter().find(|(p, _)| body.starts_with(p)) else {
                return;
            };
            emit("WIRE", json!({"debug": body}));
            Wire {
                code,
                value: Value::String(body.to_string()),
            }
        };
        c.wires.lock().unwrap().push(wire);
        c.notify.notify_waiters();
    }

    fn flush(&self) {}
}

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// The session id wamp_async logged for the last successful join.
pub fn last_session() -> u64 {
    capture().session.load(Ordering::SeqCst)
}

/// The serializer wamp_async logged for the last connection ("Json" or "MsgPack").
pub fn last_serializer() -> Option<String> {
    capture().serializer.lock().unwrap().clone()
}

/// How many EVENTs arrived for a subscription the client had already left.
pub fn late_events() -> usize {
    capture().late_events.load(Ordering::SeqCst)
}

/// How many messages of interest were received so far (a mark for [`wait_for`]).
pub fn mark() -> usize {
    capture().wires.lock().unwrap().len()
}

/// The first message with code `code` received after `mark`, waiting for it up to `timeout`.
pub async fn wait_for(code: u64, mark: usize, timeout: std::time::Duration) -> Option<Wire> {
    let c = capture();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let notified = c.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(w) = c.wires.lock().unwrap()[mark..]
            .iter()
            .find(|w| w.code == code)
        {
            return Some(w.clone());
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return None;
        }
    }
}

/// The RESULT messages received after `mark`.
pub fn results_since(mark: usize) -> Vec<Wire> {
    capture().wires.lock().unwrap()[mark..]
        .iter()
        .filter(|w| w.code == 50)
        .cloned()
        .collect()
}
