"""Details screen and the home check key, against the real emulator."""

from __future__ import annotations

import sys
import threading
import types
from typing import Any

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.tui.app import AlpacaTuiApp
from alpaca_tui.tui.screens.details import DetailsScreen
from alpaca_tui.tui.screens.home import HomeScreen
from alpaca_tui.tui.widgets.token_panel import TokenPanel
from tests.tui.conftest import screen_text, wait_for


async def ready(pilot: Any) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.engine is not None and app.profiles_loaded, what="engine")


async def test_check_from_home_records_the_result(seeded: Any, clock: FakeClock) -> None:
    store, emu, _ = seeded
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        home = app.screen
        assert isinstance(home, HomeScreen)
        home.select("paper")
        await pilot.press("c")
        await wait_for(pilot, lambda: "paper" in app.check_results, what="check finished")
        assert app.check_results["paper"].ok
        assert {r.api.value for r in app.check_results["paper"].results} == {"trading", "data"}
        await wait_for(pilot, lambda: app.profile("paper").last_check_ok is True, what="recorded")
        assert store.get_profile("paper").last_check_ok is True
        await wait_for(pilot, lambda: "✓ now" in screen_text(app), what="verified badge")
        # a revoked key fails the check and says so
        emu.revoke(store.load_bundle("broker-sandbox-key").active.key_id)
        home.select("broker-sandbox-key")
        await pilot.press("c")
        await wait_for(pilot, lambda: "broker-sandbox-key" in app.check_results, what="second check")
        assert not app.check_results["broker-sandbox-key"].ok
        await wait_for(pilot, lambda: app.profile("broker-sandbox-key").last_check_ok is False,
                       what="failure recorded")


async def test_details_reveal_toggles_and_legacy_has_no_token_panel(seeded: Any, clock: FakeClock) -> None:
    store, emu, _ = seeded
    secret = store.load_bundle("paper").active
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        app.screen.select("paper")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen), what="details")
        details = app.screen
        assert not details.query(TokenPanel)  # key + secret: no access token
        text = screen_text(app)
        assert secret.key_id not in text and secret.secret not in text
        assert "v reveals" in text
        await pilot.press("v")
        await wait_for(pilot, lambda: secret.secret in screen_text(app), what="revealed")
        assert secret.key_id in screen_text(app)
        await pilot.press("v")
        await pilot.pause()
        assert secret.secret not in screen_text(app)
        # revealed secrets are hidden again when the screen is left
        await pilot.press("v")
        await wait_for(pilot, lambda: secret.secret in screen_text(app), what="revealed again")
        await pilot.press("escape")
        assert isinstance(app.screen, HomeScreen)
        assert details.revealed is None


async def test_deleting_the_shown_credential_from_the_palette_closes_details(seeded: Any,
                                                                             clock: FakeClock) -> None:
    store, emu, _ = seeded
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        app.open_details("broker-sandbox-key")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen), what="details")
        app.request_delete("broker-sandbox-key")  # what "credential: … — delete" runs
        await pilot.pause()
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), what="back home")
        assert not store.has_profile("broker-sandbox-key")


class Notices:
    """Every notification's text, in order (the app's own ``notify``, still called)."""

    def __init__(self, monkeypatch: Any) -> None:
        self.texts: list[str] = []
        real = AlpacaTuiApp.notify

        def notify(app: AlpacaTuiApp, message: str, **kw: Any) -> None:
            self.texts.append(message)
            real(app, message, **kw)

        monkeypatch.setattr(AlpacaTuiApp, "notify", notify)


class HeldEngine(types.ModuleType):
    """``alpaca_tui.core.engine`` as the app's engine-import worker finds it in ``sys.modules``:
    taking ``Engine`` from it waits until :meth:`release` (a slow machine's import, as long as
    the test needs), then gives the real class, or fails (``fail``: an import that breaks)."""

    def __init__(self, fail: bool = False) -> None:
        import alpaca_tui.core.engine as real

        super().__init__(real.__name__)
        self._real, self._fail = real, fail
        self._released = threading.Event()

    def release(self) -> None:
        self._released.set()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # the import system's own questions (__path__, ...): at once
            raise AttributeError(name)
        if not self._released.wait(30):
            raise ImportError("the test never released the engine")
        if self._fail:
            raise ImportError("cannot import name 'Engine' (a broken install)")
        return getattr(self._real, name)


async def check_paper_before_the_engine(pilot: Any, times: int = 1) -> None:
    """Once the list is there (the engine held back), select ``paper`` and press ``c``."""
    app = pilot.app
    await wait_for(pilot, lambda: app.profiles_loaded, what="the list")
    home = app.screen
    assert isinstance(home, HomeScreen)
    home.select("paper")
    for _ in range(times):
        await pilot.press("c")


async def test_a_check_asked_for_while_the_engine_loads_runs_once_it_has(
        seeded: Any, clock: FakeClock, monkeypatch: Any) -> None:
    """The list comes before the auth engine: `c` pressed in that gap used to be refused ("still
    loading; try again"). It now waits for the engine, once however often it was pressed."""
    store, emu, _ = seeded
    held = HeldEngine()
    monkeypatch.setitem(sys.modules, "alpaca_tui.core.engine", held)
    notices = Notices(monkeypatch)
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await check_paper_before_the_engine(pilot, times=3)
        assert app.engine is None
        assert "checking paper once the auth engine has loaded…" in notices.texts
        assert "paper" not in app.check_results and not any("still loading" in t for t in notices.texts)
        assert "loading auth engine…" in screen_text(app)
        held.release()
        await wait_for(pilot, lambda: "paper" in app.check_results, what="the check, after the engine")
        assert app.engine is not None and app.check_results["paper"].ok
        await pilot.pause(0.3)
        assert notices.texts.count("checking paper…") == 1, notices.texts


async def test_what_waited_for_an_engine_that_failed_to_load_is_dropped_and_said(
        seeded: Any, clock: FakeClock, monkeypatch: Any) -> None:
    store, emu, _ = seeded
    held = HeldEngine(fail=True)
    monkeypatch.setitem(sys.modules, "alpaca_tui.core.engine", held)
    notices = Notices(monkeypatch)
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await check_paper_before_the_engine(pilot)
        assert "checking paper once the auth engine has loaded…" in notices.texts
        held.release()
        await wait_for(pilot, lambda: "not done (no auth engine): check paper" in notices.texts,
                       what="the dropped check")
        assert "paper" not in app.check_results
        await wait_for(pilot, lambda: "no auth engine (checks and tokens are off)" in screen_text(app),
                       what="the status line saying so")
        assert "loading auth engine" not in screen_text(app)
        await pilot.press("c")  # no engine and none coming: said at once, nothing waits
        await pilot.pause(0.1)
        assert notices.texts[-1] == "the auth engine is not loaded"
