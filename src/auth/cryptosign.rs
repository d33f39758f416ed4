//! WAMP-cryptosign (Ed25519) as Autobahn|Python does it (`autobahn/wamp/cryptosign.py`): the
//! router sends 32 random bytes in hex; the client signs them (XORed with the 32-byte TLS
//! channel id when it asked for `tls-unique` channel binding) and answers with the hex of the
//! 64-byte signature followed by the 32 signed bytes (96 bytes). For mutual authentication the
//! router signs the client's own challenge the same way with the node key.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::AuthError;
pub(crate) use crate::credentials::{from_hex, hex32, to_hex};

/// The private key the router signs with (Crossbar's node key, `key.priv`).
pub struct NodeKey(SigningKey);

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeKey(public {})", self.public_hex())
    }
}

impl NodeKey {
    /// A new random key.
    pub fn generate(rng: &mut impl rand::CryptoRng) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        NodeKey(SigningKey::from_bytes(&seed))
    }

    /// A key from its 32-byte seed in hex (what `ferrobar keygen` prints as `private`, and what
    /// Autobahn's `CryptosignKey.from_bytes` takes).
    pub fn from_hex(private_hex: &str) -> Result<Self, AuthError> {
        let seed = hex32(private_hex.trim()).ok_or(AuthError::InvalidPrivateKey)?;
        Ok(NodeKey(SigningKey::from_bytes(&seed)))
    }

    /// A key from a Crossbar/Autobahn key file (`key.priv`): the `private-key-ed25519: <hex>`
    /// line (tags are matched case-insensitively, as Autobahn's `parse_keyfile` does).
    pub fn from_keyfile(text: &str) -> Result<Self, AuthError> {
        let value = text
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(tag, _)| tag.trim().eq_ignore_ascii_case("private-key-ed25519"))
            .map(|(_, v)| v.trim())
            .ok_or(AuthError::NoPrivateKeyInFile)?;
        Self::from_hex(value)
    }

    /// The 32-byte seed in hex.
    pub fn private_hex(&self) -> String {
        to_hex(&self.0.to_bytes())
    }

    /// The public key in hex (what a cryptosign principal lists in `authorized_keys`).
    pub fn public_hex(&self) -> String {
        to_hex(self.0.verifying_key().as_bytes())
    }

    /// The Ed25519 signature of `data`.
    pub fn sign(&self, data: &[u8]) -> [u8; 64] {
        self.0.sign(data).to_bytes()
    }
}

/// `ferrobar keygen`: a new Ed25519 key pair as `(private seed hex, public key hex)`.
pub fn keygen(rng: &mut impl rand::CryptoRng) -> (String, String) {
    let key = NodeKey::generate(rng);
    (key.private_hex(), key.public_hex())
}

/// The router's answer to a client challenge (mutual authentication), as Crossbar puts it in
/// CHALLENGE.extra: `(pubkey, signature)` where `pubkey` is the node's public key in hex and
/// `signature` the hex of the 64-byte signature followed by `data` (96 bytes for a 32-byte
/// challenge). `data` is the client's challenge, XORed with the TLS channel id when channel
/// binding is on ([`super::hello`] does that).
pub fn node_signature(node_key: &NodeKey, data: &[u8]) -> (String, String) {
    let mut signature = to_hex(&node_key.sign(data));
    signature.push_str(&to_hex(data));
    (node_key.public_hex(), signature)
}

/// An Ed25519 public key from 64 hex digits, checked to be a valid curve point.
pub fn parse_public_key(hex: &str) -> Result<[u8; 32], AuthError> {
    crate::credentials::parse_ed25519_public_key(hex).ok_or(AuthError::InvalidPublicKey)
}

/// The verifying key for 32 bytes already checked by [`parse_public_key`].
pub(crate) fn verifying_key(bytes: &[u8; 32]) -> Option<VerifyingKey> {
    VerifyingKey::from_bytes(bytes).ok()
}

/// Checks a client's AUTHENTICATE signature: 96 bytes in hex, `signature || message`, where
/// `message` must equal `expected` and `signature` must verify under one of `keys`.
pub(crate) fn verify(signed_hex: &str, expected: &[u8; 32], keys: &[VerifyingKey]) -> bool {
    let Some(signed) = from_hex(signed_hex) else {
        return false;
    };
    let Ok(signed) = <[u8; 96]>::try_from(signed.as_slice()) else {
        return false;
    };
    let (sig, message) = signed.split_at(64);
    if !super::ct_eq(message, expected) {
        return false;
    }
    let Ok(sig) = <[u8; 64]>::try_from(sig) else {
        return false;
    };
    let sig = Signature::from_bytes(&sig);
    // Strict verification, as libsodium (PyNaCl, which Crossbar uses) does: rejects
    // small-order keys and non-canonical signatures.
    keys.iter().any(|k| k.verify_strict(expected, &sig).is_ok())
}
