"""wamp_async (crates.io, the Rust WAMP client, 0.3.1) against the router.

The client is `wamp_async_client/`, a small Rust program that runs one scenario
per process and prints one `TAG {json}` line per fact (like clients/py_client.py);
`make interop-deps` builds it into target/interop-clients. It runs against the
module's MultiClientNode (multiclient.py): realm1, realm-ms and realm-hidden,
anonymous / ticket / WAMP-CRA on every transport, two shards.

What wamp_async 0.3.1 can do, and so what is covered here:

- transports: WebSocket (`ws://`) and RawSocket over TCP (`tcp://`); TLS too,
  which the node has no listener for. No Unix sockets (its URL schemes are
  ws, wss, tcp, tcps only).
- serializers: JSON and MessagePack (no CBOR). Payloads are serde_json values:
  it has no binary type. Over JSON it sends and receives the WAMP binary
  convention ("\\0" + base64) as plain strings; over MessagePack it cannot decode
  a `bin` value at all (its event loop ends: see
  test_binary_to_wamp_async_msgpack_is_a_client_gap).
- authentication: anonymous, ticket and WAMP-CRA through a challenge callback
  (the program signs the challenge itself, salted users included).
- publish with `acknowledge` only (no other publish option); subscribe and
  register with no options at all (no prefix/wildcard subscriptions, no shared
  registrations); call with no options (no timeout, no progressive results,
  no cancel).
- what it does not expose: the session id, WELCOME/RESULT/EVENT/INVOCATION
  details, the args/kwargs of an ERROR, the reason of a GOODBYE/ABORT. The
  program reads the ones the tests need off the library's own debug log of each
  received message (`WIRE` lines; full messages for JSON, the decoded message's
  Debug text for MessagePack).

Client bugs met: its RawSocket transport loses framing when a frame arrives
while it sends (test_burst_to_rawsocket_callee); a MessagePack `bin` ends its
event loop (test_binary_to_wamp_async_msgpack_is_a_client_gap); it takes any
RESULT for the final one (test_unrequested_progressive_results_do_not_reach_wamp_async);
it answers the router's GOODBYE reply with a second GOODBYE and closes, so it
cannot join again on the same connection; its status calls panic once the event
loop has ended (worked around in the program).
"""

import asyncio
import base64
import hashlib
import json
import os
import socket
import sys

import pytest

import harness
from harness import IS_FERROBAR
from multiclient import (CRA_SALTED_SECRET, CRA_SALTED_USER, CRA_SECRET, CRA_USER, REALM_HIDDEN,
                         REALM_MS, TICKET, TICKET_USER, node, watched)  # noqa: F401 (fixtures)

sys.path.insert(0, harness.CLIENTS)
import adv_wamp  # noqa: E402  (a raw WAMP peer for what Autobahn|Python cannot send)

BIN = os.environ.get("WAMP_ASYNC_CLIENT_BIN") or os.path.join(
    harness.REPO, "target", "interop-clients", "release", "wamp_async_client")

# Bound of one client process: its own watchdog ends it after this many seconds.
TIMEOUT = 20.0

MAX_ID = 2 ** 53


@pytest.fixture(scope="module", autouse=True)
def client_binary():
    """The wamp_async client must be built: a missing binary fails every test."""
    if not (os.path.isfile(BIN) and os.access(BIN, os.X_OK)):
        pytest.fail("the wamp_async interop client is not built (%s): run `make interop-deps`" % BIN,
                    pytrace=False)
    return BIN


# ---------------------------------------------------------------------------
# helpers

def url_of(node, transport):
    """wamp_async URLs: ws://host:port/ws (WebSocket), tcp://host:port (RawSocket)."""
    if transport == "rs":
        host, port = node.tcp("rs")
        return "tcp://%s:%d" % (host, port)
    return node.ws_url(transport)


AUTH = {
    "anonymous": [],
    "ticket": ["--auth", "ticket", "--authid", TICKET_USER, "--secret", TICKET],
    "wampcra": ["--auth", "wampcra", "--authid", CRA_USER, "--secret", CRA_SECRET],
    "wampcra-salted": ["--auth", "wampcra", "--authid", CRA_SALTED_USER, "--secret", CRA_SALTED_SECRET],
}


def wa(clients, name, node, transport, serializer, scenario, *args, auth="anonymous", realm=None,
       other=None, timeout=TIMEOUT):
    """Starts the wamp_async client. `auth`: a key of AUTH, or the options themselves.
    `other`: (transport, serializer) of the second session of two-session scenarios."""
    argv = [BIN, "--url", url_of(node, transport), "--serializer", serializer,
            "--timeout", str(timeout)] + (AUTH[auth] if isinstance(auth, str) else list(auth))
    if realm:
        argv += ["--realm", realm]
    if other:
        argv += ["--url2", url_of(node, other[0]), "--serializer2", other[1]]
    return clients.start(name, argv + [scenario] + list(args))


def finish(p):
    """The scenario ran to its end and the process exited 0 (no panic, no watchdog)."""
    p.expect("DONE", others=("FAIL",))
    rc = p.wait_exit()
    assert rc == 0, "%s exited with %s\n%s" % (p.name, rc, p.output())


DEBUG_CODES = {"Ok(Welcome": 2, "Ok(Abort": 3, "Ok(Goodbye": 6, "Ok(Error": 8, "Ok(Result": 50}


def wire(p, code):
    """The messages with WAMP code `code` the client logged as received: the message itself
    (JSON sessions) or its Debug text (MessagePack sessions)."""
    out = []
    for w in p.markers("WIRE"):
        if "msg" in w and w["msg"][0] == code:
            out.append(w["msg"])
        elif "debug" in w and any(w["debug"].startswith(k) and c == code for k, c in DEBUG_CODES.items()):
            out.append(w["debug"])
    return out


def strip_binary(v):
    """payload.json without its binary values (wamp_async/msgpack cannot receive them)."""
    def is_bin(x):
        return isinstance(x, dict) and set(x) == {"__bytes__"}
    if isinstance(v, dict):
        return {k: strip_binary(x) for k, x in v.items() if not is_bin(x)}
    if isinstance(v, list):
        return [strip_binary(x) for x in v if not is_bin(x)]
    return v


def json_convention(v):
    """A tagged payload as a JSON peer sees it: binary as "\\0" + base64."""
    if isinstance(v, dict):
        if set(v) == {"__bytes__"}:
            return "\0" + base64.b64encode(bytes.fromhex(v["__bytes__"])).decode("ascii")
        return {k: json_convention(x) for k, x in v.items()}
    if isinstance(v, list):
        return [json_convention(x) for x in v]
    return v


@pytest.fixture(scope="module")
def nobin_payload(tmp_path_factory):
    """payload.json without binary values, as a file for --payload."""
    p = strip_binary(harness.load_payload())
    path = str(tmp_path_factory.mktemp("wamp_async") / "nobin.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(p, f, ensure_ascii=False)
    return path, p


PAYLOAD_FILE = os.path.join(harness.CLIENTS, "payload.json")


def same(expected, got, what):
    bad = harness.mismatches(expected, got)
    assert not bad, "%s differs:\n  %s" % (what, "\n  ".join(bad))


def big(n):
    """The --big N string of the client."""
    pattern = "abcdefghijklmnopqrstuvwxyz0123456789"
    return (pattern * (n // len(pattern) + 1))[:n]


def long_marker(n):
    return {"__long__": n, "sha256": hashlib.sha256(big(n).encode()).hexdigest()}


def transport_strings(details):
    t = details.get("transport") or {}
    return {v for v in t.values() if isinstance(v, str)}


def assert_alive(p):
    alive = p.expect("ALIVE", others=("FAIL",))
    assert alive["ok"], "the session did not survive: %r\n%s" % (alive, p.output())


PAIRS = [("ws", "json", "rs", "msgpack"), ("rs", "msgpack", "ws", "json"),
         ("ws", "msgpack", "rs", "json"), ("rs", "json", "ws", "msgpack")]
PAIR_IDS = ["%s-%s-to-%s-%s" % p for p in PAIRS]


# ---------------------------------------------------------------------------
# joining

@pytest.mark.parametrize("auth", ["anonymous", "ticket", "wampcra", "wampcra-salted"])
@pytest.mark.parametrize("serializer", ["json", "msgpack"])
@pytest.mark.parametrize("transport", ["ws", "rs"])
def test_join(watched, clients, transport, serializer, auth):
    """wamp_async joins realm1 with each authentication it supports, over each of its
    transports and serializers; wamp.session.get of its own session tells the authid,
    authrole and authmethod the router gave it; its GOODBYE is answered with
    wamp.close.normal."""
    p = wa(clients, "wa", watched, transport, serializer, "join", "--session-get", auth=auth)
    joined = p.expect("JOINED")
    assert joined["serializer"] == {"json": "Json", "msgpack": "MsgPack"}[serializer], joined
    assert 1 <= joined["session"] <= MAX_ID, joined
    s = p.expect("SESSION")
    d = s.get("details")
    assert d, "wamp.session.get of its own session: %r" % s
    want = {"anonymous": (None, "anonymous", "anonymous"), "ticket": ("joe", "user", "ticket"),
            "wampcra": ("alice", "user", "wampcra"), "wampcra-salted": ("bob", "user", "wampcra")}[auth]
    assert d["session"] == joined["session"], d
    assert d["realm"] == "realm1", d
    if want[0]:
        assert d["authid"] == want[0], d
    assert (d["authrole"], d["authmethod"]) == want[1:], d
    left = p.expect("LEFT")
    assert left["goodbye"] == "wamp.close.normal", left
    finish(p)


@pytest.mark.parametrize("transport,serializer", [("ws", "json"), ("rs", "msgpack")])
def test_session_get_names_the_transport(watched, clients, transport, serializer):
    """wamp.session.get tells the framing (WebSocket or RawSocket) and the serializer of
    the session's transport (Crossbar: `channel_framing` "rawsocket"/"websocket" and
    `websocket_protocol` "wamp.2.json" in `transport`)."""
    p = wa(clients, "wa", watched, transport, serializer, "join", "--session-get")
    p.expect("JOINED")
    d = p.expect("SESSION").get("details") or {}
    facts = transport_strings(d)
    framing = {"ws": "websocket", "rs": "rawsocket"}[transport]
    assert framing in facts, "a %s session: wamp.session.get transport = %r" % (framing, d.get("transport"))
    assert "wamp.2.%s" % serializer in facts, d.get("transport")
    finish(p)


REFUSALS = {
    "wrong-ticket": (["--auth", "ticket", "--authid", TICKET_USER, "--secret", "not-the-ticket"], None,
                     "wamp.error.not_authorized"),
    "wrong-cra-secret": (["--auth", "wampcra", "--authid", CRA_USER, "--secret", "not-the-secret"], None,
                         "wamp.error.not_authorized"),
    "unknown-realm": ([], "no.such.realm", "wamp.error.no_such_realm"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
@pytest.mark.parametrize("transport,serializer", [("ws", "json"), ("rs", "msgpack")])
def test_join_refused(watched, clients, transport, serializer, case):
    """A refused join reaches wamp_async as an ABORT with the router's URI (the library
    puts the ABORT into its error text)."""
    auth, realm, uri = REFUSALS[case]
    p = wa(clients, "wa", watched, transport, serializer, "join", auth=auth, realm=realm)
    err = p.expect("ERROR", others=("JOINED",))
    assert err["stage"] == "join" and err["error"] == uri, err
    finish(p)


# ---------------------------------------------------------------------------
# pub/sub and RPC between wamp_async sessions, across transports and serializers

@pytest.mark.parametrize("src_t,src_s,dst_t,dst_s", PAIRS, ids=PAIR_IDS)
def test_pubsub_across_transports_and_serializers(watched, clients, uri, nobin_payload,
                                                  src_t, src_s, dst_t, dst_s):
    """An acknowledged publication from one wamp_async session reaches a wamp_async
    subscriber on the other transport and serializer with args and kwargs intact
    (unicode, integers up to 2^53, floats, nested containers); the publication id is in
    [1, 2^53] and the same in PUBLISHED and EVENT."""
    path, expected = nobin_payload
    sub = wa(clients, "sub", watched, dst_t, dst_s, "subscribe", "--topic", uri)
    sub.expect("READY")
    pub = wa(clients, "pub", watched, src_t, src_s, "publish", "--topic", uri, "--payload", path, "--ack")
    published = pub.expect("PUBLISHED")["publication"]
    assert 1 <= published <= MAX_ID, published
    ev = sub.expect("EVENT")
    same(expected["args"], ev["args"], "EVENT args")
    same(expected["kwargs"], ev["kwargs"], "EVENT kwargs")
    assert ev["publication"] == published, (ev["publication"], published)
    finish(pub)
    finish(sub)


@pytest.mark.parametrize("src_t,src_s,dst_t,dst_s", PAIRS, ids=PAIR_IDS)
def test_rpc_across_transports_and_serializers(watched, clients, uri, nobin_payload,
                                               src_t, src_s, dst_t, dst_s):
    """A wamp_async caller's CALL reaches a wamp_async callee on the other transport and
    serializer, and the echoed RESULT comes back intact."""
    path, expected = nobin_payload
    callee = wa(clients, "callee", watched, dst_t, dst_s, "callee", "--procedure", uri)
    callee.expect("READY")
    caller = wa(clients, "caller", watched, src_t, src_s, "call", "--procedure", uri, "--payload", path)
    res = caller.expect("RESULT")
    inv = callee.expect("INVOKED")
    for what, got in (("INVOCATION", inv), ("RESULT", res)):
        same(expected["args"], got["args"], what + " args")
        same(expected["kwargs"], got["kwargs"], what + " kwargs")
    finish(caller)
    finish(callee)


@pytest.mark.parametrize("realm", ["realm1", REALM_MS, REALM_HIDDEN])
def test_result_details_disclose_the_callee(watched, clients, uri, realm):
    """RESULT details name the callee (`callee`, `callee_authid`, `callee_authrole`) in
    realm1 and realm-ms, and not in realm-hidden (disclose_callee false). wamp_async
    drops RESULT details: they are read off the received message (JSON caller). Joining
    realm-ms and realm-hidden also shows their WELCOME decodes in wamp_async's typed
    details."""
    if realm != "realm1" and not IS_FERROBAR:
        pytest.skip("%s is a ferrobar-only realm" % realm)
    callee = wa(clients, "callee", watched, "rs", "msgpack", "callee", "--procedure", uri,
                auth="ticket", realm=realm)
    callee_id = callee.expect("READY")["session"]
    caller = wa(clients, "caller", watched, "ws", "json", "call", "--procedure", uri, "--args", '["x"]',
                realm=realm)
    res = caller.expect("RESULT")
    assert res["args"] == ["x"], res
    disclosed = {k: v for k, v in res["details"].items() if k.startswith("callee")}
    if realm == REALM_HIDDEN:
        assert disclosed == {}, "realm-hidden disclosed the callee: %r" % res["details"]
    else:
        assert disclosed == {"callee": callee_id, "callee_authid": TICKET_USER, "callee_authrole": "user"}, \
            res["details"]
    finish(caller)
    finish(callee)


# ---------------------------------------------------------------------------
# binary payloads across serializers (Autobahn|Python on the other side)

def test_binary_from_autobahn_msgpack_reaches_wamp_async_json(watched, clients, uri):
    """Autobahn|Python publishes payload.json over MessagePack (binary as `bin`); the
    router converts it for wamp_async's JSON sessions (WebSocket and RawSocket) into the
    WAMP JSON convention, "\\0" + base64, which is what wamp_async hands to its user."""
    subs = [wa(clients, "sub-%s" % t, watched, t, "json", "subscribe", "--topic", uri) for t in ("ws", "rs")]
    for s in subs:
        s.expect("READY")
    pub = clients.py("py-pub", watched.ws_url("ws"), "publish", "--topic", uri, serializer="msgpack")
    pub.expect("PUBLISHED")
    expected = json_convention(harness.load_payload())
    for s in subs:
        ev = s.expect("EVENT")
        same(expected["args"], ev["args"], "%s EVENT args" % s.name)
        same(expected["kwargs"], ev["kwargs"], "%s EVENT kwargs" % s.name)
        finish(s)


def test_binary_from_wamp_async_json_reaches_autobahn(watched, clients, uri):
    """wamp_async (JSON) publishes binary the only way it can, as "\\0" + base64 strings;
    Autobahn|Python subscribers get bytes, over MessagePack (converted by the router) and
    over JSON."""
    subs = [clients.py("py-%s" % s, watched.ws_url("ws"), "subscribe", "--topic", uri, serializer=s)
            for s in ("msgpack", "json")]
    for s in subs:
        s.expect("READY")
    pub = wa(clients, "pub", watched, "rs", "json", "publish", "--topic", uri, "--payload", PAYLOAD_FILE, "--ack")
    pub.expect("PUBLISHED")
    expected = harness.load_payload()
    for s in subs:
        ev = s.expect("EVENT")
        same(expected["args"], ev["args"], "%s EVENT args" % s.name)
        same(expected["kwargs"], ev["kwargs"], "%s EVENT kwargs" % s.name)
    finish(pub)


def test_binary_rpc_autobahn_msgpack_caller_wamp_async_json_callee(watched, clients, uri):
    """An Autobahn|Python caller (MessagePack) sends payload.json to a wamp_async callee
    (JSON, RawSocket): the callee sees "\\0" + base64 strings and echoes them; the caller
    gets its bytes back unchanged."""
    callee = wa(clients, "callee", watched, "rs", "json", "callee", "--procedure", uri)
    callee.expect("READY")
    caller = clients.py("py-caller", watched.ws_url("ws"), "call", "--procedure", uri, serializer="msgpack")
    res = caller.expect("RESULT")
    expected = harness.load_payload()
    same(expected["args"], res["args"], "RESULT args")
    same(expected["kwargs"], res["kwargs"], "RESULT kwargs")
    inv = callee.expect("INVOKED")
    same(json_convention(expected["args"]), inv["args"], "INVOCATION args")
    finish(callee)


def test_binary_to_wamp_async_msgpack_is_a_client_gap(watched, clients, uri):
    """Client gap, recorded: wamp_async over MessagePack cannot decode a `bin` value (its
    payloads are serde_json values), so an EVENT with binary ends its event loop. The
    router is not hurt: it stays up, and a wamp_async JSON subscriber to the same topic
    gets the event."""
    gap = wa(clients, "sub-msgpack", watched, "ws", "msgpack", "subscribe", "--topic", uri)
    ok = wa(clients, "sub-json", watched, "ws", "json", "subscribe", "--topic", uri)
    gap.expect("READY")
    ok.expect("READY")
    pub = clients.py("py-pub", watched.ws_url("ws"), "publish", "--topic", uri, serializer="msgpack")
    pub.expect("PUBLISHED")
    ev = ok.expect("EVENT")
    same(json_convention(harness.load_payload())["args"], ev["args"], "JSON subscriber's EVENT args")
    failed = gap.expect("FAIL", others=("EVENT",))
    assert "byte array" in (failed.get("status") or {}).get("error", ""), failed
    finish(ok)


# ---------------------------------------------------------------------------
# large messages

@pytest.mark.parametrize("caller_t,caller_s,callee_t,callee_s", [
    ("ws", "json", "rs", "msgpack"), ("rs", "json", "ws", "msgpack"), ("small_ws", "json", "small_ws", "msgpack")],
    ids=["ws-json-to-rs-msgpack", "rs-json-to-ws-msgpack", "small_ws-1MiB-limit"])
def test_one_megabyte_call(watched, clients, uri, caller_t, caller_s, callee_t, callee_s):
    """A 1 MB (10^6 octets) string goes to the callee and back intact, across transports
    and serializers, and under the `small_ws` transport's 1 MiB max_message_size."""
    callee = wa(clients, "callee", watched, callee_t, callee_s, "callee", "--procedure", uri)
    callee.expect("READY")
    caller = wa(clients, "caller", watched, caller_t, caller_s, "call", "--procedure", uri, "--big", "1000000")
    res = caller.expect("RESULT")
    assert res["args"] == [long_marker(1000000)], res
    assert callee.expect("INVOKED")["args"] == [long_marker(1000000)]
    finish(caller)
    finish(callee)


def test_message_over_max_message_size_ends_the_connection(watched, clients, uri):
    """A CALL larger than the transport's max_message_size (1.1 MB on `small_ws`, limit
    1 MiB) is refused by ending the connection; the router stays up and the next
    connection on that transport works."""
    caller = wa(clients, "caller", watched, "small_ws", "json", "call", "--procedure", uri,
                "--big", "1100000", "--check-alive")
    err = caller.expect("ERROR", others=("RESULT",))
    assert err["status"]["state"] == "disconnected", err
    assert not caller.expect("ALIVE", others=("FAIL",))["ok"]
    finish(caller)
    if IS_FERROBAR:
        # ferrobar says why before closing: an ABORT with its reason.
        aborts = wire(caller, 3)
        assert aborts and aborts[0][1].get("message"), caller.output()
        assert aborts[0][2] == "wamp.error.protocol_violation", aborts
    again = wa(clients, "again", watched, "small_ws", "json", "join")
    again.expect("JOINED")
    finish(again)


# ---------------------------------------------------------------------------
# RPC errors

def test_no_such_procedure_keeps_the_session(watched, clients, uri):
    """A call to a procedure nobody registered: ERROR wamp.error.no_such_procedure, and
    the session goes on."""
    p = wa(clients, "caller", watched, "rs", "msgpack", "call", "--procedure", uri, "--check-alive")
    err = p.expect("ERROR", others=("RESULT",))
    assert err["error"] == "wamp.error.no_such_procedure", err
    assert_alive(p)
    finish(p)


def test_application_error_from_autobahn_callee(watched, clients, uri):
    """An Autobahn|Python callee raises ApplicationError('com.myapp.error1', ...): the
    wamp_async caller gets that URI. wamp_async does not expose an ERROR's args and
    kwargs; the router forwarded them (read off the received message)."""
    callee = clients.py("py-callee", watched.ws_url("ws"), "callee", "--procedure", uri, "--mode", "error")
    callee.expect("READY")
    caller = wa(clients, "caller", watched, "ws", "json", "call", "--procedure", uri, "--args", "[1]",
                "--check-alive")
    err = caller.expect("ERROR", others=("RESULT",))
    assert err["error"] == "com.myapp.error1", err
    assert_alive(caller)
    finish(caller)
    msg = [m for m in wire(caller, 8) if m[4] == "com.myapp.error1"][0]
    assert msg[5] == ["custom error message", 42, {"nested": [1, "two", None]}], msg
    assert msg[6] == {"reason": "raised by the callee", "code": 7}, msg


def test_error_from_wamp_async_callee(watched, clients, uri):
    """A wamp_async endpoint returning Err: the library answers with ERROR
    `wamp.async.rs.rpc.failed` (its own URI: it cannot send another) and the error text
    as args[0]; an Autobahn|Python caller gets exactly that."""
    callee = wa(clients, "callee", watched, "rs", "json", "callee", "--procedure", uri, "--mode", "error")
    callee.expect("READY")
    caller = clients.py("py-caller", watched.ws_url("ws"), "call", "--procedure", uri, "--no-payload")
    err = caller.expect("ERROR", others=("RESULT",))
    assert err["error"] == "wamp.async.rs.rpc.failed", err
    assert "the callee failed on purpose" in err["args"][0], err
    finish(callee)


def test_call_canceled_when_the_callee_leaves(watched, clients, uri):
    """The callee (Autobahn|Python) is killed while wamp_async's call is in flight: the
    caller gets ERROR wamp.error.canceled and keeps its session."""
    callee = clients.py("py-callee", watched.ws_url("ws"), "callee", "--procedure", uri, "--mode", "hang")
    callee.expect("READY")
    caller = wa(clients, "caller", watched, "rs", "msgpack", "call", "--procedure", uri, "--args", "[1]",
                "--check-alive")
    callee.expect("INVOKED")
    callee.kill()
    err = caller.expect("ERROR", others=("RESULT",))
    assert err["error"] == "wamp.error.canceled", err
    assert_alive(caller)
    finish(caller)


def test_procedure_already_exists_same_session(watched, clients, uri):
    """Registering the same procedure twice in one session: the second REGISTER gets
    ERROR wamp.error.procedure_already_exists, the session goes on."""
    p = wa(clients, "wa", watched, "ws", "msgpack", "register", "--procedure", uri, "--twice")
    p.expect("READY")
    err = p.expect("ERROR", others=("READY",))
    assert err["error"] == "wamp.error.procedure_already_exists", err
    assert_alive(p)
    finish(p)


def test_procedure_already_exists_other_session(watched, clients, uri):
    """Another session (other transport) registering a taken procedure gets
    wamp.error.procedure_already_exists; its call then reaches the first callee."""
    first = wa(clients, "first", watched, "rs", "json", "callee", "--procedure", uri)
    first.expect("READY")
    second = wa(clients, "second", watched, "ws", "msgpack", "register", "--procedure", uri, "--then-call")
    err = second.expect("ERROR", others=("READY",))
    assert err["error"] == "wamp.error.procedure_already_exists", err
    assert second.expect("RESULT")["args"] == ["after"]
    assert first.expect("INVOKED")["args"] == ["after"]
    finish(second)
    finish(first)


# Crossbar fails the connection (WebSocket close 1011, "WAMP Internal Error") on these
# three; ferrobar answers ERROR wamp.error.invalid_uri and keeps the session.
CROSSBAR_CLOSES_ON_BAD_URI = pytest.mark.xfail(
    harness.IS_CROSSBAR, strict=True,
    reason="Crossbar closes the connection on an invalid URI in CALL/PUBLISH/REGISTER")


@pytest.mark.parametrize("step", [
    pytest.param("call", marks=CROSSBAR_CLOSES_ON_BAD_URI),
    pytest.param("publish", marks=CROSSBAR_CLOSES_ON_BAD_URI),
    "subscribe",
    pytest.param("register", marks=CROSSBAR_CLOSES_ON_BAD_URI),
    "register-reserved"])
@pytest.mark.parametrize("transport,serializer", [("ws", "json"), ("rs", "msgpack")])
def test_invalid_uri_is_an_error_not_a_disconnect(watched, clients, transport, serializer, step):
    """CALL, PUBLISH (acknowledged), SUBSCRIBE and REGISTER of "com..bad", and REGISTER of
    a URI in the reserved `wamp.` space: ERROR wamp.error.invalid_uri, and the session
    goes on."""
    p = wa(clients, "wa", watched, transport, serializer, "bad-uri", "--steps", step)
    s = p.expect("STEP", others=("FAIL",))
    assert s["step"] == step, s
    assert not s["ok"] and s["error"]["error"] == "wamp.error.invalid_uri", s
    assert_alive(p)
    finish(p)


@pytest.mark.xfail(harness.IS_CROSSBAR, strict=True,
                   reason="Crossbar forwards progressive results to a caller that did not ask for them")
def test_unrequested_progressive_results_do_not_reach_wamp_async(watched, clients, uri):
    """wamp_async cannot ask for progressive results and takes any RESULT for the final
    one. A callee (a raw peer) that sends a progressive YIELD anyway, then the final one:
    the INVOCATION did not ask for progress, and wamp_async gets the final result."""
    async def scenario(net):
        callee = await net.raw()
        await callee.register(uri)
        caller = wa(clients, "caller", watched, "ws", "json", "call", "--procedure", uri, "--args", '["x"]')
        inv = await callee.expect(adv_wamp.INVOCATION, timeout=TIMEOUT)
        callee.yield_(inv[1], args=["partial"], options={"progress": True})
        callee.yield_(inv[1], args=["final"])
        res = await asyncio.get_running_loop().run_in_executor(None, caller.expect, "RESULT")
        return inv, res, caller

    inv, res, caller = adv_wamp.run(watched.ws_url("ws"), scenario)
    assert not inv[3].get("receive_progress"), inv
    assert res["args"] == ["final"], res
    finish(caller)


def test_wamp_async_cannot_join_a_shared_registration(watched, clients, uri):
    """wamp_async registers with no options (invoke `single`): a procedure another callee
    registered with invoke=roundrobin is refused to it with Crossbar's
    wamp.error.procedure_exists_with_different_invocation_policy (Crossbar answers
    procedure_already_exists only when the existing registration is `single`), and calls
    keep going to the shared one."""
    async def scenario(net):
        shared = await net.raw()
        await shared.register(uri, {"invoke": "roundrobin"})
        p = wa(clients, "wa", watched, "rs", "msgpack", "register", "--procedure", uri, "--then-call")
        err = await asyncio.get_running_loop().run_in_executor(None, lambda: p.expect("ERROR", others=("READY",)))
        inv = await shared.expect(adv_wamp.INVOCATION, timeout=TIMEOUT)
        shared.yield_(inv[1], args=["from the shared callee"])
        res = await asyncio.get_running_loop().run_in_executor(None, p.expect, "RESULT")
        return err, res, p

    err, res, p = adv_wamp.run(watched.ws_url("ws"), scenario)
    assert err["error"] == "wamp.error.procedure_exists_with_different_invocation_policy", err
    assert res["args"] == ["from the shared callee"], res
    finish(p)


# ---------------------------------------------------------------------------
# pub/sub behaviour

@pytest.mark.parametrize("transport,serializer", [("ws", "json"), ("rs", "msgpack")])
def test_publisher_exclusion(watched, clients, uri, transport, serializer):
    """wamp_async cannot set exclude_me: its publications go to every subscriber but
    itself. Two sessions A and B on the topic; A publishes "first", B "second", A
    "third": A gets only "second", B gets "first" and "third" (the order makes the check
    exact)."""
    other = ("rs", "json") if transport == "ws" else ("ws", "msgpack")
    p = wa(clients, "wa", watched, transport, serializer, "exclude-me", "--topic", uri, other=other)
    p.expect("READY")
    done = p.expect("DONE", others=("FAIL",))
    assert done["a"] == ["second"], done
    assert done["b"] == ["first", "third"], done
    assert p.wait_exit() == 0, p.output()


def test_unsubscribe_unregister_and_calling_oneself(watched, clients, uri):
    """UNSUBSCRIBE stops the events (a later publication to the topic reaches nothing,
    while one to another topic arrives); a session may call its own procedure; after
    UNREGISTER a call gets wamp.error.no_such_procedure."""
    p = wa(clients, "wa", watched, "rs", "msgpack", "lifecycle", "--topic", uri + ".a",
           "--topic2", uri + ".b", "--procedure", uri + ".p", other=("ws", "json"))
    steps = {}
    for _ in range(7):
        s = p.expect("STEP", others=("FAIL",))
        steps[s["step"]] = s
    assert steps["event"]["ok"] and steps["event"]["result"] == ["one"], steps["event"]
    assert steps["unsubscribe"]["ok"], steps["unsubscribe"]
    after = steps["after-unsubscribe"]["result"]
    assert after == {"got": ["three"], "late_queued": [], "late_events": 0}, after
    assert steps["call"]["result"] == 1, steps["call"]
    assert steps["self-call"]["result"] == 2, steps["self-call"]
    assert steps["unregister"]["ok"], steps["unregister"]
    gone = steps["call-after-unregister"]
    assert not gone["ok"] and gone["error"]["error"] == "wamp.error.no_such_procedure", gone
    finish(p)


def test_event_order_from_wamp_async_publisher(watched, clients, uri):
    """200 unacknowledged publications and one acknowledged from wamp_async (RawSocket,
    MessagePack) reach a wamp_async subscriber (WebSocket, JSON) and an Autobahn|Python
    subscriber complete and in publish order."""
    n = 200
    wsub = wa(clients, "wa-sub", watched, "ws", "json", "subscribe", "--topic", uri, "--count", str(n + 1),
              "--quiet")
    psub = clients.py("py-sub", watched.ws_url("ws"), "subscribe", "--topic", uri, "--count", str(n + 1),
                      "--quiet", serializer="msgpack")
    wsub.expect("READY")
    psub.expect("READY")
    pub = wa(clients, "pub", watched, "rs", "msgpack", "publish", "--topic", uri, "--count", str(n), "--sequence")
    pub.expect("PUBLISHED")
    assert wsub.expect("EVENTS")["args0"] == list(range(n + 1))
    assert psub.expect("EVENTS")["args0"] == list(range(n + 1))
    finish(pub)
    finish(wsub)


# ---------------------------------------------------------------------------
# many calls at once

def test_burst_of_concurrent_calls(watched, clients, uri):
    """300 concurrent calls from one wamp_async session (JSON; random request ids, as
    wamp_async draws them) to a wamp_async callee (MessagePack), both on WebSocket (see
    test_burst_to_rawsocket_callee for RawSocket): every call gets its own result."""
    n = 300
    callee = wa(clients, "callee", watched, "ws", "msgpack", "callee", "--procedure", uri, "--count", str(n),
                "--quiet")
    callee.expect("READY")
    caller = wa(clients, "caller", watched, "ws", "json", "burst", "--procedure", uri, "--count", str(n))
    res = caller.expect("RESULTS")
    assert res == {"ok": n, "bad": []}, res
    finish(caller)
    finish(callee)


def test_burst_to_rawsocket_callee(watched, clients, uri):
    """Client bug, recorded: wamp_async's RawSocket transport reads a frame with two
    `read_exact`s inside a `select!` that also takes the client's own requests; when a
    request (here a YIELD) wins while a frame is half read, the read is dropped and the
    stream loses its framing ("RawSocket message had an invalid header"), so a RawSocket
    callee fails under concurrent invocations (seen against ferrobar, which delivers the
    burst faster than Crossbar; test_burst_to_raw_rawsocket_callee checks ferrobar's
    frames). What the router must do either way: every call is answered, with its own
    result or, once the callee is gone, wamp.error.canceled; nothing hangs, the router
    stays up."""
    n = 300
    callee = wa(clients, "callee", watched, "rs", "msgpack", "callee", "--procedure", uri, "--count", str(n),
                "--quiet")
    callee.expect("READY")
    caller = wa(clients, "caller", watched, "ws", "json", "burst", "--procedure", uri, "--count", str(n))
    res = caller.expect("RESULTS")
    for b in res["bad"]:
        assert "error" in b and b["error"]["error"] == "wamp.error.canceled", res
    finish(caller)
    callee.wait_any(["DONE", "FAIL"])
    callee.wait_exit()


class RawSocketCallee:
    """A raw RawSocket peer (JSON) that registers a procedure and answers each INVOCATION
    with its args, checking every frame header the router sends (reserved bits zero, type
    0 to 2). Blocking socket, every read bounded by `timeout`."""

    def __init__(self, host, port, procedure, timeout=TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.sendall(bytes([0x7F, 0xF1, 0, 0]))  # 16 MiB, JSON
        reply = self._read(4)
        assert reply == bytes([0x7F, 0xF1, 0, 0]), "RawSocket handshake reply %s" % reply.hex()
        self.buf = b""
        self.send([1, "realm1", {"roles": {"callee": {}}}])
        assert self.recv()[0] == 2, "no WELCOME"
        self.send([64, 1, {}, procedure])
        assert self.recv()[0] == 65, "no REGISTERED"

    def _read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            assert chunk, "the router closed the RawSocket connection"
            data += chunk
        return data

    def send(self, msg):
        body = json.dumps(msg).encode()
        self.sock.sendall(len(body).to_bytes(4, "big") + body)

    def recv(self):
        """The next WAMP message (PINGs answered)."""
        while True:
            head = self._read(4)
            assert head[0] & 0xF8 == 0 and head[0] & 7 in (0, 1, 2), "bad frame header %s" % head.hex()
            body = self._read(int.from_bytes(head[1:], "big"))
            if head[0] & 7 == 1:
                self.sock.sendall(bytes([2]) + head[1:] + body)
            elif head[0] & 7 == 0:
                return json.loads(body)

    def serve(self, n):
        for _ in range(n):
            m = self.recv()
            assert m[0] == 68, "expected INVOCATION, got %r" % (m,)
            self.send([70, m[1], {}] + m[4:5])

    def close(self):
        self.sock.close()


def test_burst_to_raw_rawsocket_callee(watched, clients, uri):
    """The same burst as test_burst_to_rawsocket_callee, to a raw RawSocket peer that
    checks each frame: 300 INVOCATIONs arrive as well-formed frames and every call gets
    its own result. (So the framing errors wamp_async reports there are its own.)"""
    n = 300
    callee = RawSocketCallee(*watched.tcp("rs"), uri)
    try:
        caller = wa(clients, "caller", watched, "ws", "json", "burst", "--procedure", uri, "--count", str(n))
        callee.serve(n)
        res = caller.expect("RESULTS")
        assert res == {"ok": n, "bad": []}, res
        finish(caller)
    finally:
        callee.close()


# ---------------------------------------------------------------------------
# meta API

@pytest.mark.parametrize("transport,serializer", [("ws", "json"), ("rs", "msgpack")])
def test_meta_api_by_call(watched, clients, uri, transport, serializer):
    """The session, registration and subscription meta procedures, called by wamp_async
    about its own session, registration and subscription."""
    proc, topic = uri + ".proc", uri + ".topic"
    p = wa(clients, "wa", watched, transport, serializer, "meta", "--procedure", proc, "--topic", topic)
    ids = p.expect("IDS")
    me, reg, sub = ids["session"], ids["registration"], ids["subscription"]
    got = {}
    for _ in range(15):
        m = p.expect("META", others=("FAIL",))
        got.setdefault(m["procedure"], []).append(m)
    count = got["wamp.session.count"][0]["result"]
    assert isinstance(count, int) and count >= 1, got["wamp.session.count"]
    assert me in got["wamp.session.list"][0]["result"], got["wamp.session.list"]
    own, unknown = got["wamp.session.get"]
    assert own["result"]["session"] == me and own["result"]["authrole"] == "anonymous", own
    assert unknown["error"]["error"] == "wamp.error.no_such_session", unknown
    lookup, nobody = got["wamp.registration.lookup"]
    assert lookup["result"] == reg, lookup
    assert nobody["result"] is None, nobody
    assert got["wamp.registration.match"][0]["result"] == reg
    r = got["wamp.registration.get"][0]["result"]
    assert (r["id"], r["uri"], r["match"], r["invoke"]) == (reg, proc, "exact", "single"), r
    assert got["wamp.registration.list_callees"][0]["result"] == [me]
    assert got["wamp.registration.count_callees"][0]["result"] == 1
    assert got["wamp.subscription.lookup"][0]["result"] == sub
    assert got["wamp.subscription.match"][0]["result"] == [sub]
    s = got["wamp.subscription.get"][0]["result"]
    assert (s["id"], s["uri"], s["match"]) == (sub, topic, "exact"), s
    assert got["wamp.subscription.list_subscribers"][0]["result"] == [me]
    assert got["wamp.subscription.count_subscribers"][0]["result"] == 1
    finish(p)


def test_session_kill(watched, clients):
    """wamp.session.kill(id, reason=..., message=...) from one wamp_async session ends
    another's: the victim gets GOODBYE with that reason and message, and its connection
    ends cleanly; the killer's call returns null. (Without a reason, ferrobar says
    wamp.close.killed and Crossbar wamp.close.normal: test_meta.py.)"""
    victim = wa(clients, "victim", watched, "rs", "msgpack", "join", "--stay")
    vid = victim.expect("READY")["session"]
    killer = wa(clients, "killer", watched, "ws", "json", "call", "--procedure", "wamp.session.kill",
                "--args", json.dumps([vid]), "--kwargs", '{"reason": "com.interop.kicked", "message": "bye now"}')
    res = killer.expect("RESULT")
    assert res["args"] in ([None], None), res
    gone = victim.expect("DISCONNECTED")
    assert gone["goodbye"] == "com.interop.kicked", gone
    assert "bye now" in json.dumps(gone["message"]), gone
    assert gone["status"] == {"state": "disconnected", "error": None}, gone
    finish(victim)
    finish(killer)
