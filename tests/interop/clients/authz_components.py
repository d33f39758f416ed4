"""Dynamic authorization with Autobahn|Python (asyncio, Component API), as a
Crossbar user writes it. Two roles, one per process:

  authorizer   joins as authid "backend" (static role, allowed everything),
               registers `com.example.authorize` and answers the router's calls
               `authorize(session_details, uri, action, options)` by this policy:

                 com.example.public.*     -> {"allow": true, "cache": true, "disclose": false}
                 com.example.mine.<authid of the caller> -> true
                 com.example.disclose.*   -> {"allow": true, "disclose": true}
                 com.example.slow.*       -> true, after 0.5 s
                 com.example.boom         -> ApplicationError("com.example.authorizer_broken", "boom")
                 com.example.invalid      -> "yes" (not a valid answer)
                 anything else            -> false

               It also registers `com.example.disclose.whoami` (returns the
               caller's session id from the invocation details) and subscribes to
               `com.example.slow.tick`, printing each EVENT. Prints READY once set
               up, and AUTHZ {"details", "uri", "action", "options"} per call.

  user         joins as `--authid` (ticket `--ticket`) into the dynamic role,
               then runs the scenario below, printing one line per step:
               STEP {"name", "error", "value"} (error: null when the action
               succeeded, else the error URI), then DONE.

Usage: authz_components.py authorizer|user --kind websocket|rawsocket
       --url URL --tcp HOST:PORT [--authid A --ticket T] [--timeout S]
The process ends with os._exit (see transport_client.py for why).
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
from autobahn.wamp.types import CallDetails, PublishOptions, RegisterOptions  # noqa: E402,F401

TICKS = 20


def emit(tag, obj=None):
    line = "%s %s\n" % (tag, json.dumps(obj, ensure_ascii=True, sort_keys=True, default=repr))
    os.write(1, line.encode("ascii"))


def finish(rc):
    try:
        sys.stderr.flush()
    finally:
        os._exit(rc)


async def authorize(details, uri, action, options):
    emit("AUTHZ", {"details": details, "uri": uri, "action": action, "options": options})
    if uri.startswith("com.example.public."):
        # "disclose" spelled out: Crossbar 26.10's broker fails a publication whose dict answer
        # lacks it (KeyError); ferrobar defaults it to false.
        return {"allow": True, "cache": True, "disclose": False}
    if uri == "com.example.mine." + str(details.get("authid")):
        return True
    if uri.startswith("com.example.disclose."):
        return {"allow": True, "disclose": True}
    if uri.startswith("com.example.slow."):
        await asyncio.sleep(0.5)
        return True
    if uri == "com.example.boom":
        raise ApplicationError("com.example.authorizer_broken", "boom")
    if uri == "com.example.invalid":
        return "yes"
    return False


def whoami(details=None):
    return details.caller


async def run_authorizer(session):
    await session.register(authorize, "com.example.authorize")
    await session.register(whoami, "com.example.disclose.whoami",
                           options=RegisterOptions(details_arg="details"))

    def on_tick(n):
        emit("EVENT", {"n": n})

    await session.subscribe(on_tick, "com.example.slow.tick")
    emit("READY", {"session": session.session_id})


async def step(name, coro):
    try:
        value = await coro
        emit("STEP", {"name": name, "error": None, "value": value})
    except ApplicationError as e:
        emit("STEP", {"name": name, "error": e.error, "value": list(e.args)})


async def run_user(session, authid):
    ack = PublishOptions(acknowledge=True)
    await step("subscribe public", session.subscribe(lambda *a: None, "com.example.public.news"))
    await step("publish public 1", session.publish("com.example.public.news", 1, options=ack))
    await step("publish public 2", session.publish("com.example.public.news", 2, options=ack))
    await step("publish mine", session.publish("com.example.mine." + authid, options=ack))
    await step("publish other's", session.publish("com.example.mine.somebody-else", options=ack))
    await step("register denied", session.register(lambda: None, "com.example.private.proc"))
    await step("call boom", session.call("com.example.boom"))
    await step("call invalid", session.call("com.example.invalid"))
    await step("call whoami", session.call("com.example.disclose.whoami"))
    # Not acknowledged, not awaited: all parked behind one slow decision.
    for n in range(TICKS):
        session.publish("com.example.slow.tick", n)
    await step("publish after ticks", session.publish("com.example.public.news", 3, options=ack))
    emit("DONE", {"session": session.session_id})


def parse():
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=["authorizer", "user"])
    ap.add_argument("--kind", choices=["websocket", "rawsocket"], required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--tcp", required=True, help="HOST:PORT")
    ap.add_argument("--authid", default="backend")
    ap.add_argument("--ticket", default="backend-ticket")
    ap.add_argument("--realm", default="realm1")
    ap.add_argument("--timeout", type=float, default=30.0)
    return ap.parse_args()


def main():
    o = parse()
    txaio.start_logging(level="warn", out=sys.stderr)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    host, port = o.tcp.rsplit(":", 1)
    endpoint = {"type": "tcp", "host": host, "port": int(port), "timeout": 10}
    transport = {"type": o.kind, "url": o.url, "endpoint": endpoint, "max_retries": 0}
    if o.kind == "rawsocket":
        transport["serializer"] = "msgpack"
    auth = {"ticket": {"authid": o.authid, "ticket": o.ticket}}
    component = Component(transports=[transport], realm=o.realm, authentication=auth)

    @component.on_join
    async def on_join(session, details):
        emit("JOINED", {"session": details.session, "authid": details.authid,
                        "authrole": details.authrole})
        try:
            if o.role == "authorizer":
                await run_authorizer(session)
            else:
                await run_user(session, o.authid)
                finish(0)
        except Exception as e:
            emit("FAIL", {"exception": repr(e)})
            finish(1)

    @component.on_leave
    def on_leave(session, details):
        emit("LEAVE", {"reason": details.reason, "message": details.message})
        finish(5)

    def watchdog():
        emit("FAIL", {"exception": "watchdog: no completion after %ss" % o.timeout})
        finish(3)

    loop.call_later(o.timeout, watchdog)
    try:
        loop.run_until_complete(component.start(loop=loop))
        emit("CONNECT_FAILED", {"exception": "the component ended"})
    except Exception as e:
        emit("CONNECT_FAILED", {"exception": repr(e)})
    finish(4)


if __name__ == "__main__":
    main()
