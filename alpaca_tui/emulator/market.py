"""A tiny deterministic fake market: prices, bars, quotes, the market clock and assets (the
accounts, orders and transfers the Trading and Broker routes keep are in :mod:`.accounts`).

Shapes follow Alpaca's published examples and alpaca-py's models (field names, string
decimals, RFC 3339 timestamps) so official clients parse them.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from datetime import time as dtime
from typing import Any


def _eastern() -> tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("America/New_York")
    except Exception:  # no tz database: fixed EST is close enough for a fake market
        return timezone(timedelta(hours=-5), "EST")


NY = _eastern()
OPEN_T = dtime(9, 30)
CLOSE_T = dtime(16, 0)


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def rfc3339_s(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _trading_day(d: date) -> bool:
    return d.weekday() < 5  # holidays are not modelled


def market_clock(now: float) -> dict[str, Any]:
    """Alpaca's ``GET /v2/clock`` body: timestamps in Eastern time (``-05:00``/``-04:00``)."""
    et = datetime.fromtimestamp(now, NY)
    today = et.date()
    open_dt = datetime.combine(today, OPEN_T, NY)
    close_dt = datetime.combine(today, CLOSE_T, NY)
    is_open = _trading_day(today) and open_dt <= et < close_dt
    d = today
    if not (_trading_day(today) and et < open_dt):
        d = today + timedelta(days=1)
        while not _trading_day(d):
            d += timedelta(days=1)
    next_open = datetime.combine(d, OPEN_T, NY)
    next_close = close_dt if is_open else datetime.combine(d, CLOSE_T, NY)
    return {
        "timestamp": et.isoformat(timespec="microseconds"),
        "is_open": is_open,
        "next_open": next_open.isoformat(),
        "next_close": next_close.isoformat(),
    }


def previous_close(now: float) -> str:
    """16:00 New York time on the last trading day before today."""
    d = datetime.fromtimestamp(now, NY).date() - timedelta(days=1)
    while not _trading_day(d):
        d -= timedelta(days=1)
    return datetime.combine(d, CLOSE_T, NY).isoformat()


def _h(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest()[:8], "big")


def price(symbol: str, now: float) -> float:
    """A stable price per symbol that drifts a little minute by minute."""
    base = 20 + _h(symbol) % 50_000 / 100            # 20.00 .. 520.00
    if "/" in symbol:                                # crypto pairs trade higher
        base *= 100
    minute = int(now // 60)
    drift = ((_h(symbol, str(minute)) % 2001) - 1000) / 100_000   # +-1 %
    return round(base * (1 + drift), 2)


def bar(symbol: str, now: float) -> dict[str, Any]:
    """The latest complete minute bar ``{c,h,l,n,o,t,v,vw}``."""
    start = int(now // 60) * 60 - 60
    c = price(symbol, start)
    o = price(symbol, start - 60)
    h = round(max(o, c) * 1.001, 2)
    lo = round(min(o, c) * 0.999, 2)
    n = 10 + _h(symbol, "n", str(start)) % 490
    v = n * (1 + _h(symbol, "v", str(start)) % 50)
    return {"c": c, "h": h, "l": lo, "n": n, "o": o, "t": rfc3339_s(start), "v": v,
            "vw": round((o + c + h + lo) / 4, 4)}


def quote(symbol: str, now: float) -> dict[str, Any]:
    p = price(symbol, now)
    return {"ap": round(p * 1.0005, 2), "as": 1 + _h(symbol, "as") % 9, "ax": "V",
            "bp": round(p * 0.9995, 2), "bs": 1 + _h(symbol, "bs") % 9, "bx": "V",
            "c": ["R"], "t": rfc3339(now), "z": "C"}


def trade(symbol: str, now: float) -> dict[str, Any]:
    return {"c": ["@"], "i": _h(symbol, "i", str(int(now))) % 10**12, "p": price(symbol, now),
            "s": 1 + _h(symbol, "s") % 100, "t": rfc3339(now), "x": "V", "z": "C"}


def crypto_trade(symbol: str, now: float) -> dict[str, Any]:
    t = trade(symbol, now)
    return {"i": t["i"], "p": t["p"], "s": round(t["s"] / 1000, 6), "t": t["t"],
            "tks": "B" if _h(symbol, "tks", str(int(now))) % 2 else "S"}


def crypto_bar(symbol: str, now: float) -> dict[str, Any]:
    b = bar(symbol, now)
    b["v"] = round(b["v"] / 1000, 6)
    return b


def crypto_quote(symbol: str, now: float) -> dict[str, Any]:
    q = quote(symbol, now)
    return {"ap": q["ap"], "as": q["as"] / 10, "bp": q["bp"], "bs": q["bs"] / 10, "t": q["t"]}


CRYPTO_BASES = frozenset({"AAVE", "AVAX", "BAT", "BCH", "BTC", "CRV", "DOGE", "DOT", "ETH", "GRT", "LINK",
                          "LTC", "MKR", "PEPE", "SHIB", "SOL", "SUSHI", "TRUMP", "UNI", "USDC", "USDT", "XRP",
                          "XTZ", "YFI"})
CRYPTO_QUOTES = ("USDT", "USDC", "USD", "BTC")


def canonical(symbol: str) -> str:
    """``btcusd`` / ``BTC/USD`` -> ``BTC/USD`` (crypto pairs, new symbology); stocks upper-cased."""
    sym = symbol.strip().upper()
    if "/" in sym:
        return sym
    for quote in CRYPTO_QUOTES:
        base = sym[: -len(quote)]
        if sym.endswith(quote) and base in CRYPTO_BASES:
            return f"{base}/{quote}"
    return sym


def is_crypto(symbol: str) -> bool:
    return "/" in canonical(symbol)


def asset_id(symbol: str) -> str:
    sym = canonical(symbol)
    aid = str(uuid.uuid5(uuid.NAMESPACE_URL, "alpaca-emulator:asset:" + sym))
    _BY_ID[aid] = sym
    return aid


_BY_ID: dict[str, str] = {}


def symbol_for(symbol_or_asset_id: str) -> str:
    """A path's ``{symbol_or_asset_id}`` as a canonical symbol (asset IDs of symbols seen so far)."""
    raw = symbol_or_asset_id.strip()
    return _BY_ID.get(raw.lower()) or canonical(raw)


def asset(symbol: str) -> dict[str, Any]:
    """The spec's ``Assets`` shape (Trading) / ``Asset`` (Broker)."""
    sym = canonical(symbol)
    crypto = "/" in sym
    out: dict[str, Any] = {
        "id": asset_id(sym), "class": "crypto" if crypto else "us_equity",
        "exchange": "CRYPTO" if crypto else "NASDAQ", "symbol": sym, "name": f"{sym} (emulated)",
        "status": "active", "tradable": True, "marginable": not crypto, "shortable": not crypto,
        "easy_to_borrow": not crypto, "fractionable": True, "cusip": None,
        "maintenance_margin_requirement": 100 if crypto else 30,
        "margin_requirement_long": "100" if crypto else "30",
        "margin_requirement_short": "100", "attributes": [],
    }
    if crypto:
        out.update(min_order_size="0.000001", min_trade_increment="0.000000001", price_increment="0.01")
    return out


SAMPLE_SYMBOLS = ("AAPL", "MSFT", "AMZN", "NVDA", "TSLA", "SPY", "BTC/USD", "ETH/USD")


def trading_days(start: date, end: date) -> list[date]:
    out: list[date] = []
    d = start
    while d <= end and len(out) < 5000:
        if _trading_day(d):
            out.append(d)
        d += timedelta(days=1)
    return out


def next_trading_day(d: date) -> date:
    d += timedelta(days=1)
    while not _trading_day(d):
        d += timedelta(days=1)
    return d


def calendar_day(d: date) -> dict[str, Any]:
    """One ``GET /v2/calendar`` entry (holidays are not modelled: every weekday trades)."""
    return {"date": d.isoformat(), "open": "09:30", "close": "16:00", "session_open": "0400",
            "session_close": "2000", "settlement_date": next_trading_day(d).isoformat()}


def ny_date(ts: float) -> date:
    return datetime.fromtimestamp(ts, NY).date()


def is_open_at(ts: float) -> bool:
    et = datetime.fromtimestamp(ts, NY)
    return _trading_day(et.date()) and OPEN_T <= et.time() < CLOSE_T
