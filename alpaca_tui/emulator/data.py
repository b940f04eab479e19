"""Market Data API handlers (data / data-sandbox): latest bars, quotes and trades for stocks
and crypto. Routes: :data:`alpaca_tui.emulator.api.DATA`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alpaca_tui.emulator import market
from alpaca_tui.emulator.common import symbols_arg
from alpaca_tui.emulator.context import Ctx
from alpaca_tui.emulator.wire import Reply

DataHandler = Callable[[Ctx], Reply]


def market_data(fn: Callable[[str, float], dict[str, Any]], key: str) -> DataHandler:
    """A latest-market-data handler answering ``{key: fn(SYMBOL, now), "symbol": SYMBOL}`` for a
    route with a ``symbol`` path parameter, else ``{key: {S: fn(S, now) for S in ?symbols=}}``."""

    def handler(ctx: Ctx) -> Reply:
        if "symbol" in ctx.params:
            sym = ctx.params["symbol"].upper()
            return Reply.json(200, {key: fn(sym, ctx.now), "symbol": sym})
        syms = symbols_arg(ctx)
        if isinstance(syms, Reply):
            return syms
        return Reply.json(200, {key: {s: fn(s, ctx.now) for s in syms}})

    return handler


latest_bar = market_data(market.bar, "bar")
latest_bars = market_data(market.bar, "bars")
latest_quote = market_data(market.quote, "quote")
latest_quotes = market_data(market.quote, "quotes")
latest_trade = market_data(market.trade, "trade")
crypto_bars = market_data(market.crypto_bar, "bars")
crypto_quotes = market_data(market.crypto_quote, "quotes")
