//! Target `http`: the HTTP request path of a fresh connection ([`handle_request`]: httparse,
//! routing, the WebSocket upgrade and subprotocol negotiation, the static file service, node
//! info, redirects).
//!
//! Input: 1 byte choosing the transport and WebSocket options, then the bytes read so far.
//!
//! Invariants: no panic; `Incomplete` only while the head fits in [`MAX_HEAD`]; an upgrade
//! consumes no more than it was given, answers `101` with a well-formed head, a
//! `Sec-WebSocket-Accept` and a serializer the endpoint offers; every other answer is a
//! well-formed HTTP/1.1 response (parsed back with httparse) with `Connection: close` and a
//! `Content-Length` equal to the body sent; and no response ever carries a byte of the file
//! beside (outside) the static directory. On endpoints with cookie tracking, the upgrade's
//! `Cookie` headers go through the cookie store as the reactor does: a known cookie is kept,
//! anything else gets a fresh alphanumeric id (never the presented one) in a well-formed
//! `Set-Cookie`, and unauthenticated ids never grow the store.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use ferrobar::auth::cookie::{parse_cookie, CookieAuth, CookieStore};
use ferrobar::codec::Serializer;
use ferrobar::config::{
    CookieConfig, CookieStoreConfig, PathService, SameSite, StaticService, TransportKind,
    UniversalService, WebService, WebSocketOptions, WebSocketService,
};
use ferrobar::transport::http::{
    add_header, handle_request, CookieRequest, HttpContext, HttpOutcome, NodeInfo, MAX_HEAD,
};

/// In the file next to the static directory; must never appear in a response.
pub const SECRET: &str = "FERROBAR-FUZZ-SECRET-7f3a";

/// A directory tree shared by every process (see [`super::fixture_dir`]):
/// `<tmp>/ferrobar-fuzz-http/{secret.txt, web/index.html, web/sub/a.txt}`.
fn fixture() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let files = [
            ("secret.txt", SECRET),
            ("web/index.html", "<p>index</p>"),
            ("web/sub/a.txt", "a"),
        ];
        super::fixture_dir("ferrobar-fuzz-http", &files).join("web")
    })
}

fn ws_service(choice: u8) -> WebSocketService {
    let serializers = match choice % 4 {
        0 => vec![Serializer::Cbor, Serializer::MsgPack, Serializer::Json],
        1 => vec![Serializer::Json],
        2 => vec![Serializer::MsgPack, Serializer::Cbor],
        _ => vec![],
    };
    let mut options = WebSocketOptions {
        require_websocket_subprotocol: choice & 4 != 0,
        enable_webstatus: choice & 8 != 0,
        allow_null_origin: choice & 16 != 0,
        ..WebSocketOptions::default()
    };
    if choice & 32 != 0 {
        options.allowed_origins = vec![
            "https://*.example.com".into(),
            "http://localhost:*".into(),
            "*a*b*c*".into(),
        ];
    } else if choice & 64 != 0 {
        options.allowed_origins = vec!["*".into()];
    }
    // Cookie tracking on about half the endpoints (by parity, independent of the bits above).
    let cookie = (choice.count_ones() % 2 == 1).then(cookie_config);
    WebSocketService {
        serializers,
        options,
        cookie,
    }
}

/// The cookie block of every tracking endpoint here (one store serves them all).
fn cookie_config() -> CookieConfig {
    CookieConfig {
        path: "fuzz.cookie".into(),
        name: "cbtid".into(),
        length: 24,
        max_age: 3600,
        store: CookieStoreConfig::Memory,
        secure: true,
        http_strict: true,
        same_site: Some(SameSite::Lax),
    }
}

/// The id the store remembers an authentication for: a presented cookie with this id is kept.
const KNOWN_COOKIE: &str = "KnownCookieKnownCookie42";

/// One store for the process, remembering [`KNOWN_COOKIE`] and nothing else.
fn cookie_store() -> &'static Arc<CookieStore> {
    static STORE: OnceLock<Arc<CookieStore>> = OnceLock::new();
    STORE.get_or_init(|| {
        let store = Arc::new(CookieStore::new(cookie_config(), [7; 32]));
        let known = CookieAuth {
            authid: "joe".into(),
            authrole: "frontend".into(),
            authmethod: "ticket".into(),
            authrealm: "realm1".into(),
            authextra: ferrobar::wamp::Dict::new(),
        };
        let report = store.load(&known_record(&known), 0);
        assert_eq!(report.live, 1, "the fixture record loads");
        store
    })
}

/// The known cookie as a line of Crossbar's cookie file.
fn known_record(auth: &CookieAuth) -> String {
    format!(
        "{{\"cbtid\": \"{KNOWN_COOKIE}\", \"status\": \"created\", \"created\": \"2100-01-01T00:00:00.000Z\", \
         \"modified\": null, \"deleted\": null, \"max_age\": 3600, \"authid\": \"{}\", \
         \"authrole\": \"{}\", \"authmethod\": \"{}\", \"authrealm\": \"{}\", \"authextra\": {{}}}}\n",
        auth.authid, auth.authrole, auth.authmethod, auth.authrealm
    )
}

/// What the reactor does with an upgrade's cookie, checked: a presented known id is kept with
/// no `Set-Cookie`; anything else gets a fresh alphanumeric id (never the presented one) in a
/// well-formed `Set-Cookie` that survives being added to the response; unauthenticated ids
/// never grow the store.
fn check_cookie(request: &CookieRequest, response: &[u8]) {
    assert_eq!(request.store, "fuzz.cookie");
    let store = cookie_store();
    let headers: Vec<&str> = request.headers.iter().map(String::as_str).collect();
    let presented = headers.iter().find_map(|h| parse_cookie(h, "cbtid"));
    let upgrade = store.upgrade(&headers, 0);
    let id = upgrade.session.id();
    if presented == Some(KNOWN_COOKIE) {
        assert_eq!(id, KNOWN_COOKIE, "a known cookie is kept");
        assert_eq!(upgrade.set_cookie, None);
    } else {
        assert_ne!(Some(id), presented, "a presented unknown id was adopted");
        assert!(
            id.len() == 24 && id.bytes().all(|b| b.is_ascii_alphanumeric()),
            "new id {id:?}"
        );
        let value = upgrade.set_cookie.as_deref().expect("a new id is sent");
        assert_eq!(
            value,
            format!("cbtid={id};max-age=3600;Secure;HttpOnly;SameSite=Lax")
        );
        let mut with_cookie = response.to_vec();
        assert!(add_header(&mut with_cookie, "Set-Cookie", value));
        let (status, headers, _) = parse_response(&with_cookie);
        assert_eq!(status, 101);
        assert_eq!(header(&headers, "set-cookie"), Some(value));
    }
    assert_eq!(store.len(), 1, "only the authenticated cookie is stored");
}

fn web_service(choice: u8) -> WebService {
    let directory = fixture().clone();
    let static_service = |listing: bool| {
        PathService::Static(StaticService {
            directory: directory.clone(),
            enable_directory_listing: listing,
            default_file: None,
            cache_timeout: Some(60),
            mime_types: vec![(".txt".into(), "text/x-fuzz".into())],
        })
    };
    WebService {
        root: Some(static_service(choice & 128 != 0)),
        paths: vec![
            ("ws".into(), PathService::WebSocket(ws_service(choice))),
            ("info".into(), PathService::NodeInfo),
            ("json".into(), PathService::Json("{\"a\": 1}".into())),
            (
                "go".into(),
                PathService::Redirect("https://example.com/\r\nX-Injected: 1".into()),
            ),
            ("none".into(), PathService::NotFound),
            (
                "nested".into(),
                PathService::Path(Box::new(WebService {
                    root: Some(static_service(true)),
                    paths: vec![(
                        "ws".into(),
                        PathService::WebSocket(ws_service(choice.rotate_left(3))),
                    )],
                })),
            ),
        ],
    }
}

fn node() -> NodeInfo {
    NodeInfo {
        live: None,
        version: "0.0.0-fuzz",
        node_id: "fuzz-<node>&\"".into(),
        started: SystemTime::UNIX_EPOCH,
        pid: 1,
        shards: 2,
        workers: vec!["worker001".into()],
        realms: vec!["realm1".into(), "<script>".into()],
        transports: vec!["transport001 web tcp/8080".into()],
    }
}

/// Runs one input; see the module docs.
pub fn run(data: &[u8]) {
    let Some((&choice, buf)) = data.split_first() else {
        return;
    };
    let transport = match choice % 3 {
        0 => TransportKind::Web(web_service(choice)),
        1 => TransportKind::WebSocket(ws_service(choice / 3)),
        _ => TransportKind::Universal(UniversalService {
            rawsocket: None,
            web: web_service(choice / 3),
            mqtt: None,
        }),
    };
    let node = node();
    let ctx = HttpContext {
        transport: &transport,
        node: &node,
        peer: "127.0.0.1:1",
    };
    match handle_request(buf, &ctx) {
        HttpOutcome::Incomplete => assert!(buf.len() <= MAX_HEAD, "Incomplete past MAX_HEAD"),
        HttpOutcome::Upgrade {
            serializer,
            response,
            consumed,
            options: _,
            cookie,
        } => {
            assert!(consumed > 0 && consumed <= buf.len(), "consumed {consumed}");
            assert!(response.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
            let (status, headers, body) = parse_response(&response);
            assert_eq!(status, 101);
            assert!(body.is_empty(), "a 101 with a body");
            if let Some(request) = &cookie {
                check_cookie(request, &response);
            }
            assert!(header(&headers, "sec-websocket-accept").is_some());
            if let Some(p) = header(&headers, "sec-websocket-protocol") {
                assert_eq!(p, serializer.subprotocol());
            }
            let offered = match &transport {
                TransportKind::WebSocket(ws) => ws.serializers.contains(&serializer),
                _ => true,
            };
            assert!(offered, "negotiated {serializer:?}, which is not offered");
        }
        HttpOutcome::Respond { response } => {
            let text = String::from_utf8_lossy(&response);
            assert!(
                !text.contains(SECRET),
                "served the file outside the directory"
            );
            let (status, headers, body) = parse_response(&response);
            assert!((200..600).contains(&status), "status {status}");
            assert_eq!(header(&headers, "connection"), Some("close"));
            assert!(header(&headers, "x-injected").is_none(), "header injection");
            let length: usize = header(&headers, "content-length")
                .and_then(|v| v.parse().ok())
                .expect("Content-Length");
            let mut req_headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut req_headers);
            let head = req.parse(buf).is_ok() && req.method == Some("HEAD");
            if head {
                assert!(body.is_empty(), "a body in a HEAD response");
            } else {
                assert_eq!(length, body.len(), "Content-Length is not the body length");
            }
        }
    }
}

/// Parses a response head with httparse: status, headers (lower-cased name, value), body.
fn parse_response(response: &[u8]) -> (u16, Vec<(String, String)>, &[u8]) {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    let len = match parsed.parse(response) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!(
            "not a complete HTTP response ({other:?}): {:?}",
            String::from_utf8_lossy(response)
        ),
    };
    let headers = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    (parsed.code.unwrap_or(0), headers, &response[len..])
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}
