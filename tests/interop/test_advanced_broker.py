"""Advanced Profile, broker side, against the real router binary (--shards 2):
pattern-based subscriptions, publisher exclusion and identification,
subscriber black/white listing, event retention, payload pass-through mode,
acknowledgement, and the features the router announces in WELCOME.

The peers are in-process Autobahn|Python sessions (asyncio flavour); a raw
WAMP peer (clients/adv_wamp.py) is used only for what Autobahn|Python cannot
send (disclose_me, ppt_* options, malformed lists). Every test opens several
connections, so that with SO_REUSEPORT the participants spread over both
shards. Core-level counterparts: src/router/tests/broker.rs and mod.rs."""

import os
import sys

import pytest
from autobahn.wamp.types import PublishOptions, SubscribeOptions

from harness import CLIENTS, IS_CROSSBAR, IS_FERROBAR

sys.path.insert(0, CLIENTS)
import adv_wamp as adv  # noqa: E402
from adv_wamp import ERROR, EVENT, PUBLISHED, SUBSCRIBE, app_error, quiet, until  # noqa: E402

# A behaviour where ferrobar deliberately differs from Crossbar 26.10 (docs/features.md).
ferrobar_only = pytest.mark.xfail(IS_CROSSBAR, reason="ferrobar-specific (docs/features.md)", strict=False)


@pytest.fixture(scope="module")
def roles_node(tmp_path_factory):
    """A router of this module's own with two roles and fixed authids (see
    adv_wamp.roles_node_config)."""
    r = adv.RolesRouter.start(str(tmp_path_factory.mktemp("roles-router")))
    yield r
    rc = r.stop()
    if IS_FERROBAR:
        assert rc == 0, "ferrobar exited with %s after SIGTERM\n%s" % (rc, r.router.log_tail())


@pytest.fixture
def roles(roles_node, clients):
    clients.watch(roles_node.router)
    yield roles_node
    assert roles_node.router.alive(), "the roles router died\n%s" % roles_node.router.log_tail()


def recorder():
    """An event handler (details_arg="details") and the list it fills."""
    got = []

    def on_event(*args, **kwargs):
        details = kwargs.pop("details", None)
        got.append({"args": list(args), "kwargs": kwargs, "details": details})

    return on_event, got


DETAILS = {"details_arg": "details"}

BROKER_FEATURES = [
    "pattern_based_subscription", "publisher_exclusion", "publisher_identification",
    "subscriber_blackwhite_listing", "event_retention", "payload_passthru_mode",
    "session_meta_api", "subscription_meta_api",
]
DEALER_FEATURES = [
    "shared_registration", "pattern_based_registration", "progressive_call_results",
    "progressive_call_invocations", "call_canceling", "caller_identification",
    "session_meta_api", "registration_meta_api", "testament_meta_api", "payload_passthru_mode",
    "registration_revocation",
]
# Announced only by realms on the spec's milliseconds (call_timeout_unit "ms"): clients that see
# it send milliseconds, and realm1 reads Crossbar's seconds.
NOT_ANNOUNCED = ["call_timeout"]


@ferrobar_only
def test_welcome_announces_advanced_features(shared):
    """WELCOME.Details.roles.broker/dealer.features carry every implemented
    feature (spec announcement names), call_timeout aside (realm1 reads seconds);
    an Autobahn|Python session joins on it."""

    async def scenario(net):
        raw = await net.raw()
        roles = raw.welcome["roles"]
        broker = roles["broker"]["features"]
        dealer = roles["dealer"]["features"]
        assert [f for f in BROKER_FEATURES if broker.get(f) is not True] == [], broker
        assert [f for f in DEALER_FEATURES if dealer.get(f) is not True] == [], dealer
        assert [f for f in NOT_ANNOUNCED if f in dealer] == [], dealer
        # An Autobahn|Python session joins on the same WELCOME.
        s = await net.session()
        assert s.id == s.details.session

    adv.run(shared.url, scenario)


def test_pattern_based_subscription_prefix(shared, uri):
    """SUBSCRIBE match=prefix gets every topic under the prefix, with the concrete
    topic in EVENT.Details.topic; other topics do not match."""

    async def scenario(net):
        subs = await net.sessions(3)
        pub = await net.session(serializer="msgpack")
        handlers = []
        for s in subs:
            h, got = recorder()
            handlers.append(got)
            await s.subscribe(h, uri + ".", options=SubscribeOptions(match="prefix", **DETAILS))
        topics = [uri + ".a", uri + ".b.c", uri + "x.outside", "com.interop.other.a", uri + ".d"]
        for i, t in enumerate(topics):
            await pub.publish(t, i, options=PublishOptions(acknowledge=True))
        for got in handlers:
            await until(lambda: len(got) >= 3, what="3 prefix events")
        await quiet()
        for got in handlers:
            assert [(e["details"].topic, e["args"]) for e in got] == [
                (uri + ".a", [0]), (uri + ".b.c", [1]), (uri + ".d", [4])], got

    adv.run(shared.url, scenario)


def test_pattern_based_subscription_wildcard(shared, uri):
    """SUBSCRIBE match=wildcard: an empty URI component matches exactly one
    component; EVENT.Details.topic is the concrete topic."""

    async def scenario(net):
        sub, other = await net.sessions(2)
        pub = await net.session()
        h, got = recorder()
        h2, got2 = recorder()
        await sub.subscribe(h, uri + "..temp", options=SubscribeOptions(match="wildcard", **DETAILS))
        await other.subscribe(h2, uri + ".s1.", options=SubscribeOptions(match="wildcard", **DETAILS))
        for i, t in enumerate([uri + ".s1.temp", uri + ".s2.temp", uri + ".s1.hum", uri + ".s1.x.temp",
                               uri + ".temp"]):
            await pub.publish(t, i, options=PublishOptions(acknowledge=True))
        await until(lambda: len(got) >= 2 and len(got2) >= 2, what="wildcard events")
        await quiet()
        assert [(e["details"].topic, e["args"]) for e in got] == [
            (uri + ".s1.temp", [0]), (uri + ".s2.temp", [1])], got
        assert [(e["details"].topic, e["args"]) for e in got2] == [
            (uri + ".s1.temp", [0]), (uri + ".s1.hum", [2])], got2

    adv.run(shared.url, scenario)


@ferrobar_only
def test_subscribe_with_unknown_match_policy_is_invalid_argument(shared, uri):
    """Error case: SUBSCRIBE match="regex" (Autobahn|Python refuses to send it,
    so a raw peer does) -> ERROR wamp.error.invalid_argument."""

    async def scenario(net):
        raw = await net.raw()
        r = raw.request()
        raw.send(SUBSCRIBE, r, {"match": "regex"}, uri + ".x")
        m = await raw.reply(r)
        assert m[0] == ERROR and m[1] == SUBSCRIBE, m
        assert m[4] == "wamp.error.invalid_argument", m

    adv.run(shared.url, scenario)


def test_publisher_exclusion_across_shards(shared, uri):
    """exclude_me defaults to true: a subscribed publisher does not get its own
    event unless it publishes with exclude_me=False; the others get both."""

    async def scenario(net):
        me, a, b = await net.sessions(3)
        mine, got_me = recorder()
        await me.subscribe(mine, uri + ".t")
        others = []
        for s in (a, b):
            h, got = recorder()
            others.append(got)
            await s.subscribe(h, uri + ".t")
        await me.publish(uri + ".t", "first", options=PublishOptions(acknowledge=True))
        await me.publish(uri + ".t", "second", options=PublishOptions(acknowledge=True, exclude_me=False))
        for got in others:
            await until(lambda: len(got) >= 2, what="both events at the other subscribers")
        await until(lambda: len(got_me) >= 1, what="the exclude_me=False event at the publisher")
        await quiet()
        assert [e["args"] for e in got_me] == [["second"]], got_me
        for got in others:
            assert [e["args"] for e in got] == [["first"], ["second"]], got

    adv.run(shared.url, scenario)


@ferrobar_only
def test_publisher_identification_disclose_me(shared, uri):
    """PUBLISH.Options.disclose_me=true -> EVENT.Details.publisher,
    publisher_authid, publisher_authrole (Autobahn|Python 26 has no disclose_me
    option, so the publisher is a raw peer; Crossbar ignores disclose_me)."""

    async def scenario(net):
        subs = await net.sessions(2)
        handlers = []
        for s in subs:
            h, got = recorder()
            handlers.append(got)
            await s.subscribe(h, uri + ".who", options=SubscribeOptions(**DETAILS))
        raw = await net.raw()
        raw.publish(uri + ".who", ["anon"], None, {"acknowledge": True})
        raw.publish(uri + ".who", ["me"], None, {"acknowledge": True, "disclose_me": True})
        for got in handlers:
            await until(lambda: len(got) >= 2, what="2 events")
        for got in handlers:
            anon, me = got
            assert anon["details"].publisher is None, anon
            assert me["details"].publisher == raw.session, me
            assert me["details"].publisher_authid == raw.welcome["authid"], me
            assert me["details"].publisher_authrole == "anonymous", me

    adv.run(shared.url, scenario)


def test_publisher_identification_by_role_permission(roles, uri):
    """A role whose permission says disclose.publisher=true has its publications
    identified without asking (Crossbar's rule); a role without it does not."""

    async def scenario(net):
        sub = await net.session()
        h, got = recorder()
        await sub.subscribe(h, uri + ".who", options=SubscribeOptions(**DETAILS))
        bob = await net.session(url=net.urls["backend"])
        anon = await net.session()
        await bob.publish(uri + ".who", "bob", options=PublishOptions(acknowledge=True))
        await anon.publish(uri + ".who", "anon", options=PublishOptions(acknowledge=True))
        await until(lambda: len(got) >= 2, what="2 events")
        by = {e["args"][0]: e["details"] for e in got}
        assert by["bob"].publisher == bob.id, by
        assert by["bob"].publisher_authid == "bob", by
        assert by["bob"].publisher_authrole == "backend", by
        assert by["anon"].publisher is None, by

    adv.run(roles.url, scenario, urls=roles.urls)


async def _listing_round(pub, subs, topic, cases):
    """Publish one event per case (options, expected receivers); check that
    exactly the expected subscribers got each one."""
    handlers = {}
    for name, s in subs.items():
        h, got = recorder()
        handlers[name] = got
        await s.subscribe(h, topic)
    for i, (options, _) in enumerate(cases):
        await pub.publish(topic, i, options=PublishOptions(acknowledge=True, **options))
    expected = {name: [i for i, (_, who) in enumerate(cases) if name in who] for name in subs}
    for name, got in handlers.items():
        await until(lambda: len(got) >= len(expected[name]), what="events at %s" % name)
    await quiet()
    got = {name: [e["args"][0] for e in evs] for name, evs in handlers.items()}
    assert got == expected, "\n".join("case %d %r -> %s" % (i, o, sorted(w)) for i, (o, w) in enumerate(cases))


def test_subscriber_blackwhite_listing_by_session_and_authid(shared, uri):
    """exclude / eligible by session id, exclude_authid / eligible_authid (the
    router gives every anonymous session its own random authid), combined."""

    async def scenario(net):
        a, b, c = await net.sessions(3)
        pub = await net.session(serializer="msgpack")
        subs = {"a": a, "b": b, "c": c}
        await _listing_round(pub, subs, uri + ".news", [
            ({"exclude": [a.id]}, "bc"),
            ({"eligible": [a.id, b.id]}, "ab"),
            ({"exclude_authid": [b.details.authid]}, "ac"),
            ({"eligible_authid": [c.details.authid]}, "c"),
            ({"eligible": [a.id, b.id], "exclude": [b.id]}, "a"),
            ({"eligible_authid": [a.details.authid, c.details.authid], "exclude": [c.id]}, "a"),
        ])

    adv.run(shared.url, scenario)


def test_subscriber_blackwhite_listing_by_authrole(roles, uri):
    """exclude_authrole / eligible_authrole with subscribers in two roles
    (anonymous, backend), and authid lists with fixed authids."""

    async def scenario(net):
        a = await net.session()
        b = await net.session(url=net.urls["backend"])
        c = await net.session(url=net.urls["carol"])
        assert (b.details.authid, b.details.authrole) == ("bob", "backend")
        assert (c.details.authid, c.details.authrole) == ("carol", "anonymous")
        pub = await net.session()
        await _listing_round(pub, {"a": a, "b": b, "c": c}, uri + ".news", [
            ({"exclude_authrole": ["backend"]}, "ac"),
            ({"eligible_authrole": ["backend"]}, "b"),
            ({"eligible_authrole": ["anonymous"], "exclude": [c.id]}, "a"),
            ({"exclude_authid": ["bob"]}, "ac"),
            ({"eligible_authid": ["carol"]}, "c"),
            ({"eligible_authrole": ["nobody"]}, ""),
        ])

    adv.run(roles.url, scenario, urls=roles.urls)


@ferrobar_only
def test_blackwhite_list_malformed_is_invalid_argument(shared, uri):
    """Error case: an acknowledged PUBLISH whose list option is not a list of
    session ids / strings -> ERROR wamp.error.invalid_argument, and nothing is
    delivered. (Autobahn|Python asserts the types, so a raw peer sends it.)"""

    async def scenario(net):
        sub = await net.session()
        h, got = recorder()
        await sub.subscribe(h, uri + ".news")
        raw = await net.raw()
        for bad in ({"eligible": 3}, {"exclude": ["not-an-id"]}, {"exclude_authid": [7]},
                    {"eligible_authrole": "backend"}):
            r = raw.publish(uri + ".news", ["x"], None, dict(acknowledge=True, **bad))
            m = await raw.reply(r)
            assert m[0] == ERROR, (bad, m)
            assert m[4] == "wamp.error.invalid_argument", (bad, m)
        await quiet()
        assert got == [], got

    adv.run(shared.url, scenario)


def test_event_retention(shared, uri):
    """PUBLISH retain=true keeps the last event of a topic; a later SUBSCRIBE
    with get_retained=true gets it at once with EVENT.Details.retained=true
    (a pattern subscription gets every matching retained topic); a subscriber
    that does not ask gets nothing."""

    async def scenario(net):
        pub = await net.session()
        s1, s2 = uri + ".s1.temp", uri + ".s2.temp"
        for t, v in ((s1, 20), (s1, 21), (s2, 5)):
            await pub.publish(t, v, options=PublishOptions(acknowledge=True, retain=True))
        await pub.publish(uri + ".s3.temp", 9, options=PublishOptions(acknowledge=True))
        late, pattern, plain = await net.sessions(3)
        h, got = recorder()
        await late.subscribe(h, s1, options=SubscribeOptions(get_retained=True, **DETAILS))
        hp, got_p = recorder()
        await pattern.subscribe(hp, uri + "..temp",
                                options=SubscribeOptions(match="wildcard", get_retained=True, **DETAILS))
        hn, got_n = recorder()
        await plain.subscribe(hn, s1, options=SubscribeOptions(**DETAILS))
        await until(lambda: len(got) >= 1 and len(got_p) >= 2, what="retained events")
        await quiet()
        assert [e["args"] for e in got] == [[21]], got
        assert got[0]["details"].retained is True, got[0]
        assert sorted((e["details"].topic, e["args"][0]) for e in got_p) == [(s1, 21), (s2, 5)], got_p
        assert all(e["details"].retained is True for e in got_p), got_p
        assert got_n == [], got_n
        # A live event afterwards is not marked retained.
        await pub.publish(s1, 22, options=PublishOptions(acknowledge=True))
        await until(lambda: len(got) >= 2, what="the live event")
        assert got[1]["args"] == [22] and not got[1]["details"].retained, got[1]

    adv.run(shared.url, scenario)


@ferrobar_only
def test_payload_passthru_mode_publish(shared, uri):
    """PUBLISH ppt_scheme/ppt_serializer/ppt_cipher/ppt_keyid are forwarded
    untouched into EVENT.Details, with the binary payload as is, across
    serializers (raw JSON peers see the details; an Autobahn|Python msgpack
    subscriber gets the same bytes)."""

    async def scenario(net):
        raw_sub = await net.raw()
        await raw_sub.subscribe(uri + ".secret")
        ab = await net.session(serializer="msgpack")
        h, got = recorder()
        await ab.subscribe(h, uri + ".secret", options=SubscribeOptions(**DETAILS))
        pub = await net.raw()
        ppt = {"ppt_scheme": "x_custom", "ppt_serializer": "cbor", "ppt_cipher": "xsalsa20poly1305",
               "ppt_keyid": "k1"}
        blob = "\x00AQID/w=="  # JSON binary convention: bytes 01 02 03 ff
        r = pub.publish(uri + ".secret", [blob], None, dict(acknowledge=True, **ppt))
        m = await pub.reply(r)
        assert m[0] == PUBLISHED, m
        ev = await raw_sub.expect(EVENT)
        assert {k: v for k, v in ev[3].items() if k.startswith("ppt_")} == ppt, ev
        assert ev[4] == [blob], ev
        await until(lambda: got, what="the event at the msgpack subscriber")
        assert got[0]["args"] == [b"\x01\x02\x03\xff"], got

    adv.run(shared.url, scenario)


def test_acknowledged_publish_and_refusal(shared, uri):
    """publish(acknowledge=True) resolves with a publication id in [1, 2^53];
    error case: an acknowledged publish to the reserved wamp.* namespace is
    refused with wamp.error.invalid_uri (as Crossbar does for non-trusted
    sessions); an unacknowledged refused PUBLISH (here an invalid URI, which
    Autobahn|Python would not send) gets no answer at all."""

    async def scenario(net):
        pub = await net.session()
        p = await pub.publish(uri + ".t", 1, options=PublishOptions(acknowledge=True))
        assert isinstance(p.id, int) and 1 <= p.id <= 2 ** 53, p
        e = await app_error(pub.publish("wamp.interop.mine", 1, options=PublishOptions(acknowledge=True)))
        assert e.error == "wamp.error.invalid_uri", e
        raw = await net.raw()
        raw.publish(uri + "..bad", [1])
        await raw.none(what="answer to an unacknowledged refused PUBLISH")

    adv.run(shared.url, scenario)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([os.path.abspath(__file__), "-v"]))
