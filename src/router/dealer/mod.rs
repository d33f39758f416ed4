//! The dealer: REGISTER, UNREGISTER, CALL, CANCEL, INVOCATION, INTERRUPT, YIELD and
//! invocation ERRORs, with shared and pattern-based registrations, progressive results and
//! invocations, call canceling and router-enforced call timeouts.
//!
//! The realm's home shard owns the authoritative registrations (conflicts, ids, callee lists)
//! and keeps every shard's read-only replica up to date. A CALL is resolved from the local
//! replica; on a miss the home shard resolves it before anyone answers `no_such_procedure`, so
//! a call made after REGISTERED was received always finds the procedure. The INVOCATION goes
//! straight to the callee's shard and the result straight back. A session's REGISTER and
//! UNREGISTER are in `registration.rs`, the home shard's side in `home.rs`, CANCEL and call
//! timeouts in `cancel.rs`.

mod cancel;
mod home;
pub(crate) mod msg;
mod registration;

use std::sync::Arc;
use std::time::Duration;

use hashbrown::HashMap;

use crate::wamp::error_uri as uris;
use crate::wamp::uri::{self, MatchPolicy};
use crate::wamp::{Dict, Message, MessageType, Payload, Value};

use super::authz::{Action, Decision};
use super::index::PatternIndex;
use super::session::{InvocationOrigin, PendingCall};
use super::shard_msg::{Identity, Inner};
use super::{ConnId, Core};
use crate::config::CallTimeoutUnit;
use msg::{
    CallRef, Callee, DealerMsg, Invoke, InvokePolicy, RegisterOutcome, RegisterRef, Registration,
};

/// Error when a shared registration's invocation policy differs from an existing one: the URI
/// Crossbar, Bondy and WampSharp send, and Autobahn's
/// `ApplicationError.PROCEDURE_EXISTS_INVOCATION_POLICY_CONFLICT`, which clients compare with.
pub(crate) const POLICY_CONFLICT: &str =
    "wamp.error.procedure_exists_with_different_invocation_policy";

/// One shard's part of a realm's dealer.
#[derive(Debug, Default)]
pub(crate) struct Dealer {
    /// Every shard: the realm's registrations, read-only, by (policy, URI).
    replica: PatternIndex<Arc<Registration>>,
    /// This shard's round-robin position per registration id.
    cursors: HashMap<u64, usize>,
    /// Home shard only: the authoritative registrations by id.
    home: HashMap<u64, Arc<Registration>>,
    /// A callee's shard: REGISTERs whose answer waits for the other shards' replicas.
    awaiting: HashMap<RegisterRef, registration::Awaiting>,
}

impl Dealer {
    /// Home shard: every registration of the realm.
    pub(crate) fn registrations(&self) -> impl Iterator<Item = &Arc<Registration>> {
        self.home.values()
    }

    /// Home shard: one registration by id.
    pub(crate) fn registration(&self, id: u64) -> Option<&Arc<Registration>> {
        self.home.get(&id)
    }

    /// The registration a call to `procedure` goes to (`PatternIndex::best_match`).
    pub(crate) fn best_match(&self, procedure: &str) -> Option<&Arc<Registration>> {
        self.replica.best_match(procedure)
    }

    fn set_replica(&mut self, registration: Arc<Registration>) {
        let (policy, uri) = (registration.policy, registration.uri.clone());
        self.replica.insert(policy, &uri, registration);
    }

    fn remove_replica(&mut self, policy: MatchPolicy, uri: &str, id: u64) {
        if self.replica.get(policy, uri).is_some_and(|r| r.id == id) {
            self.replica.remove(policy, uri);
            self.cursors.remove(&id);
        }
    }
}

/// Parsed CALL options the dealer acts on.
struct CallOptions {
    receive_progress: bool,
    progress: bool,
    /// The router-side timeout, and the caller's value as written (forwarded to the callee).
    timeout: Option<(Duration, Value)>,
    disclose_me: bool,
    ppt: Dict,
}

impl CallOptions {
    fn parse(options: &Dict, unit: CallTimeoutUnit) -> Self {
        // Crossbar and Autobahn|Python give `timeout` in seconds, the spec in milliseconds; the
        // realm says which (a float is allowed in either).
        let per_second = match unit {
            CallTimeoutUnit::Seconds => 1.0,
            CallTimeoutUnit::Millis => 1000.0,
        };
        let timeout = options.get("timeout").and_then(|v| {
            let n = match v {
                Value::Float(f) => *f,
                other => other.as_u64()? as f64,
            };
            (n > 0.0 && n.is_finite()).then(|| {
                (
                    Duration::from_secs_f64((n / per_second).min(1e9)),
                    v.clone(),
                )
            })
        });
        CallOptions {
            receive_progress: options.get_bool("receive_progress").unwrap_or(false),
            progress: options.get_bool("progress").unwrap_or(false),
            timeout,
            disclose_me: options.get_bool("disclose_me").unwrap_or(false),
            ppt: ppt_options(options),
        }
    }
}

/// The payload pass-through options of a message, forwarded untouched.
pub(crate) fn ppt_options(options: &Dict) -> Dict {
    let mut ppt = Dict::new();
    for (k, v) in options.iter() {
        // `enc_*` are Crossbar's names for the same (payload_transparency).
        if k.starts_with("ppt_") || k.starts_with("enc_") {
            ppt.insert(k, v.clone());
        }
    }
    ppt
}

impl Core {
    pub(super) fn handle_dealer_msg(&mut self, msg: DealerMsg) {
        match msg {
            DealerMsg::Register {
                realm,
                policy,
                uri,
                invoke,
                force_reregister,
                callee,
                request,
            } => self.home_register(
                realm,
                policy,
                uri,
                invoke,
                force_reregister,
                callee,
                request,
            ),
            DealerMsg::RegisterDone {
                realm,
                session,
                request,
                result,
                acks,
            } => self.register_answer(realm, session, request, result, acks),
            DealerMsg::Replica {
                realm,
                registration,
                ack,
            } => {
                self.realms[realm].dealer.set_replica(registration);
                if let Some(register) = ack {
                    let msg = DealerMsg::ReplicaAck { realm, register };
                    self.dealer_to_shard(register.shard, msg);
                }
            }
            DealerMsg::ReplicaAck { realm, register } => self.replica_acked(realm, register),
            DealerMsg::ReplicaRemove {
                realm,
                policy,
                uri,
                id,
            } => self.realms[realm].dealer.remove_replica(policy, &uri, id),
            DealerMsg::Unregister {
                realm,
                id,
                callee,
                reply,
            } => self.home_unregister(realm, id, callee, reply),
            DealerMsg::UnregisterDone {
                session,
                request,
                ok,
            } => self.unregister_done(session, request, ok),
            DealerMsg::Revoked {
                session,
                id,
                reason,
            } => self.registration_revoked(session, id, reason),
            DealerMsg::Invoke(invoke) => self.invoke(*invoke),
            DealerMsg::Routed { call, callee } => {
                if let Some(p) = self.pending_call_mut(call) {
                    p.callee = Some(callee);
                }
            }
            DealerMsg::Continue {
                call,
                callee,
                progress,
                payload,
            } => self.continue_invocation(call, callee, progress, payload),
            DealerMsg::Result {
                call,
                progress,
                details,
                payload,
            } => self.call_result(call, progress, details, *payload),
            DealerMsg::Error {
                call,
                error,
                details,
                payload,
            } => self.call_failed(call, error, details, *payload),
            DealerMsg::Interrupt {
                call,
                callee,
                mode,
                reason,
            } => self.interrupt(call, callee, mode, reason),
        }
    }

    fn dealer_to_shard(&mut self, shard: usize, msg: DealerMsg) {
        self.send_to_shard(shard, Inner::Dealer(Box::new(msg)));
    }

    pub(super) fn call(
        &mut self,
        conn: ConnId,
        request: u64,
        options: &Dict,
        procedure: String,
        payload: Payload,
        granted: Option<Decision>,
    ) {
        let Some(joined) = self.joined(conn) else {
            return;
        };
        let call = CallRef {
            shard: self.shard,
            session: joined.id,
            request,
        };
        let opts = CallOptions::parse(options, self.realms[joined.realm].call_timeout_unit);
        if let Some(pending) = joined.rpc.pending_calls.get(&request) {
            if !pending.progressive {
                let msg = format!("CALL request id {request} reused while that call is pending");
                return self.protocol_violation(conn, &msg);
            }
            if pending.answered {
                // The call already ended (refused, failed or answered early): the rest of its
                // input is dropped, and its last chunk frees the request id.
                if !opts.progress {
                    if let Some(j) = self.joined_mut(conn) {
                        j.rpc.pending_calls.remove(&request);
                    }
                }
                return;
            }
            return self.continue_call(conn, call, opts.progress, payload);
        }
        if joined.rpc.pending_calls.len() >= self.max_pending_calls {
            let msg = format!(
                "this session already has {} calls outstanding",
                joined.rpc.pending_calls.len()
            );
            return self.send_error(
                conn,
                MessageType::Call,
                request,
                super::TOO_MANY_CALLS,
                Some(msg),
            );
        }
        let realm_idx = joined.realm;
        let realm = &self.realms[realm_idx];
        let role = &realm.roles[joined.role];
        let decision = granted.unwrap_or_else(|| role.authorize(&procedure, Action::Call));
        let refusal = if !uri::is_valid(&procedure, realm.uri_check, MatchPolicy::Exact) {
            Some((
                uris::INVALID_URI,
                format!("invalid procedure URI \"{procedure}\""),
            ))
        } else if !decision.allow {
            Some((
                uris::NOT_AUTHORIZED,
                format!("session is not authorized to call procedure \"{procedure}\""),
            ))
        } else {
            None
        };
        if let Some((error, msg)) = refusal {
            return self.send_error(conn, MessageType::Call, request, error, Some(msg));
        }
        if realm.meta_enabled && super::meta::is_meta_procedure(&procedure) {
            return self.meta_call(conn, request, &procedure, payload);
        }
        let caller = (decision.disclose.caller || opts.disclose_me).then(|| Identity {
            session: joined.id,
            authid: joined.authid.clone(),
            authrole: Arc::clone(&role.name),
        });
        let home = self.home_shard(realm_idx);
        let target = self.pick_callee(realm_idx, &procedure);
        if target.is_none() && home == self.shard {
            let msg = format!("no callee registered for procedure \"{procedure}\"");
            return self.send_error(
                conn,
                MessageType::Call,
                request,
                uris::NO_SUCH_PROCEDURE,
                Some(msg),
            );
        }
        let deadline = opts.timeout.as_ref().map(|(t, _)| self.now + *t);
        let pending = PendingCall {
            callee: target.map(|(_, c)| c),
            receive_progress: opts.receive_progress,
            progressive: opts.progress,
            deadline,
            answered: false,
            started: Some(self.now),
        };
        if let Some(j) = self.joined_mut(conn) {
            j.rpc.pending_calls.insert(request, pending);
        }
        if let Some(d) = deadline {
            self.timers.call_deadline(d, call.session, request);
        }
        let invoke = Invoke {
            realm: realm_idx,
            target,
            resolved_remotely: false,
            procedure,
            caller_shard: call.shard,
            caller_session: call.session,
            caller_request: request,
            caller,
            receive_progress: opts.receive_progress,
            progress: opts.progress,
            timeout: opts.timeout.map(|(_, value)| value),
            ppt: opts.ppt,
            payload,
        };
        let shard = target.map_or(home, |(_, c)| c.shard);
        self.dealer_to_shard(shard, DealerMsg::Invoke(Box::new(invoke)));
    }

    /// Chooses a callee for `procedure` from this shard's replica.
    pub(super) fn pick_callee(&mut self, realm: usize, procedure: &str) -> Option<(u64, Callee)> {
        let dealer = &mut self.realms[realm].dealer;
        let reg = dealer.best_match(procedure)?;
        let n = reg.callees.len();
        let index = match reg.invoke {
            _ if n <= 1 => 0,
            InvokePolicy::Single | InvokePolicy::First => 0,
            InvokePolicy::Last => n - 1,
            InvokePolicy::Random => self.ids.next_below(n),
            InvokePolicy::RoundRobin => {
                let cursor = dealer.cursors.entry(reg.id).or_insert(0);
                let i = *cursor % n;
                *cursor = cursor.wrapping_add(1);
                i
            }
        };
        let reg = dealer.best_match(procedure)?;
        reg.callees.get(index).map(|c| (reg.id, *c))
    }

    /// More input for a progressive call invocation.
    fn continue_call(&mut self, conn: ConnId, call: CallRef, progress: bool, payload: Payload) {
        let Some(pending) = self
            .joined_mut(conn)
            .and_then(|j| j.rpc.pending_calls.get_mut(&call.request))
        else {
            return;
        };
        pending.progressive = progress;
        let callee = pending.callee;
        let msg = |callee: Option<u64>, payload| DealerMsg::Continue {
            call,
            callee,
            progress,
            payload,
        };
        match callee {
            Some(c) => self.dealer_to_shard(c.shard, msg(Some(c.session), payload)),
            // Not routed yet (resolved by the home shard): every shard looks for it.
            None => {
                for shard in 0..self.shards {
                    self.dealer_to_shard(shard, msg(None, payload.clone()));
                }
            }
        }
    }

    /// An INVOCATION for a local callee, or (with no target, at the home shard) a call to resolve.
    fn invoke(&mut self, mut invoke: Invoke) {
        let Some((registration, callee)) = invoke.target else {
            return match self.pick_callee(invoke.realm, &invoke.procedure) {
                Some(target) => {
                    invoke.target = Some(target);
                    invoke.resolved_remotely = true;
                    self.dealer_to_shard(target.1.shard, DealerMsg::Invoke(Box::new(invoke)));
                }
                None => {
                    let msg = format!(
                        "no callee registered for procedure \"{}\"",
                        invoke.procedure
                    );
                    self.fail_call(call_of(&invoke), uris::NO_SUCH_PROCEDURE, msg);
                }
            };
        };
        let call = call_of(&invoke);
        let conn = self.conn_of(callee.session);
        let registered = conn
            .and_then(|c| self.joined(c))
            .is_some_and(|j| j.rpc.registrations.contains(&registration));
        let (Some(conn), true) = (conn, registered) else {
            let msg = format!(
                "no callee registered for procedure \"{}\"",
                invoke.procedure
            );
            return self.fail_call(call, uris::NO_SUCH_PROCEDURE, msg);
        };
        if invoke.resolved_remotely {
            self.dealer_to_shard(call.shard, DealerMsg::Routed { call, callee });
        }
        let pattern = self.realms[invoke.realm]
            .dealer
            .best_match(&invoke.procedure)
            .is_some_and(|r| r.id == registration && r.policy != MatchPolicy::Exact);
        let Some(joined) = self.joined_mut(conn) else {
            return;
        };
        if invoke.progress && !joined.features.progressive_call_invocations {
            let msg = "the callee does not support progressive call invocations".to_owned();
            return self.fail_call(call, uris::FEATURE_NOT_SUPPORTED, msg);
        }
        joined.rpc.next_invocation += 1;
        let request = joined.rpc.next_invocation;
        let mut details = invoke.ppt;
        if pattern {
            details.insert("procedure", invoke.procedure.as_str());
        }
        if let Some(c) = &invoke.caller {
            details.insert("caller", c.session);
            details.insert("caller_authid", &*c.authid);
            details.insert("caller_authrole", &*c.authrole);
        }
        // Forwarded whether or not the callee announced progressive results, as Crossbar does:
        // callees that never announce it (wampy.js) still send progress when asked, and one
        // that cannot ignores the option.
        if invoke.receive_progress {
            details.insert("receive_progress", true);
        }
        if invoke.progress {
            details.insert("progress", true);
        }
        if let Some(timeout) = invoke.timeout {
            details.insert("timeout", timeout);
        }
        // The first CALL's options hold for the whole progressive invocation: later
        // INVOCATIONs repeat these details.
        let base_details = invoke.progress.then(|| Box::new(details.clone()));
        if let Some(joined) = self.joined_mut(conn) {
            let origin = InvocationOrigin {
                call,
                registration,
                receive_progress: invoke.receive_progress,
                input_open: invoke.progress,
                base_details,
            };
            joined.rpc.invocations.insert(request, origin);
        }
        let msg = Message::Invocation {
            request,
            registration,
            details,
            payload: invoke.payload,
        };
        self.send(conn, &msg);
    }

    fn continue_invocation(
        &mut self,
        call: CallRef,
        callee: Option<u64>,
        progress: bool,
        payload: Payload,
    ) {
        let conns: Vec<ConnId> = match callee {
            Some(s) => self.conn_of(s).into_iter().collect(),
            None => self.sessions.joined_conns(),
        };
        for conn in conns {
            let Some(joined) = self.joined_mut(conn) else {
                continue;
            };
            let Some((&request, origin)) = joined
                .rpc
                .invocations
                .iter_mut()
                .find(|(_, o)| o.call == call)
            else {
                continue;
            };
            if !origin.input_open {
                continue;
            }
            origin.input_open = progress;
            let registration = origin.registration;
            let mut details = origin.base_details.as_deref().cloned().unwrap_or_default();
            if !progress {
                details.0.retain(|(k, _)| k != "progress");
            }
            let msg = Message::Invocation {
                request,
                registration,
                details,
                payload,
            };
            return self.send(conn, &msg);
        }
    }

    fn fail_call(&mut self, call: CallRef, error: &str, message: String) {
        let payload = Box::new(Payload::args(vec![message.into()]));
        let msg = DealerMsg::Error {
            call,
            error: error.to_owned(),
            details: Dict::new(),
            payload,
        };
        self.dealer_to_shard(call.shard, msg);
    }

    pub(super) fn yield_result(
        &mut self,
        conn: ConnId,
        request: u64,
        options: &Dict,
        payload: Payload,
    ) {
        let progress = options.get_bool("progress").unwrap_or(false);
        let Some(joined) = self.joined_mut(conn) else {
            return;
        };
        // An unknown request is a late answer to a call whose caller left or canceled: dropped.
        let Some(origin) = joined.rpc.invocations.get(&request) else {
            return;
        };
        let (call, receive_progress) = (origin.call, origin.receive_progress);
        if progress && !receive_progress {
            // The caller did not ask for progressive results: a caller that did not ask could
            // take one for its final result, so they are not forwarded.
            return;
        }
        if !progress {
            joined.rpc.invocations.remove(&request);
        }
        let (session, authid, realm, role) = (
            joined.id,
            Arc::clone(&joined.authid),
            joined.realm,
            joined.role,
        );
        let mut details = ppt_options(options);
        let realm = &self.realms[realm];
        if realm.disclose_callee {
            details.insert("callee", session);
            details.insert("callee_authid", &*authid);
            details.insert("callee_authrole", &*realm.roles[role].name);
        }
        let msg = DealerMsg::Result {
            call,
            progress,
            details,
            payload: Box::new(payload),
        };
        self.dealer_to_shard(call.shard, msg);
    }

    pub(super) fn invocation_error(
        &mut self,
        conn: ConnId,
        request: u64,
        details: Dict,
        error: String,
        payload: Payload,
    ) {
        let Some(joined) = self.joined_mut(conn) else {
            return;
        };
        let Some(origin) = joined.rpc.invocations.remove(&request) else {
            return;
        };
        let msg = DealerMsg::Error {
            call: origin.call,
            error,
            details,
            payload: Box::new(payload),
        };
        self.dealer_to_shard(origin.call.shard, msg);
    }

    fn pending_call_mut(&mut self, call: CallRef) -> Option<&mut PendingCall> {
        let conn = self.conn_of(call.session)?;
        self.joined_mut(conn)?
            .rpc
            .pending_calls
            .get_mut(&call.request)
    }

    fn call_result(&mut self, call: CallRef, progress: bool, mut details: Dict, payload: Payload) {
        if call.session == 0 {
            // The router's own call (a dynamic authenticator): its first positional result.
            if !progress {
                let value = payload
                    .args
                    .and_then(|a| a.into_iter().next())
                    .unwrap_or(Value::Null);
                self.internal_call_done(call.request, Ok(value));
            }
            return;
        }
        let Some(conn) = self.conn_of(call.session) else {
            return;
        };
        let Some(joined) = self.joined_mut(conn) else {
            return;
        };
        let Some(pending) = joined.rpc.pending_calls.get(&call.request) else {
            return;
        };
        if pending.answered {
            return;
        }
        if progress {
            if !pending.receive_progress {
                return;
            }
            details.insert("progress", true);
        } else {
            let ended = joined.end_call(call.request);
            self.callee_answered(ended);
        }
        self.send(
            conn,
            &Message::Result {
                request: call.request,
                details,
                payload,
            },
        );
    }

    /// A call answered by its callee: its latency, from CALL to the final RESULT or ERROR
    /// (calls that found no callee are not latency samples).
    fn callee_answered(&mut self, ended: Option<PendingCall>) {
        let ended = ended.filter(|p| p.callee.is_some());
        if let Some(started) = ended.and_then(|p| p.started) {
            self.stats
                .call_latency(self.now.saturating_duration_since(started));
        }
    }

    fn call_failed(&mut self, call: CallRef, error: String, details: Dict, payload: Payload) {
        if call.session == 0 {
            let message = payload
                .args
                .as_ref()
                .and_then(|a| a.first())
                .and_then(Value::as_str)
                .map(str::to_owned);
            return self.internal_call_done(call.request, Err((error, message)));
        }
        let Some(conn) = self.conn_of(call.session) else {
            return;
        };
        let Some(joined) = self.joined_mut(conn) else {
            return;
        };
        let Some(ended) = joined.end_call(call.request) else {
            return;
        };
        self.callee_answered(Some(ended));
        let msg = Message::Error {
            request_type: MessageType::Call.code(),
            request: call.request,
            details,
            error,
            payload,
        };
        self.send(conn, &msg);
    }
}

fn call_of(invoke: &Invoke) -> CallRef {
    CallRef {
        shard: invoke.caller_shard,
        session: invoke.caller_session,
        request: invoke.caller_request,
    }
}

#[cfg(test)]
impl Dealer {
    /// True when this shard holds no registration (replica or authoritative).
    pub(crate) fn is_empty(&self) -> bool {
        self.replica.is_empty()
            && self.home.is_empty()
            && self.cursors.is_empty()
            && self.awaiting.is_empty()
    }
}
