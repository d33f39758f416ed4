//! Dynamic authorization: a role with an `authorizer` has each PUBLISH, SUBSCRIBE, CALL and
//! REGISTER of its sessions decided by that procedure, called by the router on the session's
//! realm as Crossbar does: `authorize(session_details, uri, action, options)`, answered by a
//! bool or `{allow, disclose, cache, validate}`.
//!
//! The shard never waits. A session's messages are parked, in arrival order, while any decision
//! they depend on is outstanding, and released in that order as answers come: a publisher's
//! events and a caller's calls keep their order whatever the authorizer's latency. Answers to
//! invocations (YIELD, ERROR) are not parked: they concern other sessions' calls; nor is ABORT.
//!
//! Several parked actions on the same URI share one authorizer call, and a decision the
//! authorizer marks `cache` is kept for the rest of the session (Crossbar keeps it per role;
//! per session never reuses a decision for an identity the authorizer did not see). A failed,
//! unregistered or silent authorizer fails the action with `wamp.error.authorization_failed`.

use std::collections::VecDeque;

use hashbrown::HashMap;

use crate::config::Disclose;
use crate::wamp::error_uri as uris;
use crate::wamp::{Dict, Message, MessageType, Value};

use super::authz::{Action, Decision};
use super::handshake::InternalCall;
use super::{ConnId, Core};

/// Messages one session may have parked; beyond it, new actions fail at once (a client that
/// floods a slow authorizer only hurts itself).
const MAX_PARKED: usize = 1024;
/// URIs with cached decisions per session; the cache starts over when full.
const MAX_CACHED: usize = 1024;

/// The dynamic-authorization state of a session whose role has an authorizer.
#[derive(Debug)]
pub(crate) struct DynamicAuthz {
    /// The authorizer procedure.
    authorizer: std::sync::Arc<str>,
    /// The first argument of every call: Crossbar's session details.
    details: Value,
    /// Decisions the authorizer allowed to be reused, by URI, then action (looked up by `&str`: no allocation per message).
    cache: HashMap<Box<str>, [Option<Decision>; 4]>,
    /// Messages waiting for a decision, or behind one that is.
    parked: VecDeque<Parked>,
}

impl DynamicAuthz {
    /// The state of session `session`, which joined with WELCOME `welcome` over a transport
    /// described by `transport`.
    pub(crate) fn new(
        authorizer: std::sync::Arc<str>,
        session: u64,
        welcome: &Dict,
        transport: Dict,
    ) -> Self {
        // Crossbar's `session_details` argument of the authorizer.
        let mut details = Dict::new().with("session", session);
        for key in [
            "authid",
            "authrole",
            "authmethod",
            "authprovider",
            "authextra",
        ] {
            if let Some(v) = welcome.get(key) {
                details.insert(key, v.clone());
            }
        }
        DynamicAuthz {
            authorizer,
            details: Value::Dict(details.with("transport", transport)),
            cache: HashMap::new(),
            parked: VecDeque::new(),
        }
    }

    /// A decision the authorizer gave for this session and allowed to be reused.
    pub(crate) fn cached(&self, uri: &str, action: Action) -> Option<Decision> {
        self.cache.get(uri).and_then(|d| d[action as usize])
    }

    /// The outstanding authorizer call a parked message on `(uri, action)` waits for.
    fn waiting_on(&self, uri: &str, action: Action) -> Option<u64> {
        self.parked
            .iter()
            .find_map(|p| match (&p.verdict, action_of(&p.msg)) {
                (Verdict::Waiting(id), Some((u, a, _))) if u == uri && a == action => Some(*id),
                _ => None,
            })
    }

    fn remember(&mut self, uri: &str, action: Action, decision: Decision) {
        if !self.cache.contains_key(uri) && self.cache.len() >= MAX_CACHED {
            self.cache.clear();
        }
        self.cache.entry(uri.into()).or_default()[action as usize] = Some(decision);
    }
}

#[derive(Debug)]
struct Parked {
    msg: Message,
    verdict: Verdict,
}

#[derive(Debug, Clone)]
enum Verdict {
    /// Not an action: released when its turn comes.
    Pass,
    /// Waiting for the internal call with this id.
    Waiting(u64),
    Decided(Decision),
    /// The authorizer could not decide (error, timeout, invalid answer): why.
    Failed(String),
}

/// What to do with a dynamic session's message.
enum Next {
    /// Its verdict is known (or shared with a question already asked).
    Known(Verdict),
    /// The authorizer must be asked about `(uri, action)`, with the message's options.
    Ask(String, Action, Dict),
}

/// What an authorizer answered, once checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) decision: Decision,
    pub(crate) cache: bool,
}

/// Checks an authorizer's answer as Crossbar does: a bool, or a dict with a bool `allow`, bool
/// `cache` and `disclose`, and a `validate` dict or null (payload validation is not supported:
/// accepted and ignored); any other key or type is an error.
pub(crate) fn parse_answer(value: &Value) -> Result<Answer, String> {
    let (allow, disclose, cache) = match value {
        Value::Bool(allow) => (*allow, false, false),
        Value::Dict(d) => {
            if let Some((key, _)) = d
                .iter()
                .find(|(k, _)| !matches!(*k, "allow" | "cache" | "disclose" | "validate"))
            {
                return Err(format!("authorizer returned unknown key '{key}'"));
            }
            let flag = |key: &str| match d.get(key) {
                None => Ok(None),
                Some(Value::Bool(b)) => Ok(Some(*b)),
                Some(_) => Err(format!("authorizer must have bool for '{key}'")),
            };
            let allow = flag("allow")?.ok_or("authorizer must have 'allow' in returned dict")?;
            if !matches!(d.get("validate"), None | Some(Value::Null | Value::Dict(_))) {
                return Err("authorizer must have dict for 'validate' (if present)".into());
            }
            (
                allow,
                flag("disclose")?.unwrap_or(false),
                flag("cache")?.unwrap_or(false),
            )
        }
        other => {
            return Err(format!(
                "authorizer returned unknown type '{}'",
                type_name(other)
            ))
        }
    };
    Ok(Answer {
        decision: Decision {
            allow,
            disclose: Disclose {
                caller: disclose,
                publisher: disclose,
            },
        },
        cache,
    })
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::UInt(_) => "int",
        Value::Float(_) => "float",
        Value::Str(_) => "str",
        Value::Bytes(_) => "bytes",
        Value::List(_) => "list",
        Value::Dict(_) => "dict",
    }
}

/// The URI and action a message asks to be authorized for, with its options (the authorizer's
/// fourth argument).
fn action_of(msg: &Message) -> Option<(&str, Action, &Dict)> {
    match msg {
        Message::Publish { topic, options, .. } => Some((topic, Action::Publish, options)),
        Message::Subscribe { topic, options, .. } => Some((topic, Action::Subscribe, options)),
        Message::Call {
            procedure, options, ..
        } => Some((procedure, Action::Call, options)),
        Message::Register {
            procedure, options, ..
        } => Some((procedure, Action::Register, options)),
        _ => None,
    }
}

/// Crossbar's wording of an authorizer failure, per action.
fn failure_text(action: Action, uri: &str, why: &str) -> String {
    let what = match action {
        Action::Publish => "publishing to topic URI",
        Action::Subscribe => "subscribing to topic URI",
        Action::Call => "calling procedure",
        Action::Register => "registering procedure",
    };
    format!("failed to authorize session for {what} '{uri}': {why}")
}

impl Core {
    /// A message from a session whose role has an authorizer.
    pub(super) fn dynamic_message(&mut self, conn: ConnId, msg: Message) {
        // Answers to invocations concern other sessions' calls; an ABORT ends the session now,
        // dropping whatever is parked.
        if matches!(
            msg,
            Message::Yield { .. } | Message::Error { .. } | Message::Abort { .. }
        ) {
            return self.dispatch(conn, msg, None);
        }
        let Some(joined) = self.joined(conn) else {
            return;
        };
        let (session, realm) = (joined.id, joined.realm);
        let Some(dynamic) = joined.dynamic.as_deref() else {
            return self.dispatch(conn, msg, None);
        };
        // A progressive call's follow-up CALLs belong to a call already authorized.
        let continuation = matches!(&msg, Message::Call { request, .. }
            if joined.rpc.pending_calls.contains_key(request));
        let action = action_of(&msg).filter(|_| !continuation);
        let next = match action {
            None => Next::Known(Verdict::Pass),
            Some((uri, action, options)) => match dynamic.cached(uri, action) {
                Some(decision) => Next::Known(Verdict::Decided(decision)),
                // An identical question already asked shares its answer.
                None => match dynamic.waiting_on(uri, action) {
                    Some(id) => Next::Known(Verdict::Waiting(id)),
                    None => Next::Ask(uri.to_owned(), action, options.clone()),
                },
            },
        };
        if dynamic.parked.is_empty() {
            match next {
                Next::Known(Verdict::Pass) => return self.dispatch(conn, msg, None),
                Next::Known(Verdict::Decided(d)) => return self.dispatch(conn, msg, Some(d)),
                _ => {}
            }
        }
        let limit = if action.is_some() {
            MAX_PARKED
        } else {
            // Room for the GOODBYE or CANCEL that may follow a full queue of actions.
            MAX_PARKED + 64
        };
        if dynamic.parked.len() >= limit {
            return match action {
                Some((uri, action, _)) => {
                    let why = failure_text(action, uri, "too many actions waiting for a decision");
                    self.fail_action(conn, &msg, &why)
                }
                None => self.protocol_violation(
                    conn,
                    "too many messages queued behind the dynamic authorizer",
                ),
            };
        }
        match next {
            Next::Known(verdict) => self.park(conn, Parked { msg, verdict }),
            Next::Ask(uri, action, options) => {
                // Parked before the call is sent: its answer may come at once.
                let internal = self.register_internal_call(InternalCall::Authorize {
                    conn,
                    session,
                    uri: uri.clone(),
                    action,
                });
                let verdict = Verdict::Waiting(internal);
                self.park(conn, Parked { msg, verdict });
                self.ask_authorizer(conn, internal, realm, uri, action, options);
            }
        }
    }

    /// Sends the authorizer of `conn`'s session the question booked as `internal`.
    fn ask_authorizer(
        &mut self,
        conn: ConnId,
        internal: u64,
        realm: usize,
        uri: String,
        action: Action,
        options: Dict,
    ) {
        let Some(d) = self.joined(conn).and_then(|j| j.dynamic.as_deref()) else {
            return;
        };
        let procedure = d.authorizer.to_string();
        let args = vec![
            d.details.clone(),
            Value::Str(uri),
            Value::Str(action.as_str().into()),
            Value::Dict(options),
        ];
        self.send_internal_call(internal, realm, procedure, args);
    }

    fn park(&mut self, conn: ConnId, parked: Parked) {
        if let Some(d) = self.joined_mut(conn).and_then(|j| j.dynamic.as_deref_mut()) {
            d.parked.push_back(parked);
        }
    }

    /// The authorizer answered (or failed, or timed out) for `(uri, action)`.
    pub(super) fn authorizer_answered(
        &mut self,
        conn: ConnId,
        session: u64,
        internal: u64,
        uri: &str,
        action: Action,
        result: Result<Value, (String, Option<String>)>,
    ) {
        let outcome = match result {
            Ok(value) => {
                parse_answer(&value).map_err(|e| format!("{}: {e}", uris::AUTHORIZATION_FAILED))
            }
            Err((error, _)) if error == uris::TIMEOUT => {
                Err("the authorizer did not answer in time".to_owned())
            }
            Err((error, _)) if error == uris::NO_SUCH_PROCEDURE => {
                Err("the authorizer is not registered".to_owned())
            }
            Err((error, Some(message))) => Err(format!("{error}: {message}")),
            Err((error, None)) => Err(error),
        };
        let verdict = match outcome {
            Ok(answer) => {
                if answer.cache {
                    if let Some(d) = self.dynamic_of(conn, session) {
                        d.remember(uri, action, answer.decision);
                    }
                }
                Verdict::Decided(answer.decision)
            }
            Err(why) => {
                tracing::warn!(
                    session,
                    uri,
                    action = action.as_str(),
                    "authorizer failed: {why}"
                );
                Verdict::Failed(failure_text(action, uri, &why))
            }
        };
        let Some(d) = self.dynamic_of(conn, session) else {
            return;
        };
        for p in d.parked.iter_mut() {
            if matches!(p.verdict, Verdict::Waiting(id) if id == internal) {
                p.verdict = verdict.clone();
            }
        }
        self.release_parked(conn);
    }

    fn dynamic_of(&mut self, conn: ConnId, session: u64) -> Option<&mut DynamicAuthz> {
        self.joined_mut(conn)
            .filter(|j| j.id == session)
            .and_then(|j| j.dynamic.as_deref_mut())
    }

    /// Carries out parked messages from the front while their decisions are known.
    fn release_parked(&mut self, conn: ConnId) {
        loop {
            let next = self
                .joined_mut(conn)
                .and_then(|j| j.dynamic.as_deref_mut())
                .and_then(|d| match d.parked.front() {
                    Some(p) if !matches!(p.verdict, Verdict::Waiting(_)) => d.parked.pop_front(),
                    _ => None,
                });
            let Some(Parked { msg, verdict }) = next else {
                return;
            };
            match verdict {
                Verdict::Decided(decision) => self.dispatch(conn, msg, Some(decision)),
                Verdict::Failed(why) => self.fail_action(conn, &msg, &why),
                // Only `Pass` gets here (the front is never waiting); a dynamic role's static
                // check denies every action, so nothing unauthorized could slip through anyway.
                Verdict::Pass | Verdict::Waiting(_) => self.dispatch(conn, msg, None),
            }
        }
    }

    /// Answers an action that could not be authorized (an unacknowledged PUBLISH gets nothing,
    /// as any refused one).
    fn fail_action(&mut self, conn: ConnId, msg: &Message, why: &str) {
        let (request_type, request) = match msg {
            Message::Publish {
                request, options, ..
            } if options.get_bool("acknowledge").unwrap_or(false) => {
                (MessageType::Publish, *request)
            }
            Message::Subscribe { request, .. } => (MessageType::Subscribe, *request),
            Message::Call { request, .. } => (MessageType::Call, *request),
            Message::Register { request, .. } => (MessageType::Register, *request),
            _ => return,
        };
        self.send_error(
            conn,
            request_type,
            request,
            uris::AUTHORIZATION_FAILED,
            Some(why.to_owned()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked_as_crossbar_does() {
        let allow = parse_answer(&Value::Bool(true)).unwrap();
        assert!(allow.decision.allow && !allow.cache && !allow.decision.disclose.caller);
        assert!(!parse_answer(&Value::Bool(false)).unwrap().decision.allow);
        let full = Dict::new()
            .with("allow", true)
            .with("disclose", true)
            .with("cache", true)
            .with("validate", Value::Null);
        let a = parse_answer(&Value::Dict(full)).unwrap();
        assert!(a.decision.allow && a.cache && a.decision.disclose.publisher);
        let cases = [
            (Value::Dict(Dict::new().with("cache", true)), "'allow'"),
            (
                Value::Dict(Dict::new().with("allow", "yes")),
                "bool for 'allow'",
            ),
            (
                Value::Dict(Dict::new().with("allow", true).with("role", "x")),
                "unknown key 'role'",
            ),
            (
                Value::Dict(Dict::new().with("allow", true).with("validate", 3u64)),
                "'validate'",
            ),
            (Value::Str("true".into()), "unknown type 'str'"),
            (Value::Null, "unknown type 'null'"),
        ];
        for (value, needle) in cases {
            let e = parse_answer(&value).unwrap_err();
            assert!(e.contains(needle), "{value:?}: {e}");
        }
    }
}
