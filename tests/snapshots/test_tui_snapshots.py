"""SVG snapshots of every screen at 100x30 and 80x24 (frozen FakeClock, fixed IDs, no cursor
blink). Regenerate with ``pytest tests/snapshots --snapshot-update`` and inspect the diff."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alpaca_tui.core.environments import Env
from tests.snapshots.scenario import (
    SECRETS,
    SNAPSHOT_PORT_BASE,
    TYPED_SECRET,
    freeze,
    settle,
    wait_until,
    world,
)

# Each terminal size has its own fixed emulator port block, and its own xdist group (one
# worker at a time uses a block: ./dev test runs with --dist loadgroup).
SIZES = [
    pytest.param((100, 30), id="100x30", marks=pytest.mark.xdist_group("tui-snapshots-100x30")),
    pytest.param((80, 24), id="80x24", marks=pytest.mark.xdist_group("tui-snapshots-80x24")),
]
PORT_BASES = {(100, 30): SNAPSHOT_PORT_BASE, (80, 24): SNAPSHOT_PORT_BASE + 20}


def _check_no_secrets(svg_dir: Path) -> None:
    for svg in svg_dir.glob("*.svg"):
        text = svg.read_text()
        for secret in SECRETS:
            assert secret not in text, f"secret material in {svg.name}"


@pytest.fixture
def w(tmp_path: Path, size: tuple[int, int]) -> Any:
    with world(tmp_path / "home", port_base=PORT_BASES[size]) as w:
        yield w


@pytest.mark.parametrize("size", SIZES)
def test_home(snap_compare: Any, w: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        pilot.app.screen.select("broker-sandbox-oauth")
        await pilot.pause()

    assert snap_compare(w.app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_wizard_identifiers(snap_compare: Any, w: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        app = pilot.app
        await settle(pilot)
        app.open_wizard(Env.BROKER_SANDBOX)
        await wait_until(pilot, lambda: app.screen.query("#env-list"))
        await pilot.press("enter", "enter")  # broker sandbox, OAuth client secret (preselected)
        wiz = app.screen
        wiz.query_one("#name").value = "sandbox-new"
        wiz.query_one("#key-id").value = "CKSNAPNEWCLIENT000000042"
        wiz.query_one("#secret").value = TYPED_SECRET
        wiz.query_one("#secret").focus()
        freeze(app)

    app = w.app(demo=None)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_wizard_expiry_validation(snap_compare: Any, w: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        app = pilot.app
        await settle(pilot)
        app.open_wizard(Env.PAPER)
        await wait_until(pilot, lambda: app.screen.query("#env-list"))
        await pilot.press("enter", "enter", "enter")  # paper, key + secret, demo: name suggested
        await pilot.press("end", "enter")  # Custom date…
        app.screen.query_one("#expiry-date").value = "2027-02-30"  # typing is covered by the pilot tests
        await pilot.press("enter")
        freeze(app)

    assert snap_compare(w.app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_wizard_scope_matrix(snap_compare: Any, w: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        app = pilot.app
        await settle(pilot)
        app.open_wizard(Env.BROKER_SANDBOX)
        await wait_until(pilot, lambda: app.screen.query("#env-list"))
        await pilot.press("enter", "enter", "enter")  # sandbox, client secret (preselected), name
        await pilot.press("enter")  # expiry: never
        await pilot.press("end", "enter")  # access: custom -> the matrix
        await pilot.press("down", "left", "space")  # Funding: read-write (red warning)
        freeze(app)

    assert snap_compare(w.app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_details_token_panel(snap_compare: Any, w: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        from alpaca_tui.tui.widgets.token_panel import TokenPanel

        app = pilot.app
        await settle(pilot)
        app.open_details("broker-sandbox-oauth")
        await wait_until(pilot, lambda: bool(app.screen.query(TokenPanel)))
        panel = app.screen.query_one(TokenPanel)
        await wait_until(pilot, lambda: panel.remaining() is not None)
        w.clock.advance(123)  # frozen, but not at the top of the lifetime
        panel.tick()

    assert snap_compare(w.app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_tester_response(snap_compare: Any, w: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        from alpaca_tui.core.http import RateLimit
        from alpaca_tui.tui.messages import RequestRecord

        app = pilot.app
        await settle(pilot)
        app.open_tester("paper")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "TesterScreen")
        tester = app.screen
        # a recorded answer (real requests have a wall-clock latency, which would not be stable)
        rec = RequestRecord(
            profile="paper", api="trading", method="GET", path="/v2/account", status=200, latency_ms=12.0,
            headers={"content-type": "application/json; charset=UTF-8", "x-request-id": "snap-0001",
                     "x-ratelimit-limit": "200", "x-ratelimit-remaining": "199",
                     "x-ratelimit-reset": "1800000060"},
            json={"account_number": "PALPACA_123", "status": "ACTIVE", "currency": "USD",
                  "buying_power": "200000", "cash": "100000", "pattern_day_trader": False},
            request_id="snap-0001", rate_limit=RateLimit(200, 199, 1_800_000_060.0), sent_at=w.clock.time())
        app.request_history.append(rec)
        tester._add_history_row(rec)
        tester.show_record(rec)
        freeze(app)
        await pilot.pause()

    assert snap_compare(w.app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_rotation(snap_compare: Any, w: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        app = pilot.app
        await settle(pilot)
        app.open_rotation("broker-sandbox-oauth")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "RotationScreen")
        freeze(app)

    assert snap_compare(w.app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare: Any, w: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("f1")

    assert snap_compare(w.app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_delete_confirmation(snap_compare: Any, w: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        pilot.app.screen.select("live")
        await pilot.press("d")

    assert snap_compare(w.app(), terminal_size=size, run_before=run_before)


def test_snapshots_hold_no_secrets() -> None:
    _check_no_secrets(Path(__file__).parent / "__snapshots__" / "test_tui_snapshots")
