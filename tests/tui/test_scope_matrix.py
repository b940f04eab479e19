"""The 10x3 scope matrix widget, driven from the keyboard."""

from __future__ import annotations

from textual.app import App, ComposeResult

from alpaca_tui.core.scopes import AccessMatrix, Level, Scope
from alpaca_tui.tui.widgets.scope_matrix import SCOPES, ScopeMatrix


class MatrixApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.changes: list[AccessMatrix] = []

    def compose(self) -> ComposeResult:
        yield ScopeMatrix(AccessMatrix.read_only(), id="m")

    def on_mount(self) -> None:
        self.query_one(ScopeMatrix).focus()

    def on_scope_matrix_changed(self, event: ScopeMatrix.Changed) -> None:
        self.changes.append(event.access)


async def test_arrows_move_and_space_selects() -> None:
    app = MatrixApp()
    async with app.run_test(size=(80, 20)) as pilot:
        m = app.query_one(ScopeMatrix)
        assert (m.cursor_row, m.cursor_col) == (0, 0)
        # Accounts: read-write (column 0)
        await pilot.press("space")
        assert m.access.level(Scope.ACCOUNTS) is Level.RW
        # Down to Funding, right twice to "no access", enter selects
        await pilot.press("down", "right", "right", "enter")
        assert m.cursor_scope is Scope.FUNDING
        assert m.access.level(Scope.FUNDING) is Level.NONE
        # right at the last column stays there; up wraps from the top to the bottom
        await pilot.press("right", "up", "up")
        assert m.cursor_col == 2 and m.cursor_scope is Scope.SSE_EVENTS
        await pilot.press("left", "space")
        assert m.access.level(Scope.SSE_EVENTS) is Level.RO  # unchanged: no message
        assert len(app.changes) == 2
        assert m.access.preset_name == "custom"
        assert m.access.summary().startswith("custom: accounts rw")


async def test_write_to_dangerous_scope_warns_in_red() -> None:
    app = MatrixApp()
    async with app.run_test(size=(80, 20)) as pilot:
        m = app.query_one(ScopeMatrix)
        assert m.warnings() == []
        for _ in range(SCOPES.index(Scope.JOURNALING)):
            await pilot.press("down")
        await pilot.press("space")
        assert m.access.level(Scope.JOURNALING) is Level.RW
        assert m.warnings() and "Journaling" in m.warnings()[0]
        rendered = m.render()
        warn_spans = [s for s in rendered.spans if "red" in str(s.style)]
        assert warn_spans, "the dangerous write must be drawn in red"
        assert "⚠ write access to Journaling" in rendered.plain
        # back to read-only clears the warning
        await pilot.press("right", "space")
        assert m.warnings() == []


async def test_read_only_matrix_ignores_keys() -> None:
    class RO(App[None]):
        def compose(self) -> ComposeResult:
            yield ScopeMatrix(AccessMatrix.full(), read_only=True)

    app = RO()
    async with app.run_test() as pilot:
        m = app.query_one(ScopeMatrix)
        assert not m.can_focus
        m.action_select()
        await pilot.press("space")
        assert m.access == AccessMatrix.full()
