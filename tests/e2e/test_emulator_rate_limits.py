"""Rate-limit headers as Alpaca sends them (``X-RateLimit-Limit``, ``-Remaining``, ``-Reset`` in
epoch seconds, on every answer including the 429), ``Retry-After`` only behind the emulator's
switch (constructor, admin fault setting, ``alpaca-tui emulator --retry-after``), and the engine
waiting out a 429 that carries only ``X-RateLimit-Reset`` (through ``Engine.request``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.engine import Engine
from alpaca_tui.core.environments import TOKEN_PATH, Env
from alpaca_tui.emulator import Emulator
from alpaca_tui.emulator.client import AdminClient
from tests import emulator_fixtures as fx
from tests.cli.enginecli_support import issue_credential
from tests.emulator_fixtures import ClockSleep, http_client, legacy_headers

START = fx.EMULATOR_START   # a minute boundary: the rate window ends at START + 60
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


emulator_clock = fx.emulator_clock
emu = fx.emulator


@pytest.fixture
def clock(emulator_clock: FakeClock) -> FakeClock:
    """The emulator's clock (``fx.emulator_clock``), under the name these tests use."""
    return emulator_clock


def _hammer(emu: Emulator, http: httpx.Client, n: int) -> list[httpx.Response]:
    paper = emu.create_credential(Env.PAPER, Flow.LEGACY)
    h = legacy_headers(paper.key_id, paper.secret)
    return [http.get(emu.urls["trading-paper"] + "/v2/account", headers=h) for _ in range(n)]


def test_every_answer_carries_the_three_headers_and_429_has_no_retry_after(emu: Emulator) -> None:
    emu.set_rate_limit("trading-paper", 3)
    with http_client(timeout=5) as http:
        rs = _hammer(emu, http, 4)
    assert [r.status_code for r in rs] == [200, 200, 200, 429]
    assert [r.headers["x-ratelimit-remaining"] for r in rs] == ["2", "1", "0", "0"]
    for r in rs:
        assert r.headers["x-ratelimit-limit"] == "3"
        assert int(r.headers["x-ratelimit-reset"]) == START + 60    # epoch seconds, the window's end
        assert "retry-after" not in r.headers
    assert rs[-1].json() == {"code": 42910000, "message": "rate limit exceeded"}
    emu.fail_next("trading-paper", 1, status=429)   # an injected 429: no Retry-After either
    with http_client(timeout=5) as http:
        r = _hammer(emu, http, 1)[0]
    assert r.status_code == 429 and "retry-after" not in r.headers


def test_retry_after_by_constructor_and_by_admin_switch(clock: FakeClock) -> None:
    with Emulator(clock=clock, retry_after=True) as emu, http_client(timeout=5) as http:
        emu.set_rate_limit("trading-paper", 1)
        clock.advance(15)
        r = _hammer(emu, http, 2)[1]
        assert r.status_code == 429 and r.headers["retry-after"] == "45"
        admin = AdminClient(emu.urls["admin"])
        admin.set_retry_after(False)
        r = _hammer(emu, http, 2)[1]
        assert r.status_code == 429 and "retry-after" not in r.headers
        admin.set_retry_after(True)
        emu.fail_next("trading-paper", 1, status=429)
        assert _hammer(emu, http, 1)[0].headers["retry-after"] == "1"
        admin.reset_faults()   # back to the constructor's setting (on)
        emu.set_rate_limit("trading-paper", 1)
        assert _hammer(emu, http, 2)[1].headers["retry-after"] == "45"


def test_cli_switches_retry_after_and_token_lifetime() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "alpaca_tui", "emulator", "--json", "--retry-after",
                             "--token-lifetime", "12"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        assert proc.stdout is not None
        urls = json.loads(proc.stdout.readline())["urls"]
        admin = AdminClient(urls["admin"])
        cred = admin.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
        paper = admin.create_credential(Env.PAPER, Flow.LEGACY)
        with http_client(timeout=5) as http:
            tok = http.post(urls["authx-sandbox"] + TOKEN_PATH, data={
                "grant_type": "client_credentials", "client_id": cred.key_id, "client_secret": cred.secret})
            assert tok.json()["expires_in"] == 12
            admin.set_rate_limit("trading-paper", 1)
            h = legacy_headers(paper.key_id, paper.secret)
            rs = [http.get(urls["trading-paper"] + "/v2/clock", headers=h) for _ in range(2)]
        assert rs[1].status_code == 429 and 1 <= int(rs[1].headers["retry-after"]) <= 60
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert proc.returncode == 0


async def test_engine_waits_out_a_429_with_only_x_ratelimit_reset(emu: Emulator, clock: FakeClock) -> None:
    """No Retry-After (Alpaca's documented headers only): the engine waits until X-RateLimit-Reset,
    and the retried request lands in the new window and succeeds."""
    sleep = ClockSleep(clock)
    emu.set_rate_limit("trading-paper", 2)
    clock.advance(20)                        # the window resets 40 s from now
    async with Engine(clock=clock, sleep=sleep) as engine:
        profile, bundle = issue_credential(emu, "paper", Env.PAPER, Flow.LEGACY)
        engine.add_credential(profile, bundle)
        first = [await engine.request("paper", "GET", "/v2/account") for _ in range(2)]
        assert all(r.ok and r.attempts == 1 for r in first) and sleep.calls == []
        r = await engine.request("paper", "GET", "/v2/account")
        assert r.ok and r.status == 200 and r.attempts == 2
        assert sleep.calls == [40.0]          # exactly until the reset the server announced
        assert clock.time() == START + 60
        assert r.rate_limit is not None and r.rate_limit.remaining == 1 and r.rate_limit.limit == 2
        assert emu.requests("trading-paper") == 4   # 2 ok, the 429, the retry
