//! WAMP-CRA as Autobahn|Python computes it (`autobahn/wamp/auth.py`): the signature is
//! `base64(HMAC-SHA256(key, challenge))`, where `key` is the secret itself, or for a salted
//! secret the Base64 text of `PBKDF2-HMAC-SHA256(secret, salt, iterations, keylen)` (Autobahn's
//! `derive_key` returns the Base64 encoding and `on_challenge` signs with those ASCII bytes).
//! The challenge is the JSON text Crossbar builds in `router/auth/wampcra.py`.

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::wamp::{Dict, Value};

pub use crate::credentials::{
    derive_key, hmac_key, DEFAULT_ITERATIONS, DEFAULT_KEYLEN, MAX_ITERATIONS, MAX_KEYLEN,
};

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
