"""Trading API handlers (trading-live / trading-paper): the account, its configurations, orders
and positions, the market clock and calendar, assets. The same handlers serve the Broker API's
``/v1/trading/accounts/{account_id}/...`` routes (:func:`~.common.account` picks the account).
Routes: :data:`alpaca_tui.emulator.api.TRADING` and :data:`~.api.BROKER`."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from alpaca_tui.emulator import market
from alpaca_tui.emulator.accounts import Account
from alpaca_tui.emulator.book import broker_configurations
from alpaca_tui.emulator.common import (
    account,
    account_and_body,
    bad_request,
    list_orders,
    not_found,
    place_order,
    unprocessable,
)
from alpaca_tui.emulator.context import Ctx
from alpaca_tui.emulator.history import QueryError, parse_time
from alpaca_tui.emulator.orders import OrderError
from alpaca_tui.emulator.wire import Reply, alpaca_error

__all__ = ["list_orders", "place_order"]


def get_account(ctx: Ctx) -> Reply:
    acct = account(ctx)
    if isinstance(acct, Reply):
        return acct
    out = acct.trade_account(ctx.now, broker="account_id" in ctx.params)
    if "account_id" in ctx.params:
        out["user_configurations"] = broker_configurations(acct)
    return Reply.json(200, out)


def _configurations(ctx: Ctx, acct: Account) -> dict[str, object]:
    return broker_configurations(acct) if "account_id" in ctx.params else dict(acct.configurations)


def get_configurations(ctx: Ctx) -> Reply:
    acct = account(ctx)
    return acct if isinstance(acct, Reply) else Reply.json(200, _configurations(ctx, acct))


_CONFIG_TYPES = {"dtbp_check": str, "trade_confirm_email": str, "suspend_trade": bool, "no_shorting": bool,
                 "fractional_trading": bool, "max_margin_multiplier": str, "max_options_trading_level": int,
                 "pdt_check": str, "ptp_no_exception_entry": bool, "disable_overnight_trading": bool}


def patch_configurations(ctx: Ctx) -> Reply:
    found = account_and_body(ctx)
    if isinstance(found, Reply):
        return found
    acct, body = found
    for key, value in body.items():
        want = _CONFIG_TYPES.get(key)
        if want is None:
            return unprocessable(f"unknown configuration {key}")
        if value is not None and (not isinstance(value, want) or (want is int and isinstance(value, bool))):
            return unprocessable(f"invalid {key}")
    with acct.lock:
        acct.configurations.update({k: v for k, v in body.items() if v is not None})
        return Reply.json(200, _configurations(ctx, acct))


def get_clock(ctx: Ctx) -> Reply:
    return Reply.json(200, market.market_clock(ctx.now))


def get_calendar(ctx: Ctx) -> Reply:
    try:
        start = market.ny_date(parse_time(ctx.arg("start"), ctx.now - 30 * 86400))
        end = market.ny_date(parse_time(ctx.arg("end"), ctx.now + 30 * 86400))
    except QueryError as exc:
        return bad_request(str(exc))
    if (end - start).days > 3660:
        return bad_request("the date range is limited to 10 years")
    return Reply.json(200, [market.calendar_day(d) for d in market.trading_days(start, end)])


# -- positions ------------------------------------------------------------------------------------
def get_positions(ctx: Ctx) -> Reply:
    acct = account(ctx)
    return acct if isinstance(acct, Reply) else Reply.json(200, acct.positions_list(ctx.now))


def get_position(ctx: Ctx) -> Reply:
    acct = account(ctx)
    if isinstance(acct, Reply):
        return acct
    sym = acct.find_position(ctx.params["symbol"])
    if sym is None:
        return alpaca_error(404, 40410000, "position does not exist")
    with acct.lock:
        holding = acct.holdings[sym]
    return Reply.json(200, acct.position(sym, holding, ctx.now))


def _fraction(ctx: Ctx) -> Decimal | Reply:
    """``?percentage=`` (0-100] or ``?qty=`` as a fraction of the position (1 when neither)."""
    raw_pct, raw_qty = ctx.arg("percentage"), ctx.arg("qty")
    if raw_pct and raw_qty:
        return unprocessable("only one of qty and percentage may be given")
    try:
        if raw_pct:
            pct = Decimal(raw_pct)
            if not 0 < pct <= 100:
                return unprocessable("percentage must be between 0 and 100")
            return pct / 100
        return Decimal(raw_qty) if raw_qty else Decimal(1)
    except InvalidOperation:
        return unprocessable("invalid qty or percentage")


def close_position(ctx: Ctx) -> Reply:
    acct = account(ctx)
    if isinstance(acct, Reply):
        return acct
    sym = acct.find_position(ctx.params["symbol"])
    if sym is None:
        return alpaca_error(404, 40410000, "position does not exist")
    fraction = _fraction(ctx)
    if isinstance(fraction, Reply):
        return fraction
    if ctx.arg("qty"):
        with acct.lock:
            held = abs(acct.holdings[sym].qty)
        if fraction <= 0 or fraction > held:
            return unprocessable("qty must be > 0 and at most the position's qty")
        fraction = fraction / held
    order = acct.close(sym, ctx.now, market.market_clock(ctx.now)["is_open"], fraction)
    return Reply.json(200, order)


def close_all_positions(ctx: Ctx) -> Reply:
    acct = account(ctx)
    if isinstance(acct, Reply):
        return acct
    if (ctx.arg("cancel_orders") or "").lower() == "true":
        acct.cancel_all(ctx.now)
    is_open = market.market_clock(ctx.now)["is_open"]
    with acct.lock:
        held = [s for s, h in acct.holdings.items() if h.qty != 0]
    out = [{"symbol": s.replace("/", ""), "status": 200, "body": acct.close(s, ctx.now, is_open)}
           for s in held]
    return Reply.json(207, out)


# -- orders ---------------------------------------------------------------------------------------
def get_order(ctx: Ctx) -> Reply:
    acct = account(ctx)
    if isinstance(acct, Reply):
        return acct
    order = acct.find_order(order_id=ctx.params["order_id"])
    return Reply.json(200, order) if order else not_found("order")


def get_order_by_client_id(ctx: Ctx) -> Reply:
    acct = account(ctx)
    if isinstance(acct, Reply):
        return acct
    coid = ctx.arg("client_order_id")
    if not coid:
        return unprocessable("client_order_id is required")
    order = acct.find_order(client_order_id=coid)
    return Reply.json(200, order) if order else not_found("order")


def replace_order(ctx: Ctx) -> Reply:
    found = account_and_body(ctx, object_required=False)
    if isinstance(found, Reply):
        return found
    acct, body = found
    try:
        result = acct.replace(ctx.params["order_id"], body, ctx.now)
    except OrderError as exc:
        return unprocessable(str(exc))
    if result == "missing":
        return not_found("order")
    if result == "final":
        return alpaca_error(422, 42210000, "order is not replaceable")
    return Reply.json(200, result)


def delete_order(ctx: Ctx) -> Reply:
    acct = account(ctx)
    if isinstance(acct, Reply):
        return acct
    result = acct.cancel(ctx.params["order_id"], ctx.now)
    if result == "missing":
        return not_found("order")
    if result == "final":
        return alpaca_error(422, 42210000, "order is not cancelable")
    return Reply(204, b"", None)


def delete_orders(ctx: Ctx) -> Reply:
    acct = account(ctx)
    return acct if isinstance(acct, Reply) else Reply.json(207, acct.cancel_all(ctx.now))


# -- assets ---------------------------------------------------------------------------------------
_SYMBOL = re.compile(r"^[A-Za-z][A-Za-z0-9.]{0,11}(?:/[A-Za-z]{2,6})?$")


def get_asset(ctx: Ctx) -> Reply:
    raw = ctx.params["symbol"]
    sym = market.symbol_for(raw)
    if not _SYMBOL.match(sym):
        return alpaca_error(404, 40410000, f"asset not found for {raw}")
    return Reply.json(200, market.asset(sym))


def get_assets(ctx: Ctx) -> Reply:
    cls = ctx.arg("asset_class")
    status = ctx.arg("status")
    assets = [market.asset(s) for s in market.SAMPLE_SYMBOLS]
    if cls:
        assets = [a for a in assets if a["class"] == cls]
    if status:
        assets = [a for a in assets if a["status"] == status]
    return Reply.json(200, assets)
