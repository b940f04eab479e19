"""The alpaca-tui Textual application.

Startup is two-phase so the first frame paints fast: the app composes the home screen
straight away, then opens the secret store (thread worker: keyring / scrypt), then
imports and builds the auth engine (httpx, cryptography) in the background. Every
blocking call runs in a worker and reports back with a message (``tui/messages.py``).
Time comes from the injected ``clock`` so countdowns are testable and snapshots frozen.

The app owns the :class:`~alpaca_tui.tui.session.Session` (store, engine, demo issuer,
clock, the profile list) and is its only writer; every screen gets the same session in its
constructor. Screens call the app's shared actions (``tui/actions.py``: ``open_wizard``,
``run_check``, ...) to navigate or start app-wide work.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.binding import BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen

from alpaca_tui.core import gcpause
from alpaca_tui.core.clock import SYSTEM_CLOCK, Clock
from alpaca_tui.core.config import Config, load_config
from alpaca_tui.core.credentials import Profile
from alpaca_tui.core.errors import AlpacaTuiError
from alpaca_tui.core.store.fileindex import FileIndex
from alpaca_tui.tui import safe, services
from alpaca_tui.tui.commands import AlpacaCommands
from alpaca_tui.tui.keys import APP_BINDINGS
from alpaca_tui.tui.messages import (
    CheckFinished,
    EngineReady,
    OperationFailed,
    ProfilesChanged,
    ProfilesLoaded,
    StoreFailed,
    StoreReady,
    StoreRepaired,
)
from alpaca_tui.tui.session import DemoIssuer, Session
from alpaca_tui.tui.startup import DemoChosen, QuitChosen, StartupPrompts, StoreCancelled
from alpaca_tui.tui.watch import IndexWatch

if TYPE_CHECKING:
    from concurrent.futures import Future

    from alpaca_tui.core.engine import Engine
    from alpaca_tui.core.store import Store
    from alpaca_tui.tui.demo_session import DemoSession
    from alpaca_tui.tui.messages import RequestRecord

PassphraseAsk = Callable[[bool, str | None], str]
ENGINE_DELAY = 0.1  # seconds between a list arriving and the engine's imports starting
StoreOpener = Callable[[PassphraseAsk], "Store"]


class AlpacaTuiApp(StartupPrompts):
    """Environments & credentials, wizard, token panel, request tester, rotation, help."""

    CSS_PATH = "app.tcss"
    TITLE = "alpaca-tui"
    COMMANDS: ClassVar[set[Any]] = {AlpacaCommands}  # ours first, then Textual's (commands.py)
    BINDINGS: ClassVar[list[BindingType]] = [*APP_BINDINGS]

    def __init__(self, *, store: Store | None = None, store_opener: StoreOpener | None = None,
                 demo: DemoIssuer | None = None, demo_factory: Callable[[], DemoSession] | None = None,
                 clock: Clock = SYSTEM_CLOCK, engine: Engine | None = None, refresh_ahead: float = 60.0,
                 offer_demo: bool = True, tick: float = 1.0,
                 engine_options: dict[str, Any] | None = None, config: Config | None = None) -> None:
        super().__init__()
        self.config = config or Config()  # config.toml: keymap, theme, time zone, timeout
        self.session = Session(clock=clock, store=store, engine=engine, demo=demo,
                               refresh_ahead=refresh_ahead, tick_seconds=tick,
                               local_time=self.config.local_time, keymap=dict(self.config.keymap))
        self.offer_demo = offer_demo
        self.engine_options = {"timeout": self.config.timeout, **(engine_options or {})}  # for Engine(...)
        self._store_opener = store_opener
        self._demo_factory = demo_factory
        self.demo_session: DemoSession | None = None
        self._demo_offered = False
        self._pending_answers: list[Future[Any]] = []  # prompts a worker thread waits on
        self._index_watch: IndexWatch | None = None  # changes other processes make to the store
        self._index_is_local = True                  # index.json: polled with one stat per tick
        self._peeked: services.Peek | None = None    # the list peek showed, while the store opens
        self._reload_lock = threading.Lock()  # profile lists arrive in the order they were read
        self._clashes_told: set[str] = set()
        self._engine_loading = False  # the engine's import worker is on its way
        self._engine_waiters = {}     # checks and refreshes asked for while it loads (AppActions)

    # -- the session, read-only here (tests and scripts read these) ----------------------
    @property
    def store(self) -> Store | None:
        return self.session.store

    @property
    def engine(self) -> Engine | None:
        return self.session.engine

    @property
    def demo(self) -> DemoIssuer | None:
        return self.session.demo

    @property
    def clock(self) -> Clock:
        return self.session.clock

    @property
    def profiles(self) -> list[Profile]:
        return self.session.profiles

    @property
    def profiles_loaded(self) -> bool:
        return self.session.profiles_loaded

    @property
    def store_error(self) -> str | None:
        return self.session.store_error

    @property
    def check_results(self) -> dict[str, CheckFinished]:
        return self.session.check_results

    @property
    def request_history(self) -> list[RequestRecord]:
        return self.session.request_history

    def profile(self, name: str) -> Profile | None:
        return self.session.profile(name)

    def _update_subtitle(self) -> None:
        badge = f"🔒 {self.session.backend_label}"
        if self.session.viewer is not None:
            badge += " · viewer"
        if self.session.demo is not None:
            badge += " · DEMO (local emulator)"
        self.sub_title = badge

    # -- startup -------------------------------------------------------------------------
    def get_default_screen(self) -> Screen[Any]:
        from alpaca_tui.tui.screens.home import HomeScreen

        return HomeScreen(self.session)

    def on_mount(self) -> None:
        # `alpaca-tui` paused the cyclic collector for start-up: on again once this first frame is
        # painted, with what start-up built frozen out of its reach (core/gcpause.py)
        self.call_after_refresh(gcpause.resume, freeze=True)
        self.apply_config()
        self._update_subtitle()
        if not self.is_headless:
            self._install_signal_handlers()
        if self.session.store is not None:
            self._store_ready()
        elif self._demo_factory is not None:  # `alpaca-tui demo` seeds it in a child process
            ready = getattr(self._demo_factory, "ready_now", None)
            if ready is not None and ready():
                self._open_demo_now()  # it has reported already: the first frame has the list
            else:
                self._open_store()  # this worker waits for it
        elif self._store_opener is not None:
            peek = getattr(self._store_opener, "peek", None)
            if peek is not None:  # the list from the index file alone, before the secret store opens
                quick = getattr(self._store_opener, "peek_is_quick", None)
                if quick is not None and quick():
                    self._peek_now(peek, self._handle_now)  # a local file: in the first frame
                else:
                    self._peek_profiles(peek)
            self.call_after_refresh(self._open_store)  # after the first frame: it competes for the GIL
        else:
            self.session.store_error = "no secret store configured"

    @work(thread=True, exclusive=True, group="store", exit_on_error=False)
    def _open_store(self) -> None:
        try:
            if self._demo_factory is not None:
                demo_session = self._demo_factory()
                self.demo_session = demo_session
                self.post_message(StoreReady(demo_session.store, demo=demo_session.demo))
                return
            assert self._store_opener is not None
            store = self._store_opener(self.ask_passphrase)
        except DemoChosen:
            self.call_from_thread(self.start_demo)
            return
        except QuitChosen:
            self.call_from_thread(self.exit, 0)
            return
        except StoreCancelled as exc:  # locked, not broken: the home screen offers to unlock
            self.post_message(StoreFailed(exc.message, locked=True))
            return
        except Exception as exc:  # shown on the home screen, one line
            self.post_message(StoreFailed(services.one_line(exc)))
            return
        self.post_message(StoreReady(store))

    def _open_demo_now(self) -> None:
        """The demo child's session, taken on the UI thread (its report is in the pipe already:
        no wait) and handled at once, so its list is in the first frame."""
        assert self._demo_factory is not None
        try:
            demo_session = self._demo_factory()
        except Exception as exc:
            self.on_store_failed(StoreFailed(services.one_line(exc)))
            return
        self.demo_session = demo_session
        self.on_store_ready(StoreReady(demo_session.store, demo=demo_session.demo))

    @work(thread=True, exclusive=True, group="peek", exit_on_error=False)
    def _peek_profiles(self, peek: Callable[[], services.Peek | None]) -> None:
        self._peek_now(peek, self.post_message)

    def _peek_now(self, peek: Callable[[], services.Peek | None],
                  deliver: Callable[[ProfilesLoaded], object]) -> None:
        """``peek`` and show its list: from a worker (``deliver=post_message``) or, for a small
        local index, right here on the UI thread (handled at once: the first frame has it)."""
        with self._reload_lock:
            peeked = peek()
            if peeked is not None and self.session.store is None:  # else the store's own list is on its way
                self._peeked = peeked  # with its stamp: _store_ready reads again only what changed
                deliver(ProfilesLoaded(peeked.profiles))

    def on_store_ready(self, message: StoreReady) -> None:
        self.session.store = message.store
        if message.demo is not None:
            self.session.demo = message.demo
        self.session.store_error = None
        self.session.store_locked = False
        self._store_ready()

    def _store_ready(self) -> None:
        store = self.session.require_store()
        self._update_subtitle()
        # Repairs made while opening (a rotation killed half-way), then any made later by a
        # worker thread: each is shown once. post_message is safe from any thread.
        for note in list(store.repair_notes or []):
            self.post_message(StoreRepaired(note))

        def repaired(note: str) -> None:
            self.post_message(StoreRepaired(note))

        store.on_repair = repaired
        self._index_watch = IndexWatch(store.index_stamp)
        index = store.index_backend
        self._index_is_local = isinstance(index, FileIndex)
        peeked, self._peeked = self._peeked, None
        if peeked is not None and not self._peek_is_current(peeked, store):
            peeked = None  # read again, below
        # the engine is loaded once this list is on screen (_engine_after_list)
        if peeked is not None:  # the list on screen is the store's: not read nor filled again
            self._index_watch.loaded(peeked.stamp)  # polls compare with what the peek read
            self._broadcast_status()  # the same rows: "N credentials · secrets in …"
            self._engine_after_list()
        elif isinstance(index, FileIndex) and services.small_index(index.path):
            self._load_profiles(self._handle_now)  # local (500 profiles: ~20 ms): before the next frame
        else:
            self.reload_profiles()
        self._load_role()
        if self.session.engine is not None and peeked is None:
            self._broadcast(ProfilesChanged)

    def _peek_is_current(self, peeked: services.Peek, store: Store) -> bool:
        """Whether the list the peek showed is the open store's, so it need not be read again: the
        store's index is the very file the peek read (local, same path), its stamp is the one taken
        before that read (a change by another process, or a repair made while opening, rewrites the
        file: a new stamp), and the peek's list is still the one shown (delivered, not replaced)."""
        index = store.index_backend
        return (isinstance(index, FileIndex) and index.path == peeked.path
                and self.session.profiles is peeked.profiles and store.index_stamp() == peeked.stamp)

    def _engine_after_list(self) -> None:
        """Import and build the engine after the first list is painted: its imports (httpx, anyio,
        cryptography) would otherwise compete with the list for the interpreter."""
        if self.session.engine is None and self.session.store is not None and not self._engine_loading:
            self._engine_loading = True  # the screens repaint the list first (their own messages)
            self.session.engine_error = None
            self.set_timer(ENGINE_DELAY, self._load_engine)

    def on_store_repaired(self, message: StoreRepaired) -> None:
        self.notify(message.note, title="Secret store repaired", severity="warning", timeout=10)

    def on_store_failed(self, message: StoreFailed) -> None:
        self.session.store_error = message.error
        self._update_subtitle()
        self._broadcast_status()  # the list shown (the peek's, if any) stays
        if message.locked:
            self.store_locked()
            return
        self.notify(message.error, title="Secret store", severity="error", timeout=10)

    def retry_store(self) -> None:
        """Ask for the passphrase again (the home screen's ``u`` after a cancelled prompt)."""
        if self.session.store is not None or self._store_opener is None:
            return
        self.session.store_error = None
        self.session.store_locked = False
        self._update_subtitle()
        self._broadcast_status()  # "opening the secret store…"
        self._open_store()

    @work(thread=True, exclusive=True, group="engine-import", exit_on_error=False)
    def _load_engine(self) -> None:
        try:  # heavy imports (httpx, cryptography) off the UI thread, after first paint
            from alpaca_tui.core.engine import Engine
        except Exception as exc:
            self.post_message(OperationFailed("engine", services.one_line(exc)))
            return
        self.post_message(EngineReady(Engine))

    def on_engine_ready(self, message: EngineReady) -> None:
        self._engine_loading = False
        session = self.session
        if session.engine is None:
            from alpaca_tui.core.wire import max_body_from_env  # loaded with the engine (httpx)

            options = dict(self.engine_options)
            if "max_body" not in options:
                try:
                    options["max_body"] = max_body_from_env()
                except AlpacaTuiError as exc:
                    self.notify(exc.message, title="ALPACA_TUI_MAX_BODY", severity="warning")
            session.engine = message.engine_cls(session.store, clock=session.clock,
                                                refresh_ahead=session.refresh_ahead, **options)
        self._broadcast_status()  # the same list: token cells, and no "loading auth engine…"
        self.run_engine_waiters()

    def on_operation_failed(self, message: OperationFailed) -> None:
        if message.what == "engine":
            self._engine_loading = False
            self.session.engine_error = message.error
            self.drop_engine_waiters()
            self._broadcast_status()  # not "loading auth engine…" any more
        elif message.what == "loading profiles":
            self._engine_after_list()
        self.notify(message.error, title=f"{message.what} failed", severity="error", timeout=8)

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Every notification is plain text, cleaned (``tui/safe.py``): what it says may come
        from a server (a check's message) or a file. Markup is never parsed, whatever the caller."""
        text, head = safe.notice(message, title)
        super().notify(text, title=head, severity=severity, timeout=timeout, markup=False)

    # -- profiles ------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="profiles", exit_on_error=False)
    def reload_profiles(self) -> None:
        self._load_profiles(self.post_message)

    def _load_profiles(self, deliver: Callable[[ProfilesLoaded | OperationFailed], object]) -> None:
        """Read the store's list and ``deliver`` it (ProfilesLoaded, or OperationFailed): the
        worker above posts it; a small local index is read and handled on the UI thread."""
        with self._reload_lock:  # a newer read never overtakes an older one
            watch = self._index_watch
            stamp = watch.stamp() if watch is not None else None
            try:
                profiles = self.session.require_store().list_profiles()
            except Exception as exc:
                deliver(OperationFailed("loading profiles", services.one_line(exc)))
                return
            finally:
                if watch is not None:
                    watch.loaded(stamp)
            deliver(ProfilesLoaded(list(profiles)))

    def _handle_now(self, message: ProfilesLoaded | OperationFailed) -> None:
        """What a worker would post, handled at once on the UI thread (the small-index reads)."""
        if isinstance(message, ProfilesLoaded):
            self.on_profiles_loaded(message)
        else:
            self.on_operation_failed(message)

    def poll_store(self) -> None:
        """Reload the list (in the worker above) when the index changed since it was last read:
        another alpaca-tui, ``alpaca-tui profiles add/remove``, the CLI, another machine on the
        shared store. The screens call this on their tick; for the local index it costs one
        stat(2), the shared store's is asked in a worker (a network round trip)."""
        watch = self._index_watch
        if watch is None or self.session.store is None:
            return
        if not self._index_is_local:
            self._poll_remote(watch)
        elif watch.changed():
            self.reload_profiles()

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False)
    def _poll_remote(self, watch: IndexWatch) -> None:
        if watch.changed():
            self.call_from_thread(self.reload_profiles)

    def on_profiles_loaded(self, message: ProfilesLoaded) -> None:
        session = self.session
        gone = session.profile_names() - {p.name for p in message.profiles}
        session.profiles = message.profiles
        session.profiles_loaded = True
        for name in sorted(gone):  # removed by another process (our own deletes are gone already)
            if session.engine is not None:
                session.engine.forget(name)  # drop its secret and token from memory
            self.notify(f"{name} was removed from this store by another process",
                        title="Credential removed", timeout=5)
        self._broadcast(ProfilesChanged)
        self._engine_after_list()
        if not session.profiles and session.demo is None and self.offer_demo and not self._demo_offered:
            self._demo_offered = True
            self._offer_demo()

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

        self._demo_offered = True
        self.session.store = None
        self.session.engine = None
        self.session.profiles = []
        self.session.store_error = None
        self.session.store_locked = False
        self._engine_loading = False
        self._engine_waiters = {}  # asked of the store left behind: not of the demo's
        self._demo_factory = DemoStarter()
        self._update_subtitle()
        self.notify("starting the local emulator…", title="Demo mode")
        self._open_store()

    # -- keys ------------------------------------------------------------------------------
    def action_help(self) -> None:
        from alpaca_tui.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.session))

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
        engine, self.session.engine = self.session.engine, None
        if engine is not None:
            try:
                await engine.aclose()
            except Exception as exc:  # closing sockets at exit; nothing useful to tell the user
                del exc


_default_store_opener = services.DefaultStoreOpener()  # the default home; peeks at its index first


def run_app() -> int:
    """``alpaca-tui`` with no arguments: open the store (asking for a passphrase in a modal when
    the encrypted-file backend needs one and ALPACA_TUI_PASSPHRASE_FILE is unset) and run."""
    app = AlpacaTuiApp(store_opener=_default_store_opener, config=load_config(),
                       offer_demo=not os.environ.get("ALPACA_TUI_NO_DEMO_OFFER"))
    try:
        result = app.run()
    finally:
        app.close_demo()
    return int(result or 0)


__all__ = ["AlpacaTuiApp", "run_app"]
