"""Step 3: the profile name and what identifies the credential at Alpaca.

Key + secret and client secret: a key (client) ID and the secret, typed or pasted, masked.
Private key JWT: a client ID and an ES256 key pair generated here (the public half to
register with Alpaca, shown as PEM or JWK and copyable; the private half goes to the secret
store only). In demo mode the emulator issues the ID and secret on save, so only the name
is asked for. Keys typed ahead land in their own field (``tui/typeahead.py``: the screen's
priority bindings call :meth:`IdentifiersStep.field_enter`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Label, Static, TextArea

from alpaca_tui.core.credentials import Flow, validate_key_id, validate_name, validate_secret_for
from alpaca_tui.core.environments import Env
from alpaca_tui.core.errors import AlpacaTuiError, UsageError
from alpaca_tui.core.sanitize import clean_line
from alpaca_tui.tui import services
from alpaca_tui.tui.dialogs.wizard.draft import Draft
from alpaca_tui.tui.keygen import generate_keypair_in_worker
from alpaca_tui.tui.messages import KeyPairReady
from alpaca_tui.tui.widgets import focus_now

if TYPE_CHECKING:
    from alpaca_tui.tui.session import Session

FLOW_SHORT_NAMES = {"legacy": "key", "client-secret": "oauth", "private-key-jwt": "jwt"}


class IdentifiersStep(VerticalScroll):
    """Name, key ID, secret or key pair; validated on submit (the error shows under them)."""

    FIELD_IDS: ClassVar[frozenset[str]] = frozenset({"name", "key-id", "secret"})

    @dataclass(eq=False)
    class Entered(Message):
        """Valid identifiers. ``key_id`` / ``secret`` are None when not asked for (demo mode;
        no secret for private key JWT): the draft keeps what it had."""

        name: str
        key_id: str | None
        secret: str | None = field(repr=False)

    def __init__(self, session: Session, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.env: Env | None = None
        self.flow: Flow | None = None
        self.keypair: services.KeyPair | None = None
        self.public_format = "pem"

    def compose(self) -> ComposeResult:
        yield Label("Profile name", classes="field-label")
        yield Input(placeholder="e.g. paper-bot", id="name", compact=True)
        yield Static("", id="ids-demo", classes="hint")
        with Vertical(id="ids-manual"):
            yield Label("Key ID", classes="field-label", id="key-id-label")
            yield Input(placeholder="key ID / client ID", id="key-id", compact=True)
            with Vertical(id="secret-box"):
                yield Label("Secret (typed or pasted; masked — ctrl+r reveals)",
                            classes="field-label", id="secret-label")
                yield Input(placeholder="secret", password=True, id="secret", compact=True)
        with Vertical(id="keypair-box"):
            yield Button("Generate key pair (ctrl+g)", id="generate", compact=True)
            yield Static("", id="keypair-info")
            yield TextArea("", id="public-key", read_only=True, soft_wrap=False)
            yield Button("Copy public key (ctrl+y, OSC 52)", id="copy-public", compact=True)
        yield Label("", id="ids-error", classes="error")

    def on_mount(self) -> None:
        self.query_one("#keypair-box").display = False

    @property
    def demo(self) -> bool:
        return self.session.demo is not None

    def enter(self, draft: Draft) -> None:
        flow = draft.flow
        assert flow is not None
        self.env, self.flow = draft.env, flow
        jwt = flow is Flow.PRIVATE_KEY_JWT
        self.query_one("#ids-manual").display = not self.demo
        self.query_one("#secret-box").display = not jwt
        self.query_one("#keypair-box").display = jwt
        self.query_one("#key-id-label", Label).update("Client ID" if flow.is_oauth else "Key ID")
        self.query_one("#secret-label", Label).update(
            ("Client secret" if flow.is_oauth else "Secret") + " (typed or pasted; masked — ctrl+r reveals)")
        if self.demo:
            what = "registers the public key you generate below" if jwt else "issues the key ID and secret"
            self.query_one("#ids-demo", Static).update(
                f"Demo mode: the local emulator {what}. Nothing secret to type.")
            if jwt and self.keypair is None:
                self.generate()
        self.query_one("#ids-demo", Static).display = self.demo
        name = self.query_one("#name", Input)
        if not name.value:
            name.value = self._suggest_name()
        focus_now(name)

    def _suggest_name(self) -> str:
        assert self.env is not None and self.flow is not None
        base = f"{self.env.value}-{FLOW_SHORT_NAMES[self.flow.value]}"
        taken = self.session.profile_names()
        n, name = 1, base
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        return name

    def back(self) -> bool:
        return False

    # -- fields and validation ---------------------------------------------------------
    def field_enter(self, field: Input) -> None:
        """enter in name / key ID / secret: the next field, or submit from the last one."""
        order = ["name"]
        if not self.demo:
            order.append("key-id")
            if self.flow is not Flow.PRIVATE_KEY_JWT:
                order.append("secret")
        ident = field.id or ""
        if ident in order and order.index(ident) < len(order) - 1:
            focus_now(self.query_one(f"#{order[order.index(ident) + 1]}", Input))
            return
        # Read the values only after the field has taken the keys typed before this enter
        # (they are still queued for it): the callback runs in the field's own queue.
        field.call_later(self.submit)

    def show_error(self, text: str) -> None:
        # the message quotes what was typed: shown as text, never parsed as markup
        self.query_one("#ids-error", Label).update(Text(clean_line(text)))

    def submit(self) -> None:
        flow = self.flow
        assert flow is not None
        name = self.query_one("#name", Input).value.strip()
        key_id = secret = None
        try:
            validate_name(name)
            if name in self.session.profile_names():
                raise UsageError(f"a profile named {name!r} already exists")
            if not self.demo:
                key_id = validate_key_id(self.query_one("#key-id", Input).value)
                if flow is not Flow.PRIVATE_KEY_JWT:
                    secret = validate_secret_for(flow, self.query_one("#secret", Input).value)
            if flow is Flow.PRIVATE_KEY_JWT and self.keypair is None:
                raise UsageError("generate a key pair first (ctrl+g)")
        except AlpacaTuiError as exc:
            self.show_error(exc.message)
            return
        self.show_error("")
        self.post_message(self.Entered(name, key_id, secret))

    def toggle_reveal(self) -> None:
        secret = self.query_one("#secret", Input)
        secret.password = not secret.password

    # -- key pair (private key JWT) ----------------------------------------------------
    @on(Button.Pressed, "#generate")
    def _generate_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.generate()

    def generate(self) -> None:
        """A new key pair; when there is one already (maybe registered with Alpaca), ask first."""
        if self.flow is not Flow.PRIVATE_KEY_JWT:
            return
        if self.keypair is None:
            self._generate_now()
            return
        from alpaca_tui.tui.dialogs.confirm import ConfirmDialog

        def answered(yes: bool | None) -> None:
            if yes:
                self._generate_now()

        self.app.push_screen(ConfirmDialog(
            "Replace the key pair?", f"A {self.keypair.alg} key pair was generated already (public key "
            f"sha256 {self.keypair.fingerprint}). If you registered that public key with Alpaca, a new pair "
            "will not match it until you register the new public key.", yes="New key pair", no="Keep it"),
            callback=answered)

    def _generate_now(self) -> None:
        self.query_one("#keypair-info", Static).update("generating an ES256 key pair…")
        generate_keypair_in_worker(self)

    def on_key_pair_ready(self, message: KeyPairReady) -> None:
        """Shown here; the message bubbles on to the wizard, which keeps the pair in its draft."""
        pair = message.pair
        self.keypair = pair
        self.query_one("#keypair-info", Static).update(
            f"{pair.alg} key pair generated · public key sha256 {pair.fingerprint} · register this public "
            "key with Alpaca (F2: PEM / JWK, ctrl+y copies); the private key stays in the secret store")
        self.public_format = "pem"
        self._show_public()
        self.show_error("")

    def public_text(self) -> str:
        pair = self.keypair
        if pair is None:
            return ""
        if self.public_format == "pem":
            return pair.public_pem
        kid = self.query_one("#key-id", Input).value.strip() if not self.demo else ""
        return services.public_jwk_text(pair, kid=kid or None)

    def _show_public(self) -> None:
        self.query_one("#public-key", TextArea).text = self.public_text()

    def toggle_jwk(self) -> None:
        if self.keypair is None:
            return
        self.public_format = "jwk" if self.public_format == "pem" else "pem"
        self._show_public()

    @on(Button.Pressed, "#copy-public")
    def _copy_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.copy_public()

    def copy_public(self) -> None:
        if self.keypair is None:
            return
        self.app.copy_to_clipboard(self.public_text())
        self.notify(f"public key ({self.public_format.upper()}) copied to the clipboard (OSC 52)")


__all__ = ["IdentifiersStep"]
