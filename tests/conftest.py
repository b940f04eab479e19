"""Shared fixtures.

``alpaca_home`` gives every test its own ALPACA_TUI_HOME using the encrypted-file
backend with a passphrase file (fast, isolated). Tests that need the real OS keyring
use ``system_keyring_home`` (marked ``system_keyring``): it runs against the Secret
Service started by ``./dev test`` (dbus-run-session + gnome-keyring-daemon).
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TEST_PASSPHRASE = "correct horse battery staple"

# Never the user's own config.toml (a keymap or a timeout there would change what tests see):
# an empty file, i.e. the defaults, for this process and every child it starts.
os.environ["ALPACA_TUI_CONFIG"] = os.devnull

# The encrypted file's scrypt at a test cost, here and in every child (tests/fastkdf/sitecustomize.py
# says why; tests/unit/test_kdf_cost.py checks the real cost in a process without it).
FAST_KDF_DIR = str(Path(__file__).resolve().parent / "fastkdf")
os.environ["ALPACA_TUI_TEST_FAST_KDF"] = "1"
os.environ["PYTHONPATH"] = os.pathsep.join([FAST_KDF_DIR, *filter(None, [os.environ.get("PYTHONPATH")])])
from alpaca_tui.core.store import filecrypt as _filecrypt  # noqa: E402

_filecrypt.SCRYPT_LOG2_N = 10

# The pytest processes' own garbage collector (children keep Python's defaults). At the default
# threshold (700 allocations) a worker ran a full collection every few seconds of Textual tests,
# ~150 ms each over the modules, specs and caches it holds: a fifth of the TUI tests' CPU. Young
# collections every 5,000 allocations, and everything that exists once collection is done (test
# modules, parameters, specs: alive until the session ends anyway) frozen out of the scans, take
# that to a twentieth, for ~25 % more peak memory. Objects are freed as before; only the cycle
# collector runs less often.
gc.set_threshold(5000, 10, 10)


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.collect()
    gc.freeze()


@pytest.fixture
def alpaca_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    passfile = tmp_path / "passphrase"
    passfile.write_text(TEST_PASSPHRASE + "\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("ALPACA_TUI_HOME", str(home))
    monkeypatch.setenv("ALPACA_TUI_KEYRING", "file")
    monkeypatch.setenv("ALPACA_TUI_PASSPHRASE_FILE", str(passfile))
    monkeypatch.delenv("ALPACA_TUI_EXEC_PROFILE", raising=False)
    monkeypatch.delenv("ALPACA_TUI_EXPLAIN", raising=False)  # cause/fix lines: only at a terminal
    return home


def child_pythonpath(*paths: str) -> str:
    """A child's PYTHONPATH: ``paths``, after the test-cost scrypt hook (tests/fastkdf)."""
    return os.pathsep.join([FAST_KDF_DIR, *paths])


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for running ``python -m alpaca_tui`` in a child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(extra or {})
    return env


def lock_is_free(home: Path) -> bool:
    """Whether nobody holds the home's store lock (a killed holder's lock is released by the kernel)."""
    import fcntl

    fd = os.open(home / ".lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "alpaca_tui", *args]


def system_keyring_available() -> bool:
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return False
    try:
        from alpaca_tui.core.store import probe_system_keyring  # type: ignore[attr-defined]
    except ImportError:
        return False
    ok, _reason = probe_system_keyring(timeout=3.0)
    return bool(ok)


@pytest.fixture
def system_keyring_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    if not system_keyring_available():
        if os.environ.get("ALPACA_TUI_REQUIRE_SYSTEM_KEYRING"):
            pytest.fail("a real Secret Service is required here (run the tests with ./dev test)")
        pytest.skip("no Secret Service on this machine (run the tests with ./dev test)")
    home = tmp_path / "home"
    monkeypatch.setenv("ALPACA_TUI_HOME", str(home))
    monkeypatch.setenv("ALPACA_TUI_KEYRING", "system")
    monkeypatch.delenv("ALPACA_TUI_PASSPHRASE_FILE", raising=False)
    yield home


# -- "internal error" is a failing test ---------------------------------------------------------
# The CLI's top-level handler answers an unexpected exception with "internal error" (a bug by
# definition, issue 12). In this process the handler is wrapped; child processes (``python -m
# alpaca_tui``, pty runs) inherit ALPACA_TUI_INTERNAL_ERRORS and append their tracebacks to it.
# Either way the test that caused it fails, with the traceback.


@pytest.fixture(scope="session")
def _internal_error_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from alpaca_tui.cli.main import INTERNAL_ERRORS_ENV

    log = tmp_path_factory.getbasetemp() / f"internal-errors-{os.getpid()}.log"
    log.touch()
    saved = os.environ.get(INTERNAL_ERRORS_ENV)
    os.environ[INTERNAL_ERRORS_ENV] = str(log)
    yield log
    if saved is None:
        os.environ.pop(INTERNAL_ERRORS_ENV, None)
    else:
        os.environ[INTERNAL_ERRORS_ENV] = saved


@pytest.fixture(autouse=True)
def _internal_error_fails_the_test(_internal_error_log: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import traceback

    import alpaca_tui.cli.main as cli_main

    seen: list[str] = []
    real = cli_main.internal_error

    def trapped(exc: BaseException) -> int:
        seen.append("".join(traceback.format_exception(exc)))
        return real(exc)

    monkeypatch.setattr(cli_main, "internal_error", trapped)
    before = _internal_error_log.stat().st_size
    yield
    with _internal_error_log.open(encoding="utf-8", errors="replace") as fh:
        fh.seek(before)
        children = fh.read()
    if seen or children:
        pytest.fail("the CLI answered 'internal error' (a bug):\n" + "\n".join(seen) + children,
                    pytrace=False)
