"""What screens and the command palette ask of the app: open a screen, start app-wide work.

:class:`AppActions` is the base of :class:`~alpaca_tui.tui.app.AlpacaTuiApp`. Screens call
these methods (``self.tui.open_wizard(env)``, ``self.tui.run_check(name)``); the palette
(``tui/commands.py``) offers the same ones. Each method checks what it needs in the
session first (a store, an engine) and says so in a toast when it is not there yet; the
blocking part runs in a worker and reports back with a message (``tui/messages.py``),
which the handlers here turn into session state, a broadcast and a toast.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual import work
from textual.app import App
from textual.message import Message

from alpaca_tui.core.credentials import Profile
from alpaca_tui.core.environments import Env
from alpaca_tui.core.errors import NotFoundError
from alpaca_tui.tui import services
from alpaca_tui.tui.messages import CheckFinished, OperationFailed, ProfileDeleted, ProfilesChanged, RoleKnown

if TYPE_CHECKING:
    from alpaca_tui.tui.session import Session


class AppActions(App[int]):
    """The app's shared actions; the app itself (``tui/app.py``) brings up the session."""

    session: Session
    _engine_loading: bool  # the engine's import worker is on its way (set by the app)
    # What was asked for while the engine loaded, by (action, profile): run once it is built
    # (``run_engine_waiters``), dropped if it fails to load. A key pressed three times waits once.
    _engine_waiters: dict[tuple[str, str], Callable[[], None]]

    def reload_profiles(self) -> object:
        """Re-read the profile list in a worker (implemented by the app)."""
        raise NotImplementedError

    def start_demo(self) -> None:
        """Switch to demo mode (implemented by the app)."""
        raise NotImplementedError

    def retry_store(self) -> None:
        """Ask for the passphrase again after a cancelled prompt (implemented by the app)."""
        raise NotImplementedError

    def _broadcast(self, make: Callable[[], Message]) -> None:
        for screen in self.screen_stack:
            screen.post_message(make())

    def _broadcast_status(self) -> None:
        """ProfilesChanged for a change beside an unchanged list (the store opened or failed, the
        engine arrived): the home screen repaints its status line and token cells, not its table."""
        self._broadcast(lambda: ProfilesChanged(rows=False))

    def _refused(self, action: str) -> bool:
        """A viewer asked for ``action`` (a key typed ahead, a stale palette): say why, once."""
        if self.session.allows(action):
            return False
        self.notify(self.session.viewer or "not allowed", title="Viewer: read-only", severity="warning",
                    timeout=6)
        return True

    # -- the store's role (a shared store's viewer) -----------------------------------------
    @work(thread=True, exclusive=True, group="role", exit_on_error=False)
    def _load_role(self) -> None:
        """A shared store's token may be a viewer's (asks the server, so off the UI thread)."""
        from alpaca_tui.core.store.access import Action

        try:
            viewer = self.session.require_store().refusal(Action.CREATE)
        except Exception as exc:  # unreachable: the list's own error says so; offer what it can
            del exc
            return
        self.post_message(RoleKnown(viewer))

    def on_role_known(self, message: RoleKnown) -> None:
        if message.viewer == self.session.viewer:
            return
        self.session.viewer = message.viewer
        self._update_subtitle()
        for screen in self.screen_stack:
            screen.refresh_bindings()
        self._broadcast(ProfilesChanged)
        if message.viewer is not None:
            self.notify(message.viewer, title="Viewer: read-only", timeout=8)

    def _update_subtitle(self) -> None:
        """The header's badge (implemented by the app)."""
        raise NotImplementedError

    # -- screens -------------------------------------------------------------------------
    def open_wizard(self, env: Env | None = None) -> None:
        from alpaca_tui.tui.dialogs.wizard import WizardScreen

        if self._refused("new"):
            return
        if self.session.store is None:
            self.notify("the secret store is locked: press u to unlock it (or start demo mode: ctrl+p)"
                        if self.session.store_locked else self.session.store_error
                        or "the secret store is still opening", severity="warning")
            return
        self.push_screen(WizardScreen(self.session, env=env), callback=self._wizard_done)

    def _wizard_done(self, profile: Profile | None) -> None:
        from alpaca_tui.tui.dialogs.confirm import ConfirmDialog

        if profile is None:
            return
        self.session.profiles = [*self.session.profiles, profile]
        self.session.focus_profile = profile.name
        self._broadcast(ProfilesChanged)
        self.reload_profiles()
        self.notify(f"saved {profile.name} ({profile.key_id_masked}) to the {self.session.backend_label}",
                    title="Credential saved")

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_check(profile.name)

        self.push_screen(ConfirmDialog(f"Saved {profile.name}",
                                       "Run a connectivity check with it now?", yes="Check now",
                                       no="Later"), callback=answered)

    def open_details(self, name: str) -> None:
        from alpaca_tui.tui.screens.details import DetailsScreen

        if self.session.profile(name) is not None:
            self.push_screen(DetailsScreen(self.session, name))

    def open_tester(self, name: str | None = None, *, method: str | None = None,
                    path: str | None = None) -> None:
        from alpaca_tui.tui.screens.tester import TesterScreen

        if self._refused("tester"):
            return
        if self.session.store is None:
            self.notify("the secret store is still opening", severity="warning")
            return
        self.push_screen(TesterScreen(self.session, name, method=method, path=path))

    def open_rotation(self, name: str) -> None:
        from alpaca_tui.tui.screens.rotation import RotationScreen

        if not self._refused("rotate") and self.session.profile(name) is not None:
            self.push_screen(RotationScreen(self.session, name))

    # -- delete --------------------------------------------------------------------------
    def request_delete(self, name: str) -> None:
        from alpaca_tui.tui.dialogs.confirm import ConfirmDialog

        profile = self.session.profile(name)
        if profile is None or self._refused("delete"):
            return
        live = "\n\n⚠ This is a LIVE (real money) credential." if profile.env.is_live else ""
        body = (f"Delete {name} ({profile.env.label}, {profile.key_id_masked})?\n\n"
                f"Its secret, cached token and index entry are removed from this machine. The credential "
                f"itself stays valid at Alpaca until you revoke it there.{live}")

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(name)

        self.push_screen(ConfirmDialog("Delete credential", body, yes="Delete", danger=True),
                         callback=answered)

    @work(thread=True, group="delete", exit_on_error=False)
    def _delete(self, name: str) -> None:
        try:
            self.session.require_store().remove_profile(name)
        except NotFoundError:
            pass
        except Exception as exc:
            self.post_message(OperationFailed(f"delete {name}", services.one_line(exc)))
            return
        self.post_message(ProfileDeleted(name))

    def on_profile_deleted(self, message: ProfileDeleted) -> None:
        session = self.session
        session.profiles = [p for p in session.profiles if p.name != message.name]
        if session.engine is not None:
            session.engine.forget(message.name)
        self.notify(f"deleted {message.name}", title="Credential deleted")
        self._broadcast(ProfilesChanged)
        self.reload_profiles()

    # -- engine work -----------------------------------------------------------------------
    def _engine_or_wait(self, action: str, name: str, then: Callable[[], None], doing: str) -> bool:
        """True when the engine is here. While it loads (the list comes first at start-up), the
        request waits for it: ``then`` runs once it is built, and the user is told so."""
        if self.session.engine is not None:
            return True
        if self._engine_loading:
            self._engine_waiters[(action, name)] = then
            self.notify(f"{doing} {name} once the auth engine has loaded…", timeout=3)
        else:
            self.notify("the auth engine is not loaded", severity="warning")
        return False

    def run_engine_waiters(self) -> None:
        """The engine is built: do what was asked for while it loaded, in the order asked."""
        waiters, self._engine_waiters = self._engine_waiters, {}
        for then in waiters.values():
            then()

    def drop_engine_waiters(self) -> None:
        """The engine failed to load (its error is shown): what waited for it is not done."""
        if self._engine_waiters:
            asked = ", ".join(f"{action} {name}" for action, name in self._engine_waiters)
            self._engine_waiters = {}
            self.notify(f"not done (no auth engine): {asked}", severity="warning", timeout=8)

    def refresh_token(self, name: str) -> None:
        if self._refused("refresh_token"):
            return
        again = partial(self.refresh_token, name)
        if not self._engine_or_wait("refresh", name, again, "refreshing the token of"):
            return
        self._refresh_token(name)

    @work(group="token", exit_on_error=False)
    async def _refresh_token(self, name: str) -> None:
        try:
            tok = await self.session.require_engine().token(name, force=True)
        except Exception as exc:
            self.post_message(OperationFailed(f"token for {name}", services.one_line(exc)))
            return
        left = tok.expires_at - self.session.clock.time()
        self.notify(f"new access token for {name}, valid {int(left // 60)}m {int(left % 60)}s",
                    title="Token refreshed")

    def run_check(self, name: str) -> None:
        if self._refused("check"):
            return
        if not self._engine_or_wait("check", name, partial(self.run_check, name), "checking"):
            return
        self.notify(f"checking {name}…", timeout=2)
        self._check(name)

    @work(group="check", exit_on_error=False)
    async def _check(self, name: str) -> None:
        try:
            results = await self.session.require_engine().check(name)
        except Exception as exc:
            self.post_message(CheckFinished(name, [], services.one_line(exc)))
            return
        self.post_message(CheckFinished(name, list(results)))

    def on_check_finished(self, message: CheckFinished) -> None:
        self.session.check_results[message.name] = message
        text = services.describe_check(message.results, message.error)
        self.notify(text, title=f"{'✓' if message.ok else '✗'} check {message.name}",
                    severity="information" if message.ok else "error", timeout=8)
        self.reload_profiles()  # the engine recorded last_verified_at / last_check_ok in the store


__all__ = ["AppActions"]
