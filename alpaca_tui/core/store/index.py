"""The non-secret profile index: ``<home>/index.json``.

Schema (version 1)::

    {"version": 1,
     "backend": "system" | "file",         # where this home's secrets live (set by the first add;
                                           # any name in the backend registry, .registry)
     "profiles": {"<name>": Profile.to_dict(), ...}}

It never holds a secret: key IDs are stored masked. Writes are atomic and made under
the home lock by :class:`.fileindex.FileIndex`. A file that cannot be parsed is
never dropped or overwritten: reading it raises a one-line StoreError naming the file,
and a byte-for-byte copy is kept as ``index.json.corrupt-<UTC timestamp>``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alpaca_tui.core.credentials import Profile
from alpaca_tui.core.errors import AlpacaTuiError, StoreError
from alpaca_tui.core.store.fsutil import atomic_write
from alpaca_tui.core.store.registry import is_backend
from alpaca_tui.core.store.safefile import INDEX_MAX, read_file

INDEX_VERSION = 1


@dataclass
class IndexDoc:
    profiles: dict[str, Profile] = field(default_factory=dict)
    backend: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # unknown top-level keys, preserved

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = dict(self.extra)
        doc["version"] = INDEX_VERSION
        if self.backend:
            doc["backend"] = self.backend
        doc["profiles"] = {name: p.to_dict() for name, p in sorted(self.profiles.items())}
        return doc

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _backup_corrupt(path: Path, raw: bytes) -> Path:
    """Keep a copy of a corrupt index (once per distinct content)."""
    for existing in sorted(path.parent.glob(path.name + ".corrupt-*")):
        try:
            if read_file(existing, cap=INDEX_MAX, label=f"index backup {existing}") == raw:
                return existing
        except StoreError:
            continue
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    backup = path.with_name(f"{path.name}.corrupt-{stamp}")
    atomic_write(backup, raw)  # the bytes read, never the path again (it may have been swapped)
    return backup


def _corrupt(path: Path, raw: bytes, why: str) -> StoreError:
    try:
        backup: Path | None = _backup_corrupt(path, raw)
    except (OSError, StoreError):
        backup = None
    kept = f"a copy is kept as {backup.name}" if backup else "could not make a backup copy"
    return StoreError(f"profile index {path} is corrupted ({why}); it was left untouched and {kept} — "
                      "repair it or move it aside")


IndexStamp = tuple[int, int, int] | None  # None: there is no index file (yet)


def index_stamp(path: Path) -> IndexStamp:
    """``(st_mtime_ns, st_size, st_ino)`` of the index: every change is an atomic rename, so
    the stamp changes with it. One ``stat(2)``; the file is not read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def read_index(path: Path) -> IndexDoc:
    """The index at ``path`` (an empty one when there is none). A symlink, FIFO, device, file of
    another user or file over :data:`.safefile.INDEX_MAX` is refused (one-line StoreError)."""
    raw = read_file(path, cap=INDEX_MAX, label=f"profile index {path}")
    if raw is None:
        return IndexDoc()
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _corrupt(path, raw, "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise _corrupt(path, raw, f"invalid JSON at line {exc.lineno} column {exc.colno}") from None
    if isinstance(doc, dict):
        version = doc.get("version")
        if isinstance(version, int) and version > INDEX_VERSION:
            raise StoreError(f"profile index {path} has version {version}, written by a newer alpaca-tui; "
                             "upgrade alpaca-tui")
    try:
        return parse_index(doc)
    except BadIndexError as exc:
        raise _corrupt(path, raw, str(exc)) from None


class BadIndexError(ValueError):
    """What is wrong with a document that is not a profile index (one line)."""


def parse_index(doc: Any) -> IndexDoc:
    """An index document (parsed JSON) -> IndexDoc. BadIndexError says why it is not one."""
    if not isinstance(doc, dict):
        raise BadIndexError("top level is not an object")
    version = doc.get("version")
    if version != INDEX_VERSION:
        raise BadIndexError(f"unknown version {version!r}")
    profiles_raw = doc.get("profiles")
    if not isinstance(profiles_raw, dict):
        raise BadIndexError("'profiles' is not an object")
    profiles: dict[str, Profile] = {}
    for name, pdata in profiles_raw.items():
        try:
            if not isinstance(pdata, dict):
                raise TypeError("not an object")
            profile = Profile.from_dict(pdata)
            if profile.name != name:
                raise ValueError(f"entry named {profile.name!r}")
        except (AlpacaTuiError, KeyError, TypeError, ValueError) as exc:
            raise BadIndexError(f"bad entry for profile {name!r}: {exc}") from None
        profiles[name] = profile
    backend = doc.get("backend")
    if backend is not None and (not isinstance(backend, str) or not is_backend(backend)):
        raise BadIndexError(f"unknown backend {backend!r}")
    extra = {k: v for k, v in doc.items() if k not in ("version", "backend", "profiles")}
    return IndexDoc(profiles, backend, extra)


def write_index(path: Path, doc: IndexDoc) -> None:
    atomic_write(path, doc.to_json())
