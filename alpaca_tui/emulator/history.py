"""Historical market data: deterministic bars, trades and quotes between two instants, and the
Market Data API's pagination (``limit`` per page over all symbols, ``page_token`` /
``next_page_token``, ``sort``).

Stocks trade 09:30-16:00 New York time on weekdays (intraday bars and ticks only then; daily
bars stamped at midnight New York); crypto trades around the clock. ``start`` / ``end`` are
inclusive, a date alone is midnight New York (UNCONFIRMED: Alpaca's docs say only "the beginning
of the day"); only complete bars are served. Ticks (trades, quotes) are
one a minute: enough for clients to page through, small enough to stay fast.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alpaca_tui.emulator import market
from alpaca_tui.emulator.market import NY, is_crypto, rfc3339, rfc3339_s

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
TICK = 60   # seconds between emulated trades / quotes
_TIMEFRAME = re.compile(r"^([1-9][0-9]{0,2})(Min|T|Hour|H|Day|D|Week|W|Month|M)$")
_UNIT = {"Min": 60, "T": 60, "Hour": 3600, "H": 3600, "Day": 86400, "D": 86400, "Week": 7 * 86400,
         "W": 7 * 86400, "Month": 30 * 86400, "M": 30 * 86400}


class QueryError(ValueError):
    """A query Alpaca answers with 400 (code 40010001)."""


def timeframe_seconds(raw: str | None) -> int:
    m = _TIMEFRAME.match(raw or "")
    if m is None:
        raise QueryError("invalid timeframe")
    return int(m.group(1)) * _UNIT[m.group(2)]


def parse_time(raw: str | None, default: float) -> float:
    """RFC 3339 or ``YYYY-MM-DD`` (midnight New York) -> epoch seconds."""
    if not raw:
        return default
    text = raw.strip().replace("Z", "+00:00")
    try:
        if len(text) == 10:
            return datetime.combine(datetime.fromisoformat(text).date(), datetime.min.time(), NY).timestamp()
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise QueryError(f"invalid time {raw!r}") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=NY)).timestamp()


def _session(ts: float, crypto: bool, step: int) -> bool:
    if crypto:
        return True
    if step >= 86400:
        return datetime.fromtimestamp(ts, NY).weekday() < 5
    return market.is_open_at(ts)


def _grid(start: float, end: float, step: int, crypto: bool, offset: int = 0) -> Iterator[float]:
    """Instants ``k * step + offset`` in [start, end] when the market trades (daily steps: NY midnight)."""
    if step >= 86400:
        day = datetime.fromtimestamp(start, NY).date()
        while True:
            ts = datetime.combine(day, datetime.min.time(), NY).timestamp()
            if ts > end:
                return
            if ts >= start and _session(ts, crypto, step):
                yield ts
            day += timedelta(days=step // 86400)
    t = float((int(start - offset) // step) * step + offset)
    if t < start:
        t += step
    while t <= end:
        if _session(t, crypto, step):
            yield float(t)
        elif not crypto:
            # jump to the next session's open instead of walking every step overnight
            nxt = _next_open(t)
            t = nxt + (-(nxt - offset) % step)
            continue
        t += step


def _next_open(ts: float) -> float:
    d = datetime.fromtimestamp(ts, NY)
    day = d.date() if d.time() < market.OPEN_T else d.date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, market.OPEN_T, NY).timestamp()


def bar_at(symbol: str, ts: float, step: int) -> dict[str, Any]:
    """The bar that opens at ``ts`` and lasts ``step`` seconds."""
    o = market.price(symbol, ts)
    c = market.price(symbol, ts + step - 1)
    h = round(max(o, c) * 1.002, 2)
    lo = round(min(o, c) * 0.998, 2)
    n = 10 + market._h(symbol, "n", str(int(ts))) % 490
    v: float = n * (1 + market._h(symbol, "v", str(int(ts))) % 50)
    if is_crypto(symbol):
        v = round(v / 1000, 6)
    return {"c": c, "h": h, "l": lo, "n": n, "o": o, "t": rfc3339_s(ts), "v": v,
            "vw": round((o + c + h + lo) / 4, 4)}


def trade_at(symbol: str, ts: float) -> dict[str, Any]:
    return market.crypto_trade(symbol, ts) if is_crypto(symbol) else market.trade(symbol, ts)


def quote_at(symbol: str, ts: float) -> dict[str, Any]:
    return market.crypto_quote(symbol, ts) if is_crypto(symbol) else market.quote(symbol, ts)


@dataclass(frozen=True)
class Series:
    """What to generate for one query: an item maker, the grid step / offset, and whether an item
    only exists once its interval is over (bars: a bar still open is not served)."""

    make: Callable[[str, float], dict[str, Any]]
    step: int
    offset: int = 0
    complete: bool = False


def bars_series(timeframe: str | None) -> Series:
    step = timeframe_seconds(timeframe)
    return Series(lambda sym, ts: bar_at(sym, ts, step), step, complete=True)


TRADES = Series(trade_at, TICK, 7)
QUOTES = Series(quote_at, TICK, 37)


def _token(symbol: str, ts: float) -> str:
    return base64.urlsafe_b64encode(f"{symbol}|{int(ts)}".encode()).decode().rstrip("=")


def _untoken(token: str) -> tuple[str, float]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        symbol, _, ts = raw.rpartition("|")
        return symbol, float(ts)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise QueryError("invalid page_token") from None


def page(symbols: list[str], series: Series, query: dict[str, str | None],
         now: float) -> tuple[dict[str, list[dict[str, Any]]], str | None]:
    """One page of ``series`` for ``symbols`` -> ({symbol: items}, next_page_token or None)."""
    limit = _limit(query.get("limit"))
    day_start = datetime.combine(datetime.fromtimestamp(now, NY).date(), datetime.min.time(), NY)
    start = parse_time(query.get("start"), day_start.timestamp())
    end = min(parse_time(query.get("end"), now), now - series.step if series.complete else now)
    desc = (query.get("sort") or "asc") == "desc"
    token = query.get("page_token")
    resume = _untoken(token) if token else None
    out: dict[str, list[dict[str, Any]]] = {}
    count = 0
    for sym in sorted(symbols):
        if resume is not None and sym < resume[0]:
            continue
        times = list(_grid(start, end, series.step, is_crypto(sym), series.offset))
        if desc:
            times.reverse()
        if resume is not None and sym == resume[0]:
            times = [t for t in times if (t <= resume[1] if desc else t >= resume[1])]
        for ts in times:
            if count == limit:
                return out, _token(sym, ts)
            out.setdefault(sym, []).append(series.make(sym, ts))
            count += 1
    return out, None


def _limit(raw: str | None) -> int:
    if not raw:
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise QueryError("invalid limit") from None
    if not 1 <= value <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}")
    return value


def snapshot(symbol: str, now: float) -> dict[str, Any]:
    """The spec's ``stock_snapshot`` / ``crypto_snapshot``: latest trade and quote, the last
    minute bar, today's and the previous day's daily bar."""
    today = datetime.combine(datetime.fromtimestamp(now, NY).date(), datetime.min.time(), NY).timestamp()
    prev = today - 86400
    while not is_crypto(symbol) and datetime.fromtimestamp(prev, NY).weekday() >= 5:
        prev -= 86400
    minute = int(now // 60) * 60 - 60
    return {"latestTrade": trade_at(symbol, now), "latestQuote": quote_at(symbol, now),
            "minuteBar": bar_at(symbol, minute, 60), "dailyBar": bar_at(symbol, today, 86400),
            "prevDailyBar": bar_at(symbol, prev, 86400)}


def latest_bar(symbol: str, now: float) -> dict[str, Any]:
    return bar_at(symbol, int(now // 60) * 60 - 60, 60)


__all__ = ["QUOTES", "TRADES", "QueryError", "Series", "bars_series", "latest_bar", "page", "rfc3339",
           "snapshot"]
