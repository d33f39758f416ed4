"""wampy.js (npm `wampy` 8.0.2 on the `ws` package, Node.js) against the real
router: the multiclient node (multiclient.py), --shards 2.

Each test runs clients/wampy_client.js, one Node process holding one or more
wampy sessions (each its own WebSocket connection), which prints one
`TAG {json}` line per fact and ends with `DONE {...}`. The serializers of a
process's sessions differ where that matters, so values cross json / msgpack /
cbor inside the router, and one session of the pub/sub, RPC and join tests
comes over the WebSocket on a Unix socket. wampy speaks WebSocket only (no
RawSocket).

What wampy makes a user work around (see the client's comments): msgpack
needs both subscribe() options given (left out, wampy writes `undefined`,
which msgpackr encodes as an extension type); with msgpack and cbor an ID
handed to the router must be a BigInt (a Number above 2^32 is written as a
float64); wampy's JSON serializer has no binary support (the WAMP "\\0"+base64
convention is done by hand); wampy's unsubscribe() throws for a subscription
made with options; publish() never sends `retain`, nor `exclude_me: false`
(it copies only truthy exclude_me / disclose_me).
"""

import asyncio
import os
import sys

import pytest

import harness
from harness import CLIENTS, IS_CROSSBAR, IS_FERROBAR, load_payload, mismatches
from multiclient import (CRA_SALTED_SECRET, CRA_SALTED_USER, CRA_SECRET, CRA_USER, REALM, REALM_HIDDEN,
                         REALM_MS, SMALL_MAX, TICKET, TICKET_USER, node, watched)  # noqa: F401 (fixtures)

sys.path.insert(0, CLIENTS)
import adv_wamp as adv  # noqa: E402

SERS = ["json", "msgpack", "cbor"]
WAMPY = os.path.join(CLIENTS, "wampy_client.js")
ferrobar_only = pytest.mark.skipif(IS_CROSSBAR, reason="realm-ms / realm-hidden exist only on ferrobar")

# What Crossbar 26.10 cannot do with wampy (ferrobar can: these are fixed bugs).
CROSSBAR_NO_TAG64 = ("Crossbar keeps CBOR tag 64 (how cbor-x writes every Uint8Array) as a cbor2 CBORTag "
                     "and cannot forward it: events are lost, calls hang")
CROSSBAR_NO_PCI = ("Crossbar does not announce progressive_call_invocations, so wampy refuses "
                   "progressiveCall() before sending anything")
CROSSBAR_FORWARDS_PROGRESS = ("Crossbar forwards progressive RESULTs to a caller that did not ask for them; "
                              "wampy then throws a TypeError (no progress callback)")


def rotated(ser, n):
    """n serializers starting with `ser`, then the others in turn."""
    i = SERS.index(ser)
    return [SERS[(i + k) % 3] for k in range(n)]


def wampy(clients, node, name, scenario, *args, sers=("json",), via=("tcp",), url=None, realm=REALM,
          prefix=None, timeout=30):
    argv = [harness.node_binary(), WAMPY, "--url", url or node.ws_url("ws"), "--unix", node.unix("ws_unix"),
            "--realm", realm, "--sers", ",".join(sers), "--via", ",".join(via), "--timeout", str(timeout),
            "--ticket", "%s:%s" % (TICKET_USER, TICKET), "--cra", "%s:%s" % (CRA_USER, CRA_SECRET),
            "--cra-salted", "%s:%s" % (CRA_SALTED_USER, CRA_SALTED_SECRET)]
    if prefix:
        argv += ["--prefix", prefix]
    return clients.start(name, argv + [scenario] + list(args))


def done(proc, timeout=40):
    """The scenario's DONE object (fails at once on FAIL); the process must exit 0."""
    out = proc.expect("DONE", timeout=timeout, others=())
    assert proc.wait_exit() == 0, proc.output()
    return out


def joined(proc):
    return {j["session"]: j for j in proc.markers("JOINED")}


# ---------------------------------------------------------------- join

@pytest.mark.parametrize("via", ["tcp", "unix"])
@pytest.mark.parametrize("ser", SERS)
def test_join_with_each_auth_method(ser, via, watched, clients):
    """anonymous, ticket (joe), WAMP-CRA (alice; bob with a salted secret) join
    with the negotiated serializer; WELCOME and wamp.session.get agree on
    authid / authrole / authmethod; a wrong ticket or secret is refused with
    wamp.error.not_authorized; a disconnect ends with a clean close."""
    p = wampy(clients, watched, "wampy-join", "join", sers=[ser], via=[via])
    done(p)
    welcome = joined(p)
    want = {"anonymous": (None, "anonymous", "anonymous"), "ticket": (TICKET_USER, "user", "ticket"),
            "wampcra": (CRA_USER, "user", "wampcra"), "wampcra-salted": (CRA_SALTED_USER, "user", "wampcra")}
    for auth, (authid, authrole, authmethod) in want.items():
        w = welcome[auth]
        assert w["protocol"] == "wamp.2." + ser and w["realm"] == REALM, w
        assert (w["authrole"], w["authmethod"]) == (authrole, authmethod), w
        if authid:
            assert w["authid"] == authid, w
        else:
            assert isinstance(w["authid"], str) and w["authid"], w
    for s in p.markers("SESSION"):
        w, meta = welcome[s["auth"]], s["meta"]
        assert meta["session"] == w["id"], s
        assert (meta["authid"], meta["authrole"], meta["authmethod"]) == (w["authid"], w["authrole"], w["authmethod"])
    assert sorted(s["auth"] for s in p.markers("SESSION")) == sorted(want)
    assert all(left["close"]["code"] == 1000 for left in p.markers("LEFT")), p.output()
    refused = {r["auth"]: r["error"] for r in p.markers("REFUSED")}
    assert refused == {"bad-ticket": "wamp.error.not_authorized", "bad-cra": "wamp.error.not_authorized"}, p.output()


# ---------------------------------------------------------------- pub/sub

@pytest.mark.parametrize("ser", SERS)
def test_pubsub_match_policies_and_publish_options(ser, watched, clients, uri):
    """pub (`ser`, TCP), s1 (next serializer, Unix socket), s2 (the third, ticket
    user joe), u (JSON). exact / prefix / wildcard subscriptions get what they
    match (pattern events carry the concrete topic); the publisher is excluded
    by default; eligible / exclude (session ids), eligible_authid,
    exclude_authrole, eligible_authrole + exclude_authid select the receivers;
    disclose_me adds details.publisher (only there; ferrobar honours
    disclose_me, Crossbar ignores it); after unsubscribe() the exact
    subscription gets nothing; every PUBLISH is acknowledged with a distinct id
    in [1, 2^53]."""
    sers = rotated(ser, 3)
    p = wampy(clients, watched, "wampy-pubsub", "pubsub", sers=sers, via=["tcp", "unix", "tcp"], prefix=uri)
    out = done(p)
    T = uri + ".a.b"
    got = {}
    for who, evs in out["events"].items():
        for e in evs:
            got.setdefault((who, e["sub"]), []).append(e["args"][0])
    want = {
        ("pub", "exact"): ["fence"],
        ("s1", "exact"): ["one", "four", "seven", "eight", "nine", "ten", "fence"],
        ("s1", "prefix"): ["one", "two", "four", "seven", "eight", "nine", "ten", "fence"],
        ("s1", "wildcard"): ["one", "three", "four", "seven", "eight", "nine", "ten", "fence"],
        ("s2", "exact"): ["one", "five", "six", "nine", "ten", "fence"],
        ("u", "exact"): ["one", "five", "seven", "eight", "nine"],
        ("u", "prefix"): ["one", "two", "five", "seven", "eight", "nine", "ten", "fence"],
    }
    assert got == want, "events per (session, subscription) differ:\n%r\n%s" % (got, p.output())
    topics = {"one": T, "two": uri + ".a.c", "three": uri + ".x.b"}
    for who, evs in out["events"].items():
        for e in evs:
            a, d = e["args"][0], e["details"]
            if e["sub"] in ("prefix", "wildcard") and a in topics:
                assert d.get("topic") == topics[a], e
            if a == "nine" and IS_FERROBAR:
                assert d.get("publisher") == out["ids"]["pub"], e
                assert d.get("publisher_authrole") == "anonymous", e
            else:  # (Crossbar ignores disclose_me: docs/features.md)
                assert "publisher" not in d, e
    ids = out["published"]
    assert len(ids) == 12 and len(set(ids)) == 12, ids
    assert all(isinstance(i, int) and 1 <= i <= 2 ** 53 for i in ids), ids


@pytest.mark.parametrize("ser", ["msgpack", "cbor"])
def test_retained_event_for_a_late_wampy_subscriber(ser, watched, clients, uri):
    """A retained event (published by a raw peer: wampy 8.0.2 never sends
    publish()'s `retain` option) reaches a later wampy subscriber that asks for
    it with get_retained, marked details.retained, before newer events; a
    subscriber that does not ask gets only the newer event."""
    topic = uri + ".retained"

    async def scenario(net):
        raw = await net.raw(url=watched.ws_url("ws"))
        r = raw.publish(topic, ["retained"], None, {"acknowledge": True, "retain": True})
        assert (await raw.reply(r))[0] == adv.PUBLISHED
        p = wampy(clients, watched, "wampy-retained", "retained", "--topic", topic, sers=[ser, "json"])
        await asyncio.to_thread(p.expect, "READY", 30, ())
        r = raw.publish(topic, ["after"], None, {"acknowledge": True})
        assert (await raw.reply(r))[0] == adv.PUBLISHED
        return await asyncio.to_thread(done, p)

    out = adv.run(watched.ws_url("ws"), scenario, timeout=60)
    ev = out["events"]
    assert [e["args"] for e in ev["asked"]] == [["retained"], ["after"]], ev
    assert ev["asked"][0]["details"].get("retained") is True, ev
    assert not ev["asked"][1]["details"].get("retained"), ev
    assert [e["args"] for e in ev["not_asked"]] == [["after"]], ev


# ---------------------------------------------------------------- RPC

def rpc(clients, node, ser, steps, realm=REALM, call_timeout=None, uri="com.wampy.rpc"):
    """callee on `ser` over TCP, caller on the next serializer over the Unix socket."""
    args = ["--steps", steps]
    if call_timeout is not None:
        args += ["--call-timeout", str(call_timeout)]
    p = wampy(clients, node, "wampy-rpc", "rpc", *args, sers=rotated(ser, 2), via=["tcp", "unix"],
              realm=realm, prefix=uri)
    return p, done(p)


def seen(out, procedure):
    return [s for s in out["seen"] if s["procedure"] == procedure]


@pytest.mark.parametrize("ser", SERS)
def test_rpc_results_errors_progress(ser, watched, clients, uri):
    """A wampy callee and a wampy caller: args/kwargs round trip, and RESULT
    details name the callee (callee, callee_authid, callee_authrole, as
    Crossbar); an application error reaches the caller with its URI, args and
    kwargs; the callee sees receive_progress (it did not announce progressive
    results; wampy's README tells a callee to look at it) and its three
    progress results reach the caller, in order, before the final one."""
    p, out = rpc(clients, watched, ser, "echo,error,progress", uri=uri)
    r = out["results"]
    assert r["echo"]["args"] == [1, "two", {"three": 3}] and r["echo"]["kwargs"] == {"k": "v"}, r["echo"]
    assert seen(out, "echo")[0]["args"] == [1, "two", {"three": 3}]
    d = r["echo"]["details"]
    assert (d.get("callee"), d.get("callee_authid"), d.get("callee_authrole")) == \
        (out["ids"]["callee"], out["callee_authid"], "anonymous"), d

    e = r["error"]
    assert (e["name"], e["error"]) == ("CallError", "com.myapp.error1"), e
    assert e["args"] == ["custom error message", 42, {"nested": [1, "two", None]}], e
    assert e["kwargs"] == {"reason": "raised by the callee", "code": 7}, e

    assert seen(out, "progress")[0]["details"].get("receive_progress") is True, out["seen"]
    pr = r["progress"]
    assert [c["args"] for c in pr["chunks"]] == [["chunk", 0], ["chunk", 1], ["chunk", 2]], pr
    assert all(c["progress"] is True for c in pr["chunks"]), pr
    assert pr["result"] == {"args": ["done"], "kwargs": {"receive_progress": True}}, pr
    assert out["callee_errors"] == [] and out["caller_errors"] == [], out


@pytest.mark.skipif(IS_CROSSBAR, reason="Crossbar 26.10 turns the cancel of a call to a callee without "
                                        "call_canceling into mode skip, and then answers the caller nothing")
@pytest.mark.parametrize("ser", ["json", "cbor"])
def test_cancel_a_call_to_a_wampy_callee(ser, watched, clients, uri):
    """wampy announces no call_canceling for its callees and has no INTERRUPT
    handler (it would abort its session). A cancel in each mode (skip, kill,
    killnowait) gives the caller wamp.error.canceled at once, and the callee is
    never sent an INTERRUPT: it stays joined and answers the next call."""
    p, out = rpc(clients, watched, ser, "cancel", uri=uri)
    r = out["results"]
    for mode in ("skip", "kill", "killnowait"):
        assert r["cancel"][mode]["error"] == "wamp.error.canceled", (mode, r["cancel"][mode])
    assert [s["args"] for s in seen(out, "hang")] == [["skip"], ["kill"], ["killnowait"]], out["seen"]
    assert r["cancel"]["ping"]["args"] == ["pong"], r
    assert out["interrupts"] == 0 and out["callee_errors"] == [] and out["caller_errors"] == [], out


@pytest.mark.skipif(IS_CROSSBAR, reason=CROSSBAR_FORWARDS_PROGRESS)
def test_progress_the_caller_did_not_ask_for_is_not_forwarded(watched, clients, uri):
    """A callee that sends progressive results whatever the caller asked for: a
    wampy caller without a progress callback gets only the final result (a
    progress RESULT would make wampy throw a TypeError)."""
    p, out = rpc(clients, watched, "msgpack", "no-progress", uri=uri)
    assert out["results"]["no_progress"] == {"args": ["final"], "kwargs": {}}, out
    assert "receive_progress" not in seen(out, "always_progress")[0]["details"], out["seen"]


def test_call_timeout_in_realm1_is_crossbars_seconds(watched, clients, uri):
    """realm1 (Crossbar defaults): WELCOME does not announce call_timeout (its
    CALL timeout is Crossbar's seconds, not the spec's ms); the callee gets the
    caller's timeout unchanged in INVOCATION details; the call ends with
    wamp.error.canceled after about 1 s; the callee is not INTERRUPTed and goes
    on serving."""
    p, out = rpc(clients, watched, "json", "timeout", call_timeout=1, uri=uri)
    assert "call_timeout" not in joined(p)["caller"]["dealer"], joined(p)["caller"]
    t = out["results"]["timeout"]
    assert t["error"] == "wamp.error.canceled", t
    # (Crossbar fires its timeouts from 1 s buckets: anywhere in the first second)
    assert (900 if IS_FERROBAR else 0) <= t["elapsed_ms"] <= 5000, t
    assert seen(out, "hang")[0]["details"].get("timeout") == 1, out["seen"]
    assert t["ping"]["args"] == ["pong"] and out["interrupts"] == 0 and out["callee_errors"] == [], out


@ferrobar_only
def test_call_timeout_in_realm_ms(watched, clients, uri):
    """realm-ms (call_timeout_unit "ms"): WELCOME announces call_timeout, a
    timeout of 300 is 300 ms, forwarded unchanged to the callee, and the expired
    call gets wamp.error.timeout."""
    p, out = rpc(clients, watched, "cbor", "timeout", realm=REALM_MS, call_timeout=300, uri=uri)
    assert joined(p)["caller"]["dealer"].get("call_timeout") is True, joined(p)["caller"]
    t = out["results"]["timeout"]
    assert t["error"] == "wamp.error.timeout", t
    assert 250 <= t["elapsed_ms"] <= 3000, t
    assert seen(out, "hang")[0]["details"].get("timeout") == 300, out["seen"]
    assert t["ping"]["args"] == ["pong"] and out["interrupts"] == 0, out


@ferrobar_only
def test_result_details_without_callee_in_realm_hidden(watched, clients, uri):
    """realm-hidden (disclose_callee false): RESULT details do not name the callee."""
    p, out = rpc(clients, watched, "json", "echo", realm=REALM_HIDDEN, uri=uri)
    d = out["results"]["echo"]["details"]
    assert not {"callee", "callee_authid", "callee_authrole"} & set(d), d
    assert out["results"]["echo"]["args"] == [1, "two", {"three": 3}]


# ---------------------------------------------------------------- registrations

def registrations(clients, node, steps, uri):
    p = wampy(clients, node, "wampy-registrations", "registrations", "--steps", steps,
              sers=["json", "msgpack", "cbor", "cbor"], prefix=uri)
    return done(p)


def test_shared_and_pattern_registrations(watched, clients, uri):
    """Three wampy callees (json, msgpack, cbor) share a procedure: roundrobin
    goes c1 c2 c3 c1 c2 c3, first always c1, last always c3, random only among
    them; prefix and wildcard registrations get details.procedure (exact beats
    prefix beats wildcard); when c1 leaves, the round robin goes on with c2, c3."""
    out = registrations(clients, watched, "shared", uri)
    s = out["shared"]
    assert s["roundrobin"] == ["c1", "c2", "c3"] * 2, s
    assert s["first"] == ["c1"] * 6 and s["last"] == ["c3"] * 6, s
    assert len(s["random"]) == 6 and set(s["random"]) <= {"c1", "c2", "c3"}, s
    assert out["pattern"] == [
        {"uri": uri + ".pfx.a.b", "served": "c1", "procedure": uri + ".pfx.a.b"},
        {"uri": uri + ".x.wc", "served": "c2", "procedure": uri + ".x.wc"},
        {"uri": uri + ".pfx.exact", "served": "c3", "procedure": None},
        {"uri": uri + ".pfx.wc", "served": "c1", "procedure": uri + ".pfx.wc"},
    ], out["pattern"]
    assert sorted(out["after_leave"][:2]) == ["c2", "c3"] and out["after_leave"][2:] == out["after_leave"][:2], out


def test_shared_registration_is_current_once_registered(watched, clients, uri):
    """What a scaling-out wampy app relies on: once register() resolved, the
    next call from another session already sees that callee. 1000 rounds of
    three new callees registering one procedure with policy `last`, one after
    the other, and a new caller's single call: it must always reach the last
    one. (New connections each round, so the sessions spread over both shards.)"""
    p = wampy(clients, watched, "wampy-register-last", "register-last", "--rounds", "1000", "--quiet", "yes",
              sers=["json", "msgpack", "cbor", "json"], prefix=uri, timeout=60)
    out = done(p, timeout=70)
    assert out["rounds"] == 1000 and out["stale"] == [], out


def test_shared_registration_policy_conflict(watched, clients, uri):
    """Registering a shared procedure with another invocation policy is refused
    with wamp.error.procedure_exists_with_different_invocation_policy
    (Crossbar's URI); a single registration is taken whatever the newcomer
    asks (wamp.error.procedure_already_exists); the shared one keeps serving."""
    out = registrations(clients, watched, "conflicts", uri)
    e = out["errors"]
    assert e["other_policy"]["error"] == "wamp.error.procedure_exists_with_different_invocation_policy", e
    assert e["single_taken"]["error"] == "wamp.error.procedure_already_exists", e
    assert e["shared_on_single"]["error"] == "wamp.error.procedure_already_exists", e
    assert all(x["name"] == "RegisterError" for x in e.values()), e
    assert out["first_still"] == ["c2", "c2"], out


def test_single_registration_on_a_shared_procedure(watched, clients, uri):
    """REGISTER without an invocation policy (single) on a procedure shared with
    policy `first` is a policy conflict too, as in Crossbar:
    wamp.error.procedure_exists_with_different_invocation_policy, not
    procedure_already_exists."""
    out = registrations(clients, watched, "conflicts", uri)
    e = out["errors"]["single_on_shared"]
    assert (e["name"], e["error"]) == ("RegisterError",
                                       "wamp.error.procedure_exists_with_different_invocation_policy"), e


# ---------------------------------------------------------------- progressive call invocations

@pytest.mark.skipif(IS_CROSSBAR, reason=CROSSBAR_NO_PCI)
def test_progressive_call_to_a_callee_without_support(watched, clients, uri):
    """wampy's progressiveCall() in three chunks to a wampy callee (which does
    not announce progressive_call_invocations): the caller gets exactly one
    answer, ERROR wamp.error.feature_not_supported, and the callee is never
    invoked with any chunk (its first invocation is the plain call after)."""
    p = wampy(clients, watched, "wampy-progressive", "progressive-unsupported", sers=["json", "msgpack"],
              prefix=uri)
    out = done(p)
    assert out["outcome"]["error"] == "wamp.error.feature_not_supported", out
    assert out["answers"] == [{"type": "ERROR", "error": "wamp.error.feature_not_supported"}], out
    assert out["invocations"] == [{"args": ["after"], "details": {}}], out
    assert out["after"]["args"] == ["ok", "after"], out
    assert out["callee_errors"] == [] and out["caller_errors"] == [], out


@pytest.mark.skipif(IS_CROSSBAR, reason=CROSSBAR_NO_PCI)
@pytest.mark.parametrize("ser", ["json", "cbor"])
def test_progressive_call_invocations_with_progressive_results(ser, watched, clients, uri):
    """wampy's progressiveCall() in three chunks, with a progress callback, to a
    callee that announces progressive_call_invocations (a raw WAMP peer, since
    no client library here offers it): the callee gets three INVOCATIONs of one
    request, the first with receive_progress, all but the last with progress;
    its progress YIELDs and the final one reach wampy in order."""
    procedure = uri + ".stream"

    async def scenario(net):
        callee = await net.raw(url=watched.ws_url("ws"))
        await callee.register(procedure)
        p = wampy(clients, watched, "wampy-progressive-call", "progressive-call", "--procedure", procedure,
                  "--chunks", "3", sers=[ser])
        invs = []
        for i in range(3):
            m = await callee.expect(adv.INVOCATION, timeout=20, what="INVOCATION %d" % i)
            invs.append(m)
            if i < 2:
                callee.yield_(m[1], ["got", i], options={"progress": True})
        callee.yield_(invs[0][1], ["all", [m[4] for m in invs]])
        return invs, await asyncio.to_thread(done, p)

    invs, out = adv.run(watched.ws_url("ws"), scenario, timeout=60)
    assert len({m[1] for m in invs}) == 1, invs
    assert [m[4] for m in invs] == [["chunk", 0], ["chunk", 1], ["chunk", 2]], invs
    assert [bool(m[3].get("progress")) for m in invs] == [True, True, False], invs
    assert invs[0][3].get("receive_progress") is True, invs
    assert out["progress"] == [{"args": ["got", 0], "kwargs": {}}, {"args": ["got", 1], "kwargs": {}}], out
    assert out["result"]["args"] == ["all", [["chunk", 0], ["chunk", 1], ["chunk", 2]]], out


# ---------------------------------------------------------------- binary and big payloads

@pytest.mark.parametrize("sender", SERS)
def test_binary_across_serializers(sender, watched, clients, uri):
    """A wampy sender on `sender` publishes and calls with binary values
    (Uint8Array on msgpack/cbor, "\\0"+base64 on JSON): top level, empty, and
    nested in kwargs. Wampy receivers on json, msgpack and cbor get them as
    binary (a Uint8Array, or "\\0"+base64 on JSON) in the event and the
    invocation, and the echo returns them intact to the sender. On cbor, cbor-x
    writes every Uint8Array as tag 64, which the router must read as bytes."""
    if IS_CROSSBAR and sender == "cbor":
        pytest.skip(CROSSBAR_NO_TAG64)
    receivers = ["json", "msgpack"] if IS_CROSSBAR else SERS
    p = wampy(clients, watched, "wampy-binary", "binary", sers=[sender] + receivers, prefix=uri)
    out = done(p)
    hexall = bytes(range(256)).hex()
    want = {"args": [{"__bytes__": hexall}, "text", {"__bytes__": ""}],
            "kwargs": {"b": {"__bytes__": "00ff00"}, "nested": {"list": [{"__bytes__": "000102"}]}}}
    labels = ["r%d_%s" % (i + 1, s) for i, s in enumerate(receivers)]
    for where in ("events", "invocations", "results"):
        assert sorted(out[where]) == sorted(labels), (where, out)
        for label, got in out[where].items():
            errors = mismatches(want, got)
            assert not errors, "%s %s: %s\n%s" % (where, label, errors, p.output())


BIG = 1000000


@pytest.mark.parametrize("ser", SERS)
def test_one_megabyte_payload(ser, watched, clients, uri):
    """A 1,000,000-byte value (binary on msgpack/cbor, ASCII text on JSON) as an
    event and as a call echoed back: delivered intact (length and SHA-256)."""
    if IS_CROSSBAR and ser == "cbor":
        pytest.skip(CROSSBAR_NO_TAG64)
    p = wampy(clients, watched, "wampy-big", "big", "--sizes", str(BIG), sers=[ser, ser], prefix=uri)
    out = done(p, timeout=60)
    [r] = out["results"]
    assert r["sent"]["len"] == BIG and "error" not in r, r
    assert r["event"] == r["sent"] and r["result"] == r["sent"], r
    assert out["peer"] == {"events": [r["sent"]], "invocations": [r["sent"]]}, out["peer"]


def test_message_size_limit(watched, clients, uri):
    """On the transport with max_message_size 1 MiB: a 1,000,000-byte event and
    call pass; a 1,100,000-byte PUBLISH makes the router close that connection
    with 1009 (message too big), and the peer gets nothing of it."""
    p = wampy(clients, watched, "wampy-limit", "big", "--sizes", "%d,%d" % (BIG, 1100000), sers=["msgpack"],
              url=watched.ws_url("small_ws"), prefix=uri)
    out = done(p, timeout=60)
    ok, too_big = out["results"]
    assert "error" not in ok and ok["event"] == ok["sent"] and ok["result"] == ok["sent"], ok
    assert "event" not in too_big and "result" not in too_big, too_big
    assert too_big["error"]["name"] == "WebsocketError" and too_big["close"]["code"] == 1009, too_big
    assert out["peer"] == {"events": [ok["sent"]], "invocations": [ok["sent"]]}, out["peer"]
    assert 1100000 > SMALL_MAX > BIG


# ---------------------------------------------------------------- Autobahn|Python peers

AB_COMBOS = [("cbor", "msgpack"), ("msgpack", "cbor"), ("json", "msgpack")]


def assert_payload(what, got, proc):
    errors = mismatches(load_payload(), got)
    assert not errors, "%s differs from clients/payload.json:\n  %s\n%s" % (what, "\n  ".join(errors), proc.output())


@pytest.mark.parametrize("wser,pyser", AB_COMBOS, ids=["wampy-%s-py-%s" % c for c in AB_COMBOS])
def test_payload_wampy_to_autobahn(wser, pyser, watched, clients, uri):
    """clients/payload.json (unicode, integers up to 2^53, floats, nested,
    binary) from wampy to Autobahn|Python: as an event, and as a call from
    Autobahn|Python that a wampy callee echoes back (so it crosses both ways)."""
    if IS_CROSSBAR and wser == "cbor":
        pytest.skip(CROSSBAR_NO_TAG64)
    url = watched.ws_url("ws")
    sub = clients.py("py-subscriber", url, "subscribe", "--topic", uri + ".payload", serializer=pyser)
    sub.expect("READY")
    pub = wampy(clients, watched, "wampy-publisher", "publish", "--topic", uri + ".payload", sers=[wser])
    assert_payload("the event", sub.expect("EVENT"), sub)
    done(pub)
    callee = wampy(clients, watched, "wampy-callee", "callee", "--procedure", uri + ".echo", sers=[wser])
    callee.expect("READY", others=())
    caller = clients.py("py-caller", url, "call", "--procedure", uri + ".echo", serializer=pyser)
    assert_payload("the call result", caller.expect("RESULT"), caller)
    assert_payload("the invocation", callee.expect("INVOKED", others=()), callee)
    done(callee)
    assert caller.wait_exit() == 0 and sub.wait_exit() == 0


@pytest.mark.parametrize("wser,pyser", AB_COMBOS, ids=["wampy-%s-py-%s" % c for c in AB_COMBOS])
def test_payload_autobahn_to_wampy(wser, pyser, watched, clients, uri):
    """clients/payload.json from Autobahn|Python to wampy: as an event, and as a
    call from wampy that an Autobahn|Python callee echoes back."""
    if IS_CROSSBAR and wser == "cbor":
        pytest.skip(CROSSBAR_NO_TAG64)
    url = watched.ws_url("ws")
    sub = wampy(clients, watched, "wampy-subscriber", "subscribe", "--topic", uri + ".payload", sers=[wser])
    sub.expect("READY", others=())
    pub = clients.py("py-publisher", url, "publish", "--topic", uri + ".payload", serializer=pyser)
    assert_payload("the event", sub.expect("EVENT", others=()), sub)
    done(sub)
    callee = clients.py("py-callee", url, "callee", "--procedure", uri + ".echo", serializer=pyser)
    callee.expect("READY")
    caller = wampy(clients, watched, "wampy-caller", "call", "--procedure", uri + ".echo", sers=[wser])
    assert_payload("the call result", caller.expect("RESULT"), caller)
    assert_payload("the invocation", callee.expect("INVOKED"), callee)
    done(caller)
    assert pub.wait_exit() == 0 and callee.wait_exit() == 0


# ---------------------------------------------------------------- meta API

@pytest.mark.parametrize("ser", ["json", "cbor"])
def test_meta_api(ser, watched, clients, uri):
    """An observer (on `ser`) watches a (anonymous) and b (ticket joe):
    wamp.session.count / list (also filtered by authrole) / get (and
    no_such_session); wamp.subscription.lookup / match / get / list_subscribers
    / count_subscribers / list; wamp.registration.lookup / match / get (invoke
    policy) / list_callees / count_callees / list (and no_such_registration);
    the meta events on_join, on_subscribe, on_register, on_leave; after b
    leaves it is gone from the session list, the callees and the subscribers."""
    p = wampy(clients, watched, "wampy-meta", "meta", sers=rotated(ser, 3), prefix=uri)
    out = done(p)
    ids = out["ids"]
    a, b, c = ids["a"], ids["b"], ids["observer"]
    assert {a, b, c} <= set(out["list"]) and out["count"] >= 3, out
    assert b in out["list_user"] and a not in out["list_user"] and c not in out["list_user"], out
    assert out["count_nobody"] == 0, out
    g = out["get_b"]
    assert (g["session"], g["authid"], g["authrole"], g["authmethod"]) == (b, TICKET_USER, "user", "ticket"), g
    assert out["get_missing"]["error"] == "wamp.error.no_such_session", out["get_missing"]

    sid, psid = out["sub_lookup"], out["sub_lookup_prefix"]
    assert isinstance(sid, int) and isinstance(psid, int) and sid != psid, out
    assert sorted(out["sub_match"]) == sorted([sid, psid]), out
    assert (out["sub_get"]["id"], out["sub_get"]["uri"], out["sub_get"]["match"]) == (sid, uri + ".t", "exact")
    assert sorted(out["sub_subscribers"]) == sorted([a, b]) and out["sub_count"] == 2, out
    assert sid in out["sub_list"]["exact"] and psid in out["sub_list"]["prefix"], out["sub_list"]

    rid = out["reg_lookup"]
    assert isinstance(rid, int) and out["reg_match"] == rid, out
    rg = out["reg_get"]
    assert (rg["id"], rg["uri"], rg["match"], rg["invoke"]) == (rid, uri + ".p", "exact", "roundrobin"), rg
    assert sorted(out["reg_callees"]) == sorted([a, b]) and out["reg_count"] == 2, out
    assert rid in out["reg_list"]["exact"], out["reg_list"]
    assert out["reg_missing"]["error"] == "wamp.error.no_such_registration", out["reg_missing"]

    ev = out["meta_events"]
    joins = {j[0]["session"]: j[0] for j in ev["wamp.session.on_join"]}
    assert joins[b]["authid"] == TICKET_USER and joins[b]["authrole"] == "user" and a in joins, joins
    assert [b, sid] in [x[:2] for x in ev["wamp.subscription.on_subscribe"]], ev
    assert [a, rid] in [x[:2] for x in ev["wamp.registration.on_register"]], ev
    assert [b, rid] in [x[:2] for x in ev["wamp.registration.on_register"]], ev
    assert b in [x[0] for x in ev["wamp.session.on_leave"]], ev
    assert b not in out["list_after"] and a in out["list_after"], out
    assert out["reg_callees_after"] == [a] and out["sub_count_after"] == 1, out


# ---------------------------------------------------------------- what wampy gets wrong

@pytest.mark.parametrize("ser", SERS)
def test_subscribe_with_options_left_out(ser, watched, clients, uri):
    """wampy 8 writes subscribe() options the user left out as `undefined`.
    JSON drops them: the subscription works. cbor-x writes CBOR `undefined`,
    and msgpackr an extension type (fixext 1, type 0, data 0) for it: ferrobar
    reads both as null, which an option treats as absent, so the subscription
    works too; Crossbar closes the WebSocket with 1002 on either. Either way
    the other sessions go on."""
    p = wampy(clients, watched, "wampy-undefined", "undefined-options", sers=[ser], prefix=uri)
    out = done(p)
    assert out["events"]["explicit"] == 1, out
    if ser == "json" or IS_FERROBAR:
        assert out["bare"] == {"subscribed": True} and out["events"]["bare"] == 1 and out["bare_alive"], out
        return
    assert not out["bare"]["subscribed"] and not out["bare_alive"] and out["events"]["bare"] == 0, out
    assert out["bare_close"]["code"] == 1002, out


def test_meta_call_with_an_id_written_as_float(watched, clients):
    """On cbor, wampy hands the router IDs as cbor-x writes a Number above 2^32:
    a float64. wamp.session.get with the own session id written that way
    answers as with an integer (Crossbar looks it up by value)."""
    p = wampy(clients, watched, "wampy-float-id", "join", "--auths", "anonymous", "--number-ids", "yes",
              sers=["cbor"])
    out = p.expect("SESSION", others=())
    assert out["meta"]["session"] == joined(p)["anonymous"]["id"], out
    done(p)


@pytest.mark.parametrize("ser", SERS)
def test_wampy_unsubscribes_and_unregisters_with_its_own_ids(ser, watched, clients, uri):
    """wampy's own unsubscribe() and unregister(): with cbor, cbor-x writes the ids (random
    up to 2^53, so nearly always above 2^32) as float64. ferrobar takes an integral float as
    the id, so both work and the session goes on; Crossbar closes the connection (1002).
    msgpackr writes them as float64 too, and the options wampy leaves out as its
    `undefined` extension, which ferrobar reads as absent (wampy 8 can only unsubscribe a
    subscription made without options)."""
    p = wampy(clients, watched, "wampy-own-ids", "own-ids", sers=[ser], prefix=uri)
    out = done(p)
    if IS_CROSSBAR and ser != "json":
        assert not out["alive"] or out["unsubscribe"] != "ok", out
        return
    assert (out["subscribe"], out["unsubscribe"], out["register"], out["unregister"]) == ("ok",) * 4, out
    assert out["alive"] and out["errors"] == [], out
    assert out["lookup_sub"] is None, out
    assert out["call_after"]["error"] == "wamp.error.no_such_procedure", out
