"""The token endpoint failing while a token counts down, clock skew and clock jumps: the
auth engine against the local emulator over real loopback HTTP, on a FakeClock shared with
the emulator (so tokens really expire server side) and an injected sleep that advances it.

Builds on tests/e2e/test_engine_flows.py (API 429 backoff, token 429 retried in line,
network faults on API hosts) without repeating it: here the faults hit AuthX *during* a
token's life, and the questions are whether API calls keep working on the still-valid
token, how many token requests the engine makes (no hammering), whether Retry-After is
honoured, what happens once the token really expires, and how the CLI reports it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.engine import Engine
from alpaca_tui.core.environments import TOKEN_PATH, Env
from alpaca_tui.core.http import ApiError, ErrorCategory
from alpaca_tui.emulator import Emulator
from tests.cli.enginecli_support import issue_credential
from tests.emulator_fixtures import ClockSleep

START = 1_800_000_000.0  # a multiple of 60: the emulator's rate windows start here
AUTHX = "authx-sandbox"
BROKER = "broker-sandbox"


@pytest.fixture
def world() -> Iterator[tuple[Emulator, FakeClock]]:
    clock = FakeClock(START)
    # these faults are about honouring the server's Retry-After, which the emulator sends only
    # behind this switch (Alpaca's specs list X-RateLimit-* only)
    with Emulator(clock=clock, retry_after=True) as emu:
        yield emu, clock


def add(engine: Engine, emu: Emulator, name: str, flow: Flow = Flow.CLIENT_SECRET) -> str:
    profile, bundle = issue_credential(emu, name, Env.BROKER_SANDBOX, flow)
    engine.add_credential(profile, bundle)
    return bundle.active.key_id


def one_line(exc: ApiError) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text
    return text


FAULTS = {
    "503": lambda emu: emu.fail_next(AUTHX, 10_000, status=503),
    "500": lambda emu: emu.fail_next(AUTHX, 10_000, status=500),
    "dropped": lambda emu: emu.drop_next(AUTHX, 10_000),
    "timeout": lambda emu: emu.set_latency(AUTHX, 0.3),
}
CATEGORY = {"503": ErrorCategory.SERVER_ERROR, "500": ErrorCategory.SERVER_ERROR,
            "dropped": ErrorCategory.NETWORK_ERROR, "timeout": ErrorCategory.TIMEOUT}


def heal(emu: Emulator) -> None:
    emu.fail_next(AUTHX, 0)
    emu.drop_next(AUTHX, 0)
    emu.set_latency(AUTHX, 0)


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_refresh_failures_during_countdown(world: tuple[Emulator, FakeClock], fault: str) -> None:
    """5xx / dropped connection / timeout from AuthX in the last minute of a token's life."""
    emu, clock = world
    sleep = ClockSleep(clock)
    async with Engine(clock=clock, sleep=sleep, timeout=0.15) as engine:
        add(engine, emu, "bx")
        first = await engine.token("bx")
        clock.advance(840)                     # 59 s left: refresh ahead is due from now on
        FAULTS[fault](emu)
        authx_before = emu.requests(AUTHX)
        # one API call a second for 50 s: every one succeeds on the still-valid token
        for _ in range(50):
            resp = await engine.request("bx", "GET", "/v1/accounts")
            assert resp.ok and not resp.token_refreshed, resp
            clock.advance(1)
        attempts = emu.requests(AUTHX) - authx_before
        # backoff 2, 4, 8, 16, 30 s: attempts at +0, +2, +6, +14, +30 (never one per call)
        assert attempts == 5, attempts
        state = engine.token_state("bx")
        assert state is not None and state.expires_at == first.expires_at and state.failures == 5
        assert state.last_error and CATEGORY[fault].label in state.last_error
        assert state.retry_at == START + 840 + 30 + 30
        assert sleep.calls == []                # nothing waited inside an API call

        # past expiry (START + 899) with AuthX still down: the expired token is never sent
        clock.advance(10)                       # START + 900: the sixth attempt is due
        api_before = emu.requests(BROKER)
        with pytest.raises(ApiError) as ei:
            await engine.request("bx", "GET", "/v1/accounts")
        assert ei.value.category is CATEGORY[fault]
        text = one_line(ei.value)
        assert text.startswith(CATEGORY[fault].label + ": token request for 'bx'")
        assert emu.requests(AUTHX) - authx_before == attempts + 1
        # within the backoff (30 s now): refused at once, saying when the next try is
        clock.advance(10)
        with pytest.raises(ApiError) as ei:
            await engine.request("bx", "GET", "/v1/accounts")
        assert ei.value.category is CATEGORY[fault]
        assert "next token request in 20 s" in one_line(ei.value)
        results = await engine.check("bx")
        assert [(r.api.value, r.ok, r.category) for r in results] == [("auth", False, CATEGORY[fault])]
        assert emu.requests(AUTHX) - authx_before == attempts + 1
        assert emu.requests(BROKER) == api_before      # no stale token went out

        # the endpoint heals: the first call after the backoff gets a new token by itself
        heal(emu)
        clock.advance(20)
        resp = await engine.request("bx", "GET", "/v1/accounts")
        assert resp.ok
        state = engine.token_state("bx")
        assert state is not None and state.last_error is None and state.failures == 0
        assert state.retry_at is None and state.refresh_count == 1
        assert state.issued_at == clock.time() and state.remaining(clock.time()) == 899


async def test_token_429_storm_honours_retry_after(world: tuple[Emulator, FakeClock]) -> None:
    """A rate-limited AuthX (the quota of this client spent by someone else) during refresh
    ahead: one attempt, then silence until the server's Retry-After, while API calls go on."""
    emu, clock = world
    sleep = ClockSleep(clock)
    async with Engine(clock=clock, sleep=sleep, refresh_ahead=120) as engine:
        key_id = add(engine, emu, "bx")
        await engine.token("bx")
        emu.set_rate_limit(AUTHX, 2)
        clock.advance(790)                      # 109 s left; this rate window ends at START + 840
        with httpx.Client() as raw:             # another client burns the quota of this key ID
            for _ in range(2):
                raw.post(emu.urls[AUTHX] + TOKEN_PATH, data={"grant_type": "client_credentials",
                                                             "client_id": key_id, "client_secret": "x"})
        before = emu.requests(AUTHX)
        seen_at = []
        for _ in range(56):                     # START + 790 ... START + 845
            n = emu.requests(AUTHX)
            assert (await engine.request("bx", "GET", "/v1/accounts")).ok
            if emu.requests(AUTHX) > n:
                seen_at.append(clock.time() - START)
            if clock.time() == START + 791:
                state = engine.token_state("bx")
                assert state is not None and state.retry_at == START + 840
                assert state.last_error and "quota_exceeded" in state.last_error
                assert "the server asks to wait 50 s" in state.last_error
            clock.advance(1)
        assert seen_at == [790, 840]            # 429 at 790 (Retry-After: 50), success at 840
        assert emu.requests(AUTHX) - before == 2 and sleep.calls == []
        state = engine.token_state("bx")
        assert state is not None and state.last_error is None and state.refresh_count == 1


async def test_token_429_storm_without_a_valid_token(world: tuple[Emulator, FakeClock]) -> None:
    """No token to fall back on: the 429 is waited out in line (Retry-After), a bounded number
    of times; then callers are refused at once until the server's wait is over."""
    emu, clock = world
    sleep = ClockSleep(clock)
    async with Engine(clock=clock, sleep=sleep) as engine:
        add(engine, emu, "bx")
        emu.fail_next(AUTHX, 10_000, status=429)   # every answer: 429 with Retry-After: 1
        with pytest.raises(ApiError) as ei:
            await engine.request("bx", "GET", "/v1/accounts")
        assert ei.value.category is ErrorCategory.RATE_LIMITED
        assert "still limited after 3 retries" in one_line(ei.value)
        assert emu.requests(AUTHX) == 4 and sleep.calls == [1.0, 1.0, 1.0]
        # 50 more calls at once: not one more token request while the backoff runs
        rs = await asyncio.gather(*(engine.request("bx", "GET", "/v1/accounts") for _ in range(50)),
                                  return_exceptions=True)
        assert all(isinstance(r, ApiError) and r.category is ErrorCategory.RATE_LIMITED for r in rs)
        assert emu.requests(AUTHX) == 4
        emu.fail_next(AUTHX, 0)
        clock.advance(2)
        assert (await engine.request("bx", "GET", "/v1/accounts")).ok
        assert emu.requests(AUTHX) == 5


async def test_concurrent_callers_share_one_failed_token_request(world: tuple[Emulator, FakeClock]) -> None:
    """Single flight covers failures: 100 calls without a token and AuthX answering 503 or
    refusing the client make one token request, not one each."""
    emu, clock = world
    async with Engine(clock=clock) as engine:
        add(engine, emu, "bx")
        emu.fail_next(AUTHX, 10_000, status=503)
        emu.set_latency(AUTHX, 0.05)            # the first request is in flight while the rest queue
        rs = await asyncio.gather(*(engine.request("bx", "GET", "/v1/accounts") for _ in range(100)),
                                  return_exceptions=True)
        assert all(isinstance(r, ApiError) and r.category is ErrorCategory.SERVER_ERROR for r in rs)
        assert emu.requests(AUTHX) == 1
        state = engine.token_state("bx")
        assert state is not None and state.token_requests == 1
        # a refused client (no backoff: a fixed credential must work at once) - still one request
        heal(emu)
        key_id = add(engine, emu, "gone")
        emu.revoke(key_id)
        rs = await asyncio.gather(*(engine.token("gone") for _ in range(100)), return_exceptions=True)
        assert all(isinstance(r, ApiError) and r.category is ErrorCategory.BAD_CREDENTIALS for r in rs)
        assert emu.token_requests(key_id) == 1


async def test_manual_refresh_is_tried_but_retry_after_is_not_overridden(
        world: tuple[Emulator, FakeClock]) -> None:
    """``force`` (the refresh key) tries at once despite a 5xx backoff, and raises on failure
    (it asked for a new token); a server's Retry-After holds even then."""
    emu, clock = world
    async with Engine(clock=clock) as engine:
        add(engine, emu, "bx")
        tok = await engine.token("bx")
        clock.advance(850)
        emu.fail_next(AUTHX, 10_000, status=503)
        assert await engine.token("bx") == tok          # refresh failed: the valid token again
        n = emu.requests(AUTHX)
        with pytest.raises(ApiError) as ei:
            await engine.token("bx", force=True)
        assert ei.value.category is ErrorCategory.SERVER_ERROR and emu.requests(AUTHX) == n + 1
        emu.fail_next(AUTHX, 10_000, status=429)
        clock.advance(31)                               # 18 s left; the 5xx backoff is over
        assert await engine.token("bx") == tok          # 429, Retry-After: 1 -> no in-line wait
        n = emu.requests(AUTHX)
        with pytest.raises(ApiError) as ei:
            await engine.token("bx", force=True)
        assert ei.value.category is ErrorCategory.RATE_LIMITED and emu.requests(AUTHX) == n
        assert "next token request in 1 s" in one_line(ei.value)
        clock.advance(1)  # Retry-After is over (the automatic backoff, 8 s, is not): force may try
        with pytest.raises(ApiError):
            await engine.token("bx", force=True)
        assert emu.requests(AUTHX) == n + 1
        assert await engine.token("bx") == tok and emu.requests(AUTHX) == n + 1


# -- clock skew ---------------------------------------------------------------------------


@pytest.mark.parametrize("skew", [600.0, -600.0])
async def test_client_secret_with_a_skewed_server_clock(world: tuple[Emulator, FakeClock],
                                                        skew: float) -> None:
    """A constant skew does not matter to client_secret (expires_in is relative); a server
    clock that jumps ahead mid-life kills the token early: the 401 forces one refresh."""
    emu, clock = world
    emu.set_clock_skew(skew)
    async with Engine(clock=clock) as engine:
        add(engine, emu, "bx")
        assert (await engine.request("bx", "GET", "/v1/accounts")).ok
        clock.advance(800)
        resp = await engine.request("bx", "GET", "/v1/accounts")
        assert resp.ok and not resp.token_refreshed
        emu.set_clock_skew(skew + 300)          # the server's clock jumps 5 minutes ahead
        resp = await engine.request("bx", "GET", "/v1/accounts")
        assert resp.ok and resp.token_refreshed and resp.attempts == 2
        state = engine.token_state("bx")
        assert state is not None and state.refresh_count == 1 and state.last_error is None


@pytest.mark.parametrize(("skew", "reason"), [(600.0, "assertion expired"), (-600.0, "iat is in the future")])
async def test_private_key_jwt_with_a_skewed_clock_says_check_your_clock(
        world: tuple[Emulator, FakeClock], skew: float, reason: str) -> None:
    emu, clock = world
    async with Engine(clock=clock) as engine:
        key_id = add(engine, emu, "bj", Flow.PRIVATE_KEY_JWT)
        emu.set_clock_skew(skew)
        with pytest.raises(ApiError) as ei:
            await engine.request("bj", "GET", "/v1/accounts")
        text = one_line(ei.value)
        assert ei.value.category is ErrorCategory.BAD_CREDENTIALS and ei.value.status == 401
        assert "token_claim" in text and "check this machine's clock" in text
        assert any(r["reason"] == f"token_claim: {reason}" for r in emu.rejections())
        assert emu.token_requests(key_id) == 1
        # mid-life: the refresh ahead is refused
        emu.set_clock_skew(0)
        tok = await engine.token("bj")
        clock.advance(850)
        emu.set_clock_skew(skew)
        if skew < 0:
            # server behind: the token is still good there, so it is used to the end
            assert (await engine.request("bj", "GET", "/v1/accounts")).ok
            assert await engine.token("bj") == tok
            state = engine.token_state("bj")
            assert state is not None and state.last_error and "check this machine's clock" in state.last_error
            clock.advance(60)                   # now it has expired: refused, with the same words
            with pytest.raises(ApiError) as ei:
                await engine.token("bj")
        else:
            # server ahead: the token already died there (401); the forced refresh is refused
            with pytest.raises(ApiError) as ei:
                await engine.request("bj", "GET", "/v1/accounts")
        assert ei.value.category is ErrorCategory.BAD_CREDENTIALS
        assert "check this machine's clock" in one_line(ei.value)


# -- local clock jumps --------------------------------------------------------------------


async def test_local_clock_jumps_forward_past_expiry(world: tuple[Emulator, FakeClock]) -> None:
    emu, clock = world
    async with Engine(clock=clock) as engine:
        add(engine, emu, "bx")
        old = await engine.token("bx")
        clock.advance(3 * 3600)                 # laptop lid closed for three hours
        state = engine.token_state("bx")
        assert state is not None and state.remaining(clock.time()) == 0   # never negative
        resp = await engine.request("bx", "GET", "/v1/accounts")
        assert resp.ok and resp.attempts == 1 and not resp.token_refreshed   # no stale token sent
        new = await engine.token("bx")
        assert new != old and new.issued_at == clock.time()
        # the same jump with AuthX down: refused, and the dead token is not tried on the API
        clock.advance(3 * 3600)
        emu.fail_next(AUTHX, 10_000, status=503)
        api = emu.requests(BROKER)
        with pytest.raises(ApiError) as ei:
            await engine.request("bx", "GET", "/v1/accounts")
        assert ei.value.category is ErrorCategory.SERVER_ERROR and emu.requests(BROKER) == api


async def test_local_clock_set_back(world: tuple[Emulator, FakeClock]) -> None:
    """The engine's clock goes back an hour (the server's does not): the time left is capped at
    the lifetime, the token is renewed once, and then reused - no refresh storm. A backoff
    set before the jump does not turn into an hour of silence."""
    emu, server_clock = world
    clock = FakeClock(START)
    async with Engine(clock=clock) as engine:
        key_id = add(engine, emu, "bx")
        await engine.token("bx")
        clock.advance(-3600)
        state = engine.token_state("bx")
        assert state is not None and state.remaining(clock.time()) == 899
        assert state.clock_went_back(clock.time())
        for _ in range(20):
            assert (await engine.request("bx", "GET", "/v1/accounts")).ok
            clock.advance(10)
            server_clock.advance(10)
        assert emu.token_requests(key_id) == 2  # one renewal after the jump, then reuse
        state = engine.token_state("bx")
        assert state is not None and state.issued_at == START - 3600
        # a failure sets a 2 s backoff; the clock goes back an hour: the backoff does not hold
        emu.fail_next(AUTHX, 1, status=503)
        with pytest.raises(ApiError):
            await engine.token("bx", force=True)
        clock.advance(-3600)
        await engine.token("bx")
        assert emu.token_requests(key_id) == 3


# -- the CLI ------------------------------------------------------------------------------


@pytest.fixture
def cli_world(alpaca_home: Path) -> Iterator[tuple[Emulator, str]]:
    """A store with an OAuth profile on an emulator running on the real clock."""
    from alpaca_tui.core.store import Store
    from tests.emulator_fixtures import make_profile

    with Emulator(retry_after=True) as emu:   # Retry-After only behind the switch
        make_profile(emu, Store.open(), Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, name="bx")
        make_profile(emu, Store.open(), Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT, name="bj")
        yield emu, "bx"


@pytest.mark.parametrize(("fault", "commands"), [
    ("503", [["token", "bx", "--no-cache"], ["check", "bx", "--no-cache"]]),
    ("dropped", [["token", "bx", "--no-cache"], ["check", "bx", "--no-cache", "--json"]]),
    # in line, a 429 is waited out (Retry-After: 1) three times: one command keeps this short
    ("429", [["check", "bx", "--no-cache", "--json"]]),
])
def test_cli_token_and_check_when_authx_is_down(cli_world: tuple[Emulator, str], fault: str,
                                                commands: list[list[str]],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """No usable token and AuthX failing: exit 1 (README "Exit codes") with one line naming the
    category; ``check --json`` reports it on the auth line."""
    import json

    from alpaca_tui.cli.main import main

    emu, _ = cli_world
    if fault == "dropped":
        emu.drop_next(AUTHX, 10_000)
    else:
        emu.fail_next(AUTHX, 10_000, status=int(fault))
    category = {"503": "server error", "dropped": "network error", "429": "rate limited"}[fault]
    for args in commands:
        code = main(args)
        out, err = capsys.readouterr()
        assert code == 1, (args, out, err)
        assert "Traceback" not in out + err
        if "--json" in args:
            doc = json.loads(out)
            assert doc["ok"] is False and len(doc["results"]) == 1
            res = doc["results"][0]
            assert res["api"] == "auth" and res["category"] == category.replace(" ", "_")
            assert res["message"].startswith(f"{category}: token request for 'bx'")
            continue
        lines = (err if args[0] == "token" else out).strip().splitlines()
        assert len(lines) == 1 and category in lines[0] and "token request for 'bx'" in lines[0], lines
        if args[0] == "token":
            assert out == "" and err.startswith("alpaca-tui: error: ")


def test_cli_private_key_jwt_with_a_skewed_server_clock(cli_world: tuple[Emulator, str],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from alpaca_tui.cli.main import main

    emu, _ = cli_world
    emu.set_clock_skew(900)
    code = main(["token", "bj", "--no-cache"])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "check this machine's clock" in err
