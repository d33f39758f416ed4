//! Dynamic authenticators: what the router asks the authenticator procedure (Crossbar's
//! `(realm, authid, details)`), and how its answer or error becomes a WELCOME, a CHALLENGE
//! (wampcra, cryptosign) or an ABORT.

use super::challenge::wampcra_challenge;
use super::*;

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
pub(super) fn dyn_ctx<T>(
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
pub(super) fn dynamic_step(method: &'static str, ctx: Box<DynCtx>) -> Step {
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
