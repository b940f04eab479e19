"""Step 6: everything at a glance before saving (secrets masked), with the warnings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Label, Static

from alpaca_tui.core.credentials import Flow, key_id_warnings
from alpaca_tui.core.expiry import describe_expiry
from alpaca_tui.core.redact import mask
from alpaca_tui.tui.dialogs.wizard.draft import Draft
from alpaca_tui.tui.format import access_brief, stamp

if TYPE_CHECKING:
    from alpaca_tui.tui.session import Session


class ReviewStep(VerticalScroll):
    """The summary, and the save status under it (the wizard saves on ``Confirmed``)."""

    @dataclass(eq=False)
    class Confirmed(Message):
        """enter / Save: the user wants this credential saved."""

    def __init__(self, session: Session, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session

    def compose(self) -> ComposeResult:
        yield Static("", id="review")
        yield Label("", id="save-status")

    def enter(self, draft: Draft) -> None:
        self.query_one("#review", Static).update(self.review_text(draft))

    def submit(self) -> None:
        self.post_message(self.Confirmed())

    def back(self) -> bool:
        return False

    def set_status(self, text: str | Text) -> None:
        self.query_one("#save-status", Label).update(text)

    def review_text(self, d: Draft) -> Text:
        assert d.env is not None and d.flow is not None
        demo = self.session.demo is not None
        now = self.session.clock.now()
        access = d.final_access()
        t = Text()

        def row(label: str, value: str | Text, style: str = "") -> None:
            t.append(f"{label:<13}", style="dim")
            t.append(value if isinstance(value, Text) else Text(value, style=style))
            t.append("\n")

        row("Name", d.name, "bold")
        row("Environment", d.env.label + ("  ⚠ real money" if d.env.is_live else ""),
            "bold orange1" if d.env.is_live else "")
        row("Flow", d.flow.label)
        if demo:
            row("Key ID", "issued by the emulator on save" if d.flow is not Flow.PRIVATE_KEY_JWT
                else "issued by the emulator; public key registered on save")
        else:
            row("Key ID", mask(d.key_id))
            if d.flow is not Flow.PRIVATE_KEY_JWT:
                row("Secret", mask(d.secret) + "  (goes to the secret store only)")
        if d.signing_keypair is not None:
            row("Key pair", f"{d.signing_keypair.alg}, public key sha256 {d.signing_keypair.fingerprint}")
        row("Expires", "never" if d.expires_at is None
            else f"{stamp(d.expires_at, local=self.session.local_time)} "
            f"({describe_expiry(d.expires_at, now)})")
        row("Access", access_brief(access) if d.env.is_broker else "full (trading keys have no scopes)")
        row("Secret store", self.session.backend_label)
        warnings: list[str] = []
        if not demo and d.key_id:
            warnings += key_id_warnings(d.key_id, d.env)
        danger = access.dangerous_writes() if d.env.is_broker else []
        if danger:
            warnings.append("write access to " + ", ".join(s.label for s in danger)
                            + ": this credential can move money or change administration")
        for w in warnings:
            t.append(f"⚠ {w}\n", style="bold red" if danger else "bold yellow")
        t.append("\nPress enter to save.", style="dim")
        return t


__all__ = ["ReviewStep"]
