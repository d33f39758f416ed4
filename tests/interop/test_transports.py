"""Every transport and serializer a Crossbar client can use, with Autobahn|Python
(asyncio Component, clients/transport_client.py) against ONE router whose config
holds all of them:

- the matrix {WebSocket, RawSocket} x {TCP, TLS, Unix socket} x {JSON,
  MessagePack, CBOR}: 18 sessions at once, each publishing to and calling a
  session of ANOTHER combination ((i + 7) % 18) with args/kwargs holding binary,
  unicode and integers up to 2^53 (clients/payload.json plus kwargs.sender);
  the event, the invocation and the call result must arrive intact;
- a `universal` port serving RawSocket, WebSocket and /info on one port;
- TLS with `ca_certificates`: a client without a certificate, or with one from
  another CA, is refused; one with a certificate signed by the CA joins;
- `serializers: ["cbor"]`: a JSON-only client is refused (WebSocket and
  RawSocket), a CBOR client joins.

The TLS material (a throwaway CA, a server certificate for 127.0.0.1, client
certificates) is made here with `cryptography` (already pinned in
requirements.txt as a dependency of autobahn), never with the openssl CLI."""

import datetime
import http.client
import ipaddress
import json
import os
import socket
import ssl
import sys
import time
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import harness
from harness import IS_FERROBAR, Proc, Router, load_payload, mismatches

CLIENT = os.path.join(harness.CLIENTS, "transport_client.py")
# Every wait of this module is bounded by this (and each client's own watchdog).
CLIENT_TIMEOUT = 40.0

KINDS = ("websocket", "rawsocket")
ENDPOINTS = ("tcp", "tls", "unix")
SERIALIZERS = ("json", "msgpack", "cbor")
MATRIX = [(k, e, s) for k in KINDS for e in ENDPOINTS for s in SERIALIZERS]
PEER_OFFSET = 7


def combo_name(c):
    return "%s-%s-%s" % c


# ---------------------------------------------------------------------------
# TLS material


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path, key):
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.chmod(path, 0o600)


def _write_cert(path, cert):
    with open(path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


def _builder(subject, issuer, public_key):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2)))


def make_ca(directory, stem, cn):
    """A self-signed CA: writes <stem>.pem and <stem>.key; returns (cert, key)."""
    key = _key()
    cert = (_builder(_name(cn), _name(cn), key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write_cert(os.path.join(directory, stem + ".pem"), cert)
    _write_key(os.path.join(directory, stem + ".key"), key)
    return cert, key


def make_leaf(directory, stem, cn, ca, server):
    """A certificate signed by `ca` (server: for 127.0.0.1 and localhost; else a
    client certificate): writes <stem>.crt and <stem>.key."""
    ca_cert, ca_key = ca
    key = _key()
    b = (_builder(_name(cn), ca_cert.subject, key.public_key())
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                        critical=False))
    if server:
        b = (b.add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
    else:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    cert = b.sign(ca_key, hashes.SHA256())
    _write_cert(os.path.join(directory, stem + ".crt"), cert)
    _write_key(os.path.join(directory, stem + ".key"), key)


def make_pki(cbdir):
    ca = make_ca(cbdir, "ca", "ferrobar interop test CA")
    make_leaf(cbdir, "server", "127.0.0.1", ca, server=True)
    make_leaf(cbdir, "client", "interop-client", ca, server=False)
    rogue = make_ca(cbdir, "rogue-ca", "some other CA")
    make_leaf(cbdir, "rogue-client", "rogue-client", rogue, server=False)


# ---------------------------------------------------------------------------
# the router: one node with every transport


def node_config(ports):
    """ports: name -> TCP port. Paths (keys, sockets) are relative to .crossbar."""
    tls = {"key": "server.key", "certificate": "server.crt"}
    tls_ca = dict(tls, ca_certificates=["ca.pem"])

    def tcp(port, t=None):
        e = {"type": "tcp", "interface": "127.0.0.1", "port": port}
        if t:
            e["tls"] = t
        return e

    web_paths = {"ws": {"type": "websocket"}, "info": {"type": "nodeinfo"}}
    return {
        "version": 2,
        "controller": {},
        "workers": [{
            "type": "router",
            "realms": [{"name": "realm1", "roles": [{
                "name": "anonymous",
                "permissions": [{
                    "uri": "", "match": "prefix",
                    "allow": {"call": True, "register": True, "publish": True, "subscribe": True},
                    "disclose": {"caller": False, "publisher": False},
                    "cache": True,
                }],
            }]}],
            "transports": [
                {"type": "web", "id": "ws_tcp", "endpoint": tcp(ports["ws-tcp"]), "paths": web_paths},
                {"type": "web", "id": "ws_tls", "endpoint": tcp(ports["ws-tls"], tls), "paths": web_paths},
                {"type": "websocket", "id": "ws_unix", "endpoint": {"type": "unix", "path": "ws.sock"}},
                {"type": "rawsocket", "id": "rs_tcp", "endpoint": tcp(ports["rs-tcp"]),
                 "serializers": ["json", "msgpack", "cbor"]},
                {"type": "rawsocket", "id": "rs_tls", "endpoint": tcp(ports["rs-tls"], tls),
                 "serializers": ["json", "msgpack", "cbor"]},
                {"type": "rawsocket", "id": "rs_unix", "endpoint": {"type": "unix", "path": "rs.sock"}},
                {"type": "universal", "id": "universal", "endpoint": tcp(ports["universal"]),
                 "rawsocket": {"serializers": ["cbor", "msgpack", "json"]},
                 "websocket": {"ws": {"type": "websocket", "serializers": ["cbor", "msgpack", "json"]}},
                 "web": {"paths": {"info": {"type": "nodeinfo"}}}},
                {"type": "universal", "id": "client_cert", "endpoint": tcp(ports["client-cert"], tls_ca),
                 "rawsocket": {},
                 "websocket": {"ws": {"type": "websocket"}}},
                {"type": "universal", "id": "cbor_only", "endpoint": tcp(ports["cbor-only"]),
                 "rawsocket": {"serializers": ["cbor"]},
                 "websocket": {"ws": {"type": "websocket", "serializers": ["cbor"]}}},
            ],
        }],
    }


TCP_PORTS = ("ws-tcp", "ws-tls", "rs-tcp", "rs-tls", "universal", "client-cert", "cbor-only")


class Node:
    def __init__(self, root):
        self.root = root
        self.cbdir = os.path.join(root, ".crossbar")
        os.makedirs(self.cbdir)
        make_pki(self.cbdir)
        self.ports = {}
        for name in TCP_PORTS:
            p = harness.free_port()
            while p in self.ports.values():
                p = harness.free_port()
            self.ports[name] = p
        with open(os.path.join(self.cbdir, "config.json"), "w") as f:
            json.dump(node_config(self.ports), f, indent=2)
        self.router = None

    def path(self, name):
        return os.path.join(self.cbdir, name)

    def start(self):
        self.router = Router(self.cbdir, self.ports["ws-tcp"], name="transports").start()
        deadline = time.monotonic() + harness.ROUTER_START_TIMEOUT
        waiting = set(self.ports.values())
        sockets = {self.path("ws.sock"), self.path("rs.sock")}
        while waiting or sockets:
            waiting = {p for p in waiting if not harness.port_accepts(p)}
            sockets = {s for s in sockets if not unix_accepts(s)}
            if not (waiting or sockets):
                break
            assert self.router.alive(), "the router exited\n%s" % self.router.log_tail()
            assert time.monotonic() < deadline, (
                "listeners not up within %.0fs: ports %s, sockets %s\n%s"
                % (harness.ROUTER_START_TIMEOUT, sorted(waiting), sorted(sockets), self.router.log_tail()))
            time.sleep(0.05)
        return self

    def client_argv(self, kind, endpoint, serializer, command, *args, port=None, cert=None,
                    timeout=CLIENT_TIMEOUT):
        """argv of transport_client.py for `kind` (websocket|rawsocket) over
        `endpoint` (tcp|tls|unix). `port` names an entry of self.ports to use
        instead of the matrix listener; `cert` is "client" or "rogue-client"."""
        argv = [sys.executable, CLIENT, "--kind", kind, "--timeout", str(timeout)]
        if serializer:
            argv += ["--serializer", serializer]
        if endpoint == "unix":
            sock = self.path("ws.sock" if kind == "websocket" else "rs.sock")
            url = "ws://localhost/ws" if kind == "websocket" else "rs://localhost"
            argv += ["--unix", sock, "--url", url]
        else:
            name = port or ("%s-%s" % ("ws" if kind == "websocket" else "rs", endpoint))
            p = self.ports[name]
            secure = endpoint == "tls"
            if kind == "websocket":
                url = "%s://127.0.0.1:%d/ws" % ("wss" if secure else "ws", p)
            else:
                url = "%s://127.0.0.1:%d" % ("rss" if secure else "rs", p)
            argv += ["--tcp", "127.0.0.1:%d" % p, "--url", url]
            if secure:
                argv += ["--ca", self.path("ca.pem")]
                if cert:
                    argv += ["--cert", self.path(cert + ".crt"), "--key", self.path(cert + ".key")]
        return argv + [command] + list(args)


def unix_accepts(path):
    if not os.path.exists(path):
        return False
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(0.5)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = Node(str(tmp_path_factory.mktemp("transports"))).start()
    yield n
    rc = n.router.stop()
    if IS_FERROBAR:
        assert rc == 0, "ferrobar exited with %s after SIGTERM\n%s" % (rc, n.router.log_tail())


@pytest.fixture
def watched(node, clients):
    """The module's router, watched like conftest's `shared`."""
    clients.watch(node.router)
    yield node
    assert node.router.alive(), "the router died during this test\n%s" % node.router.log_tail()


# ---------------------------------------------------------------------------
# the matrix: 18 concurrent sessions, each talking to another combination


class MatrixRun:
    def __init__(self, node):
        self.node = node
        self.run = uuid.uuid4().hex[:10]
        self.go = os.path.join(node.root, "go-%s" % self.run)
        self.procs = {}
        self.ready = {}
        self.failures = {}
        self.started = time.monotonic()
        self.seconds = None

    def topic(self, i):
        return "com.matrix.r%s.topic%d" % (self.run, i)

    def proc(self, i):
        return "com.matrix.r%s.proc%d" % (self.run, i)

    def start(self):
        n = len(MATRIX)
        for i, combo in enumerate(MATRIX):
            j = (i + PEER_OFFSET) % n
            kind, endpoint, ser = combo
            argv = self.node.client_argv(
                kind, endpoint, ser, "matrix", "--name", combo_name(combo),
                "--own-topic", self.topic(i), "--own-proc", self.proc(i),
                "--peer-topic", self.topic(j), "--peer-proc", self.proc(j), "--go", self.go)
            self.procs[combo] = Proc(combo_name(combo), argv)
        # All subscribed and registered, then go: no publication or call can miss its peer.
        for combo, p in self.procs.items():
            try:
                self.ready[combo] = p.expect("READY", timeout=CLIENT_TIMEOUT,
                                             others=("ERROR", "LEAVE", "CONNECT_FAILED"))
            except AssertionError as e:
                self.failures[combo] = str(e)
        open(self.go, "w").close()
        for combo, p in self.procs.items():
            if combo in self.failures:
                continue
            try:
                p.expect("DONE", timeout=CLIENT_TIMEOUT,
                         others=("ERROR", "LEAVE", "CONNECT_FAILED"))
                rc = p.wait_exit(timeout=10)
                if rc != 0:
                    self.failures[combo] = "exit code %s\n%s" % (rc, p.output())
            except AssertionError as e:
                self.failures[combo] = str(e)
        self.seconds = time.monotonic() - self.started
        return self

    def kill(self):
        for p in self.procs.values():
            p.kill()


@pytest.fixture(scope="module")
def matrix(node):
    m = MatrixRun(node)
    try:
        yield m.start()
    finally:
        m.kill()


def expected_payload(sender):
    p = load_payload()
    return {"args": p["args"], "kwargs": dict(p["kwargs"], sender=sender)}


def check(what, expected, got, proc, router):
    errors = mismatches(expected, got)
    assert not errors, "%s differs:\n  %s\n%s\n%s" % (what, "\n  ".join(errors), proc.output(),
                                                       router.log_tail(40))


@pytest.mark.parametrize("combo", MATRIX, ids=combo_name)
def test_matrix(combo, matrix, node):
    """Combination i subscribed to its topic and registered an echo; it got the
    event of combination (i - 7) % 18, was invoked by it, and its own call to
    combination (i + 7) % 18 returned its payload unchanged."""
    n = len(MATRIX)
    i = MATRIX.index(combo)
    sender = MATRIX[(i - PEER_OFFSET) % n]
    callee = MATRIX[(i + PEER_OFFSET) % n]
    p = matrix.procs[combo]
    assert combo not in matrix.failures, "%s: %s\n%s" % (combo_name(combo), matrix.failures[combo],
                                                          node.router.log_tail(60))
    kind, endpoint, ser = combo
    ready = matrix.ready[combo]
    assert ready["serializer"] == ser, "negotiated %r, expected %r" % (ready, ser)
    if kind == "websocket":
        assert ready["subprotocol"] == "wamp.2." + ser, ready
    events = p.markers("EVENT")
    assert len(events) == 1, "expected exactly one event, got %r\n%s" % (events, p.output())
    check("the event from %s" % combo_name(sender), expected_payload(combo_name(sender)), events[0],
          p, node.router)
    invoked = p.markers("INVOKED")
    assert len(invoked) == 1, "expected exactly one invocation, got %r\n%s" % (invoked, p.output())
    check("the invocation from %s" % combo_name(sender), expected_payload(combo_name(sender)),
          invoked[0], p, node.router)
    results = p.markers("RESULT")
    assert len(results) == 1, p.output()
    check("the result of calling %s" % combo_name(callee), expected_payload(combo_name(combo)),
          results[0], p, node.router)


def test_matrix_took_under_a_minute(matrix):
    """Not a speed assertion on the router: a bound on the suite (18 processes,
    each importing Autobahn, on a 2-core machine)."""
    assert matrix.seconds is not None and matrix.seconds < 60, matrix.seconds


# ---------------------------------------------------------------------------
# universal port, client certificates, serializer lists


def test_universal_port_serves_rawsocket_websocket_and_info(watched, clients):
    """One TCP port: a RawSocket (CBOR) and a WebSocket (JSON) session talk to
    each other (event + call both ways), and GET /info is answered."""
    node = watched
    run = uuid.uuid4().hex[:10]
    go = os.path.join(node.root, "go-universal-%s" % run)
    topic = "com.universal.r%s.topic%%d" % run
    proc = "com.universal.r%s.proc%%d" % run
    sides = [("rawsocket", "cbor"), ("websocket", "json")]
    procs = []
    for i, (kind, ser) in enumerate(sides):
        argv = node.client_argv(kind, "tcp", ser, "matrix", "--name", kind, "--own-topic", topic % i,
                                "--own-proc", proc % i, "--peer-topic", topic % (1 - i),
                                "--peer-proc", proc % (1 - i), "--go", go, port="universal")
        procs.append(clients.start("universal-" + kind, argv))
    for (kind, ser), p in zip(sides, procs):
        ready = p.expect("READY", timeout=CLIENT_TIMEOUT, others=("ERROR", "LEAVE", "CONNECT_FAILED"))
        assert ready["serializer"] == ser, ready
    open(go, "w").close()
    for i, p in enumerate(procs):
        p.expect("DONE", timeout=CLIENT_TIMEOUT, others=("ERROR", "LEAVE", "CONNECT_FAILED"))
        other = sides[1 - i][0]
        check("event", expected_payload(other), p.markers("EVENT")[0], p, node.router)
        check("invocation", expected_payload(other), p.markers("INVOKED")[0], p, node.router)
        check("result", expected_payload(sides[i][0]), p.markers("RESULT")[0], p, node.router)
        assert p.wait_exit() == 0, p.output()

    conn = http.client.HTTPConnection("127.0.0.1", node.ports["universal"], timeout=10)
    try:
        conn.request("GET", "/info")
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    assert resp.status == 200, (resp.status, body[:500])
    assert b"<html" in body.lower() or b"<!doctype" in body.lower(), body[:500]


def join(clients, node, name, kind, endpoint, serializer, **kw):
    p = clients.start(name, node.client_argv(kind, endpoint, serializer, "join", **kw))
    rc = p.wait_exit(timeout=CLIENT_TIMEOUT + 10)
    return rc, p


@pytest.mark.parametrize("kind", KINDS)
def test_client_certificate_required(kind, watched, clients):
    """`ca_certificates` on the endpoint: no client certificate, or one from
    another CA, is refused; a certificate signed by the CA is accepted."""
    node = watched
    rc, p = join(clients, node, "with-cert", kind, "tls", "json", port="client-cert", cert="client")
    assert rc == 0 and p.markers("JOINED"), "a client with a CA-signed certificate must join\n" + p.output()

    for cert in (None, "rogue-client"):
        rc, p = join(clients, node, "cert-%s" % cert, kind, "tls", "json", port="client-cert", cert=cert)
        assert not p.markers("JOINED"), "a client with certificate %r must be refused\n%s" % (cert, p.output())
        assert rc in (4, 5), "expected a failed connection (exit 4) or ABORT (5), got %s\n%s" % (rc, p.output())


def test_client_certificate_not_needed_without_ca_certificates(watched, clients):
    """The plain TLS ports do not ask for a client certificate."""
    rc, p = join(clients, watched, "no-cert", "websocket", "tls", "msgpack")
    assert rc == 0 and p.markers("JOINED"), p.output()


@pytest.mark.parametrize("kind", KINDS)
def test_serializer_list_restricts_clients(kind, watched, clients):
    """`serializers: ["cbor"]`: a JSON-only (or MessagePack-only) client is
    refused, a CBOR client joins with CBOR."""
    node = watched
    rc, p = join(clients, node, "cbor", kind, "tcp", "cbor", port="cbor-only")
    assert rc == 0, p.output()
    assert p.markers("JOINED")[0]["serializer"] == "cbor", p.output()
    for ser in ("json", "msgpack"):
        rc, p = join(clients, node, ser + "-only", kind, "tcp", ser, port="cbor-only")
        assert not p.markers("JOINED"), "a %s-only client must be refused\n%s" % (ser, p.output())
        assert rc == 4, "expected a failed connection (exit 4), got %s\n%s" % (rc, p.output())
        # The refusal is the transport's own: HTTP 400 for WebSocket, RawSocket
        # handshake error 1 ("serializer unsupported") for RawSocket.
        err = "\n".join(p.err_lines)
        reason = "[400]" if kind == "websocket" else "serializer unsupported"
        assert reason in err, "expected %r in Autobahn's log\n%s" % (reason, p.output())
    if kind == "websocket":
        # Offering json first and cbor second: the router picks cbor.
        rc, p = join(clients, node, "json-then-cbor", kind, "tcp", "json,cbor", port="cbor-only")
        assert rc == 0, p.output()
        assert p.markers("JOINED")[0]["subprotocol"] == "wamp.2.cbor", p.output()


def test_server_certificate_is_checked_by_the_client(watched):
    """Sanity check of the TLS material itself: the server presents the
    certificate for 127.0.0.1 issued by our CA (so the matrix's TLS legs really
    verified the chain and the IP address)."""
    ctx = ssl.create_default_context(cafile=watched.path("ca.pem"))
    with socket.create_connection(("127.0.0.1", watched.ports["ws-tls"]), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            cert = s.getpeercert()
            version = s.version()
    assert ("IP Address", "127.0.0.1") in cert.get("subjectAltName", ()), cert
    assert version in ("TLSv1.2", "TLSv1.3"), version
