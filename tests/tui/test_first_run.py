"""The first minute of ``alpaca-tui`` on an encrypted-file store (issue 15): the demo is offered
before a passphrase is asked for, a new passphrase has a minimum length and the dialog says
why, and cancelling the passphrase is not a dead end (retry, demo, or stay locked)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from textual.widgets import Input, Label

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.tui.app import AlpacaTuiApp, _default_store_opener
from alpaca_tui.tui.dialogs.choice import ChoiceDialog
from alpaca_tui.tui.dialogs.confirm import ConfirmDialog
from alpaca_tui.tui.dialogs.passphrase import MIN_PASSPHRASE_LENGTH, PassphraseDialog
from alpaca_tui.tui.screens.home import HomeScreen
from tests.tui.conftest import add_static_profiles, screen_text, wait_for

RIGHT = "the right passphrase"


@pytest.fixture
def fresh_home(alpaca_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No store yet, no passphrase file: the TUI has to ask (or offer the demo)."""
    monkeypatch.delenv("ALPACA_TUI_PASSPHRASE_FILE")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # the demo's home goes under this TMPDIR
    return alpaca_home


@pytest.fixture
def locked(alpaca_home: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Path:
    from alpaca_tui.core.store import Store

    monkeypatch.delenv("ALPACA_TUI_PASSPHRASE_FILE")
    add_static_profiles(Store.open(alpaca_home, backend="file", passphrase=RIGHT, clock=clock), clock)
    return alpaca_home


async def test_first_run_offers_the_demo_before_asking_for_a_passphrase(fresh_home: Path,
                                                                        clock: FakeClock) -> None:
    app = AlpacaTuiApp(store_opener=_default_store_opener, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, (ChoiceDialog, PassphraseDialog)),
                       what="a dialog")
        assert isinstance(app.screen, ChoiceDialog), screen_text(app)
        assert "demo" in screen_text(app).lower()
        await pilot.press("d")
        await wait_for(pilot, lambda: app.demo is not None and len(app.profiles) == 8, timeout=20,
                       what="demo seeded")
        assert not (fresh_home / "secrets.enc").exists()  # nothing was created for the user
    app.close_demo()


async def test_setting_up_asks_for_a_long_enough_passphrase_and_says_why(fresh_home: Path,
                                                                         clock: FakeClock) -> None:
    app = AlpacaTuiApp(store_opener=_default_store_opener, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceDialog), what="welcome")
        await pilot.press("s")  # set up my own store
        await wait_for(pilot, lambda: isinstance(app.screen, PassphraseDialog), what="passphrase dialog")
        dialog = app.screen
        assert f"at least {MIN_PASSPHRASE_LENGTH} characters" in " ".join(screen_text(app).lower().split())
        short = "x" * (MIN_PASSPHRASE_LENGTH - 1)
        dialog.query_one("#pass1", Input).value = short
        dialog.query_one("#pass2", Input).value = short
        dialog.query_one("#pass1", Input).focus()
        await pilot.press("enter", "enter")  # next field, then submit
        error = str(dialog.query_one("#pass-error", Label).render())
        assert f"at least {MIN_PASSPHRASE_LENGTH}" in error and app.screen is dialog
        dialog.query_one("#pass1", Input).value = RIGHT
        dialog.query_one("#pass2", Input).value = RIGHT
        dialog.query_one("#pass1", Input).focus()
        await pilot.press("enter", "enter")
        await wait_for(pilot, lambda: app.store is not None and app.profiles_loaded, what="store created")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, (ConfirmDialog, ChoiceDialog))  # the demo was offered already
        assert app.store.backend_kind == "file"


async def test_cancelled_passphrase_offers_retry_demo_or_staying_locked(locked: Path,
                                                                        clock: FakeClock) -> None:
    app = AlpacaTuiApp(store_opener=_default_store_opener, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, PassphraseDialog), what="passphrase dialog")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceDialog), what="what now?")
        text = screen_text(app).lower()
        assert "try again" in text and "demo" in text
        await pilot.press("n")  # stay locked
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), what="home")
        assert "u: unlock" in screen_text(app)
        await pilot.press("n")  # new credential: says how to unlock instead of "unavailable"
        await wait_for(pilot, lambda: any("unlock" in n.message for n in app._notifications), what="hint")
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, PassphraseDialog), what="asked again")
        app.screen.query_one("#pass1", Input).value = RIGHT
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.profiles_loaded and isinstance(app.screen, HomeScreen), what="home")
        assert {p.name for p in app.profiles} == {"live-trader", "paper-bot", "sandbox-oauth"}
