"""Two writers on one home: the app follows changes other processes make to the store, and
two app instances saving at once both keep their edits (the Store's locked read-modify-write).

Real store (encrypted-file backend in a tmp ALPACA_TUI_HOME), real ``python -m alpaca_tui
profiles add/remove`` processes, a second Store object in another thread, and two Pilot apps
on the same home, each with its own Store (its own lock file descriptor).
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from textual.widgets import DataTable, Input

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Secret, SecretBundle
from alpaca_tui.core.redact import mask
from alpaca_tui.core.store import Store
from alpaca_tui.tui.app import AlpacaTuiApp
from alpaca_tui.tui.dialogs.confirm import ConfirmDialog
from alpaca_tui.tui.screens.details import DetailsScreen
from alpaca_tui.tui.screens.home import HomeScreen
from alpaca_tui.tui.watch import IndexWatch
from tests.conftest import cli_argv, subprocess_env
from tests.tui.conftest import screen_text, wait_for
from tests.tui.test_home import loaded, row_keys
from tests.tui.test_wizard import open_wizard, pick, step

TICK = 0.05  # fast ticks: the watch polls on every one


async def cli(*args: str, stdin: str | None = None) -> str:
    """``python -m alpaca_tui ARGS`` as a separate process, while the app keeps running."""
    proc = await asyncio.create_subprocess_exec(
        *cli_argv(*args), env=subprocess_env(), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode() + err.decode()


def rotate_elsewhere(store: Any, name: str, new: Secret) -> None:
    """What another process's rotation writes: the new secret active, the old one kept."""
    old = store.load_bundle(name).active
    store.save_bundle(name, SecretBundle(active=new, previous=old))
    store.update_profile(name, key_id_masked=mask(new.key_id), rotated_at=store.clock.now())


def cell(app: AlpacaTuiApp, name: str, column: str) -> str:
    return str(app.screen.query_one("#creds", DataTable).get_cell(f"p:{name}", column))


def test_index_watch_reports_each_change_once(tmp_path: Path) -> None:
    index = tmp_path / "index.json"
    watch = IndexWatch(index)
    index.write_text("{}")
    assert not watch.changed()  # nothing read yet: the first read is on its way
    watch.loaded(watch.stamp())
    assert not watch.changed()
    st = os.stat(index)
    replacement = tmp_path / "index.json.tmp"  # same size and mtime, new file (atomic rename)
    replacement.write_text("[]")
    os.utime(replacement, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(replacement, index)
    assert watch.changed()
    assert not watch.changed()  # once
    index.unlink()
    assert watch.changed() and watch.stamp() is None


async def test_home_and_details_follow_other_processes(static_store: Any, clock: FakeClock,
                                                       alpaca_home: Path) -> None:
    other = Store.open(alpaca_home, clock=clock)  # another writer (used from another thread)
    app = AlpacaTuiApp(store=static_store, clock=clock, tick=TICK)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        home = app.screen
        assert isinstance(home, HomeScreen)
        home.select("paper-bot")
        # nothing changed: polling reads nothing (the list object stays the same)
        before = app.profiles
        await asyncio.sleep(TICK * 6)
        assert app.profiles is before

        # another process adds a credential: the list follows, the cursor stays
        out = await cli("profiles", "add", "added-elsewhere", "--env", "broker-sandbox", "--flow", "legacy",
                        "--key-id", "CKELSEWHERE00000ZZZZ", "--secret-stdin", stdin="e" * 40 + "\n")
        assert "e" * 40 not in out
        await wait_for(pilot, lambda: "p:added-elsewhere" in row_keys(app), what="added row")
        assert home.selected_name() == "paper-bot"
        assert "CKEL…ZZZZ" in screen_text(app) and "eeeeeeee" not in screen_text(app)

        # another thread edits one: its row is redrawn, the cursor stays
        assert "200d" in cell(app, "live-trader", "expires")
        soon = clock.now() + timedelta(days=5)
        await asyncio.to_thread(other.update_profile, "live-trader", expires_at=soon)
        await wait_for(pilot, lambda: "▲ 5d" in cell(app, "live-trader", "expires"), what="edited row")
        assert home.selected_name() == "paper-bot"

        # the details of paper-bot follow an edit, and close when another process removes it
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen), what="details")
        await asyncio.to_thread(other.update_profile, "paper-bot", note="moved to the new VPS")
        await wait_for(pilot, lambda: "moved to the new VPS" in screen_text(app), what="edited details")
        await pilot.press("v")
        await wait_for(pilot, lambda: "p" * 40 in screen_text(app), what="secret revealed")
        # rotated elsewhere: the revealed secret is no longer the active one, so it is hidden
        new = Secret("PKROTATED0000000DDDD", "d" * 40)
        await asyncio.to_thread(rotate_elsewhere, other, "paper-bot", new)
        await wait_for(pilot, lambda: "PKRO…DDDD" in screen_text(app), what="rotated elsewhere")
        assert "p" * 40 not in screen_text(app) and "d" * 40 not in screen_text(app)
        await cli("profiles", "remove", "paper-bot", "--yes")
        await wait_for(pilot, lambda: app.screen is home, what="details closed")
        await wait_for(pilot, lambda: "p:paper-bot" not in row_keys(app), what="row removed")
        assert any("paper-bot was removed" in n.message for n in app._notifications)  # a toast
        assert home.selected_name() in {"live-trader", "added-elsewhere", "sandbox-oauth"}
    assert [p.name for p in Store.open(alpaca_home).list_profiles()] == \
        ["added-elsewhere", "live-trader", "sandbox-oauth"]


async def fill_wizard(pilot: Any, name: str, key_id: str, secret: str) -> None:
    """Paper, key + secret, ``name``, never expires: up to the review step (not saved)."""
    wiz = await open_wizard(pilot)
    await pick(pilot, "#env-list", "paper")
    await pick(pilot, "#flow-list", "legacy")
    wiz.query_one("#name", Input).value = name
    wiz.query_one("#key-id", Input).value = key_id
    wiz.query_one("#secret", Input).value = secret
    await pilot.press("ctrl+n")
    await pick(pilot, "#expiry-list", "never")
    assert step(pilot.app) == "step-review", screen_text(pilot.app)


async def test_two_app_instances_both_keep_their_edits(static_store: Any, clock: FakeClock,
                                                      alpaca_home: Path) -> None:
    """Two apps on one home, each with its own Store: both save a new credential in the same
    moment (each one's list is stale: it has not seen the other's yet) and each deletes a
    different credential; afterwards the store holds every edit and both lists agree."""
    secrets = {"from-a": "a" * 40, "from-b": "b" * 40}
    at_review = asyncio.Barrier(2)
    saved = asyncio.Barrier(2)
    deleted = asyncio.Barrier(2)
    want = ["from-a", "from-b", "sandbox-oauth"]

    async def instance(me: str, delete: str) -> list[str]:
        app = AlpacaTuiApp(store=Store.open(alpaca_home, clock=clock), clock=clock, tick=TICK)
        async with app.run_test(size=(100, 30)) as pilot:
            await loaded(pilot)
            await fill_wizard(pilot, me, f"PK{me.upper().replace('-', '')}0000000001", secrets[me])
            await at_review.wait()
            await pilot.press("enter")  # both save now
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what=f"{me} saved")
            await pilot.press("n")  # no connectivity check
            await saved.wait()
            app.request_delete(delete)
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="delete asks")
            await pilot.press("y")
            await deleted.wait()
            # each sees the other's new credential and deletion
            await wait_for(pilot, lambda: [k[2:] for k in row_keys(app) if k.startswith("p:")] == want,
                           what=f"{me} follows the other instance")
            return [p.name for p in app.profiles]

    lists = await asyncio.wait_for(asyncio.gather(instance("from-a", "live-trader"),
                                                  instance("from-b", "paper-bot")), 30)
    assert lists == [want, want]
    fresh = Store.open(alpaca_home)
    assert [p.name for p in fresh.list_profiles()] == want
    for name, secret in secrets.items():
        assert fresh.load_bundle(name).active.secret == secret
    assert not fresh.has_profile("live-trader") and not fresh.has_profile("paper-bot")
