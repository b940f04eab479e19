"""A question with a few answers, one key each (first run: demo or your own store; a cancelled
passphrase: try again, demo, or stay locked). Escape picks the last answer, the safe one."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.events import Key
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ChoiceDialog(ModalScreen[str]):
    """Returns the key of the answer chosen (its letter, or its button). ``choices`` are
    ``(key, label)``; the first is focused, escape answers the last."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "answer_last", "Close", tooltip="The last (safe) answer", id="choice.close"),
    ]

    def __init__(self, title: str, body: str | Text, choices: list[tuple[str, str]]) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.body = body
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(id="choice", classes="dialog"):
            yield Label(self.title_text, id="choice-title", classes="dialog-title")
            yield Static(self.body, id="choice-body")
            with Horizontal(classes="dialog-buttons"):
                for key, label in self.choices:
                    yield Button(f"{label} ({key})", id=f"choice-{key}",
                                 variant="primary" if key == self.choices[0][0] else "default")

    def on_mount(self) -> None:
        self.query_one(f"#choice-{self.choices[0][0]}", Button).focus()

    def on_key(self, event: Key) -> None:
        keys = {key for key, _ in self.choices}
        if event.character in keys:
            event.stop()
            self.dismiss(event.character)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss((event.button.id or "").removeprefix("choice-"))

    def action_answer_last(self) -> None:
        self.dismiss(self.choices[-1][0])


__all__ = ["ChoiceDialog"]
