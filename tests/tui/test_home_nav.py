"""The home list as a lazygit / k9s user drives it (issue 15): vim keys and Home/End, group
headers that never take the cursor, the new credential selected after saving, a real
environment filter from the palette, columns that fit 80 columns, "1 match / 2 matches"."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from textual.widgets import DataTable, Input

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from alpaca_tui.core.redact import mask
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope
from alpaca_tui.tui.app import AlpacaTuiApp
from alpaca_tui.tui.dialogs.confirm import ConfirmDialog
from alpaca_tui.tui.screens.home import HomeScreen
from tests.tui.conftest import screen_text, wait_for
from tests.tui.test_home import loaded, palette, row_keys
from tests.tui.test_wizard import open_wizard, pick


def cursor_key(app: AlpacaTuiApp) -> str:
    table = app.screen.query_one("#creds", DataTable)
    return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)


async def test_vim_keys_home_end_and_headers_never_take_the_cursor(static_store: Any,
                                                                   clock: FakeClock) -> None:
    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        assert cursor_key(app) == "p:live-trader"
        moves = [("j", "p:paper-bot"), ("j", "p:sandbox-oauth"), ("j", "p:sandbox-oauth"),
                 ("k", "p:paper-bot"), ("k", "p:live-trader"), ("k", "p:live-trader"),
                 ("G", "p:sandbox-oauth"), ("g", "p:live-trader"), ("end", "p:sandbox-oauth"),
                 ("home", "p:live-trader"), ("down", "p:paper-bot"), ("down", "p:sandbox-oauth"),
                 ("up", "p:paper-bot"), ("up", "p:live-trader"), ("up", "p:live-trader"),
                 ("pagedown", "p:sandbox-oauth"), ("pageup", "p:live-trader")]
        for key, want in moves:
            await pilot.press(key)
            assert cursor_key(app) == want, (key, cursor_key(app))
        # a click (or anything else) that lands on a header moves on to a credential
        table = app.screen.query_one("#creds", DataTable)
        table.move_cursor(row=table.get_row_index("env:paper"))
        await pilot.pause()
        assert cursor_key(app).startswith("p:"), cursor_key(app)


async def test_after_saving_the_new_credential_is_selected(static_store: Any, clock: FakeClock) -> None:
    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        wiz = await open_wizard(pilot)
        await pick(pilot, "#env-list", "paper")
        await pilot.press("enter")
        wiz.query_one("#name", Input).value = "paper-zz-new"
        wiz.query_one("#key-id", Input).value = "PKNEWNEWNEW000000001"
        wiz.query_one("#secret", Input).value = "n" * 40
        await pilot.press("ctrl+n")
        await pick(pilot, "#expiry-list", "never")
        await pilot.press("enter")  # save
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="check offer")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen)
                       and "p:paper-zz-new" in row_keys(app), what="listed")
        await pilot.pause(0.2)
        assert cursor_key(app) == "p:paper-zz-new"
        assert app.screen.selected_name() == "paper-zz-new"


def _mixed_store(store: Any, clock: FakeClock) -> Any:
    """Two live trading credentials, and a broker-live one whose scopes mention trading."""
    now = clock.now()
    rows = [
        (Profile("alpha", Env.LIVE, Flow.LEGACY, "", created_at=now, note="main account"),
         Secret("AKALPHA0000000000001", "a" * 40)),
        (Profile("omega", Env.LIVE, Flow.LEGACY, "", created_at=now),
         Secret("AKOMEGA0000000000002", "o" * 40)),
        (Profile("bl-trading", Env.BROKER_LIVE, Flow.CLIENT_SECRET, "", created_at=now,
                 access=AccessMatrix.read_only().with_level(Scope.TRADING, Level.RW),
                 expires_at=now + timedelta(days=90)), Secret("CKBLTRADING000000003", "b" * 64)),
        (Profile("paper-live-test", Env.PAPER, Flow.LEGACY, "", created_at=now),
         Secret("PKPAPERLIVE000000004", "p" * 40)),
    ]
    for profile, secret in rows:
        store.add_profile(profile.with_changes(key_id_masked=mask(secret.key_id)),
                          SecretBundle(active=secret))
    return store


async def test_palette_environment_filter_is_an_environment_filter(store: Any, clock: FakeClock) -> None:
    app = AlpacaTuiApp(store=_mixed_store(store, clock), clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        await palette(pilot, "env: show only Live trading")
        await wait_for(pilot, lambda: [k for k in row_keys(app) if k.startswith("p:")]
                       == ["p:alpha", "p:omega"], what="only the live trading credentials")
        assert "Live trading only" in screen_text(app)
        await palette(pilot, "env: show only Broker live")
        await wait_for(pilot, lambda: [k for k in row_keys(app) if k.startswith("p:")] == ["p:bl-trading"],
                       what="only broker live")
        await palette(pilot, "env: show all environments")
        await wait_for(pilot, lambda: len([k for k in row_keys(app) if k.startswith("p:")]) == 4, what="all")
        # the text filter still works on its own, and says "1 match" / "2 matches"
        await pilot.press("slash", *"ak")
        assert [k for k in row_keys(app) if k.startswith("p:")] == ["p:alpha", "p:omega"]  # AK… key IDs
        text = screen_text(app)
        assert "2 matches “ak”" in text, text
        await pilot.press("backspace", "backspace", *"omega")
        assert "1 match “omega”" in screen_text(app)


async def test_80_columns_keep_the_last_check_column(static_store: Any, clock: FakeClock) -> None:
    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        table = app.screen.query_one("#creds", DataTable)
        keys = [str(c.key.value) for c in table.ordered_columns]
        assert "verified" in keys and "expires" in keys and "token" in keys, keys
        assert "✓ 3m ago" in screen_text(app)
        width = sum(c.get_render_width(table) for c in table.ordered_columns)
        assert width <= table.scrollable_content_region.width, (width, keys)
        assert table.columns[table.ordered_columns[0].key].width >= 12  # the name stays readable
    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(60, 24)) as pilot:  # narrower still: lower priorities go first
        await loaded(pilot)
        table = app.screen.query_one("#creds", DataTable)
        keys = [str(c.key.value) for c in table.ordered_columns]
        assert keys[0] == "name" and "expires" in keys and "verified" in keys, keys
        assert "key" not in keys
        width = sum(c.get_render_width(table) for c in table.ordered_columns)
        assert width <= table.scrollable_content_region.width, (width, keys)


async def test_palette_lists_our_commands_first_then_textuals(static_store: Any, clock: FakeClock) -> None:
    from textual.command import CommandInput, CommandList, CommandPalette

    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        ours = ("env:", "credential:", "token:", "request:", "app:")

        def prompts() -> list[str]:
            hits = app.screen.query_one(CommandList)
            return [str(hits.get_option_at_index(i).prompt).split("\n")[0] for i in range(hits.option_count)]

        def ordered(texts: list[str]) -> bool:
            kinds = [t.startswith(ours) for t in texts]
            return True in kinds and False in kinds and kinds == sorted(kinds, reverse=True)

        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="palette")
        await pilot.press("down")  # the list of every command
        await wait_for(pilot, lambda: any(t.startswith("Quit") for t in prompts()), what="system commands")
        assert ordered(prompts()), prompts()
        for query in ("e", "th", "qu"):  # a search: every match of ours above every system match
            app.screen.query_one(CommandInput).value = query
            await wait_for(pilot, lambda: ordered(prompts()), what=f"ordered hits for {query!r}")
