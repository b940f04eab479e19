"""The contract between the wizard's coordinator and its steps.

Attributes down, messages up (Textual's guide): :class:`~.screen.WizardScreen` shows a step
by calling :meth:`WizardStep.enter` with the draft so far, and forwards "next" (ctrl+n, the
Next button) and "back" (escape) to the step on screen. A step owns its widgets and its
validation: a bad answer is shown inside the step; a good one is posted as the step's own
done-message (a dataclass nested in the step class, e.g. ``EnvStep.Chosen``), which bubbles
up to the coordinator; the coordinator records it in the draft and shows the next step.
Steps never touch the draft, the screen or another step.
"""

from __future__ import annotations

from typing import Protocol

from alpaca_tui.tui.dialogs.wizard.draft import Draft


class WizardStep(Protocol):
    """What every step widget (a Vertical or VerticalScroll in ``#wizard-steps``) offers."""

    def enter(self, draft: Draft) -> None:
        """Shown now: set up for ``draft`` (read only) and focus the first control."""

    def submit(self) -> None:
        """ctrl+n / Next: validate; post the done-message or show why not."""

    def back(self) -> bool:
        """escape: True when the step handled it itself (e.g. closed an inner field)."""


__all__ = ["WizardStep"]
