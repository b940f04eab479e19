"""config.toml in the TUI: the keymap moves bindings by id (Textual's keymap, as Posting does),
including Textual's own ctrl+q / ctrl+p declared again with ids; the help screen shows the
keys as mapped; a bad file or an unknown id is a warning naming the key, never a crash; the
theme and local time are applied."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.config import Config, load_config
from alpaca_tui.tui.app import AlpacaTuiApp
from alpaca_tui.tui.dialogs.wizard import WizardScreen
from alpaca_tui.tui.keys import all_bindings
from alpaca_tui.tui.screens.help import HelpScreen
from alpaca_tui.tui.screens.home import HomeScreen
from tests.tui.conftest import screen_text, wait_for
from tests.tui.test_home import loaded


def test_every_binding_has_a_unique_id() -> None:
    bindings = all_bindings()
    assert all(b.id for b in bindings), [b for b in bindings if not b.id]
    ids = {}
    for b in bindings:  # one id, one action (the same binding may be listed in two sections)
        assert ids.setdefault(b.id, b.action) == b.action, b.id
    for textual_own in ("app.quit", "app.command-palette", "app.help-quit"):
        assert textual_own in ids


async def test_the_keymap_moves_bindings_by_id(static_store: Any, clock: FakeClock) -> None:
    config = Config(keymap={"home.new": "a", "app.quit": "ctrl+x", "app.command-palette": "ctrl+k",
                            "list.down": "ctrl+j"})
    app = AlpacaTuiApp(store=static_store, clock=clock, config=config)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        await pilot.press("n")  # moved away: nothing
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert "a New" in screen_text(app)  # the footer shows the mapped key
        await pilot.press("ctrl+j")
        assert app.screen.selected_name() == "paper-bot"
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        help_text = rendered(app.screen.query_one("#help-keys", Static).content)
        new_row = next(line for line in help_text.splitlines() if "[home.new]" in line)
        assert new_row.split()[0] == "a", new_row  # the mapped key, with the id to write a keymap
        await pilot.press("escape")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, WizardScreen), what="wizard on a")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), what="home")
        await pilot.press("ctrl+q")  # Textual's quit, moved: does not quit
        await pilot.pause()
        assert app.is_running
        await pilot.press("ctrl+k")
        from textual.command import CommandPalette

        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="palette on ctrl+k")
        await pilot.press("escape")
        await pilot.press("ctrl+x")
        await pilot.pause()
    assert app.return_value == 0


def rendered(renderable: Any, width: int = 120) -> str:
    from rich.console import Console

    with open(os.devnull, "w") as null:
        console = Console(width=width, record=True, file=null)
        console.print(renderable)
        return console.export_text()


def test_help_shows_the_mapped_keys() -> None:
    from alpaca_tui.tui.screens.help import help_renderable

    text = rendered(help_renderable({"home.new": "a", "tester.send": "ctrl+enter,ctrl+s"}))
    new_row = next(line for line in text.splitlines() if "[home.new]" in line)
    assert new_row.split()[0] == "a", new_row
    send_row = next(line for line in text.splitlines() if "[tester.send]" in line)
    assert send_row.startswith("ctrl+enter / ctrl+s"), send_row


async def test_a_bad_config_is_a_warning_naming_the_key(static_store: Any, clock: FakeClock,
                                                        tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[keys]\n"home.nwe" = "a"\n"home.delete" = "n"\n[ui]\ntheme = "no-such-theme"\n'
                    'time = "gmt"\n')
    app = AlpacaTuiApp(store=static_store, clock=clock, config=load_config(path))
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        messages = [n.message for n in app._notifications]
        for key in ('keys."home.nwe"', "ui.theme", "ui.time"):
            assert any(key in m for m in messages), (key, messages)
        assert all("\n" not in m for m in messages)
        # home.delete moved onto n, which home.new has
        assert any("n: home.new and home.delete" in m for m in messages), messages


async def test_theme_and_local_time_are_applied(static_store: Any, clock: FakeClock,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        app = AlpacaTuiApp(store=static_store, clock=clock, config=Config(theme="nord", time="local"))
        async with app.run_test(size=(100, 30)) as pilot:
            await loaded(pilot)
            assert app.theme == "nord"
            app.screen.select("paper-bot")
            await pilot.pause()
            summary = str(app.screen.query_one("#summary").render())
            assert "16:57 JST" in summary, summary  # verified 3 minutes before 07:57 UTC, in Tokyo
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
