"""Broker API funding: ACH relationships, transfers and journals, with the events and
activities they produce.

* ACH relationships are approved at once (funding event ``QUEUED -> APPROVED``); deleting one
  cancels it. A transfer that names a ``relationship_id`` needs an approved one of its account.
* Incoming transfers (the sandbox's virtual deposits) are answered ``QUEUED`` and then settle at
  once: ``QUEUED -> SENT_TO_CLEARING -> COMPLETE``, cash credited, a ``CSD`` activity and a
  non-trade-activity event. Outgoing transfers hold the cash and stay ``QUEUED`` (withdrawals
  wait for an approval the emulator never gives) until canceled with ``DELETE``.
* Journals (JNLC cash, JNLS securities) execute at once (``queued -> executed``) unless their
  description carries Alpaca's sandbox fixture ``/fixtures/status=pending/``; a pending journal
  can be canceled. ``GET /v1/journals`` filters and pages by ``limit`` (and after / before).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from alpaca_tui.emulator.accounts import Account
from alpaca_tui.emulator.activities import book_cash
from alpaca_tui.emulator.common import (
    account,
    account_and_body,
    int_arg,
    json_body,
    not_found,
    offset_page,
    unprocessable,
)
from alpaca_tui.emulator.context import Ctx
from alpaca_tui.emulator.market import ny_date, rfc3339
from alpaca_tui.emulator.orders import OrderError, dec_str, parse_decimal
from alpaca_tui.emulator.wire import Reply, alpaca_error

PENDING_FIXTURE = "/fixtures/status=pending/"
CORRESPONDENT = "EMU"   # the emulated correspondent's code in funding events


def _funding_event(ctx: Ctx, acct: Account, entity: str, entity_id: str, old: str, new: str) -> None:
    ctx.book.events[ctx.role].emit("funding", {
        "account_id": acct.id, "correspondent": CORRESPONDENT, "entity_id": entity_id, "entity_type": entity,
        "status_from": old, "status_to": new}, ctx.now)


# -- ACH relationships ----------------------------------------------------------------------------
_ACH_FIELDS = ("account_owner_name", "bank_account_type", "bank_account_number", "bank_routing_number")


def list_ach(ctx: Ctx) -> Reply:
    acct = account(ctx)
    if isinstance(acct, Reply):
        return acct
    statuses = {s.strip().upper() for s in (ctx.arg("statuses") or "").split(",") if s.strip()}
    with acct.lock:
        rels = [dict(r) for r in acct.ach.values() if not statuses or r["status"] in statuses]
    return Reply.json(200, rels)


def create_ach(ctx: Ctx) -> Reply:
    found = account_and_body(ctx)
    if isinstance(found, Reply):
        return found
    acct, body = found
    missing = [f for f in _ACH_FIELDS if not isinstance(body.get(f), str) or not body[f]]
    if missing:
        return unprocessable(f"{', '.join(missing)} required")
    if body["bank_account_type"] not in ("CHECKING", "SAVINGS"):
        return unprocessable("bank_account_type must be CHECKING or SAVINGS")
    with acct.lock:
        if any(r["status"] != "CANCEL_REQUESTED" for r in acct.ach.values()):
            return alpaca_error(409, 40910000, "the account already has an active ach relationship")
        ts = rfc3339(ctx.now)
        rel = {"id": str(uuid.uuid4()), "account_id": acct.id, "created_at": ts, "updated_at": ts,
               "status": "APPROVED", **{f: body[f] for f in _ACH_FIELDS}}
        if isinstance(body.get("nickname"), str) and body["nickname"]:
            rel["nickname"] = body["nickname"]
        acct.ach[rel["id"]] = rel
    _funding_event(ctx, acct, "ach_relationship", rel["id"], "QUEUED", "APPROVED")
    return Reply.json(200, dict(rel))


def delete_ach(ctx: Ctx) -> Reply:
    acct = account(ctx)
    if isinstance(acct, Reply):
        return acct
    with acct.lock:
        rel = acct.ach.get(ctx.params["ach_relationship_id"])
        if rel is None or rel["status"] == "CANCEL_REQUESTED":
            return not_found("ach relationship")
        old = rel["status"]
        rel.update(status="CANCEL_REQUESTED", updated_at=rfc3339(ctx.now))
    _funding_event(ctx, acct, "ach_relationship", rel["id"], old, "CANCEL_REQUESTED")
    return Reply(204, b"", None)


# -- transfers ------------------------------------------------------------------------------------
def list_transfers(ctx: Ctx) -> Reply:
    acct = account(ctx)
    if isinstance(acct, Reply):
        return acct
    direction = ctx.arg("direction")
    with acct.lock:
        items = [dict(t) for t in reversed(acct.transfers) if not direction or t["direction"] == direction]
    page = offset_page(ctx, items)
    return page if isinstance(page, Reply) else Reply.json(200, page)


def _transfer_fields(acct: Account, body: dict[str, Any]) -> tuple[Decimal, str, str] | Reply:
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
    rel = body.get("relationship_id")
    if rel is not None and (acct.ach.get(str(rel)) or {}).get("status") != "APPROVED":
        return unprocessable("relationship_id must be an approved ach relationship of this account")
    if direction == "OUTGOING" and amount > acct.cash:
        return unprocessable("insufficient funds")
    return amount, direction, ttype


def _set_status(ctx: Ctx, acct: Account, transfer: dict[str, Any], new: str) -> None:
    old = transfer["status"]
    transfer.update(status=new, updated_at=rfc3339(ctx.now))
    ctx.book.events[ctx.role].emit("transfers", {"account_id": acct.id, "transfer_id": transfer["id"],
                                                 "status_from": old, "status_to": new}, ctx.now)
    _funding_event(ctx, acct, "transfer", transfer["id"], old, new)


def create_transfer(ctx: Ctx) -> Reply:
    found = account_and_body(ctx)
    if isinstance(found, Reply):
        return found
    acct, body = found
    with acct.lock:
        fields = _transfer_fields(acct, body)
        if isinstance(fields, Reply):
            return fields
        amount, direction, ttype = fields
        ts = rfc3339(ctx.now)
        transfer = {"id": str(uuid.uuid4()), "account_id": acct.id, "type": ttype, "status": "QUEUED",
                    "amount": dec_str(amount), "direction": direction, "created_at": ts, "updated_at": ts,
                    "expires_at": rfc3339(ctx.now + 7 * 86400), "reason": None,
                    "requested_amount": dec_str(amount), "fee": "0"}
        if body.get("relationship_id"):
            transfer["relationship_id"] = str(body["relationship_id"])
        acct.transfers.append(transfer)
        answer = dict(transfer)
        if direction == "OUTGOING":
            acct.cash -= amount                     # held until the transfer is canceled
        else:
            _settle(ctx, acct, transfer, amount)
    return Reply.json(200, answer)


def _settle(ctx: Ctx, acct: Account, transfer: dict[str, Any], amount: Decimal) -> None:
    _set_status(ctx, acct, transfer, "SENT_TO_CLEARING")
    _set_status(ctx, acct, transfer, "COMPLETE")
    acct.cash += amount
    entry = book_cash(acct, "CSD", amount, ctx.now, "ACH deposit (emulated)")
    _nta(ctx, acct, entry)


def _nta(ctx: Ctx, acct: Account, entry: dict[str, Any], **extra: Any) -> None:
    """A non-trade-activity event for a booked activity."""
    ctx.book.events[ctx.role].emit("nta", {
        "id": str(uuid.uuid4()), "account_id": acct.id, "entry_type": entry["activity_type"],
        "net_amount": float(entry["net_amount"]), "system_date": entry["date"], "settle_date": entry["date"],
        "description": entry["description"], "status": "executed", **extra}, ctx.now)


def delete_transfer(ctx: Ctx) -> Reply:
    acct = account(ctx)
    if isinstance(acct, Reply):
        return acct
    with acct.lock:
        transfer = next((t for t in acct.transfers if t["id"] == ctx.params["transfer_id"]), None)
        if transfer is None:
            return not_found("transfer")
        if transfer["status"] != "QUEUED":
            return alpaca_error(422, 42210000, "transfer is not cancelable")
        _set_status(ctx, acct, transfer, "CANCELED")
        acct.cash += Decimal(transfer["amount"])
    return Reply(204, b"", None)


# -- journals -------------------------------------------------------------------------------------
def _journal_fields(ctx: Ctx, body: dict[str, Any]) -> tuple[Account, Account, str, Decimal | None,
                                                              Decimal | None] | Reply:
    accounts = ctx.book.broker[ctx.role]
    src, dst = accounts.get(str(body.get("from_account"))), accounts.get(str(body.get("to_account")))
    if src is None or dst is None:
        return unprocessable("from_account and to_account must be existing accounts")
    entry = body.get("entry_type")
    if entry not in ("JNLC", "JNLS"):
        return unprocessable("entry_type must be JNLC or JNLS")
    try:
        amount, qty = parse_decimal(body, "amount"), parse_decimal(body, "qty")
    except OrderError as exc:
        return unprocessable(str(exc))
    if entry == "JNLC" and amount is None:
        return unprocessable("amount is required for JNLC")
    if entry == "JNLS" and (qty is None or not body.get("symbol")):
        return unprocessable("symbol and qty are required for JNLS")
    return src, dst, str(entry), amount, qty


def create_journal(ctx: Ctx) -> Reply:
    body = json_body(ctx, object_required=True)
    if isinstance(body, Reply):
        return body
    fields = _journal_fields(ctx, body)
    if isinstance(fields, Reply):
        return fields
    src, dst, entry, amount, qty = fields
    ts = rfc3339(ctx.now)
    journal: dict[str, Any] = {
        "id": str(uuid.uuid4()), "entry_type": entry, "from_account": src.id, "to_account": dst.id,
        "status": "queued", "settle_date": ny_date(ctx.now).isoformat(),
        "system_date": ny_date(ctx.now).isoformat(),
        "description": str(body.get("description", "")), "created_at": ts}
    if entry == "JNLC":   # as Alpaca's example: no symbol / qty (null), so it reads as a JNLC only
        journal.update(net_amount=dec_str(amount), symbol=None, qty=None, price="0")
    else:
        journal.update(symbol=str(body["symbol"]).upper(), qty=dec_str(qty), price="0")
    with ctx.book.lock:
        ctx.book.journals[ctx.role].append(journal)
    if PENDING_FIXTURE not in journal["description"]:
        _journal_status(ctx, journal, "executed")
        if entry == "JNLC" and amount is not None:
            _move_cash(ctx, src, dst, amount, journal)
    else:
        _journal_status(ctx, journal, "pending")
    return Reply.json(200, dict(journal))


def _move_cash(ctx: Ctx, src: Account, dst: Account, amount: Decimal, journal: dict[str, Any]) -> None:
    for acct, signed in ((src, -amount), (dst, amount)):
        with acct.lock:
            acct.cash += signed
        entry = book_cash(acct, "JNLC", signed, ctx.now, f"journal {journal['id']}")
        _nta(ctx, acct, entry)


def _journal_status(ctx: Ctx, journal: dict[str, Any], new: str) -> None:
    old = journal["status"]
    journal["status"] = new
    ctx.book.events[ctx.role].emit("journals", {
        "journal_id": journal["id"], "entry_type": journal["entry_type"], "status_from": old,
        "status_to": new}, ctx.now)


def list_journals(ctx: Ctx) -> Reply:
    limit = int_arg(ctx, "limit", 1000, 1, 1000)
    if isinstance(limit, Reply):
        return limit
    wanted = {k: ctx.arg(k) for k in ("status", "entry_type", "to_account", "from_account") if ctx.arg(k)}
    after, before = ctx.arg("after"), ctx.arg("before")
    with ctx.book.lock:
        items = [dict(j) for j in ctx.book.journals[ctx.role]]
    items = [j for j in items if all(j.get(k) == v for k, v in wanted.items())
             and (not after or j["settle_date"] >= after) and (not before or j["settle_date"] <= before)]
    return Reply.json(200, items[:limit])


def _journal(ctx: Ctx) -> dict[str, Any] | None:
    return next((j for j in ctx.book.journals[ctx.role] if j["id"] == ctx.params["journal_id"]), None)


def get_journal(ctx: Ctx) -> Reply:
    with ctx.book.lock:
        journal = _journal(ctx)
        return Reply.json(200, dict(journal)) if journal else not_found("journal")


def delete_journal(ctx: Ctx) -> Reply:
    with ctx.book.lock:
        journal = _journal(ctx)
        if journal is None:
            return not_found("journal")
        if journal["status"] != "pending":
            return alpaca_error(422, 42210000, "the journal is not in the pending status")
        _journal_status(ctx, journal, "canceled")
    return Reply(204, b"", None)
