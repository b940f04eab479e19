"""Home screen against a real store (encrypted-file backend in a tmp ALPACA_TUI_HOME)."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Input

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.tui.app import AlpacaTuiApp
from alpaca_tui.tui.dialogs.confirm import ConfirmDialog
from alpaca_tui.tui.screens.help import HelpScreen
from alpaca_tui.tui.screens.home import HomeScreen
from tests.tui.conftest import screen_text, wait_for


def row_keys(app: AlpacaTuiApp) -> list[str]:
    table = app.screen.query_one("#creds", DataTable)
    return [str(r.key.value) for r in table.ordered_rows]


async def loaded(pilot: Any) -> None:
    await wait_for(pilot, lambda: pilot.app.profiles_loaded and isinstance(pilot.app.screen, HomeScreen),
                   what="profiles loaded")
    await pilot.pause()


async def test_grouped_by_environment_with_badges(static_store: Any, clock: FakeClock) -> None:
    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        assert row_keys(app) == ["env:live", "p:live-trader", "env:paper", "p:paper-bot",
                                 "env:broker-live", "empty:broker-live", "env:broker-sandbox",
                                 "p:sandbox-oauth"]
        text = screen_text(app)
        assert "🔒 encrypted file" in text  # secret-store badge in the header
        assert "⚠ LIVE" in text
        assert "AKLI…AAAA" in text and "PKPA…BBBB" in text  # masked IDs only
        assert "llllllll" not in text and "pppppppp" not in text
        assert "▲ 10d" in text  # expiring within 14 days
        assert "✗ expired" in text
        assert "● 200d" in text
        assert "✓ 3m ago" in text
        # live rows are drawn in the warning colour
        table = app.screen.query_one("#creds", DataTable)
        name_cell = table.get_cell("p:live-trader", "name")
        assert "orange" in str(name_cell.style)


async def test_filter_narrows_and_escape_clears(static_store: Any, clock: FakeClock) -> None:
    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        await pilot.press("slash")
        assert app.screen.query_one("#filter", Input).has_focus
        await pilot.press(*"pap")
        assert [k for k in row_keys(app) if k.startswith("p:")] == ["p:paper-bot"]
        assert "1 match" in screen_text(app)
        await pilot.press("slash")  # inside the box "/" is just a character
        assert app.screen.query_one("#filter", Input).value == "pap/"
        await pilot.press("backspace")
        await pilot.press("enter")
        assert app.screen.query_one("#creds", DataTable).has_focus
        await pilot.press("escape")
        assert len([k for k in row_keys(app) if k.startswith("p:")]) == 3
        # filter on a field that is not the name: the flow
        await pilot.press("slash")
        app.screen.query_one("#filter", Input).value = "oauth"
        await pilot.press("enter")
        assert [k for k in row_keys(app) if k.startswith("p:")] == ["p:sandbox-oauth"]


async def test_delete_asks_first_then_removes_from_store(static_store: Any, clock: FakeClock) -> None:
    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        home = app.screen
        assert isinstance(home, HomeScreen)
        home.select("paper-bot")
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmDialog)
        assert "paper-bot" in screen_text(app)
        await pilot.press("n")  # no: nothing happens
        assert isinstance(app.screen, HomeScreen)
        assert static_store.has_profile("paper-bot")
        await pilot.press("d", "y")
        await wait_for(pilot, lambda: not static_store.has_profile("paper-bot"), what="removed")
        await wait_for(pilot, lambda: "p:paper-bot" not in row_keys(app), what="row gone")
        assert [p.name for p in static_store.list_profiles()] == ["live-trader", "sandbox-oauth"]


async def test_help_lists_every_binding_with_a_description(static_store: Any, clock: FakeClock) -> None:
    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HomeScreen) is False
        assert isinstance(app.screen, HelpScreen)
        from alpaca_tui.tui.screens.help import binding_sections

        for _title, bindings in binding_sections():
            for b in bindings:
                assert b.description, f"binding {b.key} -> {b.action} has no description"
        body = app.screen.query_one("#help-body")
        assert body.virtual_size.height > 24  # longer than the screen: scrollable
        await pilot.press("escape")
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("q")
        assert isinstance(app.screen, HomeScreen)


async def palette(pilot: Any, query: str) -> None:
    """Open the command palette (ctrl+p), search, and run the best hit (enter)."""
    from textual.command import CommandInput, CommandList, CommandPalette

    app = pilot.app
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="palette")
    app.screen.query_one(CommandInput).value = query
    hits = app.screen.query_one(CommandList)
    await wait_for(pilot, lambda: hits.option_count > 0 and query.split()[0] in str(
        hits.get_option_at_index(0).prompt), what=f"hits for {query!r}")
    await pilot.press("down", "enter")


async def test_palette_runs_credential_and_env_commands(static_store: Any, clock: FakeClock) -> None:
    from alpaca_tui.tui.screens.details import DetailsScreen

    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        await palette(pilot, "credential: paper-bot — details")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen), what="details via palette")
        assert app.screen.profile_name == "paper-bot"
        await pilot.press("escape")
        await palette(pilot, "env: show only Paper trading")
        await wait_for(pilot, lambda: [k for k in row_keys(app) if k.startswith("p:")] == ["p:paper-bot"],
                       what="env filter via palette")
        # the palette lists every command family
        from alpaca_tui.tui.commands import AlpacaCommands

        provider = AlpacaCommands(app.screen)
        texts = [t for t, _h, _cb in provider.commands()]
        for prefix in ("env:", "credential:", "token:", "request:"):
            assert any(t.startswith(prefix) for t in texts), prefix
        assert "token: sandbox-oauth — refresh now" in texts
        assert "request: GET /v2/account as paper-bot" in texts


async def test_quit_with_q(static_store: Any, clock: FakeClock) -> None:
    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value == 0


async def test_first_run_offers_demo(store: Any, clock: FakeClock) -> None:
    app = AlpacaTuiApp(store=store, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="demo offer")
        assert "Demo mode" in screen_text(app)
        await pilot.press("n")
        assert isinstance(app.screen, HomeScreen)
        assert "no credentials yet — press n to add one" in screen_text(app)


async def test_keys_typed_ahead_reach_the_filter(static_store: Any, clock: FakeClock) -> None:
    """A burst ("/pap⏎" arriving in one read, e.g. over a slow SSH link) filters as typed."""
    from textual import events

    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        for key, char in [("slash", "/"), ("p", "p"), ("a", "a"), ("p", "p"), ("enter", "\r")]:
            event = events.Key(key, char)
            event.set_sender(app)
            app._driver.send_message(event)
        await wait_for(pilot, lambda: app.screen.query_one("#filter", Input).value == "pap", what="burst")
        assert [k for k in row_keys(app) if k.startswith("p:")] == ["p:paper-bot"]
        assert app.screen.query_one("#creds", DataTable).has_focus
