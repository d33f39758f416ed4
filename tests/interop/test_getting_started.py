"""The Crossbar.io "getting started" guide, run as its readers run it: the seed's
node directory (getting-started/.crossbar/config.json, unchanged, port 8080) and
the guide's example scripts, unmodified, against the router under test.

The tree is copied to a temp dir first (a router may write key files or a pid
file into the node directory); the scripts and config themselves are not touched.
"""

import datetime
import os
import re
import shutil
import subprocess
import sys
import urllib.request

import pytest

import harness
from conftest import assert_clean_exit
from harness import Router

GS = os.path.join(harness.HERE, "getting-started")
PORT = 8080  # hard-coded in the seed config and in 2.pubsub-js/frontend.js
ENV = {"CBURL": "ws://127.0.0.1:%d/ws" % PORT, "CBREALM": "realm1"}


@pytest.fixture(scope="module")
def gs_dir(tmp_path_factory):
    dst = os.path.join(str(tmp_path_factory.mktemp("gs")), "getting-started")
    shutil.copytree(GS, dst, ignore=shutil.ignore_patterns("key.*", "node.pid", "*.log", "__pycache__"))
    return dst


@pytest.fixture(scope="module")
def gs_router(gs_dir):
    if not harness.port_is_free(PORT):
        pytest.fail("port %d is busy, but the getting-started config (and frontend.js) use it: "
                    "stop whatever listens there and rerun.\n%s" % (PORT, harness.who_listens(PORT)))
    r = Router(os.path.join(gs_dir, ".crossbar"), PORT, name="getting-started").start()
    yield r
    try:
        assert_clean_exit(r)
    finally:
        r.kill()


@pytest.fixture
def gs(gs_router, clients):
    clients.watch(gs_router)
    yield gs_router
    assert gs_router.alive(), "the router died during this test\n%s" % gs_router.log_tail()


def test_seed_config_is_unchanged():
    """The node directory is the guide's own: same bytes as the seed copy when
    that is available (shared/seed beside the checkout)."""
    seed = os.path.join(harness.REPO, "..", "shared", "seed", "getting-started-config.json")
    ours = os.path.join(GS, ".crossbar", "config.json")
    if not os.path.exists(seed):
        pytest.skip("shared/seed not present beside this checkout")
    with open(seed, "rb") as a, open(ours, "rb") as b:
        assert a.read() == b.read(), "tests/interop/getting-started/.crossbar/config.json differs from the seed"


def test_check_accepts_getting_started_config(gs_dir):
    """`<router> check --cbdir` accepts the guide's config."""
    argv = [harness.router_binary(), "check", "--cbdir", os.path.join(gs_dir, ".crossbar")]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=gs_dir)
    assert out.returncode == 0, "%s exited %s\nstdout:\n%s\nstderr:\n%s" % (
        " ".join(argv), out.returncode, out.stdout, out.stderr)


def test_node_info_page(gs):
    """The guide: 'navigate to http://localhost:8080/info'."""
    with urllib.request.urlopen("http://127.0.0.1:%d/info" % PORT, timeout=10) as resp:
        assert resp.status == 200
        body = resp.read().decode("utf-8", "replace")
    assert body.strip(), "empty /info page"


def test_hello_world_python_publisher_to_python_and_js_subscribers(gs, gs_dir, clients):
    hw = os.path.join(gs_dir, "1.hello-world")
    sub = clients.start("client_component_subscribe.py",
                        [sys.executable, os.path.join(hw, "client_component_subscribe.py")], env=ENV, cwd=hw)
    sub.wait_for(r"subscribed to topic", timeout=30)

    js_dir = os.path.join(gs_dir, "2.pubsub-js")
    js = clients.start("frontend.js (node)", harness.node_cmd() + [os.path.join(js_dir, "frontend.js")], cwd=js_dir)

    pub = clients.start("client_component_publish.py",
                        [sys.executable, os.path.join(hw, "client_component_publish.py")], env=ENV, cwd=hw)
    pub.wait_for(r"session ready", timeout=30)

    rc = sub.wait_exit(timeout=40)
    events = [int(m.group(1)) for m in
              (re.search(r"event received: Hello World (\d+)$", l) for l in sub.lines) if m]
    assert len(events) == 5, "expected 5 events, got %r\n%s" % (events, sub.output())
    assert events == list(range(events[0], events[0] + 5)), "events not consecutive: %r" % events
    assert rc == 0, "the subscriber exited %s after its 5 events\n%s" % (rc, sub.output())

    # frontend.js prints the event, then throws on `document` (Node has no DOM):
    # that is expected; the event line is what counts.
    js.wait_for(r"^Got event: Hello World \d+$", timeout=20)
    pub.kill()
    js.kill()


def test_date_rpc_js_callee_python_caller(gs, gs_dir, clients):
    rpc = os.path.join(gs_dir, "3.rpc")
    callee = clients.start("rpc_callee.js (node)", harness.node_cmd() + [os.path.join(rpc, "rpc_callee.js")],
                           env=ENV, cwd=rpc)
    callee.wait_for(r"^Procedure registered: \d+", timeout=30)

    caller = clients.start("client_component_rpc_caller.py",
                           [sys.executable, os.path.join(rpc, "client_component_rpc_caller.py")], env=ENV, cwd=rpc)
    rc = caller.wait_exit(timeout=40)
    text = "\n".join(caller.lines)
    assert "call error" not in text, caller.output()
    m = re.search(r"call result: (\S+)", text)
    assert m, "no 'call result:' line\n%s" % caller.output()
    stamp = m.group(1)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", stamp), stamp
    when = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - when).total_seconds()) < 120, "date %s is not now (%s)" % (stamp, now)
    assert rc == 0, "the caller exited %s\n%s" % (rc, caller.output())
    callee.wait_for(r"Someone is calling com.myapp.date", timeout=5)
    callee.kill()
