"""``alpaca-tui check``: prove credentials work, one line per profile and API (like ``gh auth status``).

Usage::

    alpaca-tui check [NAME ...] [--all] [--json] [--no-cache] [--timeout S]

With no NAME (or with ``--all``) every profile is checked. For each profile: OAuth
profiles exchange their credential for an access token (reusing a cached one unless
``--no-cache``), then one cheap authenticated GET per API the profile can reach —
trading ``GET /v2/account``, market data ``GET /v2/stocks/AAPL/bars/latest?feed=iex``,
broker ``GET /v1/accounts``. APIs the broker access matrix does not allow are reported
as skipped. Profiles are checked concurrently; each result is recorded in the index
(last verified, ok, error). Expired credentials are refused locally (nothing is sent);
credentials that expire within 14 days get a warning on stderr. No terminal is needed
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

``category`` is one of bad_credentials, wrong_environment, forbidden_scope, forbidden,
expired_credential, rate_limited, client_error, server_error, network_error, timeout.
"""

from __future__ import annotations

import argparse
from typing import Any

from alpaca_tui.core.errors import EXIT_FAILURE, EXIT_OK


def register(subparsers: Any) -> None:
    from alpaca_tui.cli.enginecli import positive_float

    p = subparsers.add_parser("check", help="prove credentials work: token + one GET per API",
                              description="Check credentials against the real endpoints "
                                          "(one line per profile and API; exit 1 if any fails).")
    p.add_argument("names", nargs="*", metavar="NAME", help="profiles to check (default: all)")
    p.add_argument("--all", action="store_true", help="check every profile")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--no-cache", action="store_true", help="do not reuse a cached access token")
    p.add_argument("--timeout", type=positive_float, default=10.0, metavar="S",
                   help="per-request timeout in seconds (default 10)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import sys

    from alpaca_tui.cli.common import print_json, warn
    from alpaca_tui.cli.enginecli import fmt_ms, make_engine, marks, open_cli_store, run_engine
    from alpaca_tui.core.clock import SYSTEM_CLOCK
    from alpaca_tui.core.engine import CheckResult
    from alpaca_tui.core.errors import UsageError
    from alpaca_tui.core.expiry import ExpiryState, describe_expiry, expiry_state

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
    engine = make_engine(store, no_cache=args.no_cache, timeout=args.timeout)

    async def check_all() -> list[list[CheckResult]]:
        return list(await asyncio.gather(*(engine.check(p.name, use_cache=not args.no_cache)
                                           for p in selected)))

    per_profile = run_engine(engine, check_all())
    results = [r for rs in per_profile for r in rs]
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
