"""``alpaca-tui unlock`` / ``lock``: the session agent for the encrypted-file store.

Real processes, a real Unix socket, a real emulator on loopback. Children run in their own
session without a terminal (like cron) and without a passphrase file: only the agent can open
the store for them.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from alpaca_tui.core.environments import Env
from alpaca_tui.core.store import FileBackend, agent
from alpaca_tui.core.store.fsutil import HomeLock
from alpaca_tui.emulator import Emulator
from tests.cli.enginecli_support import add_profile, emu, run_sub
from tests.conftest import TEST_PASSPHRASE

__all__ = ["emu"]


@pytest.fixture
def env_without_passphrase(alpaca_home: Path) -> Iterator[dict[str, str]]:
    env = {"ALPACA_TUI_HOME": str(alpaca_home), "ALPACA_TUI_KEYRING": "file",
           "ALPACA_TUI_PASSPHRASE_FILE": ""}
    yield env
    agent.stop(alpaca_home)


def _agent_pid(home: Path) -> int:
    st = agent.status(home)
    assert st is not None, "the agent should be running"
    return st.pid


def test_unlock_once_then_commands_need_no_passphrase(alpaca_home: Path, emu: Emulator,
                                                       env_without_passphrase: dict[str, str]) -> None:
    secret = add_profile(emu, "paper", Env.PAPER)
    locked = run_sub("check", "paper", env=env_without_passphrase)
    assert locked.returncode == 1 and "encrypted store is locked" in locked.stderr
    assert len(locked.stderr.strip().splitlines()) == 1

    # unlock reads the passphrase file this once (a person would type it at the prompt)
    res = run_sub("unlock", "--for", "10m", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["locked"] is False and doc["backend"] == "file" and doc["home"] == str(alpaca_home)
    pid = _agent_pid(alpaca_home)
    assert doc["agent_pid"] == pid

    ok = run_sub("check", "paper", env=env_without_passphrase)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("✓ paper  trading  200")

    # the socket is private, and the key is in neither the agent's argv nor its environment
    sock = agent.socket_path(alpaca_home)
    assert stat.S_ISSOCK(sock.stat().st_mode) and stat.S_IMODE(sock.stat().st_mode) == 0o600
    proc = Path(f"/proc/{pid}")
    if proc.exists():
        blob = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        assert secret.secret is not None and secret.secret.encode() not in blob
        assert TEST_PASSPHRASE.encode() not in blob
        backend = FileBackend(alpaca_home / "secrets.enc", HomeLock(alpaca_home))
        key, _header = backend.session_key()
        assert key.hex().encode() not in blob and key not in blob

    res = run_sub("lock", env=env_without_passphrase)
    assert res.returncode == 0 and "locked" in res.stderr
    assert agent.status(alpaca_home) is None and not sock.exists()
    again = run_sub("check", "paper", env=env_without_passphrase)
    assert again.returncode == 1 and "encrypted store is locked" in again.stderr
    res = run_sub("lock", env=env_without_passphrase)
    assert res.returncode == 0 and "no session agent was running" in res.stderr


def test_agent_ends_at_its_deadline(alpaca_home: Path, emu: Emulator,
                                    env_without_passphrase: dict[str, str]) -> None:
    add_profile(emu, "paper", Env.PAPER)
    res = run_sub("unlock", "--for", "2s")
    assert res.returncode == 0, res.stderr
    assert "unlocked" in res.stderr and "UTC" in res.stderr
    st = agent.status(alpaca_home)
    assert st is not None and st.expires_at - time.time() <= 2.5
    deadline = time.monotonic() + 10
    while agent.socket_path(alpaca_home).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not agent.socket_path(alpaca_home).exists()
    assert agent.status(alpaca_home) is None
    res = run_sub("check", "paper", env=env_without_passphrase)
    assert res.returncode == 1 and "locked" in res.stderr


def test_killed_agent_falls_back_and_wrong_store_gets_nothing(alpaca_home: Path, emu: Emulator,
                                                              env_without_passphrase: dict[str, str],
                                                              tmp_path: Path) -> None:
    add_profile(emu, "paper", Env.PAPER)
    assert run_sub("unlock").returncode == 0
    pid = _agent_pid(alpaca_home)

    # The agent answers only for the salt + KDF parameters of the store it was unlocked for.
    assert agent.fetch_key(alpaca_home, b"\0" * 16, (15, 8, 1)) is None
    assert agent.ask(alpaca_home, {"op": "nonsense"}) is None

    # kill -9 leaves a stale socket: commands treat it as "no agent" (one-line error, no hang) ...
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while agent.status(alpaca_home) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert agent.socket_path(alpaca_home).exists()
    started = time.monotonic()
    res = run_sub("check", "paper", env=env_without_passphrase)
    assert res.returncode == 1 and "locked" in res.stderr and "Traceback" not in res.stderr
    assert time.monotonic() - started < 10
    # ... and the next unlock replaces the stale socket.
    res = run_sub("unlock")
    assert res.returncode == 0, res.stderr
    assert run_sub("check", "paper", env=env_without_passphrase).returncode == 0


def test_wrong_passphrase_starts_no_agent(alpaca_home: Path, emu: Emulator, tmp_path: Path,
                                          env_without_passphrase: dict[str, str]) -> None:
    add_profile(emu, "paper", Env.PAPER)
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    res = run_sub("unlock", env={"ALPACA_TUI_PASSPHRASE_FILE": str(wrong)})
    assert res.returncode == 1 and "wrong passphrase" in res.stderr
    assert agent.status(alpaca_home) is None and not agent.socket_path(alpaca_home).exists()
    res = run_sub("unlock", "--for", "2d")
    assert res.returncode == 2 and "24h" in res.stderr


def test_system_keyring_home_has_nothing_to_unlock(system_keyring_home: Path) -> None:
    res = run_sub("unlock", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["backend"] == "system" and doc["locked"] is True and doc["agent_pid"] is None


def test_long_home_path_uses_a_private_runtime_socket(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / ("h" * 120)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    path = agent.socket_path(home)
    assert path.parent == tmp_path / "run" / f"alpaca-tui-{os.getuid()}" and path.name.endswith(".sock")
    assert agent.socket_path(home) == path and agent.socket_path(tmp_path / "other") != path


def test_agent_survives_garbage_on_its_socket(alpaca_home: Path, emu: Emulator,
                                              env_without_passphrase: dict[str, str]) -> None:
    """Junk, oversized lines, silent and half-closed clients: the agent answers the next
    request, and never hands the key out for a request that is not exactly right."""
    import socket

    add_profile(emu, "paper", Env.PAPER)
    assert run_sub("unlock", "--for", "5m").returncode == 0
    path = str(agent.socket_path(alpaca_home))

    def send(data: bytes) -> bytes:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(3)
            s.connect(path)
            try:
                if data:
                    s.sendall(data)
                s.shutdown(socket.SHUT_WR)
                return s.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                return b""  # the agent hung up on an oversized line: fine

    for junk in (b"\xff\xfe\x00garbage\n", b"x" * 10_000 + b"\n", b"[1, 2]\n", b'{"op": "key"}\n',
                 b'{"op": "key", "salt": "00", "kdf": [15, 8, 1]}\n', b"", b'{"op": "stat'):
        reply = send(junk)
        assert b'"key"' not in reply, (junk[:40], reply)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:  # connects, says nothing
        silent.connect(path)
        st = agent.status(alpaca_home)  # may wait out the silent client's 1 s, no longer
    assert st is not None
    assert run_sub("check", "paper", env=env_without_passphrase).returncode == 0


def test_lock_json_names_the_homes_backend(system_keyring_home: Path) -> None:
    from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
    from alpaca_tui.core.store import Store

    store = Store.open()
    store.add_profile(Profile("k", Env.PAPER, Flow.LEGACY, "PKLO…0001"),
                      SecretBundle(Secret("PKLOCKLOCKLOCKLO0001", "lock-test-secret-0123456789")))
    try:
        res = run_sub("lock", "--json")
        assert res.returncode == 0, res.stderr
        doc = json.loads(res.stdout)
        assert doc["backend"] == "system" and doc["locked"] is True
    finally:
        store.remove_profile("k")
