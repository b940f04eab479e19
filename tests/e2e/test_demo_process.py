"""``alpaca-tui demo`` seeds its store in a child process started before Textual: no key
derivation and no RSA key generation on that path, and the child never outlives the app (it
follows its parent through a pipe, even when the parent is killed with SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import subprocess_env
from tests.ptydrive import Terminal

pytestmark = pytest.mark.e2e

FORKED = """
import sys
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric import rsa
from alpaca_tui.core.store import filecrypt

def refuse(*args, **kwargs):
    raise RuntimeError("not on the demo's path")

filecrypt.derive_key = refuse          # the child inherits these (fork)
rsa.generate_private_key = refuse
from alpaca_tui.tui.demo_process import can_fork, fork_demo
assert can_fork()
handle = fork_demo()
session = handle.wait()
names = sorted(p.name for p in session.store.list_profiles())
assert names == sorted(session.profiles) and len(names) == 8, names
assert session.store.load_bundle("paper").active.secret  # the parent reads what the child wrote
issued = session.demo.create_credential(session.store.get_profile("paper").env, "legacy")
assert issued.key_id.startswith("PK"), issued.key_id
root = session.root
session.close()
assert not root.exists(), root
print("ok", handle.pid)
"""


def test_forked_demo_seeds_without_kdf_or_rsa_and_cleans_up(tmp_path: Path) -> None:
    env = subprocess_env({"TMPDIR": str(tmp_path)})
    out = subprocess.run([sys.executable, "-c", FORKED], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    pid = int(out.stdout.split()[1])
    assert not Path(f"/proc/{pid}").exists()  # reaped, no zombie left
    assert list(tmp_path.iterdir()) == []


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def wait_until(cond, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the demo forks on Linux only")
def test_child_follows_a_killed_parent(tmp_path: Path) -> None:
    env = subprocess_env({"TMPDIR": str(tmp_path)})
    with Terminal([sys.executable, "-m", "alpaca_tui", "demo"], size=(100, 30), env=env) as term:
        term.expect(r"8 credentials", timeout=60)
        (child,) = [c for c in children(term.pid) if Path(f"/proc/{c}").exists()]
        roots = list(tmp_path.glob("alpaca-tui-demo-*"))
        assert len(roots) == 1 and (roots[0] / "home" / "secrets.enc").exists()
        os.kill(term.pid, signal.SIGKILL)
        assert wait_until(lambda: not roots[0].exists(), 15), "the child left the demo directory behind"
        assert wait_until(lambda: not Path(f"/proc/{child}").exists()
                          or "Z" in Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1][:3], 15)


def test_quitting_stops_the_child(tmp_path: Path) -> None:
    env = subprocess_env({"TMPDIR": str(tmp_path)})
    with Terminal([sys.executable, "-m", "alpaca_tui", "demo"], size=(100, 30), env=env) as term:
        term.expect(r"8 credentials", timeout=60)
        kids = children(term.pid)
        term.type("q")
        assert term.wait_exit(20) == 0
    assert list(tmp_path.iterdir()) == []
    assert all(not Path(f"/proc/{k}").exists() for k in kids)


REPORTED = """
import time
from alpaca_tui.tui.demo_process import fork_demo
handle = fork_demo()
before = handle.reported()  # the child needs tens of ms to import and seed
deadline = time.monotonic() + 30
while not handle.reported() and time.monotonic() < deadline:
    time.sleep(0.005)
t = time.monotonic()
session = handle.wait()
waited = time.monotonic() - t
# the emulator's request pipeline is built after the report: it answers at once anyway
issued = session.demo.create_credential(session.store.get_profile("paper").env, "legacy")
print("REPORTED", before, handle.reported(), round(waited, 3), len(session.profiles), issued.key_id[:2])
session.close()
"""


def test_reported_says_when_wait_will_not_block(tmp_path: Path) -> None:
    env = subprocess_env({"TMPDIR": str(tmp_path)})
    out = subprocess.run([sys.executable, "-c", REPORTED], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    _, before, after, waited, count, prefix = out.stdout.split()
    assert (before, after, count, prefix) == ("False", "True", "8", "PK"), out.stdout
    assert float(waited) < 0.2, out.stdout  # the report was in the pipe: no wait for the child
