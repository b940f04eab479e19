"""The audit log: one JSON line per proxied call in ``<home>/audit.jsonl``.

A line holds the time, the profile, the method, the path (no query string), the status, the
latency in ms, the proxy's decision (``ok``, ``unauthorized``, ``scope``, ``expired``,
``live-write``, ``token-error``, ``upstream-error`` ...), the scope the call needs when known
(``funding:rw``), the body bytes sent back, the API port and the proxy's pid. Never a body, a
header value, a secret or a token.

Writes follow the project's file rules for an append-only log: the file is 0600 in the 0700
home; appends are made under ``<home>/.audit.lock`` (``flock``), as one ``write`` on an
``O_APPEND`` descriptor followed by ``fsync``, so concurrent proxies never interleave or tear
lines; the size check and the rotation (``audit.jsonl`` -> ``audit.jsonl.1`` ... ``.N``, each
an atomic rename) happen under the same lock. :class:`AuditLog` batches the lines of one
proxy run (a flush every quarter second, off the event loop), so a request never waits for
the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alpaca_tui.core.clock import SYSTEM_CLOCK, Clock
from alpaca_tui.core.errors import AlpacaTuiError
from alpaca_tui.core.proxy.forward import Record
from alpaca_tui.core.store.fsutil import FILE_MODE, ensure_private_dir

__all__ = ["AUDIT_NAME", "AuditLog", "append_lines", "audit_files", "read_audit", "tail_audit"]

AUDIT_NAME = "audit.jsonl"
LOCK_NAME = ".audit.lock"
MAX_BYTES = 5 * 1024 * 1024
KEEP = 3


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    fd = os.open(home / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)   # releases the lock


def audit_files(home: Path, keep: int = KEEP) -> list[Path]:
    """The log and its rotated parts, oldest first."""
    path = home / AUDIT_NAME
    return [path.with_name(f"{AUDIT_NAME}.{i}") for i in range(keep, 0, -1)] + [path]


def _rotate(path: Path, keep: int) -> None:
    for i in range(keep - 1, 0, -1):
        older = path.with_name(f"{AUDIT_NAME}.{i}")
        if older.exists():
            os.replace(older, path.with_name(f"{AUDIT_NAME}.{i + 1}"))
    os.replace(path, path.with_name(f"{AUDIT_NAME}.1"))


def append_lines(home: Path, lines: list[bytes], *, max_bytes: int = MAX_BYTES, keep: int = KEEP) -> None:
    """Append whole lines (each ending in a newline) under the audit lock, rotating first when
    the log has reached ``max_bytes``."""
    if not lines:
        return
    ensure_private_dir(home)
    path = home / AUDIT_NAME
    data = b"".join(lines)
    with _locked(home):
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size and size + len(data) > max_bytes:
            _rotate(path, keep)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, FILE_MODE)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)


def line_for(profile: str, rec: Record, now: float) -> bytes:
    """One audit line (the fields of the module doc, nothing else)."""
    obj: dict[str, Any] = {
        "time": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "ts": round(now, 3), "profile": profile, "method": rec.method, "path": rec.path,
        "status": rec.status, "ms": round(rec.ms, 2), "decision": rec.decision, "scope": rec.scope,
        "bytes": rec.bytes, "api": rec.api, "pid": os.getpid(),
    }
    if rec.extra.get("incomplete"):
        obj["incomplete"] = True
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


class AuditLog:
    """The audit lines of one proxy run, written in batches off the event loop."""

    def __init__(self, home: Path, profile: str, *, clock: Clock = SYSTEM_CLOCK, max_bytes: int = MAX_BYTES,
                 keep: int = KEEP, interval: float = 0.25) -> None:
        self.home = home
        self.profile = profile
        self.clock = clock
        self.max_bytes = max_bytes
        self.keep = keep
        self.interval = interval
        self.errors = 0                    # failed flushes (the lines are kept and tried again)
        self._pending: list[bytes] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def record(self, rec: Record) -> None:
        self._pending.append(line_for(self.profile, rec, self.clock.time()))
        if len(self._pending) >= 512:
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        lines, self._pending = self._pending, []
        if not lines:
            return
        try:
            await asyncio.to_thread(append_lines, self.home, lines, max_bytes=self.max_bytes, keep=self.keep)
        except (OSError, AlpacaTuiError):
            self.errors += 1
            self._pending[:0] = lines[-10_000:]     # keep them (bounded) for the next try

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()


def read_audit(home: Path, *, profile: str | None = None, since: float | None = None) -> list[dict[str, Any]]:
    """The audit lines (oldest first), optionally one profile's and from ``since`` (epoch) on.
    Lines that do not parse are skipped (the values are outside text: sanitize to show them)."""
    out: list[dict[str, Any]] = []
    for path in audit_files(home):
        try:
            raw = path.read_bytes()
        except OSError:
            continue
        for line in raw.splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("ts"), int | float):
                continue
            if profile is not None and obj.get("profile") != profile:
                continue
            if since is not None and obj["ts"] < since:
                continue
            out.append(obj)
    return out


def tail_audit(home: Path, profile: str, n: int = 5, *, window: int = 256 * 1024) -> list[dict[str, Any]]:
    """The last ``n`` lines of ``profile``, read from the end of the current log only (cheap
    enough for a screen that polls; older lines are ``alpaca-tui audit``'s)."""
    path = home / AUDIT_NAME
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - window))
            raw = f.read()
    except OSError:
        return []
    out: list[dict[str, Any]] = []
    for line in reversed(raw.splitlines()[1 if len(raw) >= window else 0:]):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("profile") == profile:
            out.append(obj)
            if len(out) >= n:
                break
    return out[::-1]
