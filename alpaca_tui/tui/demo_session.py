"""Demo mode: the local Alpaca emulator plus a throwaway store, seeded with one credential
per environment and flow.

Choice of secret backend (documented in README): the **encrypted-file backend under a random
key that only ever lives in memory** (``core/store/throwaway.py``: no passphrase, so no
scrypt), in a fresh 0700 directory that is deleted on exit: in memory (``/dev/shm``) when
there is one and ``$TMPDIR`` is not set, else in the temp directory. The demo never touches
the user's OS keyring (nothing to clean up there if the process is killed) and nothing secret
outlives the session: even a directory left behind by a SIGKILL holds only ciphertext under a
key nobody knows. The emulator keeps its state in memory.

Two ways to start it:

- :meth:`DemoSession.start` (``DemoStarter()``): emulator and seeding in this process, called
  from a thread worker (the first-run offer inside a running app; tests with a FakeClock
  shared by the emulator and the app).
- :func:`alpaca_tui.tui.demo_process.fork_demo` (``DemoStarter.early()``, what ``alpaca-tui
  demo`` uses): before Textual is even imported, the emulator starts and seeds the store in a
  child process, on the other core, so the list is ready when the first frame is.

No Textual here. Heavy imports (emulator, cryptography) happen inside the start functions.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alpaca_tui.core.clock import Clock

if TYPE_CHECKING:
    from alpaca_tui.core.store import Store
    from alpaca_tui.tui.demo_process import ForkedDemo
    from alpaca_tui.tui.session import DemoIssuer


def scratch_parent() -> str | None:
    """Where the throwaway directory goes: ``$TMPDIR`` when set (None: tempfile's choice), else
    memory (``/dev/shm``) when it is there for us, else the system temp directory."""
    shm = "/dev/shm"  # noqa: S108 (mkdtemp makes a fresh 0700 directory in it)
    if os.environ.get("TMPDIR") or not (os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK)):
        return None
    return shm


def make_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="alpaca-tui-demo-", dir=scratch_parent()))
    root.chmod(0o700)
    return root


class DemoSession:
    """A running demo: its directory, store, credential issuer and seeded profile names.
    ``stop`` ends the emulator (in this process or the child's); :meth:`close` also deletes
    the directory."""

    def __init__(self, root: Path, store: Store, demo: DemoIssuer, profiles: list[str],
                 stop: Callable[[], None]) -> None:
        self.root = root
        self.store = store
        self.demo = demo  # what the wizard and rotation use to issue credentials
        self.profiles = profiles
        self._stop = stop
        self._closed = False
        self._lock = threading.Lock()

    @classmethod
    def start(cls, clock: Clock | None = None) -> DemoSession:
        """Emulator and seeding in this process (see the module doc)."""
        from alpaca_tui.core.store.throwaway import open_throwaway
        from alpaca_tui.emulator import Emulator
        from alpaca_tui.emulator.demo import seed_demo

        root = make_root()
        emulator = None
        try:
            kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
            emulator = Emulator(**kwargs).start()
            store = open_throwaway(root / "home", **kwargs)
            names = seed_demo(store, emulator)
        except BaseException:
            if emulator is not None:
                emulator.stop()
            shutil.rmtree(root, ignore_errors=True)
            raise
        return cls(root, store, emulator, list(names), emulator.stop)

    def close(self) -> None:
        """Stop the emulator and delete the throwaway home (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self._stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class DemoStarter:
    """A demo factory for the app that remembers what it started, so the caller can clean up
    even when the user quits while the emulator is still starting."""

    def __init__(self, clock: Clock | None = None, forked: ForkedDemo | None = None) -> None:
        self.clock = clock
        self._forked = forked
        self.session: DemoSession | None = None
        self.done = threading.Event()

    @classmethod
    def early(cls) -> DemoStarter:
        """Start the demo now, in a child process where the platform can fork (``alpaca-tui
        demo``, before Textual is imported); the app's worker then only waits for it."""
        from alpaca_tui.tui.demo_process import can_fork, fork_demo

        if not can_fork():
            return cls()
        return cls(forked=fork_demo())

    def ready_now(self) -> bool:
        """Whether :meth:`__call__` would return at once (the forked child has reported)."""
        return self._forked is not None and self._forked.reported()

    def __call__(self) -> DemoSession:
        try:
            self.session = self._forked.wait() if self._forked is not None else DemoSession.start(self.clock)
            return self.session
        finally:
            self.done.set()

    def close(self, wait: float = 15.0) -> None:
        if self._forked is not None:  # the child runs whether or not the app asked for it yet
            self._forked.stop()
        elif not self.done.is_set():
            self.done.wait(wait)
        if self.session is not None:
            self.session.close()
