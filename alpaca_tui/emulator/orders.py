"""Orders as Alpaca takes them: the checks behind its 422 answers (:class:`OrderError`), a new
order from a request body, and the body of a replacement order (``PATCH /v2/orders/{id}``).

Shapes follow the spec's ``Order`` (string decimals, RFC 3339 timestamps, ``expires_at`` set: the
day's close for ``day`` orders, 90 days on for the others).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from alpaca_tui.emulator.market import CLOSE_T, NY, asset, canonical, rfc3339

ORDER_SIDES = ("buy", "sell")
ORDER_TYPES = ("market", "limit", "stop", "stop_limit", "trailing_stop")
TIME_IN_FORCE = ("day", "gtc", "opg", "cls", "ioc", "fok")
OPEN_STATUSES = frozenset({"new", "accepted", "partially_filled", "pending_new", "accepted_for_bidding",
                           "pending_cancel", "pending_replace", "held"})
GTC_DAYS = 90   # Alpaca expires GTC orders after 90 days (UNCONFIRMED for the emulator's purposes)


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


def money(d: Decimal) -> str:
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
    return canonical(symbol.strip()), str(side), str(otype), str(tif)


def _prices(body: dict[str, Any], otype: str) -> dict[str, Decimal | None]:
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
    return {"limit_price": limit_price, "stop_price": stop_price, "trail_price": trail_price,
            "trail_percent": trail_percent}


def _amounts(body: dict[str, Any], otype: str) -> dict[str, Decimal | None]:
    """qty / notional (exactly one), and the prices the order type needs."""
    qty = parse_decimal(body, "qty")
    notional = parse_decimal(body, "notional")
    if (qty is None) == (notional is None):
        raise OrderError("qty or notional is required" if qty is None else
                         "only one of qty and notional may be given")
    return {"qty": qty, "notional": notional, **_prices(body, otype)}


def expires_at(tif: str, now: float) -> str:
    """When an order with ``tif`` placed at ``now`` expires: today's close (day orders) or 90 days."""
    if tif == "gtc":
        return rfc3339(now + GTC_DAYS * 86400)
    et = datetime.fromtimestamp(now, NY)
    close = datetime.combine(et.date(), CLOSE_T, NY)
    if et >= close:
        close += timedelta(days=1)
    return rfc3339(close.timestamp())


def _client_order_id(body: dict[str, Any]) -> str | None:
    coid = body.get("client_order_id")
    if coid is not None and (not isinstance(coid, str) or not coid or len(coid) > 128):
        raise OrderError("client_order_id must be a string of at most 128 characters")
    return coid


def new_order(body: Any, now: float) -> tuple[dict[str, Any], Decimal | None, Decimal | None]:
    """A new order from a request body, not yet filled -> (order, qty, notional)."""
    if not isinstance(body, dict):
        raise OrderError("request body must be a JSON object")
    symbol, side, otype, tif = _order_kind(body)
    amounts = _amounts(body, otype)
    coid = _client_order_id(body)
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
        "trail_price": dec_str(amounts["trail_price"]), "hwm": None, "expires_at": expires_at(tif, now),
    }
    return order, amounts["qty"], amounts["notional"]


def replacement(old: dict[str, Any], body: Any, now: float) -> dict[str, Any]:
    """The order that replaces ``old`` with the fields of a ``PATCH`` body (qty, time_in_force,
    limit_price, stop_price, trail, client_order_id); ``old`` is not changed here."""
    if not isinstance(body, dict):
        raise OrderError("request body must be a JSON object")
    fields = {k: body[k] for k in ("qty", "time_in_force", "limit_price", "stop_price", "trail",
                                   "client_order_id") if body.get(k) is not None}
    if not fields:
        raise OrderError("nothing to replace: give qty, time_in_force, limit_price, stop_price or trail")
    merged = {k: old[k] for k in ("symbol", "side", "type", "time_in_force", "qty", "notional",
                                  "limit_price", "stop_price", "trail_price", "trail_percent")
              if old.get(k) is not None}
    merged.update(fields)
    if "trail" in fields:
        merged["trail_percent" if old.get("trail_percent") else "trail_price"] = merged.pop("trail")
    if "qty" in fields:
        merged.pop("notional", None)
    merged.setdefault("client_order_id", None)
    if merged["client_order_id"] is None:
        merged.pop("client_order_id")
    order, _qty, _notional = new_order(merged, now)
    order.update(replaces=old["id"], status="new")
    return order
