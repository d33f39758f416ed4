//! The meta procedures the realm's home shard answers from its catalog: `wamp.session.*`,
//! `wamp.subscription.*`, `wamp.registration.*` (the ones in `HOME_PROCEDURES`).

use super::*;

impl Core {
    pub(super) fn home_meta_call(
        &mut self,
        realm: usize,
        call: CallRef,
        role: usize,
        procedure: &str,
        p: &Payload,
    ) -> Result<Value, MetaError> {
        let trusted = &*self.realms[realm].roles[role].name == "trusted";
        let visible = |uri: &str| trusted || !uri::is_reserved(uri);
        match procedure {
            "wamp.session.count" | "wamp.session.list" => {
                let roles: Option<Vec<&str>> = arg(p, 0)
                    .or_else(|| kwarg(p, "filter_authroles"))
                    .and_then(Value::as_list)
                    .map(|l| l.iter().filter_map(Value::as_str).collect());
                let catalog = &self.realms[realm].catalog;
                let mut ids: Vec<u64> = catalog
                    .sessions
                    .values()
                    .filter(|s| roles.as_ref().is_none_or(|r| r.contains(&s.authrole())))
                    .map(|s| s.session)
                    .collect();
                if procedure.ends_with("count") {
                    return Ok((ids.len() as u64).into());
                }
                ids.sort_unstable();
                Ok(Value::List(ids.into_iter().map(Value::from).collect()))
            }
            "wamp.session.get" => {
                let id = id_arg(p, 0, "a session id")?;
                let realm_name = self.realms[realm].name.clone();
                let info = self.realms[realm]
                    .catalog
                    .sessions
                    .get(&id)
                    .ok_or_else(|| no_such_session(id))?;
                Ok(info.details(&realm_name).into())
            }
            "wamp.session.kill" => {
                let id = id_arg(p, 0, "a session id")?;
                if id == call.session {
                    // The spec: a session cannot kill itself through the meta API.
                    return Err(no_such_session(id));
                }
                let shard = self.realms[realm]
                    .catalog
                    .sessions
                    .get(&id)
                    .map(|s| s.shard())
                    .ok_or_else(|| no_such_session(id))?;
                self.kill(shard, id, p);
                Ok(Value::Null)
            }
            "wamp.session.kill_by_authid"
            | "wamp.session.kill_by_authrole"
            | "wamp.session.kill_all" => {
                let wanted = if procedure.ends_with("kill_all") {
                    None
                } else {
                    Some(str_arg(p, 0, "a string")?)
                };
                let by_role = procedure.ends_with("authrole");
                let mut victims: Vec<(usize, u64)> = self.realms[realm]
                    .catalog
                    .sessions
                    .values()
                    .filter(|s| s.session != call.session)
                    .filter(|s| {
                        wanted.is_none_or(|w| {
                            if by_role {
                                s.authrole() == w
                            } else {
                                &*s.authid == w
                            }
                        })
                    })
                    .map(|s| (s.shard(), s.session))
                    .collect();
                victims.sort_unstable();
                for &(shard, id) in &victims {
                    self.kill(shard, id, p);
                }
                Ok(Value::List(
                    victims.into_iter().map(|(_, id)| Value::from(id)).collect(),
                ))
            }
            "wamp.subscription.list" => {
                let catalog = &self.realms[realm].catalog;
                let mut by_policy: [Vec<u64>; 3] = Default::default();
                for (id, info) in &catalog.subscriptions {
                    if visible(&info.key.uri) {
                        by_policy[policy_index(info.key.policy)].push(*id);
                    }
                }
                Ok(by_policy_dict(by_policy))
            }
            "wamp.subscription.lookup" => {
                let topic = str_arg(p, 0, "a topic URI")?;
                let policy = match_option(p)?;
                let catalog = &self.realms[realm].catalog;
                Ok(catalog
                    .subscriptions
                    .iter()
                    .find(|(_, i)| i.key.policy == policy && i.key.uri == topic && visible(topic))
                    .map_or(Value::Null, |(id, _)| (*id).into()))
            }
            "wamp.subscription.match" => {
                let topic = str_arg(p, 0, "a topic URI")?;
                let catalog = &self.realms[realm].catalog;
                let mut ids: Vec<u64> = catalog
                    .subscriptions
                    .iter()
                    .filter(|(_, i)| visible(&i.key.uri) && i.key.policy.matches(&i.key.uri, topic))
                    .map(|(id, _)| *id)
                    .collect();
                ids.sort_unstable();
                Ok(if ids.is_empty() {
                    Value::Null
                } else {
                    Value::List(ids.into_iter().map(Value::from).collect())
                })
            }
            "wamp.subscription.get"
            | "wamp.subscription.list_subscribers"
            | "wamp.subscription.count_subscribers" => {
                let id = id_arg(p, 0, "a subscription id")?;
                let info = self.realms[realm]
                    .catalog
                    .subscriptions
                    .get(&id)
                    .filter(|i| visible(&i.key.uri))
                    .ok_or_else(|| (uris::NO_SUCH_SUBSCRIPTION, format!("no subscription {id}")))?;
                Ok(match procedure {
                    "wamp.subscription.get" => sub_details(id, info).into(),
                    "wamp.subscription.count_subscribers" => (info.subscribers.len() as u64).into(),
                    _ => Value::List(info.subscribers.iter().map(|&s| Value::from(s)).collect()),
                })
            }
            "wamp.subscription.get_events" => {
                let id = id_arg(p, 0, "a subscription id")?;
                let limit = arg(p, 1)
                    .or_else(|| kwarg(p, "limit"))
                    .and_then(Value::as_u64)
                    .unwrap_or(10);
                let realm_ref = &self.realms[realm];
                let info =
                    realm_ref.catalog.subscriptions.get(&id).ok_or_else(|| {
                        (uris::NO_SUCH_SUBSCRIPTION, format!("no subscription {id}"))
                    })?;
                // A dynamic role's authorizer decided when it allowed the call.
                let role = &realm_ref.roles[role];
                if role.authorizer.is_none()
                    && !role
                        .authorize(&info.key.uri, crate::router::authz::Action::Subscribe)
                        .allow
                {
                    let msg = format!("not authorized to subscribe to \"{}\"", info.key.uri);
                    return Err((uris::NOT_AUTHORIZED, msg));
                }
                let events = realm_ref
                    .history
                    .events(info.key.policy, &info.key.uri)
                    .ok_or_else(|| {
                        (
                            HISTORY_UNAVAILABLE,
                            format!("no event history is kept for subscription {id}"),
                        )
                    })?;
                let realm_name = realm_ref.name.as_str();
                Ok(Value::List(
                    events
                        .take(usize::try_from(limit).unwrap_or(usize::MAX))
                        .map(|(time_ns, publication)| {
                            history_entry(realm_name, *time_ns, publication).into()
                        })
                        .collect(),
                ))
            }
            "wamp.subscription.remove_subscriber" => {
                let id = id_arg(p, 0, "a subscription id")?;
                let session = id_arg(p, 1, "a session id")?;
                let catalog = &self.realms[realm].catalog;
                let held = catalog
                    .subscriptions
                    .get(&id)
                    .is_some_and(|i| i.subscribers.contains(&session));
                let shard = catalog.sessions.get(&session).map(|s| s.shard());
                let (true, Some(shard)) = (held, shard) else {
                    return Err((
                        uris::NO_SUCH_SUBSCRIPTION,
                        format!("session {session} holds no subscription {id}"),
                    ));
                };
                optional_reason(p)?;
                let msg = MetaMsg::RemoveSubscriber { session, id };
                self.send_to_shard(shard, Inner::Meta(Box::new(msg)));
                Ok(Value::Null)
            }
            "wamp.registration.list" => {
                let mut by_policy: [Vec<u64>; 3] = Default::default();
                for reg in self.realms[realm].dealer.registrations() {
                    if visible(&reg.uri) {
                        by_policy[policy_index(reg.policy)].push(reg.id);
                    }
                }
                Ok(by_policy_dict(by_policy))
            }
            "wamp.registration.lookup" => {
                let procedure = str_arg(p, 0, "a procedure URI")?;
                let policy = match_option(p)?;
                let dealer = &self.realms[realm].dealer;
                Ok(dealer
                    .registrations()
                    .find(|r| r.policy == policy && r.uri == procedure && visible(procedure))
                    .map_or(Value::Null, |r| r.id.into()))
            }
            "wamp.registration.match" => {
                let procedure = str_arg(p, 0, "a procedure URI")?;
                Ok(self.realms[realm]
                    .dealer
                    .best_match(procedure)
                    .filter(|r| visible(&r.uri))
                    .map_or(Value::Null, |r| r.id.into()))
            }
            "wamp.registration.get"
            | "wamp.registration.list_callees"
            | "wamp.registration.count_callees" => {
                let id = id_arg(p, 0, "a registration id")?;
                let reg = self.realms[realm]
                    .dealer
                    .registration(id)
                    .filter(|r| visible(&r.uri))
                    .ok_or_else(|| (uris::NO_SUCH_REGISTRATION, format!("no registration {id}")))?;
                Ok(match procedure {
                    "wamp.registration.get" => Dict::new()
                        .with("id", reg.id)
                        .with("created", rfc3339(reg.created))
                        .with("uri", reg.uri.as_str())
                        .with("match", reg.policy.as_str())
                        .with("invoke", reg.invoke.as_str())
                        .into(),
                    "wamp.registration.count_callees" => (reg.callees.len() as u64).into(),
                    _ => Value::List(reg.callees.iter().map(|c| Value::from(c.session)).collect()),
                })
            }
            "wamp.registration.remove_callee" => {
                let id = id_arg(p, 0, "a registration id")?;
                let session = id_arg(p, 1, "a session id")?;
                let callee = self.realms[realm]
                    .dealer
                    .registration(id)
                    .and_then(|r| r.callees.iter().find(|c| c.session == session).copied())
                    .ok_or_else(|| {
                        (
                            uris::NO_SUCH_REGISTRATION,
                            format!("session {session} is no callee of {id}"),
                        )
                    })?;
                let reason = optional_reason(p)?;
                let msg = DealerMsg::Revoked {
                    session,
                    id,
                    reason,
                };
                self.send_to_shard(callee.shard, Inner::Dealer(Box::new(msg)));
                self.home_unregister(
                    realm,
                    id,
                    Callee {
                        shard: callee.shard,
                        session,
                    },
                    None,
                );
                Ok(Value::Null)
            }
            _ => Err((
                uris::NO_SUCH_PROCEDURE,
                format!("no meta procedure {procedure}"),
            )),
        }
    }
}
