"""Rotation from the keyboard against the real emulator: new key → verify → promote → rollback."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input, Select

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.tui.app import AlpacaTuiApp
from alpaca_tui.tui.dialogs.confirm import ConfirmDialog
from alpaca_tui.tui.screens.home import HomeScreen
from alpaca_tui.tui.screens.rotation import RotationScreen
from tests.tui.conftest import screen_text, wait_for


async def open_rotation(pilot: Any, name: str) -> RotationScreen:
    app = pilot.app
    await wait_for(pilot, lambda: app.engine is not None and app.profiles_loaded, what="engine")
    home = app.screen
    assert isinstance(home, HomeScreen)
    home.select(name)
    await pilot.press("r")
    await wait_for(pilot, lambda: isinstance(app.screen, RotationScreen), what="rotation")
    return app.screen


async def test_demo_rotation_promote_then_rollback(seeded: Any, clock: FakeClock) -> None:
    store, emu, _ = seeded
    name = "broker-sandbox-oauth"
    old = store.load_bundle(name).active
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        rot = await open_rotation(pilot, name)
        assert rot.query_one("#rot-keep", Select).value == 1  # 24 hours by default
        assert rot.query_one("#rot-rollback").disabled
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "✓ Rotated" in screen_text(app), what="rotation outcome")
        text = screen_text(app)
        assert "verified the new key" in text and "promoted" in text
        assert "kept for rollback until" in text
        new = store.load_bundle(name)
        assert new.active.key_id != old.key_id and new.previous == old
        prof = store.get_profile(name)
        assert prof.rotation_state == "overlap" and prof.previous_retire_at is not None
        assert (prof.previous_retire_at.timestamp() - clock.time()) == 24 * 3600
        # the old key's retirement countdown is shown
        await wait_for(pilot, lambda: "(24:00:00 left)" in screen_text(app), what="retirement countdown")
        clock.advance(3600 + 5)
        await wait_for(pilot, lambda: "(22:59:55 left)" in screen_text(app), what="countdown ticks")
        assert old.secret not in screen_text(app) and new.active.secret not in screen_text(app)
        # the new key really works
        results = await app.engine.check(name)
        assert all(r.ok for r in results)
        # rollback
        await wait_for(pilot, lambda: not rot.query_one("#rot-rollback").disabled, what="rollback enabled")
        await pilot.press("ctrl+b")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await wait_for(pilot, lambda: "Rolled back" in screen_text(app), what="rolled back")
        assert store.load_bundle(name).active == old
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), what="home")


async def test_manual_rotation_with_typed_key_and_failed_verification(seeded: Any, clock: FakeClock) -> None:
    store, emu, _ = seeded
    name = "paper"
    old = store.load_bundle(name).active
    fresh = emu.create_credential("paper", "legacy")  # as if created in the Alpaca dashboard
    # not demo: the user types the new key; one verification attempt (no propagation retries)
    app = AlpacaTuiApp(store=store, demo=None, clock=clock, engine_options={"verify_attempts": 1})
    async with app.run_test(size=(100, 30)) as pilot:
        rot = await open_rotation(pilot, name)
        assert rot.query_one("#rot-key-id", Input).has_focus
        # a wrong secret fails verification and changes nothing
        rot.query_one("#rot-key-id", Input).value = fresh.key_id
        rot.query_one("#rot-secret", Input).value = "W" * 40
        assert rot.query_one("#rot-secret", Input).password
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "rotation failed" in screen_text(app), what="failure shown")
        assert store.load_bundle(name).active == old
        assert store.get_profile(name).rotation_state is None
        # the right one
        rot.query_one("#rot-secret", Input).value = fresh.secret
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "✓ Rotated" in screen_text(app), what="rotated")
        assert store.load_bundle(name).active.key_id == fresh.key_id
        assert rot.query_one("#rot-secret", Input).value == ""  # not left in the widget


async def test_manual_key_pair_rotation_generates_then_needs_registration(seeded: Any,
                                                                          clock: FakeClock) -> None:
    from textual.widgets import TextArea

    from alpaca_tui.core import keys

    store, emu, _ = seeded
    name = "broker-sandbox-jwt"
    old = store.load_bundle(name).active
    app = AlpacaTuiApp(store=store, demo=None, clock=clock, engine_options={"verify_attempts": 1})
    async with app.run_test(size=(100, 30)) as pilot:
        rot = await open_rotation(pilot, name)
        assert not rot.query_one("#rot-manual").display and rot.query_one("#rot-keypair").display
        await pilot.press("ctrl+s")  # nothing generated yet
        await wait_for(pilot, lambda: "generate a new key pair first" in screen_text(app), what="refused")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: rot.keypair is not None, what="key pair generated (worker)")
        pair = rot.keypair
        assert pair is not None and pair.private_pem != old.private_key_pem
        assert rot.query_one("#rot-public-key", TextArea).text == pair.public_pem
        await wait_for(pilot, lambda: f"sha256 {pair.fingerprint}" in screen_text(app), what="fingerprint")
        assert "register this public key with Alpaca" in screen_text(app)
        assert "PRIVATE KEY" not in screen_text(app)
        # not registered yet: verification fails and the active key stays
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "signature does not match" in screen_text(app),
                       what="unregistered key refused")
        assert store.load_bundle(name).active == old
        # registered (as the user would in the Alpaca dashboard): the same key ID, the new key
        emu.register_public_key(old.key_id, pair.public_pem)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "✓ promoted" in screen_text(app), what="rotated")
        active = store.load_bundle(name).active
        assert active.key_id == old.key_id and active.private_key_pem == pair.private_pem
        assert store.get_profile(name).public_key_fingerprint == keys.public_key_fingerprint(pair.private_pem)
