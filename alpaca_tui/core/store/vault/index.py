"""The team's profile index as one KV v2 document: ``<mount>/data/<prefix>/index``.

Its data is one field, ``index``: the index document as JSON text (``{"version": 1,
"backend": "vault", "profiles": {...}}``, the schema of :mod:`..index`; ``bao kv get
-field=index`` shows it). Text, not nested KV data, because servers bound the number of
strings in a request body (OpenBao: 1000 by default), which a few dozen profiles would
pass. There is no lock to
take: :meth:`VaultIndex.update` reads the document and its version, lets ``fn`` change it,
and writes it with check-and-set on that version. When another writer got there first the
write is refused; the document is read again and ``fn`` runs again on it (so two people
adding or rotating at the same moment both land), with a short random pause, for at most
:data:`CAS_DEADLINE` seconds. A step that wrote a secret for an attempt that then lost the
race writes the same payload again on the next attempt, which the secret backend does not
turn into a new version (``VaultSecrets.put_bundle``).

``stamp()`` is the document's KV version; it is asked for at most every
:data:`STAMP_TTL` seconds (engines and the TUI call it often), and what this process wrote
itself is known at once.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

from alpaca_tui.core.errors import StoreError
from alpaca_tui.core.store.index import BadIndexError, IndexDoc, parse_index
from alpaca_tui.core.store.protocols import Edit
from alpaca_tui.core.store.vault.kv import KV, Entry
from alpaca_tui.core.store.vault.session import CasConflict

T = TypeVar("T")
CAS_DEADLINE = 60.0   # s of lost races before giving up
STAMP_TTL = 1.0       # s a stamp read from the server is reused
FIELD = "index"


class VaultIndex:
    """:class:`~..protocols.IndexBackend` over one KV v2 document (see the module doc)."""

    def __init__(self, kv: KV, *, on_write: Callable[[], None] | None = None) -> None:
        self.kv = kv
        self.key = kv.config.key("index")
        self.location = f"{kv.config.addr} {kv.path(self.key)}"
        self.conflicts = 0          # lost check-and-set races (tests and doctor read it)
        self.on_write = on_write    # the first write pins the home (store.json)
        self._stamp: tuple[float, int | None] | None = None
        self._mutex = threading.Lock()

    def _parse(self, entry: Entry) -> IndexDoc:
        if entry.version == 0 or entry.data is None:
            return IndexDoc()
        try:
            text = entry.data.get(FIELD)
            if not isinstance(text, str):
                raise BadIndexError(f"no {FIELD!r} text field")
            try:
                doc = json.loads(text)
            except ValueError:
                raise BadIndexError("invalid JSON") from None
            return parse_index(doc)
        except BadIndexError as exc:
            raise StoreError(f"the team index {self.location} (version {entry.version}) is not an alpaca-tui "
                             f"index ({exc}); it was left untouched: repair it, or use another "
                             "ALPACA_TUI_VAULT_PREFIX") from None

    def _read(self) -> tuple[IndexDoc, int]:
        entry = self.kv.read(self.key)
        self._remember(entry.version)
        return self._parse(entry), entry.version

    def read(self) -> IndexDoc:
        return self._read()[0]

    def update(self, fn: Callable[[IndexDoc], Edit[T]]) -> T:
        deadline = time.monotonic() + CAS_DEADLINE
        pause = 0.005
        undo: Callable[[], None] | None = None  # the last attempt's rollback, had it been written
        while True:
            doc, version = self._read()
            try:
                edit = fn(doc)
            except BaseException:
                if undo is not None:
                    undo()  # an earlier attempt wrote a secret this failed step never indexes
                raise
            if not edit.write:
                if edit.after is not None:
                    edit.after()
                return edit.value
            try:
                written = self.kv.write(self.key, {FIELD: doc.to_json().decode("utf-8")}, cas=version)
            except CasConflict:
                self.conflicts += 1
                undo = edit.rollback
                if time.monotonic() >= deadline:
                    raise StoreError(f"the team index {self.location} kept changing for "
                                     f"{CAS_DEADLINE:.0f} s; nothing was changed, try again") from None
                time.sleep(random.uniform(pause, pause * 3))
                pause = min(pause * 2, 0.2)
                continue
            except BaseException:
                if edit.rollback is not None:
                    edit.rollback()
                raise
            self._remember(written)
            if self.on_write is not None:
                self.on_write()
            if edit.after is not None:
                edit.after()
            return edit.value

    def _remember(self, version: int) -> None:
        with self._mutex:
            self._stamp = (time.monotonic(), version or None)

    def stamp(self) -> Hashable:
        with self._mutex:
            cached = self._stamp
        if cached is not None and time.monotonic() - cached[0] < STAMP_TTL:
            return cached[1]
        try:
            meta = self.kv.metadata(self.key)
        except StoreError:
            # unreachable or sealed: keep what we know (a poll must not fail; the next read says why)
            if cached is not None:
                self._remember(cached[1] or 0)
                return cached[1]
            return None
        version = int(meta.get("current_version") or 0) if meta else 0
        self._remember(version)
        return version or None


__all__ = ["CAS_DEADLINE", "STAMP_TTL", "VaultIndex"]
