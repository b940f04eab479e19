"""The creation wizard's coordinator: environment → flow → identifiers → expiration →
access → review → save.

A ModalScreen that returns the saved :class:`Profile` (or None when cancelled). It owns
the :class:`~.draft.Draft` and the order of the steps; the steps (``choice_steps.py``,
``identifiers.py``, ``expiry.py``, ``access.py``, ``review.py``) own their widgets and their
validation and post a done-message, which moves the wizard on (see ``step.py``). Saving
runs in a thread worker (``store.add_profile``; in demo mode the credential is first really
created on the emulator, which issues the key ID and secret, or registers the generated
public key) so the UI never blocks on the keyring, the KDF or HTTP.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, ContentSwitcher, Footer, Input, Label

from alpaca_tui.core.credentials import Profile
from alpaca_tui.core.environments import Env
from alpaca_tui.tui import services
from alpaca_tui.tui.dialogs.wizard.access import AccessStep
from alpaca_tui.tui.dialogs.wizard.choice_steps import EnvStep, FlowStep
from alpaca_tui.tui.dialogs.wizard.draft import Draft, build_credential
from alpaca_tui.tui.dialogs.wizard.expiry import ExpiryStep
from alpaca_tui.tui.dialogs.wizard.identifiers import IdentifiersStep
from alpaca_tui.tui.dialogs.wizard.review import ReviewStep
from alpaca_tui.tui.dialogs.wizard.step import WizardStep
from alpaca_tui.tui.messages import KeyPairReady, OperationFailed, ProfileSaved, Progress
from alpaca_tui.tui.typeahead import FIELD_BINDINGS, TypeAheadFields
from alpaca_tui.tui.widgets import focus_now

if TYPE_CHECKING:
    from alpaca_tui.tui.session import Session

STEPS: tuple[tuple[str, str], ...] = (
    ("step-env", "Environment"),
    ("step-flow", "Flow"),
    ("step-ids", "Identifiers"),
    ("step-expiry", "Expiration"),
    ("step-access", "Access"),
    ("step-review", "Review"),
)
ACCESS_STEP = 4  # index in STEPS: broker environments only
REVIEW_STEP = 5


class WizardScreen(TypeAheadFields, ModalScreen[Profile | None]):
    """New credential. Keys: enter picks/next, ctrl+n next, escape back (cancel on step 1)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "next", "Next", priority=True, tooltip="Next step (enter also picks and moves on)",
                id="wizard.next"),
        Binding("escape", "back", "Back / cancel", tooltip="Previous step; cancels on the first",
                id="wizard.back"),
        Binding("ctrl+r", "reveal", "Reveal secret", show=False, tooltip="Show / hide the typed secret",
                id="wizard.reveal"),
        Binding("ctrl+g", "generate", "Generate key pair", show=False,
                tooltip="ES256 key pair for private key JWT", id="wizard.generate"),
        Binding("f2", "toggle_jwk", "PEM / JWK", show=False,
                tooltip="Show the public key as PEM or as a JWK (kid = the client ID)",
                id="wizard.toggle-jwk"),
        Binding("ctrl+y", "copy_public", "Copy public key", show=False,
                tooltip="Copy the public key PEM (OSC 52, works over SSH)", id="wizard.copy-public"),
        *FIELD_BINDINGS,
    ]
    FIELD_IDS = IdentifiersStep.FIELD_IDS

    def __init__(self, session: Session, *, env: Env | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.session = session
        self.draft = Draft(env=env)
        self.step = 0
        self.saving = False
        self.env_step = EnvStep(id="step-env")
        self.flow_step = FlowStep(id="step-flow")
        self.ids_step = IdentifiersStep(session, id="step-ids")
        self.expiry_step = ExpiryStep(session, id="step-expiry")
        self.access_step = AccessStep(id="step-access")
        self.review_step = ReviewStep(session, id="step-review")
        self.steps: tuple[WizardStep, ...] = (self.env_step, self.flow_step, self.ids_step,
                                              self.expiry_step, self.access_step, self.review_step)

    def compose(self) -> ComposeResult:
        with Vertical(id="wizard", classes="dialog"):
            yield Label("", id="wizard-title", classes="dialog-title")
            with ContentSwitcher(initial="step-env", id="wizard-steps"):
                yield self.env_step
                yield self.flow_step
                yield self.ids_step
                yield self.expiry_step
                yield self.access_step
                yield self.review_step
            with Horizontal(classes="dialog-buttons"):
                yield Button("← Back (esc)", id="back", compact=True)
                yield Button("Next → (ctrl+n)", id="next", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self._show_step(0)
        if self.draft.env is not None:
            self.env_step.highlight(self.draft.env)

    # -- the order of the steps ----------------------------------------------------------
    def _visible_steps(self) -> list[int]:
        steps = list(range(len(STEPS)))
        if self.draft.env is not None and not self.draft.env.is_broker:
            steps.remove(ACCESS_STEP)  # trading API keys have no scope matrix
        return steps

    def _show_step(self, index: int) -> None:
        self.step = index
        step_id, title = STEPS[index]
        visible = self._visible_steps()
        pos = visible.index(index) + 1 if index in visible else index + 1
        mode = "  [demo: the emulator issues it]" if self.session.demo is not None else ""
        self.query_one("#wizard-title", Label).update(
            f"New credential · step {pos}/{len(visible)} · {title}{mode}")
        self.query_one("#wizard-steps", ContentSwitcher).current = step_id
        self.query_one("#next", Button).label = "Save (enter)" if index == REVIEW_STEP else "Next → (ctrl+n)"
        self.steps[index].enter(self.draft)
        if index == REVIEW_STEP:
            focus_now(self.query_one("#next", Button))

    def _advance(self) -> None:
        later = [i for i in self._visible_steps() if i > self.step]
        if later:
            self._show_step(later[0])

    def action_next(self) -> None:
        if not self.saving:
            self.steps[self.step].submit()

    def action_back(self) -> None:
        if self.saving or self.steps[self.step].back():
            return
        earlier = [i for i in self._visible_steps() if i < self.step]
        if not earlier:
            self.dismiss(None)
            return
        self._show_step(earlier[-1])

    @on(Button.Pressed, "#next")
    def _next_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_next()

    @on(Button.Pressed, "#back")
    def _back_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_back()

    # -- the steps' done-messages (each counts only while its step is shown) -------------
    def _shown(self, step: WizardStep) -> bool:
        return self.steps[self.step] is step

    def _record(self, step: WizardStep, draft: Draft) -> None:
        """``step`` is done: keep its answer and show the next step."""
        if self._shown(step):
            self.draft = draft
            self._advance()

    @on(EnvStep.Chosen)
    def _env_chosen(self, message: EnvStep.Chosen) -> None:
        message.stop()
        draft = replace(self.draft, env=message.env)
        if self.draft.env is not message.env and self._shown(self.env_step):
            draft = replace(draft, flow=None, access=None)  # they depend on the environment
            self.access_step.reset()
        self._record(self.env_step, draft)

    @on(FlowStep.Chosen)
    def _flow_chosen(self, message: FlowStep.Chosen) -> None:
        message.stop()
        self._record(self.flow_step, replace(self.draft, flow=message.flow))

    @on(IdentifiersStep.Entered)
    def _identifiers_entered(self, message: IdentifiersStep.Entered) -> None:
        message.stop()
        d = self.draft
        self._record(self.ids_step, replace(
            d, name=message.name, key_id=d.key_id if message.key_id is None else message.key_id,
            secret=d.secret if message.secret is None else message.secret))

    @on(ExpiryStep.Chosen)
    def _expiry_chosen(self, message: ExpiryStep.Chosen) -> None:
        message.stop()
        self._record(self.expiry_step,
                     replace(self.draft, expiry_spec=message.spec, expires_at=message.expires_at))

    @on(AccessStep.Chosen)
    def _access_chosen(self, message: AccessStep.Chosen) -> None:
        message.stop()
        self._record(self.access_step, replace(self.draft, access=message.access))

    @on(ReviewStep.Confirmed)
    def _review_confirmed(self, message: ReviewStep.Confirmed) -> None:
        message.stop()
        if self._shown(self.review_step):
            self.save()

    # -- keys of the identifiers step (bound here so they show in help and the footer) ---
    def on_field_enter(self, field: Input) -> None:
        self.ids_step.field_enter(field)

    def action_reveal(self) -> None:
        self.ids_step.toggle_reveal()

    def action_generate(self) -> None:
        if self._shown(self.ids_step):
            self.ids_step.generate()

    def action_toggle_jwk(self) -> None:
        self.ids_step.toggle_jwk()

    def action_copy_public(self) -> None:
        self.ids_step.copy_public()

    def on_key_pair_ready(self, message: KeyPairReady) -> None:
        message.stop()  # the identifiers step has shown it already (it bubbled from there)
        self.draft = replace(self.draft, keypair=message.pair)

    # -- save ------------------------------------------------------------------------------
    def save(self) -> None:
        if self.saving:
            return
        self.saving = True
        self.review_step.set_status("saving…")
        self._save_worker()

    @work(thread=True, exclusive=True, group="wizard-save", exit_on_error=False)
    def _save_worker(self) -> None:
        def progress(text: str) -> None:
            self.post_message(Progress(text))

        try:
            profile, bundle = build_credential(self.draft, demo=self.session.demo,
                                               now=self.session.clock.now(), progress=progress)
            progress("saving to the secret store…")
            self.session.require_store().add_profile(profile, bundle)
        except Exception as exc:
            self.post_message(OperationFailed("save", services.one_line(exc)))
            return
        self.post_message(ProfileSaved(profile))

    def on_progress(self, message: Progress) -> None:
        message.stop()
        self.review_step.set_status(message.text)

    def on_operation_failed(self, message: OperationFailed) -> None:
        message.stop()
        self.saving = False
        if self._shown(self.ids_step):
            self.ids_step.show_error(f"{message.what} failed: {message.error}")
        self.review_step.set_status(Text(f"✗ {message.what} failed: {message.error}", style="bold red"))

    def on_profile_saved(self, message: ProfileSaved) -> None:
        message.stop()
        self.saving = False
        self.dismiss(message.profile)


__all__ = ["STEPS", "WizardScreen"]
