//! What a core counts for the metrics: plain counters of one shard's core, never shared while
//! it runs; the shell copies a snapshot out now and then and the node sums the shards' at
//! scrape time.

use std::time::Duration;

use crate::wamp::MessageType;

/// One more than the highest WAMP message code (YIELD, 70).
pub const MESSAGE_CODES: usize = 71;

/// Upper bounds (seconds) of the call-latency histogram's buckets; the last bucket is +Inf.
pub const CALL_LATENCY_BOUNDS: [f64; 14] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0,
];

/// How a call ended, for its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// A final RESULT.
    Result,
    /// An ERROR from the callee.
    Error,
    /// `wamp.error.no_such_procedure`.
    NoSuchProcedure,
    /// `wamp.error.not_authorized`.
    NotAuthorized,
    /// `wamp.error.canceled` (CANCEL, a callee that left, a timeout in seconds).
    Canceled,
    /// `wamp.error.timeout`.
    Timeout,
    /// Refused by a router limit (pending calls, message size, invalid URI or arguments).
    Refused,
}

impl CallOutcome {
    /// Every outcome, in label order.
    pub const ALL: [CallOutcome; 7] = [
        CallOutcome::Result,
        CallOutcome::Error,
        CallOutcome::NoSuchProcedure,
        CallOutcome::NotAuthorized,
        CallOutcome::Canceled,
        CallOutcome::Timeout,
        CallOutcome::Refused,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            CallOutcome::Result => "result",
            CallOutcome::Error => "error",
            CallOutcome::NoSuchProcedure => "no_such_procedure",
            CallOutcome::NotAuthorized => "not_authorized",
            CallOutcome::Canceled => "canceled",
            CallOutcome::Timeout => "timeout",
            CallOutcome::Refused => "refused",
        }
    }

    /// The outcome an ERROR for a CALL reports.
    pub(crate) fn of_error(uri: &str) -> Self {
        use crate::wamp::error_uri as uris;
        match uri {
            uris::NO_SUCH_PROCEDURE => CallOutcome::NoSuchProcedure,
            uris::NOT_AUTHORIZED => CallOutcome::NotAuthorized,
            uris::CANCELED => CallOutcome::Canceled,
            uris::TIMEOUT => CallOutcome::Timeout,
            u if u.starts_with("wamp.error.") || u.starts_with("ferrobar.error.") => {
                CallOutcome::Refused
            }
            _ => CallOutcome::Error,
        }
    }
}

/// Counters of one shard's core.
#[derive(Debug, Clone)]
pub struct CoreStats {
    /// Sessions currently joined on this shard.
    pub sessions: usize,
    /// Protocol violations seen.
    pub protocol_violations: u64,
    /// Messages received, by WAMP message code.
    pub received: [u64; MESSAGE_CODES],
    /// Messages sent, by WAMP message code (EVENTs once per subscriber they went to).
    pub sent: [u64; MESSAGE_CODES],
    /// PUBLISHes accepted.
    pub publications: u64,
    /// Calls answered, by [`CallOutcome::ALL`] index.
    pub calls: [u64; CallOutcome::ALL.len()],
    /// Calls answered by their callee (RESULT or ERROR), by latency bucket (bounds
    /// [`CALL_LATENCY_BOUNDS`], then +Inf); not cumulative.
    pub call_latency: [u64; CALL_LATENCY_BOUNDS.len() + 1],
    /// The sum of those latencies.
    pub call_latency_sum: Duration,
    /// Failed authentications by method (`hello` when refused before any challenge).
    pub auth_failures: Vec<(&'static str, u64)>,
}

impl Default for CoreStats {
    fn default() -> Self {
        CoreStats {
            sessions: 0,
            protocol_violations: 0,
            received: [0; MESSAGE_CODES],
            sent: [0; MESSAGE_CODES],
            publications: 0,
            calls: [0; CallOutcome::ALL.len()],
            call_latency: [0; CALL_LATENCY_BOUNDS.len() + 1],
            call_latency_sum: Duration::ZERO,
            auth_failures: Vec::new(),
        }
    }
}

impl CoreStats {
    pub(crate) fn received(&mut self, kind: MessageType) {
        self.received[kind.code() as usize] += 1;
    }

    pub(crate) fn sent(&mut self, kind: MessageType, count: u64) {
        self.sent[kind.code() as usize] += count;
    }

    pub(crate) fn call_answered(&mut self, outcome: CallOutcome) {
        if let Some(i) = CallOutcome::ALL.iter().position(|o| *o == outcome) {
            self.calls[i] += 1;
        }
    }

    pub(crate) fn call_latency(&mut self, latency: Duration) {
        let secs = latency.as_secs_f64();
        let bucket = CALL_LATENCY_BOUNDS
            .iter()
            .position(|&bound| secs <= bound)
            .unwrap_or(CALL_LATENCY_BOUNDS.len());
        self.call_latency[bucket] += 1;
        self.call_latency_sum += latency;
    }

    pub(crate) fn auth_failed(&mut self, method: &'static str) {
        match self.auth_failures.iter_mut().find(|(m, _)| *m == method) {
            Some((_, n)) => *n += 1,
            None => self.auth_failures.push((method, 1)),
        }
    }
}

/// One realm as one shard sees it, for the metrics. Summed over the shards: sessions on
/// every shard, subscriptions and registrations from the realm's home shard only.
#[derive(Debug, Clone, Default)]
pub struct RealmStats {
    /// The realm.
    pub name: String,
    /// Sessions joined on this shard.
    pub sessions: u64,
    /// Realm-wide subscriptions (home shard), else 0.
    pub subscriptions: u64,
    /// Realm-wide registrations (home shard), else 0.
    pub registrations: u64,
}
