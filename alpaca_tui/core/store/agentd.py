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

Serving: :class:`.agentloop.Server` (one thread, a selector, capped connections with
deadlines, back-off on EMFILE; it returns when its socket is gone or replaced). The agent exits
then, at its deadline, on ``stop`` and on SIGTERM / SIGHUP / SIGINT.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from alpaca_tui.core.errors import StoreError
from alpaca_tui.core.hardening import LockedBuffer, deny_attach, harden_process
from alpaca_tui.core.store import agent
from alpaca_tui.core.store.agentloop import CONN_DEADLINE, KEY_LEN, MAX_CONNS, Secret, Server
from alpaca_tui.core.store.fsutil import atomic_write
from alpaca_tui.core.store.safefile import UnsafeFileError, check_home

__all__ = ["CONN_DEADLINE", "MAX_CONNS", "choose_socket", "main", "serve"]
LISTEN_BACKLOG = 128


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
            if server.socket_is_ours():  # never remove a successor's socket
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
