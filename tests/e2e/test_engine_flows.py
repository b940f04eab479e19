"""The auth engine end to end: real HTTP over 127.0.0.1 against the local Alpaca emulator.

Every flow, single flight, refresh-ahead with a clock shared with the emulator (so tokens
really expire server side), the 401 retry, 429 backoff, environment mix-ups, scope
pre-flight and the server's 403, network faults.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.engine import Engine
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.http import ApiError, ErrorCategory
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope
from alpaca_tui.emulator import Emulator
from tests.cli.enginecli_support import emu, issue_credential
from tests.emulator_fixtures import ClockSleep

__all__ = ["emu"]  # the fixture


@pytest.fixture
def fake_emu() -> Iterator[tuple[Emulator, FakeClock]]:
    clock = FakeClock(1_800_000_000)
    with Emulator(clock=clock) as e:
        yield e, clock


def add(engine: Engine, emu: Emulator, name: str, env: Env, flow: Flow, **kw: Any) -> str:
    """Create a credential in the emulator and register it with the engine; returns its key ID
    (keyword arguments: :func:`tests.cli.enginecli_support.issue_credential`)."""
    profile, bundle = issue_credential(emu, name, env, flow, **kw)
    engine.add_credential(profile, bundle)
    return bundle.active.key_id


FLOWS = [
    ("live-legacy", Env.LIVE, Flow.LEGACY, "ES256", (Api.TRADING, Api.DATA)),
    ("paper-legacy", Env.PAPER, Flow.LEGACY, "ES256", (Api.TRADING, Api.DATA)),
    ("broker-basic", Env.BROKER_SANDBOX, Flow.LEGACY, "ES256", (Api.BROKER, Api.DATA)),
    ("broker-live-basic", Env.BROKER_LIVE, Flow.LEGACY, "ES256", (Api.BROKER, Api.DATA)),
    ("client-secret", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, "ES256", (Api.BROKER, Api.DATA)),
    ("jwt-es256", Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT, "ES256", (Api.BROKER, Api.DATA)),
    ("jwt-rs256", Env.BROKER_LIVE, Flow.PRIVATE_KEY_JWT, "RS256", (Api.BROKER, Api.DATA)),
]


@pytest.mark.parametrize(("name", "env", "flow", "alg", "apis"), FLOWS, ids=[f[0] for f in FLOWS])
async def test_each_flow_checks_ok(emu: Emulator, name: str, env: Env, flow: Flow, alg: str,
                                   apis: tuple[Api, ...]) -> None:
    async with Engine() as engine:
        key_id = add(engine, emu, name, env, flow, alg=alg)
        results = await engine.check(name)
        assert [r.api for r in results] == list(apis)
        assert all(r.ok and r.status == 200 and r.request_id for r in results), results
        assert emu.token_requests(key_id) == (1 if flow.is_oauth else 0)
        resp = await engine.request(name, "GET", "/v2/stocks/AAPL/bars/latest")
        assert resp.ok and resp.json["symbol"] == "AAPL"
        assert resp.rate_limit is not None and resp.rate_limit.limit


async def test_single_flight_100_concurrent_requests(emu: Emulator) -> None:
    emu.set_latency("authx-sandbox", 0.05)  # keep the token request in flight while the others pile up
    async with Engine() as engine:
        key_id = add(engine, emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
        rs = await asyncio.gather(*(engine.request("bx", "GET", "/v1/accounts") for _ in range(100)))
        assert all(r.ok for r in rs)
        assert emu.token_requests(key_id) == 1
        state = engine.token_state("bx")
        assert state is not None and state.token_requests == 1


async def test_single_flight_private_key_jwt(emu: Emulator) -> None:
    async with Engine() as engine:
        key_id = add(engine, emu, "bj", Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT, alg="RS256")
        tokens = await asyncio.gather(*(engine.token("bj") for _ in range(100)))
        assert len({t.value for t in tokens}) == 1
        assert emu.token_requests(key_id) == 1


async def test_refresh_ahead_with_shared_fake_clock(fake_emu: tuple[Emulator, FakeClock]) -> None:
    emu, clock = fake_emu
    async with Engine(clock=clock, refresh_ahead=60) as engine:
        key_id = add(engine, emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
        t1 = await engine.token("bx")
        assert t1.expires_at - t1.issued_at == 899
        clock.advance(800)
        assert (await engine.request("bx", "GET", "/v1/accounts")).ok
        assert emu.token_requests(key_id) == 1          # 99 s left: reused
        clock.advance(45)                                # 54 s left: refreshed ahead of expiry
        assert (await engine.request("bx", "GET", "/v1/accounts")).ok
        assert emu.token_requests(key_id) == 2
        state = engine.token_state("bx")
        assert state is not None and state.refresh_count == 1 and state.issued_at == clock.time()
        # the old token really is dead server side once the clock passes its expiry
        clock.advance(100)
        async with httpx.AsyncClient() as raw:
            r = await raw.get(emu.urls["broker-sandbox"] + "/v1/accounts",
                              headers={"Authorization": f"Bearer {t1.value}"})
        assert r.status_code == 401
        # over an hour of use: one token per ~14 min
        for _ in range(24):
            clock.advance(150)
            assert (await engine.request("bx", "GET", "/v1/accounts")).ok
        assert 5 <= emu.token_requests(key_id) <= 7


async def test_401_on_api_call_forces_one_refresh_and_retry(fake_emu: tuple[Emulator, FakeClock]) -> None:
    emu, server_clock = fake_emu
    engine_clock = FakeClock(server_clock.time())  # the engine's clock lags: it thinks the token is fresh
    async with Engine(clock=engine_clock) as engine:
        key_id = add(engine, emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
        assert (await engine.request("bx", "GET", "/v1/accounts")).ok
        server_clock.advance(900)  # the token expired server side
        rs = await asyncio.gather(*(engine.request("bx", "GET", "/v1/accounts") for _ in range(10)))
        assert all(r.ok for r in rs)
        assert any(r.token_refreshed and r.attempts == 2 for r in rs)
        assert emu.token_requests(key_id) == 2  # one forced refresh shared by all ten
        # revoked credential: the forced refresh is refused -> bad credentials, one line
        emu.revoke(key_id)
        server_clock.advance(900)
        with pytest.raises(ApiError) as ei:
            await engine.request("bx", "GET", "/v1/accounts")
        assert ei.value.category is ErrorCategory.BAD_CREDENTIALS and "invalid_client" in ei.value.message
        state = engine.token_state("bx")
        assert state is not None and state.last_error and "invalid_client" in state.last_error


async def test_429_backoff_honours_retry_after(fake_emu: tuple[Emulator, FakeClock]) -> None:
    emu, clock = fake_emu
    sleep = ClockSleep(clock)
    async with Engine(clock=clock, sleep=sleep) as engine:
        add(engine, emu, "paper", Env.PAPER, Flow.LEGACY)
        emu.set_retry_after(True)   # the emulator sends Retry-After only behind this switch
        emu.set_rate_limit("trading-paper", 2)
        rs = [await engine.request("paper", "GET", "/v2/account") for _ in range(3)]
        assert all(r.ok for r in rs)
        assert rs[2].attempts == 2 and len(sleep.calls) == 1 and 0 < sleep.calls[0] <= 60
        assert rs[1].rate_limit is not None and rs[1].rate_limit.remaining == 0
        # injected 429s: bounded retries (3), then rate_limited
        emu.fail_next("trading-paper", 10, status=429)
        r = await engine.request("paper", "GET", "/v2/account")
        assert r.status == 429 and r.attempts == 4
        assert r.error is not None and r.error.category is ErrorCategory.RATE_LIMITED
        assert sleep.calls[-3:] == [1.0, 1.0, 1.0]


async def test_token_endpoint_429_is_retried(fake_emu: tuple[Emulator, FakeClock]) -> None:
    emu, clock = fake_emu
    sleep = ClockSleep(clock)
    async with Engine(clock=clock, sleep=sleep) as engine:
        key_id = add(engine, emu, "bj", Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT)
        emu.set_retry_after(True)   # the emulator sends Retry-After only behind this switch
        emu.fail_next("authx-sandbox", 2, status=429)
        tok = await engine.token("bj")  # a fresh assertion (new jti) per attempt: no jti_known
        assert tok.value and sleep.calls == [1.0, 1.0]
        assert emu.requests("authx-sandbox") == 3 and emu.token_requests(key_id) == 1


async def test_environment_mixups(emu: Emulator) -> None:
    async with Engine() as engine:
        add(engine, emu, "paper-on-live", Env.PAPER, Flow.LEGACY, profile_env=Env.LIVE)
        add(engine, emu, "live-on-paper", Env.LIVE, Flow.LEGACY, profile_env=Env.PAPER)
        r = await engine.request("paper-on-live", "GET", "/v2/account")
        assert r.status == 401 and r.error is not None
        assert r.error.category is ErrorCategory.WRONG_ENVIRONMENT
        assert "paper key" in r.error.message and "used against live" in r.error.message
        assert r.error.request_id and r.error.request_id in r.error.message
        r = await engine.request("live-on-paper", "GET", "/v2/account")
        assert r.error is not None and r.error.category is ErrorCategory.WRONG_ENVIRONMENT
        assert "live key" in r.error.message and "used against paper" in r.error.message
        # a sandbox broker client against live AuthX is simply rejected
        add(engine, emu, "sandbox-on-live", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET,
            profile_env=Env.BROKER_LIVE)
        results = await engine.check("sandbox-on-live")
        assert len(results) == 1 and results[0].api is Api.AUTH and not results[0].ok
        assert results[0].category is ErrorCategory.BAD_CREDENTIALS and results[0].status == 401


async def test_scope_preflight_and_server_403(emu: Emulator) -> None:
    access = AccessMatrix({Scope.ACCOUNTS: Level.RO, Scope.DATA: Level.RO, Scope.JOURNALING: Level.NONE,
                           Scope.FUNDING: Level.RO})
    async with Engine() as engine:
        add(engine, emu, "ro", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, access=access)
        before = emu.requests("broker-sandbox")
        with pytest.raises(ApiError) as ei:
            await engine.request("ro", "POST", "/v1/journals", json_body={"amount": "10"}, preflight=True)
        assert ei.value.category is ErrorCategory.FORBIDDEN_SCOPE and "Journaling" in ei.value.message
        assert emu.requests("broker-sandbox") == before  # nothing was sent
        r = await engine.request("ro", "POST", "/v1/journals", json_body={"amount": "10"}, preflight=True,
                                 force=True)
        assert r.status == 403 and r.error is not None
        assert r.error.category is ErrorCategory.FORBIDDEN_SCOPE
        assert "Journaling (read-write)" in r.error.message
        accounts = await engine.request("ro", "GET", "/v1/accounts")
        assert accounts.ok and accounts.json
        acct = accounts.json[0]["id"]
        r = await engine.request("ro", "POST", f"/v1/accounts/{acct}/transfers", force=True,
                                 json_body={"transfer_type": "ach", "amount": "10", "direction": "INCOMING"})
        assert r.error is not None and r.error.category is ErrorCategory.FORBIDDEN_SCOPE
        assert "Funding (read-write)" in r.error.message
        # the matrix recorded here can be out of date: the server's 403 is still explained
        add(engine, emu, "stale", Env.BROKER_SANDBOX, Flow.LEGACY,
            access=AccessMatrix({Scope.DATA: Level.RO}), profile_access=AccessMatrix.full())
        r = await engine.request("stale", "GET", "/v1/journals")
        assert r.error is not None and r.error.category is ErrorCategory.FORBIDDEN_SCOPE
        assert "Journaling (read-only)" in r.error.message
        assert "differs from what is recorded here" in r.error.message


async def test_check_skips_apis_the_matrix_forbids(emu: Emulator) -> None:
    async with Engine() as engine:
        add(engine, emu, "dataonly", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET,
            access=AccessMatrix({Scope.DATA: Level.RO}))
        results = await engine.check("dataonly")
        by_api = {r.api: r for r in results}
        assert by_api[Api.BROKER].skipped and by_api[Api.BROKER].ok
        assert by_api[Api.DATA].ok and by_api[Api.DATA].status == 200


async def test_network_faults_and_server_errors(emu: Emulator) -> None:
    async with Engine(timeout=0.5) as engine:
        add(engine, emu, "paper", Env.PAPER, Flow.LEGACY)
        emu.drop_next("trading-paper", 1)
        with pytest.raises(ApiError) as ei:
            await engine.request("paper", "GET", "/v2/account")
        assert ei.value.category is ErrorCategory.NETWORK_ERROR
        emu.fail_next("trading-paper", 1, status=503)
        r = await engine.request("paper", "GET", "/v2/account")
        assert r.status == 503 and r.error is not None and r.error.category is ErrorCategory.SERVER_ERROR
        emu.set_latency("trading-paper", 1.0)
        with pytest.raises(ApiError) as ei:
            await engine.request("paper", "GET", "/v2/account")
        assert ei.value.category is ErrorCategory.TIMEOUT
        emu.set_latency("trading-paper", 0)
        assert (await engine.request("paper", "GET", "/v2/account")).ok


async def test_connection_refused_is_network_error() -> None:
    with Emulator() as emu:
        endpoints = emu.endpoints_for(Env.PAPER)
        issued = emu.create_credential(Env.PAPER, Flow.LEGACY)
    async with Engine() as engine:  # the emulator is stopped: nothing listens any more
        engine.add_credential(Profile("gone", Env.PAPER, Flow.LEGACY, "PK…", endpoints=endpoints),
                              SecretBundle(Secret(issued.key_id, secret=issued.secret)))
        results = await engine.check("gone")
        assert all(r.category is ErrorCategory.NETWORK_ERROR for r in results)
        assert all("connection failed" in r.message for r in results)


async def test_expired_credential_refused_locally(fake_emu: tuple[Emulator, FakeClock]) -> None:
    emu, clock = fake_emu
    async with Engine(clock=clock) as engine:
        add(engine, emu, "old", Env.PAPER, Flow.LEGACY, expires_at=clock.now() + timedelta(days=1))
        assert (await engine.request("old", "GET", "/v2/account")).ok
        clock.advance(2 * 86400)
        before = emu.requests("trading-paper")
        with pytest.raises(ApiError) as ei:
            await engine.request("old", "GET", "/v2/account")
        assert ei.value.category is ErrorCategory.EXPIRED_CREDENTIAL and "'old'" in ei.value.message
        assert emu.requests("trading-paper") == before
