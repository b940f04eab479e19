"""Private files: a 0700 home, atomic 0600 writes, and the cross-process home lock."""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alpaca_tui.core.errors import StoreError

DIR_MODE = 0o700
FILE_MODE = 0o600
LOCK_NAME = ".lock"
TMP_SUFFIX = ".tmp"
LOCK_TIMEOUT = 60.0


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` with mode 0700 (parents too); tighten it if it is ours and looser."""
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        st = path.stat()
        if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077:
            path.chmod(DIR_MODE)
    except OSError as exc:
        raise StoreError(f"cannot create data directory {path}: {exc.strerror or exc}") from None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TMP_SUFFIX}")


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never a mix.

    Temp file in the same directory (0600, O_EXCL) -> write -> fsync -> rename -> fsync dir.
    """
    tmp = tmp_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from None
    _fsync_dir(path.parent)


def remove_stale_temps(directory: Path) -> None:
    """Delete temp files left by a writer that died mid-write. Call only while holding the lock."""
    try:
        entries = list(directory.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(TMP_SUFFIX):
            try:
                entry.unlink()
            except OSError:
                pass


def file_mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


class HomeLock:
    """Exclusive ``flock`` on ``<home>/.lock``; re-entrant within one object (and thread-safe).

    Separate processes (and separate Store objects) serialise their read-modify-write
    cycles on it. A holder that dies releases it with its file descriptor.
    """

    def __init__(self, home: Path, timeout: float = LOCK_TIMEOUT) -> None:
        self.path = home / LOCK_NAME
        self.home = home
        self.timeout = timeout
        self._rlock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    def _acquire(self) -> int:
        ensure_private_dir(self.home)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        except OSError as exc:
            raise StoreError(f"cannot open lock file {self.path}: {exc.strerror or exc}") from None
        deadline = time.monotonic() + self.timeout
        delay = 0.002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise StoreError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
            if time.monotonic() >= deadline:
                os.close(fd)
                raise StoreError(f"timed out after {self.timeout:.0f} s waiting for the lock {self.path} "
                                 "(another alpaca-tui process is holding it)")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._rlock:
            if self._depth == 0:
                self._fd = self._acquire()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    try:
                        fcntl.flock(self._fd, fcntl.LOCK_UN)
                    finally:
                        os.close(self._fd)
                        self._fd = None
