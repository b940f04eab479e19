"""Token panel: the countdown is driven by the engine's token state and the injected clock,
against the real emulator (OAuth client credentials over loopback HTTP)."""

from __future__ import annotations

from typing import Any

from textual.widgets import ProgressBar

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.tui.app import AlpacaTuiApp
from alpaca_tui.tui.screens.details import DetailsScreen
from alpaca_tui.tui.screens.help import HelpScreen
from alpaca_tui.tui.widgets.token_panel import TokenPanel
from tests.tui.conftest import screen_text, wait_for

NAME = "broker-sandbox-oauth"


async def open_panel(pilot: Any, name: str = NAME) -> TokenPanel:
    app = pilot.app
    await wait_for(pilot, lambda: app.engine is not None and app.profiles_loaded, what="engine")
    app.open_details(name)
    await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen), what="details")
    panel = app.screen.query_one(TokenPanel)
    await wait_for(pilot, lambda: panel.remaining() is not None, what="first token")
    return panel


def countdown(panel: TokenPanel) -> str:
    return str(panel.query_one("#tp-countdown").render())


async def test_countdown_follows_the_clock_and_refreshes_ahead(seeded: Any, clock: FakeClock) -> None:
    store, emu, _ = seeded
    key_id = store.load_bundle(NAME).active.key_id
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = await open_panel(pilot)
        state = app.engine.token_state(NAME)
        assert state.expires_at - state.issued_at == 899
        assert state.refresh_count == 0
        assert countdown(panel) == "14:59 left"
        assert emu.token_requests(key_id) == 1
        bar = panel.query_one("#tp-bar", ProgressBar)
        assert bar.total == 899 and bar.progress == 899

        clock.advance(100)
        panel.tick()
        assert countdown(panel) == "13:19 left"
        assert bar.progress == 799
        text = screen_text(app)
        assert "refreshed 0×" in text and "last error none" in text

        clock.advance(760)  # 39 s left: below refresh_ahead (60 s) -> the panel asks for a token
        panel.tick()
        await wait_for(pilot, lambda: app.engine.token_state(NAME).refresh_count == 1, what="refresh")
        panel.tick()
        assert countdown(panel) == "14:59 left"
        assert emu.token_requests(key_id) == 2

        # the manual refresh key forces a new token
        await pilot.press("f")
        await wait_for(pilot, lambda: app.engine.token_state(NAME).refresh_count == 2, what="manual refresh")
        assert emu.token_requests(key_id) == 3
        await wait_for(pilot, lambda: "refreshed 2×" in screen_text(app), what="facts updated")

        # the 1 Hz timer re-reads the clock by itself (no decrementing counter)
        clock.advance(61)
        await wait_for(pilot, lambda: countdown(panel) == "13:58 left", timeout=3, what="timer tick")


async def test_timer_pauses_while_panel_hidden(seeded: Any, clock: FakeClock) -> None:
    store, emu, _ = seeded
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock, tick=0.1)  # fast ticks for the test
    async with app.run_test(size=(100, 30)) as pilot:
        panel = await open_panel(pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.pause()
        before = panel.ticks
        await pilot.pause(0.6)
        assert panel.ticks == before, "no ticks while another screen covers the panel"
        await pilot.press("escape")
        assert isinstance(app.screen, DetailsScreen)
        await pilot.pause(0.5)
        assert panel.ticks >= before + 3


async def test_refresh_failure_is_shown_and_does_not_hammer(seeded: Any, clock: FakeClock) -> None:
    store, emu, _ = seeded
    key_id = store.load_bundle(NAME).active.key_id
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = await open_panel(pilot)
        emu.revoke(key_id)
        clock.advance(850)
        panel.tick()
        await wait_for(pilot, lambda: "last error none" not in screen_text(app), what="error shown")
        text = screen_text(app)
        assert "invalid_client" in text or "bad credentials" in text
        requests = emu.token_requests(key_id)
        for _ in range(3):
            panel.tick()
            await pilot.pause()
        assert emu.token_requests(key_id) == requests  # backs off instead of retrying every tick
