"""A DataTable for lists whose columns all have a fixed width: nothing to measure.

Textual's DataTable measures every cell of every new row once it is idle, to size its
columns; with 500 credentials that is 3,500 measurements (tens of milliseconds) before the
list shows, and all of them unused when every column was given a width. This table skips
them in exactly that case and sets the scrollable size the same way; with any auto-width
column, auto-height or labelled row it does what DataTable does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.geometry import Size
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey


class ListTable(DataTable[Any]):
    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        rows = [self.rows.get(key) for key in new_rows]
        if any(column.auto_width for column in self.columns.values()) or any(
                row is not None and (row.auto_height or row.label is not None) for row in rows):
            super()._update_dimensions(row.key for row in rows if row is not None)
            return
        width = sum(column.get_render_width(self) for column in self.columns.values())
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(width + self._row_label_column_width, self._total_row_height + header)
