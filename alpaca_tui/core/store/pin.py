"""Which backend a home is pinned to, when its index does not live in the home.

A home whose index is the local ``index.json`` records its backend there (``"backend"``, set by
the first add). A home whose index lives elsewhere (the shared OpenBao / Vault KV store) has no
local index, so it is pinned by a small non-secret file, ``<home>/store.json``::

    {"version": 1, "backend": "vault",
     "settings": {"addr": "https://bao.example:8200", "namespace": "", "mount": "secret",
                  "prefix": "alpaca-tui"}}

``settings`` are the backend's own (where its index is), never a credential. The file is
written atomically, 0600 in the 0700 home, under the home lock, by the first write through
such a backend and by ``alpaca-tui store migrate``; it wins over ``index.json`` (a migration
away from the local files pins the home before it removes them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from alpaca_tui.core.errors import StoreError
from alpaca_tui.core.store.fsutil import HomeLock, atomic_write, ensure_private_dir
from alpaca_tui.core.store.index import read_index
from alpaca_tui.core.store.safefile import PIN_MAX, read_file

PIN_NAME = "store.json"
PIN_VERSION = 1


@dataclass(frozen=True)
class Pin:
    backend: str
    settings: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        where = " ".join(f"{k}={v}" for k, v in sorted(self.settings.items()) if v)
        return f"{self.backend} ({where})" if where else self.backend


def pin_path(home: Path) -> Path:
    return home / PIN_NAME


def read_pin(home: Path) -> Pin | None:
    """The home's pin, or None when it has none. StoreError (one line) when it is unreadable."""
    path = pin_path(home)
    raw = read_file(path, cap=PIN_MAX, label=str(path))
    if raw is None:
        return None
    try:
        doc = json.loads(raw.decode("utf-8"))
        backend = doc["backend"]
        settings = doc.get("settings") or {}
        if (doc.get("version") != PIN_VERSION or not isinstance(backend, str)
                or not isinstance(settings, dict)):
            raise ValueError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise StoreError(f"{path} is not an alpaca-tui store pin (repair it or move it aside)") from None
    return Pin(backend, {str(k): str(v) for k, v in settings.items()})


def write_pin(home: Path, lock: HomeLock, pin: Pin) -> None:
    doc = {"version": PIN_VERSION, "backend": pin.backend, "settings": dict(sorted(pin.settings.items()))}
    ensure_private_dir(home)
    with lock.hold():
        atomic_write(pin_path(home), (json.dumps(doc, indent=2) + "\n").encode("utf-8"))


def remove_pin(home: Path, lock: HomeLock) -> None:
    with lock.hold():
        try:
            pin_path(home).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StoreError(f"cannot remove {pin_path(home)}: {exc.strerror or exc}") from None


def recorded_backend(home: Path) -> tuple[str | None, int, Pin | None]:
    """(the backend this home is pinned to or None, its local profile count, the pin file)."""
    pin = read_pin(home)
    index = read_index(home / "index.json")
    if pin is not None:
        return pin.backend, len(index.profiles), pin
    return (index.backend if index.profiles else None), len(index.profiles), None


__all__ = ["PIN_NAME", "Pin", "pin_path", "read_pin", "recorded_backend", "remove_pin", "write_pin"]
