"""The Broker API's event streams (SSE): an :class:`EventLog` per broker host that the back
office writes to as state changes (an account is created or closed, a transfer, an ACH
relationship or a journal changes status, an order is accepted, filled, replaced or canceled,
a non-trade activity is booked), and the ``/v1/events/*`` and ``/v2/events/*`` handlers.

Each endpoint sends its own payload shape (the spec's ``AccountStatusEvent``,
``TransferStatusEvent``, ``JournalStatusEvent(V2)``, ``TradeUpdateEvent(V2)``,
``NonTradeActivityEvent``, ``StatusFundingEvent``): v1 events carry an integer ``event_id``
(per stream, from 1) and an ``event_ulid``; v2 events carry the ULID as ``event_id``.

Queries as the spec states them: history only with ``since`` / ``since_id`` / ``since_ulid``
(dates ``YYYY-MM-DD`` or RFC 3339), ``until*`` needs its ``since*``, at most one ``since*``;
``id`` filters by the entity. The emulator sends the matching history and then ends the
stream (it does not hold the connection open for live pushes).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alpaca_tui.emulator.context import Ctx
from alpaca_tui.emulator.eventlog import TOPICS, Event, EventLog, ulid
from alpaca_tui.emulator.history import QueryError, parse_time
from alpaca_tui.emulator.market import rfc3339
from alpaca_tui.emulator.wire import Reply, alpaca_error


# -- the queries ----------------------------------------------------------------------------------
def _bound(raw: str | None, end: bool) -> float | None:
    """``since`` / ``until``: a date is the whole day (``until`` includes it)."""
    if not raw:
        return None
    ts = parse_time(raw, 0.0)
    return ts + 86400 if end and len(raw.strip()) == 10 else ts


def _window(ctx: Ctx, v2: bool) -> tuple[Callable[[Event], bool], bool] | Reply:
    """-> (does an event fall in the queried range, was any history asked for) or a 400."""
    a = {k: ctx.arg(k) for k in ("since", "until", "since_id", "until_id", "since_ulid", "until_ulid")}
    given = [k for k in ("since", "since_id", "since_ulid") if a[k]]
    if len(given) > 1:
        return alpaca_error(400, 40010001, f"{' and '.join(given)} cannot be used at the same time")
    for end in ("until", "until_id", "until_ulid"):
        if a[end] and not a[end.replace("until", "since")]:
            return alpaca_error(400, 40010001, f"{end.replace('until', 'since')} is required with {end}")
    try:
        since, until = _bound(a["since"], False), _bound(a["until"], True)
        ids = (a["since_id"], a["until_id"])
        if not v2:
            int_ids = [int(x) if x else None for x in ids]
    except (QueryError, ValueError):
        return alpaca_error(400, 40010001, "invalid event query")

    def match(e: Event) -> bool:
        if since is not None and not (since <= e.at and (until is None or e.at < until)):
            return False
        if ids[0]:
            lo, hi = (ids[0], ids[1]) if v2 else (int_ids[0], int_ids[1])
            key: Any = e.ulid if v2 else e.seq
            if key < lo or (hi is not None and key > hi):
                return False
        if a["since_ulid"] and not (e.ulid >= a["since_ulid"] and
                                    (not a["until_ulid"] or e.ulid <= a["until_ulid"])):
            return False
        return True

    return match, bool(given)


# -- the payloads ---------------------------------------------------------------------------------
def _v1(e: Event) -> dict[str, Any]:
    return {**e.data, "at": rfc3339(e.at), "event_id": e.seq, "event_ulid": e.ulid}


def _v2(e: Event) -> dict[str, Any]:
    return {**e.data, "at": rfc3339(e.at), "event_id": e.ulid}


@dataclass(frozen=True)
class Stream:
    """One SSE endpoint: its topic, payload version and the entity field ``?id=`` filters on."""

    topic: str
    v2: bool = False
    id_field: str | None = None

    def payload(self, e: Event) -> dict[str, Any]:
        return _v2(e) if self.v2 else _v1(e)


STREAMS: dict[str, Stream] = {
    "/v1/events/accounts/status": Stream("accounts", id_field="account_id"),
    "/v1/events/transfers/status": Stream("transfers", id_field="transfer_id"),
    "/v1/events/journals/status": Stream("journals", id_field="journal_id"),
    "/v1/events/trades": Stream("trades", id_field="account_id"),
    "/v1/events/nta": Stream("nta", id_field="account_id"),
    "/v2/events/system": Stream("system", v2=True),
    "/v2/events/journals/status": Stream("journals", v2=True, id_field="journal_id"),
    "/v2/events/trades": Stream("trades", v2=True),
    "/v2/events/admin-actions": Stream("admin", v2=True),
    "/v2/events/funding/status": Stream("funding", v2=True),
}


def sse(ctx: Ctx) -> Reply:
    """A ``text/event-stream`` of the queried history (``id:`` + ``data:`` per event); then the
    stream ends."""
    stream = STREAMS[ctx.path.rstrip("/")]
    window = _window(ctx, stream.v2)
    if isinstance(window, Reply):
        return window
    match, history = window
    log: EventLog = ctx.book.events[ctx.role]
    wanted = ctx.arg("id")
    lines = []
    for e in log.of(stream.topic) if history else []:
        if not match(e) or (wanted and stream.id_field and e.data.get(stream.id_field) != wanted):
            continue
        body = stream.payload(e)
        lines.append(f"id: {body['event_id']}\ndata: {json.dumps(body, separators=(',', ':'))}\n\n")
    lines.append(": end of emulated stream\n\n")
    return Reply(200, "".join(lines).encode(), "text/event-stream; charset=UTF-8",
                 {"Cache-Control": "no-cache"}, close=True)


__all__ = ["STREAMS", "TOPICS", "Event", "EventLog", "sse", "ulid"]
