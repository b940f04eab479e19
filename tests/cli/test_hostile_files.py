"""Issue 12, item 5: homes and files we do not own. Real commands in child processes.

- a home others can write (0777, a group-writable or foreign parent) or that belongs to another
  user is refused with a one-line fix, before anything is read from it or sent anywhere;
  ``/tmp``-like sticky parents are fine when the home itself is ours;
- every file read is regular, ours (in the home), not a symlink (in the home), size-capped:
  FIFOs for index.json, secrets.enc, the passphrase file and a PEM never hang, /dev/zero is a
  one-line error, a 1 GiB sparse secrets.enc costs no RAM;
- a crafted scrypt header is refused before any key derivation (fast, no memory).

"Another user" is a uid with no account (``tests/hostile_support.py``): root chowns files to it
and runs commands as it with setpriv. Not root: those cases skip, saying so.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from alpaca_tui.core.environments import Env
from alpaca_tui.core.store import filecrypt
from alpaca_tui.emulator import Emulator
from tests.cli.enginecli_support import add_profile, emu, run_sub
from tests.hostile_support import (
    OTHER_UID,
    REPO,
    as_user,
    chown_tree,
    is_root,
    measure,
    need_second_user,
    one_line_error,
    user_dir,
    user_python,
)

__all__ = ["emu"]
BROKER_ID = "CKTESTBROKER00000001"
MIB = 1024 * 1024


def _digest(home: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(home.iterdir()) if p.is_file()}


COMMANDS = [("profiles", "list"), ("check", "paper"), ("exec", "paper", "--", "true"), ("unlock",),
            ("doctor",)]


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o722])
def test_a_home_others_can_write_is_refused_with_the_fix(alpaca_home: Path, emu: Emulator,
                                                         mode: int) -> None:
    add_profile(emu, "paper", Env.PAPER)
    before = _digest(alpaca_home)
    alpaca_home.chmod(mode)
    for args in COMMANDS:
        res = run_sub(*args, timeout=30)
        assert res.returncode == 1, (args, res.stdout, res.stderr)
        if args == ("doctor",):
            assert f"chmod 700 {alpaca_home}" in res.stdout and "✗ refusing to use" in res.stdout
            continue
        line = one_line_error(res.stderr)
        assert "refusing to use the data directory" in line and f"fix: chmod 700 {alpaca_home}" in line, args
    assert emu.requests("trading-paper") == 0, "nothing may be sent from a home others can change"
    assert stat.S_IMODE(alpaca_home.stat().st_mode) == mode and _digest(alpaca_home) == before
    alpaca_home.chmod(0o700)  # the printed fix works
    assert run_sub("check", "paper").returncode == 0


@pytest.mark.parametrize("mode, ok", [(0o777, False), (0o775, False), (0o1777, True), (0o1770, True)],
                         ids=["0777", "0775", "sticky-1777", "sticky-1770"])
def test_the_parents_of_the_home_are_checked(alpaca_home: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch, mode: int, ok: bool) -> None:
    """A parent others can write lets them rename the home away and put theirs in its place;
    the sticky bit (``/tmp``) forbids that for what is ours."""
    parent = tmp_path / "shared"
    parent.mkdir()
    parent.chmod(mode)
    home = parent / "home"
    monkeypatch.setenv("ALPACA_TUI_HOME", str(home))
    res = run_sub("profiles", "add", "p", "--env", "paper", "--flow", "legacy", "--key-id",
                  "PKTEST00000000000001", "--secret-stdin", stdin="PaperSecret0123456789abcdefghijklmnopqrs")
    if ok:
        assert res.returncode == 0, res.stderr
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        return
    line = one_line_error(res.stderr)
    assert res.returncode == 1 and f"the directory above it, {parent}, is writable by" in line
    assert f"fix: chmod go-w {parent}" in line and not home.exists()


def test_a_home_made_by_another_user_is_never_used(alpaca_home: Path, tmp_path: Path, emu: Emulator,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The attack from the review: another user made the home 0777 and put in an index naming her
    endpoint. We refuse the home; her server receives nothing."""
    need_second_user()
    add_profile_home = tmp_path / "prepared"
    monkeypatch.setenv("ALPACA_TUI_HOME", str(add_profile_home))
    add_profile(emu, "paper", Env.PAPER)
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o777)
    theirs.chmod(0o777)
    (theirs / "index.json").write_bytes((add_profile_home / "index.json").read_bytes())
    chown_tree(theirs, OTHER_UID)
    monkeypatch.setenv("ALPACA_TUI_HOME", str(theirs))
    add = ("profiles", "add", "q", "--env", "paper", "--flow", "legacy", "--key-id", "PKTEST00000000000002",
           "--secret-stdin")
    for args in [("check", "paper"), add]:
        res = run_sub(*args, stdin="PaperSecret0123456789abcdefghijklmnopqrs")
        line = one_line_error(res.stderr)
        assert res.returncode == 1 and f"it belongs to uid {OTHER_UID}" in line and "mv " in line, line
    theirs.chmod(0o700)  # private but still hers: still refused
    line = one_line_error(run_sub("profiles", "list").stderr)
    assert f"belongs to uid {OTHER_UID}" in line
    assert emu.requests("trading-paper") == 0 and sorted(p.name for p in theirs.iterdir()) == ["index.json"]


def test_a_parent_of_another_user_is_refused(alpaca_home: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    need_second_user()
    parent = tmp_path / "hers"
    parent.mkdir(mode=0o755)
    os.chown(parent, OTHER_UID, OTHER_UID)
    monkeypatch.setenv("ALPACA_TUI_HOME", str(parent / "home"))
    line = one_line_error(run_sub("profiles", "list").stderr)
    assert f"the directory above it, {parent}, belongs to uid {OTHER_UID}" in line


def test_the_other_user_is_refused_a_home_of_ours(alpaca_home: Path, emu: Emulator,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The same check from the other side: a command run *as* the second user, on a home that
    belongs to root (under a sticky /tmp-like directory she may use)."""
    need_second_user()
    python, pythonpath = user_python()
    with user_dir(None) as base:
        base.chmod(0o1777)
        home = base / "home"
        monkeypatch.setenv("ALPACA_TUI_HOME", str(home))
        add_profile(emu, "paper", Env.PAPER)
        env = {"ALPACA_TUI_HOME": str(home), "ALPACA_TUI_KEYRING": "file", "HOME": str(base),
               "PYTHONPATH": pythonpath, "PYTHONDONTWRITEBYTECODE": "1"}
        import subprocess

        res = subprocess.run(as_user([python, "-m", "alpaca_tui", "profiles", "list"]), env=env, cwd=REPO,
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        line = one_line_error(res.stderr)
        assert res.returncode == 1 and "belongs to uid 0 (root), not you" in line


def test_links_and_foreign_files_in_the_home_are_refused(alpaca_home: Path, emu: Emulator,
                                                         tmp_path: Path) -> None:
    add_profile(emu, "paper", Env.PAPER)
    index = alpaca_home / "index.json"
    elsewhere = tmp_path / "index-elsewhere.json"
    index.rename(elsewhere)
    index.symlink_to(elsewhere)
    line = one_line_error(run_sub("profiles", "list").stderr)
    assert "profile index" in line and "symbolic link" in line
    index.unlink()
    elsewhere.rename(index)
    assert run_sub("profiles", "list").returncode == 0
    if not is_root():
        return
    os.chown(alpaca_home / "secrets.enc", OTHER_UID, OTHER_UID)
    line = one_line_error(run_sub("exec", "paper", "--", "true").stderr)
    assert "encrypted store" in line and f"belongs to uid {OTHER_UID}" in line


def _fifo(path: Path) -> None:
    if path.exists():
        path.unlink()
    os.mkfifo(path, 0o600)


@pytest.mark.parametrize("target", ["index.json", "secrets.enc", "passphrase", "pem"])
def test_a_fifo_never_hangs_a_command(alpaca_home: Path, emu: Emulator, tmp_path: Path, target: str) -> None:
    add_profile(emu, "paper", Env.PAPER)
    env: dict[str, str] = {}
    args: tuple[str, ...] = ("exec", "paper", "--", "true")
    code, label = 1, target
    if target in ("index.json", "secrets.enc"):
        _fifo(alpaca_home / target)
        label = "profile index" if target == "index.json" else "encrypted store"
    elif target == "passphrase":
        _fifo(tmp_path / "fifo-pass")
        env = {"ALPACA_TUI_PASSPHRASE_FILE": str(tmp_path / "fifo-pass")}
        label = "ALPACA_TUI_PASSPHRASE_FILE="
    else:
        _fifo(tmp_path / "key.pem")
        args = ("profiles", "add", "j", "--env", "broker-sandbox", "--flow", "private-key-jwt", "--key-id",
                BROKER_ID, "--private-key-file", str(tmp_path / "key.pem"))
        code, label = 2, "private key file"
    started = time.monotonic()
    res = run_sub(*args, env=env, timeout=30)
    elapsed = time.monotonic() - started
    line = one_line_error(res.stderr)
    assert res.returncode == code and label in line and "it is a FIFO, not a regular file" in line, line
    assert elapsed < 10, f"{elapsed:.1f} s"


def test_dev_zero_as_the_passphrase_file_is_one_line(alpaca_home: Path, emu: Emulator) -> None:
    add_profile(emu, "paper", Env.PAPER)
    res = measure(["exec", "paper", "--", "true"], {"ALPACA_TUI_PASSPHRASE_FILE": "/dev/zero"})
    line = one_line_error(res.stderr)
    assert res.code == 1 and line == ("alpaca-tui: error: cannot read ALPACA_TUI_PASSPHRASE_FILE=/dev/zero: "
                                      "it is a character device, not a regular file")
    assert res.rss_mib < 150


def test_caps_on_the_index_and_the_passphrase_file(alpaca_home: Path, emu: Emulator, tmp_path: Path) -> None:
    add_profile(emu, "paper", Env.PAPER)
    big_pass = tmp_path / "big-pass"
    big_pass.write_text("x" * (64 * 1024 + 1))
    line = one_line_error(run_sub("exec", "paper", "--", "true",
                                  env={"ALPACA_TUI_PASSPHRASE_FILE": str(big_pass)}).stderr)
    assert "more than the 64 KiB such a file can be" in line
    with (alpaca_home / "index.json").open("r+b") as fh:
        fh.truncate(9 * MIB)
    line = one_line_error(run_sub("profiles", "list").stderr)
    assert "profile index" in line and "9 MiB, more than the 8 MiB" in line


def test_a_sparse_1gib_secrets_file_costs_no_memory(alpaca_home: Path, emu: Emulator) -> None:
    """Before: 7.8 s and 4.1 GiB peak RSS (the file was read and decrypted whole). Now: refused
    by its size before a byte is read."""
    add_profile(emu, "paper", Env.PAPER)
    with (alpaca_home / "secrets.enc").open("r+b") as fh:
        fh.truncate(1 << 30)
    res = measure(["exec", "paper", "--", "true"], {})
    line = one_line_error(res.stderr)
    assert res.code == 1 and "encrypted store" in line and "1 GiB, more than the 32 MiB" in line
    assert res.seconds < 10 and res.rss_mib < 150, res


# "cheaper" is one step below what this process writes (the suite writes 2^10: tests/fastkdf)
@pytest.mark.parametrize("params", [(22, 8, 1), (15, 32, 1), (15, 8, 16),
                                    (filecrypt.SCRYPT_LOG2_N - 1, 8, 1)],
                         ids=["n=2^22", "r=32", "p=16", "cheaper"])
def test_a_crafted_kdf_header_is_refused_before_deriving(alpaca_home: Path, emu: Emulator,
                                                         params: tuple[int, int, int]) -> None:
    """Before: n=2^22 cost 20.9 s and 4.1 GiB per command. Only the parameters we write are used."""
    add_profile(emu, "paper", Env.PAPER)
    path = alpaca_home / "secrets.enc"
    raw = bytearray(path.read_bytes())
    raw[8:11] = bytes(params)
    path.write_bytes(bytes(raw))
    res = measure(["exec", "paper", "--", "true"], {})
    line = one_line_error(res.stderr)
    n, r, p = params
    assert res.code == 1 and f"scrypt n=2^{n}, r={r}, p={p}" in line and "refusing to derive" in line
    assert res.seconds < 10 and res.rss_mib < 150, res
    assert path.read_bytes() == bytes(raw)


@pytest.mark.skipif(sys.platform != "linux", reason="O_NOFOLLOW semantics checked on Linux")
def test_the_lock_file_must_be_a_regular_file_of_ours(alpaca_home: Path, emu: Emulator) -> None:
    add_profile(emu, "paper", Env.PAPER)
    _fifo(alpaca_home / ".lock")
    res = run_sub("profiles", "add", "q", "--env", "paper", "--flow", "legacy", "--key-id",
                  "PKTEST00000000000002", "--secret-stdin", stdin="PaperSecret0123456789abcdefghijklmnopqrs",
                  timeout=30)
    line = one_line_error(res.stderr)
    assert res.returncode == 1 and "lock file" in line and "not a regular file" in line
