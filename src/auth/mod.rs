//! Authentication as sans-IO state machines: what the router answers to a HELLO, an
//! AUTHENTICATE and a dynamic authenticator's result. No I/O, no clock (the caller passes the
//! time), no global state; randomness comes from the caller's cryptographically secure RNG.
//!
//! The session core drives it:
//!
//! 1. HELLO → [`hello`] (with [`HelloInfo::from_hello`]) gives a [`Step`]:
//!    - [`Step::Welcome`]: send WELCOME with the [`Identity`] (the core adds `x_cb_*` to its
//!      `authextra`, checks the role exists on the realm, and joins the session);
//!    - [`Step::Challenge`]: send CHALLENGE `(method, extra)` and keep the [`Pending`];
//!    - [`Step::Dynamic`]: call `procedure` on the authenticator realm with `args` (Crossbar's
//!      `(realm, authid, details)`), keep the request's [`Pending`], and hand the call's result
//!      to [`dynamic_result`] (or its error to [`dynamic_error`]; a timeout is an error);
//!    - [`Step::Abort`]: send ABORT `(reason, message)` and close. `cause` is for the
//!      router's log only: it says which part was wrong, which the client is never told.
//! 2. AUTHENTICATE → [`authenticate`] with the kept [`Pending`] (consumed: a second
//!    AUTHENTICATE finds none, and the core aborts). An AUTHENTICATE with no pending
//!    authentication is the core's to refuse.
//!
//! Methods, as Crossbar 26.10 does them (`crossbar/router/auth/*.py`) and Autobahn|Python's
//! authenticators expect (`autobahn/wamp/auth.py`, `cryptosign.py`):
//!
//! - `anonymous`: WELCOME at once; authid configured or random (`XXXX-XXXX-…`, Crossbar's
//!   `generate_serial_number`); dynamic: the authenticator gets the random authid.
//! - `ticket`: CHALLENGE with empty extra; AUTHENTICATE's signature is the ticket (compared in
//!   constant time); dynamic: CHALLENGE first, then the authenticator gets `details.ticket`.
//! - `wampcra`: CHALLENGE `{challenge, salt?, iterations?, keylen?}` ([`wampcra`]); dynamic:
//!   the authenticator is asked first and returns the `secret` (and salt settings).
//! - `cryptosign`: CHALLENGE `{challenge: 32 random bytes hex, channel_binding}` plus, when the
//!   client sent its own `challenge`, the router's `pubkey` and `signature` ([`cryptosign`]);
//!   dynamic: the authenticator returns the `pubkey`.
//! - `tls`: the TLS client certificate's SHA-1 fingerprint picks the principal; no CHALLENGE.
//! - `cookie`: no CHALLENGE: a WebSocket connection whose tracking cookie was authenticated
//!   before (by another method) is welcomed as that identity when the client offers `cookie`
//!   ([`cookie`] has the store and the rules).
//!
//! Failures never say which part was wrong. Where a static principal is unknown, its key not
//! authorized or its realm not the one asked for, ticket, wampcra and cryptosign still answer
//! with a CHALLENGE (a decoy) and fail at AUTHENTICATE, so a client cannot tell an unknown
//! authid from a wrong secret by when the ABORT comes (Crossbar aborts at once there).
//!
//! A static principal's `realm` restricts it to that realm (another realm: not authorized); a
//! dynamic authenticator's `realm` reassigns the session's realm, as in Crossbar
//! ([`Identity::realm`]).

pub mod cookie;
pub mod cryptosign;
mod throttle;
pub mod wampcra;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cookie;
#[cfg(test)]
mod tests_dynamic;

use ed25519_dalek::VerifyingKey;
use rand::RngExt as _;

pub use cryptosign::{keygen, node_signature, NodeKey};
pub use throttle::{FailureTracker, ThrottleConfig};

use crate::config::{
    AnonymousAuth, AuthConfig, AuthMethodConfig, Authenticator, CryptosignPrincipals,
    TicketPrincipals, TlsPrincipals, WampCraUser, WampCraUsers,
};
use crate::wamp::error_uri;
use crate::wamp::{Dict, Value};

/// ABORT reason when the client offered no authentication method the transport has
/// (Crossbar's `ApplicationError.NO_AUTH_METHOD`).
pub const NO_AUTH_METHOD: &str = "wamp.error.no_auth_method";
/// ABORT reason of every other refusal.
pub const NOT_AUTHORIZED: &str = error_uri::NOT_AUTHORIZED;
/// The ABORT message of a refused credential: the same whatever part was wrong.
pub const FAILED: &str = "authentication failed";

/// The authmethods Crossbar knows (`crossbar.router.auth.AUTHMETHODS`). A client naming another
/// one is refused (`invalid authmethod`); a known one this transport does not offer is
/// skipped.
pub const KNOWN_METHODS: &[&str] = &[
    "anonymous",
    "anonymous-proxy",
    "cookie",
    "cryptosign",
    "cryptosign-proxy",
    "scram",
    "ticket",
    "tls",
    "wampcra",
];

/// The alphabet of Crossbar's random authids (`autobahn.util.DEFAULT_TOKEN_CHARS`: base36
/// without the look-alikes 0/O/D, 1/I, 8/B, 2/Z).
const TOKEN_CHARS: &[u8; 27] = b"345679ACEFGHJKLMNPQRSTUVWXY";

/// Errors of the key helpers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Not 64 hex digits, or not a point of Ed25519.
    #[error("expected an Ed25519 public key (64 hex digits)")]
    InvalidPublicKey,
    /// Not 64 hex digits.
    #[error("expected an Ed25519 private key (a 32-byte seed as 64 hex digits)")]
    InvalidPrivateKey,
    /// A key file without a `private-key-ed25519` line.
    #[error("no private-key-ed25519 line in the key file")]
    NoPrivateKeyInFile,
}

/// Why an authentication failed: for the router's log, never for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("the client offered no authentication method this transport has")]
    NoAuthMethod,
    #[error("the client offered an unknown authentication method {0:?}")]
    UnknownAuthMethod(String),
    #[error("no principal has this authid")]
    UnknownPrincipal,
    #[error("no authid was given and no principal has the given public key")]
    UnknownPublicKey,
    #[error("no authid was given and the public key belongs to several principals")]
    AmbiguousPublicKey,
    #[error("neither an authid nor a public key was given")]
    NoAuthid,
    #[error("the principal may not join this realm")]
    RealmNotAllowed,
    #[error("the public key is not one of the principal's authorized keys")]
    KeyNotAuthorized,
    #[error("wrong ticket")]
    WrongTicket,
    #[error("wrong WAMP-CRA signature")]
    WrongWampCraSignature,
    #[error("invalid cryptosign signature (bad signature, other message or malformed)")]
    WrongCryptosignSignature,
    #[error("malformed authextra.{0}")]
    MalformedAuthextra(&'static str),
    #[error("channel binding {0:?} is not supported (only tls-unique)")]
    UnsupportedChannelBinding(String),
    #[error("tls-unique channel binding was requested on a connection without TLS")]
    ChannelBindingWithoutTls,
    #[error("the connection has no TLS client certificate")]
    NoClientCertificate,
    #[error("no principal has this client certificate")]
    UnknownCertificate,
    #[error("AUTHENTICATE while the dynamic authenticator has not answered")]
    NotAwaitingAuthenticate,
    #[error("an authenticator result for an authentication that is not waiting for one")]
    NotAwaitingDynamicResult,
    #[error("the dynamic authenticator returned an invalid result: {0}")]
    InvalidDynamicResult(String),
    #[error("the dynamic authenticator refused: {error}")]
    DynamicRefused {
        /// The error URI it raised.
        error: String,
    },
}

/// What the authenticators need from a HELLO and its connection.
#[derive(Debug, Clone)]
pub struct HelloInfo<'a> {
    /// The realm the client asked for.
    pub realm: &'a str,
    /// `HELLO.Details.authmethods`, in the client's order (strings only); empty means
    /// `["anonymous"]`.
    pub authmethods: Vec<&'a str>,
    /// `HELLO.Details.authid`.
    pub authid: Option<&'a str>,
    /// `HELLO.Details.authrole` (only passed on to dynamic authenticators).
    pub authrole: Option<&'a str>,
    /// `HELLO.Details.authextra` (empty when absent).
    pub authextra: &'a Dict,
    /// The session id the session will get.
    pub session: u64,
    /// The TLS channel id for `tls-unique` channel binding when the connection is TLS: 32
    /// bytes, the SHA-256 of the TLS Finished message (what Autobahn computes). `None` without
    /// TLS (a client asking for channel binding is then refused, as Crossbar 26.10 does).
    pub channel_binding: Option<&'a [u8]>,
    /// The verified TLS client certificate's SHA-1 fingerprint (hex, any case, colons
    /// allowed), when the endpoint verifies client certificates.
    pub client_cert_sha1: Option<&'a str>,
    /// Now, as Autobahn's `utcnow()` writes it (`2026-05-01T12:00:00.000Z`, see
    /// [`utc_timestamp`]): the WAMP-CRA challenge carries it.
    pub timestamp: &'a str,
    /// The node key, to sign a cryptosign client's own challenge (mutual authentication).
    /// Without one such a client gets no router signature.
    pub node_key: Option<&'a NodeKey>,
    /// `details.transport` for dynamic authenticators (Crossbar's `TransportDetails.marshal()`:
    /// `peer`, `channel_type`, `http_headers_received`, `peer_cert`, …); left out when `None`.
    pub transport: Option<&'a Dict>,
    /// The connection's tracking cookie id (a WebSocket service with a `cookie` block). Static
    /// anonymous authentication without a configured authid uses it as the authid, as
    /// Crossbar does, unless the transport offers cookie authentication (see [`hello`]).
    pub cookie_id: Option<&'a str>,
    /// The authentication remembered on the connection's cookie, as
    /// [`cookie::CookieSession::for_hello`] gives it: with `cookie` among the client's
    /// authmethods and the transport's, the session is welcomed as that identity at once.
    pub cookie: Option<&'a cookie::CookieAuth>,
}

static EMPTY_DICT: Dict = Dict::new();

impl<'a> HelloInfo<'a> {
    /// The fields read from a HELLO's details; the connection's (`channel_binding`,
    /// `client_cert_sha1`, `node_key`, `transport`, `cookie_id`, `cookie`) are left `None` for
    /// the caller to set.
    pub fn from_hello(realm: &'a str, details: &'a Dict, session: u64, timestamp: &'a str) -> Self {
        let authmethods = details
            .get("authmethods")
            .and_then(Value::as_list)
            .map(|l| l.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        HelloInfo {
            realm,
            authmethods,
            authid: details.get_str("authid"),
            authrole: details.get_str("authrole"),
            authextra: details.get_dict("authextra").unwrap_or(&EMPTY_DICT),
            session,
            channel_binding: None,
            client_cert_sha1: None,
            timestamp,
            node_key: None,
            transport: None,
            cookie_id: None,
            cookie: None,
        }
    }
}

/// Who a session is once authenticated: what WELCOME carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub authid: String,
    pub authrole: String,
    /// `anonymous`, `ticket`, `wampcra`, `cryptosign` or `tls`.
    pub authmethod: &'static str,
    /// `static` or `dynamic`.
    pub authprovider: &'static str,
    /// WELCOME's `authextra` before the router adds its `x_cb_*` keys: the client's own
    /// authextra for anonymous and static ticket (as Crossbar echoes it), the dynamic
    /// authenticator's `extra`, else empty.
    pub authextra: Dict,
    /// The realm the session joins when it is not the one it asked for: set only by a dynamic
    /// authenticator's `realm` (Crossbar lets it reassign the realm).
    pub realm: Option<String>,
}

/// What to answer.
#[derive(Debug)]
pub enum Step {
    /// Authenticated: send WELCOME.
    Welcome(Identity),
    /// Send CHALLENGE `(method, extra)` and wait for AUTHENTICATE.
    Challenge {
        method: &'static str,
        extra: Dict,
        pending: Pending,
    },
    /// Ask the dynamic authenticator.
    Dynamic(DynamicRequest),
    /// Refused: send ABORT `(reason, message)`. `cause` is for the router's log only.
    Abort {
        reason: &'static str,
        message: String,
        cause: Failure,
    },
}

/// A call to a dynamic authenticator.
#[derive(Debug)]
pub struct DynamicRequest {
    /// The procedure (`authenticator`).
    pub procedure: String,
    /// `authenticator-realm`: the realm to call it on; `None`: the realm the client asked for.
    pub realm: Option<String>,
    /// `authenticator-role`: the role of the router's calling session there; `None`: trusted.
    pub role: Option<String>,
    /// The call's arguments, as Crossbar sends them: `[realm, authid, details]` where
    /// `details` holds `session`, `authmethod`, `authid`, `authrole`, `authextra`, `transport`
    /// (when given) and for ticket `ticket`.
    pub args: Vec<Value>,
    /// The authmethod being run.
    pub method: &'static str,
    /// Keep it and pass it to [`dynamic_result`] or [`dynamic_error`].
    pub pending: Pending,
}

/// An authentication in progress, kept by the session between steps.
pub struct Pending {
    method: &'static str,
    state: State,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Ticket { .. } => "awaiting AUTHENTICATE (ticket)",
            State::TicketDynamic(_) => "awaiting AUTHENTICATE (ticket, then the authenticator)",
            State::WampCra { .. } => "awaiting AUTHENTICATE (wampcra)",
            State::Cryptosign { .. } => "awaiting AUTHENTICATE (cryptosign)",
            State::Decoy(_) => "awaiting AUTHENTICATE",
            State::Dynamic(_) => "awaiting the dynamic authenticator",
        };
        f.debug_struct("Pending")
            .field("method", &self.method)
            .field("state", &state)
            .finish()
    }
}

impl Pending {
    /// The authmethod being run.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// True when the next step is an AUTHENTICATE (false: a dynamic authenticator's result).
    pub fn awaits_authenticate(&self) -> bool {
        !matches!(self.state, State::Dynamic(_))
    }
}

enum State {
    /// Static ticket: the expected ticket.
    Ticket {
        expected: String,
        identity: Identity,
    },
    /// Dynamic ticket: AUTHENTICATE's ticket goes to the authenticator.
    TicketDynamic(Box<DynCtx>),
    /// WAMP-CRA: the expected signature.
    WampCra {
        expected: String,
        identity: Identity,
    },
    /// Cryptosign: the message the client must sign and the keys it may sign with.
    Cryptosign {
        keys: Vec<VerifyingKey>,
        expected: [u8; 32],
        identity: Identity,
    },
    /// A challenge sent for a principal that cannot authenticate: AUTHENTICATE fails.
    Decoy(Failure),
    /// Waiting for the dynamic authenticator's result.
    Dynamic(Box<DynCtx>),
}

/// A dynamic authentication in flight.
struct DynCtx {
    procedure: String,
    auth_realm: Option<String>,
    auth_role: Option<String>,
    default_role: Option<String>,
    /// The realm the client asked for.
    realm: String,
    /// HELLO's authid (anonymous: the random one).
    authid: Option<String>,
    session: u64,
    details: Dict,
    /// WAMP-CRA: the nonce and timestamp of the challenge built after the lookup.
    nonce: String,
    timestamp: String,
    /// Cryptosign: the challenge and what the client must sign, and CHALLENGE.extra's other
    /// keys (channel binding, the router's signature).
    cryptosign: Option<CryptosignChallenge>,
}

/// A cryptosign challenge, made at HELLO.
struct CryptosignChallenge {
    expected: [u8; 32],
    extra: Dict,
}

// ----- HELLO -----

/// The answer to a HELLO: the first of the client's authmethods (client order) that the
/// transport offers decides, as in Crossbar. `rng` must be cryptographically secure (it makes
/// challenges and random authids).
///
/// Cookie authentication comes first, wherever `cookie` sits in the client's list: Crossbar
/// authenticates the connection by its cookie at the WebSocket upgrade and welcomes a HELLO
/// offering `cookie` before it looks at any method. When the cookie has no remembered
/// authentication, `cookie` is skipped like a method the transport lacks.
pub fn hello(config: &AuthConfig, info: &HelloInfo<'_>, rng: &mut impl rand::CryptoRng) -> Step {
    let offered: Vec<&str> = if info.authmethods.is_empty() {
        vec!["anonymous"]
    } else {
        info.authmethods.clone()
    };
    if let Some(remembered) = info.cookie {
        if offered.contains(&"cookie") && config.method("cookie").is_some() {
            return Step::Welcome(remembered.identity());
        }
    }
    for m in &offered {
        if !KNOWN_METHODS.contains(m) {
            return abort(
                NOT_AUTHORIZED,
                format!("invalid authmethod \"{m}\""),
                Failure::UnknownAuthMethod((*m).to_owned()),
            );
        }
        let Some(method) = config.method(m) else {
            continue;
        };
        return match method {
            AuthMethodConfig::Anonymous(a) => anonymous(a, config, info, rng),
            AuthMethodConfig::Ticket(a) => ticket(a, info),
            AuthMethodConfig::WampCra(a) => wampcra_hello(a, info, rng),
            AuthMethodConfig::Cryptosign(a) => cryptosign_hello(a, info, rng),
            AuthMethodConfig::Tls(a) => tls_hello(a, info),
            // No remembered authentication (handled above): the client's next method.
            AuthMethodConfig::Cookie => continue,
        };
    }
    abort(
        NO_AUTH_METHOD,
        format!(
            "cannot authenticate using any of the offered authmethods {}",
            py_list(&offered)
        ),
        Failure::NoAuthMethod,
    )
}

fn anonymous(
    a: &Authenticator<AnonymousAuth>,
    config: &AuthConfig,
    info: &HelloInfo<'_>,
    rng: &mut impl rand::CryptoRng,
) -> Step {
    // Crossbar gives an anonymous session the cookie id as its authid. Where the cookie also
    // authenticates (auth.cookie), the id is a credential, and authids are shown to other
    // sessions (meta API, caller/publisher disclosure): whoever saw it could present the
    // cookie and, once its owner logs in by another method on it, join as them. There the
    // authid stays random.
    let cookie_authid = info
        .cookie_id
        .filter(|_| config.method("cookie").is_none())
        .map(str::to_owned);
    match a {
        Authenticator::Static(a) => Step::Welcome(Identity {
            authid: a
                .authid
                .clone()
                .or(cookie_authid)
                .unwrap_or_else(|| random_authid(rng)),
            authrole: a.role.clone(),
            authmethod: "anonymous",
            authprovider: "static",
            authextra: info.authextra.clone(),
            realm: None,
        }),
        Authenticator::Dynamic { .. } => {
            let authid = random_authid(rng);
            let ctx = dyn_ctx(a, info, "anonymous", Some(authid), String::new(), None);
            dynamic_step("anonymous", ctx)
        }
    }
}

fn ticket(a: &Authenticator<TicketPrincipals>, info: &HelloInfo<'_>) -> Step {
    let Authenticator::Static(principals) = a else {
        let ctx = dyn_ctx(
            a,
            info,
            "ticket",
            info.authid.map(str::to_owned),
            String::new(),
            None,
        );
        return Step::Challenge {
            method: "ticket",
            extra: Dict::new(),
            pending: Pending {
                method: "ticket",
                state: State::TicketDynamic(ctx),
            },
        };
    };
    let found = info
        .authid
        .and_then(|id| principals.0.iter().find(|(a, _)| a == id));
    let state = match found {
        None => State::Decoy(Failure::UnknownPrincipal),
        Some((_, p)) if !realm_allowed(p.realm.as_deref(), info) => {
            State::Decoy(Failure::RealmNotAllowed)
        }
        Some((authid, p)) => State::Ticket {
            expected: p.ticket.clone(),
            identity: Identity {
                authid: authid.clone(),
                authrole: p.role.clone(),
                authmethod: "ticket",
                authprovider: "static",
                authextra: info.authextra.clone(),
                realm: None,
            },
        },
    };
    Step::Challenge {
        method: "ticket",
        extra: Dict::new(),
        pending: Pending {
            method: "ticket",
            state,
        },
    }
}

fn wampcra_hello(
    a: &Authenticator<WampCraUsers>,
    info: &HelloInfo<'_>,
    rng: &mut impl rand::CryptoRng,
) -> Step {
    let mut random = [0u8; 48];
    rng.fill_bytes(&mut random);
    let nonce = wampcra::nonce(&random);
    let Authenticator::Static(users) = a else {
        let ctx = dyn_ctx(
            a,
            info,
            "wampcra",
            info.authid.map(str::to_owned),
            nonce,
            None,
        );
        return dynamic_step("wampcra", ctx);
    };
    let found = info
        .authid
        .and_then(|id| users.0.iter().find(|(a, _)| a == id));
    let decoy;
    let (user, outcome) = match found {
        Some((authid, u)) if realm_allowed(u.realm.as_deref(), info) => (
            u,
            Ok(Identity {
                authid: authid.clone(),
                authrole: u.role.clone(),
                authmethod: "wampcra",
                authprovider: "static",
                authextra: Dict::new(),
                realm: None,
            }),
        ),
        Some((_, u)) => (u, Err(Failure::RealmNotAllowed)),
        // A decoy shaped like the first user's challenge (role and salt settings).
        None => match users.0.first() {
            Some((_, u)) => (u, Err(Failure::UnknownPrincipal)),
            None => {
                decoy = decoy_user();
                (&decoy, Err(Failure::UnknownPrincipal))
            }
        },
    };
    let fields = wampcra::ChallengeFields {
        authid: info.authid.unwrap_or(""),
        authrole: &user.role,
        authprovider: "static",
        session: info.session,
        nonce: &nonce,
        timestamp: info.timestamp,
    };
    wampcra_challenge(&fields, user, outcome)
}

/// The user a decoy WAMP-CRA challenge is shaped like when no user is configured.
fn decoy_user() -> WampCraUser {
    WampCraUser {
        secret: String::new(),
        role: "anonymous".into(),
        salt: None,
        iterations: None,
        keylen: None,
        realm: None,
        hmac_key: String::new(),
    }
}

/// A WAMP-CRA CHALLENGE for `user` with the challenge text made of `fields`: when `outcome` is
/// the identity, AUTHENTICATE with the right signature welcomes it; else it is a decoy.
fn wampcra_challenge(
    fields: &wampcra::ChallengeFields<'_>,
    user: &WampCraUser,
    outcome: Result<Identity, Failure>,
) -> Step {
    let challenge = wampcra::challenge_json(fields);
    let extra = wampcra::challenge_extra(
        &challenge,
        user.salt.as_deref(),
        user.iterations,
        user.keylen,
    );
    let state = match outcome {
        Err(f) => State::Decoy(f),
        Ok(identity) => State::WampCra {
            expected: wampcra::compute_signature(&user.hmac_key, &challenge),
            identity,
        },
    };
    Step::Challenge {
        method: "wampcra",
        extra,
        pending: Pending {
            method: "wampcra",
            state,
        },
    }
}

fn cryptosign_hello(
    a: &Authenticator<CryptosignPrincipals>,
    info: &HelloInfo<'_>,
    rng: &mut impl rand::CryptoRng,
) -> Step {
    let challenge = match cryptosign_challenge(info, rng) {
        Ok(c) => c,
        Err(step) => return *step,
    };
    let pubkey = match info.authextra.get("pubkey") {
        None | Some(Value::Null) => None,
        Some(Value::Str(s)) => match cryptosign::parse_public_key(s) {
            Ok(k) => Some(k),
            Err(_) => return fail(Failure::MalformedAuthextra("pubkey")),
        },
        Some(_) => return fail(Failure::MalformedAuthextra("pubkey")),
    };
    let Authenticator::Static(principals) = a else {
        let ctx = dyn_ctx(
            a,
            info,
            "cryptosign",
            info.authid.map(str::to_owned),
            String::new(),
            Some(challenge),
        );
        return dynamic_step("cryptosign", ctx);
    };
    let (expected, extra) = (challenge.expected, challenge.extra);
    let challenge_step = |state: State| Step::Challenge {
        method: "cryptosign",
        extra,
        pending: Pending {
            method: "cryptosign",
            state,
        },
    };
    // The principal: by authid, else by the public key (which must belong to exactly one).
    let found = match (info.authid, pubkey) {
        (Some(id), _) => principals
            .0
            .iter()
            .find(|(a, _)| a == id)
            .ok_or(Failure::UnknownPrincipal),
        (None, Some(key)) => {
            let mut owners = principals
                .0
                .iter()
                .filter(|(_, p)| p.authorized_keys.contains(&key));
            match (owners.next(), owners.next()) {
                (Some(p), None) => Ok(p),
                (Some(_), Some(_)) => Err(Failure::AmbiguousPublicKey),
                (None, _) => Err(Failure::UnknownPublicKey),
            }
        }
        (None, None) => Err(Failure::NoAuthid),
    };
    let (authid, principal) = match found {
        Ok(p) => p,
        Err(f) => return challenge_step(State::Decoy(f)),
    };
    if !realm_allowed(principal.realm.as_deref(), info) {
        return challenge_step(State::Decoy(Failure::RealmNotAllowed));
    }
    let keys: Vec<VerifyingKey> = match pubkey {
        Some(k) if !principal.authorized_keys.contains(&k) => {
            return challenge_step(State::Decoy(Failure::KeyNotAuthorized));
        }
        Some(k) => cryptosign::verifying_key(&k).into_iter().collect(),
        None => principal
            .authorized_keys
            .iter()
            .filter_map(cryptosign::verifying_key)
            .collect(),
    };
    challenge_step(State::Cryptosign {
        keys,
        expected,
        identity: Identity {
            authid: authid.clone(),
            authrole: principal.role.clone(),
            authmethod: "cryptosign",
            authprovider: "static",
            authextra: Dict::new(),
            realm: None,
        },
    })
}

/// The cryptosign challenge for a HELLO: 32 random bytes, the channel binding the client asked
/// for, and the router's signature of the client's own challenge (mutual authentication).
fn cryptosign_challenge(
    info: &HelloInfo<'_>,
    rng: &mut impl rand::CryptoRng,
) -> Result<CryptosignChallenge, Box<Step>> {
    let channel_id: Option<[u8; 32]> = match info.authextra.get("channel_binding") {
        None | Some(Value::Null) => None,
        Some(Value::Str(b)) if b == "tls-unique" => match info.channel_binding {
            Some(id) => match <[u8; 32]>::try_from(id) {
                Ok(id) => Some(id),
                Err(_) => return Err(Box::new(fail(Failure::ChannelBindingWithoutTls))),
            },
            None => {
                return Err(Box::new(abort(
                    NOT_AUTHORIZED,
                    "tls-unique channel binding needs a TLS connection".into(),
                    Failure::ChannelBindingWithoutTls,
                )))
            }
        },
        Some(other) => {
            let name = other.as_str().unwrap_or("?").to_owned();
            return Err(Box::new(abort(
                NOT_AUTHORIZED,
                format!("invalid channel binding type {name:?} requested"),
                Failure::UnsupportedChannelBinding(name),
            )));
        }
    };
    let mut challenge = [0u8; 32];
    rng.fill_bytes(&mut challenge);
    let expected = match &channel_id {
        Some(id) => xor32(&challenge, id),
        None => challenge,
    };
    let mut extra = Dict::new()
        .with("challenge", cryptosign::to_hex(&challenge))
        .with(
            "channel_binding",
            if channel_id.is_some() {
                Value::from("tls-unique")
            } else {
                Value::Null
            },
        );
    match info.authextra.get("challenge") {
        None | Some(Value::Null) => {}
        Some(Value::Str(s)) if s.is_empty() => {}
        Some(Value::Str(s)) => {
            let client = cryptosign::from_hex(s);
            let data = match (client, &channel_id) {
                (Some(c), None) => c,
                (Some(c), Some(id)) if c.len() == 32 => {
                    c.iter().zip(id).map(|(a, b)| a ^ b).collect()
                }
                _ => return Err(Box::new(fail(Failure::MalformedAuthextra("challenge")))),
            };
            if let Some(key) = info.node_key {
                let (pubkey, signature) = node_signature(key, &data);
                extra.insert("pubkey", pubkey);
                extra.insert("signature", signature);
            }
        }
        Some(_) => return Err(Box::new(fail(Failure::MalformedAuthextra("challenge")))),
    }
    Ok(CryptosignChallenge { expected, extra })
}

fn tls_hello(a: &Authenticator<TlsPrincipals>, info: &HelloInfo<'_>) -> Step {
    let Some(sha1) = info.client_cert_sha1.and_then(normalize_sha1) else {
        return fail(Failure::NoClientCertificate);
    };
    let Authenticator::Static(principals) = a else {
        let ctx = dyn_ctx(
            a,
            info,
            "tls",
            info.authid.map(str::to_owned),
            String::new(),
            None,
        );
        return dynamic_step("tls", ctx);
    };
    let Some((authid, p)) = principals
        .0
        .iter()
        .find(|(_, p)| p.certificate_sha1 == sha1)
    else {
        return fail(Failure::UnknownCertificate);
    };
    if !realm_allowed(p.realm.as_deref(), info) {
        return fail(Failure::RealmNotAllowed);
    }
    Step::Welcome(Identity {
        authid: authid.clone(),
        authrole: p.role.clone(),
        authmethod: "tls",
        authprovider: "static",
        authextra: Dict::new(),
        realm: None,
    })
}

// ----- AUTHENTICATE -----

/// The answer to an AUTHENTICATE for `pending` with `signature` (the message's `extra` is not
/// used by these methods).
pub fn authenticate(pending: Pending, signature: &str, _extra: &Dict) -> Step {
    match pending.state {
        State::Ticket { expected, identity } => {
            if ct_eq(signature.as_bytes(), expected.as_bytes()) {
                Step::Welcome(identity)
            } else {
                fail(Failure::WrongTicket)
            }
        }
        State::TicketDynamic(mut ctx) => {
            ctx.details.insert("ticket", signature);
            dynamic_step("ticket", ctx)
        }
        State::WampCra { expected, identity } => {
            if ct_eq(signature.as_bytes(), expected.as_bytes()) {
                Step::Welcome(identity)
            } else {
                fail(Failure::WrongWampCraSignature)
            }
        }
        State::Cryptosign {
            keys,
            expected,
            identity,
        } => {
            if cryptosign::verify(signature, &expected, &keys) {
                Step::Welcome(identity)
            } else {
                fail(Failure::WrongCryptosignSignature)
            }
        }
        State::Decoy(f) => fail(f),
        State::Dynamic(_) => fail(Failure::NotAwaitingAuthenticate),
    }
}

// ----- dynamic authenticators -----

/// The answer once the dynamic authenticator returned `result`: a role string, or a dict
/// `{role?, authid?, realm?, extra?}` plus for wampcra `secret` (and `salt`, `iterations`,
/// `keylen`) and for cryptosign `pubkey` (hex). The role falls back to `default-role`; the
/// authid to the HELLO's.
pub fn dynamic_result(pending: Pending, result: &Value) -> Step {
    let State::Dynamic(ctx) = pending.state else {
        return fail(Failure::NotAwaitingDynamicResult);
    };
    let principal = match assign_principal(&ctx, pending.method, result) {
        Ok(p) => p,
        Err(f) => return fail(f),
    };
    let identity = principal.identity;
    match pending.method {
        "wampcra" => {
            let user = match principal.wampcra {
                Some(u) => u,
                None => {
                    return fail(Failure::InvalidDynamicResult(
                        "no secret for wampcra".into(),
                    ))
                }
            };
            let authid = identity.authid.clone();
            let fields = wampcra::ChallengeFields {
                authid: &authid,
                authrole: &user.role,
                authprovider: "dynamic",
                session: ctx.session,
                nonce: &ctx.nonce,
                timestamp: &ctx.timestamp,
            };
            // The identity keeps the authenticator's extra and realm for the WELCOME.
            wampcra_challenge(&fields, &user, Ok(identity))
        }
        "cryptosign" => {
            let Some(key) = principal.pubkey else {
                return fail(Failure::InvalidDynamicResult(
                    "no valid pubkey for cryptosign".into(),
                ));
            };
            let Some(challenge) = ctx.cryptosign else {
                return fail(Failure::NotAwaitingDynamicResult);
            };
            Step::Challenge {
                method: "cryptosign",
                extra: challenge.extra,
                pending: Pending {
                    method: "cryptosign",
                    state: State::Cryptosign {
                        keys: vec![key],
                        expected: challenge.expected,
                        identity,
                    },
                },
            }
        }
        _ => Step::Welcome(identity),
    }
}

/// The answer when the dynamic authenticator raised `error` (with `message`, its first
/// argument, if any), was not registered, or did not answer in time: ABORT
/// `wamp.error.not_authorized` with the authenticator's message.
pub fn dynamic_error(error: &str, message: Option<&str>) -> Step {
    abort(
        NOT_AUTHORIZED,
        message.unwrap_or(FAILED).to_owned(),
        Failure::DynamicRefused {
            error: error.to_owned(),
        },
    )
}

/// A dynamic authenticator's answer, checked.
struct Principal {
    identity: Identity,
    wampcra: Option<WampCraUser>,
    pubkey: Option<VerifyingKey>,
}

/// Crossbar's `PendingAuth._assign_principal`.
fn assign_principal(
    ctx: &DynCtx,
    method: &'static str,
    result: &Value,
) -> Result<Principal, Failure> {
    let invalid = |why: &str| Failure::InvalidDynamicResult(why.to_owned());
    let empty = Dict::new();
    let (dict, role) = match result {
        Value::Str(role) => (&empty, Some(role.as_str())),
        Value::Dict(d) => match d.get("role") {
            None | Some(Value::Null) => (d, None),
            Some(Value::Str(r)) => (d, Some(r.as_str())),
            Some(_) => return Err(invalid("role is not a string")),
        },
        _ => return Err(invalid("expected a role or a dict")),
    };
    let text = |key: &str| -> Result<Option<&str>, Failure> {
        match dict.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(Failure::InvalidDynamicResult(format!(
                "{key} is not a string"
            ))),
        }
    };
    let role = role
        .map(str::to_owned)
        .or_else(|| ctx.default_role.clone())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| invalid("no role"))?;
    let authid = text("authid")?
        .map(str::to_owned)
        .or_else(|| ctx.authid.clone())
        .filter(|a| !a.is_empty())
        .ok_or_else(|| invalid("no authid"))?;
    let realm = text("realm")?.filter(|r| !r.is_empty()).map(str::to_owned);
    let authextra = match dict.get("extra") {
        None | Some(Value::Null) => Dict::new(),
        Some(Value::Dict(d)) => d.clone(),
        Some(_) => return Err(invalid("extra is not a dict")),
    };
    let wampcra = match text("secret")? {
        Some(secret) if method == "wampcra" => {
            let salt = text("salt")?;
            let int = |key: &str, max: u64| -> Result<Option<u32>, Failure> {
                match dict.get(key) {
                    None | Some(Value::Null) => Ok(None),
                    Some(v) => match v.as_u64() {
                        Some(n) if (1..=max).contains(&n) => Ok(Some(n as u32)),
                        _ => Err(Failure::InvalidDynamicResult(format!(
                            "{key} is not an integer 1..{max}"
                        ))),
                    },
                }
            };
            let iterations = int("iterations", wampcra::MAX_ITERATIONS)?;
            let keylen = int("keylen", wampcra::MAX_KEYLEN)?;
            Some(WampCraUser {
                secret: String::new(),
                role: role.clone(),
                salt: salt.map(str::to_owned),
                iterations,
                keylen,
                realm: None,
                hmac_key: wampcra::hmac_key(secret, salt, iterations, keylen),
            })
        }
        _ => None,
    };
    let pubkey = match text("pubkey")? {
        Some(hex) if method == "cryptosign" => {
            let bytes = cryptosign::parse_public_key(hex).map_err(|_| invalid("pubkey"))?;
            cryptosign::verifying_key(&bytes)
        }
        _ => None,
    };
    Ok(Principal {
        identity: Identity {
            authid,
            authrole: role,
            authmethod: method,
            authprovider: "dynamic",
            authextra,
            realm,
        },
        wampcra,
        pubkey,
    })
}

/// The context of a dynamic authentication.
fn dyn_ctx<T>(
    a: &Authenticator<T>,
    info: &HelloInfo<'_>,
    method: &'static str,
    authid: Option<String>,
    nonce: String,
    cryptosign: Option<CryptosignChallenge>,
) -> Box<DynCtx> {
    let (procedure, auth_realm, auth_role, default_role) = match a {
        Authenticator::Dynamic {
            procedure,
            realm,
            role,
            default_role,
        } => (
            procedure.clone(),
            realm.clone(),
            role.clone(),
            default_role.clone(),
        ),
        Authenticator::Static(_) => (String::new(), None, None, None),
    };
    let opt = |s: Option<&str>| s.map_or(Value::Null, Value::from);
    let mut details = Dict::new();
    if let Some(t) = info.transport {
        details.insert("transport", t.clone());
    }
    details.insert("session", info.session);
    details.insert("authmethod", method);
    details.insert("authid", opt(info.authid));
    details.insert("authrole", opt(info.authrole));
    details.insert("authextra", info.authextra.clone());
    Box::new(DynCtx {
        procedure,
        auth_realm,
        auth_role,
        default_role,
        realm: info.realm.to_owned(),
        authid,
        session: info.session,
        details,
        nonce,
        timestamp: info.timestamp.to_owned(),
        cryptosign,
    })
}

/// The call to the authenticator for `ctx`.
fn dynamic_step(method: &'static str, ctx: Box<DynCtx>) -> Step {
    let authid = ctx.authid.as_deref().map_or(Value::Null, Value::from);
    let args = vec![
        Value::from(ctx.realm.as_str()),
        authid,
        Value::Dict(ctx.details.clone()),
    ];
    Step::Dynamic(DynamicRequest {
        procedure: ctx.procedure.clone(),
        realm: ctx.auth_realm.clone(),
        role: ctx.auth_role.clone(),
        args,
        method,
        pending: Pending {
            method,
            state: State::Dynamic(ctx),
        },
    })
}

// ----- helpers -----

fn abort(reason: &'static str, message: String, cause: Failure) -> Step {
    Step::Abort {
        reason,
        message,
        cause,
    }
}

/// A refused credential: `not_authorized`, "authentication failed".
fn fail(cause: Failure) -> Step {
    abort(NOT_AUTHORIZED, FAILED.to_owned(), cause)
}

/// A static principal's `realm` allows the realm asked for.
fn realm_allowed(realm: Option<&str>, info: &HelloInfo<'_>) -> bool {
    realm.is_none_or(|r| r == info.realm)
}

/// Constant-time equality (the length is not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b)) {
        *o = x ^ y;
    }
    out
}

/// A random authid as Crossbar makes them (`generate_serial_number`): six groups of four
/// characters, `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`, about 114 bits.
pub fn random_authid(rng: &mut impl rand::CryptoRng) -> String {
    let mut out = String::with_capacity(29);
    for i in 0..24 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(char::from(
            TOKEN_CHARS[rng.random_range(0..TOKEN_CHARS.len())],
        ));
    }
    out
}

/// A list as Python prints it (`['ticket', 'wampcra']`), for Crossbar's messages.
fn py_list(items: &[&str]) -> String {
    let inner: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", inner.join(", "))
}

/// A SHA-1 fingerprint normalised to 40 lower-case hex digits (colons and spaces removed);
/// `None` when it is not one.
pub fn normalize_sha1(s: &str) -> Option<String> {
    let hex: String = s
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// The host part of a peer as Crossbar writes it: `tcp4:203.0.113.9:50412` → `203.0.113.9`,
/// `tcp6:::1:50412` → `::1`; anything else as is. The key for [`FailureTracker`].
pub fn peer_host(peer: &str) -> &str {
    match peer.split_once(':') {
        Some(("tcp4" | "tcp6", rest)) => rest.rsplit_once(':').map_or(rest, |(host, _)| host),
        _ => peer,
    }
}
