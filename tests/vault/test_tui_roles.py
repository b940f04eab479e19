"""The TUI on the shared store (Pilot, a real OpenBao): a viewer token shows a "viewer" badge and
every credential, and leaves create / check / tester / rotate / delete / reveal / token refresh
out of the footer and the palette (and their keys do nothing but say why); a superuser token gets
them all. A change made from another home shows up without a restart."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.widgets import DataTable

from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from alpaca_tui.core.redact import mask
from alpaca_tui.core.scopes import AccessMatrix
from alpaca_tui.core.store import Store
from alpaca_tui.tui.app import AlpacaTuiApp
from alpaca_tui.tui.commands import AlpacaCommands
from alpaca_tui.tui.screens.details import DetailsScreen
from alpaca_tui.tui.screens.home import HomeScreen
from alpaca_tui.tui.widgets.token_panel import TokenPanel
from tests.tui.conftest import screen_text
from tests.vault_fixtures import Bao

HIDDEN_HOME = {"new", "check", "tester", "rotate", "delete"}
HIDDEN_DETAILS = {"check", "tester", "rotate", "reveal", "refresh_token"}


def seed(home: Path) -> None:
    store = Store.open(home, backend="vault")
    rows = (("paper", Env.PAPER, Flow.LEGACY), ("bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET))
    for name, env, flow in rows:
        secret = Secret(f"PKTUIVAULT{name.upper():0>10}", secret="t" * 40)
        store.add_profile(Profile(name, env, flow, mask(secret.key_id), access=AccessMatrix.read_only()),
                          SecretBundle(secret))


def shown_actions(screen: object) -> set[str]:
    return {b.binding.action for b in screen.active_bindings.values()  # type: ignore[attr-defined]
            if b.binding.show and b.enabled}


async def wait_for(pilot: object, cond: object, what: str, timeout: float = 10.0) -> None:
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)  # type: ignore[attr-defined]
        await asyncio.sleep(0)


def palette(app: AlpacaTuiApp) -> list[str]:
    return [text for text, _help, _cb in AlpacaCommands(app.screen).commands()]


@pytest.mark.parametrize("role", ["viewer", "superuser"])
async def test_roles_in_the_tui(role: str, bao: Bao, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(tmp_path / "admin")
    monkeypatch.setenv("VAULT_TOKEN", bao.token(role, display_name="tui"))
    store = Store.open(tmp_path / "laptop", backend="vault")
    app = AlpacaTuiApp(store=store, offer_demo=False)
    async with app.run_test(size=(120, 32)) as pilot:
        await wait_for(pilot, lambda: app.profiles_loaded and len(app.profiles) == 2, "profiles")
        if role == "viewer":
            await wait_for(pilot, lambda: app.session.viewer is not None, "the role")
        else:
            await pilot.pause(0.5)
        home = app.screen
        assert isinstance(home, HomeScreen)
        await wait_for(pilot, lambda: sorted(home._row_profiles.values()) == ["bx", "paper"], "the rows")
        assert home.query_one("#creds", DataTable).row_count >= 2  # (plus a header row per environment)
        commands = palette(app)
        if role == "viewer":
            assert app.sub_title.endswith("· viewer") and "OpenBao / Vault" in app.sub_title
            assert not shown_actions(home) & HIDDEN_HOME and "details" not in HIDDEN_HOME
            assert not [c for c in commands if c.endswith(("check", "rotate", "delete", "refresh now"))]
            assert not [c for c in commands if c.startswith(("request:", "credential: new"))]
            assert "credential: bx — details" in commands
            await pilot.press("n")
            await pilot.pause(0.2)
            assert app.screen is home  # no wizard
        else:
            assert "viewer" not in app.sub_title
            assert shown_actions(home) >= HIDDEN_HOME
            assert "credential: bx — rotate" in commands and "credential: new…" in commands
        app.open_details("bx")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen), "details")
        details = app.screen
        await wait_for(pilot, lambda: bool(details.query("#facts")), "the details")
        await pilot.pause(0.1)
        text = screen_text(app)
        assert Env.BROKER_SANDBOX.label in text and mask("PKTUIVAULT00000000BX") in text, text
        assert "Expires" in text and "Access" in text
        if role == "viewer":
            assert not shown_actions(details) & HIDDEN_DETAILS
            assert not list(details.query(TokenPanel))
            assert "not readable with a viewer's token" in text
            await pilot.press("v")
            await pilot.pause(0.2)
            assert details.revealed is None
        else:
            assert shown_actions(details) >= HIDDEN_DETAILS
            assert list(details.query(TokenPanel))


async def test_a_change_from_another_home_shows_up(bao: Bao, tmp_path: Path) -> None:
    seed(tmp_path / "admin")
    app = AlpacaTuiApp(store=Store.open(tmp_path / "laptop", backend="vault"), offer_demo=False, tick=0.2)
    async with app.run_test(size=(120, 32)) as pilot:
        await wait_for(pilot, lambda: app.profiles_loaded and len(app.profiles) == 2, "profiles")
        other = Store.open(tmp_path / "admin")
        secret = Secret("PKTUIVAULTNEW0000001", secret="n" * 40)
        other.add_profile(Profile("new-one", Env.PAPER, Flow.LEGACY, mask(secret.key_id)),
                          SecretBundle(secret))
        await wait_for(pilot, lambda: {p.name for p in app.profiles} == {"paper", "bx", "new-one"},
                       "the other home's add", timeout=15)
        other.remove_profile("paper")
        await wait_for(pilot, lambda: {p.name for p in app.profiles} == {"bx", "new-one"},
                       "the other home's remove", timeout=15)
    assert os.environ["VAULT_NAMESPACE"] == bao.namespace
