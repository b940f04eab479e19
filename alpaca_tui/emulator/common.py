"""Helpers shared by the Trading, Market Data and Broker handlers: request bodies, query
arguments, Alpaca's error answers, and placing / listing orders on an account."""

from __future__ import annotations

from typing import Any

from alpaca_tui.emulator import market
from alpaca_tui.emulator.accounts import Account, OrderError
from alpaca_tui.emulator.context import Ctx
from alpaca_tui.emulator.wire import Reply, alpaca_error


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


def limit_arg(ctx: Ctx, default: int = 50, cap: int = 500) -> int:
    """``?limit=``, clamped to 1..cap (default when missing or not a number)."""
    raw = ctx.arg("limit")
    try:
        return max(1, min(cap, int(raw))) if raw else default
    except ValueError:
        return default


def symbols_arg(ctx: Ctx) -> list[str] | Reply:
    """``?symbols=A,B`` upper-cased, or a 400 when there is none."""
    raw = ctx.arg("symbols") or ""
    syms = [s.strip().upper() for s in raw.split(",") if s.strip()]
    if not syms:
        return alpaca_error(400, 40010001, "symbols is required")
    return syms


def place_order(ctx: Ctx, acct: Account) -> Reply:
    body = json_body(ctx)
    if isinstance(body, Reply):
        return body
    try:
        order = acct.place_order(body, ctx.now, market.market_clock(ctx.now)["is_open"])
    except OrderError as exc:
        return unprocessable(str(exc))
    return Reply.json(200, order)


def list_orders(ctx: Ctx, acct: Account) -> Reply:
    status = (ctx.arg("status") or "open").lower()
    if status not in ("open", "closed", "all"):
        return alpaca_error(422, 40010001, "status must be open, closed or all")
    syms = {s.strip().upper() for s in (ctx.arg("symbols") or "").split(",") if s.strip()}
    direction = (ctx.arg("direction") or "desc").lower()
    return Reply.json(200, acct.list_orders(status, limit_arg(ctx), syms or None, direction))
