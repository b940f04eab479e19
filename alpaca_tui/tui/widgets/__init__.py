"""Widgets of the terminal UI, and small widget helpers."""

from __future__ import annotations

from typing import Any


def focus_now(widget: Any) -> None:
    """Focus ``widget`` synchronously (``Widget.focus`` defers to the next loop turn), so keys
    typed ahead — a paste, a fast typist, a pty driver — land in the widget just shown."""
    try:
        widget.screen.set_focus(widget)
    except Exception:  # not mounted yet: fall back to the deferred focus
        widget.focus()
