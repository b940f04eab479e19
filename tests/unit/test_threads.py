"""Helper threads block the process's signals (core/threads.py), so ctrl+c always reaches the
main thread: a main thread waiting on an event is woken only by a signal that came to it, and
the kernel may hand a process's signal to any thread that does not block it."""

from __future__ import annotations

import signal
import threading

import pytest

from alpaca_tui.core import threads

pytestmark = pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
PROCESS_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def mask_now() -> set[int]:
    return set(signal.pthread_sigmask(signal.SIG_BLOCK, []))


def test_a_helper_thread_blocks_them_and_the_main_thread_does_not() -> None:
    seen: list[set[int]] = []
    t = threads.helper_thread(lambda: seen.append(mask_now()), "test-helper")
    assert t.daemon
    t.start()
    t.join(5)
    assert PROCESS_SIGNALS <= seen[0]
    assert not PROCESS_SIGNALS & mask_now()  # this (main) thread still takes them
    assert threading.current_thread() is threading.main_thread()


def test_checks_workers_and_keyring_calls_run_in_helper_threads() -> None:
    from alpaca_tui.core.quickcheck import _Workers
    from alpaca_tui.core.store.system import call_with_timeout

    workers = _Workers(2)
    try:
        in_worker = workers.submit(mask_now).result()  # type: ignore[arg-type]
    finally:
        workers.close(wait=True)
    assert PROCESS_SIGNALS <= in_worker  # type: ignore[operator]
    assert PROCESS_SIGNALS <= call_with_timeout(mask_now, 5, "mask")
