"""Process plumbing for the interop suite: the router under test and the client
processes (Autobahn|Python, Autobahn|JS), each bounded in time.

Environment:
  FERROBAR_INTEROP_ROUTER  ferrobar (default) | crossbar
  FERROBAR_BIN             path of the ferrobar binary (default: <repo>/target/release/ferrobar)
  CROSSBAR_BIN             path of the crossbar executable (default: `crossbar` on PATH)
  FERROBAR_INTEROP_SHARDS  --shards for ferrobar (default 2, so traffic crosses cores)
  NODE                     the Node.js executable (default: `node` on PATH)
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
CLIENTS = os.path.join(HERE, "clients")
NODE_MODULES = os.path.join(HERE, "node_modules")

ROUTER_KIND = os.environ.get("FERROBAR_INTEROP_ROUTER", "ferrobar").strip().lower()
if ROUTER_KIND not in ("ferrobar", "crossbar"):
    raise RuntimeError("FERROBAR_INTEROP_ROUTER must be 'ferrobar' or 'crossbar', not %r" % ROUTER_KIND)
IS_FERROBAR = ROUTER_KIND == "ferrobar"
IS_CROSSBAR = ROUTER_KIND == "crossbar"

# Bounds. Crossbar (a Python controller plus a worker process) is much slower
# to start and to stop than ferrobar.
ROUTER_START_TIMEOUT = 60.0 if IS_CROSSBAR else 20.0
ROUTER_STOP_TIMEOUT = 30.0 if IS_CROSSBAR else 10.0
CLIENT_TIMEOUT = 30.0


def router_binary():
    if IS_FERROBAR:
        path = os.environ.get("FERROBAR_BIN") or os.path.join(REPO, "target", "release", "ferrobar")
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise RuntimeError(
                "ferrobar binary not found at %s: run `cargo build --release` first "
                "(or set FERROBAR_BIN)" % path)
        return path
    path = os.environ.get("CROSSBAR_BIN") or shutil.which("crossbar")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError(
            "FERROBAR_INTEROP_ROUTER=crossbar but no crossbar executable found: "
            "set CROSSBAR_BIN (e.g. /tmp/cbvenv/bin/crossbar)")
    return path


def node_binary():
    return os.environ.get("NODE") or shutil.which("node") or "node"


def node_argv():
    """`node` plus what Node.js needs for Autobahn|JS: autobahn 26 uses the
    global WebSocket, which Node 20/21 only provide with --experimental-websocket."""
    node = node_binary()
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=20)
    m = re.match(r"v(\d+)\.", out.stdout.strip())
    major = int(m.group(1)) if m else 0
    argv = [node]
    if major and major < 22:
        argv.append("--experimental-websocket")
    return argv


_NODE_ARGV = None


def node_cmd():
    global _NODE_ARGV
    if _NODE_ARGV is None:
        _NODE_ARGV = node_argv()
    return list(_NODE_ARGV)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def port_is_free(port):
    """True when nothing listens on `port` (on 127.0.0.1 or the wildcard address)."""
    if port_accepts(port):
        return False
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # SO_REUSEADDR as servers set it: connections of an earlier run lingering in
    # TIME_WAIT do not make the port busy, a listening socket does.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("0.0.0.0", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def who_listens(port):
    try:
        out = subprocess.run(["ss", "-ltnp", "sport = :%d" % port], capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip()
    except Exception as e:  # ss may be missing
        return "(could not run ss: %s)" % e


def node_config(port, realm="realm1"):
    """A Crossbar node config (version 2) that both Crossbar and ferrobar accept:
    one router, realm `realm`, anonymous allowed everything, a web transport on
    127.0.0.1:`port` with WebSocket at /ws and node info at /info."""
    return {
        "version": 2,
        "controller": {},
        "workers": [{
            "type": "router",
            "realms": [{
                "name": realm,
                "roles": [{
                    "name": "anonymous",
                    "permissions": [{
                        "uri": "",
                        "match": "prefix",
                        "allow": {"call": True, "register": True, "publish": True, "subscribe": True},
                        "disclose": {"caller": False, "publisher": False},
                        "cache": True,
                    }],
                }],
            }],
            "transports": [{
                "type": "web",
                "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": port},
                "paths": {
                    "info": {"type": "nodeinfo"},
                    "ws": {"type": "websocket"},
                },
            }],
        }],
    }


def write_node_dir(root, port, realm="realm1"):
    cbdir = os.path.join(root, ".crossbar")
    os.makedirs(cbdir, exist_ok=True)
    with open(os.path.join(cbdir, "config.json"), "w") as f:
        json.dump(node_config(port, realm), f, indent=2)
    return cbdir


class Router:
    """The router under test, started on a node directory. Its stdout and
    stderr go to one log file (ferrobar logs to stderr; Crossbar logs info to
    stdout), quoted in every failure message."""

    def __init__(self, cbdir, port, name="router"):
        self.cbdir = cbdir
        self.port = port
        self.name = name
        self.kind = ROUTER_KIND
        self.proc = None
        self.returncode = None
        self.log_path = os.path.join(os.path.dirname(os.path.abspath(cbdir)),
                                     "%s-%s.log" % (name, self.kind))
        self._log = None

    @property
    def url(self):
        return "ws://127.0.0.1:%d/ws" % self.port

    def argv(self):
        binary = router_binary()
        if IS_FERROBAR:
            shards = os.environ.get("FERROBAR_INTEROP_SHARDS", "2")
            return [binary, "start", "--cbdir", self.cbdir, "--shards", shards, "--loglevel", "info"]
        return [binary, "start", "--cbdir", self.cbdir, "--loglevel", "info"]

    def start(self):
        argv = self.argv()
        self._log = open(self.log_path, "wb")
        self._log.write(("$ %s\n" % " ".join(argv)).encode())
        self._log.flush()
        env = dict(os.environ)
        env.setdefault("RUST_BACKTRACE", "1")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=os.path.dirname(self.cbdir),
                                     env=env, start_new_session=True)
        deadline = time.monotonic() + ROUTER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                raise AssertionError(
                    "%s exited with code %s before accepting connections on 127.0.0.1:%d\n%s"
                    % (self.kind, self.returncode, self.port, self.log_tail()))
            if port_accepts(self.port):
                return self
            time.sleep(0.05)
        self.kill()
        raise AssertionError("%s did not accept connections on 127.0.0.1:%d within %.0fs\n%s"
                             % (self.kind, self.port, ROUTER_START_TIMEOUT, self.log_tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=ROUTER_STOP_TIMEOUT):
        """Send `sig` and wait for the exit; returns the exit code. On timeout
        the whole process group is killed and an AssertionError raised."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError("%s did not exit within %.0fs of %s\n%s"
                                     % (self.kind, timeout, signal.Signals(sig).name, self.log_tail()))
        self.returncode = self.proc.returncode
        self._reap_group()
        return self.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        self._reap_group()

    def _reap_group(self):
        # Crossbar's worker processes share its process group: never leave one behind.
        if IS_CROSSBAR and self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self._log is not None:
            self._log.flush()

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines=60):
        text = self.log_text().splitlines()
        return ("---- %s log (%s, last %d lines) ----\n%s\n---- end of %s log ----"
                % (self.kind, self.log_path, min(lines, len(text)), "\n".join(text[-lines:]), self.kind))


class Proc:
    """A client process whose stdout lines are collected by a thread, so a test
    can wait (bounded) for a line matching a pattern."""

    def __init__(self, name, argv, env=None, cwd=None):
        self.name = name
        self.argv = argv
        self.lines = []
        self.err_lines = []
        self._cursor = 0  # markers consumed by wait_any/expect
        self._cv = threading.Condition()
        full_env = dict(os.environ)
        full_env["PYTHONUNBUFFERED"] = "1"
        full_env["NODE_PATH"] = NODE_MODULES
        if env:
            full_env.update(env)
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, cwd=cwd or HERE, env=full_env,
                                  start_new_session=True)
        self._threads = [threading.Thread(target=self._pump, args=(self.p.stdout, self.lines), daemon=True),
                         threading.Thread(target=self._pump, args=(self.p.stderr, self.err_lines), daemon=True)]
        for t in self._threads:
            t.start()

    def _pump(self, stream, sink):
        for raw in iter(stream.readline, b""):
            with self._cv:
                sink.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._cv.notify_all()
        with self._cv:
            self._cv.notify_all()

    def output(self):
        with self._cv:
            out = "\n".join(self.lines)
            err = "\n".join(self.err_lines)
        return ("---- %s: %s\n---- stdout:\n%s\n---- stderr:\n%s\n---- end of %s"
                % (self.name, " ".join(self.argv), out, err, self.name))

    def wait_for(self, pattern, timeout=CLIENT_TIMEOUT, start=0):
        """Wait until a stdout line (index >= start) matches regex `pattern`;
        returns (index, match). Fails on timeout or when the process exits first."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = start
        with self._cv:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return i, m
                    i += 1
                if self.p.poll() is not None and all(not t.is_alive() for t in self._threads):
                    raise AssertionError("%s exited (code %s) without printing a line matching %r\n%s"
                                         % (self.name, self.p.returncode, pattern, self._output_unlocked()))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%s printed no line matching %r within %.0fs\n%s"
                                         % (self.name, pattern, timeout, self._output_unlocked()))
                self._cv.wait(min(left, 0.2))

    def _output_unlocked(self):
        return ("---- %s: %s\n---- stdout:\n%s\n---- stderr:\n%s\n---- end of %s"
                % (self.name, " ".join(self.argv), "\n".join(self.lines), "\n".join(self.err_lines), self.name))

    def wait_any(self, tags, timeout=CLIENT_TIMEOUT):
        """Wait for the next `TAG {json}` line with TAG in `tags` (also FAIL, so
        a client's own failure shows at once), after the lines consumed by
        earlier calls; returns (tag, decoded json)."""
        tags = list(tags) + (["FAIL"] if "FAIL" not in tags else [])
        i, m = self.wait_for(r"^(%s) (.*)$" % "|".join(re.escape(t) for t in tags), timeout, self._cursor)
        self._cursor = i + 1
        return m.group(1), json.loads(m.group(2))

    def expect(self, tag, timeout=CLIENT_TIMEOUT, others=("ERROR", "LEAVE")):
        """Wait for `tag`; fail at once, with the output, if one of `others`
        (or FAIL) comes first. Returns the decoded json."""
        got, obj = self.wait_any([tag] + [o for o in others if o != tag], timeout)
        assert got == tag, "%s: expected %s, got %s %r\n%s" % (self.name, tag, got, obj, self.output())
        return obj

    def markers(self, tag):
        prefix = tag + " "
        with self._cv:
            return [json.loads(l[len(prefix):]) for l in self.lines if l.startswith(prefix)]

    def wait_exit(self, timeout=CLIENT_TIMEOUT):
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("%s did not exit within %.0fs\n%s" % (self.name, timeout, self.output()))
        for t in self._threads:
            t.join(timeout=5)
        return rc

    def kill(self, sig=signal.SIGKILL):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(timeout=10)


def py_client_argv(url, command, *args, serializer=None, realm="realm1", timeout=CLIENT_TIMEOUT):
    argv = [sys.executable, os.path.join(CLIENTS, "py_client.py"), "--url", url, "--realm", realm,
            "--timeout", str(timeout)]
    if serializer:
        argv += ["--serializer", serializer]
    return argv + [command] + list(args)


def js_client_argv(url, command, *args, serializer=None, realm="realm1", timeout=CLIENT_TIMEOUT, jsmod=None):
    """jsmod=None: Autobahn|JS 26 (npm `autobahn`) on Node's own WebSocket;
    jsmod="autobahn-22": Autobahn|JS 22.11.1 on the `ws` package (node runs
    without --experimental-websocket so that autobahn 22 picks `ws`)."""
    node = node_cmd() if jsmod is None else [node_binary()]
    argv = node + [os.path.join(CLIENTS, "js_client.js"), "--url", url, "--realm", realm,
                   "--timeout", str(timeout)]
    if serializer:
        argv += ["--serializer", serializer]
    if jsmod:
        argv += ["--module", jsmod]
    return argv + [command] + list(args)


def load_payload():
    with open(os.path.join(CLIENTS, "payload.json"), encoding="utf-8") as f:
        return json.load(f)


def mismatches(expected, got, path="$"):
    """Differences between two tagged-JSON values, as readable strings.
    Stricter than ==: True is not 1, None is not 0; an int and a float of the
    same value are the same number (JavaScript has one number type)."""
    out = []
    if isinstance(expected, bool) or expected is None:
        if got is not expected:
            out.append("%s: expected %r, got %r" % (path, expected, got))
    elif isinstance(expected, (int, float)):
        if isinstance(got, bool) or not isinstance(got, (int, float)) or got != expected:
            out.append("%s: expected %r, got %r" % (path, expected, got))
    elif isinstance(expected, str):
        if got != expected:
            out.append("%s: expected %r, got %r" % (path, expected, got))
    elif isinstance(expected, list):
        if not isinstance(got, list):
            out.append("%s: expected a list, got %r" % (path, got))
        elif len(got) != len(expected):
            out.append("%s: expected %d items, got %d: %r" % (path, len(expected), len(got), got))
        else:
            for i, (e, g) in enumerate(zip(expected, got)):
                out += mismatches(e, g, "%s[%d]" % (path, i))
    elif isinstance(expected, dict):
        if not isinstance(got, dict):
            out.append("%s: expected an object, got %r" % (path, got))
        else:
            for k in sorted(set(expected) | set(got)):
                if k not in got:
                    out.append("%s: missing key %r" % (path, k))
                elif k not in expected:
                    out.append("%s: unexpected key %r = %r" % (path, k, got[k]))
                else:
                    out += mismatches(expected[k], got[k], "%s.%s" % (path, k))
    else:
        raise TypeError("unexpected value in expectation at %s: %r" % (path, expected))
    return out
