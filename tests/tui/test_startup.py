"""Startup paths of ``alpaca-tui`` (no arguments): the passphrase dialog for a locked
encrypted-file store, and the first-run switch to demo mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Label

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.tui.app import AlpacaTuiApp, _default_store_opener
from alpaca_tui.tui.dialogs.confirm import ConfirmDialog
from alpaca_tui.tui.dialogs.passphrase import PassphraseDialog
from alpaca_tui.tui.screens.home import HomeScreen
from tests.tui.conftest import add_static_profiles, half_rotated_home, screen_text, wait_for

RIGHT = "the right passphrase"


@pytest.fixture
def locked_home(alpaca_home: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Path:
    from alpaca_tui.core.store import Store

    monkeypatch.delenv("ALPACA_TUI_PASSPHRASE_FILE")
    store = Store.open(alpaca_home, backend="file", passphrase=RIGHT, clock=clock)
    add_static_profiles(store, clock)
    return alpaca_home


async def test_locked_store_asks_for_the_passphrase_in_a_dialog(locked_home: Path, clock: FakeClock) -> None:
    app = AlpacaTuiApp(store_opener=_default_store_opener, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, PassphraseDialog), what="passphrase dialog")
        dialog = app.screen
        assert not dialog.query("#pass2")  # the file exists: asked once
        box = dialog.query_one("#pass1", Input)
        assert box.password
        box.value = "hunter2-typo"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PassphraseDialog) and app.screen is not dialog,
                       what="asked again")
        assert "passphrase" in str(app.screen.query_one("#pass-error", Label).render()).lower()
        assert "hunter2-typo" not in screen_text(app)
        app.screen.query_one("#pass1", Input).value = RIGHT
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.profiles_loaded and isinstance(app.screen, HomeScreen), what="home")
        assert {p.name for p in app.profiles} == {"live-trader", "paper-bot", "sandbox-oauth"}
        assert app.store.backend_kind == "file"
        assert "encrypted file" in screen_text(app)


async def test_cancelled_passphrase_leaves_the_store_closed(locked_home: Path, clock: FakeClock) -> None:
    app = AlpacaTuiApp(store_opener=_default_store_opener, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, PassphraseDialog), what="passphrase dialog")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.store_error is not None, what="store error")
        assert app.store is None
        assert "stays locked" in screen_text(app)
        await pilot.press("n")  # nothing to create into: says so instead of crashing
        assert isinstance(app.screen, HomeScreen)


async def test_first_run_can_switch_to_demo_mode(store: Any, clock: FakeClock, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    app = AlpacaTuiApp(store=store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="demo offer")
        await pilot.press("y")
        await wait_for(pilot, lambda: app.demo is not None and len(app.profiles) == 8, timeout=20,
                       what="demo seeded")
        assert "DEMO" in screen_text(app)
        assert app.store is not store
        roots = list(tmp_path.glob("alpaca-tui-demo-*"))
        assert len(roots) == 1
    app.close_demo()
    assert not roots[0].exists()
    assert store.list_profiles() == []  # the user's own store was not touched


async def test_unlocked_session_agent_skips_the_passphrase_dialog(locked_home: Path,
                                                                 clock: FakeClock) -> None:
    """After `alpaca-tui unlock` the TUI opens the encrypted store without asking."""
    from alpaca_tui.core.store import FileBackend, agent
    from alpaca_tui.core.store.fsutil import HomeLock

    backend = FileBackend(locked_home / "secrets.enc", HomeLock(locked_home), passphrase=RIGHT)
    key, header = backend.session_key()
    agent.start(locked_home, key, header.salt, (header.log2_n, header.r, header.p), ttl=60)
    try:
        app = AlpacaTuiApp(store_opener=_default_store_opener, clock=clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.profiles_loaded and isinstance(app.screen, HomeScreen),
                           what="home")
            assert not any(isinstance(s, PassphraseDialog) for s in app.screen_stack)
            assert not app.store.needs_unlock()
            bundle = app.store.load_bundle("paper-bot")  # secrets readable with the agent's key
            assert bundle.active.secret
    finally:
        agent.stop(locked_home)


async def test_index_repaired_at_startup_is_announced(alpaca_home: Path, clock: FakeClock) -> None:
    """A rotation killed after promoting the secret but before the index write: the TUI repairs
    the entry before listing it, and says so once (no secret or full key ID in the notice)."""
    from alpaca_tui.core.redact import mask
    from alpaca_tui.core.store import Store

    old, new = half_rotated_home(alpaca_home, clock)

    app = AlpacaTuiApp(store_opener=_default_store_opener, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.profiles_loaded and isinstance(app.screen, HomeScreen), what="home")
        await wait_for(pilot, lambda: any("repaired" in str(n.title).lower() for n in app._notifications),
                       what="repair notice")
        notes = [n for n in app._notifications if "repaired" in str(n.title).lower()]
        assert len(notes) == 1 and "'p'" in notes[0].message
        for text in (old.secret, new.secret, old.key_id, new.key_id):
            assert text not in notes[0].message and text not in screen_text(app)
        assert app.profiles[0].key_id_masked == mask(new.key_id)
    assert Store.open(alpaca_home).get_profile("p").key_id_masked == mask(new.key_id)


async def test_corrupted_index_is_reported_and_kept(alpaca_home: Path, clock: FakeClock) -> None:
    """A truncated index.json: the app still starts, says what is wrong in one line, keeps the
    file and a backup, and refuses to write over it (nothing silently dropped)."""
    alpaca_home.mkdir(mode=0o700)
    broken = b'{"version": 1, "profiles": {"a": '
    (alpaca_home / "index.json").write_bytes(broken)
    app = AlpacaTuiApp(store_opener=_default_store_opener, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen) and bool(app.store_error),
                       what="store error")
        assert "corrupted" in app.store_error and "\n" not in app.store_error
        await wait_for(pilot, lambda: "corrupted" in screen_text(app), what="the error on screen")
        await pilot.press("n")  # adding a credential must not start over with an empty index
        await pilot.pause()
    assert (alpaca_home / "index.json").read_bytes() == broken
    backups = list(alpaca_home.glob("index.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == broken
