"""``alpaca-tui store migrate --to vault|file|system``: move this home's profiles to another backend.

Usage::

    alpaca-tui store migrate --to vault|file|system [--yes] [--json]

Every profile moves with all its secrets (active, pending, previous): copied to the target,
read back and compared, then the home is switched to the target, then the source copies are
deleted (for an OpenBao / Vault source: from the shared store, for every home that uses it).
An interrupted migration (killed, network down, sealed server) is resumed by running the same
command again; nothing is lost at any point (``core/store/migrate.py``). ``--to vault`` uses
the Vault variables (VAULT_ADDR, VAULT_TOKEN, ...; README "Team store").

Without ``--yes`` it asks on the terminal; without a terminal, ``--yes`` is required.

Exit codes: 0 moved (or nothing to move); 1 store failure (a conflict, the target unreachable:
run it again once fixed); 2 usage error (unknown backend, another migration under way, no
confirmation).

JSON (``--json``; stable, keys only ever added)::

    {"source": str, "target": str, "moved": [str], "secrets": int, "resumed": bool}
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from alpaca_tui.core.errors import EXIT_FAILURE, EXIT_OK, UsageError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("store", help="the secret store itself: move it to another backend",
                              description="Operations on this home's secret store.")
    p.set_defaults(func=run, action=None, _store_parser=p)
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    m = sub.add_parser("migrate", help="move every profile (all secret versions) to another backend",
                       description="Copy every profile with all its secrets to another backend, verify each, "
                                   "switch this home to it, then delete the source copies.")
    m.add_argument("--to", required=True, metavar="BACKEND", help="vault | file | system")
    m.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    m.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    if args.action is None:
        args._store_parser.print_help(sys.stderr)
        return 2
    return migrate(args)


def _confirm(text: str, yes: bool) -> bool:
    from alpaca_tui.cli.common import confirm, have_tty

    if yes:
        return True
    if not have_tty():
        raise UsageError("store migrate changes where every profile lives; confirm with --yes")
    return confirm(text)


def migrate(args: argparse.Namespace) -> int:
    from alpaca_tui.cli.common import print_json, tty_passphrase_provider
    from alpaca_tui.core.store import default_home
    from alpaca_tui.core.store.migrate import Migration
    from alpaca_tui.core.store.registry import backend_label

    def step(text: str) -> None:
        if not args.json:
            print(f"alpaca-tui: {text}", file=sys.stderr, flush=True)

    mig = Migration(default_home(), args.to, passphrase_provider=tty_passphrase_provider, on_step=step)
    journal = mig.plan()
    if journal is None:
        text = f"this home already keeps its profiles in the {backend_label(mig.target)}; nothing to move"
        if args.json:
            print_json({"source": mig.target, "target": mig.target, "moved": [], "secrets": 0,
                        "resumed": False})
        else:
            print(f"alpaca-tui: {text}", file=sys.stderr)
        return EXIT_OK
    shared = " (from the shared store, for every home that uses it)" if journal.source == "vault" else ""
    if not _confirm(f"Move {len(journal.names)} profile(s) from the {backend_label(journal.source)} to the "
                    f"{backend_label(journal.target)}, then delete them from the "
                    f"{backend_label(journal.source)}{shared}?", args.yes):
        print("not moved", file=sys.stderr)
        return EXIT_FAILURE
    report = mig.run(journal)
    if args.json:
        print_json({"source": report.source, "target": report.target, "moved": report.moved,
                    "secrets": report.secrets, "resumed": report.resumed})
    else:
        again = " (resumed)" if report.resumed else ""
        print(f"moved {len(report.moved)} profile(s) ({report.secrets} secret(s)) from the "
              f"{backend_label(report.source)} to the {backend_label(report.target)}{again}")
    return EXIT_OK
