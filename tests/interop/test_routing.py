"""Serializer negotiation with the clients' real offers, and fan-out with
ordering over many connections (with --shards 2 they land on both shards, so
events cross cores)."""

import pytest

import re
import subprocess

import harness
from harness import IS_FERROBAR


def router_serializers():
    """What the router speaks. ferrobar says it in `ferrobar version`
    ("Serializers : json (wamp.2.json), msgpack (wamp.2.msgpack)"); Crossbar
    speaks json, msgpack, cbor and ubjson."""
    if not IS_FERROBAR:
        return {"json", "msgpack", "cbor", "ubjson"}
    out = subprocess.run([harness.router_binary(), "version"], capture_output=True, text=True, timeout=30)
    line = next((l for l in (out.stdout + out.stderr).splitlines() if l.strip().startswith("Serializers")), "")
    found = set(re.findall(r"wamp\.2\.(\w+)", line))
    assert found, "`ferrobar version` names no serializer:\n%s%s" % (out.stdout, out.stderr)
    return found


SUPPORTED = router_serializers()


def expected_protocol(offer):
    """The router picks the first of the client's offered subprotocols it supports."""
    for ser in offer:
        if ser in SUPPORTED:
            return "wamp.2." + ser
    raise AssertionError("no supported serializer in %r" % (offer,))


@pytest.mark.parametrize("lang,offer", [
    ("py", None),                          # Autobahn|Python Component default: cbor, json
    ("py", "cbor,msgpack,json"),
    ("py", "json,msgpack"),
    ("js", None),                          # Autobahn|JS default: json, msgpack
    ("js", "msgpack,json"),
    ("js", "cbor,msgpack,json"),
    ("js22", None),                        # Autobahn|JS 22.11.1 default: json, msgpack
], ids=lambda v: v if v else "default")
def test_router_picks_first_supported_offered_serializer(lang, offer, shared, clients):
    default_offer = {"py": ["cbor", "json"], "js": ["json", "msgpack"], "js22": ["json", "msgpack"]}[lang]
    offered = offer.split(",") if offer else default_offer
    c = clients.client(lang, "joiner", shared.url, "join", serializer=offer)
    joined = c.expect("JOINED")
    assert joined["protocol"] == expected_protocol(offered), (offered, joined)
    assert c.wait_exit() == 0, c.output()


@pytest.mark.parametrize("pub_lang", ["py", "js"])
def test_fanout_in_order_to_many_subscribers(pub_lang, shared, clients, uri):
    """One publisher, eight subscribers (Autobahn|Python, |JS 26 and |JS 22, JSON
    and msgpack), each on its own connection: every subscriber gets all 201
    events, in publish order."""
    topic = uri + ".fanout"
    n = 200  # the publisher sends 0..200, the last one acknowledged
    subs = []
    for i in range(8):
        lang = "py" if i % 2 == 0 else ("js" if i % 4 == 1 else "js22")
        ser = "json" if (i // 2) % 2 == 0 else "msgpack"
        subs.append(clients.client(lang, "subscriber %d (%s/%s)" % (i, lang, ser), shared.url, "subscribe",
                                   "--topic", topic, "--count", str(n + 1), "--quiet", serializer=ser))
    for s in subs:
        s.expect("READY")
    pub = clients.client(pub_lang, "publisher", shared.url, "publish", "--topic", topic, "--count", str(n),
                         "--sequence", serializer="msgpack")
    pub.expect("PUBLISHED")
    for s in subs:
        got = s.expect("EVENTS", timeout=30)["args0"]
        assert got == list(range(n + 1)), "%s: events missing or out of order: %r" % (s.name, got)
        assert s.wait_exit() == 0, s.output()
    assert pub.wait_exit() == 0, pub.output()
