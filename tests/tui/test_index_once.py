"""Start-up reads the local index once: the list the peek showed before the store opened
(``services.DefaultStoreOpener.peek``) is the store's own when ``index.json`` is the same file,
unchanged since the stamp taken before the peek read it (``app._store_ready``). Any change made
in between (another process, a repair while opening) is read again, and the table is filled
again only for a list that changed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from alpaca_tui.core.redact import mask
from alpaca_tui.core.store import fileindex, index
from alpaca_tui.tui.app import AlpacaTuiApp, _default_store_opener
from alpaca_tui.tui.screens.home import HomeScreen
from tests.tui.conftest import half_rotated_home, screen_text, wait_for

NAMES = ["live-trader", "paper-bot", "sandbox-oauth"]


class Counts:
    """Reads of ``<home>/index.json`` on the UI thread (the peek's and the store's list; the
    store's own opening reads it in its worker), and fills of the home screen's table once the
    store is open (``refills``: those before it, at mount, fill it with the peek's list)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
        self.ui_reads = 0
        self.fills = 0
        self.fills_before_store: int | None = None
        self.during_first_read: Callable[[], None] | None = None
        path = home / "index.json"
        real_read = index.read_index

        def read(p: Path) -> Any:
            if Path(p) != path or threading.current_thread() is not threading.main_thread():
                return real_read(p)
            self.ui_reads += 1
            doc = real_read(p)
            hook, self.during_first_read = self.during_first_read, None
            if hook is not None:  # a write by another process while this read was under way
                writer = threading.Thread(target=hook)
                writer.start()
                writer.join()
            return doc

        monkeypatch.setattr(index, "read_index", read)  # the peek's (imported when it runs)
        monkeypatch.setattr(fileindex, "read_index", read)  # the store's FileIndex
        real_populate = HomeScreen.populate

        def populate(screen: HomeScreen) -> None:
            self.fills += 1
            real_populate(screen)

        monkeypatch.setattr(HomeScreen, "populate", populate)
        for hook in ("_store_ready", "on_store_failed"):  # the store opened, or could not
            monkeypatch.setattr(AlpacaTuiApp, hook, self._noting(getattr(AlpacaTuiApp, hook)))

    def _noting(self, real: Callable[..., None]) -> Callable[..., None]:
        def hook(app: AlpacaTuiApp, *args: Any) -> None:
            if self.fills_before_store is None:
                self.fills_before_store = self.fills
            real(app, *args)

        return hook

    @property
    def refills(self) -> int:
        assert self.fills_before_store is not None and self.fills_before_store >= 1  # the peek's list
        return self.fills - self.fills_before_store


class OpenerWithHook:
    """The default opener, running ``before_open`` after the peek, before the store opens."""

    def __init__(self, before_open: Callable[[], None]) -> None:
        self.before_open = before_open

    def peek(self) -> Any:
        return _default_store_opener.peek()

    def peek_is_quick(self) -> bool:
        return _default_store_opener.peek_is_quick()

    def __call__(self, ask: Any) -> Any:
        self.before_open()
        return _default_store_opener(ask)


def add_later(store: Any) -> None:
    secret = Secret("PKLATER000000000DDDD", "d" * 40)
    store.add_profile(Profile("added-later", Env.PAPER, Flow.LEGACY, mask(secret.key_id)),
                      SecretBundle(active=secret))


async def started(app: AlpacaTuiApp, pilot: Any) -> None:
    """Until the engine is there and every repaint it asked for has run."""
    await wait_for(pilot, lambda: app.engine is not None and app.store is not None, what="engine")
    for _ in range(3):
        await pilot.pause()


async def test_an_unchanged_index_is_read_and_filled_once(static_store: Any, clock: FakeClock,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    counts = Counts(monkeypatch, static_store.home)
    app = AlpacaTuiApp(store_opener=_default_store_opener, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(app, pilot)
        assert [p.name for p in app.profiles] == NAMES
        assert counts.ui_reads == 1  # the peek's read; the store's list was the same file
        assert counts.refills == 0  # the same list: neither the store nor the engine fills it again
        text = screen_text(app)
        assert "3 credentials · secrets in" in text  # the status line did follow the store ...
        assert "loading auth engine" not in text  # ... and the engine
        assert "paper-bot" in str(app.screen.query_one("#creds", DataTable).get_row("p:paper-bot")[0])

        add_later(static_store)  # later, by another process: the watch compares with the peek's stamp
        app.poll_store()
        await wait_for(pilot, lambda: app.profile("added-later") is not None, what="the added profile")
        assert "added-later" in str(app.screen.query_one("#creds", DataTable).get_row("p:added-later")[0])


async def test_an_index_changed_before_the_store_opens_is_read_again(
        static_store: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    counts = Counts(monkeypatch, static_store.home)
    app = AlpacaTuiApp(store_opener=OpenerWithHook(lambda: add_later(static_store)), clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(app, pilot)
        assert [p.name for p in app.profiles] == ["added-later", *NAMES]
        assert counts.ui_reads == 2  # the peek's, and the store's after the change
        assert counts.refills == 1  # the changed list, once (not again for the engine)
        assert "added-later" in str(app.screen.query_one("#creds", DataTable).get_row("p:added-later")[0])
        assert "4 credentials · secrets in" in screen_text(app)


async def test_an_index_written_during_the_peek_read_is_read_again(
        static_store: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stamp is taken before the peek reads: a write landing while it reads (the peek has the
    old list) shows as a changed stamp when the store opens."""
    counts = Counts(monkeypatch, static_store.home)
    counts.during_first_read = lambda: add_later(static_store)
    app = AlpacaTuiApp(store_opener=_default_store_opener, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(app, pilot)
        assert [p.name for p in app.profiles] == ["added-later", *NAMES]
        assert counts.ui_reads == 2
        assert counts.refills == 1


async def test_an_index_repaired_while_opening_is_read_again(alpaca_home: Path, clock: FakeClock,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A rotation killed after promoting the secret, before the index write: ``open_store``'s
    reconcile rewrites the entry, so the list the peek showed (the old key) is read again."""

    old, new = half_rotated_home(alpaca_home, clock)

    counts = Counts(monkeypatch, alpaca_home)
    app = AlpacaTuiApp(store_opener=_default_store_opener, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(app, pilot)
        assert app.profiles[0].key_id_masked == mask(new.key_id)
        assert counts.ui_reads == 2
        assert counts.refills == 1  # the repaired list
        row = [str(cell) for cell in app.screen.query_one("#creds", DataTable).get_row("p:p")]
        assert mask(new.key_id) in row and mask(old.key_id) not in row


async def test_a_store_that_cannot_open_keeps_the_list_and_repaints_the_status(
        static_store: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    from alpaca_tui.core.errors import StoreError

    def fail() -> None:
        raise StoreError("the keyring is not reachable (a test)")

    counts = Counts(monkeypatch, static_store.home)
    app = AlpacaTuiApp(store_opener=OpenerWithHook(fail), clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.store_error is not None, what="the store error")
        for _ in range(3):
            await pilot.pause()
        assert "✗ the keyring is not reachable (a test)" in screen_text(app)
        assert counts.refills == 0  # the peek's list stays as it was filled
        assert "paper-bot" in str(app.screen.query_one("#creds", DataTable).get_row("p:paper-bot")[0])


async def test_the_engine_arriving_repaints_the_token_cells_not_the_table(
        static_store: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the engine the OAuth rows' token cells can say more (a cached token's time left):
    they are repainted, the table is not filled again. (tick=3600: no tick repaints them.)"""
    from types import SimpleNamespace

    from alpaca_tui.core.engine import Engine
    from alpaca_tui.tui import app as app_module

    def token_state(engine: Engine, name: str) -> Any:
        return SimpleNamespace(expires_at=clock.time() + 300, issued_at=clock.time(), last_error=None)

    monkeypatch.setattr(Engine, "token_state", token_state)
    monkeypatch.setattr(app_module, "ENGINE_DELAY", 0.5)  # time to look before it comes
    counts = Counts(monkeypatch, static_store.home)
    app = AlpacaTuiApp(store_opener=_default_store_opener, clock=clock, tick=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one("#creds", DataTable)
        await wait_for(pilot, lambda: app.store is not None, what="the store")
        assert app.engine is None
        assert str(table.get_cell("p:sandbox-oauth", "token")) == "no token"
        await started(app, pilot)
        assert str(table.get_cell("p:sandbox-oauth", "token")) == "05:00 left"
        assert counts.refills == 0
