//! A session's REGISTER and UNREGISTER: checked here (URI, policies, authorization), decided by
//! the realm's home shard (`home.rs`), answered here when the home shard's verdict comes back.

use super::*;

/// A REGISTER answered by the home shard (or not yet), waiting for replica acknowledgements.
#[derive(Debug, Default)]
pub(super) struct Awaiting {
    answer: Option<(RegisterOutcome, usize)>,
    acks: usize,
}

impl Core {
    /// The home shard's answer to a REGISTER: given to the callee at once, or once every other
    /// shard's replica acknowledged the registration.
    pub(super) fn register_answer(
        &mut self,
        realm: usize,
        session: u64,
        request: u64,
        result: RegisterOutcome,
        acks: usize,
    ) {
        let registration = match (&result, acks) {
            (Ok(reg), 1..) => reg.id,
            _ => return self.register_done(realm, session, request, result),
        };
        let key = RegisterRef {
            shard: self.shard,
            session,
            request,
            registration,
        };
        let dealer = &mut self.realms[realm].dealer;
        dealer.awaiting.entry(key).or_default().answer = Some((result, acks));
        self.register_when_replicated(realm, key);
    }

    pub(super) fn replica_acked(&mut self, realm: usize, register: RegisterRef) {
        let dealer = &mut self.realms[realm].dealer;
        dealer.awaiting.entry(register).or_default().acks += 1;
        self.register_when_replicated(realm, register);
    }

    fn register_when_replicated(&mut self, realm: usize, key: RegisterRef) {
        let awaiting = &mut self.realms[realm].dealer.awaiting;
        let ready = awaiting
            .get(&key)
            .is_some_and(|a| a.answer.as_ref().is_some_and(|(_, n)| a.acks >= *n));
        if !ready {
            return;
        }
        if let Some(Awaiting {
            answer: Some((result, _)),
            ..
        }) = awaiting.remove(&key)
        {
            self.register_done(realm, key.session, key.request, result);
        }
    }

    /// At the callee's shard: the callee lost registration `id`; it is told when it announced
    /// `registration_revocation`.
    pub(super) fn registration_revoked(&mut self, session: u64, id: u64, reason: Option<String>) {
        let Some(conn) = self.conn_of(session) else {
            return;
        };
        let Some(joined) = self.joined_mut(conn) else {
            return;
        };
        let held = joined.rpc.registrations.contains(&id);
        joined.rpc.registrations.retain(|&r| r != id);
        if held && joined.features.registration_revocation {
            let details = super::super::meta::revocation_details("registration", id, reason);
            self.send(
                conn,
                &Message::Unregistered {
                    request: 0,
                    details,
                },
            );
        }
    }

    pub(in crate::router) fn register(
        &mut self,
        conn: ConnId,
        request: u64,
        options: &Dict,
        procedure: String,
        granted: Option<Decision>,
    ) {
        let Some(joined) = self.joined(conn) else {
            return;
        };
        let (realm_idx, session) = (joined.realm, joined.id);
        let realm = &self.realms[realm_idx];
        let role = &realm.roles[joined.role];
        let policy = options
            .get_str("match")
            .map_or(Some(MatchPolicy::Exact), MatchPolicy::parse);
        let invoke = options
            .get_str("invoke")
            .map_or(Some(InvokePolicy::Single), InvokePolicy::parse);
        let refusal = match (policy, invoke) {
            (None, _) => Some((
                uris::INVALID_ARGUMENT,
                "unknown match policy (exact, prefix or wildcard)".to_owned(),
            )),
            (_, None) => Some((
                uris::INVALID_ARGUMENT,
                "unknown invocation policy (single, roundrobin, random, first or last)".to_owned(),
            )),
            (Some(p), _) if !uri::is_valid(&procedure, realm.uri_check, p) => Some((
                uris::INVALID_URI,
                format!(
                    "invalid procedure URI \"{procedure}\" for match {}",
                    p.as_str()
                ),
            )),
            _ if uri::is_reserved(&procedure) && &*role.name != "trusted" => Some((
                uris::INVALID_URI,
                format!("procedure \"{procedure}\" is in the reserved wamp. namespace"),
            )),
            _ if !granted
                .unwrap_or_else(|| role.authorize(&procedure, Action::Register))
                .allow =>
            {
                Some((
                    uris::NOT_AUTHORIZED,
                    format!("session is not authorized to register procedure \"{procedure}\""),
                ))
            }
            _ => None,
        };
        let (Some(policy), Some(invoke), None) = (policy, invoke, &refusal) else {
            let (error, msg) = refusal.unwrap_or((uris::INVALID_ARGUMENT, String::new()));
            return self.send_error(conn, MessageType::Register, request, error, Some(msg));
        };
        let force_reregister = options.get_bool("force_reregister").unwrap_or(false);
        let callee = Callee {
            shard: self.shard,
            session,
        };
        let msg = DealerMsg::Register {
            realm: realm_idx,
            policy,
            uri: procedure,
            invoke,
            force_reregister,
            callee,
            request,
        };
        self.send_to_home(realm_idx, Inner::Dealer(Box::new(msg)));
    }

    fn register_done(&mut self, realm: usize, session: u64, request: u64, result: RegisterOutcome) {
        let Some(conn) = self.conn_of(session) else {
            // The session left while the home shard was registering it: undo.
            if let Ok(reg) = result {
                let callee = Callee {
                    shard: self.shard,
                    session,
                };
                let msg = DealerMsg::Unregister {
                    realm,
                    id: reg.id,
                    callee,
                    reply: None,
                };
                self.send_to_home(realm, Inner::Dealer(Box::new(msg)));
            }
            return;
        };
        match result {
            Ok(reg) => {
                let id = reg.id;
                self.realms[realm].dealer.set_replica(reg);
                if let Some(j) = self.joined_mut(conn) {
                    j.rpc.registrations.push(id);
                }
                self.send(
                    conn,
                    &Message::Registered {
                        request,
                        registration: id,
                    },
                );
            }
            Err((error, msg)) => {
                self.send_error(conn, MessageType::Register, request, error, Some(msg))
            }
        }
    }

    pub(in crate::router) fn unregister(&mut self, conn: ConnId, request: u64, registration: u64) {
        let shard = self.shard;
        let Some(joined) = self.joined_mut(conn) else {
            return;
        };
        let Some(pos) = joined
            .rpc
            .registrations
            .iter()
            .position(|&r| r == registration)
        else {
            let msg = format!("session holds no registration {registration}");
            return self.send_error(
                conn,
                MessageType::Unregister,
                request,
                uris::NO_SUCH_REGISTRATION,
                Some(msg),
            );
        };
        joined.rpc.registrations.swap_remove(pos);
        let (realm, session) = (joined.realm, joined.id);
        let callee = Callee { shard, session };
        let msg = DealerMsg::Unregister {
            realm,
            id: registration,
            callee,
            reply: Some((shard, request)),
        };
        self.send_to_home(realm, Inner::Dealer(Box::new(msg)));
    }

    pub(super) fn unregister_done(&mut self, session: u64, request: u64, ok: bool) {
        let Some(conn) = self.conn_of(session) else {
            return;
        };
        if ok {
            self.send(
                conn,
                &Message::Unregistered {
                    request,
                    details: Dict::new(),
                },
            );
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
}
