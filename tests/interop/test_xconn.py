"""xconn (PyPI `xconn` 0.5.1 on `wampproto` 0.4.0, the XConn project's Python
client) against the router: one node (multiclient.py) with WebSocket and
RawSocket on TCP and on Unix sockets, anonymous / ticket / WAMP-CRA on each,
two shards. Every client is a process of clients/xconn_client.py (one scenario
each, one `TAG {json}` line per fact, a watchdog), so a hung client never
hangs pytest.

What xconn itself offers is used as is: its transports (ws://, rs://,
unix+ws://, unix://), its serializers, its joiner and authenticators, and its
synchronous Session API (call, register, subscribe, publish with option dicts,
leave). xconn 0.5.1 announces no Advanced Profile feature in HELLO and has no
API for progressive results, progressive call invocations or CANCEL: for those,
the client writes the wampproto messages on xconn's own session and announces
exactly those features (see the client's docstring).

Tests marked `ferrobar_only` check ferrobar options or behaviour Crossbar does
not have (realm-ms, realm-hidden, progressive call invocations, disclose_me,
an ERROR for a canceled call to a callee without call_canceling, an ERROR for
an INVOCATION too large for the callee, where Crossbar drops the callee's
session); they are skipped, with that reason, only under Crossbar.

xconn receives at most 1 MiB on every transport: it announces 2^20 in its
RawSocket handshake, and its WebSocket client (`websockets`, default max_size
2^20, which xconn does not expose) closes the connection on a bigger message.
Where a peer must receive more, that peer is Autobahn|Python.
"""

import hashlib
import os
import sys

import pytest

import harness
from harness import IS_FERROBAR, load_payload, mismatches
import multiclient as mc
from multiclient import node, watched  # noqa: F401 (fixtures)

XCONN = os.path.join(harness.CLIENTS, "xconn_client.py")

def ferrobar_only(why):
    """Skipped under Crossbar only, with the reason."""
    return pytest.mark.skipif(not IS_FERROBAR, reason="ferrobar-specific: " + why)


NO_PCI = ferrobar_only("Crossbar 26.10 has no progressive call invocations")
CANCEL_PLAIN = ferrobar_only("Crossbar turns a CANCEL of a call to a callee without call_canceling into `skip` "
                             "and then sends the caller nothing")

TRANSPORTS = ["ws", "ws_unix", "rs", "rs_unix"]
SERIALIZERS = ["json", "msgpack", "cbor"]
MATRIX = [(t, s) for t in TRANSPORTS for s in SERIALIZERS]

# credentials of multiclient.py's node: (authmethod, authid, secret), expected authid / authrole
AUTHS = {
    "anonymous": (None, None, "anonymous"),
    "ticket": (("ticket", mc.TICKET_USER, mc.TICKET), mc.TICKET_USER, "user"),
    "wampcra": (("wampcra", mc.CRA_USER, mc.CRA_SECRET), mc.CRA_USER, "user"),
    "wampcra-salted": (("wampcra", mc.CRA_SALTED_USER, mc.CRA_SALTED_SECRET), mc.CRA_SALTED_USER, "user"),
}
AUTH_ORDER = ["anonymous", "ticket", "wampcra", "wampcra-salted"]

EVENTS_DROPPED = "ferrobar.session.on_events_dropped"
BIG = 1_500_000          # above the 1 MiB that xconn announces in its RawSocket handshake
ONE_MB = 1_000_000       # below it, even with the message around it (binary: msgpack / cbor)


def url_of(n, transport):
    if transport in ("ws", "small_ws"):
        return n.ws_url(transport)
    if transport == "ws_unix":
        return "unix+ws://" + n.unix("ws_unix")
    if transport == "rs":
        host, port = n.tcp("rs")
        return "rs://%s:%d" % (host, port)
    if transport == "rs_unix":
        return "unix://" + n.unix("rs_unix")
    raise ValueError(transport)


def xconn(clients, name, n, command, *args, transport="ws", serializer="json", realm=mc.REALM, auth=None,
          features=None, peer=None, timeout=harness.CLIENT_TIMEOUT):
    """Start clients/xconn_client.py. auth: (method, authid, secret);
    peer: (transport, serializer) of the scenario's second session."""
    argv = [sys.executable, XCONN, "--url", url_of(n, transport), "--serializer", serializer,
            "--realm", realm, "--timeout", str(timeout)]
    if auth:
        argv += ["--auth", auth[0], "--authid", auth[1], "--secret", auth[2]]
    if features is not None:
        argv += ["--features", features]
    if peer:
        argv += ["--peer-url", url_of(n, peer[0]), "--peer-serializer", peer[1]]
    return clients.start(name, argv + [command] + list(args))


def autobahn(clients, name, n, command, *args, serializer="json"):
    """Autobahn|Python (clients/py_client.py) on the node's WebSocket."""
    return clients.py(name, n.ws_url("ws"), command, *args, serializer=serializer)


def finished(*procs):
    for p in procs:
        assert p.wait_exit() == 0, p.output()


def assert_payload(what, got, proc):
    errors = mismatches(load_payload(), {"args": got["args"], "kwargs": got["kwargs"]})
    assert not errors, "%s differs from clients/payload.json:\n  %s\n%s" % (what, "\n  ".join(errors), proc.output())


def no_marker(proc, tag):
    assert not proc.markers(tag), "%s printed %s: %r\n%s" % (proc.name, tag, proc.markers(tag), proc.output())


def big_bytes(n):
    """What xconn_client.py sends for bytes:N / --size N."""
    return (hashlib.sha256(b"ferrobar-xconn").digest() * (n // 32 + 1))[:n]


def big_digest(n):
    """How xconn_client.py prints big_bytes(n) when it receives it."""
    return {"__bytes_len__": n, "sha256": hashlib.sha256(big_bytes(n)).hexdigest()}


def text_digest(n):
    """How xconn_client.py prints the n characters it sends for text:N / --size N --text."""
    text = ("ferrobar-xconn " * (n // 15 + 1))[:n]
    return {"__str_len__": n, "sha256": hashlib.sha256(text.encode()).hexdigest()}


# ---------------------------------------------------------------------------
# the matrix: join (each authmethod) + pub/sub + RPC, both directions

def _matrix_id(c):
    return "%s-%s" % c


@pytest.mark.parametrize("combo", MATRIX, ids=_matrix_id)
def test_roundtrip_matrix(combo, watched, clients, uri):
    """xconn session A on this transport/serializer, authenticated by one of
    anonymous / ticket / WAMP-CRA / salted WAMP-CRA (rotating), session B (in
    the same process) on another transport and serializer. A publishes
    clients/payload.json to B's topic and calls B's echo, then B does the same
    to A: every event, invocation and result carries the payload intact
    (binary, unicode, 2^53 integers), although it crossed serializers; A's
    WELCOME carries the authid/authrole/authmethod of its credentials."""
    i = MATRIX.index(combo)
    transport, serializer = combo
    kind = AUTH_ORDER[i % len(AUTH_ORDER)]
    auth, authid, authrole = AUTHS[kind]
    peer = MATRIX[(i + 5) % len(MATRIX)]
    assert peer[0] != transport and peer[1] != serializer
    c = xconn(clients, "xconn A=%s/%s B=%s/%s" % (transport, serializer, peer[0], peer[1]), watched, "roundtrip",
              "--topic", uri + ".topic", "--procedure", uri + ".echo",
              transport=transport, serializer=serializer, auth=auth, peer=peer)
    joined = c.expect("JOINED")
    a = joined["A"]
    assert a["authrole"] == authrole, joined
    if authid is not None:
        assert a["authid"] == authid, joined
        assert a["authmethod"] == auth[0], joined
    else:
        assert a["authmethod"] == "anonymous" and a["authid"], joined
    assert a["session"] != joined["B"]["session"], joined
    c.expect("READY")
    invoked, results, events = {}, {}, {}
    for _ in range(2):
        inv = c.expect("INVOKED", others=("ERROR", "FAIL"))
        invoked[inv["at"]] = inv
        res = c.expect("RESULT", others=("ERROR", "FAIL"))
        results[res["at"]] = res
    for _ in range(2):
        ev = c.expect("EVENT", others=("ERROR", "FAIL"))
        events[ev["at"]] = ev
    for side in ("A", "B"):
        assert_payload("the event at %s" % side, events[side], c)
        assert_payload("the invocation at %s" % side, invoked[side], c)
        assert_payload("the call result at %s" % side, results[side], c)
    c.expect("DONE")
    for left in c.markers("LEFT"):
        assert left["reason"] == "wamp.close.normal", left
    finished(c)


@pytest.mark.parametrize("transport,serializer,kind,peer", [
    ("ws", "cbor", "wampcra", ("rs_unix", "json")),
    ("rs", "json", "ticket", ("ws", "msgpack")),
    ("rs_unix", "msgpack", "anonymous", ("rs", "cbor")),
], ids=["ws-cbor-wampcra", "rs-json-ticket", "rs_unix-msgpack-anonymous"])
def test_roundtrip_async_api(transport, serializer, kind, peer, watched, clients, uri):
    """The same round trip with xconn's asyncio API (AsyncClient / AsyncSession,
    its own asyncio transports; xconn's AsyncClient has no WebSocket over a
    Unix socket: it accepts only ws:// and wss:// for WebSocket):
    payloads intact both ways, WELCOME with the credentials' authid/authrole."""
    auth, authid, authrole = AUTHS[kind]
    argv = ["--topic", uri + ".topic", "--procedure", uri + ".echo"]
    c = xconn(clients, "xconn async A=%s/%s" % (transport, serializer), watched, "roundtrip-async", *argv,
              transport=transport, serializer=serializer, auth=auth, peer=peer)
    a = c.expect("JOINED")
    assert a["at"] == "A" and a["authrole"] == authrole, a
    if authid:
        assert a["authid"] == authid and a["authmethod"] == auth[0], a
    c.expect("JOINED")
    c.expect("READY")
    got = {}
    for _ in range(2):
        inv = c.expect("INVOKED", others=("ERROR",))
        got["INVOKED", inv["at"]] = inv
        res = c.expect("RESULT", others=("ERROR",))
        got["RESULT", res["at"]] = res
    for _ in range(2):
        ev = c.expect("EVENT", others=("ERROR",))
        got["EVENT", ev["at"]] = ev
    for (what, side), value in sorted(got.items()):
        assert_payload("the %s at %s" % (what.lower(), side), value, c)
    c.expect("DONE")
    finished(c)


# ---------------------------------------------------------------------------
# join

@pytest.mark.parametrize("kind,transport,serializer", [
    ("anonymous", "rs_unix", "msgpack"),
    ("ticket", "ws", "cbor"),
    ("wampcra", "rs", "json"),
    ("wampcra-salted", "ws_unix", "msgpack"),
])
def test_join_and_leave(kind, transport, serializer, watched, clients):
    """Each authmethod: WELCOME with the expected authid, authrole and
    authmethod; the router announces the broker and dealer roles; xconn's
    leave() (GOODBYE wamp.close.close_realm) is answered with GOODBYE
    wamp.close.normal, as Crossbar does."""
    auth, authid, authrole = AUTHS[kind]
    c = xconn(clients, "xconn join", watched, "join", transport=transport, serializer=serializer, auth=auth)
    j = c.expect("JOINED")
    assert j["authrole"] == authrole, j
    assert j["authmethod"] == (auth[0] if auth else "anonymous"), j
    if authid:
        assert j["authid"] == authid, j
    assert j["realm"] == mc.REALM
    assert 1 <= j["session"] <= 2 ** 53, j
    assert {"broker", "dealer"} <= set(j["roles"]), j
    left = c.expect("LEFT")
    assert left["reason"] == "wamp.close.normal", left
    finished(c)


@pytest.mark.parametrize("auth,expected", [
    (("ticket", mc.TICKET_USER, "not-the-ticket"), "wamp.error.not_authorized"),
    (("wampcra", mc.CRA_USER, "not-the-secret"), "wamp.error.not_authorized"),
    (("ticket", "nobody", "x"), "wamp.error.not_authorized"),
], ids=["bad-ticket", "bad-cra-secret", "unknown-ticket-user"])
def test_join_refused(auth, expected, watched, clients):
    """Wrong credentials: ABORT wamp.error.not_authorized (xconn raises it from
    connect())."""
    c = xconn(clients, "xconn join", watched, "join", transport="rs", serializer="cbor", auth=auth)
    a = c.expect("ABORT", others=("JOINED",))
    assert a["error"] == expected, a
    finished(c)


def test_join_unknown_realm(watched, clients):
    c = xconn(clients, "xconn join", watched, "join", transport="ws", realm="no.such.realm")
    a = c.expect("ABORT", others=("JOINED",))
    assert a["error"] == "wamp.error.no_such_realm", a
    finished(c)


# ---------------------------------------------------------------------------
# pub/sub

@pytest.mark.parametrize("match,transport,serializer", [
    ("exact", "ws", "msgpack"),
    ("prefix", "rs", "cbor"),
    ("wildcard", "rs_unix", "json"),
])
def test_subscription_match_policies(match, transport, serializer, watched, clients, uri):
    """An xconn subscription with options {"match": ...} gets exactly the
    publications whose topic matches (prefix `app.user.`: `app.user.get` and
    `app.user.get.deep`, not `app.user` nor `app.users.get`; wildcard
    `app..get`: any one component in the middle, not `app.user.get.deep`), in
    publish order; a pattern subscription's EVENT details name the concrete
    topic, an exact one's do not."""
    base = uri + ".app"
    topics = [base + ".user.get", base + ".user.get.deep", base + ".user", base + ".users.get",
              base + ".order.get", base + ".x.get", uri + ".other.user.get"]
    pattern = {"exact": base + ".user.get", "prefix": base + ".user.", "wildcard": base + "..get"}[match]
    expected = {
        "exact": [base + ".user.get"],
        "prefix": [base + ".user.get", base + ".user.get.deep"],
        "wildcard": [base + ".user.get", base + ".users.get", base + ".order.get", base + ".x.get"],
    }[match]
    c = xconn(clients, "xconn pubsub", watched, "pubsub-match", "--match", match, "--pattern", pattern,
              "--topics", ",".join(topics), "--done", uri + ".done",
              transport=transport, serializer=serializer, peer=("ws", "json"))
    c.expect("READY")
    got = c.expect("EVENTS")["events"]
    assert [e["args"][0] for e in got] == expected, got
    for e in got:
        if match == "exact":
            assert "topic" not in e["details"], e
        else:
            assert e["topic"] == e["args"][0], e
    finished(c)


PUBLISH_LABELS = {
    "P": ["include_me", "exclude", "exclude_authid", "exclude_authrole", "final"],
    "S2": ["default", "include_me", "eligible", "exclude_authid", "eligible_authrole", "exclude_authrole",
           "disclose", "final"],
    "S3": ["default", "include_me", "exclude", "eligible_authid", "disclose", "final"],
}


def _publish_options(clients, n, uri, transport, serializer, peer):
    c = xconn(clients, "xconn publish options", n, "publish-options", "--topic", uri + ".news",
              "--ticket-authid", mc.TICKET_USER, "--ticket", mc.TICKET,
              transport=transport, serializer=serializer, peer=peer)
    ids = c.expect("IDS")
    c.expect("PUBLISHED")
    seen = {}
    for _ in range(3):
        ev = c.expect("EVENTS")
        seen[ev["at"]] = ev["events"]
    labels = {k: [e["label"] for e in v] for k, v in seen.items()}
    assert labels == PUBLISH_LABELS, labels
    finished(c)
    return ids, seen


def test_publish_options(watched, clients, uri):
    """xconn passes publish options to the wire unchanged: exclude_me (default
    true), eligible / exclude by session id, eligible_authid / exclude_authid,
    eligible_authrole / exclude_authrole, acknowledge (every publish is
    acknowledged before the next). P is anonymous (RawSocket, msgpack); S2
    anonymous and S3 `joe` (ticket, role user) on WebSocket, CBOR. Events
    carry no publisher when the publisher is not disclosed."""
    ids, seen = _publish_options(clients, watched, uri, "rs", "msgpack", ("ws", "cbor"))
    for who, events in seen.items():
        plain = [e for e in events if e["label"] != "disclose"]
        assert all("publisher" not in e["details"] for e in plain), (who, plain)


@ferrobar_only("Crossbar ignores PUBLISH disclose_me (it discloses by role permission only)")
def test_publish_disclose_me(watched, clients, uri):
    """PUBLISH options disclose_me=true (Crossbar ignores it and discloses by
    role permission only): EVENT details publisher, publisher_authid,
    publisher_authrole; the other publications stay anonymous. Same plan as
    test_publish_options, other transports."""
    ids, seen = _publish_options(clients, watched, uri, "ws_unix", "json", ("rs_unix", "cbor"))
    for who in ("S2", "S3"):
        disclosed = [e for e in seen[who] if e["label"] == "disclose"][0]["details"]
        assert disclosed.get("publisher") == ids["P"]["session"], disclosed
        assert disclosed.get("publisher_authid") == ids["P"]["authid"], disclosed
        assert disclosed.get("publisher_authrole") == "anonymous", disclosed
        others = [e for e in seen[who] if e["label"] != "disclose"]
        assert all("publisher" not in e["details"] for e in others), others


def test_retained_event(watched, clients, uri):
    """publish(options={"retain": True}) keeps the last event; a later
    subscribe(options={"get_retained": True}) gets it (details.retained), then
    live events as usual."""
    c = xconn(clients, "xconn retain", watched, "retain", "--topic", uri + ".state",
              transport="ws_unix", serializer="cbor", peer=("rs", "json"))
    got = c.expect("EVENTS")["events"]
    assert [e["args"] for e in got] == [["latest"], ["live"]], got
    assert got[0]["kwargs"] == {"n": 2} and got[0]["details"].get("retained") is True, got
    assert not got[1]["details"].get("retained"), got
    finished(c)


# ---------------------------------------------------------------------------
# RPC: application errors

@pytest.mark.parametrize("xser,aser", [("cbor", "json"), ("json", "msgpack")])
def test_application_error_from_autobahn_callee(xser, aser, watched, clients, uri):
    """An Autobahn|Python callee raises ApplicationError('com.myapp.error1',
    ...): the xconn caller gets that URI with its args and kwargs."""
    proc = uri + ".fails"
    callee = autobahn(clients, "autobahn callee", watched, "callee", "--procedure", proc, "--mode", "error",
                      serializer=aser)
    callee.expect("READY")
    c = xconn(clients, "xconn caller", watched, "call", "--procedure", proc, transport="rs", serializer=xser)
    err = c.expect("ERROR", others=("RESULT",))
    assert err["error"] == "com.myapp.error1", err
    assert err["args"] == ["custom error message", 42, {"nested": [1, "two", None]}], err
    assert err["kwargs"] == {"reason": "raised by the callee", "code": 7}, err
    finished(c)


@pytest.mark.parametrize("caller", ["xconn", "autobahn"])
def test_application_error_from_xconn_callee(caller, watched, clients, uri):
    """An xconn callee raising ApplicationError('com.myapp.error1', args...)
    and a plain Python exception (xconn answers wamp.error.runtime_error with
    the message): the caller gets the URI and args."""
    proc = uri + ".fails"
    callee = xconn(clients, "xconn callee", watched, "callee", "--procedure", proc, "--mode", "error",
                   transport="rs_unix", serializer="msgpack")
    callee.expect("READY")
    proc2 = uri + ".raises"
    callee2 = xconn(clients, "xconn callee (exception)", watched, "callee", "--procedure", proc2,
                    "--mode", "exception", transport="ws", serializer="cbor")
    callee2.expect("READY")
    for p, uri_, args in [(proc, "com.myapp.error1", ["custom error message", 42, {"nested": [1, "two", None]}]),
                          (proc2, "wamp.error.runtime_error", ["plain python exception"])]:
        if caller == "xconn":
            c = xconn(clients, "xconn caller", watched, "call", "--procedure", p, transport="ws", serializer="json")
        else:
            c = autobahn(clients, "autobahn caller", watched, "call", "--procedure", p, "--no-payload",
                         serializer="json")
        err = c.expect("ERROR", others=("RESULT",))
        assert err["error"] == uri_, err
        assert err["args"] == args, err
        finished(c)


@pytest.mark.xfail(strict=True, reason="xconn 0.5.1 client bug: a callee's ApplicationError kwargs are not sent "
                                       "(xconn/session.py builds ERROR from e.message and e.args only)")
def test_xconn_callee_error_kwargs_reach_the_caller(watched, clients, uri):
    proc = uri + ".fails"
    callee = xconn(clients, "xconn callee", watched, "callee", "--procedure", proc, "--mode", "error")
    callee.expect("READY")
    c = autobahn(clients, "autobahn caller", watched, "call", "--procedure", proc, "--no-payload")
    err = c.expect("ERROR", others=("RESULT",))
    assert err["kwargs"] == {"reason": "raised by the callee", "code": 7}, err


def test_no_such_procedure(watched, clients, uri):
    c = xconn(clients, "xconn caller", watched, "call", "--procedure", uri + ".nobody", transport="rs_unix",
              serializer="cbor")
    err = c.expect("ERROR", others=("RESULT",))
    assert err["error"] == "wamp.error.no_such_procedure", err
    finished(c)


# ---------------------------------------------------------------------------
# RPC: Advanced Profile

def test_progressive_call_results(watched, clients, uri):
    """CALL receive_progress (caller announcing progressive_call_results) to a
    callee that streams: the caller gets one progressive RESULT
    (details.progress) per YIELD with progress, in order, then the final RESULT
    without progress; nothing after it."""
    proc = uri + ".stream"
    callee = xconn(clients, "xconn callee (progressive)", watched, "collect", "--procedure", proc,
                   transport="rs", serializer="cbor")
    callee.expect("READY")
    c = xconn(clients, "xconn caller", watched, "progressive-results", "--procedure", proc,
              transport="ws", serializer="msgpack")
    replies = c.expect("REPLIES")["replies"]
    assert [r["type"] for r in replies] == ["RESULT"] * 4, replies
    assert [r["args"] for r in replies] == [["a"], ["b"], ["c"], [["a", "b", "c"]]], replies
    assert [bool(r["details"].get("progress")) for r in replies] == [True, True, True, False], replies
    inv = callee.expect("INVOKED")
    assert inv["details"].get("receive_progress") is True, inv
    finished(c)


@NO_PCI
@pytest.mark.parametrize("transport,serializer", [("rs", "msgpack"), ("ws_unix", "json")])
def test_progressive_call_invocations(transport, serializer, watched, clients, uri):
    """Progressive CALLs (progress=true on all but the last, one request id) to
    a callee announcing progressive_call_invocations: it gets one INVOCATION
    per CALL, one request id, progress on all but the last, args in order; the
    caller gets its final RESULT once."""
    proc = uri + ".upload"
    callee = xconn(clients, "xconn callee (progressive invocations)", watched, "collect", "--procedure", proc,
                   transport="ws", serializer="cbor")
    callee.expect("READY")
    c = xconn(clients, "xconn caller", watched, "progressive-call", "--procedure", proc, "--chunks", "3",
              transport=transport, serializer=serializer)
    replies = c.expect("REPLIES")["replies"]
    assert replies == [{"type": "RESULT", "args": [["chunk-0", "chunk-1", "chunk-2"]], "kwargs": {},
                        "details": replies[0]["details"]}], replies
    invs = [callee.expect("INVOKED") for _ in range(3)]
    assert len({i["request"] for i in invs}) == 1, invs
    assert [i["args"] for i in invs] == [["chunk-0"], ["chunk-1"], ["chunk-2"]], invs
    assert [bool(i["details"].get("progress")) for i in invs] == [True, True, False], invs
    finished(c)


@NO_PCI
@pytest.mark.parametrize("transport,serializer", [("rs", "cbor"), ("ws", "json")])
def test_progressive_call_to_callee_without_support_is_feature_not_supported(transport, serializer, watched,
                                                                                clients, uri):
    """Bug 1. Three progressive CALLs (one request id) to a plain xconn callee,
    which does not announce progressive_call_invocations: the caller gets
    exactly ONE ERROR wamp.error.feature_not_supported and the callee is never
    invoked. A plain call ["probe"] afterwards (same caller, same registration,
    so it is answered after anything the chunks caused) reaches the callee as
    its first and only invocation."""
    proc = uri + ".upload"
    callee = xconn(clients, "xconn callee (plain)", watched, "callee", "--procedure", proc, "--mode", "echo",
                   transport="rs_unix", serializer="msgpack")
    callee.expect("READY")
    c = xconn(clients, "xconn caller", watched, "progressive-call", "--procedure", proc, "--chunks", "3", "--probe",
              transport=transport, serializer=serializer)
    probe = c.expect("RESULT", others=("ERROR", "FAIL"))
    assert probe["args"] == ["probe"], probe
    replies = c.expect("REPLIES")["replies"]
    assert [(r["type"], r.get("error")) for r in replies] == [("ERROR", "wamp.error.feature_not_supported")], replies
    inv = callee.expect("INVOKED")
    assert inv["args"] == ["probe"], "the callee was invoked by a progressive chunk: %r" % inv
    finished(c)
    assert callee.markers("INVOKED") == [inv], callee.output()
    no_marker(callee, "DISCONNECTED")


@pytest.mark.parametrize("mode,canceling", [
    pytest.param("skip", False, marks=CANCEL_PLAIN),
    pytest.param("kill", False, marks=CANCEL_PLAIN),
    pytest.param("killnowait", False, marks=CANCEL_PLAIN),
    ("kill", True),
    ("killnowait", True),
], ids=["skip-plain", "kill-plain", "killnowait-plain", "kill-canceling", "killnowait-canceling"])
def test_cancel(mode, canceling, watched, clients, uri):
    """CANCEL (caller announcing call_canceling) of a call the callee holds.
    A plain xconn callee (no call_canceling) must get no INTERRUPT (xconn
    cannot parse one: its reader thread would die): the caller gets ERROR
    wamp.error.canceled at once, the callee's late answer is dropped. A callee
    announcing call_canceling gets INTERRUPT with the mode; with kill the
    caller gets the callee's ERROR, with killnowait ERROR wamp.error.canceled
    at once. Afterwards both sessions serve another call."""
    args = ["--procedure", uri + ".slow", "--mode", mode] + (["--canceling-callee"] if canceling else [])
    c = xconn(clients, "xconn cancel", watched, "cancel", *args, transport="rs", serializer="json",
              peer=("ws", "msgpack"))
    c.expect("INVOKED")
    canceled = c.expect("CANCELED")
    reply = canceled["reply"]
    assert reply is not None and reply["type"] == "ERROR" and reply["error"] == "wamp.error.canceled", canceled
    assert canceled["elapsed"] < 3.0, canceled
    if canceling and mode == "kill" and IS_FERROBAR:
        # the callee's own ERROR, as the spec says for kill; Crossbar sends
        # its own ERROR wamp.error.canceled (no args) once the callee answered
        assert reply["args"] == ["stopped by the callee"], canceled
    res = c.expect("RESULT", others=("ERROR", "FAIL"))
    assert res["args"] == ["quick"], res
    done = c.expect("REPLIES")
    assert len(done["replies"]) == 1, done
    assert [i.get("mode") for i in done["interrupts"]] == ([mode] if canceling else []), done
    no_marker(c, "XCONN_CRASH")
    no_marker(c, "DISCONNECTED")
    finished(c)


def _slow_callee(clients, n, proc, realm, delay):
    callee = xconn(clients, "xconn callee (slow)", n, "callee", "--procedure", proc, "--mode", "slow",
                   "--delay", str(delay), "--count", "1", transport="rs", serializer="cbor", realm=realm)
    callee.expect("READY")
    return callee


@pytest.mark.parametrize("transport,serializer", [("ws", "json"), ("rs_unix", "cbor")])
def test_realm1_welcome_does_not_announce_call_timeout(transport, serializer, watched, clients):
    """Bug 4: realm1 reads CALL timeout in Crossbar's seconds, so it must not
    announce the spec's call_timeout (milliseconds) in WELCOME: a client
    seeing it would send milliseconds and wait a thousand times too long."""
    j = xconn(clients, "xconn join", watched, "join", transport=transport, serializer=serializer)
    features = j.expect("JOINED")["roles"]["dealer"]["features"]
    assert "call_timeout" not in features, features
    finished(j)


@pytest.mark.parametrize("features", [
    pytest.param("", marks=pytest.mark.skipif(
        not IS_FERROBAR, reason="Crossbar sends the timeout's ERROR only to a caller announcing call_canceling: "
                                "plain xconn (no features) never gets an answer there")),
    "caller.call_canceling",
], ids=["plain-xconn", "announcing-call_canceling"])
def test_call_timeout_in_realm1_is_seconds(features, watched, clients, uri):
    """Bug 4, realm1 (Crossbar's defaults): CALL options {"timeout": 1} is one
    second: after about 1 s the xconn caller gets wamp.error.canceled (as
    Crossbar); the callee gets the caller's value unchanged in INVOCATION
    details (timeout 1); its late answer is dropped and its session stays (it
    leaves normally). The plain xconn caller announces no feature at all."""
    proc = uri + ".slow"
    callee = _slow_callee(clients, watched, proc, mc.REALM, 2.5)
    c = xconn(clients, "xconn caller", watched, "call", "--procedure", proc, "--options", '{"timeout": 1}',
              transport="ws", serializer="msgpack", features=features)
    err = c.expect("ERROR", others=("RESULT",))
    assert err["error"] == "wamp.error.canceled", err
    # Crossbar's timeouts run on a batched timer with 1 s buckets: they fire up
    # to a second early there (0.05 s seen)
    low = 0.8 if IS_FERROBAR else 0.0
    assert low <= err["elapsed"] < 2.3, "timeout=1 expired after %.3fs" % err["elapsed"]
    inv = callee.expect("INVOKED")
    assert inv["details"].get("timeout") == 1, inv
    callee.expect("ANSWERED")
    left = callee.expect("LEFT")
    assert left["reason"] == "wamp.close.normal", left
    no_marker(callee, "DISCONNECTED")
    finished(c, callee)


@ferrobar_only("realm option call_timeout_unit (realm-ms exists only under ferrobar)")
def test_call_timeout_in_realm_ms(watched, clients, uri):
    """Bug 4, realm-ms (call_timeout_unit "ms"): WELCOME announces
    call_timeout; {"timeout": 500} is 500 ms: the caller gets
    wamp.error.timeout; the callee sees timeout 500."""
    j = xconn(clients, "xconn join", watched, "join", realm=mc.REALM_MS)
    features = j.expect("JOINED")["roles"]["dealer"]["features"]
    assert features.get("call_timeout") is True, features
    proc = uri + ".slow"
    callee = _slow_callee(clients, watched, proc, mc.REALM_MS, 2.0)
    c = xconn(clients, "xconn caller", watched, "call", "--procedure", proc, "--options", '{"timeout": 500}',
              transport="ws_unix", serializer="json", realm=mc.REALM_MS)
    err = c.expect("ERROR", others=("RESULT",))
    assert err["error"] == "wamp.error.timeout", err
    assert 0.4 <= err["elapsed"] < 1.8, "timeout=500 expired after %.3fs" % err["elapsed"]
    inv = callee.expect("INVOKED")
    assert inv["details"].get("timeout") == 500, inv
    callee.expect("LEFT")
    no_marker(callee, "DISCONNECTED")
    finished(c, callee)


@pytest.mark.parametrize("realm", [mc.REALM, pytest.param(mc.REALM_HIDDEN, marks=ferrobar_only(
    "realm option disclose_callee (realm-hidden exists only under ferrobar)"))])
def test_result_details_disclose_the_callee(realm, watched, clients, uri):
    """Bug 5: in realm1 RESULT details carry callee, callee_authid and
    callee_authrole (as Crossbar); in realm-hidden (disclose_callee false)
    none of them."""
    proc = uri + ".who"
    callee = xconn(clients, "xconn callee (joe)", watched, "callee", "--procedure", proc, "--mode", "label",
                   "--label", "joe's", "--count", "1", transport="rs", serializer="msgpack", realm=realm,
                   auth=AUTHS["ticket"][0])
    ready = callee.expect("READY")
    c = xconn(clients, "xconn caller", watched, "call", "--procedure", proc, transport="ws", serializer="json",
              realm=realm)
    res = c.expect("RESULT", others=("ERROR",))
    assert res["args"] == ["joe's"], res
    details = res["details"]
    if realm == mc.REALM:
        assert details.get("callee") == ready["session"], details
        assert details.get("callee_authid") == mc.TICKET_USER, details
        assert details.get("callee_authrole") == "user", details
    else:
        assert not {"callee", "callee_authid", "callee_authrole"} & set(details), details
    finished(c)


@pytest.mark.parametrize("invoke", ["roundrobin", "random", "first", "last"])
def test_shared_registration(invoke, watched, clients, uri):
    """Three xconn sessions register one procedure with {"invoke": policy};
    nine calls: roundrobin cycles c0 c1 c2 in registration order, first always
    c0, last always c2, random only these three (and, over 30 calls, not
    always the same). Bug 3: another policy on the same procedure is
    wamp.error.procedure_exists_with_different_invocation_policy; the refused
    session can still join with the same policy."""
    other = {"roundrobin": "first", "random": "last", "first": "roundrobin", "last": "random"}[invoke]
    calls = 30 if invoke == "random" else 9
    c = xconn(clients, "xconn shared", watched, "shared", "--procedure", uri + ".shared", "--invoke", invoke,
              "--calls", str(calls), "--conflict", other, transport="rs_unix", serializer="cbor",
              peer=("ws", "json"))
    c.expect("READY")
    labels = c.expect("RESULTS")["labels"]
    if invoke == "roundrobin":
        assert labels == ["c0", "c1", "c2"] * 3, labels
    elif invoke == "first":
        assert labels == ["c0"] * 9, labels
    elif invoke == "last":
        assert labels == ["c2"] * 9, labels
    else:
        assert set(labels) <= {"c0", "c1", "c2"} and len(set(labels)) > 1, labels
    conflict = c.expect("ERROR", others=("REGISTERED",))
    assert conflict["invoke"] == other, conflict
    assert conflict["error"] == "wamp.error.procedure_exists_with_different_invocation_policy", conflict
    joined = c.expect("REGISTERED")
    assert joined["invoke"] == invoke, joined
    finished(c)


def test_single_registration_on_a_shared_procedure(watched, clients, uri):
    """REGISTER with invoke=single (the default) where a shared registration
    (roundrobin) exists: as Crossbar 26.10, `single` is another invocation
    policy: wamp.error.procedure_exists_with_different_invocation_policy (the
    old ferrobar answered wamp.error.procedure_already_exists)."""
    c = xconn(clients, "xconn shared", watched, "shared", "--procedure", uri + ".shared", "--invoke", "roundrobin",
              "--callees", "1", "--calls", "1", "--conflict", "single", transport="ws", serializer="json")
    c.expect("RESULTS")
    err = c.expect("ERROR", others=("REGISTERED",))
    assert err["invoke"] == "single", err
    assert err["error"] == "wamp.error.procedure_exists_with_different_invocation_policy", err
    finished(c)


# ---------------------------------------------------------------------------
# binary payloads across serializers, with Autobahn|Python as the peer

@pytest.mark.parametrize("xser,aser", [("cbor", "json"), ("msgpack", "json"), ("json", "msgpack")])
def test_binary_payload_with_autobahn(xser, aser, watched, clients, uri):
    """xconn on one serializer, Autobahn|Python on another: clients/payload.json
    (binary values among them) from the xconn caller reaches the Autobahn
    callee intact and comes back intact; Autobahn's publication reaches the
    xconn subscriber intact. With JSON, binary is "\\0"+base64 on the wire
    (the xconn client applies it itself: wampproto's JSON has no bytes)."""
    proc = uri + ".echo"
    callee = autobahn(clients, "autobahn callee", watched, "callee", "--procedure", proc, "--mode", "echo",
                      serializer=aser)
    callee.expect("READY")
    c = xconn(clients, "xconn caller", watched, "call", "--procedure", proc, "--payload",
              os.path.join(harness.CLIENTS, "payload.json"), transport="rs", serializer=xser)
    assert_payload("the invocation at Autobahn", callee.expect("INVOKED"), callee)
    assert_payload("the result at xconn", c.expect("RESULT", others=("ERROR",)), c)
    topic = uri + ".bin"
    sub = xconn(clients, "xconn subscriber", watched, "subscribe", "--topic", topic, "--needs", topic,
                transport="ws_unix", serializer=xser)
    sub.expect("READY")
    pub = autobahn(clients, "autobahn publisher", watched, "publish", "--topic", topic, serializer=aser)
    pub.expect("PUBLISHED")
    assert_payload("the event at xconn", sub.expect("EVENT"), sub)
    finished(c, sub, pub)


# ---------------------------------------------------------------------------
# 1 MB payloads, and messages larger than a peer accepts (bug 2)

@pytest.mark.parametrize("transport,serializer,kind", [
    ("rs", "msgpack", "bytes"),
    ("rs_unix", "cbor", "bytes"),
    ("ws", "msgpack", "bytes"),
    ("ws_unix", "json", "text"),
])
def test_one_megabyte(transport, serializer, kind, watched, clients, uri):
    """A 1,000,000-byte argument (binary; text with JSON, where base64 would
    make 1.33 MB, more than xconn takes in): an xconn call through an xconn
    callee on another transport and back, and an event, arrive intact. (xconn
    receives at most 1 MiB on every transport: it announces that on RawSocket;
    on WebSocket it is the `websockets` default max_size, see the module
    docstring.)"""
    proc = uri + ".echo"
    callee = xconn(clients, "xconn callee", watched, "callee", "--procedure", proc, "--mode", "echo",
                   "--count", "1", transport="ws" if transport != "ws" else "rs", serializer="cbor")
    callee.expect("READY")
    topic = uri + ".big"
    sub = xconn(clients, "xconn subscriber", watched, "subscribe", "--topic", topic, "--needs", topic,
                transport=transport, serializer=serializer)
    sub.expect("READY")
    want = big_digest(ONE_MB) if kind == "bytes" else text_digest(ONE_MB)
    c = xconn(clients, "xconn caller", watched, "call", "--procedure", proc, "--size", str(ONE_MB),
              *(["--text"] if kind == "text" else []), transport=transport, serializer=serializer)
    res = c.expect("RESULT", others=("ERROR", "DISCONNECTED"))
    assert res["args"] == [want], res
    assert callee.expect("INVOKED")["args"] == [want]
    pub = xconn(clients, "xconn publisher", watched, "publish", "%s=%s:%d" % (topic, kind, ONE_MB),
                transport="ws", serializer="msgpack")
    pub.expect("PUBLISHED", others=("ERROR",))
    ev = sub.expect("EVENT", others=("DISCONNECTED",))
    assert ev["args"] == [want], ev
    finished(c, pub, sub, callee)


@pytest.mark.parametrize("transport,serializer", [
    ("rs", "msgpack"),
    ("rs_unix", "cbor"),
    ("small_ws", "json"),
])
def test_event_too_large_for_a_subscriber_is_dropped_for_it_only(transport, serializer, watched, clients, uri):
    """Bug 2. A 1.5 MB publication (from a WebSocket peer) to a subscriber that
    cannot take it: xconn on RawSocket (it announces 1 MiB in the handshake),
    or on the small_ws transport (max_message_size 1 MiB). That subscriber
    does not get it but keeps its session and gets the next, small event;
    ferrobar also tells it on ferrobar.session.on_events_dropped (count 1, its
    session id). A subscriber on the normal WebSocket gets both."""
    topic = uri + ".big"
    needs = topic + ("," + EVENTS_DROPPED if IS_FERROBAR else "")
    small = xconn(clients, "xconn subscriber (%s)" % transport, watched, "subscribe", "--topic", topic,
                  "--also", EVENTS_DROPPED, "--needs", needs, transport=transport, serializer=serializer)
    me = small.expect("READY")["session"]
    # xconn itself cannot take 1.5 MB on any transport: the subscriber that
    # gets it is Autobahn|Python
    big = autobahn(clients, "autobahn subscriber", watched, "subscribe", "--topic", topic, "--count", "2",
                   serializer="msgpack")
    big.expect("READY")
    pub = xconn(clients, "xconn publisher", watched, "publish", "%s=bytes:%d" % (topic, BIG), '%s=["after"]' % topic,
                transport="ws", serializer="cbor")
    pub.expect("PUBLISHED", others=("ERROR",))
    pub.expect("PUBLISHED", others=("ERROR",))
    first = big.expect("EVENT")
    assert first["args"] == [{"__bytes__": big_bytes(BIG).hex()}], "the 1.5 MB event differs at Autobahn"
    assert big.expect("EVENT")["args"] == ["after"]
    small.expect("DONE", others=("DISCONNECTED", "GOODBYE"))
    events = small.markers("EVENT")
    on_topic = [e["args"] for e in events if e["topic"] == topic]
    assert on_topic == [["after"]], events
    if IS_FERROBAR:
        dropped = [e for e in events if e["topic"] == EVENTS_DROPPED]
        assert [e["args"] for e in dropped] == [[1, me]], dropped
    no_marker(small, "DISCONNECTED")
    finished(small, pub, big)


@pytest.mark.parametrize("transport,serializer", [("rs", "cbor"), ("rs_unix", "json")])
def test_result_too_large_for_the_caller_is_invalid_argument(transport, serializer, watched, clients, uri):
    """Bug 2. A 1.5 MB result for an xconn caller on RawSocket (1 MiB
    announced): the caller gets ERROR wamp.error.invalid_argument (as Crossbar)
    instead of losing its connection; its next call works."""
    proc = uri + ".sized"
    callee = xconn(clients, "xconn callee", watched, "callee", "--procedure", proc, "--mode", "size",
                   transport="ws", serializer="msgpack")
    callee.expect("READY")
    c = xconn(clients, "xconn caller", watched, "call", "--procedure", proc, "--args", "[%d]" % BIG,
              "--then", proc, "--then-args", "[10]", transport=transport, serializer=serializer)
    err = c.expect("ERROR", others=("RESULT", "DISCONNECTED"))
    assert err["error"] == "wamp.error.invalid_argument", err
    after = c.expect("RESULT", others=("ERROR", "DISCONNECTED"))
    assert after["then"] and after["args"] == [{"__bytes__": big_bytes(10).hex()}], after
    no_marker(c, "DISCONNECTED")
    finished(c)


@ferrobar_only("Crossbar 26.10 drops the callee's session on an INVOCATION larger than its RawSocket maximum")
@pytest.mark.parametrize("transport,serializer", [("rs", "msgpack"), ("rs_unix", "cbor")])
def test_invocation_too_large_for_the_callee_is_an_error_to_the_caller(transport, serializer, watched, clients,
                                                                        uri):
    """Bug 2. A 1.5 MB call to an xconn callee on RawSocket (1 MiB announced):
    the caller gets an ERROR, the callee is not invoked and stays connected: a
    small call right after reaches it. (Crossbar 26.10 drops the callee's
    session here: the small call gets wamp.error.no_such_procedure.)"""
    proc = uri + ".echo"
    callee = xconn(clients, "xconn callee", watched, "callee", "--procedure", proc, "--mode", "echo",
                   "--count", "1", transport=transport, serializer=serializer)
    callee.expect("READY")
    c = xconn(clients, "xconn caller", watched, "call", "--procedure", proc, "--size", str(BIG),
              "--then", proc, "--then-args", '["small"]', transport="ws", serializer="cbor")
    err = c.expect("ERROR", others=("RESULT",))
    assert err["error"], err
    after = c.expect("RESULT", others=("ERROR",))
    assert after["then"] and after["args"] == ["small"], after
    inv = callee.expect("INVOKED")
    assert inv["args"] == ["small"], inv
    callee.expect("LEFT")
    no_marker(callee, "DISCONNECTED")
    finished(c, callee)


# ---------------------------------------------------------------------------
# meta API

def test_meta_api(watched, clients, uri):
    """wamp.session.count/list/get, wamp.subscription.lookup/match/get/
    list_subscribers/count_subscribers/list and wamp.registration.lookup/
    match/get/list_callees/count_callees/list, called by an xconn session
    about another xconn session (on RawSocket)."""
    c = xconn(clients, "xconn meta", watched, "meta", "--prefix", uri, transport="ws", serializer="cbor",
              peer=("rs", "msgpack"))
    ids = c.expect("IDS")
    m = c.expect("META")
    other, sub, reg = ids["other"], ids["subscription"], ids["registration"]
    sessions = m["session.list"]["args"][0]
    assert {ids["querier"], other} <= set(sessions), m["session.list"]
    count = m["session.count"]["args"][0]
    assert isinstance(count, int) and count >= 2, m["session.count"]
    info = m["session.get"]["args"][0]
    assert info["session"] == other and info["authrole"] == "anonymous", info
    assert info["authid"] == ids["other_authid"] and info["authmethod"] == "anonymous", info
    assert m["session.get.unknown"] == {"error": "wamp.error.no_such_session"}, m["session.get.unknown"]
    assert m["subscription.lookup"]["args"] == [sub], m["subscription.lookup"]
    assert m["subscription.lookup.exact"]["args"] in ([None], []), m["subscription.lookup.exact"]
    assert sub in m["subscription.match"]["args"][0], m["subscription.match"]
    got = m["subscription.get"]["args"][0]
    assert got["id"] == sub and got["uri"] == uri + ".topic." and got["match"] == "prefix", got
    assert m["subscription.list_subscribers"]["args"] == [[other]], m["subscription.list_subscribers"]
    assert m["subscription.count_subscribers"]["args"] == [1], m["subscription.count_subscribers"]
    assert sub in m["subscription.list"]["args"][0]["prefix"], m["subscription.list"]
    assert m["registration.lookup"]["args"] == [reg], m["registration.lookup"]
    assert m["registration.match"]["args"] == [reg], m["registration.match"]
    got = m["registration.get"]["args"][0]
    assert got["id"] == reg and got["uri"] == uri + ".proc" and got["match"] == "exact", got
    assert got["invoke"] == "single", got
    assert m["registration.list_callees"]["args"] == [[other]], m["registration.list_callees"]
    assert m["registration.count_callees"]["args"] == [1], m["registration.count_callees"]
    assert reg in m["registration.list"]["args"][0]["exact"], m["registration.list"]
    assert m["registration.get.unknown"] == {"error": "wamp.error.no_such_registration"}, m
    finished(c)
