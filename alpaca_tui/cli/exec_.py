"""``alpaca-tui exec NAME -- CMD ARGS...``: run a program with a profile's credentials in its environment.

Usage::

    alpaca-tui exec NAME [--no-cache] -- CMD [ARGS...]

The command replaces this process (``execvp``), so its exit code and signals are its own. It
is a normal program: the core-dump limit and ``dumpable`` flag alpaca-tui turned off for
itself are restored for it (``core.hardening.restore_for_child``).
Variables set for the child (any inherited ones with these names are removed first, so
two credentials never mix):

Always
    ``ALPACA_TUI_EXEC_PROFILE`` = NAME, ``ALPACA_TUI_EXEC_ENV`` = the environment.
Trading profiles (live, paper; key ID + secret)
    ``APCA_API_KEY_ID``, ``APCA_API_SECRET_KEY``, ``APCA_API_BASE_URL`` (trading host),
    ``APCA_API_DATA_URL`` (alpaca-trade-api, Go/JS SDKs); ``ALPACA_API_KEY``,
    ``ALPACA_SECRET_KEY``, ``ALPACA_PAPER_TRADE`` (``true`` for paper, ``false`` for live;
    alpaca-mcp-server), ``ALPACA_BASE_URL``, ``ALPACA_DATA_URL`` (Alpaca CLI),
    ``DATA_API_URL``.
Broker profiles
    ``ALPACA_BROKER_BASE_URL`` and ``APCA_API_BASE_URL`` (broker host), ``APCA_API_DATA_URL``,
    ``ALPACA_DATA_URL``. Key ID + secret (Basic) profiles also get ``APCA_API_KEY_ID`` /
    ``APCA_API_SECRET_KEY`` and ``ALPACA_API_KEY`` / ``ALPACA_SECRET_KEY``.
OAuth profiles (client-secret, private-key-jwt)
    never the client secret or private key: a fresh access token instead, as
    ``APCA_API_OAUTH_TOKEN`` (alpaca-trade-api, JS 4) and ``APCA_API_OAUTH`` (Go, JS 3),
    with ``ALPACA_TUI_TOKEN_EXPIRES_AT`` (ISO-8601 UTC) and
    ``ALPACA_TUI_TOKEN_EXPIRES_IN`` (seconds). The token lives 899 s; long-running
    children should call ``alpaca-tui token NAME`` to refresh.

Nesting is refused: inside an ``exec`` (``ALPACA_TUI_EXEC_PROFILE`` set) another ``exec``
exits 2 naming the active profile. Expired credentials are refused.

Exit codes: the child's exit code; 127 CMD not found; 126 CMD not executable; 1 token
request failed / store error; 2 usage error (no CMD, unknown profile, nested exec).
"""

from __future__ import annotations

import argparse
from typing import Any

EXEC_PROFILE_VAR = "ALPACA_TUI_EXEC_PROFILE"
EXEC_ENV_VAR = "ALPACA_TUI_EXEC_ENV"

# Every variable we may set; all are removed from the inherited environment first.
MANAGED_VARS: tuple[str, ...] = (
    "APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "APCA_API_BASE_URL", "APCA_API_DATA_URL",
    "APCA_API_OAUTH_TOKEN", "APCA_API_OAUTH", "ALPACA_API_KEY", "ALPACA_SECRET_KEY", "ALPACA_PAPER_TRADE",
    "ALPACA_BASE_URL",
    "ALPACA_DATA_URL", "DATA_API_URL", "ALPACA_BROKER_BASE_URL", "ALPACA_TUI_TOKEN_EXPIRES_AT",
    "ALPACA_TUI_TOKEN_EXPIRES_IN", EXEC_PROFILE_VAR, EXEC_ENV_VAR,
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("exec", help="run a command with a profile's credentials in its environment",
                              description="Run CMD with APCA_*/ALPACA_* variables for a profile "
                                          "(OAuth profiles get a short-lived access token, not the secret).")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--no-cache", action="store_true", help="OAuth: always request a new token")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]")
    p.set_defaults(func=run)


def credential_environment(profile: Any, secret: Any, token: Any, now: float) -> dict[str, str]:
    """The variables for the child (see the module doc). ``token`` for OAuth profiles."""
    from alpaca_tui.core.clock import utc_from_ts
    from alpaca_tui.core.environments import Api, Env, resolve_endpoints

    hosts = resolve_endpoints(profile.env, profile.endpoints)
    env: dict[str, str] = {EXEC_PROFILE_VAR: profile.name, EXEC_ENV_VAR: profile.env.value}
    data = hosts.get(Api.DATA)
    if data:
        env["APCA_API_DATA_URL"] = data
        env["ALPACA_DATA_URL"] = data
    if profile.env.is_broker:
        env["ALPACA_BROKER_BASE_URL"] = hosts[Api.BROKER]
        env["APCA_API_BASE_URL"] = hosts[Api.BROKER]
    else:
        env["APCA_API_BASE_URL"] = hosts[Api.TRADING]
        env["ALPACA_BASE_URL"] = hosts[Api.TRADING]
        env["ALPACA_PAPER_TRADE"] = "true" if profile.env is Env.PAPER else "false"
        if data:
            env["DATA_API_URL"] = data
    if profile.flow.is_oauth:
        env["APCA_API_OAUTH_TOKEN"] = token.value
        env["APCA_API_OAUTH"] = token.value
        env["ALPACA_TUI_TOKEN_EXPIRES_AT"] = utc_from_ts(token.expires_at).isoformat().replace("+00:00", "Z")
        env["ALPACA_TUI_TOKEN_EXPIRES_IN"] = str(max(0, int(token.expires_at - now)))
    else:
        env["APCA_API_KEY_ID"] = secret.key_id
        env["APCA_API_SECRET_KEY"] = secret.secret or ""
        env["ALPACA_API_KEY"] = secret.key_id
        env["ALPACA_SECRET_KEY"] = secret.secret or ""
    return env


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    from alpaca_tui.cli.enginecli import make_engine, open_cli_store, run_engine
    from alpaca_tui.core.clock import SYSTEM_CLOCK
    from alpaca_tui.core.engine import expired_error
    from alpaca_tui.core.errors import UsageError
    from alpaca_tui.core.hardening import exec_program

    active = os.environ.get(EXEC_PROFILE_VAR)
    if active:
        raise UsageError(f"already inside 'alpaca-tui exec' for profile {active!r}; nesting would mix "
                         f"credentials — exit that command or shell first")
    cmd = list(args.command)
    cut = cmd.index("--") if "--" in cmd else -1
    if cut >= 0 and all(a.startswith("-") for a in cmd[:cut]):
        # argparse's REMAINDER swallows our own options written after NAME (`exec NAME --no-cache
        # -- CMD`): options before the first "--" belong to us, everything after it to CMD.
        for opt in cmd[:cut]:
            if opt == "--no-cache":
                args.no_cache = True
            else:
                raise UsageError(f"unknown option {opt!r} before '--' (exec takes --no-cache); "
                                 "usage: alpaca-tui exec NAME [--no-cache] -- CMD [ARGS...]")
        cmd = cmd[cut + 1:]
    if not cmd:
        raise UsageError("no command given: alpaca-tui exec NAME -- CMD [ARGS...]")

    store = open_cli_store()
    profile = store.get_profile(args.name)
    refusal = expired_error(profile, SYSTEM_CLOCK.now())
    if refusal is not None:
        raise refusal
    token = None
    if profile.flow.is_oauth:
        engine = make_engine(store, no_cache=args.no_cache)
        token = run_engine(engine, engine.token(profile.name, use_cache=not args.no_cache))
        secret = None
    else:
        secret = store.load_bundle(profile.name).active
    child_env = {k: v for k, v in os.environ.items() if k not in MANAGED_VARS}
    child_env.update(credential_environment(profile, secret, token, SYSTEM_CLOCK.time()))
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        exec_program(cmd, child_env)  # core limit and dumpable restored for the child
    except FileNotFoundError:
        print(f"alpaca-tui: error: command not found: {cmd[0]}", file=sys.stderr)
        return 127
    except PermissionError:
        print(f"alpaca-tui: error: permission denied: {cmd[0]}", file=sys.stderr)
        return 126
    except OSError as exc:
        print(f"alpaca-tui: error: cannot run {cmd[0]}: {exc.strerror or exc}", file=sys.stderr)
        return 126
    return 0  # not reached
