//! SIGHUP reload over the real binary: `ferrobar reload --cbdir` makes a running node take new
//! realms, roles and permissions without dropping a session; a bad file or a change that needs
//! a restart keeps the running configuration.

mod common;

use std::process::Command;

use common::*;
use ferrobar::wamp::{Dict, Message, Value};
use serde_json::json;

fn role(name: &str, allow: serde_json::Value) -> serde_json::Value {
    json!({
        "name": name,
        "permissions": [{"uri": "com.", "match": "prefix", "allow": allow}]
    })
}

fn node(port: u16, realms: serde_json::Value) -> serde_json::Value {
    json!({
        "version": 2,
        "workers": [{
            "type": "router",
            "realms": realms,
            "transports": [{
                "type": "web",
                "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
                "paths": {"ws": {"type": "websocket"}}
            }]
        }]
    })
}

fn everything() -> serde_json::Value {
    json!({"call": true, "register": true, "publish": true, "subscribe": true})
}

fn subscribe_only() -> serde_json::Value {
    json!({"call": false, "register": false, "publish": false, "subscribe": true})
}

fn reload(router: &Router) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrobar"))
        .arg("reload")
        .arg("--cbdir")
        .arg(router.cbdir())
        .output()
        .expect("run ferrobar reload");
    assert!(
        out.status.success(),
        "ferrobar reload failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn publish_outcome(client: &mut WampClient, topic: &str) -> Message {
    let request = client.publish_nowait(
        topic,
        Dict::new().with("acknowledge", true),
        args(vec![Value::from(1u64)]),
    );
    client.wait_for("PUBLISHED or ERROR", |m| reply_to(m, request, 16))
}

#[test]
fn reload_changes_permissions_and_realms_without_dropping_a_session() {
    let realms = json!([{"name": "realm1", "roles": [role("anonymous", everything())]}]);
    let router = Router::start_with(|port| node(port, realms.clone()), 2);
    let mut subscriber = WampClient::joined(router.port, JSON);
    subscriber.subscribe("com.iot.temp");
    let mut publisher = WampClient::joined(router.port, MSGPACK);
    publisher.publish_acked("com.iot.temp", Dict::new(), args(vec![Value::from(1u64)]));
    subscriber.expect_event();

    let narrowed = json!([
        {"name": "realm1", "roles": [role("anonymous", subscribe_only())]},
        {"name": "realm2", "roles": [role("anonymous", everything())]}
    ]);
    router.write_config(&node(router.port, narrowed));
    reload(&router);
    router.wait_for_log("configuration reloaded", 1);

    // The same sessions, still open: publishing is refused now, subscribing still works.
    match publish_outcome(&mut publisher, "com.iot.temp") {
        Message::Error { error, .. } => assert_eq!(error, "wamp.error.not_authorized"),
        other => panic!("expected ERROR not_authorized, got {other:?}"),
    }
    subscriber.expect_nothing("a refused publication");
    subscriber.subscribe("com.iot.pressure");
    // The new realm takes sessions.
    let mut fresh = WampClient::connect(router.port, JSON);
    fresh.hello("realm2");
    fresh.publish_acked("com.x", Dict::new(), args(vec![]));
}

#[test]
fn a_bad_file_or_a_transport_change_keeps_the_running_configuration() {
    let realms = json!([{"name": "realm1", "roles": [role("anonymous", everything())]}]);
    let router = Router::start_with(|port| node(port, realms.clone()), 2);
    let mut client = WampClient::joined(router.port, JSON);

    std::fs::write(
        router.cbdir().join("config.json"),
        "{\"version\": 2, \"workers\": [",
    )
    .expect("write a broken config");
    reload(&router);
    router.wait_for_log("reload refused", 1);

    let mut moved = node(router.port, realms.clone());
    moved["workers"][0]["transports"][0]["endpoint"]["port"] = json!(free_port());
    moved["workers"][0]["realms"][0]["roles"][0] = role("anonymous", subscribe_only());
    router.write_config(&moved);
    reload(&router);
    router.wait_for_log("reload refused", 2);
    assert!(
        router
            .stderr()
            .contains("workers[0].transports changed, which needs a restart"),
        "the refusal names what needs a restart:\n{}",
        router.stderr()
    );
    // Neither reload took effect: publishing is still allowed.
    assert!(matches!(
        publish_outcome(&mut client, "com.x"),
        Message::Published { .. }
    ));
}

#[test]
fn a_removed_realm_closes_its_sessions_with_goodbye() {
    let realms = json!([
        {"name": "realm1", "roles": [role("anonymous", everything())]},
        {"name": "old", "roles": [role("anonymous", everything())]}
    ]);
    let router = Router::start_with(|port| node(port, realms.clone()), 2);
    let mut leaving = WampClient::connect(router.port, JSON);
    leaving.hello("old");
    let mut staying = WampClient::joined(router.port, JSON);
    router.write_config(&node(
        router.port,
        json!([{"name": "realm1", "roles": [role("anonymous", everything())]}]),
    ));
    reload(&router);
    match leaving.expect_msg("GOODBYE") {
        Message::Goodbye { reason, .. } => assert_eq!(reason, "wamp.close.close_realm"),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    router.wait_for_log("configuration reloaded", 1);
    staying.publish_acked("com.x", Dict::new(), args(vec![]));
}
