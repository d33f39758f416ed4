"""Autobahn|Python (asyncio) client for the cookie tests in test_auth.py: one
WebSocket connection that may send a `Cookie` header (as a browser sends the
cookie it was given), reports the `Set-Cookie` of the router's 101 response,
joins with the given authmethods, then leaves with the given reason (or, with
--stay, waits until the router ends the session).

Autobahn's own pieces do the work: WampWebSocketClientFactory(headers=...)
sends the header; the protocol's onConnect(response) sees the response headers;
ApplicationSession.join(authmethods=..., authid=...) and onChallenge answer
the router.

Output on stdout, one fact per line, `TAG {json}`:

    HTTP      {"set_cookie": str or null}        (the 101's Set-Cookie)
    CHALLENGE {"method"}
    JOINED    {"session", "realm", "authid", "authrole", "authmethod", "authprovider", "authextra"}
    LEAVE     {"reason", "message", "joined"}
    DONE      {}                                 (exit 0 after joining and leaving, or being
                                                  sent away with --stay)
    CONNECT_FAILED {...}                         (exit 4)
    FAIL      {...}                              (exit 1 / watchdog: exit 3)

A refusal (ABORT) exits 5.
"""

import argparse
import asyncio
import json
import os
import sys

import txaio

txaio.use_asyncio()

from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402
from autobahn.asyncio.websocket import WampWebSocketClientFactory, WampWebSocketClientProtocol  # noqa: E402
from autobahn.wamp.types import ComponentConfig  # noqa: E402


def emit(tag, obj=None):
    line = "%s %s\n" % (tag, json.dumps(obj, ensure_ascii=True, sort_keys=True, default=repr))
    os.write(1, line.encode("ascii"))


def finish(rc):
    try:
        sys.stderr.flush()
    finally:
        os._exit(rc)


class ReportingProtocol(WampWebSocketClientProtocol):
    """Prints the Set-Cookie of the opening handshake response."""

    def onConnect(self, response):
        emit("HTTP", {"set_cookie": response.headers.get("set-cookie")})
        return super().onConnect(response)


def parse():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--tcp", required=True, help="HOST:PORT")
    ap.add_argument("--source", help="local address to connect from")
    ap.add_argument("--realm", default="realm1")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--cookie", help="the Cookie header to send")
    ap.add_argument("--authmethods", default="anonymous", help="comma-separated")
    ap.add_argument("--authid")
    ap.add_argument("--ticket")
    ap.add_argument("--leave", default="wamp.close.normal", help="the GOODBYE reason after joining")
    ap.add_argument("--stay", action="store_true",
                    help="after joining, stay until the router ends the session (no GOODBYE of ours)")
    return ap.parse_args()


def main():
    o = parse()
    txaio.start_logging(level="warn", out=sys.stderr)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    state = {"joined": False}

    class Session(ApplicationSession):
        def onConnect(self):
            self.join(o.realm, authmethods=o.authmethods.split(","), authid=o.authid)

        def onChallenge(self, challenge):
            emit("CHALLENGE", {"method": challenge.method})
            if challenge.method == "ticket" and o.ticket is not None:
                return o.ticket
            raise Exception("no answer to a %s CHALLENGE" % challenge.method)

        def onJoin(self, details):
            state["joined"] = True
            emit("JOINED", {
                "session": details.session,
                "realm": details.realm,
                "authid": details.authid,
                "authrole": details.authrole,
                "authmethod": details.authmethod,
                "authprovider": details.authprovider,
                "authextra": details.authextra,
            })
            if not o.stay:
                self.leave(o.leave)

        def onLeave(self, details):
            emit("LEAVE", {"reason": details.reason, "message": details.message, "joined": state["joined"]})
            self.disconnect()

        def onDisconnect(self):
            if state["joined"]:
                emit("DONE", {})
                finish(0)
            finish(5)

    headers = {"Cookie": o.cookie} if o.cookie else None
    factory = WampWebSocketClientFactory(lambda: Session(ComponentConfig(realm=o.realm)), url=o.url,
                                         serializers=None, headers=headers)
    factory.protocol = ReportingProtocol
    host, port = o.tcp.rsplit(":", 1)

    def watchdog():
        emit("FAIL", {"exception": "watchdog: no completion after %ss" % o.timeout})
        finish(3)

    loop.call_later(o.timeout, watchdog)
    kw = {"local_addr": (o.source, 0)} if o.source else {}
    try:
        loop.run_until_complete(loop.create_connection(factory, host, int(port), **kw))
    except Exception as e:
        emit("CONNECT_FAILED", {"exception": repr(e)})
        finish(4)
    loop.run_forever()


if __name__ == "__main__":
    main()
