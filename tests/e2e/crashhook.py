"""Run the real ``alpaca-tui`` (``python -m alpaca_tui``) with one store write stalled, so a
test can ``kill -9`` it at exactly that point.

The child is started as ``python -c BOOT ARGS...`` (cwd = the repository) with:

* ``ALPACA_TUI_CRASH_STALL=FILE:N`` — the N-th atomic replace of ``FILE`` (``index.json``
  or ``secrets.enc``) in the home blocks forever *before* the rename: the temp file is
  written and fsynced, the home lock is held, the old file is still in place.
  ``FILE:N:after`` lets the N-th replace happen and only then signals (and carries on), for
  stalls the test arranges elsewhere (e.g. emulator latency during verification).
* ``ALPACA_TUI_CRASH_READY=PATH`` — where the hook writes ``<pid> <FILE> <N>`` when it
  reaches that point (a side file: the app owns stdout / the terminal).

Everything else is the unmodified app: ``alpaca_tui.__main__`` via runpy, so argv parsing,
the store, the engine and the TUI are the real ones.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

STALL_ENV = "ALPACA_TUI_CRASH_STALL"
READY_ENV = "ALPACA_TUI_CRASH_READY"

BOOT = ("import tests.e2e.crashhook as h; h.install(); import runpy; "
        "runpy.run_module('alpaca_tui', run_name='__main__', alter_sys=True)")


def _signal(path: str, target: str, n: int) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()} {target} {n}\n")
    os.replace(tmp, path)  # the real one: the parent never sees a half-written file


def install() -> None:
    spec = os.environ.get(STALL_ENV)
    ready = os.environ.get(READY_ENV)
    if not spec or not ready:
        raise SystemExit(f"crashhook: set {STALL_ENV}=FILE:N[:after] and {READY_ENV}=PATH")
    parts = spec.split(":")
    target, nth = parts[0], int(parts[1])
    after = len(parts) > 2 and parts[2] == "after"

    from alpaca_tui.core.store import fsutil

    real_replace = fsutil.os.replace
    seen = 0
    mutex = threading.Lock()

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal seen
        if os.path.basename(os.fspath(dst)) == target:
            with mutex:
                seen += 1
                hit = seen == nth
            if hit and not after:
                _signal(ready, target, nth)
                while True:  # until kill -9
                    time.sleep(3600)
            real_replace(src, dst, *args, **kwargs)
            if hit:
                _signal(ready, target, nth)
            return
        real_replace(src, dst, *args, **kwargs)

    # fsutil.os is the os module itself: patch only the name fsutil looks up
    class _Os:
        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

    shim = _Os()
    shim.replace = replace  # type: ignore[attr-defined]
    fsutil.os = shim  # type: ignore[assignment]
