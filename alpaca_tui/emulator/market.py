"""A tiny deterministic fake market: prices, bars, quotes, the market clock, assets, and the
accounts/orders/transfers the emulator's Trading and Broker routes keep.

Shapes follow Alpaca's published examples and alpaca-py's models (field names, string
decimals, RFC 3339 timestamps) so official clients parse them.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from datetime import time as dtime
from decimal import Decimal, InvalidOperation
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


def crypto_bar(symbol: str, now: float) -> dict[str, Any]:
    b = bar(symbol, now)
    b["v"] = round(b["v"] / 1000, 6)
    return b


def crypto_quote(symbol: str, now: float) -> dict[str, Any]:
    q = quote(symbol, now)
    return {"ap": q["ap"], "as": q["as"] / 10, "bp": q["bp"], "bs": q["bs"] / 10, "t": q["t"]}


def asset_id(symbol: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "alpaca-emulator:asset:" + symbol.upper()))


def asset(symbol: str) -> dict[str, Any]:
    sym = symbol.upper()
    crypto = "/" in sym
    return {
        "id": asset_id(sym),
        "class": "crypto" if crypto else "us_equity",
        "exchange": "CRYPTO" if crypto else "NASDAQ",
        "symbol": sym,
        "name": f"{sym} (emulated)",
        "status": "active",
        "tradable": True,
        "marginable": not crypto,
        "maintenance_margin_requirement": 30,
        "shortable": not crypto,
        "easy_to_borrow": not crypto,
        "fractionable": True,
        "attributes": [],
    }


SAMPLE_SYMBOLS = ("AAPL", "MSFT", "AMZN", "NVDA", "TSLA", "SPY", "BTC/USD", "ETH/USD")

ORDER_SIDES = ("buy", "sell")
ORDER_TYPES = ("market", "limit", "stop", "stop_limit", "trailing_stop")
TIME_IN_FORCE = ("day", "gtc", "opg", "cls", "ioc", "fok")
OPEN_STATUSES = frozenset({"new", "accepted", "partially_filled", "pending_new", "accepted_for_bidding",
                           "pending_cancel", "pending_replace", "held"})


class OrderError(ValueError):
    """An order body that Alpaca would refuse (422, code 40010001)."""


def _decimal(body: dict[str, Any], name: str) -> Decimal | None:
    raw = body.get(name)
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise OrderError(f"invalid {name}")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise OrderError(f"invalid {name}") from None
    if not value.is_finite() or value <= 0:
        raise OrderError(f"{name} must be > 0")
    return value


def _money(d: Decimal) -> str:
    return format(d.quantize(Decimal("0.01")), "f")


def _s(d: Decimal | None) -> str | None:
    return None if d is None else format(d.normalize(), "f")


class Account:
    """One trading account (a trading key's account, or a broker customer account)."""

    def __init__(self, number: str, now: float, *, cash: str = "100000") -> None:
        self.id = str(uuid.uuid4())
        self.number = number
        self.created_at = now
        self.cash = Decimal(cash)
        self.positions: dict[str, Decimal] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.transfers: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def market_value(self, now: float) -> Decimal:
        return sum((q * Decimal(str(price(s, now))) for s, q in self.positions.items()), Decimal(0))

    def trade_account(self, now: float, *, broker: bool = False) -> dict[str, Any]:
        """``GET /v2/account`` (alpaca-py ``TradeAccount``), modelled on the spec example; with
        ``broker`` the Broker API's extra fields (``GET /v1/trading/accounts/{id}/account``)."""
        with self.lock:
            long_mv = sum((q * Decimal(str(price(s, now))) for s, q in self.positions.items() if q > 0),
                          Decimal(0))
            short_mv = sum((q * Decimal(str(price(s, now))) for s, q in self.positions.items() if q < 0),
                           Decimal(0))
            equity = self.cash + long_mv + short_mv
            cash = self.cash
        out: dict[str, Any] = {
            "id": self.id,
            "admin_configurations": {},
            "user_configurations": None,
            "account_number": self.number,
            "status": "ACTIVE",
            "crypto_status": "ACTIVE",
            "options_approved_level": 2,
            "options_trading_level": 2,
            "currency": "USD",
            "buying_power": _money(max(cash, Decimal(0)) * 2),
            "regt_buying_power": _money(max(cash, Decimal(0)) * 2),
            "daytrading_buying_power": "0",
            "effective_buying_power": _money(max(cash, Decimal(0)) * 2),
            "non_marginable_buying_power": _money(max(cash, Decimal(0))),
            "options_buying_power": _money(max(cash, Decimal(0))),
            "bod_dtbp": "0",
            "cash": _money(cash),
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "portfolio_value": _money(equity),
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "created_at": rfc3339(self.created_at),
            "trade_suspended_by_user": False,
            "multiplier": "2",
            "shorting_enabled": True,
            "equity": _money(equity),
            "last_equity": _money(equity),
            "long_market_value": _money(long_mv),
            "short_market_value": _money(short_mv),
            "position_market_value": _money(long_mv - short_mv),
            "initial_margin": "0",
            "maintenance_margin": "0",
            "last_maintenance_margin": "0",
            "sma": _money(equity),
            "daytrade_count": 0,
            "balance_asof": datetime.fromtimestamp(now, NY).date().isoformat(),
            "crypto_tier": 1,
            "intraday_adjustments": "0",
            "pending_reg_taf_fees": "0",
        }
        if broker:
            out.update({
                "cash_withdrawable": _money(max(cash, Decimal(0))),
                "cash_transferable": _money(max(cash, Decimal(0))),
                "previous_close": previous_close(now),
                "last_long_market_value": _money(long_mv),
                "last_short_market_value": _money(short_mv),
                "last_cash": _money(cash),
                "last_initial_margin": "0",
                "last_regt_buying_power": _money(max(cash, Decimal(0)) * 2),
                "last_buying_power": _money(max(cash, Decimal(0)) * 2),
                "clearing_broker": "ETC",
            })
        return out

    def positions_list(self, now: float) -> list[dict[str, Any]]:
        out = []
        with self.lock:
            items = list(self.positions.items())
        for sym, qty in items:
            if qty == 0:
                continue
            p = Decimal(str(price(sym, now)))
            a = asset(sym)
            mv = qty * p
            out.append({
                "asset_id": a["id"], "symbol": sym, "exchange": a["exchange"], "asset_class": a["class"],
                "asset_marginable": a["marginable"], "qty": _s(abs(qty)), "qty_available": _s(abs(qty)),
                "avg_entry_price": _s(p), "side": "long" if qty > 0 else "short",
                "market_value": _s(mv), "cost_basis": _s(mv), "unrealized_pl": "0",
                "unrealized_plpc": "0", "unrealized_intraday_pl": "0", "unrealized_intraday_plpc": "0",
                "current_price": _s(p), "lastday_price": _s(p), "change_today": "0",
            })
        return out

    def place_order(self, body: Any, now: float, market_open: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise OrderError("request body must be a JSON object")
        symbol = body.get("symbol")
        if not isinstance(symbol, str) or not symbol.strip():
            raise OrderError("symbol is required")
        symbol = symbol.strip().upper()
        side = body.get("side")
        if side not in ORDER_SIDES:
            raise OrderError("side must be buy or sell")
        otype = body.get("type", body.get("order_type"))
        if otype not in ORDER_TYPES:
            raise OrderError(f"type must be one of {', '.join(ORDER_TYPES)}")
        tif = body.get("time_in_force")
        if tif not in TIME_IN_FORCE:
            raise OrderError(f"time_in_force must be one of {', '.join(TIME_IN_FORCE)}")
        qty = _decimal(body, "qty")
        notional = _decimal(body, "notional")
        if (qty is None) == (notional is None):
            raise OrderError("qty or notional is required" if qty is None else
                             "only one of qty and notional may be given")
        limit_price = _decimal(body, "limit_price")
        stop_price = _decimal(body, "stop_price")
        if otype in ("limit", "stop_limit") and limit_price is None:
            raise OrderError("limit_price is required for limit orders")
        if otype in ("stop", "stop_limit") and stop_price is None:
            raise OrderError("stop_price is required for stop orders")
        trail_price = _decimal(body, "trail_price")
        trail_percent = _decimal(body, "trail_percent")
        if otype == "trailing_stop" and trail_price is None and trail_percent is None:
            raise OrderError("trail_price or trail_percent is required for trailing_stop orders")
        coid = body.get("client_order_id")
        if coid is not None and (not isinstance(coid, str) or not coid or len(coid) > 128):
            raise OrderError("client_order_id must be a string of at most 128 characters")
        ext = body.get("extended_hours", False)
        if not isinstance(ext, bool):
            raise OrderError("extended_hours must be a boolean")
        a = asset(symbol)
        ts = rfc3339(now)
        order: dict[str, Any] = {
            "id": str(uuid.uuid4()), "client_order_id": coid or str(uuid.uuid4()),
            "created_at": ts, "updated_at": ts, "submitted_at": ts, "filled_at": None,
            "expired_at": None, "canceled_at": None, "failed_at": None, "replaced_at": None,
            "replaced_by": None, "replaces": None, "asset_id": a["id"], "symbol": symbol,
            "asset_class": a["class"], "notional": _s(notional), "qty": _s(qty), "filled_qty": "0",
            "filled_avg_price": None, "order_class": "simple", "order_type": otype, "type": otype,
            "side": side, "position_intent": ("buy_to_open" if side == "buy" else "sell_to_close"),
            "time_in_force": tif, "limit_price": _s(limit_price), "stop_price": _s(stop_price),
            "status": "accepted", "extended_hours": ext, "legs": None,
            "trail_percent": _s(trail_percent), "trail_price": _s(trail_price), "hwm": None,
            "subtag": None, "source": None, "expires_at": None,
        }
        with self.lock:
            if coid and any(o["client_order_id"] == coid for o in self.orders.values()):
                raise OrderError("client_order_id must be unique")
            if otype == "market" and (market_open or "/" in symbol):
                p = Decimal(str(price(symbol, now)))
                if qty is not None:
                    fill_qty = qty
                else:
                    assert notional is not None
                    fill_qty = (notional / p).quantize(Decimal("0.000000001"))
                sign = 1 if side == "buy" else -1
                self.cash -= sign * fill_qty * p
                self.positions[symbol] = self.positions.get(symbol, Decimal(0)) + sign * fill_qty
                order.update(status="filled", filled_at=ts, filled_qty=_s(fill_qty),
                             filled_avg_price=_s(p))
            elif otype != "market":
                order["status"] = "new"
            self.orders[order["id"]] = order
        return dict(order)

    def list_orders(self, status: str, limit: int, symbols: set[str] | None,
                    direction: str) -> list[dict[str, Any]]:
        with self.lock:
            orders = list(self.orders.values())
        if status == "open":
            orders = [o for o in orders if o["status"] in OPEN_STATUSES]
        elif status == "closed":
            orders = [o for o in orders if o["status"] not in OPEN_STATUSES]
        if symbols:
            orders = [o for o in orders if o["symbol"] in symbols]
        orders.sort(key=lambda o: o["submitted_at"], reverse=(direction != "asc"))
        return [dict(o) for o in orders[:limit]]

    def cancel(self, order_id: str, now: float) -> str:
        """-> "ok" | "missing" | "final"."""
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                return "missing"
            if order["status"] not in OPEN_STATUSES:
                return "final"
            ts = rfc3339(now)
            order.update(status="canceled", canceled_at=ts, updated_at=ts)
            return "ok"


DEMO_CONTACT: dict[str, Any] = {
    "email_address": "customer@example.com", "phone_number": "+15555550123",
    "street_address": ["20 N San Mateo Dr"], "city": "San Mateo", "state": "CA", "postal_code": "94401",
    "country": "USA",
}


def complete_contact(contact: dict[str, Any]) -> dict[str, Any]:
    """Fill the address fields Alpaca's Contact model requires with demo values."""
    out = {**DEMO_CONTACT, **{k: v for k, v in contact.items() if v is not None}}
    if not isinstance(out.get("street_address"), list):
        out["street_address"] = [str(out["street_address"])]
    return out


def broker_account(acct: Account, contact: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Broker API account (alpaca-py ``broker.models.Account``)."""
    return {
        "id": acct.id,
        "account_number": acct.number,
        "status": "ACTIVE",
        "crypto_status": "ACTIVE",
        "currency": "USD",
        "last_equity": format(acct.cash.quantize(Decimal("0.01")), "f"),
        "created_at": rfc3339(acct.created_at),
        "account_type": "trading",
        "enabled_assets": ["us_equity", "crypto"],
        "contact": contact or DEMO_CONTACT,
    }
