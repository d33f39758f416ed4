//! The dealer: REGISTER, UNREGISTER, CALL, INVOCATION, YIELD and invocation ERRORs.
//!
//! The realm's home shard owns the authoritative registration table (conflicts and ids) and
//! keeps every shard's read-only replica up to date. A CALL is resolved from the local replica;
//! on a miss the home shard resolves it before anyone answers `no_such_procedure`, so a call
//! made after REGISTERED was received always finds the procedure.

use hashbrown::HashMap;

use crate::wamp::error_uri as uris;
use crate::wamp::uri::{self, MatchPolicy};
use crate::wamp::{Dict, Message, MessageType, Payload};

use super::authz::Action;
use super::session::{InvocationOrigin, Joined, PendingCall};
use super::shard_msg::{CallFailure, Identity, Inner, Invoke, RegTarget};
use super::{ConnId, Core};

/// One shard's part of a realm's dealer.
#[derive(Debug, Default)]
pub(crate) struct Dealer {
    /// Every shard: procedure URI -> where its callee lives.
    pub(crate) replica: HashMap<String, RegTarget>,
    /// Home shard only: the authoritative table.
    table: HashMap<String, RegTarget>,
    /// Home shard only: registration id -> procedure URI.
    table_by_id: HashMap<u64, String>,
}

impl Core {
    pub(super) fn register(
        &mut self,
        conn: ConnId,
        request: u64,
        options: &Dict,
        procedure: String,
    ) {
        let Some(joined) = self.joined(conn) else {
            return;
        };
        let realm_idx = joined.realm;
        let session = joined.id;
        let realm = &self.realms[realm_idx];
        let role = &realm.roles[joined.role];
        let refusal = match (options.get_str("match"), options.get_str("invoke")) {
            (Some(m), _) if m != "exact" => Some((
                uris::INVALID_ARGUMENT,
                format!("match policy \"{m}\" for registrations is not supported yet (only exact)"),
            )),
            (_, Some(i)) if i != "single" => Some((
                uris::INVALID_ARGUMENT,
                format!("invocation policy \"{i}\" is not supported yet (only single)"),
            )),
            _ if !uri::is_valid(&procedure, realm.uri_check, MatchPolicy::Exact) => Some((
                uris::INVALID_URI,
                format!("invalid procedure URI \"{procedure}\""),
            )),
            _ if uri::is_reserved(&procedure) && role.name != "trusted" => Some((
                uris::INVALID_URI,
                format!("procedure \"{procedure}\" is in the reserved wamp. namespace"),
            )),
            _ if !role.authorize(&procedure, Action::Register).allow => Some((
                uris::NOT_AUTHORIZED,
                format!("session is not authorized to register procedure \"{procedure}\""),
            )),
            _ => None,
        };
        if let Some((error, msg)) = refusal {
            return self.send_error(conn, MessageType::Register, request, error, Some(msg));
        }
        if let Some(j) = self.joined_mut(conn) {
            j.pending_registers += 1;
        }
        let from = self.shard;
        self.send_to_home(
            realm_idx,
            Inner::Register {
                realm: realm_idx,
                uri: procedure,
                from,
                session,
                request,
            },
        );
    }

    pub(super) fn home_register(
        &mut self,
        realm: usize,
        uri: String,
        from: usize,
        session: u64,
        request: u64,
    ) {
        if self.realms[realm].dealer.table.contains_key(&uri) {
            let result = Err(uris::PROCEDURE_ALREADY_EXISTS);
            return self.send_to_shard(
                from,
                Inner::RegisterDone {
                    realm,
                    uri,
                    session,
                    request,
                    result,
                },
            );
        }
        let target = RegTarget {
            id: self.ids.next_id(),
            shard: from,
            session,
        };
        let dealer = &mut self.realms[realm].dealer;
        dealer.table.insert(uri.clone(), target);
        dealer.table_by_id.insert(target.id, uri.clone());
        dealer.replica.insert(uri.clone(), target);
        for shard in 0..self.shards {
            if shard != self.shard && shard != from {
                self.send_to_shard(
                    shard,
                    Inner::ReplicaAdd {
                        realm,
                        uri: uri.clone(),
                        target,
                    },
                );
            }
        }
        self.send_to_shard(
            from,
            Inner::RegisterDone {
                realm,
                uri,
                session,
                request,
                result: Ok(target.id),
            },
        );
    }

    pub(super) fn register_done(
        &mut self,
        realm: usize,
        uri: String,
        session: u64,
        request: u64,
        result: Result<u64, &'static str>,
    ) {
        let Some(conn) = self.conn_of(session) else {
            // The session left while the home shard was registering: undo.
            if let Ok(id) = result {
                self.send_to_home(
                    realm,
                    Inner::Unregister {
                        realm,
                        id,
                        session,
                        reply: None,
                    },
                );
            }
            return;
        };
        if let Some(j) = self.joined_mut(conn) {
            j.pending_registers = j.pending_registers.saturating_sub(1);
        }
        match result {
            Ok(id) => {
                let target = RegTarget {
                    id,
                    shard: self.shard,
                    session,
                };
                self.realms[realm].dealer.replica.insert(uri, target);
                if let Some(j) = self.joined_mut(conn) {
                    j.registrations.push(id);
                }
                self.send(
                    conn,
                    &Message::Registered {
                        request,
                        registration: id,
                    },
                );
            }
            Err(error) => {
                let msg = format!("procedure \"{uri}\" is already registered");
                self.send_error(conn, MessageType::Register, request, error, Some(msg));
            }
        }
    }

    pub(super) fn unregister(&mut self, conn: ConnId, request: u64, registration: u64) {
        let Some(joined) = self.joined_mut(conn) else {
            return;
        };
        let Some(pos) = joined.registrations.iter().position(|&r| r == registration) else {
            let msg = format!("session holds no registration {registration}");
            return self.send_error(
                conn,
                MessageType::Unregister,
                request,
                uris::NO_SUCH_REGISTRATION,
                Some(msg),
            );
        };
        joined.registrations.swap_remove(pos);
        let (realm, session) = (joined.realm, joined.id);
        let reply = Some((self.shard, request));
        self.send_to_home(
            realm,
            Inner::Unregister {
                realm,
                id: registration,
                session,
                reply,
            },
        );
    }

    pub(super) fn home_unregister(
        &mut self,
        realm: usize,
        id: u64,
        session: u64,
        reply: Option<(usize, u64)>,
    ) {
        let dealer = &mut self.realms[realm].dealer;
        let owned = dealer.table_by_id.get(&id).and_then(|uri| {
            dealer
                .table
                .get(uri)
                .map(|t| (uri.clone(), t.session == session))
        });
        let ok = match owned {
            Some((uri, true)) => {
                dealer.table.remove(&uri);
                dealer.table_by_id.remove(&id);
                self.replica_remove(realm, &uri, id);
                for shard in 0..self.shards {
                    if shard != self.shard {
                        self.send_to_shard(
                            shard,
                            Inner::ReplicaRemove {
                                realm,
                                uri: uri.clone(),
                                id,
                            },
                        );
                    }
                }
                true
            }
            _ => false,
        };
        if let Some((shard, request)) = reply {
            self.send_to_shard(
                shard,
                Inner::UnregisterDone {
                    session,
                    request,
                    ok,
                },
            );
        }
    }

    pub(super) fn replica_remove(&mut self, realm: usize, uri: &str, id: u64) {
        let replica = &mut self.realms[realm].dealer.replica;
        if replica.get(uri).is_some_and(|t| t.id == id) {
            replica.remove(uri);
        }
    }

    pub(super) fn unregister_done(&mut self, session: u64, request: u64, ok: bool) {
        let Some(conn) = self.conn_of(session) else {
            return;
        };
        if ok {
            self.send(conn, &Message::Unregistered { request });
        } else {
            let msg = "the registration no longer exists".to_owned();
            self.send_error(
                conn,
                MessageType::Unregister,
                request,
                uris::NO_SUCH_REGISTRATION,
                Some(msg),
            );
        }
    }

    pub(super) fn call(
        &mut self,
        conn: ConnId,
        request: u64,
        options: &Dict,
        procedure: String,
        payload: Payload,
    ) {
        let _ = options;
        let Some(joined) = self.joined(conn) else {
            return;
        };
        if joined.pending_calls.contains_key(&request) {
            let msg = format!("CALL request id {request} reused while that call is pending");
            return self.protocol_violation(conn, &msg);
        }
        let realm_idx = joined.realm;
        let realm = &self.realms[realm_idx];
        let role = &realm.roles[joined.role];
        let decision = role.authorize(&procedure, Action::Call);
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
        let caller = decision.disclose.caller.then(|| Identity {
            session: joined.id,
            authid: joined.authid.clone(),
            authrole: role.name.clone(),
        });
        let target = realm.dealer.replica.get(&procedure).copied();
        let home = self.home_shard(realm_idx);
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
        let invoke = Invoke {
            realm: realm_idx,
            target,
            procedure,
            caller_shard: self.shard,
            caller_session: joined.id,
            caller_request: request,
            caller,
            payload,
        };
        if let Some(j) = self.joined_mut(conn) {
            j.pending_calls.insert(
                request,
                PendingCall {
                    callee: target.map(|t| (t.shard, t.session)),
                },
            );
        }
        let shard = target.map_or(home, |t| t.shard);
        self.send_to_shard(shard, Inner::Invoke(Box::new(invoke)));
    }

    /// An INVOCATION for a local callee, or (with no target, at the home shard) a call to resolve.
    pub(super) fn invoke(&mut self, mut invoke: Invoke) {
        let target = match invoke.target {
            Some(t) => t,
            None => match self.realms[invoke.realm]
                .dealer
                .table
                .get(&invoke.procedure)
                .copied()
            {
                Some(t) => {
                    invoke.target = Some(t);
                    return self.send_to_shard(t.shard, Inner::Invoke(Box::new(invoke)));
                }
                None => {
                    let msg = format!(
                        "no callee registered for procedure \"{}\"",
                        invoke.procedure
                    );
                    return self.fail_call(&invoke, uris::NO_SUCH_PROCEDURE, msg);
                }
            },
        };
        let callee = self.conn_of(target.session);
        let registered = callee
            .and_then(|c| self.joined(c))
            .is_some_and(|j| j.registrations.contains(&target.id));
        let (Some(conn), true) = (callee, registered) else {
            let msg = format!(
                "no callee registered for procedure \"{}\"",
                invoke.procedure
            );
            return self.fail_call(&invoke, uris::NO_SUCH_PROCEDURE, msg);
        };
        let Some(joined) = self.joined_mut(conn) else {
            return;
        };
        joined.next_invocation += 1;
        let request = joined.next_invocation;
        joined.invocations.insert(
            request,
            InvocationOrigin {
                caller_shard: invoke.caller_shard,
                caller_session: invoke.caller_session,
                caller_request: invoke.caller_request,
            },
        );
        let mut details = Dict::new();
        if let Some(c) = &invoke.caller {
            details.insert("caller", c.session);
            details.insert("caller_authid", c.authid.as_str());
            details.insert("caller_authrole", c.authrole.as_str());
        }
        let msg = Message::Invocation {
            request,
            registration: target.id,
            details,
            payload: invoke.payload,
        };
        self.send(conn, &msg);
    }

    fn fail_call(&mut self, invoke: &Invoke, error: &str, message: String) {
        let failure = CallFailure {
            caller_session: invoke.caller_session,
            request: invoke.caller_request,
            error: error.to_owned(),
            details: Dict::new(),
            payload: Payload::args(vec![message.into()]),
        };
        self.send_to_shard(invoke.caller_shard, Inner::CallError(Box::new(failure)));
    }

    pub(super) fn yield_result(&mut self, conn: ConnId, request: u64, payload: Payload) {
        let Some(joined) = self.joined_mut(conn) else {
            return;
        };
        // An unknown request is a late answer to a call whose caller left: dropped.
        let Some(origin) = joined.invocations.remove(&request) else {
            return;
        };
        let msg = Inner::CallResult {
            caller_session: origin.caller_session,
            request: origin.caller_request,
            payload: Box::new(payload),
        };
        self.send_to_shard(origin.caller_shard, msg);
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
        let Some(origin) = joined.invocations.remove(&request) else {
            return;
        };
        let failure = CallFailure {
            caller_session: origin.caller_session,
            request: origin.caller_request,
            error,
            details,
            payload,
        };
        self.send_to_shard(origin.caller_shard, Inner::CallError(Box::new(failure)));
    }

    pub(super) fn call_result(&mut self, caller_session: u64, request: u64, payload: Payload) {
        let Some(conn) = self.conn_of(caller_session) else {
            return;
        };
        let Some(joined) = self.joined_mut(conn) else {
            return;
        };
        if joined.pending_calls.remove(&request).is_none() {
            return;
        }
        self.send(
            conn,
            &Message::Result {
                request,
                details: Dict::new(),
                payload,
            },
        );
    }

    pub(super) fn call_failed(&mut self, failure: CallFailure) {
        let Some(conn) = self.conn_of(failure.caller_session) else {
            return;
        };
        let Some(joined) = self.joined_mut(conn) else {
            return;
        };
        if joined.pending_calls.remove(&failure.request).is_none() {
            return;
        }
        let msg = Message::Error {
            request_type: MessageType::Call.code(),
            request: failure.request,
            details: failure.details,
            error: failure.error,
            payload: failure.payload,
        };
        self.send(conn, &msg);
    }

    pub(super) fn caller_gone(
        &mut self,
        callee: Option<u64>,
        caller_shard: usize,
        caller_session: u64,
        request: u64,
    ) {
        let matches = |o: &InvocationOrigin| {
            o.caller_shard == caller_shard
                && o.caller_session == caller_session
                && o.caller_request == request
        };
        let conns: Vec<ConnId> = match callee {
            Some(s) => self.conn_of(s).into_iter().collect(),
            None => self.by_session_id.values().copied().collect(),
        };
        for conn in conns {
            if let Some(j) = self.joined_mut(conn) {
                j.invocations.retain(|_, o| !matches(o));
            }
        }
    }

    /// A session left: its callers learn that their calls are canceled, its callees forget
    /// the calls it made.
    pub(super) fn leave_calls(&mut self, joined: &Joined) {
        for (&request, pending) in &joined.pending_calls {
            let targets: Vec<(usize, Option<u64>)> = match pending.callee {
                Some((shard, session)) => vec![(shard, Some(session))],
                None => (0..self.shards).map(|s| (s, None)).collect(),
            };
            for (shard, callee_session) in targets {
                let msg = Inner::CallerGone {
                    callee_session,
                    caller_shard: self.shard,
                    caller_session: joined.id,
                    request,
                };
                self.send_to_shard(shard, msg);
            }
        }
        for origin in joined.invocations.values() {
            let failure = CallFailure {
                caller_session: origin.caller_session,
                request: origin.caller_request,
                error: uris::CANCELED.to_owned(),
                details: Dict::new(),
                payload: Payload::args(vec!["the callee left before answering".into()]),
            };
            self.send_to_shard(origin.caller_shard, Inner::CallError(Box::new(failure)));
        }
    }
}

#[cfg(test)]
impl Dealer {
    /// True when this shard holds no registration (replica or authoritative).
    pub(crate) fn is_empty(&self) -> bool {
        self.replica.is_empty() && self.table.is_empty() && self.table_by_id.is_empty()
    }
}
