"""Broker API handlers (broker-live / broker-sandbox): customer accounts, funding (transfers),
journals, trading on a customer's behalf, rebalancing, documents, crypto wallets, the Admin
stand-in, reference data and the event streams. Routes and their scopes:
:data:`alpaca_tui.emulator.api.BROKER`."""

from __future__ import annotations

import json
import uuid
from typing import Any

from alpaca_tui.emulator import market, trading
from alpaca_tui.emulator.accounts import (
    Account,
    OrderError,
    broker_account,
    complete_contact,
    dec_str,
    parse_decimal,
)
from alpaca_tui.emulator.common import json_body, list_orders, not_found, place_order, unprocessable
from alpaca_tui.emulator.context import Ctx
from alpaca_tui.emulator.roles import BROKER_LIVE
from alpaca_tui.emulator.wire import Reply


def _accounts(ctx: Ctx) -> dict[str, Account]:
    return ctx.book.broker[ctx.role]


def _account(ctx: Ctx) -> Account | None:
    return _accounts(ctx).get(ctx.params["account_id"])


def _broker_account(ctx: Ctx, acct: Account) -> dict[str, Any]:
    return broker_account(acct, ctx.book.contacts.get(acct.id))


def list_accounts(ctx: Ctx) -> Reply:
    return Reply.json(200, [_broker_account(ctx, a) for a in list(_accounts(ctx).values())])


def create_account(ctx: Ctx) -> Reply:
    body = json_body(ctx, object_required=True)
    if isinstance(body, Reply):
        return body
    contact = body.get("contact")
    if not isinstance(contact, dict) or not isinstance(contact.get("email_address"), str):
        return unprocessable("contact.email_address is required")
    book = ctx.book
    with book.lock:
        n = len(_accounts(ctx)) + 1
        prefix = "LA" if ctx.role == BROKER_LIVE else "SB"
        acct = Account(f"{prefix}{n:010d}", ctx.now, cash="0")
        _accounts(ctx)[acct.id] = acct
        book.contacts[acct.id] = complete_contact(contact)
    return Reply.json(200, _broker_account(ctx, acct))


def get_broker_account(ctx: Ctx) -> Reply:
    acct = _account(ctx)
    return Reply.json(200, _broker_account(ctx, acct)) if acct else not_found("account")


def activities(ctx: Ctx) -> Reply:
    return Reply.json(200, [])


def list_transfers(ctx: Ctx) -> Reply:
    acct = _account(ctx)
    if acct is None:
        return not_found("account")
    return Reply.json(200, list(acct.transfers))


def create_transfer(ctx: Ctx) -> Reply:
    acct = _account(ctx)
    if acct is None:
        return not_found("account")
    body = json_body(ctx, object_required=True)
    if isinstance(body, Reply):
        return body
    try:
        amount = parse_decimal(body, "amount")
    except OrderError as exc:
        return unprocessable(str(exc))
    if amount is None:
        return unprocessable("amount is required")
    direction = body.get("direction")
    if direction not in ("INCOMING", "OUTGOING"):
        return unprocessable("direction must be INCOMING or OUTGOING")
    ttype = body.get("transfer_type", "ach")
    if ttype not in ("ach", "wire"):
        return unprocessable("transfer_type must be ach or wire")
    ts = market.rfc3339(ctx.now)
    transfer = {
        "id": str(uuid.uuid4()), "relationship_id": body.get("relationship_id"), "account_id": acct.id,
        "type": ttype, "status": "QUEUED", "amount": dec_str(amount), "direction": direction,
        "created_at": ts, "updated_at": ts, "expires_at": market.rfc3339(ctx.now + 7 * 86400),
        "reason": None, "requested_amount": dec_str(amount), "fee": "0",
    }
    with acct.lock:
        acct.transfers.append(transfer)
        acct.cash += amount if direction == "INCOMING" else -amount
    return Reply.json(200, transfer)


def list_journals(ctx: Ctx) -> Reply:
    return Reply.json(200, list(ctx.book.journals[ctx.role]))


def create_journal(ctx: Ctx) -> Reply:
    body = json_body(ctx, object_required=True)
    if isinstance(body, Reply):
        return body
    accounts = _accounts(ctx)
    src, dst = accounts.get(str(body.get("from_account"))), accounts.get(str(body.get("to_account")))
    if src is None or dst is None:
        return unprocessable("from_account and to_account must be existing accounts")
    entry = body.get("entry_type")
    if entry not in ("JNLC", "JNLS"):
        return unprocessable("entry_type must be JNLC or JNLS")
    try:
        amount = parse_decimal(body, "amount")
        qty = parse_decimal(body, "qty")
    except OrderError as exc:
        return unprocessable(str(exc))
    if entry == "JNLC" and amount is None:
        return unprocessable("amount is required for JNLC")
    if entry == "JNLS" and (qty is None or not body.get("symbol")):
        return unprocessable("symbol and qty are required for JNLS")
    ts = market.rfc3339(ctx.now)
    journal = {
        "id": str(uuid.uuid4()), "entry_type": entry, "from_account": src.id, "to_account": dst.id,
        "symbol": body.get("symbol"), "qty": dec_str(qty), "price": None, "status": "executed",
        "settle_date": None, "system_date": ts[:10], "net_amount": dec_str(amount) or "0",
        "description": body.get("description", ""), "created_at": ts,
    }
    if entry == "JNLC" and amount is not None:
        with src.lock:
            src.cash -= amount
        with dst.lock:
            dst.cash += amount
    with ctx.book.lock:
        ctx.book.journals[ctx.role].append(journal)
    return Reply.json(200, journal)


def trade_account_of(ctx: Ctx) -> Reply:
    acct = _account(ctx)
    return Reply.json(200, acct.trade_account(ctx.now, broker=True)) if acct else not_found("account")


def broker_orders(ctx: Ctx) -> Reply:
    acct = _account(ctx)
    return list_orders(ctx, acct) if acct else not_found("account")


def broker_place_order(ctx: Ctx) -> Reply:
    acct = _account(ctx)
    return place_order(ctx, acct) if acct else not_found("account")


def broker_positions(ctx: Ctx) -> Reply:
    acct = _account(ctx)
    return Reply.json(200, acct.positions_list(ctx.now)) if acct else not_found("account")


def list_portfolios(ctx: Ctx) -> Reply:
    return Reply.json(200, list(ctx.book.portfolios[ctx.role]))


def create_portfolio(ctx: Ctx) -> Reply:
    body = json_body(ctx)
    if isinstance(body, Reply):
        return body
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
        return unprocessable("name is required")
    weights = body.get("weights")
    if not isinstance(weights, list) or not weights:
        return unprocessable("weights are required")
    try:
        total = sum(float(w["percent"]) for w in weights)
    except (TypeError, KeyError, ValueError):
        return unprocessable("each weight needs a percent")
    if abs(total - 100) > 1e-6:
        return unprocessable("weights must add up to 100")
    ts = market.rfc3339(ctx.now)
    portfolio = {"id": str(uuid.uuid4()), "name": body["name"], "description": body.get("description", ""),
                 "status": "active", "cooldown_days": body.get("cooldown_days", 7), "created_at": ts,
                 "updated_at": ts, "weights": weights,
                 "rebalance_conditions": body.get("rebalance_conditions")}
    with ctx.book.lock:
        ctx.book.portfolios[ctx.role].append(portfolio)
    return Reply.json(200, portfolio)


def documents(ctx: Ctx) -> Reply:
    acct = _account(ctx)
    if acct is None:
        return not_found("account")
    return Reply.json(200, [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, acct.id + ":statement")),
                             "type": "account_statement", "sub_type": "",
                             "date": market.rfc3339(acct.created_at)[:10], "name": "Monthly statement"}])


def wallets(ctx: Ctx) -> Reply:
    acct = _account(ctx)
    if acct is None:
        return not_found("account")
    asset = (ctx.arg("asset") or "BTC").upper()
    return Reply.json(200, {"asset_id": market.asset_id(asset + "/USD"), "address":
                            "bc1q" + uuid.uuid5(uuid.NAMESPACE_URL, acct.id + asset).hex[:38],
                            "created_at": market.rfc3339(acct.created_at)})


def wallet_transfer(ctx: Ctx) -> Reply:
    acct = _account(ctx)
    if acct is None:
        return not_found("account")
    body = json_body(ctx)
    if isinstance(body, Reply):
        return body
    if not isinstance(body, dict) or not body.get("address") or not body.get("asset"):
        return unprocessable("amount, address and asset are required")
    return Reply.json(200, {"id": str(uuid.uuid4()), "status": "PROCESSING", "direction": "OUTGOING",
                            "asset": body.get("asset"), "amount": str(body.get("amount", "0")),
                            "to_address": body["address"], "created_at": market.rfc3339(ctx.now)})


def correspondent(ctx: Ctx) -> Reply:
    # The emulator's stand-in for Admin-scope routes (Alpaca's admin endpoints are not public;
    # /v1/correspondents/... is our chosen path, UNCONFIRMED).
    return Reply.json(200, {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, ctx.role)),
                            "name": "Emulated Correspondent", "status": "ACTIVE",
                            "environment": ctx.role})


def update_correspondent(ctx: Ctx) -> Reply:
    body = json_body(ctx, object_required=True)
    return body if isinstance(body, Reply) else correspondent(ctx)


def sse(ctx: Ctx) -> Reply:
    """A short ``text/event-stream`` (two events), then the connection closes."""
    accounts = list(_accounts(ctx).values())
    lines = []
    for i, acct in enumerate(accounts[:2], start=1):
        event = {"account_id": acct.id, "account_number": acct.number, "at": market.rfc3339(ctx.now),
                 "event_id": i, "status_from": "APPROVED", "status_to": "ACTIVE"}
        lines.append(f"id: {i}\ndata: {json.dumps(event)}\n\n")
    lines.append(": end of emulated stream\n\n")
    return Reply(200, "".join(lines).encode(), "text/event-stream; charset=UTF-8",
                 {"Cache-Control": "no-cache"}, close=True)


def broker_assets(ctx: Ctx) -> Reply:
    return trading.get_assets(ctx)
