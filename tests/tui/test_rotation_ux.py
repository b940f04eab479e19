"""Rotation at 80×24 as a careful operator expects it (issue 15): the log follows (the result
is on screen), success is said once, a second rotation inside the rollback window asks before
it drops the kept key, a live credential asks before rotating, and every dialog defaults to No."""

from __future__ import annotations

from typing import Any

from textual.widgets import Button

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.tui.app import AlpacaTuiApp
from alpaca_tui.tui.dialogs.confirm import ConfirmDialog
from alpaca_tui.tui.screens.rotation import RotationScreen
from tests.tui.conftest import screen_text, wait_for
from tests.tui.test_rotation import open_rotation


async def rotate_once(pilot: Any, rot: RotationScreen) -> None:
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: not rot.busy and "Rotated" in str(rot.query_one("#rot-outcome").render()),
                   what="rotated")
    await pilot.pause(0.1)


async def test_log_follows_and_success_is_said_once_at_80x24(seeded: Any, clock: FakeClock) -> None:
    store, emu, _ = seeded
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        rot = await open_rotation(pilot, "broker-sandbox-oauth")
        await rotate_once(pilot, rot)
        text = screen_text(app)
        assert "✓ Rotated" in text, text  # the result is on screen, not below the fold
        assert text.count("✓ Rotated") == 1 and text.count("is active") == 1, text


async def test_second_rotation_in_the_rollback_window_asks_first(seeded: Any, clock: FakeClock) -> None:
    store, emu, _ = seeded
    name = "broker-sandbox-oauth"
    original = store.load_bundle(name).active
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        rot = await open_rotation(pilot, name)
        await rotate_once(pilot, rot)
        first = store.load_bundle(name)
        assert first.previous == original
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the warning")
        warning = screen_text(app)
        assert "rollback" in warning and "dropped" in warning, warning
        assert app.screen.query_one("#no", Button).has_focus
        await pilot.press("n")
        await pilot.pause(0.2)
        assert store.load_bundle(name) == first  # nothing dropped, nothing rotated
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the warning again")
        await pilot.press("y")
        await wait_for(pilot, lambda: store.load_bundle(name).active != first.active, what="rotated again")
        assert store.load_bundle(name).previous == first.active


async def test_live_rotation_asks_first_and_rollback_defaults_to_no(seeded: Any, clock: FakeClock) -> None:
    store, emu, _ = seeded
    old = store.load_bundle("live").active
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        rot = await open_rotation(pilot, "live")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="live confirmation")
        assert "real money" in screen_text(app).lower()
        assert app.screen.query_one("#no", Button).has_focus
        await pilot.press("enter")  # the default: no
        await pilot.pause(0.2)
        assert isinstance(app.screen, RotationScreen) and store.load_bundle("live").active == old
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="live confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: not rot.busy and store.load_bundle("live").active != old,
                       what="rotated")
        await wait_for(pilot, lambda: not rot.query_one("#rot-rollback").disabled, what="rollback enabled")
        rotated = store.load_bundle("live").active
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="rollback question")
        assert app.screen.query_one("#no", Button).has_focus
        await pilot.press("enter")  # the default: no
        await pilot.pause(0.2)
        assert store.load_bundle("live").active == rotated


async def test_regenerating_the_new_key_pair_asks_first(seeded: Any, clock: FakeClock) -> None:
    store, _emu, _ = seeded
    app = AlpacaTuiApp(store=store, demo=None, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        rot = await open_rotation(pilot, "broker-sandbox-jwt")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: rot.keypair is not None, what="key pair generated")
        first = rot.keypair
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="regenerate question")
        await pilot.press("n")
        await pilot.pause(0.2)
        assert rot.keypair is first
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="regenerate question")
        await pilot.press("y")
        await wait_for(pilot, lambda: rot.keypair is not None and rot.keypair is not first, what="a new pair")
