"""Noticing changes other processes make to the store: a second alpaca-tui on the same home,
``alpaca-tui profiles add/remove``, a rotation or check run from the CLI.

The profile index (``<home>/index.json``) is rewritten by an atomic rename on every change,
so its ``(st_mtime_ns, st_size, st_ino)`` stamp changes with it (``core.store.index.index_stamp``,
which the engine uses too). Polling costs one ``stat(2)`` of a local file per tick and
never reads the file; only a changed stamp makes the app re-read the list, in a worker.

No Textual here: the app polls on the screens' tick timer and reloads in its worker.
"""

from __future__ import annotations

from pathlib import Path

from alpaca_tui.core.store.index import IndexStamp as Stamp
from alpaca_tui.core.store.index import index_stamp


class IndexWatch:
    """Tells when the index differs from the one the app last read.

    ``loaded(stamp)`` is called by the reader with the stamp taken *before* it read the file
    (from any thread), so a change made while it was reading is noticed on the next poll.
    Until the first ``loaded`` nothing counts as a change (the first read is on its way).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._known = False
        self._seen: Stamp = None

    def stamp(self) -> Stamp:
        return index_stamp(self.path)

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


__all__ = ["IndexWatch", "Stamp", "index_stamp"]
