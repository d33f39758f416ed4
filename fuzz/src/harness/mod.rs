//! Fuzz harnesses: one module per target, each with a `run(data: &[u8])` that panics on a
//! violated invariant and returns normally otherwise. They use only `ferrobar` and `std`, so
//! `tests/fuzz_regressions.rs` includes this directory by path and replays crash inputs on
//! stable Rust.

pub mod codec;
pub mod config;
pub mod http;
pub mod mqtt;
pub mod rawsocket;
pub mod session;
pub mod websocket;

use ferrobar::wamp::{Dict, Message, Payload, Value};

/// A fixture directory under the system temp dir, the same for every process: one fixture
/// on the machine, not one left behind per test or fuzz process. Files are written to a
/// process-unique name and renamed into place, so processes building it at once (parallel
/// tests, `-jobs`) never see a half-written file.
pub fn fixture_dir(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let root = std::env::temp_dir().join(name);
    for (path, content) in files {
        let target = root.join(path);
        if std::fs::read_to_string(&target).is_ok_and(|c| c == *content) {
            continue;
        }
        let dir = target.parent().expect("a fixture file has a directory");
        std::fs::create_dir_all(dir).expect("create the fixture directory");
        let partial = dir.join(format!(".partial-{}", std::process::id()));
        std::fs::write(&partial, content).expect("write a fixture file");
        std::fs::rename(&partial, &target).expect("move a fixture file into place");
    }
    root
}

/// Reads structured choices out of fuzz bytes. Past the end every read returns zeros, so every
/// input (including the empty one) is a valid program.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data, pos: 0 }
    }

    /// True once every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The next byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos = self.pos.saturating_add(1);
        b
    }

    /// The next two bytes, big-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    /// The next eight bytes, big-endian.
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_be_bytes(b)
    }

    /// One bit of choice.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// A number in `0..n` (`n` at most 256; 0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::from(self.u8()) % n
    }

    /// One element of `items`, which must not be empty.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = start.saturating_add(n).min(self.data.len());
        self.pos = self.pos.saturating_add(n);
        &self.data[start..end]
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        self.pos = self.data.len();
        &self.data[start..]
    }
}

/// How two decoded values may legitimately differ after a trip through an encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lossy {
    /// Only NaN may differ (NaN != NaN).
    Exact,
    /// Through JSON: NaN and infinities become `null` (JSON has no such numbers).
    Json,
}

/// Value equality up to `lossy`.
pub fn same_value(a: &Value, b: &Value, lossy: Lossy) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits() || x == y
        }
        (Value::Float(x), Value::Null) => lossy == Lossy::Json && !x.is_finite(),
        // Integers may change representation (an integral float stays a float; `Int` and
        // `UInt` split at i64::MAX), but never value.
        (Value::Int(x), Value::UInt(y)) | (Value::UInt(y), Value::Int(x)) => {
            u64::try_from(*x).is_ok_and(|x| x == *y)
        }
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y, lossy))
        }
        (Value::Dict(x), Value::Dict(y)) => same_dict(x, y, lossy),
        _ => a == b,
    }
}

/// Dict equality up to `lossy` (same keys in the same order).
pub fn same_dict(a: &Dict, b: &Dict, lossy: Lossy) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b.iter())
            .all(|((ka, va), (kb, vb))| ka == kb && same_value(va, vb, lossy))
}

fn same_payload(a: &Payload, b: &Payload, lossy: Lossy) -> bool {
    let args = match (&a.args, &b.args) {
        (None, None) => true,
        // `kwargs` without `args` travels with an empty `args` list.
        (None, Some(l)) | (Some(l), None) => l.is_empty() && a.kwargs.is_some(),
        (Some(x), Some(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y, lossy))
        }
    };
    let kwargs = match (&a.kwargs, &b.kwargs) {
        (None, None) => true,
        (Some(x), Some(y)) => same_dict(x, y, lossy),
        // An empty kwargs dict may be dropped.
        (Some(d), None) | (None, Some(d)) => d.is_empty(),
    };
    args && kwargs
}

/// Message equality up to `lossy`: the fields compared one by one, payloads and dicts through
/// [`same_value`].
pub fn same_message(a: &Message, b: &Message, lossy: Lossy) -> bool {
    use Message as M;
    let d = |x: &Dict, y: &Dict| same_dict(x, y, lossy);
    let p = |x: &Payload, y: &Payload| same_payload(x, y, lossy);
    match (a, b) {
        (
            M::Hello { realm, details },
            M::Hello {
                realm: r2,
                details: d2,
            },
        ) => realm == r2 && d(details, d2),
        (
            M::Welcome { session, details },
            M::Welcome {
                session: s2,
                details: d2,
            },
        ) => session == s2 && d(details, d2),
        (
            M::Abort { details, reason },
            M::Abort {
                details: d2,
                reason: r2,
            },
        )
        | (
            M::Goodbye { details, reason },
            M::Goodbye {
                details: d2,
                reason: r2,
            },
        ) => reason == r2 && d(details, d2),
        (
            M::Challenge { method, extra },
            M::Challenge {
                method: m2,
                extra: e2,
            },
        ) => method == m2 && d(extra, e2),
        (
            M::Authenticate { signature, extra },
            M::Authenticate {
                signature: s2,
                extra: e2,
            },
        ) => signature == s2 && d(extra, e2),
        (
            M::Error {
                request_type,
                request,
                details,
                error,
                payload,
            },
            M::Error {
                request_type: t2,
                request: r2,
                details: d2,
                error: e2,
                payload: p2,
            },
        ) => request_type == t2 && request == r2 && error == e2 && d(details, d2) && p(payload, p2),
        (
            M::Publish {
                request,
                options,
                topic,
                payload,
            },
            M::Publish {
                request: r2,
                options: o2,
                topic: t2,
                payload: p2,
            },
        ) => request == r2 && topic == t2 && d(options, o2) && p(payload, p2),
        (
            M::Subscribe {
                request,
                options,
                topic,
            },
            M::Subscribe {
                request: r2,
                options: o2,
                topic: t2,
            },
        ) => request == r2 && topic == t2 && d(options, o2),
        (
            M::Event {
                subscription,
                publication,
                details,
                payload,
            },
            M::Event {
                subscription: s2,
                publication: p2,
                details: d2,
                payload: pl2,
            },
        ) => subscription == s2 && publication == p2 && d(details, d2) && p(payload, pl2),
        (
            M::Call {
                request,
                options,
                procedure,
                payload,
            },
            M::Call {
                request: r2,
                options: o2,
                procedure: pr2,
                payload: p2,
            },
        ) => request == r2 && procedure == pr2 && d(options, o2) && p(payload, p2),
        (
            M::Cancel { request, options },
            M::Cancel {
                request: r2,
                options: o2,
            },
        )
        | (
            M::Interrupt { request, options },
            M::Interrupt {
                request: r2,
                options: o2,
            },
        ) => request == r2 && d(options, o2),
        (
            M::Result {
                request,
                details,
                payload,
            },
            M::Result {
                request: r2,
                details: d2,
                payload: p2,
            },
        ) => request == r2 && d(details, d2) && p(payload, p2),
        (
            M::Register {
                request,
                options,
                procedure,
            },
            M::Register {
                request: r2,
                options: o2,
                procedure: p2,
            },
        ) => request == r2 && procedure == p2 && d(options, o2),
        (
            M::Invocation {
                request,
                registration,
                details,
                payload,
            },
            M::Invocation {
                request: r2,
                registration: g2,
                details: d2,
                payload: p2,
            },
        ) => request == r2 && registration == g2 && d(details, d2) && p(payload, p2),
        (
            M::Yield {
                request,
                options,
                payload,
            },
            M::Yield {
                request: r2,
                options: o2,
                payload: p2,
            },
        ) => request == r2 && d(options, o2) && p(payload, p2),
        // The rest have only ids and compare exactly.
        _ => a == b,
    }
}

/// True when a value holds a string starting with NUL anywhere. The JSON serializer carries
/// binary as such a string (Autobahn's convention), so a text string of that shape from a
/// MessagePack or CBOR peer cannot be told from binary once it is JSON.
pub fn has_nul_string(v: &Value) -> bool {
    match v {
        Value::Str(s) => s.starts_with('\0'),
        Value::List(l) => l.iter().any(has_nul_string),
        Value::Dict(d) => d
            .iter()
            .any(|(k, v)| k.starts_with('\0') || has_nul_string(v)),
        _ => false,
    }
}

/// [`has_nul_string`] over every dict, payload and string field of a message.
pub fn message_has_nul_string(m: &Message) -> bool {
    let s = |x: &str| x.starts_with('\0');
    let d = |x: &Dict| has_nul_string(&Value::Dict(x.clone()));
    let p = |x: &Payload| {
        x.args
            .as_ref()
            .is_some_and(|a| a.iter().any(has_nul_string))
            || x.kwargs.as_ref().is_some_and(d)
    };
    use Message as M;
    match m {
        M::Hello { realm, details } => s(realm) || d(details),
        M::Welcome { details, .. } => d(details),
        M::Abort { details, reason } | M::Goodbye { details, reason } => s(reason) || d(details),
        M::Challenge { method, extra } => s(method) || d(extra),
        M::Authenticate { signature, extra } => s(signature) || d(extra),
        M::Error {
            details,
            error,
            payload,
            ..
        } => d(details) || s(error) || p(payload),
        M::Publish {
            options,
            topic,
            payload,
            ..
        } => d(options) || s(topic) || p(payload),
        M::Subscribe { options, topic, .. } => d(options) || s(topic),
        M::Event {
            details, payload, ..
        }
        | M::Result {
            details, payload, ..
        }
        | M::Invocation {
            details, payload, ..
        } => d(details) || p(payload),
        M::Call {
            options,
            procedure,
            payload,
            ..
        } => d(options) || s(procedure) || p(payload),
        M::Register {
            options, procedure, ..
        } => d(options) || s(procedure),
        M::Cancel { options, .. } | M::Interrupt { options, .. } => d(options),
        M::Yield {
            options, payload, ..
        } => d(options) || p(payload),
        M::Published { .. }
        | M::Subscribed { .. }
        | M::Unsubscribe { .. }
        | M::Unsubscribed { .. }
        | M::Unregister { .. }
        | M::Registered { .. }
        | M::Unregistered { .. } => false,
    }
}
