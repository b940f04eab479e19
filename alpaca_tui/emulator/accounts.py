"""The fake back office: trading accounts with orders, positions and transfers, broker customer
accounts, and the :class:`Book` that holds them per host role.

Order checks follow Alpaca's 422 answers (``OrderError``); shapes follow alpaca-py's models
(string decimals, RFC 3339 timestamps) so official clients parse them.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from alpaca_tui.emulator.market import NY, asset, previous_close, price, rfc3339
from alpaca_tui.emulator.roles import BROKER_LIVE, BROKER_SANDBOX, TRADING_LIVE, TRADING_PAPER

ORDER_SIDES = ("buy", "sell")
ORDER_TYPES = ("market", "limit", "stop", "stop_limit", "trailing_stop")
TIME_IN_FORCE = ("day", "gtc", "opg", "cls", "ioc", "fok")
OPEN_STATUSES = frozenset({"new", "accepted", "partially_filled", "pending_new", "accepted_for_bidding",
                           "pending_cancel", "pending_replace", "held"})


class OrderError(ValueError):
    """An order body that Alpaca would refuse (422, code 40010001)."""


def parse_decimal(body: dict[str, Any], name: str) -> Decimal | None:
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


def dec_str(d: Decimal | None) -> str | None:
    return None if d is None else format(d.normalize(), "f")


def _order_kind(body: dict[str, Any]) -> tuple[str, str, str, str]:
    """-> (SYMBOL, side, type, time_in_force), checked in Alpaca's order."""
    symbol = body.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip():
        raise OrderError("symbol is required")
    side = body.get("side")
    if side not in ORDER_SIDES:
        raise OrderError("side must be buy or sell")
    otype = body.get("type", body.get("order_type"))
    if otype not in ORDER_TYPES:
        raise OrderError(f"type must be one of {', '.join(ORDER_TYPES)}")
    tif = body.get("time_in_force")
    if tif not in TIME_IN_FORCE:
        raise OrderError(f"time_in_force must be one of {', '.join(TIME_IN_FORCE)}")
    return symbol.strip().upper(), str(side), str(otype), str(tif)


def _order_amounts(body: dict[str, Any], otype: str) -> dict[str, Decimal | None]:
    """qty / notional (exactly one), and the prices the order type needs."""
    qty = parse_decimal(body, "qty")
    notional = parse_decimal(body, "notional")
    if (qty is None) == (notional is None):
        raise OrderError("qty or notional is required" if qty is None else
                         "only one of qty and notional may be given")
    limit_price = parse_decimal(body, "limit_price")
    stop_price = parse_decimal(body, "stop_price")
    if otype in ("limit", "stop_limit") and limit_price is None:
        raise OrderError("limit_price is required for limit orders")
    if otype in ("stop", "stop_limit") and stop_price is None:
        raise OrderError("stop_price is required for stop orders")
    trail_price = parse_decimal(body, "trail_price")
    trail_percent = parse_decimal(body, "trail_percent")
    if otype == "trailing_stop" and trail_price is None and trail_percent is None:
        raise OrderError("trail_price or trail_percent is required for trailing_stop orders")
    return {"qty": qty, "notional": notional, "limit_price": limit_price, "stop_price": stop_price,
            "trail_price": trail_price, "trail_percent": trail_percent}


def new_order(body: Any, now: float) -> tuple[dict[str, Any], Decimal | None, Decimal | None]:
    """A new order from a request body, not yet filled -> (order, qty, notional)."""
    if not isinstance(body, dict):
        raise OrderError("request body must be a JSON object")
    symbol, side, otype, tif = _order_kind(body)
    amounts = _order_amounts(body, otype)
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
        "asset_class": a["class"], "notional": dec_str(amounts["notional"]), "qty": dec_str(amounts["qty"]),
        "filled_qty": "0", "filled_avg_price": None, "order_class": "simple", "order_type": otype,
        "type": otype, "side": side, "position_intent": ("buy_to_open" if side == "buy" else "sell_to_close"),
        "time_in_force": tif, "limit_price": dec_str(amounts["limit_price"]),
        "stop_price": dec_str(amounts["stop_price"]), "status": "accepted", "extended_hours": ext,
        "legs": None, "trail_percent": dec_str(amounts["trail_percent"]),
        "trail_price": dec_str(amounts["trail_price"]), "hwm": None,
        "subtag": None, "source": None, "expires_at": None,
    }
    return order, amounts["qty"], amounts["notional"]


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

    def _balances(self, now: float) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        """-> (cash, long market value, short market value, equity) at ``now``'s prices."""
        with self.lock:
            long_mv = sum((q * Decimal(str(price(s, now))) for s, q in self.positions.items() if q > 0),
                          Decimal(0))
            short_mv = sum((q * Decimal(str(price(s, now))) for s, q in self.positions.items() if q < 0),
                           Decimal(0))
            return self.cash, long_mv, short_mv, self.cash + long_mv + short_mv

    def trade_account(self, now: float, *, broker: bool = False) -> dict[str, Any]:
        """``GET /v2/account`` (alpaca-py ``TradeAccount``), modelled on the spec example; with
        ``broker`` the Broker API's extra fields (``GET /v1/trading/accounts/{id}/account``)."""
        cash, long_mv, short_mv, equity = self._balances(now)
        free = _money(max(cash, Decimal(0)))
        margin = _money(max(cash, Decimal(0)) * 2)
        out: dict[str, Any] = {
            "id": self.id, "admin_configurations": {}, "user_configurations": None,
            "account_number": self.number, "status": "ACTIVE", "crypto_status": "ACTIVE",
            "options_approved_level": 2, "options_trading_level": 2, "currency": "USD",
            "buying_power": margin, "regt_buying_power": margin, "daytrading_buying_power": "0",
            "effective_buying_power": margin, "non_marginable_buying_power": free,
            "options_buying_power": free, "bod_dtbp": "0", "cash": _money(cash), "accrued_fees": "0",
            "pending_transfer_in": "0", "portfolio_value": _money(equity), "pattern_day_trader": False,
            "trading_blocked": False, "transfers_blocked": False, "account_blocked": False,
            "created_at": rfc3339(self.created_at), "trade_suspended_by_user": False, "multiplier": "2",
            "shorting_enabled": True, "equity": _money(equity), "last_equity": _money(equity),
            "long_market_value": _money(long_mv), "short_market_value": _money(short_mv),
            "position_market_value": _money(long_mv - short_mv), "initial_margin": "0",
            "maintenance_margin": "0", "last_maintenance_margin": "0", "sma": _money(equity),
            "daytrade_count": 0, "balance_asof": datetime.fromtimestamp(now, NY).date().isoformat(),
            "crypto_tier": 1, "intraday_adjustments": "0", "pending_reg_taf_fees": "0",
        }
        if broker:
            out.update({
                "cash_withdrawable": free, "cash_transferable": free, "previous_close": previous_close(now),
                "last_long_market_value": _money(long_mv), "last_short_market_value": _money(short_mv),
                "last_cash": _money(cash), "last_initial_margin": "0", "last_regt_buying_power": margin,
                "last_buying_power": margin, "clearing_broker": "ETC",
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
                "asset_marginable": a["marginable"], "qty": dec_str(abs(qty)),
                "qty_available": dec_str(abs(qty)),
                "avg_entry_price": dec_str(p), "side": "long" if qty > 0 else "short",
                "market_value": dec_str(mv), "cost_basis": dec_str(mv), "unrealized_pl": "0",
                "unrealized_plpc": "0", "unrealized_intraday_pl": "0", "unrealized_intraday_plpc": "0",
                "current_price": dec_str(p), "lastday_price": dec_str(p), "change_today": "0",
            })
        return out

    def place_order(self, body: Any, now: float, market_open: bool) -> dict[str, Any]:
        """Check ``body`` (:class:`OrderError` for what Alpaca refuses with 422) and keep the order;
        a market order fills at once while the market is open (crypto always)."""
        order, qty, notional = new_order(body, now)
        symbol, side = order["symbol"], order["side"]
        coid = body.get("client_order_id")
        with self.lock:
            if coid and any(o["client_order_id"] == coid for o in self.orders.values()):
                raise OrderError("client_order_id must be unique")
            if order["type"] == "market" and (market_open or "/" in symbol):
                p = Decimal(str(price(symbol, now)))
                if qty is not None:
                    fill_qty = qty
                else:
                    assert notional is not None
                    fill_qty = (notional / p).quantize(Decimal("0.000000001"))
                sign = 1 if side == "buy" else -1
                self.cash -= sign * fill_qty * p
                self.positions[symbol] = self.positions.get(symbol, Decimal(0)) + sign * fill_qty
                order.update(status="filled", filled_at=order["created_at"], filled_qty=dec_str(fill_qty),
                             filled_avg_price=dec_str(p))
            elif order["type"] != "market":
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


class Book:
    """Every account the emulator keeps: one per trading host, customer accounts per broker host,
    plus the broker hosts' contacts, journals and rebalancing portfolios."""

    def __init__(self, now: float) -> None:
        self.lock = threading.Lock()
        self.trading = {
            TRADING_PAPER: Account("PALPACA_123", now),
            TRADING_LIVE: Account("ALPACA_123", now, cash="25000"),
        }
        self.broker: dict[str, dict[str, Account]] = {BROKER_LIVE: {}, BROKER_SANDBOX: {}}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.journals: dict[str, list[dict[str, Any]]] = {BROKER_LIVE: [], BROKER_SANDBOX: []}
        self.portfolios: dict[str, list[dict[str, Any]]] = {BROKER_LIVE: [], BROKER_SANDBOX: []}
        for role, prefix in ((BROKER_LIVE, "LA"), (BROKER_SANDBOX, "SB")):
            acct = Account(f"{prefix}0000000001", now, cash="50000")
            self.broker[role][acct.id] = acct
