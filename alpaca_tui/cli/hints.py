"""The ``cause:`` and ``fix:`` lines under an error (core/explain.py), for people at a terminal.

An error stays one line on stderr, the contract scripts rely on (README "Exit codes"). The
explanation follows it as two indented lines when stderr is a terminal, or always with
``ALPACA_TUI_EXPLAIN=1`` (``=0``: never). ``--json`` output carries ``cause`` and ``fix``
whatever this says.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

ENV = "ALPACA_TUI_EXPLAIN"


def wanted() -> bool:
    """Whether to print explanation lines (``ALPACA_TUI_EXPLAIN``, else: is stderr a terminal)."""
    value = os.environ.get(ENV, "").strip().lower()
    if value in ("1", "yes", "true", "on", "always"):
        return True
    if value in ("0", "no", "false", "off", "never"):
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def explanation_lines(explanation: Any, indent: str = "  ") -> list[str]:
    """``cause: ...`` / ``fix:   ...`` for an :class:`~alpaca_tui.core.explain.Explanation` (or [])."""
    if explanation is None:
        return []
    return [indent + line for line in explanation.lines()]


def print_explanation(explanation: Any, *, indent: str = "  ") -> None:
    """Print an explanation's lines on stderr when they are wanted."""
    if explanation is None or not wanted():
        return
    for line in explanation_lines(explanation, indent):
        print(line, file=sys.stderr)


def print_grouped(items: Iterable[tuple[str, Any]]) -> None:
    """One block per distinct explanation: ``<who>:`` then its lines (``check`` after its table)."""
    if not wanted():
        return
    groups: dict[tuple[str, str], list[str]] = {}
    found: dict[tuple[str, str], Any] = {}
    for who, explanation in items:
        if explanation is None:
            continue
        key = (explanation.cause, explanation.fix)
        groups.setdefault(key, [])
        if who not in groups[key]:
            groups[key].append(who)
        found[key] = explanation
    for key, whos in groups.items():
        print(f"{', '.join(whos)}:", file=sys.stderr)
        print_explanation(found[key])
