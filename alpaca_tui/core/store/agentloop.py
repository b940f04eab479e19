"""The session agent's serving loop (:class:`Server`), for :mod:`.agentd`; clients: :mod:`.agent`.

One thread and a selector, no thread per client. At most :data:`MAX_CONNS` connections are
open; a new one beyond that evicts the oldest that may be evicted. Each connection has
:data:`CONN_DEADLINE` seconds to send its one line (a silent or trickling client is dropped,
never waited for). A connection that has sent nothing yet is spared eviction for its first
:data:`SPARE` seconds: a real client connects, checks the agent's credentials and only then
sends, so under a flood of new connections it would otherwise be evicted in that gap, before
its line arrived (the flood test saw it). When every open connection is spared, accepting
pauses until the oldest one's spare time ends (new clients wait in the listen queue). Read
events are handled before accepting, so a client whose line is in is answered before anyone
new can evict it. A peer of another uid is dropped at accept. ``accept`` failing for lack of
file descriptors (EMFILE, ENFILE, ENOBUFS, ENOMEM) drops the oldest quarter of the evictable
connections and accepts again; with none to drop (or on any other accept error) it pauses
accepting (until a spare time ends, or with a growing back-off of 10 ms to 1 s) instead of
crashing. Twice a second it checks that its socket is still
the one it bound; when it is gone or replaced, it returns (the agent exits), as it does at its
deadline, on ``stop`` and when :attr:`Server.stopping` is set (signals).

The key lives in :class:`Secret`'s locked page; the answer carrying it is built in the same
page and zeroed after sending, so no ``bytes`` or ``str`` copy of the key is ever made.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import selectors
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alpaca_tui.core.hardening import LockedBuffer
from alpaca_tui.core.store import agent

MAX_CONNS = 64
CONN_DEADLINE = 2.0
SPARE = 0.05
TICK = 0.2
WATCH_EVERY = 0.5
BACKOFF_MIN, BACKOFF_MAX = 0.01, 1.0
ACCEPT_BATCH = 64
_FD_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_HEX = b"0123456789abcdef"
_KEY_HEAD = b'{"ok": true, "key": "'
_KEY_TAIL = b'"}\n'
KEY_LEN = 32


@dataclass
class _Conn:
    sock: socket.socket
    deadline: float
    spare_until: float
    buf: bytearray = field(default_factory=bytearray)

    def evictable(self, now: float) -> bool:
        return bool(self.buf) or now >= self.spare_until


@dataclass
class Secret:
    """The key page: bytes 0..31 the key, the rest scratch space for the answer carrying it."""

    page: LockedBuffer
    salt_hex: str
    kdf: list[int]

    @property
    def key(self) -> memoryview:
        return self.page.view[:KEY_LEN]

    def key_reply(self) -> memoryview:
        """``{"ok": true, "key": "<hex>"}\\n`` built inside the locked page (zero it after use)."""
        out = self.page.view[KEY_LEN:KEY_LEN + len(_KEY_HEAD) + 2 * KEY_LEN + len(_KEY_TAIL)]
        out[:len(_KEY_HEAD)] = _KEY_HEAD
        pos = len(_KEY_HEAD)
        for i in range(KEY_LEN):
            b = self.key[i]
            out[pos + 2 * i] = _HEX[b >> 4]
            out[pos + 2 * i + 1] = _HEX[b & 15]
        out[pos + 2 * KEY_LEN:] = _KEY_TAIL
        return out


class Server:
    """The accept/read loop (see the module doc)."""

    def __init__(self, listener: socket.socket, path: Path, secret: Secret, expires_at: float) -> None:
        self.listener = listener
        self.path = path
        self.ino = os.lstat(path).st_ino
        self.secret = secret
        self.expires_at = expires_at
        self.conns: OrderedDict[socket.socket, _Conn] = OrderedDict()
        self.sel = selectors.DefaultSelector()
        self.sel.register(listener, selectors.EVENT_READ)
        self.stopping = False
        self.backoff = BACKOFF_MIN
        self.accept_resume = 0.0   # monotonic time accepting resumes after an fd shortage
        self.spare_paused = False  # paused because every connection was spared: any drop resumes
        self.stats = {"served": 0, "evicted": 0, "timed_out": 0, "refused_peers": 0, "accept_errors": 0}

    def run(self) -> None:
        next_watch = 0.0
        while not self.stopping and time.time() < self.expires_at:
            now = time.monotonic()
            if now >= next_watch:
                if not self.socket_is_ours():
                    return
                next_watch = now + WATCH_EVERY
            if self.accept_resume and now >= self.accept_resume:
                self.accept_resume, self.spare_paused = 0.0, False
                self.sel.register(self.listener, selectors.EVENT_READ)
            accept = False
            for key, _mask in self.sel.select(self._timeout(now)):
                if key.fileobj is self.listener:
                    accept = True  # after the reads: a client whose line is in goes first
                elif key.fileobj in self.conns:
                    self._read(self.conns[key.fileobj])  # type: ignore[index]
            if accept:
                self._accept()
            self._expire(time.monotonic())

    def _timeout(self, now: float) -> float:
        t = min(TICK, max(0.0, self.expires_at - time.time()))
        if self.conns:
            t = min(t, max(0.0, next(iter(self.conns.values())).deadline - now))
        if self.accept_resume:
            t = min(t, max(0.0, self.accept_resume - now))
        return t

    def socket_is_ours(self) -> bool:
        try:
            return os.lstat(self.path).st_ino == self.ino
        except OSError:
            return False

    # -- connections ----------------------------------------------------------------------------
    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            full = len(self.conns) >= MAX_CONNS
            victim = self._victim(time.monotonic()) if full else None  # evicted on admission
            if full and victim is None:
                self._pause_for_spares()
                return
            try:
                conn, _addr = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.ECONNABORTED, errno.EINTR, errno.EPROTO):
                    continue
                if exc.errno in _FD_ERRNOS and self._fd_shortage():
                    continue
                if exc.errno not in _FD_ERRNOS:
                    self._pause()
                return
            self.backoff = BACKOFF_MIN
            self._admit(conn, victim)

    def _victim(self, now: float) -> _Conn | None:
        """The oldest connection that may be evicted (None: every open one is spared)."""
        return next((c for c in self.conns.values() if c.evictable(now)), None)

    def _fd_shortage(self) -> bool:
        """EMFILE and friends: free descriptors by dropping the oldest quarter of the evictable
        connections (True: accept again now); with none to drop, stop accepting for a while."""
        self.stats["accept_errors"] += 1
        now = time.monotonic()
        victims = [c for c in self.conns.values() if c.evictable(now)][:max(1, len(self.conns) // 4)]
        for conn in victims:
            self._drop(conn, "evicted")
        if victims:
            return True
        if self.conns:
            self._pause_for_spares()
        else:
            self._pause()
        return False

    def _pause(self) -> None:
        """Stop accepting for the back-off time (doubling up to BACKOFF_MAX while it keeps failing)."""
        self.sel.unregister(self.listener)
        self.accept_resume = time.monotonic() + self.backoff
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)

    def _pause_for_spares(self) -> None:
        """Every open connection is spared: stop accepting until the oldest one's spare time ends
        (or a line arrives on one, which frees it: the loop reads before it accepts)."""
        self.sel.unregister(self.listener)
        self.accept_resume = min(c.spare_until for c in self.conns.values())
        self.spare_paused = True

    def _admit(self, sock: socket.socket, victim: _Conn | None) -> None:
        """Hold ``sock`` (a peer of our uid), evicting ``victim`` for it when the house is full."""
        sock.setblocking(False)
        _pid, uid = agent.peer_creds(sock)
        if uid != os.getuid():
            self.stats["refused_peers"] += 1
            sock.close()
            return
        if victim is not None:
            self._drop(victim, "evicted")
        now = time.monotonic()
        conn = _Conn(sock, now + CONN_DEADLINE, now + SPARE)
        self.conns[sock] = conn
        self.sel.register(sock, selectors.EVENT_READ)
        self._read(conn)  # a client usually sent its line with the connect

    def _drop(self, conn: _Conn, why: str | None = None) -> None:
        if why:
            self.stats[why] += 1
        self.conns.pop(conn.sock, None)
        if self.spare_paused:  # a slot is free: accept again on the next round
            self.spare_paused, self.accept_resume = False, time.monotonic()
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(conn.sock)
        conn.sock.close()

    def _expire(self, now: float) -> None:
        while self.conns:
            oldest = next(iter(self.conns.values()))
            if oldest.deadline > now:
                return
            self._drop(oldest, "timed_out")

    def _read(self, conn: _Conn) -> None:
        try:
            chunk = conn.sock.recv(1024)
        except BlockingIOError:
            return
        except OSError:
            self._drop(conn)
            return
        conn.buf += chunk
        if chunk and b"\n" not in conn.buf:
            if len(conn.buf) > agent.MAX_LINE:
                self._drop(conn)
            return
        line = bytes(conn.buf.split(b"\n", 1)[0])
        try:
            self._answer(conn.sock, line)
        finally:
            self._drop(conn)

    def _answer(self, sock: socket.socket, line: bytes) -> None:
        try:
            req = json.loads(line or b"null")
        except ValueError:
            return
        if not isinstance(req, dict):
            return
        op = req.get("op")
        self.stats["served"] += 1
        if op == "key" and req.get("salt") == self.secret.salt_hex and req.get("kdf") == self.secret.kdf:
            reply = self.secret.key_reply()
            try:
                _send(sock, reply)
            finally:
                reply[:] = bytes(len(reply))
            return
        if op == "status":
            out: dict[str, Any] = {"ok": True, "pid": os.getpid(), "expires_at": self.expires_at,
                                   "mlocked": self.secret.page.locked, "stats": dict(self.stats),
                                   "open": len(self.conns)}
        elif op == "stop":
            out, self.stopping = {"ok": True}, True
        else:
            out = {"ok": False, "error": "not the store this agent was unlocked for"}
        _send(sock, json.dumps(out).encode() + b"\n")

    def close(self) -> None:
        for conn in list(self.conns.values()):
            self._drop(conn)
        self.sel.close()
        self.listener.close()


def _send(sock: socket.socket, data: bytes | memoryview) -> None:
    with contextlib.suppress(OSError):  # a client that cannot take ~100 bytes is dropped
        sock.send(data)
