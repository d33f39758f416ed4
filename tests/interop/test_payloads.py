"""Pub/Sub and RPC between Autobahn|Python and Autobahn|JS with the serializer
forced on each side, so payloads cross wamp.2.json <-> wamp.2.msgpack in the
router: args and kwargs with nested dicts, unicode (keys too), integers up to
2^53, floats, booleans, null and binary values (bytes / Buffer; "\\0"+base64 on
JSON, bin on msgpack). The payload is clients/payload.json."""

import pytest

from harness import load_payload, mismatches

# (sender lang, sender serializer, receiver lang, receiver serializer)
COMBOS = [
    (a, sa, b, sb)
    for (a, b) in (("py", "js"), ("js", "py"))
    for sa in ("json", "msgpack")
    for sb in ("json", "msgpack")
] + [
    ("py", "json", "py", "msgpack"),
    ("py", "msgpack", "py", "json"),
    ("js", "msgpack", "js", "json"),
    # Autobahn|JS 22.11.1 on the `ws` package (offers permessage-deflate)
    ("py", "json", "js22", "msgpack"),
    ("js22", "msgpack", "py", "json"),
    ("js22", "json", "js", "msgpack"),
]


def combo_id(c):
    return "%s-%s-to-%s-%s" % c


def assert_payload(what, got, proc):
    errors = mismatches(load_payload(), got)
    assert not errors, "%s differs from clients/payload.json:\n  %s\n%s" % (
        what, "\n  ".join(errors), proc.output())


@pytest.mark.parametrize("combo", COMBOS, ids=combo_id)
def test_pubsub_payload(combo, shared, clients, uri):
    pub_lang, pub_ser, sub_lang, sub_ser = combo
    topic = uri + ".payload"
    sub = clients.client(sub_lang, "subscriber", shared.url, "subscribe", "--topic", topic, "--count", "1",
                         serializer=sub_ser)
    sub.expect("READY")
    pub = clients.client(pub_lang, "publisher", shared.url, "publish", "--topic", topic, serializer=pub_ser)
    published = pub.expect("PUBLISHED")
    assert isinstance(published["id"], int) and 1 <= published["id"] <= 2 ** 53, published
    event = sub.expect("EVENT")
    assert_payload("the event", event, sub)
    assert sub.wait_exit() == 0, sub.output()
    assert pub.wait_exit() == 0, pub.output()


@pytest.mark.parametrize("combo", COMBOS, ids=combo_id)
def test_rpc_payload_roundtrip(combo, shared, clients, uri):
    """The callee sees the caller's args/kwargs and echoes them back; the caller
    gets them unchanged (so each value crosses the serializers both ways)."""
    caller_lang, caller_ser, callee_lang, callee_ser = combo
    proc = uri + ".echo"
    callee = clients.client(callee_lang, "callee", shared.url, "callee", "--procedure", proc, "--mode", "echo",
                            serializer=callee_ser)
    callee.expect("READY")
    caller = clients.client(caller_lang, "caller", shared.url, "call", "--procedure", proc, serializer=caller_ser)
    result = caller.expect("RESULT")
    invoked = callee.expect("INVOKED")
    assert_payload("the invocation", invoked, callee)
    assert_payload("the call result", result, caller)
    assert caller.wait_exit() == 0, caller.output()
    assert callee.wait_exit() == 0, callee.output()
