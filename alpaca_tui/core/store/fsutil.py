"""Private files: a 0700 home (checked like ssh's StrictModes), atomic 0600 writes, the home lock."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alpaca_tui.core.errors import StoreError
from alpaca_tui.core.store.safefile import check_home

DIR_MODE = 0o700
PARENT_MODE = 0o755  # missing parents of a home (like mkdir -p under umask 022, never group-writable)
FILE_MODE = 0o600
LOCK_NAME = ".lock"
TMP_SUFFIX = ".tmp"
LOCK_TIMEOUT = 60.0


def ensure_private_dir(path: Path) -> None:
    """Create the data directory ``path`` with mode 0700 (missing parents 0755); tighten it if
    it is readable by others. Refuses a directory others could change (:func:`.safefile.check_home`)."""
    check_home(path)
    try:
        missing = [d for d in [*reversed(path.parents), path] if not os.path.lexists(d)]
        for d in missing:
            try:
                os.mkdir(d, DIR_MODE if d == path else PARENT_MODE)
            except FileExistsError:
                pass  # made meanwhile: checked below like any other
        if missing:
            check_home(path)
        st = os.stat(path)
        if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077:
            os.chmod(path, DIR_MODE)
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
    return path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}{TMP_SUFFIX}")


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
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK,
                         FILE_MODE)
        except OSError as exc:
            raise StoreError(f"cannot open lock file {self.path}: {exc.strerror or exc}") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
            os.close(fd)
            raise StoreError(f"the lock file {self.path} is not a regular file of yours (move it aside)")
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
