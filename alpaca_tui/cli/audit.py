"""``alpaca-tui audit [NAME] [--since 1h] [--json]``: what the auth proxy did.

Reads ``audit.jsonl`` in the home (and its rotated parts), oldest first: one line per call
with the time (UTC), profile, method, path, status, latency, the proxy's decision, the scope
the call needs and the body bytes sent back. ``--json`` prints the stored lines as they are
(JSON Lines). The log never holds a body, a secret or a token; its values are still shown
sanitized (they came from outside). Reading it needs no passphrase.
"""

from __future__ import annotations

import argparse
from typing import Any

_COLUMNS = ("time", "profile", "method", "path", "status", "ms", "decision", "scope", "bytes")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("audit", help="show the auth proxy's audit log",
                              description="Show the calls the auth proxy served or refused (audit.jsonl).")
    p.add_argument("name", metavar="NAME", nargs="?", help="only this profile's calls")
    p.add_argument("--since", metavar="DURATION", help="only the last DURATION (e.g. 30m, 1h, 7d)")
    p.add_argument("--json", action="store_true", help="JSON Lines, one stored record per line")
    p.set_defaults(func=run)


def clean(value: Any, width: int = 80) -> str:
    """A stored value as one safe line: control characters replaced, length capped."""
    text = "" if value is None else str(value)
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= width else text[: width - 1] + "…"


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from alpaca_tui.cli.enginecli import parse_duration
    from alpaca_tui.core.clock import SYSTEM_CLOCK
    from alpaca_tui.core.proxy.audit import read_audit
    from alpaca_tui.core.store.store import default_home

    since = None
    if args.since:
        since = SYSTEM_CLOCK.time() - parse_duration(args.since).total_seconds()
    lines = read_audit(default_home(), profile=args.name, since=since)
    if args.json:
        for obj in lines:
            sys.stdout.write(json.dumps(obj, ensure_ascii=True, separators=(",", ":")) + "\n")
        return 0
    if not lines:
        who = f" for {clean(args.name)!r}" if args.name else ""
        print(f"no proxied calls{who}" + (f" in the last {clean(args.since)}" if args.since else ""))
        return 0
    rows = [[clean(obj.get(col), 60 if col == "path" else 24) for col in _COLUMNS] for obj in lines]
    widths = [max(len(col), *(len(r[i]) for r in rows)) for i, col in enumerate(_COLUMNS)]
    print("  ".join(col.upper().ljust(w) for col, w in zip(_COLUMNS, widths, strict=True)).rstrip())
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return 0
