"""A trading account of the fake back office: cash, positions (with their cost), orders and their
fills, and the records other modules keep on it (activities, watchlists, configurations, ACH
relationships, transfers). One per trading host, and one per broker customer account.

Market orders fill at once while the market is open (crypto always) and move cash and the
position; each fill is a ``FILL`` activity and, on a broker account, a trade event
(``emit(topic, payload, now)``, wired by :class:`~.book.Book`). Shapes follow the spec's
``TradeAccount``, ``Position`` and ``Order``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from alpaca_tui.emulator import market
from alpaca_tui.emulator.market import NY, asset, previous_close, price, rfc3339
from alpaca_tui.emulator.orders import OPEN_STATUSES, OrderError, dec_str, money, new_order, replacement

Emit = Callable[[str, dict[str, Any], float], object]

DEFAULT_CONFIGURATIONS: dict[str, Any] = {
    "dtbp_check": "entry", "trade_confirm_email": "all", "suspend_trade": False, "no_shorting": False,
    "fractional_trading": True, "max_margin_multiplier": "4", "max_options_trading_level": 2,
    "pdt_check": "entry", "ptp_no_exception_entry": False, "disable_overnight_trading": False,
}


@dataclass
class Holding:
    qty: Decimal          # signed: negative for a short position
    cost: Decimal         # signed cost basis of ``qty``


def _dec(value: Decimal, places: str = "0.0001") -> str:
    return format(value.quantize(Decimal(places)).normalize(), "f")


class Account:
    """One trading account (a trading key's account, or a broker customer account)."""

    def __init__(self, number: str, now: float, *, cash: str = "100000") -> None:
        self.id = str(uuid.uuid4())
        self.number = number
        self.created_at = now
        self.status = "ACTIVE"
        self.cash = Decimal(cash)
        self.holdings: dict[str, Holding] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.transfers: list[dict[str, Any]] = []
        self.ach: dict[str, dict[str, Any]] = {}
        self.activities: list[dict[str, Any]] = []
        self.watchlists: dict[str, dict[str, Any]] = {}
        self.configurations: dict[str, Any] = dict(DEFAULT_CONFIGURATIONS)
        self.lock = threading.RLock()
        self.emit: Emit | None = None

    # -- balances and positions ----------------------------------------------------------
    def _balances(self, now: float) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        """-> (cash, long market value, short market value, equity) at ``now``'s prices."""
        with self.lock:
            values = [h.qty * Decimal(str(price(s, now))) for s, h in self.holdings.items()]
            long_mv = sum((v for v in values if v > 0), Decimal(0))
            short_mv = sum((v for v in values if v < 0), Decimal(0))
            return self.cash, long_mv, short_mv, self.cash + long_mv + short_mv

    def trade_account(self, now: float, *, broker: bool = False) -> dict[str, Any]:
        """``GET /v2/account`` (the spec's ``TradeAccount``); with ``broker`` the Broker API's
        extra fields (``GET /v1/trading/accounts/{id}/account``)."""
        cash, long_mv, short_mv, equity = self._balances(now)
        free = money(max(cash, Decimal(0)))
        margin = money(max(cash, Decimal(0)) * 2)
        out: dict[str, Any] = {
            "id": self.id, "account_number": self.number, "status": self.status, "crypto_status": "ACTIVE",
            "options_approved_level": 2, "options_trading_level": 2, "currency": "USD",
            "buying_power": margin, "regt_buying_power": margin, "daytrading_buying_power": "0",
            "effective_buying_power": margin, "non_marginable_buying_power": free,
            "options_buying_power": free, "bod_dtbp": "0", "cash": money(cash), "accrued_fees": "0",
            "pending_transfer_in": "0", "portfolio_value": money(equity), "pattern_day_trader": False,
            "trading_blocked": False, "transfers_blocked": False, "account_blocked": False,
            "created_at": rfc3339(self.created_at), "trade_suspended_by_user": False, "multiplier": "2",
            "shorting_enabled": True, "equity": money(equity), "last_equity": money(equity),
            "long_market_value": money(long_mv), "short_market_value": money(short_mv),
            "position_market_value": money(long_mv - short_mv), "initial_margin": "0",
            "maintenance_margin": "0", "last_maintenance_margin": "0", "sma": money(equity),
            "daytrade_count": 0, "balance_asof": datetime.fromtimestamp(now, NY).date().isoformat(),
            "crypto_tier": 1, "intraday_adjustments": "0", "pending_reg_taf_fees": "0",
            "admin_configurations": {}, "user_configurations": dict(self.configurations),
        }
        if broker:
            out.update({
                "cash_withdrawable": free, "cash_transferable": free, "previous_close": previous_close(now),
                "last_long_market_value": money(long_mv), "last_short_market_value": money(short_mv),
                "last_cash": money(cash), "last_initial_margin": "0", "last_regt_buying_power": margin,
                "last_buying_power": margin, "clearing_broker": "ETC", "pending_transfer_out": "0",
            })
        return out

    def position(self, sym: str, holding: Holding, now: float) -> dict[str, Any]:
        """The spec's ``Position`` (crypto symbols in Alpaca's position symbology: ``BTCUSD``)."""
        p = Decimal(str(price(sym, now)))
        last = Decimal(str(price(sym, now - 86400)))
        a = asset(sym)
        mv = holding.qty * p
        upl = mv - holding.cost
        plpc = upl / abs(holding.cost) if holding.cost else Decimal(0)
        qty = abs(holding.qty)
        return {
            "asset_id": a["id"], "symbol": sym.replace("/", ""), "exchange": a["exchange"],
            "asset_class": a["class"], "asset_marginable": a["marginable"], "qty": dec_str(qty),
            "qty_available": dec_str(qty), "avg_entry_price": _dec(abs(holding.cost) / qty),
            "side": "long" if holding.qty > 0 else "short", "market_value": _dec(mv, "0.01"),
            "cost_basis": _dec(holding.cost, "0.01"), "unrealized_pl": _dec(upl, "0.01"),
            "unrealized_plpc": _dec(plpc), "unrealized_intraday_pl": _dec(upl, "0.01"),
            "unrealized_intraday_plpc": _dec(plpc), "current_price": dec_str(p),
            "lastday_price": dec_str(last),
            "change_today": _dec((p - last) / last if last else Decimal(0)),
        }

    def positions_list(self, now: float) -> list[dict[str, Any]]:
        with self.lock:
            items = [(s, Holding(h.qty, h.cost)) for s, h in self.holdings.items() if h.qty != 0]
        return [self.position(s, h, now) for s, h in items]

    def find_position(self, symbol_or_asset_id: str) -> str | None:
        """The held symbol for ``AAPL`` / ``BTCUSD`` / ``BTC/USD`` / an asset ID (or None)."""
        sym = market.symbol_for(symbol_or_asset_id)
        with self.lock:
            h = self.holdings.get(sym)
            return sym if h is not None and h.qty != 0 else None

    # -- orders --------------------------------------------------------------------------
    def _event(self, event: str, order: dict[str, Any], now: float, **extra: Any) -> None:
        if self.emit is not None:
            self.emit("trades", {"account_id": self.id, "event": event, "order": dict(order),
                                 "execution_id": str(uuid.uuid4()), "timestamp": rfc3339(now), **extra}, now)

    def _fill(self, order: dict[str, Any], qty: Decimal | None, notional: Decimal | None, now: float) -> None:
        p = Decimal(str(price(order["symbol"], now)))
        fill_qty = qty if qty is not None else (notional / p).quantize(Decimal("0.000000001"))  # type: ignore[operator]
        sign = 1 if order["side"] == "buy" else -1
        self.cash -= sign * fill_qty * p
        h = self.holdings.setdefault(order["symbol"], Holding(Decimal(0), Decimal(0)))
        if h.qty == 0 or (h.qty > 0) == (sign > 0):
            h.cost += sign * fill_qty * p
        else:   # reducing a position: its cost shrinks pro rata
            h.cost -= h.cost * min(fill_qty, abs(h.qty)) / abs(h.qty)
        h.qty += sign * fill_qty
        ts = rfc3339(now)
        order.update(status="filled", filled_at=ts, updated_at=ts, filled_qty=dec_str(fill_qty),
                     filled_avg_price=dec_str(p))
        self.activities.append({
            "id": activity_id(now, len(self.activities)), "activity_type": "FILL", "type": "fill",
            "transaction_time": ts, "price": dec_str(p), "qty": dec_str(fill_qty), "side": order["side"],
            "symbol": order["symbol"], "leaves_qty": "0", "cum_qty": dec_str(fill_qty),
            "order_id": order["id"], "order_status": "filled"})
        self._event("fill", order, now, price=dec_str(p), qty=dec_str(fill_qty), position_qty=dec_str(h.qty))

    def place_order(self, body: Any, now: float, market_open: bool) -> dict[str, Any]:
        """Check ``body`` (:class:`OrderError` for what Alpaca refuses with 422) and keep the order;
        a market order fills at once while the market is open (crypto always)."""
        order, qty, notional = new_order(body, now)
        with self.lock:
            self._unique(body.get("client_order_id"))
            self._accept(order, qty, notional, now, market_open)
        return dict(order)

    def _unique(self, coid: Any) -> None:
        if coid and any(o["client_order_id"] == coid for o in self.orders.values()):
            raise OrderError("client_order_id must be unique")

    def _accept(self, order: dict[str, Any], qty: Decimal | None, notional: Decimal | None, now: float,
                market_open: bool) -> None:
        self.orders[order["id"]] = order
        if order["type"] != "market":
            order["status"] = "new"
        self._event("new", order, now)
        if order["type"] == "market" and (market_open or "/" in order["symbol"]):
            self._fill(order, qty, notional, now)

    def replace(self, order_id: str, body: Any, now: float) -> dict[str, Any] | str:
        """A new order replacing an open one -> the new order, or "missing" | "final"."""
        with self.lock:
            old = self.orders.get(order_id)
            if old is None:
                return "missing"
            if old["status"] not in OPEN_STATUSES:
                return "final"
            new = replacement(old, body, now)
            if new["client_order_id"] != old["client_order_id"]:
                self._unique(new["client_order_id"])
            ts = rfc3339(now)
            old.update(status="replaced", replaced_at=ts, replaced_by=new["id"], updated_at=ts)
            self._event("replaced", old, now)
            self.orders[new["id"]] = new
            self._event("new", new, now)
            return dict(new)

    def find_order(self, order_id: str | None = None,
                   client_order_id: str | None = None) -> dict[str, Any] | None:
        with self.lock:
            if order_id is not None:
                order = self.orders.get(order_id)
            else:
                order = next((o for o in self.orders.values() if o["client_order_id"] == client_order_id),
                             None)
            return dict(order) if order else None

    def list_orders(self, status: str, limit: int, symbols: set[str] | None, direction: str,
                    after: str | None = None, until: str | None = None,
                    side: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            orders = [dict(o) for o in self.orders.values()]
        if status == "open":
            orders = [o for o in orders if o["status"] in OPEN_STATUSES]
        elif status == "closed":
            orders = [o for o in orders if o["status"] not in OPEN_STATUSES]
        if symbols:
            orders = [o for o in orders if o["symbol"] in symbols]
        if side:
            orders = [o for o in orders if o["side"] == side]
        if after:
            orders = [o for o in orders if o["submitted_at"] > after]
        if until:
            orders = [o for o in orders if o["submitted_at"] < until]
        orders.sort(key=lambda o: o["submitted_at"], reverse=(direction != "asc"))
        return orders[:limit]

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
            self._event("canceled", order, now)
            return "ok"

    def cancel_all(self, now: float) -> list[dict[str, Any]]:
        """Cancel every open order -> the spec's ``CanceledOrderResponse`` list."""
        with self.lock:
            ids = [oid for oid, o in self.orders.items() if o["status"] in OPEN_STATUSES]
            out = []
            for oid in ids:
                self.cancel(oid, now)
                out.append({"id": oid, "status": 200, "body": dict(self.orders[oid])})
            return out

    def close(self, sym: str, now: float, market_open: bool,
              fraction: Decimal = Decimal(1)) -> dict[str, Any]:
        """A market order that closes ``fraction`` of the position in ``sym`` (held: see find_position)."""
        with self.lock:
            h = self.holdings[sym]
            qty = abs(h.qty) * fraction
            body = {"symbol": sym, "qty": dec_str(qty), "side": "sell" if h.qty > 0 else "buy",
                    "type": "market", "time_in_force": "gtc" if "/" in sym else "day"}
            order, q, n = new_order(body, now)
            self._accept(order, q, n, now, market_open)
            return dict(order)


def activity_id(now: float, seq: int) -> str:
    """Alpaca's activity IDs sort by time: ``20270115150000000::<uuid>``."""
    stamp = datetime.fromtimestamp(now, NY).strftime("%Y%m%d%H%M%S") + f"{seq % 1000:03d}"
    return f"{stamp}::{uuid.uuid4()}"
