"""What a WAMP application sees from the router, checked with real Autobahn
clients: the standard error URIs, application errors, publication
acknowledgement, publisher exclusion, unknown realms, a callee lost mid-call."""

import signal

import pytest

LANGS = ["py", "js"]
OTHER = {"py": "js", "js": "py"}


@pytest.mark.parametrize("lang", LANGS)
def test_call_unregistered_procedure_is_no_such_procedure(lang, shared, clients, uri):
    caller = clients.client(lang, "caller", shared.url, "call", "--procedure", uri + ".nobody.home",
                            "--no-payload")
    err = caller.expect("ERROR", others=("RESULT", "LEAVE"))
    assert err["error"] == "wamp.error.no_such_procedure", err
    assert caller.wait_exit() == 0, caller.output()


@pytest.mark.parametrize("lang", LANGS)
def test_register_twice_in_one_session_is_procedure_already_exists(lang, shared, clients, uri):
    c = clients.client(lang, "registrant", shared.url, "register", "--procedure", uri + ".proc", "--twice")
    first = c.expect("READY")
    assert isinstance(first["registration"], int), first
    err = c.expect("ERROR", others=("READY", "LEAVE"))
    assert err["error"] == "wamp.error.procedure_already_exists", err
    assert c.wait_exit() == 0, c.output()


@pytest.mark.parametrize("holder", LANGS)
def test_register_taken_procedure_from_other_session_is_procedure_already_exists(holder, shared, clients, uri):
    proc = uri + ".proc"
    h = clients.client(holder, "holder", shared.url, "register", "--procedure", proc, "--stay")
    h.expect("READY")
    other = clients.client(OTHER[holder], "second registrant", shared.url, "register", "--procedure", proc)
    err = other.expect("ERROR", others=("READY", "LEAVE"))
    assert err["error"] == "wamp.error.procedure_already_exists", err
    assert other.wait_exit() == 0, other.output()


@pytest.mark.parametrize("callee_lang,callee_ser,caller_lang,caller_ser", [
    ("py", "json", "py", "msgpack"),
    ("py", "msgpack", "js", "json"),
    ("js", "json", "py", "msgpack"),
    ("js", "msgpack", "js", "json"),
])
def test_application_error_reaches_caller(callee_lang, callee_ser, caller_lang, caller_ser, shared, clients, uri):
    """A callee raising ApplicationError('com.myapp.error1', ...) (autobahn.Error
    in JS): the caller gets that error URI with its args and kwargs."""
    proc = uri + ".fails"
    callee = clients.client(callee_lang, "callee", shared.url, "callee", "--procedure", proc, "--mode", "error",
                            serializer=callee_ser)
    callee.expect("READY")
    caller = clients.client(caller_lang, "caller", shared.url, "call", "--procedure", proc, "--no-payload",
                            serializer=caller_ser)
    err = caller.expect("ERROR", others=("RESULT", "LEAVE"))
    assert err["error"] == "com.myapp.error1", err
    assert err["args"] == ["custom error message", 42, {"nested": [1, "two", None]}], err
    assert err["kwargs"] == {"reason": "raised by the callee", "code": 7}, err
    assert caller.wait_exit() == 0, caller.output()


@pytest.mark.parametrize("lang", LANGS)
def test_acknowledged_publish_returns_publication_id(lang, shared, clients, uri):
    """publish(acknowledge=True) resolves with a publication id (even with no
    subscriber), an integer in [1, 2^53]."""
    pub = clients.client(lang, "publisher", shared.url, "publish", "--topic", uri + ".nobody.listens",
                         "--count", "2")
    first = pub.expect("PUBLISHED")
    second = pub.expect("PUBLISHED")
    for p in (first, second):
        assert isinstance(p["id"], int) and not isinstance(p["id"], bool), p
        assert 1 <= p["id"] <= 2 ** 53, p
    assert pub.wait_exit() == 0, pub.output()


@pytest.mark.parametrize("lang", LANGS)
def test_publisher_exclusion(lang, shared, clients, uri):
    """A subscriber that publishes to its own topic does not get its own event by
    default, and does with exclude_me=False; another subscriber gets both."""
    topic = uri + ".echoes"
    observer = clients.client(OTHER[lang], "observer", shared.url, "subscribe", "--topic", topic, "--count", "2")
    observer.expect("READY")
    me = clients.client(lang, "publisher+subscriber", shared.url, "exclude-me", "--topic", topic)
    done = me.expect("DONE")
    assert done["events"] == ["second"], (
        "the publisher should get only its exclude_me=False publication, got %r" % done["events"])
    first = observer.expect("EVENT")
    second = observer.expect("EVENT")
    assert [first["args"], second["args"]] == [["first"], ["second"]], (first, second)
    assert me.wait_exit() == 0, me.output()
    assert observer.wait_exit() == 0, observer.output()


@pytest.mark.parametrize("lang", LANGS + ["js22"])
def test_join_unknown_realm_is_no_such_realm(lang, shared, clients):
    c = clients.client(lang, "joiner", shared.url, "join", realm="com.interop.no.such.realm")
    left = c.expect("LEAVE", others=("JOINED",))
    assert left["reason"] == "wamp.error.no_such_realm", left
    assert left["joined"] is False, left
    assert c.wait_exit() == 0, c.output()


@pytest.mark.parametrize("callee_lang,caller_lang", [("py", "js"), ("js", "py"), ("js22", "py")])
def test_callee_lost_mid_call_cancels_the_call(callee_lang, caller_lang, shared, clients, uri):
    """The callee's connection drops (process killed) while a call is pending:
    the caller gets wamp.error.canceled instead of hanging."""
    proc = uri + ".hangs"
    callee = clients.client(callee_lang, "callee", shared.url, "callee", "--procedure", proc, "--mode", "hang")
    callee.expect("READY")
    caller = clients.client(caller_lang, "caller", shared.url, "call", "--procedure", proc, "--no-payload")
    callee.expect("INVOKED")
    callee.kill(signal.SIGKILL)
    err = caller.expect("ERROR", timeout=20, others=("RESULT", "LEAVE"))
    assert err["error"] == "wamp.error.canceled", err
    assert caller.wait_exit() == 0, caller.output()


@pytest.mark.parametrize("lang", LANGS + ["js22"])
def test_goodbye_is_answered_with_close_normal(lang, shared, clients):
    """A client that leaves gets the router's GOODBYE reply with reason
    wamp.close.normal, as from Crossbar (reference crossbar.md §8 lists this among
    the details a drop-in replacement must match): applications compare the
    reason they see in onLeave/onclose with it to tell a clean leave."""
    c = clients.client(lang, "leaver", shared.url, "join")
    c.expect("JOINED")
    left = c.expect("LEAVE")
    assert left["reason"] == "wamp.close.normal", left
    assert c.wait_exit() == 0, c.output()
