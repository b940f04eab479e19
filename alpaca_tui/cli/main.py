"""``alpaca-tui`` entry point.

With no arguments it opens the TUI; otherwise it dispatches to a headless command.
Exit codes (stable, documented in README): 0 ok, 1 failure, 2 usage error, 130 interrupted.

Each command lives in its own module exposing ``register(subparsers)`` which adds a
parser whose default ``func`` is ``run(args) -> int``. Modules keep their top-level
imports light (core only); heavy libraries are imported inside ``run``.

Everything a headless command writes to stdout and stderr goes through one filter
(:class:`SafeStream`): control characters, C1 controls and bidi overrides in server text,
file contents or stored fields are shown as visible escapes (``core.sanitize.clean``),
never obeyed by the terminal; what the stream cannot encode is backslash-escaped. An
unexpected exception is a bug: one line ("internal error") and, when
``ALPACA_TUI_INTERNAL_ERRORS`` names a file (the test suite sets it), its traceback
appended there so the tests fail on it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any, NoReturn, TextIO

from alpaca_tui import __version__
from alpaca_tui.core.errors import EXIT_FAILURE, EXIT_USAGE, AlpacaTuiError
from alpaca_tui.core.sanitize import clean

INTERNAL_ERRORS_ENV = "ALPACA_TUI_INTERNAL_ERRORS"
TUI_COMMANDS = frozenset({"demo"})  # they draw the terminal themselves (Textual writes to the tty)
# commands that resume the collector themselves once their start-up is over (core/gcpause.py)
GC_AFTER_START_UP = frozenset({"check"})

# (command module) in help order.
COMMAND_MODULES: tuple[str, ...] = (
    "alpaca_tui.cli.profiles",
    "alpaca_tui.cli.check",
    "alpaca_tui.cli.request",
    "alpaca_tui.cli.token",
    "alpaca_tui.cli.exec_",
    "alpaca_tui.cli.proxy",
    "alpaca_tui.cli.audit",
    "alpaca_tui.cli.rotate",
    "alpaca_tui.cli.agent",
    "alpaca_tui.cli.storecmd",
    "alpaca_tui.cli.doctor",
    "alpaca_tui.cli.emulator",
    "alpaca_tui.cli.demo",
    "alpaca_tui.cli.config",
    "alpaca_tui.cli.completion",
)

EPILOG = """\
exit codes: 0 ok, 1 failure (auth, network, store), 2 usage error, 130 interrupted
environment: ALPACA_TUI_HOME (data dir), ALPACA_TUI_KEYRING=system|file|vault,
             ALPACA_TUI_PASSPHRASE_FILE (encrypted-file passphrase for scripts),
             ALPACA_TUI_KEYRING_TIMEOUT (seconds per OS keyring call, default 3),
             ALPACA_TUI_MAX_BODY (bytes of an API answer read, default 4M),
             ALPACA_TUI_CONFIG (the settings file; see: alpaca-tui config path),
             ALPACA_TUI_EXPLAIN=1|0 (cause + fix lines under errors; default: at a terminal),
             ALPACA_TUI_DEBUG=1 (a traceback instead of the one-line "internal error", for bug reports),
             vault: VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE, VAULT_CACERT, ALPACA_TUI_VAULT_*
run without arguments to open the terminal UI; shell completion: alpaca-tui completion bash|zsh|fish."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole CLI; with ``command``, only the module named after it when there is one
    (``exec`` -> ``exec_``), so a command's process does not import all the others."""
    parser = _Parser(prog="alpaca-tui", description="Manage Alpaca API credentials and prove they work.",
                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"alpaca-tui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    named = [m for m in COMMAND_MODULES if command and m.rsplit(".", 1)[-1].rstrip("_") == command]
    for modname in named or COMMAND_MODULES:
        mod = importlib.import_module(modname)
        mod.register(sub)
    if named and command not in sub.choices:  # the module is named so but registers other commands
        return build_parser()
    return parser


class SafeStream:
    """A text stream that writes :func:`~alpaca_tui.core.sanitize.clean` text (see the module doc)."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        safe = clean(text)
        try:
            return self._inner.write(safe)
        except UnicodeEncodeError:  # a terminal that is not UTF-8: escape what it cannot show
            enc = getattr(self._inner, "encoding", None) or "ascii"
            return self._inner.write(safe.encode(enc, "backslashreplace").decode(enc, "replace"))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@contextmanager
def safe_streams() -> Iterator[None]:
    """sys.stdout and sys.stderr through :class:`SafeStream` for the duration."""
    saved = sys.stdout, sys.stderr
    sys.stdout = SafeStream(saved[0])
    sys.stderr = SafeStream(saved[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def internal_error(exc: BaseException) -> int:
    """The one line for a bug (and its traceback for the test suite's trap, see the module doc)."""
    log = os.environ.get(INTERNAL_ERRORS_ENV)
    if log:
        import traceback

        text = "".join(traceback.format_exception(exc))
        try:
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8", errors="backslashreplace") as fh:
                fh.write(f"argv: {sys.argv!r}\n{text}\n")
        except OSError:
            pass
    print(f"alpaca-tui: internal error: {type(exc).__name__} (set ALPACA_TUI_DEBUG=1 for details)",
          file=sys.stderr)
    return EXIT_FAILURE


def _run_tui(argv: Sequence[str]) -> int:
    from alpaca_tui.tui.app import run_app

    return int(run_app())


def main(argv: Sequence[str] | None = None) -> int:
    from alpaca_tui.core import gcpause
    from alpaca_tui.core.hardening import harden_process

    gcpause.pause()  # until start-up is over: the TUI's first frame, check's requests (core/gcpause.py)
    try:
        # before any secret is read: no core dump, no same-user ptrace (every command, the TUI)
        harden_process()
        args_list = list(sys.argv[1:] if argv is None else argv)
        if args_list and args_list[0] not in TUI_COMMANDS | GC_AFTER_START_UP:
            gcpause.resume()
        return _main(args_list)
    finally:
        gcpause.resume()


def _main(args_list: list[str]) -> int:
    tui = not args_list or args_list[0] in TUI_COMMANDS
    with nullcontext() if tui else safe_streams():
        try:
            if not args_list:
                return _run_tui(args_list)
            parser = build_parser(args_list[0])
            args = parser.parse_args(args_list)
            if not getattr(args, "func", None):
                parser.print_help()
                return EXIT_USAGE
            return int(args.func(args) or 0)
        except AlpacaTuiError as exc:
            print(f"alpaca-tui: error: {clean(exc.message)}", file=sys.stderr)
            explanation = getattr(exc, "explanation", None)
            if explanation is not None:  # an ApiError: cause + fix lines at a terminal (cli/hints.py)
                from alpaca_tui.cli.hints import print_explanation

                print_explanation(explanation)
            return exc.exit_code
        except KeyboardInterrupt:
            print("alpaca-tui: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            return EXIT_FAILURE
        except Exception as exc:  # never a traceback for users
            if os.environ.get("ALPACA_TUI_DEBUG"):
                raise
            return internal_error(exc)


if __name__ == "__main__":
    raise SystemExit(main())
