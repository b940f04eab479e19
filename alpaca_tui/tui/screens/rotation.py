"""Rotation from the keyboard: new material → verify → promote → old kept for rollback.

The engine does the work (``Engine.rotate``: verify the new secret against the real
endpoint, promote it, keep the old one until its retirement time; ``Engine.rollback``).
This screen gathers the new material (in demo mode the emulator issues a new key or
registers a freshly generated public key), shows each step's outcome, and counts down to
the old secret's retirement. ``b`` rolls back while the old secret is still kept.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from alpaca_tui.core.credentials import Flow, Profile, validate_key_id, validate_secret_for
from alpaca_tui.core.errors import AlpacaTuiError
from alpaca_tui.core.sanitize import clean_line
from alpaca_tui.tui import services
from alpaca_tui.tui.format import time_left
from alpaca_tui.tui.keygen import generate_keypair_in_worker
from alpaca_tui.tui.messages import KeyPairReady, OperationFailed, ProfilesChanged, Progress, RotationFinished
from alpaca_tui.tui.screens.base import ProfileScreen
from alpaca_tui.tui.typeahead import FIELD_BINDINGS, TypeAheadFields
from alpaca_tui.tui.widgets import focus_now

if TYPE_CHECKING:
    from alpaca_tui.tui.session import Session

KEEP_CHOICES: tuple[tuple[str, timedelta], ...] = (
    ("1 hour", timedelta(hours=1)),
    ("24 hours", timedelta(hours=24)),
    ("7 days", timedelta(days=7)),
    ("30 days", timedelta(days=30)),
)


class RotationScreen(TypeAheadFields, ProfileScreen):
    BODY_ID = "rotation-body"
    TICKS = True  # the old key's retirement countdown
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "rotate", "Rotate", priority=True,
                tooltip="Verify the new secret, promote it, keep the old one", id="rotation.rotate"),
        Binding("ctrl+b", "rollback", "Rollback", priority=True,
                tooltip="Make the previous key active again (asks first)", id="rotation.rollback"),
        Binding("ctrl+g", "generate", "New key pair", show=False, priority=True,
                tooltip="Generate an ES256 key pair (private key JWT)", id="rotation.generate"),
        Binding("ctrl+y", "copy_public", "Copy public key", show=False, priority=True,
                tooltip="Copy the public key PEM (OSC 52)", id="rotation.copy-public"),
        Binding("ctrl+r", "reveal", "Reveal", show=False, priority=True,
                tooltip="Show / hide the typed secret", id="rotation.reveal"),
        Binding("escape", "back", "Back", id="rotation.back"),
        *FIELD_BINDINGS,
    ]
    FIELD_IDS = frozenset({"rot-key-id", "rot-secret"})

    def __init__(self, session: Session, name: str) -> None:
        super().__init__(session, name, classes="rotation-screen")
        self.busy = False
        self.keypair: services.KeyPair | None = None
        self.steps: list[Text] = []

    def compose_body(self) -> ComposeResult:
        yield Static("", id="rot-current")
        with Vertical(id="rot-new", classes="box"):
            yield Label("", id="rot-new-title", classes="field-label")
            yield Static("", id="rot-demo-hint", classes="hint")
            with Vertical(id="rot-manual"):
                with Horizontal(classes="tester-field"):
                    yield Label("New key ID", classes="row-label")
                    yield Input(placeholder="leave empty to keep the same ID", id="rot-key-id", compact=True)
                with Horizontal(classes="tester-field", id="rot-secret-row"):
                    yield Label("New secret", classes="row-label")
                    yield Input(placeholder="typed or pasted (masked; ctrl+r reveals)", password=True,
                                id="rot-secret", compact=True)
            with Vertical(id="rot-keypair"):
                yield Button("Generate new key pair (ctrl+g)", id="rot-generate", compact=True)
                yield Static("", id="rot-keypair-info")
                yield TextArea("", id="rot-public-key", read_only=True, soft_wrap=False)
        with Horizontal(classes="tester-field"):
            yield Label("Keep old for", classes="row-label")
            yield Select([(label, i) for i, (label, _) in enumerate(KEEP_CHOICES)], value=1,
                         allow_blank=False, id="rot-keep", compact=True)
        with Horizontal(id="rot-buttons"):
            yield Button("Rotate (ctrl+s)", id="rot-go", variant="primary", compact=True)
            yield Button("Rollback (ctrl+b)", id="rot-rollback", variant="warning", compact=True)
        yield Static("", id="rot-steps")
        yield Static("", id="rot-outcome")

    def on_mount(self) -> None:
        p = self.profile
        if p is None:
            return
        self.title = f"rotate · {p.name}"
        demo = self.session.demo is not None
        jwt = p.flow is Flow.PRIVATE_KEY_JWT
        self.query_one("#rot-manual").display = not demo and not jwt
        self.query_one("#rot-keypair").display = jwt
        self.query_one("#rot-public-key").display = False
        self.query_one("#rot-demo-hint").display = demo
        if demo:
            what = "registers a freshly generated public key" if jwt else "issues a new key"
            self.query_one("#rot-demo-hint", Static).update(
                f"Demo mode: the emulator {what} for this credential. Nothing to type.")
        self.query_one("#rot-new-title", Label).update(
            "1. New key pair" if jwt else "1. New " + ("client secret" if p.flow.is_oauth else "key"))
        self.render_current()
        # Synchronous focus: a secret typed ahead (paste, fast typist) must never land in the
        # visible key-ID field because the deferred focus had not happened yet.
        if not demo and not jwt:
            focus_now(self.query_one("#rot-key-id", Input))
        else:
            focus_now(self.query_one("#rot-go", Button))

    def tick(self) -> None:
        self.render_current()

    def on_profiles_changed(self, message: ProfilesChanged) -> None:
        if not self.busy and self.leave_if_deleted():
            return
        self.render_current()

    def render_current(self) -> None:
        p = self.profile
        cur = self.query_one("#rot-current", Static)
        if p is None:
            cur.update("credential not found")
            return
        t = Text()
        t.append(clean_line(p.name), style="bold")
        t.append(f"  {p.env.label}" + ("  ⚠ real money" if p.env.is_live else ""),
                 style="bold orange1" if p.env.is_live else "")
        t.append(f"  {p.flow.label}\n")
        t.append("active key ", style="dim")
        t.append(clean_line(p.key_id_masked), style="bold")
        t.append("   rotated ", style="dim")
        t.append(self.when(p.rotated_at))
        if p.rotation_state:
            t.append("\nstate ", style="dim")
            t.append(p.rotation_state, style="yellow")
            if p.previous_retire_at is not None:
                left = p.previous_retire_at - self.session.clock.now()
                if left.total_seconds() > 0:
                    t.append(f"\nold key kept for rollback until {self.when(p.previous_retire_at)} "
                             f"({time_left(left.total_seconds())} left)", style="yellow")
                else:
                    t.append("   old key retired (rollback no longer possible)", style="dim")
        cur.update(t)
        self.query_one("#rot-rollback", Button).disabled = not self.can_rollback(p)

    def can_rollback(self, p: Profile | None) -> bool:
        if p is None or not p.rotation_state or p.previous_retire_at is None:
            return False
        return p.previous_retire_at > self.session.clock.now()

    # -- key pair ------------------------------------------------------------------------
    @on(Button.Pressed, "#rot-generate")
    def _gen_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_generate()

    def action_generate(self) -> None:
        p = self.profile
        if p is None or p.flow is not Flow.PRIVATE_KEY_JWT or self.busy:
            return
        if self.keypair is None:
            self._generate_now()
            return
        from alpaca_tui.tui.dialogs.confirm import ConfirmDialog

        def answered(yes: bool | None) -> None:
            if yes:
                self._generate_now()

        self.app.push_screen(ConfirmDialog(  # it may be registered with Alpaca already
            "Replace the new key pair?", "A key pair was generated already (sha256 "
            f"{self.keypair.fingerprint}). If you registered its public key with Alpaca, a new pair "
            "will not match it.",
            yes="New key pair", no="Keep it"), callback=answered)

    def _generate_now(self) -> None:
        self.query_one("#rot-keypair-info", Static).update("generating…")
        generate_keypair_in_worker(self)

    def on_key_pair_ready(self, message: KeyPairReady) -> None:
        message.stop()
        pair = message.pair
        self.keypair = pair
        self.query_one("#rot-keypair-info", Static).update(
            f"{pair.alg} · sha256 {pair.fingerprint} · register this public key with Alpaca "
            "before rotating (ctrl+y copies it)" if self.session.demo is None else
            f"{pair.alg} · sha256 {pair.fingerprint} · the emulator registers it on rotate")
        area = self.query_one("#rot-public-key", TextArea)
        area.text = pair.public_pem
        area.display = True

    def action_copy_public(self) -> None:
        if self.keypair is not None:
            self.app.copy_to_clipboard(self.keypair.public_pem)
            self.notify("public key copied (OSC 52)")

    def action_reveal(self) -> None:
        box = self.query_one("#rot-secret", Input)
        box.password = not box.password

    # -- rotate --------------------------------------------------------------------------
    @on(Button.Pressed, "#rot-go")
    def _go_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_rotate()

    def on_field_enter(self, field: Input) -> None:
        if field.id == "rot-key-id":
            focus_now(self.query_one("#rot-secret", Input))
        else:  # after the field has taken the keys typed before this enter
            field.call_later(self.action_rotate)

    def _log(self, text: str, style: str = "") -> None:
        self.steps.append(Text(text, style=style))
        self.query_one("#rot-steps", Static).update(Text("\n").join(self.steps))
        self._follow()

    def action_rotate(self) -> None:
        p = self.profile
        if p is None or self.busy:
            return
        if self.session.engine is None:
            self.notify("the auth engine is still loading", severity="warning")
            return
        given = services.RotationInput()
        if self.session.demo is None:
            try:
                given = self._manual_input(p)
            except AlpacaTuiError as exc:
                self.query_one("#rot-outcome", Static).update(Text(f"✗ {clean_line(exc.message)}",
                                                                   style="bold red"))
                return
        keep = KEEP_CHOICES[int(self.query_one("#rot-keep", Select).value)][1]  # type: ignore[arg-type]
        warnings = self.rotation_warnings(p)
        if not warnings:
            self._start_rotation(p, given, keep)
            return
        from alpaca_tui.tui.dialogs.confirm import ConfirmDialog

        def answered(yes: bool | None) -> None:
            if yes:
                self._start_rotation(p, given, keep)

        title = "Rotate a live credential" if p.env.is_live else "Rotate again"
        self.app.push_screen(ConfirmDialog(title, "\n\n".join([*warnings, f"Rotate {p.name} now?"]),
                                           yes="Rotate", danger=True), callback=answered)

    def rotation_warnings(self, p: Profile) -> list[str]:
        """What the user must agree to first: real money; a kept old key that would be dropped."""
        out = []
        if p.env.is_live:
            out.append(f"⚠ {p.name} is a LIVE (real money) credential. Programs still using the current key "
                       "keep working only until the old key is retired.")
        if self.can_rollback(p):
            out.append(f"The previous key is kept for rollback until {self.when(p.previous_retire_at)}. "
                       "Rotating again keeps only the key active now: that previous key is dropped for good.")
        return out

    def _start_rotation(self, p: Profile, given: services.RotationInput, keep: timedelta) -> None:
        if self.busy:
            return
        self.busy = True
        self.steps = []
        self.query_one("#rot-outcome", Static).update("")
        self._log("• rotating: new secret → verify → promote → old one kept for rollback")
        self._rotate_worker(p, given, keep)

    def _manual_input(self, p: Profile) -> services.RotationInput:
        key_id = self.query_one("#rot-key-id", Input).value.strip()
        if key_id:
            validate_key_id(key_id)
        if p.flow is Flow.PRIVATE_KEY_JWT:
            if self.keypair is None:
                raise AlpacaTuiError("generate a new key pair first (ctrl+g) and register its public key")
            return services.RotationInput(key_id=key_id or None, keypair=self.keypair)
        secret = validate_secret_for(p.flow, self.query_one("#rot-secret", Input).value)
        return services.RotationInput(key_id=key_id or None, secret=secret)

    @work(exclusive=True, group="rotate", exit_on_error=False)
    async def _rotate_worker(self, p: Profile, given: services.RotationInput, keep: timedelta) -> None:
        import asyncio

        try:
            what = "asking the emulator for a new key…" if self.session.demo is not None else \
                "preparing the new secret…"
            self.post_message(Progress(what))
            new = await asyncio.to_thread(services.rotation_secret, self.session.require_store(),
                                          self.session.demo, p, given)
            self.post_message(Progress(f"new key {services.mask_id(new.key_id)}; verifying it against "
                                       f"{p.env.label}…"))
            result = await self.session.require_engine().rotate(p.name, new, keep_old_for=keep)
        except Exception as exc:  # a RotationError carries the result of the failed attempt
            self.post_message(RotationFinished(p.name, result=getattr(exc, "result", None),
                                               error=services.one_line(exc)))
            return
        self.post_message(RotationFinished(p.name, result=result))

    def on_progress(self, message: Progress) -> None:
        message.stop()
        self._log(f"• {message.text}")

    def on_rotation_finished(self, message: RotationFinished) -> None:
        message.stop()
        self.busy = False
        out = self.query_one("#rot-outcome", Static)
        if message.error:
            self._log(f"✗ {message.error}", "bold red")
            what = "rollback" if message.rolled_back else "rotation"
            out.update(Text(f"✗ {what} failed — the active key is unchanged: {clean_line(message.error)}",
                            style="bold red"))
        elif message.rolled_back:
            self._log("✓ rolled back: the previous key is active again", "bold green")
            out.update(Text("✓ Rolled back. The previous key is active again.", style="bold green"))
        else:
            for line in services.describe_rotation(message.result, local=self.session.local_time):
                self._log(f"✓ {line}", "green")
            out.update(Text("✓ Rotated — ctrl+b rolls back while the old key is kept.", style="bold green"))
        self.keypair = None if not message.error else self.keypair
        self.query_one("#rot-secret", Input).value = ""
        self.tui.reload_profiles()
        self._follow()

    def _follow(self) -> None:
        """Keep the end of the log and the outcome on screen (at 80×24 they are below the form)."""
        self.query_one("#rotation-body").anchor()  # stays at the end as lines arrive, until scrolled

    # -- rollback ------------------------------------------------------------------------
    @on(Button.Pressed, "#rot-rollback")
    def _rollback_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_rollback()

    def action_rollback(self) -> None:
        from alpaca_tui.tui.dialogs.confirm import ConfirmDialog

        p = self.profile
        if p is None or self.busy:
            return
        if not self.can_rollback(p):
            self.notify("nothing to roll back (no old key kept)", severity="warning")
            return
        if self.session.engine is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.busy = True
                self._log("• rolling back to the previous key…")
                self._rollback_worker(p.name)

        self.app.push_screen(ConfirmDialog("Roll back", f"Make the previous key of {p.name} active again?",
                                           yes="Roll back", danger=True), callback=answered)

    @work(exclusive=True, group="rotate", exit_on_error=False)
    async def _rollback_worker(self, name: str) -> None:
        try:
            await self.session.require_engine().rollback(name)
        except Exception as exc:
            self.post_message(RotationFinished(name, error=services.one_line(exc), rolled_back=True))
            return
        self.post_message(RotationFinished(name, rolled_back=True))

    def action_back(self) -> None:
        self.app.pop_screen()

    def on_operation_failed(self, message: OperationFailed) -> None:
        self.busy = False
        del message  # bubbles on to the app, which shows it


__all__ = ["RotationScreen"]
