"""Noticing changes other processes make to the store: a second alpaca-tui on the same home,
``alpaca-tui profiles add/remove``, a rotation or check run from the CLI, or — with the shared
OpenBao / Vault store — someone on another machine.

The store says when its index changed: ``Store.index_stamp()`` (the local ``index.json``:
its ``(st_mtime_ns, st_size, st_ino)``, one ``stat(2)``, the file is not read; the shared
store: the index's KV version, asked for at most once a second). Only a changed stamp makes
the app re-read the list, in a worker.

No Textual here: the app polls on the screens' tick timer and reloads in its worker.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from pathlib import Path

from alpaca_tui.core.store.index import IndexStamp, index_stamp

Stamp = Hashable


class IndexWatch:
    """Tells when the index differs from the one the app last read.

    ``source`` is the store's ``index_stamp`` (or, as before, the path of an ``index.json``).
    ``loaded(stamp)`` is called by the reader with the stamp taken *before* it read the index
    (from any thread), so a change made while it was reading is noticed on the next poll.
    Until the first ``loaded`` nothing counts as a change (the first read is on its way).
    """

    def __init__(self, source: Path | Callable[[], Hashable]) -> None:
        if callable(source):
            self._stamp = source
        else:
            path = Path(source)
            self._stamp = lambda: index_stamp(path)
        self._known = False
        self._seen: Stamp = None

    def stamp(self) -> Stamp:
        return self._stamp()

    def loaded(self, stamp: Stamp) -> None:
        self._seen = stamp
        self._known = True

    def changed(self) -> bool:
        """True, once per change, when the index is not the one last read or reported."""
        if not self._known:
            return False
        now = self.stamp()
        if now == self._seen:
            return False
        self._seen = now  # reported: the reload that follows records what it really read
        return True


__all__ = ["IndexStamp", "IndexWatch", "Stamp", "index_stamp"]
