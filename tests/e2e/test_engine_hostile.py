"""The engine against a hostile server on 127.0.0.1 (``tests/hostile.py``), over real HTTP.

One deadline per call (item 3), capped bodies (item 2), tokens and lifetimes checked at the
door (item 7), secrets echoed back in any encoding masked (item 8), and every message
clean of control characters (item 1).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.engine import Engine
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.http import ApiError, ErrorCategory
from alpaca_tui.core.sanitize import UNSAFE
from tests.hostile import EVIL_TOKENS, HostileServer

KEY_ID = "PKHOSTILE00000000001"
SECRET = "Hostile-Secret-0123456789abcdefghijklmn"
CLIENT_ID = "CKHOSTILE000000000000001"
CLIENT_SECRET = "client-secret-HOSTILE-0123456789abcdefgh"


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as h:
        yield h


def legacy(engine: Engine, h: HostileServer, mode: str, name: str = "p") -> None:
    profile = Profile(name, Env.PAPER, Flow.LEGACY, "PKHO…0001",
                      endpoints={Api.TRADING: h.url(mode), Api.DATA: h.url(mode)})
    engine.add_credential(profile, SecretBundle(Secret(KEY_ID, SECRET)))


def oauth(engine: Engine, h: HostileServer, auth: str, api: str = "ok", name: str = "bx") -> None:
    profile = Profile(name, Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, "CKHO…0001",
                      endpoints={Api.AUTH: h.url(auth), Api.BROKER: h.url(api), Api.DATA: h.url(api)})
    engine.add_credential(profile, SecretBundle(Secret(CLIENT_ID, CLIENT_SECRET)))


def clean(text: str | None) -> bool:
    return text is None or not any(ord(c) in UNSAFE or c in "\r\n" for c in text)


def secret_forms(*values: str) -> list[str]:
    out: list[str] = []
    for v in values:
        out += [v, base64.b64encode(v.encode()).decode(), v.encode().hex(), quote(v, safe=""),
                base64.b64encode(f"{KEY_ID}:{v}".encode()).decode()]
    return out


@pytest.mark.parametrize("mode", ["drip", "silent"])
async def test_one_deadline_for_a_slow_api(hostile: HostileServer, mode: str) -> None:
    async with Engine(timeout=1.5) as engine:
        legacy(engine, hostile, mode)
        t0 = time.monotonic()
        with pytest.raises(ApiError) as ei:
            await engine.request("p", "GET", "/v2/account")
        elapsed = time.monotonic() - t0
    assert ei.value.category is ErrorCategory.TIMEOUT and "within 1.5 s" in ei.value.message
    assert 1.3 < elapsed < 1.5 + 1.0, elapsed


async def test_check_spends_one_budget_on_token_and_apis(hostile: HostileServer) -> None:
    """A dripping token endpoint and dripping APIs: the whole check ends with the deadline."""
    async with Engine(timeout=1.5) as engine:
        oauth(engine, hostile, "drip", "drip")
        t0 = time.monotonic()
        results = await engine.check("bx")
        elapsed = time.monotonic() - t0
    assert [(r.api, r.category) for r in results] == [(Api.AUTH, ErrorCategory.TIMEOUT)]
    assert elapsed < 1.5 + 1.0, elapsed


async def test_429_waits_are_charged_to_the_deadline(hostile: HostileServer) -> None:
    """Retry-After 1.5 s, deadline 2 s: one wait fits, the second would not; the 429 is the
    answer at ~1.5 s instead of three waits (4.5 s)."""
    async with Engine(timeout=2.0) as engine:
        legacy(engine, hostile, "retry")
        t0 = time.monotonic()
        resp = await engine.request("p", "GET", "/v2/account")
        elapsed = time.monotonic() - t0
    assert resp.status == 429 and resp.attempts == 2
    assert resp.error is not None and resp.error.category is ErrorCategory.RATE_LIMITED
    assert 1.4 < elapsed < 2.0 + 0.5, elapsed


@pytest.mark.parametrize("mode", ["endless", "gzip"])
async def test_an_endless_body_is_cut_at_the_cap(hostile: HostileServer, mode: str) -> None:
    async with Engine(timeout=5, max_body=256 * 1024) as engine:
        legacy(engine, hostile, mode)
        resp = await engine.request("p", "GET", "/v2/account")
        assert resp.status == 200 and resp.truncated and resp.json is None
        assert len(resp.text.encode()) <= 256 * 1024
        assert resp.error is not None and resp.error.category is ErrorCategory.SERVER_ERROR
        assert "larger than 256 KiB" in resp.error.message and "--max-body" in resp.error.message
        small = await engine.request("p", "GET", "/v2/account", keep_body=100)
        assert small.truncated and len(small.text) <= 100            # --repeat keeps statistics
        results = await engine.check("p")
    assert all(not r.ok and r.category is ErrorCategory.SERVER_ERROR for r in results)


async def test_a_deeply_nested_answer_is_text_not_a_crash(hostile: HostileServer) -> None:
    async with Engine(timeout=5) as engine:
        legacy(engine, hostile, "deep")
        resp = await engine.request("p", "GET", "/v2/account")
    assert resp.ok and resp.json is None and resp.text.startswith("[[[[")


async def test_the_token_endpoint_answer_is_capped_at_64_kib(hostile: HostileServer) -> None:
    async with Engine(timeout=5) as engine:
        oauth(engine, hostile, "endless")
        with pytest.raises(ApiError) as ei:
            await engine.token("bx")
    assert ei.value.category is ErrorCategory.SERVER_ERROR and "larger than 64 KiB" in ei.value.message


@pytest.mark.parametrize("mode", [*EVIL_TOKENS, "exp-true", "exp-tiny", "exp-5", "exp-str"])
async def test_unusable_tokens_are_refused_and_never_quoted(hostile: HostileServer, mode: str) -> None:
    async with Engine(timeout=5) as engine:
        oauth(engine, hostile, mode)
        with pytest.raises(ApiError) as ei:
            await engine.token("bx")
        with pytest.raises(ApiError):
            await engine.request("bx", "GET", "/v1/accounts")
    exc = ei.value
    assert exc.category is ErrorCategory.SERVER_ERROR and "usable bearer access_token" in exc.message
    assert clean(exc.message)
    for piece in ("X-Injected", "ZXZpbA", "t" * 50):  # the token itself is never quoted
        assert piece not in exc.message


async def test_a_twelve_second_token_is_fine(hostile: HostileServer) -> None:
    async with Engine(timeout=5, refresh_ahead=1) as engine:
        oauth(engine, hostile, "exp-12")
        tok = await engine.token("bx")
        assert 11 < tok.lifetime <= 12
        assert (await engine.request("bx", "GET", "/v1/accounts")).ok


async def test_escapes_in_errors_are_shown_not_obeyed(hostile: HostileServer) -> None:
    async with Engine(timeout=5) as engine:
        legacy(engine, hostile, "escape")
        resp = await engine.request("p", "GET", "/v2/account")
        oauth(engine, hostile, "escape")
        with pytest.raises(ApiError) as ei:
            await engine.token("bx")
        results = await engine.check("p")
    assert resp.error is not None
    for err in (resp.error, ei.value):
        assert clean(err.message) and clean(err.server_message) and clean(err.request_id)
        assert "\\x1b]52;c;" in err.message                      # visible, so the user sees the attempt
    assert clean(resp.request_id) and all(clean(r.message) for r in results)


async def test_echoed_secrets_are_masked_in_every_form(hostile: HostileServer) -> None:
    async with Engine(timeout=5) as engine:
        legacy(engine, hostile, "echo")
        resp = await engine.request("p", "GET", "/v2/account")
        broker = Profile("basic", Env.BROKER_SANDBOX, Flow.LEGACY, "PKHO…0001",
                         endpoints={Api.BROKER: hostile.url("echo"), Api.DATA: hostile.url("echo")})
        engine.add_credential(broker, SecretBundle(Secret(KEY_ID, SECRET)))
        basic = await engine.request("basic", "GET", "/v1/accounts")
        oauth(engine, hostile, "echo")
        with pytest.raises(ApiError) as ei:
            await engine.token("bx")
    shown = [resp.error.message if resp.error else "", resp.text, str(resp.json), str(resp.headers),
             resp.request_id or "", basic.error.message if basic.error else "", basic.text,
             basic.request_id or "", str(basic.headers), ei.value.message, ei.value.request_id or ""]
    assert "you sent" in resp.text and "you sent" in basic.text
    for form in secret_forms(SECRET, CLIENT_SECRET):
        assert not any(form in text for text in shown), form


async def test_concurrent_calls_each_keep_their_own_deadline(hostile: HostileServer) -> None:
    async with Engine(timeout=1.0) as engine:
        legacy(engine, hostile, "silent")
        legacy(engine, hostile, "ok", name="fast")
        t0 = time.monotonic()
        slow, fast = await asyncio.gather(engine.request("p", "GET", "/v2/account"),
                                          engine.request("fast", "GET", "/v2/account"),
                                          return_exceptions=True)
    assert isinstance(slow, ApiError) and slow.category is ErrorCategory.TIMEOUT
    assert not isinstance(fast, BaseException) and fast.ok
    assert time.monotonic() - t0 < 2.0


async def test_a_slow_refresh_ahead_never_starves_the_call() -> None:
    """A token due for its refresh ahead of expiry still serves: the call is sent with it at
    once and refreshes after its answer, in what is left of the deadline. A token endpoint
    that hangs costs the rest of the budget, never the answer (issue 12, item 3)."""
    from alpaca_tui.core.clock import FakeClock
    from alpaca_tui.emulator import Emulator
    from tests.cli.enginecli_support import issue_credential

    clock = FakeClock(1_800_000_000.0)
    with Emulator(clock=clock) as emu:
        async with Engine(clock=clock, timeout=1.0) as engine:
            profile, bundle = issue_credential(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
            engine.add_credential(profile, bundle)
            first = await engine.token("bx")
            clock.advance(850)                               # 49 s left: the refresh ahead is due
            emu.set_latency("authx-sandbox", 5.0)
            t0 = time.monotonic()
            resp = await engine.request("bx", "GET", "/v1/accounts")
            elapsed = time.monotonic() - t0
            state = engine.token_state("bx")
    assert resp.ok and resp.latency_ms < 900, resp          # the API got its answer first
    assert elapsed < 1.0 + 0.6, elapsed                       # the refresh ended with the deadline
    assert state is not None and state.expires_at == first.expires_at and state.failures == 1
    assert state.last_error and "timeout" in state.last_error
