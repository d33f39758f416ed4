//! WAMP-CRA as Autobahn|Python computes it (`autobahn/wamp/auth.py`): the signature is
//! `base64(HMAC-SHA256(key, challenge))`, where `key` is the secret itself, or for a salted
//! secret the Base64 text of `PBKDF2-HMAC-SHA256(secret, salt, iterations, keylen)` (Autobahn's
//! `derive_key` returns the Base64 encoding and `on_challenge` signs with those ASCII bytes).
//! The challenge is the JSON text Crossbar builds in `router/auth/wampcra.py`.

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::wamp::{Dict, Value};

/// PBKDF2 iterations when a salted user gives none (Crossbar's and Autobahn's default).
pub const DEFAULT_ITERATIONS: u32 = 1000;
/// Derived key length in bytes when a salted user gives none (Crossbar's and Autobahn's
/// default).
pub const DEFAULT_KEYLEN: u32 = 32;

/// The largest `iterations` accepted for a salted secret (config or dynamic authenticator):
/// the key is derived once at startup for static users, but this many already takes seconds.
pub const MAX_ITERATIONS: u64 = 10_000_000;
/// The largest `keylen` accepted for a salted secret.
pub const MAX_KEYLEN: u64 = 1024;

/// Autobahn's `derive_key(secret, salt, iterations, keylen)`: the Base64 text of
/// `PBKDF2-HMAC-SHA256(secret, salt, iterations, keylen)`, both strings taken as UTF-8.
pub fn derive_key(secret: &str, salt: &str, iterations: u32, keylen: u32) -> String {
    let mut key = vec![0u8; keylen as usize];
    pbkdf2::pbkdf2_hmac::<Sha256>(secret.as_bytes(), salt.as_bytes(), iterations, &mut key);
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// The HMAC key for a user: the secret, or with a salt its derived key (`iterations` and
/// `keylen` default to 1000 and 32).
pub fn hmac_key(
    secret: &str,
    salt: Option<&str>,
    iterations: Option<u32>,
    keylen: Option<u32>,
) -> String {
    match salt {
        Some(salt) => derive_key(
            secret,
            salt,
            iterations.unwrap_or(DEFAULT_ITERATIONS),
            keylen.unwrap_or(DEFAULT_KEYLEN),
        ),
        None => secret.to_owned(),
    }
}

/// Autobahn's `compute_wcs(key, challenge)`: `base64(HMAC-SHA256(key, challenge))`.
pub fn compute_signature(key: &str, challenge: &str) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(challenge.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// What the challenge JSON holds.
pub(crate) struct ChallengeFields<'a> {
    pub authid: &'a str,
    pub authrole: &'a str,
    pub authprovider: &'a str,
    pub session: u64,
    pub nonce: &'a str,
    pub timestamp: &'a str,
}

/// The challenge text, as Crossbar's `json.dumps(challenge_obj, ensure_ascii=False)` writes
/// it: keys in this order, `", "` and `": "` separators, non-ASCII characters unescaped.
pub(crate) fn challenge_json(f: &ChallengeFields<'_>) -> String {
    let s = |v: &str| serde_json::to_string(v).unwrap_or_else(|_| "\"\"".to_owned());
    format!(
        "{{\"authid\": {}, \"authrole\": {}, \"authmethod\": \"wampcra\", \"authprovider\": {}, \
         \"session\": {}, \"nonce\": {}, \"timestamp\": {}}}",
        s(f.authid),
        s(f.authrole),
        s(f.authprovider),
        f.session,
        s(f.nonce),
        s(f.timestamp)
    )
}

/// CHALLENGE.extra for a challenge text and the user's salt settings.
pub(crate) fn challenge_extra(
    challenge: &str,
    salt: Option<&str>,
    iterations: Option<u32>,
    keylen: Option<u32>,
) -> Dict {
    let mut extra = Dict::new().with("challenge", challenge);
    if let Some(salt) = salt {
        extra.insert("salt", salt);
        let iterations = iterations.unwrap_or(DEFAULT_ITERATIONS);
        let keylen = keylen.unwrap_or(DEFAULT_KEYLEN);
        extra.insert("iterations", Value::from(u64::from(iterations)));
        extra.insert("keylen", Value::from(u64::from(keylen)));
    }
    extra
}

/// Autobahn's `newid(64)`: 64 characters of standard Base64 over random bytes.
pub(crate) fn nonce(random: &[u8; 48]) -> String {
    base64::engine::general_purpose::STANDARD.encode(random)
}
