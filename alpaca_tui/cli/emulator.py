"""``alpaca-tui emulator``: run the local Alpaca emulator in the foreground.

Prints each host role's URL and the admin URL, optionally seeds the demo credentials into
the current store (``ALPACA_TUI_HOME``), then serves until Ctrl-C or SIGTERM (exit 0).
Only the core is imported at module level; the emulator is imported inside :func:`run`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from alpaca_tui.core.errors import UsageError

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "emulator", help="run the local Alpaca emulator (trading, data, broker, authx) on loopback",
        description="Serve a local Alpaca emulator on 127.0.0.1: one port per host role "
                    "(trading-live, trading-paper, data, data-sandbox, broker-live, broker-sandbox, "
                    "authx-live, authx-sandbox) plus an admin port. Ctrl-C stops it.")
    p.add_argument("--port-base", type=int, default=0, metavar="N",
                   help="use ports N..N+8 in role order (default: free ports chosen by the OS)")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--state", type=Path, metavar="DIR",
                   help="persist the emulator's (fake, test-only) credentials in DIR/emulator.json")
    p.add_argument("--seed-demo", action="store_true",
                   help="create demo credentials on the emulator and save them as profiles in the "
                        "current store (ALPACA_TUI_HOME); existing names are skipped")
    p.add_argument("--seed-prefix", default="", metavar="PREFIX",
                   help="prefix for the seeded profile names (e.g. demo-)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON line {urls, seeded, skipped} instead of the table")
    p.add_argument("--retry-after", action="store_true",
                   help="send Retry-After on 429 answers (Alpaca's specs list only X-RateLimit-*; "
                        "off by default so clients fall back on X-RateLimit-Reset)")
    p.add_argument("--token-lifetime", type=int, default=None, metavar="S",
                   help="access tokens live S seconds (default 899, Alpaca's; 1..86400)")
    p.add_argument("--revoked-error", choices=("invalid_client", "token_inactive"), default="invalid_client",
                   help="AuthX's answer to a revoked client (default invalid_client; UNCONFIRMED which "
                        "one Alpaca sends)")
    p.add_argument("--verbose", "-v", action="store_true", help="log each request line to stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import signal
    import sys
    import threading

    from alpaca_tui.emulator import TOKEN_LIFETIME, Emulator
    from alpaca_tui.emulator.roles import ROLES

    if args.host not in LOOPBACK:
        raise UsageError(f"the emulator only binds loopback addresses ({', '.join(LOOPBACK)})")
    if args.port_base and not 1024 <= args.port_base <= 65535 - len(ROLES):
        raise UsageError(f"--port-base must be between 1024 and {65535 - len(ROLES)}")
    lifetime = TOKEN_LIFETIME if args.token_lifetime is None else args.token_lifetime
    if not 1 <= lifetime <= 86400:
        raise UsageError("--token-lifetime must be between 1 and 86400 seconds")
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    emulator = Emulator(host=args.host, port_base=args.port_base, state_dir=args.state,
                        retry_after=args.retry_after, token_lifetime=lifetime,
                        revoked_error=args.revoked_error)
    if args.verbose:
        emulator.log = lambda line: print(line, file=sys.stderr, flush=True)
    # Ctrl-C and SIGTERM just set the stop flag, wherever they land, so shutdown is always clean.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    emulator.start()
    try:
        seeded: list[str] = []
        skipped: list[str] = []
        if args.seed_demo:
            from alpaca_tui.cli.common import open_store
            from alpaca_tui.emulator.demo import DEMO_PROFILES, seed_demo

            store = open_store()
            seeded = seed_demo(store, emulator, prefix=args.seed_prefix)
            names = [args.seed_prefix + spec.name for spec in DEMO_PROFILES]
            skipped = [n for n in names if n not in seeded]
        if args.json:
            print(json.dumps({"urls": emulator.urls, "seeded": seeded, "skipped": skipped}), flush=True)
        else:
            print(f"alpaca-tui emulator on {args.host} (Ctrl-C to stop)")
            for role in ROLES:
                print(f"  {role:<15} {emulator.urls[role]}")
            if args.state:
                print(f"state: {Path(args.state) / 'emulator.json'} (test-only fake credentials)")
            if args.seed_demo:
                print("seeded profiles: " + (", ".join(seeded) if seeded else "none"))
                if skipped:
                    print("skipped (already in the store): " + ", ".join(skipped))
            sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not args.json:
        print("emulator stopped", file=sys.stderr)
    return 0
