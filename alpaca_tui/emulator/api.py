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

Spec coverage
  Every route answers an operation of Alpaca's published OpenAPI documents (``assets/openapi/``;
  tests validate each answer against the operation's schema), except the Admin stand-in
  (``/v1/correspondents``) and the Broker API's ``GET .../account/configurations`` that
  alpaca-py calls. Any other documented operation is answered 501 "not emulated"
  (:mod:`.catalog`, :mod:`.dispatch`); a path in no document is a 404.

Every answer carries ``X-Request-ID`` and ``X-RateLimit-Limit/Remaining/Reset`` (epoch s);
beyond the per-key, per-minute limit: 429 ``{"code":42910000,...}`` (``Retry-After`` only with
the emulator's ``retry_after`` switch: Alpaca's specs list no such header). Who may call is
decided in :mod:`.authn`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from alpaca_tui.core.scopes import Scope
from alpaca_tui.emulator import activities as act
from alpaca_tui.emulator import broker as b
from alpaca_tui.emulator import data as d
from alpaca_tui.emulator import events as ev
from alpaca_tui.emulator import funding as f
from alpaca_tui.emulator import trading as t
from alpaca_tui.emulator import watchlists as w
from alpaca_tui.emulator.routing import Handler, Route

S = Scope
T = partial(Route, kind="trading")
D = partial(Route, kind="data", scope=S.DATA)
B = partial(Route, kind="broker")
A = "/v1/accounts/{account_id}"
TA = "/v1/trading/accounts/{account_id}"
SLASHED = {"symbol": r"[^/]+(?:/[^/]+)?"}   # BTC/USD as one path parameter
LOCATION = {"loc": r"[a-z0-9-]+"}
WL, WN = "/v2/watchlists/{watchlist_id}", "/v2/watchlists:by_name"
ST, CR = "/v2/stocks", "/v1beta3/crypto/{loc}"

TRADING: tuple[Route, ...] = (
    T("GET",    "/v2/account",                           t.get_account),
    T("GET",    "/v2/account/configurations",            t.get_configurations),
    T("PATCH",  "/v2/account/configurations",            t.patch_configurations),
    T("GET",    "/v2/account/portfolio/history",         act.portfolio_history),
    T("GET",    "/v2/account/activities",                act.list_activities),
    T("GET",    "/v2/account/activities/{activity_type}", act.list_activities),
    T("GET",    "/v2/clock",                             t.get_clock),
    T("GET",    "/v2/calendar",                          t.get_calendar),
    T("GET",    "/v2/positions",                         t.get_positions),
    T("DELETE", "/v2/positions",                         t.close_all_positions),
    T("GET",    "/v2/positions/{symbol}",                t.get_position, param_patterns=SLASHED),
    T("DELETE", "/v2/positions/{symbol}",                t.close_position, param_patterns=SLASHED),
    T("GET",    "/v2/orders",                            t.list_orders),
    T("POST",   "/v2/orders",                            t.place_order),
    T("DELETE", "/v2/orders",                            t.delete_orders),
    T("GET",    "/v2/orders:by_client_order_id",         t.get_order_by_client_id),
    T("GET",    "/v2/orders/{order_id}",                 t.get_order),
    T("PATCH",  "/v2/orders/{order_id}",                 t.replace_order),
    T("DELETE", "/v2/orders/{order_id}",                 t.delete_order),
    T("GET",    "/v2/assets",                            t.get_assets),
    T("GET",    "/v2/assets/{symbol}",                   t.get_asset, param_patterns=SLASHED),
    T("GET",    "/v2/watchlists",                        w.list_watchlists),
    T("POST",   "/v2/watchlists",                        w.create_watchlist),
    T("GET",    WN,                                      w.get_watchlist),
    T("POST",   WN,                                      w.add_asset),
    T("PUT",    WN,                                      w.update_watchlist),
    T("DELETE", WN,                                      w.delete_watchlist),
    T("GET",    WL,                                      w.get_watchlist),
    T("POST",   WL,                                      w.add_asset),
    T("PUT",    WL,                                      w.update_watchlist),
    T("DELETE", WL,                                      w.delete_watchlist),
    T("DELETE", WL + "/{symbol}",                        w.remove_asset, param_patterns=SLASHED),
)

DATA: tuple[Route, ...] = (
    D("GET", ST + "/bars/latest",                 d.latest_bars),
    D("GET", ST + "/quotes/latest",               d.latest_quotes),
    D("GET", ST + "/trades/latest",               d.latest_trades),
    D("GET", ST + "/bars",                        d.bars),
    D("GET", ST + "/trades",                      d.trades),
    D("GET", ST + "/quotes",                      d.quotes),
    D("GET", ST + "/snapshots",                   d.stock_snapshots),
    D("GET", ST + "/{symbol}/bars/latest",        d.latest_bar),
    D("GET", ST + "/{symbol}/quotes/latest",      d.latest_quote),
    D("GET", ST + "/{symbol}/trades/latest",      d.latest_trade),
    D("GET", ST + "/{symbol}/bars",               d.bars),
    D("GET", ST + "/{symbol}/trades",             d.trades),
    D("GET", ST + "/{symbol}/quotes",             d.quotes),
    D("GET", ST + "/{symbol}/snapshot",           d.stock_snapshot),
    # Historical crypto data needs no authentication (alpaca-auth.md §1, [MD]).
    *(D("GET", CR + path, handler, anonymous=True, param_patterns=LOCATION) for path, handler in (
        ("/latest/bars", d.crypto_bars), ("/latest/quotes", d.crypto_quotes),
        ("/latest/trades", d.crypto_trades), ("/bars", d.bars), ("/trades", d.trades), ("/quotes", d.quotes),
        ("/snapshots", d.crypto_snapshots))),
)

def _trading_on_behalf() -> tuple[tuple[str, str, Handler, dict[str, Any]], ...]:
    """The Broker API's trading routes for one account (``/v1/trading/accounts/{account_id}...``),
    served by the Trading API's handlers. The configurations GET is not in the Broker spec (only
    its PATCH is), but alpaca-py's ``get_trade_configuration_for_account`` calls it."""
    wl = "/watchlists/{watchlist_id}"
    return (
        ("GET", "/account", t.get_account, {}),
        ("GET", "/account/configurations", t.get_configurations, {}),
        ("PATCH", "/account/configurations", t.patch_configurations, {}),
        ("GET", "/account/portfolio/history", act.portfolio_history, {}),
        ("GET", "/orders", t.list_orders, {}),
        ("POST", "/orders", t.place_order, {}),
        ("DELETE", "/orders", t.delete_orders, {}),
        ("GET", "/orders/{order_id}", t.get_order, {}),
        ("PATCH", "/orders/{order_id}", t.replace_order, {}),
        ("DELETE", "/orders/{order_id}", t.delete_order, {}),
        ("GET", "/positions", t.get_positions, {}),
        ("DELETE", "/positions", t.close_all_positions, {}),
        ("GET", "/positions/{symbol}", t.get_position, {"param_patterns": SLASHED}),
        ("DELETE", "/positions/{symbol}", t.close_position, {"param_patterns": SLASHED}),
        ("GET", "/watchlists", w.list_watchlists, {}),
        ("POST", "/watchlists", w.create_watchlist, {}),
        ("GET", wl, w.get_watchlist, {}),
        ("POST", wl, w.add_asset, {}),
        ("PUT", wl, w.update_watchlist, {}),
        ("DELETE", wl, w.delete_watchlist, {}),
        ("DELETE", wl + "/{symbol}", w.remove_asset, {"param_patterns": SLASHED}),
    )


BROKER: tuple[Route, ...] = (
    #  method   path                             handler                scope
    B("GET",    "/v1/accounts/activities",       act.list_activities,   S.REPORTING),
    B("GET",    "/v1/accounts/activities/{activity_type}", act.list_activities, S.REPORTING),
    B("GET",    "/v1/accounts",                  b.list_accounts,       S.ACCOUNTS),
    B("POST",   "/v1/accounts",                  b.create_account,      S.ACCOUNTS),
    B("GET",    A,                               b.get_broker_account,  S.ACCOUNTS),
    B("PATCH",  A,                               b.update_account,      S.ACCOUNTS),
    B("POST",   A + "/actions/close",            b.close_account,       S.ACCOUNTS),
    B("GET",    A + "/ach_relationships",        f.list_ach,            S.FUNDING),
    B("POST",   A + "/ach_relationships",        f.create_ach,          S.FUNDING),
    B("DELETE", A + "/ach_relationships/{ach_relationship_id}", f.delete_ach, S.FUNDING),
    B("GET",    A + "/transfers",                f.list_transfers,      S.FUNDING),
    B("POST",   A + "/transfers",                f.create_transfer,     S.FUNDING),
    B("DELETE", A + "/transfers/{transfer_id}",  f.delete_transfer,     S.FUNDING),
    B("GET",    A + "/documents",                b.documents,           S.REPORTING),
    B("GET",    A + "/wallets",                  b.wallets,             S.CRYPTO),
    B("POST",   A + "/wallets/transfers",        b.wallet_transfer,     S.CRYPTO),
    B("GET",    "/v1/journals",                  f.list_journals,       S.JOURNALING),
    B("POST",   "/v1/journals",                  f.create_journal,      S.JOURNALING),
    B("GET",    "/v1/journals/{journal_id}",     f.get_journal,         S.JOURNALING),
    B("DELETE", "/v1/journals/{journal_id}",     f.delete_journal,      S.JOURNALING),
    *(B(m, TA + path, handler, S.TRADING, **kw) for m, path, handler, kw in _trading_on_behalf()),
    B("GET",    "/v1/rebalancing/portfolios",    b.list_portfolios,     S.REBALANCING),
    B("POST",   "/v1/rebalancing/portfolios",    b.create_portfolio,    S.REBALANCING),
    *(B("GET", path, ev.sse, S.SSE_EVENTS) for path in ev.STREAMS),
    # Admin: Alpaca's admin endpoints are not public; these paths are our choice (UNCONFIRMED).
    B("GET",    "/v1/correspondents",            b.correspondent,        S.ADMIN),
    B("GET",    "/v1/correspondents/me",         b.correspondent,        S.ADMIN),
    B("PATCH",  "/v1/correspondents",            b.update_correspondent, S.ADMIN),
    B("PATCH",  "/v1/correspondents/me",         b.update_correspondent, S.ADMIN),
    # Reference data: any valid broker credential (the scope, if any, is UNCONFIRMED).
    B("GET",    "/v1/assets",                    b.broker_assets,       None),
    B("GET",    "/v1/assets/{symbol}",           b.broker_asset,        None, param_patterns=SLASHED),
    B("GET",    "/v1/clock",                     t.get_clock,           None),
    B("GET",    "/v1/calendar",                  t.get_calendar,        None),
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
