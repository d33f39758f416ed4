//! What the client prints: one `TAG {json}` line per fact on stdout, flushed at once, so the
//! test sees each fact when it happens.

use std::io::Write;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use wamp_async::{WampArgs, WampError, WampKwArgs};

/// Strings longer than this are printed as `{"__long__": <UTF-8 length>, "sha256": <hex>}`.
pub const LONG: usize = 4096;

/// Prints `TAG {json}` as one line.
pub fn emit(tag: &str, value: Value) {
    let line = format!("{tag} {value}\n");
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // A closed stdout (the test gave up on us) is no reason to panic.
    let _ = out.write_all(line.as_bytes());
    let _ = out.flush();
}

/// A copy of `v` with every long string replaced by its length and SHA-256.
pub fn shorten(v: &Value) -> Value {
    match v {
        Value::String(s) if s.len() > LONG => {
            json!({"__long__": s.len(), "sha256": hex(&Sha256::digest(s.as_bytes()))})
        }
        Value::Array(items) => Value::Array(items.iter().map(shorten).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, x)| (k.clone(), shorten(x)))
                .collect::<Map<String, Value>>(),
        ),
        other => other.clone(),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A payload as printed: `args` and `kwargs`, `null` when the message had none.
pub fn payload(args: &Option<WampArgs>, kwargs: &Option<WampKwArgs>) -> Value {
    json!({
        "args": args.as_ref().map(|a| shorten(&Value::Array(a.clone()))),
        "kwargs": kwargs.as_ref().map(|k| shorten(&Value::Object(k.clone()))),
    })
}

/// An error as printed: `error` is the WAMP error URI when there is one (an ERROR message,
/// or an ABORT during the join), `message` is the library's own description.
pub fn error_json(e: &WampError) -> Value {
    let message = e.to_string();
    match e {
        WampError::ServerError(uri, details) => json!({
            "error": uri,
            "details": serde_json::to_value(details).unwrap_or(Value::Null),
            "message": message,
        }),
        _ => json!({"error": uri_in_message(&message), "message": message}),
    }
}

/// The URI inside a message the library formatted from a router's reply: an ABORT during
/// the join (`... Abort { details: {..}, reason: "wamp.error.x" }`) or an ERROR it wrapped
/// into a string (`... returned an error: wamp.error.x {..}`).
pub fn uri_in_message(message: &str) -> Option<String> {
    if let Some(i) = message.find("reason: \"") {
        let rest = &message[i + 9..];
        return rest.find('"').map(|j| rest[..j].to_string());
    }
    if let Some(i) = message.find("returned an error: ") {
        let rest = &message[i + 19..];
        let end = rest.find(' ').unwrap_or(rest.len());
        return Some(rest[..end].to_string());
    }
    None
}
