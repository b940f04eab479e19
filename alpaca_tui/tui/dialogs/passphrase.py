"""Ask for the encrypted-file store's passphrase (when ALPACA_TUI_PASSPHRASE_FILE is unset)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from alpaca_tui.tui.typeahead import FIELD_BINDINGS, TypeAheadFields
from alpaca_tui.tui.widgets import focus_now

MIN_PASSPHRASE_LENGTH = 12
WHY_LONG = (f"At least {MIN_PASSPHRASE_LENGTH} characters: if someone copies the secrets file, this "
            "passphrase is all that stands between them and your keys (scrypt makes each guess slow, "
            "a short passphrase still falls).")


class PassphraseDialog(TypeAheadFields, ModalScreen[str | None]):
    """Returns the passphrase, or None when cancelled. ``creating`` asks twice."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="passphrase.cancel"),
                                          *FIELD_BINDINGS]
    FIELD_IDS = frozenset({"pass1", "pass2"})

    def __init__(self, *, creating: bool = False, error: str | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.creating = creating
        self.error = error

    def compose(self) -> ComposeResult:
        with Vertical(id="passphrase", classes="dialog"):
            title = "Choose a passphrase for the new encrypted store" if self.creating \
                else "Unlock the encrypted secret store"
            yield Label(title, classes="dialog-title")
            yield Static("The secrets file is encrypted (scrypt + AES-GCM). Set ALPACA_TUI_PASSPHRASE_FILE "
                         "to skip this prompt.", classes="dim")
            if self.creating:
                yield Static(WHY_LONG, id="pass-rule", classes="hint")
            yield Input(placeholder="passphrase", password=True, id="pass1")
            if self.creating:
                yield Input(placeholder="repeat passphrase", password=True, id="pass2")
            yield Label(self.error or "", id="pass-error", classes="error")

    def on_field_enter(self, field: Input) -> None:
        if self.creating and field.id == "pass1":
            focus_now(self.query_one("#pass2", Input))
            return
        field.call_later(self._submit)  # after the field took the keys typed before enter

    def _submit(self) -> None:
        first = self.query_one("#pass1", Input).value
        if not first:
            self.query_one("#pass-error", Label).update("the passphrase cannot be empty")
            return
        if self.creating and len(first) < MIN_PASSPHRASE_LENGTH:
            self.query_one("#pass-error", Label).update(
                f"at least {MIN_PASSPHRASE_LENGTH} characters, please ({len(first)} typed)")
            return
        if self.creating and self.query_one("#pass2", Input).value != first:
            self.query_one("#pass-error", Label).update("the two passphrases differ")
            return
        self.dismiss(first)

    def action_cancel(self) -> None:
        self.dismiss(None)
