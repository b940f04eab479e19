"""One deadline per call: everything a call waits for shares one time budget.

:class:`Deadline` is the arithmetic both senders share: ``at`` on a clock it is given, what
is :meth:`~Deadline.left`, and a per-operation timeout cut to that (:meth:`~Deadline.clamp`,
which refuses to start a wait once nothing is left). The engine's deadlines are on the
running event loop's clock (``loop.time()``, what ``asyncio.timeout_at`` counts in); the
blocking ``check`` of key pairs (:mod:`~alpaca_tui.core.syncwire`, threads) makes its own
on ``time.monotonic``. Either is real time, never the engine's injectable clock: a server
that drips one byte a second is stopped on time even under a ``FakeClock``. This module
imports asyncio only inside the functions that need the running loop (that ``check`` never
imports it).

``Engine.request`` / ``check`` / ``token`` / ``authorize`` open a :func:`bounded` scope of
``Engine(timeout=...)`` seconds around their network part. Inside it the token request,
the API call, a 401's refresh and resend, every connect and body read and every 429 wait
draw on the same budget (:class:`~alpaca_tui.core.wire.Wire` asks :func:`left` before each
step and gives httpx no more than what is left). A scope inside another keeps the earlier
deadline.

A step that must leave time for the rest asks for a :func:`portion` of what is left (the
token broker gives an inline refresh ahead of expiry half; ``ApiClient.call`` avoids the
split by refreshing after its answer).

As a backstop the scope also cancels what is still waiting :data:`GRACE` seconds after
the deadline (a lock held by a stuck caller, a thread), and reports that as an ApiError
of category ``timeout``: the whole call is bounded, not each wait in it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from alpaca_tui.core.http import ApiError, ErrorCategory

__all__ = ["GRACE", "PASSED", "Deadline", "bounded", "current", "left", "portion"]

GRACE = 0.5  # the backstop fires this long after the deadline (the wire's own timeouts come first)
PASSED = "the call's deadline has passed"


@dataclass(frozen=True)
class Deadline:
    """A deadline: ``at`` in ``clock()`` seconds, ``seconds`` in all."""

    at: float
    seconds: float
    clock: Callable[[], float] = field(repr=False)

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        """``seconds`` from now on ``clock`` (real time by default: the blocking path's)."""
        return cls(clock() + seconds, seconds, clock)

    def left(self) -> float:
        return self.at - self.clock()

    def clamp(self, timeout: float | None, late: Callable[[str], BaseException]) -> float:
        """``timeout`` (None: no limit of its own) cut to what is left; once nothing is,
        ``late(PASSED)`` is raised instead (no wait starts after the deadline)."""
        remaining = self.left()
        if remaining <= 0:
            raise late(PASSED)
        return remaining if timeout is None else min(timeout, remaining)


_CURRENT: ContextVar[Deadline | None] = ContextVar("alpaca_tui_deadline", default=None)


def current() -> Deadline | None:
    """The deadline of the call this code runs in, if any."""
    return _CURRENT.get()


def left(default: float) -> Deadline:
    """The deadline to use now (on the running loop's clock): the current call's, or
    ``default`` seconds from now when none is set (or when that is sooner)."""
    import asyncio

    fresh = Deadline.after(default, asyncio.get_running_loop().time)
    budget = _CURRENT.get()
    if budget is not None and budget.at <= fresh.at:
        return budget
    return fresh


def portion(fraction: float) -> float | None:
    """``fraction`` of what is left of the current call's deadline (None when there is none):
    the budget of a step that must leave time for the rest (a token refresh ahead of expiry,
    while the current token still serves the API call that follows)."""
    budget = _CURRENT.get()
    return None if budget is None else max(0.0, budget.left() * fraction)


@asynccontextmanager
async def bounded(seconds: float, what: str, *, profile: str | None = None) -> AsyncIterator[Deadline]:
    """Run the block within ``seconds`` (or within the enclosing call's deadline, if sooner)."""
    import asyncio

    budget = left(seconds)
    if budget is _CURRENT.get():
        yield budget
        return
    token = _CURRENT.set(budget)
    scope = asyncio.timeout_at(budget.at + GRACE)
    try:
        async with scope:
            yield budget
    except TimeoutError:
        if not scope.expired():
            raise
        raise ApiError(ErrorCategory.TIMEOUT, f"{what}: not finished within {budget.seconds:g} s",
                       profile=profile) from None
    finally:
        _CURRENT.reset(token)
