"""Autobahn|Python (asyncio, Component API) client for test_auth.py: one WAMP
session that authenticates with one method, over WebSocket or RawSocket, on TCP
or TLS, exactly as an application configures Autobahn's Component:

    Component(transports=[...], realm=..., authentication={METHOD: {...}})

then reports what the router said and tries a few actions, so the test can see
that the role's permissions apply.

Output on stdout, one fact per line, `TAG {json}`:

    JOINED {"session", "realm", "authid", "authrole", "authmethod", "authprovider", "authextra"}
    CHALLENGE {"method", "extra", "client_challenge"}   (cryptosign: what the router sent)
    TRY    {"action", "uri", "error"}   error: null when allowed, else the error URI
    DONE   {}
    LEAVE  {"reason", "message", "joined"}   (an ABORT: exit 5)
    CONNECT_FAILED {...}                     (exit 4)
    FAIL   {...}                             (exit 1 / watchdog: exit 3)

Methods (at most one of them; none: Autobahn offers `anonymous`):

    --ticket T                  authentication={"ticket": {"ticket": T, ...}}
    --wampcra SECRET            authentication={"wampcra": {"secret": SECRET, ...}}
                                (Autobahn derives the salted key itself from the
                                CHALLENGE's salt/iterations/keylen)
    --cryptosign PRIVKEY_HEX    authentication={"cryptosign": {"privkey": ..., ...}}
                                (Autobahn sends the public key in authextra.pubkey)
    --channel-binding tls-unique   (with --cryptosign) sign the challenge bound to
                                the TLS channel (authextra.channel_binding)
    --mutual                    (with --cryptosign) send a challenge of our own
                                (authextra.challenge) for the router to sign
    --tls                       offer authmethod "tls" (the TLS client certificate
                                is the credential; Autobahn has no built-in
                                authenticator object for it, so a minimal one is
                                registered here)
    --authid ID                 the authid to send (any method)

--source HOST binds the client socket to that local address (127.0.0.x), so the
router sees another peer host: test_auth.py gives each refused attempt its own,
so that its failures never count against (throttle) the other tests' clients.

After joining, every `--try ACTION:URI` (ACTION: call, register, publish,
subscribe) is attempted in order; publish is acknowledged.

asyncio rather than Twisted (as transport_client.py): Twisted's TLS needs
pyOpenSSL, which the pinned environment does not have. The process ends with
os._exit once its scenario is over (see transport_client.py for why).
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
from autobahn.wamp.auth import AuthCryptoSign  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.interfaces import IAuthenticator  # noqa: E402
from autobahn.wamp.types import PublishOptions  # noqa: E402


def emit(tag, obj=None):
    line = "%s %s\n" % (tag, json.dumps(obj, ensure_ascii=True, sort_keys=True, default=repr))
    os.write(1, line.encode("ascii"))


def finish(rc):
    try:
        sys.stderr.flush()
    finally:
        os._exit(rc)


def error_obj(e):
    if isinstance(e, ApplicationError):
        return {"error": e.error, "args": list(e.args), "kwargs": e.kwargs or {}}
    return {"error": None, "exception": repr(e)}


class AuthTLS:
    """authmethod "tls": nothing to answer, the certificate already spoke."""

    name = "tls"

    def __init__(self, **kw):
        self._args = kw

    @property
    def authextra(self):
        return self._args.get("authextra", {})

    def on_challenge(self, session, challenge):
        raise RuntimeError("unexpected CHALLENGE for authmethod tls")

    def on_welcome(self, msg, authextra):
        return None


IAuthenticator.register(AuthTLS)


class ReportingCryptoSign(AuthCryptoSign):
    """Autobahn's cryptosign authenticator, printing the CHALLENGE it answers."""

    def on_challenge(self, session, challenge):
        emit("CHALLENGE", {"method": challenge.method, "extra": challenge.extra,
                           "client_challenge": self.authextra.get("challenge")})
        return super().on_challenge(session, challenge)


IAuthenticator.register(ReportingCryptoSign)


def authentication(o):
    common = {}
    if o.authid:
        common["authid"] = o.authid
    if o.ticket is not None:
        return {"ticket": dict(common, ticket=o.ticket)}
    if o.wampcra is not None:
        return {"wampcra": dict(common, secret=o.wampcra)}
    if o.cryptosign is not None:
        authextra = {}
        if o.channel_binding:
            authextra["channel_binding"] = o.channel_binding
        if o.mutual:
            authextra["challenge"] = os.urandom(32).hex()
        kw = dict(common, privkey=o.cryptosign)
        if authextra:
            kw["authextra"] = authextra
        return {"cryptosign": ReportingCryptoSign(**kw)}
    if o.tls:
        return {"tls": AuthTLS(**common)}
    if o.authid:
        return {"anonymous": common}
    return None


def tls_context(o):
    ctx = ssl.create_default_context(purpose=ssl.Purpose.SERVER_AUTH, cafile=o.ca)
    if o.cert:
        ctx.load_cert_chain(o.cert, o.key)
    return ctx


def transport_config(o):
    host, port = o.tcp.rsplit(":", 1)
    endpoint = {"type": "tcp", "host": host, "port": int(port), "timeout": 10}
    if o.ca:
        endpoint["tls"] = tls_context(o)
    t = {"type": o.kind, "url": o.url, "endpoint": endpoint, "max_retries": 0}
    if o.kind == "rawsocket":
        t["serializer"] = o.serializer or "json"
    elif o.serializer:
        t["serializers"] = o.serializer.split(",")
    return t


def bind_source(loop, host):
    """Every TCP connection this process makes leaves from `host`."""
    create = loop.create_connection

    async def create_connection(*args, **kw):
        kw.setdefault("local_addr", (host, 0))
        return await create(*args, **kw)

    loop.create_connection = create_connection


async def attempt(session, action, uri):
    try:
        if action == "call":
            await session.call(uri)
        elif action == "register":
            await session.register(lambda *a, **kw: None, uri)
        elif action == "publish":
            await session.publish(uri, options=PublishOptions(acknowledge=True))
        elif action == "subscribe":
            await session.subscribe(lambda *a, **kw: None, uri)
        else:
            raise SystemExit("unknown action %r" % action)
    except ApplicationError as e:
        return e.error
    return None


def parse():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=["websocket", "rawsocket"], required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--tcp", required=True, help="HOST:PORT")
    ap.add_argument("--ca")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--source", help="local address to connect from")
    ap.add_argument("--serializer", default=None)
    ap.add_argument("--realm", default="realm1")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--authid")
    m = ap.add_mutually_exclusive_group()
    m.add_argument("--ticket")
    m.add_argument("--wampcra", metavar="SECRET")
    m.add_argument("--cryptosign", metavar="PRIVKEY_HEX")
    m.add_argument("--tls", action="store_true")
    ap.add_argument("--channel-binding", choices=["tls-unique"])
    ap.add_argument("--mutual", action="store_true")
    ap.add_argument("--try", dest="tries", action="append", default=[], metavar="ACTION:URI")
    return ap.parse_args()


def main():
    o = parse()
    txaio.start_logging(level="warn", out=sys.stderr)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    if o.source:
        bind_source(loop, o.source)
    kw = {}
    auth = authentication(o)
    if auth:
        kw["authentication"] = auth
    component = Component(transports=[transport_config(o)], realm=o.realm, **kw)
    joined = {"yes": False}

    @component.on_join
    async def on_join(session, details):
        joined["yes"] = True
        try:
            emit("JOINED", {
                "session": details.session,
                "realm": details.realm,
                "authid": details.authid,
                "authrole": details.authrole,
                "authmethod": details.authmethod,
                "authprovider": details.authprovider,
                "authextra": details.authextra,
            })
            for t in o.tries:
                action, uri = t.split(":", 1)
                emit("TRY", {"action": action, "uri": uri, "error": await attempt(session, action, uri)})
            emit("DONE", {})
            finish(0)
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
        emit("CONNECT_FAILED", {"exception": "the component ended", "joined": joined["yes"]})
    except Exception as e:
        emit("CONNECT_FAILED", {"exception": repr(e), "joined": joined["yes"]})
    finish(4)


if __name__ == "__main__":
    main()
