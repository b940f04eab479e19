"""Run a child process and measure what issue 12 bounds: wall time, peak RSS, raw output.

:func:`run_measured` starts ``python -m alpaca_tui ARGS`` in a new session (no terminal),
reads stdout and stderr as bytes, and reaps it with ``os.wait4``, which gives that child's
own ``ru_maxrss`` (not the maximum over every child this test process ever had). A
watchdog kills the process group after ``limit`` seconds, so a hang is a failed assertion,
not a stuck suite.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from alpaca_tui.core.sanitize import UNSAFE
from tests.conftest import cli_argv, subprocess_env

__all__ = ["Measured", "raw_controls", "run_measured"]


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
    proc = subprocess.Popen(cli_argv(*args), env=subprocess_env(env), start_new_session=True,
                            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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
    proc.returncode = os.waitstatus_to_exitcode(status)
    for r in readers:
        r.join(10)
    return Measured(proc.returncode, chunks.get("out", b""), chunks.get("err", b""), wall,
                    usage.ru_maxrss * 1024, killed.is_set())
