"""The WAMP meta API against the real router binary (--shards 2): session,
subscription and registration meta procedures and meta events, and
testaments (wamp.session.add_testament / flush_testaments), called by
in-process Autobahn|Python sessions spread over several connections, so that
the caller, the subject and the watcher sit on different shards. The answers
must be realm-wide whichever shard asks. Core-level counterparts:
src/router/tests/meta.rs."""

import os
import sys

import pytest
from autobahn.wamp.types import PublishOptions, RegisterOptions, SubscribeOptions

from harness import CLIENTS, IS_CROSSBAR, IS_FERROBAR

sys.path.insert(0, CLIENTS)
import adv_wamp as adv  # noqa: E402
from adv_wamp import app_error, quiet, settled, until, within  # noqa: E402

ferrobar_only = pytest.mark.xfail(IS_CROSSBAR, reason="ferrobar-specific (docs/features.md)", strict=False)


@pytest.fixture
def roles(tmp_path_factory, clients):
    """A fresh router of the test's own (two roles, fixed authids; see
    adv_wamp.roles_node_config), so that session counts and bulk kills see only
    this test's sessions."""
    r = adv.RolesRouter.start(str(tmp_path_factory.mktemp("meta-router")))
    clients.watch(r.router)
    yield r
    alive = r.router.alive()
    rc = r.stop()
    assert alive, "the router died during the test\n%s" % r.router.log_tail()
    if IS_FERROBAR:
        assert rc == 0, "ferrobar exited with %s after SIGTERM\n%s" % (rc, r.router.log_tail())


def recorder():
    got = []

    def on_event(*args, **kwargs):
        kwargs.pop("details", None)
        got.append(list(args))

    return on_event, got


async def watch(session, *topics):
    """Subscribe `session` to meta topics; returns {topic: [args, ...]}."""
    seen = {}
    for t in topics:
        h, got = recorder()
        seen[t] = got
        await session.subscribe(h, t)
    return seen


# ---------------------------------------------------------------------------
# session meta API

def test_session_count_list_get(roles):
    """wamp.session.count / list (with and without filter_authroles) and get,
    asked from every session: the same realm-wide answer on every shard."""

    async def scenario(net):
        anon = await net.sessions(3)
        bob = await net.session(url=net.urls["backend"])
        everyone = anon + [bob]
        ids = sorted(s.id for s in everyone)
        await settled(lambda: everyone[0].call("wamp.session.count"), 4)
        for s in everyone:
            assert await s.call("wamp.session.count") == 4
            assert sorted(await s.call("wamp.session.list")) == ids
            assert await s.call("wamp.session.count", ["backend"]) == 1
            assert await s.call("wamp.session.list", ["backend"]) == [bob.id]
            assert await s.call("wamp.session.count", ["nobody"]) == 0
        d = await anon[0].call("wamp.session.get", bob.id)
        assert d["session"] == bob.id, d
        assert (d["authid"], d["authrole"]) == ("bob", "backend"), d
        assert d.get("authmethod") == "anonymous", d
        d = await bob.call("wamp.session.get", anon[2].id)
        assert (d["session"], d["authid"], d["authrole"]) == (
            anon[2].id, anon[2].details.authid, "anonymous"), d

    adv.run(roles.url, scenario, urls=roles.urls)


def test_session_get_and_kill_unknown_session_is_no_such_session(shared):
    """Error case: wamp.session.get / kill of an id no session has ->
    wamp.error.no_such_session."""

    async def scenario(net):
        s = await net.session()
        for proc in ("wamp.session.get", "wamp.session.kill"):
            e = await app_error(s.call(proc, 42))
            assert e.error == "wamp.error.no_such_session", (proc, e)

    adv.run(shared.url, scenario)


def test_session_kill(shared):
    """wamp.session.kill(id, message=...): the victim gets GOODBYE
    wamp.close.killed with the message; on_leave tells the watcher; the caller
    goes on."""

    async def scenario(net):
        watcher, admin, victim = await net.sessions(3)
        seen = await watch(watcher, "wamp.session.on_leave")
        assert await admin.call("wamp.session.kill", victim.id, message="bye now") is None
        d = await within(victim.left, what="the victim's GOODBYE")
        assert d.reason == "wamp.close.killed", d.reason
        assert d.message == "bye now", d.message
        await until(lambda: any(a and a[0] == victim.id for a in seen["wamp.session.on_leave"]),
                    what="on_leave for the victim")
        assert admin.is_attached()
        assert await admin.call("wamp.session.get", admin.id)

    adv.run(shared.url, scenario)


def test_session_kill_own_session_is_no_such_session(shared):
    """Error case (spec, Session Meta API: "Specifying the caller's own session
    will result in a wamp.error.no_such_session since no other session with
    that ID exists"); the caller is not killed."""

    async def scenario(net):
        s = await net.session()
        e = await app_error(s.call("wamp.session.kill", s.id))
        assert s.is_attached()
        assert e.error == "wamp.error.no_such_session", "kill of the caller's own id answered %s %r" % (e.error, e.args)

    adv.run(shared.url, scenario)


def test_session_kill_by_authid(roles):
    """wamp.session.kill_by_authid: every session with that authid is killed
    (wamp.close.killed) and the list of their ids returned (Crossbar's answer),
    the caller spared even when it has that authid; others untouched."""

    async def scenario(net):
        bobs = [await net.session(url=net.urls["backend"]) for _ in range(3)]
        carol = await net.session(url=net.urls["carol"])
        admin, victims = bobs[0], bobs[1:]
        killed = await admin.call("wamp.session.kill_by_authid", "bob")
        assert sorted(killed) == sorted(v.id for v in victims), killed
        for v in victims:
            assert (await within(v.left, what="GOODBYE")).reason == "wamp.close.killed"
        await quiet()
        assert admin.is_attached() and carol.is_attached()
        assert await carol.call("wamp.session.kill_by_authid", "nobody-has-this") == []

    adv.run(roles.url, scenario, urls=roles.urls)


def test_session_kill_by_authrole(roles):
    """wamp.session.kill_by_authrole: every session of that role is killed, the
    caller spared even when it has that role; other roles untouched."""

    async def scenario(net):
        backend = [await net.session(url=net.urls["backend"]) for _ in range(3)]
        anon = await net.sessions(2)
        admin, victims = backend[0], backend[1:]
        killed = await admin.call("wamp.session.kill_by_authrole", "backend", message="maintenance")
        assert sorted(killed) == sorted(v.id for v in victims), killed
        for v in victims:
            d = await within(v.left, what="GOODBYE")
            assert (d.reason, d.message) == ("wamp.close.killed", "maintenance")
        await quiet()
        assert admin.is_attached() and all(a.is_attached() for a in anon)
        assert await settled(lambda: anon[0].call("wamp.session.count"), 3) == 3

    adv.run(roles.url, scenario, urls=roles.urls)


@ferrobar_only
def test_session_kill_all(roles):
    """wamp.session.kill_all (in the spec, not in Crossbar 26.10): every other
    session of the realm is killed; the caller stays."""

    async def scenario(net):
        others = await net.sessions(2) + [await net.session(url=net.urls["backend"])]
        admin = await net.session(url=net.urls["carol"])
        killed = await admin.call("wamp.session.kill_all")
        assert sorted(killed) == sorted(o.id for o in others), killed
        for o in others:
            assert (await within(o.left, what="GOODBYE")).reason == "wamp.close.killed"
        assert admin.is_attached()
        assert await settled(lambda: admin.call("wamp.session.count"), 1) == 1

    adv.run(roles.url, scenario, urls=roles.urls)


def test_session_on_join_and_on_leave(shared):
    """wamp.session.on_join carries the joining session's details; on_leave its
    id (first argument), for a clean leave and for a dropped connection."""

    async def scenario(net):
        watcher = await net.session()
        seen = await watch(watcher, "wamp.session.on_join", "wamp.session.on_leave")
        a = await net.session(serializer="msgpack")
        b = await net.session()
        for s in (a, b):
            await until(lambda: any(d[0].get("session") == s.id for d in seen["wamp.session.on_join"]),
                        what="on_join for %s" % s.id)
        d = [d[0] for d in seen["wamp.session.on_join"] if d[0].get("session") == a.id][0]
        assert d["authid"] == a.details.authid and d["authrole"] == "anonymous", d
        await a.leave()
        b.abort()
        for s in (a, b):
            await until(lambda: any(x and x[0] == s.id for x in seen["wamp.session.on_leave"]),
                        what="on_leave for %s" % s.id)
        assert watcher.user_errors == []

    adv.run(shared.url, scenario)


# ---------------------------------------------------------------------------
# subscription meta API

@ferrobar_only
def test_subscription_meta_procedures(shared, uri):
    """wamp.subscription.list / lookup / match / get / list_subscribers /
    count_subscribers over exact, prefix and wildcard subscriptions held on
    several connections; get of an unknown id -> wamp.error.no_such_subscription;
    subscriptions on wamp.* topics are not shown to non-trusted callers."""

    async def scenario(net):
        a, b, c, admin = await net.sessions(4)
        h = recorder()[0]
        exact = (await a.subscribe(h, uri + ".temp")).id
        assert (await b.subscribe(h, uri + ".temp")).id == exact
        prefix = (await b.subscribe(h, uri + ".", options=SubscribeOptions(match="prefix"))).id
        # the same URI string as the prefix one: match policies are told apart
        wild = (await c.subscribe(h, uri + ".", options=SubscribeOptions(match="wildcard"))).id
        assert wild != prefix
        await c.subscribe(h, "wamp.session.on_join")

        lst = await admin.call("wamp.subscription.list")
        assert exact in lst["exact"] and prefix in lst["prefix"], lst
        assert wild in lst["wildcard"], "wildcard subscriptions are listed (Crossbar omits them): %r" % lst
        assert await admin.call("wamp.subscription.lookup", uri + ".temp") == exact
        assert await admin.call("wamp.subscription.lookup", uri + ".", {"match": "prefix"}) == prefix
        assert await admin.call("wamp.subscription.lookup", uri + ".", {"match": "wildcard"}) == wild
        assert await admin.call("wamp.subscription.lookup", uri + ".nothing") is None
        assert sorted(await admin.call("wamp.subscription.match", uri + ".temp")) == sorted([exact, prefix, wild])
        assert await admin.call("wamp.subscription.match", "com.interop.none.at.all") is None
        got = await admin.call("wamp.subscription.get", exact)
        assert (got["id"], got["uri"], got["match"]) == (exact, uri + ".temp", "exact"), got
        assert isinstance(got.get("created"), str), got
        got = await admin.call("wamp.subscription.get", prefix)
        assert (got["uri"], got["match"]) == (uri + ".", "prefix"), got
        assert sorted(await admin.call("wamp.subscription.list_subscribers", exact)) == sorted([a.id, b.id])
        assert await admin.call("wamp.subscription.count_subscribers", exact) == 2
        assert await admin.call("wamp.subscription.count_subscribers", wild) == 1
        e = await app_error(admin.call("wamp.subscription.get", 5))
        assert e.error == "wamp.error.no_such_subscription", e
        # protected wamp.* subscriptions are hidden from non-trusted callers
        assert await admin.call("wamp.subscription.lookup", "wamp.session.on_join") is None
        assert await admin.call("wamp.subscription.match", "wamp.session.on_join") is None

    adv.run(shared.url, scenario)


@ferrobar_only
def test_subscription_meta_events(shared, uri):
    """on_create (session, details) and on_subscribe (session, id) on subscribe;
    on_unsubscribe and, for the last subscriber, on_delete on unsubscribe and on
    leave - with the leaving session's id (Crossbar sends null there)."""

    async def scenario(net):
        watcher = await net.session()
        topics = ["wamp.subscription.on_create", "wamp.subscription.on_subscribe",
                  "wamp.subscription.on_unsubscribe", "wamp.subscription.on_delete"]
        seen = await watch(watcher, *topics)
        a, b = await net.sessions(2)
        h = recorder()[0]
        sub_a = await a.subscribe(h, uri + ".temp")
        sid = sub_a.id

        def mine(topic):
            return [x for x in seen[topic] if (x[1] == sid if isinstance(x[1], int) else x[1].get("id") == sid)]

        # b subscribes only once the meta events for a are out: the realm's
        # catalog hears of subscriptions on other shards asynchronously, and
        # may otherwise name b as the creator (see the report).
        await until(lambda: mine(topics[0]) and mine(topics[1]), what="on_create + on_subscribe for a")
        await b.subscribe(h, uri + ".temp")
        await until(lambda: len(mine(topics[1])) == 2, what="on_subscribe for b")
        created = mine(topics[0])
        assert len(created) == 1 and created[0][0] == a.id, created
        assert created[0][1]["uri"] == uri + ".temp" and created[0][1]["match"] == "exact", created
        assert sorted(x[0] for x in mine(topics[1])) == sorted([a.id, b.id])
        await sub_a.unsubscribe()
        await until(lambda: mine(topics[2]), what="on_unsubscribe for a")
        assert mine(topics[2]) == [[a.id, sid]]
        assert mine(topics[3]) == []
        b.abort()
        await until(lambda: len(mine(topics[2])) == 2 and mine(topics[3]), what="on_unsubscribe + on_delete for b")
        assert mine(topics[2])[1] == [b.id, sid]
        assert mine(topics[3]) == [[b.id, sid]]

    adv.run(shared.url, scenario)


def test_subscription_remove_subscriber(shared, uri):
    """wamp.subscription.remove_subscriber(sub, session): that subscriber stops
    getting events; the others keep them."""

    async def scenario(net):
        a, b, admin = await net.sessions(3)
        ha, got_a = recorder()
        hb, got_b = recorder()
        sid = (await a.subscribe(ha, uri + ".t")).id
        await b.subscribe(hb, uri + ".t")
        assert await admin.call("wamp.subscription.remove_subscriber", sid, a.id) is None
        for _ in range(50):  # the removal reaches a's shard shortly after the answer
            if await admin.call("wamp.subscription.list_subscribers", sid) == [b.id]:
                break
            await quiet(0.02)
        assert await admin.call("wamp.subscription.list_subscribers", sid) == [b.id]
        await quiet(0.1)
        await admin.publish(uri + ".t", 1, options=PublishOptions(acknowledge=True))
        await until(lambda: got_b, what="the event at b")
        await quiet()
        assert got_a == [], got_a
        e = await app_error(admin.call("wamp.subscription.remove_subscriber", sid, a.id))
        assert e.error == "wamp.error.no_such_subscription", e

    adv.run(shared.url, scenario)


# ---------------------------------------------------------------------------
# registration meta API

def test_registration_meta_procedures(shared, uri):
    """wamp.registration.list / lookup / match / get / list_callees /
    count_callees; get of an unknown id -> wamp.error.no_such_registration."""

    async def scenario(net):
        a, b, c, admin = await net.sessions(4)
        rr = RegisterOptions(invoke="roundrobin")
        reg = (await a.register(lambda: "a", uri + ".work", options=rr)).id
        assert (await b.register(lambda: "b", uri + ".work", options=rr)).id == reg
        pre = (await c.register(lambda: "c", uri + ".", options=RegisterOptions(match="prefix"))).id
        wild = (await c.register(lambda: "c", uri + "..x", options=RegisterOptions(match="wildcard"))).id
        lst = await admin.call("wamp.registration.list")
        assert reg in lst["exact"] and pre in lst["prefix"] and wild in lst["wildcard"], lst
        assert await admin.call("wamp.registration.lookup", uri + ".work") == reg
        assert await admin.call("wamp.registration.lookup", uri + ".", {"match": "prefix"}) == pre
        assert await admin.call("wamp.registration.lookup", uri + ".nothing") is None
        assert await admin.call("wamp.registration.match", uri + ".work") == reg
        assert await admin.call("wamp.registration.match", uri + ".other") == pre
        assert await admin.call("wamp.registration.match", "com.interop.none.at.all") is None
        got = await admin.call("wamp.registration.get", reg)
        assert (got["id"], got["uri"], got["match"], got["invoke"]) == (reg, uri + ".work", "exact", "roundrobin"), got
        assert sorted(await admin.call("wamp.registration.list_callees", reg)) == sorted([a.id, b.id])
        assert await admin.call("wamp.registration.count_callees", reg) == 2
        assert await admin.call("wamp.registration.count_callees", wild) == 1
        e = await app_error(admin.call("wamp.registration.get", 9))
        assert e.error == "wamp.error.no_such_registration", e

    adv.run(shared.url, scenario)


@ferrobar_only
def test_registration_meta_events(shared, uri):
    """on_create (session, details) / on_register on REGISTER; on_unregister and
    on_delete on UNREGISTER and when the last callee leaves - with its session
    id (Crossbar sends null there)."""

    async def scenario(net):
        watcher = await net.session()
        topics = ["wamp.registration.on_create", "wamp.registration.on_register",
                  "wamp.registration.on_unregister", "wamp.registration.on_delete"]
        seen = await watch(watcher, *topics)
        a, b = await net.sessions(2)
        rr = RegisterOptions(invoke="roundrobin")
        reg_a = await a.register(lambda: 1, uri + ".work", options=rr)
        rid = reg_a.id
        await b.register(lambda: 2, uri + ".work", options=rr)

        def mine(topic):
            return [x for x in seen[topic] if (x[1] == rid if isinstance(x[1], int) else x[1].get("id") == rid)]

        await until(lambda: len(mine(topics[1])) == 2 and mine(topics[0]), what="on_create + 2 on_register")
        created = mine(topics[0])
        assert len(created) == 1 and created[0][0] == a.id, created
        assert (created[0][1]["uri"], created[0][1]["invoke"]) == (uri + ".work", "roundrobin"), created
        assert sorted(x[0] for x in mine(topics[1])) == sorted([a.id, b.id])
        await reg_a.unregister()
        await until(lambda: mine(topics[2]), what="on_unregister for a")
        assert mine(topics[2]) == [[a.id, rid]] and mine(topics[3]) == []
        b.abort()
        await until(lambda: len(mine(topics[2])) == 2 and mine(topics[3]), what="on_unregister + on_delete for b")
        assert mine(topics[2])[1] == [b.id, rid]
        assert mine(topics[3]) == [[b.id, rid]]

    adv.run(shared.url, scenario)


def test_registration_remove_callee(shared, uri):
    """wamp.registration.remove_callee(reg, session): calls no longer reach that
    callee; the registration lives on with the others."""

    async def scenario(net):
        a, b, admin = await net.sessions(3)
        rr = RegisterOptions(invoke="roundrobin")
        rid = (await a.register(lambda: "a", uri + ".work", options=rr)).id
        await b.register(lambda: "b", uri + ".work", options=rr)
        assert await admin.call("wamp.registration.remove_callee", rid, a.id) is None
        assert await admin.call("wamp.registration.list_callees", rid) == [b.id]
        got = None
        for _ in range(50):  # every shard's replica learns it shortly after the answer
            got = [await admin.call(uri + ".work") for _ in range(4)]
            if got == ["b"] * 4:
                break
            await quiet(0.02)
        assert got == ["b"] * 4, got
        e = await app_error(admin.call("wamp.registration.remove_callee", rid, a.id))
        assert e.error == "wamp.error.no_such_registration", e

    adv.run(shared.url, scenario)


def test_registration_revocation_tells_the_removed_callee(shared, uri):
    """registration_revocation: remove_callee(reg, session, reason) sends the removed
    callee UNREGISTERED with request 0, the registration and the reason, as Crossbar
    does, when it announced the feature (a raw peer); an Autobahn|Python callee, which
    announces it, takes the message and its session goes on."""

    async def scenario(net):
        admin, a = await net.sessions(2)
        roles = dict(adv.RAW_ROLES)
        roles["callee"] = {"features": dict(adv.RAW_ROLES["callee"]["features"], registration_revocation=True)}
        peer = await net.raw(roles=roles)
        assert peer.welcome["roles"]["dealer"]["features"].get("registration_revocation") is True
        rid = await peer.register(uri + ".raw")
        assert await admin.call("wamp.registration.remove_callee", rid, peer.session, "com.example.kicked") is None
        m = await peer.expect(adv.UNREGISTERED, request=0)
        assert m[2] == {"registration": rid, "reason": "com.example.kicked"}, m
        reg = await a.register(lambda: "a", uri + ".py")
        assert await admin.call("wamp.registration.remove_callee", reg.id, a.id, "com.example.kicked") is None
        # The Autobahn|Python session is still there and working (what the removal does to
        # calls is test_registration_remove_callee's).
        assert a.is_attached()
        await a.register(lambda: "again", uri + ".py2")
        assert await admin.call(uri + ".py2") == "again"

    adv.run(shared.url, scenario)


# ---------------------------------------------------------------------------
# testament_meta_api

def test_testament_published_when_the_connection_drops(shared, uri):
    """wamp.session.add_testament(topic, args, kwargs): published by the router
    when the session is lost - here by an abrupt TCP drop."""

    async def scenario(net):
        w1, w2 = await net.sessions(2)
        h1, got1 = recorder()
        h2, got2 = recorder()
        await w1.subscribe(h1, uri + ".offline")
        await w2.subscribe(lambda *a, **kw: got2.append([a, kw]), uri + ".offline")
        device = await net.session(serializer="msgpack")
        await device.call("wamp.session.add_testament", uri + ".offline", ["dev-7"], {"why": "lost"})
        await quiet(0.1)
        assert got1 == [] and got2 == [], "a testament is not published before the session goes"
        device.abort()
        await until(lambda: got1 and got2, what="the testament at both watchers")
        assert got2 == [[("dev-7",), {"why": "lost"}]], got2

    adv.run(shared.url, scenario)


def test_testament_scopes_on_goodbye(shared, uri):
    """Both scopes ("destroyed", the default, and "detached") are published when
    the session leaves with GOODBYE (ferrobar has no session resumption, so a
    session that leaves is detached and destroyed at once)."""

    async def scenario(net):
        w = await net.session()
        got = []
        await w.subscribe(lambda *a, **kw: got.append(a), uri + ".gone")
        device = await net.session()
        await device.call("wamp.session.add_testament", uri + ".gone", ["destroyed"], {})
        await device.call("wamp.session.add_testament", uri + ".gone", ["detached"], {}, scope="detached")
        await device.leave()
        await until(lambda: len(got) == 2, what="2 testaments")
        assert sorted(got) == [("destroyed",), ("detached",)], got

    adv.run(shared.url, scenario)


def test_flush_testaments(shared, uri):
    """wamp.session.flush_testaments(scope) removes the caller's testaments of
    that scope (default "destroyed") and returns how many; flushed ones are not
    published, the other scope's still are."""

    async def scenario(net):
        w = await net.session()
        got = []
        await w.subscribe(lambda *a, **kw: got.append(a), uri + ".gone")
        device = await net.session()
        for i in range(2):
            await device.call("wamp.session.add_testament", uri + ".gone", ["destroyed %d" % i], {})
        await device.call("wamp.session.add_testament", uri + ".gone", ["detached"], {}, scope="detached")
        n = await device.call("wamp.session.flush_testaments")
        assert n == 2, ("flush_testaments() (scope \"destroyed\") answered %r: the session has 2 testaments "
                        "of scope destroyed and 1 of scope detached, which must survive" % n)
        assert await device.call("wamp.session.flush_testaments", scope="destroyed") == 0
        device.abort()
        await until(lambda: got, what="the detached testament")
        await quiet()
        assert got == [("detached",)], got

    adv.run(shared.url, scenario)


def test_testament_publish_options(shared, uri):
    """add_testament(..., publish_options=...) applies the options to the
    publication as Crossbar does (it builds a PUBLISH from them): an `eligible`
    list limits the receivers; `retain` keeps the testament for late
    subscribers asking get_retained (and eligibility still applies to them)."""

    async def scenario(net):
        w1, w2 = await net.sessions(2)
        got1, got2 = [], []
        await w1.subscribe(lambda *a, **kw: got1.append(a), uri + ".gone")
        await w2.subscribe(lambda *a, **kw: got2.append(a), uri + ".gone")
        device = await net.session()
        await device.call("wamp.session.add_testament", uri + ".gone", ["for w1"], {},
                          publish_options={"eligible": [w1.id]})
        other = await net.session()
        await other.call("wamp.session.add_testament", uri + ".kept", ["retained"], {},
                         publish_options={"retain": True})
        device.abort()
        other.abort()
        await until(lambda: got1, what="the testament at the eligible watcher")
        late = await net.session()
        got3 = []
        await late.subscribe(lambda *a, **kw: got3.append(a), uri + ".kept",
                             options=SubscribeOptions(get_retained=True))
        await until(lambda: got3, what="the retained testament")
        await quiet()
        assert got3 == [("retained",)], got3
        assert got2 == [], "publish_options.eligible was ignored: a non-eligible subscriber got %r" % got2

    adv.run(shared.url, scenario)


def test_add_testament_with_bad_scope_is_refused(shared, uri):
    """Error case: scope other than "destroyed"/"detached" is refused (Crossbar:
    wamp.error.testament_error; ferrobar: wamp.error.invalid_argument)."""

    async def scenario(net):
        s = await net.session()
        e = await app_error(s.call("wamp.session.add_testament", uri + ".x", [], {}, scope="forever"))
        assert e.error in ("wamp.error.testament_error", "wamp.error.invalid_argument"), e
        e = await app_error(s.call("wamp.session.flush_testaments", scope="forever"))
        assert e.error in ("wamp.error.testament_error", "wamp.error.invalid_argument"), e

    adv.run(shared.url, scenario)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([os.path.abspath(__file__), "-v"]))
