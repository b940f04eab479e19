"""Issue 12, item 4: no core file and no same-user memory reading for any command (or the TUI);
``exec``'s child gets both back; the agent keeps one copy of its key, in locked memory.

Real processes throughout: the real CLI (``python -m alpaca_tui``) holding a real secret while
it waits on the emulator (latency fault), killed with SIGSEGV / SIGABRT in a directory where
this kernel writes ``core`` files (``core_pattern`` = ``core``). Each test first shows that an
ordinary process in the same conditions *does* leave a core file or *can* be read (else it
skips: such a system cannot show the difference). Same-user reading needs a non-root prober
(root may read any process): as root the command and the prober run as another uid
(``tests/hostile_support.py``); not root, both run as the current user.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from alpaca_tui.core.environments import Env
from alpaca_tui.emulator import Emulator
from tests.cli.enginecli_support import add_profile, emu, run_sub
from tests.conftest import TEST_PASSPHRASE, child_pythonpath, cli_argv, subprocess_env
from tests.hostile_support import (
    OTHER_UID,
    REPO,
    as_user,
    chown_tree,
    core_files,
    is_root,
    need_second_user,
    user_dir,
    user_python,
    wait_for,
)

__all__ = ["emu"]
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not sys.platform.startswith("linux"),
                                                  reason="/proc and core_pattern are Linux")]
ROLE = "trading-paper"


def _core_on() -> None:  # preexec: the largest core limit allowed (as a user's shell might set it)
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


def _core_limit(pid: int) -> str:
    text = Path(f"/proc/{pid}/limits").read_text()
    m = re.search(r"^Max core file size\s+(\S+)", text, re.M)
    assert m, text
    return m.group(1)


def _require_cores(d: Path, sig: int) -> None:
    """An ordinary process killed by ``sig`` here leaves a core file (else skip)."""
    d.mkdir()
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=d, preexec_fn=_core_on)
    wait_for(lambda: _core_limit(p.pid) != "0", 5, "the control process")
    os.kill(p.pid, sig)
    p.wait(20)
    if not core_files(d):
        pytest.skip(f"this system writes no core file in the working directory "
                    f"(core_pattern {Path('/proc/sys/kernel/core_pattern').read_text().strip()!r})")


@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGABRT], ids=["SIGSEGV", "SIGABRT"])
def test_a_crashed_command_leaves_no_core_file(alpaca_home: Path, emu: Emulator, tmp_path: Path,
                                               sig: int) -> None:
    _require_cores(tmp_path / "control", sig)
    secret = add_profile(emu, "paper", Env.PAPER)
    emu.set_latency(ROLE, 30)
    crash = tmp_path / "crash"
    crash.mkdir()
    proc = subprocess.Popen(cli_argv("check", "paper", "--timeout", "60"), env=subprocess_env(), cwd=crash,
                            preexec_fn=_core_on, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for(lambda: emu.requests(ROLE) >= 1, 30, "check to hold its secret and wait on the server")
        assert _core_limit(proc.pid) == "0"       # it lowered the limit its parent gave it
        os.kill(proc.pid, sig)
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -sig
    assert core_files(crash) == [], "a core file would hold the secret"
    assert secret.secret and all(secret.secret.encode() not in p.read_bytes() for p in crash.iterdir())


# Runs as the prober user: starts MODE (control: a plain python; check: the real CLI; tui: the
# real TUI on a pty), waits until it is ready, tries to open its /proc files, kills it with
# SIGSEGV, and reports what it saw as JSON.
PROBER = r'''
import json, os, resource, signal, subprocess, sys, threading, time
mode, cwd, go = sys.argv[1:4]
py = os.environ["PROBE_PYTHON"]
def core_on():
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
kw = dict(cwd=cwd, preexec_fn=core_on, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
          stderr=subprocess.DEVNULL, start_new_session=True)
if mode == "control":
    argv = [py, "-c", "import time; time.sleep(60)"]
elif mode == "check":
    argv = [py, "-m", "alpaca_tui", "check", "paper", "--timeout", "60"]
else:
    argv = [py, "-m", "alpaca_tui"]
    master, slave = os.openpty()
    kw.update(stdin=slave, stdout=slave, stderr=slave)
p = subprocess.Popen(argv, **kw)
if mode == "tui":
    os.close(slave)
    seen = []
    def drain():
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            seen.append(len(data))
    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + 60
    while sum(seen) < 2000 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
elif mode == "check":
    give_up = time.monotonic() + 120  # a failed test never leaves this probe behind
    while not os.path.exists(go) and time.monotonic() < give_up:
        time.sleep(0.02)
else:
    time.sleep(0.5)
out = {"uid": os.getuid()}
for name in ("maps", "mem", "environ"):
    try:
        open(f"/proc/{p.pid}/{name}", "rb").close()
        out[name] = "readable"
    except OSError as exc:
        out[name] = type(exc).__name__
limits = open(f"/proc/{p.pid}/limits").read()
out["core_limit"] = [ln.split()[4] for ln in limits.splitlines() if ln.startswith("Max core")][0]
out["proc_owner"] = os.stat(f"/proc/{p.pid}/mem").st_uid
os.kill(p.pid, signal.SIGSEGV)
p.wait(30)
out["returncode"] = p.returncode
out["cores"] = sorted(n for n in os.listdir(cwd) if n == "core" or n.startswith("core."))
print(json.dumps(out))
'''


def _prober_env(base: Path, home: Path, python: str, pythonpath: str) -> dict[str, str]:
    env = subprocess_env({"ALPACA_TUI_HOME": str(home), "ALPACA_TUI_KEYRING": "file",
                          "ALPACA_TUI_PASSPHRASE_FILE": str(base / "passphrase"), "HOME": str(base),
                          "TERM": "xterm-256color", "PYTHONDONTWRITEBYTECODE": "1",
                          "PYTHONPATH": pythonpath, "PROBE_PYTHON": python})
    env.pop("ALPACA_TUI_EXEC_PROFILE", None)
    return env


def _probe(mode: str, base: Path, home: Path, emu: Emulator | None = None) -> dict[str, object]:
    """Run PROBER for ``mode`` as the prober user (another uid as root, else ourselves)."""
    cwd = base / f"cwd-{mode}"
    cwd.mkdir()
    go = base / f"go-{mode}"
    if is_root():
        os.chown(cwd, OTHER_UID, OTHER_UID)
    python, pythonpath = user_python() if is_root() else (sys.executable, child_pythonpath(str(REPO)))
    argv = [python, "-c", PROBER, mode, str(cwd), str(go)]
    env = _prober_env(base, home, python, pythonpath)
    proc = subprocess.Popen(as_user(argv) if is_root() else argv, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=base)
    try:
        if emu is not None:
            before = emu.requests(ROLE)
            wait_for(lambda: emu.requests(ROLE) > before, 60, "check to wait on the server")
            go.touch()
        out, err = proc.communicate(timeout=120)
    finally:
        go.touch()  # a probe still waiting goes on (and ends) rather than waits forever
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    result: dict[str, object] = json.loads(out)
    return result


def _store_for_prober(base: Path, emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = base / "home"
    (base / "passphrase").write_text(TEST_PASSPHRASE + "\n")
    (base / "passphrase").chmod(0o600)
    monkeypatch.setenv("ALPACA_TUI_HOME", str(home))
    monkeypatch.setenv("ALPACA_TUI_KEYRING", "file")
    monkeypatch.setenv("ALPACA_TUI_PASSPHRASE_FILE", str(base / "passphrase"))
    add_profile(emu, "paper", Env.PAPER)
    if is_root():
        chown_tree(base, OTHER_UID)
    return home


@pytest.fixture
def prober_base() -> object:
    if is_root():
        need_second_user()
        with user_dir(None) as d:  # ours while the store is made, then the prober's
            yield d
    else:
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            yield Path(d)


def test_same_user_cannot_read_a_running_commands_memory(prober_base: Path, emu: Emulator,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """``check`` holding its secret: /proc/<pid>/mem, maps and environ refuse the same user, the
    core limit is 0 and SIGSEGV leaves no core; a plain process of that user is readable and dumps."""
    home = _store_for_prober(prober_base, emu, monkeypatch)
    control = _probe("control", prober_base, home)
    if control["mem"] != "readable" or not control["cores"]:
        pytest.skip(f"an ordinary process here is not readable / writes no core: {control}")
    emu.set_latency(ROLE, 60)
    seen = _probe("check", prober_base, home, emu)
    assert seen["uid"] == control["uid"] != 0 or not is_root()
    assert seen["mem"] == seen["maps"] == seen["environ"] == "PermissionError", seen
    assert seen["proc_owner"] == 0 and seen["core_limit"] == "0", seen     # non-dumpable: /proc is root's
    assert seen["returncode"] == -signal.SIGSEGV and seen["cores"] == [], seen


def test_the_tui_is_hardened_too(prober_base: Path, emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    home = _store_for_prober(prober_base, emu, monkeypatch)
    control = _probe("control", prober_base, home)
    if control["mem"] != "readable" or not control["cores"]:
        pytest.skip(f"an ordinary process here is not readable / writes no core: {control}")
    seen = _probe("tui", prober_base, home)
    assert seen["mem"] == seen["maps"] == "PermissionError" and seen["core_limit"] == "0", seen
    assert seen["returncode"] == -signal.SIGSEGV and seen["cores"] == [], seen


CHILD = ("import ctypes, json, resource; libc = ctypes.CDLL(None); "
         "print(json.dumps({'core': resource.getrlimit(resource.RLIMIT_CORE), "
         "'dumpable': libc.prctl(3, 0, 0, 0, 0)}))")


def test_exec_gives_its_child_the_limits_back(alpaca_home: Path, emu: Emulator) -> None:
    add_profile(emu, "paper", Env.PAPER)
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    res = subprocess.run(cli_argv("exec", "paper", "--", sys.executable, "-c", CHILD), env=subprocess_env(),
                         capture_output=True, text=True, timeout=60, preexec_fn=_core_on)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc == {"core": [hard, hard], "dumpable": 1}


def test_restore_for_child_is_the_one_helper_for_a_parent_that_stays(tmp_path: Path) -> None:
    """What ``exec --proxy`` will do: the parent stays hardened, the child it spawns is normal."""
    script = ("import json, subprocess, sys, ctypes, resource\n"
              "from alpaca_tui.core import hardening as h\n"
              "h.harden_process()\n"
              f"child = subprocess.run([sys.executable, '-c', {CHILD!r}], capture_output=True, text=True,\n"
              "                       preexec_fn=h.restore_for_child).stdout\n"
              "print(json.dumps({'child': json.loads(child), 'parent_core': h.core_limit(),\n"
              "                  'parent_dumpable': h.is_dumpable()}))\n")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         preexec_fn=_core_on, cwd=REPO)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    assert doc == {"child": {"core": [hard, hard], "dumpable": 1}, "parent_core": 0, "parent_dumpable": False}


def _memory_of(pid: int) -> bytes:
    chunks = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            addr, perms = line.split()[:2]
            if not perms.startswith("r"):
                continue
            start, end = (int(x, 16) for x in addr.split("-"))
            try:
                mem.seek(start)
                chunks.append(mem.read(end - start))
            except (OSError, OverflowError, ValueError):
                continue  # [vvar] and friends
    return b"".join(chunks)


def test_the_agent_keeps_one_copy_of_its_key_in_locked_memory(alpaca_home: Path, emu: Emulator) -> None:
    from alpaca_tui.core.store import FileBackend, agent
    from alpaca_tui.core.store.fsutil import HomeLock

    add_profile(emu, "paper", Env.PAPER)
    res = run_sub("unlock", "--for", "5m", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["key_locked_in_memory"] is True
    key, header = FileBackend(alpaca_home / "secrets.enc", HomeLock(alpaca_home)).session_key()
    try:
        for _ in range(5):  # answers carrying the key are built in the page and wiped after
            assert agent.fetch_key(alpaca_home, header.salt, (header.log2_n, header.r, header.p)) == key
        st = agent.status(alpaca_home)
        assert st is not None and st.mlocked is True
        status = Path(f"/proc/{st.pid}/status").read_text()
        locked_kb = int(re.search(r"^VmLck:\s+(\d+) kB", status, re.M).group(1))  # type: ignore[union-attr]
        assert locked_kb >= 4, status
        if not is_root():
            pytest.skip("reading the agent's memory needs root (it is not dumpable: that is the point)")
        memory = _memory_of(st.pid)
        assert len(memory) > 1_000_000
        assert memory.count(key) == 1, "the agent keeps exactly one copy of the key"
        assert memory.count(key.hex().encode()) == 0 and memory.count(key.hex().upper().encode()) == 0
    finally:
        agent.stop(alpaca_home)
