"""Keys typed ahead must land in the field the user means, never in the wrong (visible) one.

Textual handles ``enter`` in an Input by posting ``Input.Submitted``, and ``tab`` through a
non-priority binding; both move the focus only after the keys already queued behind them
were delivered. Someone who types (or a paste, or a pty driver that sends) ``KEYID⏎SECRET``
fast would see the secret land in the plain-text key-ID field. Screens with text fields mix
in :class:`TypeAheadFields`: priority bindings run while the key is read, so the focus moves
before the next key is dispatched. The flip side: they also run before the keys typed just
before them reached their field, so whatever reads a field's value is queued on that field
(``field.call_later``) and runs after those keys.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input

FIELD_BINDINGS: list[BindingType] = [
    Binding("enter", "field_enter", "Next field", show=False, priority=True,
            tooltip="In a text field: move to the next field (or submit from the last)", id="field.enter"),
    Binding("tab", "field_next", "Next field", show=False, priority=True,
            tooltip="Move to the next field", id="field.next"),
    Binding("shift+tab", "field_previous", "Previous field", show=False, priority=True,
            tooltip="Move to the previous field", id="field.previous"),
]


class TypeAheadFields:
    """Mixin for a Screen (put it before the Screen class): synchronous field-to-field focus.

    ``FIELD_IDS``: the Inputs whose ``enter`` is handled by :meth:`on_field_enter` (instead of
    ``Input.Submitted``). ``tab`` / ``shift+tab`` move synchronously from any Input.
    """

    FIELD_IDS: ClassVar[frozenset[str]] = frozenset()

    def _focused_input(self) -> Input | None:
        focused = getattr(self, "focused", None)
        return focused if isinstance(focused, Input) else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "field_enter":
            field = self._focused_input()
            return field is not None and (field.id or "") in self.FIELD_IDS
        if action in ("field_next", "field_previous"):
            return self._focused_input() is not None  # elsewhere: the app's own tab handling
        parent: Any = super()
        return parent.check_action(action, parameters)  # type: ignore[no-any-return]

    def action_field_enter(self) -> None:
        field = self._focused_input()
        if field is not None:
            self.on_field_enter(field)

    def action_field_next(self) -> None:
        self.focus_next()  # type: ignore[attr-defined]  # Screen.focus_next: immediate

    def action_field_previous(self) -> None:
        self.focus_previous()  # type: ignore[attr-defined]

    def on_field_enter(self, field: Input) -> None:
        """``enter`` in one of ``FIELD_IDS``. Runs before the keys typed ahead of it reached
        ``field``: move the focus here, but read field values in ``field.call_later(...)``."""
        raise NotImplementedError
