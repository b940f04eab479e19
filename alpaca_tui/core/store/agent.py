"""Session agent for the encrypted-file store: type the passphrase once per session, not per call.

``alpaca-tui unlock [--for 1h]`` derives the store key (scrypt) once, then hands it to a small
background process, the agent (:mod:`.agentd`), which keeps it in memory only and gives it to
processes of the same user that ask for it over a Unix socket. ``alpaca-tui lock`` (or the end
of the period) stops the agent and the key is gone. This is what ssh-agent, ``op signin``
sessions and aws-vault's session cache do; without it every ``alpaca-tui check`` in a script
pays the scrypt cost (~100 ms+) or needs a passphrase file on disk. This module is the client
side: finding, asking, starting and stopping the agent.

What guards the key:
- the socket lives in the data home (0700, checked like ssh's StrictModes) or, when that path is
  too long for a Unix socket, in a 0700 ``alpaca-tui-<uid>`` directory of ours under
  ``$XDG_RUNTIME_DIR`` or the temp dir. A directory there that is not exactly ours and 0700
  (another user made it first, or a symlink) is never used: the agent makes a fresh one with
  ``mkdtemp`` instead. The socket is 0600;
- the home's ``agent.json`` (0600, written by the agent) records its pid, its start time, its
  socket and a tag of the home. Clients connect only to the socket it names, only when that
  socket and its directory are ours and private, and only talk to a peer whose ``SO_PEERCRED``
  uid is ours and pid is the recorded one. ``lock`` finds the agent by it even when the socket is
  gone, and signals only a process that is really that agent (same uid, start time, command);
- the key reaches the agent through a pipe (never argv or the environment) and stays in one
  mlock-ed page (see :mod:`.agentd` and :mod:`alpaca_tui.core.hardening`);
- the agent only answers for the salt + KDF parameters of the file it was unlocked for, and exits
  at its deadline (absolute, not idle-based, so a forgotten session does not live forever), and
  as soon as its socket disappears or is replaced.

Protocol: one JSON line per connection, one JSON line back. Requests: ``{"op": "key", "salt":
HEX, "kdf": [log2_n, r, p]}`` -> ``{"ok": true, "key": HEX}``; ``{"op": "status"}`` ->
``{"ok": true, "pid": N, "expires_at": EPOCH, "mlocked": bool, "stats": {...}}``; ``{"op":
"stop"}`` -> ``{"ok": true}``. Clients treat every failure (no record, no socket, refused,
timeout, garbage) as "no agent": the caller then falls back to the passphrase, so a dead or
hung agent never breaks a command.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import stat
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alpaca_tui.core.errors import StoreError
from alpaca_tui.core.store.safefile import AGENT_RECORD_MAX, read_file

SOCKET_NAME = "agent.sock"
RECORD_NAME = "agent.json"
AGENT_MODULE = "alpaca_tui.core.store.agentd"
DEFAULT_TTL = 3600.0
MAX_TTL = 24 * 3600.0
CLIENT_TIMEOUT = 1.0
MAX_SOCK_PATH = 100  # sun_path is 108 bytes on Linux, 104 on macOS
MAX_LINE = 4096


def home_tag(home: Path) -> str:
    """A short stable name for ``home`` (socket file name, the agent's argv tag)."""
    return hashlib.sha256(os.fsencode(str(home.expanduser().absolute()))).hexdigest()[:20]


def socket_path(home: Path) -> Path:
    """Where a new agent for ``home`` prefers to listen (:mod:`.agentd` may have to avoid it)."""
    home = home.expanduser().absolute()
    path = home / SOCKET_NAME
    if len(os.fsencode(str(path))) <= MAX_SOCK_PATH:
        return path
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"alpaca-tui-{os.getuid()}"
    return base / f"{home_tag(home)}.sock"


def peer_creds(sock: socket.socket) -> tuple[int | None, int | None]:
    """(pid, uid) of the other end; pid None where the OS does not say (the 0700 directory is the
    guard there: only our uid can reach the socket)."""
    so_peercred = getattr(socket, "SO_PEERCRED", None)
    if so_peercred is None:
        return None, os.getuid()
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, so_peercred, struct.calcsize("3i"))
    except OSError:
        return None, None
    pid, uid, _gid = struct.unpack("3i", creds)
    return int(pid), int(uid)


# -- the record: agent.json -------------------------------------------------------------------
@dataclass(frozen=True)
class Record:
    pid: int
    socket: Path
    started: int | None      # Linux: start time in clock ticks since boot (/proc/<pid>/stat)
    tag: str                 # home_tag(home), also in the agent's argv
    own_dir: bool            # the agent made the socket's directory (mkdtemp) and removes it

    def to_json(self) -> bytes:
        return json.dumps({"pid": self.pid, "socket": str(self.socket), "started": self.started,
                           "tag": self.tag, "own_dir": self.own_dir}).encode() + b"\n"


def record_path(home: Path) -> Path:
    return home.expanduser().absolute() / RECORD_NAME


def read_record(home: Path) -> Record | None:
    """The home's agent record, None when there is none or it is unreadable."""
    try:
        raw = read_file(record_path(home), cap=AGENT_RECORD_MAX, label="session agent record")
        if raw is None:
            return None
        doc = json.loads(raw)
        started = doc["started"]
        return Record(int(doc["pid"]), Path(str(doc["socket"])),
                      int(started) if started is not None else None, str(doc["tag"]), bool(doc["own_dir"]))
    except (StoreError, ValueError, KeyError, TypeError):
        return None


def proc_start_time(pid: int) -> int | None:
    """Linux: the process's start time (field 22 of /proc/<pid>/stat); None elsewhere or if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    try:  # the command name (field 2) is in parentheses and may contain anything
        return int(raw[raw.rindex(b")") + 2:].split()[19])
    except (ValueError, IndexError):
        return None


def _proc_identity(pid: int) -> tuple[int, str] | None:
    """(real uid, command line) of ``pid``: /proc on Linux, ``ps`` elsewhere."""
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            status = (proc / "status").read_text(errors="replace")
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            uid = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("Uid:"))
        except (OSError, StopIteration, ValueError, IndexError):
            return None
        return uid, cmdline
    import subprocess

    try:
        out = subprocess.run(["ps", "-o", "uid=", "-o", "command=", "-p", str(pid)], capture_output=True,
                             text=True, timeout=3, check=False).stdout.strip()
        uid_s, _, cmd = out.partition(" ")
        return int(uid_s), cmd
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def is_our_agent(rec: Record) -> bool:
    """Whether ``rec.pid`` is still the agent that wrote ``rec``: our uid, the agent's command
    with this home's tag, and (Linux) the same start time, so a reused pid is never signalled."""
    ident = _proc_identity(rec.pid)
    if ident is None:
        return False
    uid, cmdline = ident
    if uid != os.getuid() or AGENT_MODULE not in cmdline or rec.tag not in cmdline:
        return False
    return rec.started is None or proc_start_time(rec.pid) == rec.started


# -- asking -----------------------------------------------------------------------------------
def _private_socket(path: Path) -> bool:
    """The socket and the directory holding it are ours, and the directory is private."""
    try:
        dst = os.lstat(path.parent)
        sst = os.lstat(path)
    except OSError:
        return False
    uid = os.getuid()
    return (stat.S_ISDIR(dst.st_mode) and dst.st_uid == uid and not stat.S_IMODE(dst.st_mode) & 0o077
            and stat.S_ISSOCK(sst.st_mode) and sst.st_uid == uid)


def recv_line(conn: socket.socket) -> bytes:
    buf = b""
    while b"\n" not in buf:
        chunk = conn.recv(1024)
        if not chunk:
            break
        buf += chunk
        if len(buf) > MAX_LINE:
            raise ValueError("line too long")
    return buf.split(b"\n", 1)[0]


def connect(sock: socket.socket, path: Path, deadline: float) -> None:
    """``connect`` that waits for room: a Unix socket whose listen queue is full (a flood) fails
    at once with EAGAIN instead of waiting, so retry until ``deadline``."""
    while True:
        try:
            sock.connect(str(path))
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TimeoutError("the agent's listen queue stayed full") from None
            time.sleep(0.002)


def ask(home: Path, request: dict[str, Any], timeout: float = CLIENT_TIMEOUT) -> dict[str, Any] | None:
    """One request to the agent of ``home``; None when there is no (usable) agent."""
    rec = read_record(home)
    if rec is None or not _private_socket(rec.socket):
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            connect(sock, rec.socket, time.monotonic() + timeout)
            pid, uid = peer_creds(sock)
            if uid != os.getuid() or (pid is not None and pid != rec.pid):
                return None
            sock.sendall(json.dumps(request).encode() + b"\n")
            reply = json.loads(recv_line(sock) or b"null")
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
    mlocked: bool | None = None          # whether the agent could lock its key page in RAM
    stats: dict[str, int] | None = None  # connections served / evicted, accept errors...


def status(home: Path) -> AgentStatus | None:
    reply = ask(home, {"op": "status"})
    if reply is None:
        return None
    try:
        stats = reply.get("stats")
        return AgentStatus(int(reply["pid"]), float(reply["expires_at"]),
                           bool(reply["mlocked"]) if "mlocked" in reply else None,
                           {str(k): int(v) for k, v in stats.items()} if isinstance(stats, dict) else None)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


# -- stopping and starting --------------------------------------------------------------------
def _gone(rec: Record, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_our_agent(rec):
            return True
        time.sleep(0.01)
    return not is_our_agent(rec)


def _clean_after(home: Path, rec: Record) -> None:
    """Remove what a dead agent left: its record (if still this one), its socket and own dir."""
    if read_record(home) == rec:
        with contextlib.suppress(OSError):
            record_path(home).unlink()
    if rec.own_dir and _private_socket(rec.socket):
        with contextlib.suppress(OSError):
            rec.socket.unlink()
        with contextlib.suppress(OSError):
            rec.socket.parent.rmdir()


def stop(home: Path) -> bool:
    """Stop the agent of ``home``; True when one was running.

    Asks it over its socket; when that fails (socket deleted, agent hung) and the recorded pid
    is really our agent, sends SIGTERM (then SIGKILL after 2 s)."""
    import signal

    rec = read_record(home)
    if rec is None:
        return _stop_unrecorded(home)
    running = is_our_agent(rec)
    if running and ask(home, {"op": "stop"}) is None:
        with contextlib.suppress(OSError):
            os.kill(rec.pid, signal.SIGTERM)
    if running and not _gone(rec, 2.0):
        with contextlib.suppress(OSError):
            os.kill(rec.pid, signal.SIGKILL)
        _gone(rec, 2.0)
    _clean_after(home, rec)
    return running


def _stop_unrecorded(home: Path) -> bool:
    """An agent of an older alpaca-tui (no ``agent.json``) on the preferred socket: ask it to stop,
    if the socket is ours and private and its peer is our uid."""
    path = socket_path(home)
    if not _private_socket(path):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(CLIENT_TIMEOUT)
            connect(sock, path, time.monotonic() + CLIENT_TIMEOUT)
            if peer_creds(sock)[1] != os.getuid():
                return False
            sock.sendall(b'{"op": "stop"}\n')
            reply = json.loads(recv_line(sock) or b"null")
    except (OSError, ValueError):
        return False
    stopped = isinstance(reply, dict) and reply.get("ok") is True
    deadline = time.monotonic() + 2.0
    while stopped and os.path.lexists(path) and time.monotonic() < deadline:
        time.sleep(0.01)  # it removes its socket on the way out
    return stopped


def start(home: Path, key: bytes, salt: bytes, kdf: tuple[int, int, int], ttl: float) -> AgentStatus:
    """Start a detached agent holding ``key`` for ``ttl`` seconds (replacing a running one)."""
    if not 0 < ttl <= MAX_TTL:
        raise StoreError(f"the agent can hold the key for 1 s to {int(MAX_TTL // 3600)} h")
    if len(key) != 32:
        raise StoreError("the session agent holds a 32-byte key")
    home = home.expanduser().absolute()
    stop(home)
    header = json.dumps({"home": str(home), "salt": salt.hex(), "kdf": list(kdf), "ttl": ttl}).encode()
    import subprocess  # here: a command that only asks the agent never starts one

    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", AGENT_MODULE, "--home-tag", home_tag(home)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True, cwd="/")
    except OSError as exc:
        raise StoreError(f"cannot start the session agent: {exc.strerror or exc}") from None
    assert proc.stdin is not None and proc.stdout is not None
    try:  # length-prefixed header, then the raw key: the agent reads it straight into locked memory
        proc.stdin.write(struct.pack(">I", len(header)) + header + key)
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
    parts = line.split()
    return AgentStatus(proc.pid, float(parts[1]), parts[2] == "mlocked" if len(parts) > 2 else None)
