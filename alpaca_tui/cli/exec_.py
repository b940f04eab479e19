"""``alpaca-tui exec NAME -- CMD ARGS...``: run a program with a profile's credentials.

Usage::

    alpaca-tui exec NAME [--no-cache] [--timeout S] -- CMD [ARGS...]
    alpaca-tui exec NAME --proxy [--allow-live-writes] -- CMD [ARGS...]

Plain ``exec`` replaces this process (``execvp``), so the exit code and signals are the
command's own; the credential itself goes into the child's environment. With ``--proxy`` a
loopback auth proxy runs for the child's lifetime (this process waits for the child, passes
SIGTERM / SIGHUP on, and exits with its code): the child gets the proxy's URLs and a
placeholder key pair made for this run, never a real secret, private key or token, and the
proxy authenticates upstream (OAuth tokens refreshed for as long as the child runs). Either
way the command is a normal program: the core-dump limit and ``dumpable`` flag alpaca-tui
turned off for itself are restored for it (``core.hardening.restore_for_child``).

Variables set for the child (inherited ones with these names are removed first, so two
credentials never mix; which client reads which: ``alpaca_tui/core/clientenv.py``):

Always
    ``ALPACA_TUI_EXEC_PROFILE`` = NAME, ``ALPACA_TUI_EXEC_ENV`` = the environment;
    ``ALPACA_TUI_PROXY`` = ``1`` under ``--proxy``.
Trading profiles (live, paper)
    ``APCA_API_BASE_URL`` and ``ALPACA_BASE_URL`` (Trading API); ``APCA_API_DATA_URL``,
    ``ALPACA_DATA_URL`` and ``DATA_API_URL`` (Market Data); ``APCA_API_STREAM_URL`` (market-
    data streams); ``ALPACA_PAPER_TRADE`` (``true`` for paper, ``false`` for live).
Broker profiles
    ``ALPACA_BROKER_BASE_URL`` (Broker API); ``APCA_API_DATA_URL``, ``ALPACA_DATA_URL``,
    ``APCA_API_STREAM_URL``. Never ``APCA_API_BASE_URL``: alpaca-trade-api would send
    Trading API paths to the broker host.
Credentials
    key ID + secret profiles, and every profile under ``--proxy`` (then the placeholder pair):
    ``APCA_API_KEY_ID``, ``APCA_API_SECRET_KEY``, ``ALPACA_API_KEY``, ``ALPACA_SECRET_KEY``.
    OAuth profiles without ``--proxy``: never the client secret or private key but a fresh
    access token, ``APCA_API_OAUTH_TOKEN`` (alpaca-trade-api, JS 4) and ``APCA_API_OAUTH``
    (Go, JS 3), with ``ALPACA_TUI_TOKEN_EXPIRES_AT`` (ISO-8601 UTC) and
    ``ALPACA_TUI_TOKEN_EXPIRES_IN`` (seconds); the token lives 899 s (use ``--proxy`` for
    long-running children).

Under ``--proxy`` ``ALPACA_TUI_PASSPHRASE_FILE`` is not passed on either (the child has no
business with the secret store). The secret store's own credentials (``VAULT_TOKEN``,
``BAO_TOKEN``) are never passed on.

Nesting is refused: inside an ``exec`` (``ALPACA_TUI_EXEC_PROFILE`` set) another ``exec``
exits 2 naming the active profile. Expired credentials are refused.

Exit codes: the child's exit code (128 + N when a signal N ended it); 127 CMD not found;
126 CMD not executable; 1 token request failed / store error; 2 usage error (no CMD, unknown
profile, nested exec).
"""

from __future__ import annotations

import argparse
from typing import Any

from alpaca_tui.core.clientenv import EXEC_ENV_VAR, EXEC_PROFILE_VAR, MANAGED_VARS

__all__ = ["EXEC_ENV_VAR", "EXEC_PROFILE_VAR", "MANAGED_VARS", "register", "run"]

# The secret store's own credentials: a child gets one profile's credential (or, under --proxy,
# none), never the token that opens every profile of a shared store (OpenBao / Vault).
WITHHELD_VARS: tuple[str, ...] = ("VAULT_TOKEN", "BAO_TOKEN")
# Not passed to a --proxy child (it has no business with the secret store).
PROXY_DROPPED = ("ALPACA_TUI_PASSPHRASE_FILE", *WITHHELD_VARS)
_OWN_FLAGS = {"--no-cache": "no_cache", "--proxy": "proxy", "--allow-live-writes": "allow_live_writes"}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("exec", help="run a command with a profile's credentials (or --proxy)",
                              description="Run CMD with APCA_*/ALPACA_* variables for a profile. OAuth "
                                          "profiles get a short-lived access token, not the secret; "
                                          "--proxy gives the child a loopback proxy and placeholder keys "
                                          "instead of any real credential.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--no-cache", action="store_true", help="OAuth: always request a new token")
    from alpaca_tui.cli.enginecli import positive_float

    p.add_argument("--timeout", type=positive_float, default=None, metavar="S",
                   help="OAuth: the token request takes at most S seconds (default: network.timeout in "
                        "config.toml, else 10)")
    p.add_argument("--proxy", action="store_true",
                   help="run an auth proxy for the child's lifetime; the child gets its URLs and "
                        "placeholder keys, never a real secret or token")
    p.add_argument("--allow-live-writes", action="store_true",
                   help="with --proxy: let writes (POST/PUT/PATCH/DELETE) through to live and broker-live")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]")
    p.set_defaults(func=run)


def _command(args: argparse.Namespace) -> list[str]:
    from alpaca_tui.core.errors import UsageError

    cmd = list(args.command)
    cut = cmd.index("--") if "--" in cmd else -1
    if cut >= 0 and (cut == 0 or cmd[0].startswith("-")):
        # argparse's REMAINDER swallows our own options written after NAME (`exec NAME --no-cache
        # --timeout 5 -- CMD`): options before the first "--" belong to us, everything after it to CMD.
        _own_options(args, cmd[:cut])
        cmd = cmd[cut + 1:]
    if not cmd:
        raise UsageError("no command given: alpaca-tui exec NAME -- CMD [ARGS...]")
    if args.allow_live_writes and not args.proxy:
        raise UsageError("--allow-live-writes goes with --proxy (plain exec hands the credential over)")
    return cmd


def _own_options(args: argparse.Namespace, opts: list[str]) -> None:
    from alpaca_tui.cli.enginecli import positive_float
    from alpaca_tui.core.errors import UsageError

    given = iter(opts)
    for opt in given:
        name, eq, value = opt.partition("=")
        if name == "--timeout":
            try:
                args.timeout = positive_float(value if eq else next(given, ""))
            except argparse.ArgumentTypeError as exc:
                raise UsageError(f"--timeout: {exc}") from None
        elif opt in _OWN_FLAGS:
            setattr(args, _OWN_FLAGS[opt], True)
        else:
            raise UsageError(f"unknown option {opt[:40]!r} before '--' (exec takes --no-cache, --timeout S, "
                             "--proxy, --allow-live-writes); usage: alpaca-tui exec NAME [--proxy] -- CMD "
                             "[ARGS...]")


def run(args: argparse.Namespace) -> int:
    import os

    from alpaca_tui.cli.enginecli import call_timeout, make_engine, open_cli_store, run_engine
    from alpaca_tui.core.clientenv import ClientAuth, client_environment, real_targets
    from alpaca_tui.core.clock import SYSTEM_CLOCK
    from alpaca_tui.core.errors import UsageError
    from alpaca_tui.core.preflight import expired_error
    from alpaca_tui.core.store.access import Action

    active = os.environ.get(EXEC_PROFILE_VAR)
    if active:
        raise UsageError(f"already inside 'alpaca-tui exec' for profile {active!r}; nesting would mix "
                         f"credentials — exit that command or shell first")
    cmd = _command(args)
    store = open_cli_store()
    profile = store.get_profile(args.name)
    store.require(Action.PROXY if args.proxy else Action.EXEC, profile.name)  # a Vault viewer: one line
    refusal = expired_error(profile, SYSTEM_CLOCK.now())
    if refusal is not None:
        raise refusal
    if args.proxy:
        return _run_proxied(store, profile.name, cmd, allow_live_writes=args.allow_live_writes,
                            no_cache=args.no_cache)
    if profile.flow.is_oauth:
        engine = make_engine(store, no_cache=args.no_cache, timeout=call_timeout(args.timeout))
        auth = ClientAuth(token=run_engine(engine, engine.token(profile.name, use_cache=not args.no_cache)))
    else:
        secret = store.load_bundle(profile.name).active
        auth = ClientAuth(key_id=secret.key_id, secret=secret.secret)
    child_env = {k: v for k, v in os.environ.items() if k not in MANAGED_VARS and k not in WITHHELD_VARS}
    child_env.update(client_environment(profile, real_targets(profile), auth, now=SYSTEM_CLOCK.time()))
    return _exec(cmd, child_env)


def _exec(cmd: list[str], child_env: dict[str, str]) -> int:
    import sys

    from alpaca_tui.core.hardening import exec_program

    sys.stdout.flush()
    sys.stderr.flush()
    try:
        exec_program(cmd, child_env)  # core limit and dumpable restored for the child
    except OSError as exc:
        return _not_started(cmd, exc)
    return 0  # not reached


def _not_started(cmd: list[str], exc: OSError) -> int:
    import sys

    if isinstance(exc, FileNotFoundError):
        print(f"alpaca-tui: error: command not found: {cmd[0]}", file=sys.stderr)
        return 127
    if isinstance(exc, PermissionError):
        print(f"alpaca-tui: error: permission denied: {cmd[0]}", file=sys.stderr)
        return 126
    print(f"alpaca-tui: error: cannot run {cmd[0]}: {exc.strerror or exc}", file=sys.stderr)
    return 126


def _run_proxied(store: Any, name: str, cmd: list[str], *, allow_live_writes: bool, no_cache: bool) -> int:
    """The proxy in this process, the command as its child; the child's exit code."""
    import asyncio

    from alpaca_tui.cli.enginecli import make_engine

    engine = make_engine(store, no_cache=no_cache)

    async def main() -> int:
        try:
            return await _proxy_child(engine, store.home, name, cmd, allow_live_writes)
        finally:
            await engine.aclose()

    return asyncio.run(main())


async def _proxy_child(engine: Any, home: Any, name: str, cmd: list[str], allow_live_writes: bool) -> int:
    import asyncio
    import os
    import signal

    from alpaca_tui.core.hardening import restore_for_child
    from alpaca_tui.core.proxy import ProxyServer

    async with ProxyServer(engine, name, allow_live_writes=allow_live_writes, home=home) as server:
        await engine.authorize(name)   # a refused credential fails here, before the child starts
        child_env = {k: v for k, v in os.environ.items() if k not in MANAGED_VARS and k not in PROXY_DROPPED}
        child_env.update(server.child_environment())
        try:
            proc = await asyncio.create_subprocess_exec(*cmd, env=child_env, preexec_fn=restore_for_child)
        except OSError as exc:
            return _not_started(cmd, exc)
        loop = asyncio.get_running_loop()
        passed = (signal.SIGTERM, signal.SIGHUP)
        for sig in passed:
            loop.add_signal_handler(sig, proc.send_signal, sig)
        # Ctrl-C reaches the child from the terminal itself (same process group): not twice
        loop.add_signal_handler(signal.SIGINT, lambda: None)
        try:
            code = await proc.wait()
        finally:
            for sig in (*passed, signal.SIGINT):
                loop.remove_signal_handler(sig)
    return code if code >= 0 else 128 - code
