"""Autobahn|Python (Twisted, Component API) interop client for the ferrobar tests.

One process = one WAMP session doing one scenario, then exiting. Everything the
test needs to know is printed on stdout as one line per fact:

    TAG {json}

with TAG one of READY, JOINED, EVENT, PUBLISHED, INVOKED, RESULT, ERROR, LEAVE,
DONE, FAIL. Binary values are printed as {"__bytes__": "<hex>"} (see
clients/payload.json, which uses the same tagging for the values we send).

Usage: py_client.py --url ws://127.0.0.1:PORT/ws [--realm realm1]
                    [--serializer json|msgpack] [--timeout S] COMMAND [options]
Commands: subscribe, publish, callee, call, register, exclude-me, join.
"""

import argparse
import json
import os
import sys

from autobahn.twisted.component import Component, run
from autobahn.twisted.util import sleep
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallResult, PublishOptions, RegisterOptions
from twisted.internet import defer, reactor
from twisted.internet.defer import inlineCallbacks
from tagged import denorm, load_payload, norm  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# exit code: set to 0 by a scenario that completed as planned
STATE = {"rc": 2, "joined": False}


def emit(tag, obj=None):
    # Straight to fd 1: Autobahn's run() redirects sys.stdout into Twisted's
    # logger, which would filter and prefix these lines.
    line = "%s %s\n" % (tag, json.dumps(obj, ensure_ascii=True, sort_keys=True))
    os.write(1, line.encode("ascii"))


def result_parts(res):
    if isinstance(res, CallResult):
        return list(res.results), dict(res.kwresults)
    if res is None:
        return [], {}
    return [res], {}


def error_obj(e):
    if isinstance(e, ApplicationError):
        return {"error": e.error, "args": norm(list(e.args)), "kwargs": norm(e.kwargs or {})}
    return {"error": None, "exception": repr(e)}


def done(session, rc=0, delay=0.0):
    STATE["rc"] = rc

    def _leave():
        if session.is_attached():
            session.leave()
    reactor.callLater(delay, _leave)


# ---------------------------------------------------------------------------
# scenarios: each is an inlineCallbacks function (session, opts)

@inlineCallbacks
def sc_subscribe(session, o):
    got = []
    seq = []

    def on_event(*args, **kwargs):
        got.append(1)
        if not o.quiet:
            emit("EVENT", {"args": norm(list(args)), "kwargs": norm(kwargs)})
        else:
            seq.append(args[0] if args else None)
            if len(got) == o.count:
                emit("EVENTS", {"args0": seq})
        if len(got) == o.count:
            done(session, 0)

    sub = yield session.subscribe(on_event, o.topic)
    emit("READY", {"subscription": sub.id})


@inlineCallbacks
def sc_publish(session, o):
    args, kwargs = load_payload(o.payload)
    if o.sequence:
        # fire-and-forget publications 0..count-1, then one acknowledged
        # publication: the sequence is on the wire when the ack comes back
        for i in range(o.count):
            session.publish(o.topic, i)
        pub = yield session.publish(o.topic, o.count, options=PublishOptions(acknowledge=True))
        emit("PUBLISHED", {"id": pub.id})
    else:
        for i in range(o.count):
            pub = yield session.publish(o.topic, *args, options=PublishOptions(acknowledge=True), **kwargs)
            emit("PUBLISHED", {"id": pub.id})
    done(session, 0)


@inlineCallbacks
def sc_callee(session, o):
    calls = []

    def endpoint(*args, **kwargs):
        calls.append(1)
        emit("INVOKED", {"args": norm(list(args)), "kwargs": norm(kwargs)})
        if len(calls) == o.count and o.mode != "hang":
            done(session, 0, delay=0.5)
        if o.mode == "echo":
            return CallResult(*args, **kwargs)
        if o.mode == "error":
            raise ApplicationError(
                "com.myapp.error1", "custom error message", 42,
                {"nested": [1, "two", None]}, reason="raised by the callee", code=7)
        # hang: never answer; the test disconnects this callee
        return defer.Deferred()

    reg = yield session.register(endpoint, o.procedure)
    emit("READY", {"registration": reg.id})


@inlineCallbacks
def sc_call(session, o):
    if o.no_payload:
        args, kwargs = [], {}
    else:
        args, kwargs = load_payload(o.payload)
    try:
        res = yield session.call(o.procedure, *args, **kwargs)
        rargs, rkwargs = result_parts(res)
        emit("RESULT", {"args": norm(rargs), "kwargs": norm(rkwargs)})
    except Exception as e:
        emit("ERROR", error_obj(e))
    done(session, 0)


@inlineCallbacks
def sc_register(session, o):
    def endpoint(*args, **kwargs):
        return "registered by py_client"

    for i in range(2 if o.twice else 1):
        try:
            reg = yield session.register(endpoint, o.procedure, options=RegisterOptions())
            emit("READY", {"registration": reg.id})
        except Exception as e:
            emit("ERROR", error_obj(e))
    if not o.stay:
        done(session, 0)
    else:
        STATE["rc"] = 0


@inlineCallbacks
def sc_exclude_me(session, o):
    """Subscribe to a topic, then publish to it twice from the same session:
    first with the default options (the publisher is excluded), then with
    exclude_me=False. Events from one publisher arrive in order, so once the
    second event is here the first one would have arrived before it."""
    seen = []
    second = defer.Deferred()

    def on_event(label):
        seen.append(label)
        emit("EVENT", {"args": [label], "kwargs": {}})
        if label == "second" and not second.called:
            second.callback(None)

    yield session.subscribe(on_event, o.topic)
    emit("READY", {})
    pub1 = yield session.publish(o.topic, "first", options=PublishOptions(acknowledge=True))
    pub2 = yield session.publish(o.topic, "second",
                                 options=PublishOptions(acknowledge=True, exclude_me=False))
    emit("PUBLISHED", {"id": pub1.id})
    emit("PUBLISHED", {"id": pub2.id})
    yield second
    yield sleep(0.3)
    emit("DONE", {"events": seen})
    done(session, 0)


@inlineCallbacks
def sc_join(session, o):
    emit("JOINED", {"session": session.session_id, "realm": session.realm,
                    "protocol": getattr(session._transport, "websocket_protocol_in_use", None)})
    if o.stay:
        # stay until the router closes the session (on_leave below prints it)
        STATE["rc"] = 0
        yield defer.Deferred()
    else:
        done(session, 0)


SCENARIOS = {
    "subscribe": sc_subscribe,
    "publish": sc_publish,
    "callee": sc_callee,
    "call": sc_call,
    "register": sc_register,
    "exclude-me": sc_exclude_me,
    "join": sc_join,
}


def parse():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--realm", default="realm1")
    ap.add_argument("--serializer", default=None,
                    help="serializer(s) to offer, comma-separated in order of preference, "
                         "e.g. json or cbor,msgpack,json (default: Autobahn's own list)")
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="watchdog: exit 3 after this many seconds")
    sp = ap.add_subparsers(dest="cmd", required=True)
    default_payload = os.path.join(HERE, "payload.json")

    p = sp.add_parser("subscribe")
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--quiet", action="store_true",
                   help="print one EVENTS line with the first arg of every event, after --count events")

    p = sp.add_parser("publish")
    p.add_argument("--topic", required=True)
    p.add_argument("--payload", default=default_payload)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--sequence", action="store_true",
                   help="publish the integers 0..count (no payload), the last one acknowledged")

    p = sp.add_parser("callee")
    p.add_argument("--procedure", required=True)
    p.add_argument("--mode", choices=["echo", "error", "hang"], default="echo")
    p.add_argument("--count", type=int, default=1)

    p = sp.add_parser("call")
    p.add_argument("--procedure", required=True)
    p.add_argument("--payload", default=default_payload)
    p.add_argument("--no-payload", action="store_true")

    p = sp.add_parser("register")
    p.add_argument("--procedure", required=True)
    p.add_argument("--twice", action="store_true")
    p.add_argument("--stay", action="store_true")

    p = sp.add_parser("exclude-me")
    p.add_argument("--topic", required=True)

    p = sp.add_parser("join")
    p.add_argument("--stay", action="store_true")
    return ap.parse_args()


def main():
    o = parse()
    transport = {"type": "websocket", "url": o.url, "max_retries": 0}
    if o.serializer:
        transport["serializers"] = o.serializer.split(",")
    component = Component(transports=[transport], realm=o.realm)
    scenario = SCENARIOS[o.cmd]

    @component.on_join
    @inlineCallbacks
    def joined(session, details):
        STATE["joined"] = True
        try:
            yield scenario(session, o)
        except Exception as e:
            emit("FAIL", {"exception": repr(e), **error_obj(e)})
            STATE["rc"] = 1
            if session.is_attached():
                session.leave()

    @component.on_leave
    def left(session, details):
        emit("LEAVE", {"reason": details.reason, "message": details.message,
                       "joined": STATE["joined"]})
        if not STATE["joined"] and o.cmd == "join":
            # joining was refused (ABORT): that is this scenario's result
            STATE["rc"] = 0

    def watchdog():
        emit("FAIL", {"exception": "watchdog: no completion after %ss" % o.timeout})
        os._exit(3)
    reactor.callLater(o.timeout, watchdog)

    try:
        run([component], log_level="warn")
    except SystemExit:
        # run() ends in twisted's react(), which exits 0 even when the
        # component failed (e.g. connection refused): use our own verdict.
        pass
    sys.exit(STATE["rc"])


if __name__ == "__main__":
    main()
