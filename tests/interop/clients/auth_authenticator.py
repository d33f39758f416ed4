"""A dynamic authenticator as a Crossbar user writes one: an ordinary
Autobahn|Python (asyncio) component that registers `com.example.authenticate`
(on the realm the router's `authenticator-realm` names) and answers the
router's calls `authenticate(realm, authid, details)`.

It prints `READY {}` once registered and, for every call, before answering,
`AUTH {"realm", "authid", "details"}` so the test can check what the router
passed. What it answers, by authmethod and authid:

  ticket     joe    ticket "joe-dynamic-ticket"  -> the role string "frontend"
             mary   ticket "mary-ticket"         -> {"role": "backend",
                                                     "authid": "mary@example.com",
                                                     "extra": {"greeting": "hello mary"}}
             raise  -> ApplicationError("com.example.invalid_ticket", MESSAGE_RAISE)
             hang   -> never answers
             other / wrong ticket -> ApplicationError("com.example.invalid_ticket", "wrong ticket")
  wampcra    alice  -> {"secret": "alice-dynamic-secret", "role": "frontend"}
             carol  -> {"secret": "carol-password", "role": "backend",
                        "salt": "pepper", "iterations": 250, "keylen": 16}
             other  -> ApplicationError("com.example.no_such_user", "no such user")
  anonymous         -> {"role": "guest", "extra": {"via": "dynamic-anonymous"}}

Usage: auth_authenticator.py --url ws://127.0.0.1:PORT/ws --tcp 127.0.0.1:PORT
                             [--realm auth] [--timeout S]
The process runs until killed (or the watchdog, exit 3).
"""

import argparse
import asyncio
import json
import os
import sys

import txaio

txaio.use_asyncio()

from autobahn.asyncio.component import Component  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402

PROCEDURE = "com.example.authenticate"
MESSAGE_RAISE = "could not authenticate session: you asked for it"

TICKETS = {
    "joe": ("joe-dynamic-ticket", "frontend"),
    "mary": ("mary-ticket", {"role": "backend", "authid": "mary@example.com",
                             "extra": {"greeting": "hello mary"}}),
}
WAMPCRA = {
    "alice": {"secret": "alice-dynamic-secret", "role": "frontend"},
    "carol": {"secret": "carol-password", "role": "backend", "salt": "pepper",
              "iterations": 250, "keylen": 16},
}


def emit(tag, obj=None):
    line = "%s %s\n" % (tag, json.dumps(obj, ensure_ascii=True, sort_keys=True, default=repr))
    os.write(1, line.encode("ascii"))


async def authenticate(realm, authid, details):
    emit("AUTH", {"realm": realm, "authid": authid, "details": details})
    method = details.get("authmethod")
    if method == "anonymous":
        return {"role": "guest", "extra": {"via": "dynamic-anonymous"}}
    if method == "wampcra":
        if authid in WAMPCRA:
            return WAMPCRA[authid]
        raise ApplicationError("com.example.no_such_user", "no such user")
    if method == "ticket":
        if authid == "raise":
            raise ApplicationError("com.example.invalid_ticket", MESSAGE_RAISE)
        if authid == "hang":
            await asyncio.get_event_loop().create_future()  # never resolved
        ticket, answer = TICKETS.get(authid, (None, None))
        if ticket is None or details.get("ticket") != ticket:
            raise ApplicationError("com.example.invalid_ticket", "wrong ticket")
        return answer
    raise ApplicationError("com.example.unexpected", "unexpected authmethod %r" % method)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--tcp", required=True, help="HOST:PORT")
    ap.add_argument("--realm", default="auth")
    ap.add_argument("--timeout", type=float, default=300.0)
    o = ap.parse_args()
    txaio.start_logging(level="warn", out=sys.stderr)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    host, port = o.tcp.rsplit(":", 1)
    transport = {"type": "websocket", "url": o.url, "max_retries": 0,
                 "endpoint": {"type": "tcp", "host": host, "port": int(port), "timeout": 10}}
    component = Component(transports=[transport], realm=o.realm)

    @component.on_join
    async def on_join(session, details):
        try:
            await session.register(authenticate, PROCEDURE)
        except Exception as e:
            emit("FAIL", {"exception": repr(e)})
            os._exit(1)
        emit("READY", {"session": details.session, "authrole": details.authrole})

    @component.on_leave
    def on_leave(session, details):
        emit("LEAVE", {"reason": details.reason, "message": details.message})
        os._exit(5)

    def watchdog():
        emit("FAIL", {"exception": "watchdog: still running after %ss" % o.timeout})
        os._exit(3)

    loop.call_later(o.timeout, watchdog)
    try:
        loop.run_until_complete(component.start(loop=loop))
        emit("CONNECT_FAILED", {"exception": "the component ended"})
    except Exception as e:
        emit("CONNECT_FAILED", {"exception": repr(e)})
    os._exit(4)


if __name__ == "__main__":
    main()
