"""Run a child process and measure what issue 12 bounds: wall time, peak RSS, raw output.

:func:`run_measured` starts ``python -m alpaca_tui ARGS`` in a new session (no terminal),
reads stdout and stderr as bytes, and takes its peak RSS from ``os.wait4``. Not reaped by
this process, though: on Linux a child's ``ru_maxrss`` starts at its parent's high-water mark
(the kernel carries the forking process's peak over at ``execve``), so a pytest worker that
grew to 400 MiB would make every child "use" 400 MiB. A tiny launcher (``python -S``, a few
MiB) forks the command and reports its ``wait4`` figures on a pipe. A watchdog kills the
process group after ``limit`` seconds, so a hang is a failed assertion, not a stuck suite.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from alpaca_tui.core.sanitize import UNSAFE
from tests.conftest import cli_argv, subprocess_env

__all__ = ["Measured", "raw_controls", "run_measured"]

# argv: [report fd, command...]; reports "<exit code> <ru_maxrss KiB>" of the command
_LAUNCHER = """
import os, sys
fd, argv = int(sys.argv[1]), sys.argv[2:]
pid = os.fork()
if pid == 0:
    os.close(fd)
    try:
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
os.write(fd, f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}".encode())
"""


@dataclass(frozen=True)
class Measured:
    rc: int
    out: bytes
    err: bytes
    wall: float          # seconds
    maxrss: int          # bytes (ru_maxrss of this child)
    killed: bool

    @property
    def text(self) -> str:
        return (self.out + b"\n" + self.err).decode("utf-8", "surrogateescape")

    @property
    def maxrss_mib(self) -> float:
        return self.maxrss / 2**20


def raw_controls(data: bytes) -> list[str]:
    """Every character a terminal would obey in ``data`` (newline and tab allowed), as repr.

    Bytes that are not UTF-8 (a raw 8-bit C1 byte 0x9b, say) decode to lone surrogates,
    which count too."""
    text = data.decode("utf-8", "surrogateescape")
    return [repr(c) for c in text if ord(c) in UNSAFE]


def run_measured(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None,
                 limit: float = 60.0) -> Measured:
    t0 = time.monotonic()
    report_r, report_w = os.pipe()
    argv = cli_argv(*args)
    proc = subprocess.Popen([sys.executable, "-S", "-c", _LAUNCHER, str(report_w), *argv],
                            env=subprocess_env(env), start_new_session=True, pass_fds=(report_w,),
                            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(report_w)
    chunks: dict[str, bytes] = {}

    def drain(name: str, stream: object) -> None:
        chunks[name] = stream.read()  # type: ignore[attr-defined]

    readers = [threading.Thread(target=drain, args=(n, s), daemon=True)
               for n, s in (("out", proc.stdout), ("err", proc.stderr))]
    for r in readers:
        r.start()
    if stdin is not None and proc.stdin is not None:
        proc.stdin.write(stdin)
        proc.stdin.close()
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    watchdog = threading.Timer(limit, kill)
    watchdog.start()
    try:
        _pid, status, usage = os.wait4(proc.pid, 0)
    finally:
        watchdog.cancel()
    wall = time.monotonic() - t0
    with os.fdopen(report_r, "rb") as report:
        fields = report.read().split()
    if len(fields) == 2:  # the command's own exit code and peak
        rc, maxrss_kib = int(fields[0]), int(fields[1])
    else:  # killed with the launcher: what the launcher saw
        rc, maxrss_kib = os.waitstatus_to_exitcode(status), usage.ru_maxrss
    proc.returncode = rc
    for r in readers:
        r.join(10)
    return Measured(rc, chunks.get("out", b""), chunks.get("err", b""), wall, maxrss_kib * 1024,
                    killed.is_set())
