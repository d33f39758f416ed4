"""One node for the suites of the client libraries beyond Autobahn (wampy.js,
xconn, wamp_async): every transport those clients can use, with anonymous,
ticket and WAMP-CRA authentication on each, and the realms whose options
change what a client sees.

- realm `realm1`: Crossbar's defaults (call timeouts in seconds, the callee
  disclosed in RESULT details); role `anonymous` for anonymous sessions, role
  `user` for `joe` (ticket) and `alice` / `bob` (WAMP-CRA, bob's secret salted);
  both may do everything. Meta API on.
- ferrobar only (Crossbar does not know these realm options): `realm-ms` with
  `call_timeout_unit: "ms"` (call timeouts in the spec's milliseconds,
  announced in WELCOME), and `realm-hidden` with `disclose_callee: false`.

Transports (all on 127.0.0.1 or Unix sockets in the node directory):
  ws        web transport, WebSocket at /ws (json, msgpack, cbor), /info
  small_ws  web transport, WebSocket at /ws with `max_message_size` 1 MiB
  rs        RawSocket over TCP (json, msgpack, cbor)
  rs_unix   RawSocket on a Unix socket
  ws_unix   WebSocket on a Unix socket

Use it from a test module:

    from multiclient import node  # the module-scoped fixture
"""

import json
import os
import time

import pytest

import harness
from harness import IS_FERROBAR, Router

TICKET_USER, TICKET = "joe", "joe-ticket-4711"
CRA_USER, CRA_SECRET = "alice", "alice-secret"
# A salted WAMP-CRA user: the client derives the key from salt, iterations, keylen.
CRA_SALTED_USER, CRA_SALTED_SECRET = "bob", "bob-password"
CRA_SALT, CRA_ITERATIONS, CRA_KEYLEN = "salt123", 1000, 32

REALM = "realm1"
REALM_MS = "realm-ms"
REALM_HIDDEN = "realm-hidden"

SMALL_MAX = 1024 * 1024


def _allow_all():
    return [{"uri": "", "match": "prefix",
             "allow": {"call": True, "register": True, "publish": True, "subscribe": True},
             "disclose": {"caller": False, "publisher": False}, "cache": True}]


ROLES = [{"name": "anonymous", "permissions": _allow_all()},
         {"name": "user", "permissions": _allow_all()}]

AUTH = {
    "anonymous": {"type": "static", "role": "anonymous"},
    "ticket": {"type": "static", "principals": {TICKET_USER: {"ticket": TICKET, "role": "user"}}},
    "wampcra": {"type": "static", "users": {
        CRA_USER: {"secret": CRA_SECRET, "role": "user"},
        CRA_SALTED_USER: {"secret": CRA_SALTED_SECRET, "role": "user", "salt": CRA_SALT,
                          "iterations": CRA_ITERATIONS, "keylen": CRA_KEYLEN}}},
}

SERIALIZERS = ["json", "msgpack", "cbor"]


class MultiClientNode:
    TCP_PORTS = ("ws", "small_ws", "rs")

    def __init__(self, root):
        self.root = root
        self.cbdir = os.path.join(root, ".crossbar")
        os.makedirs(self.cbdir)
        self.ports = {}
        for name in self.TCP_PORTS:
            p = harness.free_port()
            while p in self.ports.values():
                p = harness.free_port()
            self.ports[name] = p
        # Unix socket paths must stay under ~100 bytes: keep them short.
        self.sockets = {"rs_unix": os.path.join(self.cbdir, "rs.sock"),
                        "ws_unix": os.path.join(self.cbdir, "ws.sock")}
        with open(os.path.join(self.cbdir, "config.json"), "w") as f:
            json.dump(self.config(), f, indent=2)
        self.router = None

    def config(self):
        def tcp(name):
            return {"type": "tcp", "interface": "127.0.0.1", "port": self.ports[name]}

        def unix(name):
            return {"type": "unix", "path": self.sockets[name]}

        def web(name, ws_options=None):
            ws = {"type": "websocket", "serializers": SERIALIZERS, "auth": AUTH}
            if ws_options:
                ws["options"] = ws_options
            return {"type": "web", "id": "tr_" + name, "endpoint": tcp(name),
                    "paths": {"ws": ws, "info": {"type": "nodeinfo"}}}

        realms = [{"name": REALM, "roles": ROLES}]
        if IS_FERROBAR:
            realms += [{"name": REALM_MS, "roles": ROLES, "options": {"call_timeout_unit": "ms"}},
                       {"name": REALM_HIDDEN, "roles": ROLES, "options": {"disclose_callee": False}}]
        return {
            "version": 2,
            "controller": {},
            "workers": [{
                "type": "router",
                "realms": realms,
                "transports": [
                    web("ws"),
                    web("small_ws", {"max_message_size": SMALL_MAX}),
                    {"type": "rawsocket", "id": "tr_rs", "endpoint": tcp("rs"),
                     "serializers": SERIALIZERS, "auth": AUTH},
                    {"type": "rawsocket", "id": "tr_rs_unix", "endpoint": unix("rs_unix"),
                     "serializers": SERIALIZERS, "auth": AUTH},
                    {"type": "websocket", "id": "tr_ws_unix", "endpoint": unix("ws_unix"),
                     "serializers": SERIALIZERS, "auth": AUTH},
                ],
            }],
        }

    # -- addresses a client uses

    def ws_url(self, name="ws"):
        return "ws://127.0.0.1:%d/ws" % self.ports[name]

    def rs_url(self):
        return "rs://127.0.0.1:%d" % self.ports["rs"]

    def tcp(self, name):
        return ("127.0.0.1", self.ports[name])

    def unix(self, name):
        return self.sockets[name]

    def start(self):
        self.router = Router(self.cbdir, self.ports["ws"], name="multiclient").start()
        deadline = time.monotonic() + harness.ROUTER_START_TIMEOUT
        waiting = set(self.ports.values())
        while waiting or not all(os.path.exists(p) for p in self.sockets.values()):
            waiting = {p for p in waiting if not harness.port_accepts(p)}
            if not waiting and all(os.path.exists(p) for p in self.sockets.values()):
                break
            assert self.router.alive(), "the router exited\n%s" % self.router.log_tail()
            assert time.monotonic() < deadline, "listeners not up\n%s" % self.router.log_tail()
            time.sleep(0.05)
        return self


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A MultiClientNode of the module's own, stopped with SIGTERM at the end
    (ferrobar must exit 0)."""
    n = MultiClientNode(str(tmp_path_factory.mktemp("multiclient"))).start()
    yield n
    rc = n.router.stop()
    if IS_FERROBAR:
        assert rc == 0, "ferrobar exited with %s after SIGTERM\n%s" % (rc, n.router.log_tail())


@pytest.fixture
def watched(node, clients):
    """The module's node, watched: its log tail joins a failure report, and the
    test fails if the router died during it."""
    clients.watch(node.router)
    yield node
    assert node.router.alive(), "the router died during this test\n%s" % node.router.log_tail()
