"""Market Data API handlers (data / data-sandbox): latest bars, quotes and trades, historical
bars, trades and quotes with the API's pagination, and snapshots, for stocks (single- and
multi-symbol paths) and crypto. Routes: :data:`alpaca_tui.emulator.api.DATA`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alpaca_tui.emulator import history, market
from alpaca_tui.emulator.common import symbols_arg
from alpaca_tui.emulator.context import Ctx
from alpaca_tui.emulator.history import QueryError, Series
from alpaca_tui.emulator.wire import Reply, alpaca_error

DataHandler = Callable[[Ctx], Reply]


def _symbols(ctx: Ctx) -> list[str] | Reply:
    if "symbol" in ctx.params:
        return [market.canonical(ctx.params["symbol"])]
    return symbols_arg(ctx)


def market_data(fn: Callable[[str, float], dict[str, Any]], key: str) -> DataHandler:
    """A latest-market-data handler answering ``{key: fn(SYMBOL, now), "symbol": SYMBOL}`` for a
    route with a ``symbol`` path parameter, else ``{key: {S: fn(S, now) for S in ?symbols=}}``."""

    def handler(ctx: Ctx) -> Reply:
        syms = _symbols(ctx)
        if isinstance(syms, Reply):
            return syms
        if "symbol" in ctx.params:
            return Reply.json(200, {key: fn(syms[0], ctx.now), "symbol": syms[0]})
        return Reply.json(200, {key: {s: fn(s, ctx.now) for s in syms}})

    return handler


def historical(key: str, series: Callable[[Ctx], Series]) -> DataHandler:
    """A historical handler: one page of ``series`` for the path's symbol (``{key: [...], "symbol"}``)
    or for ``?symbols=`` (``{key: {S: [...]}}``), with ``next_page_token``."""

    def handler(ctx: Ctx) -> Reply:
        syms = _symbols(ctx)
        if isinstance(syms, Reply):
            return syms
        query = {k: ctx.arg(k) for k in ("start", "end", "limit", "page_token", "sort")}
        try:
            items, token = history.page(syms, series(ctx), query, ctx.now)
        except QueryError as exc:
            return alpaca_error(400, 40010001, str(exc))
        if "symbol" in ctx.params:
            return Reply.json(200, {key: items.get(syms[0], []), "symbol": syms[0], "next_page_token": token})
        return Reply.json(200, {key: items, "next_page_token": token})

    return handler


def _bars(ctx: Ctx) -> Series:
    return history.bars_series(ctx.arg("timeframe"))


def stock_snapshot(ctx: Ctx) -> Reply:
    sym = market.canonical(ctx.params["symbol"])
    return Reply.json(200, {"symbol": sym, **history.snapshot(sym, ctx.now)})


def stock_snapshots(ctx: Ctx) -> Reply:
    syms = symbols_arg(ctx)
    if isinstance(syms, Reply):
        return syms
    return Reply.json(200, {s: history.snapshot(s, ctx.now) for s in syms})


def crypto_snapshots(ctx: Ctx) -> Reply:
    syms = symbols_arg(ctx)
    if isinstance(syms, Reply):
        return syms
    return Reply.json(200, {"snapshots": {s: history.snapshot(s, ctx.now) for s in syms}})


latest_bar = market_data(market.bar, "bar")
latest_bars = market_data(market.bar, "bars")
latest_quote = market_data(market.quote, "quote")
latest_quotes = market_data(market.quote, "quotes")
latest_trade = market_data(market.trade, "trade")
latest_trades = market_data(market.trade, "trades")
crypto_bars = market_data(market.crypto_bar, "bars")
crypto_quotes = market_data(market.crypto_quote, "quotes")
crypto_trades = market_data(market.crypto_trade, "trades")
bars = historical("bars", _bars)
trades = historical("trades", lambda ctx: history.TRADES)
quotes = historical("quotes", lambda ctx: history.QUOTES)
