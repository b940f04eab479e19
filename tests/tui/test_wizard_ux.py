"""The creation wizard as a demanding terminal user drives it (issue 15): going back and
changing the flow, the flow Alpaca recommends preselected, nothing cut off at 80 columns,
and regenerating a key pair only after asking."""

from __future__ import annotations

import re
from typing import Any

from textual.widgets import Input, OptionList

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Env
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope
from alpaca_tui.tui.app import AlpacaTuiApp
from alpaca_tui.tui.dialogs.confirm import ConfirmDialog
from alpaca_tui.tui.dialogs.wizard import WizardScreen
from alpaca_tui.tui.widgets.scope_matrix import ScopeMatrix
from tests.tui.conftest import screen_text, wait_for
from tests.tui.test_wizard import open_wizard, pick, step

CLIENT_ID = "CKWIZARDBACK000000000001"
TYPED_SECRET = "typed-secret-after-going-back-0123456789"


async def test_key_pair_then_back_to_key_and_secret_saves_the_typed_secret(store: Any,
                                                                          clock: FakeClock) -> None:
    """Generate a private-key-JWT key pair, go back, switch to key + secret in the same
    environment, save: the credential holds the typed secret, not the private key, and the
    review has no "Key pair" row."""
    app = AlpacaTuiApp(store=store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        wiz = await open_wizard(pilot)
        await pick(pilot, "#env-list", "broker-sandbox")
        await pick(pilot, "#flow-list", "private-key-jwt")
        assert step(app) == "step-ids"
        wiz.query_one("#name", Input).value = "went-back"
        wiz.query_one("#key-id", Input).value = CLIENT_ID
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: wiz.draft.keypair is not None, what="key pair generated")
        await pilot.press("escape")  # back to the flow step
        assert step(app) == "step-flow"
        await pick(pilot, "#flow-list", "legacy")
        assert step(app) == "step-ids"
        assert wiz.query_one("#secret-box").display
        wiz.query_one("#secret", Input).value = TYPED_SECRET
        await pilot.press("ctrl+n")
        await pick(pilot, "#expiry-list", "never")
        await pick(pilot, "#access-list", "read-only")
        assert step(app) == "step-review"
        review = screen_text(app)
        assert "Key pair" not in review, review
        assert "Secret " in review
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="check offer")
        await pilot.press("n")
    prof = store.get_profile("went-back")
    assert prof.flow is Flow.LEGACY
    assert prof.alg is None and prof.public_key_fingerprint is None
    bundle = store.load_bundle("went-back")
    assert bundle.active.private_key_pem is None
    assert bundle.active.secret == TYPED_SECRET and bundle.active.key_id == CLIENT_ID


async def test_broker_environments_preselect_the_recommended_oauth_flow(store: Any, clock: FakeClock) -> None:
    app = AlpacaTuiApp(store=store, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        wiz = await open_wizard(pilot)
        await pick(pilot, "#env-list", "broker-live")
        fl = wiz.query_one("#flow-list", OptionList)
        assert fl.get_option_at_index(fl.highlighted or 0).id == Flow.CLIENT_SECRET.value
        assert "recommended" in screen_text(app)
        await pilot.press("escape")
        await pick(pilot, "#env-list", "paper")
        assert fl.get_option_at_index(fl.highlighted or 0).id == Flow.LEGACY.value


async def test_name_error_and_custom_access_summary_wrap_at_80_columns(store: Any, clock: FakeClock) -> None:
    app = AlpacaTuiApp(store=store, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        wiz = await open_wizard(pilot)
        await pick(pilot, "#env-list", "broker-sandbox")
        await pick(pilot, "#flow-list", "client-secret")
        wiz.query_one("#name", Input).value = "x" * 70 + "!"
        await pilot.press("ctrl+n")
        error = str(wiz.query_one("#ids-error").render())
        assert error  # the whole message is on screen, wrapped, not cut at the dialog's edge
        assert " ".join(error.split()) in flat_text(app), (error, screen_text(app))
        wiz.query_one("#name", Input).value = "ok-name"
        wiz.query_one("#key-id", Input).value = CLIENT_ID
        wiz.query_one("#secret", Input).value = TYPED_SECRET
        await pilot.press("ctrl+n")
        await pick(pilot, "#expiry-list", "never")
        await pick(pilot, "#access-list", "custom")
        matrix = wiz.query_one("#matrix", ScopeMatrix)
        custom = AccessMatrix({Scope.TRADING: Level.RW, Scope.ACCOUNTS: Level.RO, Scope.REPORTING: Level.RO,
                               Scope.REBALANCING: Level.RO, Scope.SSE_EVENTS: Level.RO})
        matrix.set_access(custom)
        await pilot.pause()
        line = f"access: {matrix.access.summary()}"
        assert len(line) > 70
        assert " ".join(line.split()) in flat_text(app), (line, screen_text(app))
        matrix.set_access(custom.with_level(Scope.FUNDING, Level.RW).with_level(Scope.JOURNALING, Level.RW)
                          .with_level(Scope.ADMIN, Level.RW))
        await pilot.pause()
        warning = matrix.warnings()[0]
        assert "Admin" in warning
        assert " ".join(warning.split()) in flat_text(app), (warning, screen_text(app))


def flat_text(app: Any) -> str:
    """The screen's words in order, without the borders and the line breaks of wrapping."""
    return " ".join(re.sub("[\u2500-\u259f]", " ", screen_text(app)).split())  # no box drawing


async def test_regenerating_a_key_pair_asks_first(store: Any, clock: FakeClock) -> None:
    app = AlpacaTuiApp(store=store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        wiz = await open_wizard(pilot)
        await pick(pilot, "#env-list", "broker-sandbox")
        await pick(pilot, "#flow-list", "private-key-jwt")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: wiz.draft.keypair is not None, what="key pair generated")
        first = wiz.draft.keypair
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="regenerate question")
        assert "public key" in screen_text(app)
        await pilot.press("n")  # keep the registered one
        await wait_for(pilot, lambda: isinstance(app.screen, WizardScreen), what="back in the wizard")
        assert wiz.draft.keypair is first
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="regenerate question")
        await pilot.press("y")
        await wait_for(pilot, lambda: wiz.draft.keypair is not first, what="a new key pair")
        assert wiz.draft.keypair is not None
        assert wiz.draft.keypair.fingerprint != first.fingerprint
        assert env_of(wiz) is Env.BROKER_SANDBOX


def env_of(wiz: WizardScreen) -> Env | None:
    return wiz.draft.env


async def test_every_wizard_list_takes_vim_keys_and_home_end(store: Any, clock: FakeClock) -> None:
    app = AlpacaTuiApp(store=store, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        wiz = await open_wizard(pilot)
        envs = wiz.query_one("#env-list", OptionList)
        for key, want in [("G", 3), ("k", 2), ("g", 0), ("j", 1), ("end", 3), ("home", 0)]:
            await pilot.press(key)
            assert envs.highlighted == want, (key, envs.highlighted)
        await pilot.press("G", "enter")  # broker sandbox
        flows = wiz.query_one("#flow-list", OptionList)
        await pilot.press("g")
        assert flows.highlighted == 0
        await pilot.press("j", "enter")  # client secret
        assert step(app) == "step-ids"
