"""The route tables of the Trading, Market Data and Broker hosts, and the broker path -> scope
mapping they carry (alpaca-auth.md §1, §3).

Scopes
  Broker credentials carry a 10-scope access matrix; the ``scope`` column of :data:`BROKER`
  is the one table that maps each path to the scope it needs (Alpaca publishes no such
  table, so the grouping is our reading of the Broker API reference: UNCONFIRMED). Reads
  need the scope read-only, writes (POST/PUT/PATCH/DELETE) read-write
  (:attr:`~.routing.Route.level`). Data-host requests by broker credentials need the Data
  scope. Trading keys have no matrix. This table is kept independent of
  ``core/pathscopes.py`` on purpose: the emulator is the server the app's own guard is
  tested against, so it must not share the guard's reading.

Every answer carries ``X-Request-ID`` and ``X-RateLimit-Limit/Remaining/Reset`` (epoch s);
beyond the per-key, per-minute limit: 429 ``{"code":42910000,...}`` with ``Retry-After``
(:mod:`.dispatch`). Who may call is decided in :mod:`.authn`.
"""

from __future__ import annotations

from functools import partial

from alpaca_tui.core.scopes import Scope
from alpaca_tui.emulator import broker as b
from alpaca_tui.emulator import data as d
from alpaca_tui.emulator import trading as t
from alpaca_tui.emulator.routing import Route

S = Scope
T = partial(Route, kind="trading")
D = partial(Route, kind="data", scope=S.DATA)
B = partial(Route, kind="broker")
A = "/v1/accounts/{account_id}"
TA = "/v1/trading/accounts/{account_id}"
SLASHED = {"symbol": r"[^/]+(?:/[^/]+)?"}   # BTC/USD as one path parameter
LOCATION = {"loc": r"[a-z]+"}

TRADING: tuple[Route, ...] = (
    T("GET",    "/v2/account",                  t.get_account),
    T("GET",    "/v2/clock",                    t.get_clock),
    T("GET",    "/v2/positions",                t.get_positions),
    T("GET",    "/v2/positions/{symbol}",       t.get_position),
    T("GET",    "/v2/orders",                   t.get_orders),
    T("POST",   "/v2/orders",                   t.post_order),
    T("GET",    "/v2/orders/{order_id}",        t.get_order),
    T("DELETE", "/v2/orders/{order_id}",        t.delete_order),
    T("GET",    "/v2/assets",                   t.get_assets),
    T("GET",    "/v2/assets/{symbol}",          t.get_asset, param_patterns=SLASHED),
)

DATA: tuple[Route, ...] = (
    D("GET", "/v2/stocks/bars/latest",              d.latest_bars),
    D("GET", "/v2/stocks/{symbol}/bars/latest",     d.latest_bar),
    D("GET", "/v2/stocks/quotes/latest",            d.latest_quotes),
    D("GET", "/v2/stocks/{symbol}/quotes/latest",   d.latest_quote),
    D("GET", "/v2/stocks/{symbol}/trades/latest",   d.latest_trade),
    # Historical crypto data needs no authentication (alpaca-auth.md §1, [MD]).
    D("GET", "/v1beta3/crypto/{loc}/latest/bars",   d.crypto_bars, anonymous=True, param_patterns=LOCATION),
    D("GET", "/v1beta3/crypto/{loc}/latest/quotes", d.crypto_quotes, anonymous=True, param_patterns=LOCATION),
)

_EVENTS = tuple(f"/v1/events/{topic}{suffix}" for topic in ("accounts", "journals", "transfers", "trades")
                for suffix in ("", "/status"))

BROKER: tuple[Route, ...] = (
    #  method   path                             handler                scope
    B("GET",    "/v1/accounts/activities",       b.activities,          S.REPORTING),
    B("GET",    "/v1/accounts",                  b.list_accounts,       S.ACCOUNTS),
    B("POST",   "/v1/accounts",                  b.create_account,      S.ACCOUNTS),
    B("GET",    A,                               b.get_broker_account,  S.ACCOUNTS),
    B("GET",    A + "/transfers",                b.list_transfers,      S.FUNDING),
    B("POST",   A + "/transfers",                b.create_transfer,     S.FUNDING),
    B("GET",    A + "/documents",                b.documents,           S.REPORTING),
    B("GET",    A + "/wallets",                  b.wallets,             S.CRYPTO),
    B("POST",   A + "/wallets/transfers",        b.wallet_transfer,     S.CRYPTO),
    B("GET",    "/v1/journals",                  b.list_journals,       S.JOURNALING),
    B("POST",   "/v1/journals",                  b.create_journal,      S.JOURNALING),
    B("GET",    TA + "/account",                 b.trade_account_of,    S.TRADING),
    B("GET",    TA + "/orders",                  b.broker_orders,       S.TRADING),
    B("POST",   TA + "/orders",                  b.broker_place_order,  S.TRADING),
    B("GET",    TA + "/positions",               b.broker_positions,    S.TRADING),
    B("GET",    "/v1/rebalancing/portfolios",    b.list_portfolios,     S.REBALANCING),
    B("POST",   "/v1/rebalancing/portfolios",    b.create_portfolio,    S.REBALANCING),
    *(B("GET", path, b.sse, S.SSE_EVENTS) for path in _EVENTS),
    # Admin: Alpaca's admin endpoints are not public; these paths are our choice (UNCONFIRMED).
    B("GET",    "/v1/correspondents",            b.correspondent,        S.ADMIN),
    B("GET",    "/v1/correspondents/me",         b.correspondent,        S.ADMIN),
    B("PATCH",  "/v1/correspondents",            b.update_correspondent, S.ADMIN),
    B("PATCH",  "/v1/correspondents/me",         b.update_correspondent, S.ADMIN),
    # Reference data: any valid broker credential (the scope, if any, is UNCONFIRMED).
    B("GET",    "/v1/assets",                    b.broker_assets,       None),
)

# Every route of the API hosts (trading, data, broker), each once.
ROUTES: tuple[Route, ...] = TRADING + DATA + BROKER

BY_KIND: dict[str, tuple[Route, ...]] = {"trading": TRADING, "data": DATA, "broker": BROKER}


def scope_for(kind: str, method: str, path: str) -> Scope | None:
    """The scope a broker credential needs for ``method path`` on a ``kind`` host (or None)."""
    want = "GET" if method == "HEAD" else method
    for route in BY_KIND.get(kind, ()):
        if route.method == want and route.match(path) is not None:
            return route.scope
    return None
