"""Running proxies, for the TUI and ``doctor``-style readers: one small status file per proxy
run in ``<home>/proxies/<pid>-<port>.json`` (atomic, 0600), rewritten every couple of seconds with
its ports, counters and token state (never a token value), removed when it stops.

A reader trusts a file only while its process is alive and the file is fresh (a crashed
proxy's file goes stale; a reused pid does not keep it fresh).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from alpaca_tui.core.errors import AlpacaTuiError
from alpaca_tui.core.store.fsutil import atomic_write, ensure_private_dir

__all__ = ["PROXIES_DIR", "STALE_AFTER", "ProxyStatus", "remove_status", "running_proxies", "write_status"]

PROXIES_DIR = "proxies"
STALE_AFTER = 15.0    # seconds without an update after which a status file is ignored


@dataclass
class ProxyStatus:
    """One proxy run as it describes itself."""

    pid: int
    profile: str
    env: str
    started_at: float
    updated_at: float
    urls: dict[str, str] = field(default_factory=dict)      # api -> http://127.0.0.1:PORT
    requests: int = 0
    forwarded: int = 0
    refused: int = 0
    bytes_out: int = 0
    streams_open: int = 0
    allow_live_writes: bool = False
    token: dict[str, Any] | None = None   # expires_at, issued_at, refresh_count, token_requests, last_error

    @property
    def key(self) -> str:
        """The status file's name: the pid and the first port (one process may run several)."""
        ports = sorted(u.rsplit(":", 1)[-1] for u in self.urls.values())
        return f"{self.pid}-{ports[0] if ports else 0}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: Any) -> ProxyStatus | None:
        if not isinstance(obj, dict):
            return None
        try:
            st = cls(**{k: obj[k] for k in cls.__dataclass_fields__ if k in obj})
        except TypeError:
            return None
        ok = (isinstance(st.pid, int) and isinstance(st.profile, str) and isinstance(st.urls, dict)
              and isinstance(st.updated_at, int | float))
        return st if ok else None


def _dir(home: Path) -> Path:
    return home / PROXIES_DIR


def write_status(home: Path, status: ProxyStatus) -> None:
    d = _dir(home)
    ensure_private_dir(d)
    atomic_write(d / f"{status.key}.json", json.dumps(status.to_json(), separators=(",", ":")).encode())


def remove_status(home: Path, key: str) -> None:
    try:
        (_dir(home) / f"{key}.json").unlink()
    except OSError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_proxies(home: Path, now: float, *, profile: str | None = None) -> list[ProxyStatus]:
    """The live proxy runs of this home (optionally one profile's), oldest first."""
    try:
        entries = sorted(_dir(home).glob("*.json"))
    except OSError:
        return []
    out: list[ProxyStatus] = []
    for path in entries:
        try:
            st = ProxyStatus.from_json(json.loads(path.read_bytes()))
        except (OSError, ValueError, AlpacaTuiError):
            continue
        if st is None or (profile is not None and st.profile != profile):
            continue
        if not _alive(st.pid) or now - st.updated_at > STALE_AFTER:
            continue
        out.append(st)
    return sorted(out, key=lambda s: s.started_at)
