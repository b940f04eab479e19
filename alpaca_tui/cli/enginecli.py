"""Helpers shared by the engine-backed commands (check, request, token, exec, rotate).

Kept light at import time: the engine (httpx, cryptography) is imported inside functions.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Coroutine
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from alpaca_tui.core.errors import UsageError

if TYPE_CHECKING:
    from alpaca_tui.core.engine import Engine
    from alpaca_tui.core.exchange import SendPolicy
    from alpaca_tui.core.store import Store

T = TypeVar("T")

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|s)", re.IGNORECASE)
_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(spec: str) -> timedelta:
    """'1h', '24h', '7d', '90m', '1d12h', '0' -> timedelta. UsageError on anything else."""
    s = spec.strip().lower().replace(" ", "")
    if s in ("0", "none", "0s"):
        return timedelta(0)
    pos, total = 0, 0.0
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise UsageError(f"invalid duration {spec!r} (use e.g. 30m, 1h, 24h, 7d, 1d12h or 0)")
    if total > 366 * 86400:
        raise UsageError(f"duration {spec!r} is longer than a year")
    return timedelta(seconds=total)


def positive_float(value: str) -> float:
    import argparse

    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not 0 < v <= 600:
        raise argparse.ArgumentTypeError("expected seconds between 0 and 600")
    return v


def positive_int(value: str) -> int:
    import argparse

    try:
        v = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError("expected a number >= 1")
    return v


def parse_size(spec: str) -> int:
    """'4M', '512KiB', '1048576' -> bytes (``core.wire.parse_size``)."""
    from alpaca_tui.core.exchange import parse_size as parse

    return parse(spec)


def size_arg(value: str) -> int:
    """argparse type for --max-body."""
    import argparse

    try:
        return parse_size(value)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def max_body(option: int | None) -> int:
    """The API body cap: --max-body, else $ALPACA_TUI_MAX_BODY, else the engine's default."""
    from alpaca_tui.core.exchange import max_body_from_env

    return option if option is not None else max_body_from_env()


def add_network_options(p: Any, *, body: bool = True) -> None:
    """--timeout (one deadline for the whole call) and, with ``body``, --max-body."""
    p.add_argument("--timeout", type=positive_float, default=None, metavar="S",
                   help="the whole call (token request, connect, body, retries) takes at most S "
                        "seconds (default: network.timeout in config.toml, else 10)")
    if body:
        p.add_argument("--max-body", type=size_arg, default=None, metavar="SIZE",
                       help="read at most SIZE of an answer (default 4M, or $ALPACA_TUI_MAX_BODY; up to 1G)")


def open_cli_store() -> Store:
    from alpaca_tui.cli.common import open_store

    return open_store()


def configured_timeout() -> float:
    """``network.timeout`` from config.toml (10 s without one); a bad file is a warning here."""
    from alpaca_tui.core.config import load_config

    config = load_config()
    for error in config.errors:
        if "network" in error or "TOML" in error or "cannot read" in error:
            print(f"alpaca-tui: warning: {error} (using the default timeout)", file=sys.stderr)
    return config.timeout


def call_timeout(option: float | None) -> float:
    """--timeout, else config.toml's ``network.timeout`` (10 s without one)."""
    return option if option is not None else configured_timeout()


def send_policy(timeout: float | None, body_cap: int | None) -> SendPolicy:
    """How one command's calls are sent: ``timeout`` None: config.toml's ``network.timeout``;
    ``body_cap`` None: $ALPACA_TUI_MAX_BODY, else the default cap."""
    from alpaca_tui.core.exchange import SendPolicy

    if timeout is None:
        timeout = configured_timeout()
    # A script gave us --timeout S: the whole call (retries and a server's Retry-After included)
    # ends within S seconds.
    return SendPolicy(timeout=timeout, max_retry_wait=min(60.0, timeout), max_body=max_body(body_cap))


def make_engine(store: Store | None, *, no_cache: bool = False, timeout: float | None = None,
                body_cap: int | None = None) -> Engine:
    """The engine for one command, sending as :func:`send_policy` says."""
    from alpaca_tui.core.engine import Engine

    policy = send_policy(timeout, body_cap)
    return Engine(store, cache_tokens=not no_cache, timeout=policy.timeout,
                  max_retry_wait=policy.max_retry_wait, max_body=policy.max_body)


def run_engine(engine: Engine, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a fresh event loop and close the engine's HTTP client afterwards."""
    import asyncio

    async def main() -> T:
        try:
            return await coro
        finally:
            await engine.aclose()

    return asyncio.run(main())


def marks() -> tuple[str, str, str]:
    """(ok, fail, skipped) symbols; ASCII when stdout cannot encode the check marks."""
    enc = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "✓✗–".encode(enc)
    except (UnicodeEncodeError, LookupError):
        return "OK", "X", "-"
    return "✓", "✗", "–"


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "—" if marks()[0] == "✓" else "-"
    return f"{ms:.0f} ms"
