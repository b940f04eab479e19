"""Demo mode: the local Alpaca emulator plus a throwaway store, seeded with one credential
per environment and flow.

Choice of secret backend (documented in README): the **encrypted-file backend with a random
passphrase that only ever lives in this process's memory**, in a fresh 0700 temp directory
that is deleted on exit. The demo never touches the user's OS keyring (nothing to clean up
there if the process is killed) and nothing secret outlives the session: even a temp dir
left behind by a SIGKILL holds only ciphertext under a passphrase nobody knows.

No Textual here (the ``demo`` CLI command and the TUI's first-run offer both use it).
Heavy imports (emulator, httpx, cryptography) happen inside :meth:`DemoSession.start`,
which the TUI calls from a thread worker after the first paint.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alpaca_tui.core.clock import Clock

if TYPE_CHECKING:
    from alpaca_tui.core.store import Store
    from alpaca_tui.emulator import Emulator
    from alpaca_tui.tui.session import DemoIssuer


class DemoSession:
    def __init__(self, root: Path, store: Store, emulator: Emulator, profiles: list[str]) -> None:
        self.root = root
        self.store = store
        self.emulator = emulator
        self.profiles = profiles
        self._closed = False
        self._lock = threading.Lock()

    @property
    def demo(self) -> DemoIssuer:
        """What the wizard and rotation use to issue credentials (the in-process emulator)."""
        return self.emulator

    @classmethod
    def start(cls, clock: Clock | None = None) -> DemoSession:
        from alpaca_tui.core.store import Store
        from alpaca_tui.emulator import Emulator
        from alpaca_tui.emulator.demo import seed_demo

        root = Path(tempfile.mkdtemp(prefix="alpaca-tui-demo-"))
        root.chmod(0o700)
        emulator = None
        try:
            kwargs: dict[str, Any] = {"state_dir": root / "emulator"}
            if clock is not None:
                kwargs["clock"] = clock
            emulator = Emulator(**kwargs).start()
            store_kwargs: dict[str, Any] = {"backend": "file", "passphrase": secrets.token_urlsafe(32)}
            if clock is not None:
                store_kwargs["clock"] = clock
            store = Store.open(root / "home", **store_kwargs)
            names = seed_demo(store, emulator)
        except BaseException:
            if emulator is not None:
                emulator.stop()
            shutil.rmtree(root, ignore_errors=True)
            raise
        return cls(root, store, emulator, list(names))

    def close(self) -> None:
        """Stop the emulator and delete the throwaway home (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self.emulator.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class DemoStarter:
    """A demo factory for the app that remembers what it started, so the caller can clean up
    even when the user quits while the emulator is still starting."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock
        self.session: DemoSession | None = None
        self.done = threading.Event()

    def __call__(self) -> DemoSession:
        try:
            self.session = DemoSession.start(self.clock)
            return self.session
        finally:
            self.done.set()

    def close(self, wait: float = 15.0) -> None:
        if not self.done.is_set():
            self.done.wait(wait)
        if self.session is not None:
            self.session.close()
