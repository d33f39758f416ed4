"""Authentication with real clients, as Crossbar users configure and use it.

One router (ferrobar --shards 2) on a node config of this module's own with:

- static authentication on a WebSocket (web transport path) and a RawSocket
  transport: anonymous (configured role and authid), ticket (the ticket taken
  from an environment variable, "${NAME}"), WAMP-CRA unsalted and salted
  (PBKDF2 with the salt, iterations and keylen the CHALLENGE carries; once with
  Crossbar's defaults, once with others), cryptosign (by authid, and by the
  public key in authextra alone);
- TLS client-certificate authentication (`tls`, principal by SHA-1
  fingerprint) on a WebSocket and a RawSocket endpoint with `ca_certificates`;
- dynamic authentication (ticket, WAMP-CRA, anonymous) on a WebSocket and a
  RawSocket transport, answered by `com.example.authenticate`, which an ordinary
  Autobahn|Python component (clients/auth_authenticator.py) registers on the
  realm `auth` (`authenticator-realm`) over a connection of its own;
- a transport whose authenticator nobody registered.

Clients: Autobahn|Python's Component (clients/auth_client.py) for every method
over WebSocket and RawSocket, Autobahn|JS (clients/auth_client.js) for ticket
and WAMP-CRA. Each successful join checks WELCOME's authid, authrole,
authmethod and authprovider, and that the role's permissions apply: one action
the role may do succeeds, one it may not do fails with
wamp.error.not_authorized.

Refusals end in ABORT wamp.error.not_authorized; ferrobar's message is
"authentication failed" whatever was wrong (unknown authid, wrong secret, key
not authorized), or the dynamic authenticator's own message.

ferrobar slows down a peer host after 5 failed authentications (see
tests/auth.rs). So that the refusals tested here never throttle the other
tests' clients, every Python client that is meant to be refused connects from
a loopback address of its own (127.0.0.x, --source).

The TLS material is made here with `cryptography` (pinned); the Ed25519 keys
too. Autobahn's cryptosign needs PyNaCl (pinned in requirements.txt)."""

import datetime
import ipaddress
import itertools
import json
import os
import re
import sys
import time
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import harness
from harness import IS_FERROBAR, Proc, Router

CLIENT = os.path.join(harness.CLIENTS, "auth_client.py")
JS_CLIENT = os.path.join(harness.CLIENTS, "auth_client.js")
AUTHENTICATOR = os.path.join(harness.CLIENTS, "auth_authenticator.py")
CLIENT_TIMEOUT = 40.0

NOT_AUTHORIZED = "wamp.error.not_authorized"
FAILED = "authentication failed"
KINDS = ("websocket", "rawsocket")

JOE_TICKET_ENV = "FERROBAR_AUTH_TEST_JOE_TICKET"
JOE_TICKET = "joe-secret-ticket-from-the-environment"

# Crossbar's random authids: 6 groups of 4 of autobahn.util.DEFAULT_TOKEN_CHARS
RANDOM_AUTHID = re.compile(r"^[345679ACEFGHJKLMNPQRSTUVWXY]{4}(-[345679ACEFGHJKLMNPQRSTUVWXY]{4}){5}$")

# what the authenticator component answers (clients/auth_authenticator.py)
MESSAGE_RAISE = "could not authenticate session: you asked for it"

_sources = itertools.count(20)


def fresh_source():
    """A loopback address no other client of this module connects from."""
    n = next(_sources)
    assert n < 250, "out of loopback source addresses"
    return "127.0.0.%d" % n


# ---------------------------------------------------------------------------
# key material


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path, data, private=False):
    with open(path, "wb") as f:
        f.write(data)
    if private:
        os.chmod(path, 0o600)


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert(subject, issuer_name, public_key, signing_key, ca=False, server=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder()
         .subject_name(_name(subject))
         .issuer_name(_name(issuer_name))
         .public_key(public_key)
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(hours=1))
         .not_valid_after(now + datetime.timedelta(days=2))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                          content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False,
                                          encipher_only=False, decipher_only=False), critical=True)
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    else:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
                            critical=False)
        if server:
            b = (b.add_extension(x509.SubjectAlternativeName([
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                    critical=False)
                 .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
        else:
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return b.sign(signing_key, hashes.SHA256())


def make_pki(cbdir):
    """A throwaway CA (ca.pem), a server certificate for 127.0.0.1 and two
    client certificates signed by the CA: service1 (a configured principal)
    and stranger (valid, but no principal has it). Returns the SHA-1
    fingerprint of service1's certificate as `openssl x509 -fingerprint -sha1`
    prints it (AB:CD:...)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("ferrobar auth test CA", "ferrobar auth test CA", ca_key.public_key(), ca_key, ca=True)
    _write(os.path.join(cbdir, "ca.pem"), ca.public_bytes(serialization.Encoding.PEM))
    fingerprint = None
    for stem, server in (("server", True), ("service1", False), ("stranger", False)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert("127.0.0.1" if server else stem, "ferrobar auth test CA", key.public_key(), ca_key,
                     server=server)
        _write(os.path.join(cbdir, stem + ".crt"), cert.public_bytes(serialization.Encoding.PEM))
        _write(os.path.join(cbdir, stem + ".key"), _pem_key(key), private=True)
        if stem == "service1":
            fingerprint = ":".join("%02X" % b for b in cert.fingerprint(hashes.SHA1()))
    return fingerprint


def ed25519_pair():
    """(private seed hex, public key hex), as `ferrobar keygen` prints them."""
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes_raw().hex(), key.public_key().public_bytes_raw().hex()


# ---------------------------------------------------------------------------
# the node


def permission(uri, call=False, register=False, publish=False, subscribe=False):
    return {"uri": uri, "match": "prefix",
            "allow": {"call": call, "register": register, "publish": publish, "subscribe": subscribe},
            "disclose": {"caller": False, "publisher": False}, "cache": True}


ROLES = [
    # static anonymous sessions (configured role and authid) and dynamic anonymous ones
    {"name": "guest", "permissions": [permission("com.example.public.", subscribe=True)]},
    {"name": "frontend", "permissions": [permission("com.example.", call=True, publish=True, subscribe=True)]},
    {"name": "backend", "permissions": [
        permission("com.example.", call=True, register=True, publish=True, subscribe=True)]},
    {"name": "device", "permissions": [
        permission("com.example.device.", register=True, publish=True, subscribe=True)]},
    {"name": "certified", "permissions": [permission("com.example.tls.", publish=True)]},
]


class Node:
    PORTS = ("static-ws", "static-rs", "tls-ws", "tls-rs", "tlscs-ws", "tlscs-rs", "dyn-ws", "dyn-rs",
             "unreg-ws", "backend")

    def __init__(self, root):
        self.root = root
        self.cbdir = os.path.join(root, ".crossbar")
        os.makedirs(self.cbdir)
        self.fingerprint = make_pki(self.cbdir)
        self.keys = {name: ed25519_pair() for name in ("device1", "device2", "intruder")}
        self.ports = {}
        for name in self.PORTS:
            p = harness.free_port()
            while p in self.ports.values():
                p = harness.free_port()
            self.ports[name] = p
        with open(os.path.join(self.cbdir, "config.json"), "w") as f:
            json.dump(self.config(), f, indent=2)
        self.router = None

    def path(self, name):
        return os.path.join(self.cbdir, name)

    def static_auth(self):
        return {
            "anonymous": {"type": "static", "role": "guest", "authid": "visitor"},
            "ticket": {"type": "static", "principals": {
                "joe": {"ticket": "${%s}" % JOE_TICKET_ENV, "role": "frontend"}}},
            "wampcra": {"type": "static", "users": {
                "alice": {"secret": "alice-secret", "role": "frontend"},
                "bob": {"secret": "bob-password", "role": "backend",
                        "salt": "salt123", "iterations": 1000, "keylen": 32},
                "dave": {"secret": "dave-password", "role": "backend",
                         "salt": "sodium chloride", "iterations": 250, "keylen": 16}}},
            "cryptosign": {"type": "static", "principals": {
                "device1": {"authorized_keys": [self.keys["device1"][1]], "role": "device"},
                "device2": {"authorized_keys": [self.keys["device2"][1]], "role": "device",
                            "realm": "realm1"}}},
        }

    def config(self):
        def tcp(port, tls=False):
            e = {"type": "tcp", "interface": "127.0.0.1", "port": self.ports[port]}
            if tls:
                e["tls"] = {"key": "server.key", "certificate": "server.crt"}
                if tls == "client-certificates":
                    e["tls"]["ca_certificates"] = ["ca.pem"]
            return e

        def dynamic(procedure):
            d = {"type": "dynamic", "authenticator": procedure, "authenticator-realm": "auth"}
            return d

        dyn_auth = {"anonymous": dynamic("com.example.authenticate"),
                    "ticket": dynamic("com.example.authenticate"),
                    "wampcra": dynamic("com.example.authenticate")}
        cryptosign_auth = {"cryptosign": self.static_auth()["cryptosign"]}
        tls_auth = {"tls": {"type": "static", "principals": {
            "service1": {"certificate-sha1": self.fingerprint, "role": "certified"}}}}

        def web(port, auth, tls=False):
            return {"type": "web", "id": port.replace("-", "_"), "endpoint": tcp(port, tls),
                    "paths": {"ws": {"type": "websocket", "auth": auth}, "info": {"type": "nodeinfo"}}}

        def rawsocket(port, auth, tls=False):
            return {"type": "rawsocket", "id": port.replace("-", "_"), "endpoint": tcp(port, tls),
                    "serializers": ["json", "msgpack", "cbor"], "auth": auth}

        return {
            "version": 2,
            "controller": {},
            "workers": [{
                "type": "router",
                "realms": [
                    {"name": "realm1", "roles": ROLES},
                    {"name": "auth", "roles": [{"name": "authenticator", "permissions": [
                        permission("com.example.", call=True, register=True, publish=True, subscribe=True)]}]},
                ],
                "transports": [
                    web("static-ws", self.static_auth()),
                    rawsocket("static-rs", self.static_auth()),
                    web("tls-ws", tls_auth, tls="client-certificates"),
                    rawsocket("tls-rs", tls_auth, tls="client-certificates"),
                    web("tlscs-ws", cryptosign_auth, tls=True),
                    rawsocket("tlscs-rs", cryptosign_auth, tls=True),
                    web("dyn-ws", dyn_auth),
                    rawsocket("dyn-rs", dyn_auth),
                    {"type": "websocket", "id": "unreg_ws", "endpoint": tcp("unreg-ws"),
                     "auth": {"ticket": dynamic("com.example.nobody_registered_this")}},
                    {"type": "websocket", "id": "backend", "endpoint": tcp("backend"),
                     "auth": {"anonymous": {"type": "static", "role": "authenticator"}}},
                ],
            }],
        }

    def start(self):
        os.environ[JOE_TICKET_ENV] = JOE_TICKET
        try:
            self.router = Router(self.cbdir, self.ports["static-ws"], name="auth").start()
        finally:
            del os.environ[JOE_TICKET_ENV]
        deadline = time.monotonic() + harness.ROUTER_START_TIMEOUT
        waiting = set(self.ports.values())
        while waiting:
            waiting = {p for p in waiting if not harness.port_accepts(p)}
            if not waiting:
                break
            assert self.router.alive(), "the router exited\n%s" % self.router.log_tail()
            assert time.monotonic() < deadline, "ports %s not up\n%s" % (sorted(waiting), self.router.log_tail())
            time.sleep(0.05)
        return self

    def endpoint_args(self, kind, port, tls=False):
        p = self.ports[port]
        if kind == "websocket":
            url = "%s://127.0.0.1:%d/ws" % ("wss" if tls else "ws", p)
        else:
            url = "%s://127.0.0.1:%d" % ("rss" if tls else "rs", p)
        argv = ["--kind", kind, "--url", url, "--tcp", "127.0.0.1:%d" % p]
        if tls:
            argv += ["--ca", self.path("ca.pem")]
        return argv

    def py_argv(self, kind, port, *args, tls=False, cert=None, source=None):
        argv = [sys.executable, CLIENT, "--timeout", str(CLIENT_TIMEOUT)] + self.endpoint_args(kind, port, tls)
        if cert:
            argv += ["--cert", self.path(cert + ".crt"), "--key", self.path(cert + ".key")]
        if source:
            argv += ["--source", source]
        return argv + list(args)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = Node(str(tmp_path_factory.mktemp("auth"))).start()
    yield n
    rc = n.router.stop()
    if IS_FERROBAR:
        assert rc == 0, "ferrobar exited with %s after SIGTERM\n%s" % (rc, n.router.log_tail())


@pytest.fixture
def watched(node, clients):
    clients.watch(node.router)
    yield node
    assert node.router.alive(), "the router died during this test\n%s" % node.router.log_tail()


@pytest.fixture(scope="module")
def authenticator(node):
    """The authenticator component, connected (as role `authenticator` on realm
    `auth`) over the backend transport: a connection of its own, so with two
    shards most clients land on the other shard than it."""
    p = node.ports["backend"]
    proc = Proc("authenticator", [sys.executable, AUTHENTICATOR, "--url", "ws://127.0.0.1:%d/ws" % p,
                                  "--tcp", "127.0.0.1:%d" % p, "--realm", "auth", "--timeout", "600"])
    try:
        ready = proc.expect("READY", others=("LEAVE", "CONNECT_FAILED"))
        assert ready["authrole"] == "authenticator", ready
        yield proc
    finally:
        proc.kill()


@pytest.fixture
def dyn(watched, authenticator, clients):
    """The node with its authenticator registered; the authenticator's output is
    part of a failure report."""
    clients.procs.append(authenticator)
    yield watched
    clients.procs.remove(authenticator)


# ---------------------------------------------------------------------------
# helpers


def finish(proc, what):
    """Waits for the client's exit; returns (rc, JOINED or None, TRY list, LEAVE or None)."""
    rc = proc.wait_exit(timeout=CLIENT_TIMEOUT + 10)
    joined = proc.markers("JOINED")
    leave = proc.markers("LEAVE")
    return rc, (joined[0] if joined else None), proc.markers("TRY"), (leave[0] if leave else None)


def check_joined(proc, authid, authrole, authmethod, authprovider, tries):
    """The client joined with this identity; `tries` is [(action, uri, expected error or None)]."""
    rc, joined, tried, leave = finish(proc, "join")
    out = proc.output()
    assert joined is not None, "expected to join as %s/%s, got LEAVE %r\n%s" % (authid, authrole, leave, out)
    got = {k: joined[k] for k in ("authid", "authrole", "authmethod", "authprovider")}
    want = {"authid": authid, "authrole": authrole, "authmethod": authmethod, "authprovider": authprovider}
    if authid is None:
        del got["authid"], want["authid"]
    assert got == want, "WELCOME: expected %r, got %r\n%s" % (want, got, out)
    assert joined["realm"] == "realm1", out
    assert rc == 0, "client exited %s\n%s" % (rc, out)
    expected = [{"action": a, "uri": u, "error": e} for a, u, e in tries]
    assert tried == expected, "the role's permissions:\nexpected %r\ngot      %r\n%s" % (expected, tried, out)
    return joined


def check_refused(proc, message=FAILED):
    """The client was refused with ABORT wamp.error.not_authorized (and, on
    ferrobar, exactly `message`)."""
    rc, joined, _, leave = finish(proc, "refusal")
    out = proc.output()
    assert joined is None, "expected a refusal, but the client joined: %r\n%s" % (joined, out)
    assert leave is not None, "expected an ABORT (LEAVE line)\n%s" % out
    assert leave["reason"] == NOT_AUTHORIZED, "expected ABORT %s, got %r\n%s" % (NOT_AUTHORIZED, leave, out)
    if IS_FERROBAR and message is not None:
        assert leave["message"] == message, "ABORT message: expected %r, got %r\n%s" % (message, leave["message"], out)
    assert rc == 5, "client exited %s\n%s" % (rc, out)
    return leave


def u():
    return uuid.uuid4().hex[:10]


def static_cases(node):
    """(name, client args, authid, authrole, authmethod, tries) for every static method."""
    k = u()
    frontend = [("publish", "com.example.news", None), ("register", "com.example.%s.proc" % k, NOT_AUTHORIZED)]
    backend = [("register", "com.example.%s.proc" % k, None), ("publish", "org.other.news", NOT_AUTHORIZED)]
    device = [("register", "com.example.device.%s" % k, None),
              ("call", "com.example.device.%s" % k, NOT_AUTHORIZED)]
    return {
        "anonymous": ([], "visitor", "guest", "anonymous",
                      [("subscribe", "com.example.public.news", None),
                       ("publish", "com.example.public.news", NOT_AUTHORIZED)]),
        "ticket": (["--authid", "joe", "--ticket", JOE_TICKET], "joe", "frontend", "ticket", frontend),
        "wampcra-unsalted": (["--authid", "alice", "--wampcra", "alice-secret"], "alice", "frontend", "wampcra",
                             frontend),
        "wampcra-salted": (["--authid", "bob", "--wampcra", "bob-password"], "bob", "backend", "wampcra", backend),
        "wampcra-salted-250-16": (["--authid", "dave", "--wampcra", "dave-password"], "dave", "backend", "wampcra",
                                  backend),
        "cryptosign-authid": (["--authid", "device1", "--cryptosign", node.keys["device1"][0]], "device1", "device",
                              "cryptosign", device),
        "cryptosign-pubkey": (["--cryptosign", node.keys["device2"][0]], "device2", "device", "cryptosign", device),
    }


STATIC = ("anonymous", "ticket", "wampcra-unsalted", "wampcra-salted", "wampcra-salted-250-16",
          "cryptosign-authid", "cryptosign-pubkey")


# ---------------------------------------------------------------------------
# static methods, Autobahn|Python


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", STATIC)
def test_static_method_joins_with_its_role(case, kind, watched, clients):
    """Autobahn|Python joins with each statically configured method; WELCOME
    names the principal, its role, the method and provider `static`; the
    role's permissions apply."""
    args, authid, role, method, tries = static_cases(watched)[case]
    for a, uri, _ in tries:
        args = args + ["--try", "%s:%s" % (a, uri)]
    p = clients.start("%s-%s" % (case, kind), watched.py_argv(kind, port_of(kind, "static"), *args))
    joined = check_joined(p, authid, role, method, "static", tries)
    if IS_FERROBAR:
        for key in ("x_cb_node", "x_cb_worker", "x_cb_peer", "x_cb_pid"):
            assert key in joined["authextra"], "WELCOME.authextra lacks %s: %r" % (key, joined["authextra"])


def port_of(kind, prefix):
    return "%s-%s" % (prefix, "ws" if kind == "websocket" else "rs")


@pytest.mark.parametrize("kind", KINDS)
def test_tls_client_certificate_is_the_credential(kind, watched, clients):
    """`tls`: the client certificate's SHA-1 fingerprint picks the principal
    (configured in openssl's AB:CD:... form); no CHALLENGE. A certificate from
    the same CA that no principal has is refused like any wrong credential."""
    port = port_of(kind, "tls")
    k = u()
    good = clients.start("tls-service1", watched.py_argv(
        kind, port, "--tls", "--try", "publish:com.example.tls.%s" % k,
        "--try", "subscribe:com.example.tls.%s" % k, tls=True, cert="service1"))
    stranger = clients.start("tls-stranger", watched.py_argv(kind, port, "--tls", tls=True, cert="stranger",
                                                             source=fresh_source()))
    check_joined(good, "service1", "certified", "tls", "static",
                 [("publish", "com.example.tls.%s" % k, None), ("subscribe", "com.example.tls.%s" % k, NOT_AUTHORIZED)])
    check_refused(stranger)


@pytest.mark.parametrize("kind", KINDS)
def test_static_refusals_say_nothing_about_what_was_wrong(kind, watched, clients):
    """Wrong ticket, unknown authid, wrong WAMP-CRA secret (unsalted and
    salted), a cryptosign key not authorized for the authid, a key no
    principal has: each is ABORT wamp.error.not_authorized with the same
    message. Each attempt comes from its own source address (the throttle)."""
    port = port_of(kind, "static")
    attempts = {
        "ticket-wrong": ["--authid", "joe", "--ticket", "not-joes-ticket"],
        "ticket-unknown-authid": ["--authid", "nobody", "--ticket", JOE_TICKET],
        "wampcra-wrong": ["--authid", "alice", "--wampcra", "not-alices-secret"],
        "wampcra-salted-wrong": ["--authid", "bob", "--wampcra", "alice-secret"],
        "wampcra-unknown-authid": ["--authid", "mallory", "--wampcra", "alice-secret"],
        "cryptosign-other-principals-key": ["--authid", "device1", "--cryptosign", watched.keys["device2"][0]],
        "cryptosign-unknown-key": ["--cryptosign", watched.keys["intruder"][0]],
        "cryptosign-unknown-authid": ["--authid", "device9", "--cryptosign", watched.keys["device1"][0]],
    }
    procs = {name: clients.start(name, watched.py_argv(kind, port, *args, source=fresh_source()))
             for name, args in attempts.items()}
    messages = {}
    for name, p in procs.items():
        messages[name] = check_refused(p)["message"]
    assert len(set(messages.values())) == 1, "the refusals must not differ: %r" % messages


@pytest.mark.parametrize("kind", KINDS)
def test_cryptosign_channel_binding_over_tls_is_refused_clearly(kind, watched, clients):
    """Cryptosign with tls-unique channel binding over TLS. tls-unique (RFC 5929) is the
    first TLS Finished message, which rustls does not expose, so ferrobar cannot verify a
    bound signature: it refuses the session (never accepts it unbound). A known limitation,
    documented in the README; the test pins that the refusal is an ABORT, not a hang."""
    p = clients.start("cs-tls-unique", watched.py_argv(
        kind, port_of(kind, "tlscs"), "--authid", "device1", "--cryptosign", watched.keys["device1"][0],
        "--channel-binding", "tls-unique", tls=True, source=fresh_source()))
    check_refused(p, message=None)


def test_cryptosign_channel_binding_refused_without_tls(watched, clients):
    """tls-unique channel binding asked for on a plain connection: refused
    (as Crossbar 26.10 does), never silently ignored."""
    p = clients.start("cs-tls-unique-plain", watched.py_argv(
        "websocket", "static-ws", "--authid", "device1", "--cryptosign", watched.keys["device1"][0],
        "--channel-binding", "tls-unique", source=fresh_source()))
    check_refused(p, message=None)


@pytest.mark.parametrize("kind", KINDS)
def test_cryptosign_mutual_authentication(kind, watched, clients):
    """A client that sends its own challenge (authextra.challenge) gets the
    router's `pubkey` and `signature` (signature + the signed challenge, hex)
    in CHALLENGE.extra, and the signature verifies under that key."""
    p = clients.start("cs-mutual", watched.py_argv(
        kind, port_of(kind, "static"), "--authid", "device1", "--cryptosign", watched.keys["device1"][0],
        "--mutual"))
    check_joined(p, "device1", "device", "cryptosign", "static", [])
    challenge = p.markers("CHALLENGE")[0]
    extra = challenge["extra"]
    assert "pubkey" in extra and "signature" in extra, (
        "CHALLENGE.extra must carry the router's pubkey and signature when the client sent a challenge: %r"
        % challenge)
    signed = bytes.fromhex(extra["signature"])
    assert len(signed) == 96, challenge
    assert signed[64:] == bytes.fromhex(challenge["client_challenge"]), challenge
    ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(extra["pubkey"])).verify(signed[:64], signed[64:])


# ---------------------------------------------------------------------------
# dynamic authenticators


def auth_calls(authenticator):
    return authenticator.markers("AUTH")


def wait_auth_call(authenticator, session, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in auth_calls(authenticator):
            if c["details"].get("session") == session:
                return c
        time.sleep(0.05)
    raise AssertionError("the authenticator was not called for session %s\n%s" % (session, authenticator.output()))


def test_dynamic_ticket_from_clients_on_both_shards(dyn, authenticator, clients):
    """Dynamic ticket: 8 clients (4 WebSocket, 4 RawSocket) at once, so they
    spread over both shards while the authenticator sits on one. The
    authenticator gets (realm, authid, details) with details.ticket; its role
    string, or its {role, authid, extra}, decide WELCOME."""
    procs = []
    for i in range(8):
        kind = KINDS[i % 2]
        who = "joe" if i < 4 else "mary"
        ticket = "joe-dynamic-ticket" if who == "joe" else "mary-ticket"
        k = u()
        tries = ["--try", "publish:com.example.news", "--try", "register:com.example.%s" % k]
        p = clients.start("dyn-%s-%s-%d" % (who, kind, i),
                          dyn.py_argv(kind, port_of(kind, "dyn"), "--authid", who, "--ticket", ticket, *tries))
        procs.append((p, who, k))
    for p, who, k in procs:
        if who == "joe":
            joined = check_joined(p, "joe", "frontend", "ticket", "dynamic",
                                  [("publish", "com.example.news", None),
                                   ("register", "com.example.%s" % k, NOT_AUTHORIZED)])
        else:
            joined = check_joined(p, "mary@example.com", "backend", "ticket", "dynamic",
                                  [("publish", "com.example.news", None),
                                   ("register", "com.example.%s" % k, None)])
            assert joined["authextra"].get("greeting") == "hello mary", joined
        call = wait_auth_call(authenticator, joined["session"])
        assert call["realm"] == "realm1", call
        assert call["authid"] == who, call
        d = call["details"]
        assert d["authmethod"] == "ticket", call
        assert d["ticket"] == ("joe-dynamic-ticket" if who == "joe" else "mary-ticket"), call
        if IS_FERROBAR:
            assert d["transport"]["peer"].startswith("tcp4:127.0.0.1:"), call


@pytest.mark.parametrize("kind", KINDS)
def test_dynamic_wampcra(kind, dyn, authenticator, clients):
    """Dynamic WAMP-CRA: the authenticator returns the secret and the role
    (and for carol salt, iterations and keylen); the router challenges with
    them and Autobahn answers as for a static user."""
    port = port_of(kind, "dyn")
    alice = clients.start("dyn-alice", dyn.py_argv(kind, port, "--authid", "alice", "--wampcra",
                                                   "alice-dynamic-secret", "--try", "publish:com.example.news"))
    carol = clients.start("dyn-carol", dyn.py_argv(kind, port, "--authid", "carol", "--wampcra", "carol-password",
                                                   "--try", "publish:org.other.news"))
    joined = check_joined(alice, "alice", "frontend", "wampcra", "dynamic", [("publish", "com.example.news", None)])
    call = wait_auth_call(authenticator, joined["session"])
    assert (call["realm"], call["authid"], call["details"]["authmethod"]) == ("realm1", "alice", "wampcra"), call
    check_joined(carol, "carol", "backend", "wampcra", "dynamic", [("publish", "org.other.news", NOT_AUTHORIZED)])


@pytest.mark.parametrize("kind", KINDS)
def test_dynamic_anonymous(kind, dyn, authenticator, clients):
    """Dynamic anonymous: the authenticator gets the random authid the router
    made and decides the role; its `extra` reaches WELCOME.authextra."""
    p = clients.start("dyn-anon", dyn.py_argv(kind, port_of(kind, "dyn"),
                                              "--try", "subscribe:com.example.public.x",
                                              "--try", "publish:com.example.public.x"))
    joined = check_joined(p, None, "guest", "anonymous", "dynamic",
                          [("subscribe", "com.example.public.x", None),
                           ("publish", "com.example.public.x", NOT_AUTHORIZED)])
    assert RANDOM_AUTHID.match(joined["authid"]), joined
    assert joined["authextra"].get("via") == "dynamic-anonymous", joined
    call = wait_auth_call(authenticator, joined["session"])
    assert call["authid"] == joined["authid"], call
    assert call["details"]["authmethod"] == "anonymous", call


@pytest.mark.parametrize("kind", KINDS)
def test_dynamic_authenticator_errors_refuse_with_its_message(kind, dyn, clients):
    """The authenticator raising ApplicationError: ABORT
    wamp.error.not_authorized with the authenticator's message."""
    port = port_of(kind, "dyn")
    raised = clients.start("dyn-raise", dyn.py_argv(kind, port, "--authid", "raise", "--ticket", "x",
                                                    source=fresh_source()))
    wrong = clients.start("dyn-wrong", dyn.py_argv(kind, port, "--authid", "joe", "--ticket", "not-it",
                                                   source=fresh_source()))
    unknown = clients.start("dyn-nouser", dyn.py_argv(kind, port, "--authid", "zed", "--wampcra", "x",
                                                      source=fresh_source()))
    check_refused(raised, MESSAGE_RAISE)
    check_refused(wrong, "wrong ticket")
    check_refused(unknown, "no such user")


def test_dynamic_authenticator_not_registered(watched, clients):
    """Nobody registered the authenticator: ABORT wamp.error.not_authorized,
    at once (not after the authenticator timeout). Four clients so that both
    shards answer."""
    port = watched.ports["unreg-ws"]
    started = time.monotonic()
    procs = [clients.start("unreg-%d" % i, [sys.executable, CLIENT, "--kind", "websocket",
                                            "--url", "ws://127.0.0.1:%d/ws" % port, "--tcp", "127.0.0.1:%d" % port,
                                            "--source", fresh_source(), "--authid", "joe", "--ticket", "t"])
             for i in range(4)]
    for p in procs:
        check_refused(p, message=None)
    took = time.monotonic() - started
    assert took < 8.0, "refusing took %.1fs: an unregistered authenticator must not wait for the timeout" % took


def test_dynamic_authenticator_that_never_answers(dyn, clients):
    """An authenticator that never answers: ABORT wamp.error.not_authorized
    after the router's 10 s timeout (bounded: WebSocket and RawSocket at once)."""
    started = time.monotonic()
    procs = [clients.start("dyn-hang-%s" % kind, dyn.py_argv(kind, port_of(kind, "dyn"), "--authid", "hang",
                                                             "--ticket", "x", source=fresh_source()))
             for kind in KINDS]
    for p in procs:
        check_refused(p, "the authenticator did not answer in time" if IS_FERROBAR else None)
        took = time.monotonic() - started
        if IS_FERROBAR:
            assert 9.0 <= took <= 20.0, "refused after %.1fs, expected the 10 s authenticator timeout" % took


# ---------------------------------------------------------------------------
# Autobahn|JS


def js_argv(node, kind, port, *args):
    p = node.ports[port]
    where = ["--url", "ws://127.0.0.1:%d/ws" % p] if kind == "websocket" else ["--rawsocket", "127.0.0.1:%d" % p]
    return harness.node_cmd() + [JS_CLIENT, "--timeout", str(CLIENT_TIMEOUT)] + where + list(args)


@pytest.mark.parametrize("kind", KINDS)
def test_autobahn_js_ticket_and_wampcra(kind, dyn, clients):
    """Autobahn|JS joins with ticket and WAMP-CRA (unsalted; salted with the
    CHALLENGE's salt/iterations/keylen), static and dynamic."""
    k = u()
    frontend = [("publish", "com.example.news", None), ("register", "com.example.%s" % k, NOT_AUTHORIZED)]
    backend = [("register", "com.example.%s" % k, None)]
    cases = [
        ("static", "ticket", "joe", JOE_TICKET, "joe", "frontend", frontend),
        ("static", "wampcra", "alice", "alice-secret", "alice", "frontend", frontend),
        ("static", "wampcra", "bob", "bob-password", "bob", "backend", backend),
        ("static", "wampcra", "dave", "dave-password", "dave", "backend", backend),
        ("dyn", "ticket", "joe", "joe-dynamic-ticket", "joe", "frontend", frontend),
        ("dyn", "wampcra", "carol", "carol-password", "carol", "backend", backend),
    ]
    procs = []
    for i, (prefix, method, authid, secret, want_authid, role, tries) in enumerate(cases):
        args = ["--authmethod", method, "--authid", authid, "--secret", secret]
        # register needs a URI of its own per session
        tries = [(a, uri + (".%d" % i if a == "register" else ""), e) for a, uri, e in tries]
        for a, uri, _ in tries:
            args += ["--try", "%s:%s" % (a, uri)]
        p = clients.start("js-%s-%s-%s" % (prefix, method, authid), js_argv(dyn, kind, port_of(kind, prefix), *args))
        procs.append((p, want_authid, role, method, "dynamic" if prefix == "dyn" else "static", tries))
    for p, authid, role, method, provider, tries in procs:
        check_joined(p, authid, role, method, provider, tries)


def test_autobahn_js_wrong_secrets(watched, clients):
    """Autobahn|JS with a wrong ticket and a wrong WAMP-CRA secret: ABORT
    wamp.error.not_authorized (Autobahn|JS calls onclose with it). Two
    failures from 127.0.0.1 only: below the throttle's threshold."""
    procs = [
        clients.start("js-wrong-ticket", js_argv(watched, "websocket", "static-ws", "--authmethod", "ticket",
                                                 "--authid", "joe", "--secret", "nope")),
        clients.start("js-wrong-wampcra", js_argv(watched, "rawsocket", "static-rs", "--authmethod", "wampcra",
                                                  "--authid", "bob", "--secret", "nope")),
    ]
    for p in procs:
        check_refused(p)


# ---------------------------------------------------------------------------
# cookie tracking and cookie authentication (Crossbar's `cookie` transport block
# and `cookie` auth method), with Autobahn|Python sending the Cookie header a
# browser would send and reading the Set-Cookie of the 101 response
# (clients/cookie_client.py)

COOKIE_CLIENT = os.path.join(harness.CLIENTS, "cookie_client.py")
NO_AUTH_METHOD = "wamp.error.no_auth_method"
# ferrobar's ids: alphanumeric; Crossbar's: base64 characters (also + and /).
ID_CHARS = "A-Za-z0-9" if IS_FERROBAR else "A-Za-z0-9+/"
COOKIE_ID = re.compile(r"^[%s]{24}$" % ID_CHARS)


class CookieNode:
    """realm1 (the ROLES above) on one web transport: `ws` and `attrs` both
    offer ticket (joe) and cookie authentication; `ws` tracks the cookie `cbtid`
    with Crossbar's defaults (memory store), `attrs` a cookie with every
    attribute set. `store` replaces ws's store (the file store test)."""

    def __init__(self, root, store=None):
        self.cbdir = os.path.join(root, ".crossbar")
        os.makedirs(self.cbdir)
        self.port = harness.free_port()
        auth = {"ticket": {"type": "static", "principals": {"joe": {"ticket": JOE_TICKET, "role": "frontend"}}},
                "cookie": {}}
        # ferrobar defaults the store to memory; Crossbar 26.10 fails to start without one.
        default_store = {} if IS_FERROBAR else {"store": {"type": "memory"}}
        ws_cookie = default_store if store is None else {"store": store}
        attrs_cookie = {"name": "sid", "length": 32, "max_age": 3600, "secure": True, "http_strict": True,
                        "same_site": "Lax", "store": {"type": "memory"}}
        config = {
            "version": 2,
            "controller": {},
            "workers": [{
                "type": "router",
                "realms": [{"name": "realm1", "roles": ROLES}],
                "transports": [{
                    "type": "web",
                    "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": self.port},
                    "paths": {
                        "ws": {"type": "websocket", "auth": auth, "cookie": ws_cookie},
                        "attrs": {"type": "websocket", "auth": auth, "cookie": attrs_cookie},
                    },
                }],
            }],
        }
        with open(os.path.join(self.cbdir, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
        self.router = Router(self.cbdir, self.port, name="cookie")

    def argv(self, *args, path="ws", cookie=None, source=None):
        argv = [sys.executable, COOKIE_CLIENT, "--timeout", str(CLIENT_TIMEOUT),
                "--url", "ws://127.0.0.1:%d/%s" % (self.port, path), "--tcp", "127.0.0.1:%d" % self.port]
        if cookie:
            argv += ["--cookie", cookie]
        if source:
            argv += ["--source", source]
        return argv + list(args)


@pytest.fixture(scope="module")
def cookie_node(tmp_path_factory):
    n = CookieNode(str(tmp_path_factory.mktemp("cookie")))
    n.router.start()
    yield n
    rc = n.router.stop()
    if IS_FERROBAR:
        assert rc == 0, "ferrobar exited with %s after SIGTERM\n%s" % (rc, n.router.log_tail())


@pytest.fixture
def cookies(cookie_node, clients):
    clients.watch(cookie_node.router)
    yield cookie_node
    assert cookie_node.router.alive(), "the router died during this test\n%s" % cookie_node.router.log_tail()


def cookie_run(clients, node, name, *args, **kw):
    """Runs the cookie client to its end; returns (rc, HTTP, CHALLENGE list, JOINED or None, LEAVE or None)."""
    p = clients.start(name, node.argv(*args, **kw))
    rc = p.wait_exit(timeout=CLIENT_TIMEOUT + 10)
    http = p.markers("HTTP")
    assert http, "no HTTP line: the WebSocket handshake did not complete\n%s" % p.output()
    joined = p.markers("JOINED")
    leave = p.markers("LEAVE")
    return rc, http[0], p.markers("CHALLENGE"), (joined[0] if joined else None), (leave[0] if leave else None), p


def set_cookie_id(http, name="cbtid"):
    """The id of the Set-Cookie `name=<id>;...` of a 101 response."""
    set_cookie = http["set_cookie"]
    assert set_cookie, "expected a Set-Cookie, got %r" % http
    first = set_cookie.split(";")[0]
    got_name, _, value = first.partition("=")
    assert got_name == name, set_cookie
    return value


def ticket_login(clients, node, name, cookie=None, methods="ticket"):
    """Joins as joe by ticket; returns (cookie id the router set or None, JOINED)."""
    rc, http, challenges, joined, _, p = cookie_run(
        clients, node, name, "--authmethods", methods, "--authid", "joe", "--ticket", JOE_TICKET, cookie=cookie)
    assert rc == 0 and joined is not None, p.output()
    assert [c["method"] for c in challenges] == ["ticket"], p.output()
    assert (joined["authid"], joined["authrole"], joined["authmethod"], joined["authprovider"]) == (
        "joe", "frontend", "ticket", "static"), p.output()
    return (set_cookie_id(http) if http["set_cookie"] else None), joined


def test_cookie_login_by_ticket_then_the_cookie_joins_without_challenge(cookies, clients):
    """A first connection gets Set-Cookie `cbtid=<24 chars>;max-age=604800`
    and authenticates by ticket. Later connections sending that cookie with
    authmethods ["cookie", "ticket"] join at once (no CHALLENGE) as joe, role
    frontend, authmethod "ticket", authprovider "cookie"; the cookie is not set
    again. Several of them, so both shards answer."""
    cbtid, first = ticket_login(clients, cookies, "cookie-first-login")
    assert cbtid and COOKIE_ID.match(cbtid), cbtid
    for i in range(4):
        rc, http, challenges, joined, _, p = cookie_run(
            clients, cookies, "cookie-again-%d" % i, "--authmethods", "cookie,ticket",
            cookie="theme=dark; cbtid=%s" % cbtid)
        assert rc == 0 and joined is not None, p.output()
        assert challenges == [], "cookie authentication must not CHALLENGE\n%s" % p.output()
        assert http["set_cookie"] is None, "a known cookie is not set again: %r" % http
        got = (joined["authid"], joined["authrole"], joined["authmethod"], joined["authprovider"], joined["realm"])
        assert got == ("joe", "frontend", "ticket", "cookie", "realm1"), p.output()
        assert joined["session"] != first["session"]


def test_cookie_first_set_cookie_has_crossbars_form(cookies, clients):
    """The default cookie: `cbtid=<id>;max-age=604800` and nothing else, as Crossbar sends it."""
    rc, http, _, joined, _, p = cookie_run(clients, cookies, "cookie-form", "--authmethods", "cookie,ticket",
                                           "--authid", "joe", "--ticket", JOE_TICKET)
    assert rc == 0 and joined is not None, p.output()
    cbtid = set_cookie_id(http)
    assert http["set_cookie"] == "cbtid=%s;max-age=604800" % cbtid, http


def test_cookie_set_cookie_attributes_follow_the_config(cookies, clients):
    """`name`, `length`, `max_age`, `secure`, `http_strict` and `same_site`
    all show in the Set-Cookie; that cookie then authenticates on its path."""
    rc, http, _, joined, _, p = cookie_run(
        clients, cookies, "cookie-attrs", "--authmethods", "ticket", "--authid", "joe", "--ticket", JOE_TICKET,
        path="attrs")
    assert rc == 0 and joined is not None, p.output()
    sid = set_cookie_id(http, "sid")
    assert re.match(r"^[%s]{32}$" % ID_CHARS, sid), sid
    assert http["set_cookie"] == "sid=%s;max-age=3600;Secure;HttpOnly;SameSite=Lax" % sid, http
    rc, http, challenges, joined, _, p = cookie_run(clients, cookies, "cookie-attrs-again", "--authmethods",
                                                    "cookie", cookie="sid=%s" % sid, path="attrs")
    assert rc == 0 and joined is not None and challenges == [], p.output()
    assert joined["authprovider"] == "cookie", joined


def test_cookie_forged_or_unknown_is_not_adopted(cookies, clients):
    """A cookie id the router never handed out is not adopted (session
    fixation): the 101 sets a new one, cookie authentication falls through to
    ticket when it is offered, and with cookie alone the client is refused
    with wamp.error.no_auth_method. No cookie at all is the same."""
    forged = "AAAAAAAAAAAAAAAAAAAAAAAA"
    rc, http, challenges, joined, _, p = cookie_run(
        clients, cookies, "cookie-forged-ticket", "--authmethods", "cookie,ticket", "--authid", "joe",
        "--ticket", JOE_TICKET, cookie="cbtid=%s" % forged)
    assert rc == 0 and joined is not None, p.output()
    given = set_cookie_id(http)
    assert given != forged and COOKIE_ID.match(given), http
    assert [c["method"] for c in challenges] == ["ticket"], p.output()
    assert joined["authprovider"] == "static", joined
    for name, cookie in (("cookie-forged-only", "cbtid=%s" % forged), ("cookie-none-only", None),
                         ("cookie-garbage-only", "cbtid=\"; = ;;")):
        rc, http, challenges, joined, leave, p = cookie_run(clients, cookies, name, "--authmethods", "cookie",
                                                            cookie=cookie, source=fresh_source())
        assert joined is None and rc == 5, p.output()
        assert http["set_cookie"] and set_cookie_id(http) != forged, http
        assert leave["reason"] == NO_AUTH_METHOD, p.output()
    # What the forged id connection authenticated is the id the router gave it.
    rc, _, challenges, joined, _, p = cookie_run(clients, cookies, "cookie-given", "--authmethods", "cookie",
                                                 cookie="cbtid=%s" % given)
    assert rc == 0 and joined is not None and challenges == [], p.output()


def test_cookie_logout_makes_the_cookie_stop_authenticating(cookies, clients):
    """Leaving with reason wamp.close.logout deletes the cookie's
    authentication: the next connection with that cookie gets a new one and
    cannot join by cookie alone."""
    cbtid, _ = ticket_login(clients, cookies, "cookie-logout-login")
    rc, _, challenges, joined, _, p = cookie_run(
        clients, cookies, "cookie-logout", "--authmethods", "cookie", "--leave", "wamp.close.logout",
        cookie="cbtid=%s" % cbtid)
    assert rc == 0 and joined is not None and challenges == [], p.output()
    rc, http, _, joined, leave, p = cookie_run(clients, cookies, "cookie-after-logout", "--authmethods", "cookie",
                                               cookie="cbtid=%s" % cbtid, source=fresh_source())
    assert joined is None and rc == 5, p.output()
    assert leave["reason"] == NO_AUTH_METHOD, p.output()
    assert set_cookie_id(http) != cbtid, http


def test_cookie_logout_closes_the_cookies_other_connections(cookies, clients):
    """Logging out on one connection ends the sessions of every other
    connection carrying the same cookie (a browser's other tabs), whichever
    shard they are on, with GOODBYE wamp.close.logout; another browser's
    session is not touched. (What Crossbar intends; see below for what it does.)"""
    cbtid, _ = ticket_login(clients, cookies, "cookie-tabs-login")
    other, _ = ticket_login(clients, cookies, "cookie-tabs-other-login")
    tabs = [clients.start("cookie-tab-%d" % i, cookies.argv("--authmethods", "cookie", "--stay",
                                                          cookie="cbtid=%s" % cbtid))
            for i in range(3)]
    bystander = clients.start("cookie-tab-other", cookies.argv("--authmethods", "cookie", "--stay",
                                                               cookie="cbtid=%s" % other))
    for p in tabs + [bystander]:
        p.expect("JOINED", others=("LEAVE", "CONNECT_FAILED"))
    rc, _, _, joined, _, p = cookie_run(
        clients, cookies, "cookie-tabs-logout", "--authmethods", "cookie", "--leave", "wamp.close.logout",
        cookie="cbtid=%s" % cbtid)
    assert rc == 0 and joined is not None, p.output()
    if not IS_FERROBAR:
        # Crossbar 26.10 means to close them (RouterSession.onLeave) but deletes the cookie
        # before it looks up the cookie's connections, so it finds none: the tabs stay.
        time.sleep(1.0)
        assert all(t.p.poll() is None and not t.markers("LEAVE") for t in tabs)
    for tab in tabs if IS_FERROBAR else []:
        assert tab.wait_exit(timeout=CLIENT_TIMEOUT) == 0, tab.output()
        leave = tab.markers("LEAVE")
        assert leave and leave[0]["reason"] == "wamp.close.logout", tab.output()
    assert bystander.p.poll() is None and not bystander.markers("LEAVE"), bystander.output()
    for p in tabs + [bystander]:
        p.kill()


def test_cookie_not_offered_revokes_it(cookies, clients):
    """A client with an authenticated cookie that does not offer `cookie`
    (here: ticket only) is authenticated anew, and the cookie's earlier
    authentication is revoked until that login succeeds (Crossbar's rule)."""
    cbtid, _ = ticket_login(clients, cookies, "cookie-revoke-login")
    rc, http, challenges, joined, leave, p = cookie_run(
        clients, cookies, "cookie-revoke-wrong-ticket", "--authmethods", "ticket", "--authid", "joe",
        "--ticket", "not-joes-ticket", cookie="cbtid=%s" % cbtid, source=fresh_source())
    assert joined is None and rc == 5, p.output()
    assert [c["method"] for c in challenges] == ["ticket"], p.output()
    assert http["set_cookie"] is None, http
    rc, _, _, joined, leave, p = cookie_run(clients, cookies, "cookie-revoked", "--authmethods", "cookie",
                                            cookie="cbtid=%s" % cbtid, source=fresh_source())
    assert joined is None and leave["reason"] == NO_AUTH_METHOD, p.output()


def test_cookie_file_store_survives_a_restart(tmp_path_factory, clients):
    """`store: {type: file}`: authenticate by ticket, stop the router, start
    it again on the same node directory: the cookie still authenticates. The
    file holds Crossbar's JSON-lines records."""
    node = CookieNode(str(tmp_path_factory.mktemp("cookie-file")), store={"type": "file", "filename": "cookies.dat"})
    clients.watch(node.router)
    node.router.start()
    try:
        cbtid, _ = ticket_login(clients, node, "cookie-file-login")
        path = os.path.join(node.cbdir, "cookies.dat")
        with open(path) as f:
            records = [json.loads(line) for line in f if line.strip()]
        mine = [r for r in records if r["cbtid"] == cbtid]
        assert mine, records
        assert mine[-1]["authid"] == "joe" and mine[-1]["authmethod"] == "ticket", mine
        assert mine[-1]["authrealm"] == "realm1", mine
        for key in ("status", "created", "modified", "deleted", "max_age", "authrole", "authextra"):
            assert key in mine[-1], (key, mine)
        rc = node.router.stop()
        if IS_FERROBAR:
            assert rc == 0, node.router.log_tail()
        node.router.start()
        rc, http, challenges, joined, _, p = cookie_run(clients, node, "cookie-file-after-restart",
                                                        "--authmethods", "cookie,ticket", cookie="cbtid=%s" % cbtid)
        assert rc == 0 and joined is not None, p.output() + node.router.log_tail()
        assert challenges == [] and http["set_cookie"] is None, p.output()
        assert (joined["authid"], joined["authmethod"], joined["authprovider"]) == ("joe", "ticket", "cookie"), joined
    finally:
        node.router.kill()
