"""What the full screens of alpaca-tui share.

:class:`AppScreen`: the header, one body container, the compact footer; the
:class:`~alpaca_tui.tui.session.Session` it was given (``self.session``: store, engine,
demo issuer, clock, the profile list); typed access to the app for its shared actions
(``self.tui``: ``open_wizard``, ``run_check``, ...); and, for screens that set ``TICKS``, a
timer every ``session.tick_seconds`` that stops while another screen covers this one. On
each tick the screen first asks the app whether another process changed the store
(``AlpacaTuiApp.poll_store``: one stat, a reload in a worker when it did), then runs its
own :meth:`AppScreen.tick`. ``PANES`` (selectors) are the screen's regions: F6 / shift+F6
(``screen.next-pane`` / ``screen.previous-pane``) move the focus to the next / previous one.
:class:`ProfileScreen`: an AppScreen about one credential (``profile_name`` / ``profile``).

Textual calls an event handler of every class in the MRO, so a subclass's ``on_mount`` /
``on_screen_suspend`` / ``on_screen_resume`` run first and these afterwards.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer, Header

from alpaca_tui.core.credentials import Profile
from alpaca_tui.tui import format

if TYPE_CHECKING:
    from alpaca_tui.tui.app import AlpacaTuiApp
    from alpaca_tui.tui.session import Session


class AppScreen(Screen[None]):
    BODY_ID: ClassVar[str]                # id of the body container (the stylesheet uses it)
    BODY_SCROLLS: ClassVar[bool] = True   # VerticalScroll, else Vertical
    TICKS: ClassVar[bool] = False         # poll the store + tick() every session.tick_seconds while shown
    PANES: ClassVar[tuple[str, ...]] = ()  # selectors of the regions F6 / shift+F6 jump between
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f6", "next_pane", "Next pane", show=False, key_display="F6", priority=True,
                tooltip="Move to the next region of the screen (list, form, response…)",
                id="screen.next-pane"),
        Binding("shift+f6", "previous_pane", "Previous pane", show=False, key_display="shift+F6",
                priority=True, tooltip="Move to the previous region of the screen",
                id="screen.previous-pane"),
    ]

    _tick_timer: Timer | None = None

    def __init__(self, session: Session, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.session = session

    @property
    def tui(self) -> AlpacaTuiApp:
        """The app, for its shared actions (``tui/actions.py``); services come from the session."""
        return self.app  # type: ignore[return-value]

    def when(self, dt: datetime | None) -> str:
        """A date and time, in UTC or local time as config.toml says (``ui.time``)."""
        return format.stamp(dt, local=self.session.local_time)

    def expiry_words(self, expires_at: datetime | None, now: datetime) -> str:
        return format.expiry_words(expires_at, now, local=self.session.local_time)

    def compose(self) -> ComposeResult:
        yield Header()
        with (VerticalScroll if self.BODY_SCROLLS else Vertical)(id=self.BODY_ID):
            yield from self.compose_body()
        yield Footer(compact=True)

    def compose_body(self) -> ComposeResult:
        """The widgets inside the body container."""
        yield from ()

    def on_mount(self) -> None:
        if self.TICKS:
            self._tick_timer = self.set_interval(self.session.tick_seconds, self._tick_now)

    def _tick_now(self) -> None:
        self.tui.poll_store()
        self.tick()

    def tick(self) -> None:
        """Called every ``session.tick_seconds`` while this screen is shown (``TICKS``)."""

    # -- panes -----------------------------------------------------------------------------
    def _panes(self) -> list[list[Widget]]:
        """Each pane's widgets that can take the focus now (panes with none are skipped)."""
        panes = []
        for selector in self.PANES:
            found = [w for node in self.query(selector) if node.display
                     for w in [node, *node.query("*")] if w.focusable]
            if found:
                panes.append(found)
        return panes

    def _jump(self, step: int) -> None:
        panes = self._panes()
        if not panes:
            return
        here = next((i for i, pane in enumerate(panes) if self.focused in pane), -1)
        target = panes[(here + step) % len(panes)] if here >= 0 else panes[0 if step > 0 else -1]
        self.set_focus(target[0])

    def action_next_pane(self) -> None:
        self._jump(1)

    def action_previous_pane(self) -> None:
        self._jump(-1)

    def on_screen_suspend(self) -> None:
        if self._tick_timer is not None:
            self._tick_timer.pause()

    def on_screen_resume(self) -> None:
        if self._tick_timer is not None:
            self._tick_timer.resume()


class ProfileScreen(AppScreen):
    """A screen about one credential, by name (it may be deleted while the screen is open)."""

    def __init__(self, session: Session, name: str, *, classes: str | None = None) -> None:
        super().__init__(session, classes=classes)  # no id: one may be pushed twice
        self.profile_name = name

    @property
    def profile(self) -> Profile | None:
        return self.session.profile(self.profile_name)

    def leave_if_deleted(self) -> bool:
        """True when the credential is gone (deleted here, from the palette or by another
        process); the screen closes now if it is on top, else when it is shown again."""
        if self.profile is not None or not self.session.profiles_loaded:
            return False
        if self.app.screen is self:
            self.dismiss()
        return True

    def on_screen_resume(self) -> None:
        self.leave_if_deleted()


__all__ = ["AppScreen", "ProfileScreen"]
