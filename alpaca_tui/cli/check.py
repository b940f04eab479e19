"""``alpaca-tui check``: prove credentials work, one line per profile and API (like ``gh auth status``).

Usage::

    alpaca-tui check [NAME ...] [--all] [--json] [--no-cache] [--timeout S] [--max-body SIZE]

With no NAME (or with ``--all``) every profile is checked. For each profile: OAuth
profiles exchange their credential for an access token (reusing a cached one unless
``--no-cache``), then one cheap authenticated GET per API the profile can reach —
trading ``GET /v2/account``, market data ``GET /v2/stocks/AAPL/bars/latest?feed=iex``,
broker ``GET /v1/accounts``. APIs the broker access matrix does not allow are reported
as skipped. Profiles are checked concurrently; each result is recorded in the index
(last verified, ok, error). Expired credentials are refused locally (nothing is sent);
credentials that expire within 14 days get a warning on stderr. ``--timeout S`` bounds
each profile's whole check (token request, connect, bodies, 429 waits: one deadline);
an answer longer than ``--max-body`` (default 4 MiB) fails. No terminal is needed
(unless the encrypted-file store must prompt for its passphrase: use
``ALPACA_TUI_PASSPHRASE_FILE`` in scripts).

Output::

    ✓ paper       trading  200  12 ms
    ✓ paper       data     200  9 ms
    ✗ live        trading  401  wrong environment: request is not authorized; this looks like a
                                paper key … (request-id …)

At a terminal (or with ``ALPACA_TUI_EXPLAIN=1``) each distinct failure is followed on
stderr by a ``cause:`` and a ``fix:`` line (``core/explain.py``).

Exit codes: 0 every check passed; 1 at least one failed (auth, network, store) or there
are no profiles; 2 usage error (unknown profile name, bad option).

JSON (``--json``; stable, keys only ever added)::

    {"ok": bool,
     "results": [{"profile": str, "env": str, "api": "trading"|"data"|"broker"|"auth",
                  "ok": bool, "status": int|null, "latency_ms": float|null,
                  "category": str|null, "message": str, "request_id": str|null,
                  "skipped": bool, "cause": str|null, "fix": str|null}],
     "warnings": [str]}

Key-pair profiles are checked without the async engine (``core/quickcheck.py``: threads,
the same lines and records); a selection with an OAuth profile goes through the engine.

``category`` is one of bad_credentials, wrong_environment, forbidden_scope, forbidden,
expired_credential, rate_limited, client_error, server_error, network_error, timeout.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from alpaca_tui.core.errors import EXIT_FAILURE, EXIT_OK

if TYPE_CHECKING:
    from alpaca_tui.core.checks import CheckResult
    from alpaca_tui.core.credentials import Profile
    from alpaca_tui.core.store import Store


def register(subparsers: Any) -> None:
    from alpaca_tui.cli.enginecli import add_network_options

    p = subparsers.add_parser("check", help="prove credentials work: token + one GET per API",
                              description="Check credentials against the real endpoints "
                                          "(one line per profile and API; exit 1 if any fails).")
    p.add_argument("names", nargs="*", metavar="NAME", help="profiles to check (default: all)")
    p.add_argument("--all", action="store_true", help="check every profile")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--no-cache", action="store_true", help="do not reuse a cached access token")
    add_network_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from alpaca_tui.cli.common import print_json, warn
    from alpaca_tui.cli.enginecli import fmt_ms, marks, open_cli_store
    from alpaca_tui.core.clock import SYSTEM_CLOCK
    from alpaca_tui.core.errors import UsageError
    from alpaca_tui.core.expiry import ExpiryState, describe_expiry, expiry_state
    from alpaca_tui.core.store.access import Action

    if args.all and args.names:
        raise UsageError("give profile names or --all, not both")
    store = open_cli_store()
    profiles = store.list_profiles()
    if args.names:
        known = {p.name: p for p in profiles}
        missing = [n for n in args.names if n not in known]
        if missing:
            raise UsageError(f"no profile named {missing[0]!r} (see: alpaca-tui profiles list)")
        selected = [known[n] for n in dict.fromkeys(args.names)]
    else:
        selected = profiles
    for p in selected:  # a viewer's Vault token may not use secrets: say so before anything is sent
        store.require(Action.CHECK, p.name)
    if not selected:
        if args.json:
            print_json({"ok": False, "results": [], "warnings": ["no profiles to check"]})
        else:
            print("no profiles to check (add one: alpaca-tui profiles add NAME --env ...)", file=sys.stderr)
        return EXIT_FAILURE

    now = SYSTEM_CLOCK.now()
    warnings: list[str] = []
    for p in selected:
        if expiry_state(p.expires_at, now) is ExpiryState.EXPIRING:
            warnings.append(f"{p.name} expires {describe_expiry(p.expires_at, now)} "
                            f"({p.expires_at:%Y-%m-%d %H:%M} UTC); rotate it soon: "
                            f"alpaca-tui rotate {p.name}")
    results = [r for rs in _check(store, selected, args) for r in rs]
    ok = all(r.ok for r in results)
    if args.json:
        print_json({"ok": ok, "results": [r.to_dict() for r in results], "warnings": warnings})
        return EXIT_OK if ok else EXIT_FAILURE
    for w in warnings:
        warn(w)
    good, bad, skip = marks()
    width = max(len(p.name) for p in selected)
    for r in results:
        mark = skip if r.skipped else (good if r.ok else bad)
        status = str(r.status) if r.status is not None else "---"
        line = f"{mark} {r.profile:<{width}}  {r.api.value:<7}  {status:>3}  "
        if r.ok and not r.skipped:
            line += fmt_ms(r.latency_ms)
        elif r.skipped:
            line += r.message
        else:
            line += r.message if r.latency_ms is None else f"{fmt_ms(r.latency_ms)}  {r.message}"
        print(line)
    from alpaca_tui.cli.hints import print_grouped

    print_grouped((f"{r.profile} {r.api.value}", r.explanation) for r in results if not r.ok)
    return EXIT_OK if ok else EXIT_FAILURE


def _check(store: Store, selected: list[Profile], args: argparse.Namespace) -> list[list[CheckResult]]:
    """Each profile's lines, in order: key pairs alone need no engine (no asyncio, no token
    broker: ``core/quickcheck.py``, same lines and records); with any OAuth profile, the engine
    checks them all."""
    from alpaca_tui.cli.enginecli import call_timeout, send_policy
    from alpaca_tui.core import gcpause
    from alpaca_tui.core.quickcheck import QuickCheck, key_pairs_only

    timeout = call_timeout(args.timeout)  # or config.toml
    if key_pairs_only(selected):
        gcpause.resume(freeze=True)  # start-up is over: what it built stays (core/gcpause.py)
        return QuickCheck(store, send_policy(timeout, args.max_body)).check([p.name for p in selected])
    import asyncio

    from alpaca_tui.cli.enginecli import make_engine, run_engine

    engine = make_engine(store, no_cache=args.no_cache, timeout=timeout, body_cap=args.max_body)
    gcpause.resume(freeze=True)

    async def check_all() -> list[list[CheckResult]]:
        return list(await asyncio.gather(*(engine.check(p.name, use_cache=not args.no_cache)
                                           for p in selected)))

    return run_engine(engine, check_all())
