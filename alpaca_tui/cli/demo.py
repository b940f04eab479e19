"""``alpaca-tui demo``: the terminal UI on the embedded local Alpaca emulator.

Starts the emulator in-process on free loopback ports with a throwaway ALPACA_TUI_HOME (a
0700 temp dir, removed on exit) whose secrets go to the encrypted-file backend under a
random passphrase held only in memory — the OS keyring is never touched. Seeds one
credential per environment and flow, then opens the TUI in demo mode: the wizard and
rotation create real credentials on the emulator, so nothing secret is ever typed.

Textual is imported inside :func:`run` only (cli modules never import it at module level).
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo", help="open the terminal UI on the embedded local emulator (no account needed)",
        description="Open the terminal UI on a local Alpaca emulator with a throwaway, seeded store. "
                    "Nothing leaves this machine and nothing is kept.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from alpaca_tui.tui.demo_session import DemoStarter

    starter = DemoStarter.early()  # the emulator starts now, while Textual is imported
    from alpaca_tui.core.config import load_config
    from alpaca_tui.tui.app import AlpacaTuiApp

    app = AlpacaTuiApp(demo_factory=starter, offer_demo=False, config=load_config())
    try:
        result = app.run()
    finally:
        starter.close()
    return int(result or 0)
