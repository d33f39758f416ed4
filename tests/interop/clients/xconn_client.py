"""xconn (PyPI `xconn`, on `wampproto`) interop client for the ferrobar tests.

One process = one scenario, with one or more xconn sessions (the synchronous
`xconn.client.connect`: xconn's own WebSocket / RawSocket transports, its
joiner with anonymous, ticket or WAMP-CRA authentication, wampproto's JSON,
MessagePack and CBOR serializers). Everything the test needs to know is
printed on stdout, one line per fact:

    TAG {json}

(READY, JOINED, ABORT, EVENT, EVENTS, PUBLISHED, INVOKED, ANSWERED, RESULT,
ERROR, REPLY, REPLIES, INTERRUPT, CANCELED, META, LEFT, GOODBYE, DONE, FAIL).
Binary values are printed as {"__bytes__": "<hex>"} (payload.json uses the
same tagging), or as {"__bytes_len__": n, "sha256": "..."} when longer than
4 KiB (text: {"__str_len__": n, "sha256": ...}). Three lines report trouble:
DISCONNECTED (the connection ended without our leave()), GOODBYE (the router
ended the session) and XCONN_CRASH (wampproto or xconn raised on a message from
the router: xconn's reader thread dies with it and the session goes deaf).

What xconn 0.5.1 itself offers is used as is: call, register, subscribe,
publish (its options dicts go to the wire unchanged), leave, ApplicationError.
It announces no Advanced Profile feature in HELLO and has no API for
progressive results, progressive call invocations or CANCEL; the scenarios
that need those (`progressive-call`, `progressive-results`, `cancel`, the
`collect` callee) write the wampproto messages themselves on the xconn
session's transport, and announce in HELLO exactly the features they implement
(--features). A tap on the serializer records every message the router sends,
so a scenario can see what xconn's API hides (WELCOME roles, repeated RESULTs
or ERRORs for one request).

Client bugs worked around here:
- wampproto's JSON serializer has no binary support (json.dumps fails on
  bytes): with JSON, binary values are sent and read with the WAMP spec's
  convention ("\\0" + base64) by this program.
- xconn's RawSocketTransport.write sends the frame header and the payload with
  two sendall() calls and no lock: a YIELD written by the reader thread while
  the application thread writes interleaves the two frames. The sessions here
  serialize their writes with a lock.

Usage: xconn_client.py --url URL [--serializer json|msgpack|cbor] [--realm R]
       [--auth anonymous|ticket|wampcra --authid ID --secret S] [--timeout S]
       COMMAND [options]
URLs: ws://127.0.0.1:P/ws, rs://127.0.0.1:P, unix+ws:///path, unix:///path.
"""

import argparse
import base64
import hashlib
import json
import os
import sys
import threading
import time

from wampproto import auth as wauth
from wampproto import joiner as wjoiner
from wampproto import messages
from wampproto.exception import ApplicationError as WampprotoApplicationError
from wampproto.serializers import CBORSerializer, JSONSerializer, MsgPackSerializer

import xconn.client
from xconn.exception import ApplicationError
from xconn.types import Result
from tagged import denorm, load_payload  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PAYLOAD = os.path.join(HERE, "payload.json")

_out_lock = threading.Lock()
STEP = 10.0  # bound for one expected thing inside a scenario


def emit(tag, obj=None):
    line = "%s %s\n" % (tag, json.dumps(obj, ensure_ascii=True, sort_keys=True))
    with _out_lock:
        os.write(1, line.encode("ascii"))


def finish(rc=0):
    """xconn's reader threads are not daemons: end the process ourselves (once
    no thread is in the middle of printing a line)."""
    with _out_lock:
        os._exit(rc)


# ---------------------------------------------------------------------------
# values

def norm(v):
    """Native value -> JSON-printable value, binary tagged."""
    if isinstance(v, (bytes, bytearray)):
        b = bytes(v)
        if len(b) > 4096:
            return {"__bytes_len__": len(b), "sha256": hashlib.sha256(b).hexdigest()}
        return {"__bytes__": b.hex()}
    if isinstance(v, str) and len(v) > 4096:
        return {"__str_len__": len(v), "sha256": hashlib.sha256(v.encode("utf-8", "surrogatepass")).hexdigest()}
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [norm(x) for x in v]
    return v


def big_text(n):
    """n characters of ASCII text."""
    return ("ferrobar-xconn " * (n // 15 + 1))[:n]


def big_bytes(n):
    """n bytes, not all alike (so a truncation or a mix-up shows in the hash)."""
    return (hashlib.sha256(b"ferrobar-xconn").digest() * (n // 32 + 1))[:n]


# ---------------------------------------------------------------------------
# sessions

SERIALIZERS = {"json": JSONSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}
_NOOP = object()


def make_serializer(name, on_message):
    base = SERIALIZERS[name]

    class Tapped(base):
        def deserialize(self, data):
            msg = super().deserialize(data)
            on_message(msg)
            return msg

    return Tapped()


def make_authenticator(auth, authid, secret):
    if auth == "ticket":
        return wauth.TicketAuthenticator(authid, secret)
    if auth == "wampcra":
        return wauth.WAMPCRAAuthenticator(authid, secret)
    return wauth.AnonymousAuthenticator(authid or "")


def enc_for(sername, v):
    """Binary for the wire: wampproto's JSON serializer cannot encode bytes, so
    with JSON this program applies the spec's "\0" + base64 itself."""
    if sername != "json":
        return v
    if isinstance(v, (bytes, bytearray)):
        return "\x00" + base64.b64encode(bytes(v)).decode("ascii")
    if isinstance(v, dict):
        return {k: enc_for(sername, x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [enc_for(sername, x) for x in v]
    return v


def dec_for(sername, v):
    if sername != "json":
        return v
    if isinstance(v, str) and v.startswith("\x00"):
        return base64.b64decode(v[1:])
    if isinstance(v, dict):
        return {k: dec_for(sername, x) for k, x in v.items()}
    if isinstance(v, list):
        return [dec_for(sername, x) for x in v]
    return v


def features_roles(spec):
    """'caller.progressive_call_results,callee.call_canceling' -> HELLO roles."""
    roles = {r: {"features": {}} for r in ("caller", "callee", "publisher", "subscriber")}
    for item in filter(None, (spec or "").split(",")):
        role, feature = item.split(".", 1)
        roles[role]["features"][feature] = True
    return roles


class Peer:
    """One xconn session, with a tap on what the router sends and hooks that
    take messages xconn has no API for before xconn's session sees them."""

    def __init__(self, name, url, serializer="json", realm="realm1", auth="anonymous", authid=None,
                 secret=None, features=None):
        self.name = name
        self.sername = serializer
        self.rx = []                # every message from the router, in order
        self.hooks = []             # (predicate, handler): claimed messages skip xconn
        self.welcome = None
        self.goodbye = None
        self.leaving = False
        self.disconnected = threading.Event()
        self._cv = threading.Condition()
        self.ser = make_serializer(serializer, self._seen)
        authenticator = make_authenticator(auth, authid, secret)
        saved = wjoiner.CLIENT_ROLES
        if features:
            wjoiner.CLIENT_ROLES = features_roles(features)
        try:
            self.s = xconn.client.connect(url, realm, authenticator, self.ser,
                                          disconnect_callback=self._on_disconnect)
        finally:
            wjoiner.CLIENT_ROLES = saved
        self.id = self.s._base_session.id
        self.authid = self.s._base_session.authid
        self.authrole = self.s._base_session.authrole
        self._wlock = threading.Lock()
        transport = self.s._base_session.transport
        raw_write = transport.write

        self.after_write = []       # callbacks run after each message written

        def locked_write(data):
            with self._wlock:
                raw_write(data)
            for cb in list(self.after_write):
                cb()
        transport.write = locked_write
        # claimed messages bypass wampproto's session state and xconn's dispatch
        wamp = self.s._session
        validate = wamp.receive_message

        def receive(data):
            msg = self.ser.deserialize(data)
            for pred, handler in list(self.hooks):
                if pred(msg):
                    handler(msg)
                    return _NOOP
            try:
                return validate(msg)
            except Exception as e:
                emit("XCONN_CRASH", {"peer": self.name, "where": "wampproto", "exception": repr(e),
                                     "message": msg_summary(msg)})
                raise
        wamp.receive = receive
        dispatch = self.s._process_incoming_message

        def process(msg):
            if msg is _NOOP:
                return
            try:
                dispatch(msg)
            except Exception as e:
                emit("XCONN_CRASH", {"peer": self.name, "where": "xconn", "exception": repr(e),
                                     "message": msg_summary(msg)})
                raise
        self.s._process_incoming_message = process

    # -- the tap

    def _seen(self, msg):
        with self._cv:
            if isinstance(msg, messages.Welcome):
                self.welcome = msg
            elif isinstance(msg, messages.Goodbye):
                self.goodbye = msg
                if not self.leaving:
                    emit("GOODBYE", {"peer": self.name, "reason": msg.reason, "details": norm(msg.details)})
            self.rx.append(msg)
            self._cv.notify_all()

    def _on_disconnect(self):
        self.disconnected.set()
        if not self.leaving:
            emit("DISCONNECTED", {"peer": self.name})

    def wait_rx(self, pred, what, timeout=STEP, start=0):
        """Wait for a message from the router (index >= start) matching pred."""
        deadline = time.monotonic() + timeout
        with self._cv:
            i = start
            while True:
                while i < len(self.rx):
                    if pred(self.rx[i]):
                        return i, self.rx[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("%s: no %s within %.0fs" % (self.name, what, timeout))
                self._cv.wait(left)

    # -- payload conventions

    def enc(self, v):
        return enc_for(self.sername, v)

    def dec(self, v):
        return dec_for(self.sername, v)

    def show(self, v):
        return norm(self.dec(v))

    # -- raw messages for what xconn has no API for

    def send(self, msg):
        self.s._base_session.send(self.ser.serialize(msg))

    def next_request(self):
        return self.s._idgen.next()

    def leave(self):
        self.leaving = True
        try:
            self.s.leave()
            emit("LEFT", {"peer": self.name, "reason": self.goodbye.reason if self.goodbye else None})
        except Exception as e:
            emit("LEFT", {"peer": self.name, "reason": None, "exception": repr(e)})


def msg_summary(msg):
    out = {"type": type(msg).__name__}
    for attr in ("request_id", "uri", "reason", "message_type", "details", "options", "args", "kwargs"):
        try:
            v = getattr(msg, attr)
        except Exception:
            continue
        if v is not None and not callable(v):
            out[attr] = norm(v)
    return out


def open_peer(name, o, url=None, serializer=None, realm=None, auth=None, authid=None, secret=None,
              features=None):
    return Peer(name, url or o.url, serializer or o.serializer, realm or o.realm,
                auth or o.auth, authid if authid is not None else o.authid,
                secret if secret is not None else o.secret,
                features if features is not None else o.features)


def open_other(name, o, features=""):
    """A second session, anonymous: --peer-url / --peer-serializer (default:
    the main ones)."""
    return open_peer(name, o, url=o.peer_url or o.url, serializer=o.peer_serializer or o.serializer,
                     realm=o.peer_realm or o.realm, auth="anonymous", authid="", secret="", features=features)


def error_obj(peer, e):
    if isinstance(e, ApplicationError):
        return {"error": e.message, "args": peer.show(list(e.args or [])),
                "kwargs": peer.show(dict(getattr(e, "kwargs", None) or {}))}
    return {"error": None, "exception": repr(e)}


def result_obj(peer, r):
    return {"args": peer.show(list(r.args or [])), "kwargs": peer.show(dict(r.kwargs or {})),
            "details": norm(r.details or {})}


class Waiter:
    """Collects items from handler threads; wait(n) blocks (bounded) for n of them."""

    def __init__(self):
        self.items = []
        self._cv = threading.Condition()

    def add(self, item):
        with self._cv:
            self.items.append(item)
            self._cv.notify_all()

    def wait(self, pred, what, timeout=STEP):
        deadline = time.monotonic() + timeout
        with self._cv:
            while not pred(self.items):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no %s within %.0fs (have %r)" % (what, timeout, self.items))
                self._cv.wait(left)
            return list(self.items)


# ---------------------------------------------------------------------------
# scenarios

def sc_join(o):
    try:
        p = open_peer("main", o)
    except WampprotoApplicationError as e:  # ABORT, raised by wampproto's joiner
        emit("ABORT", {"error": e.message, "args": norm(list(e._args or [])), "kwargs": norm(e.kwargs or {})})
        finish(0)
    w = p.welcome
    emit("JOINED", {"session": p.id, "authid": p.authid, "authrole": p.authrole,
                    "authmethod": w.authmethod, "roles": norm(w.roles), "realm": p.s._base_session.realm})
    if o.stay:
        p.disconnected.wait(o.timeout)
        finish(0)
    p.leave()
    finish(0)


def sc_roundtrip(o):
    """Two sessions (A: --url/--serializer, B: --peer-url/--peer-serializer),
    each subscribed to its own topic and registered an echo; each publishes the
    payload to the other's topic and calls the other's echo."""
    args, kwargs = load_payload(o.payload)
    a = open_peer("A", o)
    b = open_other("B", o)
    emit("JOINED", {"A": {"session": a.id, "authid": a.authid, "authrole": a.authrole,
                          "authmethod": a.welcome.authmethod, "serializer": a.sername},
                    "B": {"session": b.id, "authid": b.authid, "authrole": b.authrole}})
    events = {"A": Waiter(), "B": Waiter()}
    peers = {"A": a, "B": b}

    def subscriber(name):
        peer = peers[name]

        def on_event(ev):
            events[name].add({"args": peer.show(ev.args or []), "kwargs": peer.show(ev.kwargs or {}),
                              "details": norm(ev.details)})
        return on_event

    def echo(name):
        peer = peers[name]

        def endpoint(inv):
            emit("INVOKED", {"at": name, "args": peer.show(inv.args or []), "kwargs": peer.show(inv.kwargs or {})})
            return Result(args=inv.args, kwargs=inv.kwargs)
        return endpoint

    for name, peer in peers.items():
        peer.s.subscribe(o.topic + "." + name, subscriber(name))
        peer.s.register(o.procedure + "." + name, echo(name))
    emit("READY", {})
    for src, dst in (("A", "B"), ("B", "A")):
        peer = peers[src]
        peer.s.publish(o.topic + "." + dst, peer.enc(args), peer.enc(kwargs), {"acknowledge": True})
        emit("PUBLISHED", {"by": src})
        r = peer.s.call(o.procedure + "." + dst, peer.enc(args), peer.enc(kwargs))
        emit("RESULT", {"at": src, **result_obj(peer, r)})
    for name in peers:
        got = events[name].wait(lambda items: len(items) >= 1, "event at " + name)
        emit("EVENT", {"at": name, **got[0]})
    a.leave()
    b.leave()
    emit("DONE", {})
    finish(0)


def sc_roundtrip_async(o):
    """sc_roundtrip with xconn's asyncio API (xconn.async_client.connect,
    AsyncSession; handlers are coroutines): A on --url with the given
    credentials, B on --peer-url, anonymous."""
    import asyncio
    from xconn import async_client

    args, kwargs = load_payload(o.payload)

    async def main():
        sessions, sers = {}, {}
        for name, url, sername, auth in (("A", o.url, o.serializer, (o.auth, o.authid, o.secret)),
                                         ("B", o.peer_url or o.url, o.peer_serializer or o.serializer,
                                          ("anonymous", "", ""))):
            welcome = []
            ser = make_serializer(sername, lambda m, w=welcome: w.append(m) if isinstance(m, messages.Welcome)
                                  else None)
            s = await async_client.connect(url, o.realm, make_authenticator(*auth), ser)
            sessions[name], sers[name] = s, sername
            bs = s._base_session
            emit("JOINED", {"at": name, "session": bs.id, "authid": bs.authid, "authrole": bs.authrole,
                            "authmethod": welcome[0].authmethod if welcome else None})
        events = {n: asyncio.get_running_loop().create_future() for n in sessions}

        def subscriber(name):
            async def on_event(ev):
                if not events[name].done():
                    events[name].set_result({"args": norm(dec_for(sers[name], ev.args or [])),
                                             "kwargs": norm(dec_for(sers[name], ev.kwargs or {}))})
            return on_event

        def echo(name):
            async def endpoint(inv):
                emit("INVOKED", {"at": name, "args": norm(dec_for(sers[name], inv.args or [])),
                                 "kwargs": norm(dec_for(sers[name], inv.kwargs or {}))})
                return Result(args=inv.args, kwargs=inv.kwargs)
            return endpoint

        for name, s in sessions.items():
            await s.subscribe(o.topic + "." + name, subscriber(name))
            await s.register(o.procedure + "." + name, echo(name))
        emit("READY", {})
        for src, dst in (("A", "B"), ("B", "A")):
            s, sername = sessions[src], sers[src]
            await s.publish(o.topic + "." + dst, enc_for(sername, args), enc_for(sername, kwargs),
                            {"acknowledge": True})
            r = await s.call(o.procedure + "." + dst, enc_for(sername, args), enc_for(sername, kwargs))
            emit("RESULT", {"at": src, "args": norm(dec_for(sername, r.args or [])),
                            "kwargs": norm(dec_for(sername, r.kwargs or {}))})
        for name in sessions:
            got = await asyncio.wait_for(events[name], STEP)
            emit("EVENT", {"at": name, **got})
        for name, s in sessions.items():
            await s.leave()
            emit("LEFT", {"peer": name})
        emit("DONE", {})

    asyncio.run(main())
    finish(0)


def sc_pubsub_match(o):
    """Subscriber (main) with --match on --pattern and an exact subscription on
    --done; publisher (second session) publishes [topic] to each of --topics,
    then to --done (acknowledged). Events from one publisher arrive in order, so
    at the done event every matching one has arrived."""
    sub = open_peer("subscriber", o)
    pub = open_other("publisher", o)
    got = Waiter()
    done = Waiter()

    def on_event(ev):
        got.add({"args": norm(ev.args or []), "topic": (ev.details or {}).get("topic"),
                 "details": norm(ev.details or {})})

    options = {"match": o.match} if o.match != "exact" else None
    s = sub.s.subscribe(o.pattern, on_event, options)

    def on_done(ev):
        done.add(1)
    sub.s.subscribe(o.done, on_done)
    emit("READY", {"subscription": s.subscription_id})
    for t in [x for x in o.topics.split(",") if x]:
        pub.s.publish(t, [t])
    pub.s.publish(o.done, [], None, {"acknowledge": True})
    done.wait(lambda items: items, "done event")
    emit("EVENTS", {"events": got.items, "subscription": s.subscription_id})
    sub.leave()
    pub.leave()
    finish(0)


def sc_publish_options(o):
    """Publisher P (anonymous, main URL) also subscribes; S2 (anonymous) and S3
    (ticket user --authid/--secret, role `user`) subscribe on the second URL.
    P publishes a series of labelled publications with publish options; each
    subscriber prints the labels it got once the final one (to all) arrived."""
    p = open_peer("P", o, auth="anonymous", authid="", secret="")
    s2 = open_other("S2", o)
    s3 = open_peer("S3", o, url=o.peer_url or o.url, serializer=o.peer_serializer or o.serializer,
                   auth="ticket", authid=o.ticket_authid, secret=o.ticket)
    peers = {"P": p, "S2": s2, "S3": s3}
    got = {n: Waiter() for n in peers}

    def handler(name):
        def on_event(ev):
            got[name].add({"label": (ev.args or [None])[0], "details": norm(ev.details or {})})
        return on_event

    for name, peer in peers.items():
        peer.s.subscribe(o.topic, handler(name))
    emit("IDS", {n: {"session": x.id, "authid": x.authid, "authrole": x.authrole} for n, x in peers.items()})
    plan = [
        ("default", {}),
        ("include_me", {"exclude_me": False}),
        ("eligible", {"eligible": [s2.id], "exclude_me": False}),
        ("exclude", {"exclude": [s2.id], "exclude_me": False}),
        ("eligible_authid", {"eligible_authid": [s3.authid], "exclude_me": False}),
        ("exclude_authid", {"exclude_authid": [s3.authid], "exclude_me": False}),
        ("eligible_authrole", {"eligible_authrole": ["anonymous"]}),
        ("exclude_authrole", {"exclude_authrole": ["user"], "exclude_me": False}),
        ("disclose", {"disclose_me": True}),
        ("final", {"exclude_me": False}),
    ]
    ids = []
    for label, options in plan:
        options = dict(options, acknowledge=True)
        p.s.publish(o.topic, [label], None, options)
        ids.append(label)
    emit("PUBLISHED", {"labels": ids})
    for name in peers:
        items = got[name].wait(lambda xs: any(x["label"] == "final" for x in xs), "final event at " + name)
        emit("EVENTS", {"at": name, "events": items})
    for peer in peers.values():
        peer.leave()
    finish(0)


def sc_retain(o):
    p = open_peer("P", o)
    p.s.publish(o.topic, ["first"], None, {"retain": True, "acknowledge": True})
    p.s.publish(o.topic, ["latest"], {"n": 2}, {"retain": True, "acknowledge": True})
    emit("PUBLISHED", {})
    s = open_other("S", o)
    got = Waiter()

    def on_event(ev):
        got.add({"args": norm(ev.args or []), "kwargs": norm(ev.kwargs or {}), "details": norm(ev.details or {})})
    s.s.subscribe(o.topic, on_event, {"get_retained": True})
    p.s.publish(o.topic, ["live"], None, {"acknowledge": True})
    items = got.wait(lambda xs: any(x["args"] == ["live"] for x in xs), "the live event")
    emit("EVENTS", {"events": items})
    p.leave()
    s.leave()
    finish(0)


def sc_subscribe(o):
    """Subscribe to --topic and the topics of --also; print every event; leave
    once each topic of --needs got an event (and print DONE)."""
    p = open_peer("subscriber", o)
    state = {"n": 0}
    lock = threading.Lock()
    needed = set(o.needs.split(",")) if o.needs else set()
    seen = set()
    done = threading.Event()

    def handler(topic):
        def on_event(ev):
            with lock:
                emit("EVENT", {"topic": topic, "args": p.show(ev.args or []), "kwargs": p.show(ev.kwargs or {}),
                               "details": norm(ev.details or {})})
                seen.add(topic)
                if needed and needed <= seen:
                    done.set()
        return on_event

    subs = {}
    for t in [o.topic] + [x for x in (o.also or "").split(",") if x]:
        subs[t] = p.s.subscribe(t, handler(t)).subscription_id
    emit("READY", {"session": p.id, "subscriptions": subs})
    if not done.wait(o.timeout):
        emit("FAIL", {"exception": "not all of %s got an event" % sorted(needed)})
        finish(1)
    p.leave()
    emit("DONE", {"disconnected": p.disconnected.is_set() and not p.leaving})
    finish(0)


def sc_publish(o):
    p = open_peer("publisher", o)
    for spec in o.items:
        topic, _, what = spec.partition("=")
        if what.startswith("bytes:"):
            args = [big_bytes(int(what[6:]))]
        elif what.startswith("text:"):
            args = [big_text(int(what[5:]))]
        else:
            args = json.loads(what) if what else []
        t0 = time.monotonic()
        try:
            p.s.publish(topic, p.enc(args), None, {"acknowledge": True, "exclude_me": False})
            emit("PUBLISHED", {"topic": topic, "elapsed": time.monotonic() - t0})
        except ApplicationError as e:
            emit("ERROR", {"topic": topic, **error_obj(p, e)})
    p.leave()
    finish(0)


def sc_callee(o):
    """Register --procedure; answer by --mode. Stays until killed (or --count
    invocations answered)."""
    p = open_peer("callee", o)
    n = {"calls": 0}
    release = threading.Event()

    def endpoint(inv):
        n["calls"] += 1
        args = p.dec(inv.args or [])
        emit("INVOKED", {"args": norm(args), "kwargs": p.show(inv.kwargs or {}), "details": norm(inv.details or {}),
                         "label": o.label, "session": p.id})
        try:
            if o.mode == "echo":
                return Result(args=inv.args, kwargs=inv.kwargs)
            if o.mode == "label":
                return Result(args=[o.label])
            if o.mode == "error":
                raise ApplicationError("com.myapp.error1", "custom error message", 42,
                                       {"nested": [1, "two", None]}, reason="raised by the callee", code=7)
            if o.mode == "exception":
                raise ValueError("plain python exception")
            if o.mode == "size":
                # args[0]: how many bytes to return
                return Result(args=[p.enc(big_bytes(int(args[0])))])
            if o.mode == "slow":
                # answer after --delay seconds (a deliberately slow callee)
                time.sleep(o.delay)
                return Result(args=["late"])
            raise RuntimeError("unknown mode")
        finally:
            # xconn writes the YIELD / ERROR once this returns
            answering.append(n["calls"])

    answering = []

    def written():
        if answering:
            call = answering.pop()
            emit("ANSWERED", {"call": call})
            if o.count and call >= o.count:
                release.set()
    p.after_write.append(written)

    options = {}
    if o.invoke:
        options["invoke"] = o.invoke
    if o.match:
        options["match"] = o.match
    try:
        reg = p.s.register(o.procedure, endpoint, options or None)
    except ApplicationError as e:
        emit("ERROR", error_obj(p, e))
        finish(0)
    emit("READY", {"registration": reg.registration_id, "session": p.id})
    release.wait(o.timeout)
    p.leave()
    finish(0)


def sc_call(o):
    p = open_peer("caller", o)
    if o.size is not None:
        args, kwargs = [big_text(o.size) if o.text else big_bytes(o.size)], {}
    elif o.args is not None:
        args, kwargs = denorm(json.loads(o.args)), denorm(json.loads(o.kwargs or "{}"))
    elif o.payload:
        args, kwargs = load_payload(o.payload)
    else:
        args, kwargs = [], {}
    options = json.loads(o.options) if o.options else None
    for i in range(o.repeat):
        t0 = time.monotonic()
        try:
            r = p.s.call(o.procedure, p.enc(args), p.enc(kwargs), dict(options) if options else None)
            emit("RESULT", {"elapsed": time.monotonic() - t0, **result_obj(p, r)})
        except ApplicationError as e:
            emit("ERROR", {"elapsed": time.monotonic() - t0, **error_obj(p, e)})
    if o.then:
        try:
            r = p.s.call(o.then, denorm(json.loads(o.then_args)))
            emit("RESULT", {"then": True, **result_obj(p, r)})
        except ApplicationError as e:
            emit("ERROR", {"then": True, **error_obj(p, e)})
    p.leave()
    finish(0)


def sc_shared(o):
    """--callees sessions register --procedure with --invoke (labels c0..);
    a caller session calls it --calls times; then a new session tries
    --conflict (another policy) and `single`."""
    callees = []
    for i in range(o.callees):
        c = open_peer("c%d" % i, o)
        label = "c%d" % i

        def endpoint(inv, label=label):
            return Result(args=[label])
        c.s.register(o.procedure, endpoint, {"invoke": o.invoke})
        callees.append(c)
    emit("READY", {"callees": [c.id for c in callees]})
    caller = open_other("caller", o)
    labels = []
    for _ in range(o.calls):
        labels.append(caller.s.call(o.procedure).args[0])
    emit("RESULTS", {"labels": labels})
    other = open_other("late", o)
    for policy in [x for x in (o.conflict or "").split(",") if x]:
        try:
            reg = other.s.register(o.procedure, lambda inv: None, {"invoke": policy})
            emit("REGISTERED", {"invoke": policy, "registration": reg.registration_id})
        except ApplicationError as e:
            emit("ERROR", {"invoke": policy, **error_obj(other, e)})
    # the refused session is still usable: it joins the shared registration
    reg = other.s.register(o.procedure, lambda inv: Result(args=["late"]), {"invoke": o.invoke})
    emit("REGISTERED", {"invoke": o.invoke, "registration": reg.registration_id})
    for c in callees + [caller, other]:
        c.leave()
    finish(0)


def _reply_pred(request_id):
    return lambda m: (isinstance(m, messages.Result) and m.request_id == request_id) or (
        isinstance(m, messages.Error) and m.message_type == messages.Call.TYPE and m.request_id == request_id)


def reply_obj(peer, m):
    if isinstance(m, messages.Result):
        return {"type": "RESULT", "args": peer.show(m.args or []), "kwargs": peer.show(m.kwargs or {}),
                "details": norm(m.details or {})}
    return {"type": "ERROR", "error": m.uri, "args": peer.show(m.args or []), "kwargs": peer.show(m.kwargs or {})}


def sc_progressive_call(o):
    """A progressive call invocation, written by hand (xconn has no API for it):
    --chunks CALLs with one request id, options progress=true on all but the
    last. Every answer for that request id is recorded (the hook keeps
    wampproto from choking on a second one). Then a plain xconn call to the same
    procedure with ["probe"]: its RESULT comes after anything the chunks caused
    (one caller, one registration), so REPLIES is complete."""
    p = open_peer("caller", o, features=o.features or
                  "caller.progressive_call_invocations,caller.progressive_call_results")
    rid = p.next_request()
    replies = []
    pred = _reply_pred(rid)
    lock = threading.Lock()

    def on_reply(m):
        with lock:
            replies.append(reply_obj(p, m))
            emit("REPLY", replies[-1])
    p.hooks.append((pred, on_reply))
    options_first = json.loads(o.options) if o.options else {}
    for i in range(o.chunks):
        last = i == o.chunks - 1
        options = dict(options_first) if i == 0 else {}
        if not last:
            options["progress"] = True
        p.send(messages.Call(messages.CallFields(rid, o.procedure, [p.enc("chunk-%d" % i)], None, options)))
    emit("SENT", {"request": rid, "chunks": o.chunks})
    if o.probe:
        try:
            r = p.s.call(o.procedure, ["probe"])
            emit("RESULT", {"probe": True, **result_obj(p, r)})
        except ApplicationError as e:
            emit("ERROR", {"probe": True, **error_obj(p, e)})
    else:
        # wait for the final answer
        p.wait_rx(lambda m: pred(m) and not (isinstance(m, messages.Result) and (m.details or {}).get("progress")),
                  "final answer")
    with lock:
        emit("REPLIES", {"replies": replies})
    p.leave()
    finish(0)


def sc_collect(o):
    """A callee that announces callee.progressive_call_invocations (and
    progressive_call_results) and implements them by hand: INVOCATIONs of its
    registration are taken before xconn sees them; the final one (no progress)
    is answered with the list of all chunk args, preceded by one progressive
    YIELD per chunk when the caller asked for receive_progress."""
    p = open_peer("callee", o, features=o.features or
                  "callee.progressive_call_invocations,callee.progressive_call_results")
    chunks = {}
    regs = {}

    def on_invocation(m):
        if m.registration_id not in regs.values():
            return
        details = m.details or {}
        args = p.dec(m.args or [])
        emit("INVOKED", {"request": m.request_id, "args": norm(args), "details": norm(details)})
        got = chunks.setdefault(m.request_id, [])
        got.extend(args)
        if details.get("receive_progress"):
            for a in args:
                p.send(messages.Yield(messages.YieldFields(m.request_id, [p.enc(a)], None, {"progress": True})))
        if not details.get("progress"):
            p.send(messages.Yield(messages.YieldFields(m.request_id, [chunks.pop(m.request_id)])))
            emit("ANSWERED", {"request": m.request_id})

    p.hooks.append((lambda m: isinstance(m, messages.Invocation) and m.registration_id in regs.values(),
                    on_invocation))
    reg = p.s.register(o.procedure, lambda inv: None)
    regs[o.procedure] = reg.registration_id
    emit("READY", {"registration": reg.registration_id, "session": p.id})
    threading.Event().wait(o.timeout)
    finish(0)


def sc_progressive_results(o):
    """Caller announcing caller.progressive_call_results, CALL receive_progress
    written by hand; prints every RESULT for the request until the final one.
    --plain: the same call through xconn's API (no receive_progress)."""
    if o.plain:
        p = open_peer("caller", o)
        r = p.s.call(o.procedure, ["a", "b", "c"])
        emit("RESULT", result_obj(p, r))
        # anything else for that call would show up before this second answer
        r2 = p.s.call(o.procedure, ["d"])
        emit("RESULT", result_obj(p, r2))
        extra = [msg_summary(m) for m in p.rx if isinstance(m, messages.Result)]
        emit("REPLIES", {"results": extra})
        p.leave()
        finish(0)
    p = open_peer("caller", o, features="caller.progressive_call_results")
    rid = p.next_request()
    pred = _reply_pred(rid)
    replies = []
    p.hooks.append((pred, lambda m: replies.append(reply_obj(p, m))))
    p.send(messages.Call(messages.CallFields(rid, o.procedure, ["a", "b", "c"], None, {"receive_progress": True})))
    p.wait_rx(lambda m: pred(m) and not (isinstance(m, messages.Result) and (m.details or {}).get("progress")),
              "final answer")
    emit("REPLIES", {"replies": replies})
    p.leave()
    finish(0)


def sc_cancel(o):
    """A caller (announcing caller.call_canceling; CANCEL written by hand) and a
    callee in one process. The callee is plain xconn (announces nothing; its
    handler holds the first invocation until the caller has its answer) or,
    with --canceling-callee, one announcing callee.call_canceling that takes
    INVOCATION/INTERRUPT by hand and answers an INTERRUPT with ERROR
    wamp.error.canceled. After the cancel, a second call checks that both
    sessions still work."""
    invoked = Waiter()
    release = threading.Event()
    interrupts = []
    if o.canceling_callee:
        callee = open_peer("callee", o, features="callee.call_canceling")
        regs = {}

        def on_inv(m):
            if (m.args or [None])[0] == "slow":
                invoked.add(m.request_id)
                emit("INVOKED", {"args": norm(m.args or [])})
            else:
                callee.send(messages.Yield(messages.YieldFields(m.request_id, ["quick"])))

        def on_interrupt(m):
            interrupts.append(norm(m.options))
            emit("INTERRUPT", {"options": norm(m.options)})
            callee.send(messages.Error(messages.ErrorFields(messages.Invocation.TYPE, m.request_id,
                                                            "wamp.error.canceled", ["stopped by the callee"])))
        callee.hooks.append((lambda m: isinstance(m, messages.Invocation) and m.registration_id in regs.values(),
                             on_inv))
        callee.hooks.append((lambda m: isinstance(m, messages.Interrupt), on_interrupt))
        regs["r"] = callee.s.register(o.procedure, lambda inv: None).registration_id
    else:
        callee = open_peer("callee", o, features="")

        def endpoint(inv):
            if (inv.args or [None])[0] == "slow":
                invoked.add(1)
                emit("INVOKED", {"args": norm(inv.args or [])})
                release.wait(STEP)
                emit("ANSWERED", {"late": True})
                return Result(args=["late"])
            return Result(args=["quick"])
        callee.s.register(o.procedure, endpoint)
    caller = open_other("caller", o, features="caller.call_canceling")
    rid = caller.next_request()
    pred = _reply_pred(rid)
    replies = []
    caller.hooks.append((pred, lambda m: replies.append(reply_obj(caller, m))))
    caller.send(messages.Call(messages.CallFields(rid, o.procedure, ["slow"], None, {})))
    invoked.wait(lambda xs: xs, "the INVOCATION")
    t0 = time.monotonic()
    caller.send(messages.Cancel(messages.CancelFields(rid, {"mode": o.mode})))
    try:
        caller.wait_rx(pred, "the answer to the canceled call", timeout=o.answer_within)
        emit("CANCELED", {"reply": replies[0], "elapsed": time.monotonic() - t0})
    except TimeoutError:
        emit("CANCELED", {"reply": None, "elapsed": time.monotonic() - t0})
    release.set()
    # both sessions still work; nothing more arrives for the canceled call
    r = caller.s.call(o.procedure, ["fast"])
    emit("RESULT", result_obj(caller, r))
    emit("REPLIES", {"replies": replies, "interrupts": interrupts})
    caller.leave()
    callee.leave()
    finish(0)


def sc_meta(o):
    """Meta API from an xconn session: a second session subscribes (prefix) and
    registers; the first looks them up."""
    q = open_peer("querier", o)
    other = open_other("other", o)
    sub = other.s.subscribe(o.prefix + ".topic.", lambda ev: None, {"match": "prefix"})
    reg = other.s.register(o.prefix + ".proc", lambda inv: Result(args=[1]))
    emit("IDS", {"querier": q.id, "other": other.id, "other_authid": other.authid,
                 "subscription": sub.subscription_id, "registration": reg.registration_id})
    calls = [
        ("session.count", "wamp.session.count", []),
        ("session.list", "wamp.session.list", []),
        ("session.get", "wamp.session.get", [other.id]),
        ("session.get.unknown", "wamp.session.get", [1]),
        ("subscription.lookup", "wamp.subscription.lookup", [o.prefix + ".topic.", {"match": "prefix"}]),
        ("subscription.lookup.exact", "wamp.subscription.lookup", [o.prefix + ".topic."]),
        ("subscription.match", "wamp.subscription.match", [o.prefix + ".topic.x"]),
        ("subscription.get", "wamp.subscription.get", [sub.subscription_id]),
        ("subscription.list_subscribers", "wamp.subscription.list_subscribers", [sub.subscription_id]),
        ("subscription.count_subscribers", "wamp.subscription.count_subscribers", [sub.subscription_id]),
        ("subscription.list", "wamp.subscription.list", []),
        ("registration.lookup", "wamp.registration.lookup", [o.prefix + ".proc"]),
        ("registration.match", "wamp.registration.match", [o.prefix + ".proc"]),
        ("registration.get", "wamp.registration.get", [reg.registration_id]),
        ("registration.list_callees", "wamp.registration.list_callees", [reg.registration_id]),
        ("registration.count_callees", "wamp.registration.count_callees", [reg.registration_id]),
        ("registration.list", "wamp.registration.list", []),
        ("registration.get.unknown", "wamp.registration.get", [1]),
    ]
    out = {}
    for key, proc, args in calls:
        try:
            r = q.s.call(proc, args)
            out[key] = {"args": norm(r.args or []), "kwargs": norm(r.kwargs or {})}
        except ApplicationError as e:
            out[key] = {"error": e.message}
    emit("META", out)
    q.leave()
    other.leave()
    finish(0)


SCENARIOS = {
    "join": sc_join,
    "roundtrip": sc_roundtrip,
    "roundtrip-async": sc_roundtrip_async,
    "pubsub-match": sc_pubsub_match,
    "publish-options": sc_publish_options,
    "retain": sc_retain,
    "subscribe": sc_subscribe,
    "publish": sc_publish,
    "callee": sc_callee,
    "call": sc_call,
    "shared": sc_shared,
    "progressive-call": sc_progressive_call,
    "collect": sc_collect,
    "progressive-results": sc_progressive_results,
    "cancel": sc_cancel,
    "meta": sc_meta,
}


def parse():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--serializer", default="json", choices=sorted(SERIALIZERS))
    ap.add_argument("--realm", default="realm1")
    ap.add_argument("--auth", default="anonymous", choices=["anonymous", "ticket", "wampcra"])
    ap.add_argument("--authid", default="")
    ap.add_argument("--secret", default="")
    ap.add_argument("--features", default="",
                    help="features announced in HELLO, e.g. caller.call_canceling (default: xconn's own: none)")
    ap.add_argument("--peer-url", default=None, help="URL of a scenario's second session")
    ap.add_argument("--peer-serializer", default=None)
    ap.add_argument("--peer-realm", default=None)
    ap.add_argument("--timeout", type=float, default=30.0, help="watchdog: exit 3 after this many seconds")
    sp = ap.add_subparsers(dest="cmd", required=True)

    p = sp.add_parser("join")
    p.add_argument("--stay", action="store_true")

    p = sp.add_parser("roundtrip")
    p.add_argument("--topic", required=True)
    p.add_argument("--procedure", required=True)
    p.add_argument("--payload", default=DEFAULT_PAYLOAD)

    p = sp.add_parser("roundtrip-async")
    p.add_argument("--topic", required=True)
    p.add_argument("--procedure", required=True)
    p.add_argument("--payload", default=DEFAULT_PAYLOAD)

    p = sp.add_parser("pubsub-match")
    p.add_argument("--match", default="exact", choices=["exact", "prefix", "wildcard"])
    p.add_argument("--pattern", required=True)
    p.add_argument("--topics", required=True)
    p.add_argument("--done", required=True)

    p = sp.add_parser("publish-options")
    p.add_argument("--topic", required=True)
    p.add_argument("--ticket-authid", required=True)
    p.add_argument("--ticket", required=True)

    p = sp.add_parser("retain")
    p.add_argument("--topic", required=True)

    p = sp.add_parser("subscribe")
    p.add_argument("--topic", required=True)
    p.add_argument("--also", default="", help="more topics, comma-separated")
    p.add_argument("--needs", default="", help="end once each of these topics got an event")

    p = sp.add_parser("publish")
    p.add_argument("items", nargs="+",
                   help="TOPIC=JSON-ARGS, TOPIC=bytes:N or TOPIC=text:N, published in order, acknowledged")

    p = sp.add_parser("callee")
    p.add_argument("--procedure", required=True)
    p.add_argument("--mode", default="echo", choices=["echo", "label", "error", "exception", "size", "slow"])
    p.add_argument("--label", default="")
    p.add_argument("--invoke", default=None)
    p.add_argument("--match", default=None)
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--count", type=int, default=0, help="leave after this many invocations (0: stay)")

    p = sp.add_parser("call")
    p.add_argument("--procedure", required=True)
    p.add_argument("--args", default=None, help="JSON list (tagged binary)")
    p.add_argument("--kwargs", default=None)
    p.add_argument("--payload", default=None)
    p.add_argument("--size", type=int, default=None, help="args = [N bytes]")
    p.add_argument("--text", action="store_true", help="with --size: N characters of text, not bytes")
    p.add_argument("--options", default=None, help="CALL options, JSON")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--then", default=None, help="afterwards call this procedure (with --then-args)")
    p.add_argument("--then-args", default='["after"]')

    p = sp.add_parser("shared")
    p.add_argument("--procedure", required=True)
    p.add_argument("--invoke", required=True)
    p.add_argument("--callees", type=int, default=3)
    p.add_argument("--calls", type=int, default=9)
    p.add_argument("--conflict", default="")

    p = sp.add_parser("progressive-call")
    p.add_argument("--procedure", required=True)
    p.add_argument("--chunks", type=int, default=3)
    p.add_argument("--options", default=None, help="options of the first CALL, JSON")
    p.add_argument("--probe", action="store_true")

    p = sp.add_parser("collect")
    p.add_argument("--procedure", required=True)

    p = sp.add_parser("progressive-results")
    p.add_argument("--procedure", required=True)
    p.add_argument("--plain", action="store_true")

    p = sp.add_parser("cancel")
    p.add_argument("--procedure", required=True)
    p.add_argument("--mode", required=True)
    p.add_argument("--canceling-callee", action="store_true")
    p.add_argument("--answer-within", type=float, default=5.0)

    p = sp.add_parser("meta")
    p.add_argument("--prefix", required=True)
    return ap.parse_args()


def main():
    o = parse()

    def watchdog():
        emit("FAIL", {"exception": "watchdog: no completion after %ss" % o.timeout})
        os._exit(3)
    t = threading.Timer(o.timeout, watchdog)
    t.daemon = True
    t.start()
    try:
        SCENARIOS[o.cmd](o)
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - report anything, then exit
        extra = {}
        if isinstance(e, ApplicationError):
            extra = {"error": e.message, "args": norm(list(e.args or [])),
                     "kwargs": norm(dict(getattr(e, "kwargs", None) or {}))}
        emit("FAIL", {"exception": repr(e), **extra})
        finish(1)
    finish(0)


if __name__ == "__main__":
    main()
