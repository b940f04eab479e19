"""The local :class:`~.protocols.IndexBackend`: ``<home>/index.json`` under the home lock.

A transaction is: the home lock (``flock`` on ``<home>/.lock``, shared with the secret
backends of this home, so one lock hold covers a bundle write and the index write after it),
stale temp files of dead writers removed, the index read, the step applied, the file replaced
atomically (temp + fsync + rename, 0600 in a 0700 home). The format is :mod:`.index`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from alpaca_tui.core.store.fsutil import HomeLock, ensure_private_dir, remove_stale_temps
from alpaca_tui.core.store.index import IndexDoc, IndexStamp, index_stamp, read_index, write_index
from alpaca_tui.core.store.protocols import Edit

INDEX_NAME = "index.json"
T = TypeVar("T")


class FileIndex:
    """The profile index as one JSON file; ``update`` holds the home lock (see the module doc)."""

    def __init__(self, home: Path, lock: HomeLock) -> None:
        self.home = home
        self.path = home / INDEX_NAME
        self.location = str(self.path)
        self.lock = lock

    def read(self) -> IndexDoc:
        return read_index(self.path)

    def update(self, fn: Callable[[IndexDoc], Edit[T]]) -> T:
        ensure_private_dir(self.home)
        with self.lock.hold():
            remove_stale_temps(self.home)
            doc = read_index(self.path)
            edit = fn(doc)
            if edit.write:
                try:
                    write_index(self.path, doc)
                except BaseException:
                    if edit.rollback is not None:
                        edit.rollback()
                    raise
            if edit.after is not None:
                edit.after()
            return edit.value

    def stamp(self) -> IndexStamp:
        return index_stamp(self.path)
