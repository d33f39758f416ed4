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

mod challenge;
pub mod cookie;
pub mod cryptosign;
mod dynamic;
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

use challenge::{cryptosign_hello, ticket, wampcra_hello};
pub use cryptosign::{keygen, node_signature, NodeKey};
use dynamic::{dyn_ctx, dynamic_step};
pub use dynamic::{dynamic_error, dynamic_result};
pub use throttle::{FailureTracker, ThrottleConfig};

pub use crate::credentials::normalize_sha1;

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

/// The host part of a peer as Crossbar writes it: `tcp4:203.0.113.9:50412` → `203.0.113.9`,
/// `tcp6:::1:50412` → `::1`; anything else as is. The key for [`FailureTracker`].
pub fn peer_host(peer: &str) -> &str {
    match peer.split_once(':') {
        Some(("tcp4" | "tcp6", rest)) => rest.rsplit_once(':').map_or(rest, |(host, _)| host),
        _ => peer,
    }
}
