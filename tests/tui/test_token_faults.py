"""The token panel while AuthX misbehaves and the clock jumps (Pilot, FakeClock shared with
a seeded emulator). Builds on test_token_panel.py (countdown, refresh ahead, the revoked-key
case) with the faults of a real network: 5xx and 429 storms during the last minute of a
token, the token expiring while AuthX is down, and local clock jumps either way."""

from __future__ import annotations

from typing import Any

import pytest

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.tui.app import AlpacaTuiApp
from alpaca_tui.tui.widgets.token_panel import TokenPanel
from tests.tui.conftest import START, screen_text, wait_for
from tests.tui.test_token_panel import NAME, countdown, open_panel

AUTHX = "authx-sandbox"


async def tick(pilot: Any, panel: TokenPanel) -> None:
    """One timer tick, then let any token request it started finish."""
    panel.tick()
    if panel._inflight:
        await wait_for(pilot, lambda: not panel._inflight, what="token request settled")


async def facts(pilot: Any) -> str:
    await pilot.pause()
    return " ".join(screen_text(pilot.app).split())


@pytest.mark.parametrize(("status", "words"), [(503, "temporarily_unavailable"), (429, "quota_exceeded")])
async def test_storm_in_the_last_minute_keeps_the_token_and_recovers(seeded: Any, clock: FakeClock,
                                                                   status: int, words: str) -> None:
    store, emu, _ = seeded
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = await open_panel(pilot)
        first = app.engine.token_state(NAME)
        emu.fail_next(AUTHX, 10_000, status=status)
        before = emu.requests(AUTHX)
        clock.advance(840)                          # 59 s left: the panel asks for a refresh
        await tick(pilot, panel)
        text = await facts(pilot)
        assert countdown(panel) == "00:59 left ⚠"
        assert words in text and "refresh failed: still using the current token" in text
        assert "next try in 2 s" in text
        # API calls meanwhile use the still-valid token
        resp = await app.engine.request(NAME, "GET", "/v1/accounts")
        assert resp.ok and not resp.token_refreshed
        # 19 more seconds of ticks: attempts only at +2, +6, +14 (backoff), never one per tick
        for _ in range(19):
            clock.advance(1)
            await tick(pilot, panel)
        assert emu.requests(AUTHX) - before == 4
        assert countdown(panel) == "00:40 left ⚠"
        state = app.engine.token_state(NAME)
        assert state.expires_at == first.expires_at and state.failures == 4
        # AuthX heals: at the next attempt (+30) the panel is back to normal by itself
        emu.fail_next(AUTHX, 0)
        for _ in range(11):
            clock.advance(1)
            await tick(pilot, panel)
        await wait_for(pilot, lambda: "last error none" in screen_text(app), what="recovered")
        assert countdown(panel) == "14:59 left"
        assert emu.requests(AUTHX) - before == 5
        state = app.engine.token_state(NAME)
        assert state.refresh_count == 1 and state.failures == 0 and state.retry_at is None
        assert "refresh failed" not in await facts(pilot)


async def test_token_expires_while_authx_is_down(seeded: Any, clock: FakeClock) -> None:
    store, emu, _ = seeded
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = await open_panel(pilot)
        emu.fail_next(AUTHX, 10_000, status=503)
        clock.advance(1000)                          # well past expiry
        await tick(pilot, panel)
        text = await facts(pilot)
        assert countdown(panel) == "expired" and panel.remaining() == 0
        assert "server error: token request for" in text and "✗ no valid token" in text
        assert "next try in 15 s" in text
        n = emu.requests(AUTHX)
        with pytest.raises(Exception) as ei:          # the tester / API calls get the same one line
            await app.engine.request(NAME, "GET", "/v1/accounts")
        assert "server error" in str(ei.value) and "next token request in 2 s" in str(ei.value)
        assert "\n" not in str(ei.value)
        assert emu.requests(AUTHX) == n               # fail fast inside the engine's backoff
        for _ in range(5):                           # no new request before the panel's wait is over
            await tick(pilot, panel)
        clock.advance(14)
        await tick(pilot, panel)
        assert emu.requests(AUTHX) == n
        clock.advance(1)
        await tick(pilot, panel)
        assert emu.requests(AUTHX) == n + 1           # the 15 s retry
        emu.fail_next(AUTHX, 0)
        clock.advance(15)
        await tick(pilot, panel)
        await wait_for(pilot, lambda: "last error none" in screen_text(app), what="recovered")
        assert countdown(panel) == "14:59 left" and "no valid token" not in await facts(pilot)


async def test_local_clock_jumps(seeded: Any, clock: FakeClock) -> None:
    store, emu, _ = seeded
    key_id = store.load_bundle(NAME).active.key_id
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = await open_panel(pilot)
        assert emu.token_requests(key_id) == 1
        # forward three hours (a suspended laptop): 0 left, never negative, then one new token
        clock.advance(3 * 3600)
        await tick(pilot, panel)
        await wait_for(pilot, lambda: countdown(panel) == "14:59 left", what="renewed after the jump")
        assert emu.token_requests(key_id) == 2
        state = app.engine.token_state(NAME)
        assert state.issued_at == START + 3 * 3600
        # back one hour: the countdown never shows more than the lifetime; one renewal, no storm
        clock.advance(-3600)
        panel.tick()
        assert countdown(panel) in ("14:59 left", "fetching…") and "74:" not in countdown(panel)
        await wait_for(pilot, lambda: not panel._inflight, what="renewal")
        assert emu.token_requests(key_id) == 3
        for _ in range(10):
            clock.advance(1)
            await tick(pilot, panel)
            assert "-" not in countdown(panel)
        assert emu.token_requests(key_id) == 3
        assert countdown(panel) == "14:49 left"


def test_home_token_column_under_faults_and_clock_jumps() -> None:
    """The home screen's token cell: capped at the lifetime when the clock is set back, a
    warning sign while refreshes fail, 'expired' (never negative) past expiry."""
    from alpaca_tui.core.credentials import Flow, Profile
    from alpaca_tui.core.environments import Env
    from alpaca_tui.core.tokens import TokenState
    from alpaca_tui.tui.format import token_summary

    p = Profile("bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, "CK…0001")
    ok = TokenState("bx", issued_at=START, expires_at=START + 899)
    failing = TokenState("bx", issued_at=START, expires_at=START + 899, last_error="server error: …")
    assert token_summary(p, ok, START - 3600).plain == "14:59 left"
    assert token_summary(p, ok, START + 500).plain == "06:39 left"
    assert token_summary(p, failing, START + 850).plain == "00:49 left ⚠"
    assert token_summary(p, failing, START + 5000).plain == "expired"
    assert token_summary(p, TokenState("bx", last_error="x"), START).plain == "✗ error"
