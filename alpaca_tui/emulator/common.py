"""Helpers shared by the Trading, Market Data and Broker handlers: request bodies, query
arguments, Alpaca's error answers, the account a route works on, and the list endpoints'
pagination (``limit`` / ``offset``, ``page_size`` / ``page_token``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from alpaca_tui.emulator import market
from alpaca_tui.emulator.accounts import Account
from alpaca_tui.emulator.context import Ctx
from alpaca_tui.emulator.orders import OrderError
from alpaca_tui.emulator.wire import Reply, alpaca_error

T = TypeVar("T")


def json_body(ctx: Ctx, *, object_required: bool = False) -> Any:
    """The request body as JSON, or the Reply to send instead: 400 40010001 when it is missing,
    not JSON, or (``object_required``) not a JSON object."""
    if not ctx.body.strip():
        return alpaca_error(400, 40010001, "request body is required")
    try:
        body = ctx.json()
    except (ValueError, UnicodeDecodeError):
        return alpaca_error(400, 40010001, "request body format is invalid")
    if object_required and not isinstance(body, dict):
        return alpaca_error(400, 40010001, "request body must be a JSON object")
    return body


def not_found(what: str) -> Reply:
    return alpaca_error(404, 40410000, f"{what} not found")


def unprocessable(message: str) -> Reply:
    # Alpaca answers invalid order fields with 422 and code 40010001 (the spec's "Unprocessable";
    # the exact code per field is UNCONFIRMED).
    return alpaca_error(422, 40010001, message)


def bad_request(message: str) -> Reply:
    return alpaca_error(400, 40010001, message)


def account(ctx: Ctx) -> Account | Reply:
    """The account a route works on: the broker customer account of ``{account_id}``, else the
    trading host's own account."""
    if "account_id" in ctx.params:
        acct = ctx.book.broker[ctx.role].get(ctx.params["account_id"])
        return acct if acct is not None else not_found("account")
    return ctx.book.trading[ctx.role]


def account_and_body(ctx: Ctx, *, object_required: bool = True) -> tuple[Account, Any] | Reply:
    """(:func:`account`, the JSON body: an object unless ``object_required`` is False) of a
    write, or the Reply to send instead: the account's 404 first, then the body's 400."""
    acct = account(ctx)
    if isinstance(acct, Reply):
        return acct
    body = json_body(ctx, object_required=object_required)
    if isinstance(body, Reply):
        return body
    return acct, body


def int_arg(ctx: Ctx, name: str, default: int, lo: int, hi: int) -> int | Reply:
    """``?name=`` as an integer in lo..hi (default when missing), or a 400."""
    raw = ctx.arg(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        return bad_request(f"{name} must be an integer")
    if not lo <= value <= hi:
        return bad_request(f"{name} must be between {lo} and {hi}")
    return value


def limit_arg(ctx: Ctx, default: int = 50, cap: int = 500) -> int:
    """``?limit=``, clamped to 1..cap (default when missing or not a number)."""
    raw = ctx.arg("limit")
    try:
        return max(1, min(cap, int(raw))) if raw else default
    except ValueError:
        return default


def offset_page(ctx: Ctx, items: Sequence[T], default: int = 100, cap: int = 1000) -> list[T] | Reply:
    """``limit`` / ``offset`` pagination (the transfers list): items[offset : offset + limit]."""
    limit = int_arg(ctx, "limit", default, 1, cap)
    offset = int_arg(ctx, "offset", 0, 0, 1 << 31)
    if isinstance(limit, Reply):
        return limit
    if isinstance(offset, Reply):
        return offset
    return list(items[offset:offset + limit])


def token_page(ctx: Ctx, items: Sequence[dict[str, Any]], *, default: int = 100,
               cap: int = 100) -> list[dict[str, Any]] | Reply:
    """``page_size`` / ``page_token`` pagination over items sorted by ``id`` in ``direction``
    (the activities lists): the page after the item whose ``id`` is the token."""
    size = int_arg(ctx, "page_size", default, 1, cap)
    if isinstance(size, Reply):
        return size
    desc = (ctx.arg("direction") or "desc").lower() == "desc"
    ordered = sorted(items, key=lambda a: str(a["id"]), reverse=desc)
    token = ctx.arg("page_token")
    if token:
        ordered = [a for a in ordered if (str(a["id"]) < token if desc else str(a["id"]) > token)]
    return ordered[:size]


def symbols_arg(ctx: Ctx) -> list[str] | Reply:
    """``?symbols=A,B`` in canonical form (``BTCUSD`` -> ``BTC/USD``), or a 400 when there is none."""
    raw = ctx.arg("symbols") or ""
    syms = [market.canonical(s) for s in raw.split(",") if s.strip()]
    if not syms:
        return alpaca_error(400, 40010001, "symbols is required")
    return syms


def place_order(ctx: Ctx) -> Reply:
    found = account_and_body(ctx, object_required=False)
    if isinstance(found, Reply):
        return found
    acct, body = found
    try:
        order = acct.place_order(body, ctx.now, market.market_clock(ctx.now)["is_open"])
    except OrderError as exc:
        return unprocessable(str(exc))
    return Reply.json(200, order)


def list_orders(ctx: Ctx) -> Reply:
    acct = account(ctx)
    if isinstance(acct, Reply):
        return acct
    status = (ctx.arg("status") or "open").lower()
    if status not in ("open", "closed", "all"):
        return alpaca_error(422, 40010001, "status must be open, closed or all")
    syms = {market.canonical(s) for s in (ctx.arg("symbols") or "").split(",") if s.strip()}
    direction = (ctx.arg("direction") or "desc").lower()
    return Reply.json(200, acct.list_orders(status, limit_arg(ctx), syms or None, direction,
                                            after=ctx.arg("after"), until=ctx.arg("until"),
                                            side=ctx.arg("side")))
