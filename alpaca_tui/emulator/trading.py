"""Trading API handlers (trading-live / trading-paper): the key's own account, its orders and
positions, the market clock and assets. Routes: :data:`alpaca_tui.emulator.api.TRADING`."""

from __future__ import annotations

import re

from alpaca_tui.emulator import market
from alpaca_tui.emulator.accounts import Account
from alpaca_tui.emulator.common import list_orders, not_found, place_order
from alpaca_tui.emulator.context import Ctx
from alpaca_tui.emulator.wire import Reply, alpaca_error


def _account(ctx: Ctx) -> Account:
    return ctx.book.trading[ctx.role]


def get_account(ctx: Ctx) -> Reply:
    return Reply.json(200, _account(ctx).trade_account(ctx.now))


def get_clock(ctx: Ctx) -> Reply:
    return Reply.json(200, market.market_clock(ctx.now))


def get_positions(ctx: Ctx) -> Reply:
    return Reply.json(200, _account(ctx).positions_list(ctx.now))


def get_position(ctx: Ctx) -> Reply:
    sym = ctx.params["symbol"].upper()
    for pos in _account(ctx).positions_list(ctx.now):
        if pos["symbol"] == sym or pos["asset_id"] == ctx.params["symbol"]:
            return Reply.json(200, pos)
    return alpaca_error(404, 40410000, "position does not exist")


def post_order(ctx: Ctx) -> Reply:
    return place_order(ctx, _account(ctx))


def get_orders(ctx: Ctx) -> Reply:
    return list_orders(ctx, _account(ctx))


def get_order(ctx: Ctx) -> Reply:
    order = _account(ctx).orders.get(ctx.params["order_id"])
    return Reply.json(200, order) if order else not_found("order")


def delete_order(ctx: Ctx) -> Reply:
    result = _account(ctx).cancel(ctx.params["order_id"], ctx.now)
    if result == "missing":
        return not_found("order")
    if result == "final":
        return alpaca_error(422, 42210000, "order is not cancelable")
    return Reply(204, b"", None)


_SYMBOL = re.compile(r"^[A-Za-z][A-Za-z0-9.]{0,11}(?:/[A-Za-z]{2,6})?$")


def get_asset(ctx: Ctx) -> Reply:
    sym = ctx.params["symbol"]
    if not _SYMBOL.match(sym):
        return alpaca_error(404, 40410000, f"asset not found for {sym}")
    return Reply.json(200, market.asset(sym))


def get_assets(ctx: Ctx) -> Reply:
    cls = ctx.arg("asset_class")
    assets = [market.asset(s) for s in market.SAMPLE_SYMBOLS]
    if cls:
        assets = [a for a in assets if a["class"] == cls]
    return Reply.json(200, assets)
