"""The 10 x 3 access matrix: rows are scopes, columns are read-write / read-only / no access.

Keyboard only: arrows (or h/j/k/l) move the cursor, space or enter picks the level under it.
Write implies read: a scope has exactly one level (``rw`` includes reading). Write access to
Funding, Journaling or Admin is drawn in red with a warning line underneath.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from alpaca_tui.core.scopes import DANGEROUS_WRITE_SCOPES, AccessMatrix, Level, Scope

LEVELS: tuple[Level, ...] = (Level.RW, Level.RO, Level.NONE)
SCOPES: tuple[Scope, ...] = tuple(Scope)
LABEL_WIDTH = 13
CELL_WIDTH = 13


class ScopeMatrix(Widget, can_focus=True):
    """Edit an :class:`AccessMatrix` from the keyboard."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1, 0)", "Scope up", show=False, id="matrix.up"),
        Binding("down,j", "move(1, 0)", "Scope down", show=False, id="matrix.down"),
        Binding("left,h", "move(0, -1)", "More access", show=False, id="matrix.more-access"),
        Binding("right,l", "move(0, 1)", "Less access", show=False, id="matrix.less-access"),
        Binding("space,enter", "select", "Set level", show=True, id="matrix.set-level"),
    ]

    DEFAULT_CSS = """
    ScopeMatrix { height: auto; width: auto; padding: 0 1; }
    ScopeMatrix:focus { background: $boost; }
    """

    class Changed(Message):
        """The matrix changed (posted after every edit)."""

        def __init__(self, matrix: ScopeMatrix, access: AccessMatrix) -> None:
            super().__init__()
            self.matrix = matrix
            self.access = access

        @property
        def control(self) -> ScopeMatrix:
            return self.matrix

    access: reactive[AccessMatrix] = reactive(AccessMatrix.full, layout=True)
    cursor_row: reactive[int] = reactive(0)
    cursor_col: reactive[int] = reactive(0)

    def __init__(self, access: AccessMatrix | None = None, *, read_only: bool = False,
                 name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.read_only = read_only
        if read_only:
            self.can_focus = False
        self.set_reactive(ScopeMatrix.access, access or AccessMatrix.full())

    # -- keyboard -------------------------------------------------------------------
    def action_move(self, drow: int, dcol: int) -> None:
        self.cursor_row = (self.cursor_row + drow) % len(SCOPES)
        self.cursor_col = max(0, min(len(LEVELS) - 1, self.cursor_col + dcol))

    def action_select(self) -> None:
        if self.read_only:
            return
        self.set_level(SCOPES[self.cursor_row], LEVELS[self.cursor_col])

    def set_level(self, scope: Scope, level: Level) -> None:
        if self.access.level(scope) is level:
            return
        self.access = self.access.with_level(scope, level)
        self.post_message(self.Changed(self, self.access))

    def set_access(self, access: AccessMatrix) -> None:
        """Replace the whole matrix (a preset was picked)."""
        self.access = access
        self.post_message(self.Changed(self, self.access))

    @property
    def cursor_scope(self) -> Scope:
        return SCOPES[self.cursor_row]

    # -- drawing --------------------------------------------------------------------
    def warnings(self) -> list[str]:
        danger = self.access.dangerous_writes()
        if not danger:
            return []
        names = ", ".join(s.label for s in danger)
        return [f"⚠ write access to {names}: moves money / admin"]

    def footer(self) -> Text:
        """The line under the matrix: the dangerous-write warning, else the access summary."""
        warn = self.warnings()
        if warn:
            return Text(warn[0], style="bold red")
        return Text(f"access: {self.access.summary()}", style="dim")

    def _footer_lines(self, width: int) -> list[Text]:
        """The footer wrapped to ``width`` (at 80 columns it takes two or three lines)."""
        return list(self.footer().wrap(self.app.console, max(width, 12)))

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return 1 + len(SCOPES) + len(self._footer_lines(width))

    def get_content_width(self, container: object, viewport: object) -> int:
        wanted = max(LABEL_WIDTH + CELL_WIDTH * len(LEVELS), self.footer().cell_len)
        available = getattr(container, "width", wanted) - self.styles.gutter.width
        return min(wanted, max(available, LABEL_WIDTH + CELL_WIDTH * len(LEVELS)))

    def render(self) -> Text:
        focused = self.has_focus
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(" " * LABEL_WIDTH)
        for level in LEVELS:
            out.append(level.label.center(CELL_WIDTH), style="bold")
        out.append("\n")
        for r, scope in enumerate(SCOPES):
            current = self.access.level(scope)
            danger = scope in DANGEROUS_WRITE_SCOPES and current is Level.RW
            label_style = "bold red" if danger else ""
            out.append(scope.label.ljust(LABEL_WIDTH)[:LABEL_WIDTH], style=label_style)
            for c, level in enumerate(LEVELS):
                chosen = current is level
                mark = "(●)" if chosen else "( )"
                style = ""
                if chosen:
                    style = "bold red" if danger else "bold"
                if focused and r == self.cursor_row and c == self.cursor_col:
                    style = (style + " reverse").strip()
                out.append(" " * ((CELL_WIDTH - 3) // 2))
                out.append(mark, style=style)
                out.append(" " * (CELL_WIDTH - 3 - (CELL_WIDTH - 3) // 2))
            out.append("\n")
        out.append(Text("\n").join(self._footer_lines(self.content_size.width)))
        return out
