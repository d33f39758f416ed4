"""Dynamic authorization with real clients, as Crossbar users configure it: a
role `{"name": "user", "authorizer": "com.example.authorize"}` whose every
action is decided by a procedure an ordinary Autobahn|Python component
registers (clients/authz_components.py, which documents its policy).

One router (ferrobar --shards 2) with ticket authentication on a WebSocket and
a RawSocket transport: `backend` joins a static role allowed everything (the
authorizer component), `dave` and `erin` join the dynamic role `user`. The
authorizer connects over a connection of its own; with two shards the users
land on either shard, the authorizer's or the other.

Each user runs the same scenario (allowed, refused, cached, disclosed, failing
and invalid decisions; twenty unacknowledged publications parked behind one
slow decision) and the test checks what the user saw, what the authorizer was
asked (Crossbar's `authorize(session_details, uri, action, options)`), and that
the parked publications arrived complete and in order."""

import json
import os
import sys
import time

import pytest

import harness
from harness import IS_FERROBAR, Proc, Router

COMPONENTS = os.path.join(harness.CLIENTS, "authz_components.py")
TIMEOUT = 40.0
TICKS = 20
KINDS = ("websocket", "rawsocket")

EVERYTHING = {"uri": "", "match": "prefix",
              "allow": {"call": True, "register": True, "publish": True, "subscribe": True},
              "disclose": {"caller": False, "publisher": False}, "cache": True}
PRINCIPALS = {
    "backend": {"ticket": "backend-ticket", "role": "backend"},
    "dave": {"ticket": "dave-ticket", "role": "user"},
    "erin": {"ticket": "erin-ticket", "role": "user"},
}


class Node:
    def __init__(self, root):
        self.cbdir = os.path.join(root, ".crossbar")
        os.makedirs(self.cbdir)
        self.ws_port = harness.free_port()
        self.rs_port = harness.free_port()
        while self.rs_port == self.ws_port:
            self.rs_port = harness.free_port()
        auth = {"ticket": {"type": "static", "principals": PRINCIPALS}}
        config = {
            "version": 2,
            "controller": {},
            "workers": [{
                "type": "router",
                "realms": [{
                    "name": "realm1",
                    "roles": [
                        {"name": "user", "authorizer": "com.example.authorize"},
                        {"name": "backend", "permissions": [EVERYTHING]},
                    ],
                }],
                "transports": [
                    {"type": "web",
                     "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": self.ws_port},
                     "paths": {"ws": {"type": "websocket", "auth": auth}}},
                    {"type": "rawsocket",
                     "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": self.rs_port},
                     "serializers": ["json", "msgpack", "cbor"],
                     "auth": auth},
                ],
            }],
        }
        with open(os.path.join(self.cbdir, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
        self.router = Router(self.cbdir, self.ws_port, name="authorizer-router")

    def argv(self, role, kind, *extra):
        if kind == "websocket":
            port, url = self.ws_port, "ws://127.0.0.1:%d/ws" % self.ws_port
        else:
            port, url = self.rs_port, "rs://127.0.0.1:%d" % self.rs_port
        return [sys.executable, COMPONENTS, role, "--kind", kind, "--url", url,
                "--tcp", "127.0.0.1:%d" % port, "--timeout", str(TIMEOUT)] + list(extra)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = Node(str(tmp_path_factory.mktemp("authorizer")))
    n.router.start()
    deadline = time.monotonic() + 10
    while not harness.port_accepts(n.rs_port):
        assert time.monotonic() < deadline, "the RawSocket port is not up\n%s" % n.router.log_tail()
        time.sleep(0.05)
    yield n
    rc = n.router.stop()
    if IS_FERROBAR:
        assert rc == 0, "ferrobar exited with %s after SIGTERM\n%s" % (rc, n.router.log_tail())


@pytest.fixture
def authorizer(node, clients):
    clients.watch(node.router)
    proc = clients.start("authorizer", node.argv("authorizer", "websocket", "--timeout", "120"))
    proc.expect("READY", others=("LEAVE", "CONNECT_FAILED"))
    yield proc
    assert node.router.alive(), "the router died during this test\n%s" % node.router.log_tail()


def steps_of(proc):
    return {s["name"]: s for s in proc.markers("STEP")}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("authid", ["dave", "erin"])
def test_the_authorizer_decides_every_action(kind, authid, node, authorizer, clients):
    user = clients.start("user-" + authid, node.argv("user", kind, "--authid", authid,
                                                      "--ticket", PRINCIPALS[authid]["ticket"]))
    joined = user.expect("JOINED", others=("LEAVE", "CONNECT_FAILED"))
    assert joined["authrole"] == "user", joined
    done = user.expect("DONE", others=("LEAVE", "CONNECT_FAILED"))
    assert user.wait_exit(TIMEOUT) == 0, user.output()
    steps = steps_of(user)
    out = user.output() + authorizer.output()

    # What the user saw.
    allowed = ["subscribe public", "publish public 1", "publish public 2", "publish mine",
               "publish after ticks"]
    for name in allowed:
        assert steps[name]["error"] is None, "%s: %r\n%s" % (name, steps[name], out)
    for name in ("publish other's", "register denied"):
        assert steps[name]["error"] == "wamp.error.not_authorized", "%s: %r\n%s" % (name, steps[name], out)
    for name in ("call boom", "call invalid"):
        assert steps[name]["error"] == "wamp.error.authorization_failed", "%s: %r\n%s" % (name, steps[name], out)
    if IS_FERROBAR:
        assert "com.example.authorizer_broken" in steps["call boom"]["value"][0], out
    # disclose: true in the answer makes the router disclose the caller.
    assert steps["call whoami"]["value"] == done["session"], out

    # What the authorizer was asked, for this session.
    asked = [a for a in authorizer.markers("AUTHZ") if a["details"].get("session") == done["session"]]
    assert asked, out
    for a in asked:
        d = a["details"]
        assert (d["authid"], d["authrole"], d["authmethod"]) == (authid, "user", "ticket"), a
        assert isinstance(a["options"], dict), a
        if IS_FERROBAR:
            assert d["transport"]["type"] == kind, a
    questions = [(a["action"], a["uri"]) for a in asked]
    # cache: true -> one question for both publications to the public topic and the one after
    # (Crossbar caches per role, so there a second user of the role is not asked at all).
    public = questions.count(("publish", "com.example.public.news"))
    assert public == 1 if IS_FERROBAR else public <= 1, questions
    if IS_FERROBAR:  # Crossbar's cache is per role: a second user may not be asked
        assert ("subscribe", "com.example.public.news") in questions, questions
    assert ("register", "com.example.private.proc") in questions, questions
    # Twenty publications parked behind one slow decision share one question (Crossbar asks
    # twenty times)...
    slow = questions.count(("publish", "com.example.slow.tick"))
    assert slow == 1 if IS_FERROBAR else slow == TICKS, questions
    # ...and all arrive, in order, at the authorizer component's subscription.
    authorizer.wait_for(r'^EVENT \{"n": %d\}$' % (TICKS - 1), timeout=10)
    ticks = [e["n"] for e in authorizer.markers("EVENT")]
    assert ticks[-TICKS:] == list(range(TICKS)), "events: %r\n%s" % (ticks, out)
