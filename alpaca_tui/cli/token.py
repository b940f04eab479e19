"""``alpaca-tui token NAME``: print a valid OAuth access token (for curl, scripts, other tools).

Usage::

    alpaca-tui token NAME [--no-cache] [--json] [--timeout S]

Prints only the token on stdout, so ``curl -H "Authorization: Bearer $(alpaca-tui token
bx)" ...`` works. The token is reused from the secret store's cache while it has more
than a minute left (``--no-cache`` always asks the token endpoint); it lives 899 s.
Only OAuth profiles (client-secret, private-key-jwt) have tokens. ``--timeout S`` (default
10) bounds the whole token request, retries included. A token endpoint's answer is read up
to 64 KiB, and a token that is not an RFC 6750 ``b64token`` (CR, LF, ESC ...) is refused, never
printed.

Exit codes: 0 token printed; 1 token request refused (bad credentials, expired
credential, network, server); 2 usage error (unknown profile, profile uses key ID +
secret).

JSON (``--json``; stable, keys only ever added)::

    {"profile": str, "token_type": "Bearer", "access_token": str,
     "issued_at": ISO-8601, "expires_at": ISO-8601, "expires_in": int, "source": "network"|"cache"}
"""

from __future__ import annotations

import argparse
from typing import Any

from alpaca_tui.core.errors import EXIT_OK


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("token", help="print a valid OAuth access token for a profile",
                              description="Print a valid access token (OAuth profiles only).")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--no-cache", action="store_true", help="always request a new token")
    p.add_argument("--json", action="store_true", help="machine-readable output (token + expiry)")
    from alpaca_tui.cli.enginecli import add_network_options

    add_network_options(p, body=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from alpaca_tui.cli.common import print_json
    from alpaca_tui.cli.enginecli import call_timeout, make_engine, open_cli_store, run_engine
    from alpaca_tui.core.clock import SYSTEM_CLOCK, utc_from_ts
    from alpaca_tui.core.errors import UsageError
    from alpaca_tui.core.store.access import Action

    store = open_cli_store()
    profile = store.get_profile(args.name)
    store.require(Action.REVEAL, profile.name)
    if not profile.flow.is_oauth:
        raise UsageError(f"profile {profile.name!r} uses key ID + secret; there is no access token "
                         f"(use: alpaca-tui exec {profile.name} -- CMD)")
    engine = make_engine(store, no_cache=args.no_cache, timeout=call_timeout(args.timeout))
    token = run_engine(engine, engine.token(args.name, use_cache=not args.no_cache))
    if args.json:
        print_json({"profile": profile.name, "token_type": token.token_type, "access_token": token.value,
                    "issued_at": utc_from_ts(token.issued_at).isoformat(),
                    "expires_at": utc_from_ts(token.expires_at).isoformat(),
                    "expires_in": max(0, int(token.expires_at - SYSTEM_CLOCK.time())),
                    "source": token.source})
    else:
        sys.stdout.write(token.value + "\n")
    return EXIT_OK
