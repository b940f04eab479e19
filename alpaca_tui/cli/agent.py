"""``alpaca-tui unlock`` / ``alpaca-tui lock``: one passphrase per session for the encrypted store.

Usage::

    alpaca-tui unlock [--for DURATION] [--json]   # default 1h, at most 24h
    alpaca-tui lock [--json]

``unlock`` asks for the encrypted store's passphrase once (``ALPACA_TUI_PASSPHRASE_FILE`` or a
hidden prompt on the terminal), derives the key and leaves it with a background session agent
that lives for DURATION. Until then every alpaca-tui command and the TUI open the store without a
prompt and without the key-derivation cost. ``lock`` stops the agent; the key is gone. Running
``unlock`` again replaces the agent (new period). Homes whose secrets are in the OS keyring have
nothing to unlock (the OS keyring does this itself).

Exit codes: 0 unlocked / locked (also when no agent was running); 1 wrong passphrase, no
encrypted store yet, agent could not start; 2 usage error (bad duration).

JSON (``--json``; stable, keys only ever added)::

    {"home": str, "backend": "file"|"system", "locked": bool, "agent_pid": int|null,
     "expires_at": ISO-8601|null,
     "key_locked_in_memory": bool|null}   # unlock: whether the agent could mlock its key page

The agent keeps its one copy of the key in an mlock-ed page where ``RLIMIT_MEMLOCK`` allows it
(``alpaca-tui doctor`` says whether it can); ``lock`` finds it by the home's ``agent.json``
even when its socket was deleted, and signals it only after checking it is that agent.
"""

from __future__ import annotations

import argparse
from typing import Any

from alpaca_tui.core.errors import EXIT_OK


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("unlock", help="unlock the encrypted store once for this session",
                              description="Keep the encrypted store's key in a session agent for a while.")
    p.add_argument("--for", dest="duration", default="1h", metavar="DURATION",
                   help="how long the agent keeps the key (e.g. 15m, 1h, 8h; at most 24h; default 1h)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run_unlock)
    q = subparsers.add_parser("lock", help="forget the session key (stop the agent)",
                              description="Stop the session agent started by `alpaca-tui unlock`.")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(func=run_lock)


def _report(args: argparse.Namespace, home: str, backend: str, pid: int | None, expires_at: float | None,
            text: str, mlocked: bool | None = None) -> None:
    import sys

    from alpaca_tui.cli.common import print_json
    from alpaca_tui.core.clock import utc_from_ts

    if args.json:
        print_json({"home": home, "backend": backend, "locked": pid is None, "agent_pid": pid,
                    "expires_at": utc_from_ts(expires_at).isoformat() if expires_at is not None else None,
                    "key_locked_in_memory": mlocked})
    else:
        print(text, file=sys.stderr)


def run_unlock(args: argparse.Namespace) -> int:
    from alpaca_tui.cli.common import open_store, tty_passphrase_provider
    from alpaca_tui.cli.enginecli import parse_duration
    from alpaca_tui.core.clock import utc_from_ts
    from alpaca_tui.core.errors import UsageError
    from alpaca_tui.core.store import SECRETS_NAME, FileBackend, agent
    from alpaca_tui.core.store.fsutil import HomeLock

    ttl = parse_duration(args.duration).total_seconds()
    if not 0 < ttl <= agent.MAX_TTL:
        raise UsageError(f"--for must be between 1s and 24h, not {args.duration!r}")
    store = open_store()
    home = store.home
    if store.backend_kind != "file":
        _report(args, str(home), store.backend_kind, None, None,
                f"alpaca-tui: this home's secrets are in the {store.backend_label}; nothing to unlock")
        return EXIT_OK
    backend = FileBackend(home / SECRETS_NAME, HomeLock(home), passphrase_provider=tty_passphrase_provider)
    key, header = backend.session_key()
    st = agent.start(home, key, header.salt, (header.log2_n, header.r, header.p), ttl)
    until = utc_from_ts(st.expires_at)
    swap = "" if st.mlocked is not False else "; its key could not be locked in RAM (see alpaca-tui doctor)"
    _report(args, str(home), "file", st.pid, st.expires_at,
            f"alpaca-tui: unlocked {home} until {until:%Y-%m-%d %H:%M} UTC "
            f"(`alpaca-tui lock` forgets the key sooner){swap}", st.mlocked)
    return EXIT_OK


def run_lock(args: argparse.Namespace) -> int:
    from alpaca_tui.core.errors import StoreError
    from alpaca_tui.core.store import INDEX_NAME, agent, default_home
    from alpaca_tui.core.store.index import read_index

    home = default_home().expanduser().absolute()
    stopped = agent.stop(home)
    try:  # what the home records; a home with no profiles yet would use the file when locked
        backend = read_index(home / INDEX_NAME).backend or "file"
    except StoreError:
        backend = "file"
    text = ("alpaca-tui: locked; the session agent is gone" if stopped
            else "alpaca-tui: no session agent was running (already locked)")
    _report(args, str(home), backend, None, None, text)
    return EXIT_OK
