"""``alpaca-tui config path|show``: where the settings file is, and what it sets.

Usage::

    alpaca-tui config path            # the config.toml path (ALPACA_TUI_CONFIG, else the platform's)
    alpaca-tui config show [--json]   # the effective settings, defaults filled in

``show`` prints each problem of the file on stderr, one line naming the key, and exits 2 when
there is any (the other commands and the TUI warn and go on with the defaults). The file's
format is in ``alpaca_tui/core/config.py`` and ``assets/config.example.toml``.

JSON (``show --json``; stable, keys only ever added)::

    {"path": str, "exists": bool, "keys": {binding_id: keys},
     "ui": {"theme": str|null, "time": "utc"|"local"}, "network": {"timeout": float}, "errors": [str]}
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from alpaca_tui.core.errors import EXIT_OK, EXIT_USAGE


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("config", help="where the settings file is and what it sets",
                              description="The settings file (config.toml): keymap, theme, time, timeout.")
    sub = p.add_subparsers(dest="config_command", metavar="path|show", required=True,
                           parser_class=type(p))
    sub.add_parser("path", help="print the config.toml path").set_defaults(func=run_path)
    show = sub.add_parser("show", help="print the effective settings (defaults filled in)")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(func=run_show)


def run_path(args: argparse.Namespace) -> int:
    from alpaca_tui.core.config import config_path

    print(config_path())
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    from alpaca_tui.core.config import load_config

    config = load_config()
    exists = config.path is not None and config.path.exists()
    if args.json:
        from alpaca_tui.cli.common import print_json

        print_json({**config.as_dict(), "exists": exists})
    else:
        for line in describe(config, exists):
            print(line)
    for error in config.errors:
        print(f"alpaca-tui: error: {error}", file=sys.stderr)
    return EXIT_USAGE if config.errors else EXIT_OK


def describe(config: Any, exists: bool) -> list[str]:
    """The settings as TOML, the file's path on top."""
    import json

    where = "" if exists else "  (no such file: the defaults)"
    lines = [f"# {config.path}{where}", "[keys]"]
    lines += [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in sorted(config.keymap.items())]
    if not config.keymap:
        lines.append("# (none: the default keys; F1 in the TUI lists each binding)")
    lines += ["", "[ui]", f"theme = {json.dumps(config.theme)}" if config.theme else
              "# theme: Textual's default", f"time = {json.dumps(config.time)}",
              "", "[network]", f"timeout = {config.timeout:g}"]
    return lines


__all__ = ["register", "run_path", "run_show"]
