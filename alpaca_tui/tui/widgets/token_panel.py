"""Live countdown of a credential's current OAuth access token.

Every tick re-reads the engine's token state and computes ``remaining = expires_at -
clock.time()``; nothing decrements a counter, so an injected FakeClock moves the display
exactly and a slept laptop shows the truth on wake. The time left is shown between 0 and
the token's lifetime: a clock that jumps past expiry shows 0 (never a negative count), and
a clock set back before the issue time cannot make the token look younger than new (the
token is renewed instead). Ticks run at 1 Hz only while the panel's screen is the active
one (the screen pauses and resumes the timer). When less than ``refresh_ahead`` seconds
are left the panel asks the engine for a token, which refreshes it ahead of expiry
(single flight, in the engine).

When refreshing fails the engine keeps handing out the still-valid token and backs off
(see ``Engine.token``); the panel says so (the error, "still using the current token",
when the next attempt is due, the error's cause and fix from ``core/explain.py``) and goes
back to normal by itself once a refresh succeeds.
After an error without a usable token the panel waits at least ``RETRY_AFTER`` seconds
(by the injected clock) or the engine's backoff, whichever is longer, before asking again.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import ProgressBar, Static

from alpaca_tui.core.clock import SYSTEM_CLOCK, Clock
from alpaca_tui.core.redact import scrub
from alpaca_tui.core.tokens import CLOCK_BACK_TOLERANCE, MIN_TOKEN_LEFT
from alpaca_tui.tui.format import TOKEN_LIFETIME, clock_time, mmss
from alpaca_tui.tui.messages import TokenUpdated

if TYPE_CHECKING:
    from alpaca_tui.core.engine import Engine

RETRY_AFTER = 15.0      # seconds (by the panel's clock) between automatic attempts after a failure


def _time_left(st: Any, now: float) -> float | None:
    """Seconds left on the engine's token (a ``TokenState``), between 0 and its lifetime; None
    without a token."""
    return st.remaining(now) if st is not None else None


class Countdown(Widget):
    """'mm:ss left' — a fixed-size widget that only repaints (no layout pass) on each tick."""

    DEFAULT_CSS = "Countdown { width: 16; height: 1; text-style: bold; }"

    text: reactive[Text] = reactive(Text("--:--"), layout=False)

    def render(self) -> Text:
        return self.text


class TokenPanel(Vertical):
    """Countdown (mm:ss + progress bar over the token's lifetime) and token facts."""

    DEFAULT_CSS = """
    TokenPanel { height: auto; border: round $primary; padding: 0 1; }
    TokenPanel #tp-top { height: 1; }
    TokenPanel ProgressBar { width: 1fr; }
    TokenPanel ProgressBar Bar { width: 1fr; }
    TokenPanel #tp-facts { height: auto; }
    """

    def __init__(self, profile_name: str, *, engine: Engine | None = None, clock: Clock = SYSTEM_CLOCK,
                 refresh_ahead: float = 60.0, auto_fetch: bool = True, interval: float = 1.0,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.profile_name = profile_name
        self.engine = engine
        self.clock = clock
        self.refresh_ahead = refresh_ahead
        self.auto_fetch = auto_fetch
        self.interval = interval
        self.border_title = "Access token"
        self._timer: Timer | None = None
        self._inflight = False
        self._next_attempt = 0.0      # clock time of the next automatic attempt after an error
        self._error_at = 0.0          # clock time of the panel's own last error
        self._error: str | None = None
        self._explanation: Any = None   # the cause + fix of ``_error`` (core/explain.py)
        self._facts: Text | None = None
        self.ticks = 0

    def compose(self) -> ComposeResult:
        with Horizontal(id="tp-top"):
            yield Countdown(id="tp-countdown")
            yield ProgressBar(total=TOKEN_LIFETIME, show_eta=False, show_percentage=False, id="tp-bar")
        yield Static("", id="tp-facts")

    def on_mount(self) -> None:
        self._timer = self.set_interval(self.interval, self.tick)
        self.tick()

    # -- timer control (the screen calls these on suspend/resume) ---------------------
    def pause(self) -> None:
        if self._timer is not None:
            self._timer.pause()

    def resume(self) -> None:
        if self._timer is not None:
            self._timer.resume()
        self.tick()

    def set_engine(self, engine: Engine | None) -> None:
        self.engine = engine
        self.tick()

    # -- the tick --------------------------------------------------------------------
    def state(self) -> Any:  # TokenState | None
        if self.engine is None:
            return None
        try:
            return self.engine.token_state(self.profile_name)
        except Exception:  # unknown profile (deleted meanwhile) -> no state
            return None

    def remaining(self) -> float | None:
        return _time_left(self.state(), self.clock.time())

    def tick(self) -> None:
        self.ticks += 1
        st = self.state()
        now = self.clock.time()
        issued_at = getattr(st, "issued_at", None)
        remaining = _time_left(st, now)
        if self._error is not None and issued_at is not None and float(issued_at) >= self._error_at:
            self._error = None  # a token issued after the panel's error (by anyone): that error is over
        err = self._error or getattr(st, "last_error", None)
        explanation = self._explanation if self._error else getattr(st, "last_explanation", None)
        countdown = self.query_one("#tp-countdown", Countdown)
        bar = self.query_one("#tp-bar", ProgressBar)
        if remaining is None:
            countdown.text = Text("--:--", style="dim") if not self._inflight else Text("fetching…")
            bar.update(total=TOKEN_LIFETIME, progress=0)
        else:
            expires_at = float(st.expires_at)
            lifetime = expires_at - float(issued_at) if issued_at else TOKEN_LIFETIME
            lifetime = lifetime if lifetime > 0 else TOKEN_LIFETIME
            if remaining <= 0:
                countdown.text = Text("expired", style="bold red")
            else:
                style = "bold green" if remaining > self.refresh_ahead and not err else "bold yellow"
                countdown.text = Text(f"{mmss(remaining)} left" + (" ⚠" if err else ""), style=style)
            bar.update(total=lifetime, progress=remaining)
        self._render_facts(st, err, remaining, now, explanation)
        if self.engine is None or not self.auto_fetch:
            return
        went_back = st is not None and st.clock_went_back(now)
        due = remaining is None or remaining < self.refresh_ahead or went_back
        retry_at = getattr(st, "retry_at", None)
        if due and retry_at is not None and now < float(retry_at) and remaining is not None \
                and remaining > MIN_TOKEN_LEFT and not went_back:
            due = False  # the engine keeps using the current token until its backoff is over
        if due and not self._inflight and self._may_attempt(now):
            self.refresh_token(force=False)

    def _may_attempt(self, now: float) -> bool:
        """After an error: not before ``_next_attempt`` (a clock set back voids that wait)."""
        return now >= self._next_attempt or now < self._error_at - CLOCK_BACK_TOLERANCE

    def _render_facts(self, st: Any, err: str | None, remaining: float | None, now: float,
                      explanation: Any = None) -> None:
        facts = Text()
        facts.append("issued ", style="dim")
        facts.append(clock_time(getattr(st, "issued_at", None)))
        facts.append("  expires ", style="dim")
        facts.append(clock_time(getattr(st, "expires_at", None)))
        facts.append("  refreshed ", style="dim")
        facts.append(f"{getattr(st, 'refresh_count', 0) or 0}×")
        facts.append("\nlast error ", style="dim")
        if err:
            facts.append(scrub(str(err)), style="bold red")
        else:
            facts.append("none")
        if getattr(st, "refreshing", False) or self._inflight:
            facts.append("  ⟳ refreshing", style="yellow")
        if err:
            facts.append("\n")
            if remaining is not None and remaining > MIN_TOKEN_LEFT:
                facts.append("⚠ refresh failed: still using the current token", style="bold yellow")
            else:
                facts.append("✗ no valid token", style="bold red")
            wait = self._retry_wait(st, now)
            if wait is not None:
                facts.append(f" · next try in {math.ceil(wait)} s", style="dim")
            if explanation is not None:  # why, and what to do (core/explain.py)
                facts.append("\ncause: ", style="bold")
                facts.append(explanation.cause)
                facts.append("\nfix:   ", style="bold")
                facts.append(explanation.fix)
        if facts != self._facts:  # unchanged most seconds: skip the layout pass
            self._facts = facts
            self.query_one("#tp-facts", Static).update(facts)

    def _retry_wait(self, st: Any, now: float) -> float | None:
        waits = []
        retry_at = getattr(st, "retry_at", None)
        if retry_at is not None and float(retry_at) > now:
            waits.append(float(retry_at) - now)
        if self._error is not None and self._next_attempt > now:
            waits.append(self._next_attempt - now)
        return max(waits) if waits else None

    # -- fetching ---------------------------------------------------------------------
    def refresh_token(self, force: bool = False) -> None:
        if self.engine is None:
            return
        self._inflight = True
        self._fetch(force)

    @work(exclusive=True, group="token-fetch", exit_on_error=False)
    async def _fetch(self, force: bool) -> None:
        error: str | None = None
        explanation = None
        engine = self.engine
        try:
            if engine is None:
                raise RuntimeError("the auth engine is not loaded")
            await engine.token(self.profile_name, force=force)
        except Exception as exc:  # shown in the panel, one line, scrubbed
            msg = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            error = scrub(" ".join(str(msg).split()))
            explanation = getattr(exc, "explanation", None)
        self.post_message(TokenUpdated(self.profile_name, error, explanation))

    def on_token_updated(self, message: TokenUpdated) -> None:
        if message.name != self.profile_name:
            return
        self._inflight = False
        self._error = message.error
        self._explanation = message.explanation
        if message.error:
            now = self.clock.time()
            self._error_at = now
            wait = RETRY_AFTER
            retry_at = getattr(self.state(), "retry_at", None)
            if retry_at is not None:
                wait = max(wait, float(retry_at) - now)
            self._next_attempt = now + wait
        self.tick()
