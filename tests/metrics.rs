//! Metrics and health over the real binary: the `metrics` and `health` web services and
//! `ferrobar start --metrics ADDR:PORT`, checked against traffic this test generates.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use ferrobar::wamp::{Dict, Message, Value};
use serde_json::json;

/// realm1 (anonymous allowed everything) and one web transport with the WebSocket, metrics,
/// health and node info services.
fn config(port: u16) -> serde_json::Value {
    json!({
        "version": 2,
        "workers": [{
            "type": "router",
            "realms": [{"name": "realm1", "roles": [allow_all_role()]}],
            "transports": [{
                "type": "web",
                "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
                "paths": {
                    "ws": {"type": "websocket"},
                    "metrics": {"type": "metrics"},
                    "health": {"type": "health"},
                    "info": {"type": "nodeinfo"}
                }
            }]
        }]
    })
}

/// GET `path` on `port`: (status, body).
fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(T)).expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read the response");
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

/// The value of one series (`name{labels}` exactly as exposed), if present.
fn series(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Scrapes until every series in `want` has its value (each shard reports once a second, on
/// its own), then returns the body; panics with the last body after 5 s.
fn scrape_until(port: u16, path: &str, want: &[(&str, f64)]) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = get(port, path);
        assert_eq!(status, 200, "{path}: {body}");
        let missing: Vec<_> = want
            .iter()
            .filter(|(name, value)| series(&body, name) != Some(*value))
            .collect();
        if missing.is_empty() {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "not reached within 5 s: {missing:?}\n{body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn metrics_count_the_traffic_and_health_says_ready_then_not_when_stopping() {
    let ops_port = free_port();
    let ops = format!("127.0.0.1:{ops_port}");
    let port = free_port();
    let router = Router::start_with_args(
        config(port),
        2,
        &["--metrics", &ops, "--drain-seconds", "2"],
    );

    let mut subscribers: Vec<WampClient> = (0..3).map(|_| WampClient::joined(port, JSON)).collect();
    for s in &mut subscribers {
        s.subscribe("com.metrics.temp");
    }
    let mut publisher = WampClient::joined(port, MSGPACK);
    for i in 0..5u64 {
        publisher.publish_acked("com.metrics.temp", Dict::new(), args(vec![Value::from(i)]));
    }
    for s in &mut subscribers {
        for _ in 0..5 {
            s.expect_event();
        }
    }
    let mut callee = WampClient::joined(port, JSON);
    callee.register("com.metrics.add").expect("register");
    let mut caller = WampClient::joined(port, JSON);
    for _ in 0..2 {
        let request = caller.call_nowait("com.metrics.add", args(vec![]));
        let (invocation, _, _) = callee.expect_invocation();
        callee.yield_result(invocation, args(vec![]));
        caller.call_outcome(request).expect("a result");
    }
    let missing = caller.call_nowait("com.metrics.nothing", args(vec![]));
    assert!(caller.call_outcome(missing).is_err());
    // A client offering only an authmethod the transport does not have is refused.
    let mut refused = WampClient::connect(port, JSON);
    refused.send(&Message::Hello {
        realm: "realm1".into(),
        details: Dict::new().with("authmethods", Value::List(vec!["ticket".into()])),
    });
    refused.expect_abort_and_close();

    let expected: [(&str, f64); 14] = [
        ("ferrobar_sessions{realm=\"realm1\"}", 6.0),
        ("ferrobar_subscriptions{realm=\"realm1\"}", 1.0),
        ("ferrobar_registrations{realm=\"realm1\"}", 1.0),
        ("ferrobar_publications_total", 5.0),
        ("ferrobar_deliveries_total", 15.0),
        ("ferrobar_messages_received_total{type=\"PUBLISH\"}", 5.0),
        ("ferrobar_messages_sent_total{type=\"PUBLISHED\"}", 5.0),
        ("ferrobar_messages_received_total{type=\"CALL\"}", 3.0),
        ("ferrobar_calls_total{outcome=\"result\"}", 2.0),
        ("ferrobar_calls_total{outcome=\"no_such_procedure\"}", 1.0),
        ("ferrobar_call_duration_seconds_count", 2.0),
        ("ferrobar_call_duration_seconds_bucket{le=\"+Inf\"}", 2.0),
        ("ferrobar_auth_failures_total{method=\"hello\"}", 1.0),
        ("ferrobar_reloads_total{result=\"applied\"}", 0.0),
    ];
    let body = scrape_until(ops_port, "/metrics", &expected);
    assert!(
        series(&body, "ferrobar_connections{transport=\"transport001\"}").is_some_and(|n| n >= 6.0),
        "{body}"
    );
    assert!(series(&body, "ferrobar_bytes_received_total").is_some_and(|n| n > 0.0));
    assert!(series(&body, "ferrobar_bytes_sent_total").is_some_and(|n| n > 0.0));
    // The node info page shows the same live figures, and has a JSON twin.
    let (status, info) = get(port, "/info?format=json");
    assert_eq!(status, 200, "{info}");
    let info: serde_json::Value = serde_json::from_str(&info).expect("JSON");
    assert_eq!(
        info["live"]["realms"],
        json!([{"name": "realm1", "sessions": 6, "subscriptions": 1, "registrations": 1}]),
        "{info}"
    );
    assert_eq!(info["live"]["publications"], 5, "{info}");
    assert_eq!(info["live"]["deliveries"], 15, "{info}");
    assert_eq!(info["shards"], 2, "{info}");
    let (status, html) = get(port, "/info");
    assert_eq!(status, 200);
    assert!(
        html.contains("<tr><td><code>realm1</code></td><td>6</td><td>1</td><td>1</td></tr>"),
        "{html}"
    );
    assert!(
        html.contains("http-equiv=\"refresh\""),
        "the page reloads itself"
    );
    // The web transport's metrics service exposes the same families.
    let (status, web) = get(port, "/metrics");
    assert_eq!(status, 200);
    assert!(
        web.contains("# TYPE ferrobar_deliveries_total counter"),
        "{web}"
    );

    for p in [port, ops_port] {
        let path = if p == port { "/health" } else { "/healthz" };
        let (status, health) = get(p, path);
        assert_eq!(
            (status, health.as_str()),
            (200, "{\"reasons\":[],\"status\":\"ready\"}")
        );
    }
    assert_eq!(get(ops_port, "/livez").0, 200);
    assert_eq!(get(ops_port, "/nothing").0, 404);

    // Draining: not ready at once, while the sessions still get their GOODBYEs.
    router.terminate();
    let deadline = Instant::now() + T;
    let (status, health) = loop {
        let (status, health) = get(ops_port, "/healthz");
        if status != 200 || Instant::now() >= deadline {
            break (status, health);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status, 503, "{health}");
    assert!(health.contains("shutting down"), "{health}");
    assert!(router.wait().success());
}
