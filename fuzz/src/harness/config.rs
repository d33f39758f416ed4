//! Target `config`: the config loader ([`check_str`]) on arbitrary text, with a fixed
//! environment, then the loaded node put to use the way `ferrobar start` does: a router core
//! per worker built from its realms, and each transport asked to answer an HTTP upgrade and a
//! plain GET.
//!
//! Invariants: no panic anywhere on that path; a refused config carries at least one error,
//! each with a non-empty message; the same text checks to the same verdict twice
//! (deterministic).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime};

use ferrobar::auth::FailureTracker;
use ferrobar::config::{check_str, NodeConfig, TransportKind};
use ferrobar::router::{Core, RealmSessionCounts};
use ferrobar::transport::http::{handle_request, HttpContext, NodeInfo};

use super::session::core_config;

fn cbdir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| super::fixture_dir("ferrobar-fuzz-config", &[("web/index.html", "x")]))
}

fn env(name: &str) -> Option<String> {
    match name {
        "FUZZ_PORT" => Some("8080".into()),
        "FUZZ_EMPTY" => Some(String::new()),
        "FUZZ_TRUE" => Some("true".into()),
        "FUZZ_TEXT" => Some("a\"b${FUZZ_PORT}".into()),
        _ => None,
    }
}

const UPGRADE: &[u8] =
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Protocol: wamp.2.json\r\n\r\n";
const GET: &[u8] = b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n";

/// Puts a loaded node to use: cores for its realms, HTTP answers from its transports.
pub fn exercise(node: &NodeConfig) {
    let info = NodeInfo {
        live: None,
        version: "0.0.0-fuzz",
        node_id: node.node_id.clone().unwrap_or_default(),
        started: SystemTime::UNIX_EPOCH,
        pid: 1,
        shards: 2,
        workers: node.routers.iter().map(|r| r.id.clone()).collect(),
        realms: vec![],
        transports: vec![],
    };
    for router in &node.routers {
        let realm_sessions = Arc::new(RealmSessionCounts::default());
        let shards = router.shards.unwrap_or(2).clamp(1, 64);
        let throttle = Arc::new(Mutex::new(FailureTracker::default()));
        let config = core_config(
            0,
            shards,
            &router.realms,
            Instant::now(),
            &realm_sessions,
            &throttle,
        );
        let core = Core::new(config);
        let _ = core.stats();
        for transport in &router.transports {
            if let TransportKind::RawSocket(_) = transport.kind {
                continue;
            }
            let ctx = HttpContext {
                transport: &transport.kind,
                node: &info,
                peer: "127.0.0.1:1",
            };
            let _ = handle_request(UPGRADE, &ctx);
            let _ = handle_request(GET, &ctx);
        }
    }
}

/// Runs one input; see the module docs.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let checked = check_str(text, cbdir(), &env);
    match &checked.result {
        Ok(node) => exercise(node),
        Err(errors) => {
            assert!(!errors.0.is_empty(), "refused without an error");
            for e in &errors.0 {
                assert!(
                    !e.message.is_empty(),
                    "an empty error message at {}",
                    e.path
                );
            }
        }
    }
    let again = check_str(text, cbdir(), &env);
    assert_eq!(
        checked.result.is_ok(),
        again.result.is_ok(),
        "the same text checked twice gave different verdicts"
    );
}
