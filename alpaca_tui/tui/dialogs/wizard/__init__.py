"""The new-credential wizard: a coordinator screen (``screen.py``) and one widget per step.

``WizardScreen(session, env=None)`` returns the saved Profile, or None when cancelled.
"""

from __future__ import annotations

from alpaca_tui.tui.dialogs.wizard.draft import Draft
from alpaca_tui.tui.dialogs.wizard.screen import STEPS, WizardScreen

__all__ = ["STEPS", "Draft", "WizardScreen"]
