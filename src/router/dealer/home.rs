//! The home shard's side of the dealer: the authoritative registrations of a realm.

use std::sync::Arc;

use crate::wamp::error_uri as uris;
use crate::wamp::uri::MatchPolicy;

use super::msg::{Callee, DealerMsg, InvokePolicy, RegisterRef, Registration};
use super::POLICY_CONFLICT;
use crate::router::Core;
use crate::wamp::Dict;

/// What `on_create` says of a registration.
fn registration_details(reg: &Registration) -> Dict {
    Dict::new()
        .with("id", reg.id)
        .with("uri", reg.uri.as_str())
        .with("match", reg.policy.as_str())
        .with("invoke", reg.invoke.as_str())
}

impl Core {
    /// Adds a callee to (policy, uri), creating the registration or joining a shared one.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn home_register(
        &mut self,
        realm: usize,
        policy: MatchPolicy,
        uri: String,
        invoke: InvokePolicy,
        force_reregister: bool,
        callee: Callee,
        request: u64,
    ) {
        let existing = self.realms[realm].dealer.replica.get(policy, &uri).cloned();
        let refuse = |error: &'static str, msg: String| DealerMsg::RegisterDone {
            realm,
            session: callee.session,
            request,
            result: Err((error, msg)),
            acks: 0,
        };
        let registration = match existing {
            None => Registration {
                id: self.ids.next_id(),
                policy,
                uri,
                invoke,
                callees: vec![callee],
                created: self.wall_clock,
            },
            Some(reg) if force_reregister => {
                for old in &reg.callees {
                    let msg = DealerMsg::Revoked {
                        session: old.session,
                        id: reg.id,
                        reason: None,
                    };
                    self.dealer_to_shard(old.shard, msg);
                }
                Registration {
                    callees: vec![callee],
                    invoke,
                    ..(*reg).clone()
                }
            }
            Some(reg) if reg.callees.contains(&callee) => {
                let msg = format!("this session already registered \"{}\"", reg.uri);
                return self
                    .dealer_to_shard(callee.shard, refuse(uris::PROCEDURE_ALREADY_EXISTS, msg));
            }
            // A second `single` is taken; any other mix of policies is a conflict (Crossbar).
            Some(reg) if reg.invoke == InvokePolicy::Single => {
                let msg = format!("procedure \"{}\" is already registered", reg.uri);
                return self
                    .dealer_to_shard(callee.shard, refuse(uris::PROCEDURE_ALREADY_EXISTS, msg));
            }
            Some(reg) if reg.invoke != invoke => {
                let msg = format!(
                    "procedure \"{}\" is registered with invocation policy {}, not {}",
                    reg.uri,
                    reg.invoke.as_str(),
                    invoke.as_str()
                );
                return self.dealer_to_shard(callee.shard, refuse(POLICY_CONFLICT, msg));
            }
            Some(reg) => {
                let mut reg = (*reg).clone();
                reg.callees.push(callee);
                reg
            }
        };
        let fresh = registration.callees.len() == 1;
        let registration = Arc::new(registration);
        let register = RegisterRef {
            shard: callee.shard,
            session: callee.session,
            request,
            registration: registration.id,
        };
        let acks = self.publish_registration(realm, Arc::clone(&registration), Some(register));
        if fresh {
            let details = registration_details(&registration);
            self.registration_event(
                realm,
                "wamp.registration.on_create",
                callee.session,
                details.into(),
            );
        }
        self.registration_event(
            realm,
            "wamp.registration.on_register",
            callee.session,
            registration.id.into(),
        );
        let done = DealerMsg::RegisterDone {
            realm,
            session: callee.session,
            request,
            result: Ok(registration),
            acks,
        };
        self.dealer_to_shard(callee.shard, done);
    }

    /// Stores a registration's new state at home and in every replica. For a REGISTER
    /// (`register`), its callee's shard learns it from the reply, and every other shard
    /// acknowledges to it: REGISTERED goes out once every replica has the new callee, so a
    /// call made after it reaches this callee too (a shared registration's newest callee
    /// included). Returns the acknowledgements to wait for.
    fn publish_registration(
        &mut self,
        realm: usize,
        registration: Arc<Registration>,
        register: Option<RegisterRef>,
    ) -> usize {
        let dealer = &mut self.realms[realm].dealer;
        dealer
            .home
            .insert(registration.id, Arc::clone(&registration));
        dealer.set_replica(Arc::clone(&registration));
        let mut acks = 0;
        for shard in 0..self.shards {
            if shard != self.shard && Some(shard) != register.map(|r| r.shard) {
                let msg = DealerMsg::Replica {
                    realm,
                    registration: Arc::clone(&registration),
                    ack: register,
                };
                self.dealer_to_shard(shard, msg);
                acks += usize::from(register.is_some());
            }
        }
        acks
    }

    pub(crate) fn home_unregister(
        &mut self,
        realm: usize,
        id: u64,
        callee: Callee,
        reply: Option<(usize, u64)>,
    ) {
        let existing = self.realms[realm].dealer.home.get(&id).cloned();
        let ok = match existing {
            Some(reg) if reg.callees.contains(&callee) => {
                let mut updated = (*reg).clone();
                updated.callees.retain(|c| *c != callee);
                self.registration_event(
                    realm,
                    "wamp.registration.on_unregister",
                    callee.session,
                    id.into(),
                );
                if updated.callees.is_empty() {
                    self.registration_event(
                        realm,
                        "wamp.registration.on_delete",
                        callee.session,
                        id.into(),
                    );
                    let dealer = &mut self.realms[realm].dealer;
                    dealer.home.remove(&id);
                    dealer.remove_replica(reg.policy, &reg.uri, id);
                    for shard in 0..self.shards {
                        if shard != self.shard {
                            let msg = DealerMsg::ReplicaRemove {
                                realm,
                                policy: reg.policy,
                                uri: reg.uri.clone(),
                                id,
                            };
                            self.dealer_to_shard(shard, msg);
                        }
                    }
                } else {
                    self.publish_registration(realm, Arc::new(updated), None);
                }
                true
            }
            _ => false,
        };
        if let Some((shard, request)) = reply {
            self.dealer_to_shard(
                shard,
                DealerMsg::UnregisterDone {
                    session: callee.session,
                    request,
                    ok,
                },
            );
        }
    }
}
