//! Credential formats, read the way Crossbar and Autobahn write them: WAMP-CRA key derivation,
//! Ed25519 public keys and other hex, SHA-1 certificate fingerprints. Pure functions below both
//! the configuration (which checks and prepares credentials at load) and authentication (which
//! uses them per HELLO), so neither has to import the other.

use base64::Engine as _;
use ed25519_dalek::VerifyingKey;
use sha2::Sha256;

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

/// Lower-case hex.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// Bytes from hex (either case); `None` for an odd length or a non-hex digit.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.chunks_exact(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// Exactly 32 bytes from 64 hex digits.
pub fn hex32(s: &str) -> Option<[u8; 32]> {
    from_hex(s)?.try_into().ok()
}

/// An Ed25519 public key from 64 hex digits, checked to be a valid curve point.
pub fn parse_ed25519_public_key(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex32(hex)?;
    VerifyingKey::from_bytes(&bytes).ok()?;
    Some(bytes)
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
