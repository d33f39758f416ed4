"""The metrics a Prometheus server scrapes, read with the official Prometheus Python
client's parser (prometheus_client.parser), after Autobahn|Python and Autobahn|JS clients
made traffic: the families parse, their types are right, and the counts match the traffic.
ferrobar only (Crossbar has no metrics endpoint)."""

import json
import os
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

import harness
from harness import IS_FERROBAR, Router

pytestmark = pytest.mark.skipif(not IS_FERROBAR, reason="ferrobar's own metrics endpoint")


@pytest.fixture
def metrics_router(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("metrics-router"))
    port = harness.free_port()
    config = harness.node_config(port)
    config["workers"][0]["transports"][0]["paths"]["metrics"] = {"type": "metrics"}
    config["workers"][0]["transports"][0]["paths"]["health"] = {"type": "health"}
    cbdir = os.path.join(root, ".crossbar")
    os.makedirs(cbdir)
    with open(os.path.join(cbdir, "config.json"), "w") as f:
        json.dump(config, f)
    r = Router(cbdir, port, name="metrics-router").start()
    yield r
    r.kill()


def scrape(router):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % router.port, timeout=5) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(families, name, **labels):
    family = families[name]
    for s in family.samples:
        if s.labels == labels and s.name in (name, name + "_total"):
            return s.value
    raise AssertionError("no sample %s%r in %r" % (name, labels, family.samples))


def test_metrics_parse_with_the_prometheus_parser_and_count_the_traffic(metrics_router, clients, uri):
    url = metrics_router.url
    topic = uri + ".temp"
    n = 20
    subs = [clients.client(lang, "subscriber %s" % lang, url, "subscribe", "--topic", topic,
                           "--count", str(n + 1), "--quiet", serializer="json")
            for lang in ("py", "js")]
    for s in subs:
        s.expect("READY")
    pub = clients.py("publisher", url, "publish", "--topic", topic, "--count", str(n), "--sequence",
                     serializer="msgpack")
    pub.expect("PUBLISHED")
    for s in subs:
        assert s.expect("EVENTS", timeout=30)["args0"] == list(range(n + 1))
        assert s.wait_exit() == 0, s.output()
    assert pub.wait_exit() == 0, pub.output()

    # Each shard reports once a second, on its own: scrape until every shard's part shows.
    expected = [
        (("ferrobar_publications",), {}, n + 1),
        (("ferrobar_deliveries",), {}, 2 * (n + 1)),
        (("ferrobar_messages_received",), {"type": "PUBLISH"}, n + 1),
        (("ferrobar_messages_sent",), {"type": "EVENT"}, 2 * (n + 1)),
    ]
    deadline = time.monotonic() + 5
    while True:
        families = scrape(metrics_router)
        got = [value(families, name[0], **labels) for name, labels, _ in expected]
        if got == [want for _, _, want in expected] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert got == [want for _, _, want in expected], list(zip(expected, got))
    assert families["ferrobar_publications"].type == "counter"
    assert families["ferrobar_sessions"].type == "gauge"
    assert families["ferrobar_call_duration_seconds"].type == "histogram"
    assert families["ferrobar_connections"].type == "gauge"
    with urllib.request.urlopen("http://127.0.0.1:%d/health" % metrics_router.port, timeout=5) as resp:
        assert resp.status == 200
        assert json.loads(resp.read()) == {"status": "ready", "reasons": []}
