//! Opening a wamp_async session (connect, spawn its event loop and RPC queue, join with the
//! chosen authentication) and closing it.

use std::num::NonZeroU64;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use futures::FutureExt;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::mpsc;
use wamp_async::{
    Arg, AuthenticationChallengeResponse, AuthenticationMethod, Client, ClientConfig, ClientState,
    SerializerType, WampDict, WampError, WampId,
};

use crate::wire;

/// How to reach the router and who to be.
#[derive(Clone, Debug)]
pub struct Target {
    pub url: String,
    pub realm: String,
    pub serializer: SerializerType,
    /// anonymous | ticket | wampcra
    pub auth: String,
    pub authid: String,
    pub secret: String,
}

/// A joined session.
pub struct Session {
    pub client: Client<'static>,
    pub id: u64,
    /// The serializer wamp_async negotiated ("Json" or "MsgPack").
    pub serializer: Option<String>,
    /// One item per invocation answered (YIELD or ERROR handed to the event loop).
    pub answered: mpsc::UnboundedReceiver<()>,
    /// The status once the connection has ended (see [`status`]).
    ended: Option<Value>,
}

pub fn id_u64(id: WampId) -> u64 {
    NonZeroU64::from(id).get()
}

fn arg_str(a: Option<&Arg>) -> Option<&str> {
    match a {
        Some(Arg::Uri(s)) | Some(Arg::String(s)) => Some(s),
        _ => None,
    }
}

fn arg_u64(a: Option<&Arg>) -> Option<u64> {
    match a {
        Some(Arg::Id(id)) => Some(id_u64(*id)),
        Some(Arg::Integer(i)) => Some(*i as u64),
        _ => None,
    }
}

/// The WAMP-CRA signature of a CHALLENGE's `extra`, as Autobahn computes it: the key is the
/// secret, or for a salted user the base64 of PBKDF2-HMAC-SHA256(secret, salt, iterations,
/// keylen); the signature is base64(HMAC-SHA256(key, challenge)).
pub fn wampcra_signature(secret: &str, extra: &WampDict) -> Result<String, WampError> {
    let challenge = arg_str(extra.get("challenge"))
        .ok_or_else(|| WampError::UnknownError("CHALLENGE without a challenge string".into()))?;
    let key: Vec<u8> = match arg_str(extra.get("salt")) {
        Some(salt) => {
            let iterations = arg_u64(extra.get("iterations")).unwrap_or(1000) as u32;
            let keylen = arg_u64(extra.get("keylen")).unwrap_or(32) as usize;
            let mut derived = vec![0u8; keylen];
            pbkdf2::pbkdf2_hmac::<Sha256>(
                secret.as_bytes(),
                salt.as_bytes(),
                iterations,
                &mut derived,
            );
            B64.encode(derived).into_bytes()
        }
        None => secret.as_bytes().to_vec(),
    };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
        .map_err(|e| WampError::UnknownError(format!("HMAC key: {e}")))?;
    mac.update(challenge.as_bytes());
    Ok(B64.encode(mac.finalize().into_bytes()))
}

/// Connects and joins. On failure returns the error as printed (`error`, `message`) and the
/// stage (`connect` or `join`).
pub async fn open(t: &Target) -> Result<Session, Value> {
    let config = ClientConfig::default().set_serializers(vec![t.serializer]);
    let (mut client, (event_loop, rpc_queue)) = Client::connect(&t.url, Some(config))
        .await
        .map_err(|e| stage("connect", &e))?;
    tokio::spawn(event_loop);
    // Each invocation reaches us as a future that runs the endpoint and hands its YIELD (or
    // ERROR) to the event loop; `answered` counts the ones that did.
    let (answered_tx, answered) = mpsc::unbounded_channel();
    if let Some(mut queue) = rpc_queue {
        tokio::spawn(async move {
            while let Some(invocation) = queue.recv().await {
                let tx = answered_tx.clone();
                tokio::spawn(async move {
                    if invocation.await.is_ok() {
                        let _ = tx.send(());
                    }
                });
            }
        });
    }
    let joined = match t.auth.as_str() {
        "anonymous" => client.join_realm(t.realm.clone()).await,
        "ticket" => {
            let ticket = t.secret.clone();
            client
                .join_realm_with_authentication(
                    t.realm.clone(),
                    vec![AuthenticationMethod::Ticket],
                    t.authid.clone(),
                    move |_method, _extra| {
                        let ticket = ticket.clone();
                        async move { Ok(AuthenticationChallengeResponse::with_signature(ticket)) }
                    },
                )
                .await
        }
        "wampcra" => {
            let secret = t.secret.clone();
            client
                .join_realm_with_authentication(
                    t.realm.clone(),
                    vec![AuthenticationMethod::WampCra],
                    t.authid.clone(),
                    move |_method, extra| {
                        let signature = wampcra_signature(&secret, &extra);
                        async move { signature.map(AuthenticationChallengeResponse::with_signature) }
                    },
                )
                .await
        }
        other => {
            return Err(
                json!({"stage": "join", "error": null, "message": format!("unknown auth {other}")}),
            )
        }
    };
    joined.map_err(|e| stage("join", &e))?;
    Ok(Session {
        client,
        id: wire::last_session(),
        serializer: wire::last_serializer(),
        answered,
        ended: None,
    })
}

fn stage(stage: &str, e: &WampError) -> Value {
    let mut v = crate::out::error_json(e);
    v["stage"] = json!(stage);
    v
}

/// What the client knows of its connection: `running`, or `disconnected` with the error that
/// ended it (`null` for a clean end).
///
/// wamp_async's `get_cur_status()` (and so `is_connected()`, `leave_realm()`, `disconnect()`)
/// panics with "The event loop died without sending a new status" once the event loop has
/// ended and its last status was read, or when the loop ended without sending one (a
/// connection lost after GOODBYE). So the first `disconnected` seen is kept and the library
/// is not asked again, and a panic in there is caught and reported as such.
pub fn status(s: &mut Session) -> Value {
    if let Some(v) = &s.ended {
        return v.clone();
    }
    let client = &mut s.client;
    let v = match std::panic::catch_unwind(AssertUnwindSafe(|| state_json(client.get_cur_status())))
    {
        Ok(v) => v,
        Err(_) => {
            json!({"state": "disconnected", "error": "wamp_async panicked reading its status"})
        }
    };
    if v["state"] == "disconnected" {
        s.ended = Some(v.clone());
    }
    v
}

fn state_json(st: &ClientState) -> Value {
    match st {
        ClientState::NoEventLoop => json!({"state": "no-event-loop"}),
        ClientState::Running => json!({"state": "running"}),
        ClientState::Disconnected(Ok(())) => json!({"state": "disconnected", "error": null}),
        ClientState::Disconnected(Err(e)) => {
            json!({"state": "disconnected", "error": e.to_string()})
        }
    }
}

/// Waits until the connection ends (the router closed the session); returns the status.
pub async fn until_disconnected(s: &mut Session) -> Value {
    if let Some(v) = &s.ended {
        return v.clone();
    }
    let client = &mut s.client;
    let v = match AssertUnwindSafe(async { state_json(client.block_until_disconnect().await) })
        .catch_unwind()
        .await
    {
        Ok(v) => v,
        Err(_) => {
            json!({"state": "disconnected", "error": "wamp_async panicked reading its status"})
        }
    };
    s.ended = Some(v.clone());
    v
}

/// Leaves the realm (GOODBYE), waits up to `wait` for the router's GOODBYE, then closes the
/// connection. Returns the router's GOODBYE reason (`null` if none came).
pub async fn leave(mut s: Session, wait: Duration) -> Value {
    let before = status(&mut s);
    if before["state"] != "running" {
        return json!({"leave": "not connected", "goodbye": null, "status": before});
    }
    let mark = wire::mark();
    if let Err(e) = s.client.leave_realm().await {
        return json!({"leave": e.to_string(), "goodbye": null});
    }
    let reply = wire::wait_for(6, mark, wait).await;
    let closed =
        tokio::time::timeout(wait, AssertUnwindSafe(s.client.disconnect()).catch_unwind()).await;
    json!({
        "leave": null,
        "goodbye": reply.and_then(|w| w.reason()),
        "closed": matches!(closed, Ok(Ok(()))),
    })
}
