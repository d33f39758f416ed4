//! Cookie tracking and cookie authentication against the real binary, over loopback WebSocket
//! with the `Cookie` header sent and `Set-Cookie` read by hand, and WAMP messages written as
//! JSON: what a browser does (present the cookie it was given) and what an attacker might try
//! (a made-up cookie).

mod common;

use common::*;
use serde_json::{json, Value as J};
use tungstenite::client::ClientRequestBuilder;
use tungstenite::protocol::WebSocket;

const WELCOME: u64 = 2;
const ABORT: u64 = 3;
const CHALLENGE: u64 = 4;
const GOODBYE: u64 = 6;

const JOE_TICKET: &str = "joe-cookie-ticket";

fn role(name: &str) -> J {
    json!({"name": name, "permissions": [{
        "uri": "", "match": "prefix",
        "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
        "disclose": {"caller": false, "publisher": false}, "cache": true}]})
}

/// realm1 (roles frontend, anonymous): a web transport on `port` whose `/ws` offers ticket
/// (joe) and cookie authentication with the cookie block `cookie`; a websocket transport on
/// `anon_port` that tracks cookies (`anon_id`) with the default (anonymous) authentication.
fn config(port: u16, cookie: J, anon_port: u16) -> J {
    json!({
        "version": 2,
        "workers": [{
            "type": "router",
            "realms": [{"name": "realm1", "roles": [role("frontend"), role("anonymous")]}],
            "transports": [{
                "type": "web",
                "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
                "paths": {
                    "ws": {"type": "websocket", "cookie": cookie, "auth": {
                        "ticket": {"type": "static", "principals": {
                            "joe": {"ticket": JOE_TICKET, "role": "frontend"}}},
                        "cookie": {}}}
                }
            }, {
                "type": "websocket",
                "endpoint": {"type": "tcp", "port": anon_port, "interface": "127.0.0.1"},
                "cookie": {"name": "anon_id"}
            }]
        }]
    })
}

struct Client {
    ws: WebSocket<Sock>,
    /// The `Set-Cookie` of the 101, if any.
    set_cookie: Option<String>,
}

impl Client {
    /// Connects to `ws://127.0.0.1:port/<path>` with `wamp.2.json`, sending `cookie` as the
    /// `Cookie` header.
    fn connect(port: u16, path: &str, cookie: Option<&str>) -> Client {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(T)).unwrap();
        stream.set_write_timeout(Some(T)).unwrap();
        let uri: tungstenite::http::Uri = format!("ws://127.0.0.1:{port}/{path}").parse().unwrap();
        let mut request = ClientRequestBuilder::new(uri).with_sub_protocol(JSON);
        if let Some(c) = cookie {
            request = request.with_header("Cookie", c);
        }
        let (ws, response) = tungstenite::client::client(request, Sock(stream))
            .unwrap_or_else(|e| panic!("WebSocket handshake failed: {e}"));
        let all: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
        assert!(all.len() <= 1, "one Set-Cookie at most: {all:?}");
        let set_cookie = all.first().map(|v| v.to_str().expect("ASCII").to_owned());
        Client { ws, set_cookie }
    }

    /// The id of the cookie named `name` that the 101 set.
    fn new_cookie(&self, name: &str) -> String {
        let set = self.set_cookie.as_deref().expect("a Set-Cookie");
        let first = set.split(';').next().unwrap();
        let (n, v) = first.split_once('=').expect("name=value");
        assert_eq!(n, name, "{set}");
        v.to_owned()
    }

    fn send(&mut self, msg: J) {
        self.ws
            .send(tungstenite::Message::text(msg.to_string()))
            .expect("send");
    }

    fn recv(&mut self) -> J {
        loop {
            match self.ws.read() {
                Ok(tungstenite::Message::Text(t)) => {
                    return serde_json::from_str(t.as_str()).expect("JSON")
                }
                Ok(tungstenite::Message::Close(_)) => panic!("closed before a message"),
                Ok(_) => {}
                Err(e) => panic!("no message: {e}"),
            }
        }
    }

    fn hello(&mut self, authmethods: &[&str], authid: Option<&str>) -> J {
        let mut details = json!({
            "roles": {"caller": {}, "callee": {}, "publisher": {}, "subscriber": {}},
            "authmethods": authmethods,
        });
        if let Some(id) = authid {
            details["authid"] = json!(id);
        }
        self.send(json!([1, "realm1", details]));
        self.recv()
    }

    /// HELLO by ticket as joe, CHALLENGE, AUTHENTICATE: the WELCOME details.
    fn ticket_join(&mut self, authmethods: &[&str]) -> J {
        let challenge = self.hello(authmethods, Some("joe"));
        assert_eq!(challenge[0], CHALLENGE, "{challenge}");
        assert_eq!(challenge[1], "ticket");
        self.send(json!([5, JOE_TICKET, {}]));
        let welcome = self.recv();
        assert_eq!(welcome[0], WELCOME, "{welcome}");
        welcome[2].clone()
    }

    fn goodbye(&mut self, reason: &str) {
        self.send(json!([6, {}, reason]));
        let reply = self.recv();
        assert_eq!(reply[0], GOODBYE, "{reply}");
    }
}

fn identity(details: &J) -> (String, String, String, String) {
    let s = |k: &str| details[k].as_str().unwrap_or_default().to_owned();
    (
        s("authid"),
        s("authrole"),
        s("authmethod"),
        s("authprovider"),
    )
}

fn ids(id: &str) -> bool {
    id.len() == 24 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[test]
fn a_ticket_login_makes_the_cookie_authenticate() {
    let router = Router::start_with(|port| config(port, json!({}), free_port()), 2);
    let port = router.port;
    let mut first = Client::connect(port, "ws", None);
    let id = first.new_cookie("cbtid");
    assert!(ids(&id), "{id}");
    assert_eq!(
        first.set_cookie.as_deref(),
        Some(format!("cbtid={id};max-age=604800").as_str())
    );
    let welcome = first.ticket_join(&["ticket"]);
    assert_eq!(
        identity(&welcome),
        (
            "joe".into(),
            "frontend".into(),
            "ticket".into(),
            "static".into()
        )
    );
    // Several connections with the cookie (over both shards): each joins at once.
    for _ in 0..4 {
        let cookie = format!("theme=dark; cbtid={id}");
        let mut again = Client::connect(port, "ws", Some(&cookie));
        assert_eq!(again.set_cookie, None, "a known cookie is not set again");
        let welcome = again.hello(&["cookie", "ticket"], None);
        assert_eq!(welcome[0], WELCOME, "no CHALLENGE expected: {welcome}");
        assert_eq!(
            identity(&welcome[2]),
            (
                "joe".into(),
                "frontend".into(),
                "ticket".into(),
                "cookie".into()
            )
        );
        assert_eq!(welcome[2]["realm"], "realm1");
    }
    // Logout: the cookie no longer authenticates, and is replaced on the next connection.
    let mut session = Client::connect(port, "ws", Some(&format!("cbtid={id}")));
    assert_eq!(session.hello(&["cookie"], None)[0], WELCOME);
    session.goodbye("wamp.close.logout");
    let mut after = Client::connect(port, "ws", Some(&format!("cbtid={id}")));
    let replaced = after.new_cookie("cbtid");
    assert_ne!(replaced, id);
    let abort = after.hello(&["cookie"], None);
    assert_eq!(abort[0], ABORT, "{abort}");
    assert_eq!(abort[2], "wamp.error.no_auth_method");
    drop(router);
}

#[test]
fn a_forged_cookie_is_not_adopted() {
    let router = Router::start_with(|port| config(port, json!({}), free_port()), 1);
    let port = router.port;
    let forged = "AAAAAAAAAAAAAAAAAAAAAAAA";
    let mut c = Client::connect(port, "ws", Some(&format!("cbtid={forged}")));
    let given = c.new_cookie("cbtid");
    assert_ne!(given, forged);
    assert!(ids(&given));
    // Cookie auth falls through to ticket...
    c.ticket_join(&["cookie", "ticket"]);
    // ...and what got authenticated is the id the router gave, not the forged one.
    let mut forger = Client::connect(port, "ws", Some(&format!("cbtid={forged}")));
    assert!(forger.set_cookie.is_some());
    let abort = forger.hello(&["cookie"], None);
    assert_eq!(abort[2], "wamp.error.no_auth_method", "{abort}");
    let mut owner = Client::connect(port, "ws", Some(&format!("cbtid={given}")));
    assert_eq!(owner.hello(&["cookie"], None)[0], WELCOME);
}

#[test]
fn a_hello_without_cookie_revokes_the_cookie() {
    let router = Router::start_with(|port| config(port, json!({}), free_port()), 1);
    let port = router.port;
    let mut c = Client::connect(port, "ws", None);
    let id = c.new_cookie("cbtid");
    c.ticket_join(&["ticket"]);
    // Offering ticket only on a connection with an authenticated cookie: authenticated anew.
    let mut relogin = Client::connect(port, "ws", Some(&format!("cbtid={id}")));
    let challenge = relogin.hello(&["ticket"], Some("joe"));
    assert_eq!(challenge[0], CHALLENGE, "{challenge}");
    // Until that succeeds, the cookie does not authenticate.
    let mut probe = Client::connect(port, "ws", Some(&format!("cbtid={id}")));
    let abort = probe.hello(&["cookie"], None);
    assert_eq!(abort[0], ABORT, "{abort}");
}

#[test]
fn set_cookie_attributes_follow_the_config() {
    let cookie = json!({"name": "sid", "length": 8, "max_age": 60, "secure": true,
                        "http_strict": true, "same_site": "Strict"});
    let anon_port = free_port();
    let router = Router::start_with(|port| config(port, cookie.clone(), anon_port), 1);
    let c = Client::connect(router.port, "ws", None);
    let id = c.new_cookie("sid");
    assert_eq!(id.len(), 8);
    assert_eq!(
        c.set_cookie.as_deref(),
        Some(format!("sid={id};max-age=60;Secure;HttpOnly;SameSite=Strict").as_str())
    );
    // Anonymous sessions on a service without cookie auth take the cookie id as authid.
    let mut anon = Client::connect(anon_port, "ws", None);
    let anon_id = anon.new_cookie("anon_id");
    let welcome = anon.hello(&[], None);
    assert_eq!(welcome[2]["authid"], anon_id.as_str(), "{welcome}");
    assert_eq!(welcome[2]["authmethod"], "anonymous");
}

#[test]
fn the_file_store_survives_a_restart() {
    let cookie = json!({"store": {"type": "file", "filename": "cookies.dat"}});
    let mut router = Router::start_with(|port| config(port, cookie.clone(), free_port()), 2);
    let port = router.port;
    let mut c = Client::connect(port, "ws", None);
    let id = c.new_cookie("cbtid");
    c.ticket_join(&["ticket"]);
    let file = router.cbdir().join("cookies.dat");
    let text = std::fs::read_to_string(&file).expect("the cookie file");
    let record: J = serde_json::from_str(text.lines().next().expect("a record")).unwrap();
    assert_eq!(record["cbtid"], id.as_str());
    assert_eq!(record["status"], "created");
    assert_eq!(record["authid"], "joe");
    assert_eq!(record["authmethod"], "ticket");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o077,
        0,
        "the cookie file must not be readable by others"
    );

    router.restart(2);
    let mut again = Client::connect(port, "ws", Some(&format!("cbtid={id}")));
    assert_eq!(
        again.set_cookie, None,
        "the restarted router knows the cookie"
    );
    let welcome = again.hello(&["cookie", "ticket"], None);
    assert_eq!(welcome[0], WELCOME, "{welcome}\n{}", router.stderr());
    assert_eq!(
        identity(&welcome[2]),
        (
            "joe".into(),
            "frontend".into(),
            "ticket".into(),
            "cookie".into()
        )
    );
    assert!(
        router.stderr().contains("1 authenticated cookie(s) loaded"),
        "{}",
        router.stderr()
    );
    // Logout is written too: after another restart the cookie is gone.
    again.goodbye("wamp.close.logout");
    router.restart(1);
    let mut gone = Client::connect(port, "ws", Some(&format!("cbtid={id}")));
    assert!(gone.set_cookie.is_some());
    assert_eq!(gone.hello(&["cookie"], None)[0], ABORT);
}
