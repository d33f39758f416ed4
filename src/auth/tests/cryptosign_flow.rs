//! Cryptosign through the authentication flow (Autobahn's vectors), and the key helpers.

use super::*;

// ----- cryptosign -----

#[test]
fn cryptosign_by_pubkey_with_autobahns_signature_welcomes() {
    let cfg = config(vec![cryptosign_config(None)]);
    let extra = pubkey_extra(CLIENT_PUBKEY);
    let (method, challenge_extra, pending) =
        challenge(run(&cfg, &info(&["cryptosign"], None, &extra)));
    assert_eq!(method, "cryptosign");
    // As Crossbar sends it: channel_binding null when not asked for.
    assert_eq!(
        challenge_extra,
        Dict::new()
            .with("challenge", CHALLENGE)
            .with("channel_binding", Value::Null)
    );
    let id = welcome(authenticate(pending, SIGNED, &Dict::new()));
    assert_eq!(
        id,
        Identity {
            authid: "device1".into(),
            authrole: "device".into(),
            authmethod: "cryptosign",
            authprovider: "static",
            authextra: Dict::new(),
            realm: None,
        }
    );
}

#[test]
fn cryptosign_by_authid_alone_accepts_any_authorized_key() {
    let cfg = config(vec![cryptosign_config(None)]);
    let (_, _, pending) = challenge(run(
        &cfg,
        &info(&["cryptosign"], Some("device1"), &NO_EXTRA),
    ));
    assert_eq!(
        welcome(authenticate(pending, SIGNED, &Dict::new())).authid,
        "device1"
    );
    // Upper-case hex is hex too.
    let (_, _, pending) = challenge(run(
        &cfg,
        &info(&["cryptosign"], Some("device1"), &NO_EXTRA),
    ));
    welcome(authenticate(pending, &SIGNED.to_uppercase(), &Dict::new()));
    // "node" does not have the client's key.
    let (_, _, pending) = challenge(run(&cfg, &info(&["cryptosign"], Some("node"), &NO_EXTRA)));
    assert_failed(
        authenticate(pending, SIGNED, &Dict::new()),
        Failure::WrongCryptosignSignature,
    );
}

#[test]
fn cryptosign_replayed_signature_of_another_challenge_fails() {
    let cfg = config(vec![cryptosign_config(None)]);
    let extra = pubkey_extra(CLIENT_PUBKEY);
    // SIGNED_OTHER is a valid signature by the right key, of another session's challenge.
    let (_, _, pending) = challenge(run(&cfg, &info(&["cryptosign"], None, &extra)));
    assert_failed(
        authenticate(pending, SIGNED_OTHER, &Dict::new()),
        Failure::WrongCryptosignSignature,
    );
    // And this session's signature does not open the next session (a new challenge).
    let mut rng = ScriptRng::new((0..32).rev().collect());
    let (_, _, pending) = challenge(hello(&cfg, &info(&["cryptosign"], None, &extra), &mut rng));
    assert_failed(
        authenticate(pending, SIGNED, &Dict::new()),
        Failure::WrongCryptosignSignature,
    );
}

#[test]
fn cryptosign_tampered_or_malformed_signatures_fail() {
    let cfg = config(vec![cryptosign_config(None)]);
    let extra = pubkey_extra(CLIENT_PUBKEY);
    let mut flipped = SIGNED.as_bytes().to_vec();
    flipped[10] = if flipped[10] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    let sig_only = &SIGNED[..128];
    let bad = [
        flipped.as_str(),
        sig_only,
        &SIGNED[..190],
        "zz",
        "",
        &format!("{SIGNED}00"),
    ];
    for answer in bad {
        let (_, _, pending) = challenge(run(&cfg, &info(&["cryptosign"], None, &extra)));
        assert_failed(
            authenticate(pending, answer, &Dict::new()),
            Failure::WrongCryptosignSignature,
        );
    }
}

#[test]
fn cryptosign_tls_unique_channel_binding_signs_the_xor() {
    let cfg = config(vec![cryptosign_config(None)]);
    let extra = pubkey_extra(CLIENT_PUBKEY).with("channel_binding", "tls-unique");
    let mut i = info(&["cryptosign"], None, &extra);
    i.channel_binding = Some(&CHANNEL_ID);
    let (_, challenge_extra, pending) = challenge(run(&cfg, &i));
    assert_eq!(challenge_extra.get_str("challenge"), Some(CHALLENGE));
    assert_eq!(
        challenge_extra.get_str("channel_binding"),
        Some("tls-unique")
    );
    welcome(authenticate(pending, SIGNED_TLS_UNIQUE, &Dict::new()));
    // The unbound signature does not pass on a bound channel, and the reverse.
    let (_, _, pending) = challenge(run(&cfg, &i));
    assert_failed(
        authenticate(pending, SIGNED, &Dict::new()),
        Failure::WrongCryptosignSignature,
    );
    let plain = pubkey_extra(CLIENT_PUBKEY);
    let mut i = info(&["cryptosign"], None, &plain);
    i.channel_binding = Some(&CHANNEL_ID);
    let (_, e, pending) = challenge(run(&cfg, &i));
    assert_eq!(e.get("channel_binding"), Some(&Value::Null));
    assert_failed(
        authenticate(pending, SIGNED_TLS_UNIQUE, &Dict::new()),
        Failure::WrongCryptosignSignature,
    );
}

#[test]
fn cryptosign_channel_binding_without_tls_or_of_another_type_is_refused() {
    let cfg = config(vec![cryptosign_config(None)]);
    let extra = pubkey_extra(CLIENT_PUBKEY).with("channel_binding", "tls-unique");
    let (reason, message, cause) = aborted(run(&cfg, &info(&["cryptosign"], None, &extra)));
    assert_eq!(reason, NOT_AUTHORIZED);
    assert_eq!(message, "tls-unique channel binding needs a TLS connection");
    assert_eq!(cause, Failure::ChannelBindingWithoutTls);
    let extra = pubkey_extra(CLIENT_PUBKEY).with("channel_binding", "tls-exporter");
    let mut i = info(&["cryptosign"], None, &extra);
    i.channel_binding = Some(&CHANNEL_ID);
    let (_, _, cause) = aborted(run(&cfg, &i));
    assert_eq!(
        cause,
        Failure::UnsupportedChannelBinding("tls-exporter".into())
    );
}

#[test]
fn cryptosign_mutual_authentication_signs_the_client_challenge_with_the_node_key() {
    let cfg = config(vec![cryptosign_config(None)]);
    let node = NodeKey::from_hex(NODE_SEED).unwrap();
    let extra = pubkey_extra(CLIENT_PUBKEY).with("challenge", CLIENT_CHALLENGE);
    let mut i = info(&["cryptosign"], None, &extra);
    i.node_key = Some(&node);
    let (_, challenge_extra, pending) = challenge(run(&cfg, &i));
    // Byte for byte what Crossbar's crossbar.sign gives (Ed25519 is deterministic).
    assert_eq!(challenge_extra.get_str("pubkey"), Some(NODE_PUBKEY));
    assert_eq!(challenge_extra.get_str("signature"), Some(NODE_SIGNATURE));
    welcome(authenticate(pending, SIGNED, &Dict::new()));
    // The same from the public helper.
    let data = cryptosign::from_hex(CLIENT_CHALLENGE).unwrap();
    assert_eq!(
        node_signature(&node, &data),
        (NODE_PUBKEY.to_owned(), NODE_SIGNATURE.to_owned())
    );
    // Without a node key there is nothing to sign with.
    let (_, e, _) = challenge(run(&cfg, &info(&["cryptosign"], None, &extra)));
    assert!(e.get("signature").is_none());
    // A malformed client challenge.
    let bad = pubkey_extra(CLIENT_PUBKEY).with("challenge", "xyz");
    let (_, _, cause) = aborted(run(&cfg, &info(&["cryptosign"], None, &bad)));
    assert_eq!(cause, Failure::MalformedAuthextra("challenge"));
}

#[test]
fn cryptosign_mutual_authentication_with_channel_binding_signs_the_xor() {
    let cfg = config(vec![cryptosign_config(None)]);
    let node = NodeKey::from_hex(NODE_SEED).unwrap();
    let extra = pubkey_extra(CLIENT_PUBKEY)
        .with("challenge", CLIENT_CHALLENGE)
        .with("channel_binding", "tls-unique");
    let mut i = info(&["cryptosign"], None, &extra);
    i.node_key = Some(&node);
    i.channel_binding = Some(&CHANNEL_ID);
    let (_, e, _) = challenge(run(&cfg, &i));
    let client = cryptosign::from_hex(CLIENT_CHALLENGE).unwrap();
    let data: Vec<u8> = client.iter().zip(CHANNEL_ID).map(|(a, b)| a ^ b).collect();
    let signature = e.get_str("signature").unwrap();
    assert_eq!(signature.len(), 192);
    assert_eq!(&signature[128..], cryptosign::to_hex(&data));
    assert_eq!(signature, node_signature(&node, &data).1);
}

#[test]
fn cryptosign_identity_failures_get_decoys() {
    let cfg = config(vec![cryptosign_config(Some("realm2"))]);
    let node_pub = NodeKey::from_hex(NODE_SEED).unwrap().public_hex();
    let unknown = NodeKey::from_hex(&"07".repeat(32)).unwrap().public_hex();
    let cases: Vec<(Option<&str>, Dict, Failure)> = vec![
        // device1 is restricted to realm2.
        (None, pubkey_extra(CLIENT_PUBKEY), Failure::RealmNotAllowed),
        (
            Some("mallory"),
            pubkey_extra(CLIENT_PUBKEY),
            Failure::UnknownPrincipal,
        ),
        (None, pubkey_extra(&unknown), Failure::UnknownPublicKey),
        // The node key belongs to device1 and node.
        (None, pubkey_extra(&node_pub), Failure::AmbiguousPublicKey),
        (None, Dict::new(), Failure::NoAuthid),
        (
            Some("node"),
            pubkey_extra(CLIENT_PUBKEY),
            Failure::KeyNotAuthorized,
        ),
    ];
    for (authid, extra, cause) in cases {
        let (method, e, pending) = challenge(run(&cfg, &info(&["cryptosign"], authid, &extra)));
        assert_eq!(method, "cryptosign");
        assert_eq!(e.get_str("challenge"), Some(CHALLENGE));
        assert_failed(authenticate(pending, SIGNED, &Dict::new()), cause);
    }
    // A malformed pubkey is refused at once.
    for bad in [Value::from("abcd"), Value::Int(1)] {
        let extra = Dict::new().with("pubkey", bad);
        let (_, _, cause) = aborted(run(&cfg, &info(&["cryptosign"], None, &extra)));
        assert_eq!(cause, Failure::MalformedAuthextra("pubkey"));
    }
}

// ----- keys -----

#[test]
fn node_keys_and_keygen_agree_with_autobahn() {
    let client = NodeKey::from_hex(CLIENT_SEED).unwrap();
    assert_eq!(client.public_hex(), CLIENT_PUBKEY);
    assert_eq!(client.private_hex(), CLIENT_SEED);
    let (private, public) = keygen(&mut ScriptRng::new(vec![]));
    assert_eq!((private.len(), public.len()), (64, 64));
    assert_eq!(NodeKey::from_hex(&private).unwrap().public_hex(), public);
    assert!(cryptosign::parse_public_key(&public).is_ok());
    let other = keygen(&mut ScriptRng::new(vec![9; 32]));
    assert_ne!(other.0, private);
}

#[test]
fn node_key_from_a_crossbar_key_file() {
    let file = format!(
        "Crossbar.io node key\n\ncreator: me@host\ncreated-at: 2026-01-01T00:00:00.000Z\n\
         public-key-ed25519: {NODE_PUBKEY}\nPrivate-Key-Ed25519: {NODE_SEED}\n"
    );
    assert_eq!(
        NodeKey::from_keyfile(&file).unwrap().public_hex(),
        NODE_PUBKEY
    );
    assert_eq!(
        NodeKey::from_keyfile("public-key-ed25519: ab").unwrap_err(),
        AuthError::NoPrivateKeyInFile
    );
    assert_eq!(
        NodeKey::from_hex("abc").unwrap_err(),
        AuthError::InvalidPrivateKey
    );
    assert!(format!("{:?}", NodeKey::from_hex(NODE_SEED).unwrap()).contains(NODE_PUBKEY));
    assert!(!format!("{:?}", NodeKey::from_hex(NODE_SEED).unwrap()).contains(NODE_SEED));
}

#[test]
fn public_keys_must_be_ed25519_points() {
    assert_eq!(
        cryptosign::parse_public_key(CLIENT_PUBKEY).unwrap()[0],
        0x79
    );
    for bad in [
        "",
        "79b5",
        &CLIENT_PUBKEY[..63],
        &format!("{CLIENT_PUBKEY}00"),
        &"g".repeat(64),
    ] {
        assert_eq!(
            cryptosign::parse_public_key(bad),
            Err(AuthError::InvalidPublicKey),
            "{bad}"
        );
    }
    // Not a point on the curve (y = 2 has no x).
    let mut not_a_point = [0u8; 32];
    not_a_point[0] = 2;
    assert_eq!(
        cryptosign::parse_public_key(&cryptosign::to_hex(&not_a_point)),
        Err(AuthError::InvalidPublicKey)
    );
}
