"""The app's own key bindings (they work on every screen).

Each screen declares its bindings in its class (``BINDINGS``); the text-field bindings that
keep typed-ahead keys in their field are in ``tui/typeahead.py``. Every binding in the TUI
carries an id, ``<area>.<action>`` (``app.help``, ``home.new``, ``wizard.next``,
``field.next``), so a user keymap (``App.set_keymap``) can rebind it, and a description for
the footer and the help screen.
"""

from __future__ import annotations

from textual.binding import Binding, BindingType

APP_BINDINGS: list[BindingType] = [
    Binding("f1", "help", "Help", key_display="F1", id="app.help"),
    Binding("question_mark", "help", "Help", show=False, id="app.help-question-mark"),
]

__all__ = ["APP_BINDINGS"]
