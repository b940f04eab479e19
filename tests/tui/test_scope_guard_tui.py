"""The scope guard and error explanations in the TUI, against the real emulator: the request
tester cannot reach an operation of a scope the credential has at "no access" (nor write to a
path the Broker API does not have) without an explicit, red "Send anyway"; unknown reads are
sent with a warning; errors show their cause and fix in the tester and the token panel."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input, Select, Static, TextArea

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.redact import mask
from alpaca_tui.core.scopes import AccessMatrix, Scope
from alpaca_tui.tui.app import AlpacaTuiApp
from alpaca_tui.tui.dialogs.confirm import ConfirmDialog
from alpaca_tui.tui.screens.tester import TesterScreen
from tests.tui.conftest import screen_text, wait_for
from tests.tui.test_tester import history, open_tester
from tests.tui.test_token_panel import open_panel

ACC = "7d6b1f6e-33c5-4c1f-9d6a-0b3c5a1e2f40"
# One operation of each scope (Data: the market-data host), for a credential with no access at all.
ONE_PER_SCOPE: dict[Scope, tuple[Api, str, str]] = {
    Scope.ACCOUNTS: (Api.BROKER, "GET", "/v1/accounts"),
    Scope.FUNDING: (Api.BROKER, "POST", f"/v1beta/accounts/{ACC}/funding_wallet/withdrawal"),
    Scope.ADMIN: (Api.BROKER, "POST", "/v1/oauth/token"),
    Scope.CRYPTO: (Api.BROKER, "POST", f"/v1/accounts/{ACC}/wallets/transfers"),
    Scope.REBALANCING: (Api.BROKER, "GET", "/v1/rebalancing/portfolios"),
    Scope.TRADING: (Api.BROKER, "POST", f"/v1/trading/accounts/{ACC}/orders"),
    Scope.JOURNALING: (Api.BROKER, "POST", "/v1/journals"),
    Scope.DATA: (Api.DATA, "GET", "/v2/stocks/AAPL/bars/latest"),
    Scope.REPORTING: (Api.BROKER, "GET", "/v1/reporting/eod/positions"),
    Scope.SSE_EVENTS: (Api.BROKER, "GET", "/v1/events/accounts/status"),
}


def add_broker(store: Any, emu: Any, name: str, access: AccessMatrix) -> None:
    issued = emu.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, access=access)
    profile = Profile(name, Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, mask(issued.key_id), access=access,
                      endpoints=emu.endpoints_for(Env.BROKER_SANDBOX))
    store.add_profile(profile, SecretBundle(Secret(issued.key_id, secret=issued.secret)))


def fill(tester: TesterScreen, api: Api, method: str, path: str, body: str = "") -> None:
    tester.query_one("#api", Select).value = api
    tester.query_one("#method", Select).value = method
    tester.query_one("#path", Input).value = path
    tester.query_one("#body", TextArea).text = body


def sent(emu: Any) -> int:
    return emu.requests("broker-sandbox") + emu.requests("data-sandbox")


async def test_no_access_reaches_no_operation_of_any_scope(store: Any, emulator: Any,
                                                          clock: FakeClock) -> None:
    add_broker(store, emulator, "nothing", AccessMatrix({}))
    app = AlpacaTuiApp(store=store, demo=emulator, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        tester = await open_tester(pilot, "nothing")
        for scope, (api, method, path) in ONE_PER_SCOPE.items():
            before = sent(emulator)
            fill(tester, api, method, path, '{"amount": "1"}' if method != "GET" else "")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what=f"{scope} refusal")
            text = screen_text(app)
            assert "Outside this credential's access" in text and f"{scope.label}: no access" in text, text
            assert "cause:" in text and "fix:" in text
            assert app.screen.query_one("#no").has_focus        # the safe answer is the default
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, TesterScreen), what="back to the tester")
            assert history(app) == [] and sent(emulator) == before, scope
            assert "not sent" in screen_text(app)
        # reference data needs no scope: it goes straight through
        fill(tester, Api.BROKER, "GET", "/v1/assets")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(history(app)) == 1, what="reference data")
        assert not isinstance(app.screen, ConfirmDialog)


async def test_unknown_write_is_refused_and_unknown_read_warned(store: Any, emulator: Any,
                                                                clock: FakeClock) -> None:
    add_broker(store, emulator, "full", AccessMatrix.full())
    app = AlpacaTuiApp(store=store, demo=emulator, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        tester = await open_tester(pilot, "full")
        fill(tester, Api.BROKER, "PATCH", "/v1/correspondents/me", '{"name": "x"}')
        before = sent(emulator)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="unknown write refusal")
        assert "Not an operation of the Broker API" in screen_text(app)
        await pilot.press("n")
        await pilot.pause()
        assert sent(emulator) == before and history(app) == []
        # confirmed: sent, and the tester says it was sent past the guard
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="unknown write again")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(history(app)) == 1, what="forced write")
        assert sent(emulator) == before + 1 and "sent anyway" in (history(app)[0].warning or "")
        # an unknown read is sent with a warning
        fill(tester, Api.BROKER, "GET", "/v1/correspondents")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(history(app)) == 2, what="unknown read")
        assert history(app)[1].status == 200
        explain = tester.query_one("#resp-explain", Static)
        assert explain.display and "cannot tell which scope" in screen_text(app)


async def test_tester_explains_an_error(seeded: Any, clock: FakeClock) -> None:
    store, emu, _ = seeded
    emu.revoke(store.load_bundle("paper").active.key_id)
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        tester = await open_tester(pilot, "paper")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(history(app)) == 1, what="401")
        rec = history(app)[0]
        assert rec.status == 401 and rec.cause and rec.fix
        text = screen_text(app)
        assert "cause: the API did not accept the credential" in text
        assert "fix:" in text and tester.query_one("#resp-explain", Static).display


async def test_token_panel_explains_a_refused_refresh(seeded: Any, clock: FakeClock) -> None:
    store, emu, _ = seeded
    name = "broker-sandbox-oauth"
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(100, 40)) as pilot:
        panel = await open_panel(pilot, name)
        emu.revoke(store.load_bundle(name).active.key_id)
        clock.advance(850)
        panel.tick()
        await wait_for(pilot, lambda: "cause:" in screen_text(app), what="explanation shown")
        text = screen_text(app)
        assert "cause: client authentication failed" in text and "fix:" in text
        state = app.engine.token_state(name) if app.engine else None
        assert state is not None and state.last_explanation is not None
        assert state.last_explanation.code == "invalid_client"
