"""One deadline per call: everything a call waits for shares one time budget.

``Engine.request`` / ``check`` / ``token`` / ``authorize`` open a :func:`bounded` scope of
``Engine(timeout=...)`` seconds around their network part. Inside it the token request,
the API call, a 401's refresh and resend, every connect and body read and every 429 wait
draw on the same budget (:class:`~alpaca_tui.core.wire.Wire` asks :func:`left` before each
step and gives httpx no more than what is left). A scope inside another keeps the earlier
deadline. The deadline is real (monotonic) time, never the engine's injectable clock:
a server that drips one byte a second is stopped on time even under a ``FakeClock``.

A step that must leave time for the rest asks for a :func:`portion` of what is left (the
token broker gives an inline refresh ahead of expiry half; ``ApiClient.call`` avoids the
split by refreshing after its answer).

As a backstop the scope also cancels what is still waiting :data:`GRACE` seconds after
the deadline (a lock held by a stuck caller, a thread), and reports that as an ApiError
of category ``timeout``: the whole call is bounded, not each wait in it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from alpaca_tui.core.http import ApiError, ErrorCategory

__all__ = ["GRACE", "Budget", "bounded", "current", "left", "portion"]

GRACE = 0.5  # the backstop fires this long after the deadline (the wire's own timeouts come first)


@dataclass(frozen=True)
class Budget:
    """A deadline: ``at`` on the running loop's clock (``loop.time()``), ``seconds`` in all."""

    at: float
    seconds: float

    def left(self) -> float:
        return self.at - asyncio.get_running_loop().time()


_CURRENT: ContextVar[Budget | None] = ContextVar("alpaca_tui_deadline", default=None)


def current() -> Budget | None:
    """The deadline of the call this code runs in, if any."""
    return _CURRENT.get()


def left(default: float) -> Budget:
    """The budget to use now: the current call's, or ``default`` seconds from now when none
    is set (or when that is sooner)."""
    at = asyncio.get_running_loop().time() + default
    budget = _CURRENT.get()
    if budget is not None and budget.at <= at:
        return budget
    return Budget(at, default)


def portion(fraction: float) -> float | None:
    """``fraction`` of what is left of the current call's deadline (None when there is none):
    the budget of a step that must leave time for the rest (a token refresh ahead of expiry,
    while the current token still serves the API call that follows)."""
    budget = _CURRENT.get()
    return None if budget is None else max(0.0, budget.left() * fraction)


@asynccontextmanager
async def bounded(seconds: float, what: str, *, profile: str | None = None) -> AsyncIterator[Budget]:
    """Run the block within ``seconds`` (or within the enclosing call's deadline, if sooner)."""
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
