"""The session agent process (``python -m alpaca_tui.core.store.agentd``); clients: :mod:`.agent`.

Start-up: hardened first (:func:`~alpaca_tui.core.hardening.harden_process`: no core dump,
not dumpable; macOS: ``PT_DENY_ATTACH``). The parent writes a 4-byte length, a JSON header
(home, salt, KDF parameters, period) and the 32 raw key bytes to its stdin; the key is read
with ``readv`` straight into one mlock-ed page (:class:`~alpaca_tui.core.hardening.LockedBuffer`;
a refused ``mlock`` is reported, not fatal). That page is the only copy the agent keeps: the
key is never turned into ``bytes`` or ``str``, the answers that carry it are built in the same
page and zeroed after sending, and the page is zeroed at exit. It then picks its socket
(:func:`choose_socket`), binds it 0600, writes the home's ``agent.json`` and prints
``READY <deadline> mlocked|unlocked``.

Serving: one thread and a selector, no thread per client. At most :data:`MAX_CONNS`
connections are open; a new one beyond that evicts the oldest. Each connection has
:data:`CONN_DEADLINE` seconds to send its one line (a silent or trickling client is dropped,
never waited for). A peer of another uid is dropped at accept. ``accept`` failing for lack of
file descriptors (EMFILE, ENFILE, ENOBUFS, ENOMEM) drops the oldest quarter of the open
connections and accepts again; with none to drop (or on any other accept error) it pauses
accepting with a growing back-off (10 ms to 1 s) instead of crashing. Twice a second it checks
that its socket is still the one it bound; when it is gone or replaced, the agent exits, as it
does at its deadline, on ``stop`` and on SIGTERM / SIGHUP / SIGINT.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import selectors
import signal
import socket
import stat
import struct
import sys
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alpaca_tui.core.errors import StoreError
from alpaca_tui.core.hardening import LockedBuffer, deny_attach, harden_process
from alpaca_tui.core.store import agent
from alpaca_tui.core.store.fsutil import atomic_write
from alpaca_tui.core.store.safefile import UnsafeFileError, check_home

MAX_CONNS = 64
CONN_DEADLINE = 2.0
TICK = 0.2
WATCH_EVERY = 0.5
BACKOFF_MIN, BACKOFF_MAX = 0.01, 1.0
ACCEPT_BATCH = 64
LISTEN_BACKLOG = 128
_FD_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_HEX = b"0123456789abcdef"
_KEY_HEAD = b'{"ok": true, "key": "'
_KEY_TAIL = b'"}\n'
KEY_LEN = 32


# -- where to listen ----------------------------------------------------------------------------
def _usable_dir(d: Path) -> bool:
    """``d`` exists (made now if missing) as a real directory of ours, mode exactly 0700, in a
    chain of parents nobody else can change."""
    try:
        check_home(d)
        with contextlib.suppress(FileExistsError):
            os.mkdir(d, 0o700)
        st = os.lstat(d)
        check_home(d)
    except (OSError, UnsafeFileError):
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) == 0o700


def choose_socket(home: Path) -> tuple[Path, bool]:
    """(socket path, whether we made its directory for this agent alone).

    The home's own ``agent.sock`` when the path is short enough; else ``alpaca-tui-<uid>`` under
    ``$XDG_RUNTIME_DIR`` or the temp dir if that directory is usable (:func:`_usable_dir`); a
    squatted one (another user's, a symlink, not 0700) is avoided: a fresh ``mkdtemp`` directory
    is used instead, named in the record so clients find it."""
    preferred = agent.socket_path(home)
    if preferred.parent == home or _usable_dir(preferred.parent):
        return _short_enough(preferred), False
    fresh = Path(tempfile.mkdtemp(prefix=f"alpaca-tui-{os.getuid()}-"))
    if not _usable_dir(fresh):
        with contextlib.suppress(OSError):
            fresh.rmdir()
        raise StoreError(f"no private directory for the agent's socket under {fresh.parent}; {_FIX}")
    try:
        return _short_enough(fresh / "sock"), True  # the directory is unique: a short name will do
    except StoreError:
        fresh.rmdir()
        raise


_FIX = "fix: set XDG_RUNTIME_DIR to a directory of yours (0700) or use a shorter ALPACA_TUI_HOME"


def _short_enough(path: Path) -> Path:
    if len(os.fsencode(str(path))) > agent.MAX_SOCK_PATH:
        raise StoreError(f"the agent's socket path {path} is too long for a Unix socket; {_FIX}")
    return path


def _bind(path: Path) -> socket.socket:
    if os.path.lexists(path):
        # A socket nobody answers on is stale (a killed agent); anything else is not ours to remove.
        if not path.is_socket() or path.is_symlink():
            raise StoreError(f"{path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(0.5)
            probe.connect(str(path))
        except OSError:
            path.unlink(missing_ok=True)
        else:
            raise StoreError("another agent is already running for this home")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock


# -- serving ------------------------------------------------------------------------------------
@dataclass
class _Conn:
    sock: socket.socket
    deadline: float
    buf: bytearray = field(default_factory=bytearray)


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
        self.stats = {"served": 0, "evicted": 0, "timed_out": 0, "refused_peers": 0, "accept_errors": 0}

    def run(self) -> None:
        next_watch = 0.0
        while not self.stopping and time.time() < self.expires_at:
            now = time.monotonic()
            if now >= next_watch:
                if not self._socket_is_ours():
                    return
                next_watch = now + WATCH_EVERY
            if self.accept_resume and now >= self.accept_resume:
                self.accept_resume = 0.0
                self.sel.register(self.listener, selectors.EVENT_READ)
            for key, _mask in self.sel.select(self._timeout(now)):
                if key.fileobj is self.listener:
                    self._accept()
                elif key.fileobj in self.conns:
                    self._read(self.conns[key.fileobj])  # type: ignore[index]
            self._expire(time.monotonic())

    def _timeout(self, now: float) -> float:
        t = min(TICK, max(0.0, self.expires_at - time.time()))
        if self.conns:
            t = min(t, max(0.0, next(iter(self.conns.values())).deadline - now))
        return t

    def _socket_is_ours(self) -> bool:
        try:
            return os.lstat(self.path).st_ino == self.ino
        except OSError:
            return False

    # -- connections ----------------------------------------------------------------------------
    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
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
            self._admit(conn)

    def _fd_shortage(self) -> bool:
        """EMFILE and friends: free descriptors by dropping the oldest quarter of the connections
        (True: accept again now); with none to drop, stop accepting for a growing while."""
        self.stats["accept_errors"] += 1
        if self.conns:
            for _ in range(max(1, len(self.conns) // 4)):
                self._drop(next(iter(self.conns.values())), "evicted")
            return True
        self._pause()
        return False

    def _pause(self) -> None:
        """Stop accepting for the back-off time (doubling up to BACKOFF_MAX while it keeps failing)."""
        self.sel.unregister(self.listener)
        self.accept_resume = time.monotonic() + self.backoff
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)

    def _admit(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        _pid, uid = agent.peer_creds(sock)
        if uid != os.getuid():
            self.stats["refused_peers"] += 1
            sock.close()
            return
        if len(self.conns) >= MAX_CONNS:
            self._drop(next(iter(self.conns.values())), "evicted")
        conn = _Conn(sock, time.monotonic() + CONN_DEADLINE)
        self.conns[sock] = conn
        self.sel.register(sock, selectors.EVENT_READ)
        self._read(conn)  # a client usually sent its line with the connect

    def _drop(self, conn: _Conn, why: str | None = None) -> None:
        if why:
            self.stats[why] += 1
        self.conns.pop(conn.sock, None)
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


# -- the process ----------------------------------------------------------------------------------
def _read_exact(fd: int, view: memoryview) -> None:
    got = 0
    while got < len(view):
        n = os.readv(fd, [view[got:]])
        if n == 0:
            raise ValueError("short input")
        got += n


def _read_header(fd: int) -> dict[str, Any]:
    size = bytearray(4)
    _read_exact(fd, memoryview(size))
    (n,) = struct.unpack(">I", size)
    if not 0 < n <= agent.MAX_LINE:
        raise ValueError("bad header length")
    raw = bytearray(n)
    _read_exact(fd, memoryview(raw))
    doc = json.loads(raw)
    if not isinstance(doc, dict):
        raise ValueError("bad header")
    return doc


def _write_record(home: Path, path: Path, own_dir: bool, tag: str) -> agent.Record:
    pid = os.getpid()
    rec = agent.Record(pid, path, agent.proc_start_time(pid), tag, own_dir)
    check_home(home)
    atomic_write(agent.record_path(home), rec.to_json())
    return rec


def _cleanup(home: Path, server: Server | None, rec: agent.Record | None) -> None:
    if server is not None:
        server.close()
        with contextlib.suppress(OSError):
            if server._socket_is_ours():  # never remove a successor's socket
                server.path.unlink()
    if rec is not None:
        if agent.read_record(home) == rec:
            with contextlib.suppress(OSError):
                agent.record_path(home).unlink()
        if rec.own_dir:
            with contextlib.suppress(OSError):
                rec.socket.parent.rmdir()


def serve(header: dict[str, Any], secret: Secret, tag: str, out: Any) -> int:
    home = Path(str(header["home"]))
    expires_at = time.time() + float(header["ttl"])
    path, own_dir = choose_socket(home)
    server: Server | None = None
    rec: agent.Record | None = None
    try:
        server = Server(_bind(path), path, secret, expires_at)
        rec = _write_record(home, path, own_dir, tag)
        out.write(f"READY {expires_at:.3f} {'mlocked' if secret.page.locked else 'unlocked'}\n".encode())
        out.flush()
        out.close()

        def stop_on_signal(_signum: int, _frame: Any) -> None:
            assert server is not None
            server.stopping = True

        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, stop_on_signal)
        server.run()
    finally:
        _cleanup(home, server, rec)
        if own_dir and rec is None:
            with contextlib.suppress(OSError):
                path.parent.rmdir()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the agent process (see the module doc)."""
    harden_process()
    deny_attach()
    args = sys.argv[1:] if argv is None else argv
    tag = args[1] if len(args) == 2 and args[0] == "--home-tag" else ""
    page = LockedBuffer()
    try:
        header = _read_header(0)
        _read_exact(0, page.view[:KEY_LEN])
        os.close(0)
        secret = Secret(page, str(header["salt"]), [int(x) for x in header["kdf"]])
        return serve(header, secret, tag, sys.stdout.buffer)
    except (StoreError, OSError, ValueError, KeyError, TypeError) as exc:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.buffer.write(f"ERROR {type(exc).__name__}: {getattr(exc, 'message', exc)}\n".encode())
            sys.stdout.flush()
        return 1
    finally:
        page.close()


if __name__ == "__main__":
    raise SystemExit(main())
