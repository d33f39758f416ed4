//! The `auth` block of a transport, a WebSocket path or a RawSocket part: the authentication
//! methods it offers (`anonymous`, `ticket`, `wampcra`, `cryptosign`, `tls`), each `static`
//! (principals in the config) or `dynamic` (a WAMP procedure decides), and `cookie` (which
//! has no settings of its own: the service's `cookie` block is read by the transport walker).
//! What ferrobar does not have (`scram`, the proxy methods, `function` authenticators,
//! cryptosign trust roots) is refused by name.
//!
//! Secrets (`ticket`, `secret`) may come from the environment as `"${NAME}"`, Crossbar's
//! `maybe_from_env`; unlike Crossbar, an unset variable is an error rather than a literal
//! `${NAME}` password. A plain `"$NAME"` is a literal secret there, as in Crossbar.

use serde_json::{Map, Value};

use super::model::*;
use super::walk::{child, item, Walker};
use crate::credentials as wampcra;
use crate::wamp::uri::{self, MatchPolicy, UriCheck};

// Methods Crossbar has that ferrobar refuses by name.
use super::capabilities::REFUSED_AUTH_METHODS as REFUSED;

const DYNAMIC_KEYS: &[&str] = &[
    "type",
    "authenticator",
    "authenticator-realm",
    "authenticator-role",
    "default-role",
];

/// An `auth` block. An empty block means anonymous as role `anonymous`, as no block does.
pub(crate) fn walk_auth(w: &mut Walker, v: &Value, path: &str) -> AuthConfig {
    let Some(map) = w.object(v, path) else {
        return AuthConfig::default();
    };
    if map.is_empty() {
        return AuthConfig::default();
    }
    let mut methods = Vec::new();
    for (method, cfg) in map {
        let mpath = child(path, method);
        let m = match method.as_str() {
            "anonymous" => walk_anonymous(w, cfg, &mpath).map(AuthMethodConfig::Anonymous),
            "ticket" => {
                walk_method(w, cfg, &mpath, "ticket", walk_ticket).map(AuthMethodConfig::Ticket)
            }
            "wampcra" => {
                walk_method(w, cfg, &mpath, "wampcra", walk_wampcra).map(AuthMethodConfig::WampCra)
            }
            "cryptosign" => walk_method(w, cfg, &mpath, "cryptosign", walk_cryptosign)
                .map(AuthMethodConfig::Cryptosign),
            "tls" => {
                require_client_certificates(w, &mpath);
                walk_method(w, cfg, &mpath, "tls", walk_tls_principals).map(AuthMethodConfig::Tls)
            }
            // Crossbar's check_transport_auth_cookie accepts any value (`{}`, `{"type":
            // "static"}`, ...) and reads none of it.
            "cookie" => Some(AuthMethodConfig::Cookie),
            m if REFUSED.contains(&m) => {
                w.unsupported(&mpath, format!("authentication method '{m}'"));
                None
            }
            other => {
                let msg = format!(
                    "unknown authentication method '{other}' (expected anonymous, ticket, \
                     wampcra, cryptosign, scram, tls or cookie)"
                );
                w.error(&mpath, msg);
                None
            }
        };
        methods.extend(m);
    }
    if methods.is_empty() {
        // Every entry had an error (already recorded); the value is not used.
        return AuthConfig::default();
    }
    AuthConfig { methods }
}

/// `auth.tls` needs an endpoint that asks for and verifies client certificates.
fn require_client_certificates(w: &mut Walker, path: &str) {
    if let Some((endpoint, false)) = w.transport_endpoint.clone() {
        w.error(
            path,
            format!(
                "TLS client-certificate authentication needs an endpoint that verifies client \
                 certificates: set {}",
                child(&child(&endpoint, "tls"), "ca_certificates")
            ),
        );
    }
}

/// `static` or `dynamic`; `function` is refused by name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Static,
    Dynamic,
}

fn walk_kind(w: &mut Walker, map: &Map<String, Value>, path: &str, method: &str) -> Option<Kind> {
    let tpath = child(path, "type");
    match map.get("type") {
        Some(Value::String(t)) if t == "static" => Some(Kind::Static),
        Some(Value::String(t)) if t == "dynamic" => Some(Kind::Dynamic),
        Some(Value::String(t)) if t == "function" => {
            w.unsupported(
                &tpath,
                format!("{method} authentication of type 'function' (an in-process Python authenticator)"),
            );
            None
        }
        Some(other) => {
            w.expected(&tpath, "\"static\" or \"dynamic\"", other);
            None
        }
        None => {
            w.error(&tpath, "missing (expected \"static\" or \"dynamic\")");
            None
        }
    }
}

/// A method with principals: `dynamic`, or `static` read by `walk_static`.
fn walk_method<T>(
    w: &mut Walker,
    v: &Value,
    path: &str,
    method: &str,
    walk_static: fn(&mut Walker, &Map<String, Value>, &str) -> Option<T>,
) -> Option<Authenticator<T>> {
    let map = w.object(v, path)?;
    match walk_kind(w, map, path, method)? {
        Kind::Dynamic => walk_dynamic(w, map, path),
        Kind::Static => walk_static(w, map, path).map(Authenticator::Static),
    }
}

/// `"type": "dynamic"`: `authenticator` (a procedure URI), `authenticator-realm`,
/// `authenticator-role`, `default-role`.
fn walk_dynamic<T>(
    w: &mut Walker,
    map: &Map<String, Value>,
    path: &str,
) -> Option<Authenticator<T>> {
    w.keys(map, path, DYNAMIC_KEYS);
    let procedure = w.req_str(map, path, "authenticator");
    if let Some(p) = procedure {
        if !uri::is_valid(p, UriCheck::Loose, MatchPolicy::Exact) {
            w.error(
                &child(path, "authenticator"),
                format!("expected a procedure URI, found {p:?}"),
            );
        }
    }
    let realm = non_empty(w, map, path, "authenticator-realm");
    let role = non_empty(w, map, path, "authenticator-role");
    let default_role = non_empty(w, map, path, "default-role");
    Some(Authenticator::Dynamic {
        procedure: procedure?.to_string(),
        realm,
        role,
        default_role,
    })
}

/// An optional non-empty string.
fn non_empty(w: &mut Walker, map: &Map<String, Value>, path: &str, key: &str) -> Option<String> {
    let s = w.opt_str(map, path, key)?;
    if s.is_empty() {
        w.error(&child(path, key), "expected a non-empty string");
        return None;
    }
    Some(s.to_string())
}

/// A required role name.
fn role(w: &mut Walker, map: &Map<String, Value>, path: &str) -> Option<String> {
    if !map.contains_key("role") {
        w.error(&child(path, "role"), "missing (a role name is required)");
        return None;
    }
    non_empty(w, map, path, "role")
}

/// A required secret: a non-empty string, or `"${NAME}"` naming an environment variable that
/// holds one.
fn secret(w: &mut Walker, map: &Map<String, Value>, path: &str, key: &str) -> Option<String> {
    let raw = w.req_str(map, path, key)?;
    let kpath = child(path, key);
    let value = match raw.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        Some(name) if !name.is_empty() => match w.env(name) {
            Some(v) => v,
            None => {
                w.error(
                    &kpath,
                    format!("environment variable {name} is not set (referenced as {raw:?})"),
                );
                return None;
            }
        },
        _ => raw.to_string(),
    };
    if value.is_empty() {
        w.error(&kpath, format!("expected a non-empty {key}"));
        return None;
    }
    Some(value)
}

/// The `principals` (or `users`) object of a static method: each entry walked by `entry`.
fn principals<T>(
    w: &mut Walker,
    map: &Map<String, Value>,
    path: &str,
    key: &str,
    mut entry: impl FnMut(&mut Walker, &Map<String, Value>, &str) -> Option<T>,
) -> Option<Vec<(String, T)>> {
    let ppath = child(path, key);
    let Some(v) = map.get(key) else {
        w.error(&ppath, format!("missing (a static method needs {key})"));
        return None;
    };
    let p = w.object(v, &ppath)?;
    let mut out = Vec::with_capacity(p.len());
    let mut ok = true;
    for (authid, pv) in p {
        let apath = child(&ppath, authid);
        if authid.is_empty() {
            w.error(&apath, "expected a non-empty authid");
            ok = false;
            continue;
        }
        match w.object(pv, &apath).and_then(|m| entry(w, m, &apath)) {
            Some(e) => out.push((authid.clone(), e)),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// An optional `realm` of a principal.
fn realm(w: &mut Walker, map: &Map<String, Value>, path: &str) -> Option<String> {
    non_empty(w, map, path, "realm")
}

/// `anonymous`: `static` with `role`, `authid` (and `realm`, which Crossbar ignores), or
/// `dynamic`.
fn walk_anonymous(w: &mut Walker, v: &Value, path: &str) -> Option<Authenticator<AnonymousAuth>> {
    let map = w.object(v, path)?;
    if walk_kind(w, map, path, "anonymous")? == Kind::Dynamic {
        return walk_dynamic(w, map, path);
    }
    w.keys(map, path, &["type", "role", "authid", "realm"]);
    if w.opt_str(map, path, "realm").is_some() {
        w.info(
            path,
            "realm has no effect (as in Crossbar, anonymous sessions join the realm they ask for)",
        );
    }
    let role = w.opt_str(map, path, "role").unwrap_or("anonymous");
    if role.is_empty() {
        w.error(&child(path, "role"), "expected a non-empty role name");
    }
    let authid = w.opt_str(map, path, "authid").map(str::to_string);
    Some(Authenticator::Static(AnonymousAuth {
        role: role.to_string(),
        authid,
    }))
}

/// Static `ticket`: `principals{authid: {ticket, role, realm?}}`.
fn walk_ticket(w: &mut Walker, map: &Map<String, Value>, path: &str) -> Option<TicketPrincipals> {
    w.keys(map, path, &["type", "principals"]);
    principals(w, map, path, "principals", |w, p, ppath| {
        w.keys(p, ppath, &["ticket", "role", "realm"]);
        let ticket = secret(w, p, ppath, "ticket");
        let role = role(w, p, ppath);
        let realm = realm(w, p, ppath);
        Some(TicketPrincipal {
            ticket: ticket?,
            role: role?,
            realm,
        })
    })
    .map(TicketPrincipals)
}

/// Static `wampcra`: `users{authid: {secret, role, salt?, iterations?, keylen?, realm?}}`.
fn walk_wampcra(w: &mut Walker, map: &Map<String, Value>, path: &str) -> Option<WampCraUsers> {
    w.keys(map, path, &["type", "users"]);
    principals(w, map, path, "users", |w, u, upath| {
        w.keys(
            u,
            upath,
            &["secret", "role", "salt", "iterations", "keylen", "realm"],
        );
        let secret = secret(w, u, upath, "secret");
        let role = role(w, u, upath);
        let realm = realm(w, u, upath);
        let salt = w.opt_str(u, upath, "salt").map(str::to_string);
        let iterations = w
            .opt_int(u, upath, "iterations", 1, wampcra::MAX_ITERATIONS)
            .map(|n| n as u32);
        let keylen = w
            .opt_int(u, upath, "keylen", 1, wampcra::MAX_KEYLEN)
            .map(|n| n as u32);
        if salt.is_none() && (iterations.is_some() || keylen.is_some()) {
            let key = if iterations.is_some() {
                "iterations"
            } else {
                "keylen"
            };
            w.warn(
                upath,
                format!("{key} has no effect without salt (the secret is used as the key)"),
            );
        }
        let secret = secret?;
        let hmac_key = wampcra::hmac_key(&secret, salt.as_deref(), iterations, keylen);
        Some(WampCraUser {
            secret,
            role: role?,
            salt,
            iterations,
            keylen,
            realm,
            hmac_key,
        })
    })
    .map(WampCraUsers)
}

/// Static `cryptosign`: `principals{authid: {authorized_keys: [hex], role, realm?}}`.
/// `trustroots` (EIP-712 certificate chains) is refused by name.
fn walk_cryptosign(
    w: &mut Walker,
    map: &Map<String, Value>,
    path: &str,
) -> Option<CryptosignPrincipals> {
    w.keys(map, path, &["type", "principals", "trustroots"]);
    if map.contains_key("trustroots") {
        w.unsupported(
            &child(path, "trustroots"),
            "cryptosign trust roots ('trustroots', EIP-712 certificate chains)",
        );
        if !map.contains_key("principals") {
            return None;
        }
    }
    principals(w, map, path, "principals", |w, p, ppath| {
        w.keys(p, ppath, &["authorized_keys", "role", "realm"]);
        let keys = authorized_keys(w, p, ppath);
        let role = role(w, p, ppath);
        let realm = realm(w, p, ppath);
        Some(CryptosignPrincipal {
            authorized_keys: keys?,
            role: role?,
            realm,
        })
    })
    .map(CryptosignPrincipals)
}

/// `authorized_keys`: Ed25519 public keys, 64 hex digits each.
fn authorized_keys(w: &mut Walker, map: &Map<String, Value>, path: &str) -> Option<Vec<[u8; 32]>> {
    let kpath = child(path, "authorized_keys");
    let Some(v) = map.get("authorized_keys") else {
        w.error(
            &kpath,
            "missing (a list of Ed25519 public keys in hex is required)",
        );
        return None;
    };
    let list = w.list(v, &kpath)?;
    if list.is_empty() {
        w.warn(&kpath, "no keys: this principal cannot authenticate");
    }
    let mut out = Vec::with_capacity(list.len());
    let mut ok = true;
    for (i, k) in list.iter().enumerate() {
        let ipath = item(&kpath, i);
        match k.as_str().map(crate::credentials::parse_ed25519_public_key) {
            Some(Some(key)) => out.push(key),
            Some(None) => {
                w.error(&ipath, "expected an Ed25519 public key (64 hex digits)");
                ok = false;
            }
            None => {
                w.expected(&ipath, "an Ed25519 public key (64 hex digits)", k);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// Static `tls`: `principals{authid: {certificate-sha1, role, realm?}}`.
fn walk_tls_principals(
    w: &mut Walker,
    map: &Map<String, Value>,
    path: &str,
) -> Option<TlsPrincipals> {
    w.keys(map, path, &["type", "principals"]);
    principals(w, map, path, "principals", |w, p, ppath| {
        w.keys(p, ppath, &["certificate-sha1", "role", "realm"]);
        let sha1 = w.req_str(p, ppath, "certificate-sha1").and_then(|s| {
            let n = crate::credentials::normalize_sha1(s);
            if n.is_none() {
                w.error(
                    &child(ppath, "certificate-sha1"),
                    format!(
                        "expected a SHA-1 fingerprint (40 hex digits, colons allowed), found {s:?}"
                    ),
                );
            }
            n
        });
        let role = role(w, p, ppath);
        let realm = realm(w, p, ppath);
        Some(TlsPrincipal {
            certificate_sha1: sha1?,
            role: role?,
            realm,
        })
    })
    .map(TlsPrincipals)
}
