"""Injectable time source so countdowns, token lifetimes and expiry are testable."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch (wall clock)."""
        ...

    def now(self) -> datetime:
        """Timezone-aware UTC datetime for :meth:`time`."""
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float | datetime = 1_800_000_000.0) -> None:
        self._t = start.timestamp() if isinstance(start, datetime) else float(start)

    def time(self) -> float:
        return self._t

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._t, UTC)

    def advance(self, seconds: float) -> None:
        self._t += seconds

    def set(self, when: float | datetime) -> None:
        self._t = when.timestamp() if isinstance(when, datetime) else float(when)


SYSTEM_CLOCK: Clock = SystemClock()


def utc_from_ts(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
