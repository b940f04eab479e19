"""Credential expiration: the choices Alpaca offers and the derived state."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from alpaca_tui.core.errors import UsageError

EXPIRY_CHOICES: tuple[tuple[str, str], ...] = (
    ("never", "Never"),
    ("1w", "1 week"),
    ("30d", "30 days"),
    ("90d", "90 days"),
    ("6m", "6 months"),
    ("1y", "1 year"),
)
EXPIRING_SOON = timedelta(days=14)


class ExpiryState(StrEnum):
    OK = "ok"
    EXPIRING = "expiring"
    EXPIRED = "expired"


def add_months(dt: datetime, months: int) -> datetime:
    m = dt.month - 1 + months
    year, month = dt.year + m // 12, m % 12 + 1
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return dt.replace(year=year, month=month, day=day)


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_expiry(spec: str, now: datetime) -> datetime | None:
    """Turn ``never|1w|30d|90d|6m|1y|YYYY-MM-DD`` into an aware UTC datetime (None = never).

    A custom date means the end of that day (UTC) and must be in the future.
    """
    s = spec.strip().lower()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if s in ("never", "none", ""):
        return None
    if s in ("1w", "7d", "1 week"):
        return now + timedelta(days=7)
    if s in ("30d", "30 days"):
        return now + timedelta(days=30)
    if s in ("90d", "90 days"):
        return now + timedelta(days=90)
    if s in ("6m", "6 months"):
        return add_months(now, 6)
    if s in ("1y", "1 year", "12m"):
        return add_months(now, 12)
    if _DATE.match(s):
        try:
            d = date.fromisoformat(s)
        except ValueError:
            raise UsageError(f"invalid date {spec!r}: no such day") from None
        end = datetime.combine(d, time(23, 59, 59), UTC)
        if end <= now:
            raise UsageError(f"expiry date {spec} is in the past")
        return end
    raise UsageError(f"invalid expiry {spec!r} (use never, 1w, 30d, 90d, 6m, 1y or YYYY-MM-DD)")


def expiry_state(expires_at: datetime | None, now: datetime, soon: timedelta = EXPIRING_SOON) -> ExpiryState:
    if expires_at is None:
        return ExpiryState.OK
    if expires_at <= now:
        return ExpiryState.EXPIRED
    if expires_at - now <= soon:
        return ExpiryState.EXPIRING
    return ExpiryState.OK


def humanize_delta(delta: timedelta) -> str:
    """'3d 4h', '5h 2m', '12m', '40s' for a non-negative delta."""
    secs = int(max(delta.total_seconds(), 0))
    d, rem = divmod(secs, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    if d:
        return f"{d}d {h}h" if h else f"{d}d"
    if h:
        return f"{h}h {m}m" if m else f"{h}h"
    if m:
        return f"{m}m"
    return f"{s}s"


def describe_expiry(expires_at: datetime | None, now: datetime) -> str:
    """'never', 'in 3d 4h', 'expired 2d ago'."""
    if expires_at is None:
        return "never"
    if expires_at <= now:
        return f"expired {humanize_delta(now - expires_at)} ago"
    return f"in {humanize_delta(expires_at - now)}"
