"""Shared fixtures.

``alpaca_home`` gives every test its own ALPACA_TUI_HOME using the encrypted-file
backend with a passphrase file (fast, isolated). Tests that need the real OS keyring
use ``system_keyring_home`` (marked ``system_keyring``): it runs against the Secret
Service started by ``./dev test`` (dbus-run-session + gnome-keyring-daemon).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TEST_PASSPHRASE = "correct horse battery staple"


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
