"""Session agent for the encrypted-file store: type the passphrase once per session, not per call.

``alpaca-tui unlock [--for 1h]`` derives the store key (scrypt) once, then hands it to a small
background process, the agent, which keeps it in memory only and gives it to processes of the
same user that ask for it over a Unix socket. ``alpaca-tui lock`` (or the end of the period)
stops the agent and the key is gone. This is what ssh-agent, ``op signin`` sessions and
aws-vault's session cache do; without it every ``alpaca-tui check`` in a script pays the
scrypt cost (~100 ms+) or needs a passphrase file on disk.

What guards the key:
- the socket lives in the 0700 data home (or, when that path is too long for a Unix socket,
  in a 0700 ``alpaca-tui-<uid>`` directory under ``$XDG_RUNTIME_DIR`` or the temp dir), mode 0600;
- both ends check the peer's uid with ``SO_PEERCRED`` and refuse any other user;
- the key reaches the agent through a pipe (never argv or the environment); the agent turns off
  core dumps and ptrace attachment (``PR_SET_DUMPABLE`` = 0) where the OS allows;
- the agent only answers for the salt + KDF parameters of the file it was unlocked for, and exits
  at its deadline (absolute, not idle-based, so a forgotten session does not live forever).

Protocol: one JSON line per connection, one JSON line back. Requests: ``{"op": "key", "salt":
HEX, "kdf": [log2_n, r, p]}`` -> ``{"ok": true, "key": HEX}``; ``{"op": "status"}`` ->
``{"ok": true, "pid": N, "expires_at": EPOCH}``; ``{"op": "stop"}`` -> ``{"ok": true}``.
Clients treat every failure (no socket, refused, timeout, garbage) as "no agent": the caller
then falls back to the passphrase, so a dead or hung agent never breaks a command.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alpaca_tui.core.errors import StoreError
from alpaca_tui.core.store.fsutil import ensure_private_dir

SOCKET_NAME = "agent.sock"
DEFAULT_TTL = 3600.0
MAX_TTL = 24 * 3600.0
CLIENT_TIMEOUT = 1.0
_MAX_SOCK_PATH = 100  # sun_path is 108 bytes on Linux, 104 on macOS
_MAX_LINE = 4096


def socket_path(home: Path) -> Path:
    """Where the agent for ``home`` listens."""
    home = home.expanduser().absolute()
    path = home / SOCKET_NAME
    if len(os.fsencode(str(path))) <= _MAX_SOCK_PATH:
        return path
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"alpaca-tui-{os.getuid()}"
    digest = hashlib.sha256(os.fsencode(str(home))).hexdigest()[:20]
    return base / f"{digest}.sock"


def _peer_uid(sock: socket.socket) -> int | None:
    so_peercred = getattr(socket, "SO_PEERCRED", None)
    if so_peercred is None:  # not Linux: the 0700 directory is the guard
        return os.getuid()
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, so_peercred, struct.calcsize("3i"))
    except OSError:
        return None
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def _recv_line(conn: socket.socket) -> bytes:
    buf = b""
    while b"\n" not in buf:
        chunk = conn.recv(1024)
        if not chunk:
            break
        buf += chunk
        if len(buf) > _MAX_LINE:
            raise ValueError("line too long")
    return buf.split(b"\n", 1)[0]


def ask(home: Path, request: dict[str, Any], timeout: float = CLIENT_TIMEOUT) -> dict[str, Any] | None:
    """One request to the agent of ``home``; None when there is no (usable) agent."""
    path = socket_path(home)
    if not path.exists():
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            if _peer_uid(sock) != os.getuid():
                return None
            sock.sendall(json.dumps(request).encode() + b"\n")
            reply = json.loads(_recv_line(sock) or b"null")
    except (OSError, ValueError):
        return None
    return reply if isinstance(reply, dict) and reply.get("ok") is True else None


def fetch_key(home: Path, salt: bytes, kdf: tuple[int, int, int]) -> bytes | None:
    """The derived key for the file with this salt + KDF parameters, if an agent holds it."""
    reply = ask(home, {"op": "key", "salt": salt.hex(), "kdf": list(kdf)})
    if reply is None:
        return None
    try:
        key = bytes.fromhex(str(reply["key"]))
    except (KeyError, ValueError):
        return None
    return key if len(key) == 32 else None


@dataclass(frozen=True)
class AgentStatus:
    pid: int
    expires_at: float


def status(home: Path) -> AgentStatus | None:
    reply = ask(home, {"op": "status"})
    if reply is None:
        return None
    try:
        return AgentStatus(int(reply["pid"]), float(reply["expires_at"]))
    except (KeyError, TypeError, ValueError):
        return None


def stop(home: Path) -> bool:
    """Stop the agent of ``home``; True when one was running."""
    if ask(home, {"op": "stop"}) is None:
        return False
    path = socket_path(home)
    deadline = time.monotonic() + 2.0
    while path.exists() and time.monotonic() < deadline:  # it removes its socket on the way out
        time.sleep(0.01)
    return True


def start(home: Path, key: bytes, salt: bytes, kdf: tuple[int, int, int], ttl: float) -> AgentStatus:
    """Start a detached agent holding ``key`` for ``ttl`` seconds (replacing a running one)."""
    if not 0 < ttl <= MAX_TTL:
        raise StoreError(f"the agent can hold the key for 1 s to {int(MAX_TTL // 3600)} h")
    home = home.expanduser().absolute()
    stop(home)
    path = socket_path(home)
    ensure_private_dir(path.parent)
    payload = json.dumps({"home": str(home), "key": key.hex(), "salt": salt.hex(), "kdf": list(kdf),
                          "ttl": ttl}).encode()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "alpaca_tui.core.store.agent"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True, cwd="/")
    except OSError as exc:
        raise StoreError(f"cannot start the session agent: {exc.strerror or exc}") from None
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(payload + b"\n")
        proc.stdin.close()
        line = proc.stdout.readline().decode(errors="replace").strip()
    except OSError:
        line = ""
    finally:
        proc.stdout.close()
    if not line.startswith("READY "):
        with contextlib.suppress(OSError):
            proc.kill()
        proc.wait(5)
        raise StoreError(f"the session agent did not start ({line or 'no reply'})")
    # The agent lives on in its own session; this process does not wait for it. Python warns
    # about a still-running Popen at exit only if it is garbage-collected with a returncode
    # of None, so mark it as detached.
    proc.returncode = 0
    return AgentStatus(proc.pid, float(line.split()[1]))


# -- the agent process ------------------------------------------------------------------------
def _harden() -> None:
    with contextlib.suppress(Exception):
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0: no core, no ptrace by others


def _bind(path: Path) -> socket.socket:
    if path.exists() or path.is_symlink():
        # A socket nobody answers on is stale (a killed agent); anything else is not ours to remove.
        if not path.is_socket():
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
    sock.listen(16)
    return sock


def serve(payload: dict[str, Any], out: Any) -> int:
    _harden()
    home = Path(payload["home"])
    key = bytes.fromhex(payload["key"])
    salt_hex = str(payload["salt"])
    kdf = [int(x) for x in payload["kdf"]]
    deadline = time.time() + float(payload["ttl"])
    path = socket_path(home)
    sock = _bind(path)
    ino = path.stat().st_ino
    out.write(f"READY {deadline:.3f}\n".encode())
    out.flush()
    out.close()
    import threading

    stopping = threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn:
            if _handle(conn, key, salt_hex, kdf, deadline):
                stopping.set()

    try:
        while not stopping.is_set():
            left = deadline - time.time()
            if left <= 0:
                break
            sock.settimeout(min(left, 1.0))  # wakes once a second: notices a stop request soon
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            # One thread per client: a silent or slow client never holds up the others.
            threading.Thread(target=handle, args=(conn,), daemon=True).start()
    finally:
        key = b""
        sock.close()
        with contextlib.suppress(OSError):
            if path.stat().st_ino == ino:  # never remove a successor's socket
                path.unlink()
    return 0


def _handle(conn: socket.socket, key: bytes, salt_hex: str, kdf: list[int], deadline: float) -> bool:
    """Answer one request; True when the agent should stop."""
    conn.settimeout(1.0)
    try:
        if _peer_uid(conn) != os.getuid():
            return False
        req = json.loads(_recv_line(conn) or b"null")
        if not isinstance(req, dict):
            return False
        op = req.get("op")
        stop_now = False
        if op == "key" and req.get("salt") == salt_hex and req.get("kdf") == kdf:
            reply: dict[str, Any] = {"ok": True, "key": key.hex()}
        elif op == "status":
            reply = {"ok": True, "pid": os.getpid(), "expires_at": deadline}
        elif op == "stop":
            reply, stop_now = {"ok": True}, True
        else:
            reply = {"ok": False, "error": "not the store this agent was unlocked for"}
        conn.sendall(json.dumps(reply).encode() + b"\n")
        return stop_now
    except (OSError, ValueError):
        return False


def main() -> int:
    """Entry point of the agent process: the key material arrives on stdin as one JSON line."""
    try:
        payload = json.loads(sys.stdin.buffer.readline())
        sys.stdin.close()
        return serve(payload, sys.stdout.buffer)
    except (StoreError, OSError, ValueError, KeyError, TypeError) as exc:
        with contextlib.suppress(OSError):
            sys.stdout.buffer.write(f"ERROR {type(exc).__name__}: {getattr(exc, 'message', exc)}\n".encode())
            sys.stdout.flush()
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
