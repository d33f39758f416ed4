"""Advanced Profile, dealer side, against the real router binary (--shards 2):
shared and pattern-based registrations, progressive call results and
invocations, call canceling, router-side call timeouts, caller
identification, payload pass-through mode, and what callers see when a callee
goes away.

Callers and callees are in-process Autobahn|Python sessions (asyncio); a raw
WAMP peer (clients/adv_wamp.py) stands in where Autobahn|Python cannot express
the message: progressive CALLs, CANCEL with a mode (Autobahn|Python sends
CANCEL without one and rejects its call future locally, so it never shows the
router's ERROR), disclose_me, ppt_* options. Core-level counterparts:
src/router/tests/dealer.rs and mod.rs."""

import asyncio
import os
import sys
import time

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallOptions, RegisterOptions

from harness import CLIENTS, IS_CROSSBAR, IS_FERROBAR

sys.path.insert(0, CLIENTS)
import adv_wamp as adv  # noqa: E402
from adv_wamp import CALL, CANCEL, ERROR, INVOCATION, RESULT, app_error, quiet, until, within  # noqa: E402

ferrobar_only = pytest.mark.xfail(IS_CROSSBAR, reason="ferrobar-specific (docs/features.md)", strict=False)


@pytest.fixture(scope="module")
def roles_node(tmp_path_factory):
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


class Hanging:
    """An Autobahn|Python endpoint that does not answer until released, and
    records its invocations and the ones the router interrupted (Autobahn|Python
    turns an INTERRUPT into asyncio cancellation of the handler)."""

    def __init__(self, on_cancel=None):
        self.invoked = []
        self.cancelled = []
        self.release = asyncio.Event()
        self.on_cancel = on_cancel

    async def __call__(self, *args, **kwargs):
        self.invoked.append(list(args))
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.append(list(args))
            if self.on_cancel:
                raise self.on_cancel
            raise
        return ["late", list(args)]


def labelled(label):
    def endpoint(*args, details=None):
        return [label, details.procedure if details else None]
    return endpoint


# ---------------------------------------------------------------------------
# shared_registration

def test_shared_registration_roundrobin(shared, uri):
    """invoke=roundrobin: one registration, the calls rotate over the callees
    in registration order."""

    async def scenario(net):
        callees = await net.sessions(3)
        regs = []
        for i, c in enumerate(callees):
            regs.append(await c.register(labelled("c%d" % i), uri + ".work",
                                         options=RegisterOptions(invoke="roundrobin", details_arg="details")))
        assert len({r.id for r in regs}) == 1, "one registration id for all callees"
        caller = await net.session(serializer="msgpack")
        got = [(await caller.call(uri + ".work"))[0] for _ in range(6)]
        assert sorted(got[:3]) == ["c0", "c1", "c2"], got
        assert got[3:] == got[:3], got

    adv.run(shared.url, scenario)


def test_shared_registration_random(shared, uri):
    """invoke=random: every call is answered by one of the callees, and more
    than one callee is used (30 calls over 3 callees)."""

    async def scenario(net):
        callees = await net.sessions(3)
        for i, c in enumerate(callees):
            await c.register(labelled("c%d" % i), uri + ".work", options=RegisterOptions(invoke="random"))
        caller = await net.session()
        got = [(await caller.call(uri + ".work"))[0] for _ in range(30)]
        assert set(got) <= {"c0", "c1", "c2"}, got
        assert len(set(got)) >= 2, "random picked the same callee 30 times: %r" % got

    adv.run(shared.url, scenario)


def test_shared_registration_first_and_last(shared, uri):
    """invoke=first: always the earliest remaining registrant; invoke=last: always
    the latest. When the first callee leaves, the next one becomes first."""

    async def scenario(net):
        callees = await net.sessions(3)
        for i, c in enumerate(callees):
            await c.register(labelled("c%d" % i), uri + ".first", options=RegisterOptions(invoke="first"))
            await c.register(labelled("c%d" % i), uri + ".last", options=RegisterOptions(invoke="last"))
        caller = await net.session()
        assert [(await caller.call(uri + ".first"))[0] for _ in range(3)] == ["c0"] * 3
        assert [(await caller.call(uri + ".last"))[0] for _ in range(3)] == ["c2"] * 3
        await callees[0].leave()
        await within(callees[0].left, what="GOODBYE reply")
        got = None
        for _ in range(50):  # the unregistration reaches every shard shortly after
            got = (await caller.call(uri + ".first"))[0]
            if got != "c0":
                break
            await asyncio.sleep(0.02)
        assert got == "c1", got

    adv.run(shared.url, scenario)


def test_shared_registration_policy_conflict_and_single(shared, uri):
    """Error cases, as Crossbar answers them: registering onto a shared procedure
    with another policy (single included) ->
    wamp.error.procedure_exists_with_different_invocation_policy (Autobahn's
    ApplicationError.PROCEDURE_EXISTS_INVOCATION_POLICY_CONFLICT); registering
    anything where a `single` registration exists ->
    wamp.error.procedure_already_exists."""

    conflict = "wamp.error.procedure_exists_with_different_invocation_policy"
    assert ApplicationError.PROCEDURE_EXISTS_INVOCATION_POLICY_CONFLICT == conflict

    async def scenario(net):
        a, b, c = await net.sessions(3)
        await a.register(labelled("a"), uri + ".rr", options=RegisterOptions(invoke="roundrobin"))
        e = await app_error(b.register(labelled("b"), uri + ".rr", options=RegisterOptions(invoke="first")))
        assert e.error == conflict, e
        e = await app_error(b.register(labelled("b"), uri + ".rr", options=RegisterOptions(invoke="single")))
        assert e.error == conflict, e
        await a.register(labelled("a"), uri + ".one", options=RegisterOptions(invoke="single"))
        e = await app_error(c.register(labelled("c"), uri + ".one", options=RegisterOptions(invoke="single")))
        assert e.error == "wamp.error.procedure_already_exists", e
        e = await app_error(c.register(labelled("c"), uri + ".one", options=RegisterOptions(invoke="roundrobin")))
        assert e.error == "wamp.error.procedure_already_exists", e
        # The refused sessions are still fine: the shared registration takes them.
        await b.register(labelled("b"), uri + ".rr", options=RegisterOptions(invoke="roundrobin"))

    adv.run(shared.url, scenario)


# ---------------------------------------------------------------------------
# pattern_based_registration

def test_pattern_based_registration_precedence(shared, uri):
    """match=prefix / wildcard: exact beats the longest prefix, which beats a
    wildcard; INVOCATION.Details.procedure carries the concrete URI."""

    async def scenario(net):
        exact, short, long_, wild = await net.sessions(4)
        for s, pattern, policy, label in [
            (exact, uri + ".app.user.get", "exact", "exact"),
            (short, uri + ".app.", "prefix", "short"),
            (long_, uri + ".app.user.", "prefix", "long"),
            (wild, uri + "..user.list", "wildcard", "wild"),
        ]:
            await s.register(labelled(label), pattern, options=RegisterOptions(match=policy, details_arg="details"))
        caller = await net.session(serializer="msgpack")
        for procedure, want in [
            (uri + ".app.user.get", "exact"),
            (uri + ".app.user.delete", "long"),
            (uri + ".app.order.get", "short"),
            (uri + ".x.user.list", "wild"),
            (uri + ".app.user.list", "long"),
        ]:
            label, seen = await caller.call(procedure)
            assert label == want, (procedure, label)
            if want != "exact":
                assert seen == procedure, (procedure, seen)
        e = await app_error(caller.call(uri + ".nothing.here"))
        assert e.error == "wamp.error.no_such_procedure", e

    adv.run(shared.url, scenario)


# ---------------------------------------------------------------------------
# progressive_call_results

def test_progressive_call_results(shared, uri):
    """A caller with on_progress (CALL receive_progress) gets each progressive
    YIELD as a progressive RESULT, then the final one; a caller without it gets
    only the final result."""

    async def scenario(net):
        callee = await net.session()

        async def stream(n, details=None):
            if details.progress:
                for i in range(n):
                    details.progress(i, part=i)
            return "done"

        await callee.register(stream, uri + ".stream", options=RegisterOptions(details_arg="details"))
        caller = await net.session(serializer="msgpack")
        progress = []
        res = await caller.call(uri + ".stream", 3,
                                options=CallOptions(on_progress=lambda *a, **kw: progress.append((a, kw))))
        assert progress == [((0,), {"part": 0}), ((1,), {"part": 1}), ((2,), {"part": 2})], progress
        assert res == "done"
        plain = await net.session()
        assert await plain.call(uri + ".stream", 3) == "done"

    adv.run(shared.url, scenario)


# ---------------------------------------------------------------------------
# progressive_call_invocations (Autobahn|Python cannot send progressive CALLs)

@ferrobar_only
def test_progressive_call_invocations(shared, uri):
    """CALL progress=true, repeated with the same request id, ends with a final
    CALL: the callee gets as many INVOCATIONs, all with one request id,
    Details.progress=true on all but the last, payloads in order; progressive
    results can flow back meanwhile; the final YIELD ends the call. Raw peers
    on both sides (announcing progressive_call_invocations and call_canceling)."""

    async def scenario(net):
        callee = await net.raw()
        await callee.register(uri + ".upload")
        caller = await net.raw()
        r = caller.call(uri + ".upload", [0], None, {"progress": True, "receive_progress": True})
        first = await callee.expect(INVOCATION)
        assert first[3].get("progress") is True, first
        assert first[4] == [0], first
        callee.yield_(first[1], ["got 0"], None, {"progress": True})
        m = await caller.reply(r)
        assert m[0] == RESULT and m[2].get("progress") is True and m[3] == ["got 0"], m
        caller.call(uri + ".upload", [1], None, {"progress": True}, request=r)
        caller.call(uri + ".upload", [2], None, {}, request=r)
        second = await callee.expect(INVOCATION)
        third = await callee.expect(INVOCATION)
        assert [second[1], third[1]] == [first[1]] * 2, (first, second, third)
        assert second[3].get("progress") is True and second[4] == [1], second
        assert not third[3].get("progress") and third[4] == [2], third
        callee.yield_(first[1], ["all 3"])
        m = await caller.reply(r)
        assert m[0] == RESULT and not m[2].get("progress") and m[3] == ["all 3"], m
        await callee.none(lambda m: m[0] == INVOCATION, what="INVOCATION after the final one")

    adv.run(shared.url, scenario)


@ferrobar_only
def test_progressive_call_invocation_to_a_callee_without_support_is_feature_not_supported(shared, uri):
    """Error case (spec, Progressive Call Invocations: "if a Callee doesn't
    support this feature, the Dealer MUST respond to the Caller with an
    wamp.error.feature_not_supported error message"): an Autobahn|Python 26
    callee does not announce progressive_call_invocations. A progressive CALL
    to it must be refused, not streamed to it: Autobahn|Python treats a second
    INVOCATION with the same request id as a protocol error and drops its own
    connection."""

    async def scenario(net):
        callee = await net.session()
        ep = Hanging()
        await callee.register(ep, uri + ".upload")
        caller = await net.raw()
        r = caller.call(uri + ".upload", [0], None, {"progress": True})
        caller.call(uri + ".upload", [1], None, {"progress": True}, request=r)
        caller.call(uri + ".upload", [2], None, {}, request=r)
        m = await caller.reply(r)
        await quiet()
        problems = []
        if not (m[0] == ERROR and m[4] == "wamp.error.feature_not_supported"):
            problems.append("the caller got %r instead of ERROR wamp.error.feature_not_supported" % (m,))
        if callee.left.done():
            d = callee.left.result()
            problems.append("the Autobahn|Python callee lost its session (%s: %s); INVOCATIONs it got: %r"
                            % (d.reason, d.message, ep.invoked))
        assert not problems, "\n".join(problems)

    adv.run(shared.url, scenario)


@ferrobar_only
def test_progressive_call_invocations_keep_the_initial_options(shared, uri):
    """Spec, "Freezing of Options in Progressive Call Invocations": the options
    of the initiating CALL hold for the whole call; with disclose_me=true, "all
    INVOCATION messages associated with the overall request shall contain
    caller identify information"."""

    async def scenario(net):
        callee = await net.raw()
        await callee.register(uri + ".upload")
        caller = await net.raw()
        r = caller.call(uri + ".upload", [0], None, {"progress": True, "disclose_me": True})
        caller.call(uri + ".upload", [1], None, {"progress": True}, request=r)
        caller.call(uri + ".upload", [2], None, {}, request=r)
        invs = [await callee.expect(INVOCATION) for _ in range(3)]
        callee.yield_(invs[0][1], ["ok"])
        assert (await caller.reply(r))[0] == RESULT
        assert [i[3].get("caller") for i in invs] == [caller.session] * 3, invs

    adv.run(shared.url, scenario)


# ---------------------------------------------------------------------------
# call_canceling

async def _hanging_call(net, uri, endpoint):
    """An Autobahn|Python callee (announces call_canceling) with `endpoint`, and a
    raw caller whose CALL is pending at it. Returns (caller, request)."""
    callee = await net.session()
    await callee.register(endpoint, uri + ".slow")
    caller = await net.raw()
    r = caller.call(uri + ".slow", ["job"])
    await until(lambda: endpoint.invoked, what="the INVOCATION at the callee")
    return caller, r


@ferrobar_only
def test_call_canceling_skip(shared, uri):
    """CANCEL mode=skip: the caller gets ERROR wamp.error.canceled at once (Crossbar
    sends nothing, the call hangs); the callee is not interrupted and its late
    answer is dropped."""

    async def scenario(net):
        ep = Hanging()
        caller, r = await _hanging_call(net, uri, ep)
        t0 = time.monotonic()
        caller.send(CANCEL, r, {"mode": "skip"})
        m = await caller.reply(r)
        assert m[0] == ERROR and m[1] == CALL and m[4] == "wamp.error.canceled", m
        assert time.monotonic() - t0 < 2.0
        await quiet()
        assert ep.cancelled == [], "skip must not interrupt the callee"
        ep.release.set()
        await caller.none(what="answer after skip")

    adv.run(shared.url, scenario)


def test_call_canceling_killnowait(shared, uri):
    """CANCEL mode=killnowait: the caller gets ERROR wamp.error.canceled at once
    and the Autobahn|Python callee is interrupted (its handler is cancelled);
    the callee's ERROR reply is dropped."""

    async def scenario(net):
        ep = Hanging()
        caller, r = await _hanging_call(net, uri, ep)
        caller.send(CANCEL, r, {"mode": "killnowait"})
        m = await caller.reply(r)
        assert m[0] == ERROR and m[4] == "wamp.error.canceled", m
        await until(lambda: ep.cancelled, what="INTERRUPT at the callee")
        await caller.none(what="second answer after killnowait")

    adv.run(shared.url, scenario)


def test_call_canceling_kill(shared, uri):
    """CANCEL mode=kill: the callee is interrupted and the caller gets the
    callee's answer to the INTERRUPT (here ERROR wamp.error.canceled raised by
    the handler), not before."""

    async def scenario(net):
        ep = Hanging(on_cancel=ApplicationError("wamp.error.canceled", "stopped by the callee"))
        caller, r = await _hanging_call(net, uri, ep)
        caller.send(CANCEL, r, {"mode": "kill"})
        m = await caller.reply(r)
        assert ep.cancelled, "the callee was not interrupted before the caller got %r" % (m,)
        assert m[0] == ERROR and m[4] == "wamp.error.canceled", m
        assert m[5:6] == [["stopped by the callee"]], m

    adv.run(shared.url, scenario)


def test_call_canceling_from_an_autobahn_caller(shared, uri):
    """Autobahn|Python's own cancel (future.cancel(): CANCEL without mode, i.e.
    the default killnowait) interrupts an Autobahn|Python callee; both sessions
    stay usable."""

    async def scenario(net):
        callee, caller = await net.sessions(2)
        ep = Hanging()
        await callee.register(ep, uri + ".slow")
        await callee.register(lambda x: x * 2, uri + ".double")
        f = caller.call(uri + ".slow", 1)
        await until(lambda: ep.invoked, what="the INVOCATION")
        f.cancel()
        await until(lambda: ep.cancelled, what="the INTERRUPT at the callee")
        await quiet()
        assert await caller.call(uri + ".double", 21) == 42
        assert caller.is_attached() and callee.is_attached()

    adv.run(shared.url, scenario)


@ferrobar_only
def test_cancel_with_unknown_mode_is_invalid_argument(shared, uri):
    """Error case: CANCEL mode="sometimes" -> ERROR (for the CANCEL)
    wamp.error.invalid_argument; the call stays pending and can still be
    answered."""

    async def scenario(net):
        ep = Hanging()
        caller, r = await _hanging_call(net, uri, ep)
        caller.send(CANCEL, r, {"mode": "sometimes"})
        m = await caller.reply(r)
        assert m[0] == ERROR and m[1] == CANCEL and m[4] == "wamp.error.invalid_argument", m
        ep.release.set()
        m = await caller.reply(r)
        assert m[0] == RESULT and m[3] == [["late", ["job"]]], m

    adv.run(shared.url, scenario)


# ---------------------------------------------------------------------------
# call_timeout

def test_call_timeout_in_seconds(shared, uri):
    """CallOptions(timeout=1) - seconds, as Autobahn|Python documents and Crossbar
    reads it (the spec says ms): after about 1 s the caller gets
    wamp.error.canceled and the callee an INTERRUPT; a call answered in time
    is not affected."""

    async def scenario(net):
        callee, caller = await net.sessions(2)
        ep = Hanging()
        await callee.register(ep, uri + ".slow")
        await callee.register(lambda: "quick", uri + ".quick")
        t0 = time.monotonic()
        e = await app_error(caller.call(uri + ".slow", options=CallOptions(timeout=1)))
        elapsed = time.monotonic() - t0
        assert e.error == "wamp.error.canceled", e
        assert 0.9 <= elapsed < 3.0, "timeout=1 expired after %.3fs (seconds, not ms)" % elapsed
        await until(lambda: ep.cancelled, what="the INTERRUPT at the callee")
        assert await caller.call(uri + ".quick", options=CallOptions(timeout=1)) == "quick"

    adv.run(shared.url, scenario)


# ---------------------------------------------------------------------------
# caller_identification

@ferrobar_only
def test_caller_identification_disclose_me(shared, uri):
    """CALL.Options.disclose_me=true -> INVOCATION.Details.caller, caller_authid,
    caller_authrole (raw caller: Autobahn|Python 26 has no disclose_me;
    Crossbar ignores it and goes by the role permission)."""

    async def scenario(net):
        callee = await net.session()

        def who(details=None):
            return [details.caller, details.caller_authid, details.caller_authrole]

        await callee.register(who, uri + ".who", options=RegisterOptions(details_arg="details"))
        caller = await net.raw()
        r = caller.call(uri + ".who", [], None, {"disclose_me": True})
        m = await caller.reply(r)
        assert m[0] == RESULT, m
        assert m[3] == [[caller.session, caller.welcome["authid"], "anonymous"]], m
        r = caller.call(uri + ".who")
        m = await caller.reply(r)
        assert m[3] == [[None, None, None]], m

    adv.run(shared.url, scenario)


def test_caller_identification_by_role_permission(roles, uri):
    """A role with disclose.caller=true is identified to callees without asking
    (Crossbar's rule); a role without it is not."""

    async def scenario(net):
        callee = await net.session()

        def who(details=None):
            return [details.caller, details.caller_authid, details.caller_authrole]

        await callee.register(who, uri + ".who", options=RegisterOptions(details_arg="details"))
        bob = await net.session(url=net.urls["backend"])
        anon = await net.session(url=net.urls["carol"])
        assert await bob.call(uri + ".who") == [bob.id, "bob", "backend"]
        assert await anon.call(uri + ".who") == [None, None, None]

    adv.run(roles.url, scenario, urls=roles.urls)


# ---------------------------------------------------------------------------
# payload_passthru_mode

PPT = {"ppt_scheme": "x_custom", "ppt_serializer": "cbor", "ppt_cipher": "xsalsa20poly1305", "ppt_keyid": "k1"}
BLOB = "\x00AQID/w=="  # JSON binary convention: bytes 01 02 03 ff


def ppt_of(details):
    return {k: v for k, v in details.items() if k.startswith("ppt_")}


@ferrobar_only
def test_payload_passthru_mode_call(shared, uri):
    """ppt_* options travel untouched with the binary payload (spec, Payload
    Passthru Mode): CALL.Options -> INVOCATION.Details; callee ERROR.Details ->
    caller ERROR.Details; YIELD.Options -> RESULT.Details. Raw peers (Autobahn|Python
    speaks Crossbar's enc_algo/enc_key/enc_serializer instead)."""

    async def scenario(net):
        callee = await net.raw()
        await callee.register(uri + ".secret")
        caller = await net.raw()
        # CALL -> INVOCATION
        r = caller.call(uri + ".secret", [BLOB], None, dict(PPT))
        inv = await callee.expect(INVOCATION)
        assert ppt_of(inv[3]) == PPT, inv
        assert inv[4] == [BLOB], inv
        # callee ERROR -> caller ERROR
        callee.send(ERROR, INVOCATION, inv[1], dict(PPT, ppt_keyid="k2"), "com.interop.refused", [BLOB])
        m = await caller.reply(r)
        assert m[0] == ERROR and m[4] == "com.interop.refused", m
        assert ppt_of(m[3]) == dict(PPT, ppt_keyid="k2"), m
        assert m[5] == [BLOB], m
        # YIELD -> RESULT
        r = caller.call(uri + ".secret", [BLOB], None, dict(PPT))
        inv = await callee.expect(INVOCATION)
        callee.yield_(inv[1], [BLOB], None, dict(PPT, ppt_keyid="k3"))
        m = await caller.reply(r)
        assert m[0] == RESULT and m[3] == [BLOB], m
        assert ppt_of(m[2]) == dict(PPT, ppt_keyid="k3"), "RESULT.Details lost the YIELD's ppt_* options: %r" % (m,)

    adv.run(shared.url, scenario)


# ---------------------------------------------------------------------------
# peers going away

def test_callee_leaving_cancels_its_pending_calls(shared, uri):
    """A callee that goes away with calls pending - by dropping its connection,
    or by a clean GOODBYE - makes every one of those callers get
    wamp.error.canceled at once (callers on several connections)."""

    async def scenario(net):
        for how in ("abort", "goodbye"):
            callee = await net.session()
            ep = Hanging()
            await callee.register(ep, uri + "." + how)
            callers = await net.sessions(3)
            calls = [c.call(uri + "." + how, i) for i, c in enumerate(callers)]
            await until(lambda: len(ep.invoked) == 3, what="3 INVOCATIONs")
            t0 = time.monotonic()
            if how == "abort":
                callee.abort()
            else:
                await callee.leave()
            errors = [await app_error(f) for f in calls]
            assert [e.error for e in errors] == ["wamp.error.canceled"] * 3, (how, errors)
            assert time.monotonic() - t0 < 2.0, how

    adv.run(shared.url, scenario)


def test_caller_leaving_interrupts_the_callee(shared, uri):
    """A caller that drops its connection with a call pending: the callee (which
    announced call_canceling) gets INTERRUPT (killnowait), as from Crossbar."""

    async def scenario(net):
        callee = await net.session()
        ep = Hanging()
        await callee.register(ep, uri + ".slow")
        caller = await net.session()
        caller.call(uri + ".slow", 1)
        await until(lambda: ep.invoked, what="the INVOCATION")
        caller.abort()
        await until(lambda: ep.cancelled, what="the INTERRUPT at the callee")
        assert callee.is_attached()

    adv.run(shared.url, scenario)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([os.path.abspath(__file__), "-v"]))
