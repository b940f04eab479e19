"""Helpers for the tests of issue 12 items 4-6: another local user, resource figures, core files.

**Another user.** The tests run as root here. "Another user" is a uid with no account
(:data:`OTHER_UID`): root makes files hers with ``os.chown`` and runs commands as her with
``setpriv --reuid/--regid --clear-groups`` (no PAM, no useradd, nothing to clean up in
/etc/passwd). Where the test itself needs to be an ordinary user (same-user ``/proc/<pid>/mem``,
which root may always read), the command runs as :data:`OTHER_UID` and so does the prober.
Not root: the tests that need a second user skip and say why; the rest run as the current user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import child_pythonpath, subprocess_env

OTHER_UID = 54321
REPO = Path(__file__).resolve().parents[1]


def is_root() -> bool:
    return os.geteuid() == 0


def need_second_user() -> None:
    if not is_root():
        pytest.skip("needs root to act as a second local user (chown to another uid, setpriv)")
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (util-linux) to run a command as another uid")


def _world_reachable(path: str) -> bool:
    real = Path(os.path.realpath(path))
    return all(os.stat(d).st_mode & 0o001 for d in real.parents) and bool(os.stat(real).st_mode & 0o001)


def user_python() -> tuple[str, str]:
    """(an interpreter another uid can run, PYTHONPATH giving it this checkout and its packages).

    ``sys.executable`` may live under a 0700 /root (pyenv): then the system python of the same
    version, with the virtualenv's site-packages on its path."""
    import sysconfig

    path = child_pythonpath(str(REPO), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])
    if _world_reachable(sys.executable):
        return sys.executable, path
    system = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    if os.path.exists(system) and _world_reachable(system):
        return system, path
    pytest.skip(f"no python {sys.version_info.major}.{sys.version_info.minor} that another uid may run")


def as_user(argv: list[str], uid: int = OTHER_UID) -> list[str]:
    """``argv`` run as ``uid`` (root only; see the module doc)."""
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", *argv]


@contextmanager
def user_dir(uid: int | None = OTHER_UID) -> Iterator[Path]:
    """A fresh 0700 directory under /tmp that belongs to ``uid`` (None: to us for now; hand it
    over later with :func:`chown_tree`); removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="alpaca-hostile-", dir="/tmp"))
    if uid is not None:
        os.chown(d, uid, uid)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def chown_tree(root: Path, uid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            os.lchown(os.path.join(dirpath, name), uid, uid)
    os.lchown(root, uid, uid)


# A wrapper that runs ARGV and prints its exit code, peak RSS (KiB) and wall seconds as JSON:
# the figure is the child's own, not the test process's.
_MEASURE = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.monotonic()\n"
    "p = subprocess.run(sys.argv[2:], capture_output=True, text=True, timeout=float(sys.argv[1]))\n"
    "print(json.dumps({'code': p.returncode, 'rss_kib': resource.getrusage(resource.RUSAGE_CHILDREN)"
    ".ru_maxrss, 'seconds': time.monotonic() - t, 'stderr': p.stderr, 'stdout': p.stdout}))\n"
)


@dataclass(frozen=True)
class Measured:
    code: int
    rss_mib: float       # the command's peak resident set
    seconds: float
    stdout: str
    stderr: str


def measure(args: list[str], env: dict[str, str], timeout: float = 20.0) -> Measured:
    """Run ``python -m alpaca_tui ARGS`` and measure it."""
    argv = [sys.executable, "-c", _MEASURE, str(timeout), sys.executable, "-m", "alpaca_tui", *args]
    out = subprocess.run(argv, env=subprocess_env(env), capture_output=True, text=True, timeout=timeout + 10,
                         stdin=subprocess.DEVNULL, start_new_session=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    return Measured(int(doc["code"]), doc["rss_kib"] / 1024, float(doc["seconds"]), doc["stdout"],
                    doc["stderr"])


def one_line_error(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert lines[0].startswith("alpaca-tui: error: "), stderr
    return lines[0]


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def core_files(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name == "core" or p.name.startswith("core."))
