"""Helper threads that never take the process's signals.

The kernel hands a signal sent to the process (ctrl+c's SIGINT, SIGTERM, SIGHUP) to any thread
that does not block it. Python runs its handlers in the main thread only, and a main thread
waiting on a lock or an event (``check`` waiting for its GETs) is woken only by a signal that
came to it: one that went to a helper thread waits until the main thread wakes for another
reason (a GET's 30 s timeout). So every helper thread blocks them first, and they always reach
the main thread at once. (POSIX; elsewhere a plain thread.)
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

_SIGNALS = frozenset(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


def block_process_signals() -> None:
    """In the calling thread: block the signals above (they then go to the main thread)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)


def helper_thread(target: Callable[[], object], name: str) -> threading.Thread:
    """A daemon thread running ``target`` with the process's signals blocked (not started)."""

    def run() -> None:
        block_process_signals()
        target()

    return threading.Thread(target=run, name=name, daemon=True)
