"""Creation wizard: environment → flow → identifiers → expiration → access → review → save.

A ModalScreen that returns the saved :class:`Profile` (or None when cancelled). Saving runs
in a thread worker (``store.add_profile``; in demo mode the credential is first really
created on the emulator, which issues the key ID and secret, or registers the generated
public key) so the UI never blocks on the keyring, the KDF or HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, ContentSwitcher, Footer, Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from alpaca_tui.core.credentials import (
    Flow,
    Profile,
    Secret,
    SecretBundle,
    key_id_warnings,
    validate_key_id,
    validate_name,
    validate_secret,
)
from alpaca_tui.core.environments import Env
from alpaca_tui.core.errors import AlpacaTuiError, UsageError
from alpaca_tui.core.expiry import EXPIRY_CHOICES, describe_expiry, parse_expiry
from alpaca_tui.core.redact import mask
from alpaca_tui.core.scopes import AccessMatrix
from alpaca_tui.tui import services
from alpaca_tui.tui.format import ENV_ORDER, access_brief, stamp
from alpaca_tui.tui.keygen import generate_keypair_in_worker
from alpaca_tui.tui.messages import KeyPairReady, OperationFailed, ProfileSaved, Progress
from alpaca_tui.tui.typeahead import FIELD_BINDINGS, TypeAheadFields
from alpaca_tui.tui.widgets import focus_now
from alpaca_tui.tui.widgets.scope_matrix import ScopeMatrix

if TYPE_CHECKING:
    from alpaca_tui.tui.session import DemoIssuer, Session

STEPS: tuple[tuple[str, str], ...] = (
    ("step-env", "Environment"),
    ("step-flow", "Flow"),
    ("step-ids", "Identifiers"),
    ("step-expiry", "Expiration"),
    ("step-access", "Access"),
    ("step-review", "Review"),
)

ACCESS_PRESETS: tuple[tuple[str, str], ...] = (
    ("read-only", "Read only"), ("full", "Full access"), ("custom", "Custom (scope matrix)"))


@dataclass
class Draft:
    env: Env | None = None
    flow: Flow | None = None
    name: str = ""
    key_id: str = ""
    secret: str = ""
    keypair: services.KeyPair | None = None
    expiry_spec: str = "never"
    expires_at: datetime | None = None
    access: AccessMatrix | None = None


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
    FIELD_IDS = frozenset({"name", "key-id", "secret"})

    def __init__(self, session: Session, *, env: Env | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.session = session
        self.draft = Draft(env=env)
        self.public_format = "pem"
        self.step = 0
        self.saving = False

    @property
    def demo(self) -> DemoIssuer | None:
        return self.session.demo

    # -- layout ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Vertical(id="wizard", classes="dialog"):
            yield Label("", id="wizard-title", classes="dialog-title")
            with ContentSwitcher(initial="step-env", id="wizard-steps"):
                with Vertical(id="step-env"):
                    yield Static("Which environment does this credential belong to? Live and paper "
                                 "credentials never cross.", classes="hint")
                    yield OptionList(*[Option(Text(e.label + ("  ⚠ real money" if e.is_live else ""),
                                                   style="bold orange1" if e.is_live else ""), id=e.value)
                                       for e in ENV_ORDER], id="env-list")
                with Vertical(id="step-flow"):
                    yield Static("", id="flow-hint", classes="hint")
                    yield OptionList(id="flow-list")
                with VerticalScroll(id="step-ids"):
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
                with Vertical(id="step-expiry"):
                    yield Static("When does this credential expire? (badge turns yellow 14 days before)",
                                 classes="hint")
                    yield OptionList(*[Option(label, id=key) for key, label in EXPIRY_CHOICES],
                                     Option("Custom date…", id="custom"), id="expiry-list")
                    yield Input(placeholder="YYYY-MM-DD", id="expiry-date", max_length=10, compact=True)
                    yield Label("", id="expiry-error", classes="error")
                with Vertical(id="step-access"):
                    yield OptionList(*[Option(label, id=key) for key, label in ACCESS_PRESETS],
                                     id="access-list")
                    yield ScopeMatrix(AccessMatrix.read_only(), id="matrix")
                with VerticalScroll(id="step-review"):
                    yield Static("", id="review")
                    yield Label("", id="save-status")
            with Horizontal(classes="dialog-buttons"):
                yield Button("← Back (esc)", id="back", compact=True)
                yield Button("Next → (ctrl+n)", id="next", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#expiry-date", Input).display = False
        self.query_one("#keypair-box").display = False
        self._show_step(0)
        if self.draft.env is not None:
            env_list = self.query_one("#env-list", OptionList)
            env_list.highlighted = ENV_ORDER.index(self.draft.env)

    def _visible_steps(self) -> list[int]:
        steps = [0, 1, 2, 3, 4, 5]
        if self.draft.env is not None and not self.draft.env.is_broker:
            steps.remove(4)  # trading API keys have no scope matrix
        return steps

    def _show_step(self, index: int) -> None:
        self.step = index
        step_id, title = STEPS[index]
        visible = self._visible_steps()
        pos = visible.index(index) + 1 if index in visible else index + 1
        mode = "  [demo: the emulator issues it]" if self.demo is not None else ""
        self.query_one("#wizard-title", Label).update(
            f"New credential · step {pos}/{len(visible)} · {title}{mode}")
        self.query_one("#wizard-steps", ContentSwitcher).current = step_id
        self.query_one("#next", Button).label = "Save (enter)" if step_id == "step-review" \
            else "Next → (ctrl+n)"
        getattr(self, f"_enter_{step_id.replace('step-', '')}")()

    # -- step entry --------------------------------------------------------------------
    def _enter_env(self) -> None:
        focus_now(self.query_one("#env-list", OptionList))

    def _enter_flow(self) -> None:
        env = self.draft.env
        assert env is not None
        flows = [Flow.LEGACY, Flow.CLIENT_SECRET, Flow.PRIVATE_KEY_JWT] if env.is_broker else [Flow.LEGACY]
        hint = ("Broker credentials: OAuth2 client credentials (recommended) or legacy key + secret."
                if env.is_broker else
                f"{env.label} uses a key ID + secret (OAuth client credentials are broker-only).")
        self.query_one("#flow-hint", Static).update(hint)
        fl = self.query_one("#flow-list", OptionList)
        fl.clear_options()
        fl.add_options([Option(f.label, id=f.value) for f in flows])
        if self.draft.flow in flows:
            fl.highlighted = flows.index(self.draft.flow)
        else:
            fl.highlighted = 0
        focus_now(fl)

    def _enter_ids(self) -> None:
        flow = self.draft.flow
        assert flow is not None
        demo = self.demo is not None
        jwt = flow is Flow.PRIVATE_KEY_JWT
        self.query_one("#ids-manual").display = not demo
        self.query_one("#secret-box").display = not jwt
        self.query_one("#keypair-box").display = jwt
        self.query_one("#key-id-label", Label).update("Client ID" if flow.is_oauth else "Key ID")
        self.query_one("#secret-label", Label).update(
            ("Client secret" if flow.is_oauth else "Secret") + " (typed or pasted; masked — ctrl+r reveals)")
        if demo:
            what = "registers the public key you generate below" if jwt else "issues the key ID and secret"
            self.query_one("#ids-demo", Static).update(
                f"Demo mode: the local emulator {what}. Nothing secret to type.")
            if jwt and self.draft.keypair is None:
                self.action_generate()
        self.query_one("#ids-demo", Static).display = demo
        name = self.query_one("#name", Input)
        if not name.value:
            name.value = self._suggest_name()
        focus_now(name)

    def _suggest_name(self) -> str:
        env, flow = self.draft.env, self.draft.flow
        assert env is not None and flow is not None
        short = {"legacy": "key", "client-secret": "oauth", "private-key-jwt": "jwt"}[flow.value]
        base = f"{env.value}-{short}"
        taken = {p.name for p in self.session.profiles}
        n, name = 1, base
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        return name

    def _enter_expiry(self) -> None:
        focus_now(self.query_one("#expiry-list", OptionList))

    def _enter_access(self) -> None:
        al = self.query_one("#access-list", OptionList)
        if self.draft.access is None:
            self.draft.access = AccessMatrix.read_only()
            self.query_one("#matrix", ScopeMatrix).access = self.draft.access
        al.highlighted = [k for k, _ in ACCESS_PRESETS].index(self.draft.access.preset_name)
        focus_now(al)

    def _enter_review(self) -> None:
        self.query_one("#review", Static).update(self._review_text())
        focus_now(self.query_one("#next", Button))

    # -- navigation --------------------------------------------------------------------
    def action_next(self) -> None:
        if self.saving:
            return
        step_id = STEPS[self.step][0]
        if step_id == "step-env":
            ol = self.query_one("#env-list", OptionList)
            if ol.highlighted is not None:
                self._pick_env(ENV_ORDER[ol.highlighted])
        elif step_id == "step-flow":
            ol = self.query_one("#flow-list", OptionList)
            if ol.highlighted is not None:
                opt = ol.get_option_at_index(ol.highlighted)
                self._pick_flow(Flow(opt.id or "legacy"))
        elif step_id == "step-ids":
            self._submit_ids()
        elif step_id == "step-expiry":
            ol = self.query_one("#expiry-list", OptionList)
            date_in = self.query_one("#expiry-date", Input)
            if date_in.display:
                self._submit_custom_date(date_in.value)
            elif ol.highlighted is not None:
                self._pick_expiry(ol.get_option_at_index(ol.highlighted).id or "never")
        elif step_id == "step-access":
            self._advance()
        elif step_id == "step-review":
            self.save()

    def _advance(self) -> None:
        visible = self._visible_steps()
        later = [i for i in visible if i > self.step]
        if later:
            self._show_step(later[0])

    def action_back(self) -> None:
        if self.saving:
            return
        if STEPS[self.step][0] == "step-expiry" and self.query_one("#expiry-date", Input).display:
            self.query_one("#expiry-date", Input).display = False
            self.query_one("#expiry-error", Label).update("")
            focus_now(self.query_one("#expiry-list", OptionList))
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

    # -- step 1 / 2 --------------------------------------------------------------------
    @on(OptionList.OptionSelected, "#env-list")
    def _env_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._pick_env(Env(event.option.id or "paper"))

    def _pick_env(self, env: Env) -> None:
        if self.draft.env is not env:
            self.draft.flow = None
            self.draft.access = None
        self.draft.env = env
        self._advance()

    @on(OptionList.OptionSelected, "#flow-list")
    def _flow_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._pick_flow(Flow(event.option.id or "legacy"))

    def _pick_flow(self, flow: Flow) -> None:
        self.draft.flow = flow
        self._advance()

    # -- step 3: identifiers -----------------------------------------------------------
    def on_field_enter(self, field: Input) -> None:
        """enter in name / key ID / secret: the next field, or on to the next step."""
        order = ["name"]
        if self.demo is None:
            order.append("key-id")
            if self.draft.flow is not Flow.PRIVATE_KEY_JWT:
                order.append("secret")
        ident = field.id or ""
        if ident in order and order.index(ident) < len(order) - 1:
            focus_now(self.query_one(f"#{order[order.index(ident) + 1]}", Input))
            return
        # Read the values only after the field has taken the keys typed before this enter
        # (they are still queued for it): the callback runs in the field's own queue.
        field.call_later(self._submit_ids)

    def _ids_error(self, text: str) -> None:
        self.query_one("#ids-error", Label).update(text)

    def _submit_ids(self) -> None:
        flow = self.draft.flow
        assert flow is not None
        name = self.query_one("#name", Input).value.strip()
        try:
            validate_name(name)
            if name in {p.name for p in self.session.profiles}:
                raise UsageError(f"a profile named {name!r} already exists")
            if self.demo is None:
                self.draft.key_id = validate_key_id(self.query_one("#key-id", Input).value)
                if flow is not Flow.PRIVATE_KEY_JWT:
                    self.draft.secret = validate_secret(self.query_one("#secret", Input).value)
            if flow is Flow.PRIVATE_KEY_JWT and self.draft.keypair is None:
                raise UsageError("generate a key pair first (ctrl+g)")
        except AlpacaTuiError as exc:
            self._ids_error(exc.message)
            return
        self._ids_error("")
        self.draft.name = name
        self._advance()

    def action_reveal(self) -> None:
        secret = self.query_one("#secret", Input)
        secret.password = not secret.password

    @on(Button.Pressed, "#generate")
    def _generate_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_generate()

    def action_generate(self) -> None:
        if self.draft.flow is not Flow.PRIVATE_KEY_JWT or STEPS[self.step][0] != "step-ids":
            return
        self.query_one("#keypair-info", Static).update("generating an ES256 key pair…")
        generate_keypair_in_worker(self)

    def on_key_pair_ready(self, message: KeyPairReady) -> None:
        message.stop()
        pair = message.pair
        self.draft.keypair = pair
        self.query_one("#keypair-info", Static).update(
            f"{pair.alg} key pair generated · public key sha256 {pair.fingerprint} · register this public "
            "key with Alpaca (F2: PEM / JWK, ctrl+y copies); the private key stays in the secret store")
        self.public_format = "pem"
        self._show_public()
        self._ids_error("")

    def public_text(self) -> str:
        pair = self.draft.keypair
        if pair is None:
            return ""
        if self.public_format == "pem":
            return pair.public_pem
        kid = self.query_one("#key-id", Input).value.strip() if self.demo is None else ""
        return services.public_jwk_text(pair, kid=kid or None)

    def _show_public(self) -> None:
        self.query_one("#public-key", TextArea).text = self.public_text()

    def action_toggle_jwk(self) -> None:
        if self.draft.keypair is None:
            return
        self.public_format = "jwk" if self.public_format == "pem" else "pem"
        self._show_public()

    @on(Button.Pressed, "#copy-public")
    def _copy_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_copy_public()

    def action_copy_public(self) -> None:
        if self.draft.keypair is None:
            return
        self.app.copy_to_clipboard(self.public_text())
        self.notify(f"public key ({self.public_format.upper()}) copied to the clipboard (OSC 52)")

    # -- step 4: expiry -----------------------------------------------------------------
    @on(OptionList.OptionSelected, "#expiry-list")
    def _expiry_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._pick_expiry(event.option.id or "never")

    def _pick_expiry(self, key: str) -> None:
        if key == "custom":
            date_in = self.query_one("#expiry-date", Input)
            date_in.display = True
            focus_now(date_in)
            return
        self.draft.expiry_spec = key
        self.draft.expires_at = parse_expiry(key, self.session.clock.now())
        self._advance()

    @on(Input.Submitted, "#expiry-date")
    def _date_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit_custom_date(event.value)

    def _submit_custom_date(self, value: str) -> None:
        err = self.query_one("#expiry-error", Label)
        try:
            if not value.strip():
                raise UsageError("enter a date as YYYY-MM-DD")
            expires_at = parse_expiry(value, self.session.clock.now())
            if expires_at is None:
                raise UsageError("enter a date as YYYY-MM-DD")
        except UsageError as exc:
            err.update(exc.message)
            return
        err.update("")
        self.draft.expiry_spec = value.strip()
        self.draft.expires_at = expires_at
        self._advance()

    # -- step 5: access -----------------------------------------------------------------
    @on(OptionList.OptionSelected, "#access-list")
    def _preset_selected(self, event: OptionList.OptionSelected) -> None:
        """Read only / Full set the whole matrix and move on; Custom edits the matrix as it is
        (read only to start with: access is only ever added on purpose)."""
        event.stop()
        matrix = self.query_one("#matrix", ScopeMatrix)
        if event.option.id == "custom":
            focus_now(matrix)
            return
        matrix.set_access(AccessMatrix.full() if event.option.id == "full" else AccessMatrix.read_only())
        self.draft.access = matrix.access
        self._advance()

    @on(ScopeMatrix.Changed)
    def _matrix_changed(self, event: ScopeMatrix.Changed) -> None:
        event.stop()
        self.draft.access = event.access
        al = self.query_one("#access-list", OptionList)
        idx = [k for k, _ in ACCESS_PRESETS].index(event.access.preset_name)
        if al.highlighted != idx and event.access.preset_name == "custom":
            al.highlighted = idx

    # -- step 6: review + save ----------------------------------------------------------
    def _final_access(self) -> AccessMatrix:
        env = self.draft.env
        if env is not None and not env.is_broker:
            return AccessMatrix.full()
        return self.draft.access or AccessMatrix.read_only()

    def _review_text(self) -> Text:
        d = self.draft
        assert d.env is not None and d.flow is not None
        now = self.session.clock.now()
        access = self._final_access()
        t = Text()

        def row(label: str, value: str | Text, style: str = "") -> None:
            t.append(f"{label:<13}", style="dim")
            t.append(value if isinstance(value, Text) else Text(value, style=style))
            t.append("\n")

        row("Name", d.name, "bold")
        row("Environment", d.env.label + ("  ⚠ real money" if d.env.is_live else ""),
            "bold orange1" if d.env.is_live else "")
        row("Flow", d.flow.label)
        if self.demo is not None:
            row("Key ID", "issued by the emulator on save" if d.flow is not Flow.PRIVATE_KEY_JWT
                else "issued by the emulator; public key registered on save")
        else:
            row("Key ID", mask(d.key_id))
            if d.flow is not Flow.PRIVATE_KEY_JWT:
                row("Secret", mask(d.secret) + "  (goes to the secret store only)")
        if d.keypair is not None:
            row("Key pair", f"{d.keypair.alg}, public key sha256 {d.keypair.fingerprint}")
        row("Expires", "never" if d.expires_at is None
            else f"{stamp(d.expires_at)} ({describe_expiry(d.expires_at, now)})")
        row("Access", access_brief(access) if d.env.is_broker else "full (trading keys have no scopes)")
        row("Secret store", self.session.backend_label)
        warnings: list[str] = []
        if self.demo is None and d.key_id:
            warnings += key_id_warnings(d.key_id, d.env)
        danger = access.dangerous_writes() if d.env.is_broker else []
        if danger:
            warnings.append("write access to " + ", ".join(s.label for s in danger)
                            + ": this credential can move money or change administration")
        for w in warnings:
            t.append(f"⚠ {w}\n", style="bold red" if danger else "bold yellow")
        t.append("\nPress enter to save.", style="dim")
        return t

    def save(self) -> None:
        if self.saving:
            return
        self.saving = True
        self.query_one("#save-status", Label).update("saving…")
        self._save_worker()

    def _build(self) -> tuple[Profile, SecretBundle]:
        d = self.draft
        assert d.env is not None and d.flow is not None
        access = self._final_access()
        now = self.session.clock.now()
        endpoints: dict[Any, str] = {}
        alg = fp = None
        if d.keypair is not None:
            alg, fp = d.keypair.alg, d.keypair.fingerprint
        if self.demo is not None:
            self.post_message(Progress("creating the credential on the emulator…"))
            secret = services.demo_issue(self.demo, d.env, d.flow, access=access, expires_at=d.expires_at,
                                         keypair=d.keypair)
            endpoints = services.demo_endpoints(self.demo, d.env)
        elif d.keypair is not None:
            secret = Secret(key_id=d.key_id, private_key_pem=d.keypair.private_pem, alg=d.keypair.alg)
        else:
            secret = Secret(key_id=d.key_id, secret=d.secret)
        profile = Profile(name=d.name, env=d.env, flow=d.flow, key_id_masked=mask(secret.key_id),
                          access=access, expires_at=d.expires_at, created_at=now, endpoints=endpoints,
                          alg=alg, public_key_fingerprint=fp)
        return profile, SecretBundle(active=secret)

    @work(thread=True, exclusive=True, group="wizard-save", exit_on_error=False)
    def _save_worker(self) -> None:
        try:
            profile, bundle = self._build()
            self.post_message(Progress("saving to the secret store…"))
            store = self.session.require_store()
            store.add_profile(profile, bundle)
        except Exception as exc:
            self.post_message(OperationFailed("save", services.one_line(exc)))
            return
        self.post_message(ProfileSaved(profile))

    def on_progress(self, message: Progress) -> None:
        message.stop()
        self.query_one("#save-status", Label).update(message.text)

    def on_operation_failed(self, message: OperationFailed) -> None:
        message.stop()
        self.saving = False
        if STEPS[self.step][0] == "step-ids":
            self._ids_error(f"{message.what} failed: {message.error}")
        self.query_one("#save-status", Label).update(Text(f"✗ {message.what} failed: {message.error}",
                                                          style="bold red"))

    def on_profile_saved(self, message: ProfileSaved) -> None:
        message.stop()
        self.saving = False
        self.dismiss(message.profile)
