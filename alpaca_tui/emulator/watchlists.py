"""Watchlists: ``/v2/watchlists`` (by ID and ``:by_name``) on the Trading API, and
``/v1/trading/accounts/{account_id}/watchlists`` on the Broker API. A watchlist keeps symbols;
answers carry the spec's ``Watchlist`` (with its assets) or ``WatchlistWithoutAsset``."""

from __future__ import annotations

import re
import uuid
from typing import Any

from alpaca_tui.emulator import market
from alpaca_tui.emulator.accounts import Account
from alpaca_tui.emulator.common import account, account_and_body, not_found, unprocessable
from alpaca_tui.emulator.context import Ctx
from alpaca_tui.emulator.market import rfc3339
from alpaca_tui.emulator.wire import Reply

_NAME = re.compile(r"^[A-Za-z0-9 _-]{1,64}$")


def _view(acct: Account, wl: dict[str, Any], *, assets: bool = True) -> dict[str, Any]:
    out = {"id": wl["id"], "account_id": acct.id, "name": wl["name"], "created_at": rfc3339(wl["created_at"]),
           "updated_at": rfc3339(wl["updated_at"])}
    if assets:
        out["assets"] = [market.asset(s) for s in wl["symbols"]]
    return out


def _symbols(body: dict[str, Any]) -> list[str] | Reply:
    raw = body.get("symbols") or []
    if not isinstance(raw, list) or not all(isinstance(s, str) and s.strip() for s in raw):
        return unprocessable("symbols must be a list of symbols")
    return list(dict.fromkeys(market.canonical(s) for s in raw))


def _find(ctx: Ctx, acct: Account) -> dict[str, Any] | None:
    if "watchlist_id" in ctx.params:
        return acct.watchlists.get(ctx.params["watchlist_id"])
    name = ctx.arg("name")
    return next((w for w in acct.watchlists.values() if w["name"] == name), None)


def list_watchlists(ctx: Ctx) -> Reply:
    acct = account(ctx)
    if isinstance(acct, Reply):
        return acct
    with acct.lock:
        return Reply.json(200, [_view(acct, w, assets=False) for w in acct.watchlists.values()])


def create_watchlist(ctx: Ctx) -> Reply:
    found = account_and_body(ctx)
    if isinstance(found, Reply):
        return found
    acct, body = found
    name = body.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        return unprocessable("name is required (letters, digits, space, _ or -; at most 64)")
    syms = _symbols(body)
    if isinstance(syms, Reply):
        return syms
    with acct.lock:
        if any(w["name"] == name for w in acct.watchlists.values()):
            return unprocessable("watchlist name must be unique")
        wl: dict[str, Any] = {"id": str(uuid.uuid4()), "name": name, "symbols": syms, "created_at": ctx.now,
              "updated_at": ctx.now}
        acct.watchlists[wl["id"]] = wl
        return Reply.json(200, _view(acct, wl))


def get_watchlist(ctx: Ctx) -> Reply:
    acct = account(ctx)
    if isinstance(acct, Reply):
        return acct
    with acct.lock:
        wl = _find(ctx, acct)
        return Reply.json(200, _view(acct, wl)) if wl else not_found("watchlist")


def update_watchlist(ctx: Ctx) -> Reply:
    """``PUT``: replace the name and / or the symbols."""
    found = account_and_body(ctx)
    if isinstance(found, Reply):
        return found
    acct, body = found
    syms = _symbols(body)
    if isinstance(syms, Reply):
        return syms
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not _NAME.match(name)):
        return unprocessable("invalid name")
    with acct.lock:
        wl = _find(ctx, acct)
        if wl is None:
            return not_found("watchlist")
        if name:
            wl["name"] = name
        if "symbols" in body:
            wl["symbols"] = syms
        wl["updated_at"] = ctx.now
        return Reply.json(200, _view(acct, wl))


def add_asset(ctx: Ctx) -> Reply:
    """``POST .../{watchlist_id}`` (or ``:by_name``) with ``{"symbol": ...}``."""
    found = account_and_body(ctx)
    if isinstance(found, Reply):
        return found
    acct, body = found
    sym = body.get("symbol")
    if not isinstance(sym, str) or not sym.strip():
        return unprocessable("symbol is required")
    with acct.lock:
        wl = _find(ctx, acct)
        if wl is None:
            return not_found("watchlist")
        canon = market.canonical(sym)
        if canon not in wl["symbols"]:
            wl["symbols"].append(canon)
        wl["updated_at"] = ctx.now
        return Reply.json(200, _view(acct, wl))


def remove_asset(ctx: Ctx) -> Reply:
    acct = account(ctx)
    if isinstance(acct, Reply):
        return acct
    with acct.lock:
        wl = _find(ctx, acct)
        sym = market.canonical(ctx.params["symbol"])
        if wl is None or sym not in wl["symbols"]:
            return not_found("watchlist or symbol")
        wl["symbols"].remove(sym)
        wl["updated_at"] = ctx.now
        return Reply.json(200, _view(acct, wl))


def delete_watchlist(ctx: Ctx) -> Reply:
    acct = account(ctx)
    if isinstance(acct, Reply):
        return acct
    with acct.lock:
        wl = _find(ctx, acct)
        if wl is None:
            return not_found("watchlist")
        del acct.watchlists[wl["id"]]
    # the Trading API answers 204; the Broker API documents a bodiless 200
    return Reply(200 if "account_id" in ctx.params else 204, b"", None)
