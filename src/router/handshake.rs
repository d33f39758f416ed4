//! Opening a session: HELLO, authentication (CHALLENGE/AUTHENTICATE, dynamic authenticators
//! called like any procedure), WELCOME or ABORT. The authenticators themselves are the sans-IO
//! state machines of [`crate::auth`]; this module drives them and joins the session.

use std::sync::Arc;
use std::time::Duration;

use hashbrown::HashMap;

use crate::auth::{self, HelloInfo, Identity, Step};
use crate::wamp::error_uri as uris;
use crate::wamp::{Dict, Message, Payload, Value};

use super::dealer::msg::{DealerMsg, Invoke};
use super::meta;
use super::session::{Authenticating, ClientFeatures, Joined, State};
use super::shard_msg::Inner;
use super::{ConnId, Core, REALM_FULL};

/// How long a dynamic authenticator or authorizer may take before the router gives up on it.
pub(super) const INTERNAL_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// GOODBYE reason of a client logging out: its cookie forgets its authentication.
pub(super) const LOGOUT: &str = "wamp.close.logout";

/// A call the router makes itself, by internal request id.
#[derive(Debug, Clone)]
pub(crate) enum InternalCall {
    /// To a dynamic authenticator, for a session being opened.
    Authenticate { conn: ConnId, session: u64 },
    /// To a dynamic authorizer, for an action of a joined session.
    Authorize {
        conn: ConnId,
        session: u64,
        uri: String,
        action: super::authz::Action,
    },
}

/// What authentication needs across sessions.
#[derive(Debug)]
pub(super) struct AuthState {
    /// When the core started (the epoch of the authentication throttle's clock).
    pub(super) epoch: std::time::Instant,
    /// Failed authentications per peer host, shared by every shard (a host's connections land
    /// on all of them); locked only on the authentication path.
    pub(super) throttle: Arc<std::sync::Mutex<auth::FailureTracker>>,
    /// The node key, which signs a cryptosign client's own challenge (mutual authentication).
    pub(super) node_key: Option<Arc<auth::NodeKey>>,
    /// Challenges and nonces come from here (a CSPRNG, seeded by the shell).
    pub(super) crypto_rng: rand::rngs::StdRng,
    /// Calls the router made itself (dynamic authenticators), by internal request id.
    pub(super) internal_calls: HashMap<u64, InternalCall>,
    pub(super) next_internal_call: u64,
}

impl Core {
    pub(super) fn hello(&mut self, conn: ConnId, realm_name: String, details: Dict) {
        let Some(session) = self.sessions.get(conn) else {
            return;
        };
        let auth_config = Arc::clone(&session.auth);
        let peer = Arc::clone(&session.peer);
        let client_cert = session.client_cert_sha1().cloned();
        let channel_id = session.channel_id().copied();
        let transport = session.transport_details();
        let cookie = session.cookie().cloned();
        let now_secs = self
            .now
            .saturating_duration_since(self.auth.epoch)
            .as_secs();
        let delay = self
            .auth
            .throttle
            .lock()
            .ok()
            .and_then(|t| t.delay_for(auth::peer_host(&peer), now_secs));
        if let Some(delay) = delay {
            let msg = format!(
                "too many failed authentication attempts: retry in {} s",
                delay.as_secs().max(1)
            );
            return self.abort(conn, uris::NOT_AUTHORIZED, &msg);
        }
        if !self.realm_index.contains_key(&realm_name) && !has_dynamic_realm(&auth_config) {
            let msg = format!("no realm \"{realm_name}\" exists on this router");
            return self.abort(conn, uris::NO_SUCH_REALM, &msg);
        }
        let features = ClientFeatures::from_hello(&details);
        let id = self.ids.next_id();
        let millis = self.wall_millis();
        let timestamp = crate::timestamp::utc_timestamp(millis);
        let mut info = HelloInfo::from_hello(&realm_name, &details, id, &timestamp);
        let remembered = cookie
            .as_ref()
            .and_then(|c| c.for_hello(&auth_config, &info.authmethods, millis));
        info.cookie_id = cookie.as_ref().map(|c| c.id());
        info.cookie = remembered.as_ref();
        info.client_cert_sha1 = client_cert.as_deref();
        info.channel_binding = channel_id.as_ref().map(|c| &c[..]);
        let node_key = self.auth.node_key.clone();
        info.node_key = node_key.as_deref();
        info.transport = Some(&transport);
        let step = auth::hello(&auth_config, &info, &mut self.auth.crypto_rng);
        if let Some(s) = self.sessions.get_mut(conn) {
            s.state = State::Authenticating(Box::new(Authenticating {
                realm_name,
                session: id,
                features,
                pending: None,
                internal_call: None,
                challenged: None,
            }));
        }
        self.auth_step(conn, step);
    }

    /// AUTHENTICATE from a client that got a CHALLENGE.
    pub(super) fn authenticate(&mut self, conn: ConnId, signature: String, extra: Dict) {
        let pending = match self.sessions.get_mut(conn).map(|s| &mut s.state) {
            Some(State::Authenticating(a)) => a.pending.take(),
            _ => None,
        };
        match pending {
            Some(p) if p.awaits_authenticate() => {
                let step = auth::authenticate(p, &signature, &extra);
                self.auth_step(conn, step);
            }
            _ => self.protocol_violation(conn, "AUTHENTICATE without a CHALLENGE to answer"),
        }
    }

    /// Carries out what an authenticator decided.
    fn auth_step(&mut self, conn: ConnId, step: Step) {
        match step {
            Step::Welcome(identity) => self.welcome(conn, identity),
            Step::Challenge {
                method,
                extra,
                pending,
            } => {
                if let Some(State::Authenticating(a)) =
                    self.sessions.get_mut(conn).map(|s| &mut s.state)
                {
                    a.pending = Some(pending);
                    a.challenged = Some(method);
                }
                self.send(
                    conn,
                    &Message::Challenge {
                        method: method.to_owned(),
                        extra,
                    },
                );
            }
            Step::Dynamic(request) => self.call_authenticator(conn, request),
            Step::Abort {
                reason,
                message,
                cause,
            } => {
                if let Some(session) = self.sessions.get(conn) {
                    tracing::info!(peer = %session.peer, "authentication refused: {cause}");
                    let method = match &session.state {
                        State::Authenticating(a) => a.challenged.unwrap_or("hello"),
                        _ => "hello",
                    };
                    self.stats.auth_failed(method);
                    let now_secs = self
                        .now
                        .saturating_duration_since(self.auth.epoch)
                        .as_secs();
                    let peer = Arc::clone(&session.peer);
                    if let Ok(mut t) = self.auth.throttle.lock() {
                        t.record_failure(auth::peer_host(&peer), now_secs);
                    }
                }
                self.abort(conn, reason, &message);
            }
        }
    }

    /// Calls a dynamic authenticator as the router itself; the session waits, the shard does
    /// not.
    fn call_authenticator(&mut self, conn: ConnId, request: auth::DynamicRequest) {
        let Some(State::Authenticating(a)) = self.sessions.get(conn).map(|s| &s.state) else {
            return;
        };
        let session = a.session;
        let realm_name = request
            .realm
            .clone()
            .unwrap_or_else(|| a.realm_name.clone());
        let Some(&realm) = self.realm_index.get(&realm_name) else {
            let step = auth::dynamic_error(
                uris::NO_SUCH_REALM,
                Some("the authenticator realm does not exist"),
            );
            return self.auth_step(conn, step);
        };
        let internal = self.register_internal_call(InternalCall::Authenticate { conn, session });
        if let Some(State::Authenticating(a)) = self.sessions.get_mut(conn).map(|s| &mut s.state) {
            a.pending = Some(request.pending);
            a.internal_call = Some(internal);
        }
        self.send_internal_call(internal, realm, request.procedure, request.args);
    }

    /// Books a call the router makes itself, with its deadline; [`Core::send_internal_call`]
    /// sends it. Two steps, so the caller can record the id before an answer (which may come at
    /// once) arrives.
    pub(super) fn register_internal_call(&mut self, call: InternalCall) -> u64 {
        self.auth.next_internal_call += 1;
        let internal = self.auth.next_internal_call;
        self.auth.internal_calls.insert(internal, call);
        let deadline = self.now + INTERNAL_CALL_TIMEOUT;
        self.timers.call_deadline(deadline, 0, internal);
        internal
    }

    /// Invokes `procedure` on `realm` as the router (caller session 0); the answer comes back
    /// to [`Core::internal_call_done`].
    pub(super) fn send_internal_call(
        &mut self,
        internal: u64,
        realm: usize,
        procedure: String,
        args: Vec<Value>,
    ) {
        let target = self.pick_callee(realm, &procedure);
        let home = self.home_shard(realm);
        if target.is_none() && home == self.shard {
            return self
                .internal_call_done(internal, Err((uris::NO_SUCH_PROCEDURE.to_owned(), None)));
        }
        let invoke = Invoke {
            realm,
            target,
            resolved_remotely: false,
            procedure,
            caller_shard: self.shard,
            caller_session: 0,
            caller_request: internal,
            caller: None,
            receive_progress: false,
            progress: false,
            timeout: None,
            ppt: Dict::new(),
            payload: Payload::args(args),
        };
        let shard = target.map_or(home, |(_, c)| c.shard);
        self.send_to_shard(
            shard,
            Inner::Dealer(Box::new(DealerMsg::Invoke(Box::new(invoke)))),
        );
    }

    /// The answer (or failure, or timeout) of a call the router made itself.
    pub(super) fn internal_call_done(
        &mut self,
        request: u64,
        result: Result<Value, (String, Option<String>)>,
    ) {
        let (conn, session) = match self.auth.internal_calls.remove(&request) {
            Some(InternalCall::Authenticate { conn, session }) => (conn, session),
            Some(InternalCall::Authorize {
                conn,
                session,
                uri,
                action,
            }) => {
                return self.authorizer_answered(conn, session, request, &uri, action, result);
            }
            None => return,
        };
        let pending = match self.sessions.get_mut(conn).map(|s| &mut s.state) {
            Some(State::Authenticating(a))
                if a.session == session && a.internal_call == Some(request) =>
            {
                a.internal_call = None;
                a.pending.take()
            }
            _ => None,
        };
        let Some(pending) = pending else { return };
        let step = match result {
            Ok(value) => auth::dynamic_result(pending, &value),
            Err((error, _)) if error == uris::TIMEOUT => {
                auth::dynamic_error(&error, Some("the authenticator did not answer in time"))
            }
            Err((error, message)) => auth::dynamic_error(&error, message.as_deref()),
        };
        self.auth_step(conn, step);
    }

    /// Authenticated: join the realm and send WELCOME.
    fn welcome(&mut self, conn: ConnId, identity: Identity) {
        let Some(State::Authenticating(a)) = self.sessions.get(conn).map(|s| &s.state) else {
            return;
        };
        let (id, features) = (a.session, a.features);
        let realm_name = identity
            .realm
            .clone()
            .unwrap_or_else(|| a.realm_name.clone());
        let Some(&realm) = self.realm_index.get(&realm_name) else {
            let msg = format!("no realm \"{realm_name}\" exists on this router");
            return self.abort(conn, uris::NO_SUCH_REALM, &msg);
        };
        let Some(role) = self.realms[realm].role(&identity.authrole) else {
            let msg = format!(
                "role \"{}\" does not exist on realm \"{realm_name}\"",
                identity.authrole
            );
            return self.abort(conn, uris::NO_SUCH_ROLE, &msg);
        };
        if let Some(counter) = self.realm_sessions.get(realm) {
            let before = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if self.realms[realm]
                .max_sessions
                .is_some_and(|max| before >= max)
            {
                counter.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                let msg = format!("realm \"{realm_name}\" has reached its max_sessions limit");
                return self.abort(conn, REALM_FULL, &msg);
            }
        }
        let Some(session) = self.sessions.get(conn) else {
            return;
        };
        let (peer, serializer, kind) =
            (Arc::clone(&session.peer), session.serializer, session.kind);
        if let Ok(mut t) = self.auth.throttle.lock() {
            t.record_success(auth::peer_host(&peer));
        }
        let authid: Arc<str> = identity.authid.as_str().into();
        let details = self.welcome_details(realm, &identity, &peer);
        let dynamic = self.realms[realm].roles[role]
            .authorizer
            .as_ref()
            .map(|authorizer| {
                Box::new(super::authorizer::DynamicAuthz::new(
                    Arc::clone(authorizer),
                    id,
                    &details,
                    session.transport_details(),
                ))
            });
        self.sessions.record_join(
            conn,
            Joined {
                id,
                realm,
                authid: Arc::clone(&authid),
                role,
                subscriptions: Vec::new(),
                rpc: Default::default(),
                features,
                testaments: None,
                dynamic,
            },
        );
        self.remember_on_cookie(conn, &identity, &realm_name);
        self.realms[realm].local_sessions += 1;
        // WELCOME waits for the home shard's catalog: once a client has it, the meta API on
        // every shard counts and lists the session.
        self.awaiting_welcome.insert(id, (details, Vec::new()));
        let info = Arc::new(meta::SessionInfo {
            session: id,
            // Shards are numbered from 0 up to at most 256 (`options.shards`).
            shard: self.shard as u32,
            authid,
            labels: self.realms[realm].auth_labels(
                role,
                identity.authmethod,
                identity.authprovider,
            ),
            peer,
            serializer,
            framing: kind,
        });
        self.meta_to_home(realm, meta::MetaMsg::Joined { realm, info });
    }
}

impl Core {
    /// The home shard's catalog has `session`: its WELCOME goes out, if it is still there.
    pub(super) fn send_welcome(&mut self, session: u64) {
        let Some((details, parked)) = self.awaiting_welcome.remove(&session) else {
            return;
        };
        let Some(conn) = self.conn_of(session) else {
            return;
        };
        self.send(conn, &Message::Welcome { session, details });
        for msg in parked {
            self.handle_message(conn, msg);
        }
    }

    /// A message from a session whose WELCOME has not gone out yet (a client that pipelines
    /// after HELLO or AUTHENTICATE): kept, and handled after the WELCOME, so that its answer
    /// never comes first. Bounded like an authorizer's parked messages.
    pub(super) fn park_before_welcome(&mut self, conn: ConnId, session: u64, msg: Message) {
        const MAX_PARKED: usize = 1024;
        let Some((_, parked)) = self.awaiting_welcome.get_mut(&session) else {
            return;
        };
        if parked.len() >= MAX_PARKED {
            let message = format!("more than {MAX_PARKED} messages sent before WELCOME");
            return self.protocol_violation(conn, &message);
        }
        parked.push(msg);
    }

    /// Now, in Unix milliseconds (the wall clock of the last tick).
    fn wall_millis(&self) -> u64 {
        crate::timestamp::unix_millis(self.wall_clock)
    }

    /// A session joined: its connection's cookie remembers how, for cookie authentication on
    /// later connections (Crossbar's `onJoin`). A cookie-authenticated join has nothing new to
    /// remember.
    fn remember_on_cookie(&self, conn: ConnId, identity: &Identity, realm_name: &str) {
        let Some(cookie) = self.sessions.get(conn).and_then(|s| s.cookie()) else {
            return;
        };
        if identity.authprovider == "cookie" {
            return;
        }
        let remembered = auth::cookie::CookieAuth {
            authid: identity.authid.clone(),
            authrole: identity.authrole.clone(),
            authmethod: identity.authmethod.to_owned(),
            authrealm: realm_name.to_owned(),
            authextra: identity.authextra.clone(),
        };
        cookie.remember(remembered, self.wall_millis());
    }

    /// GOODBYE `wamp.close.logout`: the connection's cookie forgets its authentication, so it
    /// no longer authenticates anyone, and every other connection carrying the same cookie, on
    /// any shard, is closed (Crossbar's logout: all the browser's tabs are logged out).
    pub(super) fn cookie_logout(&mut self, conn: ConnId) {
        let Some(cookie) = self.sessions.get(conn).and_then(|s| s.cookie().cloned()) else {
            return;
        };
        cookie.forget(self.wall_millis());
        let this_shard = self.shard;
        for shard in (0..self.shards).filter(|&s| s != this_shard) {
            self.send_to_shard(shard, Inner::CookieLogout(Box::new(cookie.clone())));
        }
        self.close_cookie_connections(&cookie, Some(conn));
    }

    /// Closes this shard's connections that carry `cookie` (but `except`): a joined session
    /// first gets GOODBYE `wamp.close.logout`.
    pub(super) fn close_cookie_connections(
        &mut self,
        cookie: &auth::cookie::CookieSession,
        except: Option<ConnId>,
    ) {
        let same_cookie = |s: &super::session::Session| {
            !matches!(s.state, State::Closed)
                && s.cookie().is_some_and(|c| {
                    Arc::ptr_eq(c.store(), cookie.store()) && c.id() == cookie.id()
                })
        };
        let conns: Vec<ConnId> = self
            .sessions
            .with_cookie(cookie.id())
            .iter()
            .copied()
            .filter(|&c| Some(c) != except && self.sessions.get(c).is_some_and(same_cookie))
            .collect();
        for conn in conns {
            self.goodbye_and_close(conn, LOGOUT, "logged out on another connection");
        }
    }
}

/// True when a dynamic authenticator may move the session to another realm, so the realm the
/// client asked for need not exist.
fn has_dynamic_realm(config: &crate::config::AuthConfig) -> bool {
    use crate::config::{AuthMethodConfig as M, Authenticator as A};
    config.methods.iter().any(|m| {
        matches!(
            m,
            M::Anonymous(A::Dynamic { .. })
                | M::Ticket(A::Dynamic { .. })
                | M::WampCra(A::Dynamic { .. })
                | M::Cryptosign(A::Dynamic { .. })
                | M::Tls(A::Dynamic { .. })
        )
    })
}
