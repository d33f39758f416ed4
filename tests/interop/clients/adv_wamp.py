"""In-process WAMP peers for the Advanced Profile interop tests
(test_advanced_broker.py, test_advanced_dealer.py, test_meta.py).

Two kinds of peer, both on asyncio inside the pytest process (no subprocess,
so a test costs milliseconds):

- `Net.session()`: a real Autobahn|Python session (autobahn.asyncio
  ApplicationSession over Autobahn's WebSocket client), used for everything
  Autobahn|Python can express.
- `Net.raw()`: a raw WAMP peer: Autobahn's WebSocket client layer with
  subprotocol wamp.2.json, where the test writes and reads the WAMP messages
  itself. Used only for what Autobahn|Python 26.10 cannot send or does not
  expose: disclose_me (no such option in its PublishOptions/CallOptions),
  progressive CALLs (CALL.Options.progress), CANCEL with a mode, malformed
  black/white lists (its PublishOptions asserts the types), ppt_* options
  (it speaks Crossbar's enc_algo/enc_key/enc_serializer instead), and the
  exact ERROR a caller gets after canceling (Autobahn rejects the call future
  locally at once).

Every wait is bounded: `STEP` seconds for one expected message, and `run()`
bounds a whole scenario.
"""

import asyncio
import json
import urllib.parse

import txaio

txaio.use_asyncio()

from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402
from autobahn.asyncio.websocket import (  # noqa: E402
    WampWebSocketClientFactory,
    WebSocketClientFactory,
    WebSocketClientProtocol,
)
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.serializer import JsonSerializer, MsgPackSerializer  # noqa: E402
from autobahn.wamp.types import ComponentConfig  # noqa: E402

# bound for one expected message / reply
STEP = 5.0
# how long a test waits to be confident that something does NOT arrive
QUIET = 0.4

# WAMP message codes
HELLO, WELCOME, ABORT, GOODBYE, ERROR = 1, 2, 3, 6, 8
PUBLISH, PUBLISHED, SUBSCRIBE, SUBSCRIBED, UNSUBSCRIBE, UNSUBSCRIBED, EVENT = 16, 17, 32, 33, 34, 35, 36
CALL, CANCEL, RESULT = 48, 49, 50
REGISTER, REGISTERED, UNREGISTER, UNREGISTERED, INVOCATION, INTERRUPT, YIELD = 64, 65, 66, 67, 68, 69, 70


def run(url, scenario, timeout=30.0, urls=None):
    """Run `await scenario(net)` on a fresh event loop, bounded by `timeout`;
    every connection the scenario opened is dropped afterwards. `urls` names
    further endpoints (net.urls["backend"], ...)."""

    async def main():
        txaio.config.loop = asyncio.get_running_loop()
        net = Net(url, urls)
        try:
            return await asyncio.wait_for(scenario(net), timeout)
        finally:
            await net.close()
            txaio.config.loop = None

    return asyncio.run(main())


async def within(aw, timeout=STEP, what="a reply"):
    """await `aw`, failing with a readable message after `timeout` seconds."""
    try:
        return await asyncio.wait_for(aw, timeout)
    except asyncio.TimeoutError:
        raise AssertionError("no %s within %.1fs" % (what, timeout)) from None


async def app_error(aw, timeout=STEP):
    """await `aw`, which must fail with an ApplicationError; returns it."""
    try:
        res = await within(aw, timeout, "ERROR")
    except ApplicationError as e:
        return e
    raise AssertionError("expected an ApplicationError, got the result %r" % (res,))


def _split(url):
    u = urllib.parse.urlparse(url)
    return u.hostname, u.port


class Net:
    """The connections of one scenario."""

    def __init__(self, url, urls=None):
        self.url = url
        self.urls = dict(urls or {})  # other named endpoints (e.g. "backend")
        self._transports = []

    async def session(self, url=None, realm="realm1", serializer="json"):
        """An Autobahn|Python session, joined."""
        loop = asyncio.get_running_loop()
        joined = loop.create_future()
        left = loop.create_future()
        ser = {"json": JsonSerializer, "msgpack": MsgPackSerializer}[serializer]()

        def make():
            return Client(ComponentConfig(realm), joined, left)

        factory = WampWebSocketClientFactory(make, url=url or self.url, serializers=[ser])
        host, port = _split(url or self.url)
        transport, _proto = await within(loop.create_connection(factory, host, port), what="TCP connect")
        self._transports.append(transport)
        session = await within(joined, what="WELCOME (Autobahn|Python session)")
        session.tcp = transport
        return session

    async def sessions(self, n, **kw):
        return [await self.session(**kw) for _ in range(n)]

    async def raw(self, url=None, realm="realm1", roles=None, join=True):
        """A raw WAMP-over-WebSocket (wamp.2.json) peer; joined unless join=False."""
        loop = asyncio.get_running_loop()
        peer = Raw()
        factory = WebSocketClientFactory(url=url or self.url, protocols=["wamp.2.json"])
        factory.protocol = _RawProtocol
        factory.peer = peer
        host, port = _split(url or self.url)
        transport, _proto = await within(loop.create_connection(factory, host, port), what="TCP connect")
        self._transports.append(transport)
        peer.tcp = transport
        await within(peer.opened, what="WebSocket handshake")
        if join:
            await peer.join(realm, roles)
        return peer

    async def close(self):
        for t in self._transports:
            if not t.is_closing():
                t.abort()
        await asyncio.sleep(0)


class Client(ApplicationSession):
    """An Autobahn|Python session that records how it ended and the errors its
    handlers raised (Autobahn only logs those)."""

    def __init__(self, config, joined, left):
        super().__init__(config)
        self._joined_f = joined
        self.left = left  # future: CloseDetails
        self.user_errors = []
        self.tcp = None

    def onJoin(self, details):
        self.details = details
        self.id = details.session  # kept after the session ended (session_id is then None)
        if not self._joined_f.done():
            self._joined_f.set_result(self)

    def onLeave(self, details):
        if not self.left.done():
            self.left.set_result(details)
        if not self._joined_f.done():
            self._joined_f.set_exception(AssertionError("session ended before joining: %r" % (details,)))
        self.disconnect()

    def onUserError(self, fail, msg):
        self.user_errors.append("%s: %s" % (msg, fail.value))

    def abort(self):
        """Drop the TCP connection without WebSocket close or GOODBYE."""
        self.tcp.abort()


class _RawProtocol(WebSocketClientProtocol):
    def onOpen(self):
        self.factory.peer._on_open(self)

    def onMessage(self, payload, isBinary):
        self.factory.peer._on_message(json.loads(payload.decode("utf-8")))

    def onClose(self, wasClean, code, reason):
        self.factory.peer._on_close(code, reason)


# HELLO roles of a raw peer: every client role, with the features the tests use.
RAW_ROLES = {
    "caller": {"features": {"progressive_call_results": True, "call_canceling": True,
                            "progressive_call_invocations": True, "caller_identification": True,
                            "payload_passthru_mode": True}},
    "callee": {"features": {"progressive_call_results": True, "call_canceling": True,
                            "progressive_call_invocations": True, "caller_identification": True,
                            "pattern_based_registration": True, "shared_registration": True,
                            "payload_passthru_mode": True}},
    "publisher": {"features": {"publisher_identification": True, "subscriber_blackwhite_listing": True,
                               "publisher_exclusion": True, "payload_passthru_mode": True}},
    "subscriber": {"features": {"publisher_identification": True, "pattern_based_subscription": True,
                                "payload_passthru_mode": True}},
}


class Raw:
    """A raw WAMP peer: send() lists, recv() the next message matching a predicate
    (messages not matched stay queued, in order)."""

    def __init__(self):
        loop = asyncio.get_running_loop()
        self.opened = loop.create_future()
        self.closed = loop.create_future()
        self.proto = None
        self.tcp = None
        self.session = None
        self.welcome = None
        self._inbox = []
        self._cv = asyncio.Condition()
        self._next_request = 0

    # transport callbacks
    def _on_open(self, proto):
        self.proto = proto
        if not self.opened.done():
            self.opened.set_result(True)

    def _on_message(self, msg):
        self._inbox.append(msg)
        asyncio.get_running_loop().create_task(self._notify())

    def _on_close(self, code, reason):
        if not self.opened.done():
            self.opened.set_exception(AssertionError("WebSocket closed during the handshake: %s %s" % (code, reason)))
        if not self.closed.done():
            self.closed.set_result((code, reason))
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self):
        async with self._cv:
            self._cv.notify_all()

    # sending
    def request(self):
        self._next_request += 1
        return self._next_request

    def send(self, *msg):
        self.proto.sendMessage(json.dumps(list(msg)).encode("utf-8"), isBinary=False)

    # receiving
    async def recv(self, pred=None, timeout=STEP, what=None):
        """The first queued or arriving message for which pred(msg) is true."""
        pred = pred or (lambda m: True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._cv:
            while True:
                for i, m in enumerate(self._inbox):
                    if pred(m):
                        del self._inbox[i]
                        return m
                left = deadline - loop.time()
                if left <= 0:
                    raise AssertionError("raw peer %s: no %s within %.1fs; queued: %r"
                                         % (self.session, what or "matching message", timeout, self._inbox))
                try:
                    await asyncio.wait_for(self._cv.wait(), left)
                except asyncio.TimeoutError:
                    pass

    async def expect(self, code, request=None, timeout=STEP, what=None):
        """The next message of type `code` (for `request` when given, matched on
        element 1 of replies, element 2 of ERROR)."""

        def pred(m):
            if m[0] != code:
                return False
            if request is None:
                return True
            return (m[2] if code == ERROR else m[1]) == request

        return await self.recv(pred, timeout, what or "message %d (request %s)" % (code, request))

    async def reply(self, request, timeout=STEP):
        """The RESULT/ERROR/PUBLISHED/... answering `request` (ERROR matched on element 2)."""

        def pred(m):
            if m[0] == ERROR:
                return m[2] == request
            return m[0] in (RESULT, PUBLISHED, SUBSCRIBED, REGISTERED, UNSUBSCRIBED, UNREGISTERED) and m[1] == request

        return await self.recv(pred, timeout, "reply to request %s" % request)

    async def none(self, pred=None, within_s=QUIET, what="message"):
        """Assert that no queued or arriving message matches pred for `within_s` seconds."""
        pred = pred or (lambda m: True)
        try:
            m = await self.recv(pred, within_s)
        except AssertionError:
            return
        raise AssertionError("raw peer %s: unexpected %s: %r" % (self.session, what, m))

    # WAMP conveniences
    async def join(self, realm="realm1", roles=None):
        self.send(HELLO, realm, {"roles": roles or RAW_ROLES})
        m = await self.recv(lambda m: m[0] in (WELCOME, ABORT), what="WELCOME")
        assert m[0] == WELCOME, "raw peer: HELLO answered with %r" % (m,)
        self.session, self.welcome = m[1], m[2]
        return m

    async def subscribe(self, topic, options=None):
        r = self.request()
        self.send(SUBSCRIBE, r, options or {}, topic)
        m = await self.reply(r)
        assert m[0] == SUBSCRIBED, m
        return m[2]

    async def register(self, procedure, options=None):
        r = self.request()
        self.send(REGISTER, r, options or {}, procedure)
        m = await self.reply(r)
        assert m[0] == REGISTERED, m
        return m[2]

    def call(self, procedure, args=None, kwargs=None, options=None, request=None):
        r = request or self.request()
        msg = [CALL, r, options or {}, procedure]
        if args is not None or kwargs is not None:
            msg.append(args or [])
        if kwargs is not None:
            msg.append(kwargs)
        self.send(*msg)
        return r

    def publish(self, topic, args=None, kwargs=None, options=None):
        r = self.request()
        msg = [PUBLISH, r, options or {}, topic]
        if args is not None or kwargs is not None:
            msg.append(args or [])
        if kwargs is not None:
            msg.append(kwargs)
        self.send(*msg)
        return r

    def yield_(self, request, args=None, kwargs=None, options=None):
        msg = [YIELD, request, options or {}]
        if args is not None or kwargs is not None:
            msg.append(args or [])
        if kwargs is not None:
            msg.append(kwargs)
        self.send(*msg)

    def abort(self):
        self.tcp.abort()


# ---------------------------------------------------------------------------
# small waiting helpers

async def until(cond, timeout=STEP, what="condition"):
    """Wait (bounded) until cond() is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("%s not reached within %.1fs" % (what, timeout))
        await asyncio.sleep(0.01)


async def quiet(seconds=QUIET):
    """Let in-flight messages arrive before asserting that something did not."""
    await asyncio.sleep(seconds)


# ---------------------------------------------------------------------------
# a router with several identities: one realm, two roles, three endpoints

def roles_node_config(ports, realm="realm1"):
    """realm1 with roles `anonymous` (disclose nothing) and `backend` (disclose
    caller and publisher, as Crossbar's `disclose` permission block says);
    three WebSocket endpoints with static anonymous auth:
      main    -> role anonymous, random authid
      backend -> role backend,   authid "bob"
      carol   -> role anonymous, authid "carol"
    """
    def role(name, disclose):
        return {"name": name, "permissions": [{
            "uri": "", "match": "prefix",
            "allow": {"call": True, "register": True, "publish": True, "subscribe": True},
            "disclose": {"caller": disclose, "publisher": disclose},
            "cache": True,
        }]}

    def web(port, auth=None):
        ws = {"type": "websocket"}
        if auth:
            ws["auth"] = {"anonymous": dict(type="static", **auth)}
        return {"type": "web", "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": port},
                "paths": {"ws": ws}}

    return {
        "version": 2,
        "controller": {},
        "workers": [{
            "type": "router",
            "realms": [{"name": realm, "roles": [role("anonymous", False), role("backend", True)]}],
            "transports": [
                web(ports["main"]),
                web(ports["backend"], {"role": "backend", "authid": "bob"}),
                web(ports["carol"], {"role": "anonymous", "authid": "carol"}),
            ],
        }],
    }


class RolesRouter:
    """The router under test on roles_node_config (started like the harness's
    routers: --shards 2, log file quoted on failure)."""

    def __init__(self, router, ports):
        self.router = router
        self.ports = ports
        self.urls = {k: "ws://127.0.0.1:%d/ws" % p for k, p in ports.items()}
        self.url = self.urls["main"]

    @classmethod
    def start(cls, root):
        import os
        import time

        import harness

        ports = {}
        while len(set(ports.values())) < 3:
            ports = {k: harness.free_port() for k in ("main", "backend", "carol")}
        cbdir = os.path.join(root, ".crossbar")
        os.makedirs(cbdir, exist_ok=True)
        with open(os.path.join(cbdir, "config.json"), "w") as f:
            json.dump(roles_node_config(ports), f, indent=2)
        router = harness.Router(cbdir, ports["main"], name="roles-router").start()
        deadline = time.monotonic() + harness.ROUTER_START_TIMEOUT
        for p in ports.values():
            while not harness.port_accepts(p):
                if time.monotonic() > deadline or not router.alive():
                    router.kill()
                    raise AssertionError("roles router: port %d not accepting\n%s" % (p, router.log_tail()))
                time.sleep(0.05)
        return cls(router, ports)

    def stop(self):
        """SIGTERM; returns the exit code."""
        return self.router.stop()


async def settled(ask, want, timeout=2.0, what="answer"):
    """`await ask()` until it returns `want` (bounded); returns the last answer.
    For realm-wide meta answers right after a join or a kill: the realm's
    catalog lives on one shard and learns of joins and leaves on the other
    shard asynchronously, so a killed session may still be counted for a few
    milliseconds after it received its GOODBYE (as with Crossbar, which
    detaches a killed session only when the client's GOODBYE reply arrives)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        got = await ask()
        if got == want or loop.time() > deadline:
            return got
        await asyncio.sleep(0.02)
