"""The one deadline class both senders use (``core/deadline.py``): what is left on the clock
it is given, the per-operation timeout cut to that, the refusal once nothing is; on
``time.monotonic`` (the blocking ``check``) and on the running loop's clock (the engine)."""

from __future__ import annotations

import asyncio
import time

import httpcore
import pytest

from alpaca_tui.core import deadline
from alpaca_tui.core.deadline import PASSED, Deadline
from alpaca_tui.core.http import ApiError, ErrorCategory


class Ticks:
    """A clock that moves only when told."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_left_and_clamp_on_an_injected_clock() -> None:
    clock = Ticks()
    d = Deadline.after(10.0, clock)
    assert (d.at, d.seconds, d.left()) == (110.0, 10.0, 10.0)
    assert d.clamp(3.0, httpcore.ReadTimeout) == 3.0      # a shorter timeout stands
    assert d.clamp(30.0, httpcore.ReadTimeout) == 10.0    # a longer one is cut to what is left
    assert d.clamp(None, httpcore.ReadTimeout) == 10.0    # no timeout of its own: what is left
    clock.now = 107.5
    assert d.left() == 2.5
    assert d.clamp(3.0, httpcore.ReadTimeout) == 2.5
    assert d.seconds == 10.0                               # the whole, for messages


@pytest.mark.parametrize("past", [0.0, 0.25])
def test_clamp_refuses_once_nothing_is_left(past: float) -> None:
    clock = Ticks()
    d = Deadline.after(1.0, clock)
    clock.now = d.at + past
    assert d.left() == -past
    with pytest.raises(httpcore.WriteTimeout, match=PASSED):
        d.clamp(5.0, httpcore.WriteTimeout)
    with pytest.raises(httpcore.ConnectTimeout, match=PASSED):
        d.clamp(None, httpcore.ConnectTimeout)


def test_the_default_clock_is_monotonic() -> None:
    before = time.monotonic()
    d = Deadline.after(5.0)
    assert d.clock is time.monotonic
    assert before + 5.0 <= d.at <= time.monotonic() + 5.0
    assert 0 < d.left() <= 5.0


async def test_the_engines_deadline_is_on_the_loops_clock() -> None:
    loop = asyncio.get_running_loop()
    assert deadline.current() is None
    d = deadline.left(5.0)
    assert d.clock == loop.time
    assert 4.9 < d.left() <= 5.0
    assert d.clamp(1.0, httpcore.ReadTimeout) == 1.0
    assert deadline.portion(0.5) is None                   # no call's deadline set


async def test_a_scope_inside_another_keeps_the_earlier_deadline() -> None:
    async with deadline.bounded(2.0, "outer") as outer:
        assert deadline.current() is outer
        assert deadline.left(60.0) is outer                # a later default: the call's deadline
        sooner = deadline.left(0.5)
        assert sooner is not outer and sooner.seconds == 0.5
        async with deadline.bounded(60.0, "inner") as inner:
            assert inner is outer
        share = deadline.portion(0.5)
        assert share is not None and 0.9 < share <= 1.0
    assert deadline.current() is None


async def test_the_backstop_reports_a_timeout() -> None:
    with pytest.raises(ApiError) as caught:
        async with deadline.bounded(0.01, "GET /v2/account", profile="paper"):
            await asyncio.sleep(5)
    assert caught.value.category is ErrorCategory.TIMEOUT
    assert caught.value.profile == "paper"
    assert "GET /v2/account: not finished within 0.01 s" in str(caught.value)
