//! The methods that answer a HELLO with a CHALLENGE: ticket, WAMP-CRA and cryptosign, static
//! (principals in the config, with decoy challenges for unknown ones) or dynamic.

use super::*;

pub(super) fn ticket(a: &Authenticator<TicketPrincipals>, info: &HelloInfo<'_>) -> Step {
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

pub(super) fn wampcra_hello(
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
pub(super) fn wampcra_challenge(
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

pub(super) fn cryptosign_hello(
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
