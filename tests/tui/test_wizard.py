"""The creation wizard, end to end, against a real store (and, in demo mode, the real emulator)."""

from __future__ import annotations

import json
from typing import Any

from textual.widgets import ContentSwitcher, Input, Label, OptionList

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Env
from alpaca_tui.core.scopes import Level, Scope
from alpaca_tui.tui.app import AlpacaTuiApp
from alpaca_tui.tui.dialogs.confirm import ConfirmDialog
from alpaca_tui.tui.dialogs.wizard import WizardScreen
from alpaca_tui.tui.screens.home import HomeScreen
from alpaca_tui.tui.widgets.scope_matrix import ScopeMatrix
from tests.tui.conftest import screen_text, wait_for

CLIENT_ID = "CKWIZARD0000000000000001"
CLIENT_SECRET = "S3CRETWIZARDVALUE0123456789ABCDEFGHIJKLMNOPQRSTUV"


def step(app: AlpacaTuiApp) -> str:
    return str(app.screen.query_one("#wizard-steps", ContentSwitcher).current)


async def open_wizard(pilot: Any) -> WizardScreen:
    app = pilot.app
    await wait_for(pilot, lambda: app.profiles_loaded, what="profiles")
    if isinstance(app.screen, ConfirmDialog):  # first-run demo offer
        await pilot.press("n")
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(app.screen, WizardScreen), what="wizard")
    return app.screen


async def pick(pilot: Any, list_id: str, option_id: str) -> None:
    ol = pilot.app.screen.query_one(list_id, OptionList)
    for _ in range(ol.option_count):
        if ol.get_option_at_index(ol.highlighted or 0).id == option_id:
            break
        await pilot.press("down")
    await pilot.press("enter")


async def test_wizard_broker_client_secret_custom_access_and_date(store: Any, clock: FakeClock) -> None:
    app = AlpacaTuiApp(store=store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        wiz = await open_wizard(pilot)
        assert step(app) == "step-env"
        await pick(pilot, "#env-list", "broker-sandbox")
        assert step(app) == "step-flow"
        flows = [wiz.query_one("#flow-list", OptionList).get_option_at_index(i).id for i in range(3)]
        assert flows == ["legacy", "client-secret", "private-key-jwt"]
        await pick(pilot, "#flow-list", "client-secret")
        assert step(app) == "step-ids"
        name = wiz.query_one("#name", Input)
        assert name.has_focus and name.value == "broker-sandbox-oauth"
        name.value = "wiz-oauth"
        await pilot.press("enter")
        assert wiz.query_one("#key-id", Input).has_focus
        wiz.query_one("#key-id", Input).insert_text_at_cursor(CLIENT_ID)
        await pilot.press("enter")
        secret = wiz.query_one("#secret", Input)
        assert secret.has_focus and secret.password  # masked
        secret.insert_text_at_cursor(CLIENT_SECRET)  # as a paste would
        assert CLIENT_SECRET not in screen_text(app)
        await pilot.press("enter")
        # expiry: custom date, first invalid then in the past then valid
        assert step(app) == "step-expiry"
        await pick(pilot, "#expiry-list", "custom")
        date = wiz.query_one("#expiry-date", Input)
        assert date.display and date.has_focus
        await pilot.press(*"2027-02-30", "enter")  # typed: the input takes keys
        assert "no such day" in str(wiz.query_one("#expiry-error", Label).render())
        assert step(app) == "step-expiry"
        date.value = "2020-01-01"
        await pilot.press("enter")
        assert "in the past" in str(wiz.query_one("#expiry-error", Label).render())
        date.value = "2027-06-30"
        await pilot.press("enter")
        assert step(app) == "step-access"
        # access: custom, then drive the matrix with arrows
        await pick(pilot, "#access-list", "custom")
        matrix = wiz.query_one("#matrix", ScopeMatrix)
        assert matrix.has_focus
        await pilot.press("down", "left", "space")  # Funding: read-write (dangerous)
        await pilot.press("down", "down", "right", "right", "space")  # Crypto: no access
        assert matrix.access.level(Scope.FUNDING) is Level.RW
        assert matrix.access.level(Scope.CRYPTO) is Level.NONE
        assert "⚠ write access to Funding" in screen_text(app)
        await pilot.press("ctrl+n")
        assert step(app) == "step-review"
        review = screen_text(app)
        assert "wiz-oauth" in review and "CKWI…0001" in review
        assert CLIENT_SECRET not in review and CLIENT_ID not in review
        assert "2027-06-30" in review
        assert "write access to Funding" in review
        await pilot.press("enter")  # save
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="check offer")
        assert "connectivity check" in screen_text(app)
        await pilot.press("n")
        await wait_for(pilot, lambda: app.profile("wiz-oauth") is not None, what="profile listed")
    prof = store.get_profile("wiz-oauth")
    assert prof.env is Env.BROKER_SANDBOX and prof.flow is Flow.CLIENT_SECRET
    assert prof.key_id_masked == "CKWI…0001"
    assert prof.expires_at is not None and prof.expires_at.date().isoformat() == "2027-06-30"
    assert prof.access.level(Scope.FUNDING) is Level.RW
    assert prof.access.level(Scope.CRYPTO) is Level.NONE
    assert prof.access.level(Scope.ACCOUNTS) is Level.RO
    bundle = store.load_bundle("wiz-oauth")
    assert bundle.active.key_id == CLIENT_ID and bundle.active.secret == CLIENT_SECRET
    assert CLIENT_SECRET not in store.index_path.read_text()


async def test_wizard_trading_env_offers_only_key_flow_and_validates(store: Any, clock: FakeClock) -> None:
    app = AlpacaTuiApp(store=store, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        wiz = await open_wizard(pilot)
        await pick(pilot, "#env-list", "paper")
        fl = wiz.query_one("#flow-list", OptionList)
        assert fl.option_count == 1 and fl.get_option_at_index(0).id == "legacy"
        assert "broker-only" in screen_text(app)
        await pilot.press("enter")
        wiz.query_one("#name", Input).value = "bad name!"
        await pilot.press("ctrl+n")
        assert "invalid profile name" in str(wiz.query_one("#ids-error", Label).render())
        wiz.query_one("#name", Input).value = "paper-main"
        await pilot.press("ctrl+n")
        assert "key ID is empty" in str(wiz.query_one("#ids-error", Label).render())
        wiz.query_one("#key-id", Input).value = "AKLIVELOOKING0000001"
        wiz.query_one("#secret", Input).value = "x" * 40
        await pilot.press("ctrl+n")
        assert step(app) == "step-expiry"
        await pick(pilot, "#expiry-list", "30d")
        assert step(app) == "step-review"  # trading keys: no access step
        review = screen_text(app)
        assert "live/paper mix-up" in review  # AK key on a paper profile: warned, not blocked
        assert "step 5/5" in review
        await pilot.press("escape")  # back to expiry
        assert step(app) == "step-expiry"
        await pilot.press("escape", "escape", "escape", "escape")  # back to env, then cancel
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), what="cancelled")
    assert store.list_profiles() == []


async def test_demo_wizard_creates_the_credential_on_the_emulator(seeded: Any, clock: FakeClock) -> None:
    store, emu, _ = seeded
    before = {c["key_id"] for c in emu.list_credentials()}
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        wiz = await open_wizard(pilot)
        assert "demo" in screen_text(app)
        await pick(pilot, "#env-list", "paper")
        await pilot.press("enter")  # the only flow: key + secret
        assert not wiz.query_one("#ids-manual").display  # nothing secret to type in demo mode
        wiz.query_one("#name", Input).value = "demo-paper"
        await pilot.press("enter")
        await pick(pilot, "#expiry-list", "1w")
        assert "issued by the emulator" in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="check offer")
        await pilot.press("y")  # run the connectivity check now
        await wait_for(pilot, lambda: (p := app.profile("demo-paper")) is not None and p.last_check_ok,
                       timeout=15, what="check recorded")
    created = [c for c in emu.list_credentials() if c["key_id"] not in before]
    assert len(created) == 1
    cred = created[0]
    assert cred["env"] == "paper" and cred["flow"] == "legacy"
    prof = store.get_profile("demo-paper")
    assert cred["expires_at"] is not None
    assert abs(prof.expires_at.timestamp() - (clock.time() + 7 * 86400)) < 1
    assert store.load_bundle("demo-paper").active.key_id == cred["key_id"]
    assert prof.endpoints  # points at the emulator
    assert prof.last_verified_at is not None


async def test_demo_wizard_private_key_jwt_generates_and_registers_key(seeded: Any, clock: FakeClock) -> None:
    store, emu, _ = seeded
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        wiz = await open_wizard(pilot)
        await pick(pilot, "#env-list", "broker-sandbox")
        await pick(pilot, "#flow-list", "private-key-jwt")
        await wait_for(pilot, lambda: wiz.draft.keypair is not None, what="key pair generated")
        pem = wiz.query_one("#public-key").text
        assert pem.startswith("-----BEGIN PUBLIC KEY-----")
        await pilot.press("ctrl+y")
        assert app.clipboard == pem  # OSC 52 copy of the public key only
        await pilot.press("f2")  # the same key as a JWK
        jwk = json.loads(wiz.query_one("#public-key").text)
        assert jwk["kty"] == "EC" and jwk["crv"] == "P-256" and jwk["alg"] == "ES256" and "d" not in jwk
        await pilot.press("ctrl+y")
        assert json.loads(app.clipboard) == jwk
        await pilot.press("f2")
        assert wiz.query_one("#public-key").text == pem
        assert "PRIVATE" not in screen_text(app)
        wiz.query_one("#name", Input).value = "demo-jwt"
        await pilot.press("enter")
        await pick(pilot, "#expiry-list", "never")
        await pick(pilot, "#access-list", "read-only")
        assert step(app) == "step-review"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="check offer")
        await pilot.press("n")
        await wait_for(pilot, lambda: app.profile("demo-jwt") is not None, what="listed")
        results = await app.engine.check("demo-jwt")  # a real private_key_jwt token exchange
        assert results and all(r.ok for r in results), results
    bundle = store.load_bundle("demo-jwt")
    assert bundle.active.private_key_pem and bundle.active.alg == "ES256"
    info = emu.credential_info(bundle.active.key_id)
    assert info["has_public_key"] and info["access_preset"] == "read-only"
    assert store.get_profile("demo-jwt").public_key_fingerprint
