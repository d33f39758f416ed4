//! Testaments (`wamp.session.add_testament`, `flush_testaments`): events a session leaves
//! behind, published by the router when the session goes away.

use crate::wamp::error_uri as uris;
use crate::wamp::uri::{self, MatchPolicy};
use crate::wamp::{Dict, Payload, Value};

use super::broker::router_publication;
use super::meta::{arg, kwarg, str_arg, MetaError};
use super::session::Joined;
use super::{ConnId, Core};

/// A testament: published by the router when its session goes away.
#[derive(Debug, Clone)]
pub(crate) struct Testament {
    pub(super) topic: String,
    payload: Payload,
    options: Dict,
    /// Scope `detached` (else `destroyed`).
    detached: bool,
}

impl Core {
    pub(super) fn add_testament(&mut self, conn: ConnId, p: &Payload) -> Result<Value, MetaError> {
        let topic = str_arg(p, 0, "a topic URI")?.to_owned();
        let args = arg(p, 1).and_then(Value::as_list).map(<[Value]>::to_vec);
        let kwargs = arg(p, 2).and_then(Value::as_dict).cloned();
        let options = kwarg(p, "publish_options")
            .and_then(Value::as_dict)
            .cloned()
            .unwrap_or_default();
        let detached = testament_scope(kwarg(p, "scope"))?;
        let joined = self
            .joined(conn)
            .ok_or((uris::INVALID_ARGUMENT, String::new()))?;
        let realm = &self.realms[joined.realm];
        if !uri::is_valid(&topic, realm.uri_check, MatchPolicy::Exact) {
            return Err((uris::INVALID_URI, format!("invalid topic URI \"{topic}\"")));
        }
        // A dynamic role's authorizer decided when it allowed calling add_testament (Crossbar
        // checks no topic permission at all here).
        let role = &realm.roles[joined.role];
        if role.authorizer.is_none() && !role.authorize(&topic, super::authz::Action::Publish).allow
        {
            return Err((
                uris::NOT_AUTHORIZED,
                format!("session is not authorized to publish to topic \"{topic}\""),
            ));
        }
        let testament = Testament {
            topic,
            payload: Payload { args, kwargs },
            options,
            detached,
        };
        if let Some(j) = self.joined_mut(conn) {
            // Sessions are never detached (no session resumption), so both scopes fire on leave.
            j.testaments
                .get_or_insert_with(Box::default)
                .push(testament);
        }
        Ok(Value::Null)
    }

    pub(super) fn flush_testaments(
        &mut self,
        conn: ConnId,
        p: &Payload,
    ) -> Result<Value, MetaError> {
        let detached = testament_scope(arg(p, 0).or_else(|| kwarg(p, "scope")))?;
        let joined = self
            .joined_mut(conn)
            .ok_or((uris::INVALID_ARGUMENT, String::new()))?;
        let Some(testaments) = joined.testaments.as_mut() else {
            return Ok(0u64.into());
        };
        let before = testaments.len();
        testaments.retain(|t| t.detached != detached);
        Ok(((before - testaments.len()) as u64).into())
    }

    /// Publishes a leaving session's testaments, their publish options applied as they would
    /// be to a PUBLISH.
    pub(super) fn publish_testaments(&mut self, joined: &Joined) {
        for t in joined.testaments.iter().flat_map(|list| list.iter()) {
            let id = self.ids.next_id();
            let mut publication = router_publication(joined.realm, id, &t.topic, Vec::new(), None);
            publication.payload = t.payload.clone();
            publication.retain = t.options.get_bool("retain").unwrap_or(false);
            publication.filter = super::broker::Filter::parse(&t.options).ok().flatten();
            publication.ppt = super::dealer::ppt_options(&t.options);
            self.route_publication(publication);
        }
    }
}

/// A testament scope: `destroyed` (the default) or `detached`; true for `detached`.
fn testament_scope(v: Option<&Value>) -> Result<bool, MetaError> {
    match v.and_then(Value::as_str).unwrap_or("destroyed") {
        "destroyed" => Ok(false),
        "detached" => Ok(true),
        _ => Err((
            uris::INVALID_ARGUMENT,
            "scope must be \"destroyed\" or \"detached\"".into(),
        )),
    }
}
