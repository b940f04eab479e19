"""``alpaca-tui demo``'s emulator in a child process, started before Textual is imported.

:func:`fork_demo` makes the throwaway directory and store (``core/store/throwaway.py``: its
random key is created here, before the fork, so both processes hold the same key), then forks.
The child, on the other core while the parent imports Textual and paints its first frame,
starts the emulator, seeds the store (``emulator/demo.py``), writes one JSON line
``{"admin", "names"}`` (or ``{"error"}``) to the ready pipe, and then serves until the life
pipe says its parent is gone: closed by :meth:`ForkedDemo.stop` or by the kernel when the
parent dies, even by SIGKILL. Then it stops the emulator, deletes the directory and exits.
The parent issues credentials through the emulator's admin API (:class:`AdminIssuer`).

The child never writes to the terminal (its stdin, stdout and stderr are /dev/null) and
ignores SIGINT and SIGHUP (those are for the app; it follows its parent through the pipe).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

    from alpaca_tui.core.credentials import Flow
    from alpaca_tui.core.environments import Api, Env
    from alpaca_tui.core.scopes import AccessMatrix
    from alpaca_tui.core.store import Store
    from alpaca_tui.emulator.client import AdminClient
    from alpaca_tui.tui.demo_session import DemoSession
    from alpaca_tui.tui.session import Issued

READY_TIMEOUT = 60.0


def can_fork() -> bool:
    """Fork before any thread exists, on Linux (macOS frameworks dislike a fork without exec)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and threading.active_count() == 1


class ForkedDemo:
    """The parent's handle on the child: :meth:`wait` for the seeded session, :meth:`stop` it."""

    def __init__(self, root: Path, store: Store, pid: int, ready_fd: int, life_fd: int) -> None:
        self.root = root
        self.store = store
        self.pid = pid
        self._ready_fd = ready_fd
        self._life_fd: int | None = life_fd
        self._lock = threading.Lock()
        self._session: DemoSession | None = None
        self._error: str | None = None

    def reported(self) -> bool:
        """Whether the child's report is in the pipe (or the child is gone): :meth:`wait` then
        returns without waiting for the child."""
        with self._lock:
            if self._session is not None or self._error is not None:
                return True
            readable, _, _ = select.select([self._ready_fd], [], [], 0)
            return bool(readable)

    def wait(self) -> DemoSession:
        """Block until the child reported (once; later calls get the same answer)."""
        from alpaca_tui.core.errors import AlpacaTuiError
        from alpaca_tui.tui.demo_session import DemoSession

        with self._lock:
            if self._session is None and self._error is None:
                report = _read_report(self._ready_fd)
                os.close(self._ready_fd)
                if "error" in report or "admin" not in report:
                    self._error = str(report.get("error") or "the demo emulator did not start")
                else:
                    names = report.get("names")
                    demo = AdminIssuer(str(report["admin"]))
                    self._session = DemoSession(self.root, self.store, demo,
                                                [str(n) for n in names] if isinstance(names, list) else [],
                                                self.stop)
            if self._error is not None:
                raise AlpacaTuiError(f"demo: {self._error}")
            assert self._session is not None
            return self._session

    def stop(self, grace: float = 5.0) -> None:
        """Tell the child to stop (close the life pipe), reap it, delete the directory (idempotent)."""
        with self._lock:
            fd, self._life_fd = self._life_fd, None
        if fd is None:
            return
        os.close(fd)
        deadline = time.monotonic() + grace
        while True:
            pid, _status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                break
            time.sleep(0.01)
        shutil.rmtree(self.root, ignore_errors=True)


class AdminIssuer:
    """The child's emulator as a :class:`~alpaca_tui.tui.session.DemoIssuer`, through its admin
    API; the HTTP client (urllib, ssl: tens of ms) is imported on first use, not before the list."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._client: AdminClient | None = None

    def client(self) -> AdminClient:
        if self._client is None:
            from alpaca_tui.emulator.client import AdminClient

            self._client = AdminClient(self.admin_url)
        return self._client

    def create_credential(self, env: Env, flow: Flow, *, access: AccessMatrix | None = None,
                          expires_at: datetime | None = None, public_key: str | None = None) -> Issued:
        return self.client().create_credential(env, flow, access=access, expires_at=expires_at,
                                               public_key=public_key)

    def endpoints_for(self, env: Env) -> dict[Api, str]:
        return self.client().endpoints_for(env)


def _read_report(fd: int) -> dict[str, object]:
    chunks = []
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    try:
        report = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        return {"error": "the demo emulator sent a malformed report"}
    return report if isinstance(report, dict) else {}


def fork_demo() -> ForkedDemo:
    from alpaca_tui.core.store.throwaway import open_throwaway
    from alpaca_tui.tui.demo_session import make_root

    root = make_root()
    try:
        store = open_throwaway(root / "home")
        ready_r, ready_w = os.pipe()
        life_r, life_w = os.pipe()
        pid = os.fork()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    if pid == 0:  # pragma: no cover - the child (exercised by the pty tests of `alpaca-tui demo`)
        os.close(ready_r)
        os.close(life_w)
        _child(root, store, ready_w, life_r)
    os.close(ready_w)
    os.close(life_r)
    return ForkedDemo(root, store, pid, ready_r, life_w)


def _child(root: Path, store: Store, ready_fd: int, life_fd: int) -> None:  # pragma: no cover
    from alpaca_tui.core import gcpause

    gcpause.resume()  # paused for the parent's start-up; this process serves for the whole session
    code = 0
    emulator = None
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        for sig in (signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda signum, frame: os.close(life_fd))  # read() returns: stop
        from alpaca_tui.emulator import Emulator
        from alpaca_tui.emulator.demo import seed_demo
        from alpaca_tui.tui.services import one_line

        try:
            emulator = Emulator().start()
            names = seed_demo(store, emulator)
            report: dict[str, object] = {"admin": emulator.urls["admin"], "names": names}
        except Exception as exc:
            report, code = {"error": one_line(exc)}, 1
        os.write(ready_fd, json.dumps(report).encode())
        os.close(ready_fd)
        if code == 0 and emulator is not None:
            emulator.dispatcher  # noqa: B018  (its imports, now: before the app's first request)
            try:
                os.read(life_fd, 1)  # until the parent closes it or is gone
            except OSError:
                pass
    finally:
        try:
            if emulator is not None:
                emulator.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)
            os._exit(code)
