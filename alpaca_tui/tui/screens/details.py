"""Credential details and, for OAuth credentials, the live access-token panel."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from alpaca_tui.core.credentials import Profile, SecretBundle
from alpaca_tui.core.environments import resolve_endpoints
from alpaca_tui.core.redact import mask
from alpaca_tui.tui import safe, services
from alpaca_tui.tui.format import FLOW_SHORT, access_brief, expiry_badge
from alpaca_tui.tui.messages import BundleLoaded, OperationFailed, ProfilesChanged
from alpaca_tui.tui.screens.base import ProfileScreen
from alpaca_tui.tui.widgets.proxy_panel import ProxyPanel
from alpaca_tui.tui.widgets.scope_matrix import ScopeMatrix
from alpaca_tui.tui.widgets.token_panel import TokenPanel

if TYPE_CHECKING:
    from alpaca_tui.tui.session import Session


def _key_state(p: Profile | None) -> tuple[object, ...] | None:
    """What changes when the credential's secret does (rotation, rollback, retirement)."""
    return None if p is None else (p.key_id_masked, p.rotated_at, p.rotation_state, p.previous_retire_at)


class DetailsScreen(ProfileScreen):
    BODY_ID = "details-body"
    TICKS = True  # notices when another process edits or deletes the credential
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", tooltip="Back to the credential list", id="details.back"),
        Binding("f", "refresh_token", "Refresh token", tooltip="Fetch a new access token now (OAuth)",
                id="details.refresh-token"),
        Binding("c", "check", "Check", tooltip="Connectivity check", id="details.check"),
        Binding("t", "tester", "Tester", tooltip="Request tester with this credential", id="details.tester"),
        Binding("r", "rotate", "Rotate", tooltip="Rotate this credential", id="details.rotate"),
        Binding("v", "reveal", "Reveal",
                tooltip="Show / hide the key ID and secret (hidden again on leaving)", id="details.reveal"),
        Binding("q", "app.quit", "Quit", show=False, id="details.quit"),
    ]

    def __init__(self, session: Session, name: str) -> None:
        super().__init__(session, name, classes="details-screen")
        self.revealed: SecretBundle | None = None
        self._revealed_for: tuple[object, ...] | None = None  # _key_state when revealed

    def compose_body(self) -> ComposeResult:
        p = self.profile
        if p is not None and p.flow.is_oauth and self.session.allows("refresh_token"):
            yield TokenPanel(p.name, engine=self.session.engine, clock=self.session.clock,
                             refresh_ahead=self.session.refresh_ahead, interval=self.session.tick_seconds,
                             local_time=self.session.local_time,
                             id="token-panel")
        yield Static("", id="facts")
        if p is not None and p.env.is_broker:
            yield ScopeMatrix(p.access, read_only=True, id="details-matrix")
        store = self.session.store
        yield ProxyPanel(store.home if store is not None else None, self.profile_name, id="proxy-panel")

    PROXY_EVERY = 2   # ticks between two looks at the running proxies and the audit log

    def on_mount(self) -> None:
        p = self.profile
        self.title = f"details · {p.name if p else self.profile_name}"
        self.render_facts()
        self._ticks = 0
        self.query_one(ProxyPanel).poll()
        if p is not None and not p.flow.is_oauth:
            self.query_one("#facts", Static).border_subtitle = "key + secret: no access token (f n/a)"

    def tick(self) -> None:
        self._ticks += 1
        if self._ticks % self.PROXY_EVERY == 0:
            self.query_one(ProxyPanel).poll()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.session.allows(action):
            return False  # a viewer: out of the footer
        if action == "refresh_token":
            p = self.profile
            return bool(p and p.flow.is_oauth)
        return True

    def on_screen_suspend(self) -> None:
        for panel in self.query(TokenPanel):
            panel.pause()
        self._hide_secrets()

    def on_screen_resume(self) -> None:
        for panel in self.query(TokenPanel):
            if panel.engine is None:
                panel.engine = self.session.engine
            panel.resume()

    def on_profiles_changed(self, message: ProfilesChanged) -> None:
        if self.leave_if_deleted():
            return
        if not self.session.allows("refresh_token"):
            for viewer_panel in self.query(TokenPanel):
                viewer_panel.remove()  # a viewer has no access token to show
        if self.revealed is not None and _key_state(self.profile) != self._revealed_for:
            self.revealed = None  # rotated (here or elsewhere): never show a stale secret
        for panel in self.query(TokenPanel):
            if panel.engine is None and self.session.engine is not None:
                panel.set_engine(self.session.engine)
        self.render_facts()

    def render_facts(self) -> None:
        p = self.profile
        facts = self.query_one("#facts", Static)
        if p is None:
            facts.update("credential not found")
            return
        now = self.session.clock.now()
        t = Table.grid(padding=(0, 1))
        t.add_column(style="dim", no_wrap=True, width=13)
        t.add_column(ratio=1)

        def row(label: str, value: str | Text, style: str = "") -> None:
            # every value is shown as data (safe.shown): stored fields come from a file,
            # the last check's error from a server
            t.add_row(Text(label), value if isinstance(value, Text) else safe.shown(value, style=style))

        row("Environment", p.env.label + ("  ⚠ real money" if p.env.is_live else ""),
            "bold orange1" if p.env.is_live else "bold")
        row("Flow", f"{p.flow.label} ({FLOW_SHORT[p.flow]})")
        if self.revealed is not None:
            row("Key ID", self.revealed.active.key_id, "bold")
            if self.revealed.active.secret:
                row("Secret", self.revealed.active.secret, "bold yellow")
            if self.revealed.active.private_key_pem:
                row("Private key", "PEM in the secret store (not shown)")
        elif not self.session.allows("reveal"):
            row("Key ID", p.key_id_masked)
            row("Secret", "in the shared store (not readable with a viewer's token)", "dim")
        else:
            row("Key ID", p.key_id_masked)
            row("Secret", "•••••• (v reveals)" if p.flow.value != "private-key-jwt" else
                f"private key {p.alg or ''} in the secret store")
        if p.public_key_fingerprint:
            row("Public key", f"sha256 {p.public_key_fingerprint}")
        row("Access", access_brief(p.access) if p.env.is_broker else "full (trading keys have no scopes)",
            "bold red" if p.env.is_broker and p.access.dangerous_writes() else "")
        badge = expiry_badge(p.expires_at, now)
        row("Expires", Text.assemble(badge, "  ", self.expiry_words(p.expires_at, now)))
        row("Created", self.when(p.created_at))
        row("Rotated", self.when(p.rotated_at))
        if p.last_verified_at is None:
            row("Verified", "never (c checks)")
        else:
            row("Verified", Text.assemble(self.when(p.last_verified_at), "  ",
                                          ("ok", "green") if p.last_check_ok else
                                          (f"failed: {safe.plain(p.last_check_error or '')}", "red")))
        if p.rotation_state:
            retire = f", old key kept until {self.when(p.previous_retire_at)}" if p.previous_retire_at else ""
            row("Rotation", f"{p.rotation_state}{retire}", "yellow")
        try:
            endpoints = resolve_endpoints(p.env, p.endpoints)
        except Exception:
            endpoints = {}
        for api, url in endpoints.items():
            row(f"{api.value} URL", url, "dim")
        if p.note:
            row("Note", p.note)
        facts.update(t)

    # -- actions -------------------------------------------------------------------------
    def action_refresh_token(self) -> None:
        for panel in self.query(TokenPanel):
            if panel.engine is None:
                panel.engine = self.session.engine
            if panel.engine is None:
                self.notify("the auth engine is still loading", severity="warning")
                return
            panel.refresh_token(force=True)

    def action_check(self) -> None:
        self.tui.run_check(self.profile_name)

    def action_tester(self) -> None:
        self.tui.open_tester(self.profile_name)

    def action_rotate(self) -> None:
        self.tui.open_rotation(self.profile_name)

    def action_reveal(self) -> None:
        if self.revealed is not None:
            self._hide_secrets()
            return
        self._load_bundle()

    @work(thread=True, exclusive=True, group="reveal", exit_on_error=False)
    def _load_bundle(self) -> None:
        try:
            bundle = self.session.require_store().load_bundle(self.profile_name)
        except Exception as exc:
            self.post_message(OperationFailed("reveal", services.one_line(exc)))
            return
        self.post_message(BundleLoaded(self.profile_name, bundle))

    def on_bundle_loaded(self, message: BundleLoaded) -> None:
        message.stop()
        self.revealed = message.bundle
        self._revealed_for = _key_state(self.profile)
        self.render_facts()
        self.notify(f"secret shown for {mask(message.bundle.active.key_id)}; v hides it", timeout=3)

    def _hide_secrets(self) -> None:
        if self.revealed is not None:
            self.revealed = None
            self.render_facts()
