"""Step 5 (broker environments only): read only, full access, or a custom scope matrix."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from alpaca_tui.core.scopes import AccessMatrix
from alpaca_tui.tui.dialogs.wizard.draft import Draft
from alpaca_tui.tui.widgets import focus_now
from alpaca_tui.tui.widgets.lists import NavOptionList
from alpaca_tui.tui.widgets.scope_matrix import ScopeMatrix

ACCESS_PRESETS: tuple[tuple[str, str], ...] = (
    ("read-only", "Read only"), ("full", "Full access"), ("custom", "Custom (scope matrix)"))
PRESET_KEYS: tuple[str, ...] = tuple(key for key, _ in ACCESS_PRESETS)


class AccessStep(Vertical):
    """Read only / Full set the whole matrix and move on; Custom edits the matrix as it is
    (read only to start with: access is only ever added on purpose). The matrix keeps its
    edits when the user goes back and forth, until :meth:`reset` (another environment)."""

    @dataclass(eq=False)
    class Chosen(Message):
        access: AccessMatrix

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._fresh = True  # nothing chosen for this environment yet

    def compose(self) -> ComposeResult:
        yield NavOptionList(*[Option(label, id=key) for key, label in ACCESS_PRESETS], id="access-list")
        yield ScopeMatrix(AccessMatrix.read_only(), id="matrix")

    @property
    def access(self) -> AccessMatrix:
        return self.query_one("#matrix", ScopeMatrix).access

    def reset(self) -> None:
        """Another environment was picked: start from read only again when shown."""
        self._fresh = True

    def enter(self, draft: Draft) -> None:
        if self._fresh:
            self._fresh = False
            self.query_one("#matrix", ScopeMatrix).access = AccessMatrix.read_only()
        presets = self.query_one("#access-list", OptionList)
        presets.highlighted = PRESET_KEYS.index(self.access.preset_name)
        focus_now(presets)

    def submit(self) -> None:
        self.post_message(self.Chosen(self.access))

    def back(self) -> bool:
        return False

    @on(OptionList.OptionSelected, "#access-list")
    def _preset_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        matrix = self.query_one("#matrix", ScopeMatrix)
        if event.option.id == "custom":
            focus_now(matrix)
            return
        matrix.set_access(AccessMatrix.full() if event.option.id == "full" else AccessMatrix.read_only())
        self.post_message(self.Chosen(matrix.access))

    @on(ScopeMatrix.Changed)
    def _matrix_changed(self, event: ScopeMatrix.Changed) -> None:
        event.stop()
        presets = self.query_one("#access-list", OptionList)
        idx = PRESET_KEYS.index(event.access.preset_name)
        if presets.highlighted != idx and event.access.preset_name == "custom":
            presets.highlighted = idx


__all__ = ["ACCESS_PRESETS", "AccessStep"]
