"""The alpaca-tui Textual application.

Startup is two-phase so the first frame paints fast: the app composes the home screen
straight away, then opens the secret store (thread worker: keyring / scrypt), then
imports and builds the auth engine (httpx, cryptography) in the background. Every
blocking call runs in a worker and reports back with a message (``tui/messages.py``).
Time comes from the injected ``clock`` so countdowns are testable and snapshots frozen.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen

from alpaca_tui.core.clock import SYSTEM_CLOCK, Clock
from alpaca_tui.core.credentials import Profile
from alpaca_tui.core.environments import Env
from alpaca_tui.core.errors import AlpacaTuiError, NotFoundError, StoreError
from alpaca_tui.tui import services
from alpaca_tui.tui.commands import AlpacaCommands
from alpaca_tui.tui.messages import (
    CheckFinished,
    EngineReady,
    OperationFailed,
    ProfileDeleted,
    ProfilesChanged,
    ProfilesLoaded,
    StoreFailed,
    StoreReady,
    StoreRepaired,
)
from alpaca_tui.tui.watch import IndexWatch

PassphraseAsk = Callable[[bool, str | None], str]
StoreOpener = Callable[[PassphraseAsk], Any]


class StoreCancelled(AlpacaTuiError):
    """The user cancelled the passphrase prompt."""


class AlpacaTuiApp(App[int]):
    """Environments & credentials, wizard, token panel, request tester, rotation, help."""

    CSS_PATH = "app.tcss"
    TITLE = "alpaca-tui"
    COMMANDS: ClassVar[set[Any]] = {*App.COMMANDS, AlpacaCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help", key_display="F1"),
        Binding("question_mark", "help", "Help", show=False),
    ]

    def __init__(self, *, store: Any = None, store_opener: StoreOpener | None = None,
                 demo: Any = None, demo_factory: Callable[[], Any] | None = None,
                 clock: Clock = SYSTEM_CLOCK, engine: Any = None, refresh_ahead: float = 60.0,
                 offer_demo: bool = True, tick: float = 1.0,
                 engine_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.clock = clock
        self.store: Any = store
        self.demo: Any = demo
        self.engine: Any = engine
        self.refresh_ahead = refresh_ahead
        self.tick_seconds = tick
        self.offer_demo = offer_demo
        self.engine_options = dict(engine_options or {})
        self.profiles: list[Profile] = []
        self.profiles_loaded = False
        self.store_error: str | None = None
        self.check_results: dict[str, CheckFinished] = {}
        self.request_history: list[Any] = []
        self._store_opener = store_opener
        self._demo_factory = demo_factory
        self.demo_session: Any = None
        self._demo_offered = False
        self._pending_answers: list[Any] = []  # prompts a worker thread is waiting on
        self._index_watch: IndexWatch | None = None  # changes other processes make to the store
        self._reload_lock = threading.Lock()  # profile lists arrive in the order they were read

    # -- properties used by the screens ------------------------------------------------
    @property
    def backend_label(self) -> str:
        if self.store is None:
            return "secret store: opening…" if self.store_error is None else "secret store: unavailable"
        return str(getattr(self.store, "backend_label", "secret store"))

    def require_store(self) -> Any:
        if self.store is None:
            raise StoreError(self.store_error or "the secret store is not open yet")
        return self.store

    def profile(self, name: str) -> Profile | None:
        return next((p for p in self.profiles if p.name == name), None)

    def _update_subtitle(self) -> None:
        badge = f"🔒 {self.backend_label}"
        if self.demo is not None:
            badge += " · DEMO (local emulator)"
        self.sub_title = badge

    # -- startup -------------------------------------------------------------------------
    def get_default_screen(self) -> Screen[Any]:
        from alpaca_tui.tui.screens.home import HomeScreen

        return HomeScreen()

    def on_mount(self) -> None:
        self._update_subtitle()
        if not self.is_headless:
            self._install_signal_handlers()
        if self.store is not None:
            self._store_ready()
        elif self._demo_factory is not None or self._store_opener is not None:
            # after the first frame is on screen: the store / emulator start competes for the GIL
            self.call_after_refresh(self._open_store)
        else:
            self.store_error = "no secret store configured"

    @work(thread=True, exclusive=True, group="store", exit_on_error=False)
    def _open_store(self) -> None:
        try:
            if self._demo_factory is not None:
                session = self._demo_factory()
                self.demo_session = session
                self.post_message(StoreReady(session.store, demo=session.demo))
                return
            assert self._store_opener is not None
            store = self._store_opener(self._ask_passphrase)
        except Exception as exc:  # shown on the home screen, one line
            self.post_message(StoreFailed(services.one_line(exc)))
            return
        self.post_message(StoreReady(store))

    def _ask_passphrase(self, creating: bool, error: str | None = None) -> str:
        """Called from the store worker thread; blocks it until the modal is answered."""
        import concurrent.futures

        from alpaca_tui.tui.dialogs.passphrase import PassphraseDialog

        answer: concurrent.futures.Future[str | None] = concurrent.futures.Future()
        self._pending_answers.append(answer)

        def show() -> None:
            def done(value: str | None) -> None:
                if not answer.done():
                    answer.set_result(value)

            self.push_screen(PassphraseDialog(creating=creating, error=error), callback=done)

        try:
            self.call_from_thread(show)
            value = answer.result()
        finally:
            self._pending_answers.remove(answer)
        if value is None:
            raise StoreCancelled("the secret store stays locked (passphrase prompt cancelled)")
        return value

    def on_store_ready(self, message: StoreReady) -> None:
        self.store = message.store
        if message.demo is not None:
            self.demo = message.demo
        self.store_error = None
        self._store_ready()

    def _store_ready(self) -> None:
        self._update_subtitle()
        # Repairs made while opening (a rotation killed half-way), then any made later by a
        # worker thread: each is shown once. post_message is safe from any thread.
        for note in list(getattr(self.store, "repair_notes", None) or []):
            self.post_message(StoreRepaired(note))
        if hasattr(self.store, "on_repair"):
            self.store.on_repair = lambda note: self.post_message(StoreRepaired(note))
        index_path = getattr(self.store, "index_path", None)
        self._index_watch = IndexWatch(index_path) if index_path is not None else None
        self.reload_profiles()
        if self.engine is None:
            self._load_engine()
        else:
            self._broadcast(ProfilesChanged)

    def on_store_repaired(self, message: StoreRepaired) -> None:
        self.notify(message.note, title="Secret store repaired", severity="warning", timeout=10)

    def on_store_failed(self, message: StoreFailed) -> None:
        self.store_error = message.error
        self._update_subtitle()
        self._broadcast(ProfilesChanged)
        self.notify(message.error, title="Secret store", severity="error", timeout=10)

    @work(thread=True, exclusive=True, group="engine-import", exit_on_error=False)
    def _load_engine(self) -> None:
        try:  # heavy imports (httpx, cryptography) off the UI thread, after first paint
            from alpaca_tui.core.engine import Engine
        except Exception as exc:
            self.post_message(OperationFailed("engine", services.one_line(exc)))
            return
        self.post_message(EngineReady(Engine))

    def on_engine_ready(self, message: EngineReady) -> None:
        if self.engine is None:
            self.engine = message.engine_cls(self.store, clock=self.clock, refresh_ahead=self.refresh_ahead,
                                             **self.engine_options)
        self._broadcast(ProfilesChanged)

    def on_operation_failed(self, message: OperationFailed) -> None:
        self.notify(message.error, title=f"{message.what} failed", severity="error", timeout=8)

    # -- profiles ------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="profiles", exit_on_error=False)
    def reload_profiles(self) -> None:
        with self._reload_lock:  # a newer read never overtakes an older one
            watch = self._index_watch
            stamp = watch.stamp() if watch is not None else None
            try:
                profiles = self.require_store().list_profiles()
            except Exception as exc:
                self.post_message(OperationFailed("loading profiles", services.one_line(exc)))
                return
            finally:
                if watch is not None:
                    watch.loaded(stamp)
            self.post_message(ProfilesLoaded(list(profiles)))

    def poll_store(self) -> None:
        """Reload the list (in the worker above) when the index changed on disk since it was
        last read: another alpaca-tui, ``alpaca-tui profiles add/remove``, the CLI. The screens
        call this on their tick; it costs one stat(2)."""
        watch = self._index_watch
        if watch is not None and self.store is not None and watch.changed():
            self.reload_profiles()

    def on_profiles_loaded(self, message: ProfilesLoaded) -> None:
        gone = {p.name for p in self.profiles} - {p.name for p in message.profiles}
        self.profiles = message.profiles
        self.profiles_loaded = True
        forget = getattr(self.engine, "forget", None)
        for name in sorted(gone):  # removed by another process (our own deletes are gone already)
            if callable(forget):
                forget(name)  # drop its secret and token from memory
            self.notify(f"{name} was removed from this store by another process",
                        title="Credential removed", timeout=5)
        self._broadcast(ProfilesChanged)
        if not self.profiles and self.demo is None and self.offer_demo and not self._demo_offered:
            self._demo_offered = True
            self._offer_demo()

    def _broadcast(self, message_cls: type[Any]) -> None:
        for screen in self.screen_stack:
            screen.post_message(message_cls())

    def _offer_demo(self) -> None:
        from alpaca_tui.tui.dialogs.confirm import ConfirmDialog

        body = ("There are no credentials in this store yet.\n\n"
                "Demo mode starts a local Alpaca emulator on 127.0.0.1 with a throwaway store, seeded "
                "with one credential per environment and flow. Nothing leaves this machine and "
                "nothing is kept.\n\nOr answer no and press n to add your first credential.")

        def answered(yes: bool | None) -> None:
            if yes:
                self.start_demo()

        self.push_screen(ConfirmDialog("Welcome to alpaca-tui", body, yes="Start demo", no="Not now"),
                         callback=answered)

    def start_demo(self) -> None:
        """Switch this session to demo mode (emulator + throwaway store)."""
        from alpaca_tui.tui.demo_session import DemoStarter

        self.store = None
        self.engine = None
        self.profiles = []
        self._demo_factory = DemoStarter()
        self._update_subtitle()
        self.notify("starting the local emulator…", title="Demo mode")
        self._open_store()

    # -- shared actions (screens and the command palette call these) --------------------
    def action_help(self) -> None:
        from alpaca_tui.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def open_wizard(self, env: Env | None = None) -> None:
        from alpaca_tui.tui.dialogs.wizard import WizardScreen

        if self.store is None:
            self.notify(self.store_error or "the secret store is still opening", severity="warning")
            return
        self.push_screen(WizardScreen(env=env), callback=self._wizard_done)

    def _wizard_done(self, profile: Profile | None) -> None:
        from alpaca_tui.tui.dialogs.confirm import ConfirmDialog

        if profile is None:
            return
        self.profiles = [*self.profiles, profile]
        self._broadcast(ProfilesChanged)
        self.reload_profiles()
        self.notify(f"saved {profile.name} ({profile.key_id_masked}) to the {self.backend_label}",
                    title="Credential saved")

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_check(profile.name)

        self.push_screen(ConfirmDialog(f"Saved {profile.name}",
                                       "Run a connectivity check with it now?", yes="Check now",
                                       no="Later"), callback=answered)

    def open_details(self, name: str) -> None:
        from alpaca_tui.tui.screens.details import DetailsScreen

        if self.profile(name) is not None:
            self.push_screen(DetailsScreen(name))

    def open_tester(self, name: str | None = None, *, method: str | None = None,
                    path: str | None = None) -> None:
        from alpaca_tui.tui.screens.tester import TesterScreen

        if self.store is None:
            self.notify("the secret store is still opening", severity="warning")
            return
        self.push_screen(TesterScreen(name, method=method, path=path))

    def open_rotation(self, name: str) -> None:
        from alpaca_tui.tui.screens.rotation import RotationScreen

        if self.profile(name) is not None:
            self.push_screen(RotationScreen(name))

    def request_delete(self, name: str) -> None:
        from alpaca_tui.tui.dialogs.confirm import ConfirmDialog

        profile = self.profile(name)
        if profile is None:
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
            self.require_store().remove_profile(name)
        except NotFoundError:
            pass
        except Exception as exc:
            self.post_message(OperationFailed(f"delete {name}", services.one_line(exc)))
            return
        self.post_message(ProfileDeleted(name))

    def on_profile_deleted(self, message: ProfileDeleted) -> None:
        self.profiles = [p for p in self.profiles if p.name != message.name]
        forget = getattr(self.engine, "forget", None)
        if callable(forget):
            forget(message.name)
        self.notify(f"deleted {message.name}", title="Credential deleted")
        self._broadcast(ProfilesChanged)
        self.reload_profiles()

    def refresh_token(self, name: str) -> None:
        if self.engine is None:
            self.notify("the auth engine is still loading", severity="warning")
            return
        self._refresh_token(name)

    @work(group="token", exit_on_error=False)
    async def _refresh_token(self, name: str) -> None:
        try:
            tok = await self.engine.token(name, force=True)
        except Exception as exc:
            self.post_message(OperationFailed(f"token for {name}", services.one_line(exc)))
            return
        left = tok.expires_at - self.clock.time()
        self.notify(f"new access token for {name}, valid {int(left // 60)}m {int(left % 60)}s",
                    title="Token refreshed")

    def run_check(self, name: str) -> None:
        if self.engine is None:
            self.notify("the auth engine is still loading; try again in a moment", severity="warning")
            return
        self.notify(f"checking {name}…", timeout=2)
        self._check(name)

    @work(group="check", exit_on_error=False)
    async def _check(self, name: str) -> None:
        try:
            results = await self.engine.check(name)
        except Exception as exc:
            self.post_message(CheckFinished(name, [], services.one_line(exc)))
            return
        self.post_message(CheckFinished(name, list(results)))

    def on_check_finished(self, message: CheckFinished) -> None:
        self.check_results[message.name] = message
        text = services.describe_check(message.results, message.error)
        self.notify(text, title=f"{'✓' if message.ok else '✗'} check {message.name}",
                    severity="information" if message.ok else "error", timeout=8)
        self.reload_profiles()  # the engine recorded last_verified_at / last_check_ok in the store

    # -- shutdown ------------------------------------------------------------------------
    def close_demo(self) -> None:
        """Stop the demo emulator and delete its throwaway home (after the app has exited)."""
        closer = getattr(self._demo_factory, "close", None)
        if callable(closer):
            closer()
        elif self.demo_session is not None:
            self.demo_session.close()

    def _install_signal_handlers(self) -> None:
        """SIGTERM / SIGHUP (ssh disconnect) exit cleanly: terminal restored, demo cleaned up."""
        import asyncio
        import signal

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            try:
                loop.add_signal_handler(sig, lambda: self.exit(0))
            except (NotImplementedError, RuntimeError, ValueError):
                pass

    async def action_quit(self) -> None:
        await self.shutdown()
        self.exit(0)

    def on_unmount(self) -> None:
        # a store worker blocked on a prompt must not outlive the app (it would hang the exit)
        for answer in list(self._pending_answers):
            if not answer.done():
                answer.set_result(None)

    async def shutdown(self) -> None:
        engine, self.engine = self.engine, None
        if engine is not None:
            try:
                await engine.aclose()
            except Exception as exc:  # closing sockets at exit; nothing useful to tell the user
                del exc


def _default_store_opener(ask: PassphraseAsk) -> Any:
    return services.open_store(ask)


def run_app() -> int:
    """``alpaca-tui`` with no arguments: open the store (asking for a passphrase in a modal when
    the encrypted-file backend needs one and ALPACA_TUI_PASSPHRASE_FILE is unset) and run."""
    app = AlpacaTuiApp(store_opener=_default_store_opener,
                       offer_demo=not os.environ.get("ALPACA_TUI_NO_DEMO_OFFER"))
    try:
        result = app.run()
    finally:
        app.close_demo()
    return int(result or 0)


__all__ = ["AlpacaTuiApp", "run_app"]
