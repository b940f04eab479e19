"""Broker API handlers (broker-live / broker-sandbox): customer accounts (create, list, read,
update, close), documents, crypto wallets, rebalancing portfolios, reference data (assets,
clock, calendar) and the Admin stand-in. Funding is in :mod:`.funding`, activities in
:mod:`.activities`, trading on a customer's behalf in :mod:`.trading`, watchlists in
:mod:`.watchlists`, the event streams in :mod:`.events`. Routes and their scopes:
:data:`alpaca_tui.emulator.api.BROKER`."""

from __future__ import annotations

import uuid
from typing import Any

from alpaca_tui.emulator import market, trading
from alpaca_tui.emulator.book import broker_account
from alpaca_tui.emulator.common import account, account_and_body, bad_request, json_body, unprocessable
from alpaca_tui.emulator.context import Ctx
from alpaca_tui.emulator.history import QueryError, parse_time
from alpaca_tui.emulator.wire import Reply

_SORTS = ("asc", "desc")


def list_accounts(ctx: Ctx) -> Reply:
    """``GET /v1/accounts``: ``query`` (number, name, email), ``status``, ``created_after`` /
    ``created_before``, ``sort`` by creation (desc by default)."""
    sort = (ctx.arg("sort") or "desc").lower()
    if sort not in _SORTS:
        return bad_request("sort must be asc or desc")
    try:
        after = parse_time(ctx.arg("created_after"), float("-inf"))
        before = parse_time(ctx.arg("created_before"), float("inf"))
    except QueryError as exc:
        return bad_request(str(exc))
    words = [w.lower() for w in (ctx.arg("query") or "").split() if w]
    statuses = {s.strip().upper() for s in (ctx.arg("status") or "").split(",") if s.strip()}
    out = []
    accounts = sorted(ctx.book.broker[ctx.role].values(), key=lambda a: a.created_at, reverse=sort == "desc")
    for acct in accounts:
        view = broker_account(ctx.book, acct)
        who = view["identity"]
        text = " ".join([acct.number, view["contact"].get("email_address", ""), who.get("given_name", ""),
                         who.get("family_name", "")]).lower()
        if (statuses and acct.status not in statuses) or not after <= acct.created_at <= before:
            continue
        if all(w in text for w in words):
            out.append(view)
    return Reply.json(200, out)


def create_account(ctx: Ctx) -> Reply:
    body = json_body(ctx, object_required=True)
    if isinstance(body, Reply):
        return body
    contact = body.get("contact")
    if not isinstance(contact, dict) or not isinstance(contact.get("email_address"), str):
        return unprocessable("contact.email_address is required")
    identity = body.get("identity") if isinstance(body.get("identity"), dict) else {}
    names = ("given_name", "family_name", "date_of_birth", "country_of_tax_residence")
    known = {k: identity[k] for k in names if isinstance(identity.get(k), str)}
    acct = ctx.book.open_account(ctx.role, contact, ctx.now, extra={"identity": known})
    return Reply.json(200, broker_account(ctx.book, acct, extended=False))


def get_broker_account(ctx: Ctx) -> Reply:
    acct = account(ctx)
    return acct if isinstance(acct, Reply) else Reply.json(200, broker_account(ctx.book, acct))


def update_account(ctx: Ctx) -> Reply:
    """``PATCH /v1/accounts/{id}``: contact and identity fields (others are accepted, not kept)."""
    found = account_and_body(ctx)
    if isinstance(found, Reply):
        return found
    acct, body = found
    with ctx.book.lock:
        if isinstance(body.get("contact"), dict):
            ctx.book.contacts[acct.id].update({k: v for k, v in body["contact"].items() if v is not None})
        if isinstance(body.get("identity"), dict):
            profile = ctx.book.profiles.setdefault(acct.id, {})
            profile.setdefault("identity", {}).update(
                {k: v for k, v in body["identity"].items() if isinstance(v, str)})
    return Reply.json(200, broker_account(ctx.book, acct))


def close_account(ctx: Ctx) -> Reply:
    acct = account(ctx)
    if isinstance(acct, Reply):
        return acct
    with acct.lock:
        old, acct.status = acct.status, "ACCOUNT_CLOSED"
    if old != "ACCOUNT_CLOSED":
        ctx.book.account_event(ctx.role, acct, old, "ACCOUNT_CLOSED", ctx.now)
    return Reply(204, b"", None)


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
    cond = body.get("rebalance_conditions")
    portfolio: dict[str, Any] = {
        "id": str(uuid.uuid4()), "name": body["name"], "description": body.get("description", ""),
        "status": "active", "cooldown_days": body.get("cooldown_days", 7), "created_at": ts, "updated_at": ts,
        "weights": [{k: str(v) for k, v in w.items()} for w in weights]}
    if cond is not None:
        portfolio["rebalance_conditions"] = cond
    with ctx.book.lock:
        ctx.book.portfolios[ctx.role].append(portfolio)
    return Reply.json(200, portfolio)


def documents(ctx: Ctx) -> Reply:
    acct = account(ctx)
    if isinstance(acct, Reply):
        return acct
    return Reply.json(200, [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, acct.id + ":statement")),
                             "type": "account_statement", "sub_type": "",
                             "date": market.rfc3339(acct.created_at)[:10], "name": "Monthly statement"}])


def wallets(ctx: Ctx) -> Reply:
    acct = account(ctx)
    if isinstance(acct, Reply):
        return acct
    asset = (ctx.arg("asset") or "BTC").upper()
    return Reply.json(200, {"chain": asset, "address": "bc1q" + uuid.uuid5(uuid.NAMESPACE_URL,
                                                                            acct.id + asset).hex[:38],
                            "created_at": market.rfc3339(acct.created_at)})


def wallet_transfer(ctx: Ctx) -> Reply:
    found = account_and_body(ctx, object_required=False)
    if isinstance(found, Reply):
        return found
    _acct, body = found  # the account must exist; the wallet transfer is not kept
    if not isinstance(body, dict) or not body.get("address") or not body.get("asset"):
        return unprocessable("amount, address and asset are required")
    return Reply.json(200, {"id": str(uuid.uuid4()), "status": "PROCESSING", "direction": "OUTGOING",
                            "asset": str(body.get("asset")), "amount": str(body.get("amount", "0")),
                            "to_address": str(body["address"]), "created_at": market.rfc3339(ctx.now)})


def correspondent(ctx: Ctx) -> Reply:
    # The emulator's stand-in for Admin-scope routes (Alpaca's admin endpoints are not public;
    # /v1/correspondents/... is our chosen path, UNCONFIRMED; it is in no published spec).
    return Reply.json(200, {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, ctx.role)),
                            "name": "Emulated Correspondent", "status": "ACTIVE",
                            "environment": ctx.role})


def update_correspondent(ctx: Ctx) -> Reply:
    body = json_body(ctx, object_required=True)
    return body if isinstance(body, Reply) else correspondent(ctx)


def broker_assets(ctx: Ctx) -> Reply:
    """``GET /v1/assets``: us_equity unless ``asset_class`` says otherwise (the spec's default)."""
    cls = ctx.arg("asset_class") or "us_equity"
    assets = [market.asset(s) for s in market.SAMPLE_SYMBOLS]
    return Reply.json(200, [a for a in assets if a["class"] == cls])


def broker_asset(ctx: Ctx) -> Reply:
    return trading.get_asset(ctx)

