//! Tests of `http.rs`.

use super::*;
use crate::config::model::StaticService;
use crate::transport::static_files::tests::TempDir;
use proptest::prelude::*;

/// A parsed response: status, headers (lower-cased names), body.
pub(crate) struct Parsed {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Parsed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub(crate) fn parse(bytes: &[u8]) -> Parsed {
    let mut hs = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Response::new(&mut hs);
    let n = match r.parse(bytes).expect("valid response") {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => panic!("partial response"),
    };
    let headers = r
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    Parsed {
        status: r.code.unwrap_or(0),
        headers,
        body: bytes[n..].to_vec(),
    }
}

pub(crate) fn node() -> NodeInfo {
    NodeInfo {
        live: None,
        version: "0.1.0",
        node_id: "node<1>".into(),
        started: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
        pid: 4242,
        shards: 4,
        workers: vec!["worker001".into()],
        realms: vec!["realm1".into()],
        transports: vec!["transport001 web tcp/8080".into()],
    }
}

fn ws_transport(serializers: Vec<Serializer>, require: bool, status: bool) -> TransportKind {
    let mut svc = WebSocketService {
        serializers,
        ..Default::default()
    };
    svc.options.require_websocket_subprotocol = require;
    svc.options.enable_webstatus = status;
    TransportKind::WebSocket(svc)
}

fn run(t: &TransportKind, req: &[u8]) -> HttpOutcome {
    let node = node();
    handle_request(
        req,
        &HttpContext {
            transport: t,
            node: &node,
            peer: "10.0.0.1:5000",
        },
    )
}

fn response(t: &TransportKind, req: &[u8]) -> Parsed {
    match run(t, req) {
        HttpOutcome::Respond { response } => parse(&response),
        other => panic!("expected a response, got {other:?}"),
    }
}

fn upgrade_req(protocols: &[&str]) -> Vec<u8> {
    let mut r = String::from(
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, \
             Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        );
    for p in protocols {
        r.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

const BOTH: [Serializer; 2] = [Serializer::MsgPack, Serializer::Json];

#[test]
fn incomplete_head() {
    let t = ws_transport(BOTH.to_vec(), true, true);
    assert!(matches!(run(&t, b""), HttpOutcome::Incomplete));
    assert!(matches!(
        run(&t, b"GET /ws HTTP/1.1\r\nHost: x\r\n"),
        HttpOutcome::Incomplete
    ));
}

#[test]
fn upgrade_split_at_every_byte() {
    let t = ws_transport(BOTH.to_vec(), true, true);
    let mut full = upgrade_req(&["wamp.2.json"]);
    full.extend_from_slice(b"\x81\x05hello");
    let head_len = full.len() - 7;
    for cut in 0..full.len() {
        match run(&t, &full[..cut]) {
            HttpOutcome::Incomplete => assert!(cut < head_len, "cut {cut}"),
            HttpOutcome::Upgrade {
                serializer,
                response,
                consumed,
                ..
            } => {
                assert!(cut >= head_len);
                assert_eq!(consumed, head_len);
                assert_eq!(serializer, Serializer::Json);
                let p = parse(&response);
                assert_eq!(p.status, 101);
                assert_eq!(
                    p.header("sec-websocket-accept"),
                    Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
                );
                assert_eq!(p.header("sec-websocket-protocol"), Some("wamp.2.json"));
                assert_eq!(p.header("upgrade"), Some("websocket"));
                assert_eq!(p.header("connection"), Some("Upgrade"));
                assert_eq!(p.header("server"), Some("ferrobar"));
                assert!(p.body.is_empty());
            }
            HttpOutcome::Respond { response } => {
                panic!("cut {cut}: {:?}", parse(&response).text())
            }
        }
    }
}

fn chosen(t: &TransportKind, protocols: &[&str]) -> Option<Serializer> {
    match run(t, &upgrade_req(protocols)) {
        HttpOutcome::Upgrade { serializer, .. } => Some(serializer),
        _ => None,
    }
}

#[test]
fn subprotocol_in_client_order_among_configured() {
    let t = ws_transport(BOTH.to_vec(), true, true);
    let offer =
        "wamp.2.cbor.batched, wamp.2.cbor, wamp.2.json.batched, wamp.2.json, wamp.2.msgpack";
    assert_eq!(chosen(&t, &[offer]), Some(Serializer::Json));
    assert_eq!(
        chosen(&t, &["wamp.2.msgpack,wamp.2.json"]),
        Some(Serializer::MsgPack)
    );
    // Several headers count as one list, in order.
    assert_eq!(
        chosen(&t, &["wamp.2.ubjson", "wamp.2.msgpack", "wamp.2.json"]),
        Some(Serializer::MsgPack)
    );
    let json_only = ws_transport(vec![Serializer::Json], true, true);
    assert_eq!(
        chosen(&json_only, &["wamp.2.msgpack, wamp.2.json"]),
        Some(Serializer::Json)
    );
}

#[test]
fn cbor_is_accepted_when_configured() {
    let offer =
        "wamp.2.cbor.batched, wamp.2.cbor, wamp.2.json.batched, wamp.2.json, wamp.2.msgpack";
    // The default list (no `serializers` in the config) has cbor first.
    let all = ws_transport(WebSocketService::default().serializers, true, true);
    assert_eq!(chosen(&all, &[offer]), Some(Serializer::Cbor));
    assert_eq!(chosen(&all, &["wamp.2.cbor"]), Some(Serializer::Cbor));
    match run(&all, &upgrade_req(&["wamp.2.cbor"])) {
        HttpOutcome::Upgrade { response, .. } => assert_eq!(
            parse(&response).header("sec-websocket-protocol"),
            Some("wamp.2.cbor")
        ),
        other => panic!("{other:?}"),
    }
    // Not listed in `serializers`: refused, and the refusal names what is spoken.
    let t = ws_transport(BOTH.to_vec(), true, true);
    assert_eq!(chosen(&t, &[offer]), Some(Serializer::Json));
    let p = response(&t, &upgrade_req(&["wamp.2.cbor"]));
    assert_eq!(p.status, 400);
    assert!(
        p.text().contains("wamp.2.msgpack, wamp.2.json"),
        "{}",
        p.text()
    );
    assert!(!p.text().contains("wamp.2.cbor"), "{}", p.text());
}

#[test]
fn unsupported_subprotocols_only_is_400() {
    let t = ws_transport(vec![Serializer::Json], true, true);
    for offer in ["wamp.2.cbor, wamp.2.json.batched", "wamp.2.msgpack", "mqtt"] {
        let p = response(&t, &upgrade_req(&[offer]));
        assert_eq!(p.status, 400, "{offer}");
        assert!(p.text().contains("wamp.2.json"), "{}", p.text());
        assert_eq!(p.header("connection"), Some("close"));
    }
}

#[test]
fn missing_subprotocol() {
    let strict = ws_transport(BOTH.to_vec(), true, true);
    let p = response(&strict, &upgrade_req(&[]));
    assert_eq!(p.status, 400);
    assert!(p
        .text()
        .contains("wamp.2.* WebSocket subprotocol is required"));
    let lax = ws_transport(BOTH.to_vec(), false, true);
    match run(&lax, &upgrade_req(&[])) {
        HttpOutcome::Upgrade {
            serializer,
            response,
            ..
        } => {
            assert_eq!(serializer, Serializer::Json);
            assert_eq!(parse(&response).header("sec-websocket-protocol"), None);
        }
        other => panic!("{other:?}"),
    }
    let lax_msgpack = ws_transport(vec![Serializer::MsgPack], false, true);
    assert_eq!(response(&lax_msgpack, &upgrade_req(&[])).status, 400);
}

#[test]
fn handshake_refusals() {
    let t = ws_transport(BOTH.to_vec(), true, true);
    let good = String::from_utf8(upgrade_req(&["wamp.2.json"])).unwrap();
    let v8 = good.replace("Version: 13", "Version: 8");
    let p = response(&t, v8.as_bytes());
    assert_eq!(p.status, 426);
    assert_eq!(p.header("sec-websocket-version"), Some("13"));
    let no_conn = good.replace("keep-alive, Upgrade", "keep-alive");
    assert_eq!(response(&t, no_conn.as_bytes()).status, 400);
    let bad_key = good.replace("dGhlIHNhbXBsZSBub25jZQ==", "short");
    assert_eq!(response(&t, bad_key.as_bytes()).status, 400);
    // Header names and the Upgrade token are case-insensitive.
    let shouty = good.replace("Upgrade: websocket", "UPGRADE: WebSocket");
    assert!(matches!(
        run(&t, shouty.as_bytes()),
        HttpOutcome::Upgrade { .. }
    ));
}

#[test]
fn plain_get_on_websocket_path() {
    let t = ws_transport(BOTH.to_vec(), true, true);
    let p = response(&t, b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(p.status, 200);
    assert!(p
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/html"));
    let text = p.text();
    assert!(text.contains("This is a WAMP WebSocket endpoint"));
    assert!(
        text.contains("wamp.2.msgpack") && text.contains("wamp.2.json") && text.contains("0.1.0")
    );
    let head = response(&t, b"HEAD /ws HTTP/1.1\r\n\r\n");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length"),
        Some(p.body.len().to_string().as_str())
    );
    let off = ws_transport(BOTH.to_vec(), true, false);
    let p = response(&off, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(p.status, 426);
    assert_eq!(p.header("upgrade"), Some("websocket"));
}

#[test]
fn garbage_method_and_size_limits() {
    let t = ws_transport(BOTH.to_vec(), true, true);
    for junk in [
        &b"\x16\x03\x01\x02\x00\x01\x00"[..],
        b"hello world\r\n\r\n",
        b"GET /\x01 HTTP/1.1\r\n\r\n",
        b"\x7f\x00\x00\x01",
    ] {
        let p = response(&t, junk);
        assert_eq!(p.status, 400);
        assert_eq!(p.header("connection"), Some("close"));
    }
    assert_eq!(response(&t, b"GET * HTTP/1.1\r\n\r\n").status, 400);
    let p = response(&t, b"POST /ws HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(p.status, 405);
    assert_eq!(p.header("allow"), Some("GET, HEAD"));
    let mut huge = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', MAX_HEAD));
    assert_eq!(response(&t, &huge).status, 431);
    huge.extend_from_slice(b"\r\n\r\n");
    assert_eq!(response(&t, &huge).status, 431);
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..=MAX_HEADERS {
        many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(response(&t, &many).status, 431);
}

/// The getting-started seed: `/` static with listing, `info` nodeinfo, `ws` websocket.
fn seed(dir: &std::path::Path) -> TransportKind {
    TransportKind::Web(WebService {
        root: Some(PathService::Static(StaticService {
            directory: dir.to_path_buf(),
            enable_directory_listing: true,
            default_file: None,
            cache_timeout: None,
            mime_types: vec![],
        })),
        paths: vec![
            ("info".into(), PathService::NodeInfo),
            (
                "ws".into(),
                PathService::WebSocket(WebSocketService::default()),
            ),
            ("j".into(), PathService::Json("{\"a\":1}".into())),
            (
                "r".into(),
                PathService::Redirect("https://example.com/\r\nX: y".into()),
            ),
            ("gone".into(), PathService::NotFound),
            (
                "sub".into(),
                PathService::Path(Box::new(WebService {
                    root: Some(PathService::Json("[]".into())),
                    paths: vec![(
                        "ws".into(),
                        PathService::WebSocket(WebSocketService::default()),
                    )],
                })),
            ),
        ],
    })
}

#[test]
fn seed_routes() {
    let dir = TempDir::new("routes");
    dir.write("index.html", b"<h1>hello</h1>");
    let t = seed(dir.path());
    let p = response(&t, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!((p.status, p.text().as_str()), (200, "<h1>hello</h1>"));
    let p = response(&t, b"GET /index.html?x=1 HTTP/1.1\r\n\r\n");
    assert_eq!(p.status, 200);
    assert_eq!(response(&t, b"GET /unknown HTTP/1.1\r\n\r\n").status, 404);
    let p = response(&t, b"GET /info HTTP/1.1\r\n\r\n");
    assert_eq!(p.status, 200);
    assert!(p.text().contains("10.0.0.1:5000") && p.text().contains("node&lt;1&gt;"));
    // Its JSON twin: the same facts, unescaped; no live figures without a live node.
    let p = response(&t, b"GET /info?format=json HTTP/1.1\r\n\r\n");
    assert_eq!(p.status, 200);
    let v: serde_json::Value = serde_json::from_str(&p.text()).unwrap();
    assert_eq!(v["node_id"], "node<1>");
    assert!(v.get("live").is_none());
    assert!(matches!(
        run(&t, &upgrade_req(&["wamp.2.json"])),
        HttpOutcome::Upgrade { .. }
    ));
    let slash = String::from_utf8(upgrade_req(&["wamp.2.json"]))
        .unwrap()
        .replace("/ws ", "/ws/?x ");
    assert!(matches!(
        run(&t, slash.as_bytes()),
        HttpOutcome::Upgrade { .. }
    ));
    assert_eq!(response(&t, b"GET /ws HTTP/1.1\r\n\r\n").status, 200);
    let p = response(&t, b"GET /j HTTP/1.1\r\n\r\n");
    assert_eq!(
        (p.header("content-type"), p.text().as_str()),
        (Some("application/json"), "{\"a\":1}")
    );
    let p = response(&t, b"GET /r HTTP/1.1\r\n\r\n");
    assert_eq!(
        (p.status, p.header("location")),
        (302, Some("https://example.com/X: y"))
    );
    assert_eq!(response(&t, b"GET /gone HTTP/1.1\r\n\r\n").status, 404);
    assert_eq!(
        response(&t, b"GET /sub/anything HTTP/1.1\r\n\r\n").text(),
        "[]"
    );
    let nested = String::from_utf8(upgrade_req(&["wamp.2.json"]))
        .unwrap()
        .replace("/ws ", "/sub/ws ");
    assert!(matches!(
        run(&t, nested.as_bytes()),
        HttpOutcome::Upgrade { .. }
    ));
    let abs = response(&t, b"GET http://host/info HTTP/1.1\r\n\r\n");
    assert!(abs.text().contains("Node info"));
    let no_root = TransportKind::Web(WebService {
        root: None,
        paths: vec![],
    });
    assert_eq!(response(&no_root, b"GET / HTTP/1.1\r\n\r\n").status, 404);
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let dir = std::env::temp_dir().join("ferrobar-proptest-nonexistent");
        let t = seed(&dir);
        let _ = run(&t, &bytes);
        let mut req = b"GET /".to_vec();
        req.extend_from_slice(&bytes);
        let _ = run(&t, &req);
        let _ = run(&ws_transport(BOTH.to_vec(), false, true), &req);
    }

    #[test]
    fn random_paths_never_panic(path in "[/a-z.%0-9A-F]{0,40}") {
        let dir = TempDir::new("prop");
        dir.write("a.txt", b"a");
        let t = seed(dir.path());
        let req = format!("GET /{path} HTTP/1.1\r\n\r\n");
        if let HttpOutcome::Respond { response } = run(&t, req.as_bytes()) {
            let status = parse(&response).status;
            prop_assert!(matches!(status, 200 | 301 | 302 | 400 | 404), "{status}");
        }
    }
}

#[test]
fn cookie_tracking_endpoints_hand_over_the_cookie_headers() {
    let plain = ws_transport(BOTH.to_vec(), true, true);
    let mut with_cookie = WebSocketService {
        serializers: BOTH.to_vec(),
        ..Default::default()
    };
    with_cookie.cookie = Some(crate::config::CookieConfig {
        path: "workers[0].transports[0].cookie".into(),
        name: "cbtid".into(),
        length: 24,
        max_age: 60,
        store: crate::config::CookieStoreConfig::Memory,
        secure: false,
        http_strict: false,
        same_site: None,
    });
    let tracked = TransportKind::WebSocket(with_cookie);
    let mut req = upgrade_req(&["wamp.2.json"]);
    req.truncate(req.len() - 2);
    req.extend_from_slice(b"Cookie: a=1; cbtid=abc\r\nCookie: \xff\xfe\r\nCookie: b=2\r\n\r\n");
    match run(&tracked, &req) {
        HttpOutcome::Upgrade { cookie, .. } => assert_eq!(
            cookie,
            Some(CookieRequest {
                store: "workers[0].transports[0].cookie".into(),
                headers: vec!["a=1; cbtid=abc".into(), "b=2".into()],
            })
        ),
        other => panic!("{other:?}"),
    }
    match run(&tracked, &upgrade_req(&["wamp.2.json"])) {
        HttpOutcome::Upgrade { cookie, .. } => assert_eq!(cookie.unwrap().headers.len(), 0),
        other => panic!("{other:?}"),
    }
    match run(&plain, &req) {
        HttpOutcome::Upgrade { cookie, .. } => assert_eq!(cookie, None),
        other => panic!("{other:?}"),
    }
}

#[test]
fn add_header_goes_before_the_empty_line() {
    let t = ws_transport(BOTH.to_vec(), true, true);
    let HttpOutcome::Upgrade { mut response, .. } = run(&t, &upgrade_req(&["wamp.2.json"])) else {
        panic!("expected an upgrade")
    };
    assert!(add_header(
        &mut response,
        "Set-Cookie",
        "cbtid=x;max-age=5\r\nX-Evil: 1"
    ));
    let p = parse(&response);
    assert_eq!(p.status, 101);
    assert_eq!(p.header("set-cookie"), Some("cbtid=x;max-age=5X-Evil: 1"));
    assert_eq!(p.header("x-evil"), None);
    assert_eq!(p.header("server"), Some("ferrobar"));
    assert!(response.ends_with(b"X-Evil: 1\r\n\r\n"));
    let mut partial = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
    assert!(!add_header(&mut partial, "Set-Cookie", "x"));
    assert_eq!(partial, b"HTTP/1.1 101 Switching Protocols\r\n");
}

#[test]
fn allowed_origins_are_glob_patterns_and_null_is_separate() {
    let mut options = WebSocketOptions::default();
    assert!(origin_allowed(&options, b"https://anything.example:8443"));
    options.allowed_origins = vec!["https://*.example.com".into(), "http://localhost:*".into()];
    assert!(origin_allowed(&options, b"https://app.example.com"));
    assert!(origin_allowed(&options, b"HTTPS://App.Example.com"));
    assert!(origin_allowed(&options, b"http://localhost:8080"));
    assert!(!origin_allowed(&options, b"https://evil.com"));
    assert!(!origin_allowed(&options, b"https://example.com.evil.org"));
    assert!(origin_allowed(&options, b"null"));
    options.allow_null_origin = false;
    assert!(!origin_allowed(&options, b"null"));
}
