"""The settings applied at start (config.toml's keymap and theme), and what the app asks while
the store opens: the welcome (demo or your own store) before a new
encrypted store's passphrase, the passphrase itself, and what to do when it was cancelled.

:class:`StartupPrompts` is a base of the app. The store worker thread calls
:meth:`StartupPrompts.ask_passphrase` (``services.open_store`` asks through it) and blocks on
the dialog's answer; a cancelled prompt leaves the store *locked*, not failed: the home screen
says ``u: unlock``, and a dialog offers to try again, start the demo, or stay locked.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

from textual.binding import Binding
from textual.dom import DOMNode
from textual.screen import Screen

from alpaca_tui.core.config import Config
from alpaca_tui.core.errors import AlpacaTuiError
from alpaca_tui.tui.actions import AppActions
from alpaca_tui.tui.keys import keymap_clashes, unknown_binding_ids

WELCOME = ("Welcome to alpaca-tui.\n\nDemo mode starts a local Alpaca emulator on 127.0.0.1 with a "
           "throwaway store, seeded with one credential per environment and flow: nothing leaves this "
           "machine and nothing is kept.\n\nOr set up your own store: your secrets go to an encrypted "
           "file, under a passphrase you choose now.")
LOCKED = ("The secret store stays locked: without the passphrase nothing in it can be read or "
          "changed.\n\nTry again, look around in demo mode, or stay locked (u unlocks later).")


class StoreCancelled(AlpacaTuiError):
    """The user cancelled the passphrase prompt."""


class DemoChosen(AlpacaTuiError):
    """The user picked demo mode instead of setting up a store."""


class QuitChosen(AlpacaTuiError):
    """The user picked quit on the welcome dialog."""


class StartupPrompts(AppActions):
    """Dialogs shown from the store worker thread, answered on the UI thread."""

    config: Config
    offer_demo: bool
    _demo_offered: bool
    _clashes_told: set[str]
    _pending_answers: list[concurrent.futures.Future[Any]]

    def apply_config(self) -> None:
        """The keymap and theme from config.toml; each problem is one warning naming the key."""
        config = self.config
        problems = list(config.errors)
        problems += [f"{config.path.name if config.path else 'config.toml'}: keys.\"{k}\": no such binding "
                     "(F1 lists each binding with its id)" for k in unknown_binding_ids(config.keymap)]
        problems += [f"keymap: {clash}: pick another key in [keys]"
                     for clash in keymap_clashes(config.keymap)]
        if config.keymap:
            self.set_keymap(config.keymap)
        if config.theme is not None:
            if config.theme in self.available_themes:
                self.theme = config.theme
            else:
                problems.append(f"ui.theme: no theme named {config.theme!r} (ctrl+p theme lists them)")
        for problem in problems:
            self.notify(problem, title="config.toml", severity="warning", timeout=10)

    def handle_bindings_clash(self, clashed_bindings: set[Binding], node: DOMNode) -> None:
        """A keymap moved a binding onto a key another one has: say so once per key."""
        for b in clashed_bindings:
            if b.key not in self._clashes_told:
                self._clashes_told.add(b.key)
                self.notify(f"{b.key} is taken by {b.id or b.action}: pick another key in [keys]",
                            title="config.toml", severity="warning", timeout=10)

    def ask_in_worker(self, make: Callable[[], Screen[Any]]) -> Any:
        """Push ``make()`` from the UI thread; block this worker thread until it is dismissed."""
        answer: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._pending_answers.append(answer)

        def show() -> None:
            def done(value: Any) -> None:
                if not answer.done():
                    answer.set_result(value)

            self.push_screen(make(), callback=done)

        try:
            self.call_from_thread(show)
            return answer.result()
        finally:
            self._pending_answers.remove(answer)

    def ask_passphrase(self, creating: bool, error: str | None = None) -> str:
        """Called from the store worker thread. A store about to be created is first offered
        the demo (once); the answer may be :class:`DemoChosen` or :class:`QuitChosen`."""
        from alpaca_tui.tui.dialogs.choice import ChoiceDialog
        from alpaca_tui.tui.dialogs.passphrase import PassphraseDialog

        if creating and error is None and self.offer_demo and not self._demo_offered:
            self._demo_offered = True
            choice = self.ask_in_worker(lambda: ChoiceDialog(
                "Welcome", WELCOME, [("d", "Start demo"), ("s", "Set up my store"), ("q", "Quit")]))
            if choice == "d":
                raise DemoChosen("demo mode chosen")
            if choice != "s":
                raise QuitChosen("quit chosen")
        value = self.ask_in_worker(lambda: PassphraseDialog(creating=creating, error=error))
        if value is None:
            raise StoreCancelled("the secret store stays locked (passphrase prompt cancelled)")
        return str(value)

    def store_locked(self) -> None:
        """The prompt was cancelled: say so on the home screen, and ask what next."""
        from alpaca_tui.tui.dialogs.choice import ChoiceDialog

        self.session.store_locked = True
        self._broadcast_status()

        def answered(choice: str | None) -> None:
            if choice == "u":
                self.retry_store()
            elif choice == "d":
                self.start_demo()

        self.push_screen(ChoiceDialog("Secret store locked", LOCKED,
                                      [("u", "Try again"), ("d", "Start demo"), ("n", "Stay locked")]),
                         callback=answered)


__all__ = ["DemoChosen", "QuitChosen", "StartupPrompts", "StoreCancelled"]
