#!/usr/bin/env python3
"""Regenerate screenshots/*.svg: every screen of the TUI, exported from the running app.

Real store, real emulator, real engine (see tests/snapshots/scenario.py), a frozen clock and
no cursor blink. Afterwards every SVG is checked for secret material (the seeded secrets,
every secret the store holds after the run, access tokens): the script fails if one leaks.

Usage: python scripts/screenshots.py [--out screenshots] [--size 100x30]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.snapshots.scenario import SECRETS, freeze, settle, wait_until, world  # noqa: E402

SHOTS: list[tuple[str, str]] = [
    ("home", "Environments & credentials"),
    ("wizard-access", "Creation wizard: access step with the scope matrix"),
    ("wizard-review", "Creation wizard: review"),
    ("token-panel", "Credential details with the live access-token countdown"),
    ("tester", "Request tester: GET /v2/account"),
    ("tester-live-confirm", "Request tester: a write to live asks first"),
    ("rotation", "Rotation: verified, promoted, old key kept for rollback"),
    ("help", "Help: every key"),
    ("palette", "Command palette"),
]


async def capture(w: Any, out: Path, size: tuple[int, int]) -> list[Path]:
    from textual.command import CommandInput, CommandPalette

    from alpaca_tui.core.environments import Env
    from alpaca_tui.tui.dialogs.confirm import ConfirmDialog
    from alpaca_tui.tui.screens.rotation import RotationScreen
    from alpaca_tui.tui.screens.tester import TesterScreen
    from alpaca_tui.tui.widgets.token_panel import TokenPanel

    written: list[Path] = []
    app = w.app()

    async with app.run_test(size=size) as pilot:
        async def shot(name: str) -> None:
            freeze(app)
            await pilot.pause(0.2)
            await pilot.wait_for_scheduled_animations()
            path = out / f"{name}.svg"
            path.write_text(app.export_screenshot(title=f"alpaca-tui — {dict(SHOTS)[name]}"))
            written.append(path)

        async def home() -> None:
            while len(app.screen_stack) > 1:
                app.pop_screen()
            await pilot.pause()

        await settle(pilot)
        app.screen.select("broker-sandbox-oauth")
        await shot("home")

        app.open_wizard(Env.BROKER_SANDBOX)
        await wait_until(pilot, lambda: bool(app.screen.query("#env-list")))
        await pilot.press("enter", "enter")  # broker sandbox, OAuth client secret (preselected)
        app.screen.query_one("#name").value = "sandbox-reporting"
        await pilot.press("enter", "down", "down", "enter")  # 30 days
        await pilot.press("end", "enter", "down", "left", "space", "down", "down", "down", "down", "space")
        await shot("wizard-access")
        await pilot.press("ctrl+n")
        await shot("wizard-review")
        await pilot.press("escape", "escape", "escape", "escape", "escape", "escape")
        await home()

        app.open_details("broker-sandbox-oauth")
        await wait_until(pilot, lambda: bool(app.screen.query(TokenPanel)))
        panel = app.screen.query_one(TokenPanel)
        await wait_until(pilot, lambda: panel.remaining() is not None)
        w.clock.advance(317)
        panel.tick()
        await shot("token-panel")
        await home()

        app.open_tester("paper")
        await wait_until(pilot, lambda: isinstance(app.screen, TesterScreen))
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: len(app.request_history) == 1)
        await shot("tester")
        await home()

        app.open_tester("live")
        await wait_until(pilot, lambda: isinstance(app.screen, TesterScreen))
        tester = app.screen
        tester.query_one("#method").value = "POST"
        tester.query_one("#path").value = "/v2/orders"
        tester.query_one("#body").text = '{"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market"}'
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await shot("tester-live-confirm")
        await pilot.press("n")
        await home()

        app.open_rotation("broker-sandbox-oauth")
        await wait_until(pilot, lambda: isinstance(app.screen, RotationScreen))
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "Rotated" in str(app.screen.query_one("#rot-outcome").render()),
                         timeout=20)
        w.clock.advance(1800)
        app.screen.render_current()
        await shot("rotation")
        await home()

        await pilot.press("f1")
        await shot("help")
        await home()

        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        app.screen.query_one(CommandInput).value = "token:"
        await pilot.pause(0.5)
        await shot("palette")
        await pilot.press("escape")

        secrets = set(SECRETS)
        for p in w.store.list_profiles():
            secrets.update(w.store.load_bundle(p.name).values())
            state = app.engine.token_state(p.name) if app.engine else None
            if state is not None and state.expires_at is not None:
                tok = await app.engine.token(p.name)
                secrets.add(tok.value)
    leaks = [(path.name, s[:4]) for path in written for s in secrets if s and s in path.read_text()]
    if leaks:
        raise SystemExit(f"secret material found in screenshots: {leaks}")
    return written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "screenshots"))
    ap.add_argument("--size", default="100x30")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cols, rows = (int(n) for n in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp, world(Path(tmp) / "home", port_base=0) as w:
        written = asyncio.run(capture(w, out, (cols, rows)))
    for path in written:
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    print(f"{len(written)} screenshots, no secret material in any of them")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
