"""``alpaca-tui proxy NAME``: run the loopback auth proxy for a credential in the foreground.

Usage::

    alpaca-tui proxy NAME [--port N] [--allow-live-writes] [--json]

Prints the proxy's URLs and the environment lines a program should use (the proxy's URLs
and a placeholder key pair made for this run: nothing real), then serves until Ctrl-C or
SIGTERM (exit 0). ``--json`` prints the same as one JSON line
``{"profile", "env", "pid", "urls": {api: url}, "environment": {VAR: value}}``.

One port per API of the profile (``--port N``: the first gets N, the next N + 1): trading
(with the trade-updates WebSocket at ``/stream``) or broker, and data (with the market-data
streams). Every call is checked (placeholder, expiry, scope matrix, live writes without
``--allow-live-writes``), authenticated upstream by the engine, and written to the audit log
(``alpaca-tui audit``).
"""

from __future__ import annotations

import argparse
from typing import Any

_STREAMS = {"trading": "trade updates: {ws}/stream", "data": "market-data streams: {ws}/v2/{{feed}}"}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("proxy", help="run a loopback auth proxy for a credential (placeholder keys)",
                              description="Serve the profile's APIs on 127.0.0.1 with the real "
                                          "authentication added; programs use the printed URLs and a "
                                          "placeholder key pair. Ctrl-C stops it.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--port", type=int, default=0, metavar="N",
                   help="first port (one per API: N, N+1); default: free ports chosen by the OS")
    p.add_argument("--allow-live-writes", action="store_true",
                   help="let writes (POST/PUT/PATCH/DELETE) through to live and broker-live")
    p.add_argument("--json", action="store_true", help="print one JSON line instead of the text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from alpaca_tui.cli.enginecli import make_engine, open_cli_store
    from alpaca_tui.core.clock import SYSTEM_CLOCK
    from alpaca_tui.core.preflight import expired_error

    store = open_cli_store()
    profile = store.get_profile(args.name)
    refusal = expired_error(profile, SYSTEM_CLOCK.now())
    if refusal is not None:
        raise refusal
    engine = make_engine(store)

    async def main() -> int:
        try:
            return await _serve(engine, store.home, args)
        finally:
            await engine.aclose()

    return asyncio.run(main())


async def _serve(engine: Any, home: Any, args: argparse.Namespace) -> int:
    import asyncio
    import signal
    import sys

    from alpaca_tui.core.proxy import ProxyServer

    async with ProxyServer(engine, args.name, port=args.port, allow_live_writes=args.allow_live_writes,
                           home=home) as server:
        await engine.authorize(args.name)   # a refused credential fails now, not at the first call
        _announce(server, args.json)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        st = server.stats
    if not args.json:
        print(f"proxy stopped: {st.requests} requests, {st.refused} refused", file=sys.stderr)
    return 0


def _announce(server: Any, as_json: bool) -> None:
    import json
    import os
    import sys

    from alpaca_tui.core.clientenv import ws_url

    profile = server.profile
    env = server.child_environment()
    if as_json:
        urls = {a.value: u for a, u in server.urls.items()}
        print(json.dumps({"profile": profile.name, "env": profile.env.value, "pid": os.getpid(),
                          "urls": urls, "environment": env}), flush=True)
        return
    host = server.host
    print(f"alpaca-tui proxy for {profile.name!r} ({profile.env.label}, {profile.flow.label}) on {host}; "
          f"Ctrl-C to stop")
    for api, url in server.urls.items():
        streams = _STREAMS.get(api.value, "")
        note = f"  ({streams.format(ws=ws_url(url))})" if streams else ""
        print(f"  {api.value:<8} {url}{note}")
    if server.allow_live_writes and profile.env.is_live:
        print("  writes to live are let through (--allow-live-writes)")
    print("# the environment for a program (placeholder keys, valid at this proxy run only):")
    for key, value in env.items():
        print(f"export {key}={value}")
    sys.stdout.flush()
