"""Step 4: when the credential expires: a preset (never, 1 week, ...) or a custom date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from alpaca_tui.core.errors import UsageError
from alpaca_tui.core.expiry import EXPIRY_CHOICES, parse_expiry
from alpaca_tui.core.sanitize import clean_line
from alpaca_tui.tui.dialogs.wizard.draft import Draft
from alpaca_tui.tui.widgets import focus_now
from alpaca_tui.tui.widgets.lists import NavOptionList

if TYPE_CHECKING:
    from alpaca_tui.tui.session import Session


class ExpiryStep(Vertical):
    """A preset, or "Custom date…": a YYYY-MM-DD field (escape closes it again); a bad date
    stays here with the reason under the field."""

    @dataclass(eq=False)
    class Chosen(Message):
        spec: str                     # "never", "30d", ... or the date as typed
        expires_at: datetime | None   # None: never

    def __init__(self, session: Session, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session

    def compose(self) -> ComposeResult:
        yield Static("When does this credential expire? (badge turns yellow 14 days before)",
                     classes="hint")
        yield NavOptionList(*[Option(label, id=key) for key, label in EXPIRY_CHOICES],
                         Option("Custom date…", id="custom"), id="expiry-list")
        yield Input(placeholder="YYYY-MM-DD", id="expiry-date", max_length=10, compact=True)
        yield Label("", id="expiry-error", classes="error")

    def on_mount(self) -> None:
        self.query_one("#expiry-date", Input).display = False

    def enter(self, draft: Draft) -> None:
        focus_now(self.query_one("#expiry-list", OptionList))

    def submit(self) -> None:
        date_in = self.query_one("#expiry-date", Input)
        if date_in.display:
            self.submit_date(date_in.value)
            return
        highlighted = self.query_one("#expiry-list", OptionList).highlighted
        if highlighted is not None:
            option = self.query_one("#expiry-list", OptionList).get_option_at_index(highlighted)
            self.pick(option.id or "never")

    def back(self) -> bool:
        """escape in the custom date: back to the list (the step stays)."""
        date_in = self.query_one("#expiry-date", Input)
        if not date_in.display:
            return False
        date_in.display = False
        self.query_one("#expiry-error", Label).update("")
        focus_now(self.query_one("#expiry-list", OptionList))
        return True

    @on(OptionList.OptionSelected, "#expiry-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.pick(event.option.id or "never")

    def pick(self, key: str) -> None:
        if key == "custom":
            date_in = self.query_one("#expiry-date", Input)
            date_in.display = True
            focus_now(date_in)
            return
        self.post_message(self.Chosen(key, parse_expiry(key, self.session.clock.now())))

    @on(Input.Submitted, "#expiry-date")
    def _date_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit_date(event.value)

    def submit_date(self, value: str) -> None:
        err = self.query_one("#expiry-error", Label)
        try:
            if not value.strip():
                raise UsageError("enter a date as YYYY-MM-DD")
            expires_at = parse_expiry(value, self.session.clock.now())
            if expires_at is None:
                raise UsageError("enter a date as YYYY-MM-DD")
        except UsageError as exc:
            err.update(Text(clean_line(exc.message)))  # it quotes what was typed: never markup
            return
        err.update("")
        self.post_message(self.Chosen(value.strip(), expires_at))


__all__ = ["ExpiryStep"]
