"""kill -9 of the real app in the middle of a rotation (CLI and TUI): afterwards the old or
the new credential is active, every secret the rotation keeps is recoverable, the store
opens, the index is repaired from the secret bundle (said once), ``check`` passes against
the emulator and a further rotate / rollback works.

The app runs as ``python -m alpaca_tui`` through :mod:`tests.e2e.crashhook`, which stalls
one atomic replace of ``index.json`` / ``secrets.enc`` (temp file written, home lock held,
old file in place) or just signals after one; the test then sends SIGKILL. Writes in a
legacy rotation, in order: secrets.enc (pending) -> index.json (pending) -> verification
over HTTP -> secrets.enc (promoted) -> index.json (promoted).
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from alpaca_tui.core import keys
from alpaca_tui.core.credentials import Flow, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from alpaca_tui.core.redact import mask
from alpaca_tui.core.store import Store
from alpaca_tui.core.store.index import read_index
from alpaca_tui.core.store.reconcile import index_repairs
from alpaca_tui.emulator import Emulator
from tests.cli.enginecli_support import add_profile, emu, run_cli
from tests.conftest import child_pythonpath, lock_is_free, subprocess_env
from tests.e2e.crashhook import BOOT, READY_ENV, STALL_ENV
from tests.ptydrive import Terminal

__all__ = ["emu"]
pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
REPAIRED = "its index entry disagreed with the secret store"
Cap = pytest.CaptureFixture[str]


# -- killing the real app at a write -------------------------------------------------------------
def _wait_ready(ready: Path, alive: Callable[[], bool], what: str, timeout: float = 20.0,
                idle: Callable[[], None] = lambda: time.sleep(0.01)) -> int:
    """The pid the hook wrote once the app reached ``what``; ``idle`` runs between polls (a pty
    must be read meanwhile, or a TUI blocks writing to it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready.exists():
            return int(ready.read_text().split()[0])
        if not alive():
            pytest.fail(f"the app exited before reaching {what}")
        idle()
    pytest.fail(f"the app did not reach {what} within {timeout} s")


def kill_cli_at(tmp_path: Path, stall: str, *args: str, stdin: str = "",
                before_kill: Callable[[], None] | None = None) -> None:
    """Run ``alpaca-tui ARGS`` (secret on stdin), SIGKILL it at ``stall`` (see crashhook)."""
    ready = tmp_path / f"ready-{stall.replace(':', '-')}"
    env = subprocess_env({STALL_ENV: stall, READY_ENV: str(ready)})
    child = subprocess.Popen([sys.executable, "-c", BOOT, *args], cwd=REPO, env=env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    try:
        assert child.stdin is not None
        child.stdin.write(stdin + "\n")
        child.stdin.close()
        pid = _wait_ready(ready, lambda: child.poll() is None, stall)
        assert pid == child.pid
        if before_kill is not None:
            before_kill()
        assert child.poll() is None, "the app must still be running when it is killed"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    assert child.returncode == -signal.SIGKILL
    assert child.stdout is not None and child.stdout.read() == ""  # it never got to say "rotated"


# -- what must hold after the kill ---------------------------------------------------------------
@dataclass
class After:
    bundle: SecretBundle
    repaired: bool


def survey(home: Path, name: str, capsys: Cap) -> After:
    """Store opens; the index is compared with the bundle as the kill left them; the next
    command repairs any disagreement and says so once; then the two agree."""
    assert lock_is_free(home)  # the kernel released the dead holder's lock
    stale = read_index(home / "index.json").profiles[name]
    store = Store.open()
    bundle = store._read_bundle(name)  # as the kill left it, before anything repairs the index
    needed = bool(index_repairs(stale, bundle))

    code, out, err = run_cli(capsys, "check", name)  # the next run: real engine, real HTTP
    assert code == 0, out + err
    warnings = [line for line in err.splitlines() if REPAIRED in line]
    assert len(warnings) == (1 if needed else 0), err
    if needed:
        assert warnings[0].startswith(f"warning: profile {name!r}: ")
    code, out, err = run_cli(capsys, "check", name)
    assert code == 0 and REPAIRED not in err, err  # said once: the repair was saved

    store = Store.open()
    profile = store.get_profile(name)
    after = store.load_bundle(name)
    assert after == bundle  # a repair never touches a secret
    assert not index_repairs(profile, after), profile
    assert profile.key_id_masked == mask(after.active.key_id)
    assert profile.last_check_ok is True
    assert not [p for p in home.iterdir() if p.name.endswith(".tmp")]  # stale temp files cleaned
    index_text = (home / "index.json").read_text()
    assert not [v for v in after.values() if v in index_text]  # no secret (nor key ID) in the index
    assert not [s.key_id for s in kept(after) if s.key_id in index_text]
    return After(bundle, needed)


def kept(bundle: SecretBundle) -> list[Secret]:
    return [s for s in (bundle.active, bundle.pending, bundle.previous) if s is not None]


def stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text + "\n"))


# -- rotate (legacy, encrypted file) killed at every write and during verification -------------
# stall -> (the active secret afterwards, the new one is pending, index repair needed)
ROTATE_POINTS = {
    "before-pending-saved": ("secrets.enc:1", "old", False, False),
    "pending-saved-index-not": ("index.json:1", "old", True, True),
    "verifying": ("index.json:1:after", "old", True, False),
    "before-promote-saved": ("secrets.enc:2", "old", True, False),
    "promoted-index-not": ("index.json:2", "new", False, True),
}


@pytest.mark.parametrize("point", list(ROTATE_POINTS))
def test_kill_9_during_rotate(point: str, alpaca_home: Path, emu: Emulator, tmp_path: Path, capsys: Cap,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    stall, active, pending, repair = ROTATE_POINTS[point]
    old = add_profile(emu, "paper", Env.PAPER)
    issued = emu.create_credential(Env.PAPER, Flow.LEGACY)
    new = Secret(issued.key_id, secret=issued.secret)
    before_kill = None
    if point == "verifying":
        emu.set_latency("trading-paper", 60.0)
        seen = emu.requests("trading-paper")

        def before_kill() -> None:  # the verification GET has reached the emulator and hangs
            deadline = time.monotonic() + 10
            while emu.requests("trading-paper") == seen:
                assert time.monotonic() < deadline, "verification never started"
                time.sleep(0.01)

    kill_cli_at(tmp_path, stall, "rotate", "paper", "--key-id", new.key_id, "--secret-stdin",
                "--keep-old-for", "2h", stdin=new.secret or "", before_kill=before_kill)
    emu.set_latency("trading-paper", 0.0)

    after = survey(alpaca_home, "paper", capsys)
    b = after.bundle
    assert after.repaired is repair
    assert b.active == (old if active == "old" else new)
    if point != "before-pending-saved":  # once the new secret landed, both are kept
        assert old in kept(b) and new in kept(b)
    assert (b.pending == new) if pending else (b.pending is None)
    profile = Store.open().get_profile("paper")
    if pending:
        assert profile.rotation_state == "pending" and profile.pending_key_id_masked == mask(new.key_id)
        # finish the interrupted rotation from the stored pending secret
        code, out, err = run_cli(capsys, "rotate", "paper", "--pending")
        assert code == 0 and out.startswith(f"rotated paper: new key {mask(new.key_id)} verified"), err
    elif active == "old":
        assert profile.rotation_state is None and new not in kept(b)  # never landed: nothing to keep
        stdin(monkeypatch, new.secret or "")  # the user simply runs the rotation again
        code, _, err = run_cli(capsys, "rotate", "paper", "--key-id", new.key_id, "--secret-stdin")
        assert code == 0, err
    else:
        assert profile.rotation_state == "overlap" and profile.previous_retire_at is not None
    b = Store.open().load_bundle("paper")
    assert b.active == new and b.previous == old and b.pending is None
    # the new key is the one in use: with the old one revoked, check still passes
    emu.revoke(old.key_id)
    assert run_cli(capsys, "check", "paper", "--json")[0] == 0
    # and rollback works (to a key that no longer works: check says so, nothing is lost)
    code, out, err = run_cli(capsys, "rotate", "paper", "--rollback", "--json")
    assert code == 0 and json.loads(out)["key_id_masked"] == mask(old.key_id), err
    b = Store.open().load_bundle("paper")
    assert b.active == old and b.previous == new
    assert run_cli(capsys, "check", "paper")[0] == 1


def _overlap(emu: Emulator, capsys: Cap, monkeypatch: pytest.MonkeyPatch) -> tuple[Secret, Secret]:
    old = add_profile(emu, "paper", Env.PAPER)
    issued = emu.create_credential(Env.PAPER, Flow.LEGACY)
    new = Secret(issued.key_id, secret=issued.secret)
    stdin(monkeypatch, new.secret or "")
    code, _, err = run_cli(capsys, "rotate", "paper", "--key-id", new.key_id, "--secret-stdin")
    assert code == 0, err
    return old, new


def test_kill_9_during_rollback(alpaca_home: Path, emu: Emulator, tmp_path: Path, capsys: Cap,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = _overlap(emu, capsys, monkeypatch)
    kill_cli_at(tmp_path, "index.json:1", "rotate", "paper", "--rollback")  # swapped, index not
    after = survey(alpaca_home, "paper", capsys)
    assert after.repaired and after.bundle.active == old and after.bundle.previous == new
    profile = Store.open().get_profile("paper")
    assert profile.rotation_state == "overlap" and profile.key_id_masked == mask(old.key_id)
    emu.revoke(new.key_id)  # the repaired profile really uses the old key
    assert run_cli(capsys, "check", "paper")[0] == 0
    code, out, err = run_cli(capsys, "rotate", "paper", "--rollback")
    assert code == 0 and f"key {mask(new.key_id)} is active again" in out, err


def test_kill_9_during_retire(alpaca_home: Path, emu: Emulator, tmp_path: Path, capsys: Cap,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    _old, new = _overlap(emu, capsys, monkeypatch)
    kill_cli_at(tmp_path, "index.json:1", "rotate", "paper", "--retire-now")  # dropped, index not
    after = survey(alpaca_home, "paper", capsys)
    assert after.repaired and after.bundle == SecretBundle(active=new)
    profile = Store.open().get_profile("paper")
    assert profile.rotation_state is None and profile.previous_retire_at is None
    code, _, err = run_cli(capsys, "rotate", "paper", "--rollback")
    assert code == 2 and "nothing to roll back" in err
    newer = emu.create_credential(Env.PAPER, Flow.LEGACY)
    stdin(monkeypatch, newer.secret or "")
    code, _, err = run_cli(capsys, "rotate", "paper", "--key-id", newer.key_id, "--secret-stdin")
    assert code == 0, err


def test_kill_9_promoting_a_private_key_jwt_rotation(alpaca_home: Path, emu: Emulator, tmp_path: Path,
                                                      capsys: Cap) -> None:
    """Same client ID, new key pair: only the fingerprint (and rotation state) tell them apart."""
    old = add_profile(emu, "bj", Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT)
    store = Store.open()
    store.update_profile("bj", public_key_fingerprint=keys.public_key_fingerprint(old.private_key_pem or ""))
    pem = keys.generate_private_key("RS256")
    emu.register_public_key(old.key_id, keys.public_key_pem(pem))
    keyfile = tmp_path / "new.pem"
    keyfile.write_text(pem)
    keyfile.chmod(0o600)
    kill_cli_at(tmp_path, "index.json:2", "rotate", "bj", "--private-key-file", str(keyfile))
    after = survey(alpaca_home, "bj", capsys)  # its check passes with the new key pair only
    assert after.repaired
    b = after.bundle
    assert b.active.private_key_pem == pem and b.previous == old and b.pending is None
    profile = Store.open().get_profile("bj")
    assert profile.public_key_fingerprint == keys.public_key_fingerprint(pem) and profile.alg == "RS256"
    assert profile.rotation_state == "overlap"
    code, _, err = run_cli(capsys, "rotate", "bj", "--rollback")
    assert code == 0, err
    profile = Store.open().get_profile("bj")
    assert profile.public_key_fingerprint == keys.public_key_fingerprint(old.private_key_pem or "")
    # the emulator keeps one public key per client: the old key works again once it is registered
    assert run_cli(capsys, "check", "bj", "--no-cache")[0] == 1
    emu.register_public_key(old.key_id, keys.public_key_pem(old.private_key_pem or ""))
    assert run_cli(capsys, "check", "bj", "--no-cache")[0] == 0


@pytest.mark.system_keyring
def test_kill_9_promoting_with_the_os_keyring(system_keyring_home: Path, emu: Emulator, tmp_path: Path,
                                              capsys: Cap) -> None:
    """The secret lives in the real Secret Service, the index in a file: killed between them."""
    old = add_profile(emu, "paper", Env.PAPER)
    issued = emu.create_credential(Env.PAPER, Flow.LEGACY)
    new = Secret(issued.key_id, secret=issued.secret)
    try:
        kill_cli_at(tmp_path, "index.json:2", "rotate", "paper", "--key-id", new.key_id, "--secret-stdin",
                    stdin=new.secret or "")
        after = survey(system_keyring_home, "paper", capsys)
        assert after.repaired and after.bundle.active == new and after.bundle.previous == old
        code, _, err = run_cli(capsys, "rotate", "paper", "--rollback")
        assert code == 0, err
        assert Store.open().load_bundle("paper").active == old
    finally:
        Store.open().remove_profile("paper")  # leave nothing in the session keyring


# -- doctor reports and repairs ------------------------------------------------------------------
def test_doctor_repairs_after_a_kill(alpaca_home: Path, emu: Emulator, tmp_path: Path, capsys: Cap) -> None:
    old = add_profile(emu, "paper", Env.PAPER)
    issued = emu.create_credential(Env.PAPER, Flow.LEGACY)
    kill_cli_at(tmp_path, "index.json:2", "rotate", "paper", "--key-id", issued.key_id, "--secret-stdin",
                stdin=issued.secret or "")
    code, out, err = run_cli(capsys, "doctor", "--json")
    assert code == 0, err
    c = json.loads(out)["consistency"]
    assert c["checked"] is True and c["profiles"] == 1 and c["errors"] == [] and c["orphans"] == []
    assert len(c["repaired"]) == 1 and REPAIRED in c["repaired"][0]
    assert mask(issued.key_id) in c["repaired"][0] and mask(old.key_id) in c["repaired"][0]
    assert issued.secret not in out and (old.secret or "") not in out
    code, out, _ = run_cli(capsys, "doctor")
    assert code == 0 and "1 profile(s) agree with their secrets" in out and "repaired:" not in out
    assert Store.open().get_profile("paper").key_id_masked == mask(issued.key_id)


# -- the real TUI, killed while it saves a rotation ----------------------------------------------
class Tui:
    """The real app in a pseudo-terminal (:class:`tests.ptydrive.Terminal`: pty + pyte screen)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        # the child inherits this process's environment (the test's home) plus ``env``
        self.tty = Terminal(argv, size=(100, 30), extra_env={"ALPACA_TUI_NO_DEMO_OFFER": "1", **env})
        self.status: int | None = None  # the raw os.waitpid status once killed

    def step(self, wait: str, keys_: str | None = None, *, settle: float = 0.0) -> None:
        """Wait for ``wait`` on screen, then type ``keys_``. A key that moves the focus (enter in
        the filter, tab) takes effect a moment after it is read: ``settle`` before more keys."""
        assert self.tty.wait(wait, 15.0), f"{wait!r} not on screen:\n{self.tty.text()}"
        if keys_:
            self.tty.keys(keys_, settle=max(settle, 0.05))  # reads the pty meanwhile

    def kill(self) -> None:
        """kill -9 (also on any failure: never leave the app behind) and reap it."""
        if self.status is not None:
            return
        self.tty.kill(signal.SIGKILL)
        self.status = self.tty.wait_status
        self.tty.close()


@pytest.mark.parametrize("stall", ["index.json:1", "index.json:2"])
def test_kill_9_tui_during_rotation(stall: str, alpaca_home: Path, emu: Emulator, tmp_path: Path,
                                    capsys: Cap) -> None:
    old = add_profile(emu, "paper", Env.PAPER)
    issued = emu.create_credential(Env.PAPER, Flow.LEGACY)
    new = Secret(issued.key_id, secret=issued.secret)
    ready = tmp_path / "ready"
    app = Tui([sys.executable, "-c", BOOT],
              {STALL_ENV: stall, READY_ENV: str(ready), "PYTHONPATH": child_pythonpath(str(REPO))})
    try:
        app.step(r"1 credential", "/")
        app.step(r"filter: name", "paper")
        app.step(r"1 match", "enter", settle=0.4)
        app.step(r"1 match", "r")
        app.step(r"rotate · paper(.*\n)*.*active key PK", new.key_id)  # into the focused "New key ID"
        app.step(f"New key ID +{new.key_id}", "tab", settle=0.4)
        app.step(r"New secret", new.secret or "")
        app.step(r"New secret +•{8}", "ctrl+s")  # masked on screen
        pid = _wait_ready(ready, lambda: app.tty.alive, f"{stall}; screen:\n{app.tty.text()}",
                          idle=lambda: app.tty.pump(0.01))
        assert pid == app.tty.pid
        assert (new.secret or "") not in app.tty.text()
    finally:
        app.kill()
    assert app.status is not None and os.WIFSIGNALED(app.status) and os.WTERMSIG(app.status) == signal.SIGKILL

    if stall == "index.json:2":
        # promoted, index not: the next TUI start repairs the index before listing it
        assert Store.open().get_profile("paper").key_id_masked == mask(old.key_id)
        again = Tui([sys.executable, "-m", "alpaca_tui"], {})
        try:
            again.step(r"1 credential")
            again.step(re.escape(mask(new.key_id)))
            again.step(r"paper.*⟲")  # the old key is kept for rollback
        finally:
            again.kill()
    after = survey(alpaca_home, "paper", capsys)
    if stall == "index.json:1":
        # pending saved, index not: the index still shows the (right) active key, so the TUI
        # start leaves it; the first use of the profile (here: check) repairs it
        assert after.repaired
        assert after.bundle.active == old and after.bundle.pending == new
        code, _, err = run_cli(capsys, "rotate", "paper", "--pending")
        assert code == 0, err
    else:
        assert not after.repaired  # the TUI did it
        assert after.bundle.active == new and after.bundle.previous == old
    emu.revoke(old.key_id)
    assert run_cli(capsys, "check", "paper")[0] == 0  # the new key is the one in use
    code, _, err = run_cli(capsys, "rotate", "paper", "--rollback")
    assert code == 0, err
    assert Store.open().load_bundle("paper").active == old
