"""Lists that move the way terminal users expect: ``j`` / ``k``, ``g`` / ``G`` and Home / End
on every list (the home table, the tester's headers and history, the wizard's choices).

The bindings carry ids (``list.down``, ``list.up``, ``list.first``, ``list.last``) like every
other binding, so a keymap in ``config.toml`` moves them for every list at once.
:class:`NavTable` can also keep its cursor off rows that are not items (the home screen's
environment headers): a move that lands on one goes on in the same direction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.widgets import OptionList
from textual.widgets.data_table import CellDoesNotExist

from alpaca_tui.tui.widgets.list_table import ListTable

LIST_BINDINGS: list[BindingType] = [
    Binding("j", "cursor_down", "Down", show=False, tooltip="Next item (also ↓)", id="list.down"),
    Binding("k", "cursor_up", "Up", show=False, tooltip="Previous item (also ↑)", id="list.up"),
    Binding("g,home", "first", "First", show=False, tooltip="First item", id="list.first"),
    Binding("G,end", "last", "Last", show=False, tooltip="Last item", id="list.last"),
]


class NavTable(ListTable):
    """A DataTable with the list keys; ``selectable(row_key)`` says which rows take the cursor.
    Fixed-width columns are not measured (:class:`ListTable`)."""

    BINDINGS: ClassVar[list[BindingType]] = [*LIST_BINDINGS]

    def __init__(self, *, selectable: Callable[[str], bool] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._selectable = selectable

    def action_first(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_last(self) -> None:
        self.add_pending_rows()  # the last row, not the last one added so far
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)

    def _takes_cursor(self, row: int) -> bool:
        if self._selectable is None:
            return True
        try:  # by index, O(1): ordered_rows is rebuilt on every add_row (500 rows: 0.3 s)
            key = self.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value
        except CellDoesNotExist:
            return False
        return self._selectable(str(key))

    def _nearest(self, row: int, step: int) -> int | None:
        while 0 <= row < self.row_count:
            if self._takes_cursor(row):
                return row
            row += step
        return None

    def validate_cursor_coordinate(self, value: Coordinate) -> Coordinate:
        value = super().validate_cursor_coordinate(value)
        if self._selectable is None or self.cursor_type != "row" or not self.row_count \
                or self._takes_cursor(value.row):
            return value
        step = 1 if value.row >= self.cursor_coordinate.row else -1
        target = self._nearest(value.row, step)
        if target is None:
            target = self._nearest(value.row, -step)
        return value if target is None else Coordinate(target, value.column)


class NavOptionList(OptionList):
    """An OptionList with the list keys (it has Home / End already)."""

    BINDINGS: ClassVar[list[BindingType]] = [*LIST_BINDINGS]


__all__ = ["LIST_BINDINGS", "NavOptionList", "NavTable"]
