"""Fixtures for the interop suite: the router under test (ferrobar from
target/release by default, or Crossbar with FERROBAR_INTEROP_ROUTER=crossbar)
and real Autobahn|Python / Autobahn|JS client processes. See README.md."""

import os
import signal
import uuid

import pytest

import harness
from harness import IS_FERROBAR, Proc, Router


def pytest_report_header(config):
    try:
        binary = harness.router_binary()
    except RuntimeError as e:
        binary = "MISSING (%s)" % e
    return ["interop router: %s (%s)" % (harness.ROUTER_KIND, binary),
            "node: %s" % " ".join(harness.node_cmd())]


def pytest_sessionstart(session):
    # A missing router binary is a failure of the whole run, never a skip.
    try:
        harness.router_binary()
    except RuntimeError as e:
        raise pytest.UsageError(str(e))
    if not os.path.isdir(os.path.join(harness.NODE_MODULES, "autobahn")):
        raise pytest.UsageError("tests/interop/node_modules/autobahn is missing: run `make interop-deps` "
                                "(or `npm ci` in tests/interop)")


def pytest_sessionfinish(session, exitstatus):
    # pytest exits 5 when it ran no test; for this suite that is a failure.
    if exitstatus == 5:
        session.exitstatus = 1


def assert_clean_exit(router):
    """Stop the router with SIGTERM. ferrobar must exit 0 (Crossbar exits 1 on
    SIGTERM by design, see README: only recorded there)."""
    rc = router.stop(signal.SIGTERM)
    if IS_FERROBAR:
        assert rc == 0, "ferrobar exited with %s after SIGTERM (expected 0)\n%s" % (rc, router.log_tail())
    return rc


def start_router(tmp_path_factory, name):
    root = str(tmp_path_factory.mktemp(name))
    port = harness.free_port()
    cbdir = harness.write_node_dir(root, port)
    return Router(cbdir, port, name=name).start()


@pytest.fixture(scope="session")
def router(tmp_path_factory):
    """One router shared by the tests that do not stop it: a node directory in a
    temp dir, realm1/anonymous, WebSocket on 127.0.0.1:<free port>/ws, ferrobar
    with --shards 2. Stopped with SIGTERM at the end (exit code checked)."""
    r = start_router(tmp_path_factory, "shared-router")
    yield r
    assert_clean_exit(r)


@pytest.fixture
def private_router(tmp_path_factory):
    """A router of the test's own (for tests that stop it)."""
    r = start_router(tmp_path_factory, "private-router")
    yield r
    r.kill()


@pytest.fixture
def uri():
    """A URI prefix unique to this test, so tests sharing a router never meet."""
    return "com.interop.t%s" % uuid.uuid4().hex[:12]


class Clients:
    """Starts client processes for one test and kills leftovers at teardown."""

    def __init__(self):
        self.procs = []
        self.routers = []

    def start(self, name, argv, env=None, cwd=None):
        p = Proc(name, argv, env=env, cwd=cwd)
        self.procs.append(p)
        return p

    def py(self, name, url, command, *args, **kw):
        return self.start(name, harness.py_client_argv(url, command, *args, **kw))

    def js(self, name, url, command, *args, **kw):
        return self.start(name, harness.js_client_argv(url, command, *args, **kw))

    def client(self, lang, name, url, command, *args, **kw):
        """lang: "py" (Autobahn|Python), "js" (Autobahn|JS 26, Node's WebSocket)
        or "js22" (Autobahn|JS 22.11.1 on the `ws` package)."""
        if lang == "py":
            return self.py(name, url, command, *args, **kw)
        if lang == "js22":
            kw["jsmod"] = "autobahn-22"
        elif lang != "js":
            raise ValueError("unknown client language %r" % lang)
        return self.js(name, url, command, *args, **kw)

    def watch(self, router):
        self.routers.append(router)

    def report(self):
        parts = [p.output() for p in self.procs]
        parts += [r.log_tail(200) for r in self.routers]
        return "\n".join(parts)

    def cleanup(self):
        for p in self.procs:
            p.kill()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    clients = getattr(item, "_interop_clients", None)
    if clients is not None and rep.failed:
        rep.sections.append(("interop processes (%s)" % rep.when, clients.report()))


@pytest.fixture
def clients(request):
    c = Clients()
    request.node._interop_clients = c
    yield c
    c.cleanup()


@pytest.fixture
def shared(router, clients):
    """The shared router, watched: its log is attached to a failure report, and
    the test fails if the router died during it."""
    clients.watch(router)
    yield router
    assert router.alive(), "the shared router died during this test\n%s" % router.log_tail()
