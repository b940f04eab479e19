"""A DataTable for long lists: fixed-width columns are not measured, and rows below the first
screen can wait for the next frame.

Textual's DataTable measures every cell of every new row once it is idle, to size its
columns; with 500 credentials that is 3,500 measurements (tens of milliseconds) before the
list shows, and all of them unused when every column was given a width. This table skips
them in exactly that case and sets the scrollable size the same way; with any auto-width
column, auto-height or labelled row it does what DataTable does.

:meth:`ListTable.add_rows_soon` adds the rows a screen can show at once and the others right
after the next frame (500 credentials: one screen's worth of rows before the first frame
instead of all of them). Until then the scrollable height already counts them, and any move
of the cursor past the rows added so far adds the rest first (:meth:`add_pending_rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Self

from textual.coordinate import Coordinate
from textual.geometry import Size
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

# (row key, a function giving the row's cells): a row's cells are built when it is added
LaterRow = tuple[str, Callable[[], Sequence[Any]]]


class ListTable(DataTable[Any]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._later: list[LaterRow] = []

    @property
    def pending_rows(self) -> int:
        """Rows given to :meth:`add_rows_soon` and not added yet."""
        return len(self._later)

    def add_rows_soon(self, rows: Sequence[LaterRow], *, now: int) -> None:
        """Add the first ``now`` of ``rows`` at once and the others after the next frame."""
        self.add_pending_rows()  # rows of an earlier call go first, in order
        for key, cells in rows[:now]:
            self.add_row(*cells(), key=key)
        if len(rows) > now:
            self._later = list(rows[now:])
            self._require_update_dimensions = True  # the scrollable height counts them already
            self.call_after_refresh(self.add_pending_rows)

    def add_pending_rows(self) -> None:
        """Add every row still waiting (a no-op when none is)."""
        rows, self._later = self._later, []
        for key, cells in rows:
            self.add_row(*cells(), key=key)

    def clear(self, columns: bool = False) -> Self:
        self._later = []  # a scheduled add_pending_rows then finds nothing (or a later call's rows)
        super().clear(columns)
        return self

    def validate_cursor_coordinate(self, value: Coordinate) -> Coordinate:
        if self._later and value.row >= self.row_count - 1:  # towards rows not added yet
            self.add_pending_rows()
        return super().validate_cursor_coordinate(value)

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        rows = [self.rows.get(key) for key in new_rows]
        if any(column.auto_width for column in self.columns.values()) or any(
                row is not None and (row.auto_height or row.label is not None) for row in rows):
            super()._update_dimensions(row.key for row in rows if row is not None)
            return
        width = sum(column.get_render_width(self) for column in self.columns.values())
        header = self.header_height if self.show_header else 0
        height = self._total_row_height + len(self._later) + header  # rows added later: 1 line each
        self.virtual_size = Size(width + self._row_label_column_width, height)
