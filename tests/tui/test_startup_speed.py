"""What the list needs before it shows: the index file only (``peek``: before any secret
backend opens, so also behind the passphrase dialog), and a table that does not measure
every cell of fixed-width columns (``ListTable``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.tui.app import AlpacaTuiApp, _default_store_opener
from alpaca_tui.tui.dialogs.passphrase import PassphraseDialog
from alpaca_tui.tui.format import ENV_ORDER
from alpaca_tui.tui.widgets.list_table import ListTable
from tests.tui.conftest import add_static_profiles, screen_text, wait_for

RIGHT = "the right passphrase"


@pytest.fixture
def locked_home(alpaca_home: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Path:
    from alpaca_tui.core.store import Store

    monkeypatch.delenv("ALPACA_TUI_PASSPHRASE_FILE")
    add_static_profiles(Store.open(alpaca_home, backend="file", passphrase=RIGHT, clock=clock), clock)
    return alpaca_home


async def test_list_shows_before_the_store_opens(locked_home: Path, clock: FakeClock) -> None:
    app = AlpacaTuiApp(store_opener=_default_store_opener, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, PassphraseDialog), what="passphrase dialog")
        assert app.store is None  # still locked ...
        assert app.profiles_loaded  # ... and the list is there, from the index file alone
        assert [p.name for p in app.profiles] == ["live-trader", "paper-bot", "sandbox-oauth"]
        home = app.screen_stack[0]
        await pilot.pause()
        assert "paper-bot" in str(home.query_one("#creds", DataTable).get_row("p:paper-bot")[0])
        app.screen.query_one("#pass1").value = RIGHT
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.store is not None and app.profiles_loaded, what="store")
        assert "3 credentials" in screen_text(app)


async def test_no_index_no_early_list(alpaca_home: Path, clock: FakeClock) -> None:
    assert _default_store_opener.peek() is None  # a first run: nothing to show, no early demo offer
    (alpaca_home).mkdir(parents=True, exist_ok=True)
    (alpaca_home / "index.json").write_text("{broken")
    assert _default_store_opener.peek() is None  # the opener reports a damaged index, not the peek


class Tables(App[None]):
    def __init__(self, auto: bool) -> None:
        super().__init__()
        self.auto = auto

    def compose(self) -> ComposeResult:
        yield ListTable(id="ours")
        yield DataTable(id="theirs")

    def on_mount(self) -> None:
        for table in self.query(DataTable):
            for i, width in enumerate((12, 8, 30)):
                table.add_column(f"c{i}", width=None if self.auto and i == 2 else width)
            for n in range(500):
                table.add_row(f"row {n}", "x" * (n % 9), f"[b]wide {'y' * (n % 40)}[/b]")


@pytest.mark.parametrize("auto", [False, True])
async def test_list_table_sizes_like_a_data_table(auto: bool) -> None:
    app = Tables(auto)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.pause()
        ours: Any = app.query_one("#ours", DataTable)
        theirs: Any = app.query_one("#theirs", DataTable)
        assert ours.virtual_size == theirs.virtual_size
        assert ours.virtual_size.height == 501  # header + 500 rows
        assert [c.get_render_width(ours) for c in ours.ordered_columns] == \
               [c.get_render_width(theirs) for c in theirs.ordered_columns]


STARTUP_CHILD = r"""
import asyncio, sys
from pathlib import Path
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.store import Store
from alpaca_tui.tui.app import AlpacaTuiApp, _default_store_opener
from alpaca_tui.tui.format import ENV_ORDER

store = Store.open(Path(sys.argv[1]), backend="file", passphrase="a passphrase for this test")
store.add_profile(Profile("emu-paper", Env.PAPER, Flow.LEGACY, "PK…AAAA",
                          endpoints={Api.TRADING: "http://127.0.0.1:9/", Api.DATA: "http://127.0.0.1:9"}),
                  SecretBundle(active=Secret("PKEMU00000000000AAAA", "e" * 40)))
del store

async def main():
    app = AlpacaTuiApp(store_opener=_default_store_opener)
    async with app.run_test(size=(100, 30)) as pilot:
        while not app.profiles_loaded:
            await pilot.pause(0.01)
        loaded = [m for m in ("httpx", "alpaca_tui.core.engine", "alpaca_tui.tui.screens.details",
                              "alpaca_tui.tui.screens.tester", "alpaca_tui.tui.dialogs.wizard",
                              "alpaca_tui.core.proxy") if m in sys.modules]
        print("LOADED", " ".join(loaded) or "-")

asyncio.run(main())
"""


def test_the_list_needs_no_other_screen_and_no_httpx(tmp_path: Path) -> None:
    """Start-up imports only what the list needs: no other screen (the keymap check imported
    every one of them even with no keymap), no httpx (stored endpoint URLs are re-validated
    without it, environments.PLAIN_URL), no engine (it comes after the list)."""
    import subprocess
    import sys

    from tests.conftest import child_pythonpath, subprocess_env

    passfile = tmp_path / "pass"
    passfile.write_text("a passphrase for this test\n")
    passfile.chmod(0o600)
    env = subprocess_env({"ALPACA_TUI_HOME": str(tmp_path / "home"), "ALPACA_TUI_KEYRING": "file",
                          "ALPACA_TUI_PASSPHRASE_FILE": str(passfile),
                          "ALPACA_TUI_CONFIG": str(tmp_path / "no-config.toml"),
                          "PYTHONPATH": child_pythonpath(str(Path(__file__).resolve().parents[2]))})
    out = subprocess.run([sys.executable, "-c", STARTUP_CHILD, str(tmp_path / "home")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "LOADED -" in out.stdout, out.stdout



def _loaded_after_mount(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether the list was there when the app's on_mount returned (before the first frame)."""
    seen: list[bool] = []
    original = AlpacaTuiApp.on_mount

    def spy(self: AlpacaTuiApp) -> None:
        original(self)
        seen.append(self.profiles_loaded)

    monkeypatch.setattr(AlpacaTuiApp, "on_mount", spy)
    return seen


async def test_a_small_local_index_is_in_the_first_frame(static_store: Any, clock: FakeClock,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A small local index is read on the UI thread when the store is ready: the list is there
    before the first frame (no worker round trip, no second frame for the rows)."""
    seen = _loaded_after_mount(monkeypatch)
    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        assert seen == [True]
        await pilot.pause()
        assert "paper-bot" in str(app.screen.query_one("#creds", DataTable).get_row("p:paper-bot")[0])


async def test_a_big_index_is_read_in_a_worker(static_store: Any, clock: FakeClock,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from alpaca_tui.tui import services

    monkeypatch.setattr(services, "SMALL_INDEX", 10)  # every index is "big"
    seen = _loaded_after_mount(monkeypatch)
    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.profiles_loaded, what="list")
        assert seen == [False]  # the worker's list came after the first frame
        assert [p.name for p in app.profiles] == ["live-trader", "paper-bot", "sandbox-oauth"]


async def test_filling_the_list_is_linear(static_store: Any, clock: FakeClock,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Each added row re-validates the cursor; keeping it off the environment headings must
    not rebuild the table's whole row list each time (500 rows took 0.3 s, quadratic)."""
    from alpaca_tui.core.credentials import Flow, Profile
    from alpaca_tui.core.environments import Env
    from alpaca_tui.tui.widgets.lists import NavTable

    rebuilt = 0
    original = DataTable.ordered_rows

    def counting(self: DataTable[Any]) -> Any:
        nonlocal rebuilt
        rebuilt += 1
        return original.fget(self)  # type: ignore[attr-defined]

    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.profiles_loaded, what="list")
        envs = list(Env)
        app.session.profiles = [Profile(f"p{i:03d}", envs[i % 4], Flow.LEGACY, "PK…0000") for i in range(300)]
        monkeypatch.setattr(NavTable, "ordered_rows", property(counting))
        home = app.screen
        home.populate()  # type: ignore[attr-defined]
        table = home.query_one("#creds", NavTable)
        table.add_pending_rows()  # the rows below the first screen too
        assert table.row_count == 300 + 4
        assert rebuilt < 20, rebuilt
        assert str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value).startswith("p:")


# -- rows below the first screen come after the first frame (ListTable.add_rows_soon) ---------

def _many(n: int) -> list[Any]:
    from alpaca_tui.core.credentials import Flow, Profile
    from alpaca_tui.core.environments import Env

    envs = list(Env)
    return [Profile(f"p{i:03d}", envs[i % 4], Flow.LEGACY, "PK…0000") for i in range(n)]


def _keys(table: DataTable[Any]) -> list[str]:
    return [str(table.coordinate_to_cell_key((row, 0)).row_key.value) for row in range(table.row_count)]


async def _home_with(app: AlpacaTuiApp, pilot: Any, n: int) -> tuple[Any, Any]:
    from alpaca_tui.tui.widgets.lists import NavTable

    await wait_for(pilot, lambda: app.profiles_loaded, what="list")
    app.session.profiles = _many(n)
    home = app.screen
    return home, home.query_one("#creds", NavTable)


async def test_a_long_list_fills_one_screen_first_then_the_rest(static_store: Any, clock: FakeClock) -> None:
    """500 credentials: one screen's rows before the next frame, the scrollable height already
    that of all 504, and after the frame every row, in the same order a full fill gives."""
    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        home, table = await _home_with(app, pilot, 500)
        home.populate()
        assert 30 <= table.row_count <= 40, table.row_count  # one screen (30 lines) and no more
        assert table.pending_rows == 504 - table.row_count
        first_screen = _keys(table)
        await pilot.pause()
        assert table.pending_rows == 0
        keys = _keys(table)
        assert keys[:len(first_screen)] == first_screen
        assert table.virtual_size.height == 504 + 1  # the header line
        expected = []
        for env in ENV_ORDER:
            expected.append(f"env:{env.value}")
            expected += sorted(f"p:{p.name}" for p in app.session.profiles if p.env is env)
        assert keys == expected


async def test_the_scrollable_height_counts_the_rows_still_to_come(static_store: Any,
                                                                  clock: FakeClock) -> None:
    from textual.geometry import Size

    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        home, table = await _home_with(app, pilot, 500)
        home.populate()
        added = table.row_count
        table._update_dimensions([])  # what the table's idle handler does before the next frame
        assert table.row_count == added and table.pending_rows  # still waiting
        assert table.virtual_size == Size(table.virtual_size.width, 504 + 1)


async def test_end_right_after_a_fill_goes_to_the_real_last_row(static_store: Any, clock: FakeClock) -> None:
    """G / End (``list.last``) before the rest was added: the last credential, not the last
    row of the first screen."""
    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        home, table = await _home_with(app, pilot, 500)
        home.populate()
        assert table.pending_rows
        table.action_last()  # what the key runs, with no frame in between
        last = sorted(p.name for p in app.session.profiles if p.env is ENV_ORDER[-1])[-1]
        assert home.selected_name() == last
        await pilot.pause()
        assert home.selected_name() == last


async def test_moving_down_past_the_first_screen_adds_the_rest_at_once(static_store: Any,
                                                                      clock: FakeClock) -> None:
    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        home, table = await _home_with(app, pilot, 500)
        home.populate()
        added = table.row_count
        table.move_cursor(row=added - 1)
        table.action_cursor_down()  # no frame in between: the rest is added for this move
        assert table.pending_rows == 0
        assert table.cursor_coordinate.row == added
        await pilot.pause()
        assert table.row_count == 504


async def test_a_selection_below_the_first_screen_is_kept(static_store: Any, clock: FakeClock) -> None:
    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        home, table = await _home_with(app, pilot, 500)
        home.populate()
        await pilot.pause()
        home.select("p398")  # far below the first screen
        assert home.selected_name() == "p398"
        home.populate()  # a repaint (a tick's reload, a filter): the cursor stays on it
        assert home.selected_name() == "p398"
        await pilot.pause()
        assert home.selected_name() == "p398" and table.row_count == 504


async def test_fills_in_quick_succession_never_mix_or_repeat_rows(static_store: Any,
                                                                  clock: FakeClock) -> None:
    """Typing a filter repopulates on every key: a fill scheduled for an earlier list must not
    add its rows to the next one."""
    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        home, table = await _home_with(app, pilot, 500)
        home.populate()
        home.filter_text = "p1"
        home.populate()
        home.filter_text = ""
        home.populate()
        home.filter_text = "p2"
        home.populate()
        await pilot.pause()
        keys = _keys(table)
        assert len(keys) == len(set(keys))
        names = {k[2:] for k in keys if k.startswith("p:")}
        assert names == {p.name for p in app.session.profiles if "p2" in p.name}


async def test_select_reaches_a_row_not_added_yet(static_store: Any, clock: FakeClock) -> None:
    app = AlpacaTuiApp(store=static_store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        home, table = await _home_with(app, pilot, 500)
        home.populate()
        assert table.pending_rows
        home.select("p499")
        assert home.selected_name() == "p499"


# -- the demo's list in the first frame when its child has reported by then ------------------

class _Starter:
    """A demo factory like DemoStarter: ``ready_now`` says whether calling it would not wait."""

    def __init__(self, clock: FakeClock, ready: bool) -> None:
        self.clock, self.ready, self.session = clock, ready, None
        self.calls: list[str] = []

    def ready_now(self) -> bool:
        return self.ready

    def __call__(self) -> Any:
        import threading

        from alpaca_tui.tui.demo_session import DemoSession

        self.calls.append(threading.current_thread().name)
        self.session = DemoSession.start(self.clock)
        return self.session


@pytest.mark.parametrize("ready", [True, False])
async def test_a_demo_that_has_reported_is_listed_in_the_first_frame(clock: FakeClock, ready: bool,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    seen = _loaded_after_mount(monkeypatch)
    starter = _Starter(clock, ready)
    app = AlpacaTuiApp(demo_factory=starter, clock=clock, offer_demo=False)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.profiles_loaded and app.demo is not None, what="demo list")
            assert seen == [ready]  # ready: taken on the UI thread before the first frame
            assert (starter.calls == [threading.current_thread().name]) is ready
            table = app.screen.query_one("#creds", DataTable)
            assert "sandbox-readonly-custom" in str(table.get_row("p:sandbox-readonly-custom")[0])
    finally:
        if starter.session is not None:
            starter.session.close()
