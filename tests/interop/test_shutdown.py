"""Router shutdown as operators do it (SIGTERM, e.g. from systemd or docker stop):
every connected session is closed with GOODBYE wamp.close.system_shutdown and
the router exits 0."""

import signal

from harness import IS_FERROBAR


def test_sigterm_closes_sessions_with_system_shutdown(private_router, clients):
    clients.watch(private_router)
    url = private_router.url
    py = clients.py("py session", url, "join", "--stay", serializer="json")
    js = clients.js("js session", url, "join", "--stay", serializer="msgpack")
    py.expect("JOINED")
    js.expect("JOINED")

    rc = private_router.stop(signal.SIGTERM)

    py_left = py.expect("LEAVE", timeout=20)
    js_left = js.expect("LEAVE", timeout=20)
    assert py_left["reason"] == "wamp.close.system_shutdown", py_left
    assert js_left["reason"] == "wamp.close.system_shutdown", js_left
    assert py.wait_exit() == 0, py.output()
    assert js.wait_exit() == 0, js.output()
    if IS_FERROBAR:
        assert rc == 0, "ferrobar exited %s after SIGTERM (expected 0)\n%s" % (rc, private_router.log_tail())
