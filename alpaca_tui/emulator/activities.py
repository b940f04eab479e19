"""Account activities (fills, cash movements, journals) and portfolio history, for the Trading
API (``/v2/account/activities``, ``/v2/account/portfolio/history``) and the Broker API
(``/v1/accounts/activities`` over every customer account, ``.../account/portfolio/history``).

Activities page by ``page_size`` / ``page_token`` (the ID of the last activity seen), newest
first unless ``direction=asc``; IDs sort by time like Alpaca's (``YYYYMMDDhhmmssSSS::uuid``).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from alpaca_tui.emulator import market
from alpaca_tui.emulator.accounts import Account, activity_id
from alpaca_tui.emulator.common import account, bad_request, token_page
from alpaca_tui.emulator.context import Ctx
from alpaca_tui.emulator.history import QueryError, parse_time
from alpaca_tui.emulator.market import rfc3339
from alpaca_tui.emulator.wire import Reply

TRADE_TYPES = frozenset({"FILL"})


def book_cash(acct: Account, activity_type: str, amount: Decimal, now: float, description: str,
              **extra: Any) -> dict[str, Any]:
    """Record a non-trade activity (``CSD``, ``CSW``, ``JNLC`` ...) of ``amount`` (signed)."""
    entry = {"id": activity_id(now, len(acct.activities)), "activity_type": activity_type,
             "date": market.ny_date(now).isoformat(), "net_amount": format(amount, "f"),
             "description": description, "status": "executed", "created_at": rfc3339(now), **extra}
    with acct.lock:
        acct.activities.append(entry)
    return entry


def _shape(entry: dict[str, Any], *, broker: bool, acct: Account) -> dict[str, Any]:
    out = dict(entry)
    if broker:
        out["account_id"] = acct.id
    elif entry["activity_type"] not in TRADE_TYPES:
        # the Trading API's NonTradeActivities.date is a date-time
        out["date"] = entry["created_at"]
    return out


def _filtered(ctx: Ctx, entries: list[dict[str, Any]]) -> list[dict[str, Any]] | Reply:
    types = {t.strip().upper() for t in (ctx.arg("activity_types") or "").split(",") if t.strip()}
    if "activity_type" in ctx.params:
        types = {ctx.params["activity_type"].upper()}
    category = ctx.arg("category")
    try:
        after = parse_time(ctx.arg("after"), float("-inf"))
        until = parse_time(ctx.arg("until"), float("inf"))
        day = ctx.arg("date")
        if day:
            after, until = parse_time(day, 0), parse_time(day, 0) + 86400
    except QueryError as exc:
        return bad_request(str(exc))
    out = []
    for e in entries:
        ts = parse_time(e.get("transaction_time") or e["created_at"], 0)
        if types and e["activity_type"] not in types:
            continue
        if category == "trade_activity" and e["activity_type"] not in TRADE_TYPES:
            continue
        if category == "non_trade_activity" and e["activity_type"] in TRADE_TYPES:
            continue
        if after <= ts < until and (not ctx.arg("order_id") or e.get("order_id") == ctx.arg("order_id")):
            out.append(e)
    return out


def list_activities(ctx: Ctx) -> Reply:
    """``GET /v2/account/activities[/{activity_type}]`` and the Broker API's
    ``GET /v1/accounts/activities[/{activity_type}]`` (``?account_id=`` narrows to one account)."""
    broker = ctx.role.startswith("broker")
    if broker:
        wanted = ctx.arg("account_id")
        accounts = [a for a in ctx.book.broker[ctx.role].values() if not wanted or a.id == wanted]
    else:
        own = account(ctx)
        if isinstance(own, Reply):
            return own
        accounts = [own]
    entries = []
    for acct in accounts:
        with acct.lock:
            entries += [_shape(e, broker=broker, acct=acct) for e in acct.activities]
    chosen = _filtered(ctx, entries)
    if isinstance(chosen, Reply):
        return chosen
    page = token_page(ctx, chosen)
    return page if isinstance(page, Reply) else Reply.json(200, page)


# -- portfolio history ------------------------------------------------------------------------------
_PERIOD = re.compile(r"^([1-9][0-9]*)(D|W|M|A)$")
_PERIOD_DAYS = {"D": 1, "W": 7, "M": 30, "A": 365}
_TIMEFRAMES = {"1Min": 60, "5Min": 300, "15Min": 900, "1H": 3600, "1D": 86400}


def portfolio_history(ctx: Ctx) -> Reply:
    acct = account(ctx)
    if isinstance(acct, Reply):
        return acct
    m = _PERIOD.match(ctx.arg("period") or "1M")
    timeframe = ctx.arg("timeframe") or ("1D" if m is None or m.group(2) != "D" else "15Min")
    if m is None or timeframe not in _TIMEFRAMES:
        return bad_request("invalid period or timeframe")
    step = _TIMEFRAMES[timeframe]
    try:
        end = min(parse_time(ctx.arg("end"), ctx.now), ctx.now)
        start = parse_time(ctx.arg("start"), end - int(m.group(1)) * _PERIOD_DAYS[m.group(2)] * 86400)
    except QueryError as exc:
        return bad_request(str(exc))
    stamps = [t for t in range(int(start // step) * step, int(end) + 1, step) if t >= start][-2000:]
    with acct.lock:
        cash, held = acct.cash, {s: h.qty for s, h in acct.holdings.items() if h.qty}
    equity = [float(cash + sum((q * Decimal(str(market.price(s, t))) for s, q in held.items()), Decimal(0)))
              for t in stamps] or [float(cash)]
    base = equity[0]
    return Reply.json(200, {
        "timestamp": stamps or [int(end)], "equity": [round(e, 2) for e in equity],
        "profit_loss": [round(e - base, 2) for e in equity],
        "profit_loss_pct": [round((e - base) / base, 6) if base else 0.0 for e in equity],
        "base_value": round(base, 2), "base_value_asof": market.ny_date(start).isoformat(),
        "timeframe": timeframe, "cashflow": {}})
