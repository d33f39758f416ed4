"""Autobahn|Python (asyncio, Component API) client for the transport matrix of
test_transports.py: one WAMP session over WebSocket or RawSocket, on TCP, TLS
or a Unix socket, with one serializer.

Everything the test needs to know is printed on stdout, one line per fact:

    TAG {json}

TAG one of JOINED, READY, PUBLISHED, EVENT, INVOKED, RESULT, DONE, ERROR,
LEAVE, CONNECT_FAILED, FAIL. Binary values are printed as {"__bytes__": "<hex>"}
(the tagging of clients/payload.json).

asyncio, not Twisted: Twisted's TLS needs pyOpenSSL and service_identity, which
the pinned environment does not have; asyncio uses the standard library's ssl.
One asyncio quirk: after session.leave() over RawSocket the Component reports
"TransportLost: failed to complete connection" and would reconnect. So this
script never relies on the Component to end: once its scenario is complete it
prints DONE and ends the process with os._exit (its output is flushed first).

Usage:
  transport_client.py --kind websocket|rawsocket --url URL
                      (--tcp HOST:PORT | --unix PATH)
                      [--ca CA.pem [--cert C.pem --key K.pem]]
                      [--serializer json|msgpack|cbor[,...]] [--realm realm1]
                      [--timeout S] COMMAND [options]

Commands:
  join    join, print JOINED (with the serializer in use), leave, exit 0;
          a refused connection prints CONNECT_FAILED and exits 4, an ABORT
          prints LEAVE and exits 5.
  matrix  subscribe to --own-topic and register --own-proc (an echo), print
          READY; wait until the file --go exists; publish the payload (with
          kwargs.sender = --name) to --peer-topic and call --peer-proc with it;
          print EVENT / INVOKED / RESULT as they come; once this session got its
          event, its invocation and its call result, print DONE and exit 0.
"""

import argparse
import asyncio
import json
import os
import ssl
import sys

import txaio

txaio.use_asyncio()

from autobahn.asyncio.component import Component  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.types import CallResult, PublishOptions  # noqa: E402
from tagged import denorm, load_payload, norm  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def emit(tag, obj=None):
    # Straight to fd 1, unbuffered: the process may end with os._exit.
    line = "%s %s\n" % (tag, json.dumps(obj, ensure_ascii=True, sort_keys=True))
    os.write(1, line.encode("ascii"))


def error_obj(e):
    if isinstance(e, ApplicationError):
        return {"error": e.error, "args": norm(list(e.args)), "kwargs": norm(e.kwargs or {})}
    return {"error": None, "exception": repr(e)}


def finish(rc):
    """End the process now (see the module docstring for why not via the Component)."""
    try:
        sys.stderr.flush()
    finally:
        os._exit(rc)


def serializer_in_use(session):
    transport = session._transport
    ser = getattr(transport, "_serializer", None)
    return {
        "serializer": getattr(ser, "SERIALIZER_ID", None),
        "subprotocol": getattr(transport, "websocket_protocol_in_use", None),
    }


def tls_context(o):
    ctx = ssl.create_default_context(purpose=ssl.Purpose.SERVER_AUTH, cafile=o.ca)
    if o.cert:
        ctx.load_cert_chain(o.cert, o.key)
    return ctx


def transport_config(o):
    if o.unix:
        endpoint = {"type": "unix", "path": o.unix, "timeout": 10}
    else:
        host, port = o.tcp.rsplit(":", 1)
        endpoint = {"type": "tcp", "host": host, "port": int(port), "timeout": 10}
        if o.ca:
            endpoint["tls"] = tls_context(o)
    t = {"type": o.kind, "url": o.url, "endpoint": endpoint, "max_retries": 0}
    if o.serializer:
        names = o.serializer.split(",")
        if o.kind == "rawsocket":
            if len(names) != 1:
                raise SystemExit("rawsocket takes exactly one serializer")
            t["serializer"] = names[0]
        else:
            t["serializers"] = names
    return t


# ---------------------------------------------------------------------------
# scenarios: coroutines (session, opts)

async def sc_join(session, o):
    emit("JOINED", dict(serializer_in_use(session), session=session.session_id, realm=session.realm))
    emit("DONE", {})
    finish(0)


async def sc_matrix(session, o):
    args, kwargs = load_payload(o.payload)
    kwargs = dict(kwargs, sender=o.name)
    state = {"event": False, "invoked": False, "result": False}

    def check_done():
        if all(state.values()):
            emit("DONE", {})
            # Give the YIELD of our own invocation (sent synchronously when the
            # endpoint returned) a moment on the wire before the process ends.
            asyncio.get_event_loop().call_later(0.3, finish, 0)

    def on_event(*a, **kw):
        emit("EVENT", {"args": norm(list(a)), "kwargs": norm(kw)})
        state["event"] = True
        check_done()

    def echo(*a, **kw):
        emit("INVOKED", {"args": norm(list(a)), "kwargs": norm(kw)})
        state["invoked"] = True
        asyncio.get_event_loop().call_soon(check_done)
        return CallResult(*a, **kw)

    sub = await session.subscribe(on_event, o.own_topic)
    reg = await session.register(echo, o.own_proc)
    emit("READY", dict(serializer_in_use(session), subscription=sub.id, registration=reg.id))
    while not os.path.exists(o.go):
        await asyncio.sleep(0.05)
    pub = await session.publish(o.peer_topic, *args, options=PublishOptions(acknowledge=True), **kwargs)
    emit("PUBLISHED", {"id": pub.id})
    try:
        res = await session.call(o.peer_proc, *args, **kwargs)
    except Exception as e:
        emit("ERROR", error_obj(e))
        finish(1)
    if isinstance(res, CallResult):
        rargs, rkwargs = list(res.results), dict(res.kwresults)
    elif res is None:
        rargs, rkwargs = [], {}
    else:
        rargs, rkwargs = [res], {}
    emit("RESULT", {"args": norm(rargs), "kwargs": norm(rkwargs)})
    state["result"] = True
    check_done()


SCENARIOS = {"join": sc_join, "matrix": sc_matrix}


def parse():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=["websocket", "rawsocket"], required=True)
    ap.add_argument("--url", required=True)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--tcp", help="HOST:PORT")
    where.add_argument("--unix", help="path of the Unix socket")
    ap.add_argument("--ca", help="TLS: the CA certificate (PEM) the server's certificate must chain to")
    ap.add_argument("--cert", help="TLS: client certificate (PEM)")
    ap.add_argument("--key", help="TLS: client key (PEM)")
    ap.add_argument("--serializer", default=None)
    ap.add_argument("--realm", default="realm1")
    ap.add_argument("--timeout", type=float, default=30.0, help="watchdog: exit 3 after this many seconds")
    sp = ap.add_subparsers(dest="cmd", required=True)
    sp.add_parser("join")
    p = sp.add_parser("matrix")
    p.add_argument("--name", required=True)
    p.add_argument("--own-topic", required=True)
    p.add_argument("--own-proc", required=True)
    p.add_argument("--peer-topic", required=True)
    p.add_argument("--peer-proc", required=True)
    p.add_argument("--go", required=True, help="start publishing and calling once this file exists")
    p.add_argument("--payload", default=os.path.join(HERE, "payload.json"))
    o = ap.parse_args()
    if (o.cert is None) != (o.key is None):
        ap.error("--cert and --key go together")
    if o.cert and not o.ca:
        ap.error("--cert needs --ca")
    return o


def main():
    o = parse()
    txaio.start_logging(level="warn", out=sys.stderr)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    scenario = SCENARIOS[o.cmd]
    component = Component(transports=[transport_config(o)], realm=o.realm)
    joined = {"yes": False}

    @component.on_join
    async def on_join(session, details):
        joined["yes"] = True
        try:
            await scenario(session, o)
        except Exception as e:
            emit("FAIL", dict(error_obj(e), exception=repr(e)))
            finish(1)

    @component.on_leave
    def on_leave(session, details):
        emit("LEAVE", {"reason": details.reason, "message": details.message, "joined": joined["yes"]})
        if not joined["yes"]:
            finish(5)

    def watchdog():
        emit("FAIL", {"exception": "watchdog: no completion after %ss" % o.timeout})
        finish(3)

    loop.call_later(o.timeout, watchdog)
    done = component.start(loop=loop)
    try:
        loop.run_until_complete(done)
        # The Component ended without our scenario finishing the process.
        emit("CONNECT_FAILED", {"exception": "the component ended", "joined": joined["yes"]})
    except Exception as e:
        emit("CONNECT_FAILED", {"exception": repr(e), "joined": joined["yes"]})
    finish(4)


if __name__ == "__main__":
    main()
